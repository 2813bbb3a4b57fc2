//! One bad key must neither stay forever nor take healthy keys down with it.
//!
//! The scenario of issue 10, at test scale: tens of megabytes of garbage, without a
//! TTL, under the key of one cached function, while healthy keys are read
//! concurrently. The healthy keys must keep hitting, the circuit breaker must stay
//! closed, and the bad key must be replaced by a real value after a bounded number
//! of calls. See `docs/failures.md`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::{Duration, Instant};

use cache_runtime::testing::codec::Bincode;
use cache_runtime::testing::envelope;
use cache_runtime::{BreakerSettings, Cache, CacheConfig, CacheStats, cached};
use cache_tests::RedisServer;
use cache_tests::fault_proxy::{FaultProxy, Mode};
use redis::AsyncConnectionConfig;
use redis::aio::MultiplexedConnection;
use tokio::task::JoinSet;

/// Healthy keys, each read once per round.
const HEALTHY: u64 = 40;
/// Rounds of concurrent reads: all healthy keys and the bad one at once.
const ROUNDS: usize = 30;
/// The garbage under the bad key.
const GARBAGE_BYTES: usize = 48 << 20;
/// The one-way delay of the link between the cache and Redis. The proxy that adds
/// it has at most 1 MiB in flight per direction, so it also caps the bandwidth at
/// 1 MiB per delay: the garbage needs at least 240 ms to cross, the 1 MiB that the
/// cache reads of it about 10 ms more than a round trip.
const LINK_DELAY: Duration = Duration::from_millis(5);
/// The cache's deadline: a few times what a read takes on that link, and well
/// below what the garbage takes, however fast the machine. (Four times the default,
/// so that a loaded machine that stalls the test for a while does not make healthy
/// reads miss it.)
const DEADLINE: Duration = Duration::from_millis(200);
/// The deadline of the test's own commands, long enough for the garbage.
const RAW_TIMEOUT: Duration = Duration::from_secs(30);

#[cached(ttl = 600, prefix = "item", cache = cache, skip(cache, runs))]
async fn item(cache: &Cache, runs: &AtomicUsize, id: u64) -> String {
    runs.fetch_add(1, SeqCst);
    format!("item-{id}")
}

#[cached(ttl = 600, prefix = "report", cache = cache, skip(cache, runs))]
async fn report(cache: &Cache, runs: &AtomicUsize) -> Vec<u64> {
    runs.fetch_add(1, SeqCst);
    (0..16).collect()
}

/// A connection for the test's own commands, with room for large replies.
async fn raw(server: &RedisServer) -> MultiplexedConnection {
    let config = AsyncConnectionConfig::new().set_response_timeout(Some(RAW_TIMEOUT));
    server
        .client()
        .get_multiplexed_async_connection_with_config(&config)
        .await
        .expect("test server reachable")
}

async fn command<T: redis::FromRedisValue>(
    connection: &MultiplexedConnection,
    cmd: &redis::Cmd,
) -> T {
    cmd.query_async(&mut connection.clone())
        .await
        .unwrap_or_else(|err| panic!("{cmd:?}: {err}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_enormous_value_under_one_key_neither_stays_nor_takes_healthy_keys_down() {
    let server = RedisServer::start();
    let connection = raw(&server).await;
    let link = FaultProxy::start(server.port());
    link.set_mode(Mode::Latency(LINK_DELAY));
    // The default breaker and value limit, as in the issue.
    let cache = CacheConfig::redis(link.url())
        .namespace("t")
        .timeout(DEADLINE)
        .build()
        .expect("valid test configuration");
    let (healthy_runs, bad_runs) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));

    // The bad key: the report's entry, replaced by garbage that never expires.
    assert_eq!(report(&cache, &bad_runs).await.len(), 16);
    let bad_key = server
        .entry_keys("t:report:*")
        .pop()
        .expect("the report's entry");
    let garbage = vec![b'x'; GARBAGE_BYTES];
    let () = command(&connection, redis::cmd("SET").arg(&bad_key).arg(&garbage)).await;
    drop(garbage);
    for id in 0..HEALTHY {
        assert_eq!(item(&cache, &healthy_runs, id).await, format!("item-{id}"));
    }
    let (healthy_before, bad_before) = (healthy_runs.load(SeqCst), bad_runs.load(SeqCst));
    let stats_before = cache.stats();

    // Each round reads every healthy key and the bad one, all at once.
    let started = Instant::now();
    let mut bad_healed_after = None;
    for round in 1..=ROUNDS {
        let mut calls = JoinSet::new();
        for id in 0..HEALTHY {
            let (cache, runs) = (cache.clone(), Arc::clone(&healthy_runs));
            calls.spawn(async move {
                assert_eq!(item(&cache, &runs, id).await, format!("item-{id}"));
            });
        }
        let (cache_for_bad, runs) = (cache.clone(), Arc::clone(&bad_runs));
        calls.spawn(async move {
            assert_eq!(report(&cache_for_bad, &runs).await.len(), 16);
        });
        while let Some(call) = calls.join_next().await {
            call.expect("a cached call panicked");
        }
        if bad_healed_after.is_none() {
            let stored: Option<Vec<u8>> =
                command(&connection, redis::cmd("GET").arg(&bad_key)).await;
            let healed = stored.is_some_and(|bytes| {
                envelope::decode::<Bincode, Vec<u64>>(&bytes)
                    .is_ok_and(|(_, value)| value == (0..16).collect::<Vec<_>>())
            });
            if healed {
                bad_healed_after = Some(round);
            }
        }
    }
    let took = started.elapsed();

    let stats = cache.stats();
    let healthy_calls = HEALTHY as usize * ROUNDS;
    let healthy_misses = healthy_runs.load(SeqCst) - healthy_before;
    let bad_misses = bad_runs.load(SeqCst) - bad_before;
    let ttl: i64 = command(&connection, redis::cmd("PTTL").arg(&bad_key)).await;
    println!(
        "{ROUNDS} rounds in {took:?}: healthy keys missed {healthy_misses} of {healthy_calls} \
         calls; the bad key missed {bad_misses} of {ROUNDS} and was healed after round \
         {bad_healed_after:?} (PTTL {ttl} ms); breaker opened {} times, {} operations \
         short-circuited, {} timeouts, {} decode failures",
        stats.breaker_opens - stats_before.breaker_opens,
        stats.short_circuited - stats_before.short_circuited,
        stats.timeouts - stats_before.timeouts,
        stats.decode_failures - stats_before.decode_failures,
    );
    assert_eq!(stats.breaker_opens, 0, "the breaker opened: {stats:?}");
    assert!(
        healthy_misses * 100 <= healthy_calls * 5,
        "healthy keys missed {healthy_misses} of {healthy_calls} calls: {stats:?}"
    );
    // Healed by the first call that reads it (the second, if that read ran out of time).
    assert!(
        bad_healed_after.is_some_and(|round| round <= 2),
        "healed after round {bad_healed_after:?}: {stats:?}"
    );
    assert!(
        bad_misses <= 2,
        "the bad key missed {bad_misses} times: {stats:?}"
    );
    assert!(ttl > 0, "the replacement expires (PTTL {ttl})");
}

/// Pauses every client of the server (this one too) for `pause`.
async fn pause_redis(connection: &MultiplexedConnection, pause: Duration) {
    let millis = pause.as_millis().to_string();
    let () = command(
        connection,
        redis::cmd("CLIENT").arg("PAUSE").arg(millis).arg("ALL"),
    )
    .await;
}

/// A read that runs out of time is followed by a `STRLEN` of its key. If Redis
/// answers that within its own deadline, Redis works and the key was the problem:
/// the read does not count against the breaker, and a value over the limit is
/// removed. If Redis stays silent, the read is a failure like any other. A pause of
/// all clients makes the reads run out of time at will: one and a half deadlines
/// (answered after the read ran out, before the follow-up does), then five.
#[tokio::test]
async fn a_read_past_the_deadline_counts_against_the_breaker_only_if_redis_stays_silent() {
    const DEADLINE: Duration = Duration::from_secs(1);
    let server = RedisServer::start();
    let connection = raw(&server).await;
    let cache = CacheConfig::redis(server.url())
        .namespace("t")
        .timeout(DEADLINE)
        // One failure opens it, for as long as the test runs.
        .circuit_breaker(BreakerSettings {
            failure_threshold: 1,
            open_for: Duration::from_secs(600),
            close_after: 1,
        })
        .build()
        .expect("valid test configuration");
    let (runs, bad_runs) = (AtomicUsize::new(0), AtomicUsize::new(0));
    assert_eq!(item(&cache, &runs, 1).await, "item-1");
    let item_key = server
        .entry_keys("t:item:*")
        .pop()
        .expect("the item's entry");
    assert_eq!(report(&cache, &bad_runs).await.len(), 16);
    let bad_key = server
        .entry_keys("t:report:*")
        .pop()
        .expect("the report's entry");
    // Twice the default limit of 1 MiB.
    let () = command(
        &connection,
        redis::cmd("SET").arg(&bad_key).arg(vec![b'x'; 2 << 20]),
    )
    .await;
    let exists = |key: &str| {
        let mut cmd = redis::cmd("EXISTS");
        cmd.arg(key);
        let connection = connection.clone();
        async move { command::<bool>(&connection, &cmd).await }
    };
    let before = cache.stats();

    // A valid entry, read while Redis pauses: a timeout, not a failure; kept.
    pause_redis(&connection, DEADLINE * 3 / 2).await;
    assert_eq!(item(&cache, &runs, 1).await, "item-1");
    let stats = cache.stats();
    assert_eq!(
        runs.load(SeqCst),
        2,
        "the read ran out of time: the function ran"
    );
    assert_eq!(stats.timeouts, before.timeouts + 1, "{stats:?}");
    assert_eq!(
        stats.breaker_opens, 0,
        "Redis answered the follow-up: {stats:?}"
    );
    assert!(exists(&item_key).await, "a valid entry is kept");
    assert_eq!(item(&cache, &runs, 1).await, "item-1");
    assert_eq!(runs.load(SeqCst), 2, "then a hit");

    // The value over the limit, read while Redis pauses: not a failure either; it is
    // removed, and the next call stores the report.
    pause_redis(&connection, DEADLINE * 3 / 2).await;
    assert_eq!(report(&cache, &bad_runs).await.len(), 16);
    let stats = cache.stats();
    assert_eq!(bad_runs.load(SeqCst), 2, "the function ran");
    assert_eq!(stats.timeouts, before.timeouts + 2, "{stats:?}");
    assert_eq!(stats.breaker_opens, 0, "{stats:?}");
    assert!(
        !exists(&bad_key).await,
        "the value over the limit was removed"
    );
    assert_eq!(report(&cache, &bad_runs).await.len(), 16);
    assert_eq!(report(&cache, &bad_runs).await.len(), 16);
    assert_eq!(
        bad_runs.load(SeqCst),
        3,
        "stored by the next call, then a hit"
    );

    // A Redis that stays silent past the follow-up's deadline too: a failure, and
    // the breaker opens. The call waits the two deadlines, not the stall.
    pause_redis(&connection, DEADLINE * 5).await;
    let started = Instant::now();
    assert_eq!(item(&cache, &runs, 1).await, "item-1");
    let waited = started.elapsed();
    let stats = cache.stats();
    println!(
        "stalled Redis: the call waited {waited:?}; {}",
        changes(&before, &stats)
    );
    assert_eq!(stats.breaker_opens, 1, "{stats:?}");
    assert_eq!(stats.timeouts, before.timeouts + 3, "{stats:?}");
    assert!(waited < DEADLINE * 4, "waited {waited:?}");
}

/// The counters a test looks at, as changed between two snapshots.
fn changes(before: &CacheStats, after: &CacheStats) -> String {
    format!(
        "hits +{}, misses +{}, writes +{}, timeouts +{}, breaker opened +{}",
        after.hits - before.hits,
        after.misses - before.misses,
        after.writes - before.writes,
        after.timeouts - before.timeouts,
        after.breaker_opens - before.breaker_opens,
    )
}

#[cached(ttl = 600, prefix = "blob", cache = cache, skip(cache, runs))]
async fn blob(cache: &Cache, runs: &AtomicUsize, len: usize) -> Vec<u8> {
    runs.fetch_add(1, SeqCst);
    vec![7; len]
}

/// A value over `CacheConfig::max_value_bytes` is returned but not stored; one
/// stored by a process with a higher limit is a miss for this one, which removes it.
#[tokio::test]
async fn values_over_the_limit_are_neither_written_nor_read() {
    let server = RedisServer::start();
    let build = |limit| {
        CacheConfig::redis(server.url())
            .namespace("t")
            .max_value_bytes(limit)
            .build()
            .expect("valid test configuration")
    };
    let (small, large) = (build(1024), build(64 << 10));
    let runs = AtomicUsize::new(0);
    let stored = || server.entry_keys("t:blob:*");

    // 2,000 bytes (and a length prefix) are over the limit: not stored, each call runs.
    for call in 1..=2 {
        assert_eq!(blob(&small, &runs, 2000).await.len(), 2000);
        assert_eq!(runs.load(SeqCst), call);
        assert_eq!(small.stats().encode_failures, call as u64);
        assert_eq!(stored(), Vec::<String>::new(), "nothing written");
    }
    // 1,000 bytes fit: stored, then a hit.
    assert_eq!(blob(&small, &runs, 1000).await.len(), 1000);
    assert_eq!(blob(&small, &runs, 1000).await.len(), 1000);
    assert_eq!(runs.load(SeqCst), 3, "then a hit");
    assert_eq!(small.stats().writes, 1);

    // 4,000 bytes, stored by a process that allows them: too long for this one, which
    // reads it as oversized, removes it, and stores nothing in its place.
    assert_eq!(blob(&large, &runs, 4000).await.len(), 4000);
    assert_eq!(stored().len(), 2, "the large process stored it");
    let before = small.stats();
    assert_eq!(blob(&small, &runs, 4000).await.len(), 4000);
    let after = small.stats();
    assert_eq!(runs.load(SeqCst), 5, "a miss");
    assert_eq!(
        after.decode_failures,
        before.decode_failures + 1,
        "{after:?}"
    );
    assert_eq!(
        after.encode_failures,
        before.encode_failures + 1,
        "{after:?}"
    );
    assert_eq!(after.backend_errors, before.backend_errors, "{after:?}");
    assert_eq!(stored().len(), 1, "removed, not replaced");
}
