//! MULTI, EXEC, DISCARD, WATCH, UNWATCH.
//!
//! EXEC holds the union of the shards its queued commands and watched keys
//! live in (or every shard if one of them is keyspace-wide: `exec_plan`,
//! which the dispatcher locks like any command's plan), checks WATCH under
//! those locks, and runs the whole queue in one `Tx`: the transaction is
//! atomic and isolated, and its effects propagate as one unit.
//!
//! Unwatching takes no lock: the client retires its `Watcher` and starts a
//! new one; shards drop retired entries when the key changes or the cron
//! prunes them.

use std::sync::atomic::Ordering;

use shoal_commands::table;
use shoal_engine::keyspace::WatchEntry;
use shoal_engine::{shard_of, ShardList, Tx};

use crate::client::{flags, Client, Multi};
use crate::exec::{self, plan, Caller, Ctx, LockPlan, Registrar};
use crate::error::{CmdError, CmdResult};
use crate::state::acl::Denied;

fn multi(ctx: &mut Ctx<'_>, _argv: &[&[u8]]) -> CmdResult {
    if ctx.client.in_multi() {
        return Err(CmdError::err("MULTI calls can not be nested"));
    }
    ctx.client.multi = Some(Multi::default());
    ctx.client.info.set_flag(flags::MULTI, true);
    ctx.client.info.multi_count.store(0, Ordering::Relaxed);
    ctx.out.ok();
    Ok(())
}

fn discard(ctx: &mut Ctx<'_>, _argv: &[&[u8]]) -> CmdResult {
    if !ctx.client.in_multi() {
        return Err(CmdError::err("DISCARD without MULTI"));
    }
    discard_state(ctx.client);
    ctx.out.ok();
    Ok(())
}

/// Ends MULTI state and unwatches everything.
pub fn discard_state(client: &mut Client) {
    client.multi = None;
    client.info.set_flag(flags::MULTI, false);
    client.info.multi_count.store(-1, Ordering::Relaxed);
    unwatch_all(client);
}

fn watch(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    if ctx.client.in_multi() {
        return Err(CmdError::err("WATCH inside MULTI is not allowed"));
    }
    let db = ctx.client.db;
    let watcher = ctx.client.watcher.clone();
    let mut added = Vec::new();
    let tx = ctx.tx.as_mut().expect("WATCH locks its keys");
    for key in &argv[1..] {
        if ctx.client.watched.iter().any(|(d, k)| *d == db && k.as_slice() == *key)
            || added.iter().any(|k: &Vec<u8>| k.as_slice() == *key)
        {
            continue;
        }
        let expired = tx.is_stale_in(db, key);
        let shard = tx.locks.shard_for(key);
        let entries = shard.watched.entry((db, (*key).into())).or_default();
        entries.retain(|e| !e.watcher.is_retired());
        entries.push(WatchEntry { watcher: watcher.clone(), expired });
        added.push(key.to_vec());
    }
    ctx.client.watched.extend(added.into_iter().map(|k| (db, k)));
    ctx.out.ok();
    Ok(())
}

fn unwatch(ctx: &mut Ctx<'_>, _argv: &[&[u8]]) -> CmdResult {
    unwatch_all(ctx.client);
    ctx.out.ok();
    Ok(())
}

/// Forgets the client's watches without touching a shard: the old
/// watcher is retired (its entries are dropped lazily) and a fresh one
/// takes its place.
pub fn unwatch_all(client: &mut Client) {
    if client.watched.is_empty() {
        client.watcher.clear();
        return;
    }
    client.watcher.retire();
    client.watcher = std::sync::Arc::new(shoal_engine::Watcher::default());
    client.watched.clear();
}

/// True if a watched key that was live when watched has since expired.
fn watched_key_expired(tx: &mut Tx<'_>, client: &Client) -> bool {
    for (db, key) in &client.watched {
        let was_stale = tx
            .locks
            .shard_for(key)
            .watched
            .get(&(*db, key.clone().into_boxed_slice()))
            .and_then(|entries| entries.iter().find(|e| std::sync::Arc::ptr_eq(&e.watcher, &client.watcher)))
            .is_some_and(|e| e.expired);
        if !was_stale && tx.is_stale_in(*db, key) {
            return true;
        }
    }
    false
}

/// EXEC: the dispatcher has locked `exec_plan`'s shards into `ctx.tx`.
fn exec_command(ctx: &mut Ctx<'_>, _argv: &[&[u8]]) -> CmdResult {
    let exec_cmd = ctx.cmd;
    let Some(multi) = ctx.client.multi.take() else {
        return Err(CmdError::err("EXEC without MULTI"));
    };
    if multi.aborted {
        discard_state(ctx.client);
        // Monitors saw MULTI: show that the transaction ended.
        crate::monitor::feed_line(ctx.server, ctx.client, &[b"exec"]);
        return Err(CmdError::Fixed("EXECABORT Transaction discarded because of previous errors."));
    }
    let queued: Vec<(&'static shoal_commands::Command, Vec<Vec<u8>>)> =
        multi.queue.into_iter().map(|q| (table().get(q.command), q.argv)).collect();
    let dirty = ctx.client.watcher.is_dirty()
        || ctx.tx.as_mut().is_some_and(|tx| watched_key_expired(tx, ctx.client));
    if dirty {
        discard_state(ctx.client);
        ctx.out.null_array();
        return Ok(());
    }
    ctx.in_exec = true;
    ctx.out.array(queued.len());
    for (cmd, argv) in &queued {
        let argv: Vec<&[u8]> = argv.iter().map(|a| a.as_slice()).collect();
        let handler = crate::exec::handlers().get(cmd.id).expect("queued commands have handlers");
        ctx.cmd = cmd;
        // Rules may have changed since the command was queued.
        if let Err(denied) = crate::acl::check_and_log(ctx.server, ctx.client, cmd, &argv, crate::acl::Context::Multi) {
            let reason = match denied {
                Denied::Command => "no permission to execute the command or subcommand",
                Denied::Key(_) => "no permission to touch the specified keys",
                Denied::Channel(_) => "no permission to access one of the channels used as arguments",
            };
            let message = format!("NOPERM ACLs rules changed between the moment the transaction was accumulated and the EXEC call. This command is no longer allowed for the following reason: {reason}");
            crate::exec::error_reply(ctx.server, ctx.out, message);
            continue;
        }
        // A queued SELECT changes the database of the commands after it.
        let db = ctx.client.db;
        if let Some(tx) = ctx.tx.as_mut() {
            tx.db = db;
        }
        let _ = exec::execute(ctx, Caller::Exec, handler, &argv, shoal_engine::clock_hint::start_ns());
    }
    ctx.cmd = exec_cmd;
    ctx.in_exec = false;
    if let Some(tx) = ctx.tx.as_mut() {
        tx.db = ctx.client.db;
        // A transaction that made this server a replica (REPLICAOF inside
        // it) reaches no replica, as in Redis.
        tx.file_only |= ctx.server.master.is_replica();
    }
    discard_state(ctx.client);
    Ok(())
}

/// The shards EXEC must hold: those of the queued commands and of the
/// watched keys (nothing for an aborted or missing transaction).
pub(crate) fn exec_plan(client: &Client) -> LockPlan {
    let Some(multi) = client.multi.as_ref().filter(|m| !m.aborted) else {
        return LockPlan::Nothing;
    };
    let mut shards: ShardList = client.watched.iter().map(|(_, k)| shard_of(k)).collect();
    // Commands inside EXEC may touch no key and still want a Tx (e.g. an
    // empty transaction with WATCH): lock what was gathered.
    let mut needs_tx = !shards.is_empty();
    for queued in &multi.queue {
        let cmd = table().get(queued.command);
        let argv: Vec<&[u8]> = queued.argv.iter().map(|a| a.as_slice()).collect();
        let Some(handler) = crate::exec::handlers().get(cmd.id) else { continue };
        match plan(cmd, handler.locking, &argv, None) {
            LockPlan::Nothing => {}
            LockPlan::All => return LockPlan::All,
            LockPlan::Shards(s) => {
                shards.extend(s);
                needs_tx = true;
            }
        }
    }
    if needs_tx {
        LockPlan::Shards(shards)
    } else {
        LockPlan::Nothing
    }
}

pub fn register(r: &mut Registrar) {
    r.plain("multi", multi);
    r.plain("discard", discard);
    r.keys("watch", watch);
    r.plain("unwatch", unwatch);
    r.plain("exec", exec_command);
}
