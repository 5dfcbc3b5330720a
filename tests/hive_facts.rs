//! Windows facts read through the API from the real SYSTEM and BCD hives (regipy): the current
//! control set, the computer name, service start types and image paths, MountedDevices, BCD
//! objects and elements. Host names come from the data manifest; the rest are fixed Windows
//! facts (tcpip.sys is a boot-start kernel driver, BCD object types, the boot manager GUID).
//! These are the reads the WIN-3 (EMS in BCD), WIN-9 (TCP/IP enabled) and MOD-W1 (boot-start
//! services) checks build on.

use guestfix::hive::Hive;
use std::time::Instant;

const R: &str = "../shared/data/registry/regipy";

fn rd(n: &str) -> Vec<u8> {
    std::fs::read(format!("{R}/{n}")).unwrap()
}

fn computer_name(h: &Hive) -> String {
    h.current_control_set()
        .unwrap()
        .unwrap()
        .open_path("Control\\ComputerName\\ComputerName")
        .unwrap()
        .unwrap()
        .value("ComputerName")
        .unwrap()
        .unwrap()
        .as_string()
        .unwrap()
}

fn check_services(h: &Hive) -> usize {
    let ccs = h.current_control_set().unwrap().unwrap();
    let services = ccs.subkey("services").unwrap().unwrap();
    let tcpip = services.subkey("TCPIP").unwrap().unwrap();
    assert_eq!(tcpip.name(), "Tcpip");
    let image = tcpip.value("imagepath").unwrap().unwrap();
    assert_eq!(
        image.as_string().as_deref(),
        Some("System32\\drivers\\tcpip.sys")
    );
    // SERVICE_BOOT_START, SERVICE_KERNEL_DRIVER.
    assert_eq!(tcpip.value("Start").unwrap().unwrap().as_dword(), Some(0));
    assert_eq!(tcpip.value("Type").unwrap().unwrap().as_dword(), Some(1));
    let mut n = 0;
    for svc in services.subkeys().unwrap() {
        if let Some(start) = svc.value("Start").unwrap() {
            assert!(start.as_dword().unwrap() <= 4, "{}", svc.name());
        }
        if let Some(ip) = svc.value("ImagePath").unwrap() {
            assert!(!ip.as_string().unwrap().is_empty(), "{}", svc.name());
        }
        n += 1;
    }
    assert!(n > 300, "{n} services");
    n
}

#[test]
fn windows7_system_facts() {
    let h = Hive::from_bytes(rd("SYSTEM")).unwrap();
    let select = h.root().subkey("Select").unwrap().unwrap();
    assert_eq!(
        select.value("Current").unwrap().unwrap().as_dword(),
        Some(1)
    );
    assert_eq!(
        h.current_control_set().unwrap().unwrap().name(),
        "ControlSet001"
    );
    assert_eq!(computer_name(&h), "WKS-WIN732BITA");
    check_services(&h);
    // MBR disk: \DosDevices\C: = 4-byte disk signature + 8-byte partition offset (1 MiB).
    let md = h.root().subkey("MountedDevices").unwrap().unwrap();
    let c = md.value("\\DosDevices\\C:").unwrap().unwrap();
    assert_eq!(c.raw.len(), 12);
    assert_eq!(
        u64::from_le_bytes(c.raw[4..12].try_into().unwrap()),
        0x10_0000
    );
    assert!(md.values().unwrap().len() >= 3);
}

#[test]
fn windows81_system_facts() {
    let h = Hive::from_bytes(rd("SYSTEM_2")).unwrap();
    assert_eq!(computer_name(&h), "SENSEI");
    check_services(&h);
    let md = h.root().subkey("MountedDevices").unwrap().unwrap();
    let c = md.value("\\DosDevices\\C:").unwrap().unwrap();
    assert_eq!(
        u64::from_le_bytes(c.raw[4..12].try_into().unwrap()),
        0x15f0_0000
    );
}

#[test]
fn windows10_system_facts_after_log_replay() {
    let (h, rep) =
        Hive::from_bytes_with_logs(rd("SYSTEM_B"), &[rd("SYSTEM_B.LOG1"), rd("SYSTEM_B.LOG2")])
            .unwrap();
    assert!(!rep.applied.is_empty());
    assert_eq!(computer_name(&h), "DESKTOP-PM6C56D");
    check_services(&h);
    // GPT disk: \DosDevices\C: = "DMIO:ID:" + partition GUID.
    let md = h.root().subkey("MountedDevices").unwrap().unwrap();
    let c = md.value("\\DosDevices\\C:").unwrap().unwrap();
    assert_eq!(c.raw.len(), 24);
    assert_eq!(&c.raw[..8], b"DMIO:ID:");
}

#[test]
fn bcd_objects_and_elements() {
    let h = Hive::from_bytes(rd("BCD")).unwrap();
    let root = h.root();
    let objects = root.subkey("Objects").unwrap().unwrap();
    assert!(objects.subkeys().unwrap().len() > 10);
    // The Windows Boot Manager object, type 0x10100002.
    let bootmgr = objects
        .subkey("{9dea862c-5cdd-4e70-acc1-f32b344d4795}")
        .unwrap()
        .unwrap();
    let ty = bootmgr
        .open_path("Description")
        .unwrap()
        .unwrap()
        .value("Type")
        .unwrap()
        .unwrap();
    assert_eq!(ty.as_dword(), Some(0x1010_0002));
    // BcdBootMgrObject_DefaultObject (0x23000003) names the default OS loader.
    let default = bootmgr
        .open_path("Elements\\23000003")
        .unwrap()
        .unwrap()
        .value("Element")
        .unwrap()
        .unwrap()
        .as_string()
        .unwrap();
    assert_eq!(default, "{733b62e5-f608-11eb-825c-c112f60133ab}");
    // BcdBootMgrObjectList_DisplayOrder (0x24000001) lists it.
    let order = bootmgr
        .open_path("Elements\\24000001")
        .unwrap()
        .unwrap()
        .value("Element")
        .unwrap()
        .unwrap()
        .as_multi_string()
        .unwrap();
    assert!(order.contains(&default));
    // The loader: type 0x10200003, description and path elements.
    let loader = objects.subkey(&default).unwrap().unwrap();
    let el = |id: &str| {
        loader
            .open_path(&format!("Elements\\{id}"))
            .unwrap()
            .unwrap()
            .value("Element")
            .unwrap()
            .unwrap()
    };
    let lty = loader
        .open_path("Description")
        .unwrap()
        .unwrap()
        .value("Type")
        .unwrap()
        .unwrap();
    assert_eq!(lty.as_dword(), Some(0x1020_0003));
    assert_eq!(el("12000004").as_string().as_deref(), Some("Windows 10"));
    assert_eq!(
        el("12000002").as_string().as_deref(),
        Some("\\Windows\\system32\\winload.efi")
    );
}

/// Time to open SYSTEM_B with its logs and read every key (and value) under
/// CurrentControlSet\Services. Printed for the report; run with --release for the real figure.
#[test]
fn timing_system_b_replay_and_services() {
    let primary = rd("SYSTEM_B");
    let logs = [rd("SYSTEM_B.LOG1"), rd("SYSTEM_B.LOG2")];
    // On a loaded machine wall time mostly measures waiting: also report this thread's CPU
    // time (Linux /proc/thread-self/schedstat, nanoseconds).
    let cpu_ns = || -> u128 {
        std::fs::read_to_string("/proc/thread-self/schedstat")
            .ok()
            .and_then(|s| s.split_whitespace().next().and_then(|x| x.parse().ok()))
            .unwrap_or(0)
    };
    let mut best = (u128::MAX, 0, 0);
    let mut best_cpu = u128::MAX;
    let mut keys = 0;
    for _ in 0..10 {
        let input = primary.clone();
        let c0 = cpu_ns();
        let t = Instant::now();
        let (h, _) = Hive::from_bytes_with_logs(input, &logs).unwrap();
        let opened = t.elapsed().as_micros();
        let ccs = h.current_control_set().unwrap().unwrap();
        let services = ccs.subkey("Services").unwrap().unwrap();
        keys = 0;
        let mut stack = vec![services];
        while let Some(k) = stack.pop() {
            k.values().unwrap();
            keys += 1;
            stack.extend(k.subkeys().unwrap());
        }
        let total = t.elapsed().as_micros();
        best_cpu = best_cpu.min((cpu_ns() - c0) / 1000);
        if total < best.0 {
            best = (total, opened, total - opened);
        }
    }
    assert!(keys > 1000);
    println!(
        "SYSTEM_B open+replay+read {keys} Services keys: wall {} us (open+replay {} us, walk {} us), \
         CPU {best_cpu} us; best of 10",
        best.0, best.1, best.2
    );
}
