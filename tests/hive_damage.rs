//! Damage applied in memory to real hives (yarp, written by Windows), to reach the error paths
//! the shipped corrupt samples do not: cycles through index roots and the key tree, oversized
//! inline data, and a log entry whose Marvin32 hash no longer matches.

use guestfix::hive::subkey_list::{SubkeyList, SubkeyListKind};
use guestfix::hive::{Hive, HiveError};

const Y: &str = "../shared/data/registry/yarp/hives_for_tests";

fn rd(p: &str) -> Vec<u8> {
    std::fs::read(format!("{Y}/{p}")).unwrap()
}

fn put32(data: &mut [u8], file_off: usize, v: u32) {
    data[file_off..file_off + 4].copy_from_slice(&v.to_le_bytes());
}

/// File offset of byte `field` of the record in the cell at `cell` (hive bins relative).
fn at(cell: u32, field: usize) -> usize {
    4096 + cell as usize + 4 + field
}

#[test]
fn index_root_lists_are_followed_and_cycles_refused() {
    let data = rd("ManySubkeysHive");
    let h = Hive::from_bytes(data.clone()).unwrap();
    let k = h.root().subkey("key_with_many_subkeys").unwrap().unwrap();
    let list_off = k.node().subkey_list;
    let ri = SubkeyList::parse(&h.cell(list_off).unwrap()).unwrap();
    assert_eq!(ri.kind, SubkeyListKind::IndexRoot);
    assert!(ri.elements.len() > 1);
    let subs = k.subkeys().unwrap();
    assert_eq!(subs.len(), k.node().subkey_count as usize);
    assert_eq!(subs.len(), 5000);

    // Point the index root's first element at the index root itself.
    let mut bad = data.clone();
    put32(&mut bad, at(list_off, 4), list_off);
    let h = Hive::from_bytes(bad).unwrap();
    let k = h.root().subkey("key_with_many_subkeys").unwrap().unwrap();
    assert_eq!(
        k.subkeys().unwrap_err(),
        HiveError::SubkeyListCycle { offset: list_off }
    );

    // Point two elements at the same leaf: also refused (no list is read twice).
    let mut bad = data;
    put32(&mut bad, at(list_off, 8), ri.elements[0]);
    let h = Hive::from_bytes(bad).unwrap();
    let k = h.root().subkey("key_with_many_subkeys").unwrap().unwrap();
    assert_eq!(
        k.subkeys().unwrap_err(),
        HiveError::SubkeyListCycle {
            offset: ri.elements[0]
        }
    );
}

#[test]
fn key_tree_cycle_is_refused_by_the_walk() {
    // UnicodeHive: root -> Привет -> Ключ. Make Привет's only subkey the root, and the root's
    // parent Привет: every parent link is consistent, but the tree is now a cycle.
    let data = rd("UnicodeHive");
    let h = Hive::from_bytes(data.clone()).unwrap();
    let root = h.root().cell_offset();
    let privet = h.root().subkey("Привет").unwrap().unwrap();
    let list = privet.node().subkey_list;
    let mut bad = data;
    put32(&mut bad, at(root, 16), privet.cell_offset());
    let elem = SubkeyList::parse(&h.cell(list).unwrap()).unwrap();
    assert_eq!(elem.elements.len(), 1);
    put32(&mut bad, at(list, 4), root);
    let h = Hive::from_bytes(bad).unwrap();
    let err = h.walk(1000, |_, _| Ok(())).unwrap_err();
    assert_eq!(err, HiveError::KeyCycle { offset: root });
}

#[test]
fn walk_limit_is_enforced() {
    let h = Hive::from_bytes(rd("ManySubkeysHive")).unwrap();
    assert_eq!(
        h.walk(100, |_, _| Ok(())).unwrap_err(),
        HiveError::WalkLimit { limit: 100 }
    );
}

#[test]
fn bad_cell_references_are_typed() {
    let data = rd("StringValuesHive");
    let h = Hive::from_bytes(data.clone()).unwrap();
    let k = h.root().subkey("key").unwrap().unwrap();
    // Value "1" is 4 bytes stored inline; the default value (20 bytes) lives in a data cell.
    let v = k.value("1").unwrap().unwrap();
    assert!(v.record.is_inline());
    let vk = v.record.cell_offset;
    let d = k.value("").unwrap().unwrap();
    assert!(!d.record.is_inline());
    let dk = d.record.cell_offset;

    // Inline flag with a size of 5 bytes.
    let mut bad = data.clone();
    put32(&mut bad, at(vk, 4), 0x8000_0005);
    let h2 = Hive::from_bytes(bad).unwrap();
    let err = h2
        .root()
        .subkey("key")
        .unwrap()
        .unwrap()
        .value("1")
        .unwrap_err();
    assert_eq!(
        err,
        HiveError::BadInlineSize {
            offset: vk,
            size: 5
        }
    );

    // Data size larger than the data cell.
    let mut bad = data.clone();
    put32(&mut bad, at(dk, 4), 0x10_0000);
    let h2 = Hive::from_bytes(bad).unwrap();
    let err = h2
        .root()
        .subkey("key")
        .unwrap()
        .unwrap()
        .value("")
        .unwrap_err();
    assert!(
        matches!(
            err,
            HiveError::ValueDataTruncated {
                claimed: 0x10_0000,
                ..
            }
        ),
        "{err:?}"
    );

    // Data offset past the hive bins data.
    let mut bad = data.clone();
    put32(&mut bad, at(dk, 8), 0x7FFF_0000);
    let h2 = Hive::from_bytes(bad).unwrap();
    let err = h2
        .root()
        .subkey("key")
        .unwrap()
        .unwrap()
        .value("")
        .unwrap_err();
    assert_eq!(
        err,
        HiveError::CellOutOfRange {
            offset: 0x7FFF_0000
        }
    );

    // Data offset into the middle of a hive bin header.
    let mut bad = data.clone();
    put32(&mut bad, at(dk, 8), 8);
    let h2 = Hive::from_bytes(bad).unwrap();
    let err = h2
        .root()
        .subkey("key")
        .unwrap()
        .unwrap()
        .value("")
        .unwrap_err();
    assert_eq!(err, HiveError::CellOutOfRange { offset: 8 });

    // The value key cell marked free.
    let mut bad = data;
    let size = i32::from_le_bytes(
        bad[4096 + vk as usize..4096 + vk as usize + 4]
            .try_into()
            .unwrap(),
    );
    assert!(size < 0);
    bad[4096 + vk as usize..4096 + vk as usize + 4].copy_from_slice(&(-size).to_le_bytes());
    let h2 = Hive::from_bytes(bad).unwrap();
    let err = h2
        .root()
        .subkey("key")
        .unwrap()
        .unwrap()
        .values()
        .unwrap_err();
    assert_eq!(err, HiveError::UnallocatedCell { offset: vk });
}

#[test]
fn tampered_log_entry_stops_recovery_there() {
    let dir = "NewDirtyHive1/NewDirtyHive";
    let l1 = rd(&format!("{dir}.LOG1"));
    let mut l2 = rd(&format!("{dir}.LOG2"));
    // Flip one byte inside the first dirty page of LOG2's first entry (seq 3): Hash-1 fails.
    let first = guestfix::hive::log::scan(&l2).entries[0].clone();
    assert_eq!(first.sequence, 3);
    l2[first.pages[0].log_offset + 100] ^= 0xFF;
    let s = guestfix::hive::log::scan(&l2);
    assert!(s.entries.is_empty());
    assert!(s.stopped.as_deref().unwrap().contains("Hash-1 mismatch"));
    let (_, rep) = Hive::from_bytes_with_logs(rd(dir), &[l1, l2]).unwrap();
    // Only LOG1's entry 2 is applied; 3 is bogus so 4 and 5 are never reached.
    let seqs: Vec<u32> = rep.applied.iter().map(|a| a.sequence).collect();
    assert_eq!(seqs, vec![2]);
    assert_eq!(rep.sequence_after, (2, 2));
}
