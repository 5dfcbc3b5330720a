//! [`CountingDev`]: counts the bytes and reads that go through a device, so later layers can
//! report how much of an image they touched.

use super::{BlockDev, BlockError};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Shared counters of a [`CountingDev`] (cheap to clone, readable while the device is in use).
#[derive(Debug, Default)]
pub struct ReadStats {
    bytes: AtomicU64,
    reads: AtomicU64,
}

impl ReadStats {
    /// Bytes read so far.
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }
    /// Number of `read_at` calls so far.
    pub fn reads(&self) -> u64 {
        self.reads.load(Ordering::Relaxed)
    }
    pub fn reset(&self) {
        self.bytes.store(0, Ordering::Relaxed);
        self.reads.store(0, Ordering::Relaxed);
    }
}

/// Wraps a device and counts its reads.
pub struct CountingDev<D: BlockDev> {
    inner: D,
    stats: Arc<ReadStats>,
}

impl<D: BlockDev> CountingDev<D> {
    /// Count the reads of `inner`.
    pub fn new(inner: D) -> Self {
        CountingDev {
            inner,
            stats: Arc::new(ReadStats::default()),
        }
    }
    /// The counters, shareable across threads.
    pub fn stats(&self) -> Arc<ReadStats> {
        self.stats.clone()
    }
    /// Bytes read so far.
    pub fn bytes_read(&self) -> u64 {
        self.stats.bytes()
    }
    /// Read calls so far.
    pub fn reads(&self) -> u64 {
        self.stats.reads()
    }
}

impl<D: BlockDev> BlockDev for CountingDev<D> {
    fn len(&self) -> u64 {
        self.inner.len()
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), BlockError> {
        self.stats.reads.fetch_add(1, Ordering::Relaxed);
        self.inner.read_at(offset, buf)?;
        self.stats
            .bytes
            .fetch_add(buf.len() as u64, Ordering::Relaxed);
        Ok(())
    }
    fn describe(&self) -> String {
        self.inner.describe()
    }
    /// Passed through; asking for the allocation status reads no data and is not counted.
    fn extents(&self, offset: u64, len: u64) -> Result<Vec<crate::block::Extent>, BlockError> {
        self.inner.extents(offset, len)
    }
    fn prefetch(&self, ranges: &[(u64, u64)]) {
        self.inner.prefetch(ranges)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::raw::MemDisk;

    #[test]
    fn counts_bytes_and_reads_and_shares_stats() {
        let d = CountingDev::new(MemDisk::new("m", vec![5u8; 8192]));
        let stats = d.stats();
        let mut b = [0u8; 100];
        d.read_at(0, &mut b).unwrap();
        d.read_at(4000, &mut b).unwrap();
        assert!(d.read_at(8100, &mut b).is_err());
        assert_eq!(stats.bytes(), 200);
        assert_eq!(stats.reads(), 3);
        assert_eq!(b, [5u8; 100]);
    }
}
