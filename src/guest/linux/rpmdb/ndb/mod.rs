//! rpm's own "ndb" package database, read-only: `Packages.db` (SUSE Linux Enterprise 15,
//! openSUSE). The file starts with the slot pages ([`slot`]; the first 32 bytes of page 0 are
//! the database header, [`dbheader`]) mapping each package index to a run of 16-byte blocks
//! holding its blob ([`blob`]: a header, the rpm header blob, padding and a tail with an
//! Adler-32 of the whole). All integers are little-endian. `Index.db` (the tag indexes) is not
//! needed to list the packages. Every slot and blob is bounded by the file, blobs may not
//! overlap (so the bytes read are at most the file's), and every blob's checksum is verified.

pub mod blob;
pub mod dbheader;
pub mod slot;

use crate::formats::sqlite::{PageSource, SqliteError};
pub use dbheader::DbHeader;
pub use slot::Slot;

/// Size of a slot page.
pub const PAGE_SIZE: u64 = 4096;
/// Size of a block, the unit blobs are allocated in.
pub const BLK_SIZE: u64 = 16;
/// Largest blob read (rpm headers are far smaller).
pub const MAX_BLOB: u64 = 64 << 20;
/// Most slot pages read (rpm grows the slot area a page at a time; 4096 pages hold about a
/// million packages).
pub const MAX_SLOT_PAGES: u32 = 4096;

/// Why a `Packages.db` could not be read; each names the on-disk reason.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum NdbError {
    /// The header's magic is not `RpmP`.
    #[error("not an rpm ndb Packages.db (magic {0:#x})")]
    NotNdb(u32),
    /// A database version other than 0.
    #[error("unsupported ndb version {0}")]
    Version(u32),
    /// The file ends before a structure it must hold.
    #[error("truncated: {0}")]
    Truncated(&'static str),
    /// The header claims more slot pages than the file holds or than [`MAX_SLOT_PAGES`].
    #[error("header claims {claimed} slot pages, the file holds {fits}")]
    SlotPages {
        /// Slot pages claimed.
        claimed: u32,
        /// Whole pages in the file.
        fits: u64,
    },
    /// A malformed slot.
    #[error("slot {slot}: {reason}")]
    BadSlot {
        /// The slot's number (0 and 1 are the header).
        slot: u32,
        /// What is wrong.
        reason: &'static str,
    },
    /// Two slots name the same package index.
    #[error("package index {0} is in two slots")]
    DuplicateIndex(u32),
    /// Two slots' blobs share blocks.
    #[error("blobs of packages {0} and {1} overlap")]
    Overlap(u32, u32),
    /// A malformed blob.
    #[error("blob of package {pkgidx}: {reason}")]
    BadBlob {
        /// The package index.
        pkgidx: u32,
        /// What is wrong.
        reason: &'static str,
    },
    /// A blob larger than [`MAX_BLOB`].
    #[error("blob of package {pkgidx} claims {len} bytes, over the limit")]
    BlobTooLarge {
        /// The package index.
        pkgidx: u32,
        /// Its claimed length.
        len: u64,
    },
    /// A blob whose Adler-32 differs from the one its tail stores.
    #[error("blob of package {pkgidx}: Adler-32 {stored:#010x} stored, {computed:#010x} computed")]
    Checksum {
        /// The package index.
        pkgidx: u32,
        /// The tail's checksum.
        stored: u32,
        /// The content's.
        computed: u32,
    },
    /// The file could not be read.
    #[error("read error: {0}")]
    Io(String),
}

impl From<SqliteError> for NdbError {
    fn from(e: SqliteError) -> Self {
        match e {
            SqliteError::Truncated(what) => NdbError::Truncated(what),
            e => NdbError::Io(e.to_string()),
        }
    }
}

/// The used slots, checked against the file and each other, in package index order.
pub fn used_slots<S: PageSource + ?Sized>(src: &S) -> Result<Vec<Slot>, NdbError> {
    let len = src.len();
    let mut hbuf = [0u8; dbheader::HEADER_SIZE];
    if len < PAGE_SIZE {
        return Err(NdbError::Truncated("file shorter than one slot page"));
    }
    src.read_exact_at(0, &mut hbuf)?;
    let header = DbHeader::parse(&hbuf)?;
    let fits = len / PAGE_SIZE;
    if header.slot_npages == 0
        || header.slot_npages > MAX_SLOT_PAGES
        || u64::from(header.slot_npages) > fits
    {
        return Err(NdbError::SlotPages {
            claimed: header.slot_npages,
            fits,
        });
    }
    let file_blks = len / BLK_SIZE;
    let min_blkoff = u64::from(header.slot_npages) * (PAGE_SIZE / BLK_SIZE);
    let mut slots = Vec::new();
    let mut page = vec![0u8; PAGE_SIZE as usize];
    for p in 0..header.slot_npages {
        src.read_exact_at(u64::from(p) * PAGE_SIZE, &mut page)?;
        for s in slot::parse_page(&page, p)? {
            let end = u64::from(s.blkoff) + u64::from(s.blkcnt);
            if u64::from(s.blkoff) < min_blkoff {
                return Err(NdbError::BadSlot {
                    slot: s.slotno,
                    reason: "blob inside the slot pages",
                });
            }
            if end > file_blks {
                return Err(NdbError::BadSlot {
                    slot: s.slotno,
                    reason: "blob past the end of the file",
                });
            }
            slots.push(s);
        }
    }
    // No two slots share a block or a package index: the blobs read add up to at most the file.
    slots.sort_by_key(|s| s.blkoff);
    for w in slots.windows(2) {
        if u64::from(w[0].blkoff) + u64::from(w[0].blkcnt) > u64::from(w[1].blkoff) {
            return Err(NdbError::Overlap(w[0].pkgidx, w[1].pkgidx));
        }
    }
    slots.sort_by_key(|s| s.pkgidx);
    for w in slots.windows(2) {
        if w[0].pkgidx == w[1].pkgidx {
            return Err(NdbError::DuplicateIndex(w[0].pkgidx));
        }
    }
    Ok(slots)
}

/// Call `f` with every package blob of the database, (package index, rpm header blob), in
/// package index order; the first error `f` returns stops the walk.
pub fn for_each_blob<S, E, F>(src: &S, mut f: F) -> Result<(), E>
where
    S: PageSource + ?Sized,
    E: From<NdbError>,
    F: FnMut(u32, &[u8]) -> Result<(), E>,
{
    for s in &used_slots(src)? {
        let bytes = u64::from(s.blkcnt) * BLK_SIZE;
        if bytes > MAX_BLOB + BLK_SIZE * 3 {
            return Err(NdbError::BlobTooLarge {
                pkgidx: s.pkgidx,
                len: bytes,
            }
            .into());
        }
        let mut buf = vec![0u8; bytes as usize];
        src.read_exact_at(u64::from(s.blkoff) * BLK_SIZE, &mut buf)
            .map_err(NdbError::from)?;
        let range = blob::verify(&buf, s)?;
        f(s.pkgidx, buf.get(range).unwrap_or_default())?;
    }
    Ok(())
}
