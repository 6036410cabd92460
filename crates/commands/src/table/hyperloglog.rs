//! Command table: hyperloglog commands.

use crate::spec::*;

pub const COMMANDS: &[Spec] = &[
    Spec::new("pfadd", -2, "write denyoom fast", "write hyperloglog fast")
        .keys(&[key("RW insert", 1)])
        .doc("2.8.9", "O(1) per element added", "Feeds elements into a HyperLogLog, creating it when missing."),
    Spec::new("pfcount", -2, "readonly may_replicate", "read hyperloglog slow")
        .keys(&[at("RW access", 1, range(-1, 1, 0))])
        .doc("2.8.9", "O(1) for one key, O(N) when merging N keys", "Returns the estimated number of distinct elements in one or more HyperLogLogs."),
    Spec::new("pfdebug", 3, "write denyoom admin", "write hyperloglog admin slow dangerous")
        .keys(&[key("RW access", 2)])
        .doc("2.8.9", "O(N), N = size of the HyperLogLog", "Internal helper that exposes the encoding details of a HyperLogLog."),
    Spec::new("pfmerge", -2, "write denyoom", "write hyperloglog slow")
        .keys(&[key("RW access insert", 1), at("RO access", 2, range(-1, 1, 0))])
        .doc("2.8.9", "O(N), N = number of keys merged", "Unions HyperLogLog sketches and writes the result to a destination key."),
    Spec::new("pfselftest", 1, "admin", "hyperloglog admin slow dangerous")
        .doc("2.8.9", "O(N), N = test iterations", "Internal command that runs a self-test of the HyperLogLog code."),
];
