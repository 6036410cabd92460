//! Command table: string commands.

use crate::spec::*;

pub const COMMANDS: &[Spec] = &[
    Spec::new("append", 3, "write denyoom fast", "write string fast")
        .keys(&[key("RW insert", 1)])
        .doc("2.0.0", "O(1) amortized", "Adds a value to the end of a string, creating it when missing."),
    Spec::new("decr", 2, "write denyoom fast", "write string fast")
        .keys(&[key("RW access update", 1)])
        .doc("1.0.0", "O(1)", "Subtracts one from the integer value of a key."),
    Spec::new("decrby", 3, "write denyoom fast", "write string fast")
        .keys(&[key("RW access update", 1)])
        .doc("1.0.0", "O(1)", "Subtracts a given amount from the integer value of a key."),
    Spec::new("get", 2, "readonly fast", "read string fast")
        .keys(&[key("RO access", 1)])
        .doc("1.0.0", "O(1)", "Returns the string value stored at a key."),
    Spec::new("getdel", 2, "write fast", "write string fast")
        .keys(&[key("RW access delete", 1)])
        .doc("6.2.0", "O(1)", "Returns the string value at a key and then removes the key."),
    Spec::new("getex", -2, "write fast", "write string fast")
        .keys(&[key("RW access update", 1)])
        .doc("6.2.0", "O(1)", "Returns the string value at a key and changes its expiration."),
    Spec::new("getrange", 4, "readonly", "read string slow")
        .keys(&[key("RO access", 1)])
        .doc("2.4.0", "O(N), N = length of the returned part", "Extracts part of a string value between two offsets."),
    Spec::new("getset", 3, "write denyoom fast", "write string fast")
        .keys(&[key("RW access update", 1)])
        .doc("1.0.0", "O(1)", "Sets a new string value and returns the previous one."),
    Spec::new("incr", 2, "write denyoom fast", "write string fast")
        .keys(&[key("RW access update", 1)])
        .doc("1.0.0", "O(1)", "Adds one to the integer value of a key."),
    Spec::new("incrby", 3, "write denyoom fast", "write string fast")
        .keys(&[key("RW access update", 1)])
        .doc("1.0.0", "O(1)", "Adds a given amount to the integer value of a key."),
    Spec::new("incrbyfloat", 3, "write denyoom fast", "write string fast")
        .keys(&[key("RW access update", 1)])
        .doc("2.6.0", "O(1)", "Adds a floating point amount to the value of a key."),
    Spec::new("lcs", -3, "readonly", "read string slow")
        .keys(&[at("RO access", 1, range(1, 1, 0))])
        .doc("7.0.0", "O(N*M), N and M = lengths of the two strings", "Finds the longest common subsequence of two strings."),
    Spec::new("mget", -2, "readonly fast", "read string fast")
        .keys(&[at("RO access", 1, range(-1, 1, 0))])
        .tips("request_policy:multi_shard")
        .doc("1.0.0", "O(N), N = number of keys given", "Returns the string values of several keys."),
    Spec::new("mset", -3, "write denyoom", "write string slow")
        .keys(&[at("OW update", 1, range(-1, 2, 0))])
        .tips("request_policy:multi_shard response_policy:all_succeeded")
        .doc("1.0.1", "O(N), N = number of keys given", "Sets the string values of several keys at once."),
    Spec::new("msetnx", -3, "write denyoom", "write string slow")
        .keys(&[at("OW insert", 1, range(-1, 2, 0))])
        .tips("request_policy:multi_shard response_policy:agg_min")
        .doc("1.0.1", "O(N), N = number of keys given", "Sets several keys at once only if none of them exist."),
    Spec::new("psetex", 4, "write denyoom", "write string slow")
        .keys(&[key("OW update", 1)])
        .doc("2.6.0", "O(1)", "Sets a string value with a time-to-live in milliseconds."),
    Spec::new("set", -3, "write denyoom", "write string slow")
        .keys(&[key("RW access update variable_flags", 1)])
        .doc("1.0.0", "O(1)", "Stores a string value at a key, with optional expiry and conditions."),
    Spec::new("setex", 4, "write denyoom", "write string slow")
        .keys(&[key("OW update", 1)])
        .doc("2.0.0", "O(1)", "Sets a string value with a time-to-live in seconds."),
    Spec::new("setnx", 3, "write denyoom fast", "write string fast")
        .keys(&[key("OW insert", 1)])
        .doc("1.0.0", "O(1)", "Stores a string only if the key is absent."),
    Spec::new("setrange", 4, "write denyoom", "write string slow")
        .keys(&[key("RW update", 1)])
        .doc("2.2.0", "O(1), or O(M) when the string must grow", "Writes bytes into a string at a given offset, padding if needed."),
    Spec::new("strlen", 2, "readonly fast", "read string fast")
        .keys(&[key("RO", 1)])
        .doc("2.2.0", "O(1)", "Reports the byte length of the string stored at a key."),
    Spec::new("substr", 4, "readonly", "read string slow")
        .keys(&[key("RO access", 1)])
        .doc("1.0.0", "O(N), N = length of the returned part", "Extracts part of a string value; older name of GETRANGE."),
];
