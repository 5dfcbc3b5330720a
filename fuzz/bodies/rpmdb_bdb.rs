//! Fuzz the Berkeley DB hash reader behind rpm's `Packages`: bytes → meta page → bucket pages,
//! chains and overflow pages → key/value pairs → rpm header blobs. Any panic, hang or runaway
//! allocation is a bug.

use guestfix::guest::linux::rpmdb::{self, bdb};

pub fn run(data: &[u8]) {
    let _ = rpmdb::read_applications_bdb(data);
    // The raw walk too: every pair, whatever its key (a bad key stops read_applications_bdb).
    if let Ok(db) = bdb::HashDb::open(data) {
        let mut n = 0usize;
        let _ = db.for_each(|k: &[u8], v: &[u8]| -> Result<(), bdb::BdbError> {
            n = n.wrapping_add(k.len() + v.len());
            Ok(())
        });
    }
}
