//! Fuzz the registry hive writer: random operation sequences (create/delete keys, set/delete
//! values of any type and size, sibling bursts) on a small hive, then commit. The result must
//! open with our reader (strict checksum) and again with the writer, and every key the ops
//! created and did not delete must be there. Any panic, hang or runaway allocation is a bug.

use guestfix::hive::write::empty_hive;
use guestfix::hive::{Hive, HiveWriter, ValueData};

const NAMES: &[&str] = &["a", "B", "c", "\u{e9}", "\u{263a}", "Services", "x y", ""];

fn path(b: &[u8]) -> String {
    b.iter()
        .take(3)
        .map(|&x| NAMES[usize::from(x) % NAMES.len()])
        .collect::<Vec<_>>()
        .join("\\")
}

pub fn run(data: &[u8]) {
    // op sequences, not hives: a long input is only a slow one
    if data.len() > 8192 {
        return;
    }
    let Some((&head, mut rest)) = data.split_first() else {
        return;
    };
    let minor = 3 + u32::from(head % 4);
    let Ok(mut w) = HiveWriter::open(empty_hive(minor), None) else {
        panic!("empty hive refused");
    };
    w.set_leaf_limit(usize::from(head >> 2).max(2));
    while let Some((&op, tail)) = rest.split_first() {
        let (p, tail) = tail.split_at(tail.len().min(3));
        let p = path(p);
        rest = tail;
        let r = match op % 6 {
            0 => w.create_key(&p).map(|_| ()),
            1 => w.delete_key(&p),
            2 | 3 => {
                let Some((&len, tail)) = rest.split_first() else {
                    break;
                };
                // Sizes up to 64 KiB: inline, one cell, and big data (> 16344 bytes).
                let n = usize::from(len) * usize::from(len) + usize::from(op >> 3);
                rest = tail;
                let _ = w.create_key(&p);
                let name = NAMES[usize::from(op >> 5) % NAMES.len()];
                let kind = u32::from(op >> 3);
                w.set_value(
                    &p,
                    name,
                    ValueData {
                        kind,
                        data: vec![op; n],
                    },
                )
            }
            4 => w.delete_value(&p, NAMES[usize::from(op >> 5) % NAMES.len()]),
            _ => {
                let mut r = Ok(());
                for i in 0..(op >> 3) {
                    r = w.create_key(&format!("{p}\\s{i}")).map(|_| ());
                }
                r
            }
        };
        // Edits either succeed or fail before changing anything (names and sizes are valid
        // here, so a failure is a bug in the writer).
        if let Err(e) = r {
            if !matches!(
                e,
                guestfix::hive::WriteError::KeyNotFound(_)
                    | guestfix::hive::WriteError::ValueNotFound { .. }
                    | guestfix::hive::WriteError::RootNotDeletable
            ) {
                panic!("{e}");
            }
        }
    }
    let out = w.commit().expect("commit");
    let h = Hive::from_bytes(out.clone()).expect("our reader refuses the result");
    h.walk(1_000_000, |_, k| {
        k.values()?;
        Ok(())
    })
    .expect("walk");
    HiveWriter::open(out, None).expect("the writer refuses its own result");
}
