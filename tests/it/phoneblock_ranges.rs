//! PhoneBlock's spam ranges (its binary list) and its live check, against
//! the emulated Box and the PhoneBlock stand-in on loopback.

use std::process::Command;

use minisip4fb_emulator::phoneblock::{PhoneBlockConfig, PhoneBlockStandIn};

use crate::common;
use crate::common::BIN;
use crate::phoneblock::{call, daemon_config_with, lookup, pb, run, stand_in};

/// PhoneBlock's spam ranges decide offline: a caller in a /10 range and
/// one in a /100 range are terminated without a request per call; a range
/// under `min_range_votes` and PhoneBlock's global whitelist ring. A
/// damaged binary list is refused and the ranges in use are kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spam_ranges_decide_offline_and_a_damaged_file_is_refused() {
    use minisip4fb_emulator::CallOutcome;
    use minisip4fb_emulator::phoneblock::Damage;
    use std::time::Duration;
    let listed = |p: &str, v| (p.to_owned(), v, "E_ADVERTISING".to_owned());
    let api = PhoneBlockStandIn::start(PhoneBlockConfig {
        token: "good".into(),
        community: vec![
            // A /10: +491571234560x, 25 votes.
            listed("+4915712345601", 10),
            listed("+4915712345602", 15),
            // A /100 only: +49891234567xx, 22 votes.
            listed("+4989123456712", 10),
            listed("+4989123456798", 12),
            // Too few votes for a range: 10 < 20.
            listed("+4940123456701", 5),
            listed("+4940123456702", 5),
        ],
        legitimate: vec!["+4915712345609".into()],
        // A range of your own: only in the binary personal list.
        blacklist: vec![("+4940555*".into(), String::new())],
        version: 7,
        ..PhoneBlockConfig::default()
    })
    .await
    .unwrap();
    let dir = common::fresh_dir("phoneblock", "ranges");
    let emu = common::usual_box(11).await;
    let write_config = |min_range: u32| {
        daemon_config_with(
            &dir,
            &api.url(),
            &format!("min_votes = 20\nmin_range_votes = {min_range}\n"),
        )
    };
    write_config(20);
    let mut d = run(&dir, &emu);
    emu.wait_for_binding(Duration::from_secs(10))
        .await
        .expect("registers");
    assert!(
        d.wait_for(
            "PhoneBlock: 3 spam ranges of at least 20 votes",
            Duration::from_secs(20)
        )
        .await,
        "{}",
        d.log()
    );
    // The start's requests are over when your own ranges were asked for.
    for _ in 0..100 {
        if api
            .requests()
            .iter()
            .any(|r| r.path.ends_with("type=personal"))
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let requests = api.requests().len();
    let calls = [
        ("015712345603", CallOutcome::TerminatedByPhone, "in the /10"),
        (
            "089123456755",
            CallOutcome::TerminatedByPhone,
            "in the /100",
        ),
        (
            "040123456703",
            CallOutcome::RangUntilCancelled,
            "10 < 20 votes",
        ),
        (
            "0405551234",
            CallOutcome::TerminatedByPhone,
            "your own range",
        ),
        (
            "015712345609",
            CallOutcome::RangUntilCancelled,
            "global whitelist",
        ),
    ];
    for (number, want, why) in calls {
        let ring = if want == CallOutcome::TerminatedByPhone {
            5000
        } else {
            300
        };
        assert_eq!(emu.call(call(number, ring)).await.outcome, want, "{why}");
    }
    for reason in [
        "+4915712345603 is in a PhoneBlock spam range +491571234560* (at least 20 votes)",
        "+4989123456755 is in a PhoneBlock spam range +49891234567* (at least 20 votes)",
        "+49405551234 in phoneblock:blacklist",
    ] {
        assert!(
            d.wait_for(reason, Duration::from_secs(10)).await,
            "{reason}: {}",
            d.log()
        );
    }
    assert_eq!(
        api.requests().len(),
        requests,
        "decided offline, nothing reported: {:?}",
        &api.requests()[requests..]
    );
    let binary: Vec<_> = api
        .requests()
        .into_iter()
        .filter(|r| r.path.contains("type=community"))
        .collect();
    assert_eq!(binary.len(), 1, "{binary:?}");
    assert_eq!(
        binary[0].path,
        "/blocklist?format=binary&type=community&minRange=20"
    );
    assert_eq!(d.terminate().map(|s| s.code()), Some(Some(0)));

    // Another threshold asks for the ranges again: a damaged answer is
    // refused, the ranges of before still decide.
    api.damage_next_binary(Damage::Truncated);
    write_config(21);
    let restarted = std::time::Instant::now();
    let d = run(&dir, &emu);
    common::registered_after(&emu, restarted).await;
    assert!(
        d.wait_for(
            "the spam ranges were not fetched, the rules keep the last: PhoneBlock's binary list is refused",
            Duration::from_secs(20)
        )
        .await,
        "{}",
        d.log()
    );
    assert_eq!(
        emu.call(call("015712345604", 5000)).await.outcome,
        CallOutcome::TerminatedByPhone,
        "the kept ranges"
    );
    let (code, out) = pb(&dir, &["status"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("spam ranges: 3 of at least 20 votes"), "{out}");
    let found = lookup(&dir, "015712345603");
    assert_eq!(found["decision"], "terminate", "{found}");
    assert_eq!(
        found["phoneblock_range"],
        serde_json::json!({"range": "+491571234560*", "digits": 12, "spam": true, "min_votes": 20})
    );
    assert_eq!(
        lookup(&dir, "015712345609")["phoneblock_binary"],
        serde_json::json!({"spam": false})
    );
    assert_eq!(api.violations(), Vec::<String>::new());
    assert_eq!(emu.violations().await, Vec::<String>::new());
}

/// The live check: an unknown caller PhoneBlock calls spam is ended while
/// it rings, within the budget; a caller decided locally causes no
/// request; a slow or a failing PhoneBlock leaves the call ringing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_check_ends_spam_the_copy_does_not_know_yet() {
    use minisip4fb_emulator::CallOutcome;
    use std::time::{Duration, Instant};
    let api = stand_in().await;
    let dir = common::fresh_dir("phoneblock", "live");
    daemon_config_with(
        &dir,
        &api.url(),
        "live_check = true\nlive_check_budget = \"1500ms\"\n",
    );
    let emu = common::usual_box(11).await;
    let mut d = run(&dir, &emu);
    emu.wait_for_binding(Duration::from_secs(10))
        .await
        .expect("registers");
    assert!(
        d.wait_for("PhoneBlock: full sync", Duration::from_secs(20))
            .await,
        "{}",
        d.log()
    );
    // Voted for after the copy was made: only the live check knows.
    api.set_votes("+4930555123456", 50, "G_FRAUD");
    let started = Instant::now();
    assert_eq!(
        emu.call(call("030555123456", 5000)).await.outcome,
        CallOutcome::TerminatedByPhone,
        "spam by the live check"
    );
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "ended within the budget: {:?}",
        started.elapsed()
    );
    assert!(
        d.wait_for(
            "+4930555123456 has 50 PhoneBlock votes (live check)",
            Duration::from_secs(10)
        )
        .await,
        "{}",
        d.log()
    );
    assert_eq!(api.checks(), 1);
    // Decided from local data: the copy (20 votes), your whitelist.
    for (number, want) in [
        ("030111", CallOutcome::TerminatedByPhone),
        ("030777", CallOutcome::RangUntilCancelled),
    ] {
        let ring = if want == CallOutcome::TerminatedByPhone {
            5000
        } else {
            300
        };
        assert_eq!(emu.call(call(number, ring)).await.outcome, want, "{number}");
    }
    assert_eq!(api.checks(), 1, "no request for a caller decided locally");
    // Unknown to PhoneBlock too: it rings on.
    assert_eq!(
        emu.call(call("030999888777", 2500)).await.outcome,
        CallOutcome::RangUntilCancelled
    );
    assert_eq!(api.checks(), 2);
    // Slow, then down: the call rings as if there were no check.
    api.set_votes("+4930555123457", 50, "G_FRAUD");
    api.delay_checks(Duration::from_secs(3));
    assert_eq!(
        emu.call(call("030555123457", 2500)).await.outcome,
        CallOutcome::RangUntilCancelled,
        "an answer after the budget changes nothing"
    );
    api.delay_checks(Duration::ZERO);
    api.fail_next(1, 503, None);
    assert_eq!(
        emu.call(call("030555123457", 2500)).await.outcome,
        CallOutcome::RangUntilCancelled,
        "PhoneBlock down changes nothing"
    );
    assert!(
        d.wait_for(
            "(default (ring): no rule matched +4930555123457)",
            Duration::from_secs(10)
        )
        .await,
        "{}",
        d.log()
    );
    assert_eq!(d.terminate().map(|s| s.code()), Some(Some(0)));
    let (code, out) = pb(&dir, &["status"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("live checks: 2 answered (1 ended the call), 1 late, 1 failed"),
        "{out}"
    );
    // `lookup --live` asks as the daemon does, and says what it would do.
    let out = Command::new(BIN)
        .args(["lookup", "030555123456", "--live", "--json", "--config"])
        .arg(dir.join("config.toml"))
        .output()
        .unwrap();
    let found: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(found["decision"], "ring", "{found}");
    assert_eq!(found["live"]["votes"], 50, "{found}");
    assert_eq!(found["live"]["decision"], "terminate", "{found}");
    assert_eq!(api.checks(), 4, "the one refused with 503 is not answered");
    assert_eq!(api.violations(), Vec::<String>::new());
    assert_eq!(emu.violations().await, Vec::<String>::new());
}
