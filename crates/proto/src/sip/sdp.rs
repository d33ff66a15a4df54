//! Just enough SDP (RFC 4566, offer/answer RFC 3264) to answer a call:
//! read the offered audio stream, answer PCMA or PCMU, and say where our
//! media is.

use std::net::{IpAddr, SocketAddr};

use super::lex::decimal;

/// A codec we can answer with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Codec {
    /// The RTP payload type (8 PCMA, 0 PCMU, or the offer's).
    pub payload_type: u8,
    /// The encoding name, as `a=rtpmap` writes it.
    pub name: &'static str,
}

/// What an offer's first audio stream asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Offer {
    /// The stream's `c=` address (media level over session level,
    /// RFC 4566 §5.7); `None` when absent or unparsable.
    pub addr: Option<IpAddr>,
    /// 0 for a rejected stream (RFC 3264 §6).
    pub port: u16,
    /// The first of PCMA and PCMU in the offer's order.
    pub codec: Option<Codec>,
    /// The payload type of `telephone-event/8000` (RFC 4733 §7.1.1).
    pub telephone_event: Option<u8>,
}

impl Offer {
    /// Where the Box wants our audio; `None` when there is no usable
    /// address (absent, or 0.0.0.0 for "on hold", RFC 3264 §8.4).
    pub fn remote(&self) -> Option<SocketAddr> {
        let ip = self.addr.filter(|ip| !ip.is_unspecified())?;
        (self.port != 0).then(|| SocketAddr::new(ip, self.port))
    }
}

/// Reads the first `m=audio` of an offer. Payload types are read from
/// `a=rtpmap`; static types 8/0 count when no rtpmap names them (RFC 3551
/// §6). Never hard-codes the offer's numbering (FRITZBOX.md).
pub fn offer(body: &[u8]) -> Option<Offer> {
    let text = std::str::from_utf8(body).ok()?;
    // The audio stream: its port, its format list and its lines (read
    // where they are: the offer is on the answering turn).
    let mut audio: Option<(u16, &str, usize)> = None;
    let mut audio_end = None;
    let (mut session_addr, mut media_addr) = (None, None);
    let (mut in_audio, mut at) = (false, 0);
    for raw in text.split_inclusive('\n') {
        let line = raw.trim_end();
        let line_start = at;
        at += raw.len();
        if let Some(m) = line.strip_prefix("m=") {
            if audio.is_some() {
                // Past our stream: what follows belongs to another one.
                audio_end = Some(line_start);
                break;
            }
            // RFC 4566 §5.14: `m=audio <port> <proto> <fmt> …`.
            let mut f = m.splitn(4, ' ');
            in_audio = f.next() == Some("audio");
            if in_audio {
                let port = f.next().and_then(|p| p.parse().ok())?;
                audio = Some((port, f.nth(1).unwrap_or(""), at));
            }
        } else if let Some(c) = line.strip_prefix("c=") {
            // RFC 4566 §5.7: `c=IN IP4 192.168.178.1`.
            let ip = c.rsplit(' ').next().and_then(super::uri::parse_ip);
            if in_audio {
                media_addr = ip;
            } else if audio.is_none() {
                session_addr = ip;
            }
        }
    }
    let (port, formats, start) = audio?;
    let audio_lines = &text[start..audio_end.unwrap_or(text.len())];
    let offered = || formats.split(' ').filter_map(|p| p.parse::<u8>().ok());
    // RFC 4566 §6: `a=rtpmap:<pt> <encoding>/<clock rate>[/<channels>]`;
    // `PCMA/8000` or `pcma/8000/1` (RFC 4855 §3: names are case-insensitive).
    // What each payload type is mapped to, in one pass over the stream;
    // a payload type has 7 bits (RFC 3550 §5.1), so 128 slots.
    let mut mapped = [Mapped::None; 128];
    for l in audio_lines.lines() {
        if let Some((pt, enc)) = l
            .trim_end()
            .strip_prefix("a=rtpmap:")
            .and_then(|a| a.split_once(' '))
            && let Some(slot) = pt.parse::<usize>().ok().and_then(|pt| mapped.get_mut(pt))
            && *slot == Mapped::None
        {
            *slot = match enc.split_once('/') {
                Some((name, rate)) if rate.split('/').next() == Some("8000") => {
                    Mapped::At8000(name)
                }
                _ => Mapped::Other,
            };
        }
    }
    let is = |pt: u8, name: &str, static_pt: Option<u8>| match mapped.get(usize::from(pt)) {
        Some(Mapped::At8000(enc)) => enc.eq_ignore_ascii_case(name),
        Some(Mapped::Other) => false,
        _ => static_pt == Some(pt),
    };
    let codec = offered().find_map(|pt| {
        [PCMA, PCMU].into_iter().find_map(|c| {
            is(pt, c.name, Some(c.payload_type)).then_some(Codec {
                payload_type: pt,
                name: c.name,
            })
        })
    });
    Some(Offer {
        addr: media_addr.or(session_addr),
        port,
        codec,
        telephone_event: offered().find(|&pt| is(pt, "telephone-event", None)),
    })
}

/// What an offer's rtpmap says of a payload type.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mapped<'a> {
    None,
    /// An encoding at 8000 Hz, by name.
    At8000(&'a str),
    /// Another clock rate, or no rate.
    Other,
}

/// The first of PCMA and PCMU in an offer, in the offer's order.
pub fn choose_codec(body: &[u8]) -> Option<Codec> {
    offer(body)?.codec
}

/// Which way our audio goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// We send nothing (a call answered only to be hung up).
    RecvOnly,
    /// We speak and listen, in 20 ms frames; with the offer's
    /// telephone-event type, for keys (RFC 4733 §7.1.1).
    SendRecv {
        /// The payload type of the offer's telephone-event, if any.
        telephone_event: Option<u8>,
    },
}

/// An answer (or offer, when the INVITE had none). `addr` is our media
/// address as SDP writes it: `IP4 192.168.178.20` (see [`address`]).
pub fn answer(addr: &str, port: u16, session_id: u64, codecs: &[Codec], mode: Mode) -> Vec<u8> {
    let (mut b, mut id_digits) = ([0; 20], [0; 20]);
    let id = decimal(session_id, &mut id_digits);
    let mut s = String::with_capacity(200);
    for part in [
        "v=0\r\no=minisip4fb ",
        id,
        " ",
        id,
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
    let event = match mode {
        Mode::SendRecv { telephone_event } => telephone_event,
        Mode::RecvOnly => None,
    };
    for pt in codecs.iter().map(|c| c.payload_type).chain(event) {
        s.push(' ');
        s.push_str(decimal(pt.into(), &mut b));
    }
    s.push_str("\r\n");
    for c in codecs {
        s.push_str("a=rtpmap:");
        s.push_str(decimal(c.payload_type.into(), &mut b));
        s.push(' ');
        s.push_str(c.name);
        s.push_str("/8000\r\n");
    }
    if let Some(pt) = event {
        let pt = decimal(pt.into(), &mut b);
        for part in [
            "a=rtpmap:",
            pt,
            " telephone-event/8000\r\na=fmtp:",
            pt,
            " 0-15\r\n",
        ] {
            s.push_str(part);
        }
    }
    s.push_str(match mode {
        Mode::RecvOnly => "a=recvonly\r\n",
        Mode::SendRecv { .. } => "a=ptime:20\r\na=sendrecv\r\n",
    });
    s.into_bytes()
}

/// Our media address for [`answer`]: `IP4 192.168.178.20` or `IP6 fd00::1`.
pub fn address(ip: IpAddr) -> String {
    let family = if ip.is_ipv4() { "IP4" } else { "IP6" };
    format!("{family} {ip}")
}

/// G.711 A-law, static payload type 8 (RFC 3551).
pub const PCMA: Codec = Codec {
    payload_type: 8,
    name: "PCMA",
};
/// G.711 µ-law, static payload type 0 (RFC 3551).
pub const PCMU: Codec = Codec {
    payload_type: 0,
    name: "PCMU",
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_audio_stream_does_not_borrow_the_next_one_s_rtpmaps() {
        let offer = offer(b"v=0\r\nm=audio 4000 RTP/AVP 96\r\nm=video 5000 RTP/AVP 96\r\na=rtpmap:96 PCMA/8000\r\n").unwrap();
        assert_eq!(offer.codec, None);
    }

    const FRITZ_OFFER: &str = "v=0\r\no=user 1 1 IN IP4 192.168.178.1\r\ns=call\r\nc=IN IP4 192.168.178.1\r\nt=0 0\r\n\
m=audio 7078 RTP/AVP 9 8 0 120 121 101\r\na=rtpmap:9 G722/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:120 PCMA/16000\r\na=rtpmap:121 PCMU/16000\r\na=rtpmap:101 telephone-event/8000\r\n";

    #[test]
    fn picks_pcma_from_the_fritzbox_offer() {
        assert_eq!(choose_codec(FRITZ_OFFER.as_bytes()), Some(PCMA));
        assert_eq!(choose_codec(b"m=audio 1 RTP/AVP 0\r\n"), Some(PCMU));
        // The offer's order decides (RFC 3264 §6.1).
        assert_eq!(choose_codec(b"m=audio 1 RTP/AVP 9 0 8\r\n"), Some(PCMU));
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
            Mode::RecvOnly,
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
            Mode::RecvOnly,
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
    fn the_offer_says_where_and_how() {
        let o = offer(FRITZ_OFFER.as_bytes()).unwrap();
        assert_eq!(o.remote(), Some("192.168.178.1:7078".parse().unwrap()));
        assert_eq!((o.codec, o.telephone_event), (Some(PCMA), Some(101)));
        // Media level over session level; a second stream is not ours.
        let o = offer(b"c=IN IP4 10.0.0.1\r\nm=audio 4000 RTP/AVP 0 100\r\nc=IN IP6 fd00::1\r\na=rtpmap:100 telephone-event/8000\r\nm=audio 5000 RTP/AVP 8\r\nc=IN IP4 10.0.0.9\r\n").unwrap();
        assert_eq!(o.remote(), Some("[fd00::1]:4000".parse().unwrap()));
        assert_eq!((o.codec, o.telephone_event), (Some(PCMU), Some(100)));
        // On hold, rejected, or no address: nowhere to send to.
        for sdp in [
            &b"c=IN IP4 0.0.0.0\r\nm=audio 4000 RTP/AVP 8\r\n"[..],
            b"c=IN IP4 10.0.0.1\r\nm=audio 0 RTP/AVP 8\r\n",
            b"m=audio 4000 RTP/AVP 8\r\n",
        ] {
            assert_eq!(offer(sdp).unwrap().remote(), None);
        }
        assert_eq!(offer(b"m=audio x RTP/AVP 8\r\n"), None);
        assert_eq!(offer(b"v=0\r\n"), None);
    }

    #[test]
    fn a_speaking_answer_has_ptime_sendrecv_and_the_offers_event_type() {
        let a = answer(
            "IP4 127.0.0.1",
            40000,
            7,
            &[PCMA],
            Mode::SendRecv {
                telephone_event: Some(100),
            },
        );
        assert_eq!(
            String::from_utf8(a).unwrap(),
            "v=0\r\no=minisip4fb 7 7 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
             m=audio 40000 RTP/AVP 8 100\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:100 telephone-event/8000\r\n\
             a=fmtp:100 0-15\r\na=ptime:20\r\na=sendrecv\r\n"
        );
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
