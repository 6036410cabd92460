//! Command table: connection commands.

use crate::spec::*;

pub const COMMANDS: &[Spec] = &[
    Spec::new("auth", -2, "noscript loading stale fast no_auth allow_busy", "fast connection")
        .doc("1.0.0", "O(N), N = characters in the password", "Authenticates the current connection as a user."),
    Spec::container("client", -2, &[
        Spec::new("client|caching", 3, "noscript loading stale", "slow connection")
            .doc("6.0.0", "O(1)", "Says whether the keys read by the next command are to be tracked (OPTIN/OPTOUT tracking)."),
        Spec::new("client|getredir", 2, "noscript loading stale", "slow connection")
            .doc("6.0.0", "O(1)", "Reports the client id invalidation messages are redirected to."),
        Spec::new("client|getname", 2, "noscript loading stale", "slow connection")
            .doc("2.6.9", "O(1)", "Returns the name assigned to the current connection."),
        Spec::new("client|help", 2, "loading stale", "slow connection")
            .doc("5.0.0", "O(1)", "Lists the available CLIENT subcommands and their usage."),
        Spec::new("client|id", 2, "noscript loading stale", "slow connection")
            .doc("5.0.0", "O(1)", "Reports the numeric identifier the server assigned to this connection."),
        Spec::new("client|info", 2, "noscript loading stale", "slow connection")
            .tips("nondeterministic_output")
            .doc("6.2.0", "O(1)", "Describes the current connection in the same format as CLIENT LIST."),
        Spec::new("client|kill", -3, "admin noscript loading stale", "admin slow dangerous connection")
            .doc("2.4.0", "O(N), N = number of connected clients", "Closes one or more client connections matching the given filters."),
        Spec::new("client|list", -2, "admin noscript loading stale", "admin slow dangerous connection")
            .tips("nondeterministic_output")
            .doc("2.4.0", "O(N), N = number of connected clients", "Lists connected clients along with their attributes."),
        Spec::new("client|no-evict", 3, "admin noscript loading stale", "admin slow dangerous connection")
            .doc("7.0.0", "O(1)", "Toggles whether the current client may be evicted under memory pressure."),
        Spec::new("client|pause", -3, "admin noscript loading stale", "admin slow dangerous connection")
            .doc("2.9.50", "O(1)", "Temporarily suspends command processing for clients."),
        Spec::new("client|reply", 3, "noscript loading stale", "slow connection")
            .doc("3.2.0", "O(1)", "Turns server replies for this connection on, off, or skips the next one."),
        Spec::new("client|setname", 3, "noscript loading stale", "slow connection")
            .doc("2.6.9", "O(1)", "Assigns a name to the current connection."),
        Spec::new("client|tracking", -3, "noscript loading stale", "slow connection")
            .doc("6.0.0", "O(1), O(N) with N prefixes in BCAST mode", "Turns client-side caching invalidation messages on or off for the connection."),
        Spec::new("client|trackinginfo", 2, "noscript loading stale", "slow connection")
            .doc("6.2.0", "O(1)", "Describes the connection's client-side caching tracking state."),
        Spec::new("client|unblock", -3, "admin noscript loading stale", "admin slow dangerous connection")
            .doc("5.0.0", "O(log(N)), N = number of blocked clients", "Wakes up a client that is blocked on a blocking command."),
        Spec::new("client|unpause", 2, "admin noscript loading stale", "admin slow dangerous connection")
            .doc("6.2.0", "O(N), N = number of paused clients", "Lets clients paused by CLIENT PAUSE resume processing."),
    ])
    .doc("2.4.0", "Varies by subcommand", "Groups commands that inspect and manage client connections."),
    Spec::new("echo", 2, "loading stale fast", "fast connection")
        .doc("1.0.0", "O(1)", "Replies with the message it was given."),
    Spec::new("hello", -1, "noscript loading stale fast no_auth allow_busy", "fast connection")
        .doc("6.0.0", "O(1)", "Negotiates the protocol version and optionally authenticates and names the connection."),
    Spec::new("ping", -1, "fast", "fast connection")
        .tips("request_policy:all_shards response_policy:all_succeeded")
        .doc("1.0.0", "O(1)", "Checks that the server is alive, replying with PONG or the given message."),
    Spec::new("quit", -1, "noscript loading stale fast no_auth allow_busy", "fast connection")
        .doc("1.0.0", "O(1)", "Asks the server to close the current connection."),
    Spec::new("reset", 1, "noscript loading stale fast no_auth allow_busy", "fast connection")
        .doc("6.2.0", "O(1)", "Restores the connection to its default state."),
    Spec::new("select", 2, "loading stale fast", "fast connection")
        .doc("1.0.0", "O(1)", "Switches the current connection to another logical database."),
];
