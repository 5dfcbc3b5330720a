//! MOD-L3 fstab/crypttab editing over real fstab files (util-linux libmount fixtures, RHEL
//! fstab from leapp's tests): insta snapshots of the diffs, idempotency, validity.

use guestfix::guest::linux::fstab;
use guestfix::plan::diff::unified;
use guestfix::plan::edit::fstab::{
    DEFAULT_DISABLED_TYPES, SpecResolution, edit_crypttab, edit_fstab,
};

const UL: &str = "../shared/data/linux/fstab/util-linux/tests/ts/libmount/files/";
const LEAPP: &str = "../shared/data/linux/misc/oamg__leapp-repository/repos/system_upgrade/common/actors/storagescanner/tests/files/";

/// What "the image" holds in these tests: sdc1 has a btrfs with a known UUID; the LVM names
/// and the UUIDs in the files are stable; everything else (/dev/foo, /dev/sdc2) is absent.
fn image(spec: &str) -> SpecResolution {
    match spec {
        "/dev/sdc1" => SpecResolution::Uuid("3c4a2a5e-5a3f-4b0e-9d4b-7e0f2b1c9a10".into()),
        s if s.starts_with("/dev/mapper/") => SpecResolution::AlreadyStable,
        s if s.starts_with("UUID=") => SpecResolution::AlreadyStable,
        _ => SpecResolution::NotInImage,
    }
}

fn read(p: &str) -> String {
    std::fs::read_to_string(p).unwrap()
}

/// Every non-comment line of an edited fstab is a valid entry, comments and blank lines are
/// unchanged, and the number of lines is unchanged.
fn assert_valid(old: &str, new: &str) {
    assert_eq!(old.lines().count(), new.lines().count());
    for (o, n) in old.lines().zip(new.lines()) {
        let t = n.trim();
        if t.is_empty() || t.starts_with('#') {
            if !n.starts_with("# guestfix: disabled") {
                assert_eq!(o, n, "comment/blank line changed");
            }
            continue;
        }
        fstab::parse_entry(t).unwrap_or_else(|e| panic!("invalid line left: {n:?}: {e}"));
    }
}

fn run(name: &str, path: &str) {
    let old = read(path);
    let e = edit_fstab(&old, &image, DEFAULT_DISABLED_TYPES);
    assert_valid(&old, &e.text);
    // idempotent
    let again = edit_fstab(&e.text, &image, DEFAULT_DISABLED_TYPES);
    assert_eq!(again.text, e.text, "{name}: second run changed the text");
    assert!(
        again.notes.is_empty(),
        "{name}: second run had notes {:?}",
        again.notes
    );
    let notes: Vec<String> = e
        .notes
        .iter()
        .map(|n| format!("line {}: {}", n.line, n.message))
        .collect();
    insta::assert_snapshot!(
        name,
        format!(
            "{}\n{}",
            unified("/etc/fstab", &old, &e.text),
            notes.join("\n")
        )
    );
}

#[test]
fn util_linux_fstab() {
    run("fstab_util_linux", &format!("{UL}fstab"));
    let old = read(&format!("{UL}fstab"));
    let new = edit_fstab(&old, &image, DEFAULT_DISABLED_TYPES).text;
    // cifs disabled, nfs kept (not in the default list), /dev/foo got nofail
    assert!(new.contains("# guestfix: disabled (non-standard type cifs): //bar.com/gogogo"));
    assert!(new.contains("foo.com:/mnt/share\t/mnt/remote\t\tnfs\tnoauto\n"));
    assert!(new.contains("/dev/foo\t\t/any/foo/\t\tauto\tdefaults,nofail 0 0\n"));
    // with nfs as a parameter it is disabled too
    let mut types = DEFAULT_DISABLED_TYPES.to_vec();
    types.push("nfs");
    let with_nfs = edit_fstab(&old, &image, &types).text;
    assert!(with_nfs.contains("# guestfix: disabled (non-standard type nfs): foo.com:/mnt/share"));
}

#[test]
fn util_linux_fstab_broken() {
    run("fstab_util_linux_broken", &format!("{UL}fstab.broken"));
}

#[test]
fn util_linux_fstab_comment() {
    run("fstab_util_linux_comment", &format!("{UL}fstab.comment"));
}

#[test]
fn util_linux_fstab_btrfs() {
    run("fstab_util_linux_btrfs", &format!("{UL}fstab_btrfs"));
    let new = edit_fstab(
        &read(&format!("{UL}fstab_btrfs")),
        &image,
        DEFAULT_DISABLED_TYPES,
    )
    .text;
    assert_eq!(
        new.matches("UUID=3c4a2a5e-5a3f-4b0e-9d4b-7e0f2b1c9a10 ")
            .count(),
        4
    );
    // the root entry (/dev/sdc2, not in this image) never gets nofail (issue 23)
    assert_eq!(new.matches(",nofail 0 0").count(), 5);
    assert!(new.contains("\n/dev/sdc2 / btrfs compress=zstd,subvol=root 0 0\n"));
}

#[test]
fn leapp_rhel_fstab() {
    run("fstab_leapp_rhel", &format!("{LEAPP}fstab"));
    // nothing to do on an already-stable RHEL fstab
    let old = read(&format!("{LEAPP}fstab"));
    assert_eq!(edit_fstab(&old, &image, DEFAULT_DISABLED_TYPES).text, old);
}

#[test]
fn leapp_invalid_fstab() {
    run("fstab_leapp_invalid", &format!("{LEAPP}invalid_fstab"));
}

#[test]
fn crypttab_edit() {
    // crypttab(5) examples
    let old = "# <name> <device> <password> <options>\nluks-home /dev/sdc1 none luks,discard\nswap\t/dev/sdb2\t/dev/urandom\tswap,cipher=aes-xts-plain64,size=256\nluks-ok UUID=0a5215ef-1fb4-4b1b-8860-be4baa9e624c\n";
    let e = edit_crypttab(old, &image);
    assert_eq!(
        e.text,
        "# <name> <device> <password> <options>\nluks-home UUID=3c4a2a5e-5a3f-4b0e-9d4b-7e0f2b1c9a10 none luks,discard\nswap\t/dev/sdb2\t/dev/urandom\tswap,cipher=aes-xts-plain64,size=256,nofail\nluks-ok UUID=0a5215ef-1fb4-4b1b-8860-be4baa9e624c\n"
    );
    assert_eq!(edit_crypttab(&e.text, &image).text, e.text);
}
