//! The parser: one UDP datagram (or one framed stream message) in, a
//! [`Message`] or a [`ParseError`] out. Never panics, whatever the bytes.
//!
//! Strict where RFC 4475 §3.1.2 asks a parser to reject, liberal where it
//! asks to accept (§3.1.1, §3.3). Headers the agent relies on are checked
//! here once, so a message that parsed can be trusted to have well-formed
//! Via, From, To, CSeq, Contact and scalar values.

use super::ParseError;
use super::header::{
    CSeq, NameAddr, Via, is_token, is_valid_date, parse_bounded, parse_delta_seconds, split_list,
};
use super::message::{Header, Headers, Message, Method, Request, Response};
use super::uri::{Uri, parse_uri};

/// Largest message we accept; a FRITZ!Box INVITE is about 1 KiB.
pub const MAX_MESSAGE: usize = 65_535;

/// Compact header forms (RFC 3261 §7.3.3 and the RFCs that added them).
const COMPACT: &[(u8, &str)] = &[
    (b'a', "Accept-Contact"),
    (b'b', "Referred-By"),
    (b'c', "Content-Type"),
    (b'e', "Content-Encoding"),
    (b'f', "From"),
    (b'i', "Call-ID"),
    (b'k', "Supported"),
    (b'l', "Content-Length"),
    (b'm', "Contact"),
    (b'o', "Event"),
    (b'r', "Refer-To"),
    (b's', "Subject"),
    (b't', "To"),
    (b'u', "Allow-Events"),
    (b'v', "Via"),
    (b'x', "Session-Expires"),
];

/// Long names we normalise the spelling of.
const KNOWN: &[&str] = &[
    "Accept",
    "Allow",
    "Authorization",
    "Call-ID",
    "Contact",
    "Content-Length",
    "Content-Type",
    "CSeq",
    "Date",
    "Expires",
    "From",
    "Max-Forwards",
    "Min-Expires",
    "P-Called-Party-ID",
    "Proxy-Authenticate",
    "Proxy-Authorization",
    "Record-Route",
    "Route",
    "Server",
    "Session-Expires",
    "Supported",
    "To",
    "User-Agent",
    "Via",
    "WWW-Authenticate",
];

fn canonical_name(name: &str) -> String {
    if name.len() == 1 {
        let c = name.as_bytes()[0].to_ascii_lowercase();
        if let Some((_, long)) = COMPACT.iter().find(|(k, _)| *k == c) {
            return (*long).to_owned();
        }
    }
    match KNOWN.iter().find(|k| k.eq_ignore_ascii_case(name)) {
        Some(k) => (*k).to_owned(),
        None => name.to_owned(),
    }
}

/// Parses one complete message. Bytes after Content-Length are ignored
/// (RFC 3261 §18.3: trailing octets of a UDP datagram); without
/// Content-Length the body is the rest of the datagram.
pub fn parse(data: &[u8]) -> Result<Message, ParseError> {
    if data.len() > MAX_MESSAGE {
        return Err(ParseError::TooLarge);
    }
    // RFC 3261 §7.5: ignore CRLFs before the start line (keep-alives).
    let mut start = 0;
    while data[start..].starts_with(b"\r\n") {
        start += 2;
    }
    let data = &data[start..];
    let head_end = find(data, b"\r\n\r\n").ok_or(ParseError::Incomplete)?;
    let head = std::str::from_utf8(&data[..head_end]).map_err(|_| ParseError::Encoding)?;
    let after_head = &data[head_end + 4..];

    let mut lines = head.split("\r\n");
    let start_line = lines.next().unwrap_or("");
    if start_line.contains(['\r', '\n']) {
        return Err(ParseError::StartLine("bare CR or LF"));
    }
    let mut headers: Vec<Header> = Vec::with_capacity(16);
    for line in lines {
        if line.contains(['\r', '\n']) {
            return Err(ParseError::Header("bare CR or LF in header"));
        }
        if line.starts_with([' ', '\t']) {
            // RFC 3261 §7.3.1: a folded line continues the header above.
            let last = headers
                .last_mut()
                .ok_or(ParseError::Header("continuation line without header"))?;
            let cont = line.trim();
            if !cont.is_empty() {
                if !last.value.is_empty() {
                    last.value.push(' ');
                }
                last.value.push_str(cont);
            }
            continue;
        }
        let (name, value) = line
            .split_once(':')
            .ok_or(ParseError::Header("header line without ':'"))?;
        let name = name.trim_end_matches([' ', '\t']);
        if !is_token(name) {
            return Err(ParseError::Header("bad header name"));
        }
        headers.push(Header {
            name: canonical_name(name),
            value: value.trim_matches([' ', '\t']).to_owned(),
        });
    }

    let mut content_length: Option<usize> = None;
    let mut lengths_disagree = false;
    for h in &headers {
        if h.name == "Content-Length" {
            let n = parse_bounded(&h.value, MAX_MESSAGE as u64)
                .ok_or(ParseError::Header("bad Content-Length"))? as usize;
            match content_length {
                Some(prev) if prev != n => lengths_disagree = true,
                _ => content_length = Some(n),
            }
        } else {
            validate(h)?;
        }
    }
    headers.retain(|h| h.name != "Content-Length");
    let body = match content_length {
        // RFC 4475 §3.3.9: conflicting lengths cannot frame; keep it all
        // and let the layer above answer 400.
        Some(_) if lengths_disagree => after_head,
        Some(n) if n > after_head.len() => return Err(ParseError::BodyTooShort),
        Some(n) => &after_head[..n],
        None => after_head,
    }
    .to_vec();
    let headers = Headers(headers);

    if let Some(rest) = start_line.strip_prefix("SIP/") {
        return parse_status_line(rest).map(|(status, reason)| {
            Message::Response(Response {
                status,
                reason,
                headers,
                body,
            })
        });
    }
    let (method, uri) = parse_request_line(start_line)?;
    // RFC 4475 §3.1.2.17: the CSeq method must match the request method.
    if let Some(cseq) = headers.get("CSeq") {
        if CSeq::parse(cseq)?.method != method {
            return Err(ParseError::MethodMismatch);
        }
    }
    Ok(Message::Request(Request {
        method,
        uri,
        headers,
        body,
    }))
}

/// `SIP/2.0 SP Status-Code SP Reason-Phrase`; `rest` follows "SIP/".
fn parse_status_line(rest: &str) -> Result<(u16, String), ParseError> {
    let rest = rest
        .strip_prefix("2.0 ")
        .ok_or(ParseError::StartLine("unsupported SIP version"))?;
    let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
    if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ParseError::StartLine("status code must be three digits"));
    }
    let status: u16 = code
        .parse()
        .map_err(|_| ParseError::StartLine("bad status code"))?;
    if !(100..700).contains(&status) {
        return Err(ParseError::StartLine("status code out of range"));
    }
    Ok((status, reason.to_owned()))
}

/// `Method SP Request-URI SP SIP-Version`, single spaces (RFC 3261 §7.1).
fn parse_request_line(line: &str) -> Result<(Method, Uri), ParseError> {
    let mut parts = line.split(' ');
    let (Some(m), Some(u), Some(v), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(ParseError::StartLine(
            "request line must be 'METHOD URI SIP/2.0'",
        ));
    };
    if !is_token(m) {
        return Err(ParseError::StartLine("bad method"));
    }
    if !v.eq_ignore_ascii_case("SIP/2.0") {
        return Err(ParseError::StartLine("unsupported SIP version"));
    }
    let uri = parse_uri(u)?;
    // RFC 3261 §19.1.1: headers are not allowed in a Request-URI.
    if let Uri::Sip(s) = &uri
        && s.headers.is_some()
    {
        return Err(ParseError::StartLine("headers in Request-URI"));
    }
    Ok((Method::from_token(m), uri))
}

/// Parses a URI as the target of a request; a malformed one becomes an
/// opaque URI so that a peer's bad Contact still yields a sendable request.
pub fn parse_request_uri(s: &str) -> Uri {
    parse_uri(s).unwrap_or_else(|_| Uri::Absolute(s.to_owned()))
}

/// Syntax checks for the headers whose shape the layers above rely on.
fn validate(h: &Header) -> Result<(), ParseError> {
    match h.name.as_str() {
        "Via" => Via::parse_list(&h.value).map(drop),
        "From" | "To" | "P-Called-Party-ID" => NameAddr::parse(&h.value).map(drop),
        "Contact" if h.value == "*" => Ok(()),
        "Contact" | "Route" | "Record-Route" => {
            for e in split_list(&h.value)? {
                let na = NameAddr::parse(e)?;
                if let Some(Some(exp)) = na.param("expires")
                    && parse_delta_seconds(exp).is_none()
                {
                    return Err(ParseError::Header("Contact expires out of range"));
                }
            }
            Ok(())
        }
        "CSeq" => CSeq::parse(&h.value).map(drop),
        "Call-ID" if h.value.is_empty() || h.value.contains([' ', '\t']) => {
            Err(ParseError::Header("bad Call-ID"))
        }
        "Max-Forwards" => parse_bounded(&h.value, 255)
            .map(drop)
            .ok_or(ParseError::Header("Max-Forwards must be 0-255")),
        "Expires" | "Min-Expires" => parse_delta_seconds(&h.value)
            .map(drop)
            .ok_or(ParseError::Header("bad delta-seconds")),
        "Date" if !is_valid_date(&h.value) => {
            Err(ParseError::Header("Date must be an RFC 1123 date in GMT"))
        }
        _ => Ok(()),
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    const INVITE: &[u8] = b"INVITE sip:620@192.168.178.20:5062 SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.168.178.1:5060;branch=z9hG4bK1D2F3A4B5C6D7E8F\r\n\
From: <sip:040855992611@fritz.box>;tag=3E2B0C1D9A8F7E6D\r\n\
To: <sip:620@192.168.178.20:5062>\r\n\
Call-ID: 8A7B6C5D4E3F2A1B@192.168.178.1\r\n\
CSeq: 42 INVITE\r\n\
l: 3\r\n\r\nabcdef";

    #[test]
    fn parses_an_invite() {
        let Message::Request(r) = parse(INVITE).unwrap() else {
            panic!()
        };
        assert_eq!(r.method, Method::Invite);
        assert_eq!(r.body, b"abc");
        assert_eq!(r.headers.cseq().unwrap().seq, 42);
        assert_eq!(r.headers.from().unwrap().tag(), Some("3E2B0C1D9A8F7E6D"));
        assert_eq!(r.headers.get("content-length"), None);
        let again = parse(&r.to_bytes()).unwrap();
        assert_eq!(again, Message::Request(r));
    }

    #[test]
    fn never_panics_on_prefixes() {
        for n in 0..INVITE.len() {
            let _ = parse(&INVITE[..n]);
        }
        let _ = parse(b"\r\n\r\n");
        let _ = parse(b"SIP/2.0 \r\n\r\n");
        let _ = parse(b"X\r\n \r\n\r\n");
    }
}
