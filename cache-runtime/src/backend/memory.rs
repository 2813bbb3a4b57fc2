//! The in-process backend: bounded by bytes, TTL per entry, built on moka.
//!
//! It serves tests of user code and single-machine setups that run without Redis.
//! It stores the same envelopes as Redis, so corruption handling, codecs and TTLs
//! behave the same on both.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::group::IndexKey;
use crate::health::{BackendKind, HealthReport};
use crate::key::CacheKey;
use crate::ttl::Ttl;

#[derive(Clone)]
struct Entry {
    bytes: Arc<[u8]>,
    ttl: Duration,
}

/// Applies each entry's own TTL.
struct PerEntryTtl;

impl moka::Expiry<CacheKey, Entry> for PerEntryTtl {
    fn expire_after_create(&self, _: &CacheKey, entry: &Entry, _: Instant) -> Option<Duration> {
        Some(entry.ttl)
    }

    fn expire_after_update(
        &self,
        _: &CacheKey,
        entry: &Entry,
        _: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        Some(entry.ttl)
    }
}

pub(crate) struct MemoryBackend {
    entries: moka::sync::Cache<CacheKey, Entry>,
    /// Group indexes: the keys written into each group. Members whose entry has gone
    /// (expired or evicted) are harmless and dropped when the group is cleared.
    indexes: Mutex<HashMap<IndexKey, HashSet<CacheKey>>>,
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
        }
    }

    pub(crate) fn get(&self, key: &CacheKey) -> Option<Arc<[u8]>> {
        self.entries.get(key).map(|entry| entry.bytes)
    }

    pub(crate) fn set(&self, key: CacheKey, bytes: Vec<u8>, ttl: Ttl, indexes: &[IndexKey]) {
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
        let entry = Entry {
            bytes: bytes.into(),
            ttl: ttl.as_duration(),
        };
        self.entries.insert(key, entry);
    }

    pub(crate) fn delete(&self, key: &CacheKey) {
        self.entries.invalidate(key);
    }

    pub(crate) fn clear_index(&self, index: &IndexKey) {
        let members = self
            .indexes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(index);
        for member in members.into_iter().flatten() {
            self.entries.invalidate(&member);
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
