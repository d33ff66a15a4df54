//! The emulated FRITZ!Box on its own: it must be as strict as the issue
//! asks, since the phone's tests rely on it. Driven by hand-written SIP
//! over a loopback socket.

use std::time::Duration;

use minisip4fb::sip::{self, Message, Response, digest};
use minisip4fb_emulator::{CallOutcome, CallSpec, Caller, Emulator, EmulatorConfig, Report};
use tokio::net::UdpSocket;

struct Peer {
    sock: UdpSocket,
    emu: std::sync::Arc<Emulator>,
}

impl Peer {
    async fn new(cfg: EmulatorConfig) -> Peer {
        let emu = Emulator::start(EmulatorConfig {
            bind: "127.0.0.1:0".parse().unwrap(),
            ..cfg
        })
        .await
        .unwrap();
        let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        Peer {
            sock,
            emu: std::sync::Arc::new(emu),
        }
    }

    fn register(&self, ruri: &str, branch: &str, cseq: u32, call_id: &str, extra: &str) -> String {
        let me = self.sock.local_addr().unwrap();
        format!(
            "REGISTER {ruri} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch={branch};rport\r\nMax-Forwards: 70\r\n\
        From: <sip:620@{box}>;tag=abc\r\nTo: <sip:620@{box}>\r\nCall-ID: {call_id}\r\nCSeq: {cseq} REGISTER\r\n\
        Contact: <sip:620@{me}>\r\nExpires: 300\r\n{extra}Content-Length: 0\r\n\r\n",
            box = self.emu.addr()
        )
    }

    async fn send(&self, msg: &str) {
        self.sock
            .send_to(msg.as_bytes(), self.emu.addr())
            .await
            .unwrap();
    }

    async fn recv(&self) -> Option<Response> {
        let mut buf = vec![0; 65535];
        let (n, _) =
            tokio::time::timeout(Duration::from_millis(500), self.sock.recv_from(&mut buf))
                .await
                .ok()?
                .ok()?;
        match sip::parse(&buf[..n]) {
            Ok(Message::Response(r)) => Some(r),
            other => panic!("expected a response, got {other:?}"),
        }
    }

    fn ruri(&self) -> String {
        format!("sip:{}", self.emu.addr())
    }

    /// REGISTER through the challenge with `password`; returns the final response.
    async fn register_with(&self, password: &str, call_id: &str, first_cseq: u32) -> Response {
        let ruri = self.ruri();
        self.send(&self.register(
            &ruri,
            &format!("z9hG4bK{call_id}1"),
            first_cseq,
            call_id,
            "",
        ))
        .await;
        let r = self.recv().await.expect("401");
        assert_eq!(r.status, 401);
        let ch = digest::Challenge::parse(r.headers.get("WWW-Authenticate").unwrap()).unwrap();
        let auth = digest::authorization(&ch, "620", password, "REGISTER", &ruri, 1, "c0ffee");
        let msg = self.register(
            &ruri,
            &format!("z9hG4bK{call_id}2"),
            first_cseq + 1,
            call_id,
            &format!("Authorization: {auth}\r\n"),
        );
        self.send(&msg).await;
        self.recv().await.expect("final response")
    }
}

fn cfg() -> EmulatorConfig {
    EmulatorConfig {
        accounts: vec![("620".into(), "geheim123".into())],
        seed: 3,
        ..EmulatorConfig::default()
    }
}

#[tokio::test]
async fn challenge_looks_like_the_fritzbox() {
    let p = Peer::new(cfg()).await;
    p.send(&p.register(&p.ruri(), "z9hG4bK1", 1, "c1", ""))
        .await;
    let r = p.recv().await.unwrap();
    assert_eq!(r.status, 401);
    let www = r.headers.get("WWW-Authenticate").unwrap();
    let ch = digest::Challenge::parse(www).unwrap();
    assert_eq!(ch.realm, "fritz.box");
    assert!(
        ch.nonce.len() == 16
            && ch
                .nonce
                .chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_lowercase()),
        "{www}"
    );
    assert!(
        ch.qop.is_empty() && ch.opaque.is_none() && ch.algorithm.is_none(),
        "{www}"
    );
    assert_eq!(r.headers.get("User-Agent"), Some("FRITZ!OS"));
    let via = r.headers.top_via().unwrap();
    assert_eq!(via.received(), Some("127.0.0.1"));
    assert_eq!(via.rport(), Some(Some(p.sock.local_addr().unwrap().port())));
    let tag = r.headers.to().unwrap().tag().unwrap().to_owned();
    assert!(tag.len() == 16 && tag.chars().all(|c| c.is_ascii_hexdigit()));
}

#[tokio::test]
async fn grants_its_own_expiry_and_rejects_a_wrong_digest() {
    let p = Peer::new(EmulatorConfig {
        expires: 2,
        ..cfg()
    })
    .await;
    let mut reports = p.emu.reports();
    let ok = p.register_with("geheim123", "good", 1).await;
    assert_eq!(ok.status, 200);
    let contact = ok.headers.name_addrs("Contact").unwrap();
    assert_eq!(
        contact[0].param("expires"),
        Some(Some("2")),
        "the Box's grant, not our 300"
    );
    assert_eq!(p.emu.bindings().await.len(), 1);
    let bad = p.register_with("wrong", "bad", 1).await;
    assert_eq!(bad.status, 403);
    let mut seen_forbidden = false;
    while let Ok(r) = reports.try_recv() {
        seen_forbidden |= matches!(r, Report::Forbidden { .. });
    }
    assert!(seen_forbidden);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert!(
        p.emu.bindings().await.is_empty(),
        "binding expired after the grant"
    );
}

#[tokio::test]
async fn drops_a_register_with_a_user_part() {
    let p = Peer::new(cfg()).await;
    let ruri = format!("sip:620@{}", p.emu.addr());
    p.send(&p.register(&ruri, "z9hG4bKu", 1, "u1", "")).await;
    assert!(
        p.recv().await.is_none(),
        "no answer at all, as FRITZ!OS 8.25"
    );
}

#[tokio::test]
async fn reports_violations() {
    let p = Peer::new(cfg()).await;
    // No branch cookie, no Content-Length.
    let msg = p
        .register(&p.ruri(), "old-style", 1, "v1", "")
        .replace("Content-Length: 0\r\n", "");
    p.send(&msg).await;
    assert_eq!(p.recv().await.unwrap().status, 401);
    // The authenticated retry reusing the branch: 481.
    p.send(&p.register(&p.ruri(), "old-style", 2, "v1", ""))
        .await;
    assert_eq!(p.recv().await.unwrap().status, 481);
    // Unparsable.
    p.send("REGISTER sip:x SIP/2.0\r\nCSeq: 99999999999 REGISTER\r\n\r\n")
        .await;
    // A new Call-ID for every REGISTER piles up bindings.
    assert_eq!(p.register_with("geheim123", "pile1", 1).await.status, 200);
    // Answered in order: everything sent before has been seen.
    assert_eq!(p.register_with("geheim123", "pile2", 1).await.status, 200);
    let v = p.emu.violations().await;
    let has = |s: &str| v.iter().any(|x| x.contains(s));
    assert!(has("z9hG4bK cookie"), "{v:?}");
    assert!(has("no Content-Length"), "{v:?}");
    assert!(has("reused branch"), "{v:?}");
    assert!(has("unparsable"), "{v:?}");
    assert!(has("bindings pile up"), "{v:?}");
    assert_eq!(p.emu.bindings().await.len(), 2, "the pile-up is visible");
}

#[tokio::test]
async fn qop_and_stale_nonces() {
    let p = Peer::new(EmulatorConfig {
        qop: true,
        nonce_lifetime: Some(Duration::from_millis(300)),
        ..cfg()
    })
    .await;
    let ruri = p.ruri();
    p.send(&p.register(&ruri, "z9hG4bKq1", 1, "q", "")).await;
    let r = p.recv().await.unwrap();
    let ch = digest::Challenge::parse(r.headers.get("WWW-Authenticate").unwrap()).unwrap();
    assert!(ch.uses_qop_auth());
    tokio::time::sleep(Duration::from_millis(400)).await;
    let auth = digest::authorization(&ch, "620", "geheim123", "REGISTER", &ruri, 1, "abcd");
    p.send(&p.register(
        &ruri,
        "z9hG4bKq2",
        2,
        "q",
        &format!("Authorization: {auth}\r\n"),
    ))
    .await;
    let r = p.recv().await.unwrap();
    assert_eq!(r.status, 401);
    let ch2 = digest::Challenge::parse(r.headers.get("WWW-Authenticate").unwrap()).unwrap();
    assert!(
        ch2.stale,
        "expired nonce with the right password: stale=true"
    );
    let auth = digest::authorization(&ch2, "620", "geheim123", "REGISTER", &ruri, 1, "abcd");
    p.send(&p.register(
        &ruri,
        "z9hG4bKq3",
        3,
        "q",
        &format!("Authorization: {auth}\r\n"),
    ))
    .await;
    assert_eq!(p.recv().await.unwrap().status, 200);
}

// ---- The caller half: a hand-written phone answering the Box's INVITEs.

impl Peer {
    /// The next message from the Box, request or response (at most 3 s).
    async fn next(&self) -> Option<Message> {
        let mut buf = vec![0; 65535];
        let (n, _) = tokio::time::timeout(Duration::from_secs(3), self.sock.recv_from(&mut buf))
            .await
            .ok()?
            .ok()?;
        Some(sip::parse(&buf[..n]).expect("the Box sends parsable SIP"))
    }

    /// The next request from the Box, skipping responses.
    async fn request(&self) -> sip::Request {
        loop {
            match self.next().await.expect("a request from the Box") {
                Message::Request(r) => return r,
                Message::Response(_) => {}
            }
        }
    }

    /// A response to `req` from the phone, with our To tag `tag`.
    fn respond(
        &self,
        req: &sip::Request,
        status: u16,
        tag: &str,
        extra: &str,
        body: &str,
    ) -> String {
        let h = &req.headers;
        let to = h.get("To").unwrap();
        let to = if to.contains("tag=") {
            to.to_owned()
        } else {
            format!("{to};tag={tag}")
        };
        format!(
            "SIP/2.0 {status} {}\r\nVia: {}\r\nFrom: {}\r\nTo: {to}\r\nCall-ID: {}\r\nCSeq: {}\r\n\
             Contact: <sip:620@{}>\r\n{extra}Content-Length: {}\r\n\r\n{body}",
            sip::StatusCode(status).reason(),
            h.get("Via").unwrap(),
            h.get("From").unwrap(),
            h.call_id().unwrap(),
            h.get("CSeq").unwrap(),
            self.sock.local_addr().unwrap(),
            body.len()
        )
    }

    /// Our BYE for the call `invite` started, with these tags and CSeq.
    fn bye(
        &self,
        invite: &sip::Request,
        our_tag: &str,
        their_tag: &str,
        cseq: u32,
        extra: &str,
    ) -> String {
        let me = self.sock.local_addr().unwrap();
        let from_uri = invite.headers.from().unwrap().uri.to_string();
        let contact = invite.headers.name_addrs("Contact").unwrap()[0]
            .uri
            .to_string();
        format!(
            "BYE {contact} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bKbye{cseq}\r\nMax-Forwards: 70\r\n\
             From: <sip:620@{me}>;tag={our_tag}\r\nTo: <{from_uri}>;tag={their_tag}\r\nCall-ID: {}\r\nCSeq: {cseq} BYE\r\n\
             {extra}Content-Length: 0\r\n\r\n",
            invite.headers.call_id().unwrap()
        )
    }

    /// Registers once, then the Box places `spec` in the background.
    async fn ring(
        &self,
        spec: CallSpec,
    ) -> (
        sip::Request,
        tokio::task::JoinHandle<minisip4fb_emulator::CallReport>,
    ) {
        assert_eq!(
            self.register_with("geheim123", "phone", 1).await.status,
            200
        );
        let emu = self.emu.clone();
        let call = tokio::spawn(async move { emu.call(spec).await });
        let invite = self.request().await;
        assert_eq!(invite.method, sip::Method::Invite);
        (invite, call)
    }
}

/// Only the rules each test is about: no random challenge of our BYE.
fn strict() -> EmulatorConfig {
    EmulatorConfig {
        challenge_requests: 0.0,
        rechallenge: 0.0,
        ..cfg()
    }
}

fn tag_of(invite: &sip::Request) -> String {
    invite.headers.from().unwrap().tag().unwrap().to_owned()
}

#[tokio::test]
async fn the_invite_is_the_boxes_and_a_fast_decline_is_flagged() {
    let p = Peer::new(strict()).await;
    // Oma is in the Box's phonebook (EmulatorConfig's default).
    let (invite, call) = p
        .ring(CallSpec::new(Caller::National("0301234567".into())))
        .await;
    let h = &invite.headers;
    assert_eq!(h.from().unwrap().display_name().as_deref(), Some("Oma"));
    assert_eq!(h.get("Expires"), Some("120"));
    assert_eq!(
        h.get("P-Called-Party-ID"),
        Some("<sip:0301111111@fritz.box>")
    );
    assert!(String::from_utf8_lossy(&invite.body).contains("c=IN IP4 127.0.0.1"));
    p.send(&p.respond(&invite, 180, "ph1", "", "")).await;
    p.send(&p.respond(&invite, 486, "ph1", "", "")).await;
    let report = call.await.unwrap();
    assert_eq!(report.outcome, CallOutcome::RejectedByPhone(486));
    assert_eq!(p.request().await.method, sip::Method::Ack);
    let v = p.emu.violations().await.join("\n");
    assert!(
        v.contains("486 after 0 ms of ringing: the Box drops the FRITZ!Fon app"),
        "{v}"
    );
    assert!(
        v.contains("486 to decline: only 180, held ~3 s, then 480"),
        "{v}"
    );
}

#[tokio::test]
async fn internal_calls_read_star_star_9_and_anonymous_has_both_forms() {
    let p = Peer::new(strict()).await;
    let (invite, call) = p
        .ring(CallSpec::new(Caller::Internal {
            number: "**621".into(),
            name: "Küche".into(),
        }))
        .await;
    assert_eq!(
        invite.headers.get("P-Called-Party-ID"),
        Some("<sip:**9@fritz.box>"),
        "FRITZBOX.md: **9 whatever was dialled"
    );
    p.send(&p.respond(&invite, 480, "i1", "", "")).await;
    call.await.unwrap();
    assert_eq!(p.request().await.method, sip::Method::Ack);
    let emu = p.emu.clone();
    let call = tokio::spawn(async move { emu.call(CallSpec::new(Caller::AnonymousUser)).await });
    let invite = p.request().await;
    assert_eq!(
        invite.headers.from().unwrap().uri.to_string(),
        "sip:anonymous@fritz.box"
    );
    p.send(&p.respond(&invite, 480, "a1", "", "")).await;
    call.await.unwrap();
}

#[tokio::test]
async fn the_phones_answer_sdp_bye_tags_and_a_conflicting_final_are_checked() {
    let p = Peer::new(EmulatorConfig {
        min_decline_after_ringing: Duration::ZERO,
        ..strict()
    })
    .await;
    let (invite, call) = p
        .ring(CallSpec::new(Caller::National("040123456".into())))
        .await;
    // G.722 only, at no address of the phone's.
    let sdp = "v=0\r\no=x 1 1 IN IP4 0.0.0.0\r\ns=-\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\nm=audio 4000 RTP/AVP 9 96\r\n";
    p.send(&p.respond(
        &invite,
        200,
        "ph2",
        "Content-Type: application/sdp\r\n",
        sdp,
    ))
    .await;
    assert_eq!(p.request().await.method, sip::Method::Ack);
    let their = tag_of(&invite);
    // Tags not swapped: no such dialog.
    p.send(&p.bye(&invite, &their, "ph2", 1, "")).await;
    match p.next().await {
        Some(Message::Response(r)) => assert_eq!(r.status, 481),
        other => panic!("{other:?}"),
    }
    p.send(&p.bye(&invite, "ph2", &their, 2, "")).await;
    match p.next().await {
        Some(Message::Response(r)) => assert_eq!(r.status, 200),
        other => panic!("{other:?}"),
    }
    assert_eq!(call.await.unwrap().outcome, CallOutcome::TerminatedByPhone);
    // A second call declined, then "answered" too.
    let emu = p.emu.clone();
    let call = tokio::spawn(async move {
        emu.call(CallSpec::new(Caller::National("040123456".into())))
            .await
    });
    let invite = p.request().await;
    p.send(&p.respond(&invite, 486, "ph3", "", "")).await;
    assert_eq!(
        call.await.unwrap().outcome,
        CallOutcome::RejectedByPhone(486)
    );
    assert_eq!(p.request().await.method, sip::Method::Ack);
    p.send(&p.respond(&invite, 200, "ph3", "", "")).await;
    let ack = p.request().await;
    assert_eq!(ack.method, sip::Method::Ack);
    let v = p.emu.violations().await.join("\n");
    for expect in [
        "payload type 96 was not offered (RFC 3264 §6.1)",
        "picks neither PCMA nor PCMU",
        "c=IN IP4 0.0.0.0 is not the phone's address IN IP4 127.0.0.1",
        "BYE without the dialog's tags swapped",
        "200 after the final 486 to the same INVITE",
    ] {
        assert!(v.contains(expect), "{expect:?} in:\n{v}");
    }
}

#[tokio::test]
async fn a_challenged_bye_needs_the_phones_credentials() {
    let p = Peer::new(EmulatorConfig {
        challenge_requests: 1.0,
        ..strict()
    })
    .await;
    let (invite, call) = p
        .ring(CallSpec::new(Caller::National("040123456".into())))
        .await;
    p.send(&p.respond(&invite, 200, "ph4", "", "")).await;
    assert_eq!(p.request().await.method, sip::Method::Ack);
    let their = tag_of(&invite);
    let bye = p.bye(&invite, "ph4", &their, 1, "");
    p.send(&bye).await;
    let first = match p.next().await {
        Some(Message::Response(r)) => r,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        first.status, 401,
        "FRITZBOX.md: requests the phone sends are challenged too"
    );
    let www = first.headers.get("WWW-Authenticate").unwrap().to_owned();
    // Our BYE again, as if the 401 were lost: the same challenge again.
    p.send(&bye).await;
    match p.next().await {
        Some(Message::Response(r)) => {
            assert_eq!(
                (r.status.0, r.headers.get("WWW-Authenticate")),
                (401, Some(www.as_str()))
            )
        }
        other => panic!("{other:?}"),
    }
    let ch = digest::Challenge::parse(&www).unwrap();
    let uri = invite.headers.name_addrs("Contact").unwrap()[0]
        .uri
        .to_string();
    let wrong = digest::authorization(&ch, "620", "nope", "BYE", &uri, 1, "c");
    p.send(&p.bye(
        &invite,
        "ph4",
        &their,
        2,
        &format!("Authorization: {wrong}\r\n"),
    ))
    .await;
    match p.next().await {
        Some(Message::Response(r)) => assert_eq!(r.status, 403),
        other => panic!("{other:?}"),
    }
    let right = digest::authorization(&ch, "620", "geheim123", "BYE", &uri, 1, "c");
    p.send(&p.bye(
        &invite,
        "ph4",
        &their,
        3,
        &format!("Authorization: {right}\r\n"),
    ))
    .await;
    match p.next().await {
        Some(Message::Response(r)) => assert_eq!(r.status, 200),
        other => panic!("{other:?}"),
    }
    assert_eq!(call.await.unwrap().outcome, CallOutcome::TerminatedByPhone);
    let v = p.emu.violations().await;
    assert_eq!(v.len(), 1, "{v:?}");
    assert!(v[0].contains("BYE credentials wrong for 620"), "{v:?}");
}

#[tokio::test]
async fn an_unanswered_keepalive_costs_the_binding() {
    let p = Peer::new(EmulatorConfig {
        options_interval: Some(Duration::from_millis(1200)),
        ..strict()
    })
    .await;
    let mut reports = p.emu.reports();
    assert_eq!(p.register_with("geheim123", "ka", 1).await.status, 200);
    // The first keepalive answered: the binding stays.
    let options = p.request().await;
    assert_eq!(options.method, sip::Method::Options);
    p.send(&p.respond(&options, 200, "k1", "", "")).await;
    // The next one not: resent (timer E), then the binding is gone.
    let second = p.request().await;
    let again = p.request().await;
    assert_eq!(
        second.headers.call_id(),
        again.headers.call_id(),
        "retransmitted"
    );
    let mut answered = false;
    let lost = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match reports.recv().await.unwrap() {
                Report::Options { answered: true } => answered = true,
                Report::KeepaliveLost { user } => return user,
                _ => {}
            }
        }
    })
    .await
    .expect("dropped within the next interval");
    assert!(answered);
    assert_eq!(lost, "620");
    assert!(p.emu.bindings().await.is_empty());
}

#[tokio::test]
async fn a_refresh_may_be_challenged_again_and_a_reboot_gives_no_stale() {
    for rechallenge in [0.0, 1.0] {
        let p = Peer::new(EmulatorConfig {
            rechallenge,
            ..strict()
        })
        .await;
        let ruri = p.ruri();
        p.send(&p.register(&ruri, "z9hG4bKr1", 1, "r", "")).await;
        let ch = p.recv().await.unwrap();
        let ch = digest::Challenge::parse(ch.headers.get("WWW-Authenticate").unwrap()).unwrap();
        let auth = |nc| {
            format!(
                "Authorization: {}\r\n",
                digest::authorization(&ch, "620", "geheim123", "REGISTER", &ruri, nc, "c")
            )
        };
        p.send(&p.register(&ruri, "z9hG4bKr2", 2, "r", &auth(1)))
            .await;
        assert_eq!(p.recv().await.unwrap().status, 200);
        // The refresh with the same nonce.
        p.send(&p.register(&ruri, "z9hG4bKr3", 3, "r", &auth(2)))
            .await;
        let expect = if rechallenge > 0.5 { 401 } else { 200 };
        assert_eq!(
            p.recv().await.unwrap().status,
            expect,
            "rechallenge {rechallenge}"
        );
        // After a reboot the old nonce is unknown: a plain new challenge.
        p.emu.reboot(Duration::ZERO);
        assert!(p.emu.bindings().await.is_empty());
        p.send(&p.register(&ruri, "z9hG4bKr4", 4, "r", &auth(3)))
            .await;
        let r = p.recv().await.unwrap();
        assert_eq!(r.status, 401);
        let www = r.headers.get("WWW-Authenticate").unwrap();
        assert!(
            !www.contains("stale"),
            "the Box's form has no stale=true: {www}"
        );
    }
}

/// What FRITZBOX.md leaves [unknown] comes in both forms, by the seed: the
/// telephone-event payload type (101 or 100) and an Expires header in the
/// 200 to REGISTER.
#[tokio::test]
async fn unknowns_come_in_both_forms() {
    let mut seen = std::collections::HashSet::new();
    for seed in [9, 46] {
        let p = Peer::new(EmulatorConfig { seed, ..strict() }).await;
        let ok = p.register_with("geheim123", "u", 1).await;
        assert_eq!(ok.status, 200);
        let emu = p.emu.clone();
        let call = tokio::spawn(async move {
            emu.call(CallSpec::new(Caller::National("040123".into())))
                .await
        });
        let invite = p.request().await;
        let body = String::from_utf8_lossy(&invite.body).into_owned();
        let te = body
            .lines()
            .find(|l| l.contains("telephone-event"))
            .unwrap()
            .to_owned();
        seen.insert((te, ok.headers.get("Expires").is_some()));
        p.send(&p.respond(&invite, 480, "u1", "", "")).await;
        call.await.unwrap();
    }
    assert!(
        seen.contains(&("a=rtpmap:101 telephone-event/8000".into(), false))
            && seen.contains(&("a=rtpmap:100 telephone-event/8000".into(), true)),
        "{seen:?}"
    );
}

/// The Box's RTP end is strict too: a phone that bursts its packets,
/// skips sequence numbers, forgets the marker, sends from another port
/// than its SDP says or after its BYE is told so.
#[tokio::test]
async fn a_bad_rtp_stream_is_caught() {
    let p = Peer::new(strict()).await;
    let (invite, call) = p
        .ring(CallSpec::new(Caller::National("040123456".into())))
        .await;
    let body = String::from_utf8(invite.body.clone()).unwrap();
    let port: u16 = body
        .lines()
        .find_map(|l| l.strip_prefix("m=audio "))
        .and_then(|m| m.split(' ').next())
        .and_then(|p| p.parse().ok())
        .expect("the offer names the Box's RTP port");
    let rtp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    // The SDP answer names a port the phone then does not send from.
    let sdp = "v=0\r\no=x 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4002 RTP/AVP 8\r\na=ptime:20\r\na=sendrecv\r\n";
    p.send(&p.respond(
        &invite,
        200,
        "ph9",
        "Content-Type: application/sdp\r\n",
        sdp,
    ))
    .await;
    assert_eq!(p.request().await.method, sip::Method::Ack);
    // 20 packets at once, every other sequence number, no marker.
    for i in 0..20u16 {
        let mut pkt = vec![0x80, 8];
        pkt.extend_from_slice(&(i * 2).to_be_bytes());
        pkt.extend_from_slice(&(u32::from(i) * 160).to_be_bytes());
        pkt.extend_from_slice(&7u32.to_be_bytes());
        pkt.extend_from_slice(&[0xD5; 160]);
        rtp.send_to(&pkt, ("127.0.0.1", port)).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let their = tag_of(&invite);
    p.send(&p.bye(&invite, "ph9", &their, 2, "")).await;
    // And on after the BYE.
    tokio::time::sleep(Duration::from_millis(60)).await;
    rtp.send_to(
        &[0x80, 8, 0, 40, 0, 0, 0x0C, 0x80, 0, 0, 0, 7],
        ("127.0.0.1", port),
    )
    .await
    .unwrap();
    let r = call.await.unwrap();
    assert_eq!(r.outcome, CallOutcome::TerminatedByPhone);
    assert_eq!(r.media.unwrap().packets.len(), 21, "every packet recorded");
    let v = p.emu.violations().await.join("\n");
    for expect in [
        "RTP: the first RTP packet has no marker bit",
        "RTP: RTP sequence 2 after 0",
        "not from the address of the phone's SDP answer 127.0.0.1:4002 (symmetric RTP",
        "sent in bursts, not paced at 20 ms",
        "RTP: 1 RTP packet(s) after the phone's BYE",
    ] {
        assert!(v.contains(expect), "{expect:?} in:\n{v}");
    }
}
