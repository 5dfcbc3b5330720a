//! GRUB facts (LNX-7, OS-2 kernel): entries and THE default entry over grubby's grub.cfg and
//! menu.lst test files, boom's BLS entries + grubenv, and RHEL grub.cfg from leapp's tests.

use guestfix::guest::linux::files::MemFiles;
use guestfix::guest::linux::grub::{self, LoaderKind, grubenv::Grubenv};

const G: &str = "../shared/data/linux/grub/rhboot__grubby/test/";
const BLS: &str = "../shared/data/linux/grub/snapshotmanager__boom-boot/tests/loader/entries/";
const LEAPP: &str = "../shared/data/linux/misc/oamg__leapp-repository/repos/system_upgrade/";

fn read(p: &str) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("{p}: {e}"))
}

fn grub2(cfg: &str, env: Option<&str>) -> MemFiles {
    let mut m = MemFiles::new();
    m.insert("/boot/grub2/grub.cfg", read(&format!("{G}{cfg}")));
    if let Some(e) = env {
        m.insert(
            "/boot/grub2/grubenv",
            read(&format!("{G}grub2-support_files/{e}")),
        );
    }
    m
}

/// file, grubenv, entries, default (menu path) or Err, default kernel version
type Row = (
    &'static str,
    Option<&'static str>,
    usize,
    Result<&'static str, ()>,
    Option<&'static str>,
);
#[rustfmt::skip]
const TABLE: &[Row] = &[
    ("grub2.1", None, 2, Ok("0"), Some("2.6.38.8-32.fc15.x86_64")),
    ("grub2.2", None, 3, Ok("0"), None), // entry 0 is /new-kernel.img (no version in name)
    ("grub2.4", None, 4, Ok("0"), None),
    // submenu: "Fedora Linux" then "Advanced options for Fedora Linux" with 3 entries
    ("grub2.5", Some("grubenv.0"), 4, Ok("0"), Some("3.3.0-0.rc4.git1.4.fc17.x86_64")),
    // ${saved_entry} = "Linux, with Fedora 2.6.38.8-32.fc15.x86_64"
    ("grub2.7", Some("grubenv.1"), 2, Ok("0"), Some("2.6.38.8-32.fc15.x86_64")),
    ("grub2.8", Some("grubenv.1"), 3, Ok("1"), Some("2.6.38.8-32.fc15.x86_64")),
    ("grub2.19", Some("grubenv.1"), 3, Ok("2"), Some("2.6.38.8-32.fc15.x86_64")),
    // saved_entry=title names entry 0
    ("grub2.8", Some("grubenv.2"), 3, Ok("0"), None),
    // RHEL 7.2: saved_entry is the .debug title plus " with debugging", which no entry has
    ("grub2.18", Some("grubenv.3"), 3, Err(()), None),
    ("grub2.18", None, 3, Ok("0"), Some("3.10.0-327.22.2.el7.x86_64.debug")),
    // LNX-7: saved_entry names an entry this grub.cfg does not have
    ("grub2.16", Some("grubenv.1"), 3, Err(()), None),
    // no grubenv: ${saved_entry} is empty, GRUB boots entry 0
    ("grub2.20", None, 2, Ok("0"), Some("3.15.0-0.rc7.git2.1.fc21.x86_64")),
];

#[test]
fn grubby_grub2_table() {
    for (file, env, n, want, kver) in TABLE {
        let c = grub::inspect(&grub2(file, *env)).unwrap();
        assert_eq!(c.kind, LoaderKind::Grub2, "{file}");
        assert_eq!(c.entries.len(), *n, "{file}");
        match want {
            Ok(path) => {
                let d = c
                    .default_entry()
                    .unwrap_or_else(|| panic!("{file}/{env:?}: {:?}", c.default));
                assert_eq!(d.path(), *path, "{file}/{env:?}");
                assert_eq!(d.kernel_version.as_deref(), *kver, "{file}/{env:?}");
            }
            Err(()) => {
                assert!(c.default.is_err(), "{file}: {:?}", c.default);
                assert_eq!(c.booted_entry().unwrap().path(), "0");
            }
        }
    }
}

/// grubenv `next_entry` (issue 6): Fedora's grub.cfg boots it once before `${saved_entry}`.
/// It is reported apart from the default, which stays the persistent one.
#[test]
fn grub2_next_entry_is_the_one_time_boot() {
    let mut m = grub2("grub2.8", Some("grubenv.1"));
    let mut env = Grubenv::parse(&read(&format!("{G}grub2-support_files/grubenv.1"))).unwrap();
    env.set("next_entry", "Linux, with Linux 2.6.38.2-9.fc15.x86_64");
    m.insert("/boot/grub2/grubenv", env.to_bytes().unwrap());
    let c = grub::inspect(&m).unwrap();
    assert_eq!(
        c.default_entry().unwrap().path(),
        "1",
        "the default is saved_entry's"
    );
    let (raw, idx) = c.next_entry.clone().expect("next_entry reported");
    assert_eq!(raw, "Linux, with Linux 2.6.38.2-9.fc15.x86_64");
    assert_eq!(idx, Ok(2));
    // Empty or absent: nothing pending.
    env.set("next_entry", "");
    m.insert("/boot/grub2/grubenv", env.to_bytes().unwrap());
    assert!(grub::inspect(&m).unwrap().next_entry.is_none());
    assert!(
        grub::inspect(&grub2("grub2.8", Some("grubenv.1")))
            .unwrap()
            .next_entry
            .is_none()
    );
    // A grub.cfg without the next_entry block ignores the variable (GRUB does).
    let mut m = grub2("grub2.1", None);
    let mut env = Grubenv::default();
    env.set("next_entry", "x");
    m.insert("/boot/grub2/grubenv", env.to_bytes().unwrap());
    assert!(grub::inspect(&m).unwrap().next_entry.is_none());
}

#[test]
fn grub2_entry_details() {
    let c = grub::inspect(&grub2("grub2.16", None)).unwrap();
    let e = &c.entries[1];
    assert_eq!(
        e.title,
        "Red Hat Enterprise Linux Server (3.10.0-296.el7.x86_64) 7.2 (Maipo)"
    );
    assert_eq!(e.kernel.as_deref(), Some("/vmlinuz-3.10.0-296.el7.x86_64"));
    assert_eq!(e.initrd, vec!["/initramfs-3.10.0-296.el7.x86_64.img"]);
    // $tuned_params is set to "isolcpus=1,3" by the 00_tuned section of this grub.cfg
    assert_eq!(
        e.cmdline,
        "root=/dev/mapper/rhel_hp--dl380pgen8--02--vm--10-root ro crashkernel=auto rd.lvm.lv=rhel_hp-dl380pgen8-02-vm-10/root rd.lvm.lv=rhel_hp-dl380pgen8-02-vm-10/swap console=ttyS0,115200n81 isolcpus=1,3"
    );
    assert_eq!(c.timeout.as_deref(), Some("5"));
    // submenu paths and titles
    let c = grub::inspect(&grub2("grub2.5", None)).unwrap();
    let e = &c.entries[3];
    assert_eq!(e.path(), "1>2");
    assert_eq!(
        e.title_path(),
        "Advanced options for Fedora Linux>Fedora Linux, with Linux 3.2.7-1.fc16.x86_64"
    );
    assert_eq!(grub::resolve_default(&c.entries, "1>2"), Ok(3));
    assert_eq!(grub::resolve_default(&c.entries, &e.title_path()), Ok(3));
    assert!(grub::resolve_default(&c.entries, "7").is_err());
}

fn bls_tree() -> MemFiles {
    let mut m = MemFiles::new();
    for e in std::fs::read_dir(BLS).unwrap() {
        let e = e.unwrap();
        let n = e.file_name().to_string_lossy().to_string();
        if n.ends_with(".conf") {
            m.insert(
                &format!("/boot/loader/entries/{n}"),
                read(&e.path().to_string_lossy()),
            );
        }
    }
    m
}

#[test]
fn rhel8_blscfg_with_grubenv() {
    // RHEL 8 grub.cfg (leapp test data) uses blscfg; boom's entries; a grubenv naming one.
    let mut m = bls_tree();
    m.insert(
        "/boot/grub2/grub.cfg",
        read(&format!(
            "{LEAPP}el8toel9/actors/cloud/ensurevalidgrubcfghybrid/tests/files/valid_grub.cfg"
        )),
    );
    let mut env = Grubenv::default();
    env.set(
        "saved_entry",
        "611f38fd887d41dea7eb3403b2730a76-a16356e-4.16.11-100.fc26.x86_64",
    );
    env.set("kernelopts", "root=/dev/sda2 ro quiet");
    m.insert("/boot/grub2/grubenv", env.to_bytes().unwrap());
    let c = grub::inspect(&m).unwrap();
    assert_eq!(c.kind, LoaderKind::Grub2Bls);
    assert_eq!(c.entries.len(), 36); // every .conf in boom's entries directory
    // newest version first, as blscfg sorts
    assert_eq!(c.entries[0].kernel_version.as_deref(), Some("7.7.7"));
    let d = c.default_entry().unwrap();
    assert_eq!(d.title, "Clone test1");
    assert_eq!(
        d.kernel.as_deref(),
        Some("/vmlinuz-4.16.11-100.fc26.x86_64")
    );
    assert_eq!(d.initrd, vec!["/initramfs-4.16.11-100.fc26.x86_64.img"]);
    assert!(
        d.cmdline
            .starts_with("BOOT_IMAGE=/vmlinuz-4.16.11-100.fc26.x86_64 root=/dev/vg_hex/root ro")
    );
    assert_eq!(c.timeout.as_deref(), Some("10"));
    // without grubenv the default ${saved_entry} is empty → entry 0; $kernelopts would come
    // from the grub.cfg fallback
    let mut m2 = bls_tree();
    m2.insert(
        "/boot/grub2/grub.cfg",
        read(&format!(
            "{LEAPP}el8toel9/actors/cloud/ensurevalidgrubcfghybrid/tests/files/valid_grub.cfg"
        )),
    );
    let c2 = grub::inspect(&m2).unwrap();
    assert_eq!(c2.default, Ok(0));
    // LNX-7: a saved_entry naming a missing BLS id is not resolvable
    let mut env = Grubenv::default();
    env.set("saved_entry", "gone-5.14.0-1.el9.x86_64");
    m2.insert("/boot/grub2/grubenv", env.to_bytes().unwrap());
    assert!(grub::inspect(&m2).unwrap().default.is_err());
}

#[test]
fn bls_kernelopts_expansion() {
    let mut m = MemFiles::new();
    m.insert("/boot/grub2/grub.cfg", "set default=\"${saved_entry}\"\nset kernelopts=\"root=/dev/fallback ro \"\ninsmod blscfg\nblscfg\n");
    m.insert(
        "/boot/loader/entries/abc-4.18.0-80.el8.x86_64.conf",
        "title Red Hat Enterprise Linux (4.18.0-80.el8.x86_64) 8.0 (Ootpa)\nversion 4.18.0-80.el8.x86_64\nlinux /vmlinuz-4.18.0-80.el8.x86_64\ninitrd $tuned_initrd /initramfs-4.18.0-80.el8.x86_64.img\noptions $kernelopts $tuned_params\nid rhel-20190313123447-4.18.0-80.el8.x86_64\n",
    );
    let c = grub::inspect(&m).unwrap();
    assert_eq!(c.default_entry().unwrap().cmdline, "root=/dev/fallback ro");
    let mut env = Grubenv::default();
    env.set(
        "kernelopts",
        "root=/dev/mapper/rhel-root ro resume=/dev/mapper/rhel-swap",
    );
    m.insert("/boot/grub2/grubenv", env.to_bytes().unwrap());
    let c = grub::inspect(&m).unwrap();
    assert_eq!(
        c.default_entry().unwrap().cmdline,
        "root=/dev/mapper/rhel-root ro resume=/dev/mapper/rhel-swap"
    );
}

#[test]
fn grub_legacy() {
    let mut m = MemFiles::new();
    m.insert("/boot/grub/grub.conf", read(&format!("{G}grub.15")));
    let c = grub::inspect(&m).unwrap();
    assert_eq!(c.kind, LoaderKind::GrubLegacy);
    assert_eq!(c.timeout.as_deref(), Some("10"));
    let d = c.default_entry().unwrap();
    assert_eq!(c.default_setting.as_deref(), Some("1"));
    assert_eq!(d.title, "zonk");
    assert_eq!(d.kernel.as_deref(), Some("/boot/new-kernel.img"));
    let mut m = MemFiles::new();
    m.insert("/boot/grub/menu.lst", read(&format!("{G}grub.1")));
    let c = grub::inspect(&m).unwrap();
    let d = c.default_entry().unwrap();
    assert_eq!(d.title, "Red Hat Linux (2.4.7-2)");
    assert_eq!(d.kernel_version.as_deref(), Some("2.4.7-2"));
    assert_eq!(d.cmdline, "ro root=/dev/sda1");
    assert_eq!(d.initrd, vec!["/initrd-2.4.7-2.img"]);
}

#[test]
fn every_grubby_file_parses_balanced() {
    for e in std::fs::read_dir(G).unwrap() {
        let e = e.unwrap();
        let n = e.file_name().to_string_lossy().to_string();
        if n.starts_with("grub2.") {
            let t = String::from_utf8(read(&e.path().to_string_lossy())).unwrap();
            let c = grub::grub2::parse(&t, "/boot/grub2/grub.cfg");
            assert!(!c.unbalanced, "{n}");
            assert!(!c.entries.is_empty(), "{n}");
            assert!(c.entries.iter().all(|x| x.kernel.is_some()), "{n}");
        } else if n.starts_with("grub.") && e.file_type().unwrap().is_file() {
            let t = String::from_utf8_lossy(&read(&e.path().to_string_lossy())).to_string();
            let m = grub::legacy::parse(&t, "/boot/grub/grub.conf");
            assert!(!m.entries.is_empty(), "{n}");
        }
    }
}
