#!/usr/bin/env bash
# Runs units of Redis 7.0.15's own Tcl test suite in spawn mode: the
# harness starts `src/redis-server <config>` itself for every test block,
# as it does in Redis's own tree, and here src/redis-server is shoal-server.
# Units tagged external:skip (info, querybuf, networking, integration/*, ...)
# only run this way. Fails if any test fails.
#
#   tests/redis-suite/spawn.sh                        # every unit in spawn-units.txt
#   tests/redis-suite/spawn.sh unit/info unit/limits  # chosen units
#   tests/redis-suite/spawn.sh --redis unit/info      # the system redis-server instead
#   tests/redis-suite/spawn.sh --compare unit/info    # both, counts side by side
#   tests/redis-suite/spawn.sh unit/info -- --only "/errorstats" --dump-logs
#
# Arguments after `--` go to tests/test_helper.tcl as they are (--only,
# --verbose, --dump-logs, --loop, --accurate, --tags ...). Both servers skip
# the tests listed in skiplist.txt, so their counts cover the same tests.
#
# Each unit runs in a work tree of its own that mirrors the unpacked suite
# (tests/* and the other top-level entries symlinked, tests/tmp its own) with
# src/ holding: redis-server, a wrapper that records its pid and execs the
# server under test; redis-check-aof, shoal-check-aof (from the directory
# of the shoal-server under test; the system's tool with --redis);
# redis-cli and redis-benchmark, the system's tools; redis-check-rdb,
# shoal-check-rdb likewise;
# redis-sentinel, the server under test with --sentinel.
# Units run in parallel on disjoint --baseport ranges.
#
# Options: --redis, --compare (above); --jobs N (units at once, default
# the number of CPUs); --keep (keep the work trees, logs and server logs);
# --with-slow (run tests tagged slow in every unit, not only in those
# spawn-units.txt marks `with-slow`).
# Environment: SHOAL_BIN (default target/release/shoal-server),
# REDIS_SERVER_BIN (default: redis-server on PATH), REDIS_SUITE_DIR (an
# unpacked redis-7.0.15 tree), UNIT_TIMEOUT (seconds per unit, default 600).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
. "$here/lib.sh"
shoal_bin=${SHOAL_BIN:-$root/target/release/shoal-server}
unit_timeout=${UNIT_TIMEOUT:-600}
list=$here/spawn-units.txt

servers=(shoal) max_jobs=$(nproc) keep=0 with_slow=0 units=() helper_args=()
while [ $# -gt 0 ]; do
    case $1 in
        --redis) servers=(redis) ;;
        --compare) servers=(shoal redis) ;;
        --jobs) max_jobs=$2; shift ;;
        --keep) keep=1 ;;
        --with-slow) with_slow=1 ;;
        --help|-h) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        --) shift; helper_args=("$@"); break ;;
        -*) echo "unknown option $1 (test_helper.tcl options go after --)" >&2; exit 2 ;;
        *) units+=("$1") ;;
    esac
    shift
done
[ "$max_jobs" -ge 1 ] && [ "$max_jobs" -le 64 ] || { echo "--jobs takes 1 to 64" >&2; exit 2; }
[ ${#units[@]} -gt 0 ] || mapfile -t units < <(list_units "$list")

fetch_suite
command -v tclsh >/dev/null || { echo "tclsh is required (apt-get install tcl)" >&2; exit 2; }
declare -A server_bin
for s in "${servers[@]}"; do
    case $s in
        shoal) server_bin[shoal]=$shoal_bin ;;
        redis) server_bin[redis]=${REDIS_SERVER_BIN:-$(command -v redis-server || echo /usr/bin/redis-server)} ;;
    esac
    [ -x "${server_bin[$s]}" ] || {
        echo "missing ${server_bin[$s]} (shoal: cargo build --release; redis: apt-get install redis-server)" >&2
        exit 2
    }
done
tool() { command -v "$1" || echo "/nonexistent/$1"; }

start_work_dir shoal-spawn

# Port ranges: the harness's own listener takes the 32 ports below
# --baseport, servers take --portcount ports from it, and each server's
# port + 10000 must be free too. Every running job has its own 250-port slot.
slot_ports=250 port_count=200
base_port=$(( 11000 + RANDOM % 20000 ))

# Lays out a work tree for one (server, unit) and runs the unit in it.
run_job() {
    local server=$1 unit=$2 slot=$3
    local dir=$work/$server-$(echo "$unit" | tr / _)
    local bin=${server_bin[$server]} entry
    mirror_suite "$dir" tests
    write_server_wrapper "$dir/src/redis-server" "$dir/server-pids" "$bin"
    write_server_wrapper "$dir/src/redis-sentinel" "$dir/server-pids" "$bin" --sentinel
    for entry in redis-cli redis-benchmark; do
        ln -s "$(tool "$entry")" "$dir/src/$entry"
    done
    # The checkers of the server under test: shoal-check-aof and
    # shoal-check-rdb from the shoal-server binary's directory, the
    # system's redis-check-aof and redis-check-rdb for Redis.
    for entry in aof rdb; do
        if [ "$server" = redis ]; then
            ln -s "$(tool "redis-check-$entry")" "$dir/src/redis-check-$entry"
        else
            ln -s "$(dirname "$bin")/shoal-check-$entry" "$dir/src/redis-check-$entry"
        fi
    done
    local port=$(( base_port + slot * slot_ports + 40 )) status started=$SECONDS tags=()
    [ "$with_slow" -eq 1 ] || mapfile -t tags < <(tags_for "$list" "$unit")
    set +e
    # timeout signals the harness's whole process group: its test clients
    # and the servers they spawned.
    (cd "$dir" && echo "$BASHPID" > "$dir/harness-pid" && exec timeout -k 10 "$unit_timeout" \
        tclsh tests/test_helper.tcl --single "$unit" \
        --clients 1 --baseport "$port" --portcount "$port_count" --durable --dont-clean \
        --timeout "$unit_timeout" --skipfile "$here/skiplist.txt" "${tags[@]}" \
        "${helper_args[@]}") < /dev/null 2>&1 | strip_colours > "$dir.log"
    status=${PIPESTATUS[0]}
    set -e
    echo "$(log_counts "$dir.log" "$status") $((SECONDS - started))" > "$dir.counts"
}

for unit in "${units[@]}"; do
    for server in "${servers[@]}"; do pool_run run_job "$server" "$unit"; done
done
wait

failed=0
declare -A total_ok total_err
for server in "${servers[@]}"; do total_ok[$server]=0; total_err[$server]=0; done
for unit in "${units[@]}"; do
    line=$(printf '%-28s' "$unit")
    for server in "${servers[@]}"; do
        dir=$work/$server-$(echo "$unit" | tr / _)
        read -r ok err skipped secs < "$dir.counts"
        total_ok[$server]=$(( total_ok[$server] + ok )); total_err[$server]=$(( total_err[$server] + err ))
        line+=$(printf ' %s ok=%-4s failed=%-3s skipped=%-3s %4ss ' "$server" "$ok" "$err" "$skipped" "$secs")
        [ "$err" -eq 0 ] || [ "$server" != "${servers[0]}" ] || failed=1
    done
    echo "$line"
    for server in "${servers[@]}"; do
        dir=$work/$server-$(echo "$unit" | tr / _)
        read -r ok err _ < "$dir.counts"
        if [ "$err" -ne 0 ]; then
            echo "  $server failures:"
            if grep -aq '^\[err\]\|^\[exception\]\|^\[TIMEOUT\]' "$dir.log"; then
                grep -a -A12 '^\[err\]\|^\[exception\]\|^\[TIMEOUT\]' "$dir.log" | head -60 | sed 's/^/    /' || true
            else
                tail -20 "$dir.log" | sed 's/^/    /'
            fi
        fi
    done
done
for server in "${servers[@]}"; do
    echo "redis-suite spawn mode, $server: ${total_ok[$server]} passed, ${total_err[$server]} failed"
done
[ "$failed" -eq 0 ]
