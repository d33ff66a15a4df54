//! `minisip4fb run`: register and screen calls by block patterns.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Instant;

use clap::Args;

use crate::agent::{EndReason, Event};
use crate::net::{IncomingCall, Phone, PhoneConfig, Registration};

#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    /// The FRITZ!Box's SIP address, HOST[:PORT] (e.g. fritz.box or 192.168.178.1).
    #[arg(long, value_name = "HOST[:PORT]")]
    pub fritzbox: String,
    /// The IP phone's user name as set up in the FRITZ!Box.
    #[arg(long, value_name = "NAME")]
    pub user: String,
    /// Local address to listen on (0.0.0.0:5062 = all interfaces).
    #[arg(long, value_name = "IP:PORT", default_value = "0.0.0.0:5062")]
    pub bind: SocketAddr,
    /// Terminate calls from these numbers: exact (030123), prefix (0900*) or `anonymous`.
    #[arg(long, value_name = "PATTERN")]
    pub block: Vec<String>,
    /// Read the password from this file (else env MINISIP4FB_PASSWORD).
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
    /// Also accept SIP requests from this IP (the Box's own IP always is).
    #[arg(long, value_name = "IP")]
    pub trusted: Vec<IpAddr>,
    /// Registration lifetime to ask for, in seconds (the Box decides).
    #[arg(long, default_value_t = 300)]
    pub expires: u32,
    /// Log every SIP message (credentials redacted).
    #[arg(long, short)]
    pub verbose: bool,
}

/// One `--block` pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pattern {
    Exact(String),
    Prefix(String),
    Anonymous,
}

impl Pattern {
    pub fn parse(s: &str) -> Result<Pattern, String> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("anonymous") {
            return Ok(Pattern::Anonymous);
        }
        let (body, prefix) = match s.strip_suffix('*') {
            Some(b) => (b, true),
            None => (s, false),
        };
        let ok = !body.is_empty()
            && body
                .chars()
                .enumerate()
                .all(|(i, c)| c.is_ascii_digit() || (i == 0 && c == '+'));
        if !ok {
            return Err(format!(
                "bad block pattern {s:?}: use digits (optionally starting with +), a prefix ending in * (0900*), or anonymous"
            ));
        }
        Ok(if prefix {
            Pattern::Prefix(body.to_owned())
        } else {
            Pattern::Exact(body.to_owned())
        })
    }

    pub fn matches(&self, number: Option<&str>) -> bool {
        match (self, number) {
            (Pattern::Anonymous, n) => n.is_none(),
            (Pattern::Exact(p), Some(n)) => p == n,
            (Pattern::Prefix(p), Some(n)) => n.starts_with(p.as_str()),
            (_, None) => false,
        }
    }
}

impl std::fmt::Display for Pattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Pattern::Anonymous => f.write_str("anonymous"),
            Pattern::Exact(p) => f.write_str(p),
            Pattern::Prefix(p) => write!(f, "{p}*"),
        }
    }
}

/// The first pattern that blocks this caller; internal calls never match.
pub fn blocking_pattern<'a>(patterns: &'a [Pattern], call: &IncomingCall) -> Option<&'a Pattern> {
    let caller = call.caller();
    if caller.is_internal() {
        return None;
    }
    patterns
        .iter()
        .find(|p| p.matches(caller.number.as_deref()))
}

pub fn read_password(file: Option<&PathBuf>) -> Result<String, String> {
    if let Some(f) = file {
        let s = std::fs::read_to_string(f)
            .map_err(|e| format!("cannot read password file {}: {e}", f.display()))?;
        let p = s.lines().next().unwrap_or("").trim_end().to_owned();
        if p.is_empty() {
            return Err(format!("password file {} is empty", f.display()));
        }
        return Ok(p);
    }
    match std::env::var("MINISIP4FB_PASSWORD") {
        Ok(p) if !p.is_empty() => Ok(p),
        _ => Err("no password: set MINISIP4FB_PASSWORD or pass --password-file FILE".into()),
    }
}

/// Runs the phone until SIGINT/SIGTERM. Returns the process exit code.
pub async fn run(args: RunArgs) -> i32 {
    let patterns: Result<Vec<Pattern>, String> =
        args.block.iter().map(|p| Pattern::parse(p)).collect();
    let (patterns, password) = match (patterns, read_password(args.password_file.as_ref())) {
        (Ok(p), Ok(pw)) => (p, pw),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("minisip4fb: {e}");
            return 2;
        }
    };
    let mut config = PhoneConfig::new(&args.fritzbox, &args.user, &password);
    config.bind = args.bind;
    config.expires = args.expires;
    config.trusted = args.trusted.clone();
    let phone = match Phone::start(config).await {
        Ok(p) => p,
        Err(e) => {
            eprintln!("minisip4fb: {e}");
            return 1;
        }
    };
    tracing::info!(
        "phone {}@{} listening on {}, registering at {}; blocking: {}",
        args.user,
        args.fritzbox,
        phone.contact(),
        phone.registrar(),
        if patterns.is_empty() {
            "nothing".to_owned()
        } else {
            patterns
                .iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        }
    );
    serve(phone, patterns, None, shutdown_signal()).await
}

/// What the phone decided about one call, and what became of it.
#[derive(Debug, Clone)]
pub struct Decision {
    pub caller: crate::agent::CallerId,
    /// The pattern that blocked it, `None` when allowed.
    pub blocked_by: Option<String>,
    pub outcome: String,
}

/// Screens calls until `shutdown` resolves (then unregisters; returns 0)
/// or registration fails for good (returns 1). The one code path of
/// `run` and `demo`; each decision also goes to `decisions` if given.
pub async fn serve(
    mut phone: Phone,
    patterns: Vec<Pattern>,
    decisions: Option<tokio::sync::mpsc::UnboundedSender<Decision>>,
    shutdown: impl std::future::Future<Output = ()>,
) -> i32 {
    let mut events = phone.events();
    let log_task = tokio::spawn(async move {
        let mut was_registered = false;
        while let Ok(e) = events.recv().await {
            match e {
                Event::Registered { expires } if !was_registered => {
                    was_registered = true;
                    tracing::info!(
                        "registered at the FRITZ!Box (binding granted for {} s)",
                        expires.as_secs()
                    );
                }
                Event::RegistrationFailed {
                    reason,
                    retry_in: Some(d),
                } => {
                    was_registered = false;
                    tracing::warn!(
                        "registration failed: {reason}; retrying in {:.1} s",
                        d.as_secs_f64()
                    );
                }
                _ => {}
            }
        }
    });
    let failed = failed_for_good(phone.registration_updates());
    tokio::pin!(failed);
    tokio::pin!(shutdown);
    let code = loop {
        tokio::select! {
            call = phone.next_call() => match call {
                Some(call) => {
                    let patterns = patterns.clone();
                    let decisions = decisions.clone();
                    tokio::spawn(async move {
                        let d = screen(&patterns, call).await;
                        if let Some(tx) = decisions {
                            let _ = tx.send(d);
                        }
                    });
                }
                None => break 1,
            },
            _ = &mut shutdown => break 0,
            _ = &mut failed => break 1,
        }
    };
    log_task.abort();
    if code == 0 {
        tracing::info!("shutting down: unregistering");
        let _ = phone.shutdown().await;
    } else if let Registration::Failed { reason, .. } = phone.registration() {
        eprintln!("minisip4fb: {reason}");
    }
    code
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

async fn screen(patterns: &[Pattern], call: IncomingCall) -> Decision {
    let caller = call.caller().clone();
    let called = caller.called.clone().unwrap_or_else(|| "?".into());
    let blocked_by = blocking_pattern(patterns, &call).map(|p| p.to_string());
    let outcome = match &blocked_by {
        Some(p) => {
            let outcome = match call.terminate().await {
                Ok(EndReason::HungUp) => {
                    let ms = call.received_at().elapsed().as_secs_f64() * 1000.0;
                    format!("terminated (answered and hung up, {ms:.1} ms after the INVITE)")
                }
                Ok(r) => format!("ended: {r:?}"),
                Err(e) => format!("could not terminate: {e}"),
            };
            tracing::info!("call from {caller} to {called}: blocked by {p}; {outcome}");
            outcome
        }
        None => {
            let _ = call.ring().await;
            let started = Instant::now();
            let outcome = match call.ended().await {
                EndReason::Cancelled => {
                    "rang, then the caller hung up or another phone answered".to_owned()
                }
                r => format!("ended: {r:?}"),
            };
            tracing::info!(
                "call from {caller} to {called}: allowed; {outcome} after {:.1} s",
                started.elapsed().as_secs_f64()
            );
            outcome
        }
    };
    Decision {
        caller,
        blocked_by,
        outcome,
    }
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            return std::future::pending().await;
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        assert!(
            Pattern::parse("0900*")
                .unwrap()
                .matches(Some("09005551234"))
        );
        assert!(!Pattern::parse("0900*").unwrap().matches(Some("0301234")));
        assert!(
            Pattern::parse("+4930123")
                .unwrap()
                .matches(Some("+4930123"))
        );
        assert!(Pattern::parse("anonymous").unwrap().matches(None));
        assert!(!Pattern::parse("0*").unwrap().matches(None));
        assert!(Pattern::parse("09x*").is_err());
        assert!(Pattern::parse("*").is_err());
    }
}
