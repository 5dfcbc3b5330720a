//! `guestfix inspect --xml` follows virt-inspector's conventions where they differ from the
//! guest's own (found by scripts/compare-virt-inspector.sh, which runs the real virt-inspector):
//! Debian's product name is /etc/debian_version, dpkg versions split at the first hyphen, fstab
//! `/dev/…` entries for an absent disk and the swap area are listed. Checked on the real
//! debian12-bios image against what e2fsprogs' `debugfs` reads from the same ext4 root.
//!
//! GUESTFIX_TEST_IMAGES names the images folder (scripts/test.sh sets it). Without it the test
//! says so loudly and stops, unless GUESTFIX_REQUIRE_IMAGES=1, where that is a failure.

use guestfix::guest::inspect::{InspectOptions, inspect};
use guestfix::guest::report::to_xml;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

mod common;

fn image(name: &str) -> Option<PathBuf> {
    common::images_dir().map(|d| d.join(name))
}

/// A file of the ext4 root (partition 1 at 1 MiB) read by debugfs, not by guestfix.
fn debugfs_cat(img: &std::path::Path, path: &str) -> String {
    let o = Command::new("debugfs")
        .arg("-R")
        .arg(format!("cat {path}"))
        .arg(format!("{}?offset=1048576", img.display()))
        .output()
        .expect("debugfs (Debian package e2fsprogs) runs");
    assert!(o.status.success(), "debugfs failed: {:?}", o);
    String::from_utf8(o.stdout).unwrap()
}

// A tiny reader for the flat XML guestfix writes (one element per line), so this test needs no
// XML crate: `<tag attr="v">text</tag>` lines inside `<application>` blocks.
mod roxmltree_like {
    #[derive(Clone, Copy)]
    pub struct Node<'a> {
        pub lines: &'a [&'a str],
    }
    impl<'a> Node<'a> {
        pub fn child(&self, tag: &str) -> Option<&'a str> {
            let open = format!("<{tag}>");
            let close = format!("</{tag}>");
            self.lines.iter().find_map(|l| {
                let l = l.trim();
                l.strip_prefix(open.as_str())
                    .and_then(|r| r.strip_suffix(close.as_str()))
            })
        }
    }
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

#[test]
fn debian_xml_uses_virt_inspector_conventions() {
    let Some(img) = image("debian12-bios.raw") else {
        return;
    };
    let insp = inspect(std::slice::from_ref(&img), &InspectOptions::default()).unwrap();
    let xml = to_xml(&insp.inspection);
    let lines: Vec<&str> = xml.lines().collect();

    // Product name = /etc/debian_version, as virt-inspector reports it ("12.15").
    let debian_version = debugfs_cat(&img, "/etc/debian_version");
    let debian_version = debian_version.trim();
    assert!(debian_version.starts_with("12."), "{debian_version}");
    assert!(
        xml.contains(&format!("<product_name>{debian_version}</product_name>")),
        "{xml}"
    );

    // fstab: `/dev/sdb1 /srv/data` (a second disk, not in the image) is listed like
    // virt-inspector does; `/dev/sr0` (CD-ROM) and the cifs share are not.
    let fstab = debugfs_cat(&img, "/etc/fstab");
    assert!(fstab.lines().any(|l| l.starts_with("/dev/sdb1")));
    assert!(xml.contains("<mountpoint dev=\"/dev/sdb1\">/srv/data</mountpoint>"));
    assert!(xml.contains("<filesystem dev=\"/dev/sdb1\">"));
    assert!(!xml.contains("/dev/sr0") && !xml.contains("fileserver"));
    // The swap partition (p2) appears among the filesystems with its UUID from mkswap.
    let swap_at = xml
        .find("<filesystem dev=\"/dev/sda2\">")
        .expect("swap listed");
    let swap_el = &xml[swap_at..xml[swap_at..].find("</filesystem>").unwrap() + swap_at];
    assert!(swap_el.contains("<type>swap</type>"), "{swap_el}");
    assert!(swap_el.contains("<uuid>6d0d1b2a-5c1e-4f3e-9a61-d12b105a0002</uuid>"));

    // Applications: the dpkg status file read by debugfs, each Version split like virt-inspector
    // (epoch before ':', then version / release at the FIRST '-').
    let status = debugfs_cat(&img, "/var/lib/dpkg/status");
    let mut expected = BTreeSet::new();
    for para in status.split("\n\n") {
        let field = |k: &str| {
            para.lines()
                .find_map(|l| l.strip_prefix(k))
                .map(|v| v.trim().to_string())
        };
        let (Some(name), Some(ver), Some(st)) =
            (field("Package:"), field("Version:"), field("Status:"))
        else {
            continue;
        };
        if !st.ends_with(" installed") {
            continue;
        }
        let arch = field("Architecture:").unwrap_or_default();
        let (epoch, rest) = match ver.split_once(':') {
            Some((e, r)) => (e.to_string(), r.to_string()),
            None => ("0".to_string(), ver.clone()),
        };
        let (v, r) = match rest.split_once('-') {
            Some((v, r)) => (v.to_string(), r.to_string()),
            None => (rest.clone(), String::new()),
        };
        expected.insert((name, epoch, v, r, arch));
    }
    assert!(expected.len() > 100, "{}", expected.len());
    assert!(
        expected
            .iter()
            .any(|a| a.0 == "libedit2" && a.2 == "3.1" && a.3.contains('-')),
        "the image has a version with two hyphens to test"
    );

    let mut got = BTreeSet::new();
    let mut i = 0;
    while i < lines.len() {
        if lines[i].trim() == "<application>" {
            let end = (i..lines.len())
                .find(|&j| lines[j].trim() == "</application>")
                .unwrap();
            let node = roxmltree_like::Node {
                lines: &lines[i..end],
            };
            let t = |k| node.child(k).map(unescape).unwrap_or_default();
            let epoch = node.child("epoch").unwrap_or("0").to_string();
            got.insert((t("name"), epoch, t("version"), t("release"), t("arch")));
            i = end;
        }
        i += 1;
    }
    let missing: Vec<_> = expected.difference(&got).collect();
    let extra: Vec<_> = got.difference(&expected).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "missing {missing:?}\nextra {extra:?}"
    );
}
