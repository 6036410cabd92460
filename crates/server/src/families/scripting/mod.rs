//! Lua scripting: EVAL, EVALSHA, EVAL_RO, EVALSHA_RO and SCRIPT.
//!
//! Everything that touches the VM runs on the script thread (see
//! `state::scripts` and `crate::offload`); EVAL and its kin also hold every
//! shard (`Locking::All`), so a script is atomic and isolated whatever keys
//! it touches, declared or not. While it runs the keyspace is in exclusive
//! `Script` mode: past `busy-reply-threshold` other clients get `-BUSY`, and
//! SCRIPT KILL (served on any worker) sets the flag the VM's hook checks.
//! A script's writes propagate as their effects, wrapped in MULTI/EXEC when
//! there are several (`Tx::finish`).

mod libs;
mod redis_lib;
mod vm;

use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::c_int;
use std::sync::atomic::Ordering;

use sha1::{Digest, Sha1};
use shoal_commands::Command;
use shoal_engine::ExclusiveKind;

use crate::error::{parse, CmdError, CmdResult};
use crate::exec::{Ctx, LockPlan, Registrar};
use crate::state::scripts::{KillRefused, Running};
use redis_lib::{Run, ScriptClient};
use vm::{CallError, Vm};

/// Commands that use the VM, and so run on the script thread.
pub fn uses_vm(cmd: &Command) -> bool {
    matches!(cmd.name, "eval" | "evalsha" | "eval_ro" | "evalsha_ro" | "script|load" | "script|exists" | "script|flush")
}

/// The hex SHA-1 of `data`, lower case (script names, `redis.sha1hex`).
pub fn sha1_hex(data: &[u8]) -> String {
    let digest = Sha1::digest(data);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Flags a script declares in its shebang (`#!lua flags=...`).
#[derive(Clone, Copy, Default, Debug)]
struct ScriptFlags {
    /// The script has a shebang: flags were declared, even none.
    declared: bool,
    no_writes: bool,
    allow_oom: bool,
    allow_stale: bool,
    no_cluster: bool,
    allow_cross_slot_keys: bool,
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
}

impl Engine {
    fn new() -> Engine {
        Engine { vm: Vm::new(), scripts: HashMap::new(), client: ScriptClient::new(), runs: 0 }
    }
}

thread_local! {
    static ENGINE: RefCell<Option<Engine>> = const { RefCell::new(None) };
}

/// Runs `f` with the script thread's engine (created on first use).
fn with_engine<R>(f: impl FnOnce(&mut Engine) -> R) -> R {
    debug_assert!(crate::state::scripts::on_script_thread(), "the VM lives on the script thread");
    ENGINE.with(|cell| {
        let mut engine = cell.borrow_mut();
        f(engine.get_or_insert_with(Engine::new))
    })
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
    let count = key_count(argv[2], argv.len() - 3)?;
    let (keys, args) = argv[3..].split_at(count);
    // EVAL is not shown after it ran (its commands are, as they run):
    // MONITOR sees it first, as in Redis.
    crate::monitor::feed_line(ctx.server, ctx.client, argv);
    with_engine(|engine| {
        let sha = if by_sha {
            if argv[1].len() != 40 {
                return Err(NO_SCRIPT);
            }
            String::from_utf8_lossy(argv[1]).to_ascii_lowercase()
        } else {
            sha1_hex(argv[1])
        };
        if !engine.scripts.contains_key(&sha) {
            if by_sha {
                return Err(NO_SCRIPT);
            }
            load_script(ctx, engine, argv[1], sha.clone())?;
        }
        let script = &engine.scripts[&sha];
        let (flags, function) = (script.flags, script.function);
        check_flags(ctx, flags, read_only_command)?;
        let options = RunOptions {
            read_only: read_only_command || flags.no_writes,
            checks_oom_per_command: !flags.declared,
            function: false,
            name: sha.as_bytes(),
        };
        run(ctx, engine, function, keys, args, options)
    })
}

/// Refusals before a script with declared flags starts, as Redis makes them.
fn check_flags(ctx: &Ctx<'_>, flags: ScriptFlags, read_only_command: bool) -> CmdResult {
    if !flags.declared {
        return Ok(());
    }
    if read_only_command && !flags.no_writes {
        return Err(CmdError::err("Can not execute a script with write flag using *_ro command."));
    }
    if !flags.no_writes && !flags.allow_oom && crate::evict::over_limit(ctx.server) {
        return Err(CmdError::Fixed("OOM command not allowed when used memory > 'maxmemory'."));
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
            match flag {
                "no-writes" => flags.no_writes = true,
                "allow-oom" => flags.allow_oom = true,
                "allow-stale" => flags.allow_stale = true,
                "no-cluster" => flags.no_cluster = true,
                "allow-cross-slot-keys" => flags.allow_cross_slot_keys = true,
                other => return Err(CmdError::err(format!("Unexpected flag in script shebang: {other}"))),
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
}

/// Runs a compiled script in exclusive mode and writes its reply.
fn run(ctx: &mut Ctx<'_>, engine: &mut Engine, function: c_int, keys: &[&[u8]], args: &[&[u8]], options: RunOptions<'_>) -> CmdResult {
    let server = ctx.server;
    let holds_all = ctx.tx.as_ref().is_some_and(|tx| tx.locks.holds_all());
    debug_assert!(holds_all, "a script runs holding every shard");
    if holds_all {
        server.engine.keyspace.set_exclusive(ExclusiveKind::Script, shoal_engine::now_ms());
    }
    server.scripts.start(if options.function { Running::Function } else { Running::Eval }, None);
    if !options.function {
        engine.vm.set_global_array("KEYS", keys);
        engine.vm.set_global_array("ARGV", args);
    }
    engine.client.client.select(ctx.client.db);
    let state = engine.vm.state;
    let top = unsafe { mlua_sys::lua_gettop(state) };
    let mut run = Run::new(ctx, &mut engine.client, options.read_only, options.function);
    run.checks_oom_per_command = options.checks_oom_per_command;
    let outcome = run.enter(|| engine.vm.call(function, |_| 0));
    let result = match outcome {
        Ok(()) => {
            unsafe { write_result(ctx, state) };
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
    server.scripts.end();
    if holds_all {
        server.engine.keyspace.clear_exclusive();
    }
    engine.runs += 1;
    if engine.runs % 50 == 0 {
        engine.vm.collect_step();
    }
    server.scripts.vm_bytes.store(engine.vm.memory_bytes(), Ordering::Relaxed);
    result
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
unsafe fn write_result(ctx: &mut Ctx<'_>, state: *mut mlua_sys::lua_State) {
    if mlua_sys::lua_type(state, -1) == mlua_sys::LUA_TTABLE {
        mlua_sys::lua_getfield_(state, -1, c"err".as_ptr());
        let message = vm::borrow_bytes(state, -1).map(|m| m.to_vec());
        mlua_sys::lua_pop(state, 1);
        if let Some(message) = message {
            mlua_sys::lua_getfield_(state, -1, c"ignore_error_stats_update".as_ptr());
            let counted = mlua_sys::lua_toboolean(state, -1) != 0;
            mlua_sys::lua_pop(state, 1);
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
    redis_lib::write_value(state, -1, ctx.out, 0);
}

// ---------------------------------------------------------------------
// SCRIPT.

fn script_load(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let body = argv[2];
    let sha = sha1_hex(body);
    with_engine(|engine| {
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
    with_engine(|engine| {
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
    ENGINE.with(|cell| cell.borrow_mut().take());
    let scripts = &ctx.server.scripts;
    scripts.cached_scripts.store(0, Ordering::Relaxed);
    scripts.cached_script_bytes.store(0, Ordering::Relaxed);
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

/// SCRIPT DEBUG: the Lua debugger is not available; NO (its default) is.
fn script_debug(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    match argv[2].to_ascii_lowercase().as_slice() {
        b"no" => {
            ctx.out.ok();
            Ok(())
        }
        b"yes" | b"sync" => Err(CmdError::err("SCRIPT DEBUG is not supported: Shoal has no Lua debugger")),
        _ => Err(CmdError::err("Use SCRIPT DEBUG YES/SYNC/NO")),
    }
}

fn script_help(ctx: &mut Ctx<'_>, _argv: &[&[u8]]) -> CmdResult {
    let lines = [
        "SCRIPT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "DEBUG (YES|SYNC|NO)",
        "    Set the debug mode for subsequent scripts executed (only NO is supported).",
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
        "HELP",
        "    Print this help.",
    ];
    ctx.out.array(lines.len());
    for line in lines {
        ctx.out.simple(line);
    }
    Ok(())
}

// ---------------------------------------------------------------------
// FUNCTION (only FLUSH so far).

fn function_flush(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    if !flush_mode_ok(argv) {
        return Err(CmdError::err("Bad flushing mode, only ASYNC and SYNC are supported"));
    }
    // FUNCTION FLUSH is a write: it reaches replicas even with nothing loaded.
    ctx.tx().add_dirty(1);
    ctx.out.ok();
    Ok(())
}

/// An execution unit with no shards: enough to propagate.
fn no_shards(_cmd: &shoal_commands::Command, _argv: &[&[u8]]) -> LockPlan {
    LockPlan::Shards(Default::default())
}

pub fn register(r: &mut Registrar) {
    r.all("eval", eval);
    r.all("eval_ro", eval_ro);
    r.all("evalsha", evalsha);
    r.all("evalsha_ro", evalsha_ro);
    r.plain("script|load", script_load);
    r.plain("script|exists", script_exists);
    r.plain("script|flush", script_flush);
    r.plain("script|kill", script_kill);
    r.plain("script|debug", script_debug);
    r.plain("script|help", script_help);
    r.custom("function|flush", function_flush, no_shards);
}
