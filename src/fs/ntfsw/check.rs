//! A consistency checker for what this writer changes (a judge for tests and fuzzing, not a
//! chkdsk): every cluster a run list uses is set in `$Bitmap` and used once, `$Bitmap` has no
//! set bit nothing uses, `$MFT`'s bitmap matches the records in use, every `$I30` index is in
//! `$UpCase` collation order and points at live records with matching sequence numbers (and,
//! for files, the sizes of their `$DATA`), every name of a file is indexed, link counts match
//! the names, and `$MFTMirr` equals the first records of `$MFT`.

use super::attr::{BITMAP, DATA, FILE_NAME, I30, INDEX_ROOT};
use super::bitmap::Bitmap;
use super::index::Node;
use super::record::{Record, r16, r64};
use super::{Blocks, DirIdx, FIRST_USER, NodeId, NtfsWriter, ROOT, runlist};
use std::cmp::Ordering;
use std::collections::BTreeSet;

/// Most problems reported.
const MAX_PROBLEMS: usize = 50;

impl NtfsWriter {
    /// Problems found on the volume (empty: consistent).
    pub fn check(&self) -> Vec<String> {
        let mut p = Vec::new();
        if let Err(e) = self.check_inner(&mut p) {
            p.push(format!("check stopped: {e}"));
        }
        p.truncate(MAX_PROBLEMS);
        p
    }

    fn check_inner(&self, p: &mut Vec<String>) -> Result<(), super::NtfsWriteError> {
        let mut used = Bitmap::new(vec![0u8; self.bitmap.bytes.len()], self.boot.total_clusters);
        let mut records: Vec<Option<Record>> = Vec::new();
        for n in 0..self.mft_records {
            let raw = self.read_raw_record(n)?;
            let rec = Record::parse(n, raw).ok().filter(|r| r.in_use());
            let bit = self.mft_bitmap.get(n);
            match (&rec, bit) {
                (Some(_), false) => p.push(format!("record {n} in use but clear in $MFT:$BITMAP")),
                (None, true) if !(16..FIRST_USER).contains(&n) => {
                    p.push(format!("record {n} set in $MFT:$BITMAP but not in use"))
                }
                _ => {}
            }
            if let Some(r) = &rec {
                for a in r.attrs()? {
                    if !a.nonres {
                        continue;
                    }
                    let lowest = r64(&r.buf, a.off + 0x10);
                    let mp = super::attr::mapping_pairs(r, &a);
                    let runs = match runlist::decode(mp, lowest, self.boot.total_clusters, "check")
                    {
                        Ok(x) => x,
                        Err(e) => {
                            p.push(format!("record {n} attribute {:#x}: {e}", a.ty));
                            continue;
                        }
                    };
                    for run in runs {
                        let Some(l) = run.lcn else { continue };
                        for c in l..l + run.len {
                            if used.get(c) {
                                p.push(format!("cluster {c} used twice (record {n})"));
                            }
                            used.set(c, true);
                            if !self.bitmap.get(c) {
                                p.push(format!("cluster {c} of record {n} is free in $Bitmap"));
                            }
                        }
                    }
                }
            }
            records.push(rec);
        }
        for c in 0..self.boot.total_clusters {
            if self.bitmap.get(c) && !used.get(c) {
                p.push(format!("cluster {c} set in $Bitmap but unused"));
                if p.len() > MAX_PROBLEMS {
                    return Ok(());
                }
            }
        }
        // Indexes.
        let mut indexed: BTreeSet<(u64, Vec<u16>)> = BTreeSet::new();
        for r in records.iter().flatten() {
            if r.is_dir() && r.find(INDEX_ROOT, &I30)?.is_some() {
                self.check_dir(r, &records, &mut indexed, p)?;
            }
        }
        for r in records.iter().flatten() {
            if r.no < FIRST_USER || r.base() != 0 {
                continue;
            }
            let names = NtfsWriter::file_names(r)?;
            if usize::from(r16(&r.buf, 0x12)) != names.len() {
                p.push(format!(
                    "record {}: link count {} for {} names",
                    r.no,
                    r16(&r.buf, 0x12),
                    names.len()
                ));
            }
            for (_, v) in names {
                let name = NtfsWriter::fn_name(&v);
                if !indexed.contains(&(r.no, name.clone())) {
                    p.push(format!(
                        "record {}: name {:?} is in no index",
                        r.no,
                        String::from_utf16_lossy(&name)
                    ));
                }
            }
        }
        // $MFTMirr.
        let rs = self.boot.record_size;
        for n in 0..self.mirr_records {
            let a = self.read_runs(&self.mft_runs, n * rs, rs)?;
            let b = self.read_runs(&self.mirr_runs, n * rs, rs)?;
            if a != b {
                p.push(format!("$MFTMirr record {n} differs from $MFT"));
            }
        }
        Ok(())
    }

    fn check_dir(
        &self,
        dir: &Record,
        records: &[Option<Record>],
        indexed: &mut BTreeSet<(u64, Vec<u16>)>,
        p: &mut Vec<String>,
    ) -> Result<(), super::NtfsWriteError> {
        let d = self.dir_index(dir)?;
        let ibm = match dir.find(BITMAP, &I30)? {
            Some(a) if !a.nonres => dir.value(&a).to_vec(),
            Some(_) => self.stream(dir, BITMAP, &I30, 1 << 20, "index bitmap")?,
            None => Vec::new(),
        };
        let mut names: Vec<Vec<u16>> = Vec::new();
        self.walk(&d, None, 0, dir, records, &ibm, &mut names, indexed, p)?;
        for w in names.windows(2) {
            if self.upcase.collate(&w[0], &w[1]) != Ordering::Less {
                p.push(format!(
                    "folder {}: {:?} before {:?} (not in $UpCase order)",
                    dir.no,
                    String::from_utf16_lossy(&w[0]),
                    String::from_utf16_lossy(&w[1])
                ));
            }
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn walk(
        &self,
        d: &DirIdx,
        id: NodeId,
        depth: usize,
        dir: &Record,
        records: &[Option<Record>],
        ibm: &[u8],
        names: &mut Vec<Vec<u16>>,
        indexed: &mut BTreeSet<(u64, Vec<u16>)>,
        p: &mut Vec<String>,
    ) -> Result<(), super::NtfsWriteError> {
        if depth > super::MAX_DEPTH {
            p.push(format!("folder {}: index too deep", dir.no));
            return Ok(());
        }
        let node: Node = self.node(d, id, &Blocks::new())?;
        for e in node.entries("index")? {
            if let Some(vcn) = e.sub {
                let bit = (vcn.saturating_mul(d.vcn_unit) / d.block) as usize;
                if ibm.get(bit / 8).is_none_or(|b| b & (1 << (bit % 8)) == 0) {
                    p.push(format!(
                        "folder {}: INDX block {vcn} is free in the index bitmap",
                        dir.no
                    ));
                }
                self.walk(
                    d,
                    Some(vcn),
                    depth + 1,
                    dir,
                    records,
                    ibm,
                    names,
                    indexed,
                    p,
                )?;
            }
            if e.last() {
                break;
            }
            let (name, _) = node.name(&e);
            let key = node
                .buf
                .get(e.key_off..e.key_off + e.key_len)
                .unwrap_or(&[]);
            names.push(name.clone());
            let target = usize::try_from(e.rec())
                .ok()
                .and_then(|i| records.get(i))
                .and_then(|r| r.as_ref());
            let Some(t) = target else {
                p.push(format!(
                    "folder {}: {:?} points to record {} not in use",
                    dir.no,
                    String::from_utf16_lossy(&name),
                    e.rec()
                ));
                continue;
            };
            if t.seq() != e.seq() {
                p.push(format!(
                    "folder {}: {:?} sequence {} != record's {}",
                    dir.no,
                    String::from_utf16_lossy(&name),
                    e.seq(),
                    t.seq()
                ));
            }
            if r64(key, 0) & 0xFFFF_FFFF_FFFF != dir.no {
                p.push(format!(
                    "folder {}: {:?} names another parent",
                    dir.no,
                    String::from_utf16_lossy(&name)
                ));
            }
            let has = NtfsWriter::file_names(t)?
                .iter()
                .any(|(_, v)| v.get(0x40..) == key.get(0x40..) && r64(v, 0) == r64(key, 0));
            if !has {
                p.push(format!(
                    "folder {}: {:?} has no matching $FILE_NAME in record {}",
                    dir.no,
                    String::from_utf16_lossy(&name),
                    t.no
                ));
            }
            indexed.insert((t.no, name.clone()));
            if t.no >= FIRST_USER && !t.is_dir() {
                if let Some(a) = t.find(DATA, &[])? {
                    let size = if a.nonres {
                        r64(&t.buf, a.off + 0x30)
                    } else {
                        t.value(&a).len() as u64
                    };
                    if r64(key, 0x30) != size {
                        p.push(format!(
                            "folder {}: {:?} index size {} != $DATA size {size}",
                            dir.no,
                            String::from_utf16_lossy(&name),
                            r64(key, 0x30)
                        ));
                    }
                }
            }
            let _ = FILE_NAME;
        }
        let _ = ROOT;
        Ok(())
    }
}
