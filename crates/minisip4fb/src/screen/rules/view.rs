//! A rule as people read it: the dashboard's rules page.

use std::sync::Arc;

use crate::call::Action;
use crate::config;
use crate::config::COMMUNITY_LIST;
use crate::screen::list::NumberSet;

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

/// Entries of `numbers` shown on the rules page at most.
const SHOWN_NUMBERS: usize = 6;

/// A rule's criteria in the config's words.
pub(super) fn criteria(
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
