//! One way of guarding every door (docs/DESIGN.md): the limits, timeouts,
//! host checks and file checks that every surface facing the outside
//! uses, so that a new surface gets them by using these.
//!
//! - [`limiter`]: failed attempts at a password or PIN, per client, with a
//!   growing lockout and a ceiling over all clients.
//! - [`http`]: the one HTTP server loop (Host check, header and idle
//!   timeouts, a cap on connections).
//! - [`fds`]: file descriptors raised at start, a share for the web.
//! - [`priority`]: every thread but the phone's at a lower priority.
//! - [`json`]: every string and number of a JSON answer bounded.
//! - [`file`]: files read without blocking (no FIFO, no device), bounded
//!   in size, and a warning for files that others may write.
//! - [`until`]: the wait for the next of a loop's deadlines, when it has one.

pub mod fds;
pub mod file;
pub mod http;
pub mod json;
pub mod limiter;
pub mod priority;

/// Sleeps until `due`; with no deadline, for ever (a `select!` branch
/// that never fires).
pub async fn until(due: Option<tokio::time::Instant>) {
    match due {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}
