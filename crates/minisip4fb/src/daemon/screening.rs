//! The daemon's [`Screen`]: runs on the phone's own thread for every new
//! INVITE. It reads the rules from an atomically swapped snapshot (no
//! lock), counts repeated callers in a history only this thread touches,
//! and hands the typed decision to the book-keeper through a bounded queue that
//! never blocks.

use std::sync::Arc;
use std::sync::mpsc::{SyncSender, TrySendError};
use std::time::{Duration, Instant, SystemTime};

use super::live::LiveCheck;
use super::note::Note;
pub use super::note::{Decided, Line};
pub use super::verdict::decide;
use super::verdict::{apply_shield, local_time};
use crate::controls::RulesSnapshot;
use crate::controls::shield::Shield;
use crate::net::{CallId, CallerId, Outcome, Screen, ScriptEnd, Verdict};
use crate::screen::rules::{Gates, History, Reached};

/// How long notes gather before they are handed to the book-keeper: a
/// call's decision and its end usually go together, waking it once, and
/// never while a call is being answered.
const HAND_OVER: Duration = Duration::from_millis(5);
const MAX_OUTBOX: usize = 256;

/// The screen the daemon gives the phone.
pub struct DaemonScreen {
    rules: RulesSnapshot,
    history: History,
    notes: SyncSender<Note>,
    /// Notes not yet handed over, and since when: they go in one batch,
    /// after the answer left, at most [`HAND_OVER`] later.
    outbox: Vec<Note>,
    since: Option<Instant>,
    /// Notes dropped because the book-keeper's queue was full.
    dropped: u64,
    shield: Shield,
    /// PhoneBlock's live check, when the config asks for it.
    live: Option<Arc<LiveCheck>>,
    /// The account whose phone this screens for.
    line: Line,
}

impl DaemonScreen {
    pub fn new(
        rules: RulesSnapshot,
        notes: SyncSender<Note>,
        shield: Shield,
        gates: Gates,
        live: Option<Arc<LiveCheck>>,
        line: Line,
    ) -> DaemonScreen {
        DaemonScreen {
            rules,
            history: History::with_gates(gates),
            notes,
            outbox: Vec::new(),
            since: None,
            dropped: 0,
            shield,
            live,
            line,
        }
    }

    fn note(&mut self, n: Note) {
        self.since.get_or_insert_with(Instant::now);
        self.outbox.push(n);
    }

    fn hand_over(&mut self) {
        self.since = None;
        let mut notes = std::mem::take(&mut self.outbox);
        for n in notes.drain(..) {
            self.send(n);
        }
        // Keep the allocation for the next batch.
        self.outbox = notes;
    }

    fn send(&mut self, n: Note) {
        match self.notes.try_send(n) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                self.dropped += 1;
                if self.dropped.is_power_of_two() {
                    tracing::error!(
                        "the call book-keeper is behind: {} call note(s) dropped so far",
                        self.dropped
                    );
                }
            }
            Err(TrySendError::Disconnected(_)) => {}
        }
    }
}

impl Screen for DaemonScreen {
    fn screen(&mut self, call: CallId, caller: &CallerId, now: Instant) -> Verdict {
        // Before the first compile: decided by the daemon once it is done.
        let Some(rules) = self.rules.load_full() else {
            return Verdict::Defer;
        };
        let (mut decided, mut verdict) = decide(&rules, &mut self.history, caller, now, &self.line);
        apply_shield(&self.shield, &mut decided, &mut verdict);
        let (wall, mut decided) = (SystemTime::now(), Box::new(decided));
        // Ringing, and PhoneBlock's live check could still end it: it
        // rings now and is handed over for the check.
        if let Some(live) = &self.live
            && verdict == Verdict::Ring
            && rules.wants_live_check(
                &decided.decision,
                Reached {
                    called: caller.called.as_deref(),
                    account: Some(&self.line.name),
                    name: caller.display_name.as_deref(),
                },
                local_time(&rules),
            )
        {
            match live.start(self.line.call(call), decided, now, wall) {
                Ok(()) => return Verdict::RingAndHandOver,
                Err(back) => decided = back,
            }
        }
        self.note(Note::Decided {
            call: self.line.call(call),
            at: now,
            wall,
            decided,
        });
        verdict
    }

    fn ended(&mut self, call: CallId, outcome: Outcome, now: Instant) {
        self.note(Note::Ended {
            call: self.line.call(call),
            outcome,
            at: now,
        });
    }

    fn script_ended(&mut self, call: CallId, end: &ScriptEnd, _now: Instant) {
        self.note(Note::Script {
            call: self.line.call(call),
            end: end.clone(),
        });
    }

    fn refused(&mut self, caller: &CallerId) {
        self.note(Note::Refused {
            caller: Box::new(caller.clone()),
        });
    }

    fn turn_done(&mut self, now: Instant) -> Option<Instant> {
        let since = self.since?;
        if now >= since + HAND_OVER || self.outbox.len() >= MAX_OUTBOX {
            self.hand_over();
            return None;
        }
        Some(since + HAND_OVER)
    }
}

impl Drop for DaemonScreen {
    /// The phone stopped: what it said last still reaches the book.
    fn drop(&mut self) {
        self.hand_over();
    }
}
