//! A tiny read-only view of a guest's file tree, so that the Linux configuration parsers work on
//! file *contents* and do not depend on the block/volume/filesystem layers.
//!
//! Paths are guest-absolute (`/etc/os-release`). Symlinks are resolved inside the guest tree:
//! an absolute target is relative to the guest root and `..` never climbs above it, so a
//! hostile image cannot make a reader leave the guest tree.

use std::collections::BTreeMap;

/// Largest file the config parsers will read (config files are small; bounds allocation).
pub const MAX_CONFIG_FILE: u64 = 4 * 1024 * 1024;
/// Most directory entries returned by one `list`.
pub const MAX_DIR_ENTRIES: usize = 4096;
/// Most symlinks followed while resolving one path (like Linux's MAXSYMLINKS).
pub const MAX_SYMLINK_HOPS: usize = 40;

/// Read access to a guest file tree.
pub trait GuestFiles {
    /// The contents of a regular file (following symlinks inside the guest), or `None` when it
    /// does not exist, is not a regular file, or is larger than [`MAX_CONFIG_FILE`].
    fn read(&self, path: &str) -> Option<Vec<u8>>;
    /// The names (not paths) of a directory's entries, sorted; empty when not a directory.
    fn list(&self, dir: &str) -> Vec<String>;
    /// The target of `path` when `path` itself is a symlink.
    fn is_symlink(&self, path: &str) -> Option<String>;

    /// Like `read`, for files larger than config files (boot loaders, up to 64 MiB).
    fn read_large(&self, path: &str) -> Option<Vec<u8>> {
        self.read(path)
    }
    /// Like `read_large`, up to `max` bytes (an initramfs is read whole to be extended; it
    /// may be larger than 64 MiB).
    fn read_up_to(&self, path: &str, max: u64) -> Option<Vec<u8>> {
        self.read_large(path).filter(|b| b.len() as u64 <= max)
    }
    /// `read` as text (lossy UTF-8).
    fn read_string(&self, path: &str) -> Option<String> {
        self.read(path)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
    }
    /// `read_string`, but only for files up to `max` bytes (config files are small; a huge
    /// one is not kept in memory).
    fn read_small(&self, path: &str, max: usize) -> Option<String> {
        self.read(path)
            .filter(|b| b.len() <= max)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
    }
    /// Whether `path` resolves to a readable file.
    fn exists(&self, path: &str) -> bool {
        self.read(path).is_some() || !self.list(path).is_empty()
    }
}

/// Split a guest path into normal components (dropping `.` and empty parts).
fn components(path: &str) -> Vec<String> {
    path.split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .map(str::to_string)
        .collect()
}

/// Resolve `path` to a canonical component list, following symlinks with `readlink`
/// (which gets a canonical path and returns the link target if it is a symlink).
/// `follow_last` controls whether a symlink in the final component is followed.
fn resolve(
    path: &str,
    follow_last: bool,
    readlink: &dyn Fn(&[String]) -> Option<String>,
) -> Option<Vec<String>> {
    let mut done: Vec<String> = Vec::new();
    let mut todo: Vec<String> = components(path);
    todo.reverse();
    let mut hops = 0usize;
    while let Some(c) = todo.pop() {
        if c == ".." {
            done.pop();
            continue;
        }
        done.push(c);
        let last = todo.is_empty();
        if last && !follow_last {
            break;
        }
        if let Some(target) = readlink(&done) {
            hops += 1;
            if hops > MAX_SYMLINK_HOPS {
                return None;
            }
            done.pop();
            if target.starts_with('/') {
                done.clear();
            }
            let mut t = components(&target);
            t.reverse();
            todo.extend(t);
        }
    }
    Some(done)
}

/// An in-memory guest tree (tests, and files produced by a plan).
#[derive(Debug, Clone, Default)]
pub struct MemFiles {
    files: BTreeMap<String, Vec<u8>>,
    links: BTreeMap<String, String>,
}

fn canon(comps: &[String]) -> String {
    format!("/{}", comps.join("/"))
}

impl MemFiles {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }
    /// Add (or replace) a regular file.
    pub fn insert(&mut self, path: &str, data: impl Into<Vec<u8>>) -> &mut Self {
        self.files.insert(canon(&components(path)), data.into());
        self
    }
    /// Add a symlink `path` → `target`.
    pub fn symlink(&mut self, path: &str, target: &str) -> &mut Self {
        self.links
            .insert(canon(&components(path)), target.to_string());
        self
    }
    /// Remove a file or symlink (a planned rename's old name).
    pub fn remove(&mut self, path: &str) -> &mut Self {
        let k = canon(&components(path));
        self.files.remove(&k);
        self.links.remove(&k);
        self
    }
    fn readlink_comps(&self, comps: &[String]) -> Option<String> {
        self.links.get(&canon(comps)).cloned()
    }
}

impl GuestFiles for MemFiles {
    fn read(&self, path: &str) -> Option<Vec<u8>> {
        let comps = resolve(path, true, &|c| self.readlink_comps(c))?;
        self.files.get(&canon(&comps)).cloned()
    }

    fn list(&self, dir: &str) -> Vec<String> {
        let Some(comps) = resolve(dir, true, &|c| self.readlink_comps(c)) else {
            return Vec::new();
        };
        let prefix = if comps.is_empty() {
            "/".to_string()
        } else {
            format!("{}/", canon(&comps))
        };
        let mut names: Vec<String> = self
            .files
            .keys()
            .chain(self.links.keys())
            .filter_map(|k| k.strip_prefix(&prefix))
            .map(|rest| rest.split('/').next().unwrap_or(rest).to_string())
            .collect();
        names.sort();
        names.dedup();
        names.truncate(MAX_DIR_ENTRIES);
        names
    }

    fn is_symlink(&self, path: &str) -> Option<String> {
        let comps = resolve(path, false, &|c| self.readlink_comps(c))?;
        self.readlink_comps(&comps)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mem_symlinks_stay_inside_root() {
        let mut m = MemFiles::new();
        m.insert("/usr/lib/os-release", "ID=x\n")
            .symlink("/etc/os-release", "../usr/lib/os-release")
            .symlink("/etc/evil", "../../../../../usr/lib/os-release")
            .symlink("/etc/loop", "/etc/loop");
        assert_eq!(m.read("/etc/os-release").unwrap(), b"ID=x\n");
        // `..` above the root stays at the root
        assert_eq!(m.read("/etc/evil").unwrap(), b"ID=x\n");
        assert_eq!(m.read("/etc/loop"), None);
        assert_eq!(
            m.is_symlink("/etc/os-release").as_deref(),
            Some("../usr/lib/os-release")
        );
        assert_eq!(m.is_symlink("/usr/lib/os-release"), None);
        assert_eq!(m.list("/etc"), vec!["evil", "loop", "os-release"]);
        assert_eq!(m.list("/"), vec!["etc", "usr"]);
        m.remove("/etc/evil");
        assert_eq!(m.list("/etc"), vec!["loop", "os-release"]);
    }
}
