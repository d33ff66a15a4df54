//! `check` refuses exactly what `run` refuses: the same broken configs,
//! fed to both, give the same exit code and the same problems. (The Box's
//! address is a port nobody listens on: no Box is ever reached.)

use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::{self, BIN};
use crate::daemon::{emulator, setup};
use minisip4fb_emulator::Emulator;
use std::path::Path;

/// A config that `check` and `run` both accept but for `extra`.
const BASE: &str = "[fritzbox]\nuser = \"620\"\npassword_file = \"password\"\n\n\
                    [numbers]\ncountry = \"DE\"\narea_code = \"030\"\n\n";

/// (what is broken, the config's tail, a part of the problem's text).
const BROKEN: &[(&str, &str, &str)] = &[
    (
        "an unknown key",
        "[screen]\nlog_onyl = true\n",
        "did you mean \"log_only\"",
    ),
    (
        "a rule's action",
        "[[rule]]\nnumbers = [\"0900*\"]\naction = \"explode\"\n",
        "explode",
    ),
    (
        "a list that is not there",
        "[[rule]]\nlists = [\"missing.txt\"]\naction = \"terminate\"\n",
        "missing.txt",
    ),
    (
        "a hook's event",
        "[[hook]]\nevents = [\"nope\"]\ncommand = [\"true\"]\n",
        "unknown value \"nope\" in [[hook]] 1",
    ),
    (
        "a hook's timeout",
        "[[hook]]\nevents = [\"call\"]\ncommand = [\"true\"]\ntimeout = \"soon\"\n",
        "soon",
    ),
    (
        "a push service",
        "[[notify]]\nservice = \"ntyf\"\n",
        "unknown value \"ntyf\" in [[notify]] 1, did you mean \"ntfy\"?",
    ),
    (
        "a push language",
        "[[notify]]\nservice = \"ntfy\"\nurl = \"http://127.0.0.1:9/t\"\nlanguage = \"fr\"\n",
        "allowed: en, de",
    ),
    (
        "an MQTT broker",
        "[mqtt]\nurl = \"http://127.0.0.1:1883\"\n",
        "not mqtt://",
    ),
    (
        "a web password file that is not there",
        "[web]\nlisten = \"127.0.0.1:0\"\npassword_file = \"no-such-file\"\n",
        "no-such-file",
    ),
    (
        "a PhoneBlock token file that is not there",
        "[phoneblock]\ntoken_file = \"no-such-token\"\n",
        "no-such-token",
    ),
];

/// Exit code and the problem lines of `minisip4fb SUB --config FILE`,
/// which must end by itself. Each command keeps its own voice (`check`
/// reports as `config: …`, `run` as `minisip4fb: …`): compared without it.
fn refused(sub: &str, config: &std::path::Path) -> (Option<i32>, String) {
    let mut cmd = Command::new(BIN);
    // A Box nobody answers at: neither command may get as far as it.
    cmd.args([sub, "--fritzbox", "127.0.0.1:9", "--bind", "127.0.0.1:0"])
        .arg("--config")
        .arg(config)
        .env_remove("MINISIP4FB_PASSWORD")
        .env_remove("MINISIP4FB_WEB_PASSWORD")
        .env_remove("MINISIP4FB_PHONEBLOCK_TOKEN")
        .env_remove("MINISIP4FB_MQTT_PASSWORD")
        // Problems only: not `run`'s log of its (unanswered) goodbye to the
        // Box when the rules fail after the phone started.
        .env("RUST_LOG", "error")
        // A few lines at most: the pipe does not fill before it exits.
        .stderr(std::process::Stdio::piped());
    let mut p = common::Proc::spawn(&mut cmd);
    let started = Instant::now();
    let status = p.exited_within(Duration::from_secs(20));
    assert!(
        status.is_some(),
        "{sub} still runs after {:?} with a broken config",
        started.elapsed()
    );
    let problems = p
        .stderr()
        .lines()
        .map(|l| {
            l.strip_prefix("minisip4fb: ")
                .or_else(|| l.strip_prefix("config: "))
                .unwrap_or(l)
        })
        .filter(|l| !l.trim().is_empty())
        .collect::<Vec<_>>()
        .join("\n");
    (status.and_then(|s| s.code()), problems)
}

#[test]
fn check_refuses_exactly_what_run_refuses() {
    let dir = common::fresh_dir("check-run", "broken");
    std::fs::write(dir.join("password"), "geheim123\n").unwrap();
    for (what, tail, says) in BROKEN {
        let file = dir.join("config.toml");
        std::fs::write(&file, format!("{BASE}{tail}")).unwrap();
        let (check_code, check_says) = refused("check", &file);
        let (run_code, run_says) = refused("run", &file);
        assert!(
            check_says.contains(says),
            "{what}: check says {check_says:?}"
        );
        assert_ne!(check_code, Some(0), "{what}: check accepted it");
        assert_eq!(
            (run_code, &run_says),
            (check_code, &check_says),
            "{what}: run and check differ"
        );
    }
}

#[test]
fn bad_config_names_line_key_and_suggestion() {
    let dir = setup("badconfig");
    std::fs::write(
        dir.join("bad.toml"),
        "[fritzbox]\nuser = \"620\"\n\n[[rule]]\nanonymous = true\nacton = \"terminate\"\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["check", "--config"])
        .arg(dir.join("bad.toml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("line 6: unknown key \"acton\" in [[rule]] 1, did you mean \"action\"?"),
        "{err}"
    );
}

async fn check(dir: &Path, emu: &Emulator) -> std::process::Output {
    tokio::process::Command::from(common::against_box(
        &["check"],
        &dir.join("config.toml"),
        emu.addr(),
    ))
    .output()
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_registers_once_and_unregisters() {
    let dir = setup("check");
    let emu = emulator().await;
    let out = check(&dir, &emu).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("config: ok, 6 rule(s)"), "{text}");
    assert!(
        text.contains("registered: the Box granted 300 s and will call sip:620@127.0.0.1:"),
        "{text}"
    );
    assert!(emu.bindings().await.is_empty(), "unregistered again");
    // Wrong password: says so, exit 1.
    std::fs::write(dir.join("password"), "wrong\n").unwrap();
    let out = check(&dir, &emu).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("wrong user name or password"));
}
