//! The config file as anyone may write it: parsing never panics, and a
//! config that parses compiles to rules or to an error message (list files
//! are looked up in a directory that does not exist: nothing is read).
//! Run (fat LTO off: it breaks the sanitizers' link):
//! CARGO_PROFILE_RELEASE_LTO=false cargo +nightly fuzz run config -- -rss_limit_mb=512
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use minisip4fb::config;
use minisip4fb::screen::rules::Rules;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(mut c) = config::parse(text) else {
        return;
    };
    // Durations were checked by the parse; showing one never panics.
    let _ = c.fritzbox.phonebook_refresh.to_string();
    // Only relative list names: they resolve below the missing directory.
    let relative = c
        .rules
        .iter()
        .flat_map(|r| &r.lists)
        .all(|l| l.path.is_relative() && !l.path.components().any(|p| p.as_os_str() == ".."));
    if relative {
        c.resolve_paths(Path::new("/nonexistent/minisip4fb-fuzz"));
        let _ = Rules::compile(&c);
    }
});
