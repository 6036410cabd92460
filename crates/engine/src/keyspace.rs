//! The sharded keyspace and its locks.
//!
//! Keys map to one of `SHARD_COUNT` shards by hash slot (CRC16 of the key or
//! its hash tag), so keys sharing a hash tag share a shard and a cluster
//! slot always lives in one shard. Each shard is a mutex over every
//! database's slice of it.
//!
//! Locking rules, which make deadlock impossible:
//! 1. A thread locks shards only through `ShardLocks`, in ascending index
//!    order, all at once, before touching any of them.
//! 2. A thread never waits for anything else while holding shard locks
//!    except the propagation mutex, which is never held while locking shards.
//! 3. `prefetch` alone takes shards outside `ShardLocks`, in any order, but
//!    only with `try_lock`: it never waits, so it cannot join a cycle.
//!
//! "Lock everything" (KEYS, FLUSHALL, scripts, snapshots) is the same
//! operation with every index.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, MutexGuard};
use smallvec::SmallVec;

use crate::db::Db;

/// Number of shards the keyspace is split into.
pub const SHARD_COUNT: usize = 256;

/// Index of a shard.
pub type ShardIndex = u16;

/// The shards one unit needs (most commands need one or two).
pub type ShardList = SmallVec<[ShardIndex; 4]>;

/// The shard a key lives in.
#[inline]
pub fn shard_of(key: &[u8]) -> ShardIndex {
    (shoal_commands::slot_of(key).0 as usize % SHARD_COUNT) as ShardIndex
}

/// A client's WATCH state, shared with every shard that holds its keys.
#[derive(Default)]
pub struct Watcher {
    dirty: AtomicBool,
}

impl Watcher {
    pub fn is_dirty(&self) -> bool {
        self.dirty.load(Ordering::Acquire)
    }

    pub fn mark_dirty(&self) {
        self.dirty.store(true, Ordering::Release);
    }

    pub fn clear(&self) {
        self.dirty.store(false, Ordering::Release);
    }
}

/// One client watching one key.
pub struct WatchEntry {
    pub watcher: Arc<Watcher>,
    /// The key was already logically expired when WATCH ran.
    pub expired: bool,
}

/// Watched keys of one shard: (db, key) to the clients watching it.
pub type WatchMap = HashMap<(usize, Box<[u8]>), Vec<WatchEntry>>;

/// One shard: its slice of every database, who watches its keys and who
/// is blocked on them.
pub struct Shard {
    pub dbs: Box<[Db]>,
    pub watched: WatchMap,
    pub blocked: crate::blocking::BlockedMap,
    /// Client-side caching: key name (in any database, as in Redis) to
    /// the ids of the clients that read it in tracking mode.
    pub tracked: HashMap<Box<[u8]>, Vec<u64>>,
}

#[repr(align(128))]
struct Padded(Mutex<Shard>);

pub struct Keyspace {
    shards: Box<[Padded]>,
    db_count: usize,
}

impl Keyspace {
    pub fn new(db_count: usize) -> Keyspace {
        let shards = (0..SHARD_COUNT)
            .map(|_| {
                Padded(Mutex::new(Shard {
                    dbs: (0..db_count).map(|_| Db::default()).collect(),
                    watched: HashMap::new(),
                    blocked: Default::default(),
                    tracked: HashMap::new(),
                }))
            })
            .collect();
        Keyspace { shards, db_count }
    }

    pub fn db_count(&self) -> usize {
        self.db_count
    }

    /// Locks the given shards (any order, duplicates allowed).
    pub fn lock(&self, shards: &mut [ShardIndex]) -> ShardLocks<'_> {
        shards.sort_unstable();
        let mut held = SmallVec::new();
        let mut previous = None;
        let mut waited = false;
        for &i in shards.iter() {
            if previous != Some(i) {
                let mutex = &self.shards[i as usize].0;
                let guard = mutex.try_lock().unwrap_or_else(|| {
                    waited = true;
                    mutex.lock()
                });
                held.push((i, guard));
                previous = Some(i);
            }
        }
        ShardLocks { held, all: false, waited }
    }

    /// Starts loading into cache what looking up `keys` in `db` will read:
    /// each key's table slot, then its entry, then its value's bytes,
    /// each step for every key before the next, so that the memory
    /// accesses of a whole pipelined batch overlap. Takes only shards that
    /// are free right now, for a moment each; the rest are skipped.
    pub fn prefetch(&self, db: usize, keys: &[crate::At]) {
        let mut held: SmallVec<[(ShardIndex, MutexGuard<'_, Shard>); 16]> = SmallVec::new();
        for at in keys {
            if !held.iter().any(|(i, _)| *i == at.shard) {
                if let Some(guard) = self.shards[at.shard as usize].0.try_lock() {
                    held.push((at.shard, guard));
                }
            }
        }
        if held.is_empty() || db >= self.db_count {
            return;
        }
        for step in 0..3 {
            for at in keys {
                if let Some((_, shard)) = held.iter().find(|(i, _)| *i == at.shard) {
                    shard.dbs[db].prefetch(at.hash, step);
                }
            }
        }
    }

    /// Locks one shard if it is free right now.
    pub fn try_lock_one(&self, shard: ShardIndex) -> Option<MutexGuard<'_, Shard>> {
        self.shards[shard as usize].0.try_lock()
    }

    /// Locks one shard.
    pub fn lock_one(&self, shard: ShardIndex) -> ShardLocks<'_> {
        let mut held = SmallVec::new();
        held.push((shard, self.shards[shard as usize].0.lock()));
        ShardLocks { held, all: false, waited: true }
    }

    /// Locks every shard.
    pub fn lock_all(&self) -> ShardLocks<'_> {
        let held = self.shards.iter().enumerate().map(|(i, s)| (i as ShardIndex, s.0.lock())).collect();
        ShardLocks { held, all: true, waited: true }
    }
}

/// Shards held by one execution unit.
pub struct ShardLocks<'a> {
    /// Sorted by index; when `all`, index i is at position i.
    held: SmallVec<[(ShardIndex, MutexGuard<'a, Shard>); 4]>,
    all: bool,
    /// False when every shard was free at once (the unit may then take its
    /// time from the command before it, see `clock_hint`); true when it
    /// may have waited for another unit.
    pub waited: bool,
}

impl<'a> ShardLocks<'a> {
    pub fn holds_all(&self) -> bool {
        self.all
    }

    pub fn holds(&self, shard: ShardIndex) -> bool {
        self.all || self.held.iter().any(|(i, _)| *i == shard)
    }

    /// The shard with index `shard`, which must be held.
    #[inline]
    pub fn shard(&mut self, shard: ShardIndex) -> &mut Shard {
        if self.all {
            return &mut self.held[shard as usize].1;
        }
        match self.held.iter_mut().find(|(i, _)| *i == shard) {
            Some((_, guard)) => guard,
            None => panic!("shard {shard} used without being locked: the command's key specs missed a key"),
        }
    }

    /// Shared access to the shard with index `shard`, which must be held.
    #[inline]
    pub fn shard_ref(&self, shard: ShardIndex) -> &Shard {
        if self.all {
            return &self.held[shard as usize].1;
        }
        match self.held.iter().find(|(i, _)| *i == shard) {
            Some((_, guard)) => guard,
            None => panic!("shard {shard} used without being locked: the command's key specs missed a key"),
        }
    }

    /// True if some held shard satisfies `test` (for a handful of shards:
    /// with every shard held, true without looking).
    #[inline]
    pub fn any_held(&self, test: impl Fn(&Shard) -> bool) -> bool {
        self.all || self.held.iter().any(|(_, guard)| test(guard))
    }

    /// The shard holding `key`.
    #[inline]
    pub fn shard_for(&mut self, key: &[u8]) -> &mut Shard {
        self.shard(shard_of(key))
    }

    /// Adds `shard` without waiting: succeeds if it is already held, if it
    /// sorts after every held shard (blocking then keeps the global order),
    /// or if it is free right now. Used to reach a key a served blocked
    /// command needs beyond the ready one.
    pub fn try_add(&mut self, keyspace: &'a Keyspace, shard: ShardIndex) -> bool {
        if self.holds(shard) {
            return true;
        }
        let mutex = &keyspace.shards[shard as usize].0;
        let after_all = self.held.last().is_none_or(|(last, _)| *last < shard);
        let guard = if after_all { Some(mutex.lock()) } else { mutex.try_lock() };
        match guard {
            Some(guard) => {
                let at = self.held.partition_point(|(i, _)| *i < shard);
                self.held.insert(at, (shard, guard));
                true
            }
            None => false,
        }
    }

    /// Every held shard.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut Shard> + use<'_, 'a> {
        self.held.iter_mut().map(|(_, g)| &mut **g)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Shard> + use<'_, 'a> {
        self.held.iter().map(|(_, g)| &**g)
    }
}
