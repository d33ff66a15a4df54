//! Where the daemon's events go besides the call log: hooks, push
//! services and MQTT. Each takes the vocabulary of [`crate::call`] and
//! needs nothing of the daemon or of the others (the web side, an outlet
//! too, has a room of its own: [`crate::web`]).
//!
//! Hooks and push run from one pool ([`Tellers`]), beside the calls,
//! never before a decision: a bounded queue feeds a few workers, so a
//! flood of events drops runs (and says so) instead of piling up
//! processes and threads.

pub mod hooks;
pub mod mqtt;
pub mod push;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{broadcast, mpsc};

use crate::call::{DaemonEvent, EventKind};
use crate::config;
use hooks::{Hook, HookProblem, Running};
use push::Preset;

/// How long a hook or push may take without a `timeout`.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Runs at once, at most.
const WORKERS: usize = 4;
/// Runs waiting for a worker, at most; more are dropped and counted.
const QUEUE: usize = 256;

/// The events a hook or push asks for; `terminated` if none.
fn events_or_default(asked: &[EventKind]) -> Vec<EventKind> {
    if asked.is_empty() {
        vec![EventKind::Terminated]
    } else {
        asked.to_vec()
    }
}

/// One way of telling an event to someone.
#[derive(Debug, Clone)]
enum Teller {
    Hook(Hook),
    Push(Arc<Preset>),
}

impl Teller {
    fn wants(&self, event: &DaemonEvent) -> bool {
        match self {
            Teller::Hook(h) => h.events.contains(&event.kind()),
            Teller::Push(p) => p.wants(event),
        }
    }

    async fn tell(&self, event: &DaemonEvent, running: &Running) -> Result<(), String> {
        match self {
            Teller::Hook(h) => h.fire(event, running).await.map_err(|e| e.to_string()),
            Teller::Push(p) => {
                let (p, event) = (p.clone(), event.clone());
                tokio::task::spawn_blocking(move || p.send(&event))
                    .await
                    .map_err(|e| e.to_string())?
                    .map_err(|e| e.to_string())
            }
        }
    }
}

/// A `[[hook]]` or `[[notify]]` (1-based) that cannot be used, and why.
#[derive(Debug, thiserror::Error)]
pub enum TellerConfigError {
    #[error("[[hook]] {index}: {problem}")]
    Hook {
        index: usize,
        #[source]
        problem: HookProblem,
    },
    #[error("[[notify]] {index}: {problem}")]
    Notify {
        index: usize,
        #[source]
        problem: push::PushConfigError,
    },
}

/// The hooks and push presets, run from one pool.
#[derive(Debug)]
pub struct Tellers(Vec<Teller>);

impl Tellers {
    /// The hooks and the notify presets.
    pub fn new(
        hooks: &[config::Hook],
        notify: &[config::Notify],
    ) -> Result<Tellers, TellerConfigError> {
        let mut out = Vec::new();
        for (i, h) in hooks.iter().enumerate() {
            let hook = Hook::new(h).map_err(|problem| TellerConfigError::Hook {
                index: i + 1,
                problem,
            })?;
            out.push(Teller::Hook(hook));
        }
        for (i, n) in notify.iter().enumerate() {
            let preset = Preset::new(n).map_err(|problem| TellerConfigError::Notify {
                index: i + 1,
                problem,
            })?;
            out.push(Teller::Push(Arc::new(preset)));
        }
        Ok(Tellers(out))
    }

    /// Feeds matching events to the workers until the bus closes.
    pub async fn run(self, mut rx: broadcast::Receiver<DaemonEvent>, running: Running) {
        let (tx, jobs) = mpsc::channel::<(Teller, DaemonEvent)>(QUEUE);
        let jobs = Arc::new(tokio::sync::Mutex::new(jobs));
        for _ in 0..WORKERS {
            let (jobs, running) = (jobs.clone(), running.clone());
            tokio::spawn(async move {
                loop {
                    let job = jobs.lock().await.recv().await;
                    let Some((teller, event)) = job else { return };
                    if let Err(e) = teller.tell(&event, &running).await {
                        tracing::warn!("hook for {} failed: {e}", event.kind().as_str());
                    }
                }
            });
        }
        let mut dropped = 0u64;
        loop {
            let event = match rx.recv().await {
                Ok(e) => e,
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!("hooks: {n} event(s) skipped, hooks too slow");
                    continue;
                }
                Err(_) => return,
            };
            for t in self.0.iter().filter(|t| t.wants(&event)) {
                if tx.try_send((t.clone(), event.clone())).is_err() {
                    dropped += 1;
                    if dropped.is_power_of_two() {
                        tracing::warn!(
                            "hooks: {dropped} run(s) dropped so far: more events than {WORKERS} workers can handle"
                        );
                    }
                }
            }
        }
    }
}
