#![no_main]
//! The target's body is `fuzz/bodies/volume_mbr_gpt.rs`, which `cargo test` also runs on every saved
//! finding (tests/fuzz_replay.rs).
#[path = "../bodies/volume_mbr_gpt.rs"]
mod body;
libfuzzer_sys::fuzz_target!(|data: &[u8]| body::run(data));
