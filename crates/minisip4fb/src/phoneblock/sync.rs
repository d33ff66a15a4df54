//! One sync of the local copy with PhoneBlock: a full download when there
//! is no copy yet, otherwise only what changed since the copy's version.

use std::sync::Arc;
use std::time::Duration;

use super::api::{Api, ApiError};
use super::store::{Store, StoreError};
use super::{Applied, Community, Personal, Ranges, SyncError, Which};

/// PhoneBlock allows one full download a month (its integration guide).
pub const FULL_EVERY: i64 = 30 * 86_400;

/// What a sync did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Synced {
    pub full: bool,
    pub applied: Applied,
    pub total: usize,
    pub version: i64,
    /// Entries of the answer refused, and a few of them for the log.
    pub skipped: usize,
    pub examples: Vec<String>,
    /// The whole sync: request, parse, merge, write.
    pub took: Duration,
    /// Of that, this thread's CPU time: the work, without waiting for
    /// PhoneBlock or the disk.
    pub cpu: Option<Duration>,
}

/// The calling thread's CPU time so far.
fn thread_cpu() -> Option<Duration> {
    #[cfg(unix)]
    {
        let mut t = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: clock_gettime writes the timespec we own.
        let ok = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) } == 0;
        ok.then(|| Duration::new(t.tv_sec as u64, t.tv_nsec as u32))
    }
    #[cfg(not(unix))]
    None
}

#[derive(Debug, thiserror::Error)]
pub enum SyncFailure {
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Bad(#[from] SyncError),
}

/// Syncs `store` through `api` at `now` (Unix seconds); returns the new
/// copy for the rules. `in_use` is the copy the rules have: when it is the
/// store's version, the changes are merged into it instead of reading a
/// million rows again. On any failure the copy on disk is unchanged.
pub fn sync_now(
    api: &Api,
    store: &mut Store,
    in_use: Option<&Arc<Community>>,
    now: i64,
) -> Result<(Community, Synced), SyncFailure> {
    let (start, cpu_start) = (std::time::Instant::now(), thread_cpu());
    let cpu = || Some(thread_cpu()?.saturating_sub(cpu_start?));
    let meta = store.meta()?;
    let base = match (&meta, in_use) {
        (None, _) => None,
        (Some(meta), Some(c)) if c.version == meta.version => Some(Arc::clone(c)),
        (Some(_), _) => store.load()?.map(|(c, _)| Arc::new(c)),
    };
    // The changes since our version, unless the server's versions went
    // backwards (it was reset): then the copy can only heal by a full
    // download, if PhoneBlock's monthly one is due.
    let changes = match &base {
        None => None,
        Some(copy) => match api.blocklist(Some(copy.version)) {
            Ok(changes) if changes.version >= copy.version => Some(changes),
            Ok(changes) => {
                let full_at = meta.as_ref().map_or(0, |m| m.full_at);
                if now.saturating_sub(full_at) < FULL_EVERY {
                    return Err(SyncError::VersionBackwards {
                        had: copy.version,
                        got: changes.version,
                        full_in: Some(FULL_EVERY - now.saturating_sub(full_at)),
                    }
                    .into());
                }
                tracing::warn!(
                    "PhoneBlock's version went backwards ({} → {}): the server was reset; downloading the whole list once",
                    copy.version,
                    changes.version
                );
                None
            }
            Err(e) => return Err(e.into()),
        },
    };
    match (base, changes) {
        (None, _) | (Some(_), None) => {
            let list = api.blocklist(None)?;
            let copy = Community::new(list.set, list.version);
            store.save(&copy, now, true)?;
            let synced = Synced {
                full: true,
                applied: Applied {
                    added: copy.len(),
                    ..Applied::default()
                },
                total: copy.len(),
                version: copy.version,
                skipped: list.skipped,
                examples: list.examples,
                took: start.elapsed(),
                cpu: cpu(),
            };
            Ok((copy, synced))
        }
        (Some(copy), Some(changes)) => {
            let (copy, applied) = copy.with_changes(&changes)?;
            store.save(&copy, now, false)?;
            let synced = Synced {
                full: false,
                applied,
                total: copy.len(),
                version: copy.version,
                skipped: changes.skipped,
                examples: changes.examples,
                took: start.elapsed(),
                cpu: cpu(),
            };
            Ok((copy, synced))
        }
    }
}

/// Fetches the community's ranges when they are due: never fetched, a
/// month old (the binary list has no `since=`: each fetch is a full
/// download, which PhoneBlock allows monthly), or fetched with another
/// threshold. `None` when not due. On any failure the stored ranges are
/// unchanged.
pub fn sync_ranges(
    api: &Api,
    store: &mut Store,
    min_votes: u32,
    now: i64,
) -> Result<Option<Ranges>, SyncFailure> {
    let due = match store.ranges()? {
        None => true,
        Some((r, at)) => r.min_votes != min_votes || now.saturating_sub(at) >= FULL_EVERY,
    };
    if !due {
        return Ok(None);
    }
    let (list, file) = api.ranges(min_votes)?;
    store.save_ranges(&file, min_votes, now)?;
    Ok(Some(Ranges { list, min_votes }))
}

/// What a fetch of the personal lists brought.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    pub blacklist: usize,
    pub whitelist: usize,
    pub skipped: usize,
    pub examples: Vec<String>,
    /// Lists PhoneBlock answered 404 for: taken as empty.
    pub missing: Vec<Which>,
    /// Your own ranges (`+4930123*`), on both lists.
    pub ranges: usize,
    /// Why they were not fetched (the lists are kept all the same).
    pub ranges_failed: Option<String>,
}

/// Fetches the household's own lists into `store`; on any failure the
/// stored lists are unchanged. A list PhoneBlock answers 404 for does not
/// exist there: it is empty.
pub fn sync_personal(
    api: &Api,
    store: &mut Store,
    now: i64,
) -> Result<(Personal, Fetched), SyncFailure> {
    let mut p = Personal::default();
    let (mut skipped, mut examples, mut missing) = (0, Vec::new(), Vec::new());
    for w in Which::BOTH {
        let (list, s, e) = match api.personal(w) {
            Err(ApiError::Status { status: 404, .. }) => {
                missing.push(w);
                (Vec::new(), 0, Vec::new())
            }
            answer => answer?,
        };
        *p.list_mut(w) = list;
        skipped += s;
        examples.extend(e);
    }
    // Your ranges come only in the binary list; without it the lists
    // stand as they are.
    let (mut ranges, mut ranges_failed) = (0, None);
    match api.personal_ranges() {
        Ok(list) => {
            for (prefix, _, spam) in list.ranges() {
                let which = if spam {
                    Which::Blacklist
                } else {
                    Which::Whitelist
                };
                p.list_mut(which).push(super::PersonalEntry {
                    phone: format!("+{prefix}*"),
                    label: None,
                });
                ranges += 1;
            }
        }
        // A service without it: none.
        Err(ApiError::Status {
            status: 400 | 404, ..
        }) => {}
        Err(e) => ranges_failed = Some(e.to_string()),
    }
    store.save_personal(&p, now)?;
    examples.truncate(3);
    let fetched = Fetched {
        blacklist: p.blacklist.len(),
        whitelist: p.whitelist.len(),
        skipped,
        examples,
        missing,
        ranges,
        ranges_failed,
    };
    Ok((p, fetched))
}

/// `; 3 entries refused (WHY), e.g. …` when any were.
fn refused(
    f: &mut std::fmt::Formatter<'_>,
    skipped: usize,
    examples: &[String],
    why: &str,
) -> std::fmt::Result {
    match skipped {
        0 => Ok(()),
        n => write!(
            f,
            "; {n} entries refused ({why}), e.g. {}",
            examples.join("; ")
        ),
    }
}

impl std::fmt::Display for Fetched {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "personal lists: {} on the blacklist, {} on the whitelist",
            self.blacklist, self.whitelist
        )?;
        if self.ranges > 0 {
            write!(f, " (of them {} ranges)", self.ranges)?;
        }
        for w in &self.missing {
            write!(f, " (PhoneBlock has no /{}: empty)", w.as_str())?;
        }
        if let Some(e) = &self.ranges_failed {
            write!(f, "; your ranges were not fetched: {e}")?;
        }
        refused(f, self.skipped, &self.examples, "not a number")
    }
}

impl std::fmt::Display for Synced {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let a = self.applied;
        write!(
            f,
            "{} sync: {} added, {} updated, {} removed; {} numbers, version {} ({} ms{})",
            if self.full { "full" } else { "incremental" },
            a.added,
            a.updated,
            a.removed,
            self.total,
            self.version,
            self.took.as_millis(),
            self.cpu
                .map(|c| format!(", {} ms CPU", c.as_millis()))
                .unwrap_or_default()
        )?;
        refused(
            f,
            self.skipped,
            &self.examples,
            "not an E.164 number or bad votes",
        )
    }
}

/// PhoneBlock's rules for clients (its integration guide): an incremental
/// sync at most once a day, at a randomised interval of 23–25 h (never at
/// a fixed time of day, so that not every client asks at once).
const DAY: i64 = 86_400;
const COMMUNITY_MIN: i64 = 23 * 3600;
const COMMUNITY_SPREAD: f64 = 2.0 * 3600.0;
/// The personal lists change when the user edits them: about hourly.
const HOUR: i64 = 3600;
const PERSONAL_MIN: i64 = 55 * 60;
const PERSONAL_SPREAD: f64 = 10.0 * 60.0;

/// How long until the community copy is synced: at once without a copy
/// or when it is a day old, else 23–25 h after the last sync (`jitter`,
/// 0.0–1.0, picks where in that window).
pub fn community_due(synced_at: Option<i64>, now: i64, jitter: f64) -> Duration {
    due(synced_at, now, DAY, COMMUNITY_MIN, COMMUNITY_SPREAD, jitter)
}

/// How long until the personal lists are fetched: at once when never
/// fetched or an hour old, else 55–65 min after the last fetch.
pub fn personal_due(fetched_at: Option<i64>, now: i64, jitter: f64) -> Duration {
    due(fetched_at, now, HOUR, PERSONAL_MIN, PERSONAL_SPREAD, jitter)
}

fn due(last: Option<i64>, now: i64, stale: i64, min: i64, spread: f64, jitter: f64) -> Duration {
    match last {
        Some(t) if now.saturating_sub(t) < stale => {
            let after = min + (spread * jitter.clamp(0.0, 1.0)) as i64;
            // A last time in the future (a clock set back) waits no
            // longer than a whole window from now.
            let wait = (t + after).saturating_sub(now).clamp(0, after);
            Duration::from_secs(wait as u64)
        }
        _ => Duration::ZERO,
    }
}

/// The wait after the `failures`-th failure in a row: 5 min doubling up to
/// 6 h, or longer if PhoneBlock said so (429 with Retry-After).
pub fn backoff(failures: u32, retry_after: Option<Duration>) -> Duration {
    let base = Duration::from_secs(300)
        .saturating_mul(1 << failures.saturating_sub(1).min(10))
        .min(Duration::from_secs(6 * 3600));
    base.max(retry_after.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syncs_are_due_as_phoneblock_asks() {
        let h = 3600;
        assert_eq!(community_due(None, 1000, 0.5), Duration::ZERO, "no copy");
        assert_eq!(
            community_due(Some(0), 24 * h, 0.5),
            Duration::ZERO,
            "a day old"
        );
        // Synced an hour ago: next in 22–24 h, where by the jitter.
        let t = 100 * h;
        assert_eq!(
            community_due(Some(t - h), t, 0.0),
            Duration::from_secs(22 * h as u64)
        );
        assert_eq!(
            community_due(Some(t - h), t, 1.0),
            Duration::from_secs(24 * h as u64)
        );
        assert_eq!(personal_due(None, t, 0.3), Duration::ZERO);
        assert_eq!(
            personal_due(Some(t - 5 * 60), t, 0.5),
            Duration::from_secs(55 * 60)
        );
        assert_eq!(personal_due(Some(t - h), t, 0.5), Duration::ZERO);
        // A clock set back: never a wait beyond the window.
        assert_eq!(
            community_due(Some(t + h), t, 1.0),
            Duration::from_secs(25 * h as u64)
        );
        assert_eq!(
            community_due(Some(t + 10 * h), t, 0.0),
            Duration::from_secs(23 * h as u64)
        );
    }

    #[test]
    fn failures_back_off_and_honour_retry_after() {
        assert_eq!(backoff(1, None), Duration::from_secs(300));
        assert_eq!(backoff(2, None), Duration::from_secs(600));
        assert_eq!(backoff(30, None), Duration::from_secs(6 * 3600));
        assert_eq!(
            backoff(1, Some(Duration::from_secs(7200))),
            Duration::from_secs(7200)
        );
    }
}
