"""A local Cairn network for the measurement and chaos scripts.

Generates homes with `cairn testnet`, starts and kills `cairn start`
processes by pid (never by name), and reads the nodes' JSON-RPC and
Prometheus metrics. Standard library only.
"""

import datetime
import json
import os
import re
import signal
import subprocess
import time
import urllib.request


def rpc(url, path, timeout=3):
    """GET url/path and return the JSON-RPC result, or None on any failure."""
    try:
        with urllib.request.urlopen(f"{url}/{path}", timeout=timeout) as r:
            body = json.load(r)
        return body.get("result")
    except Exception:
        return None


def post(url, method, params, timeout=10):
    """A JSON-RPC POST; the result, or None on any failure."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()
    req = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return json.load(r).get("result")
    except Exception:
        return None


def metrics(url, timeout=3):
    """The node's Prometheus samples as {name{labels}: value}."""
    out = {}
    try:
        with urllib.request.urlopen(f"{url}/metrics", timeout=timeout) as r:
            text = r.read().decode()
    except Exception:
        return out
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            try:
                out[name] = float(value)
            except ValueError:
                pass
    return out


class Net:
    """N validators generated under `dir`, started with `cairn start`."""

    def __init__(self, cairn, dir, validators=4, port=27000, extra_args=(),
                 full_nodes=0, accounts=4):
        self.cairn, self.dir = cairn, dir
        os.makedirs(dir, exist_ok=True)
        subprocess.run(
            [cairn, "testnet", "--validators", str(validators), "--full-nodes",
             str(full_nodes), "--accounts", str(accounts), "--output",
             f"{dir}/net", "--starting-port", str(port), "--overwrite"],
            check=True, stdout=subprocess.DEVNULL)
        self.accounts_dir = f"{dir}/net/accounts"
        with open(f"{dir}/net/nodes.json") as f:
            self.nodes = json.load(f)["nodes"]
        self.extra_args = list(extra_args)
        self.procs = [None] * len(self.nodes)
        # Per node: what `cairn start` runs under (e.g. `ip netns exec NS`).
        self.wrappers = [[] for _ in self.nodes]
        os.makedirs(f"{dir}/logs", exist_ok=True)

    def move_to_hosts(self, hosts):
        """Node i listens on hosts[i] (for p2p and RPC) instead of 127.0.0.1,
        and every node's persistent peers follow: the generated addresses
        are rewritten by port, each port being one node's."""
        owner = {}
        for i, n in enumerate(self.nodes):
            for addr in (n["rpc_url"], n["p2p_address"]):
                owner[addr.rsplit(":", 1)[1]] = hosts[i]
        def rewrite(text):
            return re.sub(r"127\.0\.0\.1:(\d+)",
                          lambda m: f"{owner.get(m[1], '127.0.0.1')}:{m[1]}", text)
        for n in self.nodes:
            path = f"{n['home']}/config/config.toml"
            with open(path) as f:
                text = rewrite(f.read())
            with open(path, "w") as f:
                f.write(text)
            n["rpc_url"] = rewrite(n["rpc_url"])

    def url(self, i):
        return self.nodes[i]["rpc_url"]

    def start(self, i):
        log = open(f"{self.dir}/logs/node{i}.log", "ab")
        self.procs[i] = subprocess.Popen(
            [*self.wrappers[i], self.cairn, "start", "--home", self.nodes[i]["home"],
             *self.extra_args],
            stdout=log, stderr=subprocess.STDOUT)

    def start_all(self):
        for i in range(len(self.nodes)):
            self.start(i)

    def kill9(self, i):
        p = self.procs[i]
        if p and p.poll() is None:
            p.send_signal(signal.SIGKILL)
            p.wait()
        self.procs[i] = None

    def stop_all(self):
        for p in self.procs:
            if p and p.poll() is None:
                p.send_signal(signal.SIGTERM)
        deadline = time.time() + 20
        for i, p in enumerate(self.procs):
            if p:
                try:
                    p.wait(max(0.1, deadline - time.time()))
                except subprocess.TimeoutExpired:
                    self.kill9(i)
        self.procs = [None] * len(self.nodes)

    def height(self, i):
        r = rpc(self.url(i), "status")
        return int(r["sync_info"]["latest_block_height"]) if r else None

    def wait_height(self, i, h, secs):
        deadline = time.time() + secs
        while time.time() < deadline:
            x = self.height(i)
            if x is not None and x >= h:
                return x
            time.sleep(0.2)
        raise TimeoutError(f"node {i} did not reach height {h} in {secs} s")

    def validator_address(self, i):
        return self.nodes[i]["validator_address"].upper()

    def signers(self, i, h):
        """Addresses that signed the commit of height h (as node i serves it)."""
        r = rpc(self.url(i), f"commit?height={h}")
        if not r:
            return None
        sigs = r["signed_header"]["commit"]["signatures"]
        return {s["validator_address"] for s in sigs if s["block_id_flag"] == 2}

    def block_time_ns(self, i, h):
        r = rpc(self.url(i), f"header?height={h}")
        return parse_rfc3339_ns(r["header"]["time"]) if r else None


def wait_signs(net, observer, i, after_height, timeout):
    """Seconds until a commit above `after_height`, as `observer` serves it,
    carries validator i's signature; None after `timeout` seconds."""
    me, start, seen = net.validator_address(i), time.time(), after_height
    while time.time() - start < timeout:
        tip = net.height(observer) or seen
        for h in range(seen + 1, tip + 1):
            s = net.signers(observer, h)
            if s is None:
                break
            seen = h
            if me in s:
                return time.time() - start
        time.sleep(0.2)
    return None


def parse_rfc3339_ns(s):
    """Nanoseconds since the epoch of CometBFT's RFC 3339 time."""
    main, _, frac = s.rstrip("Z").partition(".")
    dt = datetime.datetime.strptime(main, "%Y-%m-%dT%H:%M:%S").replace(
        tzinfo=datetime.timezone.utc)
    return int(dt.timestamp()) * 10**9 + int((frac or "0").ljust(9, "0")[:9])


def percentile(values, p):
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def machine():
    model = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    load = open("/proc/loadavg").read().split()[:3]
    return f"{os.cpu_count()} cores, {model}, load {' '.join(load)}"
