//! `minisip4fb demo`: the main job on the embedded emulator. An emulated
//! FRITZ!Box and the real phone (the same code path as `run`) on loopback;
//! the Box places a short series of calls and we show what the phone
//! decided and what the Box saw.

use std::time::Duration;

use clap::Args;
use tokio::sync::mpsc;

use crate::daemon::{CallInfo, Parts, RuleSource, serve};
use crate::emulator::{
    CallOutcome, CallReport, CallSpec, Caller, Emulator, EmulatorConfig, Report,
};
use crate::net::{Phone, PhoneConfig};

/// The demo household's rules: the same file format as `run --config`.
const DEMO_CONFIG: &str = r#"
[numbers]
country = "DE"
area_code = "030"

[[rule]]
name = "family"
numbers = ["030 1234567"]
action = "ring"

[[rule]]
name = "premium numbers"
types = ["premium"]
action = "terminate"

[[rule]]
name = "mass calling"
numbers = ["0137*"]
action = "terminate"

[[rule]]
name = "withheld numbers"
anonymous = true
action = "terminate"
"#;

#[derive(Args, Debug, Clone)]
pub struct DemoArgs {
    /// Also print the phone's own log and every SIP message (credentials redacted).
    #[arg(long, short)]
    pub verbose: bool,
}

struct Scene {
    title: &'static str,
    spec: CallSpec,
    expect: CallOutcome,
    expect_text: &'static str,
}

fn scenes() -> Vec<Scene> {
    let ms = Duration::from_millis;
    vec![
        Scene {
            title: "a known contact",
            spec: CallSpec::new(Caller::Named {
                number: "0301234567".into(),
                name: "Oma".into(),
            })
            .cancel_after(ms(1200)),
            expect: CallOutcome::RangUntilCancelled,
            expect_text: "must keep ringing",
        },
        Scene {
            title: "a premium-rate number",
            spec: CallSpec::new(Caller::National("09005551234".into())),
            expect: CallOutcome::TerminatedByPhone,
            expect_text: "must be terminated",
        },
        Scene {
            title: "a caller who withholds the number",
            spec: CallSpec::new(Caller::Anonymous),
            expect: CallOutcome::TerminatedByPhone,
            expect_text: "must be terminated",
        },
        Scene {
            title: "an internal call from another phone of the Box",
            spec: CallSpec::new(Caller::Internal {
                number: "**622".into(),
                name: "Haui Mobil".into(),
            })
            .cancel_after(ms(900)),
            expect: CallOutcome::RangUntilCancelled,
            expect_text: "must never be touched",
        },
        Scene {
            title: "a caller who hangs up first",
            spec: CallSpec::new(Caller::National("01712345678".into())).cancel_after(ms(400)),
            expect: CallOutcome::RangUntilCancelled,
            expect_text: "must ring until the caller gives up",
        },
        Scene {
            title: "a call from abroad",
            spec: CallSpec::new(Caller::International("00442079460000".into()))
                .cancel_after(ms(700)),
            expect: CallOutcome::RangUntilCancelled,
            expect_text: "not on the block list: must ring",
        },
    ]
}

pub async fn demo() -> i32 {
    let user = "minisip4fb-demo";
    let password = format!("demo-{:08x}", rand::random::<u32>());
    let emu_cfg = EmulatorConfig {
        bind: "127.0.0.1:0".parse().expect("literal"),
        accounts: vec![(user.into(), password.clone())],
        options_interval: Some(Duration::from_millis(1500)),
        ..EmulatorConfig::default()
    };
    let emulator = match Emulator::start(emu_cfg).await {
        Ok(e) => e,
        Err(e) => {
            eprintln!("minisip4fb demo: cannot start the emulated FRITZ!Box on loopback: {e}");
            return 1;
        }
    };
    let mut reports = emulator.reports();
    let mut config = PhoneConfig::new(&emulator.addr().to_string(), user, &password);
    config.bind = "127.0.0.1:0".parse().expect("literal");
    let source = RuleSource::new(
        crate::config::parse(DEMO_CONFIG).expect("the demo config parses"),
        None,
        Vec::new(),
    );
    let rules = match source.compile() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("minisip4fb demo: {e}");
            return 1;
        }
    };
    let phone = match Phone::start(config).await {
        Ok(p) => p,
        Err(e) => {
            eprintln!("minisip4fb demo: cannot start the phone: {e}");
            return 1;
        }
    };
    println!(
        "minisip4fb demo: an emulated FRITZ!Box on {}, the phone on {}",
        emulator.addr(),
        phone.contact()
    );
    println!(
        "  rules: family (030 1234567) rings; premium numbers, 0137* and withheld numbers are terminated"
    );
    let (dec_tx, mut decisions) = mpsc::unbounded_channel::<CallInfo>();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let parts = Parts {
        source,
        rules,
        calllog: None,
        events_json: false,
        calls: Some(dec_tx),
    };
    let phone_task = tokio::spawn(serve(phone, parts, async {
        let _ = stop_rx.await;
    }));

    let Some(binding) = emulator.wait_for_binding(Duration::from_secs(5)).await else {
        eprintln!("minisip4fb demo: FAILED: the phone did not register within 5 s");
        return 1;
    };
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

    let mut failures = Vec::new();
    let mut terminate_times = Vec::new();
    let scenes = scenes();
    for (i, scene) in scenes.iter().enumerate() {
        let report = emulator.call(scene.spec.clone()).await;
        let decision = tokio::time::timeout(Duration::from_secs(3), decisions.recv())
            .await
            .ok()
            .flatten();
        let ok = report.outcome == scene.expect;
        if report.outcome == CallOutcome::TerminatedByPhone
            && let Some(t) = report.bye_after
        {
            terminate_times.push(t);
        }
        print_scene(i + 1, scene, &report, decision.as_ref(), ok);
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

    let _ = stop_tx.send(());
    let code = phone_task.await.unwrap_or(1);
    tokio::time::sleep(Duration::from_millis(50)).await;
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
        "\nSummary: {} calls; {terminated} terminated ({avg:.1} ms from INVITE to BYE on average), {} left ringing.",
        scenes.len(),
        scenes.len() - terminated
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
    for v in &violations {
        failures.push(format!("protocol violation: {v}"));
    }
    if bindings != 0 {
        failures.push(format!(
            "{bindings} binding(s) left after the phone shut down"
        ));
    }
    if code != 0 {
        failures.push(format!("the phone exited with {code}"));
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

fn print_scene(
    n: usize,
    scene: &Scene,
    report: &CallReport,
    decision: Option<&CallInfo>,
    ok: bool,
) {
    println!("  {n}. {}, {}", scene.spec.caller, scene.title);
    let phone = match decision {
        Some(d) => format!("{}: {}", d.decision, d.reason),
        None => "(no decision reported)".into(),
    };
    println!("     phone: {phone}");
    println!("     Box:   {report}");
    println!(
        "     {} {}",
        if ok { "ok:" } else { "WRONG:" },
        scene.expect_text
    );
}
