//! The login: one password, session cookies, failed attempts limited.
//! Without a password (a loopback address) everything is open.
//!
//! Every check of the password (the login form, `Authorization: Bearer`)
//! counts against one limiter, per client: a client's failures lock out
//! only that client, for longer each time, and a ceiling over all clients
//! makes guessing from many addresses slow too.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::Form;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::{App, page};
use crate::call::show::Lang;
use crate::call::words::Said;
use crate::guard::limiter::{AfterFailure, Ceiling, Limiter, Millis, Policy};

const COOKIE: &str = "minisip4fb_session";
/// A session lasts this long.
const SESSION: Duration = Duration::from_secs(12 * 3600);
/// Sessions kept at most (the oldest goes first).
const MAX_SESSIONS: usize = 64;
const MINUTE: Millis = 60_000;
/// Five typos in ten minutes are forgiven; then a minute's lockout that
/// doubles up to an hour. Over all clients, 100 failures an hour: with a
/// password of 8 characters or more, guessing is hopeless.
const POLICY: Policy = Policy {
    free: 5,
    window: 10 * MINUTE,
    lockout: MINUTE,
    max_lockout: 60 * MINUTE,
    max_clients: 4096,
    ceiling: Some(Ceiling::Throttle {
        failures: 100,
        window: 60 * MINUTE,
    }),
};

pub struct Auth {
    password: Option<String>,
    sessions: Mutex<HashMap<String, Instant>>,
    failures: Mutex<Limiter<IpAddr>>,
    start: Instant,
}

impl Auth {
    pub fn new(password: Option<String>) -> Auth {
        Auth {
            password,
            sessions: Mutex::default(),
            failures: Mutex::new(Limiter::new(POLICY)),
            start: Instant::now(),
        }
    }

    /// Checks `given` for `client`: `Err(seconds)` while it must wait.
    fn attempt(&self, client: IpAddr, given: &str) -> Result<bool, u64> {
        let Some(password) = &self.password else {
            return Ok(true);
        };
        let key = crate::guard::http::client_key(client);
        let now = self.start.elapsed().as_millis() as Millis;
        let mut limiter = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        limiter
            .check(&key, now)
            .map_err(|r| r.wait_secs().unwrap_or(3600))?;
        if same(given, password) {
            limiter.succeeded(&key);
            return Ok(true);
        }
        if let AfterFailure::LockedOut { wait } = limiter.failed(&key, now) {
            tracing::warn!(
                "web: wrong password from {client} again: it waits {} s before the next try",
                wait / 1000
            );
        }
        Ok(false)
    }

    /// Whether a request may see the household's data: there is no
    /// password, or it carries a live session's cookie.
    pub fn has_password(&self) -> bool {
        self.password.is_some()
    }

    pub fn allows(&self, headers: &HeaderMap) -> bool {
        if self.password.is_none() {
            return true;
        }
        let Some(token) = cookie(headers, COOKIE) else {
            return false;
        };
        let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        sessions.retain(|_, until| *until > now);
        sessions.contains_key(token)
    }

    /// `Authorization: Bearer PASSWORD` (a metrics scraper), counted like
    /// a login: `Ok(false)` without the header or with a wrong password,
    /// `Err(seconds)` while `client` must wait.
    pub fn bearer(&self, headers: &HeaderMap, client: IpAddr) -> Result<bool, u64> {
        let Some(given) = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
        else {
            return Ok(false);
        };
        if self.password.is_none() {
            return Ok(false);
        }
        self.attempt(client, given)
    }

    fn start_session(&self) -> String {
        let token: String = (0..32)
            .map(|_| format!("{:02x}", rand::random::<u8>()))
            .collect();
        let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        if sessions.len() >= MAX_SESSIONS
            && let Some(oldest) = sessions
                .iter()
                .min_by_key(|(_, t)| **t)
                .map(|(k, _)| k.clone())
        {
            sessions.remove(&oldest);
        }
        sessions.insert(token.clone(), Instant::now() + SESSION);
        token
    }

    fn end_session(&self, headers: &HeaderMap) {
        if let Some(token) = cookie(headers, COOKIE) {
            let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
            sessions.remove(token);
        }
    }
}

/// Equal without telling how much of it was: the digests are compared.
fn same(a: &str, b: &str) -> bool {
    use ring::digest::{SHA256, digest};
    digest(&SHA256, a.as_bytes()).as_ref() == digest(&SHA256, b.as_bytes()).as_ref()
}

/// The value of cookie `name`, if the request carries it.
pub(super) fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|kv| kv.trim().strip_prefix(name)?.strip_prefix('='))
}

/// A POST from a page of another site is refused (with the SameSite
/// cookie, this is the CSRF defence): its `Origin` must be this host.
pub fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true; // not a browser's cross-site POST
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
        == Some(host)
}

pub const LOG_IN_FIRST: &str = "log in first: POST /login with the password";

/// 429 for the API: too many wrong passwords from this client.
pub fn too_many(wait: u64) -> Response {
    let mut r = (
        StatusCode::TOO_MANY_REQUESTS,
        axum::Json(serde_json::json!({
            "error": format!("too many wrong passwords: wait {wait} s")
        })),
    )
        .into_response();
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(wait));
    r
}

/// 401 for the API: what to do.
pub fn refused_api() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        axum::Json(serde_json::json!({ "error": LOG_IN_FIRST })),
    )
        .into_response()
}

/// A page without a session goes to the login.
pub fn to_login() -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, "/login")]).into_response()
}

/// The login page in the browser's language, with `message` above the form.
fn login_form(headers: &HeaderMap, message: impl Fn(Lang) -> String) -> Response {
    let lang = Lang::of(headers, None);
    page(
        &format!("minisip4fb: {}", lang.t("login")),
        &format!(
            "<h1>minisip4fb</h1><p>{}</p><form method=\"post\" action=\"/login\">\
             <label>{} <input type=\"password\" name=\"password\" autofocus required></label> \
             <button>{}</button></form>",
            message(lang),
            lang.t("password"),
            lang.t("login"),
        ),
    )
}

pub async fn login_page(headers: HeaderMap) -> Response {
    login_form(&headers, |_| String::new())
}

#[derive(Deserialize)]
pub struct LoginForm {
    password: String,
}

pub async fn login(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> Response {
    if !same_origin(&headers) {
        return (StatusCode::FORBIDDEN, "a login from another site").into_response();
    }
    if app.auth.password.is_none() {
        return (StatusCode::SEE_OTHER, [(header::LOCATION, "/")]).into_response();
    }
    let right = app.auth.attempt(peer.ip(), &f.password);
    if let Err(wait) = right {
        let mut r = login_form(&headers, |lang| {
            Said::new("login.wait").with("n", wait).show(lang)
        });
        *r.status_mut() = StatusCode::TOO_MANY_REQUESTS;
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(wait));
        return r;
    }
    if right == Ok(false) {
        let mut r = login_form(&headers, |lang| lang.t("login.wrong").to_owned());
        *r.status_mut() = StatusCode::UNAUTHORIZED;
        return r;
    }
    let token = app.auth.start_session();
    // HttpOnly: no script reads it (RFC 6265 §4.1.2.6); SameSite=Strict:
    // no other site's request carries it (RFC 6265bis §4.1.2.7).
    let cookie = format!(
        "{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}",
        SESSION.as_secs()
    );
    let mut r = (StatusCode::SEE_OTHER, [(header::LOCATION, "/")]).into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

pub async fn logout(State(app): State<App>, headers: HeaderMap) -> Response {
    if !same_origin(&headers) {
        return (StatusCode::FORBIDDEN, "a logout from another site").into_response();
    }
    app.auth.end_session(&headers);
    let mut r = (StatusCode::SEE_OTHER, [(header::LOCATION, "/login")]).into_response();
    r.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static(
            "minisip4fb_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0",
        ),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(k.clone(), HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn sessions_and_failures() {
        let a = Auth::new(Some("geheim-genug".into()));
        assert!(!a.allows(&HeaderMap::new()));
        let t = a.start_session();
        let c = format!("other=1; {COOKIE}={t}");
        assert!(a.allows(&with(&[(header::COOKIE, &c)])));
        assert!(!a.allows(&with(&[(header::COOKIE, "minisip4fb_session=forged")])));
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let bearer = |p: &str| with(&[(header::AUTHORIZATION, &format!("Bearer {p}"))]);
        assert_eq!(a.bearer(&bearer("geheim-genug"), ip("192.0.2.1")), Ok(true));
        assert_eq!(a.bearer(&HeaderMap::new(), ip("192.0.2.1")), Ok(false));
        // The bearer and the form count against the same limiter.
        for _ in 0..3 {
            assert_eq!(a.bearer(&bearer("geheim"), ip("192.0.2.9")), Ok(false));
            assert_eq!(a.attempt(ip("192.0.2.9"), "nope"), Ok(false));
        }
        assert!(a.attempt(ip("192.0.2.9"), "geheim-genug").is_err());
        assert!(a.bearer(&bearer("geheim-genug"), ip("192.0.2.9")).is_err());
        // Another client is not locked out.
        assert_eq!(a.attempt(ip("192.0.2.1"), "geheim-genug"), Ok(true));
        assert!(Auth::new(None).allows(&HeaderMap::new()));
    }

    #[test]
    fn posts_from_another_site_are_refused() {
        let host = (header::HOST, "192.168.178.20:8080");
        assert!(same_origin(&with(std::slice::from_ref(&host))));
        assert!(same_origin(&with(&[
            host.clone(),
            (header::ORIGIN, "http://192.168.178.20:8080")
        ])));
        assert!(!same_origin(&with(&[
            host,
            (header::ORIGIN, "https://evil.example")
        ])));
    }
}
