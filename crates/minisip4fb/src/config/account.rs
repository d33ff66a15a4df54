//! `[fritzbox]` and `[[account]]`: the IP phones the daemon registers.
//! One `[fritzbox]` is the usual household; each `[[account]]` is one
//! more, on the same Box (another number of the house) or on another
//! (a second site), registered, refreshed and recovered on its own.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::{Config, ConfigError, Fingerprint, MAX_SECRET, Span};

/// Accounts in one config, at most: each is a phone with its socket and
/// thread, and a household has a few lines.
pub const MAX_ACCOUNTS: usize = 16;

/// The SIP port of the first account; the others count up from it.
const FIRST_PORT: u16 = 5062;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Fritzbox {
    /// How rules, the dashboard, MQTT, metrics and the call log name this
    /// account (default: its user name); letters, digits, `-` and `_`.
    pub name: Option<String>,
    /// HOST[:PORT] of the Box's SIP registrar.
    pub host: String,
    pub user: Option<String>,
    /// The password in the file itself (then keep the file private).
    pub password: Option<String>,
    pub password_file: Option<PathBuf>,
    /// Where this phone listens; default all interfaces, port 5062 for
    /// the first account, 5063 for the second, and so on.
    pub bind: Option<SocketAddr>,
    pub expires: u32,
    pub trusted: Vec<IpAddr>,
    /// TR-064 (phonebooks, call barring, setup): `http://fritz.box:49000`,
    /// or `https://fritz.box:49443`.
    pub tr064: Option<String>,
    /// The Box's HTTPS certificate, pinned on first use (`SHA256:AB:…`).
    pub tr064_fingerprint: Option<Fingerprint>,
    /// A FRITZ!Box user with the right "Telefonie", for TR-064.
    pub admin_user: Option<String>,
    /// File holding that user's password (else env MINISIP4FB_ADMIN_PASSWORD).
    pub admin_password_file: Option<PathBuf>,
    /// Re-read the Box's phonebooks this often.
    pub phonebook_refresh: Span,
    /// Watch the Box's call monitor (switched on by dialling `#96*5*`):
    /// a call the Box saw that never reached this phone is said
    /// (`call_not_delivered`).
    pub call_monitor: bool,
    /// Where it is, `HOST:PORT` (default: this account's host, port 1012).
    pub call_monitor_address: Option<String>,
    /// The household numbers this IP phone rings for, as set at the Box
    /// (empty: all); a call to another number is not ours to miss.
    pub incoming: Vec<String>,
}

impl Default for Fritzbox {
    fn default() -> Self {
        Fritzbox {
            name: None,
            host: "fritz.box".into(),
            user: None,
            password: None,
            password_file: None,
            bind: None,
            expires: 300,
            trusted: Vec::new(),
            tr064: None,
            tr064_fingerprint: None,
            admin_user: None,
            admin_password_file: None,
            phonebook_refresh: Span(Duration::from_secs(6 * 3600)),
            call_monitor: false,
            call_monitor_address: None,
            incoming: Vec::new(),
        }
    }
}

impl Fritzbox {
    /// The first line of `admin_password_file`; `None` if it is not set.
    /// (The environment is read by the CLI.)
    pub fn admin_password_from_file(&self) -> Result<Option<String>, ConfigError> {
        let Some(path) = self.admin_password_file.clone() else {
            return Ok(None);
        };
        let text = crate::guard::file::read_regular(&path, MAX_SECRET).map_err(|source| {
            ConfigError::Read {
                what: "admin password file",
                path,
                source,
            }
        })?;
        Ok(Some(text.lines().next().unwrap_or("").to_owned()))
    }

    /// The account's name: `name`, else its user name, else `fritzbox`.
    pub fn name(&self) -> &str {
        self.name
            .as_deref()
            .or(self.user.as_deref())
            .unwrap_or("fritzbox")
    }

    /// The call monitor's `HOST:PORT`, if it is to be watched.
    pub fn call_monitor_at(&self) -> Option<String> {
        if !self.call_monitor {
            return None;
        }
        Some(self.call_monitor_address.clone().unwrap_or_else(|| {
            let host = crate::net::split_host_port(&self.host)
                .map_or_else(|_| self.host.clone(), |(h, _)| h);
            if host.contains(':') {
                format!("[{host}]:1012")
            } else {
                format!("{host}:1012")
            }
        }))
    }

    /// Where the `index`th account (from 0) listens.
    pub fn bind_at(&self, index: usize) -> SocketAddr {
        self.bind.unwrap_or_else(|| {
            let port = FIRST_PORT.saturating_add(u16::try_from(index).unwrap_or(u16::MAX));
            SocketAddr::from(([0, 0, 0, 0], port))
        })
    }
}

/// A name fit for a topic, a label and an id: `[A-Za-z0-9_-]{1,32}`.
pub fn valid_name(name: &str) -> bool {
    (1..=32).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl Config {
    /// Every account, in order: `[fritzbox]` first (when it names a user
    /// or stands alone; a user given by `--user` makes it count too), then
    /// each `[[account]]`.
    pub fn accounts(&self, user_flag: bool) -> Vec<&Fritzbox> {
        let first = self.fritzbox.user.is_some() || user_flag || self.accounts.is_empty();
        first
            .then_some(&self.fritzbox)
            .into_iter()
            .chain(&self.accounts)
            .collect()
    }

    /// What is wrong with the accounts together: names taken twice or not
    /// fit for a topic, two phones on one address, too many.
    pub fn account_problems(&self, user_flag: bool) -> Vec<String> {
        let all = self.accounts(user_flag);
        let mut problems = Vec::new();
        if all.len() > MAX_ACCOUNTS {
            problems.push(format!(
                "{} accounts: at most {MAX_ACCOUNTS} in one config",
                all.len()
            ));
        }
        let binds: Vec<SocketAddr> = all.iter().enumerate().map(|(i, a)| a.bind_at(i)).collect();
        for (i, a) in all.iter().enumerate() {
            let name = a.name();
            if !valid_name(name) {
                problems.push(format!(
                    "account name {name:?}: use 1 to 32 letters, digits, '-' or '_' (set name = \"…\")"
                ));
            }
            if all[..i].iter().any(|b| b.name() == name) {
                problems.push(format!(
                    "two accounts are named {name:?}: give each its own name = \"…\""
                ));
            }
            // Port 0 picks a free one each time.
            if binds[i].port() != 0
                && let Some(b) = binds[..i].iter().position(|b| *b == binds[i])
            {
                problems.push(format!(
                    "accounts {:?} and {name:?} both listen on {}: set bind = \"IP:PORT\" for one of them",
                    all[b].name(),
                    binds[i]
                ));
            }
        }
        problems
    }
}
