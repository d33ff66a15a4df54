//! The caller half of the emulated Box: rings a registered phone the way
//! the FRITZ!Box does (FRITZBOX.md, "INVITE to the phone"), as the UAC of
//! RFC 3261 §17.1.1, and reports what the phone did with the call.

mod answers;
mod place;
mod timers;

use crate::media::Clip;
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
    /// A caller who listens: once the phone has said one of these clips
    /// (8 kHz samples, as the phone's code has them), the caller presses
    /// its key, as a person answering "press 7" would.
    pub listen: Vec<Clip>,
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
            listen: Vec::new(),
        }
    }

    /// Presses the key of the first of `clips` the phone says (RFC 4733).
    pub fn press_what_is_said(mut self, clips: Vec<Clip>) -> CallSpec {
        self.listen = clips;
        self
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
