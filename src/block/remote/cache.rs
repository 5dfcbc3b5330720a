//! A bounded in-memory cache of fixed-size chunks of a remote object, least recently used out.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Chunks by index (offset / chunk size); each chunk is shared so that a read holding it is not
/// disturbed by an eviction.
pub(crate) struct ChunkCache {
    capacity: usize,
    inner: Mutex<Lru>,
}

#[derive(Default)]
struct Lru {
    map: HashMap<u64, (Arc<Vec<u8>>, u64)>,
    tick: u64,
}

impl ChunkCache {
    /// A cache holding at most `capacity` chunks (at least one).
    pub fn new(capacity: usize) -> Self {
        ChunkCache {
            capacity: capacity.max(1),
            inner: Mutex::new(Lru::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Lru> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn get(&self, index: u64) -> Option<Arc<Vec<u8>>> {
        let mut l = self.lock();
        l.tick += 1;
        let tick = l.tick;
        let e = l.map.get_mut(&index)?;
        e.1 = tick;
        Some(e.0.clone())
    }

    /// Whether a chunk is held, without making it recent.
    pub fn peek(&self, index: u64) -> Option<Arc<Vec<u8>>> {
        self.lock().map.get(&index).map(|e| e.0.clone())
    }

    /// Most chunks held.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn insert(&self, index: u64, data: Arc<Vec<u8>>) {
        let mut l = self.lock();
        l.tick += 1;
        let tick = l.tick;
        l.map.insert(index, (data, tick));
        while l.map.len() > self.capacity {
            let Some(oldest) = l.map.iter().min_by_key(|(_, (_, t))| *t).map(|(k, _)| *k) else {
                break;
            };
            l.map.remove(&oldest);
        }
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.lock().map.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evicts_least_recently_used() {
        let c = ChunkCache::new(2);
        c.insert(1, Arc::new(vec![1]));
        c.insert(2, Arc::new(vec![2]));
        assert!(c.get(1).is_some());
        c.insert(3, Arc::new(vec![3]));
        assert_eq!(c.len(), 2);
        assert!(c.get(2).is_none());
        assert_eq!(*c.get(1).unwrap(), vec![1]);
        assert_eq!(*c.get(3).unwrap(), vec![3]);
    }
}
