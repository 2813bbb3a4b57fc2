//! Background retries of invalidations that could not be applied.
//!
//! When Redis cannot be reached, an invalidation is not dropped: it is queued here
//! and retried with exponential backoff (50 ms, doubling, at most 2 s apart) until it
//! succeeds, or until the entries it targets would have expired anyway (their TTL,
//! counted from the failed attempt), when retrying can no longer matter. One task per
//! cache runs the queue; it is started on the first failure and ends with the cache.
//! Meanwhile reads of the targeted entries bypass the cache ([`Unapplied`]).

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::group::IndexKey;
use crate::key::CacheKey;

const FIRST_DELAY: Duration = Duration::from_millis(50);
const MAX_DELAY: Duration = Duration::from_secs(2);

/// What to remove.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Pending {
    /// One entry.
    Entry(CacheKey),
    /// Every entry of an index (a function or a group), and the index.
    Index(IndexKey),
}

impl std::fmt::Display for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Entry(key) => f.write_str(key.as_str()),
            Self::Index(index) => f.write_str(index.as_str()),
        }
    }
}

/// The invalidations not applied yet. Reads of an entry they target bypass the
/// cache (run the function, store nothing) until they are applied or given up, so
/// that an entry this process invalidated is never served after Redis comes back.
#[derive(Debug, Default)]
pub(crate) struct Unapplied {
    count: AtomicUsize,
    targets: Mutex<HashMap<Pending, usize>>,
}

impl Unapplied {
    pub(crate) fn add(&self, what: Pending) {
        let mut targets = self.targets.lock().unwrap_or_else(PoisonError::into_inner);
        *targets.entry(what).or_default() += 1;
        self.count.fetch_add(1, Ordering::Release);
    }

    pub(crate) fn remove(&self, what: &Pending) {
        let mut targets = self.targets.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = targets.get_mut(what) {
            *count -= 1;
            if *count == 0 {
                targets.remove(what);
            }
            self.count.fetch_sub(1, Ordering::Release);
        }
    }

    /// Whether an unapplied invalidation targets the entry `key`, or one of the
    /// indexes `indexes()` gives (its function's and its groups').
    pub(crate) fn targets(&self, key: &CacheKey, indexes: impl FnOnce() -> Vec<IndexKey>) -> bool {
        if self.count.load(Ordering::Acquire) == 0 {
            return false;
        }
        let targets = self.targets.lock().unwrap_or_else(PoisonError::into_inner);
        targets.contains_key(&Pending::Entry(*key))
            || indexes()
                .into_iter()
                .any(|index| targets.contains_key(&Pending::Index(index)))
    }
}

/// A failed invalidation waiting for its next attempt.
#[derive(Debug)]
pub(crate) struct Retry {
    pub(crate) what: Pending,
    pub(crate) give_up_at: Instant,
}

/// How one attempt went.
pub(crate) enum Attempt {
    Applied,
    Failed,
    /// The cache is gone: stop.
    CacheDropped,
}

/// Runs the queue fed by `queue` until the cache is dropped. `attempt` tries one
/// invalidation; `abandoned` is told of those whose time ran out.
pub(crate) async fn run<A, F>(
    mut queue: mpsc::UnboundedReceiver<Retry>,
    attempt: A,
    abandoned: impl Fn(&Pending),
) where
    A: Fn(Pending) -> F,
    F: Future<Output = Attempt>,
{
    struct Waiting {
        retry: Retry,
        next: Instant,
        delay: Duration,
    }
    let mut waiting: Vec<Waiting> = Vec::new();
    loop {
        let received = match waiting.iter().map(|w| w.next).min() {
            None => match queue.recv().await {
                Some(retry) => Some(retry),
                None => return,
            },
            Some(wake) => match tokio::time::timeout_at(wake.into(), queue.recv()).await {
                Ok(Some(retry)) => Some(retry),
                Ok(None) => return,
                Err(_) => None,
            },
        };
        if let Some(retry) = received {
            waiting.push(Waiting {
                retry,
                next: Instant::now() + FIRST_DELAY,
                delay: FIRST_DELAY,
            });
            continue;
        }
        let now = Instant::now();
        let mut index = 0;
        while index < waiting.len() {
            let due = &mut waiting[index];
            if due.next > now {
                index += 1;
                continue;
            }
            if now >= due.retry.give_up_at {
                abandoned(&due.retry.what);
                waiting.swap_remove(index);
                continue;
            }
            match attempt(due.retry.what).await {
                Attempt::Applied => {
                    waiting.swap_remove(index);
                }
                Attempt::Failed => {
                    due.delay = (due.delay * 2).min(MAX_DELAY);
                    due.next = Instant::now() + due.delay;
                    index += 1;
                }
                Attempt::CacheDropped => return,
            }
        }
    }
}
