//! Rules: loads target profiles from `rules/<target>/` (profile.toml, the OS matrix, and the rule
//! files that say which built-in transform runs, when, and with which parameters). OS knowledge
//! lives in rule files, not in code: a new target is a new folder, no code. The `ec2` profile is
//! also compiled in, so the binary works from anywhere. docs/rules.md documents the format.

mod matrix;
pub(crate) mod policy;
mod profile;
mod transform;
mod version;

pub use matrix::{LinuxMatch, LinuxSupport, OsMatrix, WindowsEntry, WindowsMatch};
pub use profile::{Condition, DriverSpec, Profile, ProfileSettings, Rule};
pub use transform::Transform;
pub use version::{Version, version_matches};

use std::path::{Path, PathBuf};

/// Errors loading rules.
#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    #[error("{path}: {source}")]
    /// A rule file or folder could not be read.
    Io {
        /// The file or folder.
        path: PathBuf,
        #[source]
        /// The host error.
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    /// A file is not valid TOML for what it holds.
    Parse {
        /// The file.
        path: String,
        /// The parser's message.
        message: String,
    },
    #[error("no target profile {target:?} (looked in {looked})")]
    /// No profile of that name.
    UnknownTarget {
        /// The name asked for.
        target: String,
        /// Where profiles were looked for.
        looked: String,
    },
    #[error("{path}: rule {id}: {message}")]
    /// A rule is invalid (its ID is used twice).
    BadRule {
        /// The rule file.
        path: String,
        /// The rule's ID.
        id: String,
        /// What is wrong.
        message: String,
    },
}

/// The profiles compiled into the binary: (target, file name, contents).
const EMBEDDED: &[(&str, &str, &str)] = &[
    (
        "ec2",
        "profile.toml",
        include_str!("../../rules/ec2/profile.toml"),
    ),
    (
        "ec2",
        "os-matrix.toml",
        include_str!("../../rules/ec2/os-matrix.toml"),
    ),
    (
        "ec2",
        "linux.toml",
        include_str!("../../rules/ec2/linux.toml"),
    ),
    (
        "ec2",
        "windows.toml",
        include_str!("../../rules/ec2/windows.toml"),
    ),
];

/// Where profiles come from.
#[derive(Debug, Clone, Default)]
pub enum RulesSource {
    /// The compiled-in profiles (the default).
    #[default]
    Embedded,
    /// A folder holding one sub-folder per target.
    Dir(PathBuf),
}

impl RulesSource {
    /// `GUESTFIX_RULES_DIR` when set, else the embedded profiles.
    pub fn from_env() -> Self {
        match std::env::var_os("GUESTFIX_RULES_DIR") {
            Some(d) if !d.is_empty() => RulesSource::Dir(PathBuf::from(d)),
            _ => RulesSource::Embedded,
        }
    }

    /// Load one target profile.
    pub fn load(&self, target: &str) -> Result<Profile, RulesError> {
        let files = self.files(target)?;
        Profile::from_files(target, &files)
    }

    /// The targets available.
    pub fn targets(&self) -> Result<Vec<String>, RulesError> {
        let mut t: Vec<String> = match self {
            RulesSource::Embedded => EMBEDDED.iter().map(|(t, _, _)| t.to_string()).collect(),
            RulesSource::Dir(d) => std::fs::read_dir(d)
                .map_err(|source| RulesError::Io {
                    path: d.clone(),
                    source,
                })?
                .filter_map(|e| e.ok())
                .filter(|e| e.path().join("profile.toml").is_file())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect(),
        };
        t.sort();
        t.dedup();
        Ok(t)
    }

    /// (file name, contents) of every `.toml` file of a target, sorted by name.
    fn files(&self, target: &str) -> Result<Vec<(String, String)>, RulesError> {
        let mut files: Vec<(String, String)> = match self {
            RulesSource::Embedded => EMBEDDED
                .iter()
                .filter(|(t, _, _)| *t == target)
                .map(|(_, n, c)| (n.to_string(), c.to_string()))
                .collect(),
            RulesSource::Dir(d) => {
                let dir = d.join(target);
                if !is_plain_name(target) || !dir.join("profile.toml").is_file() {
                    Vec::new()
                } else {
                    read_toml_dir(&dir)?
                }
            }
        };
        if files.is_empty() {
            return Err(RulesError::UnknownTarget {
                target: target.to_string(),
                looked: match self {
                    RulesSource::Embedded => "the built-in profiles".into(),
                    RulesSource::Dir(d) => d.display().to_string(),
                },
            });
        }
        files.sort();
        Ok(files)
    }
}

fn is_plain_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn read_toml_dir(dir: &Path) -> Result<Vec<(String, String)>, RulesError> {
    let io = |source| RulesError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).map_err(io)? {
        let e = e.map_err(io)?;
        let name = e.file_name().to_string_lossy().into_owned();
        if name.ends_with(".toml") {
            let text = std::fs::read_to_string(e.path()).map_err(|source| RulesError::Io {
                path: e.path(),
                source,
            })?;
            out.push((name, text));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_ec2_equals_the_rules_folder() {
        let a = RulesSource::Embedded.load("ec2").unwrap();
        let b = RulesSource::Dir("rules".into()).load("ec2").unwrap();
        assert_eq!(a.rules.len(), b.rules.len());
        assert_eq!(a.matrix.linux.len(), b.matrix.linux.len());
        assert!(a.rules.iter().any(|r| r.requirement == "MOD-L3"));
        for id in ["MOD-L1", "MOD-L2", "MOD-L3", "MOD-L4", "BOOT-4"] {
            assert!(a.rules.iter().any(|r| r.requirement == id), "{id}");
        }
    }

    #[test]
    fn unknown_target_and_hostile_names_are_refused() {
        assert!(matches!(
            RulesSource::Embedded.load("nope"),
            Err(RulesError::UnknownTarget { .. })
        ));
        assert!(
            RulesSource::Dir("rules".into())
                .load("../rules/ec2")
                .is_err()
        );
    }

    #[test]
    fn rules_run_in_order() {
        let p = RulesSource::Embedded.load("ec2").unwrap();
        let orders: Vec<i64> = p.rules.iter().map(|r| r.order).collect();
        let mut sorted = orders.clone();
        sorted.sort();
        assert_eq!(orders, sorted);
    }
}
