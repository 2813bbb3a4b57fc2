#!/usr/bin/env bash
# Runs every test of the workspace: unit, integration (against real redis-server
# processes that the tests start themselves), UI (compile-error) and doc tests.
# On a fresh Debian or Ubuntu machine it first installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

apt_updated=""
apt_install() {
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "error: $* missing and no apt-get here; install it with your package manager" >&2
        exit 1
    fi
    if [ -z "$apt_updated" ]; then
        as_root apt-get update -qq
        apt_updated=yes
    fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"
}

if ! command -v cc >/dev/null 2>&1; then
    echo "==> installing a C compiler (some dependencies build C code)"
    apt_install build-essential
fi
if ! command -v cargo >/dev/null 2>&1; then
    echo "==> installing rustup (the toolchain in rust-toolchain.toml follows on first use)"
    apt_install rustup || {
        echo "error: install Rust with rustup (https://rustup.rs), then run this again" >&2
        exit 1
    }
fi
if ! command -v redis-server >/dev/null 2>&1; then
    echo "==> installing redis-server (the tests start their own servers on free ports)"
    apt_install redis-server
fi

# --no-fail-fast: a failing test binary must not hide the others' results, and the
# doc tests run even when the first command failed; the script then fails.
status=0
echo "==> unit, integration, UI tests and benchmark smoke runs"
cargo test --workspace --all-targets --locked --no-fail-fast || status=$?
echo "==> doc tests"
cargo test --workspace --doc --locked --no-fail-fast || status=$?
if [ "$status" -ne 0 ]; then
    echo "error: some tests failed (see above)" >&2
fi
exit "$status"
