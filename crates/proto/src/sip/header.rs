//! Typed header values (RFC 3261 §20, §25.1): parameters, name-addr,
//! Via, CSeq, and the list and quoting rules they share.

use std::fmt;

use super::ParseError;
use super::message::Method;
use super::uri::{Host, Uri, parse_port, parse_uri};

/// A `;name[=value]` parameter; the value is kept as sent (token, host or
/// quoted-string with its quotes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    pub name: String,
    pub value: Option<String>,
}

impl Param {
    pub fn new(name: impl Into<String>, value: Option<&str>) -> Param {
        Param {
            name: name.into(),
            value: value.map(str::to_owned),
        }
    }
}

/// A byte class as a lookup table: ASCII alphanumerics plus `extra`.
pub(crate) const fn byte_class(extra: &[u8]) -> [bool; 256] {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = (i as u8).is_ascii_alphanumeric();
        i += 1;
    }
    let mut j = 0;
    while j < extra.len() {
        t[extra[j] as usize] = true;
        j += 1;
    }
    t
}

const TOKEN: [bool; 256] = byte_class(b"-.!%*_+`'~");

/// RFC 3261 §25.1 token characters.
pub fn is_token_char(b: u8) -> bool {
    TOKEN[b as usize]
}

// Header values are short: plain byte loops beat `str::find`'s searcher
// setup here, and the parser calls these for every header.

/// Position of the ASCII byte `b` in `s`.
pub(crate) fn find_byte(s: &str, b: u8) -> Option<usize> {
    s.bytes().position(|x| x == b)
}

pub(crate) fn rfind_byte(s: &str, b: u8) -> Option<usize> {
    s.bytes().rposition(|x| x == b)
}

/// Position of the first SP, HTAB or `;` (where a hostport or URI ends).
fn find_ws_or_semi(s: &str) -> Option<usize> {
    s.bytes().position(|x| matches!(x, b' ' | b'\t' | b';'))
}

fn is_ws(b: &u8) -> bool {
    matches!(b, b' ' | b'\t')
}

/// Trims SP and HTAB (RFC 3261 §25.1 LWS, once lines are unfolded).
pub(crate) fn trim_ws(s: &str) -> &str {
    let b = s.as_bytes();
    let start = b.iter().position(|c| !is_ws(c)).unwrap_or(b.len());
    let end = b.iter().rposition(|c| !is_ws(c)).map_or(start, |e| e + 1);
    &s[start..end]
}

fn trim_ws_start(s: &str) -> &str {
    &s[s.bytes().position(|c| !is_ws(&c)).unwrap_or(s.len())..]
}

pub fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_token_char)
}

pub(crate) fn find_param<'a>(params: &'a [Param], name: &str) -> Option<Option<&'a str>> {
    params
        .iter()
        .find(|p| p.name.eq_ignore_ascii_case(name))
        .map(|p| p.value.as_deref())
}

pub(crate) fn write_params(f: &mut fmt::Formatter<'_>, params: &[Param]) -> fmt::Result {
    for p in params {
        match &p.value {
            Some(v) => write!(f, ";{}={}", p.name, v)?,
            None => write!(f, ";{}", p.name)?,
        }
    }
    Ok(())
}

/// Parses `;a=b;c…` (the input starts with `;`). `SEMI` and `EQUAL` may be
/// surrounded by whitespace (RFC 3261 §25.1); values may be quoted strings.
pub(crate) fn parse_params(s: &str, valid: fn(u8) -> bool) -> Result<Vec<Param>, ParseError> {
    let mut out = Vec::new();
    let mut rest = trim_ws_start(s);
    while !rest.is_empty() {
        rest = trim_ws_start(
            rest.strip_prefix(';')
                .ok_or(ParseError::Header("expected ';' before parameter"))?,
        );
        let end = rest.bytes().position(|b| !valid(b)).unwrap_or(rest.len());
        let name = &rest[..end];
        if name.is_empty() {
            return Err(ParseError::Header("empty parameter"));
        }
        rest = trim_ws_start(&rest[end..]);
        let value = if let Some(r) = rest.strip_prefix('=') {
            let r = trim_ws_start(r);
            let (v, after) = if r.starts_with('"') {
                let n = quoted_len(r)?;
                (&r[..n], &r[n..])
            } else {
                let end = find_ws_or_semi(r).unwrap_or(r.len());
                let v = &r[..end];
                // token, or host (IPv6 reference) for received= and maddr=
                if !v.bytes().all(|b| valid(b) || b"[]:".contains(&b)) {
                    return Err(ParseError::Header("bad character in parameter value"));
                }
                (v, &r[end..])
            };
            if v.is_empty() {
                return Err(ParseError::Header("empty parameter value"));
            }
            rest = trim_ws_start(after);
            Some(v.to_owned())
        } else {
            None
        };
        out.push(Param {
            name: name.to_owned(),
            value,
        });
    }
    Ok(out)
}

/// Length in bytes of the quoted-string at the start of `s`, quotes included.
pub(crate) fn quoted_len(s: &str) -> Result<usize, ParseError> {
    let b = s.as_bytes();
    debug_assert_eq!(b.first(), Some(&b'"'));
    let mut i = 1;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'"' => return Ok(i + 1),
            _ => i += 1,
        }
    }
    Err(ParseError::Header("unterminated quoted string"))
}

/// Removes the quotes and quoted-pair escapes of a quoted-string.
pub fn unquote(s: &str) -> String {
    let inner = s
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(s);
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Quotes a display name for a header (RFC 3261 §25.1 quoted-string).
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        if c != '\r' && c != '\n' {
            out.push(c);
        }
    }
    out.push('"');
    out
}

/// Splits a header value at the commas that separate list elements,
/// ignoring commas inside quoted strings and `<…>` (RFC 3261 §7.3.1).
/// An empty element is an error.
pub fn split_list(s: &str) -> Result<Vec<&str>, ParseError> {
    list_elements(s).collect()
}

/// [`split_list`] as an iterator, for checks that need no list.
pub(crate) fn list_elements(s: &str) -> impl Iterator<Item = Result<&str, ParseError>> {
    let b = s.as_bytes();
    // Most values are one element: no comma, nothing to scan for.
    let single = memchr::memchr(b',', b).is_none();
    let mut start = Some(0);
    std::iter::from_fn(move || {
        if single {
            start.take()?;
            let element = trim_ws(s);
            return Some(if element.is_empty() {
                Err(ParseError::Header("empty list element"))
            } else {
                Ok(element)
            });
        }
        let from = start?;
        let (mut i, mut in_angle) = (from, false);
        let end = loop {
            match b.get(i) {
                None => break None,
                Some(b'"') => match quoted_len(&s[i..]) {
                    Ok(n) => i += n,
                    Err(e) => {
                        start = None;
                        return Some(Err(e));
                    }
                },
                Some(b'<') => (in_angle, i) = (true, i + 1),
                Some(b'>') => (in_angle, i) = (false, i + 1),
                Some(b',') if !in_angle => break Some(i),
                Some(_) => i += 1,
            }
        };
        start = end.map(|e| e + 1);
        let element = trim_ws(&s[from..end.unwrap_or(b.len())]);
        if element.is_empty() {
            start = None;
            return Some(Err(ParseError::Header("empty list element")));
        }
        Some(Ok(element))
    })
}

/// `name-addr / addr-spec` followed by header parameters: the value of
/// From, To, Contact, Route, Record-Route, P-Called-Party-ID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameAddr {
    /// The display name as sent (a token sequence, or a quoted-string with quotes).
    pub display: Option<String>,
    pub uri: Uri,
    pub params: Vec<Param>,
}

impl NameAddr {
    pub fn new(uri: Uri) -> NameAddr {
        NameAddr {
            display: None,
            uri,
            params: Vec::new(),
        }
    }

    /// The display name without quotes and escapes.
    pub fn display_name(&self) -> Option<String> {
        self.display
            .as_deref()
            .map(unquote)
            .filter(|d| !d.is_empty())
    }

    pub fn param(&self, name: &str) -> Option<Option<&str>> {
        find_param(&self.params, name)
    }

    pub fn tag(&self) -> Option<&str> {
        self.param("tag").flatten()
    }

    pub fn set_param(&mut self, name: &str, value: Option<&str>) {
        self.params.retain(|p| !p.name.eq_ignore_ascii_case(name));
        self.params.push(Param::new(name, value));
    }

    pub fn parse(s: &str) -> Result<NameAddr, ParseError> {
        let s = trim_ws(s);
        let lt = if s.starts_with('"') {
            let n = quoted_len(s)?;
            let after = trim_ws_start(&s[n..]);
            if !after.starts_with('<') {
                return Err(ParseError::Header("quoted display name without <URI>"));
            }
            Some((Some(&s[..n]), s.len() - after.len()))
        } else {
            find_byte(s, b'<').map(|i| (Some(trim_ws(&s[..i])).filter(|d| !d.is_empty()), i))
        };
        let Some((display, lt)) = lt else {
            // addr-spec: the URI cannot hold ';' ',' '?' (RFC 3261 §20.10),
            // so parameters after it belong to the header.
            let end = find_ws_or_semi(s).unwrap_or(s.len());
            let uri_str = &s[..end];
            if uri_str.contains('?') || uri_str.contains(',') {
                return Err(ParseError::Header(
                    "URI with '?' or ',' must be enclosed in <>",
                ));
            }
            return Ok(NameAddr {
                display: None,
                uri: parse_uri(uri_str)?,
                params: parse_params(&s[end..], is_token_char)?,
            });
        };
        if let Some(d) = display
            && !d.starts_with('"')
            && !d.split([' ', '\t']).filter(|w| !w.is_empty()).all(is_token)
        {
            return Err(ParseError::Header(
                "display name must be tokens or a quoted string",
            ));
        }
        let rest = &s[lt + 1..];
        let gt = find_byte(rest, b'>').ok_or(ParseError::Header("missing '>'"))?;
        let uri_str = &rest[..gt];
        if uri_str.starts_with([' ', '\t']) || uri_str.ends_with([' ', '\t']) {
            return Err(ParseError::Header("whitespace inside <URI>"));
        }
        Ok(NameAddr {
            display: display.map(str::to_owned),
            uri: parse_uri(uri_str)?,
            params: parse_params(&rest[gt + 1..], is_token_char)?,
        })
    }
}

impl fmt::Display for NameAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(d) = &self.display {
            write!(f, "{d} ")?;
        }
        write!(f, "<{}>", self.uri)?;
        write_params(f, &self.params)
    }
}

/// One Via value (RFC 3261 §20.42): `SIP/2.0/UDP host:port;branch=…`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Via {
    pub transport: String,
    pub host: Host,
    pub port: Option<u16>,
    pub params: Vec<Param>,
}

/// RFC 3261 §8.1.1.7: branches of RFC 3261 elements start with this cookie.
pub const BRANCH_COOKIE: &str = "z9hG4bK";

impl Via {
    pub fn branch(&self) -> Option<&str> {
        find_param(&self.params, "branch").flatten()
    }

    pub fn received(&self) -> Option<&str> {
        find_param(&self.params, "received").flatten()
    }

    /// `Some(None)` when `rport` is present without a value (RFC 3581).
    pub fn rport(&self) -> Option<Option<u16>> {
        find_param(&self.params, "rport").map(|v| v.and_then(|v| v.parse().ok()))
    }

    pub fn parse_list(s: &str) -> Result<Vec<Via>, ParseError> {
        list_elements(s).map(|e| Via::parse(e?)).collect()
    }

    pub fn parse(s: &str) -> Result<Via, ParseError> {
        // sent-protocol = name SLASH version SLASH transport, SLASH = SWS "/" SWS
        let mut parts = s.splitn(3, '/');
        let name = trim_ws(parts.next().unwrap_or(""));
        let version = trim_ws(parts.next().unwrap_or(""));
        let rest = parts
            .next()
            .ok_or(ParseError::Header("Via without protocol"))?;
        if !name.eq_ignore_ascii_case("SIP") || version != "2.0" {
            return Err(ParseError::Header("Via protocol is not SIP/2.0"));
        }
        let rest = trim_ws_start(rest);
        let t_end = rest
            .bytes()
            .position(|b| is_ws(&b))
            .ok_or(ParseError::Header("Via without host"))?;
        let transport = &rest[..t_end];
        if !is_token(transport) {
            return Err(ParseError::Header("bad Via transport"));
        }
        let rest = trim_ws_start(&rest[t_end..]);
        let hp_end = find_ws_or_semi(rest).unwrap_or(rest.len());
        let hostport = &rest[..hp_end];
        let (host, port) = if hostport.starts_with('[') {
            match find_byte(hostport, b']') {
                Some(i) if i + 1 == hostport.len() => (hostport, None),
                Some(i) => (
                    &hostport[..=i],
                    Some(
                        hostport[i + 1..]
                            .strip_prefix(':')
                            .ok_or(ParseError::Header("bad Via port"))?,
                    ),
                ),
                None => return Err(ParseError::Header("bad Via host")),
            }
        } else {
            match find_byte(hostport, b':') {
                Some(i) => (&hostport[..i], Some(&hostport[i + 1..])),
                None => (hostport, None),
            }
        };
        let port = port.map(parse_port).transpose()?;
        let params = parse_params(&rest[hp_end..], |b| {
            is_token_char(b) || b == b':' || b == b'[' || b == b']'
        })?;
        Ok(Via {
            transport: transport.to_ascii_uppercase(),
            host: Host::parse(host)?,
            port,
            params,
        })
    }
}

impl fmt::Display for Via {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SIP/2.0/{} {}", self.transport, self.host)?;
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        write_params(f, &self.params)
    }
}

/// CSeq (RFC 3261 §20.16): the sequence number is below 2^31 (§8.1.1.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CSeq {
    pub seq: u32,
    pub method: Method,
}

impl CSeq {
    pub fn parse(s: &str) -> Result<CSeq, ParseError> {
        let mut it = s.split_ascii_whitespace();
        let (Some(n), Some(m), None) = (it.next(), it.next(), it.next()) else {
            return Err(ParseError::Header("CSeq must be 'number method'"));
        };
        let seq = parse_bounded(n, (1u64 << 31) - 1)
            .ok_or(ParseError::Header("CSeq number out of range"))?;
        if !is_token(m) {
            return Err(ParseError::Header("bad CSeq method"));
        }
        Ok(CSeq {
            seq: seq as u32,
            method: Method::from_token(m),
        })
    }
}

impl fmt::Display for CSeq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.seq, self.method)
    }
}

/// Parses 1*DIGIT no larger than `max`, without overflowing on long input.
pub fn parse_bounded(s: &str, max: u64) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut v: u64 = 0;
    for b in s.bytes() {
        v = v.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
        if v > max {
            return None;
        }
    }
    Some(v)
}

/// `delta-seconds` (Expires, `;expires=`): at most 2^32-1 (RFC 3261 §25.1).
pub fn parse_delta_seconds(s: &str) -> Option<u32> {
    parse_bounded(s.trim(), u64::from(u32::MAX)).map(|v| v as u32)
}

/// RFC 3261 §20.17: `Date: Sat, 13 Nov 2010 23:29:00 GMT` — only GMT.
pub fn is_valid_date(s: &str) -> bool {
    let f: Vec<&str> = s.split_ascii_whitespace().collect();
    const DAYS: [&str; 7] = ["Mon,", "Tue,", "Wed,", "Thu,", "Fri,", "Sat,", "Sun,"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    f.len() == 6
        && DAYS.contains(&f[0])
        && digits(f[1], 2)
        && MONTHS.contains(&f[2])
        && digits(f[3], 4)
        && f[4].len() == 8
        && f[4].split(':').all(|p| digits(p, 2))
        && f[4].split(':').count() == 3
        && f[5] == "GMT"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_addr_forms() {
        let n = NameAddr::parse("\"Haui Mobil\" <sip:**622@fritz.box>;tag=AB12").unwrap();
        assert_eq!(n.display_name().as_deref(), Some("Haui Mobil"));
        assert_eq!(n.tag(), Some("AB12"));
        let n = NameAddr::parse("sip:040855992611@fritz.box;tag=1").unwrap();
        assert_eq!(n.tag(), Some("1"));
        assert_eq!(
            n.uri.as_sip().unwrap().user.as_deref(),
            Some("040855992611")
        );
        let n = NameAddr::parse("caller<sip:caller@example.com>;tag=323").unwrap();
        assert_eq!(n.display_name().as_deref(), Some("caller"));
        assert!(NameAddr::parse("Bell, Alexander <sip:a@b>").is_err());
        assert!(NameAddr::parse("\"Mr. J. User <sip:j.user@example.com>").is_err());
        assert!(NameAddr::parse("< sip:t.watson@example.org >").is_err());
        assert!(NameAddr::parse("\"Joe\" <sip:joe@example.org>;;;;").is_err());
    }

    #[test]
    fn via_forms() {
        let v = Via::parse(
            "SIP/2.0/UDP 192.168.178.1:5060;branch=z9hG4bK1;rport=5060;received=1.2.3.4",
        )
        .unwrap();
        assert_eq!(v.branch(), Some("z9hG4bK1"));
        assert_eq!(v.rport(), Some(Some(5060)));
        assert_eq!(v.port, Some(5060));
        let v = Via::parse("SIP/2.0/UDP [fd00::2]:5062;branch=z9hG4bKx;rport").unwrap();
        assert_eq!(v.rport(), Some(None));
        assert_eq!(
            v.to_string(),
            "SIP/2.0/UDP [fd00::2]:5062;branch=z9hG4bKx;rport"
        );
        assert!(Via::parse_list("SIP/2.0/UDP 192.0.2.15;;,;,,").is_err());
    }

    #[test]
    fn scalars() {
        assert_eq!(parse_bounded("0009", 100), Some(9));
        assert_eq!(parse_bounded("36893488147419103232", u64::MAX), None);
        assert!(CSeq::parse("2147483648 INVITE").is_err());
        assert_eq!(CSeq::parse("0009\t INVITE").unwrap().seq, 9);
        assert!(is_valid_date("Sat, 13 Nov 2010 23:29:00 GMT"));
        assert!(!is_valid_date("Fri, 01 Jan 2010 16:00:00 EST"));
    }
}
