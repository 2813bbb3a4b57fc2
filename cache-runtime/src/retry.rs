//! Background retries of invalidations that could not be applied.
//!
//! When Redis cannot be reached, an invalidation is not dropped: it is queued here
//! and retried with exponential backoff (50 ms, doubling, at most 2 s apart) until it
//! succeeds, or until the entries it targets would have expired anyway (their TTL,
//! counted from the failed attempt), when retrying can no longer matter. One task per
//! cache runs the queue: it is started on the first failure (and again if the runtime
//! it ran on shuts down), and ends with the cache. Meanwhile reads of the targeted
//! entries bypass the cache ([`Retries`]).

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
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

/// The invalidations not applied yet, and the task that retries them.
///
/// Reads of an entry they target bypass the cache (run the function, store nothing)
/// until they are applied or given up, so that an entry this process invalidated is
/// never served after Redis comes back. The records, not the task's queue, are what
/// counts: if the task is gone (the runtime it was spawned on has shut down), the
/// next failed invalidation or bypassed read starts a new one with every record.
#[derive(Debug, Default)]
pub(crate) struct Retries {
    /// How many records there are: reads check this before taking the lock.
    count: AtomicUsize,
    records: Mutex<HashMap<Pending, Record>>,
    /// The last version given to a failure: one sequence for all records, so that a
    /// record made after another was cleared never repeats its version.
    versions: AtomicU64,
    /// Feeds the retry task, if one was started.
    task: Mutex<Option<mpsc::UnboundedSender<Pending>>>,
}

#[derive(Debug, Clone, Copy)]
struct Record {
    /// When the targeted entries will all have expired, so retrying no longer matters.
    give_up_at: Instant,
    /// Renewed by every failure of the same invalidation, so that an attempt that
    /// started before a later failure does not clear the record of that failure.
    version: u64,
}

/// Where an invalidation stands, for the retry task.
pub(crate) enum Status {
    /// Applied since, or never queued: nothing to do.
    Done,
    /// Its entries have expired; the record is removed.
    Expired,
    /// Still to apply; clear it with [`Retries::applied`] and this version.
    Due(u64),
}

impl Retries {
    /// Records a failed invalidation to retry until `give_up_at`, and hands it to
    /// the task if one runs.
    pub(crate) fn add(&self, what: Pending, give_up_at: Instant) {
        {
            let version = self.versions.fetch_add(1, Ordering::Relaxed) + 1;
            let mut records = self.lock_records();
            let record = records.entry(what).or_insert(Record {
                give_up_at,
                version,
            });
            record.give_up_at = record.give_up_at.max(give_up_at);
            record.version = version;
            self.count.store(records.len(), Ordering::Release);
        }
        if let Some(task) = &*self.lock_task() {
            // A task that is gone is replaced by `restart_if_stopped`.
            let _ = task.send(what);
        }
    }

    /// The version of `what`'s record, if it has one: pass it to [`Self::applied`]
    /// after an attempt.
    pub(crate) fn version(&self, what: &Pending) -> Option<u64> {
        if self.count.load(Ordering::Acquire) == 0 {
            return None;
        }
        self.lock_records().get(what).map(|record| record.version)
    }

    /// Clears `what`'s record after it was applied, unless it failed again since
    /// `version` was read.
    pub(crate) fn applied(&self, what: &Pending, version: Option<u64>) {
        let Some(version) = version else { return };
        let mut records = self.lock_records();
        if records
            .get(what)
            .is_some_and(|record| record.version == version)
        {
            records.remove(what);
            self.count.store(records.len(), Ordering::Release);
        }
    }

    /// Where `what` stands at `now`; removes its record if it has expired.
    pub(crate) fn status(&self, what: &Pending, now: Instant) -> Status {
        let mut records = self.lock_records();
        let status = match records.get(what) {
            None => Status::Done,
            Some(record) if now >= record.give_up_at => Status::Expired,
            Some(record) => Status::Due(record.version),
        };
        if matches!(status, Status::Expired) {
            records.remove(what);
            self.count.store(records.len(), Ordering::Release);
        }
        status
    }

    /// Whether there are records at all (one atomic load).
    pub(crate) fn any(&self) -> bool {
        self.count.load(Ordering::Acquire) != 0
    }

    /// Whether an unexpired record targets the entry `key`, or one of the indexes
    /// `indexes()` gives (its function's and its groups').
    pub(crate) fn target(&self, key: &CacheKey, indexes: impl FnOnce() -> Vec<IndexKey>) -> bool {
        if self.count.load(Ordering::Acquire) == 0 {
            return false;
        }
        let now = Instant::now();
        let records = self.lock_records();
        let live = |what: Pending| records.get(&what).is_some_and(|r| now < r.give_up_at);
        live(Pending::Entry(*key))
            || indexes()
                .into_iter()
                .any(|index| live(Pending::Index(index)))
    }

    /// If there are records and no task runs for them, makes a queue holding them
    /// all, for the caller to start a task on.
    pub(crate) fn restart_if_stopped(&self) -> Option<mpsc::UnboundedReceiver<Pending>> {
        if self.count.load(Ordering::Acquire) == 0 {
            return None;
        }
        let mut task = self.lock_task();
        if task.as_ref().is_some_and(|sender| !sender.is_closed()) {
            return None;
        }
        let (sender, queue) = mpsc::unbounded_channel();
        for what in self.lock_records().keys() {
            let _ = sender.send(*what);
        }
        *task = Some(sender);
        Some(queue)
    }

    fn lock_records(&self) -> std::sync::MutexGuard<'_, HashMap<Pending, Record>> {
        self.records.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn lock_task(&self) -> std::sync::MutexGuard<'_, Option<mpsc::UnboundedSender<Pending>>> {
        self.task.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// How one attempt went.
pub(crate) enum Attempt {
    /// Applied, expired or otherwise nothing left to do: drop it from the queue.
    Done,
    Failed,
    /// The cache is gone: stop.
    CacheDropped,
}

/// Runs the queue fed by `queue` until the cache is dropped. `attempt` tries one
/// invalidation (and checks whether it is still wanted).
pub(crate) async fn run<A, F>(mut queue: mpsc::UnboundedReceiver<Pending>, attempt: A)
where
    A: Fn(Pending) -> F,
    F: Future<Output = Attempt>,
{
    struct Waiting {
        what: Pending,
        next: Instant,
        delay: Duration,
    }
    let mut waiting: Vec<Waiting> = Vec::new();
    loop {
        // The only sender lives in the cache: a closed queue means the cache is gone.
        let received = match waiting.iter().map(|w| w.next).min() {
            None => match queue.recv().await {
                Some(what) => Some(what),
                None => return,
            },
            Some(wake) => match tokio::time::timeout_at(wake.into(), queue.recv()).await {
                Ok(Some(what)) => Some(what),
                Ok(None) => return,
                Err(_) => None,
            },
        };
        // Take everything queued, then attempt what is due: a steady stream of new
        // failures must not keep due retries waiting.
        let incoming = received
            .into_iter()
            .chain(std::iter::from_fn(|| queue.try_recv().ok()));
        for what in incoming {
            waiting.push(Waiting {
                what,
                next: Instant::now() + FIRST_DELAY,
                delay: FIRST_DELAY,
            });
        }
        let now = Instant::now();
        let mut index = 0;
        while index < waiting.len() {
            let due = &mut waiting[index];
            if due.next > now {
                index += 1;
                continue;
            }
            match attempt(due.what).await {
                Attempt::Done => {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(n: u8) -> Pending {
        static FUNCTION: crate::key::FnIdentity = crate::key::FnIdentity::new("retry tests");
        let mut key = crate::key::KeyHasher::new("ns", "f", &FUNCTION);
        key.arg(&n);
        Pending::Entry(key.finish().expect("a u8 encodes"))
    }

    fn targeted(retries: &Retries, what: Pending) -> bool {
        let Pending::Entry(key) = what else {
            unreachable!("entries only")
        };
        retries.target(&key, Vec::new)
    }

    #[test]
    fn an_attempt_does_not_clear_a_failure_that_came_after_it_started() {
        let retries = Retries::default();
        let later = Instant::now() + Duration::from_secs(60);
        retries.add(entry(1), later);
        let seen = retries.version(&entry(1));
        retries.add(entry(1), later);
        retries.applied(&entry(1), seen);
        assert!(
            targeted(&retries, entry(1)),
            "the second failure still waits"
        );
        let seen = retries.version(&entry(1));
        retries.applied(&entry(1), seen);
        assert!(!targeted(&retries, entry(1)));
        assert!(matches!(
            retries.status(&entry(1), Instant::now()),
            Status::Done
        ));
    }

    #[test]
    fn an_attempt_on_a_cleared_record_does_not_clear_a_new_one() {
        let retries = Retries::default();
        let later = Instant::now() + Duration::from_secs(60);
        retries.add(entry(1), later);
        let slow_attempt = retries.version(&entry(1));
        // Applied meanwhile by another invalidation, then failed again.
        let direct = retries.version(&entry(1));
        retries.applied(&entry(1), direct);
        retries.add(entry(1), later);
        retries.applied(&entry(1), slow_attempt);
        assert!(targeted(&retries, entry(1)), "the new failure still waits");
    }

    #[test]
    fn expired_invalidations_no_longer_steer_reads() {
        let retries = Retries::default();
        let now = Instant::now();
        retries.add(entry(1), now);
        retries.add(entry(2), now + Duration::from_secs(60));
        assert!(!targeted(&retries, entry(1)), "its entries have expired");
        assert!(targeted(&retries, entry(2)));
        assert!(matches!(retries.status(&entry(1), now), Status::Expired));
        assert!(matches!(retries.status(&entry(1), now), Status::Done));
    }

    #[test]
    fn a_new_task_gets_every_record() {
        let retries = Retries::default();
        assert!(retries.restart_if_stopped().is_none(), "nothing to retry");
        let later = Instant::now() + Duration::from_secs(60);
        retries.add(entry(1), later);
        retries.add(entry(2), later);
        let queue = retries.restart_if_stopped().expect("a task to start");
        assert!(retries.restart_if_stopped().is_none(), "its queue is open");
        drop(queue);
        let mut queue = retries.restart_if_stopped().expect("the task is gone");
        let mut queued = vec![queue.try_recv().ok(), queue.try_recv().ok()];
        queued.sort_by_key(|what| what.map(|what| what.to_string()));
        let mut expected = vec![Some(entry(1)), Some(entry(2))];
        expected.sort_by_key(|what| what.map(|what| what.to_string()));
        assert_eq!(queued, expected);
        retries.add(entry(3), later);
        assert_eq!(queue.try_recv().ok(), Some(entry(3)), "later ones follow");
    }
}
