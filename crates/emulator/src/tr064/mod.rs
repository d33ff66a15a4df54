//! The emulated Box's TR-064 endpoint (FRITZBOX.md, TR-064 section): the
//! device description, the X_VoIP and X_AVM-DE_OnTel actions with the
//! Box's argument names and error codes, HTTP digest auth, and the
//! phonebook and call-barring files at the URLs it hands out.

mod actions;
mod xml;

use actions::{ontel_action, voip_action};
use xml::*;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use tokio::net::{TcpListener, TcpStream};

use super::{Contact, IpPhone, ListedCall, MAX_IP_PHONES, Shared};
use minisip4fb::fritzbox::soap;
use minisip4fb_proto::sip::digest;

/// The realm of the Box's HTTP digest on 49000/49443 (FRITZBOX.md, a real
/// trace): `F!Box SOAP-Auth` is AVM's other, in-body login scheme.
pub const REALM: &str = "HTTPS Access";

/// How the TR-064 side of the emulated Box is set up.
#[derive(Debug, Clone)]
pub struct Tr064Config {
    pub bind: SocketAddr,
    pub admin_user: String,
    pub admin_password: String,
    /// The admin user has the right "Telefonie" (else every action is 606).
    pub telefonie_right: bool,
    /// Changes (SetClient4, DeleteClient, phonebook and call-barring
    /// entries) need a second factor (error 866) until confirmed through
    /// X_AVM-DE_Auth.
    pub second_factor: bool,
    /// An earlier second-factor attempt was left waiting: a new one gets
    /// 868 (busy) until it is stopped or its window ends (FRITZBOX.md).
    pub abandoned_second_factor: bool,
    /// Too many confirmation attempts: starting one answers 867.
    pub second_factor_blocked: bool,
    /// How long a started confirmation waits for the button; meanwhile
    /// another start is 868 (FRITZBOX.md: ~60 s).
    pub confirm_window: Duration,
    /// How long a confirmation allows changes before 866 comes again.
    pub approval_lifetime: Duration,
    /// X_VoIP's country and area code: (LKZ, LKZ prefix), (OKZ, OKZ prefix).
    pub country_code: (String, String),
    pub area_code: (String, String),
    /// A hostile Box: claims this many IP phones instead of the real count.
    pub claimed_clients: Option<String>,
    /// Where the Box says its files (phonebooks, call barring) are, as a
    /// real Box names its HTTPS address when asked over HTTPS; default:
    /// this endpoint's own `http://` address. For a TLS front in tests.
    pub files_url: Option<String>,
    /// After 10 failed logins every request gets 503 for this long.
    pub lockout: Duration,
    /// Answer a failed login with HTTP 200 and a SOAP fault instead of a
    /// new 401 challenge, as some FRITZ!OS versions do (FRITZBOX.md).
    pub auth_failure_as_fault: bool,
    /// SetClient4 on an index already taken answers 820 (FRITZBOX.md:
    /// likely) instead of overwriting that phone.
    pub refuse_index_in_use: bool,
    /// The shortest IP-phone user name SetClient4 takes ([unknown] in
    /// FRITZBOX.md; 4 refuses `620`, 1 takes it).
    pub min_username: usize,
}

impl Default for Tr064Config {
    fn default() -> Self {
        Tr064Config {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            admin_user: "admin".into(),
            admin_password: "fritz-admin-pw".into(),
            telefonie_right: true,
            second_factor: false,
            abandoned_second_factor: false,
            second_factor_blocked: false,
            confirm_window: Duration::from_secs(60),
            approval_lifetime: Duration::from_secs(120),
            country_code: ("49".into(), "00".into()),
            area_code: ("30".into(), "0".into()),
            claimed_clients: None,
            files_url: None,
            lockout: Duration::from_secs(60),
            auth_failure_as_fault: false,
            refuse_index_in_use: true,
            min_username: 4,
        }
    }
}

/// The TR-064 side's own state; phones, phonebooks, barring and call list
/// live in the [`Store`] it shares with the registrar.
pub(crate) struct State {
    pub cfg: Tr064Config,
    store: Shared,
    /// Nonces we issued and the highest nonce count used with each.
    nonces: HashMap<String, u32>,
    failures: u32,
    locked_until: Option<Instant>,
    base: String,
    auth: AuthState,
    /// When `auth` was entered.
    auth_since: Instant,
    /// The waiting attempt is the abandoned one nobody will confirm.
    abandoned: bool,
    /// Where the client broke RFC 2617 or TR-064 rules.
    pub violations: Vec<String>,
    /// Nonces and tokens, from the emulator's seed: a run can be repeated.
    rng: SmallRng,
}

/// X_AVM-DE_Auth's state of the second factor (FRITZBOX.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthState {
    Stopped,
    WaitingForAuth,
    Authenticated,
}

impl AuthState {
    /// The form on the wire (`NewState`).
    pub fn as_str(self) -> &'static str {
        match self {
            AuthState::Stopped => "stopped",
            AuthState::WaitingForAuth => "waitingforauth",
            AuthState::Authenticated => "authenticated",
        }
    }
}

impl State {
    pub(crate) fn new(cfg: Tr064Config, store: Shared, seed: u64) -> State {
        let cfg_abandoned = cfg.abandoned_second_factor;
        let auth = if cfg_abandoned {
            AuthState::WaitingForAuth
        } else {
            AuthState::Stopped
        };
        State {
            cfg,
            store,
            nonces: HashMap::new(),
            failures: 0,
            locked_until: None,
            base: String::new(),
            auth,
            auth_since: Instant::now(),
            abandoned: cfg_abandoned,
            violations: Vec::new(),
            rng: SmallRng::seed_from_u64(seed),
        }
    }

    /// The second factor's state now: a wait ends after its window, an
    /// approval after its lifetime.
    fn auth_state(&mut self, now: Instant) -> AuthState {
        let age = now.duration_since(self.auth_since);
        let over = match self.auth {
            AuthState::WaitingForAuth => age >= self.cfg.confirm_window,
            AuthState::Authenticated => age >= self.cfg.approval_lifetime,
            AuthState::Stopped => false,
        };
        if over {
            self.set_auth(AuthState::Stopped, now);
        }
        self.auth
    }

    fn set_auth(&mut self, state: AuthState, now: Instant) {
        self.auth = state;
        self.auth_since = now;
        self.abandoned = false;
    }

    /// The button on the Box is pressed: a waiting confirmation succeeds
    /// (not an abandoned one: the person confirms what setup asked for).
    pub fn confirm(&mut self, now: Instant) -> bool {
        let waiting = self.auth_state(now) == AuthState::WaitingForAuth && !self.abandoned;
        if waiting {
            self.set_auth(AuthState::Authenticated, now);
        }
        waiting
    }

    fn violation(&mut self, what: String) {
        if !self.violations.contains(&what) {
            self.violations.push(what);
        }
    }
}

pub(crate) async fn serve(listener: TcpListener, state: Arc<Mutex<State>>) {
    if let Ok(a) = listener.local_addr() {
        let mut st = state.lock().unwrap_or_else(|p| p.into_inner());
        st.base = st.cfg.files_url.clone().unwrap_or(format!("http://{a}"));
    }
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let state = state.clone();
        tokio::spawn(async move {
            let _ = connection(stream, state).await;
        });
    }
}

/// One HTTP/1.1 request per connection (we answer `Connection: close`).
async fn connection(mut s: TcpStream, state: Arc<Mutex<State>>) -> std::io::Result<()> {
    let Some(req) = super::http::read_request(&mut s).await? else {
        return Ok(());
    };
    let (status, extra, content) = {
        let mut st = state.lock().unwrap_or_else(|p| p.into_inner());
        handle(
            &mut st,
            &req.method,
            &req.target,
            req.header("authorization"),
            req.header("soapaction"),
            &req.body,
        )
    };
    super::http::respond(
        &mut s,
        status,
        "text/xml; charset=\"utf-8\"",
        &extra,
        content.as_bytes(),
    )
    .await
}

type Reply = (u16, Vec<(&'static str, String)>, String);

fn fault(code: u32, description: &str) -> Reply {
    (
        500,
        vec![],
        format!(
            "<?xml version=\"1.0\"?>\n<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\" s:encodingStyle=\"http://schemas.xmlsoap.org/soap/encoding/\">\
<s:Body><s:Fault><faultcode>s:Client</faultcode><faultstring>UPnPError</faultstring><detail><UPnPError xmlns=\"urn:dslforum-org:control-1-0\">\
<errorCode>{code}</errorCode><errorDescription>{description}</errorDescription></UPnPError></detail></s:Fault></s:Body></s:Envelope>"
        ),
    )
}

fn ok(service: &str, action: &str, out: &[(&str, String)]) -> Reply {
    let mut x = format!(
        "<?xml version=\"1.0\"?>\n<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\" s:encodingStyle=\"http://schemas.xmlsoap.org/soap/encoding/\">\
<s:Body><u:{action}Response xmlns:u=\"{service}\">"
    );
    for (k, v) in out {
        x.push_str(&format!(
            "<{k}>{}</{k}>",
            quick_xml::escape::escape(v.as_str())
        ));
    }
    x.push_str(&format!("</u:{action}Response></s:Body></s:Envelope>"));
    (200, vec![], x)
}

fn handle(
    st: &mut State,
    method: &str,
    target: &str,
    auth: Option<&str>,
    soapaction: Option<&str>,
    body: &str,
) -> Reply {
    let now = Instant::now();
    let path = target.split('?').next().unwrap_or("");
    let service_here = match (method, path) {
        ("GET", "/tr64desc.xml") => return (200, vec![], desc()),
        ("GET", "/phonebook") => {
            let id: usize = query(target, "id")
                .and_then(|v| v.parse().ok())
                .unwrap_or(usize::MAX);
            return match st.store.with(|s| s.books.get(id).cloned()) {
                Some((name, contacts)) => (200, vec![], phonebook_xml(&name, &contacts)),
                None => (404, vec![], String::new()),
            };
        }
        ("GET", "/callbarring") => {
            let barring = st.store.with(|s| s.barring.clone());
            return (200, vec![], phonebook_xml("Rufsperren", &barring));
        }
        ("GET", "/calllist") => {
            let max = query(target, "max")
                .and_then(|v| v.parse().ok())
                .unwrap_or(999);
            let calls = st.store.with(|s| s.call_list.clone());
            return (200, vec![], call_list_xml(&calls, max));
        }
        // The control URL names the service (TR-064 §2.2).
        ("POST", p) => match SERVICES.iter().find(|(_, url)| *url == p) {
            Some((service, _)) => *service,
            None => return (404, vec![], String::new()),
        },
        _ => return (404, vec![], String::new()),
    };
    let Some((service, action)) = soapaction
        .map(|s| s.trim_matches('"'))
        .and_then(|s| s.split_once('#'))
    else {
        return fault(401, "Invalid Action");
    };
    if service != service_here {
        st.violation(format!(
            "SOAPACTION {service}#{action} posted to {path}, the control URL of {service_here}"
        ));
        return fault(401, "Invalid Action");
    }
    let args = match soap::parse_request(body, action) {
        Ok(a) => a,
        Err(e) => return fault(402, &format!("Invalid Args: {e}")),
    };
    let call = Call {
        service,
        action,
        args: &args,
    };
    // FRITZBOX.md: DeviceInfo:GetSecurityPort needs no login.
    if (service, action) == (DEVICE_INFO, "GetSecurityPort") {
        return call.ok(&[("NewSecurityPort", "49443".into())]);
    }
    if let Some(refused) = authorize(st, now, auth, path) {
        return refused;
    }
    if !st.cfg.telefonie_right && service != DEVICE_INFO {
        return fault(606, "Action not authorized");
    }
    let changes = matches!(
        action,
        "X_AVM-DE_SetClient4"
            | "X_AVM-DE_DeleteClient"
            | "SetCallBarringEntry"
            | "DeleteCallBarringEntryUID"
            | "SetPhonebookEntryUID"
            | "DeletePhonebookEntryUID"
    );
    if changes && st.cfg.second_factor && st.auth_state(now) != AuthState::Authenticated {
        return fault(866, "second factor authentication required");
    }
    match service {
        DEVICE_INFO => match action {
            "GetInfo" => call.ok(&[
                ("NewManufacturerName", "AVM".into()),
                ("NewModelName", "FRITZ!Box 7590".into()),
                ("NewSoftwareVersion", "154.07.57".into()),
            ]),
            _ => fault(401, "Invalid Action"),
        },
        minisip4fb::fritzbox::AUTH => auth_action(st, now, &call),
        minisip4fb::fritzbox::VOIP => voip_action(st, &call),
        minisip4fb::fritzbox::ONTEL => ontel_action(st, &call),
        _ => fault(401, "Invalid Action"),
    }
}

/// One SOAP action as received.
struct Call<'a> {
    service: &'a str,
    action: &'a str,
    args: &'a [(String, String)],
}

impl Call<'_> {
    fn arg(&self, name: &str) -> Option<String> {
        self.args
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    }

    fn index(&self, name: &str) -> usize {
        self.arg(name)
            .and_then(|v| v.parse().ok())
            .unwrap_or(usize::MAX)
    }

    fn ok(&self, out: &[(&str, String)]) -> Reply {
        ok(self.service, self.action, out)
    }
}

impl State {
    /// A lockout in force ends now (the next request finds it over).
    pub(crate) fn end_lockout(&mut self) {
        if self.locked_until.is_some() {
            self.locked_until = Some(Instant::now());
        }
    }
}

/// HTTP digest (RFC 2617) like the Box: realm `HTTPS Access`, qop=auth,
/// MD5, our own nonces, the answer's realm, uri (the control URL) and
/// nonce count checked; after 10 failed logins, 503 for a while.
/// `None` when the request may go on.
fn authorize(st: &mut State, now: Instant, auth: Option<&str>, path: &str) -> Option<Reply> {
    match st.locked_until {
        Some(t) if now < t => return Some((503, vec![], String::new())),
        Some(_) => {
            st.locked_until = None;
            st.failures = 0;
        }
        None => {}
    }
    if let Some(a) = auth {
        let fields = digest::parse_auth(a).unwrap_or_default();
        let field = |k: &str| digest::param(&fields, k).map(str::to_owned);
        let nonce = field("nonce").unwrap_or_default();
        let nc = field("nc").and_then(|v| u32::from_str_radix(&v, 16).ok());
        if field("realm").as_deref() != Some(REALM) {
            st.violation(format!(
                "digest realm {:?} is not the challenge's {REALM:?} (RFC 2617 §3.2.2)",
                field("realm")
            ));
        }
        if field("uri").as_deref() != Some(path) {
            st.violation(format!(
                "digest uri {:?} is not the POSTed control URL {path} (RFC 2617 §3.2.2.5)",
                field("uri")
            ));
        }
        let replayed = match (st.nonces.get(&nonce), nc) {
            (Some(last), Some(nc)) => nc <= *last,
            _ => false,
        };
        if replayed {
            st.violation(format!(
                "nonce count {nc:?} not above the last one for nonce {nonce} (RFC 2617 §3.2.2)"
            ));
        }
        let password_ok = matches!(
            digest::verify(a, &st.cfg.admin_password, "POST"),
            Ok((u, true)) if u == st.cfg.admin_user
        );
        if password_ok && st.nonces.contains_key(&nonce) && !replayed {
            if let Some(nc) = nc {
                st.nonces.insert(nonce, nc);
            }
            st.failures = 0;
            return None;
        }
        // The right password with an unknown (expired) nonce or an old
        // count is challenged again; a wrong one is a failed login.
        if !password_ok {
            st.failures += 1;
            if st.failures >= 10 {
                st.locked_until = Some(now + st.cfg.lockout);
            }
            if st.cfg.auth_failure_as_fault {
                let (_, headers, body) = fault(401, "Unauthorized");
                return Some((200, headers, body));
            }
        }
    }
    let nonce = format!("{:016X}", st.rng.random::<u64>());
    // Bounded: a client that never logs in cannot grow the map for ever.
    if st.nonces.len() >= 1024 {
        st.nonces.clear();
    }
    st.nonces.insert(nonce.clone(), 0);
    Some((
        401,
        vec![(
            "WWW-Authenticate",
            format!("Digest realm=\"{REALM}\",nonce=\"{nonce}\",algorithm=MD5,qop=\"auth\""),
        )],
        String::new(),
    ))
}

/// X_AVM-DE_Auth: the second factor.
fn auth_action(st: &mut State, now: Instant, c: &Call) -> Reply {
    match c.action {
        "SetConfig" => {
            let start = c.arg("NewAction").as_deref() == Some("start");
            if start && st.cfg.second_factor_blocked {
                return fault(867, "second factor authentication blocked");
            }
            if start && st.auth_state(now) == AuthState::WaitingForAuth {
                return fault(868, "second factor authentication busy");
            }
            let next = if start {
                AuthState::WaitingForAuth
            } else {
                AuthState::Stopped
            };
            st.set_auth(next, now);
            c.ok(&[
                ("NewState", next.as_str().into()),
                ("NewToken", format!("{:08x}", st.rng.random::<u32>())),
                ("NewMethods", "button;dtmf;*1234".into()),
            ])
        }
        "GetState" => c.ok(&[("NewState", st.auth_state(now).as_str().into())]),
        _ => fault(401, "Invalid Action"),
    }
}
