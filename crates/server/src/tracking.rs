//! Client-side caching: CLIENT TRACKING and its invalidation messages.
//!
//! Default mode: a tracking client's reads (read-only commands) record
//! their keys in the tracking table, kept per keyspace shard
//! (`Shard::tracked`, key name to client ids, whatever the database, as
//! in Redis) so recording and lookups happen under the shard lock the
//! command holds anyway. When a unit changes a key (`Tx::invalidated`,
//! fed by the same path that invalidates WATCH), the key leaves the
//! table and each client that read it gets one invalidation.
//! BCAST mode: clients register key prefixes instead; every change to a
//! key under a prefix is sent, one message per prefix and unit.
//!
//! Messages go to the client itself (a RESP3 push) or to its REDIRECT
//! target (a push if RESP3, or a message on `__redis__:invalidate` if
//! that client subscribed to it in RESP2), through the outbox. For the
//! client whose command caused them they are held until its reply is
//! written (`Client::after_reply`), as Redis 7.0 does; NOLOOP clients get
//! none for their own changes.

use std::sync::atomic::Ordering;

use shoal_commands::{find_keys, Command, CommandFlags, KeyRef};
use shoal_engine::{shard_of, Tx};
use shoal_resp::{Protocol, ReplyBuf};

use crate::client::{flags, Client, ClientInfo};
use crate::server::Server;
pub use crate::state::tracking::{mode, ClientTracking, Tracking};

/// Options of CLIENT TRACKING ON.
pub struct Enable {
    pub options: u32,
    pub redirect: u64,
    pub prefixes: Vec<Vec<u8>>,
}

/// Turns tracking on (or changes its options), as validated by the caller.
pub fn enable(server: &Server, info: &ClientInfo, request: Enable) {
    let tracking = &info.tracking;
    if !tracking.has(mode::ON) {
        server.engine.tracking_clients.fetch_add(1, Ordering::Relaxed);
    }
    let kept = tracking.mode.load(Ordering::Relaxed) & mode::CACHING;
    tracking.mode.store(mode::ON | kept | (request.options & (mode::BCAST | mode::OPTIN | mode::OPTOUT | mode::NOLOOP)), Ordering::Relaxed);
    tracking.redirect.store(request.redirect, Ordering::Relaxed);
    info.set_flag(flags::TRACKING, true);
    if request.options & mode::BCAST != 0 {
        let mut wanted = request.prefixes;
        if wanted.is_empty() {
            wanted.push(Vec::new());
        }
        let mut table = server.tracking.prefixes.write();
        let mut mine = tracking.prefixes.lock();
        for prefix in wanted {
            if !mine.contains(&prefix) {
                table.entry(prefix.clone()).or_default().push(info.id);
                mine.push(prefix);
            }
        }
        mine.sort();
    }
}

/// Turns tracking off. Keys this client read stay in the table until they
/// change (messages then skip it), as in Redis.
pub fn disable(server: &Server, info: &ClientInfo) {
    let tracking = &info.tracking;
    if !tracking.has(mode::ON) {
        return;
    }
    let prefixes = std::mem::take(&mut *tracking.prefixes.lock());
    if !prefixes.is_empty() {
        let mut table = server.tracking.prefixes.write();
        for prefix in prefixes {
            if let Some(ids) = table.get_mut(&prefix) {
                ids.retain(|&id| id != info.id);
                if ids.is_empty() {
                    table.remove(&prefix);
                }
            }
        }
    }
    tracking.mode.store(0, Ordering::Relaxed);
    tracking.redirect.store(0, Ordering::Relaxed);
    info.set_flag(flags::TRACKING, false);
    server.engine.tracking_clients.fetch_sub(1, Ordering::Relaxed);
}

/// After a command: records the keys a tracking client read.
pub fn remember(server: &Server, tx: &mut Tx<'_>, client: &Client, cmd: &Command, argv: &[&[u8]]) {
    let tracking = &client.info.tracking;
    let bits = tracking.mode.load(Ordering::Relaxed);
    if bits & mode::ON == 0 || bits & mode::BCAST != 0 || !cmd.is(CommandFlags::READONLY) || cmd.is(CommandFlags::PUBSUB) {
        return;
    }
    let caching = bits & mode::CACHING != 0;
    if (bits & mode::OPTIN != 0 && !caching) || (bits & mode::OPTOUT != 0 && caching) {
        return;
    }
    let mut keys: Vec<KeyRef> = Vec::new();
    if find_keys(cmd, argv, &mut keys).is_err() {
        return;
    }
    for key in keys {
        let name = argv[key.index];
        let shard = shard_of(name);
        if !tx.locks.holds(shard) {
            continue;
        }
        let table = &mut tx.locks.shard(shard).tracked;
        let ids = match table.get_mut(name) {
            Some(ids) => ids,
            None => {
                server.tracking.keys.fetch_add(1, Ordering::Relaxed);
                table.entry(name.into()).or_default()
            }
        };
        if !ids.contains(&client.id()) {
            ids.push(client.id());
            server.tracking.items.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Ends CLIENT CACHING's one-command effect, as Redis does after every
/// command outside MULTI other than CLIENT itself.
pub fn after_command(client: &Client, cmd: &Command) {
    let tracking = &client.info.tracking;
    if tracking.has(mode::CACHING) && !client.in_multi() && !cmd.name.starts_with("client|") {
        tracking.set(mode::CACHING, false);
    }
}

/// Sends the default-mode invalidations for the keys `tx` changed.
/// `current` is the client whose command changed them (its own messages
/// wait for its reply). BCAST clients are told when the unit ends
/// (`broadcast`), one message per prefix for all its changes.
pub fn invalidate(server: &Server, tx: &mut Tx<'_>, mut current: Option<&mut Client>) {
    if tx.invalidated.is_empty() {
        return;
    }
    let keys = std::mem::take(&mut tx.invalidated);
    if !server.tracking.prefixes.read().is_empty() {
        for key in &keys {
            if !tx.broadcast.contains(key) {
                tx.broadcast.push(key.clone());
            }
        }
    }
    let current_id = current.as_ref().map(|c| c.id());
    for key in &keys {
        let shard = shard_of(key);
        if !tx.locks.holds(shard) {
            continue;
        }
        let Some(ids) = tx.locks.shard(shard).tracked.remove(key.as_slice()) else { continue };
        server.tracking.keys.fetch_sub(1, Ordering::Relaxed);
        server.tracking.items.fetch_sub(ids.len(), Ordering::Relaxed);
        for id in ids {
            let Some(target) = server.clients.get(id) else { continue };
            let bits = target.tracking.mode.load(Ordering::Relaxed);
            if bits & mode::ON == 0 || bits & mode::BCAST != 0 || (bits & mode::NOLOOP != 0 && Some(id) == current_id) {
                continue;
            }
            send(server, &target, Some(&[key.as_slice()]), &mut current);
        }
    }
}

/// When a unit ends: the invalidations no command sent (the expiry
/// cycle's), then BCAST messages, one per (client, prefix) with the
/// unit's changed keys under the prefix. They go through the outboxes, so
/// the client that made the changes gets them after its reply.
pub fn unit_ended(server: &Server, tx: &mut Tx<'_>) {
    invalidate(server, tx, None);
    let keys = std::mem::take(&mut tx.broadcast);
    let prefixes = server.tracking.prefixes.read();
    if keys.is_empty() || prefixes.is_empty() {
        return;
    }
    let current_id = tx.client_id;
    for (prefix, ids) in prefixes.iter() {
        let matching: Vec<&[u8]> = keys.iter().filter(|k| k.starts_with(prefix)).map(|k| k.as_slice()).collect();
        if matching.is_empty() {
            continue;
        }
        for &id in ids {
            let Some(target) = server.clients.get(id) else { continue };
            if id == current_id && target.tracking.has(mode::NOLOOP) {
                continue;
            }
            send(server, &target, Some(&matching), &mut None);
        }
    }
}

/// FLUSHALL/FLUSHDB: every tracking client learns that everything changed
/// (a null invalidation). FLUSHALL also empties the tracking table (every
/// shard is held).
pub fn flushed(server: &Server, tx: &mut Tx<'_>, current: &mut Client, all_databases: bool) {
    if server.engine.tracking_clients.load(Ordering::Relaxed) > 0 {
        let mut current = Some(current);
        for info in server.clients.all() {
            if info.tracking.has(mode::ON) {
                send(server, &info, None, &mut current);
            }
        }
    }
    if all_databases && server.tracking.keys.load(Ordering::Relaxed) > 0 {
        for shard in tx.locks.iter_mut() {
            shard.tracked.clear();
        }
        server.tracking.keys.store(0, Ordering::Relaxed);
        server.tracking.items.store(0, Ordering::Relaxed);
    }
    tx.invalidated.clear();
}

/// Keeps the table within tracking-table-max-keys: drops keys (sending
/// their invalidations) from shards that are free right now. Called by
/// the cron thread and before each command, as Redis does.
pub fn enforce_limit(server: &Server) {
    let max = server.tunables.tracking_table_max_keys.load(Ordering::Relaxed).max(0) as usize;
    if max == 0 || server.tracking.keys.load(Ordering::Relaxed) <= max {
        return;
    }
    let start = rand::random_range(0..shoal_engine::SHARD_COUNT);
    for step in 0..shoal_engine::SHARD_COUNT {
        let index = ((start + step) % shoal_engine::SHARD_COUNT) as shoal_engine::ShardIndex;
        let Some(mut locks) = server.engine.keyspace.try_lock_one(index) else { continue };
        let shard = locks.shard(index);
        while server.tracking.keys.load(Ordering::Relaxed) > max {
            let Some(key) = shard.tracked.keys().next().cloned() else { break };
            let ids = shard.tracked.remove(&key).unwrap_or_default();
            server.tracking.keys.fetch_sub(1, Ordering::Relaxed);
            server.tracking.items.fetch_sub(ids.len(), Ordering::Relaxed);
            for id in ids {
                let Some(target) = server.clients.get(id) else { continue };
                if target.tracking.has(mode::ON) && !target.tracking.has(mode::BCAST) {
                    send(server, &target, Some(&[&key]), &mut None);
                }
            }
        }
        if server.tracking.keys.load(Ordering::Relaxed) <= max {
            return;
        }
    }
}

/// Sends `client`'s invalidation of `keys` (None: everything) to whoever
/// receives it: through the outbox, or after the reply of `current` when
/// that is the receiver.
fn send(server: &Server, client: &std::sync::Arc<ClientInfo>, keys: Option<&[&[u8]]>, current: &mut Option<&mut Client>) {
    let Some((receiver, message)) = message_for(server, client, keys) else { return };
    let receiver = receiver.as_ref().unwrap_or(client);
    match current.as_deref_mut() {
        Some(current) if current.id() == receiver.id => current.after_reply.extend_from_slice(&message),
        _ => crate::outbox::send(server, receiver, &message),
    }
}

/// Who receives `client`'s invalidations (None: the client itself) and the
/// message. None when nobody can: a RESP2 redirect target that did not
/// subscribe to `__redis__:invalidate`, or a RESP2 client whose redirect
/// target is gone (a RESP3 one is told once it is broken, as in Redis).
fn message_for(
    server: &Server,
    client: &ClientInfo,
    keys: Option<&[&[u8]]>,
) -> Option<(Option<std::sync::Arc<ClientInfo>>, Vec<u8>)> {
    let redirect = client.tracking.redirect.load(Ordering::Relaxed);
    let target = if redirect == 0 { None } else { server.clients.get(redirect) };
    if redirect != 0 && target.is_none() {
        client.tracking.set(mode::BROKEN_REDIRECT, true);
        if client.resp.load(Ordering::Relaxed) < 3 {
            return None;
        }
        let mut out = ReplyBuf::new(Protocol::Resp3);
        out.push(2);
        out.bulk(b"tracking-redir-broken");
        out.int(redirect as i64);
        return Some((None, out.buf));
    }
    let receiver = target.as_deref().unwrap_or(client);
    let mut out = if receiver.resp.load(Ordering::Relaxed) >= 3 {
        let mut out = ReplyBuf::new(Protocol::Resp3);
        out.push(2);
        out.bulk(b"invalidate");
        out
    } else if target.is_some() && receiver.has_flag(flags::PUBSUB) {
        let mut out = ReplyBuf::new(Protocol::Resp2);
        out.push(3);
        out.bulk(b"message");
        out.bulk(b"__redis__:invalidate");
        out
    } else {
        return None;
    };
    match keys {
        Some(keys) => {
            out.array(keys.len());
            keys.iter().for_each(|k| out.bulk(k));
        }
        // Null in the tracking client's own protocol, as Redis writes it.
        None if client.resp.load(Ordering::Relaxed) >= 3 => out.raw(b"_\r\n"),
        None => out.raw(b"$-1\r\n"),
    }
    Some((target, out.buf))
}
