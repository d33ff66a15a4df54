//! The agent fed arbitrary datagrams from the registrar's address (the
//! trusted path) must never panic. Run (fat LTO off: it breaks the sanitizers' link):
//! CARGO_PROFILE_RELEASE_LTO=false cargo +nightly fuzz run agent
#![no_main]

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use minisip4fb::agent::{Agent, Config, Input, Output};

fuzz_target!(|data: &[u8]| {
    let now = Instant::now();
    let mut cfg = Config::new(
        "127.0.0.1:5060".parse().unwrap(),
        "620",
        "pw",
        "127.0.0.2:5062".parse().unwrap(),
    );
    cfg.seed = 1;
    let mut agent = Agent::new(cfg, now);
    agent.register(now);
    for (i, chunk) in data.split(|b| *b == 0xff).enumerate() {
        let t = now + Duration::from_millis(i as u64 * 300);
        agent.handle_input(Input::Receive {
            now: t,
            from: "127.0.0.1:5060".parse().unwrap(),
            data: chunk,
        });
        agent.handle_input(Input::Timeout(t));
        while !matches!(agent.poll_output(), Output::Timeout(_)) {}
    }
});
