//! The words of a call that every layer uses: what is done with it
//! ([`Action`]) and what kind of caller it is ([`CallerClass`]); their
//! text forms are those of the config file, the call log and the events.

/// What to do with a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// Do nothing: the other phones ring.
    Ring,
    /// Answer and hang up at once: the other phones stop ringing.
    Terminate,
    /// Ring ~3 s, then 480 Temporarily Unavailable (FRITZBOX.md: the one
    /// form tested on a real Box; an early decline drops the FRITZ!Fon app).
    Decline,
    /// Stay silent (no 180); the call rings on the other phones.
    IgnoreSilently,
    /// Terminate, then put the number on the Box's own call-barring list
    /// (over TR-064) so the Box rejects it next time.
    TerminateAndBar,
    /// Answer with audio, play the rule's prompt, listen for keys until
    /// `#`, hand them on (the `dtmf` event), hang up: a relay or a door
    /// driven from any phone.
    Answer,
    /// Answer and ask the caller to press a digit said at random: a
    /// person who does may call again (the pass list); a dialer that
    /// does not is hung up as by `terminate`.
    Challenge,
}

impl Action {
    pub const ALL: [Action; 7] = [
        Action::Ring,
        Action::Terminate,
        Action::Decline,
        Action::IgnoreSilently,
        Action::TerminateAndBar,
        Action::Answer,
        Action::Challenge,
    ];

    /// The text form of the config file, the call log and the events.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Ring => "ring",
            Action::Terminate => "terminate",
            Action::Decline => "decline",
            Action::IgnoreSilently => "ignore-silently",
            Action::TerminateAndBar => "terminate-and-bar",
            Action::Answer => "answer",
            Action::Challenge => "challenge",
        }
    }

    /// Whether the call is kept from the household: everything but
    /// `ring` and `answer` (which picks up for a caller the household named).
    pub fn blocks(self) -> bool {
        !matches!(self, Action::Ring | Action::Answer)
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A text that is none of the forms of an enum of this layer (read back
/// from the call log).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {value:?}")]
pub struct UnknownName {
    pub what: &'static str,
    pub value: String,
}

impl std::str::FromStr for Action {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<Action, UnknownName> {
        Action::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| UnknownName {
                what: "action",
                value: s.to_owned(),
            })
    }
}

/// The kind of caller, for the call log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CallerClass {
    Anonymous,
    /// Another phone of the Box: never screened.
    Internal,
    External,
}

impl CallerClass {
    pub fn as_str(self) -> &'static str {
        match self {
            CallerClass::Anonymous => "anonymous",
            CallerClass::Internal => "internal",
            CallerClass::External => "external",
        }
    }
}

impl std::str::FromStr for CallerClass {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<CallerClass, UnknownName> {
        [
            CallerClass::Anonymous,
            CallerClass::Internal,
            CallerClass::External,
        ]
        .into_iter()
        .find(|c| c.as_str() == s)
        .ok_or_else(|| UnknownName {
            what: "caller class",
            value: s.to_owned(),
        })
    }
}

/// Why a call the rules would keep from the household rang all the same:
/// one typed fact with its source, kept with the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogOnly {
    /// `[screen] log_only = true`: every rule only logs.
    Config,
    /// The rule's own `log_only = true`.
    Rule,
    /// The shield is switched off (the dashboard, MQTT).
    Shield,
}

impl LogOnly {
    pub const ALL: [LogOnly; 3] = [LogOnly::Config, LogOnly::Rule, LogOnly::Shield];

    /// The text form of the call log and the events.
    pub fn as_str(self) -> &'static str {
        match self {
            LogOnly::Config => "config",
            LogOnly::Rule => "rule",
            LogOnly::Shield => "shield",
        }
    }
}

impl std::str::FromStr for LogOnly {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<LogOnly, UnknownName> {
        LogOnly::ALL
            .into_iter()
            .find(|l| l.as_str() == s)
            .ok_or_else(|| UnknownName {
                what: "log-only source",
                value: s.to_owned(),
            })
    }
}
