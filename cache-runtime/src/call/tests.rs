use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::Semaphore;

use super::*;
use crate::config::CacheConfig;
use crate::fixtures::{GET_USER, eventually, key, memory, memory_with, put, raw, stored};
use crate::flight::{ByClone, ByEncoding};
use crate::key::KeyHasher;
use crate::outcome::{AsIs, OkOnly};
use crate::retry::Pending;

/// Calls `GET_USER(id)` in `cache` (caching `Ok` values, sharing by clone); the body
/// counts its runs in `runs` and returns `Ok("user {id} #{run}")`.
async fn get_user(cache: &Cache, id: u64, runs: &AtomicUsize) -> Result<String, String> {
    let key = Ok(key(cache, &GET_USER, id));
    cached(cache, &GET_USER, key, OkOnly, ByClone, async {
        let run = runs.fetch_add(1, SeqCst) + 1;
        Ok(format!("user {id} #{run}"))
    })
    .await
}

#[tokio::test]
async fn a_miss_runs_the_body_and_fills_then_a_hit_does_not() {
    let (cache, runs) = (memory(), AtomicUsize::new(0));
    assert_eq!(get_user(&cache, 7, &runs).await, Ok("user 7 #1".into()));
    assert_eq!(get_user(&cache, 7, &runs).await, Ok("user 7 #1".into()));
    assert_eq!(runs.load(SeqCst), 1);
    let stats = cache.stats();
    assert_eq!(
        (stats.misses, stats.hits, stats.writes),
        (1, 1, 1),
        "{stats:?}"
    );
    assert_eq!(
        stored::<String>(&cache, &key(&cache, &GET_USER, 7)).await,
        Some("user 7 #1".into())
    );
    // Another argument is another entry.
    assert_eq!(get_user(&cache, 8, &runs).await, Ok("user 8 #2".into()));
}

#[tokio::test]
async fn errors_are_returned_not_stored_and_the_lease_is_given_back() {
    let cache = memory();
    let key = key(&cache, &GET_USER, 1);
    for _ in 0..2 {
        let ret: Result<String, String> =
            cached(&cache, &GET_USER, Ok(key), OkOnly, ByClone, async {
                Err("db down".to_owned())
            })
            .await;
        assert_eq!(ret, Err("db down".into()));
        // No placeholder left behind: the next caller does not wait for it.
        assert_eq!(raw(&cache, &key).await, None);
    }
    let stats = cache.stats();
    assert_eq!((stats.misses, stats.writes, stats.lease_waits), (2, 0, 0));
}

/// Runs ten concurrent misses of one key whose body waits for a gate, opened once
/// the other nine wait for the first; `share` decides how they get its result.
async fn ten_concurrent_misses<S>(share: S) -> (Cache, usize, Vec<Result<String, String>>)
where
    S: Share<Result<String, String>> + Copy + Send + Sync + 'static,
{
    let cache = memory();
    let runs = Arc::new(AtomicUsize::new(0));
    let gate = Arc::new(Semaphore::new(0));
    let key = key(&cache, &GET_USER, 1);
    let calls: Vec<_> = (0..10)
        .map(|_| {
            let (cache, runs, gate) = (cache.clone(), Arc::clone(&runs), Arc::clone(&gate));
            tokio::spawn(async move {
                let body = async {
                    let _open = gate.acquire().await;
                    runs.fetch_add(1, SeqCst);
                    Ok("loaded".to_owned())
                };
                cached(&cache, &GET_USER, Ok(key), OkOnly, share, body).await
            })
        })
        .collect();
    let waiting = || async { cache.stats().waiting_for_loads == 9 };
    eventually("nine callers waiting for the first", waiting).await;
    gate.add_permits(10);
    let mut results = Vec::new();
    for call in calls {
        results.push(
            call.await
                .unwrap_or_else(|err| panic!("a call failed: {err}")),
        );
    }
    let runs = runs.load(SeqCst);
    (cache, runs, results)
}

#[tokio::test]
async fn concurrent_misses_share_one_run_by_clone() {
    let (cache, runs, results) = ten_concurrent_misses(ByClone).await;
    assert_eq!(runs, 1);
    assert!(results.iter().all(|ret| ret.as_deref() == Ok("loaded")));
    let stats = cache.stats();
    assert_eq!((stats.coalesced, stats.writes, stats.misses), (9, 1, 10));
}

#[tokio::test]
async fn concurrent_misses_share_one_run_by_encoding() {
    // Followers decode the leader's envelope instead of cloning its result.
    let (cache, runs, results) = ten_concurrent_misses(ByEncoding).await;
    assert_eq!(runs, 1);
    assert!(results.iter().all(|ret| ret.as_deref() == Ok("loaded")));
    assert_eq!(cache.stats().coalesced, 9);
}

#[tokio::test]
async fn an_unreadable_entry_is_a_miss_and_is_overwritten() {
    let (cache, runs) = (memory(), AtomicUsize::new(0));
    let key = key(&cache, &GET_USER, 3);
    assert!(
        GET_USER
            .write(&cache, &key, Arc::from(&b"garbage"[..]))
            .await
    );
    assert_eq!(get_user(&cache, 3, &runs).await, Ok("user 3 #1".into()));
    assert_eq!(cache.stats().decode_failures, 1);
    assert_eq!(
        stored::<String>(&cache, &key).await,
        Some("user 3 #1".into())
    );
    assert_eq!(get_user(&cache, 3, &runs).await, Ok("user 3 #1".into()));
    assert_eq!(runs.load(SeqCst), 1);
}

#[tokio::test]
async fn an_invalidation_during_the_load_revokes_the_fill() {
    let cache = memory();
    let key = key(&cache, &GET_USER, 4);
    let ret: Result<String, String> = cached(&cache, &GET_USER, Ok(key), OkOnly, ByClone, async {
        // The data changes and the entry is invalidated while the value loads.
        invalidation::entry(&cache, &GET_USER, &key).await;
        Ok("loaded before the write".to_owned())
    })
    .await;
    // The caller gets its own result; the cache does not keep it.
    assert_eq!(ret.as_deref(), Ok("loaded before the write"));
    assert_eq!(raw(&cache, &key).await, None);
    let stats = cache.stats();
    assert_eq!((stats.fills_revoked, stats.writes), (1, 0), "{stats:?}");
}

#[tokio::test]
async fn a_pending_invalidation_bypasses_the_cache_until_it_is_applied() {
    let (cache, runs) = (memory(), AtomicUsize::new(0));
    let key = key(&cache, &GET_USER, 5);
    put(&cache, &GET_USER, &key, &"before the write".to_owned()).await;
    // As if an invalidation of the entry had failed and waited for its retry.
    cache.retries().add(
        Pending::Entry(key),
        Instant::now() + Duration::from_secs(60),
    );
    assert_eq!(get_user(&cache, 5, &runs).await, Ok("user 5 #1".into()));
    assert_eq!(cache.stats().misses, 1);
    // The retry task the read started applies it (the memory backend answers).
    eventually("invalidated by the retry", || async {
        raw(&cache, &key).await.is_none() && !cache.retries().any()
    })
    .await;
    assert_eq!(cache.stats().invalidations, 1);
    assert_eq!(get_user(&cache, 5, &runs).await, Ok("user 5 #2".into()));
    assert_eq!(get_user(&cache, 5, &runs).await, Ok("user 5 #2".into()));
}

#[tokio::test]
async fn without_leases_the_load_is_written_unconditionally() {
    let cache = memory_with(CacheConfig::without_leases);
    let runs = AtomicUsize::new(0);
    assert_eq!(get_user(&cache, 6, &runs).await, Ok("user 6 #1".into()));
    assert_eq!(get_user(&cache, 6, &runs).await, Ok("user 6 #1".into()));
    let stats = cache.stats();
    assert_eq!((stats.writes, stats.hits, runs.load(SeqCst)), (1, 1, 1));
}

#[tokio::test]
async fn a_key_that_cannot_be_built_runs_the_body_uncached() {
    /// A sequence without a length, which bincode cannot encode.
    struct Unencodable;
    impl Serialize for Unencodable {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            use serde::ser::SerializeSeq;
            s.serialize_seq(None)?.end()
        }
    }
    let cache = memory();
    for run in 1..=2 {
        let mut key: KeyHasher<'_> = GET_USER.key(&cache);
        key.arg(&Unencodable);
        let ret: u32 = cached(&cache, &GET_USER, key.finish(), AsIs, ByClone, async {
            run
        })
        .await;
        assert_eq!(ret, run);
    }
    let stats = cache.stats();
    assert_eq!(
        (stats.encode_failures, stats.writes, stats.misses),
        (2, 0, 0)
    );
}

#[tokio::test]
async fn an_off_cache_runs_the_body_and_counts_nothing() {
    let (cache, runs) = (Cache::off(), AtomicUsize::new(0));
    assert_eq!(get_user(&cache, 1, &runs).await, Ok("user 1 #1".into()));
    assert_eq!(get_user(&cache, 1, &runs).await, Ok("user 1 #2".into()));
    assert_eq!(cache.stats(), crate::stats::CacheStats::default());
}

/// Fresh for 1 ms, then served stale for a minute while one caller refreshes.
static STALE: CachedFn =
    CachedFn::new("stale", "call::tests::stale|u64|u64", 1, &[]).stale_while_revalidate(60_000);

#[tokio::test]
async fn a_stale_value_is_served_while_another_caller_refreshes_it() {
    let cache = memory();
    let key = key(&cache, &STALE, 1);
    let call = |value: u64| cached(&cache, &STALE, Ok(key), AsIs, ByClone, async move { value });
    assert_eq!(call(1).await, 1);
    tokio::time::sleep(Duration::from_millis(5)).await;
    // Another caller holds the lease to refresh it: this one is served the stale value.
    let found = match cache.lookup::<u64>(&key, false).await {
        Lookup::Hit(found) => found,
        _ => panic!("the value is stored for the stale window"),
    };
    let refresh = lease::take_on_value(&cache, &key, &found.meta).await;
    let refresh = refresh.unwrap_or_else(|| panic!("the refresh lease is free"));
    assert_eq!(call(2).await, 1);
    assert_eq!(cache.stats().stale_hits, 1);
    // Once it is given back, the next stale read refreshes it itself.
    assert_eq!(refresh.release().await, Settled::Intact);
    assert_eq!(call(3).await, 3);
    assert_eq!(cache.stats().refreshes, 1);
    assert_eq!(stored::<u64>(&cache, &key).await, Some(3));
}
