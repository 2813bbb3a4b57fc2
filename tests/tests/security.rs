//! `rediss://` (TLS, with a CA generated for the test) and Redis ACL users, each
//! against a `redis-server` configured for it; and passwords kept out of every
//! `Debug`, `Display`, error message and log line.

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cache_runtime::{BreakerSettings, Cache, CacheConfig, ConfigError, cached};
// `patient` deadlines, which a debug-build TLS handshake meets easily, for every
// cache that is expected to work: these tests count runs, hits and errors.
use cache_tests::{
    AclRedisServer, TestCertificates, TlsRedisServer, free_port, patient, run_child_test,
};

const USER: &str = "app";
const PASSWORD: &str = "s3cret-pass";

#[cached(ttl = 60, prefix = "square", cache = cache, skip(cache, calls))]
async fn square(cache: &Cache, calls: &AtomicUsize, n: u64) -> u64 {
    calls.fetch_add(1, SeqCst);
    n * n
}

/// Runs `square(n)` twice; returns the number of body runs.
async fn call_twice(cache: &Cache, n: u64) -> usize {
    let calls = AtomicUsize::new(0);
    assert_eq!(square(cache, &calls, n).await, n * n);
    assert_eq!(square(cache, &calls, n).await, n * n);
    calls.load(SeqCst)
}

/// Calls `square(n)` twice through `cache`: the second call must be a hit, with one
/// run, one write and no backend error.
async fn assert_cached(cache: &Cache, n: u64) {
    assert_eq!(
        call_twice(cache, n).await,
        1,
        "the second call must be a hit"
    );
    let stats = cache.stats();
    assert_eq!(
        (stats.misses, stats.hits, stats.writes, stats.backend_errors),
        (1, 1, 1, 0),
        "{stats:?}"
    );
}

/// Calls `square(n)` twice through `cache`, which cannot reach its Redis: the body
/// runs each time, backend errors are counted, and nothing is read or written.
async fn assert_not_cached(cache: &Cache, n: u64) {
    assert_eq!(
        call_twice(cache, n).await,
        2,
        "no cache: the body runs each time"
    );
    let stats = cache.stats();
    assert!(stats.backend_errors >= 1, "{stats:?}");
    assert_eq!((stats.hits, stats.writes), (0, 0), "{stats:?}");
}

// ---------------------------------------------------------------- TLS

#[tokio::test]
async fn rediss_with_the_test_ca_caches() {
    let server = TlsRedisServer::start();
    let cache = patient(
        CacheConfig::redis(server.url())
            .namespace("tls")
            .tls_root_certificate(server.certificates().ca.clone()),
    )
    .build()
    .expect("valid TLS configuration");

    assert_cached(&cache, 12).await;
    assert_eq!(server.entry_keys("tls:*").len(), 1);

    let health = cache.health().await;
    assert!(health.healthy, "{health:?}");
    assert!(health.server_version.is_some(), "{health:?}");
}

#[tokio::test]
async fn rediss_without_the_ca_fails_open() {
    let server = TlsRedisServer::start();
    // Only the public web roots are trusted: the test CA is not among them.
    let cache = patient(CacheConfig::redis(server.url()).namespace("tls"))
        .build()
        .expect("a rediss URL needs no certificates to build");

    assert_not_cached(&cache, 5).await;
    assert!(server.entry_keys("*").is_empty());

    let health = cache.health().await;
    assert!(!health.healthy, "{health:?}");
    let error = health.error.unwrap_or_default();
    assert!(error.contains("rediss://127.0.0.1"), "{error}");
}

#[tokio::test]
async fn rediss_with_another_ca_fails_open() {
    let server = TlsRedisServer::start();
    let stranger = TestCertificates::generate();
    let cache = patient(
        CacheConfig::redis(server.url())
            .namespace("tls")
            .tls_root_certificate(stranger.ca),
    )
    .build()
    .expect("valid TLS configuration");

    assert_not_cached(&cache, 5).await;
    assert!(server.entry_keys("*").is_empty());
}

#[tokio::test]
async fn mutual_tls_needs_the_client_certificate() {
    let server = TlsRedisServer::start_mutual();
    let certificates = server.certificates().clone();

    let with_identity = patient(
        CacheConfig::redis(server.url())
            .namespace("mtls")
            .tls_root_certificate(certificates.ca.clone())
            .tls_client_certificate(
                certificates.client_certificate.clone(),
                certificates.client_key.clone(),
            ),
    )
    .build()
    .expect("valid mutual TLS configuration");
    assert_cached(&with_identity, 3).await;
    assert_eq!(server.entry_keys("mtls:*").len(), 1);

    let without_identity = patient(
        CacheConfig::redis(server.url())
            .namespace("anonymous")
            .tls_root_certificate(certificates.ca),
    )
    .build()
    .expect("valid TLS configuration");
    assert_not_cached(&without_identity, 3).await;
    assert!(server.entry_keys("anonymous:*").is_empty());
}

fn tls_error(config: CacheConfig) -> String {
    match config.build() {
        Err(err @ ConfigError::Tls(_)) => err.to_string(),
        Err(other) => panic!("expected a TLS error, got {other:?}"),
        Ok(cache) => panic!("expected a TLS error, got {cache:?}"),
    }
}

#[test]
fn bad_certificates_are_configuration_errors() {
    let url = "rediss://127.0.0.1:6380/0";
    let certificates = TestCertificates::generate();

    let shown = tls_error(CacheConfig::redis(url).tls_root_certificate("not a certificate"));
    assert!(shown.contains("no PEM `CERTIFICATE` block"), "{shown}");

    let broken = "-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n";
    let shown = tls_error(CacheConfig::redis(url).tls_root_certificate(broken));
    assert!(shown.contains("root certificate"), "{shown}");

    let garbage_der = "-----BEGIN CERTIFICATE-----\nAAECAwQFBgcICQ==\n-----END CERTIFICATE-----\n";
    let shown = tls_error(CacheConfig::redis(url).tls_root_certificate(garbage_der));
    assert!(shown.contains("invalid TLS configuration"), "{shown}");

    // A key that is not the certificate's: its contents never appear in the error.
    let other = TestCertificates::generate();
    let shown = tls_error(
        CacheConfig::redis(url)
            .tls_client_certificate(certificates.client_certificate.clone(), other.client_key),
    );
    assert!(shown.contains("cannot be used together"), "{shown}");

    let shown = tls_error(
        CacheConfig::redis(url).tls_client_certificate(certificates.client_certificate, "nope"),
    );
    assert!(shown.contains("no valid PEM private key"), "{shown}");

    // Certificates for a plain URL are a mistake, reported without the password.
    let shown = tls_error(
        CacheConfig::redis(format!("redis://{USER}:{PASSWORD}@127.0.0.1:6379/0"))
            .tls_root_certificate(certificates.ca),
    );
    assert!(shown.contains("rediss://"), "{shown}");
    assert!(shown.contains("app:***@"), "{shown}");
    assert!(!shown.contains(PASSWORD), "{shown}");
}

// ---------------------------------------------------------------- ACL

#[tokio::test]
async fn an_acl_user_with_its_password_caches() {
    let server = AclRedisServer::start(USER, PASSWORD);
    let cache = patient(CacheConfig::redis(server.url()))
        .namespace("acl")
        .build()
        .expect("valid configuration");

    assert_cached(&cache, 9).await;
    assert_eq!(server.entry_keys("acl:*").len(), 1);
    assert!(cache.health().await.healthy);
}

static SQUARES: cache_runtime::CacheGroup = cache_runtime::CacheGroup::new("squares");

#[cached(ttl = 1, prefix = "cube", cache = cache, skip(cache, calls), groups(SQUARES), early_refresh = 100)]
async fn cube(cache: &Cache, calls: &AtomicUsize, n: u64) -> u64 {
    calls.fetch_add(1, SeqCst);
    // With `early_refresh = 100`, 50 ms of work against a 1 s TTL refreshes about
    // four reads in five.
    tokio::time::sleep(Duration::from_millis(50)).await;
    n * n * n
}

#[cache_runtime::invalidate(SQUARES, cache = cache)]
async fn forget_squares(cache: &Cache) {}

#[tokio::test]
async fn the_least_privileged_acl_user_in_the_docs_is_enough() {
    // The rules docs/security.md gives for a namespace `shop`.
    let rules = [
        "~shop:*",
        "+get",
        "+set",
        "+del",
        "+unlink",
        "+getrange",
        "+strlen",
        "+type",
        "+setrange",
        "+eval",
        "+zadd",
        "+zremrangebyscore",
        "+zrange",
        "+zremrangebyrank",
        "+pexpire",
        "+ping",
        "+info",
    ];
    let server = AclRedisServer::start_with_rules(USER, PASSWORD, &rules);
    let cache = patient(CacheConfig::redis(server.url()))
        .namespace("shop")
        .build()
        .expect("valid configuration");
    let calls = AtomicUsize::new(0);

    // Miss (lease, fill, indexes), then hits that refresh early (value leases).
    for _ in 0..10 {
        assert_eq!(cube(&cache, &calls, 3).await, 27);
    }
    assert!(calls.load(SeqCst) >= 2, "early refreshes ran");
    // Write-through, entry, function and group invalidations.
    cube_entry(&&cache, &3).put(&27).await;
    cube_entry(&&cache, &3).invalidate().await;
    cube(&cache, &calls, 3).await;
    cube_entries(&&cache).invalidate().await;
    cube(&cache, &calls, 3).await;
    forget_squares(&cache).await;
    assert!(cache.health().await.healthy);

    let stats = cache.stats();
    assert_eq!(stats.backend_errors, 0, "a command was refused: {stats:?}");
    assert!(
        stats.refreshes >= 1 && stats.invalidations == 3,
        "{stats:?}"
    );
}

/// A user that may not `ZADD` cannot record entries in their function's index. The
/// write still runs in the same pipeline, but an entry missing from its index would
/// survive the invalidation of its function, so it is removed again: calls answer,
/// nothing is cached, and nothing is left in Redis.
#[tokio::test]
async fn entries_that_cannot_be_indexed_are_not_left_behind() {
    let server = AclRedisServer::start_with_rules(USER, PASSWORD, &["~*", "&*", "+@all", "-zadd"]);
    let cache = patient(CacheConfig::redis(server.url()))
        .namespace("acl")
        .build()
        .expect("valid configuration");
    assert_eq!(call_twice(&cache, 6).await, 2, "nothing was cached");
    let stats = cache.stats();
    assert!(stats.backend_errors >= 2, "{stats:?}");
    assert_eq!((stats.hits, stats.writes), (0, 0), "{stats:?}");
    assert_eq!(server.entry_keys("*"), Vec::<String>::new());
}

#[tokio::test]
async fn a_wrong_password_or_none_fails_open() {
    let server = AclRedisServer::start(USER, PASSWORD);
    for url in [
        server.url_with_password("wrong-pass"),
        server.anonymous_url(),
    ] {
        let cache = CacheConfig::redis(url.as_str())
            .namespace("acl")
            .build()
            .expect("valid configuration");
        assert_eq!(call_twice(&cache, 9).await, 2, "{url}: nothing cached");
        assert!(cache.stats().backend_errors >= 1, "{url}");
        assert!(!cache.health().await.healthy, "{url}");
    }
    assert!(server.entry_keys("*").is_empty());
}

// ---------------------------------------------------------------- secrets

/// A `tracing` writer into a shared buffer.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    fn text(&self) -> String {
        let bytes = self.0.lock().expect("log buffer").clone();
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log buffer").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Every password of the leak checks contains this: no part of one may show.
const MARK: &str = "s3cret";

/// How long the breakers of the leak checks stay open before a probe.
const OPEN_FOR: Duration = Duration::from_millis(20);

/// A breaker that opens at the first failure and probes soon after, so that its
/// WARN (opened) and DEBUG (probe failed) lines are logged.
fn quick_breaker(config: CacheConfig) -> CacheConfig {
    config.circuit_breaker(BreakerSettings {
        failure_threshold: 1,
        open_for: OPEN_FOR,
        close_after: 1,
    })
}

/// Everything a cache that cannot reach its Redis shows of itself: its `Debug`, the
/// logs of two calls that fail open (the first opens its [`quick_breaker`]), and the
/// health report of the probe that follows the open interval (which fails, with the
/// connection's own error, and is logged).
async fn everything_shown(cache: &Cache) -> String {
    assert_not_cached(cache, 4).await;
    // Past the open interval of the last failure, the next operation is a probe.
    tokio::time::sleep(OPEN_FOR).await;
    let health = cache.health().await;
    assert!(!health.healthy, "{health:?}");
    let error = health.error.clone().unwrap_or_default();
    assert!(
        !error.contains("circuit breaker open"),
        "not a probe: {error}"
    );
    format!("{health:?}\n{error}\n{cache:?}\n")
}

/// Set by the parent for the child that checks for leaks.
const ACL_PORT: &str = "SECURITY_TEST_ACL_PORT";
/// Set by the parent for the child that checks for leaks.
const TLS_PORT: &str = "SECURITY_TEST_TLS_PORT";

#[test]
fn passwords_never_appear_in_debug_display_errors_or_logs() {
    // Logs are captured by a global subscriber in a child process: a scoped one
    // misses events whose callsites other test threads registered first.
    let server = AclRedisServer::start(USER, PASSWORD);
    let tls = TlsRedisServer::start();
    let out = run_child_test(
        "child_never_shows_passwords",
        &[
            (ACL_PORT, &server.port().to_string()),
            (TLS_PORT, &tls.port().to_string()),
        ],
    );
    assert!(out.contains("cache backend unavailable"), "{out}");
    assert!(out.contains("app:***@127.0.0.1"), "{out}");
    assert!(out.contains("?user=app&pass=***&db=0"), "{out}");
    assert!(!out.contains(MARK), "a password leaked:\n{out}");
}

#[test]
#[ignore = "run by the test above in a child process, with a global log subscriber"]
fn child_never_shows_passwords() {
    const WRONG: &str = "wr0ng-s3cret";
    let port = |var| std::env::var(var).expect("set by the parent test");
    let (acl_port, tls_port) = (port(ACL_PORT), port(TLS_PORT));
    let dead_port = free_port();
    let dir = tempfile::tempdir().expect("temporary directory");
    // An absolute path, where no server listens.
    let socket = dir.path().join("missing.sock").display().to_string();
    let logs = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer({
            let logs = logs.clone();
            move || logs.clone()
        })
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .finish();
    tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");

    // `(URL, how it is shown)`: every form in which redis-rs reads a password, over
    // TCP, TLS and unix sockets, for a server that refuses it or is not there. Each
    // is shown differently, so that the log lines of each can be told apart.
    let failing = [
        // The right user with a wrong password: the server refuses it.
        (
            format!("redis://{USER}:{WRONG}@127.0.0.1:{acl_port}/0"),
            format!("redis://{USER}:***@127.0.0.1:{acl_port}/0"),
        ),
        // Percent-encoded (`p@ss/s3cret`), and an `@` left unencoded.
        (
            format!("redis://{USER}:p%40ss%2F{MARK}@127.0.0.1:{acl_port}/1"),
            format!("redis://{USER}:***@127.0.0.1:{acl_port}/1"),
        ),
        (
            format!("redis://{USER}:p@ss-{MARK}@127.0.0.1:{acl_port}/2"),
            format!("redis://{USER}:***@127.0.0.1:{acl_port}/2"),
        ),
        // The password in a URL whose server is not there; with no user.
        (
            format!("redis://{USER}:{PASSWORD}@127.0.0.1:{dead_port}/0"),
            format!("redis://{USER}:***@127.0.0.1:{dead_port}/0"),
        ),
        (
            format!("valkey://:{PASSWORD}@127.0.0.1:{dead_port}/0"),
            format!("valkey://:***@127.0.0.1:{dead_port}/0"),
        ),
        // Over TLS to a server whose CA is not trusted.
        (
            format!("rediss://{USER}:{PASSWORD}@127.0.0.1:{tls_port}/0"),
            format!("rediss://{USER}:***@127.0.0.1:{tls_port}/0"),
        ),
        // Unix sockets: the password is the `pass` query parameter (`a&b s3cret`,
        // form-encoded, in the second).
        (
            format!("redis+unix://{socket}?pass={PASSWORD}"),
            format!("redis+unix://{socket}?pass=***"),
        ),
        (
            format!("unix://{socket}?user={USER}&pass=a%26b+{MARK}&db=0"),
            format!("unix://{socket}?user={USER}&pass=***&db=0"),
        ),
    ];

    let mut shown = String::new();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        for (url, redacted) in &failing {
            let config = quick_breaker(CacheConfig::redis(url.as_str()).namespace("secret"));
            let debug = format!("{config:?}\n");
            assert!(debug.contains(redacted.as_str()), "not {redacted}: {debug}");
            shown.push_str(&debug);
            let cache = config.build().expect("valid configuration");
            let everything = everything_shown(&cache).await;
            assert!(
                everything.contains(&format!("({redacted})")),
                "no health error for {redacted}:\n{everything}"
            );
            shown.push_str(&everything);
        }
        // And a cache that works.
        let url = format!("redis://{USER}:{PASSWORD}@127.0.0.1:{acl_port}/0");
        let config = patient(CacheConfig::redis(url).namespace("secret"));
        shown.push_str(&format!("{config:?}\n"));
        let cache = config.build().expect("valid configuration");
        assert_eq!(call_twice(&cache, 4).await, 1);
        shown.push_str(&format!("{:?}\n{cache:?}\n", cache.health().await));
    });

    // Configuration errors for URLs with passwords, and how they show the URL.
    for (url, redacted) in [
        (
            format!("redis://{USER}:{PASSWORD}@127.0.0.1:notaport/0"),
            "redis://***@127.0.0.1:notaport/0",
        ),
        (
            format!("nosuchscheme://{USER}:{PASSWORD}@127.0.0.1:6379/0"),
            "nosuchscheme://app:***@127.0.0.1:6379/0",
        ),
        (
            format!("redis://{USER}:{PASSWORD}@[::1/0"),
            "redis://***@[::1/0",
        ),
        (
            format!("redis://{USER}:p@ss-{MARK}@[::1/0"),
            "redis://***@[::1/0",
        ),
        (
            format!("valkey://:{PASSWORD}@0.0.0.0:6379/0"),
            "valkey://:***@0.0.0.0:6379/0",
        ),
        (
            format!("unix:///run/redis.sock?user={USER}&pass={PASSWORD}&db=x"),
            "unix:///run/redis.sock?user=app&pass=***&db=x",
        ),
        (
            format!("redis+unix://elsewhere/run/redis.sock?pass={PASSWORD}"),
            "redis+unix://elsewhere/run/redis.sock?pass=***",
        ),
        (
            format!("unix://[bad?pass={PASSWORD}"),
            "unix://[bad?pass=***",
        ),
    ] {
        let config = CacheConfig::redis(url.as_str());
        shown.push_str(&format!("{config:?}\n"));
        let err = config.build().expect_err("a malformed URL");
        let message = format!("{err}\n{err:?}\n");
        assert!(message.contains(redacted), "not {redacted}: {message}");
        shown.push_str(&message);
    }

    let logs = logs.text();
    assert!(
        logs.contains("cache backend unavailable"),
        "the failures were not logged:\n{logs}"
    );
    // The breaker's WARN and DEBUG lines name the endpoint, redacted.
    for (_, redacted) in &failing {
        for event in ["circuit breaker opened", "circuit breaker probe failed"] {
            assert!(
                logs.lines()
                    .any(|line| line.contains(event) && line.contains(redacted.as_str())),
                "no `{event}` line for {redacted}:\n{logs}"
            );
        }
    }
    let everything = format!("{shown}\n{logs}");
    assert!(
        !everything.contains(MARK),
        "a password leaked:\n{everything}"
    );
    // For the parent to check as well.
    println!("{everything}");
}

// ---------------------------------------------------------------- environment

#[test]
fn cache_tls_ca_file_configures_the_global_cache() {
    let server = TlsRedisServer::start();
    let dir = tempfile::tempdir().expect("temporary directory");
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &server.certificates().ca).expect("write the CA");
    let ca_file = ca_file.to_string_lossy().into_owned();

    run_child_test(
        "child_caches_with_the_global_cache",
        &[
            ("REDIS_URL", &server.url()),
            ("CACHE_TLS_CA_FILE", &ca_file),
            ("CACHE_TIMEOUT_MS", "2000"),
            ("EXPECT_CACHED", "yes"),
        ],
    );
    assert_eq!(server.entry_keys("cache:*").len(), 1);
}

#[test]
fn an_unreadable_cache_tls_ca_file_is_reported_and_the_app_runs_uncached() {
    let out = run_child_test(
        "child_caches_with_the_global_cache",
        &[
            (
                "REDIS_URL",
                &format!("rediss://{USER}:{PASSWORD}@127.0.0.1:1/0"),
            ),
            ("CACHE_TLS_CA_FILE", "/nonexistent/ca.pem"),
            ("EXPECT_CACHED", "no"),
        ],
    );
    assert!(out.contains("CACHE_TLS_CA_FILE"), "{out}");
    assert!(out.contains("caching is off"), "{out}");
    assert!(!out.contains(PASSWORD), "the password leaked:\n{out}");
}

#[test]
fn a_bad_redis_url_in_the_environment_is_reported_without_its_password() {
    for (url, redacted) in [
        (
            format!("unix:///run/redis.sock?user={USER}&pass={PASSWORD}&db=x"),
            "unix:///run/redis.sock?user=app&pass=***&db=x",
        ),
        (
            format!("redis://{USER}:p%40ss-{MARK}@[::1/0"),
            "redis://***@[::1/0",
        ),
    ] {
        let out = run_child_test(
            "child_caches_with_the_global_cache",
            &[("REDIS_URL", &url), ("EXPECT_CACHED", "no")],
        );
        assert!(out.contains("caching is off"), "{out}");
        assert!(out.contains(redacted), "not {redacted}:\n{out}");
        assert!(!out.contains(MARK), "the password leaked:\n{out}");
    }
}

#[cached(ttl = 60)]
async fn triple(n: u64) -> u64 {
    n * 3
}

#[tokio::test]
#[ignore = "run by the tests above in a child process with its own environment"]
async fn child_caches_with_the_global_cache() {
    let expect_cached = std::env::var("EXPECT_CACHED").expect("set by the parent test") == "yes";
    assert_eq!(triple(14).await, 42);
    assert_eq!(triple(14).await, 42);
    let cache = cache_runtime::global();
    let stats = cache.stats();
    if expect_cached {
        assert_eq!((stats.misses, stats.hits), (1, 1), "{stats:?}");
        assert!(cache.health().await.healthy);
    } else {
        assert_eq!(stats.hits, 0, "{stats:?}");
    }
}
