//! The emulated Box's end of a call's audio: a UDP socket per call whose
//! port the INVITE's SDP offer names, that records every RTP packet the
//! phone sends, decodes G.711 with its own tables (not the phone's code),
//! sends keys as RFC 4733 events, and checks the stream as a Box would
//! hear it. Its findings are violations like the SIP side's.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};

use super::Shared;

/// A-law byte to linear (G.711 Table 1b, the decoder's side).
pub fn decode_alaw(a: u8) -> i16 {
    let a = a ^ 0x55;
    let segment = (a & 0x70) >> 4;
    let mut t = i16::from(a & 0x0F) << 4;
    t += match segment {
        0 => 8,
        _ => 0x108,
    };
    if segment > 1 {
        t <<= segment - 1;
    }
    if a & 0x80 != 0 { t } else { -t }
}

/// µ-law byte to linear (G.711 Table 2b).
pub fn decode_ulaw(u: u8) -> i16 {
    let u = !u;
    let t = ((i32::from(u & 0x0F) << 3) + 0x84) << ((u & 0x70) >> 4);
    (if u & 0x80 != 0 { 0x84 - t } else { t - 0x84 }) as i16
}

/// A key and the audio that asks for it (a caller who listens).
pub type Clip = (char, Vec<i16>);

/// One RTP packet as it arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seen {
    /// Since the INVITE went out (comparable with the call report's times).
    pub at: Duration,
    pub from: SocketAddr,
    pub payload_type: u8,
    pub marker: bool,
    pub seq: u16,
    pub timestamp: u32,
    pub ssrc: u32,
    pub payload_len: usize,
}

/// What the Box heard of a call.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MediaReport {
    /// The phone's SDP answer: where it receives, the payload type and
    /// name it chose, whether it is sendrecv.
    pub answer: Option<Answer>,
    pub packets: Vec<Seen>,
    /// The packets of the chosen codec, decoded in order.
    pub audio: Vec<i16>,
    /// Keys sent to the phone as RFC 4733 events.
    pub keys_sent: String,
}

/// The phone's SDP answer as the Box reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub addr: SocketAddr,
    pub payload_type: u8,
    pub codec: String,
    pub telephone_event: Option<u8>,
    pub sendrecv: bool,
}

pub(super) enum PeerCmd {
    /// The 200's SDP; then, with `keys`, press them after a while.
    Answered {
        answer: Answer,
        keys: Option<(Duration, String)>,
        /// Clips that, once heard, make the caller press their key.
        listen: Vec<Clip>,
        /// Our telephone-event payload type (the offer's).
        event_pt: u8,
    },
    /// The call is over: stop and report.
    Stop(oneshot::Sender<MediaReport>),
}

/// Starts the call's audio end on `socket` (bound by the caller for the
/// offer); `started` is the INVITE's time.
pub(super) fn start(
    socket: std::net::UdpSocket,
    started: Instant,
    store: Shared,
) -> std::io::Result<mpsc::UnboundedSender<PeerCmd>> {
    socket.set_nonblocking(true)?;
    let socket = UdpSocket::from_std(socket)?;
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(peer(socket, started, store, rx));
    Ok(tx)
}

async fn peer(
    socket: UdpSocket,
    started: Instant,
    store: Shared,
    mut rx: mpsc::UnboundedReceiver<PeerCmd>,
) {
    let mut report = MediaReport::default();
    let mut keys: Option<KeySender> = None;
    // Listening: the clips, where their key goes, and the audio searched.
    let mut listening: Option<(Vec<Clip>, SocketAddr, u8)> = None;
    let mut searched = 0;
    let mut buf = [0u8; 2048];
    loop {
        let due = keys.as_ref().map(|k| k.next);
        tokio::select! {
            r = socket.recv_from(&mut buf) => {
                let Ok((n, from)) = r else { continue };
                heard(&mut report, &buf[..n], from, started.elapsed());
                // Every 100 ms of audio: has a clip been said?
                if let Some((clips, to, pt)) = &listening
                    && report.audio.len() >= searched + 800
                {
                    searched = report.audio.len();
                    if let Some(key) = said(&report.audio, clips) {
                        report.keys_sent = key.to_string();
                        // A person takes a moment to press.
                        let at = Instant::now() + Duration::from_millis(300);
                        keys = Some(KeySender::new(*to, *pt, &report.keys_sent, at));
                        listening = None;
                    }
                }
            }
            () = sleep_until(due) => {
                if let Some(k) = keys.as_mut() {
                    let done = k.send_next(&socket).await;
                    if done {
                        keys = None;
                    }
                }
            }
            cmd = rx.recv() => match cmd {
                Some(PeerCmd::Answered { answer, keys: press, listen, event_pt }) => {
                    if !listen.is_empty() && answer.telephone_event.is_some() {
                        listening = Some((listen, answer.addr, event_pt));
                    }
                    if let Some((after, digits)) = press {
                        if answer.telephone_event.is_none() {
                            store.with(|s| s.media_violations.push(
                                "keys to send, but the phone's SDP answer has no telephone-event (RFC 4733 §7.1.1)".into()
                            ));
                        } else {
                            report.keys_sent = digits.clone();
                            keys = Some(KeySender::new(answer.addr, event_pt, &digits, Instant::now() + after));
                        }
                    }
                    report.answer = Some(answer);
                }
                Some(PeerCmd::Stop(reply)) => {
                    // What arrived before the stop is heard, even when a
                    // stalled thread finds both ready at once (select!
                    // picks either).
                    while let Ok((n, from)) = socket.try_recv_from(&mut buf) {
                        heard(&mut report, &buf[..n], from, started.elapsed());
                    }
                    let problems = check(&report);
                    if !problems.is_empty() {
                        store.with(|s| {
                            for p in problems {
                                if !s.media_violations.contains(&p) {
                                    s.media_violations.push(p);
                                }
                            }
                        });
                    }
                    let _ = reply.send(report);
                    return;
                }
                None => return,
            },
        }
    }
}

/// The key of the first clip found in `audio`. Each announcement starts
/// at a frame (160 samples); G.711 changes a sample by a few per cent.
fn said(audio: &[i16], clips: &[Clip]) -> Option<char> {
    let close =
        |a: i16, b: i16| (i32::from(a) - i32::from(b)).abs() <= 16 + i32::from(b).abs() / 16;
    clips.iter().find_map(|(key, clip)| {
        let found = !clip.is_empty()
            && audio.len() >= clip.len()
            && (0..=audio.len() - clip.len()).step_by(160).any(|at| {
                audio[at..at + clip.len()]
                    .iter()
                    .zip(clip)
                    .all(|(a, b)| close(*a, *b))
            });
        found.then_some(*key)
    })
}

async fn sleep_until(due: Option<Instant>) {
    match due {
        Some(t) => tokio::time::sleep_until(t.into()).await,
        None => std::future::pending().await,
    }
}

/// Records a packet: V=2 and the 12-byte header are all a G.711 stream
/// needs (RFC 3550 §5.1); anything else is noted as it is.
fn heard(report: &mut MediaReport, data: &[u8], from: SocketAddr, at: Duration) {
    if data.len() < 12 || data[0] >> 6 != 2 {
        report.packets.push(Seen {
            at,
            from,
            payload_type: 255,
            marker: false,
            seq: 0,
            timestamp: 0,
            ssrc: 0,
            payload_len: data.len(),
        });
        return;
    }
    let start = 12 + 4 * usize::from(data[0] & 0x0F);
    let payload = data.get(start..).unwrap_or_default();
    let seen = Seen {
        at,
        from,
        payload_type: data[1] & 0x7F,
        marker: data[1] & 0x80 != 0,
        seq: u16::from_be_bytes([data[2], data[3]]),
        timestamp: u32::from_be_bytes([data[4], data[5], data[6], data[7]]),
        ssrc: u32::from_be_bytes([data[8], data[9], data[10], data[11]]),
        payload_len: payload.len(),
    };
    if let Some(a) = &report.answer
        && seen.payload_type == a.payload_type
    {
        let decode = if a.codec.eq_ignore_ascii_case("PCMA") {
            decode_alaw
        } else {
            decode_ulaw
        };
        report.audio.extend(payload.iter().map(|&b| decode(b)));
    }
    report.packets.push(seen);
}

/// What a Box would hold against the stream.
fn check(r: &MediaReport) -> Vec<String> {
    let mut out = Vec::new();
    let Some(first) = r.packets.first() else {
        return out;
    };
    let Some(a) = &r.answer else {
        out.push("RTP before the phone's 200 OK with its SDP answer".into());
        return out;
    };
    if !a.sendrecv {
        out.push("RTP from a phone whose SDP answer is not sendrecv (RFC 3264 §6.1)".into());
    }
    if !first.marker {
        out.push("the first RTP packet has no marker bit (RFC 3551 §4.1)".into());
    }
    // Each kind of fault once, the first with how often it happened.
    let mut faults: Vec<(&str, String, usize)> = Vec::new();
    let mut fault = |kind: &'static str, what: String| match faults.iter_mut().find(|f| f.0 == kind)
    {
        Some(f) => f.2 += 1,
        None => faults.push((kind, what, 1)),
    };
    for q in &r.packets {
        if q.from != a.addr {
            fault(
                "from",
                format!(
                    "RTP from {}, not from the address of the phone's SDP answer {} (symmetric RTP, RFC 4961)",
                    q.from, a.addr
                ),
            );
        }
        if q.payload_type != a.payload_type {
            fault(
                "pt",
                format!(
                    "RTP payload type {} instead of the answered {} (RFC 3264 §6.1)",
                    q.payload_type, a.payload_type
                ),
            );
        }
    }
    for w in r.packets.windows(2) {
        let (p, q) = (&w[0], &w[1]);
        if q.ssrc != p.ssrc {
            fault(
                "ssrc",
                "the SSRC changed within a call (RFC 3550 §8)".into(),
            );
        }
        if q.seq != p.seq.wrapping_add(1) {
            fault(
                "seq",
                format!(
                    "RTP sequence {} after {} (RFC 3550 §5.1: +1 per packet)",
                    q.seq, p.seq
                ),
            );
        }
        let step = q.timestamp.wrapping_sub(p.timestamp);
        if (!q.marker && step != 160) || (q.marker && !(160..1 << 30).contains(&step)) {
            fault(
                "ts",
                format!("RTP timestamp +{step} between packets of 160 samples (RFC 3550 §5.1)"),
            );
        }
    }
    out.extend(faults.into_iter().map(|(_, what, n)| match n {
        1 => what,
        n => format!("{what}, {n} times"),
    }));
    if let Some(p) = r.packets.iter().find(|p| p.payload_len != 160) {
        out.push(format!(
            "an RTP packet of {} bytes of G.711: not the 20 ms (160 bytes) of a=ptime:20",
            p.payload_len
        ));
    }
    // Paced, not sent in bursts: n packets take about (n-1)·20 ms.
    let n = r.packets.len();
    let span = r.packets[n - 1].at.saturating_sub(first.at);
    let expected = Duration::from_millis(20) * (n as u32).saturating_sub(1);
    let talkspurts = r.packets.iter().filter(|p| p.marker).count();
    if n > 10 && talkspurts <= 1 && span < expected * 9 / 10 {
        out.push(format!(
            "{n} RTP packets in {} ms: sent in bursts, not paced at 20 ms",
            span.as_millis()
        ));
    }
    out
}

/// Presses keys as RFC 4733 events: per key three packets 50 ms apart as
/// it is held (the first with the marker, §2.5.1.3), then the end packet
/// three times (§2.5.1.4), all with the event's start timestamp.
struct KeySender {
    to: SocketAddr,
    pt: u8,
    ssrc: u32,
    seq: u16,
    /// (event code, packet number within it), what goes out next.
    events: Vec<u8>,
    key: usize,
    step: u8,
    timestamp: u32,
    next: Instant,
}

impl KeySender {
    fn new(to: SocketAddr, pt: u8, digits: &str, at: Instant) -> KeySender {
        let events = digits
            .chars()
            .filter_map(|c| match c {
                '0'..='9' => Some(c as u8 - b'0'),
                '*' => Some(10),
                '#' => Some(11),
                'A'..='D' => Some(c as u8 - b'A' + 12),
                _ => None,
            })
            .collect();
        KeySender {
            to,
            pt,
            ssrc: 0x4242_0001,
            seq: 1000,
            events,
            key: 0,
            step: 0,
            timestamp: 80_000,
            next: at,
        }
    }

    /// Sends the next packet; `true` when every key is out.
    async fn send_next(&mut self, socket: &UdpSocket) -> bool {
        let Some(&event) = self.events.get(self.key) else {
            return true;
        };
        let end = self.step >= 3;
        let duration = 400 * u16::from(self.step.min(3) + 1);
        let mut p = Vec::with_capacity(16);
        p.push(0x80);
        p.push((u8::from(self.step == 0) << 7) | self.pt);
        p.extend_from_slice(&self.seq.to_be_bytes());
        p.extend_from_slice(&self.timestamp.to_be_bytes());
        p.extend_from_slice(&self.ssrc.to_be_bytes());
        p.extend_from_slice(&[event, (u8::from(end) << 7) | 10]);
        p.extend_from_slice(&duration.to_be_bytes());
        let _ = socket.send_to(&p, self.to).await;
        self.seq = self.seq.wrapping_add(1);
        self.step += 1;
        if self.step == 6 {
            // The next key, 100 ms later, a new event with its own timestamp.
            self.step = 0;
            self.key += 1;
            self.timestamp = self.timestamp.wrapping_add(2400);
            self.next += Duration::from_millis(100);
        } else {
            self.next += Duration::from_millis(if end { 5 } else { 50 });
        }
        self.key >= self.events.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use minisip4fb::media::g711;

    /// The phone's encoders (G.711) against the emulator's own decoders.
    #[test]
    fn round_trips_within_a_step() {
        for s in (i16::MIN..=i16::MAX).step_by(7) {
            let x = i32::from(s);
            // A step is 1/16 of the segment: at most ~3% of the value, and
            // at least the finest step near zero.
            let tolerance = (x.abs() / 16).max(16);
            let a = i32::from(decode_alaw(g711::alaw(s)));
            let u = i32::from(decode_ulaw(g711::ulaw(s)));
            assert!((a - x).abs() <= tolerance, "A-law {s} -> {a}");
            assert!((u - x).abs() <= tolerance, "µ-law {s} -> {u}");
        }
    }
}
