//! Command table: transactions commands.

use crate::spec::*;

pub const COMMANDS: &[Spec] = &[
    Spec::new("discard", 1, "noscript loading stale fast allow_busy", "fast transaction")
        .doc("2.0.0", "O(N), N = number of queued commands", "Throws away the commands queued in a transaction."),
    Spec::new("exec", 1, "noscript loading stale skip_slowlog", "slow transaction")
        .doc("1.2.0", "Sum of the queued commands' costs", "Atomically runs the queued commands of a transaction and returns their replies."),
    Spec::new("multi", 1, "noscript loading stale fast allow_busy", "fast transaction")
        .doc("1.2.0", "O(1)", "Opens a transaction so that following commands are queued."),
    Spec::new("unwatch", 1, "noscript loading stale fast allow_busy", "fast transaction")
        .doc("2.2.0", "O(1)", "Stops watching all keys for this connection."),
    Spec::new("watch", -2, "noscript loading stale fast allow_busy", "fast transaction")
        .keys(&[at("RO", 1, range(-1, 1, 0))])
        .doc("2.2.0", "O(1) per key", "Watches keys so that a later transaction aborts if they change."),
];
