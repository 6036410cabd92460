//! `ScanTable`: the hash table under the keyspace and the large hashes,
//! sets and sorted sets.
//!
//! Open addressing with linear probing and Robin Hood placement, deletion by
//! backward shift (no tombstones). Each slot keeps 31 bits of the key's hash
//! beside the item, so probing compares integers and growth never rehashes
//! keys.
//!
//! Robin Hood placement keeps every probe run ordered by home bucket, so all
//! items whose home is bucket `b` sit together, found by walking from `b`.
//! That gives SCAN Redis's guarantee: the cursor walks home buckets in
//! reverse-binary order, and every item present for a whole scan is returned
//! at least once even if the table grows or shrinks between calls.

use std::mem::MaybeUninit;

/// Items expose the bytes they are keyed by.
pub trait TableItem {
    fn key_bytes(&self) -> &[u8];
}

const OCCUPIED: u32 = 1 << 31;
const MIN_CAPACITY: usize = 8;

/// Converts a 64-bit hash to the stored form (never 0).
#[inline]
pub fn stored_hash(hash: u64) -> u32 {
    (hash as u32) | OCCUPIED
}

pub struct ScanTable<T> {
    hashes: Box<[u32]>,
    items: Box<[MaybeUninit<T>]>,
    len: usize,
}

impl<T> Default for ScanTable<T> {
    fn default() -> Self {
        ScanTable { hashes: Box::new([]), items: Box::new([]), len: 0 }
    }
}

impl<T: TableItem> ScanTable<T> {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with_capacity(n: usize) -> Self {
        let mut t = Self::default();
        t.reserve(n);
        t
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of slots.
    pub fn capacity(&self) -> usize {
        self.hashes.len()
    }

    /// Bytes held by the slot arrays (not by what items point to).
    pub fn allocated_bytes(&self) -> usize {
        self.hashes.len() * (4 + std::mem::size_of::<T>())
    }

    #[inline]
    fn mask(&self) -> usize {
        self.hashes.len().wrapping_sub(1)
    }

    #[inline]
    fn distance(&self, pos: usize, stored: u32) -> usize {
        pos.wrapping_sub(stored as usize) & self.mask()
    }

    /// Slot index of the item keyed `key`, whose hash is `hash`.
    #[inline]
    pub fn find(&self, hash: u64, key: &[u8]) -> Option<usize> {
        if self.len == 0 {
            return None;
        }
        let h = stored_hash(hash);
        let mask = self.mask();
        let mut pos = h as usize & mask;
        let mut dist = 0;
        loop {
            let resident = self.hashes[pos];
            if resident == 0 || self.distance(pos, resident) < dist {
                return None;
            }
            if resident == h {
                // SAFETY: a non-zero hash marks an initialised slot.
                let item = unsafe { self.items[pos].assume_init_ref() };
                if item.key_bytes() == key {
                    return Some(pos);
                }
            }
            pos = (pos + 1) & mask;
            dist += 1;
        }
    }

    #[inline]
    pub fn get(&self, hash: u64, key: &[u8]) -> Option<&T> {
        self.find(hash, key).map(|i| self.at(i))
    }

    #[inline]
    pub fn get_mut(&mut self, hash: u64, key: &[u8]) -> Option<&mut T> {
        self.find(hash, key).map(|i| self.at_mut(i))
    }

    /// Starts loading the home slot of `hash` (its stored hash and item).
    #[inline]
    pub fn prefetch_home(&self, hash: u64) {
        if self.hashes.is_empty() {
            return;
        }
        let home = stored_hash(hash) as usize & self.mask();
        crate::prefetch::read(&self.hashes[home]);
        crate::prefetch::read(&self.items[home]);
    }

    /// The first item whose stored hash matches `hash`, without comparing
    /// keys: probably, not certainly, the item keyed by a key of that
    /// hash. For prefetching what a lookup will read next.
    #[inline]
    pub fn probable(&self, hash: u64) -> Option<&T> {
        if self.len == 0 {
            return None;
        }
        let h = stored_hash(hash);
        let mask = self.mask();
        let mut pos = h as usize & mask;
        for dist in 0..self.hashes.len() {
            let resident = self.hashes[pos];
            if resident == 0 || self.distance(pos, resident) < dist {
                return None;
            }
            if resident == h {
                // SAFETY: a non-zero hash marks an initialised slot.
                return Some(unsafe { self.items[pos].assume_init_ref() });
            }
            pos = (pos + 1) & mask;
        }
        None
    }

    /// The item in slot `index`, which must be occupied.
    #[inline]
    pub fn at(&self, index: usize) -> &T {
        assert!(self.hashes[index] != 0, "empty slot");
        // SAFETY: checked occupied above.
        unsafe { self.items[index].assume_init_ref() }
    }

    #[inline]
    pub fn at_mut(&mut self, index: usize) -> &mut T {
        assert!(self.hashes[index] != 0, "empty slot");
        // SAFETY: checked occupied above.
        unsafe { self.items[index].assume_init_mut() }
    }

    /// Inserts an item whose key is not present. Returns its slot.
    pub fn insert_new(&mut self, hash: u64, item: T) -> usize {
        debug_assert!(self.find(hash, item.key_bytes()).is_none(), "duplicate key");
        self.reserve(1);
        let placed = self.place(stored_hash(hash), item);
        self.len += 1;
        placed
    }

    /// Robin Hood placement; returns where `item` itself landed.
    fn place(&mut self, mut h: u32, item: T) -> usize {
        let mask = self.mask();
        let mut pos = h as usize & mask;
        let mut dist = 0;
        let mut carried = item;
        let mut landed = None;
        loop {
            let resident = self.hashes[pos];
            if resident == 0 {
                self.hashes[pos] = h;
                self.items[pos].write(carried);
                return landed.unwrap_or(pos);
            }
            let resident_dist = self.distance(pos, resident);
            if resident_dist < dist {
                // Take the slot from the richer resident and carry it on.
                self.hashes[pos] = h;
                // SAFETY: the slot is occupied; we swap its item with ours.
                let previous = unsafe { std::mem::replace(self.items[pos].assume_init_mut(), carried) };
                carried = previous;
                h = resident;
                dist = resident_dist;
                landed.get_or_insert(pos);
            }
            pos = (pos + 1) & mask;
            dist += 1;
        }
    }

    /// Removes the item in slot `index` and returns it.
    pub fn remove_at(&mut self, index: usize) -> T {
        assert!(self.hashes[index] != 0, "empty slot");
        // SAFETY: occupied; the slot is marked empty or refilled below.
        let item = unsafe { self.items[index].assume_init_read() };
        let mask = self.mask();
        let mut pos = index;
        loop {
            let next = (pos + 1) & mask;
            let h = self.hashes[next];
            if h == 0 || self.distance(next, h) == 0 {
                self.hashes[pos] = 0;
                break;
            }
            self.hashes[pos] = h;
            // SAFETY: `next` is occupied; its item moves to `pos` (now vacant).
            let moved = unsafe { self.items[next].assume_init_read() };
            self.items[pos].write(moved);
            pos = next;
        }
        self.len -= 1;
        self.shrink_if_sparse();
        item
    }

    pub fn remove(&mut self, hash: u64, key: &[u8]) -> Option<T> {
        let index = self.find(hash, key)?;
        Some(self.remove_at(index))
    }

    /// Makes room for `additional` more items without further growth.
    pub fn reserve(&mut self, additional: usize) {
        let needed = self.len + additional;
        if needed * 8 <= self.capacity() * 7 {
            return;
        }
        let mut capacity = self.capacity().max(MIN_CAPACITY);
        while needed * 8 > capacity * 7 {
            capacity *= 2;
        }
        self.resize(capacity);
    }

    fn shrink_if_sparse(&mut self) {
        let capacity = self.capacity();
        if capacity > MIN_CAPACITY && self.len * 8 < capacity {
            let mut target = MIN_CAPACITY;
            while self.len * 2 > target {
                target *= 2;
            }
            self.resize(target);
        }
    }

    fn resize(&mut self, capacity: usize) {
        assert!(capacity.is_power_of_two() && capacity <= (OCCUPIED as usize));
        let old_hashes = std::mem::replace(&mut self.hashes, zeroed_hashes(capacity));
        let mut old_items = std::mem::replace(&mut self.items, new_slots(capacity));
        for (pos, &h) in old_hashes.iter().enumerate() {
            if h != 0 {
                // SAFETY: occupied in the old arrays, read exactly once.
                let item = unsafe { old_items[pos].assume_init_read() };
                self.place(h, item);
            }
        }
        // The old items were moved out; dropping MaybeUninit slots is a no-op.
        old_items.iter_mut().for_each(|_| {});
    }

    /// Drops every item and frees the slots.
    pub fn clear(&mut self) {
        *self = Self::default();
    }

    /// Iterates over all items in slot order.
    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.hashes.iter().zip(self.items.iter()).filter(|(h, _)| **h != 0).map(|(_, item)| {
            // SAFETY: non-zero hash marks an initialised slot.
            unsafe { item.assume_init_ref() }
        })
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut T> {
        self.hashes.iter().zip(self.items.iter_mut()).filter(|(h, _)| **h != 0).map(|(_, item)| {
            // SAFETY: non-zero hash marks an initialised slot.
            unsafe { item.assume_init_mut() }
        })
    }

    /// Calls `visit` for every item whose home bucket is `cursor`'s bucket
    /// and returns the next cursor (0 when the scan is complete).
    pub fn scan(&self, cursor: u64, mut visit: impl FnMut(&T)) -> u64 {
        if self.len == 0 {
            return 0;
        }
        let mask = self.mask();
        let bucket = cursor as usize & mask;
        let mut pos = bucket;
        let mut dist = 0;
        while dist <= mask {
            let h = self.hashes[pos];
            if h == 0 {
                break;
            }
            let resident_dist = self.distance(pos, h);
            if resident_dist == dist {
                // SAFETY: occupied.
                visit(unsafe { self.items[pos].assume_init_ref() });
            } else if resident_dist < dist {
                break;
            }
            pos = (pos + 1) & mask;
            dist += 1;
        }
        next_cursor(cursor, mask as u64)
    }

    /// A slot index holding an item, chosen at random (from `random`).
    pub fn random_index(&self, random: u64) -> Option<usize> {
        if self.len == 0 {
            return None;
        }
        let mask = self.mask();
        let mut pos = random as usize & mask;
        while self.hashes[pos] == 0 {
            pos = (pos + 1) & mask;
        }
        Some(pos)
    }

    /// Keeps only the items for which `keep` returns true.
    pub fn retain(&mut self, mut keep: impl FnMut(&mut T) -> bool) {
        let mut pos = 0;
        while pos < self.capacity() {
            if self.hashes[pos] != 0 && !keep(self.at_mut(pos)) {
                let before = self.capacity();
                drop(self.remove_at(pos));
                if self.capacity() != before {
                    // Shrunk and rehashed: start over (kept items stay kept).
                    pos = 0;
                }
                // Backward shift may have moved an unvisited item into `pos`.
                continue;
            }
            pos += 1;
        }
    }
}

/// Reverse-binary cursor increment over the bits of `mask`.
pub fn next_cursor(cursor: u64, mask: u64) -> u64 {
    let mut v = cursor | !mask;
    v = v.reverse_bits();
    v = v.wrapping_add(1);
    v.reverse_bits()
}

/// A zeroed hash array, its pages written once: a large zeroed
/// allocation comes as pages that are mapped on the first read and copied
/// on the first write, and the copy stops every thread of the process to
/// flush its TLB. Writing first maps each page once.
fn zeroed_hashes(capacity: usize) -> Box<[u32]> {
    const PER_PAGE: usize = 4096 / std::mem::size_of::<u32>();
    let mut hashes = vec![0u32; capacity].into_boxed_slice();
    if capacity >= PER_PAGE {
        for at in (0..capacity).step_by(PER_PAGE) {
            // SAFETY: in bounds; volatile so the write of a zero to zeroed
            // memory is not optimised away.
            unsafe { std::ptr::write_volatile(hashes.as_mut_ptr().add(at), 0) };
        }
    }
    hashes
}

fn new_slots<T>(capacity: usize) -> Box<[MaybeUninit<T>]> {
    let mut v = Vec::with_capacity(capacity);
    v.resize_with(capacity, MaybeUninit::uninit);
    v.into_boxed_slice()
}

impl<T> Drop for ScanTable<T> {
    fn drop(&mut self) {
        if std::mem::needs_drop::<T>() {
            for (h, item) in self.hashes.iter().zip(self.items.iter_mut()) {
                if *h != 0 {
                    // SAFETY: occupied slots are initialised and dropped once.
                    unsafe { item.assume_init_drop() };
                }
            }
        }
    }
}

impl TableItem for Vec<u8> {
    fn key_bytes(&self) -> &[u8] {
        self
    }
}

impl TableItem for Box<[u8]> {
    fn key_bytes(&self) -> &[u8] {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::siphash::hash_bytes;
    use std::collections::HashSet;

    fn key(i: u64) -> Vec<u8> {
        format!("key:{i}").into_bytes()
    }

    #[test]
    fn insert_find_remove() {
        let mut t: ScanTable<Vec<u8>> = ScanTable::new();
        for i in 0..10_000 {
            let k = key(i);
            t.insert_new(hash_bytes(&k), k);
        }
        assert_eq!(t.len(), 10_000);
        for i in 0..10_000 {
            let k = key(i);
            assert_eq!(t.get(hash_bytes(&k), &k), Some(&k));
        }
        for i in (0..10_000).step_by(2) {
            let k = key(i);
            assert_eq!(t.remove(hash_bytes(&k), &k), Some(k));
        }
        for i in 0..10_000 {
            let k = key(i);
            assert_eq!(t.get(hash_bytes(&k), &k).is_some(), i % 2 == 1, "key {i}");
        }
        for i in 0..10_000 {
            let k = key(i);
            t.remove(hash_bytes(&k), &k);
        }
        assert!(t.is_empty());
        assert_eq!(t.capacity(), MIN_CAPACITY);
    }

    #[test]
    fn scan_returns_everything_once_without_changes() {
        let mut t: ScanTable<Vec<u8>> = ScanTable::new();
        for i in 0..5_000 {
            let k = key(i);
            t.insert_new(hash_bytes(&k), k);
        }
        let mut seen = Vec::new();
        let mut cursor = 0;
        loop {
            cursor = t.scan(cursor, |k| seen.push(k.clone()));
            if cursor == 0 {
                break;
            }
        }
        assert_eq!(seen.len(), 5_000);
        assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 5_000);
    }

    #[test]
    fn scan_survives_growth_and_shrinking() {
        let mut t: ScanTable<Vec<u8>> = ScanTable::new();
        for i in 0..1_000 {
            let k = key(i);
            t.insert_new(hash_bytes(&k), k);
        }
        let mut seen = HashSet::new();
        let mut cursor = 0;
        let mut step = 0u64;
        loop {
            cursor = t.scan(cursor, |k| {
                seen.insert(k.clone());
            });
            step += 1;
            // Grow with new keys, then shrink by removing them again.
            if step == 10 {
                for i in 1_000..20_000 {
                    let k = key(i);
                    t.insert_new(hash_bytes(&k), k);
                }
            }
            if step == 200 {
                for i in 1_000..20_000 {
                    let k = key(i);
                    t.remove(hash_bytes(&k), &k);
                }
            }
            if cursor == 0 {
                break;
            }
        }
        for i in 0..1_000 {
            assert!(seen.contains(&key(i)), "key {i} missed");
        }
    }

    #[test]
    fn retain_and_random() {
        let mut t: ScanTable<Vec<u8>> = ScanTable::new();
        for i in 0..3_000 {
            let k = key(i);
            t.insert_new(hash_bytes(&k), k);
        }
        t.retain(|k| k.ends_with(b"7"));
        assert_eq!(t.len(), 300);
        assert!(t.iter().all(|k| k.ends_with(b"7")));
        for r in 0..100u64 {
            let i = t.random_index(r.wrapping_mul(0x9E3779B97F4A7C15)).unwrap();
            assert!(t.at(i).ends_with(b"7"));
        }
    }
}
