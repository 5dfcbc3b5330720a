//! MFT records (`FILE`) and the update sequence array (fixups) that every multi-sector
//! structure (`FILE`, `INDX`) carries: the last two bytes of each 512-byte stride are saved in
//! the array and replaced by the update sequence number.

use super::error::{NtfsWriteError, corrupt};

/// Fixup stride: always 512 bytes, whatever the sector size.
pub const STRIDE: usize = 512;
/// End-of-attributes marker.
pub const END: u32 = 0xFFFF_FFFF;
/// Record flags.
pub const IN_USE: u16 = 1;
pub const IS_DIR: u16 = 2;

// Field access through the shared [`crate::bytes`] helpers: a field outside the buffer reads
// as 0 and is not written (callers bound their offsets against the record first).
use crate::bytes::{self as by, or_zero};

pub fn r16(b: &[u8], o: usize) -> u16 {
    or_zero(by::le_u16(b, o))
}
pub fn r32(b: &[u8], o: usize) -> u32 {
    or_zero(by::le_u32(b, o))
}
pub fn r64(b: &[u8], o: usize) -> u64 {
    or_zero(by::le_u64(b, o))
}
pub fn w16(b: &mut [u8], o: usize, v: u16) {
    let _ = by::put_le16(b, o, v);
}
pub fn w32(b: &mut [u8], o: usize, v: u32) {
    let _ = by::put_le32(b, o, v);
}
pub fn w64(b: &mut [u8], o: usize, v: u64) {
    let _ = by::put_le64(b, o, v);
}
pub fn align8(n: usize) -> usize {
    n.div_ceil(8) * 8
}

/// Check the magic and the update sequence array of `buf` and put the saved bytes back.
pub fn unfix(buf: &mut [u8], magic: &[u8; 4], what: &str) -> Result<(), NtfsWriteError> {
    if buf.get(..4) != Some(&magic[..]) {
        let m = buf.get(..4).unwrap_or(&[]);
        return Err(corrupt(
            what,
            format!(
                "magic {:?}, not {:?}",
                String::from_utf8_lossy(m),
                String::from_utf8_lossy(magic)
            ),
        ));
    }
    let ofs = usize::from(r16(buf, 4));
    let count = usize::from(r16(buf, 6));
    let strides = buf.len() / STRIDE;
    if count != strides + 1 || ofs < 0x28 || ofs + 2 * count > STRIDE - 2 || ofs % 2 != 0 {
        return Err(corrupt(
            what,
            format!("update sequence array at {ofs} of {count}"),
        ));
    }
    let usn = r16(buf, ofs);
    for i in 0..strides {
        let end = (i + 1) * STRIDE - 2;
        if r16(buf, end) != usn {
            return Err(corrupt(
                what,
                format!("torn write: stride {i} lacks the update sequence number"),
            ));
        }
        let saved = r16(buf, ofs + 2 + 2 * i);
        w16(buf, end, saved);
    }
    Ok(())
}

/// Stamp a new update sequence number into `buf` (already checked by [`unfix`] or built
/// with a valid array; `buf` keeps the new number) and return what goes on disk.
pub fn fix(buf: &mut [u8]) -> Vec<u8> {
    let ofs = usize::from(r16(buf, 4));
    let strides = buf.len() / STRIDE;
    let mut usn = r16(buf, ofs).wrapping_add(1);
    if usn == 0 || usn == 0xFFFF {
        usn = 1;
    }
    w16(buf, ofs, usn);
    let mut out = buf.to_vec();
    for i in 0..strides {
        let end = (i + 1) * STRIDE - 2;
        let tail = r16(buf, end);
        w16(&mut out, ofs + 2 + 2 * i, tail);
        w16(&mut out, end, usn);
    }
    out
}

/// One attribute in a record: where it is and its common header.
#[derive(Debug, Clone, Copy)]
pub struct AttrLoc {
    pub off: usize,
    pub ty: u32,
    pub len: usize,
    pub nonres: bool,
    pub name_len: usize,
    pub name_off: usize,
    pub flags: u16,
}

/// An MFT record with its fixups removed.
#[derive(Debug, Clone)]
pub struct Record {
    pub no: u64,
    pub buf: Vec<u8>,
}

impl Record {
    pub fn parse(no: u64, mut buf: Vec<u8>) -> Result<Record, NtfsWriteError> {
        let what = format!("MFT record {no}");
        unfix(&mut buf, b"FILE", &what)?;
        let r = Record { no, buf };
        let used = r.bytes_in_use();
        let alloc = r32(&r.buf, 0x1C) as usize;
        if alloc != r.buf.len() || used > alloc || r.attrs_offset() >= used {
            return Err(corrupt(what, format!("{used} bytes in use of {alloc}")));
        }
        r.attrs()?;
        Ok(r)
    }
    pub fn flags(&self) -> u16 {
        r16(&self.buf, 0x16)
    }
    pub fn in_use(&self) -> bool {
        self.flags() & IN_USE != 0
    }
    pub fn is_dir(&self) -> bool {
        self.flags() & IS_DIR != 0
    }
    pub fn seq(&self) -> u16 {
        r16(&self.buf, 0x10)
    }
    pub fn base(&self) -> u64 {
        r64(&self.buf, 0x20) & 0xFFFF_FFFF_FFFF
    }
    pub fn bytes_in_use(&self) -> usize {
        r32(&self.buf, 0x18) as usize
    }
    pub fn attrs_offset(&self) -> usize {
        usize::from(r16(&self.buf, 0x14))
    }

    /// Every attribute, bounds-checked.
    pub fn attrs(&self) -> Result<Vec<AttrLoc>, NtfsWriteError> {
        let what = || format!("MFT record {}", self.no);
        let used = self.bytes_in_use();
        let mut off = self.attrs_offset();
        let mut out = Vec::new();
        loop {
            if off + 4 > used {
                return Err(corrupt(what(), "attributes run past bytes in use"));
            }
            let ty = r32(&self.buf, off);
            if ty == END {
                return Ok(out);
            }
            let len = r32(&self.buf, off + 4) as usize;
            if len < 0x18 || len % 8 != 0 || off + len > used {
                return Err(corrupt(
                    what(),
                    format!("attribute {ty:#x} of length {len} at {off}"),
                ));
            }
            let nonres = self.buf.get(off + 8).copied().unwrap_or(0) != 0;
            let name_len = usize::from(self.buf.get(off + 9).copied().unwrap_or(0));
            let name_off = usize::from(r16(&self.buf, off + 10));
            if name_len > 0 && name_off + 2 * name_len > len {
                return Err(corrupt(
                    what(),
                    format!("attribute {ty:#x} name out of bounds"),
                ));
            }
            let hdr = if nonres { 0x40 } else { 0x18 };
            if len < hdr {
                return Err(corrupt(
                    what(),
                    format!("attribute {ty:#x} shorter than its header"),
                ));
            }
            if !nonres {
                let vo = usize::from(r16(&self.buf, off + 0x14));
                let vl = r32(&self.buf, off + 0x10) as usize;
                if vo.saturating_add(vl) > len {
                    return Err(corrupt(
                        what(),
                        format!("attribute {ty:#x} value out of bounds"),
                    ));
                }
            } else {
                let mp = usize::from(r16(&self.buf, off + 0x20));
                if mp >= len || mp < 0x40 {
                    return Err(corrupt(
                        what(),
                        format!("attribute {ty:#x} mapping pairs out of bounds"),
                    ));
                }
            }
            out.push(AttrLoc {
                off,
                ty,
                len,
                nonres,
                name_len,
                name_off,
                flags: r16(&self.buf, off + 12),
            });
            if out.len() > 4096 {
                return Err(corrupt(what(), "too many attributes"));
            }
            off += len;
        }
    }

    /// The attribute's name as UTF-16 units.
    pub fn attr_name(&self, a: &AttrLoc) -> Vec<u16> {
        (0..a.name_len)
            .map(|i| r16(&self.buf, a.off + a.name_off + 2 * i))
            .collect()
    }

    /// The first attribute of type `ty` with the name `name` (empty: unnamed).
    pub fn find(&self, ty: u32, name: &[u16]) -> Result<Option<AttrLoc>, NtfsWriteError> {
        Ok(self
            .attrs()?
            .into_iter()
            .find(|a| a.ty == ty && self.attr_name(a) == name))
    }

    /// A resident attribute's value.
    pub fn value(&self, a: &AttrLoc) -> &[u8] {
        let vo = usize::from(r16(&self.buf, a.off + 0x14));
        let vl = r32(&self.buf, a.off + 0x10) as usize;
        self.buf.get(a.off + vo..a.off + vo + vl).unwrap_or(&[])
    }

    pub fn value_mut(&mut self, a: &AttrLoc) -> &mut [u8] {
        let vo = usize::from(r16(&self.buf, a.off + 0x14));
        let vl = r32(&self.buf, a.off + 0x10) as usize;
        self.buf
            .get_mut(a.off + vo..a.off + vo + vl)
            .unwrap_or(&mut [])
    }

    /// Replace the attribute at `a` by `new` (a whole attribute, 8-aligned), moving what
    /// follows; fails when the record has no room.
    pub fn replace_attr(&mut self, a: &AttrLoc, new: &[u8]) -> Result<(), NtfsWriteError> {
        let used = self.bytes_in_use();
        let new_used = used - a.len + new.len();
        if new_used > self.buf.len() {
            return Err(NtfsWriteError::Unsupported(format!(
                "MFT record {}: attribute {:#x} needs {} bytes, the record has {} (an attribute list would be needed)",
                self.no,
                a.ty,
                new.len(),
                self.buf.len() - (used - a.len)
            )));
        }
        let tail: Vec<u8> = self.buf.get(a.off + a.len..used).unwrap_or(&[]).to_vec();
        let mut rebuilt = Vec::with_capacity(self.buf.len());
        rebuilt.extend_from_slice(self.buf.get(..a.off).unwrap_or(&[]));
        rebuilt.extend_from_slice(new);
        rebuilt.extend_from_slice(&tail);
        rebuilt.resize(self.buf.len(), 0);
        self.buf = rebuilt;
        w32(&mut self.buf, 0x18, new_used as u32);
        Ok(())
    }

    /// Remove the attribute at `a`.
    pub fn remove_attr(&mut self, a: &AttrLoc) -> Result<(), NtfsWriteError> {
        self.replace_attr(a, &[])
    }

    /// Insert `new` (a whole attribute with instance to be set) after the attributes of lower
    /// or equal type; sets its instance number. Returns its offset.
    pub fn insert_attr(&mut self, mut new: Vec<u8>) -> Result<usize, NtfsWriteError> {
        let ty = r32(&new, 0);
        let attrs = self.attrs()?;
        let off = attrs
            .iter()
            .find(|a| a.ty > ty)
            .map(|a| a.off)
            .unwrap_or_else(|| attrs.last().map_or(self.attrs_offset(), |a| a.off + a.len));
        let inst = r16(&self.buf, 0x28);
        w16(&mut new, 0x0E, inst);
        w16(&mut self.buf, 0x28, inst.wrapping_add(1));
        let at = AttrLoc {
            off,
            ty,
            len: 0,
            nonres: false,
            name_len: 0,
            name_off: 0,
            flags: 0,
        };
        self.replace_attr(&at, &new)?;
        Ok(off)
    }
}
