//! Name the filesystem on a volume from its superblock: ext2/3/4, XFS, Btrfs, NTFS, FAT12/16/32,
//! JFS and swap, with label and UUID as blkid prints them; [`annotate`] fills that into a
//! [`DiskSet`], and [`open_filesystem`] is the factory that opens a reader for a kind (XFS and
//! Btrfs readers plug in here).

use super::{Filesystem, FsError, FsKind};
use crate::block::BlockDev;
use crate::volume::util::{cstr, le16, le32, le64, slice, uuid_be};
use crate::volume::{Content, DiskSet, VolumeError};
use std::sync::Arc;

/// What the probe found.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Probed {
    /// The filesystem type.
    pub kind: FsKind,
    /// Its label, as blkid shows it.
    pub label: Option<String>,
    /// Its UUID, as blkid shows it.
    pub uuid: Option<String>,
    /// ext3/4 `needs_recovery`, XFS/JFS dirty flags where the superblock has them (GEN-5).
    pub needs_recovery: bool,
    /// FAT12 / FAT16 / FAT32 for vfat.
    pub variant: Option<String>,
}

fn read_opt(dev: &dyn BlockDev, off: u64, len: usize) -> Result<Option<Vec<u8>>, FsError> {
    match off.checked_add(len as u64) {
        Some(end) if end <= dev.len() => {
            let mut b = vec![0u8; len];
            dev.read_at(off, &mut b)?;
            Ok(Some(b))
        }
        _ => Ok(None),
    }
}

// ext4 feature bits
const COMPAT_HAS_JOURNAL: u32 = 0x4;
const INCOMPAT_RECOVER: u32 = 0x4;
const INCOMPAT_JOURNAL_DEV: u32 = 0x8;
const INCOMPAT_EXT4: u32 = 0x40 | 0x80 | 0x200 | 0x400 | 0x1000 | 0x8000 | 0x10000;
const RO_COMPAT_EXT4: u32 = 0x8 | 0x10 | 0x20 | 0x40 | 0x400;

/// Recognise the filesystem (or swap) on `dev`. `Ok(None)` when nothing is recognised.
pub fn probe(dev: &dyn BlockDev) -> Result<Option<Probed>, FsError> {
    let p = |kind, label, uuid| Probed {
        kind,
        label,
        uuid,
        needs_recovery: false,
        variant: None,
    };
    // ext2/3/4: magic 0xEF53 at 1024+56.
    if let Some(sb) = read_opt(dev, 1024, 1024)? {
        if le16(&sb, 56) == 0xef53 {
            let compat = le32(&sb, 92);
            let incompat = le32(&sb, 96);
            let ro = le32(&sb, 100);
            if incompat & INCOMPAT_JOURNAL_DEV == 0 {
                let kind = if incompat & INCOMPAT_EXT4 != 0 || ro & RO_COMPAT_EXT4 != 0 {
                    FsKind::Ext4
                } else if compat & COMPAT_HAS_JOURNAL != 0 {
                    FsKind::Ext3
                } else {
                    FsKind::Ext2
                };
                let mut r = p(
                    kind,
                    cstr(slice(&sb, 120, 16)),
                    uuid_be(slice(&sb, 104, 16)),
                );
                r.needs_recovery = incompat & INCOMPAT_RECOVER != 0;
                return Ok(Some(r));
            }
        }
    }
    let Some(head) = read_opt(dev, 0, 512)? else {
        return Ok(None);
    };
    // XFS: "XFSB" at 0, UUID at 32, label (12) at 108.
    if head.starts_with(b"XFSB") {
        return Ok(Some(p(
            FsKind::Xfs,
            cstr(slice(&head, 108, 12)),
            uuid_be(slice(&head, 32, 16)),
        )));
    }
    // Btrfs: "_BHRfS_M" at 64 KiB + 64, fsid at +32, label (256) at +299.
    if let Some(sb) = read_opt(dev, 65536, 4096)? {
        if slice(&sb, 64, 8) == b"_BHRfS_M" {
            return Ok(Some(p(
                FsKind::Btrfs,
                cstr(slice(&sb, 299, 256)),
                uuid_be(slice(&sb, 32, 16)),
            )));
        }
    }
    // NTFS: OEM id "NTFS    " at 3; serial number at 72; the label lives in $Volume (MFT record 3).
    if slice(&head, 3, 8) == b"NTFS    " {
        return Ok(Some(p(
            FsKind::Ntfs,
            super::ntfs::volume_label(dev),
            Some(format!("{:016X}", le64(&head, 72))),
        )));
    }
    // FAT: 55AA, a sane BPB, and a type string at 54 (FAT12/16) or 82 (FAT32).
    if head[510] == 0x55 && head[511] == 0xaa {
        let bps = le16(&head, 11);
        let spc = head[13];
        let bpb_ok = matches!(bps, 512 | 1024 | 2048 | 4096)
            && spc != 0
            && spc.is_power_of_two()
            && le16(&head, 14) != 0
            && head[16] != 0;
        let fat32 = slice(&head, 82, 5) == b"FAT32";
        let fat1x = slice(&head, 54, 3) == b"FAT";
        if bpb_ok && (fat32 || fat1x) {
            let (id_off, label_off) = if fat32 { (67, 71) } else { (39, 43) };
            let id = le32(&head, id_off);
            let label = cstr(slice(&head, label_off, 11)).filter(|l| l != "NO NAME");
            let mut r = p(
                FsKind::Vfat,
                label,
                Some(format!("{:04X}-{:04X}", id >> 16, id & 0xffff)),
            );
            r.variant = Some(if fat32 {
                "FAT32".into()
            } else {
                String::from_utf8_lossy(slice(&head, 54, 5)).into_owned()
            });
            return Ok(Some(r));
        }
    }
    // JFS: "JFS1" at 32 KiB, UUID at +136, label at +152.
    if let Some(sb) = read_opt(dev, 32768, 512)? {
        if sb.starts_with(b"JFS1") {
            return Ok(Some(p(
                FsKind::Jfs,
                cstr(slice(&sb, 152, 16)),
                uuid_be(slice(&sb, 136, 16)),
            )));
        }
    }
    // Swap.
    if let Ok(Some(crate::volume::detect::Signature::Swap { uuid, label })) =
        crate::volume::detect::detect(dev)
    {
        return Ok(Some(p(FsKind::Swap, label, uuid)));
    }
    Ok(None)
}

/// Fill [`Content::Filesystem`] into every volume whose content the volume layer left
/// unknown (and complete swap volumes' kind). Probe errors become warnings.
pub fn annotate(set: &mut DiskSet) {
    let mut warnings = Vec::new();
    for v in set.volumes.iter_mut() {
        if v.content != Content::Unknown {
            continue;
        }
        match probe(&*v.dev) {
            Ok(Some(pr)) if pr.kind != FsKind::Swap => {
                v.content = Content::Filesystem {
                    fs: pr.kind,
                    label: pr.label,
                    uuid: pr.uuid,
                }
            }
            Ok(Some(pr)) => {
                v.content = Content::Swap {
                    uuid: pr.uuid,
                    label: pr.label,
                }
            }
            Ok(None) => {}
            Err(e) => warnings.push(format!("{}: {e}", v.name)),
        }
    }
    set.warnings.extend(warnings);
}

/// [`crate::volume::scan`] then [`annotate`].
pub fn scan_disks(disks: &[Arc<dyn BlockDev>]) -> Result<DiskSet, VolumeError> {
    let mut set = crate::volume::scan(disks)?;
    annotate(&mut set);
    Ok(set)
}

/// Options given to a filesystem opener (fstab mount options that select what is seen).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpenOptions {
    /// Btrfs `subvol=` (path of the subvolume to use as root).
    pub subvol: Option<String>,
    /// Btrfs `subvolid=`.
    pub subvolid: Option<u64>,
}

impl OpenOptions {
    /// From an fstab options field (`subvol=@,compress=zstd`).
    pub fn from_mount_options(opts: &str) -> Self {
        let mut o = OpenOptions::default();
        for opt in opts.split(',') {
            match opt.split_once('=') {
                Some(("subvol", v)) => o.subvol = Some(v.to_string()),
                Some(("subvolid", v)) => o.subvolid = v.parse().ok(),
                _ => {}
            }
        }
        o
    }
}

/// Open a reader for a filesystem of `kind` on `dev` (Btrfs honours `subvol=`/`subvolid=`);
/// JFS and swap have no reader.
pub fn open_filesystem(
    kind: FsKind,
    dev: Arc<dyn BlockDev>,
    opts: &OpenOptions,
) -> Result<Arc<dyn Filesystem>, FsError> {
    match kind {
        FsKind::Ext2 | FsKind::Ext3 | FsKind::Ext4 => Ok(Arc::new(super::ext4::Ext4Fs::open(dev)?)),
        FsKind::Vfat => Ok(Arc::new(super::fat::FatFs::open(dev)?)),
        FsKind::Ntfs => Ok(Arc::new(super::ntfs::NtfsFs::open(dev)?)),
        FsKind::Xfs => Ok(Arc::new(super::xfs::XfsFs::open(dev)?)),
        FsKind::Btrfs => Ok(Arc::new(super::btrfs::BtrfsFs::open(
            dev,
            &super::btrfs::BtrfsOpenOptions {
                subvol: opts.subvol.clone(),
                subvolid: opts.subvolid,
            },
        )?)),
        other => Err(FsError::Unsupported {
            fs: other.name(),
            what: "no reader for this filesystem yet".into(),
        }),
    }
}

/// Probe `dev` and open it.
pub fn open_any(
    dev: Arc<dyn BlockDev>,
    opts: &OpenOptions,
) -> Result<Arc<dyn Filesystem>, FsError> {
    match probe(&*dev)? {
        Some(p) => open_filesystem(p.kind, dev, opts),
        None => Err(FsError::Unrecognised(dev.describe())),
    }
}
