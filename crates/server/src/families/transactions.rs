//! MULTI, EXEC, DISCARD, WATCH, UNWATCH.
//!
//! EXEC locks the union of the shards its queued commands and watched keys
//! live in (or every shard if one of them is keyspace-wide), checks WATCH
//! under those locks, and runs the whole queue in one `Tx`: the transaction
//! is atomic and isolated, and its effects propagate as one unit.

use std::sync::atomic::Ordering;
use std::time::Instant;

use shoal_commands::table;
use shoal_engine::keyspace::WatchEntry;
use shoal_engine::{shard_of, ShardIndex, Tx};
use shoal_resp::ReplyBuf;

use crate::client::{flags, Client, Multi};
use crate::dispatch::{self, error_reply, plan, Ctx, LockPlan, Registrar};
use crate::error::{CmdError, CmdResult};
use crate::server::Server;

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
    discard_state(ctx.server, ctx.client);
    ctx.out.ok();
    Ok(())
}

/// Ends MULTI state and unwatches everything.
pub fn discard_state(server: &Server, client: &mut Client) {
    client.multi = None;
    client.info.set_flag(flags::MULTI, false);
    client.info.multi_count.store(-1, Ordering::Relaxed);
    unwatch_all(server, client);
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
        shard
            .watched
            .entry((db, (*key).into()))
            .or_default()
            .push(WatchEntry { watcher: watcher.clone(), expired });
        added.push(key.to_vec());
    }
    ctx.client.watched.extend(added.into_iter().map(|k| (db, k)));
    ctx.out.ok();
    Ok(())
}

fn unwatch(ctx: &mut Ctx<'_>, _argv: &[&[u8]]) -> CmdResult {
    unwatch_all(ctx.server, ctx.client);
    ctx.out.ok();
    Ok(())
}

/// Removes the client's watches from every shard and clears its flag.
pub fn unwatch_all(server: &Server, client: &mut Client) {
    if !client.watched.is_empty() {
        let mut shards: Vec<ShardIndex> = client.watched.iter().map(|(_, k)| shard_of(k)).collect();
        let mut locks = server.engine.keyspace.lock(&mut shards);
        for (db, key) in client.watched.drain(..) {
            let shard = locks.shard_for(&key);
            let map_key = (db, key.into_boxed_slice());
            if let Some(entries) = shard.watched.get_mut(&map_key) {
                entries.retain(|e| !std::sync::Arc::ptr_eq(&e.watcher, &client.watcher));
                if entries.is_empty() {
                    shard.watched.remove(&map_key);
                }
            }
        }
    }
    client.watcher.clear();
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

/// EXEC (called by the dispatcher, which has already checked arity and auth).
fn exec_command(ctx: &mut Ctx<'_>, _argv: &[&[u8]]) -> CmdResult {
    exec(ctx.server, ctx.client, ctx.out);
    Ok(())
}

/// Runs the queued transaction of `client`.
fn exec(server: &Server, client: &mut Client, out: &mut ReplyBuf) {
    let exec_cmd = table().lookup(b"exec").expect("exec is in the table");
    let Some(multi) = client.multi.take() else {
        error_reply(server, out, "ERR EXEC without MULTI");
        return;
    };
    if multi.aborted {
        discard_state(server, client);
        // Monitors saw MULTI: show that the transaction ended.
        crate::monitor::feed_line(server, client, &[b"exec"]);
        error_reply(server, out, "EXECABORT Transaction discarded because of previous errors.");
        return;
    }
    let queued: Vec<(&'static shoal_commands::Command, Vec<Vec<u8>>)> =
        multi.queue.into_iter().map(|q| (table().get(q.command), q.argv)).collect();
    let mut tx = begin_exec(server, client, &queued);
    if let Some(tx) = tx.as_mut() {
        tx.client_id = client.id();
    }
    let mut ctx = Ctx::for_exec(server, client, out, tx, exec_cmd);
    let dirty = ctx.client.watcher.is_dirty()
        || ctx.tx.as_mut().is_some_and(|tx| watched_key_expired(tx, ctx.client));
    if dirty {
        if let Some(tx) = ctx.tx.take() {
            tx.finish();
        }
        drop(ctx);
        discard_state(server, client);
        out.null_array();
        return;
    }
    ctx.out.array(queued.len());
    for (cmd, argv) in &queued {
        let argv: Vec<&[u8]> = argv.iter().map(|a| a.as_slice()).collect();
        let handler = server.handlers.get(cmd.id).expect("queued commands have handlers");
        ctx.cmd = cmd;
        // A queued SELECT changes the database of the commands after it.
        let db = ctx.client.db;
        if let Some(tx) = ctx.tx.as_mut() {
            tx.db = db;
        }
        let command_started = Instant::now();
        let result = dispatch::run_handler(&mut ctx, handler, &argv);
        let counters = server.counters(cmd.id);
        counters.calls.fetch_add(1, Ordering::Relaxed);
        let nanos = command_started.elapsed().as_nanos() as u64;
        counters.nanos.fetch_add(nanos, Ordering::Relaxed);
        crate::families::slowlog::record(server, ctx.client, &argv, nanos);
        crate::monitor::feed(server, ctx.client, cmd, &argv);
        if let Err(e) = result {
            counters.failed.fetch_add(1, Ordering::Relaxed);
            error_reply(server, ctx.out, e.message());
        }
    }
    crate::blocking::serve_ready(&mut ctx);
    if let Some(tx) = ctx.tx.take() {
        tx.finish();
    }
    drop(ctx);
    discard_state(server, client);
}

/// Locks what the queued commands and the watched keys need.
fn begin_exec<'a>(
    server: &'a Server,
    client: &Client,
    queued: &[(&'static shoal_commands::Command, Vec<Vec<u8>>)],
) -> Option<Tx<'a>> {
    let mut shards: Vec<ShardIndex> = client.watched.iter().map(|(_, k)| shard_of(k)).collect();
    let mut needs_tx = !shards.is_empty();
    for (cmd, argv) in queued {
        let argv: Vec<&[u8]> = argv.iter().map(|a| a.as_slice()).collect();
        let Some(handler) = server.handlers.get(cmd.id) else { continue };
        match plan(cmd, handler.locking, &argv, None) {
            LockPlan::Nothing => {}
            LockPlan::All => return Some(server.engine.begin_all(client.db)),
            LockPlan::Shards(s) => {
                shards.extend(s);
                needs_tx = true;
            }
        }
    }
    // Commands inside EXEC may touch no key and still want a Tx (e.g. an
    // empty transaction with WATCH): lock what was gathered.
    needs_tx.then(|| server.engine.begin(&mut shards, client.db))
}

pub fn register(r: &mut Registrar) {
    r.plain("multi", multi);
    r.plain("discard", discard);
    r.keys("watch", watch);
    r.plain("unwatch", unwatch);
    r.plain("exec", exec_command);
}
