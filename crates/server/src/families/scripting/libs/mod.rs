//! The libraries Redis gives scripts beyond Lua's own: `bit`, `cjson`,
//! `cmsgpack` and `struct`, written in Rust against the C API, with the
//! behaviour of the C libraries Redis embeds (LuaBitOp, lua-cjson,
//! lua-cmsgpack, Roberto Ierusalimschy's struct).
//!
//! Functions that raise errors (`luaL_error`, `luaL_check*`) do so before
//! any Rust value with a destructor is alive, or after it was dropped.

mod bit;
mod cjson;
mod cmsgpack;
mod structs;

use std::ffi::{c_int, CStr};

use mlua_sys as lua;
use mlua_sys::lua_State;

/// Registers every library as a global table.
pub unsafe fn open_all(state: *mut lua_State) {
    register(state, c"bit", bit::FUNCTIONS);
    register(state, c"cjson", cjson::FUNCTIONS);
    cjson::add_fields(state);
    register(state, c"cmsgpack", cmsgpack::FUNCTIONS);
    register(state, c"struct", structs::FUNCTIONS);
}

/// A global table `name` holding `functions`; left out of the stack.
unsafe fn register(state: *mut lua_State, name: &CStr, functions: &[(&CStr, lua::lua_CFunction)]) {
    lua::lua_createtable(state, 0, functions.len() as c_int);
    for (field, f) in functions {
        lua::lua_pushcfunction(state, *f);
        lua::lua_setfield(state, -2, field.as_ptr());
    }
    lua::lua_setfield(state, lua::LUA_GLOBALSINDEX, name.as_ptr());
}

/// Raises a Lua error with `message`, prefixed with the position of the
/// Lua code that called the library function, as `luaL_error` does.
unsafe fn error(state: *mut lua_State, message: &str) -> ! {
    lua::luaL_where(state, 1);
    super::lua::push_str(state, message);
    lua::lua_concat(state, 2);
    super::lua::raise(state)
}

/// `error` for an owned message (dropped before raising).
unsafe fn fail(state: *mut lua_State, message: String) -> ! {
    lua::luaL_where(state, 1);
    super::lua::push_str(state, &message);
    drop(message);
    lua::lua_concat(state, 2);
    super::lua::raise(state)
}

/// The bytes of the string argument `index` (numbers converted), or a
/// Lua argument error.
unsafe fn check_bytes<'s>(state: *mut lua_State, index: c_int) -> &'s [u8] {
    let mut len = 0usize;
    let p = lua::luaL_checklstring(state, index, &mut len);
    std::slice::from_raw_parts(p as *const u8, len)
}
