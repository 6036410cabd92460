//! Hashes: maps from field to value, with Redis 7.0's two encodings.
//!
//! - `Packed` (`listpack`): fields and values alternate in one `Compact`
//!   block; lookups walk it, which is fast while it is small.
//! - `Table` (`hashtable`): a `ScanTable` of pairs, each pair one
//!   allocation holding the field and the value.
//!
//! A packed hash becomes a table when it holds more than
//! `hash-max-listpack-entries` pairs or a field or value longer than
//! `hash-max-listpack-value` is written, as in Redis; a table never turns
//! back into a packed hash.

use rand::Rng;

use crate::set::compact::{entry_size, Compact, Iter as CompactIter};
use crate::set::{sample, HEAP_SAMPLE};
use crate::siphash::hash_bytes;
use crate::table::{ScanTable, TableItem};
use crate::collection::Collection;

/// Redis refuses to grow a listpack past 1 GiB and converts instead.
const PACKED_SAFETY_BYTES: usize = 1 << 30;

/// The thresholds that decide the encoding (hash-max-listpack-*).
#[derive(Clone, Copy, Debug)]
pub struct HashLimits {
    pub max_entries: usize,
    pub max_value: usize,
}

/// A field and its value in one allocation: the field's length as a
/// LEB128 varint, the field, then the value.
pub struct Pair(Box<[u8]>);

fn read_len(bytes: &[u8]) -> (usize, usize) {
    let mut n = 0usize;
    for (i, &b) in bytes.iter().enumerate() {
        n |= ((b & 0x7f) as usize) << (7 * i);
        if b & 0x80 == 0 {
            return (n, i + 1);
        }
    }
    unreachable!("pair built with a complete length prefix")
}

impl Pair {
    pub fn new(field: &[u8], value: &[u8]) -> Pair {
        // The exact size, so that the boxed slice keeps the allocation
        // (a larger capacity would be reallocated to shrink it).
        let prefix = (usize::BITS - field.len().leading_zeros()).div_ceil(7).max(1) as usize;
        let mut bytes = Vec::with_capacity(prefix + field.len() + value.len());
        let mut n = field.len();
        loop {
            let low = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                bytes.push(low);
                break;
            }
            bytes.push(low | 0x80);
        }
        bytes.extend_from_slice(field);
        bytes.extend_from_slice(value);
        Pair(bytes.into_boxed_slice())
    }

    /// Replaces the value, in place when the new one has the same length.
    pub fn set_value(&mut self, value: &[u8]) {
        let (len, used) = read_len(&self.0);
        let rest = &mut self.0[used + len..];
        if rest.len() == value.len() {
            rest.copy_from_slice(value);
        } else {
            *self = Pair::new(&self.0[used..used + len], value);
        }
    }

    fn split(&self) -> (&[u8], &[u8]) {
        let (len, used) = read_len(&self.0);
        self.0[used..].split_at(len)
    }

    pub fn field(&self) -> &[u8] {
        self.split().0
    }

    pub fn value(&self) -> &[u8] {
        self.split().1
    }
}

impl TableItem for Pair {
    fn key_bytes(&self) -> &[u8] {
        self.field()
    }
}

/// A hash value.
pub enum Hash {
    Packed(Compact),
    Table(Box<ScanTable<Pair>>),
}

impl Default for Hash {
    fn default() -> Self {
        Hash::Packed(Compact::new())
    }
}

impl std::fmt::Debug for Hash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(self.iter().map(|(k, v)| (String::from_utf8_lossy(k), String::from_utf8_lossy(v))))
            .finish()
    }
}

/// Field/value pairs of a packed hash.
struct PackedPairs<'a> {
    inner: CompactIter<'a>,
}

impl<'a> Iterator for PackedPairs<'a> {
    type Item = (&'a [u8], &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        let field = self.inner.next()?;
        let value = self.inner.next().expect("packed hash holds pairs");
        Some((field, value))
    }
}

fn packed_pairs(p: &Compact) -> PackedPairs<'_> {
    PackedPairs { inner: p.iter() }
}

/// Pair index of `field` in a packed hash.
fn packed_find(p: &Compact, field: &[u8]) -> Option<usize> {
    packed_pairs(p).position(|(f, _)| f == field)
}

impl Hash {
    pub fn new() -> Hash {
        Hash::default()
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        match self {
            Hash::Packed(p) => p.len() / 2,
            Hash::Table(t) => t.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The value of `field`.
    pub fn get(&self, field: &[u8]) -> Option<&[u8]> {
        match self {
            Hash::Packed(p) => packed_pairs(p).find(|(f, _)| *f == field).map(|(_, v)| v),
            Hash::Table(t) => t.get(hash_bytes(field), field).map(Pair::value),
        }
    }

    pub fn contains(&self, field: &[u8]) -> bool {
        self.get(field).is_some()
    }

    /// Sets `field` to `value`; true if the field is new. Converts to a
    /// table first when a string is too long for the packed encoding, and
    /// after adding when there are too many fields.
    pub fn set(&mut self, field: &[u8], value: &[u8], limits: HashLimits) -> bool {
        if let Hash::Packed(p) = self {
            let too_long = field.len() > limits.max_value || value.len() > limits.max_value;
            let too_big = p.heap_bytes() + entry_size(field) + entry_size(value) > PACKED_SAFETY_BYTES;
            if too_long || too_big {
                self.convert(1);
            }
        }
        match self {
            Hash::Packed(p) => {
                if let Some(index) = packed_find(p, field) {
                    p.replace(index * 2 + 1, value);
                    return false;
                }
                p.append(&[field, value]);
                if p.len() / 2 > limits.max_entries {
                    self.convert(0);
                }
                true
            }
            Hash::Table(t) => {
                let hash = hash_bytes(field);
                match t.find(hash, field) {
                    Some(slot) => {
                        t.at_mut(slot).set_value(value);
                        false
                    }
                    None => {
                        t.insert_new(hash, Pair::new(field, value));
                        true
                    }
                }
            }
        }
    }

    /// Turns a packed hash into a table with room for `extra` more fields.
    fn convert(&mut self, extra: usize) {
        let Hash::Packed(p) = self else { return };
        let mut table = ScanTable::with_capacity(p.len() / 2 + extra);
        for (field, value) in packed_pairs(p) {
            table.insert_new(hash_bytes(field), Pair::new(field, value));
        }
        *self = Hash::Table(Box::new(table));
    }

    /// Removes `field`; false if absent.
    pub fn remove(&mut self, field: &[u8]) -> bool {
        match self {
            Hash::Packed(p) => match packed_find(p, field) {
                Some(index) => {
                    p.splice(index * 2, 2, &[]);
                    true
                }
                None => false,
            },
            Hash::Table(t) => t.remove(hash_bytes(field), field).is_some(),
        }
    }

    /// Every field and value, in the encoding's order.
    pub fn iter(&self) -> Box<dyn Iterator<Item = (&[u8], &[u8])> + '_> {
        match self {
            Hash::Packed(p) => Box::new(packed_pairs(p)),
            Hash::Table(t) => Box::new(t.iter().map(|pair| pair.split())),
        }
    }

    /// Calls `visit` with `count` pairs drawn independently (repeats
    /// possible) while it returns true. The hash must not be empty.
    pub fn sample<R: Rng + ?Sized>(&self, count: u64, rng: &mut R, mut visit: impl FnMut(&[u8], &[u8]) -> bool) {
        match self {
            Hash::Packed(p) => {
                // Index the pairs once instead of walking for every draw.
                let pairs: Vec<(&[u8], &[u8])> = packed_pairs(p).collect();
                for _ in 0..count {
                    let (f, v) = pairs[rng.random_range(0..pairs.len())];
                    if !visit(f, v) {
                        return;
                    }
                }
            }
            Hash::Table(t) => {
                for _ in 0..count {
                    let (f, v) = t.at(sample::fair_slot(t, rng)).split();
                    if !visit(f, v) {
                        return;
                    }
                }
            }
        }
    }

    /// A pair chosen uniformly at random (the hash must not be empty).
    pub fn random_pair<R: Rng + ?Sized>(&self, rng: &mut R) -> (&[u8], &[u8]) {
        match self {
            Hash::Packed(p) => {
                let index = rng.random_range(0..p.len() / 2);
                packed_pairs(p).nth(index).expect("index below length")
            }
            Hash::Table(t) => t.at(sample::fair_slot(t, rng)).split(),
        }
    }

    /// `count` distinct pairs chosen at random (count < len), as Redis's
    /// HRANDFIELD picks them: a random subset of everything when most of
    /// the hash is wanted, otherwise draws until enough distinct ones.
    pub fn distinct_sample<R: Rng + ?Sized>(&self, count: usize, rng: &mut R) -> Vec<(&[u8], &[u8])> {
        let count = count.min(self.len());
        match self {
            Hash::Table(t) if count * 3 <= t.len() => {
                sample::distinct_slots(t, count, rng).into_iter().map(|slot| t.at(slot).split()).collect()
            }
            _ => {
                let pairs: Vec<(&[u8], &[u8])> = self.iter().collect();
                sample::distinct_positions(pairs.len(), count, rng).into_iter().map(|i| pairs[i]).collect()
            }
        }
    }

    /// One HSCAN step: visits the pairs of the cursor's bucket (or all
    /// pairs for the packed encoding) and returns the next cursor.
    pub fn scan(&self, cursor: u64, mut visit: impl FnMut(&[u8], &[u8])) -> u64 {
        match self {
            Hash::Packed(p) => {
                packed_pairs(p).for_each(|(f, v)| visit(f, v));
                0
            }
            Hash::Table(t) => t.scan(cursor, |pair| {
                let (f, v) = pair.split();
                visit(f, v)
            }),
        }
    }

    /// True when HSCAN walks the hash in several steps (Redis's hashtable).
    pub fn scans_incrementally(&self) -> bool {
        matches!(self, Hash::Table(_))
    }
}

impl Collection for Hash {
    fn encoding(&self) -> &'static str {
        match self {
            Hash::Packed(_) => "listpack",
            Hash::Table(_) => "hashtable",
        }
    }

    fn len(&self) -> usize {
        Hash::len(self)
    }

    fn duplicate(&self) -> Self {
        match self {
            Hash::Packed(p) => Hash::Packed(p.clone()),
            Hash::Table(t) => {
                let mut copy = ScanTable::with_capacity(t.len());
                for pair in t.iter() {
                    copy.insert_new(hash_bytes(pair.field()), Pair(pair.0.clone()));
                }
                Hash::Table(Box::new(copy))
            }
        }
    }

    fn heap_bytes(&self) -> usize {
        match self {
            Hash::Packed(p) => p.heap_bytes(),
            Hash::Table(t) => {
                // Pair sizes are estimated from a sample, as Redis does.
                let sampled: Vec<usize> = t.iter().take(HEAP_SAMPLE).map(|pair| pair.0.len()).collect();
                let average = sampled.iter().sum::<usize>() / sampled.len().max(1);
                std::mem::size_of::<ScanTable<Pair>>() + t.allocated_bytes() + t.len() * average
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    const LIMITS: HashLimits = HashLimits { max_entries: 128, max_value: 64 };

    fn contents(h: &Hash) -> BTreeMap<Vec<u8>, Vec<u8>> {
        h.iter().map(|(f, v)| (f.to_vec(), v.to_vec())).collect()
    }

    #[test]
    fn pair_layout() {
        let long = vec![b'f'; 300];
        let p = Pair::new(&long, b"value");
        assert_eq!(p.field(), &long[..]);
        assert_eq!(p.value(), b"value");
        let empty = Pair::new(b"", b"");
        assert_eq!(empty.field(), b"");
        assert_eq!(empty.value(), b"");
        for n in [0usize, 1, 127, 128, 16383, 16384] {
            let field = vec![b'x'; n];
            let p = Pair::new(&field, b"v");
            assert_eq!(p.0.len(), (if n < 128 { 1 } else if n < 16384 { 2 } else { 3 }) + n + 1, "exact size for {n}");
        }
        let mut p = Pair::new(&long, b"value");
        p.set_value(b"VALUE");
        assert_eq!((p.field(), p.value()), (&long[..], &b"VALUE"[..]), "same length: in place");
        p.set_value(b"longer value");
        assert_eq!((p.field(), p.value()), (&long[..], &b"longer value"[..]));
        p.set_value(b"");
        assert_eq!((p.field(), p.value()), (&long[..], &b""[..]));
    }

    #[test]
    fn conversions_follow_the_limits() {
        let mut h = Hash::new();
        for i in 0..128 {
            assert!(h.set(format!("f{i}").as_bytes(), b"v", LIMITS));
        }
        assert_eq!(h.encoding(), "listpack");
        assert!(h.set(b"one-more", b"v", LIMITS));
        assert_eq!(h.encoding(), "hashtable");
        assert_eq!(h.len(), 129);

        let mut h = Hash::new();
        h.set(b"a", b"1", LIMITS);
        assert!(!h.set(b"a", &[b'x'; 65], LIMITS));
        assert_eq!(h.encoding(), "hashtable");
        assert_eq!(h.get(b"a"), Some(&[b'x'; 65][..]));

        let mut h = Hash::new();
        h.set(&[b'k'; 65], b"1", LIMITS);
        assert_eq!(h.encoding(), "hashtable");

        let zero = HashLimits { max_entries: 0, max_value: 64 };
        let mut h = Hash::new();
        h.set(b"a", b"1", zero);
        assert_eq!(h.encoding(), "hashtable");
    }

    #[test]
    fn operations_match_a_model_in_both_encodings() {
        let mut rng = rand::rng();
        for limits in [LIMITS, HashLimits { max_entries: 1000, max_value: 64 }, HashLimits { max_entries: 4, max_value: 64 }] {
            let mut h = Hash::new();
            let mut model = BTreeMap::new();
            for step in 0..4000u64 {
                let k = format!("f{}", step.wrapping_mul(2654435761) % 300).into_bytes();
                let v = format!("v{step}").into_bytes();
                if step % 3 == 0 {
                    assert_eq!(h.remove(&k), model.remove(&k).is_some());
                } else {
                    assert_eq!(h.set(&k, &v, limits), model.insert(k.clone(), v).is_none());
                }
                assert_eq!(h.len(), model.len());
            }
            assert_eq!(contents(&h), model);
            for (k, v) in &model {
                assert_eq!(h.get(k), Some(v.as_slice()));
            }
            let copy = h.duplicate();
            assert_eq!(contents(&copy), model);
            let picked = h.distinct_sample(model.len() / 2, &mut rng);
            let distinct: BTreeMap<Vec<u8>, Vec<u8>> = picked.iter().map(|(f, v)| (f.to_vec(), v.to_vec())).collect();
            assert_eq!(distinct.len(), model.len() / 2);
            assert!(distinct.iter().all(|(f, v)| model.get(f) == Some(v)));
            let (f, v) = h.random_pair(&mut rng);
            assert_eq!(model.get(f).map(|x| x.as_slice()), Some(v));
            let mut n = 0;
            h.sample(10, &mut rng, |f, v| {
                assert_eq!(model.get(f).map(|x| x.as_slice()), Some(v));
                n += 1;
                true
            });
            assert_eq!(n, 10);
            let mut seen = BTreeMap::new();
            let mut cursor = 0;
            loop {
                cursor = h.scan(cursor, |f, v| {
                    seen.insert(f.to_vec(), v.to_vec());
                });
                if cursor == 0 {
                    break;
                }
            }
            assert_eq!(seen, model);
        }
    }
}
