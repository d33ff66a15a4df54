//! The phone's brain, sans-IO (DESIGN.md): fed datagrams, commands and
//! time; returns datagrams to send, events, and the next deadline. It
//! never touches a socket or reads the clock, so every timer is testable
//! with a fake clock and a lossy fake network.
//!
//! The run-loop contract, stated once:
//! 1. wait for a datagram, the deadline of the last [`Output::Timeout`], or a
//!    command from the application;
//! 2. feed exactly one input: [`Agent::handle_input`] or a command method
//!    ([`Agent::register`], [`Agent::answer`], …);
//! 3. drain [`Agent::poll_output`] until it returns [`Output::Timeout`].
//!
//! A decision on a new call made right when [`Event::IncomingCall`] comes
//! out of `poll_output` (a command before the next `poll_output`) goes out
//! instead of the 100 Trying: RFC 3261 §17.2.1 lets a UAS omit the 100
//! when the TU answers within 200 ms. Without one, the 100 follows next.

mod build;
mod call;
pub mod caller;
mod config;
mod ctx;
mod io;
mod outcome;
mod register;
pub mod transaction;

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use crate::sip::{self, Host, Message, Method, Request, Response, SipUri, StatusCode, name};

pub use caller::CallerId;
pub use config::Config;
pub use io::{Event, Input, Media, Output, QUIET_KEEPALIVES, SILENT_AFTER};
pub use outcome::{Outcome, UnknownOutcome};
pub use register::RegistrationError;

use call::Call;
pub(crate) use ctx::Ctx;
use register::Registration;
use transaction::TIMEOUT;

/// The agent's maps hash with foldhash, seeded per map: a fraction of
/// SipHash's code on the phone's turn, and still no fixed hash a peer's
/// Call-IDs could be chosen to collide in.
type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
type HashSet<K> = std::collections::HashSet<K, foldhash::fast::RandomState>;

/// Our handle for one incoming call (not the SIP Call-ID).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallId(pub u64);

impl std::fmt::Display for CallId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "call#{}", self.0)
    }
}

/// An entry of the output queue: ready output, or the 100 Trying of a new
/// call, sent only if the application did not decide at once.
#[derive(Debug)]
pub(crate) enum Queued {
    Out(Output),
    Trying(CallId),
    /// Work for after the datagrams before it are sent: the BYE of a call
    /// hung up before its ACK.
    PrepareBye(CallId),
}

/// A dialog's key (RFC 3261 §12: Call-ID and the remote tag; the local tag
/// is checked by `Call::matches_dialog`): the Call-ID, then, when the
/// caller tagged its From, a space and the tag. A Call-ID holds no space
/// (§25.1 `callid = word ["@" word]`; the parser refuses one), so the first
/// space ends it and no two dialogs share a key. Written into `buf`, which
/// is kept: a lookup allocates nothing.
fn dialog_key<'a>(buf: &'a mut String, call_id: &str, tag: Option<&str>) -> &'a str {
    buf.clear();
    buf.push_str(call_id);
    if let Some(tag) = tag {
        buf.push(' ');
        buf.push_str(tag);
    }
    buf
}

/// Calls in progress at once, at most. A household has a few; a flood of
/// INVITEs beyond this is answered 486 and costs no memory.
pub const MAX_CALLS: usize = 256;

/// OPTIONS closer together than this are no keepalive interval (a
/// retransmission, a burst): not learnt.
const MIN_KEEPALIVE: Duration = Duration::from_millis(200);

/// Answers to non-INVITE requests kept for their retransmissions, at most.
const MAX_ANSWERED: usize = 4096;

/// A command that does not fit the call's state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// No such call (it ended, and its handle was dropped).
    #[error("{0} is not known (ended long ago?)")]
    UnknownCall(CallId),
    /// The call is past the state the command needs (what it can no
    /// longer be: `answered`, `rejected`…).
    #[error("{0} can no longer be {1}")]
    WrongState(CallId, &'static str),
    /// A reject with a status that is not a final failure.
    #[error("status {0} is not a final failure response (400-699)")]
    BadStatus(StatusCode),
}

/// The phone: one account, any number of simultaneous incoming calls.
pub struct Agent {
    ctx: Ctx,
    reg: Registration,
    calls: HashMap<CallId, Call>,
    /// Calls by SIP Call-ID and the caller's From tag ([`dialog_key`]), so
    /// a datagram finds its call without a scan (thousands linger after a
    /// burst).
    dialogs: HashMap<String, CallId>,
    /// Where lookups write their [`dialog_key`]: finding the call of an
    /// ACK or a BYE allocates nothing.
    key: String,
    next_call: u64,
    /// Responses to non-INVITE requests, resent on retransmission (RFC
    /// 3261 §17.2.2, timer J): (branch, method) → (response, expiry, dest).
    answered: HashMap<(String, String), (Vec<u8>, Instant, SocketAddr)>,
    /// The same keys in the order they expire.
    answered_expiry: VecDeque<(Instant, (String, String))>,
    /// Every call's next deadline, earliest first.
    schedule: std::collections::BTreeSet<(Instant, CallId)>,
    /// Calls not yet over (see [`Agent::active_calls`]).
    active: usize,
    /// Sources and causes already logged, so a flood logs once.
    logged: HashSet<String>,
    /// The Box's keepalives, learnt: when it last sent anything, when its
    /// last OPTIONS came, and the interval between its OPTIONS.
    heard: Option<Instant>,
    last_options: Option<Instant>,
    keepalive: Option<Duration>,
    now: Instant,
}

impl Agent {
    /// An agent for one account, not yet registered: call
    /// [`Agent::register`], then drive it as the crate's docs say.
    pub fn new(cfg: Config, now: Instant) -> Agent {
        let mut ctx = Ctx::new(cfg);
        let reg = Registration::new(&mut ctx);
        Agent {
            ctx,
            reg,
            calls: HashMap::default(),
            dialogs: HashMap::default(),
            key: String::new(),
            next_call: 1,
            answered: HashMap::default(),
            answered_expiry: VecDeque::new(),
            schedule: std::collections::BTreeSet::new(),
            active: 0,
            logged: HashSet::default(),
            heard: None,
            last_options: None,
            keepalive: None,
            now,
        }
    }

    /// The account and settings it was made with.
    pub fn config(&self) -> &Config {
        &self.ctx.cfg
    }

    /// Whether the Box currently holds our binding.
    pub fn is_registered(&self) -> bool {
        self.reg.is_bound(self.now)
    }

    /// Starts registering (and keeps the registration alive from then on).
    pub fn register(&mut self, now: Instant) {
        self.now = now;
        self.reg.start(&mut self.ctx, now);
    }

    /// The Box moved (its name resolves elsewhere) or our address towards
    /// it changed: from now on requests go to `registrar`, are accepted
    /// from it, and name `contact` in Contact, Via and SDP. A phone that
    /// registers registers again at once, so that the Box rings the new
    /// Contact: a new binding (RFC 3261 §10.3 binds per Contact URI) in the
    /// same Call-ID (FRITZBOX.md: one Call-ID for the phone's life). A
    /// registrar that keys bindings by `+sip.instance`, as the emulator
    /// does, replaces the old one; else the old Contact lapses at its
    /// expiry (whether the Box does either is not known). A new Box gets
    /// no answer to the old one's challenge. Dialogs in progress keep
    /// their addresses.
    pub fn readdress(&mut self, now: Instant, registrar: SocketAddr, contact: SocketAddr) {
        self.now = now;
        let moved = registrar != self.ctx.cfg.registrar;
        if !moved && contact == self.ctx.cfg.contact {
            return;
        }
        self.ctx.cfg.registrar = registrar;
        self.ctx.set_contact(contact);
        // What was learnt of the old Box's keepalives is not the new one's;
        // the same Box's interval stands, but a gap across the change (its
        // OPTIONS lost on the old address) is none.
        self.last_options = None;
        if moved {
            (self.heard, self.keepalive) = (None, None);
        }
        self.reg.readdressed(&mut self.ctx, now, moved);
    }

    /// Removes our binding (`Expires: 0`); [`Event::Unregistered`] follows.
    pub fn unregister(&mut self, now: Instant) {
        self.now = now;
        self.reg.unregister(&mut self.ctx, now);
    }

    /// Sends 180 Ringing.
    pub fn ring(&mut self, now: Instant, call: CallId) -> Result<(), CommandError> {
        self.command(now, call, |c, ctx, now| c.ring(ctx, now))
    }

    /// Sends 200 OK with an SDP answer; [`Event::CallAnswered`] follows the ACK.
    pub fn answer(&mut self, now: Instant, call: CallId) -> Result<(), CommandError> {
        self.command(now, call, |c, ctx, now| c.answer(ctx, now, None).map(drop))
    }

    /// Answers with audio both ways at our `port` (a socket the caller
    /// bound for this call): returns where to send it, or `None` when the
    /// offer has no G.711 at a usable address (then the answer is the
    /// plain one of [`Agent::answer`]).
    pub fn answer_with_media(
        &mut self,
        now: Instant,
        call: CallId,
        port: u16,
    ) -> Result<Option<Media>, CommandError> {
        let mut media = None;
        self.command(now, call, |c, ctx, now| {
            media = c.answer(ctx, now, Some(port))?;
            Ok(())
        })?;
        Ok(media)
    }

    /// Declines with `status` (486, 480, 603 …). With `delay`, rings first
    /// and declines later: a fast 486 makes the Box drop the FRITZ!Fon app
    /// from the ring group (FRITZBOX.md), ~3 s avoids that.
    pub fn reject(
        &mut self,
        now: Instant,
        call: CallId,
        status: StatusCode,
        delay: Option<Duration>,
    ) -> Result<(), CommandError> {
        if !status.is_failure() {
            return Err(CommandError::BadStatus(status));
        }
        self.command(now, call, |c, ctx, now| c.reject(ctx, now, status, delay))
    }

    /// Ends the call: BYE once it is answered (after the ACK, RFC 3261
    /// §15), 486 while it is still ringing.
    pub fn hang_up(&mut self, now: Instant, call: CallId) -> Result<(), CommandError> {
        self.command(now, call, |c, ctx, now| c.hang_up(ctx, now))
    }

    /// The phone stops: ringing calls get 480, answered ones their BYE
    /// (after the ACK). Keep driving the agent until [`Agent::active_calls`]
    /// is 0 (or a bounded time), then [`Agent::unregister`].
    pub fn shut_down(&mut self, now: Instant) {
        self.now = now;
        let ids: Vec<CallId> = self.calls.keys().copied().collect();
        for id in ids {
            let _ = self.command(now, id, |c, ctx, now| {
                c.shut_down(ctx, now);
                Ok(())
            });
        }
    }

    /// Calls still ringing, answered or hanging up.
    pub fn active_calls(&self) -> usize {
        self.active
    }

    /// Runs a command on a call, then files its new deadline.
    fn command(
        &mut self,
        now: Instant,
        id: CallId,
        f: impl FnOnce(&mut Call, &mut Ctx, Instant) -> Result<(), CommandError>,
    ) -> Result<(), CommandError> {
        self.now = now;
        let c = self
            .calls
            .get_mut(&id)
            .ok_or(CommandError::UnknownCall(id))?;
        let r = f(c, &mut self.ctx, now);
        self.touch(id);
        r
    }

    /// After anything happened to a call: its deadline into the timer
    /// queue, its state into the count of active calls, and a call that is
    /// over and quiet out of memory. O(log n): a datagram or a timeout
    /// touches only its own call, however many linger after a burst.
    fn touch(&mut self, id: CallId) {
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        let next = c.deadline();
        if next != c.scheduled {
            if let Some(t) = c.scheduled {
                self.schedule.remove(&(t, id));
            }
            if let Some(t) = next {
                self.schedule.insert((t, id));
            }
            c.scheduled = next;
        }
        let active = c.is_active();
        if active != c.counted_active {
            c.counted_active = active;
            if active {
                self.active += 1;
            } else {
                self.active -= 1;
            }
        }
        if c.is_gone() {
            if let Some(t) = c.scheduled.take() {
                self.schedule.remove(&(t, id));
            }
            self.dialogs
                .remove(dialog_key(&mut self.key, c.call_id(), c.remote_tag()));
            self.calls.remove(&id);
        }
    }

    /// Feeds one input: a datagram or a deadline reached. Then call
    /// [`Agent::poll_output`] until it returns [`Output::Timeout`] before
    /// feeding the next input: outputs are queued in order, and a decision
    /// taken while draining (answer, reject) joins the same drain, so its
    /// response replaces the deferred 100 Trying (RFC 3261 §17.2.1).
    pub fn handle_input(&mut self, input: Input<'_>) {
        match input {
            Input::Timeout(now) => self.on_timeout(now),
            Input::Receive { now, from, data } => {
                self.now = now;
                self.on_datagram(now, from, data);
            }
        }
    }

    /// The next thing to do, in order: a datagram to send, an event for
    /// the application, or [`Output::Timeout`] when there is nothing more
    /// until that instant or the next input (then wait for either).
    pub fn poll_output(&mut self) -> Output {
        while let Some(q) = self.ctx.out.pop_front() {
            match q {
                Queued::Out(o) => return o,
                Queued::Trying(id) => {
                    if let Some(c) = self.calls.get_mut(&id)
                        && c.wants_trying()
                    {
                        let (to, data) = c.trying(&self.ctx);
                        Ctx::trace(to, &data);
                        return Output::Transmit { to, data };
                    }
                }
                Queued::PrepareBye(id) => {
                    if let Some(c) = self.calls.get_mut(&id) {
                        c.prepare_bye(&mut self.ctx);
                    }
                }
            }
        }
        Output::Timeout(self.next_deadline())
    }

    fn next_deadline(&self) -> Instant {
        let reg = self
            .reg
            .deadline()
            .unwrap_or(self.now + Duration::from_secs(3600));
        let calls = self.schedule.first().map(|(t, _)| *t);
        let answered = self.answered_expiry.front().map(|(t, _)| *t);
        [Some(reg), calls, answered, self.quiet_at()]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(reg)
    }

    /// When the Box will have been quiet for [`QUIET_KEEPALIVES`] of its
    /// keepalive intervals while it holds our binding; `None` before its
    /// interval is known (two OPTIONS) or without a binding.
    fn quiet_at(&self) -> Option<Instant> {
        let (heard, keepalive) = (self.heard?, self.keepalive?);
        self.reg
            .is_bound(self.now)
            .then(|| heard + keepalive * QUIET_KEEPALIVES)
    }

    #[inline(never)]
    fn on_timeout(&mut self, now: Instant) {
        self.now = now;
        if let (Some(at), Some(heard), Some(keepalive)) =
            (self.quiet_at(), self.heard, self.keepalive)
            && at <= now
        {
            self.ctx.emit(Event::RegistrarQuiet {
                quiet: now.saturating_duration_since(heard),
                keepalive,
            });
            // Learnt again from its next OPTIONS, once it holds us again.
            (self.heard, self.last_options, self.keepalive) = (None, None, None);
            self.reg.refresh_now(&mut self.ctx, now);
        }
        self.reg.on_timeout(&mut self.ctx, now);
        while let Some(&(t, id)) = self.schedule.first() {
            if t > now {
                break;
            }
            self.schedule.pop_first();
            if let Some(c) = self.calls.get_mut(&id) {
                c.scheduled = None;
                c.on_timeout(&mut self.ctx, now);
            }
            self.touch(id);
        }
        // Entries expire in the order they were made (all live 64·T1).
        while let Some((until, _)) = self.answered_expiry.front()
            && *until <= now
        {
            if let Some((_, key)) = self.answered_expiry.pop_front() {
                self.answered.remove(&key);
            }
        }
        self.shrink();
    }

    /// After a burst, hands back what the maps grew to (a `Call` is over
    /// 1 KB, and a map never shrinks by itself): otherwise the memory of a
    /// wave of thousands of calls stays with the phone for good.
    #[inline(never)]
    fn shrink(&mut self) {
        fn oversized(len: usize, capacity: usize) -> Option<usize> {
            (capacity > 64 && len * 4 < capacity).then_some(len * 2)
        }
        if let Some(n) = oversized(self.calls.len(), self.calls.capacity()) {
            self.calls.shrink_to(n);
        }
        if let Some(n) = oversized(self.dialogs.len(), self.dialogs.capacity()) {
            self.dialogs.shrink_to(n);
        }
        if let Some(n) = oversized(self.answered.len(), self.answered.capacity()) {
            self.answered.shrink_to(n);
        }
        if let Some(n) = oversized(self.answered_expiry.len(), self.answered_expiry.capacity()) {
            self.answered_expiry.shrink_to(n);
        }
        // A hostile Call-ID of tens of KB grew the lookup buffer once.
        if self.key.capacity() > 1024 {
            self.key = String::new();
        }
    }

    #[cold]
    fn log_once(&mut self, key: String, msg: impl FnOnce() -> String) {
        if self.logged.len() < 1024 && self.logged.insert(key) {
            tracing::warn!("{}", msg());
        }
    }

    fn on_datagram(&mut self, now: Instant, from: SocketAddr, data: &[u8]) {
        // Keep-alive CRLFs (RFC 5626 §3.5.1) carry nothing.
        if data.iter().all(|b| b.is_ascii_whitespace()) {
            return;
        }
        let trusted =
            from.ip() == self.ctx.cfg.registrar.ip() || self.ctx.cfg.trusted.contains(&from.ip());
        if !trusted {
            return self.on_stranger(from);
        }
        if from.ip() == self.ctx.cfg.registrar.ip() {
            self.heard = Some(now);
        }
        tracing::trace!(target: "minisip4fb::wire", "recv from {from}:\n{}", sip::redacted(data));
        match sip::parse(data) {
            Ok(Message::Response(r)) => self.on_response(now, r),
            Ok(Message::Request(r)) => self.on_request(now, from, r),
            Err(e) => self.on_malformed(from, data, e),
        }
    }

    // The rare paths below are kept out of line (`cold`), so that the code
    // a call runs lies close together (docs/PERFORMANCE.md, "Session 13").

    /// Never answer strangers: SIP scanners probe every open port.
    #[cold]
    fn on_stranger(&mut self, from: SocketAddr) {
        self.log_once(format!("untrusted {}", from.ip()), || {
            format!("ignoring SIP traffic from {from}: not the FRITZ!Box (add it to the trusted sources if it should be)")
        });
    }

    #[cold]
    fn on_malformed(&mut self, from: SocketAddr, data: &[u8], e: sip::ParseError) {
        let ua = self.ctx.cfg.user_agent.clone();
        match build::bad_request(data, &e.to_string(), &ua) {
            Some(resp) => {
                tracing::warn!("malformed request from {from} ({e}): answered 400");
                self.ctx.send(from, resp);
            }
            None => self.log_once(format!("malformed {from} {e}"), || {
                format!("dropping malformed message from {from}: {e}")
            }),
        }
    }

    /// RFC 3261 §8.1.1: a request without what a response needs, or (RFC
    /// 4475 §3.3.9) with two different Content-Lengths.
    #[cold]
    fn on_unusable(&mut self, from: SocketAddr, req: &Request, reason: String) {
        // An ACK is never answered (RFC 3261 §17), nor anything without
        // a Via to send the answer to (§18.2.2).
        if req.method != Method::Ack && req.headers.get(name::VIA).is_some() {
            let data = build::response_from_headers(
                &req.headers,
                StatusCode::BAD_REQUEST,
                &reason,
                None,
                &self.ctx.cfg.user_agent,
            )
            .finish(&[]);
            self.ctx.send(from, data);
        }
    }

    #[inline(never)]
    fn on_response(&mut self, now: Instant, r: Response) {
        let Ok(via) = r.headers.top_via() else { return };
        let Some(branch) = via.branch() else { return };
        if self.reg.on_response(&mut self.ctx, now, branch, &r) {
            return;
        }
        // Our BYE's To carries the caller's tag: the dialog's key.
        let key = dialog_key(
            &mut self.key,
            r.headers.call_id().unwrap_or_default(),
            r.headers.to_tag(),
        );
        if let Some(&id) = self.dialogs.get(key)
            && let Some(c) = self.calls.get_mut(&id)
            && c.on_response(&mut self.ctx, now, branch, &r)
        {
            self.touch(id);
            return;
        }
        tracing::debug!("stray response {} {} (branch {branch})", r.status, r.reason);
    }

    #[inline(never)]
    fn respond(
        &mut self,
        from: SocketAddr,
        req: &Request,
        status: StatusCode,
        extra: &[(&str, &str)],
    ) {
        let tag = self.ctx.token();
        self.respond_tagged(from, req, status, tag.as_str(), extra);
    }

    /// Answers a non-INVITE request and remembers the answer for its
    /// retransmissions.
    #[inline(never)]
    fn respond_tagged(
        &mut self,
        from: SocketAddr,
        req: &Request,
        status: StatusCode,
        tag: &str,
        extra: &[(&str, &str)],
    ) {
        let mut w = build::response(req, status, Some(tag), &self.ctx.cfg.user_agent);
        for (n, v) in extra {
            w.header(n, &[v]);
        }
        let data = w.finish(&[]);
        // Remember it so a retransmitted request gets the same answer.
        if let Ok(via) = req.headers.top_via()
            && let Some(b) = via.branch()
            && req.method != Method::Invite
        {
            // A flood of requests must not grow the cache without end.
            if self.answered.len() < MAX_ANSWERED {
                let key = (b.to_owned(), req.method.to_string());
                let until = self.now + TIMEOUT;
                if self
                    .answered
                    .insert(key.clone(), (data.clone(), until, from))
                    .is_none()
                {
                    self.answered_expiry.push_back((until, key));
                }
            }
        }
        self.ctx.send(from, data);
    }

    fn on_request(&mut self, now: Instant, from: SocketAddr, req: Request) {
        // RFC 3261 §8.1.1: without these no response can be formed or matched.
        let missing = ["Via", "From", "To", "Call-ID", "CSeq"]
            .into_iter()
            .find(|h| req.headers.get(h).is_none());
        // RFC 4475 §3.3.9: two different Content-Lengths cannot be framed.
        let unusable = match missing {
            Some(h) => Some(format!("Missing {h}")),
            None => req
                .headers
                .conflicting_lengths()
                .then(|| "Conflicting Content-Length".to_owned()),
        };
        if let Some(reason) = unusable {
            return self.on_unusable(from, &req, reason);
        }
        let branch = req
            .headers
            .top_via()
            .ok()
            .and_then(|v| v.branch())
            .unwrap_or_default();
        if req.method != Method::Ack
            && req.method != Method::Invite
            && let Some((data, _, to)) = self
                .answered
                .get(&(branch.to_owned(), req.method.to_string()))
        {
            let (data, to) = (data.clone(), *to);
            self.ctx.send(to, data);
            return;
        }
        let call_id = req.headers.call_id().unwrap_or_default();
        let (to_tag, from_tag) = (req.headers.to_tag(), req.headers.from_tag());
        let id = self
            .dialogs
            .get(dialog_key(&mut self.key, call_id, from_tag))
            .copied();
        let dialog = id
            .and_then(|id| self.calls.get_mut(&id))
            .filter(|c| c.matches_dialog(to_tag, from_tag));
        match (&req.method, dialog) {
            (Method::Invite, Some(c)) if to_tag.is_none() || c.is_same_invite(branch, &req) => {
                c.on_invite_retransmission(&mut self.ctx);
            }
            (Method::Invite, Some(c)) => c.on_reinvite(&mut self.ctx, from, &req),
            (Method::Invite, None) if to_tag.is_some() => {
                self.respond(from, &req, StatusCode::CALL_DOES_NOT_EXIST, &[])
            }
            (Method::Invite, None) => self.on_new_invite(now, from, req),
            (Method::Ack, Some(c)) => c.on_ack(&mut self.ctx, now),
            (Method::Ack, None) => {}
            (Method::Cancel, _) => {
                // RFC 3261 §9.2: CANCEL matches the INVITE by its branch, not by dialog.
                match id
                    .and_then(|id| self.calls.get(&id))
                    .filter(|c| c.is_same_invite(branch, &req))
                {
                    Some(c) => {
                        let (id, tag) = (c.id, c.local_tag);
                        self.respond_tagged(from, &req, StatusCode::OK, tag.as_str(), &[]);
                        // RFC 3326: "Reason: SIP;cause=200" — another phone answered.
                        let elsewhere = req
                            .headers
                            .get(name::REASON)
                            .is_some_and(|r| r.replace(' ', "").contains("cause=200"));
                        if let Some(c) = self.calls.get_mut(&id) {
                            c.on_cancel(&mut self.ctx, now, elsewhere);
                        }
                    }
                    None => self.respond(from, &req, StatusCode::CALL_DOES_NOT_EXIST, &[]),
                }
            }
            (Method::Bye, Some(c)) => {
                c.on_bye(&mut self.ctx, now);
                self.respond(from, &req, StatusCode::OK, &[]);
            }
            (Method::Options, d) if to_tag.is_none() || d.is_some() => {
                // The Box's keepalive (FRITZBOX.md): its interval, learnt.
                if to_tag.is_none() && from.ip() == self.ctx.cfg.registrar.ip() {
                    if let Some(gap) = self.last_options.map(|t| now.saturating_duration_since(t))
                        && gap >= MIN_KEEPALIVE
                    {
                        self.keepalive = Some(gap);
                    }
                    self.last_options = Some(now);
                }
                self.respond(
                    from,
                    &req,
                    StatusCode::OK,
                    &[("Allow", build::ALLOW), ("Accept", "application/sdp")],
                );
            }
            (Method::Info, Some(c)) => {
                c.on_info(&mut self.ctx, &req);
                self.respond(from, &req, StatusCode::OK, &[]);
            }
            (Method::Update | Method::Notify, Some(_)) => {
                self.respond(from, &req, StatusCode::OK, &[])
            }
            // RFC 3261 §12.2.2: a request in a dialog we do not know.
            (_, None) if to_tag.is_some() => {
                self.respond(from, &req, StatusCode::CALL_DOES_NOT_EXIST, &[])
            }
            // RFC 3261 §8.2.1: a method we do not support.
            _ => self.respond(
                from,
                &req,
                StatusCode::METHOD_NOT_ALLOWED,
                &[("Allow", build::ALLOW)],
            ),
        }
        if let Some(id) = id {
            self.touch(id);
        }
    }

    fn on_new_invite(&mut self, now: Instant, from: SocketAddr, req: Request) {
        // RFC 3261 §8.2.2.3: refuse extensions we do not support.
        if let Some(req_ext) = req.headers.get(name::REQUIRE) {
            let req_ext = req_ext.to_owned();
            self.respond(
                from,
                &req,
                StatusCode::BAD_EXTENSION,
                &[("Unsupported", &req_ext)],
            );
            return;
        }
        let caller = CallerId::from_request(&req);
        if self.active_calls() >= MAX_CALLS {
            self.log_once("max calls".into(), || {
                format!("{MAX_CALLS} calls in progress: refusing further INVITEs with 486 until some end")
            });
            self.respond(from, &req, StatusCode::BUSY_HERE, &[]);
            self.ctx.emit(Event::CallRefused { caller });
            return;
        }
        let id = CallId(self.next_call);
        self.next_call += 1;
        let tag = self.ctx.token();
        match Call::new(now, id, tag, from, req) {
            Ok(call) => {
                let key = dialog_key(&mut self.key, call.call_id(), call.remote_tag());
                self.dialogs.insert(key.to_owned(), id);
                self.calls.insert(id, call);
                self.touch(id);
                self.ctx.emit(Event::IncomingCall { call: id, caller });
                self.ctx.out.push_back(Queued::Trying(id));
            }
            Err(e) => tracing::warn!("INVITE from {from} not usable: {e}"),
        }
    }
}

#[cfg(test)]
mod tests;
