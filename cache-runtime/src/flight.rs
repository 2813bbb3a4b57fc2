//! Single-flight: concurrent calls that miss the same key in one process share one
//! load. The first becomes the leader and loads; the others follow, waiting for the
//! leader's [`Landing`], bounded by a timeout.
//!
//! If the leader's future is dropped before it lands (its caller was cancelled, or
//! the body panicked), its followers are told at once, and one of them leads a new
//! load. Distinct keys never wait for each other: each key has its own flight.

use std::any::Any;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
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

/// One flight in progress: its id and where its landing will appear.
type InFlight = (u64, watch::Receiver<Option<Landing>>);

/// The flights in progress of one cache.
#[derive(Default)]
pub(crate) struct Flights {
    in_progress: Mutex<HashMap<CacheKey, InFlight>>,
    next_id: AtomicU64,
    /// Followers waiting right now, over all flights.
    waiting: AtomicU64,
}

/// A caller's part in the load of a key.
pub(crate) enum Role<'a> {
    /// This caller loads, then lands its result.
    Leader(Lead<'a>),
    /// Another caller is loading: wait for it.
    Follower(Follow<'a>),
}

impl Flights {
    /// Joins the flight of `key`, or starts one.
    pub(crate) fn join(&self, key: CacheKey) -> Role<'_> {
        let mut in_progress = self
            .in_progress
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some((_, landing)) = in_progress.get(&key) {
            self.waiting.fetch_add(1, Relaxed);
            return Role::Follower(Follow {
                flights: self,
                landing: landing.clone(),
            });
        }
        let id = self.next_id.fetch_add(1, Relaxed);
        let (sender, receiver) = watch::channel(None);
        in_progress.insert(key, (id, receiver));
        Role::Leader(Lead {
            flights: self,
            key,
            id,
            sender,
        })
    }

    /// How many callers are waiting for another caller's load right now.
    pub(crate) fn waiting(&self) -> u64 {
        self.waiting.load(Relaxed)
    }
}

/// The leader's side of a flight. Dropping it (landed or not) ends the flight.
pub(crate) struct Lead<'a> {
    flights: &'a Flights,
    key: CacheKey,
    id: u64,
    sender: watch::Sender<Option<Landing>>,
}

impl Lead<'_> {
    /// Hands `landing` to the followers and ends the flight.
    pub(crate) fn land(self, landing: Landing) {
        self.sender.send_replace(Some(landing));
    }
}

impl Drop for Lead<'_> {
    fn drop(&mut self) {
        let mut in_progress = self
            .flights
            .in_progress
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if in_progress
            .get(&self.key)
            .is_some_and(|(id, _)| *id == self.id)
        {
            in_progress.remove(&self.key);
        }
    }
}

/// A follower's side of a flight; counted in [`Flights::waiting`] until dropped.
pub(crate) struct Follow<'a> {
    flights: &'a Flights,
    landing: watch::Receiver<Option<Landing>>,
}

impl Drop for Follow<'_> {
    fn drop(&mut self) {
        self.flights.waiting.fetch_sub(1, Relaxed);
    }
}

/// How a follower's wait ended.
pub(crate) enum Followed {
    Landed(Landing),
    /// The leader went away without landing: try again.
    LeaderGone,
    /// The leader took longer than the wait allowed.
    TimedOut,
}

impl Follow<'_> {
    /// Waits at most `limit` for the leader to land.
    pub(crate) async fn wait(mut self, limit: Duration) -> Followed {
        match tokio::time::timeout(limit, self.landing.wait_for(Option::is_some)).await {
            Ok(Ok(landed)) => match &*landed {
                Some(landing) => Followed::Landed(landing.clone()),
                None => Followed::LeaderGone,
            },
            Ok(Err(_closed)) => Followed::LeaderGone,
            Err(_elapsed) => Followed::TimedOut,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> CacheKey {
        static FUNCTION: crate::key::FnIdentity = crate::key::FnIdentity::new("flight tests");
        let mut key = crate::key::KeyHasher::new("ns", "f", &FUNCTION);
        key.arg(&n);
        key.finish().expect("a u8 encodes")
    }

    #[test]
    // The `&` is the autoref specialization under test, not a needless borrow.
    #[allow(clippy::needless_borrow)]
    fn clone_results_are_shared_whole() {
        #[derive(Debug, PartialEq)]
        struct NotClone;
        let result: Result<u8, String> = Err("db down".into());
        let share = (&Probe::<Result<u8, String>>::new()).share();
        let shared = share.pack(&result).expect("a Clone result is shared");
        assert_eq!(share.unpack(&*shared), Some(result));
        let share = (&Probe::<Result<u8, NotClone>>::new()).share();
        assert!(share.pack(&Err::<u8, NotClone>(NotClone)).is_none());
    }

    #[tokio::test]
    async fn followers_get_the_landing() {
        let flights = Flights::default();
        let Role::Leader(lead) = flights.join(key(1)) else {
            panic!("the first caller leads");
        };
        let Role::Follower(follow) = flights.join(key(1)) else {
            panic!("the second caller follows");
        };
        assert_eq!(flights.waiting(), 1);
        // Another key has its own flight.
        assert!(matches!(flights.join(key(2)), Role::Leader(_)));
        lead.land(Landing::Envelope(Arc::from(&b"v"[..])));
        match follow.wait(Duration::from_secs(5)).await {
            Followed::Landed(Landing::Envelope(bytes)) => assert_eq!(&*bytes, b"v"),
            _ => panic!("expected the leader's envelope"),
        }
        assert_eq!(
            flights.waiting(),
            0,
            "a follower that was answered is not waiting"
        );
        // The flight is over: the next caller leads again.
        assert!(matches!(flights.join(key(1)), Role::Leader(_)));
    }

    #[tokio::test]
    async fn a_dropped_leader_releases_its_followers() {
        let flights = Flights::default();
        let lead = flights.join(key(1));
        let Role::Follower(follow) = flights.join(key(1)) else {
            panic!("the second caller follows");
        };
        drop(lead);
        assert!(matches!(
            follow.wait(Duration::from_secs(5)).await,
            Followed::LeaderGone
        ));
        assert!(matches!(flights.join(key(1)), Role::Leader(_)));
    }

    #[tokio::test]
    async fn followers_give_up_after_the_limit() {
        let flights = Flights::default();
        let _lead = flights.join(key(1));
        let Role::Follower(follow) = flights.join(key(1)) else {
            panic!("the second caller follows");
        };
        assert!(matches!(
            follow.wait(Duration::from_millis(1)).await,
            Followed::TimedOut
        ));
    }
}
