//! Clients blocked on keys (BLPOP, BZPOPMIN, XREAD BLOCK, ...).
//!
//! A blocked client leaves a `Waiter` in the registry of every shard that
//! holds one of its keys, in arrival order. A unit that changes a key with
//! waiters records it as ready (`Tx::ready`); before that unit releases its
//! shards, the server serves the waiters of each ready key first-come
//! first-served, running their commands on their behalf, exactly as Redis
//! serves blocked clients before anything else runs.
//!
//! A waiter is claimed exactly once (served, timed out, unblocked or
//! cancelled) through an atomic state; every party that wants to end a wait
//! holds the key's shard while claiming, so a timeout cannot race a serve.

use std::any::Any;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

const WAITING: u8 = 0;

/// How a wait ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum WaitEnd {
    Served = 1,
    TimedOut = 2,
    Unblocked = 3,
    Cancelled = 4,
}

/// One blocked client.
pub struct Waiter {
    pub client_id: u64,
    pub db: usize,
    state: AtomicU8,
    /// What the server needs to run the command again (opaque here).
    pub payload: Box<dyn Any + Send + Sync>,
}

impl Waiter {
    pub fn new(client_id: u64, db: usize, payload: Box<dyn Any + Send + Sync>) -> Waiter {
        Waiter { client_id, db, state: AtomicU8::new(WAITING), payload }
    }

    pub fn is_waiting(&self) -> bool {
        self.state.load(Ordering::Acquire) == WAITING
    }

    /// Ends the wait if it has not ended yet. Call with the shard of at
    /// least one of the waiter's keys locked.
    pub fn claim(&self, end: WaitEnd) -> bool {
        self.state.compare_exchange(WAITING, end as u8, Ordering::AcqRel, Ordering::Acquire).is_ok()
    }

    /// Puts a claimed-for-serving waiter back (its command found nothing).
    pub fn release(&self) {
        let _ = self.state.compare_exchange(WaitEnd::Served as u8, WAITING, Ordering::AcqRel, Ordering::Acquire);
    }

    pub fn ended(&self) -> Option<WaitEnd> {
        match self.state.load(Ordering::Acquire) {
            1 => Some(WaitEnd::Served),
            2 => Some(WaitEnd::TimedOut),
            3 => Some(WaitEnd::Unblocked),
            4 => Some(WaitEnd::Cancelled),
            _ => None,
        }
    }
}

/// Waiters of one shard: (db, key) to the clients blocked on it, oldest first.
#[derive(Default)]
pub struct BlockedMap {
    map: HashMap<(usize, Box<[u8]>), VecDeque<Arc<Waiter>>>,
}

impl BlockedMap {
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn has_waiters(&self, db: usize, key: &[u8]) -> bool {
        !self.map.is_empty() && self.map.contains_key(&(db, Box::from(key)))
    }

    pub fn add(&mut self, db: usize, key: &[u8], waiter: Arc<Waiter>) {
        self.map.entry((db, key.into())).or_default().push_back(waiter);
    }

    /// The oldest waiter still waiting on the key (ended ones are dropped).
    pub fn first_waiting(&mut self, db: usize, key: &[u8]) -> Option<Arc<Waiter>> {
        let map_key = (db, Box::<[u8]>::from(key));
        let queue = self.map.get_mut(&map_key)?;
        while let Some(front) = queue.front() {
            if front.is_waiting() {
                return Some(front.clone());
            }
            queue.pop_front();
        }
        self.map.remove(&map_key);
        None
    }

    /// Waiters on the key that are still waiting, oldest first.
    pub fn waiting(&self, db: usize, key: &[u8]) -> Vec<Arc<Waiter>> {
        self.map
            .get(&(db, Box::from(key)))
            .map(|q| q.iter().filter(|w| w.is_waiting()).cloned().collect())
            .unwrap_or_default()
    }

    /// Removes one waiter from the key's queue.
    pub fn remove(&mut self, db: usize, key: &[u8], waiter: &Arc<Waiter>) {
        let map_key = (db, Box::<[u8]>::from(key));
        if let Some(queue) = self.map.get_mut(&map_key) {
            queue.retain(|w| !Arc::ptr_eq(w, waiter));
            if queue.is_empty() {
                self.map.remove(&map_key);
            }
        }
    }

    /// Keys of `db` with waiters (SWAPDB and FLUSHDB re-check them).
    pub fn keys_in(&self, db: usize) -> Vec<Vec<u8>> {
        self.map.keys().filter(|(d, _)| *d == db).map(|(_, k)| k.to_vec()).collect()
    }
}
