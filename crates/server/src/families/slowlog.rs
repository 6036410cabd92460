//! SLOWLOG: the commands that took longer than `slowlog-log-slower-than`
//! microseconds, newest first, at most `slowlog-max-len` of them.
//!
//! An entry keeps the command as the client sent it (not as propagated),
//! trimmed to 32 arguments of at most 128 bytes, with secrets redacted.
//! Commands flagged `skip_slowlog` (EXEC) are not logged, the commands EXEC
//! ran are; a blocked command is logged when it is served.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

use crate::client::Client;
use crate::dispatch::{Ctx, Registrar};
use crate::error::{CmdError, CmdResult};
use crate::server::Server;

/// Arguments kept per entry (the last slot says how many more there were).
const MAX_ARGS: usize = 32;
/// Bytes kept per argument.
const MAX_ARG_BYTES: usize = 128;
const REDACTED: &[u8] = b"(redacted)";

struct Entry {
    id: u64,
    unix_secs: i64,
    micros: u64,
    argv: Vec<Vec<u8>>,
    peer: String,
    name: String,
}

#[derive(Default)]
pub struct SlowLog {
    entries: Mutex<VecDeque<Entry>>,
    next_id: AtomicU64,
}

/// Logs a command that ran for `nanos` if it was slow enough.
pub fn record(server: &Server, client: &Client, argv: &[&[u8]], nanos: u64) {
    let threshold = server.tunables.slowlog_slower_than.load(Ordering::Relaxed);
    if threshold < 0 || nanos / 1000 < threshold as u64 {
        return;
    }
    let max_len = server.config.get_int("slowlog-max-len").max(0) as usize;
    let entry = Entry {
        id: server.slowlog.next_id.fetch_add(1, Ordering::Relaxed),
        unix_secs: shoal_engine::now_ms() / 1000,
        micros: nanos / 1000,
        argv: logged_args(argv),
        peer: client.info.addr.clone(),
        name: client.info.name_string(),
    };
    let mut entries = server.slowlog.entries.lock();
    entries.push_front(entry);
    entries.truncate(max_len);
}

/// The arguments as logged: secrets redacted, then trimmed.
fn logged_args(argv: &[&[u8]]) -> Vec<Vec<u8>> {
    let secret = secrets(argv);
    let kept = if argv.len() > MAX_ARGS { MAX_ARGS - 1 } else { argv.len() };
    let mut out: Vec<Vec<u8>> = argv[..kept]
        .iter()
        .enumerate()
        .map(|(i, arg)| {
            if secret[i] {
                REDACTED.to_vec()
            } else if arg.len() > MAX_ARG_BYTES {
                let mut cut = arg[..MAX_ARG_BYTES].to_vec();
                cut.extend_from_slice(format!("... ({} more bytes)", arg.len() - MAX_ARG_BYTES).as_bytes());
                cut
            } else {
                arg.to_vec()
            }
        })
        .collect();
    if argv.len() > MAX_ARGS {
        out.push(format!("... ({} more arguments)", argv.len() - kept).into_bytes());
    }
    out
}

/// Which arguments are secrets: AUTH's arguments, HELLO's AUTH
/// credentials, and the value of a sensitive parameter in CONFIG SET.
pub(crate) fn secrets(argv: &[&[u8]]) -> Vec<bool> {
    let is = |i: usize, word: &str| argv.get(i).is_some_and(|a| a.eq_ignore_ascii_case(word.as_bytes()));
    let mut secret = vec![false; argv.len()];
    if is(0, "auth") {
        secret[1..].fill(true);
    } else if is(0, "hello") {
        if let Some(at) = (2..argv.len()).find(|&i| is(i, "auth")) {
            secret[at + 1..argv.len().min(at + 3)].fill(true);
        }
    } else if is(0, "config") && is(1, "set") {
        for name in (2..argv.len()).step_by(2) {
            if name + 1 < argv.len() && ["masterauth", "masteruser", "requirepass"].iter().any(|s| is(name, s)) {
                secret[name + 1] = true;
            }
        }
    }
    secret
}

fn slowlog_get(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let count = match argv.get(2) {
        None => 10,
        Some(arg) => {
            let n = crate::error::parse::int(arg)?;
            if n < -1 {
                return Err(CmdError::err("count should be greater than or equal to -1"));
            }
            if n == -1 { usize::MAX } else { n as usize }
        }
    };
    let entries = ctx.server.slowlog.entries.lock();
    let shown = entries.len().min(count);
    ctx.out.array(shown);
    for entry in entries.iter().take(shown) {
        ctx.out.array(6);
        ctx.out.int(entry.id as i64);
        ctx.out.int(entry.unix_secs);
        ctx.out.int(entry.micros as i64);
        ctx.out.array(entry.argv.len());
        for arg in &entry.argv {
            ctx.out.bulk(arg);
        }
        ctx.out.bulk(entry.peer.as_bytes());
        ctx.out.bulk(entry.name.as_bytes());
    }
    Ok(())
}

fn slowlog_len(ctx: &mut Ctx<'_>, _argv: &[&[u8]]) -> CmdResult {
    let len = ctx.server.slowlog.entries.lock().len();
    ctx.out.int(len as i64);
    Ok(())
}

fn slowlog_reset(ctx: &mut Ctx<'_>, _argv: &[&[u8]]) -> CmdResult {
    ctx.server.slowlog.entries.lock().clear();
    ctx.out.simple("OK");
    Ok(())
}

fn slowlog_help(ctx: &mut Ctx<'_>, _argv: &[&[u8]]) -> CmdResult {
    crate::families::write_help(
        ctx.out,
        "SLOWLOG",
        &[
            "GET [<count>]",
            "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
            "    Entries are made of:",
            "    id, timestamp, time in microseconds, arguments array, client IP and port,",
            "    client name",
            "LEN",
            "    Return the length of the slowlog.",
            "RESET",
            "    Reset the slowlog.",
        ],
    );
    Ok(())
}

pub fn register(r: &mut Registrar) {
    r.plain("slowlog|get", slowlog_get);
    r.plain("slowlog|len", slowlog_len);
    r.plain("slowlog|reset", slowlog_reset);
    r.plain("slowlog|help", slowlog_help);
}
