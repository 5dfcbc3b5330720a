//! MOD-L1 driver injection, reader side: archives that follow a compressed member (with or
//! without zero padding) are listed too, as the kernel unpacks them; captured contents come from
//! the last archive holding the file. Archives are made by the real `cpio` and compressors.
//! Debian packages: cpio, gzip, xz-utils, zstd, bzip2.

use guestfix::guest::linux::initramfs::{Capture, InitramfsError, Limits, list, list_capturing};
use std::path::Path;
use std::process::Command;

fn sh(cmd: &str, dir: &Path) {
    let st = Command::new("bash")
        .arg("-ec")
        .arg(cmd)
        .current_dir(dir)
        .status()
        .unwrap();
    assert!(st.success(), "{cmd}");
}

#[test]
fn archives_after_a_compressed_member_are_listed() {
    let t = tempfile::tempdir().unwrap();
    sh(
        "mkdir -p main/usr/lib/modules/6.1.0-9-amd64/kernel/drivers/block main/conf extra/usr/lib/modules/6.1.0-9-amd64/updates
         printf 'kernel/drivers/block/virtio_blk.ko:\\n' > main/usr/lib/modules/6.1.0-9-amd64/modules.dep
         echo ko > main/usr/lib/modules/6.1.0-9-amd64/kernel/drivers/block/virtio_blk.ko
         printf 'virtio_blk\\n' > main/conf/modules
         head -c 200000 /dev/urandom > main/blob
         printf 'kernel/drivers/block/virtio_blk.ko:\\nupdates/nvme.ko:\\n' > extra/usr/lib/modules/6.1.0-9-amd64/modules.dep
         echo ko > extra/usr/lib/modules/6.1.0-9-amd64/updates/nvme.ko
         (cd main && find . | sort | cpio -o -H newc --quiet > ../main.cpio)
         (cd extra && find . | sort | cpio -o -H newc --quiet > ../extra.cpio)",
        t.path(),
    );
    let cases = [
        ("gzip", "gzip -9c main.cpio"),
        ("xz", "xz --check=crc32 -c main.cpio"),
        ("zstd", "zstd -q -c main.cpio"),
    ];
    let dep = "usr/lib/modules/6.1.0-9-amd64/modules.dep";
    let wanted = |p: &str| p.ends_with("modules.dep") || p == "conf/modules";
    let cap = Capture {
        wanted: &wanted,
        max_file: 1 << 20,
        max_total: 4 << 20,
    };
    for (comp, cmd) in cases {
        let main_len = std::fs::metadata(t.path().join("main.cpio")).unwrap().len();
        assert_eq!(main_len % 4, 0);
        sh(&format!("{cmd} > m.{comp}"), t.path());
        let clen = std::fs::metadata(t.path().join(format!("m.{comp}")))
            .unwrap()
            .len() as usize;
        let align = clen.next_multiple_of(4) - clen;
        for pad in [align, align + 4, align + 512] {
            sh(
                &format!("cat m.{comp} > i; head -c {pad} /dev/zero >> i; cat extra.cpio >> i"),
                t.path(),
            );
            let data = std::fs::read(t.path().join("i")).unwrap();
            let l = list_capturing(&data, &Limits::default(), Some(&cap))
                .unwrap_or_else(|e| panic!("{comp}/{pad}: {e}"));
            assert_eq!(l.archives.len(), 2, "{comp}/{pad}: {:?}", l.archives);
            assert_eq!(l.archives[0].compression, comp);
            assert_eq!(l.archives[1].compression, "none");
            let main_len = std::fs::metadata(t.path().join(format!("m.{comp}")))
                .unwrap()
                .len() as usize;
            assert_eq!(l.archives[0].end, Some(main_len), "{comp}/{pad}");
            assert_eq!(l.archives[1].offset, main_len + pad, "{comp}");
            // cpio pads its output with zeros to 512 bytes after the trailer.
            let end = l.archives[1].end.unwrap();
            assert!(data.len() - end < 512 && data[end..].iter().all(|&b| b == 0));
            assert_eq!(l.modules(), ["nvme", "virtio_blk"], "{comp}/{pad}");
            assert_eq!(
                l.content(dep).unwrap(),
                b"kernel/drivers/block/virtio_blk.ko:\nupdates/nvme.ko:\n"
            );
            assert_eq!(l.content("conf/modules").unwrap(), b"virtio_blk\n");
            // Without capture nothing is kept, and the listing is the same.
            let plain = list(&data, &Limits::default()).unwrap();
            assert_eq!(plain.files, l.files);
            assert!(plain.contents.is_empty());
        }
        // A plain archive at an unaligned offset is refused, as the kernel refuses it.
        sh(
            &format!(
                "cat m.{comp} > u; head -c {} /dev/zero >> u; cat extra.cpio >> u",
                align + 1
            ),
            t.path(),
        );
        let data = std::fs::read(t.path().join("u")).unwrap();
        match list(&data, &Limits::default()) {
            Err(InitramfsError::Cpio { offset, reason }) => {
                assert_eq!(offset, clen + align + 1);
                assert!(reason.contains("aligned"), "{reason}");
            }
            other => panic!("{comp}: {other:?}"),
        }
    }
    // A second compressed member after the first one.
    sh(
        "gzip -c main.cpio > i2; zstd -q -c extra.cpio >> i2",
        t.path(),
    );
    let data = std::fs::read(t.path().join("i2")).unwrap();
    let l = list(&data, &Limits::default()).unwrap();
    let comps: Vec<_> = l.archives.iter().map(|a| a.compression).collect();
    assert_eq!(comps, ["gzip", "zstd"]);
    assert_eq!(l.modules(), ["nvme", "virtio_blk"]);

    // Junk after the last archive is ignored, as the kernel keeps what it unpacked.
    sh(
        "gzip -c main.cpio > j; printf 'junk after the archive' >> j",
        t.path(),
    );
    let data = std::fs::read(t.path().join("j")).unwrap();
    let l = list(&data, &Limits::default()).unwrap();
    assert_eq!(l.archives.len(), 1);
    assert_eq!(l.modules(), ["virtio_blk"]);

    // A captured file larger than allowed is a typed error naming it.
    let only_dep = |p: &str| p == dep;
    let small = Capture {
        wanted: &only_dep,
        max_file: 10,
        max_total: 100,
    };
    let data = std::fs::read(t.path().join("i")).unwrap();
    match list_capturing(&data, &Limits::default(), Some(&small)) {
        Err(InitramfsError::CaptureTooLarge { name, .. }) => assert_eq!(name, dep),
        other => panic!("{other:?}"),
    }
}
