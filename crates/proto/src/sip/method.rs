//! The request methods we know (RFC 3261 §7.1 and extensions).

use std::fmt;

/// A request method (RFC 3261 §7.1); methods are case-sensitive.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Method {
    /// Starts a call (RFC 3261 §13).
    Invite,
    /// Confirms a final response to an INVITE (§17.1.1.3).
    Ack,
    /// Ends a call (§15).
    Bye,
    /// Cancels a pending INVITE (§9).
    Cancel,
    /// Asks for capabilities; the Box's keepalive (§11).
    Options,
    /// Binds an address of record to a contact (§10).
    Register,
    /// Acknowledges a reliable provisional response (RFC 3262).
    Prack,
    /// Changes a session before it is up (RFC 3311).
    Update,
    /// Carries information inside a call, e.g. keys (RFC 6086).
    Info,
    /// An instant message (RFC 3428).
    Message,
    /// An event notification (RFC 6665).
    Notify,
    /// Asks for event notifications (RFC 6665).
    Subscribe,
    /// Asks to call a third party (RFC 3515).
    Refer,
    /// Publishes event state (RFC 3903).
    Publish,
    /// Any other method, as received.
    Other(String),
}

impl Method {
    /// The method a request line's token names (case-sensitive).
    pub fn from_token(s: &str) -> Method {
        match s {
            "INVITE" => Method::Invite,
            "ACK" => Method::Ack,
            "BYE" => Method::Bye,
            "CANCEL" => Method::Cancel,
            "OPTIONS" => Method::Options,
            "REGISTER" => Method::Register,
            "PRACK" => Method::Prack,
            "UPDATE" => Method::Update,
            "INFO" => Method::Info,
            "MESSAGE" => Method::Message,
            "NOTIFY" => Method::Notify,
            "SUBSCRIBE" => Method::Subscribe,
            "REFER" => Method::Refer,
            "PUBLISH" => Method::Publish,
            other => Method::Other(other.to_owned()),
        }
    }

    /// The token as sent.
    pub fn as_str(&self) -> &str {
        match self {
            Method::Invite => "INVITE",
            Method::Ack => "ACK",
            Method::Bye => "BYE",
            Method::Cancel => "CANCEL",
            Method::Options => "OPTIONS",
            Method::Register => "REGISTER",
            Method::Prack => "PRACK",
            Method::Update => "UPDATE",
            Method::Info => "INFO",
            Method::Message => "MESSAGE",
            Method::Notify => "NOTIFY",
            Method::Subscribe => "SUBSCRIBE",
            Method::Refer => "REFER",
            Method::Publish => "PUBLISH",
            Method::Other(s) => s,
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
