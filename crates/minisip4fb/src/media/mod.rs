//! Media: what the phone says and hears once it has answered. RTP with
//! G.711 (announcements) and DTMF (RFC 4733 events, SIP INFO), on a
//! thread of its own so that sending audio never delays SIP.
//!
//! - [`g711`], [`rtp`]: the wire, pure functions and state machines.
//! - [`announcement`]: WAV files made 8 kHz mono, read before any call.
//! - [`session`]: the media thread, one task and one socket per call.

pub mod announcement;
pub mod challenge;
pub mod g711;
pub mod rtp;
pub mod session;

use std::time::Duration;

pub use announcement::{Announcement, AnnouncementError};
pub use challenge::{Challenge, Pass};
pub use session::{MediaHandle, Stream};

/// Digits of one entry, at most: a longer entry ends there.
pub const MAX_DIGITS: usize = 32;
/// Wrong PINs before the phone hangs up.
pub const PIN_ATTEMPTS: u32 = 3;
/// How long a collection waits for a key unless the rule says otherwise.
pub const DTMF_TIMEOUT: Duration = Duration::from_secs(10);

/// What the phone does with an answered call, decided with the call: say
/// `announcement`, then, with `collect`, listen for digits. The call is
/// hung up after either.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    pub announcement: Option<Announcement>,
    pub collect: Option<Collect>,
    /// The key-press check (`challenge`): its own prompt, then one key;
    /// a script with it plays nothing else.
    pub challenge: Option<Challenge>,
}

/// How to listen for digits (the `answer` action).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Collect {
    /// After the prompt and after each key: how long to wait for the next.
    pub timeout: Duration,
    /// The digits an entry must start with; they are not handed on.
    pub pin: Option<String>,
}

/// How a script ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScriptEnd {
    /// The announcement was played to its end.
    Played,
    /// An entry, ended by `#` (not included) or by the timeout, of a
    /// script without a PIN.
    Digits(String),
    /// An entry that started with the PIN: what followed it.
    PinRight(String),
    /// No key before the timeout.
    NoDigits,
    /// Entries without the PIN: [`PIN_ATTEMPTS`], or fewer when the
    /// caller hung up after them (each one a guess, counted).
    WrongPin(u32),
    /// The script ran for 5 minutes: the phone hung up.
    TimedOut,
    /// The call could not carry audio (no G.711 in the Box's offer): it
    /// was answered and hung up at once.
    NoMedia,
    /// No socket for the call's audio (out of file descriptors): it was
    /// answered and hung up at once.
    NoSocket,
    /// The key-press check: the key `asked` for and the one `pressed`
    /// (`None`: none before the timeout, or the caller hung up). Passed
    /// when they are the same; then the number may call for `pass`.
    Challenge {
        asked: char,
        pressed: Option<char>,
        pass: Pass,
    },
}

impl ScriptEnd {
    /// A key-press check passed.
    pub fn passed(&self) -> bool {
        matches!(self, ScriptEnd::Challenge { asked, pressed, .. } if Some(*asked) == *pressed)
    }
}

/// One entry of keys, as the caller ended it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Keys {
    /// Ended by `#` (not included) or by reaching [`MAX_DIGITS`] keys.
    Entered(String),
    /// No key came for the timeout: the keys before it (maybe none).
    TimedOut(String),
}

impl Keys {
    /// The keys, however the entry ended.
    pub fn digits(&self) -> &str {
        match self {
            Keys::Entered(d) | Keys::TimedOut(d) => d,
        }
    }
}

/// One entry: keys until `#`, [`MAX_DIGITS`], or `timeout` without a key.
/// `None` when the call's media ended first.
pub async fn entry(
    digits: &mut tokio::sync::mpsc::Receiver<char>,
    timeout: Duration,
) -> Option<Keys> {
    let mut got = String::new();
    loop {
        match tokio::time::timeout(timeout, digits.recv()).await {
            Ok(Some('#')) => return Some(Keys::Entered(got)),
            Ok(Some(d)) => {
                got.push(d);
                if got.len() >= MAX_DIGITS {
                    return Some(Keys::Entered(got));
                }
            }
            Ok(None) => return None,
            Err(_) => return Some(Keys::TimedOut(got)),
        }
    }
}

/// Entries until one starts with the PIN (or there is none to check).
/// `None` when the call ended first without a wrong entry.
pub async fn collect(
    digits: &mut tokio::sync::mpsc::Receiver<char>,
    c: &Collect,
) -> Option<ScriptEnd> {
    let mut wrong = 0;
    for _ in 0..PIN_ATTEMPTS {
        let Some(Keys::Entered(got) | Keys::TimedOut(got)) = entry(digits, c.timeout).await else {
            // Hung up: wrong entries so far are guesses all the same.
            return (wrong > 0).then_some(ScriptEnd::WrongPin(wrong));
        };
        if got.is_empty() {
            return Some(if wrong > 0 {
                ScriptEnd::WrongPin(wrong)
            } else {
                ScriptEnd::NoDigits
            });
        }
        match &c.pin {
            None => return Some(ScriptEnd::Digits(got)),
            Some(pin) => match got.strip_prefix(pin.as_str()) {
                Some(rest) => return Some(ScriptEnd::PinRight(rest.to_owned())),
                None => wrong += 1,
            },
        }
    }
    Some(ScriptEnd::WrongPin(wrong))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::mpsc;

    async fn keys(s: &str) -> mpsc::Receiver<char> {
        let (tx, rx) = mpsc::channel(64);
        for c in s.chars() {
            tx.send(c).await.unwrap();
        }
        // Kept open: the entry ends by `#` or the timeout, not by a close.
        std::mem::forget(tx);
        rx
    }

    #[tokio::test(start_paused = true)]
    async fn entries_end_at_hash_timeout_or_length() {
        let t = Duration::from_secs(10);
        let mut k = keys("12#34").await;
        assert_eq!(entry(&mut k, t).await, Some(Keys::Entered("12".into())));
        assert_eq!(entry(&mut k, t).await, Some(Keys::TimedOut("34".into())));
        assert_eq!(entry(&mut k, t).await, Some(Keys::TimedOut("".into())));
        let mut k = keys(&"1".repeat(40)).await;
        let long = entry(&mut k, t).await.unwrap();
        assert!(matches!(long, Keys::Entered(_)) && long.digits().len() == MAX_DIGITS);
        let (tx, mut rx) = mpsc::channel(1);
        drop(tx);
        assert_eq!(entry(&mut rx, t).await, None);
    }

    #[tokio::test(start_paused = true)]
    async fn the_pin_is_checked_three_times_and_taken_off() {
        let c = |pin: Option<&str>| Collect {
            timeout: Duration::from_secs(5),
            pin: pin.map(str::to_owned),
        };
        let end = |s: &'static str, pin| async move {
            collect(&mut keys(s).await, &c(pin)).await.unwrap()
        };
        assert_eq!(end("1234#", None).await, ScriptEnd::Digits("1234".into()));
        assert_eq!(end("", None).await, ScriptEnd::NoDigits);
        assert_eq!(
            end("99#4711#", Some("4711")).await,
            ScriptEnd::PinRight("".into())
        );
        assert_eq!(
            end("1#2#47111#", Some("4711")).await,
            ScriptEnd::PinRight("1".into())
        );
        assert_eq!(
            end("1#2#3#4711#", Some("4711")).await,
            ScriptEnd::WrongPin(3)
        );
        // A wrong entry, then silence: a guess all the same.
        assert_eq!(end("1#", Some("4711")).await, ScriptEnd::WrongPin(1));
    }

    /// Two guesses, then the caller hangs up: both count.
    #[tokio::test(start_paused = true)]
    async fn guesses_before_a_hang_up_count() {
        let (tx, mut rx) = mpsc::channel(8);
        for c in "12#34#".chars() {
            tx.send(c).await.unwrap();
        }
        drop(tx);
        let c = Collect {
            timeout: Duration::from_secs(5),
            pin: Some("4711".into()),
        };
        assert_eq!(collect(&mut rx, &c).await, Some(ScriptEnd::WrongPin(2)));
        let (tx, mut rx) = mpsc::channel::<char>(8);
        drop(tx);
        assert_eq!(
            collect(&mut rx, &c).await,
            None,
            "no guess, nothing to count"
        );
    }
}
