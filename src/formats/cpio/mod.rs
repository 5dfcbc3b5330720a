//! cpio archives as the Linux kernel unpacks them from an initramfs: the "newc" (`070701`),
//! "crc" (`070702`) and old portable "odc" (`070707`) headers are read here ([`header`]), and
//! newc archives are written here ([`writer`]). Walking the archives of an initramfs (with its
//! compressed members and limits) is inspection's job, in `guest::linux::initramfs`.

pub mod header;
pub mod writer;

pub use header::{CpioHeaderError, Header, TRAILER};
pub use writer::CpioWriter;
