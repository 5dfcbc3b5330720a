#![no_main]
//! The target's body is `fuzz/bodies/inf.rs`, which `cargo test` also runs on every saved
//! finding (tests/fuzz_replay.rs).
#[path = "../bodies/inf.rs"]
mod body;
libfuzzer_sys::fuzz_target!(|data: &[u8]| body::run(data));
