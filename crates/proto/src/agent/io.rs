//! What goes into the agent and what comes out of it: the run-loop
//! contract's types (the crate's docs state the loop).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::{CallId, CallerId, Outcome, RegistrationError};
use crate::sip;

/// One input to the agent.
#[derive(Debug)]
pub enum Input<'a> {
    /// A datagram arrived.
    Receive {
        /// When it arrived (the driver's clock).
        now: Instant,
        /// Who sent it; only the registrar is listened to.
        from: SocketAddr,
        /// The datagram as received.
        data: &'a [u8],
    },
    /// The deadline of the last [`Output::Timeout`] has come.
    Timeout(Instant),
}

/// What the agent wants done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Send `data` as one datagram to `to`.
    Transmit {
        /// The registrar, or where a request's Via or Record-Route says.
        to: SocketAddr,
        /// A whole SIP message.
        data: Vec<u8>,
    },
    /// Tell the application.
    Event(Event),
    /// Nothing more to do until this instant (or the next input).
    Timeout(Instant),
}

/// Resends of an unanswered REGISTER before [`Event::RegistrarSilent`]:
/// with T1 = 500 ms the third goes out 3.5 s after the first.
pub const SILENT_AFTER: u8 = 3;

/// How many of the Box's keepalive intervals may pass without a word from
/// it before the agent registers again ([`Event::RegistrarQuiet`]).
pub const QUIET_KEEPALIVES: u32 = 3;

/// What happened, for the application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The Box accepted our binding for `expires` (its grant, not our wish).
    Registered {
        /// How long the binding lasts; the agent refreshes it before.
        expires: Duration,
    },
    /// A registration attempt failed; `retry_in` is `None` when the agent
    /// gave up (wrong credentials on the first attempt).
    RegistrationFailed {
        /// Why, as a person can act on it.
        reason: RegistrationError,
        /// When the agent tries again by itself.
        retry_in: Option<Duration>,
    },
    /// Our REGISTER went out and was resent [`SILENT_AFTER`] times
    /// without any answer: the Box is unreachable or not there. Said once
    /// per attempt, seconds before the attempt times out (64·T1); the
    /// agent goes on trying.
    RegistrarSilent {
        /// Where the REGISTER goes.
        registrar: SocketAddr,
        /// How long it has been unanswered.
        waited: Duration,
    },
    /// Nothing came from the Box for [`QUIET_KEEPALIVES`] of its keepalive
    /// intervals while it held our binding: it may have dropped it
    /// silently (a reboot, a FRITZ!OS update). The agent registers again
    /// at once; a failure follows as [`Event::RegistrationFailed`].
    RegistrarQuiet {
        /// How long nothing came.
        quiet: Duration,
        /// The Box's keepalive interval, as its OPTIONS came.
        keepalive: Duration,
    },
    /// Our unregistration (expires 0) was confirmed, or given up on.
    Unregistered,
    /// A new call rings: decide it (ring, answer, reject) at once or later;
    /// undecided, it rings until the caller gives up.
    IncomingCall {
        /// Our handle for it, in every command and later event.
        call: CallId,
        /// Who calls, as the INVITE says.
        caller: CallerId,
    },
    /// Our 200 OK was acknowledged: the call is up.
    CallAnswered {
        /// The call.
        call: CallId,
    },
    /// A call is over; no event about it follows.
    CallEnded {
        /// The call.
        call: CallId,
        /// How it ended (the call log's vocabulary).
        reason: Outcome,
    },
    /// A new INVITE was refused because [`MAX_CALLS`](super::MAX_CALLS) calls are in progress.
    CallRefused {
        /// Who called.
        caller: CallerId,
    },
    /// A key pressed, sent as SIP INFO `application/dtmf-relay` (keys in
    /// RTP, RFC 4733, are the media session's).
    Dtmf {
        /// The call.
        call: CallId,
        /// `0`–`9`, `*`, `#` or `A`–`D`.
        digit: char,
    },
}

/// An answered call's audio, as negotiated (RFC 3264 §6.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Media {
    /// Where the Box wants our RTP.
    pub remote: SocketAddr,
    /// PCMA or PCMU, with the offer's payload type.
    pub codec: sip::sdp::Codec,
    /// The payload type of the offer's telephone-event, if any.
    pub telephone_event: Option<u8>,
}
