//! The hash meta page (page 0): the generic Berkeley DB meta header (`DBMETA`, bytes 0–71)
//! followed by the hash fields (`HMETA`: bucket count and masks, the spares table mapping
//! buckets to pages), and at 460–511 the crypto magic, IV and checksum. All integers are in the
//! byte order the magic at byte 12 is read in.

use super::BdbError;

/// The meta page's size on disk (`DBMETASIZE`), whatever the page size.
pub const META_SIZE: usize = 512;
/// The hash access method's magic.
pub const HASH_MAGIC: u32 = 0x0006_1561;
/// Page type of a hash meta page.
pub const P_HASHMETA: u8 = 8;
/// `metaflags` bit: pages carry a checksum.
pub const DBMETA_CHKSUM: u8 = 0x01;
/// Offset of the meta page's checksum.
pub const META_CHKSUM_OFFSET: usize = 492;
/// Entries of the spares table.
pub const NCACHED: usize = 32;

/// The byte order of the file's integers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Little-endian (1234): x86 writers.
    Little,
    /// Big-endian (4321): s390x, POWER (before ppc64le) writers.
    Big,
}

impl Order {
    /// The u32 at `off`, if inside `b`.
    pub fn u32(self, b: &[u8], off: usize) -> Option<u32> {
        let s: [u8; 4] = b.get(off..off.checked_add(4)?)?.try_into().ok()?;
        Some(match self {
            Order::Little => u32::from_le_bytes(s),
            Order::Big => u32::from_be_bytes(s),
        })
    }

    /// The u16 at `off`, if inside `b`.
    pub fn u16(self, b: &[u8], off: usize) -> Option<u16> {
        let s: [u8; 2] = b.get(off..off.checked_add(2)?)?.try_into().ok()?;
        Some(match self {
            Order::Little => u16::from_le_bytes(s),
            Order::Big => u16::from_be_bytes(s),
        })
    }

    /// `v` as bytes in this order.
    pub fn bytes32(self, v: u32) -> [u8; 4] {
        match self {
            Order::Little => v.to_le_bytes(),
            Order::Big => v.to_be_bytes(),
        }
    }
}

/// What the hash meta page says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HashMeta {
    /// Byte order of every integer in the file.
    pub order: Order,
    /// Hash version (8 or 9).
    pub version: u32,
    /// Page size in bytes.
    pub page_size: u32,
    /// Last page number in the file.
    pub last_pgno: u32,
    /// Highest bucket in use (buckets are 0..=max_bucket).
    pub max_bucket: u32,
    /// The spares table: bucket `b` lives on page `b + spares[ceil(log2(b + 1))]`.
    pub spares: [u32; NCACHED],
    /// Pages carry a checksum.
    pub checksummed: bool,
}

impl HashMeta {
    /// Parse the first [`META_SIZE`] bytes of the file.
    pub fn parse(b: &[u8]) -> Result<Self, BdbError> {
        let short = BdbError::Truncated("meta page");
        let raw = b.get(12..16).ok_or(short.clone())?;
        let le = u32::from_le_bytes([raw[0], raw[1], raw[2], raw[3]]);
        let order = if le == HASH_MAGIC {
            Order::Little
        } else if le.swap_bytes() == HASH_MAGIC {
            Order::Big
        } else {
            return Err(BdbError::NotHash(le));
        };
        let u = |off: usize| order.u32(b, off).ok_or(short.clone());
        let version = u(16)?;
        if !(8..=9).contains(&version) {
            return Err(BdbError::Version(version));
        }
        let page_size = u(20)?;
        if !(512..=65536).contains(&page_size) || !page_size.is_power_of_two() {
            return Err(BdbError::BadPageSize(page_size));
        }
        let encrypt_alg = *b.get(24).ok_or(short.clone())?;
        if encrypt_alg != 0 {
            return Err(BdbError::Encrypted(encrypt_alg));
        }
        let kind = *b.get(25).ok_or(short.clone())?;
        if kind != P_HASHMETA {
            return Err(BdbError::BadMeta("page 0 is not a hash meta page"));
        }
        let metaflags = *b.get(26).ok_or(short.clone())?;
        if u(8)? != 0 {
            return Err(BdbError::BadMeta("meta page does not say it is page 0"));
        }
        let last_pgno = u(32)?;
        let max_bucket = u(72)?;
        let high_mask = u(76)?;
        let low_mask = u(80)?;
        // The masks are 2^n - 1 around max_bucket: low_mask < max_bucket <= high_mask.
        if (!high_mask.wrapping_add(1).is_power_of_two() && high_mask != u32::MAX)
            || max_bucket > high_mask
            || low_mask > high_mask
        {
            return Err(BdbError::BadMeta("bucket masks do not cover max_bucket"));
        }
        if max_bucket >= last_pgno {
            return Err(BdbError::BadMeta("more buckets than pages"));
        }
        let mut spares = [0u32; NCACHED];
        for (i, s) in spares.iter_mut().enumerate() {
            *s = u(96 + 4 * i)?;
        }
        let meta = HashMeta {
            order,
            version,
            page_size,
            last_pgno,
            max_bucket,
            spares,
            checksummed: metaflags & DBMETA_CHKSUM != 0,
        };
        if meta.checksummed {
            super::checksum::verify_meta(b, order)?;
        }
        Ok(meta)
    }

    /// The page holding the head of bucket `bucket`'s chain (`BUCKET_TO_PAGE`).
    pub fn bucket_page(&self, bucket: u32) -> Result<u32, BdbError> {
        // ceil(log2(bucket + 1)) = the bit length of `bucket`.
        let split = (32 - bucket.leading_zeros()) as usize;
        let spare = self.spares.get(split).copied().unwrap_or(0);
        bucket
            .checked_add(spare)
            .filter(|&p| p != 0 && p <= self.last_pgno)
            .ok_or(BdbError::PageOutOfRange {
                page: bucket.wrapping_add(spare),
                last: self.last_pgno,
            })
    }
}
