//! Command table: set commands.

use crate::spec::*;

pub const COMMANDS: &[Spec] = &[
    Spec::new("sadd", -3, "write denyoom fast", "write set fast")
        .keys(&[key("RW insert", 1)])
        .doc("1.0.0", "O(1) per member added", "Adds members to a set and counts the new ones."),
    Spec::new("scard", 2, "readonly fast", "read set fast")
        .keys(&[key("RO", 1)])
        .doc("1.0.0", "O(1)", "Counts the members of a set."),
    Spec::new("sdiff", -2, "readonly", "read set slow")
        .keys(&[at("RO access", 1, range(-1, 1, 0))])
        .tips("nondeterministic_output_order")
        .doc("1.0.0", "O(N), N = total members across all sets", "Returns the members of the first set absent from the others."),
    Spec::new("sdiffstore", -3, "write denyoom", "write set slow")
        .keys(&[key("OW update", 1), at("RO access", 2, range(-1, 1, 0))])
        .doc("1.0.0", "O(N), N = total members across all sets", "Computes a set difference and saves it in a key."),
    Spec::new("sinter", -2, "readonly", "read set slow")
        .keys(&[at("RO access", 1, range(-1, 1, 0))])
        .tips("nondeterministic_output_order")
        .doc("1.0.0", "O(N*M), N = smallest set size, M = number of sets", "Returns the members common to all given sets."),
    Spec::new("sintercard", -3, "readonly", "read set slow")
        .keys(&[at("RO access", 1, keynum(0, 1, 1))])
        .doc("7.0.0", "O(N*M), N = smallest set size, M = number of sets", "Returns the size of the intersection of the given sets."),
    Spec::new("sinterstore", -3, "write denyoom", "write set slow")
        .keys(&[key("RW update", 1), at("RO access", 2, range(-1, 1, 0))])
        .doc("1.0.0", "O(N*M), N = smallest set size, M = number of sets", "Computes a set intersection and saves it in a key."),
    Spec::new("sismember", 3, "readonly fast", "read set fast")
        .keys(&[key("RO", 1)])
        .doc("1.0.0", "O(1)", "Tells whether a value is a member of a set."),
    Spec::new("smembers", 2, "readonly", "read set slow")
        .keys(&[key("RO access", 1)])
        .tips("nondeterministic_output_order")
        .doc("1.0.0", "O(N), N = size of the set", "Lists the members of a set."),
    Spec::new("smismember", -3, "readonly fast", "read set fast")
        .keys(&[key("RO access", 1)])
        .doc("6.2.0", "O(N), N = number of members checked", "Tells whether each of several values is a member of a set."),
    Spec::new("smove", 4, "write fast", "write set fast")
        .keys(&[key("RW access delete", 1), key("RW insert", 2)])
        .doc("1.0.0", "O(1)", "Transfers a member from a source set to a destination set."),
    Spec::new("spop", -2, "write fast", "write set fast")
        .keys(&[key("RW access delete", 1)])
        .tips("nondeterministic_output")
        .doc("1.0.0", "O(N), N = number of members popped", "Removes and returns random members of a set."),
    Spec::new("srandmember", -2, "readonly", "read set slow")
        .keys(&[key("RO access", 1)])
        .tips("nondeterministic_output")
        .doc("1.0.0", "O(N), N = number of members returned", "Returns random members of a set without removing them."),
    Spec::new("srem", -3, "write fast", "write set fast")
        .keys(&[key("RW delete", 1)])
        .doc("1.0.0", "O(N), N = number of members given", "Removes members from a set and counts those removed."),
    Spec::new("sscan", -3, "readonly", "read set slow")
        .keys(&[key("RO access", 1)])
        .tips("nondeterministic_output")
        .doc("2.8.0", "O(1) per call, O(N) for a full pass", "Incrementally walks the members of a set with a cursor."),
    Spec::new("sunion", -2, "readonly", "read set slow")
        .keys(&[at("RO access", 1, range(-1, 1, 0))])
        .tips("nondeterministic_output_order")
        .doc("1.0.0", "O(N), N = total members across all sets", "Returns the members found in any of the given sets."),
    Spec::new("sunionstore", -3, "write denyoom", "write set slow")
        .keys(&[key("OW update", 1), at("RO access", 2, range(-1, 1, 0))])
        .doc("1.0.0", "O(N), N = total members across all sets", "Computes a set union and saves it in a key."),
];
