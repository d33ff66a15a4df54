//! The daemon's [`Screen`]: runs on the phone's own thread for every new
//! INVITE. It reads the rules from an atomically swapped snapshot (no
//! lock), counts repeated callers in a history only this thread touches,
//! and hands the typed decision to the book-keeper through a bounded queue that
//! never blocks.

use std::sync::Arc;
use std::sync::mpsc::{SyncSender, TrySendError};
use std::time::{Duration, Instant, SystemTime};

use super::live::LiveCheck;
pub use super::note::Decided;
use super::note::Note;
use crate::call::{Action, LogOnly};
use crate::controls::RulesSnapshot;
use crate::controls::shield::Shield;
use crate::net::{CallId, CallerId, Outcome, Reject, Screen, Script, ScriptEnd, Verdict};
use crate::screen::rules::{History, Rules};

/// How long notes gather before they are handed to the book-keeper: a
/// call's decision and its end usually go together, waking it once, and
/// never while a call is being answered.
const HAND_OVER: Duration = Duration::from_millis(5);
const MAX_OUTBOX: usize = 256;

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
) -> (Decided, Verdict) {
    rules.remember(history, caller.number.as_deref(), now);
    let local = local_time(rules);
    let decision = rules.decide(
        caller.number.as_deref(),
        caller.called.as_deref(),
        history,
        now,
        local,
    );
    let verdict = verdict_of(
        decision.effective(),
        rules.script(&decision),
        rules.decline_delay,
    );
    let decided = Decided {
        caller: caller.clone(),
        decision,
        decision_ms: now.elapsed().as_secs_f64() * 1000.0,
    };
    (decided, verdict)
}

/// The local time for rules with hours or weekdays; the time zone is not
/// looked up for others (this runs on the phone's thread for every INVITE).
fn local_time(rules: &Rules) -> chrono::NaiveDateTime {
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
        (Action::Terminate | Action::TerminateAndBar | Action::Answer, Some(s)) => {
            Verdict::Script(s)
        }
        // `answer` without a script cannot be compiled; ringing is the safe side.
        (Action::Ring | Action::Answer, _) => Verdict::Ring,
        (Action::Terminate | Action::TerminateAndBar, None) => Verdict::Terminate,
        (Action::Decline, _) => Verdict::Reject {
            how: Reject::Unavailable,
            after: decline_delay,
        },
        (Action::IgnoreSilently, _) => Verdict::Silent,
    }
}

/// The screen the daemon gives the phone.
pub struct DaemonScreen {
    rules: RulesSnapshot,
    history: History,
    notes: SyncSender<Note>,
    /// Notes not yet handed over, and since when: they go in one batch,
    /// after the answer left, at most [`HAND_OVER`] later.
    outbox: Vec<Note>,
    since: Option<Instant>,
    /// Notes dropped because the book-keeper's queue was full.
    dropped: u64,
    shield: Shield,
    /// PhoneBlock's live check, when the config asks for it.
    live: Option<Arc<LiveCheck>>,
}

impl DaemonScreen {
    pub fn new(
        rules: RulesSnapshot,
        notes: SyncSender<Note>,
        shield: Shield,
        doors: crate::screen::doors::DoorState,
        live: Option<Arc<LiveCheck>>,
    ) -> DaemonScreen {
        DaemonScreen {
            rules,
            history: History::with_doors(doors),
            notes,
            outbox: Vec::new(),
            since: None,
            dropped: 0,
            shield,
            live,
        }
    }

    fn note(&mut self, n: Note) {
        self.since.get_or_insert_with(Instant::now);
        self.outbox.push(n);
    }

    fn hand_over(&mut self) {
        self.since = None;
        let mut notes = std::mem::take(&mut self.outbox);
        for n in notes.drain(..) {
            self.send(n);
        }
        // Keep the allocation for the next batch.
        self.outbox = notes;
    }

    fn send(&mut self, n: Note) {
        match self.notes.try_send(n) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                self.dropped += 1;
                if self.dropped.is_power_of_two() {
                    tracing::error!(
                        "the call book-keeper is behind: {} call note(s) dropped so far",
                        self.dropped
                    );
                }
            }
            Err(TrySendError::Disconnected(_)) => {}
        }
    }
}

impl Screen for DaemonScreen {
    fn screen(&mut self, call: CallId, caller: &CallerId, now: Instant) -> Verdict {
        // Before the first compile: decided by the daemon once it is done.
        let Some(rules) = self.rules.load_full() else {
            return Verdict::Defer;
        };
        let (mut decided, mut verdict) = decide(&rules, &mut self.history, caller, now);
        apply_shield(&self.shield, &mut decided, &mut verdict);
        let (wall, mut decided) = (SystemTime::now(), Box::new(decided));
        // Ringing, and PhoneBlock's live check could still end it: it
        // rings now and is handed over for the check.
        if let Some(live) = &self.live
            && verdict == Verdict::Ring
            && rules.wants_live_check(
                &decided.decision,
                caller.called.as_deref(),
                local_time(&rules),
            )
        {
            match live.start(call, decided, now, wall) {
                Ok(()) => return Verdict::RingAndHandOver,
                Err(back) => decided = back,
            }
        }
        self.note(Note::Decided {
            call,
            at: now,
            wall,
            decided,
        });
        verdict
    }

    fn ended(&mut self, call: CallId, outcome: Outcome, now: Instant) {
        self.note(Note::Ended {
            call,
            outcome,
            at: now,
        });
    }

    fn script_ended(&mut self, call: CallId, end: &ScriptEnd, _now: Instant) {
        self.note(Note::Script {
            call,
            end: end.clone(),
        });
    }

    fn refused(&mut self, caller: &CallerId) {
        self.note(Note::Refused {
            caller: Box::new(caller.clone()),
        });
    }

    fn turn_done(&mut self, now: Instant) -> Option<Instant> {
        let since = self.since?;
        if now >= since + HAND_OVER || self.outbox.len() >= MAX_OUTBOX {
            self.hand_over();
            return None;
        }
        Some(since + HAND_OVER)
    }
}

impl Drop for DaemonScreen {
    /// The phone stopped: what it said last still reaches the book.
    fn drop(&mut self) {
        self.hand_over();
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
            let caller = crate::net::CallerId {
                number: Some(n.into()),
                display_name: None,
                anonymous: false,
                called: None,
                raw_from: String::new(),
            };
            let (mut d, mut v) = decide(&rules, history, &caller, std::time::Instant::now());
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
