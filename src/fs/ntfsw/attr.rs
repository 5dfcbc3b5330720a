//! Attribute headers: resident (value inside the record) and non-resident (mapping pairs).

use super::record::{AttrLoc, Record, align8, r16, r64, w16, w32, w64};

pub const STANDARD_INFORMATION: u32 = 0x10;
pub const ATTRIBUTE_LIST: u32 = 0x20;
pub const FILE_NAME: u32 = 0x30;
pub const VOLUME_INFORMATION: u32 = 0x70;
pub const DATA: u32 = 0x80;
pub const INDEX_ROOT: u32 = 0x90;
pub const INDEX_ALLOCATION: u32 = 0xA0;
pub const BITMAP: u32 = 0xB0;

/// Attribute flags this writer refuses to rewrite.
pub const COMPRESSED: u16 = 0x00FF;
pub const ENCRYPTED: u16 = 0x4000;
pub const SPARSE: u16 = 0x8000;

/// `$I30` as UTF-16.
pub const I30: [u16; 4] = [b'$' as u16, b'I' as u16, b'3' as u16, b'0' as u16];

/// Non-resident fields of an attribute.
#[derive(Debug, Clone, Copy)]
pub struct NonRes {
    pub lowest_vcn: u64,
    pub alloc: u64,
    pub data: u64,
    pub init: u64,
}

pub fn nonres(r: &Record, a: &AttrLoc) -> NonRes {
    let b = &r.buf;
    NonRes {
        lowest_vcn: r64(b, a.off + 0x10),
        alloc: r64(b, a.off + 0x28),
        data: r64(b, a.off + 0x30),
        init: r64(b, a.off + 0x38),
    }
}

/// The mapping pairs bytes of a non-resident attribute.
pub fn mapping_pairs<'a>(r: &'a Record, a: &AttrLoc) -> &'a [u8] {
    let mp = usize::from(r16(&r.buf, a.off + 0x20));
    r.buf.get(a.off + mp..a.off + a.len).unwrap_or(&[])
}

fn name_bytes(name: &[u16]) -> Vec<u8> {
    name.iter().flat_map(|c| c.to_le_bytes()).collect()
}

/// A resident attribute (instance set by [`Record::insert_attr`] or kept by the caller).
pub fn resident(ty: u32, name: &[u16], value: &[u8], indexed: bool, instance: u16) -> Vec<u8> {
    let name_off = 0x18usize;
    let val_off = align8(name_off + 2 * name.len());
    let len = align8(val_off + value.len());
    let mut b = vec![0u8; len];
    w32(&mut b, 0, ty);
    w32(&mut b, 4, len as u32);
    b[8] = 0;
    b[9] = name.len() as u8;
    w16(&mut b, 10, name_off as u16);
    w16(&mut b, 0x0E, instance);
    w32(&mut b, 0x10, value.len() as u32);
    w16(&mut b, 0x14, val_off as u16);
    b[0x16] = u8::from(indexed);
    b[name_off..name_off + 2 * name.len()].copy_from_slice(&name_bytes(name));
    b[val_off..val_off + value.len()].copy_from_slice(value);
    b
}

/// A non-resident, uncompressed attribute starting at VCN 0.
pub fn non_resident(
    ty: u32,
    name: &[u16],
    pairs: &[u8],
    clusters: u64,
    alloc: u64,
    size: u64,
    instance: u16,
) -> Vec<u8> {
    let name_off = 0x40usize;
    let mp_off = align8(name_off + 2 * name.len());
    let len = align8(mp_off + pairs.len());
    let mut b = vec![0u8; len];
    w32(&mut b, 0, ty);
    w32(&mut b, 4, len as u32);
    b[8] = 1;
    b[9] = name.len() as u8;
    w16(&mut b, 10, name_off as u16);
    w16(&mut b, 0x0E, instance);
    w64(&mut b, 0x10, 0);
    w64(&mut b, 0x18, clusters.wrapping_sub(1));
    w16(&mut b, 0x20, mp_off as u16);
    w64(&mut b, 0x28, alloc);
    w64(&mut b, 0x30, size);
    w64(&mut b, 0x38, size);
    b[name_off..name_off + 2 * name.len()].copy_from_slice(&name_bytes(name));
    b[mp_off..mp_off + pairs.len()].copy_from_slice(pairs);
    b
}

pub fn instance(r: &Record, a: &AttrLoc) -> u16 {
    r16(&r.buf, a.off + 0x0E)
}
