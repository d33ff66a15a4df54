//! The daemon's [`Screen`]: runs on the phone's own thread for every new
//! INVITE. It reads the rules from an atomically swapped snapshot (no
//! lock), counts repeated callers in a history only this thread touches,
//! and hands the record to the book-keeper through a bounded queue that
//! never blocks.

use std::sync::Arc;
use std::sync::mpsc::{SyncSender, TrySendError};
use std::time::{Duration, Instant, SystemTime};

use arc_swap::ArcSwapOption;

use super::book::Note;
use crate::agent::{CallId, CallerId, Outcome};
use crate::calllog::Record;
use crate::net::{Reject, Screen, Verdict};
use crate::screen::Action;
use crate::screen::rules::{History, Rules};

/// The rules in force; `None` until the first compile is done.
pub type RulesSnapshot = Arc<ArcSwapOption<Rules>>;

/// Decides one call: the record to keep and what the phone does.
pub fn decide(
    rules: &Rules,
    history: &mut History,
    caller: &CallerId,
    now: Instant,
) -> (Record, Verdict) {
    rules.remember(history, caller.number.as_deref(), now);
    let d = rules.decide(
        caller.number.as_deref(),
        caller.called.as_deref(),
        history,
        now,
        chrono::Local::now().naive_local(),
    );
    let verdict = verdict_of(d.effective, rules.decline_delay);
    let record = Record {
        id: None,
        // Set by the book-keeper from the note's wall-clock time.
        time: String::new(),
        caller: caller.number.clone(),
        caller_e164: d.e164,
        name: d.name.or_else(|| caller.display_name.clone()),
        called: caller.called.clone(),
        class: d.class,
        decision: d.effective,
        action: d.action,
        rule: d.rule,
        reason: d.reason,
        outcome: None,
        decision_ms: Some(now.elapsed().as_secs_f64() * 1000.0),
        bye_ms: None,
    };
    (record, verdict)
}

/// What the phone does for an action.
pub fn verdict_of(action: Action, decline_delay: Duration) -> Verdict {
    match action {
        Action::Ring => Verdict::Ring,
        Action::Terminate | Action::TerminateAndBar => Verdict::Terminate,
        Action::Decline => Verdict::Reject {
            how: Reject::Busy,
            after: decline_delay,
        },
        Action::IgnoreSilently => Verdict::Silent,
    }
}

/// The screen the daemon gives the phone.
pub struct DaemonScreen {
    rules: RulesSnapshot,
    history: History,
    notes: SyncSender<Note>,
    /// Notes of this turn, sent when it is done (after the answer left).
    outbox: Vec<Note>,
    /// Notes dropped because the book-keeper's queue was full.
    dropped: u64,
}

impl DaemonScreen {
    pub fn new(rules: RulesSnapshot, notes: SyncSender<Note>) -> DaemonScreen {
        DaemonScreen {
            rules,
            history: History::default(),
            notes,
            outbox: Vec::new(),
            dropped: 0,
        }
    }

    fn note(&mut self, n: Note) {
        self.outbox.push(n);
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
        let (record, verdict) = decide(&rules, &mut self.history, caller, now);
        self.note(Note::Decided {
            call,
            at: now,
            wall: SystemTime::now(),
            record: Box::new(record),
        });
        verdict
    }

    fn ended(&mut self, call: CallId, outcome: Outcome, now: Instant) {
        self.note(Note::Ended {
            call,
            outcome,
            at: now,
        });
    }

    fn refused(&mut self, caller: &CallerId) {
        self.note(Note::Refused {
            caller: caller.clone(),
        });
    }

    fn turn_done(&mut self) {
        let mut notes = std::mem::take(&mut self.outbox);
        for n in notes.drain(..) {
            self.send(n);
        }
        // Keep the allocation for the next turn.
        self.outbox = notes;
    }
}
