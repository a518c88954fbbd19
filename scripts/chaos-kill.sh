#!/usr/bin/env bash
# Process chaos: kill -9 a random validator under load, restart it 5 s later,
# and judge what the chain did. 4 validators plus one full node (never
# killed) that the load generator follows.
#   load: 1,000 tx/s of transfers and compare-and-set Puts (broadcast_tx_sync),
#         every 50th tx through broadcast_tx_commit (an acknowledged commit)
#   faults: kill -9, restart 5 s later; the next kill 5-20 s after the
#         restarted validator signs a commit again; never two down at once
# Verdict (the last line: "chaos-kill: PASS ..." or "chaos-kill: FAIL ..."):
#   identical block hashes on every node at every height; no evidence;
#   every acknowledged tx committed exactly once with the reported height
#   and result; every compare-and-set result agrees with the chain's order,
#   and the final value with the replay; a restarted validator signs again
#   within 15 s; the commit rate under faults is at least 50% of the
#   fault-free rate (the mean per-step rate of the load steps offered wholly
#   inside the kill phase against those offered before the first kill). Runs shorter than 300 s (the short form) check the time
#   bound at three times (45 s); safety checks are the same.
# Environment: CHAOS_SECONDS (default 600), CHAOS_RATE (default 1000),
#   CHAOS_DIR (default a fresh temp dir), CAIRN_STARTING_PORT (default 27800).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
export CHAOS_RATE=${CHAOS_RATE:-1000}
chaos_prologue chaos-kill 600 27800
exec python3 - <<'PY'
import base64, json, os, random, subprocess, sys, time
sys.path.insert(0, "scripts")
from cairnnet import Net, machine, post, rpc, wait_signs

secs, rate, d = int(os.environ["CHAOS_SECONDS"]), int(os.environ["CHAOS_RATE"]), os.environ["CHAOS_DIR"]
short = secs < 300
rejoin_bound = 15 * (3 if short else 1)
print(f"machine: {machine()}; {secs} s at {rate} tx/s ({'short' if short else 'long'} form)", flush=True)
net = Net(os.environ["CAIRN_BIN"], d, 4, int(os.environ["CAIRN_STARTING_PORT"]), full_nodes=1, accounts=200)
OBS = 4
failures, load, figures = [], None, ""

try:
    net.start_all()
    net.wait_height(OBS, 3, 120)
    step = 10
    steps = secs // step + 1  # more than fit: --max-seconds ends the load on time
    record = f"{d}/record.jsonl"
    args = [os.environ["CAIRN_BIN"], "bench", "load", "--observer", net.url(OBS),
            "--accounts-dir", net.accounts_dir, "--rates", ",".join([str(rate)] * steps),
            "--duration", str(step), "--drain", "5", "--put-senders", "20",
            "--commit-every", "50", "--record", record, "--max-seconds", str(secs - step)]
    for i in range(4):
        args += ["--node", net.url(i)]
    load = subprocess.Popen(args, stdout=open(f"{d}/load.jsonl", "w"), stderr=open(f"{d}/load.log", "w"))
    started = time.time()
    deadline = started + secs

    # Fault-free phase: the first fifth of the run (at least 15 s, so that
    # at least one load step of 10 s ends before the first kill).
    time.sleep(max(15, secs / 5))

    kills, rejoins, first_kill = 0, [], None
    while time.time() < deadline - 30:
        i = random.randrange(4)
        first_kill = first_kill or time.time()
        net.kill9(i)
        kills += 1
        time.sleep(5)
        # Signatures in commits above this height were made after the restart.
        h = net.height(OBS)
        net.start(i)
        took = wait_signs(net, OBS, i, h, 120)
        print(f"kill {kills}: validator {i}, restarted at height {h}; signed again "
              f"{'never (120 s)' if took is None else f'{took:.1f} s after restart'}", flush=True)
        rejoins.append(took if took is not None else float("inf"))
        if took is None:
            break
        time.sleep(random.uniform(5, 10 if short else 20))
    t_c1 = time.time()

    try:
        load.wait(timeout=max(60, deadline - time.time() + 90))
    except subprocess.TimeoutExpired:
        load.kill()
        failures.append("the load generator did not finish")
    if load.returncode not in (0, None):
        failures.append(f"load generator exited {load.returncode}: {open(f'{d}/load.log').read()[-300:]}")

    # Safety: one chain everywhere, no evidence.
    tip = min(net.height(i) or 0 for i in range(5))
    for h in range(1, tip + 1):
        blocks = [rpc(net.url(i), f"block?height={h}") for i in range(5)]
        hashes = {b["block_id"]["hash"] if b else None for b in blocks}
        if len(hashes) != 1 or None in hashes:
            failures.append(f"nodes disagree (or miss) block {h}: {hashes}")
            break
        ev = blocks[OBS]["block"]["evidence"]["evidence"]
        if ev:
            failures.append(f"evidence at height {h} against an honest validator")
            break

    # Acknowledged txs and compare-and-set order.
    committed, acks, unseen = {}, [], None
    for line in open(record):
        r = json.loads(line)
        if "ack" in r:
            acks.append(r)
        elif "unseen" in r:
            unseen = r["unseen"]
        elif r["hash"] in committed:
            failures.append(f"tx {r['hash']} committed twice")
        else:
            committed[r["hash"]] = r
    for a in acks:
        c = committed.get(a["hash"])
        if c is None or c["height"] != a["height"] or c["code"] != a["code"]:
            failures.append(f"acknowledged tx {a['hash']} (height {a['height']}, code {a['code']}) is not in the chain as acknowledged: {c}")
            break
    for a in random.sample(acks, min(100, len(acks))):
        t = rpc(net.url(random.randrange(4)), f"tx?hash=0x{a['hash']}")
        if not t or int(t["height"]) != a["height"] or t["tx_result"]["code"] != a["code"]:
            failures.append(f"tx query disagrees with the acknowledgement of {a['hash']}: {t}")
            break
    puts = {}
    for c in sorted(committed.values(), key=lambda c: (c["height"], c["index"])):
        if c["meta"]["kind"] == "put":
            puts.setdefault(c["meta"]["owner"], []).append(c)
    cas_checked = 0
    for owner, seq in puts.items():
        reg = None
        for c in seq:
            m = c["meta"]
            holds = m["expects"] is None or reg == m["expects"]
            if holds != (c["code"] == 0):
                failures.append(f"compare-and-set of {owner} at {c['height']}/{c['index']} answered code {c['code']} but the chain's order says the condition {'held' if holds else 'failed'}")
                break
            if holds:
                reg = m["value"]
            cas_checked += 1
        q = post(net.url(0), "abci_query", {"path": "/store/put", "data": owner + b"cas".hex()})
        value = q and q["response"]["value"]
        got = int.from_bytes(base64.b64decode(value), "big") if value else None
        if got != reg:
            failures.append(f"final value of {owner}'s key is {got}, the replay says {reg}")

    # Liveness.
    if rejoins and max(rejoins) > rejoin_bound:
        failures.append(f"a restarted validator took {max(rejoins):.1f} s to sign again (bound {rejoin_bound} s)")
    # Commit rate of the load's steps (each step's committed txs over its
    # first submission to its last commit): steps offered before the first
    # kill against steps offered wholly inside the kill phase. Counting txs
    # per wall-clock second instead would mix in the generator's pauses
    # between steps (drain, nonce re-read, signing) wherever they fell.
    steps = [json.loads(l) for l in open(f"{d}/load.jsonl") if l.strip()]
    def mean_rate(ss):
        return sum(s["committed_tps"] for s in ss) / len(ss) if ss else 0.0
    free_steps = [s for s in steps if first_kill and s["window_unix_s"][1] <= first_kill]
    chaos_steps = [s for s in steps if first_kill and first_kill <= s["window_unix_s"][0]
                   and s["window_unix_s"][1] <= t_c1]
    free_rate, chaos_rate = mean_rate(free_steps), mean_rate(chaos_steps)
    ratio = chaos_rate / free_rate if free_rate else 0.0
    if not free_steps or not chaos_steps:
        failures.append(f"no load step fell wholly before the first kill ({len(free_steps)}) "
                        f"or wholly inside the kills ({len(chaos_steps)}): CHAOS_SECONDS too short")
    elif ratio < 0.5:
        failures.append(f"commit rate under faults {chaos_rate:.0f} tx/s is {ratio:.0%} of the fault-free {free_rate:.0f} tx/s")
    if kills == 0:
        failures.append("no kill happened (CHAOS_SECONDS too short)")
    figures = (f"kills={kills} heights={tip} committed={len(committed)} acked={len(acks)} cas={cas_checked} "
               f"unseen={unseen} rejoin_max_s={max(rejoins, default=0):.1f} fault_free_tps={free_rate:.0f} "
               f"chaos_tps={chaos_rate:.0f} ratio={ratio:.2f} steps={len(free_steps)}+{len(chaos_steps)}")
except Exception as e:  # a crash of the harness is a failed run, with its reason
    failures.append(f"harness error: {e!r}")
finally:
    if load and load.poll() is None:
        load.kill()
    net.stop_all()
if failures:
    print("\n".join(f"  - {f}" for f in failures))
    print(f"chaos-kill: FAIL {failures[0][:200]} ({figures})")
    sys.exit(1)
print(f"chaos-kill: PASS {figures}")
PY
