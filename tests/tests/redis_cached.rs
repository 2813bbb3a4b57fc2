//! `#[cached]` against a real `redis-server` started by the harness.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::{Duration, Instant};

use cache_runtime::{BackendKind, Cache, CacheConfig, cached};
use cache_tests::{RedisServer, free_port, patient};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct User {
    id: u64,
    name: String,
}

/// A cache with a patient deadline: these tests count body runs and hits, which a
/// cache operation missing the default 50 ms on a loaded machine would change.
fn cache_for(server: &RedisServer, namespace: &str) -> Cache {
    patient(CacheConfig::redis(server.url()))
        .namespace(namespace)
        .build()
        .expect("valid test configuration")
}

async fn raw(server: &RedisServer, args: &[&[u8]]) -> redis::Value {
    let mut connection = server
        .client()
        .get_multiplexed_async_connection()
        .await
        .expect("test server reachable");
    let mut cmd = redis::cmd(std::str::from_utf8(args[0]).expect("ascii command"));
    for arg in &args[1..] {
        cmd.arg(*arg);
    }
    cmd.query_async(&mut connection).await.expect("raw command")
}

#[cached(ttl = 60, prefix = "user", cache = cache, skip(cache, calls))]
async fn get_user(cache: &Cache, calls: &AtomicUsize, id: u64) -> Result<User, String> {
    calls.fetch_add(1, SeqCst);
    Ok(User {
        id,
        name: format!("user-{id}"),
    })
}

#[tokio::test]
async fn miss_then_hit_runs_the_body_once() {
    let server = RedisServer::start();
    let cache = cache_for(&server, "t");
    let calls = AtomicUsize::new(0);

    let first = get_user(&cache, &calls, 7).await;
    let second = get_user(&cache, &calls, 7).await;

    assert_eq!(first, second);
    assert_eq!(second.expect("ok").name, "user-7");
    assert_eq!(calls.load(SeqCst), 1, "the second call must be a hit");
    let stats = cache.stats();
    assert_eq!((stats.misses, stats.hits, stats.writes), (1, 1, 1));
    assert_eq!(server.entry_keys("*").len(), 1);
}

#[tokio::test]
async fn the_ttl_is_applied_in_milliseconds_and_entries_expire() {
    #[cached(ttl = "1500ms", cache = cache, skip(cache, calls))]
    async fn short_lived(cache: &Cache, calls: &AtomicUsize, id: u64) -> u64 {
        calls.fetch_add(1, SeqCst);
        id * 2
    }
    let server = RedisServer::start();
    let cache = cache_for(&server, "t");
    let calls = AtomicUsize::new(0);

    assert_eq!(short_lived(&cache, &calls, 4).await, 8);
    let key = server.entry_keys("*").pop().expect("one entry");
    let pttl = raw(&server, &[b"PTTL", key.as_bytes()]).await;
    let redis::Value::Int(pttl) = pttl else {
        panic!("PTTL answered {pttl:?}")
    };
    assert!(
        (1..=1500).contains(&pttl),
        "PTTL {pttl} ms, expected at most 1500"
    );

    // Wait for the event itself: Redis dropping the key.
    let deadline = Instant::now() + Duration::from_secs(10);
    while raw(&server, &[b"EXISTS", key.as_bytes()]).await == redis::Value::Int(1) {
        assert!(Instant::now() < deadline, "entry never expired");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(short_lived(&cache, &calls, 4).await, 8);
    assert_eq!(calls.load(SeqCst), 2, "an expired entry is a miss");
}

#[tokio::test]
async fn distinct_arguments_and_functions_never_share_entries() {
    #[cached(ttl = 60, prefix = "user", cache = cache, skip(cache))]
    async fn get_user_name(cache: &Cache, id: u64) -> Result<String, String> {
        Ok(format!("name-{id}"))
    }
    #[cached(ttl = 60, prefix = "user", cache = cache, skip(cache))]
    async fn get_user_email(cache: &Cache, id: u64) -> Result<String, String> {
        Ok(format!("{id}@example.test"))
    }
    #[cached(ttl = 60, cache = cache, skip(cache))]
    async fn pair(cache: &Cache, a: String, b: String) -> String {
        format!("{a}|{b}")
    }
    let server = RedisServer::start();
    let cache = cache_for(&server, "t");

    for round in 0..2 {
        for id in [1, 2] {
            assert_eq!(get_user_name(&cache, id).await, Ok(format!("name-{id}")));
            assert_eq!(
                get_user_email(&cache, id).await,
                Ok(format!("{id}@example.test"))
            );
        }
        assert_eq!(pair(&cache, "ab".into(), "c".into()).await, "ab|c");
        assert_eq!(pair(&cache, "a".into(), "bc".into()).await, "a|bc");
        if round == 0 {
            assert_eq!(
                server.entry_keys("*").len(),
                6,
                "one entry per function and arguments"
            );
        }
    }
    assert_eq!(cache.stats().hits, 6);
}

#[tokio::test]
async fn namespaces_separate_applications_sharing_a_redis() {
    let server = RedisServer::start();
    let (shop, blog) = (cache_for(&server, "shop"), cache_for(&server, "blog"));
    let calls = AtomicUsize::new(0);
    get_user(&shop, &calls, 1).await.expect("ok");
    get_user(&blog, &calls, 1).await.expect("ok");
    assert_eq!(calls.load(SeqCst), 2);
    let keys = server.entry_keys("*");
    assert!(
        keys[0].starts_with("blog:user:") && keys[1].starts_with("shop:user:"),
        "{keys:?}"
    );
}

/// Keys are stable across runs and builds: this pins the key of one call. If it
/// changes, every deployed cache would be cold after an upgrade: bump the key
/// format version deliberately instead.
#[tokio::test]
async fn golden_key() {
    #[cached(ttl = 60, prefix = "golden", cache = cache, skip(cache))]
    async fn golden(cache: &Cache, id: u64, name: String) -> Option<User> {
        Some(User { id, name })
    }
    let server = RedisServer::start();
    let cache = cache_for(&server, "ns");
    golden(&cache, 42, "ada".into()).await;
    assert_eq!(
        server.entry_keys("*"),
        ["ns:golden:70ae076873ffa742d44660511565ab40"],
        "key format changed"
    );
}

#[tokio::test]
async fn errors_and_none_are_not_cached_unless_asked() {
    type AppResult<T> = Result<T, String>;

    #[cached(ttl = 60, cache = cache, skip(cache, calls))]
    async fn fallible(cache: &Cache, calls: &AtomicUsize, fail: bool) -> AppResult<u32> {
        calls.fetch_add(1, SeqCst);
        if fail { Err("boom".into()) } else { Ok(1) }
    }
    #[cached(ttl = 60, cache = cache, skip(cache, calls))]
    async fn lookup(cache: &Cache, calls: &AtomicUsize, id: u32) -> Option<u32> {
        calls.fetch_add(1, SeqCst);
        (id > 0).then_some(id)
    }
    #[cached(ttl = 60, cache = cache, skip(cache, calls), cache_none)]
    async fn lookup_negative(cache: &Cache, calls: &AtomicUsize, id: u32) -> Option<u32> {
        calls.fetch_add(1, SeqCst);
        (id > 0).then_some(id)
    }
    let server = RedisServer::start();
    let cache = cache_for(&server, "t");

    let errors = AtomicUsize::new(0);
    for _ in 0..3 {
        assert_eq!(
            fallible(&cache, &errors, true).await,
            Err("boom".to_string())
        );
    }
    assert_eq!(
        errors.load(SeqCst),
        3,
        "Err is never cached, also through an alias"
    );
    let oks = AtomicUsize::new(0);
    for _ in 0..3 {
        assert_eq!(fallible(&cache, &oks, false).await, Ok(1));
    }
    assert_eq!(oks.load(SeqCst), 1, "Ok is cached");

    let nones = AtomicUsize::new(0);
    for _ in 0..3 {
        assert_eq!(lookup(&cache, &nones, 0).await, None);
        assert_eq!(lookup(&cache, &nones, 5).await, Some(5));
    }
    assert_eq!(nones.load(SeqCst), 4, "three None calls plus one Some");

    let negative = AtomicUsize::new(0);
    for _ in 0..3 {
        assert_eq!(lookup_negative(&cache, &negative, 0).await, None);
    }
    assert_eq!(negative.load(SeqCst), 1, "cache_none stores None");
}

#[tokio::test]
async fn generic_functions_keep_instantiations_apart() {
    #[cached(ttl = 60, cache = cache, skip(cache))]
    async fn parse_as<T>(cache: &Cache, text: String) -> Result<T, String>
    where
        T: std::str::FromStr + Serialize + serde::de::DeserializeOwned,
    {
        text.parse::<T>()
            .map_err(|_| format!("not a {}", std::any::type_name::<T>()))
    }
    let server = RedisServer::start();
    let cache = cache_for(&server, "t");
    for _ in 0..2 {
        assert_eq!(parse_as::<u8>(&cache, "7".into()).await, Ok(7u8));
        assert_eq!(parse_as::<i64>(&cache, "7".into()).await, Ok(7i64));
        assert_eq!(parse_as::<f64>(&cache, "7".into()).await, Ok(7.0f64));
    }
    assert_eq!(server.entry_keys("*").len(), 3);
    assert_eq!(cache.stats().hits, 3);
}

#[derive(Serialize)]
struct Repo {
    #[serde(skip)]
    cache: Cache,
    #[serde(skip)]
    calls: AtomicUsize,
    tenant: String,
}

impl Repo {
    #[cached(ttl = 60, prefix = "repo", cache = self.cache)]
    async fn find(&self, id: u64) -> Result<String, String> {
        self.calls.fetch_add(1, SeqCst);
        Ok(format!("{}:{id}", self.tenant))
    }

    #[cached(ttl = 60, prefix = "tenant", cache = self.cache, include_self)]
    async fn find_for_tenant(&self, id: u64) -> Result<String, String> {
        self.calls.fetch_add(1, SeqCst);
        Ok(format!("{}:{id}", self.tenant))
    }
}

#[tokio::test]
async fn methods_leave_self_out_of_the_key_unless_asked() {
    let server = RedisServer::start();
    let repo = |tenant: &str| Repo {
        cache: cache_for(&server, "t"),
        calls: AtomicUsize::new(0),
        tenant: tenant.into(),
    };
    let (a, b) = (repo("a"), repo("b"));

    assert_eq!(a.find(1).await, Ok("a:1".into()));
    assert_eq!(
        b.find(1).await,
        Ok("a:1".into()),
        "self is not part of the key"
    );
    assert_eq!(b.calls.load(SeqCst), 0);

    assert_eq!(a.find_for_tenant(1).await, Ok("a:1".into()));
    assert_eq!(b.find_for_tenant(1).await, Ok("b:1".into()), "include_self");
    assert_eq!(a.find_for_tenant(1).await, Ok("a:1".into()));
    assert_eq!((a.calls.load(SeqCst), b.calls.load(SeqCst)), (2, 1));
}

#[tokio::test]
async fn a_corrupted_entry_is_a_miss_and_gets_overwritten() {
    let server = RedisServer::start();
    let cache = cache_for(&server, "t");
    let calls = AtomicUsize::new(0);
    get_user(&cache, &calls, 9).await.expect("ok");
    let key = server.entry_keys("*").pop().expect("one entry");

    for garbage in [
        &b""[..],
        b"\xc1",
        b"not an envelope at all",
        b"\xc1\x01\x00\x00garbage-header-and-payload",
    ] {
        raw(&server, &[b"SET", key.as_bytes(), garbage]).await;
        let user = get_user(&cache, &calls, 9).await;
        assert_eq!(user.expect("the function's own value").name, "user-9");
    }
    assert_eq!(calls.load(SeqCst), 5);
    // An empty string reads as a missing key; the other three fail to decode.
    assert_eq!(cache.stats().decode_failures, 3);

    // The last miss rewrote a valid entry: the next call is a hit.
    get_user(&cache, &calls, 9).await.expect("ok");
    assert_eq!(calls.load(SeqCst), 5);
}

#[tokio::test]
async fn redis_killed_mid_test_never_fails_a_call() {
    let mut server = RedisServer::start();
    let cache = cache_for(&server, "t");
    let calls = AtomicUsize::new(0);
    for id in 0..20 {
        get_user(&cache, &calls, id).await.expect("ok");
    }
    server.kill();
    for id in 0..40 {
        let user = get_user(&cache, &calls, id).await.expect("still answered");
        assert_eq!(
            user,
            User {
                id,
                name: format!("user-{id}")
            }
        );
    }
    assert_eq!(
        calls.load(SeqCst),
        60,
        "every call after the kill ran the body"
    );
    let stats = cache.stats();
    // Five failures open the breaker; it then skips Redis (a probe may go through
    // if the machine stalls for its open interval).
    assert_eq!(stats.breaker_opens, 1, "{stats:?}");
    assert!(stats.backend_errors >= 5, "{stats:?}");
    assert_eq!(
        stats.backend_errors + stats.short_circuited,
        40,
        "{stats:?}"
    );

    // Redis comes back (empty, on the same port): the cache reconnects by itself.
    server.restart();
    let mut refilled = false;
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        get_user(&cache, &calls, 1).await.expect("ok");
        if cache.stats().hits > 20 {
            refilled = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        refilled,
        "no hit after Redis came back: {:?}",
        cache.stats()
    );
}

#[tokio::test]
async fn the_app_starts_before_redis_and_uses_it_once_it_is_up() {
    let port = free_port();
    let cache = CacheConfig::redis(format!("redis://127.0.0.1:{port}/0"))
        .namespace("t")
        .build()
        .expect("building never connects");
    let calls = AtomicUsize::new(0);
    assert_eq!(get_user(&cache, &calls, 3).await.expect("ok").id, 3);
    assert!(!cache.health().await.healthy);

    let _server = RedisServer::start_on(port);
    let deadline = Instant::now() + Duration::from_secs(10);
    while cache.stats().hits == 0 {
        assert!(Instant::now() < deadline, "never hit: {:?}", cache.stats());
        get_user(&cache, &calls, 3).await.expect("ok");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(calls.load(SeqCst) >= 2);
}

#[tokio::test]
async fn a_stalled_redis_costs_the_deadline_not_the_stall() {
    let server = RedisServer::start();
    let cache = CacheConfig::redis(server.url())
        .namespace("t")
        .timeout(Duration::from_millis(50))
        .build()
        .expect("valid");
    let calls = AtomicUsize::new(0);
    // Connected and (unless a loaded machine made this miss the deadline) filled.
    get_user(&cache, &calls, 1).await.expect("ok");
    let before = cache.stats().timeouts;

    // Freeze every client of the server for 3 s.
    raw(&server, &[b"CLIENT", b"PAUSE", b"3000", b"ALL"]).await;
    let started = Instant::now();
    let user = get_user(&cache, &calls, 1)
        .await
        .expect("answered by the function");
    let waited = started.elapsed();

    assert_eq!(user.id, 1);
    assert_eq!(
        cache.stats().timeouts,
        before + 1,
        "the read timed out: {:?}",
        cache.stats()
    );
    assert!(
        waited < Duration::from_secs(2),
        "waited {waited:?} for a 3 s stall"
    );
}

#[tokio::test]
async fn health_reports_redis_details() {
    let server = RedisServer::start();
    let cache = cache_for(&server, "t");
    let report = cache.health().await;
    assert!(report.healthy, "{report:?}");
    assert_eq!(report.backend, BackendKind::Redis);
    assert!(
        report
            .server_version
            .as_deref()
            .is_some_and(|v| !v.is_empty()),
        "{report:?}"
    );
    assert!(
        report.connected_clients.is_some_and(|n| n >= 1),
        "{report:?}"
    );
    assert!(report.latency.is_some());

    let down = CacheConfig::redis(format!("redis://:s3cret@127.0.0.1:{}/0", free_port()))
        .build()
        .expect("valid");
    let report = down.health().await;
    assert!(!report.healthy);
    let error = report.error.expect("a reason");
    assert!(!error.contains("s3cret"), "{error}");
}

#[tokio::test]
async fn a_key_secret_keys_every_digest() {
    let server = RedisServer::start();
    let with_secret = |secret: &str| {
        patient(CacheConfig::redis(server.url()))
            .namespace("t")
            .key_secret(secret)
            .build()
            .expect("valid test configuration")
    };
    let (a, same_secret) = (
        with_secret("tenant-secret-0001"),
        with_secret("tenant-secret-0001"),
    );
    let (other_secret, no_secret) = (with_secret("tenant-secret-0002"), cache_for(&server, "t"));
    let calls = AtomicUsize::new(0);

    get_user(&a, &calls, 5).await.expect("ok");
    get_user(&same_secret, &calls, 5).await.expect("ok");
    assert_eq!(
        calls.load(SeqCst),
        1,
        "the same secret derives the same key"
    );
    get_user(&other_secret, &calls, 5).await.expect("ok");
    get_user(&no_secret, &calls, 5).await.expect("ok");
    assert_eq!(
        calls.load(SeqCst),
        3,
        "other secrets, or none, derive other keys"
    );
    assert_eq!(server.entry_keys("t:user:*").len(), 3);
}
