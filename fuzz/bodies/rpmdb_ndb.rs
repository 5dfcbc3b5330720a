//! Fuzz the rpm ndb reader (`Packages.db`): bytes → header → slot pages → blobs with their
//! Adler-32 → rpm header blobs. Any panic, hang or runaway allocation is a bug.

use guestfix::guest::linux::rpmdb::{self, ndb};

pub fn run(data: &[u8]) {
    let _ = rpmdb::read_applications_ndb(data);
    let _ = ndb::used_slots(data);
}
