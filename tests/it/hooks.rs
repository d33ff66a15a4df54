//! The daemon's hooks end to end, with the list formats the other tests
//! leave out (CSV, vCard), SIGHUP and the call log's statistics.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use minisip4fb_emulator::{CallOutcome, Caller};

use crate::common::{self, BIN, Proc};
use crate::daemon::{calls_once, emulator, ended, spec};

/// A config for the paths the other tests leave out: a CSV block list and
/// a vCard allow list (format by extension), a command hook, 2 rules.
fn setup_hooks(name: &str) -> PathBuf {
    let dir = common::fresh_dir("daemon", name);
    std::fs::write(dir.join("password"), "geheim123\n").unwrap();
    std::fs::write(dir.join("spam.csv"), "Name;Nummer\nWerbung;040 1234567\n").unwrap();
    std::fs::write(
        dir.join("friends.VCF"),
        "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Tante Erna\r\nTEL;TYPE=HOME:030 1112233\r\nEND:VCARD\r\n",
    )
    .unwrap();
    let hook_out = dir.join("hook.out");
    std::fs::write(
        dir.join("config.toml"),
        format!(
            r#"
[fritzbox]
user = "620"
password_file = "password"

[numbers]
country = "DE"
area_code = "030"

[[rule]]
name = "csv list"
lists = ["spam.csv"]
action = "terminate"

[[rule]]
name = "friends"
lists = ["friends.VCF"]
action = "ring"

[[hook]]
events = ["terminated"]
command = ["sh", "-c", "printf '%s %s %s\n' \"$MINISIP4FB_EVENT\" \"$MINISIP4FB_CALLER\" \"$MINISIP4FB_RULE\" >> '{}'"]
"#,
            hook_out.display()
        ),
    )
    .unwrap();
    dir
}

/// Hooks, `--events json`, SIGHUP, lists by extension, `calls --csv` and
/// `stats`, against one daemon.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hooks_events_sighup_list_formats_csv_and_stats() {
    let dir = setup_hooks("hooks");
    let emu = emulator().await;
    let d = Proc::spawn_logged(
        common::against_box(
            &["run", "--events", "json"],
            &dir.join("config.toml"),
            emu.addr(),
        )
        .stdout(Stdio::piped()),
    );
    let mut d = d;
    let stdout = d.0.stdout.take().unwrap();
    let events = tokio::task::spawn_blocking(move || {
        std::io::BufRead::lines(std::io::BufReader::new(stdout))
            .map_while(Result::ok)
            .collect::<Vec<String>>()
    });
    emu.wait_for_binding(Duration::from_secs(10))
        .await
        .expect("registers");
    assert!(
        d.wait_for("2 rule(s)", Duration::from_secs(20)).await,
        "{}",
        d.log()
    );
    assert_eq!(
        emu.call(spec(Caller::National("0401234567".into()), 3000))
            .await
            .outcome,
        CallOutcome::TerminatedByPhone,
        "in spam.csv"
    );
    assert_eq!(
        emu.call(spec(Caller::National("0301112233".into()), 300))
            .await
            .outcome,
        CallOutcome::RangUntilCancelled,
        "in friends.VCF"
    );
    let hook_out = dir.join("hook.out");
    let mut fired = String::new();
    for _ in 0..200 {
        fired = std::fs::read_to_string(&hook_out).unwrap_or_default();
        if !fired.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        fired, "terminated 0401234567 1 \"csv list\"\n",
        "the hook ran once, for the terminated call"
    );
    d.signal("HUP");
    assert!(
        d.wait_for(
            "reloaded the rules: 2 rule(s) (SIGHUP)",
            Duration::from_secs(20)
        )
        .await,
        "{}",
        d.log()
    );
    let records = calls_once(&dir, ended(2)).await;
    assert_eq!(records.len(), 2, "{records:?}");
    assert_eq!(d.terminate().and_then(|s| s.code()), Some(0));
    let lines = events.await.unwrap();
    let kinds: Vec<String> = lines
        .iter()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("one JSON object a line");
            v["event"].as_str().unwrap_or("").to_owned()
        })
        .collect();
    for k in ["registered", "call", "terminated", "call_ended"] {
        assert!(kinds.iter().any(|x| x == k), "{k} in {kinds:?}");
    }
    assert_eq!(
        kinds.iter().filter(|k| *k == "call_ended").count(),
        2,
        "{kinds:?}"
    );

    let csv = Command::new(BIN)
        .args(["calls", "--csv", "--config"])
        .arg(dir.join("config.toml"))
        .output()
        .unwrap();
    assert!(csv.status.success());
    let csv = String::from_utf8(csv.stdout).unwrap();
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(rows.len(), 3, "header and two calls:\n{csv}");
    assert!(
        rows[0].starts_with("time,caller,caller_e164,name,called,decision"),
        "{csv}"
    );
    assert!(
        csv.contains("csv list") && csv.contains("Tante Erna"),
        "{csv}"
    );
    let stats = Command::new(BIN)
        .args(["stats", "--config"])
        .arg(dir.join("config.toml"))
        .output()
        .unwrap();
    assert!(stats.status.success());
    let stats = String::from_utf8(stats.stdout).unwrap();
    // The days' rows summed: the calls may fall on two UTC days.
    let mut counts = [0u32; 4];
    for day in stats.lines().skip(1).take_while(|l| !l.is_empty()) {
        for (sum, n) in counts.iter_mut().zip(day.split_whitespace().skip(1)) {
            *sum += n.parse::<u32>().unwrap();
        }
    }
    assert_eq!(
        counts,
        [2, 1, 0, 1],
        "calls, terminated, declined, rang:\n{stats}"
    );
    assert!(
        stats.contains("1  terminate         1 \"csv list\""),
        "{stats}"
    );
}
