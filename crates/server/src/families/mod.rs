//! Command families, one file each; every file registers its handlers at
//! its bottom.

pub mod admin;
pub mod connection;
pub mod digest;
pub mod info;
pub mod keys;
pub mod replication;
pub mod scripting;
pub mod strings;
pub mod transactions;

use shoal_resp::ReplyBuf;

use crate::dispatch::Registrar;

/// Registers every family's handlers.
pub fn register_all(r: &mut Registrar) {
    admin::register(r);
    connection::register(r);
    info::register(r);
    keys::register(r);
    replication::register(r);
    scripting::register(r);
    strings::register(r);
    transactions::register(r);
}

/// A HELP reply in Redis's layout: a heading, the lines, then HELP itself.
pub fn write_help(out: &mut ReplyBuf, command: &str, lines: &[&str]) {
    out.array(lines.len() + 3);
    out.simple(&format!("{command} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"));
    for line in lines {
        out.simple(line);
    }
    out.simple("HELP");
    out.simple("    Print this help.");
}
