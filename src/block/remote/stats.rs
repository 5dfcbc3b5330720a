//! Counters of what a remote device cost: requests sent, body bytes received, retries.
//! `GUESTFIX_STATS=1` prints them to stderr when the device is dropped (benchmarks);
//! `GUESTFIX_STATS=2` also prints each request as it is sent; `GUESTFIX_STATS=3` also each read
//! and prefetch hint the layers above make (to tune the chunk and read-ahead policy).

use std::sync::atomic::{AtomicU64, Ordering};

/// Shared counters of one remote object.
#[derive(Debug, Default)]
pub struct RemoteStats {
    requests: AtomicU64,
    bytes: AtomicU64,
    retries: AtomicU64,
}

impl RemoteStats {
    /// HTTP requests sent (each redirect hop and each retry counts).
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }
    /// Response body bytes received.
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }
    /// Attempts repeated after a transient error.
    pub fn retries(&self) -> u64 {
        self.retries.load(Ordering::Relaxed)
    }
    pub(crate) fn add_request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn add_bytes(&self, n: u64) {
        self.bytes.fetch_add(n, Ordering::Relaxed);
    }
    pub(crate) fn add_retry(&self) {
        self.retries.fetch_add(1, Ordering::Relaxed);
    }
}

/// Whether `GUESTFIX_STATS=1` (or more) asks for the counters on stderr.
pub(crate) fn wanted() -> bool {
    level() >= 1
}

/// Whether `GUESTFIX_STATS=2` (or more) asks for each request on stderr.
pub(crate) fn trace_requests() -> bool {
    level() >= 2
}

/// Whether `GUESTFIX_STATS=3` asks for every read and prefetch hint on stderr.
pub(crate) fn trace_reads() -> bool {
    level() >= 3
}

fn level() -> u8 {
    std::env::var("GUESTFIX_STATS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}
