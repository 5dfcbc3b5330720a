//! Fuzz the Windows driver INF parser and what a package means for a guest (MOD-W1): bytes →
//! `Inf::parse` (UTF-16/UTF-8/Latin-1, sections, quotes, continuations, `%strings%`), then the
//! models, services, AddReg lines and CopyFiles for a few guests. The package folder does not
//! exist, so a CopyFiles is a clean error. Any panic, hang or runaway allocation is a bug.

use guestfix::plan::windows::driver::{Target, from_inf};
use guestfix::plan::windows::inf::Inf;
use std::path::Path;

pub fn run(data: &[u8]) {
    let Ok(inf) = Inf::parse(data) else {
        return;
    };
    let _ = inf.value("Version", "Class");
    for name in inf.section_names().take(64) {
        let _ = inf.values(name, "AddReg");
    }
    for (arch, major, minor, build) in [
        ("amd64", 10, 0, Some(17763)),
        ("x86", 6, 1, None),
        ("arm64", 10, 0, None),
    ] {
        let t = Target {
            arch: arch.into(),
            major,
            minor,
            build,
        };
        let _ = from_inf(&inf, Path::new("/nonexistent-guestfix-fuzz/pkg.inf"), &t);
    }
}
