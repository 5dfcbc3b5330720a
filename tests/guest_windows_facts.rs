//! Windows fact extraction on real hives (../shared/data/registry/regipy: a Windows 7 32-bit
//! SYSTEM, a Windows 10 SYSTEM_2, a dirty Windows 10 SYSTEM_B with its .LOG1/.LOG2, and a UEFI
//! BCD store). Where hivexget (libhivex-bin) is installed the values are also compared with what
//! that independent reader says.

use guestfix::fs::ntfs::{HiberState, free_clusters, hiberfil_header};
use guestfix::guest::windows::drives::{self, MountedDevice, VolRef};
use guestfix::guest::windows::{WindowsFacts, derive, hiberfil_state, image_state, matrix_product};
use guestfix::guest::windows::{bcd, software, system};
use guestfix::hive::Hive;
use std::process::Command;

const DIR: &str = "../shared/data/registry/regipy";

fn hive(name: &str, with_logs: bool) -> (Hive, bool, usize) {
    let p = format!("{DIR}/{name}");
    let prim = std::fs::read(&p).unwrap();
    let logs: Vec<Vec<u8>> = if with_logs {
        ["LOG1", "LOG2"]
            .iter()
            .filter_map(|e| std::fs::read(format!("{p}.{e}")).ok())
            .collect()
    } else {
        Vec::new()
    };
    let (h, r) = Hive::from_bytes_with_logs(prim, &logs).unwrap();
    (h, r.was_dirty, r.applied.len())
}

/// What hivexget says (None when hivexget is not installed).
fn hivexget(file: &str, key: &str, value: &str) -> Option<String> {
    let o = Command::new("hivexget")
        .arg(format!("{DIR}/{file}"))
        .arg(key)
        .arg(value)
        .output()
        .ok()?;
    assert!(o.status.success(), "hivexget {file} {key} {value}");
    Some(String::from_utf8_lossy(&o.stdout).trim().to_string())
}

fn skip_note(what: &str) {
    assert!(
        std::env::var("GUESTFIX_REQUIRE_IMAGES").is_err(),
        "hivexget (libhivex-bin) is required under scripts/test.sh"
    );
    eprintln!("*** {what}: hivexget not installed, cross-check SKIPPED ***");
}

#[test]
fn system_windows7_32bit() {
    let (h, dirty, _) = hive("SYSTEM", false);
    assert!(!dirty);
    let s = system::system_facts(&h).unwrap();
    assert_eq!(s.current_control_set.as_deref(), Some("ControlSet001"));
    assert_eq!(s.hostname.as_deref(), Some("WKS-WIN732BITA"));
    assert_eq!(s.processor_architecture.as_deref(), Some("x86"));
    assert_eq!(system::arch_name("x86"), Some("i386"));
    match hivexget(
        "SYSTEM",
        "\\ControlSet001\\Control\\ComputerName\\ComputerName",
        "ComputerName",
    ) {
        Some(v) => assert_eq!(s.hostname.as_deref(), Some(v.as_str())),
        None => skip_note("hostname"),
    }
    match hivexget("SYSTEM", "\\ControlSet001\\Services\\VMTools", "Start") {
        Some(v) => assert_eq!(
            s.service("vmtools")
                .and_then(|x| x.start)
                .map(|n| n.to_string()),
            Some(v)
        ),
        None => skip_note("VMTools Start"),
    }
    // Services and drivers with their start types.
    assert_eq!(s.services.len(), 467);
    assert_eq!(s.service("Tcpip").unwrap().start, Some(0));
    assert_eq!(s.service("dhcp").unwrap().start, Some(2));
    assert!(s.service("LSI_SAS").unwrap().boot_start());
    assert!(s.service("LSI_SAS").unwrap().is_driver());
    assert_eq!(s.service("storvsc").unwrap().start, Some(3));
    // RDP allowed, with one active firewall rule for it.
    assert_eq!(s.deny_ts_connections, Some(0));
    assert!(s.firewall_rules_key);
    assert_eq!(
        s.rdp_firewall_rules,
        vec!["RemoteDesktop-In-TCP".to_string()]
    );
    assert!(
        s.rdp_firewall_rules_inactive
            .contains(&"RemoteDesktop-UserMode-In-TCP".to_string())
    );
    // WIN-1 automatic page file, WIN-4 language, WIN-8 not generalized, GEN-4 static IPs.
    assert!(s.page_file.as_ref().unwrap().automatic);
    assert_eq!(s.language_default.as_deref(), Some("0409"));
    assert_eq!(s.ui_languages, vec!["en-US".to_string()]);
    assert_eq!(s.sysprep_generalization_state, Some(7));
    assert_eq!(s.real_time_is_universal, None);
    let statics: Vec<&str> = s
        .interfaces
        .iter()
        .filter(|i| !i.dhcp)
        .flat_map(|i| i.addresses.iter().map(String::as_str))
        .collect();
    assert_eq!(statics, vec!["10.3.58.5", "192.168.1.123"]);
    // Drive letters: C: by MBR signature + offset 1 MiB; D: a CD-ROM device path.
    let (_, c) = s.mounted_devices.iter().find(|(l, _)| l == "C").unwrap();
    assert_eq!(
        drives::decode(c),
        MountedDevice::Mbr {
            signature: 0x5cbe_a03e,
            offset: 1 << 20
        }
    );
    let (_, d) = s.mounted_devices.iter().find(|(l, _)| l == "D").unwrap();
    match drives::decode(d) {
        MountedDevice::Other(p) => assert!(p.starts_with("\\??\\IDE#CdRom"), "{p}"),
        other => panic!("{other:?}"),
    }
    let vols = vec![
        VolRef {
            name: "/dev/sda1".into(),
            disk_signature: Some(0x5cbe_a03e),
            start: 1 << 20,
            partuuid: None,
        },
        VolRef {
            name: "/dev/sda2".into(),
            disk_signature: Some(0x5cbe_a03e),
            start: 2 << 20,
            partuuid: None,
        },
    ];
    let m = drives::drive_mappings(&s.mounted_devices, &vols);
    assert_eq!(m.len(), 1);
    assert_eq!(m.get("C").map(String::as_str), Some("/dev/sda1"));
    // Hypervisor tools from the services.
    let mut w = WindowsFacts {
        system: Some(s),
        ..Default::default()
    };
    derive(&mut w);
    assert!(
        w.hypervisor_services
            .contains(&"VMTools (vmware)".to_string())
    );
    assert!(!w.hyperv_role);
    assert!(w.p2v_signs.is_empty());
    let names: Vec<&str> = w.drivers.iter().map(|d| d.name.as_str()).collect();
    assert!(names.contains(&"LSI_SAS") && names.contains(&"storvsc") && names.contains(&"atapi"));
}

#[test]
fn system_2_windows10_fast_startup() {
    let (h, dirty, applied) = hive("SYSTEM_2", true);
    // Dirty, but no logs beside it: read as on disk.
    assert!(dirty);
    assert_eq!(applied, 0);
    let s = system::system_facts(&h).unwrap();
    assert_eq!(s.hostname.as_deref(), Some("SENSEI"));
    assert_eq!(s.processor_architecture.as_deref(), Some("AMD64"));
    assert_eq!(system::arch_name("AMD64"), Some("x86_64"));
    assert_eq!(s.hiberboot_enabled, Some(1));
    assert_eq!(s.deny_ts_connections, Some(1));
    assert!(s.rdp_firewall_rules.is_empty());
    assert!(s.pending_file_rename);
    assert_eq!(s.service("storvsc").unwrap().start, Some(0));
    match hivexget(
        "SYSTEM_2",
        "\\ControlSet001\\Control\\Session Manager\\Power",
        "HiberbootEnabled",
    ) {
        Some(v) => assert_eq!(v, "1"),
        None => skip_note("HiberbootEnabled"),
    }
    let (_, c) = s.mounted_devices.iter().find(|(l, _)| l == "C").unwrap();
    assert!(matches!(drives::decode(c), MountedDevice::Mbr { .. }));
}

#[test]
fn system_b_dirty_replayed_from_logs() {
    let (h, dirty, applied) = hive("SYSTEM_B", true);
    assert!(dirty);
    assert!(applied > 0, "the .LOG1/.LOG2 entries are applied");
    let s = system::system_facts(&h).unwrap();
    assert_eq!(s.hostname.as_deref(), Some("DESKTOP-PM6C56D"));
    assert_eq!(s.services.len(), 656);
    // C: is a GPT partition GUID (DMIO:ID:), F: an MBR partition.
    let (_, c) = s.mounted_devices.iter().find(|(l, _)| l == "C").unwrap();
    let MountedDevice::Gpt { guid } = drives::decode(c) else {
        panic!("C: is not a GPT mapping")
    };
    assert_eq!(&c[..8], b"DMIO:ID:");
    assert_eq!(guid, drives::guid_le(c[8..24].try_into().unwrap()));
    let vols = vec![VolRef {
        name: "/dev/sda3".into(),
        disk_signature: None,
        start: 0,
        partuuid: Some(guid.to_ascii_uppercase()),
    }];
    assert_eq!(
        drives::drive_mappings(&s.mounted_devices, &vols)
            .get("C")
            .map(String::as_str),
        Some("/dev/sda3")
    );
    let (_, f) = s.mounted_devices.iter().find(|(l, _)| l == "F").unwrap();
    assert!(matches!(
        drives::decode(f),
        MountedDevice::Mbr {
            offset: 0x100000,
            ..
        }
    ));
    // The replayed hive has more than the stale primary alone.
    let stale = Hive::from_bytes_with_options(
        std::fs::read(format!("{DIR}/SYSTEM_B")).unwrap(),
        guestfix::hive::HiveOptions {
            lenient_checksum: true,
        },
    )
    .unwrap();
    let sf = system::system_facts(&stale).unwrap();
    assert_ne!(sf, s, "replay changed nothing");
}

#[test]
fn bcd_uefi_store() {
    let h = Hive::from_bytes(std::fs::read(format!("{DIR}/BCD")).unwrap()).unwrap();
    let b = bcd::bcd_facts(&h, "BCD").unwrap();
    assert!(b.boot_manager_found);
    assert_eq!(
        b.boot_manager_path.as_deref(),
        Some("\\EFI\\Microsoft\\Boot\\bootmgfw.efi")
    );
    assert_eq!(
        b.default_entry.as_deref(),
        Some("{733b62e5-f608-11eb-825c-c112f60133ab}")
    );
    let d = b.default.as_ref().unwrap();
    assert_eq!(d.description.as_deref(), Some("Windows 10"));
    assert_eq!(d.path.as_deref(), Some("\\Windows\\system32\\winload.efi"));
    assert_eq!(b.firmware.as_deref(), Some("uefi"));
    assert!(!b.ems_enabled());
    // Two Windows loaders (the OS and WinRE), one in the boot menu.
    assert_eq!(b.loaders.len(), 2);
    assert_eq!(b.display_order, vec![d.id.clone()]);
    assert!(
        b.loaders
            .iter()
            .any(|l| l.description.as_deref() == Some("Windows Recovery Environment"))
    );
}

#[test]
fn software_facts_need_a_software_hive() {
    // The SYSTEM hive has no Microsoft\Windows NT\CurrentVersion: every SOFTWARE fact is absent,
    // not invented.
    let (h, _, _) = hive("SYSTEM", false);
    let s = software::software_facts(&h).unwrap();
    assert_eq!(s, software::SoftwareFacts::default());
}

#[test]
fn helpers() {
    // Microsoft's .NET 4.x release numbers.
    assert_eq!(software::dotnet4_version(461_814), "4.7.2");
    assert_eq!(software::dotnet4_version(528_040), "4.8");
    assert_eq!(software::dotnet4_version(378_389), "4.5");
    assert_eq!(software::dotnet4_version(30_319), "4.0");
    // Windows 11 still says "Windows 10" in ProductName.
    assert_eq!(
        matrix_product("Windows 10 Pro", Some(22631), true),
        "Windows 11 Pro"
    );
    assert_eq!(
        matrix_product("Windows 10 Pro", Some(19045), true),
        "Windows 10 Pro"
    );
    assert_eq!(
        matrix_product("Windows Server Datacenter", Some(20348), false),
        "Windows Server 2022 Datacenter"
    );
    assert_eq!(free_clusters(&[0b1111_0000, 0xff, 0x00], 20), 4 + 4);
    assert_eq!(
        free_clusters(&[0x00], 16),
        8,
        "bits past the bitmap are used"
    );
    // GEN-5: a hibernation signature over a whole first page is a hibernated image; the same
    // signature in a shorter file is not; wake/zeroed is only the file.
    let mut page = b"HIBR".to_vec();
    page.resize(0x20, 0);
    page[0x18..0x1c].copy_from_slice(&4096u32.to_le_bytes());
    let h = hiberfil_header(&page, 65536);
    assert_eq!(h.state, HiberState::Hibernated);
    assert_eq!(h.page_size, Some(4096));
    assert!(
        h.describe()
            .contains("\"HIBR\", page size 4096: hibernated")
    );
    assert_eq!(
        hiberfil_header(b"hibrxxxx", 4096).state,
        HiberState::Hibernated
    );
    assert_eq!(
        hiberfil_header(b"RSTRxxxx", 8192).state,
        HiberState::Hibernated
    );
    assert_eq!(
        hiberfil_header(b"HIBRxxxx", 38).state,
        HiberState::Truncated
    );
    assert_eq!(hiberfil_header(b"wake", 65536).state, HiberState::Resumed);
    assert_eq!(hiberfil_header(b"WAKE", 65536).state, HiberState::Resumed);
    assert_eq!(
        hiberfil_header(&[0u8; 32], 65536).state,
        HiberState::NotHibernated
    );
    assert_eq!(hiberfil_header(&[], 0).state, HiberState::NotHibernated);
    assert_eq!(hiberfil_state(b"HIBRxxxx", 4096).0, "hibernated");
    assert_eq!(hiberfil_state(&[0u8; 8], 4096).0, "not hibernated");
    let ini: Vec<u8> = [0xffu8, 0xfe]
        .into_iter()
        .chain(
            "[State]\r\nImageState=IMAGE_STATE_GENERALIZE_RESEAL_TO_OOBE\r\n"
                .encode_utf16()
                .flat_map(|u| u.to_le_bytes()),
        )
        .collect();
    assert_eq!(
        image_state(&ini).as_deref(),
        Some("IMAGE_STATE_GENERALIZE_RESEAL_TO_OOBE")
    );
}

#[test]
fn damaged_hives_give_errors_not_panics() {
    // Flip bytes of the real BCD store at pseudo-random places (fixed seed) and run every
    // extractor: each must return Ok or a typed error.
    let orig = std::fs::read(format!("{DIR}/BCD")).unwrap();
    let mut seed: u64 = 0x2019_a5e5;
    let mut next = || {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (seed >> 33) as usize
    };
    let (mut opened, mut failed) = (0, 0);
    for _ in 0..300 {
        let mut b = orig.clone();
        for _ in 0..8 {
            let at = 4096 + next() % (b.len() - 4096);
            b[at] = (next() & 0xff) as u8;
        }
        let h = Hive::from_bytes_with_options(
            b,
            guestfix::hive::HiveOptions {
                lenient_checksum: true,
            },
        );
        let Ok(h) = h else {
            failed += 1;
            continue;
        };
        opened += 1;
        let r1 = bcd::bcd_facts(&h, "x").is_ok();
        let r2 = system::system_facts(&h).is_ok();
        let r3 = software::software_facts(&h).is_ok();
        if !(r1 && r2 && r3) {
            failed += 1;
        }
    }
    eprintln!("damaged BCD: {opened} opened, {failed} typed errors");
    assert!(opened > 0);
}
