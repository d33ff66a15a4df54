//! The library as a user uses it: the README's examples (`examples/`),
//! built by `cargo test`, run as programs against the emulated Box, and
//! the README's code checked to be theirs, word for word.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use minisip4fb_emulator::{CallOutcome, CallSpec, Caller, Emulator};

use crate::common::{self, Proc};

/// An example's binary, which `cargo test` builds beside this one.
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let path = exe
        .parent()
        .and_then(|deps| deps.parent())
        .unwrap()
        .join("examples")
        .join(name);
    assert!(
        path.exists(),
        "{} is missing: `cargo test` builds the examples (or: cargo build --examples)",
        path.display()
    );
    path
}

fn start(name: &str, emu: &Emulator, more: &[&str]) -> Proc {
    Proc::spawn_logged(
        Command::new(example(name))
            .arg(emu.addr().to_string())
            .arg(common::USER)
            .arg("127.0.0.1:0")
            .args(more)
            .env("MINISIP4FB_PASSWORD", common::PASSWORD)
            .stdout(Stdio::piped()),
    )
}

fn call(c: Caller, ring_ms: u64) -> CallSpec {
    CallSpec::new(c).cancel_after(Duration::from_millis(ring_ms))
}

fn national(n: &str) -> Caller {
    Caller::National(n.into())
}

/// Stopped as a user stops it (Ctrl-C): exit 0, and the Box holds no
/// binding any more (`shutdown()` unregistered).
async fn interrupt(mut p: Proc, emu: &Emulator) -> String {
    p.signal("INT");
    let status = p.exited_within(Duration::from_secs(10));
    assert_eq!(status.map(|s| s.code()), Some(Some(0)), "{}", p.log());
    assert!(emu.bindings().await.is_empty(), "unregistered");
    stdout(p)
}

fn stdout(mut p: Proc) -> String {
    let mut out = String::new();
    if let Some(mut o) = p.0.stdout.take() {
        let _ = std::io::Read::read_to_string(&mut o, &mut out);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn screen_terminates_declines_as_the_box_wants_and_rings() {
    let emu = common::usual_box(61).await;
    let p = start("screen", &emu, &[]);
    emu.wait_for_binding(Duration::from_secs(10))
        .await
        .unwrap_or_else(|| panic!("registers: {}", p.log()));
    let r = emu.call(call(national("09005551234"), 3000)).await;
    assert_eq!(r.outcome, CallOutcome::TerminatedByPhone, "{r}");
    let r = emu.call(call(national("01701234567"), 6000)).await;
    assert_eq!(r.outcome, CallOutcome::RejectedByPhone(480), "{r}");
    let r = emu.call(call(national("030111222"), 500)).await;
    assert_eq!(r.outcome, CallOutcome::RangUntilCancelled, "{r}");
    let out = interrupt(p, &emu).await;
    assert_eq!(out.matches(": done").count(), 3, "{out}");
    assert_eq!(emu.violations().await, Vec::<String>::new());
}

/// The IVR: the number it knows gets the prompt and its `1#` is read;
/// a second call during that prompt rings at once (each call its own
/// task); a caller who hangs up during the prompt ends only that call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ivr_answers_reads_keys_and_never_keeps_a_second_call_waiting() {
    let emu = std::sync::Arc::new(common::usual_box(62).await);
    let dir = common::fresh_dir("examples", "ivr");
    let prompt = dir.join("prompt.wav");
    crate::media::write_wav(&prompt, 8000, 1, 1.5);
    let p = start("ivr", &emu, &[prompt.to_str().unwrap()]);
    emu.wait_for_binding(Duration::from_secs(10))
        .await
        .unwrap_or_else(|| panic!("registers: {}", p.log()));
    let known = emu.clone();
    let first = tokio::spawn(async move {
        known
            .call(call(national("01701234567"), 8000).keys(Duration::from_millis(1800), "1#"))
            .await
    });
    tokio::time::sleep(Duration::from_millis(400)).await;
    let r = emu.call(call(national("030111222"), 500)).await;
    assert_eq!(
        r.outcome,
        CallOutcome::RangUntilCancelled,
        "not kept waiting: {r}"
    );
    let r = first.await.unwrap();
    assert_eq!(r.outcome, CallOutcome::TerminatedByPhone, "{r}");
    // Hung up during the prompt: that call's error, the IVR goes on.
    let mut early = call(national("01701234567"), 3000);
    early.hang_up_after = Some(Duration::from_millis(500));
    let r = emu.call(early).await;
    assert_eq!(r.outcome, CallOutcome::AnsweredHungUpByCaller, "{r}");
    let r = emu.call(call(national("030111222"), 500)).await;
    assert_eq!(r.outcome, CallOutcome::RangUntilCancelled, "{r}");
    let out = interrupt(p, &emu).await;
    assert!(out.contains("1, switching the relay"), "{out}");
    assert_eq!(emu.violations().await, Vec::<String>::new());
}

/// The blocking facade: two calls, then the script ends by itself and
/// unregisters.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocking_handles_calls_and_unregisters() {
    let emu = common::usual_box(63).await;
    let mut p = start("blocking", &emu, &["2"]);
    emu.wait_for_binding(Duration::from_secs(10))
        .await
        .unwrap_or_else(|| panic!("registers: {}", p.log()));
    let r = emu.call(call(national("030111222"), 500)).await;
    assert_eq!(r.outcome, CallOutcome::RangUntilCancelled, "{r}");
    let r = emu.call(call(national("09005551234"), 3000)).await;
    assert_eq!(r.outcome, CallOutcome::TerminatedByPhone, "{r}");
    let status = p.exited_within(Duration::from_secs(10));
    assert_eq!(status.map(|s| s.code()), Some(Some(0)), "{}", p.log());
    assert!(emu.bindings().await.is_empty(), "unregistered");
    assert_eq!(stdout(p).matches(": done").count(), 2);
    assert_eq!(emu.violations().await, Vec::<String>::new());
}

/// Deciding inline: premium and withheld numbers terminated by the
/// screen, the rest deferred to `next_call` and rung.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inline_screen_decides_on_the_phones_thread() {
    let emu = common::usual_box(64).await;
    let p = start("inline", &emu, &[]);
    emu.wait_for_binding(Duration::from_secs(10))
        .await
        .unwrap_or_else(|| panic!("registers: {}", p.log()));
    for c in [national("09005551234"), Caller::Anonymous] {
        let r = emu.call(call(c, 3000)).await;
        assert_eq!(r.outcome, CallOutcome::TerminatedByPhone, "{r}");
    }
    let r = emu.call(call(national("030111222"), 500)).await;
    assert_eq!(r.outcome, CallOutcome::RangUntilCancelled, "{r}");
    interrupt(p, &emu).await;
    assert_eq!(emu.violations().await, Vec::<String>::new());
}

/// The README shows each example as it is, so that what people copy is
/// what these tests ran.
#[test]
fn the_readme_shows_the_examples_as_they_are() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    for name in ["screen", "ivr", "blocking", "inline"] {
        let code = std::fs::read_to_string(root.join(format!("examples/{name}.rs"))).unwrap();
        assert!(
            readme.contains(&format!("```rust\n{code}```")),
            "README.md does not show examples/{name}.rs as it is"
        );
    }
}

/// The Rust the README names is the workspace's `rust-version`, and no
/// dependency in the lock file asks for a newer one. (Syntax newer than
/// it is caught by the compiler of that version only; clippy's
/// `incompatible_msrv` catches newer standard-library calls, and the
/// README names the toolchain CI builds with.)
#[test]
fn the_readme_names_the_rust_the_build_needs() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    let msrv = manifest
        .lines()
        .find_map(|l| l.strip_prefix("rust-version = \""))
        .and_then(|l| l.strip_suffix('"'))
        .expect("Cargo.toml's [workspace.package] sets rust-version");
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    assert!(
        readme.contains(&format!("Rust {msrv} or newer")),
        "README.md must say \"Rust {msrv} or newer\", as Cargo.toml's rust-version does"
    );
    let version = |v: &str| -> Vec<u32> { v.split('.').map(|p| p.parse().unwrap()).collect() };
    let out = common::succeeded(
        Command::new(env!("CARGO"))
            .args(["metadata", "--format-version", "1", "--locked", "--offline"])
            .current_dir(root),
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let newer: Vec<String> = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| {
            let needs = p["rust_version"].as_str()?;
            (version(needs) > version(msrv))
                .then(|| format!("{} {} needs Rust {needs}", p["name"], p["version"]))
        })
        .collect();
    assert!(newer.is_empty(), "rust-version {msrv} is untrue: {newer:?}");
}
