//! Cost of deriving a cache key, next to two reference points.
//!
//! `key/u64_string` goes through exactly what `#[cached]` generates for
//! `async fn get_user(id: u64, name: String)`: a `static CachedFn`, then
//! `.key(&cache)`, one `.arg(&x)` per argument and `.finish()`. The references are
//! one BLAKE3 hash of 32 bytes (the floor of any keyed digest) and a bincode encode
//! of a small struct into a reused buffer (the serialization alone).
//!
//! Run with `cargo bench -p cache-runtime --bench key`; figures are in
//! `docs/benchmarks.md`.

use std::hint::black_box;

use cache_runtime::__private::CachedFn;
use cache_runtime::Cache;
use criterion::{Criterion, criterion_group, criterion_main};
use serde::Serialize;

/// What the macro emits for `#[cached(ttl = 300, prefix = "user")]` on
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

#[derive(Serialize)]
struct User {
    id: u64,
    name: String,
    active: bool,
}

fn key_derivation(c: &mut Criterion) {
    let cache = Cache::memory();
    let id: u64 = 1_234_567;
    let name = String::from("ada lovelace");

    let mut group = c.benchmark_group("key");
    group.bench_function("u64_string", |b| {
        b.iter(|| {
            let mut key = GET_USER.key(black_box(&cache));
            key.arg(black_box(&id));
            key.arg(black_box(&name));
            black_box(key.finish())
        });
    });
    group.finish();

    let mut group = c.benchmark_group("reference");
    let bytes = [0x5au8; 32];
    group.bench_function("blake3_32_bytes", |b| {
        b.iter(|| black_box(blake3::hash(black_box(&bytes))));
    });
    let user = User {
        id,
        name: name.clone(),
        active: true,
    };
    let mut buffer = Vec::with_capacity(64);
    group.bench_function("bincode_encode_small_struct", |b| {
        b.iter(|| {
            buffer.clear();
            bincode::serde::encode_into_std_write(
                black_box(&user),
                &mut buffer,
                bincode::config::standard(),
            )
            .map(drop)
            .unwrap_or_else(|err| panic!("encodes: {err}"));
            black_box(buffer.len())
        });
    });
    group.finish();
}

criterion_group!(benches, key_derivation);
criterion_main!(benches);
