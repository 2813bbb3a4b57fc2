//! The process-wide cache used by `#[cached]` functions without `cache = ...`.

use std::sync::OnceLock;

use crate::cache::Cache;

static GLOBAL: OnceLock<Cache> = OnceLock::new();

/// [`install`] was called after the global cache was already set.
#[derive(Debug, thiserror::Error)]
#[error(
    "the global cache is already set (installed before, or built from the environment by an earlier cached call)"
)]
pub struct AlreadyInstalled(pub Cache);

/// Makes `cache` the global cache. Call it once at startup, before the first cached
/// call; afterwards the global cache cannot change, and the rejected cache is
/// handed back in the error.
pub fn install(cache: Cache) -> Result<(), AlreadyInstalled> {
    let mut offered = Some(cache);
    GLOBAL.get_or_init(|| offered.take().unwrap_or_else(Cache::off));
    match offered {
        None => Ok(()),
        Some(rejected) => Err(AlreadyInstalled(rejected)),
    }
}

/// The global cache: the [installed](install) one, or else one built from the
/// environment on first use ([`Cache::from_env`]).
pub fn global() -> &'static Cache {
    GLOBAL.get_or_init(Cache::from_env)
}
