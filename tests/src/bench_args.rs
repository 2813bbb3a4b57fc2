//! Settings of the benchmark binaries (`tests/benches`), which run in full under
//! `cargo bench` and as a short smoke run under `cargo test`.

/// Whether this is a full run: `cargo bench` passes `--bench`, `cargo test` does not.
pub fn full_run() -> bool {
    let args: Vec<String> = std::env::args().collect();
    args.iter().any(|a| a == "--bench") && !args.iter().any(|a| a == "--test")
}

/// The positive number in the environment variable `name`, or `default` when it is
/// not set. Panics, naming the variable, on anything else.
pub fn env_number(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(value) => value
            .trim()
            .parse()
            .ok()
            .filter(|&n| n > 0)
            .unwrap_or_else(|| panic!("{name}={value:?}: expected a positive number")),
        Err(_) => default,
    }
}
