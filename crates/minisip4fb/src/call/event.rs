//! What the daemon tells other programs and its outlets (`--events json`,
//! hooks, push, MQTT, the web side): one enum of events, and their names.
//! A room of its own, so that an outlet needs nothing else of the daemon.

use serde::Serialize;

use crate::call::Record;

/// The kinds of [`DaemonEvent`], by the names hooks and JSON use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Call,
    CallEnded,
    Terminated,
    Registered,
    RegistrationLost,
    RegistrationRestored,
    PhoneblockSynced,
    PhoneblockSyncFailed,
    Dtmf,
    PinRejected,
    DoorLocked,
}

impl EventKind {
    pub const ALL: [EventKind; 11] = [
        EventKind::Call,
        EventKind::CallEnded,
        EventKind::Terminated,
        EventKind::Registered,
        EventKind::RegistrationLost,
        EventKind::RegistrationRestored,
        EventKind::PhoneblockSynced,
        EventKind::PhoneblockSyncFailed,
        EventKind::Dtmf,
        EventKind::PinRejected,
        EventKind::DoorLocked,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Call => "call",
            EventKind::CallEnded => "call_ended",
            EventKind::Terminated => "terminated",
            EventKind::Registered => "registered",
            EventKind::RegistrationLost => "registration_lost",
            EventKind::RegistrationRestored => "registration_restored",
            EventKind::PhoneblockSynced => "phoneblock_synced",
            EventKind::PhoneblockSyncFailed => "phoneblock_sync_failed",
            EventKind::Dtmf => "dtmf",
            EventKind::PinRejected => "pin_rejected",
            EventKind::DoorLocked => "door_locked",
        }
    }
}

impl std::str::FromStr for EventKind {
    type Err = ();

    fn from_str(s: &str) -> Result<EventKind, ()> {
        EventKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or(())
    }
}

/// Something worth telling other programs (`--events json`, hooks). The
/// serde tag is [`EventKind::as_str`].
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum DaemonEvent {
    Registered {
        time: String,
        expires: u64,
    },
    RegistrationLost {
        time: String,
        reason: String,
    },
    RegistrationRestored {
        time: String,
        expires: u64,
    },
    Call(Record),
    CallEnded(Record),
    Terminated(Record),
    /// The local copy of PhoneBlock's community list was synced.
    PhoneblockSynced {
        time: String,
        full: bool,
        added: usize,
        updated: usize,
        removed: usize,
        total: usize,
        version: i64,
    },
    /// A sync failed; the copy in use stays. `retry_in`: seconds.
    PhoneblockSyncFailed {
        time: String,
        reason: String,
        retry_in: u64,
    },
    /// A call answered by an `answer` rule: the keys the caller entered
    /// (after the PIN, without the `#`).
    Dtmf {
        time: String,
        caller: Option<String>,
        caller_e164: Option<String>,
        name: Option<String>,
        called: Option<String>,
        rule: Option<String>,
        digits: String,
    },
    /// A door opener's call without the right PIN: `wrong` entries.
    PinRejected {
        time: String,
        caller: Option<String>,
        caller_e164: Option<String>,
        name: Option<String>,
        rule: Option<String>,
        wrong: u32,
    },
    /// A door opener stops answering: one caller until `until` (RFC
    /// 3339), or everyone (`until` none) until the owner opens it again.
    DoorLocked {
        time: String,
        rule: Option<String>,
        caller: Option<String>,
        caller_e164: Option<String>,
        everyone: bool,
        until: Option<String>,
    },
}

impl DaemonEvent {
    pub fn kind(&self) -> EventKind {
        match self {
            DaemonEvent::Registered { .. } => EventKind::Registered,
            DaemonEvent::RegistrationLost { .. } => EventKind::RegistrationLost,
            DaemonEvent::RegistrationRestored { .. } => EventKind::RegistrationRestored,
            DaemonEvent::Call(_) => EventKind::Call,
            DaemonEvent::CallEnded(_) => EventKind::CallEnded,
            DaemonEvent::Terminated(_) => EventKind::Terminated,
            DaemonEvent::PhoneblockSynced { .. } => EventKind::PhoneblockSynced,
            DaemonEvent::PhoneblockSyncFailed { .. } => EventKind::PhoneblockSyncFailed,
            DaemonEvent::Dtmf { .. } => EventKind::Dtmf,
            DaemonEvent::PinRejected { .. } => EventKind::PinRejected,
            DaemonEvent::DoorLocked { .. } => EventKind::DoorLocked,
        }
    }
}
