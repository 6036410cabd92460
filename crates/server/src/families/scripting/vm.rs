//! The Lua 5.1 VM scripts and functions run in: its creation and sandbox,
//! compiling, calling with Redis's error conventions, and the kill hook.
//!
//! A server has one VM, in `Scripts::vm` under a lock: the thread that
//! holds it (the script thread, or a worker running a script call itself,
//! see `crate::offload`) is the only one using the VM. The sandbox is Redis 7.0's: a fixed set of libraries, globals and
//! library tables read-only (a patched Lua, see vendor/lua-src/PATCHES.md),
//! reading an unknown global an error, `debug` only for the error handler.
//!
//! Raw C API throughout: the callbacks must raise Lua errors (tables such as
//! `{err = "..."}`) and run Redis commands in the middle of a call, which a
//! wrapper's ownership rules would only get in the way of. Every function
//! that may raise (`lua_error`) holds no Rust value with a destructor at
//! that point.

use std::ffi::{c_char, c_int, CStr};

use mlua_sys as lua;
use mlua_sys::lua_State;

use super::libs;
use super::lua::{lua_enablereadonlytable, push_bytes, push_str, raise, raw_get, to_bytes};
use super::redis_lib;


/// NUL bytes after a chunk's source while it compiles.
const SOURCE_PADDING_BYTES: usize = 64;

/// Instructions between two calls of the hook that notices SCRIPT KILL
/// (Redis's figure: about a millisecond of Lua).
pub const HOOK_INSTRUCTIONS: c_int = 100_000;

/// Libraries visible to scripts as globals, besides the base functions.
const LIBRARY_GLOBALS: &[&str] = &["string", "table", "math", "coroutine", "redis", "bit", "cjson", "cmsgpack", "struct"];

/// Base functions Redis 7.0 leaves out of the sandbox.
const REMOVED_GLOBALS: &[&str] = &["dofile", "loadfile", "print", "setfenv", "getfenv", "newproxy", "module", "require", "debug"];

/// The VM with its state pointer. Dropping it closes the state.
pub struct Vm {
    pub state: *mut lua_State,
    /// Registry reference of the error handler (see `ERROR_HANDLER`).
    error_handler: c_int,
}

/// Lua source of the error handler every call runs under: it turns any
/// error into a table `{err = <message>, source = ..., line = ...}` naming
/// where in the user's code it was raised (the first frame that is not a
/// C function, such as `error` or `redis.call`, nor one of our own chunks).
const ERROR_HANDLER: &str = r#"
local getinfo, type, tostring, byte = debug.getinfo, type, tostring, string.byte
-- Frames of C functions and of Shoal's own chunks (named "=...") are
-- not where the user's code raised the error.
local function ours(info)
  return info.what == 'C' or byte(info.source, 1) == 61
end
return function(err)
  local level = 2
  local info = getinfo(level, 'Sl')
  while info and ours(info) do
    level = level + 1
    info = getinfo(level, 'Sl')
  end
  local result
  if type(err) == 'table' then
    result = {err = err.err, ignore_error_stats_update = err.ignore_error_stats_update}
  else
    result = {err = 'ERR ' .. tostring(err)}
  end
  if info then
    result.source = info.source
    result.line = info.currentline
  end
  return result
end
"#;

/// Reading a global that does not exist is an error, as in Redis.
const MISSING_GLOBAL: &str = r#"
local error, tostring = error, tostring
return function(_, name)
  error("Script attempted to access nonexistent global variable '" .. tostring(name) .. "'", 2)
end
"#;

/// What a call of Lua code produced.
pub enum CallError {
    /// The code raised an error: Redis's message, and where (`@user_script:3`).
    Raised {
        message: Vec<u8>,
        location: Option<(Vec<u8>, i64)>,
        /// The error statistics counted it already (a command's error).
        counted: bool,
    },
}

impl Vm {
    /// A VM with Redis 7.0's libraries and sandbox; the functions VM's
    /// `redis` table lacks what only EVAL scripts have.
    pub fn new(functions: bool) -> Vm {
        unsafe {
            let state = lua::luaL_newstate();
            assert!(!state.is_null(), "Lua could not allocate its state");
            for (name, open) in [
                ("", lua::luaopen_base as lua::lua_CFunction),
                ("table", lua::luaopen_table),
                ("string", lua::luaopen_string),
                ("math", lua::luaopen_math),
                ("debug", lua::luaopen_debug),
            ] {
                lua::lua_pushcfunction(state, open);
                push_str(state, name);
                lua::lua_call(state, 1, 0);
            }
            libs::open_all(state);
            redis_lib::open(state, functions);
            let error_handler = run_chunk_to_ref(state, ERROR_HANDLER, "=error_handler");
            // Redis exposes its error handler as a global of this name.
            lua::lua_rawgeti_(state, lua::LUA_REGISTRYINDEX, error_handler);
            set_global(state, "__redis__err__handler");
            for name in REMOVED_GLOBALS {
                lua::lua_pushnil(state);
                set_global(state, name);
            }
            let vm = Vm { state, error_handler };
            vm.protect();
            vm
        }
    }

    /// Makes the globals and every library table read-only, and reading a
    /// missing global an error.
    unsafe fn protect(&self) {
        let state = self.state;
        for name in LIBRARY_GLOBALS {
            get_global(state, name);
            if lua::lua_type(state, -1) == lua::LUA_TTABLE {
                lua_enablereadonlytable(state, -1, 1);
            }
            lua::lua_pop(state, 1);
        }
        // Strings' metatable and its __index (the string library) are
        // shared by every string: a script must not change them
        // (CVE-2025-46818).
        push_str(state, "");
        if lua::lua_getmetatable(state, -1) != 0 {
            lua_enablereadonlytable(state, -1, 1);
            lua::lua_pop(state, 1);
        }
        lua::lua_pop(state, 1);
        // The globals table: a metatable reporting missing globals, then
        // read-only (which also freezes its metatable).
        lua::lua_createtable(state, 0, 1);
        let handler = run_chunk_to_ref(state, MISSING_GLOBAL, "=sandbox");
        lua::lua_rawgeti_(state, lua::LUA_REGISTRYINDEX, handler);
        lua::luaL_unref(state, lua::LUA_REGISTRYINDEX, handler);
        lua::lua_setfield(state, -2, c"__index".as_ptr());
        lua_enablereadonlytable(state, -1, 1);
        lua::lua_setmetatable(state, lua::LUA_GLOBALSINDEX);
        lua_enablereadonlytable(state, lua::LUA_GLOBALSINDEX, 1);
    }

    /// Sets a global despite the protection (KEYS and ARGV before a run).
    pub fn set_global_array(&self, name: &str, items: &[&[u8]]) {
        unsafe {
            let state = self.state;
            lua::lua_createtable(state, items.len() as c_int, 0);
            for (i, item) in items.iter().enumerate() {
                push_bytes(state, item);
                lua::lua_rawseti_(state, -2, i as c_int + 1);
            }
            lua_enablereadonlytable(state, lua::LUA_GLOBALSINDEX, 0);
            set_global(state, name);
            lua_enablereadonlytable(state, lua::LUA_GLOBALSINDEX, 1);
        }
    }

    /// Compiles `source` as chunk `name` (shown as `user_script` in
    /// messages) and keeps the function in the registry; returns its
    /// reference, or Lua's error message.
    pub fn compile(&self, source: &[u8], name: &CStr) -> Result<c_int, Vec<u8>> {
        // The lexer reads from a copy followed by NUL bytes, so a read past
        // the end of the chunk (the class of CVE-2025-46819) stays inside
        // memory we own and reads zeros; Lua strings (`loadstring`) are
        // NUL-terminated already.
        let mut padded = Vec::with_capacity(source.len() + SOURCE_PADDING_BYTES);
        padded.extend_from_slice(source);
        padded.resize(source.len() + SOURCE_PADDING_BYTES, 0);
        unsafe {
            let state = self.state;
            let status = lua::luaL_loadbuffer(state, padded.as_ptr() as *const c_char, source.len(), name.as_ptr());
            if status != 0 {
                let message = to_bytes(state, -1).unwrap_or_default();
                lua::lua_pop(state, 1);
                return Err(message);
            }
            Ok(lua::luaL_ref(state, lua::LUA_REGISTRYINDEX))
        }
    }

    /// Calls the function `function` (a registry reference) with the
    /// arguments `push_args` pushes (returning how many), under the error
    /// handler and the kill hook. On success the single result is left on
    /// the stack for the caller to convert and pop.
    pub fn call(&self, function: c_int, push_args: impl FnOnce(*mut lua_State) -> c_int) -> Result<(), CallError> {
        unsafe {
            let state = self.state;
            lua::lua_rawgeti_(state, lua::LUA_REGISTRYINDEX, self.error_handler);
            let handler_index = lua::lua_gettop(state);
            lua::lua_rawgeti_(state, lua::LUA_REGISTRYINDEX, function);
            let nargs = push_args(state);
            if super::ldb::active() {
                lua::lua_sethook(state, Some(debug_hook), lua::LUA_MASKLINE | lua::LUA_MASKCOUNT, HOOK_INSTRUCTIONS);
            } else {
                lua::lua_sethook(state, Some(kill_hook), lua::LUA_MASKCOUNT, HOOK_INSTRUCTIONS);
            }
            let status = lua::lua_pcall(state, nargs, 1, handler_index);
            lua::lua_sethook(state, None, 0, 0);
            lua::lua_remove(state, handler_index);
            if status == 0 {
                return Ok(());
            }
            let error = read_error(state, -1);
            lua::lua_pop(state, 1);
            Err(error)
        }
    }

    /// Bytes Lua has allocated (INFO used_memory_lua).
    pub fn memory_bytes(&self) -> u64 {
        unsafe {
            let kb = lua::lua_gc(self.state, lua::LUA_GCCOUNT, 0) as u64;
            let bytes = lua::lua_gc(self.state, lua::LUA_GCCOUNTB, 0) as u64;
            kb * 1024 + bytes
        }
    }

    /// A step of garbage collection between runs.
    pub fn collect_step(&self) {
        unsafe {
            lua::lua_gc(self.state, lua::LUA_GCSTEP, 1);
        }
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        unsafe { lua::lua_close(self.state) }
    }
}

/// Reads the error object the handler built (a table `{err, source,
/// line}`), or any other value as its string.
unsafe fn read_error(state: *mut lua_State, index: c_int) -> CallError {
    if lua::lua_type(state, index) != lua::LUA_TTABLE {
        let message = to_bytes(state, index).unwrap_or_else(|| b"ERR unknown error".to_vec());
        return CallError::Raised { message, location: None, counted: false };
    }
    let index = lua::lua_absindex(state, index);
    let message = field_bytes(state, index, c"err").unwrap_or_else(|| b"ERR unknown error".to_vec());
    raw_get(state, index, c"source");
    let source = to_bytes(state, -1);
    lua::lua_pop(state, 1);
    raw_get(state, index, c"line");
    let line = (lua::lua_type(state, -1) == lua::LUA_TNUMBER).then(|| lua::lua_tonumber(state, -1) as i64);
    lua::lua_pop(state, 1);
    raw_get(state, index, c"ignore_error_stats_update");
    let counted = lua::lua_toboolean(state, -1) != 0;
    lua::lua_pop(state, 1);
    CallError::Raised { message, location: source.zip(line), counted }
}

/// Field `name` of the table at `index` as bytes, if it is a string or a
/// number.
unsafe fn field_bytes(state: *mut lua_State, index: c_int, name: &CStr) -> Option<Vec<u8>> {
    raw_get(state, index, name);
    let value = match lua::lua_type(state, -1) {
        lua::LUA_TSTRING | lua::LUA_TNUMBER => to_bytes(state, -1),
        _ => None,
    };
    lua::lua_pop(state, 1);
    value
}

unsafe fn set_global(state: *mut lua_State, name: &str) {
    push_str(state, name);
    lua::lua_insert(state, -2);
    lua::lua_rawset(state, lua::LUA_GLOBALSINDEX);
}

unsafe fn get_global(state: *mut lua_State, name: &str) {
    push_str(state, name);
    lua::lua_rawget_(state, lua::LUA_GLOBALSINDEX);
}

/// Runs a chunk of our own that returns one value; keeps it in the registry.
unsafe fn run_chunk_to_ref(state: *mut lua_State, source: &str, name: &str) -> c_int {
    let name = std::ffi::CString::new(name).expect("chunk names have no NUL");
    let status = lua::luaL_loadbuffer(state, source.as_ptr() as *const c_char, source.len(), name.as_ptr());
    assert_eq!(status, 0, "Shoal's own Lua chunk compiles");
    lua::lua_call(state, 0, 1);
    lua::luaL_ref(state, lua::LUA_REGISTRYINDEX)
}

thread_local! {
    /// While a library's code runs at FUNCTION LOAD: when it must be done.
    static LOAD_DEADLINE: std::cell::Cell<Option<std::time::Instant>> = const { std::cell::Cell::new(None) };
}

/// How long a library's code may run at load (Redis's limit).
pub const LOAD_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(500);

/// Runs `f` with the load deadline set (`LOAD_TIMEOUT` from now).
pub fn with_load_deadline<R>(f: impl FnOnce() -> R) -> R {
    LOAD_DEADLINE.with(|d| d.set(Some(std::time::Instant::now() + LOAD_TIMEOUT)));
    let result = f();
    LOAD_DEADLINE.with(|d| d.set(None));
    result
}

/// The hook of a script run under the debugger (`ldb`): at every line
/// and every `HOOK_INSTRUCTIONS` instructions. The debugger may stop the
/// script there and serve its client; a kill request (SHUTDOWN NOSAVE,
/// SCRIPT KILL) or the debugger (`abort`, a protocol error) may end it.
unsafe extern "C-unwind" fn debug_hook(state: *mut lua_State, debug: *mut lua::lua_Debug) {
    if (*debug).event == lua::LUA_HOOKCOUNT {
        redis_lib::at_hook();
    }
    let mut message = redis_lib::kill_message().map(|m| m.as_bytes().to_vec());
    if message.is_none() {
        message = super::ldb::hook(state, debug);
    }
    let Some(message) = message else { return };
    if redis_lib::kill_message().is_some() {
        // Killed: no `pcall` of the script may swallow it.
        lua::lua_sethook(state, Some(kill_hook), lua::LUA_MASKLINE, 0);
    }
    lua::lua_createtable(state, 0, 1);
    push_bytes(state, &message);
    drop(message);
    lua::lua_setfield(state, -2, c"err".as_ptr());
    raise(state)
}

/// Called every `HOOK_INSTRUCTIONS` instructions: a kill request (SCRIPT
/// KILL, FUNCTION KILL, SHUTDOWN NOSAVE) ends the script with an error the
/// script cannot catch: once killed, the hook fires on every line, so a
/// `pcall` that swallows the error gets it again at once.
unsafe extern "C-unwind" fn kill_hook(state: *mut lua_State, _debug: *mut lua::lua_Debug) {
    let loading = LOAD_DEADLINE.with(|d| d.get());
    let deadline_passed = loading.is_some_and(|at| std::time::Instant::now() >= at);
    if !deadline_passed {
        redis_lib::at_hook();
    }
    if loading.is_none() {
        super::pause_if_long();
    }
    let message = if deadline_passed { Some("ERR FUNCTION LOAD timeout") } else { redis_lib::kill_message() };
    let Some(message) = message else { return };
    lua::lua_sethook(state, Some(kill_hook), lua::LUA_MASKLINE, 0);
    lua::lua_createtable(state, 0, 1);
    push_str(state, message);
    lua::lua_setfield(state, -2, c"err".as_ptr());
    raise(state)
}
