//! Every file under ../shared/data/registry: each regf primary hive is read completely (every
//! key, class name, security record and value), the deliberately damaged ones fail with the
//! typed error that names their damage, and non-regf inputs are refused by name.

use guestfix::hive::{Hive, HiveError, HiveOptions};
use std::path::Path;

const D: &str = "../shared/data/registry";

fn rd(rel: &str) -> Vec<u8> {
    std::fs::read(format!("{D}/{rel}")).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// Walk everything reachable; returns (keys, values).
fn read_all(h: &Hive) -> Result<(usize, usize), HiveError> {
    let mut values = 0;
    let keys = h.walk(1 << 24, |_, k| {
        k.class_name()?;
        k.security()?;
        for v in k.values()? {
            assert_eq!(v.raw.len(), v.record.data_size() as usize);
            values += 1;
        }
        Ok(())
    })?;
    Ok((keys, values))
}

/// Damaged hives, what is wrong with them, and the error we must give (strict open + walk).
fn damaged(rel: &str) -> Option<fn(&HiveError) -> bool> {
    let f: fn(&HiveError) -> bool = match rel {
        // Hive bin header signature overwritten ("gbin").
        "EricZimmerman-Registry/Registry.Test/Hives/SAMBadHBinHeader" => {
            |e| matches!(e, HiveError::BadBinSignature { offset: 4096, found } if found == b"gbin")
        }
        // A base block damaged in two bits.
        "EricZimmerman-Registry/Registry.Test/Hives/SAN(OTHER)" => {
            |e| matches!(e, HiveError::BadChecksum { stored, computed } if stored != computed)
        }
        // yarp marks crafted base blocks invalid with the checksum "INVL".
        "yarp/hives_for_tests/BadBaseBlockHive/BadBaseBlockHive"
        | "yarp/hives_for_tests/EffectiveSizeHive"
        | "yarp/hives_for_tests/GarbageHive" => |e| {
            matches!(
                e,
                HiveError::BadChecksum {
                    stored: 0x4C56_4E49,
                    ..
                }
            )
        },
        // A subkey list shared by two keys / a key linked from a foreign list.
        "yarp/hives_for_tests/BadListHive" | "yarp/hives_for_tests/BadSubkeyHive" => |e| {
            matches!(
                e,
                HiveError::WrongParent {
                    offset: 1136,
                    listed_under: 744,
                    parent: 896
                }
            )
        },
        "yarp/hives_for_tests/InvalidParentHive" => |e| {
            matches!(
                e,
                HiveError::WrongParent {
                    listed_under: 320,
                    parent: 32,
                    ..
                }
            )
        },
        // Value data cell beyond the (truncated) hive bins data.
        "yarp/hives_for_tests/DeletedDataHiveTruncated" => {
            |e| matches!(e, HiveError::CellOutOfRange { .. })
        }
        // Key name longer than its cell.
        "yarp/hives_for_tests/TruncatedNameHive" => |e| {
            matches!(
                e,
                HiveError::RecordTooShort {
                    what: "key node name",
                    need: 98,
                    have: 92,
                    ..
                }
            )
        },
        // Files cut short: the base block claims 487424 bytes of hive bins, 8192 are there.
        "yarp/hives_for_tests/TruncatedHive" | "yarp/hives_for_tests/TruncatedDirtyHive" => |e| {
            matches!(
                e,
                HiveError::TruncatedHiveBins {
                    claimed: 487_424,
                    available: 8192
                }
            )
        },
        _ => return None,
    };
    Some(f)
}

fn is_log(data: &[u8]) -> bool {
    data.starts_with(b"regf") && matches!(data.get(28), Some(1 | 2 | 6))
}

#[test]
fn every_regf_hive_is_read_or_fails_with_the_right_typed_error() {
    let mut good = 0;
    let mut bad = 0;
    for e in walkdir::WalkDir::new(D).sort_by_file_name() {
        let e = e.unwrap();
        if !e.file_type().is_file() {
            continue;
        }
        let rel = e
            .path()
            .strip_prefix(D)
            .unwrap()
            .to_str()
            .unwrap()
            .to_string();
        let data = std::fs::read(e.path()).unwrap();
        if !data.starts_with(b"regf") || is_log(&data) {
            continue;
        }
        let result = Hive::from_bytes(data).and_then(|h| read_all(&h));
        match (damaged(&rel), result) {
            (None, Ok((keys, _))) => {
                assert!(keys >= 1, "{rel}");
                good += 1;
            }
            (None, Err(err)) => panic!("{rel}: unexpected error {err:?}"),
            (Some(_), Ok(_)) => panic!("{rel}: damaged hive read without error"),
            (Some(check), Err(err)) => {
                assert!(check(&err), "{rel}: wrong error {err:?}");
                bad += 1;
            }
        }
    }
    // 40+ good hives from regipy, yarp, EricZimmerman and dfwinreg; 12 damaged ones.
    assert!(good >= 40, "{good}");
    assert_eq!(bad, 12);
}

#[test]
fn the_real_windows_hives_are_all_read() {
    for (rel, min_keys) in [
        ("regipy/SYSTEM", 30_000),
        ("regipy/SYSTEM_2", 20_000),
        ("regipy/SYSTEM_B", 30_000),
        ("regipy/SAM", 50),
        ("regipy/SECURITY", 50),
        ("regipy/NTUSER.DAT", 1_000),
        ("regipy/UsrClass.dat", 5_000),
        ("regipy/BCD", 100),
        ("dfwinreg/test_data/NTUSER.DAT", 1_000),
        ("dfwinreg/test_data/SAM", 50),
        ("dfwinreg/test_data/SECURITY", 50),
        ("dfwinreg/test_data/UsrClass.dat", 5_000),
        ("EricZimmerman-Registry/Registry.Test/Hives/BCD", 50),
        ("EricZimmerman-Registry/Registry.Test/Hives/SECURITY", 200),
        ("yarp/hives_for_tests/System_Delta", 500),
    ] {
        let h = Hive::from_bytes(rd(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
        let (keys, values) = read_all(&h).unwrap_or_else(|e| panic!("{rel}: {e}"));
        assert!(keys >= min_keys, "{rel}: {keys} keys");
        assert!(values >= 1, "{rel}");
    }
}

#[test]
fn dirty_hives_without_logs_are_read_as_they_are() {
    for rel in ["regipy/SYSTEM_2", "regipy/SECURITY", "regipy/SYSTEM_B"] {
        let h = Hive::from_bytes(rd(rel)).unwrap();
        let b = h.base_block();
        assert!(h.is_dirty(), "{rel}");
        assert_ne!(b.primary_sequence, b.secondary_sequence, "{rel}");
        assert!(b.checksum_ok(), "{rel}");
    }
}

#[test]
fn non_regf_inputs_are_refused_by_name() {
    for rel in [
        "dfwinreg/test_data/SYSTEM.DAT",
        "dfwinreg/test_data/USER.DAT",
    ] {
        assert_eq!(
            Hive::from_bytes(rd(rel)).unwrap_err(),
            HiveError::Windows9xCreg,
            "{rel}"
        );
    }
    assert_eq!(
        Hive::from_bytes(rd("EricZimmerman-Registry/Registry.Test/Hives/NotAHive")).unwrap_err(),
        HiveError::PeExecutable
    );
    for rel in [
        "EricZimmerman-Registry/Registry.Test/Hives/system.LOG1",
        "yarp/hives_for_tests/Discovery/5/aa",
    ] {
        assert_eq!(
            Hive::from_bytes(rd(rel)).unwrap_err(),
            HiveError::Empty,
            "{rel}"
        );
    }
    for rel in [
        "yarp/hives_for_tests/InvalidParentFragment",
        "yarp/hives_for_tests/TruncatedHiveBin",
    ] {
        assert_eq!(
            Hive::from_bytes(rd(rel)).unwrap_err(),
            HiveError::HiveBinFragment,
            "{rel}"
        );
    }
    let lic = Hive::from_bytes(rd("regipy/LICENSE")).unwrap_err();
    assert_eq!(lic, HiveError::BadSignature { found: *b"MIT " });
}

#[test]
fn transaction_logs_are_not_primary_files() {
    let new = Hive::from_bytes(rd("regipy/SYSTEM_B.LOG1")).unwrap_err();
    assert_eq!(new, HiveError::NotPrimaryFile { file_type: 6 });
    let old = Hive::from_bytes(rd("yarp/hives_for_tests/OldDirtyHive/OldDirtyHive.LOG1"));
    assert_eq!(old.unwrap_err(), HiveError::NotPrimaryFile { file_type: 1 });
}

#[test]
fn bad_checksum_is_reported_and_lenient_flag_reads_anyway() {
    let lenient = HiveOptions {
        lenient_checksum: true,
    };
    let rel = "EricZimmerman-Registry/Registry.Test/Hives/SAN(OTHER)";
    let Err(HiveError::BadChecksum { stored, computed }) = Hive::from_bytes(rd(rel)) else {
        panic!("{rel}: expected a checksum error");
    };
    // A damaged base block: stored and computed checksums differ in a couple of bits only.
    assert!(
        (stored ^ computed).count_ones() <= 2,
        "{stored:#x} {computed:#x}"
    );
    let h = Hive::from_bytes_with_options(rd(rel), lenient).unwrap();
    assert!(h.is_dirty());
    assert!(read_all(&h).unwrap().0 > 50);
    assert!(
        h.root()
            .open_path("SAM\\Domains\\Account")
            .unwrap()
            .is_some()
    );

    // GarbageHive: trailing garbage after the hive bins data is ignored.
    let g = Hive::from_bytes_with_options(rd("yarp/hives_for_tests/GarbageHive"), lenient).unwrap();
    assert_eq!(g.base_block().hive_bins_data_size, 4096);
    assert_eq!(read_all(&g).unwrap(), (1, 0));

    // EffectiveSizeHive: only the first 4096 bytes of hive bins count; a key beyond is an
    // out-of-range cell, not a read of stale bytes.
    let e = Hive::from_bytes_with_options(rd("yarp/hives_for_tests/EffectiveSizeHive"), lenient)
        .unwrap();
    assert!(matches!(
        read_all(&e),
        Err(HiveError::CellOutOfRange { .. })
    ));
}

#[test]
fn paths_are_relative_to_the_data_dir() {
    assert!(Path::new(D).is_dir());
}
