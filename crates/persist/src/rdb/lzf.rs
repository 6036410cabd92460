//! LZF compression of RDB strings (`rdbcompression`), in the format
//! Redis's loader (and the `lzf` crate's decompressor) reads.
//!
//! Written here rather than taken from the `lzf` crate, whose compressor
//! allocates and zeroes a 512 KB hash table for every string: a snapshot
//! compresses millions of small listpacks, and that alone made SAVE of a
//! dataset of small collections several times slower than Redis's. This
//! one keeps its table per thread and never clears it: a slot left over
//! from an earlier string is only a candidate, used when it points before
//! the current position and its bytes match, so stale slots cost a missed
//! match at worst, never a wrong one.
//!
//! The format: a control byte below 32 starts a run of `ctrl + 1` literal
//! bytes; otherwise its top three bits are a match length minus 2 (7: an
//! extra byte follows with the rest), its low five bits and the next byte
//! the distance back minus 1 (up to 8 KB).

use std::cell::RefCell;

const HASH_BITS: u32 = 14;
const MAX_LITERALS: usize = 32;
const MAX_DISTANCE: usize = 1 << 13;
/// Longest match: 2 + 7 + 255 bytes.
const MAX_MATCH: usize = 264;

thread_local! {
    static TABLE: RefCell<Vec<u32>> = RefCell::new(vec![0; 1 << HASH_BITS]);
}

#[inline]
fn hash(p: &[u8]) -> usize {
    let v = (p[0] as u32) << 16 | (p[1] as u32) << 8 | p[2] as u32;
    (v.wrapping_mul(2_654_435_761) >> (32 - HASH_BITS)) as usize
}

fn literals(out: &mut Vec<u8>, mut bytes: &[u8]) {
    while !bytes.is_empty() {
        let run = bytes.len().min(MAX_LITERALS);
        out.push((run - 1) as u8);
        out.extend_from_slice(&bytes[..run]);
        bytes = &bytes[run..];
    }
}

/// The compressed form of `input`, if it is shorter than `limit` bytes
/// (None: not worth it, the caller writes the string plain).
pub(crate) fn compress(input: &[u8], limit: usize) -> Option<Vec<u8>> {
    let n = input.len();
    if n < 4 {
        return None;
    }
    let mut out = Vec::with_capacity(limit.min(n));
    TABLE.with(|table| {
        let table = &mut *table.borrow_mut();
        let (mut ip, mut pending) = (0, 0);
        while ip + 2 < n {
            let slot = hash(&input[ip..]);
            let candidate = table[slot] as usize;
            table[slot] = ip as u32;
            let found = candidate < ip
                && ip - candidate <= MAX_DISTANCE
                && input[candidate..candidate + 3] == input[ip..ip + 3];
            if !found {
                ip += 1;
                continue;
            }
            let longest = (n - ip).min(MAX_MATCH);
            let mut len = 3;
            while len < longest && input[candidate + len] == input[ip + len] {
                len += 1;
            }
            literals(&mut out, &input[pending..ip]);
            let distance = ip - candidate - 1;
            let code = len - 2;
            if code < 7 {
                out.push(((code << 5) | (distance >> 8)) as u8);
            } else {
                out.push(((7 << 5) | (distance >> 8)) as u8);
                out.push((code - 7) as u8);
            }
            out.push(distance as u8);
            ip += len;
            pending = ip;
            if out.len() >= limit {
                return None;
            }
        }
        literals(&mut out, &input[pending..]);
        (out.len() < limit).then_some(out)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(input: &[u8]) -> Option<usize> {
        let packed = compress(input, input.len())?;
        let back = lzf::decompress(&packed, input.len()).expect("the lzf crate reads it");
        assert_eq!(back, input);
        Some(packed.len())
    }

    #[test]
    fn what_it_writes_decompresses_to_the_input() {
        assert!(round_trip(&b"abcdefgh".repeat(500)).unwrap() < 100);
        // Matches longer than the longest code, and at the farthest distance.
        assert!(round_trip(&vec![b'x'; 10_000]).is_some());
        let mut far: Vec<u8> = (0..MAX_DISTANCE + 64).map(|i| (i * 7919 % 251) as u8).collect();
        far.extend_from_within(0..64);
        round_trip(&far);
        // Random bytes do not compress; a mix does, partly.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let random: Vec<u8> = (0..5000)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        assert_eq!(round_trip(&random), None);
        let mut mixed = random[..1000].to_vec();
        mixed.extend_from_slice(&random[..1000]);
        assert!(round_trip(&mixed).unwrap() < 1200);
    }

    #[test]
    fn slots_left_by_earlier_strings_never_produce_a_wrong_match() {
        // A long string fills the table with positions beyond the short
        // strings that follow.
        round_trip(&b"0123456789abcdef".repeat(2000));
        for len in 4..200 {
            let s: Vec<u8> = (0..len).map(|i| b"0123456789abcdef"[(i * 3 + len) % 16]).collect();
            round_trip(&s);
        }
    }
}
