//! A rule as people read it: the dashboard's rules page.

use std::sync::Arc;

use crate::call::Action;
use crate::call::words::Said;
use crate::config;
use crate::config::COMMUNITY_LIST;
use crate::screen::list::NumberSet;

/// A rule as people read it (the dashboard's rules page, `/api/rules`):
/// its criteria in order, in one language.
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

/// A rule's criteria, as sentences of the catalogue.
pub(super) fn criteria(
    r: &config::Rule,
    lists: &[(Arc<str>, NumberSet)],
    community: Option<u32>,
) -> Vec<Said> {
    let mut out = Vec::new();
    let joined = |items: &[String]| items.join(", ");
    if !r.numbers.is_empty() {
        let shown = joined(&r.numbers[..r.numbers.len().min(SHOWN_NUMBERS)]);
        out.push(match r.numbers.len().checked_sub(SHOWN_NUMBERS) {
            Some(more) if more > 0 => Said::new("crit.numbers_more")
                .with("numbers", shown)
                .with("n", more),
            _ => Said::new("crit.numbers").with("numbers", shown),
        });
    }
    for (name, set) in lists {
        out.push(
            Said::new("crit.list")
                .with("list", name)
                .with("n", set.len()),
        );
    }
    if let Some(votes) = community {
        out.push(
            Said::new("crit.community")
                .with("list", COMMUNITY_LIST)
                .with("n", votes),
        );
    }
    for (on, key) in [
        (r.anonymous, "crit.anonymous"),
        (r.foreign, "crit.foreign"),
        (r.invalid, "crit.invalid"),
    ] {
        if on {
            out.push(Said::new(key));
        }
    }
    if !r.types.is_empty() {
        out.push(Said::new("crit.types").with("types", joined(&r.types)));
    }
    if !r.names.is_empty() {
        out.push(Said::new("crit.names").with("names", joined(&r.names)));
    }
    if !r.country.is_empty() {
        out.push(Said::new("crit.country").with("countries", joined(&r.country)));
    }
    if let Some(rep) = &r.repeated {
        out.push(
            Said::new("crit.repeated")
                .with("n", rep.calls)
                .with("within", rep.within.to_string()),
        );
    }
    if let Some(h) = &r.hours {
        out.push(Said::new("crit.hours").with("hours", h));
    }
    if !r.weekdays.is_empty() {
        // As chrono names them (`Mon`), which the catalogue translates.
        let days: Vec<String> = r
            .weekdays
            .iter()
            .map(|w| {
                w.parse::<chrono::Weekday>()
                    .map_or_else(|_| w.clone(), |d| d.to_string())
            })
            .collect();
        out.push(Said::new("crit.weekdays").with("days", joined(&days)));
    }
    if !r.to.is_empty() {
        out.push(Said::new("crit.to").with("to", joined(&r.to)));
    }
    if !r.accounts.is_empty() {
        out.push(Said::new("crit.accounts").with("accounts", joined(&r.accounts)));
    }
    if out.is_empty() {
        out.push(Said::new("crit.any"));
    }
    out
}
