//! A target profile: its settings (profile.toml), its OS matrix, and its rules.

use super::{OsMatrix, RulesError, Transform};
use serde::Deserialize;

/// A loaded target profile.
#[derive(Debug, Clone)]
pub struct Profile {
    /// `[profile]` of profile.toml.
    pub settings: ProfileSettings,
    /// The OS/kernel matrix the settings' `os_matrix` file holds (OS-2, OS-3, OS-4).
    pub matrix: OsMatrix,
    /// Sorted by `order`, then id.
    pub rules: Vec<Rule>,
}

/// `[profile]` of profile.toml.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileSettings {
    /// The target's name (`ec2`), as `--target` gives it.
    pub id: String,
    /// One line saying what the target is.
    pub description: String,
    /// The OS matrix file, relative to the profile's folder.
    pub os_matrix: String,
    /// OS-1: accepted guest architectures (`x86_64`).
    pub accepted_arch: Vec<String>,
    #[serde(default)]
    /// OS-1: the date (YYYY-MM-DD) from which 32-bit guests are refused.
    pub refuse_32bit_since: Option<String>,
    /// The name an original is kept under beside a changed file (`{name}` = the file's name).
    pub backup_pattern: String,
    /// Backup name in folders the guest reads wholesale (see profile.toml).
    #[serde(default)]
    pub backup_pattern_scanned: Option<String>,
    #[serde(default)]
    /// Guest folders whose files are all read (where `backup_pattern_scanned` applies).
    pub scanned_dirs: Vec<String>,
    /// FMT-1/FMT-2: accepted image formats (`raw`, `vhdx`, `vmdk-streamOptimized` …).
    pub accepted_formats: Vec<String>,
    /// FMT-4: the largest accepted virtual disk, in bytes.
    pub max_image_bytes: u64,
    #[serde(default)]
    /// FMT-4: above this virtual size (bytes) the import needs a manifest.
    pub manifest_needed_above_bytes: Option<u64>,
    /// FMT-4: the most volumes (partitions and LVs) an image may hold.
    pub max_volumes: usize,
    #[serde(default)]
    /// FMT-5: export refuses volumes above this size, in bytes.
    pub export_max_volume_bytes: Option<u64>,
    /// BOOT-2: filesystems a Linux boot/root volume may have.
    pub linux_filesystems: Vec<String>,
    #[serde(default)]
    /// BOOT-2: a root on a Btrfs subvolume is refused.
    pub refuse_btrfs_subvolumes: bool,
    /// LNX-2: free space wanted on the root volume, in bytes.
    pub min_root_free_bytes: u64,
    #[serde(default)]
    /// LNX-3: drivers wanted in the default kernel's initramfs or modules.
    pub required_drivers: Vec<DriverSpec>,
    #[serde(default)]
    /// MOD-L1: drivers without which the guest cannot boot on the target (storage, network).
    pub boot_drivers: Vec<DriverSpec>,
    /// WIN-1: free space wanted on the Windows system volume (default 6 GiB).
    #[serde(default = "default_windows_min_free_bytes")]
    pub windows_min_free_bytes: u64,
    /// BOOT-3: the largest Windows boot disk the service boots in legacy BIOS mode or converts
    /// from GPT to MBR (default 2 TiB).
    #[serde(default = "default_windows_bios_max_disk_bytes")]
    pub windows_bios_max_disk_bytes: u64,
    /// WIN-9: services of security products (antivirus, endpoint agents) whose drivers can block
    /// the platform drivers' installation at first boot.
    #[serde(default)]
    pub windows_security_services: Vec<String>,
    /// WIN-9: EditionIDs without volume licensing (activation fails after import).
    #[serde(default)]
    pub windows_no_volume_licensing_editions: Vec<String>,
    /// Policy severities by key (`rules::policy::SEVERITY_DEFAULTS` holds every key and its
    /// default); keys left out keep their defaults.
    #[serde(default)]
    pub severity: std::collections::BTreeMap<String, String>,
}

fn default_windows_min_free_bytes() -> u64 {
    6 << 30
}

fn default_windows_bios_max_disk_bytes() -> u64 {
    2 << 40
}

/// A driver and the module names that provide it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DriverSpec {
    /// The driver's name in findings (`nvme`).
    pub name: String,
    /// Kernel module names that provide it (any of).
    pub modules: Vec<String>,
    #[serde(default)]
    /// The finding's severity when it is missing (default: the policy's).
    pub severity: Option<String>,
}

/// When a rule applies. Every given field must hold.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    /// "linux" or "windows".
    #[serde(default)]
    pub os: Option<String>,
    /// Distro names (any of).
    #[serde(default)]
    pub distro: Vec<String>,
    /// Version patterns as in the OS matrix (any of).
    #[serde(default)]
    pub version: Vec<String>,
    /// Guest files that must exist (all of).
    #[serde(default)]
    pub files: Vec<String>,
    /// Named facts that must hold (all of): "uefi", "bios", "static-network", "lvm", "btrfs".
    #[serde(default)]
    pub facts: Vec<String>,
}

/// One rule: when it applies, which transform runs, with which parameters.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// The rule's ID (`fstab-uuid`), as `guestfix rules explain` takes it.
    pub id: String,
    /// The import-spec requirement it implements (MOD-L3 …).
    pub requirement: String,
    #[serde(default)]
    /// Rules run by ascending order, then ID.
    pub order: i64,
    /// What the rule does, in one line.
    pub description: String,
    #[serde(default)]
    /// When the rule applies.
    pub when: Condition,
    /// The built-in transform it runs.
    pub transform: Transform,
    #[serde(default)]
    /// The transform's parameters (the rule file's `[params]`).
    pub params: toml::Table,
    /// The file the rule came from.
    #[serde(skip)]
    pub source: String,
}

impl Rule {
    /// A string parameter.
    pub fn param_str(&self, key: &str) -> Option<&str> {
        self.params.get(key).and_then(|v| v.as_str())
    }
    /// A list-of-strings parameter (missing = empty).
    pub fn param_list(&self, key: &str) -> Vec<String> {
        self.params
            .get(key)
            .and_then(|v| v.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }
    /// A string in a table parameter (`packages = { debian = "…" }`).
    pub fn param_table_str(&self, key: &str, sub: &str) -> Option<&str> {
        self.params.get(key)?.get(sub)?.as_str()
    }
    /// A boolean parameter.
    pub fn param_bool(&self, key: &str) -> Option<bool> {
        self.params.get(key).and_then(|v| v.as_bool())
    }
    /// An integer parameter.
    pub fn param_int(&self, key: &str) -> Option<i64> {
        self.params.get(key).and_then(|v| v.as_integer())
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileFile {
    profile: ProfileSettings,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    #[serde(default)]
    rule: Vec<Rule>,
}

fn parse<T: serde::de::DeserializeOwned>(path: &str, text: &str) -> Result<T, RulesError> {
    toml::from_str(text).map_err(|e| RulesError::Parse {
        path: path.to_string(),
        message: e.to_string(),
    })
}

impl Profile {
    /// Give every rule that declares a `drivers_dir` parameter (MOD-W1) the host folder `dir`
    /// (`--drivers DIR`). Returns how many rules took it.
    pub fn set_drivers_dir(&mut self, dir: &str) -> usize {
        let mut n = 0;
        for r in &mut self.rules {
            if r.params.contains_key("drivers_dir") {
                r.params
                    .insert("drivers_dir".into(), toml::Value::String(dir.to_string()));
                n += 1;
            }
        }
        n
    }

    /// Build a profile from the (name, contents) of every .toml file in its folder.
    pub fn from_files(target: &str, files: &[(String, String)]) -> Result<Profile, RulesError> {
        let find = |name: &str| files.iter().find(|(n, _)| n == name);
        let path = |n: &str| format!("{target}/{n}");
        let (_, ptext) = find("profile.toml").ok_or_else(|| RulesError::UnknownTarget {
            target: target.to_string(),
            looked: "profile.toml".into(),
        })?;
        let settings = parse::<ProfileFile>(&path("profile.toml"), ptext)?.profile;
        super::policy::validate(&settings.severity).map_err(|message| RulesError::Parse {
            path: path("profile.toml"),
            message,
        })?;
        let (_, mtext) = find(&settings.os_matrix).ok_or_else(|| RulesError::Parse {
            path: path("profile.toml"),
            message: format!("os_matrix file {:?} not found", settings.os_matrix),
        })?;
        let matrix: OsMatrix = parse(&path(&settings.os_matrix), mtext)?;
        let mut rules = Vec::new();
        for (name, text) in files {
            if name == "profile.toml" || *name == settings.os_matrix {
                continue;
            }
            let rf: RuleFile = parse(&path(name), text)?;
            for mut r in rf.rule {
                r.source = path(name);
                rules.push(r);
            }
        }
        let mut seen = std::collections::HashSet::new();
        for r in &rules {
            if !seen.insert(r.id.clone()) {
                return Err(RulesError::BadRule {
                    path: r.source.clone(),
                    id: r.id.clone(),
                    message: "duplicate rule id".into(),
                });
            }
        }
        rules.sort_by(|a, b| a.order.cmp(&b.order).then(a.id.cmp(&b.id)));
        Ok(Profile {
            settings,
            matrix,
            rules,
        })
    }

    /// The severity name (`blocker`, `warning`, `info`, `pass`) of a policy key: the profile's,
    /// else the default. None for a key that is not in `rules::policy::SEVERITY_DEFAULTS`.
    pub fn severity(&self, key: &str) -> Option<&str> {
        let default = super::policy::default_severity(key)?;
        Some(
            self.settings
                .severity
                .get(key)
                .map_or(default, String::as_str),
        )
    }

    /// Render a backup file name from the profile's pattern.
    pub fn backup_name(&self, name: &str) -> String {
        self.settings.backup_pattern.replace("{name}", name)
    }

    /// The backup path for a guest file: same folder, new name; a hidden name in folders the
    /// guest reads wholesale.
    pub fn backup_path(&self, path: &str) -> String {
        let (dir, name) = path.rsplit_once('/').unwrap_or(("", path));
        let scanned = self.settings.scanned_dirs.iter().any(|d| d == dir);
        let pat = match (&self.settings.backup_pattern_scanned, scanned) {
            (Some(p), true) => p.as_str(),
            _ => self.settings.backup_pattern.as_str(),
        };
        format!("{dir}/{}", pat.replace("{name}", name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files_with(rule: &str) -> Vec<(String, String)> {
        vec![
            (
                "profile.toml".into(),
                include_str!("../../rules/ec2/profile.toml").into(),
            ),
            (
                "os-matrix.toml".into(),
                include_str!("../../rules/ec2/os-matrix.toml").into(),
            ),
            ("x.toml".into(), rule.into()),
        ]
    }

    #[test]
    fn unknown_transform_and_fields_are_refused() {
        let bad = "[[rule]]\nid='a'\nrequirement='MOD-L3'\ndescription='d'\ntransform='rm-rf'\n";
        let e = Profile::from_files("t", &files_with(bad)).unwrap_err();
        assert!(e.to_string().contains("unknown transform"), "{e}");
        let typo = "[[rule]]\nid='a'\nrequirement='MOD-L3'\ndescription='d'\ntransform='fstab'\nwhne={os='linux'}\n";
        assert!(Profile::from_files("t", &files_with(typo)).is_err());
        let dup = "[[rule]]\nid='a'\nrequirement='X'\ndescription='d'\ntransform='fstab'\n[[rule]]\nid='a'\nrequirement='X'\ndescription='d'\ntransform='fstab'\n";
        assert!(
            Profile::from_files("t", &files_with(dup))
                .unwrap_err()
                .to_string()
                .contains("duplicate")
        );
    }

    #[test]
    fn policy_severities_default_and_override() {
        // ec2 lists every key with its default.
        let p = Profile::from_files("t", &files_with("")).unwrap();
        assert_eq!(
            p.settings.severity.len(),
            super::super::policy::SEVERITY_DEFAULTS.len()
        );
        assert_eq!(p.severity("WIN-7.rtc"), Some("warning"));
        assert_eq!(p.severity("WIN-7.nope"), None);
        // A profile without the table (an older one) gets the defaults.
        let mut files = files_with("");
        let cut = files[0].1.find("[profile.severity]").unwrap();
        files[0].1.truncate(cut);
        let p = Profile::from_files("t", &files).unwrap();
        assert!(p.settings.severity.is_empty());
        assert_eq!(p.severity("BOOT-4.no-fallback-loader"), Some("blocker"));
        let with = |line: &str| {
            let mut files = files_with("");
            files[0].1 = files[0].1.replace("\"WIN-7.rtc\" = \"warning\"", line);
            Profile::from_files("t", &files)
        };
        let p = with("\"WIN-7.rtc\" = \"blocker\"").unwrap();
        assert_eq!(p.severity("WIN-7.rtc"), Some("blocker"));
        for bad in ["\"WIN-7.rtc\" = \"fatal\"", "\"WIN-77.x\" = \"warning\""] {
            let e = with(bad).unwrap_err();
            assert!(e.to_string().contains("severity"), "{e}");
        }
    }

    #[test]
    fn params_and_backup_name() {
        let ok = "[[rule]]\nid='a'\nrequirement='MOD-L3'\ndescription='d'\ntransform='fstab'\nparams={disable_types=['cifs'], file='/etc/fstab', n=3, b=true}\n";
        let p = Profile::from_files("t", &files_with(ok)).unwrap();
        let r = &p.rules[0];
        assert_eq!(r.param_list("disable_types"), vec!["cifs"]);
        assert_eq!(r.param_str("file"), Some("/etc/fstab"));
        assert_eq!(r.param_int("n"), Some(3));
        assert_eq!(r.param_bool("b"), Some(true));
        assert_eq!(p.backup_name("fstab"), "fstab.guestfix-orig");
        assert_eq!(p.backup_path("/etc/fstab"), "/etc/fstab.guestfix-orig");
        assert_eq!(
            p.backup_path("/etc/sysconfig/network-scripts/ifcfg-eth0"),
            "/etc/sysconfig/network-scripts/.ifcfg-eth0.guestfix-orig"
        );
    }
}
