//! NTFS reader over the `ntfs` crate (Read + Seek adapter over a [`BlockDev`], never writes).
//! Names are looked up case-insensitively through the volume's `$UpCase` table; listings give
//! the Win32/POSIX names (8.3 DOS aliases are skipped) and hide the NTFS metafiles (MFT records
//! below 16: `$MFT`, `$LogFile`, …) as ntfs-3g does.
//!
//! Dirty state (GEN-5): the `$Volume` dirty flag, and hibernation / fast startup: a
//! `/hiberfil.sys` whose header starts with `hibr`/`HIBR`/`wake`/`WAKE`.
//!
//! [`NtfsFs::data_runs`] gives where a file's bytes lie on the volume, for in-place rewrites of
//! hive files.
//!
//! Not handled (reported as plain files/directories): reparse points (symlinks, junctions).

use super::fat::RoDev;
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

/// One extent of a file's data: `len` bytes at `file_offset` in the file lie at
/// `volume_offset` on the volume (`None`: a sparse run, reads as zeros).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct DataRun {
    pub file_offset: u64,
    pub volume_offset: Option<u64>,
    pub len: u64,
}

/// An NTFS volume.
pub struct NtfsFs {
    dev: Arc<dyn BlockDev>,
    ntfs: Ntfs,
    info: FsInfo,
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

impl NtfsFs {
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
        };
        let mut reasons = Vec::new();
        if vflags.contains(NtfsVolumeFlags::IS_DIRTY) {
            reasons.push("$Volume dirty flag is set".to_string());
        }
        let mut hdr = [0u8; 4];
        if let Ok(n) = fs.read_at(b"/hiberfil.sys", 0, &mut hdr) {
            if n == 4 && matches!(&hdr, b"hibr" | b"HIBR" | b"wake" | b"WAKE") {
                reasons.push(format!(
                    "hiberfil.sys header is {:?}: hibernated or fast startup",
                    String::from_utf8_lossy(&hdr)
                ));
            }
        }
        if !reasons.is_empty() {
            fs.info.dirty = DirtyState::Dirty {
                detail: reasons.join("; "),
            };
        }
        Ok(fs)
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
        self.info.clone()
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
        let mut r = RoDev::new(self.dev.clone());
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
