#!/usr/bin/env bash
# Where the time and memory go under load: a 4-validator testnet on 127.0.0.1
# (the bench's config: timeout_commit 150 ms) offered PROFILE_RATE tx/s of
# pre-signed transfers by `cairn bench load`, while
#   - `perf record -e cpu-clock -a` samples every CPU for PROFILE_SAMPLE_SECONDS
#     in the middle of the load (cpu-clock: this VM has no hardware counters);
#   - each node's RSS is read every 2 s (node 0 serves the load generator's
#     websocket).
# Prints the load generator's JSON line, the RSS series, the CPU split by
# process (comm) and the top symbols over all processes and for one validator.
# Environment: PROFILE_RATE (default 2000), PROFILE_SECONDS (default 40),
#   PROFILE_SAMPLE_SECONDS (default 20), PROFILE_DIR (default a fresh temp dir),
#   PROFILE_CALL_GRAPH (perf's --call-graph: fp by default; `dwarf` unwinds
#   through .eh_frame, since the release build has no frame pointers),
#   CAIRN_STARTING_PORT (default 27900).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
export PROFILE_RATE=${PROFILE_RATE:-2000}
export PROFILE_SECONDS=${PROFILE_SECONDS:-40}
export PROFILE_SAMPLE_SECONDS=${PROFILE_SAMPLE_SECONDS:-20}
export PROFILE_CALL_GRAPH=${PROFILE_CALL_GRAPH:-fp}
export PROFILE_DIR=${PROFILE_DIR:-$(mktemp -d /tmp/cairn-profile.XXXXXX)}
export CAIRN_STARTING_PORT=${CAIRN_STARTING_PORT:-27900}
ensure_build_deps
command -v perf >/dev/null || apt_install linux-perf
cargo build --release --locked >&2
export CAIRN_BIN=$(cairn_bin)
echo "commit $(git rev-parse --short HEAD)$(git diff --quiet || echo '+dirty'), $(date -u +%Y-%m-%dT%H:%MZ); work dir $PROFILE_DIR"
python3 - <<'PY'
import os, subprocess, sys, threading, time
sys.path.insert(0, "scripts")
from cairnnet import Net, machine, metrics

rate, secs = int(os.environ["PROFILE_RATE"]), int(os.environ["PROFILE_SECONDS"])
sample, d = int(os.environ["PROFILE_SAMPLE_SECONDS"]), os.environ["PROFILE_DIR"]
print(f"machine: {machine()}; {rate} tx/s offered for {secs} s", flush=True)
net = Net(os.environ["CAIRN_BIN"], d, 4, int(os.environ["CAIRN_STARTING_PORT"]),
          extra_args=["--set", "consensus.timeout_commit_ms=150"], accounts=2000)

def rss_mib(pid):
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) // 1024
    except OSError:
        return None

def threads(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/task"))
    except OSError:
        return None

try:
    net.start_all()
    net.wait_height(0, 3, 120)
    args = [os.environ["CAIRN_BIN"], "bench", "load", "--accounts-dir", net.accounts_dir,
            "--rates", str(rate), "--duration", str(secs), "--drain", "10"]
    for i in range(4):
        args += ["--node", net.url(i), "--pid", str(net.procs[i].pid)]
    load = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    series, done = [], threading.Event()

    def sample_rss():
        t0 = time.time()
        while not done.wait(2):
            series.append((round(time.time() - t0), [rss_mib(p.pid) for p in net.procs],
                           [threads(p.pid) for p in net.procs]))
    threading.Thread(target=sample_rss, daemon=True).start()
    time.sleep(max(0, (secs - sample) / 2) + 5)  # +5: the generator signs before its clock
    subprocess.run(["perf", "record", "-q", "-e", "cpu-clock", "-F", "499", "-a",
                    "--call-graph", os.environ["PROFILE_CALL_GRAPH"],
                    "-o", f"{d}/perf.data", "--", "sleep", str(sample)],
                   check=True, stderr=subprocess.DEVNULL)
    out, _ = load.communicate(timeout=secs + 120)
    done.set()
    print("load:", out.strip())
    # Where a height's time goes, on validator 1 (never the websocket node).
    m = metrics(net.url(1))
    for name, what in [("cairn_consensus_decision_seconds", "height start to decision"),
                       ("cairn_state_block_processing_seconds", "execute and commit a block")]:
        n = m.get(f"{name}_count", 0)
        if n:
            print(f"validator 1: {what}: mean {1000 * m[f'{name}_sum'] / n:.0f} ms over {n:.0f} blocks")
    print("rss MiB and threads per node over time (node 0 serves the websocket):")
    for t, r, n in series:
        print(f"  t={t:>3}s rss {r} threads {n}")
    pids = ",".join(str(p.pid) for p in net.procs)
    with open(f"{d}/pids", "w") as f:
        f.write(pids)
finally:
    net.stop_all()
PY
perf script -i "$PROFILE_DIR/perf.data" -F pid,ip,sym,dso -G 2>/dev/null > "$PROFILE_DIR/samples.txt"
python3 - "$PROFILE_DIR" <<'PY'
import collections, re, sys
d = sys.argv[1]
validators = set(open(f"{d}/pids").read().split(","))
# First match wins: the order puts specific libraries before generic ones.
kinds = [("ed25519 verification (curve25519, sha512)", r"curve25519|sha512|Scalar52|subtle::|ed25519|zebra"),
         ("allocator (jemalloc, glibc)", r"malloc|_int_free|cfree|unlink_chunk|realloc|rust_dealloc|rust_alloc|operator new|_rjem_|rallocx|sdallocx|je_"),
         ("memcpy, memmove, memset, memcmp", r"mem(move|cpy|set|cmp)"),
         ("sha256 (tree, tx and key hashes)", r"sha256"),
         ("rocksdb (and lz4, zstd)", r"rocksdb|LZ4|ZSTD|lz4|zstd"),
         ("libp2p (gossipsub, yamux, noise)", r"libp2p|gossipsub|yamux|snow|noise|chacha|prost|multistream"),
         ("json (serde_json)", r"serde_json|format_escaped"),
         ("http (axum, hyper)", r"hyper|axum|http::|tower"),
         ("tokio, futures", r"tokio|futures|waker|mio"),
         ("btree and hash maps", r"btree|hashbrown|sip::|hash_one"),
         ("other cairn code", r"cairn_"),
         ("kernel", r"kernel\.kallsyms")]
by_pid, kinds_count, n = collections.Counter(), collections.Counter(), 0
for line in open(f"{d}/samples.txt"):
    fields = line.split(None, 2)
    if len(fields) < 3:
        continue
    pid, sym = fields[0], fields[2]
    by_pid[pid] += 1
    if pid not in validators:
        continue
    n += 1
    kinds_count[next((k for k, pat in kinds if re.search(pat, sym)), "other")] += 1
total = sum(by_pid.values()) or 1
print(f"CPU samples: validators {100 * n / total:.1f}%, of which:")
for k, c in kinds_count.most_common():
    print(f"  {100 * c / max(n, 1):5.1f}%  {k}")
PY
