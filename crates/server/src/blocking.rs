//! Blocking commands, server side: registering a blocked client, serving
//! blocked clients when their keys become ready, and ending a wait
//! (timeout, CLIENT UNBLOCK, disconnect).
//!
//! A handler that finds nothing to return and may block calls
//! `Ctx::block_on`. The dispatcher then registers a `Waiter` on each key
//! (the keys' shards are locked) and the connection waits. Whoever makes
//! one of the keys ready — any unit that touches it — serves the waiters
//! before releasing its shards: it runs the blocked command again on the
//! waiter's behalf (`serve_ready`), so the oldest waiter gets the data and
//! nobody can slip in between, as in Redis.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use shoal_commands::{find_keys, table, CommandId, KeyRef};
use shoal_engine::{shard_of, ShardIndex, Tx, WaitEnd, Waiter};
use shoal_resp::{Protocol, ReplyBuf};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

use crate::client::{flags, Client, ClientInfo};
use crate::exec::{BlockRequest, Ctx};
use crate::server::Server;

/// A message to a blocked connection.
pub enum Wakeup {
    /// The command was served: its reply bytes.
    Reply(Vec<u8>),
    /// The command must run again on its own connection (a key it needs
    /// was out of the server's reach when it was made ready).
    Retry,
}

/// What the server keeps about a blocked client (the waiter's payload).
pub struct BlockedCommand {
    pub command: CommandId,
    pub argv: Vec<Vec<u8>>,
    pub protocol: Protocol,
    pub info: Arc<ClientInfo>,
    pub keys: Vec<Vec<u8>>,
    sender: UnboundedSender<Wakeup>,
}

/// A connection's side of a wait.
pub struct Blocked {
    pub waiter: Arc<Waiter>,
    pub receiver: UnboundedReceiver<Wakeup>,
    pub timeout: Option<Duration>,
    pub keys: Vec<Vec<u8>>,
    pub db: usize,
    /// The command to run again on `Wakeup::Retry`: the registered
    /// arguments (`retry_argv` when the handler gave one).
    pub argv: Vec<Vec<u8>>,
}

/// Registers the client as blocked on the request's keys. The caller holds
/// the keys' shards (they are the command's keys).
pub fn register(ctx: &mut Ctx<'_>, request: BlockRequest, argv: &[&[u8]]) -> Blocked {
    let (sender, receiver) = unbounded_channel();
    let db = ctx.client.db;
    let original: Vec<Vec<u8>> = argv.iter().map(|a| a.to_vec()).collect();
    let payload = BlockedCommand {
        command: ctx.cmd.id,
        argv: request.retry_argv.unwrap_or_else(|| original.clone()),
        protocol: ctx.out.protocol,
        info: ctx.client.info.clone(),
        keys: request.keys.clone(),
        sender,
    };
    // A wait that must be retried on the client's own connection runs the
    // command as it was registered (XREAD with `$` resolved), not as sent.
    let retry = payload.argv.clone();
    let waiter = Arc::new(Waiter::new(ctx.client.id(), db, Box::new(payload)));
    let tx = ctx.tx.as_mut().expect("blocking commands lock their keys");
    for key in &request.keys {
        tx.locks.shard_for(key).blocked.add(db, key, waiter.clone());
    }
    started(ctx.server, &ctx.client.info);
    Blocked { waiter, receiver, timeout: request.timeout, keys: request.keys, db, argv: retry }
}

/// Serves the clients blocked on the keys the unit made ready. Called with
/// the unit's shards still locked, after its own effects. The served
/// commands run in the writer's context with the waiter's client state
/// and reply buffer swapped in.
pub fn serve_ready(ctx: &mut Ctx<'_>) {
    let Some(unit) = ctx.tx.as_mut() else { return };
    if unit.ready.is_empty() {
        return;
    }
    unit.publish_effects();
    let (saved_cmd, saved_in_exec) = (ctx.cmd, ctx.in_exec);
    let saved_db = ctx.tx.as_ref().map_or(0, |t| t.db);
    // A queue: a key is taken off before its waiters are served, so that
    // serving (a BLMOVE pushing onto it) can queue it again, as in Redis.
    while let Some((db, key)) = ctx.tx.as_mut().and_then(|t| (!t.ready.is_empty()).then(|| t.ready.remove(0))) {
        // Served commands see the time they run at, as in Redis (a key
        // that expired while the unit ran is expired for them).
        if let Some(unit) = ctx.tx.as_mut() {
            unit.now_ms = shoal_engine::now_ms();
        }
        // Every waiter of the key gets its turn, oldest first, as in Redis:
        // one that finds nothing keeps waiting and the next is tried (a
        // stream's XREAD waiters all see a new entry even when an earlier
        // XREADGROUP waiter found nothing for its group).
        let waiters = match ctx.tx.as_mut() {
            Some(tx) => tx.locks.shard_for(&key).blocked.waiting(db, &key),
            None => Vec::new(),
        };
        for waiter in waiters {
            if waiter.is_waiting() {
                serve_waiter(ctx, &key, &waiter);
            }
        }
    }
    ctx.cmd = saved_cmd;
    ctx.in_exec = saved_in_exec;
    ctx.serving_blocked = false;
    if let Some(unit) = ctx.tx.as_mut() {
        unit.ready.clear();
        unit.db = saved_db;
    }
}

/// Runs one waiter's command for it, now that `key` is ready. Returns true
/// if the wait ended (served, failed with an error, or handed back to its
/// connection to retry).
fn serve_waiter(ctx: &mut Ctx<'_>, key: &[u8], waiter: &Arc<Waiter>) -> bool {
    let server = ctx.server;
    let tx = ctx.tx.as_mut().expect("serving needs the unit");
    let blocked = waiter.payload.downcast_ref::<BlockedCommand>().expect("waiter payloads are BlockedCommand");
    let cmd = table().get(blocked.command);
    let argv: Vec<&[u8]> = blocked.argv.iter().map(|a| a.as_slice()).collect();
    let mut keys: Vec<KeyRef> = Vec::new();
    let _ = find_keys(cmd, &argv, &mut keys);
    let shards: Vec<ShardIndex> = keys.iter().map(|k| shard_of(argv[k.index])).collect();
    let reachable = shards.iter().all(|&s| tx.locks.try_add(s));
    if !waiter.claim(WaitEnd::Served) {
        return true;
    }
    if !reachable {
        // Let the client run its command itself, under its own locks.
        forget(tx, waiter, blocked);
        blocked.info.set_flag(flags::BLOCKED, false);
        let _ = blocked.sender.send(Wakeup::Retry);
        return true;
    }
    tx.db = waiter.db;
    let handler = crate::exec::handlers().get(blocked.command).expect("blocked commands have handlers");
    let mut client = Client::new(blocked.info.clone(), true);
    client.db = waiter.db;
    let mut out = ReplyBuf::new(blocked.protocol);
    std::mem::swap(ctx.client, &mut client);
    std::mem::swap(ctx.out, &mut out);
    ctx.cmd = cmd;
    ctx.in_exec = false;
    ctx.serving_blocked = true;
    ctx.error_ends_wait = false;
    ctx.serving_key = Some(key.to_vec());
    let result = crate::exec::execute(ctx, crate::exec::Caller::Waiter, handler, &argv, 0);
    ctx.serving_key = None;
    let still_blocked = ctx.block.take().is_some();
    let final_error = std::mem::take(&mut ctx.error_ends_wait);
    // Invalidations for the served client itself follow its reply.
    let after_reply = std::mem::take(&mut ctx.client.after_reply);
    std::mem::swap(ctx.client, &mut client);
    std::mem::swap(ctx.out, &mut out);
    let tx = ctx.tx.as_mut().expect("handlers give the unit back");
    if let (Err(e), true, false) = (&result, final_error, still_blocked) {
        // The wait ends with this error as the command's reply.
        crate::exec::error_reply(server, &mut out, e.message());
        server.counters(blocked.command).failed.fetch_add(1, Ordering::Relaxed);
    } else if still_blocked || result.is_err() {
        // Nothing for this client after all (an empty or retyped key): it
        // keeps waiting, first in line, as Redis leaves it blocked.
        waiter.release();
        // Lazy expirations the attempt performed are real: propagate them.
        tx.publish_effects();
        return false;
    }
    forget(tx, waiter, blocked);
    // No longer blocked from now on, as in Redis (CLIENT UNBLOCK and
    // CLIENT LIST must not see it blocked while its reply is on the way).
    blocked.info.set_flag(flags::BLOCKED, false);
    tx.publish_effects();
    out.raw(&after_reply);
    let _ = blocked.sender.send(Wakeup::Reply(out.buf));
    true
}

/// Removes a waiter from the registries of the shards the unit holds
/// (others drop it lazily: it is no longer waiting).
fn forget(tx: &mut Tx<'_>, waiter: &Arc<Waiter>, blocked: &BlockedCommand) {
    for key in &blocked.keys {
        if tx.locks.holds(shard_of(key)) {
            tx.locks.shard_for(key).blocked.remove(waiter.db, key, waiter);
        }
    }
}

/// Ends a wait from the blocked connection's side. Returns false if the
/// waiter was served first (its reply is on the way).
pub async fn end_wait(server: &Server, blocked: &Blocked, end: WaitEnd) -> bool {
    let mut shards: Vec<ShardIndex> = blocked.keys.iter().map(|k| shard_of(k)).collect();
    let mut locks = server.engine.keyspace.lock_async(&mut shards).await;
    let claimed = blocked.waiter.claim(end);
    if claimed {
        for key in &blocked.keys {
            locks.shard_for(key).blocked.remove(blocked.db, key, &blocked.waiter);
        }
    }
    claimed
}

/// Bookkeeping as a client starts waiting (a blocking command, or a
/// command held by CLIENT PAUSE): INFO blocked_clients, flag `b`.
pub fn started(server: &Server, info: &ClientInfo) {
    server.blocked_clients.fetch_add(1, Ordering::Relaxed);
    info.set_flag(flags::BLOCKED, true);
}

/// Bookkeeping once a wait is over, however it ended.
pub fn finished(server: &Server, info: &ClientInfo) {
    server.blocked_clients.fetch_sub(1, Ordering::Relaxed);
    info.set_flag(flags::BLOCKED, false);
}

/// CLIENT UNBLOCK's modes.
pub const UNBLOCK_TIMEOUT: u8 = 1;
pub const UNBLOCK_ERROR: u8 = 2;
/// The server became a replica (REPLICAOF): blocked clients get an error.
pub const UNBLOCK_ROLE_CHANGE: u8 = 3;

/// The reply a wait ended by timeout or CLIENT UNBLOCK gets. The error
/// form counts as the blocked command's failed call and as an error
/// reply, as in Redis.
pub fn write_unblocked_reply(server: &Server, out: &mut ReplyBuf, blocked: &Blocked, mode: u8) {
    if mode == UNBLOCK_ERROR {
        crate::exec::error_reply(server, out, "UNBLOCKED client unblocked via CLIENT UNBLOCK");
        if let Some(cmd) = blocked.argv.first().and_then(|name| table().lookup(name)) {
            server.counters(cmd.id).failed.fetch_add(1, Ordering::Relaxed);
        }
    } else if mode == UNBLOCK_ROLE_CHANGE {
        let message = "UNBLOCKED force unblock from blocking operation, instance state changed (master -> replica?)";
        crate::exec::error_reply(server, out, message);
    } else {
        out.null_array();
    }
}
