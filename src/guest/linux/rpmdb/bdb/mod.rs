//! Berkeley DB hash databases, read-only: rpm's `/var/lib/rpm/Packages` on RHEL/CentOS 7–8,
//! Amazon Linux 2 and SLES 12 (key: the 4-byte header instance number, value: the rpm header
//! blob). Only what listing every key/value pair needs: the hash meta page ([`meta`]), bucket
//! pages and their chains ([`page`]), overflow pages holding big keys and values
//! ([`overflow`]) and page checksums ([`checksum`]). Both byte orders (the meta page's magic
//! says which), page sizes 512–65536. Every page an image names is bounded by the file, every
//! page is visited at most once (a chain or bucket that comes back is an error, never a hang),
//! and a value's claimed size is bounded before anything is allocated for it.

pub mod checksum;
pub mod meta;
pub mod overflow;
pub mod page;

use crate::formats::sqlite::{PageSource, SqliteError};
pub use meta::{HashMeta, Order};
use page::{Item, PageHeader};

/// Largest key or value read (rpm headers are far smaller).
pub const MAX_VALUE: u64 = 64 << 20;
/// Most key/value pairs listed from one database.
pub const MAX_ENTRIES: usize = 1_000_000;

/// Why a Berkeley DB hash file could not be read; each names the on-disk reason.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum BdbError {
    /// The meta page's magic is not the hash access method's (0x061561) in either byte order.
    #[error("not a Berkeley DB hash database (magic {0:#x})")]
    NotHash(u32),
    /// The file ends before a structure it must hold.
    #[error("truncated: {0}")]
    Truncated(&'static str),
    /// The meta page's page size is not a power of two from 512 to 65536.
    #[error("invalid page size {0} (must be a power of two from 512 to 65536)")]
    BadPageSize(u32),
    /// A hash version other than 8 or 9 (Berkeley DB 4.x and 5.x).
    #[error("unsupported hash version {0}")]
    Version(u32),
    /// The database is encrypted.
    #[error("encrypted database (algorithm {0})")]
    Encrypted(u8),
    /// A meta page field is inconsistent.
    #[error("bad meta page: {0}")]
    BadMeta(&'static str),
    /// The meta page claims more pages than the file holds.
    #[error("meta page claims {claimed} pages, the file holds {fits}")]
    TooManyPages {
        /// Pages the meta page claims (last page number + 1).
        claimed: u64,
        /// Whole pages in the file.
        fits: u64,
    },
    /// A page's stored checksum differs from its content's.
    #[error("page {page}: checksum {stored:#010x}, content sums to {computed:#010x}")]
    Checksum {
        /// The page.
        page: u32,
        /// The checksum stored on the page.
        stored: u32,
        /// The checksum of its content.
        computed: u32,
    },
    /// A page number past the last page (or page 0, the meta page, where a data page belongs).
    #[error("page {page} is outside the database (last page {last})")]
    PageOutOfRange {
        /// The page named.
        page: u32,
        /// The last page of the database.
        last: u32,
    },
    /// A page whose header names another page number.
    #[error("page {page} says it is page {found}")]
    PageNumber {
        /// The page read.
        page: u32,
        /// The number its header holds.
        found: u32,
    },
    /// A page of the wrong type where a bucket or overflow page belongs.
    #[error("page {page} has type {kind}, expected {want}")]
    BadPageType {
        /// The page.
        page: u32,
        /// Its type byte.
        kind: u8,
        /// What was expected there.
        want: &'static str,
    },
    /// A hash page's entry count does not fit the page or is odd (keys and values in pairs).
    #[error("page {page} claims {entries} entries, which do not fit or do not pair")]
    BadEntries {
        /// The page.
        page: u32,
        /// Its entry count.
        entries: u16,
    },
    /// A hash page item that is malformed.
    #[error("page {page} item {index}: {reason}")]
    BadItem {
        /// The page.
        page: u32,
        /// The item's index on the page.
        index: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// A page reached twice (a bucket chain or overflow chain that loops, or two chains sharing
    /// a page).
    #[error("page {0} reached twice (a chain loops)")]
    Cycle(u32),
    /// A key or value larger than [`MAX_VALUE`] or the file.
    #[error("item of {0} bytes exceeds the limit")]
    ValueTooLarge(u64),
    /// An overflow chain that ends (next page 0) before the claimed length.
    #[error("overflow chain ends at page {page} with {missing} bytes missing")]
    OverflowShort {
        /// The last page of the chain.
        page: u32,
        /// Bytes still missing.
        missing: u64,
    },
    /// An overflow chain holding more bytes than the claimed length.
    #[error("overflow page {0} holds more than the item's claimed length")]
    OverflowLong(u32),
    /// More than [`MAX_ENTRIES`] pairs.
    #[error("more than {MAX_ENTRIES} entries")]
    TooManyEntries,
    /// Off-page or on-page duplicate sets, which rpm's Packages never holds.
    #[error("page {0}: duplicate data sets are not supported")]
    Duplicates(u32),
    /// The file could not be read.
    #[error("read error: {0}")]
    Io(String),
}

impl From<SqliteError> for BdbError {
    fn from(e: SqliteError) -> Self {
        match e {
            SqliteError::Truncated(what) => BdbError::Truncated(what),
            e => BdbError::Io(e.to_string()),
        }
    }
}

/// An open hash database.
pub struct HashDb<'a, S: PageSource + ?Sized> {
    src: &'a S,
    /// The meta page's facts.
    pub meta: HashMeta,
}

/// Which pages have been read (each page at most once per walk).
struct Visited {
    bits: Vec<u64>,
    last: u32,
}

impl Visited {
    fn new(last: u32) -> Self {
        Visited {
            bits: vec![0; (u64::from(last) + 1).div_ceil(64) as usize],
            last,
        }
    }

    /// Mark `page`: an error when it is not a data page of the file or was already marked.
    fn mark(&mut self, page: u32) -> Result<(), BdbError> {
        let out = BdbError::PageOutOfRange {
            page,
            last: self.last,
        };
        if page == 0 || page > self.last {
            return Err(out);
        }
        let (w, b) = ((page / 64) as usize, page % 64);
        let slot = self.bits.get_mut(w).ok_or(out)?;
        if *slot & (1 << b) != 0 {
            return Err(BdbError::Cycle(page));
        }
        *slot |= 1 << b;
        Ok(())
    }
}

impl<'a, S: PageSource + ?Sized> HashDb<'a, S> {
    /// Read and check the meta page.
    pub fn open(src: &'a S) -> Result<Self, BdbError> {
        let mut buf = [0u8; meta::META_SIZE];
        if src.len() < meta::META_SIZE as u64 {
            return Err(BdbError::Truncated(
                "file shorter than the 512-byte meta page",
            ));
        }
        src.read_exact_at(0, &mut buf)?;
        let meta = HashMeta::parse(&buf)?;
        let fits = src.len() / u64::from(meta.page_size);
        let claimed = u64::from(meta.last_pgno) + 1;
        if claimed > fits {
            return Err(BdbError::TooManyPages { claimed, fits });
        }
        Ok(HashDb { src, meta })
    }

    /// Read page `pgno` into `buf` (one page long), verify its checksum and its page number.
    fn read_page(&self, pgno: u32, buf: &mut [u8]) -> Result<PageHeader, BdbError> {
        if pgno == 0 || pgno > self.meta.last_pgno {
            return Err(BdbError::PageOutOfRange {
                page: pgno,
                last: self.meta.last_pgno,
            });
        }
        self.src
            .read_exact_at(u64::from(pgno) * u64::from(self.meta.page_size), buf)?;
        if self.meta.checksummed {
            checksum::verify_page(buf, self.meta.order, pgno)?;
        }
        let h = PageHeader::parse(buf, self.meta.order)?;
        if h.pgno != pgno {
            return Err(BdbError::PageNumber {
                page: pgno,
                found: h.pgno,
            });
        }
        Ok(h)
    }

    /// Call `f` with every key/value pair, bucket by bucket, each bucket's chain in order; the
    /// first error `f` returns stops the walk.
    pub fn for_each<E, F>(&self, mut f: F) -> Result<(), E>
    where
        E: From<BdbError>,
        F: FnMut(&[u8], &[u8]) -> Result<(), E>,
    {
        let m = &self.meta;
        let mut seen = Visited::new(m.last_pgno);
        let mut page = vec![0u8; m.page_size as usize];
        let mut ovbuf = vec![0u8; m.page_size as usize];
        let mut count = 0usize;
        for bucket in 0..=m.max_bucket {
            let mut pgno = m.bucket_page(bucket)?;
            while pgno != 0 {
                seen.mark(pgno)?;
                let h = self.read_page(pgno, &mut page)?;
                if h.kind != page::P_HASH && h.kind != page::P_HASH_UNSORTED {
                    return Err(BdbError::BadPageType {
                        page: pgno,
                        kind: h.kind,
                        want: "a hash bucket page",
                    }
                    .into());
                }
                let items = page::hash_items(&page, &h, m)?;
                for (i, pair) in items.chunks_exact(2).enumerate() {
                    count += 1;
                    if count > MAX_ENTRIES {
                        return Err(BdbError::TooManyEntries.into());
                    }
                    let key =
                        self.item_bytes(&page, &pair[0], pgno, 2 * i, &mut seen, &mut ovbuf)?;
                    let val =
                        self.item_bytes(&page, &pair[1], pgno, 2 * i + 1, &mut seen, &mut ovbuf)?;
                    f(&key, &val)?;
                }
                pgno = h.next;
            }
        }
        Ok(())
    }

    /// The bytes of one item: inline on the page or gathered from its overflow chain.
    fn item_bytes<'p>(
        &self,
        page: &'p [u8],
        item: &Item,
        pgno: u32,
        index: usize,
        seen: &mut Visited,
        ovbuf: &mut [u8],
    ) -> Result<std::borrow::Cow<'p, [u8]>, BdbError> {
        match *item {
            Item::Inline { start, end } => page
                .get(start..end)
                .map(std::borrow::Cow::Borrowed)
                .ok_or(BdbError::BadItem {
                    page: pgno,
                    index,
                    reason: "item outside the page",
                }),
            Item::OffPage { pgno: first, len } => {
                let len = u64::from(len);
                if len > MAX_VALUE || len > self.src.len() {
                    return Err(BdbError::ValueTooLarge(len));
                }
                let mut out = Vec::with_capacity(len as usize);
                let (mut last, mut next) = (pgno, first);
                while (out.len() as u64) < len {
                    if next == 0 {
                        return Err(BdbError::OverflowShort {
                            page: last,
                            missing: len - out.len() as u64,
                        });
                    }
                    seen.mark(next)?;
                    let h = self.read_page(next, ovbuf)?;
                    let data = overflow::data(ovbuf, &h, &self.meta, next)?;
                    if out.len() as u64 + data.len() as u64 > len {
                        return Err(BdbError::OverflowLong(next));
                    }
                    out.extend_from_slice(data);
                    last = next;
                    next = h.next;
                }
                Ok(std::borrow::Cow::Owned(out))
            }
        }
    }
}
