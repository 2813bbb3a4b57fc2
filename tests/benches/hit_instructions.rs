//! A loop of cache hits through `#[cached]`, to count instructions with callgrind
//! where timing is too noisy (a small shared machine drifts by tens of percent).
//!
//! It makes one missing call (which stores the entry), then `HIT_CALLS` hits (default
//! 10,000), on a single-threaded tokio runtime, against `HIT_BACKEND`: `memory` (the
//! default; the cache's own cost, no I/O) or `redis` (a throwaway `redis-server`; the
//! client side of a hit). Instructions per hit are the difference of two runs with
//! different `HIT_CALLS`, divided by the difference of the calls, so that start-up
//! and the first call cancel out:
//!
//! ```text
//! cargo bench -p cache-tests --bench hit_instructions --no-run
//! for n in 2000 12000; do
//!   HIT_CALLS=$n valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!     target/release/deps/hit_instructions-<hash> --bench 2>&1 | grep Collected
//! done
//! ```
//!
//! Under `cargo test` it makes 100 hits on each backend and checks they were hits.

use std::hint::black_box;
use std::sync::OnceLock;
use std::time::Duration;

use cache_runtime::{Cache, CacheConfig, cached};
use cache_tests::RedisServer;
use cache_tests::bench_args::{env_number, full_run};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
struct User {
    id: u64,
    name: String,
    email: String,
    roles: Vec<String>,
    active: bool,
}

static CACHE: OnceLock<Cache> = OnceLock::new();

fn bench_cache() -> &'static Cache {
    CACHE
        .get()
        .expect("the cache is set up before the first call")
}

#[cached(ttl = "1h", prefix = "user", cache = bench_cache())]
async fn get_user(id: u64, name: &str) -> Option<User> {
    Some(User {
        id,
        name: name.to_owned(),
        email: format!("{}@example.com", name.replace(' ', ".")),
        roles: vec!["reader".to_owned(), "editor".to_owned()],
        active: true,
    })
}

fn hits(backend: &str, calls: u64) {
    // Kept alive for the whole loop; dropped (and stopped) at the end.
    let mut server = None;
    let config = match backend {
        "memory" => CacheConfig::memory(),
        // A deadline far above what callgrind's slowdown costs a round trip.
        "redis" => CacheConfig::redis(server.insert(RedisServer::start()).url())
            .timeout(Duration::from_secs(5)),
        other => panic!("HIT_BACKEND={other:?}: expected memory or redis"),
    };
    let cache = config
        .build()
        .unwrap_or_else(|err| panic!("cache config: {err}"));
    CACHE
        .set(cache)
        .unwrap_or_else(|_| panic!("one backend per process"));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|err| panic!("no tokio runtime: {err}"));
    runtime.block_on(async {
        assert!(get_user(1_234_567, "ada lovelace").await.is_some());
        for _ in 0..calls {
            black_box(get_user(black_box(1_234_567), black_box("ada lovelace")).await);
        }
    });
    let stats = bench_cache().stats();
    assert_eq!((stats.hits, stats.misses), (calls, 1), "{stats:?}");
    println!("hit_instructions: {calls} hits on {backend}");
    drop(server);
}

fn main() {
    if full_run() {
        let backend = std::env::var("HIT_BACKEND").unwrap_or_else(|_| "memory".into());
        hits(&backend, env_number("HIT_CALLS", 10_000));
    } else {
        // One process per backend: the cache is a process-wide static.
        for backend in ["memory", "redis"] {
            let status = std::process::Command::new(
                std::env::current_exe().unwrap_or_else(|err| panic!("own path: {err}")),
            )
            .args(["--bench"])
            .env("HIT_BACKEND", backend)
            .env("HIT_CALLS", "100")
            .status()
            .unwrap_or_else(|err| panic!("could not run the {backend} loop: {err}"));
            assert!(status.success(), "the {backend} loop failed");
        }
    }
}
