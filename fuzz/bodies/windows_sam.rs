//! Fuzz the SAM account reader (WIN-6) and the hiberfil.sys header classifier (GEN-5): bytes →
//! hive (lenient) → local accounts; the F/V record decoders and the hash-entry and hiberfil
//! decoders on raw bytes. Any panic, hang or runaway allocation is a bug.

use guestfix::fs::ntfs::hiberfil_header;
use guestfix::guest::windows::sam;
use guestfix::hive::{Hive, HiveOptions};

pub fn run(data: &[u8]) {
    let _ = sam::parse_f(500, data);
    for i in 0..18 {
        let _ = sam::v_field(500, data, i);
    }
    let _ = sam::hash_stored(data);
    let _ = hiberfil_header(data, data.len() as u64).describe();
    let opts = HiveOptions {
        lenient_checksum: true,
    };
    if let Ok(h) = Hive::from_bytes_with_options(data.to_vec(), opts) {
        if let Ok(f) = sam::sam_facts(&h) {
            let _ = f.blank_password_accounts().count();
        }
    }
}
