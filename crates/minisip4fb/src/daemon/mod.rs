//! The screening daemon: the phone, the rules, the call log, reloads,
//! events and hooks, wired together. `run` and `demo` both go through
//! [`serve`], so the demo shows exactly what the daemon does.
//!
//! Threads: the phone's own (SIP and the decision, [`screening`]), the
//! book-keeper's (call log, log lines, events: [`book`]), the event
//! printer's (`--events json`), and the daemon's runtime for everything
//! slow (rule compiles in its blocking pool, hooks, TR-064).

pub(crate) mod book;
mod note;
mod phoneblock;
pub mod screening;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::sync::{broadcast, mpsc};

use crate::call::Action;
use crate::call::Record;
use crate::call::{DaemonEvent, now_rfc3339};
use crate::config::{self, Config};
use crate::controls::{RulesSnapshot, doors, shield};
use crate::fritzbox::link::{BoxLink, LinkError};
use crate::net::{IncomingCall, Phone, PhoneConfig, Registration, Verdict};
use crate::outlets::{hooks, mqtt};
use crate::screen::rules::{BoxLists, CompileError, History, Rules};
use note::Note;
use screening::DaemonScreen;

/// Where the rules come from: the config file (if any) plus `--block` flags.
#[derive(Debug, Clone)]
pub struct RuleSource {
    pub config: Config,
    pub path: Option<PathBuf>,
    /// `--block` patterns: a first rule that terminates them.
    pub blocks: Vec<String>,
    /// Lists fetched from the Box (`lists = ["fritzbox:…"]`).
    pub box_lists: Arc<Mutex<BoxLists>>,
    /// PhoneBlock's local copy (`lists = ["phoneblock:…"]`).
    pub phoneblock: crate::phoneblock::Handle,
}

impl RuleSource {
    /// TR-064 access as `[fritzbox]` says; `admin_password` is the one
    /// given outside the config (the environment). `None` without `tr064`.
    pub fn box_link(&self, admin_password: Option<String>) -> Option<Result<BoxLink, LinkError>> {
        BoxLink::from_config(
            &self.config.fritzbox,
            &self.base_dir(),
            self.path.clone(),
            admin_password,
        )
    }

    /// The files the rules are read from: the config and its list files
    /// (not the Box's lists), known before they are compiled.
    pub fn files(&self) -> Vec<PathBuf> {
        let base = self.base_dir();
        let lists = self.config.rules.iter().flat_map(|r| &r.lists).filter(|l| {
            !l.display()
                .to_string()
                .starts_with(crate::screen::rules::BOX_LIST_PREFIX)
        });
        self.path
            .iter()
            .cloned()
            .chain(lists.map(|l| base.join(l)))
            .collect()
    }

    /// Directory that relative list paths are resolved against.
    pub fn base_dir(&self) -> PathBuf {
        config::base_dir(self.path.as_deref())
    }

    /// The effective config: `--block` patterns become rule 1.
    pub fn effective(&self) -> Config {
        let mut cfg = self.config.clone();
        if !self.blocks.is_empty() {
            let (anon, numbers): (Vec<&String>, Vec<&String>) = self
                .blocks
                .iter()
                .partition(|b| b.trim().eq_ignore_ascii_case("anonymous"));
            let rule = config::Rule {
                name: Some("--block".into()),
                numbers: numbers.into_iter().cloned().collect(),
                anonymous: !anon.is_empty(),
                action: Some(Action::Terminate),
                ..config::Rule::default()
            };
            cfg.rules.insert(0, rule);
        }
        cfg
    }

    pub fn new(config: Config, path: Option<PathBuf>, blocks: Vec<String>) -> RuleSource {
        RuleSource {
            config,
            path,
            blocks,
            box_lists: Arc::default(),
            phoneblock: crate::phoneblock::Handle::default(),
        }
    }

    /// Loads the local copy of PhoneBlock's lists ([phoneblock] `copy`)
    /// for the rules, where it differs from what they have: at start, and
    /// at each reload, so that SIGHUP picks up a `phoneblock sync` run by
    /// hand. Without a copy the rules see empty lists until a sync.
    /// Returns the community copy's meta, `None` without a copy.
    pub fn load_phoneblock(&self) -> Option<crate::phoneblock::store::Meta> {
        let pb = self.config.phoneblock.as_ref()?;
        let path = self.base_dir().join(&pb.copy);
        if !path.exists() {
            tracing::warn!(
                "no PhoneBlock copy at {} yet: the first sync makes it",
                path.display()
            );
            return None;
        }
        let read = || -> Result<_, crate::phoneblock::store::StoreError> {
            let store = crate::phoneblock::store::Store::open(&path)?;
            let meta = store.meta()?;
            let mem = self.phoneblock.load_full();
            let community = match meta {
                Some(m) if mem.community.is_empty() || m.version != mem.community.version => {
                    store.load()?.map(|(c, _)| Arc::new(c))
                }
                _ => None,
            };
            let personal = store
                .personal()?
                .map(|(p, _)| p)
                .filter(|p| *p != *mem.personal)
                .map(Arc::new);
            Ok((meta, community, personal))
        };
        match read() {
            Ok((meta, community, personal)) => {
                if community.is_some() || personal.is_some() {
                    self.phoneblock.rcu(|old| crate::phoneblock::Local {
                        community: community.clone().unwrap_or_else(|| old.community.clone()),
                        personal: personal.clone().unwrap_or_else(|| old.personal.clone()),
                    });
                    let now = self.phoneblock.load();
                    tracing::info!(
                        "PhoneBlock copy: {} numbers, version {}; your lists: {} blacklisted, {} whitelisted",
                        now.community.len(),
                        now.community.version,
                        now.personal.blacklist.len(),
                        now.personal.whitelist.len(),
                    );
                }
                meta
            }
            Err(e) => {
                tracing::warn!("cannot read the PhoneBlock copy: {e}");
                None
            }
        }
    }

    pub fn compile(&self) -> Result<Rules, CompileError> {
        let lists = self
            .box_lists
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let (rules, warnings) = Rules::compile_with(
            &self.effective(),
            &self.base_dir(),
            &lists,
            &self.phoneblock,
        )?;
        for w in &warnings {
            tracing::warn!("list {w}");
        }
        Ok(rules)
    }

    /// Re-reads the config file (the rules part) and compiles it.
    fn reload(&mut self) -> Result<Rules, ReloadError> {
        if let Some(path) = &self.path {
            let fresh = config::load(path)?;
            if fresh.fritzbox.host != self.config.fritzbox.host
                || fresh.fritzbox.user != self.config.fritzbox.user
            {
                tracing::warn!(
                    "[fritzbox] changed in {}: takes effect after a restart",
                    path.display()
                );
            }
            let mut candidate = self.clone();
            candidate.config = fresh;
            candidate.load_phoneblock();
            let rules = candidate.compile().map_err(|error| ReloadError::Compile {
                error: Box::new(error),
                files: candidate.files(),
            })?;
            *self = candidate;
            return Ok(rules);
        }
        self.compile().map_err(|error| ReloadError::Compile {
            error: Box::new(error),
            files: self.files(),
        })
    }
}

/// Why a reload keeps the rules in force.
#[derive(Debug, thiserror::Error)]
enum ReloadError {
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

/// What the daemon needs besides the phone's account.
pub struct Parts {
    pub source: RuleSource,
    /// Print every event as one JSON line on stdout.
    pub events_json: bool,
    /// Also hand every finished call to this channel (the demo).
    pub calls: Option<mpsc::UnboundedSender<Record>>,
    /// TR-064 access, if configured (see [`RuleSource::box_link`]).
    pub tr064: Option<Result<BoxLink, LinkError>>,
    /// The call log's file: the book-keeper writes it, the web side reads it.
    pub calllog_path: Option<PathBuf>,
    /// The dashboard, JSON API and metrics, if asked for.
    pub web: Option<crate::web::Settings>,
    /// The MQTT client, if `[mqtt]` asks for it.
    pub mqtt: Option<mqtt::Settings>,
    /// `[[hook]]`s and `[[notify]]`s, if any.
    pub hooks: Option<hooks::Hooks>,
    /// Where the daemon keeps its own state (the shield): systemd's
    /// `$STATE_DIRECTORY`, else beside the config.
    pub state_dir: Option<PathBuf>,
}

/// Starts the phone with the daemon's screen and screens calls until
/// `shutdown` resolves (then stops gracefully; returns 0), registration
/// fails for good (returns 1) or the rules do not compile (returns 2).
pub async fn serve(
    phone: PhoneConfig,
    parts: Parts,
    shutdown: impl std::future::Future<Output = ()>,
) -> i32 {
    let (events, _) = broadcast::channel(1024);
    let mut tasks = Vec::new();
    let snapshot: RulesSnapshot = Arc::default();
    let (notes, notes_rx) = std::sync::mpsc::sync_channel(book::QUEUE);
    let state_dir = parts
        .state_dir
        .clone()
        .or_else(|| parts.source.path.is_some().then(|| parts.source.base_dir()));
    let shield = shield::Shield::load(state_dir.as_ref().map(|dir| dir.join(shield::FILE)));
    let doors = doors::Doors::load(state_dir.as_ref().map(|dir| dir.join(doors::FILE)));
    let screen = DaemonScreen::new(
        snapshot.clone(),
        notes.clone(),
        shield.clone(),
        doors.state(),
    );
    // The web address first: one that cannot be had stops the daemon
    // before it registers.
    let web = match parts.web {
        Some(settings) => match crate::web::bind(&settings).await {
            Ok(listener) => Some((settings, listener)),
            Err(e) => {
                eprintln!("minisip4fb: {e}");
                return 2;
            }
        },
        None => None,
    };
    // Register first: compiling the rules loads libphonenumber's metadata
    // and reads the lists, which can happen while the Box answers.
    let (user, host) = (phone.user.clone(), phone.fritzbox.clone());
    let mut phone = match Phone::start_with(phone, screen).await {
        Ok(p) => p,
        Err(e) => {
            eprintln!("minisip4fb: {e}");
            return 1;
        }
    };
    // Watching starts before the files are first read: a change made
    // while they compile causes a reload, it is never lost.
    let watching = Watching::start(parts.source.files());
    let source = parts.source.clone();
    tokio::pin!(shutdown);
    let compiled = tokio::select! {
        c = tokio::task::spawn_blocking(move || {
            source.load_phoneblock();
            source.compile()
        }) => {
            c.map_err(|e| e.to_string()).and_then(|r| r.map_err(|e| e.to_string()))
        }
        // Stopped while the rules compile: calls waiting for them get 480.
        _ = &mut shutdown => {
            let _ = phone.shutdown().await;
            return 0;
        }
    };
    let rules = match compiled {
        Ok(r) => Arc::new(r),
        Err(e) => {
            eprintln!("minisip4fb: {e}");
            let _ = phone.shutdown().await;
            return 2;
        }
    };
    tracing::info!(
        "phone {user}@{host} listening on {}, registering at {}; {} rule(s){}",
        phone.contact(),
        phone.registrar(),
        rules.len(),
        if parts.calllog_path.is_some() {
            ", call log on"
        } else {
            ""
        }
    );
    let rules_home = rules.home().clone();
    snapshot.store(Some(rules));

    let reload = Arc::new(tokio::sync::Notify::new());
    let tr064 = match &parts.tr064 {
        None => crate::web::Tr064::Off,
        Some(Ok(link)) => crate::web::Tr064::On(link.clone()),
        Some(Err(e)) => crate::web::Tr064::Broken(e.to_string()),
    };
    let bar = start_tr064(parts.tr064, &parts.source, &reload, &mut tasks);
    let phoneblock_reload = Arc::new(tokio::sync::Notify::new());
    let reporting = phoneblock::start(
        &parts.source,
        events.clone(),
        phoneblock_reload.clone(),
        &mut tasks,
    );
    let phoneblock_api = reporting.as_ref().map(|s| s.api.clone());
    let (report, reporter) = match reporting.and_then(|s| s.reporting) {
        Some(r) => (Some(r.queue), Some(r.task)),
        None => (None, None),
    };
    let outlets = book::Outlets {
        doors: Some(doors.clone()),
        events: events.clone(),
        calls: parts.calls,
        bar: bar.clone(),
        report,
    };
    let log = parts.calllog_path.clone();
    let retention = parts.source.config.calllog.retention_days;
    let book = std::thread::Builder::new()
        .name("minisip4fb-book".into())
        .spawn(move || book::run(notes_rx, log, retention, outlets))
        .ok();
    let printer = parts
        .events_json
        .then(|| print_events(events.subscribe()))
        .flatten();
    let running = hooks::Running::default();
    if let Some(h) = parts.hooks {
        tasks.push(tokio::spawn(h.run(events.subscribe(), running.clone())));
    }
    if let Some(s) = parts.mqtt {
        mqtt::start(
            s,
            &events,
            phone.registration_updates(),
            shield.clone(),
            Some(doors.clone()),
            parts.calllog_path.clone(),
            &mut tasks,
        );
    }
    // The web side hears every event from here on, the first
    // registration too (its task starts next).
    let web_feed = web.is_some().then(|| events.subscribe());
    tasks.push(tokio::spawn(registration_events(
        phone.registration_updates(),
        events.clone(),
    )));
    let mut web_running = None;
    if let Some((settings, listener)) = web {
        let at = listener.local_addr().unwrap_or(settings.listen);
        tracing::info!("web: http://{at}");
        let inputs = crate::web::Inputs {
            about: crate::web::About {
                fritzbox: host.clone(),
                user: user.clone(),
                log_only: parts.source.config.screen.log_only,
            },
            registration: phone.registration_updates(),
            events: events.clone(),
            feed: web_feed.unwrap_or_else(|| events.subscribe()),
            calllog: parts.calllog_path,
            lists: crate::web::actions::Lists {
                block: settings.block_list.clone(),
                allow: settings.allow_list.clone(),
                home: rules_home,
            },
            phoneblock: parts
                .source
                .config
                .phoneblock
                .is_some()
                .then(|| parts.source.phoneblock.clone()),
            phoneblock_api,
            rules: snapshot.clone(),
            tr064,
            bar,
            shield: shield.clone(),
            doors: Some(doors.clone()),
        };
        match crate::web::start(listener, settings, inputs) {
            Ok(w) => web_running = Some(w),
            Err(e) => tracing::error!("web: cannot start its thread: {e}"),
        }
    }
    tasks.push(tokio::spawn(reloader(
        parts.source,
        snapshot.clone(),
        doors.clone(),
        [reload.clone(), phoneblock_reload],
        watching,
    )));

    let failed = failed_for_good(phone.registration_updates());
    tokio::pin!(failed);
    let code = loop {
        tokio::select! {
            // Calls that arrived before the first compile finished.
            call = phone.next_call() => match call {
                Some(call) => {
                    let (snapshot, notes, shield) = (snapshot.clone(), notes.clone(), shield.clone());
                    let doors = doors.state();
                    tokio::spawn(async move { decide_deferred(&snapshot, &notes, &shield, doors, call).await });
                }
                None => break 1,
            },
            _ = &mut shutdown => break 0,
            _ = &mut failed => break 1,
        }
    };
    for t in tasks {
        t.abort();
    }
    drop(web_running);
    running.kill_all();
    if code == 0 {
        tracing::info!("shutting down: ending calls in progress, then unregistering");
        let _ = phone.shutdown().await;
    } else {
        if let Registration::Failed { reason, .. } = phone.registration() {
            eprintln!("minisip4fb: {reason}");
        }
        drop(phone);
    }
    // The phone has said its last: let the book-keeper write it down.
    let _ = notes.send(Note::Stop);
    drop(notes);
    if let Some(t) = book {
        let _ = tokio::task::spawn_blocking(move || t.join()).await;
    }
    // The book-keeper is gone, and with it the reporter's queue: reports
    // still queued get their few seconds, the rest waits on disk.
    if let Some(t) = reporter {
        let grace = phoneblock::STOP_FLUSH + Duration::from_millis(500);
        let _ = tokio::time::timeout(grace, t).await;
    }
    // The printer drains what is left, unless nobody reads stdout: a
    // pipe that stays full must not keep the daemon from exiting.
    // (Polled: a blocking join would hold the runtime's shutdown too.)
    if let Some(t) = printer {
        let end = tokio::time::Instant::now() + PRINTER_GRACE;
        while !t.is_finished() && tokio::time::Instant::now() < end {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if !t.is_finished() {
            tracing::warn!(
                "--events: stdout still blocked after {} s; exiting without the last events",
                PRINTER_GRACE.as_secs()
            );
        }
    }
    code
}

/// How long shutdown waits for `--events json` to print its last lines.
const PRINTER_GRACE: Duration = Duration::from_secs(2);

/// The TR-064 work, off the phone's path: the Box's lists kept fresh for
/// the rules that use them, and the worker that bars numbers (its queue
/// is returned). Nothing without TR-064 access.
fn start_tr064(
    link: Option<Result<BoxLink, LinkError>>,
    source: &RuleSource,
    reload: &Arc<tokio::sync::Notify>,
    tasks: &mut Vec<tokio::task::JoinHandle<()>>,
) -> Option<mpsc::Sender<(String, String)>> {
    let link = match link? {
        Ok(l) => l,
        Err(e) => {
            tracing::error!("TR-064 disabled: {e}");
            return None;
        }
    };
    if Rules::wants_box_lists(&source.effective()) {
        let every = config::parse_duration(&source.config.fritzbox.phonebook_refresh)
            .unwrap_or_else(|e| {
                tracing::warn!("[fritzbox] phonebook_refresh: {e}; using 6h");
                Duration::from_secs(6 * 3600)
            });
        tasks.push(tokio::spawn(box_sync(
            link.clone(),
            source.box_lists.clone(),
            reload.clone(),
            every,
        )));
    }
    let (tx, rx) = mpsc::channel(256);
    tasks.push(tokio::spawn(barring_worker(link, rx)));
    Some(tx)
}

/// A call handed over before the rules were ready: decided as soon as
/// they are, the same way the screen decides.
async fn decide_deferred(
    snapshot: &RulesSnapshot,
    notes: &std::sync::mpsc::SyncSender<Note>,
    shield: &shield::Shield,
    doors: crate::screen::doors::DoorState,
    call: IncomingCall,
) {
    let rules = loop {
        if let Some(r) = snapshot.load_full() {
            break r;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let at = call.received_at();
    let (mut decided, mut verdict) =
        screening::decide(&rules, &mut History::with_doors(doors), call.caller(), at);
    screening::apply_shield(shield, &mut decided, &mut verdict);
    let _ = notes.try_send(Note::Decided {
        call: call.id(),
        at,
        wall: SystemTime::now(),
        decided: Box::new(decided),
    });
    let done = match verdict {
        Verdict::Terminate => call.terminate().await.map(drop),
        Verdict::Reject { how, after } => call.reject_after(how, after).await,
        Verdict::Ring => call.ring().await,
        Verdict::Silent | Verdict::Defer => Ok(()),
        Verdict::Script(script) => call.run(&script).await.map(|end| {
            let _ = notes.try_send(Note::Script {
                call: call.id(),
                end,
            });
        }),
    };
    if let Err(e) = done {
        tracing::debug!("{}: {e}", call.id());
    }
}

/// `--events json`: one JSON line per event on stdout, from a thread of
/// its own (a slow reader of the pipe delays nothing else). A closed pipe
/// (`| head -1`) ends the printing, not the daemon.
fn print_events(mut rx: broadcast::Receiver<DaemonEvent>) -> Option<std::thread::JoinHandle<()>> {
    use std::io::Write;
    std::thread::Builder::new()
        .name("minisip4fb-events".into())
        .spawn(move || {
            loop {
                let e = match rx.blocking_recv() {
                    Ok(e) => e,
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!("--events: {n} event(s) skipped, stdout too slow");
                        continue;
                    }
                    Err(_) => return,
                };
                let Ok(line) = serde_json::to_string(&e) else {
                    continue;
                };
                let mut out = std::io::stdout().lock();
                if let Err(err) = writeln!(out, "{line}").and_then(|()| out.flush()) {
                    tracing::warn!("--events: stopped printing events: stdout: {err}");
                    return;
                }
            }
        })
        .ok()
}

/// Turns registration changes into daemon events and log lines. It
/// watches the registration state, not the phone's event stream, so calls
/// wake nothing here.
async fn registration_events(
    mut rx: tokio::sync::watch::Receiver<Registration>,
    events: broadcast::Sender<DaemonEvent>,
) {
    let mut registered = false;
    let mut ever = false;
    loop {
        let now = rx.borrow_and_update().clone();
        match now {
            Registration::Registered { expires } if !registered => {
                registered = true;
                let expires = expires.as_secs();
                if ever {
                    tracing::info!("registration restored (binding granted for {expires} s)");
                    let _ = events.send(DaemonEvent::RegistrationRestored {
                        time: now_rfc3339(),
                        expires,
                    });
                } else {
                    tracing::info!("registered at the FRITZ!Box (binding granted for {expires} s)");
                    let _ = events.send(DaemonEvent::Registered {
                        time: now_rfc3339(),
                        expires,
                    });
                }
                ever = true;
            }
            Registration::Failed {
                reason,
                retry_in: Some(d),
            } => {
                tracing::warn!(
                    "registration failed: {reason}; retrying in {:.1} s",
                    d.as_secs_f64()
                );
                if registered {
                    registered = false;
                    let _ = events.send(DaemonEvent::RegistrationLost {
                        time: now_rfc3339(),
                        reason: reason.to_string(),
                    });
                }
            }
            _ => {}
        }
        if rx.changed().await.is_err() {
            return;
        }
    }
}

/// Resolves only when registration failed for good (wrong credentials on
/// the first attempt); transient failures are retried by the phone.
async fn failed_for_good(mut reg: tokio::sync::watch::Receiver<Registration>) {
    loop {
        if matches!(
            &*reg.borrow_and_update(),
            Registration::Failed { retry_in: None, .. }
        ) {
            return;
        }
        if reg.changed().await.is_err() {
            return;
        }
    }
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

/// Reloads the rules on SIGHUP, after a Box phonebook sync, or when the
/// config or a list file changes (checked every 2 s). Every compile runs
/// in the blocking pool; the phone keeps the old snapshot until the new
/// one is swapped in. Signals arriving meanwhile fold into one reload. A
/// broken config keeps the old rules running.
/// What the reloader watches: with inotify, the files' directories (one
/// descriptor for the whole run, so what changes while the rules compile
/// waits in it); without, the files' mtimes, polled every 2 s.
struct Watching {
    files: Vec<PathBuf>,
    inotify: Option<DirWatch>,
    /// Polling only: each file's mtime from before it was last read.
    seen: Vec<(PathBuf, Option<SystemTime>)>,
}

impl Watching {
    fn start(files: Vec<PathBuf>) -> Watching {
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

async fn reloader(
    mut source: RuleSource,
    snapshot: RulesSnapshot,
    doors: doors::Doors,
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
                // `minisip4fb doors open` edits the file, then asks for a reload.
                let d = doors.clone();
                let _ = tokio::task::spawn_blocking(move || d.reload()).await;
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

/// The directory a watched file is in (`.` for a bare name).
fn dir_of(f: &Path) -> PathBuf {
    match f.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// The directories of the config and the list files, watched with
/// inotify: no wake-ups while nothing changes. Directories, not files,
/// because editors replace a file by renaming a new one over it; events
/// for other names in them (the call log's own files) are skipped.
struct DirWatch {
    #[cfg(target_os = "linux")]
    fd: tokio::io::unix::AsyncFd<std::os::fd::OwnedFd>,
    /// Watch descriptor → directory.
    #[cfg(target_os = "linux")]
    dirs: HashMap<i32, PathBuf>,
    #[cfg(target_os = "linux")]
    files: Vec<PathBuf>,
}

impl DirWatch {
    /// `None` where inotify is not to be had (then the reloader polls).
    #[cfg(target_os = "linux")]
    fn new() -> Option<DirWatch> {
        use std::os::fd::FromRawFd;
        // SAFETY: inotify_init1 returns a new descriptor we own, or -1.
        let raw = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
        if raw < 0 {
            return None;
        }
        // SAFETY: `raw` is a fresh descriptor owned by nobody else.
        let fd = unsafe { std::os::fd::OwnedFd::from_raw_fd(raw) };
        // SAFETY: an OwnedFd stays open and is the same descriptor for as
        // long as the AsyncFd owns it.
        unsafe { tokio::io::unix::AsyncFd::register(fd) }
            .ok()
            .map(|fd| DirWatch {
                fd,
                dirs: HashMap::new(),
                files: Vec::new(),
            })
    }

    #[cfg(not(target_os = "linux"))]
    fn new() -> Option<DirWatch> {
        None
    }

    /// Watches these files (their directories); `false` if the kernel
    /// refuses (then poll instead).
    #[cfg(target_os = "linux")]
    fn watch(&mut self, files: &[PathBuf]) -> bool {
        use std::os::fd::AsRawFd;
        use std::os::unix::ffi::OsStrExt;
        let mask = libc::IN_CLOSE_WRITE
            | libc::IN_MOVED_TO
            | libc::IN_CREATE
            | libc::IN_DELETE
            | libc::IN_ATTRIB;
        for f in files {
            let dir = dir_of(f);
            if self.dirs.values().any(|d| *d == dir) {
                continue;
            }
            let Ok(c) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
                return false;
            };
            // SAFETY: a valid descriptor and a NUL-terminated path.
            let wd = unsafe { libc::inotify_add_watch(self.fd.as_raw_fd(), c.as_ptr(), mask) };
            if wd < 0 {
                return false;
            }
            self.dirs.insert(wd, dir);
        }
        self.files = files.to_vec();
        true
    }

    #[cfg(not(target_os = "linux"))]
    fn watch(&mut self, _files: &[PathBuf]) -> bool {
        false
    }

    /// Resolves when a watched file changed; a burst of events (a list
    /// being written) counts once, 200 ms after it began.
    async fn changed(&mut self) {
        #[cfg(target_os = "linux")]
        loop {
            use std::os::fd::AsRawFd;
            let Ok(mut ready) = self.fd.readable().await else {
                return std::future::pending().await;
            };
            tokio::time::sleep(Duration::from_millis(200)).await;
            let mut ours = false;
            let mut buf = [0u8; 4096];
            loop {
                // SAFETY: reading into our own buffer from our own descriptor.
                let n =
                    unsafe { libc::read(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
                if n <= 0 {
                    break;
                }
                ours |= self.names_a_file(&buf[..n as usize]);
            }
            ready.clear_ready();
            if ours {
                return;
            }
        }
        #[cfg(not(target_os = "linux"))]
        std::future::pending::<()>().await
    }

    /// Whether a buffer of `struct inotify_event`s names one of our files
    /// (or overflowed: then anything may have changed).
    #[cfg(target_os = "linux")]
    fn names_a_file(&self, mut events: &[u8]) -> bool {
        use std::os::unix::ffi::OsStrExt;
        const HEAD: usize = std::mem::size_of::<libc::inotify_event>();
        let mut ours = false;
        while events.len() >= HEAD {
            // SAFETY: the kernel writes whole events; read the header
            // unaligned from our byte buffer.
            let ev: libc::inotify_event =
                unsafe { std::ptr::read_unaligned(events.as_ptr().cast()) };
            let end = (HEAD + ev.len as usize).min(events.len());
            let name = &events[HEAD..end];
            let name = &name[..name.iter().position(|&b| b == 0).unwrap_or(name.len())];
            if ev.mask & libc::IN_Q_OVERFLOW != 0 {
                ours = true;
            } else if let Some(dir) = self.dirs.get(&ev.wd) {
                let name = std::ffi::OsStr::from_bytes(name);
                ours |= self
                    .files
                    .iter()
                    .any(|f| f.file_name() == Some(name) && dir_of(f) == *dir);
            }
            events = &events[end..];
        }
        ours
    }
}

/// The Box's phonebooks by name, and its call-barring list as `barring`.
pub fn fetch_box_lists(
    c: &mut crate::fritzbox::Client,
) -> Result<BoxLists, crate::fritzbox::Error> {
    let mut out = BoxLists::new();
    for (_, name, xml) in c.phonebooks()? {
        out.insert(name, xml);
    }
    out.insert("barring".into(), c.barring_list()?);
    Ok(out)
}

/// Fetches the Box's phonebooks and call-barring list at start and every
/// `phonebook_refresh`; failures are retried with backoff and never stop
/// call screening.
async fn box_sync(
    link: BoxLink,
    lists: Arc<Mutex<BoxLists>>,
    reload: Arc<tokio::sync::Notify>,
    every: Duration,
) {
    let mut backoff = Duration::from_secs(30);
    loop {
        let fetched = link.with(fetch_box_lists).await;
        let wait = match fetched {
            Ok(new) => {
                tracing::info!(
                    "read {} phonebook(s) and the call-barring list from the FRITZ!Box",
                    new.len() - 1
                );
                *lists.lock().unwrap_or_else(|p| p.into_inner()) = new;
                reload.notify_one();
                backoff = Duration::from_secs(30);
                every
            }
            Err(e) => {
                tracing::warn!(
                    "cannot read the FRITZ!Box's phonebooks: {e}; retrying in {} s",
                    backoff.as_secs()
                );
                let w = backoff;
                backoff = (backoff * 2).min(Duration::from_secs(1800));
                w
            }
        };
        tokio::time::sleep(wait).await;
    }
}

/// Puts terminated numbers on the Box's call-barring list, one at a time,
/// at most one every 2 s (a flood of spam calls must not turn into a
/// flood of TR-064 calls); looks each up first, since the Box stores
/// duplicates.
async fn barring_worker(link: BoxLink, mut rx: mpsc::Receiver<(String, String)>) {
    while let Some((number, rule)) = rx.recv().await {
        let name = format!(
            "minisip4fb {} ({})",
            chrono::Local::now().format("%Y-%m-%d"),
            rule
        );
        let n = number.clone();
        match link.with(move |c| c.bar(&n, &name)).await {
            Ok(true) => tracing::info!("added {number} to the FRITZ!Box's call-barring list"),
            Ok(false) => {
                tracing::debug!("{number} is on the FRITZ!Box's call-barring list already")
            }
            Err(e) => {
                tracing::warn!("cannot add {number} to the FRITZ!Box's call-barring list: {e}")
            }
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}
