//! SIP messages (RFC 3261 §7): requests, responses, their headers, and the
//! writer. Content-Length is not stored: the writer derives it from the body.

use std::cell::OnceCell;
use std::ops::Range;

use super::ParseError;
use super::header::{CSeq, NameAddr, NameAddrRef, Via};
use super::lex::{decimal, parse_delta_seconds};
use super::method::Method;
use super::name;
use super::name::{HeaderName, known_name};
use super::status::StatusCode;
use super::uri::Uri;

/// The headers of a message, in order. Lookups are case-insensitive.
///
/// All values live in one buffer, so a parsed message costs two
/// allocations for its headers however many it has.
#[derive(Debug, Clone, Default)]
pub struct Headers {
    text: String,
    entries: Vec<(HeaderName, std::ops::Range<u32>)>,
    /// The headers every transaction reads, each parsed at most once (the
    /// parser fills them as it validates); any change clears them.
    parsed: Parsed,
    /// Received with Content-Lengths that disagree: the body cannot be
    /// framed (RFC 4475 §3.3.9). Not part of equality: the writer derives
    /// Content-Length, so a message written back has just one.
    conflicting_lengths: bool,
}

#[derive(Debug, Clone, Default)]
struct Parsed {
    top_via: OnceCell<Result<Via, ParseError>>,
    cseq: OnceCell<Result<CSeq, ParseError>>,
    /// Where the From and To tags are in the text: every datagram's
    /// dialog is found by them.
    from_tag: OnceCell<Option<Range<u32>>>,
    to_tag: OnceCell<Option<Range<u32>>>,
    /// Copies of name-addrs, for whoever asks for one (the agent reads
    /// the views): boxed, so that a message and a call that keeps one stay
    /// small.
    copies: OnceCell<Box<Copies>>,
}

#[derive(Debug, Clone, Default)]
struct Copies {
    from: OnceCell<Result<NameAddr, ParseError>>,
    to: OnceCell<Result<NameAddr, ParseError>>,
    /// The first Contact element (`None`: no Contact, or only `*`).
    contact: OnceCell<Result<Option<NameAddr>, ParseError>>,
}

/// The cached value, parsed on first use.
fn cached<T>(
    cell: &OnceCell<Result<T, ParseError>>,
    parse: impl FnOnce() -> Result<T, ParseError>,
) -> Result<&T, ParseError> {
    cell.get_or_init(parse).as_ref().map_err(Clone::clone)
}

impl PartialEq for Headers {
    fn eq(&self, other: &Headers) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for Headers {}

impl Headers {
    /// No headers.
    pub fn new() -> Headers {
        Headers::default()
    }

    pub(crate) fn with_capacity(text: usize, entries: usize) -> Headers {
        Headers {
            text: String::with_capacity(text),
            entries: Vec::with_capacity(entries),
            parsed: Parsed::default(),
            conflicting_lengths: false,
        }
    }

    /// Whether the message came with Content-Lengths that disagree (RFC
    /// 4475 §3.3.9): answer 400, never act on it.
    pub fn conflicting_lengths(&self) -> bool {
        self.conflicting_lengths
    }

    pub(crate) fn set_conflicting_lengths(&mut self, yes: bool) {
        self.conflicting_lengths = yes;
    }

    /// Appends a header; known names take their canonical spelling.
    pub fn push(&mut self, name: impl AsRef<str>, value: impl AsRef<str>) {
        let name = name.as_ref();
        let name = match known_name(name) {
            Some(k) => HeaderName::Borrowed(k),
            None => HeaderName::Owned(name.to_owned()),
        };
        self.parsed = Parsed::default();
        self.push_named(name, value.as_ref());
    }

    /// For the parser, which fills the cache once all lines are in.
    pub(crate) fn push_named(&mut self, name: HeaderName, value: &str) {
        let start = self.text.len() as u32;
        self.text.push_str(value);
        self.entries.push((name, start..self.text.len() as u32));
    }

    /// Continues the last value (a folded line, RFC 3261 §7.3.1): joined
    /// with one space.
    pub(crate) fn continue_last(&mut self, more: &str) -> bool {
        let Some((_, range)) = self.entries.last_mut() else {
            return false;
        };
        if !more.is_empty() {
            if range.start != range.end {
                self.text.push(' ');
            }
            self.text.push_str(more);
            range.end = self.text.len() as u32;
        }
        true
    }

    /// About how many bytes the headers take when written.
    fn written_len(&self) -> usize {
        self.text.len() + self.entries.iter().map(|(n, _)| n.len() + 4).sum::<usize>()
    }

    fn value(&self, range: &std::ops::Range<u32>) -> &str {
        &self.text[range.start as usize..range.end as usize]
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, r)| self.value(r))
    }

    /// Every value of header `name`, in order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.entries
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, r)| self.value(r))
    }

    /// Removes every header `name`.
    pub fn remove(&mut self, name: &str) {
        self.parsed = Parsed::default();
        self.entries.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
    }

    /// (name, value) pairs in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries
            .iter()
            .map(|(n, r)| (n.as_ref(), self.value(r)))
    }

    /// How many header fields there are.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The Call-ID.
    pub fn call_id(&self) -> Option<&str> {
        self.get(name::CALL_ID)
    }

    /// The CSeq, parsed once.
    pub fn cseq(&self) -> Result<&CSeq, ParseError> {
        cached(&self.parsed.cseq, || {
            CSeq::parse(self.get(name::CSEQ).ok_or(ParseError::Missing("CSeq"))?)
        })
    }

    /// From, parsed once.
    pub fn from(&self) -> Result<&NameAddr, ParseError> {
        cached(&self.copies().from, || {
            NameAddr::parse(self.get(name::FROM).ok_or(ParseError::Missing("From"))?)
        })
    }

    /// To, parsed once.
    pub fn to(&self) -> Result<&NameAddr, ParseError> {
        cached(&self.copies().to, || {
            NameAddr::parse(self.get(name::TO).ok_or(ParseError::Missing("To"))?)
        })
    }

    /// All Via values, top first, across lines and commas.
    pub fn vias(&self) -> Result<Vec<Via>, ParseError> {
        let mut out = Vec::new();
        for v in self.get_all(name::VIA) {
            out.extend(Via::parse_list(v)?);
        }
        Ok(out)
    }

    /// The first Via, parsed once: where a response goes (RFC 3261 §18.2.2).
    pub fn top_via(&self) -> Result<&Via, ParseError> {
        cached(&self.parsed.top_via, || {
            let first = self.get(name::VIA).ok_or(ParseError::Missing("Via"))?;
            let top = super::lex::list_elements(first)
                .next()
                .ok_or(ParseError::Missing("Via"))??;
            Via::parse(top)
        })
    }

    /// Keeps what the parser found while validating: the top Via, the
    /// CSeq and where the From and To tags are (`span_of`). Every
    /// transaction reads them.
    pub(crate) fn set_parsed(
        &mut self,
        top_via: Option<Via>,
        cseq: Option<CSeq>,
        [from_tag, to_tag]: [Option<Option<Range<u32>>>; 2],
    ) {
        fn filled<T>(v: Option<T>) -> OnceCell<T> {
            v.map(OnceCell::from).unwrap_or_default()
        }
        self.parsed.top_via = filled(top_via.map(Ok));
        self.parsed.cseq = filled(cseq.map(Ok));
        self.parsed.from_tag = filled(from_tag);
        self.parsed.to_tag = filled(to_tag);
    }

    /// Where a slice of a value is in the text; `part` must be one.
    pub(crate) fn span_of(&self, part: &str) -> Range<u32> {
        let start = (part.as_ptr() as usize).wrapping_sub(self.text.as_ptr() as usize);
        debug_assert!(
            start + part.len() <= self.text.len(),
            "not a slice of the text"
        );
        start as u32..(start + part.len()) as u32
    }

    fn copies(&self) -> &Copies {
        self.parsed.copies.get_or_init(Box::default)
    }

    /// The From tag (RFC 3261 §19.3), found once.
    pub fn from_tag(&self) -> Option<&str> {
        self.tag_at(&self.parsed.from_tag, Headers::from_ref)
    }

    /// The To tag, found once.
    pub fn to_tag(&self) -> Option<&str> {
        self.tag_at(&self.parsed.to_tag, Headers::to_ref)
    }

    fn tag_at<'a>(
        &'a self,
        cell: &OnceCell<Option<Range<u32>>>,
        view: fn(&'a Headers) -> Result<NameAddrRef<'a>, ParseError>,
    ) -> Option<&'a str> {
        let at = cell.get_or_init(|| Some(self.span_of(view(self).ok()?.tag()?)));
        at.as_ref().map(|r| self.value(r))
    }

    /// From, read where it is: no copy (the agent's way on every datagram).
    pub fn from_ref(&self) -> Result<NameAddrRef<'_>, ParseError> {
        NameAddrRef::parse(self.get(name::FROM).ok_or(ParseError::Missing("From"))?)
    }

    /// To, read where it is.
    pub fn to_ref(&self) -> Result<NameAddrRef<'_>, ParseError> {
        NameAddrRef::parse(self.get(name::TO).ok_or(ParseError::Missing("To"))?)
    }

    /// The first Contact element, read where it is: the remote target of
    /// a dialog (RFC 3261 §12.1.1). `None`: no Contact, or only `*`.
    pub fn contact_ref(&self) -> Result<Option<NameAddrRef<'_>>, ParseError> {
        let first = self
            .get_all(name::CONTACT)
            .filter(|v| v.trim() != "*")
            .find_map(|v| super::lex::list_elements(v).next());
        first.map(|e| NameAddrRef::parse(e?)).transpose()
    }

    /// The first P-Called-Party-ID (RFC 3455 §4.2), read where it is: which
    /// of the household's numbers was called.
    pub fn called_party(&self) -> Result<Option<NameAddrRef<'_>>, ParseError> {
        self.get(name::P_CALLED_PARTY_ID)
            .map(NameAddrRef::parse)
            .transpose()
    }

    /// The first Contact element, parsed once.
    pub fn first_contact(&self) -> Result<Option<&NameAddr>, ParseError> {
        cached(&self.copies().contact, || {
            Ok(self.contact_ref()?.map(NameAddrRef::into_owned))
        })
        .map(Option::as_ref)
    }

    /// All values of a name-addr list header (Contact, Route, Record-Route).
    pub fn name_addrs(&self, name: &str) -> Result<Vec<NameAddr>, ParseError> {
        let mut out = Vec::new();
        for v in self.get_all(name) {
            if v.trim() == "*" {
                continue;
            }
            for e in super::lex::split_list(v)? {
                out.push(NameAddr::parse(e)?);
            }
        }
        Ok(out)
    }

    /// The `Expires` header (delta-seconds).
    pub fn expires(&self) -> Option<u32> {
        self.get(name::EXPIRES).and_then(parse_delta_seconds)
    }
}

/// A SIP request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The method.
    pub method: Method,
    /// The Request-URI.
    pub uri: Uri,
    /// The header fields.
    pub headers: Headers,
    /// The body (SDP, DTMF relay…), Content-Length bytes.
    pub body: Vec<u8>,
}

/// A SIP response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The status code (RFC 3261 §21).
    pub status: StatusCode,
    /// The reason phrase.
    pub reason: String,
    /// The header fields.
    pub headers: Headers,
    /// The body (SDP, DTMF relay…), Content-Length bytes.
    pub body: Vec<u8>,
}

/// A request or a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A request.
    Request(Request),
    /// A response.
    Response(Response),
}

impl Message {
    /// Its header fields.
    pub fn headers(&self) -> &Headers {
        match self {
            Message::Request(r) => &r.headers,
            Message::Response(r) => &r.headers,
        }
    }

    /// Its body.
    pub fn body(&self) -> &[u8] {
        match self {
            Message::Request(r) => &r.body,
            Message::Response(r) => &r.body,
        }
    }

    /// Serialises the message for the wire.
    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            Message::Request(r) => r.to_bytes(),
            Message::Response(r) => r.to_bytes(),
        }
    }
}

impl Request {
    /// A request without headers or body.
    pub fn new(method: Method, uri: Uri) -> Request {
        Request {
            method,
            uri,
            headers: Headers::new(),
            body: Vec::new(),
        }
    }

    /// The message as sent, with Content-Length from the body.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut start = String::with_capacity(64);
        start.push_str(self.method.as_str());
        start.push(' ');
        self.uri.push_to(&mut start);
        start.push_str(" SIP/2.0\r\n");
        let mut w = Writer::start(
            start.as_bytes(),
            self.headers.written_len() + self.body.len(),
        );
        w.headers(&self.headers);
        w.finish(&self.body)
    }
}

impl Response {
    /// A response without headers or body.
    pub fn new(status: StatusCode, reason: impl Into<String>) -> Response {
        Response {
            status,
            reason: reason.into(),
            headers: Headers::new(),
            body: Vec::new(),
        }
    }

    /// The message as sent, with Content-Length from the body.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::response(
            self.status,
            &self.reason,
            self.headers.written_len() + self.body.len(),
        );
        w.headers(&self.headers);
        w.finish(&self.body)
    }
}

/// A message written straight into its bytes: the start line, each header
/// as `Name: value`, then Content-Length and the body. The messages' own
/// `to_bytes` write with it, and the agent writes its answers with it from
/// slices of the request, with no [`Headers`] in between.
#[must_use = "finish() gives the bytes"]
pub struct Writer {
    out: Vec<u8>,
}

impl Writer {
    /// After a start line that ends in CRLF; `more`: about how many bytes follow.
    fn start(line: &[u8], more: usize) -> Writer {
        let mut out = Vec::with_capacity(line.len() + more + 48);
        out.extend_from_slice(line);
        Writer { out }
    }

    /// A response's status line (RFC 3261 §7.2); `more`: about how many
    /// bytes of headers and body follow.
    pub fn response(status: StatusCode, reason: &str, more: usize) -> Writer {
        let mut w = Writer::start(b"SIP/2.0 ", 16 + reason.len() + more);
        w.out
            .extend_from_slice(decimal(status.0.into(), &mut [0; 20]).as_bytes());
        w.out.push(b' ');
        w.out.extend_from_slice(reason.as_bytes());
        w.out.extend_from_slice(b"\r\n");
        w
    }

    /// One header line; its value is `parts` joined (a To and its new tag).
    pub fn header(&mut self, name: &str, parts: &[&str]) -> &mut Writer {
        self.out.extend_from_slice(name.as_bytes());
        self.out.extend_from_slice(b": ");
        for p in parts {
            self.out.extend_from_slice(p.as_bytes());
        }
        self.out.extend_from_slice(b"\r\n");
        self
    }

    fn headers(&mut self, headers: &Headers) {
        for (name, value) in headers.iter() {
            self.header(name, &[value]);
        }
    }

    /// Content-Length, always (RFC 3261 §18.3, §20.14: 0 without a body),
    /// and the body.
    pub fn finish(mut self, body: &[u8]) -> Vec<u8> {
        self.out.extend_from_slice(b"Content-Length: ");
        self.out
            .extend_from_slice(decimal(body.len() as u64, &mut [0; 20]).as_bytes());
        self.out.extend_from_slice(b"\r\n\r\n");
        self.out.extend_from_slice(body);
        self.out
    }
}

/// Formats raw message bytes for a log line with credentials removed. This
/// is the one place where messages are turned into log text, so secrets
/// (Authorization, Proxy-Authorization) can never reach a log.
pub fn redacted(data: &[u8]) -> String {
    let text = String::from_utf8_lossy(data);
    let mut out = String::with_capacity(text.len());
    let mut in_secret = false;
    for line in text.split_inclusive('\n') {
        // A folded continuation line belongs to the header above it.
        if line.starts_with([' ', '\t']) && in_secret {
            continue;
        }
        let name = line.split(':').next().unwrap_or("").trim();
        in_secret = name.eq_ignore_ascii_case("Authorization")
            || name.eq_ignore_ascii_case("Proxy-Authorization");
        if in_secret {
            out.push_str(name);
            out.push_str(": <redacted>\r\n");
        } else {
            out.push_str(line);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_credentials() {
        let msg = b"REGISTER sip:fritz.box SIP/2.0\r\nauthorization: Digest username=\"620\",\r\n response=\"abc\"\r\nCall-ID: x\r\n\r\n";
        let r = redacted(msg);
        assert!(!r.contains("response"), "{r}");
        assert!(r.contains("authorization: <redacted>"));
        assert!(r.contains("Call-ID: x"));
    }
}
