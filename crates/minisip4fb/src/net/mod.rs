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
//!         Some("01701234567") => { call.reject(Reject::Unavailable).await?; }
//!         _ => { call.ring().await?; }
//!     }
//! }
//! phone.shutdown().await?;
//! # Ok(()) }
//! ```

mod addr;
pub mod blocking;
mod call;
mod driver;
mod follow;
mod warm;

use addr::{resolve, route_to};
pub use addr::{split_host_port, valid_user};
pub use call::IncomingCall;
use driver::{Command, Commands, Driver};
pub use follow::{Addresses, LOCAL_EVERY, RESOLVE_EVERY};

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use std::net::UdpSocket;
use std::os::unix::net::UnixDatagram;
use std::sync::Arc;

use tokio::sync::{broadcast, mpsc, oneshot, watch};

use crate::media::session::{self, MediaHandle};
use minisip4fb_proto::agent::{
    Agent, CommandError, Config, Event, Input, Output, RegistrationError,
};
use minisip4fb_proto::sip::{Host, StatusCode};

pub use crate::media::{Announcement, Collect, Keys, Script, ScriptEnd};
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
    /// The call is over (the caller may have hung up while it waited),
    /// and how it ended.
    #[error("the call is already over ({0})")]
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

/// How long a decline rings first at the FRITZ!Box: 180, held ~3 s, then
/// 480 is the one form tested with the FRITZ!Fon app (FRITZBOX.md).
pub const DECLINE_HOLD: Duration = Duration::from_secs(3);

/// Ways to decline a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reject {
    /// 486 Busy Here.
    Busy,
    /// 480 Temporarily Unavailable: the FRITZ!Box-safe decline.
    Unavailable,
    /// 603 Decline.
    Decline,
}

impl Reject {
    /// The SIP status code sent.
    pub fn status(self) -> StatusCode {
        match self {
            Reject::Busy => StatusCode::BUSY_HERE,
            Reject::Unavailable => StatusCode::TEMPORARILY_UNAVAILABLE,
            Reject::Decline => StatusCode::DECLINE,
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
    /// 180 Ringing now, and the call handed to [`Phone::next_call`] all
    /// the same: whoever takes it there may still end it while it rings
    /// (a slower check than the screen may make), or leave it ringing.
    RingAndHandOver,
    /// Only the 100 Trying: the other phones ring, this one stays silent.
    Silent,
    /// Answer and hang up at once: every other phone stops ringing.
    Terminate,
    /// Decline, after ringing for `after` (zero: at once).
    Reject {
        /// With which status.
        how: Reject,
        /// How long to ring first ([`DECLINE_HOLD`]: a quicker decline
        /// makes the Box drop the FRITZ!Fon app from the ring group).
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
    /// Nothing came back from the Box for a few seconds (the REGISTER's
    /// first resends): unreachable, or not a FRITZ!Box. The phone goes on
    /// trying.
    NoAnswer {
        /// Where the REGISTER goes.
        registrar: SocketAddr,
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

impl Registration {
    /// What is wrong; `None` while all is well or still starting.
    pub fn error(&self) -> Option<RegistrationError> {
        match self {
            Registration::NoAnswer { registrar } => Some(RegistrationError::Timeout(*registrar)),
            Registration::Failed { reason, .. } => Some(reason.clone()),
            _ => None,
        }
    }

    /// The state's name in JSON, MQTT and the metrics: `registered`,
    /// `no-answer`…
    pub fn name(&self) -> &'static str {
        match self {
            Registration::Connecting => "connecting",
            Registration::NoAnswer { .. } => "no-answer",
            Registration::Registered { .. } => "registered",
            Registration::Failed { .. } => "failed",
            Registration::Unregistered => "unregistered",
        }
    }

    /// [`Registration::error`] as a person can act on it.
    pub fn problem(&self) -> Option<String> {
        self.error().map(|e| e.to_string())
    }
}

/// A phone as the outlets watch it (the dashboard, MQTT, the metrics):
/// its account's name, where it registers, how that goes, and when the
/// Box last spoke to it.
#[derive(Clone)]
pub struct PhoneView {
    /// The account's name.
    pub account: String,
    /// `HOST[:PORT]` as configured.
    pub fritzbox: String,
    /// The IP phone's user name.
    pub user: String,
    /// Its registration, kept up to date.
    pub registration: watch::Receiver<Registration>,
    /// When its Box last spoke to it.
    pub heard: Heard,
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

/// When anything last came from the Box (its keepalives, answers,
/// calls): the one sign that it still holds us. Shared with the phone's
/// thread, which sets it after each turn's answer left.
#[derive(Debug, Clone, Default)]
pub struct Heard(Arc<std::sync::atomic::AtomicU64>);

impl Heard {
    /// Never, or when.
    pub fn get(&self) -> Option<std::time::SystemTime> {
        match self.0.load(std::sync::atomic::Ordering::Relaxed) {
            0 => None,
            ms => Some(std::time::UNIX_EPOCH + Duration::from_millis(ms)),
        }
    }

    pub(super) fn now(&self) {
        let ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        self.0.store(ms, std::sync::atomic::Ordering::Relaxed);
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
    /// The Box's address and ours (they follow the network, see [`follow`]).
    addresses: Addresses,
    heard: Heard,
    /// Fires when the driver thread has stopped.
    done: Option<oneshot::Receiver<()>>,
    /// Ends the following of the network.
    _follow: oneshot::Sender<()>,
}

impl Drop for Phone {
    /// Stops the driver thread (without unregistering; see [`Phone::shutdown`]).
    fn drop(&mut self) {
        let (tx, _) = oneshot::channel();
        let _ = self.commands.send((Command::Stop, tx));
    }
}

impl Phone {
    /// Starts the phone and waits for its first registration: an error,
    /// and the phone stopped, as soon as the Box refuses or has not
    /// answered for a few seconds ([`Registration::NoAnswer`]; the error
    /// says "no answer from …"). Once registered, every failure is retried
    /// with backoff for ever. To wait for a Box that may be down instead,
    /// [`Phone::start`] and [`Phone::wait_registered`].
    pub async fn connect(config: PhoneConfig) -> Result<Phone, PhoneError> {
        let phone = Phone::start(config).await?;
        match phone.first_registration().await {
            Ok(_) => Ok(phone),
            Err(e) => {
                let _ = phone.shutdown().await;
                Err(e)
            }
        }
    }

    /// The first answer to registering: the lifetime granted, or why not
    /// (refused, or no answer within the REGISTER's first resends: a few
    /// seconds, not a transaction's 32 s).
    pub async fn first_registration(&self) -> Result<Duration, PhoneError> {
        let mut rx = self.registration.clone();
        loop {
            let now = rx.borrow_and_update().clone();
            if let Registration::Registered { expires } = now {
                return Ok(expires);
            }
            if let Some(e) = now.error() {
                return Err(e.into());
            }
            rx.changed().await.map_err(|_| PhoneError::Stopped)?;
        }
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
        // The socket's family decides: `fritz.box` often resolves to an
        // IPv6 ULA first, which a socket bound to 0.0.0.0 cannot reach.
        let v4 = config.bind.is_ipv4();
        let registrar = resolve(&host, port, v4).await?[0];
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
        let follow = follow::Follow {
            name: host.parse::<IpAddr>().is_err().then_some((host, port)),
            local: local.ip().is_unspecified(),
            v4,
        };
        Phone::spawn(socket, cfg, Box::new(screen), follow)
    }

    /// Starts the driver on a thread of its own, a plain `poll` loop on
    /// the socket (no runtime): whatever the application's runtime is busy
    /// with, the thread that answers SIP does nothing else, and a call
    /// wakes it straight into the agent.
    fn spawn(
        socket: UdpSocket,
        cfg: Config,
        screen: Box<dyn Screen>,
        follow: follow::Follow,
    ) -> Result<Phone, PhoneError> {
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
        let (addresses_tx, addresses) = watch::channel((cfg.registrar, cfg.contact));
        let heard = Heard::default();
        let driver = Driver {
            heard: heard.clone(),
            quiet: false,
            agent: Agent::new(cfg, Instant::now()),
            socket,
            commands: commands.clone(),
            calls: calls_tx,
            events: events.clone(),
            registration: reg_tx,
            statuses: Default::default(),
            screen,
            stopping: None,
            later: Vec::new(),
            media: Default::default(),
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
        let (stop_following, stop) = oneshot::channel();
        tokio::spawn(follow.run(
            commands.clone(),
            registration.clone(),
            events.subscribe(),
            addresses_tx,
            stop,
        ));
        Ok(Phone {
            commands,
            calls,
            events,
            registration,
            addresses,
            heard,
            done: Some(done),
            _follow: stop_following,
        })
    }

    /// Waits until the Box holds our binding, through every transient
    /// failure (no answer, a Box rebooting: retried with backoff), or until
    /// registration has failed for good (wrong user or password).
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

    /// The address the Box calls us at (our Contact), as of now.
    pub fn contact(&self) -> SocketAddr {
        self.addresses.borrow().1
    }

    /// The Box's address as resolved, as of now.
    pub fn registrar(&self) -> SocketAddr {
        self.addresses.borrow().0
    }

    /// The Box's address and ours, to watch them change.
    pub fn addresses(&self) -> Addresses {
        self.addresses.clone()
    }

    /// When anything last came from the Box (kept up to date).
    pub fn heard(&self) -> Heard {
        self.heard.clone()
    }

    /// This phone as the outlets watch it, for `config` named `account`.
    pub fn view(&self, account: &str, config: &PhoneConfig) -> PhoneView {
        PhoneView {
            account: account.to_owned(),
            fritzbox: config.fritzbox.clone(),
            user: config.user.clone(),
            registration: self.registration.clone(),
            heard: self.heard.clone(),
        }
    }

    /// The next incoming call, polled: for an application that waits on
    /// several phones at once.
    pub fn poll_next_call(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<IncomingCall>> {
        self.calls.poll_recv(cx)
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
