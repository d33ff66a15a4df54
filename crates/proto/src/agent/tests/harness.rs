//! The simulation: a fake clock, and a scripted FRITZ!Box on a fake
//! network that can drop, duplicate and reorder packets; the Box's
//! replies written by hand as FRITZBOX.md says it sends them.

pub(super) use std::net::SocketAddr;
pub(super) use std::time::{Duration, Instant};

use super::super::*;
pub(super) use crate::sip::{Message, Request, Response, digest, parse};

pub(super) const BOX: &str = "127.0.0.1:5060";
pub(super) const PHONE: &str = "127.0.0.2:5062";
pub(super) const PASSWORD: &str = "geheim123";

pub(super) fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

pub(super) struct Sim {
    pub(super) agent: Agent,
    pub(super) now: Instant,
    pub(super) deadline: Instant,
    pub(super) sent: Vec<(SocketAddr, Message)>,
    pub(super) events: Vec<Event>,
}

impl Sim {
    pub(super) fn new() -> Sim {
        let mut cfg = Config::new(addr(BOX), "620", PASSWORD, addr(PHONE));
        cfg.seed = 7;
        let now = Instant::now();
        Sim {
            agent: Agent::new(cfg, now),
            now,
            deadline: now,
            sent: vec![],
            events: vec![],
        }
    }

    pub(super) fn drain(&mut self) {
        loop {
            match self.agent.poll_output() {
                Output::Transmit { to, data } => {
                    let m = parse(&data).unwrap_or_else(|e| {
                        panic!(
                            "phone sent unparsable message ({e}):\n{}",
                            String::from_utf8_lossy(&data)
                        )
                    });
                    self.sent.push((to, m));
                }
                Output::Event(e) => self.events.push(e),
                Output::Timeout(t) => {
                    self.deadline = t;
                    return;
                }
            }
        }
    }

    /// Lets time pass, firing every deadline on the way.
    pub(super) fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        while self.deadline <= end {
            self.now = self.now.max(self.deadline);
            self.agent.handle_input(Input::Timeout(self.now));
            self.drain();
        }
        self.now = end;
    }

    pub(super) fn deliver(&mut self, data: &[u8]) {
        self.deliver_from(BOX, data)
    }

    pub(super) fn deliver_from(&mut self, from: &str, data: &[u8]) {
        self.agent.handle_input(Input::Receive {
            now: self.now,
            from: addr(from),
            data,
        });
        self.drain();
    }

    pub(super) fn take_sent(&mut self) -> Vec<(SocketAddr, Message)> {
        std::mem::take(&mut self.sent)
    }

    pub(super) fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    pub(super) fn requests(&mut self) -> Vec<Request> {
        self.take_sent()
            .into_iter()
            .filter_map(|(_, m)| match m {
                Message::Request(r) => Some(r),
                _ => None,
            })
            .collect()
    }

    pub(super) fn responses(&mut self) -> Vec<Response> {
        self.take_sent()
            .into_iter()
            .filter_map(|(_, m)| match m {
                Message::Response(r) => Some(r),
                _ => None,
            })
            .collect()
    }

    /// Starts registering; the first REGISTER sent.
    pub(super) fn first_register(&mut self) -> Request {
        self.agent.register(self.now);
        self.drain();
        self.requests().remove(0)
    }

    /// Registers through a 401 challenge, granting `expires` seconds.
    pub(super) fn register(&mut self, expires: u32) {
        self.agent.register(self.now);
        self.drain();
        let reqs = self.requests();
        self.deliver(&challenge(&reqs[0], "78B29326485EAE52", false));
        let reqs = self.requests();
        assert_eq!(reqs.len(), 1);
        self.deliver(&ok_register(&reqs[0], expires));
        assert!(self.take_events().contains(&Event::Registered {
            expires: Duration::from_secs(expires.into())
        }));
    }
}

/// The response the Box would send to `req`, echoing its headers.
pub(super) fn reply(req: &Request, status: u16, extra: &str) -> Vec<u8> {
    let h = &req.headers;
    let vias: String = h
        .get_all("Via")
        .map(|v| format!("Via: {v};received=127.0.0.2\r\n"))
        .collect();
    let to = h.get("To").unwrap();
    let to = if to.contains("tag=") {
        to.to_owned()
    } else {
        format!("{to};tag=5A6B7C8D9E0F1A2B")
    };
    format!(
        "SIP/2.0 {status} {}\r\n{vias}From: {}\r\nTo: {to}\r\nCall-ID: {}\r\nCSeq: {}\r\nUser-Agent: FRITZ!OS\r\n{extra}Content-Length: 0\r\n\r\n",
        crate::sip::StatusCode(status).reason(),
        h.get("From").unwrap(),
        h.get("Call-ID").unwrap(),
        h.get("CSeq").unwrap(),
    )
    .into_bytes()
}

pub(super) fn challenge(req: &Request, nonce: &str, stale: bool) -> Vec<u8> {
    let stale = if stale { ", stale=true" } else { "" };
    reply(
        req,
        401,
        &format!("WWW-Authenticate: Digest realm=\"fritz.box\", nonce=\"{nonce}\"{stale}\r\n"),
    )
}

pub(super) fn ok_register(req: &Request, expires: u32) -> Vec<u8> {
    let contact = req.headers.get("Contact").unwrap();
    reply(
        req,
        200,
        &format!("Contact: {contact};expires={expires}\r\n"),
    )
}

pub(super) fn invite(call_id: &str, branch: &str, from: &str) -> Vec<u8> {
    let sdp = "v=0\r\no=user 1 1 IN IP4 127.0.0.1\r\ns=call\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 7078 RTP/AVP 9 8 0 120 121 101\r\n\
a=rtpmap:9 G722/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n";
    format!(
        "INVITE sip:620@127.0.0.2:5062 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch={branch}\r\n\
From: {from};tag=3E2B0C1D9A8F7E6D\r\nTo: <sip:620@127.0.0.2:5062>\r\nCall-ID: {call_id}\r\nCSeq: 7 INVITE\r\n\
Contact: <sip:0123456789abcdef0123456789abcdef@127.0.0.1>\r\nMax-Forwards: 70\r\n\
P-Called-Party-ID: <sip:0301111111@fritz.box>\r\nSupported: 100rel,replaces,timer\r\nSession-Expires: 600;refresher=uac\r\n\
User-Agent: AVM FRITZ!Box 7590 154.07.57\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    )
    .into_bytes()
}

/// ACK or CANCEL for our INVITE (RFC 3261 §17.1.1.3, §9.1).
pub(super) fn box_request(
    method: &str,
    call_id: &str,
    branch: &str,
    to: &str,
    cseq: &str,
) -> Vec<u8> {
    format!(
        "{method} sip:620@127.0.0.2:5062 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch={branch}\r\n\
From: <sip:040855992611@fritz.box>;tag=3E2B0C1D9A8F7E6D\r\nTo: {to}\r\nCall-ID: {call_id}\r\nCSeq: {cseq}\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

pub(super) fn incoming(sim: &mut Sim, call_id: &str, branch: &str) -> CallId {
    incoming_from(
        sim,
        &invite(call_id, branch, "<sip:040855992611@fritz.box>"),
    )
}

/// Delivers an INVITE; the call it started.
pub(super) fn incoming_from(sim: &mut Sim, invite: &[u8]) -> CallId {
    sim.deliver(invite);
    sim.take_events()
        .into_iter()
        .find_map(|e| match e {
            Event::IncomingCall { call, .. } => Some(call),
            _ => None,
        })
        .expect("IncomingCall")
}

/// Feeds an INVITE and decides the moment IncomingCall comes out of
/// poll_output, as the driver's inline screen does.
pub(super) fn decide_at_once(
    sim: &mut Sim,
    call_id: &str,
    decide: impl FnOnce(&mut Agent, Instant, CallId),
) {
    let data = invite(call_id, "z9hG4bKnow", "<sip:09005551234@fritz.box>");
    sim.agent.handle_input(Input::Receive {
        now: sim.now,
        from: addr(BOX),
        data: &data,
    });
    match sim.agent.poll_output() {
        Output::Event(Event::IncomingCall { call, .. }) => decide(&mut sim.agent, sim.now, call),
        other => panic!("expected IncomingCall first, got {other:?}"),
    }
    sim.drain();
}

/// An in-dialog request from the Box: `method` with our tag in To.
pub(super) fn in_dialog(method: &str, call_id: &str, branch: &str, to: &str, cseq: u32) -> Vec<u8> {
    box_request(method, call_id, branch, to, &format!("{cseq} {method}"))
}

/// Answers a call and takes the 200; returns the 200's To (with our tag).
pub(super) fn answered(sim: &mut Sim, call_id: &str) -> String {
    let branch = format!("z9hG4bK{}", call_id.replace('@', "-"));
    let call = incoming(sim, call_id, &branch);
    sim.take_sent();
    sim.agent.answer(sim.now, call).unwrap();
    sim.drain();
    let ok = sim.responses().remove(0);
    assert_eq!(ok.status, 200);
    ok.headers.get("To").unwrap().to_owned()
}

/// A call answered and hung up at once, as the driver does for a blocked
/// number; the call and the 200 it got.
pub(super) fn answered_and_hung_up(
    sim: &mut Sim,
    call_id: &str,
    branch: &str,
) -> (CallId, Response) {
    let call = incoming(sim, call_id, branch);
    sim.take_sent();
    sim.agent.answer(sim.now, call).unwrap();
    sim.agent.hang_up(sim.now, call).unwrap();
    sim.drain();
    (call, sim.responses().remove(0))
}

pub(super) fn to_tag(to: &str) -> &str {
    to.split(";tag=").nth(1).unwrap()
}

pub(super) fn sdp_pcma() -> crate::sip::sdp::Codec {
    crate::sip::sdp::PCMA
}
