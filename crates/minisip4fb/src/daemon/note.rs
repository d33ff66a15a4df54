//! What the phone's thread tells the book-keeper about a call: the typed
//! decision ([`Decided`]) and the notes that carry it and the call's end.
//! A file of its own that the phone's screen and the book-keeper both
//! speak, so that neither needs the other for it.

use std::time::{Instant, SystemTime};

use crate::call::{Caller, Record, Time};
use crate::net::{CallId, CallerId, Outcome, ScriptEnd};
use crate::screen::rules::Decision;

/// A decision as the phone's thread hands it over: typed, nothing
/// formatted yet. The book-keeper turns it into the call log's [`Record`].
#[derive(Debug)]
pub struct Decided {
    pub caller: CallerId,
    pub decision: Decision,
    /// INVITE → decision, ms.
    pub decision_ms: f64,
}

impl Decided {
    /// The call log's record of a call whose INVITE came at `time`.
    pub fn into_record(self, time: Time) -> Record {
        let (c, d) = (self.caller, self.decision);
        // The Box puts a phonebook contact's name in From (FRITZBOX.md);
        // without a phonebook hit the display name is absent or the number.
        let contact = c
            .display_name
            .as_deref()
            .is_some_and(|n| Some(n) != c.number.as_deref());
        let (decision, rule, reason) = (
            d.effective(),
            d.why.rule().map(ToString::to_string),
            d.reason(),
        );
        Record {
            id: None,
            time,
            caller: Caller {
                number: c.number,
                e164: d.e164,
                name: d.name.or(c.display_name),
            },
            contact,
            called: c.called,
            class: d.class,
            decision,
            action: d.action,
            log_only: d.log_only,
            rule,
            reason,
            outcome: None,
            decision_ms: Some(self.decision_ms),
            bye_ms: None,
        }
    }
}

/// What the phone (and the daemon's deferred path) tell the book-keeper.
pub enum Note {
    Decided {
        call: CallId,
        /// When the INVITE arrived.
        at: Instant,
        wall: SystemTime,
        decided: Box<Decided>,
    },
    Ended {
        call: CallId,
        outcome: Outcome,
        at: Instant,
    },
    /// An INVITE refused for too many calls in progress.
    Refused { caller: Box<CallerId> },
    /// A call's script is done (announcement played, keys entered).
    Script { call: CallId, end: ScriptEnd },
    /// Write what is pending (for at most the book-keeper's stop flush) and end.
    Stop,
}
