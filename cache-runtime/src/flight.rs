//! Single-flight: concurrent calls that miss the same key in one process share one
//! load. The first becomes the leader and loads; the others follow, waiting for the
//! leader's [`Landing`], bounded by a timeout.
//!
//! A follower may take the leader's result only if nothing can have changed the data
//! between the leader's read and the follower's start. The rule, in full: **no caller
//! receives a result whose load began before an invalidation of its key that
//! completed before the caller started** — whether that invalidation succeeded, failed
//! or was queued, in this process or another. Joins and the leader's reads are ordered
//! by one clock ([`Stamp`]), and every landing says which followers may take it:
//!
//! - a value filled under a lease: the followers that joined before the fill was sent
//!   (the compare-and-set proves no invalidation came between the lease and the fill,
//!   and the lease was taken before the function ran);
//! - a value found in the backend: those that joined before that read was sent;
//! - anything else (no lease could be had, leases are off, the fill failed or stored
//!   nothing): those that joined before the function started.
//!
//! The others start over (read the cache again, then join or lead a new load). So
//! that callers arriving while an unvouched load runs do not each start their own,
//! they queue behind it: the first leads the next load once the current one is over,
//! and the rest follow that one. At most one load per key runs at a time in a process,
//! and nobody waits for more than two.
//!
//! If the leader's future is dropped before it lands (its caller was cancelled, or
//! the body panicked), its followers are told at once and start over. Distinct keys
//! never wait for each other: each key has its own flights.

use std::any::Any;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed, Ordering::SeqCst};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::watch;

use crate::key::CacheKey;
use crate::outcome::Probe;

/// What a leader hands its followers.
#[derive(Clone)]
pub(crate) enum Landing {
    /// The leader's whole result, for return types that are `Clone` (errors
    /// included).
    Result(Arc<dyn Any + Send + Sync>),
    /// The stored value's envelope, for followers to decode.
    Envelope(Arc<[u8]>),
    /// Nothing followers can use (an error that cannot be cloned, or a value that is
    /// not cached): each runs the function itself.
    Nothing,
}

/// How followers get the leader's result, chosen per return type `R` by the
/// generated code: [`ByClone`] when `R` is `Clone` (followers get clones of the
/// leader's result, errors included), else [`ByEncoding`] (followers decode the
/// stored value; after a result that is not cached, such as an error, each follower
/// runs the function itself).
pub trait Share<R> {
    /// The leader's result, if it can be shared as it is.
    fn pack(&self, ret: &R) -> Option<Arc<dyn Any + Send + Sync>>;
    /// A follower's copy of what [`pack`](Self::pack) made.
    fn unpack(&self, shared: &(dyn Any + Send + Sync)) -> Option<R>;
}

/// Shares results by cloning them.
#[derive(Debug, Clone, Copy)]
pub struct ByClone;

/// Shares results through their stored encoding.
#[derive(Debug, Clone, Copy)]
pub struct ByEncoding;

impl<R: Clone + Send + Sync + 'static> Share<R> for ByClone {
    fn pack(&self, ret: &R) -> Option<Arc<dyn Any + Send + Sync>> {
        Some(Arc::new(ret.clone()))
    }
    fn unpack(&self, shared: &(dyn Any + Send + Sync)) -> Option<R> {
        shared.downcast_ref::<R>().cloned()
    }
}

impl<R> Share<R> for ByEncoding {
    fn pack(&self, _ret: &R) -> Option<Arc<dyn Any + Send + Sync>> {
        None
    }
    fn unpack(&self, _shared: &(dyn Any + Send + Sync)) -> Option<R> {
        None
    }
}

/// Picks [`ByClone`] for `Clone` return types: generated code calls
/// `(&Probe::<R>::new()).share()`, and method resolution prefers this impl (on
/// `&Probe<R>`) to [`ShareByEncoding`]'s (on `Probe<R>`) when it applies.
pub trait ShareByClone {
    /// The sharing rule.
    fn share(self) -> ByClone;
}
impl<R: Clone + Send + Sync + 'static> ShareByClone for &Probe<R> {
    fn share(self) -> ByClone {
        ByClone
    }
}

/// Picks [`ByEncoding`] for every other return type.
pub trait ShareByEncoding {
    /// The sharing rule.
    fn share(self) -> ByEncoding;
}
impl<R> ShareByEncoding for Probe<R> {
    fn share(self) -> ByEncoding {
        ByEncoding
    }
}

/// A stamp from one cache's clock: callers that joined a flight before the leader
/// took a stamp have smaller stamps. See [`Lead::stamp`].
pub(crate) type Stamp = u64;

/// What a leader hands its followers, and to which of them.
#[derive(Clone)]
struct Arrival {
    landing: Landing,
    /// Only followers that joined before this stamp may take the landing; the others
    /// started after the leader's data was read, so it may predate a write they must
    /// see, and they start over.
    valid_before: Stamp,
}

/// One flight: a load in progress, as seen by the callers that join it.
struct Flight {
    id: u64,
    arrival: watch::Receiver<Option<Arrival>>,
    /// The leader runs the function with nothing to vouch that its result is still
    /// current when it lands (no lease in the backend): callers that join from now on
    /// could not take it, so they wait for the next flight instead.
    unvouched: bool,
}

/// The flights of one key: the load in progress, and the next one that callers who
/// could not take its result wait for.
struct Slot {
    current: Flight,
    next: Option<Flight>,
}

/// The flights in progress of one cache.
#[derive(Default)]
pub(crate) struct Flights {
    in_progress: Mutex<HashMap<CacheKey, Slot>>,
    next_id: AtomicU64,
    /// Orders joins against the leaders' reads; see [`Lead::stamp`].
    clock: AtomicU64,
    /// Callers waiting right now, over all flights.
    waiting: AtomicU64,
}

/// A caller's part in the load of a key.
pub(crate) enum Role<'a> {
    /// This caller loads, then lands its result.
    Leader(Lead<'a>),
    /// Another caller is loading: wait for it.
    Follower(Follow<'a>),
    /// Another caller is loading with nothing to vouch for its result: this caller
    /// leads the next load once that one is over, for the callers that join meanwhile.
    Next(Queued<'a>),
}

impl Flights {
    /// Joins the flight of `key`, or starts one.
    pub(crate) fn join(&self, key: CacheKey) -> Role<'_> {
        let mut in_progress = self
            .in_progress
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // Taken under the lock, so that a leader's later stamp is larger.
        let stamp = self.clock.fetch_add(1, SeqCst);
        let Some(slot) = in_progress.get_mut(&key) else {
            let (flight, lead) = self.start(key);
            in_progress.insert(
                key,
                Slot {
                    current: flight,
                    next: None,
                },
            );
            return Role::Leader(lead);
        };
        if slot.current.unvouched && slot.next.is_none() {
            let (next, lead) = self.start(key);
            let current = slot.current.arrival.clone();
            slot.next = Some(next);
            return Role::Next(Queued {
                lead,
                current,
                _waiting: Waiting::count(self),
            });
        }
        let flight = match &slot.next {
            Some(next) if slot.current.unvouched => next,
            _ => &slot.current,
        };
        Role::Follower(Follow {
            _waiting: Waiting::count(self),
            arrival: flight.arrival.clone(),
            stamp,
        })
    }

    /// A new flight of `key`, and its leader's side.
    fn start(&self, key: CacheKey) -> (Flight, Lead<'_>) {
        let id = self.next_id.fetch_add(1, Relaxed);
        let (sender, arrival) = watch::channel(None);
        let flight = Flight {
            id,
            arrival,
            unvouched: false,
        };
        let lead = Lead {
            flights: self,
            key,
            id,
            sender,
        };
        (flight, lead)
    }

    /// How many callers are waiting for another caller's load right now.
    pub(crate) fn waiting(&self) -> u64 {
        self.waiting.load(Relaxed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<CacheKey, Slot>> {
        self.in_progress
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// The leader's side of a flight. Dropping it (landed or not) ends the flight, and
/// the next one, if callers wait for it, takes its place.
pub(crate) struct Lead<'a> {
    flights: &'a Flights,
    key: CacheKey,
    id: u64,
    sender: watch::Sender<Option<Arrival>>,
}

impl Lead<'_> {
    /// A stamp for the moment the leader is about to read its data (run the function,
    /// or send a read or a compare-and-set to the backend): every follower that joined
    /// before now has a smaller stamp, and started before the read.
    pub(crate) fn stamp(&self) -> Stamp {
        self.flights.clock.fetch_add(1, SeqCst)
    }

    /// Marks this flight as loading with nothing to vouch for the result: callers
    /// that join from now on wait for the next flight.
    pub(crate) fn unvouched(&self) {
        let mut in_progress = self.flights.lock();
        let Some(slot) = in_progress.get_mut(&self.key) else {
            return;
        };
        if slot.current.id == self.id {
            slot.current.unvouched = true;
        } else if let Some(next) = slot.next.as_mut().filter(|next| next.id == self.id) {
            next.unvouched = true;
        }
    }

    /// Hands `landing` to the followers that joined before `valid_before`, and ends
    /// the flight; the others start over.
    pub(crate) fn land(self, landing: Landing, valid_before: Stamp) {
        self.sender.send_replace(Some(Arrival {
            landing,
            valid_before,
        }));
    }
}

impl Drop for Lead<'_> {
    fn drop(&mut self) {
        let mut in_progress = self.flights.lock();
        let Some(slot) = in_progress.get_mut(&self.key) else {
            return;
        };
        if slot.current.id == self.id {
            match slot.next.take() {
                Some(next) => slot.current = next,
                None => {
                    in_progress.remove(&self.key);
                }
            }
        } else if slot.next.as_ref().is_some_and(|next| next.id == self.id) {
            // A queued leader that gave up: its followers start over.
            slot.next = None;
        }
    }
}

/// The leader of the next flight of a key, waiting for the current one to end.
pub(crate) struct Queued<'a> {
    lead: Lead<'a>,
    current: watch::Receiver<Option<Arrival>>,
    _waiting: Waiting<'a>,
}

impl<'a> Queued<'a> {
    /// Waits at most `limit` for the current flight to end (it lands, or its leader
    /// goes away), then leads. The current flight's result is of no use here: this
    /// caller joined after its data was read.
    pub(crate) async fn wait(self, limit: Duration) -> Lead<'a> {
        let Queued {
            lead,
            mut current,
            _waiting: waiting,
        } = self;
        let _ = tokio::time::timeout(limit, current.wait_for(Option::is_some)).await;
        drop(waiting);
        lead
    }
}

/// One caller counted in [`Flights::waiting`] until dropped.
struct Waiting<'a>(&'a Flights);

impl<'a> Waiting<'a> {
    fn count(flights: &'a Flights) -> Self {
        flights.waiting.fetch_add(1, Relaxed);
        Self(flights)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.waiting.fetch_sub(1, Relaxed);
    }
}

/// A follower's side of a flight.
pub(crate) struct Follow<'a> {
    _waiting: Waiting<'a>,
    arrival: watch::Receiver<Option<Arrival>>,
    stamp: Stamp,
}

/// How a follower's wait ended.
pub(crate) enum Followed {
    Landed(Landing),
    /// The leader went away without landing, or landed a result this follower may
    /// not take: start over.
    StartOver,
    /// The leader took longer than the wait allowed.
    TimedOut,
}

impl Follow<'_> {
    /// Waits at most `limit` for the leader to land.
    pub(crate) async fn wait(mut self, limit: Duration) -> Followed {
        match tokio::time::timeout(limit, self.arrival.wait_for(Option::is_some)).await {
            Ok(Ok(arrived)) => match &*arrived {
                Some(arrival) if self.stamp < arrival.valid_before => {
                    Followed::Landed(arrival.landing.clone())
                }
                _ => Followed::StartOver,
            },
            Ok(Err(_closed)) => Followed::StartOver,
            Err(_elapsed) => Followed::TimedOut,
        }
    }
}

#[cfg(test)]
mod tests;
