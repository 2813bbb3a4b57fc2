//! Counters of what the cache did, readable at any time with [`Cache::stats`](crate::Cache::stats):
//! the public snapshot, and the live counters behind it, sharded per thread.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};

/// Declares each figure once: the public snapshot field and, for those counted
/// here, the live atomic; the snapshot and the sum. The `reported` ones are kept
/// elsewhere (by the circuit breaker, by the flights) and filled in by
/// [`Cache::stats`](crate::Cache::stats).
macro_rules! counters {
    (
        counted { $($(#[doc = $doc:literal])* $name:ident,)* }
        reported { $($(#[doc = $other_doc:literal])* $other:ident,)* }
    ) => {
        /// A snapshot of one cache's counters since it was built, and of how many
        /// callers wait for a load at the time of the snapshot.
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
        #[non_exhaustive]
        pub struct CacheStats {
            $($(#[doc = $doc])* pub $name: u64,)*
            $($(#[doc = $other_doc])* pub $other: u64,)*
        }

        impl CacheStats {
            /// The field-by-field sum of two snapshots.
            pub(crate) fn plus(self, other: Self) -> Self {
                Self {
                    $($name: self.$name + other.$name,)*
                    $($other: self.$other + other.$other,)*
                }
            }
        }

        /// The live counters behind [`CacheStats`].
        #[derive(Debug, Default)]
        pub(crate) struct Counters {
            $(pub(crate) $name: AtomicU64,)*
        }

        impl Counters {
            /// The counted figures; the reported ones are zero.
            pub(crate) fn snapshot(&self) -> CacheStats {
                CacheStats {
                    $($name: self.$name.load(Relaxed),)*
                    $($other: 0,)*
                }
            }
        }
    };
}

counters! {
    counted {
        /// Reads that found a stored value: served from the cache (stale values
        /// included), or, for the few counted in `refreshes` too, recomputed first.
        hits,
        /// Calls not served from the cache: nothing usable was stored, or the backend
        /// could not be read (counted in `backend_errors` too). The function ran, or the
        /// caller was given the result of a concurrent call's run (see `coalesced`).
        misses,
        /// Values written to the cache.
        writes,
        /// Stored values that could not be decoded: corrupted, truncated, or written by
        /// another format or codec. Each counted as a miss and overwritten.
        decode_failures,
        /// Backend operations that failed or ran past their deadline; the function ran
        /// (or its value was returned without being stored).
        backend_errors,
        /// Of `backend_errors`, those that were deadline expiries.
        timeouts,
        /// Calls that ran uncached because a key or value could not be encoded.
        encode_failures,
        /// Invalidations applied: entries, functions and groups, retries included.
        invalidations,
        /// Invalidations that failed and were queued for a retry in the background.
        invalidations_queued,
        /// Queued invalidations given up because their entries had expired meanwhile.
        invalidations_expired,
        /// Misses answered, without running the function, with the result of a
        /// concurrent call of the same key: in this process (single-flight), or in
        /// another (found when taking the lease).
        coalesced,
        /// Loads that found another caller's lease (from any process) and waited for it.
        lease_waits,
        /// Leases taken over from a placeholder past its own stated expiry (its holder
        /// crashed, or it was stored without a TTL).
        leases_taken_over,
        /// Loaded values not written because the lease was revoked meanwhile: an
        /// invalidation or write-through of the entry won, or the load outlasted the lease.
        fills_revoked,
        /// Values recomputed before they expired (`early_refresh`) or while being served
        /// stale (`stale_while_revalidate`).
        refreshes,
        /// Of `hits`, values served past their TTL within the `stale_while_revalidate`
        /// window.
        stale_hits,
    }
    reported {
        /// How often the circuit breaker opened (see `docs/failures.md`).
        breaker_opens,
        /// Operations the open circuit breaker turned away without asking Redis.
        short_circuited,
        /// Callers waiting, at the time of the snapshot, for a concurrent call's load of
        /// the same key in this process: a gauge, not a count since the cache was built.
        waiting_for_loads,
    }
}

impl Counters {
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Relaxed);
    }
}

/// How many sets of counters a cache keeps; see [`ShardedCounters`].
const COUNTER_SHARDS: usize = 8;

/// The cache's counters, split into sets that threads count into separately.
///
/// Every call counts (a hit, a miss...), from every thread of the runtime. With one
/// set, each count would take the counter's cache line away from the other threads,
/// and a hit would wait for it: a cost that grows with the number of threads. Each
/// thread counts into one set instead, on cache lines of its own, and
/// [`Cache::stats`](crate::Cache::stats) adds the sets up.
pub(crate) struct ShardedCounters([OwnLines<Counters>; COUNTER_SHARDS]);

impl ShardedCounters {
    pub(crate) fn new() -> Self {
        Self(std::array::from_fn(|_| OwnLines(Counters::default())))
    }

    /// The set the current thread counts into.
    #[inline]
    pub(crate) fn local(&self) -> &Counters {
        &self.0[shard_index()].0
    }

    pub(crate) fn snapshot(&self) -> CacheStats {
        self.0
            .iter()
            .map(|shard| shard.0.snapshot())
            .fold(CacheStats::default(), CacheStats::plus)
    }
}

/// The counter set of the current thread: threads are given sets in turn.
#[inline]
fn shard_index() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static SHARD: usize = NEXT.fetch_add(1, Relaxed) % COUNTER_SHARDS;
    }
    // Only unavailable while the thread's locals are being destroyed.
    SHARD.try_with(|shard| *shard).unwrap_or(0)
}

/// Keeps its value on cache lines of its own (128 bytes: a pair of 64-byte lines,
/// which x86 prefetches together), so that writes to it do not slow down threads
/// reading or writing anything next to it.
#[repr(align(128))]
struct OwnLines<T>(T);
