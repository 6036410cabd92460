//! The execution core: what a command handler is and the context it runs
//! in (`Ctx`), how handlers are registered (`Registrar`), the lock plan a
//! command needs, and `execute`, the one path every command runs through
//! whoever runs it (see `Caller`). The command families sit above this
//! module and the dispatcher (checks, MULTI queueing, locking) above them.

use std::sync::atomic::Ordering;
use std::sync::OnceLock;

use shoal_commands::{find_keys, table, Command, CommandFlags, CommandId, KeyRef};
use shoal_engine::{shard_of, Hints, ShardList, Stat, Tx};
use shoal_resp::ReplyBuf;

use crate::client::Client;
use crate::error::{CmdError, CmdResult};
use crate::server::Server;

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

/// The handler table: code, the same for every server in the process,
/// built once from the families' registrations (`install_handlers`).
static HANDLERS: OnceLock<Handlers> = OnceLock::new();

/// Builds the handler table from `register` (the command families, which
/// sit above this module) unless it is built already.
pub fn install_handlers(register: fn(&mut Registrar)) {
    HANDLERS.get_or_init(|| {
        let registrar = Handlers::registrar(register);
        assert!(registrar.unknown.is_empty(), "handlers without table entries: {:?}", registrar.unknown);
        Handlers { by_id: registrar.by_id }
    });
}

/// The handler table (`install_handlers` must have run).
pub fn handlers() -> &'static Handlers {
    HANDLERS.get().expect("install_handlers runs before the server starts")
}

impl Handlers {
    /// All registrations of `register`, including mistakes (for the table test).
    pub fn registrar(register: fn(&mut Registrar)) -> Registrar {
        let mut registrar = Registrar { by_id: vec![None; table().all().len()], unknown: Vec::new() };
        register(&mut registrar);
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
    /// Running a command a Lua script called (`redis.call`).
    pub in_script: bool,
    /// Set by SYNC/PSYNC: the connection turns into a replica stream.
    pub become_replica: Option<crate::state::replicas::ReplicaStream>,
    /// Set by a handler that found nothing and wants to block.
    pub block: Option<BlockRequest>,
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
    /// Set by a handler that must wait for network I/O (MIGRATE): see
    /// `Suspended`.
    pub suspend: Option<Suspended>,
    /// When a suspended command runs again: what its I/O produced.
    pub resumed: Option<Box<dyn std::any::Any>>,
}

/// Network I/O a handler leaves to its connection (MIGRATE's exchange with
/// its target). The connection awaits it on its own task, holding no
/// shard and without holding up the worker's other connections, then runs
/// the handler again (`dispatch::resume`) in a fresh unit over the
/// command's keys, with the I/O's output in `Ctx::resumed`.
pub type Suspended = std::pin::Pin<Box<dyn std::future::Future<Output = Box<dyn std::any::Any>>>>;

impl<'a> Ctx<'a> {
    /// The command comes from a caller whose writes are never refused:
    /// this server's master (its stream), or a file being loaded.
    pub fn caller_is_obeyed(&self) -> bool {
        self.client.info.has_flag(crate::client::flags::MASTER) || self.tx.as_ref().is_some_and(|tx| tx.loading)
    }

    /// The context of a client's command, in the unit `tx`.
    #[inline(always)]
    pub fn new(server: &'a Server, client: &'a mut Client, out: &'a mut ReplyBuf, tx: Option<Tx<'a>>, cmd: &'static Command) -> Ctx<'a> {
        Ctx {
            server,
            client,
            out,
            tx,
            cmd,
            propagate_as: None,
            no_propagate: false,
            in_exec: false,
            in_script: false,
            become_replica: None,
            block: None,
            serving_blocked: false,
            error_ends_wait: false,
            serving_key: None,
            suspend: None,
            resumed: None,
        }
    }

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
            None => {
                self.server.engine.propagation.publish(&[effect], true, true);
            }
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
        !self.in_exec && !self.in_script
    }

    /// Blocks the client on `keys` (the handler writes no reply).
    pub fn block_on(&mut self, keys: Vec<Vec<u8>>, timeout: Option<std::time::Duration>, retry_argv: Option<Vec<Vec<u8>>>) {
        debug_assert!(self.can_block());
        self.block = Some(BlockRequest { keys, timeout, retry_argv });
    }
}

/// Who runs a command; `execute` decides from it what is counted and shown.
/// (The master's stream and loading will be callers too.)
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Caller {
    /// A client's own command, after the dispatcher's checks.
    Client,
    /// A command queued in MULTI, run by EXEC inside EXEC's unit.
    Exec,
    /// A blocked client's command, run on its behalf by the unit that made
    /// its key ready: its call was counted when it blocked, its connection
    /// logs it to SLOWLOG when the reply arrives, and whether an error ends
    /// the wait is `blocking::serve_waiter`'s to decide.
    Waiter,
    /// The second half of a suspended command (`Suspended`), after its
    /// I/O: its call was counted, logged and shown to MONITOR when it
    /// began; only an error it ends with is counted now.
    Resumed,
    /// A command a Lua script runs (`redis.call`), inside the script's
    /// unit, as the script's client: counted in commandstats and shown to
    /// MONITOR, never logged to SLOWLOG on its own (the script is).
    Script,
}

/// The one way a command runs, whoever runs it: the handler, its
/// propagation and client-tracking bookkeeping (`run_handler`), then what
/// `caller` calls for: the error reply and error statistics,
/// commandstats, SLOWLOG, MONITOR. The caller has opened the unit
/// (`ctx.tx`, locked) and ends it. Returns the handler's result; for
/// `Client` and `Exec` an error is already in the reply.
pub(crate) fn execute(ctx: &mut Ctx<'_>, caller: Caller, handler: Handler, argv: &[&[u8]], started_ns: i64) -> CmdResult {
    let result = run_handler(ctx, handler, argv);
    if caller == Caller::Waiter {
        return result;
    }
    if caller == Caller::Resumed {
        if let Err(e) = &result {
            error_reply(ctx.server, ctx.out, e.bytes());
            ctx.server.counters(ctx.cmd.id).failed.fetch_add(1, Ordering::Relaxed);
        }
        return result;
    }
    let (server, cmd) = (ctx.server, ctx.cmd);
    if let Err(e) = &result {
        error_reply(server, ctx.out, e.bytes());
    }
    let elapsed = finish_counters(server, cmd, started_ns, result.is_err());
    if caller == Caller::Script {
        crate::monitor::feed(server, ctx.client, cmd, argv);
        return result;
    }
    // A command that blocked is logged once it is served.
    if ctx.block.is_none() && !cmd.is(CommandFlags::SKIP_SLOWLOG) {
        crate::slowlog::record(server, ctx.client, argv, elapsed);
    }
    crate::monitor::feed(server, ctx.client, cmd, argv);
    result
}

/// Runs a handler in `ctx` and records its propagation.
fn run_handler(ctx: &mut Ctx<'_>, handler: Handler, argv: &[&[u8]]) -> CmdResult {
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
            if wrote || ctx.in_exec || ctx.in_script || ctx.cmd.is(CommandFlags::WRITE) || ctx.cmd.is(CommandFlags::MAY_REPLICATE) {
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
        // A script's commands leave their invalidations to the script's
        // own end, where the calling client is known (NOLOOP).
        if !ctx.in_script {
            crate::tracking::invalidate(ctx.server, tx, Some(&mut *ctx.client));
        }
        // EVAL_RO and FCALL_RO track what their script read, not their
        // declared keys as such (the scripting family decides).
        if result.is_ok() && !crate::state::scripts::uses_vm(ctx.cmd) {
            crate::tracking::remember(ctx.server, tx, ctx.client, ctx.cmd, argv);
        }
    }
    if !ctx.in_exec {
        // CLIENT CACHING holds for a whole transaction: EXEC clears it.
        crate::tracking::after_command(ctx.client, ctx.cmd);
    }
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
    log.warning(&format!("client: {}", crate::client::client_line(&ctx.client.info)));
    let shown: Vec<String> = argv.iter().take(16).map(|a| String::from_utf8_lossy(&a[..a.len().min(128)]).into_owned()).collect();
    log.warning(&format!("argc: {}, argv: {shown:?}", argv.len()));
    log.warning("The command may have changed data that no replica or file received: stopping.");
    log.warning("=== SHOAL BUG REPORT END ===");
    std::process::abort()
}

/// Who sent a command whose reply nobody reads.
pub(crate) enum Unread {
    /// The master's stream, on this replica.
    Master,
    /// The append-only file being loaded.
    Aof,
    /// A replica's own commands, on its master (the link answers nothing).
    Replica,
}

/// A command from the master's stream or the AOF failed here (`reply` is
/// an error): the dataset may now differ from its source (or a replica
/// sent its master a command that failed). Logged as Redis
/// does (tests and operators look for it). With
/// `propagation-error-behavior panic` (or `panic-on-replicas` for the
/// stream) the server stops rather than go on diverging, except a writable
/// replica, which may legitimately differ from its master.
pub(crate) fn unread_error(server: &Server, reply: &[u8], argv: &[&[u8]], who: Unread) {
    if reply.first() != Some(&b'-') || argv.is_empty() {
        return;
    }
    let end = reply.iter().position(|&b| b == b'\r').unwrap_or(reply.len());
    let error = String::from_utf8_lossy(&reply[1..end]);
    let name = match table().resolve(argv) {
        Some(cmd) => cmd.name,
        None => "<unknown>",
    };
    let (from, to) = match who {
        Unread::Master => ("replica", "master"),
        Unread::Aof => ("server", "AOF-loading-client"),
        Unread::Replica => ("master", "replica"),
    };
    server.log.warning(&format!(
        "== CRITICAL == This {from} is sending an error to its {to}: '{error}' after processing the command '{name}'"
    ));
    let behavior = server.config.get_string("propagation-error-behavior");
    let panics = match who {
        Unread::Master => behavior != "ignore" && server.config.get_bool("replica-read-only"),
        Unread::Aof => behavior == "panic",
        Unread::Replica => false,
    };
    if panics {
        server.log.warning(&format!("This {from} panicked sending an error to its {to} after processing the command '{name}'"));
        std::process::abort();
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

/// Runs a command of the append-only file being loaded (the loading
/// caller): on a thread that serves no connection, so it waits for its
/// shards; nothing is propagated and nothing counted. As in Redis, the
/// command's own errors are not the load's: only an unknown command or a
/// wrong arity stops it.
pub(crate) fn run_loading(server: &Server, client: &mut Client, out: &mut ReplyBuf, argv: &[&[u8]]) -> Result<(), String> {
    let name = || String::from_utf8_lossy(argv.first().copied().unwrap_or_default()).into_owned();
    let Some(cmd) = table().resolve(argv) else {
        return Err(format!("Unknown command '{}' reading the append only file", name()));
    };
    let Some(handler) = handlers().get(cmd.id).filter(|_| cmd.arity_ok(argv.len())) else {
        return Err(format!("Wrong command '{}' reading the append only file", name()));
    };
    if crate::state::scripts::uses_vm(cmd) && !crate::state::scripts::on_script_thread() {
        // An old AOF's EVAL, a FUNCTION LOAD: the VM is the script thread's.
        let mut result = Ok(());
        crate::state::scripts::run_on_script_thread(&server.scripts, &mut || {
            result = run_loading(server, client, out, argv);
        });
        return result;
    }
    let keyspace = &server.engine.keyspace;
    let locks = match plan(cmd, handler.locking, argv, None) {
        LockPlan::Nothing => None,
        LockPlan::Shards(shards) if !shards.is_empty() && shards.iter().all(|&s| s == shards[0]) => {
            Some(keyspace.lock_one(shards[0]))
        }
        _ => Some(keyspace.lock_all()),
    };
    let db = client.db;
    let unit = locks.map(|locks| {
        let mut tx = server.engine.unit(locks, db);
        tx.loading = true;
        tx
    });
    let mut ctx = Ctx::new(server, client, out, unit, cmd);
    ctx.suppress_propagation();
    let _ = run_handler(&mut ctx, handler, argv);
    if let Some(mut tx) = ctx.tx.take() {
        // What the file says happened is not news for replicas or the file.
        tx.effects.clear();
        tx.finish();
    }
    Ok(())
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

/// What a handler asks for when it wants to block.
pub struct BlockRequest {
    /// The keys to wait on (in the order Redis checks them).
    pub keys: Vec<Vec<u8>>,
    /// None: wait forever.
    pub timeout: Option<std::time::Duration>,
    /// Arguments to run when served, if they differ from the original ones
    /// (XREAD resolves `$` to the last id at the time it blocks).
    pub retry_argv: Option<Vec<Vec<u8>>>,
}
