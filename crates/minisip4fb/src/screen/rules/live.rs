//! PhoneBlock's live check in the rules: which rule it answers for, and
//! the decision once it answered.

use chrono::NaiveDateTime;

use super::Matched;
use super::{Action, Decision, History, LogOnly, Reached, Rule, RuleRef, Rules, Why};
use crate::phoneblock;

impl Rules {
    /// The rule PhoneBlock's live check answers for, for a call `d` that
    /// no rule decided from local data and that would ring: the first
    /// rule with `phoneblock:community` whose conditions hold (and that
    /// does not ring anyway).
    fn live_rule(&self, d: &Decision, reached: Reached, local: NaiveDateTime) -> Option<&Rule> {
        if !matches!(d.why, Why::Default { .. })
            || d.effective() != Action::Ring
            || d.e164.is_none()
        {
            return None;
        }
        let called = self.called(reached);
        self.rules.iter().find(|r| {
            r.community.is_some()
                && r.action != Action::Ring
                && r.holds(
                    Reached {
                        called: called.as_deref(),
                        ..reached
                    },
                    local,
                )
        })
    }

    /// Whether PhoneBlock's live check could change the decision `d`.
    pub fn wants_live_check(&self, d: &Decision, reached: Reached, local: NaiveDateTime) -> bool {
        self.live_rule(d, reached, local).is_some()
    }

    /// The decision for call `d` once PhoneBlock's live check answered:
    /// that of the rule it answers for, when the answer says spam at the
    /// rule's thresholds (its `min_votes` for the number,
    /// `min_range_votes` for its range, or the household's own
    /// blacklist); `None` when the call keeps ringing.
    /// A caller with a pass of the key-press check rings on.
    pub fn decide_live(
        &self,
        d: &Decision,
        reached: Reached,
        local: NaiveDateTime,
        answer: &phoneblock::Live,
        history: &History,
    ) -> Option<Decision> {
        let rule = self.live_rule(d, reached, local)?;
        let (_, min_votes) = rule.community.as_ref()?;
        let spam = answer.blacklisted
            || answer.votes >= *min_votes
            || answer.range_votes >= self.min_range_votes;
        if !spam {
            return None;
        }
        let (action, checked) = rule
            .checked(d.e164.as_deref(), history)
            .filter(|(a, _)| *a != Action::Ring)?;
        let log_only = if rule.log_only {
            Some(LogOnly::Rule)
        } else {
            self.log_only.then_some(LogOnly::Config)
        };
        let who = match &d.why {
            Why::Default { who, .. } => who.clone(),
            _ => None,
        };
        Some(Decision {
            action,
            log_only,
            why: Why::Rule {
                rule: RuleRef {
                    index: rule.index,
                    name: rule.name.clone(),
                },
                who,
                matched: Matched::Live(answer.clone()),
                hours: rule.hours,
                to: None,
                account: reached
                    .account
                    .filter(|_| !rule.accounts.is_empty())
                    .map(str::to_owned),
                checked,
            },
            ..d.clone()
        })
    }
}
