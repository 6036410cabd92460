//! From an argument vector to a reply: command lookup, the checks Redis
//! makes before running a command (in Redis's order), MULTI queueing, shard
//! locking, execution, propagation and statistics.
//!
//! Every handler runs inside a `Tx` holding exactly the shards its keys live
//! in (or all shards for keyspace-wide commands), so a command is atomic
//! and isolated, and MULTI/EXEC is one `Tx` over the union of its commands'
//! shards.

use std::sync::atomic::Ordering;

use shoal_commands::{table, Command, CommandFlags};
use shoal_engine::{Busy, ExclusiveKind, Gate, Hints, ShardLocks, Stat};
use shoal_resp::ReplyBuf;

use crate::client::{flags, Client, Multi, Queued, ReplyMode, NO_COMMAND};
use crate::error::{parse, CmdError};
use crate::exec::{error_reply, execute, handlers, plan, Caller, Ctx, LockPlan};
use crate::server::{PauseKind, Server};

/// What the connection must do after a command.
pub enum Outcome {
    Continue,
    /// Server paused for this command: wait and run it again.
    Postpone,
    /// The command blocked: wait for its reply (see `blocking`).
    Blocked(Box<crate::blocking::Blocked>),
    /// The command's shards are held by another unit: nothing ran. Wait
    /// for `Busy` to clear (`Keyspace::listen`) and run it again.
    Busy(Busy),
    /// The command waits for network I/O (see `exec::Suspended`): the
    /// connection awaits it, then calls `resume`, which writes the reply.
    Suspended(Box<Suspension>),
    /// The command needs the Lua VM: nothing ran. The connection hands the
    /// request to the script thread (`crate::offload`), which dispatches it.
    Offload,
}

/// A suspended command: its arguments and the I/O it waits for.
pub struct Suspension {
    pub argv: Vec<Vec<u8>>,
    pub io: crate::exec::Suspended,
}

/// Runs one request from a client.
pub fn dispatch(server: &Server, client: &mut Client, out: &mut ReplyBuf, argv: &[&[u8]]) -> Outcome {
    if server.engine.tracking_clients.load(Ordering::Relaxed) > 0 {
        // A table over its limit shrinks before the command runs; what
        // that tells this client precedes the command's reply.
        crate::tracking::enforce_limit(server);
        client.info.outbox.drain_into(&mut out.buf);
    }
    let reply_start = out.len();
    client.pushed_to = reply_start;
    let outcome = dispatch_checked(server, client, out, argv);
    if matches!(outcome, Outcome::Offload) {
        return outcome;
    }
    if matches!(outcome, Outcome::Continue) {
        pushes_before_reply(client, out, reply_start);
        apply_reply_mode(client, out, reply_start);
    }
    if !client.after_reply.is_empty() {
        out.raw(&client.after_reply);
        client.after_reply.clear();
    }
    outcome
}

/// Pushes queued while the command ran (the keyspace events of its own
/// writes, messages other threads sent meanwhile) go ahead of its reply,
/// as in Redis, where a command's notifications reach a subscribed client
/// before the command's reply.
fn pushes_before_reply(client: &mut Client, out: &mut ReplyBuf, reply_start: usize) {
    if client.info.outbox.queued() == 0 {
        return;
    }
    let mut pushes = Vec::new();
    client.info.outbox.drain_into(&mut pushes);
    let len = pushes.len();
    out.buf.splice(reply_start..reply_start, pushes);
    client.pushed_to += len;
}

fn dispatch_checked(server: &Server, client: &mut Client, out: &mut ReplyBuf, argv: &[&[u8]]) -> Outcome {
    let outcome = check_and_call(server, client, out, argv);
    // A command that found its shards busy has not run yet: it counts
    // when it does.
    if !matches!(outcome, Outcome::Busy(_) | Outcome::Offload) {
        server.engine.stats.incr(Stat::CommandsProcessed);
    }
    outcome
}

fn check_and_call(server: &Server, client: &mut Client, out: &mut ReplyBuf, argv: &[&[u8]]) -> Outcome {
    // CLIENT LIST's `cmd`: the client's latest command (NULL if unknown).
    let resolved = table().resolve(argv);
    client.info.last_command.store(resolved.map_or(NO_COMMAND, |c| c.id.0), Ordering::Relaxed);
    let Some(cmd) = resolved else {
        reject(server, client, out, None, unknown_command_message(argv));
        return Outcome::Continue;
    };
    if !cmd.arity_ok(argv.len()) {
        reject(server, client, out, Some(cmd), CmdError::wrong_arity(cmd.name).bytes());
        return Outcome::Continue;
    }
    if cmd.name == "debug" && !debug_allowed(server, client) {
        let message = "ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.";
        reject(server, client, out, Some(cmd), message.to_string());
        return Outcome::Continue;
    }
    if !client.authenticated && !cmd.is(CommandFlags::NO_AUTH) {
        reject(server, client, out, Some(cmd), "NOAUTH Authentication required.".to_string());
        return Outcome::Continue;
    }
    if client.in_multi() && cmd.is(CommandFlags::NO_MULTI) {
        reject(server, client, out, Some(cmd), "ERR Command not allowed inside a transaction".to_string());
        return Outcome::Continue;
    }
    if let Some(user) = client.user.as_ref().filter(|u| !u.open()) {
        let denied = user.rules().check(cmd, argv);
        if let Err(denied) = denied {
            let context = if client.in_multi() { crate::acl::Context::Multi } else { crate::acl::Context::TopLevel };
            crate::acl::log_denied(server, client, cmd, argv, denied, context);
            reject(server, client, out, Some(cmd), denied.message(cmd));
            return Outcome::Continue;
        }
    }
    let is_exec = cmd.name == "exec";
    let own = EffectiveFlags::of(server, cmd, argv);
    // Whether a command EXEC queued has `flag` (`has`) or lacks it (`!has`).
    let queued = |flag: fn(&Command, &EffectiveFlags) -> bool, has: bool| {
        is_exec
            && client.multi.as_ref().is_some_and(|m| {
                m.queue.iter().any(|q| {
                    let argv: smallvec::SmallVec<[&[u8]; 8]> = q.argv.iter().map(|a| a.as_slice()).collect();
                    let queued_cmd = table().get(q.command);
                    flag(queued_cmd, &EffectiveFlags::of(server, queued_cmd, &argv)) == has
                })
            })
    };
    let is_write = own.write || queued(|_, f| f.write, true);
    let is_denyoom = own.deny_oom || queued(|_, f| f.deny_oom, true);
    let from_master = client.info.has_flag(flags::MASTER);
    if !from_master && out_of_memory(server) {
        let transaction_control = matches!(cmd.name, "exec" | "discard" | "quit" | "reset");
        if is_denyoom || (client.in_multi() && !transaction_control) {
            let message = "OOM command not allowed when used memory > 'maxmemory'.".to_string();
            reject(server, client, out, Some(cmd), message);
            return Outcome::Continue;
        }
    }
    if is_write || cmd.name == "ping" {
        if let Some(message) = server.writes_refused() {
            reject(server, client, out, Some(cmd), message);
            return Outcome::Continue;
        }
    }
    if is_write && !server.enough_good_replicas() {
        reject(server, client, out, Some(cmd), "NOREPLICAS Not enough good replicas to write.".to_string());
        return Outcome::Continue;
    }
    if let Some(message) = server.role_refuses_writes().filter(|_| is_write && !from_master) {
        reject(server, client, out, Some(cmd), message.to_string());
        return Outcome::Continue;
    }
    if client.is_replica && (cmd.is(CommandFlags::WRITE) || cmd.is(CommandFlags::READONLY)) {
        reject(server, client, out, Some(cmd), "ERR Replica can't interact with the keyspace".to_string());
        return Outcome::Continue;
    }
    if client.info.has_flag(flags::PUBSUB) && !out.resp3() && !allowed_while_subscribed(cmd) {
        let message = format!(
            "ERR Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
            cmd.name
        );
        reject(server, client, out, Some(cmd), message);
        return Outcome::Continue;
    }
    let denies_stale = !own.stale || queued(|_, f| f.stale, false);
    if !from_master && denies_stale && server.stale_refused() {
        reject(server, client, out, Some(cmd), CmdError::MASTERDOWN.message());
        return Outcome::Continue;
    }
    // The master's stream is never refused: its commands wait for a
    // script past busy-reply-threshold to end (as Busy shards), or they
    // would be lost while their bytes still count in the offset.
    if let Some(message) = exclusive_refusal(server, cmd).filter(|_| !from_master) {
        reject(server, client, out, Some(cmd), message.to_string());
        return Outcome::Continue;
    }
    // While an async load serves the old dataset, what would change the
    // replication or persistence state (REPLICAOF, SAVE, SYNC...) waits
    // for it, refused as in Redis (an EXEC that queued one too).
    if server.persistence.is_async_loading()
        && !from_master
        && (cmd.is(CommandFlags::NO_ASYNC_LOADING) || queued(|c, _| c.is(CommandFlags::NO_ASYNC_LOADING), true))
    {
        reject(server, client, out, Some(cmd), "LOADING Redis is loading the dataset in memory".to_string());
        return Outcome::Continue;
    }
    if !client.is_replica && must_wait_for_pause(server, client, cmd, argv, is_exec) {
        return Outcome::Postpone;
    }
    if let Some(multi) = client.multi.as_mut() {
        if !matches!(cmd.name, "exec" | "discard" | "multi" | "watch" | "quit" | "reset") {
            if !multi.aborted {
                multi.queue.push(Queued { command: cmd.id, argv: argv.iter().map(|a| a.to_vec()).collect() });
                client.info.multi_count.store(multi.queue.len() as i64, Ordering::Relaxed);
            }
            out.simple("QUEUED");
            return Outcome::Continue;
        }
    }
    call(server, client, out, cmd, argv)
}

/// Runs a command outside MULTI: locks, executes, propagates, counts.
fn call(server: &Server, client: &mut Client, out: &mut ReplyBuf, cmd: &'static Command, argv: &[&[u8]]) -> Outcome {
    if !crate::state::scripts::on_script_thread() && needs_script_thread(cmd, client, argv) {
        return Outcome::Offload;
    }
    let Some(handler) = handlers().get(cmd.id) else {
        reject(server, client, out, Some(cmd), format!("ERR command '{}' is not available", cmd.name));
        return Outcome::Continue;
    };
    // Keys located to plan the locks are not located again to run.
    let hints = Hints::new();
    let plan = match cmd.name {
        "exec" => crate::families::transactions::exec_plan(client),
        _ => plan(cmd, handler.locking, argv, Some(&hints)),
    };
    let locks = match begin(server, client, plan) {
        Ok(locks) => locks,
        Err(busy) => return Outcome::Busy(busy),
    };
    let (db, client_id) = (client.db, client.id());
    let from_master = client.info.has_flag(flags::MASTER);
    // The unit is built in the context (it is large: no moves).
    let mut ctx = Ctx::new(server, client, out, None, cmd);
    if let Some(locks) = locks {
        ctx.tx = Some(server.engine.unit(locks, db));
    }
    // The command's time starts once its locks are held (one clock read
    // serves the unit's frozen time and commandstats).
    let started_ns = ctx.tx.as_ref().map_or_else(shoal_engine::clock_hint::start_ns, |t| t.started_ns);
    if let Some(tx) = ctx.tx.as_mut() {
        tx.wrap_effects = !cmd.is(CommandFlags::TOUCHES_ARBITRARY_KEYS);
        tx.client_id = client_id;
        if from_master {
            // The master's stream: no key counts as expired (only the
            // master's DELs remove them).
            tx.loading = true;
        }
        if server.master.is_replica() {
            // Its master's bytes reach this server's replicas verbatim;
            // its clients' writes (a writable replica) stay local.
            tx.file_only = true;
            tx.delete_expired = !from_master && cmd.is(CommandFlags::WRITE);
        }
    }
    let result = execute(&mut ctx, Caller::Client, handler, argv, started_ns);
    let become_replica = ctx.become_replica.take();
    let mut outcome = Outcome::Continue;
    if let Some(io) = ctx.suspend.take().filter(|_| result.is_ok()) {
        outcome = Outcome::Suspended(Box::new(Suspension { argv: argv.iter().map(|a| a.to_vec()).collect(), io }));
    }
    match ctx.block.take() {
        Some(request) if result.is_ok() => {
            outcome = Outcome::Blocked(Box::new(crate::blocking::register(&mut ctx, request, argv)));
        }
        _ => crate::blocking::serve_ready(&mut ctx),
    }
    if let Some(tx) = ctx.tx.as_mut() {
        tx.complete();
    }
    // Dropped in place: the locks go.
    ctx.tx = None;
    if let Some(stream) = become_replica {
        crate::replication::attach(server, ctx.client, stream);
    }
    outcome
}

/// True for commands that use the Lua VM, and for an EXEC that queued one:
/// they run on the script thread (see `state::scripts`). So do DEBUG
/// RELOAD and LOADAOF, which hold the whole keyspace while they load (and
/// replay the scripts a file holds): on the script thread, the worker of
/// the client that sent them goes on answering its other clients, with
/// `-LOADING` meanwhile, as every other worker does.
fn needs_script_thread(cmd: &Command, client: &Client, argv: &[&[u8]]) -> bool {
    let uses_vm = crate::state::scripts::uses_vm;
    let reloads = || cmd.name == "debug" && argv.get(1).is_some_and(|sub| parse::is(sub, "reload") || parse::is(sub, "loadaof"));
    uses_vm(cmd)
        || reloads()
        || (cmd.name == "exec"
            && client.multi.as_ref().is_some_and(|m| !m.aborted && m.queue.iter().any(|q| uses_vm(table().get(q.command)))))
}

/// Runs the second half of a suspended command once its I/O is done
/// (`output`, taken when the handler runs): in a unit over the command's
/// keys like its first half, and, as every write, not during a CLIENT
/// PAUSE that stops writes (`Postpone`: wait and call again).
pub fn resume(
    server: &Server,
    client: &mut Client,
    out: &mut ReplyBuf,
    argv: &[&[u8]],
    output: &mut Option<Box<dyn std::any::Any>>,
) -> Outcome {
    let cmd = table().resolve(argv).expect("a suspended command is in the table");
    let handler = handlers().get(cmd.id).expect("a suspended command has a handler");
    if must_wait_for_pause(server, client, cmd, argv, false) {
        return Outcome::Postpone;
    }
    let hints = Hints::new();
    let locks = match begin(server, client, plan(cmd, handler.locking, argv, Some(&hints))) {
        Ok(locks) => locks,
        Err(busy) => return Outcome::Busy(busy),
    };
    let reply_start = out.len();
    client.pushed_to = reply_start;
    let (db, client_id) = (client.db, client.id());
    let mut ctx = Ctx::new(server, client, out, locks.map(|locks| server.engine.unit(locks, db)), cmd);
    let started_ns = ctx.tx.as_ref().map_or_else(shoal_engine::clock_hint::start_ns, |t| t.started_ns);
    if let Some(tx) = ctx.tx.as_mut() {
        tx.client_id = client_id;
    }
    ctx.resumed = output.take();
    let _ = execute(&mut ctx, Caller::Resumed, handler, argv, started_ns);
    crate::blocking::serve_ready(&mut ctx);
    if let Some(tx) = ctx.tx.take() {
        tx.finish();
    }
    drop(ctx);
    pushes_before_reply(client, out, reply_start);
    apply_reply_mode(client, out, reply_start);
    Outcome::Continue
}

/// Opens the execution unit a command needs, if its shards are free right
/// now (a worker thread never waits for a shard). A client that found them
/// busy `GATE_AFTER_TRIES` times in a row raises the fairness gate until
/// it gets them.
fn begin<'a>(server: &'a Server, client: &mut Client, plan: LockPlan) -> Result<Option<ShardLocks<'a>>, Busy> {
    let mut shards = match plan {
        LockPlan::Nothing => return Ok(None),
        LockPlan::All => None,
        LockPlan::Shards(shards) => Some(shards),
    };
    loop {
        let ticket = client.gate.is_some();
        let begun = match shards.as_mut() {
            None => server.engine.try_lock_all_unit(ticket),
            Some(shards) => server.engine.try_lock_unit(shards, ticket),
        };
        match begun {
            Ok(locks) => {
                client.lock_tries = 0;
                client.gate = None;
                return Ok(Some(locks));
            }
            Err(busy) => {
                client.lock_tries += 1;
                if client.lock_tries >= shoal_engine::keyspace::GATE_AFTER_TRIES && client.gate.is_none() {
                    client.gate = Some(Gate::raise(&server.engine.keyspace.gate));
                    // Stopped by the gate, it now holds a ticket itself:
                    // waiting for the gate to fall would wait for itself.
                    if busy == Busy::Gate {
                        continue;
                    }
                }
                return Err(busy);
            }
        }
    }
}

/// While a long unit holds the whole keyspace (see ARCHITECTURE.md,
/// "Exclusive mode"), the refusal other clients get instead of waiting:
/// `-LOADING` at once while a dataset loads, `-BUSY` once a script has run
/// past `busy-reply-threshold`; commands flagged for it still run.
fn exclusive_refusal(server: &Server, cmd: &Command) -> Option<&'static str> {
    let (kind, since_ms) = server.engine.keyspace.exclusive()?;
    match kind {
        ExclusiveKind::Loading if !cmd.is(CommandFlags::LOADING) => {
            Some("LOADING Redis is loading the dataset in memory")
        }
        ExclusiveKind::Script
            if !cmd.is(CommandFlags::ALLOW_BUSY)
                && shoal_engine::now_ms() - since_ms >= server.tunables.busy_reply_threshold_ms() =>
        {
            Some("BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.")
        }
        _ => None,
    }
}

/// Refuses a command before it runs (Redis's rejectCommand).
fn reject(server: &Server, client: &mut Client, out: &mut ReplyBuf, cmd: Option<&Command>, message: impl Into<Vec<u8>>) {
    let message: Vec<u8> = message.into();
    if let Some(multi) = client.multi.as_mut() {
        multi.aborted = true;
    }
    if let Some(cmd) = cmd {
        server.counters(cmd.id).rejected.fetch_add(1, Ordering::Relaxed);
        if cmd.name == "exec" {
            // EXEC refused: the transaction is discarded with the reason.
            crate::families::transactions::discard_state(client);
            crate::monitor::feed_line(server, client, &[b"exec"]);
            let mut text = b"EXECABORT Transaction discarded because of: ".to_vec();
            text.extend_from_slice(strip_code(&message));
            error_reply(server, out, text);
            return;
        }
    }
    error_reply(server, out, &message);
}

fn strip_code(message: &[u8]) -> &[u8] {
    message.strip_prefix(b"ERR ").unwrap_or(message)
}

/// True when maxmemory is set and exceeded. Eviction policies are not
/// implemented yet: every policy behaves as noeviction.
fn out_of_memory(server: &Server) -> bool {
    // Evicts first under the maxmemory-policy (crate::evict).
    crate::evict::perform(server) == shoal_engine::evict::Outcome::Fail
}


fn unknown_command_message(argv: &[&[u8]]) -> Vec<u8> {
    let name = argv.first().copied().unwrap_or_default();
    let mut message = Vec::new();
    if argv.len() >= 2 {
        if let Some(container) = table().lookup(name) {
            if !container.subcommands.is_empty() {
                message.extend_from_slice(b"ERR unknown subcommand '");
                message.extend_from_slice(c_string(argv[1], 128));
                message.extend_from_slice(b"'. Try ");
                message.extend_from_slice(&name.to_ascii_uppercase());
                message.extend_from_slice(b" HELP.");
                return message;
            }
        }
    }
    let mut args = Vec::new();
    for arg in &argv[1..] {
        if args.len() >= 128 {
            break;
        }
        let room = 128 - args.len();
        args.push(b'\'');
        args.extend_from_slice(c_string(arg, room));
        args.extend_from_slice(b"' ");
    }
    message.extend_from_slice(b"ERR unknown command '");
    message.extend_from_slice(c_string(name, 128));
    message.extend_from_slice(b"', with args beginning with: ");
    message.extend_from_slice(&args);
    message
}

/// Bytes as C's `%.Ns` prints them: up to the first NUL, at most `max`.
fn c_string(bytes: &[u8], max: usize) -> &[u8] {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len()).min(max);
    &bytes[..end]
}

fn debug_allowed(server: &Server, client: &Client) -> bool {
    match server.tunables.enable_debug_command.load(Ordering::Relaxed) {
        1 => true,
        2 => client.info.is_local(),
        _ => false,
    }
}

/// A command's WRITE, DENYOOM and STALE flags as Redis decides them
/// before running it: EVAL's and FCALL's come from the flags their script
/// declares, when it declares some (looked up once per command).
struct EffectiveFlags {
    write: bool,
    deny_oom: bool,
    stale: bool,
}

impl EffectiveFlags {
    #[inline]
    fn of(server: &Server, cmd: &Command, argv: &[&[u8]]) -> EffectiveFlags {
        let declared = if cmd.is(CommandFlags::NO_MANDATORY_KEYS) {
            crate::families::scripting::declared_flags(server, cmd, argv)
        } else {
            None
        };
        match declared {
            Some(d) => EffectiveFlags { write: d.writes, deny_oom: d.deny_oom, stale: d.stale },
            None => EffectiveFlags {
                write: cmd.is(CommandFlags::WRITE),
                deny_oom: cmd.is(CommandFlags::DENYOOM),
                stale: cmd.is(CommandFlags::STALE),
            },
        }
    }
}

/// What a RESP2 client may run while it has subscriptions.
fn allowed_while_subscribed(cmd: &Command) -> bool {
    matches!(
        cmd.name,
        "ping" | "subscribe" | "ssubscribe" | "unsubscribe" | "sunsubscribe" | "psubscribe" | "punsubscribe" | "quit" | "reset"
    )
}

fn must_wait_for_pause(server: &Server, client: &Client, cmd: &Command, argv: &[&[u8]], is_exec: bool) -> bool {
    let Some((kind, _)) = server.pause.current() else { return false };
    match kind {
        PauseKind::All => true,
        PauseKind::Write => {
            let writes = |c: &Command, argv: &[&[u8]]| {
                c.is(CommandFlags::WRITE)
                    || c.is(CommandFlags::MAY_REPLICATE)
                    || crate::families::scripting::may_write(server, c, argv)
            };
            if is_exec {
                client.multi.as_ref().is_some_and(|m| {
                    m.queue.iter().any(|q| {
                        let argv: Vec<&[u8]> = q.argv.iter().map(|a| a.as_slice()).collect();
                        writes(table().get(q.command), &argv)
                    })
                })
            } else if client.in_multi() {
                false
            } else {
                writes(cmd, argv)
            }
        }
    }
}

/// CLIENT REPLY OFF/SKIP: drop what the command wrote.
/// Pushes (pub/sub confirmations and messages) are never dropped: the
/// command's output up to `client.pushed_to` stays.
pub(crate) fn apply_reply_mode(client: &mut Client, out: &mut ReplyBuf, reply_start: usize) {
    let keep = reply_start.max(client.pushed_to);
    match client.reply_mode {
        ReplyMode::On => {}
        ReplyMode::Off => out.truncate(keep),
        ReplyMode::SkipNext => client.reply_mode = ReplyMode::Skipping,
        ReplyMode::Skipping => {
            out.truncate(keep);
            client.reply_mode = ReplyMode::On;
        }
    }
}

/// A fresh MULTI state.
pub fn new_multi() -> Multi {
    Multi::default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::Handlers;

    #[test]
    fn every_table_entry_has_a_handler_and_every_handler_an_entry() {
        let registrar = Handlers::registrar(crate::families::register_all);
        assert!(registrar.unknown.is_empty(), "handlers without a table entry: {:?}", registrar.unknown);
        let missing: Vec<&str> = table()
            .all()
            .iter()
            // Containers are dispatched to their subcommands; COMMAND alone also runs.
            .filter(|c| c.subcommands.is_empty() || c.name == "command")
            .filter(|c| !registrar.has(c.id))
            .map(|c| c.name)
            .collect();
        assert!(missing.is_empty(), "table entries without a handler: {missing:?}");
    }

    #[test]
    fn unknown_command_messages_match_redis() {
        assert_eq!(
            unknown_command_message(&[b"foo", b"a", b"b"]),
            b"ERR unknown command 'foo', with args beginning with: 'a' 'b' "
        );
        assert_eq!(unknown_command_message(&[b"client", b"nope"]), b"ERR unknown subcommand 'nope'. Try CLIENT HELP.");
        assert_eq!(unknown_command_message(&[b"x\xff", b"\xfe"]), b"ERR unknown command 'x\xff', with args beginning with: '\xfe' ");
        let long = vec![b'x'; 300];
        let message = unknown_command_message(&[b"foo", &long]);
        assert_eq!(message.len(), "ERR unknown command 'foo', with args beginning with: ".len() + 128 + 3);
    }
}
