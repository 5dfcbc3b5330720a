#![no_main]
//! The target's body is `fuzz/bodies/rpmdb_ndb.rs`, which `cargo test` also runs on every saved
//! finding (tests/fuzz_replay.rs).
#[path = "../bodies/rpmdb_ndb.rs"]
mod body;
libfuzzer_sys::fuzz_target!(|data: &[u8]| body::run(data));
