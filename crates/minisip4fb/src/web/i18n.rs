//! The dashboard in German and English: by `Accept-Language`, switched
//! with `?lang=de|en` (kept in a cookie). FRITZ!Box households are mostly
//! German; the words of the config, the call log and the API (`terminate`,
//! `ring`, the reasons) stay as they are everywhere else.

use axum::http::{HeaderMap, header};

pub use crate::call::show::Lang;

/// The cookie that keeps a switched language (not a secret).
pub const COOKIE: &str = "minisip4fb_lang";

/// The dashboard's side of [`Lang`]: which one a request asks for, and
/// the page's words.
impl Lang {
    /// `?lang=` first, then the cookie, then the browser's
    /// `Accept-Language` (the best-rated of German and English, RFC 9110
    /// §12.5.4), else English.
    pub fn of(headers: &HeaderMap, asked: Option<&str>) -> Lang {
        if let Some(l) = asked.and_then(Lang::parse) {
            return l;
        }
        if let Some(l) = super::auth::cookie(headers, COOKIE).and_then(Lang::parse) {
            return l;
        }
        let accept = headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        accept
            .split(',')
            .take(32)
            .enumerate()
            .filter_map(|(i, part)| {
                let mut it = part.split(';');
                let lang = Lang::parse(it.next()?)?;
                let q = it
                    .find_map(|p| p.trim().strip_prefix("q="))
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .unwrap_or(1.0);
                // Equal weights: the one named first.
                (q > 0.0).then_some((q, usize::MAX - i, lang))
            })
            .max_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)))
            .map_or(Lang::En, |(_, _, l)| l)
    }

    /// The text for `key`. A key without texts is a mistake of ours: a
    /// test finds every key the pages and the script use, debug builds
    /// stop at it, and a release shows a visible `?`, not nothing.
    pub fn t(self, key: &str) -> &'static str {
        match STRINGS.iter().find(|(k, _, _)| *k == key) {
            Some((_, en, de)) => self.pick(en, de),
            None => {
                debug_assert!(false, "no text for {key:?}");
                "?"
            }
        }
    }

    /// Every text as a JSON object, for the page's script.
    pub fn json(self) -> String {
        let map: serde_json::Map<String, serde_json::Value> = STRINGS
            .iter()
            .map(|(k, _, _)| ((*k).to_owned(), self.t(k).into()))
            .collect();
        serde_json::Value::Object(map).to_string()
    }
}

/// (key, English, German).
const STRINGS: &[(&str, &str, &str)] = &[
    ("nav.status", "Status", "Status"),
    ("nav.calls", "Calls", "Anrufe"),
    ("nav.stats", "Statistics", "Statistik"),
    ("nav.rules", "Rules", "Regeln"),
    ("logout", "Log out", "Abmelden"),
    ("registration", "Registration", "Anmeldung"),
    ("reg.registered", "registered", "angemeldet"),
    ("reg.connecting", "connecting", "verbindet"),
    ("reg.failed", "failed", "fehlgeschlagen"),
    ("reg.unregistered", "not registered", "nicht angemeldet"),
    ("since", "Since", "Seit"),
    ("granted", "Granted for", "Gewährt für"),
    ("user", "user", "Benutzer"),
    ("rules", "Rules", "Regeln"),
    ("log_only", "Log-only", "Nur protokollieren"),
    ("shield", "Shield", "Schutz"),
    ("shield.on", "on: the rules act", "an: die Regeln wirken"),
    (
        "shield.off",
        "off: every call rings, decisions are only recorded",
        "aus: jeder Anruf klingelt, Entscheidungen werden nur protokolliert",
    ),
    ("doors", "Door openers", "Türöffner"),
    (
        "doors.closed",
        "closed to everyone after too many wrong PINs",
        "für alle gesperrt nach zu vielen falschen PINs",
    ),
    (
        "doors.callers",
        "caller(s) locked out after wrong PINs",
        "Anrufer nach falschen PINs gesperrt",
    ),
    ("doors.open", "Open again", "Wieder freigeben"),
    ("turn_on", "Turn on", "Einschalten"),
    ("turn_off", "Turn off", "Ausschalten"),
    ("yes", "yes", "ja"),
    ("no", "no", "nein"),
    ("last_error", "Last error", "Letzter Fehler"),
    ("none", "none", "keiner"),
    ("numbers", "numbers", "Nummern"),
    ("your_lists", "your lists", "eigene Listen"),
    ("copy_version", "copy version", "Stand der Kopie"),
    ("no_copy", "no copy yet", "noch keine Kopie"),
    ("not_configured", "not configured", "nicht eingerichtet"),
    ("configured", "configured", "eingerichtet"),
    ("version", "Version", "Version"),
    ("blocked_only", "Blocked only", "Nur blockierte"),
    ("rule", "Rule", "Regel"),
    ("all", "all", "alle"),
    ("date", "Date", "Datum"),
    ("filter", "Filter", "Filtern"),
    ("time", "Time", "Zeit"),
    ("caller", "Caller", "Anrufer"),
    ("called", "Called", "Angerufen"),
    ("decision", "Decision", "Entscheidung"),
    ("outcome", "Outcome", "Ausgang"),
    ("actions", "Actions", "Aktionen"),
    ("anonymous", "anonymous", "unbekannt"),
    ("running", "running", "läuft"),
    ("no_calls", "No calls.", "Keine Anrufe."),
    ("live", "live", "live"),
    (
        "offline",
        "not live: reconnecting",
        "nicht live: verbinde neu",
    ),
    ("block", "Block", "Sperren"),
    ("allow", "Allow", "Erlauben"),
    ("report", "Report", "Melden"),
    ("to_phonebook", "To phonebook", "Ins Telefonbuch"),
    (
        "bar_too",
        "also on the Box's call-barring list",
        "auch in die Rufsperre der Box",
    ),
    (
        "blocked_into",
        "blocked: added to",
        "gesperrt: eingetragen in",
    ),
    (
        "allowed_into",
        "allowed: added to",
        "erlaubt: eingetragen in",
    ),
    (
        "reported",
        "reported to PhoneBlock",
        "an PhoneBlock gemeldet",
    ),
    (
        "added",
        "added to the phonebook",
        "ins Telefonbuch eingetragen",
    ),
    ("failed", "failed", "fehlgeschlagen"),
    ("rating", "Rating", "Bewertung"),
    ("comment", "Comment", "Kommentar"),
    ("send", "Send", "Senden"),
    ("cancel", "Cancel", "Abbrechen"),
    ("name", "Name", "Name"),
    ("phonebook", "Phonebook", "Telefonbuch"),
    ("add", "Add", "Hinzufügen"),
    ("A_LEGITIMATE", "legitimate", "seriös"),
    ("B_MISSED", "missed call", "verpasster Anruf"),
    ("C_PING", "ping call", "Ping-Anruf"),
    ("D_POLL", "poll", "Umfrage"),
    ("E_ADVERTISING", "advertising", "Werbung"),
    ("F_GAMBLE", "sweepstakes", "Gewinnspiel"),
    ("G_FRAUD", "fraud", "Betrug"),
    ("per_day", "Calls per day", "Anrufe pro Tag"),
    ("blocked", "blocked", "blockiert"),
    ("rang", "rang", "geklingelt"),
    ("top_rules", "Rules that decided", "Entscheidende Regeln"),
    (
        "top_blocked",
        "Numbers blocked most",
        "Am häufigsten blockiert",
    ),
    ("calls", "calls", "Anrufe"),
    ("last_30", "last 30 days", "letzte 30 Tage"),
    (
        "no_log",
        "No call log: set [calllog] db in the config.",
        "Kein Anrufprotokoll: [calllog] db in der Konfiguration setzen.",
    ),
    ("criteria", "Criteria", "Kriterien"),
    ("action", "Action", "Aktion"),
    ("matched", "Matched", "Treffer"),
    (
        "default",
        "Default (no rule matches)",
        "Standard (keine Regel trifft)",
    ),
    ("log_only_short", "log-only", "nur protokolliert"),
    ("no_rule", "(no rule)", "(keine Regel)"),
    (
        "log_unreadable",
        "The call log cannot be read",
        "Das Anrufprotokoll ist nicht lesbar",
    ),
];

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with(accept: &str, cookie: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::ACCEPT_LANGUAGE,
            HeaderValue::from_str(accept).unwrap(),
        );
        if let Some(c) = cookie {
            h.insert(header::COOKIE, HeaderValue::from_str(c).unwrap());
        }
        h
    }

    #[test]
    fn the_language_is_asked_then_kept_then_the_browsers() {
        assert_eq!(
            Lang::of(&with("de-DE,de;q=0.9,en;q=0.8", None), None),
            Lang::De
        );
        assert_eq!(
            Lang::of(&with("en-US,en;q=0.9,de;q=0.8", None), None),
            Lang::En
        );
        assert_eq!(
            Lang::of(&with("fr-FR,de;q=0.5,en;q=0.4", None), None),
            Lang::De
        );
        assert_eq!(Lang::of(&with("de;q=0,en;q=0.1", None), None), Lang::En);
        assert_eq!(Lang::of(&with("fr", None), None), Lang::En);
        assert_eq!(Lang::of(&with("", None), None), Lang::En);
        let kept = with("en", Some("a=b; minisip4fb_lang=de"));
        assert_eq!(Lang::of(&kept, None), Lang::De);
        assert_eq!(Lang::of(&kept, Some("en")), Lang::En);
        assert_eq!(Lang::of(&kept, Some("xx")), Lang::De);
    }

    /// Every key the pages and the script use has both texts, and no
    /// key is there twice.
    #[test]
    fn every_text_used_is_there() {
        let mut keys: Vec<&str> = STRINGS.iter().map(|(k, _, _)| *k).collect();
        keys.sort_unstable();
        let n = keys.len();
        keys.dedup();
        assert_eq!(n, keys.len(), "a key twice");
        let js = include_str!("assets/app.js");
        let rs = [include_str!("pages.rs"), include_str!("mod.rs")].concat();
        // `t("key")` not part of a longer name (`set("…")`).
        let used = |text: &str, open: &str| -> Vec<String> {
            text.match_indices(open)
                .filter(|(i, _)| {
                    let before = text[..*i].chars().next_back().unwrap_or(' ');
                    !(before.is_alphanumeric() || before == '_')
                })
                .filter_map(|(i, _)| text[i + open.len()..].split('"').next().map(str::to_owned))
                .collect()
        };
        let mut all = used(js, "t(\"");
        all.extend(used(&rs, "lang.t(\""));
        assert!(all.len() > 40, "{all:?}");
        for k in all {
            assert!(keys.binary_search(&k.as_str()).is_ok(), "no text for {k:?}");
        }
        for (k, en, de) in STRINGS {
            assert!(!en.is_empty() && !de.is_empty(), "{k}");
        }
    }
}
