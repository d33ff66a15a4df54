//! End-to-end: the release-shaped `minisip4fb run` binary against the
//! emulated FRITZ!Box, over loopback. Every run is bounded in time.

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

use minisip4fb_emulator::{CallOutcome, CallSpec, Caller, Emulator, EmulatorConfig};

use crate::common;
use crate::common::{BIN, PASSWORD, Proc, USER};

/// `minisip4fb run` with two block rules, logging at debug to a pipe.
fn phone(box_addr: SocketAddr, bind: &str, password: &str, extra: &[&str]) -> Proc {
    Proc::spawn(
        Command::new(BIN)
            .args([
                "run",
                "--fritzbox",
                &box_addr.to_string(),
                "--user",
                "620",
                "--bind",
                bind,
            ])
            .args(["--block", "0900*", "--block", "anonymous"])
            .args(extra)
            .env("MINISIP4FB_PASSWORD", password)
            .env("RUST_LOG", "minisip4fb=debug")
            .stdout(Stdio::null())
            .stderr(Stdio::piped()),
    )
}

async fn emulator(expires: u32) -> Emulator {
    common::start(EmulatorConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        accounts: vec![(USER.into(), PASSWORD.into())],
        expires,
        // Seed bits 2 and 4: telephone-event at 100 and an Expires header
        // in the 200 to REGISTER, the variants the daemon tests (seed 9) lack.
        seed: 46,
        ..EmulatorConfig::default()
    })
    .await
}

fn blocked() -> CallSpec {
    CallSpec::new(Caller::National("09005551234".into())).cancel_after(Duration::from_secs(10))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_demo_scenario_ends_as_it_should() {
    let emu = emulator(300).await;
    let mut phone = phone(emu.addr(), "127.0.0.1:0", PASSWORD, &[]);
    let binding = emu
        .wait_for_binding(Duration::from_secs(10))
        .await
        .expect("phone registers");
    assert_eq!(binding.user, "620");

    let ms = Duration::from_millis;
    // A blocked call first: the daemon compiles its rules while it
    // registers, and a debug build may take a moment before it rings.
    let cases = [
        (blocked(), CallOutcome::TerminatedByPhone),
        (
            CallSpec::new(Caller::Named {
                number: "0301234567".into(),
                name: "Oma".into(),
            })
            .cancel_after(ms(800)),
            CallOutcome::RangUntilCancelled,
        ),
        (
            CallSpec::new(Caller::Anonymous),
            CallOutcome::TerminatedByPhone,
        ),
        (
            CallSpec::new(Caller::Internal {
                number: "**9".into(),
                name: "Rundruf".into(),
            })
            .cancel_after(ms(600)),
            CallOutcome::RangUntilCancelled,
        ),
        (
            CallSpec::new(Caller::International("00900123".into())).cancel_after(ms(300)),
            CallOutcome::RangUntilCancelled,
        ),
    ];
    for (spec, expected) in cases {
        let caller = spec.caller.clone();
        let report = emu.call(spec).await;
        assert_eq!(report.outcome, expected, "{caller}: {report}");
        if expected == CallOutcome::RangUntilCancelled {
            assert!(report.ringing, "{caller}: 180 sent");
        } else {
            // How fast is `cargo bench` and `minisip4fb bench`'s business
            // (docs/PERFORMANCE.md); here: answered, then the phone's BYE.
            assert!(
                report.answered_after.is_some() && report.bye_after >= report.answered_after,
                "{caller}: {report}"
            );
        }
    }
    assert_eq!(emu.violations().await, Vec::<String>::new());
    assert_eq!(emu.bindings().await.len(), 1, "no piled-up bindings");
    assert_eq!(
        phone.terminate().and_then(|s| s.code()),
        Some(0),
        "SIGTERM exits 0"
    );
    // It exits once its un-REGISTER is answered: the Box has no binding.
    assert!(emu.bindings().await.is_empty(), "unregistered on SIGTERM");
    let log = phone.stderr();
    assert!(
        log.contains("terminate (rule 1 \"--block\": +499005551234 matches +49900*)"),
        "{log}"
    );
}

/// Credentials are redacted where SIP messages become log text: with
/// `-v` every message is logged, the REGISTER's Authorization as
/// `<redacted>`, its digest response nowhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wire_log_redacts_credentials() {
    let emu = emulator(300).await;
    let mut phone = Proc::spawn(
        Command::new(BIN)
            .args(["run", "-v", "--fritzbox", &emu.addr().to_string()])
            .args(["--user", USER, "--bind", "127.0.0.1:0"])
            .env("MINISIP4FB_PASSWORD", PASSWORD)
            .env_remove("RUST_LOG")
            .stdout(Stdio::null())
            .stderr(Stdio::piped()),
    );
    emu.wait_for_binding(Duration::from_secs(10))
        .await
        .expect("registers");
    assert_eq!(phone.terminate().and_then(|s| s.code()), Some(0));
    let log = phone.stderr();
    assert!(log.contains("REGISTER sip:"), "-v logs the messages: {log}");
    let redacted = log
        .lines()
        .filter(|l| {
            l.to_ascii_lowercase()
                .starts_with("authorization: <redacted>")
        })
        .count();
    assert!(redacted >= 1, "{log}");
    assert!(!log.contains("response=\""), "no digest response: {log}");
    assert!(!log.contains(PASSWORD));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_comes_back_after_a_box_reboot() {
    let emu = emulator(2).await;
    let _phone = phone(emu.addr(), "127.0.0.1:0", PASSWORD, &[]);
    emu.wait_for_binding(Duration::from_secs(10))
        .await
        .expect("phone registers");
    emu.reboot(Duration::from_secs(3));
    // Commands are handled in order: the reboot is done when this answers.
    assert!(
        emu.bindings().await.is_empty(),
        "the reboot forgot the binding"
    );
    let back = emu.wait_for_binding(Duration::from_secs(20)).await;
    assert!(back.is_some(), "re-registered by itself");
    assert_eq!(
        emu.call(blocked()).await.outcome,
        CallOutcome::TerminatedByPhone
    );
    assert_eq!(emu.violations().await, Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocked_calls_are_terminated_at_20_percent_loss() {
    let emu = emulator(300).await;
    let _phone = phone(emu.addr(), "127.0.0.1:0", PASSWORD, &[]);
    emu.wait_for_binding(Duration::from_secs(10))
        .await
        .expect("phone registers");
    emu.set_loss(0.2);
    for i in 0..5 {
        let report = emu.call(blocked()).await;
        assert_eq!(
            report.outcome,
            CallOutcome::TerminatedByPhone,
            "call {i}: {report}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_box_is_fine() {
    let emu = emulator(300).await;
    emu.set_delay(Duration::from_millis(300));
    let _phone = phone(emu.addr(), "127.0.0.1:0", PASSWORD, &[]);
    emu.wait_for_binding(Duration::from_secs(10))
        .await
        .expect("phone registers despite slow answers");
    assert_eq!(
        emu.call(blocked()).await.outcome,
        CallOutcome::TerminatedByPhone
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_is_one_clear_line_and_a_non_zero_exit() {
    let emu = emulator(300).await;
    let mut phone = phone(emu.addr(), "127.0.0.1:0", "wrong", &[]);
    let code = tokio::task::block_in_place(|| phone.exited_within(Duration::from_secs(10)));
    assert_eq!(code.and_then(|s| s.code()), Some(1));
    let log = phone.stderr();
    assert!(
        log.contains("the FRITZ!Box rejected user 620: wrong user name or password (403)"),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn works_over_ipv6() {
    let started = Emulator::start(EmulatorConfig {
        bind: "[::1]:0".parse().unwrap(),
        accounts: vec![("620".into(), PASSWORD.into())],
        ..EmulatorConfig::default()
    })
    .await;
    if !common::require(
        "ipv6",
        started.as_ref().err().map(|e| {
            format!("no IPv6 loopback (::1) here ({e}): enable IPv6 on lo (sysctl net.ipv6.conf.lo.disable_ipv6=0)")
        }),
    ) {
        return;
    }
    let emu = started.unwrap();
    let _phone = phone(emu.addr(), "[::1]:0", PASSWORD, &[]);
    let b = emu
        .wait_for_binding(Duration::from_secs(10))
        .await
        .expect("registers over IPv6");
    assert!(b.contact_uri.contains("[::1]"), "{}", b.contact_uri);
    assert_eq!(
        emu.call(blocked()).await.outcome,
        CallOutcome::TerminatedByPhone
    );
    assert_eq!(emu.violations().await, Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_password_variable_is_refused_not_skipped() {
    let emu = emulator(300).await;
    let mut phone = phone(emu.addr(), "127.0.0.1:0", "", &[]);
    let code = tokio::task::block_in_place(|| phone.exited_within(Duration::from_secs(10)));
    let log = phone.stderr();
    assert_eq!(code.and_then(|s| s.code()), Some(2), "{log}");
    assert!(
        log.contains("MINISIP4FB_PASSWORD is set but empty"),
        "{log}"
    );
}

/// A Box that drops our registration without a word (a reboot, an update)
/// and falls silent is noticed by its quiet: after three of its keepalive
/// intervals the phone registers again, long before its next refresh
/// (60 s). When the Box was last heard from is on `/api/status` and
/// `/metrics`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_box_that_silently_forgets_us_is_noticed_by_its_quiet() {
    let emu = common::start(EmulatorConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        accounts: vec![(USER.into(), PASSWORD.into())],
        expires: 300,
        options_interval: Some(Duration::from_millis(500)),
        ..EmulatorConfig::default()
    })
    .await;
    let mut phone = Proc::spawn_logged(
        Command::new(BIN)
            .args([
                "run",
                "--fritzbox",
                &emu.addr().to_string(),
                "--user",
                "620",
            ])
            .args(["--bind", "127.0.0.1:0", "--web", "127.0.0.1:0"])
            .args(["--events", "json"])
            .env("MINISIP4FB_PASSWORD", PASSWORD)
            .stdout(Stdio::piped()),
    );
    let events = phone.stdout_lines();
    let event = |name: &str| {
        let needle = format!("\"event\":\"{name}\"");
        events
            .lock()
            .unwrap()
            .iter()
            .find(|l| l.contains(&needle))
            .cloned()
    };
    emu.wait_for_binding(Duration::from_secs(10))
        .await
        .expect("phone registers");
    let web = crate::web::base(&phone).await;
    // Its keepalives learnt (two OPTIONS), then it forgets us and is silent.
    tokio::time::sleep(Duration::from_millis(1600)).await;
    let (_, status) = crate::web::get(&format!("{web}/api/status"), &[]);
    let status: serde_json::Value = serde_json::from_str(&status).unwrap();
    assert!(status["last_heard"].is_string(), "{status}");
    emu.reboot(Duration::ZERO);
    assert!(emu.bindings().await.is_empty());
    let forgot = std::time::Instant::now();
    let back = emu.wait_for_binding(Duration::from_secs(10)).await;
    assert!(back.is_some(), "registered again: {}", phone.log());
    assert!(
        forgot.elapsed() < Duration::from_secs(5),
        "within three keepalives (1.5 s) and a round trip, not at the refresh: {:?}",
        forgot.elapsed()
    );
    assert!(
        phone.log().contains("nothing heard from the FRITZ!Box for"),
        "{}",
        phone.log()
    );
    let (_, metrics) = crate::web::get(&format!("{web}/metrics"), &[]);
    let heard = metrics
        .lines()
        .find_map(|l| {
            l.strip_prefix("minisip4fb_fritzbox_last_heard_timestamp_seconds{account=\"620\"} ")
        })
        .and_then(|v| v.trim().parse::<i64>().ok());
    assert!(heard.is_some_and(|t| t > 1_700_000_000), "{metrics}");
    assert_eq!(event("registration_lost"), None, "it came back at once");

    // Now it forgets us and stays silent for 6 s: the REGISTER after its
    // quiet goes unanswered too, and that is said at once.
    tokio::time::sleep(Duration::from_millis(1600)).await;
    emu.reboot(Duration::from_secs(6));
    let gone = std::time::Instant::now();
    while event("registration_lost").is_none() && gone.elapsed() < Duration::from_secs(15) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let lost = gone.elapsed();
    let said =
        event("registration_lost").unwrap_or_else(|| panic!("registration_lost: {}", phone.log()));
    assert!(
        lost < Duration::from_secs(7),
        "its quiet (1.5 s) and three unanswered resends (3.5 s), not the REGISTER's 32 s: {lost:?}"
    );
    assert!(said.contains("fell quiet and does not answer"), "{said}");
    let (_, status) = crate::web::get(&format!("{web}/api/status"), &[]);
    assert!(
        status.contains("no-answer") || status.contains("no answer"),
        "{status}"
    );
    // Back after its silence: registered again, and said so.
    while event("registration_restored").is_none() && gone.elapsed() < Duration::from_secs(20) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(event("registration_restored").is_some(), "{}", phone.log());
    assert_eq!(emu.violations().await, Vec::<String>::new());
}

/// A rule on the caller's name: the Box sends a phonebook contact's name
/// (an imported spam phonebook's "SPAM: …"), and the rule ends the call.
#[tokio::test(flavor = "multi_thread")]
async fn a_name_from_a_spam_phonebook_is_terminated() {
    let emu = common::usual_box(61).await;
    let dir = common::fresh_dir("e2e", "names");
    std::fs::write(
        dir.join("config.toml"),
        "[[rule]]\nname = \"spam phonebook\"\nnames = [\"SPAM*\"]\naction = \"terminate\"\n",
    )
    .unwrap();
    std::fs::write(dir.join("pw"), format!("{PASSWORD}\n")).unwrap();
    let phone = Proc::spawn_logged(
        common::against_box(&["run"], &dir.join("config.toml"), emu.addr())
            .args(["--user", USER, "--password-file"])
            .arg(dir.join("pw")),
    );
    emu.wait_for_binding(Duration::from_secs(10))
        .await
        .expect("registers");
    let named = |name: &str| {
        CallSpec::new(Caller::Named {
            number: "0401234567".into(),
            name: name.into(),
        })
        .cancel_after(Duration::from_millis(800))
    };
    assert_eq!(
        emu.call(named("Spam: Gewinnspiel")).await.outcome,
        CallOutcome::TerminatedByPhone
    );
    assert_eq!(
        emu.call(named("Praxis Dr. Weber")).await.outcome,
        CallOutcome::RangUntilCancelled
    );
    assert!(
        phone
            .wait_for(
                "is named \"Spam: Gewinnspiel\", which matches SPAM*",
                Duration::from_secs(5)
            )
            .await,
        "{}",
        phone.log()
    );
    assert_eq!(emu.violations().await, Vec::<String>::new());
}
