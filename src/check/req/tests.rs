//! One test per requirement unit on hand-made facts: a failing and a passing case, each with the
//! finding's severity and evidence.

use super::{boot, fmt, general, lnx, modif, os, win};
use crate::check::registry::{Check, Ctx, REQUIREMENTS};
use crate::check::{Finding, Severity};
use crate::guest::facts::*;
use crate::guest::windows::bcd::{BcdEntry, BcdFacts};
use crate::guest::windows::sam::{Account, HashFormat, SamFacts};
use crate::guest::windows::system::{Service, TcpipInterface};
use crate::guest::windows::{SoftwareFacts, SystemFacts, WindowsFacts};
use crate::rules::{Profile, RulesSource};

const TODAY: &str = "2026-11-22";

fn ec2() -> Profile {
    RulesSource::Embedded.load("ec2").unwrap()
}

fn vol(dev: &str, content: &str) -> VolumeFacts {
    VolumeFacts {
        device: dev.into(),
        size: 1 << 30,
        content: Some(content.into()),
        free_bytes: Some(1 << 30),
        ..Default::default()
    }
}

/// A healthy single-disk raw image with no OS (add one with [`linux`] or [`windows_os`]).
fn disk_set() -> Inspection {
    Inspection {
        images: vec![ImageFacts {
            path: "d.raw".into(),
            format: "raw".into(),
            virtual_size: 2 << 30,
            ..Default::default()
        }],
        disks: vec![DiskFacts {
            device: "/dev/sda".into(),
            size: 2 << 30,
            partition_table: "mbr".into(),
            mbr_boot_code: true,
            primary_partitions: 2,
            volumes: vec![vol("/dev/sda1", "ext4"), vol("/dev/sda2", "ntfs")],
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn kernel() -> KernelFacts {
    KernelFacts {
        version: "6.1.0-26-amd64".into(),
        path: "/boot/vmlinuz-6.1.0-26-amd64".into(),
        initramfs: Some("/boot/initrd.img-6.1.0-26-amd64".into()),
        initramfs_readable: Fact::Known(true),
        initramfs_error: None,
        initramfs_drivers: vec!["nvme".into(), "ena".into()],
        module_drivers: vec!["nvme".into(), "ena".into()],
        builtin_drivers: vec![],
        modules_dir: true,
        initramfs_not_read: false,
    }
}

/// A healthy Debian 12.7 root on /dev/sda1.
fn linux() -> OsFacts {
    OsFacts {
        root: "/dev/sda1".into(),
        os_type: "linux".into(),
        distro: Fact::Known("debian".into()),
        product_name: Fact::Known("Debian GNU/Linux 12".into()),
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
            options: "defaults".into(),
            spec: "UUID=u1".into(),
        }],
        unresolved_fstab: vec![],
        kernels: vec![kernel()],
        bootloader: Fact::Known(BootloaderFacts {
            kind: "grub2".into(),
            config_files: vec!["/boot/grub/grub.cfg".into()],
            default_title: None,
            default_kernel: Some("/boot/vmlinuz-6.1.0-26-amd64".into()),
            default_kernel_version: Some("6.1.0-26-amd64".into()),
            default_cmdline: Some("root=UUID=u1 ro".into()),
            timeout: None,
            entries: vec![],
            next_entry: None,
        }),
        boot_modes: BootModes {
            bios: true,
            evidence: vec!["MBR boot code".into()],
            ..Default::default()
        },
        network: Fact::Known(NetworkFacts {
            interfaces: vec![InterfaceFacts {
                name: "eth0".into(),
                flavour: "ifupdown".into(),
                file: "/etc/network/interfaces".into(),
                dhcp4: true,
                dhcp6: false,
                addresses: vec![],
                gateway: None,
            }],
            predictable_names_disabled: true,
            evidence: vec!["net.ifnames=0".into()],
        }),
        ssh_server: Fact::Known(ServiceFacts {
            installed: true,
            enabled: true,
            evidence: vec!["sshd.service enabled".into()],
        }),
        dhcp_client: Fact::Known(vec!["dhclient".into()]),
        cloud_init: false,
        applications: Fact::unknown("not read"),
        windows: None,
        notes: vec![],
    }
}

/// A Windows root on /dev/sda2 (its facts are [`windows`]).
fn windows_os() -> OsFacts {
    OsFacts {
        root: "/dev/sda2".into(),
        os_type: "windows".into(),
        distro: Fact::Known("windows".into()),
        kernels: vec![],
        bootloader: Fact::unknown("windows"),
        network: Fact::unknown("windows"),
        ssh_server: Fact::unknown("windows"),
        dhcp_client: Fact::unknown("windows"),
        mountpoints: vec![],
        ..linux()
    }
}

fn service(name: &str, start: u32) -> Service {
    Service {
        name: name.into(),
        start: Some(start),
        service_type: Some(1),
        image_path: Some(format!("System32\\drivers\\{name}.sys")),
        group: None,
    }
}

/// A healthy Windows Server 2019 Datacenter, BIOS boot.
fn windows() -> WindowsFacts {
    let sys = SystemFacts {
        services: vec![
            service("Tcpip", 0),
            service("Dhcp", 2),
            service("stornvme", 0),
            service("ena", 3),
        ],
        real_time_is_universal: Some(1),
        deny_ts_connections: Some(0),
        rdp_firewall_rules: vec!["RemoteDesktop-UserMode-In-TCP".into()],
        firewall_rules_key: true,
        language_default: Some("0409".into()),
        ui_languages: vec!["en-US".into()],
        interfaces: vec![TcpipInterface {
            guid: "{1}".into(),
            dhcp: true,
            addresses: vec![],
        }],
        ..Default::default()
    };
    WindowsFacts {
        drive_mappings: [("C".to_string(), "/dev/sda2".to_string())].into(),
        matrix_product: Some("Windows Server 2019 Datacenter".into()),
        installation_type: Some("Server".into()),
        edition: Some("ServerDatacenter".into()),
        build: Some("17763".into()),
        system: Some(sys),
        software: Some(SoftwareFacts {
            edition_id: Some("ServerDatacenter".into()),
            dotnet: vec!["4.8".into()],
            ..Default::default()
        }),
        bcd: Some(BcdFacts {
            source: "/dev/sda1:/Boot/BCD".into(),
            loaders: vec![BcdEntry {
                id: "{current}".into(),
                description: Some("Windows Server".into()),
                ..Default::default()
            }],
            ..Default::default()
        }),
        sam: Some(SamFacts {
            accounts: vec![account("Administrator", true)],
            unreadable: vec![],
        }),
        boot_mode: Some("bios".into()),
        system_volume_free_bytes: Some(20 << 30),
        ..Default::default()
    }
}

fn account(name: &str, password_set: bool) -> Account {
    Account {
        name: name.into(),
        rid: 500,
        full_name: None,
        disabled: false,
        password_not_required: false,
        password_set,
        lm_hash_present: false,
        hash_format: HashFormat::Aes,
        acb: 0x10,
        logon_count: 0,
    }
}

/// The facts a unit is judged on.
struct Guest {
    insp: Inspection,
    profile: Profile,
}

impl Guest {
    fn new(insp: Inspection) -> Guest {
        Guest {
            insp,
            profile: ec2(),
        }
    }
    fn ctx(&self) -> Ctx<'_> {
        Ctx {
            insp: &self.insp,
            profile: &self.profile,
            today: TODAY,
        }
    }
}

fn disk(f: fn(&Ctx) -> Vec<Finding>, insp: Inspection) -> Vec<Finding> {
    f(&Guest::new(insp).ctx())
}

fn on_linux(f: fn(&Ctx, &OsFacts) -> Vec<Finding>, o: OsFacts) -> Vec<Finding> {
    f(&Guest::new(disk_set()).ctx(), &o)
}

fn on_windows(
    f: fn(&Ctx, &OsFacts, &WindowsFacts) -> Vec<Finding>,
    w: WindowsFacts,
) -> Vec<Finding> {
    f(&Guest::new(disk_set()).ctx(), &windows_os(), &w)
}

/// The only finding, with its ID checked.
fn one(id: &str, v: Vec<Finding>) -> Finding {
    assert_eq!(v.len(), 1, "{v:#?}");
    assert_eq!(v[0].id, id);
    v.into_iter().next().unwrap()
}

fn sev(v: &[Finding]) -> Vec<Severity> {
    v.iter().map(|f| f.severity).collect()
}

#[test]
fn registry_lists_every_unit_once_with_its_id() {
    let mut seen = std::collections::HashSet::new();
    for r in REQUIREMENTS {
        let kind = match r.check {
            Check::Disk(_) => "disk",
            Check::Linux(_) => "linux",
            Check::Windows(_) => "windows",
            Check::AnyOs(_) => "any",
        };
        assert!(seen.insert((r.id, kind)), "{} {kind} twice", r.id);
    }
    // MOD-* IDs sort alike: MOD-L4 must run before MOD-L3 (see REQUIREMENTS).
    let pos = |id| REQUIREMENTS.iter().position(|r| r.id == id).unwrap();
    assert!(pos("MOD-L4") < pos("MOD-L3"));
}

#[test]
fn fmt1_format() {
    let mut i = disk_set();
    i.images[0].format = "vmdk-monolithicSparse".into();
    i.images[0].backing_file = Some("base.qcow2".into());
    let v = disk(fmt::fmt1_format, i);
    assert_eq!(sev(&v), [Severity::Blocker, Severity::Blocker]);
    assert_eq!(v[0].evidence, ["format: vmdk-monolithicSparse"]);
    assert_eq!(v[1].evidence, ["backing file: base.qcow2"]);
    let f = one("FMT-1", disk(fmt::fmt1_format, disk_set()));
    assert_eq!(f.severity, Severity::Pass);
    assert_eq!(f.title, "container format raw is accepted");
}

#[test]
fn fmt3_known_failures() {
    let mut i = disk_set();
    i.disks[0].partition_table = "none".into();
    i.disks[0].volumes.clear();
    let f = one("FMT-3", disk(fmt::fmt3_known_failures, i));
    assert_eq!(f.severity, Severity::Blocker);
    assert!(
        f.evidence[0].starts_with("d.raw: no known container"),
        "{f:?}"
    );
    assert!(disk(fmt::fmt3_known_failures, disk_set()).is_empty());
    let mut i = disk_set();
    i.images[0].notes = vec!["VHD footer copy differs".into()];
    let f = one("FMT-3", disk(fmt::fmt3_known_failures, i));
    assert_eq!(f.severity, Severity::Warning);
    assert_eq!(f.evidence, ["VHD footer copy differs"]);
}

#[test]
fn fmt4_size() {
    let mut i = disk_set();
    i.images[0].virtual_size = 16 << 40;
    i.disks = vec![i.disks[0].clone(); 22];
    let v = disk(fmt::fmt4_size, i);
    assert_eq!(sev(&v), [Severity::Blocker, Severity::Blocker]);
    assert_eq!(
        v[0].evidence,
        [format!("virtual size {} bytes", 16u64 << 40)]
    );
    assert_eq!(v[1].evidence, ["22 disks; at most 21"]);
    let mut i = disk_set();
    i.images[0].virtual_size = 9 << 40;
    assert_eq!(
        one("FMT-4", disk(fmt::fmt4_size, i)).severity,
        Severity::Warning
    );
    let f = one("FMT-4", disk(fmt::fmt4_size, disk_set()));
    assert_eq!(
        (f.severity, f.title.as_str()),
        (Severity::Pass, "size 2.0 GiB within limits")
    );
}

#[test]
fn fmt5_export() {
    let mut i = disk_set();
    i.disks[0].size = 2 << 40;
    let f = one("FMT-5", disk(fmt::fmt5_export_volume_size, i));
    assert_eq!(f.severity, Severity::Info);
    assert_eq!(f.evidence, ["/dev/sda is 2.0 TiB"]);
    assert!(disk(fmt::fmt5_export_volume_size, disk_set()).is_empty());
    let mut o = linux();
    o.boot_modes.uefi = true;
    let f = one("FMT-5", on_linux(fmt::fmt5_hybrid_grub, o));
    assert_eq!(f.severity, Severity::Info);
    assert_eq!(f.evidence, ["MBR boot code"]);
    assert!(on_linux(fmt::fmt5_hybrid_grub, linux()).is_empty());
}

#[test]
fn os1_arch_same_for_linux_and_windows() {
    for base in [linux(), windows_os()] {
        for arch in ["i386", "i686"] {
            let o = OsFacts {
                arch: Fact::Known(arch.into()),
                ..base.clone()
            };
            let f = one("OS-1", on_linux(os::os1_arch, o.clone()));
            assert_eq!(f.severity, Severity::Blocker);
            assert_eq!(f.evidence, ["32-bit guests are refused since 2026-04-01"]);
            assert_eq!(f.fix.as_deref(), Some("only x86_64 guests can be imported"));
            // Before the cut-off the reason is only that it is 32-bit.
            let g = Guest::new(disk_set());
            let early = Ctx {
                today: "2026-01-01",
                ..g.ctx()
            };
            assert_eq!(os::os1_arch(&early, &o)[0].evidence, ["32-bit guest"]);
        }
        let o = OsFacts {
            arch: Fact::Known("aarch64".into()),
            ..base.clone()
        };
        let f = one("OS-1", on_linux(os::os1_arch, o));
        assert_eq!(f.evidence, ["aarch64 guests are refused"]);
        let f = one("OS-1", on_linux(os::os1_arch, base));
        assert_eq!(
            (f.severity, f.title.as_str()),
            (Severity::Pass, "architecture x86_64")
        );
    }
}

#[test]
fn os1_runs_once_per_os_through_the_registry() {
    // The i686 Windows root gets the same OS-1 judgement as Linux (it once said
    // "i686 guests are refused").
    let mut i = disk_set();
    let mut o = windows_os();
    o.arch = Fact::Known("i686".into());
    o.windows = Some(serde_json::to_value(windows()).unwrap());
    i.operating_systems = vec![o, linux()];
    let r = crate::check::run(&i, &ec2(), TODAY);
    let os1: Vec<_> = r.findings.iter().filter(|f| f.id == "OS-1").collect();
    assert_eq!(os1.len(), 2);
    assert_eq!(
        os1[0].evidence,
        ["32-bit guests are refused since 2026-04-01"]
    );
}

#[test]
fn os2_linux_matrix() {
    let f = one("OS-2", on_linux(os::os2_linux_matrix, linux()));
    assert_eq!(
        (f.severity, f.title.as_str()),
        (Severity::Pass, "Debian GNU/Linux 12 12.7 is supported")
    );
    let mut o = linux();
    o.version = Fact::Known("9".into());
    let f = one("OS-2", on_linux(os::os2_linux_matrix, o));
    assert_eq!(f.severity, Severity::Blocker);
    assert!(
        f.evidence[0].starts_with("supported debian versions: "),
        "{f:?}"
    );
    let mut o = linux();
    o.distro = Fact::Known("gentoo".into());
    let f = one("OS-2", on_linux(os::os2_linux_matrix, o));
    assert_eq!(f.title, "distribution \"gentoo\" is not supported");
    let mut o = linux();
    o.version = Fact::Known("12.9".into());
    let f = one("OS-2", on_linux(os::os2_linux_matrix, o));
    assert_eq!(f.severity, Severity::Warning);
    assert!(f.evidence[0].starts_with("listed: "), "{f:?}");
}

#[test]
fn os3_windows_matrix() {
    let f = one("OS-3", on_windows(os::os3_windows_matrix, windows()));
    assert_eq!(f.severity, Severity::Pass);
    assert_eq!(
        f.evidence,
        ["Windows Server 2019 Datacenter (EditionID ServerDatacenter, build 17763, Server)"]
    );
    let mut w = windows();
    w.matrix_product = Some("Windows Server 2000".into());
    w.unknown.insert("software".into(), "hive damaged".into());
    let v = on_windows(os::os3_windows_matrix, w);
    assert_eq!(sev(&v), [Severity::Warning, Severity::Blocker]);
    assert_eq!(v[0].evidence, ["hive damaged"]);
    assert_eq!(
        v[1].evidence[1],
        "Windows Server 2000 (EditionID ServerDatacenter, build 17763, Server) is not in the accepted Windows versions"
    );
    let f = os::windows_facts_missing(&windows_os());
    assert_eq!((f.id.as_str(), f.severity), ("OS-3", Severity::Warning));
}

#[test]
fn os4_end_of_life() {
    let mut o = linux();
    o.version = Fact::Known("10".into());
    let f = one("OS-4", on_linux(os::os4_linux_eol, o));
    assert_eq!(f.severity, Severity::Warning);
    assert_eq!(f.evidence, ["imported, but untested by the import service"]);
    assert!(on_linux(os::os4_linux_eol, linux()).is_empty());
    let mut w = windows();
    w.matrix_product = Some("Windows Server 2008 R2 Standard".into());
    w.edition = Some("ServerStandard".into());
    let f = one("OS-4", on_windows(os::os4_windows_eol, w));
    assert_eq!(f.severity, Severity::Warning);
    assert_eq!(f.evidence, ["imported, but untested by the import service"]);
    let f = one("OS-4", on_windows(os::os4_windows_eol, windows()));
    assert_eq!(f.severity, Severity::Pass);
}

#[test]
fn os5_licensing() {
    let mut o = linux();
    o.distro = Fact::Known("rhel".into());
    let f = one("OS-5", on_linux(os::os5_linux_licence, o));
    assert_eq!(f.severity, Severity::Info);
    assert!(f.title.ends_with("needs its own subscription"));
    assert!(on_linux(os::os5_linux_licence, linux()).is_empty());
    let f = one("OS-5", on_windows(os::os5_windows_licence, windows()));
    assert_eq!(
        (f.severity, f.title.as_str()),
        (Severity::Info, "Windows Server")
    );
    assert_eq!(f.evidence, ["InstallationType Server"]);
}

#[test]
fn boot1_modes() {
    let mut o = linux();
    o.boot_modes = BootModes::default();
    let f = one("BOOT-1", on_linux(boot::boot1_linux_modes, o));
    assert_eq!(f.severity, Severity::Blocker);
    assert!(f.evidence.is_empty());
    let f = one("BOOT-1", on_linux(boot::boot1_linux_modes, linux()));
    assert_eq!(
        (f.severity, f.title.as_str()),
        (Severity::Info, "boots with BIOS")
    );
    assert_eq!(f.evidence, ["MBR boot code"]);
    let mut i = disk_set();
    i.disks[0].notes = vec!["GPT backup header missing".into()];
    let f = one("BOOT-1", disk(boot::boot1_disk_notes, i));
    assert_eq!(f.severity, Severity::Warning);
    assert_eq!(f.evidence, ["GPT backup header missing"]);
    assert!(disk(boot::boot1_disk_notes, disk_set()).is_empty());
}

#[test]
fn boot2_filesystems() {
    let mut o = linux();
    o.mountpoints[0].fstype = "btrfs".into();
    o.mountpoints[0].options = "subvol=@".into();
    let v = on_linux(boot::boot2_linux_filesystems, o);
    assert_eq!(sev(&v), [Severity::Pass, Severity::Blocker]);
    assert_eq!(v[1].evidence, ["/ mounted from /dev/sda1 (subvol=@)"]);
    let mut o = linux();
    o.mountpoints[0].fstype = "zfs".into();
    let f = one("BOOT-2", on_linux(boot::boot2_linux_filesystems, o));
    assert_eq!(f.severity, Severity::Blocker);
    assert_eq!(f.evidence, ["/ on /dev/sda1 (zfs)"]);
    let f = one("BOOT-2", on_linux(boot::boot2_linux_filesystems, linux()));
    assert_eq!(f.severity, Severity::Pass);
}

#[test]
fn boot3_windows_disk_and_mode() {
    let mut i = disk_set();
    i.disks[0].volumes[1].content = Some("LDM".into());
    let f = one("BOOT-3", disk(boot::boot3_dynamic_disks, i));
    assert_eq!(f.severity, Severity::Blocker);
    assert_eq!(f.evidence, ["/dev/sda2 is a dynamic-disk (LDM) volume"]);
    assert!(disk(boot::boot3_dynamic_disks, disk_set()).is_empty());
    let f = one("BOOT-3", on_windows(boot::boot3_windows_mode, windows()));
    assert_eq!(
        (f.severity, f.title.as_str()),
        (Severity::Pass, "legacy BIOS boot from MBR")
    );
    assert_eq!(
        f.evidence,
        ["/dev/sda: mbr partition table, 2 primary partition(s), 2.0 GiB, image format raw"]
    );
    let mut i = disk_set();
    i.disks[0].partition_table = "gpt".into();
    i.images[0].format = "vhdx".into();
    let g = Guest::new(i);
    let mut o = windows_os();
    o.boot_modes = BootModes {
        uefi: true,
        ..Default::default()
    };
    let f = one("BOOT-3", boot::boot3_windows_mode(&g.ctx(), &o, &windows()));
    assert_eq!(f.title, "UEFI boot; the service would convert GPT to MBR");
    // A profile with a smaller limit keeps GPT.
    let mut g = g;
    g.profile.settings.windows_bios_max_disk_bytes = 1 << 30;
    let f = one("BOOT-3", boot::boot3_windows_mode(&g.ctx(), &o, &windows()));
    assert_eq!(f.title, "UEFI boot; GPT kept");
    assert!(
        f.evidence[1].ends_with("because the disk is larger than 2 TiB"),
        "{f:?}"
    );
    o.boot_modes.uefi = false;
    let f = one("BOOT-3", boot::boot3_windows_mode(&g.ctx(), &o, &windows()));
    assert_eq!(f.severity, Severity::Warning);
}

#[test]
fn boot4_uefi_fallback() {
    let mut o = linux();
    o.boot_modes = BootModes {
        uefi: true,
        uefi_fallback_loader: Some(false),
        esp_device: Some("/dev/sda1".into()),
        ..Default::default()
    };
    let f = one("BOOT-4", on_linux(boot::boot4_uefi_fallback, o.clone()));
    assert_eq!(f.severity, Severity::Blocker);
    assert_eq!(f.evidence, ["ESP /dev/sda1"]);
    o.boot_modes.bios = true;
    assert_eq!(
        on_linux(boot::boot4_uefi_fallback, o.clone())[0].severity,
        Severity::Warning
    );
    o.boot_modes.uefi_fallback_loader = Some(true);
    let f = one("BOOT-4", on_linux(boot::boot4_uefi_fallback, o));
    assert_eq!(f.severity, Severity::Pass);
    assert!(on_linux(boot::boot4_uefi_fallback, linux()).is_empty());
}

#[test]
fn boot5_grub() {
    let mut o = linux();
    o.bootloader = Fact::unknown("no grub.cfg");
    let f = one("BOOT-5", on_linux(boot::boot5_grub, o));
    assert_eq!(f.severity, Severity::Blocker);
    assert_eq!(f.evidence, ["Unknown { unknown: \"no grub.cfg\" }"]);
    let f = one("BOOT-5", on_linux(boot::boot5_grub, linux()));
    assert_eq!(
        (f.severity, f.title.as_str()),
        (Severity::Pass, "boot loader grub2 (/boot/grub/grub.cfg)")
    );
}

#[test]
fn boot6_root_on_boot_disk() {
    let mut o = linux();
    o.mountpoints[0].device = "/dev/sdb1".into();
    let f = one("BOOT-6", on_linux(boot::boot6_root_on_boot_disk, o));
    assert_eq!(f.severity, Severity::Blocker);
    assert_eq!(f.evidence, ["/ on /dev/sdb1, boot loader on /dev/sda"]);
    assert!(on_linux(boot::boot6_root_on_boot_disk, linux()).is_empty());
}

#[test]
fn boot7_bootable_partition() {
    let mut i = disk_set();
    i.disks[0].mbr_boot_code = false;
    let f = one("BOOT-7", disk(boot::boot7_bootable_partition, i));
    assert_eq!(f.severity, Severity::Blocker);
    assert_eq!(
        f.evidence,
        ["/dev/sda: no MBR boot code, no active partition, no ESP or BIOS boot partition"]
    );
    let f = one("BOOT-7", disk(boot::boot7_bootable_partition, disk_set()));
    assert_eq!(f.severity, Severity::Pass);
}

#[test]
fn gen1_p2v() {
    let mut w = windows();
    w.p2v_signs = vec!["service HpSAMD (HP Smart Array)".into()];
    let f = one("GEN-1", on_windows(general::gen1_p2v, w));
    assert_eq!(f.severity, Severity::Warning);
    assert_eq!(f.evidence, ["service HpSAMD (HP Smart Array)"]);
    assert_eq!(
        one("GEN-1", on_windows(general::gen1_p2v, windows())).severity,
        Severity::Pass
    );
}

#[test]
fn gen2_multi_boot() {
    let mut i = disk_set();
    i.operating_systems = vec![linux(), windows_os()];
    let f = one("GEN-2", disk(general::gen2_several_roots, i));
    assert_eq!(f.severity, Severity::Blocker);
    assert_eq!(
        f.evidence,
        ["linux root on /dev/sda1", "windows root on /dev/sda2"]
    );
    let mut i = disk_set();
    i.operating_systems = vec![linux()];
    assert!(disk(general::gen2_several_roots, i).is_empty());
    let mut o = linux();
    o.notes = vec!["multiple different grub configs: /boot/grub/grub.cfg, /grub/menu.lst".into()];
    let f = one("GEN-2", on_linux(general::gen2_several_grub_configs, o));
    assert_eq!(f.severity, Severity::Blocker);
    assert!(f.evidence[0].starts_with("multiple different grub"));
    assert!(on_linux(general::gen2_several_grub_configs, linux()).is_empty());
}

#[test]
fn gen3_encryption() {
    let mut i = disk_set();
    i.disks[0].volumes[1].content = Some("BitLocker".into());
    let v = disk(general::gen3_encrypted_volumes, i.clone());
    assert_eq!(sev(&v), [Severity::Blocker]);
    assert_eq!(v[0].evidence, ["/dev/sda2 holds BitLocker"]);
    let g = Guest::new(i);
    let f = one(
        "GEN-3",
        general::gen3_bitlocker_letters(&g.ctx(), &windows_os(), &windows()),
    );
    assert_eq!(f.severity, Severity::Info);
    assert_eq!(f.evidence, ["/dev/sda2 is BitLocker-encrypted (drive C:)"]);
    let mut i = disk_set();
    i.disks[0].volumes[1].content = Some("linux_raid_member".into());
    let v = disk(general::gen3_encrypted_volumes, i);
    assert_eq!(sev(&v), [Severity::Warning, Severity::Pass]);
    assert_eq!(v[0].evidence, ["/dev/sda2 is an MD RAID member"]);
    assert!(on_windows(general::gen3_bitlocker_letters, windows()).is_empty());
}

#[test]
fn gen4_network() {
    let mut o = linux();
    if let Fact::Known(n) = &mut o.network {
        n.interfaces[0].dhcp4 = false;
        n.interfaces[0].addresses = vec!["10.0.0.5/24".into()];
        let mut second = n.interfaces[0].clone();
        second.name = "eth1".into();
        second.dhcp4 = true;
        n.interfaces.push(second);
    }
    let v = on_linux(general::gen4_linux_network, o);
    assert_eq!(sev(&v), [Severity::Warning, Severity::Warning]);
    assert_eq!(
        v[0].evidence,
        ["eth0 (ifupdown): static 10.0.0.5/24 in /etc/network/interfaces"]
    );
    assert_eq!(v[1].evidence, ["eth0, eth1"]);
    assert!(on_linux(general::gen4_linux_network, linux()).is_empty());
    let mut w = windows();
    let iface = &mut w.system.as_mut().unwrap().interfaces[0];
    iface.dhcp = false;
    iface.addresses = vec!["10.0.0.9".into()];
    let f = one("GEN-4", on_windows(general::gen4_windows_network, w));
    assert_eq!(f.severity, Severity::Warning);
    assert_eq!(f.evidence, ["interface {1}: static 10.0.0.9"]);
    let f = one(
        "GEN-4",
        on_windows(general::gen4_windows_network, windows()),
    );
    assert_eq!(f.severity, Severity::Pass);
}

#[test]
fn gen5_clean_shutdown() {
    let mut i = disk_set();
    i.disks[0].volumes[0].dirty = Some("journal needs recovery".into());
    let f = one("GEN-5", disk(general::gen5_dirty_filesystems, i));
    assert_eq!(f.severity, Severity::Warning);
    assert_eq!(f.evidence, ["/dev/sda1: journal needs recovery"]);
    assert!(disk(general::gen5_dirty_filesystems, disk_set()).is_empty());
    let mut w = windows();
    w.hiberfil = Some("hibernated".into());
    w.hiberfil_evidence = Some("hiberfil.sys: HIBR".into());
    let f = one("GEN-5", on_windows(general::gen5_windows_hibernation, w));
    assert_eq!(f.severity, Severity::Blocker);
    assert_eq!(f.evidence, ["hiberfil.sys: HIBR"]);
    let mut w = windows();
    w.system.as_mut().unwrap().hiberboot_enabled = Some(1);
    let f = one("GEN-5", on_windows(general::gen5_windows_hibernation, w));
    assert_eq!(f.severity, Severity::Warning);
    assert_eq!(
        f.evidence,
        ["Session Manager\\Power HiberbootEnabled = 1 (fast startup)"]
    );
    let f = one(
        "GEN-5",
        on_windows(general::gen5_windows_hibernation, windows()),
    );
    assert_eq!(f.severity, Severity::Pass);
}

#[test]
fn gen6_lvm() {
    let mut i = disk_set();
    i.logical_volumes = vec![vol("/dev/vg/root", "xfs")];
    i.warnings = vec!["LVM vg: missing PV".into()];
    let v = disk(general::gen6_lvm, i);
    assert_eq!(sev(&v), [Severity::Info, Severity::Blocker]);
    assert_eq!(
        v[0].evidence,
        ["logical volumes mapped here: /dev/vg/root (xfs)"]
    );
    assert_eq!(v[1].evidence, ["LVM vg: missing PV"]);
    assert!(disk(general::gen6_lvm, disk_set()).is_empty());
}

#[test]
fn gen7_os_found() {
    let f = one("GEN-7", disk(general::gen7_os_found, disk_set()));
    assert_eq!(f.severity, Severity::Blocker);
    assert!(f.evidence[0].starts_with("no Linux root"));
    let mut i = disk_set();
    i.operating_systems = vec![linux()];
    let f = one("GEN-7", disk(general::gen7_os_found, i));
    assert_eq!(
        (f.severity, f.title.as_str()),
        (Severity::Pass, "1 operating system(s) found")
    );
}

#[test]
fn lnx1_kernel() {
    let mut o = linux();
    if let Fact::Known(b) = &mut o.bootloader {
        b.default_kernel_version = Some("5.19.0-custom".into());
    }
    let f = one("LNX-1", on_linux(lnx::lnx1_kernel, o));
    assert_eq!(f.severity, Severity::Blocker);
    assert_eq!(
        f.evidence,
        ["default kernel 5.19.0-custom; accepted: 6.1.0"]
    );
    let f = one("LNX-1", on_linux(lnx::lnx1_kernel, linux()));
    assert_eq!(
        (f.severity, f.title.as_str()),
        (Severity::Pass, "default kernel 6.1.0-26-amd64 is accepted")
    );
}

#[test]
fn lnx2_root_free_space() {
    let mut i = disk_set();
    i.disks[0].volumes[0].free_bytes = Some(100 << 20);
    let g = Guest::new(i);
    let f = one("LNX-2", lnx::lnx2_root_free_space(&g.ctx(), &linux()));
    assert_eq!(f.severity, Severity::Warning);
    assert_eq!(f.evidence, ["100.0 MiB free on /dev/sda1"]);
    assert_eq!(
        f.fix.as_deref(),
        Some("free at least 256.0 MiB before export")
    );
    let f = one("LNX-2", on_linux(lnx::lnx2_root_free_space, linux()));
    assert_eq!(
        (f.severity, f.title.as_str()),
        (Severity::Pass, "1.0 GiB free on the root volume")
    );
}

#[test]
fn lnx3_drivers() {
    let mut o = linux();
    o.kernels[0].initramfs_drivers = vec!["ahci".into()];
    o.kernels[0].module_drivers = vec!["nvme".into()];
    let v = on_linux(lnx::lnx3_drivers, o);
    assert_eq!(
        sev(&v),
        [Severity::Warning, Severity::Info, Severity::Warning]
    );
    assert_eq!(
        v[0].evidence,
        [
            "kernel 6.1.0-26-amd64: none of nvme, xen-blkfront in the initramfs or built in (initramfs has: ahci); nvme only in /lib/modules"
        ]
    );
    assert_eq!(v[2].title, "ena driver missing");
    assert_eq!(
        v[2].evidence,
        ["kernel 6.1.0-26-amd64: no ena module in the initramfs or /lib/modules"]
    );
    let v = on_linux(lnx::lnx3_drivers, linux());
    assert_eq!(sev(&v), [Severity::Pass; 3]);
}

#[test]
fn lnx4_interface_names() {
    let mut o = linux();
    if let Fact::Known(n) = &mut o.network {
        n.predictable_names_disabled = false;
        n.interfaces[0].name = "ens33".into();
    }
    let f = one("LNX-4", on_linux(lnx::lnx4_interface_names, o));
    assert_eq!(f.severity, Severity::Warning);
    assert_eq!(f.evidence[0], "ens33 in /etc/network/interfaces");
    let f = one("LNX-4", on_linux(lnx::lnx4_interface_names, linux()));
    assert_eq!(f.severity, Severity::Pass);
    assert_eq!(f.evidence, ["net.ifnames=0"]);
    assert!(lnx::is_predictable_name("enp0s3") && !lnx::is_predictable_name("eth0"));
}

#[test]
fn lnx5_ssh() {
    let mut o = linux();
    o.ssh_server = Fact::Known(ServiceFacts {
        installed: true,
        enabled: false,
        evidence: vec!["sshd.service disabled".into()],
    });
    let f = one("LNX-5", on_linux(lnx::lnx5_ssh, o));
    assert_eq!(f.severity, Severity::Warning);
    assert_eq!(f.evidence, ["sshd.service disabled"]);
    let f = one("LNX-5", on_linux(lnx::lnx5_ssh, linux()));
    assert_eq!(f.severity, Severity::Pass);
    assert_eq!(f.evidence, ["sshd.service enabled"]);
}

#[test]
fn lnx6_dhcp_client() {
    let mut o = linux();
    o.dhcp_client = Fact::Known(vec![]);
    let f = one("LNX-6", on_linux(lnx::lnx6_dhcp_client, o));
    assert_eq!(f.severity, Severity::Blocker);
    // plain words, never Rust debug text (issue 23)
    assert!(
        f.evidence[0].starts_with("no DHCP client binary"),
        "{:?}",
        f.evidence
    );
    assert!(!f.evidence[0].contains("Known"));
    let f = one("LNX-6", on_linux(lnx::lnx6_dhcp_client, linux()));
    assert_eq!(
        (f.severity, f.title.as_str()),
        (Severity::Pass, "DHCP client: dhclient")
    );
}

#[test]
fn lnx7_bls_default() {
    let mut o = linux();
    if let Fact::Known(b) = &mut o.bootloader {
        b.kind = "grub2-bls".into();
        b.default_kernel = None;
    }
    let f = one("LNX-7", on_linux(lnx::lnx7_bls_default, o));
    assert_eq!(f.severity, Severity::Blocker);
    assert_eq!(f.evidence, ["/boot/grub/grub.cfg"]);
    let f = one("LNX-7", on_linux(lnx::lnx7_bls_default, linux()));
    assert_eq!(f.severity, Severity::Pass);
    assert_eq!(
        f.title,
        "default entry resolves to /boot/vmlinuz-6.1.0-26-amd64"
    );
}

#[test]
fn lnx8_initramfs() {
    let mut o = linux();
    o.kernels[0].initramfs_readable = Fact::Known(false);
    o.kernels[0].initramfs_error = Some("bad cpio magic".into());
    let f = one("LNX-8", on_linux(lnx::lnx8_initramfs, o));
    assert_eq!(f.severity, Severity::Blocker);
    assert_eq!(
        f.evidence,
        ["kernel 6.1.0-26-amd64: initramfs /boot/initrd.img-6.1.0-26-amd64: bad cpio magic"]
    );
    let mut o = linux();
    o.kernels.clear();
    assert_eq!(on_linux(lnx::lnx8_initramfs, o)[0].title, "no kernel found");
    let f = one("LNX-8", on_linux(lnx::lnx8_initramfs, linux()));
    assert_eq!(f.severity, Severity::Pass);
}

#[test]
fn win1_free_space() {
    let mut w = windows();
    w.system_volume_free_bytes = Some(1 << 30);
    w.system.as_mut().unwrap().page_file = Some(crate::guest::windows::system::PageFile {
        entries: vec!["?:\\pagefile.sys".into()],
        automatic: true,
    });
    let v = on_windows(win::win1_free_space, w);
    assert_eq!(sev(&v), [Severity::Blocker, Severity::Warning]);
    assert_eq!(v[0].evidence, ["1.0 GiB free on /dev/sda2; 6.0 GiB needed"]);
    assert_eq!(v[1].evidence, ["PagingFiles = ?:\\pagefile.sys"]);
    let f = one("WIN-1", on_windows(win::win1_free_space, windows()));
    assert_eq!(f.severity, Severity::Pass);
    assert_eq!(f.evidence, ["20.0 GiB free (≥ 6.0 GiB)"]);
}

#[test]
fn win2_sriov() {
    let mut w = windows();
    w.matrix_product = Some("Windows Server 2012 R2 Standard".into());
    let f = one("WIN-2", on_windows(win::win2_sriov, w));
    assert_eq!(f.severity, Severity::Info);
    assert!(f.evidence.is_empty());
    assert!(on_windows(win::win2_sriov, windows()).is_empty());
}

#[test]
fn win3_ems() {
    let mut w = windows();
    w.bcd.as_mut().unwrap().boot_manager_ems = Some(true);
    let f = one("WIN-3", on_windows(win::win3_ems, w));
    assert_eq!(f.severity, Severity::Warning);
    assert_eq!(
        f.evidence,
        ["/dev/sda1:/Boot/BCD: boot manager bootems = yes"]
    );
    let f = one("WIN-3", on_windows(win::win3_ems, windows()));
    assert_eq!(f.severity, Severity::Pass);
    assert_eq!(f.evidence, ["/dev/sda1:/Boot/BCD"]);
}

#[test]
fn win4_language() {
    let mut w = windows();
    let sys = w.system.as_mut().unwrap();
    sys.language_default = Some("0407".into());
    sys.ui_languages.push("de-DÉ".into());
    let v = on_windows(win::win4_language, w);
    assert_eq!(sev(&v), [Severity::Blocker, Severity::Warning]);
    assert_eq!(v[0].evidence, ["Control\\MUI\\UILanguages\\de-DÉ"]);
    assert_eq!(v[1].evidence, ["Nls\\Language Default = 0407"]);
    let f = one("WIN-4", on_windows(win::win4_language, windows()));
    assert_eq!(f.severity, Severity::Pass);
    assert_eq!(
        f.evidence,
        ["Nls\\Language Default = 0409", "language pack en-US"]
    );
}

#[test]
fn win5_hyperv() {
    let mut w = windows();
    w.hyperv_role = true;
    w.system.as_mut().unwrap().services.push(service("vmms", 2));
    let f = one("WIN-5", on_windows(win::win5_hyperv, w.clone()));
    assert_eq!(f.severity, Severity::Blocker);
    assert_eq!(
        f.evidence,
        ["service vmms (Start=2, System32\\drivers\\vmms.sys)"]
    );
    w.installation_type = Some("Client".into());
    assert_eq!(
        on_windows(win::win5_hyperv, w)[0].severity,
        Severity::Warning
    );
    let f = one("WIN-5", on_windows(win::win5_hyperv, windows()));
    assert_eq!(f.severity, Severity::Pass);
}

#[test]
fn win6_access() {
    let mut w = windows();
    let sys = w.system.as_mut().unwrap();
    sys.deny_ts_connections = Some(1);
    sys.rdp_firewall_rules.clear();
    sys.pending_file_rename = true;
    let sw = w.software.as_mut().unwrap();
    sw.dotnet = vec!["3.5".into()];
    sw.auto_logon = true;
    w.sam = Some(SamFacts {
        accounts: vec![account("Administrator", false)],
        unreadable: vec![],
    });
    let v = on_windows(win::win6_access, w);
    assert_eq!(sev(&v), [Severity::Warning; 6]);
    let ev: Vec<&str> = v.iter().map(|f| f.evidence[0].as_str()).collect();
    assert_eq!(
        ev,
        [
            "Terminal Server fDenyTSConnections = 1",
            "FirewallPolicy\\FirewallRules has no active inbound RDP (3389) allow rule",
            ".NET installed: 3.5",
            "Winlogon AutoAdminLogon = 1",
            "Session Manager PendingFileRenameOperations",
            "Administrator (RID 500): enabled, no NT password hash in SAM",
        ]
    );
    let v = on_windows(win::win6_access, windows());
    assert_eq!(sev(&v), [Severity::Pass; 4]);
    assert_eq!(
        v[3].evidence,
        ["1 enabled local account(s) with a password: Administrator"]
    );
}

#[test]
fn win7_rtc() {
    let mut w = windows();
    w.system.as_mut().unwrap().real_time_is_universal = None;
    let f = one("WIN-7", on_windows(win::win7_rtc, w));
    assert_eq!(f.severity, Severity::Warning);
    assert_eq!(
        f.evidence,
        ["TimeZoneInformation has no RealTimeIsUniversal value"]
    );
    let f = one("WIN-7", on_windows(win::win7_rtc, windows()));
    assert_eq!(f.severity, Severity::Pass);
    assert_eq!(f.evidence, ["TimeZoneInformation RealTimeIsUniversal = 1"]);
}

#[test]
fn win8_sysprep() {
    let mut w = windows();
    w.image_state = Some("IMAGE_STATE_GENERALIZE_RESEAL_TO_OOBE".into());
    let f = one("WIN-8", on_windows(win::win8_sysprep, w));
    assert_eq!(f.severity, Severity::Info);
    assert_eq!(
        f.evidence,
        ["Windows\\Setup\\State\\State.ini ImageState = IMAGE_STATE_GENERALIZE_RESEAL_TO_OOBE"]
    );
    let fix = f.fix.unwrap();
    assert!(
        fix.contains("processorArchitecture amd64;") && fix.contains("windows-unattend"),
        "{fix}"
    );
    let f = one("WIN-8", on_windows(win::win8_sysprep, windows()));
    assert_eq!(f.severity, Severity::Pass);
}

#[test]
fn win9_first_boot() {
    let mut w = windows();
    let sys = w.system.as_mut().unwrap();
    sys.services.retain(|s| s.name != "Dhcp");
    sys.services.push(service("CSAgent", 1));
    w.drive_mappings.insert("D".into(), "/dev/sdb1".into());
    w.bcd.as_mut().unwrap().loaders.push(BcdEntry {
        id: "{other}".into(),
        description: Some("Windows 2".into()),
        ..Default::default()
    });
    w.software.as_mut().unwrap().edition_id = Some("ServerStandardEval".into());
    let v = on_windows(win::win9_first_boot, w);
    assert_eq!(
        sev(&v),
        [
            Severity::Blocker,
            Severity::Warning,
            Severity::Warning,
            Severity::Warning,
            Severity::Warning
        ]
    );
    assert_eq!(v[0].evidence, ["no Dhcp client service"]);
    assert_eq!(v[1].evidence, ["D: is /dev/sdb1, not on the boot disk"]);
    assert_eq!(v[2].evidence.len(), 2);
    assert_eq!(
        v[3].evidence,
        ["service CSAgent (Start=1, System32\\drivers\\CSAgent.sys)"]
    );
    assert_eq!(v[4].evidence, ["EditionID ServerStandardEval"]);
    let v = on_windows(win::win9_first_boot, windows());
    assert_eq!(sev(&v), [Severity::Pass, Severity::Pass]);
}

#[test]
fn modl3_fstab() {
    let mut o = linux();
    o.mountpoints[0].spec = "/dev/sda1".into();
    o.unresolved_fstab = vec![FstabProblem {
        file: "/etc/fstab".into(),
        line: 5,
        spec: "/dev/sdb1".into(),
        mountpoint: "/data".into(),
        fstype: "ext4".into(),
        reason: "no such disk in the image".into(),
    }];
    let v = on_linux(modif::modl3_fstab, o);
    assert_eq!(sev(&v), [Severity::Warning, Severity::Warning]);
    assert_eq!(v[0].evidence, ["/ on /dev/sda1"]);
    assert_eq!(
        v[1].evidence,
        ["/etc/fstab:5: /dev/sdb1 /data ext4 (no such disk in the image)"]
    );
    assert!(on_linux(modif::modl3_fstab, linux()).is_empty());
}

#[test]
fn modl4_cmdline() {
    let mut o = linux();
    if let Fact::Known(b) = &mut o.bootloader {
        b.default_cmdline = Some("root=/dev/sda1 resume=/dev/mapper/swap ro".into());
    }
    let f = one("MOD-L4", on_linux(modif::modl4_cmdline_device_names, o));
    assert_eq!(f.severity, Severity::Warning);
    assert_eq!(f.evidence, ["default entry: root=/dev/sda1"]);
    let f = one(
        "MOD-L4",
        on_linux(modif::modl4_cmdline_device_names, linux()),
    );
    assert_eq!(f.severity, Severity::Pass);
}

#[test]
fn modw1_platform_drivers() {
    let mut w = windows();
    w.system
        .as_mut()
        .unwrap()
        .services
        .retain(|s| s.name != "ena");
    w.drivers = vec![crate::guest::windows::DriverFacts {
        name: "stornvme".into(),
        family: "nvme".into(),
        start: Some(0),
        image_path: None,
        file_present: Some(true),
    }];
    let f = one("MOD-W1", on_windows(modif::modw1_platform_drivers, w));
    assert_eq!(f.severity, Severity::Info);
    assert_eq!(
        f.title,
        "platform network drivers not installed; the import (MOD-W1/W2) adds them"
    );
    assert_eq!(f.evidence, ["stornvme (nvme, Start=0)"]);
    let f = one(
        "MOD-W1",
        on_windows(modif::modw1_platform_drivers, windows()),
    );
    assert_eq!(f.severity, Severity::Pass);
}

#[test]
fn policy_severities_come_from_the_profile() {
    for (k, v) in crate::rules::policy::SEVERITY_DEFAULTS {
        assert!(Severity::from_name(v).is_some(), "{k} = {v}");
    }
    let mut g = Guest::new(disk_set());
    g.profile
        .settings
        .severity
        .insert("WIN-7.rtc".into(), "blocker".into());
    let mut w = windows();
    w.system.as_mut().unwrap().real_time_is_universal = Some(0);
    let f = one("WIN-7", win::win7_rtc(&g.ctx(), &windows_os(), &w));
    assert_eq!(f.severity, Severity::Blocker);
    assert_eq!(f.evidence, ["TimeZoneInformation RealTimeIsUniversal = 0"]);
    // A profile without the table (an older one) keeps the defaults.
    g.profile.settings.severity.clear();
    assert_eq!(
        win::win7_rtc(&g.ctx(), &windows_os(), &w)[0].severity,
        Severity::Warning
    );
}
