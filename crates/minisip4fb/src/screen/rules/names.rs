//! `names = ["SPAM*", "*Werbung*"]`: a rule on the caller's display name,
//! which the Box fills from a phonebook contact (FRITZBOX.md), so an
//! imported spam phonebook's markers reach the rules. Case-insensitive,
//! Unicode-aware (`ÄRGER` is `ärger`), `*` for any run of characters, as
//! for numbers; linear in the name's length.

use std::sync::Arc;

use super::RuleError;

/// A name is compared up to this many characters (the Box's are short;
/// the SIP parser bounds the header anyway).
const MAX_NAME: usize = 256;

/// One pattern of `names`, folded to lower case once, at compile.
#[derive(Debug, Clone)]
pub(super) struct NamePattern {
    /// As the config writes it (for the reason).
    pub written: Arc<str>,
    /// The text between the `*`s, lower case.
    parts: Vec<String>,
}

/// A name as patterns compare it: lower case, bounded.
pub(super) fn fold(name: &str) -> String {
    name.chars()
        .take(MAX_NAME)
        .flat_map(char::to_lowercase)
        .collect()
}

impl NamePattern {
    pub(super) fn new(written: &str) -> Result<NamePattern, RuleError> {
        let folded = fold(written);
        if folded.chars().count() > 64 || folded.chars().all(|c| c == '*' || c.is_whitespace()) {
            return Err(RuleError::Name(written.to_owned()));
        }
        Ok(NamePattern {
            written: written.into(),
            parts: folded.split('*').map(str::to_owned).collect(),
        })
    }

    /// Whether the folded `name` matches: the first part begins it, the
    /// last ends it, the ones between come in order.
    pub(super) fn matches(&self, name: &str) -> bool {
        let (first, rest) = match self.parts.split_first() {
            Some(p) => p,
            None => return false,
        };
        let Some(mut left) = name.strip_prefix(first.as_str()) else {
            return false;
        };
        let Some((last, middle)) = rest.split_last() else {
            // No `*`: the whole name.
            return left.is_empty();
        };
        for part in middle {
            match left.find(part.as_str()) {
                Some(at) => left = &left[at + part.len()..],
                None => return false,
            }
        }
        left.ends_with(last.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pattern: &str, name: &str) -> bool {
        NamePattern::new(pattern).unwrap().matches(&fold(name))
    }

    #[test]
    fn wildcards_any_case_any_script() {
        assert!(m("SPAM*", "spam: Gewinnspiel"));
        assert!(m("*werbung*", "Telefon-WERBUNG GmbH"));
        assert!(m("*Ärger*", "großer ärger"));
        assert!(m("*ärger", "GROSSER ÄRGER"));
        assert!(m("Oma", "OMA"));
        assert!(!m("Oma", "Oma Erna"), "no `*`: the whole name");
        assert!(m("s*m", "Spam Scam"));
        assert!(!m("spam*scam", "scam spam"), "in order");
        assert!(!m("spam*", "no spam"));
        assert!(m("*a*a*", "aa"));
        assert!(!m("*a*a*", "a"));
        for bad in ["", "*", "**", " * ", &"x".repeat(65)] {
            assert!(NamePattern::new(bad).is_err(), "{bad:?}");
        }
        // A huge name is compared bounded, and a pattern far in is not found.
        let long = format!("{}SPAM", "x".repeat(10_000));
        assert!(!m("*spam", &long));
    }
}
