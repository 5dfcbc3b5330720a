//! Names, value types and data decoding on real hives written by Windows (yarp crafted-content
//! hives, EricZimmerman SAM): UTF-16 and Latin-1 names, strings with and without terminators,
//! REG_MULTI_SZ, big data (`db`), REG_DWORD_BIG_ENDIAN, Windows-style case-insensitive lookup.

use guestfix::hive::value::{REG_BINARY, REG_EXPAND_SZ, REG_MULTI_SZ, REG_SZ};
use guestfix::hive::{Hive, RegData};

const Y: &str = "../shared/data/registry/yarp/hives_for_tests";

fn open(rel: &str) -> Hive {
    Hive::from_bytes(std::fs::read(rel).unwrap()).unwrap()
}

#[test]
fn string_values_decode_from_utf16() {
    let h = open(&format!("{Y}/StringValuesHive"));
    let k = h.root().subkey("key").unwrap().unwrap();
    let def = k.value("").unwrap().unwrap();
    assert_eq!(def.data_type, REG_SZ);
    assert_eq!(def.as_string().as_deref(), Some("test тест"));
    let v1 = k.value("1").unwrap().unwrap();
    assert_eq!(v1.data_type, REG_BINARY);
    assert_eq!(v1.raw, b"test");
    assert_eq!(v1.as_string(), None);
    let v2 = k.value("2").unwrap().unwrap();
    assert_eq!(v2.data_type, REG_EXPAND_SZ);
    assert_eq!(v2.decoded, RegData::ExpandSz("test тест".into()));
    let v3 = k.value("3").unwrap().unwrap();
    assert_eq!(v3.as_string().as_deref(), Some("test тест "));
    assert_eq!(k.values().unwrap().len(), 4);
}

#[test]
fn multi_sz_values_decode() {
    let h = open(&format!("{Y}/MultiSzHive"));
    let k = h.root().subkey("key").unwrap().unwrap();
    let v1 = k.value("1").unwrap().unwrap();
    assert_eq!(v1.data_type, REG_MULTI_SZ);
    assert_eq!(v1.as_multi_string(), Some(Vec::<String>::new()));
    let v2 = k.value("2").unwrap().unwrap();
    assert_eq!(
        v2.as_multi_string(),
        Some(vec!["привет".to_string(), "как дела?".to_string()])
    );
}

#[test]
fn strings_tolerate_missing_terminators_and_odd_lengths() {
    // Real REG_SZ bytes from StringValuesHive, cut the ways broken writers leave them.
    let h = open(&format!("{Y}/StringValuesHive"));
    let raw = h
        .root()
        .open_path("key")
        .unwrap()
        .unwrap()
        .value("")
        .unwrap()
        .unwrap()
        .raw;
    let no_nul = &raw[..raw.len() - 2];
    assert_eq!(
        RegData::decode(REG_SZ, no_nul),
        RegData::Sz("test тест".into())
    );
    let odd = &raw[..raw.len() - 3];
    assert_eq!(RegData::decode(REG_SZ, odd), RegData::Sz("test тес".into()));
    let multi = RegData::decode(REG_MULTI_SZ, no_nul);
    assert_eq!(multi, RegData::MultiSz(vec!["test тест".into()]));
}

#[test]
fn big_data_values_are_reassembled() {
    let h = open(&format!("{Y}/BigDataHive"));
    assert_eq!(h.minor_version(), 5);
    let k = h.root().subkey("key_with_bigdata").unwrap().unwrap();
    let def = k.value("").unwrap().unwrap();
    assert_eq!(def.raw.len(), 16345);
    assert!(def.raw.iter().all(|&b| b == b'1'));
    let v = k.value("v").unwrap().unwrap();
    assert_eq!(v.raw.len(), 81725);
    assert!(v.raw.iter().all(|&b| b == b'2'));
    // The data cell is a big data record with 16344-byte segments.
    let cell = h.cell(v.record.data_offset).unwrap();
    assert_eq!(&cell.data[..2], b"db");
    let db = guestfix::hive::big_data::BigData::parse(&h, &cell).unwrap();
    assert_eq!(db.segments.len(), 81725usize.div_ceil(16344));
}

#[test]
fn unicode_and_latin1_names() {
    let h = open(&format!("{Y}/UnicodeHive"));
    let k = h.root().open_path("Привет\\Ключ").unwrap().unwrap();
    assert_eq!(k.name(), "Ключ");
    assert_eq!(k.node().flags & guestfix::hive::key_node::KEY_COMP_NAME, 0);
    // Case-insensitive on Cyrillic too.
    assert!(h.root().open_path("ПРИВЕТ\\ключ").unwrap().is_some());

    let h = open(&format!("{Y}/ExtendedASCIIHive"));
    let k = h.root().subkey("ëigenaardig").unwrap().unwrap();
    assert_ne!(k.node().flags & guestfix::hive::key_node::KEY_COMP_NAME, 0);
    assert_eq!(k.name(), "ëigenaardig");
    let v = k.value("ËIGENAARDIG").unwrap().unwrap();
    assert_eq!(v.name, "ëigenaardig");
    assert_eq!(v.as_string().as_deref(), Some("ëigenaardig"));
}

#[test]
fn lookup_is_case_insensitive_like_windows() {
    let h = open(&format!("{Y}/UpcaseHive"));
    let names: Vec<String> = h
        .root()
        .subkeys()
        .unwrap()
        .iter()
        .map(|k| k.name().to_string())
        .collect();
    // On disk, sorted by upper-cased name: SS1 < SS3 < ß2.
    assert_eq!(names, ["ss1", "SS3", "ß2"]);
    let r = h.root();
    assert_eq!(r.subkey("ss3").unwrap().unwrap().name(), "SS3");
    assert_eq!(r.subkey("SS1").unwrap().unwrap().name(), "ss1");
    assert_eq!(r.subkey("ß2").unwrap().unwrap().name(), "ß2");
    // Windows upper-cases per character; "ß" stays "ß" and is not "SS".
    assert!(r.subkey("SS2").unwrap().is_none());
    assert!(r.subkey("nope").unwrap().is_none());
}

#[test]
fn big_endian_dword_and_malformed_dwords() {
    let h = open(
        "../shared/data/registry/EricZimmerman-Registry/Registry.Test/Hives/SAM_hasBigEndianDWord",
    );
    let k = h
        .root()
        .open_path("SAM\\Domains\\Account\\Aliases")
        .unwrap()
        .unwrap();
    let v = k.value("").unwrap().unwrap();
    assert_eq!(v.data_type, 5);
    // Zero bytes stored with type REG_DWORD_BIG_ENDIAN: kept raw, not invented.
    assert_eq!(
        v.decoded,
        RegData::Malformed {
            data_type: 5,
            data: vec![]
        }
    );
    assert_eq!(v.as_dword(), None);
    // The decoder itself on the real 4-byte little-endian DWORD from regipy SYSTEM:
    let sys = open("../shared/data/registry/regipy/SYSTEM");
    let cur = sys
        .root()
        .open_path("Select")
        .unwrap()
        .unwrap()
        .value("Current")
        .unwrap()
        .unwrap();
    assert_eq!(cur.raw, [1, 0, 0, 0]);
    assert_eq!(
        RegData::decode(5, &cur.raw),
        RegData::DwordBigEndian(0x0100_0000)
    );
    assert_eq!(cur.as_qword(), Some(1));
}

#[test]
fn key_metadata_is_exposed() {
    let h = open("../shared/data/registry/regipy/SYSTEM");
    let root = h.root();
    assert!(root.node().is_root());
    assert_eq!(root.cell_offset(), h.base_block().root_cell_offset);
    let sel = root.subkey("Select").unwrap().unwrap();
    // FILETIME after 2009 and before 2030.
    assert!(
        sel.last_written() > 128_752_416_000_000_000
            && sel.last_written() < 135_000_000_000_000_000
    );
    let sk = sel.security().unwrap().unwrap();
    // Self-relative SECURITY_DESCRIPTOR: revision 1, SE_SELF_RELATIVE set.
    assert_eq!(sk.descriptor[0], 1);
    assert_ne!(
        u16::from_le_bytes([sk.descriptor[2], sk.descriptor[3]]) & 0x8000,
        0
    );
    assert!(sk.reference_count >= 1);
    // Value records carry their cell offsets for in-place writers.
    let recs = sel.value_records().unwrap();
    assert!(recs.iter().any(|r| r.name == "Current" && r.is_inline()));
    for r in &recs {
        assert!(h.cell(r.cell_offset).unwrap().data.starts_with(b"vk"));
    }
}

#[test]
fn class_names_are_read() {
    // SYSTEM\ControlSet001\Control\Lsa\{JD,Skew1,GBG,Data} carry class names (hex strings).
    let h = open("../shared/data/registry/regipy/SYSTEM");
    let lsa = h
        .root()
        .open_path("ControlSet001\\Control\\Lsa")
        .unwrap()
        .unwrap();
    for name in ["JD", "Skew1", "GBG", "Data"] {
        let k = lsa.subkey(name).unwrap().unwrap();
        let class = k.class_name().unwrap().unwrap();
        assert_eq!(class.len(), 8, "{name}: {class}");
        assert!(
            class.chars().all(|c| c.is_ascii_hexdigit()),
            "{name}: {class}"
        );
    }
    assert_eq!(lsa.class_name().unwrap(), None);
}
