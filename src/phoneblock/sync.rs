//! One sync of the local copy with PhoneBlock: a full download when there
//! is no copy yet, otherwise only what changed since the copy's version.

use super::api::{Api, ApiError};
use super::store::{Store, StoreError};
use super::{Applied, Community, SyncError};

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
/// copy for the rules. On any failure the copy on disk is unchanged.
pub fn sync_now(
    api: &Api,
    store: &mut Store,
    now: i64,
) -> Result<(Community, Synced), SyncFailure> {
    match store.load()? {
        None => {
            let list = api.blocklist(None)?;
            let copy = Community::new(list.set, list.version);
            store.save_full(&copy, now)?;
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
            };
            Ok((copy, synced))
        }
        Some((copy, meta)) => {
            let changes = api.blocklist(Some(meta.version))?;
            let (copy, applied) = copy.with_changes(&changes)?;
            store.save_changes(&changes, now)?;
            let synced = Synced {
                full: false,
                applied,
                total: copy.len(),
                version: copy.version,
                skipped: changes.skipped,
                examples: changes.examples,
            };
            Ok((copy, synced))
        }
    }
}

impl std::fmt::Display for Synced {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let a = self.applied;
        write!(
            f,
            "{} sync: {} added, {} updated, {} removed; {} numbers, version {}",
            if self.full { "full" } else { "incremental" },
            a.added,
            a.updated,
            a.removed,
            self.total,
            self.version
        )?;
        if self.skipped > 0 {
            write!(
                f,
                "; {} entries refused (not an E.164 number or bad votes), e.g. {}",
                self.skipped,
                self.examples.join("; ")
            )?;
        }
        Ok(())
    }
}
