//! One cached call, start to finish: read; on a hit serve (and maybe refresh); on a
//! miss load once per key (single-flight in the process, a lease across processes),
//! fill, and hand the result to the callers that waited.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use crate::cache::{Cache, Lookup};
use crate::envelope::{Decoded, Found, unix_millis};
use crate::flight::{Followed, Landing, Lead, Role, Share};
use crate::freshness::{Freshness, unit_rand};
use crate::function::CachedFn;
use crate::invalidation;
use crate::key::{CacheKey, KeyError};
use crate::lease::{self, Lease, LeaseGuard, Settled};
use crate::outcome::Outcome;

/// Runs one cached call: returns the stored value on a hit; otherwise awaits `body`
/// (or the result of a concurrent call of the same key), stores what the [`Outcome`]
/// rule `O` says to store, and returns the result. `share` says how callers that
/// waited get the result (see [`Share`]).
///
/// Never fails on its own: a key that could not be built, an unreachable backend or
/// a stored value that does not decode all end in running `body`.
pub async fn cached<R, O, S, F>(
    cache: &Cache,
    function: &CachedFn,
    key: Result<CacheKey, KeyError>,
    _rule: O,
    share: S,
    body: F,
) -> R
where
    O: Outcome<R>,
    S: Share<R>,
    F: Future<Output = R>,
{
    let key = match key {
        Ok(key) => key,
        Err(err) => {
            cache.encode_failed(function.prefix(), &err);
            return body.await;
        }
    };
    if cache.is_off() {
        return body.await;
    }
    // One bound for all the waiting this call does for other callers' loads.
    let give_up_at = Instant::now() + cache.load_wait();
    let mut first_look = true;
    loop {
        if invalidation::pending(cache, &key, function) {
            // An invalidation of this entry failed and waits for its retry: the entry
            // may be stale, so neither read nor fill it until then, nor take a result
            // from a load that may have started before the invalidation.
            if first_look {
                cache.count(|c| &c.misses);
            }
            return body.await;
        }
        let backend_up = match cache.lookup::<O::Value>(&key, first_look).await {
            Lookup::Hit(found) => {
                return serve::<R, O, F>(cache, function, &key, found, body).await;
            }
            Lookup::Miss | Lookup::Loading => true,
            // The backend just failed: loads still share one run of the function,
            // but take no lease and write nothing, which would cost more deadlines.
            Lookup::Unavailable => false,
        };
        first_look = false;
        let remaining = give_up_at.saturating_duration_since(Instant::now());
        let lead = match cache.flights().join(key) {
            Role::Leader(lead) => lead,
            Role::Next(queued) => queued.wait(remaining).await,
            Role::Follower(follow) => match follow.wait(remaining).await {
                Followed::Landed(landing) => {
                    if let Some(ret) = unpack::<R, O, S>(cache, &key, &share, &landing) {
                        cache.count(|c| &c.coalesced);
                        return ret;
                    }
                    return body.await;
                }
                // The leader was cancelled, or its result may predate a write this
                // caller must see: look again (see `crate::flight`).
                Followed::StartOver => continue,
                // The leader hangs; do not wait for it any longer.
                Followed::TimedOut => return body.await,
            },
        };
        let load = Load {
            cache,
            function,
            key: &key,
            backend_up,
            give_up_at,
        };
        return load.lead::<R, O, S, F>(&share, body, lead).await;
    }
}

/// Serves a stored value, or refreshes it first if it is due and this caller gets
/// the lease to do so.
async fn serve<R, O, F>(
    cache: &Cache,
    function: &CachedFn,
    key: &CacheKey,
    found: Found<O::Value>,
    body: F,
) -> R
where
    O: Outcome<R>,
    F: Future<Output = R>,
{
    let aging = function.aging();
    if !aging.refreshes() {
        return O::restore(found.value);
    }
    let freshness = aging.judge(&found.meta, unix_millis(), unit_rand());
    if freshness != Freshness::Fresh
        && !found.leased
        && let Some(lease) = lease::take_on_value(cache, key, &found.meta).await
    {
        cache.count(|c| &c.refreshes);
        let (ret, envelope) = run::<R, O, F>(cache, key, body).await;
        settle(lease, envelope, function).await;
        return ret;
    }
    if freshness == Freshness::Stale {
        cache.count(|c| &c.stale_hits);
    }
    O::restore(found.value)
}

/// A leader's load of a missing entry.
struct Load<'a> {
    cache: &'a Cache,
    function: &'a CachedFn,
    key: &'a CacheKey,
    /// Whether the backend answered the read (else: no lease, no write).
    backend_up: bool,
    /// When to stop waiting for another process's lease.
    give_up_at: Instant,
}

impl Load<'_> {
    /// Takes the lease, runs the function, fills, and hands the result to the
    /// followers that may take it; if the fill was revoked, they start over instead,
    /// since the value may predate a write that has completed.
    async fn lead<R, O, S, F>(self, share: &S, body: F, lead: Lead<'_>) -> R
    where
        O: Outcome<R>,
        S: Share<R>,
        F: Future<Output = R>,
    {
        let Self {
            cache,
            function,
            key,
            ..
        } = self;
        enum Write {
            Leased(LeaseGuard),
            /// Leases are off: write whatever was loaded.
            Unconditional,
            Nothing,
        }
        let write = match (self.backend_up, cache.lease_time()) {
            (false, _) => Write::Nothing,
            (true, None) => Write::Unconditional,
            (true, Some(lease_time)) => {
                let stamp = || lead.stamp();
                let lease = lease::take::<O::Value>(
                    cache,
                    key,
                    function,
                    lease_time,
                    self.give_up_at,
                    &stamp,
                );
                match lease.await {
                    Lease::Held(lease) => Write::Leased(lease),
                    Lease::Found(found, stored, read) => {
                        // Loaded by a concurrent caller, here or in another process;
                        // as current as a hit for the callers that joined before the
                        // read was sent.
                        cache.count(|c| &c.coalesced);
                        let ret = O::restore(found.value);
                        lead.land(pack(share, &ret, Some(stored.into_shared())), read);
                        return ret;
                    }
                    Lease::Unavailable => Write::Nothing,
                }
            }
        };
        if !matches!(write, Write::Leased(_)) {
            // Nothing will vouch that the result is still current when it lands:
            // callers arriving from now on wait for the next load.
            lead.unvouched();
        }
        let started = lead.stamp();
        let (ret, envelope) = run::<R, O, F>(cache, key, body).await;
        // Which followers may take the result (see `crate::flight`).
        let valid_before = match write {
            Write::Leased(lease) => {
                let sent = lead.stamp();
                match settle(lease, envelope.clone(), function).await {
                    Settled::Intact => sent,
                    // It may predate a completed write: for this caller only.
                    Settled::Revoked => return ret,
                    Settled::Failed => started,
                }
            }
            Write::Unconditional => match &envelope {
                // Revoked, as a lease would be (see `LeaseGuard::fill`).
                Some(_) if invalidation::pending(cache, key, function) => {
                    cache.count(|c| &c.fills_revoked);
                    return ret;
                }
                Some(bytes) => {
                    function.write(cache, key, bytes.clone()).await;
                    started
                }
                None => started,
            },
            Write::Nothing => started,
        };
        // A result that failed to be invalidated and waits for its retry is for this
        // caller only.
        if !invalidation::pending(cache, key, function) {
            lead.land(pack(share, &ret, envelope), valid_before);
        }
        ret
    }
}

/// Runs the function; returns its result and, if the result is to be cached, the
/// envelope holding it.
async fn run<R, O, F>(cache: &Cache, key: &CacheKey, body: F) -> (R, Option<Arc<[u8]>>)
where
    O: Outcome<R>,
    F: Future<Output = R>,
{
    let started = Instant::now();
    let ret = body.await;
    let envelope = O::cacheable(&ret)
        .and_then(|value| cache.encode(key, value, started.elapsed()))
        .map(Arc::from);
    (ret, envelope)
}

/// Fills a held lease with `envelope`, or gives it back when there is nothing to
/// store (`None`); either way tells whether the lease was still intact.
async fn settle(lease: LeaseGuard, envelope: Option<Arc<[u8]>>, function: &CachedFn) -> Settled {
    match envelope {
        Some(bytes) => lease.fill(bytes, function).await,
        None => lease.release().await,
    }
}

/// What the leader hands its followers: its whole result if `share` can, else the
/// envelope.
fn pack<R, S: Share<R>>(share: &S, ret: &R, envelope: Option<Arc<[u8]>>) -> Landing {
    match share.pack(ret) {
        Some(shared) => Landing::Result(shared),
        None => envelope.map_or(Landing::Nothing, Landing::Envelope),
    }
}

/// A follower's result from the leader's landing; `None` if it must run the function.
fn unpack<R, O, S>(cache: &Cache, key: &CacheKey, share: &S, landing: &Landing) -> Option<R>
where
    O: Outcome<R>,
    S: Share<R>,
{
    match landing {
        Landing::Result(shared) => share.unpack(&**shared),
        Landing::Envelope(bytes) => match cache.decode::<O::Value>(key, bytes) {
            Decoded::Value(found) => Some(O::restore(found.value)),
            Decoded::Placeholder | Decoded::Garbage => None,
        },
        Landing::Nothing => None,
    }
}

#[cfg(test)]
mod tests;
