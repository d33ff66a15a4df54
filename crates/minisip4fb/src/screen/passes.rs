//! Callers who passed the key-press check (`action = "challenge"`), and
//! callers who failed it too often: a snapshot the decision reads on the
//! phone's thread (one atomic load), made by the daemon's pass list
//! ([`crate::controls::passes`]). A caller with a pass rings where a
//! challenge rule would ask; one refused is hung up there at once.

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;

/// A pass's end for a pass kept for good (the pass list file).
pub const FOREVER: u64 = u64::MAX;

/// Who passes and who is refused, now. Times are Unix ms.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PassView {
    /// E.164 → may call until ([`FOREVER`]: for good).
    pub passed: HashMap<String, u64>,
    /// E.164 → not asked again until: failed the check too often.
    pub refused: HashMap<String, u64>,
}

impl PassView {
    /// Until when `e164` may call, if it holds a pass at `now_ms`.
    pub fn pass(&self, e164: &str, now_ms: u64) -> Option<u64> {
        self.passed.get(e164).copied().filter(|u| *u > now_ms)
    }

    /// Until when `e164` is not asked again, if refused at `now_ms`.
    pub fn refusal(&self, e164: &str, now_ms: u64) -> Option<u64> {
        self.refused.get(e164).copied().filter(|u| *u > now_ms)
    }
}

/// Shared between the pass list that writes it and the decision that reads it.
pub type PassState = Arc<ArcSwap<PassView>>;
