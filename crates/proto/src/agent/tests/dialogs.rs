//! In-dialog requests (re-INVITE, UPDATE, INFO, NOTIFY), extensions, routes and media.

use super::super::*;
use super::harness::*;

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
        assert_eq!((m, r.len(), r[0].status), (m, 1, StatusCode::OK));
        sim.deliver(&in_dialog(m, "other@1", &format!("z9hG4bKout{n}"), &to, 1));
        assert_eq!(
            (m, sim.responses()[0].status),
            (m, StatusCode::CALL_DOES_NOT_EXIST)
        );
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
