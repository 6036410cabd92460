//! Listpacks: the packed sequence Redis 7.0 stores small hashes, sorted
//! sets, list nodes and stream nodes in.
//!
//! ```text
//! total bytes: u32 LE | count: u16 LE (65535: unknown) | entries... | 0xFF
//! entry: encoding + data | back length (the entry's size, readable backwards)
//! ```

use super::error::{Error, Result};

const HEADER: usize = 6;
const END: u8 = 0xFF;
/// Count value meaning "count the entries".
const COUNT_UNKNOWN: u16 = u16::MAX;

/// One element: an integer or a string.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Elem<'a> {
    Int(i64),
    Str(&'a [u8]),
}

impl<'a> Elem<'a> {
    pub(crate) fn to_vec(self) -> Vec<u8> {
        match self {
            Elem::Str(s) => s.to_vec(),
            Elem::Int(v) => v.to_string().into_bytes(),
        }
    }
}

/// Bytes of the back length of an entry of `size` bytes.
fn backlen_size(size: usize) -> usize {
    match size {
        0..=127 => 1,
        128..=16382 => 2,
        16383..=2097150 => 3,
        2097151..=268435454 => 4,
        _ => 5,
    }
}

/// The back length of an entry of `size` bytes: its bytes, and how many.
fn backlen(size: usize) -> ([u8; 5], usize) {
    let n = backlen_size(size);
    let mut out = [0u8; 5];
    for (at, i) in (0..n).rev().enumerate() {
        let group = ((size >> (7 * i)) & 0x7f) as u8;
        out[at] = if i == n - 1 { group } else { group | 0x80 };
    }
    (out, n)
}

fn push_backlen(out: &mut Vec<u8>, size: usize) {
    let (bytes, n) = backlen(size);
    out.extend_from_slice(&bytes[..n]);
}

/// Checks and splits a listpack into its elements.
pub(crate) fn parse(lp: &[u8]) -> Result<Vec<Elem<'_>>> {
    if lp.len() < HEADER + 1 {
        return Err(Error::Corrupt("listpack too short"));
    }
    let total = u32::from_le_bytes(lp[..4].try_into().expect("4 bytes")) as usize;
    let count = u16::from_le_bytes(lp[4..6].try_into().expect("2 bytes"));
    if total != lp.len() || lp[lp.len() - 1] != END {
        return Err(Error::Corrupt("listpack header"));
    }
    let end = lp.len() - 1;
    // Every entry takes at least 2 bytes.
    let mut elems = Vec::with_capacity(usize::from(count).min((end - HEADER) / 2));
    let mut at = HEADER;
    while at < end {
        let (elem, size) = entry(&lp[at..end])?;
        let (expected, back) = backlen(size);
        let stop = at.checked_add(size + back).filter(|&s| s <= end).ok_or(Error::Corrupt("listpack entry overflows"))?;
        if lp[at + size..stop] != expected[..back] {
            return Err(Error::Corrupt("listpack back length"));
        }
        elems.push(elem);
        at = stop;
    }
    if count != COUNT_UNKNOWN && usize::from(count) != elems.len() {
        return Err(Error::Corrupt("listpack count"));
    }
    Ok(elems)
}

/// Decodes the entry at the start of `b` (which ends before the end byte):
/// the element and the size of its encoding and data.
fn entry(b: &[u8]) -> Result<(Elem<'_>, usize)> {
    let need = |n: usize| if b.len() >= n { Ok(()) } else { Err(Error::Corrupt("listpack entry overflows")) };
    let first = b[0];
    let int_le = |n: usize| -> Result<i64> {
        need(1 + n)?;
        let mut raw = [0u8; 8];
        raw[..n].copy_from_slice(&b[1..1 + n]);
        // Sign-extend from n bytes.
        let shift = 64 - 8 * n as u32;
        Ok((i64::from_le_bytes(raw) << shift) >> shift)
    };
    let string = |start: usize, len: usize| -> Result<(Elem<'_>, usize)> {
        let size = start.checked_add(len).ok_or(Error::Corrupt("listpack entry overflows"))?;
        need(size)?;
        Ok((Elem::Str(&b[start..size]), size))
    };
    match first {
        0x00..=0x7F => Ok((Elem::Int(i64::from(first)), 1)),
        0x80..=0xBF => string(1, usize::from(first & 0x3f)),
        0xC0..=0xDF => {
            need(2)?;
            let raw = (i64::from(first & 0x1f) << 8) | i64::from(b[1]);
            Ok((Elem::Int(if raw >= 1 << 12 { raw - (1 << 13) } else { raw }), 2))
        }
        0xE0..=0xEF => {
            need(2)?;
            string(2, (usize::from(first & 0x0f) << 8) | usize::from(b[1]))
        }
        0xF0 => {
            need(5)?;
            string(5, u32::from_le_bytes(b[1..5].try_into().expect("4 bytes")) as usize)
        }
        0xF1 => Ok((Elem::Int(int_le(2)?), 3)),
        0xF2 => Ok((Elem::Int(int_le(3)?), 4)),
        0xF3 => Ok((Elem::Int(int_le(4)?), 5)),
        0xF4 => Ok((Elem::Int(int_le(8)?), 9)),
        _ => Err(Error::Corrupt("listpack entry encoding")),
    }
}

/// Builds a listpack, one entry at a time.
pub(crate) struct Builder {
    out: Vec<u8>,
    count: usize,
}

impl Builder {
    pub(crate) fn new() -> Builder {
        let mut out = Vec::with_capacity(64);
        out.extend_from_slice(&[0; HEADER]);
        Builder { out, count: 0 }
    }

    /// Appends a string, as an integer when it is a canonical one (as
    /// listpacks store them).
    pub(crate) fn push(&mut self, s: &[u8]) {
        match (s.len() <= 20).then(|| shoal_resp::number::parse_i64(s)).flatten() {
            Some(v) => self.push_int(v),
            None => self.push_str(s),
        }
    }

    pub(crate) fn push_int(&mut self, v: i64) {
        let start = self.out.len();
        match v {
            0..=127 => self.out.push(v as u8),
            -4096..=4095 => {
                let raw = if v < 0 { (1 << 13) + v } else { v } as u16;
                self.out.extend_from_slice(&[0xC0 | (raw >> 8) as u8, raw as u8]);
            }
            -32768..=32767 => {
                self.out.push(0xF1);
                self.out.extend_from_slice(&(v as i16).to_le_bytes());
            }
            -8388608..=8388607 => {
                self.out.push(0xF2);
                self.out.extend_from_slice(&(v as i32).to_le_bytes()[..3]);
            }
            -2147483648..=2147483647 => {
                self.out.push(0xF3);
                self.out.extend_from_slice(&(v as i32).to_le_bytes());
            }
            _ => {
                self.out.push(0xF4);
                self.out.extend_from_slice(&v.to_le_bytes());
            }
        }
        self.finish_entry(start);
    }

    fn push_str(&mut self, s: &[u8]) {
        let start = self.out.len();
        let len = s.len();
        if len < 64 {
            self.out.push(0x80 | len as u8);
        } else if len < 4096 {
            self.out.extend_from_slice(&[0xE0 | (len >> 8) as u8, len as u8]);
        } else {
            self.out.push(0xF0);
            self.out.extend_from_slice(&(len as u32).to_le_bytes());
        }
        self.out.extend_from_slice(s);
        self.finish_entry(start);
    }

    fn finish_entry(&mut self, start: usize) {
        let size = self.out.len() - start;
        push_backlen(&mut self.out, size);
        self.count += 1;
    }

    pub(crate) fn finish(mut self) -> Vec<u8> {
        self.out.push(END);
        let total = self.out.len() as u32;
        self.out[..4].copy_from_slice(&total.to_le_bytes());
        let count = self.count.min(usize::from(COUNT_UNKNOWN)) as u16;
        self.out[4..6].copy_from_slice(&count.to_le_bytes());
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_encoding_round_trips() {
        let long = vec![b'x'; 5000];
        let mid = vec![b'y'; 300];
        let values: Vec<&[u8]> = vec![
            b"0", b"127", b"128", b"-1", b"-4096", b"4095", b"-4097", b"32767", b"-32768", b"40000", b"-8388608",
            b"8388608", b"2147483647", b"-2147483649", b"9223372036854775807", b"-9223372036854775808", b"", b"abc",
            b"007", &mid, &long,
        ];
        let mut b = Builder::new();
        values.iter().for_each(|v| b.push(v));
        let lp = b.finish();
        let elems = parse(&lp).unwrap();
        let back: Vec<Vec<u8>> = elems.iter().map(|e| e.to_vec()).collect();
        assert_eq!(back, values.iter().map(|v| v.to_vec()).collect::<Vec<_>>());
        assert_eq!(elems[0], Elem::Int(0));
        assert_eq!(elems[18], Elem::Str(b"007"));
    }

    #[test]
    fn corrupt_listpacks_are_refused() {
        let mut b = Builder::new();
        for v in [&b"hello"[..], b"12", &[b'z'; 200]] {
            b.push(v);
        }
        let lp = b.finish();
        assert!(parse(&lp).is_ok());
        for cut in 0..lp.len() {
            assert!(parse(&lp[..cut]).is_err(), "truncated at {cut}");
        }
        for i in 0..lp.len() {
            for flip in [0x01u8, 0x80, 0xFF] {
                let mut bad = lp.clone();
                bad[i] ^= flip;
                // Must not panic; most flips are detected.
                let _ = parse(&bad);
            }
        }
        let mut bad = lp.clone();
        bad[4] = 7;
        assert!(parse(&bad).is_err(), "wrong count");
    }
}
