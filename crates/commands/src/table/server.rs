//! Command table: server commands.

use crate::spec::*;

pub const COMMANDS: &[Spec] = &[
    Spec::container("command", -1, &[
        Spec::new("command|count", 2, "loading stale", "slow connection")
            .doc("2.8.13", "O(1)", "Returns how many commands the server supports."),
        Spec::new("command|docs", -2, "loading stale", "slow connection")
            .tips("nondeterministic_output_order")
            .doc("7.0.0", "O(N), N = number of commands described", "Returns documentation details about commands."),
        Spec::new("command|getkeys", -4, "loading stale", "slow connection")
            .doc("2.8.13", "O(N), N = number of arguments", "Works out which arguments of a given command line are keys."),
        Spec::new("command|getkeysandflags", -4, "loading stale", "slow connection")
            .doc("7.0.0", "O(N), N = number of arguments", "Works out the key arguments of a command line and how each is accessed."),
        Spec::new("command|help", 2, "loading stale", "slow connection")
            .doc("5.0.0", "O(1)", "Lists the available COMMAND subcommands and their usage."),
        Spec::new("command|info", -2, "loading stale", "slow connection")
            .tips("nondeterministic_output_order")
            .doc("2.8.13", "O(N), N = number of commands described", "Returns metadata about the given commands, or all of them."),
        Spec::new("command|list", -2, "loading stale", "slow connection")
            .tips("nondeterministic_output_order")
            .doc("7.0.0", "O(N), N = number of commands", "Lists command names, optionally filtered."),
    ])
    .flags("loading stale")
    .acl("slow connection")
    .tips("nondeterministic_output_order")
    .doc("2.8.13", "O(N), N = number of commands", "Returns metadata about every supported command."),
    Spec::container("acl", -2, &[
        Spec::new("acl|cat", -2, "noscript loading stale", "slow")
            .doc("6.0.0", "O(1)", "Lists the ACL categories, or the commands of one category."),
        Spec::new("acl|deluser", -3, "admin noscript loading stale", "admin slow dangerous")
            .doc("6.0.0", "O(1) per user", "Removes ACL users and closes their connections."),
        Spec::new("acl|dryrun", -4, "admin noscript loading stale", "admin slow dangerous")
            .doc("7.0.0", "O(1)", "Tells whether a user may run a command, without running it."),
        Spec::new("acl|genpass", -2, "noscript loading stale", "slow")
            .doc("6.0.0", "O(N), N = bits asked for", "Returns random hex characters usable as a password."),
        Spec::new("acl|getuser", 3, "admin noscript loading stale", "admin slow dangerous")
            .doc("6.0.0", "O(N), N = rules of the user", "Shows one user's flags, passwords and permissions."),
        Spec::new("acl|help", 2, "loading stale", "slow")
            .doc("6.0.0", "O(1)", "Lists the ACL subcommands and their usage."),
        Spec::new("acl|list", 2, "admin noscript loading stale", "admin slow dangerous")
            .doc("6.0.0", "O(N), N = users", "Shows every user as an ACL file line."),
        Spec::new("acl|load", 2, "admin noscript loading stale", "admin slow dangerous")
            .doc("6.0.0", "O(N), N = users", "Replaces the users with those of the ACL file."),
        Spec::new("acl|log", -2, "admin noscript loading stale", "admin slow dangerous")
            .doc("6.0.0", "O(N), N = entries shown", "Shows or clears the log of refused commands and logins."),
        Spec::new("acl|save", 2, "admin noscript loading stale", "admin slow dangerous")
            .doc("6.0.0", "O(N), N = users", "Writes the users to the ACL file."),
        Spec::new("acl|setuser", -3, "admin noscript loading stale", "admin slow dangerous")
            .doc("6.0.0", "O(N), N = rules given", "Creates or changes a user by applying rules in order."),
        Spec::new("acl|users", 2, "admin noscript loading stale", "admin slow dangerous")
            .doc("6.0.0", "O(N), N = users", "Lists the user names."),
        Spec::new("acl|whoami", 2, "noscript loading stale", "slow")
            .doc("6.0.0", "O(1)", "Returns the user of this connection."),
    ])
    .doc("6.0.0", "Varies by subcommand", "Groups the commands that manage ACL users."),
    Spec::container("config", -2, &[
        Spec::new("config|get", -3, "admin noscript loading stale", "admin slow dangerous")
            .doc("2.0.0", "O(N), N = parameters matched", "Reads configuration parameters matching the given patterns."),
        Spec::new("config|help", 2, "loading stale", "slow")
            .doc("5.0.0", "O(1)", "Lists the available CONFIG subcommands and their usage."),
        Spec::new("config|resetstat", 2, "admin noscript loading stale", "admin slow dangerous")
            .doc("2.0.0", "O(1)", "Zeroes the statistics reported by INFO."),
        Spec::new("config|rewrite", 2, "admin noscript loading stale", "admin slow dangerous")
            .doc("2.8.0", "O(1)", "Writes the running configuration back to the config file."),
        Spec::new("config|set", -4, "admin noscript loading stale", "admin slow dangerous")
            .tips("request_policy:all_nodes response_policy:all_succeeded")
            .doc("2.0.0", "O(N), N = parameters given", "Changes configuration parameters at runtime."),
    ])
    .doc("2.0.0", "Varies by subcommand", "Groups commands that read and change server configuration."),
    Spec::new("bgrewriteaof", 1, "admin noscript no_async_loading", "admin slow dangerous")
        .doc("1.0.0", "O(1)", "Rewrites the append-only file in the background, without fork."),
    Spec::new("bgsave", -1, "admin noscript no_async_loading", "admin slow dangerous")
        .doc("1.0.0", "O(1)", "Saves the dataset to disk in the background, without fork."),
    Spec::new("dbsize", 1, "readonly fast", "keyspace read fast")
        .tips("request_policy:all_shards response_policy:agg_sum")
        .doc("1.0.0", "O(1)", "Counts the keys held by the currently selected database."),
    Spec::new("debug", -2, "admin noscript loading stale", "admin slow dangerous")
        .doc("1.0.0", "Varies by subcommand", "Offers internal commands for debugging the server."),
    Spec::new("flushall", -1, "write", "keyspace write slow dangerous")
        .tips("request_policy:all_shards response_policy:all_succeeded")
        .doc("1.0.0", "O(N), N = total number of keys", "Deletes every key in every database."),
    Spec::new("flushdb", -1, "write", "keyspace write slow dangerous")
        .tips("request_policy:all_shards response_policy:all_succeeded")
        .doc("1.0.0", "O(N), N = keys in the current database", "Empties the currently selected database."),
    Spec::new("restore-asking", -4, "write denyoom asking", "keyspace write slow dangerous")
        .keys(&[key("OW update", 1)])
        .doc("3.0.0", "O(N*M) to rebuild the value", "RESTORE as a cluster migration sends it; the same as RESTORE outside a cluster."),
    Spec::new("info", -1, "loading stale", "slow dangerous")
        .tips("nondeterministic_output request_policy:all_shards response_policy:special")
        .doc("1.0.0", "O(1)", "Reports server status, metrics and configuration details by section."),
    Spec::new("lastsave", 1, "loading stale fast", "admin fast dangerous")
        .tips("nondeterministic_output")
        .doc("1.0.0", "O(1)", "Reports when the dataset was last saved to disk, as a Unix timestamp."),
    Spec::container("memory", -2, &[
        Spec::new("memory|usage", -3, "readonly", "read slow")
            .keys(&[key("RO", 2)])
            .doc("4.0.0", "O(N), N = samples taken", "Estimates how many bytes a key and its value occupy."),
    ])
    .doc("4.0.0", "Varies by subcommand", "Groups commands for inspecting memory usage."),
    Spec::new("monitor", 1, "admin noscript loading stale", "admin slow dangerous")
        .doc("1.0.0", "O(1)", "Streams every command the server processes to this connection."),
    Spec::container("slowlog", -2, &[
        Spec::new("slowlog|get", -2, "admin loading stale", "admin slow dangerous")
            .tips("request_policy:all_nodes nondeterministic_output")
            .doc("2.2.12", "O(N), N = entries returned", "Lists the most recent slow log entries."),
        Spec::new("slowlog|help", 2, "loading stale", "slow")
            .doc("6.2.0", "O(1)", "Lists the available SLOWLOG subcommands and their usage."),
        Spec::new("slowlog|len", 2, "admin loading stale", "admin slow dangerous")
            .tips("request_policy:all_nodes response_policy:agg_sum nondeterministic_output")
            .doc("2.2.12", "O(1)", "Counts the entries in the slow log."),
        Spec::new("slowlog|reset", 2, "admin loading stale", "admin slow dangerous")
            .tips("request_policy:all_nodes response_policy:all_succeeded")
            .doc("2.2.12", "O(N), N = entries in the slow log", "Empties the slow log."),
    ])
    .doc("2.2.12", "Varies by subcommand", "Groups commands for reading and clearing the slow log."),
    Spec::new("failover", -1, "admin noscript stale", "admin slow dangerous")
        .doc("6.2.0", "O(1)", "Hands the master role to one of this master's replicas, in step with it."),
    Spec::new("psync", -3, "admin noscript no_async_loading no_multi", "admin slow dangerous")
        .doc("2.8.0", "O(1)", "Internal command replicas use to start partial or full sync."),
    Spec::new("replconf", -1, "admin noscript loading stale allow_busy", "admin slow dangerous")
        .doc("3.0.0", "O(1)", "Internal command for exchanging replication settings."),
    Spec::new("replicaof", 3, "admin noscript stale no_async_loading", "admin slow dangerous")
        .doc("5.0.0", "O(1)", "Makes the server a replica of another one, or a master again (NO ONE)."),
    Spec::new("role", 1, "noscript loading stale fast", "admin fast dangerous")
        .doc("2.8.12", "O(1)", "Reports the server's replication role with its offsets and peers."),
    Spec::new("save", 1, "admin noscript no_async_loading no_multi", "admin slow dangerous")
        .doc("1.0.0", "O(N), N = total number of keys", "Saves the dataset to disk, waiting until it is written."),
    Spec::new("shutdown", -1, "admin noscript loading stale no_multi allow_busy", "admin slow dangerous")
        .doc("1.0.0", "O(N), N = keys saved before exit", "Stops the server, optionally saving data first."),
    Spec::new("slaveof", 3, "admin noscript stale no_async_loading", "admin slow dangerous")
        .doc("1.0.0", "O(1)", "The old name of REPLICAOF."),
    Spec::new("swapdb", 3, "write fast", "keyspace write fast dangerous")
        .doc("4.0.0", "O(N), N = clients watching or blocked on keys", "Exchanges the contents of two databases."),
    Spec::new("sync", 1, "admin noscript no_async_loading no_multi", "admin slow dangerous")
        .doc("1.0.0", "O(1)", "Internal command used by replicas to perform a full sync."),
    Spec::new("time", 1, "loading stale fast", "fast")
        .tips("nondeterministic_output")
        .doc("2.6.0", "O(1)", "Returns the current server time in seconds and microseconds."),
];
