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
    /// Invalidations applied: entries, functions and groups, retries included.
    pub invalidations: u64,
    /// Invalidations that failed and were queued for a retry in the background.
    pub invalidations_queued: u64,
    /// Queued invalidations given up because their entries had expired meanwhile.
    pub invalidations_expired: u64,
}

impl CacheStats {
    /// The field-by-field sum of two snapshots.
    pub(crate) fn plus(self, other: Self) -> Self {
        Self {
            hits: self.hits + other.hits,
            misses: self.misses + other.misses,
            writes: self.writes + other.writes,
            decode_failures: self.decode_failures + other.decode_failures,
            backend_errors: self.backend_errors + other.backend_errors,
            timeouts: self.timeouts + other.timeouts,
            encode_failures: self.encode_failures + other.encode_failures,
            invalidations: self.invalidations + other.invalidations,
            invalidations_queued: self.invalidations_queued + other.invalidations_queued,
            invalidations_expired: self.invalidations_expired + other.invalidations_expired,
        }
    }
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
    pub(crate) invalidations: AtomicU64,
    pub(crate) invalidations_queued: AtomicU64,
    pub(crate) invalidations_expired: AtomicU64,
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
            invalidations: self.invalidations.load(Relaxed),
            invalidations_queued: self.invalidations_queued.load(Relaxed),
            invalidations_expired: self.invalidations_expired.load(Relaxed),
        }
    }
}
