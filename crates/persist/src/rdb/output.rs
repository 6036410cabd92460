//! Writing RDB primitives into a byte vector.

use super::input::{ENC_INT16, ENC_INT32, ENC_INT8, ENC_LZF};

/// Strings longer than this are tried with LZF when compression is on.
const LZF_MIN_LEN: usize = 20;
/// Compression must save at least this many bytes to be used: Redis
/// gives the compressor 4 bytes less than the input, and the compressor
/// wants 3 bytes of headroom at its end.
const LZF_MIN_SAVING: usize = 4 + 3;
/// The longest text that can be an integer Redis stores int-encoded.
const INT_TEXT_MAX: usize = 11;

pub(crate) fn length(out: &mut Vec<u8>, n: u64) {
    if n < 1 << 6 {
        out.push(n as u8);
    } else if n < 1 << 14 {
        out.push(0x40 | (n >> 8) as u8);
        out.push(n as u8);
    } else if n <= u64::from(u32::MAX) {
        out.push(0x80);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    } else {
        out.push(0x81);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

/// Writes `i` in the integer string encoding if it fits 32 bits.
pub(crate) fn try_int(out: &mut Vec<u8>, i: i64) -> bool {
    if let Ok(v) = i8::try_from(i) {
        out.extend_from_slice(&[0xC0 | ENC_INT8, v as u8]);
    } else if let Ok(v) = i16::try_from(i) {
        out.push(0xC0 | ENC_INT16);
        out.extend_from_slice(&v.to_le_bytes());
    } else if let Ok(v) = i32::try_from(i) {
        out.push(0xC0 | ENC_INT32);
        out.extend_from_slice(&v.to_le_bytes());
    } else {
        return false;
    }
    true
}

/// An integer-valued string (Redis's int-encoded strings).
pub(crate) fn int_string(out: &mut Vec<u8>, i: i64) {
    if !try_int(out, i) {
        plain(out, i.to_string().as_bytes());
    }
}

fn plain(out: &mut Vec<u8>, s: &[u8]) {
    length(out, s.len() as u64);
    out.extend_from_slice(s);
}

/// A string as Redis writes it: int-encoded when it is a short canonical
/// integer, LZF-compressed when `compress` and it pays, else plain.
pub(crate) fn string(out: &mut Vec<u8>, s: &[u8], compress: bool) {
    if s.len() <= INT_TEXT_MAX {
        if let Some(i) = shoal_resp::number::parse_i64(s) {
            if try_int(out, i) {
                return;
            }
        }
    }
    if compress && s.len() > LZF_MIN_LEN {
        if let Some(packed) = super::lzf::compress(s, s.len() + 1 - LZF_MIN_SAVING) {
            out.push(0xC0 | ENC_LZF);
            length(out, packed.len() as u64);
            length(out, s.len() as u64);
            out.extend_from_slice(&packed);
            return;
        }
    }
    plain(out, s);
}

pub(crate) fn ms_time(out: &mut Vec<u8>, t: i64) {
    out.extend_from_slice(&t.to_le_bytes());
}

pub(crate) fn binary_double(out: &mut Vec<u8>, v: f64) {
    out.extend_from_slice(&v.to_le_bytes());
}
