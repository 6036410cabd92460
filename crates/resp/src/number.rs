//! Number parsing and formatting with redis-server 7.0's exact rules.
//!
//! Integers are strict: no sign other than a leading `-`, no leading zeros,
//! no `-0`, no spaces, no overflow. Doubles are parsed by the C library's
//! `strtod` and printed with `%.17g`, exactly as Redis does, because replies
//! must be byte-identical to Redis's.

use std::ffi::CStr;

/// Parses a signed 64-bit integer the way Redis's `string2ll` does.
pub fn parse_i64(s: &[u8]) -> Option<i64> {
    let (negative, digits) = match s {
        [] => return None,
        [b'0'] => return Some(0),
        [b'-', rest @ ..] => (true, rest),
        _ => (false, s),
    };
    // The first digit must be 1..9: this rejects "", "-", "-0", "01".
    match digits.first() {
        Some(b'1'..=b'9') => {}
        _ => return None,
    }
    let mut magnitude: u64 = 0;
    for &b in digits {
        if !b.is_ascii_digit() {
            return None;
        }
        magnitude = magnitude.checked_mul(10)?.checked_add((b - b'0') as u64)?;
    }
    if negative {
        if magnitude > (i64::MAX as u64) + 1 {
            None
        } else {
            Some((magnitude as i64).wrapping_neg())
        }
    } else if magnitude > i64::MAX as u64 {
        None
    } else {
        Some(magnitude as i64)
    }
}

/// Parses an unsigned 64-bit integer with the same strictness as `parse_i64`.
pub fn parse_u64(s: &[u8]) -> Option<u64> {
    match s {
        [] => None,
        [b'0'] => Some(0),
        [b'1'..=b'9', ..] => {
            let mut v: u64 = 0;
            for &b in s {
                if !b.is_ascii_digit() {
                    return None;
                }
                v = v.checked_mul(10)?.checked_add((b - b'0') as u64)?;
            }
            Some(v)
        }
        _ => None,
    }
}

/// Appends the decimal form of `v`.
pub fn write_i64(out: &mut Vec<u8>, v: i64) {
    let mut buf = itoa_buf();
    if v < 0 {
        out.push(b'-');
    }
    out.extend_from_slice(format_u64(&mut buf, v.unsigned_abs()));
}

/// Appends the decimal form of `v`.
pub fn write_u64(out: &mut Vec<u8>, v: u64) {
    let mut buf = itoa_buf();
    out.extend_from_slice(format_u64(&mut buf, v));
}

fn itoa_buf() -> [u8; 20] {
    [0u8; 20]
}

/// Formats `v` into the end of `buf` and returns the digits.
pub fn format_u64(buf: &mut [u8; 20], mut v: u64) -> &[u8] {
    // Two digits per step from a table of "00".."99".
    const PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
        2021222324252627282930313233343536373839\
        4041424344454647484950515253545556575859\
        6061626364656667686970717273747576777879\
        8081828384858687888990919293949596979899";
    let mut i = buf.len();
    while v >= 100 {
        let pair = (v % 100) as usize * 2;
        v /= 100;
        i -= 2;
        buf[i..i + 2].copy_from_slice(&PAIRS[pair..pair + 2]);
    }
    if v >= 10 {
        let pair = v as usize * 2;
        i -= 2;
        buf[i..i + 2].copy_from_slice(&PAIRS[pair..pair + 2]);
    } else {
        i -= 1;
        buf[i] = b'0' + v as u8;
    }
    &buf[i..]
}

/// The decimal form of `v` as a byte vector.
pub fn i64_to_bytes(v: i64) -> Vec<u8> {
    let mut out = Vec::with_capacity(20);
    write_i64(&mut out, v);
    out
}

/// Parses a double the way Redis's `string2d` does: the whole input must be
/// consumed by `strtod`, no leading space, no NaN, and no overflow.
pub fn parse_f64(s: &[u8]) -> Option<f64> {
    if s.is_empty() || s[0].is_ascii_whitespace() || s[0] == 0x0b || s.len() > 4096 {
        return None;
    }
    // strtod wants a NUL-terminated copy: on the stack for the usual short
    // numbers (zeroing a page-sized buffer cost more than the parsing).
    let mut short = [0u8; 64];
    let mut long = Vec::new();
    let buf: &[u8] = if s.len() < short.len() {
        short[..s.len()].copy_from_slice(s);
        &short
    } else {
        long.reserve_exact(s.len() + 1);
        long.extend_from_slice(s);
        long.push(0);
        &long
    };
    let mut end: *mut libc::c_char = std::ptr::null_mut();
    // SAFETY: `buf` is NUL-terminated and outlives the call; `end` points into it.
    let (value, consumed, erange) = unsafe {
        *libc::__errno_location() = 0;
        let v = libc::strtod(buf.as_ptr() as *const libc::c_char, &mut end);
        let consumed = end.offset_from(buf.as_ptr() as *const libc::c_char) as usize;
        (v, consumed, *libc::__errno_location() == libc::ERANGE)
    };
    if consumed != s.len() || value.is_nan() {
        return None;
    }
    if erange && (value.is_infinite() || value == 0.0) {
        return None;
    }
    Some(value)
}

/// Appends `d` as `%.17g` (what Redis 7.0 uses for double replies).
pub fn write_f64_g17(out: &mut Vec<u8>, d: f64) {
    write_f64_printf(out, d, c"%.17g");
}

/// Appends `d` as `%.17g` but with "inf"/"-inf" spelled as Redis spells them.
pub fn f64_to_bytes(d: f64) -> Vec<u8> {
    let mut out = Vec::with_capacity(24);
    if d.is_infinite() {
        out.extend_from_slice(if d > 0.0 { b"inf" } else { b"-inf" });
    } else {
        write_f64_g17(&mut out, d);
    }
    out
}

/// Appends `d` formatted as `%.<precision>g` — Redis uses 17 for replies and
/// shorter precisions in a few places (GEO distances use `%.4f` instead).
pub fn write_f64_printf(out: &mut Vec<u8>, d: f64, format: &CStr) {
    // Formats straight into `out`'s spare capacity (nothing to zero):
    // first with room for the usual short forms, again with the exact
    // size if that was too little (`%f` of a huge value).
    let mut room = 32;
    loop {
        out.reserve(room);
        let spare = out.spare_capacity_mut();
        // SAFETY: snprintf writes at most `spare.len()` bytes (including
        // the NUL) into the spare capacity; format is a valid C string
        // taking one double.
        let n = unsafe { libc::snprintf(spare.as_mut_ptr() as *mut libc::c_char, spare.len(), format.as_ptr(), d) };
        let Ok(n) = usize::try_from(n) else {
            return;
        };
        if n < spare.len() {
            // SAFETY: snprintf initialised the first `n` bytes of the spare capacity.
            unsafe { out.set_len(out.len() + n) };
            return;
        }
        room = n + 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_integers() {
        let table: &[(&str, Option<i64>)] = &[
            ("0", Some(0)),
            ("1", Some(1)),
            ("-1", Some(-1)),
            ("9223372036854775807", Some(i64::MAX)),
            ("-9223372036854775808", Some(i64::MIN)),
            ("9223372036854775808", None),
            ("-9223372036854775809", None),
            ("-0", None),
            ("01", None),
            ("+1", None),
            (" 1", None),
            ("1 ", None),
            ("", None),
            ("-", None),
            ("1a", None),
            ("12345678901234567890123", None),
        ];
        for (input, expected) in table {
            assert_eq!(parse_i64(input.as_bytes()), *expected, "input {input:?}");
        }
    }

    #[test]
    fn doubles_follow_strtod() {
        assert_eq!(parse_f64(b"1.5"), Some(1.5));
        assert_eq!(parse_f64(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_f64(b"+inf"), Some(f64::INFINITY));
        assert_eq!(parse_f64(b"1e5"), Some(100000.0));
        assert_eq!(parse_f64(b"0x10"), Some(16.0));
        assert_eq!(parse_f64(b" 1"), None);
        assert_eq!(parse_f64(b"1 "), None);
        assert_eq!(parse_f64(b"nan"), None);
        assert_eq!(parse_f64(b""), None);
        assert_eq!(parse_f64(b"1e999"), None);
        assert_eq!(parse_f64(b"1\0"), None);
    }

    #[test]
    fn g17_formatting() {
        let table: &[(f64, &str)] = &[
            (1.1, "1.1000000000000001"),
            (0.0, "0"),
            (-0.0, "-0"),
            (1e20, "1e+20"),
            (123.0, "123"),
            (1.5e-7, "1.4999999999999999e-07"),
        ];
        for (value, expected) in table {
            let mut out = Vec::new();
            write_f64_g17(&mut out, *value);
            assert_eq!(std::str::from_utf8(&out).unwrap(), *expected);
        }
        assert_eq!(f64_to_bytes(f64::INFINITY), b"inf");
        assert_eq!(f64_to_bytes(f64::NEG_INFINITY), b"-inf");
    }

    #[test]
    fn integer_formatting() {
        for v in [0i64, 1, -1, i64::MIN, i64::MAX, 1234567890] {
            assert_eq!(i64_to_bytes(v), v.to_string().into_bytes());
        }
        let mut buf = [0u8; 20];
        for v in (0..1000u64).chain([9_999, 10_000, 99_999, 123_456_789, u64::MAX / 10, u64::MAX]) {
            assert_eq!(format_u64(&mut buf, v), v.to_string().as_bytes(), "{v}");
        }
    }
}
