//! What a call is, below every outlet: the phone's notes about a call
//! ([`note`]), its record ([`Record`]), the events the daemon tells
//! ([`event`]), and how a call is shown to people ([`show`]). The call
//! log, the web side, MQTT, hooks and push speak this and nothing of each
//! other or of the daemon.

pub mod event;
pub mod note;
mod record;
pub mod show;

pub use event::{DaemonEvent, EventKind};
pub use record::Record;
pub use show::{now_rfc3339, rfc3339};
