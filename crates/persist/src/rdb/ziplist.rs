//! Ziplists: the packed encoding of RDB files before version 10 (read
//! only; their elements become listpack-like `Elem`s).
//!
//! ```text
//! total bytes: u32 LE | tail offset: u32 LE | count: u16 LE | entries | 0xFF
//! entry: previous entry size (1 byte, or 254 + u32 LE) | encoding | data
//! ```

use super::error::{Error, Result};
use super::listpack::Elem;

const HEADER: usize = 10;
const END: u8 = 0xFF;
const BIG_PREVLEN: u8 = 254;

fn bad() -> Error {
    Error::Corrupt("ziplist")
}

/// Checks a ziplist and returns its elements.
pub(crate) fn parse(zl: &[u8]) -> Result<Vec<Elem<'_>>> {
    if zl.len() < HEADER + 1 {
        return Err(bad());
    }
    let total = u32::from_le_bytes(zl[..4].try_into().expect("4 bytes")) as usize;
    let tail = u32::from_le_bytes(zl[4..8].try_into().expect("4 bytes")) as usize;
    let count = u16::from_le_bytes(zl[8..10].try_into().expect("2 bytes"));
    if total != zl.len() || zl[zl.len() - 1] != END {
        return Err(bad());
    }
    let end = zl.len() - 1;
    let mut elems = Vec::with_capacity(usize::from(count).min((end - HEADER) / 2));
    let mut at = HEADER;
    let mut prev_size = 0usize;
    let mut last_start = HEADER;
    while at < end {
        let start = at;
        let (prevlen, used) = match zl[at] {
            BIG_PREVLEN => {
                if at + 5 > end {
                    return Err(bad());
                }
                (u32::from_le_bytes(zl[at + 1..at + 5].try_into().expect("4 bytes")) as usize, 5)
            }
            END => return Err(bad()),
            n => (usize::from(n), 1),
        };
        if prevlen != prev_size {
            return Err(bad());
        }
        at += used;
        let (elem, size) = entry(&zl[at..end])?;
        at += size;
        elems.push(elem);
        prev_size = at - start;
        last_start = start;
    }
    if tail != last_start {
        return Err(bad());
    }
    if count != u16::MAX && usize::from(count) != elems.len() {
        return Err(bad());
    }
    Ok(elems)
}

/// Decodes an entry's encoding and data at the start of `b`: the element
/// and the bytes they take.
fn entry(b: &[u8]) -> Result<(Elem<'_>, usize)> {
    let need = |n: usize| if b.len() >= n { Ok(()) } else { Err(bad()) };
    need(1)?;
    let first = b[0];
    let string = |header: usize, len: usize| -> Result<(Elem<'_>, usize)> {
        let size = header.checked_add(len).ok_or_else(bad)?;
        need(size)?;
        Ok((Elem::Str(&b[header..size]), size))
    };
    let int_le = |n: usize| -> Result<(Elem<'_>, usize)> {
        need(1 + n)?;
        let mut raw = [0u8; 8];
        raw[..n].copy_from_slice(&b[1..1 + n]);
        let shift = 64 - 8 * n as u32;
        Ok((Elem::Int((i64::from_le_bytes(raw) << shift) >> shift), 1 + n))
    };
    match first >> 6 {
        0 => return string(1, usize::from(first & 0x3f)),
        1 => {
            need(2)?;
            return string(2, (usize::from(first & 0x3f) << 8) | usize::from(b[1]));
        }
        2 => {
            need(5)?;
            return string(5, u32::from_be_bytes(b[1..5].try_into().expect("4 bytes")) as usize);
        }
        _ => {}
    }
    match first {
        0xC0 => int_le(2),
        0xD0 => int_le(4),
        0xE0 => int_le(8),
        0xF0 => int_le(3),
        0xFE => int_le(1),
        0xF1..=0xFD => Ok((Elem::Int(i64::from(first & 0x0f) - 1), 1)),
        _ => Err(bad()),
    }
}

/// Builds a ziplist (tests: Shoal never writes them).
#[cfg(test)]
pub(crate) fn build(elems: &[Elem<'_>]) -> Vec<u8> {
    let mut out = vec![0u8; HEADER];
    let mut prev = 0usize;
    let mut tail = HEADER;
    for e in elems {
        let start = out.len();
        tail = start;
        if prev < 254 {
            out.push(prev as u8);
        } else {
            out.push(BIG_PREVLEN);
            out.extend_from_slice(&(prev as u32).to_le_bytes());
        }
        match *e {
            Elem::Int(v) if (0..=12).contains(&v) => out.push(0xF1 + v as u8),
            Elem::Int(v) => {
                out.push(0xE0);
                out.extend_from_slice(&v.to_le_bytes());
            }
            Elem::Str(s) if s.len() < 64 => {
                out.push(s.len() as u8);
                out.extend_from_slice(s);
            }
            Elem::Str(s) => {
                out.push(0x80);
                out.extend_from_slice(&(s.len() as u32).to_be_bytes());
                out.extend_from_slice(s);
            }
        }
        prev = out.len() - start;
    }
    out.push(END);
    let total = out.len() as u32;
    out[..4].copy_from_slice(&total.to_le_bytes());
    out[4..8].copy_from_slice(&(tail as u32).to_le_bytes());
    out[8..10].copy_from_slice(&(elems.len().min(65535) as u16).to_le_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_truncation() {
        let long = vec![b'q'; 300];
        let elems = [Elem::Str(b"abc"), Elem::Int(5), Elem::Int(-70000), Elem::Str(&long), Elem::Str(b"z")];
        let zl = build(&elems);
        assert_eq!(parse(&zl).unwrap(), elems.to_vec());
        for cut in 0..zl.len() {
            assert!(parse(&zl[..cut]).is_err());
        }
        for i in 0..zl.len() {
            let mut bad = zl.clone();
            bad[i] ^= 0x41;
            let _ = parse(&bad);
        }
    }
}
