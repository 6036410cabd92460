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
//!
//! Growth of a large table is incremental, as Redis's dict rehashes: moving
//! every item of a table of 64k slots at once stalls its command (and every
//! client waiting behind it) for most of a millisecond. Instead the table
//! keeps its old slot array beside a new one of twice the size and moves
//! at least `DRAIN_STEP` old slots' worth per insert or removal. The old
//! array gives up whole clusters (runs of occupied slots between two empty
//! ones) at a time, so what stays in it is still a valid Robin Hood table:
//! a lookup tries the new array, then the old one. New items go to the new
//! array only. The old array has half the new one's buckets, so a SCAN step
//! visits one old bucket and the two new buckets that split from it.

use std::mem::MaybeUninit;

/// Items expose the bytes they are keyed by.
pub trait TableItem {
    fn key_bytes(&self) -> &[u8];
}

const OCCUPIED: u32 = 1 << 31;
const MIN_CAPACITY: usize = 8;
/// Tables of at least this many slots grow incrementally; smaller ones
/// move their items at once (a few microseconds).
const INCREMENTAL_FROM: usize = 1024;
/// Old slots visited per insert or removal while a growth is under way.
/// The old array is drained after at most capacity / DRAIN_STEP inserts,
/// long before the new array (twice as large) could fill up.
const DRAIN_STEP: usize = 16;

/// Converts a 64-bit hash to the stored form (never 0).
#[inline]
pub fn stored_hash(hash: u64) -> u32 {
    (hash as u32) | OCCUPIED
}

/// One slot array: stored hashes (0 = empty) beside the items.
struct Slots<T> {
    hashes: Box<[u32]>,
    items: Box<[MaybeUninit<T>]>,
}

impl<T> Slots<T> {
    fn empty() -> Self {
        Slots { hashes: Box::new([]), items: Box::new([]) }
    }

    fn with_capacity(capacity: usize) -> Self {
        assert!(capacity.is_power_of_two() && capacity <= (OCCUPIED as usize));
        Slots { hashes: zeroed_hashes(capacity), items: new_slots(capacity) }
    }

    #[inline]
    fn capacity(&self) -> usize {
        self.hashes.len()
    }

    #[inline]
    fn mask(&self) -> usize {
        self.hashes.len().wrapping_sub(1)
    }

    #[inline]
    fn distance(&self, pos: usize, stored: u32) -> usize {
        pos.wrapping_sub(stored as usize) & self.mask()
    }

    #[inline]
    fn occupied(&self, pos: usize) -> bool {
        self.hashes[pos] != 0
    }

    #[inline]
    fn at(&self, pos: usize) -> &T {
        assert!(self.hashes[pos] != 0, "empty slot");
        // SAFETY: checked occupied above.
        unsafe { self.items[pos].assume_init_ref() }
    }

    #[inline]
    fn at_mut(&mut self, pos: usize) -> &mut T {
        assert!(self.hashes[pos] != 0, "empty slot");
        // SAFETY: checked occupied above.
        unsafe { self.items[pos].assume_init_mut() }
    }

    /// Robin Hood placement; returns where `item` itself landed. There
    /// must be an empty slot.
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

    /// Takes the item in slot `index` out, closing the gap by backward
    /// shift.
    fn take(&mut self, index: usize) -> T {
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
        item
    }

    /// Takes the item in slot `pos` out without closing the gap (the
    /// caller empties its whole cluster).
    fn take_in_place(&mut self, pos: usize) -> (u32, T) {
        let h = std::mem::replace(&mut self.hashes[pos], 0);
        assert!(h != 0, "empty slot");
        // SAFETY: was occupied, and is marked empty now: read exactly once.
        (h, unsafe { self.items[pos].assume_init_read() })
    }

    /// Moves every item into `to`, which has room for them all.
    fn move_all(&mut self, to: &mut Slots<T>) {
        for pos in 0..self.capacity() {
            if self.hashes[pos] != 0 {
                let (h, item) = self.take_in_place(pos);
                to.place(h, item);
            }
        }
    }

    /// Calls `visit` for every item whose home bucket is `bucket`.
    fn scan_bucket(&self, bucket: usize, visit: &mut impl FnMut(&T)) {
        let mask = self.mask();
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
    }

    fn iter(&self) -> impl Iterator<Item = &T> {
        self.hashes.iter().zip(self.items.iter()).filter(|(h, _)| **h != 0).map(|(_, item)| {
            // SAFETY: non-zero hash marks an initialised slot.
            unsafe { item.assume_init_ref() }
        })
    }

    fn iter_mut(&mut self) -> impl Iterator<Item = &mut T> {
        self.hashes.iter().zip(self.items.iter_mut()).filter(|(h, _)| **h != 0).map(|(_, item)| {
            // SAFETY: non-zero hash marks an initialised slot.
            unsafe { item.assume_init_mut() }
        })
    }
}

impl<T: TableItem> Slots<T> {
    /// Slot of the item keyed `key` whose stored hash is `h`. The array
    /// must not be empty.
    #[inline]
    fn find(&self, h: u32, key: &[u8]) -> Option<usize> {
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

    /// The first item whose stored hash is `h`, keys not compared.
    #[inline]
    fn probable(&self, h: u32) -> Option<&T> {
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

    #[inline]
    fn prefetch_home(&self, h: u32) {
        if self.hashes.is_empty() {
            return;
        }
        let home = h as usize & self.mask();
        crate::prefetch::read(&self.hashes[home]);
        crate::prefetch::read(&self.items[home]);
    }
}

impl<T> Drop for Slots<T> {
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

/// The old slot array of a growth under way.
struct Draining<T> {
    slots: Slots<T>,
    /// Items still in it.
    len: usize,
    /// Next slot to drain. Between steps it is empty: every slot from the
    /// one the growth started at up to it has been emptied, and no cluster
    /// of what remains crosses it (removals shift items only within their
    /// cluster). So every item left lies ahead, before the walk comes round
    /// to where it started.
    next: usize,
}

pub struct ScanTable<T> {
    /// Where new items go.
    main: Slots<T>,
    /// Items in both arrays.
    len: usize,
    /// During a growth, the smaller array being drained into `main`.
    old: Option<Box<Draining<T>>>,
}

impl<T> Default for ScanTable<T> {
    fn default() -> Self {
        ScanTable { main: Slots::empty(), len: 0, old: None }
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

    /// Number of slots of the array new items go to.
    pub fn capacity(&self) -> usize {
        self.main.capacity()
    }

    /// Number of slot indexes (`at`, `is_occupied`): both arrays' slots
    /// while a growth is under way.
    pub fn slot_count(&self) -> usize {
        self.main.capacity() + self.old.as_ref().map_or(0, |o| o.slots.capacity())
    }

    /// Whether a growth is under way.
    pub fn is_growing(&self) -> bool {
        self.old.is_some()
    }

    /// Bytes held by the slot arrays (not by what items point to).
    pub fn allocated_bytes(&self) -> usize {
        self.slot_count() * (4 + std::mem::size_of::<T>())
    }

    /// Slot index of the item keyed `key`, whose hash is `hash`. Valid
    /// until the table is next changed.
    #[inline]
    pub fn find(&self, hash: u64, key: &[u8]) -> Option<usize> {
        if self.len == 0 {
            return None;
        }
        let h = stored_hash(hash);
        if let Some(pos) = self.main.find(h, key) {
            return Some(pos);
        }
        match &self.old {
            Some(old) => old.slots.find(h, key).map(|pos| pos + self.main.capacity()),
            None => None,
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
        let h = stored_hash(hash);
        self.main.prefetch_home(h);
        if let Some(old) = &self.old {
            old.slots.prefetch_home(h);
        }
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
        self.main.probable(h).or_else(|| self.old.as_ref().and_then(|o| o.slots.probable(h)))
    }

    /// Whether slot index `index` (below `slot_count`) holds an item.
    #[inline]
    pub fn is_occupied(&self, index: usize) -> bool {
        let cap = self.main.capacity();
        match &self.old {
            Some(old) if index >= cap => old.slots.occupied(index - cap),
            _ => self.main.occupied(index),
        }
    }

    /// The item in slot `index`, which must be occupied.
    #[inline]
    pub fn at(&self, index: usize) -> &T {
        let cap = self.main.capacity();
        match &self.old {
            Some(old) if index >= cap => old.slots.at(index - cap),
            _ => self.main.at(index),
        }
    }

    #[inline]
    pub fn at_mut(&mut self, index: usize) -> &mut T {
        let cap = self.main.capacity();
        match &mut self.old {
            Some(old) if index >= cap => old.slots.at_mut(index - cap),
            _ => self.main.at_mut(index),
        }
    }

    /// Inserts an item whose key is not present. Returns its slot.
    pub fn insert_new(&mut self, hash: u64, item: T) -> usize {
        debug_assert!(self.find(hash, item.key_bytes()).is_none(), "duplicate key");
        self.reserve(1);
        // Drain before placing: the slot returned must stay where it is.
        self.drain(DRAIN_STEP);
        let placed = self.main.place(stored_hash(hash), item);
        self.len += 1;
        placed
    }

    /// Removes the item in slot `index` and returns it.
    pub fn remove_at(&mut self, index: usize) -> T {
        let cap = self.main.capacity();
        let item = match self.old.as_deref_mut() {
            Some(old) if index >= cap => {
                old.len -= 1;
                old.slots.take(index - cap)
            }
            _ => self.main.take(index),
        };
        self.len -= 1;
        self.drain(DRAIN_STEP);
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
        if needed * 8 <= self.main.capacity() * 7 {
            return;
        }
        self.finish_growth();
        let current = self.main.capacity();
        let mut capacity = current.max(MIN_CAPACITY);
        while needed * 8 > capacity * 7 {
            capacity *= 2;
        }
        if current >= INCREMENTAL_FROM && capacity == current * 2 {
            self.start_growth(capacity);
        } else {
            self.resize(capacity);
        }
    }

    /// Moves to a new array of `capacity` slots, draining the current one
    /// a step at a time from now on.
    fn start_growth(&mut self, capacity: usize) {
        debug_assert!(self.old.is_none() && capacity > self.main.capacity());
        let slots = std::mem::replace(&mut self.main, Slots::with_capacity(capacity));
        // Below 7/8 load there is an empty slot: start there, so that no
        // cluster is split between drained and not drained.
        let start = slots.hashes.iter().position(|&h| h == 0).expect("a table below 7/8 load has an empty slot");
        self.old = Some(Box::new(Draining { slots, len: self.len, next: start }));
    }

    /// Moves whole clusters from the old array until at least `budget`
    /// slots were visited; ends the growth when the old array is empty.
    fn drain(&mut self, budget: usize) {
        let Some(old) = self.old.as_deref_mut() else {
            return;
        };
        let mask = old.slots.mask();
        let mut visited = 0;
        while old.len > 0 {
            let pos = old.next;
            if old.slots.occupied(pos) {
                let (h, item) = old.slots.take_in_place(pos);
                self.main.place(h, item);
                old.len -= 1;
            } else if visited >= budget {
                // Stop only between clusters.
                return;
            }
            visited += 1;
            old.next = (pos + 1) & mask;
        }
        self.old = None;
    }

    fn finish_growth(&mut self) {
        self.drain(usize::MAX);
    }

    fn shrink_if_sparse(&mut self) {
        let capacity = self.main.capacity();
        if capacity > MIN_CAPACITY && self.len * 8 < capacity {
            self.finish_growth();
            let mut target = MIN_CAPACITY;
            while self.len * 2 > target {
                target *= 2;
            }
            self.resize(target);
        }
    }

    /// Moves every item to a new array of `capacity` slots at once.
    fn resize(&mut self, capacity: usize) {
        debug_assert!(self.old.is_none());
        let mut previous = std::mem::replace(&mut self.main, Slots::with_capacity(capacity));
        previous.move_all(&mut self.main);
    }

    /// Drops every item and frees the slots.
    pub fn clear(&mut self) {
        *self = Self::default();
    }

    /// Iterates over all items.
    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.main.iter().chain(self.old.iter().flat_map(|o| o.slots.iter()))
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut T> {
        self.main.iter_mut().chain(self.old.iter_mut().flat_map(|o| o.slots.iter_mut()))
    }

    /// Calls `visit` for every item whose home bucket is `cursor`'s bucket
    /// and returns the next cursor (0 when the scan is complete). During a
    /// growth the bucket is the old array's, and the new array's buckets
    /// that split from it are visited with it.
    pub fn scan(&self, cursor: u64, mut visit: impl FnMut(&T)) -> u64 {
        if self.len == 0 {
            return 0;
        }
        let Some(old) = &self.old else {
            let mask = self.main.mask();
            self.main.scan_bucket(cursor as usize & mask, &mut visit);
            return next_cursor(cursor, mask as u64);
        };
        let small = old.slots.mask();
        let large = self.main.mask();
        let bucket = cursor as usize & small;
        old.slots.scan_bucket(bucket, &mut visit);
        let mut split = bucket;
        while split <= large {
            self.main.scan_bucket(split, &mut visit);
            split += small + 1;
        }
        next_cursor(cursor, small as u64)
    }

    /// A slot index holding an item: the first one at or after a position
    /// chosen from `random`.
    pub fn random_index(&self, random: u64) -> Option<usize> {
        if self.len == 0 {
            return None;
        }
        let slots = self.slot_count();
        let mut index = (random % slots as u64) as usize;
        while !self.is_occupied(index) {
            index += 1;
            if index == slots {
                index = 0;
            }
        }
        Some(index)
    }

    /// Keeps only the items for which `keep` returns true.
    pub fn retain(&mut self, mut keep: impl FnMut(&mut T) -> bool) {
        // Removals below then only shift items within `main`.
        self.finish_growth();
        let mut pos = 0;
        while pos < self.capacity() {
            if self.main.occupied(pos) && !keep(self.main.at_mut(pos)) {
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

    /// Inserts keys 0..n.
    fn filled(n: u64) -> ScanTable<Vec<u8>> {
        let mut t = ScanTable::new();
        for i in 0..n {
            let k = key(i);
            t.insert_new(hash_bytes(&k), k);
        }
        t
    }

    #[test]
    fn large_tables_grow_a_step_at_a_time() {
        // 1024 slots hold 896 items at 7/8; the 897th starts a growth.
        let mut t = filled(896);
        assert_eq!((t.capacity(), t.is_growing()), (1024, false));
        let k = key(896);
        t.insert_new(hash_bytes(&k), k);
        assert_eq!((t.capacity(), t.is_growing()), (2048, true));
        assert!(t.old.as_ref().unwrap().len > 800, "one insert moved most items");
        let mut inserted = 897;
        while t.is_growing() {
            let k = key(inserted);
            t.insert_new(hash_bytes(&k), k);
            inserted += 1;
            for i in (0..inserted).step_by(7) {
                let k = key(i);
                assert_eq!(t.get(hash_bytes(&k), &k), Some(&k), "key {i} after {inserted} inserts");
            }
        }
        // Drained long before the new array could fill up.
        assert!((inserted as usize) < 897 + 1024 / DRAIN_STEP + 64, "{inserted} inserts to drain");
        assert_eq!(t.len(), inserted as usize);
        assert_eq!(t.iter().count(), inserted as usize);
        // Small tables still move everything at once.
        let mut small = filled(448);
        let k = key(448);
        small.insert_new(hash_bytes(&k), k);
        assert_eq!((small.capacity(), small.is_growing()), (1024, false));
    }

    #[test]
    fn random_operations_match_a_model_across_growths() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut t: ScanTable<Vec<u8>> = ScanTable::new();
        let mut model = HashSet::new();
        let mut grew = 0;
        for step in 0..200_000u32 {
            // Mostly inserts early on, so the table grows through several
            // sizes; then as many removals as inserts.
            let k = key(rng.random_range(0..40_000));
            let h = hash_bytes(&k);
            let insert = rng.random_range(0..100) < if step < 100_000 { 70 } else { 45 };
            if insert {
                if model.insert(k.clone()) {
                    t.insert_new(h, k);
                } else {
                    assert_eq!(t.get(h, &k), Some(&k));
                }
            } else {
                assert_eq!(t.remove(h, &k).is_some(), model.remove(&k), "step {step}");
            }
            grew += t.is_growing() as u32;
            assert_eq!(t.len(), model.len());
            if step % 5_000 == 0 {
                assert_eq!(t.iter().count(), model.len());
                assert!(model.iter().all(|k| t.get(hash_bytes(k), k).is_some()));
            }
        }
        assert!(grew > 100, "no growth was under way for long ({grew} steps)");
        let found: HashSet<_> = t.iter().cloned().collect();
        assert_eq!(found, model);
    }

    #[test]
    fn scan_during_a_growth_returns_every_item() {
        let mut t = filled(896);
        let mut seen = HashSet::new();
        let mut cursor = 0;
        let mut next = 896;
        let mut steps_while_growing = 0;
        loop {
            cursor = t.scan(cursor, |k| {
                seen.insert(k.clone());
            });
            // Keep a growth under way for most of the scan: a few inserts
            // per step, with removals of keys added since.
            for _ in 0..3 {
                let k = key(next);
                t.insert_new(hash_bytes(&k), k);
                next += 1;
            }
            if next % 2 == 0 {
                let k = key(next - 5);
                t.remove(hash_bytes(&k), &k);
            }
            steps_while_growing += t.is_growing() as u32;
            if cursor == 0 {
                break;
            }
        }
        assert!(steps_while_growing > 10, "the scan never met a growth");
        for i in 0..896 {
            assert!(seen.contains(&key(i)), "key {i} missed");
        }
    }

    #[test]
    fn random_index_and_retain_during_a_growth() {
        let mut t = filled(900);
        assert!(t.is_growing());
        let mut slots = HashSet::new();
        for r in 0..20_000u64 {
            let i = t.random_index(r.wrapping_mul(0x9E3779B97F4A7C15)).unwrap();
            assert!(t.at(i).starts_with(b"key:"));
            slots.insert(i);
        }
        // Both arrays' items are reachable.
        assert!(slots.iter().any(|&i| i >= t.capacity()) && slots.iter().any(|&i| i < t.capacity()));
        t.retain(|k| k.ends_with(b"3"));
        assert!(!t.is_growing());
        assert_eq!(t.len(), 90);
        assert!(t.iter().all(|k| k.ends_with(b"3")));
    }
}
