//! Fuzz the registry hive reader: bytes → open (strict and lenient) and, with part of the input
//! as a transaction log, replay; then walk every key, value, class name and security record
//! under a bound. Any panic, hang or runaway allocation is a bug.

use guestfix::hive::{Hive, HiveOptions};

fn walk(h: &Hive) {
    let _ = h.walk(10_000, |_, k| {
        let _ = k.class_name();
        let _ = k.security();
        if let Ok(vals) = k.values() {
            for v in vals {
                let _ = v.as_string();
                let _ = v.as_multi_string();
            }
        }
        let _ = k.subkey("a");
        Ok(())
    });
    let _ = h.current_control_set();
    let _ = h.root().open_path("ControlSet001\\Services\\Tcpip");
}

pub fn run(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 3 {
        0 => {
            if let Ok(h) = Hive::from_bytes(rest.to_vec()) {
                walk(&h);
            }
        }
        1 => {
            let opts = HiveOptions {
                lenient_checksum: true,
            };
            if let Ok(h) = Hive::from_bytes_with_options(rest.to_vec(), opts) {
                walk(&h);
            }
        }
        _ => {
            // Two u16s (in 512-byte units) split the rest into a primary and two logs.
            let cut = |i: usize| -> usize {
                let b = rest
                    .get(i..i + 2)
                    .map_or(0, |s| u16::from_le_bytes([s[0], s[1]]));
                usize::from(b) * 512
            };
            let body = rest.get(4..).unwrap_or(&[]);
            let a = cut(0).min(body.len());
            let b = a.saturating_add(cut(2)).min(body.len());
            let (primary, logs) = body.split_at(a);
            let (l1, l2) = logs.split_at(b - a);
            if let Ok((h, _)) =
                Hive::from_bytes_with_logs(primary.to_vec(), &[l1.to_vec(), l2.to_vec()])
            {
                walk(&h);
            }
        }
    }
}
