//! `[[hook]]`s: run a command or POST JSON to a URL on daemon events. They
//! run beside the calls, never before a decision: a slow or failing hook
//! delays nothing and is cut off at its timeout.

use std::time::Duration;

use tokio::sync::broadcast;

use super::DaemonEvent;
use crate::config;

const EVENTS: &[&str] = &[
    "call",
    "call_ended",
    "terminated",
    "registered",
    "registration_lost",
    "registration_restored",
];

#[derive(Debug, Clone)]
enum Target {
    /// Program and arguments, run without a shell; event data in the environment.
    Command(Vec<String>),
    Url(String),
}

#[derive(Debug, Clone)]
struct Hook {
    events: Vec<String>,
    target: Target,
    timeout: Duration,
}

#[derive(Debug)]
pub struct Hooks(Vec<Hook>);

impl Hooks {
    pub fn new(cfg: &[config::Hook]) -> Result<Hooks, String> {
        let mut out = Vec::new();
        for (i, h) in cfg.iter().enumerate() {
            let at = |e: String| format!("[[hook]] {}: {e}", i + 1);
            for e in &h.events {
                if !EVENTS.contains(&e.as_str()) {
                    return Err(at(format!(
                        "unknown event {e:?}, allowed: {}",
                        EVENTS.join(", ")
                    )));
                }
            }
            let target = match (&h.command[..], &h.url) {
                ([], Some(url)) if url.starts_with("http://") => Target::Url(url.clone()),
                ([], Some(url)) => {
                    return Err(at(format!(
                        "url {url:?}: only http:// URLs (use a command hook with curl for https)"
                    )));
                }
                ([], None) => {
                    return Err(at(
                        "needs command = [\"program\", \"arg\"…] or url = \"http://…\"".into(),
                    ));
                }
                (cmd, None) => Target::Command(cmd.to_vec()),
                (_, Some(_)) => return Err(at("give either command or url, not both".into())),
            };
            let timeout = match &h.timeout {
                Some(t) => config::parse_duration(t).map_err(|e| at(format!("timeout: {e}")))?,
                None => Duration::from_secs(10),
            };
            let events = if h.events.is_empty() {
                vec!["terminated".into()]
            } else {
                h.events.clone()
            };
            out.push(Hook {
                events,
                target,
                timeout,
            });
        }
        Ok(Hooks(out))
    }

    pub async fn run(self, mut rx: broadcast::Receiver<DaemonEvent>) {
        loop {
            let event = match rx.recv().await {
                Ok(e) => e,
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!("hooks: {n} event(s) skipped, hooks too slow");
                    continue;
                }
                Err(_) => return,
            };
            for h in self
                .0
                .iter()
                .filter(|h| h.events.iter().any(|e| e == event.name()))
            {
                let (h, event) = (h.clone(), event.clone());
                tokio::spawn(async move {
                    if let Err(e) = fire(&h, &event).await {
                        tracing::warn!("hook for {} failed: {e}", event.name());
                    }
                });
            }
        }
    }
}

/// The event as `MINISIP4FB_*` environment variables.
fn env_of(event: &DaemonEvent) -> Vec<(String, String)> {
    let json = serde_json::to_value(event).unwrap_or_default();
    let mut out = vec![("MINISIP4FB_JSON".to_owned(), json.to_string())];
    if let Some(obj) = json.as_object() {
        for (k, v) in obj {
            let v = match v {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Null => String::new(),
                other => other.to_string(),
            };
            out.push((format!("MINISIP4FB_{}", k.to_ascii_uppercase()), v));
        }
    }
    out
}

async fn fire(h: &Hook, event: &DaemonEvent) -> Result<(), String> {
    match &h.target {
        Target::Command(cmd) => {
            let mut c = tokio::process::Command::new(&cmd[0]);
            c.args(&cmd[1..])
                .envs(env_of(event))
                .stdin(std::process::Stdio::null())
                .kill_on_drop(true);
            let mut child = c
                .spawn()
                .map_err(|e| format!("cannot start {:?}: {e}", cmd[0]))?;
            match tokio::time::timeout(h.timeout, child.wait()).await {
                Ok(Ok(s)) if s.success() => Ok(()),
                Ok(Ok(s)) => Err(format!("{:?} exited with {s}", cmd[0])),
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => {
                    let _ = child.kill().await;
                    Err(format!(
                        "{:?} took longer than {:?}; killed",
                        cmd[0], h.timeout
                    ))
                }
            }
        }
        Target::Url(url) => {
            let body = serde_json::to_string(event).map_err(|e| e.to_string())?;
            let (url, timeout) = (url.clone(), h.timeout);
            tokio::task::spawn_blocking(move || {
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .timeout_global(Some(timeout))
                    .build()
                    .into();
                agent
                    .post(&url)
                    .header("Content-Type", "application/json")
                    .send(body.as_bytes())
                    .map(drop)
                    .map_err(|e| format!("POST {url}: {e}"))
            })
            .await
            .map_err(|e| e.to_string())?
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_hooks_are_named() {
        let h = |events: &[&str], command: &[&str], url: Option<&str>| config::Hook {
            events: events.iter().map(|s| s.to_string()).collect(),
            command: command.iter().map(|s| s.to_string()).collect(),
            url: url.map(str::to_owned),
            timeout: None,
        };
        assert!(Hooks::new(&[h(&["terminated"], &["true"], None)]).is_ok());
        assert!(
            Hooks::new(&[h(&["explode"], &["true"], None)])
                .unwrap_err()
                .contains("unknown event")
        );
        assert!(
            Hooks::new(&[h(&[], &[], None)])
                .unwrap_err()
                .contains("needs command")
        );
        assert!(
            Hooks::new(&[h(&[], &[], Some("https://x"))])
                .unwrap_err()
                .contains("only http://")
        );
    }

    #[tokio::test]
    async fn command_hook_gets_the_event_in_its_environment_and_a_timeout() {
        let out = std::env::temp_dir().join(format!("minisip4fb-hook-{}", std::process::id()));
        let script = format!(
            "printf '%s|%s' \"$MINISIP4FB_EVENT\" \"$MINISIP4FB_CALLER\" > {}",
            out.display()
        );
        let hook = Hook {
            events: vec!["terminated".into()],
            target: Target::Command(vec!["sh".into(), "-c".into(), script]),
            timeout: Duration::from_secs(5),
        };
        let info = super::super::CallInfo {
            time: "t".into(),
            caller: Some("09005551234; rm -rf /".into()),
            caller_e164: None,
            name: None,
            called: None,
            decision: "terminate".into(),
            action: "terminate".into(),
            rule: None,
            reason: "r".into(),
            outcome: Some("terminated".into()),
            decision_ms: 0.1,
            bye_ms: None,
        };
        fire(&hook, &DaemonEvent::Terminated(info.clone()))
            .await
            .unwrap();
        assert_eq!(
            std::fs::read_to_string(&out).unwrap(),
            "terminated|09005551234; rm -rf /",
            "caller data is data, not shell"
        );
        let _ = std::fs::remove_file(&out);
        let slow = Hook {
            timeout: Duration::from_millis(100),
            target: Target::Command(vec!["sleep".into(), "5".into()]),
            ..hook
        };
        let t = std::time::Instant::now();
        assert!(
            fire(&slow, &DaemonEvent::Terminated(info))
                .await
                .unwrap_err()
                .contains("killed")
        );
        assert!(t.elapsed() < Duration::from_secs(2));
    }

    #[tokio::test]
    async fn url_hook_posts_the_event_as_json() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = vec![0; 8192];
            let mut got = Vec::new();
            while !String::from_utf8_lossy(&got).contains("}") {
                let n = s.read(&mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
            }
            s.write_all(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")
                .await
                .unwrap();
            String::from_utf8(got).unwrap()
        });
        let hook = Hook {
            events: vec!["registration_lost".into()],
            target: Target::Url(url),
            timeout: Duration::from_secs(5),
        };
        fire(
            &hook,
            &DaemonEvent::RegistrationLost {
                time: "t".into(),
                reason: "no answer".into(),
            },
        )
        .await
        .unwrap();
        let req = server.await.unwrap();
        assert!(req.starts_with("POST /hook HTTP/1.1"), "{req}");
        assert!(
            req.to_ascii_lowercase()
                .contains("content-type: application/json"),
            "{req}"
        );
        assert!(
            req.contains(r#"{"event":"registration_lost","time":"t","reason":"no answer"}"#),
            "{req}"
        );
    }
}
