//! Fuzz the allocation status of every container (`BlockDev::extents`) and the parallel extent
//! reader: the first byte picks the format whose magic is stamped, then the disk's extents are
//! asked for a few windows and checked for the contract (adjacent, covering the range), and the
//! first data ranges are read. Any input must give a value or a typed error, never a panic,
//! hang or huge allocation.

use guestfix::block::{self, BlockDev, alloc, raw::MemDisk};
use std::sync::Arc;

const MAGICS: [(&[u8], usize); 5] = [
    (b"QFI\xfb", 0),
    (b"conectix", 0),
    (b"vhdxfile", 0),
    (b"KDMV", 0),
    (b"ustar", 257),
];

pub fn run(data: &[u8]) {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let mut bytes = rest.to_vec();
    let (magic, at) = MAGICS[pick as usize % MAGICS.len()];
    if bytes.len() >= at + magic.len() {
        bytes[at..at + magic.len()].copy_from_slice(magic);
    }
    let dev: Arc<dyn BlockDev> = Arc::new(MemDisk::new("fuzz.img", bytes));
    let Ok((disks, _info)) = block::open_dev(dev) else {
        return;
    };
    for d in disks.iter().take(2) {
        let len = d.len();
        for off in [0, len / 2, len.saturating_sub(1 << 20)] {
            let n = (len - off).min(16 << 20);
            if let Ok(ext) = d.extents(off, n) {
                let mut at = off;
                for e in &ext {
                    assert_eq!(e.offset, at);
                    at = e.end();
                }
                assert_eq!(at, off + n);
            }
        }
        // A small disk is read whole through the parallel reader.
        if len <= 64 << 20 {
            let _ = alloc::for_each_data(
                &**d,
                2,
                4096,
                &|_, _| Ok(()),
                &mut |_, _| Ok(()),
                &mut |_| {},
            );
        }
    }
}
