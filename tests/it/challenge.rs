//! Issue 34, 1: the key-press check end to end. The emulated Box's caller
//! listens to what the phone says and presses the digit it heard (it
//! knows the voice's clips, not the digit the phone chose), or presses
//! the wrong key, or none. Through the daemon: the pass list, its
//! expiry, the refusal after repeated failures, the events (`--events
//! json`, hooks), the call log and the dashboard's keep and take back.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use minisip4fb::media::challenge::voice;
use minisip4fb_emulator::{CallOutcome, CallReport, CallSpec, Caller, Clip, Emulator};

use crate::common::{self, Proc};
use crate::daemon::calls_once;
use crate::web::{base, get, post};

/// Every digit of the built-in voice, in both languages: what a person
/// listening for "press N" recognises.
fn the_voice() -> Vec<Clip> {
    let v = voice();
    (0..2)
        .flat_map(|lang| {
            (0..10u8).map(move |d| {
                (
                    char::from(b'0' + d),
                    v.digits[lang][usize::from(d)].samples().to_vec(),
                )
            })
        })
        .collect()
}

fn caller(number: &str) -> CallSpec {
    CallSpec::new(Caller::International(number.into()))
}

/// Audio packets the Box heard in the call.
fn heard(r: &CallReport) -> usize {
    r.media.as_ref().map_or(0, |m| m.packets.len())
}

/// The `--events json` lines of kind `kind` once `n` are there (at most 10 s).
async fn events(lines: &Arc<Mutex<Vec<String>>>, kind: &str, n: usize) -> Vec<serde_json::Value> {
    let mut found = Vec::new();
    for _ in 0..200 {
        found = lines
            .lock()
            .unwrap()
            .iter()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["event"] == kind)
            .collect();
        if found.len() >= n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    found
}

async fn daemon(dir: &std::path::Path, emu: &Emulator) -> (Proc, Arc<Mutex<Vec<String>>>, String) {
    let (d, lines) = common::run_with_events(&dir.join("config.toml"), emu.addr());
    let url = base(&d).await;
    assert!(
        d.wait_for("2 rule(s)", Duration::from_secs(20)).await,
        "{}",
        d.log()
    );
    emu.wait_for_binding(Duration::from_secs(10))
        .await
        .expect("registers");
    (d, lines, url)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_passes_the_check_and_a_dialer_does_not() {
    let dir = common::fresh_dir("challenge", "daemon");
    let hooks = dir.join("hooks.txt");
    crate::media::write_wav(&dir.join("prompt.wav"), 8000, 1, 0.6);
    std::fs::write(dir.join("pw"), format!("{}\n", common::PASSWORD)).unwrap();
    std::fs::write(
        dir.join("config.toml"),
        format!(
            r#"[fritzbox]
user = "{user}"
password_file = "pw"
[numbers]
country = "DE"
area_code = "30"
[screen]
pass_list = "passed.txt"
[calllog]
db = "calls.db"
[web]
listen = "127.0.0.1:0"

[[hook]]
events = ["challenge_passed", "challenge_failed"]
command = ["sh", "-c", "printf '%s|%s|%s\n' \"$MINISIP4FB_EVENT\" \"$MINISIP4FB_CALLER_E164\" \"$MINISIP4FB_PRESSED\" >> '{hooks}'"]

[[rule]]
name = "abroad"
foreign = true
action = "challenge"
dtmf_timeout = "2s"

[[rule]]
name = "Berlin, briefly"
numbers = ["0301*"]
action = "challenge"
announcement = "prompt.wav"
digit = "5"
pass = "3s"
dtmf_timeout = "1500ms"
"#,
            user = common::USER,
            hooks = hooks.display()
        ),
    )
    .unwrap();
    let emu = common::usual_box(81).await;
    let (d, lines, url) = daemon(&dir, &emu).await;

    // A person abroad: hears "… drücken Sie die N", presses N.
    let uk = "00442079460000";
    let r = emu.call(caller(uk).press_what_is_said(the_voice())).await;
    assert_eq!(r.outcome, CallOutcome::TerminatedByPhone, "{r}");
    let pressed = r.media.as_ref().unwrap().keys_sent.clone();
    assert_eq!(pressed.len(), 1, "the caller heard a digit: {r}");
    let passed = events(&lines, "challenge_passed", 1).await;
    assert_eq!(passed.len(), 1, "{}", d.log());
    assert_eq!(passed[0]["caller_e164"], "+442079460000");
    assert_eq!(passed[0]["rule"], "1 \"abroad\"");
    assert!(passed[0]["until"].is_string(), "{}", passed[0]);
    assert!(
        d.log().contains(&format!("pressed {pressed} as asked")),
        "the digit said is the digit asked: {}",
        d.log()
    );
    // Its next call rings like a known caller's.
    let r = emu
        .call(caller(uk).cancel_after(Duration::from_millis(1200)))
        .await;
    assert_eq!(r.outcome, CallOutcome::RangUntilCancelled, "{r}");

    // A dialer pressing a key at once (the wrong one): hung up, and after
    // three such calls not asked again.
    let dialer = "00442079460002";
    for _ in 0..3 {
        let r = emu
            .call(caller(dialer).keys(Duration::from_millis(600), "#"))
            .await;
        assert_eq!(r.outcome, CallOutcome::TerminatedByPhone, "{r}");
        assert!(heard(&r) > 0, "asked: {r}");
    }
    let failed = events(&lines, "challenge_failed", 3).await;
    assert_eq!(failed.len(), 3, "{}", d.log());
    assert_eq!(failed[0]["pressed"], "#");
    assert!(failed[0]["refused_until"].is_null());
    assert!(failed[2]["refused_until"].is_string(), "{}", failed[2]);
    let r = emu.call(caller(dialer)).await;
    assert_eq!(r.outcome, CallOutcome::TerminatedByPhone, "{r}");
    assert_eq!(heard(&r), 0, "refused: hung up at once, nothing said");

    // The rule's own prompt with a fixed key; a pass of 3 s.
    let berlin = || CallSpec::new(Caller::National("0301234567".into()));
    let r = emu
        .call(berlin().keys(Duration::from_millis(300), "5"))
        .await;
    assert_eq!(r.outcome, CallOutcome::TerminatedByPhone, "{r}");
    let r = emu
        .call(berlin().cancel_after(Duration::from_millis(800)))
        .await;
    assert_eq!(r.outcome, CallOutcome::RangUntilCancelled, "{r}");
    tokio::time::sleep(Duration::from_millis(3200)).await;
    // Expired: asked again; no key before the timeout is a failure.
    let r = emu.call(berlin()).await;
    assert_eq!(r.outcome, CallOutcome::TerminatedByPhone, "{r}");
    assert!(heard(&r) > 0);
    let failed = events(&lines, "challenge_failed", 4).await;
    assert_eq!(failed.len(), 4, "{}", d.log());
    assert!(failed[3]["pressed"].is_null(), "{}", failed[3]);
    assert_eq!(failed[3]["asked"], "5");

    // The dashboard: the pass, kept for good, then taken back.
    let status = |url: &str| {
        let (_, body) = tokio::task::block_in_place(|| get(&format!("{url}/api/status"), &[]));
        serde_json::from_str::<serde_json::Value>(&body).unwrap()
    };
    let s = status(&url);
    let passes = s["passes"].as_array().unwrap();
    assert_eq!(passes.len(), 1, "the 3 s pass left by itself: {s}");
    assert_eq!(passes[0]["number"], "+442079460000");
    assert!(passes[0]["until"].is_string());
    let (_, page) = tokio::task::block_in_place(|| get(&format!("{url}/?lang=en"), &[]));
    assert!(page.contains("Passed the key-press check") && page.contains("+442079460000"));
    let body = r#"{"number":"+44 20 7946 0000"}"#;
    let (code, text) = tokio::task::block_in_place(|| post(&url, "/api/passes/keep", body));
    assert_eq!(code, 200, "{text}");
    let list = std::fs::read_to_string(dir.join("passed.txt")).unwrap();
    assert!(
        list.starts_with("+442079460000  # kept from the dashboard"),
        "{list}"
    );
    assert!(status(&url)["passes"][0]["until"].is_null());
    let (code, text) = tokio::task::block_in_place(|| post(&url, "/api/passes/remove", body));
    assert_eq!(code, 200, "{text}");
    assert_eq!(std::fs::read_to_string(dir.join("passed.txt")).unwrap(), "");
    let (code, _) = tokio::task::block_in_place(|| post(&url, "/api/passes/remove", body));
    assert_eq!(code, 404);
    let r = emu
        .call(caller(uk).keys(Duration::from_millis(600), "#"))
        .await;
    assert!(heard(&r) > 0, "taken back: asked again: {r}");

    // The call log and the hooks saw it all.
    let calls = calls_once(&dir, |c| {
        c.len() >= 10 && c.iter().all(|r| !r["outcome"].is_null())
    })
    .await;
    assert_eq!(calls.len(), 10, "{calls:?}");
    let asked = calls
        .iter()
        .filter(|c| c["decision"] == "challenge")
        .count();
    assert_eq!(asked, 7, "{calls:?}");
    assert!(
        calls.iter().any(|c| c["decision"] == "ring"
            && c["reason"]
                .as_str()
                .unwrap()
                .contains("passed the key-press check")),
        "{calls:?}"
    );
    assert!(
        calls.iter().any(|c| c["decision"] == "terminate"
            && c["reason"]
                .as_str()
                .unwrap()
                .contains("failed the key-press check too often")),
        "{calls:?}"
    );
    let mut fired = String::new();
    for _ in 0..100 {
        fired = std::fs::read_to_string(&hooks).unwrap_or_default();
        if fired.lines().count() >= 7 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(fired.contains("challenge_passed|+442079460000|"), "{fired}");
    assert!(
        fired.contains("challenge_failed|+442079460002|#"),
        "{fired}"
    );
    assert_eq!(emu.violations().await, Vec::<String>::new());
}

/// The library: `IncomingCall::run` with a challenge script (the path of
/// calls decided off the phone's thread: PhoneBlock's live check, calls
/// before the rules were ready). The digit said is the digit asked for:
/// the caller, who knows only the voice, pressed the one it heard, and the
/// script's end names it as asked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_library_call_runs_the_check() {
    use minisip4fb::media::{Challenge, Script, ScriptEnd, challenge};
    use minisip4fb::net::{Phone, PhoneConfig};
    let emu = Arc::new(common::usual_box(82).await);
    let mut c = PhoneConfig::new(&emu.addr().to_string(), common::USER, common::PASSWORD);
    c.bind = "127.0.0.1:0".parse().unwrap();
    let mut phone = Phone::start(c).await.unwrap();
    phone.wait_registered().await.unwrap();
    let script = |pass| Script {
        announcement: None,
        collect: None,
        challenge: Some(Challenge {
            digit: None,
            timeout: Duration::from_secs(2),
            prompt: None,
            pass,
        }),
    };
    let e = emu.clone();
    let call = tokio::spawn(async move {
        e.call(caller("00442079460000").press_what_is_said(the_voice()))
            .await
    });
    let incoming = phone.next_call().await.unwrap();
    let end = incoming.run(&script(challenge::PASS)).await.unwrap();
    let r = call.await.unwrap();
    assert_eq!(r.outcome, CallOutcome::TerminatedByPhone, "{r}");
    let pressed = r.media.as_ref().unwrap().keys_sent.chars().next();
    assert!(end.passed(), "{end:?} {r}");
    assert_eq!(
        end,
        ScriptEnd::Challenge {
            asked: pressed.unwrap(),
            pressed,
            pass: challenge::PASS,
        }
    );
    // A caller who hangs up during the prompt: failed, no key.
    let e = emu.clone();
    let call = tokio::spawn(async move {
        let mut spec = caller("00442079460001");
        spec.hang_up_after = Some(Duration::from_millis(800));
        e.call(spec).await
    });
    let incoming = phone.next_call().await.unwrap();
    let end = incoming.run(&script(challenge::PASS)).await;
    assert!(
        matches!(end, Ok(ScriptEnd::Challenge { pressed: None, .. })),
        "{end:?}"
    );
    assert_eq!(
        call.await.unwrap().outcome,
        CallOutcome::AnsweredHungUpByCaller
    );
    assert_eq!(emu.violations().await, Vec::<String>::new());
    phone.shutdown().await.unwrap();
}
