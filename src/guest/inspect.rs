//! The inspection run: open the images (block), scan partitions and LVM (volume), probe and open
//! filesystems (fs), find every OS root, mount each Linux root's fstab, and gather the facts.
//! Only the blocks needed are read; the read counter says how many.

use super::facts::*;
use super::linux::{self, files::GuestFiles, initramfs};
use super::mount::{self, FstabStatus, OsKind, RootCandidate};
use super::treefiles::TreeFiles;
use crate::block::{self, BlockDev, CountingDev, counter::ReadStats};
use crate::fs::probe::OpenOptions as FsOpenOptions;
use crate::fs::tree::GuestTree;
use crate::fs::{DirtyState, FileType};
use crate::volume::{Content, DiskSet, FsKind, Volume};
use std::path::PathBuf;
use std::sync::Arc;

/// Largest initramfs read (a real one is 10–150 MiB).
pub const MAX_INITRAMFS: u64 = 512 << 20;
/// Driver modules worth reporting (boot-critical storage and network on cloud/virtual platforms).
pub const DRIVERS_OF_INTEREST: &[&str] = &[
    "virtio_blk",
    "virtio_scsi",
    "virtio_net",
    "virtio_pci",
    "virtio_ring",
    "virtio",
    "nvme",
    "nvme_core",
    "ena",
    "ixgbevf",
    "xen_blkfront",
    "xen_netfront",
    "hv_vmbus",
    "hv_storvsc",
    "hv_netvsc",
    "vmw_pvscsi",
    "vmxnet3",
    "ahci",
    "sd_mod",
];

/// Why a kernel's initramfs facts are unknown after [`InspectOptions::skip_initramfs`].
pub const INITRAMFS_NOT_READ: &str = "not read (quick inspection)";

/// How to inspect.
#[derive(Debug, Clone, Default)]
pub struct InspectOptions {
    /// How the images are opened.
    pub block: block::OpenOptions,
    /// Skip reading the package database.
    pub no_applications: bool,
    /// Do not decompress initramfs images (their drivers and readability are then unknown):
    /// a quick inspection that reads a small fraction of the image.
    pub skip_initramfs: bool,
    /// Run the independent readers of a Linux root side by side (always on for an image read
    /// over the network, where every uncached read is a round trip). Off, the reads happen in
    /// one order and the read counters (`bytes_read`, `reads`) are the same on every run.
    pub concurrent_readers: bool,
}

/// Errors that stop an inspection (a damaged container, an unreadable disk).
#[derive(Debug, thiserror::Error)]
pub enum InspectError {
    #[error(transparent)]
    /// An image could not be opened or read.
    Block(#[from] block::BlockError),
    #[error(transparent)]
    /// A partition table or LVM metadata could not be read.
    Volume(#[from] crate::volume::VolumeError),
}

/// One OS root with its mounted tree, kept for planning and applying.
pub struct Guest {
    /// The filesystem holding the OS root.
    pub root: RootCandidate,
    /// The guest's filesystems mounted at their fstab mount points.
    pub tree: GuestTree,
    /// Each fstab line and whether it was mounted.
    pub fstab: Vec<mount::FstabOutcome>,
    /// Index into `Inspection::operating_systems`.
    pub os_index: usize,
}

/// The facts plus what later stages need to work on the guest.
pub struct Inspected {
    /// The facts (what `guestfix inspect --json` prints).
    pub inspection: Inspection,
    /// The disk set's volumes.
    pub set: DiskSet,
    /// Every OS root, with its tree.
    pub guests: Vec<Guest>,
    /// The disks as opened (uncounted), in order.
    pub disks: Vec<Arc<dyn BlockDev>>,
    /// The image paths as given.
    pub paths: Vec<PathBuf>,
    stats: Vec<Arc<ReadStats>>,
}

impl Inspected {
    /// Bytes and reads so far through the counted disks.
    pub fn read_stats(&self) -> (u64, u64) {
        self.stats
            .iter()
            .fold((0, 0), |(b, r), s| (b + s.bytes(), r + s.reads()))
    }
}

fn image_format(info: &block::ContainerInfo) -> String {
    match (info.format.as_str(), info.subformat.as_deref()) {
        ("vmdk", Some(s)) => format!("vmdk-{s}"),
        ("vhd", Some(s)) => format!("vhd-{s}"),
        (f, _) => f.to_string(),
    }
}

/// Inspect a disk set given as image paths (an OVA brings all its disks).
pub fn inspect(paths: &[PathBuf], opts: &InspectOptions) -> Result<Inspected, InspectError> {
    let remote = paths
        .iter()
        .any(|p| p.to_str().is_some_and(block::remote::is_url));
    let opts = &InspectOptions {
        concurrent_readers: opts.concurrent_readers || remote,
        ..opts.clone()
    };
    let mut disks: Vec<Arc<dyn BlockDev>> = Vec::new();
    let mut counted: Vec<Arc<dyn BlockDev>> = Vec::new();
    let mut stats = Vec::new();
    let mut images = Vec::new();
    for p in paths {
        let (devs, info) = block::open_with_info(p, &opts.block)?;
        images.push(ImageFacts {
            path: p.display().to_string(),
            format: image_format(&info),
            virtual_size: info.virtual_size,
            file_size: info.file_size,
            backing_file: info.backing_file.clone(),
            disks: info.disks.iter().map(|d| d.href.clone()).collect(),
            notes: Vec::new(),
        });
        for d in devs {
            let c = CountingDev::new(d.clone());
            stats.push(c.stats());
            counted.push(Arc::new(c));
            disks.push(d);
        }
    }
    let set = crate::fs::probe::scan_disks(&counted)?;
    let mut insp = Inspection {
        images,
        warnings: set.warnings.clone(),
        ..Default::default()
    };
    let mut vol_facts: Vec<VolumeFacts> = set.volumes.iter().map(volume_facts).collect();
    for d in &set.disks {
        insp.disks.push(DiskFacts {
            device: format!("/dev/{}", d.name),
            size: d.size,
            partition_table: format!("{:?}", d.table).to_lowercase(),
            mbr_boot_code: d.mbr_boot_code,
            hybrid_mbr: matches!(d.mbr_kind, crate::volume::MbrKind::Hybrid),
            primary_partitions: d.primary_partitions as u32,
            volumes: Vec::new(),
            notes: {
                let mut n = Vec::new();
                if d.gpt_used_backup {
                    n.push("primary GPT header is damaged; the backup header was used".into());
                }
                if d.dynamic_disk {
                    n.push("Windows dynamic disk (LDM)".into());
                }
                n
            },
        });
    }
    for lv in set.lvs.iter().filter(|l| l.unsupported.is_some()) {
        insp.warnings.push(format!(
            "LVM {}/{}: {}",
            lv.vg,
            lv.lv,
            lv.unsupported.clone().unwrap_or_default()
        ));
    }

    // Open every filesystem once for its free space and dirty state (GEN-5, LNX-2, WIN-1).
    for (v, f) in set.volumes.iter().zip(vol_facts.iter_mut()) {
        if let Content::Filesystem { .. } = v.content {
            match mount::open_volume(v, &FsOpenOptions::default()) {
                Ok(fs) => {
                    let i = fs.info();
                    f.free_bytes = Some(i.free_bytes);
                    f.total_bytes = Some(i.total_bytes);
                    f.dirty = match i.dirty {
                        DirtyState::Clean => None,
                        DirtyState::NeedsRecovery { replayed, detail } => Some(format!(
                            "{detail}{}",
                            if replayed {
                                " (journal replayed in memory for reading)"
                            } else {
                                " (journal not replayed: reads may be stale)"
                            }
                        )),
                        DirtyState::Dirty { detail } => Some(detail),
                    };
                }
                Err(e) => insp.warnings.push(format!("{}: {e}", v.name)),
            }
        }
        // BOOT-2: Btrfs subvolumes, with snapshots told apart (they are not OS roots).
        if matches!(
            &v.content,
            Content::Filesystem {
                fs: FsKind::Btrfs,
                ..
            }
        ) {
            let opened = crate::fs::btrfs::BtrfsFs::open(v.dev.clone(), &Default::default());
            match opened.and_then(|b| b.list_subvolumes()) {
                Ok(subs) => {
                    f.subvolumes = subs
                        .into_iter()
                        .map(|s| SubvolumeFacts {
                            id: s.id,
                            path: s.path,
                            snapshot: s.is_snapshot,
                        })
                        .collect()
                }
                Err(e) => insp
                    .warnings
                    .push(format!("{}: Btrfs subvolumes: {e}", v.name)),
            }
        }
    }
    for (v, f) in set.volumes.iter().zip(vol_facts) {
        match v.disk {
            Some(d) if d < insp.disks.len() => insp.disks[d].volumes.push(f),
            _ => insp.logical_volumes.push(f),
        }
    }

    let (roots, errs) = mount::find_roots(&set);
    for (v, e) in errs {
        insp.warnings.push(format!("{v}: {e}"));
    }
    let mut guests = Vec::new();
    for root in roots {
        match root.os {
            OsKind::Linux => match mount::build_linux_tree(&set, &root) {
                Ok(lt) => {
                    insp.warnings.extend(lt.warnings.iter().cloned());
                    let facts = linux_facts(&set, &root, &lt.tree, &lt.fstab, opts);
                    insp.operating_systems.push(facts);
                    guests.push(Guest {
                        root,
                        tree: lt.tree,
                        fstab: lt.fstab,
                        os_index: insp.operating_systems.len() - 1,
                    });
                }
                Err(e) => insp.warnings.push(format!("{}: {e}", root.volume)),
            },
            OsKind::Windows => match mount::build_windows_tree(&root) {
                Ok(tree) => {
                    let facts = windows_facts(&set, &root, &tree);
                    insp.operating_systems.push(facts);
                    guests.push(Guest {
                        root,
                        tree,
                        fstab: Vec::new(),
                        os_index: insp.operating_systems.len() - 1,
                    });
                }
                Err(e) => insp.warnings.push(format!("{}: {e}", root.volume)),
            },
        }
    }
    let mut out = Inspected {
        inspection: insp,
        set,
        guests,
        disks,
        paths: paths.to_vec(),
        stats,
    };
    let (b, r) = out.read_stats();
    out.inspection.bytes_read = b;
    out.inspection.reads = r;
    Ok(out)
}

fn volume_facts(v: &Volume) -> VolumeFacts {
    let p = v.partition.as_ref();
    let (content, uuid, label) = match &v.content {
        Content::Filesystem { fs, label, uuid } => {
            (Some(fs.name().into()), uuid.clone(), label.clone())
        }
        Content::LvmPv { pv_uuid, .. } => (Some("LVM2_member".into()), Some(pv_uuid.clone()), None),
        Content::Luks { uuid, .. } => (Some("crypto_LUKS".into()), uuid.clone(), None),
        Content::BitLocker => (Some("BitLocker".into()), None, None),
        Content::Ldm => (Some("LDM".into()), None, None),
        Content::MdRaid { uuid, .. } => (Some("linux_raid_member".into()), uuid.clone(), None),
        Content::Swap { uuid, label } => (Some("swap".into()), uuid.clone(), label.clone()),
        Content::Extended => (Some("extended".into()), None, None),
        Content::Unknown => (None, None, None),
    };
    VolumeFacts {
        device: v.name.clone(),
        start: p.map(|p| p.start).unwrap_or(0),
        size: v.size,
        part_type: p.map(|p| p.type_name.clone()),
        partuuid: p.and_then(|p| p.partuuid.clone()),
        partlabel: p.and_then(|p| p.partlabel.clone()),
        bootable: p.is_some_and(|p| p.bootable),
        content,
        uuid,
        label,
        ..Default::default()
    }
}

/// The facts of a Windows root: the PE header of its own binaries, then the registry, BCD and
/// system volume (src/guest/windows).
fn windows_facts(set: &DiskSet, root: &RootCandidate, tree: &GuestTree) -> OsFacts {
    let files = TreeFiles(tree);
    let arch = [
        "/Windows/System32/cmd.exe",
        "/Windows/explorer.exe",
        "/Windows/System32/ntoskrnl.exe",
    ]
    .iter()
    .find_map(|p| {
        files
            .read(p)
            .and_then(|b| super::arch::pe_arch(&b).map(str::to_string))
    });
    let mut f = empty_os(&root.volume, "windows");
    f.distro = Fact::Known("windows".into());
    f.arch = arch.into();
    f.mountpoints.push(MountFacts {
        mountpoint: "/".into(),
        device: root.volume.clone(),
        fstype: "ntfs".into(),
        options: String::new(),
        spec: root.volume.clone(),
    });
    super::windows::inspect(set, &root.volume, &*root.fs, tree, &mut f);
    f
}

/// An OS root with every fact unknown: where inspection starts (and what tests build on).
pub fn empty_os(root: &str, os_type: &str) -> OsFacts {
    OsFacts {
        root: root.to_string(),
        os_type: os_type.to_string(),
        distro: Fact::unknown("not found"),
        product_name: Fact::unknown("not found"),
        major_version: Fact::unknown("not found"),
        minor_version: Fact::unknown("not found"),
        version: Fact::unknown("not found"),
        arch: Fact::unknown("not found"),
        hostname: Fact::unknown("not found"),
        package_format: Fact::unknown("not found"),
        package_management: Fact::unknown("not found"),
        mountpoints: Vec::new(),
        unresolved_fstab: Vec::new(),
        kernels: Vec::new(),
        bootloader: Fact::unknown("not found"),
        boot_modes: BootModes::default(),
        network: Fact::unknown("not found"),
        ssh_server: Fact::unknown("not found"),
        dhcp_client: Fact::unknown("not found"),
        cloud_init: false,
        applications: Fact::unknown("not found"),
        windows: None,
        notes: Vec::new(),
    }
}

fn linux_facts(
    set: &DiskSet,
    root: &RootCandidate,
    tree: &GuestTree,
    fstab: &[mount::FstabOutcome],
    opts: &InspectOptions,
) -> OsFacts {
    let files = TreeFiles(tree);
    let mut f = empty_os(&root.name(), "linux");
    // The readers below are independent of one another. On a remote image (src/block/remote)
    // every read that misses the cache is a network round trip: there they run side by side,
    // so the round trips of one overlap the others' (a chunk two readers need at once is
    // fetched once: RemoteDev waits for a fetch in flight). On local files they run one after
    // the other, in this order, so that the read counters are reproducible.
    let (ident, (mounts, problems), (bootloader, note, network), kernels, modes, services, apps) =
        std::thread::scope(|s| {
            let side_by_side = opts.concurrent_readers;
            let ident = run(s, side_by_side, || os_identity(&files));
            let mounts = run(s, side_by_side, || mount_facts(set, root, tree, fstab));
            let boot = run(s, side_by_side, || {
                let b = bootloader_facts(&files);
                let cmdline = b.known().and_then(|b| b.default_cmdline.clone());
                let net = network(&files, cmdline.as_deref());
                (b, several_grub_configs(&files), net)
            });
            let kernels = run(s, side_by_side, || kernels(&files, opts.skip_initramfs));
            let modes = run(s, side_by_side, || boot_modes(set, root, &files));
            let services = run(s, side_by_side, || services(&files));
            let apps = run(s, side_by_side, || {
                if opts.no_applications {
                    Fact::unknown("not asked for (--no-applications)")
                } else {
                    applications(&files)
                }
            });
            (
                ident.get(),
                mounts.get(),
                boot.get(),
                kernels.get(),
                modes.get(),
                services.get(),
                apps.get(),
            )
        });
    let OsIdentity {
        distro,
        product_name,
        major_version,
        minor_version,
        version,
        package_format,
        package_management,
        hostname,
        arch,
    } = ident;
    (f.distro, f.product_name, f.major_version, f.minor_version) =
        (distro, product_name, major_version, minor_version);
    (f.version, f.package_format, f.package_management) =
        (version, package_format, package_management);
    (f.hostname, f.arch) = (hostname, arch);
    (f.mountpoints, f.unresolved_fstab) = (mounts, problems);
    f.bootloader = bootloader;
    f.notes.extend(note);
    f.kernels = kernels;
    f.boot_modes = modes;
    let (ssh_server, mut dhcp, cloud_init) = services;
    f.ssh_server = Fact::Known(ssh_server);
    f.cloud_init = cloud_init;
    f.network = network;
    f.applications = apps;
    if dhcp.is_empty() {
        // LNX-6 (issue 23): the package database and the renderer the network configuration
        // names are evidence too (a binary may live where no path above looks).
        let apps = match &f.applications {
            Fact::Known(a) => a.clone(),
            _ => applications(&files).known().cloned().unwrap_or_default(),
        };
        dhcp.extend(dhcp_clients_from(&apps, &linux::network::inspect(&files)));
    }
    f.dhcp_client = Fact::Known(dhcp.into_iter().collect());
    f
}

/// A reader's result: computed on a scoped thread, or at once on this one.
enum Ran<'s, T> {
    Thread(std::thread::ScopedJoinHandle<'s, T>),
    Done(T),
}

impl<T> Ran<'_, T> {
    /// The result; a panic on the thread goes on in the caller.
    fn get(self) -> T {
        match self {
            Ran::Thread(h) => h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)),
            Ran::Done(v) => v,
        }
    }
}

/// Run `f` on a thread of the scope `s` when `side_by_side`, else now.
fn run<'s, 'e, T: Send + 's>(
    s: &'s std::thread::Scope<'s, 'e>,
    side_by_side: bool,
    f: impl FnOnce() -> T + Send + 's,
) -> Ran<'s, T> {
    if side_by_side {
        Ran::Thread(s.spawn(f))
    } else {
        Ran::Done(f())
    }
}

/// What the release files, the hostname files and the ELF binaries say of the OS.
struct OsIdentity {
    distro: Fact<String>,
    product_name: Fact<String>,
    major_version: Fact<u32>,
    minor_version: Fact<u32>,
    version: Fact<String>,
    package_format: Fact<String>,
    package_management: Fact<String>,
    hostname: Fact<String>,
    arch: Fact<String>,
}

fn os_identity(files: &TreeFiles) -> OsIdentity {
    let mut f = empty_os("", "linux");
    match linux::osrelease::detect(files) {
        Some(os) => {
            f.distro = Fact::Known(os.distro.clone());
            f.product_name = Fact::Known(os.product_name.clone());
            f.major_version = os.major.into();
            f.minor_version = Fact::Known(os.minor.unwrap_or(0));
            f.version = if os.best_version.is_empty() {
                Fact::unknown(format!("{} states no version", os.source))
            } else {
                Fact::Known(os.best_version.clone())
            };
            let pf = serde_json::to_value(os.package_format)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .filter(|s| s != "unknown");
            let pm = serde_json::to_value(os.package_manager)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .filter(|s| s != "unknown");
            f.package_format = pf.into();
            f.package_management = pm.into();
        }
        None => f.distro = Fact::unknown("no os-release, lsb-release or *-release file"),
    }
    OsIdentity {
        distro: f.distro,
        product_name: f.product_name,
        major_version: f.major_version,
        minor_version: f.minor_version,
        version: f.version,
        package_format: f.package_format,
        package_management: f.package_management,
        hostname: linux::osrelease::hostname(files).into(),
        arch: elf_arch(files),
    }
}

/// Mount points and fstab problems (MOD-L3). The options of each line, read once.
fn mount_facts(
    set: &DiskSet,
    root: &RootCandidate,
    tree: &GuestTree,
    fstab: &[mount::FstabOutcome],
) -> (Vec<MountFacts>, Vec<FstabProblem>) {
    let mut mountpoints = Vec::new();
    let mut problems = Vec::new();
    let options: std::collections::HashMap<usize, String> = tree
        .read_file(b"/etc/fstab", mount::MAX_FSTAB)
        .map(|t| {
            linux::fstab::entries(&String::from_utf8_lossy(&t))
                .into_iter()
                .map(|(n, e)| (n, e.options))
                .collect()
        })
        .unwrap_or_default();
    let problem = |o: &mount::FstabOutcome, reason: String| FstabProblem {
        file: "/etc/fstab".into(),
        line: o.line,
        spec: o.spec.clone(),
        mountpoint: o.file.clone(),
        fstype: o.vfstype.clone(),
        reason,
    };
    for o in fstab {
        match &o.status {
            FstabStatus::Root | FstabStatus::Mounted => {
                if let Some(v) = &o.volume {
                    mountpoints.push(MountFacts {
                        mountpoint: o.file.clone(),
                        device: v.clone(),
                        fstype: o.vfstype.clone(),
                        options: options.get(&o.line).cloned().unwrap_or_default(),
                        spec: o.spec.clone(),
                    });
                }
            }
            FstabStatus::Unresolved => {
                problems.push(problem(o, "the device matches nothing in the image".into()))
            }
            FstabStatus::Failed(why) => {
                problems.push(problem(o, format!("resolves but cannot be opened: {why}")))
            }
            FstabStatus::Swap if o.volume.is_none() => problems.push(problem(
                o,
                "swap device matches nothing in the image".into(),
            )),
            _ => {}
        }
    }
    if !mountpoints.iter().any(|m| m.mountpoint == "/") {
        let fstype = match set.find(&root.volume).map(|v| &v.content) {
            Some(Content::Filesystem { fs, .. }) => fs.name().to_string(),
            _ => String::new(),
        };
        mountpoints.insert(
            0,
            MountFacts {
                mountpoint: "/".into(),
                device: root.volume.clone(),
                fstype,
                options: String::new(),
                spec: root.volume.clone(),
            },
        );
    }
    (mountpoints, problems)
}

/// The boot loader (BOOT-5, LNX-7).
fn bootloader_facts(files: &TreeFiles) -> Fact<BootloaderFacts> {
    match linux::grub::inspect(files) {
        Some(b) => {
            let d = b.default_entry();
            Fact::Known(BootloaderFacts {
                kind: match b.kind {
                    linux::grub::LoaderKind::Grub2 => "grub2",
                    linux::grub::LoaderKind::Grub2Bls => "grub2-bls",
                    linux::grub::LoaderKind::GrubLegacy => "grub-legacy",
                }
                .into(),
                config_files: std::iter::once(b.config_path.clone())
                    .chain(b.grubenv_path.clone())
                    .collect(),
                default_title: d.map(|e| e.title_path()),
                default_kernel: d.and_then(|e| e.kernel.clone()),
                default_kernel_version: d.and_then(|e| e.kernel_version.clone()),
                default_cmdline: d.map(|e| e.cmdline.clone()),
                timeout: b.timeout.clone(),
                entries: b.entries.iter().map(|e| e.title_path()).collect(),
                next_entry: b.next_entry.as_ref().map(|(raw, r)| match r {
                    Ok(i) => b.entries[*i].title_path(),
                    Err(_) => raw.clone(),
                }),
            })
        }
        None => Fact::unknown("no grub.cfg, BLS entries, grub.conf or menu.lst found"),
    }
}

/// The SSH server, the DHCP clients found by their binaries or enabled units, and cloud-init.
fn services(files: &TreeFiles) -> (ServiceFacts, std::collections::BTreeSet<String>, bool) {
    let dhcp = [
        ("/sbin/dhclient", "dhclient"),
        ("/usr/sbin/dhclient", "dhclient"),
        ("/usr/sbin/dhcpcd", "dhcpcd"),
        ("/sbin/dhcpcd", "dhcpcd"),
        ("/usr/sbin/NetworkManager", "NetworkManager"),
        ("/usr/lib/systemd/systemd-networkd", "systemd-networkd"),
        ("/lib/systemd/systemd-networkd", "systemd-networkd"),
        ("/usr/sbin/wicked", "wicked"),
        ("/usr/sbin/udhcpc", "udhcpc"),
    ]
    .iter()
    .filter(|(p, _)| files.exists(p))
    .map(|(_, n)| n.to_string())
    .chain(
        // A network service enabled in systemd is a DHCP client too (its binary may live
        // elsewhere, e.g. /usr/lib/wicked/bin).
        [
            ("NetworkManager.service", "NetworkManager"),
            ("wicked.service", "wicked"),
            ("systemd-networkd.service", "systemd-networkd"),
            ("dhcpcd.service", "dhcpcd"),
        ]
        .iter()
        .filter(|(u, _)| {
            let p = format!("/etc/systemd/system/multi-user.target.wants/{u}");
            files.is_symlink(&p).is_some() || files.exists(&p)
        })
        .map(|(_, n)| n.to_string()),
    )
    .collect();
    let cloud_init = files.exists("/usr/bin/cloud-init") || files.exists("/etc/cloud/cloud.cfg");
    (ssh(files), dhcp, cloud_init)
}

/// DHCP clients the installed packages provide (the ones that run without being enabled, or
/// that their packages enable), and systemd-networkd when netplan renders the configuration.
fn dhcp_clients_from(
    apps: &[crate::guest::facts::Application],
    configs: &[linux::network::IfaceConfig],
) -> std::collections::BTreeSet<String> {
    use linux::network::Flavour;
    let has = |names: &[&str]| apps.iter().any(|a| names.contains(&a.name.as_str()));
    let mut out = std::collections::BTreeSet::new();
    for (pkgs, client) in [
        (
            &["isc-dhcp-client", "dhclient", "dhcp-client"][..],
            "dhclient",
        ),
        (&["dhcpcd", "dhcpcd5", "dhcpcd-base"][..], "dhcpcd"),
        (&["network-manager", "NetworkManager"][..], "NetworkManager"),
        (&["wicked"][..], "wicked"),
        (&["udhcpc", "busybox-udhcpc"][..], "udhcpc"),
    ] {
        if has(pkgs) {
            out.insert(client.to_string());
        }
    }
    // systemd-networkd runs only when enabled (the unit check above sees that), except under
    // netplan, whose generator starts it at boot for the configuration it renders.
    let systemd = has(&["systemd", "systemd-networkd"]);
    let netplan = configs.iter().any(|c| c.flavour == Flavour::Netplan);
    if systemd && netplan {
        out.insert("systemd-networkd".to_string());
    }
    out
}

fn elf_arch(files: &TreeFiles) -> Fact<String> {
    for p in [
        "/bin/ls",
        "/usr/bin/ls",
        "/bin/sh",
        "/usr/bin/bash",
        "/bin/bash",
        "/usr/bin/coreutils",
        "/bin/busybox",
        "/sbin/init",
        "/usr/lib/systemd/systemd",
        "/lib/systemd/systemd",
    ] {
        if let Some(a) = read_head(files, p, 64).and_then(|b| super::arch::elf_arch(&b)) {
            return Fact::Known(a.to_string());
        }
    }
    // No binary (a minimal or damaged root): the kernel modules are ELF objects too.
    for base in ["/lib/modules", "/usr/lib/modules"] {
        for ver in files.list(base) {
            let dep = files
                .read_string(&format!("{base}/{ver}/modules.dep"))
                .unwrap_or_default();
            for m in dep
                .lines()
                .filter_map(|l| l.split(':').next())
                .filter(|m| m.ends_with(".ko"))
                .take(8)
            {
                if let Some(a) = read_head(files, &format!("{base}/{ver}/{m}"), 64)
                    .and_then(|b| super::arch::elf_arch(&b))
                {
                    return Fact::Known(a.to_string());
                }
            }
        }
    }
    // The distribution's kernel release names its architecture (6.1.0-28-amd64,
    // 5.14.0-70.el9.x86_64, 6.1.0-28-686-pae, 6.1.0-28-arm64, 5.14.0-70.el9.aarch64).
    for n in files.list("/boot") {
        let Some(v) = n.strip_prefix("vmlinuz-") else {
            continue;
        };
        let arch = if v.ends_with("-amd64") || v.ends_with(".x86_64") || v.ends_with("-cloud-amd64")
        {
            Some("x86_64")
        } else if v.ends_with("-arm64") || v.ends_with(".aarch64") {
            Some("aarch64")
        } else if v.ends_with("-686") || v.ends_with("-686-pae") || v.ends_with(".i686") {
            Some("i386")
        } else {
            None
        };
        if let Some(a) = arch {
            return Fact::Known(a.to_string());
        }
    }
    // Last: the kernel image's own header.
    for n in files
        .list("/boot")
        .iter()
        .filter(|n| n.starts_with("vmlinuz-") || n.starts_with("vmlinux-"))
    {
        if let Some(a) = read_head(files, &format!("/boot/{n}"), 0x240)
            .and_then(|b| super::arch::kernel_image_arch(&b))
        {
            return Fact::Known(a.to_string());
        }
    }
    Fact::unknown("no ELF binary in /bin, /usr/bin, /sbin or /lib/modules, no kernel image header")
}

fn read_head(files: &TreeFiles, path: &str, n: usize) -> Option<Vec<u8>> {
    let (fs, inner) = files.0.resolve(path.as_bytes()).ok()?;
    let mut b = vec![0u8; n];
    let got = fs.read_at(&inner, 0, &mut b).ok()?;
    b.truncate(got);
    Some(b)
}

/// GEN-2: several different boot-loader configuration files.
fn several_grub_configs(files: &TreeFiles) -> Option<String> {
    let mut found: Vec<(String, Vec<u8>)> = Vec::new();
    for p in [
        "/boot/grub/grub.cfg",
        "/boot/grub2/grub.cfg",
        "/boot/grub/menu.lst",
        "/boot/grub/grub.conf",
        "/etc/grub.conf",
    ] {
        if files.is_symlink(p).is_some() {
            continue;
        }
        if let Some(b) = files.read(p) {
            if !found.iter().any(|(_, c)| *c == b) {
                found.push((p.to_string(), b));
            }
        }
    }
    // GRUB legacy menu.lst + grub.conf are often one file; a grub.cfg beside a menu.lst generated
    // by update-grub-legacy-ec2 is the multi-config case the import service refuses.
    (found.len() > 1).then(|| {
        format!(
            "multiple different grub/menu.lst files found: {}",
            found
                .iter()
                .map(|(p, _)| p.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    })
}

fn kernels(files: &TreeFiles, skip_initramfs: bool) -> Vec<KernelFacts> {
    let mut versions: Vec<String> = files
        .list("/boot")
        .iter()
        .filter_map(|n| {
            n.strip_prefix("vmlinuz-")
                .or_else(|| n.strip_prefix("vmlinux-"))
        })
        .filter(|v| !v.contains("rescue"))
        .map(str::to_string)
        .collect();
    for m in files
        .list("/lib/modules")
        .into_iter()
        .chain(files.list("/usr/lib/modules"))
    {
        if !versions.contains(&m) && files.exists(&format!("/usr/lib/modules/{m}/vmlinuz")) {
            versions.push(m);
        }
    }
    versions.sort();
    versions.dedup();
    versions
        .into_iter()
        .map(|v| {
            let path = if files.exists(&format!("/boot/vmlinuz-{v}")) {
                format!("/boot/vmlinuz-{v}")
            } else {
                format!("/usr/lib/modules/{v}/vmlinuz")
            };
            let initrd = [
                format!("/boot/initrd.img-{v}"),
                format!("/boot/initramfs-{v}.img"),
                format!("/boot/initrd-{v}"),
                format!("/boot/initrd-{v}.img"),
                format!("/boot/initramfs-{v}"),
            ]
            .into_iter()
            .find(|p| files.0.exists(p.as_bytes()));
            let mut initramfs_error = None;
            let initrd_found = initrd.is_some();
            let (readable, drivers) = match &initrd {
                None => (Fact::unknown("no initramfs found for this kernel"), vec![]),
                Some(_) if skip_initramfs => (Fact::unknown(INITRAMFS_NOT_READ), vec![]),
                Some(p) => match files.0.read_file(p.as_bytes(), MAX_INITRAMFS) {
                    Err(e) => (Fact::unknown(format!("{p}: {e}")), vec![]),
                    Ok(data) => match initramfs::list(&data, &initramfs::Limits::default()) {
                        Ok(l) => (Fact::Known(true), interesting(l.modules())),
                        // Present but not a readable archive: a known "no" (LNX-8).
                        Err(e) => {
                            initramfs_error = Some(format!("{p}: {e}"));
                            (Fact::Known(false), vec![])
                        }
                    },
                },
            };
            let mdir = ["/lib/modules", "/usr/lib/modules"]
                .iter()
                .map(|d| format!("{d}/{v}"))
                .find(|d| !files.list(d).is_empty());
            let listed = |f: &str| -> Vec<String> {
                mdir.as_ref()
                    .and_then(|d| files.read_string(&format!("{d}/{f}")))
                    .map(|t| {
                        interesting(
                            t.lines()
                                .filter_map(|l| {
                                    initramfs::module_name(l.split(':').next().unwrap_or(""))
                                })
                                .collect(),
                        )
                    })
                    .unwrap_or_default()
            };
            let module_drivers = listed("modules.dep");
            let builtin_drivers = listed("modules.builtin");
            KernelFacts {
                version: v,
                path,
                initramfs: initrd,
                initramfs_readable: readable,
                initramfs_error,
                initramfs_drivers: drivers,
                module_drivers,
                builtin_drivers,
                modules_dir: mdir.is_some(),
                initramfs_not_read: skip_initramfs && initrd_found,
            }
        })
        .collect()
}

fn interesting(mut m: Vec<String>) -> Vec<String> {
    m.retain(|x| DRIVERS_OF_INTEREST.contains(&x.as_str()));
    m.sort();
    m.dedup();
    m
}

fn boot_modes(set: &DiskSet, root: &RootCandidate, files: &TreeFiles) -> BootModes {
    let mut b = BootModes::default();
    let disk = set.find(&root.volume).and_then(|v| v.disk).unwrap_or(0);
    if let Some(d) = set.disks.get(disk) {
        if d.mbr_boot_code {
            b.bios = true;
            b.evidence
                .push(format!("/dev/{}: boot code in the MBR", d.name));
        }
    }
    for v in &set.volumes {
        let Some(p) = &v.partition else { continue };
        if p.type_name == "BIOS boot" {
            b.bios = true;
            b.evidence.push(format!("{}: BIOS boot partition", v.name));
        }
    }
    if files.exists("/boot/grub/i386-pc/normal.mod")
        || files.exists("/boot/grub2/i386-pc/normal.mod")
    {
        b.evidence.push("GRUB i386-pc modules installed".into());
    }
    // UEFI: an ESP with a loader. Prefer the one mounted in the guest (/boot/efi).
    let esp = set.volumes.iter().find(|v| {
        v.partition
            .as_ref()
            .is_some_and(|p| p.type_name == "EFI System" || p.mbr_type == Some(0xef))
    });
    if let Some(esp) = esp {
        b.esp_device = Some(esp.name.clone());
        if let Ok(fs) = mount::open_volume(esp, &FsOpenOptions::default()) {
            let mut t = GuestTree::new();
            if t.mount(b"/", fs, &esp.name).is_ok() {
                let loaders: Vec<String> = t
                    .read_dir(b"/EFI")
                    .unwrap_or_default()
                    .iter()
                    .flat_map(|d| {
                        let dir = format!("/EFI/{}", String::from_utf8_lossy(&d.name));
                        t.read_dir(dir.as_bytes())
                            .unwrap_or_default()
                            .into_iter()
                            .filter(|e| e.file_type == FileType::Regular)
                            .map(move |e| format!("{dir}/{}", String::from_utf8_lossy(&e.name)))
                    })
                    .filter(|p| p.to_ascii_lowercase().ends_with(".efi"))
                    .collect();
                if !loaders.is_empty() {
                    b.uefi = true;
                    b.evidence
                        .push(format!("{}: ESP with {}", esp.name, loaders.join(", ")));
                }
                b.uefi_fallback_loader = Some(t.exists(b"/EFI/BOOT/BOOTX64.EFI"));
            }
        }
    }
    b
}

fn ssh(files: &TreeFiles) -> ServiceFacts {
    let installed = ["/usr/sbin/sshd", "/sbin/sshd"]
        .iter()
        .find(|p| files.exists(p));
    let mut evidence: Vec<String> = installed.iter().map(|p| format!("{p} present")).collect();
    let enabled = [
        "/etc/systemd/system/multi-user.target.wants/ssh.service",
        "/etc/systemd/system/multi-user.target.wants/sshd.service",
        "/etc/systemd/system/sockets.target.wants/ssh.socket",
        "/etc/systemd/system/sshd.service",
        "/etc/rc3.d/S55sshd",
        "/etc/rc2.d/S01ssh",
        "/etc/rc3.d/S01ssh",
    ]
    .iter()
    .find(|p| files.is_symlink(p).is_some() || files.exists(p));
    if let Some(e) = enabled {
        evidence.push(format!("{e} enabled"));
    }
    ServiceFacts {
        installed: installed.is_some(),
        enabled: enabled.is_some(),
        evidence,
    }
}

fn network(files: &TreeFiles, cmdline: Option<&str>) -> Fact<NetworkFacts> {
    use linux::network;
    let naming = network::names::inspect(files, cmdline);
    let mut evidence = Vec::new();
    if naming.cmdline_ifnames_off {
        evidence.push("net.ifnames=0 on the default kernel command line".into());
    }
    if naming.cmdline_biosdevname_off {
        evidence.push("biosdevname=0 on the default kernel command line".into());
    }
    if naming.udev_rule_masked {
        evidence.push("/etc/udev/rules.d/80-net-setup-link.rules masks predictable names".into());
    }
    for (n, mac) in &naming.persistent_rules {
        evidence.push(format!(
            "70-persistent-net.rules names {n}{}",
            mac.as_ref().map(|m| format!(" ({m})")).unwrap_or_default()
        ));
    }
    let interfaces = network::inspect(files)
        .into_iter()
        .filter(|c| !c.is_loopback())
        .map(|c| InterfaceFacts {
            name: c.name.clone().unwrap_or_else(|| {
                c.mac
                    .clone()
                    .map(|m| format!("mac:{m}"))
                    .unwrap_or_else(|| "*".into())
            }),
            flavour: match c.flavour {
                network::Flavour::Ifupdown => "ifupdown",
                network::Flavour::IfcfgRh => "ifcfg-rh",
                network::Flavour::IfcfgSuse => "ifcfg-suse",
                network::Flavour::Netplan => "netplan",
                network::Flavour::NmKeyfile => "networkmanager",
                network::Flavour::Networkd => "networkd",
            }
            .into(),
            file: c.source.clone(),
            dhcp4: c.dhcp4,
            dhcp6: c.dhcp6,
            addresses: c.addresses.clone(),
            gateway: c.gateway4.clone().or(c.gateway6.clone()),
        })
        .collect();
    Fact::Known(NetworkFacts {
        interfaces,
        predictable_names_disabled: naming.classic_names(),
        evidence,
    })
}

fn applications(files: &TreeFiles) -> Fact<Vec<Application>> {
    linux::packages::applications(files, &|p| {
        files
            .open_ranged(p)
            .map(|s| Box::new(s) as Box<dyn crate::formats::sqlite::PageSource>)
    })
}

#[cfg(test)]
mod dhcp_tests {
    use super::*;
    use crate::guest::facts::Application;
    use linux::network::{Flavour, IfaceConfig};

    fn app(n: &str) -> Application {
        Application {
            name: n.into(),
            version: "1".into(),
            release: String::new(),
            epoch: 0,
            arch: "amd64".into(),
        }
    }

    /// LNX-6 (issue 23): a dpkg status listing isc-dhcp-client, or netplan rendered by
    /// systemd-networkd, is a DHCP client even when no binary is where inspection looks.
    #[test]
    fn dhcp_clients_from_packages_and_renderer() {
        let got = dhcp_clients_from(&[app("isc-dhcp-client"), app("bash")], &[]);
        assert_eq!(got.into_iter().collect::<Vec<_>>(), ["dhclient"]);
        let netplan = IfaceConfig::new(Flavour::Netplan, "/etc/netplan/50-cloud-init.yaml");
        let got = dhcp_clients_from(&[app("systemd")], std::slice::from_ref(&netplan));
        assert_eq!(got.into_iter().collect::<Vec<_>>(), ["systemd-networkd"]);
        // netplan without systemd installed: nothing to render it
        assert!(dhcp_clients_from(&[app("bash")], &[netplan]).is_empty());
        // networkd files alone: networkd must be enabled (the unit check), the package is not
        // enough
        let networkd = IfaceConfig::new(Flavour::Networkd, "/etc/systemd/network/10-eth0.network");
        assert!(dhcp_clients_from(&[app("systemd-networkd")], &[networkd]).is_empty());
        assert!(dhcp_clients_from(&[], &[]).is_empty());
    }
}
