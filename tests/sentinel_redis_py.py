"""redis-py's Sentinel class against Shoal's sentinels (driven by tests/sentinel_failover.rs).

Arguments: the sentinels' ports. The script finds the master of `mymaster` through the
sentinels, writes through it, prints `ready <master port>` and waits for a line on stdin
(the test kills the master meanwhile). Then it keeps writing through the same client
object, unchanged, until the write succeeds on the new master, checks the sentinels now
name another master and that the write is there, and prints `moved <new port>`.
Exits non-zero on any failure.
"""

import sys
import time

import redis
from redis.sentinel import Sentinel


def main():
    ports = [int(p) for p in sys.argv[1:]]
    sentinel = Sentinel([("127.0.0.1", p) for p in ports], socket_timeout=2.0)
    master = sentinel.master_for("mymaster", socket_timeout=2.0)
    _, port = sentinel.discover_master("mymaster")
    assert master.set("before", "failover")
    assert master.get("before") == b"failover"
    replicas = sentinel.discover_slaves("mymaster")
    assert len(replicas) == 2, replicas
    print(f"ready {port}", flush=True)
    sys.stdin.readline()

    deadline = time.time() + 90
    while True:
        try:
            master.set("after", "failover")
            break
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError,
                redis.exceptions.ReadOnlyError) as e:
            if time.time() > deadline:
                raise SystemExit(f"no write succeeded after the failover: {e!r}")
            time.sleep(0.2)

    host, new_port = sentinel.discover_master("mymaster")
    assert new_port != port, (port, new_port)
    direct = redis.Redis(host=host, port=new_port)
    assert direct.get("after") == b"failover"
    assert direct.get("before") == b"failover"
    assert master.get("after") == b"failover"
    print(f"moved {new_port}", flush=True)


if __name__ == "__main__":
    main()
