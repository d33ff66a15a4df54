//! Keys pressed on the caller's phone, as SIP carries them: the RFC 4733
//! event codes (also used in RTP, see `media::rtp`) and the body of an
//! INFO request `application/dtmf-relay`.

/// The digit of an RFC 4733 §3.2 DTMF event code: 0–9, `*`, `#`, A–D.
pub fn digit(event: u8) -> Option<char> {
    match event {
        0..=9 => Some(char::from(b'0' + event)),
        10 => Some('*'),
        11 => Some('#'),
        12..=15 => Some(char::from(b'A' + event - 12)),
        _ => None,
    }
}

/// The digit of a SIP INFO body `application/dtmf-relay`
/// (`Signal=5\r\nDuration=160`), the Box's fallback to RFC 4733.
pub fn relay(body: &[u8]) -> Option<char> {
    let text = std::str::from_utf8(body).ok()?;
    let signal = text.lines().find_map(|l| {
        let (k, v) = l.split_once('=')?;
        k.trim().eq_ignore_ascii_case("signal").then(|| v.trim())
    })?;
    let mut chars = signal.chars();
    match (chars.next()?, chars.next()) {
        (c @ ('0'..='9' | '*' | '#'), None) => Some(c),
        (c @ ('A'..='D' | 'a'..='d'), None) => Some(c.to_ascii_uppercase()),
        // Some phones send the event code: `Signal=11` for `#`.
        _ => signal.parse().ok().and_then(digit),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_bodies() {
        assert_eq!(relay(b"Signal=5\r\nDuration=160\r\n"), Some('5'));
        assert_eq!(relay(b"signal= #\r\nDuration=160"), Some('#'));
        assert_eq!(relay(b"Signal=11\r\n"), Some('#'));
        assert_eq!(relay(b"Signal=d"), Some('D'));
        assert_eq!(relay(b"Signal=\r\n"), None);
        assert_eq!(relay(b"Signal=99"), None);
        assert_eq!(relay(b"Duration=160"), None);
        assert_eq!(relay(&[0xFF, b'=']), None);
    }
}
