//! The [`Cache`] handle: a backend plus the fail-open rules around it.
//!
//! Every failure below this point (a backend error, a deadline, bytes that do not
//! decode, a value that does not encode) is counted, logged at most once per interval,
//! and turned into "run the function". Nothing here returns an error to the caller of
//! a cached function.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::backend::health::{BackendKind, HealthReport};
use crate::backend::{Backend, BackendError};
use crate::call::CachedFn;
use crate::codec::Bincode;
use crate::codec::CodecError;
use crate::config::{
    CacheConfig, DEFAULT_LEASE_TIME, DEFAULT_MAX_VALUE_BYTES, DEFAULT_MEMORY_BYTES,
    DEFAULT_NAMESPACE,
};
use crate::entry::EntryTarget;
use crate::envelope::{self, Decoded, EnvelopeError, Found, HEADER_LEN, Meta, read};
use crate::flight::Flights;
use crate::group::{CacheGroup, IndexKey};
use crate::key::CacheKey;
use crate::retry::{self, Attempt, Pending, Retries, Status};
use crate::stats::{CacheStats, Counters, ShardedCounters};
use crate::throttle::Throttle;
use crate::ttl::Ttl;

/// How long a failed group invalidation is retried when no TTL of the group's
/// entries is known in this process.
const UNKNOWN_GROUP_TTL: Duration = Duration::from_secs(3600);

/// How often a storm of similar failures is reported.
const REPORT_INTERVAL: Duration = Duration::from_secs(10);

/// A cache: where `#[cached]` functions keep their results.
///
/// Cheap to clone (an `Arc`). Build one with [`CacheConfig`], then either
/// [`install`](crate::install) it as the global cache or pass it to a function with
/// `#[cached(cache = ...)]`. Without either, the first cached call builds one from the
/// environment ([`CacheConfig::from_env`]).
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

impl Cache {
    /// A cache over `backend`, with default settings.
    pub(crate) fn from_backend(backend: Backend, namespace: String, lease: Option<Ttl>) -> Self {
        Self::with_settings(backend, namespace, lease, None, DEFAULT_MAX_VALUE_BYTES)
    }

    /// A cache over `backend`; `lease` is the lease time, `None` for no leases;
    /// `key_secret` the hash key derived from a configured key secret;
    /// `max_value_bytes` the largest encoded value stored (checked by the caller).
    pub(crate) fn with_settings(
        backend: Backend,
        namespace: String,
        lease: Option<Ttl>,
        key_secret: Option<[u8; 32]>,
        max_value_bytes: usize,
    ) -> Self {
        let load_wait = lease.map_or(DEFAULT_LEASE_TIME, Ttl::as_duration);
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

    /// An in-process cache with the default namespace and a 64 MiB bound.
    pub fn memory() -> Self {
        Self::from_backend(
            Backend::Memory(crate::backend::memory::MemoryBackend::new(
                DEFAULT_MEMORY_BYTES,
            )),
            DEFAULT_NAMESPACE.to_owned(),
            Ttl::from_duration(DEFAULT_LEASE_TIME),
        )
    }

    /// A cache that stores nothing: every call runs the function.
    pub fn off() -> Self {
        Self::from_backend(Backend::Off, DEFAULT_NAMESPACE.to_owned(), None)
    }

    /// Builds the cache described by the environment (see [`CacheConfig::from_env`]).
    ///
    /// This never fails: a configuration that cannot be used is reported once, as an
    /// error through `tracing` (and on standard error when no `tracing` subscriber is
    /// installed), and the cache is turned [off](Self::off), so the application runs
    /// uncached rather than not at all.
    pub fn from_env() -> Self {
        match CacheConfig::from_env().and_then(CacheConfig::build) {
            Ok(cache) => cache,
            Err(err) => {
                let message = format!("cache-runtime: {err}; caching is off");
                tracing::error!(target: "cache_runtime", "{message}");
                if !tracing::dispatcher::has_been_set() {
                    eprintln!("{message}");
                }
                Self::off()
            }
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

    /// The indexes an entry of `function` is recorded in: the function's own and its
    /// groups' (see [`crate::group`]).
    pub(crate) fn indexes(&self, function: &CachedFn) -> Vec<IndexKey> {
        let namespace = self.namespace();
        let mut indexes = Vec::with_capacity(1 + function.groups().len());
        indexes.push(function.index(namespace));
        for group in function.groups() {
            group.note_ttl(function.storage_ttl().as_millis());
            indexes.push(IndexKey::group(namespace, group));
        }
        indexes
    }

    /// Encodes `value` and writes it under `key` unconditionally (replacing any
    /// lease), with `function`'s TTL and indexes. Returns whether it was written.
    pub(crate) async fn store<V: Serialize + ?Sized>(
        &self,
        key: &CacheKey,
        value: &V,
        function: &CachedFn,
        compute: Duration,
    ) -> bool {
        match self.encode(key, value, compute) {
            Some(bytes) => self.write(key, bytes.into(), function).await,
            None => false,
        }
    }

    /// Writes the envelope `bytes` under `key` unconditionally (replacing any lease),
    /// with `function`'s TTL and indexes. Returns whether it was written.
    pub(crate) async fn write(
        &self,
        key: &CacheKey,
        bytes: Arc<[u8]>,
        function: &CachedFn,
    ) -> bool {
        let indexes = self.indexes(function);
        match (self.inner.backend)
            .set(key, bytes, function.storage_ttl(), &indexes)
            .await
        {
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

    /// Whether an invalidation of the entry `key` of `function` failed and is still
    /// waiting for its retry: then the entry must not be read.
    pub(crate) fn invalidation_pending(&self, key: &CacheKey, function: &CachedFn) -> bool {
        if !self.inner.retries.any() {
            return false;
        }
        // The retry task may have gone with the runtime it ran on; a new one also
        // clears the records that expire meanwhile.
        self.keep_retrying();
        (self.inner.retries).target(key, || self.indexes(function))
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

    /// Writes `value` into `target` (write-through). If the write fails, the entry
    /// still holds the value from before the write: it is invalidated instead, which
    /// is retried until it lands.
    pub(crate) async fn put_entry<V: Serialize + ?Sized>(&self, target: &EntryTarget, value: &V) {
        if let Some(key) = &target.key
            && !self
                .store(key, value, target.function, Duration::ZERO)
                .await
        {
            self.invalidate_entry(target).await;
        }
    }

    /// Removes one entry.
    pub(crate) async fn invalidate_entry(&self, target: &EntryTarget) {
        if let Some(key) = target.key {
            let ttl = target.function.storage_ttl().as_duration();
            self.invalidate(Pending::Entry(key), ttl).await;
        }
    }

    /// Removes every entry of `function`.
    pub(crate) async fn invalidate_function(&self, function: &CachedFn) {
        let index = function.index(self.namespace());
        self.invalidate(Pending::Index(index), function.storage_ttl().as_duration())
            .await;
    }

    /// Removes every entry of `group`.
    pub(crate) async fn invalidate_group(&self, group: &CacheGroup) {
        let index = IndexKey::group(self.namespace(), group);
        // Retried for the longest TTL this process wrote into the group, or, if it
        // wrote none, for an hour: entries may come from other processes.
        let ttl = match group.longest_ttl_ms() {
            0 => UNKNOWN_GROUP_TTL,
            ms => Duration::from_millis(ms),
        };
        self.invalidate(Pending::Index(index), ttl).await;
    }

    /// One attempt now; on failure, queued for retries until `ttl` has passed.
    async fn invalidate(&self, what: Pending, ttl: Duration) {
        let earlier_failure = self.inner.retries.version(&what);
        match self.try_invalidate(what).await {
            Ok(()) => {
                self.count(|c| &c.invalidations);
                // It also did what an earlier failed attempt still had to.
                self.inner.retries.applied(&what, earlier_failure);
            }
            Err(err) => {
                self.backend_failed("invalidate", &what, &err);
                self.count(|c| &c.invalidations_queued);
                self.inner.retries.add(what, Instant::now() + ttl);
                self.keep_retrying();
            }
        }
    }

    async fn try_invalidate(&self, what: Pending) -> Result<(), BackendError> {
        match &what {
            Pending::Entry(key) => self.inner.backend.delete(key).await,
            Pending::Index(index) => self.inner.backend.clear_index(index).await,
        }
    }

    /// Starts a retry task if invalidations wait and none runs: on the first failure,
    /// or after the runtime the last one ran on shut down. The task holds the cache
    /// weakly and ends when the cache is dropped.
    fn keep_retrying(&self) {
        let Some(queue) = self.inner.retries.restart_if_stopped() else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            // Not on a runtime: dropping the queue closes it, and the next failure or
            // bypassed read on a runtime starts the task.
            return;
        };
        let weak = Arc::downgrade(&self.inner);
        runtime.spawn(retry::run(queue, move |what| {
            let weak = weak.clone();
            async move {
                match weak.upgrade() {
                    Some(inner) => Cache { inner }.retry(what).await,
                    None => Attempt::CacheDropped,
                }
            }
        }));
    }

    /// One retry of a queued invalidation, unless it is no longer needed.
    async fn retry(&self, what: Pending) -> Attempt {
        let version = match self.inner.retries.status(&what, Instant::now()) {
            Status::Due(version) => version,
            Status::Done => return Attempt::Done,
            Status::Expired => {
                self.count(|c| &c.invalidations_expired);
                tracing::warn!(
                    target: "cache_runtime",
                    target_key = %what,
                    "queued invalidation dropped: the backend stayed unreachable until the entries expired"
                );
                return Attempt::Done;
            }
        };
        match self.try_invalidate(what).await {
            Ok(()) => {
                self.count(|c| &c.invalidations);
                self.inner.retries.applied(&what, Some(version));
                tracing::info!(target: "cache_runtime", target_key = %what, "queued invalidation applied");
                Attempt::Done
            }
            Err(_) => Attempt::Failed,
        }
    }

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
