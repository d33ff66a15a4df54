//! The lexical rules the header values and URIs share (RFC 3261 §25.1):
//! byte classes, parameters, quoting, comma lists, bounded numbers.

use std::fmt;

use super::ParseError;

/// `;name[=value]` parameters, kept as one string `;name=value;name…`
/// (RFC 3261 §25.1 `generic-param`): the whitespace the grammar allows
/// around `;` and `=` is dropped, names and values are kept as sent (a
/// value is a token, a host or a quoted-string with its quotes). A parsed
/// header's parameters cost one allocation, none when there are none.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Params(String);

impl Params {
    /// No parameters.
    pub fn new() -> Params {
        Params::default()
    }

    /// The parameter `name` (case-insensitive): `Some(None)` when present
    /// without a value.
    pub fn get(&self, name: &str) -> Option<Option<&str>> {
        self.view().get(name)
    }

    /// (name, value) pairs in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, Option<&str>)> {
        self.view().iter()
    }

    /// Read as received ones are.
    pub fn view(&self) -> ParamsRef<'_> {
        ParamsRef(&self.0)
    }

    /// Appends `;name[=value]`. The name must be a token and the value a
    /// token, host or quoted-string (as the parser would accept them).
    pub fn push(&mut self, name: &str, value: Option<&str>) {
        self.0.push(';');
        self.0.push_str(name);
        if let Some(v) = value {
            self.0.push('=');
            self.0.push_str(v);
        }
    }

    /// Sets a parameter, replacing any of the same name (case-insensitive).
    pub fn set(&mut self, name: &str, value: Option<&str>) {
        self.remove(name);
        self.push(name, value);
    }

    /// Removes every parameter `name` (case-insensitive).
    pub fn remove(&mut self, name: &str) {
        if self.get(name).is_none() {
            return;
        }
        let mut kept = Params(String::with_capacity(self.0.len()));
        for (n, v) in self.iter().filter(|(n, _)| !n.eq_ignore_ascii_case(name)) {
            kept.push(n, v);
        }
        *self = kept;
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// As written in a message: `;name=value…`, or empty.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Params {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.view().fmt(f)
    }
}

impl fmt::Display for Params {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A byte class as a lookup table: ASCII alphanumerics plus `extra`.
pub(crate) const fn byte_class(extra: &[u8]) -> [bool; 256] {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = (i as u8).is_ascii_alphanumeric();
        i += 1;
    }
    let mut j = 0;
    while j < extra.len() {
        t[extra[j] as usize] = true;
        j += 1;
    }
    t
}

const TOKEN: [bool; 256] = byte_class(b"-.!%*_+`'~");

/// RFC 3261 §25.1 token characters.
pub fn is_token_char(b: u8) -> bool {
    TOKEN[b as usize]
}

// Header values are short: plain byte loops beat `str::find`'s searcher
// setup here, and the parser calls these for every header.

/// Position of the ASCII byte `b` in `s`.
pub(crate) fn find_byte(s: &str, b: u8) -> Option<usize> {
    s.bytes().position(|x| x == b)
}

pub(crate) fn rfind_byte(s: &str, b: u8) -> Option<usize> {
    s.bytes().rposition(|x| x == b)
}

/// Position of the first SP, HTAB or `;` (where a hostport or URI ends).
pub(crate) fn find_ws_or_semi(s: &str) -> Option<usize> {
    s.bytes().position(|x| matches!(x, b' ' | b'\t' | b';'))
}

pub(crate) fn is_ws(b: &u8) -> bool {
    matches!(b, b' ' | b'\t')
}

/// Trims SP and HTAB (RFC 3261 §25.1 LWS, once lines are unfolded).
pub(crate) fn trim_ws(s: &str) -> &str {
    let b = s.as_bytes();
    let start = b.iter().position(|c| !is_ws(c)).unwrap_or(b.len());
    let end = b.iter().rposition(|c| !is_ws(c)).map_or(start, |e| e + 1);
    &s[start..end]
}

pub(crate) fn trim_ws_start(s: &str) -> &str {
    &s[s.bytes().position(|c| !is_ws(&c)).unwrap_or(s.len())..]
}

/// Whether `s` is a non-empty `token` (RFC 3261 §25.1).
pub fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_token_char)
}

/// `Display` by way of a writer that appends to a `String` (the one the
/// phone's messages are built with).
pub(crate) fn write_pushed(
    f: &mut fmt::Formatter<'_>,
    push: impl FnOnce(&mut String),
) -> fmt::Result {
    let mut s = String::new();
    push(&mut s);
    f.write_str(&s)
}

/// Parameters as received, checked by the parser: read where they are,
/// without a copy (the borrowed views of a header, [`crate::sip::NameAddrRef`]).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ParamsRef<'a>(&'a str);

impl<'a> ParamsRef<'a> {
    /// The parameter `name` (case-insensitive): `Some(None)` when present
    /// without a value.
    pub fn get(&self, name: &str) -> Option<Option<&'a str>> {
        self.iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// (name, value) pairs in order. The text was checked
    /// ([`check_params`]), so this only splits it: at `;` outside quoted
    /// values, the name before `=`, whitespace around both dropped.
    pub fn iter(&self) -> impl Iterator<Item = (&'a str, Option<&'a str>)> + use<'a> {
        let mut rest = self.0;
        std::iter::from_fn(move || {
            let body = trim_ws_start(trim_ws_start(rest).strip_prefix(';')?);
            let end = find_ws_or_semi(body).unwrap_or(body.len());
            let end = find_byte(&body[..end], b'=').unwrap_or(end);
            let (name, after) = (&body[..end], trim_ws_start(&body[end..]));
            let Some(v) = after.strip_prefix('=').map(trim_ws_start) else {
                rest = after;
                return Some((name, None));
            };
            let len = if v.starts_with('"') {
                quoted_len(v).unwrap_or(v.len())
            } else {
                find_ws_or_semi(v).unwrap_or(v.len())
            };
            rest = &v[len..];
            Some((name, Some(&v[..len])))
        })
    }

    /// A copy, as one string without the whitespace.
    pub fn into_owned(self) -> Params {
        let mut out = Params(String::with_capacity(self.0.len()));
        for (n, v) in self.iter() {
            out.push(n, v);
        }
        out
    }
}

impl fmt::Debug for ParamsRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

/// Checks `;a=b;c…` (the input starts with `;`). `SEMI` and `EQUAL` may be
/// surrounded by whitespace (RFC 3261 §25.1); values may be quoted strings.
pub(crate) fn check_params(s: &str, valid: fn(u8) -> bool) -> Result<ParamsRef<'_>, ParseError> {
    let mut rest = trim_ws_start(s);
    while !rest.is_empty() {
        rest = trim_ws_start(
            rest.strip_prefix(';')
                .ok_or(ParseError::Header("expected ';' before parameter"))?,
        );
        let end = rest.bytes().position(|b| !valid(b)).unwrap_or(rest.len());
        if end == 0 {
            return Err(ParseError::Header("empty parameter"));
        }
        rest = trim_ws_start(&rest[end..]);
        if let Some(r) = rest.strip_prefix('=') {
            let r = trim_ws_start(r);
            let (v, after) = if r.starts_with('"') {
                let n = quoted_len(r)?;
                (&r[..n], &r[n..])
            } else {
                let end = find_ws_or_semi(r).unwrap_or(r.len());
                let v = &r[..end];
                // token, or host (IPv6 reference) for received= and maddr=
                if !v.bytes().all(|b| valid(b) || b"[]:".contains(&b)) {
                    return Err(ParseError::Header("bad character in parameter value"));
                }
                (v, &r[end..])
            };
            if v.is_empty() {
                return Err(ParseError::Header("empty parameter value"));
            }
            rest = trim_ws_start(after);
        }
    }
    Ok(ParamsRef(s))
}

/// [`check_params`], kept as one string.
pub(crate) fn parse_params(s: &str, valid: fn(u8) -> bool) -> Result<Params, ParseError> {
    Ok(check_params(s, valid)?.into_owned())
}

/// Length in bytes of the quoted-string at the start of `s`, quotes included.
pub(crate) fn quoted_len(s: &str) -> Result<usize, ParseError> {
    let b = s.as_bytes();
    debug_assert_eq!(b.first(), Some(&b'"'));
    let mut i = 1;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'"' => return Ok(i + 1),
            _ => i += 1,
        }
    }
    Err(ParseError::Header("unterminated quoted string"))
}

/// Removes the quotes and quoted-pair escapes of a quoted-string.
pub fn unquote(s: &str) -> String {
    let inner = s
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(s);
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Quotes a display name for a header (RFC 3261 §25.1 quoted-string).
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        if c != '\r' && c != '\n' {
            out.push(c);
        }
    }
    out.push('"');
    out
}

/// Splits a header value at the commas that separate list elements,
/// ignoring commas inside quoted strings and `<…>` (RFC 3261 §7.3.1).
/// An empty element is an error.
pub fn split_list(s: &str) -> Result<Vec<&str>, ParseError> {
    list_elements(s).collect()
}

/// [`split_list`] as an iterator, for checks that need no list.
pub(crate) fn list_elements(s: &str) -> impl Iterator<Item = Result<&str, ParseError>> {
    let b = s.as_bytes();
    // Most values are one element: no comma, nothing to scan for.
    let single = memchr::memchr(b',', b).is_none();
    let mut start = Some(0);
    std::iter::from_fn(move || {
        if single {
            start.take()?;
            let element = trim_ws(s);
            return Some(if element.is_empty() {
                Err(ParseError::Header("empty list element"))
            } else {
                Ok(element)
            });
        }
        let from = start?;
        let (mut i, mut in_angle) = (from, false);
        let end = loop {
            match b.get(i) {
                None => break None,
                Some(b'"') => match quoted_len(&s[i..]) {
                    Ok(n) => i += n,
                    Err(e) => {
                        start = None;
                        return Some(Err(e));
                    }
                },
                Some(b'<') => (in_angle, i) = (true, i + 1),
                Some(b'>') => (in_angle, i) = (false, i + 1),
                Some(b',') if !in_angle => break Some(i),
                Some(_) => i += 1,
            }
        };
        start = end.map(|e| e + 1);
        let element = trim_ws(&s[from..end.unwrap_or(b.len())]);
        if element.is_empty() {
            start = None;
            return Some(Err(ParseError::Header("empty list element")));
        }
        Some(Ok(element))
    })
}

/// Parses 1*DIGIT no larger than `max`, without overflowing on long input.
pub fn parse_bounded(s: &str, max: u64) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut v: u64 = 0;
    for b in s.bytes() {
        v = v.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
        if v > max {
            return None;
        }
    }
    Some(v)
}

/// `delta-seconds` (Expires, `;expires=`): at most 2^32-1 (RFC 3261 §25.1).
pub fn parse_delta_seconds(s: &str) -> Option<u32> {
    parse_bounded(s.trim(), u64::from(u32::MAX)).map(|v| v as u32)
}

/// RFC 3261 §20.17: `Date: Sat, 13 Nov 2010 23:29:00 GMT` — only GMT.
pub fn is_valid_date(s: &str) -> bool {
    let f: Vec<&str> = s.split_ascii_whitespace().collect();
    const DAYS: [&str; 7] = ["Mon,", "Tue,", "Wed,", "Thu,", "Fri,", "Sat,", "Sun,"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    f.len() == 6
        && DAYS.contains(&f[0])
        && digits(f[1], 2)
        && MONTHS.contains(&f[2])
        && digits(f[3], 4)
        && f[4].len() == 8
        && f[4].split(':').all(|p| digits(p, 2))
        && f[4].split(':').count() == 3
        && f[5] == "GMT"
}

/// `n` in decimal, written into `buf`. Messages the phone sends are
/// built without the formatting machinery: it is most of the code an
/// answer would otherwise run through (and the screen's numbers too).
pub fn decimal(n: u64, buf: &mut [u8; 20]) -> &str {
    let mut i = buf.len();
    let mut n = n;
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    std::str::from_utf8(&buf[i..]).expect("ASCII digits")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars() {
        assert_eq!(parse_bounded("0009", 100), Some(9));
        assert_eq!(parse_bounded("36893488147419103232", u64::MAX), None);
        assert!(is_valid_date("Sat, 13 Nov 2010 23:29:00 GMT"));
        assert!(!is_valid_date("Fri, 01 Jan 2010 16:00:00 EST"));
    }

    #[test]
    fn params_are_one_string_read_as_pairs() {
        let mut p = parse_params(
            " ; tag = a1 ;lr; q=\"x;y\\\"z\";Branch=z9hG4bK;maddr=[fd00::1]",
            is_token_char,
        )
        .unwrap();
        assert_eq!(
            p.as_str(),
            ";tag=a1;lr;q=\"x;y\\\"z\";Branch=z9hG4bK;maddr=[fd00::1]"
        );
        let pairs: Vec<_> = p.iter().collect();
        assert_eq!(
            pairs,
            [
                ("tag", Some("a1")),
                ("lr", None),
                ("q", Some("\"x;y\\\"z\"")),
                ("Branch", Some("z9hG4bK")),
                ("maddr", Some("[fd00::1]")),
            ]
        );
        assert_eq!(p.get("branch"), Some(Some("z9hG4bK")));
        assert_eq!(p.get("LR"), Some(None));
        assert_eq!(p.get("x"), None);
        p.set("TAG", Some("b2"));
        p.remove("q");
        assert_eq!(p.as_str(), ";lr;Branch=z9hG4bK;maddr=[fd00::1];TAG=b2");
        assert!(parse_params("", is_token_char).unwrap().is_empty());
        assert!(parse_params(";a=\"open", is_token_char).is_err());
    }
}
