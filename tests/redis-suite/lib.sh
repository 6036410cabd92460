# Shared by run.sh (external mode), spawn.sh (spawn mode) and sentinel.sh
# (the sentinel suite); sourced, not run. Expects `here` (this directory) and `root` (the repository) set.
#
# The suite comes from Debian's source package `redis` (fetched with
# apt-get source on first use into target/redis-suite, never copied into
# this repository); REDIS_SUITE_DIR points at another unpacked
# redis-7.0.15 tree instead.

cache=$root/target/redis-suite
suite=${REDIS_SUITE_DIR:-$cache/redis-7.0.15}

fetch_suite() {
    [ -f "$suite/tests/test_helper.tcl" ] && return
    mkdir -p "$cache"
    if ! ls "$cache"/redis_7.0.15*.orig.tar.gz >/dev/null 2>&1; then
        if ! grep -rqs '^Types:.*deb-src\|^deb-src' /etc/apt/sources.list /etc/apt/sources.list.d/; then
            # Source entries for the archives apt already uses for Debian.
            echo "adding deb-src entries beside apt's Debian ones" >&2
            if [ -f /etc/apt/sources.list.d/debian.sources ]; then
                sed 's/^Types:.*/Types: deb-src/' /etc/apt/sources.list.d/debian.sources \
                    > /etc/apt/sources.list.d/shoal-deb-src.sources
            else
                sed -n 's/^deb /deb-src /p' /etc/apt/sources.list > /etc/apt/sources.list.d/shoal-deb-src.list
            fi
        fi
        apt-get update -qq >/dev/null
        (cd "$cache" && apt-get source --download-only redis >/dev/null)
    fi
    tar -xzf "$cache"/redis_7.0.15*.orig.tar.gz -C "$cache"
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# The units of a list file (first word of each line that is not a comment).
list_units() {
    grep -v '^\s*#' "$1" | awk 'NF {print $1}'
}

# The --tags option for a unit of a list file. Tests tagged slow are left
# out unless the unit's line says `with-slow`; a word `-tag` on the line
# leaves out the blocks and tests tagged `tag` as well.
tags_for() {
    local list=$1 unit=$2
    grep -v '^\s*#' "$list" | awk -v u="$unit" '
        $1 == u { for (i = 2; i <= NF; i++) { if ($i == "with-slow") slow = 1; else if ($i ~ /^-/) deny = deny " " $i } }
        END { tags = (slow ? "" : "-slow") deny; sub(/^ /, "", tags); if (tags != "") print "--tags\n" tags }'
}

# "ok failed skipped" counted in a unit's log (colours already stripped).
# A run that exited non-zero without reporting a failed test (a crash, a
# timeout, an aborted unit) counts as one failure.
log_counts() {
    local log=$1 status=$2 ok err skipped
    ok=$(grep -ac '^\[ok\]' "$log" || true)
    err=$(grep -ac '^\[err\]\|^\[exception\]\|^\[TIMEOUT\]' "$log" || true)
    skipped=$(grep -ac '^\[skip\]' "$log" || true)
    if [ "$status" -ne 0 ] && [ "$err" -eq 0 ]; then err=1; fi
    echo "$ok $err $skipped"
}

strip_colours() {
    sed -u 's/\x1b\[[0-9;]*m//g'
}

# Lays out DIR as a mirror of the unpacked suite: every entry a symlink
# into it, except src/ (empty: the caller puts the binaries under test
# there) and the directories given as REAL (paths such as tests or
# tests/sentinel, parents first), which are directories of their own whose
# entries are mirrored the same way and whose tmp/ is their own and empty.
mirror_suite() {
    local dir=$1 entry rel; shift
    mkdir -p "$dir/src"
    _mirror_level "$dir" "" "$@"
}

_mirror_level() {
    local dir=$1 sub=$2 entry rel real; shift 2
    for entry in "$suite/$sub"*; do
        rel=${entry#"$suite"/}
        [ "$rel" = src ] && continue
        if [ -n "$sub" ] && [ "$rel" = "${sub}tmp" ]; then
            mkdir -p "$dir/$rel"
            continue
        fi
        for real in "$@"; do
            if [ "$rel" = "$real" ]; then
                mkdir -p "$dir/$rel"
                _mirror_level "$dir" "$rel/" "$@"
                continue 2
            fi
        done
        ln -s "$entry" "$dir/$rel"
    done
}

# Writes an executable WRAPPER that appends "<its pid> BIN" to PIDS and
# execs BIN with its own arguments followed by EXTRA (one word, optional).
write_server_wrapper() {
    local wrapper=$1 pids=$2 bin=$3 extra=${4:+ $4}
    printf '#!/bin/sh\necho "$$ %s" >> "%s"\nexec "%s" "$@"%s\n' "$bin" "$pids" "$bin" "$extra" > "$wrapper"
    chmod +x "$wrapper"
}

# The job pool: runs COMMAND... SLOT in the background once fewer than
# $max_jobs jobs run, SLOT being the first of 0-63 no running job holds (a
# job's port range comes from its slot).
declare -a pool_slot_pid
pool_run() {
    local slot pid
    while [ "$(jobs -rp | wc -l)" -ge "$max_jobs" ]; do wait -n || true; done
    for slot in $(seq 0 63); do
        pid=${pool_slot_pid[$slot]:-}
        [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || break
    done
    "$@" "$slot" &
    pool_slot_pid[$slot]=$!
}

# Creates the work directory $work (PREFIX.XXXXXX under TMPDIR), removed
# on exit (kept when the caller's keep is 1) after stopping what the jobs
# in it left running.
start_work_dir() {
    work=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")
    trap cleanup_work_dir EXIT
    trap "exit 130" INT TERM
}

cleanup_work_dir() {
    # On an interruption, jobs still running: their `timeout` passes the
    # signal on to the harness's process group. Then servers a timed-out or
    # aborted job left behind. Only pids a job recorded, and only while
    # they still run what we started.
    local file
    for file in "$work"/*/harness-pid; do stop_recorded_harness "$file"; done
    wait
    for file in "$work"/*/server-pids; do kill_recorded_servers "$file"; done
    if [ "${keep:-0}" -eq 1 ]; then echo "work trees kept in $work"; else rm -rf "$work"; fi
}

# Kills (SIGKILL) the servers write_server_wrapper recorded in PIDS that
# are still running the binary recorded beside them: only what we started.
kill_recorded_servers() {
    local pids=$1 pid bin
    [ -f "$pids" ] || return 0
    while read -r pid bin; do
        [ "$(readlink -f "/proc/$pid/exe" 2>/dev/null)" = "$(readlink -f "$bin")" ] && kill -9 "$pid" 2>/dev/null
    done < "$pids"
    return 0
}

# Kills the `timeout` whose pid a job recorded in FILE (it passes the signal
# on to the harness's process group), if it still runs.
stop_recorded_harness() {
    local file=$1 pid
    [ -f "$file" ] || return 0
    pid=$(cat "$file")
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = timeout ] && kill "$pid" 2>/dev/null
    return 0
}
