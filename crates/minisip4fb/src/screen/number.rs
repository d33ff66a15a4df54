//! Caller numbers: E.164 normalisation with libphonenumber's metadata (the
//! `phonenumber` crate), given the household's country and area code, and
//! the facts rules look at (country, validity, type, foreign).

use std::fmt;
use std::str::FromStr;

use phonenumber::country::Id;
use phonenumber::metadata::DATABASE;
use phonenumber::{PhoneNumber, Type};

/// Where the household is: numbers without country (and area) code are
/// read as being from here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Home {
    pub country: Id,
    /// The country calling code, e.g. 49.
    pub calling_code: u16,
    /// The area code without the trunk prefix, e.g. "30" for Berlin.
    pub area_code: Option<String>,
    /// The national (trunk) prefix, "0" in Germany; none in Italy.
    pub trunk: Option<String>,
    /// The international call prefix: "00" in most of the world.
    pub intl: String,
}

/// A country code that cannot be a home (or a rule's country).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HomeError {
    #[error("unknown country {0:?}: use an ISO 3166 code like \"DE\" or \"AT\"")]
    UnknownCountry(String),
    #[error("no numbering data for country {0:?}")]
    NoData(String),
}

impl Home {
    /// `country` is an ISO 3166 code (`DE`); `area_code` may keep its 0 (`030`).
    pub fn new(country: &str, area_code: Option<&str>) -> Result<Home, HomeError> {
        let id = Id::from_str(&country.to_ascii_uppercase())
            .map_err(|_| HomeError::UnknownCountry(country.to_owned()))?;
        let (calling_code, trunk, intl) = crate::call::regions::region(id.as_ref())
            .ok_or_else(|| HomeError::NoData(country.to_owned()))?;
        let trunk = trunk.map(str::to_owned);
        let area_code = area_code
            .map(|a| {
                let d = digits(a);
                match &trunk {
                    Some(t) => d.strip_prefix(t.as_str()).unwrap_or(&d).to_owned(),
                    None => d,
                }
            })
            .filter(|a| !a.is_empty());
        let intl = intl.to_owned();
        Ok(Home {
            country: id,
            calling_code,
            area_code,
            trunk,
            intl,
        })
    }
}

/// The kind of number, as libphonenumber's metadata classifies it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Mobile,
    FixedLine,
    /// Fixed line or mobile: the numbering plan cannot tell (e.g. US).
    FixedOrMobile,
    Premium,
    TollFree,
    SharedCost,
    Voip,
    Personal,
    /// Pager, UAN, voicemail, short codes …
    Other,
    Unknown,
}

impl Kind {
    pub const NAMES: &[&str] = &[
        "mobile",
        "fixed",
        "premium",
        "toll-free",
        "shared-cost",
        "voip",
        "personal",
        "other",
        "unknown",
    ];

    pub fn parse(s: &str) -> Option<Kind> {
        Some(match s {
            "mobile" => Kind::Mobile,
            "fixed" => Kind::FixedLine,
            "premium" => Kind::Premium,
            "toll-free" => Kind::TollFree,
            "shared-cost" => Kind::SharedCost,
            "voip" => Kind::Voip,
            "personal" => Kind::Personal,
            "other" => Kind::Other,
            "unknown" => Kind::Unknown,
            _ => return None,
        })
    }

    /// Whether a rule naming `self` matches a number of kind `other`.
    pub fn covers(self, other: Kind) -> bool {
        self == other
            || (other == Kind::FixedOrMobile && matches!(self, Kind::Mobile | Kind::FixedLine))
    }

    fn from_type(t: Type) -> Kind {
        match t {
            Type::Mobile => Kind::Mobile,
            Type::FixedLine => Kind::FixedLine,
            Type::FixedLineOrMobile => Kind::FixedOrMobile,
            Type::PremiumRate => Kind::Premium,
            Type::TollFree => Kind::TollFree,
            Type::SharedCost => Kind::SharedCost,
            Type::Voip => Kind::Voip,
            Type::PersonalNumber => Kind::Personal,
            Type::Unknown => Kind::Unknown,
            _ => Kind::Other,
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Mobile => "mobile",
            Kind::FixedLine => "fixed",
            Kind::FixedOrMobile => "fixed or mobile",
            Kind::Premium => "premium",
            Kind::TollFree => "toll-free",
            Kind::SharedCost => "shared-cost",
            Kind::Voip => "voip",
            Kind::Personal => "personal",
            Kind::Other => "other",
            Kind::Unknown => "unknown",
        })
    }
}

/// Who is calling, classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Class {
    /// Number withheld (CLIR).
    Anonymous,
    /// Another phone of the same Box (`**622`, `**9`): never screened.
    Internal(String),
    External(Number),
}

/// An external caller's number with its derived facts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Number {
    /// As the Box sent it.
    pub raw: String,
    /// `+49301234567`, when the digits make a number at all.
    pub e164: Option<String>,
    /// ISO 3166 country, when known (`DE`).
    pub country: Option<String>,
    pub valid: bool,
    pub possible: bool,
    pub kind: Kind,
    /// From another country than the household's.
    pub foreign: bool,
}

/// Only the digits (and a leading +) of a number as people write it:
/// `+49 (0)30 / 123-45 67` → `+49301234567` (the `(0)` some write after
/// the country code is not dialled).
pub fn digits(s: &str) -> String {
    let s = s.trim();
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(c) = rest.chars().next() {
        // "+49 (0)30 …": the bracketed trunk prefix is not dialled.
        if rest.starts_with("(0)") {
            rest = &rest[3..];
            continue;
        }
        if c.is_ascii_digit() || (c == '+' && rest.len() == s.len()) {
            out.push(c);
        }
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// Whether the digits say where they belong: `+`, the international
/// prefix or the trunk prefix. Only numbers without any are ambiguous.
fn has_prefix(d: &str, home: &Home) -> bool {
    d.starts_with('+')
        || d.starts_with(home.intl.as_str())
        || home.trunk.as_deref().is_some_and(|t| d.starts_with(t))
}

/// Puts a number into the international form `+CC…` by the dialling
/// rules, before any metadata: the international prefix `00` → `+` (done
/// here, not by the crate, which misreads foreign numbers parsed against a
/// home region — its issues #29/#30), the trunk prefix `0` → the home
/// country code, no prefix at all → a local number in the home area.
pub fn internationalise(number: &str, home: &Home) -> Option<String> {
    internationalise_digits(&digits(number), home)
}

/// [`internationalise`] of what [`digits`] made of a number.
fn internationalise_digits(d: &str, home: &Home) -> Option<String> {
    // Written piece by piece: this runs on the phone's turn for every
    // call, where the formatting machinery would be most of its code.
    let mut out = String::with_capacity(d.len() + 8);
    out.push('+');
    if let Some(rest) = d.strip_prefix('+') {
        out.push_str(rest);
    } else if let Some(rest) = d.strip_prefix(home.intl.as_str()) {
        out.push_str(rest);
    } else {
        out.push_str(minisip4fb_proto::sip::lex::decimal(
            home.calling_code.into(),
            &mut [0; 20],
        ));
        match home.trunk.as_deref().and_then(|t| d.strip_prefix(t)) {
            Some(rest) => out.push_str(rest),
            None => {
                out.push_str(home.area_code.as_deref().unwrap_or(""));
                out.push_str(d);
            }
        }
    }
    let intl = out.len() - 1;
    let cc_digits = home
        .calling_code
        .checked_ilog10()
        .map_or(1, |l| l as usize + 1);
    let cc_only = intl <= cc_digits && !d.starts_with('+');
    (intl > 0 && !cc_only && !d.is_empty()).then_some(out)
}

/// E.164 as [`to_e164`] reads it, else by its dialled form alone: a number
/// the metadata rejects (a new range, a typo) is still that number.
pub fn dialled_e164(number: &str, home: &Home) -> Option<String> {
    to_e164(number, home).or_else(|| internationalise(number, home))
}

fn parse_intl(intl: &str) -> Option<PhoneNumber> {
    phonenumber::parse(None, intl).ok()
}

/// Normalises a number to E.164. With a prefix (`+`, `00`, trunk `0`)
/// that is pure dialling arithmetic, no metadata needed — which is what
/// lets a million-entry list load in about a second. A number without any
/// prefix is a local number in the home area, unless it starts with the
/// area code: then it is a national number that lost its trunk 0
/// (`301234567` in Berlin is `+49301234567`); the metadata picks the other
/// reading when the first is not a valid number.
pub fn to_e164(number: &str, home: &Home) -> Option<String> {
    let d = digits(number);
    if has_prefix(&d, home) {
        return internationalise_digits(&d, home);
    }
    let mut candidates = vec![internationalise_digits(&d, home)?];
    if let Some(area) = &home.area_code {
        let national = format!("+{}{d}", home.calling_code);
        if d.starts_with(area.as_str()) {
            candidates.insert(0, national);
        } else {
            candidates.push(national);
        }
    }
    // Without the metadata loaded (no rule needs it) the first reading
    // stands: loading it here could stall the phone's thread.
    let valid = if metadata_loaded() {
        candidates
            .iter()
            .find(|c| parse_intl(c).as_ref().is_some_and(PhoneNumber::is_valid))
    } else {
        None
    };
    Some(valid.unwrap_or(&candidates[0]).clone())
}

static METADATA: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether [`warm_up`] has loaded libphonenumber's metadata.
pub fn metadata_loaded() -> bool {
    METADATA.load(std::sync::atomic::Ordering::Acquire)
}

/// Classifies the number the Box sent in From (`None`: withheld).
pub fn classify(number: Option<&str>, home: &Home) -> Class {
    match classify_lazy(number, home) {
        LazyClass::Anonymous => Class::Anonymous,
        LazyClass::Internal(n) => Class::Internal(n),
        LazyClass::External(n) => Class::External(facts_of(&n.raw, n.e164, home)),
    }
}

/// libphonenumber's facts about an external number.
fn facts_of(raw: &str, e164: Option<String>, home: &Home) -> Number {
    let Some(pn) = e164.as_deref().and_then(parse_intl) else {
        return Number {
            raw: raw.to_owned(),
            e164,
            country: None,
            valid: false,
            possible: false,
            kind: Kind::Unknown,
            foreign: false,
        };
    };
    let country = pn.country().id().map(|id| format!("{id:?}"));
    let valid = pn.is_valid();
    Number {
        raw: raw.to_owned(),
        e164,
        foreign: pn.code().value() != home.calling_code,
        country,
        possible: valid || phonenumber::is_viable(raw),
        valid,
        kind: Kind::from_type(pn.number_type(&DATABASE)),
    }
}

/// Loads libphonenumber's metadata and compiles the home country's
/// patterns, which it otherwise does on first use, i.e. on the first call
/// that needs them. Takes tens of milliseconds and some 6 MB: run it
/// beside registering, and only when a rule needs a number's facts.
pub fn warm_up(home: &Home) {
    let _ = classify(Some(&format!("+{}301234567", home.calling_code)), home);
    METADATA.store(true, std::sync::atomic::Ordering::Release);
}

/// A caller's number whose libphonenumber facts are worked out only when a
/// rule asks for them: most decisions need just the E.164 form.
#[derive(Debug)]
pub struct LazyNumber<'h> {
    pub raw: String,
    pub e164: Option<String>,
    home: &'h Home,
    facts: std::cell::OnceCell<Number>,
}

impl LazyNumber<'_> {
    /// Country, validity, type: the full classification, computed once.
    pub fn facts(&self) -> &Number {
        self.facts
            .get_or_init(|| facts_of(&self.raw, self.e164.clone(), self.home))
    }
}

/// Who is calling, with the number's facts left for later.
#[derive(Debug)]
pub enum LazyClass<'h> {
    Anonymous,
    Internal(String),
    External(LazyNumber<'h>),
}

impl LazyClass<'_> {
    /// The number as the call log shows it: E.164 when known, else as
    /// sent; `None` when withheld or internal.
    pub fn shown(&self) -> Option<&str> {
        match self {
            LazyClass::External(n) => Some(n.e164.as_deref().unwrap_or(&n.raw)),
            _ => None,
        }
    }
}

/// Like [`classify`], but only normalises the number now; the facts come
/// when [`LazyNumber::facts`] asks.
pub fn classify_lazy<'h>(number: Option<&str>, home: &'h Home) -> LazyClass<'h> {
    let Some(raw) = number.map(str::trim).filter(|n| !n.is_empty()) else {
        return LazyClass::Anonymous;
    };
    if is_internal(raw) {
        return LazyClass::Internal(raw.to_owned());
    }
    LazyClass::External(LazyNumber {
        raw: raw.to_owned(),
        e164: to_e164(raw, home),
        home,
        facts: std::cell::OnceCell::new(),
    })
}

fn is_internal(raw: &str) -> bool {
    minisip4fb_proto::agent::caller::is_internal_number(raw)
}

/// E.164 digits (without '+') as an integer: the key of the big lists.
/// At most 15 digits (ITU-T E.164), so it always fits.
pub fn e164_key(e164: &str) -> Option<u64> {
    let d = e164.strip_prefix('+')?;
    if d.is_empty() || d.len() > 15 || !d.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    d.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn berlin() -> Home {
        let h = Home::new("DE", Some("030")).unwrap();
        warm_up(&h);
        h
    }

    #[test]
    fn german_forms() {
        let h = berlin();
        // The example: all forms of one Berlin number.
        for form in [
            "030 1234567",
            "+49301234567",
            "0049301234567",
            "301234567",
            "1234567",
            "030/123 45 67",
            "+49 (30) 123-4567",
        ] {
            assert_eq!(to_e164(form, &h).as_deref(), Some("+49301234567"), "{form}");
        }
        let table = [
            ("040855992611", "+4940855992611"),
            ("01701234567", "+491701234567"),
            ("0171 2345678", "+491712345678"),
            ("09005551234", "+499005551234"),
            ("0800 3301000", "+498003301000"),
            ("01805 123456", "+491805123456"),
            ("089 12345678", "+498912345678"),
        ];
        for (form, e164) in table {
            assert_eq!(to_e164(form, &h).as_deref(), Some(e164), "{form}");
        }
    }

    #[test]
    fn international_forms() {
        let h = berlin();
        let table = [
            ("0044 20 7946 0000", "+442079460000"),
            ("+44 20 7946 0000", "+442079460000"),
            ("001 212 555 0123", "+12125550123"),
            ("0043 1 5344 0", "+43153440"),
            ("00234 803 123 4567", "+2348031234567"),
            ("0033 1 42 68 53 00", "+33142685300"),
            ("+44 (0)20 7946 0000", "+442079460000"),
            ("0041 44 668 18 00", "+41446681800"),
        ];
        for (form, e164) in table {
            assert_eq!(to_e164(form, &h).as_deref(), Some(e164), "{form}");
        }
        // Austrian household: a Vienna local number and a German one.
        let vienna = Home::new("AT", Some("01")).unwrap();
        assert_eq!(to_e164("5344 0", &vienna).as_deref(), Some("+43153440"));
        assert_eq!(
            to_e164("0049 30 1234567", &vienna).as_deref(),
            Some("+49301234567")
        );
        // Italy keeps its leading 0 after the country code (no trunk prefix).
        let rome = Home::new("IT", Some("06")).unwrap();
        assert_eq!(to_e164("06 6982", &rome).as_deref(), Some("+39066982"));
        assert_eq!(
            to_e164("0049 30 1234567", &rome).as_deref(),
            Some("+49301234567")
        );
    }

    #[test]
    fn facts_and_classes() {
        let h = berlin();
        let Class::External(n) = classify(Some("09005551234"), &h) else {
            panic!()
        };
        assert_eq!(
            (n.kind, n.foreign, n.country.as_deref()),
            (Kind::Premium, false, Some("DE"))
        );
        let Class::External(n) = classify(Some("01701234567"), &h) else {
            panic!()
        };
        assert_eq!(n.kind, Kind::Mobile);
        assert!(n.valid);
        let Class::External(n) = classify(Some("08003301000"), &h) else {
            panic!()
        };
        assert_eq!(n.kind, Kind::TollFree);
        let Class::External(n) = classify(Some("00442079460000"), &h) else {
            panic!()
        };
        assert!(n.foreign && n.valid);
        assert_eq!(n.country.as_deref(), Some("GB"));
        let Class::External(n) = classify(Some("0002"), &h) else {
            panic!()
        };
        assert!(!n.valid);
        assert_eq!(classify(None, &h), Class::Anonymous);
        assert_eq!(classify(Some("**622"), &h), Class::Internal("**622".into()));
        // Only `**…` is internal: a short number from outside is screened.
        for short in ["1", "12", "21", "112", "622"] {
            assert!(
                matches!(classify(Some(short), &h), Class::External(_)),
                "{short}"
            );
        }
        assert!(Home::new("XX", None).is_err());
        assert_eq!(e164_key("+49301234567"), Some(49301234567));
        assert_eq!(e164_key("+1234567890123456"), None);
    }
}
