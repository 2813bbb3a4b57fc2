//! The [`Cache`] handle: a backend plus the fail-open rules around it.
//!
//! Every failure below this point (a backend error, a deadline, bytes that do not
//! decode, a value that does not encode) is counted, logged at most once per interval,
//! and turned into "run the function". Nothing here returns an error to the caller of
//! a cached function.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::backend::{Backend, BackendError};
use crate::codec::Bincode;
use crate::config::{CacheConfig, DEFAULT_MEMORY_BYTES, DEFAULT_NAMESPACE};
use crate::envelope::{self, Meta};
use crate::health::{BackendKind, HealthReport};
use crate::key::CacheKey;
use crate::report::Throttle;
use crate::stats::{CacheStats, Counters};
use crate::ttl::Ttl;

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
    counters: Counters,
    backend_failures: Throttle,
    data_failures: Throttle,
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
    Hit(V),
    /// Nothing usable is stored; the entry should be written after the call.
    Miss,
    /// The backend failed; call the function and do not try to write.
    Unavailable,
}

impl Cache {
    pub(crate) fn from_backend(backend: Backend, namespace: String) -> Self {
        Self {
            inner: Arc::new(Inner {
                backend,
                namespace,
                counters: Counters::default(),
                backend_failures: Throttle::new(REPORT_INTERVAL),
                data_failures: Throttle::new(REPORT_INTERVAL),
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
        )
    }

    /// A cache that stores nothing: every call runs the function.
    pub fn off() -> Self {
        Self::from_backend(Backend::Off, DEFAULT_NAMESPACE.to_owned())
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
        self.inner.counters.snapshot()
    }

    /// Checks the backend, for readiness endpoints: for Redis a `PING` with its
    /// latency, the server version and the number of connected clients.
    pub async fn health(&self) -> HealthReport {
        self.inner.backend.health().await
    }

    /// Reads and decodes the entry under `key`.
    pub(crate) async fn lookup<V: DeserializeOwned>(&self, key: &CacheKey) -> Lookup<V> {
        let counters = &self.inner.counters;
        let stored = match self.inner.backend.get(key).await {
            Ok(Some(stored)) => stored,
            Ok(None) => {
                Counters::bump(&counters.misses);
                return Lookup::Miss;
            }
            Err(err) => {
                self.backend_failed("read", key, &err);
                return Lookup::Unavailable;
            }
        };
        match envelope::decode::<Bincode, V>(&stored) {
            Ok((_meta, value)) => {
                Counters::bump(&counters.hits);
                Lookup::Hit(value)
            }
            Err(err) => {
                Counters::bump(&counters.decode_failures);
                Counters::bump(&counters.misses);
                if let Some(suppressed) = self.inner.data_failures.admit() {
                    tracing::warn!(
                        target: "cache_runtime",
                        key = %key,
                        error = %err,
                        suppressed,
                        "cached value could not be decoded; treating it as a miss and overwriting it"
                    );
                }
                Lookup::Miss
            }
        }
    }

    /// Encodes `value` and writes it under `key` for `ttl`.
    pub(crate) async fn store<V: Serialize + ?Sized>(
        &self,
        key: &CacheKey,
        value: &V,
        ttl: Ttl,
        compute: Duration,
    ) {
        let bytes = match envelope::encode::<Bincode, V>(value, Meta::now(compute)) {
            Ok(bytes) => bytes,
            Err(err) => {
                self.encode_failed(key, &err);
                return;
            }
        };
        match self.inner.backend.set(key, bytes, ttl).await {
            Ok(()) => Counters::bump(&self.inner.counters.writes),
            Err(err) => self.backend_failed("write", key, &err),
        }
    }

    /// Counts and reports a key or value that could not be encoded.
    pub(crate) fn encode_failed(&self, key: impl std::fmt::Display, err: &dyn std::error::Error) {
        Counters::bump(&self.inner.counters.encode_failures);
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

    fn backend_failed(&self, operation: &'static str, key: &CacheKey, err: &BackendError) {
        let counters = &self.inner.counters;
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
