//! minisip4fb: a headless IP phone for the AVM FRITZ!Box.
//!
//! Layers, each using only those before it (docs/DESIGN.md):
//! - [`sip`]: the wire format (parse, write, digest, SDP); pure functions.
//! - [`agent`]: the phone's logic, sans-IO: bytes and time in, bytes,
//!   events and the next deadline out.
//! - [`net`]: the driver on a thread of its own and the library API
//!   ([`Phone`], [`net::Screen`] for deciding inline, [`net::blocking`]).
//! - [`screen`]: numbers, lists and rules: what to do with a caller.
//! - [`calllog`]: the call history (SQLite).
//! - [`fritzbox`]: TR-064 (account setup, phonebooks, call barring).
//! - [`phoneblock`]: PhoneBlock's community list, checked and kept compact.
//! - [`config`]: the config file. [`text`]: caller data made safe to show.
//! - [`daemon`]: the screening daemon (`run`, `demo`); [`web`], [`mqtt`]:
//!   what it shows and says.
//! - [`emulator`]: a FRITZ!Box stand-in for the demo and the tests.
//! - [`cli`]: the `minisip4fb` command.

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
