//! The caller half of the emulated Box: rings a registered phone the way
//! the FRITZ!Box does (FRITZBOX.md, "INVITE to the phone"), as the UAC of
//! RFC 3261 §17.1.1, and reports what the phone did with the call.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rand::Rng;
use tokio::sync::{mpsc, oneshot};

use super::media::{Answer, PeerCmd};

use super::registrar::REALM;
use super::{Fritzbox, Report, T1, TIMEOUT, next_interval};
use minisip4fb_proto::sip::{self, Method, Request, Response, digest};

/// How early a 480/486 may seem before `min_decline_after_ringing` and
/// still pass: the emulator's own scheduling, not the phone's timer.
const STAMP_SLACK: Duration = Duration::from_millis(50);

/// The Box's audio offer in its order (FRITZBOX.md): G.722, PCMA, PCMU,
/// AVM's 16 kHz G.711, telephone-event (101, or 100 as once seen: see
/// [`Fritzbox::offer`]).
const OFFER: [(u8, &str); 6] = [
    (9, "G722/8000"),
    (8, "PCMA/8000"),
    (0, "PCMU/8000"),
    (120, "PCMA/16000"),
    (121, "PCMU/16000"),
    (101, "telephone-event/8000"),
];

/// Who calls, in the forms the Box sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// National format with leading 0, no display name: `040855992611`.
    National(String),
    /// International with `00`: `00441234567890`.
    International(String),
    /// A number from the Box's phonebook: it adds the display name.
    Named { number: String, name: String },
    /// Another phone of the same Box: `"Haui Mobil" <sip:**622@fritz.box>`.
    Internal { number: String, name: String },
    /// Number withheld (CLIR): no user part.
    Anonymous,
    /// Number withheld, the other form the Box may send: `anonymous@`.
    AnonymousUser,
}

impl Caller {
    /// The number the Box sends; `None` when withheld.
    pub fn number(&self) -> Option<&str> {
        match self {
            Caller::National(n) | Caller::International(n) => Some(n),
            Caller::Named { number, .. } | Caller::Internal { number, .. } => Some(number),
            Caller::Anonymous | Caller::AnonymousUser => None,
        }
    }

    /// A call from another phone of the same Box: never to be touched.
    pub fn is_internal(&self) -> bool {
        matches!(self, Caller::Internal { .. })
    }

    fn header_value(&self, tag: &str) -> String {
        match self {
            Caller::National(n) | Caller::International(n) => {
                format!("<sip:{n}@fritz.box>;tag={tag}")
            }
            Caller::Named { number, name } | Caller::Internal { number, name } => {
                format!(
                    "{} <sip:{number}@fritz.box>;tag={tag}",
                    sip::lex::quote(name)
                )
            }
            Caller::Anonymous => format!("<sip:fritz.box>;tag={tag}"),
            Caller::AnonymousUser => format!("<sip:anonymous@fritz.box>;tag={tag}"),
        }
    }
}

impl fmt::Display for Caller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Caller::National(n) | Caller::International(n) => f.write_str(n),
            Caller::Named { number, name } | Caller::Internal { number, name } => {
                write!(f, "{number} ({name})")
            }
            Caller::Anonymous | Caller::AnonymousUser => f.write_str("anonymous"),
        }
    }
}

/// A call the emulated Box places.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallSpec {
    pub caller: Caller,
    /// The household's number that was dialled (P-Called-Party-ID).
    pub called: String,
    /// The caller gives up (CANCEL) after this long unless answered.
    pub cancel_after: Duration,
    /// If the phone answers, the caller hangs up (BYE) after this long.
    pub hang_up_after: Option<Duration>,
    /// Another phone "answers" at `cancel_after`: the CANCEL carries
    /// `Reason: SIP;cause=200` (RFC 3326; whether the Box sends it is unknown).
    pub answered_elsewhere: bool,
    /// Keys the caller presses once the phone answered.
    pub keys: Option<Keys>,
}

/// Keys pressed in an answered call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keys {
    /// After the 200 OK.
    pub after: Duration,
    /// `0`–`9`, `*`, `#`, `A`–`D`.
    pub digits: String,
    /// As SIP INFO `application/dtmf-relay` instead of RFC 4733 in RTP.
    pub by_info: bool,
}

impl CallSpec {
    pub fn new(caller: Caller) -> CallSpec {
        CallSpec {
            caller,
            called: "0301111111".into(),
            cancel_after: Duration::from_secs(20),
            hang_up_after: None,
            answered_elsewhere: false,
            keys: None,
        }
    }

    /// Presses `digits` as RFC 4733 events `after` the answer.
    pub fn keys(mut self, after: Duration, digits: &str) -> CallSpec {
        self.keys = Some(Keys {
            after,
            digits: digits.into(),
            by_info: false,
        });
        self
    }

    pub fn cancel_after(mut self, d: Duration) -> CallSpec {
        self.cancel_after = d;
        self
    }
}

/// How the call ended, seen from the Box.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallOutcome {
    /// The phone answered and hung up: every other phone stopped ringing.
    TerminatedByPhone,
    /// The phone rang (180) until the caller gave up.
    RangUntilCancelled,
    /// The phone stayed silent (no 180) until the caller gave up: what
    /// `ignore-silently` does; the other phones rang.
    IgnoredUntilCancelled,
    /// The phone declined with this status; other phones kept ringing.
    RejectedByPhone(u16),
    /// The phone answered and the caller hung up later.
    AnsweredHungUpByCaller,
    /// The phone never responded.
    NoAnswer,
    /// No phone was registered to call.
    NoBinding,
    /// The number is on the Box's call-barring list: the Box refused the
    /// call itself and no phone rang (FRITZBOX.md, call list type 10).
    BarredByBox,
}

/// What the Box measured of one call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallReport {
    pub outcome: CallOutcome,
    /// INVITE → first provisional response.
    pub first_response: Option<Duration>,
    /// Whether the phone sent 180 Ringing.
    pub ringing: bool,
    /// INVITE → 200 OK.
    pub answered_after: Option<Duration>,
    /// INVITE → the phone's BYE.
    pub bye_after: Option<Duration>,
    /// How often the INVITE had to be sent again.
    pub invite_retransmissions: u32,
    /// What the Box's end of the audio heard, for a call answered with a
    /// speaking (sendrecv) SDP answer.
    pub media: Option<super::MediaReport>,
}

impl CallReport {
    pub fn new(outcome: CallOutcome) -> CallReport {
        CallReport {
            outcome,
            first_response: None,
            ringing: false,
            answered_after: None,
            bye_after: None,
            invite_retransmissions: 0,
            media: None,
        }
    }
}

fn ms(d: Option<Duration>) -> String {
    d.map_or("?".into(), |d| {
        format!("{:.1} ms", d.as_secs_f64() * 1000.0)
    })
}

impl fmt::Display for CallReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.outcome {
            CallOutcome::TerminatedByPhone => write!(
                f,
                "answered after {} and hung up after {}; other phones stopped ringing",
                ms(self.answered_after),
                ms(self.bye_after)
            ),
            CallOutcome::RangUntilCancelled => f.write_str("kept ringing until the caller hung up"),
            CallOutcome::IgnoredUntilCancelled => {
                f.write_str("left alone (no 180) until the caller hung up")
            }
            CallOutcome::RejectedByPhone(s) => {
                write!(f, "declined with {s}; other phones kept ringing")
            }
            CallOutcome::AnsweredHungUpByCaller => write!(
                f,
                "answered after {}; the caller hung up",
                ms(self.answered_after)
            ),
            CallOutcome::NoAnswer => f.write_str("the phone never answered the INVITE"),
            CallOutcome::NoBinding => f.write_str("no phone registered"),
            CallOutcome::BarredByBox => {
                f.write_str("refused by the Box's call barring; no phone rang")
            }
        }
    }
}

#[derive(Debug)]
enum Phase {
    /// INVITE sent, retransmitted (timer A) until a provisional response.
    Calling { next: Instant, interval: Duration },
    /// A provisional response came; waiting for a final one.
    Proceeding,
    /// CANCEL sent (timer E) and waiting for the 487.
    Cancelling {
        next: Instant,
        interval: Duration,
        data: Vec<u8>,
    },
    /// 200 received and ACKed.
    Answered,
    /// Our BYE sent.
    HangingUp {
        next: Instant,
        interval: Duration,
        data: Vec<u8>,
    },
    /// Over; absorbs retransmissions until then.
    Done { until: Instant },
}

pub(super) struct OutCall {
    id: u64,
    spec: CallSpec,
    reply: Option<oneshot::Sender<CallReport>>,
    call_id: String,
    from_tag: String,
    branch: String,
    cseq: u32,
    uri: String,
    dest: SocketAddr,
    invite: Vec<u8>,
    our_contact: String,
    started: Instant,
    timer_b: Instant,
    cancel_at: Instant,
    hang_up_at: Option<Instant>,
    phase: Phase,
    to_header: Option<String>,
    phone_target: Option<SocketAddr>,
    ack: Option<Vec<u8>>,
    report: CallReport,
    /// The account of the binding rung, whose password a challenged BYE uses.
    user: String,
    ringing_at: Option<Instant>,
    answered_at: Option<Instant>,
    /// The first final response, to catch a conflicting second one.
    final_status: Option<u16>,
    /// The nonce and CSeq of the phone's BYE we challenged with 401.
    bye_challenge: Option<(String, u32)>,
    /// The call's audio end, and whether the phone answered it speaking.
    media: Option<mpsc::UnboundedSender<PeerCmd>>,
    speaking: bool,
    /// Keys still to send as INFO, and when the next goes.
    info_keys: Option<(Instant, std::collections::VecDeque<char>)>,
    /// Our CSeq in the dialog after the INVITE (INFO, BYE).
    dialog_cseq: u32,
}

#[derive(Default)]
pub(super) struct Calls {
    calls: HashMap<String, OutCall>,
    next_id: u64,
}

impl Calls {
    pub fn deadline(&self) -> Option<Instant> {
        self.calls
            .values()
            .filter_map(|c| {
                let phase = match &c.phase {
                    Phase::Calling { next, .. } => Some((*next).min(c.timer_b)),
                    Phase::Cancelling { next, .. } | Phase::HangingUp { next, .. } => {
                        Some((*next).min(c.timer_b))
                    }
                    Phase::Done { until } => Some(*until),
                    Phase::Proceeding | Phase::Answered => None,
                };
                let own = match c.phase {
                    Phase::Calling { .. } | Phase::Proceeding => Some(c.cancel_at),
                    Phase::Answered => match (c.hang_up_at, &c.info_keys) {
                        (Some(h), Some((k, _))) => Some(h.min(*k)),
                        (h, k) => h.or(k.as_ref().map(|(k, _)| *k)),
                    },
                    _ => None,
                };
                match (phase, own) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                }
            })
            .min()
    }
}

impl Fritzbox {
    /// Rings the most recently registered phone. (The Box rings every
    /// device of the ring group; one binding is what the tests need.)
    pub(super) fn place_call(
        &mut self,
        now: Instant,
        mut spec: CallSpec,
        reply: oneshot::Sender<CallReport>,
    ) {
        if let Some(number) = spec.caller.number().map(str::to_owned)
            && !spec.caller.is_internal()
        {
            let (name, barred) = self
                .store
                .with(|s| (s.name_of(&number), s.is_barred(&number)));
            if barred {
                self.calls.next_id += 1;
                let report = CallReport::new(CallOutcome::BarredByBox);
                self.list_call(&spec, &report, 0);
                self.report(Report::CallEnded {
                    call: self.calls.next_id,
                    report: report.clone(),
                });
                let _ = reply.send(report);
                return;
            }
            // FRITZBOX.md: a phonebook hit arrives with the contact's name;
            // without one the display name is absent or the number itself.
            if let Caller::National(_) | Caller::International(_) = spec.caller {
                let name = name.or_else(|| self.rng.random_bool(0.5).then(|| number.clone()));
                if let Some(name) = name {
                    spec.caller = Caller::Named { number, name };
                }
            }
        }
        let Some(binding) = self
            .bindings
            .values()
            .filter(|b| b.expires_at > now)
            .max_by_key(|b| b.registered_at)
            .cloned()
        else {
            let report = CallReport::new(CallOutcome::NoBinding);
            self.list_call(&spec, &report, 0);
            let _ = reply.send(report);
            return;
        };
        self.calls.next_id += 1;
        let id = self.calls.next_id;
        let (from_tag, branch) = (self.hex16(), format!("z9hG4bK{}", self.hex16()));
        let call_id = format!("{}@{}", self.hex16(), self.addr.ip());
        let cseq = self.rng_u32() % 1000 + 1;
        let our_contact = format!(
            "sip:{}{}@{}",
            self.hex16().to_lowercase(),
            self.hex16().to_lowercase(),
            self.host_port()
        );
        let ip = self.addr.ip();
        let family = if ip.is_ipv6() { "IP6" } else { "IP4" };
        // The call's own audio end: its port goes into the offer.
        let media = std::net::UdpSocket::bind(SocketAddr::new(ip, 0))
            .and_then(|s| Ok((s.local_addr()?.port(), s)))
            .and_then(|(port, s)| Ok((port, super::media::start(s, now, self.store.clone())?)));
        let (media_port, media) = match media {
            Ok((port, tx)) => (port, Some(tx)),
            Err(e) => {
                tracing::warn!("emulator: no RTP socket for a call: {e}");
                (7078, None)
            }
        };
        let offer = self.offer();
        let pts = offer
            .iter()
            .map(|(pt, _)| pt.to_string())
            .collect::<Vec<_>>();
        let mut sdp = format!(
            "v=0\r\no=user 3525 3525 IN {family} {ip}\r\ns=call\r\nc=IN {family} {ip}\r\nt=0 0\r\nm=audio {media_port} RTP/AVP {}\r\n",
            pts.join(" ")
        );
        for (pt, enc) in offer {
            sdp.push_str(&format!("a=rtpmap:{pt} {enc}\r\n"));
        }
        sdp.push_str(&format!(
            "a=fmtp:{} 0-15\r\na=sendrecv\r\n",
            offer[OFFER.len() - 1].0
        ));
        let mut req = Request::new(
            Method::Invite,
            sip::parse::parse_request_uri(&binding.contact_uri),
        );
        let h = &mut req.headers;
        h.push(
            "Via",
            format!("SIP/2.0/UDP {};branch={branch}", self.host_port()),
        );
        h.push("From", spec.caller.header_value(&from_tag));
        h.push("To", format!("<{}>", binding.contact_uri));
        h.push("Call-ID", &call_id);
        h.push("CSeq", format!("{cseq} INVITE"));
        h.push("Contact", format!("<{our_contact}>"));
        h.push("Max-Forwards", "70");
        // FRITZBOX.md: an internal call reads `**9` whatever was dialled.
        let called = if spec.caller.is_internal() {
            "**9"
        } else {
            &spec.called
        };
        h.push("P-Called-Party-ID", format!("<sip:{called}@fritz.box>"));
        h.push("Supported", "100rel,replaces,timer");
        h.push("Session-Expires", "600;refresher=uac");
        h.push("Min-SE", "90");
        // FRITZBOX.md: the Box's INVITE says it rings for 120 s (RFC 3261 §20.19).
        h.push("Expires", "120");
        h.push("Allow-Events", "telephone-event,refer");
        h.push("Allow", "INVITE, ACK, OPTIONS, CANCEL, BYE, UPDATE, PRACK, INFO, SUBSCRIBE, NOTIFY, REFER, MESSAGE, PUBLISH");
        h.push(
            "User-Agent",
            "AVM FRITZ!Box 7590 154.07.57 (emulated by minisip4fb)",
        );
        h.push("Content-Type", "application/sdp");
        req.body = sdp.into_bytes();
        let invite = req.to_bytes();
        self.send(binding.contact, invite.clone());
        self.report(Report::CallPlaced {
            call: id,
            caller: spec.caller.to_string(),
            to: binding.contact,
        });
        let call = OutCall {
            id,
            reply: Some(reply),
            call_id: call_id.clone(),
            from_tag,
            branch,
            cseq,
            uri: binding.contact_uri.clone(),
            dest: binding.contact,
            invite,
            our_contact,
            started: now,
            timer_b: now + TIMEOUT,
            cancel_at: now + spec.cancel_after,
            hang_up_at: None,
            phase: Phase::Calling {
                next: now + T1,
                interval: T1,
            },
            to_header: None,
            phone_target: None,
            ack: None,
            report: CallReport::new(CallOutcome::NoAnswer),
            user: binding.user.clone(),
            ringing_at: None,
            answered_at: None,
            final_status: None,
            bye_challenge: None,
            media,
            speaking: false,
            info_keys: None,
            dialog_cseq: cseq,
            spec,
        };
        self.calls.calls.insert(call_id, call);
    }

    /// The offer with telephone-event at 101 or, by the seed, at 100:
    /// FRITZBOX.md has it [unknown], so phones must read the rtpmap.
    fn offer(&self) -> [(u8, &'static str); 6] {
        let mut o = OFFER;
        if self.cfg.seed & 2 != 0 {
            o[OFFER.len() - 1].0 = 100;
        }
        o
    }

    fn rng_u32(&mut self) -> u32 {
        self.rng.random()
    }

    pub(super) fn host_port(&self) -> String {
        format!("{}:{}", sip::Host::Ip(self.addr.ip()), self.addr.port())
    }

    /// A request inside the call's dialog, From/To as the caller side.
    fn in_dialog(&self, c: &OutCall, method: Method, cseq: u32, branch: &str, to: &str) -> Request {
        let mut r = Request::new(method.clone(), sip::parse::parse_request_uri(&c.uri));
        let h = &mut r.headers;
        h.push(
            "Via",
            format!("SIP/2.0/UDP {};branch={branch}", self.host_port()),
        );
        h.push("From", c.spec.caller.header_value(&c.from_tag));
        h.push("To", to);
        h.push("Call-ID", &c.call_id);
        h.push("CSeq", format!("{cseq} {method}"));
        h.push("Max-Forwards", "70");
        h.push(
            "User-Agent",
            "AVM FRITZ!Box 7590 154.07.57 (emulated by minisip4fb)",
        );
        r
    }

    pub(super) fn on_response(&mut self, now: Instant, _from: SocketAddr, r: Response) {
        let (Some(call_id), Ok(cseq)) = (r.headers.call_id().map(str::to_owned), r.headers.cseq())
        else {
            return;
        };
        if cseq.method == Method::Options {
            if self.options_pending.remove(&call_id).is_some() {
                self.report(Report::Options {
                    answered: r.status < 300,
                });
            }
            return;
        }
        let Some(mut c) = self.calls.calls.remove(&call_id) else {
            return;
        };
        let via_ok = r
            .headers
            .top_via()
            .ok()
            .and_then(|v| v.branch().map(str::to_owned));
        match cseq.method {
            Method::Invite if via_ok.as_deref() == Some(c.branch.as_str()) => {
                self.on_invite_response(now, &mut c, &r)
            }
            Method::Bye if r.status >= 200 => {
                if matches!(c.phase, Phase::HangingUp { .. }) {
                    c.report.outcome = CallOutcome::AnsweredHungUpByCaller;
                    self.finish(now, &mut c);
                }
            }
            Method::Cancel if r.status >= 200 => {
                if let Phase::Cancelling { next, .. } = &mut c.phase {
                    // 200 to CANCEL: stop resending it, wait for the 487.
                    *next = c.timer_b;
                }
            }
            _ => {}
        }
        self.calls.calls.insert(call_id, c);
    }

    fn on_invite_response(&mut self, now: Instant, c: &mut OutCall, r: &Response) {
        let elapsed = now.duration_since(c.started);
        let to = r.headers.get("To").unwrap_or_default().to_owned();
        let to_tagged = r
            .headers
            .to()
            .ok()
            .and_then(|t| t.tag().map(str::to_owned))
            .is_some();
        if r.status > 100 && !to_tagged {
            self.violation(format!(
                "{} {} without a To tag (RFC 3261 §8.2.6.2)",
                r.status, r.reason
            ));
        }
        if r.headers.cseq().map(|s| s.seq) != Ok(c.cseq) {
            self.violation(format!(
                "{} to our INVITE with a different CSeq (RFC 3261 §8.2.6.2)",
                r.status
            ));
        }
        if c.report.first_response.is_none() {
            c.report.first_response = Some(elapsed);
        }
        match r.status {
            100..=199 => {
                if r.status == 180 && !c.report.ringing {
                    c.report.ringing = true;
                    c.ringing_at = Some(now);
                    self.report(Report::Ringing { call: c.id });
                }
                if let Phase::Calling { .. } = c.phase {
                    c.phase = Phase::Proceeding;
                }
            }
            200..=299 => {
                if let Some(s) = c.final_status.filter(|s| *s >= 300) {
                    self.violation(format!(
                        "{} after the final {s} to the same INVITE (RFC 3261 §17.2.1)",
                        r.status
                    ));
                }
                // RFC 3261 §13.2.2.4: ACK every 2xx, also retransmitted ones.
                if c.ack.is_none() {
                    c.final_status = Some(r.status);
                    if let Some(answer) = self.check_answer(c, &r.body) {
                        c.speaking = answer.sendrecv;
                        if let Some(k) = c.spec.keys.clone().filter(|k| k.by_info) {
                            c.info_keys = Some((now + k.after, k.digits.chars().collect()));
                        }
                        let keys = c
                            .spec
                            .keys
                            .clone()
                            .filter(|k| !k.by_info)
                            .map(|k| (k.after, k.digits));
                        let event_pt = self.offer()[OFFER.len() - 1].0;
                        if let Some(m) = &c.media {
                            let _ = m.send(PeerCmd::Answered {
                                answer,
                                keys,
                                event_pt,
                            });
                        }
                    }
                    c.report.answered_after = Some(elapsed);
                    c.answered_at = Some(now);
                    c.to_header = Some(to.clone());
                    c.phone_target = r
                        .headers
                        .name_addrs("Contact")
                        .ok()
                        .and_then(|cs| cs.into_iter().next())
                        .and_then(|na| {
                            na.uri.as_sip().and_then(|u| {
                                u.host
                                    .ip()
                                    .map(|ip| SocketAddr::new(ip, u.port.unwrap_or(5060)))
                            })
                        });
                    let branch = format!("z9hG4bK{}", self.hex16());
                    c.ack = Some(
                        self.in_dialog(c, Method::Ack, c.cseq, &branch, &to)
                            .to_bytes(),
                    );
                    let was_cancelling = matches!(c.phase, Phase::Cancelling { .. });
                    c.phase = Phase::Answered;
                    c.report.outcome = CallOutcome::AnsweredHungUpByCaller;
                    c.hang_up_at = match (was_cancelling, c.spec.hang_up_after) {
                        // The 200 crossed our CANCEL: the caller is gone, hang up (RFC 3261 §9.1).
                        (true, _) => Some(now),
                        (false, d) => d.map(|d| now + d),
                    };
                }
                let dest = c.phone_target.unwrap_or(c.dest);
                if let Some(ack) = c.ack.clone() {
                    self.send(dest, ack);
                }
            }
            status => {
                // RFC 3261 §17.1.1.3: ACK a failure response in the same transaction.
                let ack = self
                    .in_dialog(c, Method::Ack, c.cseq, &c.branch.clone(), &to)
                    .to_bytes();
                self.send(c.dest, ack);
                match c.final_status {
                    Some(s) if s != status => self.violation(format!(
                        "{status} after the final {s} to the same INVITE (RFC 3261 §17.2.1)"
                    )),
                    _ => c.final_status = Some(status),
                }
                if matches!(c.phase, Phase::Done { .. } | Phase::Answered) {
                    return;
                }
                if matches!(status, 480 | 486) && !matches!(c.phase, Phase::Cancelling { .. }) {
                    let rang = now.duration_since(c.ringing_at.unwrap_or(c.started));
                    // Both ends are stamped when this task gets to the
                    // packet; a late stamp of the 180 under load shortens
                    // `rang` by a few ms (CI saw 296 ms for 300 ms).
                    if rang + STAMP_SLACK < self.cfg.min_decline_after_ringing {
                        self.violation(format!(
                            "{status} after {} ms of ringing: the Box drops the FRITZ!Fon app from the ring group (FRITZBOX.md: hold the 180 ~3 s)",
                            rang.as_millis()
                        ));
                    }
                }
                c.report.outcome = match status {
                    487 if matches!(c.phase, Phase::Cancelling { .. }) && c.report.ringing => {
                        CallOutcome::RangUntilCancelled
                    }
                    487 if matches!(c.phase, Phase::Cancelling { .. }) => {
                        CallOutcome::IgnoredUntilCancelled
                    }
                    _ => CallOutcome::RejectedByPhone(status),
                };
                self.finish(now, c);
            }
        }
    }

    /// A BYE (or other request) from the phone inside one of our calls.
    pub(super) fn on_request(&mut self, now: Instant, from: SocketAddr, req: Request) {
        let call_id = req.headers.call_id().unwrap_or_default().to_owned();
        match req.method {
            Method::Bye => {
                let Some(mut c) = self.calls.calls.remove(&call_id) else {
                    self.send(from, self.reply(&req, 481, None, &[]).to_bytes());
                    return;
                };
                let status = self.on_bye(now, &mut c, &req);
                if status != 401 {
                    self.send(from, self.reply(&req, status, None, &[]).to_bytes());
                }
                self.calls.calls.insert(call_id, c);
            }
            Method::Ack => {}
            Method::Options => {
                let r = self.reply(
                    &req,
                    200,
                    None,
                    &[("Allow", "INVITE, ACK, CANCEL, BYE, OPTIONS")],
                );
                self.send(from, r.to_bytes());
            }
            _ => self.send(from, self.reply(&req, 405, None, &[]).to_bytes()),
        }
    }

    /// The phone's BYE: checked against the dialog (RFC 3261 §12.2.1.1),
    /// sometimes challenged (FRITZBOX.md: the Box challenges requests the
    /// phone sends like a REGISTER). Returns the status to answer; a 401 is
    /// sent here.
    fn on_bye(&mut self, now: Instant, c: &mut OutCall, req: &Request) -> u16 {
        let from_tag = req
            .headers
            .from()
            .ok()
            .and_then(|f| f.tag().map(str::to_owned));
        let to_tag = req
            .headers
            .to()
            .ok()
            .and_then(|t| t.tag().map(str::to_owned));
        let phone_tag = c
            .to_header
            .as_deref()
            .and_then(|t| sip::NameAddr::parse(t).ok())
            .and_then(|t| t.tag().map(str::to_owned));
        if from_tag != phone_tag || to_tag.as_deref() != Some(c.from_tag.as_str()) {
            // RFC 3261 §12.2.2: a request matching no dialog gets 481.
            self.violation("BYE without the dialog's tags swapped (RFC 3261 §12.2.1.1)".into());
            return 481;
        }
        if req.uri.to_string() != c.our_contact {
            self.violation(format!(
                "BYE to {} instead of our Contact {} (RFC 3261 §12.2.1.1)",
                req.uri, c.our_contact
            ));
        }
        if matches!(c.phase, Phase::Done { .. }) {
            return 200;
        }
        // The phone hung up with its first BYE, challenged or not.
        c.report
            .bye_after
            .get_or_insert(now.duration_since(c.started));
        let cseq = req.headers.cseq().map(|s| s.seq).unwrap_or(0);
        match (&c.bye_challenge, req.headers.get("Authorization")) {
            (Some((nonce, first)), Some(auth)) => {
                let password = self.store.with(|s| s.password(&c.user)).unwrap_or_default();
                let fields = digest::parse_auth(auth).unwrap_or_default();
                let field = |k: &str| digest::param(&fields, k);
                if cseq <= *first {
                    self.violation(format!(
                        "the authenticated BYE kept CSeq {cseq} (RFC 3261 §8.1.3.5: a new request, CSeq+1)"
                    ));
                }
                let uri = req.uri.to_string();
                let wrong: Vec<&str> = [
                    (field("nonce") != Some(nonce.as_str()), "nonce"),
                    (field("realm") != Some(REALM), "realm"),
                    (field("uri") != Some(uri.as_str()), "uri"),
                    (
                        !digest::verify(auth, &password, "BYE")
                            .is_ok_and(|(u, ok)| ok && u == c.user),
                        "user or response",
                    ),
                ]
                .into_iter()
                .filter_map(|(bad, what)| bad.then_some(what))
                .collect();
                if !wrong.is_empty() {
                    self.violation(format!(
                        "BYE credentials wrong for {}: {} (RFC 2617 §3.2.2; uri {:?}, Request-URI {uri})",
                        c.user,
                        wrong.join(", "),
                        field("uri")
                    ));
                    return 403;
                }
            }
            (Some((nonce, first)), None) => {
                // The first BYE again (our 401 was lost): the same 401 again.
                if cseq != *first {
                    self.violation("BYE retried without Authorization after our 401".into());
                }
                let nonce = nonce.clone();
                self.challenge_bye(req, &nonce);
                return 401;
            }
            (None, _)
                if self
                    .rng
                    .random_bool(self.cfg.challenge_requests.clamp(0.0, 1.0)) =>
            {
                let nonce = self.new_nonce();
                self.challenge_bye(req, &nonce);
                c.bye_challenge = Some((nonce, cseq));
                // A phone that never retries leaves the call up: the
                // caller hangs up after timer F's 32 s.
                c.hang_up_at = Some(now + TIMEOUT);
                return 401;
            }
            (None, _) => {}
        }
        c.report.outcome = CallOutcome::TerminatedByPhone;
        self.finish(now, c);
        200
    }

    fn challenge_bye(&mut self, req: &Request, nonce: &str) {
        let v = format!("Digest realm=\"{REALM}\", nonce=\"{nonce}\"");
        let r = self.reply(req, 401, None, &[("WWW-Authenticate", &v)]);
        if let Some(to) = self.last_source {
            self.send(to, r.to_bytes());
        }
    }

    /// The phone's SDP answer, if it sent one (FRITZBOX.md: a 200 without
    /// SDP is accepted): payload types from our offer (RFC 3264 §6.1), an
    /// audio port, and the phone's own address.
    fn check_answer(&mut self, c: &OutCall, body: &[u8]) -> Option<Answer> {
        if body.is_empty() {
            return None;
        }
        let text = String::from_utf8_lossy(body);
        let mut addr = None;
        let mut media = None;
        let (mut direction, mut ptime) = (None, None);
        for line in text.lines().map(str::trim_end) {
            if let Some(v) = line.strip_prefix("c=") {
                addr = Some(v.to_owned());
            } else if let Some(m) = line.strip_prefix("m=audio ") {
                let mut f = m.split(' ');
                let port = f.next().and_then(|p| p.parse::<u16>().ok());
                let proto = f.next().unwrap_or_default().to_owned();
                let pts: Vec<String> = f.map(str::to_owned).collect();
                media = Some((port, proto, pts));
            } else if let Some(a) = line.strip_prefix("a=") {
                match a {
                    "sendrecv" | "sendonly" | "recvonly" | "inactive" => {
                        direction = Some(a.to_owned())
                    }
                    _ => {
                        if let Some(p) = a.strip_prefix("ptime:") {
                            ptime = Some(p.to_owned());
                        }
                    }
                }
            }
        }
        let Some((port, proto, pts)) = media else {
            self.violation("SDP answer without m=audio (RFC 3264 §6)".into());
            return None;
        };
        if port.is_none_or(|p| p == 0) {
            self.violation(format!(
                "SDP answer rejects or garbles the audio stream (port {port:?}) while answering"
            ));
        }
        if proto != "RTP/AVP" {
            self.violation(format!("SDP answer with {proto}, not the offered RTP/AVP"));
        }
        let offer = self.offer();
        let offered: Vec<String> = offer.iter().map(|(pt, _)| pt.to_string()).collect();
        if let Some(pt) = pts.iter().find(|pt| !offered.contains(pt)) {
            self.violation(format!(
                "SDP answer payload type {pt} was not offered (RFC 3264 §6.1)"
            ));
        }
        let codec = pts.iter().find_map(|pt| match pt.as_str() {
            "8" => Some((8, "PCMA")),
            "0" => Some((0, "PCMU")),
            _ => None,
        });
        if codec.is_none() {
            self.violation(format!(
                "SDP answer {} picks neither PCMA nor PCMU from the offer",
                pts.join(" ")
            ));
        }
        let phone = c.dest.ip();
        let family = if phone.is_ipv6() { "IP6" } else { "IP4" };
        if addr.as_deref() != Some(format!("IN {family} {phone}").as_str()) {
            self.violation(format!(
                "SDP answer c={} is not the phone's address IN {family} {phone}",
                addr.as_deref().unwrap_or("(none)")
            ));
        }
        let sendrecv = direction.as_deref().is_none_or(|d| d == "sendrecv");
        // RFC 3551 §4.5: G.711 defaults to 20 ms packets; another ptime
        // is one the Box does not send.
        if let Some(p) = ptime.filter(|p| sendrecv && p != "20") {
            self.violation(format!(
                "a speaking SDP answer with a=ptime:{p}: the Box sends and expects 20 ms (FRITZBOX.md)"
            ));
        }
        let event_pt = offer[OFFER.len() - 1].0;
        Some(Answer {
            addr: SocketAddr::new(phone, port?),
            payload_type: codec?.0,
            codec: codec?.1.to_owned(),
            telephone_event: pts.contains(&event_pt.to_string()).then_some(event_pt),
            sendrecv,
        })
    }

    /// The line the Box's call list gets for a call (FRITZBOX.md: Type 1
    /// answered, 2 missed, 10 rejected).
    fn list_call(&mut self, spec: &CallSpec, report: &CallReport, seconds: u64) {
        let kind = match report.outcome {
            CallOutcome::TerminatedByPhone | CallOutcome::AnsweredHungUpByCaller => 1,
            CallOutcome::BarredByBox => 10,
            _ => 2,
        };
        let name = match &spec.caller {
            Caller::Named { name, .. } | Caller::Internal { name, .. } => name.clone(),
            _ => String::new(),
        };
        let line = super::ListedCall {
            kind,
            caller: spec.caller.number().unwrap_or_default().to_owned(),
            name,
            called: spec.called.clone(),
            date: chrono::Local::now().format("%d.%m.%y %H:%M").to_string(),
            seconds,
        };
        self.store.with(|s| s.call_list.push(line));
    }

    fn finish(&mut self, now: Instant, c: &mut OutCall) {
        c.phase = Phase::Done {
            until: now + TIMEOUT,
        };
        if let Some(tx) = c.reply.take() {
            let seconds = c.answered_at.map_or(0, |t| now.duration_since(t).as_secs());
            self.list_call(&c.spec, &c.report, seconds);
            self.report(Report::CallEnded {
                call: c.id,
                report: c.report.clone(),
            });
            let report = c.report.clone();
            match c.media.take() {
                Some(media) => {
                    // A speaking call: packets still in flight are heard
                    // (and one sent after the BYE is caught).
                    let linger = if c.speaking {
                        Duration::from_millis(150)
                    } else {
                        Duration::ZERO
                    };
                    let store = self.store.clone();
                    tokio::spawn(async move {
                        tokio::time::sleep(linger).await;
                        let (stop, heard) = oneshot::channel();
                        let _ = media.send(PeerCmd::Stop(stop));
                        let mut report = report;
                        report.media = heard
                            .await
                            .ok()
                            .filter(|m| m.answer.as_ref().is_some_and(|a| a.sendrecv));
                        // RFC 3261 §15: the BYE ends the session. The two
                        // tasks stamp their packets on their own turns:
                        // a packet in flight with the BYE is not counted.
                        let late = |bye: Duration| bye + Duration::from_millis(25);
                        if let (Some(m), Some(bye)) = (&report.media, report.bye_after)
                            && let n @ 1.. = m.packets.iter().filter(|p| p.at > late(bye)).count()
                        {
                            store.with(|s| {
                                s.media_violations.push(format!(
                                    "{n} RTP packet(s) after the phone's BYE (RFC 3261 §15)"
                                ))
                            });
                        }
                        let _ = tx.send(report);
                    });
                }
                None => {
                    let _ = tx.send(report);
                }
            }
        }
    }

    pub(super) fn calls_timeout(&mut self, now: Instant) {
        let ids: Vec<String> = self.calls.calls.keys().cloned().collect();
        for id in ids {
            let Some(mut c) = self.calls.calls.remove(&id) else {
                continue;
            };
            self.call_timeout(now, &mut c);
            if !matches!(c.phase, Phase::Done { until } if until <= now) {
                self.calls.calls.insert(id, c);
            }
        }
    }

    fn call_timeout(&mut self, now: Instant, c: &mut OutCall) {
        match &mut c.phase {
            Phase::Calling { .. } | Phase::Proceeding if now >= c.cancel_at => {
                let mut cancel = self.in_dialog(
                    c,
                    Method::Cancel,
                    c.cseq,
                    &c.branch.clone(),
                    &format!("<{}>", c.uri),
                );
                if c.spec.answered_elsewhere {
                    // RFC 3326 §2: why the CANCEL was sent.
                    cancel
                        .headers
                        .push("Reason", "SIP;cause=200;text=\"Call completed elsewhere\"");
                }
                let cancel = cancel.to_bytes();
                self.send(c.dest, cancel.clone());
                c.timer_b = now + TIMEOUT;
                c.phase = Phase::Cancelling {
                    next: now + T1,
                    interval: T1,
                    data: cancel,
                };
            }
            Phase::Calling { .. } if now >= c.timer_b => self.finish(now, c),
            Phase::Calling { next, interval } if now >= *next => {
                // Timer A (RFC 3261 §17.1.1.2): resend until a provisional response.
                *interval *= 2;
                *next = now + *interval;
                c.report.invite_retransmissions += 1;
                self.send(c.dest, c.invite.clone());
            }
            Phase::Cancelling { .. } | Phase::HangingUp { .. } if now >= c.timer_b => {
                c.report.outcome = CallOutcome::NoAnswer;
                self.finish(now, c);
            }
            Phase::Cancelling {
                next,
                interval,
                data,
            }
            | Phase::HangingUp {
                next,
                interval,
                data,
            } if now >= *next => {
                *interval = next_interval(*interval);
                *next = now + *interval;
                let data = data.clone();
                let dest = c.phone_target.unwrap_or(c.dest);
                self.send(dest, data);
            }
            Phase::Answered if c.info_keys.as_ref().is_some_and(|(t, _)| *t <= now) => {
                // One INFO per key, 150 ms apart (RFC 2976; the Box's
                // fallback to RFC 4733).
                let Some((at, keys)) = c.info_keys.as_mut() else {
                    return;
                };
                let key = keys.pop_front();
                *at = now + Duration::from_millis(150);
                if keys.is_empty() {
                    c.info_keys = None;
                }
                if let Some(key) = key {
                    c.dialog_cseq += 1;
                    let branch = format!("z9hG4bK{}", self.hex16());
                    let to = c.to_header.clone().unwrap_or_default();
                    let mut info = self.in_dialog(c, Method::Info, c.dialog_cseq, &branch, &to);
                    info.headers.push("Content-Type", "application/dtmf-relay");
                    info.body = format!("Signal={key}\r\nDuration=160\r\n").into_bytes();
                    self.send(c.phone_target.unwrap_or(c.dest), info.to_bytes());
                }
            }
            Phase::Answered if c.hang_up_at.is_some_and(|t| t <= now) => {
                if c.bye_challenge.is_some() {
                    self.violation(
                        "BYE challenged with 401 and never sent again with credentials (RFC 3261 §22.2)"
                            .into(),
                    );
                }
                let branch = format!("z9hG4bK{}", self.hex16());
                let to = c.to_header.clone().unwrap_or_default();
                c.dialog_cseq += 1;
                let bye = self
                    .in_dialog(c, Method::Bye, c.dialog_cseq, &branch, &to)
                    .to_bytes();
                let dest = c.phone_target.unwrap_or(c.dest);
                self.send(dest, bye.clone());
                c.timer_b = now + TIMEOUT;
                c.hang_up_at = None;
                c.phase = Phase::HangingUp {
                    next: now + T1,
                    interval: T1,
                    data: bye,
                };
            }
            _ => {}
        }
    }

    /// OPTIONS keepalives to every registered phone (FRITZBOX.md: the Box
    /// drops phones that do not answer them). One still unanswered when the
    /// next round is due costs the phone its binding.
    pub(super) fn send_options(&mut self, now: Instant) {
        for (_, probe) in std::mem::take(&mut self.options_pending) {
            self.keepalive_lost(probe);
        }
        let targets: Vec<_> = self
            .bindings
            .iter()
            .map(|(key, b)| (key.clone(), b.contact, b.contact_uri.clone()))
            .collect();
        for (key, dest, uri) in targets {
            let call_id = format!("{}@{}", self.hex16(), self.addr.ip());
            let mut r = Request::new(Method::Options, sip::parse::parse_request_uri(&uri));
            let branch = format!("z9hG4bK{}", self.hex16());
            let tag = self.hex16();
            let h = &mut r.headers;
            h.push(
                "Via",
                format!("SIP/2.0/UDP {};branch={branch}", self.host_port()),
            );
            h.push("From", format!("<sip:fritz.box>;tag={tag}"));
            h.push("To", format!("<{uri}>"));
            h.push("Call-ID", &call_id);
            h.push("CSeq", "1 OPTIONS");
            h.push("Max-Forwards", "70");
            let data = r.to_bytes();
            self.send(dest, data.clone());
            self.options_pending.insert(
                call_id,
                Probe {
                    key,
                    dest,
                    data,
                    sent: now,
                    next: now + T1,
                    interval: T1,
                },
            );
        }
    }

    /// Timer E for the keepalives (RFC 3261 §17.1.2.2), timer F to give up.
    pub(super) fn options_timeout(&mut self, now: Instant) {
        for (call_id, mut probe) in std::mem::take(&mut self.options_pending) {
            if now.duration_since(probe.sent) >= TIMEOUT {
                self.keepalive_lost(probe);
                continue;
            }
            if probe.next <= now {
                probe.interval = next_interval(probe.interval);
                probe.next = now + probe.interval;
                self.send(probe.dest, probe.data.clone());
            }
            self.options_pending.insert(call_id, probe);
        }
    }

    fn keepalive_lost(&mut self, probe: Probe) {
        self.report(Report::Options { answered: false });
        if let Some(b) = self.bindings.remove(&probe.key) {
            self.report(Report::KeepaliveLost { user: b.user });
        }
    }
}

/// An OPTIONS keepalive waiting for its answer.
pub(super) struct Probe {
    /// The binding it checks.
    key: String,
    dest: SocketAddr,
    data: Vec<u8>,
    sent: Instant,
    pub(super) next: Instant,
    interval: Duration,
}

impl std::fmt::Debug for OutCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "call {} {:?}", self.id, self.phase)
    }
}
