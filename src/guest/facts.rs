//! The facts inspection reports: one [`Inspection`] per disk set, one [`OsFacts`] per operating
//! system root found. Field names are the stable JSON schema (docs/inspect-json.md). A fact that
//! could not be read is a [`Fact::Unknown`] with the reason, never silently absent.

use serde::Serialize;

/// A fact that is either known or unknown for a stated reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Fact<T> {
    Known(T),
    Unknown { unknown: String },
}

impl<T> Fact<T> {
    pub fn unknown(reason: impl Into<String>) -> Self {
        Fact::Unknown {
            unknown: reason.into(),
        }
    }
    pub fn known(&self) -> Option<&T> {
        match self {
            Fact::Known(v) => Some(v),
            Fact::Unknown { .. } => None,
        }
    }
    pub fn is_known(&self) -> bool {
        matches!(self, Fact::Known(_))
    }
}

impl Inspection {
    /// Every volume: partitions of every disk, then logical volumes.
    pub fn all_volumes(&self) -> impl Iterator<Item = &VolumeFacts> {
        self.disks
            .iter()
            .flat_map(|d| &d.volumes)
            .chain(&self.logical_volumes)
    }
}

impl<T> From<Option<T>> for Fact<T> {
    fn from(o: Option<T>) -> Self {
        match o {
            Some(v) => Fact::Known(v),
            None => Fact::unknown("not found"),
        }
    }
}

/// Everything found on one disk set.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Inspection {
    /// The images as given, with their container facts (FMT-*).
    pub images: Vec<ImageFacts>,
    /// Every disk, with its partition table and volumes (BOOT-*, GEN-3).
    pub disks: Vec<DiskFacts>,
    /// LVM logical volumes (and any volume not on one disk).
    pub logical_volumes: Vec<VolumeFacts>,
    /// Every operating system root found (more than one = multi-boot, GEN-2).
    pub operating_systems: Vec<OsFacts>,
    /// Problems met while inspecting that did not stop it.
    pub warnings: Vec<String>,
    /// Bytes and reads of the image files this inspection needed.
    pub bytes_read: u64,
    pub reads: u64,
}

/// Container facts of one image file.
#[derive(Debug, Clone, Serialize, Default)]
pub struct ImageFacts {
    pub path: String,
    /// raw, qcow2, vmdk-streamOptimized, vmdk-monolithicSparse, vhd-fixed, vhd-dynamic, vhdx, ova …
    pub format: String,
    pub virtual_size: u64,
    pub file_size: u64,
    pub backing_file: Option<String>,
    /// For an OVA: the disks inside, in OVF order.
    pub disks: Vec<String>,
    /// Anything odd about the container (e.g. a dirty VHDX log replayed).
    pub notes: Vec<String>,
}

/// One disk of the set.
#[derive(Debug, Clone, Serialize, Default)]
pub struct DiskFacts {
    /// Guest device name if this disk were attached as the Nth disk (/dev/sda).
    pub device: String,
    pub size: u64,
    /// "mbr", "gpt", "none".
    pub partition_table: String,
    /// MBR has boot code (BIOS boot possible).
    pub mbr_boot_code: bool,
    /// GPT with a hybrid (not protective) MBR.
    pub hybrid_mbr: bool,
    pub primary_partitions: u32,
    pub volumes: Vec<VolumeFacts>,
    pub notes: Vec<String>,
}

/// A partition or logical volume and what it holds.
#[derive(Debug, Clone, Serialize, Default)]
pub struct VolumeFacts {
    /// /dev/sda1, /dev/vg/lv.
    pub device: String,
    pub start: u64,
    pub size: u64,
    /// Partition type name (ESP, BIOS boot, Linux filesystem, LVM …) or MBR type byte.
    pub part_type: Option<String>,
    pub partuuid: Option<String>,
    pub partlabel: Option<String>,
    pub bootable: bool,
    /// ext4, xfs, btrfs, vfat, ntfs, swap, LVM2_member, crypto_LUKS, BitLocker, LDM, linux_raid_member.
    pub content: Option<String>,
    pub uuid: Option<String>,
    pub label: Option<String>,
    /// Filesystem-level facts, when a filesystem was opened.
    pub free_bytes: Option<u64>,
    pub total_bytes: Option<u64>,
    /// GEN-5: dirty journal/log or hibernated NTFS.
    pub dirty: Option<String>,
    /// Btrfs subvolumes (BOOT-2); snapshots flagged.
    pub subvolumes: Vec<SubvolumeFacts>,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct SubvolumeFacts {
    pub id: u64,
    pub path: String,
    pub snapshot: bool,
}

/// One operating system root.
#[derive(Debug, Clone, Serialize)]
pub struct OsFacts {
    /// Device of the root filesystem (/dev/sda1), with `:subvol` for Btrfs subvolumes.
    pub root: String,
    /// "linux" or "windows".
    pub os_type: String,
    /// virt-inspector distro names: debian, ubuntu, rhel, centos, fedora, sles, amazonlinux …
    pub distro: Fact<String>,
    pub product_name: Fact<String>,
    pub major_version: Fact<u32>,
    pub minor_version: Fact<u32>,
    /// Full version string as the distro writes it (12.7, 22.04, 15.5, 10.0.17763).
    pub version: Fact<String>,
    /// x86_64, i386, aarch64 … (from ELF/PE headers of the guest's own binaries).
    pub arch: Fact<String>,
    pub hostname: Fact<String>,
    pub package_format: Fact<String>,
    pub package_management: Fact<String>,
    /// Mount point → device, as the guest's fstab (or drive letters) say.
    pub mountpoints: Vec<MountFacts>,
    /// fstab entries that resolve to nothing in the image.
    pub unresolved_fstab: Vec<FstabProblem>,
    pub kernels: Vec<KernelFacts>,
    pub bootloader: Fact<BootloaderFacts>,
    pub boot_modes: BootModes,
    pub network: Fact<NetworkFacts>,
    pub ssh_server: Fact<ServiceFacts>,
    pub dhcp_client: Fact<Vec<String>>,
    pub cloud_init: bool,
    pub applications: Fact<Vec<Application>>,
    /// Windows-only facts.
    pub windows: Option<serde_json::Value>,
    /// Facts that other layers found worth a note.
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct MountFacts {
    pub mountpoint: String,
    pub device: String,
    pub fstype: String,
    pub options: String,
    /// The spec as written in fstab (`/dev/sda1`, `UUID=…`).
    pub spec: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct FstabProblem {
    pub file: String,
    pub line: usize,
    pub spec: String,
    pub mountpoint: String,
    pub fstype: String,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct KernelFacts {
    /// Kernel release (6.1.0-26-amd64).
    pub version: String,
    pub path: String,
    pub initramfs: Option<String>,
    /// LNX-8: the initramfs is a readable archive.
    pub initramfs_readable: Fact<bool>,
    /// Why it is not readable.
    pub initramfs_error: Option<String>,
    /// Driver modules found in the initramfs (virtio_blk, nvme, ena …).
    pub initramfs_drivers: Vec<String>,
    /// Driver modules found under /lib/modules/<version> (modules.dep).
    pub module_drivers: Vec<String>,
    /// Drivers built into the kernel (modules.builtin): available at boot without the initramfs.
    pub builtin_drivers: Vec<String>,
    pub modules_dir: bool,
    /// The initramfs was there but deliberately not decompressed (a quick inspection): its
    /// facts are unknown on purpose, which checks and plans treat differently from unreadable.
    /// Not in the JSON (`initramfs_readable` says it in words).
    #[serde(skip)]
    pub initramfs_not_read: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct BootloaderFacts {
    /// grub2, grub2-bls, grub-legacy.
    pub kind: String,
    pub config_files: Vec<String>,
    pub default_title: Option<String>,
    pub default_kernel: Option<String>,
    pub default_kernel_version: Option<String>,
    pub default_cmdline: Option<String>,
    pub timeout: Option<String>,
    pub entries: Vec<String>,
    /// grubenv `next_entry` when set (and grub.cfg honours it): the entry GRUB boots once on
    /// the next boot, i.e. the first boot after import (its menu title, or the raw value when
    /// it names no entry).
    pub next_entry: Option<String>,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct BootModes {
    pub bios: bool,
    pub uefi: bool,
    /// BOOT-4: EFI/BOOT/BOOTX64.EFI present on the ESP.
    pub uefi_fallback_loader: Option<bool>,
    pub esp_device: Option<String>,
    pub evidence: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct NetworkFacts {
    pub interfaces: Vec<InterfaceFacts>,
    /// LNX-4: predictable names disabled (net.ifnames=0 / biosdevname=0 / udev).
    pub predictable_names_disabled: bool,
    pub evidence: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct InterfaceFacts {
    pub name: String,
    /// ifupdown, ifcfg-rh, ifcfg-suse, netplan, networkmanager, networkd.
    pub flavour: String,
    pub file: String,
    pub dhcp4: bool,
    pub dhcp6: bool,
    pub addresses: Vec<String>,
    pub gateway: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ServiceFacts {
    pub installed: bool,
    pub enabled: bool,
    pub evidence: Vec<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Application {
    pub name: String,
    pub version: String,
    pub release: String,
    pub epoch: u32,
    pub arch: String,
}
