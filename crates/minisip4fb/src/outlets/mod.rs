//! Where the daemon's events go besides the call log: hooks, push
//! services and MQTT. Each takes the vocabulary of [`crate::call`] and
//! needs nothing of the daemon or of the others (the web side, an outlet
//! too, has a room of its own: [`crate::web`]).

pub mod hooks;
pub mod mqtt;
pub mod push;
