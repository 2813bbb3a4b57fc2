//! Compile-time behaviour of `#[cached]`, `#[invalidate]` and `#[cache_put]`: every
//! misuse gives one precise error (see the `.stderr` goldens next to each case), and
//! every supported form compiles.
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
    t.compile_fail("ui/invalidate/fail/*.rs");
    t.pass("ui/invalidate/pass/*.rs");
    t.compile_fail("ui/cache_put/fail/*.rs");
    t.pass("ui/cache_put/pass/*.rs");
}
