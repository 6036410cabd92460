#!/usr/bin/env bash
# Runs Redis 7.0.15's own sentinel suite (tests/sentinel, units 00-base to
# 13-info-command, through its run.tcl and instances.tcl: 5 sentinels and
# 5 data nodes shared by every unit) with a chosen server for the data
# nodes and one for the sentinels. A combination is written NODES/SENTINELS:
#
#   redis/redis   redis-server data nodes, redis-server --sentinel (baseline)
#   shoal/redis   shoal-server data nodes managed by Redis's sentinel
#   redis/shoal   redis-server data nodes managed by shoal-server --sentinel
#   shoal/shoal   Shoal only
#
#   tests/redis-suite/sentinel.sh                      # shoal/redis
#   tests/redis-suite/sentinel.sh --compare            # shoal/redis and redis/redis
#   tests/redis-suite/sentinel.sh --with shoal/shoal --with redis/redis 00-base 05-manual
#   tests/redis-suite/sentinel.sh --all                # the four combinations
#   tests/redis-suite/sentinel.sh 07-down -- --dont-clean
#
# Units are chosen by name or a part of it (run.tcl's --single); arguments
# after `--` go to run.tcl as they are (--dont-clean, --pause-on-error...).
# Prints per-unit ok/failed/skipped counts and seconds for each combination
# side by side; exits non-zero if any combination run has a failure.
#
# Both sides skip the tests listed in skiplist.txt (exact names or
# /regexps, as spawn.sh passes it to test_helper.tcl), so their counts
# cover the same tests. A skipped test's later tests still run: skip only a
# test whose absence leaves the instances as the next test expects them.
#
# Each combination runs in a work tree of its own mirroring the suite
# (tests/ and tests/sentinel/ directories of their own with their own
# tmp/, everything else symlinked) whose src/redis-server and
# src/redis-sentinel are wrappers that record their pids and exec the
# chosen binaries (a sentinel as `<binary> <config> --sentinel`). The entry
# is sentinel-run.tcl, which sources the suite's run.tcl unchanged but moves
# instances.tcl's fixed base ports to a range per combination, so
# combinations (and, most likely, other runs of this script) can run at once
# without taking each other's ports.
#
# Options: --with NODES/SENTINELS (repeatable), --compare, --all (above);
# --jobs N (combinations at once, default 1: the suite's timings are tight
# and a busy machine makes it flaky); --keep (keep work trees, logs and the
# instances' directories: run.tcl's --dont-clean).
# Environment: SHOAL_BIN (default target/release/shoal-server),
# REDIS_SERVER_BIN (default: redis-server on PATH), REDIS_SUITE_DIR (an
# unpacked redis-7.0.15 tree), RUN_TIMEOUT (seconds per combination,
# default 1800).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
. "$here/lib.sh"
shoal_bin=${SHOAL_BIN:-$root/target/release/shoal-server}
redis_bin=${REDIS_SERVER_BIN:-$(command -v redis-server || echo /usr/bin/redis-server)}
run_timeout=${RUN_TIMEOUT:-1800}

combos=() max_jobs=1 keep=0 units=() helper_args=()
while [ $# -gt 0 ]; do
    case $1 in
        --with) combos+=("$2"); shift ;;
        --compare) combos+=(shoal/redis redis/redis) ;;
        --all) combos+=(redis/redis shoal/redis redis/shoal shoal/shoal) ;;
        --jobs) max_jobs=$2; shift ;;
        --keep) keep=1 ;;
        --help|-h) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        --) shift; helper_args=("$@"); break ;;
        -*) echo "unknown option $1 (run.tcl options go after --)" >&2; exit 2 ;;
        *) units+=("$1") ;;
    esac
    shift
done
[ ${#combos[@]} -gt 0 ] || combos=(shoal/redis)
[ "$max_jobs" -ge 1 ] && [ "$max_jobs" -le 8 ] || { echo "--jobs takes 1 to 8" >&2; exit 2; }

fetch_suite
command -v tclsh >/dev/null || { echo "tclsh is required (apt-get install tcl)" >&2; exit 2; }
declare -A seen
for combo in "${combos[@]}"; do
    case $combo in
        redis/redis|shoal/redis|redis/shoal|shoal/shoal) ;;
        *) echo "unknown combination $combo (NODES/SENTINELS, each shoal or redis)" >&2; exit 2 ;;
    esac
    [ -z "${seen[$combo]:-}" ] || { echo "$combo given twice" >&2; exit 2; }
    seen[$combo]=1
done
binary() { if [ "$1" = shoal ]; then echo "$shoal_bin"; else echo "$redis_bin"; fi; }
for combo in "${combos[@]}"; do
    for side in "${combo%/*}" "${combo#*/}"; do
        [ -x "$(binary "$side")" ] || {
            echo "missing $(binary "$side") (shoal: cargo build --release; redis: apt-get install redis-server)" >&2
            exit 2
        }
    done
done
# Every unit when none is named: their names come from the suite.
if [ ${#units[@]} -eq 0 ]; then
    for entry in "$suite"/tests/sentinel/tests/*.tcl; do units+=("$(basename "$entry" .tcl)"); done
fi

start_work_dir shoal-sentinel

# Port ranges: instances.tcl takes each instance's port from a range and
# requires port + 10000 free as well (its defaults: sentinels from 20000,
# data nodes from 30000). Here block j puts sentinels at 10000 + 150j and
# data nodes 10000 higher, 100 ports each, so the ranges (and their +10000
# shadows) of different blocks never meet and all stay below the ephemeral
# ports. Each combination running takes the block of its job slot after a
# random first one, so other invocations of this script most likely use
# other blocks.
block_ports=150 port_count=100 first_block=$(( RANDOM % 52 ))

# Lays out the work tree of one combination and runs the suite in it.
run_combo() {
    local combo=$1 slot=$2
    local dir=$work/${combo/\//-} nodes=${combo%/*} sentinels=${combo#*/}
    mirror_suite "$dir" tests tests/sentinel
    write_server_wrapper "$dir/src/redis-server" "$dir/server-pids" "$(binary "$nodes")"
    write_server_wrapper "$dir/src/redis-sentinel" "$dir/server-pids" "$(binary "$sentinels")" --sentinel
    local unit args=() status started=$SECONDS
    for unit in "${units[@]}"; do args+=(--single "$unit"); done
    [ "$keep" -eq 0 ] || args+=(--dont-clean)
    set +e
    # timeout signals the harness's whole process group, instances included.
    (cd "$dir" && echo "$BASHPID" > "$dir/harness-pid" && \
        SHOAL_SENTINEL_BASE_PORT=$(( 10000 + (first_block + slot) * block_ports )) \
        SHOAL_REDIS_BASE_PORT=$(( 20000 + (first_block + slot) * block_ports )) \
        SHOAL_PORT_COUNT=$port_count SHOAL_SKIPFILE=$here/skiplist.txt \
        exec timeout -k 10 "$run_timeout" tclsh "$here/sentinel-run.tcl" \
        "${args[@]}" "${helper_args[@]}") < /dev/null 2>&1 | strip_colours > "$dir.log"
    status=${PIPESTATUS[0]}
    set -e
    unit_counts "$dir.log" "$status" > "$dir.counts"
    echo "$status $((SECONDS - started))" > "$dir.status"
}

# "unit ok failed skipped seconds" per unit from a run's log. A failure
# outside any test (an error in a unit's body, an aborted run, a crash
# report or leaked fds at the end) counts against the unit in progress;
# a run that exited non-zero without any counted failure (a timeout)
# counts one against the last unit.
unit_counts() {
    awk -v status="$2" '
        function start(u) { if (!(u in ok)) { order[++n] = u; ok[u] = err[u] = skip[u] = secs[u] = 0 } unit = u }
        BEGIN { start("(start)") }
        /^Testing unit: / { u = $3; sub(/\.tcl$/, "", u); start(u); pending = 0 }
        /^Cleaning up\.\.\./ { start("(cleanup)") }
        /^\[shoal-clock\] / { if (clock) secs[unit] += $2 - clock; clock = $2 }
        /^\[ok\]: / { ok[unit]++ }
        /^\[skip\]: / { skip[unit]++ }
        /^\[err\]: / { err[unit]++; total++; pending = 1 }
        /^\[exception\]: / { err[unit]++; total++; pending = 1 }
        /FAILED: caught an error in the test/ { if (pending) pending = 0; else { err[unit]++; total++ } }
        /WARNING: Aborting the test\.|Crash report found in|Sentinel has leaked fds/ { err[unit]++; total++ }
        END {
            if (status != 0 && total == 0) err[unit]++
            for (i = 1; i <= n; i++) {
                u = order[i]
                if ((u == "(start)" || u == "(cleanup)") && ok[u] + err[u] + skip[u] == 0) continue
                print u, ok[u], err[u], skip[u], secs[u]
            }
        }' "$1"
}

for combo in "${combos[@]}"; do pool_run run_combo "$combo"; done
wait

# The table: one line per unit, the combinations side by side.
failed=0
mapfile -t rows < <(for combo in "${combos[@]}"; do awk '{print $1}' "$work/${combo/\//-}.counts"; done | awk '!seen[$0]++')
for unit in "${rows[@]}"; do
    line=$(printf '%-20s' "$unit")
    for combo in "${combos[@]}"; do
        read -r _ ok err skipped secs < <(awk -v u="$unit" '$1 == u' "$work/${combo/\//-}.counts"; echo "$unit - - - -")
        line+=$(printf ' %-11s ok=%-3s failed=%-3s skipped=%-3s %4ss ' "$combo" "$ok" "$err" "$skipped" "$secs")
    done
    echo "$line"
done
for combo in "${combos[@]}"; do
    file=$work/${combo/\//-}
    read -r status secs < "$file.status"
    read -r ok err skipped < <(awk '{ o += $2; e += $3; s += $4 } END { print o + 0, e + 0, s + 0 }' "$file.counts")
    if [ "$err" -ne 0 ]; then
        failed=1
        echo "  $combo failures:"
        if grep -aq '^\[err\]\|^\[exception\]\|FAILED\|Aborting' "$file.log"; then
            grep -a -B3 -A6 '^\[err\]\|^\[exception\]\|FAILED\|Aborting' "$file.log" | head -80 | sed 's/^/    /' || true
        else
            tail -20 "$file.log" | sed 's/^/    /'
        fi
    fi
    echo "redis-suite sentinel, $combo (data nodes/sentinels): $ok passed, $err failed, $skipped skipped in ${secs}s (exit $status)"
done
[ "$failed" -eq 0 ]
