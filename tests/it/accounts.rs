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
    let calls = crate::daemon::calls_json(&dir);
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
    assert!(
        daemon.log().contains("(account office) listening on"),
        "{}",
        daemon.log()
    );
    assert_eq!(office.violations().await, Vec::<String>::new());
}
