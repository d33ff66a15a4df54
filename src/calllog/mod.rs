//! The call history in SQLite (WAL mode, versioned schema). A call is
//! written when it is decided, before anything is done about it, and its
//! outcome is filled in when it ends; `kill -9` loses nothing committed.

use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, params};
use serde::Serialize;

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
    CREATE INDEX calls_time ON calls(time);"];

/// One call as recorded.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Record {
    pub id: i64,
    /// RFC 3339, UTC.
    pub time: String,
    /// The number as the Box sent it; `None` when withheld.
    pub caller: Option<String>,
    pub caller_e164: Option<String>,
    pub name: Option<String>,
    pub called: Option<String>,
    /// external, anonymous or internal.
    pub class: String,
    /// What was done: ring, terminate, decline, ignore-silently.
    pub decision: String,
    /// What the rules said (differs from `decision` in log-only mode).
    pub action: String,
    pub rule: Option<String>,
    pub reason: String,
    /// terminated, rang, cancelled, answered-elsewhere, declined, …; `None` while running.
    pub outcome: Option<String>,
    /// INVITE → decision, ms.
    pub decision_ms: Option<f64>,
    /// INVITE → our BYE, ms (terminated calls).
    pub bye_ms: Option<f64>,
}

/// A new call to record.
#[derive(Debug, Clone, Default)]
pub struct NewCall {
    pub caller: Option<String>,
    pub caller_e164: Option<String>,
    pub name: Option<String>,
    pub called: Option<String>,
    pub class: String,
    pub decision: String,
    pub action: String,
    pub rule: Option<String>,
    pub reason: String,
    pub decision_ms: f64,
}

/// One day of the call log: (day, calls, terminated, declined, rang).
pub type DayCounts = (String, i64, i64, i64, i64);

/// Which calls to list.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Only calls at or after this RFC 3339 time.
    pub since: Option<String>,
    /// Only calls not left to ring.
    pub blocked: bool,
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

fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl CallLog {
    /// Opens (or creates) the database and brings its schema up to date.
    pub fn open(path: &Path) -> Result<CallLog, Error> {
        let p = path.display().to_string();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            let _ = std::fs::create_dir_all(dir);
        }
        let conn = Connection::open(path).map_err(|source| Error::Open {
            path: p.clone(),
            source,
        })?;
        // WAL: readers never block the daemon, and a crash or power loss
        // cannot corrupt the file (https://sqlite.org/wal.html).
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(|source| Error::Open {
                path: p.clone(),
                source,
            })?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if version as usize > MIGRATIONS.len() {
            return Err(Error::TooNew {
                path: p,
                found: version,
                known: MIGRATIONS.len(),
            });
        }
        for (i, m) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            let tx = conn.unchecked_transaction()?;
            tx.execute_batch(m)?;
            tx.pragma_update(None, "user_version", (i + 1) as i64)?;
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

    /// Records a decided call; returns its id.
    pub fn insert(&self, c: &NewCall) -> Result<i64, Error> {
        self.with(|db| {
            db.execute(
                "INSERT INTO calls (time, caller, caller_e164, name, called, class, decision, action, rule, reason, decision_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                params![now_rfc3339(), c.caller, c.caller_e164, c.name, c.called, c.class, c.decision, c.action, c.rule, c.reason, c.decision_ms],
            )?;
            Ok(db.last_insert_rowid())
        })
    }

    /// Fills in how a call ended.
    pub fn finish(&self, id: i64, outcome: &str, bye_ms: Option<f64>) -> Result<(), Error> {
        self.with(|db| {
            db.execute(
                "UPDATE calls SET outcome = ?2, bye_ms = ?3, ended = ?4 WHERE id = ?1",
                params![id, outcome, bye_ms, now_rfc3339()],
            )
            .map(drop)
        })
    }

    /// Deletes records older than `days` days; returns how many.
    pub fn prune(&self, days: u32) -> Result<usize, Error> {
        if days == 0 {
            return Ok(0);
        }
        let cutoff = (chrono::Utc::now() - chrono::Duration::days(days.into()))
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        self.with(|db| db.execute("DELETE FROM calls WHERE time < ?1", params![cutoff]))
    }

    pub fn list(&self, f: &Filter) -> Result<Vec<Record>, Error> {
        self.with(|db| {
            let mut stmt = db.prepare(
                "SELECT id, time, caller, caller_e164, name, called, class, decision, action, rule, reason, outcome, decision_ms, bye_ms
                 FROM calls WHERE (?1 IS NULL OR time >= ?1) AND (?2 = 0 OR decision != 'ring') ORDER BY id",
            )?;
            let rows = stmt.query_map(params![f.since, f.blocked], |r| {
                Ok(Record {
                    id: r.get(0)?,
                    time: r.get(1)?,
                    caller: r.get(2)?,
                    caller_e164: r.get(3)?,
                    name: r.get(4)?,
                    called: r.get(5)?,
                    class: r.get(6)?,
                    decision: r.get(7)?,
                    action: r.get(8)?,
                    rule: r.get(9)?,
                    reason: r.get(10)?,
                    outcome: r.get(11)?,
                    decision_ms: r.get(12)?,
                    bye_ms: r.get(13)?,
                })
            })?;
            rows.collect()
        })
    }

    /// Calls per day: (day, calls, terminated, declined, rang).
    pub fn per_day(&self, since: Option<&str>) -> Result<Vec<DayCounts>, Error> {
        self.with(|db| {
            let mut stmt = db.prepare(
                "SELECT substr(time, 1, 10) AS day, count(*),
                        sum(decision = 'terminate'), sum(decision = 'decline'), sum(decision = 'ring')
                 FROM calls WHERE (?1 IS NULL OR time >= ?1) GROUP BY day ORDER BY day",
            )?;
            let rows = stmt.query_map(params![since], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))?;
            rows.collect()
        })
    }

    /// Calls per rule (`None`: the default or internal calls).
    pub fn per_rule(
        &self,
        since: Option<&str>,
    ) -> Result<Vec<(Option<String>, String, i64)>, Error> {
        self.with(|db| {
            let mut stmt = db.prepare(
                "SELECT rule, action, count(*) FROM calls WHERE (?1 IS NULL OR time >= ?1)
                 GROUP BY rule, action ORDER BY count(*) DESC",
            )?;
            let rows = stmt.query_map(params![since], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
            rows.collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(caller: &str, decision: &str) -> NewCall {
        NewCall {
            caller: Some(caller.into()),
            caller_e164: Some(format!("+49{}", &caller[1..])),
            class: "external".into(),
            decision: decision.into(),
            action: decision.into(),
            reason: "test".into(),
            decision_ms: 0.05,
            ..NewCall::default()
        }
    }

    #[test]
    fn records_survive_reopening_and_filter() {
        let dir = std::env::temp_dir().join(format!("minisip4fb-calllog-{}", std::process::id()));
        let path = dir.join("calls.db");
        let _ = std::fs::remove_dir_all(&dir);
        {
            let log = CallLog::open(&path).unwrap();
            let a = log.insert(&call("09005551234", "terminate")).unwrap();
            log.finish(a, "terminated", Some(1.5)).unwrap();
            log.insert(&call("0301234567", "ring")).unwrap();
        }
        let log = CallLog::open(&path).unwrap();
        let all = log.list(&Filter::default()).unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].outcome.as_deref(), Some("terminated"));
        assert_eq!(all[0].bye_ms, Some(1.5));
        assert_eq!(all[1].outcome, None);
        assert_eq!(
            log.list(&Filter {
                blocked: true,
                ..Filter::default()
            })
            .unwrap()
            .len(),
            1
        );
        let future = Filter {
            since: Some("2999-01-01T00:00:00Z".into()),
            ..Filter::default()
        };
        assert!(log.list(&future).unwrap().is_empty());
        assert_eq!(log.per_day(None).unwrap()[0].1, 2);
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
