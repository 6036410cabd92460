//! The command table, one module per Redis command group.
//!
//! Each module lists the commands Shoal implements in that group, in our
//! own words. Subcommands are listed inside their container. Adding a
//! command means adding its entry here and its handler in the server's
//! family file; `server`'s table test checks that both exist.

use crate::spec::Spec;

pub mod bitmap;
pub mod connection;
pub mod generic;
pub mod geo;
pub mod hash;
pub mod hyperloglog;
pub mod list;
pub mod pubsub;
pub mod scripting;
pub mod server;
pub mod set;
pub mod sorted_set;
pub mod stream;
pub mod string;
pub mod transactions;

/// Every group with its commands.
pub const ALL: &[(&str, &[Spec])] = &[
    ("bitmap", bitmap::COMMANDS),
    ("connection", connection::COMMANDS),
    ("generic", generic::COMMANDS),
    ("geo", geo::COMMANDS),
    ("hash", hash::COMMANDS),
    ("hyperloglog", hyperloglog::COMMANDS),
    ("list", list::COMMANDS),
    ("pubsub", pubsub::COMMANDS),
    ("scripting", scripting::COMMANDS),
    ("server", server::COMMANDS),
    ("set", set::COMMANDS),
    ("sorted-set", sorted_set::COMMANDS),
    ("stream", stream::COMMANDS),
    ("string", string::COMMANDS),
    ("transactions", transactions::COMMANDS),
];
