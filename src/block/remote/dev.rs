//! [`RemoteDev`]: a remote object as a [`BlockDev`]. Reads go through a cache of fixed-size
//! chunks; the chunks one read misses are fetched as few requests as possible (adjacent misses
//! coalesced into one range), and independent ranges concurrently on a few threads.

use super::cache::ChunkCache;
use super::http::{Transport, UrlSource};
use super::stats::{self, RemoteStats};
use crate::block::{BlockDev, BlockError, check_range};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};

/// Smallest chunk, and the first request's size: the unit of caching and the smallest request.
/// The chunk of an object is `len / 8192` rounded down to a power of two, between this and
/// [`MAX_CHUNK`], so that even a few dozen chunks stay a small share of the object while a
/// large object needs fewer round trips (`GUESTFIX_REMOTE_CHUNK_KIB` fixes it, 4 KiB to 16 MiB).
pub const CHUNK: u64 = 64 << 10;
/// Largest chunk the size rule picks.
pub const MAX_CHUNK: u64 = 1 << 20;
/// Most bytes fetched by one request (a run of adjacent missing chunks).
pub const MAX_RUN_BYTES: u64 = 4 << 20;
/// Requests in flight for one read.
pub const MAX_PARALLEL: usize = 4;
/// Default cache size (64 MiB); `GUESTFIX_REMOTE_CACHE_MIB` overrides it.
pub const DEFAULT_CACHE_BYTES: u64 = 64 << 20;

/// Chunks fetched, by index.
type Fetched = Vec<(u64, Arc<Vec<u8>>)>;

/// The result of one run's fetch, filled by whichever thread took it.
type Slot = Mutex<Option<Result<Vec<u8>, BlockError>>>;

/// A read-only remote object (HTTP(S) or S3) read by byte range.
pub struct RemoteDev {
    name: String,
    len: u64,
    chunk: u64,
    /// The first request's body when the object's chunk is larger than that request.
    head: Vec<u8>,
    cache: ChunkCache,
    transport: Transport,
    stats: Arc<RemoteStats>,
    /// `GUESTFIX_STATS=3`: every read and hint on stderr.
    trace: bool,
    /// Chunks some thread is fetching now: a reader that needs one waits for that fetch
    /// instead of sending the same request again.
    inflight: Mutex<HashSet<u64>>,
    landed: Condvar,
}

impl RemoteDev {
    /// Open the object: the first chunk's request also gives its size and validator.
    pub(crate) fn open(name: String, source: Box<dyn UrlSource>) -> Result<Self, BlockError> {
        let stats = Arc::new(RemoteStats::default());
        let transport = Transport::new(name.clone(), source, stats.clone());
        let fixed = std::env::var("GUESTFIX_REMOTE_CHUNK_KIB")
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .map(|kib| (kib << 10).clamp(4 << 10, 16 << 20));
        let first = transport.fetch(0, fixed.unwrap_or(CHUNK))?;
        let chunk = fixed.unwrap_or_else(|| chunk_for(first.total));
        let cache_bytes = std::env::var("GUESTFIX_REMOTE_CACHE_MIB")
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .map_or(DEFAULT_CACHE_BYTES, |mib| mib << 20);
        let mut dev = RemoteDev {
            name,
            len: first.total,
            chunk,
            head: Vec::new(),
            cache: ChunkCache::new((cache_bytes / chunk) as usize),
            transport,
            stats,
            trace: stats::trace_reads(),
            inflight: Mutex::new(HashSet::new()),
            landed: Condvar::new(),
        };
        if first.body.len() as u64 == chunk.min(first.total) {
            dev.cache.insert(0, Arc::new(first.body));
        } else {
            dev.head = first.body;
        }
        Ok(dev)
    }

    /// Requests and bytes this object cost so far.
    pub fn stats(&self) -> Arc<RemoteStats> {
        self.stats.clone()
    }

    /// Fetch `n` chunks from chunk `first` in one request.
    fn fetch_run(&self, first: u64, n: u64) -> Result<Vec<u8>, BlockError> {
        let start = first * self.chunk;
        let len = (n * self.chunk).min(self.len - start);
        let f = self.transport.fetch(start, len)?;
        if f.total != self.len {
            return Err(BlockError::RemoteChanged {
                url: self.name.clone(),
                was: format!("{} bytes", self.len),
                now: format!("{} bytes", f.total),
            });
        }
        Ok(f.body)
    }

    /// Fetch every run, up to [`MAX_PARALLEL`] at once; results in the order of `runs`.
    fn fetch_runs(&self, runs: &[(u64, u64)]) -> Result<Vec<Vec<u8>>, BlockError> {
        if let [(first, n)] = runs {
            return Ok(vec![self.fetch_run(*first, *n)?]);
        }
        let next = AtomicUsize::new(0);
        let results: Vec<Slot> = runs.iter().map(|_| Mutex::new(None)).collect();
        std::thread::scope(|s| {
            for _ in 0..runs.len().min(MAX_PARALLEL) {
                s.spawn(|| {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(&(first, n)) = runs.get(i) else {
                            break;
                        };
                        let r = self.fetch_run(first, n);
                        *results[i].lock().unwrap_or_else(|p| p.into_inner()) = Some(r);
                    }
                });
            }
        });
        results
            .into_iter()
            .map(|m| {
                m.into_inner()
                    .unwrap_or_else(|p| p.into_inner())
                    .unwrap_or_else(|| Err(self.short(0, 0, 0)))
            })
            .collect()
    }

    /// Chunks `c0..=c1`, from the cache or fetched: the missing ones nobody is fetching are
    /// claimed and fetched as coalesced runs; for the ones another thread is fetching, this
    /// one waits until that fetch lands (or fails, and then claims them itself).
    fn chunks(&self, c0: u64, c1: u64) -> Result<Vec<Arc<Vec<u8>>>, BlockError> {
        let mut have: HashMap<u64, Arc<Vec<u8>>> = HashMap::new();
        loop {
            let mut missing = Vec::new();
            for c in c0..=c1 {
                if have.contains_key(&c) {
                    continue;
                }
                match self.cache.get(c) {
                    Some(d) => {
                        have.insert(c, d);
                    }
                    None => missing.push(c),
                }
            }
            if missing.is_empty() {
                break;
            }
            let mine = self.claim(&missing);
            if mine.is_empty() {
                self.wait_for(&missing);
                continue;
            }
            let fetched = self.fetch_claimed(&mine);
            self.release(&mine);
            for (c, d) in fetched? {
                have.insert(c, d);
            }
        }
        Ok((c0..=c1).filter_map(|c| have.remove(&c)).collect())
    }

    fn inflight(&self) -> std::sync::MutexGuard<'_, HashSet<u64>> {
        self.inflight.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Mark the chunks of `missing` nobody is fetching as this thread's; returns them.
    fn claim(&self, missing: &[u64]) -> Vec<u64> {
        let mut f = self.inflight();
        missing.iter().copied().filter(|c| f.insert(*c)).collect()
    }

    fn release(&self, mine: &[u64]) {
        let mut f = self.inflight();
        for c in mine {
            f.remove(c);
        }
        drop(f);
        self.landed.notify_all();
    }

    /// Block until none of `chunks` is in flight any more.
    fn wait_for(&self, chunks: &[u64]) {
        let mut f = self.inflight();
        while chunks.iter().any(|c| f.contains(c)) {
            f = self
                .landed
                .wait_timeout(f, std::time::Duration::from_secs(1))
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// Fetch the claimed chunks (sorted) as runs of adjacent ones, into the cache.
    fn fetch_claimed(&self, mine: &[u64]) -> Result<Fetched, BlockError> {
        let max_run = (MAX_RUN_BYTES / self.chunk).max(1);
        let mut runs: Vec<(u64, u64)> = Vec::new();
        for &idx in mine {
            match runs.last_mut() {
                Some((first, n)) if *first + *n == idx && *n < max_run => *n += 1,
                _ => runs.push((idx, 1)),
            }
        }
        let fetched = self.fetch_runs(&runs)?;
        let mut out = Vec::new();
        for (&(first, n), data) in runs.iter().zip(fetched) {
            for k in 0..n {
                let s = (k * self.chunk) as usize;
                let e = (s + self.chunk as usize).min(data.len());
                if s >= e {
                    return Err(self.short((first + k) * self.chunk, self.chunk, 0));
                }
                let c = Arc::new(data[s..e].to_vec());
                self.cache.insert(first + k, c.clone());
                out.push((first + k, c));
            }
        }
        Ok(out)
    }

    fn short(&self, offset: u64, expected: u64, got: u64) -> BlockError {
        BlockError::RemoteShortRead {
            url: self.name.clone(),
            offset,
            expected,
            got,
        }
    }
}

/// The chunk for an object of `len` bytes: `len / 8192` rounded down to a power of two, within
/// [`CHUNK`]..=[`MAX_CHUNK`].
pub(crate) fn chunk_for(len: u64) -> u64 {
    match len / 8192 {
        0 => CHUNK,
        x => (1u64 << (63 - x.leading_zeros())).clamp(CHUNK, MAX_CHUNK),
    }
}

impl BlockDev for RemoteDev {
    fn len(&self) -> u64 {
        self.len
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), BlockError> {
        check_range(&self.name, self.len, offset, buf.len())?;
        if self.trace {
            eprintln!("guestfix: read {} +{}", offset, buf.len());
        }
        if buf.is_empty() {
            return Ok(());
        }
        if let Some(h) = self
            .head
            .get(offset as usize..)
            .and_then(|h| h.get(..buf.len()))
        {
            buf.copy_from_slice(h);
            return Ok(());
        }
        let c0 = offset / self.chunk;
        let c1 = (offset + buf.len() as u64 - 1) / self.chunk;
        let chunks = self.chunks(c0, c1)?;
        let mut pos = 0usize;
        for (i, c) in chunks.iter().enumerate() {
            let cstart = (c0 + i as u64) * self.chunk;
            let from = (offset.max(cstart) - cstart) as usize;
            let n = c.len().saturating_sub(from).min(buf.len() - pos);
            buf[pos..pos + n].copy_from_slice(&c[from..from + n]);
            pos += n;
        }
        if pos != buf.len() {
            return Err(self.short(offset, buf.len() as u64, pos as u64));
        }
        Ok(())
    }

    fn describe(&self) -> String {
        self.name.clone()
    }

    fn prefetch(&self, ranges: &[(u64, u64)]) {
        // The missing chunks of every range (at most a quarter of the cache), fetched as
        // coalesced runs on a few threads; errors are left for the reads that follow.
        if self.trace {
            eprintln!("guestfix: prefetch hint {ranges:?}");
        }
        let limit = (self.cache.capacity() / 4).max(1);
        let mut missing: Vec<u64> = Vec::new();
        for &(off, len) in ranges {
            if len == 0 || off.checked_add(len).is_none_or(|e| e > self.len) {
                continue;
            }
            for c in off / self.chunk..=(off + len - 1) / self.chunk {
                if missing.len() < limit && self.cache.peek(c).is_none() {
                    missing.push(c);
                }
            }
        }
        missing.sort_unstable();
        missing.dedup();
        let max_run = (MAX_RUN_BYTES / self.chunk).max(1);
        let mut runs: Vec<(u64, u64)> = Vec::new();
        for idx in missing {
            match runs.last_mut() {
                Some((first, n)) if *first + *n == idx && *n < max_run => *n += 1,
                _ => runs.push((idx, 1)),
            }
        }
        if runs.is_empty() {
            return;
        }
        if let Ok(fetched) = self.fetch_runs(&runs) {
            for (&(first, n), data) in runs.iter().zip(fetched) {
                for k in 0..n {
                    let s = (k * self.chunk) as usize;
                    let e = (s + self.chunk as usize).min(data.len());
                    if s < e {
                        self.cache.insert(first + k, Arc::new(data[s..e].to_vec()));
                    }
                }
            }
        }
    }
}

impl Drop for RemoteDev {
    fn drop(&mut self) {
        if stats::wanted() {
            eprintln!(
                "guestfix: stats {}: {} requests, {} bytes transferred, {} retries (object {} bytes)",
                self.name,
                self.stats.requests(),
                self.stats.bytes(),
                self.stats.retries(),
                self.len
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_grows_with_the_object_within_bounds() {
        assert_eq!(chunk_for(0), CHUNK);
        assert_eq!(chunk_for(4 << 20), CHUNK);
        // 672 MiB (the debian12 qcow2): 84 KiB, rounded down to 64 KiB
        assert_eq!(chunk_for(704_643_072), 64 << 10);
        assert_eq!(chunk_for(1 << 30), 128 << 10);
        assert_eq!(chunk_for(2 << 30), 256 << 10);
        assert_eq!(chunk_for(40 << 30), MAX_CHUNK);
        for len in [1u64, 12_345_678, 3 << 30, u64::MAX] {
            let c = chunk_for(len);
            assert!(c.is_power_of_two() && (CHUNK..=MAX_CHUNK).contains(&c));
        }
    }
}
