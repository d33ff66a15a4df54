//! The parser: one UDP datagram (or one framed stream message) in, a
//! [`Message`] or a [`ParseError`] out. Never panics, whatever the bytes.
//!
//! Strict where RFC 4475 §3.1.2 asks a parser to reject, liberal where it
//! asks to accept (§3.1.1, §3.3). Headers the agent relies on are checked
//! here once, so a message that parsed can be trusted to have well-formed
//! Via, From, To, CSeq, Contact and scalar values.

use super::ParseError;
use super::header::{CSeq, NameAddrRef, Via};
use super::lex::{
    is_token, is_valid_date, list_elements, parse_bounded, parse_delta_seconds, trim_ws,
};
use super::message::{Headers, Message, Request, Response};
use super::method::Method;
use super::name;
use super::name::canonical_name;
use super::status::StatusCode;
use super::uri::{Uri, parse_uri};

/// Largest message we accept; a FRITZ!Box INVITE is about 1 KiB.
pub const MAX_MESSAGE: usize = 65_535;

/// Splits off the first line. Lines end in CRLF (RFC 3261 §7); a bare CR
/// or LF is an error.
fn next_line(s: &str, bare: ParseError) -> Result<(&str, Option<&str>), ParseError> {
    let b = s.as_bytes();
    match memchr::memchr2(b'\r', b'\n', b) {
        None => Ok((s, None)),
        Some(i) if b[i] == b'\r' && b.get(i + 1) == Some(&b'\n') => {
            Ok((&s[..i], Some(&s[i + 2..])))
        }
        Some(_) => Err(bare),
    }
}

/// Where the header section ends: the first CRLF CRLF, the empty line
/// before the body (RFC 3261 §7). Found with the
/// same single-byte search the line splitting uses, so the turn runs no
/// substring searcher's code besides.
fn head_end(data: &[u8]) -> Option<usize> {
    let mut at = 0;
    while let Some(i) = memchr::memchr(b'\r', &data[at..]) {
        let i = at + i;
        if data[i..].starts_with(b"\r\n\r\n") {
            return Some(i);
        }
        at = i + 1;
    }
    None
}

/// A header section that is not UTF-8 (RFC 3261 §25.1 asks for it, but a
/// Box sends a phonebook name like `"Müller"` in Latin-1 as `0xFC`): each
/// byte that is not part of a UTF-8 sequence is read as Latin-1. The call
/// must be screened whatever its display name is made of.
fn lenient(head: &[u8]) -> String {
    let mut out = String::with_capacity(head.len() + 8);
    for chunk in head.utf8_chunks() {
        out.push_str(chunk.valid());
        out.extend(chunk.invalid().iter().map(|&b| char::from(b)));
    }
    out
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
    let head_end = head_end(data).ok_or(ParseError::Incomplete)?;
    let decoded;
    let head = match std::str::from_utf8(&data[..head_end]) {
        Ok(h) => h,
        Err(_) => {
            decoded = lenient(&data[..head_end]);
            decoded.as_str()
        }
    };
    let after_head = &data[head_end + 4..];

    let (start_line, mut rest) = next_line(head, ParseError::StartLine("bare CR or LF"))?;
    let mut headers = Headers::with_capacity(head.len() - start_line.len(), 24);
    let mut content_length = false;
    while let Some(text) = rest {
        let (line, more) = next_line(text, ParseError::Header("bare CR or LF in header"))?;
        rest = more;
        if line.starts_with([' ', '\t']) {
            // RFC 3261 §7.3.1: a folded line continues the header above.
            if !headers.continue_last(trim_ws(line)) {
                return Err(ParseError::Header("continuation line without header"));
            }
            continue;
        }
        let colon = memchr::memchr(b':', line.as_bytes())
            .ok_or(ParseError::Header("header line without ':'"))?;
        let name = line[..colon].trim_end_matches([' ', '\t']);
        if !is_token(name) {
            return Err(ParseError::Header("bad header name"));
        }
        let name = canonical_name(name);
        content_length |= name == "Content-Length";
        headers.push_named(name, trim_ws(&line[colon + 1..]));
    }

    // Checked once the values are whole (folded lines joined).
    let mut length: Option<usize> = None;
    let mut lengths_disagree = false;
    // The first Via element and the CSeq are kept: every transaction reads
    // them again. Name-addrs are only checked here, with no copy: the
    // agent reads them where they are (`Headers::from_ref`…).
    let (mut top_via, mut cseq, mut tags) = (None, None, [None, None]);
    for (name, value) in headers.iter() {
        if name == "CSeq" {
            let c = CSeq::parse(value)?;
            cseq.get_or_insert(c);
        } else if name == "From" || name == "To" {
            // Where the first one's tag is: every datagram's dialog is
            // found by the two tags.
            let tag = NameAddrRef::parse(value)?.tag();
            tags[usize::from(name == "To")].get_or_insert_with(|| tag.map(|t| headers.span_of(t)));
        } else if name == "Via" {
            for e in list_elements(value) {
                let v = Via::parse(e?)?;
                top_via.get_or_insert(v);
            }
        } else if name == "Content-Length" {
            let n = parse_bounded(value, MAX_MESSAGE as u64)
                .ok_or(ParseError::Header("bad Content-Length"))? as usize;
            match length {
                Some(prev) if prev != n => lengths_disagree = true,
                _ => length = Some(n),
            }
        } else {
            validate(name, value)?;
        }
    }
    if content_length {
        headers.remove(name::CONTENT_LENGTH);
    }
    headers.set_conflicting_lengths(lengths_disagree);
    let cseq_method = cseq.as_ref().map(|c: &CSeq| c.method.clone());
    headers.set_parsed(top_via, cseq, tags);
    let body = match length {
        // RFC 4475 §3.3.9: conflicting lengths cannot frame; keep it all
        // and let the layer above answer 400.
        Some(_) if lengths_disagree => after_head,
        Some(n) if n > after_head.len() => return Err(ParseError::BodyTooShort),
        Some(n) => &after_head[..n],
        None => after_head,
    }
    .to_vec();

    if let Some(rest) = start_line.strip_prefix("SIP/") {
        return parse_status_line(rest).map(|(status, reason)| {
            Message::Response(Response {
                status: StatusCode(status),
                reason,
                headers,
                body,
            })
        });
    }
    let (method, uri) = parse_request_line(start_line)?;
    // RFC 4475 §3.1.2.17: the CSeq method must match the request method.
    if cseq_method.is_some_and(|m| m != method) {
        return Err(ParseError::MethodMismatch);
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

/// One element of a Contact, Route or Record-Route list.
fn name_addr_element(e: &str) -> Result<NameAddrRef<'_>, ParseError> {
    let na = NameAddrRef::parse(e)?;
    if let Some(Some(exp)) = na.param("expires")
        && parse_delta_seconds(exp).is_none()
    {
        return Err(ParseError::Header("Contact expires out of range"));
    }
    Ok(na)
}

/// Syntax checks for the headers whose shape the layers above rely on.
fn validate(name: &str, value: &str) -> Result<(), ParseError> {
    match name {
        "P-Called-Party-ID" => NameAddrRef::parse(value).map(drop),
        "Contact" if value == "*" => Ok(()),
        "Contact" | "Route" | "Record-Route" => {
            for e in list_elements(value) {
                name_addr_element(e?)?;
            }
            Ok(())
        }
        "Call-ID" if value.is_empty() || value.contains([' ', '\t']) => {
            Err(ParseError::Header("bad Call-ID"))
        }
        "Max-Forwards" => parse_bounded(value, 255)
            .map(drop)
            .ok_or(ParseError::Header("Max-Forwards must be 0-255")),
        "Expires" | "Min-Expires" => parse_delta_seconds(value)
            .map(drop)
            .ok_or(ParseError::Header("bad delta-seconds")),
        "Date" if !is_valid_date(value) => {
            Err(ParseError::Header("Date must be an RFC 1123 date in GMT"))
        }
        _ => Ok(()),
    }
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
    fn the_first_contact_is_kept_as_a_later_parse_finds_it() {
        for contacts in [
            "",
            "Contact: <sip:a@10.0.0.1>\r\n",
            "Contact: *\r\nm: \"B\" <sip:b@10.0.0.2>;expires=60, <sip:c@10.0.0.3>\r\n",
            "Contact: sip:d@10.0.0.4, <sip:e@10.0.0.5>\r\nContact: <sip:f@10.0.0.6>\r\n",
        ] {
            let msg = format!(
                "INVITE sip:620@10.0.0.9 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1\r\n\
                 From: <sip:1@x>;tag=1\r\nTo: <sip:620@x>\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\n{contacts}\r\n"
            );
            let Message::Request(r) = parse(msg.as_bytes()).unwrap() else {
                panic!()
            };
            let later = r.headers.name_addrs("Contact").unwrap().into_iter().next();
            assert_eq!(
                r.headers.first_contact().unwrap(),
                later.as_ref(),
                "{contacts}"
            );
            let mut copy = r.headers.clone();
            copy.push("X-Other", "1");
            assert_eq!(copy.first_contact().unwrap(), later.as_ref(), "{contacts}");
        }
    }

    #[test]
    fn the_views_read_what_a_copy_holds() {
        let msg = "INVITE sip:620@10.0.0.9 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1\r\n\
                   From: \"M\\\"u\" <sip:%30301@fritz.box;user=phone> ; tag = a1 ;x=\"p;q\"\r\n\
                   To: sip:620@[fd00::2]:5062;tag=b2\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\n\
                   Contact: *\r\nContact: <tel:+4930>;expires=60, <sip:e@10.0.0.5>\r\n\
                   P-Called-Party-ID: <sip:0301111111@fritz.box>\r\n\r\n";
        let Message::Request(r) = parse(msg.as_bytes()).unwrap() else {
            panic!()
        };
        let h = &r.headers;
        let (from, to) = (h.from_ref().unwrap(), h.to_ref().unwrap());
        assert_eq!(from.into_owned(), *h.from().unwrap());
        assert_eq!(to.into_owned(), *h.to().unwrap());
        assert_eq!(
            (from.tag(), from.param("X")),
            (Some("a1"), Some(Some("\"p;q\"")))
        );
        assert_eq!(from.display_name().as_deref(), Some("M\"u"));
        let user = from.uri.as_sip().unwrap().user_unescaped();
        assert_eq!(user.as_deref(), Some("0301"));
        assert_eq!(
            from.uri.as_sip().unwrap().host,
            crate::sip::HostRef::Name("fritz.box")
        );
        assert_eq!(to.tag(), Some("b2"));
        assert_eq!((h.from_tag(), h.to_tag()), (Some("a1"), Some("b2")));
        let mut copy = h.clone();
        copy.push("X-Other", "1");
        assert_eq!((copy.from_tag(), copy.to_tag()), (Some("a1"), Some("b2")));
        let mut built = crate::sip::Headers::new();
        built.push("From", "<sip:a@b> ;tag=x");
        built.push("To", "<sip:c@d>");
        assert_eq!((built.from_tag(), built.to_tag()), (Some("x"), None));
        let contact = h.contact_ref().unwrap().unwrap();
        assert_eq!(contact.into_owned(), *h.first_contact().unwrap().unwrap());
        assert_eq!(contact.param("expires"), Some(Some("60")));
        let called = h.called_party().unwrap().unwrap();
        assert_eq!(called.uri.as_sip().unwrap().user, Some("0301111111"));
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
