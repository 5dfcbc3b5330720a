//! Fuzz the partition-table readers (MBR + EBR chains, GPT primary/backup) and the probe over
//! an arbitrary disk image: every outcome must be a value or a typed error.

use guestfix::block::BlockDev;
use guestfix::block::raw::MemDisk;
use std::sync::Arc;

pub fn run(data: &[u8]) {
    // Pad small inputs so that the GPT backup header position varies with the input length.
    let mut img = data.to_vec();
    if img.len() < 4096 {
        img.resize(4096, 0);
    }
    let disk: Arc<dyn BlockDev> = Arc::new(MemDisk::new("fuzz", img));
    if let Ok(mut set) = guestfix::volume::scan(&[disk]) {
        guestfix::fs::probe::annotate(&mut set);
        for v in &set.volumes {
            let mut b = [0u8; 16];
            let _ = v.dev.read_at(0, &mut b);
        }
    }
}
