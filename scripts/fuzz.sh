#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for SECONDS_PER_TARGET (default 300),
# one after another, and prints one line per target: executions and result.
# Exits non-zero if any target crashed, naming the input that crashed it.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET]
#
# Each run starts from the seeds in fuzz/corpus/<target>/ and first replays
# fuzz/regressions/<target>/ (inputs that once crashed); both are read-only
# here. What fuzzing finds is kept in $FUZZ_TARGET_DIR/corpus/<target>/, outside
# the repository, so later runs continue from it.
#
# Builds in FUZZ_TARGET_DIR (default ~/.cache/cairn-fuzz-target), never in the
# workspace's CARGO_TARGET_DIR: the instrumented build uses other flags and
# would throw the workspace's build away. Runs on the stable toolchain
# (cargo-fuzz 0.13, `-s none`: no sanitizer, so no nightly needed; the code
# is safe Rust). `-a` turns on debug assertions and overflow checks.
set -euo pipefail
cd "$(dirname "$0")/.."

secs=${1:-300}
export CARGO_TARGET_DIR=${FUZZ_TARGET_DIR:-$HOME/.cache/cairn-fuzz-target}
logs=$CARGO_TARGET_DIR/fuzz-logs
mkdir -p "$logs"

if ! cargo fuzz --version 2>/dev/null | grep -q '^cargo-fuzz 0\.13\.'; then
  cargo install cargo-fuzz --version '^0.13' --locked
fi

# The targets must never pull in the state, the node or RocksDB (and its
# 25-minute C++ build).
if (cd fuzz && cargo tree -e normal --prefix none) |
  grep -E '^(cairn-state|cairn-node|rocksdb|librocksdb-sys) v'; then
  echo "fuzz.sh: the fuzz crate depends on the crates above; it must not"
  exit 1
fi

opts=(-s none -a)
cargo fuzz build "${opts[@]}"

failed=0
for target in $(cargo fuzz list); do
  corpora=("$CARGO_TARGET_DIR/corpus/$target" "fuzz/corpus/$target")
  mkdir -p "${corpora[0]}"
  if compgen -G "fuzz/regressions/$target/*" >/dev/null; then
    corpora+=("fuzz/regressions/$target")
  fi
  log=$logs/$target.log
  # -timeout: an input that takes 10 s is a hang worth reporting.
  if cargo fuzz run "${opts[@]}" "$target" "${corpora[@]}" -- \
    -max_total_time="$secs" -timeout=10 -print_final_stats=1 >"$log" 2>&1; then
    result=ok
  else
    failed=1
    input=$(grep -o 'Test unit written to .*' "$log" | tail -1 | sed 's/Test unit written to //')
    result="CRASH: input ${input:-not written}, log $log"
  fi
  execs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*$' || true)
  printf '%-10s %4s s  %12s executions  %s\n' "$target" "$secs" "${execs:-?}" "$result"
done

if [[ $failed != 0 ]]; then
  echo "fuzz.sh: a target crashed; keep the input under fuzz/regressions/<target>/ once fixed"
  exit 1
fi
echo "fuzz.sh: no crashes"
