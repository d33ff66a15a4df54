//! Hostile or heavy traffic: floods, waves of calls, malformed datagrams.

use super::super::*;
use super::harness::*;

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
            sim.agent
                .reject(sim.now, call, StatusCode(486), None)
                .unwrap();
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
