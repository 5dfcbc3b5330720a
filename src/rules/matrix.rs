//! The OS/kernel support matrix of a target (OS-2, OS-3, OS-4), as data.

use super::version::version_matches;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
/// A target's OS matrix: the Linux and Windows releases it accepts (os-matrix.toml).
pub struct OsMatrix {
    #[serde(default)]
    /// Accepted Linux distributions, versions and kernels.
    pub linux: Vec<LinuxEntry>,
    #[serde(default)]
    /// Accepted Windows products.
    pub windows: Vec<WindowsEntry>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinuxEntry {
    pub distro: String,
    pub versions: Vec<String>,
    pub kernels: Vec<String>,
    #[serde(default)]
    pub exclude_kernels: Vec<String>,
    #[serde(default)]
    pub eol: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
/// One accepted Windows product.
pub struct WindowsEntry {
    /// The product name as the registry's ProductName gives it (`Windows Server 2019`).
    pub product: String,
    #[serde(default)]
    /// Accepted editions (EditionID); empty means any.
    pub editions: Vec<String>,
    /// Accepted architectures (`x86_64`).
    pub arch: Vec<String>,
    #[serde(default)]
    /// The product is past its end of support.
    pub eol: bool,
    #[serde(default)]
    /// A client (desktop) product, not a server.
    pub client: bool,
    #[serde(default)]
    /// The product boots only with UEFI (Windows 11).
    pub requires_uefi: bool,
    #[serde(default)]
    /// Installation types the service refuses (`Nano Server`).
    pub refuse_installation_types: Vec<String>,
}

/// How a Linux distro/version sits in the matrix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinuxSupport {
    /// The version is listed.
    Supported {
        /// The version is past its end of life.
        eol: bool,
    },
    /// The major version is listed but not this point release (e.g. Debian 12.12 when the matrix
    /// lists 12.2, 12.4, 12.7).
    PointReleaseNotListed {
        /// The listed versions of that major version.
        listed: Vec<String>,
        /// The listed versions are past their end of life.
        eol: bool,
    },
    /// The distro is listed, the version is not.
    VersionNotListed {
        /// The versions the matrix lists for the distro.
        listed: Vec<String>,
    },
    /// The distro is not in the matrix at all.
    DistroNotListed,
}

/// The outcome of matching a Linux guest against the matrix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinuxMatch {
    /// How the version sits in the matrix.
    pub support: LinuxSupport,
    /// Whether the kernel is accepted for this version (None when no kernel was given or the
    /// version is not listed).
    pub kernel_ok: Option<bool>,
    /// The kernels the matrix accepts for this version.
    pub accepted_kernels: Vec<String>,
}

/// The outcome of matching a Windows guest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowsMatch {
    /// The matching entry, if any.
    pub entry: Option<WindowsEntry>,
    /// The edition is accepted.
    pub edition_ok: bool,
    /// The architecture is accepted.
    pub arch_ok: bool,
}

impl PartialEq for WindowsEntry {
    fn eq(&self, o: &Self) -> bool {
        self.product == o.product
    }
}
impl Eq for WindowsEntry {}

/// Does a kernel release string match a matrix kernel pattern ("3.10.0", "3.8.13*uek",
/// "*el5uek")?
pub fn kernel_matches(pattern: &str, release: &str) -> bool {
    let (prefix, needle) = match pattern.split_once('*') {
        Some((p, n)) => (p, Some(n)),
        None => (pattern, None),
    };
    let prefix_ok = prefix.is_empty()
        || (release.starts_with(prefix)
            && release[prefix.len()..]
                .chars()
                .next()
                .is_none_or(|c| !c.is_ascii_digit()));
    prefix_ok && needle.is_none_or(|n| release.contains(n))
}

impl OsMatrix {
    /// Match a Linux guest (distro name as inspection reports it, version string, default
    /// kernel release).
    pub fn match_linux(&self, distro: &str, version: &str, kernel: Option<&str>) -> LinuxMatch {
        let entries: Vec<&LinuxEntry> = self.linux.iter().filter(|e| e.distro == distro).collect();
        if entries.is_empty() {
            return LinuxMatch {
                support: LinuxSupport::DistroNotListed,
                kernel_ok: None,
                accepted_kernels: vec![],
            };
        }
        let kernel_ok = |e: &LinuxEntry| {
            kernel.map(|k| {
                e.kernels.iter().any(|p| kernel_matches(p, k))
                    && !e.exclude_kernels.iter().any(|x| k.starts_with(x.as_str()))
            })
        };
        if let Some(e) = entries
            .iter()
            .find(|e| e.versions.iter().any(|p| version_matches(p, version)))
        {
            return LinuxMatch {
                support: LinuxSupport::Supported { eol: e.eol },
                kernel_ok: kernel_ok(e),
                accepted_kernels: e.kernels.clone(),
            };
        }
        let major = version.split('.').next().unwrap_or("");
        let same_major: Vec<&&LinuxEntry> = entries
            .iter()
            .filter(|e| {
                e.versions
                    .iter()
                    .any(|p| p.split(['.', '-']).next() == Some(major))
            })
            .collect();
        if let Some(e) = same_major.first() {
            return LinuxMatch {
                support: LinuxSupport::PointReleaseNotListed {
                    listed: e.versions.clone(),
                    eol: e.eol,
                },
                kernel_ok: kernel_ok(e),
                accepted_kernels: e.kernels.clone(),
            };
        }
        LinuxMatch {
            support: LinuxSupport::VersionNotListed {
                listed: entries.iter().flat_map(|e| e.versions.clone()).collect(),
            },
            kernel_ok: None,
            accepted_kernels: vec![],
        }
    }

    /// Match a Windows guest by product name, edition and architecture.
    pub fn match_windows(&self, product: &str, edition: &str, arch: &str) -> WindowsMatch {
        let p = product.to_ascii_lowercase();
        // Longest product name first, so "Windows Server 2008 R2" wins over "… 2008".
        let mut cands: Vec<&WindowsEntry> = self
            .windows
            .iter()
            .filter(|e| p.contains(&e.product.to_ascii_lowercase()))
            .collect();
        cands.sort_by_key(|e| std::cmp::Reverse(e.product.len()));
        match cands.first() {
            None => WindowsMatch {
                entry: None,
                edition_ok: false,
                arch_ok: false,
            },
            Some(e) => {
                let ed = edition.to_ascii_lowercase();
                let edition_ok = e.editions.is_empty()
                    || e.editions.iter().any(|x| {
                        let x = x.to_ascii_lowercase();
                        ed.contains(&x) || p.contains(&x)
                    });
                WindowsMatch {
                    entry: Some((*e).clone()),
                    edition_ok,
                    arch_ok: e.arch.iter().any(|a| a == arch),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::RulesSource;

    fn m() -> OsMatrix {
        RulesSource::Embedded.load("ec2").unwrap().matrix
    }

    #[test]
    fn kernel_patterns() {
        assert!(kernel_matches("3.10.0", "3.10.0-1160.el7.x86_64"));
        assert!(!kernel_matches("3.1", "3.10.0"));
        assert!(kernel_matches("6.1", "6.1.0-26-amd64"));
        assert!(kernel_matches("3.8.13*uek", "3.8.13-118.el6uek.x86_64"));
        assert!(!kernel_matches("3.8.13*uek", "3.8.13-118.el6.x86_64"));
        assert!(kernel_matches("*el5uek", "2.6.39-400.el5uek"));
    }

    #[test]
    fn linux_matrix_from_the_spec() {
        let m = m();
        let d = m.match_linux("debian", "12.7", Some("6.1.0-26-amd64"));
        assert_eq!(d.support, LinuxSupport::Supported { eol: false });
        assert_eq!(d.kernel_ok, Some(true));
        let d = m.match_linux("debian", "12.12", Some("6.1.0-40-amd64"));
        assert!(matches!(
            d.support,
            LinuxSupport::PointReleaseNotListed { .. }
        ));
        assert_eq!(d.kernel_ok, Some(true));
        let d = m.match_linux("debian", "10.13", Some("4.19.0-27-amd64"));
        assert_eq!(d.support, LinuxSupport::Supported { eol: true });
        let c = m.match_linux("centos", "7.9", Some("3.10.0-1160.el7.x86_64"));
        assert_eq!(c.support, LinuxSupport::Supported { eol: true });
        let c = m.match_linux("centos", "7.9", Some("5.4.0-custom"));
        assert_eq!(c.kernel_ok, Some(false));
        let r = m.match_linux("rhel", "6.1", Some("2.6.32-71.el6.x86_64"));
        assert_eq!(r.kernel_ok, Some(false), "RHEL 6 excludes 2.6.32-71");
        let r = m.match_linux("rhel", "9.4", Some("5.14.0-427.el9.x86_64"));
        assert_eq!(r.support, LinuxSupport::Supported { eol: false });
        let u = m.match_linux("ubuntu", "22.04", Some("5.15.0-91-generic"));
        assert_eq!(u.kernel_ok, Some(true));
        let u = m.match_linux("ubuntu", "21.10", Some("5.13.0-1-generic"));
        assert!(matches!(u.support, LinuxSupport::VersionNotListed { .. }));
        let s = m.match_linux("sles", "15.5", Some("5.14.21-150500.53-default"));
        assert_eq!(s.kernel_ok, Some(true));
        let a = m.match_linux("amazonlinux", "2023", Some("6.1.55-75.123.amzn2023.x86_64"));
        assert_eq!(a.kernel_ok, Some(true));
        assert_eq!(
            m.match_linux("gentoo", "2.14", None).support,
            LinuxSupport::DistroNotListed
        );
    }

    #[test]
    fn windows_matrix_from_the_spec() {
        let m = m();
        let w = m.match_windows(
            "Windows Server 2008 R2 Enterprise",
            "ServerEnterprise",
            "x86_64",
        );
        assert_eq!(w.entry.as_ref().unwrap().product, "Windows Server 2008 R2");
        assert!(w.edition_ok && w.arch_ok && w.entry.unwrap().eol);
        let w = m.match_windows(
            "Windows Server 2019 Datacenter",
            "ServerDatacenter",
            "x86_64",
        );
        assert!(w.edition_ok && !w.entry.unwrap().eol);
        let w = m.match_windows("Windows 11 Pro", "Professional", "x86_64");
        assert!(w.entry.unwrap().requires_uefi);
        let w = m.match_windows("Windows 10 Pro", "Professional", "i386");
        assert!(!w.arch_ok);
        assert!(
            m.match_windows("Windows Vista", "", "x86_64")
                .entry
                .is_none()
        );
    }
}
