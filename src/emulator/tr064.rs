//! The emulated Box's TR-064 endpoint (FRITZBOX.md, TR-064 section): the
//! device description, the X_VoIP and X_AVM-DE_OnTel actions with the
//! Box's argument names and error codes, HTTP digest auth, and the
//! phonebook and call-barring files at the URLs it hands out.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::fritzbox::soap;
use crate::sip::digest;

/// How the TR-064 side of the emulated Box is set up.
#[derive(Debug, Clone)]
pub struct Tr064Config {
    pub bind: SocketAddr,
    pub admin_user: String,
    pub admin_password: String,
    /// The admin user has the right "Telefonie" (else every action is 606).
    pub telefonie_right: bool,
    /// Phonebooks: name and (name, number) contacts.
    pub phonebooks: Vec<(String, Vec<(String, String)>)>,
    /// Changes (SetClient4, SetCallBarringEntry) need a second factor
    /// (error 866) until confirmed through X_AVM-DE_Auth.
    pub second_factor: bool,
    /// An earlier second-factor attempt was left waiting: a new one gets
    /// 868 (busy) until it is stopped (FRITZBOX.md).
    pub abandoned_second_factor: bool,
    /// X_VoIP's country and area code: (LKZ, LKZ prefix), (OKZ, OKZ prefix).
    pub country_code: (String, String),
    pub area_code: (String, String),
    /// A hostile Box: claims this many IP phones instead of the real count.
    pub claimed_clients: Option<String>,
    /// Where the Box says its files (phonebooks, call barring) are, as a
    /// real Box names its HTTPS address when asked over HTTPS; default:
    /// this endpoint's own `http://` address. For a TLS front in tests.
    pub files_url: Option<String>,
}

impl Default for Tr064Config {
    fn default() -> Self {
        Tr064Config {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            admin_user: "admin".into(),
            admin_password: "fritz-admin-pw".into(),
            telefonie_right: true,
            phonebooks: vec![(
                "Telefonbuch".into(),
                vec![("Oma".into(), "030 1234567".into())],
            )],
            second_factor: false,
            abandoned_second_factor: false,
            country_code: ("49".into(), "00".into()),
            area_code: ("30".into(), "0".into()),
            claimed_clients: None,
            files_url: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpPhone {
    pub username: String,
    pub password: String,
    pub name: String,
    pub incoming: String,
    pub internal: String,
}

/// Shared state: the IP-phone accounts are the registrar's too.
pub(crate) struct State {
    pub cfg: Tr064Config,
    pub accounts: Arc<Mutex<Vec<(String, String)>>>,
    pub phones: Vec<IpPhone>,
    /// Barred numbers: (uid, name, number).
    pub barring: Vec<(u32, String, String)>,
    next_uid: u32,
    nonces: HashSet<String>,
    failures: u32,
    base: String,
    pub auth_state: AuthState,
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
    pub fn new(cfg: Tr064Config, accounts: Arc<Mutex<Vec<(String, String)>>>, seed: u64) -> State {
        let auth_state = if cfg.abandoned_second_factor {
            AuthState::WaitingForAuth
        } else {
            AuthState::Stopped
        };
        State {
            cfg,
            accounts,
            phones: Vec::new(),
            barring: Vec::new(),
            next_uid: 1,
            nonces: HashSet::new(),
            failures: 0,
            base: String::new(),
            auth_state,
            rng: SmallRng::seed_from_u64(seed),
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
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p;
        }
        if buf.len() > 64 * 1024 {
            return Ok(());
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut start = lines.next().unwrap_or("").split(' ');
    let (method, target) = (
        start.next().unwrap_or("").to_owned(),
        start.next().unwrap_or("").to_owned(),
    );
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let header = |k: &str| headers.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let len: usize = header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
        .min(1 << 20);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < len {
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    let body = String::from_utf8_lossy(&body).into_owned();
    let (status, extra, content) = {
        let mut st = state.lock().unwrap_or_else(|p| p.into_inner());
        handle(
            &mut st,
            &method,
            &target,
            header("authorization").as_deref(),
            header("soapaction").as_deref(),
            &body,
        )
    };
    let reason = match status {
        200 => "OK",
        401 => "Unauthorized",
        404 => "Not Found",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Error",
    };
    let mut resp = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/xml; charset=\"utf-8\"\r\nContent-Length: {}\r\nConnection: close\r\n",
        content.len()
    );
    for (k, v) in extra {
        resp.push_str(&format!("{k}: {v}\r\n"));
    }
    resp.push_str("\r\n");
    resp.push_str(&content);
    s.write_all(resp.as_bytes()).await?;
    s.shutdown().await
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

fn desc() -> String {
    let svc = |t: &str, url: &str| {
        format!(
            "<service><serviceType>{t}</serviceType><controlURL>{url}</controlURL><SCPDURL>/scpd.xml</SCPDURL></service>"
        )
    };
    format!(
        "<?xml version=\"1.0\"?>\n<root xmlns=\"urn:dslforum-org:device-1-0\"><device><deviceType>urn:dslforum-org:device:InternetGatewayDevice:1</deviceType>\
<friendlyName>FRITZ!Box 7590 (emulated)</friendlyName><serviceList>{}{}{}</serviceList></device></root>",
        svc(
            "urn:dslforum-org:service:DeviceInfo:1",
            "/upnp/control/deviceinfo"
        ),
        svc(crate::fritzbox::VOIP, "/upnp/control/x_voip"),
        svc(crate::fritzbox::ONTEL, "/upnp/control/x_contact"),
    ) + &svc(crate::fritzbox::AUTH, "/upnp/control/x_auth")
}

fn valid_chars(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b))
}

fn phonebook_xml(name: &str, contacts: &[(u32, String, String)]) -> String {
    let mut x = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<phonebooks><phonebook name=\"{}\">",
        quick_xml::escape::escape(name)
    );
    for (uid, n, number) in contacts {
        x.push_str(&format!(
            "<contact><category>0</category><person><realName>{}</realName></person><telephony nid=\"1\"><number type=\"home\" prio=\"1\" id=\"0\">{}</number></telephony><uniqueid>{uid}</uniqueid></contact>",
            quick_xml::escape::escape(n.as_str()),
            quick_xml::escape::escape(number.as_str())
        ));
    }
    x.push_str("</phonebook></phonebooks>");
    x
}

fn handle(
    st: &mut State,
    method: &str,
    target: &str,
    auth: Option<&str>,
    soapaction: Option<&str>,
    body: &str,
) -> Reply {
    match (method, target) {
        ("GET", "/tr64desc.xml") => return (200, vec![], desc()),
        ("GET", t) if t.starts_with("/phonebook?id=") => {
            let id: usize = t["/phonebook?id=".len()..].parse().unwrap_or(usize::MAX);
            return match st.cfg.phonebooks.get(id) {
                Some((name, contacts)) => {
                    let c: Vec<_> = contacts
                        .iter()
                        .enumerate()
                        .map(|(i, (n, num))| (i as u32, n.clone(), num.clone()))
                        .collect();
                    (200, vec![], phonebook_xml(name, &c))
                }
                None => (404, vec![], String::new()),
            };
        }
        ("GET", "/callbarring") => return (200, vec![], phonebook_xml("Rufsperren", &st.barring)),
        ("POST", _) => {}
        _ => return (404, vec![], String::new()),
    }
    if let Some(refused) = authorize(st, auth) {
        return refused;
    }
    let Some((service, action)) = soapaction
        .map(|s| s.trim_matches('"'))
        .and_then(|s| s.split_once('#'))
    else {
        return fault(401, "Invalid Action");
    };
    let args = match soap::parse_request(body, action) {
        Ok(a) => a,
        Err(e) => return fault(402, &format!("Invalid Args: {e}")),
    };
    let call = Call {
        service,
        action,
        args: &args,
    };
    if !st.cfg.telefonie_right && service != "urn:dslforum-org:service:DeviceInfo:1" {
        return fault(606, "Action not authorized");
    }
    let changes = matches!(
        action,
        "X_AVM-DE_SetClient4" | "SetCallBarringEntry" | "DeleteCallBarringEntryUID"
    );
    if changes && st.cfg.second_factor && st.auth_state != AuthState::Authenticated {
        return fault(866, "second factor authentication required");
    }
    match service {
        crate::fritzbox::AUTH => auth_action(st, &call),
        crate::fritzbox::VOIP => voip_action(st, &call),
        crate::fritzbox::ONTEL => ontel_action(st, &call),
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

    fn ok(&self, out: &[(&str, String)]) -> Reply {
        ok(self.service, self.action, out)
    }
}

/// HTTP digest (RFC 2617) like the Box: qop=auth, MD5, our own nonces;
/// after 10 failed logins, 503. `None` when the request may go on.
fn authorize(st: &mut State, auth: Option<&str>) -> Option<Reply> {
    if st.failures >= 10 {
        return Some((503, vec![], String::new()));
    }
    let authorized = auth.is_some_and(|a| {
        let fields = digest::parse_auth(a).unwrap_or_default();
        let nonce_known = fields.iter().any(|(k, v)| k == "nonce" && st.nonces.contains(v));
        nonce_known && matches!(digest::verify(a, &st.cfg.admin_password, "POST"), Ok((u, true)) if u == st.cfg.admin_user)
    });
    if authorized {
        st.failures = 0;
        return None;
    }
    if auth.is_some() {
        st.failures += 1;
    }
    let nonce = format!("{:016X}", st.rng.random::<u64>());
    st.nonces.insert(nonce.clone());
    Some((
        401,
        vec![(
            "WWW-Authenticate",
            format!(
                "Digest realm=\"F!Box SOAP-Auth\", nonce=\"{nonce}\", algorithm=MD5, qop=\"auth\""
            ),
        )],
        String::new(),
    ))
}

/// X_AVM-DE_Auth: the second factor.
fn auth_action(st: &mut State, c: &Call) -> Reply {
    match c.action {
        "SetConfig" => {
            let start = c.arg("NewAction").as_deref() == Some("start");
            if start && st.auth_state == AuthState::WaitingForAuth {
                return fault(868, "Busy: another authentication is in progress");
            }
            st.auth_state = if start {
                AuthState::WaitingForAuth
            } else {
                AuthState::Stopped
            };
            c.ok(&[
                ("NewState", st.auth_state.as_str().into()),
                ("NewToken", format!("{:08x}", st.rng.random::<u32>())),
                ("NewMethods", "button;dtmf;*1234".into()),
            ])
        }
        "GetState" => c.ok(&[("NewState", st.auth_state.as_str().into())]),
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
        "X_AVM-DE_GetNumberOfClients" => c.ok(&[(
            "NewX_AVM-DE_NumberOfClients",
            st.cfg
                .claimed_clients
                .clone()
                .unwrap_or_else(|| st.phones.len().to_string()),
        )]),
        "X_AVM-DE_GetClient3" => {
            let i: usize = c
                .arg("NewX_AVM-DE_ClientIndex")
                .and_then(|v| v.parse().ok())
                .unwrap_or(usize::MAX);
            match st.phones.get(i) {
                Some(p) => c.ok(&[
                    ("NewX_AVM-DE_ClientUsername", p.username.clone()),
                    ("NewX_AVM-DE_PhoneName", p.name.clone()),
                    ("NewX_AVM-DE_ClientId", String::new()),
                    ("NewX_AVM-DE_OutGoingNumber", String::new()),
                    ("NewX_AVM-DE_InComingNumbers", p.incoming.clone()),
                    ("NewX_AVM-DE_ExternalRegistration", "0".into()),
                    ("NewX_AVM-DE_InternalNumber", p.internal.clone()),
                    ("NewX_AVM-DE_DelayedCallNotification", "0".into()),
                ]),
                None => fault(713, "Invalid array index"),
            }
        }
        "X_AVM-DE_SetClient4" => set_client(st, c),
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
    if user.len() < 4 || pw.len() < 8 {
        return fault(801, "String too short");
    }
    if user.len() > 64 || pw.len() > 64 {
        return fault(802, "String too long");
    }
    // An IP phone's password over TR-064: letters and digits only.
    if !valid_chars(&user) || !pw.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return fault(803, "String contains invalid characters");
    }
    if i > st.phones.len() {
        return fault(820, "Internal Error");
    }
    let phone = IpPhone {
        username: user.clone(),
        password: pw.clone(),
        name: c.arg("NewX_AVM-DE_PhoneName").unwrap_or_default(),
        incoming: c.arg("NewX_AVM-DE_InComingNumbers").unwrap_or_default(),
        internal: format!("**62{i}"),
    };
    let internal = phone.internal.clone();
    if i == st.phones.len() {
        st.phones.push(phone);
    } else {
        st.phones[i] = phone;
    }
    // The registrar takes the new credentials at once.
    let mut accounts = st.accounts.lock().unwrap_or_else(|p| p.into_inner());
    accounts.retain(|(u, _)| *u != user);
    accounts.push((user, pw));
    drop(accounts);
    c.ok(&[("NewX_AVM-DE_InternalNumber", internal)])
}

/// X_AVM-DE_OnTel: phonebooks and the call-barring list.
fn ontel_action(st: &mut State, c: &Call) -> Reply {
    match c.action {
        "GetPhonebookList" => {
            let ids: Vec<String> = (0..st.cfg.phonebooks.len())
                .map(|i| i.to_string())
                .collect();
            c.ok(&[("NewPhonebookList", ids.join(","))])
        }
        "GetPhonebook" => {
            let id: usize = c
                .arg("NewPhonebookID")
                .and_then(|v| v.parse().ok())
                .unwrap_or(usize::MAX);
            match st.cfg.phonebooks.get(id) {
                Some((name, _)) => c.ok(&[
                    ("NewPhonebookName", name.clone()),
                    ("NewPhonebookExtraID", String::new()),
                    ("NewPhonebookURL", format!("{}/phonebook?id={id}", st.base)),
                ]),
                None => fault(713, "Invalid array index"),
            }
        }
        "GetCallBarringEntryByNum" => {
            let n = c.arg("NewNumber").unwrap_or_default();
            match st.barring.iter().find(|(_, _, num)| *num == n) {
                Some((uid, name, num)) => {
                    let entry = phonebook_xml("Rufsperren", &[(*uid, name.clone(), num.clone())]);
                    c.ok(&[("NewPhonebookEntryData", entry)])
                }
                None => fault(714, "No matching entry found"),
            }
        }
        "SetCallBarringEntry" => {
            let data = c.arg("NewPhonebookEntryData").unwrap_or_default();
            let (Some(name), Some(number)) = (
                soap::tag_text(&data, "realName"),
                soap::tag_text(&data, "number"),
            ) else {
                return fault(402, "Invalid Args");
            };
            // Like the Box: always adds, even a duplicate.
            let uid = st.next_uid;
            st.next_uid += 1;
            st.barring.push((uid, name, number));
            c.ok(&[("NewPhonebookEntryUniqueID", uid.to_string())])
        }
        "GetCallBarringList" => c.ok(&[("NewPhonebookURL", format!("{}/callbarring", st.base))]),
        "DeleteCallBarringEntryUID" => {
            let uid: u32 = c
                .arg("NewPhonebookEntryUniqueID")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            let before = st.barring.len();
            st.barring.retain(|(u, _, _)| *u != uid);
            if st.barring.len() == before {
                return fault(714, "No matching entry found");
            }
            c.ok(&[])
        }
        _ => fault(401, "Invalid Action"),
    }
}
