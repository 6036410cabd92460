#!/usr/bin/env python3
"""Large collections, Shoal against redis-server, side by side in one run.

Loads one sorted set of 1,000,000 members (m:000000000000.., score = index)
and one list of 1,000,000 elements into a fresh shoal-server and a fresh
redis-server, then drives both with the same redis-benchmark workloads:
rank queries on the sorted set (ZRANK/ZREVRANK of random members, ZRANGE by
rank in the middle) and positional reads in the middle of the list (LINDEX,
LRANGE). For each workload it reports the server-side time per call
(INFO commandstats usec_per_call), throughput and p99 latency.

Rank queries must stay O(log n) and list indexing must not walk the list
element by element: every figure here should be in microseconds.

    cargo build --release
    python3 benches/large.py [--members N] [--requests N] [--output markdown]

Standard library only; reuses bench.py's server and client helpers.
"""

import argparse
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402


def workloads(n):
    mid = n // 2
    return [
        ("ZRANK", "ZRANK random member", ["ZRANK", "bigz", "m:__rand_int__"]),
        ("ZREVRANK", "ZREVRANK random member", ["ZREVRANK", "bigz", "m:__rand_int__"]),
        ("ZRANGE", "ZRANGE 10 by rank, middle", ["ZRANGE", "bigz", str(mid), str(mid + 9)]),
        ("ZSCORE", "ZSCORE random member", ["ZSCORE", "bigz", "m:__rand_int__"]),
        ("LINDEX", "LINDEX middle", ["LINDEX", "biglist", str(mid)]),
        ("LRANGE", "LRANGE 10, middle", ["LRANGE", "biglist", str(mid), str(mid + 9)]),
    ]


def load(server, n, batch=1000):
    """ZADD and RPUSH in batches of `batch` members per command."""
    with bench.Conn(server.port, timeout=300) as c:
        def zadds():
            for start in range(0, n, batch):
                args = ["ZADD", "bigz"]
                for i in range(start, min(n, start + batch)):
                    args += [str(i), "m:%012d" % i]
                yield bench.encode(*args)

        def rpushes():
            for start in range(0, n, batch):
                yield bench.encode("RPUSH", "biglist", *["e:%012d" % i for i in range(start, min(n, start + batch))])

        c.pipeline(zadds(), batch=50)
        c.pipeline(rpushes(), batch=50)
        zcard, llen = c.call("ZCARD", "bigz"), c.call("LLEN", "biglist")
    if zcard != n or llen != n:
        raise bench.BenchError("%s: ZCARD %s LLEN %s after loading, expected %d" % (server.name, zcard, llen, n))


def usec_per_call(server, command):
    stats = bench.info(server.port, "commandstats").get("cmdstat_" + command.lower())
    if stats is None:
        raise bench.BenchError("%s: no commandstats for %s" % (server.name, command))
    fields = dict(kv.split("=") for kv in stats.split(","))
    return float(fields["usec_per_call"])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--members", type=int, default=1_000_000)
    ap.add_argument("--requests", type=int, default=100_000)
    ap.add_argument("--output", choices=("text", "markdown"), default="text")
    ap.add_argument("--shoal", default=str(bench.DEFAULT_SHOAL))
    ap.add_argument("--redis-server", default=shutil.which("redis-server") or "redis-server")
    ap.add_argument("--redis-benchmark", default=shutil.which("redis-benchmark") or "redis-benchmark")
    args = ap.parse_args()
    if not os.access(args.shoal, os.X_OK):
        sys.exit("not found: %s (run `cargo build --release` first)" % args.shoal)

    workdir = tempfile.mkdtemp(prefix="shoal-large-")
    ports = set()
    servers = [bench.Server("Shoal", [args.shoal], workdir, ports),
               bench.Server("Redis", [args.redis_server], workdir, ports)]
    rows = []
    try:
        for s in servers:
            s.start()
            print("loading %s: %d-member sorted set, %d-element list" % (s.name, args.members, args.members),
                  file=sys.stderr, flush=True)
            load(s, args.members)
        for command, label, argv in workloads(args.members):
            row = [label]
            per_server = []
            for s in servers:  # Shoal then Redis, back to back
                with bench.Conn(s.port) as c:
                    c.call("CONFIG", "RESETSTAT")
                wl = dict(name=label, args=["-r", str(args.members), "-P", "1"] + argv,
                          keyspace=None, requests=args.requests)
                result = bench.run_benchmark(args.redis_benchmark, s, wl)
                per_server.append((usec_per_call(s, command), result["rps"], result["p99"]))
            (su, srps, sp99), (ru, rrps, rp99) = per_server
            row += ["%.2f" % su, "%.2f" % ru, "%.0f" % srps, "%.0f" % rrps,
                    "%.3f" % sp99, "%.3f" % rp99]
            rows.append(row)
    finally:
        for s in servers:
            s.stop()
        shutil.rmtree(workdir, ignore_errors=True)

    headers = ["%s-member sorted set / list" % format(args.members, ","),
               "Shoal µs/call", "Redis µs/call", "Shoal req/s", "Redis req/s",
               "Shoal p99 ms", "Redis p99 ms"]
    print(bench.render(headers, rows, args.output == "markdown"))


if __name__ == "__main__":
    main()
