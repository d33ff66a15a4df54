//! The call history in SQLite (WAL mode, versioned schema). A call is
//! written when it is decided, before anything is done about it, and its
//! outcome is filled in when it ends; `kill -9` loses nothing committed.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, params};

use crate::call::{Caller, Record, Time};
use minisip4fb_proto::agent::Outcome;

/// Schema migrations, applied in order; `PRAGMA user_version` counts them.
const MIGRATIONS: &[&str] = &["CREATE TABLE calls (
        id          INTEGER PRIMARY KEY,
        time        TEXT NOT NULL,
        caller      TEXT,
        caller_e164 TEXT,
        name        TEXT,
        called      TEXT,
        class       TEXT NOT NULL,
        decision    TEXT NOT NULL,
        action      TEXT NOT NULL,
        rule        TEXT,
        reason      TEXT NOT NULL,
        outcome     TEXT,
        decision_ms REAL,
        bye_ms      REAL,
        ended       TEXT
    );
    CREATE INDEX calls_time ON calls(time);",
    // Log-only as one typed fact with its source, and the Box's phonebook
    // contacts. Older rows: a rule's log-only said so in its reason, the
    // shield did not.
    "ALTER TABLE calls ADD COLUMN log_only TEXT;
    ALTER TABLE calls ADD COLUMN contact INTEGER NOT NULL DEFAULT 0;
    UPDATE calls SET log_only = CASE WHEN reason LIKE '%(log-only: would %' THEN 'rule' ELSE 'shield' END
        WHERE decision <> action;",
    // The account a call came to (several lines, several Boxes).
    "ALTER TABLE calls ADD COLUMN account TEXT;",
];

/// One write, applied in batches by [`CallLog::apply`]; `key` is the
/// writer's own handle of the call (its row id is known only once written).
#[derive(Debug, Clone)]
pub enum Op {
    Insert {
        key: u64,
        record: Box<Record>,
    },
    Finish {
        key: u64,
        outcome: Outcome,
        bye_ms: Option<f64>,
        ended: Time,
    },
}

/// One day of the call log: (day, calls, terminated, declined, let
/// through). Let through is every call not blocked
/// ([`Action::blocks`](crate::call::Action::blocks)):
/// rung, or answered by an `answer` rule (a door opener is no spam).
pub type DayCounts = (String, i64, i64, i64, i64);

/// The decisions that let a call through, in SQL: the complement of
/// [`Action::blocks`](crate::call::Action::blocks), for every count of
/// blocked calls.
const LET_THROUGH: &str = "decision IN ('ring', 'answer')";

/// Which calls to list.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Only calls at or after this time.
    pub since: Option<Time>,
    /// Only calls before this time.
    pub until: Option<Time>,
    /// Only calls not left to ring.
    pub blocked: bool,
    /// Only calls this rule decided (`3 "premium numbers"`).
    pub rule: Option<String>,
    /// Only the newest this many (still oldest first).
    pub limit: Option<u32>,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("call log {path}: {source}")]
    Open {
        path: String,
        source: rusqlite::Error,
    },
    #[error("call log: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("call log {0} is damaged and cannot be moved aside: {1}")]
    Aside(String, std::io::Error),
    #[error("call log: column {column} holds {value:?}, which this minisip4fb does not know")]
    BadValue { column: &'static str, value: String },
    #[error(
        "call log {path} has schema version {found}, newer than this minisip4fb knows ({known}): update minisip4fb"
    )]
    TooNew {
        path: String,
        found: i64,
        known: usize,
    },
}

/// The call log; cheap to clone, safe to share between tasks.
#[derive(Clone)]
pub struct CallLog {
    conn: Arc<Mutex<Connection>>,
}

fn insert(db: &Connection, r: &Record) -> rusqlite::Result<i64> {
    db.prepare_cached(
        "INSERT INTO calls (time, caller, caller_e164, name, called, class, decision, action, rule, reason, decision_ms, outcome, bye_ms, log_only, contact, account)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
    )?
    .execute(params![
        r.time.to_string(),
        r.caller.number,
        r.caller.e164,
        r.caller.name,
        r.called,
        r.class.as_str(),
        r.decision.as_str(),
        r.action.as_str(),
        r.rule,
        r.reason,
        r.decision_ms,
        r.outcome.map(|o| o.as_text()),
        r.bye_ms,
        r.log_only.map(|l| l.as_str()),
        r.contact,
        r.account
    ])?;
    Ok(db.last_insert_rowid())
}

fn finish(
    db: &Connection,
    id: i64,
    outcome: Outcome,
    bye_ms: Option<f64>,
    ended: Time,
) -> rusqlite::Result<()> {
    db.prepare_cached("UPDATE calls SET outcome = ?2, bye_ms = ?3, ended = ?4 WHERE id = ?1")?
        .execute(params![id, outcome.as_text(), bye_ms, ended.to_string()])
        .map(drop)
}

/// A text column back into its type.
fn typed<T: std::str::FromStr>(column: &'static str, value: String) -> Result<T, Error> {
    value.parse().map_err(|_| Error::BadValue { column, value })
}

/// A call log kept open by its path: a log that was deleted, moved or
/// replaced under the running daemon (its file's identity changed) is
/// noticed at the next use and opened anew there.
struct Kept {
    path: PathBuf,
    log: Option<(CallLog, Option<(u64, u64)>)>,
}

impl Kept {
    /// The log, opened with `open` if it is not open or its file changed;
    /// and whether it was (re)opened now.
    fn get(
        &mut self,
        open: fn(&Path) -> Result<CallLog, Error>,
    ) -> Result<(&CallLog, bool), Error> {
        let now = identity(&self.path);
        let mut fresh = false;
        match &self.log {
            Some((_, was)) if *was == now && now.is_some() => {}
            Some(_) => {
                tracing::warn!(
                    "call log {}: the file was deleted, moved or replaced under the running daemon; opening it anew",
                    self.path.display()
                );
                self.log = None;
            }
            None => {}
        }
        if self.log.is_none() {
            let log = open(&self.path)?;
            self.log = Some((log, identity(&self.path)));
            fresh = true;
        }
        let (log, _) = self.log.as_ref().expect("opened above");
        Ok((log, fresh))
    }
}

/// The daemon's call log as it writes it, kept open by its path: one found damaged is
/// set aside with a timestamp and a new one started. A log that cannot be
/// had (a full disk at start) is tried again at the next write; the
/// writer keeps the records meanwhile.
pub struct Writer(Kept);

impl Writer {
    pub fn new(path: PathBuf) -> Writer {
        Writer(Kept { path, log: None })
    }

    pub fn path(&self) -> &Path {
        &self.0.path
    }

    /// The log to write to now, and whether it was (re)opened since the
    /// last call: then row ids of an earlier file mean nothing in it.
    pub fn get(&mut self) -> Result<(&CallLog, bool), Error> {
        self.0.get(CallLog::open_healing)
    }
}

/// The call log as the web side reads it, kept open by its path and
/// reopened when the file was replaced, shared: a request costs a `stat`,
/// not an open and a schema check.
pub struct Reader(Mutex<Kept>);

impl Reader {
    pub fn new(path: PathBuf) -> Reader {
        Reader(Mutex::new(Kept { path, log: None }))
    }

    /// A handle on the log (cheap: the connection is shared).
    pub fn get(&self) -> Result<CallLog, Error> {
        let mut kept = self.0.lock().unwrap_or_else(|p| p.into_inner());
        kept.get(CallLog::open).map(|(log, _)| log.clone())
    }
}

/// The file's (device, inode): what stays the same while it is the same file.
fn identity(path: &Path) -> Option<(u64, u64)> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
    }
    #[cfg(not(unix))]
    {
        std::fs::metadata(path).ok().map(|_| (0, 0))
    }
}

impl CallLog {
    /// [`CallLog::open`]; a file that is not a database, or a damaged
    /// one, is set aside (`calls.db.damaged-20261207T021500Z`) with one
    /// warning, and a new log started. For the daemon, which must screen
    /// whatever became of its log; readers use [`CallLog::open`].
    pub fn open_healing(path: &Path) -> Result<CallLog, Error> {
        match CallLog::open(path) {
            Err(Error::Open { source, .. } | Error::Sql(source))
                if crate::guard::file::is_damaged(&source) =>
            {
                let aside = crate::guard::file::set_aside(path)
                    .map_err(|e| Error::Aside(path.display().to_string(), e))?;
                tracing::warn!(
                    "call log {}: damaged ({source}); moved aside to {}, starting a new one",
                    path.display(),
                    aside.display()
                );
                CallLog::open(path)
            }
            other => other,
        }
    }

    /// Opens (or creates) the database and brings its schema up to date.
    pub fn open(path: &Path) -> Result<CallLog, Error> {
        let p = path.display().to_string();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            let _ = std::fs::create_dir_all(dir);
        }
        let mut conn = Connection::open(path).map_err(|source| Error::Open {
            path: p.clone(),
            source,
        })?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        crate::guard::file::sqlite_wal(&conn).map_err(|source| Error::Open {
            path: p.clone(),
            source,
        })?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        // Appends and small reads: a small page cache (SQLite's default
        // grows to 2 MB as the log grows) keeps the daemon's memory flat.
        conn.pragma_update(None, "cache_size", -256)?;
        let too_new = |found: i64| Error::TooNew {
            path: p.clone(),
            found,
            known: MIGRATIONS.len(),
        };
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if version as usize > MIGRATIONS.len() {
            return Err(too_new(version));
        }
        if (version as usize) < MIGRATIONS.len() {
            // Two processes may open a new log at once (the daemon and
            // `calls`): the write lock first, then the version read again,
            // so that only one of them migrates.
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let version: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
            if version as usize > MIGRATIONS.len() {
                return Err(too_new(version));
            }
            for m in MIGRATIONS.iter().skip(version as usize) {
                tx.execute_batch(m)?;
            }
            tx.pragma_update(None, "user_version", MIGRATIONS.len() as i64)?;
            tx.commit()?;
        }
        Ok(CallLog {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    fn with<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T, Error> {
        let conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        Ok(f(&conn)?)
    }

    /// How long a write waits for another process's lock. Short: the
    /// writer keeps the records in memory and tries again later.
    pub fn set_busy_timeout(&self, d: std::time::Duration) -> Result<(), Error> {
        self.with(|db| db.busy_timeout(d))
    }

    /// Records a decided call; returns its id.
    pub fn insert(&self, r: &Record) -> Result<i64, Error> {
        self.with(|db| insert(db, r))
    }

    /// Fills in how a call ended.
    pub fn finish(&self, id: i64, outcome: Outcome, bye_ms: Option<f64>) -> Result<(), Error> {
        self.with(|db| finish(db, id, outcome, bye_ms, Time::now()))
    }

    /// Applies `ops` in one transaction: all or nothing. `rows` maps the
    /// ops' keys to row ids; it gains the new rows only when the
    /// transaction commits. A `Finish` whose call has no row is skipped.
    pub fn apply(
        &self,
        ops: &[Op],
        rows: &mut std::collections::HashMap<u64, i64>,
    ) -> Result<(), Error> {
        let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        let tx = conn.transaction()?;
        let mut fresh = Vec::new();
        for op in ops {
            match op {
                Op::Insert { key, record } => fresh.push((*key, insert(&tx, record)?)),
                Op::Finish {
                    key,
                    outcome,
                    bye_ms,
                    ended,
                } => {
                    let id = rows
                        .get(key)
                        .copied()
                        .or_else(|| fresh.iter().find(|(k, _)| k == key).map(|(_, id)| *id));
                    if let Some(id) = id {
                        finish(&tx, id, *outcome, *bye_ms, *ended)?;
                    }
                }
            }
        }
        tx.commit()?;
        rows.extend(fresh);
        Ok(())
    }

    /// Deletes records older than `days` days; returns how many.
    pub fn prune(&self, days: u32) -> Result<usize, Error> {
        if days == 0 {
            return Ok(0);
        }
        let cutoff = Time(chrono::Utc::now() - chrono::Duration::days(days.into()));
        self.with(|db| {
            db.execute(
                "DELETE FROM calls WHERE time < ?1",
                params![cutoff.to_string()],
            )
        })
    }

    pub fn list(&self, f: &Filter) -> Result<Vec<Record>, Error> {
        type Row = (
            i64,
            String,
            [Option<String>; 4],
            [String; 3],
            Option<String>,
            String,
            Option<String>,
            [Option<f64>; 2],
            (Option<String>, bool, Option<String>),
        );
        let rows: Vec<Row> = self.with(|db| {
            let mut stmt = db.prepare(&format!(
                "SELECT id, time, caller, caller_e164, name, called, class, decision, action, rule, reason, outcome, decision_ms, bye_ms, log_only, contact, account
                 FROM (SELECT * FROM calls WHERE (?1 IS NULL OR time >= ?1) AND (?2 = 0 OR NOT {LET_THROUGH})
                         AND (?4 IS NULL OR time < ?4) AND (?5 IS NULL OR rule = ?5)
                       ORDER BY id DESC LIMIT ?3)
                 ORDER BY id",
            ))?;
            let limit = f.limit.map_or(-1, i64::from);
            let rows = stmt.query_map(params![
                    f.since.map(|t| t.to_string()),
                    f.blocked,
                    limit,
                    f.until.map(|t| t.to_string()),
                    f.rule
                ], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    [r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?],
                    [r.get(6)?, r.get(7)?, r.get(8)?],
                    r.get(9)?,
                    r.get(10)?,
                    r.get(11)?,
                    [r.get(12)?, r.get(13)?],
                    (r.get(14)?, r.get(15)?, r.get(16)?),
                ))
            })?;
            rows.collect()
        })?;
        rows.into_iter()
            .map(
                |(
                    id,
                    time,
                    people,
                    [class, decision, action],
                    rule,
                    reason,
                    outcome,
                    ms,
                    (log_only, contact, account),
                )| {
                    let [number, e164, name, called] = people;
                    Ok(Record {
                        id: Some(id),
                        time: typed("time", time)?,
                        caller: Caller { number, e164, name },
                        called,
                        class: typed("class", class)?,
                        decision: typed("decision", decision)?,
                        action: typed("action", action)?,
                        log_only: log_only.map(|l| typed("log_only", l)).transpose()?,
                        contact,
                        rule,
                        reason,
                        outcome: outcome.map(|o| typed("outcome", o)).transpose()?,
                        decision_ms: ms[0],
                        bye_ms: ms[1],
                        account,
                    })
                },
            )
            .collect()
    }

    /// Calls per day (see [`DayCounts`]). Terminated counts the outcome,
    /// so `terminate-and-bar` calls count too.
    pub fn per_day(&self, since: Option<Time>) -> Result<Vec<DayCounts>, Error> {
        self.with(|db| {
            let mut stmt = db.prepare(&format!(
                "SELECT substr(time, 1, 10) AS day, count(*),
                        sum(outcome = 'terminated'), sum(decision = 'decline'), sum({LET_THROUGH})
                 FROM calls WHERE (?1 IS NULL OR time >= ?1) GROUP BY day ORDER BY day",
            ))?;
            let rows = stmt.query_map(params![since.map(|t| t.to_string())], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })?;
            rows.collect()
        })
    }

    /// Calls per rule (`None`: the default or internal calls).
    pub fn per_rule(
        &self,
        since: Option<Time>,
    ) -> Result<Vec<(Option<String>, String, i64)>, Error> {
        self.with(|db| {
            let mut stmt = db.prepare(
                "SELECT rule, action, count(*) FROM calls WHERE (?1 IS NULL OR time >= ?1)
                 GROUP BY rule, action ORDER BY count(*) DESC",
            )?;
            let rows = stmt.query_map(params![since.map(|t| t.to_string())], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })?;
            rows.collect()
        })
    }

    /// The numbers blocked most often (not left to ring), at most `limit`.
    pub fn top_blocked(
        &self,
        since: Option<Time>,
        limit: u32,
    ) -> Result<Vec<(String, i64)>, Error> {
        self.with(|db| {
            let mut stmt = db.prepare(&format!(
                "SELECT coalesce(caller_e164, caller, 'anonymous') AS who, count(*) FROM calls
                 WHERE (?1 IS NULL OR time >= ?1) AND NOT {LET_THROUGH}
                 GROUP BY who ORDER BY count(*) DESC, who LIMIT ?2",
            ))?;
            let rows = stmt.query_map(params![since.map(|t| t.to_string()), limit], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?;
            rows.collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::{Action, CallerClass, LogOnly};

    /// The daemon and `calls` open a log that does not exist yet at the
    /// same moment: both get it, and only one creates the schema (before
    /// the fix: "table calls already exists").
    #[test]
    fn two_first_opens_at_once_both_succeed() {
        let dir = std::env::temp_dir().join(format!("minisip4fb-log-race-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for i in 0..100 {
            let path = dir.join(format!("calls{i}.db"));
            let other = path.clone();
            let t = std::thread::spawn(move || CallLog::open(&other).map(drop));
            let here = CallLog::open(&path).map(drop);
            let there = t.join().unwrap();
            assert!(
                here.is_ok() && there.is_ok(),
                "round {i}: {here:?} {there:?}"
            );
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn call(caller: &str, decision: Action) -> Record {
        Record {
            id: None,
            contact: false,
            log_only: None,
            time: Time::now(),
            caller: crate::call::Caller {
                number: Some(caller.into()),
                e164: Some(format!("+49{}", &caller[1..])),
                name: None,
            },
            called: None,
            class: CallerClass::External,
            decision,
            action: decision,
            rule: None,
            reason: "test".into(),
            outcome: None,
            decision_ms: Some(0.05),
            bye_ms: None,
            account: None,
        }
    }

    /// A log of the first schema: its log-only calls get their source
    /// (a rule's said so in its reason, the shield's did not), and new
    /// calls keep theirs and the Box's contacts.
    #[test]
    fn an_old_log_is_migrated_with_its_log_only_calls() {
        let dir = std::env::temp_dir().join(format!("minisip4fb-log-v1-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("calls.db");
        {
            let db = Connection::open(&path).unwrap();
            db.execute_batch(MIGRATIONS[0]).unwrap();
            db.execute_batch(
                "INSERT INTO calls (time, class, decision, action, reason) VALUES
                 ('2026-01-01T00:00:00.000Z', 'external', 'ring', 'terminate', 'rule 1 \"x\": 0900 matches 0900* (log-only: would terminate)'),
                 ('2026-01-01T00:00:01.000Z', 'external', 'ring', 'terminate', 'rule 1 \"x\": 0900 matches 0900*'),
                 ('2026-01-01T00:00:02.000Z', 'external', 'ring', 'ring', 'default (ring): no rule matched 030');
                 PRAGMA user_version = 1;",
            )
            .unwrap();
        }
        let log = CallLog::open(&path).unwrap();
        log.insert(&Record {
            contact: true,
            log_only: Some(LogOnly::Config),
            ..call("0301234567", Action::Ring)
        })
        .unwrap();
        let all = log.list(&Filter::default()).unwrap();
        let sources: Vec<_> = all.iter().map(|r| (r.log_only, r.contact)).collect();
        assert_eq!(
            sources,
            [
                (Some(LogOnly::Rule), false),
                (Some(LogOnly::Shield), false),
                (None, false),
                (Some(LogOnly::Config), true)
            ]
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn records_survive_reopening_and_filter() {
        let dir = std::env::temp_dir().join(format!("minisip4fb-calllog-{}", std::process::id()));
        let path = dir.join("calls.db");
        let _ = std::fs::remove_dir_all(&dir);
        {
            let log = CallLog::open(&path).unwrap();
            let premium = Record {
                rule: Some("1 \"premium\"".into()),
                ..call("09005551234", Action::Terminate)
            };
            let a = log.insert(&premium).unwrap();
            log.finish(a, Outcome::Terminated, Some(1.5)).unwrap();
            log.insert(&call("0301234567", Action::Ring)).unwrap();
            // A batch: a barred call and its outcome in one transaction.
            let mut rows = std::collections::HashMap::new();
            let ops = [
                Op::Insert {
                    key: 7,
                    record: Box::new(call("09005550000", Action::TerminateAndBar)),
                },
                Op::Finish {
                    key: 7,
                    outcome: Outcome::Terminated,
                    bye_ms: Some(0.4),
                    ended: Time::now(),
                },
            ];
            log.apply(&ops, &mut rows).unwrap();
            assert_eq!(rows.len(), 1);
        }
        let log = CallLog::open(&path).unwrap();
        let all = log.list(&Filter::default()).unwrap();
        assert_eq!(all.len(), 3);
        assert_eq!(all[0].outcome, Some(Outcome::Terminated));
        assert_eq!(all[0].bye_ms, Some(1.5));
        assert_eq!(all[1].outcome, None);
        assert_eq!(all[2].decision, Action::TerminateAndBar);
        assert_eq!(
            log.list(&Filter {
                blocked: true,
                ..Filter::default()
            })
            .unwrap()
            .len(),
            2
        );
        let future = Filter {
            since: Some("2999-01-01T00:00:00Z".parse().unwrap()),
            ..Filter::default()
        };
        assert!(log.list(&future).unwrap().is_empty());
        let past = Filter {
            until: Some("2000-01-01T00:00:00Z".parse().unwrap()),
            ..Filter::default()
        };
        assert!(log.list(&past).unwrap().is_empty());
        let by_rule = Filter {
            rule: Some("1 \"premium\"".into()),
            ..Filter::default()
        };
        let premium = log.list(&by_rule).unwrap();
        assert_eq!(premium.len(), 1);
        assert_eq!(premium[0].caller.number.as_deref(), Some("09005551234"));
        let newest = log
            .list(&Filter {
                limit: Some(2),
                ..Filter::default()
            })
            .unwrap();
        assert_eq!(
            newest.iter().map(|r| r.id).collect::<Vec<_>>(),
            [all[1].id, all[2].id],
            "the newest two, oldest first"
        );
        assert_eq!(
            log.top_blocked(None, 5).unwrap(),
            [
                ("+499005550000".to_owned(), 1),
                ("+499005551234".to_owned(), 1)
            ]
        );
        let day = &log.per_day(None).unwrap()[0];
        assert_eq!(
            (day.1, day.2),
            (3, 2),
            "terminate-and-bar counts as terminated"
        );
        for action in crate::call::Action::ALL {
            let a = action.as_str();
            assert_eq!(
                LET_THROUGH.contains(&format!("'{a}'")),
                !action.blocks(),
                "{a}: the call log counts as the rules decide"
            );
        }
        assert_eq!(log.prune(365).unwrap(), 0);
        let v: i64 = log
            .with(|db| db.pragma_query_value(None, "user_version", |r| r.get(0)))
            .unwrap();
        assert_eq!(v, MIGRATIONS.len() as i64);
        let mode: String = log
            .with(|db| db.pragma_query_value(None, "journal_mode", |r| r.get(0)))
            .unwrap();
        assert_eq!(mode, "wal");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
