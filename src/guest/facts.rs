//! The facts inspection reports: one [`Inspection`] per disk set, one [`OsFacts`] per operating
//! system root found. Field names are the stable JSON schema (docs/inspect-json.md). A fact that
//! could not be read is a [`Fact::Unknown`] with the reason, never silently absent.

use serde::Serialize;

/// A fact that is either known or unknown for a stated reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Fact<T> {
    /// The value found.
    Known(T),
    /// Not known.
    Unknown {
        /// Why (`not found`, `not read (quick inspection)` …).
        unknown: String,
    },
}

impl<T> Fact<T> {
    /// An unknown fact with its reason.
    pub fn unknown(reason: impl Into<String>) -> Self {
        Fact::Unknown {
            unknown: reason.into(),
        }
    }
    /// The value, if known.
    pub fn known(&self) -> Option<&T> {
        match self {
            Fact::Known(v) => Some(v),
            Fact::Unknown { .. } => None,
        }
    }
    /// Whether the value is known.
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
    /// Read calls on the image files.
    pub reads: u64,
}

/// Container facts of one image file.
#[derive(Debug, Clone, Serialize, Default)]
pub struct ImageFacts {
    /// The image as given (a path or URL).
    pub path: String,
    /// raw, qcow2, vmdk-streamOptimized, vmdk-monolithicSparse, vhd-fixed, vhd-dynamic, vhdx, ova …
    pub format: String,
    /// The virtual disk size, in bytes.
    pub virtual_size: u64,
    /// The image file's size on the host, in bytes.
    pub file_size: u64,
    /// The backing / parent file the image names.
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
    /// The disk's size, in bytes.
    pub size: u64,
    /// "mbr", "gpt", "none".
    pub partition_table: String,
    /// MBR has boot code (BIOS boot possible).
    pub mbr_boot_code: bool,
    /// GPT with a hybrid (not protective) MBR.
    pub hybrid_mbr: bool,
    /// Primary partitions in its MBR (FMT-4: at most 4).
    pub primary_partitions: u32,
    /// Its partitions (or the whole disk when it holds no table).
    pub volumes: Vec<VolumeFacts>,
    /// Anything odd about the table (backup GPT used, overlapping partitions …).
    pub notes: Vec<String>,
}

/// A partition or logical volume and what it holds.
#[derive(Debug, Clone, Serialize, Default)]
pub struct VolumeFacts {
    /// /dev/sda1, /dev/vg/lv.
    pub device: String,
    /// Byte offset of the volume on its disk (0 for a logical volume).
    pub start: u64,
    /// Size in bytes.
    pub size: u64,
    /// Partition type name (ESP, BIOS boot, Linux filesystem, LVM …) or MBR type byte.
    pub part_type: Option<String>,
    /// PARTUUID: the GPT partition GUID, or `SSSSSSSS-NN` on MBR (as blkid prints it).
    pub partuuid: Option<String>,
    /// GPT partition name.
    pub partlabel: Option<String>,
    /// The MBR active flag, or GPT's legacy BIOS bootable attribute.
    pub bootable: bool,
    /// ext4, xfs, btrfs, vfat, ntfs, swap, LVM2_member, crypto_LUKS, BitLocker, LDM, linux_raid_member.
    pub content: Option<String>,
    /// The filesystem UUID (as blkid shows it).
    pub uuid: Option<String>,
    /// The filesystem label.
    pub label: Option<String>,
    /// Filesystem-level facts, when a filesystem was opened.
    pub free_bytes: Option<u64>,
    /// The filesystem's size, in bytes.
    pub total_bytes: Option<u64>,
    /// GEN-5: dirty journal/log or hibernated NTFS.
    pub dirty: Option<String>,
    /// Btrfs subvolumes (BOOT-2); snapshots flagged.
    pub subvolumes: Vec<SubvolumeFacts>,
}

#[derive(Debug, Clone, Serialize, Default)]
/// One Btrfs subvolume.
pub struct SubvolumeFacts {
    /// The subvolume ID (its tree's object ID).
    pub id: u64,
    /// Its path from the top-level subvolume.
    pub path: String,
    /// It is a snapshot of another subvolume.
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
    /// The OS product name (`Debian GNU/Linux 12 (bookworm)`, `Windows Server 2019 Standard`).
    pub product_name: Fact<String>,
    /// The major version number.
    pub major_version: Fact<u32>,
    /// The minor version number.
    pub minor_version: Fact<u32>,
    /// Full version string as the distro writes it (12.7, 22.04, 15.5, 10.0.17763).
    pub version: Fact<String>,
    /// x86_64, i386, aarch64 … (from ELF/PE headers of the guest's own binaries).
    pub arch: Fact<String>,
    /// The guest's host name.
    pub hostname: Fact<String>,
    /// `deb` or `rpm`.
    pub package_format: Fact<String>,
    /// The package manager: `apt`, `dnf`, `yum`, `zypper` …
    pub package_management: Fact<String>,
    /// Mount point → device, as the guest's fstab (or drive letters) say.
    pub mountpoints: Vec<MountFacts>,
    /// fstab entries that resolve to nothing in the image.
    pub unresolved_fstab: Vec<FstabProblem>,
    /// The installed Linux kernels.
    pub kernels: Vec<KernelFacts>,
    /// The boot loader and its default entry.
    pub bootloader: Fact<BootloaderFacts>,
    /// Whether the guest boots with BIOS, UEFI or both.
    pub boot_modes: BootModes,
    /// Configured interfaces.
    pub network: Fact<NetworkFacts>,
    /// Whether an SSH server is installed and enabled.
    pub ssh_server: Fact<ServiceFacts>,
    /// DHCP clients found (`dhclient`, `NetworkManager`, `systemd-networkd` …).
    pub dhcp_client: Fact<Vec<String>>,
    /// cloud-init is installed.
    pub cloud_init: bool,
    /// Installed packages.
    pub applications: Fact<Vec<Application>>,
    /// Windows-only facts.
    pub windows: Option<serde_json::Value>,
    /// Facts that other layers found worth a note.
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
/// One mount of the guest.
pub struct MountFacts {
    /// Where it is mounted (`/boot`; `C:` on Windows).
    pub mountpoint: String,
    /// The device it resolved to (`/dev/sda1`).
    pub device: String,
    /// The filesystem type.
    pub fstype: String,
    /// The mount options as written.
    pub options: String,
    /// The spec as written in fstab (`/dev/sda1`, `UUID=…`).
    pub spec: String,
}

#[derive(Debug, Clone, Serialize)]
/// An fstab line that names nothing in the image.
pub struct FstabProblem {
    /// The file (`/etc/fstab`).
    pub file: String,
    /// Its line number (1-based).
    pub line: usize,
    /// The spec as written.
    pub spec: String,
    /// The mount point.
    pub mountpoint: String,
    /// The filesystem type.
    pub fstype: String,
    /// Why it resolves to nothing.
    pub reason: String,
}

#[derive(Debug, Clone, Serialize)]
/// One installed Linux kernel.
pub struct KernelFacts {
    /// Kernel release (6.1.0-26-amd64).
    pub version: String,
    /// The kernel image's guest path (`/boot/vmlinuz-…`).
    pub path: String,
    /// Its initramfs's guest path.
    pub initramfs: Option<String>,
    /// LNX-8: the initramfs is a readable archive.
    pub initramfs_readable: Fact<bool>,
    /// Why it is not readable.
    pub initramfs_error: Option<String>,
    /// Driver modules found in the initramfs (virtio_blk, nvme, ena …).
    pub initramfs_drivers: Vec<String>,
    /// Driver modules found under `/lib/modules/<version>` (modules.dep).
    pub module_drivers: Vec<String>,
    /// Drivers built into the kernel (modules.builtin): available at boot without the initramfs.
    pub builtin_drivers: Vec<String>,
    /// `/lib/modules/<version>` exists.
    pub modules_dir: bool,
    /// The initramfs was there but deliberately not decompressed (a quick inspection): its
    /// facts are unknown on purpose, which checks and plans treat differently from unreadable.
    /// Not in the JSON (`initramfs_readable` says it in words).
    #[serde(skip)]
    pub initramfs_not_read: bool,
}

#[derive(Debug, Clone, Serialize)]
/// The boot loader's configuration.
pub struct BootloaderFacts {
    /// grub2, grub2-bls, grub-legacy.
    pub kind: String,
    /// The guest paths of its configuration files.
    pub config_files: Vec<String>,
    /// The default entry's title.
    pub default_title: Option<String>,
    /// The default entry's kernel path.
    pub default_kernel: Option<String>,
    /// The default entry's kernel release.
    pub default_kernel_version: Option<String>,
    /// The default entry's kernel command line.
    pub default_cmdline: Option<String>,
    /// The menu timeout as written (seconds).
    pub timeout: Option<String>,
    /// Every menu entry's title.
    pub entries: Vec<String>,
    /// grubenv `next_entry` when set (and grub.cfg honours it): the entry GRUB boots once on
    /// the next boot, i.e. the first boot after import (its menu title, or the raw value when
    /// it names no entry).
    pub next_entry: Option<String>,
}

#[derive(Debug, Clone, Serialize, Default)]
/// How the guest can boot.
pub struct BootModes {
    /// It can boot with legacy BIOS (boot code and loader present).
    pub bios: bool,
    /// It can boot with UEFI (an ESP with a loader).
    pub uefi: bool,
    /// BOOT-4: EFI/BOOT/BOOTX64.EFI present on the ESP.
    pub uefi_fallback_loader: Option<bool>,
    /// The EFI system partition's device.
    pub esp_device: Option<String>,
    /// What the judgement rests on.
    pub evidence: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Default)]
/// The guest's network configuration.
pub struct NetworkFacts {
    /// Every configured interface.
    pub interfaces: Vec<InterfaceFacts>,
    /// LNX-4: predictable names disabled (net.ifnames=0 / biosdevname=0 / udev).
    pub predictable_names_disabled: bool,
    /// Where the facts come from.
    pub evidence: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
/// One configured interface.
pub struct InterfaceFacts {
    /// The interface name (`eth0`, `ens5`).
    pub name: String,
    /// ifupdown, ifcfg-rh, ifcfg-suse, netplan, networkmanager, networkd.
    pub flavour: String,
    /// The configuration file's guest path.
    pub file: String,
    /// It takes an IPv4 address by DHCP.
    pub dhcp4: bool,
    /// It takes an IPv6 address by DHCP(v6).
    pub dhcp6: bool,
    /// Static addresses (`10.0.0.5/24`).
    pub addresses: Vec<String>,
    /// The static default gateway.
    pub gateway: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
/// A service's state.
pub struct ServiceFacts {
    /// Its package or unit is installed.
    pub installed: bool,
    /// It starts at boot.
    pub enabled: bool,
    /// What the judgement rests on.
    pub evidence: Vec<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
/// One installed package.
pub struct Application {
    /// The package name.
    pub name: String,
    /// Its version.
    pub version: String,
    /// Its release (rpm) or Debian revision.
    pub release: String,
    /// Its epoch (0 when none).
    pub epoch: u32,
    /// Its architecture (`amd64`, `x86_64`, `noarch`).
    pub arch: String,
}
