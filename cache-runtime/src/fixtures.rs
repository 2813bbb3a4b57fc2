//! What the unit tests of the orchestration core (`call`, `lease`, `entry`) share:
//! memory caches, function descriptors, their keys, and a look at what is stored.
//! These tests run the real protocol against the memory backend, which follows the
//! same lease rules as Redis (see `backend/memory.rs`); the Redis side is tested end
//! to end in `tests/`.

use std::future::Future;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::cache::Cache;
use crate::codec::Bincode;
use crate::config::CacheConfig;
use crate::envelope::{self, Meta};
use crate::function::CachedFn;
use crate::group::CacheGroup;
use crate::key::CacheKey;

/// A group that `GET_USER` and `LIST_USERS` belong to, and `GET_ORDER` does not.
pub(crate) static USERS: CacheGroup = CacheGroup::new("users");

pub(crate) static GET_USER: CachedFn =
    CachedFn::new("user", "fixtures::get_user|u64|String", 60_000, &[&USERS]);
pub(crate) static LIST_USERS: CachedFn = CachedFn::new(
    "users",
    "fixtures::list_users|u64|Vec<String>",
    60_000,
    &[&USERS],
);
pub(crate) static GET_ORDER: CachedFn =
    CachedFn::new("order", "fixtures::get_order|u64|String", 60_000, &[]);

/// A memory cache with the default settings.
pub(crate) fn memory() -> Cache {
    memory_with(|config| config)
}

/// A memory cache with settings changed by `configure`.
pub(crate) fn memory_with(configure: impl FnOnce(CacheConfig) -> CacheConfig) -> Cache {
    configure(CacheConfig::memory())
        .build()
        .unwrap_or_else(|err| panic!("a memory cache builds: {err}"))
}

/// The key of `function` for the argument `id` in `cache`, as generated code
/// derives it.
pub(crate) fn key(cache: &Cache, function: &CachedFn, id: u64) -> CacheKey {
    let mut key = function.key(cache);
    key.arg(&id);
    key.finish()
        .unwrap_or_else(|err| panic!("a u64 encodes: {err}"))
}

/// The raw bytes stored under `key`, if any.
pub(crate) async fn raw(cache: &Cache, key: &CacheKey) -> Option<Vec<u8>> {
    let stored = cache.backend_ref().get(key).await;
    stored
        .unwrap_or_else(|err| panic!("the memory backend does not fail: {err}"))
        .map(|bytes| bytes.to_vec())
}

/// The value stored under `key`, if a value of type `V` is stored there.
pub(crate) async fn stored<V: DeserializeOwned>(cache: &Cache, key: &CacheKey) -> Option<V> {
    let bytes = raw(cache, key).await?;
    envelope::decode::<Bincode, V>(&bytes)
        .ok()
        .map(|(_, value)| value)
}

/// Stores `value` as the entry `key` of `function`, as a fill would.
pub(crate) async fn put<V: Serialize>(
    cache: &Cache,
    function: &CachedFn,
    key: &CacheKey,
    value: &V,
) {
    let bytes = envelope::encode::<Bincode, V>(value, Meta::now(Duration::ZERO))
        .unwrap_or_else(|err| panic!("encodes: {err}"));
    assert!(function.write(cache, key, bytes.into()).await, "stored");
}

/// Waits, at most 10 s (the machine may be busy), until `done` says so.
pub(crate) async fn eventually<F: Future<Output = bool>>(what: &str, done: impl Fn() -> F) {
    let give_up_at = Instant::now() + Duration::from_secs(10);
    while !done().await {
        assert!(Instant::now() < give_up_at, "still not {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
