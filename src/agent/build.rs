//! Builders for the messages the phone sends.

use crate::sip::{Headers, Request, Response, reason_phrase};

/// Methods we accept (RFC 3261 §20.5 Allow).
pub const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS";

/// A response to `req` (RFC 3261 §8.2.6.2): Via, From, Call-ID and CSeq
/// copied, To copied with our tag added when the request's To has none.
pub fn response(req: &Request, status: u16, to_tag: Option<&str>, user_agent: &str) -> Response {
    response_from_headers(&req.headers, status, to_tag, user_agent)
}

pub fn response_from_headers(
    h: &Headers,
    status: u16,
    to_tag: Option<&str>,
    user_agent: &str,
) -> Response {
    let mut r = Response::new(status, reason_phrase(status));
    for v in h.get_all("Via") {
        r.headers.push("Via", v);
    }
    if let Some(f) = h.get("From") {
        r.headers.push("From", f);
    }
    if let Some(t) = h.get("To") {
        let has_tag = crate::sip::NameAddr::parse(t).is_ok_and(|n| n.tag().is_some());
        match to_tag {
            Some(tag) if !has_tag && status > 100 => r.headers.push("To", format!("{t};tag={tag}")),
            _ => r.headers.push("To", t),
        }
    }
    for name in ["Call-ID", "CSeq"] {
        if let Some(v) = h.get(name) {
            r.headers.push(name, v);
        }
    }
    r.headers.push("Server", user_agent);
    r
}

/// Salvages enough of an unparsable request to answer it with 400
/// (RFC 3261 §8.2, §21.4.1). `None` when it is a response, an ACK, or
/// lacks the headers a response must echo.
pub fn bad_request(data: &[u8], why: &str, user_agent: &str) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(data.get(..data.len().min(8192))?).ok()?;
    let head = text.split("\r\n\r\n").next()?;
    let mut lines = head.split("\r\n");
    let start = lines.next()?;
    if start.starts_with("SIP/") || start.starts_with("ACK ") || !start.contains(' ') {
        return None;
    }
    let mut h = Headers::new();
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let name = match name.trim() {
            n if n.eq_ignore_ascii_case("v") || n.eq_ignore_ascii_case("Via") => "Via",
            n if n.eq_ignore_ascii_case("f") || n.eq_ignore_ascii_case("From") => "From",
            n if n.eq_ignore_ascii_case("t") || n.eq_ignore_ascii_case("To") => "To",
            n if n.eq_ignore_ascii_case("i") || n.eq_ignore_ascii_case("Call-ID") => "Call-ID",
            n if n.eq_ignore_ascii_case("CSeq") => "CSeq",
            _ => continue,
        };
        h.push(name, value.trim());
    }
    for needed in ["Via", "From", "To", "Call-ID", "CSeq"] {
        h.get(needed)?;
    }
    let mut r = response_from_headers(&h, 400, None, user_agent);
    // Keep the reason phrase printable and short.
    let why: String = why.chars().filter(|c| !c.is_control()).take(80).collect();
    r.reason = format!("Bad Request ({why})");
    Some(r.to_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn salvages_a_400() {
        let bad = b"INVITE sip:a@b SIP/2.0\r\nv: SIP/2.0/UDP 1.2.3.4;branch=z9hG4bKx\r\nf: <sip:x@y>;tag=1\r\nt: <sip:a@b>\r\ni: abc\r\nCSeq: 99999999999 INVITE\r\n\r\n";
        let r = String::from_utf8(
            bad_request(bad, "bad header: CSeq number out of range", "ua").unwrap(),
        )
        .unwrap();
        assert!(
            r.starts_with("SIP/2.0 400 Bad Request (bad header: CSeq number out of range)\r\n"),
            "{r}"
        );
        assert!(r.contains("Via: SIP/2.0/UDP 1.2.3.4;branch=z9hG4bKx\r\n"));
        assert!(bad_request(b"ACK sip:a@b SIP/2.0\r\n\r\n", "x", "ua").is_none());
        assert!(bad_request(b"\xff\xfe", "x", "ua").is_none());
    }
}
