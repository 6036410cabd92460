//! Command table: geo commands.

use crate::spec::*;

pub const COMMANDS: &[Spec] = &[
    Spec::new("geoadd", -5, "write denyoom", "write geo slow")
        .keys(&[key("RW update", 1)])
        .doc("3.2.0", "O(log(N)) per member, N = sorted set size", "Adds or updates members with longitude and latitude in a geospatial index."),
    Spec::new("geodist", -4, "readonly", "read geo slow")
        .keys(&[key("RO access", 1)])
        .doc("3.2.0", "O(1)", "Measures how far apart two members of a geospatial index are."),
    Spec::new("geohash", -2, "readonly", "read geo slow")
        .keys(&[key("RO access", 1)])
        .doc("3.2.0", "O(1) per member requested", "Returns geohash strings for members of a geospatial index."),
    Spec::new("geopos", -2, "readonly", "read geo slow")
        .keys(&[key("RO access", 1)])
        .doc("3.2.0", "O(1) per member requested", "Looks up the coordinates of members of a geospatial index."),
    Spec::new("georadius", -6, "write denyoom", "write geo slow")
        .keys(&[key("RO access", 1), after("OW update", "STORE", 6, ONE), after("OW update", "STOREDIST", 6, ONE)])
        .doc("3.2.0", "O(N+log(M)), N = items in area, M = index size", "Finds members within a radius of a point, optionally storing them."),
    Spec::new("georadius_ro", -6, "readonly", "read geo slow")
        .keys(&[key("RO access", 1)])
        .doc("3.2.10", "O(N+log(M)), N = items in area, M = index size", "Read-only form of GEORADIUS that returns members near a point."),
    Spec::new("georadiusbymember", -5, "write denyoom", "write geo slow")
        .keys(&[key("RO access", 1), after("OW update", "STORE", 5, ONE), after("OW update", "STOREDIST", 5, ONE)])
        .doc("3.2.0", "O(N+log(M)), N = items in area, M = index size", "Finds members within a radius of an existing member, optionally storing them."),
    Spec::new("georadiusbymember_ro", -5, "readonly", "read geo slow")
        .keys(&[key("RO access", 1)])
        .doc("3.2.10", "O(N+log(M)), N = items in area, M = index size", "Read-only form of GEORADIUSBYMEMBER that returns nearby members."),
    Spec::new("geosearch", -7, "readonly", "read geo slow")
        .keys(&[key("RO access", 1)])
        .doc("6.2.0", "O(N+log(M)), N = items in area, M = index size", "Finds members inside a circle or box of a geospatial index."),
    Spec::new("geosearchstore", -8, "write denyoom", "write geo slow")
        .keys(&[key("OW update", 1), key("RO access", 2)])
        .doc("6.2.0", "O(N+log(M)), N = items in area, M = index size", "Finds members inside a circle or box and saves them in a key."),
];
