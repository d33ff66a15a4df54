//! Just enough SDP (RFC 4566, offer/answer RFC 3264) to answer a call:
//! read the offered audio codecs, answer PCMA or PCMU.

use std::net::IpAddr;

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
    let mut rtpmap: Vec<(u8, String)> = Vec::new();
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
            rtpmap.push((pt, enc.to_ascii_uppercase()));
        }
    }
    let find = |name: &'static str, static_pt: u8| {
        offered.iter().copied().find_map(|pt| {
            let named = rtpmap
                .iter()
                .find(|(p, _)| *p == pt)
                .map(|(_, e)| e.as_str());
            let is = match named {
                Some(enc) => enc.starts_with(&format!("{name}/8000")),
                None => pt == static_pt,
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
pub fn answer(ip: IpAddr, port: u16, session_id: u64, codecs: &[Codec]) -> Vec<u8> {
    let family = if ip.is_ipv4() { "IP4" } else { "IP6" };
    let pts: Vec<String> = codecs.iter().map(|c| c.payload_type.to_string()).collect();
    let mut s = format!(
        "v=0\r\no=minisip4fb {session_id} {session_id} IN {family} {ip}\r\ns=-\r\nc=IN {family} {ip}\r\nt=0 0\r\nm=audio {port} RTP/AVP {}\r\n",
        pts.join(" ")
    );
    for c in codecs {
        s.push_str(&format!("a=rtpmap:{} {}/8000\r\n", c.payload_type, c.name));
    }
    s.push_str("a=recvonly\r\n");
    s.into_bytes()
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
        let a = String::from_utf8(answer("127.0.0.1".parse().unwrap(), 7078, 5, &[PCMA])).unwrap();
        assert!(a.contains("m=audio 7078 RTP/AVP 8\r\n") && a.contains("a=rtpmap:8 PCMA/8000"));
        assert!(a.contains("c=IN IP4 127.0.0.1"));
    }
}
