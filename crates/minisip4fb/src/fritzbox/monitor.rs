//! The Box's call monitor (TCP port 1012; FRITZBOX.md): one line per
//! event, `;`-separated. Only read to notice calls that never reached the
//! phone, never to decide one: any LAN host can write such lines.

/// A monitor line is at most this long; a longer one is not the Box's.
pub const MAX_LINE: usize = 512;
/// A number field longer than this is not a phone number.
const MAX_NUMBER: usize = 32;

/// What a line says, of what we use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// An incoming call: its connection id, the caller (`None`: withheld)
    /// and the household number dialled, as the Box writes them.
    Ring {
        id: u32,
        caller: Option<String>,
        called: String,
    },
    /// A phone answered it.
    Connect { id: u32 },
    /// It ended.
    Disconnect { id: u32 },
    /// An outgoing call, or a line of a kind not known.
    Other,
}

/// A number field: digits and `+*#` only, bounded; else `None`.
fn number(s: &str) -> Option<String> {
    let s = s.trim();
    (s.len() <= MAX_NUMBER && s.bytes().all(|b| b.is_ascii_digit() || b"+*#".contains(&b)))
        .then(|| s.to_owned())
}

/// Reads one line (without its line end); `None` for one that is not a
/// well-formed monitor line.
pub fn parse(line: &str) -> Option<Line> {
    if line.len() > MAX_LINE {
        return None;
    }
    let mut f = line.trim_end_matches(['\r', '\n']).split(';');
    let (_date, kind, id) = (f.next()?, f.next()?, f.next()?);
    let id: u32 = id.trim().parse().ok()?;
    Some(match kind {
        "RING" => {
            let caller = number(f.next()?)?;
            let called = number(f.next()?)?;
            Line::Ring {
                id,
                caller: (!caller.is_empty()).then_some(caller),
                called,
            }
        }
        "CONNECT" => Line::Connect { id },
        "DISCONNECT" => Line::Disconnect { id },
        _ => Line::Other,
    })
}

/// Whether two ways of writing a household number are the same number:
/// the Box often drops the area code (`1111111` for `030 1111111`), so
/// one's digits ending the other's counts, for 5 digits or more.
pub fn same_number(a: &str, b: &str) -> bool {
    let digits = |s: &str| -> String { s.chars().filter(char::is_ascii_digit).collect() };
    let (a, b) = (digits(a), digits(b));
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    short.len() >= 5 && long.ends_with(&short)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_boxs_lines_and_what_is_not_one() {
        assert_eq!(
            parse("06.12.26 14:03:11;RING;0;01701234567;301111111;SIP0;\r"),
            Some(Line::Ring {
                id: 0,
                caller: Some("01701234567".into()),
                called: "301111111".into()
            })
        );
        assert_eq!(
            parse("06.12.26 14:03:11;RING;3;;0301111111;SIP1;"),
            Some(Line::Ring {
                id: 3,
                caller: None,
                called: "0301111111".into()
            }),
            "a withheld number is an empty field"
        );
        assert_eq!(
            parse("06.12.26 14:03:15;CONNECT;0;20;01701234567;"),
            Some(Line::Connect { id: 0 })
        );
        assert_eq!(
            parse("06.12.26 14:03:25;DISCONNECT;0;10;"),
            Some(Line::Disconnect { id: 0 })
        );
        assert_eq!(
            parse("06.12.26 14:03:11;CALL;1;20;0301111111;01701234567;SIP0;"),
            Some(Line::Other)
        );
        for bad in [
            "",
            "hello",
            "06.12.26 14:03:11;RING;x;0170;0301;SIP0;",
            "06.12.26 14:03:11;RING;0;<script>;0301;SIP0;",
            "06.12.26 14:03:11;RING;0;0170\u{1b}[31m;0301;SIP0;",
            "06.12.26 14:03:11;RING;0;0170",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
        let long = format!("06.12.26 14:03:11;RING;0;{};0301;SIP0;", "1".repeat(600));
        assert_eq!(parse(&long), None);
        assert!(same_number("301111111", "0301111111"));
        assert!(same_number("030 1111111", "0301111111"));
        assert!(!same_number("1111", "0301111111"), "too short to say");
        assert!(!same_number("0302222222", "0301111111"));
    }
}
