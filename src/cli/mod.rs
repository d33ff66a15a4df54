//! The `minisip4fb` command line.

pub mod run;

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
}

/// Sets up logging: RUST_LOG wins, else info (debug with --verbose).
pub fn init_logging(verbose: bool) {
    use tracing_subscriber::EnvFilter;
    let default = if verbose {
        "minisip4fb=debug"
    } else {
        "minisip4fb=info"
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
}
