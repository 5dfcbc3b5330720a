//! Fuzz the LVM2 text metadata parser and the VG model built from it.

pub fn run(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let _ = guestfix::volume::lvm::parse_text(&text);
    if let Ok(vg) = guestfix::volume::lvm::vg_from_text(&text) {
        // Map every LV over no devices: must fail cleanly (missing PVs), never panic.
        for lv in &vg.lvs {
            let _ = guestfix::volume::lvm::map_lv(&vg, lv, &|_| None);
        }
    }
}
