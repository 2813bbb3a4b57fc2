//! Invalidations: removing one entry, every entry of a function, or every entry of
//! a group; and, when the backend cannot be reached, retrying them in the background
//! until they land or their entries would have expired anyway.
//!
//! What to remove comes from above ([`crate::entry`] for the companions and
//! `#[invalidate]`, [`crate::call`] and [`crate::lease`] for the checks on the read
//! path). How failed invalidations are recorded, and the backoff of their retries,
//! is [`crate::retry`]; this module drives it: one attempt now, then a task per
//! cache that retries, and reports what it gave up.

use std::time::{Duration, Instant};

use crate::backend::BackendError;
use crate::cache::Cache;
use crate::function::CachedFn;
use crate::group::{CacheGroup, IndexKey};
use crate::key::CacheKey;
use crate::retry::{self, Attempt, Pending, Status};

/// How long a failed group invalidation is retried when no TTL of the group's
/// entries is known in this process.
const UNKNOWN_GROUP_TTL: Duration = Duration::from_secs(3600);

/// Removes the entry `key` of `function`.
pub(crate) async fn entry(cache: &Cache, function: &CachedFn, key: &CacheKey) {
    let ttl = function.storage_ttl().as_duration();
    invalidate(cache, Pending::Entry(*key), ttl).await;
}

/// Removes every entry of `function`.
pub(crate) async fn function(cache: &Cache, function: &CachedFn) {
    let index = function.index(cache.namespace());
    let ttl = function.storage_ttl().as_duration();
    invalidate(cache, Pending::Index(index), ttl).await;
}

/// Removes every entry of `group`.
pub(crate) async fn group(cache: &Cache, group: &CacheGroup) {
    let index = IndexKey::group(cache.namespace(), group);
    // Retried for the longest TTL this process wrote into the group, or, if it
    // wrote none, for an hour: entries may come from other processes.
    let ttl = match group.longest_ttl_ms() {
        0 => UNKNOWN_GROUP_TTL,
        ms => Duration::from_millis(ms),
    };
    invalidate(cache, Pending::Index(index), ttl).await;
}

/// Whether an invalidation of the entry `key` of `function` failed and is still
/// waiting for its retry: then the entry must not be read.
pub(crate) fn pending(cache: &Cache, key: &CacheKey, function: &CachedFn) -> bool {
    if !cache.retries().any() {
        return false;
    }
    // The retry task may have gone with the runtime it ran on; a new one also
    // clears the records that expire meanwhile.
    keep_retrying(cache);
    (cache.retries()).target(key, || function.indexes(cache.namespace()))
}

/// One attempt now; on failure, queued for retries until `ttl` has passed.
async fn invalidate(cache: &Cache, what: Pending, ttl: Duration) {
    let earlier_failure = cache.retries().version(&what);
    match attempt(cache, what).await {
        Ok(()) => {
            cache.count(|c| &c.invalidations);
            // It also did what an earlier failed attempt still had to.
            cache.retries().applied(&what, earlier_failure);
        }
        Err(err) => {
            cache.backend_failed("invalidate", &what, &err);
            cache.count(|c| &c.invalidations_queued);
            cache.retries().add(what, Instant::now() + ttl);
            keep_retrying(cache);
        }
    }
}

async fn attempt(cache: &Cache, what: Pending) -> Result<(), BackendError> {
    match &what {
        Pending::Entry(key) => cache.backend_ref().delete(key).await,
        Pending::Index(index) => cache.backend_ref().clear_index(index).await,
    }
}

/// Starts a retry task if invalidations wait and none runs: on the first failure,
/// or after the runtime the last one ran on shut down. The task holds the cache
/// weakly and ends when the cache is dropped.
fn keep_retrying(cache: &Cache) {
    let Some(queue) = cache.retries().restart_if_stopped() else {
        return;
    };
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        // Not on a runtime: dropping the queue closes it, and the next failure or
        // bypassed read on a runtime starts the task.
        return;
    };
    let weak = cache.downgrade();
    runtime.spawn(retry::run(queue, move |what| {
        let weak = weak.clone();
        async move {
            match weak.upgrade() {
                Some(cache) => retry_once(&cache, what).await,
                None => Attempt::CacheDropped,
            }
        }
    }));
}

/// One retry of a queued invalidation, unless it is no longer needed.
async fn retry_once(cache: &Cache, what: Pending) -> Attempt {
    let version = match cache.retries().status(&what, Instant::now()) {
        Status::Due(version) => version,
        Status::Done => return Attempt::Done,
        Status::Expired => {
            cache.count(|c| &c.invalidations_expired);
            tracing::warn!(
                target: "cache_runtime",
                target_key = %what,
                "queued invalidation dropped: the backend stayed unreachable until the entries expired"
            );
            return Attempt::Done;
        }
    };
    match attempt(cache, what).await {
        Ok(()) => {
            cache.count(|c| &c.invalidations);
            cache.retries().applied(&what, Some(version));
            tracing::info!(target: "cache_runtime", target_key = %what, "queued invalidation applied");
            Attempt::Done
        }
        Err(_) => Attempt::Failed,
    }
}
