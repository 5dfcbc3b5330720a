//! Volumes: MBR and GPT partition tables (hybrid/protective MBRs told apart, BOOT-1), LVM2
//! physical volumes, volume groups and linear/striped logical volumes, and detection (not
//! opening) of LUKS, BitLocker, Windows dynamic disks and MD RAID members (GEN-3). Every volume
//! found is exposed as a [`crate::block::BlockDev`].
//!
//! Entry point: [`scan`]. Filesystem kinds are not known here (the fs layer sits above); the fs
//! layer's `probe::annotate` fills [`Content::Filesystem`] in.

pub(crate) mod detect;
mod error;
mod fskind;
pub(crate) mod gpt;
pub mod lvm;
pub(crate) mod mbr;
pub(crate) mod util;

pub use error::VolumeError;
pub use fskind::FsKind;

use crate::block::BlockDev;
use crate::block::raw::SliceDev;
use std::sync::Arc;

/// Most disks in one set, and most volumes found.
pub const MAX_DISKS: usize = 26 * 27;
/// The most volumes a disk set may yield (a bound on hostile partition tables).
pub const MAX_VOLUMES: usize = 4096;

/// Which partition table a disk has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TableKind {
    /// No table: the whole disk is one volume.
    None,
    /// An MBR (DOS) table.
    Mbr,
    /// A GUID partition table.
    Gpt,
}

/// What sector 0 of a GPT disk holds (BOOT-1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MbrKind {
    /// No MBR signature.
    Absent,
    /// A classic MBR partition table (no 0xEE entry).
    Classic,
    /// One 0xEE entry covering the disk: a pure GPT disk.
    Protective,
    /// A 0xEE entry plus other entries mirroring GPT partitions.
    Hybrid,
}

/// Per-disk facts.
#[derive(Clone, serde::Serialize)]
pub struct DiskInfo {
    /// The disk's position in the set (0 = first).
    pub index: usize,
    /// `sda`, `sdb` … (the name the guest would give the Nth disk).
    pub name: String,
    /// The container and path the disk came from, for messages.
    pub describe: String,
    /// The virtual disk size, in bytes.
    pub size: u64,
    /// Its partition table.
    pub table: TableKind,
    /// What sector 0 holds.
    pub mbr_kind: MbrKind,
    /// Sector 0 holds boot code (BIOS boot possible).
    pub mbr_boot_code: bool,
    /// The MBR disk signature.
    pub disk_signature: Option<u32>,
    /// Non-empty primary MBR entries (on GPT: the GPT partitions count, BOOT-3).
    pub primary_partitions: usize,
    /// The GPT disk GUID.
    pub gpt_disk_guid: Option<String>,
    /// The primary GPT was bad and the backup was used.
    pub gpt_used_backup: bool,
    /// An MBR type 0x42 entry or GPT LDM partitions: a Windows dynamic disk (BOOT-3).
    pub dynamic_disk: bool,
    #[serde(skip)]
    /// The disk's bytes.
    pub dev: Arc<dyn BlockDev>,
}

impl std::fmt::Debug for DiskInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiskInfo")
            .field("name", &self.name)
            .field("size", &self.size)
            .field("table", &self.table)
            .field("mbr_kind", &self.mbr_kind)
            .finish()
    }
}

/// A partition table entry.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PartitionInfo {
    /// The table the entry is in.
    pub table: TableKind,
    /// Linux partition number (1…; MBR logicals from 5).
    pub number: u32,
    /// Byte offset on the disk.
    pub start: u64,
    /// Size in bytes.
    pub size: u64,
    /// The partition type's name (`EFI System`, `Linux filesystem`, `LVM` …).
    pub type_name: String,
    /// The MBR type byte.
    pub mbr_type: Option<u8>,
    /// The GPT partition type GUID.
    pub type_guid: Option<String>,
    /// PARTUUID: GPT unique GUID, or `SSSSSSSS-NN` for MBR (as blkid prints it).
    pub partuuid: Option<String>,
    /// PARTLABEL (GPT name).
    pub partlabel: Option<String>,
    /// The MBR active flag, or GPT's legacy BIOS bootable attribute.
    pub bootable: bool,
    /// An MBR logical partition (inside the extended one).
    pub logical: bool,
}

/// What a volume holds.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Content {
    /// Named by the fs layer's probe.
    Filesystem {
        /// The filesystem type (named by the fs layer's probe).
        fs: FsKind,
        /// Its label.
        label: Option<String>,
        /// Its UUID.
        uuid: Option<String>,
    },
    /// An LVM physical volume.
    LvmPv {
        /// The PV's UUID.
        pv_uuid: String,
        /// The volume group it belongs to.
        vg: Option<String>,
    },
    /// A LUKS-encrypted volume.
    Luks {
        /// The LUKS version (1 or 2).
        version: u16,
        /// The LUKS UUID.
        uuid: Option<String>,
    },
    /// A BitLocker-encrypted volume.
    BitLocker,
    /// Windows dynamic disk (LDM) partition.
    Ldm,
    /// A Linux MD RAID member.
    MdRaid {
        /// The MD superblock version.
        version: String,
        /// The array UUID.
        uuid: Option<String>,
    },
    /// A Linux swap area.
    Swap {
        /// Its UUID.
        uuid: Option<String>,
        /// Its label.
        label: Option<String>,
    },
    /// The MBR extended-partition container.
    Extended,
    /// Nothing recognised.
    Unknown,
}

/// A logical volume (mapped or not).
#[derive(Debug, Clone, serde::Serialize)]
pub struct LvInfo {
    /// The volume group's name.
    pub vg: String,
    /// The logical volume's name.
    pub lv: String,
    /// Its size in bytes.
    pub size: u64,
    /// The segment types of its extents (`linear`, `striped` …).
    pub segment_types: Vec<String>,
    /// Why it could not be mapped (unsupported segment type, missing PV, bogus extents).
    pub unsupported: Option<String>,
    /// Where its bytes live on its PVs, when it could be mapped (apply lays this map over the
    /// writable disk).
    #[serde(skip)]
    pub map: Option<lvm::LvMap>,
}

/// One volume: a partition, a whole unpartitioned disk, or a mapped LV.
#[derive(Clone, serde::Serialize)]
pub struct Volume {
    /// `/dev/sda1`, `/dev/sdb` (whole disk), `/dev/VG/LV`.
    pub name: String,
    /// Other names (`/dev/mapper/VG-LV`).
    pub aliases: Vec<String>,
    /// The disk it is on (an index into the set's disks); none for an LV.
    pub disk: Option<usize>,
    /// Its partition table entry.
    pub partition: Option<PartitionInfo>,
    /// Its logical volume facts.
    pub lv: Option<LvInfo>,
    /// What it holds.
    pub content: Content,
    /// Its size in bytes.
    pub size: u64,
    #[serde(skip)]
    /// The volume's bytes.
    pub dev: Arc<dyn BlockDev>,
}

impl std::fmt::Debug for Volume {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Volume")
            .field("name", &self.name)
            .field("aliases", &self.aliases)
            .field("partition", &self.partition)
            .field("lv", &self.lv)
            .field("content", &self.content)
            .field("size", &self.size)
            .finish()
    }
}

/// Everything found on a set of disks.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DiskSet {
    /// The disks, in order.
    pub disks: Vec<DiskInfo>,
    /// Every volume found: partitions, whole disks, mapped LVs.
    pub volumes: Vec<Volume>,
    /// Every LVM volume group's metadata.
    pub vgs: Vec<lvm::VgMeta>,
    /// Every LV, including those not mapped (their reason in `unsupported`).
    pub lvs: Vec<LvInfo>,
    /// Non-fatal problems (bad primary GPT, EBR loops, partitions past the disk end …).
    pub warnings: Vec<String>,
}

impl DiskSet {
    /// The volume called `name` (or having it as an alias).
    pub fn find(&self, name: &str) -> Option<&Volume> {
        self.volumes
            .iter()
            .find(|v| v.name == name || v.aliases.iter().any(|a| a == name))
    }

    /// The LVM physical volume with this UUID (with or without dashes).
    pub fn find_pv(&self, pv_id: &str) -> Option<&Volume> {
        let want = lvm::bare_uuid(pv_id);
        self.volumes.iter().find(|v| {
            matches!(&v.content, Content::LvmPv { pv_uuid, .. } if lvm::bare_uuid(pv_uuid) == want)
        })
    }
}

/// Guest name of the Nth disk: `sda` … `sdz`, `sdaa` ….
pub fn disk_name(prefix: &str, mut n: usize) -> String {
    let mut s = Vec::new();
    loop {
        s.push(b'a' + (n % 26) as u8);
        if n < 26 {
            break;
        }
        n = n / 26 - 1;
    }
    s.reverse();
    format!("{prefix}{}", String::from_utf8_lossy(&s))
}

fn slice_dev(
    disk: &Arc<dyn BlockDev>,
    start: u64,
    len: u64,
    name: String,
) -> Option<Arc<dyn BlockDev>> {
    SliceDev::new(disk.clone(), start, len, name)
        .ok()
        .map(|s| Arc::new(s) as Arc<dyn BlockDev>)
}

fn detect_content(dev: &dyn BlockDev, warnings: &mut Vec<String>) -> Content {
    match lvm::read_label(dev) {
        Ok(Some(l)) => {
            return Content::LvmPv {
                pv_uuid: l.pv_uuid,
                vg: None,
            };
        }
        Ok(None) => {}
        Err(e) => warnings.push(e.to_string()),
    }
    match detect::detect(dev) {
        Ok(Some(detect::Signature::Luks { version, uuid })) => Content::Luks { version, uuid },
        Ok(Some(detect::Signature::BitLocker)) => Content::BitLocker,
        Ok(Some(detect::Signature::MdRaid { version, uuid, .. })) => {
            Content::MdRaid { version, uuid }
        }
        Ok(Some(detect::Signature::Swap { uuid, label })) => Content::Swap { uuid, label },
        Ok(None) => Content::Unknown,
        Err(e) => {
            warnings.push(format!("{}: {e}", dev.describe()));
            Content::Unknown
        }
    }
}

/// Scan one disk's partition table into `set`.
fn scan_disk(index: usize, dev: Arc<dyn BlockDev>, set: &mut DiskSet) -> Result<(), VolumeError> {
    let name = disk_name("sd", index);
    let size = dev.len();
    let mbr = mbr::read(&*dev)?;
    let mut info = DiskInfo {
        index,
        name: name.clone(),
        describe: dev.describe(),
        size,
        table: TableKind::None,
        mbr_kind: MbrKind::Absent,
        mbr_boot_code: mbr.as_ref().is_some_and(|m| m.boot_code_present),
        disk_signature: mbr.as_ref().map(|m| m.disk_signature),
        primary_partitions: 0,
        gpt_disk_guid: None,
        gpt_used_backup: false,
        dynamic_disk: false,
        dev: dev.clone(),
    };
    if let Some(m) = &mbr {
        set.warnings.extend(m.warnings.iter().cloned());
        info.mbr_kind = if m.has_gpt_protective() {
            if m.primaries().count() > 1 {
                MbrKind::Hybrid
            } else {
                MbrKind::Protective
            }
        } else {
            MbrKind::Classic
        };
    }
    let try_gpt = mbr.as_ref().is_none_or(|m| m.has_gpt_protective());
    let gpt = if try_gpt {
        match gpt::read(&*dev) {
            Ok(g) => g,
            Err(e) if mbr.is_some() => return Err(e),
            Err(e) => {
                set.warnings.push(e.to_string());
                None
            }
        }
    } else {
        None
    };
    let mut parts: Vec<(PartitionInfo, Content)> = Vec::new();
    if let Some(g) = gpt {
        set.warnings.extend(g.warnings.iter().cloned());
        info.table = TableKind::Gpt;
        info.gpt_disk_guid = Some(g.disk_guid.clone());
        info.gpt_used_backup = g.used_backup;
        info.primary_partitions = g.entries.len();
        for e in &g.entries {
            let tn = gpt::type_name(&e.type_guid);
            let ldm = e.type_guid == gpt::LDM_DATA || e.type_guid == gpt::LDM_METADATA;
            info.dynamic_disk |= ldm;
            parts.push((
                PartitionInfo {
                    table: TableKind::Gpt,
                    number: e.number,
                    start: e.first_lba * g.sector_size,
                    size: (e.last_lba - e.first_lba + 1) * g.sector_size,
                    type_name: tn.into(),
                    mbr_type: None,
                    type_guid: Some(e.type_guid.clone()),
                    partuuid: Some(e.part_guid.clone()),
                    partlabel: if e.name.is_empty() {
                        None
                    } else {
                        Some(e.name.clone())
                    },
                    // Legacy BIOS bootable attribute (bit 2).
                    bootable: e.attributes & 4 != 0,
                    logical: false,
                },
                if ldm { Content::Ldm } else { Content::Unknown },
            ));
        }
    } else if let Some(m) = &mbr {
        if m.has_gpt_protective() {
            set.warnings.push(format!(
                "{}: protective MBR but no valid GPT",
                dev.describe()
            ));
        }
        info.table = TableKind::Mbr;
        info.primary_partitions = m.primaries().count();
        for e in &m.entries {
            info.dynamic_disk |= e.type_byte == 0x42;
            parts.push((
                PartitionInfo {
                    table: TableKind::Mbr,
                    number: e.number,
                    start: e.start_lba * 512,
                    size: e.sectors * 512,
                    type_name: mbr::type_name(e.type_byte).into(),
                    mbr_type: Some(e.type_byte),
                    type_guid: None,
                    partuuid: Some(format!("{:08x}-{:02x}", m.disk_signature, e.number)),
                    partlabel: None,
                    bootable: e.bootable,
                    logical: e.logical,
                },
                if e.is_extended() {
                    Content::Extended
                } else if e.type_byte == 0x42 {
                    Content::Ldm
                } else {
                    Content::Unknown
                },
            ));
        }
    }
    if info.table == TableKind::None {
        // Unpartitioned: the whole disk is one volume.
        let content = detect_content(&*dev, &mut set.warnings);
        set.volumes.push(Volume {
            name: format!("/dev/{name}"),
            aliases: Vec::new(),
            disk: Some(index),
            partition: None,
            lv: None,
            content,
            size,
            dev: dev.clone(),
        });
    }
    // Overlap check between non-container partitions.
    let ranges: Vec<(u32, u64, u64)> = parts
        .iter()
        .filter(|(p, c)| *c != Content::Extended && p.size > 0)
        .map(|(p, _)| (p.number, p.start, p.start.saturating_add(p.size)))
        .collect();
    for (i, a) in ranges.iter().enumerate() {
        for b in ranges.iter().skip(i + 1) {
            if a.1 < b.2 && b.1 < a.2 {
                set.warnings.push(format!(
                    "{}: partitions {} and {} overlap",
                    dev.describe(),
                    a.0,
                    b.0
                ));
            }
        }
    }
    for (p, content) in parts {
        if set.volumes.len() >= MAX_VOLUMES {
            set.warnings
                .push(format!("more than {MAX_VOLUMES} volumes; rest ignored"));
            break;
        }
        let vname = format!("/dev/{name}{}", p.number);
        let Some(pdev) = slice_dev(&dev, p.start, p.size, vname.clone()) else {
            set.warnings.push(format!(
                "{}: partition {} ({} bytes at {}) lies past the disk end ({size} bytes); skipped",
                dev.describe(),
                p.number,
                p.size,
                p.start
            ));
            continue;
        };
        let content = match content {
            Content::Unknown => detect_content(&*pdev, &mut set.warnings),
            c => c,
        };
        set.volumes.push(Volume {
            name: vname,
            aliases: Vec::new(),
            disk: Some(index),
            size: p.size,
            partition: Some(p),
            lv: None,
            content,
            dev: pdev,
        });
    }
    set.disks.push(info);
    Ok(())
}

/// Scan a set of disks (in guest order: the first is `sda`): partition tables, then LVM over
/// every PV found. Structural problems that leave the rest readable are in `warnings`.
pub fn scan(disks: &[Arc<dyn BlockDev>]) -> Result<DiskSet, VolumeError> {
    let mut set = DiskSet {
        disks: Vec::new(),
        volumes: Vec::new(),
        vgs: Vec::new(),
        lvs: Vec::new(),
        warnings: Vec::new(),
    };
    if disks.len() > MAX_DISKS {
        return Err(VolumeError::Unsupported {
            dev: "disk set".into(),
            what: format!("{} disks (at most {MAX_DISKS})", disks.len()),
        });
    }
    for (i, d) in disks.iter().enumerate() {
        scan_disk(i, d.clone(), &mut set)?;
    }
    scan_lvm(&mut set);
    Ok(set)
}

/// Assemble VGs from the PVs in `set` and add their LVs as volumes.
fn scan_lvm(set: &mut DiskSet) {
    // (pv uuid, device, metadata)
    let mut pvs: Vec<(String, Arc<dyn BlockDev>, Option<lvm::VgMeta>)> = Vec::new();
    for v in &set.volumes {
        let Content::LvmPv { pv_uuid, .. } = &v.content else {
            continue;
        };
        let meta = match lvm::read_label(&*v.dev) {
            Ok(Some(label)) => match lvm::read_metadata_text(&*v.dev, &label) {
                Ok(Some(text)) => match lvm::vg_from_text(&text) {
                    Ok(vg) => Some(vg),
                    Err(e) => {
                        set.warnings.push(format!("{}: {e}", v.name));
                        None
                    }
                },
                Ok(None) => None,
                Err(e) => {
                    set.warnings.push(format!("{}: {e}", v.name));
                    None
                }
            },
            Ok(None) => None,
            Err(e) => {
                set.warnings.push(format!("{}: {e}", v.name));
                None
            }
        };
        pvs.push((pv_uuid.clone(), v.dev.clone(), meta));
    }
    // Newest metadata per VG id.
    let mut vgs: Vec<lvm::VgMeta> = Vec::new();
    for (_, _, m) in &pvs {
        let Some(m) = m else { continue };
        match vgs.iter_mut().find(|v| v.id == m.id && v.name == m.name) {
            Some(v) if v.seqno < m.seqno => *v = m.clone(),
            Some(_) => {}
            None => vgs.push(m.clone()),
        }
    }
    for v in set.volumes.iter_mut() {
        if let Content::LvmPv { pv_uuid, vg } = &mut v.content {
            *vg = vgs
                .iter()
                .find(|g| {
                    g.pvs
                        .iter()
                        .any(|p| lvm::bare_uuid(&p.id) == lvm::bare_uuid(pv_uuid))
                })
                .map(|g| g.name.clone());
        }
    }
    for vg in &vgs {
        let find_pv = |pm: &lvm::PvMeta| -> Option<Arc<dyn BlockDev>> {
            let want = lvm::bare_uuid(&pm.id);
            pvs.iter()
                .find(|(u, _, _)| lvm::bare_uuid(u) == want)
                .map(|(_, d, _)| d.clone())
        };
        for pm in &vg.pvs {
            if find_pv(pm).is_none() {
                set.warnings.push(format!(
                    "VG {}: PV {} ({}) is missing (GEN-6)",
                    vg.name,
                    pm.key,
                    pm.device.as_deref().unwrap_or("?")
                ));
            }
        }
        for lv in &vg.lvs {
            let size = lv
                .segments
                .iter()
                .map(|s| s.extent_count)
                .fold(0u64, |a, b| a.saturating_add(b))
                .saturating_mul(vg.extent_size * 512);
            let types: Vec<String> = lv
                .segments
                .iter()
                .map(|s| match &s.kind {
                    lvm::SegmentKind::Striped { stripes, .. } if stripes.len() == 1 => {
                        "linear".to_string()
                    }
                    lvm::SegmentKind::Striped { .. } => "striped".to_string(),
                    lvm::SegmentKind::Unsupported(t) => t.clone(),
                })
                .collect();
            let mut info = LvInfo {
                vg: vg.name.clone(),
                lv: lv.name.clone(),
                size,
                segment_types: types,
                unsupported: None,
                map: None,
            };
            let visible = lv.status.iter().any(|s| s == "VISIBLE") || lv.status.is_empty();
            match lvm::map_lv(vg, lv, &find_pv) {
                Ok(dev) if visible && set.volumes.len() < MAX_VOLUMES => {
                    info.map = Some(dev.map().clone());
                    let dev: Arc<dyn BlockDev> = Arc::new(dev);
                    let content = detect_content(&*dev, &mut set.warnings);
                    set.volumes.push(Volume {
                        name: format!("/dev/{}/{}", vg.name, lv.name),
                        aliases: vec![lvm::mapper_name(&vg.name, &lv.name)],
                        disk: None,
                        partition: None,
                        lv: Some(info.clone()),
                        content,
                        size: dev.len(),
                        dev,
                    });
                }
                Ok(_) => {}
                Err(reason) => {
                    set.warnings
                        .push(format!("LV {}/{} not mapped: {reason}", vg.name, lv.name));
                    info.unsupported = Some(reason);
                }
            }
            set.lvs.push(info);
        }
    }
    set.vgs = vgs;
}
