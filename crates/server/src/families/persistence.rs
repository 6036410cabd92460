//! SAVE, BGSAVE, BGREWRITEAOF and LASTSAVE (the work is in
//! `crate::persistence`).

use std::sync::atomic::Ordering;

use crate::error::{parse, CmdError, CmdResult};
use crate::exec::{Ctx, Registrar};
use crate::persistence;
use crate::state::persistence::SnapshotKind;

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
    match server.persistence.running_kind() {
        Some(SnapshotKind::Rdb) => return Err(CmdError::err(persistence::ALREADY_IN_PROGRESS)),
        Some(SnapshotKind::AofRewrite) if schedule => {
            server.persistence.scheduled.store(true, Ordering::Relaxed);
            ctx.out.simple("Background saving scheduled");
            return Ok(());
        }
        Some(SnapshotKind::AofRewrite) => return Err(CmdError::err(persistence::ANOTHER_CHILD)),
        None => {}
    }
    let tx = ctx.tx.as_ref().expect("BGSAVE locks every shard");
    persistence::bgsave(server, &tx.locks).map_err(CmdError::err)?;
    ctx.out.simple("Background saving started");
    Ok(())
}

fn bgrewriteaof(ctx: &mut Ctx<'_>, _argv: &[&[u8]]) -> CmdResult {
    let tx = ctx.tx.as_ref().expect("BGREWRITEAOF locks every shard");
    let status = persistence::aof::bgrewriteaof(ctx.server, &tx.locks).map_err(CmdError::err)?;
    ctx.out.simple(status);
    Ok(())
}

fn lastsave(ctx: &mut Ctx<'_>, _argv: &[&[u8]]) -> CmdResult {
    ctx.out.int(ctx.server.engine.last_save.load(Ordering::Relaxed));
    Ok(())
}

pub fn register(r: &mut Registrar) {
    r.all("save", save);
    r.all("bgsave", bgsave);
    r.all("bgrewriteaof", bgrewriteaof);
    r.plain("lastsave", lastsave);
}
