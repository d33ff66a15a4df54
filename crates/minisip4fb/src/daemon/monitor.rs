//! Calls that never reached us: the Box's call monitor (TCP port 1012)
//! shows every call the Box sees; a `RING` for a number this account's
//! phone rings for, with no INVITE from that caller within [`GRACE`], is
//! said as `call_not_delivered`: the clearest sign that the Box stopped
//! ringing the phone. Bounded like every door: one line at most
//! [`MAX_LINE`] bytes, a few calls remembered, a reconnecting client with
//! backoff; nothing the monitor says decides a call.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt};
use tokio::sync::broadcast;
use tokio::time::Instant;

use crate::call::{DaemonEvent, Time};
use crate::fritzbox::monitor::{Line, MAX_LINE, parse, same_number};

/// How long after the Box's `RING` the INVITE may still come.
pub const GRACE: Duration = Duration::from_secs(3);
/// How long an INVITE counts for a `RING` written after it.
const BEFORE: Duration = Duration::from_secs(5);
/// Calls remembered each way, at most.
const REMEMBERED: usize = 64;
/// Reconnecting waits this long at most.
const MAX_BACKOFF: Duration = Duration::from_secs(60);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// One account's call monitor.
pub struct Watch {
    pub account: String,
    /// `HOST:PORT`.
    pub address: String,
    /// The household numbers its phone rings for; empty: all.
    pub incoming: Vec<String>,
    /// Whether the Box bars this caller itself (its RING then has no
    /// INVITE, rightly).
    pub barred: Box<dyn Fn(&str) -> bool + Send + Sync>,
}

/// A caller as both sides can say it: digits, or withheld.
fn same_caller(a: Option<&str>, b: Option<&str>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => same_number(a, b),
        _ => false,
    }
}

impl Watch {
    /// Watches until the daemon's event bus closes.
    pub async fn run(self, events: broadcast::Sender<DaemonEvent>) {
        let mut rx = events.subscribe();
        let mut backoff = Duration::from_secs(1);
        let mut said_down = false;
        loop {
            let stream = tokio::time::timeout(
                CONNECT_TIMEOUT,
                tokio::net::TcpStream::connect(&self.address),
            )
            .await;
            match stream {
                Ok(Ok(s)) => {
                    tracing::info!(
                        "call monitor of account {} at {}: connected",
                        self.account,
                        self.address
                    );
                    said_down = false;
                    backoff = Duration::from_secs(1);
                    if self.watch(s, &mut rx, &events).await.is_none() {
                        return;
                    }
                    tracing::warn!(
                        "call monitor of account {} at {}: connection lost; connecting again",
                        self.account,
                        self.address
                    );
                }
                failed => {
                    if !said_down {
                        said_down = true;
                        let why = match failed {
                            Ok(Err(e)) => e.to_string(),
                            _ => format!("no answer within {} s", CONNECT_TIMEOUT.as_secs()),
                        };
                        tracing::warn!(
                            "call monitor of account {} at {}: {why} (switch it on by dialling #96*5* on a phone of the Box); trying again quietly",
                            self.account,
                            self.address
                        );
                    }
                }
            }
            // Events while away are not missed calls we could tell.
            rx = rx.resubscribe();
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// Reads one connection until it ends (`Some`) or the event bus
    /// closes (`None`).
    async fn watch(
        &self,
        stream: tokio::net::TcpStream,
        rx: &mut broadcast::Receiver<DaemonEvent>,
        events: &broadcast::Sender<DaemonEvent>,
    ) -> Option<()> {
        let mut reader = tokio::io::BufReader::new(stream);
        // INVITEs that reached the phone: when, from whom.
        let mut reached: VecDeque<(Instant, Option<String>)> = VecDeque::new();
        // RINGs waiting for their INVITE: until when, caller, called.
        let mut waiting: VecDeque<(Instant, Option<String>, String)> = VecDeque::new();
        let mut buf = Vec::with_capacity(MAX_LINE + 1);
        loop {
            let due = waiting.front().map(|w| w.0);
            // Partial reads stay in `buf` when another branch wins
            // (read_until is cancel-safe); an overlong line is cut below.
            let mut limited = (&mut reader).take((MAX_LINE + 1 - buf.len().min(MAX_LINE)) as u64);
            tokio::select! {
                read = limited.read_until(b'\n', &mut buf) => {
                    match read {
                        Ok(0) | Err(_) => return Some(()),
                        Ok(_) => {}
                    }
                    // A line longer than any of the Box's: skipped to its end.
                    if buf.len() > MAX_LINE && buf.last() != Some(&b'\n') {
                        if skip_line(&mut reader).await.is_none() {
                            return Some(());
                        }
                        buf.clear();
                        continue;
                    }
                    let line = String::from_utf8_lossy(&buf).into_owned();
                    buf.clear();
                    let Some(Line::Ring { caller, called, .. }) = parse(&line) else {
                        continue;
                    };
                    if !(self.incoming.is_empty()
                        || self.incoming.iter().any(|n| same_number(n, &called)))
                    {
                        continue;
                    }
                    let now = Instant::now();
                    while reached.front().is_some_and(|r| now.duration_since(r.0) > BEFORE) {
                        reached.pop_front();
                    }
                    if let Some(i) = reached.iter().position(|r| same_caller(r.1.as_deref(), caller.as_deref())) {
                        reached.remove(i);
                        continue;
                    }
                    if waiting.len() >= REMEMBERED {
                        waiting.pop_front();
                    }
                    waiting.push_back((now + GRACE, caller, called));
                }
                e = rx.recv() => match e {
                    Ok(DaemonEvent::Call(r)) if r.account.as_deref() == Some(&self.account) => {
                        let caller = r.caller.number.clone();
                        match waiting.iter().position(|w| same_caller(w.1.as_deref(), caller.as_deref())) {
                            Some(i) => {
                                waiting.remove(i);
                            }
                            None => {
                                if reached.len() >= REMEMBERED {
                                    reached.pop_front();
                                }
                                reached.push_back((Instant::now(), caller));
                            }
                        }
                    }
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => return None,
                },
                () = crate::guard::until(due) => {
                    let now = Instant::now();
                    while waiting.front().is_some_and(|w| w.0 <= now) {
                        let Some((_, caller, called)) = waiting.pop_front() else { break };
                        if caller.as_deref().is_some_and(|c| (self.barred)(c)) {
                            continue;
                        }
                        tracing::warn!(
                            "the FRITZ!Box had a call from {} to {called} that never reached account {} within {} s: has it stopped ringing us?",
                            caller.as_deref().unwrap_or("a withheld number"),
                            self.account,
                            GRACE.as_secs()
                        );
                        let _ = events.send(DaemonEvent::CallNotDelivered {
                            time: Time::now(),
                            account: self.account.clone(),
                            caller,
                            called,
                        });
                    }
                }
            }
        }
    }
}

/// Reads on to the end of an overlong line, in bounded steps; `None` when
/// the connection ends.
async fn skip_line<R: tokio::io::AsyncBufRead + Unpin>(reader: &mut R) -> Option<()> {
    let mut scrap = Vec::with_capacity(MAX_LINE + 1);
    loop {
        scrap.clear();
        match reader
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut scrap)
            .await
        {
            Ok(0) | Err(_) => return None,
            Ok(_) if scrap.last() == Some(&b'\n') => return Some(()),
            Ok(_) => {}
        }
    }
}
