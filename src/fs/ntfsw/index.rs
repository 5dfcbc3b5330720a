//! `$I30` directory indexes: the `$INDEX_ROOT` node (in the record) and `INDX` blocks of
//! `$INDEX_ALLOCATION`, their entries (a `$FILE_NAME` copy as key), and insertion/removal
//! inside one node. Order is `$UpCase` collation ([`super::upcase::UpCase::collate`]).

use super::error::{NtfsWriteError, corrupt};
use super::record::{align8, r16, r32, r64, w16, w32, w64};

pub const HAS_SUB: u16 = 1;
pub const LAST: u16 = 2;
/// Most entries in one node.
const MAX_NODE_ENTRIES: usize = 1 << 16;

/// File-name namespaces.
pub const WIN32: u8 = 1;
pub const DOS: u8 = 2;
pub const WIN32_DOS: u8 = 3;

/// One entry of a node.
#[derive(Debug, Clone, Copy)]
pub struct Entry {
    pub off: usize,
    pub len: usize,
    pub flags: u16,
    pub file_ref: u64,
    pub key_off: usize,
    pub key_len: usize,
    pub sub: Option<u64>,
}

impl Entry {
    pub fn last(&self) -> bool {
        self.flags & LAST != 0
    }
    pub fn rec(&self) -> u64 {
        self.file_ref & 0xFFFF_FFFF_FFFF
    }
    pub fn seq(&self) -> u16 {
        (self.file_ref >> 48) as u16
    }
}

/// A node: the bytes and where its index header is (0x10 in an `$INDEX_ROOT` value, 0x18 in
/// an `INDX` block).
#[derive(Debug, Clone)]
pub struct Node {
    pub buf: Vec<u8>,
    pub h: usize,
}

impl Node {
    pub fn index_length(&self) -> usize {
        r32(&self.buf, self.h + 4) as usize
    }
    pub fn allocated(&self) -> usize {
        r32(&self.buf, self.h + 8) as usize
    }

    pub fn entries(&self, what: &str) -> Result<Vec<Entry>, NtfsWriteError> {
        let b = &self.buf;
        let start = self.h + r32(b, self.h) as usize;
        let end = self.h + self.index_length();
        if end > b.len() || start >= end || self.h + self.allocated() > b.len() {
            return Err(corrupt(
                what,
                format!("index header: entries {start}..{end} of {}", b.len()),
            ));
        }
        let mut out = Vec::new();
        let mut off = start;
        loop {
            let len = usize::from(r16(b, off + 8));
            let key_len = usize::from(r16(b, off + 10));
            let flags = r16(b, off + 12);
            if len < 0x10 || len % 8 != 0 || off + len > end {
                return Err(corrupt(
                    what,
                    format!("index entry of length {len} at {off}"),
                ));
            }
            let sub_room = if flags & HAS_SUB != 0 { 8 } else { 0 };
            if len < 0x10 + sub_room || 0x10 + key_len > len - sub_room {
                return Err(corrupt(
                    what,
                    format!("index entry key of {key_len} bytes at {off}"),
                ));
            }
            let sub = (flags & HAS_SUB != 0).then(|| r64(b, off + len - 8));
            let e = Entry {
                off,
                len,
                flags,
                file_ref: r64(b, off),
                key_off: off + 0x10,
                key_len,
                sub,
            };
            // A file-name key: 0x42 bytes, then the name's length (at key + 0x40) in UTF-16.
            if !e.last()
                && (key_len < 0x42
                    || 0x42 + 2 * usize::from(b.get(off + 0x50).copied().unwrap_or(0)) > key_len)
            {
                return Err(corrupt(
                    what,
                    format!("file name key of {key_len} bytes at {off}"),
                ));
            }
            out.push(e);
            if e.last() {
                return Ok(out);
            }
            if out.len() > MAX_NODE_ENTRIES {
                return Err(corrupt(what, "too many index entries"));
            }
            off += len;
        }
    }

    /// The file name in an entry's key and its namespace.
    pub fn name(&self, e: &Entry) -> (Vec<u16>, u8) {
        let k = e.key_off;
        let n = usize::from(self.buf.get(k + 0x40).copied().unwrap_or(0));
        let ns = self.buf.get(k + 0x41).copied().unwrap_or(0);
        (
            (0..n).map(|i| r16(&self.buf, k + 0x42 + 2 * i)).collect(),
            ns,
        )
    }

    /// Insert `entry` at byte offset `at` (an entry boundary); false when the node would pass
    /// `cap` bytes of index length.
    pub fn insert(&mut self, at: usize, entry: &[u8], cap: usize) -> bool {
        let il = self.index_length();
        if il + entry.len() > cap {
            return false;
        }
        let end = self.h + il;
        let tail: Vec<u8> = self.buf.get(at..end).unwrap_or(&[]).to_vec();
        if self.buf.len() < end + entry.len() {
            self.buf.resize(end + entry.len(), 0);
        }
        if let Some(s) = self.buf.get_mut(at..at + entry.len()) {
            s.copy_from_slice(entry);
        }
        if let Some(s) = self
            .buf
            .get_mut(at + entry.len()..at + entry.len() + tail.len())
        {
            s.copy_from_slice(&tail);
        }
        w32(&mut self.buf, self.h + 4, (il + entry.len()) as u32);
        true
    }

    /// Remove the entry `e` (never the last one).
    pub fn remove(&mut self, e: &Entry) {
        let il = self.index_length();
        let end = self.h + il;
        let tail: Vec<u8> = self.buf.get(e.off + e.len..end).unwrap_or(&[]).to_vec();
        if let Some(s) = self.buf.get_mut(e.off..e.off + tail.len()) {
            s.copy_from_slice(&tail);
        }
        if let Some(s) = self.buf.get_mut(end - e.len..end) {
            s.fill(0);
        }
        w32(&mut self.buf, self.h + 4, (il - e.len) as u32);
    }
}

/// An index entry for a file-name key.
pub fn entry(file_ref: u64, key: &[u8]) -> Vec<u8> {
    let len = align8(0x10 + key.len());
    let mut b = vec![0u8; len];
    w64(&mut b, 0, file_ref);
    w16(&mut b, 8, len as u16);
    w16(&mut b, 10, key.len() as u16);
    if let Some(s) = b.get_mut(0x10..0x10 + key.len()) {
        s.copy_from_slice(key);
    }
    b
}

/// Times of a `$FILE_NAME`/`$STANDARD_INFORMATION` (NT 100 ns units).
#[derive(Debug, Clone, Copy)]
pub struct Times {
    pub create: u64,
    pub modify: u64,
    pub mft_change: u64,
    pub access: u64,
}

/// A `$FILE_NAME` value.
pub fn file_name(
    parent: u64,
    t: Times,
    alloc: u64,
    size: u64,
    attrs: u32,
    ns: u8,
    name: &[u16],
) -> Vec<u8> {
    let mut b = vec![0u8; 0x42 + 2 * name.len()];
    w64(&mut b, 0, parent);
    w64(&mut b, 0x08, t.create);
    w64(&mut b, 0x10, t.modify);
    w64(&mut b, 0x18, t.mft_change);
    w64(&mut b, 0x20, t.access);
    w64(&mut b, 0x28, alloc);
    w64(&mut b, 0x30, size);
    w32(&mut b, 0x38, attrs);
    b[0x40] = name.len() as u8;
    b[0x41] = ns;
    for (i, c) in name.iter().enumerate() {
        w16(&mut b, 0x42 + 2 * i, *c);
    }
    b
}
