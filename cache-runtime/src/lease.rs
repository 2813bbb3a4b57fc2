//! Leases: one loader per missing entry across processes, and fills that lose to
//! invalidations. After Facebook's memcache leases (NSDI 2013), built on the entry
//! itself:
//!
//! 1. A caller that misses stores a *placeholder* under the empty key (atomically:
//!    only if the key is still empty), holding a random token, for the lease time.
//!    This is its lease. If the key is not empty, the caller gets what it holds.
//! 2. A caller that finds another caller's placeholder waits, polling the key, until
//!    a value appears or the lease is gone (given back, or expired because its
//!    holder crashed); then it takes the lease itself. A placeholder states its own
//!    expiry: one found past it (stored without a TTL, or by a crashed holder whose
//!    lease Redis has not expired yet) is dead, and the caller replaces it with its
//!    own, atomically, only if it is still the same placeholder. A caller waits at
//!    most the lease time, then runs the function without storing the result.
//! 3. The holder runs the function and *fills*: it writes the value only if its
//!    token is still in the key. An invalidation deletes the key, and a write-through
//!    overwrites it, so either one that happens during the load revokes the lease,
//!    and the value loaded before it is never stored.
//! 4. A holder whose function returned nothing to cache gives the lease back.
//!
//! Refreshing a value that is still stored (early refresh, stale-while-revalidate)
//! uses the same token field: the refresher marks the value as leased without
//! removing it, so the others keep reading it, and fills under the same rule.
//!
//! On Redis each step is one Lua script on one key (`backend/redis/scripts.rs`); the
//! memory backend does the same under a per-key lock. `docs/consistency.md` states
//! the guarantees and their cost.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;

use crate::backend::{Acquired, Stored};
use crate::cache::Cache;
use crate::codec::Bincode;
use crate::envelope::{self, Decoded, Found, LeaseToken, Meta, read, unix_millis};
use crate::flight::Stamp;
use crate::function::CachedFn;
use crate::invalidation;
use crate::key::CacheKey;
use crate::ttl::Ttl;

/// First pause between two looks at a key another caller is loading.
const FIRST_POLL: Duration = Duration::from_millis(2);
/// Longest pause between two looks.
const MAX_POLL: Duration = Duration::from_millis(50);

/// What [`take`] ended with.
pub(crate) enum Lease<V> {
    /// This caller holds the lease: load, then fill or release.
    Held(LeaseGuard),
    /// The key holds a value (stored by another caller meanwhile), read by a request
    /// sent after the [`Stamp`] given.
    Found(Found<V>, Stored, Stamp),
    /// No lease could be had: the backend failed, or another caller's lease outlived
    /// the wait. Run the function without storing the result.
    Unavailable,
}

/// Takes the lease on the missing entry `key` of `function` in `cache`, waiting for
/// another caller's lease if there is one, until `give_up_at`. See the
/// [module documentation](self).
pub(crate) async fn take<V: DeserializeOwned>(
    cache: &Cache,
    key: &CacheKey,
    function: &CachedFn,
    lease: Ttl,
    give_up_at: Instant,
    stamp: &(dyn Fn() -> Stamp + Sync),
) -> Lease<V> {
    let token = LeaseToken::random();
    let placeholder = envelope::placeholder::<Bincode>(token, lease.as_duration());
    // The key joins its indexes in the same round trip as the placeholder, so that
    // a function or group invalidation during the load deletes the placeholder too.
    let indexes = function.indexes(cache.namespace());
    let mut pause = FIRST_POLL;
    let mut waited = false;
    let mut cleared = false;
    loop {
        // Armed before the attempt: if it times out or is cancelled after Redis
        // stored the placeholder, the lease is given back rather than left to expire.
        let guard = LeaseGuard::new(cache, *key, token);
        let sent = stamp();
        let acquired = (cache.backend_ref())
            .acquire(key, &placeholder, lease, function.storage_ttl(), &indexes)
            .await;
        let found = match acquired {
            Ok(Acquired::Granted) => return Lease::Held(guard),
            Ok(Acquired::Found(found)) => found,
            Err(err) => {
                cache.backend_failed("lease", key, &err);
                return Lease::Unavailable;
            }
        };
        // Quietly: unreadable bytes were counted and reported by the read before.
        match read::<V>(&found) {
            Ok(Decoded::Value(value)) => {
                guard.disarm();
                return Lease::Found(value, found, sent);
            }
            Ok(Decoded::Placeholder)
                if envelope::placeholder_dead(&found, unix_millis(), lease.as_duration()) =>
            {
                // Its holder's lease has run out: take over, unless it changed.
                match (cache.backend_ref())
                    .take_over(key, &found, &placeholder, lease)
                    .await
                {
                    Ok(true) => {
                        cache.count(|c| &c.leases_taken_over);
                        return Lease::Held(guard);
                    }
                    Ok(false) => guard.disarm(),
                    Err(err) => {
                        cache.backend_failed("lease", key, &err);
                        return Lease::Unavailable;
                    }
                }
            }
            Ok(Decoded::Placeholder) => guard.disarm(),
            // Unreadable bytes under the key: remove them, then take the lease.
            Ok(Decoded::Garbage) | Err(_) if !cleared => {
                guard.disarm();
                cleared = true;
                if let Err(err) = cache.backend_ref().delete(key).await {
                    cache.backend_failed("delete", key, &err);
                    return Lease::Unavailable;
                }
                continue;
            }
            Ok(Decoded::Garbage) | Err(_) => {
                guard.disarm();
                return Lease::Unavailable;
            }
        }
        if !waited {
            waited = true;
            cache.count(|c| &c.lease_waits);
        }
        if Instant::now() + pause > give_up_at {
            return Lease::Unavailable;
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(MAX_POLL);
    }
}

/// Takes the lease on the value under `key` in `cache` read with `meta`, to refresh
/// it; `None` if another caller took it first, or the value changed meanwhile.
pub(crate) async fn take_on_value(
    cache: &Cache,
    key: &CacheKey,
    meta: &Meta,
) -> Option<LeaseGuard> {
    let token = LeaseToken::random();
    let head = envelope::unleased_head::<Bincode>(meta);
    // Armed before the attempt, as in `take`.
    let guard = LeaseGuard::new(cache, *key, token);
    match cache.backend_ref().lease_value(key, &head, token).await {
        Ok(true) => Some(guard),
        Ok(false) => {
            guard.disarm();
            None
        }
        Err(err) => {
            cache.backend_failed("lease", key, &err);
            None
        }
    }
}

/// How a held lease ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Settled {
    /// The lease was still in place when the value was filled or the lease given
    /// back: no invalidation or write-through of the entry came since it was taken.
    Intact,
    /// The lease was gone: an invalidation or a write-through happened during the
    /// load (or the load outlasted the lease), so its result may be stale. Nothing
    /// was written.
    Revoked,
    /// The backend failed: whether the lease was intact is unknown.
    Failed,
}

/// A held lease. Fill it or release it; dropped otherwise (the load was cancelled or
/// panicked), it is released in the background, so that the others need not wait
/// for it to expire.
pub(crate) struct LeaseGuard {
    cache: Cache,
    key: CacheKey,
    token: LeaseToken,
    settled: bool,
}

impl LeaseGuard {
    fn new(cache: &Cache, key: CacheKey, token: LeaseToken) -> Self {
        Self {
            cache: cache.clone(),
            key,
            token,
            settled: false,
        }
    }

    /// Writes `bytes` (an envelope) if the lease is still in place, and no
    /// invalidation of the entry failed meanwhile: that one waits for its retry and
    /// could not revoke the lease in the backend, so it revokes it here.
    pub(crate) async fn fill(mut self, bytes: Arc<[u8]>, function: &CachedFn) -> Settled {
        let cache = self.cache.clone();
        if invalidation::pending(&cache, &self.key, function) {
            cache.count(|c| &c.fills_revoked);
            self.release().await;
            return Settled::Revoked;
        }
        let indexes = function.indexes(cache.namespace());
        let filled = (cache.backend_ref())
            .fill(
                &self.key,
                self.token,
                bytes,
                function.storage_ttl(),
                &indexes,
            )
            .await;
        // Only now: dropped during the fill, the guard gives the lease back, which
        // does nothing if the fill landed (the token is gone).
        self.settled = true;
        match filled {
            Ok(true) => {
                cache.count(|c| &c.writes);
                Settled::Intact
            }
            Ok(false) => {
                cache.count(|c| &c.fills_revoked);
                Settled::Revoked
            }
            Err(err) => {
                cache.backend_failed("write", &self.key, &err);
                Settled::Failed
            }
        }
    }

    /// Gives the lease back, and tells whether it was still in place.
    pub(crate) async fn release(mut self) -> Settled {
        let released = self
            .cache
            .backend_ref()
            .release(&self.key, self.token)
            .await;
        self.settled = true;
        match released {
            Ok(true) => Settled::Intact,
            Ok(false) => Settled::Revoked,
            Err(err) => {
                self.cache.backend_failed("release", &self.key, &err);
                Settled::Failed
            }
        }
    }

    /// Forgets a lease that was never taken.
    fn disarm(mut self) {
        self.settled = true;
    }
}

impl Drop for LeaseGuard {
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let (cache, key, token) = (self.cache.clone(), self.key, self.token);
        runtime.spawn(async move {
            // Best effort: if this fails too, the lease expires on its own.
            let _ = cache.backend_ref().release(&key, token).await;
        });
    }
}

#[cfg(test)]
mod tests;
