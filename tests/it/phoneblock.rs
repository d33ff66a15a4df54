//! `minisip4fb phoneblock sync|status` against a stand-in of PhoneBlock's
//! API on loopback: a full download first, then only the changes.

use std::process::Command;

use minisip4fb_emulator::phoneblock::{PhoneBlockConfig, PhoneBlockStandIn};

use crate::common;
use crate::common::BIN;

/// The stand-in as the tests know it: version 7 with three numbers and
/// an entry PhoneBlock would never send, one number on each personal list.
pub(crate) async fn stand_in() -> PhoneBlockStandIn {
    let listed = |p: &str, v, r: &str| (p.to_owned(), v, r.to_owned());
    PhoneBlockStandIn::start(PhoneBlockConfig {
        token: "good".into(),
        community: vec![
            listed("+4930111", 20, "E_ADVERTISING"),
            listed("+4930222", 2, "C_PING"),
            listed("+4930333", 4, "G_FRAUD"),
            listed("+4930777", 50, "G_FRAUD"),
            listed("garbage", 4, "G_FRAUD"),
        ],
        blacklist: vec![("+4930666".into(), "Gewinnspiel".into())],
        whitelist: vec![("+4930777".into(), "Praxis Dr. Weber".into())],
        version: 7,
        ..PhoneBlockConfig::default()
    })
    .await
    .expect("stand-in on loopback")
}

pub(crate) fn config(dir: &std::path::Path, url: &str, rest: &str) {
    std::fs::write(dir.join("token"), "good\n").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.join("token"), std::fs::Permissions::from_mode(0o600))
            .unwrap();
    }
    std::fs::write(
        dir.join("config.toml"),
        format!(
            "[numbers]\ncountry = \"DE\"\narea_code = \"030\"\n[phoneblock]\napi = \"{url}\"\ntoken_file = \"token\"\n{rest}"
        ),
    )
    .unwrap();
}

/// The rules of the example config: the personal whitelist rings, the
/// personal blacklist and the community terminate.
const RULES: &str = r#"
[[rule]]
name = "my PhoneBlock whitelist"
lists = ["phoneblock:whitelist"]
action = "ring"
[[rule]]
name = "my PhoneBlock blacklist"
lists = ["phoneblock:blacklist"]
action = "terminate"
[[rule]]
name = "PhoneBlock community"
lists = ["phoneblock:community"]
action = "terminate"
"#;

pub(crate) fn pb(dir: &std::path::Path, args: &[&str]) -> (Option<i32>, String) {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_sync_then_only_the_changes() {
    let api = stand_in().await;
    let dir = common::fresh_dir("phoneblock", "sync");
    config(&dir, &api.url(), "");
    let (code, out) = pb(&dir, &["sync"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("full sync: 4 added, 0 updated, 0 removed; 4 numbers, version 7 ("),
        "{out}"
    );
    assert!(
        out.contains(
            " ms CPU); 1 entries refused (not an E.164 number or bad votes), e.g. \"garbage\" / 4"
        ),
        "{out}"
    );
    assert!(
        out.contains("personal lists: 1 on the blacklist, 1 on the whitelist"),
        "{out}"
    );
    assert!(out.contains("spam ranges: 0 of at least 20 votes"), "{out}");
    api.set_votes("+4930222", 0, "C_PING");
    let v = api.set_votes("+4930444", 50, "G_FRAUD");
    let (code, out) = pb(&dir, &["sync"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains(&format!(
            "incremental sync: 1 added, 0 updated, 1 removed; 4 numbers, version {v}"
        )),
        "{out}"
    );
    let (code, out) = pb(&dir, &["status"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains(&format!(
            "copy: version {v}, 4 numbers (4 with at least 4 votes)"
        )),
        "{out}"
    );
    assert!(
        out.contains("your lists: 1 on the blacklist, 1 on the whitelist"),
        "{out}"
    );
    assert!(out.contains("token ([phoneblock] token_file"), "{out}");
    assert!(out.contains("account: dial prefix +49\n"), "{out}");
    let seen = api.requests();
    let paths: Vec<&str> = seen.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "/blocklist",
            // The ranges: once a month, not again at the next sync.
            "/blocklist?format=binary&type=community&minRange=20",
            "/blacklist",
            "/whitelist",
            // Your own ranges come only in the binary list.
            "/blocklist?format=binary&type=personal",
            "/blocklist?since=7",
            "/blacklist",
            "/whitelist",
            "/blocklist?format=binary&type=personal",
            "/test",
            "/account"
        ]
    );
    assert!(seen.iter().all(|r| r.authorized), "{seen:?}");
    assert_eq!(api.violations(), Vec::<String>::new());

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
    assert!(
        out.contains(&format!("copy: version {v}, 4 numbers")),
        "{out}"
    );
    // PhoneBlock asks to slow down: said so, the copy stays.
    api.fail_next(1, 429, Some(3600));
    let (code, out) = pb(&dir, &["sync"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("PhoneBlock asks to slow down (HTTP 429); retry after 3600 s"),
        "{out}"
    );
}

pub(crate) fn lookup(dir: &std::path::Path, number: &str) -> serde_json::Value {
    let out = Command::new(BIN)
        .args(["lookup", number, "--json", "--config"])
        .arg(dir.join("config.toml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {out:?}"))
}

/// `lookup` says what the rules would do and why, from the local copy
/// alone: a listed number, one below the threshold, one on the personal
/// whitelist (listed by the community too) and one on the blacklist.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lookup_decides_from_local_data_only() {
    let api = stand_in().await;
    let dir = common::fresh_dir("phoneblock", "lookup");
    config(&dir, &api.url(), RULES);
    let (code, out) = pb(&dir, &["sync"]);
    assert_eq!(code, Some(0), "{out}");
    let requests = api.requests().len();

    let hit = lookup(&dir, "030 111");
    assert_eq!(hit["decision"], "terminate", "{hit}");
    assert_eq!(hit["rule"], "3 \"PhoneBlock community\"", "{hit}");
    assert_eq!(
        hit["reason"],
        "rule 3 \"PhoneBlock community\": +4930111 has 20 PhoneBlock votes (E_ADVERTISING)"
    );
    assert_eq!(hit["phoneblock"]["votes"], 20);
    assert_eq!(hit["phoneblock"]["rating"], "E_ADVERTISING");

    let below = lookup(&dir, "+4930222");
    assert_eq!(below["decision"], "ring", "{below}");
    assert_eq!(below["rule"], serde_json::Value::Null);
    assert_eq!(
        below["phoneblock"]["votes"], 2,
        "in the copy, below min_votes"
    );

    let mine = lookup(&dir, "0049 30 777");
    assert_eq!(mine["decision"], "ring", "{mine}");
    assert_eq!(
        mine["reason"],
        "rule 1 \"my PhoneBlock whitelist\": +4930777 in phoneblock:whitelist (Praxis Dr. Weber)"
    );
    assert_eq!(
        mine["phoneblock"]["votes"], 50,
        "the whitelist wins over 50 votes"
    );

    let black = lookup(&dir, "030666");
    assert_eq!(black["decision"], "terminate", "{black}");
    assert_eq!(black["rule"], "2 \"my PhoneBlock blacklist\"");
    assert!(
        black.get("phoneblock").is_none(),
        "not in the community copy"
    );

    for not_a_number in ["abc", "0900-CALL-NOW"] {
        let out = Command::new(BIN)
            .args(["lookup", not_a_number, "--config"])
            .arg(dir.join("config.toml"))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("is not a phone number"), "{err}");
    }

    let text = Command::new(BIN)
        .args(["lookup", "030111", "--config"])
        .arg(dir.join("config.toml"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.starts_with("+4930111: terminate\n"), "{text}");
    assert!(
        text.contains("PhoneBlock: 20 votes (E_ADVERTISING)"),
        "{text}"
    );
    assert_eq!(
        api.requests().len(),
        requests,
        "lookup never asks PhoneBlock"
    );
}

/// `report NUMBER --rating R` rates the number at PhoneBlock.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_rates_a_number() {
    let api = stand_in().await;
    let dir = common::fresh_dir("phoneblock", "report");
    config(&dir, &api.url(), "");
    let out = Command::new(BIN)
        .args([
            "report",
            "030 123456",
            "--rating",
            "fraud",
            "--comment",
            "Gewinnspiel",
            "--config",
        ])
        .arg(dir.join("config.toml"))
        .env_remove("MINISIP4FB_PHONEBLOCK_TOKEN")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "rated +4930123456 as G_FRAUD at PhoneBlock\n"
    );
    assert_eq!(
        api.rated(),
        [(
            "+4930123456".to_owned(),
            "G_FRAUD".to_owned(),
            "Gewinnspiel".to_owned()
        )]
    );
    let out = Command::new(BIN)
        .args(["report", "030 123456", "--rating", "nice", "--config"])
        .arg(dir.join("config.toml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("unknown rating; use one of A_LEGITIMATE"),
        "{out:?}"
    );
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

/// The daemon with the example's PhoneBlock rules and an emulated Box.
pub(crate) fn daemon_config(dir: &std::path::Path, url: &str) {
    daemon_config_with(dir, url, "");
}

/// The same with more `[phoneblock]` settings.
pub(crate) fn daemon_config_with(dir: &std::path::Path, url: &str, phoneblock: &str) {
    std::fs::write(dir.join("password"), "geheim123\n").unwrap();
    config(
        dir,
        url,
        &format!("{phoneblock}[fritzbox]\nuser = \"620\"\npassword_file = \"password\"\n{RULES}"),
    );
}

pub(crate) fn run(dir: &std::path::Path, emu: &minisip4fb_emulator::Emulator) -> common::Proc {
    let events = std::fs::File::create(dir.join("events.jsonl")).unwrap();
    common::Proc::spawn_logged(
        common::against_box(
            &["run", "--events", "json"],
            &dir.join("config.toml"),
            emu.addr(),
        )
        .env_remove("MINISIP4FB_PHONEBLOCK_TOKEN")
        .stdout(events),
    )
}

pub(crate) fn call(n: &str, ring_ms: u64) -> minisip4fb_emulator::CallSpec {
    use minisip4fb_emulator::{CallSpec, Caller};
    CallSpec::new(Caller::National(n.into()))
        .cancel_after(std::time::Duration::from_millis(ring_ms))
}

/// The daemon keeps its own copy: without one it downloads the list and
/// your lists at start, then decides every call from memory (no request
/// per call), and reports a number the community list blocked, with the
/// token and its User-Agent. Restarted with a fresh copy, it asks nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_syncs_decides_from_the_copy_and_reports() {
    use minisip4fb_emulator::CallOutcome;
    use std::time::Duration;
    let api = stand_in().await;
    let dir = common::fresh_dir("phoneblock", "daemon");
    daemon_config(&dir, &api.url());
    let emu = common::usual_box(11).await;
    let mut d = run(&dir, &emu);
    emu.wait_for_binding(Duration::from_secs(10))
        .await
        .expect("registers");
    assert!(
        d.wait_for(
            "PhoneBlock: full sync: 4 added, 0 updated, 0 removed; 4 numbers, version 7",
            Duration::from_secs(20)
        )
        .await,
        "{}",
        d.log()
    );
    assert!(
        d.wait_for(
            "(your lists on PhoneBlock changed)",
            Duration::from_secs(20)
        )
        .await,
        "{}",
        d.log()
    );
    let requests = api.requests().len();
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
    assert_eq!(
        emu.call(call("030777", 300)).await.outcome,
        CallOutcome::RangUntilCancelled,
        "your whitelist overrides 50 votes"
    );
    assert_eq!(
        emu.call(call("030666", 5000)).await.outcome,
        CallOutcome::TerminatedByPhone,
        "your blacklist"
    );
    for reason in [
        "+4930111 has 20 PhoneBlock votes (E_ADVERTISING)",
        "+4930777 in phoneblock:whitelist (Praxis Dr. Weber)",
        "reported +4930111 to PhoneBlock",
    ] {
        assert!(
            d.wait_for(reason, Duration::from_secs(10)).await,
            "{reason}: {}",
            d.log()
        );
    }
    // Only the community's number is reported; no lookups per call.
    assert_eq!(api.reported(), ["004930111"]);
    let after: Vec<_> = api.requests()[requests..].to_vec();
    assert_eq!(after.len(), 1, "{after:?}");
    assert_eq!(after[0].path, "/report-call/004930111");
    assert!(after[0].authorized);
    assert_eq!(
        after[0].user_agent.as_deref(),
        Some(concat!("minisip4fb/", env!("CARGO_PKG_VERSION")))
    );
    assert_eq!(d.terminate().map(|s| s.code()), Some(Some(0)));
    let events = std::fs::read_to_string(dir.join("events.jsonl")).unwrap();
    let synced: serde_json::Value = events
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|e| e["event"] == "phoneblock_synced")
        .unwrap_or_else(|| panic!("no phoneblock_synced in {events}"));
    assert_eq!(
        (&synced["full"], &synced["total"], &synced["version"]),
        (
            &serde_json::json!(true),
            &serde_json::json!(4),
            &serde_json::json!(7)
        )
    );

    // A restart with a copy synced minutes ago: nothing to ask PhoneBlock.
    let requests = api.requests().len();
    let restarted = std::time::Instant::now();
    let d = run(&dir, &emu);
    common::registered_after(&emu, restarted).await;
    assert!(
        d.wait_for(
            "PhoneBlock copy: 4 numbers, version 7",
            Duration::from_secs(20)
        )
        .await,
        "{}",
        d.log()
    );
    assert_eq!(
        emu.call(call("030111", 5000)).await.outcome,
        CallOutcome::TerminatedByPhone
    );
    assert!(
        d.wait_for("reported +4930111", Duration::from_secs(10))
            .await,
        "{}",
        d.log()
    );
    let paths: Vec<String> = api.requests()[requests..]
        .iter()
        .map(|r| r.path.clone())
        .collect();
    assert_eq!(paths, ["/report-call/004930111"], "no sync of a fresh copy");

    // The community forgives +4930111 and a sync by hand fetches that
    // (since=7); SIGHUP makes the running daemon read it.
    let v = api.set_votes("+4930111", 0, "E_ADVERTISING");
    let (code, out) = pb(&dir, &["sync"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("0 added, 0 updated, 1 removed; 3 numbers"),
        "{out}"
    );
    assert!(
        out.contains("PhoneBlock asks for one sync a day at most"),
        "{out}"
    );
    assert_eq!(
        api.requests().iter().rev().nth(3).map(|r| r.path.clone()),
        Some("/blocklist?since=7".to_owned())
    );
    d.signal("HUP");
    assert!(
        d.wait_for(
            &format!("PhoneBlock copy: 3 numbers, version {v}"),
            Duration::from_secs(10)
        )
        .await,
        "{}",
        d.log()
    );
    assert_eq!(
        emu.call(call("030111", 300)).await.outcome,
        CallOutcome::RangUntilCancelled,
        "no longer listed"
    );
    assert_eq!(api.violations(), Vec::<String>::new());
    assert_eq!(emu.violations().await, Vec::<String>::new());
}

/// PhoneBlock down when a report is due: the call is blocked all the same,
/// the report waits on disk through a restart and is sent at the next start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_outlives_an_outage_and_a_restart() {
    use minisip4fb_emulator::CallOutcome;
    use std::time::Duration;
    let api = stand_in().await;
    let dir = common::fresh_dir("phoneblock", "outage");
    daemon_config(&dir, &api.url());
    let (code, out) = pb(&dir, &["sync"]);
    assert_eq!(code, Some(0), "{out}");
    let emu = common::usual_box(12).await;
    let mut d = run(&dir, &emu);
    // Registered and the rules compiled (they may come in either order).
    emu.wait_for_binding(Duration::from_secs(10))
        .await
        .expect("registers");
    assert!(
        d.wait_for("3 rule(s)", Duration::from_secs(20)).await,
        "{}",
        d.log()
    );
    // The report during the run and the one tried at shutdown both fail.
    api.fail_next(2, 503, None);
    assert_eq!(
        emu.call(call("030333", 5000)).await.outcome,
        CallOutcome::TerminatedByPhone
    );
    assert!(
        d.wait_for(
            "cannot report +4930333 now, kept for later",
            Duration::from_secs(10)
        )
        .await,
        "{}",
        d.log()
    );
    let t = std::time::Instant::now();
    assert_eq!(d.terminate().map(|s| s.code()), Some(Some(0)));
    assert!(t.elapsed() < Duration::from_secs(8), "{:?}", t.elapsed());
    assert!(api.reported().is_empty());
    let d = run(&dir, &emu);
    assert!(
        d.wait_for("reported +4930333 to PhoneBlock", Duration::from_secs(20))
            .await,
        "{}",
        d.log()
    );
    assert_eq!(api.reported(), ["004930333"]);
    assert_eq!(api.violations(), Vec::<String>::new());
}

/// `check` says how old and big the copy is and whether the token works;
/// a refused token fails the check with the line that says where it is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_shows_the_copy_and_checks_the_token() {
    let api = stand_in().await;
    let dir = common::fresh_dir("phoneblock", "check");
    daemon_config(&dir, &api.url());
    let (code, out) = pb(&dir, &["sync"]);
    assert_eq!(code, Some(0), "{out}");
    let emu = common::usual_box(13).await;
    let check = || {
        common::against_box(&["check"], &dir.join("config.toml"), emu.addr())
            .env_remove("MINISIP4FB_PHONEBLOCK_TOKEN")
            .output()
            .unwrap()
    };
    let out = tokio::task::block_in_place(check);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(
        text.contains("PhoneBlock copy: version 7, 4 numbers (3 with at least 4 votes), synced "),
        "{text}"
    );
    assert!(
        text.contains("your lists: 1 on the blacklist, 1 on the whitelist"),
        "{text}"
    );
    assert!(text.contains("token ([phoneblock] token_file"), "{text}");
    assert!(text.contains("registered: the Box granted"), "{text}");
    std::fs::write(dir.join("token"), "wrong\n").unwrap();
    let out = tokio::task::block_in_place(check);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(
            "token: PhoneBlock refused the token (HTTP 401): check [phoneblock] token_file"
        ),
        "{out:?}"
    );
}

/// What the hostile server answers: these bytes, then this many spaces.
type Answer = std::sync::Arc<std::sync::Mutex<(Vec<u8>, usize)>>;

/// A server on PhoneBlock's address that answers every request with
/// `answer` as it is when the request comes.
fn hostile(answer: Answer) -> String {
    use std::io::{Read, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/phoneblock/api", l.local_addr().unwrap());
    std::thread::spawn(move || {
        for c in l.incoming().take(64) {
            let Ok(mut c) = c else { continue };
            let _ = c.set_read_timeout(Some(std::time::Duration::from_secs(2)));
            let mut buf = [0; 8192];
            let _ = c.read(&mut buf);
            let (head, filler) = answer.lock().unwrap().clone();
            let _ = c.write_all(&head);
            let chunk = vec![b' '; 1 << 20];
            for _ in 0..filler >> 20 {
                if c.write_all(&chunk).is_err() {
                    break;
                }
            }
        }
    });
    url
}

/// Hostile or broken answers to a sync: one clear line each, exit 1, and
/// the copy stays as it was. The list is parsed as it streams in (memory is
/// the entries, not the body); a flood is cut at 160 MB.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_answers_leave_the_copy_as_it_was() {
    let api = stand_in().await;
    let dir = common::fresh_dir("phoneblock", "hostile");
    config(&dir, &api.url(), "");
    let (code, out) = pb(&dir, &["sync"]);
    assert_eq!(code, Some(0), "{out}");
    let answer: Answer = Default::default();
    config(&dir, &hostile(answer.clone()), "");
    let http = |status: &str, body: &str| {
        format!(
            "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    };
    let flood = b"HTTP/1.1 200 OK\r\nContent-Length: 209715200\r\n\r\n{\"numbers\":[".to_vec();
    let cut = http("200 OK", "{\"numbers\":[{\"phone\":\"+4930");
    let cut = cut[..cut.len() - 4].to_vec();
    let cases: Vec<((Vec<u8>, usize), &str)> = vec![
        (
            (http("200 OK", "<html>maintenance</html>"), 0),
            "PhoneBlock's answer is not the expected JSON",
        ),
        (
            (http("200 OK", r#"{"numbers":[],"version":3}"#), 0),
            "PhoneBlock's version went backwards (7 → 3); keeping the copy",
        ),
        (
            (http("500 Internal Server Error", ""), 0),
            "PhoneBlock answered HTTP 500 to GET /blocklist?since=7",
        ),
        (
            (flood, 200 << 20),
            "PhoneBlock's answer to GET /blocklist?since=7 is larger than 167772160 bytes or cut off",
        ),
        (
            (cut, 0),
            "PhoneBlock is unreachable (GET /blocklist?since=7)",
        ),
        (
            (Vec::new(), 0),
            "PhoneBlock is unreachable (GET /blocklist?since=7)",
        ),
    ];
    for (reply, line) in cases {
        *answer.lock().unwrap() = reply;
        let t = std::time::Instant::now();
        let (code, out) = pb(&dir, &["sync"]);
        assert_eq!(code, Some(1), "{line}: {out}");
        assert!(
            out.contains(&format!(
                "PhoneBlock sync failed, the copy is unchanged: {line}"
            )),
            "{line}: {out}"
        );
        assert!(t.elapsed() < std::time::Duration::from_secs(30), "{line}");
    }
    config(&dir, &api.url(), "");
    let (_, out) = pb(&dir, &["status"]);
    assert!(
        out.contains("copy: version 7, 4 numbers"),
        "the copy is as it was: {out}"
    );
}

/// A wrong token at start: one clear line naming where the token came
/// from, a `phoneblock_sync_failed` event with the retry, and the daemon
/// goes on screening (fail open: without a copy, a listed number rings).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_token_fails_the_sync_not_the_daemon() {
    use minisip4fb_emulator::CallOutcome;
    use std::time::Duration;
    let api = stand_in().await;
    let dir = common::fresh_dir("phoneblock", "refused");
    daemon_config(&dir, &api.url());
    std::fs::write(dir.join("token"), "s3cr3t-but-wrong\n").unwrap();
    let emu = common::usual_box(14).await;
    let mut d = run(&dir, &emu);
    let line = format!(
        "PhoneBlock sync failed, the rules keep the copy of version 0: PhoneBlock refused the token (HTTP 401): check [phoneblock] token_file {}; retrying in 5 min",
        dir.join("token").display()
    );
    assert!(
        d.wait_for(&line, Duration::from_secs(20)).await,
        "{}",
        d.log()
    );
    assert!(
        d.wait_for("your lists were not fetched", Duration::from_secs(10))
            .await,
        "{}",
        d.log()
    );
    assert!(!d.log().contains("s3cr3t"), "the token is never logged");
    emu.wait_for_binding(Duration::from_secs(10))
        .await
        .expect("registers");
    assert_eq!(
        emu.call(call("030111", 300)).await.outcome,
        CallOutcome::RangUntilCancelled,
        "no copy: the call rings"
    );
    assert_eq!(d.terminate().map(|s| s.code()), Some(Some(0)));
    let events = std::fs::read_to_string(dir.join("events.jsonl")).unwrap();
    let failed: serde_json::Value = events
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|e| e["event"] == "phoneblock_sync_failed")
        .unwrap_or_else(|| panic!("no phoneblock_sync_failed in {events}"));
    assert_eq!(failed["retry_in"], 300);
    assert!(
        failed["reason"]
            .as_str()
            .unwrap()
            .contains("refused the token"),
        "{failed}"
    );
    assert!(api.reported().is_empty());
}
