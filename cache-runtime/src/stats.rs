//! Counters of what the cache did, readable at any time with [`Cache::stats`](crate::Cache::stats).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// A snapshot of one cache's counters since it was built.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheStats {
    /// Reads answered from the cache.
    pub hits: u64,
    /// Reads that found nothing (the function ran).
    pub misses: u64,
    /// Values written to the cache after a miss.
    pub writes: u64,
    /// Stored values that could not be decoded: corrupted, truncated, or written by
    /// another format or codec. Each counted as a miss and overwritten.
    pub decode_failures: u64,
    /// Backend operations that failed or ran past their deadline; the function ran
    /// (or its value was returned without being stored).
    pub backend_errors: u64,
    /// Of `backend_errors`, those that were deadline expiries.
    pub timeouts: u64,
    /// Calls that ran uncached because a key or value could not be encoded.
    pub encode_failures: u64,
}

/// The live counters behind [`CacheStats`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) hits: AtomicU64,
    pub(crate) misses: AtomicU64,
    pub(crate) writes: AtomicU64,
    pub(crate) decode_failures: AtomicU64,
    pub(crate) backend_errors: AtomicU64,
    pub(crate) timeouts: AtomicU64,
    pub(crate) encode_failures: AtomicU64,
}

impl Counters {
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Relaxed);
    }

    pub(crate) fn snapshot(&self) -> CacheStats {
        CacheStats {
            hits: self.hits.load(Relaxed),
            misses: self.misses.load(Relaxed),
            writes: self.writes.load(Relaxed),
            decode_failures: self.decode_failures.load(Relaxed),
            backend_errors: self.backend_errors.load(Relaxed),
            timeouts: self.timeouts.load(Relaxed),
            encode_failures: self.encode_failures.load(Relaxed),
        }
    }
}
