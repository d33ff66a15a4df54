//! Several accounts in one daemon (issue 33, point 1): two emulated
//! Boxes, one IP phone at each, one config. Each registers on its own,
//! rules can name an account, every call is recorded with its account,
//! and when one Box goes away the other's calls are still screened.

use std::process::{Command, Stdio};
use std::time::Duration;

use minisip4fb_emulator::{CallOutcome, CallSpec, Caller, EmulatorConfig};

use crate::common::{self, BIN, Proc};

fn call(n: &str) -> CallSpec {
    CallSpec::new(Caller::National(n.into())).cancel_after(Duration::from_millis(800))
}

#[tokio::test(flavor = "multi_thread")]
async fn two_boxes_one_daemon_and_one_box_gone() {
    let dir = common::fresh_dir("accounts", "two");
    let boxes = |user: &str, password: &str, seed| EmulatorConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        accounts: vec![(user.into(), password.into())],
        options_interval: Some(Duration::from_millis(500)),
        seed,
        ..EmulatorConfig::default()
    };
    let home = common::start(boxes("620", "home-pw-1", 71)).await;
    let office = common::start(boxes("621", "office-pw-2", 72)).await;
    std::fs::write(dir.join("home.pw"), "home-pw-1\n").unwrap();
    std::fs::write(dir.join("office.pw"), "office-pw-2\n").unwrap();
    std::fs::write(
        dir.join("config.toml"),
        format!(
            "[fritzbox]\nname = \"home\"\nhost = \"{}\"\nuser = \"620\"\npassword_file = \"home.pw\"\nbind = \"127.0.0.1:0\"\n\
             [[account]]\nname = \"office\"\nhost = \"{}\"\nuser = \"621\"\npassword_file = \"office.pw\"\nbind = \"127.0.0.1:0\"\n\
             [calllog]\ndb = \"calls.db\"\n\
             [[rule]]\nname = \"premium\"\nnumbers = [\"0900*\"]\naction = \"terminate\"\n\
             [[rule]]\nname = \"no mobiles at the office\"\naccounts = [\"office\"]\nnumbers = [\"0170*\"]\naction = \"terminate\"\n",
            home.addr(),
            office.addr()
        ),
    )
    .unwrap();
    let daemon = Proc::spawn_logged(
        Command::new(BIN)
            .args(["run", "--config"])
            .arg(dir.join("config.toml"))
            .args(["--web", "127.0.0.1:0"])
            .env_remove("MINISIP4FB_PASSWORD")
            .stdout(Stdio::null()),
    );
    for (emu, name) in [(&home, "home"), (&office, "office")] {
        assert!(
            emu.wait_for_binding(Duration::from_secs(10))
                .await
                .is_some(),
            "{name} registered: {}",
            daemon.log()
        );
    }
    let web = crate::web::base(&daemon).await;

    // The office's rule holds for the office's calls only.
    assert_eq!(
        home.call(call("01701234567")).await.outcome,
        CallOutcome::RangUntilCancelled
    );
    assert_eq!(
        office.call(call("01701234567")).await.outcome,
        CallOutcome::TerminatedByPhone
    );
    assert_eq!(
        home.call(call("09001234567")).await.outcome,
        CallOutcome::TerminatedByPhone
    );

    // Both in the status and the metrics, by name.
    let (_, status) = crate::web::get(&format!("{web}/api/status"), &[]);
    let status: serde_json::Value = serde_json::from_str(&status).unwrap();
    let accounts = status["accounts"].as_array().expect("accounts");
    assert_eq!(accounts.len(), 2, "{status}");
    for (a, name, user) in [
        (&accounts[0], "home", "620"),
        (&accounts[1], "office", "621"),
    ] {
        assert_eq!(
            (a["account"].as_str(), a["user"].as_str()),
            (Some(name), Some(user))
        );
        assert_eq!(a["registration"], "registered", "{a}");
        assert!(a["last_heard"].is_string(), "{a}");
    }
    // The dashboard: each account's registration, and the calls' lines.
    let (_, page) = crate::web::get(&format!("{web}/"), &[("Accept-Language", "en")]);
    for row in [
        "Registration (home)",
        "Registration (office)",
        "FRITZ!Box (office)",
    ] {
        assert!(page.contains(row), "{row} in\n{page}");
    }
    let (_, page) = crate::web::get(&format!("{web}/calls"), &[]);
    assert!(page.contains("data-accounts=\"2\""), "{page}");
    let (_, metrics) = crate::web::get(&format!("{web}/metrics"), &[]);
    for line in [
        "minisip4fb_registered{account=\"home\"} 1",
        "minisip4fb_registered{account=\"office\"} 1",
    ] {
        assert!(metrics.contains(line), "{line} in\n{metrics}");
    }

    // The home Box goes away, once the phones know its keepalives (two
    // OPTIONS, 0.5 s apart): the office's calls are still screened.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    drop(home);
    assert_eq!(
        office.call(call("09005550000")).await.outcome,
        CallOutcome::TerminatedByPhone
    );
    assert!(
        daemon
            .wait_for(
                "account home: nothing heard from the FRITZ!Box",
                Duration::from_secs(5)
            )
            .await
            || daemon
                .wait_for("account home: no answer", Duration::from_secs(5))
                .await,
        "the home Box's silence is noticed and named: {}",
        daemon.log()
    );
    assert_eq!(
        office.call(call("01709999999")).await.outcome,
        CallOutcome::TerminatedByPhone
    );
    let (_, status) = crate::web::get(&format!("{web}/api/status"), &[]);
    let status: serde_json::Value = serde_json::from_str(&status).unwrap();
    assert_eq!(
        status["accounts"][1]["registration"], "registered",
        "{status}"
    );

    // Every call in the log with its account.
    let calls = crate::daemon::calls_once(&dir, crate::daemon::ended(5)).await;
    let mut seen: Vec<(String, String, String)> = calls
        .iter()
        .map(|c| {
            (
                c["account"].as_str().unwrap_or("?").to_owned(),
                c["caller"].as_str().unwrap_or("?").to_owned(),
                c["decision"].as_str().unwrap_or("?").to_owned(),
            )
        })
        .collect();
    seen.sort();
    let mut want = [
        ("home", "01701234567", "ring"),
        ("office", "01701234567", "terminate"),
        ("home", "09001234567", "terminate"),
        ("office", "09005550000", "terminate"),
        ("office", "01709999999", "terminate"),
    ]
    .map(|(a, c, d)| (a.to_owned(), c.to_owned(), d.to_owned()));
    want.sort();
    assert_eq!(seen, want, "{calls:?}");
    let office_reason = calls
        .iter()
        .find(|c| c["account"] == "office" && c["caller"] == "01701234567")
        .and_then(|c| c["reason"].as_str())
        .unwrap();
    assert!(
        office_reason.ends_with(" on line office"),
        "{office_reason}"
    );
    // The table names each call's line.
    let table = common::succeeded(
        Command::new(BIN)
            .args(["calls", "--config"])
            .arg(dir.join("config.toml")),
    );
    let table = String::from_utf8_lossy(&table.stdout);
    assert!(
        table.lines().next().is_some_and(|h| h.contains(" line ")),
        "{table}"
    );
    assert_eq!(
        table.lines().filter(|l| l.contains(" office ")).count(),
        3,
        "{table}"
    );
    assert!(
        daemon.log().contains("(account office) listening on"),
        "{}",
        daemon.log()
    );
    assert_eq!(office.violations().await, Vec::<String>::new());
}

/// `setup --account` adds a second Box to a config that has one: its own
/// IP phone there, its own password file, an `[[account]]` of its name;
/// the first account is left as it was, and `check` registers both.
#[tokio::test(flavor = "multi_thread")]
async fn setup_adds_a_second_box_to_the_config() {
    use minisip4fb_emulator::tr064::Tr064Config;
    let home = common::emulated_box(&[], Some(Tr064Config::default()), 81).await;
    let office = common::emulated_box(&[], Some(Tr064Config::default()), 82).await;
    let dir = common::fresh_dir("accounts", "setup");
    let config = dir.join("config.toml");
    let setup = |url: &str, more: &[&str]| {
        let out = Command::new(BIN)
            .args(["setup", "--box", url, "--admin-user", "admin", "--config"])
            .arg(&config)
            .args(more)
            .env("MINISIP4FB_ADMIN_PASSWORD", "fritz-admin-pw")
            .output()
            .unwrap();
        let text = common::said(&out);
        assert!(out.status.success(), "{text}");
        text
    };
    setup(home.tr064_url().unwrap(), &[]);
    let home_pw = std::fs::read_to_string(dir.join("password")).unwrap();
    let said = setup(office.tr064_url().unwrap(), &["--account", "office"]);
    assert!(
        said.contains("wrote [[account]] \"office\" user, password_file and host"),
        "{said}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("password")).unwrap(),
        home_pw,
        "the first account's password is untouched"
    );
    let phones = |emu: &minisip4fb_emulator::Emulator| -> Vec<String> {
        emu.ip_phones().into_iter().map(|p| p.username).collect()
    };
    assert_eq!(phones(&home), ["minisip4fb"]);
    assert_eq!(phones(&office), ["minisip4fb-office"]);
    let cfg = minisip4fb::config::load(&config).unwrap();
    assert_eq!(cfg.accounts.len(), 1);
    let a = &cfg.accounts[0];
    assert_eq!(
        (a.name.as_deref(), a.user.as_deref()),
        (Some("office"), Some("minisip4fb-office"))
    );
    assert_eq!(
        a.password_file.as_deref(),
        Some(dir.join("office.password").as_path())
    );
    // Run again: nothing changes.
    let again = setup(office.tr064_url().unwrap(), &["--account", "office"]);
    assert!(again.contains("nothing to change"), "{again}");

    // Both registrars on loopback (setup wrote the TR-064 host, whose SIP
    // port is 5060 at a real Box): `check` registers each account.
    for (name, emu) in [(None, &home), (Some("office"), &office)] {
        let (addr, bind) = (emu.addr().to_string(), "127.0.0.1:0");
        minisip4fb::config::edit_account(&config, name, |t| {
            t["host"] = toml_edit::value(addr);
            t["bind"] = toml_edit::value(bind);
        })
        .unwrap();
    }
    let out = Command::new(BIN)
        .args(["check", "--config"])
        .arg(&config)
        .env_remove("MINISIP4FB_PASSWORD")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("account office:"), "{text}");
    assert_eq!(
        text.matches("unregistered again: all good").count(),
        2,
        "{text}"
    );
    assert_eq!(home.violations().await, Vec::<String>::new());
    assert_eq!(office.violations().await, Vec::<String>::new());
}

/// The Box's call monitor shows a call for our number that never reached
/// the phone (the Box dropped the registration without a word): said as
/// `call_not_delivered` within seconds; a call that reached us, or one to
/// a number the phone does not ring for, is not.
#[tokio::test(flavor = "multi_thread")]
async fn a_call_the_box_saw_but_never_sent_is_said() {
    let emu = common::start(EmulatorConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        accounts: vec![(common::USER.into(), common::PASSWORD.into())],
        call_monitor: Some("127.0.0.1:0".parse().unwrap()),
        seed: 91,
        ..EmulatorConfig::default()
    })
    .await;
    let dir = common::fresh_dir("accounts", "monitor");
    std::fs::write(dir.join("pw"), format!("{}\n", common::PASSWORD)).unwrap();
    std::fs::write(
        dir.join("config.toml"),
        format!(
            "[fritzbox]\nhost = \"{}\"\nuser = \"620\"\npassword_file = \"pw\"\nbind = \"127.0.0.1:0\"\n\
             call_monitor = true\ncall_monitor_address = \"{}\"\nincoming = [\"030 1111111\"]\n",
            emu.addr(),
            emu.call_monitor().unwrap()
        ),
    )
    .unwrap();
    let mut daemon = Proc::spawn_logged(
        Command::new(BIN)
            .args(["run", "--config"])
            .arg(dir.join("config.toml"))
            .args(["--web", "127.0.0.1:0", "--events", "json"])
            .env_remove("MINISIP4FB_PASSWORD")
            .stdout(Stdio::piped()),
    );
    let events = daemon.stdout_lines();
    let missed = || -> Vec<serde_json::Value> {
        events
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains("\"event\":\"call_not_delivered\""))
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    emu.wait_for_binding(Duration::from_secs(10))
        .await
        .expect("registers");
    assert!(
        daemon
            .wait_for("call monitor of account 620 at", Duration::from_secs(10))
            .await,
        "{}",
        daemon.log()
    );
    let web = crate::web::base(&daemon).await;
    // A call that reaches us: nothing to say.
    assert_eq!(
        emu.call(call("01701234567")).await.outcome,
        CallOutcome::RangUntilCancelled
    );
    tokio::time::sleep(Duration::from_millis(3500)).await;
    assert_eq!(missed(), Vec::<serde_json::Value>::new());

    // The Box forgets us without a word; a call to another household
    // number, then one to ours, come in.
    emu.forget_phones();
    let mut other = call("01705550000");
    other.called = "0309999999".into();
    assert_eq!(emu.call(other).await.outcome, CallOutcome::NoBinding);
    assert_eq!(
        emu.call(call("01709876543")).await.outcome,
        CallOutcome::NoBinding
    );
    let ringed = std::time::Instant::now();
    while missed().is_empty() && ringed.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let took = ringed.elapsed();
    let said = missed();
    assert_eq!(
        said.len(),
        1,
        "only the call to our number: {said:?}\n{}",
        daemon.log()
    );
    assert_eq!(said[0]["caller"], "01709876543");
    assert_eq!(said[0]["called"], "0301111111");
    assert_eq!(said[0]["account"], "620");
    assert!(
        took < Duration::from_secs(5),
        "within the grace (3 s): {took:?}"
    );
    assert!(
        daemon.log().contains("never reached account 620"),
        "{}",
        daemon.log()
    );
    // The web side hears the event on its own thread: a moment later.
    let mut status = serde_json::Value::Null;
    for _ in 0..100 {
        let (_, text) = crate::web::get(&format!("{web}/api/status"), &[]);
        status = serde_json::from_str(&text).unwrap();
        if !status["accounts"][0]["not_delivered"].is_null() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        status["accounts"][0]["not_delivered"]["caller"], "01709876543",
        "{status}"
    );
    let (_, metrics) = crate::web::get(&format!("{web}/metrics"), &[]);
    assert!(
        metrics.contains("minisip4fb_calls_not_delivered_total{account=\"620\"} 1"),
        "{metrics}"
    );

    // `check` tries the call monitor too, and says how to switch it on.
    let check = |config: &std::path::Path| {
        Command::new(BIN)
            .args(["check", "--config"])
            .arg(config)
            .env_remove("MINISIP4FB_PASSWORD")
            .output()
            .unwrap()
    };
    let ok = check(&dir.join("config.toml"));
    let said = String::from_utf8_lossy(&ok.stdout);
    assert!(ok.status.success(), "{said}");
    assert!(said.contains(": reachable"), "{said}");
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_at = closed.local_addr().unwrap();
    drop(closed);
    let text = std::fs::read_to_string(dir.join("config.toml")).unwrap();
    let off = dir.join("off.toml");
    std::fs::write(
        &off,
        text.replace(
            &emu.call_monitor().unwrap().to_string(),
            &closed_at.to_string(),
        ),
    )
    .unwrap();
    let refused = check(&off);
    let err = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1), "{err}");
    assert!(err.contains("dialling #96*5*"), "{err}");
}
