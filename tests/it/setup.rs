//! `setup` and `barring` against the emulated Box's TR-064 endpoint; the
//! account `setup` creates then registers over SIP.

use std::path::PathBuf;
use std::process::Output;

use minisip4fb_emulator::Emulator;
use minisip4fb_emulator::tr064::Tr064Config;

use crate::common;
use crate::common::BIN;

pub(crate) async fn run(args: &[&str], admin_pw: &str) -> Output {
    tokio::process::Command::new(BIN)
        .args(args)
        .env("MINISIP4FB_ADMIN_PASSWORD", admin_pw)
        .env_remove("MINISIP4FB_PASSWORD")
        .output()
        .await
        .unwrap()
}

pub(crate) use common::said as text;

/// The emulated Box with TR-064 `tr` and these SIP accounts.
pub(crate) async fn emulated_box(accounts: &[(&str, &str)], tr: Tr064Config) -> Emulator {
    common::emulated_box(accounts, Some(tr), 0).await
}

/// Someone presses the Box's button as soon as a second factor waits
/// (looking for at most 10 s); `true` once confirmed.
pub(crate) fn press_the_button(emu: std::sync::Arc<Emulator>) -> tokio::task::JoinHandle<bool> {
    tokio::spawn(async move {
        for _ in 0..100 {
            if emu.confirm_second_factor() {
                return true;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        false
    })
}

/// `minisip4fb check` with the config setup wrote, against the Box's registrar.
async fn check_against(cfg: &str, emu: &Emulator) -> Output {
    let registrar = emu.addr().to_string();
    let args = [
        "check",
        "--config",
        cfg,
        "--fritzbox",
        &registrar,
        "--bind",
        "127.0.0.1:0",
    ];
    run(&args, "").await
}

pub(crate) fn dir(name: &str) -> PathBuf {
    common::fresh_dir("setup", name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_is_idempotent_and_the_account_registers() {
    let emu = emulated_box(&[], Tr064Config::default()).await;
    let url = emu.tr064_url().unwrap().to_owned();
    let d = dir("idem");
    let config = d.join("config.toml");
    std::fs::write(
        &config,
        "# my spam shield\n[numbers]\narea_code = \"030\" # Berlin\n",
    )
    .unwrap();
    let cfg = config.to_str().unwrap();

    let dry = run(
        &[
            "setup",
            "--box",
            &url,
            "--admin-user",
            "admin",
            "--config",
            cfg,
            "--dry-run",
        ],
        "fritz-admin-pw",
    )
    .await;
    assert!(dry.status.success(), "{}", text(&dry));
    assert!(
        text(&dry).contains("would create IP phone \"minisip4fb\" at index 0"),
        "{}",
        text(&dry)
    );
    assert!(emu.ip_phones().is_empty(), "dry run changes nothing");

    let first = run(
        &[
            "setup",
            "--box",
            &url,
            "--admin-user",
            "admin",
            "--config",
            cfg,
        ],
        "fritz-admin-pw",
    )
    .await;
    assert!(first.status.success(), "{}", text(&first));
    assert!(
        text(&first).contains("internal number **620"),
        "{}",
        text(&first)
    );
    let phones = emu.ip_phones();
    assert_eq!(phones.len(), 1);
    let pw = std::fs::read_to_string(d.join("password")).unwrap();
    assert_eq!(pw.trim(), phones[0].password);
    assert!(
        pw.trim().len() == 32 && pw.trim().bytes().all(|b| b.is_ascii_alphanumeric()),
        "letters and digits only, as the Box demands over TR-064: {pw:?}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(d.join("password"))
                .unwrap()
                .permissions()
                .mode()
                & 0o077,
            0,
            "password file private"
        );
    }
    let written = std::fs::read_to_string(&config).unwrap();
    assert!(
        written.contains("# my spam shield") && written.contains("# Berlin"),
        "comments kept:\n{written}"
    );
    assert!(
        written.contains("user = \"minisip4fb\"")
            && written.contains("password_file = \"password\""),
        "{written}"
    );

    let second = run(
        &[
            "setup",
            "--box",
            &url,
            "--admin-user",
            "admin",
            "--config",
            cfg,
        ],
        "fritz-admin-pw",
    )
    .await;
    assert!(second.status.success(), "{}", text(&second));
    assert!(
        text(&second).contains("nothing to change"),
        "{}",
        text(&second)
    );
    assert_eq!(
        emu.ip_phones(),
        phones,
        "a second run changes nothing and creates no second account"
    );

    // The created credentials register over SIP.
    let check = check_against(cfg, &emu).await;
    assert!(check.status.success(), "{}", text(&check));
    assert!(
        text(&check).contains("registered: the Box granted"),
        "{}",
        text(&check)
    );

    let wrong = run(
        &[
            "setup",
            "--box",
            &url,
            "--admin-user",
            "admin",
            "--config",
            cfg,
        ],
        "wrong",
    )
    .await;
    assert_eq!(wrong.status.code(), Some(1));
    assert!(
        text(&wrong).contains("wrong user name or password"),
        "{}",
        text(&wrong)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn barring_commands_and_the_missing_right() {
    let emu = emulated_box(&[], Tr064Config::default()).await;
    let url = emu.tr064_url().unwrap().to_owned();
    let b = |args: &'static [&'static str]| {
        let url = url.clone();
        async move {
            let mut all = vec!["barring", "--box", url.as_str(), "--admin-user", "admin"];
            all.extend_from_slice(args);
            run(&all, "fritz-admin-pw").await
        }
    };
    assert!(
        text(&b(&["add", "09005551234", "--name", "spam"]).await).contains("barred 09005551234")
    );
    assert!(text(&b(&["add", "09005551234"]).await).contains("barred already"));
    assert_eq!(emu.barred_numbers(), vec!["09005551234".to_string()]);
    let list = b(&["list"]).await;
    assert!(
        text(&list).contains("09005551234") && text(&list).contains("spam"),
        "{}",
        text(&list)
    );
    assert!(text(&b(&["remove", "09005551234"]).await).contains("removed"));
    assert!(emu.barred_numbers().is_empty());

    let emu = emulated_box(
        &[],
        Tr064Config {
            telefonie_right: false,
            ..Tr064Config::default()
        },
    )
    .await;
    let out = run(
        &[
            "barring",
            "--box",
            emu.tr064_url().unwrap(),
            "--admin-user",
            "admin",
            "list",
        ],
        "fritz-admin-pw",
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains("lacks the right 'Telefonie'"),
        "{}",
        text(&out)
    );
}

/// The daemon with TR-064: the Box's phonebook is an allow list, and a
/// terminate-and-bar rule puts a caller on the Box's barring list once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn phonebook_rings_through_and_terminated_callers_get_barred_once() {
    use minisip4fb_emulator::{CallOutcome, CallSpec, Caller};
    use std::time::Duration;
    let emu = emulated_box(&[("620", "geheim123")], Tr064Config::default()).await;
    let d = dir("daemon");
    std::fs::write(d.join("password"), "geheim123\n").unwrap();
    std::fs::write(d.join("adminpw"), "fritz-admin-pw\n").unwrap();
    std::fs::write(
        d.join("config.toml"),
        format!(
            r#"[fritzbox]
user = "620"
password_file = "password"
tr064 = "{}"
admin_user = "admin"
admin_password_file = "adminpw"
[numbers]
area_code = "030"
[[rule]]
name = "phonebook"
lists = ["fritzbox:Telefonbuch"]
action = "ring"
[[rule]]
name = "all of Berlin"
numbers = ["030*"]
action = "terminate"
[[rule]]
name = "premium"
numbers = ["0900*"]
action = "terminate-and-bar"
"#,
            emu.tr064_url().unwrap()
        ),
    )
    .unwrap();
    // Killed when dropped, also when an assertion below fails.
    let daemon = common::Proc::spawn_logged(
        common::against_box(&["run"], &d.join("config.toml"), emu.addr())
            .env_remove("MINISIP4FB_ADMIN_PASSWORD")
            .env("RUST_LOG", "minisip4fb=debug"),
    );
    emu.wait_for_binding(Duration::from_secs(10))
        .await
        .expect("registers");
    let oma = || {
        CallSpec::new(Caller::National("0301234567".into()))
            .cancel_after(Duration::from_millis(300))
    };
    let other =
        CallSpec::new(Caller::National("0309999999".into())).cancel_after(Duration::from_secs(5));
    assert_eq!(
        emu.call(other).await.outcome,
        CallOutcome::TerminatedByPhone,
        "rule 2 blocks Berlin"
    );
    assert!(
        daemon
            .wait_for("(new lists from the FRITZ!Box)", Duration::from_secs(20))
            .await,
        "the rules take the phonebook: {}",
        daemon.log()
    );
    assert_eq!(
        emu.call(oma()).await.outcome,
        CallOutcome::RangUntilCancelled,
        "Oma from the Box's phonebook rings through although rule 2 would block her"
    );
    let spam = || {
        CallSpec::new(Caller::National("09005551234".into())).cancel_after(Duration::from_secs(5))
    };
    assert_eq!(
        emu.call(spam()).await.outcome,
        CallOutcome::TerminatedByPhone
    );
    // Barring runs off the call path: a second call may still reach the
    // phone (and queue a second, looked-up-first barring) or already be
    // refused by the Box itself.
    let second = emu.call(spam()).await.outcome;
    assert!(
        daemon
            .wait_for(
                "added 09005551234 to the FRITZ!Box's call-barring list",
                Duration::from_secs(10)
            )
            .await,
        "{}",
        daemon.log()
    );
    match second {
        CallOutcome::TerminatedByPhone => assert!(
            daemon
                .wait_for("call-barring list already", Duration::from_secs(10))
                .await,
            "the second barring looked it up first: {}",
            daemon.log()
        ),
        CallOutcome::BarredByBox => {}
        other => panic!("second spam call: {other:?}"),
    }
    assert_eq!(
        emu.barred_numbers(),
        vec!["09005551234".to_string()],
        "barred once after two calls"
    );
    assert_eq!(
        emu.call(spam()).await.outcome,
        CallOutcome::BarredByBox,
        "now the Box refuses it before any phone rings"
    );
    assert_eq!(emu.violations().await, Vec::<String>::new());
}

pub(crate) fn setup_args<'a>(url: &'a str, cfg: &'a str) -> [&'a str; 7] {
    [
        "setup",
        "--box",
        url,
        "--admin-user",
        "admin",
        "--config",
        cfg,
    ]
}

/// The Box refuses any sign but letters and digits in an IP phone's
/// password (803): a fresh Box takes setup's password every time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_fresh_boxes_in_a_row_take_the_password_and_give_their_numbers() {
    for i in 0..3 {
        let emu = emulated_box(&[], Tr064Config::default()).await;
        let url = emu.tr064_url().unwrap().to_owned();
        let d = dir(&format!("fresh{i}"));
        let cfg = d.join("config.toml");
        let out = run(&setup_args(&url, cfg.to_str().unwrap()), "fritz-admin-pw").await;
        assert!(out.status.success(), "box {i}: {}", text(&out));
        assert_eq!(emu.ip_phones().len(), 1, "box {i}");
        let c = minisip4fb::config::load(&cfg).unwrap();
        assert_eq!(
            (c.numbers.country.as_str(), c.numbers.area_code.as_deref()),
            ("DE", Some("030")),
            "[numbers] from X_AVM-DE_GetVoIPCommonCountryCode/AreaCode"
        );
        assert!(text(&out).contains("clear text"), "{}", text(&out));
    }
}

/// [numbers] the person wrote stay; the Box's differing view is said.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn numbers_in_the_config_are_kept() {
    let emu = emulated_box(
        &[],
        Tr064Config {
            country_code: ("43".into(), "00".into()),
            area_code: ("1".into(), "0".into()),
            ..Tr064Config::default()
        },
    )
    .await;
    let url = emu.tr064_url().unwrap().to_owned();
    let d = dir("keepnumbers");
    let cfg = d.join("config.toml");
    std::fs::write(&cfg, "[numbers]\ncountry = \"DE\"\n").unwrap();
    let out = run(&setup_args(&url, cfg.to_str().unwrap()), "fritz-admin-pw").await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("the Box is in AT (+43)"),
        "{}",
        text(&out)
    );
    let c = minisip4fb::config::load(&cfg).unwrap();
    assert_eq!(
        (c.numbers.country.as_str(), c.numbers.area_code.as_deref()),
        ("DE", Some("01")),
        "country kept, the missing area code taken from the Box"
    );
}

/// A password file that was readable by others before setup is not after.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_loose_password_file_is_replaced_by_a_private_one() {
    use std::os::unix::fs::PermissionsExt;
    let emu = emulated_box(&[], Tr064Config::default()).await;
    let url = emu.tr064_url().unwrap().to_owned();
    let d = dir("loosepw");
    let cfg = d.join("config.toml");
    let pw = d.join("password");
    std::fs::write(&pw, "old\n").unwrap();
    std::fs::set_permissions(&pw, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = run(&setup_args(&url, cfg.to_str().unwrap()), "fritz-admin-pw").await;
    assert!(out.status.success(), "{}", text(&out));
    let mode = std::fs::metadata(&pw).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert_ne!(std::fs::read_to_string(&pw).unwrap(), "old\n");
}

/// Even with RUST_LOG=trace, the TR-064 digest (user, nonce, response)
/// never reaches the log: `check` talks TR-064 with logging on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trace_logging_shows_no_tr064_credentials() {
    let emu = emulated_box(&[("620", "geheim123")], Tr064Config::default()).await;
    let d = dir("trace");
    std::fs::write(d.join("password"), "geheim123\n").unwrap();
    std::fs::write(d.join("adminpw"), "fritz-admin-pw\n").unwrap();
    std::fs::write(
        d.join("config.toml"),
        format!(
            "[fritzbox]\nuser = \"620\"\npassword_file = \"password\"\ntr064 = \"{}\"\nadmin_user = \"admin\"\nadmin_password_file = \"adminpw\"\n",
            emu.tr064_url().unwrap()
        ),
    )
    .unwrap();
    let out = tokio::process::Command::new(BIN)
        .args(["check", "--config"])
        .arg(d.join("config.toml"))
        .args([
            "--fritzbox",
            &emu.addr().to_string(),
            "--bind",
            "127.0.0.1:0",
        ])
        .env("RUST_LOG", "trace")
        .env_remove("MINISIP4FB_PASSWORD")
        .env_remove("MINISIP4FB_ADMIN_PASSWORD")
        .output()
        .await
        .unwrap();
    let all = text(&out);
    assert!(out.status.success(), "{all}");
    assert!(all.contains("TR-064"), "TR-064 was used: {all}");
    assert!(
        !all.contains("Digest username") && !all.contains("response=\""),
        "{all}"
    );
}

/// A Box that already has an IP phone: ours gets the next index and
/// internal number, and registers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_box_with_another_phone_gives_ours_the_next_index() {
    let emu = emulated_box(&[("HomeAssistant", "Ab12Cd34Ef")], Tr064Config::default()).await;
    let url = emu.tr064_url().unwrap().to_owned();
    let d = dir("another");
    let cfg = d.join("config.toml");
    let out = run(&setup_args(&url, cfg.to_str().unwrap()), "fritz-admin-pw").await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("created IP phone \"minisip4fb\" at index 1: internal number **621"),
        "{}",
        text(&out)
    );
    let phones = emu.ip_phones();
    assert_eq!(phones.len(), 2);
    assert_eq!(phones[0].username, "HomeAssistant", "the other phone kept");
    let check = check_against(cfg.to_str().unwrap(), &emu).await;
    assert!(check.status.success(), "{}", text(&check));
}

/// The password file is lost: setup gives the existing phone a new
/// password, in place where the Box allows it, else (820) by deleting and
/// re-creating it; the old password stops working either way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_password_is_reset_in_place_or_by_re_creating_the_phone() {
    for refuse_index_in_use in [true, false] {
        let emu = emulated_box(
            &[
                ("minisip4fb", "OldPassword1"),
                ("HomeAssistant", "Ab12Cd34Ef"),
            ],
            Tr064Config {
                refuse_index_in_use,
                ..Tr064Config::default()
            },
        )
        .await;
        let url = emu.tr064_url().unwrap().to_owned();
        let d = dir(&format!("reset{refuse_index_in_use}"));
        let cfg = d.join("config.toml");
        let out = run(&setup_args(&url, cfg.to_str().unwrap()), "fritz-admin-pw").await;
        let said = text(&out);
        assert!(out.status.success(), "{said}");
        let phones = emu.ip_phones();
        assert_eq!(phones.len(), 2, "no second account: {phones:?}");
        let ours = phones.iter().find(|p| p.username == "minisip4fb").unwrap();
        let pw = std::fs::read_to_string(d.join("password")).unwrap();
        assert_eq!(ours.password, pw.trim(), "{said}");
        assert_ne!(ours.password, "OldPassword1");
        if refuse_index_in_use {
            assert!(
                said.contains("error 820): deleting and re-creating it"),
                "{said}"
            );
            assert!(
                said.contains("reset the password of IP phone \"minisip4fb\" at index 1"),
                "{said}"
            );
        } else {
            assert!(
                said.contains("reset the password of IP phone \"minisip4fb\" at index 0: internal number **620"),
                "{said}"
            );
        }
    }
}

/// Ten IP phones are all a Box keeps: setup says so and changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_box_is_refused_with_what_to_do() {
    let names: Vec<(String, String)> = (0..10)
        .map(|i| (format!("phone{i}"), format!("Password{i}x")))
        .collect();
    let accounts: Vec<(&str, &str)> = names
        .iter()
        .map(|(u, p)| (u.as_str(), p.as_str()))
        .collect();
    let emu = emulated_box(&accounts, Tr064Config::default()).await;
    let url = emu.tr064_url().unwrap().to_owned();
    let d = dir("full");
    let cfg = d.join("config.toml");
    let out = run(&setup_args(&url, cfg.to_str().unwrap()), "fritz-admin-pw").await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("already has 10 IP phones, the most it keeps: delete one"),
        "{}",
        text(&out)
    );
    assert_eq!(emu.ip_phones().len(), 10);
    assert!(!d.join("password").exists());
}

/// Issue 28: `minisip4fb setup … | head -1`: with stdout and stderr
/// closed, setup does its whole work (config and password written) and
/// exits 0, without a panic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_stdout_is_no_panic() {
    let emu = emulated_box(&[], Tr064Config::default()).await;
    let url = emu.tr064_url().unwrap().to_owned();
    let d = dir("closed-stdout");
    let cfg = d.join("config.toml");
    let mut child = tokio::process::Command::new(BIN)
        .args(setup_args(&url, cfg.to_str().unwrap()))
        .env("MINISIP4FB_ADMIN_PASSWORD", "fritz-admin-pw")
        .env_remove("MINISIP4FB_PASSWORD")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The reader is gone before anything is written, as after `head -1`.
    drop(child.stdout.take());
    drop(child.stderr.take());
    let status = tokio::time::timeout(std::time::Duration::from_secs(30), child.wait())
        .await
        .expect("ends")
        .unwrap();
    assert_eq!(status.code(), Some(0), "no panic (101), no SIGPIPE");
    let c = minisip4fb::config::load(&cfg).expect("the config was written");
    assert_eq!(c.fritzbox.user.as_deref(), Some("minisip4fb"));
    assert_eq!(emu.ip_phones().len(), 1);
}

/// The stand-alone `emulate --tr064` serves the Box's TR-064 side too: a
/// wrong admin password is refused as by the Box, `setup` creates an IP
/// phone that registers at its registrar, `barring` bars a number.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stand_alone_emulator_serves_tr064() {
    use tokio::io::AsyncBufReadExt;
    let mut emulate = tokio::process::Command::new(BIN)
        .args(["emulate", "--bind", "127.0.0.1:0", "--tr064", "127.0.0.1:0"])
        .args(["--admin-password", "box-admin-pw"])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(emulate.stdout.take().unwrap()).lines();
    let (mut sip, mut url) = (None, None);
    let read = async {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(rest) = line.strip_prefix("emulated FRITZ!Box listening on ") {
                sip = rest.split_whitespace().next().map(str::to_owned);
            }
            if let Some(rest) = line.strip_prefix("emulated TR-064 at ") {
                url = rest.split_whitespace().next().map(str::to_owned);
            }
            if sip.is_some() && url.is_some() {
                return;
            }
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(10), read)
        .await
        .expect("emulate says where it listens within 10 s");
    let (sip, url) = (sip.unwrap(), url.unwrap());
    let d = dir("emulate");
    let config = d.join("config.toml");
    let cfg = config.to_str().unwrap();

    let wrong = run(&setup_args(&url, cfg), "not-the-password").await;
    assert_eq!(wrong.status.code(), Some(1), "{}", text(&wrong));
    assert!(
        text(&wrong).contains("wrong user name or password"),
        "{}",
        text(&wrong)
    );
    let set = run(&setup_args(&url, cfg), "box-admin-pw").await;
    assert!(set.status.success(), "{}", text(&set));
    let args = [
        "check",
        "--config",
        cfg,
        "--fritzbox",
        &sip,
        "--bind",
        "127.0.0.1:0",
    ];
    let check = run(&args, "").await;
    assert!(
        text(&check).contains("registered: the Box granted"),
        "{}",
        text(&check)
    );
    let bar = run(
        &[
            "barring",
            "--box",
            &url,
            "--admin-user",
            "admin",
            "add",
            "09005551234",
        ],
        "box-admin-pw",
    )
    .await;
    assert!(text(&bar).contains("barred 09005551234"), "{}", text(&bar));
    emulate.kill().await.unwrap();
}
