//! What an answered call of a rule hears and does: its announcement and
//! the keys it reads, checked against the rule's action when the rules
//! compile.

use std::sync::Arc;

use super::RuleError;
use crate::call::Action;
use crate::config;
use crate::media::{self, Announcement, Collect, Script};

/// A rule's announcement and keys, checked against its action. The WAV
/// file is read here, when the rules compile, never during a call.
pub(super) fn script(r: &config::Rule, action: Action) -> Result<Option<Arc<Script>>, RuleError> {
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
        .map_or(media::announcement::MAX_DEFAULT, |m| m.0);
    let announcement = r
        .announcement
        .as_deref()
        .map(|a| Announcement::named(a, max))
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
            timeout: r.dtmf_timeout.map_or(media::DTMF_TIMEOUT, |t| t.0),
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
