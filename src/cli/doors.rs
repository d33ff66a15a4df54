//! `minisip4fb doors`: the door openers that failed PINs locked (a caller
//! for a while, or everyone after the daily ceiling), and opening them
//! again. The daemon keeps the state in its state directory; after
//! `open`, a reload (SIGHUP) makes a running daemon read it.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use minisip4fb::controls::doors::{Doors, FILE};

#[derive(Args, Debug)]
pub struct DoorsArgs {
    #[command(subcommand)]
    pub command: Option<DoorsCommand>,
    /// The config file (its directory holds the state without --state-dir).
    #[arg(long, short, value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,
    /// Where the daemon keeps its state (the package: /var/lib/minisip4fb).
    #[arg(long, value_name = "DIR", global = true)]
    pub state_dir: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
pub enum DoorsCommand {
    /// Which door openers are locked, and for whom (the default).
    Status,
    /// Open door openers again: RULE (its name), or all of them.
    Open { rule: Option<String> },
}

/// The daemon's state directory: as given, systemd's, the package's for
/// the system config, else the config's own.
fn state_dir(a: &DoorsArgs) -> PathBuf {
    if let Some(d) = &a.state_dir {
        return d.clone();
    }
    if let Some(d) = minisip4fb::config::systemd_state_directory() {
        return d;
    }
    match &a.config {
        Some(c) if c == std::path::Path::new(super::SYSTEM_CONFIG) => {
            PathBuf::from("/var/lib/minisip4fb")
        }
        c => minisip4fb::config::base_dir(c.as_deref()),
    }
}

pub fn doors(a: DoorsArgs) -> i32 {
    let file = state_dir(&a).join(FILE);
    let doors = Doors::load(Some(file.clone()));
    match a.command.unwrap_or(DoorsCommand::Status) {
        DoorsCommand::Status => {
            let status = doors.status();
            if status.is_empty() {
                println!("no door opener is locked ({})", file.display());
            }
            for (rule, closed, callers) in status {
                if closed {
                    println!(
                        "{rule:?}: closed to everyone after too many wrong PINs today: minisip4fb doors open {rule:?}"
                    );
                } else {
                    println!("{rule:?}: {callers} caller(s) locked out after wrong PINs");
                }
            }
            0
        }
        DoorsCommand::Open { rule } => {
            let opened = doors.open(rule.as_deref());
            if opened.is_empty() {
                match rule {
                    Some(r) => {
                        eprintln!("no door opener {r:?} has failed PINs ({})", file.display())
                    }
                    None => eprintln!("no door opener has failed PINs ({})", file.display()),
                }
                return 1;
            }
            println!(
                "opened again: {}. A running daemon reads it at its next reload: systemctl reload minisip4fb (or kill -HUP its PID)",
                opened.join(", ")
            );
            0
        }
    }
}
