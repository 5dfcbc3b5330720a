//! OS-2 distro detection over python-distro's ~65 real distribution trees and Debian 12's own
//! base-files. Expected `id` and `version` are what python-distro's own tests assert
//! (tests/test_distro.py: TestOverall / TestOSRelease); rows marked `file` are folders the
//! upstream test does not cover, whose values are read from their os-release by hand.

use guestfix::guest::linux::files::{GuestFiles, MemFiles};
use guestfix::guest::linux::osrelease::{PackageFormat, PackageManager, detect};
use std::path::Path;

const DISTROS: &str = "../shared/data/linux/os-release/python-distro/tests/resources/distros";

/// Load a sample root into memory. The data set stores symlinks as small files holding the
/// target; MANIFEST.tsv says which ones (`symlink -> target`), so they become real symlinks.
fn load_root(root: &str) -> MemFiles {
    let manifest = std::fs::read_to_string("../shared/data/MANIFEST.tsv").unwrap();
    let rel = root.trim_start_matches("../shared/data/");
    let mut links = std::collections::HashMap::new();
    for line in manifest.lines() {
        let cols: Vec<&str> = line.split('\t').collect();
        if cols.len() >= 7 {
            if let Some(t) = cols[6].strip_prefix("symlink -> ") {
                links.insert(cols[0].to_string(), t.to_string());
            }
        }
    }
    let mut m = MemFiles::new();
    for e in walkdir::WalkDir::new(root) {
        let e = e.unwrap();
        if !e.file_type().is_file() {
            continue;
        }
        let inner = e
            .path()
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .to_string();
        let key = format!("{rel}/{inner}");
        let gpath = format!("/{inner}");
        match links.get(&key) {
            Some(t) => m.symlink(&gpath, t),
            None => m.insert(&gpath, std::fs::read(e.path()).unwrap()),
        };
    }
    m
}

/// folder, python-distro id, python-distro version, libguestfs distro, major, minor, source
type Row = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    Option<u32>,
    Option<u32>,
    &'static str,
);
#[rustfmt::skip]
const TABLE: &[Row] = &[
    ("almalinux10", "almalinux", "10.0", "alma", Some(10), Some(0), "upstream"),
    ("alpine", "alpine", "3.23.2", "alpinelinux", Some(3), Some(23), "file"),
    ("altlinux10", "altlinux", "10.1", "altlinux", Some(10), Some(1), "upstream"),
    // python-distro returns nothing for Amazon 2014 (only /etc/system-release); we read it.
    ("amazon2014", "amzn", "2014.03", "amazonlinux", Some(2014), Some(3), "file"),
    ("amazon2016", "amzn", "2016.03", "amazonlinux", Some(2016), Some(3), "upstream"),
    ("amazon2023", "amzn", "2023", "amazonlinux", Some(2023), None, "file"),
    ("arch", "arch", "", "archlinux", None, None, "upstream"),
    ("armbian", "debian", "10", "debian", Some(10), None, "upstream"),
    ("bttcb1", "debian", "11", "debian", Some(11), None, "upstream"),
    ("buildroot", "buildroot", "2022.02", "buildroot", Some(2022), Some(2), "upstream"),
    ("centos5", "centos", "5.11", "centos", Some(5), Some(11), "upstream"),
    ("centos7", "centos", "7", "centos", Some(7), Some(1), "upstream"),
    ("centosstream10", "centos", "10", "centos", Some(10), None, "file"),
    ("centosstream8", "centos", "8", "centos", Some(8), None, "file"),
    ("centosstream9", "centos", "9", "centos", Some(9), None, "file"),
    ("cloudlinux5", "cloudlinux", "5.11", "cloudlinux", Some(5), Some(11), "upstream"),
    ("cloudlinux6", "cloudlinux", "6.8", "cloudlinux", Some(6), Some(8), "upstream"),
    ("cloudlinux7", "cloudlinux", "7.3", "redhat-based", Some(7), Some(3), "upstream"),
    ("coreos", "coreos", "899.15.0", "coreos", Some(899), Some(15), "upstream"),
    ("debian10", "debian", "10", "debian", Some(10), Some(11), "upstream"),
    ("debian13", "debian", "13", "debian", Some(13), Some(1), "upstream"),
    ("debian8", "debian", "8", "debian", Some(8), Some(2), "upstream"),
    ("debiantesting", "debian", "bookworm/sid", "debian", None, None, "upstream"),
    ("exherbo", "exherbo", "", "exherbo", None, None, "upstream"),
    ("fedora19", "fedora", "19", "fedora", Some(19), None, "upstream"),
    ("fedora23", "fedora", "23", "fedora", Some(23), None, "upstream"),
    ("fedora30", "fedora", "30", "fedora", Some(30), None, "upstream"),
    ("fedora42", "fedora", "42", "fedora", Some(42), None, "upstream"),
    ("gentoo", "gentoo", "2.2", "gentoo", Some(2), Some(2), "upstream"),
    ("guix", "guix", "", "guix", None, None, "upstream"),
    ("kali", "kali", "2017.1", "kalilinux", Some(2017), Some(1), "upstream"),
    ("kvmibm1", "kvmibm", "1.1.1", "redhat-based", Some(1), Some(1), "upstream"),
    ("linuxmint17", "ubuntu", "14.04", "ubuntu", Some(14), Some(4), "upstream"),
    ("mageia5", "mageia", "5", "mageia", Some(5), None, "upstream"),
    ("mandriva2011", "mandrivalinux", "2011.0", "mandriva", Some(2011), Some(0), "upstream"),
    ("manjaro1512", "manjaro", "15.12", "archlinux", Some(15), Some(12), "upstream"),
    ("openelec6", "openelec", "6.0", "openelec", Some(6), Some(0), "upstream"),
    ("opensuse15", "opensuse", "15.2", "opensuse", Some(15), Some(2), "upstream"),
    ("opensuse42", "opensuse", "42.1", "opensuse", Some(42), Some(1), "upstream"),
    ("oracle7", "oracle", "7.5", "oraclelinux", Some(7), Some(5), "upstream"),
    ("raspbian7", "raspbian", "7", "debian", Some(7), Some(1), "upstream"),
    ("raspbian8", "raspbian", "8", "debian", Some(8), Some(0), "upstream"),
    ("rhel10", "rhel", "10.0", "rhel", Some(10), Some(0), "file"),
    ("rhel5", "rhel", "5.11", "rhel", Some(5), Some(11), "upstream"),
    ("rhel6", "rhel", "6.5", "rhel", Some(6), Some(5), "upstream"),
    ("rhel7", "rhel", "7.0", "rhel", Some(7), Some(0), "upstream"),
    ("rhel9", "rhel", "9.6", "rhel", Some(9), Some(6), "file"),
    ("rocky", "rocky", "8.4", "rocky", Some(8), Some(4), "upstream"),
    ("rocky10", "rocky", "10.0", "rocky", Some(10), Some(0), "file"),
    ("rocky9", "rocky", "9.3", "rocky", Some(9), Some(3), "upstream"),
    ("scientific6", "rhel", "6.4", "scientificlinux", Some(6), Some(4), "upstream"),
    ("scientific7", "rhel", "7.2", "scientificlinux", Some(7), Some(2), "upstream"),
    ("slackware14", "slackware", "14.1", "slackware", Some(14), Some(1), "upstream"),
    ("sles12", "sles", "12.1", "sles", Some(12), Some(1), "upstream"),
    ("ubuntu14", "ubuntu", "14.04", "ubuntu", Some(14), Some(4), "upstream"),
    ("ubuntu16", "ubuntu", "16.04", "ubuntu", Some(16), Some(4), "upstream"),
    ("ubuntu24", "ubuntu", "24.04", "ubuntu", Some(24), Some(4), "upstream"),
    ("ubuntu2504", "ubuntu", "25.04", "ubuntu", Some(25), Some(4), "file"),
    ("ubuntu2510", "ubuntu", "25.10", "ubuntu", Some(25), Some(10), "file"),
    ("ubuntu2604", "ubuntu", "26.04", "ubuntu", Some(26), Some(4), "file"),
];

/// Folders that hold no Linux release file (BSDs and AIX are detected by uname upstream).
const NOT_LINUX: &[&str] = &[
    "aix72",
    "freebsd111",
    "midnightbsd12",
    "netbsd711",
    "openbsd62",
];

#[test]
fn every_python_distro_folder() {
    let mut seen = Vec::new();
    let mut failures = Vec::new();
    for (dir, id, version, distro, major, minor, _src) in TABLE {
        let files = load_root(&format!("{DISTROS}/{dir}"));
        seen.push(dir.to_string());
        match detect(&files) {
            None => failures.push(format!("{dir}: nothing detected")),
            Some(i) => {
                let got = (
                    i.id.as_str(),
                    i.version.as_str(),
                    i.distro.as_str(),
                    i.major,
                    i.minor,
                );
                let want = (*id, *version, *distro, *major, *minor);
                if got != want {
                    failures.push(format!("{dir}: got {got:?}, want {want:?} ({})", i.source));
                }
            }
        }
    }
    for dir in NOT_LINUX {
        seen.push(dir.to_string());
        let files = load_root(&format!("{DISTROS}/{dir}"));
        if let Some(i) = detect(&files) {
            failures.push(format!("{dir}: detected {i:?}, expected nothing"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // the table covers every folder of the data set
    let mut all: Vec<String> = std::fs::read_dir(DISTROS)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n != "__shared__")
        .collect();
    all.sort();
    seen.sort();
    assert_eq!(all, seen);
}

#[test]
fn packaging_and_names() {
    let d = |dir: &str| detect(&load_root(&format!("{DISTROS}/{dir}"))).unwrap();
    let r = d("rocky9");
    assert_eq!(r.product_name, "Rocky Linux 9.3 (Blue Onyx)");
    assert_eq!(
        (r.package_format, r.package_manager),
        (PackageFormat::Rpm, PackageManager::Dnf)
    );
    assert_eq!(r.codename, "Blue Onyx");
    let c = d("centos7");
    assert_eq!(c.best_version, "7.1.1503");
    assert_eq!(c.package_manager, PackageManager::Yum);
    let u = d("ubuntu14");
    assert_eq!(
        (u.package_format, u.package_manager),
        (PackageFormat::Deb, PackageManager::Apt)
    );
    assert_eq!(u.best_version, "14.04.3");
    assert_eq!(d("sles12").package_manager, PackageManager::Zypper);
    assert_eq!(d("arch").package_format, PackageFormat::Pacman);
    assert_eq!(d("alpine").package_manager, PackageManager::Apk);
    assert_eq!(d("amazon2023").package_manager, PackageManager::Dnf);
    assert_eq!(d("centos5").product_name, "CentOS release 5.11 (Final)");
}

#[test]
fn rocky9_os_release_is_a_symlink() {
    let f = load_root(&format!("{DISTROS}/rocky9"));
    assert_eq!(
        f.is_symlink("/etc/os-release").as_deref(),
        Some("../usr/lib/os-release")
    );
    assert!(
        f.read_string("/etc/os-release")
            .unwrap()
            .contains("ID=\"rocky\"")
    );
}

#[test]
fn debian12_base_files() {
    let root = "../shared/data/linux/os-release/debian-pkg__base-files_12.4+deb12u15";
    assert!(Path::new(root).exists());
    let i = detect(&load_root(root)).unwrap();
    assert_eq!(i.id, "debian");
    assert_eq!(i.distro, "debian");
    assert_eq!(i.version, "12");
    assert_eq!(i.codename, "bookworm");
    assert_eq!(i.product_name, "Debian GNU/Linux 12 (bookworm)");
    let dv = std::fs::read_to_string(format!("{root}/etc/debian_version")).unwrap();
    assert_eq!(i.best_version, dv.trim());
    assert_eq!(i.major, Some(12));
}
