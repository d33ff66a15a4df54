//! List files in every format the rules read (text, CSV, vCard, the Box's
//! phonebook XML): never a panic, every bad line an error with its line
//! number. The first byte picks the format.
//! Run (fat LTO off: it breaks the sanitizers' link):
//! CARGO_PROFILE_RELEASE_LTO=false cargo +nightly fuzz run lists -- -rss_limit_mb=512
#![no_main]

use std::path::Path;
use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use minisip4fb::screen::list::{self, Format};
use minisip4fb::screen::number::Home;

static HOME: LazyLock<Home> = LazyLock::new(|| Home::new("DE", Some("030")).unwrap());

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let format = [Format::Text, Format::Csv, Format::VCard, Format::FritzXml][pick as usize % 4];
    // A line number must point into the file: CSV also ends records at a
    // lone CR, as old editors do.
    let ends = |c: char| text.matches(c).count();
    let lines = ends('\n').max(ends('\r')) + 1;
    let (_, errors) = list::parse(text, format, Path::new("fuzz.txt"), &HOME);
    for e in &errors {
        assert!(e.line <= lines, "line {} of {lines}", e.line);
    }
});
