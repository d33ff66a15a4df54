//! The driver: a UDP socket and a timer feeding the sans-IO [`Agent`] on
//! a thread of its own, and the public async API built on it.
//!
//! Two ways to decide about calls. A [`Screen`] given to
//! [`Phone::start_with`] is called inline, on the driver's own turn, the
//! moment an INVITE is parsed: its [`Verdict`] leaves in the same wake-up,
//! without a 100 Trying (RFC 3261 §17.2.1). Without one (or when it says
//! [`Verdict::Defer`]) the call is handed to [`Phone::next_call`] for an
//! asynchronous decision, and gets its 100 Trying at once.
//!
//! ```no_run
//! # async fn demo() -> Result<(), minisip4fb::net::PhoneError> {
//! use minisip4fb::net::{Phone, PhoneConfig, Reject};
//! let config = PhoneConfig::new("fritz.box", "620", "secret-password");
//! let mut phone = Phone::connect(config).await?;
//! while let Some(call) = phone.next_call().await {
//!     match call.caller().number.as_deref() {
//!         Some(n) if n.starts_with("0900") => { call.terminate().await?; }
//!         Some("01701234567") => { call.reject(Reject::Busy).await?; }
//!         _ => { call.ring().await?; }
//!     }
//! }
//! phone.shutdown().await?;
//! # Ok(()) }
//! ```

pub mod blocking;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use std::net::UdpSocket;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixDatagram;
use std::sync::Arc;

use tokio::sync::{broadcast, mpsc, oneshot, watch};

use crate::media::session::{self, MediaHandle};
use minisip4fb_proto::agent::{
    Agent, CommandError, Config, Event, Input, Output, RegistrationError,
};
use minisip4fb_proto::sip::Host;

pub use crate::media::{Announcement, Collect, Script, ScriptEnd};
/// The agent's types an application of the phone needs, so that it never
/// reaches below this layer.
pub use minisip4fb_proto::agent::{CallId, CallerId, Outcome};

/// How to reach the FRITZ!Box and who we are there.
#[derive(Debug, Clone)]
pub struct PhoneConfig {
    /// `HOST[:PORT]` of the Box's SIP registrar: `fritz.box`, `192.168.178.1`, `[fd00::1]:5060`.
    pub fritzbox: String,
    /// The IP phone's user name as set up at the Box (Telefonie > Telefoniegeräte).
    pub user: String,
    /// The IP phone's password.
    pub password: String,
    /// Local address to bind; port 0 picks one. `0.0.0.0:5062` binds all
    /// interfaces and names the one facing the Box in our Contact.
    pub bind: SocketAddr,
    /// Registration lifetime to ask for (the Box decides).
    pub expires: u32,
    /// Other sources whose SIP requests are accepted besides the Box's IP.
    pub trusted: Vec<IpAddr>,
}

impl PhoneConfig {
    /// The Box at `fritzbox`, this account; all interfaces on port 5062,
    /// 300 s asked for.
    pub fn new(fritzbox: &str, user: &str, password: &str) -> PhoneConfig {
        PhoneConfig {
            fritzbox: fritzbox.to_owned(),
            user: user.to_owned(),
            password: password.to_owned(),
            bind: SocketAddr::from(([0, 0, 0, 0], 5062)),
            expires: 300,
            trusted: Vec::new(),
        }
    }
}

/// What can go wrong for the phone as a whole.
#[derive(Debug, thiserror::Error)]
pub enum PhoneError {
    /// `fritzbox` is not `HOST[:PORT]`.
    #[error("bad FRITZ!Box address {0:?}: expected HOST[:PORT]")]
    BadAddress(String),
    /// A user name the Box would not take (and that must not reach the wire).
    #[error("bad user name {0:?}: the FRITZ!Box allows 1 to 64 letters, digits, '-', '.' and '_'")]
    BadUser(String),
    /// The Box's name did not resolve.
    #[error("cannot resolve {host}: {source} (is the name right? try the Box's IP address)")]
    Resolve {
        /// The name as given.
        host: String,
        /// Why.
        source: std::io::Error,
    },
    /// The local address is taken or not ours.
    #[error("cannot bind {addr}: {source} (is another phone or minisip4fb using that port?)")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// No interface leads to the Box.
    #[error("no route to the FRITZ!Box at {addr}: {source}")]
    NoRoute {
        /// The Box's address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The Box refused the registration for good (e.g. a wrong password).
    #[error(transparent)]
    Registration(#[from] RegistrationError),
    /// The phone's thread has ended.
    #[error("the phone's driver has stopped")]
    Stopped,
    /// A command on a call failed.
    #[error(transparent)]
    Call(#[from] CallError),
    /// The phone's thread (or its wake-up socket pair) could not be made.
    #[error("cannot start the phone's thread: {0}")]
    Runtime(std::io::Error),
}

/// A command on a call that could not be carried out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// Not possible in the call's state (e.g. answering an ended call).
    #[error(transparent)]
    Command(#[from] CommandError),
    /// The call ended meanwhile, so.
    #[error("the call ended ({0:?})")]
    Ended(Outcome),
    /// The phone's thread has ended.
    #[error("the phone's driver has stopped")]
    Stopped,
    /// The call carries no audio: answered without it, or the Box offered
    /// no G.711 at a usable address.
    #[error(
        "the call has no audio (answer it with answer_with; the FRITZ!Box must offer PCMA or PCMU)"
    )]
    NoMedia,
}

/// Ways to decline a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reject {
    /// 486 Busy Here.
    Busy,
    /// 480 Temporarily Unavailable.
    Unavailable,
    /// 603 Decline.
    Decline,
}

impl Reject {
    /// The SIP status code sent.
    pub fn status(self) -> u16 {
        match self {
            Reject::Busy => 486,
            Reject::Unavailable => 480,
            Reject::Decline => 603,
        }
    }
}

/// What to do with a new call, decided inline by a [`Screen`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Hand the call to [`Phone::next_call`] (100 Trying now).
    Defer,
    /// 180 Ringing: the call rings on the other phones.
    Ring,
    /// Only the 100 Trying: the other phones ring, this one stays silent.
    Silent,
    /// Answer and hang up at once: every other phone stops ringing.
    Terminate,
    /// Decline, after ringing for `after` (zero: at once).
    Reject {
        /// With which status.
        how: Reject,
        /// How long to ring first (a quick 486 makes the Box drop the
        /// FRITZ!Fon app from the ring group; FRITZBOX.md).
        after: Duration,
    },
    /// Answer with audio, run the script (say an announcement, listen for
    /// keys), then hang up; [`Screen::script_ended`] tells how it went.
    Script(Arc<Script>),
}

/// Decides about calls on the thread that answers SIP, as each INVITE
/// arrives. It must never block or do I/O: hand slow work (logs,
/// databases, notifications) to another thread through a bounded queue.
/// A closure `FnMut(&CallerId) -> Verdict` is a screen.
pub trait Screen: Send + 'static {
    /// A new call; `now` is when its INVITE arrived.
    fn screen(&mut self, call: CallId, caller: &CallerId, now: Instant) -> Verdict;
    /// Our 200 OK was acknowledged.
    fn answered(&mut self, _call: CallId, _now: Instant) {}
    /// A call ended (screened or deferred).
    fn ended(&mut self, _call: CallId, _outcome: Outcome, _now: Instant) {}
    /// An INVITE was refused with 486: [`minisip4fb_proto::agent::MAX_CALLS`] calls
    /// were in progress.
    fn refused(&mut self, _caller: &CallerId) {}
    /// A [`Verdict::Script`] is done (the hang-up follows); not called
    /// when the call ended first.
    fn script_ended(&mut self, _call: CallId, _end: &ScriptEnd, _now: Instant) {}
    /// The driver's turn is over: its datagrams are sent. The place to
    /// wake other threads, so that waking them never delays an answer.
    /// Returns when it wants this call again (e.g. to hand over what it
    /// gathered in one go), and the driver wakes then.
    fn turn_done(&mut self, _now: Instant) -> Option<Instant> {
        None
    }
}

impl<F> Screen for F
where
    F: FnMut(&CallerId) -> Verdict + Send + 'static,
{
    fn screen(&mut self, _call: CallId, caller: &CallerId, _now: Instant) -> Verdict {
        self(caller)
    }
}

/// How long [`Phone::shutdown`] lets calls in progress finish (the BYE of
/// an answered call and its 200) before unregistering.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// The registration as last reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Registration {
    /// Not registered yet: the first REGISTER is on its way.
    Connecting,
    /// Registered; refreshed before it runs out.
    Registered {
        /// The lifetime the Box granted.
        expires: Duration,
    },
    /// The last attempt failed.
    Failed {
        /// Why.
        reason: RegistrationError,
        /// When the next attempt goes out; `None`: never (a wrong password).
        retry_in: Option<Duration>,
    },
    /// Unregistered on shutdown.
    Unregistered,
}

/// The life of a call as the application sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallStatus {
    /// Not answered yet (180 sent, or only the 100).
    Ringing,
    /// Our 200 OK was acknowledged.
    Answered,
    /// Over, and how.
    Ended(Outcome),
}

/// A call's media as the application gets it: the task's handle and the
/// keys it hears.
type MediaParts = (MediaHandle, mpsc::Receiver<char>);

enum Command {
    Ring(CallId),
    Answer(CallId),
    /// Answer with audio; the media (or `None`: none negotiated) goes back.
    AnswerMedia(CallId, oneshot::Sender<Option<MediaParts>>),
    /// A script's end, from the media thread: tell the screen, hang up.
    ScriptDone(CallId, ScriptEnd),
    Reject(CallId, u16, Option<Duration>),
    HangUp(CallId),
    /// End the calls in progress, then unregister.
    Shutdown,
    /// End the driver.
    Stop,
}

type Request = (Command, oneshot::Sender<Result<(), CommandError>>);

/// The way into the driver's thread: a command, then a byte on a socket
/// pair that wakes its `poll`. Cheap to clone.
#[derive(Clone)]
struct Commands {
    queue: std::sync::mpsc::Sender<Request>,
    wake: Arc<UnixDatagram>,
}

impl Commands {
    fn send(&self, r: Request) -> Result<(), ()> {
        self.queue.send(r).map_err(drop)?;
        // A full wake buffer means a wake-up is pending anyway.
        let _ = self.wake.send(&[1]);
        Ok(())
    }
}

/// A registered IP phone at the FRITZ!Box. Registration refresh, re-
/// registration after an outage, OPTIONS keepalives and retransmissions
/// all run by themselves in a background task.
pub struct Phone {
    commands: Commands,
    calls: mpsc::UnboundedReceiver<IncomingCall>,
    events: broadcast::Sender<Event>,
    registration: watch::Receiver<Registration>,
    contact: SocketAddr,
    registrar: SocketAddr,
    /// Fires when the driver thread has stopped.
    done: Option<oneshot::Receiver<()>>,
}

impl Drop for Phone {
    /// Stops the driver thread (without unregistering; see [`Phone::shutdown`]).
    fn drop(&mut self) {
        let (tx, _) = oneshot::channel();
        let _ = self.commands.send((Command::Stop, tx));
    }
}

impl Phone {
    /// Starts the phone and waits for the first successful registration.
    /// Transient failures (no answer, Box rebooting) are retried with
    /// backoff; wrong credentials end it with an error.
    pub async fn connect(config: PhoneConfig) -> Result<Phone, PhoneError> {
        let phone = Phone::start(config).await?;
        phone.wait_registered().await?;
        Ok(phone)
    }

    /// Binds, starts the driver and begins registering; returns at once.
    /// Every call goes to [`Phone::next_call`].
    pub async fn start(config: PhoneConfig) -> Result<Phone, PhoneError> {
        Phone::start_with(config, |_: &CallerId| Verdict::Defer).await
    }

    /// Like [`Phone::start`], with `screen` deciding each call inline.
    pub async fn start_with(config: PhoneConfig, screen: impl Screen) -> Result<Phone, PhoneError> {
        // The user name goes into every From, To and Contact: a CR LF in it
        // would be extra headers. The Box allows only these (FRITZBOX.md).
        if !valid_user(&config.user) {
            return Err(PhoneError::BadUser(config.user.clone()));
        }
        let (host, port) = split_host_port(&config.fritzbox)?;
        let registrar = tokio::net::lookup_host((host.as_str(), port))
            .await
            .map_err(|source| PhoneError::Resolve {
                host: host.clone(),
                source,
            })?
            .find(|a| a.is_ipv4() == config.bind.is_ipv4() || config.bind.ip().is_unspecified())
            .ok_or_else(|| PhoneError::Resolve {
                host: host.clone(),
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "no address of a usable family",
                ),
            })?;
        let bind = config.bind;
        let socket = std::net::UdpSocket::bind(bind)
            .and_then(|s| s.set_nonblocking(true).map(|()| s))
            .map_err(|source| PhoneError::Bind { addr: bind, source })?;
        let local = socket
            .local_addr()
            .map_err(|source| PhoneError::Bind { addr: bind, source })?;
        let contact = if local.ip().is_unspecified() {
            SocketAddr::new(route_to(registrar)?, local.port())
        } else {
            local
        };
        let mut cfg = Config::new(registrar, &config.user, &config.password, contact);
        cfg.domain = match host.parse::<IpAddr>() {
            Ok(ip) => Host::Ip(ip),
            Err(_) => {
                Host::parse(&host).map_err(|_| PhoneError::BadAddress(config.fritzbox.clone()))?
            }
        };
        cfg.domain_port = (port != 5060).then_some(port);
        cfg.expires = config.expires;
        cfg.trusted = config.trusted.clone();
        Phone::spawn(socket, cfg, Box::new(screen))
    }

    /// Starts the driver on a thread of its own, a plain `poll` loop on
    /// the socket (no runtime): whatever the application's runtime is busy
    /// with, the thread that answers SIP does nothing else, and a call
    /// wakes it straight into the agent.
    fn spawn(socket: UdpSocket, cfg: Config, screen: Box<dyn Screen>) -> Result<Phone, PhoneError> {
        let (wake, woken) = UnixDatagram::pair().map_err(PhoneError::Runtime)?;
        for s in [&wake, &woken] {
            s.set_nonblocking(true).map_err(PhoneError::Runtime)?;
        }
        let (queue, cmd_rx) = std::sync::mpsc::channel();
        let commands = Commands {
            queue,
            wake: Arc::new(wake),
        };
        let (calls_tx, calls) = mpsc::unbounded_channel();
        let (events, _) = broadcast::channel(256);
        let (reg_tx, registration) = watch::channel(Registration::Connecting);
        let (contact, registrar) = (cfg.contact, cfg.registrar);
        let driver = Driver {
            agent: Agent::new(cfg, Instant::now()),
            socket,
            commands: commands.clone(),
            calls: calls_tx,
            events: events.clone(),
            registration: reg_tx,
            statuses: HashMap::new(),
            screen,
            stopping: None,
            later: Vec::new(),
            media: HashMap::new(),
        };
        let (done_tx, done) = oneshot::channel();
        std::thread::Builder::new()
            .name("minisip4fb-sip".into())
            .spawn(move || {
                // The driver, and with it the screen, is dropped when run
                // returns: only then is the phone's last word out.
                driver.run(&cmd_rx, &woken);
                let _ = done_tx.send(());
            })
            .map_err(PhoneError::Runtime)?;
        Ok(Phone {
            commands,
            calls,
            events,
            registration,
            contact,
            registrar,
            done: Some(done),
        })
    }

    /// Waits until the Box holds our binding, or registration has failed
    /// for good (wrong user or password).
    pub async fn wait_registered(&self) -> Result<Duration, PhoneError> {
        let mut rx = self.registration.clone();
        loop {
            match &*rx.borrow_and_update() {
                Registration::Registered { expires } => return Ok(*expires),
                Registration::Failed {
                    reason,
                    retry_in: None,
                } => return Err(reason.clone().into()),
                _ => {}
            }
            rx.changed().await.map_err(|_| PhoneError::Stopped)?;
        }
    }

    /// The next incoming call; `None` once the phone has stopped.
    pub async fn next_call(&mut self) -> Option<IncomingCall> {
        self.calls.recv().await
    }

    /// Every event of the agent (registration changes, calls), for logging.
    pub fn events(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    /// The registration as last reported.
    pub fn registration(&self) -> Registration {
        self.registration.borrow().clone()
    }

    /// Watches the registration state.
    pub fn registration_updates(&self) -> watch::Receiver<Registration> {
        self.registration.clone()
    }

    /// The address the Box calls us at (our Contact).
    pub fn contact(&self) -> SocketAddr {
        self.contact
    }

    /// The Box's address as resolved.
    pub fn registrar(&self) -> SocketAddr {
        self.registrar
    }

    /// Stops the phone gracefully: ringing calls get 480 (the other phones
    /// ring on), answered calls their BYE, for at most [`SHUTDOWN_GRACE`];
    /// then unregisters (waiting at most 5 s for the Box) and stops the
    /// driver.
    pub async fn shutdown(mut self) -> Result<(), PhoneError> {
        let (tx, rx) = oneshot::channel();
        if self.commands.send((Command::Shutdown, tx)).is_ok() && rx.await.is_ok() {
            let mut reg = self.registration.clone();
            let done = async {
                while *reg.borrow_and_update() != Registration::Unregistered {
                    if reg.changed().await.is_err() {
                        break;
                    }
                }
            };
            if tokio::time::timeout(SHUTDOWN_GRACE + Duration::from_secs(5), done)
                .await
                .is_err()
            {
                tracing::warn!("the FRITZ!Box did not confirm the unregistration within 5 s");
            }
        }
        let (tx, _) = oneshot::channel();
        if self.commands.send((Command::Stop, tx)).is_ok()
            && let Some(done) = self.done.take()
        {
            let _ = tokio::time::timeout(Duration::from_secs(1), done).await;
        }
        Ok(())
    }
}

/// One incoming call, handed out by [`Phone::next_call`].
pub struct IncomingCall {
    id: CallId,
    caller: CallerId,
    received: Instant,
    commands: Commands,
    status: watch::Receiver<CallStatus>,
    /// Set by [`IncomingCall::answer_with`].
    media: std::sync::Mutex<Option<MediaHandle>>,
    digits: tokio::sync::Mutex<Option<mpsc::Receiver<char>>>,
}

impl IncomingCall {
    /// The call's id, as in [`Screen`] notes and events.
    pub fn id(&self) -> CallId {
        self.id
    }

    /// Who calls: number, display name, which household number.
    pub fn caller(&self) -> &CallerId {
        &self.caller
    }

    /// When the INVITE arrived.
    pub fn received_at(&self) -> Instant {
        self.received
    }

    /// Where the call is now.
    pub fn status(&self) -> CallStatus {
        self.status.borrow().clone()
    }

    async fn command(&self, c: Command) -> Result<(), CallError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send((c, tx))
            .map_err(|_| CallError::Stopped)?;
        rx.await
            .map_err(|_| CallError::Stopped)?
            .map_err(CallError::from)
    }

    /// Sends 180 Ringing: the call keeps ringing on the other phones.
    pub async fn ring(&self) -> Result<(), CallError> {
        self.command(Command::Ring(self.id)).await
    }

    /// Answers (200 OK) and waits for the Box's ACK. No audio flows: for
    /// that, [`IncomingCall::answer_with`].
    pub async fn answer(&self) -> Result<(), CallError> {
        self.command(Command::Answer(self.id)).await?;
        self.answered().await
    }

    /// Answers with audio both ways (PCMA or PCMU as the Box offers, RTP
    /// from a socket of this call's own) and waits for the ACK; then plays
    /// `prompt`, if any, to its end. Keys the caller presses from now on
    /// come from [`IncomingCall::next_digit`]. Without G.711 in the Box's
    /// offer the call is answered without audio and this says
    /// [`CallError::NoMedia`].
    pub async fn answer_with(&self, prompt: Option<&Announcement>) -> Result<(), CallError> {
        let (tx, rx) = oneshot::channel();
        self.command(Command::AnswerMedia(self.id, tx)).await?;
        let media = rx.await.map_err(|_| CallError::Stopped)?;
        let has_media = media.is_some();
        if let Some((handle, digits)) = media {
            *self.media.lock().unwrap_or_else(|p| p.into_inner()) = Some(handle);
            *self.digits.lock().await = Some(digits);
        }
        self.answered().await?;
        match prompt {
            Some(p) => self.play_answered(p).await,
            None if has_media => Ok(()),
            None => Err(CallError::NoMedia),
        }
    }

    /// Plays `a` to its end (RTP, paced 20 ms a frame); answers with audio
    /// first if the call still rings. Plays queue up.
    pub async fn play(&self, a: &Announcement) -> Result<(), CallError> {
        if self.status() == CallStatus::Ringing {
            return self.answer_with(Some(a)).await;
        }
        self.play_answered(a).await
    }

    async fn play_answered(&self, a: &Announcement) -> Result<(), CallError> {
        let handle = self.media.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let handle = handle.ok_or(CallError::NoMedia)?;
        if handle.play(a.clone()).await {
            Ok(())
        } else {
            Err(CallError::Ended(self.ended().await))
        }
    }

    /// The next key the caller pressed (RFC 4733 in RTP or SIP INFO):
    /// `0`–`9`, `*`, `#`, `A`–`D`; `None` once the call is over (or has
    /// no audio).
    pub async fn next_digit(&self) -> Option<char> {
        self.digits.lock().await.as_mut()?.recv().await
    }

    /// Keys until `#` (not included), 32 keys, or `timeout` without a key;
    /// `None` once the call is over.
    pub async fn read_digits(&self, timeout: Duration) -> Option<String> {
        let mut digits = self.digits.lock().await;
        crate::media::entry(digits.as_mut()?, timeout).await
    }

    /// What a [`Verdict::Script`] does, for a call decided here: answer
    /// with audio, play, listen, hang up. Returns how the script ended.
    pub async fn run(&self, script: &Script) -> Result<ScriptEnd, CallError> {
        let end = match self.answer_with(script.announcement.as_ref()).await {
            Err(CallError::NoMedia) => ScriptEnd::NoMedia,
            Err(e) => return Err(e),
            Ok(()) => match &script.collect {
                None => ScriptEnd::Played,
                Some(c) => {
                    let mut digits = self.digits.lock().await;
                    let digits = digits.as_mut().ok_or(CallError::NoMedia)?;
                    match crate::media::collect(digits, c).await {
                        Some(end) => end,
                        None => return Err(CallError::Ended(self.ended().await)),
                    }
                }
            },
        };
        // Wrong PINs and then a hang-up: nothing left to hang up.
        if !matches!(self.status(), CallStatus::Ended(_)) {
            self.hang_up().await?;
        }
        Ok(end)
    }

    async fn answered(&self) -> Result<(), CallError> {
        let mut st = self.status.clone();
        loop {
            match &*st.borrow_and_update() {
                CallStatus::Answered => return Ok(()),
                CallStatus::Ended(r) => return Err(CallError::Ended(*r)),
                CallStatus::Ringing => {}
            }
            st.changed().await.map_err(|_| CallError::Stopped)?;
        }
    }

    /// Hangs up and waits until the call is over: BYE when answered (after
    /// the ACK), 486 while still ringing.
    pub async fn hang_up(&self) -> Result<Outcome, CallError> {
        self.command(Command::HangUp(self.id)).await?;
        Ok(self.ended().await)
    }

    /// Answers and hangs up at once — the spam-call trick: every other
    /// phone stops ringing. Returns how the call ended.
    pub async fn terminate(&self) -> Result<Outcome, CallError> {
        self.command(Command::Answer(self.id)).await?;
        self.command(Command::HangUp(self.id)).await?;
        Ok(self.ended().await)
    }

    /// Declines at once. Other phones keep ringing.
    pub async fn reject(&self, how: Reject) -> Result<(), CallError> {
        self.command(Command::Reject(self.id, how.status(), None))
            .await
    }

    /// Rings for `delay`, then declines (FRITZBOX.md: a fast 486 drops the
    /// FRITZ!Fon app from the ring group; ~3 s avoids that).
    pub async fn reject_after(&self, how: Reject, delay: Duration) -> Result<(), CallError> {
        self.command(Command::Reject(self.id, how.status(), Some(delay)))
            .await
    }

    /// Waits until the call is over, however it ends.
    pub async fn ended(&self) -> Outcome {
        let mut st = self.status.clone();
        loop {
            if let CallStatus::Ended(r) = &*st.borrow_and_update() {
                return *r;
            }
            if st.changed().await.is_err() {
                return Outcome::ByeFailed(None);
            }
        }
    }
}

struct Driver {
    agent: Agent,
    socket: UdpSocket,
    commands: Commands,
    calls: mpsc::UnboundedSender<IncomingCall>,
    events: broadcast::Sender<Event>,
    registration: watch::Sender<Registration>,
    statuses: HashMap<CallId, watch::Sender<CallStatus>>,
    screen: Box<dyn Screen>,
    /// Shutting down: unregister once no call is active, or at this instant.
    stopping: Option<Instant>,
    /// Events of this turn, broadcast after its datagrams are sent.
    later: Vec<Event>,
    /// Calls answered with audio: their media task, and for a script the
    /// word that the ACK came.
    media: HashMap<CallId, (MediaHandle, Option<oneshot::Sender<()>>)>,
}

impl Driver {
    fn run(mut self, cmd_rx: &std::sync::mpsc::Receiver<Request>, woken: &UnixDatagram) {
        self.agent.register(Instant::now());
        let mut buf = vec![0u8; 65_535];
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
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    // ICMP port unreachable and the like: the retransmission timers cover it.
                    Err(e) => tracing::debug!("receive error: {e}"),
                }
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

    fn dispatch(&mut self, e: Event) {
        match &e {
            Event::Registered { expires } => {
                self.registration
                    .send_replace(Registration::Registered { expires: *expires });
            }
            Event::RegistrationFailed { reason, retry_in } => {
                self.registration.send_replace(Registration::Failed {
                    reason: reason.clone(),
                    retry_in: *retry_in,
                });
            }
            Event::Unregistered => {
                self.registration.send_replace(Registration::Unregistered);
            }
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

/// An IP phone's user name as the Box allows it: `[0-9A-Za-z-._]{1,64}`.
pub fn valid_user(user: &str) -> bool {
    (1..=64).contains(&user.len())
        && user
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b))
}

/// `HOST[:PORT]` with IPv6 literals bracketed or bare; port defaults to 5060.
pub fn split_host_port(s: &str) -> Result<(String, u16), PhoneError> {
    let bad = || PhoneError::BadAddress(s.to_owned());
    let s = s.trim().trim_start_matches("sip:");
    if s.is_empty() {
        return Err(bad());
    }
    if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or_else(bad)?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().map_err(|_| bad())?,
            None if after.is_empty() => 5060,
            None => return Err(bad()),
        };
        return Ok((host.to_owned(), port));
    }
    if s.parse::<std::net::Ipv6Addr>().is_ok() {
        return Ok((s.to_owned(), 5060));
    }
    match s.rsplit_once(':') {
        Some((h, p)) => Ok((h.to_owned(), p.parse().map_err(|_| bad())?)),
        None => Ok((s.to_owned(), 5060)),
    }
}

/// The local address the OS would use towards `dest`. A connected UDP
/// socket sends nothing; it only asks the routing table.
fn route_to(dest: SocketAddr) -> Result<IpAddr, PhoneError> {
    let any: SocketAddr = if dest.is_ipv4() {
        "0.0.0.0:0"
    } else {
        "[::]:0"
    }
    .parse()
    .expect("literal");
    let s = std::net::UdpSocket::bind(any)
        .map_err(|source| PhoneError::NoRoute { addr: dest, source })?;
    s.connect(dest)
        .map_err(|source| PhoneError::NoRoute { addr: dest, source })?;
    Ok(s.local_addr()
        .map_err(|source| PhoneError::NoRoute { addr: dest, source })?
        .ip())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_forms() {
        assert_eq!(
            split_host_port("fritz.box").unwrap(),
            ("fritz.box".into(), 5060)
        );
        assert_eq!(
            split_host_port("127.0.0.1:15060").unwrap(),
            ("127.0.0.1".into(), 15060)
        );
        assert_eq!(split_host_port("[::1]:5070").unwrap(), ("::1".into(), 5070));
        assert_eq!(
            split_host_port("fd00::1").unwrap(),
            ("fd00::1".into(), 5060)
        );
        assert!(split_host_port("host:port").is_err());
        assert!(valid_user("620") && valid_user("Home.Assistant_1-x"));
        assert!(!valid_user("620\r\nX-Evil: 1") && !valid_user("") && !valid_user("a b"));
        assert!(split_host_port("").is_err());
    }

    #[test]
    fn contact_of_an_unspecified_bind_is_the_routed_address() {
        assert_eq!(
            route_to("127.0.0.1:5060".parse().unwrap()).unwrap(),
            "127.0.0.1".parse::<IpAddr>().unwrap()
        );
    }
}
