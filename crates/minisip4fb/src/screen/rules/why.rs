//! A decision and its reason, typed: what matched, for which rule. The
//! call log's text is the reason's [`Display`](fmt::Display), made by the
//! book-keeper, never while the caller waits.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveTime;

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
        let why = self.why.to_string();
        match (&self.why, self.log_only) {
            (Why::Rule { .. }, Some(LogOnly::Config | LogOnly::Rule)) => {
                format!("{why} (log-only: would {})", self.action.as_str())
            }
            _ => why,
        }
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
        /// The rule's `hours`, and the called number for a rule with `to`.
        hours: Option<(NaiveTime, NaiveTime)>,
        to: Option<String>,
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
        let (rule, who, matched, hours, to) = match self {
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
            } => (rule, who, matched, hours, to),
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
        Ok(())
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
