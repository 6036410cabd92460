//! Command table: scripting commands.

use crate::spec::*;

/// EVAL, EVALSHA, FCALL and their read-only forms: keys counted by the
/// argument after the script (or function) name.
const SCRIPT_KEYS_RW: &[KeySpec] = &[at("RW access update", 2, keynum(0, 1, 1))];
const SCRIPT_KEYS_RO: &[KeySpec] = &[at("RO access", 2, keynum(0, 1, 1))];

pub const COMMANDS: &[Spec] = &[
    Spec::new("eval", -3, "noscript stale skip_monitor no_mandatory_keys", "slow scripting")
        .keys(SCRIPT_KEYS_RW)
        .doc("2.6.0", "Depends on the script", "Runs a Lua script on the server."),
    Spec::new("evalsha", -3, "noscript stale skip_monitor no_mandatory_keys", "slow scripting")
        .keys(SCRIPT_KEYS_RW)
        .doc("2.6.0", "Depends on the script", "Runs a cached Lua script given its SHA1 digest."),
    Spec::new("eval_ro", -3, "readonly noscript stale skip_monitor no_mandatory_keys", "slow scripting")
        .keys(SCRIPT_KEYS_RO)
        .doc("7.0.0", "Depends on the script", "Runs a Lua script that may only read."),
    Spec::new("evalsha_ro", -3, "readonly noscript stale skip_monitor no_mandatory_keys", "slow scripting")
        .keys(SCRIPT_KEYS_RO)
        .doc("7.0.0", "Depends on the script", "Runs a cached read-only Lua script given its SHA1 digest."),
    Spec::new("fcall", -3, "noscript stale skip_monitor no_mandatory_keys", "slow scripting")
        .keys(SCRIPT_KEYS_RW)
        .doc("7.0.0", "Depends on the function", "Calls a function of a loaded library."),
    Spec::new("fcall_ro", -3, "readonly noscript stale skip_monitor no_mandatory_keys", "slow scripting")
        .keys(SCRIPT_KEYS_RO)
        .doc("7.0.0", "Depends on the function", "Calls a read-only function of a loaded library."),
    Spec::container("function", -2, &[
        Spec::new("function|delete", 3, "write noscript", "write slow scripting")
            .tips("request_policy:all_shards response_policy:all_succeeded")
            .doc("7.0.0", "O(1)", "Removes a function library."),
        Spec::new("function|dump", 2, "noscript", "slow scripting")
            .doc("7.0.0", "O(N), N = number of functions", "Serializes every loaded library."),
        Spec::new("function|flush", -2, "write noscript", "write slow scripting")
            .tips("request_policy:all_shards response_policy:all_succeeded")
            .doc("7.0.0", "O(N), N = number of loaded functions", "Removes every loaded function library."),
        Spec::new("function|help", 2, "loading stale", "slow scripting")
            .doc("7.0.0", "O(1)", "Lists the FUNCTION subcommands."),
        Spec::new("function|kill", 2, "noscript allow_busy", "slow scripting")
            .tips("request_policy:all_shards response_policy:one_succeeded")
            .doc("7.0.0", "O(1)", "Stops the function that is running, if it wrote nothing."),
        Spec::new("function|list", -2, "noscript", "slow scripting")
            .tips("nondeterministic_output_order")
            .doc("7.0.0", "O(N), N = number of functions", "Lists the loaded libraries and their functions."),
        Spec::new("function|load", -3, "write denyoom noscript", "write slow scripting")
            .tips("request_policy:all_shards response_policy:all_succeeded")
            .doc("7.0.0", "O(1), plus the library's compilation", "Loads a function library."),
        Spec::new("function|restore", -3, "write denyoom noscript", "write slow scripting")
            .tips("request_policy:all_shards response_policy:all_succeeded")
            .doc("7.0.0", "O(N), N = number of functions", "Loads libraries from a FUNCTION DUMP payload."),
        Spec::new("function|stats", 2, "noscript allow_busy", "slow scripting")
            .tips("nondeterministic_output request_policy:all_shards response_policy:special")
            .doc("7.0.0", "O(1)", "Reports the running function and the engines' counts."),
    ])
    .doc("7.0.0", "Varies by subcommand", "Groups commands that manage server-side function libraries."),
    Spec::container("script", -2, &[
        Spec::new("script|debug", 3, "noscript", "slow scripting")
            .doc("3.2.0", "O(1)", "Sets the debug mode of the scripts that follow (not supported)."),
        Spec::new("script|exists", -3, "noscript", "slow scripting")
            .tips("request_policy:all_shards response_policy:agg_logical_and")
            .doc("2.6.0", "O(N), N = number of digests", "Tells which digests name a cached script."),
        Spec::new("script|flush", -2, "noscript", "slow scripting")
            .tips("request_policy:all_nodes response_policy:all_succeeded")
            .doc("2.6.0", "O(N), N = number of cached scripts", "Empties the cache of Lua scripts."),
        Spec::new("script|help", 2, "loading stale", "slow scripting")
            .doc("5.0.0", "O(1)", "Lists the SCRIPT subcommands."),
        Spec::new("script|kill", 2, "noscript allow_busy", "slow scripting")
            .tips("request_policy:all_shards response_policy:one_succeeded")
            .doc("2.6.0", "O(1)", "Stops the script that is running, if it wrote nothing."),
        Spec::new("script|load", 3, "noscript stale", "slow scripting")
            .tips("request_policy:all_nodes response_policy:all_succeeded")
            .doc("2.6.0", "O(N), N = length of the script", "Compiles a script into the cache without running it."),
    ])
    .doc("2.6.0", "Varies by subcommand", "Groups commands that manage the Lua script cache."),
];
