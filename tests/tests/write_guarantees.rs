//! The write guarantee under faults, against real `redis-server` processes: a call
//! that starts after an invalidation completed never returns the value from before
//! it (docs/consistency.md, guarantee 1), and nothing that went wrong in the middle of
//! an invalidation or a lease leaves an entry behind for good.
//!
//! Each test reproduces one way this broke before (issue 10): a load with no lease
//! handing its old result to later callers; a function-wide invalidation cut between
//! its round trips, or refused half-way by an ACL; a second invalidation of the same
//! function returning before the entries were gone; and lease placeholders that
//! outlived their own lease.

use std::sync::Arc;
use std::sync::atomic::Ordering::SeqCst;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use cache_runtime::{Cache, CacheConfig};
use cache_tests::{
    AclRedisServer, FaultProxy, RedisServer, Rows, fault_proxy::Mode, patient, yield_until_stats,
};

/// A cache with a patient deadline: these tests count loads and invalidations, which a
/// missed deadline on a loaded machine would change (it fails open by design).
fn cache(url: &str) -> Cache {
    patient(CacheConfig::redis(url))
        .build()
        .expect("valid test configuration")
}

async fn admin(server: &RedisServer) -> redis::aio::MultiplexedConnection {
    server
        .client()
        .get_multiplexed_async_connection()
        .await
        .expect("admin connection")
}

/// A first reader of row 1 is held after reading version 0; the row is updated
/// (the invalidation succeeds); then a second reader starts. Returns what the two
/// readers got.
async fn reader_after_a_completed_update(db: &Arc<Rows>) -> (String, String) {
    let first = tokio::spawn({
        let db = db.clone();
        async move { db.row(1).await }
    });
    db.gate.arrived(1).await;
    db.update(1).await.expect("updated");
    let stats = db.cache.stats();
    assert_eq!(
        (stats.invalidations, stats.invalidations_queued),
        (1, 0),
        "the invalidation completed: {stats:?}"
    );
    let second = tokio::spawn({
        let db = db.clone();
        async move { db.row(1).await }
    });
    yield_until_stats(&db.cache, "the second reader waits", |stats| {
        stats.waiting_for_loads == 1
    })
    .await;
    db.gate.open();
    let first = first.await.expect("task").expect("ok");
    let second = second.await.expect("task").expect("ok");
    (first, second)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_load_without_a_lease_is_not_handed_to_callers_after_a_completed_invalidation() {
    let server = RedisServer::start();
    // Out of memory: reads and deletes work, the lease (a write) is refused.
    redis::cmd("CONFIG")
        .arg("SET")
        .arg("maxmemory")
        .arg(1)
        .arg("maxmemory-policy")
        .arg("noeviction")
        .query_async::<()>(&mut admin(&server).await)
        .await
        .expect("config");
    let db = Rows::new(cache(&server.url()), 0, true);

    let (first, second) = reader_after_a_completed_update(&db).await;

    assert_eq!(first, "1:v0", "the first reader returns what it read");
    assert_eq!(second, "1:v1", "the second started after the write");
    assert_eq!(db.loads.load(SeqCst), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_leases_off_a_load_is_not_handed_to_callers_after_a_completed_invalidation() {
    let server = RedisServer::start();
    let cache = patient(CacheConfig::redis(server.url()))
        .without_leases()
        .build()
        .expect("valid");
    let db = Rows::new(cache, 0, true);

    let (first, second) = reader_after_a_completed_update(&db).await;

    assert_eq!(first, "1:v0");
    assert_eq!(second, "1:v1");
}

/// Stores rows 1 and 2 through `db`, then bumps the version and invalidates every
/// row while `fault` holds; `heal` ends the fault. Then waits for the queued
/// invalidation to be applied, and returns what reads of both rows give.
async fn update_all_during<F, H>(db: &Arc<Rows>, fault: F, heal: H) -> [String; 2]
where
    F: AsyncFnOnce(),
    H: AsyncFnOnce(),
{
    assert_eq!(db.row(1).await.expect("ok"), "1:v0");
    assert_eq!(db.row(2).await.expect("ok"), "2:v0");
    fault().await;
    db.update_all().await.expect("updated");
    assert_eq!(db.cache.stats().invalidations_queued, 1, "it failed");
    // Meanwhile this process steers around the entries.
    assert_eq!(db.row(1).await.expect("ok"), "1:v1");
    heal().await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while db.cache.stats().invalidations < 1 {
        assert!(
            Instant::now() < deadline,
            "never retried: {:?}",
            db.cache.stats()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    [db.row(1).await.expect("ok"), db.row(2).await.expect("ok")]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_function_wide_invalidation_cut_short_by_its_deadline_loses_no_entry() {
    let server = RedisServer::start();
    let proxy = FaultProxy::start(server.port());
    let db = Rows::new(cache(&proxy.url()), 0, false);

    // The invalidation's request is held past its (patient) deadline, then delivered.
    let after = update_all_during(
        &db,
        async || proxy.set_mode(Mode::Blackhole),
        async || proxy.set_mode(Mode::Pass),
    )
    .await;

    assert_eq!(
        after,
        ["1:v1", "2:v1"],
        "no entry survived the invalidation"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_function_wide_invalidation_refused_half_way_is_retried_until_it_lands() {
    let server = AclRedisServer::start_with_rules("app", "pw", &["~*", "&*", "+@all", "-unlink"]);
    let db = Rows::new(cache(&server.url()), 0, false);
    let mut admin = server
        .client()
        .get_multiplexed_async_connection()
        .await
        .expect("admin connection");

    let after = update_all_during(
        &db,
        async || {},
        async || {
            redis::cmd("ACL")
                .arg("SETUSER")
                .arg("app")
                .arg("+unlink")
                .query_async::<()>(&mut admin)
                .await
                .expect("grant UNLINK");
        },
    )
    .await;

    assert_eq!(after, ["1:v1", "2:v1"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_invalidation_of_a_function_returns_only_once_its_entries_are_gone() {
    let server = RedisServer::start();
    // Two instances of one app: X reaches Redis over a slow link, W directly.
    let proxy = FaultProxy::start(server.port());
    let slow = CacheConfig::redis(proxy.url())
        .timeout(Duration::from_secs(10))
        .build()
        .expect("valid");
    let x = Rows::new(slow, 0, false);
    let w = Rows::new(cache(&server.url()), 0, false);
    assert_eq!(w.row(1).await.expect("ok"), "1:v0");
    // X connects before its link slows down.
    assert_eq!(x.row(2).await.expect("ok"), "2:v0");
    let mut admin = admin(&server).await;
    let indexes: Vec<String> = redis::cmd("KEYS")
        .arg("*#*")
        .query_async(&mut admin)
        .await
        .expect("keys");
    let [index] = &indexes[..] else {
        panic!("one index expected: {indexes:?}");
    };

    proxy.set_mode(Mode::Latency(Duration::from_millis(300)));
    let first = tokio::spawn({
        let x = x.clone();
        async move { x.update_all().await }
    });
    // X's invalidation has reached Redis once the index is empty.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let listed: u64 = redis::cmd("ZCARD")
            .arg(index)
            .query_async(&mut admin)
            .await
            .expect("zcard");
        if listed == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "X's invalidation never arrived");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    w.update_all().await.expect("updated");
    assert_eq!(
        w.row(1).await.expect("ok"),
        "1:v1",
        "read right after W's invalidation returned"
    );
    first.await.expect("task").expect("updated");
}

/// Writes a lease placeholder under row 1's key, as a holder would that wrote it
/// `age` ago with a lease of `lease` and then crashed; with no Redis TTL.
async fn crashed_placeholder(server: &RedisServer, db: &Rows, age: Duration, lease: Duration) {
    let key = db.row_entry(&1).key().expect("encodable").to_string();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis();
    let written = u64::try_from(now - age.as_millis()).expect("fits");
    let mut placeholder = vec![0xC2, 1, 0b11, 0];
    placeholder.extend_from_slice(&written.to_le_bytes());
    placeholder.extend_from_slice(
        &u32::try_from(lease.as_millis())
            .expect("fits")
            .to_le_bytes(),
    );
    placeholder.extend_from_slice(&0x5eed_u64.to_le_bytes());
    redis::cmd("SET")
        .arg(&key)
        .arg(placeholder)
        .query_async::<()>(&mut admin(server).await)
        .await
        .expect("set");
}

/// Reads row 1 twice; returns how long the first read took.
async fn read_twice(db: &Rows) -> Duration {
    let started = Instant::now();
    assert_eq!(db.row(1).await.expect("ok"), "1:v0");
    let took = started.elapsed();
    assert_eq!(db.row(1).await.expect("ok"), "1:v0");
    let stats = db.cache.stats();
    assert_eq!(
        (db.loads.load(SeqCst), stats.hits, stats.leases_taken_over),
        (1, 1, 1),
        "loaded once, taken over once, then a hit: {stats:?}"
    );
    took
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_placeholder_stored_without_a_ttl_is_dead_once_its_own_lease_has_run_out() {
    let server = RedisServer::start();
    let db = Rows::new(cache(&server.url()), 0, false);
    crashed_placeholder(
        &server,
        &db,
        Duration::from_secs(10),
        Duration::from_secs(5),
    )
    .await;

    let took = read_twice(&db).await;

    // Not the 5 s of waiting for a lease that will never be given back.
    assert!(took < Duration::from_secs(2), "took {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_holders_longer_lease_is_waited_for_only_until_it_runs_out() {
    let server = RedisServer::start();
    let db = Rows::new(cache(&server.url()), 0, false);
    // The holder's lease (20 s) is longer than this caller's (5 s), and has 300 ms
    // left: the caller waits for that, not for its own lease time.
    let lease = Duration::from_secs(20);
    crashed_placeholder(&server, &db, lease - Duration::from_millis(300), lease).await;

    let took = read_twice(&db).await;

    assert!(took < Duration::from_secs(3), "took {took:?}");
}
