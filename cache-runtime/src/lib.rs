//! Cache async functions in Redis with one attribute.
//!
//! ```
//! use cache_runtime::cached;
//! # #[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq)]
//! # struct User { id: u64, name: String }
//! # #[derive(Debug)] struct DbError;
//!
//! #[cached(ttl = 300, prefix = "user")]
//! async fn get_user(id: u64) -> Result<User, DbError> {
//!     // the slow part: a database query, an HTTP call...
//!     Ok(User { id, name: "Ada".into() })
//! }
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! # cache_runtime::install(cache_runtime::Cache::memory()).unwrap();
//! let user = get_user(7).await.unwrap(); // a miss: the body runs, the value is stored
//! let again = get_user(7).await.unwrap(); // a hit: read from the cache
//! assert_eq!(user, again);
//! # assert_eq!(cache_runtime::global().stats().hits, 1);
//! # }
//! ```
//!
//! The first call of `get_user(7)` runs the body and stores the `Ok` value for 300
//! seconds under a key derived from the arguments; later calls with the same
//! arguments read it back. Errors are never cached.
//!
//! # Where the cache lives
//!
//! Without any setup, the first cached call builds the global cache from the
//! environment: `REDIS_URL` (default `redis://127.0.0.1:6379/0`), `CACHE_NAMESPACE`,
//! `CACHE_TIMEOUT_MS`, `CACHE_LEASE_MS`, `CACHE_BACKEND` (see [`CacheConfig::from_env`]). To set it up in
//! code, build a [`Cache`] and [`install`] it at startup:
//!
//! ```
//! use std::time::Duration;
//! use cache_runtime::{CacheConfig, install};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let cache = CacheConfig::redis("redis://127.0.0.1:6379/0")
//!     .namespace("shop")
//!     .timeout(Duration::from_millis(30))
//!     .build()?; // checks the configuration; connects on first use
//! install(cache)?;
//! # Ok(()) }
//! ```
//!
//! A function can also use its own cache with `cache = <expression>`, evaluated on
//! each call, which must give a `&Cache` (or something that dereferences to one):
//!
//! ```
//! use std::sync::LazyLock;
//! use cache_runtime::{cached, Cache};
//!
//! static LOCAL: LazyLock<Cache> = LazyLock::new(Cache::memory);
//!
//! #[cached(ttl = "10m", cache = LOCAL)]
//! async fn exchange_rate(from: String, to: String) -> Option<f64> {
//!     Some(1.1)
//! }
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! assert_eq!(exchange_rate("EUR".into(), "USD".into()).await, Some(1.1));
//! # exchange_rate("EUR".into(), "USD".into()).await;
//! assert_eq!(LOCAL.stats().hits, 1);
//! # }
//! ```
//!
//! # What is cached
//!
//! | return type | stored |
//! |---|---|
//! | `Result<T, E>`, or any alias of it | `Ok` values only |
//! | `Option<T>` | `Some` values only; `None` too with `cache_none` |
//! | any other `T` | every value |
//!
//! Values must implement serde's `Serialize` and `Deserialize`; arguments that are
//! part of the key must implement `Serialize`. Leave arguments out of the key with
//! `skip(name, ...)`, for example a database pool:
//!
//! ```
//! # use cache_runtime::cached;
//! # struct Pool;
//! #[cached(ttl = 60, skip(pool))]
//! async fn count_orders(pool: &Pool, customer: u64) -> Result<u64, String> {
//!     Ok(3)
//! }
//! ```
//!
//! # Under concurrency
//!
//! Concurrent misses of one key run the function once: in one process the other
//! callers wait for that run (single-flight), and across processes the loading caller
//! holds a lease in the entry, which other processes wait on. An invalidation or
//! write-through that happens during a load revokes the lease, so the value loaded
//! before it is never stored. For hot keys, `early_refresh` recomputes a value
//! shortly before it expires, and `stale_while_revalidate = "30s"` serves the old
//! value while one caller recomputes it:
//!
//! ```
//! # use cache_runtime::cached;
//! #[cached(ttl = "1m", early_refresh, stale_while_revalidate = "30s")]
//! async fn front_page() -> Vec<String> {
//!     vec!["headline".into()]
//! }
//! ```
//!
//! [Consistency] states the guarantees and their cost.
//!
//! # When the cache fails
//!
//! The cache is never the reason a call fails. Every Redis operation has a deadline
//! (50 ms by default); when Redis is down, slow, or returns bytes that do not decode,
//! the function runs and its own result is returned. Failures are counted in
//! [`Cache::stats`] and reported through `tracing`, at most once per ten seconds with
//! a count of the ones held back. The connection is made on first use and remade
//! after it breaks, so an application starts while Redis is down and recovers
//! without a restart.
//!
//! # Features
//!
//! | feature | default | what it adds | crates built |
//! |---|---|---|---|
//! | none (`default-features = false`) | | the memory backend ([`Cache::memory`]) and [`Cache::off`] | 44 |
//! | `redis` | on | the Redis backend ([`CacheConfig::redis`]), with its circuit breaker | 96 |
//! | `tls` | on | `rediss://` over rustls (ring), public hosts checked against the webpki roots; [`CacheConfig::tls_root_certificate`] and [`CacheConfig::tls_client_certificate`]. Implies `redis` | 108 |
//!
//! (Crates built counts the distinct packages `cargo tree -e normal,build` lists for
//! that feature set, this crate included.) The API is the same in every build: a
//! configuration that needs a missing feature (a Redis URL without `redis`; a
//! `rediss://` URL or a certificate without `tls`) fails to
//! [build](CacheConfig::build) with a [`ConfigError`] that names the feature. That
//! includes the default configuration read from the environment, which is Redis
//! unless `CACHE_BACKEND` says otherwise. `tls` is on by default because managed
//! Redis services mostly require TLS, and a cache that cannot be built runs
//! uncached, which is easy to miss.
//!
//! # More
//!
//! - [`guide::attributes`]: every option of `#[cached]`, what is cached, keys,
//!   companions, choosing the cache.
//! - [`guide::invalidation`]: `#[invalidate]`, `#[cache_put]`, groups, and what
//!   happens when Redis is down during an invalidation.
//! - The rest of the guide is in the repository: [consistency], [failures], [keys and
//!   values], [security] and [benchmarks].
//!
//! [consistency]: https://github.com/cache-runtime/cache-runtime/blob/main/docs/consistency.md
//! [failures]: https://github.com/cache-runtime/cache-runtime/blob/main/docs/failures.md
//! [keys and values]: https://github.com/cache-runtime/cache-runtime/blob/main/docs/keys-and-values.md
//! [security]: https://github.com/cache-runtime/cache-runtime/blob/main/docs/security.md
//! [benchmarks]: https://github.com/cache-runtime/cache-runtime/blob/main/docs/benchmarks.md

#![deny(missing_docs)]
// Every `pub` item is a promise: reachable from the root, or crate-private.
#![warn(unreachable_pub)]

mod backend;
mod cache;
mod call;
mod checks;
mod codec;
mod config;
mod entry;
mod envelope;
#[cfg(test)]
mod fixtures;
mod flight;
mod freshness;
mod function;
mod global;
mod group;
pub mod guide;
mod invalidation;
mod key;
mod lease;
mod outcome;
mod retry;
mod stats;
#[doc(hidden)]
pub mod testing;
mod throttle;
mod ttl;

// The macros' documentation, with their options, examples and the code they stand
// for, is in cache-macros/src/lib.rs; rustdoc shows it here.
pub use cache_macros::{cache_put, cached, invalidate};

pub use backend::breaker::{BreakerSettings, BreakerState};
pub use backend::health::{BackendKind, HealthReport};
pub use cache::Cache;
pub use config::{CacheConfig, ConfigError};
pub use entry::{CacheEntry, ForAny, ForOption, FunctionEntries};
pub use global::{AlreadyInstalled, global, install};
pub use group::CacheGroup;
pub use key::CacheKey;
pub use stats::CacheStats;

mod expansion;

/// What generated code calls. Not a public API: no semver promise.
#[doc(hidden)]
pub mod __private {
    pub use crate::cache::Cache;
    pub use crate::call::cached;
    pub use crate::checks::Unchecked;
    pub use crate::entry::FunctionEntries;
    pub use crate::entry::{Invalidation, Standard, WithNone, invalidate_all};
    pub use crate::expansion::{
        Fallback, Returns, Succeeds, entry, invalidate_after, invalidate_before, load, run,
    };
    pub use crate::flight::{ByClone, ByEncoding, Share, ShareByClone, ShareByEncoding};
    pub use crate::function::CachedFn;
    pub use crate::global::global;
    pub use crate::outcome::{
        AsIs, CacheValue, CachesNone, OkOnly, Outcome, Probe, ProbeOption, ProbePlain, ProbeResult,
        SomeAndNone, SomeOnly, some_and_none,
    };
}
