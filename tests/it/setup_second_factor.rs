//! `setup` and the Box's second factor (a button pressed at the Box, or
//! a code keyed at a phone): waited for, stopped when busy, and a clear
//! error when it never comes.

use minisip4fb_emulator::tr064::Tr064Config;

use crate::setup::{dir, emulated_box, press_the_button, run, setup_args, text};

/// FRITZ!OS asks for a second factor before it creates an IP phone: setup
/// tells the person what to do and goes on once it is confirmed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_waits_for_the_second_factor() {
    let emu = std::sync::Arc::new(
        emulated_box(
            &[],
            Tr064Config {
                second_factor: true,
                ..Tr064Config::default()
            },
        )
        .await,
    );
    let url = emu.tr064_url().unwrap().to_owned();
    let d = dir("2fa");
    let cfg = d.join("config.toml");
    // The person presses the button a moment later.
    let presser = press_the_button(emu.clone());
    let out = run(
        &[
            "setup",
            "--box",
            &url,
            "--admin-user",
            "admin",
            "--config",
            cfg.to_str().unwrap(),
        ],
        "fritz-admin-pw",
    )
    .await;
    assert!(presser.await.unwrap(), "setup started the second factor");
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("press a button on the FRITZ!Box, or dial *1234"),
        "{}",
        text(&out)
    );
    assert_eq!(emu.ip_phones().len(), 1);
}

/// An earlier, abandoned confirmation keeps the Box busy (868): setup
/// stops it, says so, and goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_second_factor_is_stopped_and_tried_again() {
    let emu = std::sync::Arc::new(
        emulated_box(
            &[],
            Tr064Config {
                second_factor: true,
                abandoned_second_factor: true,
                ..Tr064Config::default()
            },
        )
        .await,
    );
    let url = emu.tr064_url().unwrap().to_owned();
    let d = dir("busy2fa");
    let cfg = d.join("config.toml");
    // The stale attempt must be stopped first: only a new one can be confirmed.
    let presser = press_the_button(emu.clone());
    let out = run(&setup_args(&url, cfg.to_str().unwrap()), "fritz-admin-pw").await;
    assert!(presser.await.unwrap());
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("still busy with an earlier confirmation attempt (868)"),
        "{}",
        text(&out)
    );
    assert_eq!(emu.ip_phones().len(), 1);
}

/// The second factor's failure paths: nobody confirms within the Box's
/// window; the Box blocks confirmations for now (867).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unconfirmed_or_blocked_second_factor_is_a_clear_error() {
    let cases = [
        (
            Tr064Config {
                second_factor: true,
                confirm_window: std::time::Duration::from_secs(1),
                ..Tr064Config::default()
            },
            "not confirmed in time",
        ),
        (
            Tr064Config {
                second_factor: true,
                second_factor_blocked: true,
                ..Tr064Config::default()
            },
            "blocks the confirmation for now; wait and retry (error 867",
        ),
    ];
    for (i, (tr, expect)) in cases.into_iter().enumerate() {
        let emu = emulated_box(&[], tr).await;
        let url = emu.tr064_url().unwrap().to_owned();
        let d = dir(&format!("2fa-fail{i}"));
        let cfg = d.join("config.toml");
        let out = run(&setup_args(&url, cfg.to_str().unwrap()), "fritz-admin-pw").await;
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        assert!(text(&out).contains(expect), "{}", text(&out));
        assert!(emu.ip_phones().is_empty());
    }
}
