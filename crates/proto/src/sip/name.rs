//! Header names: the compact forms (RFC 3261 §7.3.3) and the canonical
//! spelling of the names we know, so that lookups compare `&'static str`s.

/// A header name: the canonical long form of a known header (compact
/// forms expanded, RFC 3261 §7.3.3), else as received.
pub type HeaderName = std::borrow::Cow<'static, str>;

// The names of the headers this phone reads or writes, so that a typo is
// a compile error rather than a header never found.
/// `Allow`.
pub const ALLOW: &str = "Allow";
/// `CSeq`.
pub const CSEQ: &str = "CSeq";
/// `Call-ID`.
pub const CALL_ID: &str = "Call-ID";
/// `Contact`.
pub const CONTACT: &str = "Contact";
/// `Content-Length`.
pub const CONTENT_LENGTH: &str = "Content-Length";
/// `Content-Type`.
pub const CONTENT_TYPE: &str = "Content-Type";
/// `Expires`.
pub const EXPIRES: &str = "Expires";
/// `From`.
pub const FROM: &str = "From";
/// `Max-Forwards`.
pub const MAX_FORWARDS: &str = "Max-Forwards";
/// `Min-Expires`.
pub const MIN_EXPIRES: &str = "Min-Expires";
/// `P-Called-Party-ID`.
pub const P_CALLED_PARTY_ID: &str = "P-Called-Party-ID";
/// `Reason`.
pub const REASON: &str = "Reason";
/// `Record-Route`.
pub const RECORD_ROUTE: &str = "Record-Route";
/// `Require`.
pub const REQUIRE: &str = "Require";
/// `Route`.
pub const ROUTE: &str = "Route";
/// `Server`.
pub const SERVER: &str = "Server";
/// `To`.
pub const TO: &str = "To";
/// `User-Agent`.
pub const USER_AGENT: &str = "User-Agent";
/// `Via`.
pub const VIA: &str = "Via";

/// Compact header forms (RFC 3261 §7.3.3 and the RFCs that added them).
fn compact(c: u8) -> Option<&'static str> {
    Some(match c.to_ascii_lowercase() {
        b'a' => "Accept-Contact",
        b'b' => "Referred-By",
        b'c' => "Content-Type",
        b'e' => "Content-Encoding",
        b'f' => "From",
        b'i' => "Call-ID",
        b'k' => "Supported",
        b'l' => "Content-Length",
        b'm' => "Contact",
        b'o' => "Event",
        b'r' => "Refer-To",
        b's' => "Subject",
        b't' => "To",
        b'u' => "Allow-Events",
        b'v' => "Via",
        b'x' => "Session-Expires",
        _ => return None,
    })
}

/// The canonical spelling of a known long header name, any case. Known
/// names by length, so a lookup compares with one to four candidates.
pub(crate) fn known_name(name: &str) -> Option<&'static str> {
    let candidates: &[&'static str] = match name.len() {
        2 => &["To"],
        3 => &["Via"],
        4 => &["CSeq", "Date", "From"],
        5 => &["Allow", "Event", "Route"],
        6 => &["Accept", "Min-SE", "Reason", "Server"],
        7 => &[
            "Call-ID", "Contact", "Expires", "Privacy", "Require", "Subject", "Warning",
        ],
        8 => &["Refer-To"],
        9 => &["Call-Info", "Supported"],
        10 => &["Alert-Info", "User-Agent"],
        11 => &["Min-Expires", "Referred-By", "Unsupported"],
        12 => &[
            "Allow-Events",
            "Content-Type",
            "Max-Forwards",
            "Record-Route",
        ],
        13 => &["Authorization"],
        14 => &["Accept-Contact", "Content-Length"],
        15 => &["Accept-Encoding", "Accept-Language", "Session-Expires"],
        16 => &["Content-Encoding", "WWW-Authenticate"],
        17 => &["P-Called-Party-ID"],
        18 => &["Proxy-Authenticate"],
        19 => &[
            "Content-Disposition",
            "P-Asserted-Identity",
            "Proxy-Authorization",
        ],
        _ => return None,
    };
    // Senders mostly use the canonical spelling: try that first.
    candidates
        .iter()
        .find(|k| **k == name)
        .or_else(|| candidates.iter().find(|k| k.eq_ignore_ascii_case(name)))
        .copied()
}

/// A received header name in its canonical form: compact forms expanded,
/// known names in their usual spelling, others as received.
pub(crate) fn canonical_name(name: &str) -> HeaderName {
    if let [c] = name.as_bytes()
        && let Some(long) = compact(*c)
    {
        return HeaderName::Borrowed(long);
    }
    match known_name(name) {
        Some(k) => HeaderName::Borrowed(k),
        None => HeaderName::Owned(name.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_names_in_any_case() {
        for canonical in [
            "Via",
            "CSeq",
            "Call-ID",
            "P-Called-Party-ID",
            "WWW-Authenticate",
        ] {
            assert_eq!(known_name(canonical), Some(canonical));
            assert_eq!(known_name(&canonical.to_ascii_uppercase()), Some(canonical));
            assert_eq!(known_name(&canonical.to_ascii_lowercase()), Some(canonical));
        }
        // Every compact form expands to a known long name.
        for c in b'a'..=b'z' {
            if let Some(long) = compact(c) {
                assert_eq!(known_name(long), Some(long));
            }
        }
        assert_eq!(known_name("X-Unknown"), None);
        assert_eq!(canonical_name("v"), "Via");
        assert_eq!(canonical_name("min-se"), "Min-SE");
    }
}
