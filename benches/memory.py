#!/usr/bin/env python3
"""Memory per key, Shoal against redis-server, side by side in one run.

For each workload, a fresh shoal-server and a fresh redis-server are
started, loaded with the same keys through pipelined writes, and measured:
RSS (used_memory_rss) and used_memory before and after loading, divided by
the number of keys. Workloads: small strings, and 5-element hashes, sets,
sorted sets and lists of small members (the shapes of the data-types issue).

    benches/memory.py                 # 1,000,000 keys per workload
    benches/memory.py --keys 100000   # quicker
    benches/memory.py --only hash,set
    benches/memory.py --long          # longer keys, distinct members

Standard library only. Servers are started on free ports and stopped by pid.
"""

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SHOAL = os.path.join(HERE, "..", "target", "release", "shoal-server")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def encode(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


def commands(workload, n, long_shape=False):
    """Yields the commands that load one workload. The default shape has
    short members (m1..m5, f1/v1..); `long_shape` uses 16-byte keys and
    ~13-byte distinct members and values."""
    if long_shape:
        yield from long_commands(workload, n)
        return
    for i in range(n):
        key = b"key:%09d" % i
        if workload == "string":
            yield encode(b"SET", key, b"abc")
        elif workload == "hash":
            yield encode(b"HSET", key, b"f1", b"v1", b"f2", b"v2", b"f3", b"v3", b"f4", b"v4", b"f5", b"v5")
        elif workload == "set":
            yield encode(b"SADD", key, b"m1", b"m2", b"m3", b"m4", b"m5")
        elif workload == "zset":
            yield encode(b"ZADD", key, 1, b"m1", 2, b"m2", 3, b"m3", 4, b"m4", 5, b"m5")
        elif workload == "list":
            yield encode(b"RPUSH", key, b"m1", b"m2", b"m3", b"m4", b"m5")
        else:
            raise ValueError(workload)


def long_commands(workload, n):
    for i in range(n):
        key = b"key:%012d" % i
        members = [b"member:%06d%d" % (i, j) for j in range(1, 6)]
        if workload == "string":
            yield encode(b"SET", key, b"value:%06d" % i)
        elif workload == "hash":
            pairs = []
            for j in range(1, 6):
                pairs += [b"field:%d" % j, b"value:%06d%d" % (i, j)]
            yield encode(b"HSET", key, *pairs)
        elif workload == "set":
            yield encode(b"SADD", key, *members)
        elif workload == "zset":
            scored = []
            for j, m in enumerate(members, 1):
                scored += [j, m]
            yield encode(b"ZADD", key, *scored)
        elif workload == "list":
            yield encode(b"RPUSH", key, *members)
        else:
            raise ValueError(workload)


class Server:
    def __init__(self, name, argv):
        self.name = name
        self.long_shape = False
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="shoal-mem-")
        full = argv + ["--port", str(self.port), "--save", "", "--appendonly", "no", "--dir", self.dir]
        self.proc = subprocess.Popen(full, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                self.call(b"PING")
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"{name} did not start")

    def call(self, *args):
        with socket.create_connection(("127.0.0.1", self.port)) as s:
            s.sendall(encode(*args))
            data = b""
            while True:
                chunk = s.recv(1 << 20)
                if not chunk:
                    break
                data += chunk
                if data.startswith(b"$"):
                    header, _, rest = data.partition(b"\r\n")
                    if len(rest) >= int(header[1:]) + 2:
                        return rest[: int(header[1:])]
                elif data.endswith(b"\r\n"):
                    return data

    def info(self, field):
        text = self.call(b"INFO", b"memory").decode()
        for line in text.splitlines():
            if line.startswith(field + ":"):
                return int(line.split(":", 1)[1])
        raise KeyError(field)

    def load(self, workload, n):
        """Pipelines every command, reading replies on another thread."""
        sock = socket.create_connection(("127.0.0.1", self.port))
        replies = {"count": 0, "errors": 0}

        def reader():
            buf = b""
            while replies["count"] < n:
                chunk = sock.recv(1 << 20)
                if not chunk:
                    break
                buf += chunk
                lines = buf.split(b"\r\n")
                buf = lines.pop()
                for line in lines:
                    replies["count"] += 1
                    if line.startswith(b"-"):
                        replies["errors"] += 1

        t = threading.Thread(target=reader)
        t.start()
        batch = []
        for cmd in commands(workload, n, self.long_shape):
            batch.append(cmd)
            if len(batch) == 1000:
                sock.sendall(b"".join(batch))
                batch = []
        if batch:
            sock.sendall(b"".join(batch))
        t.join()
        sock.close()
        if replies["errors"]:
            raise RuntimeError(f"{self.name}: {replies['errors']} errors while loading {workload}")

    def stop(self):
        self.proc.kill()
        self.proc.wait()


def measure(name, argv, workload, n, long_shape=False):
    server = Server(name, argv)
    server.long_shape = long_shape
    try:
        rss0, used0 = server.info("used_memory_rss"), server.info("used_memory")
        server.load(workload, n)
        dbsize = int(server.call(b"DBSIZE")[1:-2])
        if dbsize != n:
            raise RuntimeError(f"{name}: DBSIZE {dbsize}, expected {n}")
        time.sleep(0.5)
        rss1, used1 = server.info("used_memory_rss"), server.info("used_memory")
        return (rss1 - rss0) / n, (used1 - used0) / n
    finally:
        server.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keys", type=int, default=1_000_000)
    parser.add_argument("--only", default="string,hash,set,zset,list")
    parser.add_argument("--redis", default="redis-server")
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--long", action="store_true",
                        help="16-byte keys and ~13-byte distinct members and values instead of m1..m5")
    args = parser.parse_args()
    if not os.path.exists(SHOAL):
        sys.exit("build first: cargo build --release")
    rows = []
    for workload in args.only.split(","):
        shoal = measure("shoal", [SHOAL], workload, args.keys, args.long)
        redis = measure("redis", [args.redis], workload, args.keys, args.long)
        rows.append((workload, shoal, redis))
        print(
            f"{workload:7} RSS/key shoal {shoal[0]:7.1f} redis {redis[0]:7.1f} ratio {shoal[0] / redis[0]:.2f}   "
            f"used_memory/key shoal {shoal[1]:7.1f} redis {redis[1]:7.1f}",
            flush=True,
        )
    if args.markdown:
        print(f"\n| {args.keys:,} keys | Shoal RSS B/key | Redis RSS B/key | ratio | Shoal used_memory B/key | Redis used_memory B/key |")
        print("|---|---|---|---|---|---|")
        for workload, s, r in rows:
            print(f"| {workload} | {s[0]:.1f} | {r[0]:.1f} | {s[0] / r[0]:.2f} | {s[1]:.1f} | {r[1]:.1f} |")


if __name__ == "__main__":
    main()
