//! The screening daemon end to end: `minisip4fb run --config` against the
//! emulated FRITZ!Box, the call log read back with `minisip4fb calls
//! --json`, a reload while calls come in, and `kill -9` mid-call.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use minisip4fb_emulator::{CallOutcome, CallSpec, Caller, Emulator, EmulatorConfig, Report};

use crate::common;
use crate::common::{BIN, Proc};

/// `minisip4fb run --config CONFIG` against the Box at `box_addr`.
fn daemon(config: &Path, box_addr: std::net::SocketAddr) -> Proc {
    Proc::spawn(
        common::against_box(&["run"], config, box_addr)
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    )
}

/// The same with its log kept ([`Proc::log`]), once it screens calls: the
/// rules compiled (calls before that are deferred and get no 180).
pub(crate) async fn screening_daemon(config: &Path, emu: &Emulator) -> Proc {
    let d =
        Proc::spawn_logged(common::against_box(&["run"], config, emu.addr()).stdout(Stdio::null()));
    emu.wait_for_binding(Duration::from_secs(10))
        .await
        .expect("registers");
    assert!(
        d.wait_for(" rule(s)", Duration::from_secs(20)).await,
        "the rules compile: {}",
        d.log()
    );
    d
}

pub(crate) fn setup(name: &str) -> PathBuf {
    let dir = common::fresh_dir("daemon", name);
    std::fs::write(dir.join("password"), "geheim123\n").unwrap();
    std::fs::write(dir.join("allow.txt"), "# family\n030 1234567  Oma\n").unwrap();
    std::fs::write(
        dir.join("block.txt"),
        "0800 1111111\n*666\nbroken line here\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("config.toml"),
        r#"
[fritzbox]
user = "620"
password_file = "password"

[numbers]
country = "DE"
area_code = "030"

[screen]
decline_delay = "300ms"

[[rule]]
name = "family"
lists = ["allow.txt"]
action = "ring"

[[rule]]
name = "withheld"
anonymous = true
action = "terminate"

[[rule]]
name = "premium numbers"
types = ["premium"]
action = "terminate"

[[rule]]
name = "block list"
lists = ["block.txt"]
action = "terminate"

[[rule]]
name = "abroad"
foreign = true
action = "decline"

[[rule]]
name = "trial"
numbers = ["0171*"]
action = "terminate"
log_only = true
"#,
    )
    .unwrap();
    dir
}

/// The usual Box, told of the config's shorter `decline_delay` (300 ms
/// instead of the 3 s the Box needs; FRITZBOX.md) so that tests stay quick.
pub(crate) async fn emulator() -> Emulator {
    box_declines_after(Duration::from_millis(300)).await
}

async fn box_declines_after(min: Duration) -> Emulator {
    common::start(EmulatorConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        accounts: vec![(common::USER.into(), common::PASSWORD.into())],
        min_decline_after_ringing: min,
        seed: 9,
        ..EmulatorConfig::default()
    })
    .await
}

pub(crate) fn calls_json(dir: &Path) -> Vec<serde_json::Value> {
    let out = common::succeeded(
        Command::new(BIN)
            .args(["calls", "--json", "--config"])
            .arg(dir.join("config.toml")),
    );
    serde_json::from_slice(&out.stdout).expect("calls --json is one JSON array")
}

/// The call log once `done` holds for it (polled, at most 10 s): records
/// are written off the call path, shortly after the call.
pub(crate) async fn calls_once(
    dir: &Path,
    done: impl Fn(&[serde_json::Value]) -> bool,
) -> Vec<serde_json::Value> {
    let mut calls = calls_json(dir);
    for _ in 0..200 {
        if done(&calls) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        calls = calls_json(dir);
    }
    calls
}

/// `n` records, each with its outcome.
pub(crate) fn ended(n: usize) -> impl Fn(&[serde_json::Value]) -> bool {
    move |c| c.len() >= n && c.iter().all(|r| !r["outcome"].is_null())
}

/// A call from a premium number: the rules terminate it.
pub(crate) async fn blocked_call_is_terminated(emu: &Emulator) {
    let r = emu
        .call(spec(Caller::National("09005551234".into()), 3000))
        .await;
    assert_eq!(r.outcome, CallOutcome::TerminatedByPhone, "{r}");
}

/// A call the rules let ring, for `ring_ms`, placed in the background.
pub(crate) fn ring_in_background(
    emu: &std::sync::Arc<Emulator>,
    ring_ms: u64,
) -> tokio::task::JoinHandle<minisip4fb_emulator::CallReport> {
    let emu = emu.clone();
    tokio::spawn(async move {
        emu.call(spec(Caller::National("040855992611".into()), ring_ms))
            .await
    })
}

/// Calls (every 0.5 s, at most 30 times) until the phone terminates the
/// call: inotify sees a change at once, but the reload compiles at nice
/// +10, so a busy machine (other tests in parallel) may take a while.
async fn blocked_soon(emu: &Emulator, call: impl Fn() -> CallSpec) -> bool {
    for _ in 0..30 {
        if emu.call(call()).await.outcome == CallOutcome::TerminatedByPhone {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    false
}

pub(crate) fn spec(c: Caller, ring_ms: u64) -> CallSpec {
    CallSpec::new(c).cancel_after(Duration::from_millis(ring_ms))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_call_ends_as_configured_and_is_logged_with_its_reason() {
    let dir = setup("rules");
    let emu = emulator().await;
    let _d = screening_daemon(&dir.join("config.toml"), &emu).await;
    // One row per rule: the caller, what the Box sees, and the call log's
    // decision, outcome and reason. A failure names the rule.
    struct Case {
        rule: &'static str,
        caller: Caller,
        ring_ms: u64,
        seen: CallOutcome,
        decision: &'static str,
        outcome: &'static str,
        reason: &'static str,
    }
    let national = |n: &str| Caller::National(n.into());
    let cases = [
        Case {
            rule: "family (allow list)",
            caller: Caller::Named {
                number: "0301234567".into(),
                name: "Oma".into(),
            },
            ring_ms: 400,
            seen: CallOutcome::RangUntilCancelled,
            decision: "ring",
            outcome: "cancelled-by-caller",
            reason: "rule 1 \"family\": +49301234567 in allow.txt (Oma)",
        },
        Case {
            rule: "withheld",
            caller: Caller::Anonymous,
            ring_ms: 5000,
            seen: CallOutcome::TerminatedByPhone,
            decision: "terminate",
            outcome: "terminated",
            reason: "rule 2 \"withheld\": anonymous caller",
        },
        Case {
            rule: "premium numbers (types)",
            caller: national("09005551234"),
            ring_ms: 5000,
            seen: CallOutcome::TerminatedByPhone,
            decision: "terminate",
            outcome: "terminated",
            reason: "rule 3 \"premium numbers\": +499005551234 is premium",
        },
        Case {
            rule: "block list (suffix pattern in a file)",
            caller: national("040555666"),
            ring_ms: 5000,
            seen: CallOutcome::TerminatedByPhone,
            decision: "terminate",
            outcome: "terminated",
            reason: "rule 4 \"block list\": +4940555666 in block.txt",
        },
        Case {
            rule: "abroad (foreign, decline)",
            caller: Caller::International("0033142685300".into()),
            ring_ms: 5000,
            seen: CallOutcome::RejectedByPhone(480),
            decision: "decline",
            outcome: "declined",
            reason: "rule 5 \"abroad\": +33142685300 is foreign (FR)",
        },
        Case {
            rule: "trial (log-only)",
            caller: national("01711234567"),
            ring_ms: 400,
            seen: CallOutcome::RangUntilCancelled,
            decision: "ring",
            outcome: "cancelled-by-caller",
            reason: "rule 6 \"trial\": +491711234567 matches +49171* (log-only: would terminate)",
        },
        Case {
            rule: "the default",
            caller: national("040855992611"),
            ring_ms: 300,
            seen: CallOutcome::RangUntilCancelled,
            decision: "ring",
            outcome: "cancelled-by-caller",
            reason: "default (ring): no rule matched +4940855992611",
        },
    ];
    let mut wrong = Vec::new();
    for c in &cases {
        let r = emu.call(spec(c.caller.clone(), c.ring_ms)).await;
        if r.outcome != c.seen {
            wrong.push(format!(
                "{}: the Box saw {r}, expected {:?}",
                c.rule, c.seen
            ));
        }
    }
    let calls = calls_once(&dir, ended(cases.len())).await;
    assert_eq!(calls.len(), cases.len(), "one record per call: {calls:?}");
    let text = |c: &serde_json::Value, k: &str| c[k].as_str().unwrap_or("").to_owned();
    for c in &cases {
        let number = c.caller.number().unwrap_or_default();
        // A call that comes in while the rules still compile (a slow
        // machine) is recorded once decided: found by its number.
        let Some(rec) = calls.iter().find(|r| text(r, "caller") == number) else {
            wrong.push(format!("{}: no record for {number:?}", c.rule));
            continue;
        };
        let got = (
            text(rec, "decision"),
            text(rec, "outcome"),
            text(rec, "reason"),
        );
        let want = (c.decision.into(), c.outcome.into(), c.reason.to_owned());
        if got != want {
            wrong.push(format!("{}: logged {got:?}, expected {want:?}", c.rule));
        }
    }
    let trial = calls
        .iter()
        .find(|r| text(r, "caller") == "01711234567")
        .unwrap();
    assert_eq!(
        text(trial, "action"),
        "terminate",
        "log-only keeps what the rule said"
    );
    let premium = calls
        .iter()
        .find(|r| text(r, "caller") == "09005551234")
        .unwrap();
    assert_eq!(text(premium, "caller_e164"), "+499005551234");
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    for c in &calls {
        for k in [
            "time",
            "caller",
            "caller_e164",
            "called",
            "decision",
            "reason",
            "outcome",
        ] {
            assert!(c.get(k).is_some(), "field {k} in {c}");
        }
    }
    assert_eq!(emu.violations().await, Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_reload_while_calls_come_in() {
    let dir = setup("reload");
    let emu = std::sync::Arc::new(emulator().await);
    let d = screening_daemon(&dir.join("config.toml"), &emu).await;
    let newcomer = || spec(Caller::National("040987654321".into()), 300);
    assert_eq!(
        emu.call(newcomer()).await.outcome,
        CallOutcome::RangUntilCancelled
    );
    // Calls keep coming while the block list changes on disk.
    let mut reports = emu.reports();
    let traffic = {
        let emu = emu.clone();
        tokio::spawn(async move {
            let mut outcomes = Vec::new();
            for _ in 0..8 {
                outcomes.push(
                    emu.call(spec(Caller::National("09005551234".into()), 3000))
                        .await
                        .outcome,
                );
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            outcomes
        })
    };
    assert!(
        common::wait_report(&mut reports, Duration::from_secs(10), |r| matches!(
            r,
            Report::CallEnded { .. }
        ))
        .await,
        "the traffic has begun"
    );
    std::fs::write(dir.join("block.txt"), "0800 1111111\n*666\n040 987654321\n").unwrap();
    for o in traffic.await.unwrap() {
        assert_eq!(
            o,
            CallOutcome::TerminatedByPhone,
            "no call dropped during the reload"
        );
    }
    assert!(
        blocked_soon(&emu, newcomer).await,
        "the new block list entry took effect"
    );
    // A broken config keeps the old rules running.
    std::fs::write(dir.join("config.toml"), "[[rule]]\nacton = \"terminate\"\n").unwrap();
    // The daemon says why: a daemon that never reloads would pass the
    // calls above and below too.
    assert!(
        d.wait_for(
            "reload failed, keeping the old rules",
            Duration::from_secs(20)
        )
        .await,
        "{}",
        d.log()
    );
    let log = d.log();
    assert!(
        log.contains("reloaded the rules") && log.contains("acton"),
        "{log}"
    );
    assert_eq!(
        emu.call(newcomer()).await.outcome,
        CallOutcome::TerminatedByPhone
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_the_config_names_before_it_exists_takes_effect_once_created() {
    let dir = setup("late-list");
    let emu = emulator().await;
    let d = screening_daemon(&dir.join("config.toml"), &emu).await;
    let newcomer = || spec(Caller::National("040987654321".into()), 300);
    assert_eq!(
        emu.call(newcomer()).await.outcome,
        CallOutcome::RangUntilCancelled
    );
    // A rule with a list in a directory not watched so far, not there yet:
    // the reload fails and the old rules stay.
    let config = std::fs::read_to_string(dir.join("config.toml")).unwrap();
    std::fs::create_dir(dir.join("later")).unwrap();
    std::fs::write(
        dir.join("config.toml"),
        format!(
            "{config}\n[[rule]]\nname = \"late\"\nlists = [\"later/new.txt\"]\naction = \"terminate\"\n"
        ),
    )
    .unwrap();
    assert!(
        d.wait_for(
            "reload failed, keeping the old rules",
            Duration::from_secs(20)
        )
        .await,
        "{}",
        d.log()
    );
    assert_eq!(
        emu.call(newcomer()).await.outcome,
        CallOutcome::RangUntilCancelled,
        "old rules kept while the list is missing"
    );
    // Creating the list is enough: no SIGHUP, no other change.
    std::fs::write(dir.join("later/new.txt"), "040 987654321\n").unwrap();
    assert!(
        blocked_soon(&emu, newcomer).await,
        "the list created later took effect"
    );
    let log = d.log();
    assert!(
        log.contains("reload failed, keeping the old rules") && log.contains("new.txt"),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_a_call_keeps_earlier_records() {
    let dir = setup("kill9");
    let emu = std::sync::Arc::new(emulator().await);
    let mut d = daemon(&dir.join("config.toml"), emu.addr());
    emu.wait_for_binding(Duration::from_secs(10))
        .await
        .expect("registers");
    for _ in 0..3 {
        blocked_call_is_terminated(&emu).await;
    }
    // A call that rings for a while; the daemon dies while it rings, once
    // its record (written off the call path) is in.
    let ringing = ring_in_background(&emu, 3000);
    let calls = calls_once(&dir, |c| c.len() >= 4).await;
    d.kill9();
    assert!(!ringing.is_finished(), "killed while it rang");
    ringing.abort(); // its CANCEL would go unanswered for 32 s
    assert_eq!(
        calls.len(),
        4,
        "the ringing call was recorded as it came in"
    );
    assert_eq!(calls_json(&dir), calls, "kill -9 loses no record");
    assert!(calls[..3].iter().all(|c| c["outcome"] == "terminated"));
    assert!(calls[3]["outcome"].is_null(), "killed before it ended");
    // Restart: the database opens fine and keeps logging.
    let before = emu.bindings().await.len();
    let _d2 = daemon(&dir.join("config.toml"), emu.addr());
    assert!(
        emu.wait_for_new_binding(before, Duration::from_secs(10))
            .await
            .is_some(),
        "the restarted phone registered (the dead one's binding lingers until it expires)"
    );
    assert_eq!(
        emu.call(spec(Caller::Anonymous, 3000)).await.outcome,
        CallOutcome::TerminatedByPhone
    );
    let calls = calls_once(&dir, |c| c.len() >= 5 && !c[4]["outcome"].is_null()).await;
    assert_eq!(calls.len(), 5);
    let db = rusqlite::Connection::open(dir.join("calls.db")).unwrap();
    let ok: String = db
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_call_log_delays_no_call_and_loses_no_record() {
    let dir = setup("locked");
    let emu = emulator().await;
    let _d = daemon(&dir.join("config.toml"), emu.addr());
    emu.wait_for_binding(Duration::from_secs(10))
        .await
        .expect("registers");
    // Another process takes the write lock (a backup, `sqlite3` open in a shell).
    let db = rusqlite::Connection::open(dir.join("calls.db")).unwrap();
    db.execute_batch("BEGIN EXCLUSIVE").unwrap();
    for _ in 0..3 {
        let r = emu
            .call(spec(Caller::National("09005551234".into()), 3000))
            .await;
        assert_eq!(
            r.outcome,
            CallOutcome::TerminatedByPhone,
            "terminated while the log is locked: {r}"
        );
    }
    let held: i64 = db
        .query_row("SELECT count(*) FROM calls", [], |r| r.get(0))
        .unwrap();
    assert_eq!(held, 0, "nothing could be written while we held the lock");
    db.execute_batch("COMMIT").unwrap();
    // The book-keeper retries every second.
    let calls = calls_once(&dir, ended(3)).await;
    assert_eq!(calls.len(), 3, "{calls:?}");
    assert!(
        calls.iter().all(|c| c["outcome"] == "terminated"),
        "{calls:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_ends_ringing_calls_writes_their_outcome_and_unregisters() {
    let dir = setup("sigterm");
    // A phone that shuts down declines its ringing calls at once: no
    // minimum ringing time to keep then.
    let emu = std::sync::Arc::new(box_declines_after(Duration::ZERO).await);
    let mut d = daemon(&dir.join("config.toml"), emu.addr());
    emu.wait_for_binding(Duration::from_secs(10))
        .await
        .expect("registers");
    // A blocked call first: once it is terminated the rules are in force.
    blocked_call_is_terminated(&emu).await;
    let mut reports = emu.reports();
    let ringing = ring_in_background(&emu, 5000);
    assert!(
        common::wait_report(&mut reports, Duration::from_secs(5), |r| matches!(
            r,
            Report::Ringing { .. }
        ))
        .await,
        "the call rings before SIGTERM"
    );
    let status = tokio::task::spawn_blocking(move || d.terminate())
        .await
        .unwrap()
        .expect("exits within 10 s of SIGTERM");
    assert!(status.success(), "exit status {status}");
    let r = ringing.await.unwrap();
    assert_eq!(
        r.outcome,
        CallOutcome::RejectedByPhone(480),
        "the ringing call got a final response the Box understands: {r}"
    );
    assert!(emu.bindings().await.is_empty(), "unregistered");
    let calls = calls_json(&dir);
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0]["outcome"], "terminated", "{:?}", calls[0]);
    assert_eq!(calls[1]["outcome"], "declined", "{:?}", calls[1]);
    assert_eq!(emu.violations().await, Vec::<String>::new());
}

/// `--events json | head -1`: the reader goes away after the first line;
/// the daemon stops printing and keeps screening.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_events_pipe_stops_the_printing_not_the_screening() {
    let dir = setup("events-pipe");
    let emu = emulator().await;
    let mut child = common::against_box(
        &["run", "--events", "json"],
        &dir.join("config.toml"),
        emu.addr(),
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let first = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        std::io::BufRead::read_line(&mut out, &mut line).unwrap();
        line // `out` is dropped here: the pipe's reader is gone
    });
    emu.wait_for_binding(Duration::from_secs(10))
        .await
        .expect("registers");
    let line = first.await.unwrap();
    assert!(line.contains("\"event\":\"registered\""), "{line}");
    for _ in 0..3 {
        blocked_call_is_terminated(&emu).await;
    }
    assert!(child.try_wait().unwrap().is_none(), "still running");
    let _ = child.kill();
    let _ = child.wait();
}

/// Nobody reads `--events json`'s pipe (4 KiB): calls are still screened
/// and logged at once, and SIGTERM still ends the daemon.
#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocked_events_pipe_delays_no_call_and_no_exit() {
    use std::os::fd::AsRawFd;
    let dir = setup("events-blocked");
    let emu = emulator().await;
    let mut d = Proc::spawn_logged(
        common::against_box(
            &["run", "--events", "json"],
            &dir.join("config.toml"),
            emu.addr(),
        )
        .stdout(Stdio::piped()),
    );
    let stdout = d.0.stdout.take().unwrap();
    // SAFETY: a valid pipe descriptor this test owns.
    let size = unsafe { libc::fcntl(stdout.as_raw_fd(), libc::F_SETPIPE_SZ, 4096) };
    assert!(size >= 4096, "F_SETPIPE_SZ");
    emu.wait_for_binding(Duration::from_secs(10))
        .await
        .expect("registers");
    let calls = 20;
    for i in 0..calls {
        let r = emu
            .call(spec(Caller::National("09005551234".into()), 3000))
            .await;
        assert_eq!(
            r.outcome,
            CallOutcome::TerminatedByPhone,
            "call {i} with stdout blocked: {r}"
        );
    }
    let records = calls_once(&dir, ended(calls)).await;
    assert_eq!(records.len(), calls, "the call log is not held up either");
    let status = tokio::task::spawn_blocking(move || d.terminate().map(|s| (s, d.log())))
        .await
        .unwrap();
    let (status, log) = status.expect("exits on SIGTERM although stdout stays blocked");
    assert!(status.success(), "{status}: {log}");
    assert!(log.contains("--events: stdout still blocked"), "{log}");
    // What did get through is whole JSON lines.
    let lines: Vec<String> = std::io::BufRead::lines(std::io::BufReader::new(stdout))
        .map_while(Result::ok)
        .collect();
    assert!(!lines.is_empty());
    for l in &lines {
        serde_json::from_str::<serde_json::Value>(l).expect("a whole JSON line");
    }
}
