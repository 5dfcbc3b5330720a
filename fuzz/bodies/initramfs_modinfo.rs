//! MOD-L1 parsers on arbitrary bytes: the initramfs reader (with content capture) and the
//! kernel module `.modinfo` reader never panic, hang or allocate without bound.

use guestfix::guest::linux::initramfs::{Capture, Limits, list_capturing};
use guestfix::guest::linux::modinfo;

pub fn run(data: &[u8]) {
    let limits = Limits {
        max_unpacked: 16 << 20,
        max_entries: 10_000,
        max_archives: 8,
    };
    let all = |_: &str| true;
    let cap = Capture {
        wanted: &all,
        max_file: 1 << 20,
        max_total: 4 << 20,
    };
    let _ = list_capturing(data, &limits, Some(&cap));
    let _ = modinfo::read(data);
}
