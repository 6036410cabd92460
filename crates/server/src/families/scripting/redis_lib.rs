//! The `redis` table scripts see (`redis.call`, `redis.pcall`,
//! `redis.error_reply`, ...) and the conversions between replies and Lua
//! values, both ways, with Redis 7.0's rules.
//!
//! `redis.call` runs a command through the one execution path
//! (`exec::execute`, caller kind `Script`) inside the script's own unit:
//! the EVAL holds every shard, so whatever key the script names is
//! covered, and the command's effects join the script's. The command runs
//! as the script's client (`ScriptClient`, shown as `lua` to MONITOR),
//! whose reply buffer is then read back into a Lua value.

use std::borrow::Cow;
use std::cell::Cell;
use std::ffi::c_int;
use std::sync::atomic::Ordering;

use mlua_sys as lua;
use mlua_sys::lua_State;
use shoal_commands::{table, Command, CommandFlags};
use shoal_resp::{number, Protocol, ReplyBuf};
use smallvec::SmallVec;

use super::lua::{borrow_bytes, push_bytes, push_str, raise, to_bytes, MAX_REPLY_DEPTH};
use crate::client::{Client, ClientInfo};
use crate::exec::{execute, handlers, Caller, Ctx};
use crate::log::Level;
use crate::server::Server;

/// The client a script's commands run as, with its reply buffer.
pub struct ScriptClient {
    pub client: Client,
    pub out: ReplyBuf,
}

impl ScriptClient {
    pub fn new() -> ScriptClient {
        // Client id 0 is never given to a connection; the address is what
        // MONITOR shows for a script's commands.
        let info = ClientInfo::new(0, 0, "lua".to_string(), String::new(), -1, false);
        ScriptClient { client: Client::new(info, true), out: ReplyBuf::new(Protocol::Resp2) }
    }
}

/// What the running script may do and how its calls behave.
pub struct Run {
    /// The EVAL or FCALL's context (its lifetime erased: it outlives the run).
    ctx: *mut Ctx<'static>,
    script_client: *mut ScriptClient,
    /// EVAL_RO, FCALL_RO, or the `no-writes` flag.
    pub read_only: bool,
    /// The script declared flags (a shebang or a function's flags): then
    /// OOM was checked before it started, or `allow-oom` lifts the check.
    pub checks_oom_per_command: bool,
    /// `redis.setresp(3)`: replies reach the script in RESP3 form.
    pub resp3: bool,
    /// `redis.set_repl`: where the script's writes propagate.
    pub repl: u8,
    /// Running a function (FCALL), not an EVAL script.
    pub function: bool,
    /// The script's SHA-1 or the function's name (for the log), and the
    /// FCALL (for FUNCTION STATS): the caller's, alive for the whole run
    /// (see `describe`).
    name: *const [u8],
    command: Option<*const [&'static [u8]]>,
    started_ms: i64,
    /// The running function was published for FUNCTION STATS.
    published: bool,
    /// The script ran a read-only command: a tracking caller tracks the
    /// declared keys, as in Redis.
    pub called_readonly: bool,
    started: std::time::Instant,
    slow_logged: bool,
}

/// `redis.set_repl` flags (Redis's values).
pub const REPL_NONE: u8 = 0;
pub const REPL_AOF: u8 = 1;
pub const REPL_REPLICA: u8 = 2;
pub const REPL_ALL: u8 = 3;

thread_local! {
    /// The run the script thread is executing, if any.
    static CURRENT: Cell<*mut Run> = const { Cell::new(std::ptr::null_mut()) };
}

impl Run {
    pub fn new(ctx: &mut Ctx<'_>, script_client: &mut ScriptClient, read_only: bool, function: bool) -> Run {
        Run {
            ctx: ctx as *mut Ctx<'_> as *mut Ctx<'static>,
            script_client,
            read_only,
            checks_oom_per_command: true,
            resp3: false,
            repl: REPL_ALL,
            function,
            name: &[],
            command: None,
            started_ms: 0,
            published: false,
            called_readonly: false,
            started: std::time::Instant::now(),
            slow_logged: false,
        }
    }

    /// Names the run: its script or function `name`, and the FCALL
    /// `command`, started at `started_ms`.
    ///
    /// # Safety
    /// `name` and `command` must outlive the run.
    pub unsafe fn describe(&mut self, name: &[u8], command: Option<&[&[u8]]>, started_ms: i64) {
        self.name = name;
        self.command = command.map(|argv| argv as *const [&[u8]] as *const [&'static [u8]]);
        self.started_ms = started_ms;
    }

    fn name(&self) -> &[u8] {
        // SAFETY: `describe`'s caller keeps it alive for the run.
        unsafe { &*self.name }
    }

    /// The running function was published for FUNCTION STATS (so it must
    /// be withdrawn when the run ends).
    pub fn published(&self) -> bool {
        self.published
    }

    /// Makes this the current run while `f` executes.
    pub fn enter<R>(&mut self, f: impl FnOnce() -> R) -> R {
        let previous = CURRENT.with(|c| c.replace(self));
        let result = f();
        CURRENT.with(|c| c.set(previous));
        result
    }
}

/// The current run: only inside `Run::enter`, from a callback of the VM.
unsafe fn current<'r>() -> Option<&'r mut Run> {
    CURRENT.with(|c| c.get().as_mut())
}

/// How long the current run has been running, if one is.
pub fn running_for() -> Option<std::time::Duration> {
    unsafe { current() }.map(|run| run.started.elapsed())
}

/// Takes the current run off this thread (its script pauses while the
/// thread serves others), to be given back with `give_back_current`.
pub fn take_current() -> *mut Run {
    CURRENT.with(|c| c.replace(std::ptr::null_mut()))
}

pub fn give_back_current(run: *mut Run) {
    CURRENT.with(|c| c.set(run));
}

/// The message the kill hook raises, if the running script was asked to end.
pub fn kill_message() -> Option<&'static str> {
    let run = unsafe { current()? };
    let ctx = unsafe { &*run.ctx };
    if !ctx.server.scripts.kill_requested() {
        return None;
    }
    Some(if run.function {
        "ERR Script killed by user with FUNCTION KILL..."
    } else {
        "ERR Script killed by user with SCRIPT KILL..."
    })
}

/// The hex SHA-1 of `data`, lower case (script names, `redis.sha1hex`).
pub fn sha1_hex(data: &[u8]) -> String {
    use sha1::{Digest, Sha1};
    let digest = Sha1::digest(data);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Called from the VM's hook (every `HOOK_INSTRUCTIONS` instructions of
/// a run): a function that runs that long is published for FUNCTION STATS
/// (runs shorter than that publish nothing: nobody could tell them from a
/// run that has not started or has ended), and a script past
/// busy-reply-threshold is logged.
pub fn at_hook() {
    let Some(run) = (unsafe { current() }) else { return };
    if let (false, Some(command)) = (run.published, run.command) {
        run.published = true;
        // SAFETY: `describe`'s caller keeps it alive for the run.
        let argv = unsafe { &*command };
        let server = unsafe { (*run.ctx).server };
        server.scripts.publish_function(crate::state::scripts::RunningFunction {
            name: run.name().to_vec(),
            argv: argv.iter().map(|a| a.to_vec()).collect(),
            started_ms: run.started_ms,
        });
    }
    note_if_slow(run);
}

/// Logs once, as Redis does, that the running script has passed
/// busy-reply-threshold.
fn note_if_slow(run: &mut Run) {
    if run.slow_logged {
        return;
    }
    let server = unsafe { (*run.ctx).server };
    let elapsed = run.started.elapsed().as_millis() as i64;
    if elapsed < server.tunables.busy_reply_threshold_ms() {
        return;
    }
    run.slow_logged = true;
    let kill = if run.function { "FUNCTION KILL" } else { "SCRIPT KILL" };
    server.log.warning(&format!(
        "Slow script detected: still in execution after {elapsed} milliseconds. You can try killing the script using the {kill} command. Script name is: {}.",
        String::from_utf8_lossy(run.name())
    ));
}

/// Registers the `redis` table (without the debugger's functions and
/// `replicate_commands` in the functions VM, as in Redis).
pub unsafe fn open(state: *mut lua_State, functions: bool) {
    lua::lua_createtable(state, 0, 32);
    let table_functions: &[(&std::ffi::CStr, lua::lua_CFunction)] = &[
        (c"call", redis_call),
        (c"pcall", redis_pcall),
        (c"error_reply", error_reply),
        (c"status_reply", status_reply),
        (c"sha1hex", sha1hex),
        (c"log", log),
        (c"setresp", setresp),
        (c"set_repl", set_repl),
        (c"replicate_commands", replicate_commands),
        (c"breakpoint", breakpoint),
        (c"debug", debug),
        (c"acl_check_cmd", acl_check_cmd),
    ];
    for (name, f) in table_functions {
        if functions && [c"replicate_commands", c"breakpoint", c"debug"].contains(name) {
            continue;
        }
        lua::lua_pushcfunction(state, *f);
        lua::lua_setfield(state, -2, name.as_ptr());
    }
    let numbers: &[(&std::ffi::CStr, i64)] = &[
        (c"LOG_DEBUG", 0),
        (c"LOG_VERBOSE", 1),
        (c"LOG_NOTICE", 2),
        (c"LOG_WARNING", 3),
        (c"REPL_NONE", REPL_NONE as i64),
        (c"REPL_AOF", REPL_AOF as i64),
        (c"REPL_SLAVE", REPL_REPLICA as i64),
        (c"REPL_REPLICA", REPL_REPLICA as i64),
        (c"REPL_ALL", REPL_ALL as i64),
        (c"REDIS_VERSION_NUM", version_num()),
    ];
    for (name, value) in numbers {
        lua::lua_pushnumber(state, *value as f64);
        lua::lua_setfield(state, -2, name.as_ptr());
    }
    push_str(state, crate::server::REDIS_VERSION);
    lua::lua_setfield(state, -2, c"REDIS_VERSION".as_ptr());
    push_str(state, "redis");
    lua::lua_insert(state, -2);
    lua::lua_rawset(state, lua::LUA_GLOBALSINDEX);
}

/// 7.0.15 as 0x00MMmmpp.
fn version_num() -> i64 {
    let mut parts = crate::server::REDIS_VERSION.split('.').map(|p| p.parse::<i64>().unwrap_or(0));
    let (major, minor, patch) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (major << 16) | (minor << 8) | patch
}

/// Pushes `{err = message}`; errors a command already counted in the
/// error statistics carry Redis's flag so that the script's own error
/// reply does not count them again.
pub unsafe fn push_error_table(state: *mut lua_State, message: &[u8], counted: bool) {
    lua::lua_createtable(state, 0, 2);
    push_bytes(state, message);
    lua::lua_setfield(state, -2, c"err".as_ptr());
    if counted {
        lua::lua_pushboolean(state, 1);
        lua::lua_setfield(state, -2, c"ignore_error_stats_update".as_ptr());
    }
}

/// Raises `{err = message}` (not counted yet).
unsafe fn raise_message(state: *mut lua_State, message: &str) -> ! {
    push_error_table(state, message.as_bytes(), false);
    raise(state)
}

unsafe extern "C-unwind" fn redis_call(state: *mut lua_State) -> c_int {
    call_common(state, true)
}

unsafe extern "C-unwind" fn redis_pcall(state: *mut lua_State) -> c_int {
    call_common(state, false)
}

/// `redis.call` raises a command's error; `redis.pcall` returns it as a
/// table. Either way the reply (or the error table) is pushed.
unsafe fn call_common(state: *mut lua_State, raise_errors: bool) -> c_int {
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| call_and_push(state)));
    let is_error = outcome.unwrap_or_else(|_| {
        push_error_table(state, b"ERR internal error running the command", false);
        true
    });
    if is_error && raise_errors {
        raise(state)
    }
    1
}

/// Runs the command the arguments name and pushes its reply; true if
/// the pushed value is an error table.
unsafe fn call_and_push(state: *mut lua_State) -> bool {
    let argc = lua::lua_gettop(state);
    if argc == 0 {
        push_error_table(state, b"ERR Please specify at least one argument for this redis lib call", false);
        return true;
    }
    // Strings are read where they are on the stack (they stay there, so
    // alive, until the command has run); numbers are formatted.
    let mut numbers: SmallVec<[(usize, SmallVec<[u8; 24]>); 2]> = SmallVec::new();
    let mut argv: SmallVec<[&[u8]; 8]> = SmallVec::with_capacity(argc as usize);
    for i in 1..=argc {
        match lua::lua_type(state, i) {
            lua::LUA_TSTRING => argv.push(borrow_bytes(state, i).unwrap_or_default()),
            lua::LUA_TNUMBER => {
                numbers.push((argv.len(), format_number(lua::lua_tonumber(state, i))));
                argv.push(b"");
            }
            _ => {
                push_error_table(state, b"ERR Lua redis lib command arguments must be strings or integers", false);
                return true;
            }
        }
    }
    for (at, text) in &numbers {
        argv[*at] = text.as_slice();
    }
    let logging = super::ldb::logging();
    if logging {
        super::ldb::log_command(&argv);
    }
    let Some(run) = current() else {
        lua::lua_settop(state, 0);
        push_error_table(state, b"ERR redis.call is only available while a script runs", false);
        return true;
    };
    let ran = run_command(run, &argv);
    drop(argv);
    // The arguments are used: free their stack slots for the reply (a
    // call may use the whole stack for its arguments).
    lua::lua_settop(state, 0);
    match ran {
        Err((message, counted)) => {
            if logging {
                super::ldb::log_error(&message);
            }
            push_error_table(state, &message, counted);
            true
        }
        Ok(()) => {
            let reply = std::mem::take(&mut (*run.script_client).out.buf);
            let mut position = 0;
            let is_error = reply.first() == Some(&b'-');
            if logging {
                if is_error {
                    let end = reply.windows(2).position(|w| w == b"\r\n").unwrap_or(reply.len());
                    let mut line = b"<error> ".to_vec();
                    line.extend_from_slice(&reply[..end]);
                    super::ldb::log(line);
                }
                super::ldb::log_reply(&reply);
            }
            push_reply(state, &reply, &mut position, 0);
            if is_error {
                // A command's error was counted when it was replied.
                lua::lua_pushboolean(state, 1);
                lua::lua_setfield(state, -2, c"ignore_error_stats_update".as_ptr());
            }
            (*run.script_client).out.buf = reply;
            is_error
        }
    }
}

/// A number argument as Redis passes it to a command (`%.17g`), without
/// going through printf for the usual case, a whole number.
fn format_number(n: f64) -> SmallVec<[u8; 24]> {
    let mut text = SmallVec::new();
    if n.fract() == 0.0 && n.abs() < 1e15 && !(n == 0.0 && n.is_sign_negative()) {
        let whole = n as i64;
        if whole < 0 {
            text.push(b'-');
        }
        let mut digits = [0u8; 20];
        text.extend_from_slice(number::format_u64(&mut digits, whole.unsigned_abs()));
    } else {
        let mut printed = Vec::new();
        number::write_f64_g17(&mut printed, n);
        text.extend_from_slice(&printed);
    }
    text
}

/// Checks a script's command as Redis does, then runs it as the script's
/// client. Its reply is in the script client's buffer; a refusal is an
/// error message (and whether it was counted).
unsafe fn run_command(run: &mut Run, argv: &[&[u8]]) -> Result<(), (Vec<u8>, bool)> {
    let ctx = &mut *run.ctx;
    let refuse = |message: &str| Err((message.as_bytes().to_vec(), false));
    let Some(cmd) = table().resolve(argv) else {
        return refuse("ERR Unknown Redis command called from script");
    };
    if !cmd.arity_ok(argv.len()) {
        return refuse("ERR Wrong number of args calling Redis command from script");
    }
    let Some(handler) = handlers().get(cmd.id) else {
        return refuse("ERR This Redis command is not allowed from script");
    };
    if cmd.is(CommandFlags::NOSCRIPT) && !ctx.server.scripts.deny_scripts_disabled.load(Ordering::Relaxed) {
        return refuse("ERR This Redis command is not allowed from script");
    }
    if let Err(denied) = crate::acl::check_and_log(ctx.server, ctx.client, cmd, argv, crate::acl::Context::Lua) {
        let message = format!("ERR The user executing the script {}", denied.script_message());
        ctx.server.counters(cmd.id).rejected.fetch_add(1, Ordering::Relaxed);
        count_error(ctx.server, message.as_bytes());
        return Err((message.into_bytes(), true));
    }
    if let Some(message) = rejection(ctx.server, run, cmd, ctx.caller_is_obeyed()) {
        // Rejected before running: counted as Redis counts a rejected call.
        ctx.server.counters(cmd.id).rejected.fetch_add(1, Ordering::Relaxed);
        count_error(ctx.server, message.as_bytes());
        return Err((message.as_bytes().to_vec(), true));
    }
    let script_client = &mut *run.script_client;
    script_client.out.buf.clear();
    script_client.out.protocol = if run.resp3 { Protocol::Resp3 } else { Protocol::Resp2 };
    // The command runs as the script's client, into its reply buffer.
    let caller_client = std::mem::replace(&mut ctx.client, &mut script_client.client);
    let caller_out = std::mem::replace(&mut ctx.out, &mut script_client.out);
    let (saved_cmd, saved_in_script) = (ctx.cmd, ctx.in_script);
    ctx.cmd = cmd;
    ctx.in_script = true;
    let db = ctx.client.db;
    let before = ctx.tx.as_mut().map(|tx| {
        tx.db = db;
        (tx.dirty, tx.effects.len())
    });
    let _ = execute(ctx, Caller::Script, handler, argv, shoal_engine::clock_hint::start_ns());
    run.called_readonly |= cmd.is(CommandFlags::READONLY);
    ctx.cmd = saved_cmd;
    ctx.in_script = saved_in_script;
    ctx.client = caller_client;
    ctx.out = caller_out;
    let caller_db = ctx.client.db;
    if let (Some(tx), Some((dirty, effects))) = (ctx.tx.as_mut(), before) {
        tx.db = caller_db;
        if tx.dirty > dirty {
            ctx.server.scripts.wrote.store(true, Ordering::Release);
        }
        apply_repl(&mut tx.effects, effects, run.repl);
    }
    Ok(())
}

/// `redis.set_repl`: keeps what the script's command would propagate only
/// where the script said: nowhere, to the append-only file alone, to
/// replicas alone, or to both.
fn apply_repl(effects: &mut Vec<shoal_engine::Effect>, from: usize, repl: u8) {
    match repl {
        REPL_NONE => effects.truncate(from),
        REPL_REPLICA => effects[from..].iter_mut().for_each(|e| e.replicas_only = true),
        REPL_AOF => effects[from..].iter_mut().for_each(|e| e.aof_only = true),
        _ => {}
    }
}

/// Why a command the script calls must not run, as Redis decides it
/// before calling: a stale replica, writes from read-only scripts, and —
/// until the script's first write, after which it cannot stop halfway —
/// writes on a read-only replica or a fenced master, after a persistence
/// error, without
/// enough good replicas, or under OOM. `obeyed`: the script's caller is
/// the master's stream or a file being loaded.
fn rejection(server: &Server, run: &Run, cmd: &Command, obeyed: bool) -> Option<Cow<'static, str>> {
    if !obeyed && server.stale_refused() && !cmd.is(CommandFlags::STALE) {
        return Some("ERR Can not execute the command on a stale replica".into());
    }
    let writes = cmd.is(CommandFlags::WRITE);
    if run.read_only && (writes || cmd.is(CommandFlags::MAY_REPLICATE)) {
        return Some("ERR Write commands are not allowed from read-only scripts.".into());
    }
    let wrote = server.scripts.wrote.load(Ordering::Acquire);
    if writes && !wrote {
        if let Some(message) = server.role_refuses_writes().filter(|_| !obeyed) {
            return Some(message.into());
        }
        if let Some(message) = server.writes_refused() {
            return Some(message.into());
        }
        if !server.enough_good_replicas() {
            return Some("NOREPLICAS Not enough good replicas to write.".into());
        }
    }
    let deny_oom = run.checks_oom_per_command && cmd.is(CommandFlags::DENYOOM);
    if deny_oom && !obeyed && !wrote && crate::evict::over_limit(server) {
        return Some("OOM command not allowed when used memory > 'maxmemory'.".into());
    }
    None
}

/// Counts an error reply the script's command got without writing it.
fn count_error(server: &Server, message: &[u8]) {
    server.engine.stats.incr(shoal_engine::Stat::TotalErrorReplies);
    let code = message.split(|&b| b == b' ').next().unwrap_or(b"ERR");
    server.count_error(&String::from_utf8_lossy(code));
}

// ---------------------------------------------------------------------
// Replies to Lua values.

/// Pushes the reply at `bytes[*position..]` as a Lua value (Redis 7.0's
/// conversion: RESP2 nulls as false, status and error replies as tables
/// with `ok`/`err`, RESP3 types as tables naming their type).
unsafe fn push_reply(state: *mut lua_State, bytes: &[u8], position: &mut usize, depth: usize) {
    if lua::lua_checkstack(state, 4) == 0 || depth > MAX_REPLY_DEPTH {
        lua::lua_pushnil(state);
        return;
    }
    let Some((&kind, rest)) = bytes[*position..].split_first() else {
        lua::lua_pushnil(state);
        return;
    };
    let line_end = rest.windows(2).position(|w| w == b"\r\n").unwrap_or(rest.len());
    let line = &rest[..line_end];
    *position += 1 + line_end + 2;
    let count = || number::parse_i64(line).unwrap_or(-1);
    match kind {
        b'+' => push_field_table(state, c"ok", line),
        b'-' => push_field_table(state, c"err", line),
        b':' => lua::lua_pushnumber(state, count() as f64),
        b'$' | b'=' => {
            let len = count();
            if len < 0 {
                lua::lua_pushboolean(state, 0);
                return;
            }
            let data = &bytes[*position..*position + len as usize];
            *position += len as usize + 2;
            if kind == b'=' {
                lua::lua_createtable(state, 0, 1);
                lua::lua_createtable(state, 0, 2);
                push_bytes(state, &data[..3.min(data.len())]);
                lua::lua_setfield(state, -2, c"format".as_ptr());
                push_bytes(state, data.get(4..).unwrap_or_default());
                lua::lua_setfield(state, -2, c"string".as_ptr());
                lua::lua_setfield(state, -2, c"verbatim_string".as_ptr());
            } else {
                push_bytes(state, data);
            }
        }
        b'*' | b'>' => {
            let len = count();
            if len < 0 {
                lua::lua_pushboolean(state, 0);
                return;
            }
            lua::lua_createtable(state, len as c_int, 0);
            for i in 0..len {
                push_reply(state, bytes, position, depth + 1);
                lua::lua_rawseti_(state, -2, i as c_int + 1);
            }
        }
        b'%' | b'~' => {
            let len = count().max(0);
            let is_map = kind == b'%';
            lua::lua_createtable(state, 0, 1);
            lua::lua_createtable(state, 0, len as c_int);
            for _ in 0..len {
                push_reply(state, bytes, position, depth + 1);
                if is_map {
                    push_reply(state, bytes, position, depth + 1);
                } else {
                    lua::lua_pushboolean(state, 1);
                }
                if lua::lua_type(state, -2) == lua::LUA_TNIL {
                    lua::lua_pop(state, 2);
                } else {
                    lua::lua_rawset(state, -3);
                }
            }
            lua::lua_setfield(state, -2, if is_map { c"map".as_ptr() } else { c"set".as_ptr() });
        }
        b'_' => lua::lua_pushnil(state),
        b'#' => lua::lua_pushboolean(state, c_int::from(line == b"t")),
        b',' => {
            lua::lua_createtable(state, 0, 1);
            lua::lua_pushnumber(state, number::parse_f64(line).unwrap_or(f64::NAN));
            lua::lua_setfield(state, -2, c"double".as_ptr());
        }
        b'(' => push_field_table(state, c"big_number", line),
        b'|' => {
            // Attributes carry nothing a script sees: skip them.
            for _ in 0..count().max(0) * 2 {
                push_reply(state, bytes, position, depth + 1);
                lua::lua_pop(state, 1);
            }
            push_reply(state, bytes, position, depth);
        }
        _ => lua::lua_pushnil(state),
    }
}

unsafe fn push_field_table(state: *mut lua_State, field: &std::ffi::CStr, value: &[u8]) {
    lua::lua_createtable(state, 0, 1);
    push_bytes(state, value);
    lua::lua_setfield(state, -2, field.as_ptr());
}

// ---------------------------------------------------------------------
// Lua values to replies.

/// Writes the Lua value at `index` as a reply (Redis 7.0's conversion:
/// numbers truncated to integers, `true` as 1, `false` and nil as null,
/// tables by their `err`/`ok`/`double`/`big_number`/`map`/`set`/
/// `verbatim_string` field or as arrays up to the first nil).
///
/// Booleans follow the script's own protocol (`redis.setresp`): in RESP2
/// `true` is 1 and `false` null, in RESP3 they are booleans.
pub unsafe fn write_value(state: *mut lua_State, index: c_int, out: &mut ReplyBuf, depth: usize, resp3: bool) {
    if lua::lua_checkstack(state, 4) == 0 || depth > MAX_REPLY_DEPTH {
        out.error("ERR reached lua stack limit");
        return;
    }
    let index = lua::lua_absindex(state, index);
    match lua::lua_type(state, index) {
        lua::LUA_TSTRING => out.bulk(borrow_bytes(state, index).unwrap_or_default()),
        lua::LUA_TBOOLEAN => {
            let value = lua::lua_toboolean(state, index) != 0;
            if resp3 {
                out.bool(value);
            } else if value {
                out.int(1);
            } else {
                out.null();
            }
        }
        lua::LUA_TNUMBER => out.int(number_to_i64(lua::lua_tonumber(state, index))),
        lua::LUA_TTABLE => write_table(state, index, out, depth, resp3),
        _ => out.null(),
    }
}

/// C's cast of a double to long long on x86-64: out of range (and NaN)
/// gives the minimum, as Redis's replies show.
fn number_to_i64(n: f64) -> i64 {
    if n.is_nan() || n >= 9_223_372_036_854_775_808.0 || n < -9_223_372_036_854_775_808.0 {
        i64::MIN
    } else {
        n as i64
    }
}

unsafe fn write_table(state: *mut lua_State, index: c_int, out: &mut ReplyBuf, depth: usize, resp3: bool) {
    if let Some(message) = raw_string_field(state, index, c"err") {
        let mut line = vec![b'-'];
        line.extend(message.iter().map(|&c| if c == b'\r' || c == b'\n' { b' ' } else { c }));
        line.extend_from_slice(b"\r\n");
        out.raw(&line);
        return;
    }
    if let Some(status) = raw_string_field(state, index, c"ok") {
        out.simple_bytes(&status);
        return;
    }
    if raw_field_type(state, index, c"double") == lua::LUA_TNUMBER {
        push_str(state, "double");
        lua::lua_rawget_(state, index);
        let d = lua::lua_tonumber(state, -1);
        lua::lua_pop(state, 1);
        out.double(d);
        return;
    }
    if let Some(mut digits) = raw_string_field(state, index, c"big_number") {
        // A line of its own in RESP3: newlines become spaces, as Redis does.
        digits.iter_mut().filter(|c| **c == b'\r' || **c == b'\n').for_each(|c| *c = b' ');
        out.big_number(&digits);
        return;
    }
    if raw_field_type(state, index, c"map") == lua::LUA_TTABLE {
        push_str(state, "map");
        lua::lua_rawget_(state, index);
        write_pairs(state, out, depth, true, resp3);
        lua::lua_pop(state, 1);
        return;
    }
    if raw_field_type(state, index, c"set") == lua::LUA_TTABLE {
        push_str(state, "set");
        lua::lua_rawget_(state, index);
        write_pairs(state, out, depth, false, resp3);
        lua::lua_pop(state, 1);
        return;
    }
    if raw_field_type(state, index, c"verbatim_string") == lua::LUA_TTABLE {
        push_str(state, "verbatim_string");
        lua::lua_rawget_(state, index);
        let format = raw_string_field(state, lua::lua_gettop(state), c"format");
        let text = raw_string_field(state, lua::lua_gettop(state), c"string");
        lua::lua_pop(state, 1);
        if let (Some(format), Some(text)) = (format, text) {
            out.verbatim(&String::from_utf8_lossy(&format), &text);
            return;
        }
    }
    // An array: elements 1, 2, ... up to the first nil.
    let deferred = out.begin_deferred(shoal_resp::reply::Aggregate::Array);
    let mut len = 0;
    loop {
        lua::lua_rawgeti_(state, index, len as c_int + 1);
        if lua::lua_type(state, -1) == lua::LUA_TNIL {
            lua::lua_pop(state, 1);
            break;
        }
        write_value(state, -1, out, depth + 1, resp3);
        lua::lua_pop(state, 1);
        len += 1;
    }
    out.finish_deferred(deferred, len);
}

/// The table on top of the stack as a map (or set: its keys).
unsafe fn write_pairs(state: *mut lua_State, out: &mut ReplyBuf, depth: usize, is_map: bool, resp3: bool) {
    let table = lua::lua_gettop(state);
    let kind = if is_map { shoal_resp::reply::Aggregate::Map } else { shoal_resp::reply::Aggregate::Set };
    let deferred = out.begin_deferred(kind);
    let mut len = 0;
    lua::lua_pushnil(state);
    while lua::lua_next(state, table) != 0 {
        write_value(state, -2, out, depth + 1, resp3);
        if is_map {
            write_value(state, -1, out, depth + 1, resp3);
        }
        lua::lua_pop(state, 1);
        len += 1;
    }
    out.finish_deferred(deferred, len);
}

pub unsafe fn raw_field_type(state: *mut lua_State, index: c_int, name: &std::ffi::CStr) -> c_int {
    push_bytes(state, name.to_bytes());
    lua::lua_rawget_(state, index);
    let t = lua::lua_type(state, -1);
    lua::lua_pop(state, 1);
    t
}

pub unsafe fn raw_string_field(state: *mut lua_State, index: c_int, name: &std::ffi::CStr) -> Option<Vec<u8>> {
    push_bytes(state, name.to_bytes());
    lua::lua_rawget_(state, index);
    let value = if lua::lua_type(state, -1) == lua::LUA_TSTRING { to_bytes(state, -1) } else { None };
    lua::lua_pop(state, 1);
    value
}

// ---------------------------------------------------------------------
// The other functions of the `redis` table.

unsafe extern "C-unwind" fn error_reply(state: *mut lua_State) -> c_int {
    if lua::lua_gettop(state) != 1 || lua::lua_type(state, 1) != lua::LUA_TSTRING {
        push_error_table(state, b"ERR wrong number or type of arguments", false);
        return 1;
    }
    let message = error_text(borrow_bytes(state, 1).unwrap_or_default());
    push_error_table(state, &message, false);
    1
}

/// An error text as Redis stores it in an error table: a leading `-`
/// dropped, `ERR ` added when there is no code (a first word followed by
/// more), trailing newlines trimmed.
fn error_text(message: &[u8]) -> Vec<u8> {
    let body = message.strip_prefix(b"-").unwrap_or(message);
    let mut text = if body.contains(&b' ') { body.to_vec() } else { [b"ERR ".as_slice(), body].concat() };
    while text.last().is_some_and(|&c| c == b'\r' || c == b'\n') {
        text.pop();
    }
    text
}

unsafe extern "C-unwind" fn status_reply(state: *mut lua_State) -> c_int {
    if lua::lua_gettop(state) != 1 || lua::lua_type(state, 1) != lua::LUA_TSTRING {
        push_error_table(state, b"ERR wrong number or type of arguments", false);
        return 1;
    }
    let status = borrow_bytes(state, 1).unwrap_or_default().to_vec();
    push_field_table(state, c"ok", &status);
    1
}

unsafe extern "C-unwind" fn sha1hex(state: *mut lua_State) -> c_int {
    if lua::lua_gettop(state) != 1 {
        raise_message(state, "ERR wrong number of arguments");
    }
    let data = to_bytes(state, 1).unwrap_or_default();
    let hex = sha1_hex(&data);
    push_bytes(state, hex.as_bytes());
    1
}

unsafe extern "C-unwind" fn log(state: *mut lua_State) -> c_int {
    let argc = lua::lua_gettop(state);
    if argc < 2 {
        raise_message(state, "ERR redis.log() requires two arguments or more.");
    }
    if lua::lua_type(state, 1) != lua::LUA_TNUMBER {
        raise_message(state, "ERR First argument must be a number (log level).");
    }
    let level = match lua::lua_tonumber(state, 1) as i64 {
        0 => Level::Debug,
        1 => Level::Verbose,
        2 => Level::Notice,
        3 => Level::Warning,
        _ => raise_message(state, "ERR Invalid debug level."),
    };
    let mut message = Vec::new();
    for i in 2..=argc {
        if i > 2 {
            message.push(b' ');
        }
        message.extend_from_slice(&to_bytes(state, i).unwrap_or_default());
    }
    if let Some(run) = current() {
        (*run.ctx).server.log.log(level, &String::from_utf8_lossy(&message));
    }
    0
}

unsafe extern "C-unwind" fn setresp(state: *mut lua_State) -> c_int {
    if lua::lua_gettop(state) != 1 {
        raise_message(state, "ERR redis.setresp() requires one argument.");
    }
    let version = lua::lua_tonumber(state, 1) as i64;
    if version != 2 && version != 3 {
        raise_message(state, "ERR RESP version must be 2 or 3.");
    }
    if let Some(run) = current() {
        run.resp3 = version == 3;
    }
    0
}

unsafe extern "C-unwind" fn set_repl(state: *mut lua_State) -> c_int {
    if lua::lua_gettop(state) != 1 {
        raise_message(state, "ERR redis.set_repl() requires one argument.");
    }
    let flags = lua::lua_tonumber(state, 1) as i64;
    if !(0..=REPL_ALL as i64).contains(&flags) {
        raise_message(state, "ERR Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE.");
    }
    if let Some(run) = current() {
        run.repl = flags as u8;
    }
    0
}

/// Effects replication is the only mode since Redis 7.0: always true.
unsafe extern "C-unwind" fn replicate_commands(state: *mut lua_State) -> c_int {
    lua::lua_pushboolean(state, 1);
    1
}

/// `redis.breakpoint()`: in a debugging session, the script stops at
/// its next line (true); otherwise nothing happens (false).
unsafe extern "C-unwind" fn breakpoint(state: *mut lua_State) -> c_int {
    lua::lua_pushboolean(state, c_int::from(super::ldb::breakpoint()));
    1
}

/// `redis.debug(...)`: in a debugging session, shows the values to the
/// client; otherwise does nothing (as in Redis).
unsafe extern "C-unwind" fn debug(state: *mut lua_State) -> c_int {
    let argc = lua::lua_gettop(state);
    super::ldb::debug(state, argc);
    0
}

/// Whether the script's user may run the command the arguments name
/// (its ACL rules, keys and channels included); an unknown command is an
/// error.
unsafe extern "C-unwind" fn acl_check_cmd(state: *mut lua_State) -> c_int {
    let argc = lua::lua_gettop(state);
    if argc == 0 {
        raise_message(state, "ERR Please specify at least one argument for this redis lib call");
    }
    let args: Vec<Vec<u8>> = (1..=argc).map(|i| to_bytes(state, i).unwrap_or_default()).collect();
    let argv: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
    let Some(cmd) = table().resolve(&argv) else {
        raise_message(state, "ERR Invalid command passed to redis.acl_check_cmd()");
    };
    let allowed = match current() {
        Some(run) => crate::acl::check((*run.ctx).client, cmd, &argv).is_ok(),
        None => true,
    };
    lua::lua_pushboolean(state, c_int::from(allowed));
    1
}
