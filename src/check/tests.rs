//! Check logic over constructed facts (the image-level tests live in tests/).

use super::*;
use crate::guest::facts::*;
use crate::rules::RulesSource;

fn debian_like() -> Inspection {
    let vol = |dev: &str, content: &str, uuid: &str| VolumeFacts {
        device: dev.into(),
        size: 1 << 30,
        content: Some(content.into()),
        uuid: Some(uuid.into()),
        free_bytes: Some(1 << 30),
        ..Default::default()
    };
    Inspection {
        images: vec![ImageFacts {
            path: "d.vmdk".into(),
            format: "vmdk-streamOptimized".into(),
            virtual_size: 2 << 30,
            ..Default::default()
        }],
        disks: vec![DiskFacts {
            device: "/dev/sda".into(),
            size: 2 << 30,
            partition_table: "mbr".into(),
            mbr_boot_code: true,
            primary_partitions: 2,
            volumes: vec![
                vol("/dev/sda1", "ext4", "u1"),
                vol("/dev/sda2", "swap", "u2"),
            ],
            ..Default::default()
        }],
        operating_systems: vec![OsFacts {
            root: "/dev/sda1".into(),
            os_type: "linux".into(),
            distro: Fact::Known("debian".into()),
            product_name: Fact::Known("Debian GNU/Linux 12 (bookworm)".into()),
            major_version: Fact::Known(12),
            minor_version: Fact::Known(7),
            version: Fact::Known("12.7".into()),
            arch: Fact::Known("x86_64".into()),
            hostname: Fact::Known("h".into()),
            package_format: Fact::Known("deb".into()),
            package_management: Fact::Known("apt".into()),
            mountpoints: vec![MountFacts {
                mountpoint: "/".into(),
                device: "/dev/sda1".into(),
                fstype: "ext4".into(),
                options: "errors=remount-ro".into(),
                spec: "/dev/sda1".into(),
            }],
            unresolved_fstab: vec![FstabProblem {
                file: "/etc/fstab".into(),
                line: 5,
                spec: "/dev/sdb1".into(),
                mountpoint: "/data".into(),
                fstype: "ext4".into(),
                reason: "no such disk in the image".into(),
            }],
            kernels: vec![KernelFacts {
                version: "6.1.0-26-amd64".into(),
                path: "/boot/vmlinuz-6.1.0-26-amd64".into(),
                initramfs: Some("/boot/initrd.img-6.1.0-26-amd64".into()),
                initramfs_readable: Fact::Known(true),
                initramfs_error: None,
                initramfs_drivers: vec!["virtio_blk".into(), "nvme".into()],
                module_drivers: vec!["ena".into(), "nvme".into()],
                builtin_drivers: vec![],
                modules_dir: true,
                initramfs_not_read: false,
            }],
            bootloader: Fact::Known(BootloaderFacts {
                kind: "grub2".into(),
                config_files: vec!["/boot/grub/grub.cfg".into()],
                default_title: Some("Debian GNU/Linux".into()),
                default_kernel: Some("/boot/vmlinuz-6.1.0-26-amd64".into()),
                default_kernel_version: Some("6.1.0-26-amd64".into()),
                default_cmdline: Some("root=/dev/sda1 ro quiet".into()),
                timeout: Some("5".into()),
                entries: vec![],
                next_entry: None,
            }),
            boot_modes: BootModes {
                bios: true,
                ..Default::default()
            },
            network: Fact::Known(NetworkFacts {
                interfaces: vec![InterfaceFacts {
                    name: "eth0".into(),
                    flavour: "ifupdown".into(),
                    file: "/etc/network/interfaces".into(),
                    dhcp4: false,
                    dhcp6: false,
                    addresses: vec!["192.168.10.5/24".into()],
                    gateway: Some("192.168.10.1".into()),
                }],
                predictable_names_disabled: false,
                evidence: vec![],
            }),
            ssh_server: Fact::Known(ServiceFacts {
                installed: true,
                enabled: true,
                evidence: vec![],
            }),
            dhcp_client: Fact::Known(vec!["dhclient".into()]),
            cloud_init: false,
            applications: Fact::unknown("not read"),
            windows: None,
            notes: vec![],
        }],
        ..Default::default()
    }
}

fn run_on(i: &Inspection) -> Report {
    run(i, &RulesSource::Embedded.load("ec2").unwrap(), "2026-11-22")
}

fn ids(r: &Report, sev: Severity) -> Vec<String> {
    let mut v: Vec<String> = r
        .findings
        .iter()
        .filter(|f| f.severity == sev)
        .map(|f| f.id.clone())
        .collect();
    v.dedup();
    v
}

#[test]
fn debian_guest_passes_with_warnings() {
    let r = run_on(&debian_like());
    assert_eq!(
        ids(&r, Severity::Blocker),
        Vec::<String>::new(),
        "{}",
        render_text(&r)
    );
    let w = ids(&r, Severity::Warning);
    for id in ["GEN-4", "LNX-4", "MOD-L3"] {
        assert!(w.contains(&id.to_string()), "{id} in {w:?}");
    }
    let f = r
        .findings
        .iter()
        .find(|f| f.id == "MOD-L3" && f.title.contains("matches nothing"))
        .unwrap();
    assert!(f.evidence[0].contains("/etc/fstab:5: /dev/sdb1"));
    let by_name = r
        .findings
        .iter()
        .find(|f| f.id == "MOD-L3" && f.title.contains("device name"))
        .unwrap();
    assert_eq!(by_name.evidence, ["/ on /dev/sda1"]);
    let cmdline = r.findings.iter().find(|f| f.id == "MOD-L4").unwrap();
    assert_eq!(cmdline.severity, Severity::Warning);
    assert!(cmdline.evidence[0].contains("root=/dev/sda1"));
    assert!(!r.has_blockers());
    for id in [
        "OS-1", "OS-2", "LNX-1", "LNX-8", "LNX-3", "LNX-5", "LNX-6", "BOOT-5", "BOOT-7", "GEN-7",
        "FMT-1",
    ] {
        assert!(
            ids(&r, Severity::Pass).contains(&id.to_string()),
            "{id} passes"
        );
    }
    let text = render_text(&r);
    assert!(text.contains("0 blocker(s)"), "{text}");
}

#[test]
fn arm64_i386_and_unsupported_kernel_are_blockers() {
    let mut i = debian_like();
    i.operating_systems[0].arch = Fact::Known("aarch64".into());
    assert!(ids(&run_on(&i), Severity::Blocker).contains(&"OS-1".into()));
    i.operating_systems[0].arch = Fact::Known("i386".into());
    let r = run_on(&i);
    let f = r.findings.iter().find(|f| f.id == "OS-1").unwrap();
    assert!(f.evidence[0].contains("since 2026-04-01"), "{f:?}");
    // Before the cut-off date the reason is different.
    let r = run(
        &i,
        &RulesSource::Embedded.load("ec2").unwrap(),
        "2026-01-01",
    );
    assert!(
        !r.findings
            .iter()
            .any(|f| f.evidence.iter().any(|e| e.contains("since")))
    );
    let mut i = debian_like();
    if let Fact::Known(b) = &mut i.operating_systems[0].bootloader {
        b.default_kernel_version = Some("5.19.0-custom".into());
    }
    assert!(ids(&run_on(&i), Severity::Blocker).contains(&"LNX-1".into()));
}

#[test]
fn luks_multiboot_no_os_and_formats() {
    let mut i = debian_like();
    i.disks[0].volumes[0].content = Some("crypto_LUKS".into());
    assert!(ids(&run_on(&i), Severity::Blocker).contains(&"GEN-3".into()));
    let mut i = debian_like();
    let second = i.operating_systems[0].clone();
    i.operating_systems.push(OsFacts {
        root: "/dev/sda3".into(),
        ..second
    });
    assert!(ids(&run_on(&i), Severity::Blocker).contains(&"GEN-2".into()));
    let mut i = debian_like();
    i.operating_systems.clear();
    assert!(ids(&run_on(&i), Severity::Blocker).contains(&"GEN-7".into()));
    let mut i = debian_like();
    i.images[0].format = "vmdk-monolithicSparse".into();
    let r = run_on(&i);
    let f = r
        .findings
        .iter()
        .find(|f| f.id == "FMT-1" && f.severity == Severity::Blocker)
        .unwrap();
    assert!(f.title.contains("unsupported VMDK file format"));
}

#[test]
fn uefi_without_fallback_bls_without_default_btrfs_subvol() {
    let mut i = debian_like();
    i.operating_systems[0].boot_modes = BootModes {
        bios: false,
        uefi: true,
        uefi_fallback_loader: Some(false),
        esp_device: Some("/dev/sda1".into()),
        evidence: vec![],
    };
    assert!(ids(&run_on(&i), Severity::Blocker).contains(&"BOOT-4".into()));
    let mut i = debian_like();
    if let Fact::Known(b) = &mut i.operating_systems[0].bootloader {
        b.kind = "grub2-bls".into();
        b.default_kernel = None;
    }
    assert!(ids(&run_on(&i), Severity::Blocker).contains(&"LNX-7".into()));
    let mut i = debian_like();
    i.operating_systems[0].mountpoints[0].fstype = "btrfs".into();
    i.operating_systems[0].mountpoints[0].options = "subvol=@".into();
    assert!(ids(&run_on(&i), Severity::Blocker).contains(&"BOOT-2".into()));
    let mut i = debian_like();
    i.operating_systems[0].kernels[0].initramfs_readable = Fact::Known(false);
    assert!(ids(&run_on(&i), Severity::Blocker).contains(&"LNX-8".into()));
    let mut i = debian_like();
    i.operating_systems[0].kernels[0].module_drivers.clear();
    i.operating_systems[0].kernels[0].initramfs_drivers.clear();
    let r = run_on(&i);
    assert!(
        r.findings
            .iter()
            .any(|f| f.id == "LNX-3" && f.severity == Severity::Warning && f.title.contains("ena"))
    );
}

#[test]
fn json_keeps_unknown_facts_explicit() {
    let i = debian_like();
    let j = serde_json::to_value(&i).unwrap();
    assert_eq!(
        j["operating_systems"][0]["applications"]["unknown"],
        "not read"
    );
    assert_eq!(j["operating_systems"][0]["distro"], "debian");
}

#[test]
fn quick_check_says_the_initramfs_was_not_examined() {
    // `check --quick` (INITRAMFS_NOT_READ): LNX-8 is an info, not a blocker, and the drivers
    // found only on disk are not called "only in /lib/modules".
    let mut i = debian_like();
    let k = &mut i.operating_systems[0].kernels[0];
    k.initramfs_readable = Fact::unknown(crate::guest::inspect::INITRAMFS_NOT_READ);
    k.initramfs_not_read = true;
    k.initramfs_drivers.clear();
    let r = run_on(&i);
    assert!(!ids(&r, Severity::Blocker).contains(&"LNX-8".into()));
    let lnx8: Vec<_> = r.findings.iter().filter(|f| f.id == "LNX-8").collect();
    assert_eq!(lnx8.len(), 1);
    assert_eq!(lnx8[0].severity, Severity::Info);
    assert!(lnx8[0].title.contains("--quick"), "{}", lnx8[0].title);
    let ena: Vec<_> = r
        .findings
        .iter()
        .filter(|f| f.id == "LNX-3" && f.title.contains("ena"))
        .collect();
    assert_eq!(ena.len(), 1);
    assert!(ena[0].title.contains("not examined"), "{}", ena[0].title);
    // Any other unknown (an unreadable file) is still the LNX-8 blocker.
    let mut i = debian_like();
    i.operating_systems[0].kernels[0].initramfs_readable = Fact::unknown("/boot/initrd: I/O");
    assert!(ids(&run_on(&i), Severity::Blocker).contains(&"LNX-8".into()));
}
