//! SLOWLOG: the commands that took longer than `slowlog-log-slower-than`
//! microseconds, newest first, at most `slowlog-max-len` of them.
//!
//! An entry keeps the command as the client sent it (not as propagated),
//! trimmed to 32 arguments of at most 128 bytes, with secrets redacted.
//! Commands flagged `skip_slowlog` (EXEC) are not logged, the commands EXEC
//! ran are; a blocked command is logged when it is served.



use crate::exec::{Ctx, Registrar};
use crate::error::{CmdError, CmdResult};

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
    crate::families::help::write_help(
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
