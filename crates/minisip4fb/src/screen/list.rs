//! Number sets: exact numbers and wildcard patterns, from rules and from
//! list files (plain text, CSV, vCard, the FRITZ!Box phonebook XML export).
//!
//! Entries are stored as E.164 digits in hash sets, so a lookup costs a
//! handful of hash probes however long the list is; prefixes and suffixes
//! are kept per length (at most 15, the E.164 maximum).

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use std::path::{Path, PathBuf};

use super::number::{Home, dialled_e164, digits, e164_key, internationalise};
use crate::guard::file::{ReadError, read_regular};

/// A set of numbers and patterns.
#[derive(Debug, Default, Clone)]
pub struct NumberSet {
    // Fx, not SipHash: the keys are the user's list entries and one number
    // per call, no flooding risk, and hashing was most of a lookup.
    exact: HashSet<u64>,
    names: HashMap<u64, Box<str>>,
    /// (length, value) of E.164 digit prefixes: `0900*` → (5, 49900).
    prefixes: HashSet<(u8, u64)>,
    prefix_lens: Vec<u8>,
    suffixes: HashSet<(u8, u64)>,
    suffix_lens: Vec<u8>,
}

/// A number prepared for lookups in many sets: its key and the values of
/// all its prefixes and suffixes, computed once per call.
#[derive(Debug, Clone)]
pub struct Probe {
    /// The E.164 digits without `+`: `digits[..len]`, at most 15.
    digits: [u8; 15],
    len: usize,
    key: u64,
    /// `prefix[n]`: the first n digits as a number.
    prefix: [u64; 16],
    /// `suffix[n]`: the last n digits as a number.
    suffix: [u64; 16],
}

impl Probe {
    /// `None` unless `e164` is `+` and 1 to 15 digits.
    pub fn new(e164: &str) -> Option<Probe> {
        let key = e164_key(e164)?;
        let b = &e164.as_bytes()[1..];
        let mut digits = [0; 15];
        digits[..b.len()].copy_from_slice(b);
        let (mut prefix, mut suffix) = ([0u64; 16], [0u64; 16]);
        let mut scale = 1u64;
        for n in 1..=b.len() {
            prefix[n] = prefix[n - 1] * 10 + u64::from(b[n - 1] - b'0');
            suffix[n] = suffix[n - 1] + u64::from(b[b.len() - n] - b'0') * scale;
            scale = scale.saturating_mul(10);
        }
        Some(Probe {
            digits,
            len: b.len(),
            key,
            prefix,
            suffix,
        })
    }

    fn digits(&self) -> &str {
        // ASCII digits, checked by e164_key.
        std::str::from_utf8(&self.digits[..self.len]).unwrap_or_default()
    }
}

/// Why an entry matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    /// The entry: `+49301234567`, `+49900*`, `*1234`.
    pub entry: String,
    pub name: Option<String>,
}

/// Why a number or pattern cannot be listed. The entry itself is not
/// repeated: the file and line say where it is, and a list may be a
/// symlink to a secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EntryError {
    #[error("bad suffix pattern: expected *DIGITS (at most 15 digits)")]
    Suffix,
    #[error("bad prefix pattern: expected DIGITS* (at most 15 digits)")]
    Prefix,
    #[error("bad pattern: '*' may only start or end it (0900*, *1234)")]
    Star,
    #[error("not a phone number")]
    NotANumber,
    #[error("too long for a phone number (E.164 has at most 15 digits)")]
    TooLong,
    #[error(
        "too short for a phone number ({digits} digits with the country code; write it with its area code)"
    )]
    TooShort { digits: usize },
    #[error("letters among the digits: a list holds numbers (the name goes after a space)")]
    Letters,
}

/// Digits of the shortest number a list takes, country code included:
/// the world's shortest numbers (Niue, Tokelau: +683 1234) have seven.
/// A local `12` (+493012 in Berlin) is a typo, not a caller.
pub const MIN_E164_DIGITS: usize = 7;

/// A list file that cannot be read at all (broken lines are [`LineError`]s).
#[derive(Debug, thiserror::Error)]
#[error("cannot read list {}: {source}", path.display())]
pub struct ListError {
    pub path: PathBuf,
    #[source]
    pub source: ReadError,
}

/// A list line that could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    pub file: PathBuf,
    pub line: usize,
    pub message: String,
}

impl std::fmt::Display for LineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            0 => write!(f, "{}: {}", self.file.display(), self.message),
            n => write!(f, "{}:{n}: {}", self.file.display(), self.message),
        }
    }
}

fn digits_key(d: &str) -> Option<(u8, u64)> {
    (!d.is_empty() && d.len() <= 15 && d.bytes().all(|b| b.is_ascii_digit()))
        .then(|| (d.len() as u8, d.parse().unwrap_or(0)))
}

impl NumberSet {
    pub fn len(&self) -> usize {
        self.exact.len() + self.prefixes.len() + self.suffixes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds a number (`030 1234567`, `+44…`, `00…`) or a pattern:
    /// `0900*` (prefix) or `*1234` (suffix).
    pub fn insert(
        &mut self,
        entry: &str,
        name: Option<&str>,
        home: &Home,
    ) -> Result<(), EntryError> {
        let entry = entry.trim();
        // Numbers and patterns alike: `0180x5*` is a typo, not a prefix.
        if entry.chars().any(char::is_alphabetic) {
            return Err(if entry.chars().any(|c| c.is_ascii_digit()) {
                EntryError::Letters
            } else {
                EntryError::NotANumber
            });
        }
        // '*' only at one end: `0900*` or `*1234`.
        let inner = entry
            .strip_prefix('*')
            .or(entry.strip_suffix('*'))
            .unwrap_or(entry);
        if inner.contains('*') {
            return Err(EntryError::Star);
        }
        if let Some(suffix) = entry.strip_prefix('*') {
            let d = digits(suffix);
            let key = digits_key(&d).ok_or(EntryError::Suffix)?;
            self.suffixes.insert(key);
            add_len(&mut self.suffix_lens, key.0);
            return Ok(());
        }
        if let Some(prefix) = entry.strip_suffix('*') {
            let intl = internationalise(prefix, home).ok_or(EntryError::Prefix)?;
            let key = digits_key(&intl[1..]).ok_or(EntryError::Prefix)?;
            self.prefixes.insert(key);
            add_len(&mut self.prefix_lens, key.0);
            return Ok(());
        }
        if digits(entry).trim_start_matches('+').is_empty() {
            return Err(EntryError::NotANumber);
        }
        // A number the metadata rejects is still listed by its dialled form.
        let e164 = dialled_e164(entry, home).ok_or(EntryError::NotANumber)?;
        let key = e164_key(&e164).ok_or(EntryError::TooLong)?;
        let len = e164.len() - 1;
        if len < MIN_E164_DIGITS {
            return Err(EntryError::TooShort { digits: len });
        }
        self.exact.insert(key);
        if let Some(n) = name.map(str::trim).filter(|n| !n.is_empty()) {
            self.names.insert(key, n.into());
        }
        Ok(())
    }

    /// Adds every entry of `other`.
    pub fn extend(&mut self, other: NumberSet) {
        self.exact.extend(other.exact);
        self.names.extend(other.names);
        self.prefixes.extend(other.prefixes);
        self.suffixes.extend(other.suffixes);
        for l in other.prefix_lens {
            add_len(&mut self.prefix_lens, l);
        }
        for l in other.suffix_lens {
            add_len(&mut self.suffix_lens, l);
        }
    }

    /// Looks up a number in E.164 form.
    pub fn lookup(&self, e164: &str) -> Option<Hit> {
        self.probe(&Probe::new(e164)?)
    }

    /// Looks up a prepared number: a few hash probes, no parsing.
    pub fn probe(&self, p: &Probe) -> Option<Hit> {
        if self.exact.contains(&p.key) {
            return Some(Hit {
                entry: ["+", p.digits()].concat(),
                name: self.names.get(&p.key).map(|n| n.to_string()),
            });
        }
        for &len in &self.prefix_lens {
            let len = len as usize;
            if len <= p.len && self.prefixes.contains(&(len as u8, p.prefix[len])) {
                return Some(Hit {
                    entry: ["+", &p.digits()[..len], "*"].concat(),
                    name: None,
                });
            }
        }
        for &len in &self.suffix_lens {
            let len = len as usize;
            if len <= p.len && self.suffixes.contains(&(len as u8, p.suffix[len])) {
                return Some(Hit {
                    entry: ["*", &p.digits()[p.len - len..]].concat(),
                    name: None,
                });
            }
        }
        None
    }
}

fn add_len(lens: &mut Vec<u8>, len: u8) {
    if !lens.contains(&len) {
        lens.push(len);
        lens.sort_unstable();
    }
}

/// The format of a list file, by its extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Csv,
    VCard,
    FritzXml,
}

impl Format {
    pub fn of(path: &Path) -> Format {
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("csv") => Format::Csv,
            Some("vcf" | "vcard") => Format::VCard,
            Some("xml") => Format::FritzXml,
            _ => Format::Text,
        }
    }
}

/// The largest list file read: ten times a 1,000,000-entry list.
pub const MAX_LIST_BYTES: u64 = 256 << 20;

/// Loads a list file. Broken lines are returned as errors and skipped;
/// the rest still loads. Only an unreadable file is an `Err`.
pub fn load(path: &Path, home: &Home) -> Result<(NumberSet, Vec<LineError>), ListError> {
    let text = read_regular(path, MAX_LIST_BYTES).map_err(|source| ListError {
        path: path.to_owned(),
        source,
    })?;
    Ok(parse(&text, Format::of(path), path, home))
}

/// Parses list text in `format`; `path` names the file in errors.
pub fn parse(text: &str, format: Format, path: &Path, home: &Home) -> (NumberSet, Vec<LineError>) {
    let mut set = NumberSet::default();
    let mut errors = Vec::new();
    for e in entries(text, format) {
        match e {
            Ok((line, number, name)) => {
                if let Err(e) = set.insert(&number, name.as_deref(), home) {
                    errors.push(LineError {
                        file: path.to_owned(),
                        line,
                        message: e.to_string(),
                    });
                }
            }
            Err((line, message)) => errors.push(LineError {
                file: path.to_owned(),
                line,
                message,
            }),
        }
    }
    (set, errors)
}

/// A list line: (line, number or pattern, name), or (line, why it is unusable).
pub type Entry = Result<(usize, String, Option<String>), (usize, String)>;

/// The raw entries of list text, before normalisation.
pub fn entries(text: &str, format: Format) -> Vec<Entry> {
    match format {
        Format::Text => text_entries(text),
        Format::Csv => csv_entries(text),
        Format::VCard => vcard_entries(text),
        Format::FritzXml => super::phonebook_xml::entries(text),
    }
}

/// One number or pattern a line, `#` comments, an optional name after it:
/// `030 1234567  Oma`, `0900*  # premium`, `+44 20 7946 0000, London office`.
fn text_entries(text: &str) -> Vec<Entry> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let mut end = line
            .find(|c: char| !(c.is_ascii_digit() || " +*-/().".contains(c)))
            .unwrap_or(line.len());
        // `030 1234567 (Praxis)`: the bracket opens the name.
        if let Some(open) = line[..end].trim_end().strip_suffix('(') {
            end = open.len();
        }
        let (number, rest) = line.split_at(end);
        // `0900-CALL-NOW`, `0180x5`: letters glued to the digits are no
        // name but a number written in letters, or a typo.
        if number.ends_with(|c: char| c.is_ascii_digit() || "-/.".contains(c))
            && rest.starts_with(char::is_alphanumeric)
        {
            out.push(Err((i + 1, EntryError::Letters.to_string())));
            continue;
        }
        let name = rest.trim_start_matches([',', ';', '\t', ' ']).trim();
        if !number.chars().any(|c| c.is_ascii_digit()) {
            // The line itself is not repeated: a list may be a symlink to a secret.
            out.push(Err((i + 1, "no phone number on this line".to_owned())));
            continue;
        }
        out.push(Ok((
            i + 1,
            number.trim().to_owned(),
            (!name.is_empty()).then(|| name.to_owned()),
        )));
    }
    out
}

/// CSV with `,` or `;`: the first column that holds a number, and the
/// first other non-empty column as the name. A header line is skipped.
fn csv_entries(text: &str) -> Vec<Entry> {
    let first = text.lines().next().unwrap_or("");
    let delimiter = if first.matches(';').count() > first.matches(',').count() {
        b';'
    } else {
        b','
    };
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .from_reader(text.as_bytes());
    let mut out = Vec::new();
    // The file's line where a record starts, from its byte offset: a
    // quoted field may span lines, blank lines are no records, and the csv
    // crate's own line count differs for both.
    let mut lines = crate::text::Lines::new(text);
    let mut line_at =
        |pos: Option<&csv::Position>| pos.map(|p| lines.at_content(p.byte() as usize));
    for rec in rdr.records() {
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                let at = line_at(e.position()).unwrap_or(1);
                out.push(Err((at, format!("unreadable CSV: {e}"))));
                continue;
            }
        };
        let line = line_at(rec.position()).unwrap_or(1);
        let is_number = |f: &str| {
            !f.trim().is_empty()
                && f.trim()
                    .chars()
                    .all(|c| c.is_ascii_digit() || " +*-/().".contains(c))
        };
        match rec.iter().position(is_number) {
            Some(col) => {
                let name = rec
                    .iter()
                    .enumerate()
                    .find(|(j, f)| *j != col && !f.trim().is_empty())
                    .map(|(_, f)| f.trim().to_owned());
                out.push(Ok((line, rec[col].to_owned(), name)));
            }
            None if line == 1 => {} // a header
            None if rec.iter().all(|f| f.trim().is_empty()) => {}
            None => out.push(Err((line, "no phone number in this row".to_owned()))),
        }
    }
    out
}

/// vCard (RFC 6350): every TEL of a card, named by its FN.
fn vcard_entries(text: &str) -> Vec<Entry> {
    // Unfold continuation lines (RFC 6350 §3.2), remembering line numbers.
    let mut lines: Vec<(usize, String)> = Vec::new();
    for (i, l) in text.lines().enumerate() {
        if (l.starts_with(' ') || l.starts_with('\t')) && !lines.is_empty() {
            if let Some(last) = lines.last_mut() {
                last.1.push_str(&l[1..]);
            }
        } else {
            lines.push((i + 1, l.to_owned()));
        }
    }
    let mut out = Vec::new();
    let mut name: Option<String> = None;
    let mut tels: Vec<(usize, String)> = Vec::new();
    for (n, l) in lines {
        let Some((key, value)) = l.split_once(':') else {
            continue;
        };
        let prop = key.split(';').next().unwrap_or("").to_ascii_uppercase();
        match prop.as_str() {
            "BEGIN" => {
                name = None;
                tels.clear();
            }
            "FN" => name = Some(value.trim().to_owned()),
            "TEL" => tels.push((n, value.trim().trim_start_matches("tel:").to_owned())),
            "END" => {
                for (n, t) in tels.drain(..) {
                    out.push(Ok((n, t, name.clone())));
                }
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn home() -> Home {
        Home::new("DE", Some("030")).unwrap()
    }

    #[test]
    fn exact_prefix_and_suffix() {
        let h = home();
        let mut s = NumberSet::default();
        s.insert("030 1234567", Some("Oma"), &h).unwrap();
        s.insert("0900*", None, &h).unwrap();
        s.insert("+44*", None, &h).unwrap();
        s.insert("*0012", None, &h).unwrap();
        assert_eq!(
            s.lookup("+49301234567"),
            Some(Hit {
                entry: "+49301234567".into(),
                name: Some("Oma".into())
            })
        );
        assert_eq!(s.lookup("+499005551234").unwrap().entry, "+49900*");
        assert_eq!(s.lookup("+442079460000").unwrap().entry, "+44*");
        assert_eq!(s.lookup("+4940550012").unwrap().entry, "*0012");
        assert_eq!(s.lookup("+494055012"), None, "*0012 is not *12");
        assert_eq!(s.lookup("+49301234568"), None);
        assert!(s.insert("09*00", None, &h).is_err());
        assert!(s.insert("Oma", None, &h).is_err());
    }

    #[test]
    fn text_list_with_broken_lines() {
        let text = "# family\n030 1234567  Oma\n+44 20 7946 0000, London office\n\nnot a number\n0900*   # premium\n0171-2345678\n";
        let (s, errors) = parse(text, Format::Text, Path::new("allow.txt"), &home());
        assert_eq!(s.len(), 4);
        assert_eq!(errors.len(), 1);
        assert_eq!(
            errors[0].to_string(),
            "allow.txt:5: no phone number on this line"
        );
        assert_eq!(
            s.lookup("+442079460000").unwrap().name.as_deref(),
            Some("London office")
        );
        assert!(s.lookup("+491712345678").is_some());
    }

    #[test]
    fn format_by_extension() {
        for (name, f) in [
            ("a.csv", Format::Csv),
            ("A.CSV", Format::Csv),
            ("c.vcf", Format::VCard),
            ("c.vcard", Format::VCard),
            ("book.XML", Format::FritzXml),
            ("block.txt", Format::Text),
            ("block", Format::Text),
            ("csv", Format::Text),
        ] {
            assert_eq!(Format::of(Path::new(name)), f, "{name}");
        }
    }

    #[test]
    fn csv_list() {
        let text = "Name;Nummer\n\"Bell; Alexander\";030 1234567\nOma;0301111111\nbroken;abc\n";
        let (s, errors) = parse(text, Format::Csv, Path::new("x.csv"), &home());
        assert_eq!(s.len(), 2);
        assert_eq!(
            s.lookup("+49301234567").unwrap().name.as_deref(),
            Some("Bell; Alexander")
        );
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].line, 4);
        // Line numbers are the file's (found by `cargo fuzz run lists`): a
        // name over two lines and a blank line do not shift them.
        let text = "Name;Nummer\n\"Bell\nAlexander\";030 1234567\n\nbroken;abc\n";
        let (s, errors) = parse(text, Format::Csv, Path::new("x.csv"), &home());
        assert_eq!(s.len(), 1);
        assert_eq!(errors.iter().map(|e| e.line).collect::<Vec<_>>(), [5]);
    }

    #[test]
    fn vcard_list() {
        let text = "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Oma Erna\r\nTEL;TYPE=HOME:030 12345\r\n 67\r\nTEL;TYPE=CELL:+49 171 2345678\r\nEND:VCARD\r\nBEGIN:VCARD\r\nFN:Nobody\r\nTEL:???\r\nEND:VCARD\r\n";
        let (s, errors) = parse(text, Format::VCard, Path::new("c.vcf"), &home());
        assert_eq!(
            s.lookup("+49301234567").unwrap().name.as_deref(),
            Some("Oma Erna")
        );
        assert!(s.lookup("+491712345678").is_some());
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].line, 10);
    }

    #[test]
    fn fritzbox_phonebook_export() {
        let text = r#"<?xml version="1.0" encoding="utf-8"?>
<phonebooks>
<phonebook name="Telefonbuch">
<contact><category>0</category><person><realName>Oma &amp; Opa</realName></person>
<telephony nid="2"><number type="home" prio="1" id="0">030 1234567</number><number type="mobile" id="1">0171 2345678</number></telephony>
<uniqueid>1</uniqueid></contact>
<contact><person><realName>Spam</realName></person><telephony><number type="home">0900 5551234</number></telephony></contact>
</phonebook>
</phonebooks>"#;
        let (s, errors) = parse(text, Format::FritzXml, Path::new("pb.xml"), &home());
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(s.len(), 3);
        assert_eq!(
            s.lookup("+491712345678").unwrap().name.as_deref(),
            Some("Oma & Opa")
        );
        let (_, errors) = parse(
            "<phonebooks><contact></phonebook>",
            Format::FritzXml,
            Path::new("bad.xml"),
            &home(),
        );
        assert_eq!(errors.len(), 1);
    }

    #[test]
    fn phonebook_lines_are_counted_once_and_right() {
        // A number each line; the bad ones must name their own line.
        let mut text = String::from("<phonebooks><phonebook>\n");
        for i in 0..20_000 {
            let n = if i % 5000 == 4999 {
                "x".to_owned()
            } else {
                format!("030{i:07}")
            };
            text.push_str(&format!(
                "<contact><telephony><number>{n}</number></telephony></contact>\n"
            ));
        }
        text.push_str("</phonebook></phonebooks>\n");
        let (s, errors) = parse(&text, Format::FritzXml, Path::new("pb.xml"), &home());
        assert_eq!(s.len(), 19_996);
        let lines: Vec<usize> = errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, vec![5001, 10001, 15001, 20001]);
    }

    #[test]
    fn deep_xml_is_refused() {
        let text = "<a>".repeat(10_000);
        let (s, errors) = parse(&text, Format::FritzXml, Path::new("deep.xml"), &home());
        assert!(s.is_empty());
        assert!(errors[0].message.contains("nested deeper"), "{errors:?}");
    }

    #[cfg(unix)]
    #[test]
    fn entries_that_cannot_be_listed_say_why_without_repeating_the_entry() {
        let mut set = NumberSet::default();
        let h = home();
        assert_eq!(set.insert("0900*", None, &h), Ok(()));
        assert_eq!(set.insert("*1234", None, &h), Ok(()));
        for (entry, want) in [
            ("09*00*", EntryError::Star),
            ("*12*", EntryError::Star),
            ("09*00", EntryError::Star),
            ("*", EntryError::Suffix),
            ("*1234567890123456", EntryError::Suffix),
            ("--", EntryError::NotANumber),
            ("+49301234567890123456", EntryError::TooLong),
            ("12", EntryError::TooShort { digits: 6 }),
            ("+6831", EntryError::TooShort { digits: 4 }),
            ("0180x5", EntryError::Letters),
        ] {
            let e = set.insert(entry, None, &h).unwrap_err();
            assert_eq!(e, want, "{entry}");
            assert!(entry.len() < 4 || !e.to_string().contains(entry), "{e}");
        }
    }

    #[test]
    fn implausible_lines_are_refused_with_line_and_why() {
        let (set, errors) = parse(
            "0900-CALL-NOW\n0180x5\n030 1234567 (Praxis)\n+44 20 7946 0000, London office\n12\n",
            Format::Text,
            Path::new("block.txt"),
            &home(),
        );
        let said: Vec<(usize, &str)> = errors
            .iter()
            .map(|e| (e.line, e.message.as_str()))
            .collect();
        assert_eq!(said.len(), 3, "{said:?}");
        assert_eq!(said[0].0, 1);
        assert!(said[0].1.contains("letters among the digits"), "{said:?}");
        assert_eq!(said[1].0, 2);
        assert!(said[1].1.contains("letters among the digits"), "{said:?}");
        assert_eq!(said[2].0, 5);
        assert!(said[2].1.contains("too short"), "{said:?}");
        let hit = set.lookup("+49301234567").unwrap();
        assert_eq!(hit.name.as_deref(), Some("(Praxis)"));
        assert!(set.lookup("+442079460000").is_some());
        assert!(set.lookup("+49900").is_none() && set.lookup("+49180").is_none());
    }

    #[test]
    fn a_fifo_is_refused_without_waiting() {
        let dir = std::env::temp_dir().join(format!("minisip4fb-fifo-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let fifo = dir.join("list.txt");
        let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: mkfifo with a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let e = load(&fifo, &home()).unwrap_err();
        assert!(matches!(e.source, ReadError::NotRegular), "{e}");
        assert!(e.to_string().contains("not a regular file"), "{e}");
        let e = load(&dir, &home()).unwrap_err();
        assert!(matches!(e.source, ReadError::Directory), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_line_without_a_number_is_not_repeated() {
        let (_, errors) = parse(
            "secret-token-123abc\n",
            Format::Text,
            Path::new("l.txt"),
            &home(),
        );
        assert_eq!(errors.len(), 1);
        assert!(!errors[0].to_string().contains("secret"), "{}", errors[0]);
    }

    #[test]
    fn a_binary_file_loads_as_a_list_of_broken_lines() {
        let path = std::env::temp_dir().join(format!("minisip4fb-bin-{}.txt", std::process::id()));
        let bytes: Vec<u8> = (0..=255u8).cycle().take(64 * 1024).collect();
        std::fs::write(&path, &bytes).unwrap();
        let (_, errors) = load(&path, &home()).expect("readable: loads, with warnings");
        let _ = std::fs::remove_file(&path);
        assert!(!errors.is_empty());
        // Each error says what was wrong in words; none quotes the bytes.
        for e in &errors {
            let text = e.to_string();
            assert!(!text.chars().any(|c| c.is_control()), "{text:?}");
        }
    }
}
