//! Caller data shown to people. A caller controls the number and display
//! name it sends; printed raw, a newline forges a log line and an escape
//! sequence clears a terminal. Raw values stay raw in SQLite and JSON.

use std::borrow::Cow;

/// `s` with control characters escaped (`\n`, `\u{1b}`), for log lines
/// and terminal output.
pub fn printable(s: &str) -> Cow<'_, str> {
    if !s.chars().any(char::is_control) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(printable("Müller 0301234"), "Müller 0301234");
        assert_eq!(printable("0301\nforged line"), "0301\\nforged line");
        assert_eq!(printable("\u{1b}[2J\u{0}"), "\\u{1b}[2J\\u{0}");
    }
}
