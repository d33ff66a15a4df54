//! Why the rules do not compile, by rule and key; each message says what
//! to fix.

use crate::screen::list::{EntryError, ListError};
use crate::screen::number::{HomeError, Kind};

/// Why the rules do not compile; the message says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    #[error("[numbers]: {0}")]
    Numbers(#[source] HomeError),
    /// One `[[rule]]` (1-based, as in the file) and what is wrong with it.
    #[error("[[rule]] {index} \"{name}\": {error}")]
    Rule {
        index: usize,
        name: String,
        #[source]
        error: RuleError,
    },
    #[error(
        "[screen]: default = \"answer\" would pick up for anyone: use it in a [[rule]] with numbers or lists"
    )]
    DefaultAnswer,
    /// More than one of the above, each on a line of its own.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Several(Vec<CompileError>),
}

impl CompileError {
    /// Each problem once: the list of [`CompileError::Several`], else this.
    pub fn problems(&self) -> Vec<String> {
        match self {
            CompileError::Several(all) => all.iter().map(ToString::to_string).collect(),
            one => vec![one.to_string()],
        }
    }
}

/// What is wrong with one `[[rule]]`, by its key.
#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    #[error("numbers: {0}")]
    Number(#[source] EntryError),
    #[error("lists: {0}")]
    List(#[source] ListError),
    #[error("types: unknown type {0:?}, allowed: {allowed}", allowed = Kind::NAMES.join(", "))]
    Type(String),
    #[error(
        "names: {0:?} is not a name pattern: give some letters, e.g. \"SPAM*\" or \"*Werbung*\" (at most 64 characters)"
    )]
    Name(String),
    #[error("country: {0}")]
    Country(#[source] HomeError),
    #[error("repeated: calls must be at least 1")]
    RepeatedNoCalls,
    #[error("hours {0:?}: expected HH:MM-HH:MM, e.g. \"22:00-07:00\"")]
    Hours(String),
    #[error("hours {hours:?}: {time:?} is not HH:MM")]
    HoursTime { hours: String, time: String },
    #[error("weekday {0:?}: use mon, tue, wed, thu, fri, sat, sun")]
    Weekday(String),
    #[error("to: {0:?} is not a phone number")]
    To(String),
    #[error("accounts: no account is named {name:?} (the config's: {known})")]
    Account { name: String, known: String },
    #[error(
        "no action: add action = \"ring\", \"terminate\", \"decline\", \"ignore-silently\", \"terminate-and-bar\", \"answer\" or \"challenge\""
    )]
    NoAction,
    #[error("announcement: {0}")]
    Announcement(#[source] crate::media::AnnouncementError),
    #[error(
        "announcement: only a call that is answered hears one: use it with action = \"terminate\", \"terminate-and-bar\", \"answer\" or \"challenge\""
    )]
    AnnouncementAction,
    #[error("{0}: only for action = \"answer\"")]
    OnlyForAnswer(&'static str),
    #[error("{0}: only for action = \"challenge\"")]
    OnlyForChallenge(&'static str),
    #[error(
        "action = \"challenge\" cannot let a withheld number through (there is nothing to remember): remove anonymous = true, or use action = \"terminate\" for withheld numbers"
    )]
    ChallengeAnonymous,
    #[error("digit: one of the keys 0-9, e.g. digit = \"5\"")]
    Digit,
    #[error(
        "announcement: your own prompt cannot say a digit chosen for each call: add digit = \"N\" with the key it asks for"
    )]
    ChallengeDigit,
    #[error(
        "pass = \"forever\" adds callers to a list file: add pass_list = \"passed.txt\" to [screen]"
    )]
    PassList,
    #[error("pin: 4 to 16 of the keys 0-9 and *, e.g. pin = \"470815\"")]
    Pin,
    #[error(
        "action = \"answer\" picks up for callers you name: add numbers or lists (and no anonymous, foreign or invalid)"
    )]
    AnswerWho,
    #[error("lists: {0} needs a [phoneblock] section (token_file = \"…\")")]
    NoPhoneBlock(String),
    #[error(
        "lists: {0:?} is not a PhoneBlock list (phoneblock:community, phoneblock:blacklist and phoneblock:whitelist are)"
    )]
    PhoneBlockList(String),
}
