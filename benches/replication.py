#!/usr/bin/env python3
"""Replication, Shoal against redis-server, side by side in one run.

Each measurement runs on a master of each kind with replicas of the same
kind (shoal-server replicating shoal-server, redis-server replicating
redis-server), all on this machine:

  throughput  SET throughput of a master (redis-benchmark -c 50 -d 16
              -r 100000, --requests SETs) with no replica, then with two
              replicas online; the ratio with/without is the cost of
              feeding the replicas. Each runs --rounds times, the servers'
              order alternating; the table shows medians. After the run the
              replicas' DEBUG DIGEST must equal the master's.
  full sync   a master holding --keys keys of mixed types (as
              benches/persistence.py loads them); a fresh replica is
              pointed at it (diskless, repl-diskless-sync-delay 0): time
              until the replica reports master_link_status:up with the
              whole dataset (DBSIZE checked).
  memory      the same master under a SET load (redis-benchmark -c 10 over
              the dataset's keys) while another fresh replica syncs: the
              PSS of the master and its children (Redis forks a child per
              full sync; PSS counts shared pages once), sampled every 50 ms,
              before the sync and at its peak.

    cargo build --release
    python3 benches/replication.py [--keys N] [--requests N] [--rounds N] [--output markdown]

Standard library only; reuses bench.py's server and client helpers and
persistence.py's dataset and memory sampling.
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

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402
import persistence  # noqa: E402

# Replicas stay connected through the load: no soft output limit, a
# backlog that holds a reconnection.
REPL = ["--repl-diskless-sync-delay", "0", "--repl-backlog-size", "64mb",
        "--client-output-buffer-limit", "replica 0 0 0"]


def replication(port):
    return bench.info(port, "replication")


def wait_online(master, replicas, deadline_s=600):
    """Until every replica's link is up and the master lists it online."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        states = [replication(r.port).get("master_link_status") for r in replicas]
        info = replication(master.port)
        online = sum("state=online" in v for k, v in info.items() if k.startswith("slave"))
        if all(s == "up" for s in states) and online >= len(replicas):
            return
        time.sleep(0.05)
    raise bench.BenchError("%s: replicas did not come online" % master.name)


def wait_caught_up(master, replicas, deadline_s=600):
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        offset = replication(master.port).get("master_repl_offset")
        if all(replication(r.port).get("slave_repl_offset") == offset for r in replicas):
            return
        time.sleep(0.05)
    raise bench.BenchError("%s: replicas did not catch up" % master.name)


def set_throughput(rb, server, requests):
    cmd = [rb, "-h", "127.0.0.1", "-p", str(server.port), "-c", "50", "-n", str(requests),
           "-d", "16", "-r", "100000", "-t", "set", "--csv"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        raise bench.BenchError("%s: redis-benchmark failed: %s" % (server.name, proc.stderr))
    lines = [l for l in proc.stdout.splitlines() if l.startswith('"')]
    header = [h.strip('"') for h in lines[0].split(",")]
    row = dict(zip(header, [v.strip('"') for v in lines[1].split(",")]))
    return float(row["rps"])


def throughput_round(new_server, rb, name, argv, requests):
    """SET req/s of a master alone, then with two replicas online."""
    master = new_server(name, argv, REPL)
    alone = set_throughput(rb, master, requests)
    replicas = [new_server(name + "-replica", argv, REPL) for _ in range(2)]
    for r in replicas:
        with bench.Conn(r.port) as c:
            c.call("REPLICAOF", "127.0.0.1", str(master.port))
    wait_online(master, replicas)
    with_two = set_throughput(rb, master, requests)
    wait_caught_up(master, replicas)
    with bench.Conn(master.port) as c:
        digest = c.call("DEBUG", "DIGEST")
    for r in replicas:
        with bench.Conn(r.port) as c:
            if c.call("DEBUG", "DIGEST") != digest:
                raise bench.BenchError("%s: a replica differs from its master after the load" % name)
    for s in replicas + [master]:
        s.stop()
    return alone, with_two


def full_sync(master, new_replica, name, argv, keys):
    replica = new_replica(name + "-replica", argv, REPL)
    t0 = time.monotonic()
    with bench.Conn(replica.port) as c:
        c.call("REPLICAOF", "127.0.0.1", str(master.port))
    wait_online(master, [replica])
    seconds = time.monotonic() - t0
    with bench.Conn(replica.port) as c:
        if c.call("DBSIZE") != keys:
            raise bench.BenchError("%s: the replica does not hold the whole dataset" % name)
    replica.stop()
    return seconds


def memory_during_sync(master, new_replica, name, argv, rb, keys):
    writer = subprocess.Popen(
        [rb, "-h", "127.0.0.1", "-p", str(master.port), "-c", "10", "-n", "100000000", "-r", str(keys),
         "-q", "SET", "k:__rand_int__", "overwritten-during-the-sync"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    replica = None
    try:
        time.sleep(2.0)
        samples = []
        for _ in range(10):
            samples.append(persistence.pss_bytes(master.proc.pid))
            time.sleep(0.05)
        before = statistics.median(samples)
        replica = new_replica(name + "-replica", argv, REPL)
        with bench.Conn(replica.port) as c:
            c.call("REPLICAOF", "127.0.0.1", str(master.port))
        peak = [before]
        done = threading.Event()

        def sample():
            while not done.is_set():
                peak.append(persistence.pss_bytes(master.proc.pid))
                time.sleep(0.05)

        sampler = threading.Thread(target=sample)
        sampler.start()
        try:
            wait_online(master, [replica])
        finally:
            done.set()
            sampler.join()
    finally:
        writer.terminate()
        writer.wait()
        if replica is not None:
            replica.stop()
    return before, max(peak)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--keys", type=int, default=1_000_000)
    ap.add_argument("--requests", type=int, default=500_000, help="SETs per throughput run")
    ap.add_argument("--rounds", type=int, default=3, help="throughput rounds, the servers' order alternating")
    ap.add_argument("--output", choices=("text", "markdown"), default="text")
    ap.add_argument("--shoal", default=str(bench.DEFAULT_SHOAL))
    ap.add_argument("--redis-server", default=shutil.which("redis-server") or "redis-server")
    ap.add_argument("--redis-benchmark", default=shutil.which("redis-benchmark") or "redis-benchmark")
    args = ap.parse_args()

    workdir = tempfile.mkdtemp(prefix="shoal-bench-replication-")
    ports, servers = set(), []

    server = persistence.starter(workdir, ports, servers)
    names = ("Shoal", "Redis")
    argvs = {"Shoal": [args.shoal], "Redis": [args.redis_server]}
    rows = []
    try:
        runs = {name: [] for name in names}
        for round_ in range(args.rounds):
            for name in (names if round_ % 2 == 0 else names[::-1]):
                print("SET throughput, round %d: %s" % (round_ + 1, name), file=sys.stderr, flush=True)
                runs[name].append(throughput_round(server, args.redis_benchmark, name, argvs[name], args.requests))
        med = {name: (statistics.median(a for a, _ in runs[name]), statistics.median(b for _, b in runs[name]))
               for name in names}
        ratios = {name: statistics.median(b / a for a, b in runs[name]) for name in names}
        sh, rd = med["Shoal"], med["Redis"]
        rows += [
            ["SET, no replica (req/s)", bench.fmt_rps(sh[0]), bench.fmt_rps(rd[0]), bench.fmt_ratio(bench.ratio(sh[0], rd[0]))],
            ["SET, 2 replicas (req/s)", bench.fmt_rps(sh[1]), bench.fmt_rps(rd[1]), bench.fmt_ratio(bench.ratio(sh[1], rd[1]))],
            ["2 replicas / none (median)", "%.2fx" % ratios["Shoal"], "%.2fx" % ratios["Redis"], ""],
            ["2 replicas / none, each round"] + [" ".join("%.2f" % (b / a) for a, b in runs[name]) for name in names]
            + [""],
        ]

        res = {}
        for name in names:
            print("loading %d keys into a %s master" % (args.keys, name), file=sys.stderr, flush=True)
            master = server(name, argvs[name], REPL)
            persistence.load(master, args.keys)
            print("full sync: %s" % name, file=sys.stderr, flush=True)
            sync_s = full_sync(master, server, name, argvs[name], args.keys)
            print("memory during a full sync under writes: %s" % name, file=sys.stderr, flush=True)
            before, peak = memory_during_sync(master, server, name, argvs[name], args.redis_benchmark, args.keys)
            master.stop()
            res[name] = dict(sync=sync_s, before=before, peak=peak)
        sh, rd = res["Shoal"], res["Redis"]
        mb = lambda b: "%.1f MB" % (b / 1e6)  # noqa: E731
        rows += [
            ["full sync of %d keys (s)" % args.keys, "%.2f" % sh["sync"], "%.2f" % rd["sync"],
             bench.fmt_ratio(bench.ratio(sh["sync"], rd["sync"]))],
            ["master PSS before the sync", mb(sh["before"]), mb(rd["before"]), bench.fmt_ratio(bench.ratio(sh["before"], rd["before"]))],
            ["master PSS peak during the sync", mb(sh["peak"]), mb(rd["peak"]), bench.fmt_ratio(bench.ratio(sh["peak"], rd["peak"]))],
            ["peak / before", "%.3f" % (sh["peak"] / sh["before"]), "%.3f" % (rd["peak"] / rd["before"]), ""],
        ]
    except bench.BenchError as e:
        print("error: %s" % e, file=sys.stderr)
        return 1
    finally:
        persistence.stop_all(servers, workdir)
    print("%d SETs per throughput run, %d rounds (medians); %d keys of mixed types; %s"
          % (args.requests, args.rounds, args.keys, time.strftime("%Y-%m-%d")))
    print(bench.render(["", "Shoal", "Redis", "Shoal/Redis"], rows, args.output == "markdown"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
