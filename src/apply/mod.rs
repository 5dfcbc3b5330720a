//! Apply: executes a plan through the filesystem writers into a copy-on-write overlay (default)
//! or in place (crash-safe, with an undo journal), keeps every original, and verifies each write
//! by re-reading it through the independent read path (ext4-view, fatfs).
//!
//! Nothing is written unless every change of the plan has a writer: a change on XFS, Btrfs or
//! NTFS fails up front with "not supported yet", naming the filesystem. ext4 on an LVM logical
//! volume is written through the LV's extent map (linear and striped segments) onto its PVs.

pub mod journal;

use crate::block::raw::SliceDev;
use crate::block::{self, BlockError, WritableDev};
use crate::fs::probe::{OpenOptions as FsOpenOptions, open_filesystem};
use crate::fs::write::{FsWrite, WriteError, WriteOptions, open_writer_at};
use crate::fs::{FsError, FsKind};
use crate::guest::inspect::{InspectError, InspectOptions, Inspected, inspect};
use crate::plan::planner::{PlanError, plans_for};
use crate::plan::{Change, Plan};
use crate::rules::Profile;
use crate::volume::Content;
use crate::volume::lvm::{LvDev, LvMap};
use serde::Serialize;
use sha2::Digest;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where the changes go.
#[derive(Debug, Clone)]
pub enum Output {
    /// A new qcow2 overlay backed by the (untouched) source image.
    Overlay(PathBuf),
    /// The source image itself (raw only), through the undo journal.
    InPlace,
}

/// Errors of apply. Nothing is written when one is returned before writing starts.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error(transparent)]
    /// Inspecting the image failed.
    Inspect(#[from] InspectError),
    #[error(transparent)]
    /// Opening or writing a disk image failed.
    Block(#[from] BlockError),
    #[error(transparent)]
    /// Planning failed (a rule's parameters are wrong).
    Plan(#[from] PlanError),
    #[error("{path}: writing to {fs} is not supported yet; nothing was written")]
    /// A change lands on a filesystem without a writer.
    NotSupported {
        /// The guest path of the change.
        path: String,
        /// The filesystem kind (`xfs`, `btrfs` …).
        fs: String,
    },
    #[error("{0}")]
    /// The disk layout cannot be written (several disks, a volume not found).
    Layout(String),
    #[error("{path}: write failed: {reason}")]
    /// A write was refused or failed.
    Write {
        /// The guest path being written.
        path: String,
        /// Why.
        reason: String,
    },
    #[error("{path}: verification failed: {reason}")]
    /// A written file read back through the read path differs from what was written.
    Verify {
        /// The guest path.
        path: String,
        /// What differed.
        reason: String,
    },
}

/// One file written, as verified.
#[derive(Debug, Clone, Serialize)]
pub struct Written {
    /// The guest path written.
    pub path: String,
    /// What was done: `edit`, `add`, `rename`, `append`.
    pub action: String,
    /// The file's size after the write, in bytes.
    pub bytes: u64,
    /// SHA-256 of the file as read back, lowercase hex.
    pub sha256: String,
    /// The guest path of the original's copy, if one was kept.
    pub backup: Option<String>,
    /// The file read back through the read path matched what was written.
    pub verified: bool,
}

/// The outcome of `guestfix apply`.
#[derive(Debug, Clone, Serialize)]
pub struct ApplyReport {
    /// The source image, as given.
    pub source: String,
    /// Where the changes went: the overlay (or exported image) path, or the source for `--in-place`.
    pub output: String,
    /// The source image itself was written (through the undo journal).
    pub in_place: bool,
    /// The plans that were applied, one per guest.
    pub plans: Vec<Plan>,
    /// Every file written, in order.
    pub written: Vec<Written>,
    /// No change was needed (the image is already fixed).
    pub unchanged: bool,
}

/// Where a volume's bytes are on the (single) disk.
#[derive(Clone)]
enum Place {
    /// A partition: a byte range of the disk.
    Slice { start: u64, size: u64 },
    /// An LVM logical volume: its extent map over its PVs, each a partition (start, size) of
    /// the disk, in the order of [`LvMap::pv_ids`].
    Lv { map: LvMap, pvs: Vec<(u64, u64)> },
}

impl Place {
    /// The volume, as a device over `disk` (writes through it land on `disk`).
    fn open(
        &self,
        disk: &Arc<dyn WritableDev>,
        name: &str,
    ) -> Result<Arc<dyn WritableDev>, ApplyError> {
        match self {
            Place::Slice { start, size } => Ok(Arc::new(SliceDev::new(
                disk.clone(),
                *start,
                *size,
                name.to_string(),
            )?)),
            Place::Lv { map, pvs } => {
                let mut devs: Vec<Arc<dyn WritableDev>> = Vec::new();
                for (id, (start, size)) in map.pv_ids().zip(pvs) {
                    devs.push(Arc::new(SliceDev::new(
                        disk.clone(),
                        *start,
                        *size,
                        format!("PV {id}"),
                    )?));
                }
                let lv = LvDev::from_map(map.clone(), devs).map_err(ApplyError::Layout)?;
                Ok(Arc::new(lv))
            }
        }
    }
}

/// Where a guest path lives: the volume and the path inside its filesystem.
struct Target {
    volume: String,
    kind: FsKind,
    place: Place,
    /// Path inside the filesystem (`/etc/fstab`, `/EFI/BOOT/BOOTX64.EFI`).
    inner: String,
    /// How the guest mounts it (the Btrfs subvolume its paths are in).
    open: FsOpenOptions,
}

impl Target {
    /// One writer per volume and subvolume.
    fn writer_key(&self) -> String {
        match (&self.open.subvol, self.open.subvolid) {
            (None, None) => self.volume.clone(),
            (sv, id) => format!(
                "{}:{}:{}",
                self.volume,
                sv.as_deref().unwrap_or(""),
                id.unwrap_or(0)
            ),
        }
    }
}

/// Where a plan path lives: `DEVICE:/path` (a file on a volume outside the guest's tree, such
/// as the BCD on a Windows system partition) or a path of the guest's tree.
fn locate(i: &Inspected, guest: usize, path: &str) -> Result<Target, ApplyError> {
    let (source, inner, options) = match path.split_once(':') {
        Some((dev, p)) if dev.starts_with("/dev/") && p.starts_with('/') => {
            (dev.to_string(), p.to_string(), Default::default())
        }
        _ => {
            let g = &i.guests[guest];
            let m = g
                .tree
                .mounts()
                .iter()
                .filter(|m| {
                    let p = String::from_utf8_lossy(&m.point);
                    p == "/" || path == p || path.starts_with(&format!("{p}/"))
                })
                .max_by_key(|m| m.point.len())
                .ok_or_else(|| ApplyError::Layout(format!("{path}: on no mounted filesystem")))?;
            let point = String::from_utf8_lossy(&m.point).into_owned();
            let inner = if point == "/" {
                path.to_string()
            } else {
                let rest = &path[point.len()..];
                if rest.is_empty() {
                    "/".to_string()
                } else {
                    rest.to_string()
                }
            };
            (m.source.clone(), inner, m.options.clone())
        }
    };
    let v = i
        .set
        .find(&source)
        .ok_or_else(|| ApplyError::Layout(format!("{path}: volume {source} not found")))?;
    let kind = match &v.content {
        Content::Filesystem { fs, .. } => *fs,
        other => {
            return Err(ApplyError::NotSupported {
                path: path.into(),
                fs: format!("{} holds {other:?}, not a filesystem", v.name),
            });
        }
    };
    let fsname = kind.name();
    let place = match &v.lv {
        Some(lv) => {
            let map = lv.map.clone().ok_or_else(|| ApplyError::NotSupported {
                path: path.into(),
                fs: format!(
                    "{fsname} on the unmapped LVM logical volume {} ({})",
                    v.name,
                    lv.unsupported.as_deref().unwrap_or("no map")
                ),
            })?;
            let mut pvs = Vec::new();
            for id in map.pv_ids() {
                match i.set.find_pv(id).map(|pv| (&pv.partition, pv.disk)) {
                    Some((Some(p), Some(0))) => pvs.push((p.start, p.size)),
                    _ => {
                        return Err(ApplyError::NotSupported {
                            path: path.into(),
                            fs: format!(
                                "{fsname} on {}, whose PV {id} is not a partition of the first disk",
                                v.name
                            ),
                        });
                    }
                }
            }
            Place::Lv { map, pvs }
        }
        None => {
            let Some(disk) = v.disk else {
                return Err(ApplyError::NotSupported {
                    path: path.into(),
                    fs: format!("{fsname} on {} (not on a disk)", v.name),
                });
            };
            if disk != 0 {
                return Err(ApplyError::NotSupported {
                    path: path.into(),
                    fs: format!("{fsname} on a second disk ({})", v.name),
                });
            }
            match &v.partition {
                Some(p) => Place::Slice {
                    start: p.start,
                    size: p.size,
                },
                // a filesystem on the whole disk (no partition table)
                None => Place::Slice {
                    start: 0,
                    size: v.size,
                },
            }
        }
    };
    if !crate::fs::write::has_writer(kind) {
        return Err(ApplyError::NotSupported {
            path: path.into(),
            fs: kind.name().into(),
        });
    }
    Ok(Target {
        volume: v.name.clone(),
        kind,
        place,
        inner,
        open: options,
    })
}

use crate::fs::write::split_path as split;

/// The path of `name` in the directory of `path` (where a backup is kept).
fn sibling(path: &str, name: &str) -> String {
    let (d, _) = split(path);
    format!("{}/{name}", d.trim_end_matches('/'))
}

/// `SOURCE_DATE_EPOCH` (the reproducible-builds convention), when set to whole seconds: the
/// time stamped on every inode a writer touches, so that two applies of the same plan to
/// the same image give byte-identical results (the crash test compares whole images).
fn source_date_epoch() -> Option<i64> {
    std::env::var("SOURCE_DATE_EPOCH").ok()?.trim().parse().ok()
}

fn werr(path: &str) -> impl Fn(String) -> ApplyError + '_ {
    move |reason| ApplyError::Write {
        path: path.to_string(),
        reason,
    }
}

/// A writer's error on `path`: a filesystem without a writer is "not supported", anything
/// else a write failure.
fn wfail(path: &str, e: WriteError) -> ApplyError {
    match e {
        WriteError::NoWriter(fs) => ApplyError::NotSupported {
            path: path.into(),
            fs: fs.into(),
        },
        e => werr(path)(e.to_string()),
    }
}

/// A write to check afterwards through the read path.
struct Expect {
    target_volume: String,
    open: FsOpenOptions,
    kind: FsKind,
    place: Place,
    inner: String,
    guest_path: String,
    content: Option<Vec<u8>>,
    action: &'static str,
    backup: Option<(String, Vec<u8>)>,
}

/// Write one change through its volume's writer; what to verify afterwards.
fn write_change(
    i: &Inspected,
    w: &mut dyn FsWrite,
    t: &Target,
    change: &Change,
    path: &str,
    gi: usize,
) -> Result<Expect, ApplyError> {
    let mut ex = Expect {
        target_volume: t.volume.clone(),
        open: t.open.clone(),
        kind: t.kind,
        place: t.place.clone(),
        inner: t.inner.clone(),
        guest_path: path.to_string(),
        content: None,
        action: "",
        backup: None,
    };
    let fail = |e| wfail(path, e);
    match change {
        Change::EditFile {
            old, new, backup, ..
        }
        | Change::EditHive {
            old, new, backup, ..
        } => {
            let bname = backup.as_ref().map(|b| split(b).1.to_string());
            w.replace(&t.inner, bname.as_deref(), new).map_err(fail)?;
            ex.content = Some(new.clone());
            ex.action = "edit";
            ex.backup = bname.map(|b| (sibling(&t.inner, &b), old.clone()));
        }
        Change::AddFile { content, .. } => {
            if w.exists(&t.inner).map_err(fail)? {
                return Err(werr(path)("exists already".into()));
            }
            w.create(&t.inner, content).map_err(fail)?;
            ex.content = Some(content.clone());
            ex.action = "add";
        }
        Change::RenameFile { to, .. } => {
            let to_inner = match locate(i, gi, to) {
                Ok(tt) if tt.writer_key() == t.writer_key() => tt.inner,
                _ => {
                    return Err(ApplyError::Layout(format!(
                        "{to}: rename across filesystems"
                    )));
                }
            };
            w.rename(&t.inner, &to_inner).map_err(fail)?;
            ex.inner = to_inner;
            ex.action = "rename";
        }
        Change::AppendInitramfs {
            archive, backup, ..
        } => {
            let old = i.guests[gi]
                .tree
                .read_file(path.as_bytes(), 1 << 30)
                .map_err(|e| werr(path)(e.to_string()))?;
            // MOD-L1: the kernel unpacks the appended archive after the original ones.
            let mut new = old.clone();
            new.extend_from_slice(archive);
            let bname = backup.as_ref().map(|b| split(b).1.to_string());
            w.replace(&t.inner, bname.as_deref(), &new).map_err(fail)?;
            ex.content = Some(new);
            ex.action = "append";
            ex.backup = bname.map(|b| (sibling(&t.inner, &b), old));
        }
    }
    Ok(ex)
}

/// The writer of each volume, by volume name.
type Writers = Vec<(String, Box<dyn FsWrite>)>;

/// One writer per volume the changes touch, all opened, and every file to rewrite checked,
/// before anything is written.
fn open_writers(
    ops: &[(Target, &Change, String, usize)],
    dev: &Arc<dyn WritableDev>,
) -> Result<Writers, ApplyError> {
    let wopts = WriteOptions {
        clock: source_date_epoch(),
    };
    let mut writers: Writers = Vec::new();
    for (t, _, path, _) in ops {
        if !writers.iter().any(|(v, _)| *v == t.writer_key()) {
            let vdev = t.place.open(dev, &t.volume)?;
            let w = open_writer_at(t.kind, vdev, &wopts, &t.open).map_err(|e| wfail(path, e))?;
            writers.push((t.writer_key(), w));
        }
    }
    // Every file to rewrite is one its writer handles (issue 23: an ext3-style block-mapped
    // file is refused here, not halfway through the writes).
    for (t, change, path, _) in ops {
        if let Change::EditFile { .. } | Change::EditHive { .. } | Change::AppendInitramfs { .. } =
            change
        {
            if let Some((_, w)) = writers.iter().find(|(v, _)| *v == t.writer_key()) {
                w.preflight_replace(&t.inner).map_err(|e| wfail(path, e))?;
            }
        }
    }
    Ok(writers)
}

/// Read one written file (and its backup) back through the independent read path.
fn verify(dev: &Arc<dyn WritableDev>, ex: &Expect) -> Result<Written, ApplyError> {
    let vdev: Arc<dyn block::BlockDev> = ex.place.open(dev, &ex.target_volume)?;
    let verr = |reason: String| ApplyError::Verify {
        path: ex.guest_path.clone(),
        reason,
    };
    let fs = open_filesystem(ex.kind, vdev, &ex.open).map_err(|e| verr(e.to_string()))?;
    let read = |p: &str| -> Result<Vec<u8>, FsError> { fs.read_file(p.as_bytes(), 1 << 31) };
    let got = read(&ex.inner).map_err(|e| verr(e.to_string()))?;
    if let Some(want) = &ex.content {
        if got != *want {
            return Err(verr(format!(
                "read back {} bytes, expected {}",
                got.len(),
                want.len()
            )));
        }
    }
    if let Some((b, old)) = &ex.backup {
        let g = read(b).map_err(|e| verr(format!("backup {b}: {e}")))?;
        if g != *old {
            return Err(verr(format!("backup {b} differs from the original")));
        }
    }
    Ok(Written {
        path: ex.guest_path.clone(),
        action: ex.action.into(),
        bytes: got.len() as u64,
        sha256: hex::encode(sha2::Sha256::digest(&got)),
        // The guest path of the backup (beside the file), not its path inside a /boot
        // partition.
        backup: ex
            .backup
            .as_ref()
            .map(|(b, _)| sibling(&ex.guest_path, split(b).1)),
        verified: true,
    })
}

/// Inspect, plan and apply.
pub fn apply(
    source: &Path,
    profile: &Profile,
    output: &Output,
    opts: &InspectOptions,
) -> Result<ApplyReport, ApplyError> {
    let i = inspect(&[source.to_path_buf()], opts)?;
    let plans = plans_for(&i, profile)?;
    if i.disks.len() != 1 {
        return Err(ApplyError::Layout(format!(
            "apply writes single-disk images; {} holds {} disks",
            source.display(),
            i.disks.len()
        )));
    }

    // Resolve every change before writing anything.
    let mut ops: Vec<(Target, &Change, String, usize)> = Vec::new();
    for (gi, p) in plans.iter().enumerate() {
        for c in &p.changes {
            let path = c.change.path().to_string();
            let locate_path = match &c.change {
                Change::RenameFile { from, .. } => from.clone(),
                _ => path.clone(),
            };
            let t = locate(&i, gi, &locate_path)?;
            ops.push((t, &c.change, path, gi));
        }
    }
    let unchanged = ops.is_empty();

    // The writable disk.
    let (dev, journaled): (Arc<dyn WritableDev>, Option<Arc<journal::JournaledDev>>) = match output
    {
        Output::Overlay(out) => {
            let w = block::writer::create_overlay(source, out, &opts.block)?;
            (Arc::new(w), None)
        }
        Output::InPlace => {
            let info = block::info(source, &opts.block)?;
            if info.format != "raw" {
                return Err(ApplyError::Layout(format!(
                    "in-place apply needs a raw image ({} is {}); use --out for an overlay",
                    source.display(),
                    info.format
                )));
            }
            if unchanged {
                (
                    Arc::new(block::raw::RawFile::open(source)?) as Arc<dyn WritableDev>,
                    None,
                )
            } else {
                let j = Arc::new(journal::JournaledDev::open(source)?);
                (j.clone() as Arc<dyn WritableDev>, Some(j))
            }
        }
    };

    // Every writer opened (each checks what it must understand) before the first write: a
    // refusal leaves no output behind (the new overlay is removed, the empty journal dropped).
    let mut writers = match open_writers(&ops, &dev) {
        Ok(w) => w,
        Err(e) => {
            drop(dev);
            match (output, journaled) {
                (Output::Overlay(out), _) => {
                    let _ = std::fs::remove_file(out);
                }
                (Output::InPlace, Some(j)) => {
                    if let Ok(j) = Arc::try_unwrap(j) {
                        j.commit()?;
                    }
                }
                (Output::InPlace, None) => {}
            }
            return Err(e);
        }
    };
    let mut expects = Vec::new();
    for (t, change, path, gi) in &ops {
        let Some((_, w)) = writers.iter_mut().find(|(v, _)| *v == t.writer_key()) else {
            continue;
        };
        expects.push(write_change(&i, w.as_mut(), t, change, path, *gi)?);
    }
    for (v, w) in writers.iter_mut() {
        w.flush().map_err(|e| wfail(v, e))?;
    }
    dev.flush()?;

    // Verify through the independent read path.
    let written = expects
        .iter()
        .map(|ex| verify(&dev, ex))
        .collect::<Result<Vec<_>, _>>()?;
    drop(writers);
    drop(dev);
    if let Some(j) = journaled {
        match Arc::try_unwrap(j) {
            Ok(j) => j.commit()?,
            Err(_) => return Err(ApplyError::Layout("journal still in use at commit".into())),
        }
    }
    Ok(ApplyReport {
        source: source.display().to_string(),
        output: match output {
            Output::Overlay(p) => p.display().to_string(),
            Output::InPlace => source.display().to_string(),
        },
        in_place: matches!(output, Output::InPlace),
        plans,
        written,
        unchanged,
    })
}
