//! FAT12/16/32 reader over the `fatfs` crate. `fatfs` wants `Read + Write + Seek`; [`RoDev`]
//! gives it a read-only view of a [`BlockDev`] whose writes fail, so the image is never
//! changed. Names compare case-insensitively (long and short names). A `fatfs::FileSystem` is
//! not `Send` (it keeps `&'static dyn` converters without `Sync`), so one is built per
//! operation: that reads the boot sector (and FSInfo on FAT32), which is cheap.
//!
//! Bounds: at most [`MAX_DIR_ENTRIES`] entries are read from one directory (a cyclic cluster
//! chain would otherwise never end); file reads stop at the size in the directory entry.

use super::{DirEntry, DirtyState, FileType, Filesystem, FsError, FsInfo, FsKind, Metadata};
use crate::block::BlockDev;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::sync::Arc;

/// The most entries read from one directory (FAT allows 65536).
pub const MAX_DIR_ENTRIES: usize = 65536;

/// Bytes one [`RoDev`] may read before it fails (bounds a reader that loops over a cyclic
/// on-disk structure).
pub const READ_BUDGET: u64 = 1 << 30;

/// A read-only `Read + Write + Seek` over a device; writes fail with `PermissionDenied`.
/// Reads stop with an error after a budget of bytes (one `RoDev` serves one operation).
pub struct RoDev {
    dev: Arc<dyn BlockDev>,
    pos: u64,
    budget: u64,
}

impl RoDev {
    /// A reader over `dev` with the default budget ([`READ_BUDGET`]).
    pub fn new(dev: Arc<dyn BlockDev>) -> Self {
        Self::with_budget(dev, READ_BUDGET)
    }

    /// A reader over `dev` that fails after `budget` bytes.
    pub fn with_budget(dev: Arc<dyn BlockDev>, budget: u64) -> Self {
        RoDev {
            dev,
            pos: 0,
            budget,
        }
    }
}

impl Read for RoDev {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let len = self.dev.len();
        if self.pos >= len {
            return Ok(0);
        }
        let n = (len - self.pos).min(buf.len() as u64) as usize;
        if n as u64 > self.budget {
            return Err(io::Error::other(format!(
                "{}: read budget exhausted (a cycle in on-disk structures?)",
                self.dev.describe()
            )));
        }
        self.budget -= n as u64;
        self.dev
            .read_at(self.pos, &mut buf[..n])
            .map_err(io::Error::other)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl Write for RoDev {
    fn write(&mut self, _buf: &[u8]) -> io::Result<usize> {
        Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            "read-only device",
        ))
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Seek for RoDev {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        let new = match pos {
            SeekFrom::Start(o) => Some(o),
            SeekFrom::End(d) => self.dev.len().checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        match new {
            Some(n) => {
                self.pos = n;
                Ok(n)
            }
            None => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "seek out of range",
            )),
        }
    }
}

type Fat = fatfs::FileSystem<RoDev>;

/// A FAT filesystem.
pub struct FatFs {
    dev: Arc<dyn BlockDev>,
    info: FsInfo,
}

fn corrupt(what: &str, e: io::Error) -> FsError {
    FsError::Corrupt {
        fs: "vfat",
        structure: what.to_string(),
        reason: e.to_string(),
    }
}

fn lossy(p: &[u8]) -> String {
    String::from_utf8_lossy(p).into_owned()
}

fn unix_time(dt: fatfs::DateTime) -> i64 {
    crate::civil::days_from_civil(
        dt.date.year as i64,
        dt.date.month as i64,
        dt.date.day as i64,
    ) * 86400
        + dt.time.hour as i64 * 3600
        + dt.time.min as i64 * 60
        + dt.time.sec as i64
}

/// Case-insensitive name comparison as FAT does it.
pub(crate) fn name_eq_ci(a: &str, b: &str) -> bool {
    a == b || a.to_uppercase() == b.to_uppercase()
}

enum Found<'a> {
    Root,
    Entry(fatfs::DirEntry<'a, RoDev>),
}

impl FatFs {
    /// Open the FAT volume on `dev`.
    pub fn open(dev: Arc<dyn BlockDev>) -> Result<Self, FsError> {
        let fs = Self::mount(&dev)?;
        let stats = fs.stats().map_err(|e| corrupt("FAT", e))?;
        let label = fs
            .read_volume_label_from_root_dir()
            .ok()
            .flatten()
            .or_else(|| Some(fs.volume_label()))
            .map(|l| l.trim().to_string())
            .filter(|l| !l.is_empty() && l != "NO NAME");
        let id = fs.volume_id();
        let flags = fs
            .read_status_flags()
            .map_err(|e| corrupt("boot sector", e))?;
        let cs = stats.cluster_size();
        let info = FsInfo {
            kind: FsKind::Vfat,
            label,
            uuid: Some(format!("{:04X}-{:04X}", id >> 16, id & 0xffff)),
            block_size: cs,
            total_bytes: stats.total_clusters() as u64 * cs as u64,
            free_bytes: stats.free_clusters() as u64 * cs as u64,
            dirty: if flags.dirty() {
                DirtyState::Dirty {
                    detail: "FAT volume dirty bit is set (not cleanly unmounted)".into(),
                }
            } else {
                DirtyState::Clean
            },
        };
        drop(fs);
        Ok(FatFs { dev, info })
    }

    fn mount(dev: &Arc<dyn BlockDev>) -> Result<Fat, FsError> {
        Self::mount_budget(dev, READ_BUDGET)
    }

    fn mount_budget(dev: &Arc<dyn BlockDev>, budget: u64) -> Result<Fat, FsError> {
        fatfs::FileSystem::new(
            RoDev::with_budget(dev.clone(), budget),
            fatfs::FsOptions::new(),
        )
        .map_err(|e| corrupt("boot sector", e))
    }

    /// Entries of a directory, bounded.
    fn entries<'a>(
        dir: &fatfs::Dir<'a, RoDev>,
        path: &[u8],
    ) -> Result<Vec<fatfs::DirEntry<'a, RoDev>>, FsError> {
        let mut out = Vec::new();
        for e in dir.iter() {
            let e = e.map_err(|e| corrupt(&lossy(path), e))?;
            let n = e.file_name();
            if n == "." || n == ".." {
                continue;
            }
            if out.len() >= MAX_DIR_ENTRIES {
                return Err(FsError::Corrupt {
                    fs: "vfat",
                    structure: lossy(path),
                    reason: format!("directory has more than {MAX_DIR_ENTRIES} entries"),
                });
            }
            out.push(e);
        }
        Ok(out)
    }

    fn lookup<'a>(fs: &'a Fat, path: &[u8]) -> Result<Found<'a>, FsError> {
        let comps: Vec<&[u8]> = super::components(path).collect();
        if comps.is_empty() {
            return Ok(Found::Root);
        }
        let mut dir = fs.root_dir();
        let mut found = None;
        for (i, c) in comps.iter().enumerate() {
            let name = std::str::from_utf8(c).map_err(|_| FsError::NotFound(lossy(path)))?;
            let e = Self::entries(&dir, path)?
                .into_iter()
                .find(|e| {
                    name_eq_ci(&e.file_name(), name) || name_eq_ci(&e.short_file_name(), name)
                })
                .ok_or_else(|| FsError::NotFound(lossy(path)))?;
            if i + 1 < comps.len() {
                if !e.is_dir() {
                    return Err(FsError::NotADirectory(lossy(path)));
                }
                dir = e.to_dir();
            } else {
                found = Some(e);
            }
        }
        found
            .map(Found::Entry)
            .ok_or_else(|| FsError::NotFound(lossy(path)))
    }
}

impl Filesystem for FatFs {
    fn info(&self) -> FsInfo {
        self.info.clone()
    }

    fn stat(&self, path: &[u8]) -> Result<Metadata, FsError> {
        let fs = Self::mount(&self.dev)?;
        let md = match Self::lookup(&fs, path)? {
            Found::Root => Metadata {
                file_type: FileType::Directory,
                size: 0,
                mode: 0o040755,
                uid: 0,
                gid: 0,
                nlink: 1,
                mtime: 0,
                ino: super::ext4::path_id(b"/"),
            },
            Found::Entry(e) => {
                let dir = e.is_dir();
                let ro = e.attributes().contains(fatfs::FileAttributes::READ_ONLY);
                let perm = match (dir, ro) {
                    (true, _) => 0o040755,
                    (false, false) => 0o100644,
                    (false, true) => 0o100444,
                };
                Metadata {
                    file_type: if dir {
                        FileType::Directory
                    } else {
                        FileType::Regular
                    },
                    size: if dir { 0 } else { e.len() },
                    mode: perm,
                    uid: 0,
                    gid: 0,
                    nlink: 1,
                    mtime: unix_time(e.modified()),
                    ino: super::ext4::path_id(path),
                }
            }
        };
        Ok(md)
    }

    fn read_dir(&self, path: &[u8]) -> Result<Vec<DirEntry>, FsError> {
        let fs = Self::mount(&self.dev)?;
        let dir = match Self::lookup(&fs, path)? {
            Found::Root => fs.root_dir(),
            Found::Entry(e) if e.is_dir() => e.to_dir(),
            Found::Entry(_) => return Err(FsError::NotADirectory(lossy(path))),
        };
        Ok(Self::entries(&dir, path)?
            .into_iter()
            .filter(|e| !e.attributes().contains(fatfs::FileAttributes::VOLUME_ID))
            .map(|e| DirEntry {
                name: e.file_name().into_bytes(),
                file_type: if e.is_dir() {
                    FileType::Directory
                } else {
                    FileType::Regular
                },
            })
            .collect())
    }

    fn read_at(&self, path: &[u8], offset: u64, buf: &mut [u8]) -> Result<usize, FsError> {
        let fs = Self::mount_budget(&self.dev, READ_BUDGET + 2 * buf.len() as u64)?;
        let e = match Self::lookup(&fs, path)? {
            Found::Entry(e) if e.is_file() => e,
            _ => return Err(FsError::NotAFile(lossy(path))),
        };
        let size = e.len();
        if offset >= size {
            return Ok(0);
        }
        let mut f = e.to_file();
        f.seek(SeekFrom::Start(offset))
            .map_err(|er| corrupt(&lossy(path), er))?;
        let want = ((size - offset).min(buf.len() as u64)) as usize;
        let mut done = 0;
        while done < want {
            let n = f
                .read(&mut buf[done..want])
                .map_err(|er| corrupt(&lossy(path), er))?;
            if n == 0 {
                break;
            }
            done += n;
        }
        Ok(done)
    }

    fn readlink(&self, path: &[u8]) -> Result<Vec<u8>, FsError> {
        Err(FsError::NotASymlink(lossy(path)))
    }

    fn case_insensitive(&self) -> bool {
        true
    }
}
