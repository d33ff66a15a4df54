//! minisip4fb's sans-IO core, as quinn-proto is quinn's: bytes and time
//! in, bytes to send, events and the next deadline out. No socket, no
//! clock, no async runtime: every timer and retransmission is testable
//! with a fake clock, and a fuzzer can feed it directly.
//!
//! - [`sip`]: the wire format (parse, write, digest, SDP); pure functions.
//! - [`agent`]: the phone's logic: transactions (RFC 3261 timers),
//!   registration, incoming calls.

#![warn(missing_docs)]

pub mod agent;
pub mod sip;
