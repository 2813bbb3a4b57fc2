//! Early refresh (XFetch) and stale-while-revalidate against a real `redis-server`:
//! a hot key is refreshed before it expires, so expiry causes no misses.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::time::{Duration, Instant};

use cache_runtime::{Cache, CacheConfig, cached};
use cache_tests::{Gate, RedisServer, patient};

struct Source {
    cache: Cache,
    version: AtomicU64,
    loads: AtomicUsize,
    /// When set, loads wait at the gate.
    hold: AtomicBool,
    gate: Gate,
}

impl Source {
    fn new(server: &RedisServer) -> Arc<Self> {
        Arc::new(Self {
            // These tests count misses and loads: a patient deadline, so that a
            // loaded machine cannot make a cache operation fail open.
            cache: patient(CacheConfig::redis(server.url()))
                .build()
                .expect("valid test configuration"),
            version: AtomicU64::new(0),
            loads: AtomicUsize::new(0),
            hold: AtomicBool::new(false),
            gate: Gate::new(),
        })
    }

    async fn load(&self) -> u64 {
        self.loads.fetch_add(1, SeqCst);
        let version = self.version.load(SeqCst);
        if self.hold.load(SeqCst) {
            self.gate.wait().await;
        }
        version
    }

    /// Takes 50 ms to compute: XFetch refreshes it that much earlier, and more.
    #[cached(ttl = 1, early_refresh = 2, cache = self.cache)]
    async fn hot(&self) -> u64 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        self.load().await
    }

    #[cached(ttl = "300ms", stale_while_revalidate = "60s", cache = self.cache)]
    async fn lenient(&self) -> u64 {
        self.load().await
    }

    #[cached(ttl = 1, cache = self.cache)]
    async fn plain(&self) -> u64 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        self.load().await
    }
}

/// Eight tasks call `call` in a loop for `period`; returns how many calls were made.
async fn hammer<F, Fut>(source: &Arc<Source>, period: Duration, call: F) -> usize
where
    F: Fn(Arc<Source>) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = u64> + Send,
{
    let until = Instant::now() + period;
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (source, call) = (source.clone(), call.clone());
            tokio::spawn(async move {
                let mut calls = 0;
                while Instant::now() < until {
                    call(source.clone()).await;
                    calls += 1;
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                calls
            })
        })
        .collect();
    let mut calls = 0;
    for task in tasks {
        calls += task.await.expect("caller task");
    }
    calls
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn early_refresh_keeps_a_hot_key_from_ever_missing() {
    let server = RedisServer::start();
    let source = Source::new(&server);
    assert_eq!(source.hot().await, 0, "the one cold miss");

    // 3.5 TTLs of steady load on the key.
    let calls = hammer(&source, Duration::from_millis(3500), |s| async move {
        s.hot().await
    })
    .await;

    let stats = source.cache.stats();
    assert_eq!(stats.misses, 1, "only the first call missed: {stats:?}");
    assert!(stats.refreshes >= 3, "refreshed every TTL: {stats:?}");
    assert_eq!(
        source.loads.load(SeqCst) as u64,
        1 + stats.refreshes,
        "{stats:?}"
    );
    assert!(calls > 100 * source.loads.load(SeqCst), "{calls} calls");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_early_refresh_the_same_load_misses_at_every_expiry() {
    // The baseline for the test above: same key, same load, no early refresh.
    let server = RedisServer::start();
    let source = Source::new(&server);
    assert_eq!(source.plain().await, 0, "the one cold miss");

    hammer(&source, Duration::from_millis(3500), |s| async move {
        s.plain().await
    })
    .await;

    let stats = source.cache.stats();
    assert!(stats.misses >= 4, "a miss per expiry: {stats:?}");
    assert_eq!(stats.refreshes, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_values_are_served_while_one_caller_refreshes() {
    let server = RedisServer::start();
    let source = Source::new(&server);
    assert_eq!(source.lenient().await, 0);
    source.version.store(1, SeqCst);
    // Let the 300 ms TTL pass (the value stays stored for the stale window).
    tokio::time::sleep(Duration::from_millis(400)).await;

    source.hold.store(true, SeqCst);
    let refresher = tokio::spawn({
        let source = source.clone();
        async move { source.lenient().await }
    });
    source.gate.arrived(1).await;
    // While the refresh is held, every other caller gets the stale value at once.
    for _ in 0..20 {
        assert_eq!(source.lenient().await, 0);
    }
    source.gate.open();
    assert_eq!(
        refresher.await.expect("task"),
        1,
        "the refresher's own value"
    );
    assert_eq!(source.lenient().await, 1, "the refreshed value, as a hit");

    let stats = source.cache.stats();
    assert_eq!(stats.misses, 1, "{stats:?}");
    assert_eq!((stats.refreshes, stats.stale_hits), (1, 20), "{stats:?}");
    assert_eq!(source.loads.load(SeqCst), 2);
}
