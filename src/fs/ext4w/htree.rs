//! Hashed directories (dir_index): the name hashes (legacy, half-MD4, TEA; signed or unsigned
//! char variants, seeded by `s_hash_seed`), the `dx_root` in directory block 0, `dx_node`
//! interior blocks, and their `dx_tail` checksum with metadata_csum.

use super::csum::crc32c_raw;
use super::error::{Ext4WriteError, corrupt};
use super::le::{rd8, rd16, rd32, wr8, wr16, wr32};

pub const ROOT_COUNT_OFF: usize = 0x20;
pub const NODE_COUNT_OFF: usize = 0x8;

pub const HASH_LEGACY: u8 = 0;
pub const HASH_HALF_MD4: u8 = 1;
pub const HASH_TEA: u8 = 2;
const UNSIGNED_DELTA: u8 = 3;

fn str2hashbuf(msg: &[u8], num: usize, signed: bool) -> [u32; 8] {
    let mut out = [0u32; 8];
    let len = msg.len() as u32;
    let mut pad = len | (len << 8);
    pad |= pad << 16;
    let mut val = pad;
    let take = msg.len().min(num * 4);
    let mut k = 0usize;
    let mut left = num as isize;
    for (i, &c) in msg.iter().take(take).enumerate() {
        let ch = if signed {
            i32::from(c as i8) as u32
        } else {
            u32::from(c)
        };
        val = ch.wrapping_add(val << 8);
        if i % 4 == 3 {
            if let Some(o) = out.get_mut(k) {
                *o = val;
            }
            k += 1;
            val = pad;
            left -= 1;
        }
    }
    left -= 1;
    if left >= 0 {
        if let Some(o) = out.get_mut(k) {
            *o = val;
        }
        k += 1;
    }
    loop {
        left -= 1;
        if left < 0 {
            break;
        }
        if let Some(o) = out.get_mut(k) {
            *o = pad;
        }
        k += 1;
    }
    out
}

fn half_md4(buf: &mut [u32; 4], inp: &[u32; 8]) {
    let f = |x: u32, y: u32, z: u32| z ^ (x & (y ^ z));
    let g = |x: u32, y: u32, z: u32| (x & y).wrapping_add((x ^ y) & z);
    let h = |x: u32, y: u32, z: u32| x ^ y ^ z;
    const K2: u32 = 0o13240474631;
    const K3: u32 = 0o15666365641;
    let (mut a, mut b, mut c, mut d) = (buf[0], buf[1], buf[2], buf[3]);
    macro_rules! round {
        ($f:expr, $a:ident, $b:ident, $c:ident, $d:ident, $x:expr, $s:expr) => {
            $a = $a.wrapping_add($f($b, $c, $d)).wrapping_add($x);
            $a = $a.rotate_left($s);
        };
    }
    round!(f, a, b, c, d, inp[0], 3);
    round!(f, d, a, b, c, inp[1], 7);
    round!(f, c, d, a, b, inp[2], 11);
    round!(f, b, c, d, a, inp[3], 19);
    round!(f, a, b, c, d, inp[4], 3);
    round!(f, d, a, b, c, inp[5], 7);
    round!(f, c, d, a, b, inp[6], 11);
    round!(f, b, c, d, a, inp[7], 19);

    round!(g, a, b, c, d, inp[1].wrapping_add(K2), 3);
    round!(g, d, a, b, c, inp[3].wrapping_add(K2), 5);
    round!(g, c, d, a, b, inp[5].wrapping_add(K2), 9);
    round!(g, b, c, d, a, inp[7].wrapping_add(K2), 13);
    round!(g, a, b, c, d, inp[0].wrapping_add(K2), 3);
    round!(g, d, a, b, c, inp[2].wrapping_add(K2), 5);
    round!(g, c, d, a, b, inp[4].wrapping_add(K2), 9);
    round!(g, b, c, d, a, inp[6].wrapping_add(K2), 13);

    round!(h, a, b, c, d, inp[3].wrapping_add(K3), 3);
    round!(h, d, a, b, c, inp[7].wrapping_add(K3), 9);
    round!(h, c, d, a, b, inp[2].wrapping_add(K3), 11);
    round!(h, b, c, d, a, inp[6].wrapping_add(K3), 15);
    round!(h, a, b, c, d, inp[1].wrapping_add(K3), 3);
    round!(h, d, a, b, c, inp[5].wrapping_add(K3), 9);
    round!(h, c, d, a, b, inp[0].wrapping_add(K3), 11);
    round!(h, b, c, d, a, inp[4].wrapping_add(K3), 15);

    buf[0] = buf[0].wrapping_add(a);
    buf[1] = buf[1].wrapping_add(b);
    buf[2] = buf[2].wrapping_add(c);
    buf[3] = buf[3].wrapping_add(d);
}

fn tea(buf: &mut [u32; 4], inp: &[u32; 8]) {
    let mut sum: u32 = 0;
    let (mut b0, mut b1) = (buf[0], buf[1]);
    let (a, b, c, d) = (inp[0], inp[1], inp[2], inp[3]);
    for _ in 0..16 {
        sum = sum.wrapping_add(0x9E37_79B9);
        b0 = b0.wrapping_add(
            ((b1 << 4).wrapping_add(a)) ^ (b1.wrapping_add(sum)) ^ ((b1 >> 5).wrapping_add(b)),
        );
        b1 = b1.wrapping_add(
            ((b0 << 4).wrapping_add(c)) ^ (b0.wrapping_add(sum)) ^ ((b0 >> 5).wrapping_add(d)),
        );
    }
    buf[0] = buf[0].wrapping_add(b0);
    buf[1] = buf[1].wrapping_add(b1);
}

fn dx_hack_hash(name: &[u8], signed: bool) -> u32 {
    let (mut hash0, mut hash1): (u32, u32) = (0x12a3_fe2d, 0x37ab_e8f9);
    for &c in name {
        let ch = if signed {
            i32::from(c as i8) as u32
        } else {
            u32::from(c)
        };
        let mut hash = hash1.wrapping_add(hash0 ^ ch.wrapping_mul(7_152_373));
        if hash & 0x8000_0000 != 0 {
            hash = hash.wrapping_sub(0x7fff_ffff);
        }
        hash1 = hash0;
        hash0 = hash;
    }
    hash0 << 1
}

/// The major hash of `name` for hash version `version` (0..=5, unsigned variants 3..=5),
/// as `ext4fs_dirhash` computes it (low bit cleared).
pub fn name_hash(name: &[u8], version: u8, seed: &[u32; 4]) -> Result<u32, Ext4WriteError> {
    let mut buf = [0x6745_2301u32, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476];
    if seed.iter().any(|&s| s != 0) {
        buf = *seed;
    }
    let signed = version < UNSIGNED_DELTA;
    let hash = match version % UNSIGNED_DELTA {
        HASH_LEGACY if version <= 5 => dx_hack_hash(name, signed),
        HASH_HALF_MD4 if version <= 5 => {
            let mut p = name;
            while !p.is_empty() {
                let inp = str2hashbuf(p, 8, signed);
                half_md4(&mut buf, &inp);
                p = p.get(32..).unwrap_or(&[]);
            }
            buf[1]
        }
        HASH_TEA if version <= 5 => {
            let mut p = name;
            while !p.is_empty() {
                let inp = str2hashbuf(p, 4, signed);
                tea(&mut buf, &inp);
                p = p.get(16..).unwrap_or(&[]);
            }
            buf[0]
        }
        _ => {
            return Err(Ext4WriteError::UnsupportedFeature(format!(
                "directory hash version {version}"
            )));
        }
    };
    let hash = hash & !1;
    Ok(if hash == 0x7fff_ffff << 1 {
        (0x7fff_ffff - 1) << 1
    } else {
        hash
    })
}

/// Effective hash version for a root's `hash_version` given the superblock's unsigned flag.
pub fn effective_version(root_version: u8, unsigned: bool) -> u8 {
    if unsigned && root_version <= HASH_TEA {
        root_version + UNSIGNED_DELTA
    } else {
        root_version
    }
}

/// One index block (root or node) in memory.
#[derive(Debug, Clone)]
pub struct DxBlock {
    pub buf: Vec<u8>,
    pub count_off: usize,
    /// `(hash, logical block)`; entry 0's hash is implicitly 0.
    pub entries: Vec<(u32, u32)>,
    pub limit: usize,
}

pub fn expected_limit(block_size: usize, count_off: usize, csum: bool) -> usize {
    (block_size - count_off) / 8 - usize::from(csum)
}

impl DxBlock {
    /// Parse an index block; with `csum_seed` its dx_tail checksum must match.
    pub fn parse(
        buf: Vec<u8>,
        count_off: usize,
        csum_seed: Option<u32>,
        what: &str,
    ) -> Result<Self, Ext4WriteError> {
        let csum = csum_seed.is_some();
        let limit = usize::from(rd16(&buf, count_off));
        let count = usize::from(rd16(&buf, count_off + 2));
        if limit != expected_limit(buf.len(), count_off, csum) || count == 0 || count > limit {
            return Err(corrupt(
                format!("htree index of {what}"),
                format!("count {count} / limit {limit} invalid"),
            ));
        }
        let mut entries = Vec::with_capacity(count);
        for i in 0..count {
            let o = count_off + 8 * i;
            let h = if i == 0 { 0 } else { rd32(&buf, o) };
            entries.push((h, rd32(&buf, o + 4)));
        }
        if entries.windows(2).any(|w| matches!(w, [a, b] if a.0 > b.0)) {
            return Err(corrupt(
                format!("htree index of {what}"),
                "hashes not sorted",
            ));
        }
        let block = DxBlock {
            buf,
            count_off,
            entries,
            limit,
        };
        if csum_seed.is_some() {
            let t = count_off + 8 * limit + 4;
            if block.to_bytes(csum_seed).get(t..t + 4) != block.buf.get(t..t + 4) {
                return Err(Ext4WriteError::Checksum(format!(
                    "htree index block of {what}"
                )));
            }
        }
        Ok(block)
    }

    /// Index of the entry covering `hash`.
    pub fn find(&self, hash: u32) -> usize {
        let mut idx = 0;
        for (i, (h, _)) in self.entries.iter().enumerate().skip(1) {
            if *h <= hash {
                idx = i;
            } else {
                break;
            }
        }
        idx
    }

    /// Serialise entries, count and limit (and dx_tail with `csum_seed`).
    pub fn to_bytes(&self, csum_seed: Option<u32>) -> Vec<u8> {
        let mut b = self.buf.clone();
        let co = self.count_off;
        if let Some(s) = b.get_mut(co..co + 8 * self.limit) {
            s.fill(0);
        }
        for (i, (h, blk)) in self.entries.iter().enumerate() {
            let o = co + 8 * i;
            if i != 0 {
                wr32(&mut b, o, *h);
            }
            wr32(&mut b, o + 4, *blk);
        }
        wr16(&mut b, co, self.limit as u16);
        wr16(&mut b, co + 2, self.entries.len() as u16);
        if let Some(seed) = csum_seed {
            let t = co + 8 * self.limit;
            wr32(&mut b, t, 0);
            let c = crc32c_raw(seed, b.get(..co + 8 * self.entries.len()).unwrap_or(&[]));
            let c = crc32c_raw(c, &[0, 0, 0, 0]);
            let c = crc32c_raw(c, &[0, 0, 0, 0]);
            wr32(&mut b, t + 4, c);
        }
        b
    }
}

/// dx_root_info fields: (hash_version, indirect_levels).
pub fn root_info(buf: &[u8], what: &str) -> Result<(u8, u8), Ext4WriteError> {
    if rd32(buf, 0x18) != 0 || rd8(buf, 0x1D) != 8 {
        return Err(corrupt(format!("htree root of {what}"), "bad dx_root_info"));
    }
    Ok((rd8(buf, 0x1C), rd8(buf, 0x1E)))
}

pub fn set_levels(buf: &mut [u8], levels: u8) {
    wr8(buf, 0x1E, levels);
}

/// A fresh interior node block: a fake empty dirent spanning the block, then the index.
pub fn new_node(block_size: usize, csum: bool) -> DxBlock {
    let mut buf = vec![0u8; block_size];
    wr32(&mut buf, 0, 0);
    wr16(&mut buf, 4, block_size as u16);
    DxBlock {
        buf,
        count_off: NODE_COUNT_OFF,
        entries: Vec::new(),
        limit: expected_limit(block_size, NODE_COUNT_OFF, csum),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_hash_of_empty_name() {
        assert_eq!(name_hash(b"", 0, &[0; 4]).unwrap(), 0x12a3_fe2d << 1 & !1);
    }
}
