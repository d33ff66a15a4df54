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

/// `check`'s stdout; it must have exited 0 (else both outputs say why).
fn passed(out: &std::process::Output) -> String {
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_registers_once_and_unregisters() {
    let dir = setup("check");
    let emu = emulator().await;
    let text = passed(&check(&dir, &emu).await);
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

/// `check` beside the running daemon, as the example config tells people
/// to run it after every edit: the daemon holds the port, so `check`
/// registers from one of its own, says so, and leaves the daemon's
/// binding alone. It names the config file it read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_works_beside_the_running_daemon() {
    let dir = setup("check-beside");
    let emu = emulator().await;
    // A fixed port for both, as in a real config.
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let bind = format!("127.0.0.1:{port}");
    let config = dir.join("config.toml");
    let with_bind = |sub: &str| {
        let mut c = Command::new(BIN);
        c.args([sub, "--config"])
            .arg(&config)
            .args(["--fritzbox", &emu.addr().to_string(), "--bind", &bind])
            .env_remove("MINISIP4FB_PASSWORD");
        c
    };
    let daemon = common::Proc::spawn_logged(with_bind("run").stdout(std::process::Stdio::null()));
    emu.wait_for_binding(Duration::from_secs(10))
        .await
        .unwrap_or_else(|| panic!("the daemon registers: {}", daemon.log()));
    let out = tokio::process::Command::from(with_bind("check"))
        .output()
        .await
        .unwrap();
    let text = passed(&out);
    assert!(
        text.contains(&format!("config file: {}", config.display())),
        "{text}"
    );
    assert!(text.contains(&format!("{bind} is in use")), "{text}");
    assert!(text.contains("registered: the Box granted"), "{text}");
    let left = emu.bindings().await;
    assert_eq!(left.len(), 1, "the daemon's binding stays: {left:?}");
    assert!(left[0].contact_uri.contains(&bind), "{left:?}");
    drop(daemon);
}

/// A Box that does not answer is said within seconds (the REGISTER's
/// first resends), without a word about an unregistration that never
/// was.
#[test]
fn check_says_no_answer_within_seconds() {
    let dir = setup("check-silent");
    // A bound socket that never answers: the Box is not there.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let started = Instant::now();
    let out = common::against_box(
        &["check"],
        &dir.join("config.toml"),
        silent.local_addr().unwrap(),
    )
    .output()
    .unwrap();
    let took = started.elapsed();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("no answer from the registrar at"), "{err}");
    assert!(!err.contains("unregist"), "{err}");
    assert!(took < Duration::from_secs(8), "said after {took:?}");
}

/// The example config as shipped, copied alone into a directory: one run
/// of `check` names every file it misses, and env MINISIP4FB_PASSWORD
/// stands in for its `password_file`, as the file says.
#[test]
fn the_example_config_is_checked_whole_in_one_run() {
    let dir = common::fresh_dir("check-run", "example");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::copy(
        root.join("minisip4fb.example.toml"),
        dir.join("config.toml"),
    )
    .unwrap();
    let check = |password: Option<&str>| {
        let mut c = Command::new(BIN);
        c.args(["check", "--fritzbox", "127.0.0.1:9", "--config"])
            .arg(dir.join("config.toml"))
            .env_remove("MINISIP4FB_PASSWORD");
        if let Some(p) = password {
            c.env("MINISIP4FB_PASSWORD", p);
        }
        let out = c.output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, err) = check(None);
    assert_eq!(code, Some(2), "{err}");
    for missing in ["password", "allow.txt", "block.txt"] {
        assert!(err.contains(missing), "{missing} in: {err}");
    }
    let (code, err) = check(Some("geheim123"));
    assert_eq!(code, Some(2), "{err}");
    assert!(
        !err.contains("password"),
        "the environment stands in: {err}"
    );
    assert!(
        err.contains("allow.txt") && err.contains("block.txt"),
        "{err}"
    );
}

/// Two daemons with the same account: the Box rings both, so the second
/// says so (the Box's 200 lists the first one's binding too).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_daemon_with_the_same_account_warns() {
    let dir = setup("two-daemons");
    let emu = emulator().await;
    let config = dir.join("config.toml");
    let daemon = || {
        common::Proc::spawn_logged(
            common::against_box(&["run"], &config, emu.addr()).stdout(std::process::Stdio::null()),
        )
    };
    let first = daemon();
    emu.wait_for_binding(Duration::from_secs(10))
        .await
        .unwrap_or_else(|| panic!("the first registers: {}", first.log()));
    assert!(!first.log().contains("other binding"), "{}", first.log());
    let second = daemon();
    assert!(
        second
            .wait_for(
                "holds 1 other binding(s) of user 620",
                Duration::from_secs(10)
            )
            .await,
        "{}",
        second.log()
    );
    assert_eq!(emu.bindings().await.len(), 2);
}
