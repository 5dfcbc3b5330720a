//! A minimal read-only reader of the SQLite 3 file format (<https://www.sqlite.org/fileformat.html>),
//! enough to list the rows of one table: the database header, table b-tree pages (interior and
//! leaf), cell payloads with their overflow chains, records and varints, and committed WAL
//! frames applied in memory. Everything an image claims is bounded: page size, page numbers,
//! b-tree depth, cell counts, payload sizes, overflow chains, and pages already visited (a
//! cycle is an error, never a hang).

pub mod btree;
pub mod dbheader;
pub mod overflow;
pub mod record;
pub mod varint;
pub mod wal;

use std::collections::HashSet;

pub use dbheader::DbHeader;
pub use record::Value;

/// Deepest table b-tree followed (SQLite's own trees stay below 20 levels).
pub const MAX_DEPTH: usize = 40;
/// Largest record payload accepted (rpm headers are far smaller).
pub const MAX_PAYLOAD: u64 = 64 << 20;
/// Most rows returned from one table.
pub const MAX_ROWS: usize = 1_000_000;

/// Why a database could not be read; each names the on-disk reason.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SqliteError {
    /// The file does not start with `SQLite format 3\0`.
    #[error("not an SQLite 3 database (bad magic)")]
    NotSqlite,
    /// The file ends inside the named structure.
    #[error("truncated: {0}")]
    Truncated(&'static str),
    /// The header's page size (bytes) is not a power of two from 512 to 65536.
    #[error("invalid page size {0} (must be a power of two from 512 to 65536)")]
    BadPageSize(u32),
    /// The header's reserved bytes per page leave a usable page size below 480 bytes.
    #[error("invalid reserved-bytes-per-page {0} (usable page size below 480)")]
    BadReserved(u8),
    /// The header's text encoding is UTF-16 (2, 3) or unknown; only UTF-8 (1) is read.
    #[error("unsupported text encoding {0} (only UTF-8 is read)")]
    Encoding(u32),
    /// A page number beyond the end of the database.
    #[error("page {page} is outside the database ({count} pages)")]
    PageOutOfRange {
        /// The page number referred to (1-based).
        page: u32,
        /// Pages in the database.
        count: u32,
    },
    /// A page reached through a table b-tree is not a table b-tree page (types 5 and 13).
    #[error("page {page} has b-tree type {kind}, not a table b-tree page")]
    BadPageType {
        /// The page number.
        page: u32,
        /// Its b-tree page type byte.
        kind: u8,
    },
    /// A b-tree page's cell count does not fit its cell pointer array in the page.
    #[error("page {page} claims {cells} cells, more than fit in the page")]
    BadCellCount {
        /// The page number.
        page: u32,
        /// The cell count it claims.
        cells: u16,
    },
    /// A cell pointer points outside the page's cell content area.
    #[error("page {page} cell {cell} points to offset {offset}, outside the cell content area")]
    CellOutOfPage {
        /// The page number.
        page: u32,
        /// The cell's index on the page.
        cell: u16,
        /// The byte offset in the page it points to.
        offset: usize,
    },
    /// A table b-tree deeper than [`MAX_DEPTH`]; holds the page where the walk stopped.
    #[error("b-tree deeper than {MAX_DEPTH} levels at page {0}")]
    TooDeep(u32),
    /// A b-tree page reached twice in one walk (a cycle); holds the page.
    #[error("b-tree cycle: page {0} reached twice")]
    Cycle(u32),
    /// A record payload larger than [`MAX_PAYLOAD`] bytes.
    #[error("payload of {0} bytes exceeds the limit")]
    PayloadTooLarge(u64),
    /// An overflow chain visits a page twice; holds the page.
    #[error("overflow chain loops back to page {0}")]
    OverflowLoop(u32),
    /// An overflow chain ends (next page 0) before the payload is complete; holds the bytes
    /// missing.
    #[error("overflow chain ends early (page 0) with {0} bytes missing")]
    OverflowShort(u64),
    /// A table with more than [`MAX_ROWS`] rows.
    #[error("table has more than {MAX_ROWS} rows")]
    TooManyRows,
    /// A record whose header or serial types do not fit its payload.
    #[error("bad record: {0}")]
    BadRecord(&'static str),
    /// The named table is not in the schema table (`sqlite_master`).
    #[error("table {0:?} not found in sqlite_master")]
    NoTable(String),
    /// The `-wal` file's header or frames are malformed.
    #[error("bad write-ahead log: {0}")]
    BadWal(&'static str),
    /// Reading the file failed (the I/O error's text).
    #[error("read error: {0}")]
    Io(String),
}

/// The per-row callback of [`Database::for_each_row`]: (rowid, record payload).
pub type RowFn<'f> = dyn FnMut(i64, &[u8]) -> Result<(), SqliteError> + 'f;

/// Random access to the database file's bytes.
pub trait PageSource {
    /// File length in bytes.
    fn len(&self) -> u64;
    /// Fill `buf` from `offset`; a short file is an error.
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), SqliteError>;
    /// Whether the file is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl PageSource for [u8] {
    fn len(&self) -> u64 {
        <[u8]>::len(self) as u64
    }
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), SqliteError> {
        let src = usize::try_from(offset)
            .ok()
            .and_then(|o| self.get(o..o.checked_add(buf.len())?))
            .ok_or(SqliteError::Truncated("page past the end of the file"))?;
        buf.copy_from_slice(src);
        Ok(())
    }
}

impl PageSource for Vec<u8> {
    fn len(&self) -> u64 {
        self.as_slice().len() as u64
    }
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), SqliteError> {
        self.as_slice().read_exact_at(offset, buf)
    }
}

/// An open database: its header, page count, and committed WAL pages.
pub struct Database<'a, S: PageSource + ?Sized> {
    src: &'a S,
    /// The database header (page 1).
    pub header: DbHeader,
    page_count: u32,
    wal: wal::WalPages,
}

impl<'a, S: PageSource + ?Sized> Database<'a, S> {
    /// Open a database; `wal` is the content of `<db>-wal` when it exists.
    pub fn open(src: &'a S, wal: Option<&[u8]>) -> Result<Self, SqliteError> {
        let mut h = [0u8; dbheader::HEADER_LEN];
        if src.len() < h.len() as u64 {
            return Err(SqliteError::Truncated(
                "database header shorter than 100 bytes",
            ));
        }
        src.read_exact_at(0, &mut h)?;
        let header = DbHeader::parse(&h)?;
        if !matches!(header.text_encoding, 0 | 1) {
            return Err(SqliteError::Encoding(header.text_encoding));
        }
        let wal = match wal {
            Some(w) => wal::parse(w, header.page_size)?,
            None => wal::WalPages::default(),
        };
        let in_file = u32::try_from(src.len() / u64::from(header.page_size)).unwrap_or(u32::MAX);
        let page_count = if wal.db_pages != 0 {
            wal.db_pages
        } else {
            in_file
        };
        Ok(Database {
            src,
            header,
            page_count,
            wal,
        })
    }

    /// Number of pages in the database (as committed).
    pub fn page_count(&self) -> u32 {
        self.page_count
    }

    /// The bytes of page `n` (1-based), from the WAL when it holds a committed copy.
    pub fn page(&self, n: u32) -> Result<Vec<u8>, SqliteError> {
        if n == 0 || n > self.page_count {
            return Err(SqliteError::PageOutOfRange {
                page: n,
                count: self.page_count,
            });
        }
        if let Some(p) = self.wal.pages.get(&n) {
            return Ok(p.clone());
        }
        let size = self.header.page_size;
        let mut buf = vec![0u8; size as usize];
        self.src
            .read_exact_at(u64::from(n - 1) * u64::from(size), &mut buf)?;
        Ok(buf)
    }

    /// Call `f(rowid, payload)` for every row of the table b-tree rooted at `root`, in rowid
    /// order.
    pub fn for_each_row(&self, root: u32, f: &mut RowFn<'_>) -> Result<(), SqliteError> {
        let mut seen = HashSet::new();
        let mut rows = 0usize;
        self.walk(root, 0, &mut seen, &mut rows, f)
    }

    fn walk(
        &self,
        page: u32,
        depth: usize,
        seen: &mut HashSet<u32>,
        rows: &mut usize,
        f: &mut RowFn<'_>,
    ) -> Result<(), SqliteError> {
        if depth > MAX_DEPTH {
            return Err(SqliteError::TooDeep(page));
        }
        if !seen.insert(page) {
            return Err(SqliteError::Cycle(page));
        }
        let data = self.page(page)?;
        let usable = self.header.usable();
        let hdr_off = if page == 1 { dbheader::HEADER_LEN } else { 0 };
        let h = btree::parse_header(&data, hdr_off, page, usable)?;
        for i in 0..h.cell_count {
            let off = btree::cell_offset(&data, &h, i, page, usable)?;
            if h.kind == btree::INTERIOR_TABLE {
                let child = btree::interior_child(&data, off, page)?;
                self.walk(child, depth + 1, seen, rows, f)?;
            } else {
                *rows += 1;
                if *rows > MAX_ROWS {
                    return Err(SqliteError::TooManyRows);
                }
                let (size, rowid, start) = btree::leaf_cell(&data, off)?;
                let payload = overflow::payload(self, &data, start, size, usable, seen)?;
                f(rowid, &payload)?;
            }
        }
        if h.kind == btree::INTERIOR_TABLE {
            self.walk(h.right_child, depth + 1, seen, rows, f)?;
        }
        Ok(())
    }

    /// The root page of table `name` from `sqlite_master` (page 1).
    pub fn table_root(&self, name: &str) -> Result<u32, SqliteError> {
        let mut found = None;
        self.for_each_row(1, &mut |_, payload| {
            let cols = record::decode(payload)?;
            if let [Value::Text(kind), Value::Text(n), _, Value::Int(root), ..] = cols.as_slice() {
                if *kind == b"table" && *n == name.as_bytes() && found.is_none() {
                    found = u32::try_from(*root).ok();
                }
            }
            Ok(())
        })?;
        found.ok_or_else(|| SqliteError::NoTable(name.to_string()))
    }
}
