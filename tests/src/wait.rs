//! Waiting for a cache counter that no event announces: yield to the runtime until
//! it is reached, and fail loudly if it never is.

use std::time::{Duration, Instant};

use cache_runtime::{Cache, CacheStats};

/// How long [`yield_until_stats`] waits before failing the test.
const LIMIT: Duration = Duration::from_secs(60);

/// Yields until `reached` holds for `cache`'s counters, and returns them. Panics
/// with `what` and the counters if that takes longer than a minute, so that a test
/// that would otherwise spin forever fails and says why.
pub async fn yield_until_stats(
    cache: &Cache,
    what: &str,
    reached: impl Fn(&CacheStats) -> bool,
) -> CacheStats {
    let started = Instant::now();
    loop {
        let stats = cache.stats();
        if reached(&stats) {
            return stats;
        }
        assert!(
            started.elapsed() < LIMIT,
            "{what}: not reached after {LIMIT:?}; {stats:?}"
        );
        tokio::task::yield_now().await;
    }
}
