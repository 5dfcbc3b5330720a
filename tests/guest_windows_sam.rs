//! WIN-6 local accounts from real SAM hives (../shared/data/registry: regipy's and dfwinreg's
//! Windows 7-era SAM, Eric Zimmerman's test SAMs), with hivexregedit (libhivex-bin) as an
//! independent oracle for the Users\Names → RID mapping, and damaged F/V records.

use guestfix::guest::windows::sam::{self, HashFormat, SamError};
use guestfix::hive::Hive;
use std::process::Command;

const REGIPY: &str = "../shared/data/registry/regipy/SAM";
const DUPENAME: &str =
    "../shared/data/registry/EricZimmerman-Registry/Registry.Test/Hives/SAM_DUPENAME";

fn facts(path: &str) -> sam::SamFacts {
    let h = Hive::from_bytes(std::fs::read(path).unwrap()).unwrap();
    sam::sam_facts(&h).unwrap()
}

/// (name, RID, ACB, disabled, password set, LM hash present).
fn rows(f: &sam::SamFacts) -> Vec<(String, u32, u16, bool, bool, bool)> {
    f.accounts
        .iter()
        .map(|a| {
            (
                a.name.clone(),
                a.rid,
                a.acb,
                a.disabled,
                a.password_set,
                a.lm_hash_present,
            )
        })
        .collect()
}

#[test]
fn regipy_sam_accounts() {
    let f = facts(REGIPY);
    assert!(f.unreadable.is_empty());
    assert_eq!(
        rows(&f),
        vec![
            ("Administrator".into(), 500, 0x211, true, true, false),
            ("Guest".into(), 501, 0x215, true, false, false),
            ("Preston".into(), 1000, 0x10, false, true, false),
        ]
    );
    assert!(f.accounts.iter().all(|a| a.hash_format == HashFormat::Rc4));
    // Guest: password not required, no hash — but disabled, so WIN-6 does not count it.
    assert!(f.accounts[1].password_not_required);
    assert_eq!(f.blank_password_accounts().count(), 0);
    assert_eq!(
        f.accounts[0].full_name, None,
        "the built-in Administrator has no full name"
    );
}

#[test]
fn dfwinreg_sam_accounts() {
    let f = facts("../shared/data/registry/dfwinreg/test_data/SAM");
    let names: Vec<(&str, u32, bool)> = f
        .accounts
        .iter()
        .map(|a| (a.name.as_str(), a.rid, a.blank_password()))
        .collect();
    assert_eq!(
        names,
        vec![
            ("Administrator", 500, false),
            ("Guest", 501, false),
            ("gold_administrator", 1001, false),
        ]
    );
}

/// An XP-era SAM with 15 accounts, LM hashes, and one enabled account without a password.
#[test]
fn many_accounts_one_blank_password() {
    let f = facts(DUPENAME);
    assert_eq!(f.accounts.len(), 15);
    let blank: Vec<&str> = f
        .blank_password_accounts()
        .map(|a| a.name.as_str())
        .collect();
    assert_eq!(blank, vec!["harrymsn"]);
    let lm: Vec<&str> = f
        .accounts
        .iter()
        .filter(|a| a.lm_hash_present)
        .map(|a| a.name.as_str())
        .collect();
    assert_eq!(
        lm,
        vec![
            "HelpAssistant",
            "emily",
            "liam",
            "harry",
            "visitor",
            "SophosSAUFINN0"
        ]
    );
    // hivexregedit's export of Users\Names: each name's default value has the RID as its type.
    let Ok(o) = Command::new("hivexregedit")
        .args([
            "--export",
            DUPENAME,
            "\\SAM\\Domains\\Account\\Users\\Names",
        ])
        .output()
    else {
        assert!(
            std::env::var("GUESTFIX_REQUIRE_IMAGES").is_err(),
            "hivexregedit (libhivex-bin) is required under scripts/test.sh"
        );
        eprintln!("*** SKIPPED hivexregedit cross-check: not installed ***");
        return;
    };
    assert!(o.status.success());
    let text = String::from_utf8_lossy(&o.stdout);
    let mut oracle = Vec::new();
    let mut cur = None;
    for l in text.lines() {
        if let Some(k) = l.strip_prefix("[\\SAM\\Domains\\Account\\Users\\Names\\") {
            cur = Some(k.trim_end_matches(']').to_string());
        } else if let (Some(n), Some(t)) = (&cur, l.strip_prefix("@=hex(")) {
            let rid = u32::from_str_radix(t.split(')').next().unwrap(), 16).unwrap();
            oracle.push((n.clone(), rid));
        }
    }
    let mut ours: Vec<(String, u32)> = f.accounts.iter().map(|a| (a.name.clone(), a.rid)).collect();
    oracle.sort();
    ours.sort();
    assert_eq!(ours, oracle);
}

#[test]
fn not_a_sam_hive() {
    let h =
        Hive::from_bytes(std::fs::read("../shared/data/registry/regipy/SYSTEM").unwrap()).unwrap();
    assert_eq!(sam::sam_facts(&h), Err(SamError::NoUsersKey));
}

/// The real V and F values of regipy's Administrator, cut and bent: typed errors naming the
/// on-disk reason, never a panic.
#[test]
fn damaged_records() {
    let h = Hive::from_bytes(std::fs::read(REGIPY).unwrap()).unwrap();
    let k = h
        .root()
        .open_path("SAM\\Domains\\Account\\Users\\000001F4")
        .unwrap()
        .unwrap();
    let v = k.value("V").unwrap().unwrap().raw;
    let f = k.value("F").unwrap().unwrap().raw;
    assert_eq!(sam::parse_f(500, &f).unwrap(), (500, 0x211, 6));
    assert_eq!(
        sam::v_field(500, &v, 1).unwrap(),
        "Administrator"
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect::<Vec<u8>>()
            .as_slice()
    );
    // NT hash entry: 4-byte RC4 header + 16 bytes.
    assert_eq!(sam::v_field(500, &v, 14).unwrap().len(), 0x14);
    assert_eq!(
        sam::parse_f(500, &f[..0x30]),
        Err(SamError::FTooShort {
            rid: 500,
            len: 0x30,
            need: sam::F_MIN
        })
    );
    assert_eq!(
        sam::v_field(500, &v[..0x40], 1),
        Err(SamError::VTooShort {
            rid: 500,
            len: 0x40,
            need: sam::V_TABLE
        })
    );
    // The value cut right after the user name: the NT hash descriptor points past its end.
    let cut = &v[..sam::V_TABLE + 0xbc + 0x1a];
    assert!(sam::v_field(500, cut, 1).is_ok());
    let e = sam::v_field(500, cut, 14).unwrap_err();
    assert!(
        matches!(
            e,
            SamError::VFieldOutOfRange {
                field: "NT hash",
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("lies past the"), "{e}");
    // A huge length does not overflow.
    let mut bent = v.clone();
    bent[14 * 12 + 4..14 * 12 + 8].copy_from_slice(&u32::MAX.to_le_bytes());
    bent[14 * 12..14 * 12 + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(
        sam::v_field(500, &bent, 14),
        Err(SamError::VFieldOutOfRange { .. })
    ));
}

#[test]
fn hash_entry_lengths() {
    // RC4 (revision 1): header only = no password; + 16 bytes = a hash.
    assert_eq!(sam::hash_stored(&[3, 0, 1, 0]), (false, HashFormat::Rc4));
    assert_eq!(
        sam::hash_stored(&[3, 0, 1, 0, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9]),
        (true, HashFormat::Rc4)
    );
    // AES (revision 2, Windows 10 1607+): a 0x18-byte header, + encrypted data when set.
    let mut aes = vec![3, 0, 2, 0, 0x10, 0, 0, 0];
    aes.resize(0x18, 7);
    assert_eq!(sam::hash_stored(&aes), (false, HashFormat::Aes));
    aes.resize(0x38, 7);
    assert_eq!(sam::hash_stored(&aes), (true, HashFormat::Aes));
    assert_eq!(sam::hash_stored(&[]), (false, HashFormat::Empty));
    assert_eq!(sam::hash_stored(&[1, 2]), (false, HashFormat::Unknown));
}
