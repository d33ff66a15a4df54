//! PhoneBlock's live check (`[phoneblock] live_check`), used only where
//! it adds something: for a caller that no rule decided from local data
//! (not in the phonebooks, your lists, the copy or its ranges) and whose
//! call would ring, while it already rings. The phone's 180 goes out at
//! once (the screen answers [`Verdict::RingAndHandOver`]); the check runs
//! here, off the phone's thread; an answer within the budget that says
//! spam ends the call as the `phoneblock:community` rule says; a late,
//! failed or harmless answer leaves it ringing and changes nothing else.
//!
//! Bounded: at most `live_checks_per_minute` checks, one in flight per
//! caller, one request each with the budget as its timeout, no retries,
//! nothing cached. `phoneblock status` shows how they went.

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use super::note::{CallRef, Decided, Line, Note};
use super::verdict::{apply_shield, verdict_of};
use crate::config::Config;
use crate::controls::RulesSnapshot;
use crate::controls::shield::Shield;
use crate::net::{IncomingCall, Verdict};
use crate::phoneblock::api::Api;
use crate::phoneblock::store::Store;
use crate::screen::rules::Reached;

/// A call waiting for its check: its decision from local data.
pub struct Job {
    decided: Box<Decided>,
    at: Instant,
    wall: SystemTime,
    phone: u64,
}

/// The live check: the jobs the screen hands over, its bounds.
pub struct LiveCheck {
    api: Arc<Api>,
    budget: Duration,
    per_minute: usize,
    jobs: Mutex<HashMap<CallRef, Job>>,
    bounds: Mutex<Bounds>,
    /// The PhoneBlock copy, where the checks are counted (`made`: asked
    /// and answered in time, `decided`: of those, the calls they ended,
    /// `late`: no answer within the budget, `failed`: PhoneBlock
    /// unreachable, refusing or answering nonsense).
    copy: PathBuf,
}

#[derive(Default)]
struct Bounds {
    /// When the checks of the last minute started.
    started: VecDeque<Instant>,
    in_flight: HashSet<u64>,
}

/// How much longer than the budget a check's request may run.
const REQUEST_SLACK: Duration = Duration::from_millis(500);
/// Jobs kept at most (calls handed over but not yet taken).
const MAX_JOBS: usize = 64;

impl LiveCheck {
    /// The live check the config asks for, if it does and a token reads.
    pub fn from_config(cfg: &Config) -> Option<Arc<LiveCheck>> {
        let pb = cfg.phoneblock.as_ref().filter(|p| p.live_check)?;
        let (token, from) = pb.token().ok()?;
        let budget = pb
            .live_check_budget
            .0
            .min(*crate::config::LIVE_BUDGET.end());
        Some(Arc::new(LiveCheck {
            // The request's own timeout a little past the budget: the
            // budget says "late" (never a race with the request's own
            // error), and a late answer's thread ends by itself soon after.
            api: Arc::new(Api::new(&pb.api, &token, &from, budget + REQUEST_SLACK)),
            budget,
            per_minute: pb.live_checks_per_minute as usize,
            jobs: Mutex::default(),
            bounds: Mutex::default(),
            copy: pb.copy.clone(),
        }))
    }

    /// On the phone's thread: takes the call for a check if the bounds
    /// allow (it then rings and is handed over); else the decision comes
    /// back and stands as it is.
    pub fn start(
        &self,
        call: CallRef,
        decided: Box<Decided>,
        at: Instant,
        wall: SystemTime,
    ) -> Result<(), Box<Decided>> {
        let Some(phone) = decided
            .decision
            .e164
            .as_deref()
            .and_then(crate::phoneblock::parse_phone)
        else {
            return Err(decided);
        };
        {
            let mut b = self.bounds.lock().unwrap_or_else(|p| p.into_inner());
            while b
                .started
                .front()
                .is_some_and(|t| at.saturating_duration_since(*t) >= Duration::from_secs(60))
            {
                b.started.pop_front();
            }
            if b.started.len() >= self.per_minute || b.in_flight.contains(&phone) {
                return Err(decided);
            }
            b.started.push_back(at);
            b.in_flight.insert(phone);
        }
        let mut jobs = self.jobs.lock().unwrap_or_else(|p| p.into_inner());
        if jobs.len() >= MAX_JOBS {
            drop(jobs);
            self.done(phone);
            return Err(decided);
        }
        jobs.insert(
            call,
            Job {
                decided,
                at,
                wall,
                phone,
            },
        );
        Ok(())
    }

    /// The job of a call handed over, if it was handed over for a check.
    pub fn take(&self, call: CallRef) -> Option<Job> {
        self.jobs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&call)
    }

    /// Counts an outcome in the copy, in the blocking pool; a copy that
    /// cannot be written loses the count, never the call.
    fn count(&self, what: &'static str) {
        let copy = self.copy.clone();
        tokio::task::spawn_blocking(move || {
            if let Err(e) = Store::open(&copy).and_then(|s| s.count_live(what)) {
                tracing::debug!("PhoneBlock live check: not counted: {e}");
            }
        });
    }

    fn done(&self, phone: u64) {
        self.bounds
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .in_flight
            .remove(&phone);
    }

    /// Asks PhoneBlock while the call rings; records the decision (the
    /// local one unless the answer changed it) and carries it out.
    pub async fn run(
        self: Arc<Self>,
        job: Job,
        (line, call): (Line, IncomingCall),
        snapshot: RulesSnapshot,
        notes: std::sync::mpsc::SyncSender<Note>,
        shield: Shield,
        gates: crate::screen::rules::Gates,
    ) {
        let Job {
            mut decided,
            at,
            wall,
            phone,
        } = job;
        let api = self.api.clone();
        let asked = tokio::task::spawn_blocking(move || api.check(phone));
        let answer = tokio::time::timeout(self.budget, asked).await;
        let (live, counted) = match answer {
            Ok(Ok(Ok(live))) => (Some(live), "made"),
            Ok(Ok(Err(e))) => {
                tracing::info!("PhoneBlock live check of {}: {e}; it rings on", call.id());
                (None, "failed")
            }
            Ok(Err(_)) => (None, "failed"),
            Err(_) => {
                tracing::info!(
                    "PhoneBlock live check of {}: no answer within {} ms; it rings on",
                    call.id(),
                    self.budget.as_millis()
                );
                (None, "late")
            }
        };
        self.count(counted);
        self.done(phone);
        let rules = snapshot.load_full();
        let local = chrono::Local::now().naive_local();
        let called = decided.caller.called.clone();
        let changed = match (&live, &rules) {
            (Some(live), Some(rules)) => {
                let reached = Reached {
                    called: called.as_deref(),
                    account: Some(&decided.account),
                    name: decided.caller.display_name.as_deref(),
                };
                let history = crate::screen::rules::History::with_gates(gates);
                rules.decide_live(&decided.decision, reached, local, live, &history)
            }
            _ => None,
        };
        let mut verdict = Verdict::Ring;
        if let (Some(d), Some(rules)) = (changed, &rules) {
            self.count("decided");
            verdict = verdict_of(d.effective(), rules.script(&d), rules.decline_delay);
            decided.decision = d;
            decided.decision_ms = at.elapsed().as_secs_f64() * 1000.0;
            apply_shield(&shield, &mut decided, &mut verdict);
        }
        let _ = notes.try_send(Note::Decided {
            call: line.call(call.id()),
            at,
            wall,
            decided,
        });
        // It rings already: only an end changes anything.
        let done = match verdict {
            Verdict::Terminate => call.terminate().await.map(drop),
            Verdict::Reject { how, after } => {
                call.reject_after(how, after.saturating_sub(at.elapsed()))
                    .await
            }
            Verdict::Script(script) => call.run(&script).await.map(|end| {
                let _ = notes.try_send(Note::Script {
                    call: line.call(call.id()),
                    end,
                });
            }),
            Verdict::Ring | Verdict::RingAndHandOver | Verdict::Silent | Verdict::Defer => Ok(()),
        };
        if let Err(e) = done {
            // The caller gave up meanwhile: its end is recorded as it came.
            tracing::debug!("{}: {e}", call.id());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::CallId;
    use crate::screen::rules::{History, Rules};

    /// At most the minute's checks, one at a time per caller; a check
    /// done frees its caller.
    #[test]
    fn checks_are_bounded_per_minute_and_per_caller() {
        let cfg = crate::config::parse(
            "[numbers]\ncountry = \"DE\"\n[phoneblock]\ntoken = \"t\"\nlive_check = true\n\
             live_checks_per_minute = 2\n[[rule]]\nlists = [\"phoneblock:community\"]\naction = \"terminate\"\n",
        )
        .unwrap();
        let live = LiveCheck::from_config(&cfg).unwrap();
        let rules = Rules::compile(&cfg).unwrap().0;
        let now = Instant::now();
        let line = Line::only("620");
        let decided = |n: &str| {
            let (d, _) = super::super::verdict::decide(
                &rules,
                &mut History::default(),
                &super::super::verdict::caller(n),
                now,
                &Line::only("620"),
            );
            Box::new(d)
        };
        let start = |call: u64, n: &str| {
            live.start(line.call(CallId(call)), decided(n), now, SystemTime::now())
                .is_ok()
        };
        assert!(rules.wants_live_check(
            &decided("0301111111").decision,
            Reached::default(),
            Default::default()
        ));
        assert!(start(1, "0301111111"));
        assert!(!start(2, "0301111111"), "that caller's check still runs");
        let job = live.take(line.call(CallId(1))).expect("handed over");
        live.done(job.phone);
        assert!(
            start(3, "0301111111"),
            "done: the caller may be checked again"
        );
        assert!(!start(4, "0302222222"), "two a minute");
        assert!(live.take(line.call(CallId(2))).is_none());
    }
}
