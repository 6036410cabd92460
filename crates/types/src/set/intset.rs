//! `IntSet`: a sorted array of distinct integers in one allocation, the
//! encoding Redis calls `intset`.
//!
//! Every element is stored with the same width (2, 4 or 8 bytes, little
//! endian), the smallest that holds the widest element; the width is the
//! first byte of the buffer. Adding a wider element re-encodes the whole
//! array once. Sorted order gives binary-search membership and SMEMBERS's
//! ascending order for integer sets, as in Redis.

use crate::bytebuf::ByteBuf;

/// Offset of the first element (after the width byte).
const HEADER: usize = 1;

#[derive(Clone, Default, PartialEq, Eq)]
pub struct IntSet {
    /// Width byte followed by the elements; empty when there are none.
    bytes: ByteBuf,
}

impl std::fmt::Debug for IntSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// The smallest width that holds `v`.
fn width_for(v: i64) -> usize {
    if i16::try_from(v).is_ok() {
        2
    } else if i32::try_from(v).is_ok() {
        4
    } else {
        8
    }
}

fn decode(bytes: &[u8], width: usize) -> i64 {
    match width {
        2 => i16::from_le_bytes([bytes[0], bytes[1]]) as i64,
        4 => i32::from_le_bytes(bytes[..4].try_into().expect("4 bytes")) as i64,
        _ => i64::from_le_bytes(bytes[..8].try_into().expect("8 bytes")),
    }
}

fn encode(out: &mut [u8], v: i64, width: usize) {
    match width {
        2 => out[..2].copy_from_slice(&(v as i16).to_le_bytes()),
        4 => out[..4].copy_from_slice(&(v as i32).to_le_bytes()),
        _ => out[..8].copy_from_slice(&v.to_le_bytes()),
    }
}

impl IntSet {
    pub fn new() -> IntSet {
        IntSet::default()
    }

    fn width(&self) -> usize {
        self.bytes.first().map_or(2, |w| *w as usize)
    }

    pub fn len(&self) -> usize {
        if self.bytes.is_empty() {
            0
        } else {
            (self.bytes.len() - HEADER) / self.width()
        }
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The element at sorted position `index` (< len).
    pub fn get(&self, index: usize) -> i64 {
        let width = self.width();
        let at = HEADER + index * width;
        decode(&self.bytes[at..at + width], width)
    }

    /// Position of `v`, or where it would be inserted.
    fn search(&self, v: i64) -> Result<usize, usize> {
        let (mut low, mut high) = (0, self.len());
        while low < high {
            let mid = low + (high - low) / 2;
            match self.get(mid).cmp(&v) {
                std::cmp::Ordering::Less => low = mid + 1,
                std::cmp::Ordering::Greater => high = mid,
                std::cmp::Ordering::Equal => return Ok(mid),
            }
        }
        Err(low)
    }

    pub fn contains(&self, v: i64) -> bool {
        // Values wider than the current width cannot be present.
        width_for(v) <= self.width() && self.search(v).is_ok()
    }

    /// Adds `v`; false if it was already present.
    pub fn insert(&mut self, v: i64) -> bool {
        if self.bytes.is_empty() {
            let width = width_for(v);
            self.bytes.resize(HEADER + width, 0);
            self.bytes[0] = width as u8;
            encode(&mut self.bytes[HEADER..], v, width);
            return true;
        }
        if width_for(v) > self.width() {
            self.widen(width_for(v));
        }
        let Err(index) = self.search(v) else { return false };
        let width = self.width();
        let at = HEADER + index * width;
        let old_len = self.bytes.len();
        self.bytes.resize(old_len + width, 0);
        self.bytes.copy_within(at..old_len, at + width);
        encode(&mut self.bytes[at..at + width], v, width);
        true
    }

    /// Re-encodes every element with a larger width.
    fn widen(&mut self, width: usize) {
        let values: Vec<i64> = self.iter().collect();
        let mut bytes = ByteBuf::with_capacity(HEADER + values.len() * width);
        bytes.resize(HEADER + values.len() * width, 0);
        bytes[0] = width as u8;
        for (i, v) in values.into_iter().enumerate() {
            encode(&mut bytes[HEADER + i * width..], v, width);
        }
        self.bytes = bytes;
    }

    /// Removes `v`; false if it was absent.
    pub fn remove(&mut self, v: i64) -> bool {
        if !self.contains(v) {
            return false;
        }
        let Ok(index) = self.search(v) else { return false };
        self.remove_at(index);
        true
    }

    /// Removes the element at sorted position `index` and returns it.
    pub fn remove_at(&mut self, index: usize) -> i64 {
        let v = self.get(index);
        if self.len() == 1 {
            self.bytes = ByteBuf::new();
            return v;
        }
        let width = self.width();
        let at = HEADER + index * width;
        self.bytes.drain(at..at + width);
        v
    }

    pub fn iter(&self) -> impl ExactSizeIterator<Item = i64> + '_ {
        (0..self.len()).map(move |i| self.get(i))
    }

    /// Heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        if self.bytes.capacity() == 0 {
            0
        } else {
            self.bytes.capacity() + 16
        }
    }

    pub fn shrink_to_fit(&mut self) {
        self.bytes.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn behaves_like_a_sorted_set() {
        let mut s = IntSet::new();
        let mut model = BTreeSet::new();
        let mut seed = 11u64;
        for step in 0..5000 {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let v = match step % 3 {
                0 => (seed >> 50) as i64 - 8000,
                1 => (seed >> 30) as i64 - (1 << 33),
                _ => seed as i64,
            };
            if seed.is_multiple_of(4) {
                assert_eq!(s.remove(v), model.remove(&v));
            } else {
                assert_eq!(s.insert(v), model.insert(v));
            }
            assert_eq!(s.len(), model.len());
        }
        assert_eq!(s.iter().collect::<Vec<_>>(), model.iter().copied().collect::<Vec<_>>());
        for v in model.iter() {
            assert!(s.contains(*v));
        }
    }

    #[test]
    fn widths_grow_and_empty_frees() {
        let mut s = IntSet::new();
        s.insert(5);
        s.insert(-3);
        assert_eq!(s.width(), 2);
        s.insert(70000);
        assert_eq!(s.width(), 4);
        s.insert(i64::MIN);
        assert_eq!(s.width(), 8);
        assert_eq!(s.iter().collect::<Vec<_>>(), vec![i64::MIN, -3, 5, 70000]);
        assert!(!s.contains(6));
        for v in [i64::MIN, -3, 5, 70000] {
            assert!(s.remove(v));
        }
        assert!(s.is_empty());
        assert_eq!(s.heap_bytes(), 0);
        assert!(!s.contains(i64::MAX));
    }
}
