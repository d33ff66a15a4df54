//! Whatever answers on the Box's TR-064 address: the SOAP reader, the
//! service description and the phonebook export must never panic, and
//! stay bounded in memory (`-rss_limit_mb`) however deep or long the XML.
//! Run (fat LTO off: it breaks the sanitizers' link):
//! CARGO_PROFILE_RELEASE_LTO=false cargo +nightly fuzz run tr064_xml -- -rss_limit_mb=512
#![no_main]

use libfuzzer_sys::fuzz_target;
use minisip4fb::fritzbox::soap;
use minisip4fb::screen::list::{self, Format};

fuzz_target!(|data: &[u8]| {
    let Ok(xml) = std::str::from_utf8(data) else {
        return;
    };
    let _ = soap::parse_response(xml, "X_AVM-DE_GetClient3");
    let _ = soap::parse_request(xml, "SetPhonebookEntryUID");
    let _ = soap::services(xml);
    let _ = soap::tag_text(xml, "NewX_AVM-DE_PhonebookURL");
    let _ = list::entries(xml, Format::FritzXml);
});
