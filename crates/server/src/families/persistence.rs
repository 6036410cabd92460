//! SAVE, BGSAVE and LASTSAVE (the work is in `crate::persistence`).

use std::sync::atomic::Ordering;

use crate::error::{parse, CmdError, CmdResult};
use crate::exec::{Ctx, Registrar};
use crate::persistence;

fn save(ctx: &mut Ctx<'_>, _argv: &[&[u8]]) -> CmdResult {
    let server = ctx.server;
    if server.persistence.in_progress() {
        return Err(CmdError::err(persistence::ALREADY_IN_PROGRESS));
    }
    let tx = ctx.tx.as_ref().expect("SAVE locks every shard");
    persistence::save(server, &tx.locks).map_err(|_| CmdError::Custom("ERR".to_string()))?;
    ctx.out.ok();
    Ok(())
}

fn bgsave(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let schedule = match argv.get(1) {
        None => false,
        Some(arg) if argv.len() == 2 && parse::is(arg, "schedule") => true,
        Some(_) => return Err(CmdError::Syntax),
    };
    let server = ctx.server;
    if server.persistence.in_progress() {
        // Another kind of background work (an AOF rewrite) would let
        // SCHEDULE wait for it; a running save answers the same either way.
        return Err(CmdError::err(persistence::ALREADY_IN_PROGRESS));
    }
    let _ = schedule;
    let tx = ctx.tx.as_ref().expect("BGSAVE locks every shard");
    persistence::bgsave(server, &tx.locks).map_err(CmdError::err)?;
    ctx.out.simple("Background saving started");
    Ok(())
}

fn lastsave(ctx: &mut Ctx<'_>, _argv: &[&[u8]]) -> CmdResult {
    ctx.out.int(ctx.server.engine.last_save.load(Ordering::Relaxed));
    Ok(())
}

pub fn register(r: &mut Registrar) {
    r.all("save", save);
    r.all("bgsave", bgsave);
    r.plain("lastsave", lastsave);
}
