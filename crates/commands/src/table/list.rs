//! Command table: list commands.

use crate::spec::*;

pub const COMMANDS: &[Spec] = &[
    Spec::new("blmove", 6, "write denyoom noscript blocking", "write list slow blocking")
        .keys(&[key("RW access delete", 1), key("RW insert", 2)])
        .doc("6.2.0", "O(1)", "Blocking form of LMOVE that waits for a source element."),
    Spec::new("blmpop", -5, "write blocking", "write list slow blocking")
        .keys(&[at("RW access delete", 2, keynum(0, 1, 1))])
        .doc("7.0.0", "O(N+M), N = keys, M = elements popped", "Blocking form of LMPOP that waits for a non-empty list."),
    Spec::new("blpop", -3, "write noscript blocking", "write list slow blocking")
        .keys(&[at("RW access delete", 1, range(-2, 1, 0))])
        .doc("2.0.0", "O(N), N = number of keys given", "Removes and returns the head of the first non-empty list, waiting if needed."),
    Spec::new("brpop", -3, "write noscript blocking", "write list slow blocking")
        .keys(&[at("RW access delete", 1, range(-2, 1, 0))])
        .doc("2.0.0", "O(N), N = number of keys given", "Removes and returns the tail of the first non-empty list, waiting if needed."),
    Spec::new("brpoplpush", 4, "write denyoom noscript blocking", "write list slow blocking")
        .keys(&[key("RW access delete", 1), key("RW insert", 2)])
        .doc("2.2.0", "O(1)", "Blocking form of RPOPLPUSH that waits for a source element."),
    Spec::new("lindex", 3, "readonly", "read list slow")
        .keys(&[key("RO access", 1)])
        .doc("1.0.0", "O(N), N = elements walked to reach the index", "Fetches the element at a position in a list."),
    Spec::new("linsert", 5, "write denyoom", "write list slow")
        .keys(&[key("RW insert", 1)])
        .doc("2.2.0", "O(N), N = elements walked to find the pivot", "Places a new element next to a pivot value in a list."),
    Spec::new("llen", 2, "readonly fast", "read list fast")
        .keys(&[key("RO", 1)])
        .doc("1.0.0", "O(1)", "Returns the number of elements in a list."),
    Spec::new("lmove", 5, "write denyoom", "write list slow")
        .keys(&[key("RW access delete", 1), key("RW insert", 2)])
        .doc("6.2.0", "O(1)", "Pops an element from one end of a list and pushes it onto another list."),
    Spec::new("lmpop", -4, "write", "write list slow")
        .keys(&[at("RW access delete", 1, keynum(0, 1, 1))])
        .doc("7.0.0", "O(N+M), N = keys, M = elements popped", "Pops elements from the first non-empty list among several keys."),
    Spec::new("lpop", -2, "write fast", "write list fast")
        .keys(&[key("RW access delete", 1)])
        .doc("1.0.0", "O(N), N = number of elements popped", "Removes and returns elements from the head of a list."),
    Spec::new("lpos", -3, "readonly", "read list slow")
        .keys(&[key("RO access", 1)])
        .doc("6.0.6", "O(N), N = elements in the list", "Finds the positions of elements equal to a value in a list."),
    Spec::new("lpush", -3, "write denyoom fast", "write list fast")
        .keys(&[key("RW insert", 1)])
        .doc("1.0.0", "O(1) per element pushed", "Adds elements to the head of a list."),
    Spec::new("lpushx", -3, "write denyoom fast", "write list fast")
        .keys(&[key("RW insert", 1)])
        .doc("2.2.0", "O(1) per element pushed", "Adds elements to the head of a list only if the list exists."),
    Spec::new("lrange", 4, "readonly", "read list slow")
        .keys(&[key("RO access", 1)])
        .doc("1.0.0", "O(S+N), S = start offset, N = elements returned", "Returns the elements of a list within an index range."),
    Spec::new("lrem", 4, "write", "write list slow")
        .keys(&[key("RW delete", 1)])
        .doc("1.0.0", "O(N+M), N = list length, M = elements removed", "Removes occurrences of a value from a list."),
    Spec::new("lset", 4, "write denyoom", "write list slow")
        .keys(&[key("RW update", 1)])
        .doc("1.0.0", "O(N), N = elements walked to reach the index", "Replaces the list element at a given index."),
    Spec::new("ltrim", 4, "write", "write list slow")
        .keys(&[key("RW delete", 1)])
        .doc("1.0.0", "O(N), N = number of elements removed", "Cuts a list down to the elements within an index range."),
    Spec::new("rpop", -2, "write fast", "write list fast")
        .keys(&[key("RW access delete", 1)])
        .doc("1.0.0", "O(N), N = number of elements popped", "Removes and returns elements from the tail of a list."),
    Spec::new("rpoplpush", 3, "write denyoom", "write list slow")
        .keys(&[key("RW access delete", 1), key("RW insert", 2)])
        .doc("1.2.0", "O(1)", "Pops the tail of one list and pushes it onto the head of another."),
    Spec::new("rpush", -3, "write denyoom fast", "write list fast")
        .keys(&[key("RW insert", 1)])
        .doc("1.0.0", "O(1) per element pushed", "Adds elements to the tail of a list."),
    Spec::new("rpushx", -3, "write denyoom fast", "write list fast")
        .keys(&[key("RW insert", 1)])
        .doc("2.2.0", "O(1) per element pushed", "Adds elements to the tail of a list only if the list exists."),
];
