//! Files and directories of one fs tree: path lookup through directory items, a file's content
//! rewritten (old extents and their checksums freed, new data inline or in new data extents
//! with crc32c checksums), and new inodes linked into a directory (inode item, inode ref,
//! directory item and index, the parent's size and times).

use super::super::dir::name_hash;
use super::super::tree::Key;
use super::block::{get32, get64, put32, put64};
use super::error::{BtrfsWriteError, corrupt, unsupported};
use super::extent::{insert_csums, release_data_extent};
use super::txn::{NewData, Txn};

pub const INODE_ITEM_KEY: u8 = 1;
pub const INODE_REF_KEY: u8 = 12;
pub const DIR_ITEM_KEY: u8 = 84;
pub const DIR_INDEX_KEY: u8 = 96;
pub const EXTENT_DATA_KEY: u8 = 108;
const ROOT_ITEM_KEY: u8 = 132;
const FIRST_FREE_OBJECTID: u64 = 256;
const LAST_FREE_OBJECTID: u64 = u64::MAX - 255;
const INODE_ITEM_SIZE: usize = 160;
const FILE_EXTENT_HEADER: usize = 21;
const INODE_NODATASUM: u64 = 1;
const S_IFMT: u32 = 0o170000;
const S_IFDIR: u32 = 0o040000;
const S_IFREG: u32 = 0o100000;
const FT_REG_FILE: u8 = 1;
const FT_DIR: u8 = 2;
/// The kernel's default `max_inline` mount option.
const MAX_INLINE: u64 = 2048;
/// Biggest file this writer rewrites or copies in one go.
pub const MAX_FILE: u64 = 1 << 30;

/// The time stamped on what a transaction changes.
#[derive(Debug, Clone, Copy)]
pub struct Stamp {
    pub sec: u64,
    pub nsec: u32,
}

fn put_time(inode: &mut [u8], at: usize, t: Stamp) {
    put64(inode, at, t.sec);
    put32(inode, at + 8, t.nsec);
}

const ATIME: usize = 112;
const CTIME: usize = 124;
const MTIME: usize = 136;
const OTIME: usize = 148;

/// A looked-up inode.
#[derive(Debug, Clone)]
pub struct Inode {
    pub ino: u64,
    pub raw: Vec<u8>,
}

impl Inode {
    pub fn mode(&self) -> u32 {
        get32(&self.raw, 52)
    }
    pub fn is_dir(&self) -> bool {
        self.mode() & S_IFMT == S_IFDIR
    }
    pub fn is_reg(&self) -> bool {
        self.mode() & S_IFMT == S_IFREG
    }
    pub fn size(&self) -> u64 {
        get64(&self.raw, 16)
    }
}

/// One entry of a directory item.
struct DirEntry {
    location: Key,
    name: Vec<u8>,
}

fn parse_dir_items(d: &[u8]) -> Result<Vec<DirEntry>, BtrfsWriteError> {
    let mut out = Vec::new();
    let mut at = 0usize;
    while at < d.len() {
        if at + 30 > d.len() {
            return Err(corrupt("directory item", "truncated"));
        }
        let location = super::block::key_at(d, at);
        let data_len = u16::from_le_bytes([d[at + 25], d[at + 26]]) as usize;
        let name_len = u16::from_le_bytes([d[at + 27], d[at + 28]]) as usize;
        let end = at + 30 + name_len + data_len;
        if end > d.len() {
            return Err(corrupt("directory item", "name runs past the item"));
        }
        out.push(DirEntry {
            location,
            name: d[at + 30..at + 30 + name_len].to_vec(),
        });
        at = end;
    }
    Ok(out)
}

fn dir_entry(location: Key, transid: u64, ty: u8, name: &[u8]) -> Vec<u8> {
    let mut v = vec![0u8; 30];
    super::block::put_key(&mut v, 0, &location);
    put64(&mut v, 17, transid);
    v[27..29].copy_from_slice(&(name.len() as u16).to_le_bytes());
    v[29] = ty;
    v.extend_from_slice(name);
    v
}

pub fn read_inode(txn: &mut Txn, tree: u64, ino: u64) -> Result<Inode, BtrfsWriteError> {
    let raw = txn
        .get(tree, Key::new(ino, INODE_ITEM_KEY, 0))?
        .ok_or_else(|| {
            corrupt(
                super::tree_name(tree),
                format!("inode {ino} has no inode item"),
            )
        })?;
    if raw.len() < INODE_ITEM_SIZE {
        return Err(corrupt(
            super::tree_name(tree),
            format!("inode item {ino} too short"),
        ));
    }
    Ok(Inode { ino, raw })
}

/// The entry `name` of directory `dir`.
fn lookup(txn: &mut Txn, tree: u64, dir: u64, name: &[u8]) -> Result<Option<Key>, BtrfsWriteError> {
    let Some(d) = txn.get(tree, Key::new(dir, DIR_ITEM_KEY, name_hash(name)))? else {
        return Ok(None);
    };
    Ok(parse_dir_items(&d)?
        .into_iter()
        .find(|e| e.name == name)
        .map(|e| e.location))
}

/// Resolve an absolute path inside fs tree `tree` (no subvolume is crossed).
pub fn resolve(
    txn: &mut Txn,
    tree: u64,
    root_dir: u64,
    path: &str,
) -> Result<Inode, BtrfsWriteError> {
    let mut cur = read_inode(txn, tree, root_dir)?;
    let mut walked = String::new();
    for comp in path.split('/').filter(|c| !c.is_empty()) {
        walked.push('/');
        walked.push_str(comp);
        if !cur.is_dir() {
            return Err(BtrfsWriteError::NotADirectory(walked));
        }
        let loc = lookup(txn, tree, cur.ino, comp.as_bytes())?
            .ok_or_else(|| BtrfsWriteError::NotFound(walked.clone()))?;
        match loc.ty {
            INODE_ITEM_KEY => cur = read_inode(txn, tree, loc.objectid)?,
            ROOT_ITEM_KEY => {
                return Err(unsupported(
                    &walked,
                    format!(
                        "crosses into subvolume {} (open that subvolume instead)",
                        loc.objectid
                    ),
                ));
            }
            ty => return Err(corrupt("directory item", format!("location of type {ty}"))),
        }
    }
    Ok(cur)
}

/// Largest content kept inline in the fs tree.
pub fn inline_limit(txn: &Txn) -> u64 {
    MAX_INLINE
        .min(u64::from(txn.ctx.sectorsize) - 1)
        .min((txn.max_item() - FILE_EXTENT_HEADER) as u64)
}

/// Replace the whole content of regular file `inode` with `data`.
pub fn write_content(
    txn: &mut Txn,
    tree: u64,
    inode: &mut Inode,
    data: &[u8],
    now: Stamp,
    path: &str,
) -> Result<(), BtrfsWriteError> {
    let ino = inode.ino;
    if data.len() as u64 > MAX_FILE {
        return Err(unsupported(
            path,
            format!("{} bytes (more than {MAX_FILE})", data.len()),
        ));
    }
    drop_extents(txn, tree, ino, path)?;
    let ss = u64::from(txn.ctx.sectorsize);
    let nodatasum = get64(&inode.raw, 64) & INODE_NODATASUM != 0;
    let mut nbytes = 0u64;
    if data.is_empty() {
        // no extent at all
    } else if data.len() as u64 <= inline_limit(txn) {
        let mut v = vec![0u8; FILE_EXTENT_HEADER];
        put64(&mut v, 0, txn.transid);
        put64(&mut v, 8, data.len() as u64);
        v[20] = 0;
        v.extend_from_slice(data);
        txn.insert(tree, Key::new(ino, EXTENT_DATA_KEY, 0), v)?;
        nbytes = data.len() as u64;
    } else {
        let total = (data.len() as u64).div_ceil(ss) * ss;
        let pieces = txn.alloc_data(total)?;
        let mut file_off = 0u64;
        for (at, len) in pieces {
            let mut buf = vec![0u8; len as usize];
            let from = file_off as usize;
            let to = (file_off + len).min(data.len() as u64) as usize;
            if from < to {
                buf[..to - from].copy_from_slice(&data[from..to]);
            }
            let mut v = vec![0u8; FILE_EXTENT_HEADER + 32];
            put64(&mut v, 0, txn.transid);
            put64(&mut v, 8, len);
            v[20] = 1;
            put64(&mut v, 21, at);
            put64(&mut v, 29, len);
            put64(&mut v, 37, 0);
            put64(&mut v, 45, len);
            txn.insert(tree, Key::new(ino, EXTENT_DATA_KEY, file_off), v)?;
            if !nodatasum {
                insert_csums(txn, at, &buf)?;
            }
            txn.new_data.push(NewData {
                bytenr: at,
                len,
                root: tree,
                ino,
                offset: file_off,
            });
            txn.data_writes.push((at, buf));
            file_off += len;
            nbytes += len;
        }
    }
    put64(&mut inode.raw, 16, data.len() as u64);
    put64(&mut inode.raw, 24, nbytes);
    touch(txn, inode, now);
    txn.update(tree, Key::new(ino, INODE_ITEM_KEY, 0), inode.raw.clone())
}

/// Delete every file extent item of inode `ino`; the data extents they use lose a reference
/// (freed with their checksums when it was the last).
fn drop_extents(txn: &mut Txn, tree: u64, ino: u64, path: &str) -> Result<(), BtrfsWriteError> {
    let old = txn.range(
        tree,
        Key::new(ino, EXTENT_DATA_KEY, 0),
        Key::new(ino, EXTENT_DATA_KEY, u64::MAX),
    )?;
    for (k, d) in &old {
        if d.len() < FILE_EXTENT_HEADER {
            return Err(corrupt(format!("file extent of inode {ino}"), "too short"));
        }
        // encryption (byte 17) and other_encoding (bytes 18..20) are unknown to the kernel too
        if d[17] != 0 || d[18] != 0 || d[19] != 0 {
            return Err(unsupported(path, "an encrypted or encoded extent"));
        }
        let ty = d[20];
        if ty == 1 || ty == 2 {
            if d.len() < FILE_EXTENT_HEADER + 32 {
                return Err(corrupt(format!("file extent of inode {ino}"), "too short"));
            }
            let bytenr = get64(d, 21);
            let len = get64(d, 29);
            let off = get64(d, 37);
            if bytenr != 0 {
                release_data_extent(txn, bytenr, len, tree, ino, k.offset.wrapping_sub(off))?;
            }
        } else if ty != 0 {
            return Err(corrupt(
                format!("file extent of inode {ino}"),
                format!("type {ty}"),
            ));
        }
        txn.delete(tree, *k)?;
    }
    Ok(())
}

/// Item types an inode of a removed regular file may have, beside its extents.
const XATTR_ITEM_KEY: u8 = 24;

/// Unlink regular file `name` of directory `dir` and delete its inode: directory item and
/// index, inode ref, inode item, extended attributes and file extents (the data extents lose
/// their reference), the directory's size and times. Refused (before anything changes): a
/// directory or anything not a regular file, a subvolume, an inode with more than one link,
/// and an inode holding items this writer does not know (named by type).
pub fn remove(
    txn: &mut Txn,
    tree: u64,
    dir: &mut Inode,
    name: &str,
    now: Stamp,
    path: &str,
) -> Result<(), BtrfsWriteError> {
    let nb = name.as_bytes();
    let loc = lookup(txn, tree, dir.ino, nb)?
        .ok_or_else(|| BtrfsWriteError::NotFound(path.to_string()))?;
    if loc.ty != INODE_ITEM_KEY {
        return Err(unsupported(path, "removing a subvolume"));
    }
    let ino = loc.objectid;
    let inode = read_inode(txn, tree, ino)?;
    if !inode.is_reg() {
        return Err(BtrfsWriteError::NotAFile(path.to_string()));
    }
    let nlink = get32(&inode.raw, 40);
    if nlink != 1 {
        return Err(unsupported(
            path,
            format!("a hard-linked inode ({nlink} links)"),
        ));
    }
    let items = txn.range(tree, Key::new(ino, 0, 0), Key::new(ino, u8::MAX, u64::MAX))?;
    let mut xattrs = Vec::new();
    for (k, _) in &items {
        match k.ty {
            INODE_ITEM_KEY | EXTENT_DATA_KEY => {}
            INODE_REF_KEY if k.offset == dir.ino => {}
            XATTR_ITEM_KEY => xattrs.push(*k),
            INODE_REF_KEY => {
                return Err(unsupported(path, "an inode linked from another directory"));
            }
            13 => return Err(unsupported(path, "an extended inode ref")),
            36 | 37 => return Err(unsupported(path, "fs-verity items")),
            t => return Err(unsupported(path, format!("an inode item of type {t}"))),
        }
    }
    unlink(txn, tree, dir, nb, ino, now, path)?;
    drop_extents(txn, tree, ino, path)?;
    for k in xattrs {
        txn.delete(tree, k)?;
    }
    txn.delete(tree, Key::new(ino, INODE_ITEM_KEY, 0))?;
    Ok(())
}

/// New transid, sequence, ctime and mtime.
fn touch(txn: &Txn, inode: &mut Inode, now: Stamp) {
    put64(&mut inode.raw, 8, txn.transid);
    let seq = get64(&inode.raw, 72).wrapping_add(1);
    put64(&mut inode.raw, 72, seq);
    put_time(&mut inode.raw, CTIME, now);
    put_time(&mut inode.raw, MTIME, now);
}

fn check_name(name: &str) -> Result<(), BtrfsWriteError> {
    if name.is_empty()
        || name.len() > 255
        || name.contains('\0')
        || name.contains('/')
        || name == "."
        || name == ".."
    {
        return Err(BtrfsWriteError::InvalidName(name.to_string()));
    }
    Ok(())
}

/// What a new inode is made from.
pub enum NewInode<'a> {
    /// A regular file with mode, owner and times of this inode (a backup).
    CopyOf(&'a Inode),
    /// A regular file, 0644 root.
    File,
    /// A directory, 0755 root.
    Dir,
}

/// Link a new, empty inode as `name` in directory `dir`; returns it.
pub fn create(
    txn: &mut Txn,
    tree: u64,
    dir: &mut Inode,
    name: &str,
    kind: NewInode,
    now: Stamp,
) -> Result<Inode, BtrfsWriteError> {
    check_name(name)?;
    let nb = name.as_bytes();
    if lookup(txn, tree, dir.ino, nb)?.is_some() {
        return Err(BtrfsWriteError::AlreadyExists(name.to_string()));
    }
    let last = txn.last_le(tree, Key::new(LAST_FREE_OBJECTID, u8::MAX, u64::MAX))?;
    let ino = last
        .map(|(k, _)| k.objectid + 1)
        .unwrap_or(FIRST_FREE_OBJECTID)
        .max(FIRST_FREE_OBJECTID + 1);
    if ino >= LAST_FREE_OBJECTID {
        return Err(BtrfsWriteError::NoSpace("no free inode number".into()));
    }
    let mut raw = vec![0u8; INODE_ITEM_SIZE];
    let (ty, mode) = match kind {
        NewInode::CopyOf(src) => {
            raw.copy_from_slice(&src.raw[..INODE_ITEM_SIZE]);
            (FT_REG_FILE, src.mode())
        }
        NewInode::File => (FT_REG_FILE, S_IFREG | 0o644),
        NewInode::Dir => (FT_DIR, S_IFDIR | 0o755),
    };
    if matches!(kind, NewInode::File | NewInode::Dir) {
        for at in [ATIME, CTIME, MTIME, OTIME] {
            put_time(&mut raw, at, now);
        }
    }
    put64(&mut raw, 0, txn.transid); // generation
    put64(&mut raw, 8, txn.transid); // transid
    put64(&mut raw, 16, 0); // size
    put64(&mut raw, 24, 0); // nbytes
    put64(&mut raw, 32, 0); // block_group
    put32(&mut raw, 40, 1); // nlink
    put32(&mut raw, 52, mode);
    put64(&mut raw, 56, 0); // rdev
    put64(&mut raw, 72, 0); // sequence
    put_time(&mut raw, OTIME, now);
    let index = next_index(txn, tree, dir.ino)?;
    txn.insert(tree, Key::new(ino, INODE_ITEM_KEY, 0), raw.clone())?;
    link(txn, tree, dir, nb, ino, ty, index, now)?;
    Ok(Inode { ino, raw })
}

/// The next free directory index of `dir`.
fn next_index(txn: &mut Txn, tree: u64, dir: u64) -> Result<u64, BtrfsWriteError> {
    Ok(
        match txn.last_le(tree, Key::new(dir, DIR_INDEX_KEY, u64::MAX))? {
            Some((k, _)) if k.objectid == dir && k.ty == DIR_INDEX_KEY => k.offset + 1,
            _ => 2,
        },
    )
}

/// Link inode `ino` as `name` in `dir`: inode ref, directory item and index, the directory's
/// size and times.
#[allow(clippy::too_many_arguments)]
fn link(
    txn: &mut Txn,
    tree: u64,
    dir: &mut Inode,
    nb: &[u8],
    ino: u64,
    ty: u8,
    index: u64,
    now: Stamp,
) -> Result<(), BtrfsWriteError> {
    let mut r = vec![0u8; 10];
    put64(&mut r, 0, index);
    r[8..10].copy_from_slice(&(nb.len() as u16).to_le_bytes());
    r.extend_from_slice(nb);
    let rkey = Key::new(ino, INODE_REF_KEY, dir.ino);
    match txn.get(tree, rkey)? {
        Some(mut d) => {
            d.extend_from_slice(&r);
            txn.update(tree, rkey, d)?;
        }
        None => txn.insert(tree, rkey, r)?,
    }
    let loc = Key::new(ino, INODE_ITEM_KEY, 0);
    let entry = dir_entry(loc, txn.transid, ty, nb);
    let dkey = Key::new(dir.ino, DIR_ITEM_KEY, name_hash(nb));
    match txn.get(tree, dkey)? {
        Some(mut d) => {
            d.extend_from_slice(&entry);
            txn.update(tree, dkey, d)?;
        }
        None => txn.insert(tree, dkey, entry.clone())?,
    }
    txn.insert(tree, Key::new(dir.ino, DIR_INDEX_KEY, index), entry)?;
    let size = get64(&dir.raw, 16) + 2 * nb.len() as u64;
    put64(&mut dir.raw, 16, size);
    touch(txn, dir, now);
    txn.update(tree, Key::new(dir.ino, INODE_ITEM_KEY, 0), dir.raw.clone())
}

/// Remove the entry `name` (inode `ino`) from `dir`; returns its file type.
fn unlink(
    txn: &mut Txn,
    tree: u64,
    dir: &mut Inode,
    nb: &[u8],
    ino: u64,
    now: Stamp,
    path: &str,
) -> Result<u8, BtrfsWriteError> {
    // inode ref: (index, name) pairs for every name the inode has in this directory
    let rkey = Key::new(ino, INODE_REF_KEY, dir.ino);
    let mut d = txn
        .get(tree, rkey)?
        .ok_or_else(|| unsupported(path, "a name kept in an extended inode ref"))?;
    let mut at = 0usize;
    let mut found = None;
    while at + 10 <= d.len() {
        let n = u16::from_le_bytes([d[at + 8], d[at + 9]]) as usize;
        if at + 10 + n > d.len() {
            return Err(corrupt("inode ref", format!("of inode {ino} truncated")));
        }
        if &d[at + 10..at + 10 + n] == nb {
            found = Some((at, get64(&d, at), 10 + n));
        }
        at += 10 + n;
    }
    let (at, index, len) =
        found.ok_or_else(|| corrupt("inode ref", format!("inode {ino} has no ref for {path}")))?;
    d.drain(at..at + len);
    if d.is_empty() {
        txn.delete(tree, rkey)?;
    } else {
        txn.update(tree, rkey, d)?;
    }
    // the directory item (entries whose names share a hash live together)
    let dkey = Key::new(dir.ino, DIR_ITEM_KEY, name_hash(nb));
    let d = txn
        .get(tree, dkey)?
        .ok_or_else(|| corrupt("directory item", format!("{path} missing")))?;
    let mut at = 0usize;
    let mut keep = Vec::new();
    let mut ty = None;
    for e in parse_dir_items(&d)? {
        let n = 30 + e.name.len() + u16::from_le_bytes([d[at + 25], d[at + 26]]) as usize;
        if e.name == nb {
            ty = Some(d[at + 29]);
        } else {
            keep.extend_from_slice(&d[at..at + n]);
        }
        at += n;
    }
    let ty = ty.ok_or_else(|| corrupt("directory item", format!("{path} missing")))?;
    if keep.is_empty() {
        txn.delete(tree, dkey)?;
    } else {
        txn.update(tree, dkey, keep)?;
    }
    txn.delete(tree, Key::new(dir.ino, DIR_INDEX_KEY, index))?;
    let size = get64(&dir.raw, 16).saturating_sub(2 * nb.len() as u64);
    put64(&mut dir.raw, 16, size);
    touch(txn, dir, now);
    txn.update(tree, Key::new(dir.ino, INODE_ITEM_KEY, 0), dir.raw.clone())?;
    Ok(ty)
}

/// Rename `from_name` of directory `from_dir` to `to_name` in `to_dir` (`None`: the same
/// directory).
#[allow(clippy::too_many_arguments)]
pub fn rename(
    txn: &mut Txn,
    tree: u64,
    from_dir: &mut Inode,
    from_name: &str,
    to_dir: Option<&mut Inode>,
    to_name: &str,
    now: Stamp,
    path: &str,
) -> Result<(), BtrfsWriteError> {
    check_name(to_name)?;
    let loc = lookup(txn, tree, from_dir.ino, from_name.as_bytes())?
        .ok_or_else(|| BtrfsWriteError::NotFound(path.to_string()))?;
    if loc.ty != INODE_ITEM_KEY {
        return Err(unsupported(path, "renaming a subvolume"));
    }
    let target = match &to_dir {
        Some(d) => d.ino,
        None => from_dir.ino,
    };
    if lookup(txn, tree, target, to_name.as_bytes())?.is_some() {
        return Err(BtrfsWriteError::AlreadyExists(to_name.to_string()));
    }
    let ino = loc.objectid;
    let ty = unlink(txn, tree, from_dir, from_name.as_bytes(), ino, now, path)?;
    let dir = match to_dir {
        Some(d) => d,
        None => from_dir,
    };
    let index = next_index(txn, tree, dir.ino)?;
    link(txn, tree, dir, to_name.as_bytes(), ino, ty, index, now)?;
    let mut moved = read_inode(txn, tree, ino)?;
    put64(&mut moved.raw, 8, txn.transid);
    put_time(&mut moved.raw, CTIME, now);
    txn.update(tree, Key::new(ino, INODE_ITEM_KEY, 0), moved.raw)
}
