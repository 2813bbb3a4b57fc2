//! Running one test of the current test binary in a child process, for what is
//! process-wide: environment variables, the global cache, the log subscriber.

use std::process::Command;

/// The variables a cache reads from the environment; a child starts without them,
/// then gets only those its test sets.
const CACHE_VARS: [&str; 5] = [
    "REDIS_URL",
    "CACHE_BACKEND",
    "CACHE_TLS_CA_FILE",
    "CACHE_TLS_CERT_FILE",
    "CACHE_TLS_KEY_FILE",
];

/// Runs the ignored test `name` of this test binary in a child process with `vars`
/// set, checks that it ran and passed, and returns everything it printed.
pub fn run_child_test(name: &str, vars: &[(&str, &str)]) -> String {
    let exe = std::env::current_exe().expect("test binary path");
    let mut command = Command::new(exe);
    command.args([
        name,
        "--exact",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ]);
    for var in CACHE_VARS {
        command.env_remove(var);
    }
    let output = command
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
