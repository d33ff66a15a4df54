//! How a call ended, as the call log, the events and the log lines say it.

use crate::sip::StatusCode;

/// How a call ended: the one vocabulary from the agent to the call log.
/// The text forms ([`Outcome::as_text`], `FromStr`) are what the call log,
/// the JSON events and the log lines carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// We answered and hung up, and the Box confirmed our BYE.
    Terminated,
    /// The Box (the caller) sent BYE.
    RemoteHungUp,
    /// The caller gave up before we answered (CANCEL).
    Cancelled,
    /// Another phone took the call: CANCEL with `Reason: SIP;cause=200`
    /// (RFC 3326).
    AnsweredElsewhere,
    /// We declined with this status (480, the FRITZ!Box-safe decline,
    /// reads "declined").
    Rejected(StatusCode),
    /// Our 200 OK was never acknowledged within 64·T1 (RFC 3261
    /// §13.3.1.4); we sent BYE.
    NoAck,
    /// Our BYE got no 2xx: the status, or `None` when unanswered.
    ByeFailed(Option<StatusCode>),
    /// Nobody decided before the INVITE's Expires ran out (487 sent).
    Expired,
}

impl Outcome {
    /// The text form stored and shown (`terminated`, `declined`, `rejected-480`, …).
    pub fn as_text(self) -> std::borrow::Cow<'static, str> {
        use std::borrow::Cow::{Borrowed, Owned};
        match self {
            Outcome::Terminated => Borrowed("terminated"),
            Outcome::RemoteHungUp => Borrowed("hung-up-by-caller"),
            Outcome::Cancelled => Borrowed("cancelled-by-caller"),
            Outcome::AnsweredElsewhere => Borrowed("answered-elsewhere"),
            Outcome::Rejected(StatusCode::TEMPORARILY_UNAVAILABLE) => Borrowed("declined"),
            Outcome::Rejected(s) => Owned(format!("rejected-{s}")),
            Outcome::NoAck => Borrowed("no-ack"),
            Outcome::ByeFailed(Some(s)) => Owned(format!("bye-failed-{s}")),
            Outcome::ByeFailed(None) => Borrowed("bye-unanswered"),
            Outcome::Expired => Borrowed("expired"),
        }
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.as_text())
    }
}

/// An outcome text that is not one of [`Outcome`]'s forms.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown call outcome {0:?}")]
pub struct UnknownOutcome(pub String);

impl std::str::FromStr for Outcome {
    type Err = UnknownOutcome;

    fn from_str(s: &str) -> Result<Outcome, UnknownOutcome> {
        let status = |rest: &str| rest.parse::<u16>().ok().map(StatusCode);
        Ok(match s {
            "terminated" => Outcome::Terminated,
            "hung-up-by-caller" => Outcome::RemoteHungUp,
            "cancelled-by-caller" => Outcome::Cancelled,
            "answered-elsewhere" => Outcome::AnsweredElsewhere,
            // Call logs before the decline became 480 (FRITZBOX.md) meant 486
            // by it; the decline is what counts.
            "declined" => Outcome::Rejected(StatusCode::TEMPORARILY_UNAVAILABLE),
            "no-ack" => Outcome::NoAck,
            "bye-unanswered" => Outcome::ByeFailed(None),
            "expired" => Outcome::Expired,
            // The forms of call logs written before the outcome was typed.
            "failed: no ACK" => Outcome::NoAck,
            "failed: BYE unanswered" => Outcome::ByeFailed(None),
            _ => {
                if let Some(n) = s.strip_prefix("rejected-").and_then(status) {
                    Outcome::Rejected(n)
                } else if let Some(n) = s
                    .strip_prefix("bye-failed-")
                    .or_else(|| s.strip_prefix("failed: BYE "))
                    .and_then(status)
                {
                    Outcome::ByeFailed(Some(n))
                } else {
                    return Err(UnknownOutcome(s.to_owned()));
                }
            }
        })
    }
}

impl serde::Serialize for Outcome {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.as_text())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcome_text_round_trips() {
        for o in [
            Outcome::Terminated,
            Outcome::RemoteHungUp,
            Outcome::Cancelled,
            Outcome::AnsweredElsewhere,
            Outcome::Rejected(StatusCode(486)),
            Outcome::Rejected(StatusCode(480)),
            Outcome::NoAck,
            Outcome::ByeFailed(Some(StatusCode(481))),
            Outcome::ByeFailed(None),
            Outcome::Expired,
        ] {
            assert_eq!(o.as_text().parse::<Outcome>(), Ok(o), "{o}");
        }
        assert!("rejected-x".parse::<Outcome>().is_err());
        assert!("".parse::<Outcome>().is_err());
    }
}
