//! What the emulated Box saw and did, as a trace a person reads (and a
//! test filters): registrations, calls, keepalives, faults, the call
//! monitor's lines.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use crate::CallReport;

/// Something the emulated Box saw or did, for a readable trace.
#[derive(Debug, Clone, PartialEq)]
pub enum Report {
    Challenged {
        user: String,
        stale: bool,
    },
    Registered {
        user: String,
        contact: String,
        expires: u32,
        bindings: usize,
        refresh: bool,
    },
    Unregistered {
        user: String,
        bindings: usize,
    },
    /// Wrong password or unknown user: 403.
    Forbidden {
        user: String,
        why: String,
    },
    /// A REGISTER dropped without answer, as FRITZ!OS 8.25 does.
    Dropped {
        why: String,
    },
    /// The phone broke an RFC 3261 rule.
    Violation(String),
    CallPlaced {
        call: u64,
        caller: String,
        to: SocketAddr,
    },
    /// The phone's first 180 for a call.
    Ringing {
        call: u64,
    },
    CallEnded {
        call: u64,
        report: CallReport,
    },
    Options {
        answered: bool,
    },
    /// A keepalive went unanswered: the Box dropped the phone's binding.
    KeepaliveLost {
        user: String,
    },
    Rebooted {
        silent: Duration,
    },
    /// A line of the call monitor, as the Box writes it.
    Monitor(String),
    /// The Box dropped every registration without a word.
    Forgot,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Report::Challenged { user, stale } => {
                write!(
                    f,
                    "REGISTER from {user}: 401 challenge{}",
                    if *stale { " (stale nonce)" } else { "" }
                )
            }
            Report::Registered {
                user,
                contact,
                expires,
                bindings,
                refresh,
            } => write!(
                f,
                "{} {user} at {contact} for {expires} s ({bindings} binding{})",
                if *refresh { "refreshed" } else { "registered" },
                if *bindings == 1 { "" } else { "s" }
            ),
            Report::Unregistered { user, bindings } => {
                write!(f, "unregistered {user} ({bindings} bindings left)")
            }
            Report::Forbidden { user, why } => {
                write!(f, "REGISTER from {user}: 403 Forbidden ({why})")
            }
            Report::Dropped { why } => write!(f, "dropped a REGISTER: {why}"),
            Report::Violation(v) => write!(f, "VIOLATION: {v}"),
            Report::CallPlaced { call, caller, to } => {
                write!(f, "call {call}: ringing {to} from {caller}")
            }
            Report::Ringing { call } => write!(f, "call {call}: the phone rings (180)"),
            Report::CallEnded { call, report } => write!(f, "call {call}: {report}"),
            Report::Options { answered } => {
                write!(
                    f,
                    "OPTIONS keepalive {}",
                    if *answered {
                        "answered"
                    } else {
                        "NOT answered"
                    }
                )
            }
            Report::KeepaliveLost { user } => write!(
                f,
                "dropped the binding of {user}: it did not answer the OPTIONS keepalive"
            ),
            Report::Rebooted { silent } => write!(
                f,
                "rebooting: silent for {:.1} s, all bindings gone",
                silent.as_secs_f64()
            ),
            Report::Monitor(line) => write!(f, "call monitor: {line}"),
            Report::Forgot => write!(f, "dropped every registration without a word"),
        }
    }
}
