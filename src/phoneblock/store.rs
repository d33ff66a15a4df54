//! The copy of PhoneBlock's list on disk (SQLite, a file of its own next
//! to the call log): the numbers, the API version and when it was synced,
//! so that a restart reads the copy instead of downloading the list again;
//! and the household's own lists and the queue of reports.
//!
//! The community list is one blob of sorted 16-byte records, replaced
//! whole with its version in one transaction: it is only ever read whole
//! and written whole, and a row per number would make a sync of 10,000
//! changes spread over a million numbers rewrite most of the table's
//! pages one by one (measured: ~120 ms against ~40 ms for the blob).

use rusqlite::{Connection, OptionalExtension, params};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use super::{Community, Listed, Personal, PersonalEntry, Rating, Which};

#[derive(Debug, thiserror::Error)]
#[error("PhoneBlock copy {}: {source}", path.display())]
pub struct StoreError {
    pub path: PathBuf,
    #[source]
    pub source: Fault,
}

/// What failed under a [`StoreError`].
#[derive(Debug, thiserror::Error)]
pub enum Fault {
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    /// Reading or writing the numbers' blob.
    #[error(transparent)]
    Io(#[from] std::io::Error),
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
        let err = |e: rusqlite::Error| fault(path, e);
        let conn = Connection::open(path).map_err(err)?;
        conn.execute_batch(
            "PRAGMA journal_mode=WAL;
             CREATE TABLE IF NOT EXISTS copy (
                 id INTEGER PRIMARY KEY CHECK (id = 1),
                 version INTEGER NOT NULL,
                 synced_at INTEGER NOT NULL,
                 full_at INTEGER NOT NULL,
                 numbers BLOB NOT NULL
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

    fn err(&self, source: impl Into<Fault>) -> StoreError {
        fault(&self.path, source)
    }

    /// The version and sync times; `None` before the first sync.
    pub fn meta(&self) -> Result<Option<Meta>, StoreError> {
        self.conn
            .query_row(
                "SELECT version, synced_at, full_at FROM copy WHERE id = 1",
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

    /// The whole copy, for the rules; `None` before the first sync. A
    /// damaged copy (not whole records, not sorted) is refused with a
    /// warning, as if there were none: the next sync downloads it again.
    pub fn load(&self) -> Result<Option<(Community, Meta)>, StoreError> {
        let Some(meta) = self.meta()? else {
            return Ok(None);
        };
        let mut blob = self
            .conn
            .blob_open(rusqlite::MAIN_DB, "copy", "numbers", 1, true)
            .map_err(|e| self.err(e))?;
        let len = blob.len();
        if len % RECORD != 0 {
            return Ok(self.damaged(&format!("{len} bytes are no whole records")));
        }
        let mut entries = Vec::with_capacity(len / RECORD);
        let mut buf = vec![0u8; CHUNK * RECORD];
        let mut last = None;
        while entries.len() < len / RECORD {
            let want = ((len / RECORD - entries.len()) * RECORD).min(buf.len());
            blob.read_exact(&mut buf[..want]).map_err(|e| self.err(e))?;
            for r in buf[..want].chunks_exact(RECORD) {
                let e = decode(r.try_into().unwrap_or([0; RECORD]));
                if last.is_some_and(|l| l >= e.phone) {
                    return Ok(self.damaged("its numbers are out of order"));
                }
                last = Some(e.phone);
                entries.push(e);
            }
        }
        Ok(Some((Community::from_sorted(entries, meta.version), meta)))
    }

    /// A damaged copy is dropped (its version and times too), so that the
    /// next sync, due at once, downloads the list again.
    fn damaged(&self, why: &str) -> Option<(Community, Meta)> {
        tracing::warn!(
            "the PhoneBlock copy {} is damaged ({why}): dropped, the next sync downloads the list again",
            self.path.display()
        );
        if let Err(e) = self.conn.execute("DELETE FROM copy", []) {
            tracing::warn!("cannot drop the damaged PhoneBlock copy: {e}");
        }
        None
    }

    /// Replaces the copy with `list` as synced at `now`, in full (`full`:
    /// the time of the last full download is now) or after changes.
    pub fn save(&mut self, list: &Community, now: i64, full: bool) -> Result<(), StoreError> {
        let tx = self.conn.transaction().map_err(|e| fault(&self.path, e))?;
        let done = (|| -> Result<(), Fault> {
            let bytes = (list.len() * RECORD) as i64;
            tx.execute(
                "INSERT INTO copy (id, version, synced_at, full_at, numbers)
                 VALUES (1, ?1, ?2, COALESCE(?3, 0), zeroblob(?4))
                 ON CONFLICT(id) DO UPDATE SET version = ?1, synced_at = ?2,
                     full_at = COALESCE(?3, full_at), numbers = zeroblob(?4)",
                params![list.version, now, full.then_some(now), bytes],
            )?;
            let mut blob = tx.blob_open(rusqlite::MAIN_DB, "copy", "numbers", 1, false)?;
            let mut buf = Vec::with_capacity(CHUNK * RECORD);
            for chunk in list.entries().chunks(CHUNK) {
                buf.clear();
                for e in chunk {
                    buf.extend_from_slice(&encode(e));
                }
                blob.write_all(&buf)?;
            }
            Ok(())
        })();
        done.and_then(|()| Ok(tx.commit()?))
            .map_err(|e| self.err(e))
    }
}

/// A number on disk: the number (u64), votes (u32), rating (its index,
/// 255 for none), three bytes unused; little-endian.
const RECORD: usize = 16;
/// Records read or written at a time (64 KB).
const CHUNK: usize = 4096;

fn encode(e: &Listed) -> [u8; RECORD] {
    let mut r = [0u8; RECORD];
    r[..8].copy_from_slice(&e.phone.to_le_bytes());
    r[8..12].copy_from_slice(&e.votes.to_le_bytes());
    r[12] = e.rating.map_or(u8::MAX, |r| r as u8);
    r
}

fn decode(r: [u8; RECORD]) -> Listed {
    let word = |a: usize, b: usize| {
        let mut x = [0u8; 8];
        x[..b - a].copy_from_slice(&r[a..b]);
        u64::from_le_bytes(x)
    };
    Listed {
        phone: word(0, 8),
        votes: word(8, 12) as u32,
        rating: Rating::ALL.get(r[12] as usize).copied(),
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
        let tx = self.conn.transaction().map_err(|e| fault(&self.path, e))?;
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

/// Names the copy's file in an error.
fn fault(path: &Path, source: impl Into<Fault>) -> StoreError {
    StoreError {
        path: path.to_owned(),
        source: source.into(),
    }
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
        s.save(&Community::new(full.set, full.version), 1000, true)
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
        let (merged, _) = copy
            .with_changes(&super::super::parse_blocklist(inc).unwrap())
            .unwrap();
        s.save(&merged, 2000, false).unwrap();
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

        // A damaged copy is no copy, its meta gone with it (so that the
        // next sync is due at once and downloads it again).
        let mut s = s;
        let raw = Connection::open(&path).unwrap();
        for (bytes, why) in [
            (vec![1, 2], "not whole records"),
            (
                [49302, 49301]
                    .map(|phone| {
                        encode(&Listed {
                            phone,
                            votes: 4,
                            rating: None,
                        })
                    })
                    .concat(),
                "out of order",
            ),
        ] {
            s.save(&merged, 2000, false).unwrap();
            raw.execute("UPDATE copy SET numbers = ?1", [bytes])
                .unwrap();
            assert!(s.load().unwrap().is_none(), "{why}");
            assert_eq!(s.meta().unwrap(), None, "{why}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
