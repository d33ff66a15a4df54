//! The daemon's web side (issue 14, first part): a JSON API, Prometheus
//! metrics and a status page, served on a thread and runtime of its own
//! ([`start`]) and fed by the daemon's event bus and the registration's
//! watch; the phone's thread never waits for it.
//!
//! Access: on a loopback address everything is open. Any other address
//! needs a password (`[web] password_file` or env
//! `MINISIP4FB_WEB_PASSWORD`): without one the daemon refuses to start;
//! with one every page and API wants the login's session cookie
//! (HttpOnly, SameSite=Strict; POSTs from another origin are refused), and
//! `/metrics` also takes `Authorization: Bearer PASSWORD` for a scraper.
//! Every check of the password counts against one limiter per client
//! ([`crate::guard::limiter`]); requests for a name that is not ours, slow
//! and idle connections are refused by [`crate::guard::http`].

pub mod actions;
mod auth;
mod i18n;
mod metrics;
mod pages;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use tokio::sync::broadcast;

use crate::call::Time;
use crate::call::event::DaemonEvent;
use crate::call::show::Lang;
use crate::net::{PhoneView, Registration};

/// Where the web side listens and who may use it.
#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    pub password: Option<String>,
    /// The text lists "block / allow this number" append to.
    pub block_list: Option<PathBuf>,
    pub allow_list: Option<PathBuf>,
    /// Host check, timeouts and the cap on connections.
    pub limits: crate::guard::http::Limits,
}

/// Why the web side cannot start; each says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error(
        "[web] listen {0} is reachable from the network: set [web] password_file (or env MINISIP4FB_WEB_PASSWORD), or listen on 127.0.0.1"
    )]
    NeedsPassword(SocketAddr),
    #[error("[web] password: at least 8 characters")]
    ShortPassword,
    #[error("[web] cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

impl Settings {
    /// A listen address that is not loopback needs a password.
    pub fn new(listen: SocketAddr, password: Option<String>) -> Result<Settings, WebError> {
        match &password {
            None if !listen.ip().is_loopback() => Err(WebError::NeedsPassword(listen)),
            Some(p) if p.chars().count() < 8 => Err(WebError::ShortPassword),
            _ => Ok(Settings {
                listen,
                password,
                block_list: None,
                allow_list: None,
                limits: crate::guard::http::Limits::default(),
            }),
        }
    }
}

/// What the pages show about the daemon, known at start.
#[derive(Debug, Clone)]
pub struct About {
    pub log_only: bool,
}

/// TR-064 access to the Box, as the config gives it.
#[derive(Clone)]
pub enum Tr064 {
    Off,
    On(crate::fritzbox::link::BoxLink),
    /// Configured but unusable: why.
    Broken(String),
}

/// What the web side reads, and the list files its actions append to.
pub struct Inputs {
    pub about: About,
    /// Every phone, `[fritzbox]`'s first: its registration and when its
    /// Box last spoke.
    pub phones: Vec<PhoneView>,
    /// For `/events` streams.
    pub events: broadcast::Sender<DaemonEvent>,
    /// For the metrics and the status: subscribed before the daemon's
    /// first events, so that none is missed.
    pub feed: broadcast::Receiver<DaemonEvent>,
    pub calllog: Option<PathBuf>,
    pub phoneblock: Option<crate::phoneblock::Handle>,
    /// "Report to PhoneBlock", with a usable token.
    pub phoneblock_api: Option<Arc<crate::phoneblock::api::Api>>,
    pub lists: actions::Lists,
    /// The rules in use (swapped at each reload).
    pub rules: crate::controls::RulesSnapshot,
    pub tr064: Tr064,
    /// The daemon's call-barring queue: (number, why).
    pub bar: Option<tokio::sync::mpsc::Sender<(String, String)>>,
    pub shield: crate::controls::shield::Shield,
    /// The door openers' lockouts (failed PINs).
    pub doors: Option<crate::controls::doors::Doors>,
    /// The key-press check's pass list.
    pub passes: Option<crate::controls::passes::Passes>,
}

/// What the event bus told since the start.
#[derive(Debug, Default)]
struct Seen {
    /// When the current registration began (RFC 3339).
    registered_since: Option<String>,
    last_error: Option<(String, String)>,
    /// The last call the Box's call monitor showed that never reached
    /// us: when, the caller (`None`: withheld), the number dialled.
    not_delivered: Option<(String, Option<String>, String)>,
}

struct Shared {
    about: About,
    phones: Vec<PhoneView>,
    calllog: Option<Arc<crate::calllog::Reader>>,
    phoneblock: Option<crate::phoneblock::Handle>,
    phoneblock_api: Option<Arc<crate::phoneblock::api::Api>>,
    rules: crate::controls::RulesSnapshot,
    tr064: Tr064,
    bar: Option<tokio::sync::mpsc::Sender<(String, String)>>,
    shield: crate::controls::shield::Shield,
    doors: Option<crate::controls::doors::Doors>,
    passes: Option<crate::controls::passes::Passes>,
    /// Per account.
    seen: Mutex<HashMap<String, Seen>>,
    metrics: metrics::Metrics,
    auth: auth::Auth,
    events: broadcast::Sender<DaemonEvent>,
    /// Live `/events` streams, bounded.
    streams: std::sync::atomic::AtomicUsize,
    lists: actions::Lists,
    /// Loopback: `/metrics` needs no login even with a password.
    loopback: bool,
}

type App = Arc<Shared>;

/// Binds the listen address (an error to print at start, not later).
pub async fn bind(s: &Settings) -> Result<tokio::net::TcpListener, WebError> {
    tokio::net::TcpListener::bind(s.listen)
        .await
        .map_err(|source| WebError::Listen {
            addr: s.listen,
            source,
        })
}

/// The web side's thread; dropping this ends it.
pub struct Running {
    _stop: tokio::sync::oneshot::Sender<()>,
}

/// Serves on a thread of its own with its own runtime, at nice +10 like
/// its blocking pool (SQLite reads, TR-064, PhoneBlock): however many
/// requests come, the phone's thread gets the CPU first.
pub fn start(
    listener: tokio::net::TcpListener,
    settings: Settings,
    inputs: Inputs,
) -> std::io::Result<Running> {
    let listener = listener.into_std()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .thread_name("minisip4fb-web-pool")
        .on_thread_start(crate::guard::priority::lower_priority_of_this_thread)
        .max_blocking_threads(8)
        .build()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    std::thread::Builder::new()
        .name("minisip4fb-web".into())
        .spawn(move || {
            crate::guard::priority::lower_priority_of_this_thread();
            runtime.block_on(async move {
                let listener = match tokio::net::TcpListener::from_std(listener) {
                    Ok(l) => l,
                    Err(e) => {
                        tracing::error!("web: {e}");
                        return;
                    }
                };
                tokio::select! {
                    () = serve(listener, settings, inputs) => {}
                    _ = stopped => {}
                }
            });
        })?;
    Ok(Running { _stop: stop })
}

/// Serves until the future is dropped.
async fn serve(listener: tokio::net::TcpListener, settings: Settings, inputs: Inputs) {
    let app: App = Arc::new(Shared {
        about: inputs.about,
        phones: inputs.phones,
        calllog: inputs
            .calllog
            .map(|p| Arc::new(crate::calllog::Reader::new(p))),
        phoneblock: inputs.phoneblock,
        phoneblock_api: inputs.phoneblock_api,
        rules: inputs.rules,
        tr064: inputs.tr064,
        bar: inputs.bar,
        shield: inputs.shield,
        doors: inputs.doors,
        passes: inputs.passes,
        seen: Mutex::default(),
        metrics: metrics::Metrics::new(),
        auth: auth::Auth::new(settings.password),
        loopback: settings.listen.ip().is_loopback(),
        streams: std::sync::atomic::AtomicUsize::new(0),
        lists: inputs.lists,
        events: inputs.events.clone(),
    });
    let feeding = tokio::spawn(feed(inputs.feed, app.clone()));
    let router = Router::new()
        .route("/", get(pages::status))
        .route("/calls", get(pages::calls))
        .route("/stats", get(pages::stats))
        .route("/rules", get(pages::rules))
        .route("/app.js", get(pages::asset))
        .route("/app.css", get(pages::asset))
        .route("/icon.svg", get(pages::asset))
        .route("/favicon.ico", get(pages::asset))
        .route("/api/status", get(api_status))
        .route("/api/rules", get(api_rules))
        .route("/api/report", post(actions::report))
        .route("/api/phonebooks", get(actions::phonebooks))
        .route("/api/phonebook", post(actions::phonebook))
        .route("/api/shield", post(actions::shield))
        .route("/api/doors/open", post(actions::open_doors))
        .route("/api/passes/keep", post(actions::keep_pass))
        .route("/api/passes/remove", post(actions::remove_pass))
        .route("/api/calls", get(api_calls))
        .route("/api/stats", get(api_stats))
        .route("/metrics", get(metrics))
        .route("/events", get(actions::events))
        .route("/api/block", post(actions::block))
        .route("/api/allow", post(actions::allow))
        .route("/login", get(auth::login_page).post(auth::login))
        .route("/logout", post(auth::logout))
        .fallback(pages::not_found)
        .with_state(app);
    crate::guard::http::serve(listener, router, settings.limits).await;
    feeding.abort();
}

/// Takes what the event bus says into the metrics and the status.
async fn feed(mut events: broadcast::Receiver<DaemonEvent>, app: App) {
    loop {
        let event = match events.recv().await {
            Ok(e) => e,
            Err(broadcast::error::RecvError::Lagged(_)) => continue,
            Err(broadcast::error::RecvError::Closed) => return,
        };
        app.metrics.take(&event);
        let mut seen = app.seen.lock().unwrap_or_else(|p| p.into_inner());
        match event {
            DaemonEvent::Registered { time, account, .. }
            | DaemonEvent::RegistrationRestored { time, account, .. } => {
                seen.entry(account).or_default().registered_since = Some(time.to_string());
            }
            DaemonEvent::RegistrationLost {
                time,
                account,
                reason,
            } => {
                let seen = seen.entry(account).or_default();
                seen.registered_since = None;
                seen.last_error = Some((time.to_string(), reason));
            }
            DaemonEvent::CallNotDelivered {
                time,
                account,
                caller,
                called,
            } => {
                seen.entry(account).or_default().not_delivered =
                    Some((time.to_string(), caller, called));
            }
            _ => {}
        }
    }
}

/// One phone's part of `/api/status`.
fn phone_status(phone: &PhoneView, seen: Option<&Seen>) -> serde_json::Value {
    let reg = phone.registration.borrow().clone();
    let expires = match &reg {
        Registration::Registered { expires } => Some(expires.as_secs()),
        _ => None,
    };
    let last_error = seen.and_then(|s| s.last_error.as_ref());
    serde_json::json!({
        "account": phone.account,
        "registered": matches!(reg, Registration::Registered { .. }),
        "registration": reg.name(),
        "since": seen.and_then(|s| s.registered_since.clone()),
        "last_heard": phone.heard.get().map(|t| Time::from(t).to_string()),
        "expires": expires,
        "last_error": reg.problem().or_else(|| last_error.map(|(_, r)| r.clone())),
        "last_error_at": last_error.map(|(t, _)| t.clone()),
        "fritzbox": phone.fritzbox,
        "user": phone.user,
        "not_delivered": seen.and_then(|s| s.not_delivered.as_ref()).map(|(t, caller, called)| {
            serde_json::json!({ "time": t, "caller": caller, "called": called })
        }),
    })
}

/// `GET /api/status`: the first account's registration at the top (as
/// before there were several), every account's in `accounts`.
fn status(app: &Shared) -> serde_json::Value {
    let seen = app.seen.lock().unwrap_or_else(|p| p.into_inner());
    let accounts: Vec<serde_json::Value> = app
        .phones
        .iter()
        .map(|p| phone_status(p, seen.get(&p.account)))
        .collect();
    drop(seen);
    let phoneblock = app.phoneblock.as_ref().map(|h| {
        let l = h.load();
        serde_json::json!({
            "version": l.community.version,
            "numbers": l.community.len(),
            "ranges": l.ranges.list.spam_ranges().count(),
            "blacklist": l.personal.blacklist.len(),
            "whitelist": l.personal.whitelist.len(),
        })
    });
    let mut status = accounts
        .first()
        .cloned()
        .unwrap_or_else(|| serde_json::json!({}));
    let more = serde_json::json!({
        "accounts": accounts,
        "rules": app.rules.load().as_ref().map_or(0, |r| r.len()),
        "log_only": app.about.log_only,
        "shield": app.shield.is_on(),
        "doors": app.doors.as_ref().map(|d| d.status().into_iter().map(|(rule, closed, callers)| {
            serde_json::json!({ "rule": rule, "closed": closed, "locked_callers": callers })
        }).collect::<Vec<_>>()),
        "passes": app.passes.as_ref().map(|p| p.list().into_iter().map(|e| {
            let at = crate::call::Time::from_unix_ms;
            serde_json::json!({ "number": e.number, "since": e.since.map(at), "until": e.until.map(at) })
        }).collect::<Vec<_>>()),
        "phoneblock": phoneblock,
        "version": env!("CARGO_PKG_VERSION"),
    });
    if let (Some(s), serde_json::Value::Object(more)) = (status.as_object_mut(), more) {
        s.extend(more);
    }
    status
}

/// Answers that carry the household's data are never cached.
fn private(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    r
}

async fn api_status(State(app): State<App>, headers: HeaderMap) -> Response {
    if !app.auth.allows(&headers) {
        return auth::refused_api();
    }
    private(axum::Json(status(&app)).into_response())
}

#[derive(Deserialize)]
struct CallsQuery {
    /// RFC 3339: only calls at or after.
    since: Option<String>,
    /// RFC 3339: only calls before.
    until: Option<String>,
    limit: Option<u32>,
    #[serde(default)]
    blocked: bool,
    /// Only calls this rule decided: `3 "premium numbers"`.
    rule: Option<String>,
    /// Add what people are shown of each call in this language (`en`,
    /// `de`): [`shown_in`].
    lang: Option<String>,
}

/// At most this many calls an answer.
const MAX_CALLS: u32 = 1000;

async fn api_calls(
    State(app): State<App>,
    headers: HeaderMap,
    Query(q): Query<CallsQuery>,
) -> Response {
    if !app.auth.allows(&headers) {
        return auth::refused_api();
    }
    let (since, until) = match (
        query_time("since", q.since.as_deref()),
        query_time("until", q.until.as_deref()),
    ) {
        (Ok(since), Ok(until)) => (since, until),
        (Err(e), _) | (_, Err(e)) => return *e,
    };
    let filter = crate::calllog::Filter {
        since,
        until,
        blocked: q.blocked,
        rule: q.rule.filter(|r| !r.is_empty()),
        limit: Some(q.limit.unwrap_or(100).min(MAX_CALLS)),
    };
    let lang = q.lang.as_deref().and_then(Lang::parse);
    read_log(&app, serde_json::json!([]), move |log| {
        let list = log.list(&filter)?;
        Ok(list
            .into_iter()
            .map(|r| {
                let mut v = serde_json::to_value(&r).unwrap_or_default();
                if let Some(lang) = lang {
                    shown_in(&mut v, &r, lang);
                }
                v
            })
            .collect::<Vec<_>>())
    })
    .await
}

/// Adds to the JSON of call `r` what people are shown of it in `lang`:
/// the call log's words in the reader's language (`shown_decision`,
/// `shown_action`, `shown_outcome`, `shown_reason`).
fn shown_in(json: &mut serde_json::Value, r: &crate::call::Record, lang: Lang) {
    let Some(o) = json.as_object_mut() else {
        return;
    };
    let reason =
        crate::screen::rules::translate(&r.reason, lang).unwrap_or_else(|| r.reason.clone());
    let shown = [
        (
            "shown_decision",
            Some(lang.word("action", r.decision.as_str())),
        ),
        ("shown_action", Some(lang.word("action", r.action.as_str()))),
        ("shown_outcome", r.outcome.map(|out| lang.outcome(out))),
        ("shown_reason", Some(reason)),
    ];
    for (k, v) in shown {
        o.insert(k.into(), v.into());
    }
}

#[derive(Deserialize)]
struct StatsQuery {
    /// RFC 3339: only calls at or after.
    since: Option<String>,
}

/// `GET /api/stats`: calls per day (blocked and rung), per rule, and the
/// numbers blocked most often.
async fn api_stats(
    State(app): State<App>,
    headers: HeaderMap,
    Query(q): Query<StatsQuery>,
) -> Response {
    if !app.auth.allows(&headers) {
        return auth::refused_api();
    }
    let since = match query_time("since", q.since.as_deref()) {
        Ok(since) => since,
        Err(e) => return *e,
    };
    let empty = serde_json::json!({ "days": [], "rules": [], "top_blocked": [] });
    read_log(&app, empty, move |log| {
        let s = Stats::read(log, since)?;
        let days: Vec<_> = s
            .days
            .into_iter()
            .map(|(day, calls, terminated, declined, rang)| {
                serde_json::json!({
                    "day": day, "calls": calls, "terminated": terminated,
                    "declined": declined, "rang": rang, "blocked": calls - rang,
                })
            })
            .collect();
        let rules: Vec<_> = s
            .rules
            .into_iter()
            .map(|(rule, action, calls)| {
                serde_json::json!({ "rule": rule, "action": action, "calls": calls })
            })
            .collect();
        let top: Vec<_> = s
            .top_blocked
            .into_iter()
            .map(|(number, calls)| serde_json::json!({ "number": number, "calls": calls }))
            .collect();
        Ok(serde_json::json!({ "days": days, "rules": rules, "top_blocked": top }))
    })
    .await
}

/// What the statistics show, read from the call log at once.
struct Stats {
    days: Vec<crate::calllog::DayCounts>,
    /// (rule, action, calls)
    rules: Vec<(Option<String>, String, i64)>,
    top_blocked: Vec<(String, i64)>,
}

impl Stats {
    fn read(
        log: &crate::calllog::CallLog,
        since: Option<Time>,
    ) -> Result<Stats, crate::calllog::Error> {
        Ok(Stats {
            days: log.per_day(since)?,
            rules: log.per_rule(since)?,
            top_blocked: log.top_blocked(since, 10)?,
        })
    }

    /// The calls `rule` decided (`None`: the default and internal calls).
    fn matched(&self, rule: Option<&str>) -> i64 {
        self.rules
            .iter()
            .filter(|(r, _, _)| r.as_deref() == rule)
            .map(|(_, _, n)| n)
            .sum()
    }
}

/// The statistics since `since` for a page; `None` without a call log.
async fn read_stats(app: &Shared, since: Option<Time>) -> Result<Option<Stats>, String> {
    with_log(app, move |log| Stats::read(log, since)).await
}

/// `GET /api/rules`: the rules in order as people read them, with how
/// often each decided a call (the whole call log; `null` without one).
async fn api_rules(State(app): State<App>, headers: HeaderMap) -> Response {
    if !app.auth.allows(&headers) {
        return auth::refused_api();
    }
    let counts = read_stats(&app, None).await.ok().flatten();
    let matched = |rule: Option<&str>| counts.as_ref().map(|s| s.matched(rule));
    let rules = app.rules.load_full();
    let list: Vec<_> = app
        .rule_views(Lang::En)
        .into_iter()
        .map(|v| {
            let n = matched(Some(&v.rule));
            let mut j = serde_json::to_value(v).unwrap_or_default();
            j["matched"] = n.into();
            j
        })
        .collect();
    private(
        axum::Json(serde_json::json!({
            "rules": list,
            "default": rules.as_ref().map(|r| r.default_action()),
            "default_matched": matched(None),
            "log_only": rules.as_ref().is_some_and(|r| r.log_only()),
        }))
        .into_response(),
    )
}

impl Shared {
    /// The rules in use, as people read them (none before the first compile).
    fn rule_views(&self, lang: Lang) -> Vec<crate::screen::rules::RuleView> {
        self.rules
            .load()
            .as_ref()
            .map(|r| r.views(lang))
            .unwrap_or_default()
    }
}

/// An API answer read from the call log (the login checked): `empty`
/// without a call log, else `read` in the blocking pool (SQLite never on
/// the runtime's thread); the log's error (locked, unreadable) is a 503.
async fn read_log<T: serde::Serialize + Send + 'static>(
    app: &Shared,
    empty: serde_json::Value,
    read: impl FnOnce(&crate::calllog::CallLog) -> Result<T, crate::calllog::Error> + Send + 'static,
) -> Response {
    match with_log(app, read).await {
        Ok(Some(v)) => private(axum::Json(v).into_response()),
        Ok(None) => private(axum::Json(empty).into_response()),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(serde_json::json!({ "error": e })),
        )
            .into_response(),
    }
}

/// `read` on the call log in the blocking pool (SQLite never on the
/// runtime's thread); `None` without a call log.
async fn with_log<T: Send + 'static>(
    app: &Shared,
    read: impl FnOnce(&crate::calllog::CallLog) -> Result<T, crate::calllog::Error> + Send + 'static,
) -> Result<Option<T>, String> {
    let Some(reader) = app.calllog.clone() else {
        return Ok(None);
    };
    tokio::task::spawn_blocking(move || reader.get().and_then(|log| read(&log)))
        .await
        .map_err(|e| e.to_string())?
        .map(Some)
        .map_err(|e| e.to_string())
}

/// A query's time (`name`), any RFC 3339 offset; a 400 for one that is
/// not.
fn query_time(name: &str, value: Option<&str>) -> Result<Option<Time>, Box<Response>> {
    let Some(s) = value else {
        return Ok(None);
    };
    s.parse().map(Some).map_err(|_| {
        let shown: String = s.chars().take(40).collect();
        let what = format!(
            "{name}: {:?} is not an RFC 3339 time (2026-12-03T08:00:00Z)",
            crate::text::printable(&shown)
        );
        Box::new(
            (
                StatusCode::BAD_REQUEST,
                axum::Json(serde_json::json!({ "error": what })),
            )
                .into_response(),
        )
    })
}

/// `GET /metrics`: Prometheus (OpenMetrics) text. Open on loopback;
/// elsewhere the login's cookie or `Authorization: Bearer PASSWORD`.
async fn metrics(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    if !app.loopback && !app.auth.allows(&headers) {
        match app.auth.bearer(&headers, peer.ip()) {
            Ok(true) => {}
            Ok(false) => return auth::refused_api(),
            Err(wait) => return auth::too_many(wait),
        }
    }
    let phones = app.phones.iter().map(|p| {
        (
            p.account.as_str(),
            matches!(*p.registration.borrow(), Registration::Registered { .. }),
            p.heard.get(),
        )
    });
    let lists = app.phoneblock.as_ref().map(|h| {
        let l = h.load();
        [
            ("phoneblock:community", l.community.len()),
            ("phoneblock:blacklist", l.personal.blacklist.len()),
            ("phoneblock:whitelist", l.personal.whitelist.len()),
        ]
    });
    match app.metrics.encode(
        phones,
        app.rules.load().as_ref().map_or(0, |r| r.len()),
        lists.iter().flatten().copied(),
    ) {
        Ok(text) => private(
            (
                [(
                    header::CONTENT_TYPE,
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                )],
                text,
            )
                .into_response(),
        ),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

/// A whole page: no scripts or assets from elsewhere, never framed.
fn page(title: &str, body: &str) -> Response {
    let mut r = Html(format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{}</title>\
         <meta name=\"viewport\" content=\"width=device-width\"><link rel=\"stylesheet\" href=\"/app.css\"><link rel=\"icon\" href=\"/icon.svg\"></head><body>{body}</body></html>",
        escape(title)
    ))
    .into_response();
    r.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'self'; frame-ancestors 'none'"),
    );
    private(r)
}

/// Text for HTML: caller data reaches these pages.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lan_address_needs_a_password() {
        let lan: SocketAddr = "0.0.0.0:8080".parse().unwrap();
        let e = Settings::new(lan, None).unwrap_err();
        assert!(matches!(e, WebError::NeedsPassword(_)), "{e}");
        assert!(e.to_string().contains("password_file"), "{e}");
        assert!(Settings::new(lan, Some("short".into())).is_err());
        assert!(Settings::new(lan, Some("long enough".into())).is_ok());
        assert!(Settings::new("127.0.0.1:8080".parse().unwrap(), None).is_ok());
        assert!(Settings::new("[::1]:8080".parse().unwrap(), None).is_ok());
    }

    #[test]
    fn html_escapes_what_a_caller_sends() {
        assert_eq!(
            escape("<script>\"x\"&'y'</script>"),
            "&lt;script&gt;&quot;x&quot;&amp;&#39;y&#39;&lt;/script&gt;"
        );
    }
}
