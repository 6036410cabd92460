#!/usr/bin/env python3
"""Automatic failover under kill -9, side by side: Shoal and redis-server
data nodes, each watched by Shoal's and by Redis's sentinels.

One master, two replicas and three sentinels on this machine (loopback).
A writer follows the master as a Sentinel-aware client does: it asks a
sentinel for the master's address (SENTINEL GET-MASTER-ADDR-BY-NAME),
sends SET k<n> <n> one at a time and counts a write acknowledged when the
reply is +OK; on an error or a broken connection it asks the sentinels
again every 10 ms. After two seconds of writes the master is killed with
SIGKILL. Measured:

  downtime       from the kill until the first write acknowledged by
                 another node (the promoted replica);
  lost           writes acknowledged (by the old master before the kill,
                 or by anyone after) that the new master does not hold
                 once the surviving replica follows it; with --wait each
                 acknowledged SET is followed by WAIT 1 100, and the writes
                 WAIT confirmed on a replica are counted apart (the ones a
                 failover must never lose);
  rejoin         the old master is then restarted from its own config
                 file (no persistence: it comes back empty and, since it
                 crashed before any rewrite, believing it is a master). A
                 client that still talks to it (a stale address) writes
                 every 10 ms: how long it accepts writes before it becomes
                 a replica, and how many it acknowledged, all of which are
                 lost when it resyncs. With --fence, Shoal data nodes run
                 with master-fence-on-restart yes (ARCHITECTURE.md): the
                 restarted node refuses writes until a sentinel lifts the
                 fence or makes it a replica.

Sentinels use down-after-milliseconds and failover-timeout from the
command line (defaults 1000 and 10000 ms), quorum 2, parallel-syncs 1.
Each combination runs --rounds times; the table shows medians.

    cargo build --release
    python3 benches/failover.py [--rounds N] [--down-after MS] [--output markdown] [--wait] [--fence]
                                [--combos shoal/shoal,shoal/redis,redis/shoal,redis/redis]

A combination is data nodes / sentinels. Combinations with Shoal
sentinels run when `shoal-server --sentinel` serves; otherwise they are
reported as unavailable. Standard library only; reuses bench.py's client.
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402

MASTER_NAME = "mymaster"
WAIT_TIMEOUT_MS = 100


class Node:
    """A data node or a sentinel started from a config file of its own."""

    def __init__(self, name, argv, workdir, port, lines, sentinel=False):
        self.name = name
        self.argv = argv
        self.port = port
        self.sentinel = sentinel
        self.dir = Path(workdir) / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.conf = self.dir / "node.conf"
        self.conf.write_text("\n".join(["port %d" % port, "bind 127.0.0.1", 'dir "%s"' % self.dir] + lines) + "\n")
        self.log = self.dir / "node.log"
        self.proc = None

    def start(self):
        args = self.argv + [str(self.conf)] + (["--sentinel"] if self.sentinel else [])
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(args, cwd=self.dir, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                with bench.Conn(self.port, timeout=2) as c:
                    if c.call("PING") == "PONG":
                        return
            except (OSError, bench.BenchError):
                time.sleep(0.05)
        self.stop()
        raise bench.BenchError("%s did not start; log:\n%s" % (self.name, self.log_tail()))

    def log_tail(self, lines=20):
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def kill9(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()  # SIGKILL to this pid only
            self.proc.wait()
        self.proc = None

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def call(self, *args, timeout=2.0):
        with bench.Conn(self.port, timeout=timeout) as c:
            return c.call(*args)


def wait_for(what, check, deadline_s):
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except (OSError, bench.BenchError):
            pass
        time.sleep(0.05)
    raise bench.BenchError("timed out waiting for %s" % what)


def fields(pairs):
    return {pairs[i].decode(): pairs[i + 1].decode() for i in range(0, len(pairs) - 1, 2)}


class Writer(threading.Thread):
    """Writes SET k<n> <n> one at a time to the master the sentinels name."""

    def __init__(self, sentinels, prefix, fixed_port=None, wait=False):
        super().__init__(daemon=True)
        self.sentinels = sentinels
        self.wait = wait
        self.confirmed = []  # n of writes WAIT 1 confirmed on a replica
        self.prefix = prefix
        self.fixed_port = fixed_port
        self.stop_flag = threading.Event()
        self.acked = []  # (n, port, monotonic time)
        self.errors = 0
        self.first_refusal = None  # for a fixed port: first error reply

    def master_port(self):
        if self.fixed_port is not None:
            return self.fixed_port
        for s in self.sentinels:
            try:
                with bench.Conn(s.port, timeout=0.5) as c:
                    addr = c.call("SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER_NAME)
                if addr:
                    return int(addr[1])
            except (OSError, bench.BenchError):
                continue
        return None

    def run(self):
        n = 0
        conn, port = None, None
        while not self.stop_flag.is_set():
            if conn is None:
                port = self.master_port()
                if port is None:
                    time.sleep(0.01)
                    continue
                try:
                    conn = bench.Conn(port, timeout=1.0)
                except OSError:
                    conn = None
                    time.sleep(0.01)
                    continue
            n += 1
            try:
                reply = conn.call("SET", "%s%d" % (self.prefix, n), n)
                if reply == "OK":
                    self.acked.append((n, port, time.monotonic()))
                    if self.wait and conn.call("WAIT", 1, WAIT_TIMEOUT_MS) >= 1:
                        self.confirmed.append(n)
                if self.fixed_port is not None:
                    time.sleep(0.01)
            except bench.ReplyError:
                self.errors += 1
                if self.first_refusal is None:
                    self.first_refusal = time.monotonic()
                conn.close()
                conn = None
                time.sleep(0.01)
            except (OSError, bench.BenchError):
                self.errors += 1
                if conn is not None:
                    conn.close()
                conn = None
                time.sleep(0.01)
        if conn is not None:
            conn.close()


def missing_keys(port, prefix, numbers):
    lost = 0
    with bench.Conn(port, timeout=30) as c:
        for i in range(0, len(numbers), 1000):
            chunk = numbers[i:i + 1000]
            values = c.call("MGET", *["%s%d" % (prefix, n) for n in chunk])
            lost += sum(1 for v in values if v is None)
    return lost


def run_round(combo, binaries, args, workdir, taken):
    data_kind, sentinel_kind = combo.split("/")
    data_argv, sentinel_argv = binaries[data_kind], binaries[sentinel_kind]
    ports = []
    for _ in range(6):
        p = bench.free_port(taken)
        taken.add(p)
        ports.append(p)
    common = ['save ""', "appendonly no", "repl-diskless-sync-delay 0"]
    if args.fence and data_kind == "shoal":
        common.append("master-fence-on-restart yes")
    master = Node("master", data_argv, workdir, ports[0], common)
    replicas = [Node("replica%d" % i, data_argv, workdir, ports[1 + i],
                     common + ["replicaof 127.0.0.1 %d" % ports[0]]) for i in range(2)]
    sentinel_lines = [
        "sentinel monitor %s 127.0.0.1 %d 2" % (MASTER_NAME, ports[0]),
        "sentinel down-after-milliseconds %s %d" % (MASTER_NAME, args.down_after),
        "sentinel failover-timeout %s %d" % (MASTER_NAME, args.failover_timeout),
        "sentinel parallel-syncs %s 1" % MASTER_NAME,
    ]
    sentinels = [Node("sentinel%d" % i, sentinel_argv, workdir, ports[3 + i], sentinel_lines, sentinel=True)
                 for i in range(3)]
    nodes = [master] + replicas + sentinels
    try:
        for node in nodes:
            node.start()
        wait_for("replicas online", lambda: all(
            "master_link_status:up" in r.call("INFO", "replication").decode() for r in replicas), 60)

        def discovered(s):
            f = fields(s.call("SENTINEL", "MASTER", MASTER_NAME))
            return f["num-slaves"] == "2" and f["num-other-sentinels"] == "2"
        wait_for("sentinels to discover each other and the replicas",
                 lambda: all(discovered(s) for s in sentinels), 60)

        writer = Writer(sentinels, "k", wait=args.wait)
        writer.start()
        time.sleep(2.0)
        killed_at = time.monotonic()
        master.kill9()
        if args.keep:
            with open(Path(workdir) / "kills.txt", "a") as f:
                f.write("%s %s killed at %.3f\n" % (combo, master.name, time.time()))
        wait_for("a write acknowledged by the new master",
                 lambda: any(port != master.port and t > killed_at for _, port, t in writer.acked[-50:]), 120)
        time.sleep(1.0)
        writer.stop_flag.set()
        writer.join()
        new_ok = [t for _, port, t in writer.acked if port != master.port and t > killed_at]
        downtime = min(new_ok) - killed_at
        new_port = next(port for _, port, t in writer.acked if t > killed_at and port != master.port)
        other = next(r for r in replicas if r.port != new_port)
        wait_for("the other replica to follow the new master", lambda: (
            "master_port:%d" % new_port in other.call("INFO", "replication").decode()
            and "master_link_status:up" in other.call("INFO", "replication").decode()), 120)
        acked = [n for n, _, _ in writer.acked]
        lost = missing_keys(new_port, "k", acked)
        confirmed_lost = missing_keys(new_port, "k", writer.confirmed) if writer.confirmed else 0

        # The old master comes back empty, still a master by its config.
        master.start()
        restarted_at = time.monotonic()
        stale = Writer(sentinels, "old", fixed_port=master.port)
        stale.start()
        wait_for("the old master to become a replica", lambda: (
            "role:slave" in master.call("INFO", "replication").decode()), 120)
        time.sleep(0.2)
        stale.stop_flag.set()
        stale.join()
        window = (max(t for _, _, t in stale.acked) - restarted_at) if stale.acked else 0.0
        stale_acked = [n for n, _, _ in stale.acked]
        stale_lost = missing_keys(new_port, "old", stale_acked) if stale_acked else 0
        return dict(downtime=downtime, acked=len(acked), lost=lost,
                    confirmed=len(writer.confirmed), confirmed_lost=confirmed_lost,
                    window=window, stale_acked=len(stale_acked), stale_lost=stale_lost)
    finally:
        for node in nodes:
            node.stop()


def shoal_sentinel_available(shoal, workdir, taken):
    port = bench.free_port(taken)
    node = Node("probe-sentinel", [shoal], workdir, port,
                ["sentinel monitor probe 127.0.0.1 1 2"], sentinel=True)
    try:
        node.start()
        return True
    except bench.BenchError:
        return False
    finally:
        node.stop()


def main():
    ap = argparse.ArgumentParser(description="Failover under kill -9, Shoal and Redis side by side.")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--down-after", type=int, default=1000, metavar="MS")
    ap.add_argument("--failover-timeout", type=int, default=10000, metavar="MS")
    ap.add_argument("--combos", default="shoal/shoal,shoal/redis,redis/shoal,redis/redis",
                    help="data nodes/sentinels, comma-separated")
    ap.add_argument("--wait", action="store_true",
                    help="follow each acknowledged SET with WAIT 1 %d; report the confirmed writes lost" % WAIT_TIMEOUT_MS)
    ap.add_argument("--fence", action="store_true",
                    help="Shoal data nodes run with master-fence-on-restart yes")
    ap.add_argument("--shoal", default=str(bench.DEFAULT_SHOAL))
    ap.add_argument("--redis-server", default=shutil.which("redis-server") or "redis-server")
    ap.add_argument("--output", choices=("text", "markdown"), default="text")
    ap.add_argument("--keep", metavar="DIR",
                    help="work in DIR and keep it: every node's log, and kills.txt with the wall-clock "
                         "time of each kill, to read a failover's timeline against the sentinels' logs")
    args = ap.parse_args()

    binaries = {"shoal": [args.shoal], "redis": [args.redis_server]}
    taken = set()
    workdir = args.keep or tempfile.mkdtemp(prefix="shoal-failover-")
    Path(workdir).mkdir(parents=True, exist_ok=True)
    try:
        combos = args.combos.split(",")
        if not shoal_sentinel_available(args.shoal, workdir, taken):
            unavailable = [c for c in combos if c.endswith("/shoal")]
            combos = [c for c in combos if c not in unavailable]
            for c in unavailable:
                print("%s: skipped, shoal-server --sentinel does not serve" % c, file=sys.stderr)
        results = {c: [] for c in combos}
        for r in range(args.rounds):
            for combo in (combos if r % 2 == 0 else list(reversed(combos))):
                res = run_round(combo, binaries, args, workdir, taken)
                results[combo].append(res)
                print("  round %d %-12s downtime %.2f s, acked %d, lost %d (WAIT-confirmed %d, lost %d); "
                      "old master took writes for %.2f s (%d acked, %d lost)"
                      % (r + 1, combo, res["downtime"], res["acked"], res["lost"], res["confirmed"],
                         res["confirmed_lost"], res["window"], res["stale_acked"], res["stale_lost"]),
                      file=sys.stderr)
        headers = ["data nodes / sentinels", "downtime s", "writes acked", "acked then lost",
                   "WAIT 1 confirmed", "confirmed then lost",
                   "restarted old master: accepted writes for s", "its acked writes", "of them lost"]
        rows = []
        for combo, rs in results.items():
            med = lambda k: statistics.median(x[k] for x in rs)  # noqa: E731
            rows.append([combo, "%.2f" % med("downtime"), "%d" % med("acked"), "%d" % med("lost"),
                         "%d" % med("confirmed") if args.wait else "-",
                         "%d" % med("confirmed_lost") if args.wait else "-",
                         "%.2f" % med("window"), "%d" % med("stale_acked"), "%d" % med("stale_lost")])
        print("- down-after-milliseconds %d, failover-timeout %d, quorum 2, %d round(s), medians%s%s"
              % (args.down_after, args.failover_timeout, args.rounds,
                 ", every write followed by WAIT 1 %d" % WAIT_TIMEOUT_MS if args.wait else "",
                 ", Shoal nodes with master-fence-on-restart yes" if args.fence else ""))
        print(bench.render(headers, rows, args.output == "markdown"))
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
