//! The rpm-based crafted images (issues #5, #6): the Fedora 42 layout (GPT, ESP at /boot/efi, ext4
//! /boot, Btrfs subvolumes `root` at / and `home` at /home with compress=zstd:1) and the real
//! rpmdb.sqlite databases of fedora42, rhel9 and amazonlinux2023 (made by rpmbuild + rpm --justdb,
//! scripts/images/rpmdb.sh). Oracles: `rpm -qa` on the database bytes, the package lists in the
//! images' image.json, btrfs-progs' own dump-tree. The tree walk of every partition against its
//! manifest is tests/fs_btrfs_images.rs and tests/fs_manifests.rs.
//!
//! Needs GUESTFIX_TEST_IMAGES (scripts/test.sh); skips loudly without it unless
//! GUESTFIX_REQUIRE_IMAGES is set.

use guestfix::guest::facts::OsFacts;
use guestfix::guest::inspect::{InspectOptions, inspect};
use serde_json::Value;
use std::path::Path;
use std::process::Command;

mod common;
use common::images_dir;

fn os_of(img: &Path) -> OsFacts {
    let i = inspect(&[img.to_path_buf()], &InspectOptions::default()).unwrap();
    let oses = i.inspection.operating_systems;
    assert_eq!(oses.len(), 1, "{}", img.display());
    oses.into_iter().next().unwrap()
}

/// A guest file's bytes through the `guestfix cat` command.
fn guest_cat(img: &Path, path: &str) -> Vec<u8> {
    let o = Command::new(env!("CARGO_BIN_EXE_guestfix"))
        .args(["cat", "--path", path])
        .arg(img)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    o.stdout
}

/// "name epoch version release arch" of the applications fact, sorted.
fn apps(os: &OsFacts) -> Vec<String> {
    let a = os
        .applications
        .known()
        .unwrap_or_else(|| panic!("applications unknown: {:?}", os.applications));
    let mut v: Vec<String> = a
        .iter()
        .map(|a| {
            format!(
                "{} {} {} {} {}",
                a.name, a.epoch, a.version, a.release, a.arch
            )
        })
        .collect();
    v.sort();
    v
}

/// `rpm -qa` over a copy of the guest's rpmdb.sqlite, read out of the image.
fn rpm_qa_of_guest_db(img: &Path, db_path: &str) -> Vec<String> {
    let t = tempfile::tempdir().unwrap();
    std::fs::write(t.path().join("rpmdb.sqlite"), guest_cat(img, db_path)).unwrap();
    common::rpm_qa("rpm", t.path(), "sqlite")
}

/// The package list the builder was given (test-images/trees/NAME/image.json), as rpm prints it.
fn image_json_packages(name: &str) -> Vec<String> {
    let spec: Value = serde_json::from_str(
        &std::fs::read_to_string(format!("test-images/trees/{name}/image.json")).unwrap(),
    )
    .unwrap();
    let mut v: Vec<String> = spec["rpmdb"]["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().replacen(" - ", " 0 ", 1))
        .collect();
    v.sort();
    v
}

#[test]
fn rpm_applications_equal_rpm_qa() {
    let Some(dir) = images_dir() else { return };
    for (name, db) in [
        ("fedora42", "/usr/lib/sysimage/rpm/rpmdb.sqlite"),
        ("rhel9", "/var/lib/rpm/rpmdb.sqlite"),
        ("amazonlinux2023", "/var/lib/rpm/rpmdb.sqlite"),
    ] {
        let img = dir.join(format!("{name}.raw"));
        let os = os_of(&img);
        let got = apps(&os);
        assert_eq!(got, rpm_qa_of_guest_db(&img, db), "{name}");
        assert_eq!(got, image_json_packages(name), "{name}");
    }
}

#[test]
fn fedora42_layout() {
    let Some(dir) = images_dir() else { return };
    let img = dir.join("fedora42.raw");
    let os = os_of(&img);
    assert_eq!(os.distro.known().map(String::as_str), Some("fedora"));
    assert_eq!(os.major_version.known(), Some(&42));
    assert_eq!(os.package_format.known().map(String::as_str), Some("rpm"));
    assert_eq!(os.root, "/dev/sda3:root");
    let mounts: Vec<(&str, &str, &str, &str)> = os
        .mountpoints
        .iter()
        .map(|m| {
            (
                m.mountpoint.as_str(),
                m.device.as_str(),
                m.fstype.as_str(),
                m.options.as_str(),
            )
        })
        .collect();
    assert_eq!(
        mounts,
        [
            ("/", "/dev/sda3", "btrfs", "subvol=root,compress=zstd:1"),
            ("/boot", "/dev/sda2", "ext4", "defaults"),
            (
                "/boot/efi",
                "/dev/sda1",
                "vfat",
                "umask=0077,shortname=winnt"
            ),
            ("/home", "/dev/sda3", "btrfs", "subvol=home,compress=zstd:1"),
        ]
    );
    assert!(os.unresolved_fstab.is_empty(), "{:?}", os.unresolved_fstab);
    // BLS entry on the ext4 /boot, default from grubenv's saved_entry.
    let bl = os.bootloader.known().unwrap();
    assert_eq!(bl.kind, "grub2-bls");
    assert_eq!(
        bl.default_kernel_version.as_deref(),
        Some("6.14.0-63.fc42.x86_64")
    );
    // The guest tree is the `root` subvolume's (the top level holds only the subvolumes, see
    // the dump-tree test below).
    let top = guest_ls(&img, "/");
    for d in ["boot", "etc", "home", "usr", "var"] {
        assert!(top.contains(&d.to_string()), "{d} in {top:?}");
    }
    let sysimage = guest_ls(&img, "/usr/lib/sysimage/rpm");
    assert!(
        sysimage.contains(&"rpmdb.sqlite".to_string()),
        "{sysimage:?}"
    );
    // A file that Btrfs stored zstd-compressed reads back byte for byte.
    assert_eq!(
        guest_cat(&img, "/usr/share/doc/guestfix/compressible.txt"),
        std::fs::read("test-images/trees/fedora42/root/usr/share/doc/guestfix/compressible.txt")
            .unwrap()
    );
}

fn guest_ls(img: &Path, path: &str) -> Vec<String> {
    let o = Command::new(env!("CARGO_BIN_EXE_guestfix"))
        .args(["ls", "--path", path])
        .arg(img)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

/// btrfs-progs' dump-tree of the `root` subvolume (tree 256) shows the zstd extents, regular
/// and inline: the image really exercises our decompression.
#[test]
fn fedora42_btrfs_holds_zstd_extents_and_two_subvolumes() {
    let Some(dir) = images_dir() else { return };
    let index: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("index.json")).unwrap()).unwrap();
    let img = index["images"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == "fedora42")
        .unwrap();
    let p = img["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["fs"] == "btrfs")
        .unwrap();
    let (start, size) = (p["start"].as_u64().unwrap(), p["size"].as_u64().unwrap());
    let raw = std::fs::read(dir.join("fedora42.raw")).unwrap();
    let t = tempfile::tempdir().unwrap();
    let part = t.path().join("root.btrfs");
    std::fs::write(&part, &raw[start as usize..(start + size) as usize]).unwrap();
    let dump = |args: &[&str]| {
        let o = Command::new("btrfs")
            .args(["inspect-internal", "dump-tree"])
            .args(args)
            .arg(&part)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).unwrap()
    };
    let roots = dump(&["-t", "1"]);
    // ROOT_REF items of the top level: "root ref key dirid 256 sequence N name root".
    assert!(roots.contains("sequence 2 name root"), "subvolume root");
    assert!(roots.contains("sequence 3 name home"), "subvolume home");
    // The top level (tree 5) holds the two subvolumes and no /etc: the OS root is found
    // inside subvolume `root` (tree 256).
    let top = dump(&["-t", "5"]);
    assert!(top.contains("name: root") && top.contains("name: home"));
    assert!(!top.contains("name: etc"));
    let fs = dump(&["-t", "256"]);
    assert!(fs.contains("name: etc") && fs.contains("name: rpmdb.sqlite"));
    assert!(
        fs.contains("extent compression 3 (zstd)"),
        "regular zstd extent"
    );
}
