//! Fuzz the rpmdb reader: bytes → our SQLite reader (with part of the input as a WAL) → the
//! Packages table → rpm header blobs; and the header parser alone. Any panic, hang or runaway
//! allocation is a bug.

use guestfix::guest::linux::rpmdb;

pub fn run(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 3 {
        0 => {
            let _ = rpmdb::read_applications(rest, None);
        }
        1 => {
            // A u16 (in 512-byte units) splits the rest into the database and its WAL.
            let cut = rest
                .get(..2)
                .map_or(0, |s| usize::from(u16::from_le_bytes([s[0], s[1]])) * 512);
            let body = rest.get(2..).unwrap_or(&[]);
            let (db, wal) = body.split_at(cut.min(body.len()));
            let _ = rpmdb::read_applications(db, Some(wal));
        }
        _ => {
            let _ = rpmdb::header::parse(rest);
        }
    }
}
