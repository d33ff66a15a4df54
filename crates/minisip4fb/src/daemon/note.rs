//! What the phone's thread tells the book-keeper about a call: the typed
//! decision ([`Decided`]) and the notes that carry it and the call's end.
//! A file of its own that the phone's screen and the book-keeper both
//! speak, so that neither needs the other for it.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use crate::call::{Caller, Record, Time};
use crate::net::{CallId, CallerId, Outcome, ScriptEnd};
use crate::screen::rules::Decision;

/// A call of one of the daemon's phones: its account (the index into the
/// daemon's accounts) and the id that account's phone gave it. Each phone
/// counts its calls from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CallRef {
    pub line: u16,
    pub call: CallId,
}

/// One of the daemon's accounts, as its calls carry it.
#[derive(Debug, Clone)]
pub struct Line {
    /// Its place among the daemon's accounts (`[fritzbox]` is 0).
    pub index: u16,
    /// Its name (rules, the call log, the dashboard, MQTT, metrics).
    pub name: Arc<str>,
}

impl Line {
    /// The one account of a daemon with only `[fritzbox]`, or of a test.
    pub fn only(name: &str) -> Line {
        Line {
            index: 0,
            name: name.into(),
        }
    }

    pub fn call(&self, call: CallId) -> CallRef {
        CallRef {
            line: self.index,
            call,
        }
    }
}

/// A decision as the phone's thread hands it over: typed, nothing
/// formatted yet. The book-keeper turns it into the call log's [`Record`].
#[derive(Debug)]
pub struct Decided {
    pub caller: CallerId,
    pub decision: Decision,
    /// INVITE → decision, ms.
    pub decision_ms: f64,
    /// The account's name.
    pub account: Arc<str>,
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
            account: Some(self.account.to_string()),
        }
    }
}

/// What the phone (and the daemon's deferred path) tell the book-keeper.
pub enum Note {
    Decided {
        call: CallRef,
        /// When the INVITE arrived.
        at: Instant,
        wall: SystemTime,
        decided: Box<Decided>,
    },
    Ended {
        call: CallRef,
        outcome: Outcome,
        at: Instant,
    },
    /// An INVITE refused for too many calls in progress.
    Refused { caller: Box<CallerId> },
    /// A call's script is done (announcement played, keys entered).
    Script { call: CallRef, end: ScriptEnd },
    /// Write what is pending (for at most the book-keeper's stop flush) and end.
    Stop,
}
