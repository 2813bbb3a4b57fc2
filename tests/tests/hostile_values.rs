//! Hostile bytes under a `#[cached]` function's key, written straight into a real
//! `redis-server`: each must be a miss (counted in `CacheStats::decode_failures`) that
//! the call overwrites with its own result, never a panic.
//!
//! One limit, checked as it is: the envelope has no checksum, so corruption that
//! still decodes is served as it decodes. A value too big to arrive within the
//! deadline is removed (see also `one_bad_key.rs`).
//!
//! The decoder itself is fuzzed by `fuzz/` and smoke-tested by
//! `cache-runtime/tests/decoder_smoke.rs`; this checks what the runtime does with
//! what the decoder refuses, end to end.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::{Duration, Instant};

use cache_runtime::testing::codec::{Bincode, Codec, MAX_VALUE_BYTES};
use cache_runtime::testing::envelope::{self, FORMAT, HEADER_LEN};
use cache_runtime::{Cache, CacheConfig, CacheStats, cached};
use cache_tests::{RedisServer, patient};
use redis::AsyncConnectionConfig;
use redis::aio::MultiplexedConnection;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Profile {
    id: u64,
    name: String,
    tags: Vec<String>,
}

const ID: u64 = 7;
/// The deadline of the test's own commands.
const RAW_TIMEOUT: Duration = Duration::from_secs(30);

fn profile_of(id: u64) -> Profile {
    Profile {
        id,
        name: format!("user-{id}"),
        tags: vec!["a".into(), "bc".into()],
    }
}

#[cached(ttl = 60, prefix = "profile", cache = cache, skip(cache, calls))]
async fn profile(cache: &Cache, calls: &AtomicUsize, id: u64) -> Profile {
    calls.fetch_add(1, SeqCst);
    profile_of(id)
}

/// Where the payload's fields start, for `profile_of(ID)`: id (1 byte), name (length
/// byte and 6 bytes), tags (length byte, then each tag).
const NAME_AT: usize = HEADER_LEN + 1;
const TAGS_AT: usize = NAME_AT + 1 + "user-7".len();

/// A redis-server, a cache on it, and the key of `profile(ID)`, holding a valid entry.
struct Setup {
    cache: Cache,
    calls: AtomicUsize,
    key: String,
    connection: MultiplexedConnection,
    /// The entry the cache wrote.
    valid: Vec<u8>,
    // Last: the server outlives the connections above.
    _server: RedisServer,
}

impl Setup {
    async fn new(config: impl FnOnce(CacheConfig) -> CacheConfig) -> Self {
        let server = RedisServer::start();
        // A patient deadline unless the test sets its own: these tests count runs,
        // decode failures and backend errors.
        let cache = config(patient(CacheConfig::redis(server.url())).namespace("t"))
            .build()
            .expect("valid test configuration");
        // Long enough for 80 MiB (the default response timeout is half a second).
        let config = AsyncConnectionConfig::new().set_response_timeout(Some(RAW_TIMEOUT));
        let connection = server
            .client()
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .expect("test server reachable");
        // The valid entry is written through a patient cache of its own, so that a
        // test whose cache has a short deadline starts from it on a loaded machine too.
        let writer = patient(CacheConfig::redis(server.url()).namespace("t"))
            .build()
            .expect("valid test configuration");
        let calls = AtomicUsize::new(0);
        assert_eq!(profile(&writer, &calls, ID).await, profile_of(ID));
        let key = server.entry_keys("*").pop().expect("one entry");
        let mut setup = Self {
            cache,
            calls,
            key,
            connection,
            valid: Vec::new(),
            _server: server,
        };
        setup.valid = setup
            .stored()
            .await
            .expect("the first call wrote its entry");
        assert_eq!(
            envelope::decode::<Bincode, Profile>(&setup.valid)
                .expect("a valid entry")
                .1,
            profile_of(ID)
        );
        assert_eq!(setup.valid[TAGS_AT], 2, "two tags: the layout above holds");
        setup
    }

    async fn command<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> T {
        cmd.query_async(&mut self.connection.clone())
            .await
            .unwrap_or_else(|err| panic!("{cmd:?}: {err}"))
    }

    async fn store(&self, bytes: &[u8]) {
        let () = self
            .command(redis::cmd("SET").arg(&self.key).arg(bytes))
            .await;
    }

    async fn stored(&self) -> Option<Vec<u8>> {
        self.command(redis::cmd("GET").arg(&self.key)).await
    }

    async fn call(&self) -> Profile {
        profile(&self.cache, &self.calls, ID).await
    }

    /// Stores `bytes` under the key, then checks that the call runs the function,
    /// counts one decode failure, returns the function's own value, and overwrites the
    /// entry with it, so that the next call is a hit.
    async fn assert_miss_then_overwritten(&self, what: &str, bytes: &[u8]) {
        self.store(bytes).await;
        let (calls, before) = (self.calls.load(SeqCst), self.cache.stats());

        let started = Instant::now();
        assert_eq!(self.call().await, profile_of(ID), "{what}");
        let took = started.elapsed();
        let after = self.cache.stats();
        assert_eq!(self.calls.load(SeqCst), calls + 1, "{what}: a miss");
        assert_eq!(
            after.decode_failures,
            before.decode_failures + 1,
            "{what}: {after:?}"
        );
        assert_eq!(after.backend_errors, before.backend_errors, "{what}");
        assert!(
            took < Duration::from_secs(2),
            "{what}: the call took {took:?}"
        );

        let rewritten = self
            .stored()
            .await
            .unwrap_or_else(|| panic!("{what}: no entry"));
        let (_, value) = envelope::decode::<Bincode, Profile>(&rewritten)
            .unwrap_or_else(|err| panic!("{what}: the entry was not overwritten: {err}"));
        assert_eq!(value, profile_of(ID), "{what}");
        assert_eq!(self.call().await, profile_of(ID), "{what}");
        assert_eq!(self.calls.load(SeqCst), calls + 1, "{what}: then a hit");
    }
}

/// The valid entry with header byte `at` set to `value`.
fn with_byte(valid: &[u8], at: usize, value: u8) -> Vec<u8> {
    let mut bytes = valid.to_vec();
    bytes[at] = value;
    bytes
}

/// The valid entry with its lease token (bytes 16-23) set to `token`.
fn with_token(valid: &[u8], token: u64) -> Vec<u8> {
    let mut bytes = valid.to_vec();
    bytes[16..24].copy_from_slice(&token.to_le_bytes());
    bytes
}

/// bincode's varint of a `u64`: marker 0xfd, then 8 bytes little endian.
fn varint_u64(value: u64) -> Vec<u8> {
    let mut out = vec![0xfd];
    out.extend_from_slice(&value.to_le_bytes());
    out
}

/// Entries the decoder must refuse, built from the valid entry `valid`.
fn hostile_headers(valid: &[u8]) -> Vec<(String, Vec<u8>)> {
    let payload = &valid[HEADER_LEN..];
    let mut cases = Vec::new();
    // Cut to nothing, an entry reads as a missing key: see
    // `a_key_of_another_type_is_a_miss_and_gets_overwritten`.
    for cut in [
        1,
        2,
        4,
        12,
        16,
        23,
        HEADER_LEN,
        HEADER_LEN + 1,
        TAGS_AT,
        valid.len() - 1,
    ] {
        cases.push((format!("truncated to {cut} bytes"), valid[..cut].to_vec()));
    }
    for codec in [0, 2, 0x7f, 0xff] {
        cases.push((format!("codec {codec}"), with_byte(valid, 1, codec)));
    }
    for format in [0xc1, 0xc3, 0x00, 0xff] {
        cases.push((format!("format {format:#04x}"), with_byte(valid, 0, format)));
    }
    for flags in [0b100, 0x80, 0xff, 0b111] {
        cases.push((format!("flags {flags:#010b}"), with_byte(valid, 2, flags)));
    }
    // Only the LEASED flag or only a token: the two go together.
    cases.push(("leased without a token".into(), with_byte(valid, 2, 0b01)));
    cases.push((
        "a token without the leased flag".into(),
        with_token(valid, 42),
    ));
    // A placeholder header (LEASED | PLACEHOLDER, a token) with a value behind it.
    let placeholder = with_token(&with_byte(valid, 2, 0b11), 42);
    cases.push(("a placeholder with a payload".into(), placeholder));
    let mut bare = with_token(&with_byte(&valid[..HEADER_LEN], 2, 0b10), 0);
    cases.push(("a placeholder flag without a lease".into(), bare.clone()));
    bare.extend_from_slice(payload);
    cases.push((
        "a placeholder flag without a lease, with a payload".into(),
        bare,
    ));
    // The payload alone, or twice, or with one byte too many.
    cases.push(("a payload without a header".into(), payload.to_vec()));
    cases.push(("two payloads".into(), [valid, payload].concat()));
    cases.push(("a trailing byte".into(), [valid, &[0]].concat()));
    cases
}

#[tokio::test]
async fn truncated_and_foreign_entries_are_misses_that_get_overwritten() {
    let setup = Setup::new(|config| config).await;
    let cases = hostile_headers(&setup.valid);
    for (what, bytes) in &cases {
        setup.assert_miss_then_overwritten(what, bytes).await;
    }
    assert_eq!(setup.cache.stats().decode_failures, cases.len() as u64);
}

#[tokio::test]
async fn without_leases_too() {
    // Without leases a miss writes with a plain SET instead of a lease and a fill.
    let setup = Setup::new(CacheConfig::without_leases).await;
    for (what, bytes) in hostile_headers(&setup.valid) {
        setup.assert_miss_then_overwritten(&what, &bytes).await;
    }
}

/// The envelope has no checksum: a flipped bit that still decodes (a different id, a
/// different letter, the write time, the reserved byte) is served as it reads. Every
/// flip the decoder refuses must be a miss that gets overwritten, and every flip it
/// accepts a hit with exactly the decoded value.
#[tokio::test]
async fn every_single_bit_flip_is_read_as_the_decoder_reads_it() {
    let setup = Setup::new(|config| config).await;
    let valid = setup.valid.clone();
    let (mut refused, mut accepted) = (0, Vec::new());
    for bit in 0..valid.len() * 8 {
        let mut flipped = valid.clone();
        flipped[bit / 8] ^= 1 << (bit % 8);
        let what = format!("bit {bit} (byte {}) flipped", bit / 8);
        match envelope::decode::<Bincode, Profile>(&flipped) {
            Err(_) => {
                refused += 1;
                setup.assert_miss_then_overwritten(&what, &flipped).await;
            }
            Ok((_, value)) => {
                accepted.push(bit / 8);
                setup.store(&flipped).await;
                let (calls, before) = (setup.calls.load(SeqCst), setup.cache.stats());
                assert_eq!(setup.call().await, value, "{what}");
                assert_eq!(setup.calls.load(SeqCst), calls, "{what}: a hit");
                let after = setup.cache.stats();
                assert_eq!(after.hits, before.hits + 1, "{what}");
                assert_eq!(after.decode_failures, before.decode_failures, "{what}");
            }
        }
    }
    accepted.dedup();
    println!(
        "{} single-bit flips: {refused} refused (misses, overwritten), {} accepted, in bytes \
         {accepted:?}",
        valid.len() * 8,
        valid.len() * 8 - refused,
    );
    // Every flip of the format, codec, flags and token bytes is refused.
    assert!(
        accepted
            .iter()
            .all(|&at| at == 3 || (4..16).contains(&at) || at >= HEADER_LEN),
        "{accepted:?}"
    );
    assert!(refused >= 8 * (3 + 8), "{refused}");
}

#[tokio::test]
async fn length_prefix_bombs_are_refused_fast() {
    let setup = Setup::new(|config| config).await;
    let header = &setup.valid[..HEADER_LEN];
    let name = &setup.valid[NAME_AT..TAGS_AT];
    for (what, claim) in [
        ("tags", 1u64 << 60),
        ("tags", u64::MAX),
        ("name", 1 << 60),
        ("name", u64::MAX),
        ("name", MAX_VALUE_BYTES as u64 + 1),
        ("name", MAX_VALUE_BYTES as u64 - 1),
    ] {
        // id, then the claim where the name's or the tags' length belongs.
        let bytes = match what {
            "tags" => [header, &[ID as u8], name, &varint_u64(claim)].concat(),
            _ => [header, &[ID as u8], &varint_u64(claim), b"user-7"].concat(),
        };
        let what = format!("{what} claiming {claim:#x} elements");
        setup.assert_miss_then_overwritten(&what, &bytes).await;
    }
}

/// 80 MiB: more than the 64 MiB any value may take, and far more than the 1 MiB
/// allowed by default. A valid header, then a profile whose name claims (and has)
/// 80 MiB.
fn enormous_entry(valid: &[u8]) -> Vec<u8> {
    const NAME: usize = 80 << 20;
    let mut bytes = Vec::with_capacity(NAME + 64);
    bytes.extend_from_slice(&valid[..HEADER_LEN]);
    bytes.push(ID as u8);
    bytes.extend_from_slice(&varint_u64(NAME as u64));
    bytes.resize(bytes.len() + NAME, b'x');
    bytes.extend_from_slice(&valid[TAGS_AT..]);
    assert!(bytes.len() - HEADER_LEN > MAX_VALUE_BYTES);
    bytes
}

/// The read is cut at the limit plus one byte, which arrives within the deadline:
/// the value is a miss, decoded as oversized, and the lease path (which checks the
/// length inside Redis and sends nothing) replaces it. With the default limit and
/// deadline; and at the hard 64 MiB ceiling, with a deadline that lets 64 MiB cross
/// even in a debug build.
#[tokio::test]
async fn an_enormous_value_is_a_miss_and_gets_overwritten() {
    for (what, config) in [
        (
            "default limit and deadline",
            (|config: CacheConfig| config.timeout(cache_runtime::testing::DEFAULT_TIMEOUT))
                as fn(CacheConfig) -> CacheConfig,
        ),
        ("64 MiB limit, 20 s deadline", |config| {
            config
                .max_value_bytes(MAX_VALUE_BYTES)
                .timeout(Duration::from_secs(20))
        }),
    ] {
        let setup = Setup::new(config).await;
        let bytes = enormous_entry(&setup.valid);
        assert!(matches!(
            envelope::decode::<Bincode, Profile>(&bytes),
            Err(envelope::EnvelopeError::Oversized)
        ));
        setup.store(&bytes).await;
        let (calls, before) = (setup.calls.load(SeqCst), setup.cache.stats());
        let started = Instant::now();
        assert_eq!(setup.call().await, profile_of(ID), "{what}");
        println!("80 MiB entry, {what}: miss in {:?}", started.elapsed());
        let after = setup.cache.stats();
        assert_eq!(setup.calls.load(SeqCst), calls + 1, "{what}");
        assert_eq!(
            after.decode_failures,
            before.decode_failures + 1,
            "{what}: {after:?}"
        );
        assert_eq!(after.backend_errors, before.backend_errors, "{what}");
        assert_eq!(
            setup.stored().await,
            Some(setup.valid_now().await),
            "{what}"
        );
        assert_eq!(setup.call().await, profile_of(ID), "{what}");
        assert_eq!(setup.calls.load(SeqCst), calls + 1, "{what}: then a hit");
    }
}

/// With the limit raised to 64 MiB and the default 50 ms deadline, the read (cut at
/// 64 MiB) may not arrive in time. Then the follow-up of the timed-out read removes
/// the value inside Redis, whether or not its answer arrives in time, so a later
/// call stores the function's value: the entry does not stay, as it did when such a
/// read only failed. Each call answers with the function's value meanwhile.
#[tokio::test]
async fn an_enormous_value_is_removed_even_when_the_limit_is_too_high_for_the_deadline() {
    const LIMIT: Duration = Duration::from_secs(20);
    let setup = Setup::new(|config| {
        config
            .max_value_bytes(MAX_VALUE_BYTES)
            .timeout(cache_runtime::testing::DEFAULT_TIMEOUT)
    })
    .await;
    let bytes = enormous_entry(&setup.valid);
    setup.store(&bytes).await;
    let before = setup.cache.stats();
    let started = Instant::now();
    let mut calls = 0;
    loop {
        assert_eq!(setup.call().await, profile_of(ID), "call {calls}");
        calls += 1;
        let stored = setup.stored().await.unwrap_or_default();
        if envelope::decode::<Bincode, Profile>(&stored).is_ok() {
            break;
        }
        assert!(
            started.elapsed() < LIMIT,
            "still not replaced after {calls} calls: {:?}",
            setup.cache.stats()
        );
    }
    let took = started.elapsed();
    let after = setup.cache.stats();
    let ran = setup.calls.load(SeqCst) - 1;
    let ttl: i64 = setup.command(redis::cmd("PTTL").arg(&setup.key)).await;
    println!(
        "80 MiB entry, 64 MiB limit, default deadline: replaced after {calls} calls in \
         {took:?}, the function ran {ran} times; {}; breaker opened {} times",
        delta(&before, &after),
        after.breaker_opens - before.breaker_opens,
    );
    assert!(ttl > 0, "the replacement expires (PTTL {ttl})");
    let (calls, hits) = (setup.calls.load(SeqCst), setup.cache.stats().hits);
    assert_eq!(setup.call().await, profile_of(ID));
    assert_eq!(setup.calls.load(SeqCst), calls, "then a hit");
    assert_eq!(setup.cache.stats().hits, hits + 1);
}

/// A key holding a list, or an empty string: neither is an entry (`GETRANGE` answers
/// WRONGTYPE for the list, and an empty string reads as a missing key). The call
/// runs the function, the lease script reports the key as unusable, and the key is
/// replaced with the entry.
#[tokio::test]
async fn a_key_of_another_type_is_a_miss_and_gets_overwritten() {
    let setup = Setup::new(|config| config).await;
    let mut list = redis::cmd("RPUSH");
    list.arg(&setup.key).arg("a").arg("b");
    let mut empty = redis::cmd("SET");
    empty.arg(&setup.key).arg("");
    for (what, write, decode_failures) in [("list", list, 1), ("empty string", empty, 0)] {
        let () = setup.command(redis::cmd("DEL").arg(&setup.key)).await;
        let _: redis::Value = setup.command(&write).await;
        let (calls, before) = (setup.calls.load(SeqCst), setup.cache.stats());
        assert_eq!(setup.call().await, profile_of(ID), "{what}");
        assert_eq!(
            setup.calls.load(SeqCst),
            calls + 1,
            "{what}: the function ran"
        );
        let after = setup.cache.stats();
        println!("a {what} under the key: {}", delta(&before, &after));
        assert_eq!(
            after.decode_failures - before.decode_failures,
            decode_failures,
            "{what}: {after:?}"
        );
        assert_eq!(after.backend_errors, before.backend_errors, "{what}");
        assert_eq!(
            setup.stored().await,
            Some(setup.valid_now().await),
            "{what}"
        );
        assert_eq!(setup.call().await, profile_of(ID), "{what}");
        assert_eq!(setup.calls.load(SeqCst), calls + 1, "{what}: then a hit");
    }
}

/// Something else stored under the name of the function's index (a sorted set of
/// its entry keys): writes of the function would fail with `WRONGTYPE`. The cache
/// removes the foreign key and writes again, so the function is cached as before.
#[tokio::test]
async fn an_index_name_holding_another_type_is_replaced() {
    let setup = Setup::new(|config| config).await;
    let indexes: Vec<String> = setup.command(redis::cmd("KEYS").arg("t:#fn:*")).await;
    let [index] = indexes.as_slice() else {
        panic!("one function index: {indexes:?}")
    };
    let () = setup
        .command(redis::cmd("SET").arg(index).arg("not an index"))
        .await;
    let () = setup.command(redis::cmd("DEL").arg(&setup.key)).await;

    let (calls, before) = (setup.calls.load(SeqCst), setup.cache.stats());
    assert_eq!(setup.call().await, profile_of(ID));
    let after = setup.cache.stats();
    println!("a string under the index name: {}", delta(&before, &after));
    assert_eq!(setup.calls.load(SeqCst), calls + 1, "a miss");
    assert_eq!(after.writes, before.writes + 1, "{after:?}");
    assert_eq!(after.backend_errors, before.backend_errors, "{after:?}");
    let kind: String = setup.command(redis::cmd("TYPE").arg(index)).await;
    assert_eq!(kind, "zset", "the index was remade");
    assert_eq!(setup.call().await, profile_of(ID));
    assert_eq!(setup.calls.load(SeqCst), calls + 1, "then a hit");
}

impl Setup {
    /// The entry as the cache writes it now: the valid one with the stored write time.
    async fn valid_now(&self) -> Vec<u8> {
        let stored = self.stored().await.expect("an entry");
        let mut expected = self.valid.clone();
        expected[..16].copy_from_slice(&stored[..16]);
        expected
    }
}

/// The counters that changed between two snapshots.
fn delta(before: &CacheStats, after: &CacheStats) -> String {
    let fields = [
        ("hits", before.hits, after.hits),
        ("misses", before.misses, after.misses),
        ("writes", before.writes, after.writes),
        (
            "decode_failures",
            before.decode_failures,
            after.decode_failures,
        ),
        (
            "backend_errors",
            before.backend_errors,
            after.backend_errors,
        ),
        ("timeouts", before.timeouts, after.timeouts),
    ];
    fields
        .iter()
        .filter(|(_, before, after)| before != after)
        .map(|(name, before, after)| format!("{name} +{}", after - before))
        .collect::<Vec<_>>()
        .join(", ")
}

#[test]
fn the_codec_id_is_one() {
    // The hostile headers above assume that codec 1 is bincode and the format 0xc2.
    assert_eq!(Bincode::ID, 1);
    assert_eq!(FORMAT, 0xc2);
}
