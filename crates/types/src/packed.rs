//! `PackedVec`: a sequence of byte strings in one contiguous allocation,
//! the compact encoding behind small lists, hashes and sorted sets (what
//! Redis calls a listpack).
//!
//! Layout: an element count (u32, little endian) followed by the entries,
//! each a LEB128 length and the bytes. The whole value is one thin pointer
//! (8 bytes) and an empty one allocates nothing. Access by position is a
//! linear walk: callers keep packed values small (the `*-max-listpack-*`
//! thresholds) and convert to a large encoding past them.

use crate::bytebuf::ByteBuf;
use crate::varint;

/// Byte length of the element-count header.
const HEADER: usize = 4;

#[derive(Clone, Default, PartialEq, Eq)]
pub struct PackedVec {
    bytes: ByteBuf,
}

impl std::fmt::Debug for PackedVec {
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
    let (n, used) = varint::read(bytes).expect("truncated packed entry");
    (n as usize, used)
}

impl PackedVec {
    pub fn new() -> PackedVec {
        PackedVec::default()
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        if self.bytes.is_empty() {
            0
        } else {
            u32::from_le_bytes(self.bytes[..HEADER].try_into().expect("header")) as usize
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes of encoded data (what `*-max-listpack-size` limits).
    pub fn encoded_bytes(&self) -> usize {
        self.bytes.len()
    }

    /// Heap bytes held (for memory reports).
    pub fn heap_bytes(&self) -> usize {
        if self.bytes.capacity() == 0 {
            0
        } else {
            self.bytes.capacity() + 16
        }
    }

    fn set_len(&mut self, n: usize) {
        if self.bytes.is_empty() {
            self.bytes.extend_from_slice(&[0; HEADER]);
        }
        self.bytes[..HEADER].copy_from_slice(&(n as u32).to_le_bytes());
    }

    /// Iterates over the elements in order.
    pub fn iter(&self) -> Iter<'_> {
        let data = if self.bytes.is_empty() { &[][..] } else { &self.bytes[HEADER..] };
        Iter { data, remaining: self.len() }
    }

    /// Byte offset (from the start of the data) of element `index`.
    fn offset_of(&self, index: usize) -> usize {
        let mut offset = HEADER;
        for _ in 0..index {
            let (len, used) = read_varint(&self.bytes[offset..]);
            offset += used + len;
        }
        offset
    }

    pub fn get(&self, index: usize) -> Option<&[u8]> {
        self.iter().nth(index)
    }

    pub fn first(&self) -> Option<&[u8]> {
        self.iter().next()
    }

    pub fn last(&self) -> Option<&[u8]> {
        self.iter().last()
    }

    /// Inserts `value` so that it becomes element `index` (index <= len).
    pub fn insert(&mut self, index: usize, value: &[u8]) {
        let len = self.len();
        assert!(index <= len, "insert index {index} beyond length {len}");
        self.set_len(len + 1);
        let at = self.offset_of(index);
        let mut header = [0u8; 10];
        let header_len = write_varint(&mut header, value.len());
        let entry_len = header_len + value.len();
        let old_len = self.bytes.len();
        self.bytes.reserve(entry_len);
        self.bytes.resize(old_len + entry_len, 0);
        self.bytes.copy_within(at..old_len, at + entry_len);
        self.bytes[at..at + header_len].copy_from_slice(&header[..header_len]);
        self.bytes[at + header_len..at + entry_len].copy_from_slice(value);
    }

    pub fn push_back(&mut self, value: &[u8]) {
        let len = self.len();
        self.set_len(len + 1);
        let mut header = [0u8; 10];
        let header_len = write_varint(&mut header, value.len());
        self.bytes.extend_from_slice(&header[..header_len]);
        self.bytes.extend_from_slice(value);
    }

    pub fn push_front(&mut self, value: &[u8]) {
        self.insert(0, value);
    }

    /// Removes element `index` and returns it.
    pub fn remove(&mut self, index: usize) -> Vec<u8> {
        let len = self.len();
        assert!(index < len, "remove index {index} beyond length {len}");
        let at = self.offset_of(index);
        let (value_len, used) = read_varint(&self.bytes[at..]);
        let value = self.bytes[at + used..at + used + value_len].to_vec();
        self.bytes.drain(at..at + used + value_len);
        if len == 1 {
            self.bytes = ByteBuf::new();
        } else {
            self.set_len(len - 1);
        }
        value
    }

    /// Removes `count` elements starting at `index`.
    pub fn remove_range(&mut self, index: usize, count: usize) {
        let len = self.len();
        assert!(index + count <= len, "range beyond length");
        if count == 0 {
            return;
        }
        if count == len {
            self.bytes = ByteBuf::new();
            return;
        }
        let start = self.offset_of(index);
        let mut end = start;
        for _ in 0..count {
            let (value_len, used) = read_varint(&self.bytes[end..]);
            end += used + value_len;
        }
        self.bytes.drain(start..end);
        self.set_len(len - count);
    }

    /// Replaces element `index` with `value`.
    pub fn replace(&mut self, index: usize, value: &[u8]) {
        self.remove(index);
        self.insert(index, value);
    }

    /// Position of the first element equal to `value`.
    pub fn position(&self, value: &[u8]) -> Option<usize> {
        self.iter().position(|v| v == value)
    }

    pub fn clear(&mut self) {
        self.bytes = ByteBuf::new();
    }

    /// Releases unused capacity.
    pub fn shrink_to_fit(&mut self) {
        self.bytes.shrink_to_fit();
    }

    /// The raw encoding (for serialisation and digests).
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Rebuilds from raw bytes produced by `as_bytes`, validating them.
    pub fn from_bytes(bytes: &[u8]) -> Option<PackedVec> {
        if bytes.is_empty() {
            return Some(PackedVec::new());
        }
        if bytes.len() < HEADER {
            return None;
        }
        let count = u32::from_le_bytes(bytes[..HEADER].try_into().ok()?) as usize;
        let mut offset = HEADER;
        for _ in 0..count {
            let (len, used) = checked_varint(&bytes[offset..])?;
            offset = offset.checked_add(used)?.checked_add(len)?;
            if offset > bytes.len() {
                return None;
            }
        }
        (offset == bytes.len() && count > 0).then(|| PackedVec { bytes: ByteBuf::from(bytes) })
    }
}

fn checked_varint(bytes: &[u8]) -> Option<(usize, usize)> {
    let mut n = 0usize;
    for (i, &b) in bytes.iter().enumerate().take(10) {
        n |= ((b & 0x7f) as usize).checked_shl(7 * i as u32)?;
        if b & 0x80 == 0 {
            return Some((n, i + 1));
        }
    }
    None
}

impl<'a> FromIterator<&'a [u8]> for PackedVec {
    fn from_iter<I: IntoIterator<Item = &'a [u8]>>(iter: I) -> Self {
        let mut p = PackedVec::new();
        for v in iter {
            p.push_back(v);
        }
        p
    }
}

/// Encoded size of one element (to check size thresholds before inserting).
pub fn entry_bytes(value: &[u8]) -> usize {
    varint_len(value.len()) + value.len()
}

pub struct Iter<'a> {
    data: &'a [u8],
    remaining: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.remaining == 0 {
            return None;
        }
        let (len, used) = read_varint(self.data);
        let value = &self.data[used..used + len];
        self.data = &self.data[used + len..];
        self.remaining -= 1;
        Some(value)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl ExactSizeIterator for Iter<'_> {}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(p: &PackedVec) -> Vec<Vec<u8>> {
        p.iter().map(|v| v.to_vec()).collect()
    }

    #[test]
    fn operations_match_a_vec() {
        let mut p = PackedVec::new();
        let mut model: Vec<Vec<u8>> = Vec::new();
        let mut seed = 7u64;
        for step in 0..2000 {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let op = (seed >> 60) % 5;
            let len = ((seed >> 20) % 300) as usize;
            let value: Vec<u8> = (0..len).map(|i| (i as u8).wrapping_add(step as u8)).collect();
            match op {
                0 => {
                    p.push_back(&value);
                    model.push(value);
                }
                1 => {
                    p.push_front(&value);
                    model.insert(0, value);
                }
                2 if !model.is_empty() => {
                    let i = (seed as usize) % model.len();
                    assert_eq!(p.remove(i), model.remove(i));
                }
                3 if !model.is_empty() => {
                    let i = (seed as usize) % model.len();
                    p.replace(i, &value);
                    model[i] = value;
                }
                _ => {
                    let i = (seed as usize) % (model.len() + 1);
                    p.insert(i, &value);
                    model.insert(i, value);
                }
            }
            assert_eq!(p.len(), model.len());
        }
        assert_eq!(collect(&p), model);
        assert_eq!(p.get(3).map(|v| v.to_vec()), model.get(3).cloned());
        assert_eq!(p.last().map(|v| v.to_vec()), model.last().cloned());
        let round = PackedVec::from_bytes(p.as_bytes()).unwrap();
        assert_eq!(collect(&round), model);
    }

    #[test]
    fn ranges_and_empty() {
        let mut p: PackedVec = [&b"a"[..], b"b", b"c", b"d"].into_iter().collect();
        p.remove_range(1, 2);
        assert_eq!(collect(&p), vec![b"a".to_vec(), b"d".to_vec()]);
        p.remove_range(0, 2);
        assert!(p.is_empty());
        assert_eq!(p.heap_bytes(), 0);
        assert_eq!(std::mem::size_of::<PackedVec>(), 8);
        assert!(PackedVec::from_bytes(&[1, 0, 0, 0, 5, b'a']).is_none());
    }
}
