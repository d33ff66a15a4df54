//! The moments of a call, as times: written one way wherever they are
//! written (RFC 3339, UTC, milliseconds: `2026-12-07T05:00:00.000Z`), so
//! that the call log's text sorts and compares as the times do.

use std::fmt;
use std::time::SystemTime;

use chrono::{DateTime, SecondsFormat, Utc};

/// A moment (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Time(pub DateTime<Utc>);

impl Time {
    /// Now.
    pub fn now() -> Time {
        Time(Utc::now())
    }

    /// As people read it here: this machine's local time, to the second
    /// (`2026-12-07 06:00:00`), for `calls` and the dashboard's pages.
    pub fn local(&self) -> String {
        self.0
            .with_timezone(&chrono::Local)
            .format("%Y-%m-%d %H:%M:%S")
            .to_string()
    }

    /// Unix time in ms, as the guards' state counts it.
    pub fn from_unix_ms(ms: u64) -> Time {
        Time::from(std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms))
    }
}

impl From<SystemTime> for Time {
    fn from(t: SystemTime) -> Time {
        Time(t.into())
    }
}

impl fmt::Display for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.to_rfc3339_opts(SecondsFormat::Millis, true))
    }
}

/// Any RFC 3339 time, any offset (`2026-12-03T08:00:00+01:00`): a filter
/// given in local time compares right with the call log's UTC.
impl std::str::FromStr for Time {
    type Err = chrono::ParseError;

    fn from_str(s: &str) -> Result<Time, chrono::ParseError> {
        DateTime::parse_from_rfc3339(s).map(|t| Time(t.with_timezone(&Utc)))
    }
}

impl serde::Serialize for Time {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_one_way_read_in_any() {
        let t: Time = "2026-12-03T08:00:00+01:00".parse().unwrap();
        assert_eq!(t.to_string(), "2026-12-03T07:00:00.000Z");
        let z: Time = "2026-12-03T07:00:00Z".parse().unwrap();
        assert_eq!(t, z);
        assert!("yesterday".parse::<Time>().is_err());
    }
}
