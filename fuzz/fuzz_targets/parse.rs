//! The parser must never panic, and what it accepts must survive a
//! write/parse round trip unchanged. What the parser keeps while it
//! validates (the top Via, the CSeq, where the tags are) and the borrowed
//! views must agree with a fresh owned parse of the same header.
//! Run (fat LTO off: it breaks the sanitizers' link):
//! CARGO_PROFILE_RELEASE_LTO=false cargo +nightly fuzz run parse
#![no_main]

use libfuzzer_sys::fuzz_target;
use minisip4fb::sip::{self, CSeq, Headers, NameAddr};

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = sip::parse(data) {
        let again = sip::parse(&m.to_bytes()).expect("written message must parse");
        assert_eq!(m, again);
        views_agree(m.headers());
    }
});

fn views_agree(h: &Headers) {
    type Tag = fn(&Headers) -> Option<&str>;
    type Owned = fn(&Headers) -> Result<&NameAddr, sip::ParseError>;
    let pairs: [(&str, Tag, Owned); 2] = [
        ("From", Headers::from_tag, Headers::from),
        ("To", Headers::to_tag, Headers::to),
    ];
    for (name, tag, owned) in pairs {
        let Some(value) = h.get(name) else { continue };
        let fresh = NameAddr::parse(value).ok();
        assert_eq!(owned(h).ok(), fresh.as_ref(), "{name}");
        assert_eq!(tag(h), fresh.as_ref().and_then(NameAddr::tag), "{name} tag");
        let view = match name {
            "From" => h.from_ref(),
            _ => h.to_ref(),
        };
        assert_eq!(view.ok().map(|v| v.into_owned()), fresh, "{name} view");
    }
    // The first Contact: the view's copy against the list's own parse.
    if let Ok(list) = h.name_addrs("Contact") {
        let first = h
            .first_contact()
            .expect("the first Contact parses when the whole list does");
        assert_eq!(first, list.first(), "Contact");
    }
    if let Ok(vias) = h.vias() {
        assert_eq!(h.top_via().ok(), vias.first(), "top Via");
    }
    if let Some(value) = h.get("CSeq") {
        assert_eq!(h.cseq().ok(), CSeq::parse(value).ok().as_ref(), "CSeq");
    }
}
