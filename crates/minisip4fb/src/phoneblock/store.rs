//! The copy of PhoneBlock's lists on disk, next to the call log, so that a
//! restart reads the copy instead of downloading the list again.
//!
//! The community list is a file of its own (`phoneblock.numbers` beside
//! `[phoneblock] copy`): a header with the API version and the sync times,
//! then the numbers as sorted 16-byte records. It is only ever read whole
//! and written whole, so it is written sequentially to a new file that is
//! renamed over the old one: a crash leaves the old copy or the new one,
//! never half of either. (SQLite was measured for it: a row per number
//! makes 10,000 changes spread over a million numbers rewrite most pages,
//! ~120 ms; one blob costs a checkpoint of 16 MB every other sync.) The
//! household's own lists and the queue of reports are in SQLite.

use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, params};

use super::binary::Binary;
use super::{Community, Listed, Personal, PersonalEntry, Ranges, Rating, Which};

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
    /// Reading or writing the community list's file.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// The copy on disk.
pub struct Store {
    conn: Connection,
    path: PathBuf,
    /// The community list's own file.
    numbers: PathBuf,
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
    /// Opens (or creates) the copy. A database that is damaged or not a
    /// database at all (an SD card that lost sectors) is set aside with a
    /// timestamp and started anew, as the community file heals itself:
    /// the personal lists are fetched again at the next sync (the reports
    /// still queued in it are lost, and said to be).
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        match Store::open_as_is(path) {
            Err(StoreError {
                source: Fault::Sqlite(e),
                ..
            }) if crate::guard::file::is_damaged(&e) => {
                let aside = crate::guard::file::set_aside(path).map_err(|e| fault(path, e))?;
                tracing::warn!(
                    "PhoneBlock copy {}: damaged ({e}); moved aside to {}, starting anew (your lists are fetched again; reports still queued there are lost)",
                    path.display(),
                    aside.display()
                );
                Store::open_as_is(path)
            }
            other => other,
        }
    }

    fn open_as_is(path: &Path) -> Result<Store, StoreError> {
        let err = |e: rusqlite::Error| fault(path, e);
        let conn = Connection::open(path).map_err(err)?;
        // The daemon's sync and its reporter (and a command run by hand)
        // each have a connection: a write waits for another's, briefly.
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(err)?;
        crate::guard::file::sqlite_wal(&conn).map_err(err)?;
        conn.execute_batch(
            "
             CREATE TABLE IF NOT EXISTS personal (
                 list TEXT NOT NULL,
                 phone TEXT NOT NULL,
                 label TEXT
             );
             CREATE TABLE IF NOT EXISTS personal_meta (
                 id INTEGER PRIMARY KEY CHECK (id = 1),
                 synced_at INTEGER NOT NULL
             );
             CREATE TABLE IF NOT EXISTS ranges (
                 id INTEGER PRIMARY KEY CHECK (id = 1),
                 fetched_at INTEGER NOT NULL,
                 min_votes INTEGER NOT NULL,
                 file BLOB NOT NULL
             );
             CREATE TABLE IF NOT EXISTS live_counts (
                 what TEXT PRIMARY KEY,
                 n INTEGER NOT NULL
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
            // `phoneblock.db` → `phoneblock.numbers` (never the same file).
            numbers: match path.extension() {
                Some(e) if e == "numbers" => path.with_extension("numbers.list"),
                _ => path.with_extension("numbers"),
            },
        })
    }

    fn err(&self, source: impl Into<Fault>) -> StoreError {
        fault(&self.path, source)
    }

    /// The version and sync times; `None` before the first sync (or
    /// when the copy is damaged: then it is dropped, see [`Store::load`]).
    pub fn meta(&self) -> Result<Option<Meta>, StoreError> {
        Ok(self.open_numbers()?.map(|(meta, _, _)| meta))
    }

    /// The community list's file, its header read: `None` if there is none.
    fn open_numbers(&self) -> Result<Option<(Meta, u64, BufReader<std::fs::File>)>, StoreError> {
        let file = match std::fs::File::open(&self.numbers) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(fault(&self.numbers, e)),
        };
        let size = file.metadata().map_err(|e| fault(&self.numbers, e))?.len();
        let mut r = BufReader::with_capacity(CHUNK * RECORD, file);
        let mut head = [0u8; HEADER];
        if r.read_exact(&mut head).is_err() || head[..8] != MAGIC {
            return Ok(self.damaged("no header"));
        }
        let word = |i: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&head[8 + 8 * i..16 + 8 * i]);
            w
        };
        let meta = Meta {
            version: i64::from_le_bytes(word(0)),
            synced_at: i64::from_le_bytes(word(1)),
            full_at: i64::from_le_bytes(word(2)),
        };
        let count = u64::from_le_bytes(word(3));
        if count
            .checked_mul(RECORD as u64)
            .and_then(|n| n.checked_add(HEADER as u64))
            != Some(size)
        {
            return Ok(self.damaged(&format!("{size} bytes for {count} numbers")));
        }
        Ok(Some((meta, count, r)))
    }

    /// The whole copy, for the rules; `None` before the first sync. A
    /// damaged copy (cut off, not sorted) is dropped with a warning, as if
    /// there were none: the next sync, due at once, downloads it again.
    pub fn load(&self) -> Result<Option<(Community, Meta)>, StoreError> {
        let Some((meta, count, mut r)) = self.open_numbers()? else {
            return Ok(None);
        };
        let count = usize::try_from(count).unwrap_or(usize::MAX);
        if count > super::MAX_ENTRIES {
            return Ok(self.damaged(&format!("{count} numbers")));
        }
        let mut entries = Vec::with_capacity(count);
        let mut record = [0u8; RECORD];
        for _ in 0..count {
            r.read_exact(&mut record)
                .map_err(|e| fault(&self.numbers, e))?;
            let e = decode(record);
            if entries.last().is_some_and(|l: &Listed| l.phone >= e.phone) {
                return Ok(self.damaged("its numbers are out of order"));
            }
            entries.push(e);
        }
        Ok(Some((Community::from_sorted(entries, meta.version), meta)))
    }

    fn damaged<T>(&self, why: &str) -> Option<T> {
        tracing::warn!(
            "the PhoneBlock copy {} is damaged ({why}): dropped, the next sync downloads the list again",
            self.numbers.display()
        );
        if let Err(e) = std::fs::remove_file(&self.numbers) {
            tracing::warn!("cannot drop the damaged PhoneBlock copy: {e}");
        }
        None
    }

    /// Replaces the copy with `list` as synced at `now`, in full (`full`:
    /// the time of the last full download is now) or after changes.
    pub fn save(&mut self, list: &Community, now: i64, full: bool) -> Result<(), StoreError> {
        let full_at = match full {
            true => now,
            false => self.meta()?.map_or(0, |m| m.full_at),
        };
        // Per process: the daemon and a `phoneblock sync` by hand may both write.
        let tmp = self
            .numbers
            .with_extension(format!("numbers.new-{}", std::process::id()));
        let write = || -> std::io::Result<()> {
            let mut w = BufWriter::with_capacity(CHUNK * RECORD, std::fs::File::create(&tmp)?);
            w.write_all(&MAGIC)?;
            for x in [list.version, now, full_at, list.len() as i64] {
                w.write_all(&x.to_le_bytes())?;
            }
            for e in list.entries() {
                w.write_all(&encode(e))?;
            }
            let file = w.into_inner().map_err(|e| e.into_error())?;
            // On disk before it replaces the old copy.
            file.sync_all()?;
            std::fs::rename(&tmp, &self.numbers)
        };
        write().map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            fault(&self.numbers, e)
        })
    }
}

/// The community file starts with this, then version, synced_at, full_at
/// and the count (i64 each), then the records.
const MAGIC: [u8; 8] = *b"MS4FBPB\x01";
const HEADER: usize = 8 + 4 * 8;
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
    let mut phone = [0u8; 8];
    phone.copy_from_slice(&r[..8]);
    let mut votes = [0u8; 4];
    votes.copy_from_slice(&r[8..12]);
    Listed {
        phone: u64::from_le_bytes(phone),
        votes: u32::from_le_bytes(votes),
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

    /// The community's binary list (its ranges) and when it was fetched;
    /// `None` before the first fetch, or when the stored file no longer
    /// reads (it is fetched again).
    pub fn ranges(&self) -> Result<Option<(Ranges, i64)>, StoreError> {
        let row: Option<(i64, u32, Vec<u8>)> = self
            .conn
            .query_row(
                "SELECT fetched_at, min_votes, file FROM ranges WHERE id = 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()
            .map_err(|e| self.err(e))?;
        let Some((at, min_votes, file)) = row else {
            return Ok(None);
        };
        match Binary::parse(&file) {
            Ok(list) => Ok(Some((Ranges { list, min_votes }, at))),
            Err(e) => {
                tracing::warn!(
                    "PhoneBlock copy {}: the stored ranges do not read ({e}); fetching them again",
                    self.path.display()
                );
                Ok(None)
            }
        }
    }

    /// Keeps the community's binary list, as fetched.
    pub fn save_ranges(&mut self, file: &[u8], min_votes: u32, now: i64) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT INTO ranges (id, fetched_at, min_votes, file) VALUES (1, ?1, ?2, ?3)
                 ON CONFLICT(id) DO UPDATE SET fetched_at = ?1, min_votes = ?2, file = ?3",
                params![now, min_votes, file],
            )
            .map(drop)
            .map_err(|e| self.err(e))
    }

    /// Counts one outcome of a live check (`made`, `decided`, `late`,
    /// `failed`, `skipped`), kept across restarts for `phoneblock status`.
    pub fn count_live(&self, what: &str) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT INTO live_counts (what, n) VALUES (?1, 1)
                 ON CONFLICT(what) DO UPDATE SET n = n + 1",
                [what],
            )
            .map(drop)
            .map_err(|e| self.err(e))
    }

    /// The live checks' counts, by outcome.
    pub fn live_counts(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT what, n FROM live_counts ORDER BY what")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
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

/// Names a file of the copy in an error.
fn fault(path: &Path, source: impl Into<Fault>) -> StoreError {
    StoreError {
        path: path.to_owned(),
        source: source.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sync and the reporter open a new copy at the same moment:
    /// both get it (SQLite's immediate busy on the switch to WAL is tried
    /// again; without that, this failed within 300 rounds).
    #[test]
    fn two_opens_of_a_new_copy_both_succeed() {
        let dir = std::env::temp_dir().join(format!("minisip4fb-race-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for i in 0..300 {
            let path = dir.join(format!("copy{i}.db"));
            let open =
                |p: std::path::PathBuf| std::thread::spawn(move || Store::open(&p).map(drop));
            let (a, b) = (open(path.clone()), open(path));
            for r in [a.join().unwrap(), b.join().unwrap()] {
                r.unwrap();
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

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
        let numbers = dir.join("phoneblock.numbers");
        let good = std::fs::read(&numbers).unwrap();
        let mut swapped = good.clone();
        swapped[HEADER..].rotate_left(RECORD);
        for (bytes, why) in [
            (good[..good.len() - 1].to_vec(), "cut off"),
            (good[..HEADER - 1].to_vec(), "no whole header"),
            (swapped, "out of order"),
            (b"garbage".to_vec(), "no header"),
        ] {
            std::fs::write(&numbers, bytes).unwrap();
            assert!(s.load().unwrap().is_none(), "{why}");
            assert_eq!(s.meta().unwrap(), None, "{why}");
            assert!(!numbers.exists(), "{why}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
