//! `minisip4fb run`: the screening daemon. Settings come from the config
//! file; the flags override it.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};

use minisip4fb::calllog::CallLog;
use minisip4fb::config::{self, Config};
use minisip4fb::daemon::{self, Account, Parts, RuleSource};
use minisip4fb::net::PhoneConfig;

/// `run`'s flags: the phone's, and what only a running daemon does.
#[derive(Args, Debug, Clone, Default)]
pub struct RunArgs {
    #[command(flatten)]
    pub phone: PhoneArgs,
    /// Terminate calls from these numbers: exact (030123), prefix (0900*), suffix (*1234) or `anonymous`.
    #[arg(long, value_name = "PATTERN")]
    pub block: Vec<String>,
    /// Serve the dashboard, JSON API and metrics here (overrides [web] listen).
    #[arg(long, value_name = "IP:PORT")]
    pub web: Option<SocketAddr>,
    /// Print every event as one JSON object per line on stdout.
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub events: Option<EventsFormat>,
    /// Log format on stderr.
    #[arg(long, value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// Log every SIP message (credentials redacted).
    #[arg(long, short)]
    pub verbose: bool,
}

/// The phone's account, addresses and files, for `run` and `check`.
#[derive(Args, Debug, Clone, Default)]
pub struct PhoneArgs {
    /// The config file (see minisip4fb.example.toml); `check` reads /etc/minisip4fb/config.toml when none is given and it is there.
    #[arg(long, short, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The FRITZ!Box's SIP address, HOST[:PORT] (default fritz.box).
    #[arg(long, value_name = "HOST[:PORT]")]
    pub fritzbox: Option<String>,
    /// The IP phone's user name as set up in the FRITZ!Box.
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,
    /// Local address to listen on (default 0.0.0.0:5062 = all interfaces).
    #[arg(long, value_name = "IP:PORT")]
    pub bind: Option<SocketAddr>,
    /// The call log (SQLite); default: [calllog] db of the config file, none without one.
    #[arg(long, value_name = "FILE")]
    pub db: Option<PathBuf>,
    /// Read the password from this file (else env MINISIP4FB_PASSWORD, else the config's password_file or password).
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
    /// Also accept SIP requests from this IP (the Box's own IP always is).
    #[arg(long, value_name = "IP")]
    pub trusted: Vec<IpAddr>,
    /// Registration lifetime to ask for, in seconds (the Box decides).
    #[arg(long)]
    pub expires: Option<u32>,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventsFormat {
    Json,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// Everything `run` and `check` need, resolved from file and flags.
pub struct Settings {
    pub source: RuleSource,
    /// Every account, `[fritzbox]` (with the flags) first.
    pub accounts: Vec<Account>,
    pub db: Option<PathBuf>,
}

/// Why the settings are not usable; each says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error("no user name: pass --user NAME or set user in [fritzbox] of the config file")]
    NoUser,
    #[error("account {0:?}: no user name: set user in its [[account]]")]
    NoAccountUser(String),
    #[error("account {name:?}: {problem}")]
    Account {
        name: String,
        problem: Box<SettingsError>,
    },
    #[error("{0}")]
    Accounts(String),
    #[error(transparent)]
    BadUser(minisip4fb::net::PhoneError),
    #[error("cannot read password file {}: {source}", path.display())]
    PasswordFile {
        path: PathBuf,
        source: minisip4fb::guard::file::ReadError,
    },
    #[error("password file {} is empty", .0.display())]
    EmptyPasswordFile(PathBuf),
    #[error("MINISIP4FB_PASSWORD is set but empty: set the IP phone's password, or unset it")]
    EmptyPasswordEnv,
    #[error(
        "password = \"\" in [fritzbox] is empty: set the IP phone's password, or use password_file"
    )]
    EmptyPasswordInConfig,
    #[error(
        "no password: set MINISIP4FB_PASSWORD, pass --password-file FILE, or set password_file in [fritzbox]"
    )]
    NoPassword,
}

impl Settings {
    #[cfg(test)]
    pub fn resolve(args: &RunArgs) -> Result<Settings, SettingsError> {
        let config = load(args)?;
        let accounts = accounts(args, &config)
            .into_iter()
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Settings::with(args, config, accounts))
    }

    fn with(args: &RunArgs, config: Config, accounts: Vec<Account>) -> Settings {
        let db = match (&args.phone.db, &args.phone.config) {
            (Some(db), _) => Some(db.clone()),
            (None, Some(_)) => Some(config.calllog.db.clone()),
            (None, None) => None,
        };
        let source = RuleSource::new(config, args.phone.config.clone(), args.block.clone());
        Settings {
            source,
            accounts,
            db,
        }
    }

    /// The first account, `[fritzbox]`'s (the one the flags change).
    #[cfg(test)]
    pub fn first(&self) -> &PhoneConfig {
        &self.accounts[0].phone
    }
}

fn load(args: &RunArgs) -> Result<Config, config::ConfigError> {
    match &args.phone.config {
        Some(p) => config::load(p),
        None => Ok(Config::default()),
    }
}

/// Every account's phone: `[fritzbox]` with the flags over it, then each
/// `[[account]]` as the file says (the flags and MINISIP4FB_PASSWORD are
/// the first account's). One result per account, so that every problem
/// is named.
fn accounts(args: &RunArgs, config: &Config) -> Vec<Result<Account, SettingsError>> {
    let together = config.account_problems(args.phone.user.is_some());
    if !together.is_empty() {
        return vec![Err(SettingsError::Accounts(together.join("\n")))];
    }
    let all = config.accounts(args.phone.user.is_some());
    all.iter()
        .enumerate()
        .map(|(i, f)| {
            let first = i == 0 && std::ptr::eq(*f, &config.fritzbox);
            let flags = first.then_some(&args.phone);
            let phone = phone_config(flags, f, i, args.phone.config.as_deref());
            let name = match &flags {
                // `--user` renames an unnamed [fritzbox].
                Some(p) if f.name.is_none() => {
                    p.user.clone().unwrap_or_else(|| f.name().to_owned())
                }
                _ => f.name().to_owned(),
            };
            let call_monitor = f.call_monitor_at().map(|at| (at, f.incoming.clone()));
            match phone {
                Ok(phone) => Ok(Account {
                    name,
                    phone,
                    call_monitor,
                }),
                Err(e) if first => Err(e),
                Err(e) => Err(SettingsError::Account {
                    name,
                    problem: Box::new(e),
                }),
            }
        })
        .collect()
}

/// One account's phone, `flags` over the file for the first.
fn phone_config(
    flags: Option<&PhoneArgs>,
    f: &config::Fritzbox,
    index: usize,
    config_path: Option<&Path>,
) -> Result<PhoneConfig, SettingsError> {
    let host = flags
        .and_then(|p| p.fritzbox.clone())
        .unwrap_or_else(|| f.host.clone());
    let user = flags
        .and_then(|p| p.user.clone())
        .or_else(|| f.user.clone())
        .ok_or_else(|| match flags {
            Some(_) => SettingsError::NoUser,
            None => SettingsError::NoAccountUser(f.name().to_owned()),
        })?;
    if !minisip4fb::net::valid_user(&user) {
        return Err(SettingsError::BadUser(
            minisip4fb::net::PhoneError::BadUser(user),
        ));
    }
    let password = read_password(
        flags.and_then(|p| p.password_file.as_deref()),
        flags.is_some(),
        f.password_file.as_deref(),
        f.password.as_deref(),
        config_path,
    )?;
    let mut phone = PhoneConfig::new(&host, &user, &password);
    phone.bind = flags
        .and_then(|p| p.bind)
        .unwrap_or_else(|| f.bind_at(index));
    phone.expires = flags.and_then(|p| p.expires).unwrap_or(f.expires);
    phone.trusted = f
        .trusted
        .iter()
        .chain(flags.map(|p| p.trusted.as_slice()).unwrap_or_default())
        .copied()
        .collect();
    Ok(phone)
}

/// What `run` needs beyond [`Settings`], each part checked. `check`, `run`
/// and the demo all get here through [`validate`], so that they accept and
/// refuse the same configs (the rules are compiled by each through
/// [`RuleSource::compile`], which reads lists and announcements).
pub struct Checked {
    pub settings: Settings,
    pub web: Option<minisip4fb::web::Settings>,
    pub mqtt: Option<minisip4fb::outlets::mqtt::Settings>,
    pub hooks: Option<minisip4fb::outlets::Tellers>,
    pub tr064: Option<minisip4fb::fritzbox::link::BoxLink>,
}

/// Resolves and checks everything but the rules; every problem found, not
/// only the first.
pub fn validate(args: &RunArgs) -> Result<Checked, Vec<String>> {
    // A file that does not parse: nothing else can be checked.
    let config = load(args).map_err(|e| vec![e.to_string()])?;
    let mut problems = Vec::new();
    let mut keep = Keep(&mut problems);
    let mut accounts: Vec<Account> = accounts(args, &config)
        .into_iter()
        .filter_map(|a| keep.ok(a))
        .collect();
    // The rest is checked without a usable account too (an empty password
    // stands in), so that one run names every problem.
    let user = args.phone.user.as_ref().or(config.fritzbox.user.as_ref());
    let user = user.cloned().unwrap_or_default();
    if accounts.is_empty() {
        accounts.push(Account {
            name: user.clone(),
            phone: PhoneConfig::new("", &user, ""),
            call_monitor: None,
        });
    }
    let settings = Settings::with(args, config, accounts);
    let web = keep.ok(web_settings(args, &settings.source)).flatten();
    let c = &settings.source.config;
    let mqtt = c
        .mqtt
        .as_ref()
        .and_then(|m| keep.ok(minisip4fb::outlets::mqtt::Settings::new(m, &user)));
    let hooks = (!c.hooks.is_empty() || !c.notify.is_empty())
        .then(|| keep.ok(minisip4fb::outlets::Tellers::new(&c.hooks, &c.notify)))
        .flatten();
    let tr064 = settings
        .source
        .box_link(super::admin_password_env())
        .and_then(|l| keep.ok(l));
    if let Some(pb) = &c.phoneblock {
        keep.ok(pb
            .token()
            .map(|_| ())
            .map_err(|e| format!("PhoneBlock: {e}")));
        keep.ok(pb.check_live().map_err(|e| format!("[phoneblock] {e}")));
    }
    if !problems.is_empty() {
        // The rules too, though `run` and `check` compile them later
        // anyway: every problem of the config in one run.
        if let Err(e) = settings.source.compile() {
            problems.extend(e.problems());
        }
        return Err(problems);
    }
    Ok(Checked {
        settings,
        web,
        mqtt,
        hooks,
        tr064,
    })
}

/// Collects the errors of results into one list.
struct Keep<'p>(&'p mut Vec<String>);

impl Keep<'_> {
    fn ok<T, E: std::fmt::Display>(&mut self, r: Result<T, E>) -> Option<T> {
        r.map_err(|e| self.0.push(e.to_string())).ok()
    }
}

/// Prints `problems`, one a line, for `run` and `check` alike.
pub fn print_problems(prefix: &str, problems: &[String]) {
    for line in problems.iter().flat_map(|p| p.lines()) {
        eprintln!("{prefix}{line}");
    }
}

/// The password: `--password-file`, else env MINISIP4FB_PASSWORD (which
/// stands in for the config's `password_file`, as for every secret),
/// else the config's `password_file`, else `password` in the config.
pub fn read_password(
    flag_file: Option<&Path>,
    env: bool,
    config_file: Option<&Path>,
    in_config: Option<&str>,
    config_path: Option<&Path>,
) -> Result<String, SettingsError> {
    let env = env
        .then(|| std::env::var("MINISIP4FB_PASSWORD").ok())
        .flatten();
    let file = flag_file.or(config_file.filter(|_| env.is_none()));
    if let Some(f) = file {
        let s = minisip4fb::guard::file::read_regular(f, config::MAX_SECRET).map_err(|source| {
            SettingsError::PasswordFile {
                path: f.to_owned(),
                source,
            }
        })?;
        let p = s.lines().next().unwrap_or("").trim_end().to_owned();
        if p.is_empty() {
            return Err(SettingsError::EmptyPasswordFile(f.to_owned()));
        }
        return Ok(p);
    }
    if let Some(p) = env {
        // Refused like an empty file or `password = ""`, never skipped.
        if p.is_empty() {
            return Err(SettingsError::EmptyPasswordEnv);
        }
        return Ok(p);
    }
    if let Some(p) = in_config {
        if p.is_empty() {
            return Err(SettingsError::EmptyPasswordInConfig);
        }
        #[cfg(unix)]
        if let Some(path) = config_path {
            use std::os::unix::fs::PermissionsExt;
            if std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o044 != 0) {
                tracing::warn!(
                    "{} holds the password and is readable by others: chmod 600 it, or use password_file",
                    path.display()
                );
            }
        }
        let _ = config_path;
        return Ok(p.to_owned());
    }
    Err(SettingsError::NoPassword)
}

/// Runs the daemon until SIGINT/SIGTERM. Returns the process exit code.
pub async fn run(args: RunArgs) -> i32 {
    let shutdown = shutdown_signal();
    // Descriptors for calls, audio and hooks, whatever the web side takes.
    minisip4fb::guard::fds::raise_limit();
    let Checked {
        settings,
        web,
        mqtt,
        hooks,
        tr064,
    } = match validate(&args) {
        Ok(c) => c,
        Err(problems) => {
            print_problems("minisip4fb: ", &problems);
            return 2;
        }
    };
    // The call log is opened (or healed) now to say at once what is wrong;
    // the book-keeper opens it again by its path. Only a log of a newer
    // minisip4fb stops the start: anything else (a full disk, a read-only
    // directory) must not leave the household without its shield.
    if let Some(db) = &settings.db {
        match CallLog::open_healing(db) {
            Ok(_) => {}
            Err(e @ minisip4fb::calllog::Error::TooNew { .. }) => {
                eprintln!("minisip4fb: {e}");
                return 2;
            }
            Err(e) => tracing::error!(
                "{e}: the phone screens without it; the records wait in memory and are written once it can be opened"
            ),
        }
    }
    let parts = Parts {
        tr064: tr064.map(Ok),
        mqtt,
        hooks,
        calllog_path: settings.db.clone(),
        source: settings.source,
        events_json: args.events.is_some(),
        calls: None,
        events: None,
        web,
        state_dir: config::systemd_state_directory(),
    };
    match daemon::serve(settings.accounts, parts, shutdown).await {
        Ok(()) => 0,
        Err(e) => {
            print_problems("minisip4fb: ", &[e.to_string()]);
            e.exit_code()
        }
    }
}

/// The web side as `--web` or `[web]` asks, its password from env
/// MINISIP4FB_WEB_PASSWORD or `[web] password_file`; `None` without it.
pub(super) fn web_settings(
    args: &RunArgs,
    source: &RuleSource,
) -> Result<Option<minisip4fb::web::Settings>, String> {
    let w = &source.config.web;
    let Some(listen) = args.web.or(w.listen) else {
        return Ok(None);
    };
    let password = match std::env::var("MINISIP4FB_WEB_PASSWORD") {
        Ok(p) if !p.is_empty() => Some(p),
        _ => match &w.password_file {
            Some(f) => Some(
                minisip4fb::config::secret_file(f, "[web] password_file")
                    .map_err(|e| e.to_string())?,
            ),
            None => None,
        },
    };
    let mut settings =
        minisip4fb::web::Settings::new(listen, password).map_err(|e| e.to_string())?;
    // The actions append lines: only to a text list, and one a rule reads.
    let named = source.files();
    let list = |key: &str, f: &Option<PathBuf>| -> Result<Option<PathBuf>, String> {
        let Some(f) = f else { return Ok(None) };
        let path = f.clone();
        if minisip4fb::screen::list::Format::of(&path) != minisip4fb::screen::list::Format::Text {
            return Err(format!(
                "[web] {key} {}: must be a text list (one number a line), not CSV, vCard or XML",
                path.display()
            ));
        }
        if !named.contains(&path) {
            tracing::warn!(
                "[web] {key} {}: no rule reads this list; numbers added there change nothing",
                path.display()
            );
        }
        Ok(Some(path))
    };
    settings.block_list = list("block_list", &w.block_list)?;
    settings.allow_list = list("allow_list", &w.allow_list)?;
    if let Some(bad) = w.hosts.iter().find(|h| {
        h.is_empty()
            || h.len() > 253
            || !h
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
    }) {
        return Err(format!(
            "[web] hosts: {:?} is not a host name: list names only, without scheme or port (\"pi.fritz.box\")",
            minisip4fb::text::printable(bad)
        ));
    }
    settings.limits.hosts = minisip4fb::guard::http::Hosts::new(&w.hosts);
    settings.limits.max_connections =
        minisip4fb::guard::fds::web_connections(minisip4fb::guard::fds::raise_limit());
    Ok(Some(settings))
}

/// SIGTERM or SIGINT. The handlers are installed at once (not when the
/// future is first polled), so a signal during start-up stops the daemon
/// gracefully instead of killing it.
pub(super) fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let signals = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        );
        async move {
            let (Ok(mut term), Ok(mut int)) = signals else {
                return std::future::pending().await;
            };
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_for_the_wire_are_checked_at_the_edge() {
        let args = RunArgs {
            phone: PhoneArgs {
                user: Some("620\r\nX-Injected: yes".into()),
                ..PhoneArgs::default()
            },
            ..RunArgs::default()
        };
        let e = Settings::resolve(&args).err().unwrap();
        assert!(matches!(e, SettingsError::BadUser(_)), "{e}");
        assert!(e.to_string().contains("bad user name"), "{e}");
        let e = read_password(None, true, None, Some(""), None).unwrap_err();
        assert!(matches!(e, SettingsError::EmptyPasswordInConfig), "{e}");
    }

    #[test]
    fn flags_override_the_file() {
        let dir = std::env::temp_dir().join(format!("minisip4fb-settings-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let cfg = dir.join("c.toml");
        std::fs::write(&cfg, "[fritzbox]\nhost = \"192.0.2.1\"\nuser = \"620\"\npassword_file = \"pw\"\n[calllog]\ndb = \"log/calls.db\"\n").unwrap();
        std::fs::write(dir.join("pw"), "s3cret\n").unwrap();
        let args = RunArgs {
            phone: PhoneArgs {
                config: Some(cfg.clone()),
                ..PhoneArgs::default()
            },
            ..RunArgs::default()
        };
        let s = Settings::resolve(&args).unwrap();
        assert_eq!(
            (
                s.first().fritzbox.as_str(),
                s.first().user.as_str(),
                s.first().password.as_str()
            ),
            ("192.0.2.1", "620", "s3cret")
        );
        assert_eq!(s.db, Some(dir.join("log/calls.db")));
        let args = RunArgs {
            phone: PhoneArgs {
                config: Some(cfg),
                user: Some("621".into()),
                fritzbox: Some("127.0.0.1:5070".into()),
                db: Some("x.db".into()),
                ..PhoneArgs::default()
            },
            ..RunArgs::default()
        };
        let s = Settings::resolve(&args).unwrap();
        assert_eq!(
            (s.first().fritzbox.as_str(), s.first().user.as_str()),
            ("127.0.0.1:5070", "621")
        );
        assert_eq!(s.db, Some(PathBuf::from("x.db")));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
