//! JSON from outside, read as it streams in: a parser that keeps only what
//! it needs still buffers each whole string or number before looking at it
//! (serde_json does), so one 150 MB "phone" would be 150 MB in memory.
//! [`Tokens`] bounds every string and every other run of value bytes,
//! whatever the answer's overall limit.

use std::io::Read;

/// The longest string or number any of our JSON inputs carries needs far
/// less (a phone number, a rating, a label).
pub const MAX_TOKEN: usize = 4096;

/// A reader that fails once a string (between its quotes, escapes
/// counted as written) or a run of other value bytes (a number, a
/// literal) grows longer than `max` bytes.
pub struct Tokens<R> {
    inner: R,
    max: usize,
    in_string: bool,
    escaped: bool,
    run: usize,
}

impl<R: Read> Tokens<R> {
    pub fn new(inner: R, max: usize) -> Tokens<R> {
        Tokens {
            inner,
            max,
            in_string: false,
            escaped: false,
            run: 0,
        }
    }
}

impl<R: Read> Read for Tokens<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        for &b in &buf[..n] {
            if self.in_string {
                if self.escaped {
                    self.escaped = false;
                } else if b == b'\\' {
                    self.escaped = true;
                } else if b == b'"' {
                    self.in_string = false;
                    self.run = 0;
                    continue;
                }
                self.run += 1;
            } else {
                match b {
                    b'"' => {
                        self.in_string = true;
                        self.run = 0;
                        continue;
                    }
                    b'{' | b'}' | b'[' | b']' | b',' | b':' | b' ' | b'\t' | b'\r' | b'\n' => {
                        self.run = 0;
                        continue;
                    }
                    _ => self.run += 1,
                }
            }
            if self.run > self.max {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("a JSON value longer than {} bytes", self.max),
                ));
            }
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &[u8], max: usize) -> std::io::Result<Vec<u8>> {
        let mut out = Vec::new();
        Tokens::new(text, max).read_to_end(&mut out)?;
        Ok(out)
    }

    #[test]
    fn long_strings_and_numbers_are_refused_short_ones_pass() {
        let ok = br#"{"numbers":[{"phone":"+4930111","votes":12,"x":"a\"b\\"}],"version":7}"#;
        assert_eq!(read(ok, 16).unwrap(), ok);
        let long = format!(r#"{{"phone":"{}"}}"#, "9".repeat(100));
        assert!(read(long.as_bytes(), 64).is_err());
        let number = format!(r#"{{"votes":{}}}"#, "9".repeat(100));
        assert!(read(number.as_bytes(), 64).is_err());
        // Escaped quotes do not end a string early.
        let escaped = format!(r#"{{"p":"{}"}}"#, "\\\"".repeat(40));
        assert!(read(escaped.as_bytes(), 64).is_err());
    }
}
