//! RTP (RFC 3550) as the phone needs it, without I/O: the sender's header
//! sequence, a bounded parser for what the Box sends, and RFC 4733
//! telephone-events turned into digits.

use minisip4fb_proto::sip::dtmf::digit;

/// Samples in one 20 ms frame at 8 kHz (`a=ptime:20`, RFC 3551 §4.5).
pub const FRAME: usize = 160;
/// The fixed header: V=2, no padding, extension or CSRCs (RFC 3550 §5.1).
pub const HEADER: usize = 12;

/// One outgoing stream: payload type, SSRC and the running sequence
/// number and timestamp (random starting values, RFC 3550 §5.1).
#[derive(Debug, Clone)]
pub struct Sender {
    payload_type: u8,
    ssrc: u32,
    seq: u16,
    timestamp: u32,
    /// The next packet starts a talkspurt: marker bit (RFC 3551 §4.1).
    marker: bool,
}

impl Sender {
    pub fn new(payload_type: u8, ssrc: u32, seq: u16, timestamp: u32) -> Sender {
        Sender {
            payload_type,
            ssrc,
            seq,
            timestamp,
            marker: true,
        }
    }

    /// A silent gap of `samples` before the next packet: its timestamp
    /// moves on with the clock and it carries the marker again.
    pub fn pause(&mut self, samples: u32) {
        self.timestamp = self.timestamp.wrapping_add(samples);
        self.marker = true;
    }

    /// Writes the next packet of `payload` (one frame) into `out`.
    pub fn packet(&mut self, payload: &[u8], out: &mut Vec<u8>) {
        out.clear();
        out.push(0x80);
        out.push((u8::from(self.marker) << 7) | (self.payload_type & 0x7F));
        out.extend_from_slice(&self.seq.to_be_bytes());
        out.extend_from_slice(&self.timestamp.to_be_bytes());
        out.extend_from_slice(&self.ssrc.to_be_bytes());
        out.extend_from_slice(payload);
        self.marker = false;
        self.seq = self.seq.wrapping_add(1);
        self.timestamp = self.timestamp.wrapping_add(payload.len() as u32);
    }
}

/// A received packet's header fields and payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<'a> {
    pub payload_type: u8,
    pub marker: bool,
    pub seq: u16,
    pub timestamp: u32,
    pub ssrc: u32,
    pub payload: &'a [u8],
}

/// Reads an RTP packet; `None` for anything that is not RTP version 2 or
/// whose lengths do not add up (RFC 3550 §5.1, §5.3.1, A.1).
pub fn parse(data: &[u8]) -> Option<Packet<'_>> {
    if data.len() < HEADER || data[0] >> 6 != 2 {
        return None;
    }
    let csrcs = usize::from(data[0] & 0x0F);
    let mut start = HEADER + 4 * csrcs;
    if data[0] & 0x10 != 0 {
        // Header extension: 16-bit profile, 16-bit length in words.
        let len = data.get(start + 2..start + 4)?;
        start += 4 + 4 * usize::from(u16::from_be_bytes([len[0], len[1]]));
    }
    let mut end = data.len();
    if data[0] & 0x20 != 0 {
        end = end.checked_sub(usize::from(*data.last()?))?;
    }
    let payload = data.get(start..end)?;
    Some(Packet {
        payload_type: data[1] & 0x7F,
        marker: data[1] & 0x80 != 0,
        seq: u16::from_be_bytes([data[2], data[3]]),
        timestamp: u32::from_be_bytes([data[4], data[5], data[6], data[7]]),
        ssrc: u32::from_be_bytes([data[8], data[9], data[10], data[11]]),
        payload,
    })
}

/// Turns telephone-event packets into digits, each once: every packet of
/// one event carries the event's start timestamp (RFC 4733 §2.5.1.2), its
/// updates and its end packet repeated three times (§2.5.1.4) too.
#[derive(Debug, Default)]
pub struct Digits {
    /// Timestamps of the last events seen: a late or repeated packet of
    /// one of them is not a new key press.
    seen: [Option<u32>; 4],
    next: usize,
}

impl Digits {
    /// The digit a packet starts, if it starts one. The volume and
    /// duration are not needed; the event is counted at its first packet,
    /// so a lost end packet loses no digit.
    pub fn on_packet(&mut self, p: &Packet<'_>) -> Option<char> {
        let event = *p.payload.first()?;
        if p.payload.len() < 4 || self.seen.contains(&Some(p.timestamp)) {
            return None;
        }
        self.seen[self.next] = Some(p.timestamp);
        self.next = (self.next + 1) % self.seen.len();
        digit(event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sender_steps_sequence_and_timestamp_and_marks_talkspurts() {
        let mut s = Sender::new(8, 0xDEAD_BEEF, u16::MAX, u32::MAX - 100);
        let mut out = Vec::new();
        s.packet(&[0xD5; FRAME], &mut out);
        assert_eq!(out.len(), HEADER + FRAME);
        let p = parse(&out).unwrap();
        assert_eq!(
            (p.payload_type, p.marker, p.seq, p.timestamp, p.ssrc),
            (8, true, u16::MAX, u32::MAX - 100, 0xDEAD_BEEF)
        );
        s.packet(&[0xD5; FRAME], &mut out);
        let p = parse(&out).unwrap();
        // Both wrap around.
        assert_eq!((p.marker, p.seq, p.timestamp), (false, 0, 59));
        s.pause(800);
        s.packet(&[0xD5; FRAME], &mut out);
        let p = parse(&out).unwrap();
        assert_eq!((p.marker, p.seq, p.timestamp), (true, 1, 59 + 160 + 800));
    }

    #[test]
    fn parser_refuses_what_does_not_add_up() {
        assert!(parse(&[0x80; 11]).is_none());
        assert!(parse(&[0x40; 20]).is_none(), "version 1");
        // 15 CSRCs announced, none there.
        assert!(parse(&[0x8F, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]).is_none());
        // Padding longer than the packet.
        let mut p = vec![0xA0, 8, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 9, 9, 200];
        assert!(parse(&p).is_none());
        *p.last_mut().unwrap() = 2;
        assert_eq!(parse(&p).unwrap().payload, &[9]);
        // An extension of one word, skipped.
        let e = [
            0x90, 8, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0xBE, 0xDE, 0, 1, 1, 2, 3, 4, 7,
        ];
        assert_eq!(parse(&e).unwrap().payload, &[7]);
    }

    fn event(ts: u32, code: u8, end: bool) -> Vec<u8> {
        let mut out = Vec::new();
        Sender::new(101, 1, 1, ts).packet(&[code, u8::from(end) << 7 | 10, 0, 160], &mut out);
        out
    }

    #[test]
    fn one_digit_per_event_however_often_its_packets_come() {
        let mut d = Digits::default();
        let mut got = String::new();
        for (ts, code) in [(1000, 1), (2000, 2), (3000, 11)] {
            for end in [false, false, true, true, true] {
                if let Some(c) = d.on_packet(&parse(&event(ts, code, end)).unwrap()) {
                    got.push(c);
                }
            }
        }
        // A late packet of the first event.
        assert_eq!(d.on_packet(&parse(&event(1000, 1, true)).unwrap()), None);
        // The same key again is a new event with a new timestamp.
        assert_eq!(
            d.on_packet(&parse(&event(4000, 1, false)).unwrap()),
            Some('1')
        );
        assert_eq!(got, "12#");
        assert_eq!(d.on_packet(&parse(&event(5000, 16, true)).unwrap()), None);
    }
}
