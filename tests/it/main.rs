//! The integration tests, one binary: the phone as a child process and
//! as a library against the emulated Box, real HTTP, a real MQTT broker,
//! a real browser, on loopback. One binary links once and runs every test
//! in one pool of threads (`RUST_TEST_THREADS`); each module is one part.
//! A part whose tool is missing fails with the install command, unless
//! named in `MINISIP4FB_SKIP` (see `common::require`).

mod common;

mod accounts;

mod browser;
mod challenge;
mod check_and_run;
mod cli;
mod daemon;
mod daemon_guards;
mod e2e;
mod emulator;
mod examples;
mod hooks;
mod media;
mod mqtt;
mod netns;
mod notify;
mod phoneblock;
mod phoneblock_faults;
mod phoneblock_ranges;
mod rfc4475;
mod roundtrip;
mod setup;
mod setup_second_factor;
mod tr064;
mod tr064_hostile;
mod tr064_tls;
mod web;
mod web_guards;
