//! The driver: the phone's own thread. A UDP socket and a deadline feed
//! the sans-IO agent (`poll(2)` on the socket and a wake-up pair); what
//! the agent says is sent, its events go to the API, and each new INVITE
//! is decided inline by the [`Screen`].

// Keyed by the phone's own call numbers, which no peer chooses: Fx
// hashing, a few instructions on the turn instead of SipHash's.
use rustc_hash::FxHashMap as HashMap;
use std::net::SocketAddr;
use std::net::UdpSocket;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixDatagram;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{broadcast, mpsc, oneshot, watch};

use super::*;

/// A call's media as the application gets it: the task's handle and the
/// keys it hears.
pub(super) type MediaParts = (MediaHandle, mpsc::Receiver<char>);

pub(super) enum Command {
    Ring(CallId),
    Answer(CallId),
    /// Answer with audio; the media (or `None`: none negotiated) goes back.
    AnswerMedia(CallId, oneshot::Sender<Option<MediaParts>>),
    /// A script's end, from the media thread: tell the screen, hang up.
    ScriptDone(CallId, ScriptEnd),
    Reject(CallId, StatusCode, Option<Duration>),
    HangUp(CallId),
    /// The Box's address and ours changed: (registrar, contact).
    Readdress(SocketAddr, SocketAddr),
    /// End the calls in progress, then unregister.
    Shutdown,
    /// End the driver.
    Stop,
}

pub(super) type Request = (Command, oneshot::Sender<Result<(), CommandError>>);

/// The way into the driver's thread: a command, then a byte on a socket
/// pair that wakes its `poll`. Cheap to clone.
#[derive(Clone)]
pub(super) struct Commands {
    pub(super) queue: std::sync::mpsc::Sender<Request>,
    pub(super) wake: Arc<UnixDatagram>,
}

impl Commands {
    pub(super) fn send(&self, r: Request) -> Result<(), ()> {
        self.queue.send(r).map_err(drop)?;
        // A full wake buffer means a wake-up is pending anyway.
        let _ = self.wake.send(&[1]);
        Ok(())
    }
}

pub(super) struct Driver {
    pub(super) agent: Agent,
    pub(super) socket: UdpSocket,
    pub(super) commands: Commands,
    pub(super) calls: mpsc::UnboundedSender<IncomingCall>,
    pub(super) events: broadcast::Sender<Event>,
    pub(super) registration: watch::Sender<Registration>,
    pub(super) statuses: HashMap<CallId, watch::Sender<CallStatus>>,
    pub(super) screen: Box<dyn Screen>,
    /// Shutting down: unregister once no call is active, or at this instant.
    pub(super) stopping: Option<Instant>,
    /// Events of this turn, broadcast after its datagrams are sent.
    pub(super) later: Vec<Event>,
    /// Calls answered with audio: their media task, and for a script the
    /// word that the ACK came.
    pub(super) media: HashMap<CallId, (MediaHandle, Option<oneshot::Sender<()>>)>,
    /// When the Box last sent anything.
    pub(super) heard: super::Heard,
    /// The Box fell quiet: its refresh going unanswered too is news.
    pub(super) quiet: bool,
}

impl Driver {
    pub(super) fn run(mut self, cmd_rx: &std::sync::mpsc::Receiver<Request>, woken: &UnixDatagram) {
        self.agent.register(Instant::now());
        let mut buf = vec![0u8; 65_535];
        let mut warm = super::warm::Warm::new();
        loop {
            let mut deadline = self.flush();
            if let Some(until) = self.stopping {
                if self.agent.active_calls() == 0 || Instant::now() >= until {
                    self.stopping = None;
                    self.agent.unregister(Instant::now());
                    continue;
                }
                deadline = deadline.min(until);
            }
            // Each input is drained (flush) before the next one, and every
            // source that is ready gets its turn: a flood of datagrams
            // neither starves the timers nor the commands.
            let (datagram, command) = wait(&self.socket, woken, deadline);
            if datagram {
                warm.before_turn(Instant::now());
                // One datagram per turn; the next poll returns at once if
                // more are queued.
                match self.socket.recv_from(&mut buf) {
                    Ok((n, from)) => {
                        self.agent.handle_input(Input::Receive {
                            now: Instant::now(),
                            from,
                            data: &buf[..n],
                        });
                        self.flush();
                        // After the answer left: never before it.
                        if from.ip() == self.agent.config().registrar.ip() {
                            self.heard.now();
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    // ICMP port unreachable and the like: the retransmission timers cover it.
                    Err(e) => tracing::debug!("receive error: {e}"),
                }
                warm.after_turn(Instant::now());
            }
            if command {
                while woken.recv(&mut [0; 64]).is_ok() {}
                while let Ok((c, reply)) = cmd_rx.try_recv() {
                    if matches!(c, Command::Stop) {
                        return;
                    }
                    let r = self.apply(c);
                    let _ = reply.send(r);
                    self.flush();
                }
            }
            if Instant::now() >= deadline {
                self.agent.handle_input(Input::Timeout(Instant::now()));
            }
        }
    }

    #[inline(never)]
    fn apply(&mut self, c: Command) -> Result<(), CommandError> {
        let now = Instant::now();
        match c {
            Command::Ring(id) => self.agent.ring(now, id),
            Command::Answer(id) => self.agent.answer(now, id),
            Command::AnswerMedia(id, reply) => {
                let media = self.answer_with_media(now, id)?;
                let _ = reply.send(media.ok());
                Ok(())
            }
            Command::ScriptDone(id, end) => {
                self.screen.script_ended(id, &end, now);
                self.agent.hang_up(now, id)
            }
            Command::Reject(id, status, delay) => self.agent.reject(now, id, status, delay),
            Command::HangUp(id) => self.agent.hang_up(now, id),
            Command::Readdress(registrar, contact) => {
                self.agent.readdress(now, registrar, contact);
                Ok(())
            }
            Command::Shutdown => {
                self.agent.shut_down(now);
                self.stopping = Some(now + SHUTDOWN_GRACE);
                Ok(())
            }
            Command::Stop => Ok(()),
        }
    }

    /// Sends what the agent produced, hands out events; returns the deadline.
    /// What waits for the end of the turn: the datagrams go first, then
    /// anything that wakes another thread.
    fn flush(&mut self) -> Instant {
        loop {
            match self.agent.poll_output() {
                Output::Transmit { to, data } => send(&self.socket, &data, to),
                Output::Event(e) => self.dispatch(e),
                Output::Timeout(t) => {
                    for e in self.later.drain(..) {
                        let _ = self.events.send(e);
                    }
                    return match self.screen.turn_done(Instant::now()) {
                        Some(s) => t.min(s),
                        None => t,
                    };
                }
            }
        }
    }

    /// The registration's news (out of line: the code a call runs stays
    /// together, docs/PERFORMANCE.md "Session 13").
    #[inline(never)]
    fn registration_news(&mut self, e: &Event) {
        match e {
            Event::Registered { expires } => {
                self.quiet = false;
                self.registration
                    .send_replace(Registration::Registered { expires: *expires });
            }
            Event::RegistrationFailed { reason, retry_in } => {
                self.registration.send_replace(Registration::Failed {
                    reason: reason.clone(),
                    retry_in: *retry_in,
                });
            }
            Event::RegistrarSilent { registrar, waited } => {
                // While a binding holds, a silent refresh is not yet news:
                // the refresh runs its course (and fails, or not). After
                // the Box fell quiet it is: the binding is likely gone.
                if !self.quiet
                    && matches!(*self.registration.borrow(), Registration::Registered { .. })
                {
                    tracing::warn!(
                        "no answer from the FRITZ!Box at {registrar} for {:.1} s to a refresh; still trying",
                        waited.as_secs_f64()
                    );
                } else {
                    self.registration.send_replace(Registration::NoAnswer {
                        registrar: *registrar,
                    });
                }
            }
            // The registration stands until the refresh says otherwise.
            Event::RegistrarQuiet { quiet, keepalive } => {
                self.quiet = true;
                tracing::warn!(
                    "nothing heard from the FRITZ!Box for {:.1} s (its keepalives came every {:.1} s): it may have dropped our registration; registering again",
                    quiet.as_secs_f64(),
                    keepalive.as_secs_f64()
                );
            }
            Event::Unregistered => {
                self.registration.send_replace(Registration::Unregistered);
            }
            // The calls' events: `dispatch`.
            _ => {}
        }
    }

    fn dispatch(&mut self, e: Event) {
        match &e {
            Event::Registered { .. }
            | Event::RegistrationFailed { .. }
            | Event::RegistrarSilent { .. }
            | Event::RegistrarQuiet { .. }
            | Event::Unregistered => self.registration_news(&e),
            Event::IncomingCall { call, caller } => {
                let verdict = if self.stopping.is_some() {
                    // Shutting down: the other phones take it.
                    Verdict::Reject {
                        how: Reject::Unavailable,
                        after: Duration::ZERO,
                    }
                } else {
                    self.screen.screen(*call, caller, Instant::now())
                };
                // After the decision: a decline's delay counts from the 180.
                let now = Instant::now();
                let done = match &verdict {
                    Verdict::Defer => None,
                    // Handed over even if the 180 cannot go out: whoever
                    // waits for it hears how it went.
                    Verdict::RingAndHandOver => {
                        if let Err(e) = self.agent.ring(now, *call) {
                            tracing::warn!("{call}: cannot ring: {e}");
                        }
                        None
                    }
                    Verdict::Silent => Some(Ok(())),
                    Verdict::Ring => Some(self.agent.ring(now, *call)),
                    Verdict::Terminate => Some(
                        self.agent
                            .answer(now, *call)
                            .and_then(|()| self.agent.hang_up(now, *call)),
                    ),
                    Verdict::Reject { how, after } => {
                        Some(self.agent.reject(now, *call, how.status(), Some(*after)))
                    }
                    Verdict::Script(script) => Some(self.run_script(now, *call, script.clone())),
                };
                if let Some(r) = done {
                    if let Err(e) = r {
                        tracing::warn!("{call}: cannot carry out {verdict:?}: {e}");
                    }
                    self.later.push(e);
                    return;
                }
                let (tx, rx) = watch::channel(CallStatus::Ringing);
                self.statuses.insert(*call, tx);
                let _ = self.calls.send(IncomingCall {
                    id: *call,
                    caller: caller.clone(),
                    received: Instant::now(),
                    commands: self.commands.clone(),
                    status: rx,
                    media: std::sync::Mutex::new(None),
                    digits: tokio::sync::Mutex::new(None),
                });
            }
            Event::CallAnswered { call } => {
                if let Some((_, answered)) = self.media.get_mut(call)
                    && let Some(tx) = answered.take()
                {
                    let _ = tx.send(());
                }
                self.screen.answered(*call, Instant::now());
                if let Some(s) = self.statuses.get(call) {
                    s.send_replace(CallStatus::Answered);
                }
            }
            Event::CallEnded { call, reason } => {
                if let Some((media, _)) = self.media.remove(call) {
                    media.stop();
                }
                self.screen.ended(*call, *reason, Instant::now());
                if let Some(s) = self.statuses.remove(call) {
                    s.send_replace(CallStatus::Ended(*reason));
                }
            }
            Event::CallRefused { caller } => self.screen.refused(caller),
            Event::Dtmf { call, digit } => {
                if let Some((media, _)) = self.media.get(call) {
                    media.digit(*digit);
                }
            }
        }
        self.later.push(e);
    }
}

impl Driver {
    /// Answers with audio: binds the call's RTP socket at our address (a
    /// syscall, no waiting) and starts its task on the media thread.
    /// `None` when no audio was negotiated; the call is answered anyway.
    #[inline(never)]
    fn answer_with_media(
        &mut self,
        now: Instant,
        call: CallId,
    ) -> Result<Result<MediaParts, ScriptEnd>, CommandError> {
        let bind = SocketAddr::new(self.agent.config().contact.ip(), 0);
        let socket = UdpSocket::bind(bind).and_then(|s| {
            s.set_nonblocking(true)?;
            let port = s.local_addr()?.port();
            Ok((s, port))
        });
        let (socket, port) = match socket {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("{call}: no RTP socket at {bind}: {e}; answering without audio");
                self.agent.answer(now, call)?;
                return Ok(Err(ScriptEnd::NoSocket));
            }
        };
        let Some(m) = self.agent.answer_with_media(now, call, port)? else {
            tracing::info!(
                "{call}: the FRITZ!Box offered no PCMA or PCMU at a usable address: answered without audio"
            );
            return Ok(Err(ScriptEnd::NoMedia));
        };
        let (handle, digits) = session::start(session::Stream {
            socket,
            remote: m.remote,
            codec: m.codec,
            telephone_event: m.telephone_event,
        });
        self.media.insert(call, (handle.clone(), None));
        Ok(Ok((handle, digits)))
    }

    /// [`Verdict::Script`]: answer with audio and hand the script to the
    /// media thread; without audio, hang up at once.
    #[inline(never)]
    fn run_script(
        &mut self,
        now: Instant,
        call: CallId,
        script: Arc<Script>,
    ) -> Result<(), CommandError> {
        let (handle, digits) = match self.answer_with_media(now, call)? {
            Ok(parts) => parts,
            Err(why) => {
                self.screen.script_ended(call, &why, now);
                return self.agent.hang_up(now, call);
            }
        };
        let (tx, answered) = oneshot::channel();
        if let Some((_, slot)) = self.media.get_mut(&call) {
            *slot = Some(tx);
        }
        let commands = self.commands.clone();
        session::spawn_script(handle, digits, script, answered, move |end| {
            let (tx, _) = oneshot::channel();
            let _ = commands.send((Command::ScriptDone(call, end), tx));
        });
        Ok(())
    }
}

/// Waits until the socket has a datagram, a command is queued, or
/// `deadline`: (datagram, command). `poll(2)`, in milliseconds rounded up,
/// is precise enough for SIP's timers (the shortest is T1, 500 ms).
fn wait(socket: &UdpSocket, woken: &UnixDatagram, deadline: Instant) -> (bool, bool) {
    let left = deadline.saturating_duration_since(Instant::now());
    let ms = left.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128) as i32;
    let mut fds = [
        libc::pollfd {
            fd: socket.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        },
        libc::pollfd {
            fd: woken.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        },
    ];
    // SAFETY: two valid pollfds on descriptors this thread keeps open.
    let n = unsafe { libc::poll(fds.as_mut_ptr(), 2, ms) };
    if n <= 0 {
        // Timeout, or EINTR: the caller checks the deadline and polls again.
        return (false, false);
    }
    // An error condition on the socket is read (and logged) like data.
    let ready = |f: &libc::pollfd| f.revents & (libc::POLLIN | libc::POLLERR | libc::POLLHUP) != 0;
    (ready(&fds[0]), ready(&fds[1]))
}

/// Sends one datagram; a full send buffer gets up to 100 ms to drain.
fn send(socket: &UdpSocket, data: &[u8], to: SocketAddr) {
    let mut r = socket.send_to(data, to);
    if matches!(&r, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock) {
        let mut fd = libc::pollfd {
            fd: socket.as_raw_fd(),
            events: libc::POLLOUT,
            revents: 0,
        };
        // SAFETY: one valid pollfd on the phone's own socket.
        unsafe { libc::poll(&mut fd, 1, 100) };
        r = socket.send_to(data, to);
    }
    if let Err(e) = r {
        tracing::warn!("cannot send to {to}: {e}");
    }
}
