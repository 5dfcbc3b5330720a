//! FAT writer for the EFI system partition (issue #8): create directories and files (e.g.
//! `EFI/BOOT/BOOTX64.EFI`), replace a file's content, copy a file to a backup name (MOD §7:
//! keep the original under a new name), read a file back. Built on the `fatfs` crate through an
//! adapter that gives it `Read + Write + Seek` over a [`WritableDev`].
//!
//! Workaround: `fatfs` 0.3 `create_dir` writes the new directory's `.` and `..` entries each
//! preceded by a long-file-name entry, which `fsck.fat -n` rejects. The adapter records the
//! offsets `fatfs` writes to; after each `create_dir` the writer finds the new directory's first
//! cluster among them (the pattern LFN, `.`, LFN, `..`), rewrites it as `.`, `..` and an end
//! marker, and points `..` at cluster 0 when the parent is the root directory (as the FAT
//! specification and fsck.fat want).
//!
//! Every operation mounts, works and unmounts (FSInfo and the dirty flag are written back). A
//! panic inside `fatfs` on a hostile image is caught and reported as
//! [`FatWriteError::Corrupt`].

use crate::block::WritableDev;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::sync::{Arc, Mutex};

/// Largest file [`FatWriter::read_file`] returns.
pub const MAX_READ_BYTES: u64 = 1 << 30;

#[derive(Debug, thiserror::Error)]
/// Errors of the FAT writer.
pub enum FatWriteError {
    #[error("{context}: {source}")]
    /// A read or write of the volume failed.
    Io {
        /// What was being done.
        context: String,
        #[source]
        /// The I/O error.
        source: io::Error,
    },
    #[error("{0}: invalid path (absolute, '/'-separated, no '.' or '..' or empty components)")]
    /// The path is not absolute, `/`-separated, without `.`, `..` or empty parts.
    InvalidPath(String),
    #[error("{0}: no such file or directory")]
    /// No such file or directory.
    NotFound(String),
    #[error("{0}: not a regular file")]
    /// Not a regular file.
    NotAFile(String),
    #[error("{0}: already exists")]
    /// The file to create exists.
    AlreadyExists(String),
    #[error("{path}: file is {size} bytes, more than the {limit}-byte limit")]
    /// A file is larger than the bound.
    TooLarge {
        /// The file.
        path: String,
        /// Its size in bytes.
        size: u64,
        /// The bound in bytes.
        limit: u64,
    },
    #[error("fat: corrupt: {0}")]
    /// The volume is corrupt (what was found).
    Corrupt(String),
    #[error("fat: unsupported: {0}")]
    /// The volume or operation is not supported (which).
    Unsupported(String),
}

/// `Read + Write + Seek` over a device, recording where it writes.
struct DevIo {
    dev: Arc<dyn WritableDev>,
    pos: u64,
    writes: Arc<Mutex<Vec<u64>>>,
}

fn to_io(e: crate::block::BlockError) -> io::Error {
    io::Error::other(e.to_string())
}

impl Read for DevIo {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let len = self.dev.len();
        if self.pos >= len {
            return Ok(0);
        }
        let n = (buf.len() as u64).min(len - self.pos) as usize;
        let dst = buf.get_mut(..n).unwrap_or(&mut []);
        self.dev.read_at(self.pos, dst).map_err(to_io)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl Write for DevIo {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.dev.write_at(self.pos, buf).map_err(to_io)?;
        if let Ok(mut w) = self.writes.lock() {
            w.push(self.pos);
        }
        self.pos += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        self.dev.flush().map_err(to_io)
    }
}

impl Seek for DevIo {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        let len = self.dev.len() as i128;
        let new = match pos {
            SeekFrom::Start(p) => i128::from(p),
            SeekFrom::End(d) => len + i128::from(d),
            SeekFrom::Current(d) => i128::from(self.pos) + i128::from(d),
        };
        if new < 0 || new > len {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "seek outside the device",
            ));
        }
        self.pos = new as u64;
        Ok(self.pos)
    }
}

type Fs<'a> = fatfs::FileSystem<&'a mut DevIo>;
type FatDir<'a, 'b> = fatfs::Dir<'b, &'a mut DevIo>;

fn io_err(context: &str) -> impl FnOnce(io::Error) -> FatWriteError + '_ {
    move |source| FatWriteError::Io {
        context: context.to_string(),
        source,
    }
}

fn components(path: &str) -> Result<Vec<&str>, FatWriteError> {
    if !path.starts_with('/') {
        return Err(FatWriteError::InvalidPath(path.into()));
    }
    let comps: Vec<&str> = path.split('/').filter(|c| !c.is_empty()).collect();
    if comps
        .iter()
        .any(|c| *c == "." || *c == ".." || c.contains('\\') || c.len() > 255)
    {
        return Err(FatWriteError::InvalidPath(path.into()));
    }
    Ok(comps)
}

/// A FAT12/16/32 filesystem on a writable device (a partition slice).
pub struct FatWriter {
    dev: Arc<dyn WritableDev>,
}

impl FatWriter {
    /// Check that the device holds a FAT filesystem `fatfs` can mount.
    pub fn open(dev: Arc<dyn WritableDev>) -> Result<Self, FatWriteError> {
        let w = FatWriter { dev };
        w.with_fs(|_, _| Ok(()))?;
        Ok(w)
    }

    fn with_fs<R>(
        &self,
        f: impl FnOnce(&Fs<'_>, &Arc<Mutex<Vec<u64>>>) -> Result<R, FatWriteError>,
    ) -> Result<R, FatWriteError> {
        let writes = Arc::new(Mutex::new(Vec::new()));
        let mut io = DevIo {
            dev: self.dev.clone(),
            pos: 0,
            writes: writes.clone(),
        };
        let res = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let fs = fatfs::FileSystem::new(&mut io, fatfs::FsOptions::new())
                .map_err(io_err("mounting FAT filesystem"))?;
            let r = f(&fs, &writes)?;
            fs.unmount().map_err(io_err("unmounting FAT filesystem"))?;
            Ok(r)
        }));
        match res {
            Ok(r) => r,
            Err(_) => Err(FatWriteError::Corrupt(
                "the FAT library failed on this image".into(),
            )),
        }
    }

    /// Create every missing directory of `path` (like `mkdir -p`).
    pub fn create_dir_all(&self, path: &str) -> Result<(), FatWriteError> {
        let comps = components(path)?;
        let dev = self.dev.clone();
        self.with_fs(|fs, writes| {
            let mut dir = fs.root_dir();
            for (k, c) in comps.iter().enumerate() {
                dir = open_or_create_dir(&dev, fs, dir, c, k == 0, writes)?;
            }
            Ok(())
        })
    }

    /// Create or replace the file at `path` with `data`; its directory must exist.
    pub fn write_file(&self, path: &str, data: &[u8]) -> Result<(), FatWriteError> {
        let comps = components(path)?;
        let Some((name, parents)) = comps.split_last() else {
            return Err(FatWriteError::InvalidPath(path.into()));
        };
        self.with_fs(|fs, _| {
            let dir = walk(fs, parents, path)?;
            if let Some(e) = find(&dir, name)?
                && e.is_dir()
            {
                return Err(FatWriteError::NotAFile(path.into()));
            }
            let mut file = dir.create_file(name).map_err(io_err(path))?;
            file.truncate().map_err(io_err(path))?;
            file.write_all(data).map_err(io_err(path))?;
            file.flush().map_err(io_err(path))?;
            Ok(())
        })
    }

    /// Copy the file at `path` to `backup_name` in the same directory (refusing to overwrite).
    pub fn backup_file(&self, path: &str, backup_name: &str) -> Result<(), FatWriteError> {
        let data = self.read_file(path, MAX_READ_BYTES)?;
        let comps = components(path)?;
        let parents = comps.split_last().map(|(_, p)| p).unwrap_or(&[]);
        let mut bpath = String::new();
        for p in parents {
            bpath.push('/');
            bpath.push_str(p);
        }
        bpath.push('/');
        bpath.push_str(backup_name);
        components(&bpath)?;
        if self.exists(&bpath)? {
            return Err(FatWriteError::AlreadyExists(bpath));
        }
        self.write_file(&bpath, &data)
    }

    /// Whether `path` exists (case-insensitively, as FAT compares names).
    pub fn exists(&self, path: &str) -> Result<bool, FatWriteError> {
        let comps = components(path)?;
        let Some((name, parents)) = comps.split_last() else {
            return Ok(true);
        };
        self.with_fs(|fs, _| match walk(fs, parents, path) {
            Ok(d) => Ok(find(&d, name)?.is_some()),
            Err(FatWriteError::NotFound(_)) => Ok(false),
            Err(e) => Err(e),
        })
    }

    /// The content of the file at `path`, refusing files over `limit` bytes.
    pub fn read_file(&self, path: &str, limit: u64) -> Result<Vec<u8>, FatWriteError> {
        let comps = components(path)?;
        let Some((name, parents)) = comps.split_last() else {
            return Err(FatWriteError::NotAFile(path.into()));
        };
        self.with_fs(|fs, _| {
            let dir = walk(fs, parents, path)?;
            let e = find(&dir, name)?.ok_or_else(|| FatWriteError::NotFound(path.into()))?;
            if !e.is_file() {
                return Err(FatWriteError::NotAFile(path.into()));
            }
            if e.len() > limit {
                return Err(FatWriteError::TooLarge {
                    path: path.into(),
                    size: e.len(),
                    limit,
                });
            }
            let mut out = Vec::with_capacity(e.len() as usize);
            e.to_file()
                .take(limit)
                .read_to_end(&mut out)
                .map_err(io_err(path))?;
            Ok(out)
        })
    }
}

fn find<'a, 'b>(
    dir: &FatDir<'a, 'b>,
    name: &str,
) -> Result<Option<fatfs::DirEntry<'b, &'a mut DevIo>>, FatWriteError> {
    for e in dir.iter() {
        let e = e.map_err(io_err(name))?;
        let n = e.file_name();
        if n.eq_ignore_ascii_case(name) || e.short_file_name().eq_ignore_ascii_case(name) {
            return Ok(Some(e));
        }
    }
    Ok(None)
}

fn walk<'a, 'b>(
    fs: &'b Fs<'a>,
    parents: &[&str],
    path: &str,
) -> Result<FatDir<'a, 'b>, FatWriteError> {
    let mut dir = fs.root_dir();
    for c in parents {
        match find(&dir, c)? {
            Some(e) if e.is_dir() => dir = e.to_dir(),
            _ => return Err(FatWriteError::NotFound(path.into())),
        }
    }
    Ok(dir)
}

fn open_or_create_dir<'a, 'b>(
    dev: &Arc<dyn WritableDev>,
    _fs: &'b Fs<'a>,
    dir: FatDir<'a, 'b>,
    name: &str,
    parent_is_root: bool,
    writes: &Arc<Mutex<Vec<u64>>>,
) -> Result<FatDir<'a, 'b>, FatWriteError> {
    if let Some(e) = find(&dir, name)? {
        if e.is_dir() {
            return Ok(e.to_dir());
        }
        return Err(FatWriteError::AlreadyExists(name.into()));
    }
    if let Ok(mut w) = writes.lock() {
        w.clear();
    }
    let new = dir.create_dir(name).map_err(io_err(name))?;
    let offsets: Vec<u64> = writes.lock().map(|w| w.clone()).unwrap_or_default();
    fix_dot_entries(dev, &offsets, parent_is_root)?;
    Ok(new)
}

/// Rewrite `[LFN, ".", LFN, ".."]` (as fatfs lays them out) to `[".", "..", end]`.
fn fix_dot_entries(
    dev: &Arc<dyn WritableDev>,
    offsets: &[u64],
    parent_is_root: bool,
) -> Result<(), FatWriteError> {
    let ctx = "fixing '.'/'..' of a new directory";
    for &o in offsets {
        let mut b = [0u8; 128];
        if dev.read_at(o, &mut b).is_err() {
            continue;
        }
        let (e0, rest) = b.split_at_mut(32);
        let (e1, rest) = rest.split_at_mut(32);
        let (e2, e3) = rest.split_at_mut(32);
        let is_lfn = |e: &[u8]| e.get(11) == Some(&0x0F);
        let is_named = |e: &[u8], n: &[u8; 11]| {
            e.get(..11) == Some(&n[..]) && e.get(11).is_some_and(|a| a & 0x10 != 0)
        };
        if is_lfn(e0) && is_named(e1, b".          ") && is_lfn(e2) && is_named(e3, b"..         ")
        {
            let mut out = [0u8; 128];
            out[..32].copy_from_slice(e1);
            out[32..64].copy_from_slice(e3);
            if parent_is_root {
                // `..` of a directory in the root points at cluster 0 (hi at 20, lo at 26).
                out[32 + 20..32 + 22].fill(0);
                out[32 + 26..32 + 28].fill(0);
            }
            dev.write_at(o, &out).map_err(|e| FatWriteError::Io {
                context: ctx.into(),
                source: to_io(e),
            })?;
            return Ok(());
        }
    }
    Err(FatWriteError::Corrupt(format!(
        "{ctx}: the new directory's entries were not found"
    )))
}
