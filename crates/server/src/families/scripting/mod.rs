//! Lua scripting: EVAL, EVALSHA, EVAL_RO, EVALSHA_RO, SCRIPT, FUNCTION,
//! FCALL and FCALL_RO.
//!
//! Everything that touches the VM runs on the thread holding the VM lock:
//! the script thread, or a worker running a script call itself on a
//! coroutine that pauses when the script runs long (see `state::scripts`
//! and `crate::offload`); EVAL and its kin also hold every
//! shard (`Locking::All`), so a script is atomic and isolated whatever keys
//! it touches, declared or not. While it runs the keyspace is in exclusive
//! `Script` mode: past `busy-reply-threshold` other clients get `-BUSY`, and
//! SCRIPT KILL (served on any worker) sets the flag the VM's hook checks.
//! A script's writes propagate as their effects, wrapped in MULTI/EXEC when
//! there are several (`Tx::finish`).

mod flags;
mod functions;
mod ldb;
mod libs;
mod lua;
mod redis_lib;
mod vm;

use std::collections::HashMap;
use std::ffi::c_int;
use std::sync::atomic::Ordering;

use shoal_commands::Command;
use shoal_engine::ExclusiveKind;

use crate::error::{parse, CmdError, CmdResult};
use crate::exec::{Ctx, LockPlan, Registrar};
use crate::server::Server;
use crate::state::scripts::{DeclaredFlags, KillRefused, Running};
use flags::ScriptFlags;
use redis_lib::{sha1_hex, Run, ScriptClient};
use vm::{CallError, Vm};


/// Whether EVAL, EVALSHA or FCALL may write, as Redis decides before
/// running it: a script without a shebang (or unknown) may; one with
/// declared flags unless `no-writes`. Other commands: false.
pub fn may_write(server: &Server, cmd: &Command, argv: &[&[u8]]) -> bool {
    matches!(cmd.name, "eval" | "evalsha" | "fcall") && declared_flags(server, cmd, argv).is_none_or(|f| f.writes)
}

/// The command flags the script an EVAL, EVALSHA or FCALL (or their
/// read-only forms) runs declares, as Redis reads them before running the
/// command: from the shebang of an EVAL's body or of a cached script, from
/// a function's registration. None for a script without a shebang, an
/// unknown one, and other commands: their own flags apply.
pub fn declared_flags(server: &Server, cmd: &Command, argv: &[&[u8]]) -> Option<DeclaredFlags> {
    let &name = argv.get(1)?;
    match cmd.name {
        "eval" | "eval_ro" => parse_shebang(name).ok()?.0.command_flags(),
        "evalsha" | "evalsha_ro" => get_ignoring_case(&server.scripts.script_flags.lock(), name),
        "fcall" | "fcall_ro" => get_ignoring_case(&server.scripts.function_flags.lock(), name),
        _ => None,
    }
}

/// Looks `name` up in a map keyed by lowercase names, without allocating
/// for a name of up to 64 bytes (a SHA1 has 40), as every EVALSHA and
/// FCALL does before it runs.
fn get_ignoring_case<V: Copy>(map: &HashMap<String, V>, name: &[u8]) -> Option<V> {
    entry_ignoring_case(map, name).map(|(_, value)| *value)
}

/// `get_ignoring_case`, with the key as the map spells it.
fn entry_ignoring_case<'m, V>(map: &'m HashMap<String, V>, name: &[u8]) -> Option<(&'m str, &'m V)> {
    with_lowercase(name, |key| map.get_key_value(key)).map(|(key, value)| (key.as_str(), value))
}

/// Calls `look` with `name` in lower case: lowered on the stack when it
/// is short and UTF-8 (script SHA-1s, function names), else copied.
fn with_lowercase<R>(name: &[u8], look: impl FnOnce(&str) -> R) -> R {
    let mut buf = [0u8; 64];
    if let Some(lower) = buf.get_mut(..name.len()) {
        lower.copy_from_slice(name);
        lower.make_ascii_lowercase();
        if let Ok(key) = std::str::from_utf8(lower) {
            return look(key);
        }
    }
    look(&String::from_utf8_lossy(name).to_ascii_lowercase())
}


/// A cached EVAL script.
struct Script {
    flags: ScriptFlags,
    /// The compiled function (a registry reference in the VM).
    function: c_int,
}

/// The script thread's scripting state: the EVAL VM and its script cache,
/// and the client scripts' commands run as.
struct Engine {
    vm: Vm,
    scripts: HashMap<String, Script>,
    client: ScriptClient,
    /// Runs since the last garbage-collection step.
    runs: u32,
    /// The function libraries (their own VM), created on first use.
    functions: Option<functions::Functions>,
}

impl Engine {
    fn new() -> Engine {
        Engine { vm: Vm::new(false), scripts: HashMap::new(), client: ScriptClient::new(), runs: 0, functions: None }
    }

    fn functions(&mut self) -> &mut functions::Functions {
        self.functions.get_or_insert_with(functions::Functions::new)
    }
}

// SAFETY: the VMs are used by one thread at a time: the holder of the
// server's VM lock (`Scripts::vm`), through `lend`.
unsafe impl Send for Engine {}

thread_local! {
    /// The engine this thread holds the VM lock for, while it does.
    static LENT: std::cell::Cell<*mut Engine> = const { std::cell::Cell::new(std::ptr::null_mut()) };
}

/// Runs `f` with the server's engine: the one this thread holds (a
/// script running, an inline run), else taking the VM lock, which only
/// the script thread may wait for.
fn with_engine<R>(server: &Server, f: impl FnOnce(&mut Engine) -> R) -> R {
    let lent = LENT.with(|l| l.get());
    if !lent.is_null() {
        // SAFETY: `lend` set it for as long as it holds the lock, on this thread.
        return f(unsafe { &mut *lent });
    }
    debug_assert!(crate::state::scripts::on_script_thread(), "only the script thread waits for the VM");
    let mut slot = server.scripts.vm.lock();
    lend(&mut slot, || with_engine(server, f))
}

/// Makes the engine in `slot` (the VM lock's contents, the engine created
/// on first use) this thread's while `f` runs.
pub fn lend<R>(slot: &mut crate::state::scripts::VmSlot, f: impl FnOnce() -> R) -> R {
    let engine = slot.get_or_insert_with(|| Box::new(Engine::new()));
    let engine: *mut Engine = engine.downcast_mut::<Engine>().expect("the VM slot holds the engine");
    struct Restore(*mut Engine);
    impl Drop for Restore {
        fn drop(&mut self) {
            LENT.with(|l| l.set(self.0));
        }
    }
    let _restore = Restore(LENT.with(|l| l.replace(engine)));
    f()
}

/// The engine this thread lends, taken away while a paused script lets
/// other connections of its worker run (`Pause`), and given back.
fn take_lent() -> *mut Engine {
    LENT.with(|l| l.replace(std::ptr::null_mut()))
}

fn give_back_lent(engine: *mut Engine) {
    LENT.with(|l| l.set(engine));
}

// ---------------------------------------------------------------------
// Script calls a worker runs itself.

/// A script a worker runs pauses after running this long, then at every
/// call of the VM's hook (about a millisecond of Lua), so the worker's
/// other connections are served meanwhile: they find the keyspace held,
/// get `-BUSY` past the threshold, and can send SCRIPT KILL.
const PAUSE_AFTER: std::time::Duration = std::time::Duration::from_millis(2);

thread_local! {
    /// How the script running on this thread pauses, when it may.
    static PAUSE: std::cell::Cell<Option<*const dyn Fn()>> = const { std::cell::Cell::new(None) };
}

/// Runs `f` (script calls, on a stack of their own that a worker resumes)
/// acting as the script thread; a script that runs long calls `pause`,
/// which returns once the worker has served its other connections.
pub fn pausable<R>(pause: &dyn Fn(), f: impl FnOnce() -> R) -> R {
    // SAFETY: only the lifetime is erased; `PAUSE` is reset before `pause`
    // goes out of scope (the guard below).
    let pause: *const (dyn Fn() + 'static) = unsafe { std::mem::transmute(pause as *const dyn Fn()) };
    struct Restore(Option<*const dyn Fn()>, bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            PAUSE.with(|p| p.set(self.0));
            crate::state::scripts::set_on_script_thread(self.1);
        }
    }
    let _restore = Restore(PAUSE.with(|p| p.replace(Some(pause))), crate::state::scripts::set_on_script_thread(true));
    f()
}

/// From the VM's hook: pauses the running script if it may and has run
/// for `PAUSE_AFTER`. While it is paused, what is its own (the engine,
/// the run) is off this thread, which is the script thread no more.
fn pause_if_long() {
    let Some(pause) = PAUSE.with(|p| p.get()) else { return };
    if !redis_lib::running_for().is_some_and(|ran| ran >= PAUSE_AFTER) {
        return;
    }
    let (engine, run) = (take_lent(), redis_lib::take_current());
    PAUSE.with(|p| p.set(None));
    let was = crate::state::scripts::set_on_script_thread(false);
    // SAFETY: `pausable`, which set it, is still running (below us on this stack).
    unsafe { (*pause)() };
    crate::state::scripts::set_on_script_thread(was);
    PAUSE.with(|p| p.set(Some(pause)));
    redis_lib::give_back_current(run);
    give_back_lent(engine);
}

/// Runs `f` on the script thread and waits for it: inline when already
/// there (a client's command, offloaded), else as a job (loading a file,
/// DEBUG RELOAD: threads that may wait).
fn on_script_thread<R: Send + 'static>(server: &Server, f: impl FnOnce(&Server) -> R + Send + 'static) -> R {
    if crate::state::scripts::on_script_thread() {
        return f(server);
    }
    let server = server.arc();
    let (sender, receiver) = std::sync::mpsc::channel();
    let job_server = server.clone();
    server.scripts.submit(Box::new(move || {
        let _ = sender.send(f(&job_server));
    }));
    receiver.recv().expect("the script thread runs every job")
}

/// Loads a library read from an RDB file (an error names why it failed);
/// `replace` (DEBUG RELOAD MERGE) replaces a library of the same name.
pub fn load_library(server: &Server, code: Vec<u8>, replace: bool) -> Result<(), String> {
    on_script_thread(server, move |server| {
        with_engine(server, |engine| {
            let functions = engine.functions();
            let loaded = functions.load(&code, replace).map(|_| ());
            publish_libraries(server, functions);
            loaded.map_err(|e| String::from_utf8_lossy(&e.bytes()).into_owned())
        })
    })
}

/// Removes every library (a dataset reload replaces them).
pub fn flush_functions(server: &Server) {
    on_script_thread(server, |server| {
        with_engine(server, |engine| {
            engine.functions = None;
            publish_libraries(server, engine.functions());
        })
    })
}

/// EVAL and FCALL run only on the script thread (`exec::run_loading`
/// and the dispatcher bring them there).
fn require_script_thread() -> CmdResult {
    debug_assert!(crate::state::scripts::on_script_thread());
    if crate::state::scripts::on_script_thread() {
        Ok(())
    } else {
        Err(CmdError::err("scripts run only on the script thread"))
    }
}

// ---------------------------------------------------------------------
// EVAL and its kin.

fn eval(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    eval_generic(ctx, argv, false, false)
}

fn eval_ro(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    eval_generic(ctx, argv, false, true)
}

fn evalsha(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    eval_generic(ctx, argv, true, false)
}

fn evalsha_ro(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    eval_generic(ctx, argv, true, true)
}

/// The number of keys argument: an integer between 0 and the arguments left.
fn key_count(argument: &[u8], available: usize) -> Result<usize, CmdError> {
    let n = parse::int(argument)?;
    if n < 0 {
        return Err(CmdError::err("Number of keys can't be negative"));
    }
    if n as u64 > available as u64 {
        return Err(CmdError::err("Number of keys can't be greater than number of args"));
    }
    Ok(n as usize)
}

const NO_SCRIPT: CmdError = CmdError::Fixed("NOSCRIPT No matching script. Please use EVAL.");

fn eval_generic(ctx: &mut Ctx<'_>, argv: &[&[u8]], by_sha: bool, read_only_command: bool) -> CmdResult {
    require_script_thread()?;
    if ctx.client.lua_debug && !ctx.in_exec && !ctx.in_script && ctx.client.info.fd >= 0 {
        if by_sha {
            // As Redis: a session needs the source, which EVALSHA lacks.
            crate::monitor::feed_line(ctx.server, ctx.client, argv);
            if argv[1].len() != 40 {
                return Err(NO_SCRIPT);
            }
            return Err(CmdError::err("Please use EVAL instead of EVALSHA for debugging"));
        }
        return eval_debugging(ctx, argv, by_sha, read_only_command);
    }
    eval_plain(ctx, argv, by_sha, read_only_command)
}

/// EVAL or EVAL_RO after SCRIPT DEBUG SYNC: runs as a debugging session
/// (`ldb`) over the script's source, whatever its outcome (a compile
/// error too), then the connection closes once the reply is out, as in
/// Redis.
fn eval_debugging(ctx: &mut Ctx<'_>, argv: &[&[u8]], by_sha: bool, read_only_command: bool) -> CmdResult {
    let server = ctx.server;
    let threshold = server.tunables.busy_reply_threshold_ms();
    let timeout = std::time::Duration::from_millis(if threshold > 0 { threshold as u64 } else { 5000 });
    let info = ctx.client.info.clone();
    let killed = Box::new(move || info.killed.load(Ordering::Acquire));
    if !ldb::start(ctx.client.info.fd, argv[1], timeout, killed) {
        return eval_plain(ctx, argv, by_sha, read_only_command);
    }
    server.log.warning("Redis synchronous debugging eval session started");
    struct End;
    impl Drop for End {
        fn drop(&mut self) {
            ldb::end();
        }
    }
    let result = {
        let _end = End;
        eval_plain(ctx, argv, by_sha, read_only_command)
    };
    server.log.warning("Redis synchronous debugging eval session ended");
    ctx.client.lua_debug = false;
    ctx.client.close_after_reply = true;
    result
}

/// Why a script stopped in the debugger must end now: SCRIPT KILL or
/// SHUTDOWN NOSAVE.
fn interruption() -> Option<&'static str> {
    redis_lib::kill_message()
}

fn eval_plain(ctx: &mut Ctx<'_>, argv: &[&[u8]], by_sha: bool, read_only_command: bool) -> CmdResult {
    let count = key_count(argv[2], argv.len() - 3)?;
    let (keys, args) = argv[3..].split_at(count);
    // EVAL is not shown after it ran (its commands are, as they run):
    // MONITOR sees it first, as in Redis.
    crate::monitor::feed_line(ctx.server, ctx.client, argv);
    with_engine(ctx.server, |engine| {
        let computed;
        let (sha, script) = if by_sha {
            if argv[1].len() != 40 {
                return Err(NO_SCRIPT);
            }
            entry_ignoring_case(&engine.scripts, argv[1]).ok_or(NO_SCRIPT)?
        } else {
            computed = sha1_hex(argv[1]);
            if !engine.scripts.contains_key(&computed) {
                load_script(ctx, engine, argv[1], computed.clone())?;
            }
            (computed.as_str(), &engine.scripts[&computed])
        };
        let (flags, function) = (script.flags, script.function);
        check_flags(ctx, flags, read_only_command)?;
        let options = RunOptions {
            read_only: read_only_command || flags.no_writes,
            checks_oom_per_command: !flags.declared,
            function: false,
            name: sha.as_bytes(),
            command: None,
            keys,
        };
        engine.vm.set_global_array("KEYS", keys);
        engine.vm.set_global_array("ARGV", args);
        let result = run(ctx, &engine.vm, &mut engine.client, function, |_| 0, options);
        engine.after_run(ctx.server);
        result
    })
}

/// Refusals before a script starts, as Redis makes them. Most of them the
/// dispatcher has already made from the declared flags (`declared_flags`);
/// these also cover a script's caller that it does not check (EXEC, the
/// master's stream, a file being loaded).
fn check_flags(ctx: &Ctx<'_>, flags: ScriptFlags, read_only_command: bool) -> CmdResult {
    let server = ctx.server;
    let obeyed = ctx.caller_is_obeyed();
    let stale = server.stale_refused() && !obeyed;
    if !flags.declared {
        return match stale {
            true => Err(CmdError::MASTERDOWN),
            false => Ok(()),
        };
    }
    if stale && !flags.allow_stale {
        return Err(CmdError::Fixed(
            "MASTERDOWN Link with MASTER is down, replica-serve-stale-data is set to 'no' and 'allow-stale' flag is not set on the script.",
        ));
    }
    if !flags.no_writes {
        if let Some(message) = server.role_refuses_writes().filter(|_| !obeyed) {
            return Err(CmdError::Fixed(match server.master.is_replica() {
                true => "READONLY Can not run script with write flag on readonly replica",
                false => message,
            }));
        }
        if read_only_command {
            return Err(CmdError::err("Can not execute a script with write flag using *_ro command."));
        }
        if !server.enough_good_replicas() {
            return Err(CmdError::Fixed("NOREPLICAS Not enough good replicas to write."));
        }
    }
    if !flags.no_writes && !flags.allow_oom && crate::evict::over_limit(server) {
        return Err(CmdError::Fixed("OOM allow-oom flag is not set on the script, can not run it when used memory > 'maxmemory'"));
    }
    Ok(())
}


/// Compiles a script body into the cache under its SHA-1.
fn load_script(ctx: &Ctx<'_>, engine: &mut Engine, body: &[u8], sha: String) -> CmdResult {
    let (flags, source) = parse_shebang(body)?;
    let function = engine.vm.compile(&source, c"@user_script").map_err(|message| {
        let mut text = b"ERR Error compiling script (new function): ".to_vec();
        text.extend_from_slice(&message);
        CmdError::Raw(text)
    })?;
    let scripts = &ctx.server.scripts;
    scripts.cached_scripts.fetch_add(1, Ordering::Relaxed);
    scripts.cached_script_bytes.fetch_add(body.len() as u64, Ordering::Relaxed);
    if let Some(declared) = flags.command_flags() {
        scripts.script_flags.lock().insert(sha.clone(), declared);
    }
    engine.scripts.insert(sha, Script { flags, function });
    Ok(())
}

/// Reads `#!lua [flags=a,b]` if the body starts with a shebang; returns
/// the flags and the source to compile, whose first line is then a Lua
/// comment (so line numbers stay those of the body).
fn parse_shebang(body: &[u8]) -> Result<(ScriptFlags, std::borrow::Cow<'_, [u8]>), CmdError> {
    if !body.starts_with(b"#!") {
        return Ok((ScriptFlags::default(), body.into()));
    }
    let line_end = body.iter().position(|&b| b == b'\n').ok_or(CmdError::Fixed("ERR Invalid script shebang"))?;
    let line = String::from_utf8_lossy(&body[..line_end]).into_owned();
    let mut words = line.split(' ').filter(|w| !w.is_empty());
    let engine = words.next().unwrap_or_default();
    if engine != "#!lua" {
        return Err(CmdError::err(format!("Unexpected engine in script shebang: {engine}")));
    }
    let mut flags = ScriptFlags { declared: true, ..ScriptFlags::default() };
    for word in words {
        let Some(list) = word.strip_prefix("flags=") else {
            return Err(CmdError::err(format!("Unknown lua shebang option: {word}")));
        };
        for flag in list.split(',').filter(|f| !f.is_empty()) {
            if !flags.set(flag.as_bytes()) {
                return Err(CmdError::err(format!("Unexpected flag in script shebang: {flag}")));
            }
        }
    }
    let mut source = body.to_vec();
    source[..2].copy_from_slice(b"--");
    Ok((flags, source.into()))
}

/// How one run behaves.
struct RunOptions<'n> {
    read_only: bool,
    checks_oom_per_command: bool,
    function: bool,
    /// The script's SHA-1 or the function's name, for error messages.
    name: &'n [u8],
    /// The FCALL, which FUNCTION STATS reports while it runs.
    command: Option<&'n [&'n [u8]]>,
    /// The keys the caller declared.
    keys: &'n [&'n [u8]],
}

/// Client-side caching: a script that read something makes a tracking
/// caller track the keys it declared (Redis's rule), found as EVAL_RO's
/// key specs find them.
fn track_declared_keys(ctx: &mut Ctx<'_>, keys: &[&[u8]]) {
    let Some(tx) = ctx.tx.as_mut() else { return };
    let Some(cmd) = shoal_commands::table().lookup(b"eval_ro") else { return };
    let count = keys.len().to_string();
    let mut argv: Vec<&[u8]> = vec![b"eval_ro", b"", count.as_bytes()];
    argv.extend_from_slice(keys);
    crate::tracking::remember(ctx.server, tx, ctx.client, cmd, &argv);
}

/// Runs a compiled script (or a function, with the arguments `push_args`
/// pushes) in exclusive mode and writes its reply.
fn run(
    ctx: &mut Ctx<'_>,
    vm: &Vm,
    client: &mut ScriptClient,
    function: c_int,
    push_args: impl FnOnce(*mut mlua_sys::lua_State) -> c_int,
    options: RunOptions<'_>,
) -> CmdResult {
    let server = ctx.server;
    let holds_all = ctx.tx.as_ref().is_some_and(|tx| tx.locks.holds_all());
    debug_assert!(holds_all, "a script runs holding every shard");
    // While a file loads the keyspace stays in Loading mode (-LOADING).
    let marks = holds_all && server.engine.keyspace.exclusive().is_none();
    let now_ms = shoal_engine::now_ms();
    if marks {
        server.engine.keyspace.set_exclusive(ExclusiveKind::Script, now_ms);
    }
    server.scripts.start(if options.function { Running::Function } else { Running::Eval });
    client.client.select(ctx.client.db);
    let state = vm.state;
    let top = unsafe { mlua_sys::lua_gettop(state) };
    let mut run = Run::new(ctx, client, options.read_only, options.function);
    run.checks_oom_per_command = options.checks_oom_per_command;
    // SAFETY: `options` outlives the run, which ends in this function.
    unsafe { run.describe(options.name, options.command, now_ms) };
    let outcome = run.enter(|| vm.call(function, push_args));
    let resp3 = run.resp3;
    if run.called_readonly {
        track_declared_keys(ctx, options.keys);
    }
    let result = match outcome {
        Ok(()) => {
            unsafe { write_result(ctx, state, resp3) };
            Ok(())
        }
        Err(CallError::Raised { message, location, counted }) => {
            let mut text = message;
            text.extend_from_slice(b" script: ");
            text.extend_from_slice(options.name);
            if let Some((source, line)) = location {
                text.extend_from_slice(b", on ");
                text.extend_from_slice(&source);
                text.extend_from_slice(format!(":{line}.").as_bytes());
            }
            fail(ctx, text, counted)
        }
    };
    unsafe { mlua_sys::lua_settop(state, top) };
    if server.scripts.kill_requested() && server.shutting_down.load(Ordering::Acquire) {
        // SHUTDOWN NOSAVE ended a script that wrote: the server exits, and
        // the file and replicas must not get half of it.
        if let Some(tx) = ctx.tx.as_mut() {
            tx.effects.clear();
        }
    }
    server.scripts.end(run.published());
    if marks {
        server.engine.keyspace.clear_exclusive();
    }
    result
}

impl Engine {
    /// Bookkeeping after a run: a step of garbage collection now and
    /// then, the VMs' memory for INFO.
    fn after_run(&mut self, server: &Server) {
        self.runs += 1;
        if self.runs % 50 == 0 {
            self.vm.collect_step();
            if let Some(functions) = &self.functions {
                functions.vm.collect_step();
            }
        }
        server.scripts.vm_bytes.store(self.vm.memory_bytes(), Ordering::Relaxed);
        if let Some(functions) = &self.functions {
            server.scripts.functions_vm_bytes.store(functions.vm.memory_bytes(), Ordering::Relaxed);
        }
    }
}

/// Ends a script with an error reply. One a command already got was
/// counted in the error statistics: written directly, only the script's
/// failed call is counted.
fn fail(ctx: &mut Ctx<'_>, message: Vec<u8>, counted: bool) -> CmdResult {
    if !counted {
        return Err(CmdError::Raw(message));
    }
    write_error_line(ctx.out, &message);
    ctx.server.counters(ctx.cmd.id).failed.fetch_add(1, Ordering::Relaxed);
    Ok(())
}

/// An error reply with the message as it is (no code added, a leading
/// `-` kept), newlines turned into spaces.
fn write_error_line(out: &mut shoal_resp::ReplyBuf, message: &[u8]) {
    let mut line = Vec::with_capacity(message.len() + 3);
    line.push(b'-');
    line.extend(message.iter().map(|&c| if c == b'\r' || c == b'\n' { b' ' } else { c }));
    line.extend_from_slice(b"\r\n");
    out.raw(&line);
}

/// Writes the value the script returned (top of the stack). An error
/// table returned is the script's error reply: counted unless it came
/// from a command (`redis.pcall`), and the script's call fails.
unsafe fn write_result(ctx: &mut Ctx<'_>, state: *mut mlua_sys::lua_State, resp3: bool) {
    // Raw reads only: the value is the script's, its metatable may raise,
    // and no error handler is in place any more.
    if mlua_sys::lua_type(state, -1) == mlua_sys::LUA_TTABLE {
        let table = mlua_sys::lua_gettop(state);
        if let Some(message) = redis_lib::raw_string_field(state, table, c"err") {
            let counted = redis_lib::raw_field_type(state, table, c"ignore_error_stats_update") == mlua_sys::LUA_TBOOLEAN;
            write_error_line(ctx.out, &message);
            if !counted {
                ctx.server.engine.stats.incr(shoal_engine::Stat::TotalErrorReplies);
                let code = message.split(|&b| b == b' ').next().unwrap_or(b"ERR");
                ctx.server.count_error(&String::from_utf8_lossy(code));
            }
            ctx.server.counters(ctx.cmd.id).failed.fetch_add(1, Ordering::Relaxed);
            return;
        }
    }
    redis_lib::write_value(state, -1, ctx.out, 0, resp3);
}

// ---------------------------------------------------------------------
// SCRIPT.

fn script_load(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let body = argv[2];
    let sha = sha1_hex(body);
    with_engine(ctx.server, |engine| {
        if !engine.scripts.contains_key(&sha) {
            load_script(ctx, engine, body, sha.clone())?;
        }
        Ok(())
    })?;
    ctx.out.bulk(sha.as_bytes());
    Ok(())
}

fn script_exists(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let shas = &argv[2..];
    ctx.out.array(shas.len());
    with_engine(ctx.server, |engine| {
        for sha in shas {
            let name = String::from_utf8_lossy(sha).to_ascii_lowercase();
            ctx.out.int(i64::from(engine.scripts.contains_key(&name)));
        }
    });
    Ok(())
}

fn flush_mode_ok(argv: &[&[u8]]) -> bool {
    match argv.get(2) {
        None => true,
        Some(mode) => argv.len() == 3 && (parse::is(mode, "async") || parse::is(mode, "sync")),
    }
}

/// SCRIPT FLUSH: a fresh VM, as Redis resets its Lua state.
fn script_flush(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    if !flush_mode_ok(argv) {
        return Err(CmdError::err("SCRIPT FLUSH only support SYNC|ASYNC option"));
    }
    // The function libraries (their own VM) are not scripts: they stay.
    with_engine(ctx.server, |engine| {
        let functions = engine.functions.take();
        *engine = Engine::new();
        engine.functions = functions;
    });
    let scripts = &ctx.server.scripts;
    scripts.cached_scripts.store(0, Ordering::Relaxed);
    scripts.cached_script_bytes.store(0, Ordering::Relaxed);
    scripts.script_flags.lock().clear();
    scripts.vm_bytes.store(0, Ordering::Relaxed);
    ctx.out.ok();
    Ok(())
}

/// SCRIPT KILL: served on the caller's worker while the script runs.
fn script_kill(ctx: &mut Ctx<'_>, _argv: &[&[u8]]) -> CmdResult {
    kill(ctx, Running::Eval)
}

/// SCRIPT KILL and FUNCTION KILL: Redis's replies.
fn kill(ctx: &mut Ctx<'_>, kind: Running) -> CmdResult {
    match ctx.server.scripts.request_kill(kind) {
        Ok(()) => {
            ctx.out.ok();
            Ok(())
        }
        Err(KillRefused::NotBusy) => Err(CmdError::Fixed(match kind {
            Running::Eval => "NOTBUSY No scripts in execution right now.",
            Running::Function => "NOTBUSY No scripts in execution right now.",
        })),
        Err(KillRefused::Unkillable) => Err(CmdError::Fixed(
            "UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.",
        )),
        Err(KillRefused::OtherKind) => Err(CmdError::Fixed(match kind {
            Running::Eval => "BUSY Redis is busy running a function. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.",
            Running::Function => "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.",
        })),
    }
}

/// SCRIPT DEBUG SYNC: the client's next EVAL or EVAL_RO runs under the
/// Lua debugger (`ldb`; EVALSHA is refused meanwhile, as in Redis); NO turns that off. YES (Redis's forked session,
/// whose writes are rolled back) needs a fork of the server, which Shoal
/// does not make: it is refused, naming SYNC.
fn script_debug(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    if ctx.in_exec || ctx.in_script || ctx.client.in_multi() {
        return Err(CmdError::err("SCRIPT DEBUG must be called outside MULTI"));
    }
    if !ctx.out.buf.is_empty() {
        return Err(CmdError::err("SCRIPT DEBUG must be called outside a pipeline"));
    }
    match argv[2].to_ascii_lowercase().as_slice() {
        b"no" => {
            ctx.client.lua_debug = false;
            ctx.out.ok();
            Ok(())
        }
        b"sync" => {
            ctx.client.lua_debug = true;
            ctx.out.ok();
            Ok(())
        }
        b"yes" => Err(CmdError::err(
            "SCRIPT DEBUG YES (a forked session whose changes are rolled back) is not supported: Shoal does not fork. Use SCRIPT DEBUG SYNC (changes are kept)",
        )),
        _ => Err(CmdError::err("Use SCRIPT DEBUG YES/SYNC/NO")),
    }
}

fn script_help(ctx: &mut Ctx<'_>, _argv: &[&[u8]]) -> CmdResult {
    let lines = [
        "DEBUG (YES|SYNC|NO)",
        "    Set the debug mode for subsequent scripts executed (SYNC or NO; YES is not supported).",
        "EXISTS <sha1> [<sha1> ...]",
        "    Return information about the existence of the scripts in the script cache.",
        "FLUSH [ASYNC|SYNC]",
        "    Flush the Lua scripts cache. Very dangerous on replicas.",
        "    When called without the optional mode argument, the behavior is determined by the",
        "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
        "    * ASYNC: Asynchronously flush the scripts cache.",
        "    * SYNC: Synchronously flush the scripts cache.",
        "KILL",
        "    Kill the currently executing Lua script.",
        "LOAD <script>",
        "    Load a script into the scripts cache without executing it.",
    ];
    crate::families::help::write_help(ctx.out, "SCRIPT", &lines);
    Ok(())
}

// ---------------------------------------------------------------------
// FCALL and FUNCTION.

fn fcall(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    fcall_generic(ctx, argv, false)
}

fn fcall_ro(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    fcall_generic(ctx, argv, true)
}

fn fcall_generic(ctx: &mut Ctx<'_>, argv: &[&[u8]], read_only_command: bool) -> CmdResult {
    require_script_thread()?;
    let n = parse::int(argv[2]).map_err(|_| CmdError::err("Bad number of keys provided"))?;
    if n < 0 {
        return Err(CmdError::err("Number of keys can't be negative"));
    }
    if n as u64 > (argv.len() - 3) as u64 {
        return Err(CmdError::err("Number of keys can't be greater than number of args"));
    }
    let (keys, args) = argv[3..].split_at(n as usize);
    crate::monitor::feed_line(ctx.server, ctx.client, argv);
    with_engine(ctx.server, |engine| {
        let functions = engine.functions();
        let function = functions.find(argv[1]).ok_or(CmdError::Fixed("ERR Function not found"))?;
        let (flags, callback) = (function.flags, function.callback);
        check_flags(ctx, flags, read_only_command)?;
        let options = RunOptions {
            read_only: read_only_command || flags.no_writes,
            checks_oom_per_command: false,
            function: true,
            name: argv[1],
            command: Some(argv),
            keys,
        };
        let push_args = |state: *mut mlua_sys::lua_State| unsafe {
            for list in [keys, args] {
                mlua_sys::lua_createtable(state, list.len() as c_int, 0);
                for (i, item) in list.iter().enumerate() {
                    lua::push_bytes(state, item);
                    mlua_sys::lua_rawseti_(state, -2, i as c_int + 1);
                }
            }
            2
        };
        let Engine { functions, client, .. } = engine;
        let functions = functions.as_ref().expect("created above");
        let result = run(ctx, &functions.vm, client, callback, push_args, options);
        engine.after_run(ctx.server);
        result
    })
}

/// After a change to the libraries: the counts INFO and FUNCTION STATS
/// report, and the codes snapshots save.
fn publish_libraries(server: &Server, functions: &functions::Functions) {
    let scripts = &server.scripts;
    scripts.libraries.store(functions.libraries.len() as u64, Ordering::Relaxed);
    scripts.functions.store(functions.function_count() as u64, Ordering::Relaxed);
    let codes: Vec<Vec<u8>> = functions.libraries.values().map(|l| l.code.clone()).collect();
    let bytes = codes.iter().map(|c| c.len() as u64).sum();
    scripts.functions_bytes.store(bytes, Ordering::Relaxed);
    *scripts.library_codes.lock() = codes;
    *scripts.function_flags.lock() = functions
        .libraries
        .values()
        .flat_map(|l| l.functions.iter())
        .filter_map(|f| Some((f.name.to_ascii_lowercase(), f.flags.command_flags()?)))
        .collect();
    scripts.functions_vm_bytes.store(functions.vm.memory_bytes(), Ordering::Relaxed);
}

fn function_load(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let (options, code) = argv[2..].split_at(argv.len() - 3);
    let code = code[0];
    let mut replace = false;
    for option in options {
        if !parse::is(option, "replace") {
            return Err(CmdError::err(format!("Unknown option given: {}", String::from_utf8_lossy(option))));
        }
        replace = true;
    }
    let code = code.to_vec();
    let name = on_script_thread(ctx.server, move |server| {
        with_engine(server, |engine| {
            let functions = engine.functions();
            let name = functions.load(&code, replace)?;
            publish_libraries(server, functions);
            Ok::<_, CmdError>(name)
        })
    })?;
    ctx.tx().add_dirty(1);
    ctx.out.bulk(name.as_bytes());
    Ok(())
}

fn function_delete(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let name = String::from_utf8_lossy(argv[2]).into_owned();
    on_script_thread(ctx.server, move |server| {
        with_engine(server, |engine| {
            let functions = engine.functions();
            let library = functions.remove(&name).ok_or(CmdError::Fixed("ERR Library not found"))?;
            functions.release(library);
            publish_libraries(server, functions);
            Ok::<_, CmdError>(())
        })
    })?;
    ctx.tx().add_dirty(1);
    ctx.out.ok();
    Ok(())
}

fn function_flush(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    if argv.len() > 3 {
        return Err(CmdError::err("unknown subcommand or wrong number of arguments for 'flush'. Try FUNCTION HELP."));
    }
    if !flush_mode_ok(argv) {
        return Err(CmdError::err("FUNCTION FLUSH only supports SYNC|ASYNC option"));
    }
    flush_functions(ctx.server);
    // FUNCTION FLUSH is a write: it reaches replicas even with nothing loaded.
    ctx.tx().add_dirty(1);
    ctx.out.ok();
    Ok(())
}

fn function_list(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let (mut with_code, mut pattern) = (false, None);
    let mut i = 2;
    while i < argv.len() {
        if parse::is(argv[i], "withcode") && !with_code {
            with_code = true;
        } else if parse::is(argv[i], "libraryname") && pattern.is_none() {
            i += 1;
            pattern = Some(*argv.get(i).ok_or(CmdError::Fixed("ERR library name argument was not given"))?);
        } else {
            return Err(CmdError::err(format!("Unknown argument {}", String::from_utf8_lossy(argv[i]))));
        }
        i += 1;
    }
    let out = &mut *ctx.out;
    with_engine(ctx.server, |engine| {
        let functions = engine.functions();
        let libraries: Vec<&functions::Library> = functions
            .libraries
            .values()
            .filter(|l| pattern.is_none_or(|p| shoal_types::glob::glob_match(p, l.name.as_bytes(), false)))
            .collect();
        out.array(libraries.len());
        for library in libraries {
            let name = &library.name;
            out.map(if with_code { 4 } else { 3 });
            out.bulk(b"library_name");
            out.bulk(name.as_bytes());
            out.bulk(b"engine");
            out.bulk(b"LUA");
            out.bulk(b"functions");
            out.array(library.functions.len());
            for f in &library.functions {
                out.map(3);
                out.bulk(b"name");
                out.bulk(f.name.as_bytes());
                out.bulk(b"description");
                match &f.description {
                    Some(d) => out.bulk(d),
                    None => out.null(),
                }
                out.bulk(b"flags");
                let names = functions::flag_names(&f.flags);
                out.set(names.len());
                for flag in names {
                    out.simple(flag);
                }
            }
            if with_code {
                out.bulk(b"library_code");
                out.bulk(&library.code);
            }
        }
    });
    Ok(())
}

fn function_dump(ctx: &mut Ctx<'_>, _argv: &[&[u8]]) -> CmdResult {
    let compress = ctx.server.config.get_bool("rdbcompression");
    let payload = with_engine(ctx.server, |engine| {
        let functions = engine.functions();
        let codes: Vec<&[u8]> = functions.libraries.values().map(|l| l.code.as_slice()).collect();
        shoal_persist::rdb::function_dump_payload(&codes, compress)
    });
    ctx.out.bulk(&payload);
    Ok(())
}

/// FUNCTION RESTORE payload [FLUSH|APPEND|REPLACE]: all or nothing.
fn function_restore(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    #[derive(PartialEq)]
    enum Policy {
        Append,
        Replace,
        Flush,
    }
    if argv.len() > 4 {
        return Err(CmdError::err("unknown subcommand or wrong number of arguments for 'restore'. Try FUNCTION HELP."));
    }
    let policy = match argv.get(3) {
        None => Policy::Append,
        Some(p) if argv.len() == 4 && parse::is(p, "append") => Policy::Append,
        Some(p) if argv.len() == 4 && parse::is(p, "replace") => Policy::Replace,
        Some(p) if argv.len() == 4 && parse::is(p, "flush") => Policy::Flush,
        Some(_) => return Err(CmdError::err("Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.")),
    };
    let check_crc = !ctx.server.skip_checksum_validation.load(Ordering::Relaxed);
    let codes = shoal_persist::rdb::function_restore_codes(argv[2], check_crc)
        .map_err(|why| CmdError::err(format!("DUMP {why}")))?;
    on_script_thread(ctx.server, move |server| with_engine(server, |engine| {
        // Loaded into a fresh set first, so a failure changes nothing.
        let mut fresh = functions::Functions::new();
        for code in &codes {
            fresh.load(code, false)?;
        }
        let current = engine.functions();
        if policy != Policy::Flush {
            for (key, library) in &current.libraries {
                if fresh.libraries.contains_key(key) {
                    if policy == Policy::Append {
                        return Err(CmdError::err(format!("Library {} already exists", library.name)));
                    }
                    continue;
                }
                for f in &library.functions {
                    if fresh.index.contains_key(&f.name.to_ascii_lowercase()) {
                        return Err(CmdError::err(format!("Function {} already exists", f.name)));
                    }
                }
                fresh.load(&library.code, false)?;
            }
        }
        publish_libraries(server, &fresh);
        engine.functions = Some(fresh);
        Ok::<_, CmdError>(())
    }))?;
    ctx.tx().add_dirty(1);
    ctx.out.ok();
    Ok(())
}

/// FUNCTION STATS: served on the caller's worker, also while a function
/// runs.
fn function_stats(ctx: &mut Ctx<'_>, _argv: &[&[u8]]) -> CmdResult {
    let scripts = &ctx.server.scripts;
    let running = scripts.function.lock().clone();
    let out = &mut *ctx.out;
    out.map(2);
    out.bulk(b"running_script");
    match running.filter(|_| scripts.running() == Some(Running::Function)) {
        None => out.null(),
        Some(f) => {
            out.map(3);
            out.bulk(b"name");
            out.bulk(&f.name);
            out.bulk(b"command");
            out.array(f.argv.len());
            for a in &f.argv {
                out.bulk(a);
            }
            out.bulk(b"duration_ms");
            out.int(shoal_engine::now_ms() - f.started_ms);
        }
    }
    out.bulk(b"engines");
    out.map(1);
    out.bulk(b"LUA");
    out.map(2);
    out.bulk(b"libraries_count");
    out.int(scripts.libraries.load(Ordering::Relaxed) as i64);
    out.bulk(b"functions_count");
    out.int(scripts.functions.load(Ordering::Relaxed) as i64);
    Ok(())
}

fn function_kill(ctx: &mut Ctx<'_>, _argv: &[&[u8]]) -> CmdResult {
    kill(ctx, Running::Function)
}

fn function_help(ctx: &mut Ctx<'_>, _argv: &[&[u8]]) -> CmdResult {
    let lines = [
        "LOAD [REPLACE] <FUNCTION CODE>",
        "    Create a new library with the given library name and code.",
        "DELETE <LIBRARY NAME>",
        "    Delete the given library.",
        "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
        "    Return general information on all the libraries:",
        "    * Library name",
        "    * The engine used to run the Library",
        "    * Library description",
        "    * Functions list",
        "    * Library code (if WITHCODE is given)",
        "    It also possible to get only function that matches a pattern using LIBRARYNAME argument.",
        "STATS",
        "    Return information about the current function running:",
        "    * Function name",
        "    * Command used to run the function",
        "    * Duration in MS that the function is running",
        "    If no function is running, return nil",
        "    In addition, returns a list of available engines.",
        "KILL",
        "    Kill the current running function.",
        "FLUSH [ASYNC|SYNC]",
        "    Delete all the libraries.",
        "    When called without the optional mode argument, the behavior is determined by the",
        "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
        "    * ASYNC: Asynchronously flush the libraries.",
        "    * SYNC: Synchronously flush the libraries.",
        "DUMP",
        "    Return a serialized payload representing the current libraries, can be restored using FUNCTION RESTORE command",
        "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
        "    Restore the libraries represented by the given payload, it is possible to give a restore policy to",
        "    control how to handle existing libraries (default APPEND):",
        "    * FLUSH: delete all existing libraries.",
        "    * APPEND: appends the restored libraries to the existing libraries. On collision, abort.",
        "    * REPLACE: appends the restored libraries to the existing libraries, On collision, replace the old",
        "      libraries with the new libraries (notice that even on this option there is a chance of failure",
        "      in case of functions name collision with another library).",
    ];
    crate::families::help::write_help(ctx.out, "FUNCTION", &lines);
    Ok(())
}

/// A unit holding no shard: FUNCTION's writes need one to propagate.
fn no_shards(_cmd: &shoal_commands::Command, _argv: &[&[u8]]) -> LockPlan {
    LockPlan::Shards(Default::default())
}

pub fn register(r: &mut Registrar) {
    r.all("eval", eval);
    r.all("eval_ro", eval_ro);
    r.all("evalsha", evalsha);
    r.all("evalsha_ro", evalsha_ro);
    r.all("fcall", fcall);
    r.all("fcall_ro", fcall_ro);
    r.plain("script|load", script_load);
    r.plain("script|exists", script_exists);
    r.plain("script|flush", script_flush);
    r.plain("script|kill", script_kill);
    r.plain("script|debug", script_debug);
    r.plain("script|help", script_help);
    r.custom("function|load", function_load, no_shards);
    r.custom("function|delete", function_delete, no_shards);
    r.custom("function|flush", function_flush, no_shards);
    r.custom("function|restore", function_restore, no_shards);
    r.plain("function|list", function_list);
    r.plain("function|dump", function_dump);
    r.plain("function|stats", function_stats);
    r.plain("function|kill", function_kill);
    r.plain("function|help", function_help);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_ignore_case_at_any_name_length() {
        let long = "x".repeat(100);
        let map: HashMap<String, u8> = [("abc".to_string(), 1), (long.clone(), 2), ("é".to_string(), 3)].into();
        assert_eq!(get_ignoring_case(&map, b"AbC"), Some(1));
        assert_eq!(get_ignoring_case(&map, long.to_ascii_uppercase().as_bytes()), Some(2));
        assert_eq!(get_ignoring_case(&map, "é".as_bytes()), Some(3));
        assert_eq!(get_ignoring_case(&map, b"abd"), None);
        assert_eq!(get_ignoring_case(&map, b"\xffabc"), None);
    }
}
