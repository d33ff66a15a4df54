//! Parsing a FRITZ!Box INVITE and writing the 200 OK the phone answers it
//! with: the work on the hot path of an incoming spam call.
//! Run: cargo bench --bench parse

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use minisip4fb::sip::{self, Message, Response};

const INVITE: &[u8] = b"INVITE sip:620@192.168.178.20:5062 SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.168.178.1:5060;branch=z9hG4bK1D2F3A4B5C6D7E8F\r\n\
From: <sip:040855992611@fritz.box>;tag=3E2B0C1D9A8F7E6D\r\n\
To: <sip:620@192.168.178.20:5062>\r\n\
Call-ID: 8A7B6C5D4E3F2A1B@192.168.178.1\r\n\
CSeq: 42 INVITE\r\n\
Contact: <sip:0123456789abcdef0123456789abcdef@192.168.178.1>\r\n\
Max-Forwards: 70\r\n\
P-Called-Party-ID: <sip:0301111111@fritz.box>\r\n\
Supported: 100rel,replaces,timer\r\n\
Session-Expires: 600;refresher=uac\r\n\
Min-SE: 90\r\n\
Expires: 120\r\n\
Allow-Events: telephone-event,refer\r\n\
Allow: INVITE, ACK, OPTIONS, CANCEL, BYE, UPDATE, PRACK, INFO, SUBSCRIBE, NOTIFY, REFER, MESSAGE, PUBLISH\r\n\
User-Agent: AVM FRITZ!Box 7590 154.07.57 (Jun 19 2024)\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 246\r\n\r\n\
v=0\r\no=user 3525 3525 IN IP4 192.168.178.1\r\ns=call\r\nc=IN IP4 192.168.178.1\r\nt=0 0\r\n\
m=audio 7078 RTP/AVP 9 8 0 120 121 101\r\na=rtpmap:9 G722/8000\r\na=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:0 PCMU/8000\r\na=rtpmap:120 PCMA/16000\r\na=rtpmap:121 PCMU/16000\r\na=rtpmap:101 telephone-event/8000\r\n";

fn bench(c: &mut Criterion) {
    assert!(sip::parse(INVITE).is_ok());
    c.bench_function("parse FRITZ!Box INVITE", |b| {
        b.iter(|| sip::parse(black_box(INVITE)))
    });
    let Ok(Message::Request(invite)) = sip::parse(INVITE) else {
        unreachable!()
    };
    c.bench_function("write 200 OK with SDP", |b| {
        b.iter(|| {
            let mut r = Response::new(sip::StatusCode::OK, "OK");
            for v in invite.headers.get_all("Via") {
                r.headers.push("Via", v);
            }
            r.headers
                .push("From", invite.headers.get("From").unwrap_or_default());
            r.headers.push(
                "To",
                format!(
                    "{};tag=1A2B3C4D5E6F7A8B",
                    invite.headers.get("To").unwrap_or_default()
                ),
            );
            r.headers
                .push("Call-ID", invite.headers.get("Call-ID").unwrap_or_default());
            r.headers
                .push("CSeq", invite.headers.get("CSeq").unwrap_or_default());
            r.headers.push("Contact", "<sip:620@192.168.178.20:5062>");
            r.headers.push("Content-Type", "application/sdp");
            r.body = sip::sdp::answer(
                &sip::sdp::address("192.168.178.20".parse().unwrap()),
                7078,
                1,
                &[sip::sdp::PCMA],
                sip::sdp::Mode::RecvOnly,
            );
            black_box(r.to_bytes())
        })
    });
    let respond = |status: u16| {
        let mut r = Response::new(sip::StatusCode(status), sip::StatusCode(status).reason());
        for v in invite.headers.get_all("Via") {
            r.headers.push("Via", v);
        }
        r.headers
            .push("From", invite.headers.get("From").unwrap_or_default());
        let to = invite.headers.get("To").unwrap_or_default();
        r.headers.push(
            "To",
            if status > 100 {
                format!("{to};tag=1A2B3C4D5E6F7A8B")
            } else {
                to.to_owned()
            },
        );
        r.headers
            .push("Call-ID", invite.headers.get("Call-ID").unwrap_or_default());
        r.headers
            .push("CSeq", invite.headers.get("CSeq").unwrap_or_default());
        r.headers.push("Server", "minisip4fb/0.1.0");
        r.to_bytes()
    };
    c.bench_function("write 100 Trying", |b| b.iter(|| black_box(respond(100))));
    c.bench_function("write 180 Ringing", |b| b.iter(|| black_box(respond(180))));
    c.bench_function("write BYE", |b| {
        b.iter(|| {
            let uri =
                sip::parse::parse_request_uri("sip:0123456789abcdef0123456789abcdef@192.168.178.1");
            let mut r = sip::Request::new(sip::Method::Bye, uri);
            r.headers.push(
                "Via",
                "SIP/2.0/UDP 192.168.178.20:5062;branch=z9hG4bK0011223344556677;rport",
            );
            r.headers.push("Max-Forwards", "70");
            r.headers
                .push("From", "<sip:620@192.168.178.20:5062>;tag=1A2B3C4D5E6F7A8B");
            r.headers
                .push("To", invite.headers.get("From").unwrap_or_default());
            r.headers
                .push("Call-ID", invite.headers.get("Call-ID").unwrap_or_default());
            r.headers.push("CSeq", "43 BYE");
            black_box(r.to_bytes())
        })
    });
    let challenge =
        sip::digest::Challenge::parse("Digest realm=\"fritz.box\", nonce=\"78B29326485EAE52\"")
            .unwrap();
    c.bench_function("digest Authorization (FRITZ!Box form, MD5)", |b| {
        b.iter(|| {
            sip::digest::authorization(
                black_box(&challenge),
                "620",
                "geheim123",
                "REGISTER",
                "sip:fritz.box",
                1,
                "x",
            )
        })
    });
    c.bench_function("parse + choose codec + write 200 OK", |b| {
        b.iter(|| {
            let Ok(Message::Request(inv)) = sip::parse(black_box(INVITE)) else {
                unreachable!()
            };
            let codec = sip::sdp::choose_codec(&inv.body).unwrap();
            let mut r = Response::new(sip::StatusCode::OK, "OK");
            r.headers = inv.headers.clone();
            r.body = sip::sdp::answer(
                &sip::sdp::address("192.168.178.20".parse().unwrap()),
                7078,
                1,
                &[codec],
                sip::sdp::Mode::RecvOnly,
            );
            black_box(r.to_bytes())
        })
    });
}

/// The sans-IO agent's whole turn for a blocked call: the INVITE in, the
/// decision made at once (answer, hang up), the 200 out; then the ACK in
/// and the BYE out. A fresh Call-ID each time, as in a wave of calls.
fn agent_turn(c: &mut Criterion) {
    use minisip4fb::agent::{Agent, Config, Event, Input, Output};
    use std::time::Instant;
    let text = std::str::from_utf8(INVITE).unwrap();
    let boxa: std::net::SocketAddr = "192.168.178.1:5060".parse().unwrap();
    let phone: std::net::SocketAddr = "192.168.178.20:5062".parse().unwrap();
    let mut agent = Agent::new(Config::new(boxa, "620", "pw", phone), Instant::now());
    let mut n = 0u64;
    let mut turn = move |agent: &mut Agent| {
        n += 1;
        let invite = text.replace("8A7B6C5D4E3F2A1B@", &format!("{n:016X}@"));
        let now = Instant::now();
        agent.handle_input(Input::Receive {
            now,
            from: boxa,
            data: invite.as_bytes(),
        });
        let mut to_tag = String::new();
        loop {
            match agent.poll_output() {
                Output::Event(Event::IncomingCall { call, .. }) => {
                    agent.answer(now, call).unwrap();
                    agent.hang_up(now, call).unwrap();
                }
                Output::Transmit { data, .. } => {
                    let t = String::from_utf8_lossy(&data);
                    if let Some(l) = t.lines().find(|l| l.starts_with("To:")) {
                        to_tag = l[3..].trim().to_owned();
                    }
                    black_box(data);
                }
                Output::Event(_) => {}
                Output::Timeout(_) => break,
            }
        }
        let ack = format!(
            "ACK sip:620@192.168.178.20:5062 SIP/2.0\r\nVia: SIP/2.0/UDP 192.168.178.1:5060;branch=z9hG4bKack{n}\r\n\
             From: <sip:040855992611@fritz.box>;tag=3E2B0C1D9A8F7E6D\r\nTo: {to_tag}\r\nCall-ID: {n:016X}@192.168.178.1\r\n\
             CSeq: 42 ACK\r\nContent-Length: 0\r\n\r\n"
        );
        agent.handle_input(Input::Receive {
            now,
            from: boxa,
            data: ack.as_bytes(),
        });
        loop {
            match agent.poll_output() {
                Output::Transmit { data, .. } => {
                    black_box(data);
                }
                Output::Event(_) => {}
                Output::Timeout(_) => break,
            }
        }
    };
    c.bench_function("agent: INVITE in → 200 out, ACK in → BYE out", |b| {
        b.iter(|| turn(&mut agent))
    });
    // The same with caches wiped before each call, as after 20 ms of other
    // work between two calls: closer to what a phone sees at 50 calls/s.
    let mut junk = vec![0u8; 16 << 20];
    c.bench_function("agent: the same turn, caches cold", |b| {
        b.iter_batched(
            || {
                for (i, x) in junk.iter_mut().enumerate().step_by(64) {
                    *x = x.wrapping_add(i as u8);
                }
            },
            |()| turn(&mut agent),
            criterion::BatchSize::PerIteration,
        )
    });
    // Every line of our code and heap flushed to memory (clflush), as on a
    // vCPU whose core ran other guests while it idled: what the phone's
    // thread sees between two calls on this VM (probe: ~80 µs from the
    // INVITE's receipt to the 200's send, against ~5 µs here warm).
    #[cfg(target_arch = "x86_64")]
    {
        let ranges = mapped_ranges();
        let mut g = c.benchmark_group("agent cold");
        g.sample_size(20);
        g.bench_function("the same turn, code and heap flushed to memory", |b| {
            b.iter_batched(
                || flush(&ranges),
                |()| turn(&mut agent),
                criterion::BatchSize::PerIteration,
            )
        });
        g.bench_function(
            "parse FRITZ!Box INVITE, code and heap flushed to memory",
            |b| {
                b.iter_batched(
                    || flush(&ranges),
                    |()| sip::parse(black_box(INVITE)),
                    criterion::BatchSize::PerIteration,
                )
            },
        );
        g.finish();
    }
}

/// The process's code and heap: executable and anonymous writable mappings
/// (the stack included), from /proc/self/maps.
#[cfg(target_arch = "x86_64")]
fn mapped_ranges() -> Vec<(usize, usize)> {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap_or_default();
    maps.lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (range, perms) = (f.next()?, f.next()?);
            let path = f.nth(3).unwrap_or("");
            let code = perms.starts_with("r-x");
            let heap = perms.starts_with("rw") && (path.is_empty() || path.starts_with('['));
            if !(code || heap) || path == "[vsyscall]" || path == "[vvar]" {
                return None;
            }
            let (a, b) = range.split_once('-')?;
            let (a, b) = (
                usize::from_str_radix(a, 16).ok()?,
                usize::from_str_radix(b, 16).ok()?,
            );
            // The 16 MB junk buffer and criterion's own big buffers are
            // not ours to flush.
            (b - a <= 64 << 20).then_some((a, b))
        })
        .collect()
}

#[cfg(target_arch = "x86_64")]
fn flush(ranges: &[(usize, usize)]) {
    for &(a, b) in ranges {
        for line in (a..b).step_by(64) {
            // SAFETY: the line lies in a mapping that is readable now;
            // clflush only writes it back and evicts it.
            unsafe { std::arch::x86_64::_mm_clflush(line as *const u8) };
        }
    }
    // SAFETY: a fence, no memory access of its own.
    unsafe { std::arch::x86_64::_mm_mfence() };
}

criterion_group!(benches, bench, agent_turn);
criterion_main!(benches);
