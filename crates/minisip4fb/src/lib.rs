//! minisip4fb: a headless IP phone for the AVM FRITZ!Box, the library.
//!
//! Rooms, each using only those before it (docs/DESIGN.md):
//! - [`sip`], [`agent`]: the sans-IO core (the crate `minisip4fb-proto`).
//! - [`guard`]: one way of guarding every door. [`text`]: caller data made
//!   safe to show.
//! - [`call`]: what a call is (its record, its caller, its events, how it
//!   is shown), the vocabulary of every room above.
//! - [`config`]: the config file, typed where it is read.
//! - [`net`]: the driver on a thread of its own and the library API
//!   ([`Phone`], [`net::Screen`] for deciding inline, [`net::blocking`]).
//! - [`media`]: what an answered call says and hears.
//! - [`screen`]: numbers, lists and rules: what to do with a caller.
//! - [`fritzbox`]: TR-064 (account setup, phonebooks, call barring).
//! - [`phoneblock`]: PhoneBlock's community list, checked and kept compact.
//! - [`calllog`]: the call history (SQLite).
//! - [`controls`]: what the household switches while the daemon runs.
//! - [`outlets`], [`web`]: hooks, push, MQTT; the dashboard and API.
//! - [`daemon`]: the screening daemon (`run`, `demo`), wiring the above.
//!
//! The emulated FRITZ!Box is the crate `minisip4fb-emulator`, the command
//! the package `minisip4fb-cli`.

// The standard print macros panic when stdout or stderr is closed
// (`minisip4fb setup | head -1`); a command must finish its work instead
// (setup writes the config after it prints), and the daemon must not
// die of it. These shadow them in every module of the crate: what cannot
// be written is dropped. Exported (hidden) for the `minisip4fb` command,
// which takes them with `#[macro_use]`.
#[doc(hidden)]
#[macro_export]
macro_rules! println {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($t)*);
    }};
}
#[doc(hidden)]
#[macro_export]
macro_rules! print {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout(), $($t)*);
    }};
}
#[doc(hidden)]
#[macro_export]
macro_rules! eprintln {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($t)*);
    }};
}
/// The sans-IO core (crates/proto), re-exported under its old paths.
pub use minisip4fb_proto::{agent, sip};
pub mod call;
pub mod calllog;
pub mod config;
pub mod controls;
pub mod daemon;
pub mod guard;
pub mod media;
#[warn(missing_docs)]
pub mod net;
pub mod outlets;
pub mod screen;
pub mod text;
pub mod web;

pub use net::{IncomingCall, Phone, PhoneConfig, Reject};
pub mod fritzbox;
pub mod phoneblock;

// The README's code is `examples/`, run by the tests (tests/it/examples.rs).
