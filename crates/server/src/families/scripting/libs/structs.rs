//! `struct`: packing numbers and strings into binary strings and back,
//! with the format language of Roberto Ierusalimschy's struct library
//! (`<`/`>` byte order, `!n` alignment, `b h l T i[n] f d s c[n] x`).
//! Sizes are bounded (`MAX_INT_SIZE`), so a format cannot ask for more.

use std::ffi::{c_int, CStr};

use mlua_sys as lua;
use mlua_sys::lua_State;

use super::super::lua::push_bytes;
use super::{check_bytes, error, fail};

pub const FUNCTIONS: &[(&CStr, lua::lua_CFunction)] = &[(c"pack", pack), (c"unpack", unpack), (c"size", size)];

/// Largest integer an `i`/`I` option may name, in bytes.
const MAX_INT_SIZE: usize = 32;
/// Alignment of `!` without a number: the platform's largest.
const NATIVE_ALIGN: usize = 8;

#[derive(Clone, Copy)]
struct Header {
    little: bool,
    max_align: usize,
}

/// One parsed option.
enum Item {
    Endian(bool),
    Align(usize),
    Pad,
    Int { size: usize, signed: bool },
    Float,
    Double,
    /// `s`: a string ending in NUL.
    ZeroString,
    /// `c[n]`: n bytes (0: the whole string, or the previous number when unpacking).
    Chars(usize),
}

impl Item {
    fn size(&self) -> usize {
        match self {
            Item::Pad => 1,
            Item::Int { size, .. } => *size,
            Item::Float => 4,
            Item::Double => 8,
            Item::Chars(n) => *n,
            _ => 0,
        }
    }
}

/// Parses `format` into items, or an error message.
fn parse(format: &[u8]) -> Result<Vec<Item>, String> {
    let mut items = Vec::new();
    let mut i = 0;
    let number = |i: &mut usize, default: usize| -> Result<usize, String> {
        if !format.get(*i).is_some_and(|c| c.is_ascii_digit()) {
            return Ok(default);
        }
        let mut n = 0usize;
        while let Some(c) = format.get(*i).filter(|c| c.is_ascii_digit()) {
            n = n.checked_mul(10).and_then(|n| n.checked_add((c - b'0') as usize)).filter(|&n| n <= i32::MAX as usize).ok_or("integral size overflow")?;
            *i += 1;
        }
        Ok(n)
    };
    while i < format.len() {
        let option = format[i];
        i += 1;
        let item = match option {
            b' ' => continue,
            b'>' => Item::Endian(false),
            b'<' => Item::Endian(true),
            b'!' => Item::Align(number(&mut i, NATIVE_ALIGN)?),
            b'x' => Item::Pad,
            b'b' | b'B' => Item::Int { size: 1, signed: option == b'b' },
            b'h' | b'H' => Item::Int { size: 2, signed: option == b'h' },
            b'l' | b'L' => Item::Int { size: 8, signed: option == b'l' },
            b'T' => Item::Int { size: 8, signed: false },
            b'i' | b'I' => {
                let size = number(&mut i, 4)?;
                if size > MAX_INT_SIZE {
                    return Err(format!("integral size {size} is larger than limit of {MAX_INT_SIZE}"));
                }
                if size == 0 {
                    return Err("integral size 0 is not valid".to_string());
                }
                Item::Int { size, signed: option == b'i' }
            }
            b'f' => Item::Float,
            b'd' => Item::Double,
            b's' => Item::ZeroString,
            b'c' => Item::Chars(number(&mut i, 1)?),
            other => return Err(format!("invalid format option '{}'", other as char)),
        };
        items.push(item);
    }
    Ok(items)
}

/// Padding before an item of `size` at offset `len`.
fn padding(item: &Item, len: usize, header: &Header) -> Result<usize, String> {
    let size = item.size();
    if size <= 1 || matches!(item, Item::Chars(_) | Item::ZeroString) {
        return Ok(0);
    }
    let align = size.min(header.max_align);
    if align & (align - 1) != 0 {
        return Err("alignment must be power of 2".to_string());
    }
    Ok((align - (len & (align - 1))) & (align - 1))
}

fn apply(item: &Item, header: &mut Header) {
    match item {
        Item::Endian(little) => header.little = *little,
        Item::Align(n) => header.max_align = *n,
        _ => {}
    }
}

const DEFAULT: Header = Header { little: cfg!(target_endian = "little"), max_align: 1 };

fn put_int(out: &mut Vec<u8>, value: i64, size: usize, little: bool) {
    // Sign-extended beyond 8 bytes.
    let fill = if value < 0 { 0xff } else { 0 };
    let bytes: Vec<u8> = (0..size).map(|k| if k < 8 { (value >> (8 * k)) as u8 } else { fill }).collect();
    if little {
        out.extend_from_slice(&bytes);
    } else {
        out.extend(bytes.iter().rev());
    }
}

unsafe extern "C-unwind" fn pack(state: *mut lua_State) -> c_int {
    let format = check_bytes(state, 1);
    let result = pack_into(state, format);
    match result {
        Ok(out) => {
            push_bytes(state, &out);
            drop(out);
            1
        }
        Err(message) => fail(state, message),
    }
}

unsafe fn pack_into(state: *mut lua_State, format: &[u8]) -> Result<Vec<u8>, String> {
    let items = parse(format).map_err(|e| format!("bad argument #1 to 'pack' ({e})"))?;
    let mut header = DEFAULT;
    let mut out = Vec::new();
    let mut arg = 2;
    for item in &items {
        apply(item, &mut header);
        let pad = padding(item, out.len(), &header)?;
        out.resize(out.len() + pad, 0);
        match item {
            Item::Pad => out.push(0),
            Item::Int { size, .. } => {
                let n = number_arg(state, arg)?;
                arg += 1;
                let value = if n < 0.0 { n as i64 } else { n as u64 as i64 };
                put_int(&mut out, value, *size, header.little);
            }
            Item::Float => {
                let n = number_arg(state, arg)? as f32;
                arg += 1;
                out.extend_from_slice(&if header.little { n.to_le_bytes() } else { n.to_be_bytes() });
            }
            Item::Double => {
                let n = number_arg(state, arg)?;
                arg += 1;
                out.extend_from_slice(&if header.little { n.to_le_bytes() } else { n.to_be_bytes() });
            }
            Item::ZeroString | Item::Chars(_) => {
                let Some(s) = string_arg(state, arg) else {
                    return Err(format!("bad argument #{arg} to 'pack' (string expected)"));
                };
                arg += 1;
                let take = match item {
                    Item::Chars(0) | Item::ZeroString => s.len(),
                    _ => item.size(),
                };
                if s.len() < take {
                    return Err(format!("bad argument #{} to 'pack' (string too short)", arg - 1));
                }
                out.extend_from_slice(&s[..take]);
                if matches!(item, Item::ZeroString) {
                    out.push(0);
                }
            }
            Item::Endian(_) | Item::Align(_) => {}
        }
    }
    Ok(out)
}

unsafe fn number_arg(state: *mut lua_State, index: c_int) -> Result<f64, String> {
    if lua::lua_type(state, index) != lua::LUA_TNUMBER && lua::lua_type(state, index) != lua::LUA_TSTRING {
        return Err(format!("bad argument #{index} to 'pack' (number expected)"));
    }
    Ok(lua::lua_tonumber(state, index))
}

unsafe fn string_arg<'s>(state: *mut lua_State, index: c_int) -> Option<&'s [u8]> {
    if !matches!(lua::lua_type(state, index), lua::LUA_TSTRING | lua::LUA_TNUMBER) {
        return None;
    }
    let mut len = 0usize;
    let p = lua::lua_tolstring(state, index, &mut len);
    Some(std::slice::from_raw_parts(p as *const u8, len))
}

unsafe extern "C-unwind" fn unpack(state: *mut lua_State) -> c_int {
    let format = check_bytes(state, 1);
    let data = check_bytes(state, 2);
    let start = lua::luaL_optinteger(state, 3, 1);
    if start < 1 {
        error(state, "offset must be 1 or greater");
    }
    let base = lua::lua_gettop(state);
    let result = unpack_from(state, format, data, start as usize - 1);
    match result {
        Ok(next) => {
            lua::lua_pushnumber(state, (next + 1) as f64);
            lua::lua_gettop(state) - base
        }
        Err(message) => {
            lua::lua_settop(state, base);
            fail(state, message)
        }
    }
}

unsafe fn unpack_from(state: *mut lua_State, format: &[u8], data: &[u8], mut at: usize) -> Result<usize, String> {
    let items = parse(format).map_err(|e| format!("bad argument #1 to 'unpack' ({e})"))?;
    let mut header = DEFAULT;
    let too_short = || "bad argument #2 to 'unpack' (data string too short)".to_string();
    for item in &items {
        apply(item, &mut header);
        at += padding(item, at, &header)?;
        if lua::lua_checkstack(state, 2) == 0 {
            return Err("too many results".to_string());
        }
        match item {
            Item::Pad => at += 1,
            Item::Int { size, signed } => {
                let bytes = data.get(at..at + size).ok_or_else(too_short)?;
                let mut value: u64 = 0;
                for k in 0..(*size).min(8) {
                    let byte = if header.little { bytes[k] } else { bytes[size - 1 - k] };
                    value |= (byte as u64) << (8 * k);
                }
                let n = if *signed && *size < 8 {
                    let shift = 64 - 8 * size;
                    ((value << shift) as i64 >> shift) as f64
                } else if *signed {
                    value as i64 as f64
                } else {
                    value as f64
                };
                lua::lua_pushnumber(state, n);
                at += size;
            }
            Item::Float => {
                let b: [u8; 4] = data.get(at..at + 4).ok_or_else(too_short)?.try_into().expect("4 bytes");
                lua::lua_pushnumber(state, if header.little { f32::from_le_bytes(b) } else { f32::from_be_bytes(b) } as f64);
                at += 4;
            }
            Item::Double => {
                let b: [u8; 8] = data.get(at..at + 8).ok_or_else(too_short)?.try_into().expect("8 bytes");
                lua::lua_pushnumber(state, if header.little { f64::from_le_bytes(b) } else { f64::from_be_bytes(b) });
                at += 8;
            }
            Item::ZeroString => {
                let rest = data.get(at..).ok_or_else(too_short)?;
                let end = rest.iter().position(|&b| b == 0).ok_or("unfinished string in data")?;
                push_bytes(state, &rest[..end]);
                at += end + 1;
            }
            Item::Chars(n) => {
                let n = if *n == 0 {
                    if lua::lua_type(state, -1) != lua::LUA_TNUMBER {
                        return Err("format 'c0' needs a previous size".to_string());
                    }
                    let size = lua::lua_tonumber(state, -1);
                    lua::lua_pop(state, 1);
                    if size < 0.0 {
                        return Err(too_short());
                    }
                    size as usize
                } else {
                    *n
                };
                let bytes = data.get(at..at.checked_add(n).ok_or_else(too_short)?).ok_or_else(too_short)?;
                push_bytes(state, bytes);
                at += n;
            }
            Item::Endian(_) | Item::Align(_) => {}
        }
    }
    Ok(at)
}

unsafe extern "C-unwind" fn size(state: *mut lua_State) -> c_int {
    let format = check_bytes(state, 1);
    let result = size_of(format);
    match result {
        Ok(n) => {
            lua::lua_pushnumber(state, n as f64);
            1
        }
        Err(message) => fail(state, message),
    }
}

fn size_of(format: &[u8]) -> Result<usize, String> {
    let items = parse(format).map_err(|e| format!("bad argument #1 to 'size' ({e})"))?;
    let mut header = DEFAULT;
    let mut total = 0usize;
    for item in &items {
        apply(item, &mut header);
        if matches!(item, Item::ZeroString) {
            return Err("bad argument #1 to 'size' (option 's' has no fixed size)".to_string());
        }
        if matches!(item, Item::Chars(0)) {
            return Err("bad argument #1 to 'size' (option 'c0' has no fixed size)".to_string());
        }
        total += padding(item, total, &header)? + item.size();
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_follow_alignment() {
        assert_eq!(size_of(b"i").unwrap(), 4);
        assert_eq!(size_of(b"bi").unwrap(), 5);
        assert_eq!(size_of(b"!4bi").unwrap(), 8);
        assert_eq!(size_of(b"!bd").unwrap(), 16);
        assert_eq!(size_of(b"c10x").unwrap(), 11);
        assert!(size_of(b"s").is_err());
        assert!(size_of(b"i33").is_err());
        assert!(size_of(b"i99999999999999999999").is_err());
        assert!(size_of(b"q").is_err());
    }

    #[test]
    fn integers_are_written_in_the_requested_order() {
        let mut out = Vec::new();
        put_int(&mut out, 0x0102, 2, false);
        put_int(&mut out, 0x0102, 2, true);
        put_int(&mut out, -1, 10, true);
        assert_eq!(out, [1, 2, 2, 1, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255]);
    }
}
