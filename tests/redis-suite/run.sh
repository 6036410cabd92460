#!/usr/bin/env bash
# Runs units of Redis 7.0.15's own Tcl test suite (external mode) against
# shoal-server and fails if any test fails.
#
# The suite comes from Debian's source package `redis` (fetched with
# apt-get source on first use, never copied into this repository; see
# lib.sh, shared with spawn.sh, which runs units in spawn mode).
#
#   tests/redis-suite/run.sh                 # every unit in units.txt
#   tests/redis-suite/run.sh unit/type/incr  # chosen units
#
# Environment: SHOAL_BIN (default target/release/shoal-server),
# REDIS_SUITE_DIR (an unpacked redis-7.0.15 tree), UNIT_TIMEOUT (seconds).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
. "$here/lib.sh"
bin=${SHOAL_BIN:-$root/target/release/shoal-server}
unit_timeout=${UNIT_TIMEOUT:-600}

fetch_suite
command -v tclsh >/dev/null || { echo "tclsh is required (apt-get install tcl)" >&2; exit 2; }
[ -x "$bin" ] || { echo "missing $bin: cargo build --release first" >&2; exit 2; }

if [ $# -gt 0 ]; then
    units=("$@")
else
    mapfile -t units < <(list_units "$here/units.txt")
fi

work=$(mktemp -d)
port=$(free_port)
# The harness probes ports from --baseport upwards: pick a random range so
# concurrent runs on one machine do not collide.
base_port=$(( 20000 + RANDOM % 30000 ))
server_pid=
stop_server() {
    [ -n "$server_pid" ] || return 0
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=
}
# Each unit gets a fresh server: units change the configuration (encoding
# thresholds...) without setting it back, which in external mode would
# leak into the next unit.
start_server() {
    rm -f "$work/dump.rdb"
    "$bin" --port "$port" --enable-debug-command yes --dir "$work" --save "" >> "$work/server.log" 2>&1 &
    server_pid=$!
    for _ in $(seq 50); do
        redis-cli -p "$port" ping >/dev/null 2>&1 && break
        sleep 0.1
    done
}
cleanup() { stop_server; rm -rf "$work"; }
trap cleanup EXIT

total_ok=0 total_err=0 failed_units=()
for unit in "${units[@]}"; do
    start_server
    log="$work/$(echo "$unit" | tr / _).log"
    mapfile -t tags < <(tags_for "$here/units.txt" "$unit")
    set +e
    (cd "$suite" && timeout "$unit_timeout" tclsh tests/test_helper.tcl --host 127.0.0.1 --port "$port" \
        "${tags[@]}" --durable --single "$unit" --skipfile "$here/skiplist.txt" \
        --clients 1 --baseport "$base_port") 2>&1 | strip_colours > "$log"
    status=${PIPESTATUS[0]}
    set -e
    read -r ok err _ < <(log_counts "$log" "$status")
    total_ok=$((total_ok + ok)); total_err=$((total_err + err))
    printf '%-28s ok=%-4s failed=%s\n' "$unit" "$ok" "$err"
    if [ "$err" -ne 0 ]; then
        failed_units+=("$unit")
        grep -a -A12 '^\[err\]\|^\[exception\]' "$log" | head -60 | sed 's/^/    /' || true
        if ! kill -0 "$server_pid" 2>/dev/null; then
            echo "shoal-server died; last log lines:"; tail -20 "$work/server.log"; exit 1
        fi
    fi
    stop_server
done
echo "redis-suite: $total_ok passed, $total_err failed"
[ "$total_err" -eq 0 ]
