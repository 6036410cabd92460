//! Command table: bitmap commands.

use crate::spec::*;

pub const COMMANDS: &[Spec] = &[
    Spec::new("bitcount", -2, "readonly", "read bitmap slow")
        .keys(&[key("RO access", 1)])
        .doc("2.6.0", "O(N), N = bytes in the inspected range", "Counts the bits set to 1 in a string, optionally within a range."),
    Spec::new("bitfield", -2, "write denyoom", "write bitmap slow")
        .keys(&[key("RW access update variable_flags", 1)])
        .doc("3.2.0", "O(1) per subcommand given", "Reads, writes and increments integer fields of arbitrary width inside a string."),
    Spec::new("bitfield_ro", -2, "readonly fast", "read bitmap fast")
        .keys(&[key("RO access", 1)])
        .doc("6.0.0", "O(1) per subcommand given", "Read-only form of BITFIELD that only fetches integer fields from a string."),
    Spec::new("bitop", -4, "write denyoom", "write bitmap slow")
        .keys(&[key("OW update", 2), at("RO access", 3, range(-1, 1, 0))])
        .doc("2.6.0", "O(N), N = length of the longest input string", "Combines strings bitwise (AND, OR, XOR, NOT) and saves the result in a key."),
    Spec::new("bitpos", -3, "readonly", "read bitmap slow")
        .keys(&[key("RO access", 1)])
        .doc("2.8.7", "O(N), N = bytes in the inspected range", "Finds the position of the first 0 or 1 bit in a string."),
    Spec::new("getbit", 3, "readonly fast", "read bitmap fast")
        .keys(&[key("RO access", 1)])
        .doc("2.2.0", "O(1)", "Returns the bit found at a given offset in a string."),
    Spec::new("setbit", 4, "write denyoom", "write bitmap slow")
        .keys(&[key("RW access update", 1)])
        .doc("2.2.0", "O(1)", "Changes the bit at an offset in a string and returns the old bit."),
];
