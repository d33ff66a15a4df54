//! The copy of PhoneBlock's list on disk (SQLite, a file of its own next
//! to the call log): numbers, the API version and when it was synced, so
//! that a restart reads the copy instead of downloading the list again.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, params};

use std::sync::Arc;

use super::{Changes, Community, Listed, Local, Personal, PersonalEntry, Rating, Which};

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
             );
             CREATE TABLE IF NOT EXISTS personal (
                 list TEXT NOT NULL,
                 phone TEXT NOT NULL,
                 label TEXT
             );
             CREATE TABLE IF NOT EXISTS personal_meta (
                 id INTEGER PRIMARY KEY CHECK (id = 1),
                 synced_at INTEGER NOT NULL
             );
             CREATE TABLE IF NOT EXISTS reports (
                 id INTEGER PRIMARY KEY,
                 phone INTEGER NOT NULL,
                 queued_at INTEGER NOT NULL,
                 sent_at INTEGER
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

    /// Everything the rules read, and the community copy's meta (`None`
    /// before its first sync; the personal lists may be there or not).
    pub fn load_local(&self) -> Result<(Local, Option<Meta>), StoreError> {
        let (community, meta) = match self.load()? {
            Some((c, m)) => (Arc::new(c), Some(m)),
            None => (Arc::default(), None),
        };
        let personal = Arc::new(self.personal()?.map(|(p, _)| p).unwrap_or_default());
        Ok((
            Local {
                community,
                personal,
            },
            meta,
        ))
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

impl Store {
    /// The household's own lists and when they were fetched; `None`
    /// before the first fetch.
    pub fn personal(&self) -> Result<Option<(Personal, i64)>, StoreError> {
        let at: Option<i64> = self
            .conn
            .query_row(
                "SELECT synced_at FROM personal_meta WHERE id = 1",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))?;
        let Some(at) = at else { return Ok(None) };
        let mut p = Personal::default();
        let mut stmt = self
            .conn
            .prepare("SELECT list, phone, label FROM personal ORDER BY rowid")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get(1)?, r.get(2)?)))
            .map_err(|e| self.err(e))?;
        for row in rows {
            let (list, phone, label) = row.map_err(|e| self.err(e))?;
            if let Some(w) = Which::BOTH.into_iter().find(|w| w.as_str() == list) {
                p.list_mut(w).push(PersonalEntry { phone, label });
            }
        }
        Ok(Some((p, at)))
    }

    /// Replaces the household's own lists.
    pub fn save_personal(&mut self, p: &Personal, now: i64) -> Result<(), StoreError> {
        let tx = self.conn.transaction().map_err(at(&self.path))?;
        let done = (|| {
            tx.execute("DELETE FROM personal", [])?;
            {
                let mut ins =
                    tx.prepare("INSERT INTO personal (list, phone, label) VALUES (?1, ?2, ?3)")?;
                for w in Which::BOTH {
                    for e in p.list(w) {
                        ins.execute(params![w.as_str(), e.phone, e.label])?;
                    }
                }
            }
            tx.execute(
                "INSERT INTO personal_meta (id, synced_at) VALUES (1, ?1)
                 ON CONFLICT(id) DO UPDATE SET synced_at = ?1",
                [now],
            )?;
            Ok(())
        })();
        done.and_then(|()| tx.commit()).map_err(|e| self.err(e))
    }

    /// Queues a `report-call` (kept until sent, across restarts); of the
    /// unsent, only the newest [`MAX_QUEUED`] are kept.
    pub fn queue_report(&self, phone: u64, now: i64) -> Result<i64, StoreError> {
        self.conn
            .execute(
                "INSERT INTO reports (phone, queued_at) VALUES (?1, ?2)",
                params![phone as i64, now],
            )
            .map_err(|e| self.err(e))?;
        let id = self.conn.last_insert_rowid();
        self.conn
            .execute(
                "DELETE FROM reports WHERE sent_at IS NULL AND id NOT IN
                 (SELECT id FROM reports WHERE sent_at IS NULL ORDER BY id DESC LIMIT ?1)",
                [MAX_QUEUED],
            )
            .map_err(|e| self.err(e))?;
        Ok(id)
    }

    /// Reports not sent yet, oldest first: (id, phone).
    pub fn pending_reports(&self) -> Result<Vec<(i64, u64)>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT id, phone FROM reports WHERE sent_at IS NULL ORDER BY id")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// Marks a report sent; sent reports older than two days are dropped
    /// (they only count towards the daily limit).
    pub fn report_sent(&self, id: i64, now: i64) -> Result<(), StoreError> {
        self.conn
            .execute_batch(&format!(
                "UPDATE reports SET sent_at = {now} WHERE id = {id};
                 DELETE FROM reports WHERE sent_at < {};",
                now - 2 * 86_400
            ))
            .map_err(|e| self.err(e))
    }

    /// Reports queued since `since` (Unix seconds), sent or not.
    pub fn reports_since(&self, since: i64) -> Result<u32, StoreError> {
        self.conn
            .query_row(
                "SELECT COUNT(*) FROM reports WHERE queued_at >= ?1",
                [since],
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))
    }

    /// Drops a queued report (refused by PhoneBlock for good).
    pub fn drop_report(&self, id: i64) -> Result<(), StoreError> {
        self.conn
            .execute("DELETE FROM reports WHERE id = ?1", [id])
            .map(drop)
            .map_err(|e| self.err(e))
    }
}

/// Unsent reports kept at most (an outage of weeks must not grow the file).
pub const MAX_QUEUED: i64 = 100;

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

        // The personal lists and the report queue live in the same file.
        assert!(s.personal().unwrap().is_none());
        let p = Personal {
            blacklist: vec![PersonalEntry {
                phone: "0900*".into(),
                label: None,
            }],
            whitelist: vec![PersonalEntry {
                phone: "+4930999".into(),
                label: Some("Oma".into()),
            }],
        };
        s.save_personal(&p, 3000).unwrap();
        let a = s.queue_report(49301, 3000).unwrap();
        let b = s.queue_report(49303, 3001).unwrap();
        s.report_sent(a, 3002).unwrap();
        drop(s);
        let s = Store::open(&path).unwrap();
        assert_eq!(s.personal().unwrap(), Some((p, 3000)));
        assert_eq!(s.pending_reports().unwrap(), [(b, 49303)]);
        assert_eq!(s.reports_since(3000).unwrap(), 2);
        assert_eq!(s.reports_since(3001).unwrap(), 1);
        s.drop_report(b).unwrap();
        assert!(s.pending_reports().unwrap().is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
