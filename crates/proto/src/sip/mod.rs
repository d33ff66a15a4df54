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
pub mod status;
pub mod uri;

pub use header::{CSeq, NameAddr, NameAddrRef, Via};
pub use lex::{Params, ParamsRef};
pub use message::{Headers, Message, Request, Response, redacted};
pub use method::Method;
pub use name::HeaderName;
pub use parse::parse;
pub use status::StatusCode;
pub use uri::{Host, HostRef, SipUri, SipUriRef, Uri, UriRef};

/// Why bytes are not a SIP message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("message is larger than 64 KiB")]
    /// Larger than [`parse::MAX_MESSAGE`].
    TooLarge,
    #[error("no empty line ends the header section")]
    /// The header section never ends (a truncated datagram).
    Incomplete,
    #[error("header section is not UTF-8")]
    /// The header section is not UTF-8.
    Encoding,
    #[error("bad start line: {0}")]
    /// The request or status line, and what is wrong with it.
    StartLine(&'static str),
    #[error("bad header: {0}")]
    /// A header value, and what is wrong with it.
    Header(&'static str),
    #[error("bad URI: {0}")]
    /// A URI, and what is wrong with it.
    Uri(&'static str),
    #[error("missing {0} header")]
    /// A header every request or response must have (RFC 3261 §8.1.1).
    Missing(&'static str),
    #[error("Content-Length is larger than the body")]
    /// Content-Length says more than the datagram holds (RFC 3261 §18.3).
    BodyTooShort,
    #[error("CSeq method differs from the request method")]
    /// CSeq names another method than the request line.
    MethodMismatch,
}
