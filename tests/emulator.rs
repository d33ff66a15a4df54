//! The emulated FRITZ!Box on its own: it must be as strict as the issue
//! asks, since the phone's tests rely on it. Driven by hand-written SIP
//! over a loopback socket.

use std::time::Duration;

use minisip4fb::emulator::{Emulator, EmulatorConfig, Report};
use minisip4fb::sip::{self, Message, Response, digest};
use tokio::net::UdpSocket;

struct Peer {
    sock: UdpSocket,
    emu: Emulator,
}

impl Peer {
    async fn new(cfg: EmulatorConfig) -> Peer {
        let emu = Emulator::start(EmulatorConfig {
            bind: "127.0.0.1:0".parse().unwrap(),
            seed: 3,
            ..cfg
        })
        .await
        .unwrap();
        let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        Peer { sock, emu }
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
    assert_eq!(p.register_with("geheim123", "pile2", 1).await.status, 200);
    tokio::time::sleep(Duration::from_millis(100)).await;
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
