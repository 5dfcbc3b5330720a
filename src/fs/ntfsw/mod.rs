//! Our own NTFS writer (issue 20): small, exact changes to a clean, unmounted NTFS 3.x volume
//! through a [`WritableDev`], for the Windows fixes (registry hives, BCD, driver files).
//!
//! Supported: replacing a file's unnamed `$DATA` (same size in place through the run list;
//! grown or shrunk with clusters from/back to `$Bitmap`; resident ↔ non-resident; sizes in the
//! record and in the parent's `$I30` entries), creating a file in an existing folder (a free
//! record from `$MFT`'s `$BITMAP`, `$STANDARD_INFORMATION` with a sibling's security id,
//! a Win32 + DOS name pair or one Win32&DOS name, the entries inserted in `$UpCase` collation
//! order; a full `INDX` block, leaf or internal, is split, the median going up (splits climb to
//! the root), and a root that no longer fits
//! its record is pushed down into a new block, the folder's first `$INDEX_ALLOCATION` and
//! `$BITMAP` made when it has none), creating folders (missing parents of a created file too:
//! a directory record with the parent's owner and security id, `$FILE_NAME` flag
//! DUP_FILE_NAME_INDEX_PRESENT, an empty `$INDEX_ROOT` `$I30` with the volume's index block
//! size), renaming (within a folder or into another; a folder never into itself), backups by
//! copy, `$MFT` grown by whole clusters when no record is free.
//! Records below `$MFTMirr`'s size are written to both `$MFT` and `$MFTMirr`. `$LogFile` and
//! the `$Volume` flags are never written. [`NtfsWriter::check`] is a consistency checker.
//!
//! Refused before anything is written (typed [`NtfsWriteError`]): BitLocker, a hibernated
//! Windows (`hiberfil.sys` header `hibr`/`HIBR`/`rstr`, see [`crate::fs::ntfs::hiberfil_header`];
//! a resumed `wake` header, or a signature in a file shorter than a page, is only a file), the
//! `$Volume` dirty or chkdsk flags, a `$LogFile` that is not clean (Fast Startup), NTFS
//! versions other than 3.x, a fragmented `$MFT` (attribute list). Per file: compressed,
//! encrypted, sparse files and reparse points, attribute lists, mapping pairs that no longer
//! fit the record. Not done (refused by name): a non-resident `$I30` `$BITMAP` or a folder
//! record without room for its index to grow even with its root pushed down
//! ([`NtfsWriteError::IndexSplitNeeded`]), a `$MFT` run list that outgrows record 0, removing
//! an entry that would empty a leaf block or whose predecessor does not fit its internal node
//! (no merge or rebalance).

mod attr;
mod bitmap;
mod boot;
mod check;
mod error;
mod index;
mod logfile;
mod record;
mod runlist;
mod upcase;

pub use error::NtfsWriteError;

use crate::block::WritableDev;
use crate::fs::ntfs::{HiberState, hiberfil_header};
use crate::fs::write::{FsWrite, WriteError};
use attr::{DATA, FILE_NAME, I30, INDEX_ALLOCATION, INDEX_ROOT, STANDARD_INFORMATION};
use bitmap::Bitmap;
use boot::Boot;
use error::{corrupt, refused};
use index::{DOS, Entry, Node, Times, WIN32, WIN32_DOS};
use record::{IN_USE, Record, align8, r16, r32, r64, w16, w32, w64};
use runlist::Run;
use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::sync::Arc;
use upcase::UpCase;

/// Largest `$Bitmap` held in memory (a 16 TiB volume with 4 KiB clusters).
pub const MAX_BITMAP: u64 = 512 << 20;
/// Largest stream read whole (a file being backed up, `$UpCase`, `$MFT`'s bitmap).
pub const MAX_READ: u64 = 1 << 30;
/// Deepest index tree walked.
const MAX_DEPTH: usize = 32;
/// The root folder's record.
pub const ROOT: u64 = 5;
/// What an index refusal for want of room in the folder's record says.
const NO_ROOM: &str = "no room in the folder's record";
/// Records added to a full `$MFT` at a time (rounded up to whole clusters).
const MFT_GROW: u64 = 64;
/// The first record that may be given to a new file (16..23 are reserved).
const FIRST_USER: u64 = 24;
/// FILE_ATTRIBUTE_ARCHIVE.
const ARCHIVE: u32 = 0x20;
/// `$STANDARD_INFORMATION` file attributes this writer refuses to rewrite.
const SI_SPARSE: u32 = 0x200;
const SI_REPARSE: u32 = 0x400;
const SI_COMPRESSED: u32 = 0x800;
const SI_ENCRYPTED: u32 = 0x4000;
/// `$FILE_NAME` flag of a folder: FILE_ATTR_DUP_FILE_NAME_INDEX_PRESENT.
const DUP_I30_INDEX_PRESENT: u32 = 0x1000_0000;
/// Difference between the NT epoch (1601) and the Unix epoch, in seconds.
const NT_EPOCH: i64 = 11_644_473_600;

/// One index node being changed: the root (in the folder's record) or a block by VCN.
type Blocks = BTreeMap<u64, Node>;

/// What [`NtfsWriter::create_node`] makes.
#[derive(Clone, Copy)]
enum New<'a> {
    File {
        data: &'a [u8],
        si_from: Option<&'a [u8]>,
    },
    Dir,
}

/// A folder's `$I30` index as found in its record.
struct DirIdx {
    root: Node,
    alloc_runs: Vec<Run>,
    alloc_size: u64,
    block: u64,
    vcn_unit: u64,
}

/// Where an entry was found: `None` for the root node, else the block VCN.
type NodeId = Option<u64>;

/// A writer over one NTFS volume. Every public operation leaves the volume consistent.
pub struct NtfsWriter {
    dev: Arc<dyn WritableDev>,
    boot: Boot,
    mft_runs: Vec<Run>,
    mft_records: u64,
    mirr_runs: Vec<Run>,
    mirr_records: u64,
    mft_bitmap: Bitmap,
    mft_bitmap_runs: Vec<Run>,
    bitmap: Bitmap,
    bitmap_runs: Vec<Run>,
    upcase: UpCase,
    clock: Option<i64>,
}

fn utf16(s: &str) -> Vec<u16> {
    s.encode_utf16().collect()
}

fn name_str(n: &[u16]) -> String {
    String::from_utf16_lossy(n)
}

/// Path components as UTF-16, checked.
fn components(path: &str) -> Result<Vec<Vec<u16>>, NtfsWriteError> {
    if !path.starts_with('/') {
        return Err(NtfsWriteError::InvalidPath(path.into()));
    }
    let mut out = Vec::new();
    for c in path.split('/').filter(|c| !c.is_empty()) {
        if c == "." || c == ".." {
            return Err(NtfsWriteError::InvalidPath(path.into()));
        }
        out.push(utf16(c));
    }
    Ok(out)
}

/// A name Windows could create (Win32 namespace).
fn check_name(n: &[u16]) -> Result<(), NtfsWriteError> {
    let bad = n.is_empty()
        || n.len() > 255
        || n.iter()
            .any(|&c| c < 0x20 || "\\/:*?\"<>|".encode_utf16().any(|b| b == c))
        || n.last()
            .is_some_and(|&c| c == u16::from(b' ') || c == u16::from(b'.'))
        || n == utf16(".").as_slice()
        || n == utf16("..").as_slice();
    if bad {
        return Err(NtfsWriteError::InvalidName(name_str(n)));
    }
    Ok(())
}

/// Characters a DOS (8.3) name may hold besides A-Z and 0-9.
const DOS_EXTRA: &str = "!#$%&'()-@^_`{}~";

fn dos_char_ok(c: u16) -> bool {
    (u16::from(b'A')..=u16::from(b'Z')).contains(&c)
        || (u16::from(b'0')..=u16::from(b'9')).contains(&c)
        || DOS_EXTRA.encode_utf16().any(|d| d == c)
}

/// Whether `n` is already a valid upper-case 8.3 name (one Win32&DOS name suffices).
fn is_dos_name(n: &[u16]) -> bool {
    let dot = u16::from(b'.');
    let (base, ext) = match n.iter().position(|&c| c == dot) {
        Some(p) => (&n[..p], &n[p + 1..]),
        None => (n, &[][..]),
    };
    let has_dot = base.len() < n.len();
    !base.is_empty()
        && base.len() <= 8
        && ext.len() <= 3
        && !(has_dot && ext.is_empty())
        && base.iter().chain(ext).all(|&c| dos_char_ok(c))
}

/// The base and extension a DOS alias is made from (upper-cased through `$UpCase`, invalid
/// characters dropped, as Windows does).
fn dos_parts(n: &[u16], up: &UpCase) -> (Vec<u16>, Vec<u16>) {
    let dot = u16::from(b'.');
    let (base, ext) = match n.iter().rposition(|&c| c == dot) {
        Some(p) if p > 0 => (&n[..p], &n[p + 1..]),
        _ => (n, &[][..]),
    };
    let clean = |s: &[u16], max: usize| -> Vec<u16> {
        s.iter()
            .map(|&c| up.up(c))
            .filter(|&c| c != dot && c != u16::from(b' '))
            .map(|c| if dos_char_ok(c) { c } else { u16::from(b'_') })
            .take(max)
            .collect()
    };
    let mut b = clean(base, 6);
    if b.is_empty() {
        b = utf16("FILE");
    }
    (b, clean(ext, 3))
}

fn nt_time(unix: i64) -> u64 {
    ((unix.saturating_add(NT_EPOCH)).max(0) as u64).saturating_mul(10_000_000)
}

impl NtfsWriter {
    /// Open a volume for writing, refusing anything it cannot keep consistent.
    pub fn open(dev: Arc<dyn WritableDev>) -> Result<Self, NtfsWriteError> {
        let mut s0 = vec![0u8; 512];
        dev.read_at(0, &mut s0)?;
        let boot = Boot::parse(&s0)?;
        let cs = boot.cluster;
        if boot
            .total_clusters
            .checked_mul(cs)
            .is_none_or(|b| b > dev.len())
        {
            return Err(corrupt(
                "boot sector",
                format!(
                    "{} clusters of {cs} bytes do not fit the {}-byte device",
                    boot.total_clusters,
                    dev.len()
                ),
            ));
        }
        let rs = boot.record_size;
        let mut raw = vec![0u8; rs as usize];
        dev.read_at(boot.mft_lcn * cs, &mut raw)?;
        let r0 = Record::parse(0, raw)?;
        if r0.find(attr::ATTRIBUTE_LIST, &[])?.is_some() {
            return Err(NtfsWriteError::Unsupported(
                "$MFT with an attribute list (fragmented $MFT)".into(),
            ));
        }
        let mut w = NtfsWriter {
            dev,
            boot: boot.clone(),
            mft_runs: Vec::new(),
            mft_records: 0,
            mirr_runs: Vec::new(),
            mirr_records: 0,
            mft_bitmap: Bitmap::new(Vec::new(), 0),
            mft_bitmap_runs: Vec::new(),
            bitmap: Bitmap::new(Vec::new(), 0),
            bitmap_runs: Vec::new(),
            upcase: UpCase(Vec::new()),
            clock: None,
        };
        let (runs, size) = w.nonres_runs(&r0, DATA, &[], "$MFT")?;
        if runs.first().and_then(|r| r.lcn) != Some(boot.mft_lcn) {
            return Err(corrupt(
                "$MFT",
                "its first run does not start where the boot sector says",
            ));
        }
        w.mft_runs = runs;
        w.mft_records = size / rs;
        if w.mft_records < FIRST_USER {
            return Err(corrupt("$MFT", format!("{} records", w.mft_records)));
        }
        let (bruns, bsize) = w.nonres_runs(&r0, attr::BITMAP, &[], "$MFT:$BITMAP")?;
        if bsize < w.mft_records.div_ceil(8) || bsize > MAX_READ {
            return Err(corrupt(
                "$MFT:$BITMAP",
                format!("{bsize} bytes for {} records", w.mft_records),
            ));
        }
        let bytes = w.read_runs(&bruns, 0, bsize)?;
        w.mft_bitmap = Bitmap::new(bytes, w.mft_records);
        w.mft_bitmap_runs = bruns;

        let r1 = w.read_record(1)?;
        let (mruns, msize) = w.nonres_runs(&r1, DATA, &[], "$MFTMirr")?;
        if mruns.first().and_then(|r| r.lcn) != Some(boot.mftmirr_lcn) {
            return Err(corrupt(
                "$MFTMirr",
                "its first run does not start where the boot sector says",
            ));
        }
        w.mirr_runs = mruns;
        w.mirr_records = (msize / rs).min(w.mft_records);

        let r3 = w.read_record(3)?;
        let vi = r3
            .find(attr::VOLUME_INFORMATION, &[])?
            .filter(|a| !a.nonres)
            .ok_or_else(|| corrupt("$Volume", "no $VOLUME_INFORMATION"))?;
        let v = r3.value(&vi);
        if v.len() < 12 {
            return Err(corrupt("$Volume", "$VOLUME_INFORMATION too short"));
        }
        let (major, minor, vflags) = (v[8], v[9], r16(v, 10));
        if major != 3 {
            return Err(NtfsWriteError::Unsupported(format!(
                "NTFS version {major}.{minor}"
            )));
        }
        if vflags & 0x0001 != 0 {
            return Err(NtfsWriteError::DirtyVolume);
        }
        if vflags & 0x4000 != 0 {
            return Err(NtfsWriteError::Unsupported(
                "$Volume flag chkdsk-underway (0x4000)".into(),
            ));
        }

        let r2 = w.read_record(2)?;
        let (lruns, lsize) = w.nonres_runs(&r2, DATA, &[], "$LogFile")?;
        let head = w.read_runs(&lruns, 0, lsize.min(logfile::HEAD))?;
        logfile::check(&head).map_err(NtfsWriteError::LogFileNotClean)?;

        let r10 = w.read_record(10)?;
        let up = w.stream(&r10, DATA, &[], 131_072, "$UpCase")?;
        if up.len() < 256 {
            return Err(corrupt("$UpCase", format!("{} bytes", up.len())));
        }
        w.upcase = UpCase::from_bytes(&up);

        let r6 = w.read_record(6)?;
        let (bruns, bsize) = w.nonres_runs(&r6, DATA, &[], "$Bitmap")?;
        let need = boot.total_clusters.div_ceil(8);
        if bsize < need || bsize > MAX_BITMAP {
            return Err(corrupt(
                "$Bitmap",
                format!("{bsize} bytes for {} clusters", boot.total_clusters),
            ));
        }
        let bytes = w.read_runs(&bruns, 0, bsize)?;
        w.bitmap = Bitmap::new(bytes, boot.total_clusters);
        w.bitmap_runs = bruns;

        w.check_hiberfil()?;
        Ok(w)
    }

    /// Fix the time stamped on changes (seconds since the epoch); `None` is now.
    pub fn set_clock(&mut self, clock: Option<i64>) {
        self.clock = clock;
    }

    fn now(&self) -> u64 {
        let t = self.clock.unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0)
        });
        nt_time(t)
    }

    fn check_hiberfil(&self) -> Result<(), NtfsWriteError> {
        let root = self.read_record(ROOT)?;
        let Some(fref) = self.find_in_dir(&root, &utf16("hiberfil.sys"))? else {
            return Ok(());
        };
        let rec = self.read_record(fref & 0xFFFF_FFFF_FFFF)?;
        let Some(a) = rec.find(DATA, &[])? else {
            return Ok(());
        };
        let (len, head) = if a.nonres {
            let nr = attr::nonres(&rec, &a);
            let runs = self.attr_runs(&rec, &a, "hiberfil.sys")?;
            (nr.data, self.read_runs(&runs, 0, nr.data.min(0x20))?)
        } else {
            let v = rec.value(&a);
            (
                v.len() as u64,
                v.get(..v.len().min(0x20)).unwrap_or(&[]).to_vec(),
            )
        };
        let h = hiberfil_header(&head, len);
        // A signature in a file shorter than one page is no image Windows could resume from
        // (GEN-5 warns about it): only the file, as for a resumed one.
        match h.state {
            HiberState::Hibernated => Err(NtfsWriteError::Hibernated(h.describe())),
            HiberState::Truncated | HiberState::Resumed | HiberState::NotHibernated => Ok(()),
        }
    }

    // ---- low-level I/O -------------------------------------------------------------------

    fn cs(&self) -> u64 {
        self.boot.cluster
    }

    /// Call `f(volume_offset, range_in_buffer)` over `[off, off+len)` of a stream with `runs`.
    fn map_runs(
        &self,
        runs: &[Run],
        off: u64,
        len: u64,
        mut f: impl FnMut(Option<u64>, std::ops::Range<usize>) -> Result<(), NtfsWriteError>,
    ) -> Result<(), NtfsWriteError> {
        let cs = self.cs();
        let end = off
            .checked_add(len)
            .ok_or_else(|| corrupt("run list", "offset overflow"))?;
        if end > runlist::clusters(runs).saturating_mul(cs) {
            return Err(corrupt(
                "run list",
                format!("bytes {off}..{end} past the allocation"),
            ));
        }
        for r in runs {
            let rs = r.vcn.saturating_mul(cs);
            let re = r.vcn.saturating_add(r.len).saturating_mul(cs);
            let (s, e) = (off.max(rs), end.min(re));
            if s >= e {
                continue;
            }
            let vol = r.lcn.map(|l| l * cs + (s - rs));
            f(vol, (s - off) as usize..(e - off) as usize)?;
        }
        Ok(())
    }

    fn read_runs(&self, runs: &[Run], off: u64, len: u64) -> Result<Vec<u8>, NtfsWriteError> {
        // Checked before allocating: runs lie inside the volume, so this bounds the buffer.
        let have = runlist::clusters(runs).saturating_mul(self.cs());
        if len > MAX_READ || off.saturating_add(len) > have {
            return Err(corrupt(
                "stream",
                format!("{len} bytes to read at {off} of {have}"),
            ));
        }
        let mut out = vec![0u8; len as usize];
        self.map_runs(runs, off, len, |vol, range| {
            if let (Some(v), Some(buf)) = (vol, out.get_mut(range)) {
                self.dev.read_at(v, buf)?;
            }
            Ok(())
        })?;
        Ok(out)
    }

    fn write_runs(&self, runs: &[Run], off: u64, data: &[u8]) -> Result<(), NtfsWriteError> {
        self.map_runs(runs, off, data.len() as u64, |vol, range| {
            let v = vol.ok_or_else(|| corrupt("run list", "write into a hole"))?;
            self.dev.write_at(v, data.get(range).unwrap_or(&[]))?;
            Ok(())
        })
    }

    fn read_record(&self, n: u64) -> Result<Record, NtfsWriteError> {
        Record::parse(n, self.read_raw_record(n)?)
    }

    fn read_raw_record(&self, n: u64) -> Result<Vec<u8>, NtfsWriteError> {
        if n >= self.mft_records {
            return Err(corrupt(
                "$MFT",
                format!("record {n} past the {} records", self.mft_records),
            ));
        }
        let rs = self.boot.record_size;
        self.read_runs(&self.mft_runs, n * rs, rs)
    }

    fn write_record(&self, rec: &mut Record) -> Result<(), NtfsWriteError> {
        let disk = record::fix(&mut rec.buf);
        let off = rec.no * self.boot.record_size;
        self.write_runs(&self.mft_runs, off, &disk)?;
        if rec.no < self.mirr_records {
            self.write_runs(&self.mirr_runs, off, &disk)?;
        }
        Ok(())
    }

    fn write_bitmaps(&mut self) -> Result<(), NtfsWriteError> {
        for (o, l) in self.bitmap.take_dirty() {
            let bytes = self.bitmap.bytes.get(o..o + l).unwrap_or(&[]).to_vec();
            self.write_runs(&self.bitmap_runs, o as u64, &bytes)?;
        }
        for (o, l) in self.mft_bitmap.take_dirty() {
            let bytes = self.mft_bitmap.bytes.get(o..o + l).unwrap_or(&[]).to_vec();
            self.write_runs(&self.mft_bitmap_runs, o as u64, &bytes)?;
        }
        Ok(())
    }

    /// The runs of a non-resident attribute in a record, from VCN 0, checked against its sizes.
    fn attr_runs(
        &self,
        rec: &Record,
        a: &record::AttrLoc,
        what: &str,
    ) -> Result<Vec<Run>, NtfsWriteError> {
        let nr = attr::nonres(rec, a);
        if nr.lowest_vcn != 0 {
            return Err(refused(
                what,
                "attribute continued in another record (attribute list)",
            ));
        }
        let runs = runlist::decode(
            attr::mapping_pairs(rec, a),
            0,
            self.boot.total_clusters,
            what,
        )?;
        let cl = runlist::clusters(&runs);
        if nr.alloc > cl.saturating_mul(self.cs()) || nr.data > nr.alloc || nr.init > nr.data {
            return Err(corrupt(
                what,
                format!(
                    "sizes {}/{}/{} for {cl} clusters",
                    nr.alloc, nr.data, nr.init
                ),
            ));
        }
        Ok(runs)
    }

    fn nonres_runs(
        &self,
        rec: &Record,
        ty: u32,
        name: &[u16],
        what: &str,
    ) -> Result<(Vec<Run>, u64), NtfsWriteError> {
        let a = rec
            .find(ty, name)?
            .ok_or_else(|| corrupt(what, format!("record {} has no attribute {ty:#x}", rec.no)))?;
        if !a.nonres {
            return Err(NtfsWriteError::Unsupported(format!("{what}: resident")));
        }
        let runs = self.attr_runs(rec, &a, what)?;
        Ok((runs, attr::nonres(rec, &a).data))
    }

    /// A whole attribute value (resident or not), at most `limit` bytes.
    fn stream(
        &self,
        rec: &Record,
        ty: u32,
        name: &[u16],
        limit: u64,
        what: &str,
    ) -> Result<Vec<u8>, NtfsWriteError> {
        let a = rec
            .find(ty, name)?
            .ok_or_else(|| corrupt(what, format!("record {} has no attribute {ty:#x}", rec.no)))?;
        if !a.nonres {
            return Ok(rec.value(&a).to_vec());
        }
        let nr = attr::nonres(rec, &a);
        if nr.data > limit {
            return Err(refused(
                what,
                format!("{} bytes (more than {limit})", nr.data),
            ));
        }
        let runs = self.attr_runs(rec, &a, what)?;
        let mut v = self.read_runs(&runs, 0, nr.data)?;
        if let Some(t) = v.get_mut(nr.init as usize..) {
            t.fill(0);
        }
        Ok(v)
    }

    // ---- directories -------------------------------------------------------------------

    fn dir_index(&self, rec: &Record) -> Result<DirIdx, NtfsWriteError> {
        let what = format!("index of record {}", rec.no);
        let ra = rec
            .find(INDEX_ROOT, &I30)?
            .filter(|a| !a.nonres)
            .ok_or_else(|| NtfsWriteError::NotADirectory(format!("record {}", rec.no)))?;
        let v = rec.value(&ra);
        if v.len() < 0x20 || r32(v, 0) != FILE_NAME || r32(v, 4) != 1 {
            return Err(corrupt(&what, "$INDEX_ROOT is not a file-name index"));
        }
        let block = u64::from(r32(v, 8));
        if block != self.boot.index_size {
            return Err(NtfsWriteError::Unsupported(format!(
                "{what}: index block size {block}"
            )));
        }
        let root = Node {
            buf: v.to_vec(),
            h: 0x10,
        };
        let (alloc_runs, alloc_size) = match rec.find(INDEX_ALLOCATION, &I30)? {
            Some(a) if a.nonres => {
                let runs = self.attr_runs(rec, &a, &what)?;
                (runs, attr::nonres(rec, &a).data)
            }
            Some(_) => return Err(corrupt(&what, "resident $INDEX_ALLOCATION")),
            None => (Vec::new(), 0),
        };
        let vcn_unit = if block >= self.cs() { self.cs() } else { 512 };
        Ok(DirIdx {
            root,
            alloc_runs,
            alloc_size,
            block,
            vcn_unit,
        })
    }

    fn read_block(&self, d: &DirIdx, vcn: u64, cache: &Blocks) -> Result<Node, NtfsWriteError> {
        if let Some(n) = cache.get(&vcn) {
            return Ok(n.clone());
        }
        let what = format!("INDX block {vcn}");
        let off = vcn
            .checked_mul(d.vcn_unit)
            .ok_or_else(|| corrupt(&what, "VCN overflow"))?;
        if off.saturating_add(d.block) > d.alloc_size {
            return Err(corrupt(&what, "past $INDEX_ALLOCATION"));
        }
        let mut buf = self.read_runs(&d.alloc_runs, off, d.block)?;
        record::unfix(&mut buf, b"INDX", &what)?;
        if r64(&buf, 0x10) != vcn {
            return Err(corrupt(&what, "block VCN mismatch"));
        }
        let n = Node { buf, h: 0x18 };
        if n.h + n.allocated() > n.buf.len() {
            return Err(corrupt(&what, "allocated size past the block"));
        }
        Ok(n)
    }

    fn node(&self, d: &DirIdx, id: NodeId, cache: &Blocks) -> Result<Node, NtfsWriteError> {
        match id {
            None => Ok(d.root.clone()),
            Some(v) => self.read_block(d, v, cache),
        }
    }

    /// The file reference of `name` (case-insensitive) in the folder `rec`.
    fn find_in_dir(&self, rec: &Record, name: &[u16]) -> Result<Option<u64>, NtfsWriteError> {
        let d = self.dir_index(rec)?;
        let cache = Blocks::new();
        let mut id: NodeId = None;
        for _ in 0..MAX_DEPTH {
            let node = self.node(&d, id, &cache)?;
            let mut next = None;
            for e in node.entries("index")? {
                if e.last() {
                    next = e.sub;
                    break;
                }
                let (n, _) = node.name(&e);
                match self.upcase.cmp_ic(name, &n) {
                    Ordering::Equal => return Ok(Some(e.file_ref)),
                    Ordering::Less => {
                        next = e.sub;
                        break;
                    }
                    Ordering::Greater => {}
                }
            }
            match next {
                None => return Ok(None),
                Some(v) => id = Some(v),
            }
        }
        Err(corrupt(
            format!("index of record {}", rec.no),
            "deeper than 32 levels",
        ))
    }

    /// The node holding the entry `name` (exact, by full collation) and the entry, or where a
    /// new entry `name` goes (a leaf) and the entry it goes before.
    fn locate(
        &self,
        d: &DirIdx,
        name: &[u16],
        cache: &Blocks,
    ) -> Result<(NodeId, Entry, bool), NtfsWriteError> {
        self.locate_with_path(d, name, cache)
            .map(|(id, e, found, _)| (id, e, found))
    }

    /// [`Self::locate`], also giving the path down to the node: each ancestor node and the
    /// entry whose sub-node was taken, root first.
    #[allow(clippy::type_complexity)]
    fn locate_with_path(
        &self,
        d: &DirIdx,
        name: &[u16],
        cache: &Blocks,
    ) -> Result<(NodeId, Entry, bool, Vec<(NodeId, Entry)>), NtfsWriteError> {
        let mut id: NodeId = None;
        let mut path = Vec::new();
        for _ in 0..MAX_DEPTH {
            let node = self.node(d, id, cache)?;
            let mut stop = None;
            for e in node.entries("index")? {
                if e.last() {
                    stop = Some(e);
                    break;
                }
                let (n, _) = node.name(&e);
                match self.upcase.collate(name, &n) {
                    Ordering::Equal => return Ok((id, e, true, path)),
                    Ordering::Less => {
                        stop = Some(e);
                        break;
                    }
                    Ordering::Greater => {}
                }
            }
            let e = stop.ok_or_else(|| corrupt("index", "node without an end entry"))?;
            match e.sub {
                None => return Ok((id, e, false, path)),
                Some(v) => {
                    path.push((id, e));
                    id = Some(v);
                }
            }
        }
        Err(corrupt("index", "deeper than 32 levels"))
    }

    /// Insert an entry for `key` (a `$FILE_NAME` value) into the folder `dir`, in memory.
    /// When the folder's record has no room for its index to grow while the root holds
    /// entries, the root is first pushed down into a block (freeing the record) and the
    /// insertion done again from the unchanged state.
    fn index_insert(
        &mut self,
        dir: &mut Record,
        file_ref: u64,
        key: &[u8],
        path: &str,
        cache: &mut Blocks,
    ) -> Result<(), NtfsWriteError> {
        let saved = (dir.buf.clone(), cache.clone(), self.bitmap.clone());
        match self.index_insert_once(dir, file_ref, key, path, cache) {
            Err(NtfsWriteError::IndexSplitNeeded(m)) if m.contains(NO_ROOM) => {
                (dir.buf, *cache, self.bitmap) = saved;
                let d = self.dir_index(dir)?;
                if d.root.entries("index")?.len() <= 1
                    || dir.find(INDEX_ALLOCATION, &I30)?.is_none()
                {
                    return Err(NtfsWriteError::IndexSplitNeeded(m));
                }
                let template = self.empty_indx_block(d.block);
                self.push_root_down(dir, &d.root, &template, path, cache)?;
                self.index_insert_once(dir, file_ref, key, path, cache)
            }
            r => r,
        }
    }

    fn index_insert_once(
        &mut self,
        dir: &mut Record,
        file_ref: u64,
        key: &[u8],
        path: &str,
        cache: &mut Blocks,
    ) -> Result<(), NtfsWriteError> {
        let d = self.dir_index(dir)?;
        let name: Vec<u16> = key
            .get(0x42..)
            .unwrap_or(&[])
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        let (id, at, found, ancestors) = self.locate_with_path(&d, &name, cache)?;
        if found {
            return Err(NtfsWriteError::AlreadyExists(path.into()));
        }
        let ent = index::entry(file_ref, key);
        let mut node = self.node(&d, id, cache)?;
        match id {
            Some(vcn) => {
                let cap = node.allocated();
                if !node.insert(at.off, &ent, cap) {
                    return self.split_block(dir, vcn, node, at.off, &ent, &ancestors, path, cache);
                }
                cache.insert(vcn, node);
            }
            None => {
                if !node.insert(at.off, &ent, usize::MAX) {
                    return Err(NtfsWriteError::IndexSplitNeeded(format!(
                        "{path} (a node without room for the entry)"
                    )));
                }
                let il = node.index_length() as u32;
                w32(&mut node.buf, node.h + 8, il);
                if self.set_root(dir, &node, path).is_err() {
                    // The root no longer fits the record: its entries move into a new block.
                    if dir.find(INDEX_ALLOCATION, &I30)?.is_none() {
                        self.add_index_allocation(dir, &node, path)?;
                    }
                    let template = self.empty_indx_block(d.block);
                    self.push_root_down(dir, &node, &template, path, cache)?;
                }
            }
        }
        Ok(())
    }

    /// An empty `INDX` block of `size` bytes (VCN 0, a leaf holding only the end entry), laid
    /// out as Windows and mkntfs do: the update sequence array at 0x28, entries after it.
    fn empty_indx_block(&self, size: u64) -> Node {
        let size = size as usize;
        let usa_count = size / record::STRIDE + 1;
        let first = align8(0x28 + 2 * usa_count);
        let mut b = vec![0u8; size];
        b[..4].copy_from_slice(b"INDX");
        w16(&mut b, 4, 0x28);
        w16(&mut b, 6, usa_count as u16);
        w16(&mut b, 0x28, 1);
        let eo = first - 0x18;
        w32(&mut b, 0x18, eo as u32);
        w32(&mut b, 0x1C, (eo + 0x10) as u32);
        w32(&mut b, 0x20, (size - 0x18) as u32);
        w16(&mut b, first + 8, 0x10);
        w16(&mut b, first + 12, index::LAST);
        Node { buf: b, h: 0x18 }
    }

    /// Give a folder whose index is only its root an empty `$INDEX_ALLOCATION` and `$BITMAP`
    /// named `$I30` (grown by [`Self::index_new_block`]). The root is first emptied in memory to
    /// make room; the caller then replaces it with `root` pushed down.
    fn add_index_allocation(
        &mut self,
        dir: &mut Record,
        root: &Node,
        path: &str,
    ) -> Result<(), NtfsWriteError> {
        let start = r32(&root.buf, root.h) as usize;
        let mut empty = Node {
            buf: root.buf.get(..root.h + start).unwrap_or(&[]).to_vec(),
            h: root.h,
        };
        let mut end = vec![0u8; 0x10];
        w16(&mut end, 8, 0x10);
        w16(&mut end, 12, index::LAST);
        empty.buf.extend_from_slice(&end);
        let il = (empty.buf.len() - empty.h) as u32;
        w32(&mut empty.buf, empty.h + 4, il);
        w32(&mut empty.buf, empty.h + 8, il);
        self.set_root(dir, &empty, path)?;
        let alloc = attr::non_resident(INDEX_ALLOCATION, &I30, &[0], 0, 0, 0, 0);
        dir.insert_attr(alloc).map_err(|_| {
            NtfsWriteError::IndexSplitNeeded(format!("{path} ({NO_ROOM} for $INDEX_ALLOCATION)"))
        })?;
        let bm = attr::resident(attr::BITMAP, &I30, &[0u8; 8], false, 0);
        dir.insert_attr(bm).map_err(|_| {
            NtfsWriteError::IndexSplitNeeded(format!("{path} ({NO_ROOM} for $BITMAP)"))
        })?;
        Ok(())
    }

    /// Split the full block `vcn` (a leaf or an internal node) while inserting `ent` at `at`:
    /// the lower half moves to a new block, the median goes up into the parent (pointing at
    /// the new block), the upper half stays. A full parent block is split the same way, up to
    /// the root; a root that no longer fits its record is pushed down into a new block (the
    /// tree grows a level). In an internal node the new block's end entry takes the median's
    /// old sub-node.
    #[allow(clippy::too_many_arguments)]
    fn split_block(
        &mut self,
        dir: &mut Record,
        vcn: u64,
        leaf: Node,
        at: usize,
        ent: &[u8],
        ancestors: &[(NodeId, Entry)],
        path: &str,
        cache: &mut Blocks,
    ) -> Result<(), NtfsWriteError> {
        let what = format!("INDX block {vcn}");
        let mut list: Vec<Vec<u8>> = Vec::new();
        let mut end = None;
        for e in leaf.entries(&what)? {
            if e.off == at {
                list.push(ent.to_vec());
            }
            if e.last() {
                end = Some(e);
                break;
            }
            list.push(leaf.buf.get(e.off..e.off + e.len).unwrap_or(&[]).to_vec());
        }
        let end = end.ok_or_else(|| corrupt(&what, "no end entry"))?;
        let internal = end.sub.is_some();
        if list
            .iter()
            .any(|e| (r16(e, 12) & index::HAS_SUB != 0) != internal)
        {
            return Err(corrupt(
                &what,
                "entries with and without sub-nodes in one node",
            ));
        }
        if list.len() < 3 {
            return Err(NtfsWriteError::IndexSplitNeeded(format!(
                "{path} (fewer than 3 entries to split)"
            )));
        }
        let m = list.len() / 2;
        let upper: Vec<u8> = list[m + 1..].concat();
        let lower: Vec<u8> = list[..m].concat();
        let mut median = list[m].clone();
        let upper_end = leaf
            .buf
            .get(end.off..end.off + end.len)
            .unwrap_or(&[])
            .to_vec();
        let lower_end = if internal {
            let mut e = vec![0u8; 0x18];
            w16(&mut e, 8, 0x18);
            w16(&mut e, 12, index::LAST | index::HAS_SUB);
            w64(&mut e, 0x10, r64(&median, median.len() - 8));
            e
        } else {
            upper_end.clone()
        };
        let cap = leaf.allocated();
        let start = r32(&leaf.buf, leaf.h) as usize;
        if start + upper.len() + upper_end.len() > cap
            || start + lower.len() + lower_end.len() > cap
        {
            return Err(NtfsWriteError::IndexSplitNeeded(format!(
                "{path} (a half does not fit a block)"
            )));
        }
        // The median, now pointing at the new block, goes into the parent first (a refusal
        // there leaves nothing changed on disk).
        let new_vcn = self.index_new_block(dir, path)?;
        if internal {
            let ml = median.len();
            w64(&mut median, ml - 8, new_vcn);
        } else {
            let mlen = median.len() + 8;
            median.resize(mlen, 0);
            w16(&mut median, 8, mlen as u16);
            let flags = r16(&median, 12) | index::HAS_SUB;
            w16(&mut median, 12, flags);
            w64(&mut median, mlen - 8, new_vcn);
        }
        let d = self.dir_index(dir)?;
        let (&(pid, pe), above) = ancestors
            .split_last()
            .ok_or_else(|| corrupt(path, "index block without parent"))?;
        let mut pnode = self.node(&d, pid, cache)?;
        match pid {
            Some(pv) => {
                let pcap = pnode.allocated();
                if pnode.insert(pe.off, &median, pcap) {
                    cache.insert(pv, pnode);
                } else {
                    self.split_block(dir, pv, pnode, pe.off, &median, above, path, cache)?;
                }
            }
            None => {
                pnode.insert(pe.off, &median, usize::MAX);
                let il = pnode.index_length() as u32;
                w32(&mut pnode.buf, pnode.h + 8, il);
                if self.set_root(dir, &pnode, path).is_err() {
                    self.push_root_down(dir, &pnode, &leaf, path, cache)?;
                }
            }
        }
        let fill = |node: &mut Node, body: &[u8], last: &[u8]| {
            let s0 = node.h + start;
            let total = body.len() + last.len();
            if let Some(b) = node.buf.get_mut(s0..) {
                b.fill(0);
            }
            if let Some(b) = node.buf.get_mut(s0..s0 + body.len()) {
                b.copy_from_slice(body);
            }
            if let Some(b) = node.buf.get_mut(s0 + body.len()..s0 + total) {
                b.copy_from_slice(last);
            }
            w32(&mut node.buf, node.h + 4, (start + total) as u32);
        };
        let mut old = leaf;
        let mut new = old.clone();
        fill(&mut old, &upper, &upper_end);
        fill(&mut new, &lower, &lower_end);
        w64(&mut new.buf, 0x10, new_vcn);
        w64(&mut new.buf, 0x08, 0);
        cache.insert(vcn, old);
        cache.insert(new_vcn, new);
        Ok(())
    }

    /// The root node `root` (already holding a new entry) does not fit the record: move its
    /// entries into a new internal block (`template` gives the block header) and leave the root
    /// an end entry pointing at it.
    fn push_root_down(
        &mut self,
        dir: &mut Record,
        root: &Node,
        template: &Node,
        path: &str,
        cache: &mut Blocks,
    ) -> Result<(), NtfsWriteError> {
        let rstart = root.h + r32(&root.buf, root.h) as usize;
        let rend = root.h + root.index_length();
        let body = root.buf.get(rstart..rend).unwrap_or(&[]).to_vec();
        let bstart = r32(&template.buf, template.h) as usize;
        if bstart + body.len() > template.allocated() {
            return Err(NtfsWriteError::IndexSplitNeeded(format!(
                "{path} (the root's entries do not fit a block)"
            )));
        }
        // The root shrinks to its end entry first: the record then has room for the
        // allocation and bitmap to grow.
        let mut new_root = Node {
            buf: root.buf.get(..rstart).unwrap_or(&[]).to_vec(),
            h: root.h,
        };
        let mut end = vec![0u8; 0x18];
        w16(&mut end, 8, 0x18);
        w16(&mut end, 12, index::LAST | index::HAS_SUB);
        new_root.buf.extend_from_slice(&end);
        let il = (new_root.buf.len() - new_root.h) as u32;
        w32(&mut new_root.buf, new_root.h + 4, il);
        w32(&mut new_root.buf, new_root.h + 8, il);
        if let Some(f) = new_root.buf.get_mut(new_root.h + 0x0C) {
            *f = 1;
        }
        self.set_root(dir, &new_root, path)?;
        let vcn = self.index_new_block(dir, path)?;
        let sub_at = new_root.buf.len() - 8;
        w64(&mut new_root.buf, sub_at, vcn);
        let mut blk = template.clone();
        let s0 = blk.h + bstart;
        if let Some(b) = blk.buf.get_mut(s0..) {
            b.fill(0);
        }
        if let Some(b) = blk.buf.get_mut(s0..s0 + body.len()) {
            b.copy_from_slice(&body);
        }
        w32(&mut blk.buf, blk.h + 4, (bstart + body.len()) as u32);
        // The block is internal when the root was (its entries carry sub-nodes).
        let internal = root.buf.get(root.h + 0x0C).copied().unwrap_or(0) & 1;
        if let Some(f) = blk.buf.get_mut(blk.h + 0x0C) {
            *f = internal;
        }
        w64(&mut blk.buf, 0x10, vcn);
        w64(&mut blk.buf, 0x08, 0);
        self.set_root(dir, &new_root, path)?;
        cache.insert(vcn, blk);
        Ok(())
    }

    /// A free `INDX` block of the folder: a clear bit of its `$I30` `$BITMAP`, the allocation
    /// grown by one block when all are used. Changes `dir` in memory; returns the VCN.
    fn index_new_block(&mut self, dir: &mut Record, path: &str) -> Result<u64, NtfsWriteError> {
        let d = self.dir_index(dir)?;
        let ba = dir
            .find(attr::BITMAP, &I30)?
            .ok_or_else(|| corrupt(path, "index without $BITMAP"))?;
        if ba.nonres {
            return Err(NtfsWriteError::IndexSplitNeeded(format!(
                "{path} (non-resident index bitmap)"
            )));
        }
        let mut bm = dir.value(&ba).to_vec();
        let blocks = d.alloc_size / d.block;
        let free = (0..blocks).find(|&b| {
            bm.get((b / 8) as usize)
                .is_some_and(|x| x & (1 << (b % 8)) == 0)
        });
        let b = match free {
            Some(b) => b,
            None => {
                // Grow $INDEX_ALLOCATION by one block.
                let aa = dir
                    .find(INDEX_ALLOCATION, &I30)?
                    .ok_or_else(|| corrupt(path, "no $INDEX_ALLOCATION"))?;
                let nr = attr::nonres(dir, &aa);
                let mut runs = d.alloc_runs.clone();
                let new_size = d.alloc_size + d.block;
                let cs = self.cs();
                let mut alloc = nr.alloc;
                if new_size > alloc {
                    let need = (new_size - alloc).div_ceil(cs);
                    let hint = runs
                        .last()
                        .and_then(|r| r.lcn.map(|l| l + r.len))
                        .unwrap_or(0);
                    let got = self
                        .bitmap
                        .alloc(need, hint)
                        .ok_or_else(|| NtfsWriteError::NoSpace(format!("{path}: index block")))?;
                    for (l, n) in got {
                        runlist::push(&mut runs, l, n);
                    }
                    alloc += need * cs;
                }
                let pairs = runlist::encode(&runs);
                let clusters = runlist::clusters(&runs);
                let inst = attr::instance(dir, &aa);
                let new = attr::non_resident(
                    INDEX_ALLOCATION,
                    &I30,
                    &pairs,
                    clusters,
                    alloc,
                    new_size,
                    inst,
                );
                dir.replace_attr(&aa, &new).map_err(|_| {
                    NtfsWriteError::IndexSplitNeeded(format!(
                        "{path} ({NO_ROOM} for a longer $INDEX_ALLOCATION run list)"
                    ))
                })?;
                blocks
            }
        };
        let byte = (b / 8) as usize;
        if byte >= bm.len() {
            bm.resize(align8(byte + 1), 0);
        }
        if let Some(x) = bm.get_mut(byte) {
            *x |= 1 << (b % 8);
        }
        let ba = dir
            .find(attr::BITMAP, &I30)?
            .ok_or_else(|| corrupt(path, "index without $BITMAP"))?;
        let inst = attr::instance(dir, &ba);
        let new = attr::resident(attr::BITMAP, &I30, &bm, false, inst);
        dir.replace_attr(&ba, &new).map_err(|_| {
            NtfsWriteError::IndexSplitNeeded(format!(
                "{path} ({NO_ROOM} for a longer index $BITMAP)"
            ))
        })?;
        Ok(b * d.block / d.vcn_unit)
    }

    fn set_root(&self, dir: &mut Record, node: &Node, path: &str) -> Result<(), NtfsWriteError> {
        let ra = dir
            .find(INDEX_ROOT, &I30)?
            .ok_or_else(|| corrupt(path, "no $INDEX_ROOT"))?;
        let inst = attr::instance(dir, &ra);
        let new = attr::resident(INDEX_ROOT, &I30, &node.buf, false, inst);
        dir.replace_attr(&ra, &new).map_err(|_| {
            NtfsWriteError::IndexSplitNeeded(format!("{path} ({NO_ROOM} for the index root)"))
        })
    }

    /// Remove the entry of record `rec_no` named `name` from the folder `dir`, in memory.
    fn index_remove(
        &self,
        dir: &mut Record,
        rec_no: u64,
        name: &[u16],
        path: &str,
        cache: &mut Blocks,
    ) -> Result<(), NtfsWriteError> {
        let d = self.dir_index(dir)?;
        let (id, e, found) = self.locate(&d, name, cache)?;
        if !found || e.rec() != rec_no {
            return Err(corrupt(
                path,
                format!("no index entry {:?} for record {rec_no}", name_str(name)),
            ));
        }
        if let Some(sub) = e.sub {
            return self.index_remove_internal(dir, &d, id, &e, sub, path, cache);
        }
        let mut node = self.node(&d, id, cache)?;
        match id {
            Some(vcn) => {
                if node.entries("index")?.len() <= 2 {
                    return Err(refused(path, "its index block would become empty"));
                }
                node.remove(&e);
                cache.insert(vcn, node);
            }
            None => {
                node.remove(&e);
                let il = node.index_length() as u32;
                w32(&mut node.buf, node.h + 8, il);
                node.buf.truncate(node.h + il as usize);
                self.set_root(dir, &node, path)?;
            }
        }
        Ok(())
    }

    /// Remove the entry `e` of the internal node `id`: its in-order predecessor (the last entry
    /// of the rightmost leaf below `sub`) takes its place, keeping `e`'s sub-node. Refused
    /// when that leaf would become empty or the node has no room for a longer replacement
    /// (no merge or rebalance).
    #[allow(clippy::too_many_arguments)]
    fn index_remove_internal(
        &self,
        dir: &mut Record,
        d: &DirIdx,
        id: NodeId,
        e: &Entry,
        sub: u64,
        path: &str,
        cache: &mut Blocks,
    ) -> Result<(), NtfsWriteError> {
        let mut vcn = sub;
        for _ in 0..MAX_DEPTH {
            let mut leaf = self.read_block(d, vcn, cache)?;
            let entries = leaf.entries("index")?;
            let end = entries
                .last()
                .copied()
                .ok_or_else(|| corrupt("index", "node without an end entry"))?;
            if let Some(next) = end.sub {
                vcn = next;
                continue;
            }
            if entries.len() <= 2 {
                return Err(refused(path, "its index block would become empty"));
            }
            let pred = entries[entries.len() - 2];
            let mut rep = leaf
                .buf
                .get(pred.off..pred.off + pred.len)
                .unwrap_or(&[])
                .to_vec();
            let rl = rep.len() + 8;
            rep.resize(rl, 0);
            w16(&mut rep, 8, rl as u16);
            let flags = r16(&rep, 12) | index::HAS_SUB;
            w16(&mut rep, 12, flags);
            w64(&mut rep, rl - 8, sub);
            let mut node = self.node(d, id, cache)?;
            node.remove(e);
            match id {
                Some(v) => {
                    let cap = node.allocated();
                    if !node.insert(e.off, &rep, cap) {
                        return Err(refused(
                            path,
                            "its index entry is in a full internal node (removal needs a rebalance)",
                        ));
                    }
                    cache.insert(v, node);
                }
                None => {
                    node.insert(e.off, &rep, usize::MAX);
                    let il = node.index_length() as u32;
                    w32(&mut node.buf, node.h + 8, il);
                    node.buf.truncate(node.h + il as usize);
                    self.set_root(dir, &node, path).map_err(|_| {
                        refused(path, "the folder's record has no room for the index change")
                    })?;
                }
            }
            leaf.remove(&pred);
            cache.insert(vcn, leaf);
            return Ok(());
        }
        Err(corrupt("index", "deeper than 32 levels"))
    }

    /// Patch the sizes (and modification times) in every `$I30` entry of `rec_no` named
    /// `name` in `dir`, in memory.
    fn index_set_sizes(
        &self,
        dir: &mut Record,
        rec_no: u64,
        name: &[u16],
        sizes: (u64, u64, u64),
        cache: &mut Blocks,
    ) -> Result<(), NtfsWriteError> {
        let d = self.dir_index(dir)?;
        let (id, e, found) = self.locate(&d, name, cache)?;
        if !found || e.rec() != rec_no {
            return Err(corrupt(
                format!("index of record {}", dir.no),
                format!("no entry {:?}", name_str(name)),
            ));
        }
        let mut node = self.node(&d, id, cache)?;
        let k = e.key_off;
        w64(&mut node.buf, k + 0x10, sizes.2);
        w64(&mut node.buf, k + 0x18, sizes.2);
        w64(&mut node.buf, k + 0x28, sizes.0);
        w64(&mut node.buf, k + 0x30, sizes.1);
        match id {
            Some(vcn) => {
                cache.insert(vcn, node);
            }
            None => self.set_root(dir, &node, "index")?,
        }
        Ok(())
    }

    fn write_blocks(&self, dir: &Record, cache: &mut Blocks) -> Result<(), NtfsWriteError> {
        if cache.is_empty() {
            return Ok(());
        }
        let d = self.dir_index(dir)?;
        for (vcn, node) in cache.iter_mut() {
            let disk = record::fix(&mut node.buf);
            self.write_runs(&d.alloc_runs, vcn * d.vcn_unit, &disk)?;
        }
        cache.clear();
        Ok(())
    }

    // ---- paths ----------------------------------------------------------------------------

    /// The record of `path` and the record of its folder.
    fn lookup(&self, path: &str) -> Result<(Record, Option<Record>), NtfsWriteError> {
        let comps = components(path)?;
        let mut cur = self.read_record(ROOT)?;
        let mut parent = None;
        for c in &comps {
            if !cur.is_dir() {
                return Err(NtfsWriteError::NotADirectory(path.into()));
            }
            let fref = self
                .find_in_dir(&cur, c)?
                .ok_or_else(|| NtfsWriteError::NotFound(path.into()))?;
            let next = self.read_record(fref & 0xFFFF_FFFF_FFFF)?;
            if !next.in_use() || next.seq() != (fref >> 48) as u16 {
                return Err(corrupt(path, "index entry points to a stale record"));
            }
            parent = Some(cur);
            cur = next;
        }
        Ok((cur, parent))
    }

    /// The shape of the `$I30` index of the folder `path`: (levels including the root, entries
    /// in the root besides its end entry, `INDX` blocks in use). For tests and diagnostics.
    pub fn index_shape(&self, path: &str) -> Result<(usize, usize, usize), NtfsWriteError> {
        let (rec, _) = self.lookup(path)?;
        let d = self.dir_index(&rec)?;
        let cache = Blocks::new();
        let root_entries = d.root.entries("index")?.len() - 1;
        let (mut depth, mut blocks) = (0usize, 0usize);
        let mut level: Vec<NodeId> = vec![None];
        while !level.is_empty() {
            depth += 1;
            if depth > MAX_DEPTH {
                return Err(corrupt(path, "index deeper than 32 levels"));
            }
            let mut next = Vec::new();
            for id in level {
                blocks += usize::from(id.is_some());
                let node = self.node(&d, id, &cache)?;
                next.extend(
                    node.entries("index")?
                        .iter()
                        .filter_map(|e| e.sub.map(Some)),
                );
            }
            level = next;
        }
        Ok((depth, root_entries, blocks))
    }

    /// Whether anything exists at `path`.
    pub fn exists(&self, path: &str) -> Result<bool, NtfsWriteError> {
        match self.lookup(path) {
            Ok(_) => Ok(true),
            Err(NtfsWriteError::NotFound(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Run `f`, putting the in-memory bitmaps back when it fails.
    fn transact<R>(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<R, NtfsWriteError>,
    ) -> Result<R, NtfsWriteError> {
        let saved = (self.bitmap.clone(), self.mft_bitmap.clone());
        let r = f(self);
        if r.is_err() {
            (self.bitmap, self.mft_bitmap) = saved;
        }
        r
    }

    /// `$FILE_NAME` attributes of `rec`: (attribute, value).
    fn file_names(rec: &Record) -> Result<Vec<(record::AttrLoc, Vec<u8>)>, NtfsWriteError> {
        Ok(rec
            .attrs()?
            .into_iter()
            .filter(|a| a.ty == FILE_NAME && !a.nonres)
            .map(|a| (a, rec.value(&a).to_vec()))
            .filter(|(_, v)| v.len() >= 0x42)
            .collect())
    }

    fn fn_name(v: &[u8]) -> Vec<u16> {
        let n = usize::from(v.get(0x40).copied().unwrap_or(0));
        (0..n).map(|i| r16(v, 0x42 + 2 * i)).collect()
    }

    /// The content of the regular file at `path` (at most [`MAX_READ`] bytes).
    pub fn read_file(&self, path: &str) -> Result<Vec<u8>, NtfsWriteError> {
        let (rec, _) = self.lookup(path)?;
        if rec.is_dir() {
            return Err(NtfsWriteError::NotAFile(path.into()));
        }
        self.stream(&rec, DATA, &[], MAX_READ, path)
    }

    // ---- replace ----------------------------------------------------------------------------

    /// Replace the unnamed `$DATA` of the file at `path` with `data`.
    pub fn replace_file(&mut self, path: &str, data: &[u8]) -> Result<(), NtfsWriteError> {
        self.transact(|w| w.replace_inner(path, data))
    }

    fn check_plain_file(rec: &Record, path: &str) -> Result<(), NtfsWriteError> {
        if !rec.in_use() || rec.base() != 0 {
            return Err(corrupt(path, "not a base record in use"));
        }
        if rec.is_dir() {
            return Err(NtfsWriteError::NotAFile(path.into()));
        }
        if rec.find(attr::ATTRIBUTE_LIST, &[])?.is_some() {
            return Err(refused(path, "the file has an attribute list"));
        }
        let si = rec
            .find(STANDARD_INFORMATION, &[])?
            .ok_or_else(|| corrupt(path, "no $STANDARD_INFORMATION"))?;
        let fa = r32(rec.value(&si), 0x20);
        for (bit, what) in [
            (SI_COMPRESSED, "compressed"),
            (SI_ENCRYPTED, "encrypted"),
            (SI_SPARSE, "sparse"),
            (SI_REPARSE, "a reparse point"),
        ] {
            if fa & bit != 0 {
                return Err(refused(path, format!("the file is {what}")));
            }
        }
        Ok(())
    }

    /// Build the new unnamed `$DATA` attribute for `data` in `rec` (allocating clusters);
    /// returns the attribute, the clusters to free and the runs to write the data through.
    #[allow(clippy::type_complexity)]
    fn plan_data(
        &mut self,
        rec: &Record,
        old: Option<&record::AttrLoc>,
        data: &[u8],
        path: &str,
    ) -> Result<(Vec<u8>, Vec<(u64, u64)>, Option<Vec<Run>>, u64), NtfsWriteError> {
        let n = data.len() as u64;
        let cs = self.cs();
        let (mut runs, inst, old_len) = match old {
            Some(a) => {
                if a.flags & (attr::COMPRESSED | attr::ENCRYPTED | attr::SPARSE) != 0 {
                    return Err(refused(
                        path,
                        format!(
                            "$DATA flags {:#x} (compressed, encrypted or sparse)",
                            a.flags
                        ),
                    ));
                }
                let runs = if a.nonres {
                    self.attr_runs(rec, a, path)?
                } else {
                    Vec::new()
                };
                if runs.iter().any(|r| r.lcn.is_none()) {
                    return Err(refused(path, "$DATA has holes (sparse)"));
                }
                (runs, attr::instance(rec, a), a.len)
            }
            None => (Vec::new(), 0, 0),
        };
        let room = rec.buf.len() - (rec.bytes_in_use() - old_len);
        let res_len = 0x18 + align8(data.len());
        if res_len <= room {
            let freed = runlist::truncate(&mut runs, 0);
            let a = attr::resident(DATA, &[], data, false, inst);
            return Ok((a, freed, None, align8(data.len()) as u64));
        }
        let c = n.div_ceil(cs);
        let have = runlist::clusters(&runs);
        let mut freed = Vec::new();
        if c <= have {
            freed = runlist::truncate(&mut runs, c);
        } else {
            let hint = runs
                .last()
                .and_then(|r| r.lcn.map(|l| l + r.len))
                .unwrap_or(self.boot.total_clusters / 2);
            let got = self
                .bitmap
                .alloc(c - have, hint)
                .ok_or_else(|| NtfsWriteError::NoSpace(format!("{path}: {} clusters", c - have)))?;
            for (l, len) in got {
                runlist::push(&mut runs, l, len);
            }
        }
        let pairs = runlist::encode(&runs);
        let a = attr::non_resident(DATA, &[], &pairs, c, c * cs, n, inst);
        if a.len() > room {
            return Err(NtfsWriteError::Unsupported(format!(
                "{path}: {} runs do not fit the MFT record (an attribute list would be needed)",
                runs.len()
            )));
        }
        Ok((a, freed, Some(runs), c * cs))
    }

    fn write_data(&self, runs: &[Run], data: &[u8]) -> Result<(), NtfsWriteError> {
        let cs = self.cs() as usize;
        self.write_runs(runs, 0, data)?;
        let tail = data.len() % cs;
        if tail != 0 {
            self.write_runs(runs, data.len() as u64, &vec![0u8; cs - tail])?;
        }
        Ok(())
    }

    fn replace_inner(&mut self, path: &str, data: &[u8]) -> Result<(), NtfsWriteError> {
        let (mut rec, _) = self.lookup(path)?;
        Self::check_plain_file(&rec, path)?;
        let old = rec
            .find(DATA, &[])?
            .ok_or_else(|| corrupt(path, "no unnamed $DATA"))?;
        let (new_attr, freed, runs, alloc) = self.plan_data(&rec, Some(&old), data, path)?;
        // Parent index entries first in memory: refusals happen before any write.
        let now = self.now();
        let mut parents: BTreeMap<u64, (Record, Blocks)> = BTreeMap::new();
        for (_, v) in Self::file_names(&rec)? {
            let pref = r64(&v, 0) & 0xFFFF_FFFF_FFFF;
            if let std::collections::btree_map::Entry::Vacant(slot) = parents.entry(pref) {
                slot.insert((self.read_record(pref)?, Blocks::new()));
            }
            if let Some((dir, cache)) = parents.get_mut(&pref) {
                let sizes = (alloc, data.len() as u64, now);
                self.index_set_sizes(dir, rec.no, &Self::fn_name(&v), sizes, cache)?;
            }
        }
        rec.replace_attr(&old, &new_attr)?;
        if let Some(si) = rec.find(STANDARD_INFORMATION, &[])? {
            let v = rec.value_mut(&si);
            w64(v, 0x08, now);
            w64(v, 0x10, now);
        }
        if let Some(runs) = &runs {
            self.write_data(runs, data)?;
        }
        self.write_bitmaps()?;
        self.write_record(&mut rec)?;
        for &(l, len) in &freed {
            self.bitmap.set_range(l, len, false);
        }
        self.write_bitmaps()?;
        self.commit_parents(parents.into_values().collect())
    }

    /// Write folders changed in memory; a folder listed twice is merged (the same record).
    fn commit_parents(&self, parents: Vec<(Record, Blocks)>) -> Result<(), NtfsWriteError> {
        for (mut dir, mut cache) in parents {
            self.write_blocks(&dir, &mut cache)?;
            self.write_record(&mut dir)?;
        }
        Ok(())
    }

    /// Keep a copy of `path` as `backup` in the same folder, then replace `path`'s content.
    pub fn backup_and_replace(
        &mut self,
        path: &str,
        backup: &str,
        data: &[u8],
    ) -> Result<(), NtfsWriteError> {
        let (rec, _) = self.lookup(path)?;
        Self::check_plain_file(&rec, path)?;
        let old = self.stream(&rec, DATA, &[], MAX_READ, path)?;
        let si = rec
            .find(STANDARD_INFORMATION, &[])?
            .map(|a| rec.value(&a).to_vec())
            .ok_or_else(|| corrupt(path, "no $STANDARD_INFORMATION"))?;
        let (dir, _) = crate::fs::write::split_path(path);
        let bpath = if dir == "/" {
            format!("/{backup}")
        } else {
            format!("{dir}/{backup}")
        };
        self.ensure_free_record()?;
        self.transact(|w| w.create_inner(&bpath, &old, Some(&si)))?;
        self.replace_file(path, data)
    }

    // ---- create -----------------------------------------------------------------------------

    /// Create the regular file `path` (its folder must exist) holding `data`.
    pub fn create_file(&mut self, path: &str, data: &[u8]) -> Result<(), NtfsWriteError> {
        self.ensure_free_record()?;
        self.transact(|w| w.create_inner(path, data, None))
    }

    /// Names for `name` in folder `dir`: one Win32&DOS name, or a Win32 name and a unique DOS alias.
    fn names_for(&self, dir: &Record, name: &[u16]) -> Result<Vec<(u8, Vec<u16>)>, NtfsWriteError> {
        if is_dos_name(name) {
            return Ok(vec![(WIN32_DOS, name.to_vec())]);
        }
        let (base, ext) = dos_parts(name, &self.upcase);
        for i in 1..100_000u32 {
            let suffix = utf16(&format!("~{i}"));
            let keep = 8usize.saturating_sub(suffix.len()).min(base.len());
            let mut alias: Vec<u16> = base.get(..keep).unwrap_or(&[]).to_vec();
            alias.extend_from_slice(&suffix);
            if !ext.is_empty() {
                alias.push(u16::from(b'.'));
                alias.extend_from_slice(&ext);
            }
            if self.find_in_dir(dir, &alias)?.is_none() {
                return Ok(vec![(WIN32, name.to_vec()), (DOS, alias)]);
            }
        }
        Err(refused(name_str(name), "no free DOS alias"))
    }

    /// The security id of a sibling file in `dir` (the folder's own when it has none).
    fn sibling_security_id(&self, dir: &Record) -> Result<u32, NtfsWriteError> {
        let d = self.dir_index(dir)?;
        let cache = Blocks::new();
        let mut todo: Vec<NodeId> = vec![None];
        let mut looked = 0;
        while let Some(id) = todo.pop() {
            let node = self.node(&d, id, &cache)?;
            for e in node.entries("index")? {
                if let Some(s) = e.sub {
                    if todo.len() < 64 {
                        todo.push(Some(s));
                    }
                }
                if e.last() || e.rec() < FIRST_USER {
                    continue;
                }
                looked += 1;
                if looked > 64 {
                    break;
                }
                let Ok(r) = self.read_record(e.rec()) else {
                    continue;
                };
                if r.in_use() && !r.is_dir() {
                    if let Some(si) = r.find(STANDARD_INFORMATION, &[])? {
                        let v = r.value(&si);
                        if v.len() >= 0x48 {
                            return Ok(r32(v, 0x34));
                        }
                    }
                }
            }
        }
        let si = dir
            .find(STANDARD_INFORMATION, &[])?
            .ok_or_else(|| corrupt("folder", "no $STANDARD_INFORMATION"))?;
        Ok(r32(dir.value(&si), 0x34))
    }

    /// Create the folder `path` (its parent must exist; an existing `path` is an error).
    pub fn create_dir(&mut self, path: &str) -> Result<(), NtfsWriteError> {
        self.ensure_free_record()?;
        self.transact(|w| w.create_node(path, New::Dir))
    }

    /// Create every missing folder of `path` (an existing folder is kept).
    pub fn create_dir_all(&mut self, path: &str) -> Result<(), NtfsWriteError> {
        let mut cur = String::new();
        for c in components(path)? {
            cur.push('/');
            cur.push_str(&name_str(&c));
            match self.lookup(&cur) {
                Ok((r, _)) if r.is_dir() => {}
                Ok(_) => return Err(NtfsWriteError::NotADirectory(cur)),
                Err(NtfsWriteError::NotFound(_)) => self.create_dir(&cur)?,
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    fn create_inner(
        &mut self,
        path: &str,
        data: &[u8],
        si_from: Option<&[u8]>,
    ) -> Result<(), NtfsWriteError> {
        self.create_node(path, New::File { data, si_from })
    }

    /// Create a file or an empty folder at `path` in an existing folder.
    fn create_node(&mut self, path: &str, new: New) -> Result<(), NtfsWriteError> {
        let comps = components(path)?;
        let name = comps
            .last()
            .ok_or_else(|| NtfsWriteError::InvalidPath(path.into()))?
            .clone();
        check_name(&name)?;
        let (folder, _) = crate::fs::write::split_path(path);
        let (mut dir, _) = self.lookup(folder)?;
        if !dir.is_dir() {
            return Err(NtfsWriteError::NotADirectory(folder.into()));
        }
        if self.find_in_dir(&dir, &name)?.is_some() {
            return Err(NtfsWriteError::AlreadyExists(path.into()));
        }
        let names = self.names_for(&dir, &name)?;
        let now = self.now();
        let mut si = vec![0u8; 0x48];
        match new {
            New::File {
                si_from: Some(s), ..
            } => {
                let n = s.len().min(0x48);
                si[..n].copy_from_slice(&s[..n]);
                w64(&mut si, 0x18, now);
                w64(&mut si, 0x38, 0);
                w64(&mut si, 0x40, 0);
            }
            New::File { si_from: None, .. } => {
                for o in [0, 8, 0x10, 0x18] {
                    w64(&mut si, o, now);
                }
                w32(&mut si, 0x20, ARCHIVE);
                let sid = self.sibling_security_id(&dir)?;
                w32(&mut si, 0x34, sid);
            }
            New::Dir => {
                // A folder gets its parent's owner and security id (what inheritance gives a
                // folder made in it); Windows sets no file attribute on a new folder.
                for o in [0, 8, 0x10, 0x18] {
                    w64(&mut si, o, now);
                }
                let psi = dir
                    .find(STANDARD_INFORMATION, &[])?
                    .map(|a| dir.value(&a).to_vec())
                    .ok_or_else(|| corrupt(folder, "no $STANDARD_INFORMATION"))?;
                if psi.len() >= 0x38 {
                    w32(&mut si, 0x30, r32(&psi, 0x30));
                    w32(&mut si, 0x34, r32(&psi, 0x34));
                }
                // A parent with its own $SECURITY_DESCRIPTOR (mkntfs's root: an NTFS 1.2
                // $STANDARD_INFORMATION) has no id to share: a sibling's, as for files.
                if r32(&si, 0x34) == 0 {
                    let sid = self.sibling_security_id(&dir)?;
                    w32(&mut si, 0x34, sid);
                }
            }
        }
        let times = Times {
            create: r64(&si, 0),
            modify: r64(&si, 8),
            mft_change: r64(&si, 0x10),
            access: r64(&si, 0x18),
        };
        let fattrs = match new {
            New::File { .. } => r32(&si, 0x20),
            New::Dir => r32(&si, 0x20) | DUP_I30_INDEX_PRESENT,
        };

        // A free record.
        let no = self
            .mft_bitmap
            .first_free(FIRST_USER)
            .ok_or(NtfsWriteError::MftFull)?;
        let raw = self.read_raw_record(no)?;
        let seq = match Record::parse(no, raw) {
            Ok(r) if r.in_use() => {
                return Err(corrupt(
                    "$MFT",
                    format!("record {no} is in use but free in $MFT:$BITMAP"),
                ));
            }
            Ok(r) => r.seq().max(1),
            Err(_) => 1,
        };
        let mut rec = self.empty_record(no, seq);
        rec.insert_attr(attr::resident(STANDARD_INFORMATION, &[], &si, false, 0))?;
        let pref = dir.no | (u64::from(dir.seq()) << 48);
        let fref = no | (u64::from(seq) << 48);
        // Sizes are patched in once $DATA is planned (a folder's stay 0).
        let mut keys = Vec::new();
        for (ns, n) in &names {
            let key = index::file_name(pref, times, 0, 0, fattrs, *ns, n);
            rec.insert_attr(attr::resident(FILE_NAME, &[], &key, true, 0))?;
            keys.push(key);
        }
        w16(&mut rec.buf, 0x12, names.len() as u16);
        let mut data_out = None;
        match new {
            New::File { data, .. } => {
                let (dattr, _, runs, alloc) = self.plan_data(&rec, None, data, path)?;
                rec.insert_attr(dattr)?;
                for a in rec.attrs()? {
                    if a.ty == FILE_NAME {
                        let v = rec.value_mut(&a);
                        w64(v, 0x28, alloc);
                        w64(v, 0x30, data.len() as u64);
                    }
                }
                for key in &mut keys {
                    w64(key, 0x28, alloc);
                    w64(key, 0x30, data.len() as u64);
                }
                data_out = runs.map(|r| (r, data));
            }
            New::Dir => {
                let root = self.empty_index_root(&dir)?;
                rec.insert_attr(attr::resident(INDEX_ROOT, &I30, &root, false, 0))?;
                let flags = rec.flags() | record::IS_DIR;
                w16(&mut rec.buf, 0x16, flags);
            }
        }
        let mut cache = Blocks::new();
        for key in &keys {
            self.index_insert(&mut dir, fref, key, path, &mut cache)?;
        }
        self.mft_bitmap.set(no, true);
        if let Some((runs, data)) = &data_out {
            self.write_data(runs, data)?;
        }
        self.write_record(&mut rec)?;
        self.write_bitmaps()?;
        self.commit_parents(vec![(dir, cache)])
    }

    /// The `$INDEX_ROOT` value of an empty `$I30` index: the parent folder's index parameters
    /// (file-name type, filename collation, block size, clusters per block), then an index
    /// header (small index) holding only the end entry.
    fn empty_index_root(&self, parent: &Record) -> Result<Vec<u8>, NtfsWriteError> {
        let d = self.dir_index(parent)?;
        let mut v = vec![0u8; 0x30];
        w32(&mut v, 0, FILE_NAME);
        w32(&mut v, 4, 1);
        w32(&mut v, 8, d.block as u32);
        let cpb = if d.block >= self.cs() {
            d.block / self.cs()
        } else {
            d.block / 512
        };
        v[12] = cpb as u8;
        w32(&mut v, 0x10, 0x10);
        w32(&mut v, 0x14, 0x20);
        w32(&mut v, 0x18, 0x20);
        w16(&mut v, 0x28, 0x10);
        w16(&mut v, 0x2C, index::LAST);
        Ok(v)
    }

    /// Make sure `$MFT` has a free record for a new file or folder: when every record is in
    /// use, `$MFT` grows (see [`Self::grow_mft`]). Outside any transaction: the growth is
    /// written at once and stays (a consistent, larger `$MFT`) whatever follows.
    fn ensure_free_record(&mut self) -> Result<(), NtfsWriteError> {
        if self.mft_bitmap.first_free(FIRST_USER).is_some() {
            return Ok(());
        }
        self.transact(|w| w.grow_mft())
    }

    /// Extend `$MFT` by [`MFT_GROW`] records (whole clusters): clusters from `$Bitmap` appended
    /// to its `$DATA` run list (preferably right after it), `$MFT:$BITMAP` grown to cover them
    /// (its allocation extended when needed), the new records formatted as free `FILE`
    /// records, record 0 rewritten (and its `$MFTMirr` copy). Refused when the run list no
    /// longer fits record 0 (Windows would need an attribute list).
    fn grow_mft(&mut self) -> Result<(), NtfsWriteError> {
        let rs = self.boot.record_size;
        let cs = self.cs();
        let mut r0 = self.read_record(0)?;
        let da = r0
            .find(DATA, &[])?
            .ok_or_else(|| corrupt("$MFT", "no $DATA"))?;
        let nr = attr::nonres(&r0, &da);
        let add = (MFT_GROW * rs).div_ceil(cs) * cs;
        let new_data = self.mft_records * rs + add;
        let new_records = new_data / rs;
        let mut runs = self.mft_runs.clone();
        let have = runlist::clusters(&runs) * cs;
        if new_data > have {
            let need = (new_data - have).div_ceil(cs);
            let hint = runs
                .last()
                .and_then(|r| r.lcn.map(|l| l + r.len))
                .unwrap_or(0);
            let got = self
                .bitmap
                .alloc(need, hint)
                .ok_or_else(|| NtfsWriteError::NoSpace(format!("$MFT: {need} clusters")))?;
            for (l, n) in got {
                runlist::push(&mut runs, l, n);
            }
        }
        let clusters = runlist::clusters(&runs);
        let pairs = runlist::encode(&runs);
        let inst = attr::instance(&r0, &da);
        let new_attr =
            attr::non_resident(DATA, &[], &pairs, clusters, clusters * cs, new_data, inst);
        let too_big = |_| {
            NtfsWriteError::Unsupported(
                "$MFT: its run list no longer fits record 0 (an attribute list would be needed)"
                    .into(),
            )
        };
        r0.replace_attr(&da, &new_attr).map_err(too_big)?;
        let _ = nr;

        // $MFT:$BITMAP: 8-byte multiples, as Windows keeps it.
        let ba = r0
            .find(attr::BITMAP, &[])?
            .filter(|a| a.nonres)
            .ok_or_else(|| corrupt("$MFT", "no non-resident $BITMAP"))?;
        let bnr = attr::nonres(&r0, &ba);
        let bsize = align8(new_records.div_ceil(8) as usize) as u64;
        let mut bruns = self.mft_bitmap_runs.clone();
        let bhave = runlist::clusters(&bruns) * cs;
        if bsize > bhave {
            let need = (bsize - bhave).div_ceil(cs);
            let hint = bruns
                .last()
                .and_then(|r| r.lcn.map(|l| l + r.len))
                .unwrap_or(0);
            let got = self
                .bitmap
                .alloc(need, hint)
                .ok_or_else(|| NtfsWriteError::NoSpace(format!("$MFT:$BITMAP: {need} clusters")))?;
            for (l, n) in got {
                runlist::push(&mut bruns, l, n);
            }
        }
        let bclusters = runlist::clusters(&bruns);
        let bpairs = runlist::encode(&bruns);
        let binst = attr::instance(&r0, &ba);
        let new_b = attr::non_resident(
            attr::BITMAP,
            &[],
            &bpairs,
            bclusters,
            bclusters * cs,
            bsize.max(bnr.data),
            binst,
        );
        r0.replace_attr(&ba, &new_b).map_err(too_big)?;

        // Nothing is written before here. New records, the bitmap's new bytes (zero), then
        // record 0 that makes them part of $MFT, then the clusters in $Bitmap.
        let old_records = self.mft_records;
        self.mft_runs = runs;
        self.mft_records = new_records;
        for n in old_records..new_records {
            let mut rec = self.empty_record(n, 1);
            w16(&mut rec.buf, 0x16, 0);
            self.write_record(&mut rec)?;
        }
        let old_b = self.mft_bitmap.bytes.len() as u64;
        self.mft_bitmap_runs = bruns;
        if bsize > old_b {
            self.write_runs(
                &self.mft_bitmap_runs,
                old_b,
                &vec![0u8; (bsize - old_b) as usize],
            )?;
            self.mft_bitmap.bytes.resize(bsize as usize, 0);
        }
        self.mft_bitmap.bits = new_records;
        self.write_record(&mut r0)?;
        self.write_bitmaps()
    }

    /// A record in use with no attributes.
    fn empty_record(&self, no: u64, seq: u16) -> Record {
        let rs = self.boot.record_size as usize;
        let usa_count = rs / record::STRIDE + 1;
        let attrs = align8(0x30 + 2 * usa_count);
        let mut b = vec![0u8; rs];
        b[..4].copy_from_slice(b"FILE");
        w16(&mut b, 4, 0x30);
        w16(&mut b, 6, usa_count as u16);
        w16(&mut b, 0x30, 1);
        w16(&mut b, 0x10, seq);
        w16(&mut b, 0x14, attrs as u16);
        w16(&mut b, 0x16, IN_USE);
        w32(&mut b, 0x18, (attrs + 8) as u32);
        w32(&mut b, 0x1C, rs as u32);
        w32(&mut b, 0x2C, no as u32);
        w32(&mut b, attrs, record::END);
        Record { no, buf: b }
    }

    // ---- rename -----------------------------------------------------------------------------

    /// Rename `from` to `to`, within a folder or into another existing folder.
    pub fn rename(&mut self, from: &str, to: &str) -> Result<(), NtfsWriteError> {
        self.transact(|w| w.rename_inner(from, to))
    }

    fn rename_inner(&mut self, from: &str, to: &str) -> Result<(), NtfsWriteError> {
        let (td, _) = crate::fs::write::split_path(to);
        let fc = components(from)?;
        let tc = components(to)?;
        if fc.is_empty() || tc.is_empty() {
            return Err(NtfsWriteError::InvalidPath(format!("{from} -> {to}")));
        }
        let newname = tc
            .last()
            .ok_or_else(|| NtfsWriteError::InvalidPath(to.into()))?
            .clone();
        check_name(&newname)?;
        let (mut rec, dir) = self.lookup(from)?;
        let mut dir = dir.ok_or_else(|| NtfsWriteError::InvalidPath(from.into()))?;
        if rec.base() != 0 || rec.find(attr::ATTRIBUTE_LIST, &[])?.is_some() {
            return Err(refused(from, "the file has an attribute list"));
        }
        let (target, _) = self.lookup(td)?;
        if !target.is_dir() {
            return Err(NtfsWriteError::NotADirectory(td.into()));
        }
        // Another folder: its own record and index blocks (`None` when it is the same).
        let mut other = if target.no == dir.no {
            None
        } else {
            if rec.is_dir() {
                self.check_not_below(&target, rec.no, from, to)?;
            }
            Some((target, Blocks::new()))
        };
        let tdir = other.as_ref().map_or(&dir, |(t, _)| t);
        if self.find_in_dir(tdir, &newname)?.is_some() {
            return Err(NtfsWriteError::AlreadyExists(to.into()));
        }
        let tref = tdir.no | (u64::from(tdir.seq()) << 48);
        let names = self.names_for(tdir, &newname)?;
        let mut cache = Blocks::new();
        let mut template = None;
        for (a, v) in Self::file_names(&rec)?.into_iter().rev() {
            if r64(&v, 0) & 0xFFFF_FFFF_FFFF != dir.no {
                continue;
            }
            self.index_remove(&mut dir, rec.no, &Self::fn_name(&v), from, &mut cache)?;
            rec.remove_attr(&a)?;
            if template.is_none() || v.get(0x41) != Some(&DOS) {
                template = Some(v);
            }
        }
        let template = template.ok_or_else(|| corrupt(from, "no $FILE_NAME in its folder"))?;
        let fref = rec.no | (u64::from(rec.seq()) << 48);
        // ntfs-3g and Windows keep current sizes only in the index: take them from $DATA.
        let sizes = match rec.find(DATA, &[])? {
            Some(a) if a.nonres => {
                let nr = attr::nonres(&rec, &a);
                Some((nr.alloc, nr.data))
            }
            Some(a) => Some((
                align8(rec.value(&a).len()) as u64,
                rec.value(&a).len() as u64,
            )),
            None => None,
        };
        for (ns, n) in &names {
            let mut key = template.get(..0x42).unwrap_or(&[]).to_vec();
            w64(&mut key, 0, tref);
            if let Some((alloc, size)) = sizes.filter(|_| !rec.is_dir()) {
                w64(&mut key, 0x28, alloc);
                w64(&mut key, 0x30, size);
            }
            key[0x40] = n.len() as u8;
            key[0x41] = *ns;
            key.extend(n.iter().flat_map(|c| c.to_le_bytes()));
            rec.insert_attr(attr::resident(FILE_NAME, &[], &key, true, 0))?;
            match &mut other {
                Some((t, tcache)) => self.index_insert(t, fref, &key, to, tcache)?,
                None => self.index_insert(&mut dir, fref, &key, to, &mut cache)?,
            }
        }
        let links = Self::file_names(&rec)?.len() as u16;
        w16(&mut rec.buf, 0x12, links);
        self.write_bitmaps()?;
        self.write_record(&mut rec)?;
        let mut parents = vec![(dir, cache)];
        parents.extend(other);
        self.commit_parents(parents)
    }

    /// Refuse moving the folder `moved` into `target` when `target` is `moved` or lies below
    /// it (the tree would lose a branch): `target`'s parents are followed up to the root.
    fn check_not_below(
        &self,
        target: &Record,
        moved: u64,
        from: &str,
        to: &str,
    ) -> Result<(), NtfsWriteError> {
        let mut cur = target.clone();
        for _ in 0..4096 {
            if cur.no == moved {
                return Err(refused(
                    format!("{from} -> {to}"),
                    "a folder cannot move into itself",
                ));
            }
            if cur.no == ROOT {
                return Ok(());
            }
            let parent = Self::file_names(&cur)?
                .first()
                .map(|(_, v)| r64(v, 0) & 0xFFFF_FFFF_FFFF)
                .ok_or_else(|| corrupt(format!("record {}", cur.no), "no $FILE_NAME"))?;
            cur = self.read_record(parent)?;
        }
        Err(corrupt(to, "folder chain deeper than 4096"))
    }

    /// Make every write durable.
    pub fn flush(&mut self) -> Result<(), NtfsWriteError> {
        self.write_bitmaps()?;
        self.dev.flush()?;
        Ok(())
    }
}

impl FsWrite for NtfsWriter {
    fn exists(&self, path: &str) -> Result<bool, WriteError> {
        Ok(NtfsWriter::exists(self, path)?)
    }
    fn replace(&mut self, path: &str, backup: Option<&str>, data: &[u8]) -> Result<(), WriteError> {
        match backup {
            Some(b) => self.backup_and_replace(path, b, data)?,
            None => self.replace_file(path, data)?,
        }
        Ok(())
    }
    /// Missing folders are created first (each with its parent's owner and security id).
    fn create(&mut self, path: &str, data: &[u8]) -> Result<(), WriteError> {
        if NtfsWriter::exists(self, path)? {
            return Err(NtfsWriteError::AlreadyExists(path.into()).into());
        }
        self.create_dir_all(crate::fs::write::split_path(path).0)?;
        Ok(self.create_file(path, data)?)
    }
    fn rename(&mut self, from: &str, to: &str) -> Result<(), WriteError> {
        Ok(NtfsWriter::rename(self, from, to)?)
    }
    fn flush(&mut self) -> Result<(), WriteError> {
        Ok(NtfsWriter::flush(self)?)
    }
}
