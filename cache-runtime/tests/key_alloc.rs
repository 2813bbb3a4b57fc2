//! Deriving a key does not touch the heap.
//!
//! Keys are built on every call of a cached function, hits included, so the path the
//! macro generates (`CachedFn::key`, `arg` per argument, `finish`) must not allocate:
//! the hasher and the finished key live inline. This test installs a counting global
//! allocator and derives keys for `(u64, String)` arguments while watching it.

use std::alloc::System;
use std::hint::black_box;

use cache_runtime::__private::CachedFn;
use cache_runtime::Cache;
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// What `#[cached(ttl = 300, prefix = "user")]` generates for
/// `async fn get_user(id: u64, name: String) -> Result<User, DbError>`.
static GET_USER: CachedFn = CachedFn::new(
    "user",
    concat!(
        module_path!(),
        "::get_user|prefix=user|self=0|args=(u64,String)|ret=Result<User,DbError>|version=0"
    ),
    300_000,
    &[],
);

const ROUNDS: usize = 1_000;

fn derive(cache: &Cache, id: u64, name: &String) -> usize {
    let mut key = GET_USER.key(cache);
    key.arg(&id);
    key.arg(name);
    let key = key.finish().unwrap_or_else(|err| panic!("key: {err}"));
    key.as_str().len()
}

/// Heap operations (allocations and reallocations) made by `f`, counted over the
/// whole process. Nothing else runs in this test binary while it is measured, but the
/// count is process-wide, so the caller takes the smallest of a few measurements:
/// code that allocates does so every time, and stray allocations from elsewhere
/// cannot make a passing test fail.
fn heap_operations(f: impl Fn()) -> usize {
    (0..3)
        .map(|_| {
            let region = Region::new(GLOBAL);
            f();
            let change = region.change();
            change.allocations + change.reallocations
        })
        .min()
        .unwrap_or(usize::MAX)
}

#[test]
fn key_derivation_does_not_allocate() {
    let cache = Cache::memory();
    let name = String::from("ada lovelace, a name longer than a few bytes");

    // The first key derives the function's BLAKE3 key once (a `OnceLock`); warm it,
    // and anything else lazily initialised, outside the measurement.
    let expected_len = derive(&cache, 0, &name);
    assert_eq!(expected_len, "cache:user:".len() + 32);

    // The counter sees allocations at all: otherwise the zero below proves nothing.
    let boxed = heap_operations(|| {
        black_box(Box::new(black_box(7u64)));
    });
    assert!(boxed >= 1, "the counting allocator is not in use");

    let operations = heap_operations(|| {
        for id in 0..ROUNDS as u64 {
            let len = derive(black_box(&cache), black_box(id), black_box(&name));
            assert_eq!(len, expected_len);
        }
    });
    assert_eq!(
        operations, 0,
        "deriving {ROUNDS} keys for (u64, String) made {operations} heap allocations"
    );
}
