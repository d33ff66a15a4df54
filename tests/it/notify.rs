//! `[[notify]]` presets against local HTTP stand-ins of ntfy, Telegram's
//! bot API and a webhook, on loopback: one blocked call, three messages,
//! each as the service expects it; a rule filter that does not match sends
//! nothing.

use std::io::{BufRead, BufReader, Read, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use minisip4fb_emulator::{CallOutcome, CallSpec, Caller};

use crate::common;

/// A request as the stand-in got it: the request line, headers, body.
#[derive(Debug, Clone)]
struct Got {
    line: String,
    headers: Vec<(String, String)>,
    body: String,
}

impl Got {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Answers every request with 200 and `{"ok":true}`, keeping what came.
fn stand_in() -> (u16, Arc<Mutex<Vec<Got>>>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let got = Arc::new(Mutex::new(Vec::new()));
    let g = got.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(20).flatten() {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let mut r = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            if r.read_line(&mut line).is_err() {
                continue;
            }
            let mut headers = Vec::new();
            loop {
                let mut h = String::new();
                if r.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
                    break;
                }
                if let Some((k, v)) = h.trim_end().split_once(':') {
                    headers.push((k.to_owned(), v.trim().to_owned()));
                }
            }
            let len = headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                .and_then(|(_, v)| v.parse::<usize>().ok())
                .unwrap_or(0)
                .min(1 << 16);
            let mut body = vec![0; len];
            let _ = r.read_exact(&mut body);
            g.lock().unwrap().push(Got {
                line: line.trim_end().to_owned(),
                headers,
                body: String::from_utf8_lossy(&body).into_owned(),
            });
            let mut s = stream;
            let _ = s.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\nConnection: close\r\n\r\n{\"ok\":true}",
            );
        }
    });
    (port, got)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ntfy_telegram_and_a_webhook() {
    let (port, got) = stand_in();
    let dir = common::fresh_dir("notify", "three");
    std::fs::write(dir.join("password"), "geheim123\n").unwrap();
    std::fs::write(dir.join("bot-token"), "123456:ABC-secret\n").unwrap();
    let cfg = dir.join("config.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"[fritzbox]
user = "620"
password_file = "password"
[[rule]]
name = "premium"
numbers = ["0900*"]
action = "terminate"
[[rule]]
name = "family"
numbers = ["030111222"]
action = "ring"
[[notify]]
service = "ntfy"
url = "http://127.0.0.1:{port}/spam-alerts"
language = "de"
priority = "high"
tags = ["no_entry_sign"]
[[notify]]
service = "telegram"
api = "http://127.0.0.1:{port}"
token_file = "bot-token"
chat_id = "4711"
[[notify]]
service = "webhook"
url = "http://127.0.0.1:{port}/hook"
body = '{{"text": "{{caller}} blocked: {{reason}}", "rule": "{{rule}}"}}'
[[notify]]
service = "webhook"
url = "http://127.0.0.1:{port}/family-only"
events = ["call"]
rules = ["family"]
"#
        ),
    )
    .unwrap();
    let emu = common::usual_box(51).await;
    let d = common::Proc::spawn_logged(&mut common::against_box(&["run"], &cfg, emu.addr()));
    emu.wait_for_binding(Duration::from_secs(10))
        .await
        .expect("registers");
    assert!(
        d.wait_for("2 rule(s)", Duration::from_secs(10)).await,
        "{}",
        d.log()
    );
    let call = CallSpec::new(Caller::National("09005551234".into()));
    assert_eq!(emu.call(call).await.outcome, CallOutcome::TerminatedByPhone);
    // Then a family call: the family-only webhook's one message. Events
    // reach the hooks in order, so once it is there, the premium call's
    // would have been too, had the filter let it through.
    let family = CallSpec::new(Caller::National("030111222".into()))
        .cancel_after(Duration::from_millis(300));
    assert_eq!(
        emu.call(family).await.outcome,
        CallOutcome::RangUntilCancelled
    );
    let family_only = |g: &[Got]| {
        g.iter()
            .filter(|g| g.line.starts_with("POST /family-only "))
            .count()
    };
    for _ in 0..200 {
        let g = got.lock().unwrap().clone();
        if g.len() >= 4 && family_only(&g) >= 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let got = got.lock().unwrap().clone();
    assert_eq!(
        got.len(),
        4,
        "three for the blocked call, one for the family's: {got:#?}\n{}",
        d.log()
    );
    assert_eq!(family_only(&got), 1, "{got:#?}");
    assert!(
        got.iter()
            .any(|g| g.line.starts_with("POST /family-only ") && g.body.contains("030111222")),
        "{got:#?}"
    );
    let by = |path: &str| {
        got.iter()
            .find(|g| g.line.starts_with(&format!("POST {path} ")))
            .unwrap_or_else(|| panic!("POST {path}: {got:#?}"))
    };
    let ntfy = by("/spam-alerts");
    assert_eq!(ntfy.header("Title"), Some("minisip4fb: Anruf blockiert"));
    assert_eq!(ntfy.header("Priority"), Some("high"));
    assert_eq!(ntfy.header("Tags"), Some("no_entry_sign"));
    assert!(
        ntfy.body
            .starts_with("+49 9005551234 → 0301111111: beenden – Regel 1 \"premium\""),
        "{}",
        ntfy.body
    );
    let tg = by("/bot123456:ABC-secret/sendMessage");
    let msg: serde_json::Value = serde_json::from_str(&tg.body).unwrap();
    assert_eq!(msg["chat_id"], "4711");
    assert!(
        msg["text"]
            .as_str()
            .unwrap()
            .starts_with("minisip4fb: Call blocked\n+49 9005551234"),
        "{msg}"
    );
    let hook = by("/hook");
    let v: serde_json::Value = serde_json::from_str(&hook.body).expect(&hook.body);
    assert_eq!(v["rule"], "1 \"premium\"");
    assert!(
        v["text"]
            .as_str()
            .unwrap()
            .starts_with("09005551234 blocked: rule 1 \"premium\""),
        "{v}"
    );
    assert!(
        !d.log().contains("ABC-secret"),
        "the bot's token is never logged"
    );
}
