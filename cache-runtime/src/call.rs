//! One cached call, start to finish: read, and on a miss run the body and write.

use std::future::Future;
use std::time::Instant;

use crate::cache::{Cache, Lookup};
use crate::group::{CacheGroup, IndexKey};
use crate::key::{CacheKey, FnIdentity, KeyError, KeyHasher};
use crate::outcome::Outcome;
use crate::ttl::Ttl;

/// The static description of one `#[cached]` function, generated as a `static`.
#[derive(Debug)]
pub struct CachedFn {
    prefix: &'static str,
    ttl: Ttl,
    identity: FnIdentity,
    groups: &'static [&'static CacheGroup],
}

impl CachedFn {
    /// Describes a function whose entries also belong to `groups`. `ttl_ms` is checked
    /// to be non-zero by the macro; a zero here fails compilation of the `static` that
    /// holds the descriptor.
    pub const fn new(
        prefix: &'static str,
        fingerprint: &'static str,
        ttl_ms: u64,
        groups: &'static [&'static CacheGroup],
    ) -> Self {
        let Some(ttl) = Ttl::from_millis(ttl_ms) else {
            panic!("a cached function's TTL must be greater than zero");
        };
        Self {
            prefix,
            ttl,
            identity: FnIdentity::new(fingerprint),
            groups,
        }
    }

    /// The named groups this function's entries belong to.
    pub fn groups(&self) -> &'static [&'static CacheGroup] {
        self.groups
    }

    /// The index of all this function's entries in `namespace`.
    pub(crate) fn index(&self, namespace: &str) -> IndexKey {
        IndexKey::function(namespace, self.prefix, &self.identity.index_id())
    }

    /// The key prefix.
    pub fn prefix(&self) -> &'static str {
        self.prefix
    }

    /// The time to live of this function's entries.
    pub fn ttl(&self) -> Ttl {
        self.ttl
    }

    /// The identity the key digest is keyed with.
    pub fn identity(&self) -> &FnIdentity {
        &self.identity
    }

    /// Starts this function's key for one call in `cache`.
    #[inline]
    pub fn key<'a>(&'a self, cache: &'a Cache) -> KeyHasher<'a> {
        KeyHasher::new(cache.namespace(), self.prefix, &self.identity)
    }
}

/// Runs one cached call: returns the stored value on a hit; otherwise awaits `body`,
/// stores what the [`Outcome`] rule `O` says to store, and returns the body's result.
///
/// Never fails on its own: a key that could not be built, an unreachable backend or
/// a stored value that does not decode all end in running `body`.
pub async fn cached<R, O, F>(
    cache: &Cache,
    function: &CachedFn,
    key: Result<CacheKey, KeyError>,
    _rule: O,
    body: F,
) -> R
where
    O: Outcome<R>,
    F: Future<Output = R>,
{
    let key = match key {
        Ok(key) => key,
        Err(err) => {
            cache.encode_failed(function.prefix, &err);
            return body.await;
        }
    };
    let writable = match cache.lookup::<O::Value>(&key).await {
        Lookup::Hit(value) => return O::restore(value),
        Lookup::Miss => true,
        // The backend just failed: a write would most likely fail too, and would
        // cost the caller a second deadline.
        Lookup::Unavailable => false,
    };
    let started = Instant::now();
    let ret = body.await;
    if writable && let Some(value) = O::cacheable(&ret) {
        cache.store(&key, value, function, started.elapsed()).await;
    }
    ret
}
