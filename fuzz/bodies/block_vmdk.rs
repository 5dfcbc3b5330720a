//! Fuzz the vmdk reader: open the fuzz bytes as a MemDisk and read a few sectors. Any input must
//! give a value or a typed error, never a panic, hang or huge allocation.

use guestfix::block::{self, BlockDev, raw::MemDisk};
use std::sync::Arc;

pub fn run(data: &[u8]) {
    // Steer detection to this format: stamp the VMDK sparse magic at offset 0.
    let mut bytes = data.to_vec();
    let magic: &[u8] = b"KDMV";
    let at = 0;
    if bytes.len() >= at + magic.len() {
        bytes[at..at + magic.len()].copy_from_slice(magic);
    }
    let dev: Arc<dyn BlockDev> = Arc::new(MemDisk::new("fuzz.vmdk", bytes));
    if let Ok((disks, _info)) = block::open_dev(dev) {
        for d in disks.iter().take(4) {
            let len = d.len();
            let mut buf = [0u8; 4096];
            for off in [0, len / 3, len / 2, len.saturating_sub(4096)] {
                let n = (len.saturating_sub(off) as usize).min(buf.len());
                let _ = d.read_at(off, &mut buf[..n]);
            }
        }
    }
}
