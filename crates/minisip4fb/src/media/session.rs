//! The media thread: one tokio runtime on a thread of its own, with one
//! task and one UDP socket per answered call. Each task paces its RTP by
//! the clock (frame `k` at start + k·20 ms), reads the same socket for the
//! Box's packets (symmetric RTP, RFC 4961) and turns RFC 4733 events into
//! digits. Nothing here runs on the thread that answers SIP.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

use rand::Rng;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::announcement::Announcement;
use super::rtp::{self, FRAME, HEADER};
use super::{Script, ScriptEnd, g711};
use minisip4fb_proto::sip::sdp::Codec;

/// One frame's time at 8 kHz.
const FRAME_TIME: Duration = Duration::from_millis(20);
/// A script's whole time, at most: a caller pressing a key every few
/// seconds cannot hold the line for ever.
const MAX_SCRIPT: Duration = Duration::from_secs(300);
/// Keys waiting to be read, at most; more are dropped.
const DIGITS_QUEUED: usize = 64;

/// An answered call's audio path: our socket and what was negotiated.
#[derive(Debug)]
pub struct Stream {
    /// Bound for this call, at the port our SDP answer names.
    pub socket: std::net::UdpSocket,
    pub remote: SocketAddr,
    pub codec: Codec,
    pub telephone_event: Option<u8>,
}

enum Cmd {
    Play(Announcement, oneshot::Sender<()>),
    /// A key that came by SIP INFO.
    Digit(char),
    /// Stop what plays and what is queued.
    Hush,
    Stop,
}

/// The way to one call's media task. Dropping every handle (or
/// [`MediaHandle::stop`]) ends it.
#[derive(Clone, Debug)]
pub struct MediaHandle {
    cmds: mpsc::UnboundedSender<Cmd>,
}

impl MediaHandle {
    /// Plays `a` after whatever is queued; `true` once its last frame is
    /// sent, `false` if the media ended first (the call is over).
    pub async fn play(&self, a: Announcement) -> bool {
        let (tx, rx) = oneshot::channel();
        self.cmds.send(Cmd::Play(a, tx)).is_ok() && rx.await.is_ok()
    }

    /// A key that arrived by SIP INFO, into the same digit stream.
    pub fn digit(&self, d: char) {
        let _ = self.cmds.send(Cmd::Digit(d));
    }

    /// Stops what plays and what is queued (the caller pressed a key
    /// during a prompt); later plays start at once.
    pub fn hush(&self) {
        let _ = self.cmds.send(Cmd::Hush);
    }

    /// Ends the media now (the call ended): no packet is sent after this.
    pub fn stop(&self) {
        let _ = self.cmds.send(Cmd::Stop);
    }
}

/// The media thread's runtime, started at the first answered call.
fn runtime() -> &'static tokio::runtime::Handle {
    static RT: OnceLock<tokio::runtime::Handle> = OnceLock::new();
    RT.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime for the media thread");
        let handle = rt.handle().clone();
        std::thread::Builder::new()
            .name("minisip4fb-media".into())
            .spawn(move || rt.block_on(std::future::pending::<()>()))
            .expect("the media thread");
        handle
    })
}

/// Starts a call's media task; returns its handle and the digits it hears.
pub fn start(stream: Stream) -> (MediaHandle, mpsc::Receiver<char>) {
    let (cmds, rx) = mpsc::unbounded_channel();
    let (digits_tx, digits) = mpsc::channel(DIGITS_QUEUED);
    runtime().spawn(run(stream, rx, digits_tx));
    (MediaHandle { cmds }, digits)
}

/// Runs a script on the media thread: waits for `answered` (the ACK),
/// plays, listens, and hands the end to `done`.
pub fn spawn_script(
    media: MediaHandle,
    mut digits: mpsc::Receiver<char>,
    script: std::sync::Arc<Script>,
    answered: oneshot::Receiver<()>,
    done: impl FnOnce(ScriptEnd) + Send + 'static,
) {
    let script = async move {
        let answered = answered.await.is_ok();
        // The key-press check reports even a call gone before the ACK:
        // a failed check all the same.
        if let Some(c) = &script.challenge {
            let key = c.ask();
            return Some(match answered {
                true => super::challenge::run(&media, &mut digits, c, key).await,
                false => ScriptEnd::Challenge {
                    asked: key,
                    pressed: None,
                    pass: c.pass,
                },
            });
        }
        // The call ended before the ACK: nothing to play.
        if !answered {
            return None;
        }
        if let Some(a) = &script.announcement
            && !media.play(a.clone()).await
        {
            return None;
        }
        match &script.collect {
            None => Some(ScriptEnd::Played),
            Some(c) => super::collect(&mut digits, c).await,
        }
    };
    runtime().spawn(async move {
        match tokio::time::timeout(MAX_SCRIPT, script).await {
            Ok(Some(end)) => done(end),
            // The call is over; the driver knows.
            Ok(None) => {}
            Err(_) => done(ScriptEnd::TimedOut),
        }
    });
}

struct Playing {
    a: Announcement,
    done: oneshot::Sender<()>,
    start: Instant,
    /// The next frame to send.
    k: usize,
}

async fn run(s: Stream, mut cmds: mpsc::UnboundedReceiver<Cmd>, digits: mpsc::Sender<char>) {
    let remote = s.remote;
    let socket = match UdpSocket::from_std(s.socket) {
        Ok(u) => u,
        Err(e) => {
            tracing::warn!("media for {remote}: {e}");
            return;
        }
    };
    let encode: fn(i16) -> u8 = if s.codec.name == "PCMA" {
        g711::alaw
    } else {
        g711::ulaw
    };
    let mut sender = {
        let mut rng = rand::rng();
        rtp::Sender::new(
            s.codec.payload_type,
            rng.random(),
            rng.random(),
            rng.random(),
        )
    };
    let mut events = rtp::Digits::default();
    let mut queue: VecDeque<(Announcement, oneshot::Sender<()>)> = VecDeque::new();
    let mut playing: Option<Playing> = None;
    let mut last_sent: Option<Instant> = None;
    let (mut buf, mut packet, mut frame) = (
        [0u8; 1500],
        Vec::with_capacity(HEADER + FRAME),
        [0u8; FRAME],
    );
    loop {
        if playing.is_none()
            && let Some((a, done)) = queue.pop_front()
        {
            let now = Instant::now();
            if let Some(last) = last_sent {
                // RFC 3550 §5.1: the timestamp follows the clock across the pause.
                let gap = now.duration_since(last).saturating_sub(FRAME_TIME);
                sender.pause((gap.as_secs_f64() * 8000.0) as u32);
            }
            playing = Some(Playing {
                a,
                done,
                start: now,
                k: 0,
            });
        }
        let due = playing.as_ref().map(|p| p.start + FRAME_TIME * p.k as u32);
        tokio::select! {
            biased;
            () = crate::guard::until(due) => {
                let Some(p) = playing.as_mut() else { continue };
                if p.k < p.a.frames() {
                    p.a.encode_frame(p.k, encode, &mut frame);
                    sender.packet(&frame, &mut packet);
                    if let Err(e) = socket.send_to(&packet, remote).await {
                        tracing::debug!("media to {remote}: {e}");
                    }
                    last_sent = Some(Instant::now());
                    p.k += 1;
                }
                if p.k >= p.a.frames()
                    && let Some(p) = playing.take()
                {
                    let _ = p.done.send(());
                }
            }
            c = cmds.recv() => match c {
                Some(Cmd::Play(a, done)) => queue.push_back((a, done)),
                Some(Cmd::Digit(d)) => {
                    let _ = digits.try_send(d);
                }
                Some(Cmd::Hush) => {
                    playing = None;
                    queue.clear();
                }
                Some(Cmd::Stop) | None => return,
            },
            r = socket.recv_from(&mut buf) => {
                // Only the Box's packets: a key from anyone else is not the caller's.
                if let Ok((n, from)) = r
                    && from.ip() == remote.ip()
                    && let Some(p) = rtp::parse(&buf[..n])
                    && Some(p.payload_type) == s.telephone_event
                    && let Some(d) = events.on_packet(&p)
                {
                    let _ = digits.try_send(d);
                }
            }
        }
    }
}
