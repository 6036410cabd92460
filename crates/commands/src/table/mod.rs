//! The command table, one module per Redis command group.
//!
//! Each module lists the commands Shoal implements in that group, in our
//! own words. Subcommands are listed inside their container. Adding a
//! command means adding its entry here and its handler in the server's
//! family file; `server`'s table test checks that both exist.

use crate::spec::Spec;

pub mod connection;
pub mod generic;
pub mod scripting;
pub mod server;
pub mod string;
pub mod transactions;

/// Every group with its commands.
pub const ALL: &[(&str, &[Spec])] = &[
    ("connection", connection::COMMANDS),
    ("generic", generic::COMMANDS),
    ("scripting", scripting::COMMANDS),
    ("server", server::COMMANDS),
    ("string", string::COMMANDS),
    ("transactions", transactions::COMMANDS),
];
