//! Registration: the Box's challenge, refreshes, lost registrations, odd grants.

use super::super::*;
use super::harness::*;

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
fn a_silent_box_is_said_within_seconds_and_shutting_down_waits_for_nothing() {
    let mut sim = Sim::new();
    sim.first_register();
    sim.advance(Duration::from_millis(3400));
    assert!(
        !sim.take_events()
            .iter()
            .any(|e| matches!(e, Event::RegistrarSilent { .. })),
        "not before the third resend"
    );
    sim.advance(Duration::from_millis(200));
    assert_eq!(
        sim.take_events(),
        vec![Event::RegistrarSilent {
            registrar: addr(BOX),
            waited: Duration::from_millis(3500),
        }],
        "said once, 3.5 s after the first REGISTER"
    );
    sim.advance(Duration::from_secs(20));
    assert!(sim.take_events().is_empty(), "and only once per attempt");
    // Never bound: nothing to unregister, nothing to wait for.
    sim.take_sent();
    sim.agent.unregister(sim.now);
    sim.drain();
    assert_eq!(sim.take_events(), vec![Event::Unregistered]);
    assert!(sim.requests().is_empty(), "no REGISTER with expires 0");
}

#[test]
fn a_box_that_answers_late_is_not_called_silent() {
    let mut sim = Sim::new();
    let r = sim.first_register();
    sim.deliver(&challenge(&r, "AAAA", false));
    let r = sim.requests().remove(0);
    // The answer to the challenge is resent twice, then answered.
    sim.advance(Duration::from_secs(3));
    sim.deliver(&ok_register(&r, 300));
    sim.advance(Duration::from_secs(5));
    let events = sim.take_events();
    assert!(events.contains(&Event::Registered {
        expires: Duration::from_secs(300)
    }));
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, Event::RegistrarSilent { .. })),
        "{events:?}"
    );
}

/// A Box that stops talking while it holds our binding (it dropped it
/// silently: a reboot, an update) is noticed after three of its keepalive
/// intervals, before the next refresh: the agent says so and registers
/// again at once. A Box that keeps its keepalives coming is left alone.
#[test]
fn a_box_gone_quiet_is_registered_at_again_at_once() {
    let mut sim = Sim::new();
    sim.register(3600);
    let keepalive = |sim: &mut Sim, n: u32| {
        let (call_id, branch) = (format!("ka{n}"), format!("z9hG4bKka{n}"));
        let options = box_request(
            "OPTIONS",
            &call_id,
            &branch,
            "<sip:620@127.0.0.2>",
            "1 OPTIONS",
        );
        sim.deliver(&options);
        assert_eq!(sim.responses().remove(0).status, 200);
    };
    // Every 5 s: the interval is learnt, nothing else happens.
    for n in 0..6 {
        keepalive(&mut sim, n);
        sim.advance(Duration::from_secs(5));
    }
    let early = sim.requests();
    assert!(
        early.is_empty(),
        "no REGISTER while the Box talks: {early:?}"
    );
    assert!(sim.take_events().is_empty());
    // Then nothing: 15 s after the last OPTIONS (t = 25 s), a REGISTER,
    // long before the refresh (60 s).
    sim.advance(Duration::from_secs(9));
    assert!(sim.requests().is_empty(), "not before three intervals");
    sim.advance(Duration::from_secs(2));
    let events = sim.take_events();
    assert!(
        events.contains(&Event::RegistrarQuiet {
            quiet: Duration::from_secs(15),
            keepalive: Duration::from_secs(5),
        }),
        "{events:?}"
    );
    // The REGISTER, and its resends (timer E) while it is unanswered.
    let reqs = sim.requests();
    let branch = |r: &Request| r.headers.top_via().unwrap().branch().map(str::to_owned);
    assert!(!reqs.is_empty());
    assert!(
        reqs.iter()
            .all(|r| r.method == Method::Register && branch(r) == branch(&reqs[0])),
        "{reqs:?}"
    );
    // Once it answers, the binding stands; the watchdog waits for the
    // Box's next keepalives to learn their interval again.
    sim.deliver(&ok_register(&reqs[0], 3600));
    sim.advance(Duration::from_secs(30));
    assert!(sim.requests().is_empty());
    assert!(
        sim.take_events()
            .iter()
            .all(|e| !matches!(e, Event::RegistrarQuiet { .. }))
    );
}

#[test]
fn a_moved_phone_or_box_registers_again_at_once_with_the_new_addresses() {
    let mut sim = Sim::new();
    sim.register(3600);
    let first_contact = |r: &Request| r.headers.get("Contact").unwrap().to_owned();

    // Our address changed: a REGISTER at once, naming the new Contact and
    // Via, same Call-ID and instance, and still answering the old nonce.
    sim.agent
        .readdress(sim.now, addr(BOX), addr("127.0.0.3:5062"));
    sim.drain();
    let sent = sim.take_sent();
    let (to, Message::Request(moved)) = &sent[0] else {
        panic!("{sent:?}")
    };
    assert_eq!(*to, addr(BOX));
    assert!(first_contact(moved).starts_with("<sip:620@127.0.0.3:5062>;+sip.instance="));
    assert!(
        moved
            .headers
            .top_via()
            .unwrap()
            .to_string()
            .contains("127.0.0.3:5062")
    );
    assert!(moved.headers.get("Authorization").is_some());
    sim.deliver(&ok_register(moved, 3600));
    assert!(sim.agent.is_registered());
    // The same again changes nothing.
    sim.agent
        .readdress(sim.now, addr(BOX), addr("127.0.0.3:5062"));
    sim.drain();
    assert!(sim.take_sent().is_empty());

    // The Box moved: the REGISTER goes there, unchallenged (its nonce
    // is the old Box's), and its INVITEs are taken, the old address's not.
    let new_box = "127.0.0.9:5060";
    sim.agent
        .readdress(sim.now, addr(new_box), addr("127.0.0.3:5062"));
    sim.drain();
    let sent = sim.take_sent();
    let (to, Message::Request(there)) = &sent[0] else {
        panic!("{sent:?}")
    };
    assert_eq!(*to, addr(new_box));
    assert!(there.headers.get("Authorization").is_none());
    sim.deliver_from(new_box, &challenge(there, "0123456789ABCDEF", false));
    let reqs = sim.requests();
    sim.deliver_from(new_box, &ok_register(&reqs[0], 3600));
    assert!(sim.agent.is_registered());
    sim.take_events();
    sim.deliver_from(
        new_box,
        &invite("moved-1", "z9hG4bKm1", "<sip:0301234@fritz.box>"),
    );
    assert!(
        sim.take_events()
            .iter()
            .any(|e| matches!(e, Event::IncomingCall { .. })),
        "the new Box's INVITE is a call"
    );
    sim.take_sent();
    sim.deliver_from(
        BOX,
        &invite("old-1", "z9hG4bKo1", "<sip:0301234@fritz.box>"),
    );
    assert!(
        sim.take_events()
            .iter()
            .all(|e| !matches!(e, Event::IncomingCall { .. })),
        "the old address is no longer the Box"
    );
}
