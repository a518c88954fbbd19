#!/usr/bin/env bash
# State benchmark: blocks of transfers over many accounts, proofs.
# Usage: scripts/bench-state.sh   (env: BENCH_ACCOUNTS, BENCH_BLOCK_TXS, BENCH_BLOCKS, BENCH_PROOFS, BENCH_DIR)
# Prints the commit, the machine and the benchmark's lines (copy them to bench/RESULTS.md).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/cairn-target}
echo "commit: $(git rev-parse --short HEAD)$(git diff --quiet -- state || echo ' (state/ modified)')"
echo "date: $(date -u +%Y-%m-%dT%H:%MZ)"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(free -g | awk '/Mem:/{print $2}') GiB RAM, load $(cut -d' ' -f1-3 /proc/loadavg)"
cargo bench -p cairn-state --bench state
