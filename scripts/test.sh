#!/usr/bin/env bash
# Runs every Cairn test: formatting, lints, the crate walls, the whole
# test suite (unit, property, simulation, integration, end to end), the short
# forms of the process- and network-chaos and hostile-client scripts (the
# hostile-peer test is in the suite), and each fuzz target briefly.
# Installs what it needs on a fresh Debian machine with only the Rust toolchain.
# Builds in one profile (release) so RocksDB's C++ is compiled once per target dir;
# set CARGO_TARGET_DIR to keep that build outside the clone.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
ensure_build_deps
ensure_nextest
ensure_browser

step "format"
cargo fmt --all -- --check
cargo fmt --manifest-path fuzz/Cargo.toml -- --check

step "lints"
cargo clippy --release --workspace --all-targets --locked -- -D warnings

step "crate walls (DESIGN.md §2)"
check_walls

step "tests"
cargo nextest run --release --workspace --locked --no-fail-fast

step "process chaos (short)"
# kill -9 under load for 90 s; the verdict is the last line.
CHAOS_SECONDS=90 scripts/chaos-kill.sh

step "network chaos (short)"
# Partitions and a slow validator between network namespaces for 120 s (as root).
CHAOS_SECONDS=120 scripts/chaos-net.sh

step "hostile client (short)"
# 100,000 malformed requests, 3,000 held connections, subscription floods and
# slow readers against one validator, 80 s.
CHAOS_SECONDS=80 scripts/hostile-client.sh

step "fuzz (short)"
# 20 s per target (about 3 minutes, plus a first build of about 6 minutes in
# its own target dir); scripts/fuzz.sh alone runs 300 s per target.
scripts/fuzz.sh 20

echo "test.sh: all steps passed"
