#![no_main]
//! The target's body is `fuzz/bodies/btrfs_write.rs`, which `cargo test` also runs on every
//! saved finding (tests/fuzz_replay.rs).
#[path = "../bodies/btrfs_write.rs"]
mod body;
libfuzzer_sys::fuzz_target!(|data: &[u8]| body::run(data));
