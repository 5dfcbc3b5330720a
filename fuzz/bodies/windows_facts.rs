//! Fuzz the Windows fact extraction: bytes → hive (lenient) → SYSTEM, SOFTWARE and BCD facts, and
//! the MountedDevices / State.ini / cluster-bitmap decoders on raw bytes. Any panic, hang or
//! runaway allocation is a bug.

use guestfix::guest::windows::{bcd, drives, free_clusters, image_state, software, system};
use guestfix::hive::{Hive, HiveOptions};

pub fn run(data: &[u8]) {
    let _ = drives::decode(data);
    let _ = image_state(data);
    let _ = free_clusters(data, data.len() as u64 * 9);
    let opts = HiveOptions {
        lenient_checksum: true,
    };
    if let Ok(h) = Hive::from_bytes_with_options(data.to_vec(), opts) {
        if let Ok(s) = system::system_facts(&h) {
            let vols = vec![drives::VolRef {
                name: "/dev/sda1".into(),
                disk_signature: Some(0),
                start: 0,
                partuuid: None,
            }];
            let _ = drives::drive_mappings(&s.mounted_devices, &vols);
        }
        let _ = software::software_facts(&h);
        if let Ok(b) = bcd::bcd_facts(&h, "fuzz") {
            let _ = b.ems_enabled();
        }
    }
}
