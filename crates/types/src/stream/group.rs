//! Consumer groups: the delivery cursor, the pending entries list (PEL)
//! and the consumers that own pending entries.
//!
//! Every pending entry is in the group's PEL (ordered by ID) and in the
//! PEL of the consumer that owns it. Consumers live in a slab so a pending
//! entry refers to its owner by index; names map to slab indexes in byte
//! order, the order in which Redis lists consumers.

use std::collections::{BTreeMap, BTreeSet};

use super::id::StreamId;

/// `entries_read` value meaning "unknown".
pub const ENTRIES_READ_UNKNOWN: i64 = -1;

/// Index of a consumer in its group's slab.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConsumerId(u32);

/// A delivered, not yet acknowledged entry.
#[derive(Clone, Debug)]
pub struct Nack {
    /// Milliseconds since the epoch of the last delivery.
    pub delivery_time: i64,
    pub delivery_count: u64,
    owner: ConsumerId,
}

impl Nack {
    pub fn owner(&self) -> ConsumerId {
        self.owner
    }
}

#[derive(Clone, Debug)]
pub struct Consumer {
    name: Box<[u8]>,
    /// Milliseconds since the epoch of the consumer's last activity.
    pub seen_time: i64,
    pel: BTreeSet<StreamId>,
}

impl Consumer {
    pub fn name(&self) -> &[u8] {
        &self.name
    }

    pub fn pending(&self) -> usize {
        self.pel.len()
    }

    /// Pending IDs in `[start, end]`, ascending.
    pub fn pending_range(&self, start: StreamId, end: StreamId) -> impl Iterator<Item = StreamId> + '_ {
        range_of(&self.pel, start, end).copied()
    }
}

fn range_of<T: Ord + Copy>(set: &BTreeSet<T>, start: T, end: T) -> std::collections::btree_set::Range<'_, T> {
    if start > end {
        // An empty range (BTreeSet::range panics on inverted bounds).
        return set.range(start..start);
    }
    set.range(start..=end)
}

#[derive(Clone, Debug)]
pub struct Group {
    /// Last ID delivered to the group's consumers.
    pub last_id: StreamId,
    /// Logical count of entries read, or `ENTRIES_READ_UNKNOWN`.
    pub entries_read: i64,
    pel: BTreeMap<StreamId, Nack>,
    names: BTreeMap<Box<[u8]>, ConsumerId>,
    slots: Vec<Option<Consumer>>,
    free: Vec<u32>,
}

impl Group {
    pub fn new(last_id: StreamId, entries_read: i64) -> Group {
        Group { last_id, entries_read, pel: BTreeMap::new(), names: BTreeMap::new(), slots: Vec::new(), free: Vec::new() }
    }

    // ---- consumers -------------------------------------------------------

    pub fn consumer_count(&self) -> usize {
        self.names.len()
    }

    pub fn find_consumer(&self, name: &[u8]) -> Option<ConsumerId> {
        self.names.get(name).copied()
    }

    pub fn consumer(&self, id: ConsumerId) -> &Consumer {
        self.slots[id.0 as usize].as_ref().expect("live consumer id")
    }

    fn consumer_mut(&mut self, id: ConsumerId) -> &mut Consumer {
        self.slots[id.0 as usize].as_mut().expect("live consumer id")
    }

    /// Records activity of a consumer (Redis refreshes it on lookups).
    pub fn touch_consumer(&mut self, id: ConsumerId, now_ms: i64) {
        self.consumer_mut(id).seen_time = now_ms;
    }

    /// Creates a consumer; None if the name is taken.
    pub fn create_consumer(&mut self, name: &[u8], now_ms: i64) -> Option<ConsumerId> {
        if self.names.contains_key(name) {
            return None;
        }
        let consumer = Consumer { name: name.into(), seen_time: now_ms, pel: BTreeSet::new() };
        let id = match self.free.pop() {
            Some(slot) => {
                self.slots[slot as usize] = Some(consumer);
                ConsumerId(slot)
            }
            None => {
                self.slots.push(Some(consumer));
                ConsumerId((self.slots.len() - 1) as u32)
            }
        };
        self.names.insert(name.into(), id);
        Some(id)
    }

    /// Deletes a consumer and its pending entries; returns how many it had.
    pub fn delete_consumer(&mut self, name: &[u8]) -> Option<usize> {
        let id = self.names.remove(name)?;
        let consumer = self.slots[id.0 as usize].take().expect("live consumer id");
        for pending in &consumer.pel {
            self.pel.remove(pending);
        }
        self.free.push(id.0);
        Some(consumer.pel.len())
    }

    /// Consumers in name order.
    pub fn consumers(&self) -> impl Iterator<Item = &Consumer> + '_ {
        self.names.values().map(|&id| self.consumer(id))
    }

    // ---- pending entries -------------------------------------------------

    pub fn pending_count(&self) -> usize {
        self.pel.len()
    }

    pub fn nack(&self, id: StreamId) -> Option<&Nack> {
        self.pel.get(&id)
    }

    pub fn first_pending(&self) -> Option<StreamId> {
        self.pel.keys().next().copied()
    }

    pub fn last_pending(&self) -> Option<StreamId> {
        self.pel.keys().next_back().copied()
    }

    /// Pending entries from `start` on, ascending.
    pub fn pending_from(&self, start: StreamId) -> impl Iterator<Item = (StreamId, &Nack)> + '_ {
        self.pel.range(start..).map(|(id, nack)| (*id, nack))
    }

    /// Records a delivery by XREADGROUP: a new pending entry owned by
    /// `consumer`, or an existing one handed over to it with its delivery
    /// count reset.
    pub fn deliver(&mut self, id: StreamId, consumer: ConsumerId, now_ms: i64) {
        let previous = self.pel.insert(id, Nack { delivery_time: now_ms, delivery_count: 1, owner: consumer });
        if let Some(old) = previous {
            self.consumer_mut(old.owner).pel.remove(&id);
        }
        self.consumer_mut(consumer).pel.insert(id);
    }

    /// Removes a pending entry (XACK, or an entry gone from the stream).
    pub fn remove_pending(&mut self, id: StreamId) -> bool {
        match self.pel.remove(&id) {
            Some(nack) => {
                self.consumer_mut(nack.owner).pel.remove(&id);
                true
            }
            None => false,
        }
    }

    /// Gives a pending entry to `consumer` with the given delivery data
    /// (XCLAIM, XAUTOCLAIM); creates it if missing (XCLAIM FORCE).
    pub fn claim(&mut self, id: StreamId, consumer: ConsumerId, delivery_time: i64, delivery_count: u64) {
        let nack = Nack { delivery_time, delivery_count, owner: consumer };
        if let Some(old) = self.pel.insert(id, nack) {
            if old.owner != consumer {
                self.consumer_mut(old.owner).pel.remove(&id);
            }
        }
        self.consumer_mut(consumer).pel.insert(id);
    }

    /// Marks a pending entry delivered once more now (history reads).
    pub fn redeliver(&mut self, id: StreamId, now_ms: i64) {
        if let Some(nack) = self.pel.get_mut(&id) {
            nack.delivery_time = now_ms;
            nack.delivery_count += 1;
        }
    }

    /// Approximate heap bytes (memory reports).
    pub fn heap_bytes(&self) -> usize {
        let per_nack = 16 + std::mem::size_of::<Nack>() + 16;
        let consumers: usize = self.consumers().map(|c| 64 + c.name.len() + c.pel.len() * 16).sum();
        self.pel.len() * per_nack + consumers + self.slots.capacity() * std::mem::size_of::<Option<Consumer>>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_entries_follow_their_owner() {
        let mut g = Group::new(StreamId::MIN, 0);
        let alice = g.create_consumer(b"alice", 1).unwrap();
        let bob = g.create_consumer(b"bob", 1).unwrap();
        assert!(g.create_consumer(b"alice", 2).is_none());
        let (a, b) = (StreamId::new(1, 0), StreamId::new(2, 0));
        g.deliver(a, alice, 10);
        g.deliver(b, alice, 10);
        assert_eq!(g.consumer(alice).pending(), 2);
        g.deliver(a, bob, 20);
        assert_eq!((g.consumer(alice).pending(), g.consumer(bob).pending()), (1, 1));
        assert_eq!(g.nack(a).unwrap().delivery_count, 1);
        g.claim(b, bob, 30, 5);
        assert_eq!(g.consumer(bob).pending_range(StreamId::MIN, StreamId::MAX).collect::<Vec<_>>(), vec![a, b]);
        assert_eq!(g.delete_consumer(b"bob"), Some(2));
        assert_eq!(g.pending_count(), 0);
        let carol = g.create_consumer(b"carol", 3).unwrap();
        assert_eq!(g.consumers().map(|c| c.name().to_vec()).collect::<Vec<_>>(), vec![b"alice".to_vec(), b"carol".to_vec()]);
        g.deliver(a, carol, 40);
        assert!(g.remove_pending(a));
        assert!(!g.remove_pending(a));
        assert_eq!(g.consumer(carol).pending_range(StreamId::MAX, StreamId::MIN).count(), 0);
    }
}
