//! Installed packages: the dpkg status file (Debian, Ubuntu). Package databases we cannot read
//! are reported as unknown by the caller, never as an empty list.

use crate::guest::facts::Application;

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
