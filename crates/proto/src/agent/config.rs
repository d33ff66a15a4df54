//! The phone's account and its settings: what the agent is made with.

use super::*;

/// What the phone needs to know about its account and itself.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the registrar listens (the FRITZ!Box's SIP port).
    pub registrar: SocketAddr,
    /// The registrar's host as it appears in URIs: `fritz.box` or its IP.
    pub domain: Host,
    /// Port to name in URIs, if not the default 5060.
    pub domain_port: Option<u16>,
    /// The IP phone's user name at the Box (`620`).
    pub user: String,
    /// Its password (digest auth, RFC 3261 §22).
    pub password: String,
    /// The address the Box reaches us at: our Contact and Via sent-by.
    pub contact: SocketAddr,
    /// The registration lifetime we ask for; the Box decides.
    pub expires: u32,
    /// Refresh at least this often, even when the grant is longer: after a
    /// Box reboot the binding is gone and only a REGISTER brings it back.
    pub max_refresh: Duration,
    /// `+sip.instance` (RFC 5626), stable for the phone's life.
    pub instance: String,
    /// Sources other than the registrar's IP whose requests we accept.
    pub trusted: Vec<IpAddr>,
    /// Our User-Agent header.
    pub user_agent: String,
    /// The RTP port named in our SDP answer (no media is sent).
    pub rtp_port: u16,
    /// Seed for tags, branches and jitter; tests fix it.
    pub seed: u64,
}

impl Config {
    /// The usual settings for `user` at `registrar`, reached at `contact`.
    pub fn new(registrar: SocketAddr, user: &str, password: &str, contact: SocketAddr) -> Config {
        let instance = stable_uuid(&format!("{user}@{registrar}/{contact}"));
        Config {
            registrar,
            domain: Host::Ip(registrar.ip()),
            domain_port: (registrar.port() != 5060).then_some(registrar.port()),
            user: user.to_owned(),
            password: password.to_owned(),
            contact,
            expires: 300,
            max_refresh: Duration::from_secs(60),
            instance,
            trusted: Vec::new(),
            user_agent: concat!("minisip4fb/", env!("CARGO_PKG_VERSION")).to_owned(),
            rtp_port: 7078,
            seed: rand::random(),
        }
    }

    /// `sip:fritz.box` — the REGISTER Request-URI has no user part
    /// (FRITZ!OS 8.25 drops REGISTERs that have one; FRITZBOX.md).
    pub fn registrar_uri(&self) -> SipUri {
        SipUri::new(self.domain.clone(), self.domain_port)
    }

    /// Our address of record, `sip:620@fritz.box`.
    pub fn aor(&self) -> SipUri {
        self.registrar_uri().with_user(self.user.clone())
    }

    /// Our Contact, `sip:620@192.168.178.20:5062`.
    pub fn contact_uri(&self) -> SipUri {
        SipUri::new(Host::Ip(self.contact.ip()), Some(self.contact.port()))
            .with_user(self.user.clone())
    }
}

/// A name-based UUID (RFC 4122 §4.3 layout, MD5) so the instance id stays
/// the same across restarts of the same phone.
fn stable_uuid(seed: &str) -> String {
    use md5::{Digest, Md5};
    let mut b: [u8; 16] = Md5::digest(seed.as_bytes()).into();
    b[6] = (b[6] & 0x0f) | 0x30;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "urn:uuid:{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}
