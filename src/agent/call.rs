//! One incoming call: the INVITE server transaction (RFC 3261 §17.2.1) and
//! the dialog it creates (§12, §13.3, §15). Its states are an enum and
//! every transition happens in one of the `on_*`/command methods below.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rand::Rng;

use super::build::{self, ALLOW};
use super::transaction::{ClientTx, Fire, Retransmit, T4};
use super::{CallId, CommandError, Ctx, Event};
use crate::sip::digest::{self, Challenge};
use crate::sip::{Headers, Host, Method, NameAddr, Request, Response, SipUri, Uri, sdp};

/// How a call ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndReason {
    /// We hung up and the Box confirmed our BYE.
    HungUp,
    /// The Box (the caller) sent BYE.
    RemoteHungUp,
    /// The caller gave up before we answered (CANCEL).
    Cancelled,
    /// Another phone took the call: CANCEL with `Reason: SIP;cause=200`
    /// (RFC 3326).
    AnsweredElsewhere,
    /// We declined with this status.
    Rejected(u16),
    /// Our 200 OK was never acknowledged (RFC 3261 §13.3.1.4); BYE sent.
    NoAck,
    /// Our BYE got no 2xx: the status, or `None` when unanswered.
    ByeFailed(Option<u16>),
    /// Nobody decided before the INVITE's Expires ran out (487 sent).
    Expired,
}

/// The longest a call may stay undecided, whatever its Expires says, so a
/// lost CANCEL cannot keep a call in memory for ever.
const MAX_RINGING: Duration = Duration::from_secs(600);

#[derive(Debug)]
enum State {
    /// 100 (and maybe 180) sent; the application decides.
    Proceeding,
    /// 200 OK sent and retransmitted (timer G) until the ACK.
    Answered { retransmit: Retransmit },
    /// ACK received: the call is up.
    Confirmed,
    /// A failure response sent and retransmitted until the ACK (timer G/H).
    Rejected { retransmit: Retransmit },
    /// Our BYE is in flight (timer E/F).
    Terminating { tx: ClientTx, auth_tried: bool },
    /// Over; kept until `until` to absorb retransmissions (timer I/J).
    Ended { until: Instant },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pending {
    None,
    /// hang_up() before the ACK: BYE once it arrives (or timer H fires).
    HangUpAfterAck,
    /// reject() with a delay.
    RejectAt(Instant, u16),
}

pub(crate) struct Call {
    pub id: CallId,
    invite: Request,
    /// Where the INVITE came from; responses go back there (symmetric, as
    /// the Box sends from its SIP port).
    source: SocketAddr,
    call_id: String,
    pub local_tag: String,
    remote_tag: Option<String>,
    invite_branch: String,
    invite_cseq: u32,
    /// RFC 3261 §12.1.1: the remote target and route set of the dialog.
    remote_target: Option<SipUri>,
    route_set: Vec<NameAddr>,
    local_cseq: u32,
    last_response: Vec<u8>,
    ringing_sent: bool,
    /// RFC 3261 §13.3.1: without a final response by then, answer 487.
    ring_deadline: Instant,
    pending: Pending,
    state: State,
    answer_sdp: Vec<u8>,
    /// CallEnded was emitted (a cancelled call reports before its ACK).
    reported_end: bool,
}

impl Call {
    /// Creates the call and sends 100 Trying at once: the Box retransmits
    /// its INVITE until it sees a provisional response (FRITZBOX.md).
    pub fn new(
        ctx: &mut Ctx,
        now: Instant,
        id: CallId,
        source: SocketAddr,
        invite: Request,
    ) -> Result<Call, crate::sip::ParseError> {
        let cseq = invite.headers.cseq()?;
        let via = invite.headers.top_via()?;
        let from = invite.headers.from()?;
        let remote_target = invite
            .headers
            .name_addrs("Contact")?
            .into_iter()
            .next()
            .and_then(|c| c.uri.as_sip().cloned());
        // RFC 3261 §12.1.1: the UAS route set is the Record-Route list in order.
        let route_set = invite.headers.name_addrs("Record-Route")?;
        let trying = build::response(&invite, 100, None, &ctx.cfg.user_agent).to_bytes();
        ctx.send(source, trying.clone());
        Ok(Call {
            id,
            call_id: invite.headers.call_id().unwrap_or_default().to_owned(),
            local_tag: ctx.token(),
            remote_tag: from.tag().map(str::to_owned),
            invite_branch: via.branch().unwrap_or_default().to_owned(),
            invite_cseq: cseq.seq,
            remote_target,
            route_set,
            local_cseq: cseq.seq,
            last_response: trying,
            ringing_sent: false,
            ring_deadline: now
                + invite.headers.expires().map_or(MAX_RINGING, |s| {
                    Duration::from_secs(s.into()).min(MAX_RINGING)
                }),
            pending: Pending::None,
            state: State::Proceeding,
            answer_sdp: Vec::new(),
            reported_end: false,
            source,
            invite,
        })
    }

    /// Whether an in-dialog request (or the INVITE's own retransmission)
    /// belongs to this call.
    pub fn matches_dialog(
        &self,
        call_id: &str,
        to_tag: Option<&str>,
        from_tag: Option<&str>,
    ) -> bool {
        self.call_id == call_id
            && from_tag == self.remote_tag.as_deref()
            && to_tag.is_none_or(|t| t == self.local_tag)
    }

    /// RFC 3261 §17.2.3: same top Via branch and CSeq number as our INVITE.
    pub fn is_same_invite(&self, branch: &str, req: &Request) -> bool {
        let same_cseq = req.headers.cseq().is_ok_and(|c| c.seq == self.invite_cseq);
        let same_call = req.headers.call_id() == Some(self.call_id.as_str());
        same_call && same_cseq && branch == self.invite_branch
    }

    pub fn deadline(&self) -> Option<Instant> {
        let state = match &self.state {
            State::Answered { retransmit } | State::Rejected { retransmit } => {
                Some(retransmit.deadline())
            }
            State::Terminating { tx, .. } => Some(tx.timer.deadline()),
            State::Ended { until } => Some(*until),
            State::Proceeding => Some(self.ring_deadline),
            State::Confirmed => None,
        };
        match self.pending {
            Pending::RejectAt(t, _) => Some(state.map_or(t, |s| s.min(t))),
            _ => state,
        }
    }

    pub fn is_gone(&self, now: Instant) -> bool {
        matches!(self.state, State::Ended { until } if until <= now)
    }

    fn end(&mut self, ctx: &mut Ctx, now: Instant, reason: EndReason) {
        self.report_end(ctx, reason);
        self.pending = Pending::None;
        // Linger T4 (like timers I and K, RFC 3261 §17) for stray INVITE
        // retransmissions and ACKs; retransmitted BYEs are answered from
        // the agent's response cache, which keeps them 64·T1.
        self.state = State::Ended { until: now + T4 };
        // From now on only the keys that match retransmissions and the last
        // response are needed: at hundreds of calls a second, thousands of
        // calls linger at once, so drop the rest (the INVITE, SDP, routes).
        self.invite.headers = Headers::new();
        self.invite.body = Vec::new();
        self.answer_sdp = Vec::new();
        self.route_set = Vec::new();
        self.remote_target = None;
    }

    fn report_end(&mut self, ctx: &mut Ctx, reason: EndReason) {
        if !self.reported_end {
            self.reported_end = true;
            ctx.emit(Event::CallEnded {
                call: self.id,
                reason,
            });
        }
    }

    fn respond(&mut self, ctx: &mut Ctx, status: u16) -> Vec<u8> {
        let mut r = build::response(
            &self.invite,
            status,
            Some(&self.local_tag),
            &ctx.cfg.user_agent,
        );
        if (101..300).contains(&status) {
            r.headers
                .push("Contact", format!("<{}>", ctx.cfg.contact_uri()));
        }
        if status == 200 {
            r.headers.push("Allow", ALLOW);
            if !self.answer_sdp.is_empty() {
                r.headers.push("Content-Type", "application/sdp");
                r.body = self.answer_sdp.clone();
            }
        }
        let data = r.to_bytes();
        ctx.send(self.source, data.clone());
        self.last_response = data.clone();
        data
    }

    /// RFC 3261 §17.2.1: a retransmitted INVITE gets the last response
    /// again, never a second decision.
    pub fn on_invite_retransmission(&mut self, ctx: &mut Ctx) {
        ctx.send(self.source, self.last_response.clone());
    }

    /// A re-INVITE in the confirmed dialog (e.g. a session-timer refresh).
    pub fn reinvite_answer(&self) -> (u16, Vec<u8>) {
        match self.state {
            State::Confirmed => (200, self.answer_sdp.clone()),
            // RFC 3261 §14.2: an earlier INVITE is still pending.
            State::Proceeding | State::Answered { .. } => (491, Vec::new()),
            _ => (481, Vec::new()),
        }
    }

    pub fn ring(&mut self, ctx: &mut Ctx, _now: Instant) -> Result<(), CommandError> {
        if !matches!(self.state, State::Proceeding) {
            return Err(CommandError::WrongState(self.id, "ringing"));
        }
        if !self.ringing_sent {
            self.ringing_sent = true;
            self.respond(ctx, 180);
        }
        Ok(())
    }

    pub fn answer(&mut self, ctx: &mut Ctx, now: Instant) -> Result<(), CommandError> {
        if !matches!(self.state, State::Proceeding) {
            return Err(CommandError::WrongState(self.id, "answered"));
        }
        let ip = ctx.cfg.contact.ip();
        let offer = sdp::choose_codec(&self.invite.body);
        let codecs = match offer {
            Some(c) => vec![c],
            // No offer: our 200 carries the offer (RFC 3264 §5).
            None if self.invite.body.is_empty() => vec![sdp::PCMA, sdp::PCMU],
            // An offer without G.711: answer without SDP, which the Box accepts (FRITZBOX.md).
            None => vec![],
        };
        if !codecs.is_empty() {
            self.answer_sdp = sdp::answer(
                ip,
                ctx.cfg.rtp_port,
                ctx.rng.random::<u32>().into(),
                &codecs,
            );
        }
        self.pending = Pending::None;
        let data = self.respond(ctx, 200);
        self.state = State::Answered {
            retransmit: Retransmit::new(now, data),
        };
        Ok(())
    }

    pub fn reject(
        &mut self,
        ctx: &mut Ctx,
        now: Instant,
        status: u16,
        delay: Option<Duration>,
    ) -> Result<(), CommandError> {
        if !matches!(self.state, State::Proceeding) {
            return Err(CommandError::WrongState(self.id, "rejected"));
        }
        match delay {
            Some(d) if !d.is_zero() => {
                self.ring(ctx, now)?;
                self.pending = Pending::RejectAt(now + d, status);
            }
            _ => self.send_final_failure(ctx, now, status),
        }
        Ok(())
    }

    fn send_final_failure(&mut self, ctx: &mut Ctx, now: Instant, status: u16) {
        self.pending = Pending::None;
        let data = self.respond(ctx, status);
        self.state = State::Rejected {
            retransmit: Retransmit::new(now, data),
        };
    }

    pub fn hang_up(&mut self, ctx: &mut Ctx, now: Instant) -> Result<(), CommandError> {
        match self.state {
            State::Proceeding => {
                self.send_final_failure(ctx, now, 486);
                Ok(())
            }
            // RFC 3261 §15: the callee must not send BYE before the ACK.
            State::Answered { .. } => {
                self.pending = Pending::HangUpAfterAck;
                Ok(())
            }
            State::Confirmed => {
                self.send_bye(ctx, now, None);
                Ok(())
            }
            // Already ending or over: nothing left to do.
            State::Rejected { .. } | State::Terminating { .. } | State::Ended { .. } => Ok(()),
        }
    }

    pub fn on_ack(&mut self, ctx: &mut Ctx, now: Instant) {
        match self.state {
            State::Answered { .. } => {
                self.state = State::Confirmed;
                ctx.emit(Event::CallAnswered { call: self.id });
                if self.pending == Pending::HangUpAfterAck {
                    self.send_bye(ctx, now, None);
                }
            }
            State::Rejected { .. } => {
                let status = self.final_status();
                self.end(ctx, now, reason_for(status));
            }
            _ => {}
        }
    }

    fn final_status(&self) -> u16 {
        // "SIP/2.0 486 …": the status of the last response we sent.
        std::str::from_utf8(self.last_response.get(8..11).unwrap_or_default())
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
    }

    /// CANCEL matched our INVITE; the caller (Agent) already answered 200.
    pub fn on_cancel(&mut self, ctx: &mut Ctx, now: Instant, answered_elsewhere: bool) {
        if matches!(self.state, State::Proceeding) {
            // RFC 3261 §9.2: the INVITE gets 487 Request Terminated.
            self.send_final_failure(ctx, now, 487);
            let reason = if answered_elsewhere {
                EndReason::AnsweredElsewhere
            } else {
                EndReason::Cancelled
            };
            self.report_end(ctx, reason);
        }
    }

    pub fn on_bye(&mut self, ctx: &mut Ctx, now: Instant) {
        self.end(ctx, now, EndReason::RemoteHungUp);
    }

    /// BYE (RFC 3261 §15.1.1): From/To swapped, our next CSeq, to the
    /// remote target through the route set.
    fn send_bye(&mut self, ctx: &mut Ctx, now: Instant, auth: Option<(&Challenge, bool)>) {
        self.local_cseq += 1;
        let branch = ctx.branch();
        let target = self.remote_target.clone().unwrap_or_else(|| {
            match self.invite.headers.from().map(|f| f.uri) {
                Ok(Uri::Sip(u)) => u,
                _ => SipUri::new(Host::Ip(self.source.ip()), Some(self.source.port())),
            }
        });
        let mut req = Request::new(Method::Bye, Uri::Sip(target.clone()));
        let h = &mut req.headers;
        h.push("Via", ctx.cfg.via(&branch));
        h.push("Max-Forwards", "70");
        for r in &self.route_set {
            h.push("Route", r.to_string());
        }
        let to = self.invite.headers.get("To").unwrap_or_default();
        let local = NameAddr::parse(to)
            .map(|n| n.tag().is_some())
            .unwrap_or(false);
        h.push(
            "From",
            if local {
                to.to_owned()
            } else {
                format!("{to};tag={}", self.local_tag)
            },
        );
        h.push("To", self.invite.headers.get("From").unwrap_or_default());
        h.push("Call-ID", &self.call_id);
        h.push("CSeq", format!("{} BYE", self.local_cseq));
        h.push("User-Agent", &ctx.cfg.user_agent);
        if let Some((ch, proxy)) = auth {
            let cnonce = format!("{:08x}", ctx.rng.random::<u32>());
            let v = digest::authorization(
                ch,
                &ctx.cfg.user,
                &ctx.cfg.password,
                "BYE",
                &target.to_string(),
                1,
                &cnonce,
            );
            h.push(
                if proxy {
                    "Proxy-Authorization"
                } else {
                    "Authorization"
                },
                v,
            );
        }
        let dest = self.next_hop(&target);
        let data = req.to_bytes();
        ctx.send(dest, data.clone());
        self.pending = Pending::None;
        self.state = State::Terminating {
            tx: ClientTx {
                branch,
                cseq: self.local_cseq,
                dest,
                timer: Retransmit::new(now, data),
            },
            auth_tried: auth.is_some(),
        };
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
        let State::Terminating { tx, auth_tried } = &mut self.state else {
            return false;
        };
        if tx.branch != branch {
            return false;
        }
        match r.status {
            100..=199 => tx.timer.provisional(now),
            200..=299 => self.end(ctx, now, EndReason::HungUp),
            401 | 407 if !*auth_tried => {
                let header = if r.status == 401 {
                    "WWW-Authenticate"
                } else {
                    "Proxy-Authenticate"
                };
                match r.headers.get(header).map(Challenge::parse) {
                    Some(Ok(ch)) => self.send_bye(ctx, now, Some((&ch, r.status == 407))),
                    _ => self.end(ctx, now, EndReason::ByeFailed(Some(r.status))),
                }
            }
            // RFC 3261 §15.1.1: any final response ends the dialog anyway.
            s => {
                tracing::warn!(
                    "{}: the Box answered our BYE with {s} {}",
                    self.id,
                    r.reason
                );
                self.end(ctx, now, EndReason::ByeFailed(Some(s)))
            }
        }
        true
    }

    pub fn on_timeout(&mut self, ctx: &mut Ctx, now: Instant) {
        if let Pending::RejectAt(at, status) = self.pending
            && at <= now
        {
            self.send_final_failure(ctx, now, status);
        }
        if matches!(self.state, State::Proceeding) && now >= self.ring_deadline {
            tracing::warn!(
                "{}: nobody decided before the INVITE expired; answering 487",
                self.id
            );
            self.send_final_failure(ctx, now, 487);
            self.report_end(ctx, EndReason::Expired);
        }
        match &mut self.state {
            State::Answered { retransmit } => match retransmit.poll(now) {
                Fire::Resend => ctx.send(self.source, retransmit.data.clone()),
                // RFC 3261 §13.3.1.4: no ACK within 64·T1 — end the dialog with BYE.
                Fire::GaveUp => {
                    tracing::warn!(
                        "{}: no ACK for our 200 OK within 32 s; sending BYE",
                        self.id
                    );
                    self.send_bye(ctx, now, None);
                }
                Fire::Nothing => {}
            },
            State::Rejected { retransmit } => match retransmit.poll(now) {
                Fire::Resend => ctx.send(self.source, retransmit.data.clone()),
                // Timer H: the ACK never came; the call is over regardless.
                Fire::GaveUp => {
                    let status = self.final_status();
                    self.end(ctx, now, reason_for(status));
                }
                Fire::Nothing => {}
            },
            State::Terminating { tx, .. } => match tx.timer.poll(now) {
                Fire::Resend => ctx.send(tx.dest, tx.timer.data.clone()),
                Fire::GaveUp => {
                    tracing::warn!("{}: the Box never answered our BYE", self.id);
                    self.end(ctx, now, EndReason::ByeFailed(None));
                }
                Fire::Nothing => {}
            },
            _ => {}
        }
    }
}

fn reason_for(status: u16) -> EndReason {
    if status == 487 {
        EndReason::Cancelled
    } else {
        EndReason::Rejected(status)
    }
}
