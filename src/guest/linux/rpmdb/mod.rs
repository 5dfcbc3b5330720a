//! The rpm package database in its SQLite form (`rpmdb.sqlite`, Fedora ≥ 36, RHEL 9, Amazon
//! Linux 2023): our own read-only SQLite reader ([`sqlite`]) lists the `Packages` table, and
//! [`header`] decodes each row's rpm header blob into the application facts. The Berkeley DB
//! (`Packages`) and ndb (`Packages.db`) forms are not read; the caller reports them unknown.

pub mod header;
pub mod sqlite;

use crate::guest::facts::Application;
pub use header::RpmHeader;
use sqlite::{Database, PageSource, SqliteError, Value};

/// Most packages read from one database.
pub const MAX_PACKAGES: usize = 200_000;

/// Why an rpmdb could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RpmdbError {
    #[error("sqlite: {0}")]
    Sqlite(#[from] SqliteError),
    #[error("Packages row {0}: no blob in column 2")]
    NoBlob(i64),
    #[error("rpm header shorter than its 8-byte intro")]
    ShortHeader,
    #[error("rpm header sizes il={il} dl={dl} exceed the limits or the blob")]
    HeaderSize { il: u32, dl: u32 },
    #[error("rpm header tag {tag}: {reason}")]
    BadHeader { tag: u32, reason: &'static str },
    #[error("rpm header lacks tag {0}")]
    MissingTag(u32),
    #[error("more than {MAX_PACKAGES} packages")]
    TooManyPackages,
}

/// Every package header in the `Packages` table, in `hnum` order. `wal` is the content of
/// `rpmdb.sqlite-wal` when present: its committed frames are applied in memory.
pub fn read_headers<S: PageSource + ?Sized>(
    db: &S,
    wal: Option<&[u8]>,
) -> Result<Vec<RpmHeader>, RpmdbError> {
    let db = Database::open(db, wal)?;
    let root = db.table_root("Packages")?;
    let mut out = Vec::new();
    let mut err = None;
    // The closure's error type is SqliteError; rpm errors are carried out beside it.
    let walk = db.for_each_row(root, &mut |rowid, payload| {
        if err.is_some() {
            return Ok(());
        }
        let cols = sqlite::record::decode(payload)?;
        // Packages(hnum INTEGER PRIMARY KEY, blob BLOB NOT NULL): hnum is the rowid (NULL in
        // the record), the blob is the second column.
        let Some(Value::Blob(blob)) = cols.get(1) else {
            err = Some(RpmdbError::NoBlob(rowid));
            return Ok(());
        };
        if out.len() >= MAX_PACKAGES {
            err = Some(RpmdbError::TooManyPackages);
            return Ok(());
        }
        match header::parse(blob) {
            Ok(h) => out.push(h),
            Err(e) => err = Some(e),
        }
        Ok(())
    });
    walk?;
    match err {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

/// The installed applications, sorted by name then arch like the dpkg list.
pub fn read_applications<S: PageSource + ?Sized>(
    db: &S,
    wal: Option<&[u8]>,
) -> Result<Vec<Application>, RpmdbError> {
    let mut apps: Vec<Application> = read_headers(db, wal)?
        .into_iter()
        .map(|h| Application {
            name: h.name,
            version: h.version,
            release: h.release,
            epoch: h.epoch.unwrap_or(0),
            arch: h.arch,
        })
        .collect();
    apps.sort_by(|a, b| {
        a.name
            .cmp(&b.name)
            .then(a.arch.cmp(&b.arch))
            .then(a.version.cmp(&b.version))
            .then(a.release.cmp(&b.release))
    });
    Ok(apps)
}
