//! One sync of the local copy with PhoneBlock: a full download when there
//! is no copy yet, otherwise only what changed since the copy's version.

use std::sync::Arc;

use super::api::{Api, ApiError};
use super::store::{Store, StoreError};
use super::{Applied, Community, Personal, SyncError, Which};

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
/// copy for the rules. `in_use` is the copy the rules have: when it is the
/// store's version, the changes are merged into it instead of reading a
/// million rows again. On any failure the copy on disk is unchanged.
pub fn sync_now(
    api: &Api,
    store: &mut Store,
    in_use: Option<&Arc<Community>>,
    now: i64,
) -> Result<(Community, Synced), SyncFailure> {
    let base = match (store.meta()?, in_use) {
        (None, _) => None,
        (Some(meta), Some(c)) if c.version == meta.version => Some(Arc::clone(c)),
        (Some(_), _) => store.load()?.map(|(c, _)| Arc::new(c)),
    };
    match base {
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
        Some(copy) => {
            let changes = api.blocklist(Some(copy.version))?;
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

/// What a fetch of the personal lists brought.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    pub blacklist: usize,
    pub whitelist: usize,
    pub skipped: usize,
    pub examples: Vec<String>,
}

/// Fetches the household's own lists into `store`; on any failure the
/// stored lists are unchanged.
pub fn sync_personal(
    api: &Api,
    store: &mut Store,
    now: i64,
) -> Result<(Personal, Fetched), SyncFailure> {
    let mut p = Personal::default();
    let (mut skipped, mut examples) = (0, Vec::new());
    for w in Which::BOTH {
        let (list, s, e) = api.personal(w)?;
        *p.list_mut(w) = list;
        skipped += s;
        examples.extend(e);
    }
    store.save_personal(&p, now)?;
    examples.truncate(3);
    let fetched = Fetched {
        blacklist: p.blacklist.len(),
        whitelist: p.whitelist.len(),
        skipped,
        examples,
    };
    Ok((p, fetched))
}

impl std::fmt::Display for Fetched {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "personal lists: {} on the blacklist, {} on the whitelist",
            self.blacklist, self.whitelist
        )?;
        if self.skipped > 0 {
            write!(
                f,
                "; {} entries refused (not a number), e.g. {}",
                self.skipped,
                self.examples.join("; ")
            )?;
        }
        Ok(())
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
