//! The [`Cache`] handle: a backend plus the fail-open rules around it.
//!
//! The handle holds a cache's state (the backend, its settings, the counters, the
//! loads in progress and the invalidations waiting for a retry) and moves envelopes
//! under keys: it reads and decodes, encodes and writes, counts and reports. It knows
//! nothing of cached functions ([`crate::function`]), leases ([`crate::lease`]) or
//! invalidations ([`crate::invalidation`]), which build on it. Its public
//! constructors are with the configuration ([`crate::config`]).
//!
//! Every failure below this point (a backend error, a deadline, bytes that do not
//! decode, a value that does not encode) is counted, logged at most once per interval,
//! and turned into "run the function". Nothing here returns an error to the caller of
//! a cached function.

use std::sync::Arc;
use std::sync::Weak;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::backend::health::{BackendKind, HealthReport};
use crate::backend::{Backend, BackendError};
use crate::codec::{Bincode, CodecError};
use crate::envelope::{self, Decoded, EnvelopeError, Found, HEADER_LEN, Meta, read};
use crate::flight::Flights;
use crate::group::IndexKey;
use crate::key::CacheKey;
use crate::retry::Retries;
use crate::stats::{CacheStats, Counters, ShardedCounters};
use crate::throttle::Throttle;
use crate::ttl::Ttl;

/// How often a storm of similar failures is reported.
const REPORT_INTERVAL: Duration = Duration::from_secs(10);

/// A cache: where `#[cached]` functions keep their results.
///
/// Cheap to clone (an `Arc`). Build one with [`CacheConfig`](crate::CacheConfig) (or
/// [`Cache::memory`], [`Cache::off`]), then either [`install`](crate::install) it as
/// the global cache or pass it to a function with `#[cached(cache = ...)]`. Without
/// either, the first cached call builds one from the environment
/// ([`CacheConfig::from_env`](crate::CacheConfig::from_env)).
#[derive(Clone)]
pub struct Cache {
    inner: Arc<Inner>,
}

struct Inner {
    backend: Backend,
    namespace: String,
    counters: ShardedCounters,
    backend_failures: Throttle,
    data_failures: Throttle,
    /// Invalidations waiting to be retried, for reads to steer around; see
    /// [`crate::retry`].
    retries: Retries,
    /// Loads in progress in this process; see [`crate::flight`].
    flights: Flights,
    /// How long a lease lasts; `None` when leases are off. See [`crate::lease`].
    lease: Option<Ttl>,
    /// How long a caller waits for another caller's load of the same key.
    load_wait: Duration,
    /// The hash key derived from the configured key secret, if any.
    key_secret: Option<[u8; 32]>,
    /// The longest entry written or read: the header and the configured largest
    /// value. Longer entries are not written, and are misses when read.
    max_entry_bytes: usize,
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache")
            .field("backend", &self.inner.backend)
            .field("namespace", &self.inner.namespace)
            .finish_non_exhaustive()
    }
}

/// The result of reading one entry.
pub(crate) enum Lookup<V> {
    Hit(Found<V>),
    /// Another caller holds the lease on the empty entry: it is loading the value.
    Loading,
    /// Nothing usable is stored.
    Miss,
    /// The backend failed; call the function and do not try to write.
    Unavailable,
}

/// What a cache is built with besides its backend; see [`crate::config`].
pub(crate) struct Settings {
    pub(crate) namespace: String,
    /// The lease time; `None` for no leases.
    pub(crate) lease: Option<Ttl>,
    /// How long a caller waits for another caller's load of the same key.
    pub(crate) load_wait: Duration,
    /// The hash key derived from a configured key secret.
    pub(crate) key_secret: Option<[u8; 32]>,
    /// The largest encoded value stored (checked by the caller).
    pub(crate) max_value_bytes: usize,
}

impl Cache {
    /// A cache over `backend`.
    pub(crate) fn new(backend: Backend, settings: Settings) -> Self {
        let Settings {
            namespace,
            lease,
            load_wait,
            key_secret,
            max_value_bytes,
        } = settings;
        Self {
            inner: Arc::new(Inner {
                backend,
                namespace,
                counters: ShardedCounters::new(),
                backend_failures: Throttle::new(REPORT_INTERVAL),
                data_failures: Throttle::new(REPORT_INTERVAL),
                retries: Retries::default(),
                flights: Flights::default(),
                lease,
                load_wait,
                key_secret,
                max_entry_bytes: HEADER_LEN.saturating_add(max_value_bytes),
            }),
        }
    }

    /// The namespace every key of this cache starts with.
    pub fn namespace(&self) -> &str {
        &self.inner.namespace
    }

    /// Which backend this cache stores entries in.
    pub fn backend(&self) -> BackendKind {
        self.inner.backend.kind()
    }

    /// Counters since the cache was built.
    pub fn stats(&self) -> CacheStats {
        let mut stats = self.inner.counters.snapshot();
        if let Some((_, (opened, rejected))) = self.inner.backend.breaker() {
            stats.breaker_opens = opened;
            stats.short_circuited = rejected;
        }
        stats.waiting_for_loads = self.inner.flights.waiting();
        stats
    }

    /// Checks the backend, for readiness endpoints: for Redis a `PING` with its
    /// latency, the server version and the number of connected clients.
    pub async fn health(&self) -> HealthReport {
        self.inner.backend.health().await
    }

    /// Reads and decodes the entry under `key`; counts the hit or miss if `count`
    /// (a call that looks again after a concurrent load is counted once).
    pub(crate) async fn lookup<V: DeserializeOwned>(
        &self,
        key: &CacheKey,
        count: bool,
    ) -> Lookup<V> {
        let tally = |counter: fn(&Counters) -> &AtomicU64| {
            if count {
                self.count(counter);
            }
        };
        let stored = self.inner.backend.get(key).await;
        let stored = match stored {
            Ok(Some(stored)) => stored,
            Ok(None) => {
                tally(|c| &c.misses);
                return Lookup::Miss;
            }
            Err(err) => {
                self.backend_failed("read", key, &err);
                tally(|c| &c.misses);
                return Lookup::Unavailable;
            }
        };
        match self.decode(key, &stored) {
            Decoded::Value(found) => {
                tally(|c| &c.hits);
                Lookup::Hit(found)
            }
            Decoded::Placeholder => {
                tally(|c| &c.misses);
                Lookup::Loading
            }
            Decoded::Garbage => {
                tally(|c| &c.misses);
                Lookup::Miss
            }
        }
    }

    /// Decodes stored bytes; bytes that do not decode, or are longer than the
    /// configured limit, are counted and reported.
    pub(crate) fn decode<V: DeserializeOwned>(&self, key: &CacheKey, stored: &[u8]) -> Decoded<V> {
        let decoded = if stored.len() > self.inner.max_entry_bytes {
            // Cut short by the backend at the limit plus one byte (see
            // `RedisBackend::get`): a value too large to read in time, replaced by
            // the next write like any unreadable entry.
            Err(EnvelopeError::Oversized)
        } else {
            read(stored)
        };
        decoded.unwrap_or_else(|err| {
            self.count(|c| &c.decode_failures);
            if let Some(suppressed) = self.inner.data_failures.admit() {
                tracing::warn!(
                    target: "cache_runtime",
                    key = %key,
                    error = %err,
                    suppressed,
                    "cached value could not be decoded; treating it as a miss and overwriting it"
                );
            }
            Decoded::Garbage
        })
    }

    /// Encodes `value` in an envelope; `None` (counted and reported) if it cannot be,
    /// or if it is larger than the configured limit.
    pub(crate) fn encode<V: Serialize + ?Sized>(
        &self,
        key: &CacheKey,
        value: &V,
        compute: Duration,
    ) -> Option<Vec<u8>> {
        let limit = self.inner.max_entry_bytes;
        envelope::encode::<Bincode, V>(value, Meta::now(compute))
            .and_then(|bytes| match bytes.len() {
                len if len <= limit => Ok(bytes),
                len => Err(CodecError::Encode(format!(
                    "value is {} bytes, more than the {} bytes allowed (CacheConfig::max_value_bytes)",
                    len - HEADER_LEN,
                    limit - HEADER_LEN,
                ))),
            })
            .map_err(|err| self.encode_failed(key, &err))
            .ok()
    }

    /// Writes the envelope `bytes` under `key` unconditionally (replacing any lease),
    /// for `ttl`, recorded in `indexes`. Returns whether it was written.
    pub(crate) async fn write(
        &self,
        key: &CacheKey,
        bytes: Arc<[u8]>,
        ttl: Ttl,
        indexes: &[IndexKey],
    ) -> bool {
        match self.inner.backend.set(key, bytes, ttl, indexes).await {
            Ok(()) => {
                self.count(|c| &c.writes);
                true
            }
            Err(err) => {
                self.backend_failed("write", key, &err);
                false
            }
        }
    }

    /// Adds one to a counter of the current thread's set.
    #[inline]
    pub(crate) fn count(&self, counter: impl FnOnce(&Counters) -> &AtomicU64) {
        Counters::bump(counter(self.inner.counters.local()));
    }

    pub(crate) fn backend_ref(&self) -> &Backend {
        &self.inner.backend
    }

    /// Whether caching is off: calls run their function and nothing else.
    pub(crate) fn is_off(&self) -> bool {
        matches!(self.inner.backend, Backend::Off)
    }

    pub(crate) fn flights(&self) -> &Flights {
        &self.inner.flights
    }

    /// The invalidations waiting for a retry; see [`crate::invalidation`].
    pub(crate) fn retries(&self) -> &Retries {
        &self.inner.retries
    }

    /// A handle that does not keep the cache alive, for background tasks.
    pub(crate) fn downgrade(&self) -> WeakCache {
        WeakCache(Arc::downgrade(&self.inner))
    }

    /// The lease time, or `None` when leases are off.
    pub(crate) fn lease_time(&self) -> Option<Ttl> {
        self.inner.lease
    }

    /// The hash key derived from the configured key secret, if any.
    #[inline]
    pub(crate) fn key_secret(&self) -> Option<&[u8; 32]> {
        self.inner.key_secret.as_ref()
    }

    /// How long a caller waits for another caller's load of the same key.
    pub(crate) fn load_wait(&self) -> Duration {
        self.inner.load_wait
    }

    /// Counts and reports a key or value that could not be encoded.
    pub(crate) fn encode_failed(&self, key: impl std::fmt::Display, err: &dyn std::error::Error) {
        self.count(|c| &c.encode_failures);
        if let Some(suppressed) = self.inner.data_failures.admit() {
            tracing::warn!(
                target: "cache_runtime",
                key = %key,
                error = %err,
                suppressed,
                "could not encode for the cache; the call runs uncached"
            );
        }
    }

    /// Counts and reports a failed backend operation (unless the open breaker turned
    /// it away: the breaker counts and reports those).
    pub(crate) fn backend_failed(
        &self,
        operation: &'static str,
        key: &dyn std::fmt::Display,
        err: &BackendError,
    ) {
        if matches!(err, BackendError::CircuitOpen) {
            // Counted by the breaker, which reported its opening.
            return;
        }
        let counters = self.inner.counters.local();
        Counters::bump(&counters.backend_errors);
        if matches!(err, BackendError::Timeout(_)) {
            Counters::bump(&counters.timeouts);
        }
        if let Some(suppressed) = self.inner.backend_failures.admit() {
            tracing::warn!(
                target: "cache_runtime",
                operation,
                key = %key,
                error = %err,
                suppressed,
                "cache backend unavailable; calling the function directly"
            );
        }
    }
}

/// A [`Cache`] that does not keep it alive.
#[derive(Clone)]
pub(crate) struct WeakCache(Weak<Inner>);

impl WeakCache {
    /// The cache, unless it was dropped.
    pub(crate) fn upgrade(&self) -> Option<Cache> {
        self.0.upgrade().map(|inner| Cache { inner })
    }
}
