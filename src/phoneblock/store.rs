//! The copy of PhoneBlock's list on disk (SQLite, a file of its own next
//! to the call log): numbers, the API version and when it was synced, so
//! that a restart reads the copy instead of downloading the list again.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, params};

use super::{Changes, Community, Listed, Rating};

#[derive(Debug, thiserror::Error)]
#[error("PhoneBlock copy {}: {source}", path.display())]
pub struct StoreError {
    pub path: PathBuf,
    #[source]
    pub source: rusqlite::Error,
}

/// The copy on disk.
pub struct Store {
    conn: Connection,
    path: PathBuf,
}

/// What the copy holds besides the numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta {
    pub version: i64,
    /// Unix seconds of the last successful sync.
    pub synced_at: i64,
    /// Unix seconds of the last full download (at most one a month).
    pub full_at: i64,
}

impl Store {
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let err = at(path);
        let conn = Connection::open(path).map_err(&err)?;
        conn.execute_batch(
            "PRAGMA journal_mode=WAL;
             CREATE TABLE IF NOT EXISTS numbers (
                 phone INTEGER PRIMARY KEY,
                 votes INTEGER NOT NULL,
                 rating INTEGER
             );
             CREATE TABLE IF NOT EXISTS meta (
                 id INTEGER PRIMARY KEY CHECK (id = 1),
                 version INTEGER NOT NULL,
                 synced_at INTEGER NOT NULL,
                 full_at INTEGER NOT NULL
             );",
        )
        .map_err(&err)?;
        Ok(Store {
            conn,
            path: path.to_owned(),
        })
    }

    fn err(&self, source: rusqlite::Error) -> StoreError {
        at(&self.path)(source)
    }

    /// The version and sync times; `None` before the first sync.
    pub fn meta(&self) -> Result<Option<Meta>, StoreError> {
        self.conn
            .query_row(
                "SELECT version, synced_at, full_at FROM meta WHERE id = 1",
                [],
                |r| {
                    Ok(Meta {
                        version: r.get(0)?,
                        synced_at: r.get(1)?,
                        full_at: r.get(2)?,
                    })
                },
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// The whole copy, for the rules; `None` before the first sync.
    pub fn load(&self) -> Result<Option<(Community, Meta)>, StoreError> {
        let Some(meta) = self.meta()? else {
            return Ok(None);
        };
        let mut stmt = self
            .conn
            .prepare("SELECT phone, votes, rating FROM numbers ORDER BY phone")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| {
                let phone: i64 = r.get(0)?;
                let votes: i64 = r.get(1)?;
                let rating: Option<i64> = r.get(2)?;
                Ok(Listed {
                    phone: phone as u64,
                    votes: votes.clamp(0, u32::MAX.into()) as u32,
                    rating: rating.and_then(|i| Rating::ALL.get(i as usize).copied()),
                })
            })
            .map_err(|e| self.err(e))?;
        let entries = rows
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.err(e))?;
        Ok(Some((Community::new(entries, meta.version), meta)))
    }

    /// Replaces the copy with a full download.
    pub fn save_full(&mut self, list: &Community, now: i64) -> Result<(), StoreError> {
        let tx = self.conn.transaction().map_err(at(&self.path))?;
        let done = (|| {
            tx.execute("DELETE FROM numbers", [])?;
            insert(&tx, list.entries())?;
            set_meta(&tx, list.version, now, Some(now))?;
            Ok(())
        })();
        done.and_then(|()| tx.commit()).map_err(|e| self.err(e))
    }

    /// Applies an incremental answer (votes 0 removes a number).
    pub fn save_changes(&mut self, changes: &Changes, now: i64) -> Result<(), StoreError> {
        let tx = self.conn.transaction().map_err(at(&self.path))?;
        let done = (|| {
            {
                let mut del = tx.prepare("DELETE FROM numbers WHERE phone = ?1")?;
                for e in &changes.removed {
                    del.execute([e.phone as i64])?;
                }
            }
            insert(&tx, &changes.set)?;
            set_meta(&tx, changes.version, now, None)?;
            Ok(())
        })();
        done.and_then(|()| tx.commit()).map_err(|e| self.err(e))
    }
}

/// Names the copy's file in an SQLite error.
fn at(path: &Path) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
    move |source| StoreError {
        path: path.to_owned(),
        source,
    }
}

fn insert(tx: &rusqlite::Transaction<'_>, entries: &[Listed]) -> rusqlite::Result<()> {
    let mut ins =
        tx.prepare("INSERT OR REPLACE INTO numbers (phone, votes, rating) VALUES (?1, ?2, ?3)")?;
    for e in entries {
        ins.execute(params![e.phone as i64, e.votes, e.rating.map(|r| r as u8)])?;
    }
    Ok(())
}

fn set_meta(
    tx: &rusqlite::Transaction<'_>,
    version: i64,
    now: i64,
    full: Option<i64>,
) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO meta (id, version, synced_at, full_at) VALUES (1, ?1, ?2, COALESCE(?3, 0))
         ON CONFLICT(id) DO UPDATE SET version = ?1, synced_at = ?2,
             full_at = COALESCE(?3, full_at)",
        params![version, now, full],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copy_survives_a_restart_and_takes_changes() {
        let dir = std::env::temp_dir().join(format!("minisip4fb-pb-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("phoneblock.db");
        let mut s = Store::open(&path).unwrap();
        assert!(s.load().unwrap().is_none(), "no copy before the first sync");
        let body = br#"{"numbers":[{"phone":"+49301","rating":"G_FRAUD","votes":20},{"phone":"+49302","votes":4}],"version":3}"#;
        let full = super::super::parse_blocklist(body).unwrap();
        s.save_full(&Community::new(full.set, full.version), 1000)
            .unwrap();
        drop(s);
        let mut s = Store::open(&path).unwrap();
        let (copy, meta) = s.load().unwrap().unwrap();
        assert_eq!(copy.len(), 2);
        assert_eq!(copy.lookup(49301).unwrap().rating, Some(Rating::Fraud));
        assert_eq!(
            meta,
            Meta {
                version: 3,
                synced_at: 1000,
                full_at: 1000
            }
        );
        let inc = br#"{"numbers":[{"phone":"+49302","votes":0},{"phone":"+49303","rating":"C_PING","votes":2}],"version":4}"#;
        s.save_changes(&super::super::parse_blocklist(inc).unwrap(), 2000)
            .unwrap();
        let (copy, meta) = s.load().unwrap().unwrap();
        let phones: Vec<u64> = copy.entries().iter().map(|e| e.phone).collect();
        assert_eq!(phones, [49301, 49303]);
        assert_eq!(
            (meta.version, meta.synced_at, meta.full_at),
            (4, 2000, 1000)
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
