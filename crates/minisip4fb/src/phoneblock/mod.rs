//! PhoneBlock's community block list, kept locally (issue 13): the API's
//! answers read and checked, and the compact in-memory copy the rules look
//! numbers up in, without any network on the call path.
//!
//! This part is sans-IO: bytes in, a checked list out; the copy on disk
//! and the sync worker build on it.

use std::fmt;
use std::sync::Arc;

pub mod api;
pub mod binary;
pub mod store;
pub mod sync;

use serde::Deserialize;
use serde::de::{self, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// The community's ratings (PhoneBlock's API names them this way).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Rating {
    Legitimate,
    Missed,
    Ping,
    Poll,
    Advertising,
    Gamble,
    Fraud,
}

impl Rating {
    pub const ALL: [Rating; 7] = [
        Rating::Legitimate,
        Rating::Missed,
        Rating::Ping,
        Rating::Poll,
        Rating::Advertising,
        Rating::Gamble,
        Rating::Fraud,
    ];

    /// The API's name: `E_ADVERTISING`.
    pub fn as_str(self) -> &'static str {
        match self {
            Rating::Legitimate => "A_LEGITIMATE",
            Rating::Missed => "B_MISSED",
            Rating::Ping => "C_PING",
            Rating::Poll => "D_POLL",
            Rating::Advertising => "E_ADVERTISING",
            Rating::Gamble => "F_GAMBLE",
            Rating::Fraud => "G_FRAUD",
        }
    }

    /// From the API's name or its word (`E_ADVERTISING`, `advertising`),
    /// case-insensitive; `None` for anything else.
    pub fn parse(s: &str) -> Option<Rating> {
        let s = s.trim();
        Rating::ALL
            .into_iter()
            .find(|r| r.as_str().eq_ignore_ascii_case(s) || r.as_str()[2..].eq_ignore_ascii_case(s))
    }
}

impl fmt::Display for Rating {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An E.164 number as digits in a `u64` (`+4930123` → 4930123): at most 15
/// digits (ITU-T E.164 §6), no leading zero. `+49…` and `0049…` are read.
pub fn parse_phone(s: &str) -> Option<u64> {
    let s = s.trim();
    let digits = s.strip_prefix('+').or_else(|| s.strip_prefix("00"))?;
    let ok = (2..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0');
    ok.then(|| digits.parse().ok()).flatten()
}

/// `4930123` → `+4930123`.
pub fn e164(phone: u64) -> String {
    format!("+{phone}")
}

/// A number on the community list: 16 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listed {
    pub phone: u64,
    /// Votes as the API rounds them (2/4/10/20/50/100).
    pub votes: u32,
    pub rating: Option<Rating>,
}

/// The community list in memory: sorted by number, looked up by binary
/// search; built once per sync and swapped in whole.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Community {
    entries: Vec<Listed>,
    /// The API's version of this copy (`since=` for the next sync).
    pub version: i64,
}

impl Community {
    /// From entries in any order; a number listed twice keeps its last entry.
    pub fn new(mut entries: Vec<Listed>, version: i64) -> Community {
        entries.reverse();
        entries.sort_by_key(|e| e.phone);
        entries.dedup_by_key(|e| e.phone);
        entries.shrink_to_fit();
        Community { entries, version }
    }

    /// From entries sorted by number, each once (as the copy on disk keeps them).
    pub fn from_sorted(entries: Vec<Listed>, version: i64) -> Community {
        debug_assert!(entries.windows(2).all(|w| w[0].phone < w[1].phone));
        Community { entries, version }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn lookup(&self, phone: u64) -> Option<&Listed> {
        self.entries
            .binary_search_by_key(&phone, |e| e.phone)
            .ok()
            .map(|i| &self.entries[i])
    }

    pub fn entries(&self) -> &[Listed] {
        &self.entries
    }

    /// This copy with an incremental answer applied (votes 0 removes):
    /// a new list, so the one in use is never changed under a lookup.
    pub fn with_changes(&self, changes: &Changes) -> Result<(Community, Applied), SyncError> {
        if changes.version < self.version {
            return Err(SyncError::VersionBackwards {
                had: self.version,
                got: changes.version,
                full_in: None,
            });
        }
        // The last change of each number counts (a stable sort keeps their order).
        let mut changed: Vec<Listed> = changes
            .set
            .iter()
            .chain(&changes.removed)
            .copied()
            .collect();
        changed.sort_by_key(|e| e.phone);
        changed.reverse();
        changed.dedup_by_key(|e| e.phone);
        changed.reverse();
        let mut applied = Applied::default();
        let mut merged: Vec<Listed> = Vec::with_capacity(self.entries.len() + changed.len());
        let mut old = self.entries.iter().peekable();
        for n in changed {
            while let Some(o) = old.next_if(|o| o.phone < n.phone) {
                merged.push(*o);
            }
            let existed = old.next_if(|o| o.phone == n.phone).is_some();
            match (existed, n.votes > 0) {
                (true, true) => applied.updated += 1,
                (true, false) => applied.removed += 1,
                (false, true) => applied.added += 1,
                (false, false) => {}
            }
            if n.votes > 0 {
                merged.push(n);
            }
        }
        merged.extend(old);
        merged.shrink_to_fit();
        Ok((
            Community {
                entries: merged,
                version: changes.version,
            },
            applied,
        ))
    }
}

/// One entry of the household's own list on PhoneBlock (`/blacklist`,
/// `/whitelist`): a number as the user typed it there (checked when the
/// rules are compiled, like a list file's line) and its label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonalEntry {
    pub phone: String,
    pub label: Option<String>,
}

/// The household's own lists on PhoneBlock: the whitelist overrides the
/// community, the blacklist blocks regardless of votes (by the rules' order).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Personal {
    pub blacklist: Vec<PersonalEntry>,
    pub whitelist: Vec<PersonalEntry>,
}

/// Which personal list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    Blacklist,
    Whitelist,
}

impl Which {
    pub const BOTH: [Which; 2] = [Which::Blacklist, Which::Whitelist];

    /// The API's path and the store's name: `blacklist`.
    pub fn as_str(self) -> &'static str {
        match self {
            Which::Blacklist => "blacklist",
            Which::Whitelist => "whitelist",
        }
    }
}

impl Personal {
    pub fn list(&self, which: Which) -> &[PersonalEntry] {
        match which {
            Which::Blacklist => &self.blacklist,
            Which::Whitelist => &self.whitelist,
        }
    }

    pub fn list_mut(&mut self, which: Which) -> &mut Vec<PersonalEntry> {
        match which {
            Which::Blacklist => &mut self.blacklist,
            Which::Whitelist => &mut self.whitelist,
        }
    }
}

/// Everything of PhoneBlock the rules look up, swapped whole after a sync
/// (the parts that did not change are shared, not copied).
#[derive(Debug, Clone, Default)]
pub struct Local {
    pub community: Arc<Community>,
    pub personal: Arc<Personal>,
    /// The community's spam ranges and global whitelist (the binary list).
    pub ranges: Arc<Ranges>,
}

/// What PhoneBlock's live check (`/check`) said of a number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Live {
    /// Votes for the number itself (0: unknown to PhoneBlock).
    pub votes: u32,
    /// Votes of the spam range around it (`votesWildcard`).
    pub range_votes: u32,
    pub rating: Option<Rating>,
    /// On the household's own blacklist there.
    pub blacklisted: bool,
}

/// The community's binary list as fetched: its ranges have at least
/// `min_votes` votes (the server applied the threshold; the file carries
/// no votes).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ranges {
    pub list: binary::Binary,
    pub min_votes: u32,
}

/// The rules' view of [`Local`]: read without a lock on the call path.
pub type Handle = Arc<arc_swap::ArcSwap<Local>>;

/// What an incremental sync did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Applied {
    pub added: usize,
    pub updated: usize,
    pub removed: usize,
}

/// A `/blocklist` answer, checked: numbers with votes, numbers removed
/// (votes 0), what was skipped and why.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    pub set: Vec<Listed>,
    pub removed: Vec<Listed>,
    pub version: i64,
    /// Entries refused (a phone that is no E.164 number, negative votes):
    /// counted and the first few kept for the log.
    pub skipped: usize,
    pub examples: Vec<String>,
}

/// Why an answer or a sync was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SyncError {
    #[error("PhoneBlock's answer is not the expected JSON: {0}")]
    Json(String),
    #[error("PhoneBlock's answer has no version")]
    NoVersion,
    /// `full_in`: seconds until the monthly full download that heals it.
    #[error("PhoneBlock's version went backwards ({had} → {got}); keeping the copy{}", match full_in {
        Some(s) => format!(" until the full download PhoneBlock allows once a month (in {})", crate::text::span(*s)),
        None => String::new(),
    })]
    VersionBackwards {
        had: i64,
        got: i64,
        full_in: Option<i64>,
    },
    #[error("PhoneBlock's binary list is refused: {0}")]
    Binary(#[from] binary::BinaryError),
}

/// How many refused entries a sync names in its log line.
const EXAMPLES: usize = 3;

/// Notes a refused entry: counted, the first few kept (cut, printable).
fn refuse(skipped: &mut usize, examples: &mut Vec<String>, shown: String) {
    *skipped += 1;
    if examples.len() < EXAMPLES {
        let shown: String = shown.chars().take(60).collect();
        examples.push(crate::text::printable(&shown).into_owned());
    }
}

#[derive(Deserialize)]
struct RawPersonal {
    numbers: Vec<RawPersonalEntry>,
}

#[derive(Deserialize)]
struct RawPersonalEntry {
    #[serde(default)]
    phone: serde_json::Value,
    #[serde(default)]
    label: Option<String>,
}

/// A personal list holds at most this many entries (the answer is at
/// most 1 MB anyway); more are refused.
pub const MAX_PERSONAL: usize = 10_000;
/// The longest phone and label kept from a personal list.
const MAX_PERSONAL_PHONE: usize = 32;
const MAX_LABEL: usize = 100;

/// Reads a `/blacklist` or `/whitelist` answer. A phone must look like a
/// number or pattern (digits, `+`, `*`, spaces, `-/()`) of at most 32
/// characters; labels are cut to 100 characters of printable text.
pub fn parse_personal(body: &[u8]) -> Result<(Vec<PersonalEntry>, usize, Vec<String>), SyncError> {
    let raw: RawPersonal =
        serde_json::from_slice(body).map_err(|e| SyncError::Json(e.to_string()))?;
    let (mut out, mut skipped, mut examples) = (Vec::new(), 0, Vec::new());
    for e in raw.numbers {
        let phone = e.phone.as_str().map(str::trim).filter(|p| {
            (1..=MAX_PERSONAL_PHONE).contains(&p.len())
                && p.bytes().any(|b| b.is_ascii_digit())
                && p.bytes()
                    .all(|b| b.is_ascii_digit() || b" +*-/()".contains(&b))
        });
        match phone {
            Some(p) if out.len() < MAX_PERSONAL => out.push(PersonalEntry {
                phone: p.to_owned(),
                label: e
                    .label
                    .map(|l| {
                        let l: String = l.trim().chars().take(MAX_LABEL).collect();
                        crate::text::printable(&l).into_owned()
                    })
                    .filter(|l| !l.is_empty()),
            }),
            _ => refuse(&mut skipped, &mut examples, e.phone.to_string()),
        }
    }
    Ok((out, skipped, examples))
}

/// The most entries a `/blocklist` answer may have (48 MB of copy): the
/// list is tens of thousands today; a million is the design target.
pub const MAX_ENTRIES: usize = 3_000_000;

/// Reads a `/blocklist` answer. Entries that are not an E.164 number with
/// non-negative votes are skipped and counted, never fatal; a body that
/// is not that JSON object is.
pub fn parse_blocklist(body: &[u8]) -> Result<Changes, SyncError> {
    read_blocklist(body).map_err(|e| match e {
        ReadError::Json(e) => SyncError::Json(e.to_string()),
        ReadError::Bad(e) => e,
    })
}

/// Why [`read_blocklist`] failed: the JSON or the reader (`Json`, check
/// [`serde_json::Error::is_io`]), or what it says.
#[derive(Debug)]
pub enum ReadError {
    Json(serde_json::Error),
    Bad(SyncError),
}

/// Reads a `/blocklist` answer as it streams in, entry by entry: memory is
/// what is kept (16 bytes an entry), never the body, and no field longer
/// than [`crate::guard::json::MAX_TOKEN`].
pub fn read_blocklist(r: impl std::io::Read) -> Result<Changes, ReadError> {
    // serde_json reads a reader byte by byte: the bound sees it in chunks.
    let r = std::io::BufReader::with_capacity(
        64 << 10,
        crate::guard::json::Tokens::new(r, crate::guard::json::MAX_TOKEN),
    );
    let mut de = serde_json::Deserializer::from_reader(r);
    let (mut changes, version) =
        serde::Deserializer::deserialize_map(&mut de, ListVisitor).map_err(ReadError::Json)?;
    de.end().map_err(ReadError::Json)?;
    changes.version = version.ok_or(ReadError::Bad(SyncError::NoVersion))?;
    Ok(changes)
}

/// The top level: `{"numbers": [...], "version": N}`, other keys ignored.
struct ListVisitor;

impl<'de> Visitor<'de> for ListVisitor {
    type Value = (Changes, Option<i64>);

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object with numbers and version")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let (mut changes, mut version) = (Changes::default(), None);
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            match key.as_ref() {
                "numbers" => map.next_value_seed(Numbers(&mut changes))?,
                "version" => version = map.next_value()?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok((changes, version))
    }
}

/// The `numbers` array, each entry checked and kept or refused as it comes.
struct Numbers<'a>(&'a mut Changes);

impl<'de> de::DeserializeSeed<'de> for Numbers<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Numbers<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of numbers")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let c = self.0;
        while let Some(e) = seq.next_element::<RawEntry>()? {
            if c.set.len() + c.removed.len() >= MAX_ENTRIES {
                return Err(de::Error::custom(format_args!(
                    "more than {MAX_ENTRIES} numbers"
                )));
            }
            let phone = match &e.phone {
                Loose::Str(s) => parse_phone(s),
                _ => None,
            };
            let votes = match e.votes {
                Loose::Int(v) if v >= 0 => Some(v),
                _ => None,
            };
            let (Some(phone), Some(votes)) = (phone, votes) else {
                refuse(
                    &mut c.skipped,
                    &mut c.examples,
                    format!("{} / {}", e.phone, e.votes),
                );
                continue;
            };
            let l = Listed {
                phone,
                votes: votes.min(u32::MAX.into()) as u32,
                rating: match &e.rating {
                    Loose::Str(r) => Rating::parse(r),
                    _ => None,
                },
            };
            if votes == 0 {
                c.removed.push(l);
            } else {
                c.set.push(l);
            }
        }
        Ok(())
    }
}

#[derive(Deserialize)]
struct RawEntry {
    #[serde(default)]
    phone: Loose,
    #[serde(default)]
    votes: Loose,
    #[serde(default)]
    rating: Loose,
}

/// A field read whatever its JSON type, so that one odd entry is refused
/// alone instead of failing the whole answer. Strings are cut to 64
/// characters (nothing longer is a phone or a rating).
#[derive(Debug, Default)]
enum Loose {
    #[default]
    Missing,
    Str(String),
    Int(i64),
    Other(&'static str),
}

impl fmt::Display for Loose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Loose::Missing => f.write_str("nothing"),
            Loose::Str(s) => write!(f, "{s:?}"),
            Loose::Int(i) => write!(f, "{i}"),
            Loose::Other(what) => f.write_str(what),
        }
    }
}

impl<'de> Deserialize<'de> for Loose {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Loose, D::Error> {
        d.deserialize_any(LooseVisitor)
    }
}

struct LooseVisitor;

impl<'de> Visitor<'de> for LooseVisitor {
    type Value = Loose;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_str<E>(self, v: &str) -> Result<Loose, E> {
        Ok(Loose::Str(v.chars().take(64).collect()))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Loose, E> {
        Ok(Loose::Int(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Loose, E> {
        Ok(i64::try_from(v).map_or(Loose::Other("a huge number"), Loose::Int))
    }

    fn visit_f64<E>(self, _: f64) -> Result<Loose, E> {
        Ok(Loose::Other("a fraction"))
    }

    fn visit_bool<E>(self, _: bool) -> Result<Loose, E> {
        Ok(Loose::Other("true/false"))
    }

    fn visit_unit<E>(self) -> Result<Loose, E> {
        Ok(Loose::Other("null"))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Loose, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Loose::Other("a list"))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Loose, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Loose::Other("an object"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l(phone: u64, votes: u32) -> Listed {
        Listed {
            phone,
            votes,
            rating: Some(Rating::Advertising),
        }
    }

    #[test]
    fn a_listed_number_is_sixteen_bytes() {
        assert_eq!(std::mem::size_of::<Listed>(), 16);
    }

    #[test]
    fn phones_are_e164_or_nothing() {
        assert_eq!(parse_phone("+49301234567"), Some(49301234567));
        assert_eq!(parse_phone(" 0049301234567 "), Some(49301234567));
        for bad in [
            "030123",
            "+",
            "+0301",
            "+49 30 123",
            "+1234567890123456",
            "++49",
            "+49abc",
            "",
        ] {
            assert_eq!(parse_phone(bad), None, "{bad:?}");
        }
        assert_eq!(e164(49301234567), "+49301234567");
    }

    #[test]
    fn the_api_answer_is_checked_entry_by_entry() {
        let body = br#"{"numbers":[
            {"phone":"+49301234567","rating":"E_ADVERTISING","votes":20,"lastActivity":1},
            {"phone":"+4940111","rating":"G_FRAUD","votes":0},
            {"phone":"0301234","votes":4},
            {"phone":"+4989","votes":-3},
            {"phone":12345,"votes":4},
            {"phone":"+49891","rating":"Z_UNKNOWN","votes":2},
            {"phone":"+49892","votes":2.5},
            {"phone":{"deep":[[[1]]]},"votes":[1]},
            {"phone":"+49893","votes":18446744073709551615},
            {"phone":"+49894","votes":4,"rating":7,"extra":{"a":[1,2]}}
        ],"version":7,"more":[1,{"x":null}]}"#;
        let c = parse_blocklist(body).unwrap();
        assert_eq!(c.version, 7);
        assert_eq!(c.set.len(), 3);
        assert_eq!(c.set[0].rating, Some(Rating::Advertising));
        assert_eq!(c.set[1].rating, None, "an unknown rating is no rating");
        assert_eq!(c.set[2].rating, None, "a rating that is no string");
        assert_eq!(c.removed.len(), 1);
        assert_eq!(c.skipped, 6);
        assert_eq!(
            c.examples,
            ["\"0301234\" / 4", "\"+4989\" / -3", "12345 / 4"]
        );
        for bad in [
            &b"[]"[..],
            b"{\"numbers\":[]}",
            b"not json",
            b"{\"numbers\":5,\"version\":1}",
            b"{\"numbers\":[],\"version\":\"7\"}",
            b"{\"numbers\":[{\"phone\":\"+49301\",\"votes\":4}],\"version\":7} trailing",
            &b"{\"numbers\":[{\"phone\":\"+49301\",\"votes\":4}"[..],
        ] {
            assert!(
                parse_blocklist(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        // serde_json's recursion limit, not our stack, ends a deep nesting.
        let deep = format!("{{\"numbers\":[{{\"phone\":{}", "[".repeat(100_000));
        assert!(parse_blocklist(deep.as_bytes()).is_err());
    }

    #[test]
    fn personal_lists_keep_numbers_and_patterns_only() {
        let body = br#"{"numbers":[
            {"phone":"+49301234567","label":"Oma","comment":"x","rating":"A_LEGITIMATE"},
            {"phone":"0900*","label":"  "},
            {"phone":"030 / 123-45"},
            {"phone":"call me"},
            {"phone":"+4930\u001b[31m"},
            {"phone":7},
            {"phone":"+4930","label":"a\u001b[2Jb"}
        ]}"#;
        let (list, skipped, examples) = parse_personal(body).unwrap();
        let phones: Vec<&str> = list.iter().map(|e| e.phone.as_str()).collect();
        assert_eq!(phones, ["+49301234567", "0900*", "030 / 123-45", "+4930"]);
        assert_eq!(list[0].label.as_deref(), Some("Oma"));
        assert_eq!(list[1].label, None, "a blank label is none");
        assert!(!list[3].label.as_deref().unwrap().contains('\u{1b}'));
        assert_eq!((skipped, examples.len()), (3, 3));
        assert!(parse_personal(b"{\"numbers\":{}}").is_err());
    }

    #[test]
    fn changes_merge_into_a_new_copy() {
        let old = Community::new(vec![l(30, 4), l(10, 2), l(20, 10)], 5);
        assert_eq!(old.lookup(20).map(|e| e.votes), Some(10));
        assert!(old.lookup(15).is_none());
        let changes = Changes {
            set: vec![l(20, 50), l(5, 4), l(40, 2), l(40, 4)],
            removed: vec![l(10, 0), l(99, 0)],
            version: 6,
            ..Changes::default()
        };
        let (new, applied) = old.with_changes(&changes).unwrap();
        assert_eq!(
            applied,
            Applied {
                added: 2,
                updated: 1,
                removed: 1
            }
        );
        let phones: Vec<(u64, u32)> = new.entries().iter().map(|e| (e.phone, e.votes)).collect();
        assert_eq!(phones, [(5, 4), (20, 50), (30, 4), (40, 4)]);
        assert_eq!(new.version, 6);
        assert_eq!(old.len(), 3, "the copy in use is untouched");
        let back = Changes {
            version: 4,
            ..Changes::default()
        };
        assert_eq!(
            new.with_changes(&back).unwrap_err(),
            SyncError::VersionBackwards {
                had: 6,
                got: 4,
                full_in: None
            }
        );
    }
}
