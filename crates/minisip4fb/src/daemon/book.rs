//! The book-keeper: a thread of its own that takes the phone's notes about
//! calls (decided, ended), writes them to the call log in batched
//! transactions, prints the log line of each call once it is over, and
//! tells the event bus. A call log that is locked, read-only or full
//! delays nothing: the writes wait in memory (bounded) and are retried.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use tokio::sync::{broadcast, mpsc};

use super::note::{CallRef, Note};
use crate::call::Action;
use crate::call::DaemonEvent;
use crate::call::show::Lang;
use crate::call::{Record, Time};
use crate::calllog::{Op, Writer};
use crate::net::{Outcome, ScriptEnd};
use crate::text::printable;

/// The queue from the phone's thread; it never waits on a full queue.
/// The book-keeper takes notes at once (SQLite waits in its own memory),
/// so this only needs to cover a burst; its slots are allocated up front.
pub const QUEUE: usize = 2048;
/// Writes kept in memory while the call log refuses them; beyond this
/// the oldest are dropped (and counted).
const MAX_PENDING: usize = 100_000;
/// Notes per transaction, at most.
const BATCH: usize = 512;
/// When, after the last call, free memory is handed back: once the ended
/// calls are dropped (T4, 5 s), and again once the agent's cache of
/// answered requests has expired (64·T1, 32 s, RFC 3261 §17.2.2).
const QUIET: [Duration; 2] = [Duration::from_secs(10), Duration::from_secs(40)];
/// How long a write may wait for another process's lock before the
/// book-keeper goes on and retries later.
const BUSY: Duration = Duration::from_millis(200);
const RETRY: Duration = Duration::from_secs(1);
const STOP_FLUSH: Duration = Duration::from_secs(2);

/// Where finished calls go besides the log.
pub struct Outlets {
    pub events: broadcast::Sender<DaemonEvent>,
    /// Every finished call (the demo).
    pub calls: Option<mpsc::UnboundedSender<Record>>,
    /// Numbers to put on the Box's call-barring list, with the rule.
    pub bar: Option<mpsc::Sender<(String, String)>>,
    /// Numbers PhoneBlock's community list blocked, to report back.
    pub report: Option<mpsc::Sender<u64>>,
    /// The door openers' failed PINs.
    pub doors: Option<crate::controls::doors::Doors>,
    /// The key-press check's passes and failures.
    pub passes: Option<crate::controls::passes::Passes>,
    /// Several accounts: each call's log line names its account.
    pub several: bool,
}

struct Open {
    key: u64,
    at: Instant,
    record: Record,
    /// The rule of a call whose script reads keys (`answer`: a door
    /// opener's PIN; `challenge`): its end may come after the call's.
    keyed: Option<std::sync::Arc<str>>,
    /// Blocked because of PhoneBlock's community list: report it.
    report: Option<u64>,
}

/// The number to report to PhoneBlock: a call the community list blocked
/// (only such numbers ever leave the house; not in log-only mode).
fn community_blocked(d: &crate::screen::rules::Decision) -> Option<u64> {
    use crate::screen::rules::{Matched, Why};
    let by_community = matches!(
        d.why,
        Why::Rule {
            matched: Matched::Community { .. },
            ..
        }
    );
    // A key-press check may let a person through: not reported.
    (by_community && d.effective().blocks() && d.effective() != Action::Challenge)
        .then(|| d.e164.as_deref().and_then(crate::phoneblock::parse_phone))
        .flatten()
}

struct Book {
    log: Option<Writer>,
    out: Outlets,
    open: HashMap<CallRef, Open>,
    /// Ends of calls not decided yet: a call handed over before the rules
    /// were ready can end (CANCEL) before its decision arrives.
    early: HashMap<CallRef, (Outcome, Instant)>,
    next_key: u64,
    pending: VecDeque<Op>,
    rows: HashMap<u64, i64>,
    /// Since when writes fail, and why (logged once per failure spell).
    failing: Option<Instant>,
    /// Calls of door openers and key-press checks that ended before
    /// their script did.
    ended_scripts: VecDeque<(CallRef, Record, std::sync::Arc<str>)>,
    dropped: u64,
}

/// How often old records are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(86_400);

/// Runs the book-keeper until [`Note::Stop`] or until every sender is gone.
/// It also prunes records older than `retention_days` (0: never) and
/// expired passes, at start and daily: the one thread that writes the log
/// does it.
pub fn run(rx: Receiver<Note>, log: Option<PathBuf>, retention_days: u32, out: Outlets) {
    crate::guard::priority::lower_priority_of_this_thread();
    let mut book = Book {
        log: log.map(Writer::new),
        out,
        open: HashMap::new(),
        early: HashMap::new(),
        next_key: 1,
        pending: VecDeque::new(),
        rows: HashMap::new(),
        failing: None,
        ended_scripts: VecDeque::new(),
        dropped: 0,
    };
    let mut retry_at: Option<Instant> = None;
    let mut prune_at = Instant::now();
    // The last note's time and how many of the QUIET trims are done.
    let mut trims: Option<(Instant, usize)> = None;
    loop {
        let now = Instant::now();
        if now >= prune_at {
            book.prune(retention_days);
            prune_at = now + PRUNE_EVERY;
        }
        let next_trim =
            |t: Option<(Instant, usize)>| t.and_then(|(last, done)| Some(last + *QUIET.get(done)?));
        if next_trim(trims).is_some_and(|t| now >= t)
            && let Some((_, done)) = trims.as_mut()
        {
            *done += 1;
            book.shrink();
            release_free_memory();
        }
        let trim_at = next_trim(trims);
        let wake = [retry_at, trim_at]
            .into_iter()
            .flatten()
            .fold(prune_at, Instant::min);
        let first = match rx.recv_timeout(wake.saturating_duration_since(Instant::now())) {
            Ok(n) => Some(n),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => break,
        };
        // The phone hands notes over in batches: take what is there.
        let mut stop = false;
        let mut next = first;
        let mut taken = 0;
        while let Some(note) = next.take() {
            if matches!(note, Note::Stop) {
                stop = true;
                break;
            }
            book.take(note);
            taken += 1;
            if taken < BATCH {
                next = rx.try_recv().ok();
            }
        }
        if taken > 0 {
            trims = Some((Instant::now(), 0));
        }
        if stop {
            break;
        }
        if retry_at.is_none_or(|t| Instant::now() >= t) {
            retry_at = (!book.write()).then(|| Instant::now() + RETRY);
        }
    }
    // Stopping: what the phone said last is in; write it, bounded in time.
    let until = Instant::now() + STOP_FLUSH;
    while !book.write() && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(100));
    }
    if !book.pending.is_empty() {
        tracing::error!(
            "call log: {} write(s) could not be stored before exit (the log line of each call has its details)",
            book.pending.len()
        );
    }
}

impl Book {
    /// Old records out of the call log, expired passes out of the pass list.
    fn prune(&mut self, days: u32) {
        if let Some(passes) = &self.out.passes {
            passes.prune();
        }
        let Some(writer) = &mut self.log else { return };
        match writer.get().and_then(|(log, _)| log.prune(days)) {
            Ok(0) => {}
            Ok(n) => tracing::info!("call log: removed {n} record(s) older than {days} days"),
            Err(e) => tracing::warn!("call log: pruning failed: {e}"),
        }
    }

    fn take(&mut self, note: Note) {
        match note {
            Note::Decided {
                call,
                at,
                wall,
                decided,
            } => {
                let report = community_blocked(&decided.decision);
                let keyed = matches!(
                    decided.decision.effective(),
                    Action::Answer | Action::Challenge
                )
                .then(|| decided.decision.why.rule().map(|r| r.name.clone()))
                .flatten();
                let record = decided.into_record(Time::from(wall));
                let key = self.next_key;
                self.next_key += 1;
                self.queue(Op::Insert {
                    key,
                    record: Box::new(record.clone()),
                });
                let _ = self.out.events.send(DaemonEvent::Call(record.clone()));
                let open = Open {
                    key,
                    at,
                    record,
                    keyed,
                    report,
                };
                match self.early.remove(&call) {
                    Some((outcome, end)) => self.ended(open, outcome, end),
                    None => {
                        self.open.insert(call, open);
                    }
                }
            }
            Note::Ended { call, outcome, at } => match self.open.remove(&call) {
                Some(open) => {
                    // Its script may still end after it (a caller who hung
                    // up after wrong PINs): kept a while for that.
                    if let Some(rule) = &open.keyed {
                        if self.ended_scripts.len() >= 64 {
                            self.ended_scripts.pop_front();
                        }
                        self.ended_scripts
                            .push_back((call, open.record.clone(), rule.clone()));
                    }
                    self.ended(open, outcome, at)
                }
                None => {
                    // Its decision may still come; a call never decided
                    // (refused while stopping) is forgotten in bulk.
                    if self.early.len() >= 1024 {
                        self.early.clear();
                    }
                    self.early.insert(call, (outcome, at));
                }
            },
            Note::Script { call, end } => self.script(call, end),
            Note::Refused { caller } => tracing::warn!(
                "refused a call from {}: too many calls in progress",
                printable(&caller.to_string())
            ),
            Note::Stop => {}
        }
    }

    /// What a script brought: the keys as a `dtmf` event, the rest logged.
    fn script(&mut self, call: CallRef, end: ScriptEnd) {
        let (r, door) = match self.open.get(&call) {
            Some(open) => (open.record.clone(), open.keyed.clone()),
            None => match self.ended_scripts.iter().position(|(c, _, _)| *c == call) {
                Some(i) => {
                    let (_, r, door) = self.ended_scripts.remove(i).expect("found above");
                    (r, Some(door))
                }
                None => return,
            },
        };
        let r = &r;
        let who = r.caller.who(Lang::En);
        let pin_right = matches!(end, ScriptEnd::PinRight(_));
        match end {
            ScriptEnd::Digits(digits) | ScriptEnd::PinRight(digits) => {
                if pin_right {
                    tracing::info!("call from {who}: the PIN was right; keys {digits:?} entered");
                    if let (Some(doors), Some(rule), Some(e164)) =
                        (&self.out.doors, &door, &r.caller.e164)
                    {
                        doors.succeeded(rule, e164);
                    }
                } else {
                    tracing::info!("call from {who}: keys {digits:?} entered");
                }
                let _ = self.out.events.send(DaemonEvent::Dtmf {
                    time: Time::now(),
                    caller: r.caller.clone(),
                    called: r.called.clone(),
                    rule: r.rule.clone(),
                    digits,
                });
            }
            ScriptEnd::WrongPin(wrong) => {
                tracing::warn!("call from {who}: {wrong} wrong PIN(s); hung up");
                let locked = match (&self.out.doors, &door, &r.caller.e164) {
                    (Some(doors), Some(rule), Some(e164)) => doors.failed(rule, e164),
                    _ => crate::controls::doors::Locked::No,
                };
                let time = Time::now();
                let _ = self.out.events.send(DaemonEvent::PinRejected {
                    time,
                    caller: r.caller.clone(),
                    rule: r.rule.clone(),
                    wrong,
                });
                let (everyone, until) = match locked {
                    crate::controls::doors::Locked::No => return,
                    crate::controls::doors::Locked::Caller { until } => (false, Some(until)),
                    crate::controls::doors::Locked::Everyone => (true, None),
                };
                let until = until.map(Time::from_unix_ms);
                if everyone {
                    tracing::error!(
                        "door opener {}: too many wrong PINs today; it answers nobody until you open it again (dashboard, MQTT, or minisip4fb doors open and a reload)",
                        r.rule.as_deref().unwrap_or("?")
                    );
                } else {
                    tracing::warn!(
                        "door opener {}: {who} is locked out until {}",
                        r.rule.as_deref().unwrap_or("?"),
                        until.map_or("?".into(), |t| t.to_string())
                    );
                }
                let _ = self.out.events.send(DaemonEvent::DoorLocked {
                    time,
                    rule: r.rule.clone(),
                    caller: r.caller.clone(),
                    everyone,
                    until,
                });
            }
            ScriptEnd::NoDigits => tracing::info!("call from {who}: no keys entered; hung up"),
            ScriptEnd::TimedOut => {
                tracing::warn!("call from {who}: still entering keys after 5 minutes; hung up")
            }
            ScriptEnd::NoMedia => tracing::warn!(
                "call from {who}: the FRITZ!Box offered no PCMA or PCMU, so nothing was said or heard; hung up"
            ),
            ScriptEnd::NoSocket => tracing::warn!(
                "call from {who}: no socket for its audio (see the warning before), so nothing was said or heard; hung up"
            ),
            ScriptEnd::Challenge {
                asked,
                pressed,
                pass,
            } => self.challenge(r, asked, pressed, pass),
            ScriptEnd::Played => {}
        }
    }

    /// The key-press check's end: a pass, or a failure counted; either
    /// told as an event.
    fn challenge(
        &mut self,
        r: &Record,
        asked: char,
        pressed: Option<char>,
        pass: crate::media::Pass,
    ) {
        let who = r.caller.who(Lang::En);
        let (Some(passes), Some(e164)) = (&self.out.passes, &r.caller.e164) else {
            return;
        };
        let ms = Time::from_unix_ms;
        let time = Time::now();
        if pressed == Some(asked) {
            let until = passes.passed(e164, pass).or_else(|e| {
                tracing::error!("key-press check: cannot keep {who}'s pass for good: {e}; it holds for the default time");
                passes.passed(e164, crate::media::challenge::PASS)
            });
            let until = match until {
                Ok(u) => u,
                Err(e) => {
                    tracing::error!(
                        "key-press check: {who} passed, but the pass list refused it: {e}"
                    );
                    return;
                }
            };
            tracing::info!(
                "call from {who}: pressed {asked} as asked; may call again {}",
                until.map_or("from now on".into(), |u| format!("until {}", ms(u)))
            );
            let _ = self.out.events.send(DaemonEvent::ChallengePassed {
                time,
                caller: r.caller.clone(),
                called: r.called.clone(),
                rule: r.rule.clone(),
                account: r.account.clone(),
                until: until.map(ms),
            });
        } else {
            let refused = passes.failed(e164);
            tracing::info!(
                "call from {who}: asked for {asked}, {}; hung up{}",
                pressed.map_or("no key".into(), |k| format!(
                    "pressed {}",
                    printable(&k.to_string())
                )),
                refused.map_or(String::new(), |u| format!(
                    "; failed too often, not asked again until {}",
                    ms(u)
                ))
            );
            let _ = self.out.events.send(DaemonEvent::ChallengeFailed {
                time,
                caller: r.caller.clone(),
                called: r.called.clone(),
                rule: r.rule.clone(),
                account: r.account.clone(),
                asked: asked.to_string(),
                pressed: pressed.map(|k| k.to_string()),
                refused_until: refused.map(ms),
            });
        }
    }

    fn ended(&mut self, open: Open, outcome: Outcome, at: Instant) {
        let Open {
            key,
            at: start,
            mut record,
            report,
            keyed: _,
        } = open;
        if let (Some(phone), Some(tx)) = (report, &self.out.report)
            && tx.try_send(phone).is_err()
        {
            tracing::debug!("PhoneBlock's report queue is full: not reporting this call");
        }
        let bye_ms = (outcome == Outcome::Terminated)
            .then(|| at.saturating_duration_since(start).as_secs_f64() * 1000.0);
        record.outcome = Some(outcome);
        record.bye_ms = bye_ms;
        self.queue(Op::Finish {
            key,
            outcome,
            bye_ms,
            ended: Time::now(),
        });
        let line = match (&record.account, self.out.several) {
            (Some(a), true) => format!(" on line {a}"),
            _ => String::new(),
        };
        tracing::info!(
            "call from {} to {}{line}: {} ({}); {outcome}{}",
            record.caller.who(Lang::En),
            printable(record.called.as_deref().unwrap_or("?")),
            record.decision,
            printable(&record.reason),
            bye_ms.map(|b| format!(" in {b:.1} ms")).unwrap_or_default()
        );
        if outcome == Outcome::Terminated {
            let _ = self
                .out
                .events
                .send(DaemonEvent::Terminated(record.clone()));
            // Never bar anonymous callers: the Box would bar "no number".
            if record.decision == Action::TerminateAndBar
                && let Some(number) = &record.caller.number
            {
                match &self.out.bar {
                    Some(tx) => {
                        let rule = record.rule.clone().unwrap_or_default();
                        if tx.try_send((number.clone(), rule)).is_err() {
                            tracing::warn!(
                                "cannot bar {}: the call-barring queue is full",
                                printable(number)
                            );
                        }
                    }
                    None => tracing::warn!(
                        "cannot bar {}: no TR-064 access configured ([fritzbox] tr064 and admin_user)",
                        printable(number)
                    ),
                }
            }
        }
        let _ = self.out.events.send(DaemonEvent::CallEnded(record.clone()));
        if let Some(tx) = &self.out.calls {
            let _ = tx.send(record);
        }
    }

    fn queue(&mut self, op: Op) {
        if self.log.is_none() {
            return;
        }
        if self.pending.len() >= MAX_PENDING {
            self.pending.pop_front();
            self.dropped += 1;
            if self.dropped.is_power_of_two() {
                tracing::error!(
                    "call log: {} record(s) dropped: the log has refused writes for too long",
                    self.dropped
                );
            }
        }
        self.pending.push_back(op);
    }

    /// Quiet after calls: hands back what the maps grew to in a wave.
    fn shrink(&mut self) {
        self.open.shrink_to_fit();
        self.early.shrink_to_fit();
        self.pending.shrink_to_fit();
        self.rows.shrink_to_fit();
    }

    /// Writes what is pending in one transaction; `false` if it failed
    /// (everything stays pending).
    fn write(&mut self) -> bool {
        let Some(writer) = &mut self.log else {
            return true;
        };
        if self.pending.is_empty() {
            return true;
        }
        let written = writer.get().and_then(|(log, fresh)| {
            if fresh {
                let _ = log.set_busy_timeout(BUSY);
                // A new file: the row ids of the old one mean nothing in
                // it, and calls still open were inserted there: again here.
                self.rows.clear();
                for o in self.open.values() {
                    let inserted = self
                        .pending
                        .iter()
                        .any(|op| matches!(op, Op::Insert { key, .. } if *key == o.key));
                    if !inserted {
                        self.pending.push_front(Op::Insert {
                            key: o.key,
                            record: Box::new(o.record.clone()),
                        });
                    }
                }
            }
            log.apply(self.pending.make_contiguous(), &mut self.rows)
        });
        match written {
            Ok(()) => {
                // Finished calls need no row id any more.
                for op in self.pending.drain(..) {
                    if let Op::Finish { key, .. } = op {
                        self.rows.remove(&key);
                    }
                }
                if let Some(since) = self.failing.take() {
                    tracing::info!(
                        "call log: writable again after {:.0} s; the waiting records are stored",
                        since.elapsed().as_secs_f64()
                    );
                }
                true
            }
            Err(e) => {
                if self.failing.is_none() {
                    self.failing = Some(Instant::now());
                    tracing::error!(
                        "call log: cannot write ({e}); calls go on, their records wait in memory and are retried every {} s",
                        RETRY.as_secs()
                    );
                }
                false
            }
        }
    }
}

/// After a wave of calls, glibc keeps the freed heap pages and RSS would
/// stay at the wave's peak for good: hand them back. Only calls arm this,
/// so an idle phone gets no extra wake-ups.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn release_free_memory() {
    // SAFETY: malloc_trim only returns free heap pages of every arena to
    // the kernel (madvise); no allocation is moved or freed.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn release_free_memory() {}
