//! The wire: SIP message types, parser, writer, URIs, header values,
//! digest authentication and SDP. Pure functions over bytes: no I/O, no clock.

pub mod digest;
pub mod dtmf;
pub mod header;
pub mod lex;
pub mod message;
pub mod method;
pub mod name;
pub mod parse;
pub mod sdp;
pub mod uri;

pub use header::{CSeq, NameAddr, Via};
pub use lex::Param;
pub use message::{Headers, Message, Request, Response, reason_phrase, redacted};
pub use method::Method;
pub use name::HeaderName;
pub use parse::parse;
pub use uri::{Host, SipUri, Uri};

/// Why bytes are not a SIP message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("message is larger than 64 KiB")]
    TooLarge,
    #[error("no empty line ends the header section")]
    Incomplete,
    #[error("header section is not UTF-8")]
    Encoding,
    #[error("bad start line: {0}")]
    StartLine(&'static str),
    #[error("bad header: {0}")]
    Header(&'static str),
    #[error("bad URI: {0}")]
    Uri(&'static str),
    #[error("missing {0} header")]
    Missing(&'static str),
    #[error("Content-Length is larger than the body")]
    BodyTooShort,
    #[error("CSeq method differs from the request method")]
    MethodMismatch,
}
