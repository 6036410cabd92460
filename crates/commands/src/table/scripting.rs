//! Command table: scripting commands.

use crate::spec::*;

pub const COMMANDS: &[Spec] = &[
    Spec::container("function", -2, &[
        Spec::new("function|flush", -2, "write noscript", "write slow scripting")
            .tips("request_policy:all_shards response_policy:all_succeeded")
            .doc("7.0.0", "O(N), N = number of loaded functions", "Removes every loaded function library."),
    ])
    .doc("7.0.0", "Varies by subcommand", "Groups commands that manage server-side function libraries."),
    Spec::container("script", -2, &[
        Spec::new("script|flush", -2, "noscript", "slow scripting")
            .tips("request_policy:all_nodes response_policy:all_succeeded")
            .doc("2.6.0", "O(N), N = number of cached scripts", "Empties the cache of Lua scripts."),
    ])
    .doc("2.6.0", "Varies by subcommand", "Groups commands that manage the Lua script cache."),
];
