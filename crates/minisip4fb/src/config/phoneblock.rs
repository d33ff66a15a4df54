//! `[phoneblock]`: the community block list kept locally, its ranges and
//! its live check, and where its token comes from.

use std::path::PathBuf;

use serde::Deserialize;

use super::{MAX_SECRET, SecretError, Span};

/// `[phoneblock]`: the community block list (phoneblock.net), kept locally.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PhoneBlock {
    /// The API token (better: token_file, or env MINISIP4FB_PHONEBLOCK_TOKEN).
    pub token: Option<String>,
    pub token_file: Option<PathBuf>,
    /// The API's base URL.
    pub api: String,
    /// A community number counts from this many votes.
    pub min_votes: u32,
    /// A community spam range (a block of numbers that differ only in
    /// their last one or two digits) counts from this many votes, its
    /// members' summed: more than a single number needs, as a range keeps
    /// up to 100 numbers out. PhoneBlock applies it (the binary list
    /// carries no votes), and never below its own floor of 10.
    pub min_range_votes: u32,
    /// Ask PhoneBlock about a caller no rule decided from local data,
    /// while the call rings (by hashes of the number). Off by default:
    /// the hash of a phone number is easily reversed, so it tells
    /// PhoneBlock who called the household; turn it on knowingly.
    pub live_check: bool,
    /// How long the live check may take before the call simply rings on.
    pub live_check_budget: Span,
    /// Live checks a minute at most.
    pub live_checks_per_minute: u32,
    /// Tell PhoneBlock when a listed number called (counted, not a vote).
    pub report: bool,
    /// The local copy: an SQLite file (the personal lists, the report
    /// queue) and the community list beside it (`.numbers`); relative to
    /// the config file.
    pub copy: PathBuf,
}

impl Default for PhoneBlock {
    fn default() -> Self {
        PhoneBlock {
            token: None,
            token_file: None,
            api: crate::phoneblock::api::DEFAULT_API.into(),
            min_votes: 4,
            min_range_votes: 20,
            live_check: false,
            live_check_budget: Span(std::time::Duration::from_millis(1500)),
            live_checks_per_minute: 10,
            report: true,
            copy: PathBuf::from("phoneblock.db"),
        }
    }
}

/// The live check's budget: long enough for one request, short enough
/// that the Box still rings (about 30 s).
pub const LIVE_BUDGET: std::ops::RangeInclusive<std::time::Duration> =
    std::time::Duration::from_millis(200)..=std::time::Duration::from_secs(5);

/// The longest token read (PhoneBlock's are a few dozen characters).
pub(super) const MAX_TOKEN: usize = 512;

impl PhoneBlock {
    /// The live check's settings, when it is on.
    pub fn check_live(&self) -> Result<(), String> {
        if !self.live_check {
            return Ok(());
        }
        if !LIVE_BUDGET.contains(&self.live_check_budget.0) {
            return Err(format!(
                "live_check_budget = \"{}\": give 200ms to 5s (the call rings meanwhile)",
                self.live_check_budget
            ));
        }
        if !(1..=60).contains(&self.live_checks_per_minute) {
            return Err(format!(
                "live_checks_per_minute = {}: give 1 to 60",
                self.live_checks_per_minute
            ));
        }
        Ok(())
    }

    /// The token and where it came from: env MINISIP4FB_PHONEBLOCK_TOKEN
    /// wins, then `token_file` (relative to `base`), then `token`.
    pub fn token(&self) -> Result<(String, String), SecretError> {
        let check = |t: &str, from: String| {
            let t = t.trim();
            if t.is_empty() {
                Err(SecretError::EmptyToken { from })
            } else if t.len() > MAX_TOKEN || !t.bytes().all(|b| b.is_ascii_graphic()) {
                Err(SecretError::NotAToken { from })
            } else {
                Ok((t.to_owned(), from))
            }
        };
        if let Ok(t) = std::env::var("MINISIP4FB_PHONEBLOCK_TOKEN") {
            return check(&t, "MINISIP4FB_PHONEBLOCK_TOKEN".into());
        }
        if let Some(f) = &self.token_file {
            let path = f.clone();
            let text = crate::guard::file::read_regular(&path, MAX_SECRET).map_err(|source| {
                SecretError::Read {
                    what: "[phoneblock] token_file",
                    path: path.clone(),
                    source,
                }
            })?;
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                if std::fs::metadata(&path).is_ok_and(|m| m.permissions().mode() & 0o004 != 0) {
                    tracing::warn!("{} is readable by everyone: chmod 600 it", path.display());
                }
            }
            let from = format!("[phoneblock] token_file {}", path.display());
            return check(text.lines().next().unwrap_or(""), from);
        }
        match &self.token {
            Some(t) => check(t, "[phoneblock] token".into()),
            None => Err(SecretError::NoToken),
        }
    }
}
