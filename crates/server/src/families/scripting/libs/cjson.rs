//! `cjson`: JSON to and from Lua values, with lua-cjson 2.1's rules:
//! numbers printed `%.14g`, `/` escaped, tables with keys 1..n (up to a
//! sparseness limit) as arrays and others as objects, `cjson.null` for
//! JSON null, nesting limits on both sides, and the configuration
//! functions (`encode_max_depth`, `encode_invalid_numbers`, ...).

use std::cell::RefCell;
use std::ffi::{c_int, CStr};

use mlua_sys as lua;
use mlua_sys::lua_State;

use super::super::lua::{borrow_bytes, push_bytes, push_str};
use super::{check_bytes, error, fail};

pub const FUNCTIONS: &[(&CStr, lua::lua_CFunction)] = &[
    (c"encode", encode),
    (c"decode", decode),
    (c"encode_sparse_array", encode_sparse_array),
    (c"encode_max_depth", encode_max_depth),
    (c"decode_max_depth", decode_max_depth),
    (c"encode_number_precision", encode_number_precision),
    (c"encode_keep_buffer", encode_keep_buffer),
    (c"encode_invalid_numbers", encode_invalid_numbers),
    (c"decode_invalid_numbers", decode_invalid_numbers),
];

/// `cjson.null`, `_NAME`, `_VERSION`.
pub unsafe fn add_fields(state: *mut lua_State) {
    lua::lua_getfield_(state, lua::LUA_GLOBALSINDEX, c"cjson".as_ptr());
    lua::lua_pushlightuserdata(state, std::ptr::null_mut());
    lua::lua_setfield(state, -2, c"null".as_ptr());
    push_str(state, "cjson");
    lua::lua_setfield(state, -2, c"_NAME".as_ptr());
    push_str(state, "2.1.0");
    lua::lua_setfield(state, -2, c"_VERSION".as_ptr());
    lua::lua_pop(state, 1);
}

/// The settings scripts change with the configuration functions (one set
/// per script thread, as lua-cjson keeps one per VM).
#[derive(Clone, Copy)]
struct Settings {
    sparse_convert: bool,
    sparse_ratio: i64,
    sparse_safe: i64,
    encode_max_depth: i64,
    decode_max_depth: i64,
    precision: i64,
    keep_buffer: bool,
    encode_invalid_numbers: u8, // 0 off, 1 on, 2 "null"
    decode_invalid_numbers: bool,
}

const DEFAULTS: Settings = Settings {
    sparse_convert: false,
    sparse_ratio: 2,
    sparse_safe: 10,
    encode_max_depth: 1000,
    decode_max_depth: 1000,
    precision: 14,
    keep_buffer: true,
    encode_invalid_numbers: 0,
    decode_invalid_numbers: true,
};

thread_local! {
    static SETTINGS: RefCell<Settings> = const { RefCell::new(DEFAULTS) };
}

fn settings() -> Settings {
    SETTINGS.with(|s| *s.borrow())
}

fn update(f: impl FnOnce(&mut Settings)) {
    SETTINGS.with(|s| f(&mut s.borrow_mut()));
}

// ---------------------------------------------------------------------
// Configuration functions: each returns the current value(s).

/// An optional integer argument within `min..=max`.
unsafe fn int_setting(state: *mut lua_State, index: c_int, min: i64, max: i64) -> Option<i64> {
    if lua::lua_type(state, index) <= lua::LUA_TNIL {
        return None;
    }
    let n = lua::luaL_checkinteger(state, index) as i64;
    if n < min || n > max {
        lua::luaL_argerror(state, index, c"expected integer in range".as_ptr());
    }
    Some(n)
}

/// An optional boolean (`on`/`off` or a boolean) argument.
unsafe fn bool_setting(state: *mut lua_State, index: c_int) -> Option<bool> {
    match lua::lua_type(state, index) {
        lua::LUA_TNONE | lua::LUA_TNIL => None,
        lua::LUA_TBOOLEAN => Some(lua::lua_toboolean(state, index) != 0),
        _ => match borrow_bytes(state, index) {
            Some(b"on") => Some(true),
            Some(b"off") => Some(false),
            _ => {
                // Raises.
                lua::luaL_argerror(state, index, c"invalid option".as_ptr());
                None
            }
        },
    }
}

unsafe extern "C-unwind" fn encode_sparse_array(state: *mut lua_State) -> c_int {
    let convert = bool_setting(state, 1);
    let ratio = int_setting(state, 2, 0, i32::MAX as i64);
    let safe = int_setting(state, 3, 0, i32::MAX as i64);
    update(|s| {
        if let Some(v) = convert {
            s.sparse_convert = v;
        }
        if let Some(v) = ratio {
            s.sparse_ratio = v;
        }
        if let Some(v) = safe {
            s.sparse_safe = v;
        }
    });
    let s = settings();
    lua::lua_pushboolean(state, c_int::from(s.sparse_convert));
    lua::lua_pushnumber(state, s.sparse_ratio as f64);
    lua::lua_pushnumber(state, s.sparse_safe as f64);
    3
}

unsafe extern "C-unwind" fn encode_max_depth(state: *mut lua_State) -> c_int {
    if let Some(v) = int_setting(state, 1, 1, i32::MAX as i64) {
        update(|s| s.encode_max_depth = v);
    }
    lua::lua_pushnumber(state, settings().encode_max_depth as f64);
    1
}

unsafe extern "C-unwind" fn decode_max_depth(state: *mut lua_State) -> c_int {
    if let Some(v) = int_setting(state, 1, 1, i32::MAX as i64) {
        update(|s| s.decode_max_depth = v);
    }
    lua::lua_pushnumber(state, settings().decode_max_depth as f64);
    1
}

unsafe extern "C-unwind" fn encode_number_precision(state: *mut lua_State) -> c_int {
    if let Some(v) = int_setting(state, 1, 1, 14) {
        update(|s| s.precision = v);
    }
    lua::lua_pushnumber(state, settings().precision as f64);
    1
}

unsafe extern "C-unwind" fn encode_keep_buffer(state: *mut lua_State) -> c_int {
    if let Some(v) = bool_setting(state, 1) {
        update(|s| s.keep_buffer = v);
    }
    lua::lua_pushboolean(state, c_int::from(settings().keep_buffer));
    1
}

unsafe extern "C-unwind" fn encode_invalid_numbers(state: *mut lua_State) -> c_int {
    let value = if borrow_bytes(state, 1) == Some(b"null") { Some(2) } else { bool_setting(state, 1).map(u8::from) };
    if let Some(v) = value {
        update(|s| s.encode_invalid_numbers = v);
    }
    match settings().encode_invalid_numbers {
        2 => push_str(state, "null"),
        v => lua::lua_pushboolean(state, c_int::from(v)),
    }
    1
}

unsafe extern "C-unwind" fn decode_invalid_numbers(state: *mut lua_State) -> c_int {
    if let Some(v) = bool_setting(state, 1) {
        update(|s| s.decode_invalid_numbers = v);
    }
    lua::lua_pushboolean(state, c_int::from(settings().decode_invalid_numbers));
    1
}

// ---------------------------------------------------------------------
// Encoding.

unsafe extern "C-unwind" fn encode(state: *mut lua_State) -> c_int {
    if lua::lua_gettop(state) != 1 {
        error(state, "bad argument #1 to 'encode' (expected 1 argument)");
    }
    let mut out = Vec::new();
    let result = encode_value(state, 1, &mut out, 0, &settings());
    match result {
        Ok(()) => {
            push_bytes(state, &out);
            drop(out);
            1
        }
        Err(message) => {
            drop(out);
            fail(state, message)
        }
    }
}

unsafe fn encode_value(state: *mut lua_State, index: c_int, out: &mut Vec<u8>, depth: i64, s: &Settings) -> Result<(), String> {
    let index = lua::lua_absindex(state, index);
    match lua::lua_type(state, index) {
        lua::LUA_TSTRING => encode_string(borrow_bytes(state, index).unwrap_or_default(), out),
        lua::LUA_TNUMBER => encode_number(lua::lua_tonumber(state, index), out, s)?,
        lua::LUA_TBOOLEAN => out.extend_from_slice(if lua::lua_toboolean(state, index) != 0 { b"true" } else { b"false" }),
        lua::LUA_TNIL => out.extend_from_slice(b"null"),
        lua::LUA_TLIGHTUSERDATA if lua::lua_touserdata(state, index).is_null() => out.extend_from_slice(b"null"),
        lua::LUA_TTABLE => {
            if depth + 1 > s.encode_max_depth {
                return Err(format!("Cannot serialise, excessive nesting ({})", depth + 1));
            }
            if lua::lua_checkstack(state, 4) == 0 {
                return Err("Cannot serialise, excessive nesting".to_string());
            }
            match array_length(state, index, s)? {
                Some(len) => encode_array(state, index, len, out, depth + 1, s)?,
                None => encode_object(state, index, out, depth + 1, s)?,
            }
        }
        t => {
            let name = CStr::from_ptr(lua::lua_typename(state, t)).to_string_lossy().into_owned();
            return Err(format!("Cannot serialise {name}: type not supported"));
        }
    }
    Ok(())
}

fn encode_string(bytes: &[u8], out: &mut Vec<u8>) {
    out.push(b'"');
    for &b in bytes {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'/' => out.extend_from_slice(b"\\/"),
            b'\x08' => out.extend_from_slice(b"\\b"),
            b'\x0c' => out.extend_from_slice(b"\\f"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0..=0x1f | 0x7f => out.extend_from_slice(format!("\\u{:04x}", b).as_bytes()),
            _ => out.push(b),
        }
    }
    out.push(b'"');
}

fn encode_number(n: f64, out: &mut Vec<u8>, s: &Settings) -> Result<(), String> {
    if !n.is_finite() {
        match s.encode_invalid_numbers {
            0 => return Err("Cannot serialise number: must not be NaN or Inf".to_string()),
            2 => {
                out.extend_from_slice(b"null");
                return Ok(());
            }
            _ => {}
        }
    }
    let format = std::ffi::CString::new(format!("%.{}g", s.precision)).expect("no NUL");
    shoal_resp::number::write_f64_printf(out, n, &format);
    Ok(())
}

/// `Some(n)` when the table is an array of length n (keys 1..n, holes
/// allowed within the sparseness limit), `None` for an object.
unsafe fn array_length(state: *mut lua_State, index: c_int, s: &Settings) -> Result<Option<usize>, String> {
    let (mut max, mut items) = (0f64, 0usize);
    lua::lua_pushnil(state);
    while lua::lua_next(state, index) != 0 {
        lua::lua_pop(state, 1);
        let n = lua::lua_tonumber(state, -1);
        if lua::lua_type(state, -1) != lua::LUA_TNUMBER || n < 1.0 || n != n.floor() {
            lua::lua_pop(state, 1);
            return Ok(None);
        }
        max = max.max(n);
        items += 1;
    }
    let max = max as i64;
    if s.sparse_ratio > 0 && max > items as i64 * s.sparse_ratio && max > s.sparse_safe {
        if !s.sparse_convert {
            return Err("Cannot serialise table: excessively sparse array".to_string());
        }
        return Ok(None);
    }
    if items == 0 {
        // An empty table is an object, as in lua-cjson.
        return Ok(None);
    }
    Ok(Some(max as usize))
}

unsafe fn encode_array(state: *mut lua_State, index: c_int, len: usize, out: &mut Vec<u8>, depth: i64, s: &Settings) -> Result<(), String> {
    out.push(b'[');
    for i in 1..=len {
        if i > 1 {
            out.push(b',');
        }
        lua::lua_rawgeti_(state, index, i as c_int);
        let result = encode_value(state, -1, out, depth, s);
        lua::lua_pop(state, 1);
        result?;
    }
    out.push(b']');
    Ok(())
}

unsafe fn encode_object(state: *mut lua_State, index: c_int, out: &mut Vec<u8>, depth: i64, s: &Settings) -> Result<(), String> {
    out.push(b'{');
    let mut first = true;
    lua::lua_pushnil(state);
    while lua::lua_next(state, index) != 0 {
        if !first {
            out.push(b',');
        }
        first = false;
        match lua::lua_type(state, -2) {
            lua::LUA_TSTRING => encode_string(borrow_bytes(state, -2).unwrap_or_default(), out),
            lua::LUA_TNUMBER => {
                out.push(b'"');
                let r = encode_number(lua::lua_tonumber(state, -2), out, s);
                if let Err(e) = r {
                    lua::lua_pop(state, 2);
                    return Err(e);
                }
                out.push(b'"');
            }
            t => {
                let name = CStr::from_ptr(lua::lua_typename(state, t)).to_string_lossy().into_owned();
                lua::lua_pop(state, 2);
                return Err(format!("Cannot serialise {name}: table key must be a number or string"));
            }
        }
        out.push(b':');
        let result = encode_value(state, -1, out, depth, s);
        lua::lua_pop(state, 1);
        if let Err(e) = result {
            lua::lua_pop(state, 1);
            return Err(e);
        }
    }
    out.push(b'}');
    Ok(())
}

// ---------------------------------------------------------------------
// Decoding.

unsafe extern "C-unwind" fn decode(state: *mut lua_State) -> c_int {
    if lua::lua_gettop(state) != 1 {
        error(state, "bad argument #1 to 'decode' (expected 1 argument)");
    }
    let text = check_bytes(state, 1);
    let base = lua::lua_gettop(state);
    let mut parser = Parser { expecting: "value", text, at: 0, state, settings: settings() };
    let result = parser.document();
    if let Err(message) = result {
        lua::lua_settop(state, base);
        fail(state, message);
    }
    1
}

struct Parser<'t> {
    expecting: &'static str,
    text: &'t [u8],
    at: usize,
    state: *mut lua_State,
    settings: Settings,
}

impl Parser<'_> {
    fn skip_space(&mut self) {
        while self.at < self.text.len() && matches!(self.text[self.at], b' ' | b'\t' | b'\n' | b'\r') {
            self.at += 1;
        }
    }

    /// lua-cjson's message: what was expected, what was found, where
    /// (1-based character).
    fn unexpected(&self, expected: &str) -> String {
        let rest = &self.text[self.at.min(self.text.len())..];
        let found = match rest.first() {
            None => "T_END",
            Some(b'{') => "T_OBJ_BEGIN",
            Some(b'}') => "T_OBJ_END",
            Some(b'[') => "T_ARR_BEGIN",
            Some(b']') => "T_ARR_END",
            Some(b':') => "T_COLON",
            Some(b',') => "T_COMMA",
            Some(b'"') => "T_STRING",
            Some(b'-' | b'0'..=b'9') => "T_NUMBER",
            _ if rest.starts_with(b"true") || rest.starts_with(b"false") => "T_BOOLEAN",
            _ if rest.starts_with(b"null") => "T_NULL",
            _ => "invalid token",
        };
        format!("Expected {expected} but found {found} at character {}", self.at + 1)
    }

    unsafe fn document(&mut self) -> Result<(), String> {
        self.value(0)?;
        self.skip_space();
        if self.at < self.text.len() {
            return Err(self.unexpected("the end"));
        }
        Ok(())
    }

    unsafe fn value(&mut self, depth: i64) -> Result<(), String> {
        self.skip_space();
        let state = self.state;
        match self.text.get(self.at) {
            Some(b'{') => self.object(depth + 1),
            Some(b'[') => self.array(depth + 1),
            Some(b'"') => {
                let s = self.string()?;
                push_bytes(state, &s);
                Ok(())
            }
            Some(b't') if self.text[self.at..].starts_with(b"true") => {
                self.at += 4;
                lua::lua_pushboolean(state, 1);
                Ok(())
            }
            Some(b'f') if self.text[self.at..].starts_with(b"false") => {
                self.at += 5;
                lua::lua_pushboolean(state, 0);
                Ok(())
            }
            Some(b'n') if self.text[self.at..].starts_with(b"null") => {
                self.at += 4;
                lua::lua_pushlightuserdata(state, std::ptr::null_mut());
                Ok(())
            }
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(b'i' | b'I' | b'n' | b'N') if self.settings.decode_invalid_numbers => self.number(),
            _ => Err(self.unexpected("value")),
        }
    }

    unsafe fn nest(&self, depth: i64) -> Result<(), String> {
        if depth > self.settings.decode_max_depth || lua::lua_checkstack(self.state, 4) == 0 {
            return Err(format!("Found too many nested data structures ({depth}) at character {}", self.at + 1));
        }
        Ok(())
    }

    unsafe fn object(&mut self, depth: i64) -> Result<(), String> {
        self.nest(depth)?;
        self.at += 1;
        lua::lua_createtable(self.state, 0, 0);
        self.skip_space();
        if self.text.get(self.at) == Some(&b'}') {
            self.at += 1;
            return Ok(());
        }
        loop {
            self.skip_space();
            if self.text.get(self.at) != Some(&b'"') {
                return Err(self.unexpected("object key string"));
            }
            let key = self.string_for("object key string")?;
            push_bytes(self.state, &key);
            self.skip_space();
            if self.text.get(self.at) != Some(&b':') {
                return Err(self.unexpected("colon"));
            }
            self.at += 1;
            self.value(depth)?;
            lua::lua_rawset(self.state, -3);
            self.skip_space();
            match self.text.get(self.at) {
                Some(b',') => self.at += 1,
                Some(b'}') => {
                    self.at += 1;
                    return Ok(());
                }
                _ => return Err(self.unexpected("comma or object end")),
            }
        }
    }

    unsafe fn array(&mut self, depth: i64) -> Result<(), String> {
        self.nest(depth)?;
        self.at += 1;
        lua::lua_createtable(self.state, 0, 0);
        self.skip_space();
        if self.text.get(self.at) == Some(&b']') {
            self.at += 1;
            return Ok(());
        }
        let mut i = 1;
        loop {
            self.value(depth)?;
            lua::lua_rawseti_(self.state, -2, i);
            i += 1;
            self.skip_space();
            match self.text.get(self.at) {
                Some(b',') => self.at += 1,
                Some(b']') => {
                    self.at += 1;
                    return Ok(());
                }
                _ => return Err(self.unexpected("comma or array end")),
            }
        }
    }

    fn string(&mut self) -> Result<Vec<u8>, String> {
        self.string_for("value")
    }

    /// A string token; `expecting` names it in the error for an
    /// unterminated one (lua-cjson reports what it expected there).
    fn string_for(&mut self, expecting: &'static str) -> Result<Vec<u8>, String> {
        self.expecting = expecting;
        let start = self.at;
        self.at += 1;
        let mut out = Vec::new();
        loop {
            let Some(&b) = self.text.get(self.at) else {
                let _ = start;
                return Err(format!("Expected {} but found unexpected end of string at character {}", self.expecting, self.at + 1));
            };
            self.at += 1;
            match b {
                b'"' => return Ok(out),
                b'\\' => {
                    let Some(&e) = self.text.get(self.at) else {
                        self.at = start;
                        return Err(self.unexpected("valid escape"));
                    };
                    self.at += 1;
                    match e {
                        b'"' | b'\\' | b'/' => out.push(e),
                        b'b' => out.push(0x08),
                        b'f' => out.push(0x0c),
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'u' => self.unicode_escape(&mut out, start)?,
                        _ => {
                            self.at = start;
                            return Err(self.unexpected("valid escape"));
                        }
                    }
                }
                _ => out.push(b),
            }
        }
    }

    fn hex4(&mut self) -> Option<u32> {
        let digits = self.text.get(self.at..self.at + 4)?;
        let value = u32::from_str_radix(std::str::from_utf8(digits).ok()?, 16).ok()?;
        self.at += 4;
        Some(value)
    }

    /// `\uXXXX` (with a following low surrogate for a high one) as UTF-8.
    fn unicode_escape(&mut self, out: &mut Vec<u8>, start: usize) -> Result<(), String> {
        let invalid = |p: &mut Self| {
            p.at = start;
            Err(p.unexpected("valid unicode escape"))
        };
        let Some(mut code) = self.hex4() else { return invalid(self) };
        if (0xd800..0xdc00).contains(&code) {
            if !self.text[self.at..].starts_with(b"\\u") {
                return invalid(self);
            }
            self.at += 2;
            match self.hex4() {
                Some(low) if (0xdc00..0xe000).contains(&low) => code = 0x10000 + ((code - 0xd800) << 10) + (low - 0xdc00),
                _ => return invalid(self),
            }
        } else if (0xdc00..0xe000).contains(&code) {
            return invalid(self);
        }
        let c = char::from_u32(code).unwrap_or('\u{fffd}');
        let mut buf = [0u8; 4];
        out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        Ok(())
    }

    unsafe fn number(&mut self) -> Result<(), String> {
        let start = self.at;
        while self.at < self.text.len() && matches!(self.text[self.at], b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E' | b'x' | b'X' | b'a'..=b'd' | b'f' | b'A'..=b'D' | b'F' | b'i' | b'I' | b'n' | b'N' | b't' | b'T' | b'y' | b'Y') {
            self.at += 1;
        }
        let text = std::str::from_utf8(&self.text[start..self.at]).unwrap_or("");
        let value = shoal_resp::number::parse_f64(text.as_bytes()).or_else(|| text.parse::<f64>().ok());
        match value {
            Some(n) if self.settings.decode_invalid_numbers || n.is_finite() => {
                lua::lua_pushnumber(self.state, n);
                Ok(())
            }
            _ => {
                self.at = start;
                Err(self.unexpected("value"))
            }
        }
    }
}
