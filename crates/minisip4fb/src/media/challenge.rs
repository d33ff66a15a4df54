//! The key-press check (`action = "challenge"`): robocalls and dialers
//! do not listen and press keys; people do. The phone says, in German and
//! then in English, "if you are a person, press N" with a digit chosen at
//! random for each call (a dialer cannot learn a fixed key), and listens
//! for one key. The built-in voice is stored as µ-law (espeak-ng, made by
//! `scripts/challenge`) and decoded once, when a rule that uses it compiles.

use std::sync::OnceLock;
use std::time::Duration;

use rand::Rng;
use tokio::sync::mpsc;

use super::{Announcement, MediaHandle, ScriptEnd};

/// How long the phone waits for the key after the prompt, unless the
/// rule says otherwise.
pub const TIMEOUT: Duration = Duration::from_secs(8);
/// How long a right key lets the number through, unless the rule says.
pub const PASS: Pass = Pass::For(Duration::from_secs(7 * 24 * 3600));

/// How long a caller who pressed the right key may call again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pass {
    For(Duration),
    /// Kept in the pass list file for good.
    Forever,
}

/// A challenge rule's check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// The key asked for (`digit = "5"`); `None`: one at random per call.
    pub digit: Option<u8>,
    /// After the prompt: how long to wait for the key.
    pub timeout: Duration,
    /// The rule's own prompt in place of the built-in one; it says the
    /// rule's fixed digit.
    pub prompt: Option<Announcement>,
    pub pass: Pass,
}

/// The built-in voice: `[German, English]`.
pub struct Voice {
    pub prompt: [Announcement; 2],
    pub digits: [[Announcement; 10]; 2],
    pub thanks: Announcement,
}

/// One clip of the voice, `assets/challenge/<parts>.ul`.
macro_rules! clip {
    ($($part:literal),+) => {
        include_bytes!(concat!("../../../../assets/challenge/", $($part,)+ ".ul"))
    };
}

/// The ten digits of one language.
macro_rules! digits {
    ($lang:literal) => {
        [
            clip!($lang, "-0"),
            clip!($lang, "-1"),
            clip!($lang, "-2"),
            clip!($lang, "-3"),
            clip!($lang, "-4"),
            clip!($lang, "-5"),
            clip!($lang, "-6"),
            clip!($lang, "-7"),
            clip!($lang, "-8"),
            clip!($lang, "-9"),
        ]
    };
}

/// The built-in voice, decoded once: when the first rule that uses it
/// compiles (off the phone's thread).
pub fn voice() -> &'static Voice {
    static VOICE: OnceLock<Voice> = OnceLock::new();
    VOICE.get_or_init(|| {
        let a = Announcement::from_ulaw;
        let (de, en): ([&[u8]; 10], [&[u8]; 10]) = (digits!("de"), digits!("en"));
        let digits = |lang: &str, clips: [&[u8]; 10]| {
            std::array::from_fn(|d| a(&format!("challenge {lang} {d}"), clips[d]))
        };
        Voice {
            prompt: [
                a("challenge de", clip!("de-prompt")),
                a("challenge en", clip!("en-prompt")),
            ],
            digits: [digits("de", de), digits("en", en)],
            thanks: a("challenge thanks", clip!("thanks")),
        }
    })
}

impl Challenge {
    /// The key to ask for on one call: the rule's, or one at random.
    pub fn ask(&self) -> char {
        char::from(
            b'0' + self
                .digit
                .unwrap_or_else(|| rand::rng().random_range(0..10)),
        )
    }

    /// What the caller hears for `digit`: the rule's prompt, or the
    /// built-in one with the digit, German then English.
    pub fn prompt(&self, key: char) -> Vec<Announcement> {
        if let Some(p) = &self.prompt {
            return vec![p.clone()];
        }
        let v = voice();
        let d = key.to_digit(10).unwrap_or(0) as usize;
        vec![
            v.prompt[0].clone(),
            v.digits[0][d].clone(),
            v.prompt[1].clone(),
            v.digits[1][d].clone(),
        ]
    }
}

/// Runs the check on an answered call for the key `key` ([`Challenge::ask`]):
/// the prompt (a key ends it early), then up to `timeout` for the key; the
/// right one hears the thanks. A call that ended is a check failed
/// without a key.
pub async fn run(
    media: &MediaHandle,
    digits: &mut mpsc::Receiver<char>,
    c: &Challenge,
    key: char,
) -> ScriptEnd {
    let say = async {
        for part in c.prompt(key) {
            if !media.play(part).await {
                return false;
            }
        }
        true
    };
    let pressed = tokio::select! {
        k = digits.recv() => {
            media.hush();
            k
        }
        played = say => match played {
            true => tokio::time::timeout(c.timeout, digits.recv()).await.ok().flatten(),
            false => None,
        },
    };
    if pressed == Some(key) {
        media.play(voice().thanks.clone()).await;
    }
    ScriptEnd::Challenge {
        asked: key,
        pressed,
        pass: c.pass,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_voice_says_each_digit_differently_in_both_languages() {
        let v = voice();
        for lang in 0..2 {
            assert!(v.prompt[lang].duration() > Duration::from_secs(3));
            for d in 0..10 {
                let clip = v.digits[lang][d].samples();
                assert!(clip.len() > 2000, "{lang} {d}: {}", clip.len());
                for other in 0..d {
                    assert_ne!(clip, v.digits[lang][other].samples());
                }
            }
        }
        let c = Challenge {
            digit: None,
            timeout: TIMEOUT,
            prompt: None,
            pass: PASS,
        };
        let parts = c.prompt('7');
        assert_eq!(parts[1], v.digits[0][7]);
        assert_eq!(parts[3], v.digits[1][7]);
    }
}
