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

/// Line numbers (1-based) of byte offsets into `text`, asked for in
/// growing order: the text is scanned once however many are asked.
pub struct Lines<'t> {
    text: &'t [u8],
    counted: usize,
    line: usize,
}

impl<'t> Lines<'t> {
    pub fn new(text: &'t str) -> Lines<'t> {
        Lines {
            text: text.as_bytes(),
            counted: 0,
            line: 1,
        }
    }

    /// The line of byte `pos` (clamped to the text; an offset before the
    /// last one asked for gives that one's line).
    pub fn at(&mut self, pos: usize) -> usize {
        let pos = pos.min(self.text.len());
        if pos > self.counted {
            self.line += memchr::memchr_iter(b'\n', &self.text[self.counted..pos]).count();
            self.counted = pos;
        }
        self.line
    }

    /// The line of the first byte at or after `pos` that is not a line
    /// break: where a record starts that blank lines precede.
    pub fn at_content(&mut self, pos: usize) -> usize {
        let skip = self.text[pos.min(self.text.len())..]
            .iter()
            .take_while(|b| matches!(b, b'\r' | b'\n'))
            .count();
        self.at(pos + skip)
    }
}

/// A span of seconds as a person reads it: `45 s`, `12 min`, `5 h`,
/// `2 d 3 h` (negative counts as 0).
pub fn span(secs: i64) -> String {
    match secs.max(0) {
        s if s < 120 => format!("{s} s"),
        s if s < 7200 => format!("{} min", s / 60),
        s if s < 172_800 => format!("{} h", s / 3600),
        s => format!("{} d {} h", s / 86_400, s % 86_400 / 3600),
    }
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

    #[test]
    fn lines_of_offsets() {
        let t = "a\n\nb\r\nc";
        let mut l = Lines::new(t);
        assert_eq!((l.at(0), l.at(2), l.at(3), l.at(100)), (1, 2, 3, 4));
        let mut l = Lines::new(t);
        assert_eq!(l.at_content(1), 3, "the blank line is skipped");
    }

    #[test]
    fn spans_read_as_people_say_them() {
        assert_eq!(
            [-5, 45, 720, 18_000, 183_600].map(span),
            ["0 s", "45 s", "12 min", "5 h", "2 d 3 h"]
        );
    }
}
