//! Just enough SDP (RFC 4566, offer/answer RFC 3264) to answer a call:
//! read the offered audio codecs, answer PCMA or PCMU.

use std::net::IpAddr;

use super::message::decimal;

/// A codec we can answer with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Codec {
    pub payload_type: u8,
    pub name: &'static str,
}

/// Finds PCMA (preferred) or PCMU in an SDP offer. Payload types are read
/// from `a=rtpmap`; static types 8/0 count when no rtpmap names them
/// (RFC 3551 §6). Never hard-codes the offer's numbering (FRITZBOX.md).
pub fn choose_codec(offer: &[u8]) -> Option<Codec> {
    let text = std::str::from_utf8(offer).ok()?;
    let mut offered: Vec<u8> = Vec::new();
    let mut rtpmap: Vec<(u8, &str)> = Vec::new();
    let mut in_audio = false;
    for line in text.lines().map(str::trim_end) {
        if let Some(m) = line.strip_prefix("m=") {
            let mut f = m.split(' ');
            in_audio = f.next() == Some("audio") && offered.is_empty();
            if in_audio {
                offered = f.skip(2).filter_map(|p| p.parse().ok()).collect();
            }
        } else if let Some(a) = line.strip_prefix("a=rtpmap:")
            && in_audio
            && let Some((pt, enc)) = a.split_once(' ')
            && let Ok(pt) = pt.parse()
        {
            rtpmap.push((pt, enc));
        }
    }
    let find = |name: &'static str, static_pt: u8| {
        offered.iter().copied().find_map(|pt| {
            let named = rtpmap.iter().find(|(p, _)| *p == pt).map(|(_, e)| *e);
            // RFC 4566 §6: `a=rtpmap:<pt> <encoding>/<clock rate>[/<channels>]`;
            // `PCMA/8000` or `pcma/8000/1` (RFC 4855 §3: names are case-insensitive).
            let is = match named.and_then(|e| e.split_once('/')) {
                Some((enc, rate)) => {
                    enc.eq_ignore_ascii_case(name) && rate.split('/').next() == Some("8000")
                }
                None => named.is_none() && pt == static_pt,
            };
            is.then_some(Codec {
                payload_type: pt,
                name,
            })
        })
    };
    find("PCMA", 8).or_else(|| find("PCMU", 0))
}

/// A minimal receive-only answer (or offer, when the INVITE had none).
/// `addr` is our media address as SDP writes it: `IP4 192.168.178.20`
/// (see [`address`]).
pub fn answer(addr: &str, port: u16, session_id: u64, codecs: &[Codec]) -> Vec<u8> {
    let mut b = [0; 20];
    let id = decimal(session_id, &mut b).to_owned();
    let mut s = String::with_capacity(160);
    for part in [
        "v=0\r\no=minisip4fb ",
        &id,
        " ",
        &id,
        " IN ",
        addr,
        "\r\ns=-\r\nc=IN ",
        addr,
        "\r\nt=0 0\r\nm=audio ",
        decimal(port.into(), &mut b),
        " RTP/AVP",
    ] {
        s.push_str(part);
    }
    for c in codecs {
        s.push(' ');
        s.push_str(decimal(c.payload_type.into(), &mut b));
    }
    s.push_str("\r\n");
    for c in codecs {
        s.push_str("a=rtpmap:");
        s.push_str(decimal(c.payload_type.into(), &mut b));
        s.push(' ');
        s.push_str(c.name);
        s.push_str("/8000\r\n");
    }
    s.push_str("a=recvonly\r\n");
    s.into_bytes()
}

/// Our media address for [`answer`]: `IP4 192.168.178.20` or `IP6 fd00::1`.
pub fn address(ip: IpAddr) -> String {
    let family = if ip.is_ipv4() { "IP4" } else { "IP6" };
    format!("{family} {ip}")
}

pub const PCMA: Codec = Codec {
    payload_type: 8,
    name: "PCMA",
};
pub const PCMU: Codec = Codec {
    payload_type: 0,
    name: "PCMU",
};

#[cfg(test)]
mod tests {
    use super::*;

    const FRITZ_OFFER: &str = "v=0\r\no=user 1 1 IN IP4 192.168.178.1\r\ns=call\r\nc=IN IP4 192.168.178.1\r\nt=0 0\r\n\
m=audio 7078 RTP/AVP 9 8 0 120 121 101\r\na=rtpmap:9 G722/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:120 PCMA/16000\r\na=rtpmap:121 PCMU/16000\r\na=rtpmap:101 telephone-event/8000\r\n";

    #[test]
    fn picks_pcma_from_the_fritzbox_offer() {
        assert_eq!(choose_codec(FRITZ_OFFER.as_bytes()), Some(PCMA));
        assert_eq!(choose_codec(b"m=audio 1 RTP/AVP 0\r\n"), Some(PCMU));
        assert_eq!(
            choose_codec(b"m=audio 1 RTP/AVP 9\r\na=rtpmap:9 G722/8000\r\n"),
            None
        );
        // PCMA under a dynamic payload type
        let c = choose_codec(b"m=audio 1 RTP/AVP 96\r\na=rtpmap:96 pcma/8000\r\n").unwrap();
        assert_eq!(c.payload_type, 96);
    }

    #[test]
    fn answer_is_well_formed() {
        let a = String::from_utf8(answer(
            &address("127.0.0.1".parse().unwrap()),
            7078,
            5,
            &[PCMA],
        ))
        .unwrap();
        assert!(a.contains("m=audio 7078 RTP/AVP 8\r\n") && a.contains("a=rtpmap:8 PCMA/8000"));
        assert_eq!(
            a,
            "v=0\r\no=minisip4fb 5 5 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
             m=audio 7078 RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\na=recvonly\r\n"
        );
        let both = answer(
            &address("fd00::1".parse().unwrap()),
            40000,
            u64::MAX,
            &[PCMA, PCMU],
        );
        let both = String::from_utf8(both).unwrap();
        assert!(
            both.contains(
                "o=minisip4fb 18446744073709551615 18446744073709551615 IN IP6 fd00::1\r\n"
            )
        );
        assert!(both.contains(
            "m=audio 40000 RTP/AVP 8 0\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:0 PCMU/8000\r\n"
        ));
    }

    #[test]
    fn only_8000_hz_g711_counts() {
        let offer = |m: &str| format!("m=audio 1 RTP/AVP 96\r\na=rtpmap:96 {m}\r\n");
        assert!(choose_codec(offer("PCMA/8000/1").as_bytes()).is_some());
        assert!(choose_codec(offer("PCMA/80001").as_bytes()).is_none());
        assert!(choose_codec(offer("PCMA/16000").as_bytes()).is_none());
        assert!(choose_codec(offer("PCMA").as_bytes()).is_none());
    }
}
