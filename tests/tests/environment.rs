//! Configuration from the environment, checked in child processes (the environment
//! is process-wide, so each case runs this test binary again with its own variables).

use std::process::Command;

/// Runs the ignored test `name` of this binary in a child process with `vars` set.
fn run_child(name: &str, vars: &[(&str, &str)]) -> String {
    let exe = std::env::current_exe().expect("test binary path");
    let output = Command::new(exe)
        .args([
            name,
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env_remove("REDIS_URL")
        .env_remove("CACHE_BACKEND")
        .envs(vars.iter().copied())
        .output()
        .expect("run the test binary");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "child {name} failed:\n{text}");
    assert!(
        text.contains("1 passed"),
        "child {name} did not run:\n{text}"
    );
    text
}

#[test]
fn a_bad_redis_url_is_reported_at_startup_and_the_app_runs_uncached() {
    let out = run_child(
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
    run_child(
        "child_uses_the_cache_from_the_environment",
        &[("CACHE_BACKEND", "memory"), ("EXPECT_BACKEND", "memory")],
    );
}

#[test]
fn an_unknown_backend_is_reported() {
    let out = run_child(
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
