//! Builders for the messages the phone sends.

use rand::Rng;

use super::Ctx;
use crate::sip::digest::{self, Challenge};
use crate::sip::message::Writer;
use crate::sip::{Headers, Method, NameAddr, Request, Response, StatusCode, Uri, name};

/// Methods we accept (RFC 3261 §20.5 Allow).
pub const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO";

/// A response to `req` (RFC 3261 §8.2.6.2): Via, From, Call-ID and CSeq
/// copied, To copied with our tag added when the request's To has none,
/// and Server. The caller adds its headers and finishes it with the body.
pub fn response(
    req: &Request,
    status: StatusCode,
    to_tag: Option<&str>,
    user_agent: &str,
) -> Writer {
    response_from_headers(&req.headers, status, status.reason(), to_tag, user_agent)
}

/// Written straight from slices of the request's headers: no copy of them
/// is made first.
pub fn response_from_headers(
    h: &Headers,
    status: StatusCode,
    reason: &str,
    to_tag: Option<&str>,
    user_agent: &str,
) -> Writer {
    let mut w = Writer::response(status, reason, 512 + user_agent.len());
    for v in h.get_all(name::VIA) {
        w.header(name::VIA, &[v]);
    }
    if let Some(f) = h.get(name::FROM) {
        w.header(name::FROM, &[f]);
    }
    if let Some(t) = h.get(name::TO) {
        let has_tag = h.to_tag().is_some();
        match to_tag {
            Some(tag) if !has_tag && status != StatusCode::TRYING => {
                w.header(name::TO, &[t, ";tag=", tag])
            }
            _ => w.header(name::TO, &[t]),
        };
    }
    for name in [name::CALL_ID, name::CSEQ] {
        if let Some(v) = h.get(name) {
            w.header(name, &[v]);
        }
    }
    w.header(name::SERVER, &[user_agent]);
    w
}

/// A From or To value with `;tag=` added (RFC 3261 §19.3).
pub fn with_tag(value: &str, tag: &str) -> String {
    let mut s = String::with_capacity(value.len() + 5 + tag.len());
    s.push_str(value);
    s.push_str(";tag=");
    s.push_str(tag);
    s
}

/// The fields of a request we send (REGISTER, BYE), in the order RFC 3261
/// §8.1.1 lists them.
pub struct Dialog<'a> {
    pub method: Method,
    pub uri: Uri,
    pub branch: &'a str,
    pub from: &'a str,
    pub to: &'a str,
    pub call_id: &'a str,
    pub cseq: u32,
    /// RFC 3261 §12.2.1.1: the dialog's route set, as Route headers.
    pub route: &'a [NameAddr],
}

/// A request with our Via (asking for `rport`), Max-Forwards, the dialog's
/// headers and our User-Agent.
pub fn request(ctx: &Ctx, d: Dialog<'_>) -> Request {
    let n = crate::sip::lex::decimal(d.cseq.into(), &mut [0; 20]).to_owned();
    let cseq = n + " " + d.method.as_str();
    let mut req = Request::new(d.method, d.uri);
    let h = &mut req.headers;
    h.push(name::VIA, ctx.via(d.branch));
    h.push(name::MAX_FORWARDS, "70");
    for r in d.route {
        h.push(name::ROUTE, r.to_string());
    }
    h.push(name::FROM, d.from);
    h.push(name::TO, d.to);
    h.push(name::CALL_ID, d.call_id);
    h.push(name::CSEQ, cseq);
    h.push(name::USER_AGENT, &ctx.cfg.user_agent);
    req
}

/// A digest challenge and where it came from: 401 `WWW-Authenticate` is
/// answered with `Authorization`, 407 `Proxy-Authenticate` with
/// `Proxy-Authorization` (RFC 3261 §22.2, §22.3).
#[derive(Debug, Clone)]
pub struct Auth {
    pub challenge: Challenge,
    pub proxy: bool,
}

/// A 401 or 407 whose challenge cannot be answered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChallengeError {
    #[error("{status} without {header}")]
    Missing {
        status: StatusCode,
        header: &'static str,
    },
    #[error("{header}: {source}")]
    Malformed {
        header: &'static str,
        source: crate::sip::ParseError,
    },
}

/// The challenge of a 401 or 407 response.
pub fn challenge(r: &Response) -> Result<Auth, ChallengeError> {
    let proxy = r.status == StatusCode::PROXY_AUTHENTICATION_REQUIRED;
    let header = if proxy {
        "Proxy-Authenticate"
    } else {
        "WWW-Authenticate"
    };
    match r.headers.get(header).map(Challenge::parse) {
        Some(Ok(challenge)) => Ok(Auth { challenge, proxy }),
        Some(Err(source)) => Err(ChallengeError::Malformed { header, source }),
        None => Err(ChallengeError::Missing {
            status: r.status,
            header,
        }),
    }
}

/// Adds the digest answer to `auth` to `req`; `nc` counts the uses of the
/// nonce (RFC 2617 §3.2.2).
pub fn authorize(ctx: &mut Ctx, req: &mut Request, auth: &Auth, nc: u32) {
    let cnonce = format!("{:08x}", ctx.rng.random::<u32>());
    let v = digest::authorization(
        &auth.challenge,
        &ctx.cfg.user,
        &ctx.cfg.password,
        req.method.as_str(),
        &req.uri.to_string(),
        nc,
        &cnonce,
    );
    let name = if auth.proxy {
        "Proxy-Authorization"
    } else {
        "Authorization"
    };
    req.headers.push(name, v);
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
    // Keep the reason phrase printable and short.
    let why: String = why.chars().filter(|c| !c.is_control()).take(80).collect();
    let reason = format!("Bad Request ({why})");
    Some(response_from_headers(&h, StatusCode::BAD_REQUEST, &reason, None, user_agent).finish(&[]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::{Message, parse};

    #[test]
    fn a_response_is_written_from_the_request_s_own_bytes() {
        let Ok(Message::Request(req)) = parse(
            b"INVITE sip:620@10.0.0.2 SIP/2.0\r\nv: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKa\r\n\
              Via: SIP/2.0/UDP 10.0.0.9;branch=z9hG4bKb\r\nf: <sip:0301@fritz.box>;tag=1\r\n\
              t: <sip:620@fritz.box>\r\ni: abc@10.0.0.1\r\nCSeq: 7 INVITE\r\n\r\n",
        ) else {
            panic!()
        };
        let mut w = response(&req, StatusCode::OK, Some("T"), "ua 1");
        w.header(name::ALLOW, &[ALLOW]);
        assert_eq!(
            String::from_utf8(w.finish(b"x")).unwrap(),
            "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKa\r\n\
             Via: SIP/2.0/UDP 10.0.0.9;branch=z9hG4bKb\r\nFrom: <sip:0301@fritz.box>;tag=1\r\n\
             To: <sip:620@fritz.box>;tag=T\r\nCall-ID: abc@10.0.0.1\r\nCSeq: 7 INVITE\r\n\
             Server: ua 1\r\nAllow: INVITE, ACK, CANCEL, BYE, OPTIONS, INFO\r\n\
             Content-Length: 1\r\n\r\nx"
        );
    }

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
