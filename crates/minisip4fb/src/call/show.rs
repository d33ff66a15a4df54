//! How a call is shown to people, in one place for the log line, `calls`,
//! the dashboard, MQTT, push and hooks: who called.

use crate::text::printable;

/// The languages people are told things in (the dashboard, push).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    #[default]
    En,
    De,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::De => "de",
        }
    }

    /// `de`, `de-AT`, `en_GB`… by the primary subtag, any case.
    pub fn parse(s: &str) -> Option<Lang> {
        let primary = s.trim().split(['-', '_']).next()?;
        if primary.eq_ignore_ascii_case("de") {
            Some(Lang::De)
        } else if primary.eq_ignore_ascii_case("en") {
            Some(Lang::En)
        } else {
            None
        }
    }

    /// The English or the German text.
    pub fn pick<'a>(self, en: &'a str, de: &'a str) -> &'a str {
        match self {
            Lang::En => en,
            Lang::De => de,
        }
    }
}

/// A caller's number as people read it: international, the calling code
/// apart (`+44 2079460000`, where the Box sent `00442079460000`), else as
/// the Box sent it (`**622`); `None` when withheld. (Grouping the rest
/// needs libphonenumber's metadata, 6 MB the daemon loads only when a
/// rule asks for it.)
pub fn number(sent: Option<&str>, e164: Option<&str>) -> Option<String> {
    if let Some((code, rest)) = e164.and_then(super::regions::split_calling_code) {
        return Some(format!("+{code} {rest}"));
    }
    sent.map(str::to_owned)
}

/// Who called, as people are told: the number as people read it, the
/// name beside it when it says something else, "anonymous" ("unbekannt")
/// when withheld. Escaped: caller data never drives a terminal or forges
/// a log line.
pub fn who(sent: Option<&str>, e164: Option<&str>, name: Option<&str>, lang: Lang) -> String {
    let number = number(sent, e164);
    let who = match (number.as_deref(), name) {
        (None, Some(name)) => format!("{} ({name})", lang.t("who.anonymous")),
        (None, None) => lang.t("who.anonymous").to_owned(),
        (Some(n), Some(name)) if Some(name) != sent && name != n => format!("{n} ({name})"),
        (Some(n), _) => n.to_owned(),
    };
    printable(&who).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn who_as_people_read_it() {
        let en = Lang::En;
        assert_eq!(
            who(Some("00442079460000"), Some("+442079460000"), None, en),
            "+44 2079460000"
        );
        assert_eq!(
            who(
                Some("0301234567"),
                Some("+49301234567"),
                Some("Oma"),
                Lang::De
            ),
            "+49 301234567 (Oma)"
        );
        assert_eq!(
            who(
                Some("0301234567"),
                Some("+49301234567"),
                Some("0301234567"),
                en
            ),
            "+49 301234567",
            "a display name that is the number says nothing more"
        );
        assert_eq!(who(Some("**622"), None, None, en), "**622");
        assert_eq!(who(None, None, None, Lang::De), "unbekannt");
        assert_eq!(who(None, None, Some("Oma"), en), "anonymous (Oma)");
        assert_eq!(
            who(Some("0301"), None, Some("Evil\n\u{1b}[2J"), en),
            "0301 (Evil\\n\\u{1b}[2J)",
            "escaped"
        );
    }
}
