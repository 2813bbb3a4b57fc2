//! The quickstart: `cargo run -p quickstart`.
//!
//! Caches a slow function in the Redis named by `REDIS_URL` (default
//! `redis://127.0.0.1:6379/0`). When no Redis answers, it says so and uses the
//! in-memory cache instead, so it runs anywhere.

use std::time::{Duration, Instant};

use cache_runtime::{BackendKind, Cache, CacheConfig, cached, install};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Forecast {
    city: String,
    celsius: f32,
}

/// Pretends to call a slow weather service. Cached for 30 seconds per city.
#[cached(ttl = 30, prefix = "forecast")]
async fn forecast(city: String) -> Result<Forecast, String> {
    tokio::time::sleep(Duration::from_millis(300)).await;
    Ok(Forecast {
        celsius: 12.5 + city.len() as f32,
        city,
    })
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();

    let cache = choose_cache().await;
    let backend = cache.backend();
    if install(cache).is_err() {
        eprintln!("a global cache was already installed");
    }

    for city in ["Lisbon", "Lisbon", "Oslo", "Lisbon", "Oslo"] {
        let started = Instant::now();
        match forecast(city.to_owned()).await {
            Ok(f) => println!(
                "{:<7} {:>5.1} °C   in {:>8.2?}",
                f.city,
                f.celsius,
                started.elapsed()
            ),
            Err(err) => println!("{city}: {err}"),
        }
    }
    let stats = cache_runtime::global().stats();
    println!(
        "\n{backend:?} cache: {} hits, {} misses, {} writes, {} backend errors",
        stats.hits, stats.misses, stats.writes, stats.backend_errors
    );
    println!("Run it again within 30 s: with Redis, even the first calls are hits.");
}

/// The cache from the environment if its Redis answers; otherwise the memory cache.
async fn choose_cache() -> Cache {
    let cache = Cache::from_env();
    if cache.backend() != BackendKind::Redis {
        println!(
            "Using the {:?} cache (CACHE_BACKEND / REDIS_URL).\n",
            cache.backend()
        );
        return cache;
    }
    let health = cache.health().await;
    if health.healthy {
        println!(
            "Using Redis {} ({} clients connected, ping {:.2?}).\n",
            health.server_version.as_deref().unwrap_or("?"),
            health.connected_clients.unwrap_or(0),
            health.latency.unwrap_or_default(),
        );
        return cache;
    }
    println!(
        "No Redis reachable ({}).\nUsing the in-memory cache instead; start `redis-server` or set REDIS_URL to use Redis.\n",
        health.error.as_deref().unwrap_or("no answer")
    );
    CacheConfig::memory()
        .namespace("quickstart")
        .build()
        .unwrap_or_else(|_| Cache::memory())
}
