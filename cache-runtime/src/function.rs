//! The static description of one `#[cached]` function, [`CachedFn`]: its key prefix
//! and identity, how long its entries live and age, and the indexes (its own and its
//! groups') its entries are recorded in. Generated code declares one per function,
//! as a `static`, and hands it to every call.
//!
//! It sits above the [`Cache`] handle: a function knows how to derive its keys in a
//! cache and how its entries are written there, while the handle only moves
//! envelopes under keys and knows nothing of functions.

use std::sync::Arc;

use crate::cache::Cache;
use crate::freshness::Aging;
use crate::group::{CacheGroup, IndexKey};
use crate::key::{CacheKey, FnIdentity, KeyHasher};
use crate::ttl::Ttl;

/// The static description of one `#[cached]` function, generated as a `static`.
#[derive(Debug)]
pub struct CachedFn {
    prefix: &'static str,
    /// The TTL, and how values age within it; see [`crate::freshness`].
    aging: Aging,
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
        // The runtime's one check of the TTL: from here on it is a `Ttl`.
        let Some(ttl) = Ttl::from_millis(ttl_ms) else {
            panic!("a cached function's TTL must be greater than zero");
        };
        Self {
            prefix,
            aging: Aging {
                ttl,
                early_beta: 0.0,
                stale_ms: 0,
            },
            identity: FnIdentity::new(fingerprint),
            groups,
        }
    }

    /// Turns on early refresh with XFetch's `beta` (see [`crate::freshness`]).
    pub const fn early_refresh(mut self, beta: f64) -> Self {
        self.aging.early_beta = beta;
        self
    }

    /// Keeps values `stale_ms` past their TTL, to be served stale while one caller
    /// refreshes them (see [`crate::freshness`]).
    pub const fn stale_while_revalidate(mut self, stale_ms: u64) -> Self {
        self.aging.stale_ms = stale_ms;
        self
    }

    /// Starts this function's key for one call in `cache`.
    #[inline]
    pub fn key<'a>(&'a self, cache: &'a Cache) -> KeyHasher<'a> {
        let key = KeyHasher::new(cache.namespace(), self.prefix, &self.identity);
        match cache.key_secret() {
            Some(secret) => key.with_secret(secret),
            None => key,
        }
    }

    /// The key prefix.
    pub(crate) fn prefix(&self) -> &'static str {
        self.prefix
    }

    /// How the function's values age.
    pub(crate) fn aging(&self) -> &Aging {
        &self.aging
    }

    /// How long this function's entries are stored: the TTL, plus the
    /// `stale_while_revalidate` window if there is one. Values are fresh for the TTL
    /// only; see [`crate::freshness`].
    pub(crate) fn storage_ttl(&self) -> Ttl {
        self.aging.storage_ttl()
    }

    /// The index of all this function's entries in `namespace`.
    pub(crate) fn index(&self, namespace: &str) -> IndexKey {
        IndexKey::function(namespace, self.prefix, &self.identity.index_id())
    }

    /// The indexes an entry of this function in `namespace` is recorded in: the
    /// function's own and its groups' (see [`crate::group`]).
    pub(crate) fn indexes(&self, namespace: &str) -> Vec<IndexKey> {
        let mut indexes = Vec::with_capacity(1 + self.groups.len());
        indexes.push(self.index(namespace));
        for group in self.groups {
            group.note_ttl(self.storage_ttl().as_millis());
            indexes.push(IndexKey::group(namespace, group));
        }
        indexes
    }

    /// Writes the envelope `bytes` as this function's entry `key` in `cache`,
    /// unconditionally (replacing any lease), with the function's TTL and indexes.
    /// Returns whether it was written.
    pub(crate) async fn write(&self, cache: &Cache, key: &CacheKey, bytes: Arc<[u8]>) -> bool {
        let indexes = self.indexes(cache.namespace());
        cache.write(key, bytes, self.storage_ttl(), &indexes).await
    }
}
