#!/usr/bin/env python3
"""Scripting, Shoal against redis-server, side by side in one run.

One small script, GET + INCR + EXPIRE of its one declared key, returning
the counter, called two ways:

  EVALSHA   the script loaded with SCRIPT LOAD, called by its SHA-1;
  FCALL     the same body registered as a function of a library.

Each runs unpipelined (P1) and at pipeline 16 (P16), with uniform keys
(redis-benchmark -r 100000: key:000000000000..) and with one hot key
(every client calls it on the same key), from redis-benchmark -c 50. For
each: throughput, p99 latency and server CPU per call (utime+stime of the
whole server process, all threads, from /proc/PID/stat, before and after
the run, divided by the calls). Before measuring, both servers are
checked to answer the script alike (1, then 2, and a TTL of 100).

Each workload runs --rounds times (default 3), the servers' order
alternating between rounds; the table shows medians and the range of the
per-round ratios.

Then SCRIPT KILL: with busy-reply-threshold 100, one client runs
`while true do end`, another waits for -BUSY and sends SCRIPT KILL; the
time from sending it until the looping client has its error, --kills
times (default 10) per server: Shoal with --threads 1 and with its
default workers, and Redis (--kills 0 skips it).

    cargo build --release
    python3 benches/scripting.py [--requests N] [--rounds N] [--only SUBSTRING] [--output markdown]

Standard library only; reuses bench.py's server and client helpers.
"""

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402

BODY = """local seen = redis.call('GET', KEYS[1])
local n = redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], 100)
return n"""

LIBRARY = """#!lua name=benchlib
redis.register_function('bump', function(KEYS, ARGV)
%s
end)""" % BODY

# Without -r redis-benchmark leaves `__rand_int__` in the name: one key.
KEY = "key:__rand_int__"


def prepare(server):
    """Loads the script and the library; checks the replies; returns the SHA-1."""
    with bench.Conn(server.port) as c:
        c.call("FLUSHALL")
        c.call("SCRIPT", "FLUSH")
        c.call("FUNCTION", "FLUSH")
        sha = c.call("SCRIPT", "LOAD", BODY)
        if c.call("FUNCTION", "LOAD", LIBRARY) not in (b"benchlib", "benchlib"):
            raise bench.BenchError("%s: FUNCTION LOAD failed" % server.name)
        got = [c.call("EVALSHA", sha, "1", "check"), c.call("FCALL", "bump", "1", "check"), c.call("TTL", "check")]
        if got != [1, 2, 100]:
            raise bench.BenchError("%s: the script answered %r, expected [1, 2, 100]" % (server.name, got))
        c.call("FLUSHALL")
    return sha.decode() if isinstance(sha, bytes) else sha


def workloads(requests, sha):
    w = []
    for call, args in (("EVALSHA", ["EVALSHA", sha, "1", KEY]), ("FCALL", ["FCALL", "bump", "1", KEY])):
        for hot in (False, True):
            for pipe in (1, 16):
                name = "%s%s P%d" % (call, " hot" if hot else "", pipe)
                extra = [] if hot else ["-r", str(bench.KEYSPACE)]
                w.append(dict(name=name, args=["-P", str(pipe)] + extra + args, pipeline=pipe, keyspace=None,
                              group="scripting",
                              requests=requests * (bench.PIPELINE_FACTOR if pipe > 1 else 1)))
    return w


def measure(args, shoal_argv, workdir, servers):
    """Starts both servers (into `servers`) and runs every round; returns
    the workloads and {(workload, server): [result per round]}."""
    ports, results = set(), {}
    for name, argv in (("Shoal", shoal_argv), ("Redis", [args.redis_server])):
        s = bench.Server(name, argv, workdir, ports)
        servers.append(s)
        s.start()
    shas = {s.name: prepare(s) for s in servers}
    if shas["Shoal"] != shas["Redis"]:
        raise bench.BenchError("the servers disagree on the script's SHA-1")
    wls = workloads(args.requests, shas["Shoal"])
    if args.only:
        wls = [w for w in wls if any(o.lower() in w["name"].lower() for o in args.only)]
    if not wls:
        raise bench.BenchError("no workload matches --only %s" % args.only)
    print("warm-up", file=sys.stderr, flush=True)
    for s in servers:
        bench.run_benchmark(args.redis_benchmark, s, wls[0], requests=max(args.requests // 4, 5000), quiet=True)
    for r in range(args.rounds):
        print("round %d/%d" % (r + 1, args.rounds), file=sys.stderr, flush=True)
        for i, wl in enumerate(wls):
            order = servers if (r + i) % 2 == 0 else servers[::-1]
            for s in order:
                results.setdefault((wl["name"], s.name), []).append(bench.run_benchmark(args.redis_benchmark, s, wl))
    return wls, results


def kill_latency(argv, workdir, kills):
    """Milliseconds from SCRIPT KILL until the endless script's client has
    its error, `kills` times, on one server started from `argv`."""
    server = bench.Server("kill", argv, workdir, set(), extra=["--busy-reply-threshold", "100"])
    server.start()
    times = []
    try:
        for _ in range(kills):
            with bench.Conn(server.port) as runner, bench.Conn(server.port) as probe:
                runner.send(bench.encode("EVAL", "while true do end", "0"))
                while True:
                    try:
                        probe.call("PING")
                    except bench.ReplyError as e:
                        if str(e).startswith("BUSY"):
                            break
                        raise
                    time.sleep(0.01)
                sent = time.perf_counter()
                probe.call("SCRIPT", "KILL")
                try:
                    runner.read()
                    raise bench.BenchError("the killed script returned normally")
                except bench.ReplyError as e:
                    if "Script killed" not in str(e):
                        raise
                times.append((time.perf_counter() - sent) * 1000)
    finally:
        server.stop()
    return times


def cleanup(servers, workdir):
    for s in servers:
        s.stop()
    shutil.rmtree(workdir, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=100_000,
                    help="calls per unpipelined run (pipelined runs: %dx)" % bench.PIPELINE_FACTOR)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--only", action="append", metavar="SUBSTRING",
                    help="run only the workloads whose name contains SUBSTRING (repeatable)")
    ap.add_argument("--threads", type=int, help="passed to shoal-server as --threads N")
    ap.add_argument("--kills", type=int, default=10, help="SCRIPT KILL measurements per server (0: none)")
    ap.add_argument("--output", choices=("text", "markdown"), default="text")
    ap.add_argument("--shoal", default=str(bench.DEFAULT_SHOAL))
    ap.add_argument("--redis-server", default=shutil.which("redis-server") or "redis-server")
    ap.add_argument("--redis-benchmark", default=shutil.which("redis-benchmark") or "redis-benchmark")
    args = ap.parse_args()
    if args.requests <= 0 or args.rounds <= 0:
        ap.error("--requests and --rounds must be positive")

    shoal_argv = [args.shoal] + (["--threads", str(args.threads)] if args.threads is not None else [])
    workdir = tempfile.mkdtemp(prefix="shoal-bench-scripting-")
    servers = []
    kills = {}
    try:
        wls, results = measure(args, shoal_argv, workdir, servers)
        for name, argv in (("Shoal --threads 1", [args.shoal, "--threads", "1"]), ("Shoal", [args.shoal]),
                           ("Redis", [args.redis_server])):
            if args.kills > 0:
                kills[name] = kill_latency(argv, workdir, args.kills)
    except bench.BenchError as e:
        print("error: %s" % e, file=sys.stderr)
        return 1
    finally:
        cleanup(servers, workdir)
    headers = ["workload", "Shoal calls/s", "Redis calls/s", "ratio", "ratio range",
               "Shoal p99 ms", "Redis p99 ms", "ratio",
               "Shoal CPU us/call", "Redis CPU us/call", "ratio", "ratio range"]
    rows, others = [], []
    for wl in wls:
        s, r = results[(wl["name"], "Shoal")], results[(wl["name"], "Redis")]
        row = [wl["name"]]
        for key, fmt in (("rps", bench.fmt_rps), ("p99", bench.fmt_ms), ("cpu_us", bench.fmt_us)):
            ratios = [bench.ratio(a[key], b[key]) for a, b in zip(s, r)]
            row += [fmt(statistics.median(x[key] for x in s)), fmt(statistics.median(x[key] for x in r)),
                    bench.fmt_ratio(statistics.median(ratios))]
            if key != "p99":
                row.append("%.2f-%.2f" % (min(ratios), max(ratios)))
        others += [x["other"] for x in s + r]
        rows.append(row)
    print("redis-benchmark -c %d; %d calls per P1 run (x%d at P16); median of %d rounds, servers alternating; %s"
          % (bench.CLIENTS, args.requests, bench.PIPELINE_FACTOR, args.rounds, time.strftime("%Y-%m-%d")))
    print("shoal binary: %s" % bench.shoal_build(args.shoal))
    print(bench.render(headers, rows, args.output == "markdown"))
    print("ratio = Shoal / Redis, median of the per-round ratios. CPU used by other processes meanwhile: "
          "median %.2f, max %.2f cores." % (statistics.median(others), max(others)))
    if kills:
        print()
        print(bench.render(["SCRIPT KILL of `while true do end`", "median ms", "max ms", "kills"],
                           [[name, "%.1f" % statistics.median(t), "%.1f" % max(t), str(len(t))]
                            for name, t in kills.items()], args.output == "markdown"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
