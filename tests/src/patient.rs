//! Deadlines for tests that count body runs, hits or writes but are not about
//! deadlines.
//!
//! A cache operation that misses its deadline fails open by design: the function
//! runs, and nothing is read or written. With the default deadline (50 ms), a loaded
//! machine (a cold build next door, the suite's own binaries in parallel) can make a
//! lease script or a fill miss it now and then, and a test that counts body runs
//! then sees one too many. Such tests use [`patient`]; tests about deadlines set
//! their own.

use std::time::Duration;

use cache_runtime::CacheConfig;

/// The deadline of [`patient`] caches: far above any loopback round trip, even on a
/// loaded 2-core machine, and short enough that a test stuck on it still fails fast.
pub const PATIENT_TIMEOUT: Duration = Duration::from_secs(2);

/// `config` with an operation and a connect deadline of [`PATIENT_TIMEOUT`].
pub fn patient(config: CacheConfig) -> CacheConfig {
    config
        .timeout(PATIENT_TIMEOUT)
        .connect_timeout(PATIENT_TIMEOUT)
}
