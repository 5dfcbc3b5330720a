//! Fuzz the ext4 writer: the input is a disk image; opening it and running a fixed sequence of
//! writer operations must never panic, hang or allocate without bound (errors are fine).

use guestfix::block::raw::MemDisk;
use guestfix::fs::ext4w::Ext4Writer;
use std::sync::Arc;

pub fn run(data: &[u8]) {
    if data.len() > 16 << 20 {
        return;
    }
    let dev = Arc::new(MemDisk::new("fuzz.img", data.to_vec()));
    let Ok(mut w) = Ext4Writer::open(dev) else {
        return;
    };
    let _ = w.replace_file(b"/etc/fstab", b"UUID=x / ext4 defaults 0 1\n");
    let _ = w.backup_and_replace(b"/etc/hostname", b"hostname.orig", b"guest\n");
    let _ = w.create_dir(b"/", b"new", 0o755, 0, 0);
    let _ = w.create_file(b"/new", b"f", &[7u8; 5000], 0o644, 0, 0);
    let _ = w.hard_link(b"/new/f", b"/", b"g");
    let _ = w.rename(b"/g", b"/new", b"h");
    let _ = w.set_mode(b"/new/h", 0o600);
    let _ = w.flush();
}
