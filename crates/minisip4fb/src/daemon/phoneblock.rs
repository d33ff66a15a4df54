//! PhoneBlock in the daemon (issue 13), never on the phone's thread: the
//! local copy kept fresh on PhoneBlock's schedule (each sync in the
//! blocking pool at low priority, the result swapped in whole), and the
//! community numbers the shield blocked reported back, from a queue on
//! disk that outlives a restart.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, broadcast, mpsc};
use tokio::time::Instant;

use super::RuleSource;
use crate::call::{DaemonEvent, Time};
use crate::phoneblock::api::{Api, ApiError};
use crate::phoneblock::store::{Store, StoreError};
use crate::phoneblock::sync::{
    SyncFailure, backoff, community_due, personal_due, sync_now, sync_personal, sync_ranges,
};
use crate::phoneblock::{Handle, Local, e164};

/// Each request as a whole while running (the full list is a few MB today,
/// up to ~90 MB for a million numbers: slow lines need the time).
const TIMEOUT: Duration = Duration::from_secs(120);
/// Reports still queued at shutdown get this long, then wait for the next start.
pub(crate) const STOP_FLUSH: Duration = Duration::from_secs(2);
/// Reports queued per day (PhoneBlock counts 20 a day per user).
const REPORTS_PER_DAY: u32 = 20;
/// Reports wait in the channel from the book-keeper at most this many.
const REPORT_QUEUE: usize = 64;

/// The reporter's queue (numbers as E.164 digits) and its task, which ends
/// once the queue's sender is gone and what is queued is sent (or kept).
pub(crate) struct Reporting {
    pub queue: mpsc::Sender<u64>,
    pub task: tokio::task::JoinHandle<()>,
}

/// What [`start`] started: the API client (the web's "report") and the
/// reporter, if reports are on.
pub(crate) struct Started {
    pub api: Arc<Api>,
    pub reporting: Option<Reporting>,
}

/// Starts the sync worker (into `tasks`) and, with `report = true`, the
/// reporter. Nothing without `[phoneblock]`; without a usable token the
/// rules keep the copy they loaded and say so once.
pub(crate) fn start(
    source: &RuleSource,
    events: broadcast::Sender<DaemonEvent>,
    reload: Arc<Notify>,
    tasks: &mut Vec<tokio::task::JoinHandle<()>>,
) -> Option<Started> {
    let pb = source.config.phoneblock.as_ref()?;
    let (token, from) = match pb.token() {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(
                "PhoneBlock: {e}; the rules use the local copy as it is (no sync, no reports)"
            );
            return None;
        }
    };
    let path = pb.copy.clone();
    let api = Arc::new(Api::new(&pb.api, &token, &from, TIMEOUT));
    tasks.push(tokio::spawn(keep_fresh(
        api.clone(),
        path.clone(),
        pb.min_range_votes,
        source.phoneblock.clone(),
        events,
        reload,
    )));
    let reporting = pb.report.then(|| {
        let quick = Api::new(&pb.api, &token, &from, STOP_FLUSH);
        let (queue, rx) = mpsc::channel(REPORT_QUEUE);
        let task = tokio::spawn(report(api.clone(), quick, path, rx));
        Reporting { queue, task }
    });
    Some(Started { api, reporting })
}

fn unix_now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Runs `f` with the store in the blocking pool at low priority.
async fn blocking<T: Send + 'static>(
    store: &Arc<Mutex<Store>>,
    f: impl FnOnce(&mut Store) -> T + Send + 'static,
) -> Option<T> {
    let store = store.clone();
    tokio::task::spawn_blocking(move || {
        crate::guard::priority::lower_priority_of_this_thread();
        f(&mut store.lock().unwrap_or_else(|p| p.into_inner()))
    })
    .await
    .ok()
}

async fn open(path: PathBuf) -> Option<Arc<Mutex<Store>>> {
    let shown = path.display().to_string();
    match tokio::task::spawn_blocking(move || Store::open(&path)).await {
        Ok(Ok(s)) => Some(Arc::new(Mutex::new(s))),
        Ok(Err(e)) => {
            tracing::error!("PhoneBlock: {e}; no sync and no reports until a restart");
            None
        }
        Err(e) => {
            tracing::error!("PhoneBlock: cannot open {shown}: {e}");
            None
        }
    }
}

/// Why a sync failed, and how long PhoneBlock asked to wait (429); `None`:
/// the sync's task died without an answer.
fn why(e: Option<SyncFailure>) -> (String, Option<Duration>) {
    match e {
        Some(SyncFailure::Api(ApiError::RateLimited { retry_after })) => (
            ApiError::RateLimited { retry_after }.to_string(),
            retry_after,
        ),
        Some(e) => (e.to_string(), None),
        None => ("the sync stopped unexpectedly".into(), None),
    }
}

/// Keeps the copy fresh: the community list at start if it is a day old
/// (in full if there is none), then every 23–25 h; the personal lists
/// hourly. A failure keeps what the rules have and retries with backoff.
async fn keep_fresh(
    api: Arc<Api>,
    path: PathBuf,
    min_range_votes: u32,
    handle: Handle,
    events: broadcast::Sender<DaemonEvent>,
    reload: Arc<Notify>,
) {
    let Some(store) = open(path).await else {
        return;
    };
    let times = blocking(&store, |s| -> Result<_, StoreError> {
        Ok((
            s.meta()?.map(|m| m.synced_at),
            s.personal()?.map(|(_, at)| at),
        ))
    })
    .await;
    let (synced, fetched) = match times {
        Some(Ok(t)) => t,
        Some(Err(e)) => {
            tracing::warn!("PhoneBlock: {e}; syncing as if there were no copy");
            (None, None)
        }
        None => (None, None),
    };
    let now = unix_now();
    let start = Instant::now();
    let mut community_at = start + community_due(synced, now, rand::random());
    let mut personal_at = start + personal_due(fetched, now, rand::random());
    let (mut community_failures, mut personal_failures) = (0, 0);
    // At start too: a changed `min_range_votes` is fetched at once.
    refresh_ranges(&api, &store, min_range_votes, &handle).await;
    loop {
        tokio::time::sleep_until(community_at.min(personal_at)).await;
        if Instant::now() >= community_at {
            let (a, in_use) = (api.clone(), handle.load().community.clone());
            let done = blocking(&store, move |s| sync_now(&a, s, Some(&in_use), unix_now())).await;
            community_at = match done {
                Some(Ok((copy, synced))) => {
                    community_failures = 0;
                    let copy = Arc::new(copy);
                    handle.rcu(|old| Local {
                        community: copy.clone(),
                        ..Local::clone(old)
                    });
                    tracing::info!("PhoneBlock: {synced}");
                    refresh_ranges(&api, &store, min_range_votes, &handle).await;
                    let a = synced.applied;
                    let _ = events.send(DaemonEvent::PhoneblockSynced {
                        time: Time::now(),
                        full: synced.full,
                        added: a.added,
                        updated: a.updated,
                        removed: a.removed,
                        total: synced.total,
                        version: synced.version,
                    });
                    Instant::now() + community_due(Some(unix_now()), unix_now(), rand::random())
                }
                failed => {
                    community_failures += 1;
                    let (reason, retry) = why(failed.and_then(Result::err));
                    let wait = backoff(community_failures, retry);
                    let kept = handle.load().community.version;
                    tracing::warn!(
                        "PhoneBlock sync failed, the rules keep the copy of version {kept}: {reason}; retrying in {}",
                        crate::text::span(wait.as_secs() as i64)
                    );
                    let _ = events.send(DaemonEvent::PhoneblockSyncFailed {
                        time: Time::now(),
                        reason,
                        retry_in: wait.as_secs(),
                    });
                    Instant::now() + wait
                }
            };
        }
        if Instant::now() >= personal_at {
            let a = api.clone();
            let done = blocking(&store, move |s| sync_personal(&a, s, unix_now())).await;
            personal_at = match done {
                Some(Ok((personal, fetched))) => {
                    personal_failures = 0;
                    if *handle.load().personal != personal {
                        tracing::info!("PhoneBlock: {fetched}");
                        let personal = Arc::new(personal);
                        handle.rcu(|old| Local {
                            personal: personal.clone(),
                            ..Local::clone(old)
                        });
                        // The rules read the personal lists when they compile.
                        reload.notify_one();
                    }
                    Instant::now() + personal_due(Some(unix_now()), unix_now(), rand::random())
                }
                failed => {
                    personal_failures += 1;
                    let (reason, retry) = why(failed.and_then(Result::err));
                    let wait = backoff(personal_failures, retry);
                    tracing::warn!(
                        "PhoneBlock: your lists were not fetched, the rules keep the last: {reason}; retrying in {}",
                        crate::text::span(wait.as_secs() as i64)
                    );
                    Instant::now() + wait
                }
            };
        }
    }
}

/// The community's spam ranges, when their monthly download is due (or
/// the threshold changed); a failure keeps the ones in use until the next
/// day's sync tries again.
async fn refresh_ranges(
    api: &Arc<Api>,
    store: &Arc<Mutex<Store>>,
    min_votes: u32,
    handle: &Handle,
) {
    let a = api.clone();
    match blocking(store, move |s| sync_ranges(&a, s, min_votes, unix_now())).await {
        Some(Ok(Some(ranges))) => {
            tracing::info!(
                "PhoneBlock: {} spam ranges of at least {} votes",
                ranges.list.spam_ranges().count(),
                ranges.min_votes
            );
            let ranges = Arc::new(ranges);
            handle.rcu(|old| Local {
                ranges: ranges.clone(),
                ..Local::clone(old)
            });
        }
        Some(Ok(None)) => {}
        failed => tracing::warn!(
            "PhoneBlock: the spam ranges were not fetched, the rules keep the last: {}",
            why(failed.and_then(Result::err)).0
        ),
    }
}

/// Why a round of reports stopped.
enum Stopped {
    /// Try again later (PhoneBlock down, slow, asking to wait, token refused).
    Later(Option<Duration>),
    /// The store failed: nothing more to do this round.
    Store,
}

/// Sends what is queued, oldest first, marking each sent; a report
/// PhoneBlock refuses for good (an HTTP 4xx other than 401/429) is dropped.
fn send_queued(api: &Api, store: &mut Store) -> Result<usize, Stopped> {
    let pending = store.pending_reports().map_err(|e| {
        tracing::warn!("PhoneBlock reports: {e}");
        Stopped::Store
    })?;
    let mut sent = 0;
    for (id, phone) in pending {
        let done = match api.report_call(phone) {
            Ok(()) => {
                sent += 1;
                tracing::info!(
                    "reported {} to PhoneBlock (a listed number called)",
                    e164(phone)
                );
                store.report_sent(id, unix_now())
            }
            Err(ApiError::Status { status, .. }) if (400..500).contains(&status) => {
                tracing::warn!(
                    "PhoneBlock refused the report of {} (HTTP {status}); dropped",
                    e164(phone)
                );
                store.drop_report(id)
            }
            Err(e) => {
                tracing::warn!(
                    "PhoneBlock: cannot report {} now, kept for later: {e}",
                    e164(phone)
                );
                let retry = match e {
                    ApiError::RateLimited { retry_after } => retry_after,
                    _ => None,
                };
                return Err(Stopped::Later(retry));
            }
        };
        if let Err(e) = done {
            tracing::warn!("PhoneBlock reports: {e}");
            return Err(Stopped::Store);
        }
    }
    Ok(sent)
}

/// Queues a report on disk unless today's are used up; `true` if queued.
fn queue(store: &mut Store, phone: u64) -> bool {
    let now = unix_now();
    let today = now - now.rem_euclid(86_400);
    match store.reports_since(today) {
        Ok(n) if n >= REPORTS_PER_DAY => {
            tracing::debug!(
                "not reporting {}: {REPORTS_PER_DAY} reports today already",
                e164(phone)
            );
            false
        }
        Ok(_) => match store.queue_report(phone, now) {
            Ok(_) => true,
            Err(e) => {
                tracing::warn!("PhoneBlock reports: {e}");
                false
            }
        },
        Err(e) => {
            tracing::warn!("PhoneBlock reports: {e}");
            false
        }
    }
}

/// The reporter: each number the community list blocked is queued on disk
/// and sent in the background; what was left from the last run goes first.
/// When the queue's sender is gone (shutdown) what is queued gets
/// [`STOP_FLUSH`] with `quick` (a client bounded to that), the rest stays
/// on disk for the next start.
async fn report(api: Arc<Api>, quick: Api, path: PathBuf, mut rx: mpsc::Receiver<u64>) {
    let Some(store) = open(path).await else {
        // Drain, so that the book-keeper never finds the queue full.
        while rx.recv().await.is_some() {}
        return;
    };
    let mut failures = 0;
    let mut retry_at = Some(Instant::now());
    loop {
        let due = retry_at;
        tokio::select! {
            phone = rx.recv() => match phone {
                Some(p) => {
                    if blocking(&store, move |s| queue(s, p)).await == Some(true) && retry_at.is_none() {
                        retry_at = Some(Instant::now());
                    }
                }
                None => break,
            },
            _ = async { tokio::time::sleep_until(due.unwrap_or_else(Instant::now)).await }, if due.is_some() => {
                let a = api.clone();
                retry_at = match blocking(&store, move |s| send_queued(&a, s)).await {
                    Some(Ok(_)) => {
                        failures = 0;
                        None
                    }
                    Some(Err(Stopped::Later(retry))) => {
                        failures += 1;
                        Some(Instant::now() + report_backoff(failures, retry))
                    }
                    Some(Err(Stopped::Store)) | None => {
                        failures += 1;
                        Some(Instant::now() + report_backoff(failures, None))
                    }
                };
            }
        }
    }
    let flush = blocking(&store, move |s| send_queued(&quick, s));
    if tokio::time::timeout(STOP_FLUSH, flush).await.is_err() {
        tracing::info!("PhoneBlock: reports not sent yet are kept for the next start");
    }
}

/// 1 min doubling up to 1 h, or longer if PhoneBlock said so.
fn report_backoff(failures: u32, retry_after: Option<Duration>) -> Duration {
    Duration::from_secs(60)
        .saturating_mul(1 << failures.saturating_sub(1).min(6))
        .min(Duration::from_secs(3600))
        .max(retry_after.unwrap_or_default())
}
