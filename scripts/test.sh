#!/usr/bin/env bash
# Runs every Cairn test: formatting, lints, the crate walls, and the whole
# test suite (unit, property, simulation, integration, end to end).
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

step "lints"
cargo clippy --release --workspace --all-targets --locked -- -D warnings

step "crate walls (DESIGN.md §2)"
check_walls

step "tests"
cargo nextest run --release --workspace --locked --no-fail-fast

echo "test.sh: all steps passed"
