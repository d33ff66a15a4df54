//! What the web side does besides showing: the live event stream
//! (`GET /events`, server-sent events) and "block / allow this number",
//! which append to the list files `[web] block_list` and `allow_list`
//! name; the daemon's reload picks the change up as for any edit.

use std::convert::Infallible;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::Ordering;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tokio::sync::broadcast;

use super::App;
use super::auth::{self, refused_api, same_origin};
use crate::call::show::Lang;
use crate::screen::number::{self, Home};

/// The list files the actions append to, and how numbers are read.
#[derive(Debug, Clone)]
pub struct Lists {
    pub block: Option<PathBuf>,
    pub allow: Option<PathBuf>,
    pub home: Home,
}

/// Live `/events` streams at most (each holds a place on the event bus).
const MAX_STREAMS: usize = 16;

#[derive(Deserialize)]
pub(super) struct EventsQuery {
    /// Add what people are shown of a call in this language (as
    /// `/api/calls?lang=` does).
    lang: Option<String>,
}

/// `GET /events`: every daemon event as it happens, as server-sent events
/// (`event: call`, `data:` the same JSON as `run --events json`).
pub(super) async fn events(
    State(app): State<App>,
    headers: HeaderMap,
    Query(q): Query<EventsQuery>,
) -> Response {
    if !app.auth.allows(&headers) {
        return refused_api();
    }
    if app.streams.fetch_add(1, Ordering::SeqCst) >= MAX_STREAMS {
        app.streams.fetch_sub(1, Ordering::SeqCst);
        return (StatusCode::SERVICE_UNAVAILABLE, "too many event streams").into_response();
    }
    let guard = StreamGuard(app.clone());
    let rx = app.events.subscribe();
    let lang = q.lang.as_deref().and_then(Lang::parse);
    let stream = futures_util::stream::unfold((rx, guard), move |(mut rx, guard)| async move {
        loop {
            match rx.recv().await {
                Ok(e) => {
                    use crate::call::DaemonEvent::{Call, CallEnded, Terminated};
                    let data = match (lang, &e) {
                        (Some(lang), Call(r) | CallEnded(r) | Terminated(r)) => {
                            let mut v = serde_json::to_value(&e).unwrap_or_default();
                            super::shown_in(&mut v, r, lang);
                            v.to_string()
                        }
                        _ => serde_json::to_string(&e).unwrap_or_default(),
                    };
                    let event = Event::default().event(e.kind().as_str()).data(data);
                    return Some((Ok::<_, Infallible>(event), (rx, guard)));
                }
                // A slow reader misses events, never holds the bus.
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    super::private(
        Sse::new(stream)
            .keep_alive(KeepAlive::default())
            .into_response(),
    )
}

/// Counts a stream until it ends (the client went away).
struct StreamGuard(App);

impl Drop for StreamGuard {
    fn drop(&mut self) {
        self.0.streams.fetch_sub(1, Ordering::SeqCst);
    }
}

#[derive(Deserialize)]
struct ListBody {
    number: String,
    /// Also put it on the Box's call-barring list (block only).
    #[serde(default)]
    bar: bool,
}

pub(super) async fn block(
    State(app): State<App>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let b: ListBody = match json_body(&app, &headers, &body, NUMBER_EXAMPLE) {
        Ok(b) => b,
        Err(r) => return r.into_response(),
    };
    let path = app.lists.block.clone();
    let r = append(&app, &b.number, path, "block_list", "blocked").await;
    if b.bar && r.status().is_success() {
        let Some(tx) = &app.bar else {
            return error(
                StatusCode::CONFLICT,
                "blocked here; no TR-064 access for the Box's call-barring list ([fritzbox] tr064, admin_user)",
            );
        };
        let Some(number) = box_form(&b.number, &app.lists.home) else {
            return error(StatusCode::BAD_REQUEST, "that is not a phone number");
        };
        if tx.try_send((number, "web".into())).is_err() {
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                "blocked here; the call-barring queue is full, try again later",
            );
        }
    }
    r
}

pub(super) async fn allow(
    State(app): State<App>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let b: ListBody = match json_body(&app, &headers, &body, NUMBER_EXAMPLE) {
        Ok(b) => b,
        Err(r) => return r.into_response(),
    };
    let path = app.lists.allow.clone();
    append(&app, &b.number, path, "allow_list", "allowed").await
}

const NUMBER_EXAMPLE: &str = "{\"number\": \"030 1234567\"}";

/// Why an action is refused: its status and what to do, sent as
/// `{"error": …}`.
struct Refused(StatusCode, String);

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        error(self.0, self.1)
    }
}

fn error(status: StatusCode, what: impl Into<String>) -> Response {
    (
        status,
        axum::Json(serde_json::json!({ "error": what.into() })),
    )
        .into_response()
}

/// The body of an action: JSON only (a form of another site cannot send
/// it), from this origin, with the login if there is a password; at most
/// 4 KiB.
fn json_body<T: serde::de::DeserializeOwned>(
    app: &App,
    headers: &HeaderMap,
    body: &[u8],
    example: &str,
) -> Result<T, Refused> {
    if !app.auth.allows(headers) {
        return Err(Refused(StatusCode::UNAUTHORIZED, auth::LOG_IN_FIRST.into()));
    }
    if !same_origin(headers) {
        return Err(Refused(
            StatusCode::FORBIDDEN,
            "a request from another site".into(),
        ));
    }
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !json {
        return Err(Refused(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("send JSON: {example}"),
        ));
    }
    if body.len() > 4096 {
        return Err(Refused(
            StatusCode::PAYLOAD_TOO_LARGE,
            "at most 4 KiB".into(),
        ));
    }
    serde_json::from_slice(body)
        .map_err(|_| Refused(StatusCode::BAD_REQUEST, format!("expected {example}")))
}

/// A number as people type it, in E.164 form; `None` for anything else.
fn e164_of(number: &str, home: &Home) -> Option<String> {
    (number.len() <= 40)
        .then(|| number::dialled_e164(number, home))
        .flatten()
}

/// A number for the Box (phonebook, call barring): as the Box sent it if
/// it is only digits (its own national form), else in E.164 form.
fn box_form(number: &str, home: &Home) -> Option<String> {
    let t = number.trim();
    let e164 = e164_of(t, home)?;
    let plain = t.len() <= 20 && t.bytes().all(|b| b.is_ascii_digit());
    Some(if plain { t.to_owned() } else { e164 })
}

/// `POST /api/block` or `/api/allow` with `{"number": "030 1234567"}`:
/// the number in E.164 form appended to the list file, with a comment
/// saying when and from where.
async fn append(app: &App, number: &str, path: Option<PathBuf>, key: &str, done: &str) -> Response {
    let Some(path) = path else {
        return error(
            StatusCode::CONFLICT,
            format!("no [web] {key} in the config: name the list file a rule reads"),
        );
    };
    let Some(e164) = e164_of(number, &app.lists.home) else {
        return error(StatusCode::BAD_REQUEST, "that is not a phone number");
    };
    let line = format!(
        "{e164}  # {done} from the web, {}\n",
        chrono::Local::now().format("%Y-%m-%d %H:%M")
    );
    let shown = path.display().to_string();
    let written = tokio::task::spawn_blocking(move || {
        let mut f = std::fs::OpenOptions::new().append(true).open(&path)?;
        f.write_all(line.as_bytes())
    })
    .await;
    match written {
        Ok(Ok(())) => {
            tracing::info!("web: {e164} {done} (appended to {shown})");
            super::private(
                axum::Json(serde_json::json!({ "number": e164, "list": shown })).into_response(),
            )
        }
        Ok(Err(e)) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("cannot append to {shown}: {e}"),
        ),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

#[derive(Deserialize)]
struct ReportBody {
    number: String,
    rating: String,
    #[serde(default)]
    comment: String,
}

/// `POST /api/report` with `{"number", "rating": "E_ADVERTISING",
/// "comment"}`: the rating sent to PhoneBlock (`/rate`) in the blocking
/// pool; PhoneBlock puts a number rated as spam on the household's own
/// blacklist, which the next sync of it brings here.
pub(super) async fn report(
    State(app): State<App>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let b: ReportBody = match json_body(
        &app,
        &headers,
        &body,
        "{\"number\": \"+4930123\", \"rating\": \"E_ADVERTISING\", \"comment\": \"\"}",
    ) {
        Ok(b) => b,
        Err(r) => return r.into_response(),
    };
    let Some(api) = app.phoneblock_api.clone() else {
        return error(
            StatusCode::CONFLICT,
            "no PhoneBlock: set [phoneblock] token_file in the config",
        );
    };
    let Some(rating) = crate::phoneblock::Rating::parse(&b.rating) else {
        return error(
            StatusCode::BAD_REQUEST,
            "rating: one of A_LEGITIMATE, B_MISSED, C_PING, D_POLL, E_ADVERTISING, F_GAMBLE, G_FRAUD",
        );
    };
    let phone = e164_of(&b.number, &app.lists.home)
        .as_deref()
        .and_then(crate::phoneblock::parse_phone);
    let Some(phone) = phone else {
        return error(StatusCode::BAD_REQUEST, "that is not a phone number");
    };
    if b.comment.chars().count() > 200 || b.comment.chars().any(char::is_control) {
        return error(
            StatusCode::BAD_REQUEST,
            "comment: one line of at most 200 characters",
        );
    }
    let comment = b.comment;
    let sent = tokio::task::spawn_blocking(move || api.rate(phone, rating, &comment)).await;
    let shown = crate::phoneblock::e164(phone);
    match sent {
        Ok(Ok(())) => {
            tracing::info!("web: {shown} rated {} on PhoneBlock", rating.as_str());
            super::private(
                axum::Json(serde_json::json!({ "number": shown, "rating": rating.as_str() }))
                    .into_response(),
            )
        }
        Ok(Err(e)) => error(StatusCode::BAD_GATEWAY, format!("PhoneBlock: {e}")),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// The Box's TR-064 access, or the answer saying what to configure.
fn box_link(app: &App) -> Result<crate::fritzbox::link::BoxLink, Refused> {
    match &app.tr064 {
        super::Tr064::On(link) => Ok(link.clone()),
        super::Tr064::Off => Err(Refused(
            StatusCode::CONFLICT,
            "no TR-064 access to the Box: set [fritzbox] tr064 and admin_user".into(),
        )),
        super::Tr064::Broken(e) => Err(Refused(StatusCode::CONFLICT, format!("TR-064: {e}"))),
    }
}

/// `GET /api/phonebooks`: the Box's phonebooks, `[{"id", "name"}]`.
pub(super) async fn phonebooks(State(app): State<App>, headers: HeaderMap) -> Response {
    if !app.auth.allows(&headers) {
        return refused_api();
    }
    let link = match box_link(&app) {
        Ok(l) => l,
        Err(r) => return r.into_response(),
    };
    match link.with(|c| c.phonebook_names()).await {
        Ok(books) => {
            let list: Vec<_> = books
                .into_iter()
                .map(|(id, name)| serde_json::json!({ "id": id, "name": name }))
                .collect();
            super::private(axum::Json(list).into_response())
        }
        Err(e) => error(StatusCode::BAD_GATEWAY, format!("FRITZ!Box: {e}")),
    }
}

#[derive(Deserialize)]
struct PhonebookBody {
    number: String,
    name: String,
    book: String,
}

/// `POST /api/phonebook` with `{"number", "name", "book": "0"}`: a new
/// contact in the Box's phonebook `book` (`SetPhonebookEntryUID`).
pub(super) async fn phonebook(
    State(app): State<App>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let b: PhonebookBody = match json_body(
        &app,
        &headers,
        &body,
        "{\"number\": \"030 1234567\", \"name\": \"Praxis\", \"book\": \"0\"}",
    ) {
        Ok(b) => b,
        Err(r) => return r.into_response(),
    };
    let link = match box_link(&app) {
        Ok(l) => l,
        Err(r) => return r.into_response(),
    };
    let name = b.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 80 || name.chars().any(char::is_control) {
        return error(
            StatusCode::BAD_REQUEST,
            "name: one line of 1 to 80 characters",
        );
    }
    if b.book.is_empty() || b.book.len() > 4 || !b.book.bytes().all(|c| c.is_ascii_digit()) {
        return error(
            StatusCode::BAD_REQUEST,
            "book: a phonebook id of /api/phonebooks",
        );
    }
    let Some(number) = box_form(&b.number, &app.lists.home) else {
        return error(StatusCode::BAD_REQUEST, "that is not a phone number");
    };
    let (book, n, who) = (b.book.clone(), number.clone(), name.clone());
    match link.with(move |c| c.add_contact(&book, &who, &n)).await {
        Ok(uid) => {
            tracing::info!(
                "web: {} added to the Box's phonebook {} as {:?}",
                number,
                b.book,
                crate::text::printable(&name)
            );
            super::private(
                axum::Json(serde_json::json!({ "number": number, "book": b.book, "uid": uid }))
                    .into_response(),
            )
        }
        Err(e) => error(StatusCode::BAD_GATEWAY, format!("FRITZ!Box: {e}")),
    }
}

#[derive(Deserialize)]
struct ShieldBody {
    on: bool,
}

/// `POST /api/shield` with `{"on": false}`: the shield switch (off: every
/// call rings, decisions are only recorded), kept across restarts.
pub(super) async fn shield(
    State(app): State<App>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let b: ShieldBody = match json_body(&app, &headers, &body, "{\"on\": false}") {
        Ok(b) => b,
        Err(r) => return r.into_response(),
    };
    let s = app.shield.clone();
    let kept = tokio::task::spawn_blocking(move || s.set(b.on)).await;
    let state = if b.on { "ON" } else { "OFF" };
    match kept {
        Ok(Ok(())) => tracing::info!("the shield is {state} (web)"),
        Ok(Err(e)) => tracing::warn!("the shield is {state} for this run; cannot keep it: {e}"),
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
    super::private(axum::Json(serde_json::json!({ "on": b.on })).into_response())
}

#[derive(Deserialize)]
struct PassBody {
    number: String,
}

/// `POST /api/passes/keep` with `{"number": "+442079460000"}`: a caller
/// that passed the key-press check may call for good (the pass list file).
pub(super) async fn keep_pass(
    State(app): State<App>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    pass_action(app, &headers, &body, true).await
}

/// `POST /api/passes/remove` with `{"number": …}`: its pass taken back;
/// a challenge rule asks it again.
pub(super) async fn remove_pass(
    State(app): State<App>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    pass_action(app, &headers, &body, false).await
}

async fn pass_action(app: App, headers: &HeaderMap, body: &[u8], keep: bool) -> Response {
    let b: PassBody = match json_body(&app, headers, body, "{\"number\": \"+442079460000\"}") {
        Ok(b) => b,
        Err(r) => return r.into_response(),
    };
    let Some(passes) = app.passes.clone() else {
        return error(StatusCode::NOT_FOUND, "no pass list");
    };
    let Some(e164) = e164_of(&b.number, &app.lists.home) else {
        return error(StatusCode::BAD_REQUEST, "that is not a phone number");
    };
    let number = e164.clone();
    let done = tokio::task::spawn_blocking(move || {
        if keep {
            passes.keep(&number)
        } else {
            passes.take_back(&number)
        }
    })
    .await;
    let what = if keep { "kept for good" } else { "taken back" };
    match done {
        Ok(Ok(())) => {
            tracing::info!("key-press check: the pass of {e164} {what} (web)");
            super::private(axum::Json(serde_json::json!({ "number": e164 })).into_response())
        }
        Ok(Err(e @ crate::controls::passes::PassError::Unknown(_))) => {
            error(StatusCode::NOT_FOUND, e.to_string())
        }
        Ok(Err(e @ crate::controls::passes::PassError::NoList)) => {
            error(StatusCode::CONFLICT, e.to_string())
        }
        Ok(Err(e)) => error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

#[derive(Deserialize)]
struct DoorsBody {
    /// The rule's name; every door opener without it.
    #[serde(default)]
    rule: Option<String>,
}

/// `POST /api/doors/open`: the owner opens door openers again that failed
/// PINs locked (a caller, or everyone after the daily ceiling).
pub(super) async fn open_doors(
    State(app): State<App>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let b: DoorsBody = match json_body(&app, &headers, &body, "{\"rule\": \"door\"}") {
        Ok(b) => b,
        Err(r) => return r.into_response(),
    };
    let Some(doors) = app.doors.clone() else {
        return error(StatusCode::NOT_FOUND, "no door openers");
    };
    let opened = tokio::task::spawn_blocking(move || doors.open(b.rule.as_deref())).await;
    match opened {
        Ok(opened) => {
            tracing::info!("door opener(s) opened again (web): {}", opened.join(", "));
            super::private(axum::Json(serde_json::json!({ "opened": opened })).into_response())
        }
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}
