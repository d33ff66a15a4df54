//! A FRITZ!Box stand-in for demos and tests (FRITZBOX.md): a strict
//! registrar with the Box's digest challenge and its own expiry, a caller
//! that rings the registered phone as the Box does, and faults on demand
//! (reboot, packet loss, slow responses).
//!
//! Built on [`minisip4fb_proto::sip`] only, never on the agent, so that a bug in the
//! phone is not mirrored by the same bug in its peer. Every message the
//! phone sends is checked against RFC 3261 basics; violations are reported.

mod caller;
mod http;
pub mod media;
mod monitor;
pub mod phoneblock;
mod registrar;
mod report;
pub use report::Report;
pub mod tr064;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tokio::net::UdpSocket;
use tokio::sync::{broadcast, mpsc, oneshot};

pub use caller::{CallOutcome, CallReport, CallSpec, Caller, Keys};
pub use media::Clip;
pub use media::MediaReport;

use minisip4fb_proto::sip::{self, Message};

/// RFC 3261 timer values the emulator uses for its own retransmissions.
const T1: Duration = Duration::from_millis(500);
const T2: Duration = Duration::from_secs(4);
const TIMEOUT: Duration = Duration::from_secs(32);

/// How the emulated Box behaves.
#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    /// Where its SIP registrar listens (loopback by default).
    pub bind: SocketAddr,
    /// IP-phone accounts: user name and password.
    pub accounts: Vec<(String, String)>,
    /// The longest lifetime it grants (the Box decides: 300 or 600 s seen,
    /// chosen by the seed by default); a phone asking less gets less.
    pub expires: u32,
    /// Challenge with qop=auth (RFC 7616) instead of the Box's plain form.
    pub qop: bool,
    /// Nonces older than this are refused with `stale=true`.
    pub nonce_lifetime: Option<Duration>,
    /// Send OPTIONS keepalives to registered phones this often; a phone
    /// that leaves one unanswered until the next loses its binding.
    pub options_interval: Option<Duration>,
    /// How often (0.0–1.0) a refresh with an already used nonce is
    /// challenged again (FRITZBOX.md: every refresh may be).
    pub rechallenge: f64,
    /// How often (0.0–1.0) a request the phone sends in a dialog (its BYE)
    /// is challenged with 401 like a REGISTER (FRITZBOX.md).
    pub challenge_requests: f64,
    /// A 486/480 sooner than this after the phone's 180 is a violation:
    /// it drops the FRITZ!Fon app from the ring group (FRITZBOX.md).
    pub min_decline_after_ringing: Duration,
    /// The Box's phonebooks: name and (name, number) contacts. A caller
    /// found here gets the contact's name as display name.
    pub phonebooks: Vec<(String, Vec<(String, String)>)>,
    /// Seed for nonces, tags and packet loss.
    pub seed: u64,
    /// Also serve TR-064 (HTTP) like the Box's port 49000.
    pub tr064: Option<tr064::Tr064Config>,
    /// Also serve the call monitor (TCP) like the Box's port 1012.
    pub call_monitor: Option<SocketAddr>,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        let seed: u64 = rand::random();
        EmulatorConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], 5060)),
            accounts: vec![("620".into(), "geheim123".into())],
            expires: if seed & 1 == 0 { 300 } else { 600 },
            qop: false,
            nonce_lifetime: None,
            options_interval: Some(Duration::from_secs(60)),
            rechallenge: 0.3,
            challenge_requests: 0.3,
            min_decline_after_ringing: Duration::from_secs(3),
            phonebooks: vec![(
                "Telefonbuch".into(),
                vec![("Oma".into(), "030 1234567".into())],
            )],
            seed,
            tr064: None,
            call_monitor: None,
        }
    }
}

/// An IP phone the Box knows (its credentials are the registrar's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpPhone {
    pub username: String,
    pub password: String,
    pub name: String,
    pub incoming: String,
    pub internal: String,
}

/// A phonebook or call-barring entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    pub uid: u32,
    pub name: String,
    pub number: String,
}

/// A line of the Box's call list (FRITZBOX.md: Type 1 in, 2 missed, 10 rejected).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedCall {
    pub kind: u8,
    pub caller: String,
    pub name: String,
    pub called: String,
    pub date: String,
    pub seconds: u64,
}

/// The Box keeps at most this many IP phones (internal numbers 620–629).
pub const MAX_IP_PHONES: usize = 10;

/// What the Box keeps, shared by its SIP and TR-064 faces: a phone set up
/// over TR-064 can register at once, a phonebook entry names the next
/// call, a barred number never rings.
#[derive(Debug, Default)]
pub(crate) struct Store {
    pub phones: Vec<IpPhone>,
    pub books: Vec<(String, Vec<Contact>)>,
    pub barring: Vec<Contact>,
    pub call_list: Vec<ListedCall>,
    /// What the calls' audio ends found wrong with the phone's RTP.
    pub media_violations: Vec<String>,
    next_uid: u32,
}

/// The [`Store`] as both faces hold it.
#[derive(Debug, Clone)]
pub(crate) struct Shared(Arc<Mutex<Store>>);

impl Shared {
    /// Runs `f` on the store (a panic elsewhere does not lock it for good).
    pub fn with<T>(&self, f: impl FnOnce(&mut Store) -> T) -> T {
        f(&mut self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

impl Store {
    fn new(cfg: &EmulatorConfig) -> Store {
        let mut s = Store::default();
        for (i, (user, password)) in cfg.accounts.iter().enumerate() {
            s.phones.push(IpPhone {
                username: user.clone(),
                password: password.clone(),
                name: format!("IP-Telefon {}", i + 1),
                incoming: String::new(),
                internal: format!("**62{i}"),
            });
        }
        for (name, contacts) in &cfg.phonebooks {
            let contacts = contacts
                .iter()
                .map(|(n, num)| s.contact(n.clone(), num.clone()))
                .collect();
            s.books.push((name.clone(), contacts));
        }
        s
    }

    /// A new entry with the next unique id.
    pub fn contact(&mut self, name: String, number: String) -> Contact {
        self.next_uid += 1;
        Contact {
            uid: self.next_uid,
            name,
            number,
        }
    }

    pub fn password(&self, user: &str) -> Option<String> {
        self.phones
            .iter()
            .find(|p| p.username == user)
            .map(|p| p.password.clone())
    }

    /// The name of `number` in a phonebook, as the Box puts it into From.
    pub fn name_of(&self, number: &str) -> Option<String> {
        self.books
            .iter()
            .flat_map(|(_, c)| c)
            .find(|c| same_number(&c.number, number))
            .map(|c| c.name.clone())
    }

    pub fn is_barred(&self, number: &str) -> bool {
        self.barring.iter().any(|c| same_number(&c.number, number))
    }
}

/// The same number, whatever the spacing or form (`030 1234567`,
/// `0301234567`, `+49301234567`, `0049301234567`: the emulated Box is in 49).
fn same_number(a: &str, b: &str) -> bool {
    fn national(s: &str) -> String {
        let d: String = s
            .chars()
            .filter(|c| c.is_ascii_digit() || *c == '+')
            .collect();
        match d.strip_prefix("+49").or_else(|| d.strip_prefix("0049")) {
            Some(rest) => format!("0{rest}"),
            None => d.replace('+', "00"),
        }
    }
    let (a, b) = (national(a), national(b));
    !a.is_empty() && a == b
}

/// A registered phone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    pub user: String,
    /// Where the Box sends INVITEs: the phone's Contact.
    pub contact: SocketAddr,
    pub contact_uri: String,
    pub call_id: String,
    pub instance: Option<String>,
    pub expires_at: Instant,
    /// When it was last registered or refreshed.
    pub registered_at: Instant,
    pub last_cseq: u32,
}

/// A nonce the registrar issued: when, and whether a REGISTER used it.
struct Nonce {
    issued: Instant,
    used: bool,
}

enum Command {
    Call(CallSpec, oneshot::Sender<CallReport>),
    Reboot(Duration),
    Loss(f64),
    Delay(Duration),
    Bindings(oneshot::Sender<Vec<Binding>>),
    Forget,
    Violations(oneshot::Sender<Vec<String>>),
}

/// A running emulated FRITZ!Box.
pub struct Emulator {
    addr: SocketAddr,
    store: Shared,
    tr064: Option<(
        String,
        Arc<Mutex<tr064::State>>,
        tokio::task::JoinHandle<()>,
    )>,
    commands: mpsc::UnboundedSender<Command>,
    reports: broadcast::Sender<Report>,
    task: tokio::task::JoinHandle<()>,
    monitor: Option<(SocketAddr, tokio::task::JoinHandle<()>)>,
}

impl Emulator {
    pub async fn start(cfg: EmulatorConfig) -> std::io::Result<Emulator> {
        let socket = UdpSocket::bind(cfg.bind).await?;
        let addr = socket.local_addr()?;
        let (commands, rx) = mpsc::unbounded_channel();
        let (reports, _) = broadcast::channel(1024);
        let store = Shared(Arc::new(Mutex::new(Store::new(&cfg))));
        let tr064 = match &cfg.tr064 {
            Some(t) => {
                let listener = tokio::net::TcpListener::bind(t.bind).await?;
                let url = format!("http://{}", listener.local_addr()?);
                let state = Arc::new(Mutex::new(tr064::State::new(
                    t.clone(),
                    store.clone(),
                    cfg.seed ^ 0x7264,
                )));
                let task = tokio::spawn(tr064::serve(listener, state.clone()));
                Some((url, state, task))
            }
            None => None,
        };
        let monitor = match cfg.call_monitor {
            Some(bind) => {
                let listener = tokio::net::TcpListener::bind(bind).await?;
                let at = listener.local_addr()?;
                Some((at, tokio::spawn(monitor::serve(listener, reports.clone()))))
            }
            None => None,
        };
        let core = Fritzbox::new(cfg, addr, store.clone(), reports.clone());
        let task = tokio::spawn(drive(core, socket, rx));
        Ok(Emulator {
            addr,
            store,
            tr064,
            commands,
            reports,
            task,
            monitor,
        })
    }

    /// The registrar's address: give it to the phone as `--fritzbox`.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The call monitor's address, if it serves one.
    pub fn call_monitor(&self) -> Option<SocketAddr> {
        self.monitor.as_ref().map(|(a, _)| *a)
    }

    /// The Box drops every registration without a word (no more INVITEs
    /// or keepalives for the phones until they register again), as after
    /// a firmware update; it answers SIP as ever.
    pub fn forget_phones(&self) {
        let _ = self.commands.send(Command::Forget);
    }

    /// The TR-064 base URL (`http://127.0.0.1:PORT`), if it serves TR-064.
    pub fn tr064_url(&self) -> Option<&str> {
        self.tr064.as_ref().map(|(u, _, _)| u.as_str())
    }

    /// The numbers on the Box's call-barring list, duplicates included.
    pub fn barred_numbers(&self) -> Vec<String> {
        self.store
            .with(|s| s.barring.iter().map(|c| c.number.clone()).collect())
    }

    /// Someone presses the button on the Box: a waiting second factor is confirmed.
    pub fn confirm_second_factor(&self) -> bool {
        match &self.tr064 {
            Some((_, st, _)) => st
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .confirm(Instant::now()),
            None => false,
        }
    }

    /// The TR-064 lockout after failed logins ends now, as when its time
    /// is up (a test need not sleep through it).
    pub fn end_tr064_lockout(&self) {
        if let Some((_, st, _)) = &self.tr064 {
            st.lock().unwrap_or_else(|p| p.into_inner()).end_lockout();
        }
    }

    /// The Box's IP phones: those it started with and those set up over TR-064.
    pub fn ip_phones(&self) -> Vec<IpPhone> {
        self.store.with(|s| s.phones.clone())
    }

    /// The Box's phonebooks: name and entries.
    pub fn phonebooks(&self) -> Vec<(String, Vec<Contact>)> {
        self.store.with(|s| s.books.clone())
    }

    /// The Box's call list (GetCallList), oldest first.
    pub fn call_list(&self) -> Vec<ListedCall> {
        self.store.with(|s| s.call_list.clone())
    }

    /// A trace of what the Box sees.
    pub fn reports(&self) -> broadcast::Receiver<Report> {
        self.reports.subscribe()
    }

    /// Rings the registered phone and waits until the call is over.
    pub async fn call(&self, spec: CallSpec) -> CallReport {
        let (tx, rx) = oneshot::channel();
        let _ = self.commands.send(Command::Call(spec, tx));
        rx.await
            .unwrap_or_else(|_| CallReport::new(CallOutcome::NoBinding))
    }

    /// Forgets every binding and nonce and ignores all traffic for `silent`.
    pub fn reboot(&self, silent: Duration) {
        let _ = self.commands.send(Command::Reboot(silent));
    }

    /// Drops this fraction (0.0–1.0) of datagrams in each direction.
    pub fn set_loss(&self, fraction: f64) {
        let _ = self.commands.send(Command::Loss(fraction));
    }

    /// Delays every datagram the Box sends.
    pub fn set_delay(&self, delay: Duration) {
        let _ = self.commands.send(Command::Delay(delay));
    }

    pub async fn bindings(&self) -> Vec<Binding> {
        let (tx, rx) = oneshot::channel();
        let _ = self.commands.send(Command::Bindings(tx));
        rx.await.unwrap_or_default()
    }

    /// Rules the phone broke so far: SIP (RFC 3261, FRITZBOX.md) and,
    /// with TR-064, the client's (RFC 2617, the Box's control URLs).
    pub async fn violations(&self) -> Vec<String> {
        let (tx, rx) = oneshot::channel();
        let _ = self.commands.send(Command::Violations(tx));
        let mut v = rx.await.unwrap_or_default();
        v.extend(
            self.store
                .with(|s| s.media_violations.clone())
                .into_iter()
                .map(|m| format!("RTP: {m}")),
        );
        if let Some((_, st, _)) = &self.tr064 {
            let st = st.lock().unwrap_or_else(|p| p.into_inner());
            v.extend(st.violations.iter().map(|t| format!("TR-064: {t}")));
        }
        v
    }

    /// Waits until some phone is registered, at most `timeout`.
    /// Waits until there are more than `known` bindings; the newest.
    pub async fn wait_for_new_binding(&self, known: usize, timeout: Duration) -> Option<Binding> {
        let end = tokio::time::Instant::now() + timeout;
        loop {
            let b = self.bindings().await;
            if b.len() > known {
                return b.into_iter().max_by_key(|b| b.registered_at);
            }
            if tokio::time::Instant::now() >= end {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn wait_for_binding(&self, timeout: Duration) -> Option<Binding> {
        let end = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(b) = self.bindings().await.into_iter().next() {
                return Some(b);
            }
            if tokio::time::Instant::now() >= end {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.task.abort();
        if let Some((_, _, t)) = &self.tr064 {
            t.abort();
        }
        if let Some((_, t)) = &self.monitor {
            t.abort();
        }
    }
}

/// The emulated Box's state: registrar and caller. Fed datagrams and
/// time, it queues datagrams to send (the same sans-IO shape as the agent).
pub(crate) struct Fritzbox {
    cfg: EmulatorConfig,
    /// Phones, phonebooks, barring and call list, shared with the TR-064 side.
    store: Shared,
    addr: SocketAddr,
    rng: SmallRng,
    reports: broadcast::Sender<Report>,
    out: Vec<(SocketAddr, Vec<u8>)>,
    bindings: HashMap<String, Binding>,
    /// Nonces we issued.
    nonces: HashMap<String, Nonce>,
    /// Branches seen per Call-ID with their CSeq, to catch reuse.
    branches: HashMap<String, u32>,
    violations: Vec<String>,
    calls: caller::Calls,
    silent_until: Option<Instant>,
    next_options: Option<Instant>,
    options_pending: HashMap<String, caller::Probe>,
    /// Source of the datagram being handled, for Via received/rport.
    last_source: Option<SocketAddr>,
    /// The call monitor's calls in progress.
    lines: monitor::Lines,
}

impl Fritzbox {
    fn new(
        cfg: EmulatorConfig,
        addr: SocketAddr,
        store: Shared,
        reports: broadcast::Sender<Report>,
    ) -> Fritzbox {
        let next_options = cfg.options_interval.map(|i| Instant::now() + i);
        Fritzbox {
            rng: SmallRng::seed_from_u64(cfg.seed),
            store,
            cfg,
            addr,
            reports,
            out: Vec::new(),
            bindings: HashMap::new(),
            nonces: HashMap::new(),
            branches: HashMap::new(),
            violations: Vec::new(),
            calls: caller::Calls::default(),
            silent_until: None,
            next_options,
            options_pending: HashMap::new(),
            last_source: None,
            lines: monitor::Lines::default(),
        }
    }

    fn report(&self, r: Report) {
        let _ = self.reports.send(r);
    }

    fn violation(&mut self, what: String) {
        if !self.violations.contains(&what) {
            self.report(Report::Violation(what.clone()));
            self.violations.push(what);
        }
    }

    /// 16 upper-case hex digits, like the Box's nonces and tags.
    fn hex16(&mut self) -> String {
        format!("{:016X}", self.rng.random::<u64>())
    }

    fn send(&mut self, to: SocketAddr, data: Vec<u8>) {
        self.out.push((to, data));
    }

    fn is_silent(&self, now: Instant) -> bool {
        self.silent_until.is_some_and(|t| now < t)
    }

    fn reboot(&mut self, now: Instant, silent: Duration) {
        self.bindings.clear();
        self.nonces.clear();
        self.branches.clear();
        self.options_pending.clear();
        self.silent_until = Some(now + silent);
        self.report(Report::Rebooted { silent });
    }

    fn on_datagram(&mut self, now: Instant, from: SocketAddr, data: &[u8]) {
        if self.is_silent(now) || data.iter().all(|b| b.is_ascii_whitespace()) {
            return;
        }
        self.last_source = Some(from);
        let msg = match sip::parse(data) {
            Ok(m) => m,
            Err(e) => {
                let first =
                    String::from_utf8_lossy(data.split(|b| *b == b'\r').next().unwrap_or_default())
                        .into_owned();
                self.violation(format!("unparsable message from {from} ({e}): {first}"));
                return;
            }
        };
        self.check_basics(data, &msg);
        match msg {
            Message::Request(r) if r.method == sip::Method::Register => {
                self.on_register(now, from, r)
            }
            Message::Request(r) => self.on_request(now, from, r),
            Message::Response(r) => self.on_response(now, from, r),
        }
    }

    /// RFC 3261 basics every message from the phone must meet.
    fn check_basics(&mut self, data: &[u8], msg: &Message) {
        let h = msg.headers();
        let first = String::from_utf8_lossy(data.split(|b| *b == b'\r').next().unwrap_or_default())
            .into_owned();
        let head_end = data
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap_or(data.len());
        let head = String::from_utf8_lossy(&data[..head_end]).to_ascii_lowercase();
        if !head.contains("\ncontent-length:") && !head.contains("\nl:") {
            self.violation(format!("no Content-Length (RFC 3261 §18.3): {first}"));
        }
        for name in ["Via", "From", "To", "Call-ID", "CSeq"] {
            if h.get(name).is_none() {
                self.violation(format!("missing {name} (RFC 3261 §8.1.1): {first}"));
            }
        }
        if let Message::Request(r) = msg {
            match h.top_via().ok().and_then(|v| v.branch().map(str::to_owned)) {
                Some(b) if b.starts_with(sip::header::BRANCH_COOKIE) => {}
                _ => self.violation(format!(
                    "Via branch without the z9hG4bK cookie (RFC 3261 §8.1.1.7): {first}"
                )),
            }
            if r.method != sip::Method::Ack
                && h.from()
                    .ok()
                    .and_then(|f| f.tag().map(str::to_owned))
                    .is_none()
            {
                self.violation(format!("From without tag (RFC 3261 §8.1.1.3): {first}"));
            }
            if h.get("Max-Forwards").is_none() {
                self.violation(format!("no Max-Forwards (RFC 3261 §8.1.1.6): {first}"));
            }
        }
    }

    fn deadline(&self) -> Option<Instant> {
        let mut d = self.calls.deadline();
        let probes = self.options_pending.values().map(|p| p.next);
        for t in self.next_options.into_iter().chain(probes) {
            d = Some(d.map_or(t, |d| d.min(t)));
        }
        d
    }

    fn on_timeout(&mut self, now: Instant) {
        self.bindings.retain(|_, b| b.expires_at > now);
        self.calls_timeout(now);
        self.options_timeout(now);
        if let Some(t) = self.next_options
            && t <= now
        {
            self.next_options = self.cfg.options_interval.map(|i| now + i);
            self.send_options(now);
        }
    }
}

/// Runs the emulated Box on its socket: loss and delay are applied here.
async fn drive(
    mut core: Fritzbox,
    socket: UdpSocket,
    mut commands: mpsc::UnboundedReceiver<Command>,
) {
    let mut loss = 0.0f64;
    let mut delay = Duration::ZERO;
    let mut delayed: Vec<(Instant, SocketAddr, Vec<u8>)> = Vec::new();
    let mut rng = SmallRng::seed_from_u64(core.cfg.seed ^ 0x5eed);
    let mut buf = vec![0u8; 65_535];
    loop {
        let now = Instant::now();
        for (to, data) in std::mem::take(&mut core.out) {
            if loss > 0.0 && rng.random_bool(loss.min(1.0)) {
                continue;
            }
            if delay.is_zero() {
                let _ = socket.send_to(&data, to).await;
            } else {
                delayed.push((now + delay, to, data));
            }
        }
        let mut i = 0;
        while i < delayed.len() {
            if delayed[i].0 <= now {
                let (_, to, data) = delayed.swap_remove(i);
                let _ = socket.send_to(&data, to).await;
            } else {
                i += 1;
            }
        }
        let mut deadline = core.deadline().unwrap_or(now + Duration::from_secs(3600));
        if let Some(t) = delayed.iter().map(|d| d.0).min() {
            deadline = deadline.min(t);
        }
        tokio::select! {
            r = socket.recv_from(&mut buf) => {
                if let Ok((n, from)) = r
                    && !(loss > 0.0 && rng.random_bool(loss.min(1.0)))
                {
                    core.on_datagram(Instant::now(), from, &buf[..n]);
                }
            }
            _ = tokio::time::sleep_until(deadline.into()) => core.on_timeout(Instant::now()),
            c = commands.recv() => match c {
                None => return,
                Some(Command::Call(spec, reply)) => core.place_call(Instant::now(), spec, reply),
                Some(Command::Reboot(silent)) => core.reboot(Instant::now(), silent),
                Some(Command::Forget) => {
                    core.bindings.clear();
                    core.options_pending.clear();
                    core.report(Report::Forgot);
                }
                Some(Command::Loss(f)) => loss = f,
                Some(Command::Delay(d)) => delay = d,
                Some(Command::Bindings(reply)) => {
                    let now = Instant::now();
                    let _ = reply.send(core.bindings.values().filter(|b| b.expires_at > now).cloned().collect());
                }
                Some(Command::Violations(reply)) => { let _ = reply.send(core.violations.clone()); }
            },
        }
    }
}

/// The ring-back of a retransmission schedule: T1 doubling, capped at T2.
fn next_interval(i: Duration) -> Duration {
    (i * 2).min(T2)
}
