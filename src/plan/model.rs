//! The plan: an ordered list of changes to one guest, each tied to the rule and requirement that
//! asked for it, with the backup it keeps of the original. `plan` prints it; `apply` executes it.

use serde::Serialize;

/// One change to the guest.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Change {
    /// Replace a file's content. The original is kept at `backup` (same directory).
    EditFile {
        /// The guest path.
        path: String,
        #[serde(skip)]
        /// The current content.
        old: Vec<u8>,
        #[serde(skip)]
        /// The content apply writes.
        new: Vec<u8>,
        /// The guest path the original is kept at.
        backup: Option<String>,
        /// A unified diff from old to new.
        diff: String,
    },
    /// Replace a registry hive file (MOD-W1, MOD-W3): the edits written by our hive writer,
    /// shown as a `.reg` diff of the keys they touch. The original is kept at `backup`.
    EditHive {
        /// The hive's guest path (`/Windows/System32/config/SYSTEM`).
        path: String,
        #[serde(skip)]
        /// The hive as it is.
        old: Vec<u8>,
        #[serde(skip)]
        /// The hive as apply writes it.
        new: Vec<u8>,
        /// The guest path the original is kept at.
        backup: Option<String>,
        /// The registry root the hive is shown under (`HKEY_LOCAL_MACHINE\SYSTEM`).
        root: String,
        /// Keys the edits touch (relative to the hive root).
        #[serde(skip)]
        keys: Vec<String>,
        /// `-`/`+` lines under `[root\key]` headers.
        diff: String,
    },
    /// Add a new file (e.g. EFI/BOOT/BOOTX64.EFI). Fails at apply if the path exists.
    AddFile {
        /// The new file's guest path.
        path: String,
        #[serde(skip)]
        /// The file's bytes.
        content: Vec<u8>,
        /// Where the content came from (another guest file), for the audit.
        copied_from: Option<String>,
        /// Its size in bytes.
        size: u64,
        /// SHA-256 of the content, lowercase hex.
        sha256: String,
    },
    /// Move a file to a new name in the same filesystem (network config renamed for eth0);
    /// the old name is kept as the backup.
    RenameFile {
        /// The current guest path.
        from: String,
        /// The new guest path.
        to: String,
    },
    /// Append a cpio archive to an initramfs (MOD-L1).
    AppendInitramfs {
        /// The initramfs's guest path.
        path: String,
        #[serde(skip)]
        /// The newc cpio archive appended (compressed as `compression` says).
        archive: Vec<u8>,
        /// The guest path the original is kept at.
        backup: Option<String>,
        /// Modules added (asked for, then dependencies pulled in).
        modules: Vec<String>,
        /// Every path the archive holds (directories end in `/`): what the kernel will
        /// create or replace when it unpacks it.
        files: Vec<String>,
        /// Those of `files` that replace a file the initramfs already holds (modules.dep …).
        replaces: Vec<String>,
        /// How the appended archive is compressed (none, gzip, zstd).
        compression: String,
        /// The appended archive's size in bytes.
        size: u64,
        /// SHA-256 of the appended archive, lowercase hex.
        sha256: String,
    },
}

impl Change {
    /// The guest path the change writes.
    pub fn path(&self) -> &str {
        match self {
            Change::EditFile { path, .. }
            | Change::EditHive { path, .. }
            | Change::AddFile { path, .. }
            | Change::AppendInitramfs { path, .. } => path,
            Change::RenameFile { to, .. } => to,
        }
    }
}

/// A change and why it is made.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PlannedChange {
    /// The rule that made it.
    pub rule: String,
    /// The requirement it fixes (MOD-L3 …).
    pub requirement: String,
    #[serde(flatten)]
    /// The change.
    pub change: Change,
}

/// Something the user must know or do that the plan cannot fix by itself.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PlanNote {
    /// The rule that wrote it.
    pub rule: String,
    /// The requirement it is about.
    pub requirement: String,
    /// What to know or do.
    pub message: String,
}

/// The plan for one OS root.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Plan {
    /// The target profile.
    pub target: String,
    /// The OS root's device (`/dev/sda1`).
    pub root: String,
    /// The changes, in the order apply makes them.
    pub changes: Vec<PlannedChange>,
    /// What the plan cannot fix by itself.
    pub notes: Vec<PlanNote>,
    /// Rules that were considered and why they did not apply or changed nothing.
    pub skipped: Vec<PlanNote>,
}

impl Plan {
    /// Whether nothing needs to change (the guest is already fixed).
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// The plan as text: unified diffs and a line per other change.
    pub fn render_text(&self) -> String {
        let mut t = format!("# plan for {} (target {})\n", self.root, self.target);
        if self.changes.is_empty() {
            t.push_str("# nothing to change\n");
        }
        for c in &self.changes {
            t.push_str(&format!("\n# {} ({})\n", c.rule, c.requirement));
            match &c.change {
                Change::EditFile {
                    path, backup, diff, ..
                } => {
                    if let Some(b) = backup {
                        t.push_str(&format!("# keep original {path} as {b}\n"));
                    }
                    t.push_str(diff);
                }
                Change::AddFile {
                    path,
                    copied_from,
                    size,
                    sha256,
                    content,
                } => {
                    t.push_str(&format!(
                        "add {path} ({size} bytes, sha256 {sha256}){}\n",
                        copied_from
                            .as_ref()
                            .map(|c| format!(" copied from {c}"))
                            .unwrap_or_default()
                    ));
                    // a new text file is shown whole
                    if let (None, Ok(text)) = (copied_from, std::str::from_utf8(content)) {
                        t.push_str(&super::diff::unified(path, "", text));
                    }
                }
                Change::EditHive {
                    path,
                    backup,
                    root,
                    diff,
                    ..
                } => {
                    if let Some(b) = backup {
                        t.push_str(&format!("# keep original {path} as {b}\n"));
                    }
                    t.push_str(&format!("# registry hive {path} ({root})\n"));
                    t.push_str(diff);
                }
                Change::RenameFile { from, to } => t.push_str(&format!("rename {from} -> {to}\n")),
                Change::AppendInitramfs {
                    path,
                    backup,
                    modules,
                    files,
                    replaces,
                    compression,
                    size,
                    sha256,
                    ..
                } => {
                    if let Some(b) = backup {
                        t.push_str(&format!("# keep original {path} as {b}\n"));
                    }
                    t.push_str(&format!(
                        "append a {size}-byte cpio archive ({compression}, sha256 {sha256}) to {path} adding modules {}\n",
                        modules.join(" "),
                    ));
                    for f in files {
                        if replaces.contains(f) {
                            t.push_str(&format!("  ~ {f} (replaces the initramfs's copy)\n"));
                        } else {
                            t.push_str(&format!("  + {f}\n"));
                        }
                    }
                }
            }
        }
        for n in &self.notes {
            t.push_str(&format!(
                "\nnote {} ({}): {}\n",
                n.rule, n.requirement, n.message
            ));
        }
        t
    }
}
