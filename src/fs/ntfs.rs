//! NTFS reader over the `ntfs` crate (Read + Seek adapter over a [`BlockDev`], never writes).
//! Names are looked up case-insensitively through the volume's `$UpCase` table; listings give
//! the Win32/POSIX names (8.3 DOS aliases are skipped) and hide the NTFS metafiles (MFT records
//! below 16: `$MFT`, `$LogFile`, …) as ntfs-3g does.
//!
//! Dirty state (GEN-5): the `$Volume` dirty flag, and hibernation: a `/hiberfil.sys` whose first
//! page is a hibernation header (`hibr`/`HIBR`, or `rstr`/`RSTR` while resuming — a fast-startup
//! shutdown writes `HIBR` too). A `wake`/`WAKE` signature (the image was resumed) or a zeroed
//! header is only the file: Windows is not hibernated. See [`hiberfil_header`].
//!
//! Free space ([`FsInfo::free_bytes`]) is counted in `$Bitmap` (clear bits below the cluster
//! count), read in bounded chunks on the first [`Filesystem::info`] call.
//!
//! [`NtfsFs::data_runs`] gives where a file's bytes lie on the volume, for in-place rewrites of
//! hive files.
//!
//! Not handled (reported as plain files/directories): reparse points (symlinks, junctions).

use super::fat::{READ_BUDGET, RoDev};
use super::{DirEntry, DirtyState, FileType, Filesystem, FsError, FsInfo, FsKind, Metadata};
use crate::block::BlockDev;
use ntfs::attribute_value::NtfsAttributeValue;
use ntfs::indexes::NtfsFileNameIndex;
use ntfs::structured_values::{NtfsFileNamespace, NtfsVolumeFlags};
use ntfs::{Ntfs, NtfsFile};
use std::io::{Read, Seek, SeekFrom};
use std::sync::Arc;

/// Most entries read from one directory index.
pub const MAX_DIR_ENTRIES: usize = 1 << 20;
/// Most data runs returned for one file.
pub const MAX_RUNS: usize = 1 << 16;
/// Largest `$Bitmap` counted (a 16 TiB volume with 4 KiB clusters has a 512 MiB bitmap).
pub const MAX_BITMAP: u64 = 512 << 20;
/// `$Bitmap` is read in chunks of this size.
const BITMAP_CHUNK: usize = 1 << 20;
/// A hibernation file's header is its first page.
pub const HIBER_PAGE: u64 = 4096;

/// What the first page of `hiberfil.sys` says (GEN-5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HiberState {
    /// `hibr`/`HIBR` (or `rstr`/`RSTR`) over a whole first page: a hibernation image that a
    /// resume would load — whatever the guest wrote since is lost (a hibernated or
    /// fast-startup shutdown).
    Hibernated,
    /// A hibernation signature in a file shorter than one page: not a usable image.
    Truncated,
    /// `wake`/`WAKE`: the image was resumed and invalidated; only the file remains.
    Resumed,
    /// A zeroed (or otherwise unsigned) header: only the file.
    NotHibernated,
}

impl HiberState {
    /// The state in words, as inspection reports it (`hibernated`, `resumed` …).
    pub fn as_str(self) -> &'static str {
        match self {
            HiberState::Hibernated => "hibernated",
            HiberState::Truncated => "hibernation header truncated",
            HiberState::Resumed => "resumed",
            HiberState::NotHibernated => "not hibernated",
        }
    }
}

/// The classified header of `hiberfil.sys`, with the evidence read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HiberfilHeader {
    /// What the header says.
    pub state: HiberState,
    /// The header's first four bytes (`hibr`, `wake` …).
    pub signature: [u8; 4],
    /// The size of `hiberfil.sys`, in bytes.
    pub file_len: u64,
    /// The header's PageSize field (offset 0x18 of a 64-bit Windows 8+ header), when non-zero.
    pub page_size: Option<u32>,
}

impl HiberfilHeader {
    /// One line of evidence: signature, size, page size, verdict.
    pub fn describe(&self) -> String {
        let sig = if self.signature == [0; 4] {
            "zeroed".to_string()
        } else {
            format!("{:?}", String::from_utf8_lossy(&self.signature))
        };
        let mut s = format!(
            "hiberfil.sys ({} bytes) header signature {sig}",
            self.file_len
        );
        if let Some(p) = self.page_size {
            s.push_str(&format!(", page size {p}"));
        }
        s.push_str(&format!(": {}", self.state.as_str()));
        s
    }
}

/// Classify the first bytes `head` of a `hiberfil.sys` of `file_len` bytes.
pub fn hiberfil_header(head: &[u8], file_len: u64) -> HiberfilHeader {
    let mut signature = [0u8; 4];
    if let Some(h) = head.get(..4) {
        signature.copy_from_slice(h);
    }
    let page_size = head
        .get(0x18..0x1c)
        .and_then(|b| b.try_into().ok())
        .map(u32::from_le_bytes)
        .filter(|p| *p != 0);
    let state = match &signature {
        b"hibr" | b"HIBR" | b"rstr" | b"RSTR" if file_len >= HIBER_PAGE => HiberState::Hibernated,
        b"hibr" | b"HIBR" | b"rstr" | b"RSTR" => HiberState::Truncated,
        b"wake" | b"WAKE" => HiberState::Resumed,
        _ => HiberState::NotHibernated,
    };
    HiberfilHeader {
        state,
        signature,
        file_len,
        page_size,
    }
}

/// Clear bits among the first `clusters` bits of a cluster bitmap chunk (bits past its end
/// count as used).
pub fn free_clusters(bitmap: &[u8], clusters: u64) -> u64 {
    let full = usize::try_from(clusters / 8).unwrap_or(usize::MAX);
    let mut free: u64 = bitmap
        .iter()
        .take(full)
        .map(|b| u64::from(b.count_zeros()))
        .sum();
    let rest = (clusters % 8) as u32;
    if rest > 0 {
        if let Some(b) = bitmap.get(full) {
            let mask = ((1u16 << rest) - 1) as u8;
            free += u64::from((!*b & mask).count_ones());
        }
    }
    free
}

/// One extent of a file's data: `len` bytes at `file_offset` in the file lie at
/// `volume_offset` on the volume (`None`: a sparse run, reads as zeros).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct DataRun {
    /// Byte offset in the file.
    pub file_offset: u64,
    /// Byte offset on the volume (`None`: sparse).
    pub volume_offset: Option<u64>,
    /// Length in bytes.
    pub len: u64,
}

/// An NTFS volume.
pub struct NtfsFs {
    dev: Arc<dyn BlockDev>,
    ntfs: Ntfs,
    info: FsInfo,
    /// Free bytes counted in `$Bitmap` (on the first `info()`).
    free: std::sync::OnceLock<Result<u64, String>>,
}

fn lossy(p: &[u8]) -> String {
    String::from_utf8_lossy(p).into_owned()
}

fn nerr(what: &str, e: ntfs::NtfsError) -> FsError {
    FsError::Corrupt {
        fs: "ntfs",
        structure: what.to_string(),
        reason: e.to_string(),
    }
}

fn ioerr(what: &str, e: std::io::Error) -> FsError {
    FsError::Corrupt {
        fs: "ntfs",
        structure: what.to_string(),
        reason: e.to_string(),
    }
}

/// Seconds since the Unix epoch of an NT timestamp (100 ns units since 1601).
fn unix_time(nt: u64) -> i64 {
    (nt / 10_000_000) as i64 - 11_644_473_600
}

/// The volume label (`$Volume`'s name attribute) without opening the whole filesystem: the boot
/// sector, `$MFT`'s first record and record 3 only (no `$UpCase`). `None` when there is no label or
/// the records cannot be read (the probe that calls this must not fail on a label).
pub fn volume_label(dev: &dyn BlockDev) -> Option<String> {
    let mut r = LabelReader {
        dev,
        pos: 0,
        budget: LABEL_READ_BUDGET,
    };
    let ntfs = Ntfs::new(&mut r).ok()?;
    match ntfs.volume_name(&mut r) {
        Some(Ok(n)) => Some(n.name().to_string_lossy()).filter(|s| !s.is_empty()),
        _ => None,
    }
}

/// Bytes [`volume_label`] may read: the boot sector and two MFT records need a few KiB; a hostile
/// image cannot make the probe read more than this.
const LABEL_READ_BUDGET: u64 = 1 << 20;

/// A bounded `Read + Seek` over a borrowed device (the probe has no `Arc` to give [`RoDev`]).
struct LabelReader<'a> {
    dev: &'a dyn BlockDev,
    pos: u64,
    budget: u64,
}

impl std::io::Read for LabelReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self
            .dev
            .len()
            .saturating_sub(self.pos)
            .min(buf.len() as u64);
        if n > self.budget {
            return Err(std::io::Error::other("NTFS label: read budget exhausted"));
        }
        self.budget -= n;
        self.dev
            .read_at(self.pos, &mut buf[..n as usize])
            .map_err(std::io::Error::other)?;
        self.pos += n;
        Ok(n as usize)
    }
}

impl std::io::Seek for LabelReader<'_> {
    fn seek(&mut self, pos: std::io::SeekFrom) -> std::io::Result<u64> {
        let new = match pos {
            std::io::SeekFrom::Start(o) => Some(o),
            std::io::SeekFrom::End(d) => self.dev.len().checked_add_signed(d),
            std::io::SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.pos = new.ok_or_else(|| std::io::Error::other("NTFS label: seek out of range"))?;
        Ok(self.pos)
    }
}

impl NtfsFs {
    /// Open the NTFS volume on `dev`.
    pub fn open(dev: Arc<dyn BlockDev>) -> Result<Self, FsError> {
        let mut r = RoDev::new(dev.clone());
        let mut ntfs = Ntfs::new(&mut r).map_err(|e| nerr("boot sector", e))?;
        ntfs.read_upcase_table(&mut r)
            .map_err(|e| nerr("$UpCase", e))?;
        let label = match ntfs.volume_name(&mut r) {
            Some(Ok(n)) => Some(n.name().to_string_lossy()).filter(|s| !s.is_empty()),
            _ => None,
        };
        let vflags = ntfs
            .volume_info(&mut r)
            .map_err(|e| nerr("$Volume", e))?
            .flags();
        let mut fs = NtfsFs {
            dev,
            info: FsInfo {
                kind: FsKind::Ntfs,
                label,
                uuid: Some(format!("{:016X}", ntfs.serial_number())),
                block_size: ntfs.cluster_size(),
                total_bytes: ntfs.size(),
                free_bytes: 0,
                dirty: DirtyState::Clean,
            },
            ntfs,
            free: std::sync::OnceLock::new(),
        };
        let mut reasons = Vec::new();
        if vflags.contains(NtfsVolumeFlags::IS_DIRTY) {
            reasons.push("$Volume dirty flag is set".to_string());
        }
        // An unreadable hiberfil.sys does not stop the volume from opening.
        if let Ok(Some(h)) = fs.hiberfil() {
            if h.state == HiberState::Hibernated {
                reasons.push(h.describe());
            }
        }
        if !reasons.is_empty() {
            fs.info.dirty = DirtyState::Dirty {
                detail: reasons.join("; "),
            };
        }
        Ok(fs)
    }

    /// The header of `/hiberfil.sys` (None when there is no such file).
    pub fn hiberfil(&self) -> Result<Option<HiberfilHeader>, FsError> {
        let len = match self.stat(b"/hiberfil.sys") {
            Ok(m) => m.size,
            Err(FsError::NotFound(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        let mut head = [0u8; 0x20];
        let n = self.read_at(b"/hiberfil.sys", 0, &mut head)?;
        Ok(Some(hiberfil_header(head.get(..n).unwrap_or(&[]), len)))
    }

    /// Free bytes: clear bits of `$Bitmap` below the cluster count, times the cluster size.
    /// The bitmap is read in 1 MiB chunks, at most [`MAX_BITMAP`] bytes; bits the file lacks
    /// count as used.
    pub fn free_bytes(&self) -> Result<u64, FsError> {
        self.free
            .get_or_init(|| self.count_free().map_err(|e| e.to_string()))
            .clone()
            .map_err(|reason| FsError::Corrupt {
                fs: "ntfs",
                structure: "$Bitmap".into(),
                reason,
            })
    }

    fn count_free(&self) -> Result<u64, FsError> {
        let cs = u64::from(self.info.block_size);
        if cs == 0 {
            return Err(FsError::Corrupt {
                fs: "ntfs",
                structure: "boot sector".into(),
                reason: "cluster size 0".into(),
            });
        }
        let clusters = self.info.total_bytes / cs;
        let size = self.stat(b"/$Bitmap")?.size;
        let want = clusters.div_ceil(8).min(size);
        if want > MAX_BITMAP {
            return Err(FsError::Corrupt {
                fs: "ntfs",
                structure: "$Bitmap".into(),
                reason: format!("{want} bytes of cluster bitmap (more than {MAX_BITMAP})"),
            });
        }
        let mut buf = vec![0u8; BITMAP_CHUNK.min(want as usize)];
        let (mut off, mut free) = (0u64, 0u64);
        while off < want {
            let len = ((want - off) as usize).min(buf.len());
            let chunk = buf.get_mut(..len).unwrap_or(&mut []);
            let n = self.read_at(b"/$Bitmap", off, chunk)?;
            if n == 0 {
                break;
            }
            let bits = clusters.saturating_sub(off * 8);
            free += free_clusters(chunk.get(..n).unwrap_or(&[]), bits);
            off += n as u64;
        }
        Ok(free.saturating_mul(cs))
    }

    fn lookup<'n>(&'n self, r: &mut RoDev, path: &[u8]) -> Result<NtfsFile<'n>, FsError> {
        let mut file = self
            .ntfs
            .root_directory(r)
            .map_err(|e| nerr("root directory", e))?;
        for c in super::components(path) {
            if !file.is_directory() {
                return Err(FsError::NotADirectory(lossy(path)));
            }
            let name = std::str::from_utf8(c).map_err(|_| FsError::NotFound(lossy(path)))?;
            let next = {
                let index = file.directory_index(r).map_err(|e| nerr(&lossy(path), e))?;
                let mut finder = index.finder();
                let entry = NtfsFileNameIndex::find(&mut finder, &self.ntfs, r, name)
                    .ok_or_else(|| FsError::NotFound(lossy(path)))?
                    .map_err(|e| nerr(&lossy(path), e))?;
                entry
                    .to_file(&self.ntfs, r)
                    .map_err(|e| nerr(&lossy(path), e))?
            };
            file = next;
        }
        Ok(file)
    }

    /// Run `f` over the unnamed data stream's value (`None` when the file has none).
    fn with_data<R>(
        r: &mut RoDev,
        file: &NtfsFile<'_>,
        path: &[u8],
        f: impl FnOnce(&mut RoDev, NtfsAttributeValue<'_, '_>) -> Result<R, FsError>,
    ) -> Result<Option<R>, FsError> {
        match file.data(r, "") {
            None => Ok(None),
            Some(item) => {
                let item = item.map_err(|e| nerr(&lossy(path), e))?;
                let attr = item.to_attribute().map_err(|e| nerr(&lossy(path), e))?;
                let v = attr.value(r).map_err(|e| nerr(&lossy(path), e))?;
                f(r, v).map(Some)
            }
        }
    }

    /// Where the unnamed data stream of the file at `path` lies on the volume, in file order.
    /// Resident data (small files inside the MFT record) and attribute-list-spread data are
    /// refused with [`FsError::Unsupported`].
    pub fn data_runs(&self, path: &[u8]) -> Result<Vec<DataRun>, FsError> {
        let mut r = RoDev::new(self.dev.clone());
        let file = self.lookup(&mut r, path)?;
        if file.is_directory() {
            return Err(FsError::NotAFile(lossy(path)));
        }
        Self::with_data(&mut r, &file, path, |_, v| Self::runs_of(v, path))?
            .ok_or_else(|| FsError::NotAFile(lossy(path)))
    }

    fn runs_of(v: NtfsAttributeValue<'_, '_>, path: &[u8]) -> Result<Vec<DataRun>, FsError> {
        let size = v.len();
        let nr = match v {
            NtfsAttributeValue::NonResident(nr) => nr,
            NtfsAttributeValue::Resident(_) => {
                return Err(FsError::Unsupported {
                    fs: "ntfs",
                    what: format!("{}: data is resident in the MFT record", lossy(path)),
                });
            }
            NtfsAttributeValue::AttributeListNonResident(_) => {
                return Err(FsError::Unsupported {
                    fs: "ntfs",
                    what: format!("{}: data spread over an attribute list", lossy(path)),
                });
            }
        };
        let mut out = Vec::new();
        let mut off = 0u64;
        for run in nr.data_runs() {
            if off >= size {
                break;
            }
            if out.len() >= MAX_RUNS {
                return Err(FsError::Corrupt {
                    fs: "ntfs",
                    structure: lossy(path),
                    reason: format!("more than {MAX_RUNS} data runs"),
                });
            }
            let run = run.map_err(|e| nerr(&lossy(path), e))?;
            let len = run.allocated_size().min(size - off);
            out.push(DataRun {
                file_offset: off,
                volume_offset: run.data_position().value().map(|p| p.get()),
                len,
            });
            off = off.saturating_add(run.allocated_size());
        }
        Ok(out)
    }
}

impl Filesystem for NtfsFs {
    fn info(&self) -> FsInfo {
        let mut i = self.info.clone();
        // 0 when $Bitmap cannot be read (the error is NtfsFs::free_bytes's).
        i.free_bytes = self.free_bytes().unwrap_or(0);
        i
    }

    fn stat(&self, path: &[u8]) -> Result<Metadata, FsError> {
        let mut r = RoDev::new(self.dev.clone());
        let file = self.lookup(&mut r, path)?;
        let dir = file.is_directory();
        let size = if dir {
            0
        } else {
            Self::with_data(&mut r, &file, path, |_, v| Ok(v.len()))?.unwrap_or(0)
        };
        let mtime = file
            .info()
            .map(|i| unix_time(i.modification_time().nt_timestamp()))
            .unwrap_or(0);
        Ok(Metadata {
            file_type: if dir {
                FileType::Directory
            } else {
                FileType::Regular
            },
            size,
            mode: if dir { 0o040755 } else { 0o100644 },
            uid: 0,
            gid: 0,
            nlink: file.hard_link_count() as u32,
            mtime,
            ino: file.file_record_number(),
        })
    }

    fn read_dir(&self, path: &[u8]) -> Result<Vec<DirEntry>, FsError> {
        let mut r = RoDev::new(self.dev.clone());
        let file = self.lookup(&mut r, path)?;
        if !file.is_directory() {
            return Err(FsError::NotADirectory(lossy(path)));
        }
        let index = file
            .directory_index(&mut r)
            .map_err(|e| nerr(&lossy(path), e))?;
        let mut it = index.entries();
        let mut out: Vec<DirEntry> = Vec::new();
        let mut seen = 0usize;
        while let Some(e) = it.next(&mut r) {
            seen += 1;
            if seen > MAX_DIR_ENTRIES {
                return Err(FsError::Corrupt {
                    fs: "ntfs",
                    structure: lossy(path),
                    reason: format!("directory index has more than {MAX_DIR_ENTRIES} entries"),
                });
            }
            let e = e.map_err(|e| nerr(&lossy(path), e))?;
            let Some(key) = e.key() else { continue };
            let key = key.map_err(|e| nerr(&lossy(path), e))?;
            if key.namespace() == NtfsFileNamespace::Dos {
                continue;
            }
            let rec = e.file_reference().file_record_number();
            if rec < 16 {
                continue;
            }
            let name = key.name().to_string_lossy().into_bytes();
            if out.iter().any(|d| d.name == name) {
                continue;
            }
            out.push(DirEntry {
                name,
                file_type: if key.is_directory() {
                    FileType::Directory
                } else {
                    FileType::Regular
                },
            });
        }
        Ok(out)
    }

    fn read_at(&self, path: &[u8], offset: u64, buf: &mut [u8]) -> Result<usize, FsError> {
        let mut r = RoDev::with_budget(self.dev.clone(), READ_BUDGET + 2 * buf.len() as u64);
        let file = self.lookup(&mut r, path)?;
        if file.is_directory() {
            return Err(FsError::NotAFile(lossy(path)));
        }
        Self::with_data(&mut r, &file, path, |r, v| {
            let size = v.len();
            if offset >= size {
                return Ok(0);
            }
            let want = (size - offset).min(buf.len() as u64) as usize;
            let mut a = v.attach(r);
            a.seek(SeekFrom::Start(offset))
                .map_err(|e| ioerr(&lossy(path), e))?;
            let mut done = 0;
            while done < want {
                let n = a
                    .read(&mut buf[done..want])
                    .map_err(|e| ioerr(&lossy(path), e))?;
                if n == 0 {
                    break;
                }
                done += n;
            }
            Ok(done)
        })
        .map(|n| n.unwrap_or(0))
    }

    fn readlink(&self, path: &[u8]) -> Result<Vec<u8>, FsError> {
        Err(FsError::NotASymlink(lossy(path)))
    }

    fn case_insensitive(&self) -> bool {
        true
    }
}
