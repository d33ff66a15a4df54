//! `minisip4fb phoneblock sync|status`: the local copy of PhoneBlock's
//! community list, by hand.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};

use crate::config;
use crate::phoneblock::api::Api;
use crate::phoneblock::store::Store;
use crate::phoneblock::sync::sync_now;

#[derive(Args, Debug, Clone)]
pub struct PhoneblockArgs {
    #[command(subcommand)]
    pub command: PhoneblockCommand,
}

#[derive(Subcommand, Debug, Clone)]
pub enum PhoneblockCommand {
    /// Sync the local copy now: a full download the first time, else only what changed.
    Sync(ConfigArg),
    /// The local copy's version, age and size, and whether the token is accepted.
    Status(ConfigArg),
}

#[derive(Args, Debug, Clone)]
pub struct ConfigArg {
    /// The config file with the [phoneblock] section.
    #[arg(long, short, value_name = "FILE")]
    pub config: PathBuf,
}

/// Each request to PhoneBlock as a whole, a slow one too.
const TIMEOUT: Duration = Duration::from_secs(60);

pub fn phoneblock(a: PhoneblockArgs) -> i32 {
    let (PhoneblockCommand::Sync(c) | PhoneblockCommand::Status(c)) = &a.command;
    let cfg = match config::load(&c.config) {
        Ok(cfg) => cfg,
        Err(e) => {
            eprintln!("minisip4fb: {e}");
            return 2;
        }
    };
    let Some(pb) = cfg.phoneblock else {
        eprintln!(
            "minisip4fb: {} has no [phoneblock] section (token_file = \"…\")",
            c.config.display()
        );
        return 2;
    };
    let base = config::base_dir(Some(&c.config));
    let (token, from) = match pb.token(&base) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("minisip4fb: {e}");
            return 2;
        }
    };
    let api = Api::new(&pb.api, &token, &from, TIMEOUT);
    let mut store = match Store::open(&base.join(&pb.copy)) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("minisip4fb: {e}");
            return 1;
        }
    };
    let now = chrono::Utc::now().timestamp();
    match a.command {
        PhoneblockCommand::Sync(_) => match sync_now(&api, &mut store, now) {
            Ok((_, synced)) => {
                println!("{synced}");
                0
            }
            Err(e) => {
                eprintln!("minisip4fb: PhoneBlock sync failed, the copy is unchanged: {e}");
                1
            }
        },
        PhoneblockCommand::Status(_) => {
            let copy = store.load();
            match &copy {
                Ok(Some((list, meta))) => {
                    let ago = |t: i64| humanize(now.saturating_sub(t));
                    let listed = list
                        .entries()
                        .iter()
                        .filter(|e| e.votes >= pb.min_votes)
                        .count();
                    println!(
                        "copy: version {}, {} numbers ({listed} with at least {} votes), synced {} ago, last full download {} ago",
                        meta.version,
                        list.len(),
                        pb.min_votes,
                        ago(meta.synced_at),
                        ago(meta.full_at)
                    );
                }
                Ok(None) => println!("copy: none yet (run `minisip4fb phoneblock sync`)"),
                Err(e) => println!("copy: {e}"),
            }
            match api.test() {
                Ok(()) => {
                    println!("token ({from}): accepted");
                    if copy.is_ok() { 0 } else { 1 }
                }
                Err(e) => {
                    println!("token: {e}");
                    1
                }
            }
        }
    }
}

/// `93784` → `1 d 2 h`.
fn humanize(secs: i64) -> String {
    match secs {
        s if s < 120 => format!("{s} s"),
        s if s < 7200 => format!("{} min", s / 60),
        s if s < 172_800 => format!("{} h", s / 3600),
        s => format!("{} d {} h", s / 86_400, s % 86_400 / 3600),
    }
}
