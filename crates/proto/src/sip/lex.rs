//! The lexical rules the header values and URIs share (RFC 3261 §25.1):
//! byte classes, parameters, quoting, comma lists, bounded numbers.

use std::fmt;

use super::ParseError;

/// A `;name[=value]` parameter; the value is kept as sent (token, host or
/// quoted-string with its quotes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    /// The name, as sent.
    pub name: String,
    /// The value after `=`, if any.
    pub value: Option<String>,
}

impl Param {
    /// `;name` or `;name=value`.
    pub fn new(name: impl Into<String>, value: Option<&str>) -> Param {
        Param {
            name: name.into(),
            value: value.map(str::to_owned),
        }
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

pub(crate) fn find_param<'a>(params: &'a [Param], name: &str) -> Option<Option<&'a str>> {
    params
        .iter()
        .find(|p| p.name.eq_ignore_ascii_case(name))
        .map(|p| p.value.as_deref())
}

pub(crate) fn write_params(f: &mut fmt::Formatter<'_>, params: &[Param]) -> fmt::Result {
    write_pushed(f, |s| push_params(s, params))
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

/// Appends `;name=value…`.
pub(crate) fn push_params(out: &mut String, params: &[Param]) {
    for p in params {
        out.push(';');
        out.push_str(&p.name);
        if let Some(v) = &p.value {
            out.push('=');
            out.push_str(v);
        }
    }
}

/// Parses `;a=b;c…` (the input starts with `;`). `SEMI` and `EQUAL` may be
/// surrounded by whitespace (RFC 3261 §25.1); values may be quoted strings.
pub(crate) fn parse_params(s: &str, valid: fn(u8) -> bool) -> Result<Vec<Param>, ParseError> {
    let mut out = Vec::new();
    let mut rest = trim_ws_start(s);
    while !rest.is_empty() {
        rest = trim_ws_start(
            rest.strip_prefix(';')
                .ok_or(ParseError::Header("expected ';' before parameter"))?,
        );
        let end = rest.bytes().position(|b| !valid(b)).unwrap_or(rest.len());
        let name = &rest[..end];
        if name.is_empty() {
            return Err(ParseError::Header("empty parameter"));
        }
        rest = trim_ws_start(&rest[end..]);
        let value = if let Some(r) = rest.strip_prefix('=') {
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
            Some(v.to_owned())
        } else {
            None
        };
        out.push(Param {
            name: name.to_owned(),
            value,
        });
    }
    Ok(out)
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
}
