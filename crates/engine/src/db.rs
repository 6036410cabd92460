//! One database's slice of one shard: the key table and its expiry index.
//!
//! Invariant: an entry has an expiry time if and only if the expiry index
//! holds a reference to it. Every path that adds, removes or changes an
//! expiry goes through `Db`, which keeps the two in step. Slot numbers are
//! valid only until the next insertion or removal.

use shoal_types::ScanTable;

use crate::entry::{Entry, EntryRef, ExpireAt, NO_EXPIRE};

#[derive(Default)]
pub struct Db {
    keys: ScanTable<Entry>,
    expires: ScanTable<EntryRef>,
}

impl Db {
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Keys with an expiry time.
    pub fn volatile_len(&self) -> usize {
        self.expires.len()
    }

    #[inline]
    pub fn find(&self, hash: u64, key: &[u8]) -> Option<usize> {
        self.keys.find(hash, key)
    }

    #[inline]
    pub fn entry(&self, slot: usize) -> &Entry {
        self.keys.at(slot)
    }

    #[inline]
    pub fn entry_mut(&mut self, slot: usize) -> &mut Entry {
        self.keys.at_mut(slot)
    }

    /// One step of prefetching the lookup of a key hashing to `hash`
    /// (see `Keyspace::prefetch`): 0 asks for its home slot, 1 for the
    /// entry found there, 2 for the entry's value.
    #[inline]
    pub fn prefetch(&self, hash: u64, step: usize) {
        match step {
            0 => self.keys.prefetch_home(hash),
            1 => {
                if let Some(entry) = self.keys.probable(hash) {
                    entry.prefetch();
                }
            }
            _ => {
                if let Some(entry) = self.keys.probable(hash) {
                    entry.value().prefetch();
                }
            }
        }
    }

    /// Adds an entry whose key is absent. Returns its slot.
    pub fn insert(&mut self, hash: u64, entry: Entry) -> usize {
        let volatile = entry.has_expire().then(|| EntryRef::to(&entry));
        let slot = self.keys.insert_new(hash, entry);
        if let Some(r) = volatile {
            self.expires.insert_new(hash, r);
            // The expiry insert does not move the main table: slot stays valid.
        }
        slot
    }

    /// Removes the entry in `slot` (whose key hashes to `hash`).
    pub fn remove(&mut self, slot: usize, hash: u64) -> Entry {
        if self.keys.at(slot).has_expire() {
            self.forget_expire(slot, hash);
        }
        self.keys.remove_at(slot)
    }

    /// Sets (or with NO_EXPIRE clears) the expiry of the entry in `slot`.
    pub fn set_expire(&mut self, slot: usize, hash: u64, when: ExpireAt) {
        let had = self.keys.at(slot).has_expire();
        if had && when == NO_EXPIRE {
            self.forget_expire(slot, hash);
        }
        // May move the block (first expiry): reference it only afterwards.
        self.keys.at_mut(slot).set_expire_at(when);
        if !had && when != NO_EXPIRE {
            let r = EntryRef::to(self.keys.at(slot));
            self.expires.insert_new(hash, r);
        }
    }

    fn forget_expire(&mut self, slot: usize, hash: u64) {
        let entry = self.keys.at(slot);
        let index = self.expires.find(hash, entry.key()).expect("volatile key missing from the expiry index");
        assert_eq!(self.expires.at(index).address(), entry.address(), "expiry index out of step");
        self.expires.remove_at(index);
    }

    /// SCAN step over the keys (see `ScanTable::scan`).
    pub fn scan(&self, cursor: u64, visit: impl FnMut(&Entry)) -> u64 {
        self.keys.scan(cursor, visit)
    }

    /// One step over the expiry index: the keys (with their expiry) in the
    /// bucket at `cursor`, and the next cursor.
    pub fn scan_volatile(&self, cursor: u64, found: &mut Vec<(Vec<u8>, ExpireAt)>) -> u64 {
        self.expires.scan(cursor, |r| {
            // SAFETY: the index holds only live entries of this table, and
            // we hold the shard lock through `&self`.
            let (key, when) = unsafe { (r.key().to_vec(), r.expire_at()) };
            found.push((key, when));
        })
    }

    pub fn random_slot(&self, random: u64) -> Option<usize> {
        self.keys.random_index(random)
    }

    /// A random volatile key, for eviction policies that want one.
    pub fn random_volatile_key(&self, random: u64) -> Option<Vec<u8>> {
        let index = self.expires.random_index(random)?;
        // SAFETY: as in scan_volatile.
        Some(unsafe { self.expires.at(index).key() }.to_vec())
    }

    /// A random entry (with a TTL when `volatile`), for eviction sampling.
    pub fn random_entry(&self, volatile: bool, random: u64) -> Option<&Entry> {
        if !volatile {
            return self.random_slot(random).map(|slot| self.entry(slot));
        }
        let index = self.expires.random_index(random)?;
        // SAFETY: as in scan_volatile.
        let key = unsafe { self.expires.at(index).key() };
        self.find(shoal_types::hash_bytes(key), key).map(|slot| self.entry(slot))
    }

    pub fn iter(&self) -> impl Iterator<Item = &Entry> {
        self.keys.iter()
    }

    /// Empties the database and returns its old contents (so the caller
    /// may free them outside the lock).
    pub fn take(&mut self) -> Db {
        std::mem::take(self)
    }

    /// Bytes used by the tables (not the entries).
    pub fn table_bytes(&self) -> usize {
        self.keys.allocated_bytes() + self.expires.allocated_bytes()
    }

    /// Grows the key table ahead of a bulk load.
    pub fn reserve(&mut self, additional: usize) {
        self.keys.reserve(additional);
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        // References first: the index must never outlive its entries.
        self.expires.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shoal_types::{hash_bytes, Value};

    fn put(db: &mut Db, key: &[u8], expire: ExpireAt) {
        let h = hash_bytes(key);
        db.insert(h, Entry::new(key, Value::Int(1), expire, 0));
    }

    #[test]
    fn expiry_index_follows_entries() {
        let mut db = Db::default();
        for i in 0..1000 {
            let key = format!("k{i}").into_bytes();
            put(&mut db, &key, if i % 3 == 0 { 1000 + i } else { NO_EXPIRE });
        }
        assert_eq!(db.len(), 1000);
        assert_eq!(db.volatile_len(), 334);
        for i in 0..1000 {
            let key = format!("k{i}").into_bytes();
            let h = hash_bytes(&key);
            let slot = db.find(h, &key).unwrap();
            if i % 2 == 0 {
                db.remove(slot, h);
            } else {
                db.set_expire(slot, h, NO_EXPIRE);
            }
        }
        assert_eq!(db.len(), 500);
        assert_eq!(db.volatile_len(), 0);
        let key = b"k1".to_vec();
        let h = hash_bytes(&key);
        let slot = db.find(h, &key).unwrap();
        db.set_expire(slot, h, 5);
        let mut found = Vec::new();
        let mut cursor = 0;
        loop {
            cursor = db.scan_volatile(cursor, &mut found);
            if cursor == 0 {
                break;
            }
        }
        assert_eq!(found, vec![(key, 5)]);
    }
}
