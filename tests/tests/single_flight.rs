//! Concurrent misses of one key in one process share one run of the function
//! (single-flight), against a real `redis-server`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

use cache_runtime::{Cache, CacheConfig, cached};
use cache_tests::{Gate, RedisServer, yield_until_stats};
use serde::{Deserialize, Serialize};

/// Ids from here on are never held at the gate.
const UNGATED: u64 = 100;

/// A stand-in database whose queries for gated ids wait at a gate.
struct Db {
    cache: Cache,
    loads: AtomicUsize,
    fail: AtomicBool,
    gate: Gate,
}

/// A value type that is not `Clone`: waiting callers get it by decoding the stored
/// value.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Report {
    id: u64,
}

/// An error type that is not `Clone` either.
#[derive(Debug)]
struct Failed;

impl Db {
    fn new(cache: Cache) -> Arc<Self> {
        Arc::new(Self {
            cache,
            loads: AtomicUsize::new(0),
            fail: AtomicBool::new(false),
            gate: Gate::new(),
        })
    }

    async fn query(&self, id: u64) {
        self.loads.fetch_add(1, SeqCst);
        if id < UNGATED {
            self.gate.wait().await;
        }
    }

    #[cached(ttl = 60, prefix = "item", cache = self.cache)]
    async fn item(&self, id: u64) -> Result<String, String> {
        self.query(id).await;
        if self.fail.load(SeqCst) {
            return Err(format!("query for {id} failed"));
        }
        Ok(format!("item-{id}"))
    }

    #[cached(ttl = 60, prefix = "report", cache = self.cache)]
    async fn report(&self, id: u64) -> Result<Report, Failed> {
        self.query(id).await;
        Ok(Report { id })
    }
}

/// A deadline far above the default: these tests are about sharing loads, and a
/// thousand concurrent reads on a busy machine can outlast 50 ms, which would make
/// callers skip the lease and the write.
fn redis_cache(server: &RedisServer, lease: Duration) -> Cache {
    CacheConfig::redis(server.url())
        .timeout(Duration::from_secs(5))
        .lease_time(lease)
        .build()
        .expect("valid test configuration")
}

/// Calls `item(id)` from `callers` tasks at once; the gate opens once the first
/// caller's load is at the gate and every other caller waits for that load. Returns
/// the results.
async fn crowd(db: &Arc<Db>, id: u64, callers: usize) -> Vec<Result<String, String>> {
    let tasks: Vec<_> = (0..callers)
        .map(|_| {
            let db = db.clone();
            tokio::spawn(async move { db.item(id).await })
        })
        .collect();
    db.gate.arrived(1).await;
    // There is no event to await for the others joining that load, so yield until
    // the gauge says they all wait.
    yield_until_stats(
        &db.cache,
        "every other caller waits for the load",
        |stats| stats.waiting_for_loads == callers as u64 - 1,
    )
    .await;
    db.gate.open();
    let mut results = Vec::with_capacity(callers);
    for task in tasks {
        results.push(task.await.expect("caller task"));
    }
    results
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_callers_on_a_cold_key_run_the_body_once() {
    let server = RedisServer::start();
    let db = Db::new(redis_cache(&server, Duration::from_secs(5)));

    let results = crowd(&db, 1, 1000).await;

    assert_eq!(db.loads.load(SeqCst), 1, "exactly one body call");
    assert!(results.iter().all(|r| r.as_deref() == Ok("item-1")));
    let stats = db.cache.stats();
    assert_eq!(stats.writes, 1);
    assert_eq!(
        (stats.misses, stats.coalesced),
        (1000, 999),
        "every other caller waited for the one load: {stats:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn waiting_callers_of_a_type_that_is_not_clone_decode_the_stored_value() {
    let server = RedisServer::start();
    let db = Db::new(redis_cache(&server, Duration::from_secs(5)));

    let leader = tokio::spawn({
        let db = db.clone();
        async move { db.report(1).await }
    });
    db.gate.arrived(1).await;
    let followers: Vec<_> = (0..50)
        .map(|_| {
            let db = db.clone();
            tokio::spawn(async move { db.report(1).await })
        })
        .collect();
    yield_until_stats(&db.cache, "the followers wait for the load", |stats| {
        stats.waiting_for_loads == 50
    })
    .await;
    db.gate.open();

    assert_eq!(leader.await.expect("task").ok(), Some(Report { id: 1 }));
    for follower in followers {
        assert_eq!(follower.await.expect("task").ok(), Some(Report { id: 1 }));
    }
    assert_eq!(db.loads.load(SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn waiting_callers_share_the_error_and_nothing_is_stored() {
    let server = RedisServer::start();
    let db = Db::new(redis_cache(&server, Duration::from_secs(5)));
    db.fail.store(true, SeqCst);

    let results = crowd(&db, 2, 100).await;

    assert_eq!(
        db.loads.load(SeqCst),
        1,
        "one body call for all 100 callers"
    );
    assert!(
        results
            .iter()
            .all(|r| *r == Err("query for 2 failed".to_owned()))
    );
    assert_eq!(
        server.entry_keys("*"),
        Vec::<String>::new(),
        "no value and no lease left behind"
    );
    // The next call runs the function again.
    db.fail.store(false, SeqCst);
    assert_eq!(db.item(2).await.as_deref(), Ok("item-2"));
    assert_eq!(db.loads.load(SeqCst), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn distinct_keys_never_wait_for_each_other() {
    let server = RedisServer::start();
    let db = Db::new(redis_cache(&server, Duration::from_secs(5)));

    let held = tokio::spawn({
        let db = db.clone();
        async move { db.item(1).await }
    });
    db.gate.arrived(1).await;
    // Key 1 is loading and held; key 100 loads and returns meanwhile. (The bound
    // only turns a hang into a failure.)
    let other = tokio::time::timeout(Duration::from_secs(30), db.item(UNGATED)).await;
    assert_eq!(
        other.expect("not blocked by key 1").as_deref(),
        Ok("item-100")
    );
    assert!(!held.is_finished());

    db.gate.open();
    assert_eq!(held.await.expect("task").as_deref(), Ok("item-1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn waiting_callers_give_up_on_a_hung_load_after_the_lease_time() {
    let server = RedisServer::start();
    let db = Db::new(redis_cache(&server, Duration::from_millis(300)));

    let hung = tokio::spawn({
        let db = db.clone();
        async move { db.item(1).await }
    });
    db.gate.arrived(1).await;
    let follower = tokio::spawn({
        let db = db.clone();
        async move { db.item(1).await }
    });
    // The follower stopped waiting for the hung load and ran the function itself:
    // its own query reaches the gate.
    db.gate.arrived(2).await;
    assert_eq!(db.loads.load(SeqCst), 2);

    db.gate.open();
    assert_eq!(follower.await.expect("task").as_deref(), Ok("item-1"));
    assert_eq!(hung.await.expect("task").as_deref(), Ok("item-1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cancelled_load_hands_over_at_once() {
    let server = RedisServer::start();
    // A lease far longer than the test: waiting for it to expire would time out.
    let db = Db::new(redis_cache(&server, Duration::from_secs(120)));

    let cancelled = tokio::spawn({
        let db = db.clone();
        async move { db.item(1).await }
    });
    db.gate.arrived(1).await;
    let follower = tokio::spawn({
        let db = db.clone();
        async move { db.item(1).await }
    });
    cancelled.abort();
    assert!(cancelled.await.expect_err("aborted").is_cancelled());

    // The follower takes over: the flight ended and the lease was given back.
    db.gate.arrived(2).await;
    db.gate.open();
    let result = tokio::time::timeout(Duration::from_secs(30), follower)
        .await
        .expect("the follower did not wait for the cancelled caller's lease to expire");
    assert_eq!(result.expect("task").as_deref(), Ok("item-1"));
    assert_eq!(db.loads.load(SeqCst), 2);
    assert_eq!(db.item(1).await.as_deref(), Ok("item-1"));
    assert_eq!(db.loads.load(SeqCst), 2, "the follower's value was stored");
}
