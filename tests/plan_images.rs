//! `plan` on every crafted Linux test image, as snapshots (insta): the exact diffs a distro
//! maintainer reviews (issue 7). Crafted images have fixed UUIDs and kernels, so their plans are
//! stable; the debootstrapped debian12-* images track Debian's current kernel and are covered by
//! tests/cli_e2e_images.rs and tests/cli_sample.rs instead. Each plan has one change per path.
//! Idempotency (plan after apply is empty) is checked on the written images, for the guests
//! apply can write (ext4, also on LVM; debian12-xfs and debian12-btrfs): tests/apply_images.rs.
//!
//! Needs GUESTFIX_TEST_IMAGES (scripts/test.sh); skips loudly without it unless
//! GUESTFIX_REQUIRE_IMAGES is set.

use guestfix::guest::inspect::{InspectOptions, inspect};
use guestfix::plan::planner::plans_for;
use guestfix::rules::RulesSource;

const CRAFTED: &[&str] = &[
    "ubuntu2204",
    "rhel9",
    "centos7",
    "centos6",
    "sles15",
    "amazonlinux2023",
    "fedora42",
    "arm64",
    "i386",
    "lvm",
    "dualboot",
];

mod common;
use common::images_dir;

#[test]
fn crafted_guest_plans() {
    let Some(dir) = images_dir() else { return };
    let profile = RulesSource::Embedded.load("ec2").unwrap();
    for name in CRAFTED {
        let img = dir.join(format!("{name}.raw"));
        assert!(img.exists(), "{} missing", img.display());
        let i = inspect(&[img], &InspectOptions::default()).unwrap();
        let plans = plans_for(&i, &profile).unwrap();
        assert!(!plans.is_empty(), "{name}: no guest");
        let mut text = String::new();
        for p in &plans {
            text.push_str(&p.render_text());
            // Every edit keeps its original and shows a diff; no two changes write one path.
            let mut paths: Vec<&str> = p.changes.iter().map(|c| c.change.path()).collect();
            let n = paths.len();
            paths.sort();
            paths.dedup();
            assert_eq!(paths.len(), n, "{name}: one change per path");
        }
        insta::assert_snapshot!(format!("plan_{name}"), text);
    }
}
