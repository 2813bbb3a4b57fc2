//! The race harness: how often does a read after a write return the old value?
//!
//! Each round uses a key of its own and a stand-in database row at version 0:
//!
//! - 1 to 3 **readers** start after a random delay. Each reads through the cache; on a
//!   miss it reads the row, waits a random time (the query's answer travelling back,
//!   a GC pause, a slow network), then fills the cache with what it read.
//! - One **writer** starts after a random delay, bumps the row's version, waits a
//!   random time, then either invalidates the entry or writes the new value through
//!   (chosen at random).
//! - After all of them finished, a last read through the cache must return the row's
//!   current version. If it returns an older one, the round left a **stale** value.
//!
//! The same rounds run against two caches over the same `redis-server`:
//!
//! - **cache-runtime**: `#[cached]` readers, `#[invalidate]` / `#[cache_put]` writers;
//! - **naive cache-aside**, as commonly written by hand with redis-rs: `GET`; on a miss
//!   read the row and `SET .. PX`; writers `DEL` or `SET` after the update.
//!
//! A third run repeats the first with leases turned off (`without_leases`), to show
//! what closes the race.
//!
//! The naive version leaves a stale value whenever a reader's fill lands after the
//! writer's delete, with the version it read before the update. cache-runtime's
//! leases make that fill lose (see `docs/consistency.md`).
//!
//! ```text
//! cargo bench -p cache-tests --bench stale_race
//! ```
//!
//! | variable | meaning | default (`cargo bench`) | default (`cargo test`) |
//! |---|---|---|---|
//! | `RACE_ROUNDS` | rounds per cache | 100000 | 2000 |
//! | `RACE_CONCURRENCY` | rounds in flight at once | 64 | 64 |
//! | `RACE_MAX_DELAY_US` | longest random delay, µs | 3000 | 3000 |
//!
//! Under `cargo test` it is a shorter run that must find no stale value for
//! cache-runtime and at least one for the naive baseline (which shows the harness
//! can see the race at all). Results are recorded in `docs/benchmarks.md`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::time::{Duration, Instant};

use cache_runtime::{Cache, CacheConfig, cache_put, cached, invalidate};
use cache_tests::RedisServer;
use cache_tests::bench_args::{env_number, full_run};
use redis::AsyncCommands;
use redis::aio::ConnectionManager;

struct Settings {
    rounds: u64,
    concurrency: u64,
    max_delay_us: u64,
}

/// The stand-in database: one row (a version number) per round.
struct Db {
    rows: Vec<AtomicU64>,
}

impl Db {
    fn new(rounds: u64) -> Self {
        Self {
            rows: (0..rounds).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    fn row(&self, id: u64) -> &AtomicU64 {
        &self.rows[usize::try_from(id).unwrap_or(usize::MAX)]
    }
}

/// Waits a random time up to `max_us`: often only a few yields, so that
/// interleavings finer than the timer's millisecond are explored too.
async fn jitter(max_us: u64) {
    if fastrand::bool() {
        for _ in 0..fastrand::u8(0..8) {
            tokio::task::yield_now().await;
        }
    } else {
        tokio::time::sleep(Duration::from_micros(fastrand::u64(0..=max_us))).await;
    }
}

/// One cache under test.
trait Subject: Send + Sync + 'static {
    /// Reads row `id` through the cache.
    fn read(&self, id: u64) -> impl Future<Output = u64> + Send;
    /// Bumps row `id`, then invalidates its entry or writes it through.
    fn write(&self, id: u64, through: bool) -> impl Future<Output = ()> + Send;
}

// ---- cache-runtime ------------------------------------------------------------------

/// Two cache instances over the same Redis, as two processes of one service would
/// have: each call picks one, so leases between instances are exercised as well as
/// single-flight within one.
struct Framework {
    instances: [Cache; 2],
    db: Db,
    max_delay_us: u64,
}

impl Framework {
    #[cached(ttl = 600, prefix = "row", cache = self.instances[fastrand::usize(..2)])]
    async fn get(&self, id: u64) -> u64 {
        let version = self.db.row(id).load(SeqCst);
        jitter(self.max_delay_us).await;
        version
    }

    #[invalidate(self.get(id))]
    async fn update(&self, id: u64) {
        self.db.row(id).fetch_add(1, SeqCst);
        jitter(self.max_delay_us).await;
    }

    #[cache_put(self.get(id))]
    async fn update_through(&self, id: u64) -> u64 {
        let version = self.db.row(id).fetch_add(1, SeqCst) + 1;
        jitter(self.max_delay_us).await;
        version
    }
}

impl Subject for Framework {
    async fn read(&self, id: u64) -> u64 {
        self.get(id).await
    }

    async fn write(&self, id: u64, through: bool) {
        if through {
            self.update_through(id).await;
        } else {
            self.update(id).await;
        }
    }
}

// ---- naive cache-aside ----------------------------------------------------------------

struct Naive {
    redis: ConnectionManager,
    db: Db,
    max_delay_us: u64,
}

impl Naive {
    fn key(id: u64) -> String {
        format!("naive:row:{id}")
    }
}

impl Subject for Naive {
    async fn read(&self, id: u64) -> u64 {
        let mut redis = self.redis.clone();
        if let Ok(Some(cached)) = redis.get::<_, Option<u64>>(Self::key(id)).await {
            return cached;
        }
        let version = self.db.row(id).load(SeqCst);
        jitter(self.max_delay_us).await;
        let _: Result<(), _> = redis.pset_ex(Self::key(id), version, 600_000).await;
        version
    }

    async fn write(&self, id: u64, through: bool) {
        let mut redis = self.redis.clone();
        let version = self.db.row(id).fetch_add(1, SeqCst) + 1;
        jitter(self.max_delay_us).await;
        let _: Result<(), _> = if through {
            redis.pset_ex(Self::key(id), version, 600_000).await
        } else {
            redis.del(Self::key(id)).await
        };
    }
}

// ---- rounds -------------------------------------------------------------------------

/// Runs one round on `subject`; returns whether it left a stale value.
async fn round<S: Subject>(subject: &Arc<S>, db: impl Fn(&S) -> &Db, id: u64, max_us: u64) -> bool {
    let readers: Vec<_> = (0..fastrand::u8(1..=3))
        .map(|_| {
            let subject = subject.clone();
            tokio::spawn(async move {
                jitter(max_us).await;
                subject.read(id).await
            })
        })
        .collect();
    let writer = tokio::spawn({
        let subject = subject.clone();
        let through = fastrand::bool();
        async move {
            jitter(max_us).await;
            subject.write(id, through).await;
        }
    });
    for reader in readers {
        reader.await.unwrap_or_else(|err| panic!("reader: {err}"));
    }
    writer.await.unwrap_or_else(|err| panic!("writer: {err}"));
    let current = db(subject).row(id).load(SeqCst);
    subject.read(id).await != current
}

/// Runs `rounds` rounds, `concurrency` at a time; returns the number of stale ones.
async fn run_rounds<S: Subject>(subject: Arc<S>, db: fn(&S) -> &Db, settings: &Settings) -> u64 {
    let next = Arc::new(AtomicU64::new(0));
    let stale = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..settings.concurrency)
        .map(|_| {
            let (subject, next, stale) = (subject.clone(), next.clone(), stale.clone());
            let (rounds, max_us) = (settings.rounds, settings.max_delay_us);
            tokio::spawn(async move {
                loop {
                    let id = next.fetch_add(1, SeqCst);
                    if id >= rounds {
                        return;
                    }
                    if round(&subject, db, id, max_us).await {
                        stale.fetch_add(1, SeqCst);
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.unwrap_or_else(|err| panic!("worker: {err}"));
    }
    stale.load(SeqCst) as u64
}

fn main() {
    let full = full_run();
    let settings = Settings {
        rounds: env_number("RACE_ROUNDS", if full { 100_000 } else { 2_000 }),
        concurrency: env_number("RACE_CONCURRENCY", 64),
        max_delay_us: env_number("RACE_MAX_DELAY_US", 3_000),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|err| panic!("no tokio runtime: {err}"));
    let server = RedisServer::start();
    let ok = runtime.block_on(run(&server, &settings, full));
    drop(server);
    if !ok {
        std::process::exit(1);
    }
}

async fn run(server: &RedisServer, settings: &Settings, full: bool) -> bool {
    println!(
        "stale_race: {} rounds per cache, {} at a time, delays up to {} µs{}",
        settings.rounds,
        settings.concurrency,
        settings.max_delay_us,
        if full { "" } else { " (smoke run)" }
    );
    // A deadline far above any round trip here: the harness measures the protocol,
    // not the fail-open path (a failed delete would be retried later, and count as
    // stale meanwhile).
    let instance = |namespace: &str, leases: bool| {
        let config = CacheConfig::redis(server.url())
            .namespace(namespace)
            .timeout(Duration::from_secs(2));
        let config = if leases {
            config
        } else {
            config.without_leases()
        };
        config
            .build()
            .unwrap_or_else(|err| panic!("cache config: {err}"))
    };
    let instances = [instance("race", true), instance("race", true)];
    let framework = Arc::new(Framework {
        instances: instances.clone(),
        db: Db::new(settings.rounds),
        max_delay_us: settings.max_delay_us,
    });
    let started = Instant::now();
    let framework_stale = run_rounds(framework, |f| &f.db, settings).await;
    let framework_time = started.elapsed();

    // The same, with leases turned off: single-flight alone does not close the race.
    let leaseless = Arc::new(Framework {
        instances: [instance("race-nl", false), instance("race-nl", false)],
        db: Db::new(settings.rounds),
        max_delay_us: settings.max_delay_us,
    });
    let started = Instant::now();
    let leaseless_stale = run_rounds(leaseless, |f| &f.db, settings).await;
    let leaseless_time = started.elapsed();

    let redis = ConnectionManager::new(server.client())
        .await
        .unwrap_or_else(|err| panic!("connect: {err}"));
    let naive = Arc::new(Naive {
        redis,
        db: Db::new(settings.rounds),
        max_delay_us: settings.max_delay_us,
    });
    let started = Instant::now();
    let naive_stale = run_rounds(naive, |n| &n.db, settings).await;
    let naive_time = started.elapsed();

    let percent = |stale: u64| 100.0 * stale as f64 / settings.rounds as f64;
    println!("{:<20} {:>10} {:>9} {:>9}", "cache", "stale", "%", "time");
    println!(
        "{:<20} {:>10} {:>8.3}% {:>8.1}s",
        "cache-runtime",
        framework_stale,
        percent(framework_stale),
        framework_time.as_secs_f64()
    );
    println!(
        "{:<20} {:>10} {:>8.3}% {:>8.1}s",
        "  without leases",
        leaseless_stale,
        percent(leaseless_stale),
        leaseless_time.as_secs_f64()
    );
    println!(
        "{:<20} {:>10} {:>8.3}% {:>8.1}s",
        "naive cache-aside",
        naive_stale,
        percent(naive_stale),
        naive_time.as_secs_f64()
    );
    let [a, b] = instances.map(|cache| cache.stats());
    let stats = |field: fn(&cache_runtime::CacheStats) -> u64| field(&a) + field(&b);
    println!(
        "cache-runtime counters: {} misses, {} coalesced, {} lease waits, {} fills revoked, {} backend errors",
        stats(|s| s.misses),
        stats(|s| s.coalesced),
        stats(|s| s.lease_waits),
        stats(|s| s.fills_revoked),
        stats(|s| s.backend_errors)
    );
    let mut ok = true;
    if framework_stale > 0 {
        eprintln!("FAIL: cache-runtime left {framework_stale} stale values");
        ok = false;
    }
    if naive_stale == 0 {
        eprintln!(
            "FAIL: the naive baseline never went stale: the harness does not provoke the race"
        );
        ok = false;
    }
    ok
}
