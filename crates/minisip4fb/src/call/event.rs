//! What the daemon tells other programs and its outlets (`--events json`,
//! hooks, push, MQTT, the web side): one enum of events, and their names.
//! A room of its own, so that an outlet needs nothing else of the daemon.

use serde::Serialize;

use crate::call::{Caller, Record, Time};

/// Something worth telling other programs (`--events json`, hooks). Its
/// kinds, [`EventKind`], are derived from it, with the same names as the
/// serde tag (`call_ended`): hooks, push and MQTT filter by them.
#[derive(Debug, Clone, Serialize, strum::EnumDiscriminants)]
#[strum_discriminants(
    name(EventKind),
    derive(
        strum::IntoStaticStr,
        strum::EnumString,
        strum::VariantArray,
        serde::Deserialize
    ),
    strum(serialize_all = "snake_case"),
    serde(rename_all = "snake_case")
)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum DaemonEvent {
    /// The registration events name the account (`[fritzbox]` or an
    /// `[[account]]`) they are about.
    Registered {
        time: Time,
        account: String,
        expires: u64,
    },
    RegistrationLost {
        time: Time,
        account: String,
        reason: String,
    },
    RegistrationRestored {
        time: Time,
        account: String,
        expires: u64,
    },
    /// The Box's call monitor showed a call for this account's phone that
    /// never reached it: the Box has likely stopped ringing it.
    CallNotDelivered {
        time: Time,
        account: String,
        /// As the Box wrote it; `None`: withheld.
        caller: Option<String>,
        called: String,
    },
    Call(Record),
    CallEnded(Record),
    Terminated(Record),
    /// The local copy of PhoneBlock's community list was synced.
    PhoneblockSynced {
        time: Time,
        full: bool,
        added: usize,
        updated: usize,
        removed: usize,
        total: usize,
        version: i64,
    },
    /// A sync failed; the copy in use stays. `retry_in`: seconds.
    PhoneblockSyncFailed {
        time: Time,
        reason: String,
        retry_in: u64,
    },
    /// A call answered by an `answer` rule: the keys the caller entered
    /// (after the PIN, without the `#`).
    Dtmf {
        time: Time,
        #[serde(flatten)]
        caller: Caller,
        called: Option<String>,
        rule: Option<String>,
        digits: String,
    },
    /// A door opener's call without the right PIN: `wrong` entries.
    PinRejected {
        time: Time,
        #[serde(flatten)]
        caller: Caller,
        rule: Option<String>,
        wrong: u32,
    },
    /// A caller pressed the key the key-press check asked for (`challenge`
    /// rules): it may call until `until` (none: for good).
    ChallengePassed {
        time: Time,
        #[serde(flatten)]
        caller: Caller,
        called: Option<String>,
        rule: Option<String>,
        account: Option<String>,
        until: Option<Time>,
    },
    /// A caller did not: the key `asked` for, the one `pressed` (none: no
    /// key, or it hung up). Failed too often, it is not asked again (its
    /// calls are hung up at once) until `refused_until`.
    ChallengeFailed {
        time: Time,
        #[serde(flatten)]
        caller: Caller,
        called: Option<String>,
        rule: Option<String>,
        account: Option<String>,
        asked: String,
        pressed: Option<String>,
        refused_until: Option<Time>,
    },
    /// A door opener stops answering: one caller until `until`, or
    /// everyone (`until` none) until the owner opens it again.
    DoorLocked {
        time: Time,
        rule: Option<String>,
        #[serde(flatten)]
        caller: Caller,
        everyone: bool,
        until: Option<Time>,
    },
}

impl DaemonEvent {
    /// Its kind.
    pub fn kind(&self) -> EventKind {
        self.into()
    }
}

impl EventKind {
    /// Every kind, in the order of [`DaemonEvent`].
    pub const ALL: &[EventKind] = <EventKind as strum::VariantArray>::VARIANTS;

    /// The name hooks and JSON use (`registration_lost`).
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The name of a kind is the serde tag of its events.
    #[test]
    fn kinds_are_named_as_the_json_says() {
        let e = DaemonEvent::RegistrationLost {
            time: Time::now(),
            account: "620".into(),
            reason: String::new(),
        };
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(json["event"], e.kind().as_str());
        assert_eq!("call_ended".parse::<EventKind>(), Ok(EventKind::CallEnded));
        assert_eq!(EventKind::ALL.len(), 14);
        assert!("nope".parse::<EventKind>().is_err());
    }
}
