//! Driver injection into an initramfs (MOD-L1): the archive appended to a kernel's initramfs
//! so that it holds platform drivers it lacks. The archive (newc cpio, uncompressed) holds
//! - the modules, from the guest's own `/lib/modules/<kver>` (found through its `modules.dep`)
//!   or from a host folder, under `<prefix>/<kver>/updates/guestfix/` (prefix
//!   `usr/lib/modules` or `lib/modules`, as the existing archive uses), with the dependencies
//!   their `.modinfo` names that the initramfs lacks; compressed modules (`.ko.xz`, `.ko.zst`,
//!   `.ko.gz`) are copied as they are: the kmod in that initramfs is the one that loads them
//!   from the guest's disk every day;
//! - `modules.dep` (the original lines, then one per new module) and `modules.dep.bin` (kmod's
//!   index, which modprobe reads), replacing the originals when the kernel unpacks it;
//! - load configuration: initramfs-tools' `conf/modules` (its original lines, then the new
//!   names) and `etc/modules-load.d/guestfix.conf` (dracut / systemd-modules-load).
//!
//! A module built for another kernel (its `vermagic` does not start with the kernel release)
//! is refused with the evidence.

use super::kmod_index::{Index, IndexError};
use crate::formats::cpio::CpioWriter;
use crate::guest::linux::initramfs::{Listing, module_name};
use crate::guest::linux::modinfo::{self, MAX_MODULE, ModinfoError};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Most files looked at in a modules folder, and how deep.
const MAX_SCAN: usize = 200_000;
const MAX_DEPTH: usize = 12;
/// Most bytes of modules added in one archive.
const MAX_ADDED: u64 = 512 << 20;
/// Where the modules go, below `<prefix>/<kver>/`.
pub const UPDATES_DIR: &str = "updates/guestfix";
/// The dracut / systemd load list written.
pub const MODULES_LOAD: &str = "etc/modules-load.d/guestfix.conf";
/// initramfs-tools' load list.
pub const CONF_MODULES: &str = "conf/modules";

/// Why the archive cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DriverError {
    #[error("{path}: cannot read: {reason}")]
    /// A module file or folder could not be read.
    Io {
        /// Its path.
        path: String,
        /// Why.
        reason: String,
    },
    #[error("{path}: {error}")]
    /// A module's `.modinfo` could not be read.
    Modinfo {
        /// The module file.
        path: String,
        /// Why.
        error: ModinfoError,
    },
    #[error(
        "{path}: module {module} was built for kernel {built_for:?} (vermagic {vermagic:?}), not {kernel}"
    )]
    /// A module was built for another kernel.
    Vermagic {
        /// The module's name.
        module: String,
        /// The module file.
        path: String,
        /// Its vermagic string.
        vermagic: String,
        /// The kernel release its vermagic names.
        built_for: String,
        /// The kernel it was wanted for.
        kernel: String,
    },
    #[error("{path}: module {module} has no vermagic; cannot tell which kernel it is for")]
    /// A module has no vermagic, so its kernel cannot be told.
    NoVermagic {
        /// The module's name.
        module: String,
        /// The module file.
        path: String,
    },
    #[error(
        "module {module} needs {dependency}, which is neither in the initramfs nor in the modules folder"
    )]
    /// A module's dependency is found nowhere.
    MissingDependency {
        /// The module's name.
        module: String,
        /// The missing dependency's name.
        dependency: String,
    },
    #[error(
        "module {0} is not among the kernel's modules (modules folder or the guest's modules.dep)"
    )]
    /// A module asked for is not among the kernel's modules (its name).
    NotInFolder(String),
    #[error("{path} line {line}: not a modules.dep line (path: dependencies)")]
    /// A `modules.dep` line does not parse.
    CorruptModulesDep {
        /// The file.
        path: String,
        /// The line number (1-based).
        line: usize,
    },
    #[error("modules.dep index: {0}")]
    /// The rebuilt module index cannot be written.
    Index(#[from] IndexError),
    #[error("modules to add exceed {0} bytes")]
    /// The modules to add exceed this many bytes.
    TooLarge(u64),
    #[error(
        "{0}.bin is in the initramfs but its text modules.dep is not: the index cannot be rebuilt"
    )]
    /// The initramfs has `modules.dep.bin` without its text `modules.dep` (the path, without
    /// `.bin`).
    NoModulesDep(String),
}

/// Which tool built an initramfs (what its next rebuild inside the guest reads).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavour {
    /// dracut (RHEL, Fedora, SUSE): `usr/lib/dracut/` in the archive.
    Dracut,
    /// initramfs-tools (Debian, Ubuntu): `conf/initramfs.conf` or `scripts/init-top/`.
    InitramfsTools,
    /// Neither (or not recognised).
    Unknown,
}

impl Flavour {
    /// Which tool built the initramfs `l` lists.
    pub fn of(l: &Listing) -> Flavour {
        let has = |pre: &str| {
            l.files
                .iter()
                .any(|f| f == pre || f.starts_with(&format!("{pre}/")))
        };
        if has("usr/lib/dracut") {
            Flavour::Dracut
        } else if has("conf/initramfs.conf") || has("scripts/init-top") {
            Flavour::InitramfsTools
        } else {
            Flavour::Unknown
        }
    }
}

/// What the initramfs holds that the archive must build on (from [`Listing`] with the
/// [`wanted`] files captured).
#[derive(Debug, Clone)]
pub struct Existing {
    /// `usr/lib/modules` or `lib/modules`.
    pub prefix: String,
    /// Module name → its `modules.dep` line (path, then its dependencies' paths).
    pub dep_lines: Vec<(String, String)>,
    /// Every module name in the initramfs.
    pub present: BTreeSet<String>,
    /// `<prefix>/<kver>/modules.dep.bin` is there but `modules.dep` is not (or was not
    /// captured): rebuilding the index would lose the original modules.
    pub dep_bin_without_text: Option<String>,
    /// The initramfs-tools `conf/modules` file, when captured.
    pub conf_modules: Option<Vec<u8>>,
    /// The text `modules.alias`, when the initramfs has it (then `modules.alias.bin` is
    /// rebuilt with the new modules' aliases, for udev's autoloading).
    pub aliases: Option<String>,
    /// The initramfs's [`MODULES_LOAD`] file (from an earlier run), when captured.
    pub modules_load: Option<Vec<u8>>,
}

/// The files whose content [`Existing::from_listing`] needs (for `list_capturing`).
pub fn wanted(kver: &str) -> impl Fn(&str) -> bool + '_ {
    move |p: &str| {
        p == CONF_MODULES
            || p == MODULES_LOAD
            || ["usr/lib/modules", "lib/modules"].iter().any(|pre| {
                let rest = p.strip_prefix(pre).and_then(|r| r.strip_prefix('/'));
                rest == Some(&format!("{kver}/modules.dep"))
                    || rest == Some(&format!("{kver}/modules.alias"))
            })
    }
}

impl Existing {
    /// What the initramfs `l` of kernel `kver` holds.
    pub fn from_listing(l: &Listing, kver: &str) -> Self {
        let usr = format!("usr/lib/modules/{kver}");
        let prefix = if l
            .files
            .iter()
            .any(|f| f == &usr || f.starts_with(&format!("{usr}/")))
        {
            "usr/lib/modules"
        } else {
            "lib/modules"
        };
        let dep_path = format!("{prefix}/{kver}/modules.dep");
        let dep = l.content(&dep_path);
        let dep_bin_without_text = (dep.is_none()
            && l.files.iter().any(|f| *f == format!("{dep_path}.bin")))
        .then(|| dep_path.clone());
        let dep = dep
            .map(|d| String::from_utf8_lossy(d).into_owned())
            .unwrap_or_default();
        let dep_lines: Vec<(String, String)> = dep
            .lines()
            .filter_map(|line| {
                let path = line.split(':').next()?;
                Some((module_name(path)?, line.to_string()))
            })
            .collect();
        let mut present: BTreeSet<String> = l.modules().into_iter().collect();
        present.extend(dep_lines.iter().map(|(n, _)| n.clone()));
        Existing {
            prefix: prefix.to_string(),
            dep_lines,
            present,
            dep_bin_without_text,
            conf_modules: l.content(CONF_MODULES).map(<[u8]>::to_vec),
            aliases: l
                .content(&format!("{prefix}/{kver}/modules.alias"))
                .map(|a| String::from_utf8_lossy(a).into_owned()),
            modules_load: l.content(MODULES_LOAD).map(<[u8]>::to_vec),
        }
    }
}

/// Where a module file is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A file of the host (a `modules_dir` the user named).
    Host(PathBuf),
    /// A file of the guest (`/usr/lib/modules/<kver>/kernel/…`).
    Guest(String),
}

/// A module file found in the host folder or in the guest.
#[derive(Debug, Clone)]
pub struct Found {
    /// The module's name.
    pub name: String,
    /// Where its file is.
    pub source: Source,
}

impl Found {
    /// The file, for messages.
    pub fn shown(&self) -> String {
        match &self.source {
            Source::Host(p) => p.display().to_string(),
            Source::Guest(p) => p.clone(),
        }
    }
    /// The file name (`virtio_blk.ko.xz`).
    pub fn file_name(&self) -> Option<String> {
        match &self.source {
            Source::Host(p) => p.file_name().map(|s| s.to_string_lossy().into_owned()),
            Source::Guest(p) => p.rsplit('/').next().map(str::to_string),
        }
    }
}

/// Reads a module's bytes (at most [`MAX_MODULE`]).
pub type Load<'a> = &'a dyn Fn(&Found) -> Result<Vec<u8>, DriverError>;

/// [`Load`] for host files.
pub fn load_host(f: &Found) -> Result<Vec<u8>, DriverError> {
    let shown = f.shown();
    let Source::Host(p) = &f.source else {
        return Err(DriverError::Io {
            path: shown,
            reason: "not a host file".into(),
        });
    };
    let io = |e: std::io::Error| DriverError::Io {
        path: shown.clone(),
        reason: e.to_string(),
    };
    if std::fs::metadata(p).map_err(io)?.len() > MAX_MODULE {
        return Err(DriverError::Modinfo {
            path: shown.clone(),
            error: ModinfoError::TooLarge(MAX_MODULE),
        });
    }
    std::fs::read(p).map_err(io)
}

/// The modules of a guest kernel, from its own `modules.dep` (`dir` is
/// `/usr/lib/modules/<kver>` or `/lib/modules/<kver>`): module name → file.
pub fn scan_guest_dep(
    dir: &str,
    modules_dep: &str,
) -> Result<BTreeMap<String, Found>, DriverError> {
    let mut out = BTreeMap::new();
    for (i, line) in modules_dep.lines().take(MAX_SCAN).enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        // `path: dep dep …`, the path relative to the kernel's modules folder: anything else
        // means the file is not what depmod writes, and nothing is taken from it
        let rel = line.split(':').next().map(str::trim).unwrap_or("");
        let name = module_name(rel);
        if !line.contains(':')
            || rel.is_empty()
            || rel.starts_with('/')
            || rel.split('/').any(|c| c == "..")
            || name.is_none()
        {
            return Err(DriverError::CorruptModulesDep {
                path: format!("{dir}/modules.dep"),
                line: i + 1,
            });
        }
        let Some(name) = name else { continue };
        out.entry(name.clone()).or_insert(Found {
            name,
            source: Source::Guest(format!("{dir}/{rel}")),
        });
    }
    Ok(out)
}

/// The modules of a host folder: `<dir>/<kver>/**` when that exists, else `<dir>/**`. First
/// path in sorted order wins for a name.
pub fn scan(dir: &Path, kver: &str) -> Result<BTreeMap<String, Found>, DriverError> {
    let root = if dir.join(kver).is_dir() {
        dir.join(kver)
    } else {
        dir.to_path_buf()
    };
    let io = |p: &Path, e: std::io::Error| DriverError::Io {
        path: p.display().to_string(),
        reason: e.to_string(),
    };
    let mut paths = Vec::new();
    let mut stack = vec![(root.clone(), 0usize)];
    while let Some((d, depth)) = stack.pop() {
        for e in std::fs::read_dir(&d).map_err(|e| io(&d, e))? {
            let e = e.map_err(|e| io(&d, e))?;
            if paths.len() >= MAX_SCAN {
                break;
            }
            let p = e.path();
            // Directories are not followed through symlinks (no loops); files may be links.
            let ft = e.file_type().map_err(|e| io(&p, e))?;
            if ft.is_dir() {
                if depth < MAX_DEPTH {
                    stack.push((p, depth + 1));
                }
            } else if std::fs::metadata(&p).map_err(|e| io(&p, e))?.is_file() {
                paths.push(p);
            }
        }
    }
    paths.sort();
    let mut out = BTreeMap::new();
    for p in paths {
        let Some(name) = p.to_str().and_then(module_name) else {
            continue;
        };
        out.entry(name.clone()).or_insert(Found {
            name,
            source: Source::Host(p),
        });
    }
    Ok(out)
}

/// A module to add.
struct Added {
    name: String,
    /// File name (`x.ko`, `x.ko.xz` …).
    file: String,
    data: Vec<u8>,
    /// Direct dependencies (module names).
    deps: Vec<String>,
    aliases: Vec<String>,
}

/// kmod's `modules.alias.bin` for a `modules.alias` text (`alias PATTERN MODULE` lines): keys
/// are the patterns normalised as depmod does (`-` → `_` outside brackets), values the module
/// names, priorities the module's place in `module_order` (the modules.dep order, as depmod's
/// module index). Lines that are not aliases of a known module are skipped.
pub fn alias_index(text: &str, module_order: &[String]) -> Result<Vec<u8>, DriverError> {
    let mut idx = Index::new();
    for line in text.lines() {
        let mut f = line.split_whitespace();
        let (Some("alias"), Some(pat), Some(module)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        let Some(prio) = module_order.iter().position(|m| m == module) else {
            continue;
        };
        let Some(key) = normalize_alias(pat) else {
            continue;
        };
        // depmod skips (with a warning) what kmod cannot index; so do we.
        if idx
            .insert(&key, module, u32::try_from(prio).unwrap_or(u32::MAX))
            .is_err()
        {
            continue;
        }
    }
    Ok(idx.to_bytes()?)
}

/// kmod's alias_normalize: `-` becomes `_` except inside `[...]`; an unbalanced bracket is
/// refused.
fn normalize_alias(a: &str) -> Option<String> {
    let mut out = String::with_capacity(a.len());
    let mut in_class = false;
    for c in a.chars() {
        match c {
            '[' if !in_class => in_class = true,
            ']' if in_class => in_class = false,
            ']' => return None,
            '-' if !in_class => {
                out.push('_');
                continue;
            }
            _ => {}
        }
        out.push(c);
    }
    (!in_class).then_some(out)
}

/// The archive to append and what it holds.
#[derive(Debug, Clone)]
pub struct Injection {
    /// The newc cpio archive to append, uncompressed (the planner compresses it like the
    /// initramfs's last archive).
    pub archive: Vec<u8>,
    /// Modules added: the ones asked for, then the dependencies pulled in.
    pub modules: Vec<String>,
    /// Paths in the archive (directories end in `/`).
    pub files: Vec<String>,
}

/// Build the archive adding `names` (module names, `_` or `-`) for kernel `kver`, from the
/// modules in `found` (read through `load`), on top of `existing`. Names already present are skipped; every
/// name must be in `found`.
pub fn build(
    existing: &Existing,
    kver: &str,
    names: &[String],
    found: &BTreeMap<String, Found>,
    load: Load,
    mtime: u32,
) -> Result<Injection, DriverError> {
    if let Some(p) = &existing.dep_bin_without_text {
        return Err(DriverError::NoModulesDep(p.clone()));
    }
    // Resolve the modules and their dependencies, breadth first.
    let mut queue: Vec<String> = names
        .iter()
        .map(|n| n.replace('-', "_"))
        .filter(|n| !existing.present.contains(n))
        .collect();
    let requested: Vec<String> = queue.clone();
    let mut added: Vec<Added> = Vec::new();
    let mut total = 0u64;
    let mut i = 0;
    while let Some(name) = queue.get(i).cloned() {
        i += 1;
        if added.iter().any(|a| a.name == name) {
            continue;
        }
        let f = found
            .get(&name)
            .ok_or_else(|| DriverError::NotInFolder(name.clone()))?;
        let shown = f.shown();
        let data = load(f)?;
        if data.len() as u64 > MAX_MODULE {
            return Err(DriverError::Modinfo {
                path: shown,
                error: ModinfoError::TooLarge(MAX_MODULE),
            });
        }
        total += data.len() as u64;
        if total > MAX_ADDED {
            return Err(DriverError::TooLarge(MAX_ADDED));
        }
        let info = modinfo::read(&data).map_err(|error| DriverError::Modinfo {
            path: shown.clone(),
            error,
        })?;
        let Some(vermagic) = info.vermagic.clone() else {
            return Err(DriverError::NoVermagic {
                module: name,
                path: shown,
            });
        };
        let built_for = info.kernel_release().unwrap_or_default().to_string();
        if built_for != kver {
            return Err(DriverError::Vermagic {
                module: name,
                path: shown,
                vermagic,
                built_for,
                kernel: kver.to_string(),
            });
        }
        let deps: Vec<String> = info.depends.iter().map(|d| d.replace('-', "_")).collect();
        for d in &deps {
            if !existing.present.contains(d) && !queue.contains(d) {
                if !found.contains_key(d) {
                    return Err(DriverError::MissingDependency {
                        module: name,
                        dependency: d.clone(),
                    });
                }
                queue.push(d.clone());
            }
        }
        let file = f.file_name().unwrap_or_else(|| format!("{name}.ko"));
        added.push(Added {
            name,
            file,
            data,
            deps,
            aliases: info.aliases,
        });
    }

    // modules.dep: paths relative to <prefix>/<kver>/.
    let mut path_of: BTreeMap<String, String> = BTreeMap::new();
    let mut deps_of: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (n, line) in &existing.dep_lines {
        let (p, d) = line.split_once(':').unwrap_or((line, ""));
        path_of.insert(n.clone(), p.trim().to_string());
        deps_of.insert(
            n.clone(),
            d.split_whitespace().map(str::to_string).collect(),
        );
    }
    for a in &added {
        path_of.insert(a.name.clone(), format!("{UPDATES_DIR}/{}", a.file));
    }
    let mut lines: Vec<(String, String)> = existing.dep_lines.clone();
    for Added { name: n, deps, .. } in &added {
        // Every module needed, transitively (existing lines are already transitive).
        let mut all: Vec<String> = Vec::new();
        let mut todo: Vec<String> = deps.clone();
        let mut j = 0;
        while let Some(d) = todo.get(j).cloned() {
            j += 1;
            let Some(p) = path_of.get(&d) else { continue };
            if all.contains(p) {
                continue;
            }
            all.push(p.clone());
            if let Some(more) = deps_of.get(&d) {
                all.extend(
                    more.iter()
                        .filter(|m| !all.contains(m))
                        .cloned()
                        .collect::<Vec<_>>(),
                );
            } else if let Some(a) = added.iter().find(|a| a.name == d) {
                todo.extend(a.deps.iter().cloned());
            }
        }
        let mut line = format!("{}:", path_of.get(n).cloned().unwrap_or_default());
        for p in &all {
            line.push(' ');
            line.push_str(p);
        }
        lines.retain(|(x, _)| x != n);
        lines.push((n.clone(), line));
    }
    let mut dep_text = String::new();
    let mut index = Index::new();
    for (prio, (n, line)) in lines.iter().enumerate() {
        dep_text.push_str(line);
        dep_text.push('\n');
        index.insert(n, line, u32::try_from(prio).unwrap_or(u32::MAX))?;
    }

    let base = format!("{}/{kver}", existing.prefix);
    let mut w = CpioWriter::new(mtime);
    for a in &added {
        w.file(&format!("{base}/{UPDATES_DIR}/{}", a.file), 0o644, &a.data);
    }
    w.file(&format!("{base}/modules.dep"), 0o644, dep_text.as_bytes());
    w.file(
        &format!("{base}/modules.dep.bin"),
        0o644,
        &index.to_bytes()?,
    );
    // modules.alias(.bin): the original aliases, then the new modules' ones.
    if let Some(orig) = &existing.aliases {
        if added.iter().any(|a| !a.aliases.is_empty()) {
            let mut text = orig.clone();
            if !text.is_empty() && !text.ends_with('\n') {
                text.push('\n');
            }
            for a in &added {
                for al in &a.aliases {
                    text.push_str(&format!("alias {al} {}\n", a.name));
                }
            }
            let order: Vec<String> = lines.iter().map(|(n, _)| n.clone()).collect();
            w.file(&format!("{base}/modules.alias"), 0o644, text.as_bytes());
            w.file(
                &format!("{base}/modules.alias.bin"),
                0o644,
                &alias_index(&text, &order)?,
            );
        }
    }
    let load_list = |orig: Option<&Vec<u8>>| -> Vec<u8> {
        let mut t = orig
            .map(|o| String::from_utf8_lossy(o).into_owned())
            .unwrap_or_default();
        if !t.is_empty() && !t.ends_with('\n') {
            t.push('\n');
        }
        for n in &requested {
            if !t.lines().any(|l| l.trim().replace('-', "_") == *n) {
                t.push_str(n);
                t.push('\n');
            }
        }
        t.into_bytes()
    };
    w.file(
        CONF_MODULES,
        0o644,
        &load_list(existing.conf_modules.as_ref()),
    );
    w.file(
        MODULES_LOAD,
        0o644,
        &load_list(existing.modules_load.as_ref()),
    );
    let files = w.paths().to_vec();
    Ok(Injection {
        archive: w.finish(),
        modules: added.into_iter().map(|a| a.name).collect(),
        files,
    })
}

/// The archive as appended after an initramfs whose last archive uses `last_compression`:
/// compressed the same way for gzip and zstd — the kernel unpacks concatenated compressed
/// members, and initramfs-tools' `lsinitramfs`/`unmkinitramfs` (which test and decompress
/// everything after the leading plain archives as one stream) keep working, where plain data
/// after a compressed member makes them fail — plain otherwise. Returns the bytes and the
/// compression used.
pub fn wrap(archive: &[u8], last_compression: &str) -> (Vec<u8>, &'static str) {
    use std::io::Write;
    match last_compression {
        "gzip" => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            match e.write_all(archive).and_then(|()| e.finish()) {
                Ok(v) => (v, "gzip"),
                Err(_) => (archive.to_vec(), "none"),
            }
        }
        "zstd" => (
            ruzstd::encoding::compress_to_vec(archive, ruzstd::encoding::CompressionLevel::Fastest),
            "zstd",
        ),
        _ => (archive.to_vec(), "none"),
    }
}

#[cfg(test)]
mod guest_dep_tests {
    use super::*;

    /// Issue 26: the guest's own modules.dep names the module files; a file that is not what
    /// depmod writes is refused with its line, and nothing is taken from it.
    #[test]
    fn guest_modules_dep() {
        let dir = "/usr/lib/modules/6.1.0-50-amd64";
        let dep = "kernel/drivers/block/virtio_blk.ko.xz: kernel/drivers/virtio/virtio_ring.ko.xz\n\
                   kernel/drivers/nvme/host/nvme-core.ko:\n\n";
        let m = scan_guest_dep(dir, dep).unwrap();
        assert_eq!(
            m.get("virtio_blk").map(|f| &f.source),
            Some(&Source::Guest(format!(
                "{dir}/kernel/drivers/block/virtio_blk.ko.xz"
            )))
        );
        assert_eq!(
            m.get("nvme_core").and_then(Found::file_name).as_deref(),
            Some("nvme-core.ko")
        );
        for bad in [
            "garbage without a colon\n",
            "/abs/path.ko:\n",
            "../../etc/shadow.ko:\n",
            "kernel/x.txt:\n",
        ] {
            assert!(
                matches!(
                    scan_guest_dep(dir, &format!("{dep}{bad}")),
                    Err(DriverError::CorruptModulesDep { line: 4, .. })
                ),
                "{bad}"
            );
        }
    }
}
