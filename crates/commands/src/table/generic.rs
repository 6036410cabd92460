//! Command table: generic commands.

use crate::spec::*;

pub const COMMANDS: &[Spec] = &[
    Spec::new("copy", -3, "write denyoom", "keyspace write slow")
        .keys(&[key("RO access", 1), key("OW update", 2)])
        .doc("6.2.0", "O(N), N = elements in the source value", "Duplicates the value of one key into another key."),
    Spec::new("del", -2, "write", "keyspace write slow")
        .keys(&[at("RM delete", 1, range(-1, 1, 0))])
        .tips("request_policy:multi_shard response_policy:agg_sum")
        .doc("1.0.0", "O(N), N = keys given; O(M) for large values", "Removes the given keys."),
    Spec::new("dump", 2, "readonly", "keyspace read slow")
        .keys(&[key("RO access", 1)])
        .tips("nondeterministic_output")
        .doc("2.6.0", "O(1) to find the key, O(N*M) to serialize it", "Returns the serialized form of a key's value, for RESTORE."),
    Spec::new("exists", -2, "readonly fast", "keyspace read fast")
        .keys(&[at("RO", 1, range(-1, 1, 0))])
        .tips("request_policy:multi_shard response_policy:agg_sum")
        .doc("1.0.0", "O(N), N = number of keys given", "Counts how many of the given keys exist."),
    Spec::new("expire", -3, "write fast", "keyspace write fast")
        .keys(&[key("RW update", 1)])
        .doc("1.0.0", "O(1)", "Sets a time-to-live in seconds on a key."),
    Spec::new("expireat", -3, "write fast", "keyspace write fast")
        .keys(&[key("RW update", 1)])
        .doc("1.2.0", "O(1)", "Sets the expiration of a key as an absolute Unix time in seconds."),
    Spec::new("expiretime", 2, "readonly fast", "keyspace read fast")
        .keys(&[key("RO access", 1)])
        .doc("7.0.0", "O(1)", "Returns the absolute Unix time in seconds at which a key expires."),
    Spec::new("keys", 2, "readonly", "keyspace read slow dangerous")
        .tips("request_policy:all_shards nondeterministic_output_order")
        .doc("1.0.0", "O(N), N = number of keys in the database", "Lists all keys whose names match a glob-style pattern."),
    Spec::new("migrate", -6, "write", "keyspace write slow dangerous")
        .keys(&[
            at("RW access delete", 3, range(0, 1, 0)),
            after("RW access delete incomplete", "KEYS", -2, range(-1, 1, 0)),
        ])
        .special_keys()
        .tips("nondeterministic_output")
        .doc("2.6.0", "O(N) to serialize and send, plus the target's RESTORE", "Moves keys to another server: DUMP here, RESTORE there, then DEL here."),
    Spec::new("move", 3, "write fast", "keyspace write fast")
        .keys(&[key("RW access update", 1)])
        .doc("1.0.0", "O(1)", "Transfers a key from the current database to another one."),
    Spec::container("object", -2, &[
        Spec::new("object|encoding", 3, "readonly", "keyspace read slow")
            .keys(&[key("RO", 2)])
            .tips("nondeterministic_output")
            .doc("2.2.3", "O(1)", "Reports the internal encoding used to store a key's value."),
        Spec::new("object|freq", 3, "readonly", "keyspace read slow")
            .keys(&[key("RO", 2)])
            .tips("nondeterministic_output")
            .doc("4.0.0", "O(1)", "Shows the LFU access counter of a key."),
        Spec::new("object|help", 2, "loading stale", "keyspace slow")
            .doc("6.2.0", "O(1)", "Lists the available OBJECT subcommands and their usage."),
        Spec::new("object|idletime", 3, "readonly", "keyspace read slow")
            .keys(&[key("RO", 2)])
            .tips("nondeterministic_output")
            .doc("2.2.3", "O(1)", "Reports how many seconds have passed since a key was last accessed."),
        Spec::new("object|refcount", 3, "readonly", "keyspace read slow")
            .keys(&[key("RO", 2)])
            .tips("nondeterministic_output")
            .doc("2.2.3", "O(1)", "Shows how many references point to the value of a key."),
    ])
    .doc("2.2.3", "Varies by subcommand", "Groups commands that inspect the internals of stored values."),
    Spec::new("persist", 2, "write fast", "keyspace write fast")
        .keys(&[key("RW update", 1)])
        .doc("2.2.0", "O(1)", "Clears the expiration of a key so it no longer expires."),
    Spec::new("pexpire", -3, "write fast", "keyspace write fast")
        .keys(&[key("RW update", 1)])
        .doc("2.6.0", "O(1)", "Sets a time-to-live in milliseconds on a key."),
    Spec::new("pexpireat", -3, "write fast", "keyspace write fast")
        .keys(&[key("RW update", 1)])
        .doc("2.6.0", "O(1)", "Sets the expiration of a key as an absolute Unix time in milliseconds."),
    Spec::new("pexpiretime", 2, "readonly fast", "keyspace read fast")
        .keys(&[key("RO access", 1)])
        .doc("7.0.0", "O(1)", "Returns the absolute Unix time in milliseconds at which a key expires."),
    Spec::new("pttl", 2, "readonly fast", "keyspace read fast")
        .keys(&[key("RO access", 1)])
        .tips("nondeterministic_output")
        .doc("2.6.0", "O(1)", "Returns the remaining time-to-live of a key in milliseconds."),
    Spec::new("randomkey", 1, "readonly touches_arbitrary_keys", "keyspace read slow")
        .tips("request_policy:all_shards nondeterministic_output")
        .doc("1.0.0", "O(1)", "Picks a key at random from the current database."),
    Spec::new("rename", 3, "write", "keyspace write slow")
        .keys(&[key("RW access delete", 1), key("OW update", 2)])
        .doc("1.0.0", "O(1)", "Gives a key a new name, replacing any existing destination."),
    Spec::new("renamenx", 3, "write fast", "keyspace write fast")
        .keys(&[key("RW access delete", 1), key("OW insert", 2)])
        .doc("1.0.0", "O(1)", "Renames a key unless the new name is already taken."),
    Spec::new("restore", -4, "write denyoom", "keyspace write slow dangerous")
        .keys(&[key("OW update", 1)])
        .doc("2.6.0", "O(N*M) to rebuild the value", "Creates a key from a value serialized by DUMP."),
    Spec::new("scan", -2, "readonly touches_arbitrary_keys", "keyspace read slow")
        .tips("nondeterministic_output request_policy:special")
        .doc("2.8.0", "O(1) per call, O(N) for a full pass", "Incrementally walks the key names of the database with a cursor."),
    Spec::new("touch", -2, "readonly fast", "keyspace read fast")
        .keys(&[at("RO", 1, range(-1, 1, 0))])
        .tips("request_policy:multi_shard response_policy:agg_sum")
        .doc("3.2.1", "O(N), N = number of keys given", "Updates the last access time of the given keys and counts those found."),
    Spec::new("ttl", 2, "readonly fast", "keyspace read fast")
        .keys(&[key("RO access", 1)])
        .tips("nondeterministic_output")
        .doc("1.0.0", "O(1)", "Returns the remaining time-to-live of a key in seconds."),
    Spec::new("type", 2, "readonly fast", "keyspace read fast")
        .keys(&[key("RO", 1)])
        .doc("1.0.0", "O(1)", "Returns the data type of the value stored at a key."),
    Spec::new("unlink", -2, "write fast", "keyspace write fast")
        .keys(&[at("RM delete", 1, range(-1, 1, 0))])
        .tips("request_policy:multi_shard response_policy:agg_sum")
        .doc("4.0.0", "O(1) per key, memory reclaimed in background", "Removes keys and frees their memory asynchronously."),
    Spec::new("sort", -2, "write denyoom", "write set sortedset list slow dangerous")
        .keys(&[key("RO access", 1), unknown("RO access"), unknown("OW update")])
        .special_keys()
        .doc("1.0.0", "O(N+M*log(M)), M = returned elements", "Orders the elements of a list, set or sorted set, with an option to save the output."),
    Spec::new("sort_ro", -2, "readonly", "read set sortedset list slow dangerous")
        .keys(&[key("RO access", 1), unknown("RO access")])
        .special_keys()
        .doc("7.0.0", "O(N+M*log(M)), M = returned elements", "Read-only form of SORT that returns the sorted elements."),
    Spec::new("wait", 3, "noscript", "slow connection")
        .tips("request_policy:all_shards response_policy:agg_min")
        .doc("3.0.0", "O(1)", "Blocks until the replicas acknowledged the writes this connection sent, or a timeout."),
];
