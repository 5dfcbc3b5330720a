//! Reading and storing directories in every format the writer edits: short-form (inline),
//! single-block, leaf and node ([`super::dir_long`]). A directory outgrowing its format moves
//! to the next: short-form → block → leaf (data blocks packed again, index built) → node.

use std::collections::{BTreeMap, BTreeSet};

use super::be::get64;
use super::bmap;
use super::dir::{self, Dir, Entry};
use super::dir_long::{self, DGeo, LongDir};
use super::error::{XfsWriteError, corrupt, unsupported};
use super::inode::{CORE, FMT_EXTENTS, FMT_LOCAL, RawInode};
use super::{Txn, XfsWriter};
use crate::fs::xfs::bmbt::{self, Extent};
use crate::fs::xfs::dir2_data::{self, Owner};

/// Cap on the directory bytes read to edit one directory.
const MAX_DIR_BYTES: u64 = 256 << 20;

/// A directory as read for editing.
#[derive(Debug, Clone)]
pub(super) enum DirState {
    /// Short-form or single-block: the whole entry list.
    Small(Dir),
    /// Leaf or node form: the data blocks.
    Long(LongDir),
}

impl DirState {
    /// Whether an entry named `name` exists.
    pub fn has(&self, name: &[u8]) -> Result<bool, XfsWriteError> {
        match self {
            DirState::Small(d) => Ok(d.entries.iter().any(|e| e.name == name)),
            DirState::Long(l) => l.has(name),
        }
    }

    /// Remove the entry `name`; returns it.
    pub fn remove(&mut self, name: &[u8]) -> Result<Option<Entry>, XfsWriteError> {
        match self {
            DirState::Small(d) => Ok(d
                .entries
                .iter()
                .position(|e| e.name == name)
                .map(|p| d.entries.remove(p))),
            DirState::Long(l) => l.remove(name),
        }
    }

    /// Add `e` (its name must not exist).
    pub fn add(&mut self, e: Entry) -> Result<(), XfsWriteError> {
        match self {
            DirState::Small(d) => {
                d.entries.push(e);
                Ok(())
            }
            DirState::Long(l) => l.add(&e),
        }
    }
}

impl XfsWriter {
    fn dgeo(&self) -> DGeo {
        let n = self.geo.dir_blocks();
        DGeo::new(self.geo.bs as usize * n as usize, n, self.geo.ftype)
    }

    /// Directory `ino`'s data fork as `logical block → physical block`, from the inode as
    /// this transaction has it.
    fn dir_map(&self, raw: &RawInode) -> Result<BTreeMap<u64, u64>, XfsWriteError> {
        let mut map = BTreeMap::new();
        if raw.format() == FMT_LOCAL {
            return Ok(map);
        }
        let parsed = crate::fs::xfs::inode::Inode::parse(&self.fs.sb, raw.ino, &raw.raw)?;
        let exts = bmbt::data_extents(&self.fs, &parsed)?;
        let limit = MAX_DIR_BYTES * 3 / u64::from(self.geo.bs);
        let what = format!("directory inode {}", raw.ino);
        for e in &exts {
            if e.unwritten {
                return Err(corrupt(&what, "unwritten extent in a directory"));
            }
            if map.len() as u64 + e.count > limit {
                return Err(unsupported(b"", format!("{what}: directory too large")));
            }
            for k in 0..e.count {
                map.insert(e.startoff + k, e.startblock + k);
            }
        }
        Ok(map)
    }

    /// Read directory `ino` as this transaction has it.
    pub(super) fn open_dir(
        &self,
        t: &mut Txn,
        ino: u64,
        path: &[u8],
    ) -> Result<DirState, XfsWriteError> {
        let ftype = self.geo.ftype;
        let raw = self.txn_inode(t, ino)?.clone();
        let what = format!("directory inode {ino}");
        match raw.format() {
            FMT_LOCAL => {
                let size = raw.size()? as usize;
                let fork = raw.fork()?;
                let data = fork
                    .get(..size)
                    .ok_or_else(|| corrupt(&what, "inline size exceeds the fork"))?;
                Ok(DirState::Small(dir::parse_sf(data, ftype, &what)?))
            }
            FMT_EXTENTS | super::inode::FMT_BTREE => {
                let g = self.dgeo();
                let map = self.dir_map(&raw)?;
                let last = map.keys().next_back().copied().unwrap_or(0);
                if last < g.fsbcount && raw.size()? == g.dbs as u64 {
                    let block = self.read_dir_block(&map, 0, &what)?;
                    return Ok(DirState::Small(dir::parse_block(
                        &block, ino, ftype, &what,
                    )?));
                }
                let _ = path;
                Ok(DirState::Long(self.load_long(&raw, &map, &what)?))
            }
            _ => Err(corrupt(&what, "directory with a device fork")),
        }
    }

    /// Directory block `db` (all its filesystem blocks must be mapped).
    fn read_dir_block(
        &self,
        map: &BTreeMap<u64, u64>,
        db: u64,
        what: &str,
    ) -> Result<Vec<u8>, XfsWriteError> {
        let n = self.geo.dir_blocks();
        let bs = self.geo.bs as usize;
        let mut buf = vec![0u8; bs * n as usize];
        for k in 0..n {
            let pf = map
                .get(&(db * n + k))
                .ok_or_else(|| corrupt(what, format!("directory block {db} partly mapped")))?;
            let dst = buf
                .get_mut(k as usize * bs..(k as usize + 1) * bs)
                .ok_or_else(|| corrupt(what, "block"))?;
            self.dev.read_at(self.geo.fsb_byte(*pf), dst)?;
        }
        Ok(buf)
    }

    fn load_long(
        &self,
        raw: &RawInode,
        map: &BTreeMap<u64, u64>,
        what: &str,
    ) -> Result<LongDir, XfsWriteError> {
        let g = self.dgeo();
        let n = g.fsbcount;
        let mut ld = LongDir {
            ino: raw.ino,
            g,
            uuid: self.geo.meta_uuid,
            data: BTreeMap::new(),
            dirty: BTreeSet::new(),
        };
        let dbs: BTreeSet<u64> = map.keys().map(|l| l / n).collect();
        let mut bytes = 0u64;
        for &db in &dbs {
            if db >= g.leaf_db {
                continue;
            }
            bytes += g.dbs as u64;
            if bytes > MAX_DIR_BYTES {
                return Err(corrupt(what, "directory data too large to edit"));
            }
            let block = self.read_dir_block(map, db, what)?;
            let first = map.get(&(db * n)).copied().unwrap_or(0);
            let own = Owner {
                ino: raw.ino,
                daddr: self.geo.fsb_byte(first) >> 9,
                uuid: &self.geo.meta_uuid,
                v5: true,
                ftype: g.ftype,
            };
            let mut sink = Vec::new();
            dir2_data::parse(
                &block,
                &own,
                db * n,
                &mut sink,
                crate::fs::xfs::dir::MAX_ENTRIES,
            )?;
            ld.data.insert(db, block);
        }
        if !dbs.contains(&g.leaf_db) {
            return Err(corrupt(what, "multi-block directory without a leaf block"));
        }
        let index = self.read_dir_block(map, g.leaf_db, what)?;
        if !dir_long::is_index_magic(&index) {
            return Err(unsupported(
                b"",
                format!("{what}: unknown block at the start of the leaf space"),
            ));
        }
        ld.check()?;
        if raw.size()? != ld.size() {
            return Err(corrupt(
                what,
                format!("size {} but data blocks end at {}", raw.size()?, ld.size()),
            ));
        }
        Ok(ld)
    }

    /// Store directory `st` into inode `ino` (in `t`).
    pub(super) fn store_dir(
        &mut self,
        t: &mut Txn,
        ino: u64,
        st: &DirState,
        path: &[u8],
    ) -> Result<(), XfsWriteError> {
        match st {
            DirState::Small(d) => self.store_small(t, ino, d, path),
            DirState::Long(l) => self.store_long(t, ino, l, path),
        }
    }

    /// Short-form while it fits, else one directory block, else leaf form.
    fn store_small(
        &mut self,
        t: &mut Txn,
        ino: u64,
        d: &Dir,
        path: &[u8],
    ) -> Result<(), XfsWriteError> {
        let ftype = self.geo.ftype;
        let now = self.now();
        let raw = self.txn_inode(t, ino)?.clone();
        let g = self.dgeo();
        let uuid = self.geo.meta_uuid;
        if raw.format() == FMT_LOCAL {
            let sf = dir::encode_sf(d, ftype);
            let lit = raw.lit_end()? - CORE;
            if sf.len() <= lit && d.entries.len() < 256 {
                let i = self.txn_inode(t, ino)?;
                i.set_fork(&sf)?;
                i.set_size(sf.len() as u64)?;
                i.touch(now)?;
                return Ok(());
            }
        }
        let map = self.dir_map(&raw)?;
        let lsn = if raw.format() == FMT_LOCAL {
            0
        } else {
            get64(
                &self.read_dir_block(&map, 0, "directory block")?,
                16,
                "directory block",
            )?
        };
        let Some(mut block) = dir::encode_block(d, ino, 0, lsn, &uuid, g.dbs, ftype)? else {
            let ld = LongDir::build(ino, d.parent, &d.entries, g, uuid)?;
            return self.store_long(t, ino, &ld, path);
        };
        let phys: Vec<u64> = if raw.format() == FMT_LOCAL {
            let exts = self.alloc_extents(self.geo.ino_ag(ino), 0, g.fsbcount, None)?;
            let i = self.txn_inode(t, ino)?;
            i.set_format(FMT_EXTENTS)?;
            i.set_fork(&bmap::encode_all(&exts))?;
            i.set_nextents(exts.len() as u32)?;
            i.set_size(g.dbs as u64)?;
            let nb = i.nblocks()? + g.fsbcount;
            i.set_nblocks(nb)?;
            exts.iter()
                .flat_map(|e| (0..e.count).map(move |k| e.startblock + k))
                .collect()
        } else {
            (0..g.fsbcount)
                .map(|k| map.get(&k).copied())
                .collect::<Option<Vec<u64>>>()
                .ok_or_else(|| corrupt("directory", "block partly mapped"))?
        };
        let first = *phys
            .first()
            .ok_or_else(|| corrupt("directory", "no extents"))?;
        dir_long::seal(
            &mut block,
            dir_long::Kind::Blk,
            self.geo.fsb_byte(first) >> 9,
            "directory block",
        )?;
        self.put_dir_block(t, &phys, &block)?;
        self.txn_inode(t, ino)?.touch(now)?;
        Ok(())
    }

    fn put_dir_block(&self, t: &mut Txn, phys: &[u64], block: &[u8]) -> Result<(), XfsWriteError> {
        let bs = self.geo.bs as usize;
        for (k, pf) in phys.iter().enumerate() {
            let part = block
                .get(k * bs..(k + 1) * bs)
                .ok_or_else(|| corrupt("directory", "block outside the buffer"))?;
            t.blocks.push((self.geo.fsb_byte(*pf), part.to_vec()));
        }
        Ok(())
    }

    /// Store a leaf or node directory: changed data blocks, the rebuilt index, blocks
    /// allocated for new directory blocks and freed for dropped ones, the inode's map.
    fn store_long(
        &mut self,
        t: &mut Txn,
        ino: u64,
        ld: &LongDir,
        path: &[u8],
    ) -> Result<(), XfsWriteError> {
        let now = self.now();
        let raw = self.txn_inode(t, ino)?.clone();
        let g = ld.g;
        let n = g.fsbcount;
        let old_map = self.dir_map(&raw)?;
        let index = ld.index()?;
        let need: BTreeSet<u64> = ld
            .data
            .keys()
            .copied()
            .chain(index.iter().map(|(db, _, _)| *db))
            .collect();
        let mut new_map: BTreeMap<u64, u64> = BTreeMap::new();
        let mut free_list = Vec::new();
        for (&lf, &pf) in &old_map {
            if need.contains(&(lf / n)) {
                new_map.insert(lf, pf);
            } else {
                free_list.push(pf);
            }
        }
        let home = self.geo.ino_ag(ino);
        let mut allocated = 0u64;
        let mut fresh = BTreeSet::new();
        for &db in &need {
            let mapped = (0..n)
                .filter(|k| new_map.contains_key(&(db * n + k)))
                .count() as u64;
            if mapped == n {
                continue;
            }
            if mapped != 0 {
                return Err(corrupt(
                    format!("directory inode {ino}"),
                    format!("directory block {db} partly mapped"),
                ));
            }
            let near = new_map.range(..db * n).next_back().map(|(_, &p)| p + 1);
            for e in self.alloc_extents(home, db * n, n, near)? {
                for k in 0..e.count {
                    new_map.insert(e.startoff + k, e.startblock + k);
                }
            }
            allocated += n;
            fresh.insert(db);
        }
        let freed = free_list.len() as u64;
        for pf in free_list {
            self.free_extent(pf, 1)?;
        }
        // Extents of the new map.
        let mut exts: Vec<Extent> = Vec::new();
        for (&lf, &pf) in &new_map {
            if let Some(last) = exts.last_mut()
                && last.startoff + last.count == lf
                && last.startblock + last.count == pf
                && last.startblock >> self.geo.agblklog == pf >> self.geo.agblklog
                && last.count < bmap::MAX_EXTLEN
            {
                last.count += 1;
                continue;
            }
            exts.push(Extent {
                startoff: lf,
                startblock: pf,
                count: 1,
                unwritten: false,
            });
        }
        let cap = (raw.lit_end()? - CORE) / 16;
        if exts.len() > cap {
            return Err(unsupported(
                path,
                format!(
                    "directory needs {} extents, more than the {cap} an inode's extent list \
                     holds (B+tree-form directories are not written)",
                    exts.len()
                ),
            ));
        }
        if raw.format() == super::inode::FMT_BTREE {
            return Err(unsupported(path, "B+tree-form directory"));
        }
        let phys_of = |db: u64| -> Result<Vec<u64>, XfsWriteError> {
            (0..n)
                .map(|k| new_map.get(&(db * n + k)).copied())
                .collect::<Option<Vec<u64>>>()
                .ok_or_else(|| corrupt("directory", "block unmapped"))
        };
        for (&db, block) in &ld.data {
            if !ld.dirty.contains(&db) && !fresh.contains(&db) {
                continue;
            }
            let phys = phys_of(db)?;
            let mut b = block.clone();
            let first = *phys.first().ok_or_else(|| corrupt("directory", "map"))?;
            dir_long::seal(
                &mut b,
                dir_long::Kind::Blk,
                self.geo.fsb_byte(first) >> 9,
                "directory data block",
            )?;
            self.put_dir_block(t, &phys, &b)?;
        }
        for (db, block, kind) in index {
            let phys = phys_of(db)?;
            let mut b = block;
            let first = *phys.first().ok_or_else(|| corrupt("directory", "map"))?;
            dir_long::seal(
                &mut b,
                kind,
                self.geo.fsb_byte(first) >> 9,
                "directory index block",
            )?;
            self.put_dir_block(t, &phys, &b)?;
        }
        let i = self.txn_inode(t, ino)?;
        i.set_format(FMT_EXTENTS)?;
        i.set_fork(&bmap::encode_all(&exts))?;
        i.set_nextents(exts.len() as u32)?;
        i.set_size(ld.size())?;
        let nb = i
            .nblocks()?
            .checked_add(allocated)
            .and_then(|v| v.checked_sub(freed))
            .ok_or_else(|| corrupt(format!("inode {ino}"), "block count below its extents"))?;
        i.set_nblocks(nb)?;
        i.touch(now)?;
        Ok(())
    }
}
