//! Serving HTTP to the LAN: every web surface goes through [`serve`], so
//! that each gets the same guards.
//!
//! - Host check: only an IP literal, `localhost` or a name the config
//!   lists (DNS rebinding: a page of `attacker.example` whose name now
//!   points here sends `Host: attacker.example`); others get 421.
//! - Time: the request's head must arrive within `header_timeout`, and a
//!   connection over which nothing moved for `idle_timeout` is closed.
//! - Count: at most `max_connections` at once; one more closes the
//!   connection that has been quiet longest. With the file descriptors
//!   raised at start ([`super::fds`]), calls, audio and hooks keep theirs.
//! - Size: a request's head at most 16 KiB.
//!
//! Each request carries the peer's address as axum's `ConnectInfo`.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, Response, StatusCode, header};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;
use tower::ServiceExt;

/// The names a request may address us by, besides IP literals and
/// `localhost`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hosts {
    names: Vec<String>,
}

impl Hosts {
    /// `names` as the config lists them (`pi.fritz.box`); case and a
    /// trailing dot do not matter.
    pub fn new<S: AsRef<str>>(names: impl IntoIterator<Item = S>) -> Hosts {
        Hosts {
            names: names.into_iter().map(|n| normal(n.as_ref())).collect(),
        }
    }

    /// Whether a `Host` header's value names us. An IP literal cannot be
    /// rebound, so any is fine; a name must be ours.
    pub fn allows(&self, host: &str) -> bool {
        let name = match host.strip_prefix('[') {
            Some(rest) => match rest.split_once(']') {
                Some((v6, port)) if port.is_empty() || is_port(port) => {
                    return v6.parse::<std::net::Ipv6Addr>().is_ok();
                }
                _ => return false,
            },
            None => match host.rsplit_once(':') {
                Some((name, port)) if is_port(port) => name,
                _ => host,
            },
        };
        if name.parse::<std::net::Ipv4Addr>().is_ok() {
            return true;
        }
        let name = normal(name);
        name == "localhost" || self.names.contains(&name)
    }
}

fn is_port(s: &str) -> bool {
    s.strip_prefix(':')
        .unwrap_or(s)
        .parse::<u16>()
        .is_ok_and(|_| !s.is_empty())
}

fn normal(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// The limits of one server.
#[derive(Debug, Clone)]
pub struct Limits {
    pub hosts: Hosts,
    pub max_connections: usize,
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            hosts: Hosts::default(),
            max_connections: 128,
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
        }
    }
}

/// The key a client's failures are counted under: its IPv4 address, or
/// the /64 of its IPv6 address (one host can have any address in it).
pub fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
        },
    }
}

/// An open connection: when something last moved over it, and how to
/// close it.
struct Open {
    last: Arc<AtomicU64>,
    stop: Arc<Notify>,
}

/// Serves `router` on `listener` with `limits` until the future is dropped.
pub async fn serve(listener: tokio::net::TcpListener, router: Router, limits: Limits) {
    let start = Instant::now();
    let open: Arc<Mutex<HashMap<u64, Open>>> = Arc::default();
    let limits = Arc::new(limits);
    let mut next_id = 0u64;
    let mut warned_at: Option<Instant> = None;
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(a) => a,
            Err(e) => {
                // Out of descriptors (EMFILE/ENFILE) or a connection reset
                // before we took it: say so now and then, and go on.
                if warned_at.is_none_or(|t| t.elapsed() > Duration::from_secs(60)) {
                    tracing::warn!("web: cannot accept a connection: {e}");
                    warned_at = Some(Instant::now());
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let id = next_id;
        next_id += 1;
        let last = Arc::new(AtomicU64::new(millis(start)));
        let stop = Arc::new(Notify::new());
        {
            let mut open = open.lock().unwrap_or_else(|p| p.into_inner());
            if open.len() >= limits.max_connections
                // The quietest; of equally quiet ones (a flood opened within
                // a millisecond), the oldest.
                && let Some(quietest) = open
                    .iter()
                    .min_by_key(|(id, o)| (o.last.load(Ordering::Relaxed), **id))
                    .map(|(id, _)| *id)
                && let Some(o) = open.remove(&quietest)
            {
                o.stop.notify_one();
            }
            open.insert(
                id,
                Open {
                    last: last.clone(),
                    stop: stop.clone(),
                },
            );
        }
        let router = router.clone();
        let limits = limits.clone();
        let open = open.clone();
        tokio::spawn(async move {
            connection(stream, peer, router, &limits, start, last, stop).await;
            open.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
        });
    }
}

async fn connection(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    router: Router,
    limits: &Limits,
    start: Instant,
    last: Arc<AtomicU64>,
    stop: Arc<Notify>,
) {
    let hosts = limits.hosts.clone();
    let service = hyper::service::service_fn(move |mut req: Request<hyper::body::Incoming>| {
        let router = router.clone();
        let refused = refuse(&hosts, &req);
        req.extensions_mut().insert(ConnectInfo(peer));
        async move {
            if let Some(r) = refused {
                return Ok::<_, Infallible>(r);
            }
            router.oneshot(req.map(Body::new)).await
        }
    });
    let io = hyper_util::rt::TokioIo::new(Moving {
        inner: stream,
        last: last.clone(),
        start,
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        // RFC 9110 §5.4: a server may bound the size of the fields it takes.
        .max_buf_size(16 * 1024)
        .header_read_timeout(limits.header_timeout)
        .serve_connection(io, service);
    tokio::pin!(conn);
    let idle = limits.idle_timeout;
    loop {
        let quiet_until = start + Duration::from_millis(last.load(Ordering::Relaxed)) + idle;
        tokio::select! {
            _ = conn.as_mut() => return,
            () = stop.notified() => return,
            () = tokio::time::sleep_until(quiet_until.into()) => {
                if millis(start) >= last.load(Ordering::Relaxed) + idle.as_millis() as u64 {
                    return;
                }
            }
        }
    }
}

/// A request that must not reach the router: no `Host`, or not ours.
fn refuse<B>(hosts: &Hosts, req: &Request<B>) -> Option<Response<Body>> {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| req.uri().authority().map(|a| a.as_str()));
    let (status, text) = match host {
        None => (StatusCode::BAD_REQUEST, "no Host header"),
        Some(h) if hosts.allows(h) => return None,
        // RFC 9110 §15.5.20: not a name this server answers for.
        Some(_) => (
            StatusCode::MISDIRECTED_REQUEST,
            "unknown host: use the IP address, or add the name to [web] hosts",
        ),
    };
    Some(
        Response::builder()
            .status(status)
            .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
            .body(Body::from(text))
            .unwrap_or_default(),
    )
}

fn millis(start: Instant) -> u64 {
    start.elapsed().as_millis() as u64
}

/// A stream that notes when bytes last moved.
struct Moving {
    inner: tokio::net::TcpStream,
    last: Arc<AtomicU64>,
    start: Instant,
}

impl Moving {
    fn moved<T>(&self, r: &Poll<std::io::Result<T>>) {
        if matches!(r, Poll::Ready(Ok(_))) {
            self.last.store(millis(self.start), Ordering::Relaxed);
        }
    }
}

impl AsyncRead for Moving {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        self.moved(&r);
        r
    }
}

impl AsyncWrite for Moving {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.moved(&r);
        r
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_our_names_and_ip_literals() {
        let h = Hosts::new(["Pi.Fritz.Box."]);
        for ok in [
            "127.0.0.1",
            "127.0.0.1:8080",
            "192.168.178.20:8080",
            "[::1]:8080",
            "[fe80::1]",
            "localhost:8080",
            "LOCALHOST",
            "pi.fritz.box",
            "pi.fritz.box.:8080",
        ] {
            assert!(h.allows(ok), "{ok}");
        }
        for bad in [
            "rebind.attacker.example",
            "rebind.attacker.example:8080",
            "127.0.0.1.attacker.example",
            "localhost.attacker.example",
            "[::1",
            "[::1]x",
            "",
            "fritz.box",
        ] {
            assert!(!h.allows(bad), "{bad}");
        }
    }

    #[test]
    fn ipv6_clients_count_by_their_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        assert_eq!(client_key(a), client_key(b));
        assert_eq!(
            client_key("::ffff:192.0.2.7".parse().unwrap()),
            "192.0.2.7".parse::<IpAddr>().unwrap()
        );
    }
}
