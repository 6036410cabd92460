//! Command table: hash commands.

use crate::spec::*;

pub const COMMANDS: &[Spec] = &[
    Spec::new("hdel", -3, "write fast", "write hash fast")
        .keys(&[key("RW delete", 1)])
        .doc("2.0.0", "O(N), N = number of fields given", "Removes fields from a hash and counts how many were deleted."),
    Spec::new("hexists", 3, "readonly fast", "read hash fast")
        .keys(&[key("RO", 1)])
        .doc("2.0.0", "O(1)", "Tells whether a field is present in a hash."),
    Spec::new("hget", 3, "readonly fast", "read hash fast")
        .keys(&[key("RO access", 1)])
        .doc("2.0.0", "O(1)", "Fetches the value associated with a field in a hash."),
    Spec::new("hgetall", 2, "readonly", "read hash slow")
        .keys(&[key("RO access", 1)])
        .tips("nondeterministic_output_order")
        .doc("2.0.0", "O(N), N = size of the hash", "Fetches all field-value pairs of a hash."),
    Spec::new("hincrby", 4, "write denyoom fast", "write hash fast")
        .keys(&[key("RW access update", 1)])
        .doc("2.0.0", "O(1)", "Adds an integer to the numeric value of a hash field."),
    Spec::new("hincrbyfloat", 4, "write denyoom fast", "write hash fast")
        .keys(&[key("RW access update", 1)])
        .doc("2.6.0", "O(1)", "Adds a floating point number to the value of a hash field."),
    Spec::new("hkeys", 2, "readonly", "read hash slow")
        .keys(&[key("RO access", 1)])
        .tips("nondeterministic_output_order")
        .doc("2.0.0", "O(N), N = size of the hash", "Lists the field names of a hash."),
    Spec::new("hlen", 2, "readonly fast", "read hash fast")
        .keys(&[key("RO", 1)])
        .doc("2.0.0", "O(1)", "Returns how many fields a hash holds."),
    Spec::new("hmget", -3, "readonly fast", "read hash fast")
        .keys(&[key("RO access", 1)])
        .doc("2.0.0", "O(N), N = number of fields given", "Returns the values of several hash fields."),
    Spec::new("hmset", -4, "write denyoom fast", "write hash fast")
        .keys(&[key("RW update", 1)])
        .doc("2.0.0", "O(N), N = number of fields given", "Sets several fields of a hash at once."),
    Spec::new("hrandfield", -2, "readonly", "read hash slow")
        .keys(&[key("RO access", 1)])
        .tips("nondeterministic_output")
        .doc("6.2.0", "O(N), N = number of fields returned", "Returns one or more randomly chosen fields of a hash."),
    Spec::new("hscan", -3, "readonly", "read hash slow")
        .keys(&[key("RO access", 1)])
        .tips("nondeterministic_output")
        .doc("2.8.0", "O(1) per call, O(N) for a full pass", "Incrementally walks the fields and values of a hash with a cursor."),
    Spec::new("hset", -4, "write denyoom fast", "write hash fast")
        .keys(&[key("RW update", 1)])
        .doc("2.0.0", "O(1) per field/value pair", "Sets one or more fields of a hash and counts the new fields."),
    Spec::new("hsetnx", 4, "write denyoom fast", "write hash fast")
        .keys(&[key("RW insert", 1)])
        .doc("2.0.0", "O(1)", "Writes a hash field only if it is not already set."),
    Spec::new("hstrlen", 3, "readonly fast", "read hash fast")
        .keys(&[key("RO", 1)])
        .doc("3.2.0", "O(1)", "Reports the byte length of a hash field's value."),
    Spec::new("hvals", 2, "readonly", "read hash slow")
        .keys(&[key("RO access", 1)])
        .tips("nondeterministic_output_order")
        .doc("2.0.0", "O(N), N = size of the hash", "Lists the values of a hash."),
];
