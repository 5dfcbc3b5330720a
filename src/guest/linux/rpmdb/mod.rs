//! The rpm package database in its three forms, each read by our own read-only reader and
//! yielding the same rpm header blobs, which [`header`] decodes into the application facts:
//! SQLite (`rpmdb.sqlite`: Fedora ≥ 33, RHEL 9, Amazon Linux 2023; [`sqlite`]), rpm's ndb
//! (`Packages.db`: SLES 15, openSUSE; [`ndb`]) and Berkeley DB hash (`Packages`: RHEL/CentOS
//! 7–8, Amazon Linux 2, SLES 12; [`bdb`]).

pub mod bdb;
pub mod header;
pub mod ndb;

use crate::formats::sqlite::{self, Database, PageSource, SqliteError, Value};
use crate::guest::facts::Application;
pub use header::RpmHeader;

/// Most packages read from one database.
pub const MAX_PACKAGES: usize = 200_000;

/// Why an rpmdb could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RpmdbError {
    #[error("sqlite: {0}")]
    Sqlite(#[from] SqliteError),
    /// The Berkeley DB `Packages` file is unreadable.
    #[error("Berkeley DB: {0}")]
    Bdb(#[from] bdb::BdbError),
    /// The ndb `Packages.db` file is unreadable.
    #[error("ndb: {0}")]
    Ndb(#[from] ndb::NdbError),
    /// A Berkeley DB `Packages` key that is not a 4-byte header number.
    #[error("Berkeley DB Packages key of {0} bytes (rpm's keys are 4-byte header numbers)")]
    BadKey(usize),
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

/// Every package header of an ndb `Packages.db`, in package index order.
pub fn read_headers_ndb<S: PageSource + ?Sized>(db: &S) -> Result<Vec<RpmHeader>, RpmdbError> {
    let mut out = Vec::new();
    ndb::for_each_blob(db, |_, blob: &[u8]| {
        if out.len() >= MAX_PACKAGES {
            return Err(RpmdbError::TooManyPackages);
        }
        out.push(header::parse(blob)?);
        Ok(())
    })?;
    Ok(out)
}

/// Every package header of a Berkeley DB hash `Packages`, in header number order. The record
/// with key 0 (rpm's counter of the last header number) is not a package.
pub fn read_headers_bdb<S: PageSource + ?Sized>(db: &S) -> Result<Vec<RpmHeader>, RpmdbError> {
    let db = bdb::HashDb::open(db)?;
    let order = db.meta.order;
    let mut out = Vec::new();
    db.for_each(|key: &[u8], value: &[u8]| {
        let num = order.u32(key, 0).filter(|_| key.len() == 4);
        match num {
            None => return Err(RpmdbError::BadKey(key.len())),
            Some(0) => return Ok(()),
            Some(n) => {
                if out.len() >= MAX_PACKAGES {
                    return Err(RpmdbError::TooManyPackages);
                }
                out.push((n, header::parse(value)?));
            }
        }
        Ok(())
    })?;
    out.sort_by_key(|(n, _)| *n);
    Ok(out.into_iter().map(|(_, h)| h).collect())
}

/// The installed applications of an sqlite database, sorted by name then arch like the dpkg
/// list.
pub fn read_applications<S: PageSource + ?Sized>(
    db: &S,
    wal: Option<&[u8]>,
) -> Result<Vec<Application>, RpmdbError> {
    Ok(applications_of(read_headers(db, wal)?))
}

/// The installed applications of an ndb `Packages.db`, sorted like [`read_applications`].
pub fn read_applications_ndb<S: PageSource + ?Sized>(
    db: &S,
) -> Result<Vec<Application>, RpmdbError> {
    Ok(applications_of(read_headers_ndb(db)?))
}

/// The installed applications of a Berkeley DB `Packages`, sorted like [`read_applications`].
pub fn read_applications_bdb<S: PageSource + ?Sized>(
    db: &S,
) -> Result<Vec<Application>, RpmdbError> {
    Ok(applications_of(read_headers_bdb(db)?))
}

/// Package headers as applications, sorted by name, arch, version, release.
pub fn applications_of(headers: Vec<RpmHeader>) -> Vec<Application> {
    let mut apps: Vec<Application> = headers
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
    apps
}
