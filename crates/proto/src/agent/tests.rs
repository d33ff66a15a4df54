//! Agent simulations: a fake clock and a scripted FRITZ!Box on a fake
//! network that can drop, duplicate and reorder packets.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::*;
use crate::sip::{Message, Method, Request, Response, digest, parse};

const BOX: &str = "127.0.0.1:5060";
const PHONE: &str = "127.0.0.2:5062";
const PASSWORD: &str = "geheim123";

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

struct Sim {
    agent: Agent,
    now: Instant,
    deadline: Instant,
    sent: Vec<(SocketAddr, Message)>,
    events: Vec<Event>,
}

impl Sim {
    fn new() -> Sim {
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

    fn drain(&mut self) {
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
    fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        while self.deadline <= end {
            self.now = self.now.max(self.deadline);
            self.agent.handle_input(Input::Timeout(self.now));
            self.drain();
        }
        self.now = end;
    }

    fn deliver(&mut self, data: &[u8]) {
        self.deliver_from(BOX, data)
    }

    fn deliver_from(&mut self, from: &str, data: &[u8]) {
        self.agent.handle_input(Input::Receive {
            now: self.now,
            from: addr(from),
            data,
        });
        self.drain();
    }

    fn take_sent(&mut self) -> Vec<(SocketAddr, Message)> {
        std::mem::take(&mut self.sent)
    }

    fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    fn requests(&mut self) -> Vec<Request> {
        self.take_sent()
            .into_iter()
            .filter_map(|(_, m)| match m {
                Message::Request(r) => Some(r),
                _ => None,
            })
            .collect()
    }

    fn responses(&mut self) -> Vec<Response> {
        self.take_sent()
            .into_iter()
            .filter_map(|(_, m)| match m {
                Message::Response(r) => Some(r),
                _ => None,
            })
            .collect()
    }

    /// Starts registering; the first REGISTER sent.
    fn first_register(&mut self) -> Request {
        self.agent.register(self.now);
        self.drain();
        self.requests().remove(0)
    }

    /// Registers through a 401 challenge, granting `expires` seconds.
    fn register(&mut self, expires: u32) {
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
fn reply(req: &Request, status: u16, extra: &str) -> Vec<u8> {
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
        crate::sip::reason_phrase(status),
        h.get("From").unwrap(),
        h.get("Call-ID").unwrap(),
        h.get("CSeq").unwrap(),
    )
    .into_bytes()
}

fn challenge(req: &Request, nonce: &str, stale: bool) -> Vec<u8> {
    let stale = if stale { ", stale=true" } else { "" };
    reply(
        req,
        401,
        &format!("WWW-Authenticate: Digest realm=\"fritz.box\", nonce=\"{nonce}\"{stale}\r\n"),
    )
}

fn ok_register(req: &Request, expires: u32) -> Vec<u8> {
    let contact = req.headers.get("Contact").unwrap();
    reply(
        req,
        200,
        &format!("Contact: {contact};expires={expires}\r\n"),
    )
}

fn invite(call_id: &str, branch: &str, from: &str) -> Vec<u8> {
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
fn box_request(method: &str, call_id: &str, branch: &str, to: &str, cseq: &str) -> Vec<u8> {
    format!(
        "{method} sip:620@127.0.0.2:5062 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch={branch}\r\n\
From: <sip:040855992611@fritz.box>;tag=3E2B0C1D9A8F7E6D\r\nTo: {to}\r\nCall-ID: {call_id}\r\nCSeq: {cseq}\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

fn incoming(sim: &mut Sim, call_id: &str, branch: &str) -> CallId {
    incoming_from(
        sim,
        &invite(call_id, branch, "<sip:040855992611@fritz.box>"),
    )
}

/// Delivers an INVITE; the call it started.
fn incoming_from(sim: &mut Sim, invite: &[u8]) -> CallId {
    sim.deliver(invite);
    sim.take_events()
        .into_iter()
        .find_map(|e| match e {
            Event::IncomingCall { call, .. } => Some(call),
            _ => None,
        })
        .expect("IncomingCall")
}

#[test]
fn registers_through_the_fritzbox_challenge() {
    let mut sim = Sim::new();
    let first = sim.first_register();
    assert_eq!(first.method, Method::Register);
    assert_eq!(
        first.uri.to_string(),
        "sip:127.0.0.1",
        "no user part in the Request-URI"
    );
    assert!(first.headers.get("Authorization").is_none());
    assert!(
        first
            .headers
            .get("Contact")
            .unwrap()
            .contains("+sip.instance=\"<urn:uuid:")
    );
    sim.deliver(&challenge(&first, "78B29326485EAE52", false));
    let second = sim.requests().remove(0);
    assert_ne!(
        first.headers.top_via().unwrap().branch(),
        second.headers.top_via().unwrap().branch()
    );
    assert_eq!(
        second.headers.cseq().unwrap().seq,
        first.headers.cseq().unwrap().seq + 1
    );
    assert_eq!(first.headers.call_id(), second.headers.call_id());
    assert_eq!(
        first.headers.from().unwrap().tag(),
        second.headers.from().unwrap().tag()
    );
    let auth = second.headers.get("Authorization").unwrap();
    assert_eq!(
        digest::verify(auth, PASSWORD, "REGISTER").unwrap(),
        ("620".into(), true)
    );
    assert!(auth.contains("uri=\"sip:127.0.0.1\""));

    // The Box grants 60 s although we asked for 300: refresh at 70 %, ~42 s.
    sim.deliver(&ok_register(&second, 60));
    assert_eq!(
        sim.take_events(),
        vec![Event::Registered {
            expires: Duration::from_secs(60)
        }]
    );
    assert!(sim.agent.is_registered());
    sim.advance(Duration::from_secs(41));
    assert!(sim.requests().is_empty());
    sim.advance(Duration::from_secs(2));
    let refresh = sim.requests().remove(0);
    assert_eq!(
        refresh.headers.call_id(),
        first.headers.call_id(),
        "one Call-ID for the phone's life"
    );
    // Challenged again on refresh, with a new nonce.
    sim.deliver(&challenge(&refresh, "1111222233334444", false));
    let refresh2 = sim.requests().remove(0);
    assert!(
        refresh2
            .headers
            .get("Authorization")
            .unwrap()
            .contains("1111222233334444")
    );
    sim.deliver(&reply(&refresh2, 200, "Expires: 120\r\n"));
    assert_eq!(
        sim.take_events(),
        vec![Event::Registered {
            expires: Duration::from_secs(120)
        }]
    );

    // Unregister: Expires 0, challenged too.
    sim.agent.unregister(sim.now);
    sim.drain();
    let un = sim.requests().remove(0);
    assert_eq!(un.headers.expires(), Some(0));
    sim.deliver(&challenge(&un, "5555666677778888", false));
    let un2 = sim.requests().remove(0);
    assert_eq!(un2.headers.expires(), Some(0));
    sim.deliver(&reply(&un2, 200, ""));
    assert_eq!(sim.take_events(), vec![Event::Unregistered]);
    assert!(!sim.agent.is_registered());
}

#[test]
fn wrong_password_on_first_registration_stops() {
    let mut sim = Sim::new();
    sim.agent.register(sim.now);
    sim.drain();
    let r = sim.requests().remove(0);
    sim.deliver(&challenge(&r, "AAAA", false));
    let r = sim.requests().remove(0);
    sim.deliver(&reply(&r, 403, ""));
    let ev = sim.take_events();
    assert!(
        matches!(
            &ev[..],
            [Event::RegistrationFailed {
                reason: RegistrationError::Forbidden { .. },
                retry_in: None
            }]
        ),
        "{ev:?}"
    );
    sim.advance(Duration::from_secs(600));
    assert!(sim.take_sent().is_empty(), "must not hammer the Box");
}

#[test]
fn same_nonce_rejected_twice_is_a_bad_password_but_stale_is_not() {
    let mut sim = Sim::new();
    sim.agent.register(sim.now);
    sim.drain();
    let r = sim.requests().remove(0);
    sim.deliver(&challenge(&r, "AAAA", false));
    let r = sim.requests().remove(0);
    sim.deliver(&challenge(&r, "AAAA", true));
    let r = sim.requests().remove(0);
    assert!(
        r.headers.get("Authorization").is_some(),
        "stale=true: retry with the same password"
    );
    sim.deliver(&challenge(&r, "AAAA", false));
    let ev = sim.take_events();
    assert!(
        matches!(
            &ev[..],
            [Event::RegistrationFailed {
                reason: RegistrationError::BadCredentials { .. },
                retry_in: None
            }]
        ),
        "{ev:?}"
    );
}

#[test]
fn registration_comes_back_after_ten_silent_minutes() {
    let mut sim = Sim::new();
    sim.register(60);
    sim.take_sent();
    // The Box reboots and says nothing for 10 minutes.
    sim.advance(Duration::from_secs(600));
    let sent = sim.requests();
    let failures: Vec<Duration> = sim
        .take_events()
        .into_iter()
        .filter_map(|e| match e {
            Event::RegistrationFailed {
                reason: RegistrationError::Timeout(_),
                retry_in: Some(d),
            } => Some(d),
            _ => None,
        })
        .collect();
    assert!(failures.len() >= 10, "kept retrying: {failures:?}");
    assert!(
        failures.iter().all(|d| *d <= Duration::from_secs(36)),
        "backoff capped: {failures:?}"
    );
    assert!(
        failures.last().unwrap() >= &Duration::from_secs(24),
        "backoff grew: {failures:?}"
    );
    // Timer E: each attempt retransmits (1 + 10 sends in 32 s).
    assert!(sent.len() >= failures.len() * 10);
    assert!(!sim.agent.is_registered());
    assert!(
        sent.iter()
            .all(|r| r.headers.call_id() == sent[0].headers.call_id())
    );
    // The Box is back: the next attempt gets through.
    let r = loop {
        sim.advance(Duration::from_millis(100));
        if let Some(r) = sim.requests().pop() {
            break r;
        }
    };
    sim.deliver(&challenge(&r, "BBBB", false));
    let r = sim.requests().remove(0);
    sim.deliver(&ok_register(&r, 300));
    assert!(sim.take_events().contains(&Event::Registered {
        expires: Duration::from_secs(300)
    }));
    assert!(sim.agent.is_registered());
}

#[test]
fn invite_gets_trying_at_once_and_retransmissions_the_same_answer() {
    let mut sim = Sim::new();
    sim.register(300);
    sim.deliver(&invite(
        "c1@127.0.0.1",
        "z9hG4bKinv1",
        "\"Haui Mobil\" <sip:**622@fritz.box>",
    ));
    let ev = sim.take_events();
    let Event::IncomingCall { call, caller } = &ev[0] else {
        panic!("{ev:?}")
    };
    assert_eq!(caller.number.as_deref(), Some("**622"));
    assert_eq!(caller.called.as_deref(), Some("0301111111"));
    assert!(caller.is_internal());
    let r = sim.responses();
    assert_eq!(r[0].status, 100);
    sim.deliver(&invite(
        "c1@127.0.0.1",
        "z9hG4bKinv1",
        "\"Haui Mobil\" <sip:**622@fritz.box>",
    ));
    assert!(sim.take_events().is_empty(), "no second decision");
    assert_eq!(sim.responses()[0].status, 100);
    sim.agent.ring(sim.now, *call).unwrap();
    sim.drain();
    let ringing = sim.responses().remove(0);
    assert_eq!(ringing.status, 180);
    assert!(ringing.headers.to().unwrap().tag().is_some());
    sim.deliver(&invite(
        "c1@127.0.0.1",
        "z9hG4bKinv1",
        "\"Haui Mobil\" <sip:**622@fritz.box>",
    ));
    assert_eq!(sim.responses(), vec![ringing]);
}

#[test]
fn answer_then_hang_up_waits_for_the_ack() {
    let mut sim = Sim::new();
    sim.register(300);
    let call = incoming(&mut sim, "c2@127.0.0.1", "z9hG4bKinv2");
    sim.take_sent();
    sim.agent.answer(sim.now, call).unwrap();
    sim.agent.hang_up(sim.now, call).unwrap();
    sim.drain();
    let ok = sim.responses().remove(0);
    assert_eq!(ok.status, 200);
    let body = String::from_utf8(ok.body.clone()).unwrap();
    assert!(body.contains("m=audio 7078 RTP/AVP 8\r\n"), "{body}");
    assert!(sim.requests().is_empty(), "no BYE before the ACK");
    // Timer G: the 200 is retransmitted while the ACK is missing.
    sim.advance(Duration::from_millis(600));
    assert_eq!(sim.responses().len(), 1);
    let to = ok.headers.get("To").unwrap().to_owned();
    sim.deliver(&box_request(
        "ACK",
        "c2@127.0.0.1",
        "z9hG4bKack2",
        &to,
        "7 ACK",
    ));
    let bye = sim.requests().remove(0);
    assert_eq!(bye.method, Method::Bye);
    assert_eq!(
        bye.uri.to_string(),
        "sip:0123456789abcdef0123456789abcdef@127.0.0.1",
        "BYE goes to the INVITE's Contact"
    );
    assert_eq!(
        bye.headers.from().unwrap().tag(),
        ok.headers.to().unwrap().tag(),
        "From/To swapped"
    );
    assert_eq!(bye.headers.to().unwrap().tag(), Some("3E2B0C1D9A8F7E6D"));
    assert_eq!(bye.headers.cseq().unwrap().seq, 8);
    assert_eq!(sim.take_events(), vec![Event::CallAnswered { call }]);
    // BYE retransmitted until the Box answers.
    sim.advance(Duration::from_millis(600));
    assert_eq!(sim.requests().len(), 1);
    sim.deliver(&reply(&bye, 200, ""));
    assert_eq!(
        sim.take_events(),
        vec![Event::CallEnded {
            call,
            reason: Outcome::Terminated
        }]
    );
    sim.advance(Duration::from_secs(10));
    assert!(sim.requests().is_empty());
}

#[test]
fn missing_ack_gives_up_after_64_t1_and_sends_bye() {
    let mut sim = Sim::new();
    sim.register(300);
    let call = incoming(&mut sim, "c3@127.0.0.1", "z9hG4bKinv3");
    sim.take_sent();
    sim.agent.answer(sim.now, call).unwrap();
    sim.drain();
    sim.take_sent();
    sim.advance(Duration::from_millis(31_900));
    let resent = sim.responses();
    assert!(
        resent.len() >= 9 && resent.iter().all(|r| r.status == 200),
        "{}",
        resent.len()
    );
    sim.advance(Duration::from_millis(200));
    let bye = sim.requests().remove(0);
    assert_eq!(bye.method, Method::Bye);
    // The Box wants credentials for our BYE.
    sim.deliver(&challenge(&bye, "CCCC", false));
    let bye2 = sim.requests().remove(0);
    assert_eq!(
        bye2.headers.cseq().unwrap().seq,
        bye.headers.cseq().unwrap().seq + 1
    );
    assert!(
        digest::verify(bye2.headers.get("Authorization").unwrap(), PASSWORD, "BYE")
            .unwrap()
            .1
    );
    sim.deliver(&reply(&bye2, 200, ""));
    assert_eq!(
        sim.take_events().last(),
        Some(&Event::CallEnded {
            call,
            reason: Outcome::NoAck
        }),
        "an unacknowledged 200 ends as no-ack, not as terminated"
    );
}

#[test]
fn unanswered_bye_is_retransmitted_then_given_up() {
    let mut sim = Sim::new();
    sim.register(300);
    let call = incoming(&mut sim, "c4@127.0.0.1", "z9hG4bKinv4");
    sim.agent.answer(sim.now, call).unwrap();
    sim.drain();
    let ok = sim.responses().pop().unwrap();
    sim.deliver(&box_request(
        "ACK",
        "c4@127.0.0.1",
        "z9hG4bKack4",
        ok.headers.get("To").unwrap(),
        "7 ACK",
    ));
    sim.agent.hang_up(sim.now, call).unwrap();
    sim.drain();
    sim.take_events();
    sim.advance(Duration::from_secs(40));
    let byes = sim.requests();
    assert_eq!(byes.len(), 11, "timer E: 1 + 10 retransmissions in 64·T1");
    assert!(byes.iter().all(|b| b.method == Method::Bye
        && b.headers.top_via().unwrap().branch() == byes[0].headers.top_via().unwrap().branch()));
    assert_eq!(
        sim.take_events(),
        vec![Event::CallEnded {
            call,
            reason: Outcome::ByeFailed(None)
        }]
    );
}

#[test]
fn cancel_gets_200_and_487_and_the_ack_is_absorbed() {
    let mut sim = Sim::new();
    sim.register(300);
    let call = incoming(&mut sim, "c5@127.0.0.1", "z9hG4bKinv5");
    sim.agent.ring(sim.now, call).unwrap();
    sim.drain();
    sim.take_sent();
    sim.deliver(&box_request(
        "CANCEL",
        "c5@127.0.0.1",
        "z9hG4bKinv5",
        "<sip:620@127.0.0.2:5062>",
        "7 CANCEL",
    ));
    let r = sim.responses();
    assert_eq!(
        r.iter().map(|r| r.status).collect::<Vec<_>>(),
        vec![200, 487]
    );
    assert_eq!(r[0].headers.cseq().unwrap().method, Method::Cancel);
    assert_eq!(
        r[0].headers.to().unwrap().tag(),
        r[1].headers.to().unwrap().tag()
    );
    assert_eq!(
        sim.take_events(),
        vec![Event::CallEnded {
            call,
            reason: Outcome::Cancelled
        }]
    );
    assert_eq!(
        sim.agent.answer(sim.now, call),
        Err(CommandError::WrongState(call, "answered"))
    );
    sim.deliver(&box_request(
        "ACK",
        "c5@127.0.0.1",
        "z9hG4bKinv5",
        r[1].headers.get("To").unwrap(),
        "7 ACK",
    ));
    assert!(sim.take_sent().is_empty());
    sim.advance(Duration::from_secs(40));
    assert!(
        sim.take_sent().is_empty(),
        "no 487 retransmission after the ACK"
    );
    assert!(sim.take_events().is_empty());
}

#[test]
fn cancel_racing_our_200_does_not_end_the_call() {
    let mut sim = Sim::new();
    sim.register(300);
    let call = incoming(&mut sim, "c6@127.0.0.1", "z9hG4bKinv6");
    sim.agent.answer(sim.now, call).unwrap();
    sim.drain();
    let ok = sim.responses().pop().unwrap();
    sim.deliver(&box_request(
        "CANCEL",
        "c6@127.0.0.1",
        "z9hG4bKinv6",
        "<sip:620@127.0.0.2:5062>",
        "7 CANCEL",
    ));
    let r = sim.responses();
    assert_eq!(
        r.iter().map(|r| r.status).collect::<Vec<_>>(),
        vec![200],
        "200 to CANCEL, no 487 after a 2xx"
    );
    sim.deliver(&box_request(
        "ACK",
        "c6@127.0.0.1",
        "z9hG4bKack6",
        ok.headers.get("To").unwrap(),
        "7 ACK",
    ));
    assert_eq!(sim.take_events(), vec![Event::CallAnswered { call }]);
    // The Box hangs up.
    let bye = box_request(
        "BYE",
        "c6@127.0.0.1",
        "z9hG4bKbye6",
        ok.headers.get("To").unwrap(),
        "8 BYE",
    );
    sim.deliver(&bye);
    assert_eq!(sim.responses()[0].status, 200);
    assert_eq!(
        sim.take_events(),
        vec![Event::CallEnded {
            call,
            reason: Outcome::RemoteHungUp
        }]
    );
    sim.deliver(&bye);
    assert_eq!(
        sim.responses()[0].status,
        200,
        "retransmitted BYE answered again"
    );
    assert!(sim.take_events().is_empty());
}

#[test]
fn delayed_reject_rings_first() {
    let mut sim = Sim::new();
    sim.register(300);
    let call = incoming(&mut sim, "c7@127.0.0.1", "z9hG4bKinv7");
    sim.take_sent();
    sim.agent
        .reject(sim.now, call, 486, Some(Duration::from_secs(3)))
        .unwrap();
    sim.drain();
    assert_eq!(sim.responses()[0].status, 180);
    sim.advance(Duration::from_millis(2900));
    assert!(sim.take_sent().is_empty());
    sim.advance(Duration::from_millis(200));
    let r = sim.responses();
    assert_eq!(r[0].status, 486);
    sim.deliver(&box_request(
        "ACK",
        "c7@127.0.0.1",
        "z9hG4bKinv7",
        r[0].headers.get("To").unwrap(),
        "7 ACK",
    ));
    assert_eq!(
        sim.take_events(),
        vec![Event::CallEnded {
            call,
            reason: Outcome::Rejected(486)
        }]
    );
    assert_eq!(
        sim.agent.reject(sim.now, call, 200, None),
        Err(CommandError::BadStatus(200))
    );
}

#[test]
fn strangers_are_ignored_and_odd_requests_answered() {
    let mut sim = Sim::new();
    sim.register(300);
    sim.deliver_from(
        "127.0.0.9:5060",
        &invite("x@1", "z9hG4bKevil", "<sip:0900123@fritz.box>"),
    );
    assert!(
        sim.take_sent().is_empty() && sim.take_events().is_empty(),
        "never answered with a call"
    );
    // Any port of the registrar's IP is fine.
    sim.deliver_from(
        "127.0.0.1:40000",
        &box_request(
            "OPTIONS",
            "o1",
            "z9hG4bKopt",
            "<sip:620@127.0.0.2>",
            "1 OPTIONS",
        ),
    );
    let r = sim.responses().remove(0);
    assert_eq!(r.status, 200);
    assert!(r.headers.get("Allow").unwrap().contains("INVITE"));
    sim.deliver(&box_request(
        "MESSAGE",
        "m1",
        "z9hG4bKmsg",
        "<sip:620@127.0.0.2>",
        "1 MESSAGE",
    ));
    assert_eq!(sim.responses()[0].status, 405);
    sim.deliver(&box_request(
        "BYE",
        "nope",
        "z9hG4bKbye",
        "<sip:620@127.0.0.2>;tag=1",
        "1 BYE",
    ));
    assert_eq!(sim.responses()[0].status, 481);
    sim.deliver(b"INVITE sip:620@127.0.0.2 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bKbad\r\nFrom: <sip:1@x>;tag=1\r\nTo: <sip:620@x>\r\nCall-ID: bad\r\nCSeq: 1 INVITE\r\nMax-Forwards: 300\r\n\r\n");
    let r = sim.responses().remove(0);
    assert_eq!(r.status, 400);
    assert!(r.reason.contains("Max-Forwards"), "{}", r.reason);
    sim.deliver(b"\x00\x01garbage");
    assert!(sim.take_sent().is_empty());
    assert!(sim.take_events().is_empty());
}

/// The Box as a lossy peer: retransmits its INVITE until a provisional
/// response, ACKs every 200 to the INVITE, answers every BYE.
#[test]
fn blocked_call_is_terminated_at_20_percent_loss() {
    for seed in 0..60u64 {
        let mut rng = SmallRng::seed_from_u64(seed);
        let mut sim = Sim::new();
        sim.register(300);
        let inv = invite(
            "lossy@127.0.0.1",
            "z9hG4bKlossy",
            "<sip:09005551234@fritz.box>",
        );
        let mut to_phone: Vec<(Instant, Vec<u8>)> = vec![(sim.now, inv.clone())];
        let (mut provisional, mut box_got_bye, mut call) = (false, false, None);
        let mut next_invite = sim.now + transaction::T1;
        let end = sim.now + Duration::from_secs(60);
        while sim.now < end {
            // Deliver what is due, in random order (reordering), with loss and duplicates.
            let (due, later): (Vec<_>, Vec<_>) =
                to_phone.drain(..).partition(|(t, _)| *t <= sim.now);
            to_phone = later;
            let mut due: Vec<_> = due.into_iter().map(|(_, d)| d).collect();
            if due.len() > 1 && rng.random_bool(0.5) {
                due.reverse();
            }
            for d in due {
                if rng.random_bool(0.2) {
                    continue;
                }
                let copies = if rng.random_bool(0.1) { 2 } else { 1 };
                for _ in 0..copies {
                    sim.deliver(&d);
                }
            }
            for e in sim.take_events() {
                if let Event::IncomingCall { call: c, .. } = e {
                    assert!(call.is_none(), "seed {seed}: one decision per call");
                    call = Some(c);
                    sim.agent.answer(sim.now, c).unwrap();
                    sim.agent.hang_up(sim.now, c).unwrap();
                    sim.drain();
                }
                if let Event::CallEnded { reason, .. } = e {
                    assert_eq!(reason, Outcome::Terminated, "seed {seed}");
                }
            }
            for (_, m) in sim.take_sent() {
                if rng.random_bool(0.2) {
                    continue;
                }
                let delay = Duration::from_millis(rng.random_range(1..80));
                match m {
                    Message::Response(r) if r.status < 200 => provisional = true,
                    Message::Response(r)
                        if r.status == 200
                            && r.headers.cseq().unwrap().method == Method::Invite =>
                    {
                        provisional = true;
                        let ack = box_request(
                            "ACK",
                            "lossy@127.0.0.1",
                            "z9hG4bKlossyack",
                            r.headers.get("To").unwrap(),
                            "7 ACK",
                        );
                        to_phone.push((sim.now + delay, ack));
                    }
                    Message::Request(r) if r.method == Method::Bye => {
                        box_got_bye = true;
                        to_phone.push((sim.now + delay, reply(&r, 200, "")));
                    }
                    _ => {}
                }
            }
            if !provisional && sim.now >= next_invite {
                to_phone.push((sim.now, inv.clone()));
                next_invite = sim.now + transaction::T1;
            }
            sim.advance(Duration::from_millis(10));
        }
        assert!(
            call.is_some() && box_got_bye,
            "seed {seed}: call terminated"
        );
    }
}

#[test]
fn long_grants_are_still_refreshed_every_minute() {
    let mut sim = Sim::new();
    sim.register(300);
    sim.take_sent();
    sim.advance(Duration::from_secs(59));
    assert!(sim.requests().is_empty());
    sim.advance(Duration::from_secs(2));
    assert_eq!(sim.requests()[0].method, Method::Register);
}

#[test]
fn an_undecided_call_expires_with_487() {
    let mut sim = Sim::new();
    sim.register(300);
    let msg = String::from_utf8(invite(
        "exp@127.0.0.1",
        "z9hG4bKexp",
        "<sip:0401@fritz.box>",
    ))
    .unwrap();
    sim.deliver(
        msg.replace(
            "Max-Forwards: 70\r\n",
            "Max-Forwards: 70\r\nExpires: 120\r\n",
        )
        .as_bytes(),
    );
    let Some(Event::IncomingCall { call, .. }) = sim.take_events().pop() else {
        panic!()
    };
    sim.take_sent();
    sim.advance(Duration::from_secs(119));
    assert!(sim.responses().is_empty());
    sim.advance(Duration::from_secs(2));
    assert!(sim.responses().iter().any(|r| r.status == 487));
    let ended: Vec<Event> = sim
        .take_events()
        .into_iter()
        .filter(|e| matches!(e, Event::CallEnded { .. }))
        .collect();
    assert_eq!(
        ended,
        vec![Event::CallEnded {
            call,
            reason: Outcome::Expired
        }]
    );
}

#[test]
fn cancel_with_reason_200_means_answered_elsewhere() {
    let mut sim = Sim::new();
    sim.register(300);
    let call = incoming(&mut sim, "c9@127.0.0.1", "z9hG4bKinv9");
    let cancel = String::from_utf8(box_request(
        "CANCEL",
        "c9@127.0.0.1",
        "z9hG4bKinv9",
        "<sip:620@127.0.0.2:5062>",
        "7 CANCEL",
    ))
    .unwrap();
    let cancel = cancel.replace(
        "Max-Forwards: 70\r\n",
        "Max-Forwards: 70\r\nReason: SIP;cause=200;text=\"Call completed elsewhere\"\r\n",
    );
    sim.deliver(cancel.as_bytes());
    assert_eq!(
        sim.take_events(),
        vec![Event::CallEnded {
            call,
            reason: Outcome::AnsweredElsewhere
        }]
    );
}

/// Feeds an INVITE and decides the moment IncomingCall comes out of
/// poll_output, as the driver's inline screen does.
fn decide_at_once(sim: &mut Sim, call_id: &str, decide: impl FnOnce(&mut Agent, Instant, CallId)) {
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

#[test]
fn a_decision_at_once_replaces_the_100_trying() {
    let mut sim = Sim::new();
    sim.register(300);
    sim.take_sent();
    decide_at_once(&mut sim, "now1@127.0.0.1", |a, now, call| {
        a.answer(now, call).unwrap();
        a.hang_up(now, call).unwrap();
    });
    let r = sim.responses();
    assert_eq!(
        r.iter().map(|r| r.status).collect::<Vec<_>>(),
        vec![200],
        "RFC 3261 §17.2.1: no 100 when the TU answers at once"
    );
    decide_at_once(&mut sim, "now2@127.0.0.1", |a, now, call| {
        a.ring(now, call).unwrap()
    });
    assert_eq!(
        sim.responses().iter().map(|r| r.status).collect::<Vec<_>>(),
        vec![180]
    );
    // Undecided: the 100 follows the event, and a retransmission gets it again.
    decide_at_once(&mut sim, "now3@127.0.0.1", |_, _, _| {});
    assert_eq!(
        sim.responses().iter().map(|r| r.status).collect::<Vec<_>>(),
        vec![100]
    );
    sim.deliver(&invite(
        "now3@127.0.0.1",
        "z9hG4bKnow",
        "<sip:09005551234@fritz.box>",
    ));
    assert_eq!(
        sim.responses().iter().map(|r| r.status).collect::<Vec<_>>(),
        vec![100]
    );
}

#[test]
fn shutting_down_declines_ringing_calls_and_hangs_up_answered_ones() {
    let mut sim = Sim::new();
    sim.register(300);
    let ringing = incoming(&mut sim, "sd1@127.0.0.1", "z9hG4bKsd1");
    let up = incoming(&mut sim, "sd2@127.0.0.1", "z9hG4bKsd2");
    sim.agent.answer(sim.now, up).unwrap();
    sim.drain();
    let ok = sim
        .responses()
        .into_iter()
        .find(|r| r.status == 200)
        .unwrap();
    let to = ok.headers.get("To").unwrap().to_owned();
    sim.deliver(&box_request(
        "ACK",
        "sd2@127.0.0.1",
        "z9hG4bKack2",
        &to,
        "7 ACK",
    ));
    sim.take_sent();
    assert_eq!(sim.agent.active_calls(), 2);
    sim.agent.shut_down(sim.now);
    sim.drain();
    let sent = sim.take_sent();
    let statuses: Vec<u16> = sent
        .iter()
        .filter_map(|(_, m)| match m {
            Message::Response(r) => Some(r.status),
            _ => None,
        })
        .collect();
    assert_eq!(
        statuses,
        vec![480],
        "the ringing call: the other phones ring on"
    );
    let bye = sent
        .into_iter()
        .find_map(|(_, m)| match m {
            Message::Request(r) if r.method == Method::Bye => Some(r),
            _ => None,
        })
        .expect("BYE for the answered call");
    sim.deliver(&reply(&bye, 200, ""));
    let ends: Vec<Event> = sim
        .take_events()
        .into_iter()
        .filter(|e| matches!(e, Event::CallEnded { .. }))
        .collect();
    assert_eq!(
        ends,
        vec![Event::CallEnded {
            call: up,
            reason: Outcome::Terminated
        }]
    );
    assert_eq!(
        sim.agent.active_calls(),
        0,
        "{ringing} waits only for its ACK"
    );
}

#[test]
fn calls_beyond_the_cap_get_486_and_cost_nothing() {
    let mut sim = Sim::new();
    sim.register(300);
    for i in 0..MAX_CALLS {
        incoming(
            &mut sim,
            &format!("cap{i}@127.0.0.1"),
            &format!("z9hG4bKcap{i}"),
        );
    }
    sim.take_sent();
    sim.deliver(&invite(
        "over@127.0.0.1",
        "z9hG4bKover",
        "<sip:0301@fritz.box>",
    ));
    assert_eq!(sim.responses()[0].status, 486);
    assert!(matches!(sim.take_events()[..], [Event::CallRefused { .. }]));
    assert_eq!(sim.agent.active_calls(), MAX_CALLS);
}

#[test]
fn a_latin1_display_name_is_still_screened() {
    let mut sim = Sim::new();
    sim.register(300);
    sim.take_sent();
    let mut data = invite(
        "latin1@127.0.0.1",
        "z9hG4bKlatin1",
        "\"MXller\" <sip:0301234567@fritz.box>",
    );
    let i = data.windows(6).position(|w| w == b"MXller").unwrap();
    data[i + 1] = 0xFC; // "ü" as the Box's phonebook has it in Latin-1
    sim.deliver(&data);
    let ev = sim.take_events();
    let Some(Event::IncomingCall { caller, .. }) = ev.first() else {
        panic!("no call: {ev:?}")
    };
    assert_eq!(caller.display_name.as_deref(), Some("Müller"));
    assert_eq!(caller.number.as_deref(), Some("0301234567"));
    assert_eq!(sim.responses()[0].status, 100);
}

/// An in-dialog request from the Box: `method` with our tag in To.
fn in_dialog(method: &str, call_id: &str, branch: &str, to: &str, cseq: u32) -> Vec<u8> {
    box_request(method, call_id, branch, to, &format!("{cseq} {method}"))
}

/// Answers a call and takes the 200; returns the 200's To (with our tag).
fn answered(sim: &mut Sim, call_id: &str) -> String {
    let branch = format!("z9hG4bK{}", call_id.replace('@', "-"));
    let call = incoming(sim, call_id, &branch);
    sim.take_sent();
    sim.agent.answer(sim.now, call).unwrap();
    sim.drain();
    let ok = sim.responses().remove(0);
    assert_eq!(ok.status, 200);
    ok.headers.get("To").unwrap().to_owned()
}

#[test]
fn a_423_raises_the_registration_to_min_expires() {
    let mut sim = Sim::new();
    let first = sim.first_register();
    sim.deliver(&reply(&first, 423, "Min-Expires: 3600\r\n"));
    let again = sim.requests();
    assert_eq!(again.len(), 1, "asked again at once");
    assert_eq!(again[0].headers.get("Expires"), Some("3600"));
    assert_ne!(
        again[0].headers.top_via().unwrap().branch(),
        first.headers.top_via().unwrap().branch(),
        "a new transaction"
    );
    assert!(
        again[0].headers.cseq().unwrap().seq > first.headers.cseq().unwrap().seq,
        "RFC 3261 §10.2.4: CSeq grows in one registration's Call-ID"
    );
}

#[test]
fn a_407_challenge_is_answered_with_proxy_authorization() {
    let mut sim = Sim::new();
    let first = sim.first_register();
    sim.deliver(&reply(
        &first,
        407,
        "Proxy-Authenticate: Digest realm=\"fritz.box\", nonce=\"0A1B2C3D4E5F6071\"\r\n",
    ));
    let again = sim.requests().remove(0);
    let auth = again
        .headers
        .get("Proxy-Authorization")
        .expect("RFC 3261 §22.3: a 407 is answered with Proxy-Authorization");
    assert!(auth.contains("nonce=\"0A1B2C3D4E5F6071\""), "{auth}");
    assert!(again.headers.get("Authorization").is_none());
    sim.deliver(&ok_register(&again, 300));
    assert!(sim.take_events().contains(&Event::Registered {
        expires: Duration::from_secs(300)
    }));
}

#[test]
fn an_invite_that_requires_an_extension_gets_420_and_no_call() {
    let mut sim = Sim::new();
    sim.register(300);
    let mut inv = String::from_utf8(invite(
        "req@1",
        "z9hG4bKreq",
        "<sip:040855992611@fritz.box>",
    ))
    .unwrap();
    inv = inv.replacen(
        "Max-Forwards: 70\r\n",
        "Max-Forwards: 70\r\nRequire: 100rel\r\n",
        1,
    );
    sim.deliver(inv.as_bytes());
    let r = sim.responses();
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].status, 420, "RFC 3261 §8.2.2.3");
    assert_eq!(r[0].headers.get("Unsupported"), Some("100rel"));
    assert!(sim.take_events().is_empty(), "no call for the screen");
}

#[test]
fn a_reinvite_gets_200_once_confirmed_491_before_and_481_after() {
    let mut sim = Sim::new();
    sim.register(300);
    let to = answered(&mut sim, "re@1");
    // Answered, the ACK still missing: our INVITE transaction is pending.
    sim.deliver(&in_dialog("INVITE", "re@1", "z9hG4bKre1", &to, 8));
    assert_eq!(sim.responses()[0].status, 491, "RFC 3261 §14.2");
    sim.deliver(&in_dialog("ACK", "re@1", "z9hG4bKack", &to, 7));
    // Confirmed: a session refresh (RFC 4028) keeps the session.
    sim.deliver(&in_dialog("INVITE", "re@1", "z9hG4bKre2", &to, 9));
    let ok = sim.responses().remove(0);
    assert_eq!(ok.status, 200);
    assert!(
        ok.headers.get("Contact").is_some(),
        "a 2xx to INVITE has Contact"
    );
    assert_eq!(ok.headers.to().unwrap().tag(), Some(to_tag(&to)));
    // After the Box hung up: the dialog is gone.
    sim.deliver(&in_dialog("BYE", "re@1", "z9hG4bKbye", &to, 10));
    assert_eq!(sim.responses()[0].status, 200);
    sim.advance(Duration::from_secs(10));
    sim.deliver(&in_dialog("INVITE", "re@1", "z9hG4bKre3", &to, 11));
    assert_eq!(sim.responses()[0].status, 481, "RFC 3261 §12.2.2");
}

fn to_tag(to: &str) -> &str {
    to.split(";tag=").nth(1).unwrap()
}

#[test]
fn update_info_and_notify_in_a_dialog_get_200_and_outside_481() {
    let mut sim = Sim::new();
    sim.register(300);
    let to = answered(&mut sim, "mid@1");
    for (n, m) in ["UPDATE", "INFO", "NOTIFY"].into_iter().enumerate() {
        sim.deliver(&in_dialog(
            m,
            "mid@1",
            &format!("z9hG4bKmid{n}"),
            &to,
            20 + n as u32,
        ));
        let r = sim.responses();
        assert_eq!((m, r.len(), r[0].status), (m, 1, 200));
        sim.deliver(&in_dialog(m, "other@1", &format!("z9hG4bKout{n}"), &to, 1));
        assert_eq!((m, sim.responses()[0].status), (m, 481));
    }
    assert!(
        !sim.take_events()
            .iter()
            .any(|e| matches!(e, Event::CallEnded { .. })),
        "the call goes on"
    );
}

#[test]
fn the_bye_follows_the_invites_record_route() {
    let mut sim = Sim::new();
    sim.register(300);
    let inv = String::from_utf8(invite("rr@1", "z9hG4bKrr", "<sip:040855992611@fritz.box>"))
        .unwrap()
        .replacen(
            "Max-Forwards: 70\r\n",
            "Max-Forwards: 70\r\nRecord-Route: <sip:127.0.0.1:5060;lr>, <sip:10.0.0.1;lr>\r\n",
            1,
        );
    let call = incoming_from(&mut sim, inv.as_bytes());
    sim.take_sent();
    sim.agent.answer(sim.now, call).unwrap();
    sim.agent.hang_up(sim.now, call).unwrap();
    sim.drain();
    let ok = sim.responses().remove(0);
    assert_eq!(
        ok.headers.get_all("Record-Route").collect::<Vec<_>>(),
        ["<sip:127.0.0.1:5060;lr>, <sip:10.0.0.1;lr>"],
        "RFC 3261 §12.1.1: the 2xx copies Record-Route"
    );
    let to = ok.headers.get("To").unwrap().to_owned();
    sim.deliver(&in_dialog("ACK", "rr@1", "z9hG4bKrrack", &to, 7));
    let bye = sim.requests().remove(0);
    assert_eq!(bye.method, Method::Bye);
    let routes: Vec<String> = bye
        .headers
        .name_addrs("Route")
        .unwrap()
        .iter()
        .map(|r| r.uri.to_string())
        .collect();
    assert_eq!(
        routes,
        ["sip:127.0.0.1:5060;lr", "sip:10.0.0.1;lr"],
        "RFC 3261 §12.2.1.1: the UAS's route set is the Record-Route in order"
    );
    assert_eq!(
        bye.uri.to_string(),
        "sip:0123456789abcdef0123456789abcdef@127.0.0.1",
        "loose routing: the Request-URI stays the remote target"
    );
}

#[test]
fn an_options_flood_keeps_at_most_max_answered_responses_and_lets_them_expire() {
    let mut sim = Sim::new();
    sim.register(3600);
    let n = MAX_ANSWERED + 2000;
    for i in 0..n {
        sim.deliver(&box_request(
            "OPTIONS",
            &format!("flood{i}"),
            &format!("z9hG4bKflood{i}"),
            "<sip:620@127.0.0.2>",
            "1 OPTIONS",
        ));
    }
    let answered = sim.responses();
    assert_eq!(answered.len(), n, "every OPTIONS answered");
    assert!(answered.iter().all(|r| r.status == 200));
    assert_eq!(
        sim.agent.answered.len(),
        MAX_ANSWERED,
        "the retransmission cache is bounded"
    );
    assert_eq!(sim.agent.answered_expiry.len(), MAX_ANSWERED);
    // RFC 3261 §17.2.2: kept 64·T1 for retransmissions, then gone.
    sim.advance(Duration::from_secs(40));
    assert!(sim.agent.answered.is_empty() && sim.agent.answered_expiry.is_empty());
    assert!(
        sim.agent.answered.capacity() <= 64 && sim.agent.answered_expiry.capacity() <= 64,
        "and the memory it grew to is given back"
    );
}

#[test]
fn after_a_wave_of_calls_the_agent_gives_back_the_memory_its_maps_grew_to() {
    let mut sim = Sim::new();
    sim.register(3600);
    for wave in 0..8 {
        for i in 0..200 {
            let call = incoming(
                &mut sim,
                &format!("wave{wave}-{i}@127.0.0.1"),
                &format!("z9hG4bKwave{wave}x{i}"),
            );
            sim.agent.reject(sim.now, call, 486, None).unwrap();
        }
        sim.drain();
    }
    assert!(sim.agent.calls.len() >= 1000, "the wave lingers a while");
    // Unacknowledged rejections end after timer H (64·T1) and linger T4.
    sim.advance(Duration::from_secs(60));
    assert!(sim.agent.calls.is_empty() && sim.agent.dialogs.is_empty());
    assert!(
        sim.agent.calls.capacity() <= 64 && sim.agent.dialogs.capacity() <= 64,
        "capacity {} / {} after the wave",
        sim.agent.calls.capacity(),
        sim.agent.dialogs.capacity()
    );
}

#[test]
fn a_forged_register_answer_from_a_stranger_is_not_accepted() {
    let mut sim = Sim::new();
    let first = sim.first_register();
    // Someone else on the LAN answers our REGISTER first, with a 200 and
    // then a challenge of its own: neither counts.
    sim.deliver_from("127.0.0.9:5060", &ok_register(&first, 3600));
    sim.deliver_from(
        "127.0.0.9:5060",
        &challenge(&first, "0000000000000000", false),
    );
    assert!(
        sim.take_events().is_empty(),
        "no registration from a stranger"
    );
    assert!(sim.requests().is_empty(), "and no answer to its challenge");
    // The Box's own challenge still works.
    sim.deliver(&challenge(&first, "78B29326485EAE52", false));
    let again = sim.requests().remove(0);
    sim.deliver(&ok_register(&again, 300));
    assert!(sim.take_events().contains(&Event::Registered {
        expires: Duration::from_secs(300)
    }));
}

#[test]
fn hostile_datagrams_from_the_box_get_400_or_nothing_and_calls_still_work() {
    let mut sim = Sim::new();
    sim.register(300);
    sim.take_sent();
    let good = invite("h@1", "z9hG4bKh1", "<sip:0301234567@fritz.box>");
    let text = String::from_utf8(good.clone()).unwrap();
    let with = |from: &str, to: &str| text.replacen(from, to, 1).into_bytes();
    let many_headers = with("Max-Forwards: 70\r\n", &"X-Junk: 1\r\n".repeat(500));
    let many_vias = with(
        "Via: ",
        &"Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKv\r\n"
            .repeat(200)
            .replacen("Via: ", "", 1),
    );
    let long_uri = with(
        "INVITE sip:620@127.0.0.2:5062",
        &format!("INVITE sip:{}@127.0.0.2:5062", "6".repeat(60_000)),
    );
    let lying_length = with("Content-Length: ", "Content-Length: 99999").to_vec();
    let two_lengths = with("Content-Length: ", "Content-Length: 3\r\nContent-Length: ");
    let cseq_overflow = with("CSeq: 7 INVITE", "CSeq: 4294967296 INVITE");
    let no_call_id = with("Call-ID: h@1\r\n", "");
    let nul_body = {
        let mut d = with("v=0", "v=\0");
        d.push(0);
        d
    };
    let garbage_sdp = with("m=audio 7078 RTP/AVP", "m=audio notaport RTP/\u{1}");
    let mut oversized = good.clone();
    oversized.resize(70_000, b'x');
    let hostile: Vec<(&str, Vec<u8>)> = vec![
        ("truncated", good[..good.len() / 2].to_vec()),
        ("oversized", oversized),
        ("500 headers", many_headers),
        ("200 Vias", many_vias),
        ("60 KB URI", long_uri),
        ("lying Content-Length", lying_length),
        ("two Content-Lengths", two_lengths),
        ("CSeq overflow", cseq_overflow),
        ("no Call-ID", no_call_id),
        ("NUL in the body", nul_body),
        ("garbage SDP", garbage_sdp),
        ("binary", (0..=255u8).cycle().take(3000).collect()),
        (
            "CANCEL of no call",
            box_request(
                "CANCEL",
                "none",
                "z9hG4bKc",
                "<sip:620@127.0.0.2>",
                "1 CANCEL",
            ),
        ),
        (
            "ACK of no call",
            box_request(
                "ACK",
                "none",
                "z9hG4bKa",
                "<sip:620@127.0.0.2>;tag=x",
                "1 ACK",
            ),
        ),
    ];
    let mut answered = std::collections::HashMap::new();
    for (what, data) in &hostile {
        // Read raw: a 400 echoes the request's own (broken) CSeq, as RFC
        // 3261 §8.2.6.2 asks, so it need not parse.
        sim.agent.handle_input(Input::Receive {
            now: sim.now,
            from: addr(BOX),
            data,
        });
        loop {
            match sim.agent.poll_output() {
                Output::Transmit { data, .. } => {
                    let line = String::from_utf8_lossy(&data[..data.len().min(12)]).into_owned();
                    let status: u16 = line.get(8..11).and_then(|s| s.parse().ok()).unwrap_or(0);
                    assert!(
                        line.starts_with("SIP/2.0 ")
                            && matches!(status, 100 | 180 | 400 | 481 | 486 | 488 | 513),
                        "{what}: sent {line:?}"
                    );
                    answered.entry(*what).or_insert(status);
                }
                Output::Event(_) => {}
                Output::Timeout(_) => break,
            }
        }
    }
    // RFC 4475 §3.1.2: what cannot be trusted gets a 400, not a call.
    for what in ["no Call-ID", "CSeq overflow", "two Content-Lengths"] {
        assert_eq!(answered.get(what), Some(&400), "{what}");
    }
    // The phone still takes a proper call.
    let call = incoming_from(
        &mut sim,
        &invite("after@1", "z9hG4bKafter", "<sip:0301234567@fritz.box>"),
    );
    sim.agent.answer(sim.now, call).unwrap();
    sim.drain();
    assert!(sim.responses().iter().any(|r| r.status == 200));
}

#[test]
fn an_answer_with_media_speaks_at_our_port_and_says_where_to() {
    let mut sim = Sim::new();
    sim.register(300);
    let call = incoming(&mut sim, "media@1", "z9hG4bKmedia1");
    sim.take_sent();
    let media = sim
        .agent
        .answer_with_media(sim.now, call, 40_000)
        .unwrap()
        .expect("the Box offered PCMA");
    assert_eq!(media.remote, addr("127.0.0.1:7078"));
    assert_eq!(
        (media.codec, media.telephone_event),
        (sdp_pcma(), Some(101))
    );
    sim.drain();
    let ok = sim.responses().remove(0);
    let body = String::from_utf8(ok.body.clone()).unwrap();
    assert!(body.contains("m=audio 40000 RTP/AVP 8 101\r\n"), "{body}");
    assert!(body.contains("a=ptime:20\r\na=sendrecv\r\n"), "{body}");

    // An offer without G.722's companions: answered, but without audio.
    let full = String::from_utf8(invite(
        "g722@1",
        "z9hG4bKg722",
        "<sip:040855992611@fritz.box>",
    ))
    .unwrap();
    let (head, body) = full.split_once("\r\n\r\n").unwrap();
    let body = body.replace("RTP/AVP 9 8 0 120 121 101", "RTP/AVP 9 121");
    let head = head.replace(
        &format!("Content-Length: {}", full.len() - head.len() - 4),
        &format!("Content-Length: {}", body.len()),
    );
    let g722 = format!("{head}\r\n\r\n{body}");
    let call = incoming_from(&mut sim, g722.as_bytes());
    sim.take_sent();
    assert_eq!(sim.agent.answer_with_media(sim.now, call, 40_002), Ok(None));
    sim.drain();
    assert_eq!(sim.responses()[0].status, 200);
}

fn sdp_pcma() -> crate::sip::sdp::Codec {
    crate::sip::sdp::PCMA
}

#[test]
fn keys_by_info_become_events_and_other_infos_do_not() {
    let mut sim = Sim::new();
    sim.register(300);
    let to = answered(&mut sim, "keys@1");
    let info = |body: &str, ctype: &str, n: u32| {
        let head = String::from_utf8(in_dialog(
            "INFO",
            "keys@1",
            &format!("z9hG4bKkey{n}"),
            &to,
            30 + n,
        ))
        .unwrap();
        head.replace(
            "Content-Length: 0\r\n\r\n",
            &format!(
                "Content-Type: {ctype}\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            ),
        )
    };
    sim.deliver(info("Signal=1\r\nDuration=160\r\n", "application/dtmf-relay", 1).as_bytes());
    sim.deliver(info("Signal=#\r\nDuration=160\r\n", "Application/DTMF-Relay", 2).as_bytes());
    // Another body type, or no key in it: answered 200, no key.
    sim.deliver(info("Signal=5\r\n", "application/media_control+xml", 3).as_bytes());
    sim.deliver(info("Duration=160\r\n", "application/dtmf-relay", 4).as_bytes());
    assert!(sim.responses().iter().all(|r| r.status == 200));
    let keys: Vec<char> = sim
        .take_events()
        .into_iter()
        .filter_map(|e| match e {
            Event::Dtmf { digit, .. } => Some(digit),
            _ => None,
        })
        .collect();
    assert_eq!(keys, ['1', '#']);
}
