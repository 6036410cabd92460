# Shared by run.sh (external mode) and spawn.sh (spawn mode); sourced, not
# run. Expects `here` (this directory) and `root` (the repository) set.
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
    sed 's/\x1b\[[0-9;]*m//g'
}
