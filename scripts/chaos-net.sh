#!/usr/bin/env bash
# Network chaos: 4 validators, each in its own network namespace, and the
# harness in a fifth. This kernel has no sch_netem (nor fq or prio), so the
# links are shaped in user space (scripts/linkemu.py): each namespace has a
# TUN device on 10.77.0.0/24 whose packets pass through the harness, which
# delays each validator's packets by 50 ms +/- 10 ms and drops 1% of them,
# as netem on every validator's egress would; partitions drop packets
# between the two sides. The harness's own traffic (RPC) is not shaped.
# Only addresses inside these namespaces are used. Scenarios, in order:
#   steady     commits at a steady block rate;
#   split 2|2  {0,1} cut from {2,3}: no block is committed anywhere; after
#              healing, commits resume within 10 s;
#   split 3|1  validator 3 cut off: the majority keeps committing; after
#              healing, validator 3 reaches the majority's height within 30 s;
#   delay      validator 2's packets delayed by 300 ms more: the chain keeps
#              at least 80% of the steady block rate;
# and, over the whole run, every node holds the same block hash at every
# height. The last line is the verdict: "chaos-net: PASS ..." or
# "chaos-net: FAIL ...".
# Runs shorter than 300 s (the short form) shorten the phases, check the time
# bounds at three times (30 s, 90 s) and the delayed block rate at 50%; the
# safety checks (no commit in 2|2, one chain) are the same.
# Environment: CHAOS_SECONDS (default 300), CHAOS_DIR (default a fresh temp
#   dir), CAIRN_STARTING_PORT (default 27600). Needs root (ip netns, TUN).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
[[ $(id -u) == 0 ]] || { echo "chaos-net: FAIL not root (ip netns and TUN devices need it)"; exit 1; }
command -v ip >/dev/null || apt_install iproute2
chaos_prologue chaos-net 300 27600

# Namespace names carry this shell's pid, so other runs are never touched;
# ours go on exit, with any process still inside them (only our nodes).
export NS=cn$$
namespaces=("$NS-cl" "$NS-v0" "$NS-v1" "$NS-v2" "$NS-v3")
cleanup() {
  local ns
  for ns in "${namespaces[@]}"; do
    ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
    ip netns del "$ns" 2>/dev/null || true
  done
}
trap cleanup EXIT
for ns in "${namespaces[@]}"; do ip netns add "$ns"; done

ip netns exec "$NS-cl" python3 - <<'PY'
import os, sys, time
sys.path.insert(0, "scripts")
from cairnnet import Net, machine, rpc
from linkemu import Switch

secs, d, ns = int(os.environ["CHAOS_SECONDS"]), os.environ["CHAOS_DIR"], os.environ["NS"]
short = secs < 300
switch = Switch(ns, "10.77")
for i in range(4):
    switch.add_host(i + 1, f"{ns}-v{i}", shaped=True)
switch.add_host(100, None, shaped=False)  # the harness, in this namespace
switch.start()
hosts = [switch.address(i + 1) for i in range(4)]
# Phase lengths: the long form uses the issue's 30 s partitions and spends
# the rest of the time on the two rate measurements.
split = 10 if short else 30
rate_window = max(15, (secs - 150) // 2) if short else max(40, (secs - 160) // 2)
resume_bound, catchup_bound = (30, 90) if short else (10, 30)
delayed_floor = 0.5 if short else 0.8
print(f"machine: {machine()}; {secs} s ({'short' if short else 'long'} form); partitions {split} s, "
      f"rate windows {rate_window} s", flush=True)

def cut(*groups):
    switch.partition(*({i + 1 for i in g} for g in groups))

def delay(i, extra_ms):
    switch.set_extra_delay(i + 1, extra_ms)

def heights():
    return [net.height(i) for i in range(4)]

def tip():
    return max((h for h in heights() if h is not None), default=0)

def block_rate(seconds, nodes=range(4)):
    """Heights per second over `seconds`, at the highest of `nodes`."""
    def top():
        return max((net.height(i) or 0) for i in nodes)
    h0, t0 = top(), time.time()
    time.sleep(seconds)
    return (top() - h0) / (time.time() - t0)

def wait_until(pred, bound):
    start = time.time()
    while time.time() - start < bound:
        if pred():
            return time.time() - start
        time.sleep(0.2)
    return None

net = Net(os.environ["CAIRN_BIN"], d, 4, int(os.environ["CAIRN_STARTING_PORT"]))
net.move_to_hosts(hosts)
for i in range(4):
    net.wrappers[i] = ["ip", "netns", "exec", f"{ns}-v{i}"]
failures, figures = [], {}
try:
    net.start_all()
    net.wait_height(0, 3, 120)

    steady = block_rate(rate_window)
    figures["steady_bps"] = round(steady, 2)
    print(f"steady: {steady:.2f} blocks/s over {rate_window} s", flush=True)

    cut([0, 1], [2, 3])
    time.sleep(3)  # a height already decided may still reach the other node of its side
    frozen = tip()
    time.sleep(split - 3)
    during = tip()
    figures["split22_new_blocks"] = during - frozen
    print(f"split 2|2 for {split} s: highest height {frozen} -> {during}", flush=True)
    if during > frozen:
        failures.append(f"{during - frozen} block(s) committed during the 2|2 partition")
    switch.heal()
    resumed = wait_until(lambda: tip() > during, resume_bound * 2)
    resumed = None if resumed is None else round(resumed, 1)
    figures["resume_s"] = resumed
    print(f"healed: next commit after {resumed} s (bound {resume_bound} s)", flush=True)
    if resumed is None or resumed > resume_bound:
        failures.append(f"commits resumed after {resumed} s (> {resume_bound} s)")
    net.wait_height(3, tip(), 60)

    cut([0, 1, 2], [3])
    majority = block_rate(split, nodes=[0, 1, 2])
    figures["majority_bps"] = round(majority, 2)
    print(f"split 3|1 for {split} s: majority {majority:.2f} blocks/s, minority at "
          f"{net.height(3)} vs majority {tip()}", flush=True)
    if majority <= 0:
        failures.append("the 3-validator majority committed nothing while validator 3 was cut off")
    switch.heal()
    target = max(net.height(i) or 0 for i in range(3))
    caught = wait_until(lambda: (net.height(3) or 0) >= target, catchup_bound * 2)
    caught = None if caught is None else round(caught, 1)
    figures["catchup_s"] = caught
    print(f"healed: validator 3 reached height {target} after {caught} s (bound {catchup_bound} s)",
          flush=True)
    if caught is None or caught > catchup_bound:
        failures.append(f"the minority caught up after {caught} s (> {catchup_bound} s)")

    delay(2, 300)
    time.sleep(5)  # let the slower links settle into the rounds
    slowed = block_rate(rate_window)
    delay(2, 0)
    ratio = slowed / steady if steady else 0
    figures["delayed_ratio"] = round(ratio, 2)
    print(f"validator 2 delayed by 300 ms: {slowed:.2f} blocks/s = {ratio:.2f} of steady "
          f"(floor {delayed_floor})", flush=True)
    if ratio < delayed_floor:
        failures.append(f"block rate with one slow validator {ratio:.2f} of steady (< {delayed_floor})")

    # One chain: the same block hash at every height on every node.
    top = min(h for h in heights() if h is not None)
    for h in range(1, top + 1):
        ids = {(rpc(net.url(i), f"block?height={h}") or {}).get("block_id", {}).get("hash")
               for i in range(4)}
        if len(ids) != 1 or None in ids:
            failures.append(f"nodes disagree (or fail to answer) at height {h}: {ids}")
            break
    figures["heights"] = top
except Exception as e:  # a harness or node failure is a FAIL, never a silent pass
    failures.append(f"{type(e).__name__}: {e}")
finally:
    net.stop_all()
    switch.stop()
    figures["packets"] = f"{switch.forwarded}/{switch.dropped}"  # forwarded/dropped

summary = " ".join(f"{k}={v}" for k, v in figures.items())
if failures:
    print(f"chaos-net: FAIL {'; '.join(failures)} ({summary})")
    sys.exit(1)
print(f"chaos-net: PASS {summary}")
PY
