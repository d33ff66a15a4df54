//! The daemon's configuration file (TOML). Every key has a default; a bad
//! file gets an error naming the line, the key and what is allowed.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

pub use crate::call::Action;
use crate::call::EventKind;
use crate::call::show::Lang;
pub use account::{Fritzbox, MAX_ACCOUNTS, valid_name as valid_account_name};
pub use fingerprint::{BadFingerprint, Fingerprint};
pub use phoneblock::{LIVE_BUDGET, PhoneBlock};

mod account;
mod fingerprint;
mod phoneblock;
use phoneblock::MAX_TOKEN;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub fritzbox: Fritzbox,
    /// `[[account]]`: more IP phones, on this Box or others (see
    /// [`Config::accounts`]).
    #[serde(rename = "account")]
    pub accounts: Vec<Fritzbox>,
    pub numbers: Numbers,
    pub screen: Screen,
    #[serde(rename = "rule")]
    pub rules: Vec<Rule>,
    pub calllog: CallLog,
    #[serde(rename = "hook")]
    pub hooks: Vec<Hook>,
    #[serde(rename = "notify")]
    pub notify: Vec<Notify>,
    pub phoneblock: Option<PhoneBlock>,
    pub web: Web,
    pub mqtt: Option<Mqtt>,
}

/// `[[notify]]`: a push message per event (default: each terminated call)
/// through ntfy, a Telegram bot or a webhook.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Notify {
    /// `ntfy`, `telegram` or `webhook`.
    pub service: Option<PushService>,
    /// ntfy: the topic's URL; webhook: where to POST.
    pub url: Option<String>,
    /// ntfy: an access token (optional); Telegram: the bot's token.
    pub token_file: Option<PathBuf>,
    /// Telegram: the chat to write to.
    pub chat_id: Option<String>,
    /// Telegram's API (default https://api.telegram.org).
    pub api: Option<String>,
    /// Webhook: the body, with {caller}, {name}, {called}, {decision},
    /// {action}, {rule}, {reason}, {outcome}, {event}, {title}, {message}.
    pub body: Option<String>,
    pub content_type: Option<String>,
    /// The events (as for hooks); default `["terminated"]`.
    pub events: Vec<EventKind>,
    /// Only calls these rules (by name) decided.
    pub rules: Vec<String>,
    /// `de` or `en` (default).
    pub language: Option<Lang>,
    /// ntfy: `min`, `low`, `default`, `high`, `max` (or 1–5).
    pub priority: Option<String>,
    /// ntfy: tags (emoji short codes), e.g. `["no_entry_sign"]`.
    pub tags: Vec<String>,
    pub timeout: Option<Span>,
}

/// The push services a `[[notify]]` can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PushService {
    /// ntfy.sh or a server of one's own.
    Ntfy,
    /// A Telegram bot writing to a chat.
    Telegram,
    /// POST to any URL, the body a template.
    Webhook,
}

/// `[mqtt]`: the calls, the registration and the shield switch on an MQTT
/// broker, with Home Assistant's discovery.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Mqtt {
    /// `mqtt://[user[:password]@]host[:port]`, or `mqtts://` (TLS).
    pub url: String,
    /// The password's file (else env MINISIP4FB_MQTT_PASSWORD, else the URL's).
    pub password_file: Option<PathBuf>,
    /// The topics' root: `minisip4fb/status`, `minisip4fb/call`, …
    pub topic: String,
    /// Home Assistant's discovery prefix.
    pub discovery_prefix: String,
    /// Default: `minisip4fb-` and the SIP user.
    pub client_id: Option<String>,
}

impl Default for Mqtt {
    fn default() -> Mqtt {
        Mqtt {
            url: String::new(),
            password_file: None,
            topic: "minisip4fb".into(),
            discovery_prefix: "homeassistant".into(),
            client_id: None,
        }
    }
}

/// `[web]`: the dashboard, its JSON API and Prometheus metrics.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Web {
    /// Where it listens (`127.0.0.1:8080`); no web server without it. Any
    /// address but loopback needs a password.
    pub listen: Option<SocketAddr>,
    /// The password's file (else env MINISIP4FB_WEB_PASSWORD).
    pub password_file: Option<PathBuf>,
    /// A text list a rule reads: "block this number" appends to it.
    pub block_list: Option<PathBuf>,
    /// A text list a rule reads: "allow this number" appends to it.
    pub allow_list: Option<PathBuf>,
    /// Names the dashboard may be reached by besides IP addresses and
    /// `localhost` (`["pi.fritz.box"]`); requests for any other name are
    /// refused (DNS rebinding).
    pub hosts: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Numbers {
    /// ISO 3166 country of the household.
    pub country: String,
    /// The local area code (`030`), for numbers dialled without it.
    pub area_code: Option<String>,
}

impl Default for Numbers {
    fn default() -> Self {
        Numbers {
            country: "DE".into(),
            area_code: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Screen {
    /// The action when no rule matches.
    pub default: Action,
    /// Trial mode: decide and log, but always let the call ring.
    pub log_only: bool,
    /// How long `decline` rings before 480 (FRITZBOX.md: the form tested
    /// on a real Box).
    pub decline_delay: Span,
    /// The text list a `challenge` rule with `pass = "forever"` adds the
    /// callers who pressed the right key to (one number a line).
    pub pass_list: Option<PathBuf>,
}

impl Default for Screen {
    fn default() -> Self {
        Screen {
            default: Action::Ring,
            log_only: false,
            decline_delay: Span(Duration::from_secs(3)),
            pass_list: None,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Rule {
    pub name: Option<String>,
    /// Numbers and patterns: `030 1234567`, `0900*`, `+44*`, `*1234`.
    pub numbers: Vec<String>,
    /// List files (text, .csv, .vcf, FRITZ!Box .xml), or lists by name
    /// (`fritzbox:…`, `phoneblock:…`).
    pub lists: Vec<ListName>,
    pub anonymous: bool,
    pub foreign: bool,
    pub invalid: bool,
    /// Number types: premium, mobile, fixed, toll-free, shared-cost, voip …
    pub types: Vec<String>,
    /// ISO countries: `["NG", "SN"]`.
    pub country: Vec<String>,
    /// The caller's display name (from the Box's phonebook): `["SPAM*"]`,
    /// case-insensitive, `*` for any run of characters.
    pub names: Vec<String>,
    pub repeated: Option<Repeated>,
    /// Local time window, `22:00-07:00`.
    pub hours: Option<String>,
    /// `["sat", "sun"]`.
    pub weekdays: Vec<String>,
    /// Only when one of these household numbers was dialled.
    pub to: Vec<String>,
    /// Only for calls to these accounts (`[fritzbox]` or `[[account]]`, by name).
    pub accounts: Vec<String>,
    pub action: Option<Action>,
    /// Decide and log, but let it ring.
    pub log_only: bool,
    /// For `phoneblock:community`: the votes a number needs (else [phoneblock]'s).
    pub min_votes: Option<u32>,
    /// What `terminate` says before it hangs up, or `answer`'s prompt: a
    /// WAV file (relative to the config) or `default` (the shipped one).
    pub announcement: Option<PathBuf>,
    /// The longest announcement played (default 30s).
    pub max_announcement: Option<Span>,
    /// `answer`: how long to wait for each key (default 10s).
    pub dtmf_timeout: Option<Span>,
    /// `answer`: the keys an entry must start with.
    pub pin: Option<String>,
    /// `challenge`: the key asked for (default: a digit at random per call).
    pub digit: Option<String>,
    /// `challenge`: how long a caller who pressed the right key may call
    /// (default 7d), or `forever` (into `[screen] pass_list`).
    pub pass: Option<PassFor>,
}

/// A pass's time as the config writes it: a duration, or `forever`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PassFor(pub crate::media::Pass);

impl<'de> Deserialize<'de> for PassFor {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<PassFor, D::Error> {
        let s = String::deserialize(d)?;
        if s.trim() == "forever" {
            return Ok(PassFor(crate::media::Pass::Forever));
        }
        parse_duration(&s)
            .map(|d| PassFor(crate::media::Pass::For(d)))
            .map_err(|e| serde::de::Error::custom(format!("{e}, or forever")))
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Repeated {
    pub calls: u32,
    pub within: Span,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CallLog {
    /// SQLite file; relative paths are relative to the config file.
    pub db: PathBuf,
    /// Keep records this many days (0 = for ever).
    pub retention_days: u32,
}

impl Default for CallLog {
    fn default() -> Self {
        CallLog {
            db: PathBuf::from("calls.db"),
            retention_days: 365,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Hook {
    /// The events that run it (`terminated`, `registration_lost`…);
    /// default `["terminated"]`.
    pub events: Vec<EventKind>,
    /// Program and arguments; event data comes as MINISIP4FB_* variables.
    pub command: Vec<String>,
    /// POST the event as JSON to this http:// URL.
    pub url: Option<String>,
    pub timeout: Option<Span>,
}

/// What is wrong with a config file (or with writing one), said so that a
/// person can fix it: the file, the line, the key, a suggestion.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {what} {}: {source}", path.display())]
    Read {
        what: &'static str,
        path: PathBuf,
        source: crate::guard::file::ReadError,
    },
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Not TOML, or a section, key or value the config does not take.
    #[error("{}{message}", path.as_ref().map(|p| format!("{}: ", p.display())).unwrap_or_default())]
    Invalid {
        path: Option<PathBuf>,
        message: String,
    },
    #[error("bad duration {value:?}{hint}")]
    Duration { value: String, hint: &'static str },
}

impl ConfigError {
    fn in_file(self, p: &Path) -> ConfigError {
        match self {
            ConfigError::Invalid {
                path: None,
                message,
            } => ConfigError::Invalid {
                path: Some(p.to_owned()),
                message,
            },
            e => e,
        }
    }
}

/// The directory a config file's relative paths (lists, password files,
/// the call log) are resolved against: the file's own; the current one
/// without a file.
pub fn base_dir(config: Option<&Path>) -> PathBuf {
    config
        .and_then(Path::parent)
        .filter(|d| !d.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// The first line of a secret's file, trimmed; `what` names the setting in errors: `[web] password_file
/// /etc/minisip4fb/web-password is empty`.
pub fn secret_file(path: &Path, what: &'static str) -> Result<String, SecretError> {
    let path = path.to_owned();
    let text = crate::guard::file::read_regular(&path, MAX_SECRET).map_err(|source| {
        SecretError::Read {
            what,
            path: path.clone(),
            source,
        }
    })?;
    let line = text.lines().next().unwrap_or("").trim();
    if line.is_empty() {
        return Err(SecretError::Empty { what, path });
    }
    Ok(line.to_owned())
}

/// A secret (a password or token from a file, the environment or the
/// config) that cannot be used, and what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("{what} {}: {source}", path.display())]
    Read {
        what: &'static str,
        path: PathBuf,
        source: crate::guard::file::ReadError,
    },
    #[error("{what} {} is empty", path.display())]
    Empty { what: &'static str, path: PathBuf },
    #[error("{from} is empty: put your PhoneBlock API token there (phoneblock.net, settings)")]
    EmptyToken { from: String },
    #[error("{from} does not hold a PhoneBlock token (printable characters, at most {MAX_TOKEN})")]
    NotAToken { from: String },
    #[error(
        "no PhoneBlock token: set token_file in [phoneblock] or env MINISIP4FB_PHONEBLOCK_TOKEN"
    )]
    NoToken,
}

/// Changes keys of `[fritzbox]` in the file at `path` (created if
/// missing), keeping every other key and comment, and checks the result.
pub fn edit_fritzbox(
    path: &Path,
    f: impl FnOnce(&mut toml_edit::Table),
) -> Result<(), ConfigError> {
    edit_section(path, "fritzbox", f)
}

/// Changes keys of `[section]` in the file at `path` (created if missing),
/// keeping every other key and comment, and checks the result.
pub fn edit_section(
    path: &Path,
    section: &str,
    f: impl FnOnce(&mut toml_edit::Table),
) -> Result<(), ConfigError> {
    edit_document(path, |doc| {
        let table = doc[section]
            .or_insert(toml_edit::table())
            .as_table_mut()
            .ok_or_else(|| format!("{section} is not a [section]"))?;
        f(table);
        Ok(())
    })
}

/// Changes keys of an account's table: `[fritzbox]` (`name` `None`) or
/// the `[[account]]` with `name`, appended when there is none.
pub fn edit_account(
    path: &Path,
    name: Option<&str>,
    f: impl FnOnce(&mut toml_edit::Table),
) -> Result<(), ConfigError> {
    let Some(name) = name else {
        return edit_fritzbox(path, f);
    };
    edit_document(path, |doc| {
        let all = doc["account"]
            .or_insert(toml_edit::Item::ArrayOfTables(
                toml_edit::ArrayOfTables::new(),
            ))
            .as_array_of_tables_mut()
            .ok_or("account is not [[account]] tables")?;
        let at = all
            .iter()
            .position(|t| t.get("name").and_then(|n| n.as_str()) == Some(name));
        let table = match at {
            Some(i) => all.get_mut(i).ok_or("no such [[account]]")?,
            None => {
                let mut t = toml_edit::Table::new();
                t["name"] = toml_edit::value(name);
                all.push(t);
                let last = all.len() - 1;
                all.get_mut(last).ok_or("no such [[account]]")?
            }
        };
        f(table);
        Ok(())
    })
}

/// Edits the file at `path` (created if missing) as a TOML document,
/// keeping every comment, and checks the result.
fn edit_document(
    path: &Path,
    f: impl FnOnce(&mut toml_edit::DocumentMut) -> Result<(), String>,
) -> Result<(), ConfigError> {
    let invalid = |message: String| ConfigError::Invalid {
        path: Some(path.to_owned()),
        message,
    };
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut doc: toml_edit::DocumentMut = text
        .parse()
        .map_err(|e: toml_edit::TomlError| invalid(e.to_string()))?;
    f(&mut doc).map_err(invalid)?;
    std::fs::write(path, doc.to_string()).map_err(|source| ConfigError::Write {
        path: path.to_owned(),
        source,
    })?;
    load(path).map(drop)
}

/// A duration as the config writes it (`500ms`, `3s`, `10m`, `2h`, `7d`),
/// checked when the file is read: a bad one is an error with its line,
/// section and key like every other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span(pub Duration);

/// The shortest whole form: `6h`, `90s`, `500ms`.
impl std::fmt::Display for Span {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ms = self.0.as_millis();
        let (n, unit) = [
            (86_400_000, "d"),
            (3_600_000, "h"),
            (60_000, "m"),
            (1000, "s"),
        ]
        .into_iter()
        .find(|(u, _)| ms > 0 && ms.is_multiple_of(*u))
        .map_or((ms, "ms"), |(u, name)| (ms / u, name));
        write!(f, "{n}{unit}")
    }
}

impl<'de> Deserialize<'de> for Span {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Span, D::Error> {
        let s = String::deserialize(d)?;
        parse_duration(&s)
            .map(Span)
            .map_err(serde::de::Error::custom)
    }
}

/// Parses `500ms`, `3s`, `10m`, `2h`, `7d`.
pub fn parse_duration(s: &str) -> Result<Duration, ConfigError> {
    let s = s.trim();
    let bad = |hint| ConfigError::Duration {
        value: s.to_owned(),
        hint,
    };
    let split = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let v: f64 = num
        .parse()
        .map_err(|_| bad(": use e.g. 500ms, 3s, 10m, 2h, 7d"))?;
    let secs = match unit.trim() {
        "ms" => v / 1000.0,
        "s" | "" => v,
        "m" | "min" => v * 60.0,
        "h" => v * 3600.0,
        "d" => v * 86400.0,
        _ => return Err(bad(": unit must be ms, s, m, h or d")),
    };
    if !secs.is_finite() || !(0.0..=1e9).contains(&secs) {
        return Err(bad(""));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// systemd's `StateDirectory=` (the package's unit: `/var/lib/minisip4fb`,
/// as `/etc` is read-only there), where the daemon keeps its own state.
pub fn systemd_state_directory() -> Option<PathBuf> {
    std::env::var_os("STATE_DIRECTORY")
        .and_then(|d| std::env::split_paths(&d).next())
        .filter(|d| d.is_absolute())
}

/// A config file is read up to this size.
const MAX_CONFIG: u64 = 1 << 20;
/// A secret's file is read up to this size.
pub const MAX_SECRET: u64 = 4096;

/// `lists = ["fritzbox:NAME"]` names a list on the Box.
pub const BOX_LIST_PREFIX: &str = "fritzbox:";

/// `lists = ["phoneblock:community"]`: PhoneBlock's community list; also
/// `phoneblock:blacklist` and `phoneblock:whitelist`, the household's own.
pub const PHONEBLOCK_PREFIX: &str = "phoneblock:";
pub const COMMUNITY_LIST: &str = "phoneblock:community";

/// A list a rule names: as the config writes it (how reasons and pages
/// show it) and, for a file, where it is ([`Config::resolve_paths`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListName {
    pub written: String,
    pub path: PathBuf,
}

impl ListName {
    /// A list of the Box's or PhoneBlock's, by name, not a file.
    pub fn is_named(&self) -> bool {
        self.written.starts_with(BOX_LIST_PREFIX) || self.written.starts_with(PHONEBLOCK_PREFIX)
    }
}

impl<'de> Deserialize<'de> for ListName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<ListName, D::Error> {
        let written = String::deserialize(d)?;
        Ok(ListName {
            path: PathBuf::from(&written),
            written,
        })
    }
}

impl Config {
    /// Makes every relative path of the config relative to `base`, the
    /// config file's directory: list files and announcements, the
    /// secrets' files, the call log, PhoneBlock's copy and the web's
    /// lists. Done once where the file is read ([`load`]), so that nothing
    /// after it needs to know where the file was.
    pub fn resolve_paths(&mut self, base: &Path) {
        let at = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        let at_some = |p: &mut Option<PathBuf>| {
            if let Some(p) = p {
                at(p);
            }
        };
        for f in std::iter::once(&mut self.fritzbox).chain(&mut self.accounts) {
            at_some(&mut f.password_file);
            at_some(&mut f.admin_password_file);
        }
        at(&mut self.calllog.db);
        at_some(&mut self.screen.pass_list);
        if let Some(pb) = &mut self.phoneblock {
            at_some(&mut pb.token_file);
            at(&mut pb.copy);
        }
        at_some(&mut self.web.password_file);
        at_some(&mut self.web.block_list);
        at_some(&mut self.web.allow_list);
        if let Some(m) = &mut self.mqtt {
            at_some(&mut m.password_file);
        }
        for n in &mut self.notify {
            at_some(&mut n.token_file);
        }
        for r in &mut self.rules {
            for l in r.lists.iter_mut().filter(|l| !l.is_named()) {
                at(&mut l.path);
            }
            if let Some(a) = &mut r.announcement
                && a.as_path() != Path::new(crate::media::announcement::BUILTIN)
            {
                at(a);
            }
        }
    }
}

/// Reads and parses a config file; its relative paths are resolved
/// against its directory ([`Config::resolve_paths`]).
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let text =
        crate::guard::file::read_regular(path, MAX_CONFIG).map_err(|source| ConfigError::Read {
            what: "config",
            path: path.to_owned(),
            source,
        })?;
    let mut config = parse(&text).map_err(|e| e.in_file(path))?;
    config.resolve_paths(&base_dir(Some(path)));
    Ok(config)
}

/// Parses config text; errors name the line, the section and the key.
pub fn parse(text: &str) -> Result<Config, ConfigError> {
    toml::from_str::<Config>(text).map_err(|e| ConfigError::Invalid {
        path: None,
        message: explain(text, &e),
    })
}

fn explain(text: &str, e: &toml::de::Error) -> String {
    let msg = e.message();
    let Some(span) = e.span() else {
        return msg.to_owned();
    };
    let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
    let section = section_at(text, line);
    // serde: "unknown field `acton`, expected one of `name`, `numbers`, …",
    // and for a value of an enum "unknown variant `ntyf`, expected …".
    for (prefix, what) in [("unknown field `", "key"), ("unknown variant `", "value")] {
        if let Some(rest) = msg.strip_prefix(prefix)
            && let Some((given, allowed)) = rest.split_once('`')
        {
            let allowed: Vec<&str> = allowed.split('`').skip(1).step_by(2).collect();
            let best = allowed
                .iter()
                .map(|a| (strsim::jaro_winkler(given, a), *a))
                .filter(|(score, _)| *score > 0.8)
                .max_by(|a, b| a.0.total_cmp(&b.0));
            let hint = match best {
                Some((_, a)) => format!(", did you mean \"{a}\"?"),
                None => String::new(),
            };
            return format!(
                "line {line}: unknown {what} \"{given}\" in {section}{hint} (allowed: {})",
                allowed.join(", ")
            );
        }
    }
    format!("line {line}, in {section}: {msg}")
}

/// `[[rule]] 3`, `[fritzbox]` or `the top level` for a 1-based line.
fn section_at(text: &str, line: usize) -> String {
    let mut current = "the top level".to_owned();
    let mut counts: std::collections::HashMap<String, usize> = Default::default();
    for l in text.lines().take(line) {
        let l = l.trim();
        if let Some(name) = l.strip_prefix("[[").and_then(|r| r.split("]]").next()) {
            let n = counts.entry(name.trim().to_owned()).or_default();
            *n += 1;
            current = format!("[[{}]] {n}", name.trim());
        } else if let Some(name) = l.strip_prefix('[').and_then(|r| r.split(']').next()) {
            current = format!("[{}]", name.trim());
        }
    }
    current
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_means_defaults() {
        let c = parse("").unwrap();
        assert_eq!(c.fritzbox.host, "fritz.box");
        assert_eq!(c.screen.default, Action::Ring);
        assert_eq!(c.calllog.retention_days, 365);
    }

    #[test]
    fn typo_names_line_section_and_suggestion() {
        let text = "[fritzbox]\nuser = \"620\"\n\n[[rule]]\naction = \"ring\"\n\n[[rule]]\nnumbers = [\"0900*\"]\n\n[[rule]]\ntypes = [\"premium\"]\nacton = \"terminate\"\n";
        let e = parse(text).unwrap_err().to_string();
        assert!(
            e.starts_with("line 12: unknown key \"acton\" in [[rule]] 3, did you mean \"action\"?"),
            "{e}"
        );
        let e = parse("[screen]\ndefault = \"explode\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("line 2") && e.contains("[screen]") && e.contains("terminate"),
            "{e}"
        );
        let e = parse("[fritzbox]\nbind = \"nonsense\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 2"), "{e}");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("3s").unwrap(), Duration::from_secs(3));
        assert_eq!(parse_duration("10m").unwrap(), Duration::from_secs(600));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert!(parse_duration("3 weeks").is_err());
        // Checked when the file is read, with the line like every key.
        let e = parse("[screen]\ndecline_delay = \"1s\"\n[[rule]]\nnumbers = [\"1\"]\naction = \"answer\"\ndtmf_timeout = \"soon\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("line 6, in [[rule]] 1: bad duration \"soon\""),
            "{e}"
        );
        let c = parse("[screen]\ndecline_delay = \"2500ms\"\n").unwrap();
        assert_eq!(c.screen.decline_delay, Span(Duration::from_millis(2500)));
        assert_eq!(c.fritzbox.phonebook_refresh.to_string(), "6h");
    }
}
