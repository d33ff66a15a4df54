//! The Box's call monitor (TCP port 1012, FRITZBOX.md): one line per
//! event of every call the Box sees, for every client connected, whether
//! or not a phone got the call. `RING` when a call comes in (also one the
//! Box bars itself, and one no registered phone is there for), `CONNECT`
//! when a phone answers, `DISCONNECT` when it ends.

use std::collections::VecDeque;
use std::net::SocketAddr;

use tokio::io::AsyncWriteExt;
use tokio::sync::broadcast;

use crate::Report;

/// Calls whose `DISCONNECT` is still to come, at most (a test's few).
const OPEN: usize = 64;

/// The lines of calls in progress: their connection ids.
#[derive(Debug, Default)]
pub(crate) struct Lines {
    next: u32,
    /// (connection id, caller, called) of calls not yet over.
    open: VecDeque<(u32, String, String)>,
}

impl Lines {
    fn now() -> String {
        chrono::Local::now().format("%d.%m.%y %H:%M:%S").to_string()
    }

    /// `RING` for a call from `caller` (empty: withheld) to `called`.
    pub(crate) fn ring(&mut self, caller: &str, called: &str) -> String {
        let id = self.next;
        self.next = self.next.wrapping_add(1);
        if self.open.len() >= OPEN {
            self.open.pop_front();
        }
        self.open
            .push_back((id, caller.to_owned(), called.to_owned()));
        format!("{};RING;{id};{caller};{called};SIP0;", Self::now())
    }

    fn id(&self, caller: &str, called: &str) -> Option<u32> {
        self.open
            .iter()
            .find(|(_, a, b)| a == caller && b == called)
            .map(|(id, ..)| *id)
    }

    /// `CONNECT`: the phone at internal number `extension` answered.
    pub(crate) fn connect(&self, caller: &str, called: &str, extension: &str) -> Option<String> {
        let id = self.id(caller, called)?;
        Some(format!(
            "{};CONNECT;{id};{extension};{caller};",
            Self::now()
        ))
    }

    /// `DISCONNECT` after `seconds` of talk.
    pub(crate) fn disconnect(
        &mut self,
        caller: &str,
        called: &str,
        seconds: u64,
    ) -> Option<String> {
        let at = self
            .open
            .iter()
            .position(|(_, a, b)| a == caller && b == called)?;
        let (id, ..) = self.open.remove(at)?;
        Some(format!("{};DISCONNECT;{id};{seconds};", Self::now()))
    }
}

/// Serves the monitor's lines (`Report::Monitor`) to every client that
/// connects, from its connection on; a slow client loses lines, never
/// holds the Box up.
pub(crate) async fn serve(listener: tokio::net::TcpListener, reports: broadcast::Sender<Report>) {
    loop {
        let Ok((mut stream, _)): std::io::Result<(tokio::net::TcpStream, SocketAddr)> =
            listener.accept().await
        else {
            continue;
        };
        let mut rx = reports.subscribe();
        tokio::spawn(async move {
            loop {
                match rx.recv().await {
                    Ok(Report::Monitor(line)) => {
                        if stream
                            .write_all(format!("{line}\r\n").as_bytes())
                            .await
                            .is_err()
                        {
                            return;
                        }
                    }
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        });
    }
}
