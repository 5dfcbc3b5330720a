//! Installed packages: the dpkg status file (Debian, Ubuntu) and the rpm database
//! ([`super::rpmdb`]) in each of its forms: `rpmdb.sqlite` when present, else rpm's ndb
//! `Packages.db`, else the Berkeley DB `Packages`. A database that cannot be read is reported
//! as unknown with the reason, never as an empty list.

use super::files::GuestFiles;
use super::rpmdb;
use crate::formats::sqlite::PageSource;
use crate::guest::facts::{Application, Fact};

/// Where rpm keeps its database: `/usr/lib/sysimage/rpm` (Fedora ≥ 36, RHEL 9, SUSE; there
/// `/var/lib/rpm` is usually a symlink to it) and the classic `/var/lib/rpm`.
pub const RPMDB_DIRS: [&str; 2] = ["/usr/lib/sysimage/rpm", "/var/lib/rpm"];

/// Largest `rpmdb.sqlite-wal` read into memory (what `GuestFiles::read_large` returns).
pub const MAX_WAL: usize = 64 << 20;

/// The installed applications of a guest. `open` gives random access to a (large) guest file,
/// so that the rpm database is read page by page instead of whole.
pub fn applications<'a>(
    files: &dyn GuestFiles,
    open: &dyn Fn(&str) -> Option<Box<dyn PageSource + 'a>>,
) -> Fact<Vec<Application>> {
    if let Some(t) = files.read_string("/var/lib/dpkg/status") {
        return Fact::Known(parse_dpkg_status(&t));
    }
    for dir in RPMDB_DIRS {
        let path = format!("{dir}/rpmdb.sqlite");
        if let Some(db) = open(&path) {
            return rpm_sqlite(files, &path, db.as_ref());
        }
    }
    for dir in RPMDB_DIRS {
        for (name, kind) in [("Packages.db", RpmForm::Ndb), ("Packages", RpmForm::Bdb)] {
            let path = format!("{dir}/{name}");
            if let Some(db) = open(&path) {
                let got = match kind {
                    RpmForm::Ndb => rpmdb::read_applications_ndb(db.as_ref()),
                    RpmForm::Bdb => rpmdb::read_applications_bdb(db.as_ref()),
                };
                return match got {
                    Ok(apps) => Fact::Known(apps),
                    Err(e) => Fact::unknown(format!("rpm {} database {path}: {e}", kind.name())),
                };
            }
            if files.exists(&path) {
                return Fact::unknown(format!(
                    "rpm {} database {path} is not a readable regular file",
                    kind.name()
                ));
            }
        }
    }
    Fact::unknown("no package database found")
}

/// The rpm database forms besides sqlite.
#[derive(Clone, Copy)]
enum RpmForm {
    Ndb,
    Bdb,
}

impl RpmForm {
    fn name(self) -> &'static str {
        match self {
            RpmForm::Ndb => "ndb",
            RpmForm::Bdb => "Berkeley DB",
        }
    }
}

/// Read `rpmdb.sqlite` at `path`, applying the committed frames of its WAL when present.
fn rpm_sqlite(files: &dyn GuestFiles, path: &str, db: &dyn PageSource) -> Fact<Vec<Application>> {
    let wal_path = format!("{path}-wal");
    let wal = files.read_large(&wal_path);
    if wal.is_none() && files.exists(&wal_path) {
        return Fact::unknown(format!(
            "rpm sqlite database {path}: its write-ahead log {wal_path} is unreadable or larger than {MAX_WAL} bytes"
        ));
    }
    match rpmdb::read_applications(db, wal.as_deref()) {
        Ok(apps) => Fact::Known(apps),
        Err(e) => Fact::unknown(format!("rpm sqlite database {path}: {e}")),
    }
}

/// Parse `/var/lib/dpkg/status`: every package whose Status is "install ok installed".
pub fn parse_dpkg_status(text: &str) -> Vec<Application> {
    let mut apps = Vec::new();
    for para in text.split("\n\n") {
        let mut name = None;
        let mut version = None;
        let mut arch = String::new();
        let mut installed = false;
        for line in para.lines() {
            if line.starts_with(' ') || line.starts_with('\t') {
                continue;
            }
            let Some((k, v)) = line.split_once(':') else {
                continue;
            };
            let v = v.trim();
            match k {
                "Package" => name = Some(v.to_string()),
                "Version" => version = Some(v.to_string()),
                "Architecture" => arch = v.to_string(),
                // dpkg writes "want flag state" ("install ok installed", "hold ok installed",
                // "deinstall ok config-files"); the state word "installed" is what counts.
                "Status" => installed = v.split_whitespace().any(|w| w == "installed"),
                _ => {}
            }
        }
        if let (Some(name), Some(v), true) = (name, version, installed) {
            let (epoch, rest) = match v.split_once(':') {
                Some((e, r)) if e.chars().all(|c| c.is_ascii_digit()) => {
                    (e.parse().unwrap_or(0), r.to_string())
                }
                _ => (0, v.clone()),
            };
            let (version, release) = match rest.rsplit_once('-') {
                Some((a, b)) => (a.to_string(), b.to_string()),
                None => (rest, String::new()),
            };
            apps.push(Application {
                name,
                version,
                release,
                epoch,
                arch,
            });
        }
    }
    apps.sort_by(|a, b| a.name.cmp(&b.name).then(a.arch.cmp(&b.arch)));
    apps
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libguestfs_phony_dpkg_status() {
        let t = std::fs::read_to_string(
            "../shared/data/libguestfs/test-data/phony-guests/debian-packages",
        )
        .unwrap();
        let apps = parse_dpkg_status(&t);
        assert!(!apps.is_empty());
        let paras = t.split("\n\n").filter(|p| p.contains("Package:")).count();
        assert_eq!(apps.len(), paras, "every phony package is marked installed");
        assert_eq!(apps[0].name, "test1");
        assert_eq!(
            (apps[0].version.as_str(), apps[0].release.as_str()),
            ("1.2.3", "1")
        );
        for a in &apps {
            assert!(!a.name.is_empty() && !a.version.is_empty(), "{a:?}");
        }
    }

    #[test]
    fn epochs_and_releases() {
        let t = "Package: a\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1:2.3-4+deb12u1\n\nPackage: b\nStatus: deinstall ok config-files\nVersion: 1\n\nPackage: c\nStatus: install ok installed\nVersion: 7.0\nDescription: x\n multi: line\n";
        let a = parse_dpkg_status(t);
        assert_eq!(a.len(), 2);
        assert_eq!(
            a[0],
            Application {
                name: "a".into(),
                version: "2.3".into(),
                release: "4+deb12u1".into(),
                epoch: 1,
                arch: "amd64".into()
            }
        );
        assert_eq!(a[1].version, "7.0");
        assert_eq!(a[1].release, "");
    }
}
