#!/usr/bin/env python3
"""PUBLISH fan-out, Shoal and redis-server side by side.

For 1 and for 100 subscribers of one channel, redis-benchmark publishes
on it (50 clients, pipeline 16) while this script drains every
subscriber; once every message has arrived it reports the server's CPU
time per delivered message, throughput in delivered messages per second,
and the Shoal/Redis ratios. Release build first: cargo build --release.

    python3 benches/pubsub.py [--rounds 3] [--shoal PATH] [--redis PATH]
"""

import argparse
import selectors
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench  # noqa: E402  (the shared server and RESP helpers)

CHANNEL = "bench-channel"
MESSAGE = "m" * 16
# (subscribers, publishes): about 2M deliveries each.
CASES = [(1, 400_000), (100, 20_000)]


def message_bytes():
    return len(bench.encode("message", CHANNEL, MESSAGE))


class Subscribers:
    """Subscribed sockets drained by one thread, counting bytes."""

    def __init__(self, port, count):
        self.socks = []
        for _ in range(count):
            s = socket.create_connection(("127.0.0.1", port))
            s.sendall(bench.encode("SUBSCRIBE", CHANNEL))
            got = b""
            while not got.endswith(b":1\r\n"):  # the confirmation's count
                got += s.recv(4096)
            s.setblocking(False)
            self.socks.append(s)
        self.received = 0
        self.stop = False
        self.thread = threading.Thread(target=self.drain, daemon=True)
        self.thread.start()

    def drain(self):
        sel = selectors.DefaultSelector()
        for s in self.socks:
            sel.register(s, selectors.EVENT_READ)
        while not self.stop:
            for key, _ in sel.select(timeout=0.1):
                try:
                    data = key.fileobj.recv(1 << 20)
                except BlockingIOError:
                    continue
                self.received += len(data)

    def close(self):
        self.stop = True
        self.thread.join()
        for s in self.socks:
            s.close()


def run_case(rb, server, subscribers, publishes):
    subs = Subscribers(server.port, subscribers)
    expected = publishes * subscribers * message_bytes()
    cpu_before = server.cpu_seconds()
    started = time.monotonic()
    subprocess.run(
        [rb, "-p", str(server.port), "-c", "50", "-P", "16", "-n", str(publishes), "-q",
         "publish", CHANNEL, MESSAGE],
        check=True, stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while subs.received < expected and time.monotonic() < deadline:
        time.sleep(0.01)
    elapsed = time.monotonic() - started
    cpu = server.cpu_seconds() - cpu_before
    got = subs.received
    subs.close()
    if got < expected:
        raise bench.BenchError("%s: %d of %d bytes delivered" % (server.name, got, expected))
    deliveries = publishes * subscribers
    return {"cpu_ns": cpu * 1e9 / deliveries, "rate": deliveries / elapsed}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--shoal", default=str(bench.DEFAULT_SHOAL))
    ap.add_argument("--redis", default=shutil.which("redis-server"))
    args = ap.parse_args()
    rb = shutil.which("redis-benchmark")
    if not rb or not args.redis:
        sys.exit("redis-server and redis-benchmark are required (apt-get install redis-server redis-tools)")
    taken = set()
    with tempfile.TemporaryDirectory() as work:
        servers = [bench.Server("Shoal", [args.shoal], work, taken), bench.Server("Redis", [args.redis], work, taken)]
        for s in servers:
            s.start()
        try:
            results = {(s.name, case): [] for s in servers for case in CASES}
            for _ in range(args.rounds):
                for case in CASES:
                    for s in servers:
                        results[(s.name, case)].append(run_case(rb, s, *case))
        finally:
            for s in servers:
                s.stop()
    print("| subscribers | Shoal ns/delivery | Redis ns/delivery | CPU ratio | Shoal deliveries/s | Redis deliveries/s | rate ratio |")
    print("|---|---|---|---|---|---|---|")
    for case in CASES:
        shoal, redis = results[("Shoal", case)], results[("Redis", case)]
        cpu_ratios = [a["cpu_ns"] / b["cpu_ns"] for a, b in zip(shoal, redis)]
        rate_ratios = [a["rate"] / b["rate"] for a, b in zip(shoal, redis)]
        med = lambda rows, k: statistics.median(r[k] for r in rows)  # noqa: E731
        print("| %d | %.0f | %.0f | %.2f | %.0f | %.0f | %.2f |" % (
            case[0], med(shoal, "cpu_ns"), med(redis, "cpu_ns"), statistics.median(cpu_ratios),
            med(shoal, "rate"), med(redis, "rate"), statistics.median(rate_ratios)))


if __name__ == "__main__":
    main()
