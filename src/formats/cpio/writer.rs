//! A cpio "newc" (magic `070701`) archive writer, for the archive that driver injection (MOD-L1)
//! appends to an initramfs: 110-byte ASCII-hex headers, names and data padded to 4 bytes,
//! parent directories written before their entries, a `TRAILER!!!` entry, and the whole padded
//! with zeros to 512 bytes as GNU cpio does (the kernel skips zeros between archives).

use std::collections::BTreeSet;

const S_IFDIR: u32 = 0o040000;
const S_IFREG: u32 = 0o100000;

/// Builds one archive in memory.
#[derive(Debug, Clone)]
pub struct CpioWriter {
    out: Vec<u8>,
    mtime: u32,
    ino: u32,
    dirs: BTreeSet<String>,
    paths: Vec<String>,
}

impl CpioWriter {
    /// Every entry gets `mtime` (seconds since the epoch; SOURCE_DATE_EPOCH for reproducible
    /// plans), uid and gid 0.
    pub fn new(mtime: u32) -> Self {
        CpioWriter {
            out: Vec::new(),
            mtime,
            ino: 0,
            dirs: BTreeSet::new(),
            paths: Vec::new(),
        }
    }

    fn entry(&mut self, name: &str, mode: u32, nlink: u32, data: &[u8]) {
        if mode != 0 {
            self.ino += 1;
        }
        let namesize = name.len() + 1;
        let fields = [
            self.ino,
            mode,
            0,
            0,
            nlink,
            self.mtime,
            u32::try_from(data.len()).unwrap_or(u32::MAX),
            0,
            0,
            0,
            0,
            u32::try_from(namesize).unwrap_or(u32::MAX),
            0,
        ];
        self.out.extend_from_slice(b"070701");
        for f in fields {
            self.out.extend_from_slice(format!("{f:08X}").as_bytes());
        }
        self.out.extend_from_slice(name.as_bytes());
        self.out.push(0);
        self.pad(4);
        self.out.extend_from_slice(data);
        self.pad(4);
    }

    fn pad(&mut self, to: usize) {
        let n = self.out.len().next_multiple_of(to) - self.out.len();
        self.out.resize(self.out.len() + n, 0);
    }

    /// A directory (mode 0755) and, first, its parents; each is written once.
    pub fn dir(&mut self, path: &str) {
        let path = path.trim_matches('/');
        if path.is_empty() || self.dirs.contains(path) {
            return;
        }
        if let Some((parent, _)) = path.rsplit_once('/') {
            self.dir(parent);
        }
        self.dirs.insert(path.to_string());
        self.entry(path, S_IFDIR | 0o755, 2, &[]);
        self.paths.push(format!("{path}/"));
    }

    /// A regular file with permission bits `perm` (e.g. 0o644), after its parent directories.
    /// Files larger than 4 GiB cannot be stored in newc and are the caller's to refuse.
    pub fn file(&mut self, path: &str, perm: u32, data: &[u8]) {
        let path = path.trim_matches('/');
        if let Some((parent, _)) = path.rsplit_once('/') {
            self.dir(parent);
        }
        self.entry(path, S_IFREG | (perm & 0o7777), 1, data);
        self.paths.push(path.to_string());
    }

    /// Every path written so far, in order (directories with a trailing `/`), for the audit.
    pub fn paths(&self) -> &[String] {
        &self.paths
    }

    /// The archive with its trailer.
    pub fn finish(mut self) -> Vec<u8> {
        // The trailer carries no inode number or time, as GNU cpio writes it.
        self.ino = 0;
        self.mtime = 0;
        self.entry("TRAILER!!!", 0, 1, &[]);
        self.pad(512);
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guest::linux::initramfs::{Capture, Limits, list_capturing};

    #[test]
    fn round_trip_through_our_reader() {
        let mut w = CpioWriter::new(1_700_000_000);
        w.file("usr/lib/modules/6.1.0/updates/a.ko", 0o644, b"abc");
        w.file(
            "usr/lib/modules/6.1.0/modules.dep",
            0o644,
            b"updates/a.ko:\n",
        );
        w.file("conf/modules", 0o644, b"");
        assert_eq!(
            w.paths(),
            [
                "usr/",
                "usr/lib/",
                "usr/lib/modules/",
                "usr/lib/modules/6.1.0/",
                "usr/lib/modules/6.1.0/updates/",
                "usr/lib/modules/6.1.0/updates/a.ko",
                "usr/lib/modules/6.1.0/modules.dep",
                "conf/",
                "conf/modules",
            ]
        );
        let a = w.finish();
        assert_eq!(a.len() % 512, 0);
        assert!(a.starts_with(b"070701"));
        let all = |_: &str| true;
        let cap = Capture {
            wanted: &all,
            max_file: 100,
            max_total: 1000,
        };
        let l = list_capturing(&a, &Limits::default(), Some(&cap)).unwrap();
        assert_eq!(l.archives.len(), 1);
        assert_eq!(l.files.len(), 9);
        assert_eq!(
            l.content("usr/lib/modules/6.1.0/updates/a.ko"),
            Some(&b"abc"[..])
        );
        assert_eq!(l.content("conf/modules"), Some(&b""[..]));
        assert_eq!(l.modules(), ["a"]);
    }
}
