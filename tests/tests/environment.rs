//! Configuration from the environment, checked in child processes (the environment
//! is process-wide, so each case runs this test binary again with its own variables).

use cache_tests::run_child_test;

#[test]
fn a_bad_redis_url_is_reported_at_startup_and_the_app_runs_uncached() {
    let out = run_child_test(
        "child_uses_the_cache_from_the_environment",
        &[
            ("REDIS_URL", "htp://app:s3cret@127.0.0.1:1/0"),
            ("EXPECT_BACKEND", "off"),
        ],
    );
    assert!(out.contains("invalid Redis URL"), "{out}");
    assert!(out.contains("caching is off"), "{out}");
    assert!(!out.contains("s3cret"), "the password leaked:\n{out}");
}

#[test]
fn cache_backend_memory_needs_no_redis() {
    run_child_test(
        "child_uses_the_cache_from_the_environment",
        &[("CACHE_BACKEND", "memory"), ("EXPECT_BACKEND", "memory")],
    );
}

#[test]
fn an_unknown_backend_is_reported() {
    let out = run_child_test(
        "child_uses_the_cache_from_the_environment",
        &[("CACHE_BACKEND", "memcached"), ("EXPECT_BACKEND", "off")],
    );
    assert!(out.contains("CACHE_BACKEND"), "{out}");
}

#[cache_runtime::cached(ttl = 60)]
async fn double(n: u32) -> u32 {
    n * 2
}

#[tokio::test]
#[ignore = "run by the tests above in a child process with its own environment"]
async fn child_uses_the_cache_from_the_environment() {
    let expected = std::env::var("EXPECT_BACKEND").expect("set by the parent test");
    assert_eq!(double(21).await, 42);
    assert_eq!(double(21).await, 42);
    let cache = cache_runtime::global();
    assert_eq!(format!("{:?}", cache.backend()).to_lowercase(), expected);
    let hits = cache.stats().hits;
    assert_eq!(hits, u64::from(expected == "memory"));
}
