//! `cmsgpack`: MessagePack encoding of Lua values, with lua-cmsgpack's
//! choices (integral numbers as the smallest integer form, other numbers
//! as float32 when exact, tables as arrays when their keys are exactly
//! 1..n, nesting cut to nil past 16 levels).

use std::ffi::{c_int, CStr};

use mlua_sys as lua;
use mlua_sys::lua_State;

use super::super::lua::push_bytes;
use super::{check_bytes, error};

pub const FUNCTIONS: &[(&CStr, lua::lua_CFunction)] = &[
    (c"pack", pack),
    (c"unpack", unpack),
    (c"unpack_one", unpack_one),
    (c"unpack_limit", unpack_limit),
];

/// Tables nested deeper are encoded as nil.
const MAX_NESTING: usize = 16;

unsafe extern "C-unwind" fn pack(state: *mut lua_State) -> c_int {
    let argc = lua::lua_gettop(state);
    if argc == 0 {
        error(state, "bad argument #0 to 'pack' (MessagePack pack needs input.)");
    }
    let mut out = Vec::new();
    for i in 1..=argc {
        encode(state, i, &mut out, 0);
    }
    push_bytes(state, &out);
    drop(out);
    1
}

unsafe fn encode(state: *mut lua_State, index: c_int, out: &mut Vec<u8>, level: usize) {
    let index = lua::lua_absindex(state, index);
    match lua::lua_type(state, index) {
        lua::LUA_TSTRING => encode_bytes(super::super::lua::borrow_bytes(state, index).unwrap_or_default(), out),
        lua::LUA_TBOOLEAN => out.push(if lua::lua_toboolean(state, index) != 0 { 0xc3 } else { 0xc2 }),
        lua::LUA_TNUMBER => encode_number(lua::lua_tonumber(state, index), out),
        lua::LUA_TTABLE if level < MAX_NESTING => encode_table(state, index, out, level),
        _ => out.push(0xc0),
    }
}

fn encode_bytes(bytes: &[u8], out: &mut Vec<u8>) {
    let len = bytes.len();
    if len < 32 {
        out.push(0xa0 | len as u8);
    } else if len <= 0xff {
        out.extend_from_slice(&[0xd9, len as u8]);
    } else if len <= 0xffff {
        out.push(0xda);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(0xdb);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    }
    out.extend_from_slice(bytes);
}

pub fn encode_number(n: f64, out: &mut Vec<u8>) {
    let integral = n.is_finite() && n == n.trunc() && n >= -9.223_372_036_854_776e18 && n < 9.223_372_036_854_776e18;
    if integral {
        encode_integer(n as i64, out);
    } else if (n as f32) as f64 == n || n.is_nan() {
        out.push(0xca);
        out.extend_from_slice(&(n as f32).to_be_bytes());
    } else {
        out.push(0xcb);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

fn encode_integer(n: i64, out: &mut Vec<u8>) {
    if n >= 0 {
        if n <= 127 {
            out.push(n as u8);
        } else if n <= 0xff {
            out.extend_from_slice(&[0xcc, n as u8]);
        } else if n <= 0xffff {
            out.push(0xcd);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        } else if n <= 0xffff_ffff {
            out.push(0xce);
            out.extend_from_slice(&(n as u32).to_be_bytes());
        } else {
            out.push(0xcf);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    } else if n >= -32 {
        out.push(n as i8 as u8);
    } else if n >= -128 {
        out.extend_from_slice(&[0xd0, n as i8 as u8]);
    } else if n >= -32768 {
        out.push(0xd1);
        out.extend_from_slice(&(n as i16).to_be_bytes());
    } else if n >= -2_147_483_648 {
        out.push(0xd2);
        out.extend_from_slice(&(n as i32).to_be_bytes());
    } else {
        out.push(0xd3);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

/// True if the table's keys are exactly 1..n (an empty table counts).
unsafe fn is_array(state: *mut lua_State, index: c_int) -> Option<usize> {
    let (mut count, mut max) = (0usize, 0f64);
    lua::lua_pushnil(state);
    while lua::lua_next(state, index) != 0 {
        lua::lua_pop(state, 1);
        if lua::lua_type(state, -1) != lua::LUA_TNUMBER {
            lua::lua_pop(state, 1);
            return None;
        }
        let n = lua::lua_tonumber(state, -1);
        if n <= 0.0 || n != n.trunc() {
            lua::lua_pop(state, 1);
            return None;
        }
        max = max.max(n);
        count += 1;
    }
    (max == count as f64).then_some(count)
}

unsafe fn encode_table(state: *mut lua_State, index: c_int, out: &mut Vec<u8>, level: usize) {
    if lua::lua_checkstack(state, 4) == 0 {
        out.push(0xc0);
        return;
    }
    if let Some(len) = is_array(state, index) {
        header(out, len, 0x90, 0xdc, 0xdd);
        for i in 1..=len {
            lua::lua_rawgeti_(state, index, i as c_int);
            encode(state, -1, out, level + 1);
            lua::lua_pop(state, 1);
        }
        return;
    }
    let mut len = 0;
    lua::lua_pushnil(state);
    while lua::lua_next(state, index) != 0 {
        lua::lua_pop(state, 1);
        len += 1;
    }
    header(out, len, 0x80, 0xde, 0xdf);
    lua::lua_pushnil(state);
    while lua::lua_next(state, index) != 0 {
        encode(state, -2, out, level + 1);
        encode(state, -1, out, level + 1);
        lua::lua_pop(state, 1);
    }
}

fn header(out: &mut Vec<u8>, len: usize, fix: u8, sixteen: u8, thirty_two: u8) {
    if len < 16 {
        out.push(fix | len as u8);
    } else if len <= 0xffff {
        out.push(sixteen);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(thirty_two);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    }
}

/// Why decoding stopped.
enum DecodeError {
    Missing,
    Bad,
}

/// Decodes one value at `*at` and pushes it.
unsafe fn decode(state: *mut lua_State, data: &[u8], at: &mut usize, depth: usize) -> Result<(), DecodeError> {
    if lua::lua_checkstack(state, 4) == 0 || depth > 10_000 {
        return Err(DecodeError::Bad);
    }
    let take = |at: &mut usize, n: usize| -> Result<&[u8], DecodeError> {
        let slice = data.get(*at..*at + n).ok_or(DecodeError::Missing)?;
        *at += n;
        Ok(slice)
    };
    let be = |bytes: &[u8]| bytes.iter().fold(0u64, |acc, &b| (acc << 8) | b as u64);
    let kind = take(at, 1)?[0];
    match kind {
        0x00..=0x7f => lua::lua_pushnumber(state, kind as f64),
        0xe0..=0xff => lua::lua_pushnumber(state, kind as i8 as f64),
        0x80..=0x8f => decode_map(state, data, at, (kind & 0x0f) as usize, depth)?,
        0x90..=0x9f => decode_array(state, data, at, (kind & 0x0f) as usize, depth)?,
        0xa0..=0xbf => push_bytes(state, take(at, (kind & 0x1f) as usize)?),
        0xc0 => lua::lua_pushnil(state),
        0xc2 => lua::lua_pushboolean(state, 0),
        0xc3 => lua::lua_pushboolean(state, 1),
        0xc4 | 0xd9 => {
            let len = take(at, 1)?[0] as usize;
            push_bytes(state, take(at, len)?);
        }
        0xc5 | 0xda => {
            let len = be(take(at, 2)?) as usize;
            push_bytes(state, take(at, len)?);
        }
        0xc6 | 0xdb => {
            let len = be(take(at, 4)?) as usize;
            push_bytes(state, take(at, len)?);
        }
        0xca => lua::lua_pushnumber(state, f32::from_bits(be(take(at, 4)?) as u32) as f64),
        0xcb => lua::lua_pushnumber(state, f64::from_bits(be(take(at, 8)?))),
        0xcc => lua::lua_pushnumber(state, be(take(at, 1)?) as f64),
        0xcd => lua::lua_pushnumber(state, be(take(at, 2)?) as f64),
        0xce => lua::lua_pushnumber(state, be(take(at, 4)?) as f64),
        0xcf => lua::lua_pushnumber(state, be(take(at, 8)?) as f64),
        0xd0 => lua::lua_pushnumber(state, be(take(at, 1)?) as u8 as i8 as f64),
        0xd1 => lua::lua_pushnumber(state, be(take(at, 2)?) as u16 as i16 as f64),
        0xd2 => lua::lua_pushnumber(state, be(take(at, 4)?) as u32 as i32 as f64),
        0xd3 => lua::lua_pushnumber(state, be(take(at, 8)?) as i64 as f64),
        0xdc => {
            let len = be(take(at, 2)?) as usize;
            decode_array(state, data, at, len, depth)?;
        }
        0xdd => {
            let len = be(take(at, 4)?) as usize;
            decode_array(state, data, at, len, depth)?;
        }
        0xde => {
            let len = be(take(at, 2)?) as usize;
            decode_map(state, data, at, len, depth)?;
        }
        0xdf => {
            let len = be(take(at, 4)?) as usize;
            decode_map(state, data, at, len, depth)?;
        }
        _ => return Err(DecodeError::Bad),
    }
    Ok(())
}

unsafe fn decode_array(state: *mut lua_State, data: &[u8], at: &mut usize, len: usize, depth: usize) -> Result<(), DecodeError> {
    // Each element takes at least a byte: a claimed length beyond the
    // input is refused before anything is allocated for it.
    if len > data.len() - *at {
        return Err(DecodeError::Missing);
    }
    lua::lua_createtable(state, len as c_int, 0);
    for i in 1..=len {
        decode(state, data, at, depth + 1)?;
        lua::lua_rawseti_(state, -2, i as c_int);
    }
    Ok(())
}

unsafe fn decode_map(state: *mut lua_State, data: &[u8], at: &mut usize, len: usize, depth: usize) -> Result<(), DecodeError> {
    if len > (data.len() - *at) / 2 {
        return Err(DecodeError::Missing);
    }
    lua::lua_createtable(state, 0, len as c_int);
    for _ in 0..len {
        decode(state, data, at, depth + 1)?;
        decode(state, data, at, depth + 1)?;
        if lua::lua_type(state, -2) == lua::LUA_TNIL {
            lua::lua_pop(state, 2);
        } else {
            lua::lua_rawset(state, -3);
        }
    }
    Ok(())
}

/// Decodes up to `limit` values (0: all) from `offset`; pushes them and
/// returns how many, and the offset after them.
unsafe fn decode_many(state: *mut lua_State, data: &[u8], offset: usize, limit: usize) -> (c_int, usize, Option<&'static str>) {
    let base = lua::lua_gettop(state);
    let mut at = offset;
    let mut count = 0;
    while at < data.len() && (limit == 0 || count < limit) {
        match decode(state, data, &mut at, 0) {
            Ok(()) => count += 1,
            Err(e) => {
                lua::lua_settop(state, base);
                let message = match e {
                    DecodeError::Missing => "Missing bytes in input.",
                    DecodeError::Bad => "Bad data format in input.",
                };
                return (0, at, Some(message));
            }
        }
    }
    (count as c_int, at, None)
}

unsafe extern "C-unwind" fn unpack(state: *mut lua_State) -> c_int {
    let data = check_bytes(state, 1);
    let (count, _, failure) = decode_many(state, data, 0, 0);
    if let Some(message) = failure {
        error(state, message);
    }
    count
}

unsafe extern "C-unwind" fn unpack_one(state: *mut lua_State) -> c_int {
    let offset = lua::luaL_optinteger(state, 2, 0);
    unpack_from(state, 1, offset)
}

unsafe extern "C-unwind" fn unpack_limit(state: *mut lua_State) -> c_int {
    let limit = lua::luaL_checkinteger(state, 2);
    let offset = lua::luaL_optinteger(state, 3, 0);
    unpack_from(state, limit.max(0) as usize, offset)
}

/// `(next offset or -1, values...)`.
unsafe fn unpack_from(state: *mut lua_State, limit: usize, offset: lua::lua_Integer) -> c_int {
    let data = check_bytes(state, 1);
    if offset < 0 || offset as usize > data.len() {
        error(state, "Start offset is greater than input length.");
    }
    lua::lua_pushnil(state); // the offset's slot
    let slot = lua::lua_gettop(state);
    let (count, at, failure) = decode_many(state, data, offset as usize, limit);
    if let Some(message) = failure {
        error(state, message);
    }
    let next = if at >= data.len() { -1.0 } else { at as f64 };
    lua::lua_pushnumber(state, next);
    lua::lua_replace(state, slot);
    count + 1
}
