//! The race harness: does a read that starts after a write completed ever return
//! the value from before the write?
//!
//! Each round uses a key of its own and a stand-in database row at version 0:
//!
//! - 1 to 3 **early readers** start after a random delay. Each reads through the
//!   cache; on a miss it reads the row, waits a random time (the query's answer
//!   travelling back, a GC pause, a slow network), then fills the cache with what it
//!   read. Their calls overlap the writes, so any version is a correct answer for them.
//! - **Writers** start after a random delay, bump the row's version, wait a random
//!   time, then update the cache with one **writer kind** per phase:
//!   - `entry`: `#[invalidate(self.get(id))]`, the round's entry;
//!   - `function`: `#[invalidate(self.get(..))]`, every entry of the function;
//!   - `group`: `#[invalidate(RACE_GROUP)]`, every entry of a group `get` joins;
//!   - `put`: `#[cache_put(self.get(id))]`, the new value written through.
//!
//!   The invalidating kinds run **two writers** at once in each round, one through
//!   each of two cache instances (two instances of one service, in one process), so
//!   that two invalidations of one entry, function or group race each other. `put`
//!   runs one (two racing write-throughs may store either value:
//!   `docs/consistency.md`, "Racing writers").
//! - Right after each writer returns, 1 or 2 **late readers** start (at once, or
//!   after a random delay), each through a random instance. A late read must return
//!   at least the version its writer wrote: it started after that write completed.
//!   Returning an older one is a **stale late read**.
//! - After everything finished, a **final read** must return the row's current
//!   version; otherwise the round left a stale value behind.
//!
//! Every phase runs in one of three **fault modes**:
//!
//! - `clean`: both instances talk to Redis directly, with a deadline of 2 s that is
//!   never missed (the protocol alone is measured);
//! - `proxy`: instance 0 goes through a [`FaultProxy`] with the default 50 ms
//!   deadline, and a thread opens fault windows on it all the time: after 20 to
//!   300 ms of normal service, a window of 5 to 60 ms of latency (1 to 40 ms each
//!   way), blackhole (the commands sent meanwhile are delivered when it ends) or
//!   reset connections. Instance 1 stays direct and patient;
//! - `deadline-2ms`: instance 0 has a 2 ms deadline (reads and leases fail now and
//!   then, and its circuit breaker opens), instance 1 stays patient.
//!
//! So a reader of instance 0 may lose its read or its lease (and run the function
//! without one) while a writer of either instance succeeds. cache-runtime's
//! instances use a lease time of 1 s (loads here take milliseconds), so that a
//! placeholder left by a lease script that reached Redis after its caller gave up
//! holds the key's other callers for 1 s rather than 5.
//!
//! When a writer's own invalidation fails, it is queued for a retry, and until it
//! lands only its own instance keeps the guarantee (`docs/consistency.md`: "Other
//! processes see the invalidation only when the retry lands"). A stale read through
//! the *other* instance after a writer whose instance queued an invalidation during
//! its call is therefore counted apart, as **excused**, never as a failure; every
//! other stale read is a failure. (Which call queued is not known exactly, so this
//! excuses a little more than it must, never less.)
//!
//! Baselines, in the `clean` mode: cache-runtime with leases turned off
//! (`without_leases`), and **naive cache-aside** as commonly written by hand with
//! redis-rs (`GET`; on a miss read the row and `SET .. PX`; writers `DEL` or `SET`
//! after the update), for the kinds it has (`entry`, `put`). They show that the
//! harness provokes the race.
//!
//! ```text
//! cargo bench -p cache-tests --bench stale_race
//! RACE_ROUNDS=20000 RACE_MODES=proxy RACE_KINDS=group,function cargo bench -p cache-tests --bench stale_race
//! ```
//!
//! | variable | meaning | default (`cargo bench`) | default (`cargo test`) |
//! |---|---|---|---|
//! | `RACE_ROUNDS` | rounds per writer kind and fault mode | 100000 | 250 |
//! | `RACE_BASELINE_ROUNDS` | rounds per baseline phase | 10000 | 500 |
//! | `RACE_CONCURRENCY` | rounds in flight at once | 64 | 64 |
//! | `RACE_MAX_DELAY_US` | longest random delay, µs | 3000 | 3000 |
//! | `RACE_KINDS` | writer kinds, comma separated | all | all |
//! | `RACE_MODES` | fault modes, comma separated | all | all |
//!
//! It fails (exit status 1) if cache-runtime returns any stale late read or leaves
//! any stale value that is not excused, or if neither baseline ever goes stale (the
//! harness would not provoke the race). Under `cargo test` it is a short smoke
//! run of the same. Results are recorded in `docs/benchmarks.md`.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::time::{Duration, Instant};

use cache_runtime::{Cache, CacheConfig, CacheGroup, CacheStats, cache_put, cached, invalidate};
use cache_tests::bench_args::{env_number, full_run};
use cache_tests::fault_proxy::Mode;
use cache_tests::{FaultProxy, PATIENT_TIMEOUT, RedisServer};
use redis::AsyncCommands;
use redis::aio::ConnectionManager;

struct Settings {
    rounds: u64,
    baseline_rounds: u64,
    concurrency: u64,
    max_delay_us: u64,
    kinds: Vec<Kind>,
    modes: Vec<FaultMode>,
}

/// How the writers of a phase update the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Entry,
    Function,
    Group,
    Put,
}

impl Kind {
    const ALL: [Self; 4] = [Self::Entry, Self::Function, Self::Group, Self::Put];

    fn name(self) -> &'static str {
        match self {
            Self::Entry => "entry",
            Self::Function => "function",
            Self::Group => "group",
            Self::Put => "put",
        }
    }

    /// Writers per round: two racing invalidations, or one write-through.
    fn writers(self) -> usize {
        if self == Self::Put { 1 } else { 2 }
    }
}

/// What goes wrong between instance 0 and Redis during a phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FaultMode {
    Clean,
    Proxy,
    Deadline2ms,
}

impl FaultMode {
    const ALL: [Self; 3] = [Self::Clean, Self::Proxy, Self::Deadline2ms];

    fn name(self) -> &'static str {
        match self {
            Self::Clean => "clean",
            Self::Proxy => "proxy",
            Self::Deadline2ms => "deadline-2ms",
        }
    }
}

/// The values of the comma-separated list in `var` among `all`, or all of them.
fn env_list<T: Copy>(var: &str, all: &[T], name: fn(T) -> &'static str) -> Vec<T> {
    let Ok(list) = std::env::var(var) else {
        return all.to_vec();
    };
    list.split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(|item| {
            all.iter()
                .copied()
                .find(|&value| name(value) == item)
                .unwrap_or_else(|| {
                    let names: Vec<_> = all.iter().map(|&value| name(value)).collect();
                    panic!("{var}: unknown {item:?}; expected some of {names:?}")
                })
        })
        .collect()
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

/// What a writer did.
struct Written {
    /// The row's version its database write produced.
    version: u64,
    /// Whether its instance queued a failed invalidation during the call (perhaps
    /// another round's): then the other instance may serve the old value until the
    /// retry lands, as documented.
    maybe_failed: bool,
}

/// One cache under test, with `instances()` instances sharing one Redis.
trait Subject: Send + Sync + 'static {
    fn instances(&self) -> usize;
    fn db(&self) -> &Db;
    /// Reads row `id` through instance `instance`.
    fn read(&self, instance: usize, id: u64) -> impl Future<Output = u64> + Send;
    /// Bumps row `id`, then updates the cache through `instance` as `kind` does.
    fn write(&self, instance: usize, kind: Kind, id: u64) -> impl Future<Output = Written> + Send;
}

// ---- cache-runtime ------------------------------------------------------------------

static RACE_GROUP: CacheGroup = CacheGroup::new("race");

tokio::task_local! {
    /// The instance the current task's calls go through.
    static INSTANCE: usize;
}

/// Two cache instances over the same Redis, as two processes of one service would
/// have: each call goes through the one its task is pinned to.
struct Framework {
    instances: [Cache; 2],
    db: Db,
    max_delay_us: u64,
}

impl Framework {
    /// The instance of the current task (every call of the harness is pinned).
    fn instance(&self) -> &Cache {
        &self.instances[INSTANCE.try_with(|&i| i).unwrap_or(0)]
    }

    #[cached(ttl = 600, prefix = "row", cache = self.instance(), groups(RACE_GROUP))]
    async fn get(&self, id: u64) -> u64 {
        let version = self.db.row(id).load(SeqCst);
        jitter(self.max_delay_us).await;
        version
    }

    /// The database write of every writer: bump, then the time the commit takes to
    /// come back.
    async fn bump(&self, id: u64) -> u64 {
        let version = self.db.row(id).fetch_add(1, SeqCst) + 1;
        jitter(self.max_delay_us).await;
        version
    }

    #[invalidate(self.get(id))]
    async fn update_entry(&self, id: u64) -> u64 {
        self.bump(id).await
    }

    #[invalidate(self.get(..))]
    async fn update_function(&self, id: u64) -> u64 {
        self.bump(id).await
    }

    #[invalidate(RACE_GROUP, cache = self.instance())]
    async fn update_group(&self, id: u64) -> u64 {
        self.bump(id).await
    }

    #[cache_put(self.get(id))]
    async fn update_through(&self, id: u64) -> u64 {
        self.bump(id).await
    }

    fn stats(&self) -> CacheStats {
        let [a, b] = [&self.instances[0], &self.instances[1]].map(Cache::stats);
        sum_stats(&a, &b)
    }
}

impl Subject for Framework {
    fn instances(&self) -> usize {
        2
    }

    fn db(&self) -> &Db {
        &self.db
    }

    async fn read(&self, instance: usize, id: u64) -> u64 {
        INSTANCE.scope(instance, self.get(id)).await
    }

    async fn write(&self, instance: usize, kind: Kind, id: u64) -> Written {
        let queued = self.instances[instance].stats().invalidations_queued;
        let version = INSTANCE
            .scope(instance, async {
                match kind {
                    Kind::Entry => self.update_entry(id).await,
                    Kind::Function => self.update_function(id).await,
                    Kind::Group => self.update_group(id).await,
                    Kind::Put => self.update_through(id).await,
                }
            })
            .await;
        Written {
            version,
            maybe_failed: self.instances[instance].stats().invalidations_queued != queued,
        }
    }
}

fn sum_stats(a: &CacheStats, b: &CacheStats) -> CacheStats {
    let mut sum = *a;
    sum.misses += b.misses;
    sum.coalesced += b.coalesced;
    sum.lease_waits += b.lease_waits;
    sum.fills_revoked += b.fills_revoked;
    sum.backend_errors += b.backend_errors;
    sum.timeouts += b.timeouts;
    sum.invalidations += b.invalidations;
    sum.invalidations_queued += b.invalidations_queued;
    sum.breaker_opens += b.breaker_opens;
    sum.short_circuited += b.short_circuited;
    sum
}

// ---- naive cache-aside ----------------------------------------------------------------

struct Naive {
    redis: ConnectionManager,
    /// Keys of its own per phase, so that each starts from an empty cache.
    prefix: String,
    db: Db,
    max_delay_us: u64,
}

impl Naive {
    fn key(&self, id: u64) -> String {
        format!("{}:row:{id}", self.prefix)
    }
}

impl Subject for Naive {
    fn instances(&self) -> usize {
        1
    }

    fn db(&self) -> &Db {
        &self.db
    }

    async fn read(&self, _instance: usize, id: u64) -> u64 {
        let mut redis = self.redis.clone();
        if let Ok(Some(cached)) = redis.get::<_, Option<u64>>(self.key(id)).await {
            return cached;
        }
        let version = self.db.row(id).load(SeqCst);
        jitter(self.max_delay_us).await;
        let _: Result<(), _> = redis.pset_ex(self.key(id), version, 600_000).await;
        version
    }

    async fn write(&self, _instance: usize, kind: Kind, id: u64) -> Written {
        let mut redis = self.redis.clone();
        let version = self.db.row(id).fetch_add(1, SeqCst) + 1;
        jitter(self.max_delay_us).await;
        let result: Result<(), _> = match kind {
            Kind::Put => redis.pset_ex(self.key(id), version, 600_000).await,
            Kind::Entry => redis.del(self.key(id)).await,
            Kind::Function | Kind::Group => unreachable!("the naive baseline has no {kind:?}"),
        };
        Written {
            version,
            maybe_failed: result.is_err(),
        }
    }
}

// ---- rounds -------------------------------------------------------------------------

/// What the phase's rounds saw; stale reads are split into failures and excused.
#[derive(Default)]
struct Tally {
    late_reads: AtomicU64,
    stale_late: AtomicU64,
    excused_late: AtomicU64,
    stale_final: AtomicU64,
    excused_final: AtomicU64,
}

impl Tally {
    fn count(&self, stale: bool, excused: bool, failures: &AtomicU64, excuses: &AtomicU64) {
        if stale {
            if excused { excuses } else { failures }.fetch_add(1, SeqCst);
        }
    }

    fn failures(&self) -> u64 {
        self.stale_late.load(SeqCst) + self.stale_final.load(SeqCst)
    }
}

/// Runs one round on `subject`.
async fn round<S: Subject>(subject: &Arc<S>, kind: Kind, id: u64, max_us: u64, tally: &Tally) {
    let instances = subject.instances();
    let readers: Vec<_> = (0..fastrand::u8(1..=3))
        .map(|_| {
            let subject = subject.clone();
            let instance = fastrand::usize(..instances);
            tokio::spawn(async move {
                jitter(max_us).await;
                subject.read(instance, id).await
            })
        })
        .collect();
    let writers: Vec<_> = (0..kind.writers())
        .map(|writer| {
            let subject = subject.clone();
            // Two racing writers go through one instance each.
            let instance = if kind.writers() > 1 {
                writer % instances
            } else {
                fastrand::usize(..instances)
            };
            tokio::spawn(async move {
                jitter(max_us).await;
                let written = subject.write(instance, kind, id).await;
                // Late readers: they start after the write completed.
                let late: Vec<_> = (0..fastrand::u8(1..=2))
                    .map(|_| {
                        let subject = subject.clone();
                        let reader = fastrand::usize(..instances);
                        let delay = fastrand::bool();
                        tokio::spawn(async move {
                            if delay {
                                jitter(max_us).await;
                            }
                            (reader, subject.read(reader, id).await)
                        })
                    })
                    .collect();
                let mut reads = Vec::with_capacity(late.len());
                for read in late {
                    reads.push(
                        read.await
                            .unwrap_or_else(|err| panic!("late reader: {err}")),
                    );
                }
                (instance, written, reads)
            })
        })
        .collect();
    for reader in readers {
        reader.await.unwrap_or_else(|err| panic!("reader: {err}"));
    }
    let mut excused_on = Vec::new();
    for writer in writers {
        let (instance, written, reads) = writer.await.unwrap_or_else(|err| panic!("writer: {err}"));
        for (reader, version) in reads {
            tally.late_reads.fetch_add(1, SeqCst);
            let excused = written.maybe_failed && reader != instance;
            let stale = version < written.version;
            tally.count(stale, excused, &tally.stale_late, &tally.excused_late);
        }
        if written.maybe_failed {
            excused_on.push(instance);
        }
    }
    let reader = fastrand::usize(..instances);
    let current = subject.db().row(id).load(SeqCst);
    let version = subject.read(reader, id).await;
    let excused = excused_on.iter().any(|&writer| writer != reader);
    tally.count(
        version != current,
        excused,
        &tally.stale_final,
        &tally.excused_final,
    );
}

/// Runs `rounds` rounds of `kind`, `concurrency` at a time.
async fn run_rounds<S: Subject>(
    subject: Arc<S>,
    kind: Kind,
    rounds: u64,
    settings: &Settings,
) -> Arc<Tally> {
    let next = Arc::new(AtomicU64::new(0));
    let tally = Arc::new(Tally::default());
    let workers: Vec<_> = (0..settings.concurrency)
        .map(|_| {
            let (subject, next, tally) = (subject.clone(), next.clone(), tally.clone());
            let max_us = settings.max_delay_us;
            tokio::spawn(async move {
                loop {
                    let id = next.fetch_add(1, SeqCst);
                    if id >= rounds {
                        return;
                    }
                    round(&subject, kind, id, max_us, &tally).await;
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.unwrap_or_else(|err| panic!("worker: {err}"));
    }
    tally
}

// ---- faults -------------------------------------------------------------------------

/// Opens fault windows on `proxy` until stopped: after 20 to 300 ms of normal
/// service, 5 to 60 ms of latency (1 to 40 ms each way), blackhole or reset.
struct FaultWindows {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<[u64; 3]>>,
}

impl FaultWindows {
    fn start(proxy: Arc<FaultProxy>) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::thread::spawn({
            let stop = stop.clone();
            move || {
                let mut windows = [0; 3];
                let ms = |range| Duration::from_millis(fastrand::u64(range));
                while !stop.load(SeqCst) {
                    std::thread::sleep(ms(20..=300));
                    let (mode, slot) = match fastrand::u8(0..3) {
                        0 => (Mode::Latency(ms(1..=40)), 0),
                        1 => (Mode::Blackhole, 1),
                        _ => (Mode::Reset, 2),
                    };
                    proxy.set_mode(mode);
                    windows[slot] += 1;
                    std::thread::sleep(ms(5..=60));
                    proxy.set_mode(Mode::Pass);
                }
                windows
            }
        });
        Self {
            stop,
            thread: Some(thread),
        }
    }

    /// Stops opening windows; returns how many of each kind were opened.
    fn stop(mut self) -> [u64; 3] {
        self.stop.store(true, SeqCst);
        self.thread
            .take()
            .map(|thread| {
                thread
                    .join()
                    .unwrap_or_else(|_| panic!("fault thread panicked"))
            })
            .unwrap_or_default()
    }
}

// ---- phases -------------------------------------------------------------------------

/// One line of the report.
struct Row {
    cache: &'static str,
    kind: Kind,
    mode: FaultMode,
    rounds: u64,
    tally: Arc<Tally>,
    time: Duration,
    notes: String,
    /// Whether its stale reads fail the run (cache-runtime with leases).
    checked: bool,
}

fn main() {
    let full = full_run();
    let settings = Settings {
        rounds: env_number("RACE_ROUNDS", if full { 100_000 } else { 250 }),
        baseline_rounds: env_number("RACE_BASELINE_ROUNDS", if full { 10_000 } else { 500 }),
        concurrency: env_number("RACE_CONCURRENCY", 64),
        max_delay_us: env_number("RACE_MAX_DELAY_US", 3_000),
        kinds: env_list("RACE_KINDS", &Kind::ALL, Kind::name),
        modes: env_list("RACE_MODES", &FaultMode::ALL, FaultMode::name),
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
        "stale_race: {} rounds per writer kind and fault mode ({} per baseline), {} at a \
         time, delays up to {} µs{}",
        settings.rounds,
        settings.baseline_rounds,
        settings.concurrency,
        settings.max_delay_us,
        if full { "" } else { " (smoke run)" }
    );
    let started = Instant::now();
    let proxy = Arc::new(FaultProxy::start(server.port()));
    let mut rows = Vec::new();
    let mut phase = 0;
    let mut namespace = || {
        phase += 1;
        format!("race{phase}")
    };
    for &mode in &settings.modes {
        for &kind in &settings.kinds {
            let row = framework_phase(server, &proxy, &namespace(), kind, mode, settings).await;
            print_row(&row);
            rows.push(row);
        }
    }
    if settings.modes.contains(&FaultMode::Clean) {
        for &kind in &settings.kinds {
            let row = leaseless_phase(server, &namespace(), kind, settings).await;
            print_row(&row);
            rows.push(row);
        }
        for &kind in settings
            .kinds
            .iter()
            .filter(|&&kind| matches!(kind, Kind::Entry | Kind::Put))
        {
            let row = naive_phase(server, kind, settings).await;
            print_row(&row);
            rows.push(row);
        }
    }
    println!("total time {:.1} s", started.elapsed().as_secs_f64());

    let mut ok = true;
    for row in rows.iter().filter(|row| row.checked) {
        let failures = row.tally.failures();
        if failures > 0 {
            eprintln!(
                "FAIL: cache-runtime, {} writers, {} mode: {} stale late reads and {} stale \
                 values left (none excused)",
                row.kind.name(),
                row.mode.name(),
                row.tally.stale_late.load(SeqCst),
                row.tally.stale_final.load(SeqCst)
            );
            ok = false;
        }
    }
    // The baselines show that the harness provokes the race at all. Short debug-build
    // runs of the naive one alone can miss it (0 to 10 stale late reads in 250
    // rounds), so both baselines count together.
    let baselines: Vec<_> = rows.iter().filter(|row| !row.checked).collect();
    if !baselines.is_empty() && baselines.iter().all(|row| row.tally.failures() == 0) {
        eprintln!(
            "FAIL: neither baseline (leases off, naive cache-aside) ever went stale: the \
             harness does not provoke the race"
        );
        ok = false;
    }
    ok
}

fn print_row(row: &Row) {
    let tally = &row.tally;
    println!(
        "{:<14} {:<9} {:<13} {:>7} rounds: {:>4} stale of {:>7} late reads ({} excused), \
         {:>4} stale values left ({} excused), {:>6.1} s{}",
        row.cache,
        row.kind.name(),
        row.mode.name(),
        row.rounds,
        tally.stale_late.load(SeqCst),
        tally.late_reads.load(SeqCst),
        tally.excused_late.load(SeqCst),
        tally.stale_final.load(SeqCst),
        tally.excused_final.load(SeqCst),
        row.time.as_secs_f64(),
        row.notes
    );
}

/// The lease time of cache-runtime's instances: far above any load here (a few
/// milliseconds), and shorter than the default 5 s, which is how long a placeholder
/// whose lease script reached Redis after its caller's deadline (a blackhole window)
/// keeps the key's other callers waiting.
const LEASE_TIME: Duration = Duration::from_secs(1);

fn build(config: CacheConfig, namespace: &str) -> Cache {
    config
        .namespace(namespace)
        .build()
        .unwrap_or_else(|err| panic!("cache config: {err}"))
}

async fn framework_phase(
    server: &RedisServer,
    proxy: &Arc<FaultProxy>,
    namespace: &str,
    kind: Kind,
    mode: FaultMode,
    settings: &Settings,
) -> Row {
    // Instance 1 always talks to Redis directly, with a deadline it never misses.
    let patient = build(
        CacheConfig::redis(server.url())
            .timeout(PATIENT_TIMEOUT)
            .lease_time(LEASE_TIME),
        namespace,
    );
    let first = match mode {
        FaultMode::Clean => CacheConfig::redis(server.url()).timeout(PATIENT_TIMEOUT),
        FaultMode::Proxy => CacheConfig::redis(proxy.url()),
        FaultMode::Deadline2ms => {
            CacheConfig::redis(server.url()).timeout(Duration::from_millis(2))
        }
    }
    .lease_time(LEASE_TIME);
    let framework = Arc::new(Framework {
        instances: [build(first, namespace), patient],
        db: Db::new(settings.rounds),
        max_delay_us: settings.max_delay_us,
    });
    let windows = (mode == FaultMode::Proxy).then(|| FaultWindows::start(proxy.clone()));
    let started = Instant::now();
    let tally = run_rounds(framework.clone(), kind, settings.rounds, settings).await;
    let time = started.elapsed();
    let mut notes = String::new();
    if let Some(windows) = windows {
        let [latency, blackhole, reset] = windows.stop();
        let _ = write!(
            notes,
            "; fault windows: {latency} latency, {blackhole} blackhole, {reset} reset"
        );
    }
    let stats = framework.stats();
    let _ = write!(
        notes,
        "\n    counters: {} misses, {} coalesced, {} lease waits, {} fills revoked, {} backend \
         errors ({} timeouts), {} invalidations queued, {} breaker opens, {} short-circuited",
        stats.misses,
        stats.coalesced,
        stats.lease_waits,
        stats.fills_revoked,
        stats.backend_errors,
        stats.timeouts,
        stats.invalidations_queued,
        stats.breaker_opens,
        stats.short_circuited
    );
    Row {
        cache: "cache-runtime",
        kind,
        mode,
        rounds: settings.rounds,
        tally,
        time,
        notes,
        checked: true,
    }
}

async fn leaseless_phase(
    server: &RedisServer,
    namespace: &str,
    kind: Kind,
    settings: &Settings,
) -> Row {
    let instance = || {
        build(
            CacheConfig::redis(server.url())
                .timeout(PATIENT_TIMEOUT)
                .without_leases(),
            namespace,
        )
    };
    let framework = Arc::new(Framework {
        instances: [instance(), instance()],
        db: Db::new(settings.baseline_rounds),
        max_delay_us: settings.max_delay_us,
    });
    let started = Instant::now();
    let tally = run_rounds(framework, kind, settings.baseline_rounds, settings).await;
    Row {
        cache: "without leases",
        kind,
        mode: FaultMode::Clean,
        rounds: settings.baseline_rounds,
        tally,
        time: started.elapsed(),
        notes: String::new(),
        checked: false,
    }
}

async fn naive_phase(server: &RedisServer, kind: Kind, settings: &Settings) -> Row {
    let redis = ConnectionManager::new(server.client())
        .await
        .unwrap_or_else(|err| panic!("connect: {err}"));
    let naive = Arc::new(Naive {
        redis,
        prefix: format!("naive-{}", kind.name()),
        db: Db::new(settings.baseline_rounds),
        max_delay_us: settings.max_delay_us,
    });
    let started = Instant::now();
    let tally = run_rounds(naive, kind, settings.baseline_rounds, settings).await;
    Row {
        cache: "naive",
        kind,
        mode: FaultMode::Clean,
        rounds: settings.baseline_rounds,
        tally,
        time: started.elapsed(),
        notes: String::new(),
        checked: false,
    }
}
