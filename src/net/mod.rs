//! The driver: a tokio UDP socket and a timer feeding the sans-IO
//! [`Agent`], and the public async API built on it.
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

use tokio::net::UdpSocket;
use tokio::sync::{broadcast, mpsc, oneshot, watch};

use crate::agent::{
    Agent, CallId, CallerId, CommandError, Config, EndReason, Event, Input, Output,
    RegistrationError,
};
use crate::sip::Host;

/// How to reach the FRITZ!Box and who we are there.
#[derive(Debug, Clone)]
pub struct PhoneConfig {
    /// `HOST[:PORT]` of the Box's SIP registrar: `fritz.box`, `192.168.178.1`, `[fd00::1]:5060`.
    pub fritzbox: String,
    pub user: String,
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
    #[error("bad FRITZ!Box address {0:?}: expected HOST[:PORT]")]
    BadAddress(String),
    #[error("cannot resolve {host}: {source} (is the name right? try the Box's IP address)")]
    Resolve {
        host: String,
        source: std::io::Error,
    },
    #[error("cannot bind {addr}: {source} (is another phone or minisip4fb using that port?)")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("no route to the FRITZ!Box at {addr}: {source}")]
    NoRoute {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Registration(#[from] RegistrationError),
    #[error("the phone's driver has stopped")]
    Stopped,
    #[error(transparent)]
    Call(#[from] CallError),
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
}

/// A command on a call that could not be carried out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    #[error(transparent)]
    Command(#[from] CommandError),
    #[error("the call ended ({0:?})")]
    Ended(EndReason),
    #[error("the phone's driver has stopped")]
    Stopped,
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
    pub fn status(self) -> u16 {
        match self {
            Reject::Busy => 486,
            Reject::Unavailable => 480,
            Reject::Decline => 603,
        }
    }
}

/// The registration as last reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Registration {
    Connecting,
    Registered {
        expires: Duration,
    },
    Failed {
        reason: RegistrationError,
        retry_in: Option<Duration>,
    },
    Unregistered,
}

/// The life of a call as the application sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallStatus {
    Ringing,
    Answered,
    Ended(EndReason),
}

enum Command {
    Ring(CallId),
    Answer(CallId),
    Reject(CallId, u16, Option<Duration>),
    HangUp(CallId),
    Unregister,
}

type Request = (Command, oneshot::Sender<Result<(), CommandError>>);

/// A registered IP phone at the FRITZ!Box. Registration refresh, re-
/// registration after an outage, OPTIONS keepalives and retransmissions
/// all run by themselves in a background task.
pub struct Phone {
    commands: mpsc::UnboundedSender<Request>,
    calls: mpsc::UnboundedReceiver<IncomingCall>,
    events: broadcast::Sender<Event>,
    registration: watch::Receiver<Registration>,
    contact: SocketAddr,
    registrar: SocketAddr,
    task: tokio::task::JoinHandle<()>,
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
    pub async fn start(config: PhoneConfig) -> Result<Phone, PhoneError> {
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
        let socket = UdpSocket::bind(bind)
            .await
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
        Ok(Phone::spawn(socket, cfg))
    }

    fn spawn(socket: UdpSocket, cfg: Config) -> Phone {
        let (commands, cmd_rx) = mpsc::unbounded_channel();
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
        };
        let task = tokio::spawn(driver.run(cmd_rx));
        Phone {
            commands,
            calls,
            events,
            registration,
            contact,
            registrar,
            task,
        }
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

    pub fn registrar(&self) -> SocketAddr {
        self.registrar
    }

    /// Unregisters (waiting at most 5 s for the Box) and stops the driver.
    pub async fn shutdown(self) -> Result<(), PhoneError> {
        let (tx, rx) = oneshot::channel();
        if self.commands.send((Command::Unregister, tx)).is_ok() && rx.await.is_ok() {
            let mut reg = self.registration.clone();
            let done = async {
                while *reg.borrow_and_update() != Registration::Unregistered {
                    if reg.changed().await.is_err() {
                        break;
                    }
                }
            };
            if tokio::time::timeout(Duration::from_secs(5), done)
                .await
                .is_err()
            {
                tracing::warn!("the FRITZ!Box did not confirm the unregistration within 5 s");
            }
        }
        self.task.abort();
        Ok(())
    }
}

/// One incoming call, handed out by [`Phone::next_call`].
pub struct IncomingCall {
    id: CallId,
    caller: CallerId,
    received: Instant,
    commands: mpsc::UnboundedSender<Request>,
    status: watch::Receiver<CallStatus>,
}

impl IncomingCall {
    pub fn id(&self) -> CallId {
        self.id
    }

    pub fn caller(&self) -> &CallerId {
        &self.caller
    }

    /// When the INVITE arrived.
    pub fn received_at(&self) -> Instant {
        self.received
    }

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

    /// Answers (200 OK) and waits for the Box's ACK.
    pub async fn answer(&self) -> Result<(), CallError> {
        self.command(Command::Answer(self.id)).await?;
        let mut st = self.status.clone();
        loop {
            match &*st.borrow_and_update() {
                CallStatus::Answered => return Ok(()),
                CallStatus::Ended(r) => return Err(CallError::Ended(r.clone())),
                CallStatus::Ringing => {}
            }
            st.changed().await.map_err(|_| CallError::Stopped)?;
        }
    }

    /// Hangs up and waits until the call is over: BYE when answered (after
    /// the ACK), 486 while still ringing.
    pub async fn hang_up(&self) -> Result<EndReason, CallError> {
        self.command(Command::HangUp(self.id)).await?;
        Ok(self.ended().await)
    }

    /// Answers and hangs up at once — the spam-call trick: every other
    /// phone stops ringing. Returns how the call ended.
    pub async fn terminate(&self) -> Result<EndReason, CallError> {
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
    pub async fn ended(&self) -> EndReason {
        let mut st = self.status.clone();
        loop {
            if let CallStatus::Ended(r) = &*st.borrow_and_update() {
                return r.clone();
            }
            if st.changed().await.is_err() {
                return EndReason::ByeFailed(None);
            }
        }
    }
}

struct Driver {
    agent: Agent,
    socket: UdpSocket,
    commands: mpsc::UnboundedSender<Request>,
    calls: mpsc::UnboundedSender<IncomingCall>,
    events: broadcast::Sender<Event>,
    registration: watch::Sender<Registration>,
    statuses: HashMap<CallId, watch::Sender<CallStatus>>,
}

impl Driver {
    async fn run(mut self, mut cmd_rx: mpsc::UnboundedReceiver<Request>) {
        self.agent.register(Instant::now());
        let mut buf = vec![0u8; 65_535];
        loop {
            let deadline = self.flush().await;
            tokio::select! {
                r = self.socket.recv_from(&mut buf) => match r {
                    Ok((n, from)) => self.agent.handle_input(Input::Receive { now: Instant::now(), from, data: &buf[..n] }),
                    // ICMP port unreachable and the like: the retransmission timers cover it.
                    Err(e) => tracing::debug!("receive error: {e}"),
                },
                _ = tokio::time::sleep_until(deadline.into()) => self.agent.handle_input(Input::Timeout(Instant::now())),
                cmd = cmd_rx.recv() => match cmd {
                    Some((c, reply)) => {
                        let r = self.apply(c);
                        let _ = reply.send(r);
                    }
                    None => return,
                },
            }
        }
    }

    fn apply(&mut self, c: Command) -> Result<(), CommandError> {
        let now = Instant::now();
        match c {
            Command::Ring(id) => self.agent.ring(now, id),
            Command::Answer(id) => self.agent.answer(now, id),
            Command::Reject(id, status, delay) => self.agent.reject(now, id, status, delay),
            Command::HangUp(id) => self.agent.hang_up(now, id),
            Command::Unregister => {
                self.agent.unregister(now);
                Ok(())
            }
        }
    }

    /// Sends what the agent produced, hands out events; returns the deadline.
    async fn flush(&mut self) -> Instant {
        loop {
            match self.agent.poll_output() {
                Output::Transmit { to, data } => {
                    if let Err(e) = self.socket.send_to(&data, to).await {
                        tracing::warn!("cannot send to {to}: {e}");
                    }
                }
                Output::Event(e) => self.dispatch(e),
                Output::Timeout(t) => return t,
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
                let (tx, rx) = watch::channel(CallStatus::Ringing);
                self.statuses.insert(*call, tx);
                let _ = self.calls.send(IncomingCall {
                    id: *call,
                    caller: caller.clone(),
                    received: Instant::now(),
                    commands: self.commands.clone(),
                    status: rx,
                });
            }
            Event::CallAnswered { call } => {
                if let Some(s) = self.statuses.get(call) {
                    s.send_replace(CallStatus::Answered);
                }
            }
            Event::CallEnded { call, reason } => {
                if let Some(s) = self.statuses.remove(call) {
                    s.send_replace(CallStatus::Ended(reason.clone()));
                }
            }
        }
        let _ = self.events.send(e);
    }
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
