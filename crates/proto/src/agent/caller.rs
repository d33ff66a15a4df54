//! Who is calling, as the FRITZ!Box tells it (FRITZBOX.md: From carries the
//! number in national format, internal callers are `**6xx`, CLIR has no
//! user part or `anonymous`; P-Called-Party-ID names the dialled number).

use crate::sip::{HostRef, NameAddrRef, Request, UriRef, name};

/// The caller of an incoming call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallerId {
    /// The number as sent (user part, unescaped); `None` when anonymous.
    pub number: Option<String>,
    /// The display name, when the Box sent one (e.g. from its phonebook).
    pub display_name: Option<String>,
    /// Caller withheld the number (CLIR).
    pub anonymous: bool,
    /// Which of the household's numbers was dialled: P-Called-Party-ID,
    /// else the To user part.
    pub called: Option<String>,
    /// The raw From header value.
    pub raw_from: String,
}

impl CallerId {
    /// What an INVITE says of the caller (From, P-Asserted-Identity,
    /// Privacy, P-Called-Party-ID).
    pub fn from_request(req: &Request) -> CallerId {
        let raw_from = req.headers.get(name::FROM).unwrap_or_default().to_owned();
        let from = req.headers.from_ref().ok();
        let user_of = |na: NameAddrRef| match na.uri {
            UriRef::Sip(u) => u.user_unescaped(),
            // tel:+4930… (RFC 3966) carries the number itself.
            UriRef::Absolute(s) => s
                .strip_prefix("tel:")
                .map(|n| n.split(';').next().unwrap_or(n).to_owned()),
        };
        let number = from.and_then(user_of);
        let display_name = from.and_then(|f| f.display_name());
        // RFC 3323 §4.1.1.3: a withheld identity is `sip:anonymous@anonymous.invalid`.
        let host_anonymous = from
            .and_then(|f| f.uri.as_sip().map(|u| u.host))
            .is_some_and(
                |h| matches!(h, HostRef::Name(h) if h.eq_ignore_ascii_case("anonymous.invalid")),
            );
        let anonymous = host_anonymous
            || match number.as_deref() {
                None | Some("") => true,
                Some(n) => n.eq_ignore_ascii_case("anonymous") || n.eq_ignore_ascii_case("unknown"),
            };
        let called = req
            .headers
            .called_party()
            .ok()
            .flatten()
            .or_else(|| req.headers.to_ref().ok())
            .and_then(user_of);
        CallerId {
            number: if anonymous { None } else { number },
            display_name,
            anonymous,
            called,
            raw_from,
        }
    }

    /// An internal call from another phone of the same Box (`**610`, `**622`,
    /// the `**9` ring-all broadcast): never to be screened.
    pub fn is_internal(&self) -> bool {
        self.number.as_deref().is_some_and(is_internal_number)
    }
}

/// What the Box sends for its own phones: `**` and the internal number
/// (FRITZBOX.md). Nothing else is internal: a short number without `**`
/// comes from outside and is screened like any other.
pub fn is_internal_number(number: &str) -> bool {
    number.trim().starts_with("**")
}

impl std::fmt::Display for CallerId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.number, &self.display_name) {
            (None, _) => f.write_str("anonymous"),
            (Some(n), Some(d)) => write!(f, "{n} ({d})"),
            (Some(n), None) => f.write_str(n),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::{Message, parse};

    fn caller(from: &str, extra: &str) -> CallerId {
        let msg = format!(
            "INVITE sip:620@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK1\r\nFrom: {from}\r\n\
             To: <sip:620@127.0.0.1>\r\nCall-ID: a\r\nCSeq: 1 INVITE\r\n{extra}\r\n"
        );
        let Ok(Message::Request(r)) = parse(msg.as_bytes()) else {
            panic!("{msg}")
        };
        CallerId::from_request(&r)
    }

    #[test]
    fn fritzbox_caller_forms() {
        let c = caller(
            "<sip:040855992611@fritz.box>;tag=1",
            "P-Called-Party-ID: <sip:0301111111@fritz.box>\r\n",
        );
        assert_eq!(c.number.as_deref(), Some("040855992611"));
        assert_eq!(c.called.as_deref(), Some("0301111111"));
        assert!(!c.anonymous && !c.is_internal());
        let c = caller("\"Haui Mobil\" <sip:**622@fritz.box>;tag=1", "");
        assert!(c.is_internal());
        assert_eq!(c.display_name.as_deref(), Some("Haui Mobil"));
        assert_eq!(c.called.as_deref(), Some("620"));
        for anon in [
            "<sip:fritz.box>;tag=1",
            "\"Anonymous\" <sip:anonymous@fritz.box>;tag=1",
            "<sip:anonymous@anonymous.invalid>;tag=1",
        ] {
            let c = caller(anon, "");
            assert!(c.anonymous && c.number.is_none(), "{anon}");
        }
        assert_eq!(
            caller("<tel:+4930123;phone-context=x>;tag=1", "")
                .number
                .as_deref(),
            Some("+4930123")
        );
    }
}
