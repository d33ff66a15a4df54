//! The pass list of the key-press check (`action = "challenge"`): the
//! callers who pressed the right key, each for the rule's time (`pass =
//! "7d"`) or for good (`"forever"`: a line in `[screen] pass_list`), and
//! the callers who failed it, counted through the one limiter every
//! protected door uses ([`crate::guard::limiter`]).
//!
//! - A pass is kept across restarts (the state file), at most
//!   [`MAX_PASSES`] of them (the one ending soonest goes); expired ones
//!   leave at every change and every [`Passes::prune`].
//! - Three failed checks within a day: the caller is not asked again for
//!   a day, then two, four… (up to 30 days); a challenge rule then hangs
//!   up on it at once, so that a dialer cannot keep the line busy.
//! - The household can keep a pass for good or take it back (dashboard).
//!
//! The book-keeper's and the web's threads change it and write the files;
//! the phone's thread only reads the snapshot ([`PassState`]).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use crate::guard::limiter::{AfterFailure, Limiter, Policy};
use crate::media::Pass;
use crate::screen::doors::unix_ms;
use crate::screen::number::{self, Home};
use crate::screen::passes::{FOREVER, PassState, PassView};

/// The state file's name, beside the shield's.
pub const FILE: &str = "minisip4fb.passes.json";
/// Passes kept at most (timed and for good together).
pub const MAX_PASSES: usize = 4096;
/// The pass list file is read up to this size.
const MAX_LIST: u64 = 1 << 20;

const DAY: u64 = 24 * 3_600_000;

pub const POLICY: Policy = Policy {
    free: 2,
    window: DAY,
    lockout: DAY,
    max_lockout: 30 * DAY,
    max_clients: 4096,
    ceiling: None,
};

/// One caller's pass, as the dashboard shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PassEntry {
    pub number: String,
    /// When it was earned (Unix ms); `None` for a line of the pass list
    /// file (its comment says when).
    pub since: Option<u64>,
    /// Until when (Unix ms); `None`: for good.
    pub until: Option<u64>,
}

/// Why a pass cannot be kept or taken back; says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum PassError {
    #[error("no pass for {0}")]
    Unknown(String),
    #[error("no [screen] pass_list in the config: name the file passes kept for good go to")]
    NoList,
    #[error("the pass list {} is full ({MAX_PASSES} numbers)", .0.display())]
    Full(PathBuf),
    #[error("{}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: crate::guard::file::ReadError,
    },
    #[error("{}: {source}", path.display())]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// A timed pass as the state file keeps it.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct Timed {
    since: u64,
    until: u64,
}

#[derive(Default, Deserialize)]
struct Saved {
    #[serde(default)]
    passes: HashMap<String, Timed>,
    failures: Option<Limiter<String>>,
}

#[derive(Serialize)]
struct SavedRef<'a> {
    passes: &'a HashMap<String, Timed>,
    failures: &'a Limiter<String>,
}

struct State {
    timed: HashMap<String, Timed>,
    failures: Limiter<String>,
    /// The numbers of the pass list file, in its order.
    forever: Vec<String>,
}

/// The pass list and its files; cloned handles share it.
#[derive(Clone)]
pub struct Passes(Arc<Inner>);

struct Inner {
    file: Option<PathBuf>,
    list: Option<PathBuf>,
    home: Home,
    state: Mutex<State>,
    view: PassState,
}

impl Passes {
    /// As the files say (none without them, or when they cannot be read:
    /// said once). `file`: the state file; `list`: `[screen] pass_list`.
    pub fn load(file: Option<PathBuf>, list: Option<PathBuf>, home: Home) -> Passes {
        let (timed, failures) = file.as_deref().map(read).unwrap_or_default();
        let forever = list
            .as_deref()
            .map(|l| read_list(l, &home))
            .unwrap_or_default();
        let passes = Passes(Arc::new(Inner {
            file,
            list,
            home,
            state: Mutex::new(State {
                timed,
                failures: failures.unwrap_or_else(|| Limiter::new(POLICY)),
                forever,
            }),
            view: PassState::default(),
        }));
        passes.changed(&mut passes.lock(), false);
        passes
    }

    /// The snapshot the decision reads.
    pub fn state(&self) -> PassState {
        self.0.view.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.0.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `e164` pressed the right key: a pass for `pass`, its failures
    /// forgiven. Returns until when (`None`: for good).
    pub fn passed(&self, e164: &str, pass: Pass) -> Result<Option<u64>, PassError> {
        let now = unix_ms();
        let mut s = self.lock();
        s.failures.succeeded(&e164.to_owned());
        let until = match pass {
            Pass::Forever => {
                self.keep_for_good(&mut s, e164, "passed the key-press check")?;
                s.timed.remove(e164);
                None
            }
            Pass::For(d) => {
                let until = now.saturating_add(d.as_millis() as u64);
                s.timed.insert(e164.to_owned(), Timed { since: now, until });
                Some(until)
            }
        };
        self.changed(&mut s, true);
        Ok(until)
    }

    /// `e164` failed the check: `Some(until)` when it is not asked again
    /// until then.
    pub fn failed(&self, e164: &str) -> Option<u64> {
        let now = unix_ms();
        let mut s = self.lock();
        let after = s.failures.failed(&e164.to_owned(), now);
        self.changed(&mut s, true);
        match after {
            AfterFailure::LockedOut { wait } => Some(now + wait),
            AfterFailure::Counted | AfterFailure::Closed => None,
        }
    }

    /// The household keeps `e164`'s pass for good (the pass list file).
    pub fn keep(&self, e164: &str) -> Result<(), PassError> {
        let mut s = self.lock();
        if !s.timed.contains_key(e164) && !s.forever.iter().any(|n| n == e164) {
            return Err(PassError::Unknown(e164.to_owned()));
        }
        self.keep_for_good(&mut s, e164, "kept from the dashboard")?;
        s.timed.remove(e164);
        self.changed(&mut s, true);
        Ok(())
    }

    /// The household takes `e164`'s pass back: the challenge rule asks it
    /// again (a line of the pass list file goes too).
    pub fn take_back(&self, e164: &str) -> Result<(), PassError> {
        let mut s = self.lock();
        let timed = s.timed.contains_key(e164);
        let listed = s.forever.iter().any(|n| n == e164);
        if !timed && !listed {
            return Err(PassError::Unknown(e164.to_owned()));
        }
        if listed {
            let list = self.0.list.as_deref().ok_or(PassError::NoList)?;
            let text = crate::guard::file::read_regular(list, MAX_LIST).map_err(|source| {
                PassError::Read {
                    path: list.to_owned(),
                    source,
                }
            })?;
            let kept: String = text
                .lines()
                .filter(|l| line_number(l, &self.0.home).as_deref() != Some(e164))
                .map(|l| format!("{l}\n"))
                .collect();
            crate::guard::file::replace(list, kept.as_bytes()).map_err(|source| {
                PassError::File {
                    path: list.to_owned(),
                    source,
                }
            })?;
            s.forever.retain(|n| n != e164);
        }
        s.timed.remove(e164);
        self.changed(&mut s, true);
        Ok(())
    }

    /// Every pass now, those ending soonest first, those for good last.
    pub fn list(&self) -> Vec<PassEntry> {
        let now = unix_ms();
        let s = self.lock();
        let mut out: Vec<PassEntry> = s
            .timed
            .iter()
            .filter(|(_, t)| t.until > now)
            .map(|(n, t)| PassEntry {
                number: n.clone(),
                since: Some(t.since),
                until: Some(t.until),
            })
            .collect();
        out.sort_by_key(|e| (e.until, e.number.clone()));
        out.extend(s.forever.iter().map(|n| PassEntry {
            number: n.clone(),
            since: None,
            until: None,
        }));
        out
    }

    /// Expired passes and lockouts leave (the book-keeper does it daily;
    /// every change does it too). The file is written if one left.
    pub fn prune(&self) {
        self.changed(&mut self.lock(), false);
    }

    /// The files read again (after the config or the pass list changed).
    pub fn reload(&self) {
        let mut s = self.lock();
        if let Some(list) = &self.0.list {
            s.forever = read_list(list, &self.0.home);
        }
        self.changed(&mut s, false);
    }

    /// Appends `e164` to the pass list file, once.
    fn keep_for_good(&self, s: &mut State, e164: &str, why: &str) -> Result<(), PassError> {
        if s.forever.iter().any(|n| n == e164) {
            return Ok(());
        }
        let list = self.0.list.as_deref().ok_or(PassError::NoList)?;
        if s.forever.len() >= MAX_PASSES {
            return Err(PassError::Full(list.to_owned()));
        }
        let line = format!(
            "{e164}  # {why}, {}\n",
            chrono::Local::now().format("%Y-%m-%d %H:%M")
        );
        let file = |source| PassError::File {
            path: list.to_owned(),
            source,
        };
        use std::io::Write;
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(list)
            .and_then(|mut f| f.write_all(line.as_bytes()))
            .map_err(file)?;
        s.forever.push(e164.to_owned());
        Ok(())
    }

    /// Expired passes out, the bound kept, the snapshot published and,
    /// with `save`, the state file written.
    fn changed(&self, s: &mut State, save: bool) {
        let now = unix_ms();
        let before = s.timed.len();
        s.timed.retain(|_, t| t.until > now);
        if s.timed.len() + s.forever.len() > MAX_PASSES {
            let mut ends: Vec<(u64, String)> =
                s.timed.iter().map(|(n, t)| (t.until, n.clone())).collect();
            ends.sort();
            let over = s.timed.len() + s.forever.len() - MAX_PASSES;
            for (_, n) in ends.into_iter().take(over) {
                s.timed.remove(&n);
            }
        }
        let mut view = PassView {
            refused: s.failures.locked(now).collect(),
            ..PassView::default()
        };
        view.passed
            .extend(s.timed.iter().map(|(n, t)| (n.clone(), t.until)));
        view.passed
            .extend(s.forever.iter().map(|n| (n.clone(), FOREVER)));
        self.0.view.store(Arc::new(view));
        if save || s.timed.len() != before {
            self.save(s);
        }
    }

    /// Written whole or not at all; a failure is said, the passes in
    /// memory stay.
    fn save(&self, s: &State) {
        let Some(file) = &self.0.file else { return };
        let saved = SavedRef {
            passes: &s.timed,
            failures: &s.failures,
        };
        let bytes = serde_json::to_vec(&saved).unwrap_or_default();
        if let Err(e) = crate::guard::file::replace(file, &bytes) {
            tracing::warn!(
                "pass list: cannot keep it in {} ({e}); it holds until the next restart",
                file.display()
            );
        }
    }
}

/// The number of a line of the pass list file (E.164), if it has one.
fn line_number(line: &str, home: &Home) -> Option<String> {
    let text = line.split('#').next()?.trim();
    (!text.is_empty() && text.len() <= 40)
        .then(|| number::to_e164(text, home))
        .flatten()
}

/// The pass list file's numbers; none when it is missing (said when it
/// cannot be read).
fn read_list(path: &Path, home: &Home) -> Vec<String> {
    match crate::guard::file::read_regular(path, MAX_LIST) {
        Ok(text) => {
            let mut out = Vec::new();
            for (i, line) in text.lines().enumerate() {
                match line_number(line, home) {
                    Some(n) if !out.contains(&n) && out.len() < MAX_PASSES => out.push(n),
                    Some(_) => {}
                    None if line.split('#').next().is_some_and(|t| t.trim().is_empty()) => {}
                    None => tracing::warn!(
                        "pass list {}:{}: not a phone number; skipped",
                        path.display(),
                        i + 1
                    ),
                }
            }
            out
        }
        Err(crate::guard::file::ReadError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => {
            Vec::new()
        }
        Err(e) => {
            tracing::warn!(
                "pass list {}: {e}; no passes for good until it can be read",
                path.display()
            );
            Vec::new()
        }
    }
}

/// The state file's passes and failures; none when it cannot be read
/// (said). [`Passes::load`] bounds them.
fn read(file: &Path) -> (HashMap<String, Timed>, Option<Limiter<String>>) {
    let saved: Option<Saved> =
        crate::guard::file::read_state(file, MAX_LIST, "pass list", "starting with no passes");
    let s = saved.unwrap_or_default();
    let mut timed = s.passes;
    // A damaged or edited file may hold anything: numbers only.
    timed.retain(|n, _| n.len() <= 20 && n.starts_with('+'));
    (timed, s.failures.map(|l| l.with_policy(POLICY)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("minisip4fb-passes-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_pass_holds_across_a_restart_and_expires_by_itself() {
        let dir = dir("restart");
        let home = Home::new("DE", Some("30")).unwrap();
        let (file, list) = (dir.join(FILE), dir.join("passed.txt"));
        let passes = Passes::load(Some(file.clone()), Some(list.clone()), home.clone());
        let until = passes
            .passed("+442079460000", Pass::For(Duration::from_secs(3600)))
            .unwrap()
            .unwrap();
        let now = unix_ms();
        assert!((3_590_000..=3_610_000).contains(&(until - now)));
        passes
            .passed("+442079460001", Pass::For(Duration::from_millis(300)))
            .unwrap();
        assert!(passes.state().load().pass("+442079460001", now).is_some());
        let again = Passes::load(Some(file.clone()), Some(list.clone()), home.clone());
        assert_eq!(again.state().load().pass("+442079460000", now), Some(until));
        std::thread::sleep(Duration::from_millis(400));
        again.prune();
        assert_eq!(again.state().load().pass("+442079460001", unix_ms()), None);
        assert_eq!(again.list().len(), 1, "{:?}", again.list());
        // For good: into the list file, which a restart reads.
        again.keep("+442079460000").unwrap();
        let text = std::fs::read_to_string(&list).unwrap();
        assert!(
            text.starts_with("+442079460000  # kept from the dashboard"),
            "{text}"
        );
        let third = Passes::load(Some(file.clone()), Some(list.clone()), home.clone());
        assert_eq!(
            third.state().load().pass("+442079460000", unix_ms()),
            Some(FOREVER)
        );
        assert_eq!(third.list()[0].until, None);
        third.take_back("+442079460000").unwrap();
        assert_eq!(std::fs::read_to_string(&list).unwrap(), "");
        assert!(third.state().load().passed.is_empty());
        assert!(matches!(
            third.take_back("+442079460000"),
            Err(PassError::Unknown(_))
        ));
        // A damaged state file and a list line that is no number.
        std::fs::write(&file, "{nope").unwrap();
        std::fs::write(&list, "030 1234567\nhello\n# a comment\n").unwrap();
        let fourth = Passes::load(Some(file), Some(list), home);
        assert_eq!(fourth.list().len(), 1);
        assert!(
            fourth
                .state()
                .load()
                .pass("+49301234567", unix_ms())
                .is_some()
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn three_failures_refuse_the_caller_and_a_pass_forgives() {
        let home = Home::new("DE", None).unwrap();
        let passes = Passes::load(None, None, home);
        assert_eq!(passes.failed("+4915112345678"), None);
        assert_eq!(passes.failed("+4915112345678"), None);
        let until = passes
            .failed("+4915112345678")
            .expect("refused after three");
        assert!((DAY - 5000..=DAY + 5000).contains(&(until - unix_ms())));
        assert!(
            passes
                .state()
                .load()
                .refusal("+4915112345678", unix_ms())
                .is_some()
        );
        assert!(
            passes
                .state()
                .load()
                .refusal("+4915100000000", unix_ms())
                .is_none()
        );
        // Without a pass list, `forever` says what to fix.
        assert!(matches!(
            passes.passed("+4915100000000", Pass::Forever),
            Err(PassError::NoList)
        ));
    }
}
