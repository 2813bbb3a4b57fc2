//! Redis failing under load, against real `redis-server` processes (and, for
//! blackholes and outages that keep the data, a fault-injecting proxy in front of
//! one): no call fails, every value is right, outages cost little, and nothing stale
//! is served after recovery.

use std::sync::Arc;
use std::sync::atomic::Ordering::SeqCst;
use std::time::{Duration, Instant};

use cache_runtime::{BreakerSettings, BreakerState, CacheConfig};
use cache_tests::fault_proxy::Mode;
use cache_tests::{AclRedisServer, FaultProxy, RedisServer, Rows, patient, yield_until_stats};
use tokio::sync::watch;

/// Rows at version 1, cached in a Redis cache at `url` with the default settings
/// but a patient deadline: these tests cut Redis off on purpose, and count what
/// happens then, so a loaded machine must not make an operation miss its deadline
/// before that.
fn rows(url: &str) -> Arc<Rows> {
    let cache = patient(CacheConfig::redis(url))
        .build()
        .expect("valid test configuration");
    Rows::new(cache, 1, false)
}

/// Calls until a call is a hit, at most for `limit`; returns how long it took.
async fn until_a_hit(db: &Rows, id: u64, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    while started.elapsed() < limit {
        let hits = db.cache.stats().hits;
        db.row(id).await.expect("always answered");
        if db.cache.stats().hits > hits {
            return Some(started.elapsed());
        }
        // Polling: recovery is not an event the test can await.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_killed_under_concurrent_load_fails_no_call() {
    const TASKS: usize = 16;
    const CALLS: usize = 300;
    let mut server = RedisServer::start();
    let db = rows(&server.url());
    let (progress, mut calls_made) = watch::channel(0usize);

    let tasks: Vec<_> = (0..TASKS)
        .map(|task| {
            let (db, progress) = (db.clone(), progress.clone());
            tokio::spawn(async move {
                let mut wrong = 0;
                for call in 0..CALLS {
                    let id = ((task * 7 + call) % 40) as u64;
                    match db.row(id).await {
                        Ok(value) if value == format!("{id}:v1") => {}
                        _ => wrong += 1,
                    }
                    progress.send_modify(|n| *n += 1);
                }
                wrong
            })
        })
        .collect();

    // A third of the way through, Redis dies.
    calls_made
        .wait_for(|n| *n >= TASKS * CALLS / 3)
        .await
        .expect("tasks running");
    server.kill();

    let mut wrong = 0;
    for task in tasks {
        wrong += task.await.expect("no task panicked");
    }
    assert_eq!(wrong, 0, "every call returned its own correct value");
    let stats = db.cache.stats();
    assert!(
        stats.hits > 0,
        "the cache served before the kill: {stats:?}"
    );
    assert_eq!(stats.breaker_opens, 1, "{stats:?}");
    assert!(stats.short_circuited > 0, "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hits_resume_soon_after_redis_restarts() {
    let mut server = RedisServer::start();
    let db = rows(&server.url());
    db.row(1).await.expect("ok");
    server.kill();
    for _ in 0..20 {
        db.row(1).await.expect("answered while Redis is down");
    }
    assert_eq!(db.cache.health().await.breaker, Some(BreakerState::Open));

    server.restart();
    // The first call after the restart refills the (empty) server; hits follow once
    // the breaker has let its probes through.
    let resumed = until_a_hit(&db, 1, Duration::from_secs(10)).await;
    let resumed = resumed.expect("hits resumed without restarting the app");
    println!("first hit {resumed:?} after Redis came back");
    assert_eq!(db.cache.health().await.breaker, Some(BreakerState::Closed));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn single_flight_keeps_working_while_the_breaker_is_open() {
    let mut server = RedisServer::start();
    let cache = patient(CacheConfig::redis(server.url()))
        .circuit_breaker(BreakerSettings {
            open_for: Duration::from_secs(600),
            ..BreakerSettings::default()
        })
        .build()
        .expect("valid");
    let db = Rows::new(cache, 1, false);
    server.kill();
    for id in 100..105 {
        db.row(id).await.expect("answered");
    }
    assert_eq!(db.cache.health().await.breaker, Some(BreakerState::Open));

    db.hold.store(true, SeqCst);
    let first = tokio::spawn({
        let db = db.clone();
        async move { db.row(1).await }
    });
    db.gate.arrived(1).await;
    // The others arrive after the first load read its data, with no lease to vouch
    // that it is still current when it lands (a write may complete meanwhile): they
    // must not take its result, and they must not each run the function either.
    // They queue for one more load, which starts when the first one is over.
    let callers: Vec<_> = (0..99)
        .map(|_| {
            let db = db.clone();
            tokio::spawn(async move { db.row(1).await })
        })
        .collect();
    // No event to await for that; yield until the gauge says so.
    yield_until_stats(&db.cache, "99 callers wait for the next load", |stats| {
        stats.waiting_for_loads == 99
    })
    .await;
    assert!(db.cache.stats().short_circuited >= 100, "none asked Redis");
    assert_eq!(db.loads.load(SeqCst), 5 + 1, "the queued load waits");
    db.gate.open();
    assert_eq!(first.await.expect("task").as_deref(), Ok("1:v1"));
    for caller in callers {
        assert_eq!(caller.await.expect("task").as_deref(), Ok("1:v1"));
    }
    assert_eq!(
        db.loads.load(SeqCst),
        5 + 2,
        "one load for the first caller, one for the 99 after it"
    );
    assert_eq!(db.cache.stats().coalesced, 98);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blackholed_redis_costs_a_few_deadlines_then_nothing() {
    let server = RedisServer::start();
    let proxy = FaultProxy::start(server.port());
    // The default deadline (50 ms): what this test is about.
    let db = Rows::new(
        CacheConfig::redis(proxy.url()).build().expect("valid"),
        1,
        false,
    );
    // Filled and read back; on a loaded machine the fill itself can miss the
    // deadline, so call until a hit.
    let filled = until_a_hit(&db, 1, Duration::from_secs(10)).await;
    assert!(filled.is_some(), "never a hit: {:?}", db.cache.stats());
    let before = db.cache.stats();

    proxy.set_mode(Mode::Blackhole);
    let mut slowest = Duration::ZERO;
    for _ in 0..50 {
        let started = Instant::now();
        assert_eq!(db.row(1).await.as_deref(), Ok("1:v1"));
        slowest = slowest.max(started.elapsed());
    }
    let stats = db.cache.stats();
    println!("slowest call {slowest:?} while blackholed; {stats:?}");
    // Each call reads once. The first five wait out the 50 ms deadline, and that of
    // the read's follow-up (see `backend/redis/slow_read.rs`); then the
    // breaker opens and the rest never touch the network (a probe may go through if
    // the machine stalls past the open interval).
    let timeouts = stats.timeouts - before.timeouts;
    let short_circuited = stats.short_circuited - before.short_circuited;
    assert_eq!(stats.breaker_opens, before.breaker_opens + 1, "{stats:?}");
    assert!((5..=7).contains(&timeouts), "{stats:?}");
    assert_eq!(timeouts + short_circuited, 50, "{stats:?}");
    // The bound on the slowest call is twice the deadline plus the function; the slack is
    // only there for a busy machine.
    assert!(slowest < Duration::from_secs(1), "{slowest:?}");

    proxy.set_mode(Mode::Pass);
    let resumed = until_a_hit(&db, 1, Duration::from_secs(10)).await;
    println!("first hit {resumed:?} after the blackhole ended");
    assert!(resumed.is_some(), "hits resumed: {:?}", db.cache.stats());
}

/// Reads row 1 until the queued invalidation of it is applied, checking that every
/// read returns version 2 (never the version 1 still stored), then until it is cached
/// again.
async fn reads_stay_fresh_until_retried(db: &Rows, when: &str) {
    let started = Instant::now();
    while db.cache.stats().invalidations == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the queued invalidation was never applied: {:?}",
            db.cache.stats()
        );
        assert_eq!(db.row(1).await.as_deref(), Ok("1:v2"), "{when}");
        // Polling: the retry's timer is inside the cache.
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(db.row(1).await.as_deref(), Ok("1:v2"));
    let hit = until_a_hit(db, 1, Duration::from_secs(10)).await;
    assert!(
        hit.is_some(),
        "the entry is cached again: {:?}",
        db.cache.stats()
    );
    assert_eq!(db.row(1).await.as_deref(), Ok("1:v2"));
}

/// Fills row 1, cuts Redis off, runs `write` (which bumps the row to version 2 and
/// fails to reach Redis), brings Redis back, and checks that no read ever returns
/// version 1 again while the queued invalidation is retried and applied.
async fn write_during_outage<W, F>(write: W)
where
    W: FnOnce(Arc<Rows>) -> F,
    F: Future<Output = ()>,
{
    let server = RedisServer::start();
    let proxy = FaultProxy::start(server.port());
    let db = rows(&proxy.url());
    db.row(1).await.expect("ok");
    assert_eq!(db.row(1).await.as_deref(), Ok("1:v1"), "a hit");

    proxy.set_mode(Mode::Reset);
    write(db.clone()).await;
    assert_eq!(db.cache.stats().invalidations_queued, 1);
    assert_eq!(db.row(1).await.as_deref(), Ok("1:v2"), "during the outage");

    proxy.set_mode(Mode::Pass);
    // Redis still holds version 1 for a while.
    reads_stay_fresh_until_retried(&db, "after recovery").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalidation_during_an_outage_is_applied_after_recovery_and_nothing_stale_is_read() {
    write_during_outage(|db| async move {
        db.update(1).await.expect("the function's own result");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_through_during_an_outage_becomes_an_invalidation() {
    write_during_outage(|db| async move {
        let written = db.update_through(1).await;
        assert_eq!(written.as_deref(), Ok("1:v2"));
    })
    .await;
}

/// An invalidation that Redis refuses (here by ACL: the user may not `UNLINK`) stays
/// queued. A load that was under way when it failed may predate the write, so it is
/// neither stored (another process would read it) nor given to callers that came
/// after the write: they run the function themselves.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_load_overtaken_by_a_refused_invalidation_is_neither_stored_nor_shared() {
    let server =
        AclRedisServer::start_with_rules("app", "secret", &["~*", "&*", "+@all", "-unlink"]);
    // Callers would wait for a load for the lease time: far longer than the test.
    let cache = patient(CacheConfig::redis(server.url()))
        .lease_time(Duration::from_secs(600))
        .build()
        .expect("valid");
    let db = Rows::new(cache, 1, false);
    db.hold.store(true, SeqCst);
    let early = tokio::spawn({
        let db = db.clone();
        async move { db.row(1).await }
    });
    db.gate.arrived(1).await;

    db.update(1).await.expect("the function's own result");
    assert_eq!(db.cache.stats().invalidations_queued, 1, "refused, queued");
    db.hold.store(false, SeqCst);
    let late = tokio::time::timeout(Duration::from_secs(20), db.row(1)).await;
    assert_eq!(
        late.expect("the late caller did not wait for the older load")
            .as_deref(),
        Ok("1:v2")
    );

    db.gate.open();
    // Its call overlapped the write: the older version is a correct answer for it.
    assert_eq!(early.await.expect("task").as_deref(), Ok("1:v1"));
    assert_eq!(db.cache.stats().fills_revoked, 1);
    assert_eq!(
        server.entry_keys("*"),
        Vec::<String>::new(),
        "neither the older value nor the lease is left in Redis"
    );
    assert_eq!(db.row(1).await.as_deref(), Ok("1:v2"));
}

/// The retry task runs on the runtime of the call that queued the invalidation. If
/// that runtime shuts down (a test's, a short-lived `block_on`), the next call on
/// another runtime starts a new task with every invalidation still queued, so
/// bypassed entries do not stay bypassed for good.
#[test]
fn queued_invalidations_outlive_the_runtime_that_queued_them() {
    let runtime = || {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a Tokio runtime")
    };
    let server = RedisServer::start();
    let proxy = FaultProxy::start(server.port());
    let db = rows(&proxy.url());
    runtime().block_on(async {
        db.row(1).await.expect("ok");
        assert_eq!(db.row(1).await.as_deref(), Ok("1:v1"), "a hit");
        proxy.set_mode(Mode::Reset);
        db.update(1).await.expect("the function's own result");
        assert_eq!(db.cache.stats().invalidations_queued, 1);
    });
    proxy.set_mode(Mode::Pass);
    runtime().block_on(reads_stay_fresh_until_retried(&db, "on a new runtime"));
}

/// Runs `args` on `server` with a blocking connection (test setup only).
fn admin<T: redis::FromRedisValue>(server: &RedisServer, args: &[&str]) -> T {
    let mut connection = server
        .client()
        .get_connection()
        .unwrap_or_else(|err| panic!("test server unreachable: {err}"));
    let mut cmd = redis::cmd(args[0]);
    for arg in &args[1..] {
        cmd.arg(*arg);
    }
    cmd.query(&mut connection)
        .unwrap_or_else(|err| panic!("{args:?}: {err}"))
}

/// Makes `replica` a replica of `primary` and waits until it holds `primary`'s data
/// (polling `INFO`: the end of a resync is not an event a client can await).
fn replicate(replica: &RedisServer, primary: &RedisServer) {
    let port = primary.port().to_string();
    let () = admin(replica, &["REPLICAOF", "127.0.0.1", &port]);
    let started = Instant::now();
    loop {
        let info: String = admin(replica, &["INFO", "replication"]);
        if info.contains("master_link_status:up") {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the replica never synced: {info}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A failover seen by a client that still reaches the old primary: it is demoted to a
/// replica of the promoted one, and answers every write with `READONLY`. Calls keep
/// answering with the database's value, the invalidation that cannot be written is
/// queued, the entry it targets is not read meanwhile, and once the endpoint takes
/// writes again the invalidation is applied and nothing stale is ever returned.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_refused_by_a_demoted_primary_are_retried_and_nothing_stale_is_read() {
    let old = RedisServer::start();
    let promoted = RedisServer::start();
    let db = rows(&old.url());
    db.row(1).await.expect("ok");
    assert_eq!(db.row(1).await.as_deref(), Ok("1:v1"), "a hit");

    // The replica copies the entry, is promoted, and the old primary follows it.
    replicate(&promoted, &old);
    let () = admin(&promoted, &["REPLICAOF", "NO", "ONE"]);
    replicate(&old, &promoted);
    assert_eq!(
        old.entry_keys("*").len(),
        1,
        "the entry survived the failover"
    );
    assert_eq!(db.row(1).await.as_deref(), Ok("1:v1"), "still a hit");

    db.update(1).await.expect("the function's own result");
    let stats = db.cache.stats();
    assert_eq!(stats.invalidations_queued, 1, "refused, queued: {stats:?}");
    // A miss on another row: the read works, the lease is refused; the call answers.
    assert_eq!(db.row(2).await.as_deref(), Ok("2:v2"));
    for _ in 0..3 {
        assert_eq!(db.row(1).await.as_deref(), Ok("1:v2"), "while demoted");
    }
    assert_eq!(
        old.entry_keys("*").len(),
        1,
        "the old value is still stored"
    );

    let () = admin(&old, &["REPLICAOF", "NO", "ONE"]);
    reads_stay_fresh_until_retried(&db, "after promotion").await;
}
