//! The `minisip4fb` command line.

mod bench;
mod calls;
mod check;
mod demo;
mod emulate;
mod floor;
mod phoneblock;
mod run;
mod tr064;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "minisip4fb",
    version,
    about = "A headless IP phone for the FRITZ!Box that hangs up on unwanted callers"
)]
struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Register at the FRITZ!Box and screen incoming calls.
    Run(run::RunArgs),
    /// Try it out: an emulated FRITZ!Box rings the real phone on loopback.
    Demo(demo::DemoArgs),
    /// Run only the emulated FRITZ!Box, to test a phone against it (exits 3 if it broke the protocol).
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
    /// PhoneBlock's community block list: sync the local copy, show its state.
    Phoneblock(phoneblock::PhoneblockArgs),
    /// What the rules would do with a call from this number now, and why (local data only).
    Lookup(phoneblock::LookupArgs),
    /// Rate a number at PhoneBlock (spam, fraud, legitimate …).
    Report(phoneblock::ReportArgs),
    /// Measure call latency, rate and footprint against the emulator (loopback).
    Bench(bench::BenchArgs),
    /// The benchmark's floor: a minimal responder (used by `bench`).
    #[command(hide = true)]
    BenchFloor(floor::FloorArgs),
}

/// Sets up logging: RUST_LOG wins, else info (every SIP message with --verbose).
fn init_logging(verbose: bool) {
    init_logging_level(if verbose {
        "minisip4fb=trace"
    } else {
        "minisip4fb=info"
    });
}

/// Sets up logging with `default` as the filter unless RUST_LOG is set.
fn init_logging_level(default: &str) {
    init_logging_with(default, false);
}

/// Logging to stderr, as text (journald-friendly) or one JSON object a line.
fn init_logging_with(default: &str, json: bool) {
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

/// The binary's whole life: parses the command line, runs the command,
/// returns the exit code.
pub fn main() -> i32 {
    let cli = Cli::parse();
    // One thread for the daemon's own tasks (reloads, hooks, TR-064); the
    // phone answers SIP on a thread of its own and the book-keeper writes
    // the call log on another, so nothing here can delay a call. Every
    // thread costs memory (stack, malloc arena): no more than that.
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("minisip4fb: cannot start the async runtime: {e}");
            return 1;
        }
    };
    match cli.command {
        Command::Run(args) => {
            let level = if args.verbose {
                "minisip4fb=trace"
            } else {
                "minisip4fb=info"
            };
            init_logging_with(level, args.log_format == run::LogFormat::Json);
            rt.block_on(run::run(args))
        }
        Command::Check(args) => {
            init_logging_level("minisip4fb=warn");
            rt.block_on(check::check(args))
        }
        Command::Calls(args) => calls::calls(args),
        Command::Stats(args) => calls::stats(args),
        Command::Setup(args) => tr064::setup(args),
        Command::Barring(args) => tr064::barring(args),
        Command::Phoneblock(args) => {
            init_logging_level("minisip4fb=warn");
            phoneblock::phoneblock(args)
        }
        Command::Lookup(args) => {
            init_logging_level("minisip4fb=error");
            phoneblock::lookup(args)
        }
        Command::Report(args) => {
            init_logging_level("minisip4fb=warn");
            phoneblock::report(args)
        }
        Command::Bench(args) => {
            init_logging_level("minisip4fb=error");
            rt.block_on(bench::bench(args))
        }
        Command::BenchFloor(args) => floor::floor(args),
        Command::Demo(args) => {
            // The phone's own log would interleave with the story; -v shows it.
            init_logging_level(if args.verbose {
                "minisip4fb=trace"
            } else {
                "minisip4fb=error"
            });
            rt.block_on(demo::demo(args.web))
        }
        Command::Emulate(args) => {
            init_logging(false);
            rt.block_on(emulate::emulate(args))
        }
    }
}
