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
    let mut out = vec![0u8; MAX_CHARS];
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
            out.truncate(len);
            Ok(out)
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
    fn errors() {
        assert_eq!(add(b"abc", b"1"), Err(AddError::NotAFloat));
        assert_eq!(add(b"1", b" 1"), Err(AddError::BadIncrement));
        assert_eq!(add(b"1", b""), Err(AddError::BadIncrement));
        assert_eq!(add(b"1", b"nan"), Err(AddError::BadIncrement));
        assert_eq!(add(b"1", b"inf"), Err(AddError::NanOrInfinity));
        assert_eq!(add(b"1e4932", b"1e4932"), Err(AddError::NanOrInfinity));
    }
}
