//! How a call is shown to people: who called, and when.

use std::time::SystemTime;

/// `t` as RFC 3339 in UTC with milliseconds, the form of every time the
/// call log, the events and the API carry.
pub fn rfc3339(t: SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(t).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Now, as [`rfc3339`].
pub fn now_rfc3339() -> String {
    rfc3339(SystemTime::now())
}
