//! What a call is, below every other room of the service: what is done
//! with it ([`Action`]), its record ([`Record`]), the events the daemon
//! tells ([`event`]), and how a call is shown to people ([`show`], in the
//! words of one catalogue: [`words`]). The
//! config, the rules, the call log, the web side, MQTT, hooks and push
//! speak this and nothing of each other or of the daemon.

mod caller;
pub mod event;
mod kind;
mod record;
pub mod regions;
pub mod show;
mod time;
pub mod words;

pub use caller::Caller;
pub use event::{DaemonEvent, EventKind};
pub use kind::{Action, CallerClass, LogOnly, UnknownName};
pub use record::Record;
pub use time::Time;
