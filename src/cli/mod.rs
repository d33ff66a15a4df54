//! The `minisip4fb` command line.

pub mod bench;
pub mod calls;
pub mod check;
pub mod demo;
pub mod emulate;
pub mod floor;
pub mod run;
pub mod tr064;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "minisip4fb",
    version,
    about = "A headless IP phone for the FRITZ!Box that hangs up on unwanted callers"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Register at the FRITZ!Box and screen incoming calls.
    Run(run::RunArgs),
    /// Try it out: an emulated FRITZ!Box rings the real phone on loopback.
    Demo(demo::DemoArgs),
    /// Run only the emulated FRITZ!Box, to test a phone against it.
    Emulate(emulate::EmulateArgs),
    /// Validate the config and lists, register once, unregister.
    Check(run::RunArgs),
    /// List recorded calls.
    Calls(calls::CallsArgs),
    /// Calls per day and per rule.
    Stats(calls::DbArgs),
    /// Create or update our IP-phone account at the Box over TR-064 and write the config.
    Setup(tr064::SetupArgs),
    /// Show or edit the Box's own call-barring list over TR-064.
    Barring(tr064::BarringArgs),
    /// Measure call latency, rate and footprint against the emulator (loopback).
    Bench(bench::BenchArgs),
    /// The benchmark's floor: a minimal responder (used by `bench`).
    #[command(hide = true)]
    BenchFloor(floor::FloorArgs),
}

/// Sets up logging: RUST_LOG wins, else info (every SIP message with --verbose).
pub fn init_logging(verbose: bool) {
    init_logging_level(if verbose {
        "minisip4fb=trace"
    } else {
        "minisip4fb=info"
    });
}

/// Sets up logging with `default` as the filter unless RUST_LOG is set.
pub fn init_logging_level(default: &str) {
    init_logging_with(default, false);
}

/// Logging to stderr, as text (journald-friendly) or one JSON object a line.
pub fn init_logging_with(default: &str, json: bool) {
    use std::io::IsTerminal;
    use tracing_subscriber::EnvFilter;
    let mut filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    // The HTTP client's own trace shows TR-064 requests with their digest
    // Authorization header (user, nonce, response): never below warn. Our
    // SIP trace redacts credentials in one place (sip::redacted).
    for quiet in ["ureq=warn", "ureq_proto=warn"] {
        if let Ok(d) = quiet.parse() {
            filter = filter.add_directive(d);
        }
    }
    let fmt = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(std::io::stderr);
    if json {
        fmt.json().init();
    } else {
        fmt.with_ansi(std::io::stderr().is_terminal()).init();
    }
}

/// The TR-064 admin password from the environment
/// (`MINISIP4FB_ADMIN_PASSWORD`): secrets are read here, at the edge.
pub fn admin_password_env() -> Option<String> {
    std::env::var("MINISIP4FB_ADMIN_PASSWORD")
        .ok()
        .filter(|p| !p.is_empty())
}
