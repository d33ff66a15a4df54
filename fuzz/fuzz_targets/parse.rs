//! The parser must never panic, and what it accepts must survive a
//! write/parse round trip unchanged. Run: cargo +nightly fuzz run parse
#![no_main]

use libfuzzer_sys::fuzz_target;
use minisip4fb::sip;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = sip::parse(data) {
        let again = sip::parse(&m.to_bytes()).expect("written message must parse");
        assert_eq!(m, again);
    }
});
