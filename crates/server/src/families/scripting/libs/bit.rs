//! `bit`: 32-bit operations on Lua numbers, as LuaBitOp 1.0 defines them
//! (arguments taken modulo 2^32 after rounding, results signed).
//! `tohex` clamps its digit count, so the INT_MIN count of CVE-2024-31449
//! cannot overflow anything.

use std::ffi::{c_int, CStr};

use mlua_sys as lua;
use mlua_sys::lua_State;

pub const FUNCTIONS: &[(&CStr, lua::lua_CFunction)] = &[
    (c"tobit", tobit),
    (c"bnot", bnot),
    (c"band", band),
    (c"bor", bor),
    (c"bxor", bxor),
    (c"lshift", lshift),
    (c"rshift", rshift),
    (c"arshift", arshift),
    (c"rol", rol),
    (c"ror", ror),
    (c"bswap", bswap),
    (c"tohex", tohex),
];

/// The argument as 32 bits: rounded to nearest (ties to even), modulo 2^32.
pub fn to_bits(n: f64) -> u32 {
    // Adding 2^52 + 2^51 puts the rounded integer in the low mantissa bits.
    (n + 6_755_399_441_055_744.0).to_bits() as u32
}

unsafe fn arg(state: *mut lua_State, index: c_int) -> u32 {
    to_bits(lua::luaL_checknumber(state, index))
}

unsafe fn push(state: *mut lua_State, bits: u32) -> c_int {
    lua::lua_pushnumber(state, bits as i32 as f64);
    1
}

unsafe extern "C-unwind" fn tobit(state: *mut lua_State) -> c_int {
    push(state, arg(state, 1))
}

unsafe extern "C-unwind" fn bnot(state: *mut lua_State) -> c_int {
    push(state, !arg(state, 1))
}

unsafe fn fold(state: *mut lua_State, op: fn(u32, u32) -> u32) -> c_int {
    let mut bits = arg(state, 1);
    for i in 2..=lua::lua_gettop(state) {
        bits = op(bits, arg(state, i));
    }
    push(state, bits)
}

unsafe extern "C-unwind" fn band(state: *mut lua_State) -> c_int {
    fold(state, |a, b| a & b)
}

unsafe extern "C-unwind" fn bor(state: *mut lua_State) -> c_int {
    fold(state, |a, b| a | b)
}

unsafe extern "C-unwind" fn bxor(state: *mut lua_State) -> c_int {
    fold(state, |a, b| a ^ b)
}

unsafe fn shift(state: *mut lua_State, op: fn(u32, u32) -> u32) -> c_int {
    let (bits, n) = (arg(state, 1), arg(state, 2) & 31);
    push(state, op(bits, n))
}

unsafe extern "C-unwind" fn lshift(state: *mut lua_State) -> c_int {
    shift(state, |b, n| b << n)
}

unsafe extern "C-unwind" fn rshift(state: *mut lua_State) -> c_int {
    shift(state, |b, n| b >> n)
}

unsafe extern "C-unwind" fn arshift(state: *mut lua_State) -> c_int {
    shift(state, |b, n| ((b as i32) >> n) as u32)
}

unsafe extern "C-unwind" fn rol(state: *mut lua_State) -> c_int {
    shift(state, |b, n| b.rotate_left(n))
}

unsafe extern "C-unwind" fn ror(state: *mut lua_State) -> c_int {
    shift(state, |b, n| b.rotate_right(n))
}

unsafe extern "C-unwind" fn bswap(state: *mut lua_State) -> c_int {
    push(state, arg(state, 1).swap_bytes())
}

/// `tohex(x [, n])`: the low `|n|` hex digits (at most 8; upper case when
/// `n` is negative).
unsafe extern "C-unwind" fn tohex(state: *mut lua_State) -> c_int {
    let bits = arg(state, 1);
    let n = if lua::lua_type(state, 2) <= lua::LUA_TNIL { 8 } else { to_bits(lua::luaL_checknumber(state, 2)) as i32 as i64 };
    let text = hex_digits(bits, n);
    super::super::lua::push_bytes(state, text.as_bytes());
    1
}

/// The digits `tohex` prints.
pub fn hex_digits(bits: u32, n: i64) -> String {
    let upper = n < 0;
    let digits = n.unsigned_abs().min(8) as usize;
    let full = if upper { format!("{bits:08X}") } else { format!("{bits:08x}") };
    full[8 - digits..].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_wrap_modulo_two_to_the_32() {
        assert_eq!(to_bits(1.0), 1);
        assert_eq!(to_bits(-1.0) as i32, -1);
        assert_eq!(to_bits(4294967297.0), 1);
        assert_eq!(to_bits(2147483648.0) as i32, i32::MIN);
        assert_eq!(to_bits(0.5), 0);
        assert_eq!(to_bits(1.5), 2);
    }

    #[test]
    fn tohex_clamps_the_digit_count() {
        assert_eq!(hex_digits(0xdeadbeef, 8), "deadbeef");
        assert_eq!(hex_digits(0xdeadbeef, -4), "BEEF");
        assert_eq!(hex_digits(0xdeadbeef, 100), "deadbeef");
        // CVE-2024-31449: the most negative count.
        assert_eq!(hex_digits(0xdeadbeef, i32::MIN as i64), "DEADBEEF");
        assert_eq!(hex_digits(1, 0), "");
    }
}
