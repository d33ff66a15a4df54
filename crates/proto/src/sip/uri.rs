//! SIP URIs (RFC 3261 §19.1, §25.1): `sip:user:password@host:port;params?headers`.
//!
//! The user part and parameters are kept exactly as sent (still %-escaped) so
//! that a message round-trips byte for byte; [`SipUri::user_unescaped`] gives
//! the decoded form for the application.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::ParseError;
use super::lex::{
    Params, ParamsRef, byte_class, check_params, decimal, find_byte, rfind_byte, write_pushed,
};

/// Any URI that may appear in a SIP message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Uri {
    /// `sip:` or `sips:`: parsed into parts.
    Sip(SipUri),
    /// Any other scheme (`tel:`, `isbn:`, `http:` …), kept opaque
    /// (RFC 4475 §3.3.2 and §3.3.4: such URIs must still parse).
    Absolute(String),
}

impl Uri {
    /// The `sip:`/`sips:` URI, if it is one.
    pub fn as_sip(&self) -> Option<&SipUri> {
        match self {
            Uri::Sip(u) => Some(u),
            Uri::Absolute(_) => None,
        }
    }

    /// Appends the URI as sent. Messages are written without the
    /// formatting machinery: on the phone's turn it would be most of the
    /// code an answer runs through.
    pub(crate) fn push_to(&self, out: &mut String) {
        match self {
            Uri::Sip(u) => u.push_to(out),
            Uri::Absolute(s) => out.push_str(s),
        }
    }
}

impl fmt::Display for Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_pushed(f, |s| self.push_to(s))
    }
}

/// The host part of a SIP URI or Via.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Host {
    /// A host name, as written.
    Name(String),
    /// An IPv4 or IPv6 literal.
    Ip(IpAddr),
}

impl Host {
    /// The address, for an IP literal.
    pub fn ip(&self) -> Option<IpAddr> {
        match self {
            Host::Ip(ip) => Some(*ip),
            Host::Name(_) => None,
        }
    }

    /// RFC 3261 §25.1 `host = hostname / IPv4address / IPv6reference`.
    pub fn parse(s: &str) -> Result<Host, ParseError> {
        HostRef::parse(s).map(HostRef::into_owned)
    }

    /// Appends the host as written in a URI or Via: an IPv6 address in
    /// brackets.
    pub(crate) fn push_to(&self, out: &mut String) {
        match self {
            Host::Name(n) => out.push_str(n),
            Host::Ip(IpAddr::V4(a)) => {
                for (i, o) in a.octets().into_iter().enumerate() {
                    if i > 0 {
                        out.push('.');
                    }
                    out.push_str(decimal(o.into(), &mut [0; 20]));
                }
            }
            Host::Ip(IpAddr::V6(a)) => {
                use fmt::Write as _;
                let _ = write!(out, "[{a}]");
            }
        }
    }
}

/// The host part as received: a name stays where it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostRef<'a> {
    /// A host name, as written.
    Name(&'a str),
    /// An IPv4 or IPv6 literal.
    Ip(IpAddr),
}

impl<'a> HostRef<'a> {
    /// RFC 3261 §25.1 `host = hostname / IPv4address / IPv6reference`.
    pub fn parse(s: &'a str) -> Result<HostRef<'a>, ParseError> {
        if let Some(inner) = s.strip_prefix('[') {
            let inner = inner
                .strip_suffix(']')
                .ok_or(ParseError::Uri("unterminated IPv6 reference"))?;
            return inner
                .parse::<Ipv6Addr>()
                .map(|a| HostRef::Ip(IpAddr::V6(a)))
                .map_err(|_| ParseError::Uri("bad IPv6 address"));
        }
        if s.is_empty() {
            return Err(ParseError::Uri("empty host"));
        }
        if s.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
            return parse_ipv4(s)
                .map(|a| HostRef::Ip(IpAddr::V4(a)))
                .ok_or(ParseError::Uri("bad IPv4 address"));
        }
        if !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        {
            return Err(ParseError::Uri("bad character in host name"));
        }
        Ok(HostRef::Name(s))
    }

    /// A copy.
    pub fn into_owned(self) -> Host {
        match self {
            HostRef::Name(n) => Host::Name(n.to_owned()),
            HostRef::Ip(ip) => Host::Ip(ip),
        }
    }
}

impl From<IpAddr> for Host {
    fn from(ip: IpAddr) -> Self {
        Host::Ip(ip)
    }
}

/// An address as `IpAddr::from_str` reads it, IPv4 without its general
/// parser.
pub(crate) fn parse_ip(s: &str) -> Option<IpAddr> {
    match parse_ipv4(s) {
        Some(a) => Some(IpAddr::V4(a)),
        // An IPv6 address has a ':'; skip its parser for anything else.
        None if s.contains(':') => s.parse::<Ipv6Addr>().ok().map(IpAddr::V6),
        None => None,
    }
}

/// A dotted quad (RFC 3261 §25.1 `IPv4address`) as `Ipv4Addr::from_str`
/// reads it (four decimal octets up to 255, no leading zeros), without the
/// general parser's code on the phone's turn.
fn parse_ipv4(s: &str) -> Option<Ipv4Addr> {
    let mut octets = [0u8; 4];
    let mut parts = s.split('.');
    for octet in &mut octets {
        let p = parts.next()?.as_bytes();
        if p.is_empty() || p.len() > 3 || (p.len() > 1 && p[0] == b'0') {
            return None;
        }
        let v = p.iter().try_fold(0u16, |v, &b| {
            b.is_ascii_digit().then(|| v * 10 + u16::from(b - b'0'))
        })?;
        *octet = u8::try_from(v).ok()?;
    }
    parts.next().is_none().then_some(Ipv4Addr::from(octets))
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_pushed(f, |s| self.push_to(s))
    }
}

/// A `sip:`/`sips:` URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipUri {
    /// `sips:`.
    pub secure: bool,
    /// User part, still %-escaped.
    pub user: Option<String>,
    /// `user:password@`, never sent by us.
    pub password: Option<String>,
    /// The host.
    pub host: Host,
    /// The port, when given (else 5060).
    pub port: Option<u16>,
    /// `;name=value` URI parameters.
    pub params: Params,
    /// `?h=v&…` without the `?`, kept raw.
    pub headers: Option<String>,
}

impl SipUri {
    /// A plain `sip:host[:port]` URI.
    pub fn new(host: Host, port: Option<u16>) -> SipUri {
        SipUri {
            secure: false,
            user: None,
            password: None,
            host,
            port,
            params: Params::new(),
            headers: None,
        }
    }

    /// The same URI with this user part.
    pub fn with_user(mut self, user: impl Into<String>) -> SipUri {
        self.user = Some(user.into());
        self
    }

    /// The user part with %-escapes decoded (RFC 3261 §19.1.2).
    pub fn user_unescaped(&self) -> Option<String> {
        self.user.as_deref().map(unescape)
    }

    /// A URI parameter: `Some(None)` when present without a value.
    pub fn param(&self, name: &str) -> Option<Option<&str>> {
        self.params.get(name)
    }

    /// Parses a `sip:`/`sips:` URI (RFC 3261 §19.1).
    pub fn parse(s: &str) -> Result<SipUri, ParseError> {
        SipUriRef::parse(s).map(SipUriRef::into_owned)
    }

    /// Appends the URI as sent.
    pub(crate) fn push_to(&self, out: &mut String) {
        out.push_str(if self.secure { "sips:" } else { "sip:" });
        if let Some(u) = &self.user {
            out.push_str(u);
            if let Some(p) = &self.password {
                out.push(':');
                out.push_str(p);
            }
            out.push('@');
        }
        self.host.push_to(out);
        if let Some(p) = self.port {
            out.push(':');
            out.push_str(decimal(p.into(), &mut [0; 20]));
        }
        out.push_str(self.params.as_str());
        if let Some(h) = &self.headers {
            out.push('?');
            out.push_str(h);
        }
    }
}

impl fmt::Display for SipUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_pushed(f, |s| self.push_to(s))
    }
}

/// A `sip:`/`sips:` URI as received: its parts are where they were.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SipUriRef<'a> {
    /// `sips:`.
    pub secure: bool,
    /// User part, still %-escaped.
    pub user: Option<&'a str>,
    /// `user:password@`.
    pub password: Option<&'a str>,
    /// The host.
    pub host: HostRef<'a>,
    /// The port, when given (else 5060).
    pub port: Option<u16>,
    /// `;name=value` URI parameters.
    pub params: ParamsRef<'a>,
    /// `?h=v&…` without the `?`.
    pub headers: Option<&'a str>,
}

impl<'a> SipUriRef<'a> {
    /// Parses a `sip:`/`sips:` URI (RFC 3261 §19.1).
    pub fn parse(s: &'a str) -> Result<SipUriRef<'a>, ParseError> {
        let (secure, rest) = if let Some(r) = strip_prefix_ci(s, "sips:") {
            (true, r)
        } else if let Some(r) = strip_prefix_ci(s, "sip:") {
            (false, r)
        } else {
            return Err(ParseError::Uri("not a sip: URI"));
        };
        // '@' can only occur in the userinfo: params and headers exclude it.
        let (userinfo, rest) = match find_byte(rest, b'@') {
            Some(i) => (Some(&rest[..i]), &rest[i + 1..]),
            None => (None, rest),
        };
        let (user, password) = match userinfo {
            None => (None, None),
            Some(ui) => {
                let (u, p) = match find_byte(ui, b':') {
                    Some(i) => (&ui[..i], Some(&ui[i + 1..])),
                    None => (ui, None),
                };
                if u.is_empty() || !u.bytes().all(is_user_char) {
                    return Err(ParseError::Uri("bad character in user part"));
                }
                if let Some(p) = p
                    && !p.bytes().all(is_password_char)
                {
                    return Err(ParseError::Uri("bad character in password"));
                }
                (Some(u), p)
            }
        };
        let (rest, headers) = match find_byte(rest, b'?') {
            Some(i) => (&rest[..i], Some(&rest[i + 1..])),
            None => (rest, None),
        };
        if let Some(h) = headers
            && (h.is_empty() || !h.bytes().all(is_header_char))
        {
            return Err(ParseError::Uri("bad URI headers"));
        }
        let (hostport, params) = match find_byte(rest, b';') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        let (host, port) = split_hostport(hostport)?;
        if params.bytes().any(|b| b == b' ' || b == b'\t') {
            return Err(ParseError::Uri("whitespace in URI"));
        }
        let params = check_params(params, is_param_char)?;
        Ok(SipUriRef {
            secure,
            user,
            password,
            host,
            port,
            params,
            headers,
        })
    }

    /// A copy.
    pub fn into_owned(self) -> SipUri {
        SipUri {
            secure: self.secure,
            user: self.user.map(str::to_owned),
            password: self.password.map(str::to_owned),
            host: self.host.into_owned(),
            port: self.port,
            params: self.params.into_owned(),
            headers: self.headers.map(str::to_owned),
        }
    }

    /// The user part with %-escapes decoded (RFC 3261 §19.1.2).
    pub fn user_unescaped(&self) -> Option<String> {
        self.user.map(unescape)
    }
}

/// Any URI as received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UriRef<'a> {
    /// `sip:` or `sips:`: parsed into parts.
    Sip(SipUriRef<'a>),
    /// Any other scheme, opaque.
    Absolute(&'a str),
}

impl<'a> UriRef<'a> {
    /// The `sip:`/`sips:` URI, if it is one.
    pub fn as_sip(&self) -> Option<&SipUriRef<'a>> {
        match self {
            UriRef::Sip(u) => Some(u),
            UriRef::Absolute(_) => None,
        }
    }

    /// A copy.
    pub fn into_owned(self) -> Uri {
        match self {
            UriRef::Sip(u) => Uri::Sip(u.into_owned()),
            UriRef::Absolute(s) => Uri::Absolute(s.to_owned()),
        }
    }
}

/// Parses any URI: sip/sips into parts, other schemes kept opaque.
pub(crate) fn parse_uri(s: &str) -> Result<Uri, ParseError> {
    parse_uri_ref(s).map(UriRef::into_owned)
}

/// Parses any URI without copying it.
pub(crate) fn parse_uri_ref(s: &str) -> Result<UriRef<'_>, ParseError> {
    if strip_prefix_ci(s, "sip:").is_some() || strip_prefix_ci(s, "sips:").is_some() {
        return SipUriRef::parse(s).map(UriRef::Sip);
    }
    // RFC 3986 scheme ":" then anything without whitespace or angle brackets.
    let colon = find_byte(s, b':').ok_or(ParseError::Uri("URI without scheme"))?;
    let scheme = &s[..colon];
    let scheme_ok = scheme
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic())
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b));
    let rest_ok = colon + 1 < s.len()
        && s.bytes()
            .all(|b| b > b' ' && b < 0x7f && !b"<>\"".contains(&b));
    if !scheme_ok || !rest_ok {
        return Err(ParseError::Uri("malformed absolute URI"));
    }
    Ok(UriRef::Absolute(s))
}

fn split_hostport(s: &str) -> Result<(HostRef<'_>, Option<u16>), ParseError> {
    let (host, port) = if s.starts_with('[') {
        match find_byte(s, b']') {
            Some(i) if i + 1 == s.len() => (s, None),
            Some(i) if s.as_bytes()[i + 1] == b':' => (&s[..=i], Some(&s[i + 2..])),
            _ => return Err(ParseError::Uri("bad IPv6 reference")),
        }
    } else {
        match rfind_byte(s, b':') {
            Some(i) => (&s[..i], Some(&s[i + 1..])),
            None => (s, None),
        }
    };
    let port = match port {
        None => None,
        Some(p) => Some(parse_port(p)?),
    };
    Ok((HostRef::parse(host)?, port))
}

pub(crate) fn parse_port(p: &str) -> Result<u16, ParseError> {
    if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ParseError::Uri("bad port"));
    }
    p.parse().map_err(|_| ParseError::Uri("port out of range"))
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    if s.len() >= prefix.len()
        && s.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
    {
        Some(&s[prefix.len()..])
    } else {
        None
    }
}

/// Decodes %XX escapes; an invalid escape is kept literally (RFC 4475 §3.1.1.5).
pub fn unescape(s: &str) -> String {
    if !s.contains('%') {
        return s.to_owned();
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2]))
        {
            out.push(h << 4 | l);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

// RFC 3261 §25.1 character classes (unreserved = alphanum / mark
// "-_.!~*'()"), as tables: the parser's inner loops.
// user = 1*( unreserved / escaped / user-unreserved )
const USER: [bool; 256] = byte_class(b"-_.!~*'()%&=+$,;?/");
const PASSWORD: [bool; 256] = byte_class(b"-_.!~*'()%&=+$,");
// paramchar = param-unreserved / unreserved / escaped
const PARAM: [bool; 256] = byte_class(b"-_.!~*'()%[]/:&+$");
// hnv-unreserved / unreserved / escaped, plus the '=' and '&' separators
const HEADER: [bool; 256] = byte_class(b"-_.!~*'()%[]/?:+$=&");

fn is_user_char(b: u8) -> bool {
    USER[b as usize]
}

fn is_password_char(b: u8) -> bool {
    PASSWORD[b as usize]
}

fn is_param_char(b: u8) -> bool {
    PARAM[b as usize]
}

fn is_header_char(b: u8) -> bool {
    HEADER[b as usize]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_fritzbox_uris() {
        let u = SipUri::parse("sip:040855992611@fritz.box").unwrap();
        assert_eq!(u.user.as_deref(), Some("040855992611"));
        assert_eq!(u.host, Host::Name("fritz.box".into()));
        let u = SipUri::parse("sip:**622@192.168.178.1:5060;transport=udp").unwrap();
        assert_eq!(u.user.as_deref(), Some("**622"));
        assert_eq!(u.port, Some(5060));
        assert_eq!(u.param("transport"), Some(Some("udp")));
        let u = SipUri::parse("sip:620@[fd00::1]:5062").unwrap();
        assert_eq!(u.host, Host::Ip("fd00::1".parse().unwrap()));
        assert_eq!(u.to_string(), "sip:620@[fd00::1]:5062");
    }

    #[test]
    fn rejects_bad_uris() {
        for bad in [
            "sip:",
            "sip:user@",
            "sip:user@host:99999",
            "sip:us er@host",
            "sip:host;",
            "sip:[::1",
            "sip:user@ho_st",
        ] {
            assert!(SipUri::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn reads_ipv4_as_the_standard_library_does() {
        for s in [
            "192.168.178.1",
            "0.0.0.0",
            "255.255.255.255",
            "256.1.1.1",
            "01.2.3.4",
            "1.2.3",
            "1.2.3.4.5",
            "1..3.4",
            "1.2.3.",
            "1000.1.1.1",
            "10.0.0.010",
            "fd00::1",
            "::ffff:1.2.3.4",
            "fd00::1::2",
            "",
        ] {
            assert_eq!(parse_ipv4(s), s.parse::<Ipv4Addr>().ok(), "{s}");
            assert_eq!(parse_ip(s), s.parse::<IpAddr>().ok(), "{s}");
        }
        // And 50,000 strings of what addresses are made of, the same.
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::SmallRng::seed_from_u64(35);
        for i in 0..50_000 {
            let s: String = if i % 2 == 0 {
                let len = rng.random_range(0..18);
                (0..len)
                    .map(|_| char::from(b"0123456789..::af+"[rng.random_range(0..17)]))
                    .collect()
            } else {
                // Dotted quads (and threes and fives) of 1 to 4 digits.
                let parts: Vec<String> = (0..rng.random_range(3..6))
                    .map(|_| {
                        (0..rng.random_range(1..5))
                            .map(|_| char::from(b'0' + rng.random_range(0..10u8)))
                            .collect()
                    })
                    .collect();
                parts.join(".")
            };
            assert_eq!(parse_ip(&s), s.parse::<IpAddr>().ok(), "{s}");
        }
    }

    #[test]
    fn unescapes() {
        assert_eq!(unescape("sip%3Auser%40host"), "sip:user@host");
        assert_eq!(unescape("%Z%45"), "%ZE");
        assert_eq!(unescape("50%"), "50%");
    }
}
