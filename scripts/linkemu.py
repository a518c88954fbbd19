"""Links between network namespaces, shaped in user space.

This machine's kernel has no `sch_netem` (nor fq or prio), so `tc netem`
cannot shape links here. Instead each namespace gets a TUN device whose
other end is this process: every IPv4 packet a host sends to the shared /24
comes out of its TUN here, waits its link's delay (base +/- jitter), is
dropped with the link's loss probability or when a partition separates the
two hosts, and is written into the destination host's TUN. That is what
netem on every host's egress does, plus partitions. Standard library only;
Linux, root.
"""

import fcntl
import heapq
import os
import random
import selectors
import struct
import subprocess
import threading
import time

TUNSETIFF = 0x400454CA
IFF_TUN, IFF_NO_PI = 0x0001, 0x1000


def open_tun(name):
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    return fd


class Switch:
    """Hosts on 10.N.0.0/24, one per namespace, joined by shaped links.

    `shaped` hosts send with `delay_ms` +/- `jitter_ms` and lose `loss` of
    their packets; other hosts (the harness) send unshaped, and packets to
    them are not delayed either, so measurements see the nodes' timing.
    """

    def __init__(self, prefix, subnet, delay_ms=50, jitter_ms=10, loss=0.01):
        self.prefix, self.subnet = prefix, subnet
        self.delay_ms, self.jitter_ms, self.loss = delay_ms, jitter_ms, loss
        self.fds, self.shaped, self.extra_ms = {}, set(), {}
        self.groups = None  # None: no partition; else a list of sets of host numbers
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self.forwarded = self.dropped = 0
        self.rng = random.Random(1)

    def address(self, host):
        return f"{self.subnet}.0.{host}"

    def add_host(self, host, netns, shaped):
        """Gives `netns` address .host on a TUN device served by this switch.
        The device is made in the caller's namespace and moved into `netns`
        (None: stays here)."""
        name = f"{self.prefix}t{host}"
        fd = open_tun(name)
        ip = ["ip"] if netns is None else ["ip", "-n", netns]
        if netns is not None:
            subprocess.run(["ip", "link", "set", name, "netns", netns], check=True)
        subprocess.run([*ip, "addr", "add", f"{self.address(host)}/24", "dev", name], check=True)
        subprocess.run([*ip, "link", "set", name, "up"], check=True)
        subprocess.run([*ip, "link", "set", "lo", "up"], check=True)
        self.fds[host] = fd
        if shaped:
            self.shaped.add(host)

    def partition(self, *groups):
        with self.lock:
            self.groups = [set(g) for g in groups]

    def heal(self):
        with self.lock:
            self.groups = None

    def set_extra_delay(self, host, ms):
        with self.lock:
            self.extra_ms[host] = ms

    def _verdict(self, src, dst):
        """Seconds to hold a packet from src to dst, or None to drop it."""
        if src not in self.shaped or dst not in self.shaped:
            return 0.0
        with self.lock:
            if self.groups and not any(src in g and dst in g for g in self.groups):
                return None
            extra = self.extra_ms.get(src, 0)
        if self.rng.random() < self.loss:
            return None
        jitter = self.rng.uniform(-self.jitter_ms, self.jitter_ms)
        return max(0.0, self.delay_ms + extra + jitter) / 1000

    def run(self):
        sel = selectors.DefaultSelector()
        for host, fd in self.fds.items():
            sel.register(fd, selectors.EVENT_READ, host)
        pending, seq = [], 0
        while not self.stopped.is_set():
            wait = min(0.05, max(0.0, pending[0][0] - time.monotonic())) if pending else 0.05
            for key, _ in sel.select(wait):
                while True:
                    try:
                        packet = os.read(key.fd, 65535)
                    except BlockingIOError:
                        break
                    # IPv4 only: byte 0 is version and header length, 16-19 the destination.
                    if len(packet) < 20 or packet[0] >> 4 != 4:
                        continue
                    dst = packet[19]
                    if dst not in self.fds:
                        continue
                    hold = self._verdict(key.data, dst)
                    if hold is None:
                        self.dropped += 1
                        continue
                    seq += 1
                    heapq.heappush(pending, (time.monotonic() + hold, seq, dst, packet))
            now = time.monotonic()
            while pending and pending[0][0] <= now:
                _, _, dst, packet = heapq.heappop(pending)
                try:
                    os.write(self.fds[dst], packet)
                    self.forwarded += 1
                except OSError:
                    self.dropped += 1

    def start(self):
        threading.Thread(target=self.run, daemon=True).start()

    def stop(self):
        self.stopped.set()
