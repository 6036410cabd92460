#!/usr/bin/env python3
"""Persistence, Shoal against redis-server, side by side in one run.

Both servers get the same dataset: N keys (default 1,000,000) of mixed
types, k:000000000000.. (60% strings of 16 bytes, 10% each hashes, lists,
sets and sorted sets of 5 small members), loaded with pipelined commands.
Then, for each server:

  save      SAVE of the dataset: wall time of the command.
  load      restart on that dump.rdb: time until the server answers PING
            (Shoal answers -LOADING meanwhile, as Redis does), and the
            "DB loaded from disk" time from the server's own log. DBSIZE
            and DEBUG DIGEST are checked equal on both servers after it.
  bgsave    BGSAVE while redis-benchmark overwrites random keys with SET
            (-c 10): wall time of the save, and memory: the PSS of the
            server and its children (Redis's forked child shares pages with
            its parent until they are written, PSS counts them once),
            sampled every 50 ms, before the save and at its peak. On Shoal
            the digest is taken in the same MULTI as the BGSAVE and the
            file is loaded into a fresh redis-server afterwards: it must
            hold the data as of the BGSAVE (the run fails otherwise).
            Redis only schedules a BGSAVE sent in a transaction.
  aof       SET throughput, p99 and server CPU per request with appendonly
            yes, appendfsync always and everysec (redis-benchmark -c 50
            -d 16), on fresh servers: uniform keys (-r 100000), and one hot
            key (every client sets the same key). Each runs --aof-rounds
            times (default 3), the servers' order alternating between
            rounds; the table shows medians (fsync times on a shared disk
            vary a lot from run to run).

    cargo build --release
    python3 benches/persistence.py [--keys N] [--requests N] [--aof-rounds N] [--output markdown]

Standard library only; reuses bench.py's server and client helpers.
"""

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402

DEBUG = ["--enable-debug-command", "yes"]


def key(i):
    return "k:%012d" % i


def commands(n):
    for i in range(n):
        k, kind = key(i), i % 10
        if kind < 6:
            yield bench.encode("SET", k, "v%015d" % i)
        elif kind == 6:
            yield bench.encode("HSET", k, *[x for f in range(5) for x in ("f%d" % f, str(i + f))])
        elif kind == 7:
            yield bench.encode("RPUSH", k, *[str(i + f) for f in range(5)])
        elif kind == 8:
            yield bench.encode("SADD", k, *["m%d" % (i + f) for f in range(5)])
        else:
            yield bench.encode("ZADD", k, *[x for f in range(5) for x in (str(f), "m%d" % (i + f))])


def load(server, n):
    with bench.Conn(server.port, timeout=600) as c:
        c.pipeline(commands(n), batch=5000)
        size = c.call("DBSIZE")
    if size != n:
        raise bench.BenchError("%s: DBSIZE %s after loading, expected %d" % (server.name, size, n))


def descendants(pid):
    """pid and every process below it (Redis's forked save child)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            with open("/proc/%d/task/%d/children" % (p, p)) as f:
                todo.extend(int(c) for c in f.read().split())
        except OSError:
            pass
    return out


def pss_bytes(pid):
    total = 0
    for p in descendants(pid):
        try:
            with open("/proc/%d/smaps_rollup" % p) as f:
                for line in f:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1]) * 1024
                        break
        except OSError:
            pass
    return total


def loaded_seconds(server):
    """The load time the server logged ("DB loaded from disk: X seconds")."""
    found = re.findall(r"DB loaded from disk: ([0-9.]+) seconds", server.logpath.read_text(errors="replace"))
    return float(found[-1]) if found else None


def wait_bgsave(port, saves_before, sample):
    """Until a save after `saves_before` (INFO rdb_saves) has ended."""
    while True:
        stats = bench.info(port, "persistence")
        if stats.get("rdb_bgsave_in_progress") == "0" and int(stats.get("rdb_saves", 0)) > saves_before:
            return
        if stats.get("rdb_last_bgsave_status") == "err":
            raise bench.BenchError("BGSAVE failed on port %d" % port)
        sample()
        time.sleep(0.05)


def save_and_load(server):
    with bench.Conn(server.port, timeout=600) as c:
        t0 = time.monotonic()
        if c.call("SAVE") != "OK":
            raise bench.BenchError("%s: SAVE failed" % server.name)
        save = time.monotonic() - t0
        digest = c.call("DEBUG", "DIGEST")
    server.stop()
    t0 = time.monotonic()
    server.start()
    load_wall = time.monotonic() - t0
    with bench.Conn(server.port) as c:
        if c.call("DEBUG", "DIGEST") != digest:
            raise bench.BenchError("%s: the dataset changed across SAVE and restart" % server.name)
    return dict(save=save, load_wall=load_wall, load_logged=loaded_seconds(server), digest=digest)


def bgsave_under_writes(server, rb, n, redis_server, workdir, ports):
    before = pss_bytes(server.proc.pid)
    writer = subprocess.Popen(
        [rb, "-h", "127.0.0.1", "-p", str(server.port), "-c", "10", "-n", "100000000", "-r", str(n),
         "-q", "SET", "k:__rand_int__", "overwritten-during-the-save"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(1.0)
        peak = [pss_bytes(server.proc.pid)]
        saves = int(bench.info(server.port, "persistence")["rdb_saves"])
        with bench.Conn(server.port, timeout=600) as c:
            c.send(bench.encode("MULTI") + bench.encode("DEBUG", "DIGEST") + bench.encode("BGSAVE")
                   + bench.encode("EXEC"))
            replies = [c.read() for _ in range(4)]
        t0 = time.monotonic()
        digest, started = replies[3][0], replies[3][1]
        # Redis only schedules a BGSAVE sent inside a transaction (it
        # starts at its next cron tick, with writes in between): the
        # digest check is for Shoal, which takes the cut in the EXEC.
        exact = started == "Background saving started"
        wait_bgsave(server.port, saves, lambda: peak.append(pss_bytes(server.proc.pid)))
        seconds = time.monotonic() - t0
    finally:
        writer.terminate()
        writer.wait()
    stats = bench.info(server.port, "persistence")
    if stats.get("rdb_last_bgsave_status") != "ok":
        raise bench.BenchError("%s: BGSAVE failed" % server.name)
    if not exact:
        return dict(seconds=seconds, before=before, peak=max(peak), cow=int(stats.get("rdb_last_cow_size", 0)))
    # The file against the digest at the BGSAVE: a fresh redis-server loads it.
    check_dir = tempfile.mkdtemp(prefix="check-", dir=workdir)
    shutil.copy(os.path.join(server.workdir, "dump.rdb"), check_dir)
    checker = bench.Server("check", [redis_server], check_dir, ports, extra=DEBUG)
    try:
        checker.start()
        with bench.Conn(checker.port) as c:
            if c.call("DEBUG", "DIGEST") != digest:
                raise bench.BenchError("%s: the BGSAVE file is not the dataset as of the BGSAVE" % server.name)
    finally:
        checker.stop()
    return dict(seconds=seconds, before=before, peak=max(peak), cow=int(stats.get("rdb_last_cow_size", 0)))


def aof_throughput(rb, server, requests, hot):
    cmd = [rb, "-h", "127.0.0.1", "-p", str(server.port), "-c", "50", "-n", str(requests),
           "-d", "16", "-t", "set", "--csv"] + ([] if hot else ["-r", "100000"])
    cpu = server.cpu_seconds()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    cpu = server.cpu_seconds() - cpu
    if proc.returncode != 0:
        raise bench.BenchError("%s: redis-benchmark failed: %s" % (server.name, proc.stderr))
    lines = [l for l in proc.stdout.splitlines() if l.startswith('"')]
    header = [h.strip('"') for h in lines[0].split(",")]
    row = dict(zip(header, [v.strip('"') for v in lines[1].split(",")]))
    return dict(rps=float(row["rps"]), p99=float(row["p99_latency_ms"]), cpu_us=cpu * 1e6 / requests)


def stop_all(servers, workdir):
    """Stops every server started and removes the work directory."""
    for s in servers:
        s.stop()
    shutil.rmtree(workdir, ignore_errors=True)


def starter(workdir, ports, servers):
    """A function that starts a server (name, argv, extra directives) with
    DEBUG on, in a directory of its own under workdir, on a free port not
    in ports, and adds it to servers (to stop at the end)."""
    def server(name, argv, extra):
        d = tempfile.mkdtemp(prefix=name.lower() + "-", dir=workdir)
        s = bench.Server(name, argv, d, ports, extra=DEBUG + extra)
        servers.append(s)
        s.start()
        return s
    return server


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--keys", type=int, default=1_000_000)
    ap.add_argument("--requests", type=int, default=200_000, help="SETs per appendfsync run")
    ap.add_argument("--output", choices=("text", "markdown"), default="text")
    ap.add_argument("--shoal", default=str(bench.DEFAULT_SHOAL))
    ap.add_argument("--redis-server", default=shutil.which("redis-server") or "redis-server")
    ap.add_argument("--redis-benchmark", default=shutil.which("redis-benchmark") or "redis-benchmark")
    ap.add_argument("--skip-aof", action="store_true")
    ap.add_argument("--aof-rounds", type=int, default=3,
                    help="rounds of each appendfsync run, the servers' order alternating; medians are shown")
    args = ap.parse_args()

    workdir = tempfile.mkdtemp(prefix="shoal-bench-persistence-")
    ports, servers = set(), []

    server = starter(workdir, ports, servers)
    names = ("Shoal", "Redis")
    argvs = ([args.shoal], [args.redis_server])
    rows = []
    try:
        print("loading %d keys of mixed types into both servers" % args.keys, file=sys.stderr, flush=True)
        pair = [server(name, argv, []) for name, argv in zip(names, argvs)]
        threads = [threading.Thread(target=load, args=(s, args.keys)) for s in pair]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for s in pair:  # a failed load raised in its thread: check here
            with bench.Conn(s.port) as c:
                if c.call("DBSIZE") != args.keys:
                    raise bench.BenchError("%s: the load did not complete" % s.name)
        res = {}
        for s in pair:
            print("SAVE and restart: %s" % s.name, file=sys.stderr, flush=True)
            res[s.name] = save_and_load(s)
        if res["Shoal"]["digest"] != res["Redis"]["digest"]:
            raise bench.BenchError("the two servers hold different datasets")
        for s in pair:
            print("BGSAVE under writes: %s" % s.name, file=sys.stderr, flush=True)
            res[s.name].update(bgsave_under_writes(s, args.redis_benchmark, args.keys, args.redis_server, workdir,
                                                   ports))
        for s in pair:
            s.stop()
        sh, rd = res["Shoal"], res["Redis"]
        mb = lambda b: "%.1f MB" % (b / 1e6)  # noqa: E731
        rows += [
            ["SAVE (s)", "%.2f" % sh["save"], "%.2f" % rd["save"], bench.fmt_ratio(bench.ratio(sh["save"], rd["save"]))],
            ["load, until PING answers (s)", "%.2f" % sh["load_wall"], "%.2f" % rd["load_wall"],
             bench.fmt_ratio(bench.ratio(sh["load_wall"], rd["load_wall"]))],
            ["load, as logged (s)", "%.3f" % (sh["load_logged"] or 0), "%.3f" % (rd["load_logged"] or 0),
             bench.fmt_ratio(bench.ratio(sh["load_logged"] or 0, rd["load_logged"] or 0))],
            ["BGSAVE under writes (s)", "%.2f" % sh["seconds"], "%.2f" % rd["seconds"],
             bench.fmt_ratio(bench.ratio(sh["seconds"], rd["seconds"]))],
            ["PSS before BGSAVE", mb(sh["before"]), mb(rd["before"]), bench.fmt_ratio(bench.ratio(sh["before"], rd["before"]))],
            ["PSS peak during BGSAVE", mb(sh["peak"]), mb(rd["peak"]), bench.fmt_ratio(bench.ratio(sh["peak"], rd["peak"]))],
            ["peak / before", "%.3f" % (sh["peak"] / sh["before"]), "%.3f" % (rd["peak"] / rd["before"]), ""],
            ["rdb_last_cow_size", mb(sh["cow"]), mb(rd["cow"]), ""],
        ]
        if not args.skip_aof:
            for policy in ("always", "everysec"):
                for hot in (False, True):
                    label = "%s%s" % (policy, ", hot key" if hot else "")
                    print("SET with appendfsync %s" % label, file=sys.stderr, flush=True)
                    runs = {name: [] for name in names}
                    for round_ in range(args.aof_rounds):
                        pairs = list(zip(names, argvs))
                        for name, argv in (pairs if round_ % 2 == 0 else pairs[::-1]):
                            s = server(name, argv, ["--appendonly", "yes", "--appendfsync", policy])
                            runs[name].append(aof_throughput(args.redis_benchmark, s, args.requests, hot))
                            s.stop()
                    a, b = ({k: statistics.median(r[k] for r in runs[name]) for k in runs[name][0]} for name in names)
                    rows.append(["SET, appendfsync %s (req/s)" % label, bench.fmt_rps(a["rps"]),
                                 bench.fmt_rps(b["rps"]), bench.fmt_ratio(bench.ratio(a["rps"], b["rps"]))])
                    rows.append(["SET, appendfsync %s p99 (ms)" % label, bench.fmt_ms(a["p99"]), bench.fmt_ms(b["p99"]),
                                 bench.fmt_ratio(bench.ratio(a["p99"], b["p99"]))])
                    rows.append(["SET, appendfsync %s CPU (us/req)" % label, bench.fmt_us(a["cpu_us"]),
                                 bench.fmt_us(b["cpu_us"]), bench.fmt_ratio(bench.ratio(a["cpu_us"], b["cpu_us"]))])
    except bench.BenchError as e:
        print("error: %s" % e, file=sys.stderr)
        return 1
    finally:
        stop_all(servers, workdir)
    print("%d keys of mixed types; %s" % (args.keys, time.strftime("%Y-%m-%d")))
    print(bench.render(["", "Shoal", "Redis", "Shoal/Redis"], rows, args.output == "markdown"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
