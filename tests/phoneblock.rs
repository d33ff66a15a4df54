//! `minisip4fb phoneblock sync|status` against a stand-in of PhoneBlock's
//! API on loopback: a full download first, then only the changes.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::Command;
use std::sync::{Arc, Mutex};

mod common;
use common::BIN;

/// The stand-in: `/blocklist` in full (version 7) or since 7 (version 8),
/// `/test` ok for token `good`; every request line and its Authorization kept.
fn stand_in() -> (String, Arc<Mutex<Vec<String>>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/phoneblock/api", l.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    std::thread::spawn(move || {
        for c in l.incoming().take(32) {
            let Ok(mut c) = c else { continue };
            let _ = c.set_read_timeout(Some(std::time::Duration::from_secs(2)));
            let mut buf = vec![0; 8192];
            let n = c.read(&mut buf).unwrap_or(0);
            let req = String::from_utf8_lossy(&buf[..n]).into_owned();
            let line = req.lines().next().unwrap_or("").to_owned();
            let auth = req
                .lines()
                .find(|l| l.to_ascii_lowercase().starts_with("authorization:"))
                .unwrap_or("")
                .to_owned();
            s.lock().unwrap().push(format!("{line} | {auth}"));
            let (status, body) = if !auth.ends_with("Bearer good") {
                ("401 Unauthorized", String::new())
            } else if line.contains("/blocklist?since=7 ") {
                (
                    "200 OK",
                    r#"{"numbers":[{"phone":"+4930222","votes":0},{"phone":"+4930444","rating":"G_FRAUD","votes":50}],"version":8}"#.into(),
                )
            } else if line.contains("/blocklist ") {
                (
                    "200 OK",
                    r#"{"numbers":[{"phone":"+4930111","rating":"E_ADVERTISING","votes":20},{"phone":"+4930222","votes":2},{"phone":"+4930333","votes":4},{"phone":"garbage","votes":4}],"version":7}"#.into(),
                )
            } else if line.contains("/test ") {
                ("200 OK", "ok".into())
            } else {
                ("404 Not Found", String::new())
            };
            let _ = c.write_all(
                format!(
                    "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                )
                .as_bytes(),
            );
        }
    });
    (url, seen)
}

fn pb(dir: &std::path::Path, args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(BIN)
        .arg("phoneblock")
        .args(args)
        .arg("--config")
        .arg(dir.join("config.toml"))
        .env_remove("MINISIP4FB_PHONEBLOCK_TOKEN")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text)
}

#[test]
fn a_full_sync_then_only_the_changes() {
    let (url, seen) = stand_in();
    let dir = common::fresh_dir("phoneblock", "sync");
    std::fs::write(dir.join("token"), "good\n").unwrap();
    std::fs::write(
        dir.join("config.toml"),
        format!("[phoneblock]\napi = \"{url}\"\ntoken_file = \"token\"\n"),
    )
    .unwrap();
    let (code, out) = pb(&dir, &["sync"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains(
            "full sync: 3 added, 0 updated, 0 removed; 3 numbers, version 7; 1 entries refused"
        ),
        "{out}"
    );
    let (code, out) = pb(&dir, &["sync"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("incremental sync: 1 added, 0 updated, 1 removed; 3 numbers, version 8"),
        "{out}"
    );
    let (code, out) = pb(&dir, &["status"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("copy: version 8, 3 numbers (3 with at least 4 votes)"),
        "{out}"
    );
    assert!(out.contains("token ([phoneblock] token_file"), "{out}");
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert!(seen.iter().all(|r| r.ends_with("Bearer good")), "{seen:?}");
    assert!(
        seen[1].starts_with("GET /phoneblock/api/blocklist?since=7 "),
        "{seen:?}"
    );

    // A wrong token: one clear line naming where it came from; the copy stays.
    std::fs::write(dir.join("token"), "wrong\n").unwrap();
    let (code, out) = pb(&dir, &["sync"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("the copy is unchanged: PhoneBlock refused the token (HTTP 401): check [phoneblock] token_file"),
        "{out}"
    );
    std::fs::write(dir.join("token"), "good\n").unwrap();
    let (_, out) = pb(&dir, &["status"]);
    assert!(out.contains("copy: version 8, 3 numbers"), "{out}");
}

#[test]
fn no_token_is_a_clear_error() {
    let dir = common::fresh_dir("phoneblock", "notoken");
    std::fs::write(dir.join("config.toml"), "[phoneblock]\n").unwrap();
    let (code, out) = pb(&dir, &["sync"]);
    assert_eq!(code, Some(2), "{out}");
    assert!(
        out.contains(
            "no PhoneBlock token: set token_file in [phoneblock] or env MINISIP4FB_PHONEBLOCK_TOKEN"
        ),
        "{out}"
    );
}

/// The daemon decides from the local copy: a number with enough votes is
/// terminated with the votes as its reason, one with fewer rings; no
/// request to PhoneBlock on the way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_terminates_community_numbers_from_the_copy() {
    use minisip4fb::emulator::{CallOutcome, CallSpec, Caller};
    use std::time::Duration;
    let (url, seen) = stand_in();
    let dir = common::fresh_dir("phoneblock", "daemon");
    std::fs::write(dir.join("token"), "good\n").unwrap();
    std::fs::write(dir.join("password"), "geheim123\n").unwrap();
    std::fs::write(
        dir.join("config.toml"),
        format!(
            r#"[fritzbox]
user = "620"
password_file = "password"
[numbers]
country = "DE"
[phoneblock]
api = "{url}"
token_file = "token"
[[rule]]
name = "community"
lists = ["phoneblock:community"]
action = "terminate"
"#
        ),
    )
    .unwrap();
    let (code, out) = pb(&dir, &["sync"]);
    assert_eq!(code, Some(0), "{out}");
    let requests = seen.lock().unwrap().len();
    let emu = common::usual_box(11).await;
    let d = common::Proc::spawn_logged(
        common::against_box(&["run"], &dir.join("config.toml"), emu.addr())
            .env_remove("MINISIP4FB_PHONEBLOCK_TOKEN"),
    );
    emu.wait_for_binding(Duration::from_secs(10))
        .await
        .expect("registers");
    assert!(
        d.wait_for("1 rule(s)", Duration::from_secs(20)).await,
        "{}",
        d.log()
    );
    assert!(
        d.log().contains("PhoneBlock copy: 3 numbers, version 7"),
        "{}",
        d.log()
    );
    let call = |n: &str, ring_ms| {
        CallSpec::new(Caller::National(n.into())).cancel_after(Duration::from_millis(ring_ms))
    };
    assert_eq!(
        emu.call(call("030111", 5000)).await.outcome,
        CallOutcome::TerminatedByPhone,
        "20 votes"
    );
    assert_eq!(
        emu.call(call("030222", 300)).await.outcome,
        CallOutcome::RangUntilCancelled,
        "2 votes are fewer than min_votes 4"
    );
    assert!(
        d.wait_for(
            "+4930111 has 20 PhoneBlock votes (E_ADVERTISING)",
            Duration::from_secs(10)
        )
        .await,
        "{}",
        d.log()
    );
    assert_eq!(
        seen.lock().unwrap().len(),
        requests,
        "no request to PhoneBlock per call"
    );
    assert_eq!(emu.violations().await, Vec::<String>::new());
}
