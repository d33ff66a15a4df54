//! The screening daemon: the phone, the rules, the call log, reloads,
//! events and hooks, wired together. `run` and `demo` both go through
//! [`serve`], so the demo shows exactly what the daemon does.
//!
//! Threads: the phone's own (SIP and the decision, [`screening`]), the
//! book-keeper's (call log, log lines, events: [`book`]), the event
//! printer's (`--events json`), and the daemon's runtime for everything
//! slow (rule compiles in its blocking pool, hooks, TR-064).

pub(crate) mod book;
mod boxwork;
mod live;
mod monitor;
mod note;
mod phoneblock;
mod reload;
pub mod screening;
mod source;
mod verdict;
mod watch;

pub use boxwork::fetch_box_lists;
pub use source::RuleSource;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::{broadcast, mpsc};

use crate::call::Action;
use crate::call::Record;
use crate::call::{DaemonEvent, Time};
use crate::controls::{RulesSnapshot, doors, passes, shield};
use crate::fritzbox::link::{BoxLink, LinkError};
use crate::net::{IncomingCall, Phone, PhoneConfig, Registration, Verdict};
use crate::outlets::{Tellers, hooks, mqtt};
use crate::screen::number::Home;
use crate::screen::rules::{Gates, History};
use boxwork::start_tr064;
use minisip4fb_proto::agent::RegistrationError;
use note::{Line, Note};
use reload::{ReloadError, Watching, reloader};
use screening::DaemonScreen;
use watch::DirWatch;

/// One IP phone the daemon registers: the account's name (rules, the call
/// log, the dashboard, MQTT and the metrics use it) and its phone.
#[derive(Debug, Clone)]
pub struct Account {
    pub name: String,
    pub phone: PhoneConfig,
    /// The Box's call monitor to watch (`HOST:PORT`), and the household
    /// numbers this phone rings for (empty: all).
    pub call_monitor: Option<(String, Vec<String>)>,
}

/// What the daemon needs besides the phones' accounts.
pub struct Parts {
    pub source: RuleSource,
    /// Print every event as one JSON line on stdout.
    pub events_json: bool,
    /// Also hand every finished call to this channel (the demo).
    pub calls: Option<mpsc::UnboundedSender<Record>>,
    /// The event bus to use, when the caller wants to hear every event
    /// from the start (the demo); else one of its own.
    pub events: Option<broadcast::Sender<DaemonEvent>>,
    /// TR-064 access, if configured (see [`RuleSource::box_link`]).
    pub tr064: Option<Result<BoxLink, LinkError>>,
    /// The call log's file: the book-keeper writes it, the web side reads it.
    pub calllog_path: Option<PathBuf>,
    /// The dashboard, JSON API and metrics, if asked for.
    pub web: Option<crate::web::Settings>,
    /// The MQTT client, if `[mqtt]` asks for it.
    pub mqtt: Option<mqtt::Settings>,
    /// `[[hook]]`s and `[[notify]]`s, if any.
    pub hooks: Option<Tellers>,
    /// Where the daemon keeps its own state (the shield): systemd's
    /// `$STATE_DIRECTORY`, else beside the config.
    pub state_dir: Option<PathBuf>,
}

/// Why the daemon stopped without being asked to.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The web side's address cannot be had (before registering).
    #[error(transparent)]
    Web(#[from] crate::web::WebError),
    /// The phone did not start: its socket, the Box's address.
    #[error(transparent)]
    Phone(#[from] crate::net::PhoneError),
    /// The rules do not compile at start (a reload keeps the old ones).
    #[error("{0}")]
    Rules(String),
    /// The registration failed for good (a wrong password).
    #[error(transparent)]
    Registration(RegistrationError),
    /// The phone's thread ended by itself.
    #[error("the phone stopped")]
    PhoneStopped,
}

impl ServeError {
    /// The command's exit code: 2 for what the config must fix, 1 else.
    pub fn exit_code(&self) -> i32 {
        match self {
            ServeError::Web(_) | ServeError::Rules(_) => 2,
            _ => 1,
        }
    }
}

/// Starts a phone with the daemon's screen for each account and screens
/// calls until `shutdown` resolves (then stops gracefully), every
/// registration has failed for good or the rules do not compile at start.
/// Each phone registers, refreshes and recovers on its own: one Box down
/// never affects the others.
pub async fn serve(
    accounts: Vec<Account>,
    parts: Parts,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), ServeError> {
    let events = parts
        .events
        .clone()
        .unwrap_or_else(|| broadcast::channel(1024).0);
    let mut tasks = Vec::new();
    let snapshot: RulesSnapshot = Arc::default();
    let (notes, notes_rx) = std::sync::mpsc::sync_channel(book::QUEUE);
    let state_dir = parts
        .state_dir
        .clone()
        .or_else(|| parts.source.path.is_some().then(|| parts.source.base_dir()));
    let shield = shield::Shield::load(state_dir.as_ref().map(|dir| dir.join(shield::FILE)));
    let doors = doors::Doors::load(state_dir.as_ref().map(|dir| dir.join(doors::FILE)));
    let passes = passes::Passes::load(
        state_dir.as_ref().map(|dir| dir.join(passes::FILE)),
        parts.source.config.screen.pass_list.clone(),
        home_of(&parts.source.config),
    );
    let gates = Gates {
        doors: doors.state(),
        passes: passes.state(),
    };
    let live = live::LiveCheck::from_config(&parts.source.config);
    // The web address first: one that cannot be had stops the daemon
    // before it registers.
    let web = match parts.web {
        Some(settings) => {
            let listener = crate::web::bind(&settings).await?;
            Some((settings, listener))
        }
        None => None,
    };
    // Register first: compiling the rules loads libphonenumber's metadata
    // and reads the lists, which can happen while the Box answers.
    let mut phones: Vec<(Line, Phone)> = Vec::with_capacity(accounts.len());
    let mut views = Vec::with_capacity(accounts.len());
    let monitors: Vec<_> = accounts
        .iter()
        .filter_map(|a| Some((a.name.clone(), a.call_monitor.clone()?)))
        .collect();
    for (index, account) in accounts.into_iter().enumerate() {
        let line = Line {
            index: u16::try_from(index).unwrap_or(u16::MAX),
            name: account.name.as_str().into(),
        };
        let screen = DaemonScreen::new(
            snapshot.clone(),
            notes.clone(),
            shield.clone(),
            gates.clone(),
            live.clone(),
            line.clone(),
        );
        match Phone::start_with(account.phone.clone(), screen).await {
            Ok(phone) => {
                views.push(phone.view(&account.name, &account.phone));
                phones.push((line, phone));
            }
            Err(e) => {
                stop_all(phones).await;
                return Err(e.into());
            }
        }
    }
    let several = phones.len() > 1;
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
            stop_all(phones).await;
            return Ok(());
        }
    };
    let rules = match compiled {
        Ok(r) => Arc::new(r),
        Err(e) => {
            stop_all(phones).await;
            return Err(ServeError::Rules(e));
        }
    };
    for ((line, phone), view) in phones.iter().zip(&views) {
        tracing::info!(
            "phone {}@{}{} listening on {}, registering at {}; {} rule(s){}",
            view.user,
            view.fritzbox,
            if several {
                format!(" (account {})", line.name)
            } else {
                String::new()
            },
            phone.contact(),
            phone.registrar(),
            rules.len(),
            if parts.calllog_path.is_some() {
                ", call log on"
            } else {
                ""
            }
        );
    }
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
        passes: Some(passes.clone()),
        events: events.clone(),
        calls: parts.calls,
        bar: bar.clone(),
        report,
        several,
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
            views.clone(),
            shield.clone(),
            Some(doors.clone()),
            parts.calllog_path.clone(),
            &mut tasks,
        );
    }
    // The web side hears every event from here on, the first
    // registration too (its task starts next).
    let web_feed = web.is_some().then(|| events.subscribe());
    for view in &views {
        tasks.push(tokio::spawn(registration_events(
            view.clone(),
            several,
            events.clone(),
        )));
    }
    for (account, (address, incoming)) in monitors {
        let lists = parts.source.box_lists.clone();
        let watch = monitor::Watch {
            account,
            address,
            incoming,
            barred: Box::new(move |caller| barred_at_the_box(&lists, caller)),
        };
        tasks.push(tokio::spawn(watch.run(events.clone())));
    }
    let mut web_running = None;
    if let Some((settings, listener)) = web {
        let at = listener.local_addr().unwrap_or(settings.listen);
        tracing::info!("web: http://{at}");
        let inputs = crate::web::Inputs {
            about: crate::web::About {
                log_only: parts.source.config.screen.log_only,
            },
            phones: views.clone(),
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
            passes: Some(passes.clone()),
        };
        match crate::web::start(listener, settings, inputs) {
            Ok(w) => web_running = Some(w),
            Err(e) => tracing::error!("web: cannot start its thread: {e}"),
        }
    }
    tasks.push(tokio::spawn(reloader(
        parts.source,
        snapshot.clone(),
        (doors.clone(), passes.clone()),
        [reload.clone(), phoneblock_reload],
        watching,
    )));

    let failed = failed_for_good(views.iter().map(|v| v.registration.clone()).collect());
    tokio::pin!(failed);
    let ended: Result<(), ServeError> = loop {
        tokio::select! {
            // Calls that arrived before the first compile finished.
            call = next_call(&mut phones) => match call {
                Some((line, call)) => {
                    let (snapshot, notes, shield) = (snapshot.clone(), notes.clone(), shield.clone());
                    // Ringing while PhoneBlock's live check runs, or
                    // come before the rules were ready.
                    match live.as_ref().and_then(|l| Some((l.clone(), l.take(line.call(call.id()))?))) {
                        Some((live, job)) => {
                            tokio::spawn(live.run(job, (line, call), snapshot, notes, shield, gates.clone()));
                        }
                        None => {
                            let gates = gates.clone();
                            tokio::spawn(async move { decide_deferred(&snapshot, &notes, &shield, gates, (line, call)).await });
                        }
                    }
                }
                None => break Err(ServeError::PhoneStopped),
            },
            _ = &mut shutdown => break Ok(()),
            _ = &mut failed => break Err(ServeError::PhoneStopped),
        }
    };
    for t in tasks {
        t.abort();
    }
    drop(web_running);
    running.kill_all();
    let ended = match ended {
        Ok(()) => {
            tracing::info!("shutting down: ending calls in progress, then unregistering");
            stop_all(phones).await;
            Ok(())
        }
        Err(e) => match views.iter().find_map(|v| match &*v.registration.borrow() {
            Registration::Failed {
                reason,
                retry_in: None,
            } => Some(reason.clone()),
            _ => None,
        }) {
            Some(reason) => Err(ServeError::Registration(reason)),
            None => Err(e),
        },
    };
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
    ended
}

/// How long shutdown waits for `--events json` to print its last lines.
const PRINTER_GRACE: Duration = Duration::from_secs(2);

/// Whether `caller` is on the Box's own call-barring list (as last read
/// over TR-064): the Box turns such calls away itself.
fn barred_at_the_box(
    lists: &std::sync::Mutex<crate::screen::rules::BoxLists>,
    caller: &str,
) -> bool {
    let lists = lists.lock().unwrap_or_else(|p| p.into_inner());
    lists.get("barring").is_some_and(|xml| {
        crate::screen::phonebook_xml::entries(xml)
            .into_iter()
            .flatten()
            .any(|(_, number, _)| crate::fritzbox::monitor::same_number(&number, caller))
    })
}

/// Stops every phone gracefully, side by side (each ends its calls, then
/// unregisters).
async fn stop_all(phones: Vec<(Line, Phone)>) {
    let stopping: Vec<_> = phones
        .into_iter()
        .map(|(_, p)| tokio::spawn(p.shutdown()))
        .collect();
    for s in stopping {
        let _ = s.await;
    }
}

/// The next call handed over by any of the phones, with its account;
/// `None` once one of them has stopped.
async fn next_call(phones: &mut [(Line, Phone)]) -> Option<(Line, IncomingCall)> {
    std::future::poll_fn(|cx| {
        for (line, phone) in phones.iter_mut() {
            match phone.poll_next_call(cx) {
                std::task::Poll::Ready(Some(call)) => {
                    return std::task::Poll::Ready(Some((line.clone(), call)));
                }
                std::task::Poll::Ready(None) => return std::task::Poll::Ready(None),
                std::task::Poll::Pending => {}
            }
        }
        std::task::Poll::Pending
    })
    .await
}

/// The config's home for numbers; Germany's when `[numbers]` is broken
/// (the rules say so when they compile).
fn home_of(cfg: &crate::config::Config) -> Home {
    Home::new(&cfg.numbers.country, cfg.numbers.area_code.as_deref())
        .or_else(|_| Home::new("DE", None))
        .expect("Germany is a known country")
}

/// A call handed over before the rules were ready: decided as soon as
/// they are, the same way the screen decides.
async fn decide_deferred(
    snapshot: &RulesSnapshot,
    notes: &std::sync::mpsc::SyncSender<Note>,
    shield: &shield::Shield,
    gates: Gates,
    (line, call): (Line, IncomingCall),
) {
    let rules = loop {
        if let Some(r) = snapshot.load_full() {
            break r;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let at = call.received_at();
    let (mut decided, mut verdict) = verdict::decide(
        &rules,
        &mut History::with_gates(gates),
        call.caller(),
        at,
        &line,
    );
    verdict::apply_shield(shield, &mut decided, &mut verdict);
    let _ = notes.try_send(Note::Decided {
        call: line.call(call.id()),
        at,
        wall: SystemTime::now(),
        decided: Box::new(decided),
    });
    let done = match verdict {
        Verdict::Terminate => call.terminate().await.map(drop),
        Verdict::Reject { how, after } => call.reject_after(how, after).await,
        Verdict::Ring | Verdict::RingAndHandOver => call.ring().await,
        Verdict::Silent | Verdict::Defer => Ok(()),
        Verdict::Script(script) => call.run(&script).await.map(|end| {
            let _ = notes.try_send(Note::Script {
                call: line.call(call.id()),
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

/// Turns one phone's registration changes into daemon events and log
/// lines (named by its account when there are `several`). It watches the
/// registration state, not the phone's event stream, so calls wake
/// nothing here.
async fn registration_events(
    view: crate::net::PhoneView,
    several: bool,
    events: broadcast::Sender<DaemonEvent>,
) {
    let mut rx = view.registration;
    let account = view.account;
    let whose = if several {
        format!("account {account}: ")
    } else {
        String::new()
    };
    let mut registered = false;
    let mut ever = false;
    // Said once when the Box stops answering; its every timeout after
    // that is retried quietly until it answers again.
    let mut silent = false;
    loop {
        let now = rx.borrow_and_update().clone();
        match now {
            Registration::NoAnswer { registrar } if !silent => {
                silent = true;
                tracing::warn!(
                    "{whose}no answer from the FRITZ!Box at {registrar} (is the address right, is the Box up, does no firewall block UDP {}?); retrying quietly until it answers",
                    registrar.port()
                );
                // Said while registered only after the Box fell quiet:
                // its refresh unanswered too, the binding is as good as
                // gone (the refresh's own timeout would say so in 32 s).
                if registered {
                    registered = false;
                    let _ = events.send(DaemonEvent::RegistrationLost {
                        time: Time::now(),
                        account: account.clone(),
                        reason: format!(
                            "the FRITZ!Box at {registrar} fell quiet and does not answer"
                        ),
                    });
                }
            }
            Registration::Failed {
                reason: RegistrationError::Timeout(_),
                retry_in: Some(_),
            } if silent && !registered => {
                tracing::debug!("{whose}still no answer from the FRITZ!Box; retrying");
            }
            Registration::Registered { expires } if !registered => {
                silent = false;
                registered = true;
                let expires = expires.as_secs();
                if ever {
                    tracing::info!(
                        "{whose}registration restored (binding granted for {expires} s)"
                    );
                    let _ = events.send(DaemonEvent::RegistrationRestored {
                        time: Time::now(),
                        account: account.clone(),
                        expires,
                    });
                } else {
                    tracing::info!(
                        "{whose}registered at the FRITZ!Box (binding granted for {expires} s)"
                    );
                    let _ = events.send(DaemonEvent::Registered {
                        time: Time::now(),
                        account: account.clone(),
                        expires,
                    });
                }
                ever = true;
            }
            Registration::Failed {
                reason,
                retry_in: Some(d),
            } => {
                silent = false;
                tracing::warn!(
                    "{whose}registration failed: {reason}; retrying in {:.1} s",
                    d.as_secs_f64()
                );
                if registered {
                    registered = false;
                    let _ = events.send(DaemonEvent::RegistrationLost {
                        time: Time::now(),
                        account: account.clone(),
                        reason: reason.to_string(),
                    });
                }
            }
            // For good: a lone phone's error ends the daemon (and is said
            // there); one of several is said here, and the others go on.
            Registration::Failed {
                reason,
                retry_in: None,
            } if several => {
                tracing::error!(
                    "{whose}the FRITZ!Box refused the registration for good: {reason}; the other accounts go on"
                );
            }
            _ => {}
        }
        if rx.changed().await.is_err() {
            return;
        }
    }
}

/// Resolves only when every phone's registration failed for good (wrong
/// credentials on the first attempt); transient failures are retried by
/// the phones.
async fn failed_for_good(mut regs: Vec<tokio::sync::watch::Receiver<Registration>>) {
    let gone = |r: &Registration| matches!(r, Registration::Failed { retry_in: None, .. });
    loop {
        if regs.iter_mut().all(|r| gone(&r.borrow_and_update())) {
            return;
        }
        // Any change: look again. A phone whose driver ended counts as gone.
        let changes = regs.iter_mut().map(|r| Box::pin(r.changed()));
        let (r, _, _) = futures_util::future::select_all(changes).await;
        if r.is_err() {
            return;
        }
    }
}
