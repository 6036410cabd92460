//! Command table: pub/sub commands.

use crate::spec::*;

pub const COMMANDS: &[Spec] = &[
    Spec::new("psubscribe", -2, "pubsub noscript loading stale", "pubsub slow")
        .doc("2.0.0", "O(N), N = number of patterns subscribed to", "Listens for messages published to channels that match the given patterns."),
    Spec::new("publish", 3, "pubsub loading stale fast may_replicate", "pubsub fast")
        .doc("2.0.0", "O(N+M), N = subscribers of the channel, M = subscribed patterns", "Posts a message to a channel."),
    Spec::container("pubsub", -2, &[
        Spec::new("pubsub|channels", -2, "pubsub loading stale", "pubsub slow")
            .doc("2.8.0", "O(N), N = number of active channels", "Lists the channels that have subscribers, optionally matching a pattern."),
        Spec::new("pubsub|help", 2, "loading stale", "slow")
            .doc("6.2.0", "O(1)", "Lists the available PUBSUB subcommands and their usage."),
        Spec::new("pubsub|numpat", 2, "pubsub loading stale", "pubsub slow")
            .doc("2.8.0", "O(1)", "Reports how many distinct patterns have subscribers."),
        Spec::new("pubsub|numsub", -2, "pubsub loading stale", "pubsub slow")
            .doc("2.8.0", "O(N), N = number of channels asked about", "Reports the subscriber count of each given channel."),
        Spec::new("pubsub|shardchannels", -2, "pubsub loading stale", "pubsub slow")
            .doc("7.0.0", "O(N), N = number of active shard channels", "Lists the shard channels that have subscribers, optionally matching a pattern."),
        Spec::new("pubsub|shardnumsub", -2, "pubsub loading stale", "pubsub slow")
            .doc("7.0.0", "O(N), N = number of shard channels asked about", "Reports the subscriber count of each given shard channel."),
    ])
    .doc("2.8.0", "Varies by subcommand", "Groups commands that inspect the pub/sub subsystem."),
    Spec::new("punsubscribe", -1, "pubsub noscript loading stale", "pubsub slow")
        .doc("2.0.0", "O(N+M), N = patterns the client has, M = patterns in the server", "Stops listening to the given patterns, or to every pattern."),
    Spec::new("spublish", 3, "pubsub loading stale fast may_replicate", "pubsub fast")
        .keys(&[at("not_key", 1, ONE)])
        .doc("7.0.0", "O(N), N = subscribers of the shard channel", "Posts a message to a shard channel."),
    Spec::new("ssubscribe", -2, "pubsub noscript loading stale", "pubsub slow")
        .keys(&[at("not_key", 1, range(-1, 1, 0))])
        .doc("7.0.0", "O(N), N = number of shard channels subscribed to", "Listens for messages published to the given shard channels."),
    Spec::new("subscribe", -2, "pubsub noscript loading stale", "pubsub slow")
        .doc("2.0.0", "O(N), N = number of channels subscribed to", "Listens for messages published to the given channels."),
    Spec::new("sunsubscribe", -1, "pubsub noscript loading stale", "pubsub slow")
        .keys(&[at("not_key", 1, range(-1, 1, 0))])
        .doc("7.0.0", "O(N), N = number of shard channels the client has", "Stops listening to the given shard channels, or to every one."),
    Spec::new("unsubscribe", -1, "pubsub noscript loading stale", "pubsub slow")
        .doc("2.0.0", "O(N), N = number of channels the client has", "Stops listening to the given channels, or to every channel."),
];
