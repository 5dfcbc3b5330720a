//! Linux distribution detection (OS-2): id, product name, version, package format and
//! manager, from `/etc/os-release` (or `/usr/lib/os-release`) first, then
//! `/etc/lsb-release`, the distro release files (`redhat-release`, `centos-release`,
//! `SuSE-release`, `system-release` …) and `/etc/debian_version`; plus the hostname.
//!
//! Two names are reported: `id`, the distribution's own identifier with the normalisation
//! python-distro applies (`ol` → `oracle`, `opensuse-leap` → `opensuse`, `redhat` → `rhel`), and
//! `distro`, the libguestfs/virt-inspector name (`rhel`, `oraclelinux`, `amazonlinux` …)
//! that the import requirements are checked against.

use super::files::GuestFiles;
use super::shellvars;
use regex::Regex;
use std::sync::OnceLock;

/// Package format of a distribution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PackageFormat {
    /// Debian packages (`.deb`).
    Deb,
    /// RPM packages.
    Rpm,
    /// Arch Linux packages.
    Pacman,
    /// Alpine packages.
    Apk,
    /// Gentoo ebuilds.
    Ebuild,
    /// pkgsrc packages.
    Pkgsrc,
    /// Not known for this distribution.
    Unknown,
}

/// Package manager of a distribution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PackageManager {
    /// apt (Debian, Ubuntu).
    Apt,
    /// yum (RHEL/CentOS 7 and older).
    Yum,
    /// dnf (Fedora, RHEL 8 and newer).
    Dnf,
    /// zypper (SUSE).
    Zypper,
    /// urpmi (Mageia).
    Urpmi,
    /// pacman (Arch).
    Pacman,
    /// apk (Alpine).
    Apk,
    /// portage (Gentoo).
    Portage,
    /// Not known for this distribution.
    Unknown,
}

/// Which file the identity came from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct OsInfo {
    /// Normalised distribution id (python-distro's `id()`), e.g. `rhel`, `ubuntu`, `amzn`.
    pub id: String,
    /// libguestfs/virt-inspector distro name, e.g. `rhel`, `oraclelinux`, `amazonlinux`.
    pub distro: String,
    /// Human product name, e.g. `Rocky Linux 9.3 (Blue Onyx)`.
    pub product_name: String,
    /// The version as the distribution states it (os-release `VERSION_ID`, else lsb-release,
    /// else the release file), e.g. `7`, `14.04`, `bookworm/sid`; empty when none.
    pub version: String,
    /// The most precise version known (release file / debian_version / VERSION), e.g.
    /// `7.1.1503` for CentOS 7, `14.04.3` for Ubuntu 14.04.3.
    pub best_version: String,
    /// The major version number.
    pub major: Option<u32>,
    /// The minor version number.
    pub minor: Option<u32>,
    /// os-release `ID_LIKE` words.
    pub like: Vec<String>,
    /// The release codename (`bookworm`), empty when none.
    pub codename: String,
    /// The package format.
    pub package_format: PackageFormat,
    /// The package manager.
    pub package_manager: PackageManager,
    /// The file the id came from.
    pub source: String,
}

fn release_re() -> Option<&'static Regex> {
    static RE: OnceLock<Option<Regex>> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(
            r"^(?P<name>.*?)\s*(?:release\s+)?(?P<ver>\d+(?:\.\d+)*)(?:[^(]*\((?P<code>[^)]*)\))?",
        )
        .ok()
    })
    .as_ref()
}

/// Parsed first line of a `*-release` file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseLine {
    /// The product name before the version (`CentOS Linux`).
    pub name: String,
    /// The version (`7.1.1503`).
    pub version: String,
    /// The parenthesised codename (`Core`), empty when none.
    pub codename: String,
}

/// Parse `CentOS Linux release 7.1.1503 (Core)`-style text.
pub fn parse_release_line(text: &str) -> Option<ReleaseLine> {
    let line = text.lines().find(|l| !l.trim().is_empty())?.trim();
    let c = release_re()?.captures(line)?;
    Some(ReleaseLine {
        name: c
            .name("name")
            .map(|m| m.as_str().trim().to_string())
            .unwrap_or_default(),
        version: c
            .name("ver")
            .map(|m| m.as_str().to_string())
            .unwrap_or_default(),
        codename: c
            .name("code")
            .map(|m| m.as_str().trim().to_string())
            .unwrap_or_default(),
    })
}

fn normalize_os_id(id: &str) -> String {
    match id {
        "ol" => "oracle".into(),
        "opensuse-leap" => "opensuse".into(),
        other => other.to_string(),
    }
}

fn normalize_lsb_id(id: &str) -> String {
    let s: String = id
        .to_lowercase()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    match s.as_str() {
        "enterpriseenterpriseas" | "enterpriseenterpriseserver" => "oracle".into(),
        "redhatenterpriseworkstation"
        | "redhatenterpriseserver"
        | "redhatenterprisecomputenode" => "rhel".into(),
        _ => s,
    }
}

/// Release files, in the order they are preferred (`*-release` base name → id).
const RELEASE_FILES: &[(&str, &str)] = &[
    ("/etc/almalinux-release", "almalinux"),
    ("/etc/rocky-release", "rocky"),
    ("/etc/centos-release", "centos"),
    ("/etc/oracle-release", "oracle"),
    ("/etc/cloudlinux-release", "cloudlinux"),
    ("/etc/fedora-release", "fedora"),
    ("/etc/redhat-release", "rhel"),
    ("/etc/SuSE-release", "suse"),
    ("/etc/altlinux-release", "altlinux"),
    ("/etc/mageia-release", "mageia"),
    ("/etc/mandriva-release", "mandriva"),
    ("/etc/gentoo-release", "gentoo"),
    ("/etc/slackware-version", "slackware"),
    ("/etc/alpine-release", "alpine"),
    ("/etc/system-release", "system"),
];

fn split_version(v: &str) -> (Option<u32>, Option<u32>) {
    let mut it = v.split(['.', '-']);
    let major = it.next().and_then(|s| s.parse().ok());
    let minor = if major.is_some() {
        it.next().and_then(|s| s.parse().ok())
    } else {
        None
    };
    (major, minor)
}

/// The libguestfs-style distro name for an id (with the product name and ID_LIKE as hints).
pub fn distro_name(id: &str, name: &str, like: &[String]) -> String {
    let n = name.to_lowercase();
    let s = match id {
        "rhel" | "redhat" if n.contains("scientific") => "scientificlinux",
        "rhel" | "redhat" => "rhel",
        "scientific" => "scientificlinux",
        "centos" => "centos",
        "fedora" => "fedora",
        "rocky" => "rocky",
        "almalinux" => "alma",
        "oracle" | "ol" => "oraclelinux",
        "amzn" => "amazonlinux",
        "sles" | "sled" | "sles_sap" => "sles",
        "suse" if n.contains("enterprise") => "sles",
        "opensuse" | "opensuse-leap" | "opensuse-tumbleweed" | "suse" => "opensuse",
        "debian" | "raspbian" => "debian",
        "ubuntu" => "ubuntu",
        "kali" => "kalilinux",
        "linuxmint" => "linuxmint",
        "arch" | "manjaro" | "manjarolinux" => "archlinux",
        "alpine" => "alpinelinux",
        "altlinux" => "altlinux",
        "gentoo" => "gentoo",
        "slackware" => "slackware",
        "mageia" => "mageia",
        "mandriva" | "mandrivalinux" | "mandrake" => "mandriva",
        "coreos" => "coreos",
        "buildroot" => "buildroot",
        "void" => "voidlinux",
        other => {
            let l = |w: &str| like.iter().any(|x| x == w);
            if l("rhel") || l("fedora") || l("centos") {
                "redhat-based"
            } else if l("suse") || l("opensuse") {
                "suse-based"
            } else if l("debian") || l("ubuntu") {
                "debian"
            } else if other.is_empty() {
                "unknown"
            } else {
                return other.to_string();
            }
        }
    };
    s.to_string()
}

/// Package format and manager for a libguestfs distro name and major version.
pub fn packaging(distro: &str, major: Option<u32>) -> (PackageFormat, PackageManager) {
    use PackageFormat as F;
    use PackageManager as M;
    let m = major.unwrap_or(0);
    match distro {
        "debian" | "ubuntu" | "kalilinux" | "linuxmint" => (F::Deb, M::Apt),
        "fedora" => (F::Rpm, if m >= 22 { M::Dnf } else { M::Yum }),
        "rhel" | "centos" | "rocky" | "alma" | "oraclelinux" | "scientificlinux"
        | "redhat-based" => (F::Rpm, if m >= 8 { M::Dnf } else { M::Yum }),
        "amazonlinux" => (F::Rpm, if m >= 2022 { M::Dnf } else { M::Yum }),
        "sles" | "opensuse" | "suse-based" => (F::Rpm, M::Zypper),
        "mageia" | "mandriva" => (F::Rpm, M::Urpmi),
        "altlinux" => (F::Rpm, M::Apt),
        "archlinux" => (F::Pacman, M::Pacman),
        "alpinelinux" => (F::Apk, M::Apk),
        "gentoo" => (F::Ebuild, M::Portage),
        "slackware" => (F::Pkgsrc, M::Unknown),
        _ => (F::Unknown, M::Unknown),
    }
}

fn read_text(files: &dyn GuestFiles, path: &str) -> Option<String> {
    files.read_string(path).filter(|t| !t.trim().is_empty())
}

/// Detect the distribution of a Linux root. `None` when no os-release, lsb-release or release
/// file identifies one (GEN-7: unknown OS).
pub fn detect(files: &dyn GuestFiles) -> Option<OsInfo> {
    let (os_path, os) = ["/etc/os-release", "/usr/lib/os-release"]
        .iter()
        .find_map(|p| read_text(files, p).map(|t| (p.to_string(), shellvars::parse(&t))))
        .unwrap_or_default();
    let osv = |k: &str| shellvars::get(&os, k).unwrap_or("").trim().to_string();
    let lsb = read_text(files, "/etc/lsb-release")
        .map(|t| shellvars::parse(&t))
        .unwrap_or_default();
    let lsbv = |k: &str| shellvars::get(&lsb, k).unwrap_or("").trim().to_string();
    // the first release file that parses
    let release = RELEASE_FILES.iter().find_map(|(p, id)| {
        let t = read_text(files, p)?;
        let r = parse_release_line(&t)?;
        Some((p.to_string(), *id, r, t))
    });
    let debian_version = read_text(files, "/etc/debian_version").map(|t| t.trim().to_string());

    let like: Vec<String> = osv("ID_LIKE")
        .split_whitespace()
        .map(str::to_string)
        .collect();

    // id
    let (id, source) = if !osv("ID").is_empty() {
        (normalize_os_id(&osv("ID").to_lowercase()), os_path.clone())
    } else if !lsbv("DISTRIB_ID").is_empty() {
        (
            normalize_lsb_id(&lsbv("DISTRIB_ID")),
            "/etc/lsb-release".to_string(),
        )
    } else if let Some((p, fid, r, _)) = &release {
        let lname = r.name.to_lowercase();
        let id = if lname.contains("cloudlinux") {
            "cloudlinux".to_string()
        } else if lname.starts_with("amazon linux") {
            "amzn".to_string()
        } else if *fid == "suse" {
            if lname.contains("enterprise") {
                "sles"
            } else {
                "opensuse"
            }
            .to_string()
        } else if *fid == "system" {
            lname.split_whitespace().next().unwrap_or("").to_string()
        } else {
            fid.to_string()
        };
        (id, p.clone())
    } else if let Some(dv) = &debian_version {
        let _ = dv;
        ("debian".to_string(), "/etc/debian_version".to_string())
    } else {
        return None;
    };

    // version as stated
    let mut version = osv("VERSION_ID");
    if version.is_empty() {
        version = lsbv("DISTRIB_RELEASE");
    }
    if version.is_empty() {
        if let Some((_, _, r, _)) = &release {
            version = r.version.clone();
        }
    }
    if version.is_empty() && id == "debian" {
        version = debian_version.clone().unwrap_or_default();
    }

    // best version: the most precise one consistent with `version`
    let mut candidates: Vec<String> = Vec::new();
    if let Some((_, _, r, t)) = &release {
        let mut v = r.version.clone();
        // SuSE-release: "VERSION = 12" + "PATCHLEVEL = 1"
        if let Some(pl) = t.lines().find_map(|l| {
            let (k, v) = l.split_once('=')?;
            (k.trim() == "PATCHLEVEL").then(|| v.trim().to_string())
        }) {
            if !v.contains('.') && pl.chars().all(|c| c.is_ascii_digit()) && !pl.is_empty() {
                v = format!("{v}.{pl}");
            }
        }
        candidates.push(v);
    }
    if id == "debian" || id == "raspbian" {
        if let Some(dv) = &debian_version {
            candidates.push(dv.clone());
        }
    }
    if let Some(first) = osv("VERSION").split([' ', ',']).next() {
        candidates.push(first.to_string());
    }
    if let Some(first) = osv("PRETTY_NAME")
        .split_whitespace()
        .find(|w| w.starts_with(|c: char| c.is_ascii_digit()))
    {
        candidates.push(first.to_string());
    }
    let consistent = |c: &String| {
        !c.is_empty()
            && c.starts_with(|ch: char| ch.is_ascii_digit())
            && (version.is_empty()
                || (c.starts_with(version.as_str())
                    && matches!(c.as_bytes().get(version.len()), None | Some(b'.'))))
    };
    let best_version = candidates
        .iter()
        .filter(|c| consistent(c))
        .max_by_key(|c| c.len())
        .cloned()
        .unwrap_or_else(|| version.clone());
    let (major, minor) = split_version(&best_version);

    let codename = {
        let c = osv("VERSION_CODENAME");
        if !c.is_empty() {
            c
        } else if !lsbv("DISTRIB_CODENAME").is_empty() {
            lsbv("DISTRIB_CODENAME")
        } else {
            release
                .as_ref()
                .map(|r| r.2.codename.clone())
                .unwrap_or_default()
        }
    };
    let product_name = if !osv("PRETTY_NAME").is_empty() {
        osv("PRETTY_NAME")
    } else if !lsbv("DISTRIB_DESCRIPTION").is_empty() {
        lsbv("DISTRIB_DESCRIPTION")
    } else if let Some((_, _, _, t)) = &release {
        t.lines().next().unwrap_or("").trim().to_string()
    } else if !osv("NAME").is_empty() {
        // os-release without PRETTY_NAME: NAME and VERSION, as os-release(5) builds it.
        let v = if osv("VERSION").is_empty() {
            version.clone()
        } else {
            osv("VERSION")
        };
        format!("{} {v}", osv("NAME")).trim().to_string()
    } else if id.is_empty() || id == "debian" {
        // Only /etc/debian_version.
        format!("Debian GNU/Linux {version}")
    } else {
        format!("{id} {version}").trim().to_string()
    };
    let name_hint = if osv("NAME").is_empty() {
        product_name.clone()
    } else {
        osv("NAME")
    };
    let distro = distro_name(&id, &name_hint, &like);
    let (package_format, package_manager) = packaging(&distro, major);
    Some(OsInfo {
        id,
        distro,
        product_name,
        version,
        best_version,
        major,
        minor,
        like,
        codename,
        package_format,
        package_manager,
        source,
    })
}

/// The guest's hostname: `/etc/hostname`, `/etc/HOSTNAME` (SUSE), or `HOSTNAME=` in
/// `/etc/sysconfig/network` (RHEL ≤ 6).
pub fn hostname(files: &dyn GuestFiles) -> Option<String> {
    for p in ["/etc/hostname", "/etc/HOSTNAME"] {
        if let Some(t) = files.read_string(p) {
            if let Some(h) = t
                .lines()
                .map(str::trim)
                .find(|l| !l.is_empty() && !l.starts_with('#'))
            {
                return Some(h.to_string());
            }
        }
    }
    let t = files.read_string("/etc/sysconfig/network")?;
    let vars = shellvars::parse(&t);
    shellvars::get(&vars, "HOSTNAME")
        .filter(|h| !h.is_empty())
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guest::linux::files::MemFiles;

    #[test]
    fn release_lines() {
        let r = parse_release_line("CentOS Linux release 7.1.1503 (Core) \n").unwrap();
        assert_eq!(
            (r.name.as_str(), r.version.as_str(), r.codename.as_str()),
            ("CentOS Linux", "7.1.1503", "Core")
        );
        let r = parse_release_line("Mageia release 5 (Official) for x86_64").unwrap();
        assert_eq!((r.version.as_str(), r.codename.as_str()), ("5", "Official"));
        let r = parse_release_line("Slackware 14.1").unwrap();
        assert_eq!((r.name.as_str(), r.version.as_str()), ("Slackware", "14.1"));
        assert!(parse_release_line("no digits here").is_none());
    }

    #[test]
    fn hostnames() {
        let mut m = MemFiles::new();
        m.insert(
            "/etc/sysconfig/network",
            "NETWORKING=yes\nHOSTNAME=old.example.com\n",
        );
        assert_eq!(hostname(&m).as_deref(), Some("old.example.com"));
        m.insert("/etc/HOSTNAME", "suse1\n");
        assert_eq!(hostname(&m).as_deref(), Some("suse1"));
        m.insert("/etc/hostname", "# c\n\nweb01\n");
        assert_eq!(hostname(&m).as_deref(), Some("web01"));
    }
}
