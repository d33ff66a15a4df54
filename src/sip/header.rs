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

/// RFC 3261 §25.1 token characters.
pub fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b)
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
    let mut rest = s.trim_start();
    while !rest.is_empty() {
        rest = rest
            .strip_prefix(';')
            .ok_or(ParseError::Header("expected ';' before parameter"))?
            .trim_start();
        let end = rest
            .find(|c: char| !c.is_ascii() || !valid(c as u8))
            .unwrap_or(rest.len());
        let name = &rest[..end];
        if name.is_empty() {
            return Err(ParseError::Header("empty parameter"));
        }
        rest = rest[end..].trim_start();
        let value = if let Some(r) = rest.strip_prefix('=') {
            let r = r.trim_start();
            let (v, after) = if r.starts_with('"') {
                let n = quoted_len(r)?;
                (&r[..n], &r[n..])
            } else {
                let end = r.find([';', ' ', '\t']).unwrap_or(r.len());
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
            rest = after.trim_start();
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
    let b = s.as_bytes();
    let mut out = Vec::new();
    let (mut start, mut i, mut in_angle) = (0, 0, false);
    while i < b.len() {
        match b[i] {
            b'"' => {
                i += quoted_len(&s[i..])?;
                continue;
            }
            b'<' => in_angle = true,
            b'>' => in_angle = false,
            b',' if !in_angle => {
                out.push(s[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    out.push(s[start..].trim());
    if out.iter().any(|e| e.is_empty()) {
        return Err(ParseError::Header("empty list element"));
    }
    Ok(out)
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
        let s = s.trim();
        let lt = if s.starts_with('"') {
            let n = quoted_len(s)?;
            let after = s[n..].trim_start();
            if !after.starts_with('<') {
                return Err(ParseError::Header("quoted display name without <URI>"));
            }
            Some((Some(&s[..n]), s.len() - after.len()))
        } else {
            s.find('<')
                .map(|i| (Some(s[..i].trim()).filter(|d| !d.is_empty()), i))
        };
        let Some((display, lt)) = lt else {
            // addr-spec: the URI cannot hold ';' ',' '?' (RFC 3261 §20.10),
            // so parameters after it belong to the header.
            let end = s.find([';', ' ', '\t']).unwrap_or(s.len());
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
        let gt = rest.find('>').ok_or(ParseError::Header("missing '>'"))?;
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
        split_list(s)?.into_iter().map(Via::parse).collect()
    }

    pub fn parse(s: &str) -> Result<Via, ParseError> {
        // sent-protocol = name SLASH version SLASH transport, SLASH = SWS "/" SWS
        let mut parts = s.splitn(3, '/');
        let name = parts.next().unwrap_or("").trim();
        let version = parts.next().unwrap_or("").trim();
        let rest = parts
            .next()
            .ok_or(ParseError::Header("Via without protocol"))?;
        if !name.eq_ignore_ascii_case("SIP") || version != "2.0" {
            return Err(ParseError::Header("Via protocol is not SIP/2.0"));
        }
        let rest = rest.trim_start();
        let t_end = rest
            .find([' ', '\t'])
            .ok_or(ParseError::Header("Via without host"))?;
        let transport = &rest[..t_end];
        if !is_token(transport) {
            return Err(ParseError::Header("bad Via transport"));
        }
        let rest = rest[t_end..].trim_start();
        let hp_end = rest.find([';', ' ', '\t']).unwrap_or(rest.len());
        let hostport = &rest[..hp_end];
        let (host, port) = if hostport.starts_with('[') {
            match hostport.find(']') {
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
            match hostport.split_once(':') {
                Some((h, p)) => (h, Some(p)),
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
