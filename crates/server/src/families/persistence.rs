//! SAVE, BGSAVE, BGREWRITEAOF and LASTSAVE (the work is in
//! `crate::persistence`).

use std::sync::atomic::Ordering;

use crate::error::{parse, CmdError, CmdResult};
use crate::exec::{Ctx, Registrar};
use crate::exec::LockPlan;
use crate::persistence::{self, load, load::LoadingGuard};
use crate::server::Server;
use shoal_commands::Command;
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

/// The locks DEBUG needs: none for RELOAD and LOADAOF, which take the
/// whole keyspace themselves and then load outside any unit, every shard
/// for the rest.
pub fn debug_plan(_cmd: &Command, argv: &[&[u8]]) -> LockPlan {
    match argv.get(1) {
        Some(sub) if parse::is(sub, "reload") || parse::is(sub, "loadaof") => LockPlan::Nothing,
        _ => LockPlan::All,
    }
}

/// Empties every database, with the rest of the server refused
/// (`-LOADING`) from then on until `guard` ends: the first half of DEBUG
/// RELOAD and LOADAOF. As in Redis, the whole server waits for them (the
/// worker thread waits for the shards).
pub(crate) fn flush_for_reload<'a>(server: &'a Server, save_first: bool, total_bytes: u64) -> Result<LoadingGuard<'a>, CmdError> {
    let locks = server.engine.keyspace.lock_all();
    if save_first && persistence::save(server, &locks).is_err() {
        return Err(CmdError::err("Error trying to save the DB"));
    }
    let guard = LoadingGuard::begin(server, total_bytes);
    let mut tx = server.engine.unit(locks, 0);
    let dbs: Vec<usize> = (0..server.engine.db_count()).collect();
    crate::families::keys::flush_databases(&mut tx, &dbs, None);
    tx.effects.clear();
    tx.finish();
    // The file brings its own function libraries.
    crate::families::scripting::flush_functions(server);
    Ok(guard)
}

/// DEBUG RELOAD [MERGE] [NOFLUSH] [NOSAVE]: saves, empties, loads back.
pub fn debug_reload(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let (mut merge, mut flush, mut save) = (false, true, true);
    for arg in &argv[2..] {
        match arg.to_ascii_lowercase().as_slice() {
            b"merge" => merge = true,
            b"noflush" => flush = false,
            b"nosave" => save = false,
            _ => return Err(CmdError::err("DEBUG RELOAD only supports the MERGE, NOFLUSH and NOSAVE options.")),
        }
    }
    let server = ctx.server;
    if server.persistence.running_kind().is_some() {
        return Err(CmdError::err(persistence::ALREADY_IN_PROGRESS));
    }
    let path = persistence::rdb_path(server);
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    let guard = if flush {
        flush_for_reload(server, save, size)?
    } else {
        if save {
            let locks = server.engine.keyspace.lock_all();
            persistence::save(server, &locks).map_err(|_| CmdError::err("Error trying to save the DB"))?;
        }
        LoadingGuard::begin(server, size)
    };
    let loaded = load::load_rdb_path(server, &path, merge);
    drop(guard);
    if let Err(e) = loaded {
        server.log.warning(&e.message);
        return Err(CmdError::err("Error trying to load the RDB dump, check server logs."));
    }
    server.log.notice("DB reloaded by DEBUG RELOAD");
    ctx.out.ok();
    Ok(())
}

/// DEBUG LOADAOF: the append-only file made durable, the dataset emptied
/// and replayed from the file.
pub fn debug_loadaof(ctx: &mut Ctx<'_>, _argv: &[&[u8]]) -> CmdResult {
    let server = ctx.server;
    if let Some(aof) = server.persistence.aof() {
        aof.wait_durable_blocking();
    }
    let manifest = persistence::aof::manifest_on_disk(server).map_err(CmdError::err)?;
    let guard = flush_for_reload(server, false, load::aof_bytes(server, &manifest))?;
    let loaded = load::replay_aof(server, &manifest);
    drop(guard);
    if loaded.is_err() {
        return Err(CmdError::err("Error loading the AOF, check server logs."));
    }
    server.log.notice("Append Only File loaded by DEBUG LOADAOF");
    ctx.out.ok();
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
