//! Issue 28 against the daemon: the files it lives on (a FIFO, a deleted,
//! damaged or unwritable call log) never stop the phone, and `check`
//! refuses exactly what `run` refuses.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common::{self, BIN, Proc};
use crate::daemon::{
    blocked_call_is_terminated, calls_json, calls_once, emulator, ended, ring_in_background,
    screening_daemon, setup,
};

fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
}

/// Issue 28, 13: an announcement that is a FIFO (opening one plainly waits
/// for a writer forever). `check` refuses it at once; a reload to it
/// fails and keeps the old rules, a later reload applies, and SIGTERM
/// ends the daemon at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_announcement_that_is_a_fifo_never_blocks() {
    let dir = setup("fifo");
    mkfifo(&dir.join("prompt.wav"));
    let config = std::fs::read_to_string(dir.join("config.toml")).unwrap();
    let with_fifo = format!(
        "{config}\n[[rule]]\nname = \"spoken\"\nnumbers = [\"0137*\"]\naction = \"terminate\"\nannouncement = \"prompt.wav\"\n"
    );
    std::fs::write(dir.join("fifo.toml"), &with_fifo).unwrap();
    let emu = emulator().await;
    let out = tokio::time::timeout(
        Duration::from_secs(10),
        tokio::process::Command::from(common::against_box(
            &["check"],
            &dir.join("fifo.toml"),
            emu.addr(),
        ))
        .output(),
    )
    .await
    .expect("check answers at once")
    .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("not a regular file"), "{err}");

    let mut d = screening_daemon(&dir.join("config.toml"), &emu).await;
    std::fs::write(dir.join("config.toml"), &with_fifo).unwrap();
    assert!(
        d.wait_for(
            "reload failed, keeping the old rules",
            Duration::from_secs(20)
        )
        .await,
        "{}",
        d.log()
    );
    blocked_call_is_terminated(&emu).await;
    // A later reload applies.
    std::fs::write(
        dir.join("config.toml"),
        format!(
            "{config}\n[[rule]]\nname = \"later\"\nnumbers = [\"0137*\"]\naction = \"terminate\"\n"
        ),
    )
    .unwrap();
    assert!(
        d.wait_for("reloaded the rules: 7 rule(s)", Duration::from_secs(20))
            .await,
        "{}",
        d.log()
    );
    let t = std::time::Instant::now();
    d.signal("TERM");
    assert_eq!(
        d.exited_within(Duration::from_secs(10)).map(|s| s.code()),
        Some(Some(0))
    );
    assert!(t.elapsed() < Duration::from_secs(10));
}

/// Issue 28, 10: `check` and `run` validate through one function: each
/// broken config is refused by both, exit 2, with the same words.
#[test]
fn check_refuses_exactly_what_run_refuses() {
    let dir = setup("same-checks");
    let base = std::fs::read_to_string(dir.join("config.toml")).unwrap();
    let broken: &[(&str, &str, &str)] = &[
        (
            "web",
            "[web]\nlisten = \"0.0.0.0:8080\"\n",
            "is reachable from the network",
        ),
        (
            "web hosts",
            "[web]\nlisten = \"127.0.0.1:0\"\nhosts = [\"http://pi\"]\n",
            "is not a host name",
        ),
        ("mqtt", "[mqtt]\nurl = \"ftp://127.0.0.1\"\n", "mqtt"),
        ("hook", "[[hook]]\nevents = [\"call\"]\n", "[[hook]] 1"),
        (
            "notify",
            "[[notify]]\nservice = \"pigeon\"\nurl = \"http://127.0.0.1:9/\"\n",
            "notify",
        ),
        (
            "announcement",
            "[[rule]]\nname = \"said\"\nnumbers = [\"0137*\"]\naction = \"terminate\"\nannouncement = \"missing.wav\"\n",
            "missing.wav",
        ),
        (
            "list",
            "[[rule]]\nname = \"l\"\nlists = [\"nowhere.txt\"]\naction = \"terminate\"\n",
            "nowhere.txt",
        ),
        ("phoneblock", "[phoneblock]\n", "PhoneBlock"),
        ("tr064", "", "admin_user"),
    ];
    for (what, extra, says) in broken {
        let text = if *what == "tr064" {
            base.replace(
                "[fritzbox]\n",
                "[fritzbox]\ntr064 = \"http://127.0.0.1:9\"\n",
            )
        } else {
            format!("{base}\n{extra}")
        };
        let cfg = dir.join(format!("{}.toml", what.replace(' ', "-")));
        std::fs::write(&cfg, text).unwrap();
        let mut errs = Vec::new();
        for cmd in ["check", "run"] {
            let mut p = Proc::spawn_logged(
                Command::new(BIN)
                    .args([cmd, "--config"])
                    .arg(&cfg)
                    .args(["--fritzbox", "127.0.0.1:9", "--bind", "127.0.0.1:0"])
                    .env_remove("MINISIP4FB_PASSWORD")
                    .env_remove("MINISIP4FB_WEB_PASSWORD")
                    .env_remove("MINISIP4FB_PHONEBLOCK_TOKEN")
                    .env_remove("MINISIP4FB_ADMIN_PASSWORD")
                    .env_remove("MINISIP4FB_MQTT_PASSWORD")
                    .stdout(Stdio::null()),
            );
            let status = p.exited_within(Duration::from_secs(20));
            // The reader thread has the last lines a moment later.
            std::thread::sleep(Duration::from_millis(100));
            let err = p.log();
            assert_eq!(
                status.map(|s| s.code()),
                Some(Some(2)),
                "{what}: {cmd}: {err}"
            );
            assert!(err.contains(says), "{what}: {cmd}: {err}");
            errs.push(
                err.lines()
                    .filter(|l| l.contains(says))
                    .map(|l| l.split_once(": ").map_or(l, |(_, rest)| rest).to_owned())
                    .collect::<Vec<_>>(),
            );
        }
        assert_eq!(errs[0], errs[1], "{what}: the same words");
    }
}

/// Issue 28, 8: the call log deleted under the running daemon. The daemon
/// notices (its file's identity changed), says so once, starts a new log
/// there, and every later call is in it, a call still ringing at the
/// deletion too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_call_log_is_started_anew_and_loses_no_later_call() {
    let dir = setup("deleted-log");
    let emu = std::sync::Arc::new(emulator().await);
    let mut d = screening_daemon(&dir.join("config.toml"), &emu).await;
    blocked_call_is_terminated(&emu).await;
    assert_eq!(calls_once(&dir, ended(1)).await.len(), 1);
    let ringing = ring_in_background(&emu, 1500);
    tokio::time::sleep(Duration::from_millis(300)).await;
    for f in ["calls.db", "calls.db-wal", "calls.db-shm"] {
        let _ = std::fs::remove_file(dir.join(f));
    }
    for _ in 0..3 {
        blocked_call_is_terminated(&emu).await;
    }
    ringing.await.unwrap();
    assert!(
        d.wait_for("deleted, moved or replaced", Duration::from_secs(10))
            .await,
        "{}",
        d.log()
    );
    assert_eq!(d.terminate().map(|s| s.code()), Some(Some(0)));
    let calls = calls_json(&dir);
    assert_eq!(calls.len(), 4, "{calls:#?}");
    assert!(calls.iter().all(|r| !r["outcome"].is_null()), "{calls:#?}");
    assert_eq!(
        d.log().matches("deleted, moved or replaced").count(),
        1,
        "said once"
    );
}

/// Issue 28, 8 and 11: a call log found damaged at start is moved aside
/// and a new one started; one that cannot be opened at all at start (here
/// its directory is a file; on a Pi, a full SD card) does not stop the
/// phone: calls are screened, their records wait and are written once the
/// log can be had.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_or_unwritable_call_log_never_stops_the_start() {
    let dir = setup("damaged-log");
    std::fs::write(dir.join("calls.db"), vec![0x5a; 8192]).unwrap();
    let emu = emulator().await;
    let mut d = screening_daemon(&dir.join("config.toml"), &emu).await;
    assert!(d.log().contains("moved aside to"), "{}", d.log());
    blocked_call_is_terminated(&emu).await;
    assert_eq!(calls_once(&dir, ended(1)).await.len(), 1);
    assert!(
        std::fs::read_dir(&dir).unwrap().any(|e| e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with("calls.db.damaged-")),
        "the damaged file is kept aside"
    );
    assert_eq!(d.terminate().map(|s| s.code()), Some(Some(0)));

    let config = std::fs::read_to_string(dir.join("config.toml")).unwrap();
    std::fs::write(
        dir.join("config.toml"),
        format!("{config}\n[calllog]\ndb = \"later/calls.db\"\n"),
    )
    .unwrap();
    std::fs::write(dir.join("later"), "a file where the directory belongs").unwrap();
    let mut d = screening_daemon(&dir.join("config.toml"), &emu).await;
    assert!(
        d.log().contains("the phone screens without it"),
        "{}",
        d.log()
    );
    blocked_call_is_terminated(&emu).await;
    blocked_call_is_terminated(&emu).await;
    std::fs::remove_file(dir.join("later")).unwrap();
    // The book-keeper, retrying, may make the directory itself first.
    std::fs::create_dir_all(dir.join("later")).unwrap();
    // The book-keeper tries again every second.
    for _ in 0..100 {
        if dir.join("later/calls.db").exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let calls = calls_once(&dir, ended(2)).await;
    assert_eq!(calls.len(), 2, "caught up: {calls:#?}\n{}", d.log());
    assert_eq!(d.terminate().map(|s| s.code()), Some(Some(0)));
}
