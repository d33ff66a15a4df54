//! Door openers (`action = "answer"` with a `pin`) that do not answer some
//! callers now: a snapshot the decision reads on the phone's thread (one
//! atomic load), made by the daemon's door guard after failed PINs.
//! A rule that does not answer a caller is passed over: the next rule
//! decides, as if the door opener were not there.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use arc_swap::ArcSwap;

/// Who the door openers do not answer, now.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DoorLocks {
    /// Rule name → caller E.164 → locked out until (Unix ms).
    pub callers: HashMap<Arc<str>, HashMap<String, u64>>,
    /// Rules closed to everyone until the owner opens them again.
    pub closed: HashSet<Arc<str>>,
}

impl DoorLocks {
    /// Whether rule `rule` must not answer `e164` at `now_ms` (Unix ms).
    pub fn locks(&self, rule: &str, e164: Option<&str>, now_ms: u64) -> bool {
        if self.closed.contains(rule) {
            return true;
        }
        let Some(e164) = e164 else { return false };
        self.callers
            .get(rule)
            .and_then(|c| c.get(e164))
            .is_some_and(|until| *until > now_ms)
    }
}

/// Shared between the guard that writes it and the decision that reads it.
pub type DoorState = Arc<ArcSwap<DoorLocks>>;

/// Unix time in ms, as the locks count it.
pub fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
