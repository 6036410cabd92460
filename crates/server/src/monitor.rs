//! MONITOR: a line for every command the server runs, sent to each client
//! in monitor mode through its outbox.
//!
//! The line is Redis's: `+<seconds>.<micros> [<db> <peer>] "arg" ...`,
//! arguments quoted as Redis quotes them, secrets replaced by
//! `(redacted)`. Administrative commands are never shown, and a command is
//! shown once it ran (EXEC's commands between MULTI and EXEC).


use shoal_commands::{Command, CommandFlags};
use shoal_resp::inline::quote;

use crate::client::{flags, Client};
use crate::server::Server;
pub use crate::state::monitors::Monitors;

/// Shows a command that ran (for `client`, now in `db`) to every monitor.
#[inline]
pub fn feed(server: &Server, client: &Client, cmd: &Command, argv: &[&[u8]]) {
    if server.monitors.any() && !cmd.is(CommandFlags::ADMIN) && !cmd.is(CommandFlags::SKIP_MONITOR) {
        feed_line(server, client, argv);
    }
}

/// Shows a command whatever its flags (EXEC ending an aborted transaction).
pub fn feed_line(server: &Server, client: &Client, argv: &[&[u8]]) {
    if !server.monitors.any() {
        return;
    }
    let line = line(server, client, argv);
    for monitor in server.monitors.clients.read().iter() {
        crate::outbox::send(server, monitor, &line);
    }
}

fn line(server: &Server, client: &Client, argv: &[&[u8]]) -> Vec<u8> {
    let micros = shoal_engine::now_us();
    let origin = if client.info.has_flag(flags::UNIX_SOCKET) {
        format!("unix:{}", server.config.get_string("unixsocket"))
    } else {
        client.info.addr.clone()
    };
    let mut line = format!("+{}.{:06} [{} {}]", micros / 1_000_000, micros % 1_000_000, client.db, origin).into_bytes();
    let secret = crate::slowlog::secrets(argv);
    for (i, arg) in argv.iter().enumerate() {
        line.push(b' ');
        quote(&mut line, if secret[i] { b"(redacted)" } else { arg });
    }
    line.extend_from_slice(b"\r\n");
    line
}
