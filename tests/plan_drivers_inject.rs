//! MOD-L1 driver injection. Reader: archives that follow a compressed member are listed (gzip,
//! xz, zstd; the kernel unpacks them all). Writer: the archive `plan::drivers::build` makes is
//! appended to an initramfs built by the real `cpio` + `gzip`/`zstd` and read back by our
//! reader AND by the real tools: `cpio -it` / `cpio -idm` on the appended part, `lsinitramfs`
//! (initramfs-tools-core), and kmod (`modprobe -d DIR -S KVER --show-depends` / `-R ALIAS`,
//! `modinfo -b DIR -k KVER`), which read our `modules.dep.bin` / `modules.alias.bin` — those
//! are byte-identical to the real depmod's. Modules are ELF objects made by gcc with a
//! `.modinfo` section added by objcopy. Debian packages: cpio, gzip, xz-utils, zstd, kmod,
//! initramfs-tools-core, gcc, binutils.

use guestfix::guest::linux::initramfs::{Capture, InitramfsError, Limits, list, list_capturing};
use guestfix::guest::linux::modinfo;
use guestfix::plan::drivers::{self, DriverError, Existing};
use std::path::Path;
use std::process::Command;

const K: &str = "6.1.0-9-amd64";

fn sh(cmd: &str, dir: &Path) -> String {
    let o = Command::new("bash")
        .arg("-ec")
        .arg(cmd)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{cmd}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A kernel-module-shaped ELF object with the given .modinfo fields.
fn make_ko(dir: &Path, file: &str, fields: &[&str]) {
    let mut mi = Vec::new();
    for f in fields {
        mi.extend_from_slice(f.as_bytes());
        mi.push(0);
    }
    std::fs::write(dir.join("mi"), mi).unwrap();
    sh(
        &format!(
            "echo 'int x_{n}(void) {{ return 1; }}' | gcc -c -x c - -o obj.o
             objcopy --add-section .modinfo=mi --set-section-flags .modinfo=alloc,readonly obj.o {file}
             rm obj.o mi",
            n = file.replace(['.', '-'], "_")
        ),
        dir,
    );
}

fn listing(data: &[u8]) -> guestfix::guest::linux::initramfs::Listing {
    let wanted = drivers::wanted(K);
    let cap = Capture {
        wanted: &wanted,
        max_file: 1 << 20,
        max_total: 4 << 20,
    };
    list_capturing(data, &Limits::default(), Some(&cap)).unwrap()
}

#[test]
fn appended_archive_is_read_by_cpio_lsinitramfs_and_kmod() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    let vm = format!("vermagic={K} SMP preempt mod_unload modversions ");
    // The guest's initramfs: merged /usr, one module, initramfs-tools' conf/modules.
    sh(
        &format!(
            "mkdir -p main/usr/lib/modules/{K}/kernel/drivers main/conf early/kernel/x86/microcode mods
             ln -s usr/lib main/lib
             printf '# modules\\nbase_a\\n' > main/conf/modules
             echo ucode > early/kernel/x86/microcode/GenuineIntel.bin"
        ),
        d,
    );
    make_ko(
        &d.join(format!("main/usr/lib/modules/{K}/kernel/drivers")),
        "base_a.ko",
        &[
            "name=base_a",
            &vm,
            "depends=",
            "alias=pci:v00001234d*sv*sd*bc*sc*i*",
        ],
    );
    // The indexes of the initramfs, made by the real depmod.
    sh(&format!("depmod -b main {K} 2>/dev/null"), d);
    sh(
        "(cd early && find . | sort | cpio -o -H newc --quiet > ../initrd)
         (cd main && find . | sort | cpio -o -H newc --quiet | gzip -9 >> ../initrd)",
        d,
    );
    // The host modules folder (flat): new-x needs new_y (not in the initramfs) and base_a (in it).
    let mods = d.join("mods");
    make_ko(
        &mods,
        "new-x.ko",
        &[
            "name=new_x",
            &vm,
            "depends=new_y,base_a",
            "alias=pci:v00001D0Fd0000EC20sv*sd*bc*sc*i*",
        ],
    );
    make_ko(&mods, "new_y.ko", &["name=new_y", &vm, "depends="]);
    make_ko(
        &mods,
        "wrong.ko",
        &[
            "name=wrong",
            "vermagic=5.10.0-1-amd64 SMP mod_unload ",
            "depends=",
        ],
    );
    make_ko(&mods, "orphan.ko", &["name=orphan", &vm, "depends=nothere"]);

    // .modinfo as read by our reader.
    let info = modinfo::read(&std::fs::read(mods.join("new-x.ko")).unwrap()).unwrap();
    assert_eq!(info.kernel_release(), Some(K));
    assert_eq!(info.depends, ["new_y", "base_a"]);
    assert_eq!(info.name.as_deref(), Some("new_x"));

    let orig = std::fs::read(d.join("initrd")).unwrap();
    let before = listing(&orig);
    let existing = Existing::from_listing(&before, K);
    assert_eq!(existing.prefix, "usr/lib/modules");
    assert!(existing.present.contains("base_a"));
    let found = drivers::scan(&mods, K).unwrap();
    assert_eq!(
        found.keys().collect::<Vec<_>>(),
        ["new_x", "new_y", "orphan", "wrong"]
    );
    let inj = drivers::build(
        &existing,
        K,
        &["new-x".into()],
        &found,
        &drivers::load_host,
        1_700_000_000,
    )
    .unwrap();
    assert_eq!(inj.modules, ["new_x", "new_y"]);
    let upd = format!("usr/lib/modules/{K}/updates/guestfix");
    assert!(inj.files.contains(&format!("{upd}/new-x.ko")));
    assert!(
        inj.files
            .contains(&format!("usr/lib/modules/{K}/modules.dep.bin"))
    );
    assert!(inj.files.contains(&"conf/modules".to_string()));
    assert!(
        inj.files
            .contains(&"etc/modules-load.d/guestfix.conf".to_string())
    );

    // Our reader on the appended initramfs: three archives, the new modules, new contents.
    // Appended as the planner does: compressed like the last archive.
    let (wrapped, comp) = drivers::wrap(&inj.archive, "gzip");
    assert_eq!(comp, "gzip");
    let mut new = orig.clone();
    let appended_at = new.len();
    new.extend_from_slice(&wrapped);
    std::fs::write(d.join("initrd.new"), &new).unwrap();
    std::fs::write(d.join("extra.cpio"), &inj.archive).unwrap();
    let after = listing(&new);
    let comps: Vec<_> = after.archives.iter().map(|a| a.compression).collect();
    assert_eq!(comps, ["none", "gzip", "gzip"]);
    assert_eq!(after.archives[2].offset, appended_at);
    assert_eq!(after.archives[2].end, Some(new.len()));
    assert_eq!(after.modules(), ["base_a", "new_x", "new_y"]);
    let dep = String::from_utf8(
        after
            .content(&format!("usr/lib/modules/{K}/modules.dep"))
            .unwrap()
            .to_vec(),
    )
    .unwrap();
    assert_eq!(
        dep,
        "kernel/drivers/base_a.ko:\n\
         updates/guestfix/new-x.ko: updates/guestfix/new_y.ko kernel/drivers/base_a.ko\n\
         updates/guestfix/new_y.ko:\n"
    );
    assert_eq!(
        after.content("conf/modules").unwrap(),
        b"# modules\nbase_a\nnew_x\n"
    );
    assert_eq!(
        after.content("etc/modules-load.d/guestfix.conf").unwrap(),
        b"new_x\n"
    );
    // Planning again on the result finds nothing to add (idempotent).
    let again = Existing::from_listing(&after, K);
    assert!(again.present.contains("new_x") && again.present.contains("new_y"));

    // cpio lists exactly the files we report, and extracts them with our times.
    let listed = sh("cpio -it --quiet < extra.cpio", d);
    let want: Vec<String> = inj
        .files
        .iter()
        .map(|f| f.trim_end_matches('/').to_string())
        .collect();
    assert_eq!(listed.lines().collect::<Vec<_>>(), want);
    sh(
        "mkdir root && cp -a main/. root/ && cd root && cpio -idmu --quiet < ../extra.cpio",
        d,
    );
    let root = d.join("root");
    assert_eq!(
        std::fs::read(root.join(format!("{upd}/new-x.ko"))).unwrap(),
        std::fs::read(mods.join("new-x.ko")).unwrap()
    );
    assert_eq!(
        sh(&format!("stat -c %Y {upd}/new_y.ko"), &root).trim(),
        "1700000000"
    );
    assert_eq!(sh("stat -c %a conf/modules", &root).trim(), "644");

    // udev's autoloading: kmod finds the new module by its alias (our modules.alias.bin), and
    // the original module's alias still resolves.
    let r = root.display().to_string();
    let by_alias = sh(
        &format!(
            "modprobe -d {r} -S {K} -R 'pci:v00001D0Fd0000EC20sv00001D0Fsd00000001bc02sc00i00'"
        ),
        d,
    );
    assert_eq!(by_alias.trim(), "new_x");
    let old_alias = sh(
        &format!("modprobe -d {r} -S {K} -R 'pci:v00001234d00005678sv0sd0bc0sc0i0'"),
        d,
    );
    assert_eq!(old_alias.trim(), "base_a");
    assert!(
        inj.files
            .contains(&format!("usr/lib/modules/{K}/modules.alias.bin"))
    );

    // kmod resolves the new module and its dependencies through our modules.dep.bin, and the
    // modules that were there before still resolve.
    let deps = sh(&format!("modprobe -d {r} -S {K} --show-depends new-x"), d);
    let lines: Vec<&str> = deps.lines().collect();
    assert_eq!(
        lines,
        [
            format!("insmod {r}/lib/modules/{K}/kernel/drivers/base_a.ko "),
            format!("insmod {r}/lib/modules/{K}/updates/guestfix/new_y.ko "),
            format!("insmod {r}/lib/modules/{K}/updates/guestfix/new-x.ko "),
        ]
    );
    let base = sh(&format!("modprobe -d {r} -S {K} --show-depends base_a"), d);
    assert_eq!(
        base.trim(),
        format!("insmod {r}/lib/modules/{K}/kernel/drivers/base_a.ko")
    );
    let mi = sh(&format!("modinfo -b {r} -k {K} new_x"), d);
    assert!(mi.contains("/updates/guestfix/new-x.ko"), "{mi}");
    assert!(mi.contains("depends:        new_y,base_a"), "{mi}");
    assert!(mi.contains(&format!("vermagic:       {K} SMP")), "{mi}");

    // lsinitramfs (initramfs-tools-core) still works on the result: it decompresses the gzip
    // members as one stream and lists the archives before ours, exactly as before.
    if Path::new("/usr/bin/lsinitramfs").exists() {
        let ls_orig = sh("lsinitramfs initrd", d);
        let ls = sh("lsinitramfs initrd.new", d);
        assert_eq!(ls, ls_orig);
        assert!(
            ls.lines()
                .any(|l| l == "kernel/x86/microcode/GenuineIntel.bin")
        );
        assert!(
            ls.lines()
                .any(|l| l == format!("usr/lib/modules/{K}/kernel/drivers/base_a.ko"))
        );
        // Plain data after the gzip member would break it: the reason the archive is wrapped.
        let mut plain = orig.clone();
        plain.resize(orig.len().next_multiple_of(4), 0);
        plain.extend_from_slice(&inj.archive);
        std::fs::write(d.join("initrd.plain"), &plain).unwrap();
        let o = Command::new("lsinitramfs")
            .arg("initrd.plain")
            .current_dir(d)
            .output()
            .unwrap();
        assert!(!o.status.success() || !String::from_utf8_lossy(&o.stdout).contains("base_a"));
    } else {
        eprintln!("*** lsinitramfs missing (initramfs-tools-core): that check is skipped ***");
    }

    // Refusals, with the evidence.
    match drivers::build(
        &existing,
        K,
        &["wrong".into()],
        &found,
        &drivers::load_host,
        0,
    ) {
        Err(DriverError::Vermagic {
            built_for,
            vermagic,
            path,
            ..
        }) => {
            assert_eq!(built_for, "5.10.0-1-amd64");
            assert!(vermagic.starts_with("5.10.0-1-amd64 SMP"));
            assert!(path.ends_with("wrong.ko"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        drivers::build(
            &existing,
            K,
            &["absent".into()],
            &found,
            &drivers::load_host,
            0
        )
        .unwrap_err(),
        DriverError::NotInFolder("absent".into())
    );
    match drivers::build(
        &existing,
        K,
        &["orphan".into()],
        &found,
        &drivers::load_host,
        0,
    ) {
        Err(DriverError::MissingDependency { module, dependency }) => {
            assert_eq!(
                (module.as_str(), dependency.as_str()),
                ("orphan", "nothere")
            );
        }
        other => panic!("{other:?}"),
    }
}

/// Compressed modules (.ko.xz / .ko.zst made by the real xz and zstd), a `<dir>/<kver>/` modules
/// folder, and an initramfs without merged /usr (modules under lib/modules) and without
/// conf/modules.
#[test]
fn compressed_modules_kver_folder_and_lib_prefix() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    let vm = format!("vermagic={K} SMP mod_unload ");
    sh(
        &format!(
            "mkdir -p main/lib/modules/{K}/kernel mods/{K}/extra mods/other
             printf 'kernel/old.ko:\\n' > main/lib/modules/{K}/modules.dep"
        ),
        d,
    );
    make_ko(
        &d.join(format!("main/lib/modules/{K}/kernel")),
        "old.ko",
        &["name=old", &vm],
    );
    make_ko(
        &d.join(format!("mods/{K}/extra")),
        "zz.ko",
        &["name=zz", &vm, "depends=yy"],
    );
    make_ko(
        &d.join(format!("mods/{K}/extra")),
        "yy.ko",
        &["name=yy", &vm, "depends=old"],
    );
    // A module of the same name outside <dir>/<kver>/ is not looked at.
    make_ko(&d.join("mods/other"), "ww.ko", &["name=ww", &vm]);
    sh(
        &format!(
            "cd mods/{K}/extra && xz --check=crc32 zz.ko && zstd -q --rm yy.ko
             cd {root} && (cd main && find . | sort | cpio -o -H newc --quiet | zstd -q) > initrd",
            root = d.display()
        ),
        d,
    );
    let zz = d.join(format!("mods/{K}/extra/zz.ko.xz"));
    let info = modinfo::read(&std::fs::read(&zz).unwrap()).unwrap();
    assert_eq!(info.depends, ["yy"]);
    let yy = d.join(format!("mods/{K}/extra/yy.ko.zst"));
    assert_eq!(
        modinfo::read(&std::fs::read(&yy).unwrap())
            .unwrap()
            .kernel_release(),
        Some(K)
    );
    assert!(matches!(
        modinfo::read(b"not an elf at all"),
        Err(modinfo::ModinfoError::NotElf(_))
    ));

    let found = drivers::scan(&d.join("mods"), K).unwrap();
    assert_eq!(found.keys().collect::<Vec<_>>(), ["yy", "zz"]);
    let orig = std::fs::read(d.join("initrd")).unwrap();
    let existing = Existing::from_listing(&listing(&orig), K);
    assert_eq!(existing.prefix, "lib/modules");
    assert_eq!(existing.conf_modules, None);
    let inj = drivers::build(&existing, K, &["zz".into()], &found, &drivers::load_host, 1).unwrap();
    assert_eq!(inj.modules, ["zz", "yy"]);
    let (wrapped, comp) = drivers::wrap(&inj.archive, "zstd");
    assert_eq!(comp, "zstd");
    let mut new = orig.clone();
    new.extend_from_slice(&wrapped);
    let after = listing(&new);
    let comps: Vec<_> = after.archives.iter().map(|a| a.compression).collect();
    assert_eq!(comps, ["zstd", "zstd"]);
    assert_eq!(after.modules(), ["old", "yy", "zz"]);
    assert_eq!(after.content("conf/modules").unwrap(), b"zz\n");

    // The real zstd reads the two frames as one stream; kmod resolves through our index,
    // compressed module names included.
    std::fs::write(d.join("initrd.new"), &new).unwrap();
    sh(
        "mkdir root && cd root && zstd -dq -c ../initrd.new | cpio -idmu --quiet
         zstd -dq -c ../initrd.new | cpio -t --quiet >/dev/null
         tail -c +$(( $(stat -c %s ../initrd) + 1 )) ../initrd.new | zstd -dq | cpio -idmu --quiet",
        d,
    );
    let r = d.join("root").display().to_string();
    let deps = sh(&format!("modprobe -d {r} -S {K} --show-depends zz"), d);
    assert_eq!(
        deps.lines().collect::<Vec<_>>(),
        [
            format!("insmod {r}/lib/modules/{K}/kernel/old.ko "),
            format!("insmod {r}/lib/modules/{K}/updates/guestfix/yy.ko.zst "),
            format!("insmod {r}/lib/modules/{K}/updates/guestfix/zz.ko.xz "),
        ]
    );
}

/// Our kmod index is byte for byte the one the real depmod writes for the same modules.dep
/// (names branching at the root, and names that all share a prefix).
#[test]
fn kmod_index_matches_depmod() {
    let many: &[&str] = &[
        "a",
        "ab",
        "abc",
        "b",
        "virtio",
        "virtio_blk",
        "virtio_net",
        "nvme",
        "nvme_core",
        "ena",
        "x-y",
    ];
    depmod_case(many);
    depmod_case(&["nvme", "nvme_core", "nvme_fabrics"]);
    depmod_case(&["ena"]);
}

fn depmod_case(names: &[&str]) {
    use guestfix::plan::kmod_index::Index;
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    let kdir = d.join(format!("lib/modules/{K}/kernel"));
    std::fs::create_dir_all(&kdir).unwrap();
    let vm = format!("vermagic={K} SMP mod_unload ");
    for (i, n) in names.iter().enumerate() {
        // Aliases like real drivers', with '-' to normalise (outside and inside brackets).
        let a1 = format!("alias=pci:v00001AF4d0000{i:04X}sv*sd*bc*sc*i*");
        let a2 = format!("alias=acpi*:PNP-{i}:*");
        let a3 = "alias=of:N*T*Cfoo[-_]bar-baz".to_string();
        make_ko(
            &kdir,
            &format!("{n}.ko"),
            &[&format!("name={n}"), &vm, &a1, &a2, &a3],
        );
    }
    sh(&format!("depmod -b . {K} 2>/dev/null"), d);
    let dir = d.join(format!("lib/modules/{K}"));
    let text = std::fs::read_to_string(dir.join("modules.dep")).unwrap();
    let mut idx = Index::new();
    for (i, line) in text.lines().enumerate() {
        let path = line.split(':').next().unwrap();
        let name = guestfix::guest::linux::initramfs::module_name(path).unwrap();
        idx.insert(&name, line, i as u32).unwrap();
    }
    let ours = idx.to_bytes().unwrap();
    let theirs = std::fs::read(dir.join("modules.dep.bin")).unwrap();
    assert_eq!(ours, theirs, "{names:?}");
    // modules.alias.bin from the text modules.alias, in modules.dep's module order.
    let order: Vec<String> = text
        .lines()
        .map(|l| {
            guestfix::guest::linux::initramfs::module_name(l.split(':').next().unwrap()).unwrap()
        })
        .collect();
    let aliases = std::fs::read_to_string(dir.join("modules.alias")).unwrap();
    assert!(aliases.contains("[-_]bar-baz"), "{aliases}");
    let ours = drivers::alias_index(&aliases, &order).unwrap();
    let theirs = std::fs::read(dir.join("modules.alias.bin")).unwrap();
    assert_eq!(ours, theirs, "aliases of {names:?}");
}

/// An initramfs whose modules.dep.bin (made by depmod) comes without the text modules.dep:
/// rebuilding the index would drop its modules, so the build is refused.
#[test]
fn index_without_text_modules_dep_is_refused() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    let vm = format!("vermagic={K} SMP mod_unload ");
    let kdir = d.join(format!("main/lib/modules/{K}/kernel"));
    std::fs::create_dir_all(&kdir).unwrap();
    std::fs::create_dir_all(d.join("mods")).unwrap();
    make_ko(&kdir, "old.ko", &["name=old", &vm]);
    make_ko(&d.join("mods"), "new.ko", &["name=new", &vm]);
    sh(
        &format!(
            "depmod -b main {K} 2>/dev/null && rm main/lib/modules/{K}/modules.dep
             (cd main && find . | sort | cpio -o -H newc --quiet | gzip) > initrd"
        ),
        d,
    );
    let l = listing(&std::fs::read(d.join("initrd")).unwrap());
    let existing = Existing::from_listing(&l, K);
    let found = drivers::scan(&d.join("mods"), K).unwrap();
    match drivers::build(
        &existing,
        K,
        &["new".into()],
        &found,
        &drivers::load_host,
        0,
    ) {
        Err(DriverError::NoModulesDep(p)) => {
            assert_eq!(p, format!("lib/modules/{K}/modules.dep"))
        }
        other => panic!("{other:?}"),
    }
}

/// Reader side: archives that follow a compressed member (with or without zero padding) are
/// listed too, as the kernel unpacks them; captured contents come from the last archive holding
/// the file; a plain archive at an unaligned offset is refused like the kernel does; junk after
/// the last archive is ignored.
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
