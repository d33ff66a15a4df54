//! minisip4fb: a headless IP phone for the AVM FRITZ!Box.
//!
//! Layers (see DESIGN.md): [`sip`] is the wire format, [`agent`] the
//! sans-IO phone, [`net`] the tokio driver and the public [`Phone`] API.

pub mod agent;
pub mod calllog;
pub mod cli;
pub mod config;
pub mod daemon;
#[warn(missing_docs)]
pub mod net;
pub mod screen;
pub mod sip;
pub mod text;

pub use net::{IncomingCall, Phone, PhoneConfig, Reject};
pub mod emulator;
pub mod fritzbox;

/// The README's examples, compiled by `cargo test` so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeExamples;
