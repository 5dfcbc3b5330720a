//! File formats found inside guest filesystems that are not filesystems themselves, each read
//! (and where guestfix changes it, written) in one home: cpio archives (initramfs images, read by
//! inspection and appended to by driver injection) and SQLite databases (rpm's `rpmdb.sqlite`,
//! read-only, with its write-ahead log). The registry hive format has its own top-level
//! module, [`crate::hive`].

pub mod cpio;
pub mod sqlite;
