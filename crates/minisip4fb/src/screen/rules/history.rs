//! What the phone remembers of callers between calls.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// What the phone remembers of callers: recent calls per number, for
/// `repeated` rules, the door openers' lockouts and the key-press
/// check's passes.
#[derive(Debug)]
pub struct History {
    calls: HashMap<String, VecDeque<Instant>>,
    /// Prune when this many numbers are remembered.
    prune_at: usize,
    pub(super) doors: crate::screen::doors::DoorState,
    pub(super) passes: crate::screen::passes::PassState,
}

/// The snapshots of the household's guards that decisions read.
#[derive(Debug, Clone, Default)]
pub struct Gates {
    pub doors: crate::screen::doors::DoorState,
    pub passes: crate::screen::passes::PassState,
}

impl Default for History {
    fn default() -> Self {
        History {
            calls: HashMap::new(),
            prune_at: 1024,
            doors: crate::screen::doors::DoorState::default(),
            passes: crate::screen::passes::PassState::default(),
        }
    }
}

impl History {
    /// With the household's gates: the door guard's lockouts (a door
    /// opener passes over a caller locked out by failed PINs) and the
    /// key-press check's passes.
    pub fn with_gates(gates: Gates) -> History {
        History {
            doors: gates.doors,
            passes: gates.passes,
            ..History::default()
        }
    }

    /// Notes a call from `e164` at `now`; calls older than `span` (the
    /// longest `repeated` window) are forgotten.
    pub fn record(&mut self, e164: &str, now: Instant, span: Duration) {
        let old = |t: &Instant| now.duration_since(*t) > span;
        let q = self.calls.entry(e164.to_owned()).or_default();
        q.push_back(now);
        while q.len() > 64 || q.front().is_some_and(old) {
            q.pop_front();
        }
        // A wave of distinct numbers: drop the callers whose calls all fell
        // out of the window, so memory follows the window, not the wave.
        if self.calls.len() >= self.prune_at {
            self.calls.retain(|_, q| q.back().is_some_and(|t| !old(t)));
            self.prune_at = (self.calls.len() * 2).max(1024);
            self.calls.shrink_to(self.prune_at);
        }
    }

    /// Numbers remembered.
    pub fn len(&self) -> usize {
        self.calls.len()
    }

    pub fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }

    /// Calls from `e164` within `window` before `now`, this one included.
    pub fn count(&self, e164: &str, window: Duration, now: Instant) -> u32 {
        self.calls.get(e164).map_or(0, |q| {
            q.iter()
                .filter(|t| now.duration_since(**t) <= window)
                .count() as u32
        })
    }
}
