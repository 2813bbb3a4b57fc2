//! A stand-in database behind cached reads, for tests that race reads with writes.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};

use cache_runtime::{Cache, cache_put, cached, invalidate};

use crate::Gate;

/// One row per id, all at one version that writers bump; reads are cached in
/// `cache` under the prefix `row`.
#[derive(Debug)]
pub struct Rows {
    /// Where reads are cached.
    pub cache: Cache,
    /// The rows' version.
    pub version: AtomicU64,
    /// How often a read ran (missed the cache).
    pub loads: AtomicUsize,
    /// When set, reads wait at `gate` after reading the version.
    pub hold: AtomicBool,
    /// Where held reads wait.
    pub gate: Gate,
}

impl Rows {
    /// Rows at version `version`; `hold` says whether reads wait at the gate.
    pub fn new(cache: Cache, version: u64, hold: bool) -> Arc<Self> {
        Arc::new(Self {
            cache,
            version: AtomicU64::new(version),
            loads: AtomicUsize::new(0),
            hold: AtomicBool::new(hold),
            gate: Gate::new(),
        })
    }

    /// Reads row `id` as `"{id}:v{version}"`. The version is read first, then (when
    /// held) the read waits at the gate, as a slow query whose answer is on its way
    /// back would: a write can overtake it.
    ///
    /// # Errors
    /// Never; the `Result` is there to exercise the `Ok`-only caching rule.
    #[cached(ttl = 600, prefix = "row", cache = self.cache)]
    pub async fn row(&self, id: u64) -> Result<String, String> {
        self.loads.fetch_add(1, SeqCst);
        let version = self.version.load(SeqCst);
        if self.hold.load(SeqCst) {
            self.gate.wait().await;
        }
        Ok(format!("{id}:v{version}"))
    }

    /// Bumps the version, then invalidates row `id`'s entry.
    ///
    /// # Errors
    /// Never.
    #[invalidate(self.row(id))]
    pub async fn update(&self, id: u64) -> Result<(), String> {
        self.version.fetch_add(1, SeqCst);
        Ok(())
    }

    /// Bumps the version, then invalidates every entry of `row`.
    ///
    /// # Errors
    /// Never.
    #[invalidate(self.row(..))]
    pub async fn update_all(&self) -> Result<(), String> {
        self.version.fetch_add(1, SeqCst);
        Ok(())
    }

    /// Bumps the version, then writes row `id`'s new value through.
    ///
    /// # Errors
    /// Never.
    #[cache_put(self.row(id))]
    pub async fn update_through(&self, id: u64) -> Result<String, String> {
        let version = self.version.fetch_add(1, SeqCst) + 1;
        Ok(format!("{id}:v{version}"))
    }
}
