//! ext2/3/4 reader over the `ext4-view` crate, loaded through its `Ext4Read` trait from a
//! [`BlockDev`].
//!
//! Journal (GEN-5): `ext4-view` loads the journal when the filesystem has one and maps every
//! block the committed transactions replace onto the journal copy, in memory, without writing.
//! A filesystem whose superblock says `needs_recovery` is therefore read in its recovered state
//! and reported as `DirtyState::NeedsRecovery { replayed: true }`. `ext4-view` replays only
//! journals with the 64bit and csum-v3 features (what mkfs.ext4 makes with metadata_csum); for
//! any other journal it refuses to load, so the filesystem is then read WITHOUT replay (the
//! superblock's needs_recovery bit masked in memory) and reported as
//! `DirtyState::NeedsRecovery { replayed: false }`: reads may see stale data. A corrupt journal
//! fails the open with the reason.
//!
//! `ext4_view::Ext4` is `!Send` (it shares state through `Rc`), while [`Filesystem`] must be
//! `Send + Sync`: [`Ext4Fs`] keeps only the device and loads one `Ext4` per thread on first use
//! (cached per thread, at most [`CACHE_PER_THREAD`] at a time).
//!
//! Not exposed by `ext4-view` and reported as 0: `mtime`, `nlink`; `ino` is a stable hash of the
//! path.

use super::{DirEntry, DirtyState, FileType, Filesystem, FsError, FsInfo, FsKind, Metadata};
use crate::block::BlockDev;
use crate::volume::util::le32;
use ext4_view::{Ext4, Ext4Error, Ext4Read};
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Most `Ext4` instances cached per thread.
pub const CACHE_PER_THREAD: usize = 32;
/// Longest symlink target read (PATH_MAX).
pub const MAX_LINK: u64 = 4096;
/// Most entries returned for one directory.
pub const MAX_DIR_ENTRIES: usize = 1 << 20;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

thread_local! {
    static CACHE: RefCell<HashMap<u64, Ext4>> = RefCell::new(HashMap::new());
}

/// Reads the device; when `sb` is set, the superblock (bytes 1024..2048) reads as those bytes
/// instead (used to read a filesystem whose journal cannot be replayed without replay).
struct DevReader {
    dev: Arc<dyn BlockDev>,
    sb: Option<Arc<Vec<u8>>>,
}

impl Ext4Read for DevReader {
    fn read(
        &mut self,
        start_byte: u64,
        dst: &mut [u8],
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync + 'static>> {
        if let Err(e) = self.dev.read_at(start_byte, dst) {
            return Err(Box::new(e));
        }
        if let Some(sb) = &self.sb {
            let end = start_byte.saturating_add(dst.len() as u64);
            if start_byte < 2048 && end > 1024 {
                let from = start_byte.max(1024);
                let to = end.min(2048);
                let d = (from - start_byte) as usize..(to - start_byte) as usize;
                let s = (from - 1024) as usize..(to - 1024) as usize;
                if let (Some(dd), Some(ss)) = (dst.get_mut(d), sb.get(s)) {
                    dd.copy_from_slice(ss);
                }
            }
        }
        Ok(())
    }
}

/// The superblock with `needs_recovery` cleared (checksum recomputed when metadata_csum is on).
fn without_recovery_flag(sb: &[u8]) -> Vec<u8> {
    let mut sb = sb.to_vec();
    let incompat = le32(&sb, 96) & !0x4;
    if let Some(f) = sb.get_mut(96..100) {
        f.copy_from_slice(&incompat.to_le_bytes());
    }
    if le32(&sb, 100) & 0x400 != 0 && sb.len() >= 1024 {
        let c = !crc32c::crc32c(&sb[..0x3fc]);
        sb[0x3fc..0x400].copy_from_slice(&c.to_le_bytes());
    }
    sb
}

/// An ext2/3/4 filesystem.
pub struct Ext4Fs {
    id: u64,
    dev: Arc<dyn BlockDev>,
    /// Superblock without needs_recovery, when the journal could not be replayed.
    masked_sb: Option<Arc<Vec<u8>>>,
    info: FsInfo,
}

fn map_err(path: &[u8], e: Ext4Error) -> FsError {
    let p = String::from_utf8_lossy(path).into_owned();
    match e {
        Ext4Error::NotFound => FsError::NotFound(p),
        Ext4Error::NotADirectory => FsError::NotADirectory(p),
        Ext4Error::IsADirectory | Ext4Error::IsASpecialFile => FsError::NotAFile(p),
        Ext4Error::NotASymlink => FsError::NotASymlink(p),
        Ext4Error::TooManySymlinks => FsError::SymlinkLoop(p),
        Ext4Error::MalformedPath | Ext4Error::PathTooLong | Ext4Error::NotAbsolute => {
            FsError::NotFound(p)
        }
        Ext4Error::Corrupt(c) => FsError::Corrupt {
            fs: "ext4",
            structure: p,
            reason: c.to_string(),
        },
        Ext4Error::Incompatible(i) => FsError::Unsupported {
            fs: "ext4",
            what: i.to_string(),
        },
        Ext4Error::Encrypted => FsError::Unsupported {
            fs: "ext4",
            what: format!("{p} is encrypted"),
        },
        other => FsError::Corrupt {
            fs: "ext4",
            structure: p,
            reason: other.to_string(),
        },
    }
}

fn ftype(t: ext4_view::FileType) -> FileType {
    if t.is_regular_file() {
        FileType::Regular
    } else if t.is_dir() {
        FileType::Directory
    } else if t.is_symlink() {
        FileType::Symlink
    } else if t.is_char_dev() {
        FileType::CharDevice
    } else if t.is_block_dev() {
        FileType::BlockDevice
    } else if t.is_fifo() {
        FileType::Fifo
    } else if t.is_socket() {
        FileType::Socket
    } else {
        FileType::Unknown
    }
}

fn type_bits(t: FileType) -> u32 {
    match t {
        FileType::Regular => 0o100000,
        FileType::Directory => 0o040000,
        FileType::Symlink => 0o120000,
        FileType::CharDevice => 0o020000,
        FileType::BlockDevice => 0o060000,
        FileType::Fifo => 0o010000,
        FileType::Socket => 0o140000,
        FileType::Unknown => 0,
    }
}

/// FNV-1a of the path: a stable synthetic inode number.
pub(crate) fn path_id(path: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in path {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

impl Ext4Fs {
    /// Load the filesystem on `dev` (superblock, group descriptors and journal are checked).
    pub fn open(dev: Arc<dyn BlockDev>) -> Result<Self, FsError> {
        let probed = super::probe::probe(&*dev)?;
        let kind = match probed.as_ref().map(|p| p.kind) {
            Some(k @ (FsKind::Ext2 | FsKind::Ext3 | FsKind::Ext4)) => k,
            _ => {
                return Err(FsError::Unrecognised(format!(
                    "{}: not ext2/3/4",
                    dev.describe()
                )));
            }
        };
        let mut sb = vec![0u8; 1024];
        dev.read_at(1024, &mut sb)?;
        let needs_recovery = probed.as_ref().is_some_and(|p| p.needs_recovery);
        let mut masked = None;
        let fs = match Ext4::load(Box::new(DevReader {
            dev: dev.clone(),
            sb: None,
        })) {
            Ok(fs) => fs,
            Err(Ext4Error::Incompatible(why)) if needs_recovery => {
                // ext4-view replays only 64bit + csum-v3 journals; read the rest unreplayed.
                let patched = Arc::new(without_recovery_flag(&sb));
                let fs = Ext4::load(Box::new(DevReader {
                    dev: dev.clone(),
                    sb: Some(patched.clone()),
                }))
                .map_err(|e| map_err(b"superblock", e))?;
                masked = Some((patched, why.to_string()));
                fs
            }
            Err(e) => return Err(map_err(b"superblock", e)),
        };
        let log = le32(&sb, 24);
        let block_size = if log <= 6 { 1024u32 << log } else { 0 };
        let incompat = le32(&sb, 96);
        let is64 = incompat & 0x80 != 0;
        let hi = |off| {
            if is64 {
                (le32(&sb, off) as u64) << 32
            } else {
                0
            }
        };
        let blocks = le32(&sb, 4) as u64 | hi(0x150);
        let free = le32(&sb, 12) as u64 | hi(0x158);
        let info = FsInfo {
            kind,
            label: probed.as_ref().and_then(|p| p.label.clone()),
            uuid: probed.as_ref().and_then(|p| p.uuid.clone()),
            block_size,
            total_bytes: blocks.saturating_mul(block_size as u64),
            free_bytes: free.saturating_mul(block_size as u64),
            dirty: if let Some((_, why)) = &masked {
                DirtyState::NeedsRecovery {
                    replayed: false,
                    detail: format!(
                        "ext4 needs_recovery is set but ext4-view cannot replay this journal \
                         ({why}); reads see the unrecovered, possibly stale, state"
                    ),
                }
            } else if needs_recovery {
                DirtyState::NeedsRecovery {
                    replayed: true,
                    detail: "ext4 needs_recovery is set; the journal was replayed in memory by \
                             ext4-view (the image is not written)"
                        .into(),
                }
            } else {
                DirtyState::Clean
            },
        };
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        Self::cache_put(id, fs);
        Ok(Ext4Fs {
            id,
            dev,
            masked_sb: masked.map(|(sb, _)| sb),
            info,
        })
    }

    fn cache_put(id: u64, fs: Ext4) {
        let _ = CACHE.try_with(|c| {
            let mut c = c.borrow_mut();
            if c.len() >= CACHE_PER_THREAD {
                if let Some(k) = c.keys().next().copied() {
                    c.remove(&k);
                }
            }
            c.insert(id, fs);
        });
    }

    fn fs(&self) -> Result<Ext4, FsError> {
        if let Ok(Some(fs)) = CACHE.try_with(|c| c.borrow().get(&self.id).cloned()) {
            return Ok(fs);
        }
        let fs = Ext4::load(Box::new(DevReader {
            dev: self.dev.clone(),
            sb: self.masked_sb.clone(),
        }))
        .map_err(|e| map_err(b"superblock", e))?;
        Self::cache_put(self.id, fs.clone());
        Ok(fs)
    }
}

impl Drop for Ext4Fs {
    fn drop(&mut self) {
        let _ = CACHE.try_with(|c| c.borrow_mut().remove(&self.id));
    }
}

/// Read into `buf` until it is full or the file ends.
fn read_fill(f: &mut ext4_view::File, path: &[u8], buf: &mut [u8]) -> Result<usize, FsError> {
    let mut done = 0;
    while done < buf.len() {
        let n = f
            .read_bytes(&mut buf[done..])
            .map_err(|e| map_err(path, e))?;
        if n == 0 {
            break;
        }
        done += n;
    }
    Ok(done)
}

impl Ext4Fs {
    /// Open `path` if it is a regular file; `None` if it is anything else (a final symlink
    /// is NOT followed: ext4-view would resolve an absolute target against this
    /// filesystem's root, which is not the guest's root when it is mounted elsewhere).
    fn open_regular(&self, path: &[u8]) -> Result<Option<ext4_view::File>, FsError> {
        let fs = self.fs()?;
        let p = ext_path(path)?;
        let md = fs.symlink_metadata(p).map_err(|e| map_err(path, e))?;
        if !md.file_type().is_regular_file() {
            return Ok(None);
        }
        Ok(Some(fs.open(p).map_err(|e| map_err(path, e))?))
    }
}

fn ext_path(path: &[u8]) -> Result<ext4_view::Path<'_>, FsError> {
    ext4_view::Path::try_from(path)
        .map_err(|_| FsError::NotFound(String::from_utf8_lossy(path).into_owned()))
}

impl Filesystem for Ext4Fs {
    fn info(&self) -> FsInfo {
        self.info.clone()
    }

    fn stat(&self, path: &[u8]) -> Result<Metadata, FsError> {
        let fs = self.fs()?;
        let md = fs
            .symlink_metadata(ext_path(path)?)
            .map_err(|e| map_err(path, e))?;
        let t = ftype(md.file_type());
        Ok(Metadata {
            file_type: t,
            size: md.len(),
            mode: type_bits(t) | md.mode() as u32,
            uid: md.uid(),
            gid: md.gid(),
            nlink: 0,
            mtime: 0,
            ino: path_id(path),
        })
    }

    fn read_dir(&self, path: &[u8]) -> Result<Vec<DirEntry>, FsError> {
        let fs = self.fs()?;
        let p = ext_path(path)?;
        let md = fs.symlink_metadata(p).map_err(|e| map_err(path, e))?;
        if !md.is_dir() {
            return Err(FsError::NotADirectory(String::from_utf8_lossy(path).into()));
        }
        let rd = fs.read_dir(p).map_err(|e| map_err(path, e))?;
        let mut out = Vec::new();
        for e in rd {
            let e = e.map_err(|e| map_err(path, e))?;
            let name = e.file_name().as_ref().to_vec();
            if name == b"." || name == b".." {
                continue;
            }
            if out.len() >= MAX_DIR_ENTRIES {
                return Err(FsError::Corrupt {
                    fs: "ext4",
                    structure: String::from_utf8_lossy(path).into(),
                    reason: format!("directory has more than {MAX_DIR_ENTRIES} entries"),
                });
            }
            let t = e.file_type().map(ftype).map_err(|e| map_err(path, e))?;
            out.push(DirEntry { name, file_type: t });
        }
        Ok(out)
    }

    fn read_at(&self, path: &[u8], offset: u64, buf: &mut [u8]) -> Result<usize, FsError> {
        let Some(mut f) = self.open_regular(path)? else {
            return Err(FsError::NotAFile(String::from_utf8_lossy(path).into()));
        };
        if offset >= f.metadata().len() {
            return Ok(0);
        }
        f.seek_to(offset).map_err(|e| map_err(path, e))?;
        read_fill(&mut f, path, buf)
    }

    /// One open for the whole file (the default would resolve the path once per chunk).
    fn read_file(&self, path: &[u8], limit: u64) -> Result<Vec<u8>, FsError> {
        let Some(mut f) = self.open_regular(path)? else {
            return Err(FsError::NotAFile(String::from_utf8_lossy(path).into()));
        };
        let size = f.metadata().len();
        if size > limit {
            return Err(FsError::TooLarge {
                path: String::from_utf8_lossy(path).into(),
                size,
                limit,
            });
        }
        let mut out = vec![0u8; size as usize];
        let done = read_fill(&mut f, path, &mut out)?;
        out.truncate(done);
        Ok(out)
    }

    fn readlink(&self, path: &[u8]) -> Result<Vec<u8>, FsError> {
        let fs = self.fs()?;
        let md = fs
            .symlink_metadata(ext_path(path)?)
            .map_err(|e| map_err(path, e))?;
        if !md.is_symlink() {
            return Err(FsError::NotASymlink(String::from_utf8_lossy(path).into()));
        }
        // Linux caps targets at PATH_MAX; a bigger claimed size is corruption, not read.
        if md.len() > MAX_LINK {
            return Err(FsError::Corrupt {
                fs: "ext4",
                structure: String::from_utf8_lossy(path).into(),
                reason: format!("symlink target claims {} bytes", md.len()),
            });
        }
        let t = fs
            .read_link(ext_path(path)?)
            .map_err(|e| map_err(path, e))?;
        Ok(t.as_ref().to_vec())
    }
}
