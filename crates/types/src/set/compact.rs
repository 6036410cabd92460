//! `Compact`: a short sequence of byte strings in one exact-size heap
//! block behind a thin pointer, the small encoding of sets and hashes.
//!
//! Millions of small collections are the case this encoding is for, so it
//! spends as few bytes as it can beside the data itself:
//!
//! ```text
//! [block size: LEB128] [count << 1 | wide: LEB128] then
//!   narrow (every element at most 15 bytes): the lengths as 4-bit
//!           nibbles, two per byte, followed by the elements' bytes;
//!   wide:   each element as a LEB128 length and its bytes.
//! ```
//!
//! A hash of five two-byte fields and values takes 27 bytes (Redis's
//! listpack: 47). An empty sequence allocates nothing. Every change writes
//! a new exact-size block, as a listpack reallocates and moves its tail:
//! callers keep these sequences small.

use std::alloc::{self, Layout};
use std::ptr::NonNull;

use crate::varint;

/// Longest element the narrow layout can describe.
const NIBBLE_MAX: usize = 15;

#[derive(Default)]
pub struct Compact {
    block: Option<NonNull<u8>>,
}

// SAFETY: a Compact owns its block exclusively, like a Box<[u8]>.
unsafe impl Send for Compact {}
unsafe impl Sync for Compact {}

impl std::fmt::Debug for Compact {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter().map(String::from_utf8_lossy)).finish()
    }
}

fn varint_len(n: usize) -> usize {
    varint::len(n as u64)
}

fn write_varint(out: &mut [u8], n: usize) -> usize {
    varint::write(out, n as u64)
}

fn read_varint(bytes: &[u8]) -> (usize, usize) {
    let (n, used) = varint::read(bytes).expect("compact block with a malformed length");
    (n as usize, used)
}

/// Upper bound of the bytes one more element adds (for size limits).
pub fn entry_size(value: &[u8]) -> usize {
    varint_len(value.len()) + value.len()
}

/// Size of the block holding `values`, and whether it uses the wide
/// layout.
fn plan(values: &[&[u8]]) -> (usize, bool) {
    let wide = values.iter().any(|v| v.len() > NIBBLE_MAX);
    let data: usize = values.iter().map(|v| v.len()).sum();
    let lengths = if wide { values.iter().map(|v| varint_len(v.len())).sum() } else { values.len().div_ceil(2) };
    let rest = varint_len(values.len() << 1 | wide as usize) + lengths + data;
    // The size prefix counts itself: it may need one more byte.
    let mut total = rest + 1;
    while varint_len(total) + rest != total {
        total = varint_len(total) + rest;
    }
    (total, wide)
}

fn layout(size: usize) -> Layout {
    Layout::from_size_align(size, 1).expect("compact block size fits a layout")
}

impl Compact {
    pub fn new() -> Compact {
        Compact::default()
    }

    /// Total size of the block (0 when there is none).
    fn size(&self) -> usize {
        let Some(ptr) = self.block else { return 0 };
        // The size prefix ends at its first byte without the continuation
        // bit, which is inside the block.
        let mut prefix_len = 1;
        // SAFETY: every byte up to the prefix's last one is in the block.
        while unsafe { *ptr.as_ptr().add(prefix_len - 1) } & 0x80 != 0 {
            prefix_len += 1;
        }
        // SAFETY: as above, these bytes are the prefix.
        let prefix = unsafe { std::slice::from_raw_parts(ptr.as_ptr(), prefix_len) };
        read_varint(prefix).0
    }

    /// The whole block, header included.
    fn block(&self) -> &[u8] {
        match self.block {
            None => &[],
            // SAFETY: the block is `size` bytes, alive and not mutated
            // while self is borrowed.
            Some(ptr) => unsafe { std::slice::from_raw_parts(ptr.as_ptr(), self.size()) },
        }
    }

    /// (count, wide, bytes after the header).
    fn parts(&self) -> (usize, bool, &[u8]) {
        let block = self.block();
        if block.is_empty() {
            return (0, false, &[]);
        }
        let (_, size_len) = read_varint(block);
        let (tagged, tag_len) = read_varint(&block[size_len..]);
        (tagged >> 1, tagged & 1 == 1, &block[size_len + tag_len..])
    }

    pub fn len(&self) -> usize {
        self.parts().0
    }

    pub fn is_empty(&self) -> bool {
        self.block.is_none()
    }

    /// Bytes of the heap block.
    pub fn heap_bytes(&self) -> usize {
        self.size()
    }

    pub fn iter(&self) -> Iter<'_> {
        let (count, wide, rest) = self.parts();
        if wide {
            Iter { lengths: &[], data: rest, index: 0, count, wide }
        } else {
            let (lengths, data) = rest.split_at(count.div_ceil(2));
            Iter { lengths, data, index: 0, count, wide }
        }
    }

    pub fn get(&self, index: usize) -> Option<&[u8]> {
        self.iter().nth(index)
    }

    /// Position of the first element equal to `value`.
    pub fn position(&self, value: &[u8]) -> Option<usize> {
        self.iter().position(|v| v == value)
    }

    /// Builds a sequence holding exactly `values`.
    pub fn from_slices(values: &[&[u8]]) -> Compact {
        if values.is_empty() {
            return Compact::new();
        }
        let (size, wide) = plan(values);
        // SAFETY: a non-zero size (the header is at least two bytes).
        let raw = unsafe { alloc::alloc(layout(size)) };
        let Some(ptr) = NonNull::new(raw) else { alloc::handle_alloc_error(layout(size)) };
        // SAFETY: the new block is `size` bytes, all written below.
        let out = unsafe { std::slice::from_raw_parts_mut(ptr.as_ptr(), size) };
        let mut at = write_varint(out, size);
        at += write_varint(&mut out[at..], values.len() << 1 | wide as usize);
        if wide {
            for v in values {
                at += write_varint(&mut out[at..], v.len());
                out[at..at + v.len()].copy_from_slice(v);
                at += v.len();
            }
        } else {
            let nibbles = values.len().div_ceil(2);
            out[at..at + nibbles].fill(0);
            for (i, v) in values.iter().enumerate() {
                out[at + i / 2] |= (v.len() as u8) << (4 * (i % 2));
            }
            at += nibbles;
            for v in values {
                out[at..at + v.len()].copy_from_slice(v);
                at += v.len();
            }
        }
        debug_assert_eq!(at, size);
        Compact { block: Some(ptr) }
    }

    /// Replaces `remove` elements starting at `index` with `insert`.
    pub fn splice(&mut self, index: usize, remove: usize, insert: &[&[u8]]) {
        let mut values: Vec<&[u8]> = self.iter().collect();
        assert!(index + remove <= values.len(), "splice beyond the end");
        values.splice(index..index + remove, insert.iter().copied());
        let rebuilt = Compact::from_slices(&values);
        drop(values);
        *self = rebuilt;
    }

    pub fn push(&mut self, value: &[u8]) {
        self.append(&[value]);
    }

    /// Adds `values` at the end.
    pub fn append(&mut self, values: &[&[u8]]) {
        self.splice(self.len(), 0, values);
    }

    /// Removes element `index` and returns it.
    pub fn remove(&mut self, index: usize) -> Vec<u8> {
        let value = self.get(index).expect("remove within bounds").to_vec();
        self.splice(index, 1, &[]);
        value
    }

    pub fn replace(&mut self, index: usize, value: &[u8]) {
        self.splice(index, 1, &[value]);
    }
}

impl Drop for Compact {
    fn drop(&mut self) {
        let size = self.size();
        if let Some(ptr) = self.block.take() {
            // SAFETY: allocated by `from_slices` with this exact size.
            unsafe { alloc::dealloc(ptr.as_ptr(), layout(size)) };
        }
    }
}

impl Clone for Compact {
    fn clone(&self) -> Self {
        let values: Vec<&[u8]> = self.iter().collect();
        Compact::from_slices(&values)
    }
}

impl PartialEq for Compact {
    fn eq(&self, other: &Self) -> bool {
        self.block() == other.block()
    }
}

impl Eq for Compact {}

pub struct Iter<'a> {
    /// Nibble lengths (narrow layout only).
    lengths: &'a [u8],
    data: &'a [u8],
    index: usize,
    count: usize,
    wide: bool,
}

impl<'a> Iterator for Iter<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.index == self.count {
            return None;
        }
        let len = if self.wide {
            let (len, used) = read_varint(self.data);
            self.data = &self.data[used..];
            len
        } else {
            ((self.lengths[self.index / 2] >> (4 * (self.index % 2))) & 0x0f) as usize
        };
        let (value, rest) = self.data.split_at(len);
        self.data = rest;
        self.index += 1;
        Some(value)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let remaining = self.count - self.index;
        (remaining, Some(remaining))
    }
}

impl ExactSizeIterator for Iter<'_> {}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(c: &Compact) -> Vec<Vec<u8>> {
        c.iter().map(|v| v.to_vec()).collect()
    }

    #[test]
    fn matches_a_vec() {
        let mut c = Compact::new();
        let mut model: Vec<Vec<u8>> = Vec::new();
        let mut seed = 5u64;
        for step in 0..3000 {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            // Lengths around the layout and varint boundaries.
            let len = match (seed >> 40) % 5 {
                0 => (seed >> 20) as usize % 4,
                1 => 12 + (seed >> 20) as usize % 6,
                2 => 120 + (seed >> 20) as usize % 16,
                3 => (seed >> 20) as usize % 300,
                _ => 16380 + (seed >> 20) as usize % 8,
            };
            let value: Vec<u8> = (0..len).map(|i| (i as u8).wrapping_add(step as u8)).collect();
            match (seed >> 60) % 4 {
                0 if !model.is_empty() => {
                    let i = seed as usize % model.len();
                    assert_eq!(c.remove(i), model.remove(i));
                }
                1 if !model.is_empty() => {
                    let i = seed as usize % model.len();
                    c.replace(i, &value);
                    model[i] = value;
                }
                2 if model.len() > 40 => {
                    while model.len() > 3 {
                        c.remove(0);
                        model.remove(0);
                    }
                }
                _ => {
                    c.push(&value);
                    model.push(value);
                }
            }
            assert_eq!(c.len(), model.len());
            if step % 97 == 0 {
                assert_eq!(collect(&c), model);
                assert_eq!(collect(&c.clone()), model);
            }
        }
        assert_eq!(collect(&c), model);
    }

    #[test]
    fn narrow_and_wide_layouts() {
        let pairs: Vec<&[u8]> = vec![b"f1", b"v1", b"f2", b"v2", b"f3", b"v3", b"f4", b"v4", b"f5", b"v5"];
        let c = Compact::from_slices(&pairs);
        assert_eq!(c.heap_bytes(), 27);
        assert_eq!(c.len(), 10);
        assert_eq!(c.position(b"v3"), Some(5));
        assert_eq!(c.get(9), Some(&b"v5"[..]));
        let mut odd = Compact::from_slices(&[b"abc", b"", b"0123456789abcde"]);
        assert_eq!(collect(&odd), vec![b"abc".to_vec(), vec![], b"0123456789abcde".to_vec()]);
        odd.push(b"0123456789abcdef");
        assert_eq!(odd.get(3), Some(&b"0123456789abcdef"[..]));
        odd.remove(3);
        assert_eq!(odd.heap_bytes(), 2 + 2 + 18);
        let mut e = Compact::new();
        assert_eq!(e.heap_bytes(), 0);
        e.push(b"");
        assert_eq!(collect(&e), vec![Vec::<u8>::new()]);
        e.remove(0);
        assert!(e.is_empty());
        assert_eq!(std::mem::size_of::<Compact>(), 8);
    }

    #[test]
    fn size_prefix_counts_itself() {
        for data in [100usize, 120, 123, 124, 125, 126, 127, 16300, 16377, 16378, 16379, 16380] {
            let value = vec![b'x'; data];
            let c = Compact::from_slices(&[&value]);
            assert_eq!(c.get(0), Some(&value[..]));
            let (size, _) = plan(&[&value]);
            assert_eq!(c.heap_bytes(), size);
        }
    }
}
