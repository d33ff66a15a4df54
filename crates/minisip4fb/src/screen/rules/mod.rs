//! The screening rules: ordered, first match wins, then the default. Every
//! decision carries its reason (`rule 3 "premium numbers": +49900… is premium`).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{Datelike, NaiveDateTime, NaiveTime, Weekday};

use super::list::{self, LineError, NumberSet, Probe};
use super::number::{self, Home, Kind, LazyClass};
use crate::call::show::Lang;
use crate::call::{Action, CallerClass, LogOnly};
use crate::config::{self, BOX_LIST_PREFIX, PHONEBLOCK_PREFIX};
use crate::media::Script;
use crate::phoneblock;
use crate::phoneblock::binary::Verdict;

mod error;
mod history;
mod live;
mod names;
mod script;
mod view;
use script::script;
use view::criteria;
#[cfg(test)]
mod tests;
mod why;

pub use error::{CompileError, RuleError};
pub use history::{Gates, History};
pub use view::RuleView;
pub use why::{Checked, Decision, Matched, RuleRef, Why, translate};

/// Lists fetched from the Box over TR-064: phonebook name (or `barring`)
/// → its XML export.
pub type BoxLists = std::collections::HashMap<String, String>;

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
    names: Vec<names::NamePattern>,
    repeated: Option<(u32, Duration)>,
    hours: Option<(NaiveTime, NaiveTime)>,
    weekdays: Vec<Weekday>,
    to: Vec<String>,
    accounts: Vec<Arc<str>>,
    action: Action,
    log_only: bool,
    /// What the rule asks, as the config says it (for people to read).
    shown: Vec<crate::call::words::Said>,
    /// What an answered call hears and does (announcement, keys).
    script: Option<Arc<Script>>,
    /// It asks for a PIN: failed entries lock callers out.
    door: bool,
}

/// Where a call arrived and what came with it beside the number: the
/// household number dialled (the Box's `P-Called-Party-ID`), the account
/// whose phone it rang, and the caller's display name (a phonebook
/// contact's, from the Box); `default()` for none known.
#[derive(Debug, Clone, Copy, Default)]
pub struct Reached<'a> {
    pub called: Option<&'a str>,
    pub account: Option<&'a str>,
    pub name: Option<&'a str>,
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
    /// `[phoneblock] min_range_votes`: the live check's range threshold.
    min_range_votes: u32,
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

/// One `[[rule]]` (`index` as in the file), compiled.
fn compile_rule(
    index: usize,
    r: &config::Rule,
    home: &Home,
    cfg: &config::Config,
    box_lists: &BoxLists,
    phoneblock: &phoneblock::Handle,
    warnings: &mut Vec<LineError>,
) -> Result<Rule, CompileError> {
    let name = r.name.clone().unwrap_or_else(|| format!("rule {index}"));
    let at = |error: RuleError| CompileError::Rule {
        index,
        name: name.clone(),
        error,
    };
    let mut numbers = NumberSet::default();
    for n in &r.numbers {
        numbers
            .insert(n, None, home)
            .map_err(|e| at(RuleError::Number(e)))?;
    }
    let mut lists = Vec::new();
    let mut with_community = None;
    for l in &r.lists {
        let shown = l.written.clone();
        if let Some(which) = shown.strip_prefix(PHONEBLOCK_PREFIX) {
            let Some(pb) = &cfg.phoneblock else {
                return Err(at(RuleError::NoPhoneBlock(shown)));
            };
            if which == "community" {
                with_community = Some((phoneblock.clone(), r.min_votes.unwrap_or(pb.min_votes)));
                continue;
            }
            let which = phoneblock::Which::BOTH
                .into_iter()
                .find(|w| w.as_str() == which)
                .ok_or_else(|| at(RuleError::PhoneBlockList(shown.clone())))?;
            let mut set = NumberSet::default();
            for (i, e) in phoneblock.load().personal.list(which).iter().enumerate() {
                if let Err(err) = set.insert(&e.phone, e.label.as_deref(), home) {
                    warnings.push(LineError {
                        file: l.path.clone(),
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
                    file: l.path.clone(),
                    line: 0,
                    message: "not fetched from the FRITZ!Box (yet): empty until it is".into(),
                });
            }
            for key in wanted {
                let (s, errs) = list::parse(&box_lists[key], list::Format::FritzXml, &l.path, home);
                warnings.extend(errs);
                set.extend(s);
            }
            lists.push((shown.into(), set));
            continue;
        }
        let (set, errs) = list::load(&l.path, home).map_err(|e| at(RuleError::List(e)))?;
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
    let names = r
        .names
        .iter()
        .map(|n| names::NamePattern::new(n).map_err(at))
        .collect::<Result<Vec<_>, _>>()?;
    let repeated = match &r.repeated {
        Some(rep) if rep.calls == 0 => {
            return Err(at(RuleError::RepeatedNoCalls));
        }
        Some(rep) => Some((rep.calls, rep.within.0)),
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
    let to =
        r.to.iter()
            .map(|t| number::dialled_e164(t, home).ok_or_else(|| at(RuleError::To(t.clone()))))
            .collect::<Result<Vec<_>, _>>()?;
    let known: Vec<&str> = cfg.accounts(true).iter().map(|a| a.name()).collect();
    let accounts = r
        .accounts
        .iter()
        .map(|a| {
            known
                .contains(&a.as_str())
                .then(|| Arc::from(a.as_str()))
                .ok_or_else(|| {
                    at(RuleError::Account {
                        name: a.clone(),
                        known: known.join(", "),
                    })
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let action = r.action.ok_or_else(|| at(RuleError::NoAction))?;
    let script = script(r, action, cfg.screen.pass_list.is_some()).map_err(at)?;
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
    Ok(Rule {
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
        names,
        repeated,
        hours,
        weekdays,
        to,
        accounts,
        action,
        log_only: r.log_only,
        script,
    })
}

impl Rules {
    /// Compiles the config's rules (its paths as [`config::load`] resolved
    /// them). Broken list lines come back as warnings; a broken rule is an
    /// error.
    pub fn compile(cfg: &config::Config) -> Result<(Rules, Vec<LineError>), CompileError> {
        Rules::compile_with(cfg, &BoxLists::new(), &phoneblock::Handle::default())
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
        box_lists: &BoxLists,
        phoneblock: &phoneblock::Handle,
    ) -> Result<(Rules, Vec<LineError>), CompileError> {
        let home = Home::new(&cfg.numbers.country, cfg.numbers.area_code.as_deref())
            .map_err(CompileError::Numbers)?;
        let mut warnings = Vec::new();
        let mut rules = Vec::new();
        let mut errors = Vec::new();
        for (i, r) in cfg.rules.iter().enumerate() {
            match compile_rule(i + 1, r, &home, cfg, box_lists, phoneblock, &mut warnings) {
                Ok(rule) => rules.push(rule),
                Err(e) => errors.push(e),
            }
        }
        if cfg.screen.default == Action::Answer {
            errors.push(CompileError::DefaultAnswer);
        }
        // Every broken rule at once, so that one edit can fix them all.
        if errors.len() > 1 {
            return Err(CompileError::Several(errors));
        }
        if let Some(e) = errors.pop() {
            return Err(e);
        }
        let decline_delay = cfg.screen.decline_delay.0;
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
                min_range_votes: cfg
                    .phoneblock
                    .as_ref()
                    .map_or(u32::MAX, |p| p.min_range_votes),
            },
            warnings,
        ))
    }

    /// Whether any rule reads a list from the Box.
    pub fn wants_box_lists(cfg: &config::Config) -> bool {
        cfg.rules
            .iter()
            .flat_map(|r| &r.lists)
            .any(|l| l.written.starts_with(BOX_LIST_PREFIX))
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

    /// The rules in order, as people read them in `lang`.
    pub fn views(&self, lang: Lang) -> Vec<RuleView> {
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
                criteria: r.shown.iter().map(|c| c.show(lang)).collect(),
            })
            .collect()
    }

    /// What the phone plays and listens for in a call so decided: the
    /// matching rule's script, when the call is answered (`terminate` with
    /// an announcement, `answer`).
    pub fn script(&self, d: &Decision) -> Option<Arc<Script>> {
        if !matches!(
            d.effective(),
            Action::Terminate | Action::TerminateAndBar | Action::Answer | Action::Challenge
        ) {
            return None;
        }
        let index = d.why.rule()?.index;
        // A `challenge` rule's check is not for the callers it lets
        // ring or hangs up on at once.
        self.rules
            .get(index - 1)
            .filter(|r| r.action == d.action)?
            .script
            .clone()
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
        reached: Reached,
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
                    log_only: None,
                    why: Why::Internal(n.to_string()),
                    e164: None,
                    name: None,
                    class: CallerClass::Internal,
                };
            }
        };
        let probe = e164.as_deref().and_then(Probe::new);
        let called = self.called(reached);
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
                Reached {
                    called: called.as_deref(),
                    ..reached
                },
                history,
                now,
                local,
            ) {
                // The key-press check: a withheld number cannot pass, so
                // such a rule passes it over (the next rule decides).
                let Some((action, checked)) = rule.checked(e164.as_deref(), history) else {
                    continue;
                };
                let log_only = if action == Action::Ring {
                    None
                } else if rule.log_only {
                    Some(LogOnly::Rule)
                } else {
                    self.log_only.then_some(LogOnly::Config)
                };
                let why = Why::Rule {
                    rule: RuleRef {
                        index: rule.index,
                        name: rule.name.clone(),
                    },
                    who: class.shown().map(str::to_owned),
                    matched,
                    hours: rule.hours,
                    to: called.clone().filter(|_| !rule.to.is_empty()),
                    account: reached
                        .account
                        .filter(|_| !rule.accounts.is_empty())
                        .map(str::to_owned),
                    checked,
                };
                return Decision {
                    action,
                    log_only,
                    why,
                    e164,
                    name,
                    class: kind,
                };
            }
        }
        Decision {
            action: self.default,
            log_only: (self.log_only && self.default != Action::Ring).then_some(LogOnly::Config),
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

impl Rules {
    /// The dialled household number in E.164, when a rule asks for it.
    fn called(&self, reached: Reached) -> Option<String> {
        reached
            .called
            .filter(|_| self.wants_called)
            .and_then(|c| number::dialled_e164(c, &self.home))
    }
}

impl Rule {
    /// What the rule does for caller `e164`, with the key-press check's
    /// word on it: a `challenge` rule lets a caller with a pass ring and
    /// hangs up at once on one that failed too often; `None` for a
    /// withheld number, which a `challenge` rule passes over.
    fn checked(&self, e164: Option<&str>, history: &History) -> Option<(Action, Option<Checked>)> {
        if self.action != Action::Challenge {
            return Some((self.action, None));
        }
        let e164 = e164?;
        let view = history.passes.load();
        let now = super::doors::unix_ms();
        Some(if let Some(until) = view.pass(e164, now) {
            (Action::Ring, Some(Checked::Passed { until }))
        } else if let Some(until) = view.refusal(e164, now) {
            (Action::Terminate, Some(Checked::Refused { until }))
        } else {
            (Action::Challenge, None)
        })
    }

    fn has_who(&self) -> bool {
        !self.numbers.is_empty()
            || !self.lists.is_empty()
            || self.community.is_some()
            || self.anonymous
            || self.foreign
            || self.invalid
            || !self.kinds.is_empty()
            || !self.countries.is_empty()
            || !self.names.is_empty()
            || self.repeated.is_some()
    }

    /// Its conditions: `hours`, `weekdays`, `to` and `accounts` all hold
    /// (for the call's dialled number in E.164 and its account).
    fn holds(&self, reached: Reached, local: NaiveDateTime) -> bool {
        let Reached {
            called, account, ..
        } = reached;
        if let Some((from, to)) = self.hours {
            let t = local.time();
            let inside = if from <= to {
                t >= from && t < to
            } else {
                t >= from || t < to
            };
            if !inside {
                return false;
            }
        }
        (self.weekdays.is_empty() || self.weekdays.contains(&local.weekday()))
            && (self.to.is_empty() || called.is_some_and(|c| self.to.iter().any(|t| t == c)))
            && (self.accounts.is_empty()
                || account.is_some_and(|a| self.accounts.iter().any(|x| &**x == a)))
    }

    /// Who-criteria are alternatives (any may match); `hours`, `weekdays`
    /// and `to` are conditions that must all hold. A rule without
    /// who-criteria applies to every caller.
    fn matches(
        &self,
        class: &LazyClass,
        probe: Option<&Probe>,
        reached: Reached,
        history: &History,
        now: Instant,
        local: NaiveDateTime,
    ) -> Option<(Matched, Option<String>)> {
        if !self.holds(reached, local) {
            return None;
        }
        if !self.has_who() {
            return Some((Matched::AnyCaller, None));
        }
        // The name the Box sent, for callers from outside (withheld ones
        // too: a name may come without a number).
        if let Some(name) = reached.name.filter(|_| !self.names.is_empty())
            && !matches!(class, LazyClass::Internal(_))
        {
            let folded = names::fold(name);
            if let Some(p) = self.names.iter().find(|p| p.matches(&folded)) {
                let matched = Matched::Name {
                    name: crate::text::printable(name).into_owned(),
                    pattern: p.written.clone(),
                };
                return Some((matched, None));
            }
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
                    {
                        let local = copy.load();
                        if let Some(hit) = local.community.lookup(phone)
                            && hit.votes >= *min_votes
                        {
                            let matched = Matched::Community {
                                votes: hit.votes,
                                rating: hit.rating,
                            };
                            return Some((matched, None));
                        }
                        // The longest match of the binary list: its global
                        // whitelist beats a range around it.
                        if let Some(Verdict::Range {
                            spam: true, prefix, ..
                        }) = local.ranges.list.lookup(phone)
                        {
                            let matched = Matched::Range {
                                prefix,
                                votes: local.ranges.min_votes,
                            };
                            return Some((matched, None));
                        }
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
