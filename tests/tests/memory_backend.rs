//! The in-memory backend and the global cache, without Redis.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::{Duration, Instant};

use cache_runtime::{BackendKind, Cache, CacheConfig, cached, global, install};

static CALLS: AtomicUsize = AtomicUsize::new(0);

/// Uses the global cache: no `cache = ...`.
#[cached(ttl = 60, prefix = "square")]
async fn square(n: u64) -> u64 {
    CALLS.fetch_add(1, SeqCst);
    n * n
}

#[tokio::test]
async fn the_installed_global_cache_serves_functions_without_a_cache_option() {
    install(Cache::memory()).expect("first install");
    assert!(
        install(Cache::off()).is_err(),
        "the global cache is set once"
    );
    assert_eq!(square(12).await, 144);
    assert_eq!(square(12).await, 144);
    assert_eq!(CALLS.load(SeqCst), 1);
    assert_eq!(global().backend(), BackendKind::Memory);
    assert_eq!(global().stats().hits, 1);
}

#[cached(ttl = "300ms", cache = cache, skip(cache, calls))]
async fn label(cache: &Cache, calls: &AtomicUsize, id: u32) -> Result<String, ()> {
    calls.fetch_add(1, SeqCst);
    Ok(format!("label-{id}"))
}

#[tokio::test]
async fn memory_entries_hit_and_expire_with_their_ttl() {
    let cache = CacheConfig::memory()
        .namespace("mem")
        .build()
        .expect("valid");
    let calls = AtomicUsize::new(0);
    assert_eq!(label(&cache, &calls, 1).await, Ok("label-1".into()));
    assert_eq!(label(&cache, &calls, 1).await, Ok("label-1".into()));
    assert_eq!(label(&cache, &calls, 2).await, Ok("label-2".into()));
    assert_eq!(calls.load(SeqCst), 2);
    assert_eq!(cache.health().await.entries, Some(2));

    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        label(&cache, &calls, 1).await.expect("ok");
        if calls.load(SeqCst) == 3 {
            break;
        }
        assert!(Instant::now() < deadline, "entry never expired");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test]
async fn the_memory_backend_is_bounded() {
    #[cached(ttl = 60, cache = cache, skip(cache))]
    async fn blob(cache: &Cache, id: u32) -> Vec<u8> {
        vec![id as u8; 10_000]
    }
    let cache = CacheConfig::memory()
        .memory_capacity(100_000)
        .build()
        .expect("valid");
    for id in 0..100 {
        assert_eq!(blob(&cache, id).await.len(), 10_000);
    }
    let entries = cache
        .health()
        .await
        .entries
        .expect("memory reports entries");
    assert!(
        entries <= 10,
        "100 kB hold at most 10 blobs of 10 kB, not {entries}"
    );
    let mut stored = 0;
    for id in 0..100 {
        blob(&cache, id).await;
        stored = cache.stats().hits;
    }
    assert!(
        stored < 100,
        "100 blobs of 10 kB cannot all fit in 100 kB: {stored} hits"
    );
}

#[tokio::test]
async fn an_off_cache_always_runs_the_function() {
    let cache = Cache::off();
    let calls = AtomicUsize::new(0);
    for _ in 0..3 {
        assert_eq!(label(&cache, &calls, 1).await, Ok("label-1".into()));
    }
    assert_eq!(calls.load(SeqCst), 3);
    assert!(cache.health().await.healthy);
}
