//! The in-process backend: bounded by bytes, TTL per entry, built on moka.
//!
//! It serves tests of user code and single-machine setups that run without Redis.
//! It stores the same envelopes as Redis and follows the same lease protocol, so
//! corruption handling, codecs, TTLs and the consistency guarantees behave the same
//! on both.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::backend::health::{BackendKind, HealthReport};
use crate::envelope::{FLAGS_AT, HEAD_LEN, HEADER_LEN, LEASED, LeaseToken, PLACEHOLDER, TOKEN_AT};
use crate::group::IndexKey;
use crate::key::CacheKey;
use crate::ttl::Ttl;

#[derive(Clone)]
struct Entry {
    bytes: Arc<[u8]>,
    /// When the entry expires. Absolute, so that rewriting an entry (a lease taken or
    /// given back on a value) keeps its expiry whichever moka callback runs.
    expires_at: Instant,
}

/// Applies each entry's own expiry time.
struct PerEntryTtl;

impl moka::Expiry<CacheKey, Entry> for PerEntryTtl {
    fn expire_after_create(&self, _: &CacheKey, entry: &Entry, now: Instant) -> Option<Duration> {
        Some(entry.expires_at.saturating_duration_since(now))
    }

    fn expire_after_update(
        &self,
        _: &CacheKey,
        entry: &Entry,
        now: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        Some(entry.expires_at.saturating_duration_since(now))
    }
}

/// How many locks the writes are spread over.
const WRITE_LOCKS: usize = 64;

pub(crate) struct MemoryBackend {
    entries: moka::sync::Cache<CacheKey, Entry>,
    /// Group indexes: the keys written into each group. Members whose entry has gone
    /// (expired or evicted) are harmless and dropped when the group is cleared.
    indexes: Mutex<HashMap<IndexKey, HashSet<CacheKey>>>,
    /// Every write to an entry holds its key's lock, so that the lease checks (read,
    /// compare, write) are atomic, as the Lua scripts are on Redis. Reads take none.
    write_locks: Box<[Mutex<()>]>,
    lock_hasher: RandomState,
    /// Held while an index is cleared, so that a second clear of the same index does
    /// not return before the entries the first one took from it are gone.
    clearing: Mutex<()>,
}

impl std::fmt::Debug for MemoryBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryBackend")
            .field("entries", &self.entries.entry_count())
            .field("bytes", &self.entries.weighted_size())
            .finish()
    }
}

impl MemoryBackend {
    /// A store holding at most about `max_bytes` of keys and values.
    pub(crate) fn new(max_bytes: u64) -> Self {
        let entries = moka::sync::Cache::builder()
            .max_capacity(max_bytes)
            .weigher(|key: &CacheKey, entry: &Entry| {
                u32::try_from(key.as_str().len() + entry.bytes.len()).unwrap_or(u32::MAX)
            })
            .expire_after(PerEntryTtl)
            .build();
        Self {
            entries,
            indexes: Mutex::default(),
            write_locks: (0..WRITE_LOCKS).map(|_| Mutex::new(())).collect(),
            lock_hasher: RandomState::new(),
            clearing: Mutex::default(),
        }
    }

    fn lock(&self, key: &CacheKey) -> MutexGuard<'_, ()> {
        let stripe = self.lock_hasher.hash_one(key) as usize % WRITE_LOCKS;
        self.write_locks[stripe]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn get(&self, key: &CacheKey) -> Option<Arc<[u8]>> {
        self.entries.get(key).map(|entry| entry.bytes)
    }

    pub(crate) fn set(&self, key: CacheKey, bytes: Arc<[u8]>, ttl: Ttl, indexes: &[IndexKey]) {
        let _lock = self.lock(&key);
        self.write(key, bytes, ttl, indexes);
    }

    /// Stores an entry, recorded in `indexes`; the caller holds the key's lock.
    fn write(&self, key: CacheKey, bytes: Arc<[u8]>, ttl: Ttl, indexes: &[IndexKey]) {
        self.record(key, indexes);
        self.insert(key, bytes, ttl);
    }

    /// Records `key` in `indexes`.
    fn record(&self, key: CacheKey, indexes: &[IndexKey]) {
        if !indexes.is_empty() {
            let mut all = self.indexes.lock().unwrap_or_else(PoisonError::into_inner);
            for index in indexes {
                let members = all.entry(*index).or_default();
                // Keep the index bounded by the live entries.
                if members.len() >= 1024 && members.len().is_power_of_two() {
                    members.retain(|member| self.entries.contains_key(member));
                }
                members.insert(key);
            }
        }
    }

    /// Stores `bytes` under `key` for `ttl`; the caller holds the key's lock.
    fn insert(&self, key: CacheKey, bytes: Arc<[u8]>, ttl: Ttl) {
        let entry = Entry {
            bytes,
            expires_at: Instant::now() + ttl.as_duration(),
        };
        self.entries.insert(key, entry);
    }

    /// Replaces the bytes of `entry` under `key`, keeping its expiry; the caller
    /// holds the key's lock.
    fn rewrite(&self, key: CacheKey, entry: &Entry, bytes: Vec<u8>) {
        let entry = Entry {
            bytes: bytes.into(),
            expires_at: entry.expires_at,
        };
        self.entries.insert(key, entry);
    }

    /// The entry if its lease token is `token`.
    fn leased_to(&self, key: &CacheKey, token: LeaseToken) -> Option<Entry> {
        self.entries
            .get(key)
            .filter(|entry| entry.bytes.get(TOKEN_AT) == Some(&token.to_bytes()[..]))
    }

    /// See `scripts::ACQUIRE`: `None` when the lease was granted. The key is
    /// recorded in `indexes` first.
    pub(crate) fn acquire(
        &self,
        key: CacheKey,
        placeholder: &[u8],
        lease: Ttl,
        indexes: &[IndexKey],
    ) -> Option<Arc<[u8]>> {
        let _lock = self.lock(&key);
        self.record(key, indexes);
        if let Some(current) = self.get(&key) {
            return Some(current);
        }
        self.insert(key, placeholder.into(), lease);
        None
    }

    /// See `scripts::FILL`.
    pub(crate) fn fill(
        &self,
        key: CacheKey,
        token: LeaseToken,
        bytes: Arc<[u8]>,
        ttl: Ttl,
        indexes: &[IndexKey],
    ) -> bool {
        let _lock = self.lock(&key);
        if self.leased_to(&key, token).is_none() {
            return false;
        }
        self.write(key, bytes, ttl, indexes);
        true
    }

    /// See `scripts::TAKE_OVER`.
    pub(crate) fn take_over(
        &self,
        key: CacheKey,
        found: &[u8],
        placeholder: &[u8],
        lease: Ttl,
    ) -> bool {
        let _lock = self.lock(&key);
        if self.get(&key).as_deref() != Some(found) {
            return false;
        }
        self.insert(key, placeholder.into(), lease);
        true
    }

    /// See `scripts::RELEASE`; returns whether the lease was still in place.
    pub(crate) fn release(&self, key: CacheKey, token: LeaseToken) -> bool {
        let _lock = self.lock(&key);
        let Some(current) = self.leased_to(&key, token) else {
            return false;
        };
        if current.bytes[FLAGS_AT] & PLACEHOLDER != 0 {
            self.entries.invalidate(&key);
        } else {
            let mut bytes = current.bytes.to_vec();
            bytes[FLAGS_AT] = 0;
            bytes[TOKEN_AT].fill(0);
            self.rewrite(key, &current, bytes);
        }
        true
    }

    /// See `scripts::LEASE_VALUE`.
    pub(crate) fn lease_value(&self, key: CacheKey, head: &[u8], token: LeaseToken) -> bool {
        let _lock = self.lock(&key);
        let Some(current) = self.entries.get(&key).filter(|entry| {
            entry.bytes.len() >= HEADER_LEN && entry.bytes.get(..HEAD_LEN) == Some(head)
        }) else {
            return false;
        };
        let mut bytes = current.bytes.to_vec();
        bytes[FLAGS_AT] = LEASED;
        bytes[TOKEN_AT].copy_from_slice(&token.to_bytes());
        self.rewrite(key, &current, bytes);
        true
    }

    pub(crate) fn delete(&self, key: &CacheKey) {
        let _lock = self.lock(key);
        self.entries.invalidate(key);
    }

    pub(crate) fn clear_index(&self, index: &IndexKey) {
        let _clearing = self.clearing.lock().unwrap_or_else(PoisonError::into_inner);
        let members = self
            .indexes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(index);
        for member in members.into_iter().flatten() {
            self.delete(&member);
        }
    }

    pub(crate) fn health(&self) -> HealthReport {
        let mut report = HealthReport::new(BackendKind::Memory);
        // moka applies inserts and evictions in batches; settle them so the count is exact.
        self.entries.run_pending_tasks();
        report.entries = Some(self.entries.entry_count());
        report
    }
}
