//! The undo journal that makes in-place writes crash-safe. Before a block of the image is
//! overwritten for the first time, its original bytes are appended to `<image>.guestfix-undo`
//! and synced; only then is the block written. When every write is synced, the journal is
//! removed: that removal is the commit point. After a crash (kill -9 anywhere), `recover`
//! writes the saved originals back, so the image is either the original (journal present →
//! rolled back) or fully applied (journal gone).
//!
//! Record format: `GFUJ` magic, offset (u64 LE), length (u32 LE), CRC-32 of offset+length+data
//! (u32 LE), data. A torn last record (crash while appending) fails its CRC and is ignored: its
//! block was not yet written.

use crate::block::{BlockDev, BlockError, WritableDev, raw::RawFile};
use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

const MAGIC: &[u8; 4] = b"GFUJ";
const BLOCK: u64 = 4096;
/// Most bytes one record may hold (bounds a hostile or corrupt journal).
const MAX_RECORD: u32 = 1 << 20;

/// The journal's path for an image.
pub fn journal_path(image: &Path) -> PathBuf {
    let mut p = image.as_os_str().to_owned();
    p.push(".guestfix-undo");
    PathBuf::from(p)
}

/// A raw image opened for in-place writing through the undo journal.
pub struct JournaledDev {
    inner: RawFile,
    journal: Mutex<(File, HashSet<u64>)>,
    journal_path: PathBuf,
    /// Fault injection for the crash test (only in builds with the `test-hooks` feature).
    #[cfg(feature = "test-hooks")]
    hooks: hooks::Hooks,
}

/// The crash test's fault injection, compiled only with the `test-hooks` feature
/// (`scripts/crash-test.sh` builds with it): never in the binary users run.
#[cfg(feature = "test-hooks")]
mod hooks {
    /// GUESTFIX_CRASH_AFTER_WRITES=N: abort the process (like kill -9, no cleanup) at block
    /// write N+1. GUESTFIX_WRITE_DELAY_MS=D: sleep D ms after each block write, so that a real
    /// kill -9 at a random moment lands inside the write phase.
    pub struct Hooks {
        crash_after: Option<u64>,
        write_delay: Option<std::time::Duration>,
        writes: std::sync::atomic::AtomicU64,
    }

    impl Hooks {
        pub fn from_env() -> Self {
            let var = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<u64>().ok());
            Hooks {
                crash_after: var("GUESTFIX_CRASH_AFTER_WRITES"),
                write_delay: var("GUESTFIX_WRITE_DELAY_MS").map(std::time::Duration::from_millis),
                writes: std::sync::atomic::AtomicU64::new(0),
            }
        }
        pub fn before_write(&self) {
            let n = self
                .writes
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
                + 1;
            if self.crash_after.is_some_and(|c| n > c) {
                std::process::abort();
            }
        }
        pub fn after_write(&self) {
            if let Some(d) = self.write_delay {
                std::thread::sleep(d);
            }
        }
    }
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> BlockError + '_ {
    move |source| BlockError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl JournaledDev {
    /// Open `image` for in-place writing. Refuses when a journal from an interrupted run exists
    /// (run `guestfix apply --recover` first).
    pub fn open(image: &Path) -> Result<Self, BlockError> {
        let jp = journal_path(image);
        if jp.exists() {
            return Err(BlockError::Corrupt {
                path: image.to_path_buf(),
                reason: format!(
                    "an interrupted in-place apply left {}; run guestfix apply --recover first",
                    jp.display()
                ),
            });
        }
        let inner = RawFile::open_rw(image)?;
        let file = OpenOptions::new()
            .create_new(true)
            .write(true)
            .open(&jp)
            .map_err(io(&jp))?;
        sync_dir(&jp)?;
        Ok(JournaledDev {
            inner,
            journal: Mutex::new((file, HashSet::new())),
            journal_path: jp,
            #[cfg(feature = "test-hooks")]
            hooks: hooks::Hooks::from_env(),
        })
    }

    /// Sync the image, then remove the journal: from here on the image is fully applied.
    pub fn commit(self) -> Result<(), BlockError> {
        self.inner.flush()?;
        std::fs::remove_file(&self.journal_path).map_err(io(&self.journal_path))?;
        sync_dir(&self.journal_path)
    }

    fn save_originals(&self, offset: u64, len: usize) -> Result<(), BlockError> {
        let mut j = self.journal.lock().map_err(|_| BlockError::Corrupt {
            path: self.journal_path.clone(),
            reason: "journal lock poisoned".into(),
        })?;
        let end = offset + len as u64;
        let mut b = offset / BLOCK * BLOCK;
        let mut wrote = false;
        while b < end {
            if !j.1.contains(&b) {
                let n = BLOCK.min(self.inner.len().saturating_sub(b)) as usize;
                let mut data = vec![0u8; n];
                self.inner.read_at(b, &mut data)?;
                let mut rec = Vec::with_capacity(20 + n);
                rec.extend_from_slice(MAGIC);
                rec.extend_from_slice(&b.to_le_bytes());
                rec.extend_from_slice(&(n as u32).to_le_bytes());
                let mut h = crc32fast::Hasher::new();
                h.update(&b.to_le_bytes());
                h.update(&(n as u32).to_le_bytes());
                h.update(&data);
                rec.extend_from_slice(&h.finalize().to_le_bytes());
                rec.extend_from_slice(&data);
                j.0.write_all(&rec).map_err(io(&self.journal_path))?;
                j.1.insert(b);
                wrote = true;
            }
            b += BLOCK;
        }
        if wrote {
            j.0.sync_data().map_err(io(&self.journal_path))?;
        }
        Ok(())
    }
}

impl BlockDev for JournaledDev {
    fn len(&self) -> u64 {
        self.inner.len()
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), BlockError> {
        self.inner.read_at(offset, buf)
    }
    fn describe(&self) -> String {
        self.inner.describe()
    }
}

impl WritableDev for JournaledDev {
    fn write_at(&self, offset: u64, buf: &[u8]) -> Result<(), BlockError> {
        crate::block::check_range(&self.describe(), self.len(), offset, buf.len())?;
        self.save_originals(offset, buf.len())?;
        #[cfg(feature = "test-hooks")]
        self.hooks.before_write();
        self.inner.write_at(offset, buf)?;
        #[cfg(feature = "test-hooks")]
        self.hooks.after_write();
        Ok(())
    }
    fn flush(&self) -> Result<(), BlockError> {
        self.inner.flush()
    }
}

fn sync_dir(path: &Path) -> Result<(), BlockError> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))
}

/// What `recover` did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum Recovery {
    /// No journal: the image is as the last apply left it (original or fully applied).
    NothingToDo,
    /// The interrupted apply was rolled back: the image is the original again.
    RolledBack {
        /// Blocks restored from the journal.
        blocks: usize,
    },
}

/// Roll back an interrupted in-place apply.
pub fn recover(image: &Path) -> Result<Recovery, BlockError> {
    let jp = journal_path(image);
    let mut data = Vec::new();
    match File::open(&jp) {
        Ok(mut f) => {
            f.read_to_end(&mut data).map_err(io(&jp))?;
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Recovery::NothingToDo),
        Err(e) => return Err(io(&jp)(e)),
    }
    let dev = RawFile::open_rw(image)?;
    let mut pos = 0usize;
    let mut blocks = 0usize;
    while let Some(hdr) = data.get(pos..pos + 20) {
        if &hdr[..4] != MAGIC {
            break;
        }
        let off = u64::from_le_bytes(hdr[4..12].try_into().unwrap_or([0; 8]));
        let len = u32::from_le_bytes(hdr[12..16].try_into().unwrap_or([0; 4]));
        let crc = u32::from_le_bytes(hdr[16..20].try_into().unwrap_or([0; 4]));
        if len > MAX_RECORD {
            break;
        }
        let Some(body) = data.get(pos + 20..pos + 20 + len as usize) else {
            break; // torn last record: its block was never written
        };
        let mut h = crc32fast::Hasher::new();
        h.update(&off.to_le_bytes());
        h.update(&len.to_le_bytes());
        h.update(body);
        if h.finalize() != crc {
            break;
        }
        dev.write_at(off, body)?;
        blocks += 1;
        pos += 20 + len as usize;
    }
    dev.flush()?;
    std::fs::remove_file(&jp).map_err(io(&jp))?;
    sync_dir(&jp)?;
    Ok(Recovery::RolledBack { blocks })
}
