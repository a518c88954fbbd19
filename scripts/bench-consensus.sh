#!/usr/bin/env bash
# Consensus on loopback with the default config (no --set overrides):
# empty-block rate, block interval, decision latency, and how long a
# kill -9'd validator takes to catch up and sign again.
# Usage: scripts/bench-consensus.sh
#   BENCH_SECONDS   measuring window for empty blocks (default 120; BENCH_QUICK=1: 30)
#   BENCH_KILLS     kill -9 / restart cycles of validator 3 (default 3; BENCH_QUICK=1: 1)
#   BENCH_DIR       where homes and logs go (default a fresh temp dir)
#   CAIRN_STARTING_PORT  first port (default 27600)
# Prints the commit, machine and figures; the last line is the summary.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
quick=${BENCH_QUICK:-0}
export BENCH_SECONDS=${BENCH_SECONDS:-$([[ $quick == 1 ]] && echo 30 || echo 120)}
export BENCH_KILLS=${BENCH_KILLS:-$([[ $quick == 1 ]] && echo 1 || echo 3)}
export BENCH_DIR=${BENCH_DIR:-$(mktemp -d /tmp/cairn-bench-consensus.XXXXXX)}
export CAIRN_STARTING_PORT=${CAIRN_STARTING_PORT:-27600}
ensure_build_deps
cargo build --release --locked
export CAIRN_BIN=$(cairn_bin)
echo "commit: $(git rev-parse --short HEAD)$(git diff --quiet || echo ' (modified)')"
echo "date: $(date -u +%Y-%m-%dT%H:%MZ)"
exec python3 - <<'PY'
import os, sys, time
sys.path.insert(0, "scripts")
from cairnnet import Net, metrics, percentile, machine, wait_signs

secs, kills = int(os.environ["BENCH_SECONDS"]), int(os.environ["BENCH_KILLS"])
print(f"machine: {machine()}")
net = Net(os.environ["CAIRN_BIN"], os.environ["BENCH_DIR"], 4, int(os.environ["CAIRN_STARTING_PORT"]))
try:
    net.start_all()
    for i in range(4):
        net.wait_height(i, 3, 120)

    def decisions():
        out = []
        for i in range(4):
            m = metrics(net.url(i))
            out.append((m.get("cairn_consensus_decision_seconds_sum", 0.0),
                        m.get("cairn_consensus_decision_seconds_count", 0.0)))
        return out

    h0, t0, d0 = net.height(0), time.time(), decisions()
    time.sleep(secs)
    h1, t1, d1 = net.height(0), time.time(), decisions()
    rate = (h1 - h0) / (t1 - t0)
    times = [net.block_time_ns(0, h) for h in range(h0, h1 + 1)]
    intervals = [(b - a) / 1e6 for a, b in zip(times, times[1:])]
    per_node = [(s1 - s0) / (c1 - c0) * 1e3 for (s0, c0), (s1, c1) in zip(d0, d1) if c1 > c0]
    decision_ms = sum(per_node) / len(per_node)
    print(f"empty blocks: {h1 - h0} in {t1 - t0:.1f} s = {rate:.2f} blocks/s")
    print(f"block interval (BFT time): p50 {percentile(intervals, 50):.0f} ms, "
          f"p99 {percentile(intervals, 99):.0f} ms, max {max(intervals):.0f} ms")
    print("decision latency (height start -> decision, per node): "
          + ", ".join(f"{x:.0f} ms" for x in per_node))

    caught, signed = [], []
    for k in range(kills):
        net.kill9(3)
        time.sleep(5)
        top = net.height(0)
        restarted = time.time()
        net.start(3)
        caught_at = None
        while caught_at is None and time.time() - restarted < 120:
            h3, h0 = net.height(3), net.height(0)
            if h3 is not None and h0 is not None and h3 >= h0:
                caught_at = time.time() - restarted
            time.sleep(0.1)
        # Catching up precedes signing, so the search for its signature
        # (from the kill height on) starts late by at most the catch-up time.
        waited = time.time() - restarted
        took = wait_signs(net, 0, 3, top, 120)
        signed_at = None if took is None else waited + took
        if signed_at is None:
            print(f"kill {k + 1}: validator 3 did not sign again within 120 s")
            sys.exit(1)
        caught.append(caught_at if caught_at is not None else signed_at)
        signed.append(signed_at)
        print(f"kill {k + 1}: restarted 5 s after kill -9 at height {top}; caught up in "
              f"{caught[-1]:.1f} s, signed a commit again {signed_at:.1f} s after restart")
        time.sleep(5)
    print(f"bench-consensus: blocks_per_s={rate:.2f} interval_p50_ms={percentile(intervals, 50):.0f} "
          f"decision_ms={decision_ms:.0f} rejoin_sign_s={max(signed):.1f} rejoin_caught_up_s={max(caught):.1f}")
finally:
    net.stop_all()
PY
