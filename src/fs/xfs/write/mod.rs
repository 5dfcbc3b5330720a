//! Our own XFS writer (issue 21): exact, minimal changes to an unmounted, cleanly unmounted v5
//! (CRC) XFS filesystem, beside the reader in [`crate::fs::xfs`], which it uses for lookups.
//!
//! Supported: the mkfs.xfs defaults of Debian 12 and RHEL 8/9 (crc, finobt, sparse inodes,
//! reflink, bigtime, inobtcount, ftype). Operations: replace a regular file's content (same
//! size in place; grow and shrink with extents taken from / returned to the AG free-space
//! trees; an extent list that outgrows the inode becomes a B+tree-form data fork (`bmbtw`:
//! root in the inode, leaves and nodes in blocks counted in `di_nblocks`), B+tree-form files
//! are rewritten reusing their tree blocks and go back to an extent list when it fits), create regular files and directories, rename (inside
//! a directory, or a file to another directory), in every directory format: short-form,
//! single-block, leaf and node (`dir_long`: entries added to / removed from the data blocks
//! in place with their best-free tables, empty data blocks dropped, the hash index — one LEAF1
//! block, or LEAFN blocks under DA3_NODE blocks plus XDF3 free-index blocks — rebuilt from the
//! data blocks, new directory blocks allocated at their logical offsets: data from 0, leaf at
//! 32 GiB, free index at 64 GiB); a directory grows short-form → block → leaf → node. Inodes
//! come from existing chunks, else a new 64-inode chunk is allocated (`ialloc`: aligned to
//! `sb_inoalignmt`, inodes initialised as `xfs_ialloc_inode_init` does, inobt and finobt
//! records, AGI count/freecount/newino; `sb_imax_pct` respected). The per-AG B+trees (bnobt,
//! cntbt, inobt, finobt) split, merge and change height as their records need (`btree`):
//! free-space tree blocks come from the AGFL (else free space) and go back to it, with
//! `agf_btreeblks`; inode tree blocks come from free space, with `agi_iblocks`/`agi_fblocks`
//! under inobtcount. Every metadata block touched
//! gets its CRC; AGF/AGI counters and the superblock's icount, ifree and fdblocks are set from
//! the AG headers. The log is never written: the filesystem stays cleanly unmounted.
//!
//! Refused before anything is written, naming the reason ([`XfsWriteError`]): v4 (non-CRC)
//! filesystems, a log that needs recovery, orphan (unlinked) inodes, an external log, realtime
//! devices, quotas, rmapbt, needsrepair, nrext64, exchange-range, parent pointers, ascii-ci,
//! unknown feature bits; files whose blocks are shared (reflinked); directories whose blocks
//! need more extents than the inode's extent list (B+tree-form directories are read, not
//! written); a free-space tree
//! merge that would overflow a full AGFL; more than 64 inodes per block.
//! Every operation is planned in memory and checked first; only then are data, trees, AG
//! headers, inodes and the superblock written.
//!
//! mkfs defaults (xfsprogs `mkfs/lts_*.conf`): the 6.1 LTS set (Debian 12's xfsprogs 6.1)
//! is crc, finobt, reflink, sparse, bigtime, inobtcount, rmapbt=0, nrext64=0; the 6.12 LTS set
//! (current xfsprogs, the generation RHEL 10 ships) adds **rmapbt=1** and **nrext64=1**, with
//! exchange=0, parent=0 and metadir=0. A filesystem made with today's upstream defaults is
//! therefore refused (rmapbt, nrext64) until those are implemented; RHEL 7–9 and Amazon Linux
//! 2023 images made with their own older xfsprogs do not carry them.

mod ag;
mod be;
mod bmap;
mod bmbtw;
mod btree;
mod dir;
mod dir_long;
mod dirops;
mod error;
mod ialloc;
mod inode;

pub use error::XfsWriteError;

use std::collections::HashMap;
use std::sync::Arc;

use super::XfsFs;
use super::bmbt::{self, Extent};
use super::inode::ForkFormat;
use super::superblock::{self, Superblock};
use crate::block::{BlockDev, BlockError, WritableDev};
use crate::fs::write::{FsWrite, WriteError, split_path};
use crate::fs::{DirtyState, FileType, FsError, components};
use ag::AgState;
use be::{get16, get32, get64, put64, set_crc};
use dir::{Dir, Entry};
use error::{corrupt, unsupported};
use inode::{CORE, FMT_EXTENTS, FMT_LOCAL, RawInode};

/// Largest file whose old content [`XfsWriter::backup_and_replace`] copies.
pub const MAX_READ_BYTES: u64 = 256 << 20;
const SB_CRC_OFF: usize = 224;
const RO_FINOBT: u32 = 1;
const RO_RMAPBT: u32 = 2;
const RO_REFLINK: u32 = 4;
const RO_INOBTCNT: u32 = 8;
const DIFLAG_REALTIME: u16 = 1;
const SB_VERSION_ALIGNBIT: u16 = 0x0080;

/// Geometry the writer computes with.
#[derive(Debug, Clone)]
pub struct Geo {
    pub bs: u32,
    pub sectsize: u32,
    pub agblocks: u32,
    pub agblklog: u8,
    pub agcount: u32,
    pub dblocks: u64,
    pub inopblog: u8,
    pub inodesize: u32,
    pub dirblklog: u8,
    pub meta_uuid: [u8; 16],
    pub spinodes: bool,
    pub bigtime: bool,
    pub ftype: bool,
    /// Alignment of new inode chunks in blocks (`sb_inoalignmt` when aligned inodes are on).
    pub inoalign: u32,
    /// Most inodes the filesystem may hold (`sb_imax_pct`; 0: no limit).
    pub maxicount: u64,
}

impl Geo {
    pub fn ag_len(&self, agno: u32) -> u64 {
        let start = u64::from(agno) * u64::from(self.agblocks);
        self.dblocks
            .saturating_sub(start)
            .min(u64::from(self.agblocks))
    }

    pub fn agb_byte(&self, agno: u32, agbno: u32) -> u64 {
        (u64::from(agno) * u64::from(self.agblocks) + u64::from(agbno)) * u64::from(self.bs)
    }

    pub fn fsb(&self, agno: u32, agbno: u32) -> u64 {
        (u64::from(agno) << self.agblklog) | u64::from(agbno)
    }

    pub fn split_fsb(&self, fsb: u64) -> (u32, u32) {
        (
            (fsb >> self.agblklog) as u32,
            (fsb & ((1u64 << self.agblklog) - 1)) as u32,
        )
    }

    pub fn fsb_byte(&self, fsb: u64) -> u64 {
        let (a, b) = self.split_fsb(fsb);
        self.agb_byte(a, b)
    }

    fn dir_blocks(&self) -> u64 {
        1 << self.dirblklog
    }

    fn ino_ag(&self, ino: u64) -> u32 {
        (ino >> (u32::from(self.agblklog) + u32::from(self.inopblog))) as u32
    }
}

pub(crate) fn verify_crc(b: &[u8], off: usize, what: &str) -> Result<(), XfsWriteError> {
    Ok(super::buf::verify_crc(b, off, what)?)
}

/// The writable device seen as a plain [`BlockDev`] by the reader.
struct ReadView(Arc<dyn WritableDev>);

impl BlockDev for ReadView {
    fn len(&self) -> u64 {
        self.0.len()
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), BlockError> {
        self.0.read_at(offset, buf)
    }
    fn describe(&self) -> String {
        self.0.describe()
    }
}

/// What one operation will write, collected before anything is written.
#[derive(Default)]
struct Txn {
    /// `(byte offset, bytes)` of file data and new directory blocks.
    blocks: Vec<(u64, Vec<u8>)>,
    /// Inodes changed or created, by number, in first-touched order.
    inodes: Vec<RawInode>,
    index: HashMap<u64, usize>,
}

/// A writer over one XFS filesystem. Every public operation leaves the filesystem consistent.
pub struct XfsWriter {
    dev: Arc<dyn WritableDev>,
    fs: XfsFs,
    geo: Geo,
    sb: Vec<u8>,
    ags: Vec<AgState>,
    clock: Option<i64>,
}

impl std::fmt::Debug for XfsWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XfsWriter")
            .field("dev", &self.dev.describe())
            .field("geo", &self.geo)
            .finish()
    }
}

fn pstr(p: &[u8]) -> String {
    String::from_utf8_lossy(p).into_owned()
}

fn check_name(name: &[u8]) -> Result<(), XfsWriteError> {
    if name.is_empty()
        || name.len() > 255
        || name == b"."
        || name == b".."
        || name.iter().any(|&c| c == b'/' || c == 0)
    {
        return Err(XfsWriteError::InvalidName(pstr(name)));
    }
    Ok(())
}

fn check_path(path: &[u8]) -> Result<(), XfsWriteError> {
    if path.first() != Some(&b'/')
        || components(path).any(|c| c == b"." || c == b".." || c.len() > 255 || c.contains(&0))
    {
        return Err(XfsWriteError::InvalidPath(pstr(path)));
    }
    Ok(())
}

fn feature_refusal(sb: &[u8]) -> Result<(), XfsWriteError> {
    let w = "superblock";
    let refuse = |f: &str| Err(XfsWriteError::UnsupportedFeature(f.to_string()));
    let ro = get32(sb, 212, w)?;
    let incompat = get32(sb, 216, w)?;
    let log_incompat = get32(sb, 220, w)?;
    if ro & RO_RMAPBT != 0 {
        return refuse("rmapbt (reverse-mapping B+trees)");
    }
    let ro_unknown = ro & !(RO_FINOBT | RO_REFLINK | RO_INOBTCNT);
    if ro_unknown != 0 {
        return refuse(&format!(
            "read-only-compatible feature bits {ro_unknown:#x}"
        ));
    }
    for (bit, name) in [
        (superblock::INCOMPAT_NEEDSREPAIR, "needsrepair"),
        (
            superblock::INCOMPAT_NREXT64,
            "nrext64 (large extent counters)",
        ),
        (superblock::INCOMPAT_EXCHRANGE, "exchange-range"),
        (superblock::INCOMPAT_PARENT, "parent pointers"),
    ] {
        if incompat & bit != 0 {
            return refuse(name);
        }
    }
    let known = superblock::INCOMPAT_FTYPE
        | superblock::INCOMPAT_SPINODES
        | superblock::INCOMPAT_META_UUID
        | superblock::INCOMPAT_BIGTIME;
    if incompat & !known != 0 {
        return refuse(&format!(
            "incompatible feature bits {:#x}",
            incompat & !known
        ));
    }
    if log_incompat != 0 {
        return refuse(&format!("log-incompatible feature bits {log_incompat:#x}"));
    }
    if get64(sb, 16, w)? != 0 || get64(sb, 24, w)? != 0 {
        return refuse("realtime device");
    }
    if get64(sb, 48, w)? == 0 {
        return refuse("external log device");
    }
    if sb.get(126).copied().unwrap_or(0) != 0 {
        return refuse("mkfs in progress (sb_inprogress)");
    }
    if get16(sb, 176, w)? != 0 {
        return refuse("quota accounting");
    }
    Ok(())
}

impl XfsWriter {
    /// Open a filesystem for writing, refusing anything it cannot keep consistent.
    pub fn open(dev: Arc<dyn WritableDev>) -> Result<Self, XfsWriteError> {
        let mut first = [0u8; 512];
        dev.read_at(0, &mut first)?;
        if get32(&first, 0, "superblock")? != superblock::XFS_SB_MAGIC {
            return Err(corrupt("superblock", "no XFS superblock magic"));
        }
        let ss = usize::from(get16(&first, 102, "superblock")?);
        if !(512..=32768).contains(&ss) {
            return Err(corrupt("superblock", format!("sector size {ss}")));
        }
        let mut raw = vec![0u8; ss];
        dev.read_at(0, &mut raw)?;
        let sb = Superblock::parse(&raw)?;
        if !sb.is_v5() {
            return Err(XfsWriteError::UnsupportedFeature(
                "version 4 (non-CRC) filesystem".into(),
            ));
        }
        feature_refusal(&raw)?;
        if sb.ascii_ci {
            return Err(XfsWriteError::UnsupportedFeature(
                "ascii-ci (case-insensitive) names".into(),
            ));
        }
        if sb.block_size > 65536 || sb.dir_block_size() > 65536 {
            return Err(corrupt("superblock", "block size"));
        }
        let fs = XfsFs::open(Arc::new(ReadView(dev.clone())))?;
        if let DirtyState::NeedsRecovery { detail, .. } = fs.info.dirty.clone() {
            return Err(XfsWriteError::DirtyLog(detail));
        }
        let ro = get32(&raw, 212, "superblock")?;
        let geo = Geo {
            bs: sb.block_size,
            sectsize: sb.sectsize,
            agblocks: sb.agblocks,
            agblklog: sb.agblklog,
            agcount: sb.agcount,
            dblocks: sb.dblocks,
            inopblog: sb.inopblog,
            inodesize: sb.inodesize,
            dirblklog: sb.dirblklog,
            meta_uuid: sb.meta_uuid,
            spinodes: sb.has_incompat(superblock::INCOMPAT_SPINODES),
            bigtime: sb.has_incompat(superblock::INCOMPAT_BIGTIME),
            ftype: sb.ftype,
            inoalign: if get16(&raw, 100, "superblock")? & SB_VERSION_ALIGNBIT != 0 {
                get32(&raw, 180, "superblock")?.max(1)
            } else {
                1
            },
            maxicount: {
                let pct = u64::from(raw.get(127).copied().unwrap_or(0));
                let per_chunk = (64u64 >> sb.inopblog).max(1);
                (sb.dblocks * pct / 100 / per_chunk * per_chunk) << sb.inopblog
            },
        };
        let mut ags = Vec::with_capacity(sb.agcount.min(1 << 16) as usize);
        for agno in 0..sb.agcount {
            let mut ag = AgState::load(
                dev.as_ref(),
                &geo,
                agno,
                ro & RO_FINOBT != 0,
                ro & RO_REFLINK != 0,
            )?;
            ag.inobtcount = ro & RO_INOBTCNT != 0;
            ags.push(ag);
        }
        Ok(XfsWriter {
            dev,
            fs,
            geo,
            sb: raw,
            ags,
            clock: None,
        })
    }

    /// Fix the time stamped on what the writer changes (`None`: now).
    pub fn set_clock(&mut self, clock: Option<i64>) {
        self.clock = clock;
    }

    fn now(&self) -> i64 {
        self.clock.unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64)
        })
    }

    fn lookup(&self, path: &[u8]) -> Result<super::inode::Inode, XfsWriteError> {
        check_path(path)?;
        match self.fs.lookup(path) {
            Ok(i) => Ok(i),
            Err(FsError::NotFound(_)) => Err(XfsWriteError::NotFound(pstr(path))),
            Err(FsError::NotADirectory(_)) => Err(XfsWriteError::NotADirectory(pstr(path))),
            Err(e) => Err(e.into()),
        }
    }

    /// Whether anything exists at `path`.
    pub fn exists(&self, path: &[u8]) -> Result<bool, XfsWriteError> {
        match self.lookup(path) {
            Ok(_) => Ok(true),
            Err(XfsWriteError::NotFound(_) | XfsWriteError::NotADirectory(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn lookup_dir(&self, path: &[u8]) -> Result<super::inode::Inode, XfsWriteError> {
        let i = self.lookup(path)?;
        if i.file_type != FileType::Directory {
            return Err(XfsWriteError::NotADirectory(pstr(path)));
        }
        Ok(i)
    }

    fn read_raw(&self, ino: u64) -> Result<RawInode, XfsWriteError> {
        let (agno, agbno, slot) = super::inode::split_ino(&self.fs.sb, ino)?;
        let off = self.geo.agb_byte(agno, agbno) + u64::from(slot) * u64::from(self.geo.inodesize);
        let mut raw = vec![0u8; self.geo.inodesize as usize];
        self.dev.read_at(off, &mut raw)?;
        Ok(RawInode { ino, raw })
    }

    fn ino_byte(&self, ino: u64) -> Result<u64, XfsWriteError> {
        let (agno, agbno, slot) = super::inode::split_ino(&self.fs.sb, ino)?;
        Ok(self.geo.agb_byte(agno, agbno) + u64::from(slot) * u64::from(self.geo.inodesize))
    }

    /// The inode as this transaction has it (read on first use).
    fn txn_inode<'t>(&self, t: &'t mut Txn, ino: u64) -> Result<&'t mut RawInode, XfsWriteError> {
        let i = match t.index.get(&ino) {
            Some(&i) => i,
            None => {
                let r = self.read_raw(ino)?;
                t.inodes.push(r);
                t.index.insert(ino, t.inodes.len() - 1);
                t.inodes.len() - 1
            }
        };
        t.inodes
            .get_mut(i)
            .ok_or_else(|| corrupt("transaction", "inode index"))
    }

    /// Run `plan` against the in-memory state; on success check every changed tree and write
    /// everything, on error restore the AG state (nothing has been written).
    fn run<R>(
        &mut self,
        plan: impl FnOnce(&mut Self, &mut Txn) -> Result<R, XfsWriteError>,
    ) -> Result<R, XfsWriteError> {
        let saved = self.ags.clone();
        let mut t = Txn::default();
        let staged = plan(self, &mut t).and_then(|r| {
            for ag in &mut self.ags {
                ag.stage_free(&self.geo)?;
            }
            Ok(r)
        });
        let r = match staged {
            Ok(r) => r,
            Err(e) => {
                self.ags = saved;
                return Err(e);
            }
        };
        for (off, bytes) in &t.blocks {
            self.dev.write_at(*off, bytes)?;
        }
        for ag in &mut self.ags {
            ag.write(self.dev.as_ref(), &self.geo)?;
        }
        for i in &mut t.inodes {
            i.seal()?;
            self.dev.write_at(self.ino_byte(i.ino)?, &i.raw)?;
        }
        self.write_sb()?;
        Ok(r)
    }

    /// Superblock counters from the AG headers (as the kernel and xfs_repair count them).
    fn write_sb(&mut self) -> Result<(), XfsWriteError> {
        let (mut icount, mut ifree, mut fd) = (0u64, 0u64, 0u64);
        for ag in &self.ags {
            icount += ag.icount();
            ifree += ag.ifree();
            fd += ag.freeblks() + ag.fd_extra();
        }
        let mut sb = self.sb.clone();
        put64(&mut sb, 128, icount, "superblock")?;
        put64(&mut sb, 136, ifree, "superblock")?;
        put64(&mut sb, 144, fd, "superblock")?;
        set_crc(&mut sb, SB_CRC_OFF, "superblock")?;
        if sb != self.sb {
            self.dev.write_at(0, &sb)?;
            self.sb = sb;
        }
        Ok(())
    }

    /// Allocate `count` blocks for file offset `startoff` of a file in AG `home`, as few
    /// extents as the free space allows, the first one right after `near` if it is free.
    fn alloc_extents(
        &mut self,
        home: u32,
        startoff: u64,
        count: u64,
        mut near: Option<u64>,
    ) -> Result<Vec<Extent>, XfsWriteError> {
        let mut out = Vec::new();
        let mut off = startoff;
        let mut left = count;
        let agcount = self.geo.agcount;
        while left > 0 {
            let want = left.min(bmap::MAX_EXTLEN) as u32;
            let mut got = None;
            for k in 0..agcount {
                let agno = ((u64::from(home) + u64::from(k)) % u64::from(agcount)) as u32;
                let near_b = near.and_then(|n| {
                    let (a, b) = self.geo.split_fsb(n);
                    (a == agno).then_some(b)
                });
                if let Some(ag) = self.ags.get_mut(agno as usize)
                    && let Some((b, n)) = ag.alloc(want, near_b)
                {
                    got = Some((agno, b, n));
                    break;
                }
            }
            let Some((agno, b, n)) = got else {
                return Err(XfsWriteError::NoSpace(format!("{left} more blocks needed")));
            };
            let fsb = self.geo.fsb(agno, b);
            out.push(Extent {
                startoff: off,
                startblock: fsb,
                count: u64::from(n),
                unwritten: false,
            });
            off += u64::from(n);
            left -= u64::from(n);
            near = Some(fsb + u64::from(n));
        }
        Ok(out)
    }

    fn free_extent(&mut self, fsb: u64, count: u64) -> Result<(), XfsWriteError> {
        let (agno, b) = self.geo.split_fsb(fsb);
        let geo = self.geo.clone();
        let ag = self
            .ags
            .get_mut(agno as usize)
            .ok_or_else(|| corrupt("extent", format!("block {fsb} outside the filesystem")))?;
        ag.free_range(&geo, b, count as u32)
    }

    /// Plan the new content of regular file `ino` (already in `t`): new extent map, blocks to
    /// write, counters. Nothing is written here.
    fn plan_content(
        &mut self,
        t: &mut Txn,
        ino: u64,
        path: &[u8],
        data: &[u8],
    ) -> Result<(), XfsWriteError> {
        let raw = self.txn_inode(t, ino)?.clone();
        let parsed = super::inode::Inode::parse(&self.fs.sb, ino, &raw.raw)?;
        if parsed.file_type != FileType::Regular {
            return Err(XfsWriteError::NotAFile(pstr(path)));
        }
        if get16(&raw.raw, 90, "inode")? & DIFLAG_REALTIME != 0 {
            return Err(unsupported(path, "realtime file"));
        }
        if !matches!(parsed.format, ForkFormat::Extents | ForkFormat::Btree) {
            return Err(unsupported(path, "data fork neither extents nor B+tree"));
        }
        let bs_us = self.geo.bs as usize;
        let old_tree = if parsed.format == ForkFormat::Btree {
            bmbtw::blocks(raw.fork()?, bs_us, ino, |fsb| {
                let mut b = vec![0u8; bs_us];
                self.dev.read_at(self.geo.fsb_byte(fsb), &mut b)?;
                Ok(b)
            })?
        } else {
            Vec::new()
        };
        let old = if parsed.nextents == 0 {
            Vec::new()
        } else {
            bmbt::data_extents(&self.fs, &parsed)?
        };
        for e in &old {
            let (agno, b) = self.geo.split_fsb(e.startblock);
            if self
                .ags
                .get(agno as usize)
                .is_some_and(|ag| ag.shared(b, e.count as u32))
            {
                return Err(unsupported(
                    path,
                    "its blocks are shared with another file (reflink)",
                ));
            }
        }
        let bs = u64::from(self.geo.bs);
        let n = (data.len() as u64).div_ceil(bs);
        let (keep, free) = bmap::truncate(&old, n);
        let mut freed = 0u64;
        for (fsb, c) in free {
            self.free_extent(fsb, c)?;
            freed += c;
        }
        let home = self.geo.ino_ag(ino);
        let mut all = keep.clone();
        let mut allocated = 0u64;
        for (off, c) in bmap::holes(&keep, n) {
            let near = keep
                .iter()
                .chain(all.iter())
                .filter(|e| e.startoff + e.count == off)
                .map(|e| e.startblock + e.count)
                .next();
            let new = self.alloc_extents(home, off, c, near)?;
            allocated += c;
            all.extend(new);
        }
        let map = bmap::merge(all, self.geo.agblklog);
        let fork_size = raw.lit_end()? - CORE;
        let cap = fork_size / 16;
        // B+tree form when the extent list outgrows the inode: old tree blocks reused, the
        // rest allocated or freed.
        let mut tree_blocks = old_tree.clone();
        let mut tree = None;
        if map.len() > cap {
            let shape = bmbtw::shape(map.len(), bs_us, bmbtw::root_max(fork_size))?;
            let need: usize = shape.iter().sum();
            while tree_blocks.len() > need {
                if let Some(b) = tree_blocks.pop() {
                    self.free_extent(b, 1)?;
                }
            }
            while tree_blocks.len() < need {
                let near = map.last().map(|e| e.startblock + e.count);
                let got = self.alloc_extents(home, 0, 1, near)?;
                tree_blocks.extend(got.iter().map(|e| e.startblock));
            }
            let geo = self.geo.clone();
            tree = Some(bmbtw::build(
                &map,
                &shape,
                &tree_blocks,
                bs_us,
                fork_size,
                ino,
                &geo.meta_uuid,
                |b| geo.fsb_byte(b) >> 9,
            )?);
        } else {
            for b in tree_blocks.drain(..) {
                self.free_extent(b, 1)?;
            }
        }
        for e in &map {
            let start = (e.startoff * bs) as usize;
            let end = ((e.startoff + e.count) * bs) as usize;
            let mut chunk = data
                .get(start..end.min(data.len()))
                .unwrap_or_default()
                .to_vec();
            chunk.resize(end - start, 0);
            t.blocks.push((self.geo.fsb_byte(e.startblock), chunk));
        }
        let now = self.now();
        let fork = match tree {
            Some((root, blocks)) => {
                for (b, bytes) in blocks {
                    t.blocks.push((self.geo.fsb_byte(b), bytes));
                }
                root
            }
            None => bmap::encode_all(&map),
        };
        let i = self.txn_inode(t, ino)?;
        let nblocks = i
            .nblocks()?
            .checked_sub(freed + old_tree.len() as u64)
            .ok_or_else(|| corrupt(format!("inode {ino}"), "block count below its extents"))?
            + allocated
            + tree_blocks.len() as u64;
        i.set_format(if tree_blocks.is_empty() {
            FMT_EXTENTS
        } else {
            inode::FMT_BTREE
        })?;
        i.set_fork(&fork)?;
        i.set_nextents(map.len() as u32)?;
        i.set_size(data.len() as u64)?;
        i.set_nblocks(nblocks)?;
        i.touch(now)?;
        Ok(())
    }

    /// Take a free inode, preferring AG `home`; when no AG has one, a new inode chunk is
    /// allocated (its inodes initialised in `t`). Returns the inode and whether its slot is in
    /// a new chunk.
    fn alloc_inode(&mut self, t: &mut Txn, home: u32) -> Result<(u64, bool), XfsWriteError> {
        let agcount = self.geo.agcount;
        let shift = u32::from(self.geo.agblklog) + u32::from(self.geo.inopblog);
        for k in 0..agcount {
            let agno = ((u64::from(home) + u64::from(k)) % u64::from(agcount)) as u32;
            let geo = self.geo.clone();
            if let Some(ag) = self.ags.get_mut(agno as usize)
                && let Some(agino) = ialloc::take(ag, &geo)?
            {
                return Ok(((u64::from(agno) << shift) | u64::from(agino), false));
            }
        }
        let icount: u64 = self.ags.iter().map(AgState::icount).sum();
        if self.geo.maxicount != 0 && icount + u64::from(ialloc::CHUNK) > self.geo.maxicount {
            return Err(XfsWriteError::NoFreeInode);
        }
        for k in 0..agcount {
            let agno = ((u64::from(home) + u64::from(k)) % u64::from(agcount)) as u32;
            let geo = self.geo.clone();
            let Some(ag) = self.ags.get_mut(agno as usize) else {
                continue;
            };
            let Some(agbno) = ialloc::new_chunk(ag, &geo, geo.inoalign)? else {
                continue;
            };
            let first = (u64::from(agno) << shift) | (u64::from(agbno) << geo.inopblog);
            let mut chunk = vec![0u8; (ialloc::CHUNK * geo.inodesize) as usize];
            let gen_base = self.now() as u32;
            for (i, raw) in chunk.chunks_mut(geo.inodesize as usize).enumerate() {
                inode::init_free(&geo, raw, first + i as u64, gen_base.wrapping_add(i as u32))?;
            }
            t.blocks.push((geo.agb_byte(agno, agbno), chunk));
            let ag = self
                .ags
                .get_mut(agno as usize)
                .ok_or_else(|| corrupt("AG", "index"))?;
            let agino = ialloc::take(ag, &geo)?
                .ok_or_else(|| corrupt("inode chunk", "new chunk has no free inode"))?;
            return Ok(((u64::from(agno) << shift) | u64::from(agino), true));
        }
        Err(XfsWriteError::NoFreeInode)
    }

    /// Plan a new inode (regular file or directory) named `name` in directory `dir_ino`.
    fn plan_new_inode(
        &mut self,
        t: &mut Txn,
        dir_ino: u64,
        dir_path: &[u8],
        name: &[u8],
        mode: u16,
    ) -> Result<u64, XfsWriteError> {
        check_name(name)?;
        let mut d = self.open_dir(t, dir_ino, dir_path)?;
        if d.has(name)? {
            return Err(XfsWriteError::AlreadyExists(format!(
                "{}/{}",
                pstr(dir_path).trim_end_matches('/'),
                pstr(name)
            )));
        }
        let (ino, fresh) = self.alloc_inode(t, self.geo.ino_ag(dir_ino))?;
        let is_dir = mode & 0o170000 == 0o040000;
        let mut old = vec![0u8; self.geo.inodesize as usize];
        if !fresh {
            self.dev.read_at(self.ino_byte(ino)?, &mut old)?;
        }
        let now = self.now();
        let mut new = if is_dir {
            let mut i = RawInode::new_in_slot(&self.geo, ino, &old, mode, FMT_LOCAL, 2, now)?;
            let sf = dir::encode_sf(
                &Dir {
                    parent: dir_ino,
                    entries: Vec::new(),
                },
                self.geo.ftype,
            );
            i.set_fork(&sf)?;
            i.set_size(sf.len() as u64)?;
            i
        } else {
            RawInode::new_in_slot(&self.geo, ino, &old, mode, FMT_EXTENTS, 1, now)?
        };
        new.seal()?;
        t.inodes.push(new);
        t.index.insert(ino, t.inodes.len() - 1);
        d.add(Entry {
            name: name.to_vec(),
            ino,
            ftype: if !self.geo.ftype {
                0
            } else if is_dir {
                dir::FT_DIR
            } else {
                dir::FT_REG
            },
        })?;
        self.store_dir(t, dir_ino, &d, dir_path)?;
        if is_dir {
            let p = self.txn_inode(t, dir_ino)?;
            let n = p.nlink()?;
            p.set_nlink(n.saturating_add(1))?;
        }
        Ok(ino)
    }

    /// Replace the content of the regular file at `path`.
    pub fn replace_file(&mut self, path: &[u8], data: &[u8]) -> Result<(), XfsWriteError> {
        let inode = self.lookup(path)?;
        if inode.file_type != FileType::Regular {
            return Err(XfsWriteError::NotAFile(pstr(path)));
        }
        self.run(|w, t| w.plan_content(t, inode.ino, path, data))
    }

    /// Create the regular file `name` in directory `dir_path` holding `data`.
    pub fn create_file(
        &mut self,
        dir_path: &[u8],
        name: &[u8],
        data: &[u8],
        mode: u16,
    ) -> Result<u64, XfsWriteError> {
        let d = self.lookup_dir(dir_path)?;
        self.run(|w, t| {
            let ino = w.plan_new_inode(t, d.ino, dir_path, name, 0o100000 | (mode & 0o7777))?;
            w.plan_content(t, ino, name, data)?;
            Ok(ino)
        })
    }

    /// Create the directory `name` in directory `dir_path`.
    pub fn create_dir(
        &mut self,
        dir_path: &[u8],
        name: &[u8],
        mode: u16,
    ) -> Result<u64, XfsWriteError> {
        let d = self.lookup_dir(dir_path)?;
        self.run(|w, t| w.plan_new_inode(t, d.ino, dir_path, name, 0o040000 | (mode & 0o7777)))
    }

    /// Keep the file at `path` as `backup` (a new file in the same directory with its
    /// content, mode, owner and times) and give `path` the content `data`.
    pub fn backup_and_replace(
        &mut self,
        path: &[u8],
        backup: &[u8],
        data: &[u8],
    ) -> Result<(), XfsWriteError> {
        let (dir_path, _) = split_path(
            std::str::from_utf8(path).map_err(|_| XfsWriteError::InvalidPath(pstr(path)))?,
        );
        let dir_path = dir_path.as_bytes().to_vec();
        let inode = self.lookup(path)?;
        if inode.file_type != FileType::Regular {
            return Err(XfsWriteError::NotAFile(pstr(path)));
        }
        if inode.size > MAX_READ_BYTES {
            return Err(unsupported(path, "file too large to back up"));
        }
        let mut old = vec![0u8; inode.size as usize];
        let n = self.fs.read_inode_at(&inode, 0, &mut old)?;
        old.truncate(n);
        let orig = self.read_raw(inode.ino)?;
        let d = self.lookup_dir(&dir_path)?;
        self.run(|w, t| {
            let ino = w.plan_new_inode(t, d.ino, &dir_path, backup, orig.mode()?)?;
            w.plan_content(t, ino, backup, &old)?;
            let b = w.txn_inode(t, ino)?;
            // Owner and times of the original (bigtime format of the new inode kept).
            for off in [8usize, 12] {
                let v = get32(&orig.raw, off, "inode")?;
                be::put32(&mut b.raw, off, v, "inode")?;
            }
            for off in [32usize, 40, 48] {
                b.set_time(off, inode_time(&orig, off))?;
            }
            Ok(())
        })?;
        self.replace_file(path, data)
    }

    /// Rename `from` to `dir_path/name`: inside one directory, or a non-directory to another
    /// directory.
    pub fn rename(
        &mut self,
        from: &[u8],
        dir_path: &[u8],
        name: &[u8],
    ) -> Result<(), XfsWriteError> {
        check_name(name)?;
        let src = self.lookup(from)?;
        let (sdir_path, sname) = split_path(
            std::str::from_utf8(from).map_err(|_| XfsWriteError::InvalidPath(pstr(from)))?,
        );
        let sdir_path = sdir_path.as_bytes().to_vec();
        let sname = sname.as_bytes().to_vec();
        let sdir = self.lookup_dir(&sdir_path)?;
        let ddir = self.lookup_dir(dir_path)?;
        if sdir.ino != ddir.ino && src.file_type == FileType::Directory {
            return Err(unsupported(from, "moving a directory to another directory"));
        }
        self.run(|w, t| {
            let mut sd = w.open_dir(t, sdir.ino, &sdir_path)?;
            let mut ent = sd
                .remove(&sname)?
                .ok_or_else(|| XfsWriteError::NotFound(pstr(from)))?;
            ent.name = name.to_vec();
            if sdir.ino == ddir.ino {
                if sd.has(name)? {
                    return Err(XfsWriteError::AlreadyExists(pstr(name)));
                }
                sd.add(ent)?;
                w.store_dir(t, sdir.ino, &sd, &sdir_path)?;
            } else {
                let mut dd = w.open_dir(t, ddir.ino, dir_path)?;
                if dd.has(name)? {
                    return Err(XfsWriteError::AlreadyExists(pstr(name)));
                }
                dd.add(ent)?;
                w.store_dir(t, sdir.ino, &sd, &sdir_path)?;
                w.store_dir(t, ddir.ino, &dd, dir_path)?;
            }
            let now = w.now();
            w.txn_inode(t, src.ino)?.set_time(48, now)?;
            Ok(())
        })
    }

    /// Make everything durable (every operation has already written its metadata).
    pub fn flush(&mut self) -> Result<(), XfsWriteError> {
        self.write_sb()?;
        self.dev.flush()?;
        Ok(())
    }
}

/// Seconds of the timestamp at `off` of inode `i`.
fn inode_time(i: &RawInode, off: usize) -> i64 {
    let big = get64(&i.raw, 120, "").unwrap_or(0) & (1 << 3) != 0;
    if big {
        (get64(&i.raw, off, "").unwrap_or(0) / 1_000_000_000) as i64 - (1i64 << 31)
    } else {
        i64::from(get32(&i.raw, off, "").unwrap_or(0) as i32)
    }
}

impl FsWrite for XfsWriter {
    fn exists(&self, path: &str) -> Result<bool, WriteError> {
        Ok(XfsWriter::exists(self, path.as_bytes())?)
    }
    fn replace(&mut self, path: &str, backup: Option<&str>, data: &[u8]) -> Result<(), WriteError> {
        match backup {
            Some(b) => self.backup_and_replace(path.as_bytes(), b.as_bytes(), data)?,
            None => self.replace_file(path.as_bytes(), data)?,
        }
        Ok(())
    }
    fn create(&mut self, path: &str, data: &[u8]) -> Result<(), WriteError> {
        let (dir, name) = split_path(path);
        let mut cur = String::new();
        for c in components(dir.as_bytes()) {
            let parent = if cur.is_empty() { "/" } else { cur.as_str() }.to_string();
            cur.push('/');
            cur.push_str(&String::from_utf8_lossy(c));
            if !XfsWriter::exists(self, cur.as_bytes())? {
                self.create_dir(parent.as_bytes(), c, 0o755)?;
            }
        }
        if XfsWriter::exists(self, path.as_bytes())? {
            return Err(XfsWriteError::AlreadyExists(path.to_string()).into());
        }
        self.create_file(dir.as_bytes(), name.as_bytes(), data, 0o644)?;
        Ok(())
    }
    fn rename(&mut self, from: &str, to: &str) -> Result<(), WriteError> {
        let (dir, name) = split_path(to);
        XfsWriter::rename(self, from.as_bytes(), dir.as_bytes(), name.as_bytes())?;
        Ok(())
    }
    fn flush(&mut self) -> Result<(), WriteError> {
        Ok(XfsWriter::flush(self)?)
    }
}
