//! Function libraries (FUNCTION LOAD and the rest, FCALL): their own Lua
//! VM, as in Redis 7.0, so SCRIPT FLUSH leaves them alone.
//!
//! A library's code runs once at load, in an environment that offers only
//! `redis.register_function` (and `redis.log`); the callbacks it registers
//! keep that environment, which is then pointed at the VM's globals so
//! that they see the whole sandbox when called.

use std::collections::BTreeMap;
use std::ffi::c_int;

use mlua_sys as lua;
use mlua_sys::lua_State;

use super::flags::{ScriptFlags, FLAG_NAMES};
use super::lua::{borrow_bytes, lua_enablereadonlytable, push_str, raise};
use super::vm::{CallError, Vm};
use crate::error::CmdError;

/// One registered function.
pub struct Function {
    pub name: String,
    /// The callback (registry reference).
    pub callback: c_int,
    pub flags: ScriptFlags,
    pub description: Option<Vec<u8>>,
}

/// A loaded library.
pub struct Library {
    pub name: String,
    pub code: Vec<u8>,
    pub functions: Vec<Function>,
    /// The library's environment table (registry reference).
    environment: c_int,
}

/// The functions VM and what it holds.
pub struct Functions {
    pub vm: Vm,
    /// By name.
    pub libraries: BTreeMap<String, Library>,
    /// Function name (lower case) to its library's name.
    pub index: BTreeMap<String, String>,
    /// The environment library code loads in (registry reference).
    load_globals: c_int,
}

thread_local! {
    /// Functions registered by the library being loaded.
    static REGISTERING: std::cell::RefCell<Option<Vec<Function>>> = const { std::cell::RefCell::new(None) };
}

/// Lua source of the load-time globals: only `redis`, with the functions
/// a library may use while loading.
const LOAD_GLOBALS: &str = r#"
local setmetatable, error, tostring = setmetatable, error, tostring
local function missing(_, name)
  error("Script attempted to access nonexistent global variable '" .. tostring(name) .. "'", 2)
end
return function(register, log, redis)
  local api = {register_function = register, log = log,
    LOG_DEBUG = redis.LOG_DEBUG, LOG_VERBOSE = redis.LOG_VERBOSE,
    LOG_NOTICE = redis.LOG_NOTICE, LOG_WARNING = redis.LOG_WARNING,
    REDIS_VERSION = redis.REDIS_VERSION, REDIS_VERSION_NUM = redis.REDIS_VERSION_NUM}
  setmetatable(api, {__index = missing})
  local globals = {redis = api}
  setmetatable(globals, {__index = missing})
  return globals, api
end
"#;

impl Functions {
    pub fn new() -> Functions {
        let vm = Vm::new(true);
        let load_globals = unsafe { make_load_globals(vm.state) };
        Functions { vm, libraries: BTreeMap::new(), index: BTreeMap::new(), load_globals }
    }

    pub fn function_count(&self) -> usize {
        self.index.len()
    }

    /// FUNCTION LOAD: compiles and runs `code`, registering its functions.
    /// Returns the library's name.
    pub fn load(&mut self, code: &[u8], replace: bool) -> Result<String, CmdError> {
        let (name, source) = parse_library_shebang(code)?;
        if self.libraries.contains_key(&name) && !replace {
            return Err(CmdError::err(format!("Library '{name}' already exists")));
        }
        let chunk = self.vm.compile(&source, c"@user_function").map_err(|message| {
            let mut text = b"ERR Error compiling function: ".to_vec();
            text.extend_from_slice(&message);
            CmdError::Raw(text)
        })?;
        let (functions, environment) = match unsafe { self.run_library(chunk) } {
            Ok(done) => done,
            Err(message) => {
                let mut text = b"ERR Error registering functions: ".to_vec();
                text.extend_from_slice(&message);
                return Err(CmdError::Raw(text));
            }
        };
        let key = name.clone();
        let conflict = functions.iter().find(|f| self.index.get(&f.name.to_ascii_lowercase()).is_some_and(|lib| *lib != key));
        let error = if functions.is_empty() {
            Some("ERR No functions registered".to_string())
        } else {
            conflict.map(|f| format!("ERR Function {} already exists", f.name))
        };
        if let Some(message) = error {
            self.release(Library { name: String::new(), code: Vec::new(), functions, environment });
            return Err(CmdError::custom(message));
        }
        unsafe { self.open_environment(environment) };
        if let Some(old) = self.remove(&key) {
            self.release(old);
        }
        for f in &functions {
            self.index.insert(f.name.to_ascii_lowercase(), key.clone());
        }
        self.libraries.insert(key, Library { name: name.clone(), code: code.to_vec(), functions, environment });
        Ok(name)
    }

    /// Takes a library out of the maps (its references stay taken).
    /// Library names are case-sensitive, function names not (as in Redis).
    pub fn remove(&mut self, name: &str) -> Option<Library> {
        let library = self.libraries.remove(name)?;
        for f in &library.functions {
            self.index.remove(&f.name.to_ascii_lowercase());
        }
        Some(library)
    }

    /// Frees a library's references in the VM.
    pub fn release(&self, library: Library) {
        unsafe {
            for f in &library.functions {
                lua::luaL_unref(self.vm.state, lua::LUA_REGISTRYINDEX, f.callback);
            }
            lua::luaL_unref(self.vm.state, lua::LUA_REGISTRYINDEX, library.environment);
        }
    }

    /// The function `name`.
    pub fn find(&self, name: &[u8]) -> Option<&Function> {
        let library = self.libraries.get(super::with_lowercase(name, |key| self.index.get(key))?)?;
        library.functions.iter().find(|f| f.name.as_bytes().eq_ignore_ascii_case(name))
    }

    /// Runs the library's main chunk in a fresh load-time environment,
    /// collecting what it registers.
    unsafe fn run_library(&mut self, chunk: c_int) -> Result<(Vec<Function>, c_int), Vec<u8>> {
        let state = self.vm.state;
        // The environment: empty, read-only, reading through a metatable
        // whose __index is the load-time globals (later the VM's globals).
        lua::lua_createtable(state, 0, 0);
        lua::lua_createtable(state, 0, 1);
        lua::lua_rawgeti_(state, lua::LUA_REGISTRYINDEX, self.load_globals);
        lua::lua_setfield(state, -2, c"__index".as_ptr());
        lua::lua_setmetatable(state, -2);
        lua_enablereadonlytable(state, -1, 1);
        let environment = lua::luaL_ref(state, lua::LUA_REGISTRYINDEX);
        lua::lua_rawgeti_(state, lua::LUA_REGISTRYINDEX, chunk);
        lua::lua_rawgeti_(state, lua::LUA_REGISTRYINDEX, environment);
        lua::lua_setfenv(state, -2);
        let with_env = lua::luaL_ref(state, lua::LUA_REGISTRYINDEX);
        lua::luaL_unref(state, lua::LUA_REGISTRYINDEX, chunk);
        REGISTERING.with(|r| *r.borrow_mut() = Some(Vec::new()));
        let outcome = super::vm::with_load_deadline(|| self.vm.call(with_env, |_| 0));
        let registered = REGISTERING.with(|r| r.borrow_mut().take()).unwrap_or_default();
        lua::luaL_unref(state, lua::LUA_REGISTRYINDEX, with_env);
        match outcome {
            Ok(()) => {
                lua::lua_pop(state, 1);
                Ok((registered, environment))
            }
            Err(CallError::Raised { message, .. }) => {
                self.release(Library { name: String::new(), code: Vec::new(), functions: registered, environment });
                Err(message)
            }
        }
    }

    /// After a successful load: the library's callbacks now read the VM's
    /// globals.
    unsafe fn open_environment(&self, environment: c_int) {
        let state = self.vm.state;
        lua::lua_rawgeti_(state, lua::LUA_REGISTRYINDEX, environment);
        lua::lua_getmetatable(state, -1);
        push_str(state, "__index");
        lua::lua_pushvalue(state, lua::LUA_GLOBALSINDEX);
        lua::lua_rawset(state, -3);
        lua::lua_pop(state, 2);
    }
}

impl Drop for Functions {
    fn drop(&mut self) {
        // The VM closes with everything in it.
        self.libraries.clear();
    }
}

/// Builds the load-time globals and keeps them in the registry.
unsafe fn make_load_globals(state: *mut lua_State) -> c_int {
    let status = lua::luaL_loadbuffer(state, LOAD_GLOBALS.as_ptr() as *const _, LOAD_GLOBALS.len(), c"=load_globals".as_ptr());
    assert_eq!(status, 0, "Shoal's own Lua chunk compiles");
    lua::lua_call(state, 0, 1);
    lua::lua_pushcfunction(state, register_function);
    push_str(state, "redis");
    lua::lua_rawget_(state, lua::LUA_GLOBALSINDEX);
    lua::lua_getfield_(state, -1, c"log".as_ptr());
    lua::lua_insert(state, -2);
    lua::lua_call(state, 3, 2);
    lua_enablereadonlytable(state, -1, 1);
    lua::lua_pop(state, 1);
    lua_enablereadonlytable(state, -1, 1);
    lua::luaL_ref(state, lua::LUA_REGISTRYINDEX)
}

/// `#!lua name=<library>`: the library's name, and the source to compile
/// (its first line a comment, so line numbers stay those of the code).
fn parse_library_shebang(code: &[u8]) -> Result<(String, Vec<u8>), CmdError> {
    if !code.starts_with(b"#!") {
        return Err(CmdError::err("Missing library metadata"));
    }
    let line_end = code.iter().position(|&b| b == b'\n').unwrap_or(code.len());
    let line = String::from_utf8_lossy(&code[..line_end]).into_owned();
    let (engine, rest) = line[2..].split_once(' ').unwrap_or((&line[2..], ""));
    if !engine.eq_ignore_ascii_case("lua") {
        return Err(CmdError::err(format!("Engine '{engine}' not found")));
    }
    let mut name = None;
    for word in rest.split(' ').filter(|w| !w.is_empty()) {
        match word.strip_prefix("name=") {
            Some(_) if name.is_some() => {
                return Err(CmdError::err("Invalid metadata value, name argument was given multiple times"));
            }
            // A quoted name is the text between the quotes.
            Some(value) => name = Some(value.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(value).to_string()),
            None => return Err(CmdError::err(format!("Invalid metadata value given: {word}"))),
        }
    }
    let name = name.ok_or(CmdError::Fixed("ERR Library name was not given"))?;
    if !valid_name(&name) {
        return Err(CmdError::err(
            "Library names can only contain letters, numbers, or underscores(_) and must be at least one character long",
        ));
    }
    let mut source = code.to_vec();
    source[..2].copy_from_slice(b"--");
    Ok((name, source))
}

fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

unsafe fn raise_message(state: *mut lua_State, message: &str) -> ! {
    super::redis_lib::push_error_table(state, message.as_bytes(), false);
    raise(state)
}

/// `redis.register_function(name, callback)` or
/// `redis.register_function{function_name=, callback=, flags=, description=}`.
unsafe extern "C-unwind" fn register_function(state: *mut lua_State) -> c_int {
    let loading = REGISTERING.with(|r| r.borrow().is_some());
    if !loading {
        raise_message(state, "ERR redis.register_function can only be called on FUNCTION LOAD command");
    }
    let parsed = match lua::lua_gettop(state) {
        1 if lua::lua_type(state, 1) == lua::LUA_TTABLE => named_arguments(state),
        1 => Err("ERR calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments)."),
        2 => positional_arguments(state),
        _ => Err("ERR wrong number of arguments to redis.register_function"),
    };
    let duplicate = parsed.as_ref().is_ok_and(|(name, _, _)| {
        REGISTERING.with(|r| r.borrow().as_ref().is_some_and(|list| list.iter().any(|f| f.name.eq_ignore_ascii_case(name))))
    });
    if duplicate {
        raise_message(state, "ERR Function already exists in the library");
    }
    let (name, flags, description) = match parsed {
        Ok(parsed) => parsed,
        Err(message) => raise_message(state, message),
    };
    // The callback is on top of the stack.
    let callback = lua::luaL_ref(state, lua::LUA_REGISTRYINDEX);
    REGISTERING.with(|r| {
        if let Some(list) = r.borrow_mut().as_mut() {
            list.push(Function { name, callback, flags, description });
        }
    });
    0
}

type Registration = (String, ScriptFlags, Option<Vec<u8>>);

/// `(name, callback)`: leaves the callback on top.
unsafe fn positional_arguments(state: *mut lua_State) -> Result<Registration, &'static str> {
    let name = function_name(state, 1, "ERR first argument to redis.register_function must be a string")?;
    if lua::lua_type(state, 2) != lua::LUA_TFUNCTION {
        return Err("ERR second argument to redis.register_function must be a function");
    }
    lua::lua_pushvalue(state, 2);
    Ok((name, ScriptFlags { declared: true, ..ScriptFlags::default() }, None))
}

/// `{function_name=, callback=, flags=, description=}`: leaves the
/// callback on top.
unsafe fn named_arguments(state: *mut lua_State) -> Result<Registration, &'static str> {
    let mut name = None;
    let mut flags = ScriptFlags { declared: true, ..ScriptFlags::default() };
    let mut description = None;
    let mut has_callback = false;
    lua::lua_pushnil(state);
    while lua::lua_next(state, 1) != 0 {
        let key = borrow_bytes(state, -2).unwrap_or_default().to_vec();
        match key.as_slice() {
            b"function_name" => {
                match function_name(state, -1, "ERR function_name argument given to redis.register_function must be a string") {
                    Ok(n) => name = Some(n),
                    Err(e) => {
                        lua::lua_pop(state, 2);
                        return Err(e);
                    }
                }
            }
            b"callback" => {
                if lua::lua_type(state, -1) != lua::LUA_TFUNCTION {
                    lua::lua_pop(state, 2);
                    return Err("ERR callback argument given to redis.register_function must be a function");
                }
                has_callback = true;
            }
            b"description" => match string_or_number(state, -1) {
                Some(text) => description = Some(text),
                None => {
                    lua::lua_pop(state, 2);
                    return Err("ERR description argument given to redis.register_function must be a string");
                }
            },
            b"flags" => {
                if let Err(e) = read_flags(state, &mut flags) {
                    lua::lua_pop(state, 2);
                    return Err(e);
                }
            }
            _ => {
                lua::lua_pop(state, 2);
                return Err("ERR unknown argument given to redis.register_function");
            }
        }
        lua::lua_pop(state, 1);
    }
    let name = name.ok_or("ERR redis.register_function must get a function name argument")?;
    if !has_callback {
        return Err("ERR redis.register_function must get a callback argument");
    }
    lua::lua_getfield_(state, 1, c"callback".as_ptr());
    Ok((name, flags, description))
}

/// A string argument (a number is taken as its string, as Lua does).
unsafe fn string_or_number(state: *mut lua_State, index: c_int) -> Option<Vec<u8>> {
    match lua::lua_type(state, index) {
        lua::LUA_TSTRING => borrow_bytes(state, index).map(|b| b.to_vec()),
        lua::LUA_TNUMBER => {
            let mut text = Vec::new();
            shoal_resp::number::write_f64_g17(&mut text, lua::lua_tonumber(state, index));
            Some(text)
        }
        _ => None,
    }
}

unsafe fn function_name(state: *mut lua_State, index: c_int, not_string: &'static str) -> Result<String, &'static str> {
    let name = string_or_number(state, index).ok_or(not_string)?;
    let name = String::from_utf8_lossy(&name).into_owned();
    if !valid_name(&name) {
        return Err("ERR Library names can only contain letters, numbers, or underscores(_) and must be at least one character long");
    }
    Ok(name)
}

/// The flags table (value on top of the stack).
unsafe fn read_flags(state: *mut lua_State, flags: &mut ScriptFlags) -> Result<(), &'static str> {
    if lua::lua_type(state, -1) != lua::LUA_TTABLE {
        return Err("ERR flags argument to redis.register_function must be a table representing function flags");
    }
    let table = lua::lua_gettop(state);
    let mut i = 1;
    loop {
        lua::lua_rawgeti_(state, table, i);
        if lua::lua_type(state, -1) == lua::LUA_TNIL {
            lua::lua_pop(state, 1);
            return Ok(());
        }
        let known = borrow_bytes(state, -1).is_some_and(|f| flags.set(f));
        lua::lua_pop(state, 1);
        if !known {
            return Err("ERR unknown flag given");
        }
        i += 1;
    }
}

/// The names of a function's flags, for FUNCTION LIST.
pub fn flag_names(flags: &ScriptFlags) -> Vec<&'static str> {
    FLAG_NAMES.iter().filter(|(_, get)| get(flags)).map(|(name, _)| *name).collect()
}
