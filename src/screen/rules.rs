//! The screening rules: ordered, first match wins, then the default. Every
//! decision carries its reason (`rule 3 "premium numbers": +49900… is premium`).

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{Datelike, NaiveDateTime, NaiveTime, Weekday};

use super::list::{self, EntryError, LineError, ListError, NumberSet, Probe};
use super::number::{self, Home, HomeError, Kind, LazyClass};
use crate::call::{Action, CallerClass};
use crate::config;
use crate::media::{self, Announcement, Collect, Script};
use crate::phoneblock;

/// Why the rules do not compile; the message says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    #[error("[numbers]: {0}")]
    Numbers(#[source] HomeError),
    /// One `[[rule]]` (1-based, as in the file) and what is wrong with it.
    #[error("[[rule]] {index} \"{name}\": {error}")]
    Rule {
        index: usize,
        name: String,
        #[source]
        error: RuleError,
    },
    #[error("[screen]: decline_delay: {0}")]
    DeclineDelay(#[source] config::ConfigError),
    #[error(
        "[screen]: default = \"answer\" would pick up for anyone: use it in a [[rule]] with numbers or lists"
    )]
    DefaultAnswer,
}

/// What is wrong with one `[[rule]]`, by its key.
#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    #[error("numbers: {0}")]
    Number(#[source] EntryError),
    #[error("lists: {0}")]
    List(#[source] ListError),
    #[error("types: unknown type {0:?}, allowed: {allowed}", allowed = Kind::NAMES.join(", "))]
    Type(String),
    #[error("country: {0}")]
    Country(#[source] HomeError),
    #[error("repeated: calls must be at least 1")]
    RepeatedNoCalls,
    #[error("repeated.within: {0}")]
    Within(#[source] config::ConfigError),
    #[error("hours {0:?}: expected HH:MM-HH:MM, e.g. \"22:00-07:00\"")]
    Hours(String),
    #[error("hours {hours:?}: {time:?} is not HH:MM")]
    HoursTime { hours: String, time: String },
    #[error("weekday {0:?}: use mon, tue, wed, thu, fri, sat, sun")]
    Weekday(String),
    #[error("to: {0:?} is not a phone number")]
    To(String),
    #[error(
        "no action: add action = \"ring\", \"terminate\", \"decline\", \"ignore-silently\", \"terminate-and-bar\" or \"answer\""
    )]
    NoAction,
    #[error("announcement: {0}")]
    Announcement(#[source] crate::media::AnnouncementError),
    #[error(
        "announcement: only a call that is answered hears one: use it with action = \"terminate\", \"terminate-and-bar\" or \"answer\""
    )]
    AnnouncementAction,
    #[error("max_announcement: {0}")]
    MaxAnnouncement(#[source] config::ConfigError),
    #[error("dtmf_timeout: {0}")]
    DtmfTimeout(#[source] config::ConfigError),
    #[error("{0}: only for action = \"answer\"")]
    OnlyForAnswer(&'static str),
    #[error("pin: 4 to 16 of the keys 0-9 and *, e.g. pin = \"470815\"")]
    Pin,
    #[error(
        "action = \"answer\" picks up for callers you name: add numbers or lists (and no anonymous, foreign or invalid)"
    )]
    AnswerWho,
    #[error("lists: {0} needs a [phoneblock] section (token_file = \"…\")")]
    NoPhoneBlock(String),
    #[error(
        "lists: {0:?} is not a PhoneBlock list (phoneblock:community, phoneblock:blacklist and phoneblock:whitelist are)"
    )]
    PhoneBlockList(String),
}

/// Lists fetched from the Box over TR-064: phonebook name (or `barring`)
/// → its XML export.
pub type BoxLists = std::collections::HashMap<String, String>;

/// `lists = ["fritzbox:NAME"]` names a list on the Box.
pub const BOX_LIST_PREFIX: &str = "fritzbox:";

/// `lists = ["phoneblock:community"]`: PhoneBlock's community list; also
/// `phoneblock:blacklist` and `phoneblock:whitelist`, the household's own.
pub const PHONEBLOCK_PREFIX: &str = "phoneblock:";
pub const COMMUNITY_LIST: &str = "phoneblock:community";

/// One compiled `[[rule]]`.
#[derive(Debug)]
struct Rule {
    index: usize,
    name: Arc<str>,
    numbers: NumberSet,
    lists: Vec<(Arc<str>, NumberSet)>,
    /// `phoneblock:community` with the votes a number needs.
    community: Option<(phoneblock::Handle, u32)>,
    anonymous: bool,
    foreign: bool,
    invalid: bool,
    kinds: Vec<Kind>,
    countries: Vec<String>,
    repeated: Option<(u32, Duration)>,
    hours: Option<(NaiveTime, NaiveTime)>,
    weekdays: Vec<Weekday>,
    to: Vec<String>,
    action: Action,
    log_only: bool,
    /// What the rule asks, as the config says it (for people to read).
    shown: Vec<String>,
    /// What an answered call hears and does (announcement, keys).
    script: Option<Arc<Script>>,
    /// It asks for a PIN: failed entries lock callers out.
    door: bool,
}

/// A rule as people read it (the dashboard's rules page): its criteria in
/// the config's words, in order.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RuleView {
    pub index: usize,
    /// The call log's name for it: `3 "premium numbers"`.
    pub rule: String,
    pub name: String,
    pub action: Action,
    pub log_only: bool,
    pub criteria: Vec<String>,
}

/// A rule's announcement and keys, checked against its action. The WAV
/// file is read here, when the rules compile, never during a call.
fn script(r: &config::Rule, action: Action, base: &Path) -> Result<Option<Arc<Script>>, RuleError> {
    let answers = matches!(
        action,
        Action::Terminate | Action::TerminateAndBar | Action::Answer
    );
    if r.announcement.is_some() && !answers {
        return Err(RuleError::AnnouncementAction);
    }
    if action != Action::Answer {
        for (set, key) in [
            (r.pin.is_some(), "pin"),
            (r.dtmf_timeout.is_some(), "dtmf_timeout"),
        ] {
            if set {
                return Err(RuleError::OnlyForAnswer(key));
            }
        }
    }
    let max = r
        .max_announcement
        .as_deref()
        .map(config::parse_duration)
        .transpose()
        .map_err(RuleError::MaxAnnouncement)?
        .unwrap_or(media::announcement::MAX_DEFAULT);
    let announcement = r
        .announcement
        .as_deref()
        .map(|a| {
            let path = if a == Path::new(media::announcement::BUILTIN) || a.is_absolute() {
                a.to_owned()
            } else {
                base.join(a)
            };
            Announcement::named(&path, max)
        })
        .transpose()
        .map_err(RuleError::Announcement)?;
    let collect = if action == Action::Answer {
        // Never for a caller nobody named: an answered call is a call
        // the household pays attention to.
        if (r.numbers.is_empty() && r.lists.is_empty()) || r.anonymous || r.foreign || r.invalid {
            return Err(RuleError::AnswerWho);
        }
        if let Some(pin) = &r.pin
            && !((4..=16).contains(&pin.len())
                && pin.bytes().all(|b| b.is_ascii_digit() || b == b'*'))
        {
            return Err(RuleError::Pin);
        }
        Some(Collect {
            timeout: r
                .dtmf_timeout
                .as_deref()
                .map(config::parse_duration)
                .transpose()
                .map_err(RuleError::DtmfTimeout)?
                .unwrap_or(media::DTMF_TIMEOUT),
            pin: r.pin.clone(),
        })
    } else {
        None
    };
    Ok((announcement.is_some() || collect.is_some()).then(|| {
        Arc::new(Script {
            announcement,
            collect,
        })
    }))
}

/// Entries of `numbers` shown on the rules page at most.
const SHOWN_NUMBERS: usize = 6;

/// A rule's criteria in the config's words.
fn criteria(
    r: &config::Rule,
    lists: &[(Arc<str>, NumberSet)],
    community: Option<u32>,
) -> Vec<String> {
    let mut out = Vec::new();
    if !r.numbers.is_empty() {
        let mut s = r
            .numbers
            .iter()
            .take(SHOWN_NUMBERS)
            .cloned()
            .collect::<Vec<_>>()
            .join(", ");
        if r.numbers.len() > SHOWN_NUMBERS {
            s.push_str(&format!(" (+{} more)", r.numbers.len() - SHOWN_NUMBERS));
        }
        out.push(format!("numbers: {s}"));
    }
    for (name, set) in lists {
        out.push(format!("list {name} ({} numbers)", set.len()));
    }
    if let Some(votes) = community {
        out.push(format!("{COMMUNITY_LIST}, at least {votes} votes"));
    }
    for (on, what) in [
        (r.anonymous, "anonymous"),
        (r.foreign, "foreign"),
        (r.invalid, "invalid"),
    ] {
        if on {
            out.push(what.into());
        }
    }
    if !r.types.is_empty() {
        out.push(format!("types: {}", r.types.join(", ")));
    }
    if !r.country.is_empty() {
        out.push(format!("country: {}", r.country.join(", ")));
    }
    if let Some(rep) = &r.repeated {
        out.push(format!(
            "repeated: {} calls within {}",
            rep.calls, rep.within
        ));
    }
    if let Some(h) = &r.hours {
        out.push(format!("hours: {h}"));
    }
    if !r.weekdays.is_empty() {
        out.push(format!("weekdays: {}", r.weekdays.join(", ")));
    }
    if !r.to.is_empty() {
        out.push(format!("to: {}", r.to.join(", ")));
    }
    if out.is_empty() {
        out.push("every caller".into());
    }
    out
}

/// All rules, ready to decide.
#[derive(Debug)]
pub struct Rules {
    home: Home,
    rules: Vec<Rule>,
    default: Action,
    log_only: bool,
    pub decline_delay: Duration,
    /// The longest `repeated` window; `None`: no rule counts calls.
    history_span: Option<Duration>,
    /// Some rule asks which household number was dialled (`to`).
    wants_called: bool,
    /// Some rule has `hours` or `weekdays`.
    wants_local_time: bool,
}

/// What to do with one call, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// What the rules say.
    pub action: Action,
    /// What is done: `ring` in log-only mode, else `action`.
    pub effective: Action,
    pub why: Why,
    pub e164: Option<String>,
    /// A name from a list or phonebook entry that matched.
    pub name: Option<String>,
    pub class: CallerClass,
}

/// Why a call got its decision. Typed on the phone's thread (nothing is
/// formatted while the caller waits); the call log's text is its
/// [`Display`](fmt::Display), written by the book-keeper.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Why {
    /// Another phone of the Box (`**622`): never screened.
    Internal(String),
    /// No rule matched; `who` is the number, `None` when withheld.
    Default { action: Action, who: Option<String> },
    Rule {
        rule: RuleRef,
        /// The number as shown (E.164 when known); `None` when withheld.
        who: Option<String>,
        matched: Matched,
        /// The rule's `hours`, and the called number for a rule with `to`.
        hours: Option<(NaiveTime, NaiveTime)>,
        to: Option<String>,
        /// Log-only: what the rule would have done.
        would: Option<Action>,
    },
}

/// A rule, as the call log names it: `3 "premium numbers"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleRef {
    pub index: usize,
    pub name: Arc<str>,
}

/// What of a rule matched the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Matched {
    /// A rule without who-criteria.
    AnyCaller,
    Anonymous,
    /// Listed exactly in the rule's `numbers`.
    Listed,
    /// A pattern of the rule's `numbers`: `+49900*`, `*1234`.
    Entry(String),
    /// In a list file or Box phonebook, with the entry's name if any.
    InList {
        list: Arc<str>,
        name: Option<String>,
    },
    /// On PhoneBlock's community list with this many votes.
    Community {
        votes: u32,
        rating: Option<crate::phoneblock::Rating>,
    },
    Foreign(Option<String>),
    Invalid,
    Kind(Kind),
    Country(String),
    Repeated {
        count: u32,
        within: Duration,
    },
}

impl Why {
    /// The rule that matched; `None` for the default and internal calls.
    pub fn rule(&self) -> Option<&RuleRef> {
        match self {
            Why::Rule { rule, .. } => Some(rule),
            _ => None,
        }
    }
}

impl fmt::Display for RuleRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} \"{}\"", self.index, self.name)
    }
}

impl fmt::Display for Why {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (rule, who, matched, hours, to, would) = match self {
            Why::Internal(n) => return write!(f, "internal call from {n}: never screened"),
            Why::Default { action, who } => {
                let who = who.as_deref().unwrap_or("anonymous");
                return write!(f, "default ({}): no rule matched {who}", action.as_str());
            }
            Why::Rule {
                rule,
                who,
                matched,
                hours,
                to,
                would,
            } => (rule, who, matched, hours, to, would),
        };
        let shown = who.as_deref().unwrap_or("anonymous");
        write!(f, "rule {rule}: ")?;
        match matched {
            Matched::AnyCaller => write!(f, "{shown}, any caller"),
            Matched::Anonymous => write!(f, "anonymous caller"),
            Matched::Listed => write!(f, "{shown} listed"),
            Matched::Entry(e) => write!(f, "{shown} matches {e}"),
            Matched::InList { list, name: None } => write!(f, "{shown} in {list}"),
            Matched::InList {
                list,
                name: Some(n),
            } => write!(f, "{shown} in {list} ({n})"),
            Matched::Community { votes, rating } => {
                write!(f, "{shown} has {votes} PhoneBlock votes")?;
                match rating {
                    Some(r) => write!(f, " ({r})"),
                    None => Ok(()),
                }
            }
            Matched::Foreign(c) => {
                write!(
                    f,
                    "{shown} is foreign ({})",
                    c.as_deref().unwrap_or("abroad")
                )
            }
            Matched::Invalid => write!(f, "{shown} is not a valid number"),
            Matched::Kind(k) => write!(f, "{shown} is {k}"),
            Matched::Country(c) => write!(f, "{shown} is from {c}"),
            Matched::Repeated { count, within } => {
                write!(
                    f,
                    "{shown} called {count} times within {}",
                    humanize(*within)
                )
            }
        }?;
        if let Some((a, b)) = hours {
            write!(f, " between {}-{}", a.format("%H:%M"), b.format("%H:%M"))?;
        }
        if let Some(c) = to {
            write!(f, " to {c}")?;
        }
        if let Some(a) = would {
            write!(f, " (log-only: would {})", a.as_str())?;
        }
        Ok(())
    }
}

/// What the phone remembers of callers: recent calls per number, for
/// `repeated` rules, and the door openers' lockouts.
#[derive(Debug)]
pub struct History {
    calls: HashMap<String, VecDeque<Instant>>,
    /// Prune when this many numbers are remembered.
    prune_at: usize,
    doors: super::doors::DoorState,
}

impl Default for History {
    fn default() -> Self {
        History {
            calls: HashMap::new(),
            prune_at: 1024,
            doors: super::doors::DoorState::default(),
        }
    }
}

impl History {
    /// With the door guard's lockouts (a door opener passes over a
    /// caller locked out by failed PINs).
    pub fn with_doors(doors: super::doors::DoorState) -> History {
        History {
            doors,
            ..History::default()
        }
    }

    /// Notes a call from `e164` at `now`; calls older than `span` (the
    /// longest `repeated` window) are forgotten.
    pub fn record(&mut self, e164: &str, now: Instant, span: Duration) {
        let old = |t: &Instant| now.duration_since(*t) > span;
        let q = self.calls.entry(e164.to_owned()).or_default();
        q.push_back(now);
        while q.len() > 64 || q.front().is_some_and(old) {
            q.pop_front();
        }
        // A wave of distinct numbers: drop the callers whose calls all fell
        // out of the window, so memory follows the window, not the wave.
        if self.calls.len() >= self.prune_at {
            self.calls.retain(|_, q| q.back().is_some_and(|t| !old(t)));
            self.prune_at = (self.calls.len() * 2).max(1024);
            self.calls.shrink_to(self.prune_at);
        }
    }

    /// Numbers remembered.
    pub fn len(&self) -> usize {
        self.calls.len()
    }

    pub fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }

    /// Calls from `e164` within `window` before `now`, this one included.
    pub fn count(&self, e164: &str, window: Duration, now: Instant) -> u32 {
        self.calls.get(e164).map_or(0, |q| {
            q.iter()
                .filter(|t| now.duration_since(**t) <= window)
                .count() as u32
        })
    }
}

fn parse_hours(s: &str) -> Result<(NaiveTime, NaiveTime), RuleError> {
    let (a, b) = s
        .split_once('-')
        .ok_or_else(|| RuleError::Hours(s.to_owned()))?;
    let t = |x: &str| {
        NaiveTime::parse_from_str(x.trim(), "%H:%M").map_err(|_| RuleError::HoursTime {
            hours: s.to_owned(),
            time: x.to_owned(),
        })
    };
    Ok((t(a)?, t(b)?))
}

fn parse_weekday(s: &str) -> Result<Weekday, RuleError> {
    s.parse::<Weekday>()
        .map_err(|_| RuleError::Weekday(s.to_owned()))
}

impl Rules {
    /// Compiles the config's rules; list files are read relative to `base`.
    /// Broken list lines come back as warnings; a broken rule is an error.
    pub fn compile(
        cfg: &config::Config,
        base: &Path,
    ) -> Result<(Rules, Vec<LineError>), CompileError> {
        Rules::compile_with(cfg, base, &BoxLists::new(), &phoneblock::Handle::default())
    }

    /// Like [`Rules::compile`], with the lists fetched from the Box for
    /// `lists = ["fritzbox:Telefonbuch"]` (a phonebook by name),
    /// `"fritzbox:*"` (every phonebook) and `"fritzbox:barring"` (its
    /// call-barring list). A list not fetched yet is empty, with a warning.
    /// `phoneblock:community` looks numbers up in `phoneblock`, whatever
    /// copy it holds when a call comes; `phoneblock:blacklist|whitelist`
    /// are read from it now (a new fetch of them compiles the rules again).
    pub fn compile_with(
        cfg: &config::Config,
        base: &Path,
        box_lists: &BoxLists,
        phoneblock: &phoneblock::Handle,
    ) -> Result<(Rules, Vec<LineError>), CompileError> {
        let home = Home::new(&cfg.numbers.country, cfg.numbers.area_code.as_deref())
            .map_err(CompileError::Numbers)?;
        let mut warnings = Vec::new();
        let mut rules = Vec::new();
        for (i, r) in cfg.rules.iter().enumerate() {
            let index = i + 1;
            let name = r.name.clone().unwrap_or_else(|| format!("rule {index}"));
            let at = |error: RuleError| CompileError::Rule {
                index,
                name: name.clone(),
                error,
            };
            let mut numbers = NumberSet::default();
            for n in &r.numbers {
                numbers
                    .insert(n, None, &home)
                    .map_err(|e| at(RuleError::Number(e)))?;
            }
            let mut lists = Vec::new();
            let mut with_community = None;
            for l in &r.lists {
                let shown = l.display().to_string();
                if let Some(which) = shown.strip_prefix(PHONEBLOCK_PREFIX) {
                    let Some(pb) = &cfg.phoneblock else {
                        return Err(at(RuleError::NoPhoneBlock(shown)));
                    };
                    if which == "community" {
                        with_community =
                            Some((phoneblock.clone(), r.min_votes.unwrap_or(pb.min_votes)));
                        continue;
                    }
                    let which = phoneblock::Which::BOTH
                        .into_iter()
                        .find(|w| w.as_str() == which)
                        .ok_or_else(|| at(RuleError::PhoneBlockList(shown.clone())))?;
                    let mut set = NumberSet::default();
                    for (i, e) in phoneblock.load().personal.list(which).iter().enumerate() {
                        if let Err(err) = set.insert(&e.phone, e.label.as_deref(), &home) {
                            warnings.push(LineError {
                                file: l.clone(),
                                line: i + 1,
                                message: format!("{:?}: {err}", e.phone),
                            });
                        }
                    }
                    lists.push((shown.into(), set));
                    continue;
                }
                if let Some(name) = shown.strip_prefix(BOX_LIST_PREFIX) {
                    let mut set = NumberSet::default();
                    let wanted: Vec<&String> = box_lists
                        .keys()
                        .filter(|k| name == "*" && k.as_str() != "barring" || k.as_str() == name)
                        .collect();
                    if wanted.is_empty() {
                        warnings.push(LineError {
                            file: l.clone(),
                            line: 0,
                            message: "not fetched from the FRITZ!Box (yet): empty until it is"
                                .into(),
                        });
                    }
                    for key in wanted {
                        let (s, errs) =
                            list::parse(&box_lists[key], list::Format::FritzXml, l, &home);
                        warnings.extend(errs);
                        set.extend(s);
                    }
                    lists.push((shown.into(), set));
                    continue;
                }
                let path = if l.is_absolute() {
                    l.clone()
                } else {
                    base.join(l)
                };
                let (set, errs) = list::load(&path, &home).map_err(|e| at(RuleError::List(e)))?;
                warnings.extend(errs);
                lists.push((shown.into(), set));
            }
            let kinds = r
                .types
                .iter()
                .map(|t| Kind::parse(t).ok_or_else(|| at(RuleError::Type(t.clone()))))
                .collect::<Result<Vec<_>, _>>()?;
            let countries = r
                .country
                .iter()
                .map(|c| {
                    Home::new(c, None)
                        .map(|_| c.to_ascii_uppercase())
                        .map_err(|e| at(RuleError::Country(e)))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let repeated = match &r.repeated {
                Some(rep) if rep.calls == 0 => {
                    return Err(at(RuleError::RepeatedNoCalls));
                }
                Some(rep) => Some((
                    rep.calls,
                    config::parse_duration(&rep.within).map_err(|e| at(RuleError::Within(e)))?,
                )),
                None => None,
            };
            let hours = r
                .hours
                .as_deref()
                .map(parse_hours)
                .transpose()
                .map_err(at)?;
            let weekdays = r
                .weekdays
                .iter()
                .map(|w| parse_weekday(w))
                .collect::<Result<Vec<_>, _>>()
                .map_err(at)?;
            let to = r
                .to
                .iter()
                .map(|t| number::dialled_e164(t, &home).ok_or_else(|| at(RuleError::To(t.clone()))))
                .collect::<Result<Vec<_>, _>>()?;
            let action = r.action.ok_or_else(|| at(RuleError::NoAction))?;
            let script = script(r, action, base).map_err(at)?;
            let shown = criteria(r, &lists, with_community.as_ref().map(|(_, v)| *v));
            let pin = script
                .as_ref()
                .and_then(|s| s.collect.as_ref())
                .and_then(|c| c.pin.as_ref());
            if let Some(pin) = pin.filter(|p| p.len() < 6) {
                warnings.push(LineError {
                    file: PathBuf::from(format!("[[rule]] {index} {name:?}")),
                    line: 0,
                    message: format!(
                        "a pin of {} keys is guessed sooner than one of 6 or more (caller ID can be forged, so the PIN is the lock)",
                        pin.len()
                    ),
                });
            }
            let door = pin.is_some();
            rules.push(Rule {
                door,
                shown,
                index,
                name: name.into(),
                numbers,
                lists,
                community: with_community,
                anonymous: r.anonymous,
                foreign: r.foreign,
                invalid: r.invalid,
                kinds,
                countries,
                repeated,
                hours,
                weekdays,
                to,
                action,
                log_only: r.log_only,
                script,
            });
        }
        if cfg.screen.default == Action::Answer {
            return Err(CompileError::DefaultAnswer);
        }
        let decline_delay = config::parse_duration(&cfg.screen.decline_delay)
            .map_err(CompileError::DeclineDelay)?;
        let history_span = rules
            .iter()
            .filter_map(|r| r.repeated)
            .map(|(_, w)| w)
            .max();
        // Only rules about a number's type, validity or country need
        // libphonenumber's metadata; load it now, off the phone's thread.
        if rules
            .iter()
            .any(|r| r.foreign || r.invalid || !r.kinds.is_empty() || !r.countries.is_empty())
        {
            number::warm_up(&home);
        }
        let wants_called = rules.iter().any(|r| !r.to.is_empty());
        let wants_local_time = rules
            .iter()
            .any(|r| r.hours.is_some() || !r.weekdays.is_empty());
        Ok((
            Rules {
                home,
                rules,
                default: cfg.screen.default,
                log_only: cfg.screen.log_only,
                decline_delay,
                history_span,
                wants_called,
                wants_local_time,
            },
            warnings,
        ))
    }

    /// Whether any rule reads a list from the Box.
    pub fn wants_box_lists(cfg: &config::Config) -> bool {
        cfg.rules
            .iter()
            .flat_map(|r| &r.lists)
            .any(|l| l.display().to_string().starts_with(BOX_LIST_PREFIX))
    }

    /// Whether a decision needs the household's wall-clock time; without
    /// such a rule the caller of [`Rules::decide`] need not look it up.
    pub fn wants_local_time(&self) -> bool {
        self.wants_local_time
    }

    pub fn home(&self) -> &Home {
        &self.home
    }

    /// Notes a call for `repeated` rules, for as long as their longest
    /// window; without such a rule nothing is kept.
    pub fn remember(&self, history: &mut History, number: Option<&str>, now: Instant) {
        let Some(span) = self.history_span else {
            return;
        };
        if let LazyClass::External(n) = number::classify_lazy(number, &self.home)
            && let Some(e) = &n.e164
        {
            history.record(e, now, span);
        }
    }

    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// The rules in order, as people read them.
    pub fn views(&self) -> Vec<RuleView> {
        self.rules
            .iter()
            .map(|r| RuleView {
                index: r.index,
                rule: RuleRef {
                    index: r.index,
                    name: r.name.clone(),
                }
                .to_string(),
                name: r.name.to_string(),
                action: r.action,
                log_only: r.log_only || self.log_only,
                criteria: r.shown.clone(),
            })
            .collect()
    }

    /// What the phone plays and listens for in a call so decided: the
    /// matching rule's script, when the call is answered (`terminate` with
    /// an announcement, `answer`).
    pub fn script(&self, d: &Decision) -> Option<Arc<Script>> {
        if !matches!(
            d.effective,
            Action::Terminate | Action::TerminateAndBar | Action::Answer
        ) {
            return None;
        }
        let index = d.why.rule()?.index;
        self.rules.get(index - 1)?.script.clone()
    }

    /// What happens to a call no rule matches.
    pub fn default_action(&self) -> Action {
        self.default
    }

    /// Whether every rule only logs (`[screen] log_only`).
    pub fn log_only(&self) -> bool {
        self.log_only
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Decides about a call. `history` must already hold this call;
    /// `local` is the household's wall-clock time.
    pub fn decide(
        &self,
        number: Option<&str>,
        called: Option<&str>,
        history: &History,
        now: Instant,
        local: NaiveDateTime,
    ) -> Decision {
        let class = number::classify_lazy(number, &self.home);
        let (e164, kind) = match &class {
            LazyClass::External(n) => (n.e164.clone(), CallerClass::External),
            LazyClass::Anonymous => (None, CallerClass::Anonymous),
            LazyClass::Internal(n) => {
                return Decision {
                    action: Action::Ring,
                    effective: Action::Ring,
                    why: Why::Internal(n.to_string()),
                    e164: None,
                    name: None,
                    class: CallerClass::Internal,
                };
            }
        };
        let probe = e164.as_deref().and_then(Probe::new);
        let called = called
            .filter(|_| self.wants_called)
            .and_then(|c| number::dialled_e164(c, &self.home));
        for rule in &self.rules {
            // A door opener locked for this caller (failed PINs) or closed
            // by its daily ceiling does not answer: the next rule decides.
            if rule.door
                && history
                    .doors
                    .load()
                    .locks(&rule.name, e164.as_deref(), super::doors::unix_ms())
            {
                continue;
            }
            if let Some((matched, name)) = rule.matches(
                &class,
                probe.as_ref(),
                called.as_deref(),
                history,
                now,
                local,
            ) {
                let log_only = self.log_only || rule.log_only;
                let why = Why::Rule {
                    rule: RuleRef {
                        index: rule.index,
                        name: rule.name.clone(),
                    },
                    who: class.shown().map(str::to_owned),
                    matched,
                    hours: rule.hours,
                    to: called.clone().filter(|_| !rule.to.is_empty()),
                    would: (log_only && rule.action != Action::Ring).then_some(rule.action),
                };
                return Decision {
                    action: rule.action,
                    effective: if log_only { Action::Ring } else { rule.action },
                    why,
                    e164,
                    name,
                    class: kind,
                };
            }
        }
        Decision {
            action: self.default,
            effective: if self.log_only {
                Action::Ring
            } else {
                self.default
            },
            why: Why::Default {
                action: self.default,
                who: class.shown().map(str::to_owned),
            },
            e164,
            name: None,
            class: kind,
        }
    }
}

impl Rule {
    fn has_who(&self) -> bool {
        !self.numbers.is_empty()
            || !self.lists.is_empty()
            || self.community.is_some()
            || self.anonymous
            || self.foreign
            || self.invalid
            || !self.kinds.is_empty()
            || !self.countries.is_empty()
            || self.repeated.is_some()
    }

    /// Who-criteria are alternatives (any may match); `hours`, `weekdays`
    /// and `to` are conditions that must all hold. A rule without
    /// who-criteria applies to every caller.
    fn matches(
        &self,
        class: &LazyClass,
        probe: Option<&Probe>,
        called: Option<&str>,
        history: &History,
        now: Instant,
        local: NaiveDateTime,
    ) -> Option<(Matched, Option<String>)> {
        if let Some((from, to)) = self.hours {
            let t = local.time();
            let inside = if from <= to {
                t >= from && t < to
            } else {
                t >= from || t < to
            };
            if !inside {
                return None;
            }
        }
        if !self.weekdays.is_empty() && !self.weekdays.contains(&local.weekday()) {
            return None;
        }
        if !self.to.is_empty() && !called.is_some_and(|c| self.to.iter().any(|t| t == c)) {
            return None;
        }
        if !self.has_who() {
            return Some((Matched::AnyCaller, None));
        }
        match class {
            LazyClass::Anonymous if self.anonymous => Some((Matched::Anonymous, None)),
            LazyClass::Anonymous | LazyClass::Internal(_) => None,
            LazyClass::External(n) => {
                if let (Some(e), Some(probe)) = (&n.e164, probe) {
                    if let Some(hit) = self.numbers.probe(probe) {
                        let how = if hit.entry == *e {
                            Matched::Listed
                        } else {
                            Matched::Entry(hit.entry)
                        };
                        return Some((how, hit.name));
                    }
                    for (file, set) in &self.lists {
                        if let Some(hit) = set.probe(probe) {
                            let matched = Matched::InList {
                                list: file.clone(),
                                name: hit.name.clone(),
                            };
                            return Some((matched, hit.name));
                        }
                    }
                    if let Some((copy, min_votes)) = &self.community
                        && let Some(phone) = phoneblock::parse_phone(e)
                        && let Some(hit) = copy.load().community.lookup(phone)
                        && hit.votes >= *min_votes
                    {
                        let matched = Matched::Community {
                            votes: hit.votes,
                            rating: hit.rating,
                        };
                        return Some((matched, None));
                    }
                }
                // Only now, and only for rules that ask: libphonenumber's facts.
                let facts = || n.facts();
                if self.foreign && facts().foreign {
                    return Some((Matched::Foreign(facts().country.clone()), None));
                }
                if self.invalid && !facts().valid {
                    return Some((Matched::Invalid, None));
                }
                if !self.kinds.is_empty()
                    && let Some(k) = self.kinds.iter().find(|k| k.covers(facts().kind))
                {
                    return Some((Matched::Kind(*k), None));
                }
                if !self.countries.is_empty()
                    && let Some(c) = facts()
                        .country
                        .as_ref()
                        .filter(|c| self.countries.contains(c))
                {
                    return Some((Matched::Country(c.clone()), None));
                }
                if let (Some((calls, within)), Some(e)) = (self.repeated, &n.e164) {
                    let count = history.count(e, within, now);
                    if count >= calls {
                        return Some((Matched::Repeated { count, within }, None));
                    }
                }
                None
            }
        }
    }
}

fn humanize(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        s if s % 86400 == 0 && s > 0 => format!("{}d", s / 86400),
        s if s % 3600 == 0 && s > 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 && s > 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(toml: &str) -> Rules {
        let cfg = config::parse(toml).unwrap();
        Rules::compile(&cfg, Path::new(".")).unwrap().0
    }

    #[test]
    fn community_votes_decide_and_are_the_reason() {
        use crate::phoneblock::{Community, Listed, Local, Personal, PersonalEntry, Rating};
        let toml = "[numbers]\ncountry = \"DE\"\n[phoneblock]\nmin_votes = 4\n\
            [[rule]]\nname = \"mine\"\nlists = [\"phoneblock:whitelist\"]\naction = \"ring\"\n\
            [[rule]]\nname = \"my spam\"\nlists = [\"phoneblock:blacklist\"]\naction = \"terminate\"\n\
            [[rule]]\nname = \"strict\"\nlists = [\"phoneblock:community\"]\nmin_votes = 50\nto = [\"030 999\"]\naction = \"terminate\"\n\
            [[rule]]\nname = \"community\"\nlists = [\"phoneblock:community\"]\naction = \"terminate\"\n";
        let cfg = config::parse(toml).unwrap();
        let handle = phoneblock::Handle::default();
        let (r, _) = Rules::compile_with(&cfg, Path::new("."), &BoxLists::new(), &handle).unwrap();
        assert_eq!(
            decide(&r, Some("0301234567")).action,
            Action::Ring,
            "empty copy"
        );
        let entry = |phone: &str, label: Option<&str>| PersonalEntry {
            phone: phone.into(),
            label: label.map(Into::into),
        };
        let listed = |phone, votes| Listed {
            phone,
            votes,
            rating: Some(Rating::Advertising),
        };
        // A sync swaps the copy in: the compiled rules see it at once.
        handle.store(Arc::new(Local {
            community: Arc::new(Community::new(
                vec![
                    listed(49301234567, 20),
                    listed(49307654321, 2),
                    listed(49305550000, 50),
                    listed(49301112222, 2),
                ],
                1,
            )),
            personal: Arc::new(Personal {
                blacklist: vec![entry("0307654*", None), entry("no number", None)],
                whitelist: vec![entry("+49305550000", Some("Praxis"))],
            }),
        }));
        let d = decide(&r, Some("0301234567"));
        assert_eq!(d.action, Action::Terminate);
        assert_eq!(
            d.why.to_string(),
            "rule 4 \"community\": +49301234567 has 20 PhoneBlock votes (E_ADVERTISING)"
        );
        // The personal lists are read when the rules compile.
        assert_eq!(decide(&r, Some("0305550000")).action, Action::Terminate);
        let (r, warnings) =
            Rules::compile_with(&cfg, Path::new("."), &BoxLists::new(), &handle).unwrap();
        assert_eq!(
            warnings.iter().map(ToString::to_string).collect::<Vec<_>>(),
            ["phoneblock:blacklist:2: \"no number\": not a phone number"]
        );
        let d = decide(&r, Some("0305550000"));
        assert_eq!(
            (d.action, d.why.to_string().as_str()),
            (
                Action::Ring,
                "rule 1 \"mine\": +49305550000 in phoneblock:whitelist (Praxis)"
            ),
            "the whitelist overrides 50 votes"
        );
        assert_eq!(
            decide(&r, Some("0307654321")).why.to_string(),
            "rule 2 \"my spam\": +49307654321 in phoneblock:blacklist",
            "the blacklist blocks whatever the votes"
        );
        assert_eq!(
            decide(&r, Some("0301112222")).action,
            Action::Ring,
            "2 < 4 votes"
        );
        for (toml, err) in [
            (
                "[[rule]]\nlists = [\"phoneblock:community\"]\naction = \"ring\"\n",
                "phoneblock:community needs a [phoneblock] section",
            ),
            (
                "[phoneblock]\n[[rule]]\nlists = [\"phoneblock:comunity\"]\naction = \"ring\"\n",
                "\"phoneblock:comunity\" is not a PhoneBlock list",
            ),
        ] {
            let cfg = config::parse(toml).unwrap();
            let e = Rules::compile(&cfg, Path::new("."))
                .unwrap_err()
                .to_string();
            assert!(e.contains(err), "{e}");
        }
    }

    fn at(h: u32, m: u32) -> NaiveDateTime {
        // 2026-11-27 is a Friday.
        chrono::NaiveDate::from_ymd_opt(2026, 11, 27)
            .unwrap()
            .and_hms_opt(h, m, 0)
            .unwrap()
    }

    fn decide(r: &Rules, n: Option<&str>) -> Decision {
        r.decide(n, None, &History::default(), Instant::now(), at(12, 0))
    }

    const CONFIG: &str = r#"
[numbers]
country = "DE"
area_code = "030"
[[rule]]
name = "family"
numbers = ["030 1234567", "0171 2345678"]
action = "ring"
[[rule]]
name = "anonymous"
anonymous = true
action = "terminate"
[[rule]]
name = "premium numbers"
types = ["premium"]
action = "terminate"
[[rule]]
name = "blocked"
numbers = ["0900*", "*666", "+44 20 7946 0000"]
action = "terminate"
[[rule]]
name = "abroad"
foreign = true
action = "decline"
[[rule]]
name = "invalid"
invalid = true
action = "ignore-silently"
"#;

    #[test]
    fn first_match_wins_with_reasons() {
        let r = rules(CONFIG);
        let d = decide(&r, Some("0301234567"));
        assert_eq!(
            (d.action, d.why.to_string().as_str()),
            (Action::Ring, "rule 1 \"family\": +49301234567 listed")
        );
        let d = decide(&r, None);
        assert_eq!(
            (d.action, d.why.to_string().as_str()),
            (Action::Terminate, "rule 2 \"anonymous\": anonymous caller")
        );
        let d = decide(&r, Some("09005551234"));
        assert_eq!(
            d.why.to_string(),
            "rule 3 \"premium numbers\": +499005551234 is premium",
            "premium before the 0900* pattern"
        );
        let d = decide(&r, Some("040555666"));
        assert_eq!(
            d.why.to_string(),
            "rule 4 \"blocked\": +4940555666 matches *666"
        );
        let d = decide(&r, Some("00442079460000"));
        assert_eq!(
            d.why.to_string(),
            "rule 4 \"blocked\": +442079460000 listed",
            "blocked before abroad"
        );
        let d = decide(&r, Some("0033142685300"));
        assert_eq!(
            (d.action, d.why.to_string().as_str()),
            (
                Action::Decline,
                "rule 5 \"abroad\": +33142685300 is foreign (FR)"
            )
        );
        let d = decide(&r, Some("0002"));
        assert_eq!(d.action, Action::IgnoreSilently);
        let d = decide(&r, Some("040855992611"));
        assert_eq!((d.action, d.why.rule()), (Action::Ring, None));
        assert!(d.why.to_string().starts_with("default (ring)"), "{}", d.why);
        let d = decide(&r, Some("**622"));
        assert_eq!(
            d.why.to_string(),
            "internal call from **622: never screened"
        );
    }

    #[test]
    fn countries_types_and_log_only() {
        let r = rules(
            "[screen]\nlog_only = true\n[[rule]]\ncountry = [\"NG\", \"SN\"]\naction = \"terminate\"\n[[rule]]\ntypes = [\"mobile\"]\naction = \"decline\"\n",
        );
        let d = decide(&r, Some("002348031234567"));
        assert_eq!((d.action, d.effective), (Action::Terminate, Action::Ring));
        assert!(
            d.why
                .to_string()
                .ends_with("is from NG (log-only: would terminate)"),
            "{}",
            d.why
        );
        assert_eq!(decide(&r, Some("01701234567")).action, Action::Decline);
    }

    #[test]
    fn time_windows_weekdays_and_called_number() {
        let r = rules(
            "[numbers]\narea_code = \"030\"\n[[rule]]\nname = \"night\"\nhours = \"22:00-07:00\"\naction = \"decline\"\n[[rule]]\nweekdays = [\"sat\", \"sun\"]\naction = \"ignore-silently\"\n[[rule]]\nto = [\"030 1111111\"]\nnumbers = [\"0170*\"]\naction = \"terminate\"\n",
        );
        let h = History::default();
        let now = Instant::now();
        assert_eq!(
            r.decide(Some("040123"), None, &h, now, at(23, 30)).action,
            Action::Decline
        );
        assert_eq!(
            r.decide(Some("040123"), None, &h, now, at(6, 59)).action,
            Action::Decline
        );
        assert_eq!(
            r.decide(Some("040123"), None, &h, now, at(7, 0)).action,
            Action::Ring
        );
        let saturday = chrono::NaiveDate::from_ymd_opt(2026, 11, 28)
            .unwrap()
            .and_hms_opt(12, 0, 0)
            .unwrap();
        assert_eq!(
            r.decide(Some("040123"), None, &h, now, saturday).action,
            Action::IgnoreSilently
        );
        assert_eq!(
            r.decide(Some("01701234567"), Some("0301111111"), &h, now, at(12, 0))
                .action,
            Action::Terminate
        );
        assert_eq!(
            r.decide(Some("01701234567"), Some("0302222222"), &h, now, at(12, 0))
                .action,
            Action::Ring
        );
    }

    #[test]
    fn repeated_callers_with_a_fake_clock() {
        let r =
            rules("[[rule]]\nrepeated = { calls = 3, within = \"10m\" }\naction = \"terminate\"\n");
        let mut h = History::default();
        let t0 = Instant::now();
        let call = |h: &mut History, t: Instant| {
            r.remember(h, Some("0401234567"), t);
            r.decide(Some("0401234567"), None, h, t, at(12, 0)).action
        };
        assert_eq!(call(&mut h, t0), Action::Ring);
        assert_eq!(call(&mut h, t0 + Duration::from_secs(60)), Action::Ring);
        assert_eq!(
            call(&mut h, t0 + Duration::from_secs(120)),
            Action::Terminate
        );
        // Twenty minutes later the window holds only this call.
        assert_eq!(call(&mut h, t0 + Duration::from_secs(1400)), Action::Ring);
        assert_eq!(h.len(), 1);
        // A wave of distinct callers is forgotten once out of the window.
        for i in 0..5000 {
            r.remember(
                &mut h,
                Some(&format!("0402{i:07}")),
                t0 + Duration::from_secs(1500),
            );
        }
        let later = t0 + Duration::from_secs(1500 + 3600);
        for i in 0..20_000 {
            r.remember(&mut h, Some(&format!("0403{i:07}")), later);
        }
        assert_eq!(h.len(), 20_000, "only the second wave is remembered");
        // Without a `repeated` rule nothing is kept at all.
        let plain = rules("[[rule]]\nnumbers = [\"0900*\"]\naction = \"terminate\"\n");
        let mut h = History::default();
        plain.remember(&mut h, Some("0401234567"), t0);
        assert!(h.is_empty());
    }

    #[test]
    fn bad_rules_are_named() {
        let cfg =
            config::parse("[[rule]]\nname = \"x\"\ntypes = [\"premum\"]\naction = \"ring\"\n")
                .unwrap();
        let e = Rules::compile(&cfg, Path::new(".")).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("[[rule]] 1 \"x\": types: unknown type \"premum\""),
            "{e}"
        );
        let cfg = config::parse("[[rule]]\nnumbers = [\"1\"]\n").unwrap();
        assert!(
            Rules::compile(&cfg, Path::new("."))
                .unwrap_err()
                .to_string()
                .contains("no action")
        );
        let cfg = config::parse("[[rule]]\nhours = \"late\"\naction = \"ring\"\n").unwrap();
        assert!(
            Rules::compile(&cfg, Path::new("."))
                .unwrap_err()
                .to_string()
                .contains("HH:MM")
        );
        let cfg =
            config::parse("[[rule]]\nlists = [\"/nonexistent/list.txt\"]\naction = \"ring\"\n")
                .unwrap();
        assert!(
            Rules::compile(&cfg, Path::new("."))
                .unwrap_err()
                .to_string()
                .contains("cannot read list")
        );
    }

    #[test]
    fn announcements_and_answer_are_checked_against_the_action() {
        let err = |rule: &str| {
            let cfg = config::parse(&format!("[[rule]]\nname = \"x\"\n{rule}")).unwrap();
            Rules::compile(&cfg, Path::new("."))
                .unwrap_err()
                .to_string()
        };
        for (rule, want) in [
            (
                "numbers = [\"1\"]\naction = \"ring\"\nannouncement = \"default\"",
                "announcement: only a call that is answered hears one",
            ),
            (
                "numbers = [\"1\"]\naction = \"terminate\"\npin = \"12\"",
                "pin: only for action = \"answer\"",
            ),
            (
                "numbers = [\"1\"]\naction = \"terminate\"\nannouncement = \"/nonexistent/a.wav\"",
                "\"x\": announcement: /nonexistent/a.wav: ",
            ),
            ("action = \"answer\"", "picks up for callers you name"),
            (
                "anonymous = true\nnumbers = [\"1\"]\naction = \"answer\"",
                "picks up for callers you name",
            ),
            (
                "numbers = [\"1\"]\naction = \"answer\"\npin = \"12a\"",
                "pin: 4 to 16 of the keys",
            ),
            (
                "numbers = [\"1\"]\naction = \"answer\"\npin = \"123\"",
                "pin: 4 to 16 of the keys",
            ),
            (
                "numbers = [\"1\"]\naction = \"answer\"\ndtmf_timeout = \"soon\"",
                "dtmf_timeout: ",
            ),
            (
                "numbers = [\"1\"]\naction = \"terminate\"\nannouncement = \"default\"\nmax_announcement = \"x\"",
                "max_announcement: ",
            ),
        ] {
            let e = err(rule);
            assert!(e.contains(want), "{rule}: {e}");
        }
        let cfg = config::parse("[screen]\ndefault = \"answer\"\n").unwrap();
        assert!(
            Rules::compile(&cfg, Path::new("."))
                .unwrap_err()
                .to_string()
                .contains("pick up for anyone")
        );
    }

    #[test]
    fn a_rule_with_an_announcement_or_answer_has_a_script() {
        let r = rules(
            "[numbers]\ncountry = \"DE\"\n\
             [[rule]]\nnumbers = [\"0301234567\"]\naction = \"answer\"\npin = \"47*1\"\ndtmf_timeout = \"4s\"\n\
             [[rule]]\nnumbers = [\"0900*\"]\naction = \"terminate\"\nannouncement = \"default\"\nmax_announcement = \"2s\"\n\
             [[rule]]\nnumbers = [\"0800*\"]\naction = \"terminate\"\n",
        );
        let door = r.script(&decide(&r, Some("0301234567"))).unwrap();
        assert_eq!(door.announcement, None);
        assert_eq!(
            door.collect,
            Some(Collect {
                timeout: Duration::from_secs(4),
                pin: Some("47*1".into())
            })
        );
        let spam = r.script(&decide(&r, Some("09001234"))).unwrap();
        assert_eq!(spam.announcement.as_ref().unwrap().frames(), 100);
        assert_eq!(spam.collect, None);
        assert_eq!(r.script(&decide(&r, Some("08001234"))), None);
        assert_eq!(r.script(&decide(&r, Some("0401234"))), None);
    }
}

#[cfg(test)]
mod example_config {
    use std::path::Path;

    /// The documented example must always be a valid config.
    #[test]
    fn example_config_compiles_with_its_lists() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let cfg = crate::config::load(&root.join("minisip4fb.example.toml")).unwrap();
        let (rules, warnings) = super::Rules::compile(&cfg, &root.join("contrib/example")).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(rules.len(), 6);
    }

    /// Its PhoneBlock block, uncommented as it says, is a valid config too.
    #[test]
    fn example_config_with_phoneblock_compiles() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(root.join("minisip4fb.example.toml")).unwrap();
        let (before, rest) = text.split_once("# --- phoneblock ---\n").unwrap();
        let (block, after) = rest.split_once("# --- end phoneblock ---\n").unwrap();
        let block: String = block
            .lines()
            .map(|l| l.strip_prefix("# ").unwrap_or(l.trim_start_matches('#')))
            .map(|l| format!("{l}\n"))
            .collect();
        // A table between [[rule]]s is fine in TOML: the rules after it
        // are still rules.
        let cfg = crate::config::parse(&format!("{before}{block}{after}")).unwrap();
        let pb = cfg.phoneblock.as_ref().expect("[phoneblock]");
        assert_eq!(pb.min_votes, 4);
        let (rules, warnings) = super::Rules::compile(&cfg, &root.join("contrib/example")).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(rules.len(), 8);
    }
}
