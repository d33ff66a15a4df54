//! The door guard (issue 28, 1): failed PIN entries of the door openers
//! (`action = "answer"` with a `pin`), counted per rule and caller across
//! calls and restarts, through the one limiter every protected door uses
//! ([`crate::guard::limiter`]).
//!
//! - A failed call is one with a wrong entry and no right one (a caller
//!   who hangs up after two guesses made two guesses).
//! - Three failed calls within an hour: the rule does not answer that
//!   caller for an hour, then two, four… (up to 30 days). Caller ID can be
//!   forged: the lock is the PIN, and this keeps it from being guessed.
//! - Ten failed calls within a day, from any callers: the rule answers
//!   nobody until the owner opens it again (dashboard, MQTT, or
//!   `minisip4fb doors open` and a reload).
//! - Each failure is a `pin_rejected` event, each lockout a `door_locked`
//!   one: hooks, push, MQTT and the dashboard hear of them.
//!
//! The book-keeper's thread counts and writes the state file; the phone's
//! thread only reads the snapshot ([`DoorState`]).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use crate::guard::limiter::{AfterFailure, Ceiling, Limiter, Policy};
use crate::screen::doors::{DoorLocks, DoorState, unix_ms};

/// The state file's name, beside the shield's.
pub const FILE: &str = "minisip4fb.doors.json";

const HOUR: u64 = 3_600_000;

pub const POLICY: Policy = Policy {
    free: 2,
    window: HOUR,
    lockout: HOUR,
    max_lockout: 30 * 24 * HOUR,
    max_clients: 1024,
    ceiling: Some(Ceiling::UntilReset {
        failures: 9,
        window: 24 * HOUR,
    }),
};

/// What a failed call led to, for the events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Locked {
    No,
    /// This caller, until then (Unix ms).
    Caller {
        until: u64,
    },
    /// Everyone, until the owner opens the rule again.
    Everyone,
}

/// The state file: `{"rules": {RULE: limiter}}`.
#[derive(Default, Deserialize)]
struct Saved {
    rules: HashMap<String, Limiter<String>>,
}

#[derive(Serialize)]
struct SavedRef<'a> {
    rules: &'a HashMap<String, Limiter<String>>,
}

/// The counting and its file; cloned handles share it.
#[derive(Clone)]
pub struct Doors(Arc<Inner>);

struct Inner {
    file: Option<PathBuf>,
    rules: Mutex<HashMap<String, Limiter<String>>>,
    state: DoorState,
}

impl Doors {
    /// As the file says (nothing locked without one, or if it cannot be
    /// read: said once).
    pub fn load(file: Option<PathBuf>) -> Doors {
        let rules = file.as_deref().map(read).unwrap_or_default();
        let doors = Doors(Arc::new(Inner {
            file,
            rules: Mutex::new(rules),
            state: DoorState::default(),
        }));
        doors.publish(&doors.lock());
        doors
    }

    /// The snapshot the decision reads.
    pub fn state(&self) -> DoorState {
        self.0.state.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Limiter<String>>> {
        self.0.rules.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A failed call of `caller` at the door opener `rule`.
    pub fn failed(&self, rule: &str, caller: &str) -> Locked {
        let now = unix_ms();
        let mut rules = self.lock();
        let after = rules
            .entry(rule.to_owned())
            .or_insert_with(|| Limiter::new(POLICY))
            .failed(&caller.to_owned(), now);
        self.publish(&rules);
        self.save(&rules);
        match after {
            AfterFailure::Counted => Locked::No,
            AfterFailure::LockedOut { wait } => Locked::Caller { until: now + wait },
            AfterFailure::Closed => Locked::Everyone,
        }
    }

    /// The right PIN: the caller's failures are forgiven.
    pub fn succeeded(&self, rule: &str, caller: &str) {
        let mut rules = self.lock();
        if let Some(l) = rules.get_mut(rule) {
            l.succeeded(&caller.to_owned());
            self.save(&rules);
        }
    }

    /// The owner opens `rule` again (every rule with `None`): lockouts and
    /// the ceiling forgotten. Returns the rules opened.
    pub fn open(&self, rule: Option<&str>) -> Vec<String> {
        let mut rules = self.lock();
        let mut opened = Vec::new();
        for (name, l) in rules.iter_mut() {
            if rule.is_none_or(|r| r == name) {
                l.reset();
                opened.push(name.clone());
            }
        }
        self.publish(&rules);
        self.save(&rules);
        opened
    }

    /// The file read again (after `minisip4fb doors open` and a reload).
    pub fn reload(&self) {
        let Some(file) = &self.0.file else { return };
        let mut rules = self.lock();
        *rules = read(file);
        self.publish(&rules);
    }

    /// Rules closed to everyone, and callers locked out now, per rule.
    pub fn status(&self) -> Vec<(String, bool, usize)> {
        let locks = self.0.state.load();
        let mut names: Vec<&Arc<str>> = locks.closed.iter().chain(locks.callers.keys()).collect();
        names.sort();
        names.dedup();
        let now = unix_ms();
        names
            .into_iter()
            .map(|n| {
                let callers = locks
                    .callers
                    .get(n)
                    .map_or(0, |c| c.values().filter(|u| **u > now).count());
                (n.to_string(), locks.closed.contains(n), callers)
            })
            .collect()
    }

    fn publish(&self, rules: &HashMap<String, Limiter<String>>) {
        let now = unix_ms();
        let mut locks = DoorLocks::default();
        for (name, l) in rules {
            let name: Arc<str> = name.as_str().into();
            if l.is_closed() {
                locks.closed.insert(name.clone());
            }
            let callers: HashMap<String, u64> = l.locked(now).collect();
            if !callers.is_empty() {
                locks.callers.insert(name, callers);
            }
        }
        self.0.state.store(Arc::new(locks));
    }

    /// Written whole or not at all; a failure is said, the counting in
    /// memory goes on.
    fn save(&self, rules: &HashMap<String, Limiter<String>>) {
        let Some(file) = &self.0.file else { return };
        let bytes = serde_json::to_vec(&SavedRef { rules }).unwrap_or_default();
        if let Err(e) = crate::guard::file::replace(file, &bytes) {
            tracing::warn!(
                "door openers: cannot keep the failed PINs in {} ({e}); they count until the next restart",
                file.display()
            );
        }
    }
}

/// The rules' counting as the file has it, under today's policy; none
/// without a file, or when it cannot be read (said).
fn read(file: &std::path::Path) -> HashMap<String, Limiter<String>> {
    let saved: Option<Saved> =
        crate::guard::file::read_state(file, 1 << 20, "door openers", "starting with no lockouts");
    saved
        .unwrap_or_default()
        .rules
        .into_iter()
        .map(|(rule, l)| (rule, l.with_policy(POLICY)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_failed_calls_lock_the_caller_out_and_a_restart_keeps_it() {
        let dir = std::env::temp_dir().join(format!("minisip4fb-doors-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join(FILE);
        let doors = Doors::load(Some(file.clone()));
        let now = unix_ms();
        assert_eq!(doors.failed("door", "+4917012345"), Locked::No);
        assert_eq!(doors.failed("door", "+4917012345"), Locked::No);
        let Locked::Caller { until } = doors.failed("door", "+4917012345") else {
            panic!("locked out after three failed calls");
        };
        assert!((HOUR - 1000..=HOUR + 60_000).contains(&(until - now)));
        let state = doors.state();
        assert!(state.load().locks("door", Some("+4917012345"), now));
        assert!(!state.load().locks("door", Some("+4917099999"), now));
        assert!(!state.load().locks("garage", Some("+4917012345"), now));
        // A restart: still locked.
        let again = Doors::load(Some(file.clone()));
        assert!(
            again
                .state()
                .load()
                .locks("door", Some("+4917012345"), unix_ms())
        );
        // Many callers: closed for everyone until opened.
        let mut last = Locked::No;
        for i in 0..7 {
            last = again.failed("door", &format!("+49170000{i}"));
        }
        assert_eq!(last, Locked::Everyone);
        assert!(
            again
                .state()
                .load()
                .locks("door", Some("+4930111"), unix_ms())
        );
        assert_eq!(again.status(), vec![("door".to_owned(), true, 1)]);
        assert_eq!(again.open(None), vec!["door".to_owned()]);
        assert!(
            !again
                .state()
                .load()
                .locks("door", Some("+4917012345"), unix_ms())
        );
        // A damaged file: no lockouts, no panic.
        std::fs::write(&file, "{not json").unwrap();
        assert!(Doors::load(Some(file)).status().is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
