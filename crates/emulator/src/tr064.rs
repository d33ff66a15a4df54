//! The emulated Box's TR-064 endpoint (FRITZBOX.md, TR-064 section): the
//! device description, the X_VoIP and X_AVM-DE_OnTel actions with the
//! Box's argument names and error codes, HTTP digest auth, and the
//! phonebook and call-barring files at the URLs it hands out.

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
        &content,
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

/// Services of the emulated Box: type and control URL.
const SERVICES: [(&str, &str); 4] = [
    (DEVICE_INFO, "/upnp/control/deviceinfo"),
    (minisip4fb::fritzbox::VOIP, "/upnp/control/x_voip"),
    (minisip4fb::fritzbox::ONTEL, "/upnp/control/x_contact"),
    (minisip4fb::fritzbox::AUTH, "/upnp/control/x_auth"),
];

const DEVICE_INFO: &str = "urn:dslforum-org:service:DeviceInfo:1";

fn desc() -> String {
    let services: String = SERVICES
        .iter()
        .map(|(t, url)| {
            format!(
                "<service><serviceType>{t}</serviceType><controlURL>{url}</controlURL><SCPDURL>/scpd.xml</SCPDURL></service>"
            )
        })
        .collect();
    format!(
        "<?xml version=\"1.0\"?>\n<root xmlns=\"urn:dslforum-org:device-1-0\"><specVersion><major>1</major><minor>0</minor></specVersion>\
<device><deviceType>urn:dslforum-org:device:InternetGatewayDevice:1</deviceType>\
<friendlyName>FRITZ!Box 7590 (emulated)</friendlyName><manufacturer>AVM</manufacturer><modelName>FRITZ!Box 7590</modelName>\
<serviceList>{services}</serviceList></device></root>"
    )
}

fn phonebook_xml(name: &str, contacts: &[Contact]) -> String {
    let mut x = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<phonebooks><phonebook name=\"{}\">",
        escape(name)
    );
    for c in contacts {
        x.push_str(&contact_xml(c));
    }
    x.push_str("</phonebook></phonebooks>");
    x
}

fn contact_xml(c: &Contact) -> String {
    format!(
        "<contact><category>0</category><person><realName>{}</realName></person><telephony nid=\"1\"><number type=\"home\" prio=\"1\" id=\"0\">{}</number></telephony><uniqueid>{}</uniqueid></contact>",
        escape(&c.name),
        escape(&c.number),
        c.uid
    )
}

fn escape(s: &str) -> std::borrow::Cow<'_, str> {
    quick_xml::escape::escape(s)
}

/// The call list file GetCallList points at (FRITZBOX.md), newest first.
fn call_list_xml(calls: &[ListedCall], max: usize) -> String {
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<root>");
    for (i, c) in calls.iter().rev().take(max).enumerate() {
        x.push_str(&format!(
            "<Call><Id>{}</Id><Type>{}</Type><Caller>{}</Caller><Called>{}</Called><Name>{}</Name><Device>minisip4fb</Device><Date>{}</Date><Duration>{}:{:02}</Duration></Call>",
            calls.len() - i,
            c.kind,
            escape(&c.caller),
            escape(&c.called),
            escape(&c.name),
            escape(&c.date),
            c.seconds / 60,
            c.seconds % 60
        ));
    }
    x.push_str("</root>");
    x
}

/// A query parameter of a GET target.
fn query<'a>(target: &'a str, key: &str) -> Option<&'a str> {
    target
        .split_once('?')?
        .1
        .split('&')
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
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

/// X_VoIP: the IP phones and the Box's country and area code.
fn voip_action(st: &mut State, c: &Call) -> Reply {
    match c.action {
        "X_AVM-DE_GetVoIPCommonCountryCode" => c.ok(&[
            ("NewX_AVM-DE_LKZ", st.cfg.country_code.0.clone()),
            ("NewX_AVM-DE_LKZPrefix", st.cfg.country_code.1.clone()),
        ]),
        "X_AVM-DE_GetVoIPCommonAreaCode" => c.ok(&[
            ("NewX_AVM-DE_OKZ", st.cfg.area_code.0.clone()),
            ("NewX_AVM-DE_OKZPrefix", st.cfg.area_code.1.clone()),
        ]),
        "X_AVM-DE_GetNumberOfClients" => {
            let n = st.store.with(|s| s.phones.len()).to_string();
            c.ok(&[(
                "NewX_AVM-DE_NumberOfClients",
                st.cfg.claimed_clients.clone().unwrap_or(n),
            )])
        }
        "X_AVM-DE_GetClient3" => {
            let i = c.index("NewX_AVM-DE_ClientIndex");
            match st.store.with(|s| s.phones.get(i).cloned()) {
                Some(p) => c.ok(&[
                    ("NewX_AVM-DE_ClientUsername", p.username),
                    ("NewX_AVM-DE_PhoneName", p.name),
                    ("NewX_AVM-DE_ClientId", String::new()),
                    ("NewX_AVM-DE_OutGoingNumber", String::new()),
                    ("NewX_AVM-DE_InComingNumbers", p.incoming),
                    ("NewX_AVM-DE_ExternalRegistration", "0".into()),
                    ("NewX_AVM-DE_InternalNumber", p.internal),
                    ("NewX_AVM-DE_DelayedCallNotification", "0".into()),
                ]),
                None => fault(713, "Invalid array index"),
            }
        }
        "X_AVM-DE_GetClients" => {
            let mut list = String::from("<List>");
            for (i, p) in st.store.with(|s| s.phones.clone()).iter().enumerate() {
                list.push_str(&format!(
                    "<Item><X_AVM-DE_ClientIndex>{i}</X_AVM-DE_ClientIndex><X_AVM-DE_ClientUsername>{}</X_AVM-DE_ClientUsername>\
<X_AVM-DE_PhoneName>{}</X_AVM-DE_PhoneName><X_AVM-DE_ClientId></X_AVM-DE_ClientId><X_AVM-DE_OutGoingNumber></X_AVM-DE_OutGoingNumber>\
<X_AVM-DE_InComingNumbers>{}</X_AVM-DE_InComingNumbers><X_AVM-DE_ExternalRegistration>0</X_AVM-DE_ExternalRegistration>\
<X_AVM-DE_InternalNumber>{}</X_AVM-DE_InternalNumber><X_AVM-DE_DelayedCallNotification>0</X_AVM-DE_DelayedCallNotification></Item>",
                    escape(&p.username),
                    escape(&p.name),
                    escape(&p.incoming),
                    escape(&p.internal)
                ));
            }
            list.push_str("</List>");
            c.ok(&[("NewX_AVM-DE_ClientList", list)])
        }
        "X_AVM-DE_SetClient4" => set_client(st, c),
        "X_AVM-DE_DeleteClient" => {
            let i = c.index("NewX_AVM-DE_ClientIndex");
            let removed = st
                .store
                .with(|s| (i < s.phones.len()).then(|| s.phones.remove(i)));
            match removed {
                Some(_) => c.ok(&[]),
                None => fault(713, "Invalid array index"),
            }
        }
        _ => fault(401, "Invalid Action"),
    }
}

/// X_AVM-DE_SetClient4 with the Box's checks and error codes.
fn set_client(st: &mut State, c: &Call) -> Reply {
    let (Some(i), Some(user), Some(pw)) = (
        c.arg("NewX_AVM-DE_ClientIndex")
            .and_then(|v| v.parse::<usize>().ok()),
        c.arg("NewX_AVM-DE_ClientUsername"),
        c.arg("NewX_AVM-DE_ClientPassword"),
    ) else {
        return fault(402, "Invalid Args");
    };
    if user.len() < st.cfg.min_username || pw.len() < 8 {
        return fault(801, "String too short");
    }
    if user.len() > 64 || pw.len() > 64 {
        return fault(802, "String too long");
    }
    // FRITZBOX.md: user names of [0-9A-Za-z-._]; an IP phone's password
    // over TR-064 of letters and digits only.
    let user_ok = user
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b));
    if !user_ok || !pw.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return fault(803, "String contains invalid characters");
    }
    let refuse_in_use = st.cfg.refuse_index_in_use;
    let name = c.arg("NewX_AVM-DE_PhoneName").unwrap_or_default();
    let incoming = c.arg("NewX_AVM-DE_InComingNumbers").unwrap_or_default();
    let result = st.store.with(|s| {
        if s.phones
            .iter()
            .enumerate()
            .any(|(j, p)| j != i && p.username == user)
        {
            return Err(fault(820, "Internal Error"));
        }
        if i > s.phones.len() || (i < s.phones.len() && refuse_in_use) {
            return Err(fault(820, "Internal Error"));
        }
        let internal = if i < s.phones.len() {
            s.phones[i].internal.clone()
        } else {
            // The first free internal number of 620–629; ten at most.
            match (0..MAX_IP_PHONES)
                .map(|n| format!("**62{n}"))
                .find(|n| s.phones.iter().all(|p| p.internal != *n))
            {
                Some(n) => n,
                None => return Err(fault(820, "Internal Error")),
            }
        };
        let phone = IpPhone {
            username: user,
            password: pw,
            name,
            incoming,
            internal: internal.clone(),
        };
        // The registrar takes the new credentials at once; an overwritten
        // phone's old ones are gone with it.
        if i == s.phones.len() {
            s.phones.push(phone);
        } else {
            s.phones[i] = phone;
        }
        Ok(internal)
    });
    match result {
        Ok(internal) => c.ok(&[("NewX_AVM-DE_InternalNumber", internal)]),
        Err(refused) => refused,
    }
}

/// The name and number of a `<contact>` as SetPhonebookEntryUID and
/// SetCallBarringEntry take it; a `<uniqueid>` when it updates one.
fn contact_of(data: &str) -> Option<(String, String, Option<u32>)> {
    let name = soap::tag_text(data, "realName")?;
    let number = soap::tag_text(data, "number")?;
    let uid = soap::tag_text(data, "uniqueid").and_then(|u| u.parse().ok());
    Some((name, number, uid))
}

/// A FRITZ!Box phonebook holds a few thousand entries at most (FRITZBOX.md).
const MAX_ENTRIES: usize = 5000;

/// X_AVM-DE_OnTel: phonebooks and the call-barring list.
fn ontel_action(st: &mut State, c: &Call) -> Reply {
    let base = st.base.clone();
    match c.action {
        "GetPhonebookList" => {
            let n = st.store.with(|s| s.books.len());
            let ids: Vec<String> = (0..n).map(|i| i.to_string()).collect();
            c.ok(&[("NewPhonebookList", ids.join(","))])
        }
        "GetPhonebook" => {
            let id = c.index("NewPhonebookID");
            match st.store.with(|s| s.books.get(id).map(|b| b.0.clone())) {
                Some(name) => c.ok(&[
                    ("NewPhonebookName", name),
                    ("NewPhonebookExtraID", String::new()),
                    ("NewPhonebookURL", format!("{base}/phonebook?id={id}")),
                ]),
                None => fault(713, "Invalid array index"),
            }
        }
        "SetPhonebookEntryUID" => {
            let id = c.index("NewPhonebookID");
            let data = c.arg("NewPhonebookEntryData").unwrap_or_default();
            let Some((name, number, uid)) = contact_of(&data) else {
                return fault(402, "Invalid Args");
            };
            let done = st.store.with(|s| {
                if id >= s.books.len() {
                    return Err(713);
                }
                let at = uid.and_then(|u| s.books[id].1.iter().position(|c| c.uid == u));
                match at {
                    Some(i) => {
                        let old = &mut s.books[id].1[i];
                        old.name = name;
                        old.number = number;
                        Ok(old.uid)
                    }
                    None if uid.is_some() => Err(714),
                    None if s.books[id].1.len() >= MAX_ENTRIES => Err(820),
                    None => {
                        let entry = s.contact(name, number);
                        s.books[id].1.push(entry.clone());
                        Ok(entry.uid)
                    }
                }
            });
            match done {
                Ok(uid) => c.ok(&[("NewPhonebookEntryUniqueID", uid.to_string())]),
                Err(713) => fault(713, "Invalid array index"),
                Err(714) => fault(714, "No matching entry found"),
                Err(_) => fault(820, "Internal Error"),
            }
        }
        "DeletePhonebookEntryUID" => {
            let id = c.index("NewPhonebookID");
            let uid = c.index("NewPhonebookEntryUniqueID");
            let done = st.store.with(|s| {
                let book = &mut s.books.get_mut(id)?.1;
                let before = book.len();
                book.retain(|c| c.uid as usize != uid);
                Some(book.len() < before)
            });
            match done {
                Some(true) => c.ok(&[]),
                Some(false) => fault(714, "No matching entry found"),
                None => fault(713, "Invalid array index"),
            }
        }
        "GetCallBarringEntryByNum" => {
            let n = c.arg("NewNumber").unwrap_or_default();
            match st
                .store
                .with(|s| s.barring.iter().find(|c| c.number == n).cloned())
            {
                Some(entry) => c.ok(&[(
                    "NewPhonebookEntryData",
                    phonebook_xml("Rufsperren", &[entry]),
                )]),
                None => fault(714, "No matching entry found"),
            }
        }
        "SetCallBarringEntry" => {
            let data = c.arg("NewPhonebookEntryData").unwrap_or_default();
            let Some((name, number, _)) = contact_of(&data) else {
                return fault(402, "Invalid Args");
            };
            // Like the Box: always adds, even a duplicate.
            let added = st.store.with(|s| {
                (s.barring.len() < MAX_ENTRIES).then(|| {
                    let entry = s.contact(name, number);
                    s.barring.push(entry.clone());
                    entry.uid
                })
            });
            match added {
                Some(uid) => c.ok(&[("NewPhonebookEntryUniqueID", uid.to_string())]),
                None => fault(820, "Internal Error"),
            }
        }
        "GetCallBarringList" => c.ok(&[("NewPhonebookURL", format!("{base}/callbarring"))]),
        "DeleteCallBarringEntryUID" => {
            let uid = c.index("NewPhonebookEntryUniqueID");
            let removed = st.store.with(|s| {
                let before = s.barring.len();
                s.barring.retain(|c| c.uid as usize != uid);
                s.barring.len() < before
            });
            if removed {
                c.ok(&[])
            } else {
                fault(714, "No matching entry found")
            }
        }
        "GetCallList" => c.ok(&[("NewCallListURL", format!("{base}/calllist?type=xml"))]),
        _ => fault(401, "Invalid Action"),
    }
}
