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
//! Worker threads never wait on a shard mutex: they use `try_lock`, which
//! either takes every shard of the unit or none and says which shard (or
//! the gate, below) was busy; the connection then waits asynchronously for
//! that shard's release event (`listen`) and tries again, so the other
//! connections of its worker keep running meanwhile. Threads that serve no
//! connection (cron, expiry, tests) may use the waiting `lock_one` and `lock_all`.
//!
//! Fairness: a unit that found its shards busy `GATE_AFTER_TRIES` times
//! raises the gate (`Gate::raise`); while it is up, units that hold no
//! ticket of their own find the keyspace busy, so a unit needing many
//! shards (EXEC, lock-all) cannot be starved by a stream of small ones.
//!
//! "Lock everything" (KEYS, FLUSHALL, scripts, snapshots) is the same
//! operation with every index.
//!
//! Kept locks: a thread that runs scripts keeps the locks of a lock-all
//! unit that ends (`hold_between_units`) instead of releasing 256 mutexes;
//! the keyspace is then "kept", and whoever wants a shard next, on any
//! thread, takes the kept locks over (`claim_kept`): a lock-all unit uses
//! them as they are, anyone else releases them and tries again. See
//! "Kept locks" below.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU8, Ordering};
use std::sync::Arc;

use event_listener::{Event, EventListener};


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
    /// The client stopped watching (UNWATCH, EXEC, DISCARD, disconnect):
    /// the shards drop this watcher's entries lazily (`prune_watches`), so
    /// unwatching never waits for a shard.
    retired: AtomicBool,
}

impl Watcher {
    pub fn retire(&self) {
        self.retired.store(true, Ordering::Release);
    }

    pub fn is_retired(&self) -> bool {
        self.retired.load(Ordering::Acquire)
    }

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

/// A shard's mutex, the event its release fires, and how many connections
/// wait for it (one cache line pair per shard, so neighbours do not share
/// a line). A release fires the event only when someone waits: the event
/// costs a fence and a lock, the count one load. The count, the event and
/// the mutex's lock word come first, in one cache line: locking and
/// releasing every shard (a script call) touches one line per shard, not
/// two.
#[repr(C, align(128))]
struct Padded {
    waiters: AtomicU32,
    released: Event,
    shard: Mutex<Shard>,
}

/// A connection waiting for a shard (or the gate): resolves when it may
/// have become free. Counted in the shard's waiters while it lives.
pub struct ShardWait<'a> {
    listener: EventListener,
    /// The shard's waiter count and the keyspace's.
    waiters: Option<(&'a AtomicU32, &'a AtomicU32)>,
}

impl std::future::Future for ShardWait<'_> {
    type Output = ();

    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        std::pin::Pin::new(&mut self.listener).poll(cx)
    }
}

impl Drop for ShardWait<'_> {
    fn drop(&mut self) {
        if let Some((shard, keyspace)) = self.waiters {
            shard.fetch_sub(1, Ordering::Release);
            keyspace.fetch_sub(1, Ordering::Release);
        }
    }
}

/// Why `try_lock` took nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Busy {
    /// This shard is held by another unit.
    Shard(ShardIndex),
    /// A starved unit raised the gate: wait until it is through.
    Gate,
}

/// Failed attempts after which a unit raises the gate.
pub const GATE_AFTER_TRIES: u32 = 3;

/// The fairness gate (see the module comment).
#[derive(Default)]
pub struct Gate {
    raised: AtomicU32,
    lowered: Event,
}

/// A raised gate, lowered when dropped (once its unit holds its shards, or
/// when its connection goes away).
pub struct GateTicket(Arc<Gate>);

impl Gate {
    pub fn raise(gate: &Arc<Gate>) -> GateTicket {
        gate.raised.fetch_add(1, Ordering::AcqRel);
        GateTicket(gate.clone())
    }

    fn is_up(&self) -> bool {
        self.raised.load(Ordering::Acquire) > 0
    }
}

impl Drop for GateTicket {
    fn drop(&mut self) {
        if self.0.raised.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.lowered.notify(usize::MAX);
        }
    }
}

/// What holds the whole keyspace for a long time, so that other clients
/// answer instead of waiting (see ARCHITECTURE.md, "Exclusive mode").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExclusiveKind {
    /// A script or function: `-BUSY` past `busy-reply-threshold`.
    Script = 1,
    /// Loading a dataset: `-LOADING` at once.
    Loading = 2,
}

pub struct Keyspace {
    shards: Box<[Padded]>,
    db_count: usize,
    pub gate: Arc<Gate>,
    exclusive: AtomicU8,
    exclusive_since_ms: AtomicI64,
    /// Every shard's mutex is locked and owned by nobody: the locks a
    /// finished lock-all unit kept (see "Kept locks").
    kept: AtomicBool,
    /// Threads and connections waiting for some shard: a unit that ends
    /// keeps nothing while this is non-zero.
    waiting: AtomicU32,
}

impl Keyspace {
    pub fn new(db_count: usize) -> Keyspace {
        let shards = (0..SHARD_COUNT)
            .map(|_| {
                Padded {
                    waiters: AtomicU32::new(0),
                    released: Event::new(),
                    shard: Mutex::new(Shard {
                        dbs: (0..db_count).map(|_| Db::default()).collect(),
                        watched: HashMap::new(),
                        blocked: Default::default(),
                        tracked: HashMap::new(),
                    }),
                }
            })
            .collect();
        Keyspace {
            shards,
            db_count,
            gate: Arc::default(),
            exclusive: AtomicU8::new(0),
            exclusive_since_ms: AtomicI64::new(0),
            kept: AtomicBool::new(false),
            waiting: AtomicU32::new(0),
        }
    }

    /// Takes every shard in `shards` (any order, duplicates allowed) if
    /// all are free right now, else none. Units holding no gate ticket
    /// find the keyspace busy while the gate is up.
    pub fn try_lock(&self, shards: &mut [ShardIndex], ticket: bool) -> Result<ShardLocks<'_>, Busy> {
        if !ticket && self.gate.is_up() {
            return Err(Busy::Gate);
        }
        shards.sort_unstable();
        match self.try_take(shards) {
            Err(_) if self.release_kept() => self.try_take(shards).map_err(Busy::Shard),
            taken => taken.map_err(Busy::Shard),
        }
    }

    /// `try_lock`'s attempt: every shard of the sorted `shards`, or none
    /// and the first busy one.
    fn try_take(&self, shards: &[ShardIndex]) -> Result<ShardLocks<'_>, ShardIndex> {
        let mut held = SmallVec::new();
        let mut previous = None;
        for &i in shards.iter() {
            if previous != Some(i) {
                match self.shards[i as usize].shard.try_lock() {
                    Some(guard) => held.push((i, guard)),
                    None => {
                        drop(ShardLocks { keyspace: self, held, all: false });
                        return Err(i);
                    }
                }
                previous = Some(i);
            }
        }
        Ok(ShardLocks { keyspace: self, held, all: false })
    }

    /// Takes every shard if all are free right now (or kept), else none.
    pub fn try_lock_all(&self, ticket: bool) -> Result<ShardLocks<'_>, Busy> {
        if !ticket && self.gate.is_up() {
            return Err(Busy::Gate);
        }
        if self.claim_kept() {
            return Ok(ShardLocks::every(self));
        }
        for (i, slot) in self.shards.iter().enumerate() {
            match slot.shard.try_lock() {
                Some(guard) => std::mem::forget(guard),
                None => {
                    self.unlock_first(i);
                    // Kept by a unit that ended after the first look.
                    if self.claim_kept() {
                        return Ok(ShardLocks::every(self));
                    }
                    return Err(Busy::Shard(i as ShardIndex));
                }
            }
        }
        Ok(ShardLocks::every(self))
    }

    /// A listener that fires when what `busy` names may have become free.
    /// Create it, then look again (`is_free`), then await it: a release
    /// between the failed attempt and the listener is not missed.
    pub fn listen(&self, busy: Busy) -> ShardWait<'_> {
        match busy {
            Busy::Shard(i) => {
                let slot = &self.shards[i as usize];
                // Counted before listening and before looking again, so a
                // release after that look sees the count (see the drop of
                // `ShardLocks`).
                slot.waiters.fetch_add(1, Ordering::SeqCst);
                self.waiting.fetch_add(1, Ordering::SeqCst);
                ShardWait { listener: slot.released.listen(), waiters: Some((&slot.waiters, &self.waiting)) }
            }
            Busy::Gate => ShardWait { listener: self.gate.lowered.listen(), waiters: None },
        }
    }

    /// True if what `busy` names is free right now (kept locks are
    /// released: a listener counts as waiting, so none are kept after it
    /// looked).
    pub fn is_free(&self, busy: Busy) -> bool {
        match busy {
            Busy::Shard(i) => !self.shards[i as usize].shard.is_locked() || self.release_kept(),
            Busy::Gate => !self.gate.is_up(),
        }
    }

    /// Marks the keyspace as held exclusively by a long unit (the caller
    /// holds every shard); `since_ms` is when it started.
    pub fn set_exclusive(&self, kind: ExclusiveKind, since_ms: i64) {
        self.exclusive_since_ms.store(since_ms, Ordering::Release);
        self.exclusive.store(kind as u8, Ordering::Release);
    }

    pub fn clear_exclusive(&self) {
        self.exclusive.store(0, Ordering::Release);
    }

    /// What holds the keyspace exclusively, and since when (ms).
    pub fn exclusive(&self) -> Option<(ExclusiveKind, i64)> {
        let kind = match self.exclusive.load(Ordering::Acquire) {
            1 => ExclusiveKind::Script,
            2 => ExclusiveKind::Loading,
            _ => return None,
        };
        Some((kind, self.exclusive_since_ms.load(Ordering::Acquire)))
    }

    /// Drops the watch entries of clients that stopped watching, in the
    /// shards that are free right now (the cron calls it).
    pub fn prune_watches(&self) {
        for i in 0..SHARD_COUNT {
            if let Some(mut locks) = self.try_lock_one(i as ShardIndex) {
                let shard = locks.shard(i as ShardIndex);
                if !shard.watched.is_empty() {
                    prune_watch_map(&mut shard.watched);
                }
            }
        }
    }

    pub fn db_count(&self) -> usize {
        self.db_count
    }


    /// Starts loading into cache what looking up `keys` in `db` will read:
    /// each key's table slot, then its entry, then its value's bytes,
    /// each step for every key before the next, so that the memory
    /// accesses of a whole pipelined batch overlap. Takes only shards that
    /// are free right now, for a moment each; the rest are skipped.
    pub fn prefetch(&self, db: usize, keys: &[crate::At]) {
        let mut locks = ShardLocks { keyspace: self, held: SmallVec::new(), all: false };
        for at in keys {
            if !locks.held.iter().any(|(i, _)| *i == at.shard) {
                if let Some(guard) = self.shards[at.shard as usize].shard.try_lock() {
                    locks.held.push((at.shard, guard));
                }
            }
        }
        if locks.held.is_empty() || db >= self.db_count {
            return;
        }
        for step in 0..3 {
            for at in keys {
                if let Some((_, shard)) = locks.held.iter().find(|(i, _)| *i == at.shard) {
                    shard.dbs[db].prefetch(at.hash, step);
                }
            }
        }
    }

    /// Locks one shard if it is free right now (or kept).
    pub fn try_lock_one(&self, shard: ShardIndex) -> Option<ShardLocks<'_>> {
        let slot = &self.shards[shard as usize];
        let guard = match slot.shard.try_lock() {
            Some(guard) => guard,
            None if self.release_kept() => slot.shard.try_lock()?,
            None => return None,
        };
        let mut held = SmallVec::new();
        held.push((shard, guard));
        Some(ShardLocks { keyspace: self, held, all: false })
    }

    /// Locks `shards` (any order, duplicates allowed), waiting for busy
    /// ones without blocking the thread: for connections' own bookkeeping
    /// (ending a blocked wait). Passes the gate.
    pub async fn lock_async(&self, shards: &mut [ShardIndex]) -> ShardLocks<'_> {
        loop {
            match self.try_lock(shards, true) {
                Ok(locks) => return locks,
                Err(busy) => {
                    let listener = self.listen(busy);
                    if !self.is_free(busy) {
                        listener.await;
                    }
                }
            }
        }
    }

    /// Locks one shard, waiting for it.
    pub fn lock_one(&self, shard: ShardIndex) -> ShardLocks<'_> {
        if let Some(locks) = self.try_lock_one(shard) {
            return locks;
        }
        let guard = self.waiting_for(|| {
            self.release_kept();
            self.shards[shard as usize].shard.lock()
        });
        let mut held = SmallVec::new();
        held.push((shard, guard));
        ShardLocks { keyspace: self, held, all: false }
    }

    /// The databases of every shard, in shard order, taken out of a
    /// keyspace nobody else uses (an async load's staging keyspace).
    pub fn into_shard_dbs(self) -> Vec<Box<[Db]>> {
        self.shards.into_vec().into_iter().map(|p| p.shard.into_inner().dbs).collect()
    }

    /// Locks every shard, waiting for them.
    pub fn lock_all(&self) -> ShardLocks<'_> {
        if self.claim_kept() {
            return ShardLocks::every(self);
        }
        self.waiting_for(|| {
            if !self.claim_kept() {
                for slot in self.shards.iter() {
                    std::mem::forget(slot.shard.lock());
                }
            }
        });
        ShardLocks::every(self)
    }

    /// Runs `wait` (which blocks on shard mutexes) counted as waiting, so
    /// that no unit ending meanwhile keeps its locks.
    fn waiting_for<T>(&self, wait: impl FnOnce() -> T) -> T {
        self.waiting.fetch_add(1, Ordering::SeqCst);
        let result = wait();
        self.waiting.fetch_sub(1, Ordering::Release);
        result
    }

    /// Takes over the kept locks, if the keyspace is kept: true if the
    /// caller now owns every shard's mutex.
    fn claim_kept(&self) -> bool {
        self.kept.load(Ordering::SeqCst) && self.kept.compare_exchange(true, false, Ordering::AcqRel, Ordering::Relaxed).is_ok()
    }

    /// Releases the kept locks, if the keyspace is kept (from any thread);
    /// true if it was.
    pub fn release_kept(&self) -> bool {
        if !self.claim_kept() {
            return false;
        }
        self.unlock_first(SHARD_COUNT);
        true
    }

    /// Unlocks shards `0..count`, owned without guards by the caller, and
    /// wakes their waiters.
    fn unlock_first(&self, count: usize) {
        for slot in &self.shards[..count] {
            // SAFETY: the caller owns these mutexes (their guards were
            // forgotten when they were locked or kept).
            unsafe { slot.shard.force_unlock() };
            wake_waiters(slot);
        }
    }
}

/// Wakes the connections waiting for a shard just released. The unlock is
/// a locked read-modify-write (a full barrier on x86); waiters also look
/// again every few milliseconds, so a count read too early delays a
/// waiter, never strands it.
#[inline]
fn wake_waiters(slot: &Padded) {
    if slot.waiters.load(Ordering::SeqCst) > 0 {
        slot.released.notify(usize::MAX);
    }
}

/// Removes retired watchers' entries, and keys nobody watches any more.
pub fn prune_watch_map(map: &mut WatchMap) {
    map.retain(|_, entries| {
        entries.retain(|e| !e.watcher.is_retired());
        !entries.is_empty()
    });
}

/// Shards held by one execution unit.
pub struct ShardLocks<'a> {
    keyspace: &'a Keyspace,
    /// Sorted by index; empty when `all`.
    held: SmallVec<[(ShardIndex, MutexGuard<'a, Shard>); 4]>,
    /// Every shard's mutex is locked and owned by this value, without
    /// guards (so that it can be kept when the unit ends).
    all: bool,
}

impl<'a> ShardLocks<'a> {
    /// Every shard, whose mutexes the caller locked and owns.
    fn every(keyspace: &'a Keyspace) -> ShardLocks<'a> {
        ShardLocks { keyspace, held: SmallVec::new(), all: true }
    }

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
            // SAFETY: `self` owns every shard's mutex and is borrowed
            // mutably for as long as the result lives.
            return unsafe { &mut *self.keyspace.shards[shard as usize].shard.data_ptr() };
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
            // SAFETY: as in `shard`, borrowed shared.
            return unsafe { &*self.keyspace.shards[shard as usize].shard.data_ptr() };
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

    /// Adds `shard` without waiting: succeeds if it is already held or
    /// free right now. Used to reach a key a served blocked command needs
    /// beyond the ready one.
    pub fn try_add(&mut self, shard: ShardIndex) -> bool {
        if self.holds(shard) {
            return true;
        }
        match self.keyspace.shards[shard as usize].shard.try_lock() {
            Some(guard) => {
                let at = self.held.partition_point(|(i, _)| *i < shard);
                self.held.insert(at, (shard, guard));
                true
            }
            None => false,
        }
    }

    /// Every held shard, in index order.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut Shard> + use<'_, 'a> {
        let (keyspace, every) = (self.keyspace, if self.all { SHARD_COUNT } else { 0 });
        // SAFETY: as in `shard`; each shard is yielded once.
        let all = (0..every).map(move |i| unsafe { &mut *keyspace.shards[i].shard.data_ptr() });
        all.chain(self.held.iter_mut().map(|(_, g)| &mut **g))
    }

    pub fn iter(&self) -> impl Iterator<Item = &Shard> + use<'_, 'a> {
        let (keyspace, every) = (self.keyspace, if self.all { SHARD_COUNT } else { 0 });
        // SAFETY: as in `shard_ref`.
        let all = (0..every).map(move |i| unsafe { &*keyspace.shards[i].shard.data_ptr() });
        all.chain(self.held.iter().map(|(_, g)| &**g))
    }
}

impl Drop for ShardLocks<'_> {
    /// Releases every shard, then wakes every connection waiting for it
    /// (the event is one atomic load when nobody waits). Waking them all,
    /// not one: a woken waiter may not take the shard (the gate, or
    /// another of its shards, stops it), and a wake-up it swallowed must
    /// not leave the others, among them the gate's holder, asleep. A
    /// lock-all unit on a thread that keeps locks keeps them instead.
    fn drop(&mut self) {
        if self.all {
            if !KEEPS.with(|keeps| keeps.get()) || !self.keyspace.keep() {
                self.keyspace.unlock_first(SHARD_COUNT);
            }
            return;
        }
        for (i, guard) in self.held.drain(..) {
            drop(guard);
            wake_waiters(&self.keyspace.shards[i as usize]);
        }
    }
}

// ---------------------------------------------------------------------
// Kept locks.
//
// A lock-all unit takes and releases 256 mutexes and touches as many cache
// lines: more than a small script costs. So on a thread that runs scripts
// (`hold_between_units`), a lock-all unit that ends leaves every mutex
// locked and marks the keyspace kept, unless someone waits for a shard.
// The next one to want a shard, on any thread, takes the kept locks over
// (`Keyspace::claim_kept`, one compare-and-swap): a lock-all unit (the
// next script call) uses them as they are; anyone else releases them and
// tries again (`try_lock`, `try_lock_one`, `is_free`, `lock_one`, `lock_all`).
// So nobody waits for a kept keyspace, and nothing needs to wake the
// thread that kept it.
//
// A connection that waits for a shard is counted (`waiting`) before it
// looks at the shard again (`is_free`); a unit that ends marks the
// keyspace kept before it reads that count, and releases what it kept if
// the count is not zero. One of the two sees the other, so a kept
// keyspace never strands a waiter.

thread_local! {
    /// This thread keeps the locks of its lock-all units that end.
    static KEEPS: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// From now on, the lock-all units that end on this thread keep their
/// locks for whoever wants a shard next (see "Kept locks").
pub fn hold_between_units() {
    KEEPS.with(|keeps| keeps.set(true));
}

impl Keyspace {
    /// Marks the keyspace kept by a lock-all unit that ends, which owns
    /// every mutex: false (nothing kept, the caller releases) if someone
    /// waits for a shard.
    fn keep(&self) -> bool {
        self.kept.store(true, Ordering::SeqCst);
        if self.waiting.load(Ordering::SeqCst) == 0 {
            return true;
        }
        // Someone who claims it now releases it; else the caller does.
        !self.claim_kept()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A keyspace whose every shard a finished lock-all unit on a keeping
    /// thread left kept (`hold_between_units` is per thread: each test
    /// keeps on a thread of its own).
    fn kept_keyspace() -> Arc<Keyspace> {
        let keyspace = Arc::new(Keyspace::new(1));
        let on_thread = keyspace.clone();
        std::thread::spawn(move || {
            hold_between_units();
            let mut locks = on_thread.try_lock_all(false).expect("nobody else locks");
            locks.shard(7).tracked.insert(b"written".to_vec().into(), vec![1]);
        })
        .join()
        .unwrap();
        assert!(keyspace.kept.load(Ordering::SeqCst), "the ending unit kept its locks");
        assert!(keyspace.shards.iter().all(|slot| slot.shard.is_locked()));
        keyspace
    }

    #[test]
    fn a_thread_that_does_not_keep_releases_every_shard() {
        let keyspace = Keyspace::new(1);
        drop(keyspace.try_lock_all(false).unwrap());
        assert!(!keyspace.kept.load(Ordering::SeqCst));
        assert!(keyspace.shards.iter().all(|slot| !slot.shard.is_locked()));
    }

    #[test]
    fn kept_locks_serve_the_next_lock_all_unit_with_what_the_last_one_wrote() {
        let keyspace = kept_keyspace();
        let locks = keyspace.try_lock_all(false).expect("the kept locks are taken over");
        assert!(!keyspace.kept.load(Ordering::SeqCst));
        assert_eq!(locks.shard_ref(7).tracked.get(&b"written"[..]), Some(&vec![1]));
        drop(locks);
        assert!(keyspace.shards.iter().all(|slot| !slot.shard.is_locked()), "this thread does not keep");
    }

    #[test]
    fn one_shard_is_had_from_a_kept_keyspace_by_any_way_of_locking() {
        let keyspace = kept_keyspace();
        let mut shards = [3, 200];
        let locks = keyspace.try_lock(&mut shards, false).expect("kept locks are released for a unit");
        assert!(locks.holds(3) && locks.holds(200) && !locks.holds(4));
        assert!(!keyspace.shards[4].shard.is_locked(), "the others are free again");
        drop(locks);

        let keyspace = kept_keyspace();
        assert!(keyspace.try_lock_one(9).is_some());

        let keyspace = kept_keyspace();
        drop(keyspace.lock_one(9));
        let keyspace = kept_keyspace();
        drop(keyspace.lock_all());
        assert!(keyspace.shards.iter().all(|slot| !slot.shard.is_locked()));
    }

    #[test]
    fn a_waiter_finds_a_kept_shard_free() {
        let keyspace = kept_keyspace();
        let busy = keyspace.try_lock(&mut [5], false).map(drop).err();
        assert_eq!(busy, None, "try_lock itself takes it over");
        let keyspace = kept_keyspace();
        let _listener = keyspace.listen(Busy::Shard(5));
        assert!(keyspace.is_free(Busy::Shard(5)));
        assert!(!keyspace.shards[5].shard.is_locked());
    }

    #[test]
    fn nothing_is_kept_while_someone_waits_for_a_shard() {
        let keyspace = Arc::new(Keyspace::new(1));
        let held = keyspace.try_lock_all(false).unwrap();
        let listener = keyspace.listen(Busy::Shard(5));
        let on_thread = keyspace.clone();
        // The unit that ends on the keeping thread took over `held`'s
        // locks: it ends with a waiter counted.
        std::mem::forget(held);
        std::thread::spawn(move || {
            hold_between_units();
            drop(ShardLocks::every(&on_thread));
        })
        .join()
        .unwrap();
        assert!(!keyspace.kept.load(Ordering::SeqCst));
        assert!(keyspace.shards.iter().all(|slot| !slot.shard.is_locked()));
        drop(listener);
        assert_eq!(keyspace.waiting.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn a_blocked_lock_one_gets_its_shard_when_a_keeping_unit_ends() {
        let keyspace = Arc::new(Keyspace::new(1));
        let held = keyspace.try_lock_all(false).unwrap();
        std::mem::forget(held);
        let (got, waiter) = std::sync::mpsc::channel();
        {
            let keyspace = keyspace.clone();
            std::thread::spawn(move || {
                drop(keyspace.lock_one(42));
                got.send(()).unwrap();
            });
        }
        while keyspace.waiting.load(Ordering::SeqCst) == 0 {
            std::thread::yield_now();
        }
        let on_thread = keyspace.clone();
        std::thread::spawn(move || {
            hold_between_units();
            drop(ShardLocks::every(&on_thread));
        })
        .join()
        .unwrap();
        // Kept despite the waiter, the shard would never come.
        waiter.recv_timeout(std::time::Duration::from_secs(30)).expect("the waiting thread got its shard");
        assert!(!keyspace.kept.load(Ordering::SeqCst));
    }
}
