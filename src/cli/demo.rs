//! `minisip4fb demo`: the main job on the embedded emulator. An emulated
//! FRITZ!Box and the real phone (the same code path as `run`) on loopback;
//! the Box places a short series of calls and we show what the phone
//! decided and what the Box saw.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use tokio::sync::{broadcast, mpsc};

mod household;
use household::{COMMUNITY_E164, DEMO_CONFIG, Line, PREMIUM, Scene, scenes};

use super::run::RunArgs;
use super::tr064::{BoxArgs, SetupArgs, do_setup};
use minisip4fb::call::Record;
use minisip4fb::daemon::{Parts, fetch_box_lists, serve};
use minisip4fb_emulator::phoneblock::{PhoneBlockConfig, PhoneBlockStandIn};
use minisip4fb_emulator::tr064::Tr064Config;
use minisip4fb_emulator::{CallOutcome, CallReport, Emulator, EmulatorConfig, Report};

#[derive(Args, Debug, Clone)]
pub struct DemoArgs {
    /// Also print the phone's own log and every SIP message (credentials redacted).
    #[arg(long, short)]
    pub verbose: bool,
    /// Also serve the dashboard here (loopback) and keep the demo going: the
    /// Box calls again every 20 s until Ctrl-C, or for 10 minutes.
    #[arg(long, value_name = "IP:PORT")]
    pub web: Option<std::net::SocketAddr>,
}

/// How long `demo --web` keeps calling at most, and how often.
const LINGER: Duration = Duration::from_secs(600);
const LINGER_EVERY: Duration = Duration::from_secs(20);

pub async fn demo(web: Option<std::net::SocketAddr>) -> i32 {
    let dir = std::env::temp_dir().join(format!("minisip4fb-demo-{}", std::process::id()));
    let code = match std::fs::create_dir_all(&dir) {
        Ok(()) => run_demo(&dir, web).await,
        Err(e) => {
            eprintln!("minisip4fb demo: cannot create {}: {e}", dir.display());
            1
        }
    };
    let _ = std::fs::remove_dir_all(&dir);
    code
}

/// Fails the demo with a message.
fn fail(what: impl std::fmt::Display) -> i32 {
    eprintln!("minisip4fb demo: FAILED: {what}");
    1
}

async fn run_demo(dir: &std::path::Path, web: Option<std::net::SocketAddr>) -> i32 {
    match steps(dir, web).await {
        Ok(code) => code,
        Err(e) => fail(e),
    }
}

/// The demo's steps, as a user would take them; an `Err` ends it early.
async fn steps(dir: &std::path::Path, web: Option<std::net::SocketAddr>) -> Result<i32, String> {
    let phoneblock = start_phoneblock(dir).await?;
    let (emulator, office, config_path) = start_box(dir, &phoneblock.url()).await?;
    set_up(&config_path, None).await?;
    set_up(&config_path, Some(office.tr064_url().unwrap_or_default())).await?;
    sync_phoneblock(&config_path).await?;
    let mut reports = emulator.reports();
    let bus = broadcast::channel(1024).0;
    let said = bus.subscribe();
    let daemon = start_daemon(config_path, web, bus).await?;
    registered(&emulator, &mut reports, &daemon.user).await?;
    registered(&office, &mut office.reports(), "minisip4fb-office").await?;
    let (mut failures, terminate_times, spoke) =
        play_scenes([&emulator, &office], daemon.decisions, said).await;
    let barred = wait_for_barring(&emulator).await;
    if !barred.iter().any(|n| n == PREMIUM) {
        failures.push(format!("{PREMIUM} is not on the Box's call-barring list"));
    }
    let reported = wait_for_report(&phoneblock).await;
    if reported.is_empty() {
        failures.push(format!("{COMMUNITY_E164} was not reported to PhoneBlock"));
    } else {
        println!(
            "
  PhoneBlock heard of {} blocked call(s) of listed numbers: {}",
            reported.len(),
            reported
                .iter()
                .map(|r| r.strip_prefix("00").map_or(r.clone(), |d| format!("+{d}")))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    failures.extend(
        phoneblock
            .violations()
            .into_iter()
            .map(|v| format!("PhoneBlock: {v}")),
    );
    let more = match web {
        Some(addr) => linger(&emulator, addr).await,
        None => 0,
    };
    let _ = daemon.stop.send(());
    match daemon.task.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => failures.push(format!("the phone stopped: {e}")),
        Err(e) => failures.push(format!("the phone's task failed: {e}")),
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    failures.extend(
        office
            .violations()
            .await
            .into_iter()
            .map(|v| format!("the office's Box: {v}")),
    );
    if !office.bindings().await.is_empty() {
        failures.push("the office's phone left a binding after shutdown".into());
    }
    Ok(summary(
        &emulator,
        &mut reports,
        (&terminate_times, spoke, more),
        &barred,
        failures,
    )
    .await)
}

/// The emulated PhoneBlock with a few community numbers, and the token
/// file the config names (private, as a token must be).
async fn start_phoneblock(dir: &std::path::Path) -> Result<PhoneBlockStandIn, String> {
    let listed = |p: &str, v, r: &str| (p.to_owned(), v, r.to_owned());
    let api = PhoneBlockStandIn::start(PhoneBlockConfig {
        community: vec![
            listed(COMMUNITY_E164, 50, "E_ADVERTISING"),
            listed("+4915771234501", 12, "G_FRAUD"),
            listed("+4915771234502", 12, "G_FRAUD"),
            listed("+4915112345678", 10, "G_FRAUD"),
            listed("+493012345999", 2, "C_PING"),
        ],
        ..PhoneBlockConfig::default()
    })
    .await
    .map_err(|e| format!("cannot start the emulated PhoneBlock on loopback: {e}"))?;
    let token = dir.join("phoneblock-token");
    std::fs::write(&token, api.token())
        .map_err(|e| format!("cannot write {}: {e}", token.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o600));
    }
    Ok(api)
}

/// The local copy of PhoneBlock's list, as a user makes it:
/// `minisip4fb phoneblock sync`.
async fn sync_phoneblock(config_path: &std::path::Path) -> Result<(), String> {
    println!(
        "
$ minisip4fb phoneblock sync --config minisip4fb.toml"
    );
    let args = super::phoneblock::PhoneblockArgs {
        command: super::phoneblock::PhoneblockCommand::Sync(super::phoneblock::ConfigArg {
            config: config_path.to_owned(),
        }),
    };
    match tokio::task::spawn_blocking(move || super::phoneblock::phoneblock(args)).await {
        Ok(0) => Ok(()),
        Ok(code) => Err(format!("phoneblock sync exited with {code}")),
        Err(e) => Err(format!("phoneblock sync: {e}")),
    }
}

/// Reports go out in the background: gives them up to 3 s to arrive.
async fn wait_for_report(phoneblock: &PhoneBlockStandIn) -> Vec<String> {
    for _ in 0..30 {
        let reported = phoneblock.reported();
        if !reported.is_empty() {
            return reported;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Vec::new()
}

/// The emulated Boxes on loopback (the home's, and the office's with its
/// call monitor) and the config the demo starts from.
async fn start_box(
    dir: &std::path::Path,
    phoneblock: &str,
) -> Result<(Emulator, Emulator, PathBuf), String> {
    // Setup and the daemon read it from the file setup's config names.
    let admin_password = format!("demo-admin-{:08x}", rand::random::<u32>());
    let emu_cfg = EmulatorConfig {
        bind: "127.0.0.1:0".parse().expect("literal"),
        accounts: vec![],
        options_interval: Some(Duration::from_millis(1500)),
        tr064: Some(Tr064Config {
            admin_password: admin_password.clone(),
            ..Tr064Config::default()
        }),
        ..EmulatorConfig::default()
    };
    let emulator = Emulator::start(emu_cfg.clone())
        .await
        .map_err(|e| format!("cannot start the emulated FRITZ!Box on loopback: {e}"))?;
    let office = Emulator::start(EmulatorConfig {
        call_monitor: Some("127.0.0.1:0".parse().expect("literal")),
        phonebooks: Vec::new(),
        ..emu_cfg
    })
    .await
    .map_err(|e| format!("cannot start the office's emulated FRITZ!Box on loopback: {e}"))?;
    let tr064 = emulator.tr064_url().unwrap_or_default().to_owned();
    let config_path = dir.join("minisip4fb.toml");
    let config_text = DEMO_CONFIG
        .replace("{sip}", &emulator.addr().to_string())
        .replace("{tr064}", &tr064)
        .replace("{office_sip}", &office.addr().to_string())
        .replace("{office_tr064}", office.tr064_url().unwrap_or_default())
        .replace(
            "{office_monitor}",
            &office
                .call_monitor()
                .map(|a| a.to_string())
                .unwrap_or_default(),
        )
        .replace("{phoneblock}", phoneblock);
    std::fs::write(&config_path, config_text)
        .and_then(|()| std::fs::write(dir.join("admin-password"), &admin_password))
        .and_then(|()| std::fs::write(dir.join("block.txt"), "# blocked from the web\n"))
        .and_then(|()| std::fs::write(dir.join("allow.txt"), "# allowed from the web\n"))
        .map_err(|e| format!("cannot write to {}: {e}", dir.display()))?;
    println!(
        "minisip4fb demo: an emulated FRITZ!Box with SIP on {} and TR-064 on {tr064},\n  and the office's with SIP on {} and its call monitor on {};\n  the config lives in {} for the demo's length",
        emulator.addr(),
        office.addr(),
        office
            .call_monitor()
            .map(|a| a.to_string())
            .unwrap_or_default(),
        dir.display()
    );
    Ok((emulator, office, config_path))
}

/// The account, as a user would make it: `minisip4fb setup`; with the
/// office Box's TR-064 URL, `setup --account office` there.
async fn set_up(config_path: &std::path::Path, office: Option<&str>) -> Result<(), String> {
    match office {
        None => println!("\n$ minisip4fb setup --config minisip4fb.toml"),
        Some(url) => {
            println!("\n$ minisip4fb setup --config minisip4fb.toml --account office --box {url}")
        }
    }
    let setup = SetupArgs {
        target: BoxArgs {
            config: Some(config_path.to_owned()),
            url: office.map(str::to_owned),
            ..BoxArgs::default()
        },
        account: office.map(|_| "office".to_owned()),
        user: None,
        name: "minisip4fb".into(),
        incoming: String::new(),
        dry_run: false,
    };
    match tokio::task::spawn_blocking(move || do_setup(&setup, None)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(format!("setup: {e}")),
        Err(e) => Err(format!("setup: {e}")),
    }
}

/// The daemon as `run --config minisip4fb.toml` starts it.
struct Daemon {
    user: String,
    decisions: mpsc::UnboundedReceiver<Record>,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), minisip4fb::daemon::ServeError>>,
}

async fn start_daemon(
    config_path: PathBuf,
    web: Option<std::net::SocketAddr>,
    bus: broadcast::Sender<minisip4fb::call::DaemonEvent>,
) -> Result<Daemon, String> {
    let run_args = RunArgs {
        phone: super::run::PhoneArgs {
            config: Some(config_path),
            ..Default::default()
        },
        web,
        ..RunArgs::default()
    };
    let super::run::Checked {
        settings,
        web,
        mqtt,
        hooks,
        ..
    } = super::run::validate(&run_args)
        .map_err(|e| format!("the config setup wrote: {}", e.join("; ")))?;
    let (source, accounts) = (settings.source, settings.accounts);
    // The daemon reads the Box's lists in the background; the demo waits
    // for them so that its first call already meets the phonebook.
    let link = match source.box_link(None) {
        Some(Ok(l)) => l,
        Some(Err(e)) => return Err(e.to_string()),
        None => return Err("no TR-064 in the demo config".into()),
    };
    let lists = link
        .with(fetch_box_lists)
        .await
        .map_err(|e| format!("reading the Box's phonebooks: {e}"))?;
    let books: Vec<String> = lists
        .keys()
        .filter(|k| *k != "barring")
        .map(|k| format!("{k:?}"))
        .collect();
    println!(
        "\nread the Box's phonebook {} and its call-barring list over TR-064",
        books.join(", ")
    );
    *source.box_lists.lock().unwrap_or_else(|p| p.into_inner()) = lists;
    // The rules must compile before the phone starts (serve would say so too).
    source.compile().map_err(|e| e.to_string())?;
    println!(
        "  rules: the Box's phonebook rings; numbers with 4 or more PhoneBlock votes are terminated;\n         premium numbers are terminated and barred at the Box; names marked \"SPAM\", 0137* and withheld\n         numbers are terminated; on the office's line, mobile numbers 0176* are terminated"
    );
    let (dec_tx, decisions) = mpsc::unbounded_channel::<Record>();
    let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let user = accounts[0].phone.user.clone();
    let parts = Parts {
        source,
        events_json: false,
        calls: Some(dec_tx),
        events: Some(bus),
        tr064: Some(Ok(link)),
        mqtt,
        hooks,
        calllog_path: settings.db,
        web,
        state_dir: None,
    };
    let task = tokio::spawn(serve(accounts, parts, async {
        let _ = stop_rx.await;
    }));
    Ok(Daemon {
        user,
        decisions,
        stop,
        task,
    })
}

/// `demo --web`: the dashboard stays up and the Box calls again, one
/// scene every 20 s, until Ctrl-C (or SIGTERM) or for 10 minutes.
async fn linger(emulator: &Emulator, addr: std::net::SocketAddr) -> usize {
    println!(
        "\nthe dashboard: http://{addr}/ (the Box calls again every {} s; Ctrl-C ends the demo, or {} minutes)",
        LINGER_EVERY.as_secs(),
        LINGER.as_secs() / 60
    );
    let stop = tokio::time::sleep(LINGER);
    let signalled = super::run::shutdown_signal();
    tokio::pin!(stop, signalled);
    let scenes = scenes();
    let mut calls = 0;
    for scene in scenes.iter().cycle() {
        tokio::select! {
            _ = &mut signalled => break,
            _ = &mut stop => break,
            _ = tokio::time::sleep(LINGER_EVERY) => {}
        }
        let report = emulator.call(scene.spec.clone()).await;
        println!("  {}, {}: {report}", scene.spec.caller, scene.title);
        calls += 1;
    }
    calls
}

/// Waits for the phone's binding at the Box and says how it got there.
async fn registered(
    emulator: &Emulator,
    reports: &mut broadcast::Receiver<Report>,
    user: &str,
) -> Result<(), String> {
    let binding = emulator
        .wait_for_binding(Duration::from_secs(5))
        .await
        .ok_or("the phone did not register within 5 s")?;
    let mut challenged = false;
    while let Ok(r) = reports.try_recv() {
        challenged |= matches!(r, Report::Challenged { .. });
    }
    println!(
        "\n  registered as {user:?} at {}{}; the Box granted {} s\n",
        binding.contact_uri,
        if challenged {
            " after the 401 digest challenge"
        } else {
            ""
        },
        binding
            .expires_at
            .saturating_duration_since(std::time::Instant::now())
            .as_secs()
            + 1
    );
    Ok(())
}

/// Every scene's call, its decision and whether it ended as expected;
/// returns the failures, the INVITE → BYE times of calls terminated at
/// once, and how many calls were answered with audio.
async fn play_scenes(
    [home, office]: [&Emulator; 2],
    mut decisions: mpsc::UnboundedReceiver<Record>,
    mut said: broadcast::Receiver<minisip4fb::call::DaemonEvent>,
) -> (Vec<String>, Vec<Duration>, usize) {
    let mut failures = Vec::new();
    let mut terminate_times = Vec::new();
    let mut spoke = 0;
    for (i, scene) in scenes().iter().enumerate() {
        let emulator = match scene.line {
            Line::Home => home,
            Line::Office => office,
            Line::OfficeForgot => {
                office.forget_phones();
                office
            }
        };
        let report = emulator.call(scene.spec.clone()).await;
        // No decision for a call that never came (the call monitor says so).
        let decision = if scene.line == Line::OfficeForgot {
            None
        } else {
            tokio::time::timeout(Duration::from_secs(3), decisions.recv())
                .await
                .ok()
                .flatten()
        };
        let noticed = match scene.tells {
            Some(kind) => Some(told(&mut said, kind).await),
            None => None,
        };
        let ok = report.outcome == scene.expect && noticed.as_ref().is_none_or(Option::is_some);
        // The time to end a spam call: not of calls that spoke or listened.
        spoke += usize::from(report.media.is_some());
        if report.outcome == CallOutcome::TerminatedByPhone
            && report.media.is_none()
            && let Some(t) = report.bye_after
        {
            terminate_times.push(t);
        }
        print_scene(i + 1, scene, &report, decision.as_ref(), ok);
        if let Some(m) = noticed.flatten() {
            println!("     daemon: {m}");
        }
        if !ok {
            failures.push(format!(
                "call {} ({}): {} but {}",
                i + 1,
                scene.spec.caller,
                scene.expect_text,
                report
            ));
        }
    }
    (failures, terminate_times, spoke)
}

/// The daemon's event of kind `kind`, waited for up to 5 s (the call
/// monitor's grace is 3 s): what it said.
async fn told(
    said: &mut broadcast::Receiver<minisip4fb::call::DaemonEvent>,
    kind: minisip4fb::call::EventKind,
) -> Option<String> {
    use minisip4fb::call::DaemonEvent;
    let text = |e: DaemonEvent| match e {
        DaemonEvent::CallNotDelivered {
            account,
            caller,
            called,
            ..
        } => format!(
            "call_not_delivered: {} → {called} on line {account}, seen on the Box's call monitor",
            caller.as_deref().unwrap_or("withheld")
        ),
        DaemonEvent::ChallengePassed { caller, until, .. } => format!(
            "challenge_passed: {} pressed the digit asked for and may call again{}",
            caller.who(minisip4fb::call::show::Lang::En),
            until.map_or(" from now on".into(), |u| format!(" until {}", u.local()))
        ),
        DaemonEvent::ChallengeFailed {
            caller,
            asked,
            pressed,
            ..
        } => format!(
            "challenge_failed: {} was asked for {asked} and pressed {}",
            caller.who(minisip4fb::call::show::Lang::En),
            pressed.as_deref().unwrap_or("nothing")
        ),
        e => e.kind().as_str().to_owned(),
    };
    tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match said.recv().await {
                Ok(e) if e.kind() == kind => break Some(text(e)),
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => break None,
            }
        }
    })
    .await
    .ok()
    .flatten()
}

/// terminate-and-bar works off the decision path: gives it up to 3 s to
/// reach the Box's call-barring list, which it returns.
async fn wait_for_barring(emulator: &Emulator) -> Vec<String> {
    let mut barred = emulator.barred_numbers();
    for _ in 0..30 {
        if barred.iter().any(|n| n == PREMIUM) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        barred = emulator.barred_numbers();
    }
    barred
}

/// What the Box saw, and the demo's exit code.
async fn summary(
    emulator: &Emulator,
    reports: &mut broadcast::Receiver<Report>,
    (terminate_times, spoke, more): (&[Duration], usize, usize),
    barred: &[String],
    mut failures: Vec<String>,
) -> i32 {
    let calls = scenes().len();
    let missed = scenes()
        .iter()
        .filter(|s| s.line == Line::OfficeForgot)
        .count();
    let bindings = emulator.bindings().await.len();
    let violations = emulator.violations().await;
    let (mut options_ok, mut options_missed) = (0, 0);
    while let Ok(r) = reports.try_recv() {
        match r {
            Report::Options { answered: true } => options_ok += 1,
            Report::Options { answered: false } => options_missed += 1,
            _ => {}
        }
    }
    let terminated = terminate_times.len();
    let avg = terminate_times
        .iter()
        .map(|d| d.as_secs_f64() * 1000.0)
        .sum::<f64>()
        / terminated.max(1) as f64;
    println!(
        "\nSummary: {calls} calls; {terminated} terminated at once ({avg:.1} ms from INVITE to BYE on average), {spoke} answered with audio, {} left ringing, {missed} never delivered by the Box (seen on its call monitor){}.",
        calls - terminated - spoke - missed,
        if more > 0 {
            format!("; then {more} more while the dashboard was up")
        } else {
            String::new()
        }
    );
    println!(
        "  The Box saw {} protocol violation{}; {options_ok} OPTIONS keepalive{} answered{}; after shutdown the phone unregistered ({bindings} binding{} left).",
        violations.len(),
        if violations.len() == 1 { "" } else { "s" },
        if options_ok == 1 { "" } else { "s" },
        if options_missed > 0 {
            format!(", {options_missed} missed")
        } else {
            String::new()
        },
        if bindings == 1 { "" } else { "s" },
    );
    println!(
        "  The Box's call-barring list now holds: {}.",
        if barred.is_empty() {
            "nothing".to_owned()
        } else {
            barred.join(", ")
        }
    );
    for v in &violations {
        failures.push(format!("protocol violation: {v}"));
    }
    if bindings != 0 {
        failures.push(format!(
            "{bindings} binding(s) left after the phone shut down"
        ));
    }
    if failures.is_empty() {
        println!("\nEvery call ended as expected.");
        0
    } else {
        println!("\nFAILED:");
        for f in &failures {
            println!("  - {f}");
        }
        1
    }
}

fn print_scene(n: usize, scene: &Scene, report: &CallReport, decision: Option<&Record>, ok: bool) {
    println!("  {n}. {}, {}", scene.spec.caller, scene.title);
    let phone = match decision {
        Some(d) => format!("{}: {}", d.decision, d.reason),
        None if scene.line == Line::OfficeForgot => "(no INVITE came)".into(),
        None => "(no decision reported)".into(),
    };
    println!("     phone: {phone}");
    println!("     Box:   {report}");
    if let Some(m) = report.media.as_ref().filter(|m| !m.packets.is_empty()) {
        println!(
            "            heard {} RTP packets of {} ({:.1} s of audio)",
            m.packets.len(),
            m.answer.as_ref().map_or("?", |a| a.codec.as_str()),
            m.audio.len() as f64 / 8000.0
        );
    }
    if let Some(m) = report.media.as_ref().filter(|m| !m.keys_sent.is_empty()) {
        println!("            pressed {} (RFC 4733)", m.keys_sent);
    }
    println!(
        "     {} {}",
        if ok { "ok:" } else { "WRONG:" },
        scene.expect_text
    );
}
