# Entry point for Redis 7.0.15's sentinel suite as tests/redis-suite/sentinel.sh
# runs it: started in the root of a mirrored suite tree, it sources the
# suite's own tests/sentinel/run.tcl unchanged, with two adjustments made
# through variable traces (the suite's files are not edited):
#
# - instances.tcl's fixed base ports (20000 for sentinels, 30000 for data
#   nodes, 1024 ports each) become SHOAL_SENTINEL_BASE_PORT,
#   SHOAL_REDIS_BASE_PORT and SHOAL_PORT_COUNT, so runs side by side use
#   disjoint ranges;
# - instances.tcl's `test` gains the skip list: a test whose name is in
#   SHOAL_SKIPFILE (exact names, or regular expressions starting with '/',
#   '#' comments; the format of test_helper.tcl's --skipfile) prints
#   `[skip]: <name>` and is not run; every test run prints `[ok]: <name>`,
#   `[err]: <name>` or `[exception]: <name>` when it ends, and
#   `[shoal-clock] <seconds>` marks the start of the units and the end of
#   each one.
#
# Arguments are run.tcl's own (--single <unit pattern>, --dont-clean, ...).

proc shoal_env_port {name default} {
    if {[info exists ::env($name)] && $::env($name) ne ""} {
        return $::env($name)
    }
    return $default
}

set ::shoal_overrides [dict create \
    ::sentinel_base_port [shoal_env_port SHOAL_SENTINEL_BASE_PORT 20000] \
    ::redis_base_port [shoal_env_port SHOAL_REDIS_BASE_PORT 30000] \
    ::redis_port_count [shoal_env_port SHOAL_PORT_COUNT 1024]]

# A write trace may set the variable again; the value it sets stands.
proc shoal_override {name1 name2 op} {
    set $name1 [dict get $::shoal_overrides $name1]
}
foreach var [dict keys $::shoal_overrides] {
    trace add variable $var write shoal_override
}

set ::shoal_skiptests {}
if {[info exists ::env(SHOAL_SKIPFILE)] && $::env(SHOAL_SKIPFILE) ne ""} {
    set fp [open $::env(SHOAL_SKIPFILE) r]
    foreach line [split [read $fp] "\n"] {
        if {[string index $line 0] ne "#"} { lappend ::shoal_skiptests $line }
    }
    close $fp
}

# run.tcl sets ::instances_count right after sourcing instances.tcl: the
# moment to wrap the `test` proc that file defined.
proc shoal_wrap_test {args} {
    trace remove variable ::instances_count write shoal_wrap_test
    rename ::test ::shoal_suite_test
    proc ::test {descr code} {
        if {[search_pattern_list $descr $::shoal_skiptests]} {
            puts "\[skip\]: $descr"
            return
        }
        set status [catch {uplevel 1 [list ::shoal_suite_test $descr $code]} result options]
        # One clean line per test for sentinel.sh to count (the suite's
        # own "<time>> <name>: OK" may be split by what a test prints).
        switch -- $status {
            0 { puts "\[ok\]: $descr" }
            4 { puts "\[err\]: $descr" }
            default { puts "\[exception\]: $descr" }
        }
        dict incr options -level
        return -options $options $result
    }
}
trace add variable ::instances_count write shoal_wrap_test

# Unit boundaries for timing: run_tests starts the units, check_leaks
# follows each one.
proc shoal_clock {args} { puts "\[shoal-clock\] [clock seconds]" }
proc shoal_trace_units {args} {
    trace remove variable ::instances_count write shoal_trace_units
    trace add execution run_tests enter shoal_clock
    trace add execution check_leaks enter shoal_clock
}
trace add variable ::instances_count write shoal_trace_units

source tests/sentinel/run.tcl
