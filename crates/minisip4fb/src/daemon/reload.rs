//! Reloading the rules: on SIGHUP, after the Box's lists or PhoneBlock's
//! copy changed, and when the config or a list file changes.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::*;
use crate::config;
use crate::screen::rules::CompileError;

/// Why a reload keeps the rules in force.
#[derive(Debug, thiserror::Error)]
pub(super) enum ReloadError {
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    /// `files`: what the rules that failed name (a list they miss may be
    /// created next), to be watched too.
    #[error("{error}")]
    Compile {
        #[source]
        error: Box<CompileError>,
        files: Vec<PathBuf>,
    },
}

fn mtime(p: &Path) -> Option<SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

/// Why the rules are compiled again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cause {
    Signal,
    BoxLists,
    PhoneBlock,
    Files,
}

/// What the reloader watches: with inotify, the files' directories (one
/// descriptor for the whole run, so what changes while the rules compile
/// waits in it); without, the files' mtimes, polled every 2 s.
pub(super) struct Watching {
    files: Vec<PathBuf>,
    inotify: Option<DirWatch>,
    /// Polling only: each file's mtime from before it was last read.
    seen: Vec<(PathBuf, Option<SystemTime>)>,
}

impl Watching {
    pub(super) fn start(files: Vec<PathBuf>) -> Watching {
        let mut inotify = DirWatch::new();
        if let Some(w) = inotify.as_mut()
            && !w.watch(&files)
        {
            inotify = None;
        }
        let seen = match inotify {
            // A few stat calls at start; the rules are not compiled yet.
            None => files.iter().map(|p| (p.clone(), mtime(p))).collect(),
            Some(_) => Vec::new(),
        };
        Watching {
            files,
            inotify,
            seen,
        }
    }

    /// The files the rules now name (after a reload).
    async fn follow(&mut self, now: Vec<PathBuf>) {
        if now == self.files {
            return;
        }
        if let Some(w) = self.inotify.as_mut()
            && !w.watch(&now)
        {
            self.inotify = None;
        }
        if self.inotify.is_none() {
            // Files still named keep their mtimes from before the compile.
            let new: Vec<PathBuf> = now
                .iter()
                .filter(|p| !self.seen.iter().any(|(q, _)| q == *p))
                .cloned()
                .collect();
            self.seen.retain(|(p, _)| now.contains(p));
            self.seen.extend(mtimes(new).await);
        }
        self.files = now;
    }
}

/// Each file's mtime, read in the blocking pool.
async fn mtimes(files: Vec<PathBuf>) -> Vec<(PathBuf, Option<SystemTime>)> {
    tokio::task::spawn_blocking(move || {
        files
            .into_iter()
            .map(|p| {
                let t = mtime(&p);
                (p, t)
            })
            .collect()
    })
    .await
    .unwrap_or_default()
}

/// Reloads the rules on SIGHUP, after a Box phonebook sync, or when the
/// config or a list file changes (checked every 2 s). Every compile runs
/// in the blocking pool; the phone keeps the old snapshot until the new
/// one is swapped in. Signals arriving meanwhile fold into one reload. A
/// broken config keeps the old rules running.
pub(super) async fn reloader(
    mut source: RuleSource,
    snapshot: RulesSnapshot,
    (doors, passes): (doors::Doors, passes::Passes),
    [box_lists, phoneblock]: [Arc<tokio::sync::Notify>; 2],
    mut w: Watching,
) {
    #[cfg(unix)]
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    loop {
        #[cfg(unix)]
        let signalled = async {
            match hup.as_mut() {
                Some(h) => {
                    h.recv().await;
                }
                None => std::future::pending().await,
            }
        };
        #[cfg(not(unix))]
        let signalled = std::future::pending::<()>();
        let cause = tokio::select! {
            _ = signalled => Some(Cause::Signal),
            _ = box_lists.notified() => Some(Cause::BoxLists),
            _ = phoneblock.notified() => Some(Cause::PhoneBlock),
            // The kernel says when a watched file changes; only without
            // inotify is there polling, and with nothing on disk, neither.
            _ = async {
                match &mut w.inotify {
                    Some(i) => i.changed().await,
                    None => tokio::time::sleep(Duration::from_secs(2)).await,
                }
            }, if !w.files.is_empty() => None,
        };
        let cause = match cause {
            Some(c) => c,
            None if w.inotify.is_some() => Cause::Files,
            None => {
                let before = w.seen.clone();
                let changed =
                    tokio::task::spawn_blocking(move || before.iter().any(|(p, t)| mtime(p) != *t))
                        .await
                        .unwrap_or(false);
                if !changed {
                    continue;
                }
                Cause::Files
            }
        };
        // Polling: the mtimes as they are before the files are read, so a
        // change during the compile shows at the next poll.
        if w.inotify.is_none() {
            w.seen = mtimes(w.files.clone()).await;
        }
        let candidate = source.clone();
        let compiled = tokio::task::spawn_blocking(move || {
            crate::guard::priority::lower_priority_of_this_thread();
            let mut c = candidate;
            c.reload().map(|rules| (c, rules)).map_err(Box::new)
        })
        .await;
        match compiled {
            Ok(Ok((fresh, rules))) => {
                source = fresh;
                tracing::info!(
                    "reloaded the rules: {} rule(s){}",
                    rules.len(),
                    match cause {
                        Cause::Signal => " (SIGHUP)",
                        Cause::BoxLists => " (new lists from the FRITZ!Box)",
                        Cause::PhoneBlock => " (your lists on PhoneBlock changed)",
                        Cause::Files => " (a file changed)",
                    }
                );
                snapshot.store(Some(Arc::new(rules)));
                // `minisip4fb doors open` edits the file, then asks for a
                // reload; the pass list file may have been edited by hand.
                let (d, p) = (doors.clone(), passes.clone());
                let _ = tokio::task::spawn_blocking(move || {
                    d.reload();
                    p.reload();
                })
                .await;
            }
            Ok(Err(e)) => {
                tracing::error!("reload failed, keeping the old rules: {e}");
                // What the broken config names is watched too: creating
                // the list it misses, or mending it, reloads at once.
                let mut files = source.files();
                if let ReloadError::Compile { files: named, .. } = *e {
                    files.extend(
                        named
                            .into_iter()
                            .filter(|f| !files.contains(f))
                            .collect::<Vec<_>>(),
                    );
                }
                w.follow(files).await;
                continue;
            }
            Err(e) => tracing::error!("reload failed, keeping the old rules: {e}"),
        }
        // The rules may name other lists now.
        w.follow(source.files()).await;
    }
}
