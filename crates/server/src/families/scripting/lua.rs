//! The small helpers every scripting file shares over Lua's C API:
//! pushing and reading strings, raising errors, the read-only tables of
//! our patched Lua. Nothing here knows about scripts.

use std::ffi::{c_char, c_int, CStr};

use mlua_sys as lua;
use mlua_sys::lua_State;

extern "C-unwind" {
    // Declared here rather than through mlua-sys: these are the plain 5.1
    // entry points (and the read-only tables of our patched Lua).
    #[link_name = "lua_error"]
    fn lua_error_raw(state: *mut lua_State) -> c_int;
    pub fn lua_enablereadonlytable(state: *mut lua_State, idx: c_int, enabled: c_int);
}

/// Raises the error value on top of the stack. The caller must hold no
/// value with a destructor.
pub unsafe fn raise(state: *mut lua_State) -> ! {
    lua_error_raw(state);
    unreachable!("lua_error returns only by unwinding")
}

/// Nesting a reply may have before its conversion gives up (Lua's own
/// C stack limit is 200 C calls; the table walk is ours and bounded here).
pub const MAX_REPLY_DEPTH: usize = 7_900;

/// Pushes field `name` of the table at (absolute) `index`, without
/// metamethods: tables from scripts may have any.
pub unsafe fn raw_get(state: *mut lua_State, index: c_int, name: &CStr) {
    push_bytes(state, name.to_bytes());
    lua::lua_rawget_(state, index);
}

/// The string (or number, converted) at `index`.
pub unsafe fn to_bytes(state: *mut lua_State, index: c_int) -> Option<Vec<u8>> {
    let mut len = 0usize;
    let p = lua::lua_tolstring(state, index, &mut len);
    (!p.is_null()).then(|| std::slice::from_raw_parts(p as *const u8, len).to_vec())
}

/// The string at `index` borrowed from Lua (valid while it stays on the stack).
pub unsafe fn borrow_bytes<'s>(state: *mut lua_State, index: c_int) -> Option<&'s [u8]> {
    if lua::lua_type(state, index) != lua::LUA_TSTRING {
        return None;
    }
    let mut len = 0usize;
    let p = lua::lua_tolstring(state, index, &mut len);
    Some(std::slice::from_raw_parts(p as *const u8, len))
}

pub unsafe fn push_bytes(state: *mut lua_State, bytes: &[u8]) {
    lua::lua_pushlstring_(state, bytes.as_ptr() as *const c_char, bytes.len());
}

pub unsafe fn push_str(state: *mut lua_State, s: &str) {
    push_bytes(state, s.as_bytes());
}

