//! HTTP Digest authentication as SIP uses it (RFC 3261 §22.4, RFC 2617,
//! RFC 7616), MD5 only. The FRITZ!Box sends `Digest realm="fritz.box",
//! nonce="…"` with no qop, no algorithm and no opaque (FRITZBOX.md).

use md5::{Digest as _, Md5};

use super::ParseError;
use super::lex::{quoted_len, unquote};

/// A `WWW-Authenticate`/`Proxy-Authenticate` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// The protection space (`realm=`), unquoted.
    pub realm: String,
    /// The server's nonce, unquoted.
    pub nonce: String,
    /// `opaque=`, returned as given.
    pub opaque: Option<String>,
    /// As sent; `None` means MD5 (RFC 2617 §3.2.1).
    pub algorithm: Option<String>,
    /// The qop options offered, e.g. `["auth"]`.
    pub qop: Vec<String>,
    /// RFC 2617 §3.2.1: the nonce expired but the credentials were right.
    pub stale: bool,
}

impl Challenge {
    /// Reads a `WWW-Authenticate`/`Proxy-Authenticate` value (`Digest …`).
    pub fn parse(value: &str) -> Result<Challenge, ParseError> {
        let params = parse_auth(value)?;
        let get = |k: &str| {
            params
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(k))
                .map(|(_, v)| v.clone())
        };
        let algorithm = get("algorithm");
        if let Some(a) = &algorithm
            && !a.eq_ignore_ascii_case("MD5")
        {
            return Err(ParseError::Header("unsupported digest algorithm"));
        }
        Ok(Challenge {
            realm: get("realm").ok_or(ParseError::Header("challenge without realm"))?,
            nonce: get("nonce").ok_or(ParseError::Header("challenge without nonce"))?,
            opaque: get("opaque"),
            algorithm,
            qop: get("qop")
                .map(|q| {
                    q.split(',')
                        .map(|s| s.trim().to_owned())
                        .filter(|s| !s.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
            stale: get("stale").is_some_and(|s| s.eq_ignore_ascii_case("true")),
        })
    }

    /// Whether the `auth` quality of protection is offered and so must be used.
    pub fn uses_qop_auth(&self) -> bool {
        self.qop.iter().any(|q| q.eq_ignore_ascii_case("auth"))
    }
}

/// One auth-param of [`parse_auth`]'s, by name (case-insensitive).
pub fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Parses `Digest a="b", c=d` into its auth-params, unquoted.
pub fn parse_auth(value: &str) -> Result<Vec<(String, String)>, ParseError> {
    let value = value.trim();
    let (scheme, mut rest) = value.split_once([' ', '\t']).unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("Digest") {
        return Err(ParseError::Header("not a Digest challenge"));
    }
    let mut out = Vec::new();
    loop {
        rest = rest.trim_start_matches([' ', '\t', ',']);
        if rest.is_empty() {
            return Ok(out);
        }
        let (name, after) = rest
            .split_once('=')
            .ok_or(ParseError::Header("auth-param without '='"))?;
        let after = after.trim_start();
        let (v, after) = if after.starts_with('"') {
            let n = quoted_len(after)?;
            (unquote(&after[..n]), &after[n..])
        } else {
            let end = after.find([',', ' ', '\t']).unwrap_or(after.len());
            (after[..end].to_owned(), &after[end..])
        };
        out.push((name.trim().to_owned(), v));
        rest = after;
    }
}

fn md5_hex(parts: &[&str]) -> String {
    let mut h = Md5::new();
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            h.update(b":");
        }
        h.update(p.as_bytes());
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The `response` value (RFC 2617 §3.2.2.1). With `qop` the
/// nonce-count and client nonce take part; without, the RFC 2069 form.
#[allow(clippy::too_many_arguments)]
pub fn response(
    user: &str,
    realm: &str,
    password: &str,
    method: &str,
    uri: &str,
    nonce: &str,
    qop: Option<(&str, u32, &str)>,
) -> String {
    let ha1 = md5_hex(&[user, realm, password]);
    let ha2 = md5_hex(&[method, uri]);
    match qop {
        Some((qop, nc, cnonce)) => md5_hex(&[&ha1, nonce, &format!("{nc:08x}"), cnonce, qop, &ha2]),
        None => md5_hex(&[&ha1, nonce, &ha2]),
    }
}

/// Builds the `Authorization` header value answering `ch`.
/// `nc` is the nonce-count for this nonce (1 for its first use); `cnonce`
/// is only used when the challenge offers qop=auth.
pub fn authorization(
    ch: &Challenge,
    user: &str,
    password: &str,
    method: &str,
    uri: &str,
    nc: u32,
    cnonce: &str,
) -> String {
    let qop = ch.uses_qop_auth().then_some(("auth", nc, cnonce));
    let resp = response(user, &ch.realm, password, method, uri, &ch.nonce, qop);
    let mut v = format!(
        "Digest username=\"{user}\", realm=\"{}\", nonce=\"{}\", uri=\"{uri}\", response=\"{resp}\"",
        ch.realm, ch.nonce
    );
    if let Some(a) = &ch.algorithm {
        v.push_str(&format!(", algorithm={a}"));
    }
    if let Some((q, nc, cnonce)) = qop {
        v.push_str(&format!(", qop={q}, nc={nc:08x}, cnonce=\"{cnonce}\""));
    }
    if let Some(o) = &ch.opaque {
        v.push_str(&format!(", opaque=\"{o}\""));
    }
    v
}

/// Server side: checks an `Authorization` value against the password.
/// Returns the username the client claimed and whether the response is right.
pub fn verify(value: &str, password: &str, method: &str) -> Result<(String, bool), ParseError> {
    let p = parse_auth(value)?;
    let get = |k: &str| {
        p.iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(k))
            .map(|(_, v)| v.as_str())
    };
    let need = |k: &'static str| get(k).ok_or(ParseError::Header(k));
    let (user, realm, nonce, uri, resp) = (
        need("username")?,
        need("realm")?,
        need("nonce")?,
        need("uri")?,
        need("response")?,
    );
    let qop = match get("qop") {
        Some(q) => {
            let nc =
                u32::from_str_radix(need("nc")?, 16).map_err(|_| ParseError::Header("bad nc"))?;
            Some((q, nc, need("cnonce")?))
        }
        None => None,
    };
    let expected = response(user, realm, password, method, uri, nonce, qop);
    Ok((user.to_owned(), expected.eq_ignore_ascii_case(resp)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc2617_section_3_5_vector() {
        let r = response(
            "Mufasa",
            "testrealm@host.com",
            "Circle Of Life",
            "GET",
            "/dir/index.html",
            "dcd98b7102dd2f0e8b11d0f600bfb0c093",
            Some(("auth", 1, "0a4f113b")),
        );
        assert_eq!(r, "6629fae49393a05397450978507c4ef1");
    }

    #[test]
    fn rfc7616_section_3_9_1_md5_vector() {
        let r = response(
            "Mufasa",
            "http-auth@example.org",
            "Circle of Life",
            "GET",
            "/dir/index.html",
            "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
            Some(("auth", 1, "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ")),
        );
        assert_eq!(r, "8ca523f5e9506fed4657c9700eebdbec");
    }

    #[test]
    fn rfc2069_vector_without_qop() {
        // RFC 2069 §2.4 example (response value as corrected in RFC 2617's errata).
        let r = response(
            "Mufasa",
            "testrealm@host.com",
            "CircleOfLife",
            "GET",
            "/dir/index.html",
            "dcd98b7102dd2f0e8b11d0f600bfb0c093",
            None,
        );
        assert_eq!(r, "1949323746fe6a43ef61f9606e7febea");
    }

    #[test]
    fn fritzbox_form_byte_for_byte() {
        let ch =
            Challenge::parse("Digest realm=\"fritz.box\", nonce=\"78B29326485EAE52\"").unwrap();
        assert!(!ch.uses_qop_auth() && !ch.stale && ch.algorithm.is_none());
        let v = authorization(
            &ch,
            "620",
            "geheim123",
            "REGISTER",
            "sip:fritz.box",
            1,
            "unused",
        );
        // Expected response computed independently (Python hashlib).
        assert_eq!(
            v,
            "Digest username=\"620\", realm=\"fritz.box\", nonce=\"78B29326485EAE52\", \
             uri=\"sip:fritz.box\", response=\"a84bf9576c668cb962f5d204b94777bb\""
        );
        assert_eq!(
            verify(&v, "geheim123", "REGISTER").unwrap(),
            ("620".into(), true)
        );
        assert!(!verify(&v, "wrong", "REGISTER").unwrap().1);
    }

    #[test]
    fn qop_stale_and_opaque() {
        let ch = Challenge::parse(
            "Digest realm=\"HTTPS Access\",nonce=\"88B30A35B27FDC00\",algorithm=MD5,qop=\"auth,auth-int\",stale=TRUE,opaque=\"x\"",
        )
        .unwrap();
        assert!(ch.uses_qop_auth() && ch.stale);
        let v = authorization(&ch, "u", "p", "BYE", "sip:a@b", 2, "c0ffee");
        assert!(
            v.contains("qop=auth, nc=00000002, cnonce=\"c0ffee\""),
            "{v}"
        );
        assert!(v.contains("opaque=\"x\"") && v.contains("algorithm=MD5"));
        assert!(verify(&v, "p", "BYE").unwrap().1);
        assert!(Challenge::parse("Basic realm=\"x\"").is_err());
        assert!(Challenge::parse("Digest realm=\"x\", nonce=\"n\", algorithm=SHA-256").is_err());
    }
}
