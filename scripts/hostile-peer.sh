#!/usr/bin/env bash
# Hostile peers: ten allowlisted peers (one node key per kind of attack)
# send invalid signatures, votes from non-validators, far-past and
# far-future heights, malformed and oversized messages, bad tx batches and
# forged block-sync answers to 4 validators while a fresh full node syncs.
# The test is node/tests/hostile_peer.rs (its doc comment has the verdict);
# the test command runs its short form (50 s). This runs the long form.
# Environment: CHAOS_SECONDS (default 300; half baseline, half attack).
# The last line is the test's "hostile-peer: PASS ..." or "hostile-peer: FAIL ...".
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
export CHAOS_SECONDS=${CHAOS_SECONDS:-300}
ensure_build_deps
ensure_nextest
echo "commit $(git rev-parse --short HEAD)$(git diff --quiet || echo '+dirty'), $(date -u +%Y-%m-%dT%H:%MZ)"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load $(cut -d' ' -f1-3 /proc/loadavg); $CHAOS_SECONDS s"
log=$(mktemp /tmp/cairn-hostile-peer.XXXXXX)
status=0
# The long profile lets one test run past the default 3-minute limit.
cargo nextest run --release --workspace --locked --profile long --no-capture \
  -E 'test(serial_hostile_peer)' 2>&1 | tee "$log" || status=$?
verdict=$(grep -a '^hostile-peer: ' "$log" | tail -1 || true)
echo "${verdict:-hostile-peer: FAIL the test printed no verdict (see $log)}"
[[ -n $verdict ]] || status=1
exit "$status"
