//! Zipmaps: the hash encoding of RDB files before Redis 2.6 (read only).
//!
//! ```text
//! count (254: unknown) | (len field len free value [free bytes])... | 0xFF
//! len: one byte below 254, or 254 then a u32 LE
//! ```

use super::error::{Error, Result};

const BIG: u8 = 254;
const END: u8 = 255;

/// Checks a zipmap and returns its field/value pairs.
pub(crate) fn parse(zm: &[u8]) -> Result<Vec<(&[u8], &[u8])>> {
    let bad = || Error::Corrupt("zipmap");
    if zm.len() < 2 || zm[zm.len() - 1] != END {
        return Err(bad());
    }
    let end = zm.len() - 1;
    let mut at = 1;
    let mut pairs = Vec::new();
    let length = |at: &mut usize| -> Result<usize> {
        let first = *zm.get(*at).filter(|_| *at < end).ok_or_else(bad)?;
        if first < BIG {
            *at += 1;
            return Ok(usize::from(first));
        }
        if first == END || *at + 5 > end {
            return Err(bad());
        }
        let n = u32::from_le_bytes(zm[*at + 1..*at + 5].try_into().expect("4 bytes")) as usize;
        *at += 5;
        Ok(n)
    };
    let slice = |at: &mut usize, n: usize| -> Result<&[u8]> {
        let stop = at.checked_add(n).filter(|&s| s <= end).ok_or_else(bad)?;
        let s = &zm[*at..stop];
        *at = stop;
        Ok(s)
    };
    while at < end {
        let n = length(&mut at)?;
        let field = slice(&mut at, n)?;
        let n = length(&mut at)?;
        let free = usize::from(*slice(&mut at, 1)?.first().ok_or_else(bad)?);
        let value = slice(&mut at, n)?;
        slice(&mut at, free)?;
        pairs.push((field, value));
    }
    if pairs.is_empty() || (zm[0] != BIG && usize::from(zm[0]) != pairs.len()) {
        return Err(bad());
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_are_read_and_truncation_refused() {
        // 2 pairs: "a" => "1" (1 free byte), "bc" => 300 bytes (big length).
        let mut zm = vec![2, 1, b'a', 1, 1, b'1', 0, 2, b'b', b'c', 254];
        zm.extend_from_slice(&300u32.to_le_bytes());
        zm.push(0);
        zm.extend_from_slice(&[b'v'; 300]);
        zm.push(END);
        let pairs = parse(&zm).unwrap();
        assert_eq!(pairs[0], (&b"a"[..], &b"1"[..]));
        assert_eq!(pairs[1].1.len(), 300);
        for cut in 0..zm.len() {
            assert!(parse(&zm[..cut]).is_err());
        }
        zm[0] = 3;
        assert!(parse(&zm).is_err());
    }
}
