//! The `minisip4fb` command line.

mod bench;
mod calls;
mod check;
mod demo;
mod doors;
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
    about = "A headless IP phone for the FRITZ!Box that hangs up on unwanted callers",
    long_about = "A headless IP phone for the FRITZ!Box that hangs up on unwanted callers.\n\n\
It registers at the FRITZ!Box as a LAN IP phone, decides per caller by the rules of its \
config file (allow and block lists, wildcards, withheld, foreign, invalid and repeated \
callers, the Box's phonebooks, PhoneBlock's community list) and answers and hangs up on \
unwanted calls at once, so that no other phone keeps ringing. Every call goes into a \
call log with its reason.\n\n\
Files: /etc/minisip4fb/config.toml is the config (commented; `setup`, `check`, `calls`, \
`stats`, `barring` and the PhoneBlock commands read it when no --config is given); \
/var/lib/minisip4fb holds the call log and the PhoneBlock copy. The systemd unit \
minisip4fb.service runs `minisip4fb run` as the user minisip4fb; `journalctl -u \
minisip4fb` shows one line per call.\n\n\
First steps: `sudo minisip4fb setup` creates the IP phone at the Box (TR-064) and writes \
the config, `sudo minisip4fb check` registers once, `sudo systemctl enable --now \
minisip4fb` starts the service. `minisip4fb demo` shows it all against an emulated Box."
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
    Check(run::PhoneArgs),
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
    /// Door openers locked by wrong PINs: show them, open them again.
    Doors(doors::DoorsArgs),
    /// Rate a number at PhoneBlock (spam, fraud, legitimate …).
    Report(phoneblock::ReportArgs),
    /// Measure call latency, rate and footprint against the emulator (loopback).
    Bench(bench::BenchArgs),
    /// The benchmark's floor: a minimal responder (used by `bench`).
    #[command(hide = true)]
    BenchFloor(floor::FloorArgs),
    /// Print the shell completions for bash, zsh, fish, elvish or powershell.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Write the man pages (minisip4fb.1 and one per command) into DIR.
    #[command(hide = true)]
    Manpages {
        #[arg(value_name = "DIR")]
        dir: std::path::PathBuf,
    },
}

/// Where the Debian package keeps the config: `setup`, `check`, `calls`,
/// `stats`, `barring` and the PhoneBlock commands read it when no
/// `--config` is given.
pub const SYSTEM_CONFIG: &str = "/etc/minisip4fb/config.toml";

/// `--config` if given, else [`SYSTEM_CONFIG`] when it is there (or there
/// but not readable: the read then says why, e.g. permission denied).
pub fn config_or_system(given: Option<std::path::PathBuf>) -> Option<std::path::PathBuf> {
    given.or_else(|| {
        let p = std::path::PathBuf::from(SYSTEM_CONFIG);
        match std::fs::metadata(&p) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            _ => Some(p),
        }
    })
}

/// The man pages, from the same definitions as `--help`.
fn manpages(dir: &std::path::Path) -> std::io::Result<()> {
    use clap::CommandFactory;
    std::fs::create_dir_all(dir)?;
    let cmd = Cli::command();
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd.clone()).render(&mut out)?;
    std::fs::write(dir.join("minisip4fb.1"), &out)?;
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("minisip4fb-{}", sub.get_name());
        let page = sub.clone().name(name.clone());
        out.clear();
        clap_mangen::Man::new(page).render(&mut out)?;
        std::fs::write(dir.join(format!("{name}.1")), &out)?;
    }
    Ok(())
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
    let code = match cli.command {
        Command::Run(args) => {
            let level = if args.verbose {
                "minisip4fb=trace"
            } else {
                "minisip4fb=info"
            };
            init_logging_with(level, args.log_format == run::LogFormat::Json);
            rt.block_on(run::run(args))
        }
        Command::Check(mut args) => {
            init_logging_level("minisip4fb=warn");
            args.config = config_or_system(args.config);
            rt.block_on(check::check(args))
        }
        Command::Calls(args) => calls::calls(args),
        Command::Stats(args) => calls::stats(args),
        Command::Setup(mut args) => {
            args.target.config = config_or_system(args.target.config);
            tr064::setup(args)
        }
        Command::Barring(mut args) => {
            args.target.config = config_or_system(args.target.config);
            tr064::barring(args)
        }
        Command::Completions { shell } => {
            use clap::CommandFactory;
            use std::io::Write;
            // Into memory first: clap_complete panics when a write fails.
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "minisip4fb", &mut script);
            let _ = std::io::stdout().write_all(&script);
            0
        }
        Command::Manpages { dir } => match manpages(&dir) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("minisip4fb manpages: {}: {e}", dir.display());
                1
            }
        },
        Command::Phoneblock(args) => {
            init_logging_level("minisip4fb=warn");
            phoneblock::phoneblock(args)
        }
        Command::Doors(mut args) => {
            init_logging_level("minisip4fb=warn");
            args.config = config_or_system(args.config);
            doors::doors(args)
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
    };
    // Background work still going (a slow PhoneBlock download in the
    // blocking pool) is not waited for: dropping the runtime would.
    rt.shutdown_timeout(std::time::Duration::from_millis(200));
    code
}
