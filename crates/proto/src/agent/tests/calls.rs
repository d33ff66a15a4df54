//! Incoming calls: ring, answer, reject, CANCEL and BYE, with loss and retransmissions.

use super::super::*;
use super::harness::*;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

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
    let (call, ok) = answered_and_hung_up(&mut sim, "c2@127.0.0.1", "z9hG4bKinv2");
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
fn the_bye_made_before_the_ack_asks_again_with_credentials() {
    let mut sim = Sim::new();
    sim.register(300);
    let (call, ok) = answered_and_hung_up(&mut sim, "c2b@127.0.0.1", "z9hG4bKinv2b");
    assert!(sim.requests().is_empty(), "made, not sent, before the ACK");
    let to = ok.headers.get("To").unwrap().to_owned();
    sim.deliver(&box_request(
        "ACK",
        "c2b@127.0.0.1",
        "z9hG4bKack2b",
        &to,
        "7 ACK",
    ));
    let bye = sim.requests().remove(0);
    assert_eq!(bye.headers.cseq().unwrap().seq, 8);
    // Timer E resends the very BYE that was made in advance.
    sim.advance(Duration::from_millis(600));
    assert_eq!(sim.requests(), vec![bye.clone()]);
    let bye2 = bye_with_credentials(&mut sim, &bye, "DDDD");
    sim.deliver(&reply(&bye2, 200, ""));
    assert_eq!(
        sim.take_events().last(),
        Some(&Event::CallEnded {
            call,
            reason: Outcome::Terminated
        })
    );
}

/// The Box challenges `bye`: the next BYE is a new transaction (CSeq one
/// up, another branch) with valid credentials.
fn bye_with_credentials(sim: &mut Sim, bye: &Request, nonce: &str) -> Request {
    sim.deliver(&challenge(bye, nonce, false));
    let bye2 = sim.requests().remove(0);
    assert_eq!(
        bye2.headers.cseq().unwrap().seq,
        bye.headers.cseq().unwrap().seq + 1
    );
    assert_ne!(
        bye2.headers.top_via().unwrap().branch(),
        bye.headers.top_via().unwrap().branch()
    );
    assert!(
        digest::verify(bye2.headers.get("Authorization").unwrap(), PASSWORD, "BYE")
            .unwrap()
            .1
    );
    bye2
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
    let bye2 = bye_with_credentials(&mut sim, &bye, "CCCC");
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
        .reject(sim.now, call, StatusCode(486), Some(Duration::from_secs(3)))
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
            reason: Outcome::Rejected(StatusCode(486))
        }]
    );
    assert_eq!(
        sim.agent.reject(sim.now, call, StatusCode(200), None),
        Err(CommandError::BadStatus(StatusCode::OK))
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
                    Message::Response(r) if r.status.is_provisional() => provisional = true,
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
            Message::Response(r) => Some(r.status.0),
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
