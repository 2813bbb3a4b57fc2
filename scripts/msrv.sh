#!/usr/bin/env bash
# The part of the MSRV check that needs no older compiler: every package each
# workspace member builds (its dependencies of every kind, as locked in Cargo.lock,
# for this machine's platform) declares a `rust-version` no newer than the member's.
# Standard library APIs newer than `rust-version` are flagged by clippy's
# `incompatible_msrv` lint, which the clippy runs of `.ci/run` deny. What neither
# catches (newer language features) is in CONTRIBUTING.md.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v jq >/dev/null 2>&1; then
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "error: jq is missing and there is no apt-get here; install it" >&2
        exit 1
    fi
    echo "==> installing jq"
    as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq jq
fi

host=$(rustc -vV | sed -n 's/^host: //p')
violations=$(cargo metadata --format-version 1 --locked --filter-platform "$host" | jq -r '
    def version: split(".") | map(tonumber) | (. + [0, 0, 0])[:3];
    (.packages | map({key: .id, value: .}) | from_entries) as $packages
    | (.resolve.nodes | map({key: .id, value: [.deps[].pkg]}) | from_entries) as $deps
    | .workspace_members[]
    | $packages[.] as $member
    | select($member.rust_version != null)
    # every package the member builds: a breadth-first walk of the locked graph
    | {seen: {(.): true}, next: [.]}
    | until(.next == [];
        .seen as $seen
        | ([.next[] | $deps[.][]] | unique | map(select($seen[.] | not))) as $new
        | {seen: ($seen + ($new | map({key: ., value: true}) | from_entries)), next: $new})
    | .seen | keys[] | $packages[.]
    | select(.rust_version != null and (.rust_version | version) > ($member.rust_version | version))
    | "\($member.name) declares rust-version \($member.rust_version), but builds \(.name) \(.version), which needs \(.rust_version)"
')

if [ -n "$violations" ]; then
    echo "$violations" >&2
    exit 1
fi
echo "every dependency fits the declared rust-version of its workspace member"
