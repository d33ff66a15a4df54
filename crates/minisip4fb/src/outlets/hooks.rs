//! `[[hook]]`s: run a command or POST JSON to a URL on daemon events. A
//! slow hook is cut off at its timeout, and every hook process still
//! running when the daemon stops is killed with its process group. They
//! run from the outlets' pool ([`super::Tellers`]).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::call::{DaemonEvent, EventKind};
use crate::config;

#[derive(Debug, Clone)]
enum Target {
    /// Program and arguments, run without a shell; event data in the environment.
    Command(Vec<String>),
    Url(String),
}

/// One `[[hook]]`, ready.
#[derive(Debug, Clone)]
pub struct Hook {
    /// The events that run it.
    pub events: Vec<EventKind>,
    target: Target,
    /// How long a run may take.
    pub timeout: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum HookProblem {
    #[error("url {0:?}: only http:// URLs (use a command hook with curl for https)")]
    NotHttp(String),
    #[error("needs command = [\"program\", \"arg\"…] or url = \"http://…\"")]
    NoTarget,
    #[error("give either command or url, not both")]
    TwoTargets,
}

/// Why one run of a hook failed (logged; the call is not affected).
#[derive(Debug, thiserror::Error)]
pub enum FireError {
    #[error("cannot start {program:?}: {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error("{program:?} exited with {status}")]
    Exit {
        program: String,
        status: std::process::ExitStatus,
    },
    #[error("waiting for {program:?}: {source}")]
    Wait {
        program: String,
        source: std::io::Error,
    },
    #[error("{program:?} took longer than {timeout:?}; killed")]
    Timeout { program: String, timeout: Duration },
    #[error("POST {url}: {source}")]
    Post { url: String, source: ureq::Error },
    #[error("the POST's worker ended: {0}")]
    Worker(#[from] tokio::task::JoinError),
}

impl Hook {
    /// A `[[hook]]` as the config gives it.
    pub fn new(h: &config::Hook) -> Result<Hook, HookProblem> {
        let target = match (&h.command[..], &h.url) {
            ([], Some(url)) if url.starts_with("http://") => Target::Url(url.clone()),
            ([], Some(url)) => return Err(HookProblem::NotHttp(url.clone())),
            ([], None) => return Err(HookProblem::NoTarget),
            (cmd, None) => Target::Command(cmd.to_vec()),
            (_, Some(_)) => return Err(HookProblem::TwoTargets),
        };
        Ok(Hook {
            events: super::events_or_default(&h.events),
            target,
            timeout: h.timeout.map_or(super::DEFAULT_TIMEOUT, |t| t.0),
        })
    }

    /// Runs the command (its process group in `running` meanwhile) or
    /// POSTs the event, within the hook's timeout.
    pub async fn fire(&self, event: &DaemonEvent, running: &Running) -> Result<(), FireError> {
        fire(self, event, running).await
    }
}

/// Process groups of the hook commands still running, to kill at exit.
#[derive(Clone, Default)]
pub struct Running(Arc<Mutex<HashSet<u32>>>);

impl Running {
    fn set(&self) -> std::sync::MutexGuard<'_, HashSet<u32>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Kills every hook process still running, with its children.
    pub fn kill_all(&self) {
        for pid in self.set().drain() {
            kill_group(pid);
        }
    }
}

#[cfg(unix)]
fn kill_group(pid: u32) {
    if let Ok(pid) = i32::try_from(pid) {
        // SAFETY: kill(2) with a negative pid signals that process group:
        // the hook's own, made by process_group(0) below.
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
        }
    }
}

#[cfg(not(unix))]
fn kill_group(_pid: u32) {}

/// The event as `MINISIP4FB_*` environment variables.
fn env_of(event: &DaemonEvent) -> Vec<(String, String)> {
    let json = serde_json::to_value(event).unwrap_or_default();
    // JSON escapes a NUL (\u0000), so the raw value survives here.
    let mut out = vec![("MINISIP4FB_JSON".to_owned(), json.to_string())];
    if let Some(obj) = json.as_object() {
        for (k, v) in obj {
            let v = match v {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Null => String::new(),
                other => other.to_string(),
            };
            // A NUL cannot be in an environment variable; the raw value is in MINISIP4FB_JSON.
            let v = v.replace('\0', "");
            out.push((format!("MINISIP4FB_{}", k.to_ascii_uppercase()), v));
        }
    }
    out
}

async fn fire(h: &Hook, event: &DaemonEvent, running: &Running) -> Result<(), FireError> {
    match &h.target {
        Target::Command(cmd) => {
            let program = || cmd[0].clone();
            let mut c = tokio::process::Command::new(&cmd[0]);
            c.args(&cmd[1..])
                .envs(env_of(event))
                .stdin(std::process::Stdio::null())
                .kill_on_drop(true);
            // Its own process group, so a timeout or the daemon's exit
            // ends what it started too.
            #[cfg(unix)]
            c.process_group(0);
            let mut child = c.spawn().map_err(|source| FireError::Spawn {
                program: program(),
                source,
            })?;
            let pid = child.id();
            if let Some(pid) = pid {
                running.set().insert(pid);
            }
            let waited = tokio::time::timeout(h.timeout, child.wait()).await;
            if let Some(pid) = pid {
                running.set().remove(&pid);
                if waited.is_err() {
                    kill_group(pid);
                }
            }
            match waited {
                Ok(Ok(s)) if s.success() => Ok(()),
                Ok(Ok(status)) => Err(FireError::Exit {
                    program: program(),
                    status,
                }),
                Ok(Err(source)) => Err(FireError::Wait {
                    program: program(),
                    source,
                }),
                Err(_) => {
                    let _ = child.kill().await;
                    Err(FireError::Timeout {
                        program: program(),
                        timeout: h.timeout,
                    })
                }
            }
        }
        Target::Url(url) => {
            // A DaemonEvent is plain data: serialising it cannot fail.
            let body = serde_json::to_string(event).unwrap_or_default();
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
                    .map_err(|source| FireError::Post { url, source })
            })
            .await?
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_hooks_are_named() {
        let h = |events: &[&str], command: &[&str], url: Option<&str>| config::Hook {
            events: events.iter().map(|s| s.parse().unwrap()).collect(),
            command: command.iter().map(|s| s.to_string()).collect(),
            url: url.map(str::to_owned),
            timeout: None,
        };
        assert!(Hook::new(&h(&["terminated"], &["true"], None)).is_ok());
        // An unknown event is refused where the file is read.
        let e = config::parse("[[hook]]\nevents = [\"explode\"]\ncommand = [\"true\"]\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown value \"explode\" in [[hook]] 1"), "{e}");
        assert!(
            Hook::new(&h(&[], &[], None))
                .unwrap_err()
                .to_string()
                .contains("needs command")
        );
        assert!(
            Hook::new(&h(&[], &[], Some("https://x")))
                .unwrap_err()
                .to_string()
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
            events: vec![EventKind::Terminated],
            target: Target::Command(vec!["sh".into(), "-c".into(), script]),
            timeout: Duration::from_secs(5),
        };
        let info = crate::call::Record {
            id: None,
            contact: false,
            log_only: None,
            time: "2026-12-03T10:00:00Z".parse().unwrap(),
            caller: crate::call::Caller {
                number: Some("09005551234; rm -rf /\0".into()),
                e164: None,
                name: None,
            },
            called: None,
            class: crate::call::CallerClass::External,
            decision: crate::call::Action::Terminate,
            action: crate::call::Action::Terminate,
            rule: None,
            reason: "r".into(),
            outcome: Some(crate::net::Outcome::Terminated),
            decision_ms: Some(0.1),
            bye_ms: None,
            account: None,
        };
        let running = Running::default();
        fire(&hook, &DaemonEvent::Terminated(info.clone()), &running)
            .await
            .unwrap();
        assert_eq!(
            std::fs::read_to_string(&out).unwrap(),
            "terminated|09005551234; rm -rf /",
            "caller data is data, not shell; a NUL is stripped, not fatal"
        );
        let _ = std::fs::remove_file(&out);
        let slow = Hook {
            timeout: Duration::from_millis(100),
            target: Target::Command(vec!["sleep".into(), "5".into()]),
            ..hook
        };
        // Killed at its timeout: a `sleep 5` that ran out would be a success.
        assert!(
            fire(&slow, &DaemonEvent::Terminated(info), &running)
                .await
                .unwrap_err()
                .to_string()
                .contains("killed")
        );
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
            events: vec![EventKind::RegistrationLost],
            target: Target::Url(url),
            timeout: Duration::from_secs(5),
        };
        fire(
            &hook,
            &DaemonEvent::RegistrationLost {
                time: "2026-12-03T10:00:00Z".parse().unwrap(),
                account: "620".into(),
                reason: "no answer".into(),
            },
            &Running::default(),
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
            req.contains(r#"{"event":"registration_lost","time":"2026-12-03T10:00:00.000Z","account":"620","reason":"no answer"}"#),
            "{req}"
        );
    }
}
