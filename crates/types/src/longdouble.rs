//! INCRBYFLOAT arithmetic in the C `long double` Redis uses (see
//! `csrc/longdouble.c`): results and formatting are bit-for-bit Redis's.

use std::os::raw::{c_char, c_int};

extern "C" {
    fn shoal_ld_add(
        current: *const c_char,
        current_len: usize,
        increment: *const c_char,
        increment_len: usize,
        out: *mut c_char,
        out_cap: usize,
        out_len: *mut usize,
    ) -> c_int;
    fn shoal_ld_timeout_ms(s: *const c_char, len: usize, out: *mut i64) -> c_int;
}

/// A blocking timeout given in seconds, in milliseconds as Redis computes
/// it (long double, rounded up, converted to i64; out-of-range values come
/// out as i64::MIN). None if the text is not a float.
pub fn timeout_ms(seconds: &[u8]) -> Option<i64> {
    let mut ms = 0i64;
    // SAFETY: the pointer and length describe a live buffer; C writes one i64.
    let ok = unsafe { shoal_ld_timeout_ms(seconds.as_ptr() as *const c_char, seconds.len(), &mut ms) };
    (ok == 1).then_some(ms)
}

/// Why a long-double addition failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddError {
    /// The stored value is not a float.
    NotAFloat,
    /// The increment is not a float.
    BadIncrement,
    /// The sum is NaN or infinite.
    NanOrInfinity,
}

/// Longest result text (Redis's MAX_LONG_DOUBLE_CHARS).
const MAX_CHARS: usize = 5 * 1024;

/// `current + increment` in long double, printed as Redis prints it.
pub fn add(current: &[u8], increment: &[u8]) -> Result<Vec<u8>, AddError> {
    // C fills it; nothing needs zeroing first, and only the result's
    // bytes are kept.
    let mut out = [std::mem::MaybeUninit::<u8>::uninit(); MAX_CHARS];
    let mut len = 0usize;
    // SAFETY: pointers and lengths describe live buffers; C writes at most out_cap bytes.
    let rc = unsafe {
        shoal_ld_add(
            current.as_ptr() as *const c_char,
            current.len(),
            increment.as_ptr() as *const c_char,
            increment.len(),
            out.as_mut_ptr() as *mut c_char,
            out.len(),
            &mut len,
        )
    };
    match rc {
        0 => {
            let len = len.min(MAX_CHARS);
            // SAFETY: on success C initialised the first `len` bytes.
            Ok(unsafe { std::slice::from_raw_parts(out.as_ptr() as *const u8, len) }.to_vec())
        }
        1 => Err(AddError::NotAFloat),
        2 => Err(AddError::BadIncrement),
        // A result too long to print is treated like Redis's failed conversion.
        _ => Err(AddError::NanOrInfinity),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_results() {
        let table: &[(&str, &str, &str)] = &[
            ("0.1", "0.2", "0.3"),
            ("10.5", "0.1", "10.6"),
            ("10", "-10", "0"),
            ("-0.0", "0", "0"),
            ("5.0e3", "2.0e2", "5200"),
            ("1", "1.5", "2.5"),
            ("0x10", "1", "17"),
            ("3.0e3", "1", "3001"),
        ];
        for (a, b, expected) in table {
            assert_eq!(add(a.as_bytes(), b.as_bytes()).unwrap(), expected.as_bytes(), "{a} + {b}");
        }
    }

    #[test]
    fn timeouts() {
        assert_eq!(timeout_ms(b"0.001"), Some(1));
        assert_eq!(timeout_ms(b"1.5"), Some(1500));
        assert_eq!(timeout_ms(b"-0.0001"), Some(0));
        assert_eq!(timeout_ms(b"1e-400"), Some(1));
        for huge in [&b"inf"[..], b"-inf", b"1e400", b"9.3e15"] {
            assert_eq!(timeout_ms(huge), Some(i64::MIN), "{huge:?}");
        }
        for bad in [&b"nan"[..], b"", b" 1", b"1e5000", b"abc"] {
            assert_eq!(timeout_ms(bad), None);
        }
    }

    #[test]
    fn errors() {
        assert_eq!(add(b"abc", b"1"), Err(AddError::NotAFloat));
        assert_eq!(add(b"1", b" 1"), Err(AddError::BadIncrement));
        assert_eq!(add(b"1", b""), Err(AddError::BadIncrement));
        assert_eq!(add(b"1", b"nan"), Err(AddError::BadIncrement));
        assert_eq!(add(b"1", b"inf"), Err(AddError::NanOrInfinity));
        assert_eq!(add(b"1e4932", b"1e4932"), Err(AddError::NanOrInfinity));
    }
}
