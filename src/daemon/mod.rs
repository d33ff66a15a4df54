//! The screening daemon: the phone, the rules, the call log, reloads,
//! events and hooks, wired together. `run` and `demo` both go through
//! [`serve`], so the demo shows exactly what the daemon does.

pub mod hooks;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;
use tokio::sync::{broadcast, mpsc};

use crate::agent::{EndReason, Event};
use crate::calllog::{CallLog, NewCall};
use crate::config::{self, Action, Config};
use crate::net::{IncomingCall, Phone, Registration, Reject};
use crate::screen::rules::{BoxLists, Decision, History, Rules};

/// Where the rules come from: the config file (if any) plus `--block` flags.
#[derive(Debug, Clone)]
pub struct RuleSource {
    pub config: Config,
    pub path: Option<PathBuf>,
    /// `--block` patterns: a first rule that terminates them.
    pub blocks: Vec<String>,
    /// Lists fetched from the Box (`lists = ["fritzbox:…"]`).
    pub box_lists: Arc<Mutex<BoxLists>>,
}

impl RuleSource {
    /// Directory that relative list paths are resolved against.
    pub fn base_dir(&self) -> PathBuf {
        self.path
            .as_deref()
            .and_then(Path::parent)
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."))
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
        }
    }

    pub fn compile(&self) -> Result<Rules, String> {
        let lists = self
            .box_lists
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let (rules, warnings) = Rules::compile_with(&self.effective(), &self.base_dir(), &lists)?;
        for w in &warnings {
            tracing::warn!("list {w}");
        }
        Ok(rules)
    }

    /// Re-reads the config file (the rules part) and compiles it.
    fn reload(&mut self) -> Result<Rules, String> {
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
            let rules = candidate.compile()?;
            *self = candidate;
            return Ok(rules);
        }
        self.compile()
    }
}

/// Something worth telling other programs (`--events json`, hooks).
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum DaemonEvent {
    Registered { time: String, expires: u64 },
    RegistrationLost { time: String, reason: String },
    RegistrationRestored { time: String, expires: u64 },
    Call(CallInfo),
    CallEnded(CallInfo),
    Terminated(CallInfo),
}

impl DaemonEvent {
    /// The hook event name.
    pub fn name(&self) -> &'static str {
        match self {
            DaemonEvent::Registered { .. } => "registered",
            DaemonEvent::RegistrationLost { .. } => "registration_lost",
            DaemonEvent::RegistrationRestored { .. } => "registration_restored",
            DaemonEvent::Call(_) => "call",
            DaemonEvent::CallEnded(_) => "call_ended",
            DaemonEvent::Terminated(_) => "terminated",
        }
    }
}

/// One call as events and the demo see it.
#[derive(Debug, Clone, Serialize)]
pub struct CallInfo {
    pub time: String,
    pub caller: Option<String>,
    pub caller_e164: Option<String>,
    pub name: Option<String>,
    pub called: Option<String>,
    pub decision: String,
    pub action: String,
    pub rule: Option<String>,
    pub reason: String,
    pub outcome: Option<String>,
    pub decision_ms: f64,
    pub bye_ms: Option<f64>,
}

fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// What the daemon needs besides the phone.
pub struct Parts {
    pub source: RuleSource,
    pub rules: Rules,
    pub calllog: Option<CallLog>,
    /// Print every event as one JSON line on stdout.
    pub events_json: bool,
    /// Also hand every finished call to this channel (the demo).
    pub calls: Option<mpsc::UnboundedSender<CallInfo>>,
}

struct Shared {
    /// Numbers to put on the Box's call-barring list (terminate-and-bar).
    bar: Option<mpsc::UnboundedSender<(String, String)>>,
    /// Wakes the reloader (new lists from the Box).
    reload: Arc<tokio::sync::Notify>,
    rules: RwLock<Arc<Rules>>,
    history: Mutex<History>,
    calllog: Option<CallLog>,
    events: broadcast::Sender<DaemonEvent>,
    calls: Option<mpsc::UnboundedSender<CallInfo>>,
}

/// Screens calls until `shutdown` resolves (then unregisters; returns 0)
/// or registration fails for good (returns 1).
pub async fn serve(
    mut phone: Phone,
    parts: Parts,
    shutdown: impl std::future::Future<Output = ()>,
) -> i32 {
    let (events, _) = broadcast::channel(1024);
    let mut tasks = Vec::new();
    let home = parts.rules.home().clone();
    tokio::task::spawn_blocking(move || crate::screen::number::warm_up(&home));
    let reload = Arc::new(tokio::sync::Notify::new());
    let link = match BoxLink::from_config(&parts.source) {
        Some(Ok(l)) => Some(l),
        Some(Err(e)) => {
            tracing::error!("TR-064 disabled: {e}");
            None
        }
        None => None,
    };
    let mut bar = None;
    if let Some(link) = &link {
        if Rules::wants_box_lists(&parts.source.effective()) {
            let every = config::parse_duration(&parts.source.config.fritzbox.phonebook_refresh)
                .unwrap_or_else(|e| {
                    tracing::warn!("[fritzbox] phonebook_refresh: {e}; using 6h");
                    Duration::from_secs(6 * 3600)
                });
            tasks.push(tokio::spawn(box_sync(
                link.clone(),
                parts.source.box_lists.clone(),
                reload.clone(),
                every,
            )));
        }
        let (tx, rx) = mpsc::unbounded_channel();
        tasks.push(tokio::spawn(barring_worker(link.clone(), rx)));
        bar = Some(tx);
    }
    let shared = Arc::new(Shared {
        bar,
        reload: reload.clone(),
        rules: RwLock::new(Arc::new(parts.rules)),
        history: Mutex::new(History::default()),
        calllog: parts.calllog.clone(),
        events: events.clone(),
        calls: parts.calls,
    });
    if parts.events_json {
        let mut rx = events.subscribe();
        tasks.push(tokio::spawn(async move {
            while let Ok(e) = rx.recv().await {
                if let Ok(line) = serde_json::to_string(&e) {
                    println!("{line}");
                }
            }
        }));
    }
    if !parts.source.config.hooks.is_empty() {
        match hooks::Hooks::new(&parts.source.config.hooks) {
            Ok(h) => tasks.push(tokio::spawn(h.run(events.subscribe()))),
            Err(e) => tracing::error!("hooks disabled: {e}"),
        }
    }
    // Subscribe first, then look: the phone may have registered already
    // while the rules were compiled.
    let reg_rx = phone.events();
    let already = match phone.registration() {
        Registration::Registered { expires } => Some(expires),
        _ => None,
    };
    tasks.push(tokio::spawn(registration_events(
        reg_rx,
        events.clone(),
        already,
    )));
    let retention = parts.source.config.calllog.retention_days;
    tasks.push(tokio::spawn(reloader(parts.source, shared.clone())));
    if let Some(log) = parts.calllog {
        tasks.push(tokio::spawn(prune_daily(log, retention)));
    }

    let wave = Arc::new(tokio::sync::Notify::new());
    tasks.push(tokio::spawn(release_memory_after_waves(wave.clone())));

    let failed = failed_for_good(phone.registration_updates());
    tokio::pin!(failed);
    tokio::pin!(shutdown);
    let code = loop {
        tokio::select! {
            call = phone.next_call() => match call {
                Some(call) => {
                    wave.notify_one();
                    let shared = shared.clone();
                    tokio::spawn(async move { handle_call(&shared, call).await });
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
    if code == 0 {
        tracing::info!("shutting down: unregistering");
        let _ = phone.shutdown().await;
    } else if let Registration::Failed { reason, .. } = phone.registration() {
        eprintln!("minisip4fb: {reason}");
    }
    code
}

/// How long the phone must be quiet after calls before memory is released:
/// more than T4, so the ended calls have been dropped (RFC 3261 §17).
const QUIET: Duration = Duration::from_secs(10);

/// After a wave of calls, once it has been quiet for [`QUIET`], hands the
/// allocator's free pages back to the system: glibc keeps them otherwise,
/// and RSS would stay at the wave's peak for good. Only calls arm it, so an
/// idle phone gets no extra wake-ups.
async fn release_memory_after_waves(calls: Arc<tokio::sync::Notify>) {
    loop {
        calls.notified().await;
        while tokio::time::timeout(QUIET, calls.notified()).await.is_ok() {}
        release_free_memory();
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn release_free_memory() {
    // SAFETY: malloc_trim only returns free heap pages to the kernel
    // (madvise); no allocation is moved or freed.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn release_free_memory() {}

/// Decides, records, acts, and records the outcome: one call's life.
async fn handle_call(shared: &Shared, call: IncomingCall) {
    let caller = call.caller().clone();
    let rules = shared
        .rules
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let now = Instant::now();
    let decision = {
        let mut history = shared.history.lock().unwrap_or_else(|p| p.into_inner());
        rules.remember(&mut history, caller.number.as_deref(), now);
        rules.decide(
            caller.number.as_deref(),
            caller.called.as_deref(),
            &history,
            now,
            chrono::Local::now().naive_local(),
        )
    };
    let decision_ms = call.received_at().elapsed().as_secs_f64() * 1000.0;
    let mut info = CallInfo {
        time: now_rfc3339(),
        caller: caller.number.clone(),
        caller_e164: decision.e164.clone(),
        name: decision
            .name
            .clone()
            .or_else(|| caller.display_name.clone()),
        called: caller.called.clone(),
        decision: decision.effective.as_str().into(),
        action: decision.action.as_str().into(),
        rule: decision.rule.clone(),
        reason: decision.reason.clone(),
        outcome: None,
        decision_ms,
        bye_ms: None,
    };
    // Written before acting, so a crash right after deciding loses nothing.
    let id = record(shared, &decision, &info);
    let _ = shared.events.send(DaemonEvent::Call(info.clone()));
    let (outcome, bye_ms) = act(&call, &decision, rules.decline_delay).await;
    info.outcome = Some(outcome.clone());
    info.bye_ms = bye_ms;
    if let (Some(log), Some(id)) = (&shared.calllog, id)
        && let Err(e) = log.finish(id, &outcome, bye_ms)
    {
        tracing::error!("call log: cannot store the outcome of call {id}: {e}");
    }
    let who = match (&caller.number, &info.name) {
        (None, _) => "anonymous".to_owned(),
        (Some(n), Some(name)) => format!("{n} ({name})"),
        (Some(n), None) => n.clone(),
    };
    tracing::info!(
        "call from {who} to {}: {} ({}); {outcome}{}",
        info.called.as_deref().unwrap_or("?"),
        info.decision,
        info.reason,
        bye_ms.map(|b| format!(" in {b:.1} ms")).unwrap_or_default()
    );
    if outcome == "terminated" {
        let _ = shared.events.send(DaemonEvent::Terminated(info.clone()));
        // Never bar anonymous callers: the Box would bar "no number".
        if decision.effective == Action::TerminateAndBar
            && let Some(number) = &caller.number
        {
            match &shared.bar {
                Some(tx) => {
                    let _ = tx.send((number.clone(), decision.rule.clone().unwrap_or_default()));
                }
                None => tracing::warn!(
                    "cannot bar {number}: no TR-064 access configured ([fritzbox] tr064 and admin_user)"
                ),
            }
        }
    }
    let _ = shared.events.send(DaemonEvent::CallEnded(info.clone()));
    if let Some(tx) = &shared.calls {
        let _ = tx.send(info);
    }
}

fn record(shared: &Shared, d: &Decision, info: &CallInfo) -> Option<i64> {
    let log = shared.calllog.as_ref()?;
    let class = d.class.as_str();
    let new = NewCall {
        caller: info.caller.clone(),
        caller_e164: info.caller_e164.clone(),
        name: info.name.clone(),
        called: info.called.clone(),
        class: class.into(),
        decision: info.decision.clone(),
        action: info.action.clone(),
        rule: info.rule.clone(),
        reason: info.reason.clone(),
        decision_ms: info.decision_ms,
    };
    match log.insert(&new) {
        Ok(id) => Some(id),
        Err(e) => {
            // The log line below still carries the whole record.
            tracing::error!("call log: cannot record the call: {e}");
            None
        }
    }
}

/// Carries out the decision; returns the outcome and INVITE→BYE in ms.
async fn act(call: &IncomingCall, d: &Decision, decline_delay: Duration) -> (String, Option<f64>) {
    let ended = |r: EndReason| -> String {
        match r {
            EndReason::HungUp => "terminated".into(),
            EndReason::RemoteHungUp => "hung-up-by-caller".into(),
            EndReason::Cancelled => "cancelled-by-caller".into(),
            EndReason::AnsweredElsewhere => "answered-elsewhere".into(),
            EndReason::Rejected(486) => "declined".into(),
            EndReason::Rejected(s) => format!("rejected-{s}"),
            EndReason::Expired => "expired".into(),
            EndReason::NoAck => "failed: no ACK".into(),
            EndReason::ByeFailed(s) => format!(
                "failed: BYE {}",
                s.map_or("unanswered".into(), |s| s.to_string())
            ),
        }
    };
    let result = match d.effective {
        Action::Terminate | Action::TerminateAndBar => match call.terminate().await {
            Ok(r) => {
                let ms = call.received_at().elapsed().as_secs_f64() * 1000.0;
                return (ended(r.clone()), (r == EndReason::HungUp).then_some(ms));
            }
            Err(e) => Err(e),
        },
        Action::Decline => call.reject_after(Reject::Busy, decline_delay).await,
        Action::Ring => call.ring().await,
        Action::IgnoreSilently => Ok(()),
    };
    match result {
        Ok(()) => (ended(call.ended().await), None),
        Err(crate::net::CallError::Ended(r)) => (ended(r), None),
        // The caller hung up before we got to act: that is how it ended.
        Err(_) if matches!(call.status(), crate::net::CallStatus::Ended(_)) => {
            (ended(call.ended().await), None)
        }
        Err(e) => (format!("failed: {e}"), None),
    }
}

/// Turns registration changes into daemon events and log lines.
async fn registration_events(
    mut rx: broadcast::Receiver<Event>,
    events: broadcast::Sender<DaemonEvent>,
    already: Option<Duration>,
) {
    let mut registered = false;
    let mut ever = false;
    if let Some(expires) = already {
        registered = true;
        ever = true;
        let expires = expires.as_secs();
        tracing::info!("registered at the FRITZ!Box (binding granted for {expires} s)");
        let _ = events.send(DaemonEvent::Registered {
            time: now_rfc3339(),
            expires,
        });
    }
    loop {
        let e = match rx.recv().await {
            Ok(e) => e,
            Err(broadcast::error::RecvError::Lagged(_)) => continue,
            Err(_) => return,
        };
        match e {
            Event::Registered { expires } if !registered => {
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
            Event::RegistrationFailed {
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

/// Reloads the rules on SIGHUP or when the config or a list file changes
/// (checked every 2 s). A broken config keeps the old rules running.
async fn reloader(mut source: RuleSource, shared: Arc<Shared>) {
    let wake = shared.reload.clone();
    let watched = |source: &RuleSource, shared: &Shared| -> Vec<(PathBuf, Option<SystemTime>)> {
        let rules = shared
            .rules
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        source
            .path
            .iter()
            .chain(rules.files.iter())
            .map(|p| (p.clone(), mtime(p)))
            .collect()
    };
    let mut seen = watched(&source, &shared);
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
        let by_signal = tokio::select! {
            _ = signalled => true,
            _ = wake.notified() => true,
            // Nothing on disk to watch: no polling, no wake-ups while idle.
            _ = tokio::time::sleep(Duration::from_secs(2)), if !seen.is_empty() => false,
        };
        let changed = seen.iter().any(|(p, t)| mtime(p) != *t);
        if !by_signal && !changed {
            continue;
        }
        match source.reload() {
            Ok(rules) => {
                tracing::info!(
                    "reloaded the rules: {} rule(s){}",
                    rules.len(),
                    if by_signal { " (SIGHUP)" } else { "" }
                );
                *shared.rules.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(rules);
            }
            Err(e) => tracing::error!("reload failed, keeping the old rules: {e}"),
        }
        seen = watched(&source, &shared);
    }
}

async fn prune_daily(log: CallLog, days: u32) {
    loop {
        match log.prune(days) {
            Ok(0) => {}
            Ok(n) => tracing::info!("call log: removed {n} record(s) older than {days} days"),
            Err(e) => tracing::warn!("call log: pruning failed: {e}"),
        }
        tokio::time::sleep(Duration::from_secs(86400)).await;
    }
}

/// TR-064 access for phonebook sync, call barring and `check`.
#[derive(Clone)]
pub(crate) struct BoxLink {
    url: String,
    user: String,
    password: String,
    /// The Box's HTTPS certificate: from the config, or pinned on first use.
    pin: Arc<Mutex<Option<crate::fritzbox::Fingerprint>>>,
    /// Where a first-use pin is written down.
    config: Option<PathBuf>,
}

impl BoxLink {
    /// `None` when TR-064 is not configured.
    pub(crate) fn from_config(source: &RuleSource) -> Option<Result<BoxLink, String>> {
        let f = &source.config.fritzbox;
        let url = f.tr064.clone()?;
        let Some(user) = f.admin_user.clone() else {
            return Some(Err("[fritzbox] tr064 is set but admin_user is not".into()));
        };
        let password = match f.admin_password(&source.base_dir()) {
            Ok(Some(p)) => Ok(p),
            Ok(None) => Err("no TR-064 password: set admin_password_file in [fritzbox] or env MINISIP4FB_ADMIN_PASSWORD".to_owned()),
            Err(e) => Err(e),
        };
        Some(password.map(|password| BoxLink {
            url,
            user,
            password,
            pin: Arc::new(Mutex::new(f.tr064_fingerprint)),
            config: source.path.clone(),
        }))
    }

    /// Keeps the certificate seen first for the rest of the run and, with a
    /// config file, for good; says so either way.
    fn pin_first_use(&self, fp: crate::fritzbox::Fingerprint) {
        *self.pin.lock().unwrap_or_else(|p| p.into_inner()) = Some(fp);
        let kept = match &self.config {
            Some(path) => crate::config::edit_fritzbox(path, |t| {
                t["tr064_fingerprint"] = toml_edit::value(fp.to_string())
            })
            .map(|()| format!("pinned in {}", path.display())),
            None => Err("no config file".to_owned()),
        };
        match kept {
            Ok(done) => tracing::warn!(
                "first HTTPS connection to the FRITZ!Box at {}: trusted its certificate {fp}; {done}, any other certificate will be refused",
                self.url
            ),
            Err(e) => tracing::warn!(
                "first HTTPS connection to the FRITZ!Box at {}: trusted its certificate {fp} for this run ({e}); to pin it, add to [fritzbox]: tr064_fingerprint = \"{fp}\"",
                self.url
            ),
        }
    }

    pub(crate) async fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut crate::fritzbox::Client) -> Result<T, crate::fritzbox::Error>
        + Send
        + 'static,
    ) -> Result<T, String> {
        let link = self.clone();
        tokio::task::spawn_blocking(move || {
            let pin = *link.pin.lock().unwrap_or_else(|p| p.into_inner());
            let mut c =
                crate::fritzbox::Client::connect(&link.url, &link.user, &link.password, pin)?;
            if let Some(fp) = c.first_use() {
                link.pin_first_use(fp);
            }
            f(&mut c)
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())
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
async fn barring_worker(link: BoxLink, mut rx: mpsc::UnboundedReceiver<(String, String)>) {
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
