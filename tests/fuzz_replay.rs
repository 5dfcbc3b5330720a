//! Every saved fuzz finding replayed by a normal `cargo test` (issue 27), so a fixed finding
//! stays fixed: the files in `../shared/fuzz-findings/` (named `TARGET-what-broke`) and in
//! `fuzz/regressions/TARGET/` (crash artifacts kept in this repo) go through the same body the
//! cargo-fuzz target runs (`fuzz/bodies/TARGET.rs`). A body panics on a finding that is back.

#![allow(dead_code)]

#[path = "../fuzz/bodies/block_extents.rs"]
mod block_extents;
#[path = "../fuzz/bodies/block_ova.rs"]
mod block_ova;
#[path = "../fuzz/bodies/block_qcow2.rs"]
mod block_qcow2;
#[path = "../fuzz/bodies/block_vhd.rs"]
mod block_vhd;
#[path = "../fuzz/bodies/block_vhdx.rs"]
mod block_vhdx;
#[path = "../fuzz/bodies/block_vmdk.rs"]
mod block_vmdk;
#[path = "../fuzz/bodies/btrfs_write.rs"]
mod btrfs_write;
#[path = "../fuzz/bodies/ext4w.rs"]
mod ext4w;
#[path = "../fuzz/bodies/fs_btrfs.rs"]
mod fs_btrfs;
#[path = "../fuzz/bodies/fs_path.rs"]
mod fs_path;
#[path = "../fuzz/bodies/fs_xfs.rs"]
mod fs_xfs;
#[path = "../fuzz/bodies/hive.rs"]
mod hive;
#[path = "../fuzz/bodies/hive_write.rs"]
mod hive_write;
#[path = "../fuzz/bodies/inf.rs"]
mod inf;
#[path = "../fuzz/bodies/initramfs_modinfo.rs"]
mod initramfs_modinfo;
#[path = "../fuzz/bodies/linuxcfg_editors.rs"]
mod linuxcfg_editors;
#[path = "../fuzz/bodies/linuxcfg_parsers.rs"]
mod linuxcfg_parsers;
#[path = "../fuzz/bodies/ntfs_write.rs"]
mod ntfs_write;
#[path = "../fuzz/bodies/rpmdb.rs"]
mod rpmdb;
#[path = "../fuzz/bodies/rpmdb_bdb.rs"]
mod rpmdb_bdb;
#[path = "../fuzz/bodies/rpmdb_ndb.rs"]
mod rpmdb_ndb;
#[path = "../fuzz/bodies/volume_lvm.rs"]
mod volume_lvm;
#[path = "../fuzz/bodies/volume_mbr_gpt.rs"]
mod volume_mbr_gpt;
#[path = "../fuzz/bodies/windows_facts.rs"]
mod windows_facts;
#[path = "../fuzz/bodies/windows_sam.rs"]
mod windows_sam;
#[path = "../fuzz/bodies/xfs_write.rs"]
mod xfs_write;

/// A fuzz target's body.
type Body = fn(&[u8]);

/// Every fuzz target's body, by target name.
const TARGETS: &[(&str, Body)] = &[
    ("block_extents", block_extents::run as Body),
    ("block_ova", block_ova::run as Body),
    ("block_qcow2", block_qcow2::run as Body),
    ("block_vhd", block_vhd::run as Body),
    ("block_vhdx", block_vhdx::run as Body),
    ("block_vmdk", block_vmdk::run as Body),
    ("btrfs_write", btrfs_write::run as Body),
    ("ext4w", ext4w::run as Body),
    ("fs_btrfs", fs_btrfs::run as Body),
    ("fs_path", fs_path::run as Body),
    ("fs_xfs", fs_xfs::run as Body),
    ("hive", hive::run as Body),
    ("hive_write", hive_write::run as Body),
    ("inf", inf::run as Body),
    ("initramfs_modinfo", initramfs_modinfo::run as Body),
    ("linuxcfg_editors", linuxcfg_editors::run as Body),
    ("linuxcfg_parsers", linuxcfg_parsers::run as Body),
    ("ntfs_write", ntfs_write::run as Body),
    ("rpmdb", rpmdb::run as Body),
    ("rpmdb_bdb", rpmdb_bdb::run as Body),
    ("rpmdb_ndb", rpmdb_ndb::run as Body),
    ("volume_lvm", volume_lvm::run as Body),
    ("volume_mbr_gpt", volume_mbr_gpt::run as Body),
    ("windows_facts", windows_facts::run as Body),
    ("windows_sam", windows_sam::run as Body),
    ("xfs_write", xfs_write::run as Body),
];

/// The target a finding belongs to: the longest target name its file name starts with,
/// followed by `-`.
fn target_of(file: &str) -> Option<(&'static str, Body)> {
    TARGETS
        .iter()
        .filter(|(t, _)| file.strip_prefix(t).is_some_and(|r| r.starts_with('-')))
        .max_by_key(|(t, _)| t.len())
        .copied()
}

/// (target, file) of every saved finding.
fn findings() -> Vec<(&'static str, Body, std::path::PathBuf)> {
    let mut out = Vec::new();
    let shared = std::path::Path::new("../shared/fuzz-findings");
    let rd = std::fs::read_dir(shared).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (the tests need shared/ beside the checkout)",
            shared.display()
        )
    });
    for e in rd {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if name.ends_with(".md") {
            continue;
        }
        let (t, run) = target_of(&name)
            .unwrap_or_else(|| panic!("{name}: names no fuzz target (TARGET-what-broke)"));
        out.push((t, run, p));
    }
    for (t, run) in TARGETS {
        let dir = std::path::Path::new("fuzz/regressions").join(t);
        if let Ok(rd) = std::fs::read_dir(&dir) {
            for e in rd {
                out.push((*t, *run, e.unwrap().path()));
            }
        }
    }
    out.sort_by(|a, b| a.2.cmp(&b.2));
    out
}

#[test]
fn every_finding_replays_clean() {
    let all = findings();
    assert!(
        all.iter().any(|(t, _, _)| *t == "linuxcfg_editors"),
        "the issue-27 finding is in ../shared/fuzz-findings"
    );
    for (t, run, p) in &all {
        let data = std::fs::read(p).unwrap();
        eprintln!("replay {t} {} ({} bytes)", p.display(), data.len());
        run(&data);
    }
}

#[test]
fn every_body_runs_on_trivial_input() {
    for (t, run) in TARGETS {
        eprintln!("{t}");
        run(&[]);
        run(&[0u8; 64]);
        run(b"# guestfix\n/dev/sda1 / ext4 defaults 0 1\n");
    }
}

#[test]
fn finding_names_map_to_targets() {
    assert_eq!(
        target_of("linuxcfg_editors-fstab-not-settled").map(|t| t.0),
        Some("linuxcfg_editors")
    );
    assert_eq!(target_of("block_vhdx-x").map(|t| t.0), Some("block_vhdx"));
    assert_eq!(target_of("nothing-here"), None);
}

/// The INF body on every crafted INF of the test driver folder and on each of its prefixes
/// (every way a file can be cut short).
#[test]
fn inf_body_on_the_driver_folder_and_its_truncations() {
    let mut n = 0;
    for e in walkdir::WalkDir::new("tests/data/windows-drivers") {
        let p = e.unwrap().into_path();
        if p.extension().is_some_and(|x| x == "inf") {
            let data = std::fs::read(&p).unwrap();
            for cut in (0..=data.len()).step_by(7) {
                inf::run(&data[..cut]);
            }
            inf::run(&data);
            n += 1;
        }
    }
    assert!(n >= 6, "{n} INF files");
}
