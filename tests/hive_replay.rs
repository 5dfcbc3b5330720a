//! Transaction log replay against the ground truth Windows produced (yarp `RecoveredHive_*`)
//! and on real dirty hives (regipy SYSTEM_B, UsrClass.dat with .LOG1/.LOG2).

use guestfix::hive::{Hive, HiveError, LogFormat, dump_lines, log};

const Y: &str = "../shared/data/registry/yarp/hives_for_tests";
const R: &str = "../shared/data/registry/regipy";

fn rd(p: &str) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("{p}: {e}"))
}

fn logs(base: &str, names: &[&str]) -> Vec<Vec<u8>> {
    names.iter().map(|n| rd(&format!("{base}{n}"))).collect()
}

fn assert_same_dump(a: &Hive, b: &Hive) {
    let da = dump_lines(a).unwrap();
    let db = dump_lines(b).unwrap();
    assert!(da.len() > 1);
    for (x, y) in da.iter().zip(db.iter()) {
        assert_eq!(x, y);
    }
    assert_eq!(da.len(), db.len());
}

#[test]
fn new_format_replay_equals_windows10_recovery() {
    let dir = format!("{Y}/NewDirtyHive1/NewDirtyHive");
    let primary = rd(&dir);
    let before = Hive::from_bytes(primary.clone()).unwrap();
    assert!(before.is_dirty());
    let (hive, rep) =
        Hive::from_bytes_with_logs(primary, &logs(&dir, &[".LOG1", ".LOG2"])).unwrap();
    assert_eq!(rep.format, Some(LogFormat::New));
    let seqs: Vec<(usize, u32)> = rep
        .applied
        .iter()
        .map(|a| (a.log_index, a.sequence))
        .collect();
    // Secondary sequence 2: entry 2 from LOG1, then 3, 4, 5 from LOG2.
    assert_eq!(seqs, vec![(0, 2), (1, 3), (1, 4), (1, 5)]);
    assert!(!hive.is_dirty());
    assert_eq!(hive.base_block().primary_sequence, 5);
    let truth =
        Hive::from_bytes(rd(&format!("{Y}/NewDirtyHive1/RecoveredHive_Windows10"))).unwrap();
    assert_same_dump(&hive, &truth);
    // The primary alone differs from the ground truth: replay really changed something.
    assert_ne!(dump_lines(&before).unwrap(), dump_lines(&truth).unwrap());
}

#[test]
fn new_format_replay_skips_already_applied_entries() {
    // NewDirtyHive2: secondary sequence 3, so LOG1's entry 2 is old and must be ignored.
    let dir = format!("{Y}/NewDirtyHive2/NewDirtyHive");
    let (hive, rep) =
        Hive::from_bytes_with_logs(rd(&dir), &logs(&dir, &[".LOG1", ".LOG2"])).unwrap();
    let seqs: Vec<u32> = rep.applied.iter().map(|a| a.sequence).collect();
    assert_eq!(seqs, vec![3, 4, 5]);
    let truth =
        Hive::from_bytes(rd(&format!("{Y}/NewDirtyHive1/RecoveredHive_Windows10"))).unwrap();
    assert_same_dump(&hive, &truth);
}

#[test]
fn old_format_replay_equals_windows7_recovery() {
    let dir = format!("{Y}/OldDirtyHive/OldDirtyHive");
    let (hive, rep) =
        Hive::from_bytes_with_logs(rd(&dir), &logs(&dir, &[".LOG1", ".LOG2"])).unwrap();
    assert_eq!(rep.format, Some(LogFormat::Old));
    assert_eq!(rep.old_log_used, Some(0));
    assert!(rep.old_log_pages > 0);
    assert!(!hive.is_dirty());
    let truth = Hive::from_bytes(rd(&format!("{Y}/OldDirtyHive/RecoveredHive_Windows7"))).unwrap();
    assert_same_dump(&hive, &truth);
}

#[test]
fn bad_base_block_is_restored_from_old_log() {
    let dir = format!("{Y}/BadBaseBlockHive/BadBaseBlockHive");
    let primary = rd(&dir);
    assert!(matches!(
        Hive::from_bytes(primary.clone()),
        Err(HiveError::BadChecksum { .. })
    ));
    let (hive, rep) =
        Hive::from_bytes_with_logs(primary, &logs(&dir, &[".LOG1", ".LOG2"])).unwrap();
    assert!(rep.base_block_recovered);
    assert_eq!(rep.format, Some(LogFormat::Old));
    assert_eq!(hive.base_block().minor_version, 3);
    let truth = Hive::from_bytes(rd(&format!("{Y}/OldDirtyHive/RecoveredHive_Windows7"))).unwrap();
    assert_same_dump(&hive, &truth);
}

#[test]
fn bad_logs_are_not_applied() {
    for (case, want_note) in [
        ("BadLogHive1", "base block checksum mismatch"),
        ("BadLogHive2", "neither an old nor a new format log"),
        ("BadLogHive3", "log invalid"),
    ] {
        let dir = format!("{Y}/{case}/BadLogHive");
        let primary = rd(&dir);
        let plain = Hive::from_bytes(primary.clone()).unwrap();
        let (hive, rep) =
            Hive::from_bytes_with_logs(primary, &logs(&dir, &[".LOG1", ".LOG2"])).unwrap();
        assert!(rep.was_dirty, "{case}");
        assert_eq!(rep.format, None, "{case}");
        assert!(rep.applied.is_empty() && rep.old_log_pages == 0, "{case}");
        assert!(
            rep.notes.iter().any(|n| n.contains(want_note)),
            "{case}: {:?}",
            rep.notes
        );
        assert!(hive.is_dirty(), "{case}");
        assert_eq!(hive.as_bytes(), plain.as_bytes(), "{case}");
    }
}

#[test]
fn dirty_primary_with_bad_checksum_and_no_log_is_unrecoverable() {
    let dir = format!("{Y}/BadBaseBlockHive/BadBaseBlockHive");
    let r = Hive::from_bytes_with_logs(rd(&dir), &[Vec::new()]);
    assert!(matches!(r, Err(HiveError::Unrecoverable(_))), "{r:?}");
}

#[test]
fn system_b_log_entries_verify_and_replay_in_sequence() {
    let l1 = rd(&format!("{R}/SYSTEM_B.LOG1"));
    let l2 = rd(&format!("{R}/SYSTEM_B.LOG2"));
    let s1 = log::scan(&l1);
    let s2 = log::scan(&l2);
    // Every entry passes both Marvin32 hashes; the scans end cleanly.
    assert_eq!(s1.stopped, None);
    assert_eq!(s2.stopped, None);
    let q1: Vec<u32> = s1.entries.iter().map(|e| e.sequence).collect();
    let q2: Vec<u32> = s2.entries.iter().map(|e| e.sequence).collect();
    assert_eq!(q1, (2107..=2110).collect::<Vec<_>>());
    assert_eq!(q2, (2111..=2130).collect::<Vec<_>>());

    let primary = rd(&format!("{R}/SYSTEM_B"));
    let before = Hive::from_bytes(primary.clone()).unwrap();
    let (hive, rep) = Hive::from_bytes_with_logs(primary, &[l1, l2]).unwrap();
    assert_eq!(rep.sequence_before, (1622, 1621));
    assert_eq!(rep.sequence_after, (2130, 2130));
    let pages: usize = rep.applied.iter().map(|a| a.pages).sum();
    assert_eq!(pages, 315);
    // The last entries grew the hive.
    assert_eq!(hive.base_block().hive_bins_data_size, 12_591_104);
    assert!(hive.base_block().hive_bins_data_size > before.base_block().hive_bins_data_size);
    let mut n_before = 0;
    before
        .walk(1 << 20, |_, k| {
            k.values()?;
            n_before += 1;
            Ok(())
        })
        .unwrap();
    let mut n_after = 0;
    hive.walk(1 << 20, |_, k| {
        k.values()?;
        n_after += 1;
        Ok(())
    })
    .unwrap();
    assert_ne!(n_before, n_after);
}

#[test]
fn usrclass_replay_applies_both_logs() {
    let primary = rd(&format!("{R}/UsrClass.dat"));
    let (hive, rep) = Hive::from_bytes_with_logs(
        primary,
        &[
            rd(&format!("{R}/UsrClass.dat.LOG1")),
            rd(&format!("{R}/UsrClass.dat.LOG2")),
        ],
    )
    .unwrap();
    assert_eq!(rep.sequence_after, (300, 300));
    assert_eq!(
        rep.applied.first().map(|a| (a.log_index, a.sequence)),
        Some((0, 287))
    );
    assert_eq!(
        rep.applied.last().map(|a| (a.log_index, a.sequence)),
        Some((1, 300))
    );
    assert!(!hive.is_dirty());
    hive.walk(1 << 20, |_, k| k.values().map(|_| ())).unwrap();
}

#[test]
fn clean_hive_ignores_logs() {
    // dfwinreg NTUSER.DAT is clean (132/132); its new-format log holds entry 131 only.
    let primary = rd("../shared/data/registry/dfwinreg/test_data/NTUSER.DAT");
    let l = rd("../shared/data/registry/dfwinreg/test_data/NTUSER.DAT.LOG");
    assert_eq!(log::scan(&l).entries.len(), 1);
    let (hive, rep) = Hive::from_bytes_with_logs(primary.clone(), &[l]).unwrap();
    assert!(!rep.was_dirty);
    assert!(rep.applied.is_empty());
    assert_eq!(hive.as_bytes(), primary.as_slice());
}
