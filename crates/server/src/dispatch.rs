//! From an argument vector to a reply: command lookup, the checks Redis
//! makes before running a command (in Redis's order), MULTI queueing, shard
//! locking, execution, propagation and statistics.
//!
//! Every handler runs inside a `Tx` holding exactly the shards its keys live
//! in (or all shards for keyspace-wide commands), so a command is atomic
//! and isolated, and MULTI/EXEC is one `Tx` over the union of its commands'
//! shards.

use std::sync::atomic::Ordering;

use shoal_commands::{find_keys, table, Command, CommandFlags, CommandId, KeyRef};
use shoal_engine::{shard_of, Hints, ShardList, Stat, Tx};
use shoal_resp::ReplyBuf;

use crate::client::{flags, Client, Multi, Queued, ReplyMode, NO_COMMAND};
use crate::error::{CmdError, CmdResult};
use crate::server::{PauseKind, Server};

/// A command implementation.
pub type HandlerFn = for<'a, 'b> fn(&'b mut Ctx<'a>, &[&[u8]]) -> CmdResult;

/// Which shards a command must hold while it runs.
#[derive(Clone, Copy)]
pub enum Locking {
    /// No keyspace access.
    None,
    /// The shards of the keys its key specs name.
    Keys,
    /// Every shard (keyspace-wide commands).
    All,
    /// Decided from the arguments.
    Custom(fn(&Command, &[&[u8]]) -> LockPlan),
}

/// The shards to lock for one command.
pub enum LockPlan {
    Shards(ShardList),
    All,
    Nothing,
}

#[derive(Clone, Copy)]
pub struct Handler {
    pub run: HandlerFn,
    pub locking: Locking,
}

/// Handlers indexed by command id.
pub struct Handlers {
    by_id: Vec<Option<Handler>>,
}

/// Collects handlers from the family modules.
pub struct Registrar {
    by_id: Vec<Option<Handler>>,
    /// Names registered that have no table entry (must stay empty).
    pub unknown: Vec<String>,
}

impl Registrar {
    fn add(&mut self, name: &str, run: HandlerFn, locking: Locking) {
        match table().lookup_full_name(name.as_bytes()) {
            Some(cmd) => self.by_id[cmd.id.0 as usize] = Some(Handler { run, locking }),
            None => self.unknown.push(name.to_string()),
        }
    }

    /// A command whose keys come from its key specs.
    pub fn keys(&mut self, name: &str, run: HandlerFn) {
        self.add(name, run, Locking::Keys);
    }

    /// A command that touches the whole keyspace.
    pub fn all(&mut self, name: &str, run: HandlerFn) {
        self.add(name, run, Locking::All);
    }

    /// A command that does not touch the keyspace.
    pub fn plain(&mut self, name: &str, run: HandlerFn) {
        self.add(name, run, Locking::None);
    }

    pub fn custom(&mut self, name: &str, run: HandlerFn, plan: fn(&Command, &[&[u8]]) -> LockPlan) {
        self.add(name, run, Locking::Custom(plan));
    }
}

impl Handlers {
    pub fn build() -> Handlers {
        let registrar = Handlers::registrar();
        assert!(registrar.unknown.is_empty(), "handlers without table entries: {:?}", registrar.unknown);
        Handlers { by_id: registrar.by_id }
    }

    /// All registrations, including mistakes (for the table test).
    pub fn registrar() -> Registrar {
        let mut registrar = Registrar { by_id: vec![None; table().all().len()], unknown: Vec::new() };
        crate::families::register_all(&mut registrar);
        registrar
    }

    pub fn get(&self, id: CommandId) -> Option<Handler> {
        self.by_id[id.0 as usize]
    }
}

impl Registrar {
    pub fn has(&self, id: CommandId) -> bool {
        self.by_id[id.0 as usize].is_some()
    }
}

/// What the connection must do after a command.
pub enum Outcome {
    Continue,
    /// Server paused for this command: wait and run it again.
    Postpone,
    /// The command blocked: wait for its reply (see `blocking`).
    Blocked(Box<crate::blocking::Blocked>),
}

/// The context a handler runs in.
pub struct Ctx<'a> {
    pub server: &'a Server,
    pub client: &'a mut Client,
    pub out: &'a mut ReplyBuf,
    pub tx: Option<Tx<'a>>,
    pub cmd: &'static Command,
    /// Propagate these commands instead of the arguments received.
    propagate_as: Option<Vec<Vec<Vec<u8>>>>,
    /// Set by handlers that changed data but must not propagate themselves.
    no_propagate: bool,
    pub in_exec: bool,
    /// Set by SYNC/PSYNC: the connection turns into a replica stream.
    pub become_replica: Option<crate::families::replication::ReplicaStream>,
    /// Set by a handler that found nothing and wants to block.
    pub block: Option<crate::blocking::BlockRequest>,
    /// Running a blocked client's command on its behalf.
    pub serving_blocked: bool,
    /// Set by a handler served on a blocked client's behalf whose error
    /// ends the wait (XREADGROUP whose group or key vanished) instead of
    /// leaving the client blocked.
    pub error_ends_wait: bool,
    /// While serving: the ready key the client is being served for (Redis
    /// serves a client blocked on several keys from the key that became
    /// ready, not from the first of its keys).
    pub serving_key: Option<Vec<u8>>,
}

impl<'a> Ctx<'a> {
    /// The execution unit's keyspace view.
    pub fn tx(&mut self) -> &mut Tx<'a> {
        self.tx.as_mut().expect("handler registered without locking touched the keyspace")
    }

    /// Propagate `commands` instead of this command's arguments.
    pub fn propagate_as(&mut self, commands: Vec<Vec<Vec<u8>>>) {
        self.propagate_as = Some(commands);
    }

    /// True when something consumes the write stream: handlers that build
    /// rewritten commands for `propagate_as` can skip the work otherwise.
    pub fn propagating(&self) -> bool {
        self.server.engine.propagation.is_active()
    }

    /// Everything written so far is a push, kept even under CLIENT REPLY OFF.
    pub fn pushed(&mut self) {
        self.client.pushed_to = self.out.len();
    }

    /// Propagates this command to replicas only, never to the append-only
    /// file (PUBLISH): inside a transaction as part of it.
    pub fn propagate_to_replicas(&mut self, argv: &[&[u8]]) {
        if !self.propagating() {
            return;
        }
        let effect = shoal_engine::Effect::replicas_only(self.client.db, argv);
        match self.tx.as_mut() {
            Some(tx) => tx.propagate_effect(effect),
            None => self.server.engine.propagation.publish(&[effect], true),
        }
    }

    pub fn suppress_propagation(&mut self) {
        self.no_propagate = true;
    }

    pub fn db(&self) -> usize {
        self.client.db
    }

    /// True when the command may block (not inside EXEC or a script:
    /// there, blocking commands behave as if their timeout expired).
    pub fn can_block(&self) -> bool {
        !self.in_exec
    }

    /// Blocks the client on `keys` (the handler writes no reply).
    pub fn block_on(&mut self, keys: Vec<Vec<u8>>, timeout: Option<std::time::Duration>, retry_argv: Option<Vec<Vec<u8>>>) {
        debug_assert!(self.can_block());
        self.block = Some(crate::blocking::BlockRequest { keys, timeout, retry_argv });
    }


    /// The context EXEC runs its queue in.
    pub(crate) fn for_exec(
        server: &'a Server,
        client: &'a mut Client,
        out: &'a mut ReplyBuf,
        tx: Option<Tx<'a>>,
        cmd: &'static Command,
    ) -> Ctx<'a> {
        Ctx {
            server,
            client,
            out,
            tx,
            cmd,
            propagate_as: None,
            no_propagate: false,
            in_exec: true,
            become_replica: None,
            block: None,
            serving_blocked: false,
            error_ends_wait: false,
            serving_key: None,
        }
    }
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
    if matches!(outcome, Outcome::Continue) {
        apply_reply_mode(client, out, reply_start);
    }
    if !client.after_reply.is_empty() {
        out.raw(&client.after_reply);
        client.after_reply.clear();
    }
    outcome
}

fn dispatch_checked(server: &Server, client: &mut Client, out: &mut ReplyBuf, argv: &[&[u8]]) -> Outcome {
    server.engine.stats.incr(Stat::CommandsProcessed);
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
    let is_exec = cmd.name == "exec";
    let queued = |flag: CommandFlags| {
        is_exec && client.multi.as_ref().is_some_and(|m| m.queue.iter().any(|q| table().get(q.command).is(flag)))
    };
    let is_write = cmd.is(CommandFlags::WRITE) || queued(CommandFlags::WRITE);
    let is_denyoom = cmd.is(CommandFlags::DENYOOM) || queued(CommandFlags::DENYOOM);
    if out_of_memory(server) {
        let transaction_control = matches!(cmd.name, "exec" | "discard" | "quit" | "reset");
        if is_denyoom || (client.in_multi() && !transaction_control) {
            let message = "OOM command not allowed when used memory > 'maxmemory'.".to_string();
            reject(server, client, out, Some(cmd), message);
            return Outcome::Continue;
        }
    }
    if is_write && !enough_good_replicas(server) {
        reject(server, client, out, Some(cmd), "NOREPLICAS Not enough good replicas to write.".to_string());
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
    if !client.is_replica && must_wait_for_pause(server, client, cmd, is_exec) {
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
    let Some(handler) = server.handlers.get(cmd.id) else {
        reject(server, client, out, Some(cmd), format!("ERR command '{}' is not available", cmd.name));
        return Outcome::Continue;
    };
    // Keys located to plan the locks are not located again to run.
    let hints = Hints::new();
    let mut tx = begin(server, client.db, cmd, handler.locking, argv, Some(&hints));
    // The command's time starts once its locks are held (one clock read
    // serves the unit's frozen time and commandstats).
    let started_ns = tx.as_ref().map_or_else(shoal_engine::clock_hint::start_ns, |t| t.started_ns);
    if let Some(tx) = tx.as_mut() {
        tx.wrap_effects = !cmd.is(CommandFlags::TOUCHES_ARBITRARY_KEYS);
        tx.client_id = client.id();
    }
    let mut ctx = Ctx {
        server,
        client,
        out,
        tx,
        cmd,
        propagate_as: None,
        no_propagate: false,
        in_exec: false,
        become_replica: None,
        block: None,
        serving_blocked: false,
        error_ends_wait: false,
        serving_key: None,
    };
    let result = run_handler(&mut ctx, handler, argv);
    let become_replica = ctx.become_replica.take();
    let mut outcome = Outcome::Continue;
    match ctx.block.take() {
        Some(request) if result.is_ok() => {
            outcome = Outcome::Blocked(Box::new(crate::blocking::register(&mut ctx, request, argv)));
        }
        _ => crate::blocking::serve_ready(&mut ctx),
    }
    if let Some(tx) = ctx.tx.take() {
        tx.finish();
    }
    let failed = result.is_err();
    if let Err(e) = result {
        error_reply(server, ctx.out, e.bytes());
    }
    let elapsed = finish_counters(server, cmd, started_ns, failed);
    // A blocked command is logged once served; EXEC's commands log themselves.
    if !matches!(outcome, Outcome::Blocked(_)) && !cmd.is(CommandFlags::SKIP_SLOWLOG) {
        crate::families::slowlog::record(server, ctx.client, argv, elapsed);
    }
    crate::monitor::feed(server, ctx.client, cmd, argv);
    if let Some(stream) = become_replica {
        crate::families::replication::attach(server, ctx.client, stream);
    }
    outcome
}

/// Runs a handler in `ctx` and records its propagation.
pub(crate) fn run_handler(ctx: &mut Ctx<'_>, handler: Handler, argv: &[&[u8]]) -> CmdResult {
    let dirty_before = ctx.tx.as_ref().map_or(0, |t| t.dirty);
    ctx.propagate_as = None;
    ctx.no_propagate = false;
    let result = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (handler.run)(ctx, argv))) {
        Ok(result) => result,
        Err(panic) => {
            let what = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            let wrote = ctx.tx.as_ref().is_some_and(|t| t.dirty > dirty_before);
            if wrote || ctx.in_exec || ctx.cmd.is(CommandFlags::WRITE) || ctx.cmd.is(CommandFlags::MAY_REPLICATE) {
                // The data may be half changed and nothing of it reached the
                // replicas: stop rather than serve a split dataset.
                crash_report(ctx, argv, &what);
            }
            // A read that changed nothing: the client gets an error.
            ctx.server.log.warning(&format!("internal error running '{}': {what}", ctx.cmd.name));
            Err(CmdError::err(format!("internal error running '{}'", ctx.cmd.name)))
        }
    };
    if let Some(tx) = ctx.tx.as_mut() {
        crate::tracking::invalidate(ctx.server, tx, Some(&mut *ctx.client));
        if result.is_ok() {
            crate::tracking::remember(ctx.server, tx, ctx.client, ctx.cmd, argv);
        }
    }
    crate::tracking::after_command(ctx.client, ctx.cmd);
    if result.is_ok() {
        let cmd = ctx.cmd;
        if let Some(tx) = ctx.tx.as_mut() {
            let changed = tx.dirty > dirty_before;
            if let Some(commands) = ctx.propagate_as.take() {
                for argv in commands {
                    tx.propagate(argv);
                }
            } else if changed && !ctx.no_propagate && cmd.is(CommandFlags::WRITE) && tx.engine.propagation.is_active() {
                tx.propagate(argv.iter().map(|a| a.to_vec()).collect());
            }
        }
    }
    result
}

/// Logs what Redis's bug report names (the command, its arguments, the
/// client) and aborts the process.
pub(crate) fn crash_report(ctx: &Ctx<'_>, argv: &[&[u8]], what: &str) -> ! {
    let log = &ctx.server.log;
    log.warning("=== SHOAL BUG REPORT START: Cut & paste starting from here ===");
    log.warning(&format!("Panic in command '{}': {what}", ctx.cmd.name));
    log.warning(&format!("client: {}", crate::families::connection::client_line(ctx.server, &ctx.client.info)));
    let shown: Vec<String> = argv.iter().take(16).map(|a| String::from_utf8_lossy(&a[..a.len().min(128)]).into_owned()).collect();
    log.warning(&format!("argc: {}, argv: {shown:?}", argv.len()));
    log.warning("The command may have changed data that no replica or file received: stopping.");
    log.warning("=== SHOAL BUG REPORT END ===");
    std::process::abort()
}

/// Opens the execution unit a command needs.
fn begin<'a, 'k>(
    server: &'a Server,
    db: usize,
    cmd: &Command,
    locking: Locking,
    argv: &[&'k [u8]],
    hints: Option<&Hints<'k>>,
) -> Option<Tx<'a>> {
    match plan(cmd, locking, argv, hints) {
        LockPlan::Nothing => None,
        LockPlan::All => Some(server.engine.begin_all(db)),
        LockPlan::Shards(mut shards) => Some(server.engine.begin(&mut shards, db)),
    }
}

thread_local! {
    /// Reused for key extraction so planning a command allocates nothing.
    static KEY_SCRATCH: std::cell::RefCell<Vec<KeyRef>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The lock plan for one command. With `hints`, the keys located to plan
/// are remembered for the command's run.
pub(crate) fn plan<'k>(cmd: &Command, locking: Locking, argv: &[&'k [u8]], hints: Option<&Hints<'k>>) -> LockPlan {
    match locking {
        Locking::None => LockPlan::Nothing,
        Locking::All => LockPlan::All,
        Locking::Custom(f) => f(cmd, argv),
        Locking::Keys => KEY_SCRATCH.with(|scratch| {
            let mut keys = scratch.borrow_mut();
            match find_keys(cmd, argv, &mut keys) {
                Ok(()) => LockPlan::Shards(
                    keys.iter()
                        .map(|k| match hints {
                            Some(hints) => hints.locate(argv[k.index]).shard,
                            None => shard_of(argv[k.index]),
                        })
                        .collect(),
                ),
                // Arguments the specs cannot read: lock everything, the
                // handler will report the problem.
                Err(_) => LockPlan::All,
            }
        }),
    }
}

/// Counts a finished command; returns how long it ran, in nanoseconds.
fn finish_counters(server: &Server, cmd: &Command, started_ns: i64, failed: bool) -> u64 {
    let counters = server.counters(cmd.id);
    counters.calls.fetch_add(1, Ordering::Relaxed);
    let elapsed = (shoal_engine::clock_hint::end_ns() - started_ns).max(0) as u64;
    counters.nanos.fetch_add(elapsed, Ordering::Relaxed);
    if failed {
        counters.failed.fetch_add(1, Ordering::Relaxed);
    }
    elapsed
}

/// Writes an error reply and counts it.
pub fn error_reply(server: &Server, out: &mut ReplyBuf, message: impl AsRef<[u8]>) {
    let message = message.as_ref();
    out.error_bytes(message);
    server.engine.stats.incr(Stat::TotalErrorReplies);
    let code = message.split(|&b| b == b' ').next().unwrap_or(b"ERR");
    server.count_error(&String::from_utf8_lossy(code));
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
            crate::families::transactions::discard_state(server, client);
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

/// min-replicas-to-write: enough replicas are connected (replicas that
/// have not acknowledged within min-replicas-max-lag are not yet tracked).
fn enough_good_replicas(server: &Server) -> bool {
    let wanted = server.tunables.min_replicas_to_write.load(Ordering::Relaxed);
    let max_lag = server.tunables.min_replicas_max_lag.load(Ordering::Relaxed);
    wanted == 0 || max_lag == 0 || server.replicas.count() as i64 >= wanted
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

/// What a RESP2 client may run while it has subscriptions.
fn allowed_while_subscribed(cmd: &Command) -> bool {
    matches!(
        cmd.name,
        "ping" | "subscribe" | "ssubscribe" | "unsubscribe" | "sunsubscribe" | "psubscribe" | "punsubscribe" | "quit" | "reset"
    )
}

fn must_wait_for_pause(server: &Server, client: &Client, cmd: &Command, is_exec: bool) -> bool {
    let Some((kind, _)) = server.pause.current() else { return false };
    match kind {
        PauseKind::All => true,
        PauseKind::Write => {
            let writes = |c: &Command| c.is(CommandFlags::WRITE) || c.is(CommandFlags::MAY_REPLICATE);
            if is_exec {
                client.multi.as_ref().is_some_and(|m| m.queue.iter().any(|q| writes(table().get(q.command))))
            } else if client.in_multi() {
                false
            } else {
                writes(cmd)
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

    #[test]
    fn every_table_entry_has_a_handler_and_every_handler_an_entry() {
        let registrar = Handlers::registrar();
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
