//! Typed header values (RFC 3261 §20, §25.1): parameters, name-addr,
//! Via, CSeq, and the list and quoting rules they share.

use std::borrow::Cow;
use std::fmt;

use super::ParseError;
use super::lex::{
    Params, ParamsRef, check_params, find_byte, find_ws_or_semi, is_token, is_token_char, is_ws,
    list_elements, parse_bounded, parse_params, quoted_len, trim_ws, trim_ws_start, unquote,
};
use super::method::Method;
use super::uri::{Host, Uri, UriRef, parse_port, parse_uri_ref};

/// `name-addr / addr-spec` followed by header parameters: the value of
/// From, To, Contact, Route, Record-Route, P-Called-Party-ID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameAddr {
    /// The display name as sent (a token sequence, or a quoted-string with quotes).
    pub display: Option<String>,
    /// The address.
    pub uri: Uri,
    /// Header parameters (`;tag=…`).
    pub params: Params,
}

impl NameAddr {
    /// `<uri>` without a display name or parameters.
    pub fn new(uri: Uri) -> NameAddr {
        NameAddr {
            display: None,
            uri,
            params: Params::new(),
        }
    }

    /// The display name without quotes and escapes.
    pub fn display_name(&self) -> Option<String> {
        self.display
            .as_deref()
            .map(unquote)
            .filter(|d| !d.is_empty())
    }

    /// A header parameter: `Some(None)` when present without a value.
    pub fn param(&self, name: &str) -> Option<Option<&str>> {
        self.params.get(name)
    }

    /// `;tag=` (RFC 3261 §19.3), which names a dialog's end.
    pub fn tag(&self) -> Option<&str> {
        self.param("tag").flatten()
    }

    /// Sets a header parameter, replacing one of the same name.
    pub fn set_param(&mut self, name: &str, value: Option<&str>) {
        self.params.set(name, value);
    }

    /// Parses `name-addr / addr-spec` with header parameters (RFC 3261 §20.10).
    pub fn parse(s: &str) -> Result<NameAddr, ParseError> {
        NameAddrRef::parse(s).map(NameAddrRef::into_owned)
    }
}

/// A name-addr as received (From, To, Contact…): read where it is, without
/// a copy. The agent reads the headers of every datagram this way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NameAddrRef<'a> {
    /// The display name as sent (a token sequence, or a quoted-string with quotes).
    pub display: Option<&'a str>,
    /// The address.
    pub uri: UriRef<'a>,
    /// Header parameters (`;tag=…`).
    pub params: ParamsRef<'a>,
}

impl<'a> NameAddrRef<'a> {
    /// Parses `name-addr / addr-spec` with header parameters (RFC 3261 §20.10).
    pub fn parse(s: &'a str) -> Result<NameAddrRef<'a>, ParseError> {
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
            return Ok(NameAddrRef {
                display: None,
                uri: parse_uri_ref(uri_str)?,
                params: check_params(&s[end..], is_token_char)?,
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
        Ok(NameAddrRef {
            display,
            uri: parse_uri_ref(uri_str)?,
            params: check_params(&rest[gt + 1..], is_token_char)?,
        })
    }

    /// A copy.
    pub fn into_owned(self) -> NameAddr {
        NameAddr {
            display: self.display.map(str::to_owned),
            uri: self.uri.into_owned(),
            params: self.params.into_owned(),
        }
    }

    /// The display name without quotes and escapes.
    pub fn display_name(&self) -> Option<String> {
        self.display.map(unquote).filter(|d| !d.is_empty())
    }

    /// A header parameter: `Some(None)` when present without a value.
    pub fn param(&self, name: &str) -> Option<Option<&'a str>> {
        self.params.get(name)
    }

    /// `;tag=` (RFC 3261 §19.3), which names a dialog's end.
    pub fn tag(&self) -> Option<&'a str> {
        self.param("tag").flatten()
    }
}

impl fmt::Display for NameAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(d) = &self.display {
            write!(f, "{d} ")?;
        }
        write!(f, "<{}>", self.uri)?;
        f.write_str(self.params.as_str())
    }
}

/// One Via value (RFC 3261 §20.42): `SIP/2.0/UDP host:port;branch=…`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Via {
    /// `UDP`, `TCP`…, in capitals (RFC 3261 §20.42: case-insensitive).
    pub transport: Cow<'static, str>,
    /// The sent-by host.
    pub host: Host,
    /// The sent-by port, when given.
    pub port: Option<u16>,
    /// Header parameters (`;tag=…`).
    pub params: Params,
}

/// RFC 3261 §8.1.1.7: branches of RFC 3261 elements start with this cookie.
pub const BRANCH_COOKIE: &str = "z9hG4bK";

impl Via {
    /// `;branch=`, the transaction's id (RFC 3261 §8.1.1.7).
    pub fn branch(&self) -> Option<&str> {
        self.params.get("branch").flatten()
    }

    /// `;received=`, the source address the next hop saw (§18.2.1).
    pub fn received(&self) -> Option<&str> {
        self.params.get("received").flatten()
    }

    /// `Some(None)` when `rport` is present without a value (RFC 3581).
    pub fn rport(&self) -> Option<Option<u16>> {
        self.params
            .get("rport")
            .map(|v| v.and_then(|v| v.parse().ok()))
    }

    /// Every Via of a comma list.
    pub fn parse_list(s: &str) -> Result<Vec<Via>, ParseError> {
        list_elements(s).map(|e| Via::parse(e?)).collect()
    }

    /// One `SIP/2.0/UDP host[:port];params` (RFC 3261 §20.42).
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
            transport: transport_name(transport),
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
        f.write_str(self.params.as_str())
    }
}

/// A Via's transport in capitals; the ones of RFC 3261 §25.1 (and RFC
/// 7118's WebSockets) without an allocation.
fn transport_name(t: &str) -> Cow<'static, str> {
    ["UDP", "TCP", "TLS", "SCTP", "WS", "WSS"]
        .into_iter()
        .find(|k| k.eq_ignore_ascii_case(t))
        .map_or_else(|| Cow::Owned(t.to_ascii_uppercase()), Cow::Borrowed)
}

/// CSeq (RFC 3261 §20.16): the sequence number is below 2^31 (§8.1.1.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CSeq {
    /// The sequence number, below 2^31 (RFC 3261 §8.1.1.5).
    pub seq: u32,
    /// The request's method.
    pub method: Method,
}

impl CSeq {
    /// Parses `number METHOD`.
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
    fn cseq_bounds() {
        assert!(CSeq::parse("2147483648 INVITE").is_err());
        assert_eq!(CSeq::parse("0009\t INVITE").unwrap().seq, 9);
    }
}
