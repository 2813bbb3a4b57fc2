//! Leases against real `redis-server` processes: a fill loses to an invalidation or
//! write-through made during the load, several OS processes share one load of a cold
//! key, and a crashed lease holder blocks the key no longer than the lease time.
//!
//! The multi-process tests run this test binary again as child processes (the
//! `child_*` tests, ignored when run directly).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

use cache_runtime::{Cache, CacheConfig, cached};
use cache_tests::{RedisServer, Rows, patient, yield_until_stats};

/// The rows of these tests start at version 0, and every read is held at the gate
/// until the test opens it.
fn rows(cache: Cache) -> Arc<Rows> {
    Rows::new(cache, 0, true)
}

/// These tests count loads and revoked fills, so every cache operation must meet its
/// deadline: a patient one, not the default 50 ms that a loaded machine can miss.
fn redis_cache(server: &RedisServer) -> Cache {
    patient(CacheConfig::redis(server.url()))
        .build()
        .expect("valid test configuration")
}

/// A reader loads row 1 and is held after reading version 0; `write` runs; the
/// reader finishes. Returns what the reader got and what a read after both got.
async fn write_during_load<W, F>(db: &Arc<Rows>, write: W) -> (String, String)
where
    W: FnOnce(Arc<Rows>) -> F,
    F: Future<Output = ()>,
{
    let reader = tokio::spawn({
        let db = db.clone();
        async move { db.row(1).await }
    });
    db.gate.arrived(1).await;
    write(db.clone()).await;
    db.gate.open();
    let during = reader.await.expect("reader task").expect("ok");
    let after = db.row(1).await.expect("ok");
    (during, after)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalidation_during_the_load_wins_over_the_fill() {
    let server = RedisServer::start();
    let db = rows(redis_cache(&server));

    let (during, after) = write_during_load(&db, |db| async move {
        db.update(1).await.expect("updated");
    })
    .await;

    assert_eq!(during, "1:v0", "the reader returns what it read");
    assert_eq!(after, "1:v1", "but its old value was not stored");
    assert_eq!(db.cache.stats().fills_revoked, 1);
    assert_eq!(db.loads.load(SeqCst), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_through_during_the_load_wins_over_the_fill() {
    let server = RedisServer::start();
    let db = rows(redis_cache(&server));

    let (during, after) = write_during_load(&db, |db| async move {
        db.update_through(1).await.expect("updated");
    })
    .await;

    assert_eq!(during, "1:v0");
    assert_eq!(after, "1:v1", "the written value, as a hit");
    assert_eq!(db.loads.load(SeqCst), 1);
    assert_eq!(db.cache.stats().fills_revoked, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_function_wide_invalidation_during_the_load_wins_over_the_fill() {
    let server = RedisServer::start();
    let db = rows(redis_cache(&server));

    let (during, after) = write_during_load(&db, |db| async move {
        db.update_all().await.expect("updated");
    })
    .await;

    assert_eq!((during.as_str(), after.as_str()), ("1:v0", "1:v1"));
    assert_eq!(db.cache.stats().fills_revoked, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_that_starts_after_the_write_never_gets_the_revoked_value() {
    let server = RedisServer::start();
    let db = rows(redis_cache(&server));
    let reader = tokio::spawn({
        let db = db.clone();
        async move { db.row(1).await }
    });
    db.gate.arrived(1).await;
    db.update(1).await.expect("updated");

    // Starts after the write completed, while the old load is still running: it
    // joins that load, whose fill is then revoked, and must load again.
    let late = tokio::spawn({
        let db = db.clone();
        async move { db.row(1).await }
    });
    // No event tells that it joined the load; yield until the gauge does.
    yield_until_stats(&db.cache, "the late caller waits for the load", |stats| {
        stats.waiting_for_loads == 1
    })
    .await;
    db.gate.open();
    assert_eq!(reader.await.expect("task").as_deref(), Ok("1:v0"));
    assert_eq!(late.await.expect("task").as_deref(), Ok("1:v1"));
    assert_eq!(db.row(1).await.as_deref(), Ok("1:v1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_memory_backend_keeps_the_same_guarantee() {
    let db = rows(Cache::memory());

    let (during, after) = write_during_load(&db, |db| async move {
        db.update(1).await.expect("updated");
    })
    .await;

    assert_eq!((during.as_str(), after.as_str()), ("1:v0", "1:v1"));
    assert_eq!(db.cache.stats().fills_revoked, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_leases_the_old_value_is_stored() {
    // The race the leases close, shown with them turned off.
    let server = RedisServer::start();
    let db = rows(
        patient(CacheConfig::redis(server.url()))
            .without_leases()
            .build()
            .expect("valid"),
    );

    let (during, after) = write_during_load(&db, |db| async move {
        db.update(1).await.expect("updated");
    })
    .await;

    assert_eq!((during.as_str(), after.as_str()), ("1:v0", "1:v0"));
}

// ---- Several processes ------------------------------------------------------------

/// Environment of the child processes.
const URL_VAR: &str = "CACHE_LEASE_TEST_REDIS_URL";
const TASKS_VAR: &str = "CACHE_LEASE_TEST_TASKS";

/// Runs the ignored test `name` of this binary as a child process.
fn spawn_child(name: &str, server: &RedisServer, tasks: usize) -> Child {
    Command::new(std::env::current_exe().expect("test binary path"))
        .args([name, "--exact", "--ignored", "--nocapture"])
        .env(URL_VAR, server.url())
        .env(TASKS_VAR, tasks.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("run the test binary")
}

/// The value of `name=` in a child's output.
fn reported(output: &str, name: &str) -> usize {
    output
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{name}=")))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name}= in the child's output:\n{output}"))
}

/// A patient deadline: a lease script that missed the default 50 ms on a loaded
/// machine would make its caller run the body (failing open, by design), and the
/// parent counts body runs.
fn child_cache(lease: Duration) -> Cache {
    let url = std::env::var(URL_VAR).expect("run by the parent test");
    patient(CacheConfig::redis(url))
        .lease_time(lease)
        .build()
        .expect("valid test configuration")
}

async fn redis_command(client: &redis::Client, cmd: &redis::Cmd) -> redis::Value {
    let mut connection = client
        .get_multiplexed_async_connection()
        .await
        .expect("test server reachable");
    cmd.query_async(&mut connection).await.expect("command")
}

/// The shared cold key: the body takes a while, as a database query would, and
/// counts its runs in this process.
#[cached(ttl = 60, prefix = "shared", cache = cache, skip(cache, runs))]
async fn shared_value(cache: &Cache, runs: &AtomicUsize, id: u64) -> u64 {
    runs.fetch_add(1, SeqCst);
    tokio::time::sleep(Duration::from_millis(200)).await;
    id * 10
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_processes_on_a_cold_key_run_the_body_once_in_total() {
    const PROCESSES: usize = 4;
    const TASKS: usize = 200;
    let server = RedisServer::start();
    let client = server.client();
    let children: Vec<Child> = (0..PROCESSES)
        .map(|_| spawn_child("child_calls_the_shared_key", &server, TASKS))
        .collect();

    // Every child is connected and ready; then all start at once.
    for _ in 0..PROCESSES {
        let ready = redis_command(&client, redis::cmd("BLPOP").arg("ready").arg(60)).await;
        assert_ne!(ready, redis::Value::Nil, "a child did not get ready");
    }
    redis_command(&client, redis::cmd("RPUSH").arg("go").arg(&[1; PROCESSES])).await;

    let mut runs = 0;
    for child in children {
        let output = child.wait_with_output().expect("child ran");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "child failed:\n{stdout}");
        runs += reported(&stdout, "body_runs");
        assert_eq!(reported(&stdout, "correct"), TASKS, "{stdout}");
    }
    assert_eq!(runs, 1, "one body run across {PROCESSES} processes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run by several_processes_on_a_cold_key_run_the_body_once_in_total as a child process"]
async fn child_calls_the_shared_key() {
    let cache = child_cache(Duration::from_secs(10));
    let tasks: usize = std::env::var(TASKS_VAR)
        .expect("run by the parent test")
        .parse()
        .expect("a number");
    let client = redis::Client::open(std::env::var(URL_VAR).expect("url")).expect("url");
    // Connect the cache before the start signal, so every process starts warm.
    assert!(cache.health().await.healthy);
    redis_command(&client, redis::cmd("RPUSH").arg("ready").arg(1)).await;
    let go = redis_command(&client, redis::cmd("BLPOP").arg("go").arg(60)).await;
    assert_ne!(go, redis::Value::Nil, "no start signal");

    let runs = Arc::new(AtomicUsize::new(0));
    let calls: Vec<_> = (0..tasks)
        .map(|_| {
            let (cache, runs) = (cache.clone(), runs.clone());
            tokio::spawn(async move { shared_value(&cache, &runs, 7).await })
        })
        .collect();
    let mut correct = 0;
    for call in calls {
        if call.await.expect("task") == 70 {
            correct += 1;
        }
    }
    println!("body_runs={}", runs.load(SeqCst));
    println!("correct={correct}");
}

/// A load that never finishes: the caller is killed while it holds the lease.
#[cached(ttl = 60, prefix = "crash", cache = cache, skip(cache, runs))]
async fn crash_value(cache: &Cache, runs: &AtomicUsize, id: u64) -> u64 {
    runs.fetch_add(1, SeqCst);
    if std::env::var_os(URL_VAR).is_some() {
        // In the child: announce the load, then hang until killed.
        println!("loading");
        std::future::pending::<()>().await;
    }
    id + 1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_lease_holder_blocks_the_key_no_longer_than_the_lease() {
    let server = RedisServer::start();
    let mut child = spawn_child("child_takes_the_lease_and_hangs", &server, 1);
    let mut lines = BufReader::new(child.stdout.take().expect("piped")).lines();
    let announced = lines.any(|line| line.is_ok_and(|line| line == "loading"));
    assert!(announced, "the child never started loading");
    child.kill().expect("kill the child");
    child.wait().expect("reap the child");
    let keys = server.entry_keys("*");
    assert_eq!(
        keys.len(),
        1,
        "the crashed caller's lease is in place: {keys:?}"
    );

    // This process finds the lease, waits for it to expire, then loads.
    let cache = patient(CacheConfig::redis(server.url()))
        .build()
        .expect("valid");
    let runs = AtomicUsize::new(0);
    assert_eq!(crash_value(&cache, &runs, 4).await, 5);
    assert_eq!(runs.load(SeqCst), 1);
    let stats = cache.stats();
    assert_eq!((stats.lease_waits, stats.writes), (1, 1), "{stats:?}");
    assert_eq!(crash_value(&cache, &runs, 4).await, 5);
    assert_eq!(runs.load(SeqCst), 1, "the value was stored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run by a_crashed_lease_holder_blocks_the_key_no_longer_than_the_lease as a child process"]
async fn child_takes_the_lease_and_hangs() {
    let cache = child_cache(Duration::from_millis(500));
    let runs = AtomicUsize::new(0);
    crash_value(&cache, &runs, 4).await;
    unreachable!("the load hangs until the parent kills this process");
}
