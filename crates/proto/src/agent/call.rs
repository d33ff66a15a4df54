//! One incoming call: the INVITE server transaction (RFC 3261 §17.2.1) and
//! the dialog it creates (§12, §13.3, §15). Its states are an enum holding
//! their own data, its timers a small table, and every timer's transition
//! is one arm of the `match` in [`Call::on_timeout`].

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rand::Rng;

use super::build::{self, ALLOW, Auth};
use super::ctx::Token;
use super::transaction::{T1, T2, T4, TIMEOUT};
use super::{CallId, CommandError, Ctx, Event, Media, Outcome};
use crate::sip::{
    Headers, Host, Method, NameAddr, NameAddrRef, Request, Response, SipUri, StatusCode, Uri, Via,
    name, sdp,
};

/// The longest a call may stay undecided, whatever its Expires says, so a
/// lost CANCEL cannot keep a call in memory for ever.
const MAX_RINGING: Duration = Duration::from_secs(600);

/// The call's timers, named as RFC 3261 §17 names their roles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Timer {
    /// §13.3.1: the INVITE's Expires (capped): answer 487 if undecided.
    Expiry,
    /// A delayed reject is due.
    Reject,
    /// Timer G (our final response) or E (our BYE): resend.
    Resend,
    /// Timer H (no ACK for a final response), 64·T1 without an ACK for our
    /// 200 (§13.3.1.4), or timer F (no answer to our BYE).
    GiveUp,
    /// Timer I: linger after the end to absorb retransmissions.
    Linger,
}

impl Timer {
    const ALL: [Timer; 5] = [
        Timer::Expiry,
        Timer::Reject,
        Timer::Resend,
        Timer::GiveUp,
        Timer::Linger,
    ];
}

/// One deadline per [`Timer`] (after quinn-proto's `TimerTable`).
#[derive(Debug, Default)]
struct TimerTable([Option<Instant>; 5]);

impl TimerTable {
    fn set(&mut self, t: Timer, at: Instant) {
        self.0[t as usize] = Some(at);
    }

    fn stop(&mut self, t: Timer) {
        self.0[t as usize] = None;
    }

    fn next(&self) -> Option<Instant> {
        self.0.iter().flatten().min().copied()
    }

    /// The earliest timer due at `now`, cleared.
    fn pop_expired(&mut self, now: Instant) -> Option<Timer> {
        let t = Timer::ALL
            .into_iter()
            .filter(|t| self.0[*t as usize].is_some_and(|at| at <= now))
            .min_by_key(|t| self.0[*t as usize])?;
        self.stop(t);
        Some(t)
    }
}

/// Our BYE, made but not sent yet.
#[derive(Debug)]
struct Bye {
    branch: String,
    dest: SocketAddr,
    data: Vec<u8>,
}

/// A message resent on a doubling schedule capped at T2 (§17.1.2.2, §17.2.1).
#[derive(Debug)]
struct Resend {
    /// What goes again; `None`: the last response (kept there once).
    data: Option<Vec<u8>>,
    to: SocketAddr,
    interval: Duration,
}

#[derive(Debug)]
enum State {
    /// The TU decides; `ringing` once 180 went out.
    Proceeding {
        ringing: bool,
        reject: Option<StatusCode>,
    },
    /// 200 OK sent and resent until the ACK; `hang_up` once asked to
    /// (RFC 3261 §15: no BYE before the ACK).
    Answered { hang_up: bool },
    /// ACK received: the call is up.
    Confirmed,
    /// A final failure response sent and resent until the ACK; `reported`
    /// when the end was told already (a CANCEL reports before the ACK).
    Rejected { status: StatusCode, reported: bool },
    /// Our BYE is in flight; `no_ack` when it ends a call whose 200 was
    /// never acknowledged.
    Terminating {
        branch: String,
        auth_tried: bool,
        no_ack: bool,
    },
    /// Over; kept until the linger timer to absorb retransmissions.
    Ended,
}

/// A lingering call's names, copied from the INVITE before its headers
/// go.
struct Ids {
    call_id: String,
    remote_tag: Option<String>,
    invite_branch: String,
}

pub(crate) struct Call {
    pub id: CallId,
    invite: Request,
    /// Where the INVITE came from; responses go back there (symmetric, as
    /// the Box sends from its SIP port).
    source: SocketAddr,
    pub local_tag: Token,
    /// What names the call once its INVITE's headers are dropped (see
    /// [`Call::end`]); until then they are read from the INVITE, whose
    /// parse keeps them.
    lingering: Option<Ids>,
    invite_cseq: u32,
    /// RFC 3261 §12.1.1: the route set of the dialog; its remote target is
    /// the INVITE's Contact (never refreshed: a re-INVITE keeps the session).
    route_set: Vec<NameAddr>,
    local_cseq: u32,
    /// What an INVITE retransmission gets again; `None` before anything
    /// was sent (then the agent's deferred 100 Trying is still due).
    last_response: Option<Vec<u8>>,
    resend: Option<Resend>,
    timers: TimerTable,
    state: State,
    answer_sdp: Vec<u8>,
    /// The BYE of a call hung up before its ACK, made once the 200 is out
    /// ([`Call::prepare_bye`]): the ACK's turn only sends it.
    bye: Option<Bye>,
    /// The deadline filed in the agent's timer queue.
    pub scheduled: Option<Instant>,
    /// Counted among the agent's active calls.
    pub counted_active: bool,
}

impl Call {
    /// Creates the call. Nothing is sent yet: a decision made before the
    /// agent's next output replaces the 100 Trying (RFC 3261 §17.2.1).
    pub fn new(
        now: Instant,
        id: CallId,
        local_tag: Token,
        source: SocketAddr,
        invite: Request,
    ) -> Result<Call, crate::sip::ParseError> {
        let cseq = invite.headers.cseq()?;
        // From and Contact were checked by the parser.
        invite.headers.top_via()?;
        // RFC 3261 §12.1.1: the UAS route set is the Record-Route list in order.
        let route_set = invite.headers.name_addrs("Record-Route")?;
        let mut timers = TimerTable::default();
        let ring_for = invite.headers.expires().map_or(MAX_RINGING, |s| {
            Duration::from_secs(s.into()).min(MAX_RINGING)
        });
        timers.set(Timer::Expiry, now + ring_for);
        Ok(Call {
            id,
            local_tag,
            lingering: None,
            invite_cseq: cseq.seq,
            route_set,
            local_cseq: cseq.seq,
            last_response: None,
            resend: None,
            timers,
            state: State::Proceeding {
                ringing: false,
                reject: None,
            },
            answer_sdp: Vec::new(),
            bye: None,
            scheduled: None,
            counted_active: false,
            source,
            invite,
        })
    }

    /// The Call-ID (RFC 3261 §8.1.1.4).
    pub fn call_id(&self) -> &str {
        match &self.lingering {
            Some(ids) => &ids.call_id,
            None => self.invite.headers.call_id().unwrap_or_default(),
        }
    }

    /// The caller's From tag (RFC 3261 §12.1.1: the dialog's remote tag).
    pub fn remote_tag(&self) -> Option<&str> {
        match &self.lingering {
            Some(ids) => ids.remote_tag.as_deref(),
            None => self.invite.headers.from_tag(),
        }
    }

    /// The INVITE's branch (RFC 3261 §17.2.3: what its retransmissions carry).
    fn invite_branch(&self) -> &str {
        let branch = match &self.lingering {
            Some(ids) => Some(ids.invite_branch.as_str()),
            None => self.invite.headers.top_via().ok().and_then(Via::branch),
        };
        branch.unwrap_or_default()
    }

    /// Whether an in-dialog request (or the INVITE's own retransmission)
    /// belongs to this call.
    pub fn matches_dialog(&self, to_tag: Option<&str>, from_tag: Option<&str>) -> bool {
        from_tag == self.remote_tag() && to_tag.is_none_or(|t| t == self.local_tag.as_str())
    }

    /// RFC 3261 §17.2.3: same top Via branch and CSeq number as our INVITE.
    pub fn is_same_invite(&self, branch: &str, req: &Request) -> bool {
        let same_cseq = req.headers.cseq().is_ok_and(|c| c.seq == self.invite_cseq);
        same_cseq && branch == self.invite_branch()
    }

    pub fn deadline(&self) -> Option<Instant> {
        self.timers.next()
    }

    pub fn is_gone(&self) -> bool {
        matches!(self.state, State::Ended) && self.timers.next().is_none()
    }

    /// Still undecided and nothing sent: the deferred 100 Trying is due.
    pub fn wants_trying(&self) -> bool {
        self.last_response.is_none() && matches!(self.state, State::Proceeding { .. })
    }

    /// The 100 Trying the agent deferred (the TU did not decide at once),
    /// and where it goes.
    pub fn trying(&mut self, ctx: &Ctx) -> (SocketAddr, Vec<u8>) {
        let data = build::response(&self.invite, StatusCode::TRYING, None, &ctx.cfg.user_agent)
            .finish(&[]);
        self.last_response = Some(data.clone());
        (self.source, data)
    }

    fn end(&mut self, ctx: &mut Ctx, now: Instant, outcome: Outcome) {
        if !matches!(self.state, State::Rejected { reported: true, .. }) {
            ctx.emit(Event::CallEnded {
                call: self.id,
                reason: outcome,
            });
        }
        self.state = State::Ended;
        self.resend = None;
        self.timers = TimerTable::default();
        // Linger T4 (like timers I and K, RFC 3261 §17) for stray INVITE
        // retransmissions and ACKs; retransmitted BYEs are answered from
        // the agent's response cache, which keeps them 64·T1.
        self.timers.set(Timer::Linger, now + T4);
        // From now on only the keys that match retransmissions and the last
        // response are needed: at hundreds of calls a second, thousands of
        // calls linger at once, so drop the rest (the INVITE, SDP, routes).
        self.lingering = Some(Ids {
            call_id: self.call_id().to_owned(),
            remote_tag: self.remote_tag().map(str::to_owned),
            invite_branch: self.invite_branch().to_owned(),
        });
        self.invite.headers = Headers::new();
        self.invite.body = Vec::new();
        self.answer_sdp = Vec::new();
        self.bye = None;
        self.route_set = Vec::new();
    }

    /// A response to `req` (our INVITE or a re-INVITE in the dialog) with
    /// our tag, and Contact, Allow and the SDP answer where they belong.
    fn response_to(&self, ctx: &Ctx, req: &Request, status: StatusCode) -> Vec<u8> {
        let mut w = build::response(
            req,
            status,
            Some(self.local_tag.as_str()),
            &ctx.cfg.user_agent,
        );
        if status != StatusCode::TRYING && status.0 < 300 {
            // RFC 3261 §12.1.1: a response that establishes the dialog
            // copies the Record-Route values in order.
            for rr in req.headers.get_all(name::RECORD_ROUTE) {
                w.header(name::RECORD_ROUTE, &[rr]);
            }
            w.header(name::CONTACT, &[&ctx.contact]);
        }
        let mut body: &[u8] = &[];
        if status == StatusCode::OK {
            w.header(name::ALLOW, &[ALLOW]);
            if !self.answer_sdp.is_empty() {
                w.header(name::CONTENT_TYPE, &["application/sdp"]);
                body = &self.answer_sdp;
            }
        }
        w.finish(body)
    }

    fn respond(&mut self, ctx: &mut Ctx, status: StatusCode) {
        let data = self.response_to(ctx, &self.invite, status);
        ctx.send(self.source, data.clone());
        self.last_response = Some(data);
    }

    /// Sends a final response and resends it (timer G) until the ACK or
    /// timer H (RFC 3261 §17.2.1).
    fn respond_final(&mut self, ctx: &mut Ctx, now: Instant, status: StatusCode) {
        self.respond(ctx, status);
        self.start_resending(now, None, self.source);
        self.timers.stop(Timer::Expiry);
        self.timers.stop(Timer::Reject);
    }

    fn start_resending(&mut self, now: Instant, data: Option<Vec<u8>>, to: SocketAddr) {
        self.resend = Some(Resend {
            data,
            to,
            interval: T1,
        });
        self.timers.set(Timer::Resend, now + T1);
        self.timers.set(Timer::GiveUp, now + TIMEOUT);
    }

    /// RFC 3261 §17.2.1: a retransmitted INVITE gets the last response
    /// again, never a second decision.
    pub fn on_invite_retransmission(&mut self, ctx: &mut Ctx) {
        if let Some(data) = &self.last_response {
            ctx.send(self.source, data.clone());
        } else {
            let (to, data) = self.trying(ctx);
            ctx.send(to, data);
        }
    }

    /// A re-INVITE in the dialog (e.g. a session-timer refresh, RFC 4028):
    /// the session stays as it is.
    pub fn on_reinvite(&mut self, ctx: &mut Ctx, from: SocketAddr, req: &Request) {
        let status = match self.state {
            State::Confirmed => StatusCode::OK,
            // RFC 3261 §14.2: an earlier INVITE is still pending.
            State::Proceeding { .. } | State::Answered { .. } => StatusCode::REQUEST_PENDING,
            _ => StatusCode::CALL_DOES_NOT_EXIST,
        };
        let data = self.response_to(ctx, req, status);
        ctx.send(from, data);
    }

    pub fn ring(&mut self, ctx: &mut Ctx, _now: Instant) -> Result<(), CommandError> {
        let State::Proceeding { ringing, .. } = &mut self.state else {
            return Err(CommandError::WrongState(self.id, "ringing"));
        };
        if !*ringing {
            *ringing = true;
            self.respond(ctx, StatusCode::RINGING);
        }
        Ok(())
    }

    /// Answers. With `media_port` (a socket the driver bound for this
    /// call) and an offer with G.711 at a usable address, the answer is
    /// sendrecv at that port and says where to send audio; otherwise it is
    /// the receive-only answer of a call that is hung up at once.
    pub fn answer(
        &mut self,
        ctx: &mut Ctx,
        now: Instant,
        media_port: Option<u16>,
    ) -> Result<Option<Media>, CommandError> {
        if !matches!(self.state, State::Proceeding { .. }) {
            return Err(CommandError::WrongState(self.id, "answered"));
        }
        let offer = sdp::offer(&self.invite.body);
        let session = ctx.rng.random::<u32>().into();
        let media = match (media_port, offer) {
            (Some(port), Some(o)) => o.codec.zip(o.remote()).map(|(codec, remote)| {
                (
                    port,
                    Media {
                        remote,
                        codec,
                        telephone_event: o.telephone_event,
                    },
                )
            }),
            _ => None,
        };
        self.answer_sdp = match (&media, offer.and_then(|o| o.codec)) {
            (Some((port, m)), _) => sdp::answer(
                &ctx.media,
                *port,
                session,
                &[m.codec],
                sdp::Mode::SendRecv {
                    telephone_event: m.telephone_event,
                },
            ),
            (None, Some(c)) => sdp::answer(
                &ctx.media,
                ctx.cfg.rtp_port,
                session,
                &[c],
                sdp::Mode::RecvOnly,
            ),
            // No offer: our 200 carries the offer (RFC 3264 §5).
            (None, None) if self.invite.body.is_empty() => sdp::answer(
                &ctx.media,
                ctx.cfg.rtp_port,
                session,
                &[sdp::PCMA, sdp::PCMU],
                sdp::Mode::RecvOnly,
            ),
            // An offer without G.711: answer without SDP, which the Box accepts (FRITZBOX.md).
            (None, None) => Vec::new(),
        };
        // The offer was read; the INVITE's body is not needed any more.
        self.invite.body = Vec::new();
        self.respond_final(ctx, now, StatusCode::OK);
        self.state = State::Answered { hang_up: false };
        Ok(media.map(|(_, m)| m))
    }

    /// RFC 2976 INFO in the dialog: a key as `application/dtmf-relay`
    /// (the Box's fallback to RFC 4733) becomes [`Event::Dtmf`].
    pub fn on_info(&mut self, ctx: &mut Ctx, req: &Request) {
        let relay = req
            .headers
            .get(name::CONTENT_TYPE)
            .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/dtmf-relay"));
        if relay
            && matches!(self.state, State::Answered { .. } | State::Confirmed)
            && let Some(digit) = crate::sip::dtmf::relay(&req.body)
        {
            ctx.emit(Event::Dtmf {
                call: self.id,
                digit,
            });
        }
    }

    pub fn reject(
        &mut self,
        ctx: &mut Ctx,
        now: Instant,
        status: StatusCode,
        delay: Option<Duration>,
    ) -> Result<(), CommandError> {
        if !matches!(self.state, State::Proceeding { .. }) {
            return Err(CommandError::WrongState(self.id, "rejected"));
        }
        match delay {
            Some(d) if !d.is_zero() => {
                self.ring(ctx, now)?;
                if let State::Proceeding { reject, .. } = &mut self.state {
                    *reject = Some(status);
                }
                self.timers.set(Timer::Reject, now + d);
            }
            _ => self.reject_now(ctx, now, status, false),
        }
        Ok(())
    }

    fn reject_now(&mut self, ctx: &mut Ctx, now: Instant, status: StatusCode, reported: bool) {
        self.respond_final(ctx, now, status);
        self.state = State::Rejected { status, reported };
    }

    pub fn hang_up(&mut self, ctx: &mut Ctx, now: Instant) -> Result<(), CommandError> {
        match &mut self.state {
            State::Proceeding { .. } => self.reject_now(ctx, now, StatusCode::BUSY_HERE, false),
            // RFC 3261 §15: the callee must not send BYE before the ACK.
            State::Answered { hang_up } => {
                *hang_up = true;
                ctx.prepare_bye(self.id);
            }
            State::Confirmed => self.send_bye(ctx, now, None, false),
            // Already ending or over: nothing left to do.
            State::Rejected { .. } | State::Terminating { .. } | State::Ended => {}
        }
        Ok(())
    }

    /// Ends the call because the phone stops: a ringing call gets 480
    /// (the Box rings the other phones on), an answered one its BYE.
    pub fn shut_down(&mut self, ctx: &mut Ctx, now: Instant) {
        match self.state {
            State::Proceeding { .. } => {
                self.reject_now(ctx, now, StatusCode::TEMPORARILY_UNAVAILABLE, false)
            }
            _ => {
                let _ = self.hang_up(ctx, now);
            }
        }
    }

    /// Whether the call still needs the network (not yet over or rejected).
    pub fn is_active(&self) -> bool {
        !matches!(self.state, State::Ended | State::Rejected { .. })
    }

    pub fn on_ack(&mut self, ctx: &mut Ctx, now: Instant) {
        match self.state {
            State::Answered { hang_up } => {
                self.resend = None;
                self.timers.stop(Timer::Resend);
                self.timers.stop(Timer::GiveUp);
                self.state = State::Confirmed;
                // The BYE first: the event wakes no one before it is out.
                if hang_up {
                    self.send_bye(ctx, now, None, false);
                }
                ctx.emit(Event::CallAnswered { call: self.id });
            }
            State::Rejected { status, .. } => self.end(ctx, now, reason_for(status)),
            _ => {}
        }
    }

    /// CANCEL matched our INVITE; the caller (Agent) already answered 200.
    pub fn on_cancel(&mut self, ctx: &mut Ctx, now: Instant, answered_elsewhere: bool) {
        if matches!(self.state, State::Proceeding { .. }) {
            // RFC 3261 §9.2: the INVITE gets 487 Request Terminated.
            self.reject_now(ctx, now, StatusCode::REQUEST_TERMINATED, true);
            ctx.emit(Event::CallEnded {
                call: self.id,
                reason: if answered_elsewhere {
                    Outcome::AnsweredElsewhere
                } else {
                    Outcome::Cancelled
                },
            });
        }
    }

    pub fn on_bye(&mut self, ctx: &mut Ctx, now: Instant) {
        self.end(ctx, now, Outcome::RemoteHungUp);
    }

    /// Makes the BYE of a call hung up before its ACK, after the 200 went
    /// out, so that the ACK's turn only has to send it.
    pub fn prepare_bye(&mut self, ctx: &mut Ctx) {
        if matches!(self.state, State::Answered { hang_up: true }) && self.bye.is_none() {
            self.bye = Some(self.make_bye(ctx, None));
        }
    }

    /// Sends our BYE (the one made already, unless it needs credentials)
    /// and resends it until it is answered.
    fn send_bye(&mut self, ctx: &mut Ctx, now: Instant, auth: Option<&Auth>, no_ack: bool) {
        let bye = match self.bye.take() {
            Some(bye) if auth.is_none() => bye,
            _ => self.make_bye(ctx, auth),
        };
        ctx.send(bye.dest, bye.data.clone());
        self.start_resending(now, Some(bye.data), bye.dest);
        self.state = State::Terminating {
            branch: bye.branch,
            auth_tried: auth.is_some(),
            no_ack,
        };
    }

    /// BYE (RFC 3261 §15.1.1): From/To swapped, our next CSeq, to the
    /// remote target through the route set.
    fn make_bye(&mut self, ctx: &mut Ctx, auth: Option<&Auth>) -> Bye {
        self.local_cseq += 1;
        let branch = ctx.branch();
        // RFC 3261 §12.1.1: the remote target is the INVITE's Contact.
        let h = &self.invite.headers;
        let sip_of = |n: NameAddrRef| n.uri.as_sip().map(|u| u.into_owned());
        let target = (h.contact_ref().ok().flatten().and_then(sip_of))
            .or_else(|| h.from_ref().ok().and_then(sip_of))
            .unwrap_or_else(|| SipUri::new(Host::Ip(self.source.ip()), Some(self.source.port())));
        let to = self.invite.headers.get(name::TO).unwrap_or_default();
        let tagged = h.to_tag().is_some();
        let from = if tagged {
            to.to_owned()
        } else {
            build::with_tag(to, self.local_tag.as_str())
        };
        let mut req = build::request(
            ctx,
            build::Dialog {
                method: Method::Bye,
                uri: Uri::Sip(target.clone()),
                branch: &branch,
                from: &from,
                to: self.invite.headers.get(name::FROM).unwrap_or_default(),
                call_id: self.call_id(),
                cseq: self.local_cseq,
                route: &self.route_set,
            },
        );
        if let Some(auth) = auth {
            build::authorize(ctx, &mut req, auth, 1);
        }
        Bye {
            dest: self.next_hop(&target),
            data: req.to_bytes(),
            branch,
        }
    }

    /// Where the BYE goes: the first loose route, else the remote target;
    /// a host name we cannot resolve here means the Box itself.
    fn next_hop(&self, target: &SipUri) -> SocketAddr {
        let uri = match self.route_set.first().map(|r| &r.uri) {
            Some(Uri::Sip(u)) => u,
            _ => target,
        };
        match uri.host.ip() {
            Some(ip) => SocketAddr::new(ip, uri.port.unwrap_or(5060)),
            None => self.source,
        }
    }

    pub fn on_response(&mut self, ctx: &mut Ctx, now: Instant, branch: &str, r: &Response) -> bool {
        let State::Terminating {
            branch: ours,
            auth_tried,
            no_ack,
        } = &self.state
        else {
            return false;
        };
        if ours != branch {
            return false;
        }
        let (auth_tried, no_ack) = (*auth_tried, *no_ack);
        let done = if no_ack {
            Outcome::NoAck
        } else {
            Outcome::Terminated
        };
        match r.status {
            // §17.1.2.2: after a provisional response, resend every T2.
            s if s.is_provisional() => {
                if let Some(resend) = &mut self.resend {
                    resend.interval = T2;
                }
                self.timers.set(Timer::Resend, now + T2);
            }
            s if s.is_success() => self.end(ctx, now, done),
            StatusCode::UNAUTHORIZED | StatusCode::PROXY_AUTHENTICATION_REQUIRED if !auth_tried => {
                match build::challenge(r) {
                    Ok(auth) => self.send_bye(ctx, now, Some(&auth), no_ack),
                    Err(_) => self.end(ctx, now, Outcome::ByeFailed(Some(r.status))),
                }
            }
            // RFC 3261 §15.1.1: any final response ends the dialog anyway.
            s => {
                tracing::warn!(
                    "{}: the Box answered our BYE with {s} {}",
                    self.id,
                    r.reason
                );
                self.end(ctx, now, Outcome::ByeFailed(Some(s)))
            }
        }
        true
    }

    /// Every timer's transition, in one place.
    pub fn on_timeout(&mut self, ctx: &mut Ctx, now: Instant) {
        while let Some(timer) = self.timers.pop_expired(now) {
            match (timer, &self.state) {
                (Timer::Expiry, State::Proceeding { .. }) => {
                    tracing::warn!(
                        "{}: nobody decided before the INVITE expired; answering 487",
                        self.id
                    );
                    self.reject_now(ctx, now, StatusCode::REQUEST_TERMINATED, true);
                    ctx.emit(Event::CallEnded {
                        call: self.id,
                        reason: Outcome::Expired,
                    });
                }
                (
                    Timer::Reject,
                    State::Proceeding {
                        reject: Some(s), ..
                    },
                ) => {
                    let s = *s;
                    self.reject_now(ctx, now, s, false);
                }
                (Timer::Resend, _) => {
                    if let Some(r) = &mut self.resend
                        && let Some(data) = r.data.as_ref().or(self.last_response.as_ref())
                    {
                        ctx.send(r.to, data.clone());
                        r.interval = (r.interval * 2).min(T2);
                        self.timers.set(Timer::Resend, now + r.interval);
                    }
                }
                // RFC 3261 §13.3.1.4: no ACK within 64·T1: end the dialog with BYE.
                (Timer::GiveUp, State::Answered { .. }) => {
                    tracing::warn!(
                        "{}: no ACK for our 200 OK within 32 s; sending BYE",
                        self.id
                    );
                    self.send_bye(ctx, now, None, true);
                }
                // Timer H: the ACK never came; the call is over regardless.
                (Timer::GiveUp, State::Rejected { status, .. }) => {
                    let s = *status;
                    self.end(ctx, now, reason_for(s));
                }
                // Timer F.
                (Timer::GiveUp, State::Terminating { .. }) => {
                    tracing::warn!("{}: the Box never answered our BYE", self.id);
                    self.end(ctx, now, Outcome::ByeFailed(None));
                }
                // Linger over: `is_gone` now holds. A timer that no longer
                // fits the state has nothing to do.
                _ => {}
            }
        }
    }
}

fn reason_for(status: StatusCode) -> Outcome {
    if status == StatusCode::REQUEST_TERMINATED {
        Outcome::Cancelled
    } else {
        Outcome::Rejected(status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timer_table_pops_the_earliest_due() {
        let t0 = Instant::now();
        let mut t = TimerTable::default();
        t.set(Timer::GiveUp, t0 + Duration::from_secs(2));
        t.set(Timer::Resend, t0 + Duration::from_secs(1));
        assert_eq!(t.next(), Some(t0 + Duration::from_secs(1)));
        assert_eq!(t.pop_expired(t0), None);
        let later = t0 + Duration::from_secs(3);
        assert_eq!(t.pop_expired(later), Some(Timer::Resend));
        assert_eq!(t.pop_expired(later), Some(Timer::GiveUp));
        assert_eq!(t.pop_expired(later), None);
        assert_eq!(t.next(), None);
    }
}
