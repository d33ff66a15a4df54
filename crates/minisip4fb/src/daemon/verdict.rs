//! What is done with a call: the rules' decision and the phone's
//! [`Verdict`] for it, the same for the screen on the phone's thread, the
//! calls decided after the rules were ready and the live check.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::note::{Decided, Line};
use crate::call::{Action, LogOnly};
use crate::controls::shield::Shield;
use crate::net::{CallerId, Reject, Script, Verdict};
use crate::screen::rules::{History, Reached, Rules};

/// The shield off: what the rules said is kept, what is done is `ring`
/// (an `answer` rule, the household's own, still picks up).
pub fn apply_shield(shield: &Shield, decided: &mut Decided, verdict: &mut Verdict) {
    if !shield.is_on() && decided.decision.effective().blocks() {
        decided.decision.log_only = Some(LogOnly::Shield);
        *verdict = Verdict::Ring;
    }
}

/// Decides one call: what the phone does, and the decision to keep.
pub fn decide(
    rules: &Rules,
    history: &mut History,
    caller: &CallerId,
    now: Instant,
    line: &Line,
) -> (Decided, Verdict) {
    rules.remember(history, caller.number.as_deref(), now);
    let local = local_time(rules);
    let reached = Reached {
        called: caller.called.as_deref(),
        account: Some(&line.name),
        name: caller.display_name.as_deref(),
    };
    let decision = rules.decide(caller.number.as_deref(), reached, history, now, local);
    let verdict = verdict_of(
        decision.effective(),
        rules.script(&decision),
        rules.decline_delay,
    );
    let decided = Decided {
        caller: caller.clone(),
        decision,
        decision_ms: now.elapsed().as_secs_f64() * 1000.0,
        account: line.name.clone(),
    };
    (decided, verdict)
}

/// The local time for rules with hours or weekdays; the time zone is not
/// looked up for others (this runs on the phone's thread for every INVITE).
pub fn local_time(rules: &Rules) -> chrono::NaiveDateTime {
    if rules.wants_local_time() {
        chrono::Local::now().naive_local()
    } else {
        chrono::NaiveDateTime::default()
    }
}

/// What the phone does for an action, with the rule's script if it has
/// one (`answer` always does).
pub fn verdict_of(action: Action, script: Option<Arc<Script>>, decline_delay: Duration) -> Verdict {
    match (action, script) {
        (
            Action::Terminate | Action::TerminateAndBar | Action::Answer | Action::Challenge,
            Some(s),
        ) => Verdict::Script(s),
        // `answer` without a script cannot be compiled; ringing is the safe side.
        (Action::Ring | Action::Answer, _) => Verdict::Ring,
        // `challenge` always has its script; without one, as `terminate`.
        (Action::Terminate | Action::TerminateAndBar | Action::Challenge, None) => {
            Verdict::Terminate
        }
        (Action::Decline, _) => Verdict::Reject {
            how: Reject::Unavailable,
            after: decline_delay,
        },
        (Action::IgnoreSilently, _) => Verdict::Silent,
    }
}

/// A caller from outside with this number and nothing else (tests).
#[cfg(test)]
pub(super) fn caller(number: &str) -> CallerId {
    CallerId {
        number: Some(number.into()),
        display_name: None,
        anonymous: false,
        called: None,
        raw_from: String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_it_lets_blocked_calls_ring_but_answer_still_picks_up() {
        let cfg = crate::config::parse(
            "[numbers]\ncountry = \"DE\"\n\
             [[rule]]\nnumbers = [\"0301234567\"]\naction = \"answer\"\n\
             [[rule]]\nnumbers = [\"0900*\"]\naction = \"terminate\"\n",
        )
        .unwrap();
        let rules = crate::screen::rules::Rules::compile(&cfg).unwrap().0;
        let off = Shield::load(None);
        off.set(false).unwrap();
        let mut history = crate::screen::rules::History::default();
        let call = |n: &str, history: &mut _| {
            let (mut d, mut v) = decide(
                &rules,
                history,
                &caller(n),
                std::time::Instant::now(),
                &Line::only("620"),
            );
            apply_shield(&off, &mut d, &mut v);
            if d.decision.effective() != d.decision.action {
                assert_eq!(d.decision.log_only, Some(LogOnly::Shield));
            }
            (d.decision.effective(), v)
        };
        assert_eq!(call("09001", &mut history), (Action::Ring, Verdict::Ring));
        let (action, verdict) = call("0301234567", &mut history);
        assert_eq!(action, Action::Answer);
        assert!(matches!(verdict, Verdict::Script(_)), "{verdict:?}");
    }
}
