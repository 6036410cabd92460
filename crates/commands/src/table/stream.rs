//! Command table: stream commands.

use crate::spec::*;

pub const COMMANDS: &[Spec] = &[
    Spec::new("xack", -4, "write fast", "write stream fast")
        .keys(&[key("RW update", 1)])
        .doc("5.0.0", "O(1) per message ID given", "Marks pending stream messages of a consumer group as processed."),
    Spec::new("xadd", -5, "write denyoom fast", "write stream fast")
        .keys(&[key("RW update", 1)])
        .tips("nondeterministic_output")
        .doc("5.0.0", "O(1) to add, O(N) when trimming N entries", "Adds an entry to the end of a stream, creating the stream if needed."),
    Spec::new("xautoclaim", -6, "write fast", "write stream fast")
        .keys(&[key("RW delete", 1)])
        .tips("nondeterministic_output")
        .doc("6.2.0", "O(1) per entry scanned", "Transfers ownership of idle pending messages to another consumer."),
    Spec::new("xclaim", -6, "write fast", "write stream fast")
        .keys(&[key("RW update", 1)])
        .tips("nondeterministic_output")
        .doc("5.0.0", "O(log(N)), N = pending entries of the group", "Reassigns specific pending messages to another consumer."),
    Spec::new("xdel", -3, "write fast", "write stream fast")
        .keys(&[key("RW delete", 1)])
        .doc("5.0.0", "O(1) per entry removed", "Deletes entries from a stream by ID."),
    Spec::container("xgroup", -2, &[
        Spec::new("xgroup|create", -5, "write denyoom", "write stream slow")
            .keys(&[key("RW insert", 2)])
            .doc("5.0.0", "O(1)", "Sets up a new consumer group for a stream."),
        Spec::new("xgroup|createconsumer", 5, "write denyoom", "write stream slow")
            .keys(&[key("RW insert", 2)])
            .doc("6.2.0", "O(1)", "Adds a named consumer to a consumer group."),
        Spec::new("xgroup|delconsumer", 5, "write", "write stream slow")
            .keys(&[key("RW delete", 2)])
            .doc("5.0.0", "O(1)", "Drops a consumer and its pending entries from a consumer group."),
        Spec::new("xgroup|destroy", 4, "write", "write stream slow")
            .keys(&[key("RW delete", 2)])
            .doc("5.0.0", "O(N), N = pending entries of the group", "Deletes a consumer group from a stream."),
        Spec::new("xgroup|help", 2, "loading stale", "stream slow")
            .doc("5.0.0", "O(1)", "Lists the available XGROUP subcommands and their usage."),
        Spec::new("xgroup|setid", -5, "write", "write stream slow")
            .keys(&[key("RW update", 2)])
            .doc("5.0.0", "O(1)", "Moves the delivery cursor of a consumer group to a new ID."),
    ])
    .doc("5.0.0", "Varies by subcommand", "Groups commands that manage stream consumer groups."),
    Spec::container("xinfo", -2, &[
        Spec::new("xinfo|consumers", 4, "readonly", "read stream slow")
            .keys(&[key("RO access", 2)])
            .tips("nondeterministic_output")
            .doc("5.0.0", "O(1)", "Describes the consumers of a stream consumer group."),
        Spec::new("xinfo|groups", 3, "readonly", "read stream slow")
            .keys(&[key("RO access", 2)])
            .doc("5.0.0", "O(1)", "Describes the consumer groups of a stream."),
        Spec::new("xinfo|help", 2, "loading stale", "stream slow")
            .doc("5.0.0", "O(1)", "Lists the available XINFO subcommands and their usage."),
        Spec::new("xinfo|stream", -3, "readonly", "read stream slow")
            .keys(&[key("RO access", 2)])
            .doc("5.0.0", "O(1), or O(N) with FULL, N = entries shown", "Describes a stream and its metadata."),
    ])
    .doc("5.0.0", "Varies by subcommand", "Groups commands that report on streams and consumer groups."),
    Spec::new("xlen", 2, "readonly fast", "read stream fast")
        .keys(&[key("RO", 1)])
        .doc("5.0.0", "O(1)", "Returns the number of entries in a stream."),
    Spec::new("xpending", -3, "readonly", "read stream slow")
        .keys(&[key("RO access", 1)])
        .tips("nondeterministic_output")
        .doc("5.0.0", "O(N), N = number of entries returned", "Reports on messages pending in a consumer group."),
    Spec::new("xrange", -4, "readonly", "read stream slow")
        .keys(&[key("RO access", 1)])
        .doc("5.0.0", "O(N), N = number of entries returned", "Fetches stream entries whose IDs fall between two bounds."),
    Spec::new("xread", -4, "readonly blocking", "read stream slow blocking")
        .keys(&[after("RO access", "STREAMS", 1, range(-1, 1, 2))])
        .doc("5.0.0", "O(N), N = number of entries returned", "Reads entries from one or more streams, optionally waiting."),
    Spec::new("xreadgroup", -7, "write blocking", "write stream slow blocking")
        .keys(&[after("RO access", "STREAMS", 4, range(-1, 1, 2))])
        .doc("5.0.0", "O(M), M = number of entries returned", "Reads stream entries on behalf of a consumer group consumer."),
    Spec::new("xrevrange", -4, "readonly", "read stream slow")
        .keys(&[key("RO access", 1)])
        .doc("5.0.0", "O(N), N = number of entries returned", "Fetches stream entries between two IDs, newest first."),
    Spec::new("xsetid", -3, "write denyoom fast", "write stream fast")
        .keys(&[key("RW update", 1)])
        .doc("5.0.0", "O(1)", "Updates the last-ID metadata of a stream."),
    Spec::new("xtrim", -4, "write", "write stream slow")
        .keys(&[key("RW delete", 1)])
        .tips("nondeterministic_output")
        .doc("5.0.0", "O(N), N = number of entries removed", "Discards old entries to keep a stream within a size or ID limit."),
];
