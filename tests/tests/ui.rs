//! Compile-time behaviour of `#[cached]`: every misuse gives one precise error (see
//! the `.stderr` goldens next to each case), and every supported form compiles.
//!
//! The goldens depend on the compiler's wording, so they are checked against the
//! toolchain pinned in `rust-toolchain.toml`. To regenerate them after a deliberate
//! change: `TRYBUILD=overwrite cargo test -p cache-tests --test ui`, then review the
//! diff.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("ui/cached/fail/*.rs");
    t.pass("ui/cached/pass/*.rs");
}
