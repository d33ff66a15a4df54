//! Every word a person reads of the service, in English and German, from
//! one catalogue: the dashboard's texts, and the templates of what is said
//! about a call (decisions, outcomes, reasons, a rule's criteria). The call
//! log, the API and the config keep their English words; people are shown
//! them in their language through [`Said`].

use std::fmt::Write as _;

use super::show::Lang;
use crate::net::Outcome;
use minisip4fb_proto::sip::StatusCode;

impl Lang {
    /// The text for `key`. A key without texts is a mistake of ours: the
    /// tests find every key used, debug builds stop at it, and a release
    /// shows a visible `?`, not nothing.
    pub fn t(self, key: &str) -> &'static str {
        match text(key) {
            Some((en, de)) => self.pick(en, de),
            None => {
                debug_assert!(false, "no text for {key:?}");
                "?"
            }
        }
    }

    /// A word of the config, the call log or the API (`terminate`,
    /// `cancelled-by-caller`, a number type) in this language: the text of
    /// `{kind}.{value}` when the catalogue has it, else the word itself.
    pub fn word(self, kind: &str, value: &str) -> String {
        match text(&format!("{kind}.{value}")) {
            Some((en, de)) => self.pick(en, de).to_owned(),
            None => value.to_owned(),
        }
    }

    /// How a call ended, as people read it.
    pub fn outcome(self, o: Outcome) -> String {
        match o {
            // 480 reads "declined" (Outcome::as_text); any other code is named.
            Outcome::Rejected(code) if code != StatusCode::TEMPORARILY_UNAVAILABLE => {
                Said::new("outcome.rejected").with("code", code).show(self)
            }
            Outcome::ByeFailed(Some(code)) => Said::new("outcome.bye-failed")
                .with("code", code)
                .show(self),
            _ => self.word("outcome", &o.as_text()),
        }
    }
}

fn text(key: &str) -> Option<(&'static str, &'static str)> {
    TEXTS
        .iter()
        .find(|(k, _, _)| *k == key)
        .map(|(_, en, de)| (*en, *de))
}

/// Every key of the catalogue with its text in `lang`, but the templates
/// only the server fills (`why.`, `crit.`).
pub fn all(lang: Lang) -> impl Iterator<Item = (&'static str, &'static str)> {
    TEXTS
        .iter()
        .filter(|(k, _, _)| !k.starts_with("why.") && !k.starts_with("crit."))
        .map(move |(k, en, de)| (*k, lang.pick(en, de)))
}

/// Every key of the catalogue (for the tests).
pub fn keys() -> impl Iterator<Item = &'static str> {
    TEXTS.iter().map(|(k, _, _)| *k)
}

/// Placeholders whose values are words of ours, shown in the reader's
/// language through `{kind}.{value}` texts (each of a list `a, b`); every
/// other value (a number, a list's name) is shown as it is.
const TRANSLATED: &[(&str, &str)] = &[
    ("who", "who"),
    ("action", "action"),
    ("would", "action"),
    ("kind", "kind"),
    ("types", "kind"),
    ("rating", "rating"),
    ("days", "weekday"),
];

/// A sentence of the catalogue with its values, in English: a reason, a
/// rule's criterion. Shown in either language; `{n}` picks the singular
/// (`key.one`) when it is 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Said {
    pub key: &'static str,
    pub args: Vec<(&'static str, String)>,
}

impl Said {
    pub fn new(key: &'static str) -> Said {
        Said {
            key,
            args: Vec::new(),
        }
    }

    pub fn with(mut self, name: &'static str, value: impl ToString) -> Said {
        self.args.push((name, value.to_string()));
        self
    }

    /// The sentence in `lang`, its values in `lang` where they are words
    /// of ours.
    pub fn show(&self, lang: Lang) -> String {
        self.render(lang, true)
    }

    /// The sentence as the call log and the API keep it: English, its
    /// values the config's words (`E_ADVERTISING`, `terminate`).
    pub fn text(&self) -> String {
        self.render(Lang::En, false)
    }

    fn render(&self, lang: Lang, translated: bool) -> String {
        let one = self.args.iter().any(|(k, v)| *k == "n" && v == "1");
        let singular = one.then(|| format!("{}.one", self.key));
        let template = match singular.as_deref().and_then(text) {
            Some((en, de)) => lang.pick(en, de),
            None => lang.t(self.key),
        };
        let mut out = String::with_capacity(template.len() + 16);
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let Some(close) = rest[open..].find('}') else {
                break;
            };
            let name = &rest[open + 1..open + close];
            let value = self.args.iter().find(|(k, _)| *k == name).map(|(_, v)| v);
            let words = TRANSLATED.iter().find(|(p, _)| translated && *p == name);
            match (value, words) {
                (Some(v), Some((_, kind))) => {
                    let words: Vec<String> = v.split(", ").map(|w| lang.word(kind, w)).collect();
                    out.push_str(&words.join(", "));
                }
                (Some(v), None) => out.push_str(v),
                (None, _) => {
                    debug_assert!(false, "{}: no value for {{{name}}}", self.key);
                }
            }
            rest = &rest[open + close + 1..];
        }
        out.push_str(rest);
        out
    }
}

/// The English template of `key` as a regular expression that reads its
/// values back (`{who}` becomes the group `{prefix}who`), for the texts
/// the call log keeps in English. Lazy groups: a value ends at the first
/// place where the rest still matches.
pub fn pattern(key: &str, prefix: &str) -> String {
    let template = text(key).map_or("", |(en, _)| en);
    let mut out = String::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&regex::escape(&rest[..open]));
        let close = rest[open..].find('}').unwrap_or(rest.len() - open);
        let name = &rest[open + 1..open + close];
        let _ = write!(out, "(?P<{prefix}{name}>.*?)");
        rest = &rest[(open + close + 1).min(rest.len())..];
    }
    out.push_str(&regex::escape(rest));
    out
}

/// How many characters of `key`'s English template are its own, not
/// values.
pub fn fixed_len(key: &str) -> usize {
    let template = text(key).map_or("", |(en, _)| en);
    template.len() - placeholders(key).iter().map(|p| p.len() + 2).sum::<usize>()
}

/// The names of `key`'s placeholders, in order.
pub fn placeholders(key: &str) -> Vec<&'static str> {
    let template = text(key).map_or("", |(en, _)| en);
    template
        .split('{')
        .skip(1)
        .filter_map(|s| s.split_once('}').map(|(name, _)| name))
        .collect()
}

/// (key, English, German). `{name}` is a value; a `key.one` text is the
/// singular of `key` for `{n}` = 1.
const TEXTS: &[(&str, &str, &str)] = &[
    // The dashboard's menu and pages.
    ("nav.status", "Status", "Status"),
    ("nav.calls", "Calls", "Anrufe"),
    ("nav.stats", "Statistics", "Statistik"),
    ("nav.rules", "Rules", "Regeln"),
    ("logout", "Log out", "Abmelden"),
    ("login", "Log in", "Anmelden"),
    ("password", "Password", "Passwort"),
    ("login.wrong", "Wrong password.", "Falsches Passwort."),
    (
        "login.wait",
        "Too many attempts: wait {n} s.",
        "Zu viele Versuche: {n} s warten.",
    ),
    ("registration", "Registration", "Anmeldung"),
    ("reg.registered", "registered", "angemeldet"),
    ("reg.connecting", "connecting", "verbindet"),
    ("reg.no-answer", "no answer", "keine Antwort"),
    ("reg.failed", "failed", "fehlgeschlagen"),
    ("reg.unregistered", "not registered", "nicht angemeldet"),
    ("since", "Since", "Seit"),
    (
        "last_heard",
        "Last heard from the Box",
        "Zuletzt von der Box gehört",
    ),
    (
        "not_delivered",
        "Last call that never reached us",
        "Letzter Anruf, der uns nicht erreichte",
    ),
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
        "{n} callers locked out after wrong PINs",
        "{n} Anrufer nach falschen PINs gesperrt",
    ),
    (
        "doors.callers.one",
        "{n} caller locked out after wrong PINs",
        "{n} Anrufer nach falschen PINs gesperrt",
    ),
    ("doors.open", "Open again", "Wieder freigeben"),
    (
        "passes",
        "Passed the key-press check",
        "Tastenprüfung bestanden",
    ),
    ("passes.until", "until {until}", "bis {until}"),
    ("passes.forever", "for good", "dauerhaft"),
    ("passes.keep", "Keep for good", "Dauerhaft erlauben"),
    ("passes.remove", "Take back", "Zurücknehmen"),
    ("turn_on", "Turn on", "Einschalten"),
    ("turn_off", "Turn off", "Ausschalten"),
    ("yes", "yes", "ja"),
    ("no", "no", "nein"),
    ("last_error", "Last error", "Letzter Fehler"),
    ("none", "none", "keiner"),
    (
        "phoneblock.copy",
        "{n} numbers and {ranges} spam ranges, copy version {version}; your lists: {black} + {white}",
        "{n} Nummern und {ranges} Spam-Bereiche, Stand der Kopie {version}; eigene Listen: {black} + {white}",
    ),
    (
        "phoneblock.copy.one",
        "{n} number and {ranges} spam ranges, copy version {version}; your lists: {black} + {white}",
        "{n} Nummer und {ranges} Spam-Bereiche, Stand der Kopie {version}; eigene Listen: {black} + {white}",
    ),
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
        "Block also puts the number on the Box's call-barring list",
        "Sperren trägt die Nummer auch in die Rufsperre der Box ein",
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
    ("per_day", "Calls per day", "Anrufe pro Tag"),
    ("blocked", "blocked", "blockiert"),
    ("rang", "rang", "geklingelt"),
    // A day of the chart (chrono's format; its month names are English).
    ("day", "%b %-d", "%-d.%-m."),
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
    // Who called: a withheld number (call::show::who says the same).
    ("who.anonymous", "anonymous", "unbekannt"),
    // The actions: in English the config's words.
    ("action.ring", "ring", "klingeln"),
    ("action.terminate", "terminate", "beenden"),
    ("action.decline", "decline", "ablehnen"),
    (
        "action.ignore-silently",
        "ignore-silently",
        "still ignorieren",
    ),
    (
        "action.terminate-and-bar",
        "terminate-and-bar",
        "beenden und sperren",
    ),
    ("action.answer", "answer", "annehmen"),
    ("action.challenge", "challenge", "Tastenprüfung"),
    // How a call ended (`net::Outcome`).
    ("outcome.terminated", "terminated", "beendet"),
    (
        "outcome.hung-up-by-caller",
        "caller hung up",
        "Anrufer hat aufgelegt",
    ),
    (
        "outcome.cancelled-by-caller",
        "caller gave up",
        "Anrufer hat aufgegeben",
    ),
    (
        "outcome.answered-elsewhere",
        "answered elsewhere",
        "anderswo angenommen",
    ),
    ("outcome.declined", "declined", "abgelehnt"),
    (
        "outcome.rejected",
        "rejected ({code})",
        "abgewiesen ({code})",
    ),
    ("outcome.no-ack", "no ACK", "keine Bestätigung (ACK)"),
    (
        "outcome.bye-failed",
        "hang-up failed ({code})",
        "Auflegen fehlgeschlagen ({code})",
    ),
    (
        "outcome.bye-unanswered",
        "hang-up unanswered",
        "Auflegen unbeantwortet",
    ),
    ("outcome.expired", "expired", "abgelaufen"),
    // PhoneBlock's ratings.
    ("rating.A_LEGITIMATE", "legitimate", "seriös"),
    ("rating.B_MISSED", "missed call", "verpasster Anruf"),
    ("rating.C_PING", "ping call", "Ping-Anruf"),
    ("rating.D_POLL", "poll", "Umfrage"),
    ("rating.E_ADVERTISING", "advertising", "Werbung"),
    ("rating.F_GAMBLE", "sweepstakes", "Gewinnspiel"),
    ("rating.G_FRAUD", "fraud", "Betrug"),
    // Number types (`screen::number::Kind`), in English as the reason
    // says them.
    ("kind.mobile", "mobile", "Mobilfunk"),
    ("kind.fixed", "fixed", "Festnetz"),
    (
        "kind.fixed or mobile",
        "fixed or mobile",
        "Festnetz oder Mobilfunk",
    ),
    ("kind.premium", "premium", "Mehrwertdienst"),
    ("kind.toll-free", "toll-free", "kostenlos"),
    ("kind.shared-cost", "shared-cost", "geteilte Kosten"),
    ("kind.voip", "voip", "VoIP"),
    ("kind.personal", "personal", "persönliche Nummer"),
    ("kind.other", "other", "sonstige"),
    ("kind.unknown", "unknown", "unbekannt"),
    // Weekdays as chrono writes them.
    ("weekday.Mon", "Mon", "Mo"),
    ("weekday.Tue", "Tue", "Di"),
    ("weekday.Wed", "Wed", "Mi"),
    ("weekday.Thu", "Thu", "Do"),
    ("weekday.Fri", "Fri", "Fr"),
    ("weekday.Sat", "Sat", "Sa"),
    ("weekday.Sun", "Sun", "So"),
    // Why a call got its decision (`screen::rules::Why`): the call log
    // keeps the English, which the dashboard reads back.
    (
        "why.internal",
        "internal call from {number}: never screened",
        "interner Anruf von {number}: nie geprüft",
    ),
    (
        "why.default",
        "default ({action}): no rule matched {who}",
        "Standard ({action}): keine Regel trifft auf {who} zu",
    ),
    ("why.rule", "rule {rule}: ", "Regel {rule}: "),
    ("why.any", "{who}, any caller", "{who}, jeder Anrufer"),
    ("why.anonymous", "anonymous caller", "Anrufer unbekannt"),
    (
        "why.listed",
        "{who} listed",
        "{who} in der Regel eingetragen",
    ),
    (
        "why.entry",
        "{who} matches {entry}",
        "{who} passt zu {entry}",
    ),
    ("why.in_list", "{who} in {list}", "{who} steht in {list}"),
    (
        "why.in_list_named",
        "{who} in {list} ({name})",
        "{who} steht in {list} ({name})",
    ),
    (
        "why.community",
        "{who} has {n} PhoneBlock votes",
        "{who} hat {n} PhoneBlock-Stimmen",
    ),
    (
        "why.community.one",
        "{who} has {n} PhoneBlock vote",
        "{who} hat {n} PhoneBlock-Stimme",
    ),
    (
        "why.community_rated",
        "{who} has {n} PhoneBlock votes ({rating})",
        "{who} hat {n} PhoneBlock-Stimmen ({rating})",
    ),
    (
        "why.community_rated.one",
        "{who} has {n} PhoneBlock vote ({rating})",
        "{who} hat {n} PhoneBlock-Stimme ({rating})",
    ),
    (
        "why.range",
        "{who} is in a PhoneBlock spam range {range} (at least {n} votes)",
        "{who} liegt in einem PhoneBlock-Spam-Bereich {range} (mindestens {n} Stimmen)",
    ),
    (
        "why.live",
        "{who} has {n} PhoneBlock votes (live check)",
        "{who} hat {n} PhoneBlock-Stimmen (Live-Abfrage)",
    ),
    (
        "why.live.one",
        "{who} has {n} PhoneBlock vote (live check)",
        "{who} hat {n} PhoneBlock-Stimme (Live-Abfrage)",
    ),
    (
        "why.live_range",
        "{who} is in a PhoneBlock spam range with {n} votes (live check)",
        "{who} liegt in einem PhoneBlock-Spam-Bereich mit {n} Stimmen (Live-Abfrage)",
    ),
    (
        "why.live_range.one",
        "{who} is in a PhoneBlock spam range with {n} vote (live check)",
        "{who} liegt in einem PhoneBlock-Spam-Bereich mit {n} Stimme (Live-Abfrage)",
    ),
    (
        "why.live_black",
        "{who} is on your PhoneBlock blacklist (live check)",
        "{who} steht auf Ihrer PhoneBlock-Sperrliste (Live-Abfrage)",
    ),
    (
        "why.foreign",
        "{who} is foreign ({country})",
        "{who} kommt aus dem Ausland ({country})",
    ),
    (
        "why.abroad",
        "{who} is foreign (abroad)",
        "{who} kommt aus dem Ausland",
    ),
    (
        "why.invalid",
        "{who} is not a valid number",
        "{who} ist keine gültige Nummer",
    ),
    ("why.kind", "{who} is {kind}", "{who}: Nummerntyp {kind}"),
    (
        "why.name",
        "{who} is named \"{name}\", which matches {pattern}",
        "{who} heißt \"{name}\", passend zu {pattern}",
    ),
    (
        "why.country",
        "{who} is from {country}",
        "{who} kommt aus {country}",
    ),
    (
        "why.repeated",
        "{who} called {n} times within {within}",
        "{who} rief {n}-mal innerhalb von {within} an",
    ),
    (
        "why.repeated.one",
        "{who} called {n} time within {within}",
        "{who} rief {n}-mal innerhalb von {within} an",
    ),
    (
        "why.hours",
        " between {from}-{until}",
        " zwischen {from} und {until}",
    ),
    ("why.to", " to {called}", " an {called}"),
    (
        "why.account",
        " on line {account}",
        " auf Leitung {account}",
    ),
    (
        "why.passed",
        ", passed the key-press check (may call until {until})",
        ", hat die Tastenprüfung bestanden (darf bis {until} anrufen)",
    ),
    (
        "why.passed_forever",
        ", passed the key-press check (may always call)",
        ", hat die Tastenprüfung bestanden (darf immer anrufen)",
    ),
    (
        "why.refused",
        ", failed the key-press check too often (not asked again until {until})",
        ", hat die Tastenprüfung zu oft nicht bestanden (wird bis {until} nicht mehr gefragt)",
    ),
    (
        "why.log_only",
        " (log-only: would {would})",
        " (nur protokolliert: würde {would})",
    ),
    // A rule's criteria, as the rules page lists them.
    ("crit.numbers", "numbers: {numbers}", "Nummern: {numbers}"),
    (
        "crit.numbers_more",
        "numbers: {numbers} (+{n} more)",
        "Nummern: {numbers} (+{n} weitere)",
    ),
    (
        "crit.list",
        "list {list} ({n} numbers)",
        "Liste {list} ({n} Nummern)",
    ),
    (
        "crit.list.one",
        "list {list} ({n} number)",
        "Liste {list} ({n} Nummer)",
    ),
    (
        "crit.community",
        "{list}, at least {n} votes",
        "{list}, mindestens {n} Stimmen",
    ),
    (
        "crit.community.one",
        "{list}, at least {n} vote",
        "{list}, mindestens {n} Stimme",
    ),
    ("crit.anonymous", "anonymous", "unbekannt"),
    ("crit.foreign", "foreign", "aus dem Ausland"),
    ("crit.invalid", "invalid", "ungültige Nummer"),
    ("crit.types", "types: {types}", "Nummerntypen: {types}"),
    (
        "crit.country",
        "country: {countries}",
        "Länder: {countries}",
    ),
    ("crit.names", "names: {names}", "Namen: {names}"),
    (
        "crit.repeated",
        "repeated: {n} calls within {within}",
        "wiederholt: {n} Anrufe innerhalb von {within}",
    ),
    (
        "crit.repeated.one",
        "repeated: {n} call within {within}",
        "wiederholt: {n} Anruf innerhalb von {within}",
    ),
    ("crit.hours", "hours: {hours}", "Uhrzeit: {hours}"),
    ("crit.weekdays", "weekdays: {days}", "Wochentage: {days}"),
    ("crit.to", "to: {to}", "an: {to}"),
    ("crit.accounts", "line: {accounts}", "Leitung: {accounts}"),
    ("crit.any", "every caller", "jeder Anrufer"),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::Action;

    /// No key twice; every text in both languages, with the same values.
    #[test]
    fn the_catalogue_is_whole() {
        let mut keys: Vec<&str> = keys().collect();
        keys.sort_unstable();
        let n = keys.len();
        keys.dedup();
        assert_eq!(n, keys.len(), "a key twice");
        for (k, en, de) in TEXTS {
            assert!(!en.is_empty() && !de.is_empty(), "{k}");
            let mut a = placeholders(k);
            let mut b: Vec<&str> = de
                .split('{')
                .skip(1)
                .filter_map(|s| s.split_once('}').map(|(n, _)| n))
                .collect();
            a.sort_unstable();
            b.sort_unstable();
            assert_eq!(a, b, "{k}: the languages name other values");
        }
    }

    /// The words of the config, the call log and the API: every one has
    /// its texts, and the English of an action is the config's word (the
    /// call log's reasons are read back by it).
    #[test]
    fn every_word_of_ours_has_its_texts() {
        for a in Action::ALL {
            assert!(text(&format!("action.{}", a.as_str())).is_some(), "{a:?}");
            assert_eq!(Lang::En.word("action", a.as_str()), a.as_str());
        }
        for r in crate::phoneblock::Rating::ALL {
            assert!(text(&format!("rating.{}", r.as_str())).is_some(), "{r:?}");
        }
        use crate::screen::number::Kind;
        for name in Kind::NAMES {
            let k = Kind::parse(name).unwrap();
            assert!(text(&format!("kind.{k}")).is_some(), "{k:?}");
            assert!(text(&format!("kind.{name}")).is_some(), "{name}");
            assert_eq!(Lang::En.word("kind", &k.to_string()), k.to_string());
        }
        assert!(text(&format!("kind.{}", Kind::FixedOrMobile)).is_some());
        for d in 0..7 {
            let day = chrono::Weekday::try_from(d).unwrap();
            assert!(text(&format!("weekday.{day}")).is_some(), "{day}");
        }
        for o in [
            Outcome::Terminated,
            Outcome::RemoteHungUp,
            Outcome::Cancelled,
            Outcome::AnsweredElsewhere,
            Outcome::Rejected(StatusCode::TEMPORARILY_UNAVAILABLE),
            Outcome::NoAck,
            Outcome::ByeFailed(None),
            Outcome::Expired,
        ] {
            assert!(text(&format!("outcome.{o}")).is_some(), "{o:?}");
        }
        assert_eq!(
            Lang::De.outcome(Outcome::Rejected(StatusCode(486))),
            "abgewiesen (486)"
        );
        assert_eq!(
            Lang::De.outcome(Outcome::Cancelled),
            "Anrufer hat aufgegeben"
        );
        for state in [
            "registered",
            "connecting",
            "no-answer",
            "failed",
            "unregistered",
        ] {
            assert!(text(&format!("reg.{state}")).is_some(), "{state}");
        }
    }

    #[test]
    fn said_in_either_language_with_plurals() {
        let list = |n: usize| {
            Said::new("crit.list")
                .with("list", "block.txt")
                .with("n", n)
        };
        assert_eq!(list(1).show(Lang::En), "list block.txt (1 number)");
        assert_eq!(list(2).show(Lang::En), "list block.txt (2 numbers)");
        assert_eq!(list(1).show(Lang::De), "Liste block.txt (1 Nummer)");
        let d = Said::new("why.default")
            .with("action", "ring")
            .with("who", "anonymous");
        assert_eq!(
            d.show(Lang::En),
            "default (ring): no rule matched anonymous"
        );
        assert_eq!(
            d.show(Lang::De),
            "Standard (klingeln): keine Regel trifft auf unbekannt zu"
        );
        let p = regex::Regex::new(&format!("^{}$", pattern("why.default", "x_"))).unwrap();
        let c = p
            .captures("default (ring): no rule matched +49 30")
            .unwrap();
        assert_eq!(&c["x_who"], "+49 30");
        assert_eq!(placeholders("why.default"), ["action", "who"]);
    }
}
