//! A decision and its reason, typed: what matched, for which rule. The
//! call log's text is the reason's [`Display`](fmt::Display), made by the
//! book-keeper, never while the caller waits.

use std::fmt;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use chrono::NaiveTime;
use regex::Regex;

use crate::call::show::Lang;
use crate::call::words::{self, Said};
use crate::call::{Action, CallerClass, LogOnly};
use crate::screen::number::Kind;

/// What to do with one call, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// What the rules say.
    pub action: Action,
    /// Set when the call rings all the same; `None` when `action` is done.
    pub log_only: Option<LogOnly>,
    pub why: Why,
    pub e164: Option<String>,
    /// A name from a list or phonebook entry that matched.
    pub name: Option<String>,
    pub class: CallerClass,
}

impl Decision {
    /// What is done: `ring` when log-only, else what the rules say.
    pub fn effective(&self) -> Action {
        match self.log_only {
            Some(_) => Action::Ring,
            None => self.action,
        }
    }

    /// The reason as the call log keeps it: the [`Why`], and for a rule
    /// that only logs, what it would have done.
    pub fn reason(&self) -> String {
        let mut why = self.why.to_string();
        if let (Why::Rule { .. }, Some(LogOnly::Config | LogOnly::Rule)) =
            (&self.why, self.log_only)
        {
            let would = Said::new("why.log_only").with("would", self.action.as_str());
            why.push_str(&would.text());
        }
        why
    }
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
        /// The rule's `hours`, the called number for a rule with `to`,
        /// and the account for a rule with `accounts`.
        hours: Option<(NaiveTime, NaiveTime)>,
        to: Option<String>,
        account: Option<String>,
        /// A `challenge` rule's word on a caller who passed or failed
        /// its key-press check before.
        checked: Option<Checked>,
    },
}

/// What the key-press check knew of a caller (times: Unix ms).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checked {
    /// It passed before: it rings (until [`FOREVER`](crate::screen::passes::FOREVER): for good).
    Passed { until: u64 },
    /// It failed too often: hung up on at once, not asked again until then.
    Refused { until: u64 },
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
    /// In one of PhoneBlock's spam ranges: the numbers starting with
    /// `prefix` (E.164 digits), which had at least `votes` votes.
    Range {
        prefix: u64,
        votes: u32,
    },
    /// PhoneBlock's live check said spam, while the call rang.
    Live(crate::phoneblock::Live),
    Foreign(Option<String>),
    Invalid,
    Kind(Kind),
    Country(String),
    /// The display name matched a pattern of the rule's `names`.
    Name {
        name: String,
        pattern: Arc<str>,
    },
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
    /// The call log's text: English.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for part in self.said() {
            f.write_str(&part.text())?;
        }
        Ok(())
    }
}

impl Why {
    /// The reason as sentences of the catalogue, with English values.
    fn said(&self) -> Vec<Said> {
        let anonymous = "anonymous";
        let (rule, who, matched, hours, to, account, checked) = match self {
            Why::Internal(n) => return vec![Said::new("why.internal").with("number", n)],
            Why::Default { action, who } => {
                return vec![
                    Said::new("why.default")
                        .with("action", action.as_str())
                        .with("who", who.as_deref().unwrap_or(anonymous)),
                ];
            }
            Why::Rule {
                rule,
                who,
                matched,
                hours,
                to,
                account,
                checked,
            } => (rule, who, matched, hours, to, account, checked),
        };
        let shown = who.as_deref().unwrap_or(anonymous);
        let it = |key| Said::new(key).with("who", shown);
        let what = match matched {
            Matched::AnyCaller => it("why.any"),
            Matched::Anonymous => Said::new("why.anonymous"),
            Matched::Listed => it("why.listed"),
            Matched::Entry(e) => it("why.entry").with("entry", e),
            Matched::InList { list, name: None } => it("why.in_list").with("list", list),
            Matched::InList {
                list,
                name: Some(n),
            } => it("why.in_list_named").with("list", list).with("name", n),
            Matched::Community {
                votes,
                rating: None,
            } => it("why.community").with("n", votes),
            Matched::Community {
                votes,
                rating: Some(r),
            } => it("why.community_rated")
                .with("n", votes)
                .with("rating", r.as_str()),
            Matched::Range { prefix, votes } => it("why.range")
                .with("range", format!("+{prefix}*"))
                .with("n", votes),
            Matched::Live(live) if live.blacklisted => it("why.live_black"),
            Matched::Live(live) if live.votes > 0 => it("why.live").with("n", live.votes),
            Matched::Live(live) => it("why.live_range").with("n", live.range_votes),
            Matched::Foreign(Some(c)) => it("why.foreign").with("country", c),
            Matched::Foreign(None) => it("why.abroad"),
            Matched::Invalid => it("why.invalid"),
            Matched::Kind(k) => it("why.kind").with("kind", k),
            Matched::Country(c) => it("why.country").with("country", c),
            Matched::Name { name, pattern } => {
                it("why.name").with("name", name).with("pattern", pattern)
            }
            Matched::Repeated { count, within } => it("why.repeated")
                .with("n", count)
                .with("within", humanize(*within)),
        };
        let mut out = vec![Said::new("why.rule").with("rule", rule), what];
        if let Some((a, b)) = hours {
            out.push(
                Said::new("why.hours")
                    .with("from", a.format("%H:%M"))
                    .with("until", b.format("%H:%M")),
            );
        }
        if let Some(c) = to {
            out.push(Said::new("why.to").with("called", c));
        }
        if let Some(a) = account {
            out.push(Said::new("why.account").with("account", a));
        }
        match checked {
            Some(Checked::Passed { until }) if *until == crate::screen::passes::FOREVER => {
                out.push(Said::new("why.passed_forever"));
            }
            Some(Checked::Passed { until }) => {
                out.push(Said::new("why.passed").with("until", local_minute(*until)));
            }
            Some(Checked::Refused { until }) => {
                out.push(Said::new("why.refused").with("until", local_minute(*until)));
            }
            None => {}
        }
        out
    }
}

/// What a rule matched, the sentences of [`Why::said`] after `why.rule`
/// (each singular too).
const MATCHED: &[&str] = &[
    "why.any",
    "why.anonymous",
    "why.listed",
    "why.entry",
    "why.in_list_named",
    "why.in_list",
    "why.community_rated",
    "why.community_rated.one",
    "why.community",
    "why.community.one",
    "why.range",
    "why.live",
    "why.live.one",
    "why.live_range",
    "why.live_range.one",
    "why.live_black",
    "why.abroad",
    "why.foreign",
    "why.invalid",
    "why.country",
    "why.repeated",
    "why.repeated.one",
    "why.kind",
    "why.name",
];

/// The sentences a rule's reason may end with, in order.
const ENDINGS: [&str; 7] = [
    "why.hours",
    "why.to",
    "why.account",
    "why.passed_forever",
    "why.passed",
    "why.refused",
    "why.log_only",
];

/// Unix ms as the household's wall-clock minute, `2026-12-14 17:05`.
fn local_minute(ms: u64) -> String {
    let t = chrono::DateTime::from_timestamp_millis(ms as i64).unwrap_or_default();
    t.with_timezone(&chrono::Local)
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

/// A sentence of the catalogue as a regular expression that reads its
/// values back: (the pattern, the key). `ending`: it ends the text, after
/// the group `head`.
fn form(key: &'static str, ending: bool) -> (Regex, &'static str) {
    let head = if ending { "(?P<head>.*)" } else { "" };
    let re = format!("(?s)^{head}{}$", words::pattern(key, ""));
    (Regex::new(&re).expect("a reason's pattern"), key)
}

/// Every form of a reason the call log keeps: the endings, then whole
/// reasons and what a rule matched.
static FORMS: LazyLock<[Vec<(Regex, &'static str)>; 3]> = LazyLock::new(|| {
    [
        ENDINGS.iter().map(|k| form(k, true)).collect(),
        ["why.internal", "why.default"]
            .iter()
            .map(|k| form(k, false))
            .collect(),
        // The sentence with the most words of its own first: `{who} in
        // {list}` would read every longer sentence with an ` in `.
        {
            let mut m = MATCHED.to_vec();
            m.sort_by_key(|k| std::cmp::Reverse(words::fixed_len(k)));
            m
        }
        .into_iter()
        .map(|m| {
            let re = format!(
                "(?s)^{}{}$",
                words::pattern("why.rule", ""),
                words::pattern(m, "")
            );
            (Regex::new(&re).expect("a reason's pattern"), m)
        })
        .collect(),
    ]
});

/// The sentence `key` with the values `c` read.
fn said(key: &'static str, c: &regex::Captures) -> Said {
    words::placeholders(key)
        .into_iter()
        .fold(Said::new(key), |s, name| match c.name(name) {
            Some(m) => s.with(name, m.as_str()),
            None => s,
        })
}

/// A reason of the call log (English, of any version that spoke these
/// sentences) in `lang`; `None` for a text of another form, shown as it is.
/// The endings are read from the end, so a list or rule name with
/// brackets in it stays whole.
pub fn translate(reason: &str, lang: Lang) -> Option<String> {
    // Longer than any reason we write: not one of ours.
    if reason.len() > 4096 {
        return None;
    }
    let [endings, whole, matched] = &*FORMS;
    let mut rest = reason;
    let mut after = Vec::new();
    for (re, key) in endings.iter().rev() {
        if let Some(c) = re.captures(rest) {
            after.push(said(key, &c));
            rest = c.name("head").map_or("", |m| m.as_str());
        }
    }
    let head = if after.is_empty() {
        whole
            .iter()
            .find_map(|(re, key)| Some(vec![said(key, &re.captures(rest)?)]))
    } else {
        None
    };
    let head = head.or_else(|| {
        matched.iter().find_map(|(re, key)| {
            let c = re.captures(rest)?;
            Some(vec![said("why.rule", &c), said(key, &c)])
        })
    })?;
    Some(
        head.iter()
            .chain(after.iter().rev())
            .map(|s| s.show(lang))
            .collect(),
    )
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
    use crate::phoneblock::Rating;

    /// Every reason the call log keeps reads back: the same in English,
    /// and in German it is the German of the same sentences.
    #[test]
    fn every_reason_reads_back_in_either_language() {
        let rule = RuleRef {
            index: 3,
            name: "premium: numbers (old)".into(),
        };
        let who = Some("+49 900123456".to_owned());
        let matched = [
            Matched::AnyCaller,
            Matched::Anonymous,
            Matched::Listed,
            Matched::Entry("+49900*".into()),
            Matched::InList {
                list: "block.txt".into(),
                name: None,
            },
            Matched::InList {
                list: "block.txt".into(),
                name: Some("Praxis (Dr. Who)".into()),
            },
            Matched::Community {
                votes: 1,
                rating: None,
            },
            Matched::Community {
                votes: 12,
                rating: Some(Rating::Advertising),
            },
            Matched::Range {
                prefix: 49157123456,
                votes: 20,
            },
            Matched::Live(crate::phoneblock::Live {
                votes: 12,
                range_votes: 30,
                rating: Some(Rating::Fraud),
                blacklisted: false,
            }),
            Matched::Live(crate::phoneblock::Live {
                votes: 0,
                range_votes: 30,
                rating: None,
                blacklisted: false,
            }),
            Matched::Live(crate::phoneblock::Live {
                votes: 0,
                range_votes: 0,
                rating: None,
                blacklisted: true,
            }),
            Matched::Foreign(Some("GB".into())),
            Matched::Foreign(None),
            Matched::Invalid,
            Matched::Kind(Kind::Premium),
            Matched::Kind(Kind::FixedOrMobile),
            Matched::Country("AT".into()),
            Matched::Name {
                name: "SPAM: Gewinnspiel, \"Lotto\"".into(),
                pattern: "spam*".into(),
            },
            Matched::Repeated {
                count: 3,
                within: Duration::from_secs(600),
            },
        ];
        let hours = NaiveTime::from_hms_opt(22, 0, 0).zip(NaiveTime::from_hms_opt(7, 0, 0));
        let mut whys = vec![
            Why::Internal("**622".into()),
            Why::Default {
                action: Action::Ring,
                who: None,
            },
            Why::Default {
                action: Action::TerminateAndBar,
                who: who.clone(),
            },
        ];
        for m in matched {
            let ms = 1_797_000_000_000;
            for (hours, to, account, checked) in [
                (None, None, None, None),
                (
                    hours,
                    Some("+49301111111".to_owned()),
                    Some("office".to_owned()),
                    Some(Checked::Passed { until: ms }),
                ),
                (
                    None,
                    None,
                    Some("home-2".to_owned()),
                    Some(Checked::Refused { until: ms }),
                ),
                (
                    None,
                    None,
                    None,
                    Some(Checked::Passed {
                        until: crate::screen::passes::FOREVER,
                    }),
                ),
            ] {
                whys.push(Why::Rule {
                    rule: rule.clone(),
                    who: if m == Matched::Anonymous {
                        None
                    } else {
                        who.clone()
                    },
                    matched: m.clone(),
                    hours,
                    to,
                    account,
                    checked,
                });
            }
        }
        for why in whys {
            for log_only in [None, Some(LogOnly::Rule)] {
                let d = Decision {
                    action: Action::Terminate,
                    log_only,
                    why: why.clone(),
                    e164: None,
                    name: None,
                    class: CallerClass::External,
                };
                let reason = d.reason();
                let en: String = why.said().iter().map(|s| s.show(Lang::En)).collect();
                assert!(translate(&reason, Lang::En).is_some_and(|t| t.starts_with(&en)));
                let mut de: String = why.said().iter().map(|s| s.show(Lang::De)).collect();
                if log_only.is_some() && why.rule().is_some() {
                    de.push_str(" (nur protokolliert: würde beenden)");
                }
                assert_eq!(translate(&reason, Lang::De), Some(de), "{reason}");
            }
        }
        assert_eq!(
            translate(
                "rule 3 \"x\": +49 30 has 1 PhoneBlock vote between 22:00-07:00",
                Lang::De
            )
            .as_deref(),
            Some("Regel 3 \"x\": +49 30 hat 1 PhoneBlock-Stimme zwischen 22:00 und 07:00")
        );
        assert_eq!(
            translate("default (terminate): no rule matched anonymous", Lang::De).as_deref(),
            Some("Standard (beenden): keine Regel trifft auf unbekannt zu")
        );
        assert_eq!(translate("something else", Lang::De), None);
    }
}
