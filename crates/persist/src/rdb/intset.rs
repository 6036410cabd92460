//! Intsets: a sorted array of integers of one width (2, 4 or 8 bytes).
//!
//! ```text
//! width: u32 LE | count: u32 LE | count integers, LE, strictly ascending
//! ```

use super::error::{Error, Result};

const HEADER: usize = 8;

/// Checks an intset and returns its integers (ascending, distinct).
pub(crate) fn parse(bytes: &[u8]) -> Result<Vec<i64>> {
    if bytes.len() < HEADER {
        return Err(Error::Corrupt("intset too short"));
    }
    let width = u32::from_le_bytes(bytes[..4].try_into().expect("4 bytes")) as usize;
    let count = u32::from_le_bytes(bytes[4..8].try_into().expect("4 bytes")) as u64;
    if ![2, 4, 8].contains(&width) || HEADER as u64 + count * width as u64 != bytes.len() as u64 {
        return Err(Error::Corrupt("intset header"));
    }
    if count == 0 {
        return Err(Error::Corrupt("empty intset"));
    }
    let values: Vec<i64> = bytes[HEADER..]
        .chunks_exact(width)
        .map(|c| match width {
            2 => i64::from(i16::from_le_bytes(c.try_into().expect("2 bytes"))),
            4 => i64::from(i32::from_le_bytes(c.try_into().expect("4 bytes"))),
            _ => i64::from_le_bytes(c.try_into().expect("8 bytes")),
        })
        .collect();
    if values.windows(2).any(|w| w[0] >= w[1]) {
        return Err(Error::Corrupt("intset out of order or duplicated"));
    }
    Ok(values)
}

/// Builds an intset of ascending distinct integers, in the narrowest
/// width that holds them all (as Redis's intset would be).
pub(crate) fn build(values: &[i64]) -> Vec<u8> {
    let width = values.iter().map(|&v| width_of(v)).max().unwrap_or(2);
    let mut out = Vec::with_capacity(HEADER + values.len() * width);
    out.extend_from_slice(&(width as u32).to_le_bytes());
    out.extend_from_slice(&(values.len() as u32).to_le_bytes());
    for &v in values {
        out.extend_from_slice(&v.to_le_bytes()[..width]);
    }
    out
}

fn width_of(v: i64) -> usize {
    if i16::try_from(v).is_ok() {
        2
    } else if i32::try_from(v).is_ok() {
        4
    } else {
        8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths_round_trip_and_corruption_is_refused() {
        for set in [vec![-3, 0, 7], vec![-70000, 5], vec![i64::MIN, 0, i64::MAX]] {
            let bytes = build(&set);
            assert_eq!(parse(&bytes).unwrap(), set);
            for cut in 0..bytes.len() {
                assert!(parse(&bytes[..cut]).is_err());
            }
        }
        let mut unsorted = build(&[1, 2]);
        unsorted[8..10].copy_from_slice(&5i16.to_le_bytes());
        assert!(parse(&unsorted).is_err());
        assert!(parse(&build(&[])).is_err());
        let mut width = build(&[1]);
        width[0] = 3;
        assert!(parse(&width).is_err());
    }
}
