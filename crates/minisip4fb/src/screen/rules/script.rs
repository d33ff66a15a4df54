//! What an answered call of a rule hears and does: its announcement and
//! the keys it reads, checked against the rule's action when the rules
//! compile.

use std::sync::Arc;

use super::RuleError;
use crate::call::Action;
use crate::config;
use crate::media::{self, Announcement, Challenge, Collect, Pass, Script};

/// A rule's announcement and keys, checked against its action. The WAV
/// file is read here, when the rules compile, never during a call.
/// `pass_list`: `[screen] pass_list` is set.
pub(super) fn script(
    r: &config::Rule,
    action: Action,
    pass_list: bool,
) -> Result<Option<Arc<Script>>, RuleError> {
    let answers = matches!(
        action,
        Action::Terminate | Action::TerminateAndBar | Action::Answer | Action::Challenge
    );
    if r.announcement.is_some() && !answers {
        return Err(RuleError::AnnouncementAction);
    }
    if r.pin.is_some() && action != Action::Answer {
        return Err(RuleError::OnlyForAnswer("pin"));
    }
    if r.dtmf_timeout.is_some() && !matches!(action, Action::Answer | Action::Challenge) {
        return Err(RuleError::OnlyForAnswer("dtmf_timeout"));
    }
    if action != Action::Challenge {
        for (set, key) in [(r.digit.is_some(), "digit"), (r.pass.is_some(), "pass")] {
            if set {
                return Err(RuleError::OnlyForChallenge(key));
            }
        }
    }
    let max = r
        .max_announcement
        .map_or(media::announcement::MAX_DEFAULT, |m| m.0);
    let mut announcement = r
        .announcement
        .as_deref()
        .map(|a| Announcement::named(a, max))
        .transpose()
        .map_err(RuleError::Announcement)?;
    let challenge = if action == Action::Challenge {
        Some(challenge(r, announcement.take(), pass_list)?)
    } else {
        None
    };
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
            timeout: r.dtmf_timeout.map_or(media::DTMF_TIMEOUT, |t| t.0),
            pin: r.pin.clone(),
        })
    } else {
        None
    };
    Ok(
        (announcement.is_some() || collect.is_some() || challenge.is_some()).then(|| {
            Arc::new(Script {
                announcement,
                collect,
                challenge,
            })
        }),
    )
}

/// A `challenge` rule's check: its own prompt must name its fixed key,
/// and a withheld number cannot pass.
fn challenge(
    r: &config::Rule,
    prompt: Option<Announcement>,
    pass_list: bool,
) -> Result<Challenge, RuleError> {
    if r.anonymous {
        return Err(RuleError::ChallengeAnonymous);
    }
    let digit = match r.digit.as_deref() {
        None => None,
        Some(d) => match d.as_bytes() {
            [b @ b'0'..=b'9'] => Some(b - b'0'),
            _ => return Err(RuleError::Digit),
        },
    };
    match (&prompt, digit) {
        (Some(_), None) => return Err(RuleError::ChallengeDigit),
        // Decoded now, not at the first call.
        (None, _) => {
            let _ = media::challenge::voice();
        }
        (Some(_), Some(_)) => {}
    }
    let pass = r.pass.map_or(media::challenge::PASS, |p| p.0);
    if pass == Pass::Forever && !pass_list {
        return Err(RuleError::PassList);
    }
    Ok(Challenge {
        digit,
        timeout: r.dtmf_timeout.map_or(media::challenge::TIMEOUT, |t| t.0),
        prompt,
        pass,
    })
}
