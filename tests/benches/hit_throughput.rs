//! Throughput of cache hits through `#[cached]`, against plain redis-rs doing the same
//! work by hand.
//!
//! One throwaway `redis-server` holds one entry, written by a first (missing) call
//! of a `#[cached]` function. Then, for a fixed time each, and at each concurrency
//! level (tasks on a multi-thread tokio runtime, all calling in a loop):
//!
//! - **raw**: a redis-rs `ConnectionManager` (default configuration) `GET`s that
//!   entry's key and decodes the envelope and value
//!   (`envelope::decode::<Bincode, User>`), which is the least work any Redis cache
//!   reading this entry could do;
//! - **cached**: a call of the `#[cached]` function with the same arguments: key
//!   derivation, `GET` under the cache's deadline, decoding, counting.
//!
//! The two alternate, in many short rounds (the order flips each round), and the
//! medians over the rounds are reported with their ratio. Short rounds matter on a
//! small shared machine: throughput drifts by tens of percent over seconds, and
//! adjacent short rounds see the same conditions. After the run, the cache's counters must
//! show that every cached call was a hit and that the only miss was the first call.
//!
//! ```text
//! cargo bench -p cache-tests --bench hit_throughput
//! ```
//!
//! Settings, from the environment:
//!
//! | variable | meaning | default (`cargo bench`) | default (`cargo test`) |
//! |---|---|---|---|
//! | `HIT_THROUGHPUT_ROUNDS` | rounds of raw + cached per level | 40 | 1 |
//! | `HIT_THROUGHPUT_ROUND_MS` | length of one measurement, ms | 250 | 100 |
//! | `HIT_THROUGHPUT_TASKS` | concurrency levels, comma separated | `1,64` | `1,64` |
//! | `HIT_THROUGHPUT_WORKERS` | worker threads of the tokio runtime | one per CPU | one per CPU |
//!
//! Under `cargo test` (no `--bench` argument) it is a smoke run: it checks that
//! everything works and hits, and its figures mean nothing. Results are recorded in
//! `docs/benchmarks.md`.

use std::hint::black_box;
use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use cache_runtime::testing::codec::Bincode;
use cache_runtime::testing::envelope;
use cache_runtime::{Cache, CacheConfig, cached};
use cache_tests::RedisServer;
use cache_tests::bench_args::{env_number, full_run};
use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use serde::{Deserialize, Serialize};

/// The ratio cached/raw the cache aims for at the highest concurrency level.
const TARGET_RATIO: f64 = 0.95;

const ID: u64 = 1_234_567;
const NAME: &str = "ada lovelace";

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
struct User {
    id: u64,
    name: String,
    email: String,
    roles: Vec<String>,
    active: bool,
}

fn make_user(id: u64, name: &str) -> User {
    User {
        id,
        name: name.to_owned(),
        email: format!("{}@example.com", name.replace(' ', ".")),
        roles: vec!["reader".to_owned(), "editor".to_owned()],
        active: true,
    }
}

static CACHE: OnceLock<Cache> = OnceLock::new();

fn bench_cache() -> &'static Cache {
    CACHE
        .get()
        .expect("the cache is set up before the first call")
}

#[cached(ttl = "1h", prefix = "user", cache = bench_cache())]
async fn get_user(id: u64, name: &str) -> Option<User> {
    Some(make_user(id, name))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Path {
    Raw,
    Cached,
}

#[derive(Debug)]
struct Settings {
    full: bool,
    rounds: usize,
    round: Duration,
    levels: Vec<usize>,
    /// Worker threads of the runtime; `None`: tokio's default, one per CPU.
    workers: Option<usize>,
}

impl Settings {
    fn from_env_and_args() -> Self {
        let full = full_run();
        let number = env_number;
        let levels = match std::env::var("HIT_THROUGHPUT_TASKS") {
            Ok(value) => value
                .split(',')
                .map(|part| {
                    part.trim()
                        .parse()
                        .ok()
                        .filter(|&n: &usize| n > 0)
                        .unwrap_or_else(|| {
                            panic!("HIT_THROUGHPUT_TASKS={value:?}: expected numbers like 1,64")
                        })
                })
                .collect(),
            Err(_) => vec![1, 64],
        };
        let count = |name: &str, default: u64| usize::try_from(number(name, default)).unwrap_or(1);
        Self {
            full,
            rounds: count("HIT_THROUGHPUT_ROUNDS", if full { 40 } else { 1 }),
            round: Duration::from_millis(number(
                "HIT_THROUGHPUT_ROUND_MS",
                if full { 250 } else { 100 },
            )),
            levels,
            workers: std::env::var_os("HIT_THROUGHPUT_WORKERS")
                .map(|_| count("HIT_THROUGHPUT_WORKERS", 1)),
        }
    }
}

/// What every task needs: the raw connection and the entry's key.
struct Shared {
    raw: ConnectionManager,
    key: String,
}

/// One raw read: `GET`, then the same decoding the cache does.
async fn raw_read(connection: &mut ConnectionManager, key: &str) -> User {
    let bytes: Option<Vec<u8>> = connection
        .get(key)
        .await
        .unwrap_or_else(|err| panic!("raw GET failed: {err}"));
    let bytes = bytes.expect("the entry is stored");
    let (_meta, user) = envelope::decode::<Bincode, User>(&bytes)
        .unwrap_or_else(|err| panic!("the entry does not decode: {err}"));
    user
}

/// CPU time used so far by all threads of this process (Linux: the sum of
/// `/proc/self/task/*/schedstat`); `None` where that is not available.
fn process_cpu() -> Option<Duration> {
    let mut total = 0u64;
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let path = task.ok()?.path().join("schedstat");
        // A thread may exit between listing and reading; it no longer counts.
        let Ok(text) = std::fs::read_to_string(path) else {
            continue;
        };
        total += text.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(Duration::from_nanos(total))
}

/// One measurement of one path at one concurrency level.
#[derive(Debug, Clone, Copy)]
struct Sample {
    calls: u64,
    ops_per_sec: f64,
    /// CPU time of the whole client process (every runtime thread) over the run.
    cpu: Option<Duration>,
}

/// Runs `tasks` tasks calling `path` in a loop for `duration`.
async fn measure(shared: &Arc<Shared>, path: Path, tasks: usize, duration: Duration) -> Sample {
    let stop = Arc::new(AtomicBool::new(false));
    let cpu_before = process_cpu();
    let started = Instant::now();
    let handles: Vec<_> = (0..tasks)
        .map(|_| {
            let shared = Arc::clone(shared);
            let stop = Arc::clone(&stop);
            tokio::spawn(async move {
                let mut connection = shared.raw.clone();
                let mut calls = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    match path {
                        Path::Raw => {
                            black_box(raw_read(&mut connection, &shared.key).await);
                        }
                        Path::Cached => {
                            black_box(get_user(black_box(ID), black_box(NAME)).await);
                        }
                    }
                    calls += 1;
                }
                calls
            })
        })
        .collect();
    tokio::time::sleep(duration).await;
    stop.store(true, Ordering::Relaxed);
    let mut calls = 0;
    for handle in handles {
        calls += handle
            .await
            .unwrap_or_else(|err| panic!("a task failed: {err}"));
    }
    let elapsed = started.elapsed();
    let cpu = process_cpu()
        .zip(cpu_before)
        .map(|(after, before)| after.saturating_sub(before));
    Sample {
        calls,
        ops_per_sec: calls as f64 / elapsed.as_secs_f64(),
        cpu,
    }
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    if sorted.len().is_multiple_of(2) {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    } else {
        sorted[mid]
    }
}

fn main() {
    let settings = Settings::from_env_and_args();
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Some(workers) = settings.workers {
        runtime.worker_threads(workers);
    }
    let runtime = runtime
        .enable_all()
        .build()
        .unwrap_or_else(|err| panic!("no tokio runtime: {err}"));
    let server = RedisServer::start();
    CACHE
        .set(
            CacheConfig::redis(server.url())
                .build()
                .unwrap_or_else(|err| panic!("cache config: {err}")),
        )
        .unwrap_or_else(|_| panic!("the cache is set up once"));
    let cache = bench_cache();
    let ok = runtime.block_on(run(&server, cache, &settings));
    drop(server);
    if !ok {
        std::process::exit(1);
    }
}

/// Returns whether every check passed (the figures themselves are only reported).
async fn run(server: &RedisServer, cache: &Cache, settings: &Settings) -> bool {
    // The one miss: runs the body and stores the entry.
    let expected = make_user(ID, NAME);
    assert_eq!(get_user(ID, NAME).await, Some(expected.clone()));
    let after_store = cache.stats();
    assert_eq!(
        (after_store.misses, after_store.writes, after_store.hits),
        (1, 1, 0),
        "{after_store:?}"
    );

    // Find the entry the cache wrote: the only `{namespace}:user:{digest}` key on this
    // private server (the cache may keep other keys, such as indexes, beside it).
    let mut raw = ConnectionManager::new(server.client())
        .await
        .unwrap_or_else(|err| panic!("raw connection: {err}"));
    let keys: Vec<String> = raw
        .keys(format!("{}:user:*", cache.namespace()))
        .await
        .unwrap_or_else(|err| panic!("KEYS: {err}"));
    let [key] = keys.as_slice() else {
        panic!("expected exactly one entry, found {keys:?}");
    };
    assert_eq!(raw_read(&mut raw, key).await, expected);
    let shared = Arc::new(Shared {
        raw,
        key: key.clone(),
    });

    let health = cache.health().await;
    println!(
        "hit_throughput: {} mode, {} x {:?} per path and level, levels {:?}; {} CPUs, {} runtime workers, redis-server {}",
        if settings.full { "benchmark" } else { "smoke" },
        settings.rounds,
        settings.round,
        settings.levels,
        std::thread::available_parallelism().map_or(0, usize::from),
        tokio::runtime::Handle::current().metrics().num_workers(),
        health.server_version.as_deref().unwrap_or("?"),
    );
    println!("key {key}");

    let mut cached_calls = 0;
    let mut count = |path: Path, sample: Sample| {
        if path == Path::Cached {
            cached_calls += sample.calls;
        }
        sample
    };
    let warmup = settings.round / 4;
    for &tasks in &settings.levels {
        for path in [Path::Raw, Path::Cached] {
            count(path, measure(&shared, path, tasks, warmup).await);
        }
    }

    // samples[level][path as usize]: one sample per round.
    let mut samples = vec![[Vec::new(), Vec::new()]; settings.levels.len()];
    for round in 0..settings.rounds {
        for (level, &tasks) in settings.levels.iter().enumerate() {
            let order = if round.is_multiple_of(2) {
                [Path::Raw, Path::Cached]
            } else {
                [Path::Cached, Path::Raw]
            };
            for path in order {
                let sample = count(path, measure(&shared, path, tasks, settings.round).await);
                samples[level][path as usize].push(sample);
            }
        }
    }

    println!();
    println!(
        "{:>5}  {:>12}  {:>12}  {:>6}  {:>6}  {:>14}  range over rounds, ops/s",
        "tasks", "raw ops/s", "cached ops/s", "ratio", "paired", "CPU us/call"
    );
    let mut ratio_at_top = None;
    for (level, &tasks) in settings.levels.iter().enumerate() {
        let [raw, cached] = &samples[level];
        let ops = |samples: &[Sample]| samples.iter().map(|s| s.ops_per_sec).collect::<Vec<_>>();
        let (raw_ops, cached_ops) = (ops(raw), ops(cached));
        let ratio = median(&cached_ops) / median(&raw_ops);
        // Each round's cached figure over the raw figure measured next to it: less
        // sensitive to the machine's speed drifting between rounds.
        let paired: Vec<f64> = cached_ops
            .iter()
            .zip(&raw_ops)
            .map(|(c, r)| c / r)
            .collect();
        let cpu_per_call = |samples: &[Sample]| -> Option<f64> {
            let cpu: Option<Duration> = samples.iter().map(|s| s.cpu).sum();
            let calls: u64 = samples.iter().map(|s| s.calls).sum();
            cpu.map(|cpu| cpu.as_secs_f64() * 1e6 / calls.max(1) as f64)
        };
        let cpu = match (cpu_per_call(raw), cpu_per_call(cached)) {
            (Some(r), Some(c)) => format!("{r:.2} / {c:.2}"),
            _ => "n/a".to_owned(),
        };
        let range = |values: &[f64]| {
            let min = values.iter().copied().fold(f64::INFINITY, f64::min);
            let max = values.iter().copied().fold(0.0, f64::max);
            format!("{min:.0}-{max:.0}")
        };
        println!(
            "{tasks:>5}  {:>12.0}  {:>12.0}  {ratio:>6.3}  {:>6.3}  {cpu:>14}  raw {}, cached {}",
            median(&raw_ops),
            median(&cached_ops),
            median(&paired),
            range(&raw_ops),
            range(&cached_ops),
        );
        if Some(&tasks) == settings.levels.iter().max() {
            ratio_at_top = Some((tasks, ratio));
        }
    }
    println!(
        "ratio: median cached / median raw; paired: median of per-round cached/raw; \
         CPU: client process CPU per call, raw / cached"
    );

    // Every cached call of the run must have been a hit, and the first call the only
    // miss: otherwise the cached figures measured something else.
    let stats = cache.stats();
    println!();
    println!("{cached_calls} cached calls; cache stats: {stats:?}");
    let mut ok = true;
    if stats.misses != 1 || stats.writes != 1 {
        eprintln!("FAILED: the cached path missed: {stats:?}");
        ok = false;
    }
    if stats.hits <= after_store.hits
        || stats.hits != cached_calls
        || stats.backend_errors != 0
        || stats.decode_failures != 0
    {
        eprintln!("FAILED: not every cached call was a hit ({cached_calls} calls): {stats:?}");
        ok = false;
    }
    if let Some((tasks, ratio)) = ratio_at_top {
        let verdict = if ratio >= TARGET_RATIO {
            "met"
        } else {
            "NOT met"
        };
        if settings.full {
            println!(
                "target cached/raw >= {TARGET_RATIO} at {tasks} tasks: {verdict} ({ratio:.3})"
            );
        } else {
            println!("smoke run: figures not meaningful (ratio {ratio:.3} at {tasks} tasks)");
        }
    }
    ok
}
