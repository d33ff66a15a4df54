//! Links the release binary's functions in the order of
//! `link/code-order.txt` (made by `scripts/code-order`): a call's code on
//! a few pages together, and code run only at start away from it. Fewer
//! cache and TLB misses when a call wakes the phone after a quiet spell,
//! and a smaller resident set (docs/PERFORMANCE.md, "Session 12").
//!
//! Only where rustc links with its own lld, which reads such a file: for
//! x86_64 Linux, from Rust 1.90 on. The names in the file are that
//! target's; other targets link in the usual order.

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=link/code-order.txt");
    println!("cargo:rerun-if-env-changed=MINISIP4FB_NO_CODE_ORDER");
    let env = |k: &str| std::env::var(k).unwrap_or_default();
    if env("PROFILE") != "release"
        || env("TARGET") != "x86_64-unknown-linux-gnu"
        || std::env::var_os("MINISIP4FB_NO_CODE_ORDER").is_some()
        || !rustc_links_with_lld(&env("RUSTC"))
    {
        return;
    }
    let file = std::path::Path::new(&env("CARGO_MANIFEST_DIR")).join("link/code-order.txt");
    println!(
        "cargo:rustc-link-arg-bins=-Wl,--symbol-ordering-file={}",
        file.display()
    );
    // Functions renamed since the file was made are simply placed after it.
    println!("cargo:rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
}

/// rustc 1.90 and later link x86_64 Linux with the bundled rust-lld.
fn rustc_links_with_lld(rustc: &str) -> bool {
    let Ok(out) = Command::new(rustc).arg("--version").output() else {
        return false;
    };
    // "rustc 1.95.0 (59807616e 2026-04-14)"
    let text = String::from_utf8_lossy(&out.stdout);
    let mut version = text
        .split_whitespace()
        .nth(1)
        .unwrap_or("")
        .split('.')
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (version.next().unwrap_or(0), version.next().unwrap_or(0));
    (major, minor) >= (1, 90)
}
