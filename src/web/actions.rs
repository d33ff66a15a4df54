//! What the web side does besides showing: the live event stream
//! (`GET /events`, server-sent events) and "block / allow this number",
//! which append to the list files `[web] block_list` and `allow_list`
//! name; the daemon's reload picks the change up as for any edit.

use std::convert::Infallible;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tokio::sync::broadcast;

use super::App;
use super::auth::{refused_api, same_origin};
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

/// `GET /events`: every daemon event as it happens, as server-sent events
/// (`event: call`, `data:` the same JSON as `run --events json`).
pub(super) async fn events(State(app): State<App>, headers: HeaderMap) -> Response {
    if !app.auth.allows(&headers) {
        return refused_api();
    }
    if app.streams.fetch_add(1, Ordering::SeqCst) >= MAX_STREAMS {
        app.streams.fetch_sub(1, Ordering::SeqCst);
        return (StatusCode::SERVICE_UNAVAILABLE, "too many event streams").into_response();
    }
    let guard = StreamGuard(app.clone());
    let rx = app.events.subscribe();
    let stream = futures_util::stream::unfold((rx, guard), |(mut rx, guard)| async move {
        loop {
            match rx.recv().await {
                Ok(e) => {
                    let data = serde_json::to_string(&e).unwrap_or_default();
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
struct NumberBody {
    number: String,
}

pub(super) async fn block(
    State(app): State<App>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let path = app.lists.block.clone();
    append(&app, &headers, &body, path, "block_list", "blocked").await
}

pub(super) async fn allow(
    State(app): State<App>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let path = app.lists.allow.clone();
    append(&app, &headers, &body, path, "allow_list", "allowed").await
}

fn error(status: StatusCode, what: impl Into<String>) -> Response {
    (
        status,
        axum::Json(serde_json::json!({ "error": what.into() })),
    )
        .into_response()
}

/// `POST /api/block` or `/api/allow` with `{"number": "030 1234567"}`:
/// the number in E.164 form appended to the list file, with a comment
/// saying when and from where. JSON only (a form of another site cannot
/// send it), from this origin, with the login if there is a password.
async fn append(
    app: &App,
    headers: &HeaderMap,
    body: &[u8],
    path: Option<PathBuf>,
    key: &str,
    done: &str,
) -> Response {
    if !app.auth.allows(headers) {
        return refused_api();
    }
    if !same_origin(headers) {
        return error(StatusCode::FORBIDDEN, "a request from another site");
    }
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !json {
        return error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send JSON: {\"number\": \"030 1234567\"}",
        );
    }
    let Some(path) = path else {
        return error(
            StatusCode::CONFLICT,
            format!("no [web] {key} in the config: name the list file a rule reads"),
        );
    };
    let Ok(NumberBody { number }) = serde_json::from_slice(body) else {
        return error(
            StatusCode::BAD_REQUEST,
            "expected {\"number\": \"030 1234567\"}",
        );
    };
    let e164 = (number.len() <= 40)
        .then(|| number::dialled_e164(&number, &app.lists.home))
        .flatten();
    let Some(e164) = e164 else {
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
