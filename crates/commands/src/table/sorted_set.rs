//! Command table: sorted set commands.

use crate::spec::*;

pub const COMMANDS: &[Spec] = &[
    Spec::new("bzmpop", -5, "write blocking", "write sortedset slow blocking")
        .keys(&[at("RW access delete", 2, keynum(0, 1, 1))])
        .doc("7.0.0", "O(K)+O(M*log(N)), K = keys, M = popped", "Blocking form of ZMPOP that waits for a non-empty sorted set."),
    Spec::new("bzpopmax", -3, "write noscript blocking fast", "write sortedset fast blocking")
        .keys(&[at("RW access delete", 1, range(-2, 1, 0))])
        .doc("5.0.0", "O(log(N)), N = sorted set size", "Pops the highest-scored member of the first non-empty sorted set, waiting if needed."),
    Spec::new("bzpopmin", -3, "write noscript blocking fast", "write sortedset fast blocking")
        .keys(&[at("RW access delete", 1, range(-2, 1, 0))])
        .doc("5.0.0", "O(log(N)), N = sorted set size", "Pops the lowest-scored member of the first non-empty sorted set, waiting if needed."),
    Spec::new("zadd", -4, "write denyoom fast", "write sortedset fast")
        .keys(&[key("RW update", 1)])
        .doc("1.2.0", "O(log(N)) per member, N = sorted set size", "Adds members with scores to a sorted set or updates their scores."),
    Spec::new("zcard", 2, "readonly fast", "read sortedset fast")
        .keys(&[key("RO", 1)])
        .doc("1.2.0", "O(1)", "Counts the members of a sorted set."),
    Spec::new("zcount", 4, "readonly fast", "read sortedset fast")
        .keys(&[key("RO access", 1)])
        .doc("2.0.0", "O(log(N)), N = sorted set size", "Counts sorted set members whose scores fall in a range."),
    Spec::new("zdiff", -3, "readonly", "read sortedset slow")
        .keys(&[at("RO access", 1, keynum(0, 1, 1))])
        .doc("6.2.0", "O(L+(N-K)log(N)), L = total input size", "Returns the members of the first sorted set absent from the others."),
    Spec::new("zdiffstore", -4, "write denyoom", "write sortedset slow")
        .keys(&[key("OW update", 1), at("RO access", 2, keynum(0, 1, 1))])
        .doc("6.2.0", "O(L+(N-K)log(N)), L = total input size", "Computes a sorted set difference and saves it in a key."),
    Spec::new("zincrby", 4, "write denyoom fast", "write sortedset fast")
        .keys(&[key("RW access update", 1)])
        .doc("1.2.0", "O(log(N)), N = sorted set size", "Adds an amount to the score of a sorted set member."),
    Spec::new("zinter", -3, "readonly", "read sortedset slow")
        .keys(&[at("RO access", 1, keynum(0, 1, 1))])
        .doc("6.2.0", "O(N*K)+O(M*log(M)), N = smallest set size", "Returns the members shared by all given sorted sets."),
    Spec::new("zintercard", -3, "readonly", "read sortedset slow")
        .keys(&[at("RO access", 1, keynum(0, 1, 1))])
        .doc("7.0.0", "O(N*K), N = smallest set, K = number of sets", "Counts the members shared by all given sorted sets."),
    Spec::new("zinterstore", -4, "write denyoom", "write sortedset slow")
        .keys(&[key("OW update", 1), at("RO access", 2, keynum(0, 1, 1))])
        .doc("2.0.0", "O(N*K)+O(M*log(M)), N = smallest set size", "Computes a sorted set intersection and saves it in a key."),
    Spec::new("zlexcount", 4, "readonly fast", "read sortedset fast")
        .keys(&[key("RO access", 1)])
        .doc("2.8.9", "O(log(N)), N = sorted set size", "Counts sorted set members within a lexicographic range."),
    Spec::new("zmpop", -4, "write", "write sortedset slow")
        .keys(&[at("RW access delete", 1, keynum(0, 1, 1))])
        .doc("7.0.0", "O(K)+O(M*log(N)), K = keys, M = popped", "Pops lowest or highest scored members from the first non-empty sorted set."),
    Spec::new("zmscore", -3, "readonly fast", "read sortedset fast")
        .keys(&[key("RO access", 1)])
        .doc("6.2.0", "O(N), N = number of members given", "Returns the scores of several sorted set members."),
    Spec::new("zpopmax", -2, "write fast", "write sortedset fast")
        .keys(&[key("RW access delete", 1)])
        .doc("5.0.0", "O(log(N)*M), M = members popped", "Removes and returns the highest-scored members of a sorted set."),
    Spec::new("zpopmin", -2, "write fast", "write sortedset fast")
        .keys(&[key("RW access delete", 1)])
        .doc("5.0.0", "O(log(N)*M), M = members popped", "Removes and returns the lowest-scored members of a sorted set."),
    Spec::new("zrandmember", -2, "readonly", "read sortedset slow")
        .keys(&[key("RO access", 1)])
        .tips("nondeterministic_output")
        .doc("6.2.0", "O(N), N = number of members returned", "Picks random members from a sorted set without removing them."),
    Spec::new("zrange", -4, "readonly", "read sortedset slow")
        .keys(&[key("RO access", 1)])
        .doc("1.2.0", "O(log(N)+M), M = members returned", "Returns sorted set members in a range of ranks, scores or names."),
    Spec::new("zrangebylex", -4, "readonly", "read sortedset slow")
        .keys(&[key("RO access", 1)])
        .doc("2.8.9", "O(log(N)+M), M = members returned", "Returns sorted set members within a lexicographic range."),
    Spec::new("zrangebyscore", -4, "readonly", "read sortedset slow")
        .keys(&[key("RO access", 1)])
        .doc("1.0.5", "O(log(N)+M), M = members returned", "Returns sorted set members whose scores fall in a range."),
    Spec::new("zrangestore", -5, "write denyoom", "write sortedset slow")
        .keys(&[key("OW update", 1), key("RO access", 2)])
        .doc("6.2.0", "O(log(N)+M), M = members stored", "Copies a selected range of a sorted set into a destination key."),
    Spec::new("zrank", 3, "readonly fast", "read sortedset fast")
        .keys(&[key("RO access", 1)])
        .doc("2.0.0", "O(log(N)), N = sorted set size", "Returns the ascending rank of a member in a sorted set."),
    Spec::new("zrem", -3, "write fast", "write sortedset fast")
        .keys(&[key("RW delete", 1)])
        .doc("1.2.0", "O(M*log(N)), M = members removed", "Deletes the given members from a sorted set."),
    Spec::new("zremrangebylex", 4, "write", "write sortedset slow")
        .keys(&[key("RW delete", 1)])
        .doc("2.8.9", "O(log(N)+M), M = members removed", "Removes sorted set members within a lexicographic range."),
    Spec::new("zremrangebyrank", 4, "write", "write sortedset slow")
        .keys(&[key("RW delete", 1)])
        .doc("2.0.0", "O(log(N)+M), M = members removed", "Removes sorted set members within a range of ranks."),
    Spec::new("zremrangebyscore", 4, "write", "write sortedset slow")
        .keys(&[key("RW delete", 1)])
        .doc("1.2.0", "O(log(N)+M), M = members removed", "Removes sorted set members whose scores fall in a range."),
    Spec::new("zrevrange", -4, "readonly", "read sortedset slow")
        .keys(&[key("RO access", 1)])
        .doc("1.2.0", "O(log(N)+M), M = members returned", "Returns sorted set members in a rank range, highest score first."),
    Spec::new("zrevrangebylex", -4, "readonly", "read sortedset slow")
        .keys(&[key("RO access", 1)])
        .doc("2.8.9", "O(log(N)+M), M = members returned", "Returns sorted set members in a lexicographic range, in reverse order."),
    Spec::new("zrevrangebyscore", -4, "readonly", "read sortedset slow")
        .keys(&[key("RO access", 1)])
        .doc("2.2.0", "O(log(N)+M), M = members returned", "Returns sorted set members in a score range, highest score first."),
    Spec::new("zrevrank", 3, "readonly fast", "read sortedset fast")
        .keys(&[key("RO access", 1)])
        .doc("2.0.0", "O(log(N)), N = sorted set size", "Returns the descending rank of a member in a sorted set."),
    Spec::new("zscan", -3, "readonly", "read sortedset slow")
        .keys(&[key("RO access", 1)])
        .tips("nondeterministic_output")
        .doc("2.8.0", "O(1) per call, O(N) for a full pass", "Incrementally walks the members and scores of a sorted set with a cursor."),
    Spec::new("zscore", 3, "readonly fast", "read sortedset fast")
        .keys(&[key("RO access", 1)])
        .doc("1.2.0", "O(1)", "Looks up the score associated with a sorted set member."),
    Spec::new("zunion", -3, "readonly", "read sortedset slow")
        .keys(&[at("RO access", 1, keynum(0, 1, 1))])
        .doc("6.2.0", "O(N)+O(M*log(M)), N = total input size", "Combines several sorted sets and returns the merged members."),
    Spec::new("zunionstore", -4, "write denyoom", "write sortedset slow")
        .keys(&[key("OW update", 1), at("RO access", 2, keynum(0, 1, 1))])
        .doc("2.0.0", "O(N)+O(M*log(M)), N = total input size", "Computes a sorted set union and saves it in a key."),
];
