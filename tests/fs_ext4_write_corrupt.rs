//! Hostile images: random byte damage to the metadata of real mkfs.ext4 images (with and
//! without metadata_csum) must give typed errors or consistent writes, never a panic or hang.

#[path = "fs_ext4_write_util.rs"]
mod util;

use guestfix::block::raw::MemDisk;
use guestfix::fs::ext4w::Ext4Writer;
use proptest::prelude::*;
use std::sync::{Arc, OnceLock};
use util::*;

fn image(csum: bool) -> &'static Vec<u8> {
    static A: OnceLock<Vec<u8>> = OnceLock::new();
    static B: OnceLock<Vec<u8>> = OnceLock::new();
    let cell = if csum { &A } else { &B };
    cell.get_or_init(|| {
        let t = tree();
        std::fs::create_dir_all(t.path().join("etc")).unwrap();
        std::fs::write(t.path().join("etc/fstab"), b"UUID=1 / ext4 defaults 0 1\n").unwrap();
        std::fs::write(t.path().join("etc/hostname"), b"h\n").unwrap();
        for i in 0..50 {
            std::fs::write(t.path().join(format!("etc/f{i}")), bytes(i, 3000)).unwrap();
        }
        let args: &[&str] = if csum { &[] } else { &["-O", "^metadata_csum"] };
        let img = mkfs(Some(t.path()), "4M", args);
        std::fs::read(&img.path).unwrap()
    })
}

fn exercise(data: Vec<u8>) {
    let dev = Arc::new(MemDisk::new("damaged.img", data));
    let Ok(mut w) = Ext4Writer::open(dev) else {
        return;
    };
    let _ = w.replace_file(b"/etc/fstab", &bytes(1, 20_000));
    let _ = w.backup_and_replace(b"/etc/hostname", b"hostname.orig", b"guest\n");
    let _ = w.create_dir(b"/etc", b"new", 0o755, 0, 0);
    let _ = w.create_file(b"/etc/new", b"f", &[7u8; 5000], 0o644, 0, 0);
    let _ = w.hard_link(b"/etc/f3", b"/", b"g");
    let _ = w.rename(b"/g", b"/etc", b"h");
    let _ = w.set_mode(b"/etc/f7", 0o600);
    let _ = w.flush();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, max_shrink_iters: 20, ..ProptestConfig::default() })]
    #[test]
    fn damaged_metadata_never_panics(
        csum in any::<bool>(),
        flips in prop::collection::vec((prop_oneof![1024usize..80 * 1024, 0usize..600 * 1024], any::<u8>()), 1..40),
    ) {
        let mut data = image(csum).clone();
        let len = data.len();
        for (off, v) in flips {
            data[off % len] = v;
        }
        exercise(data);
    }
}
