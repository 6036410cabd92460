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
    waiters: Option<&'a AtomicU32>,
}

impl std::future::Future for ShardWait<'_> {
    type Output = ();

    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        std::pin::Pin::new(&mut self.listener).poll(cx)
    }
}

impl Drop for ShardWait<'_> {
    fn drop(&mut self) {
        if let Some(waiters) = self.waiters {
            waiters.fetch_sub(1, Ordering::Release);
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
        }
    }

    /// Takes every shard in `shards` (any order, duplicates allowed) if
    /// all are free right now, else none. Units holding no gate ticket
    /// find the keyspace busy while the gate is up.
    pub fn try_lock(&self, shards: &mut [ShardIndex], ticket: bool) -> Result<ShardLocks<'_>, Busy> {
        release_held();
        if !ticket && self.gate.is_up() {
            return Err(Busy::Gate);
        }
        shards.sort_unstable();
        let mut held = SmallVec::new();
        let mut previous = None;
        for &i in shards.iter() {
            if previous != Some(i) {
                match self.shards[i as usize].shard.try_lock() {
                    Some(guard) => held.push((i, guard)),
                    None => {
                        drop(ShardLocks { keyspace: self, held, all: false });
                        return Err(Busy::Shard(i));
                    }
                }
                previous = Some(i);
            }
        }
        Ok(ShardLocks { keyspace: self, held, all: false })
    }

    /// Takes every shard if all are free right now, else none.
    pub fn try_lock_all(&self, ticket: bool) -> Result<ShardLocks<'_>, Busy> {
        if !ticket && self.gate.is_up() {
            release_held();
            return Err(Busy::Gate);
        }
        if let Some(locks) = take_held(self) {
            return Ok(locks);
        }
        let mut held = SmallVec::with_capacity(SHARD_COUNT);
        for (i, slot) in self.shards.iter().enumerate() {
            match slot.shard.try_lock() {
                Some(guard) => held.push((i as ShardIndex, guard)),
                None => {
                    drop(ShardLocks { keyspace: self, held, all: false });
                    return Err(Busy::Shard(i as ShardIndex));
                }
            }
        }
        Ok(ShardLocks { keyspace: self, held, all: true })
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
                ShardWait { listener: slot.released.listen(), waiters: Some(&slot.waiters) }
            }
            Busy::Gate => ShardWait { listener: self.gate.lowered.listen(), waiters: None },
        }
    }

    /// True if what `busy` names is free right now.
    pub fn is_free(&self, busy: Busy) -> bool {
        match busy {
            Busy::Shard(i) => !self.shards[i as usize].shard.is_locked(),
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

    /// Locks one shard if it is free right now.
    pub fn try_lock_one(&self, shard: ShardIndex) -> Option<ShardLocks<'_>> {
        release_held();
        let guard = self.shards[shard as usize].shard.try_lock()?;
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

    /// Locks one shard.
    pub fn lock_one(&self, shard: ShardIndex) -> ShardLocks<'_> {
        release_held();
        let mut held = SmallVec::new();
        held.push((shard, self.shards[shard as usize].shard.lock()));
        ShardLocks { keyspace: self, held, all: false }
    }

    /// The databases of every shard, in shard order, taken out of a
    /// keyspace nobody else uses (an async load's staging keyspace).
    pub fn into_shard_dbs(self) -> Vec<Box<[Db]>> {
        self.shards.into_vec().into_iter().map(|p| p.shard.into_inner().dbs).collect()
    }

    /// Locks every shard.
    pub fn lock_all(&self) -> ShardLocks<'_> {
        if let Some(locks) = take_held(self) {
            return locks;
        }
        let held = self.shards.iter().enumerate().map(|(i, s)| (i as ShardIndex, s.shard.lock())).collect();
        ShardLocks { keyspace: self, held, all: true }
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
    /// Sorted by index; when `all`, index i is at position i.
    held: SmallVec<[(ShardIndex, MutexGuard<'a, Shard>); 4]>,
    all: bool,
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

    /// Every held shard.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut Shard> + use<'_, 'a> {
        self.held.iter_mut().map(|(_, g)| &mut **g)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Shard> + use<'_, 'a> {
        self.held.iter().map(|(_, g)| &**g)
    }
}

impl Drop for ShardLocks<'_> {
    /// Releases every shard, then wakes every connection waiting for it
    /// (the event is one atomic load when nobody waits). Waking them all,
    /// not one: a woken waiter may not take the shard (the gate, or
    /// another of its shards, stops it), and a wake-up it swallowed must
    /// not leave the others, among them the gate's holder, asleep.
    fn drop(&mut self) {
        if self.all && park_held(self) {
            return;
        }
        for (i, guard) in self.held.drain(..) {
            drop(guard);
            // The unlock is a locked read-modify-write (a full barrier on
            // x86); waiters also look again every few milliseconds, so a
            // count read too early delays a waiter, never strands it.
            let slot = &self.keyspace.shards[i as usize];
            if slot.waiters.load(Ordering::SeqCst) > 0 {
                slot.released.notify(usize::MAX);
            }
        }
    }
}

// ---------------------------------------------------------------------
// Holding the whole keyspace from one unit to the next.
//
// A lock-all unit takes and releases 256 mutexes and touches as many cache
// lines: several microseconds, more than a small script costs. The script
// thread runs scripts back to back (a connection's pipeline, the queue of
// every connection's calls), so while it says so (`hold_between_units`),
// the locks of a lock-all unit that ends on this thread are kept for the
// next lock-all unit of the same thread instead of being released, until
// `release_held`. Nobody else can run between two such units, which is
// what would happen anyway if they were one after the other on one
// thread; the holder bounds how long it holds. Any other way of locking on
// this thread releases first (it would otherwise wait for itself).

/// At most this many units in a row reuse kept locks; then they are
/// released, so that others get their turn.
const HELD_REUSES_MAX: u32 = 32;

/// Kept locks older than this are released by `release_stale_held`, so a
/// thread busy with work that locks nothing (PINGs, pub/sub) does not
/// keep everyone else waiting until it parks.
const HELD_MAX: std::time::Duration = std::time::Duration::from_micros(500);

struct Held {
    enabled: bool,
    /// When the kept locks were first kept.
    since: Option<std::time::Instant>,
    /// Units that reused the kept locks since they were taken.
    reused: u32,
    locks: Option<ShardLocks<'static>>,
    /// Keeps the keyspace alive while `locks` points into it.
    keepalive: Option<Box<dyn std::any::Any>>,
}

thread_local! {
    static HELD: std::cell::RefCell<Held> =
        const { std::cell::RefCell::new(Held { enabled: false, since: None, reused: 0, locks: None, keepalive: None }) };
}

/// From now on this thread keeps the locks of a lock-all unit that ends
/// for its next one, until `release_held`. `keepalive` owns (a reference
/// to) what holds the keyspace, so the kept locks cannot outlive it.
pub fn hold_between_units(keepalive: Box<dyn std::any::Any>) {
    HELD.with(|held| {
        let mut held = held.borrow_mut();
        held.enabled = true;
        if held.locks.is_none() {
            held.keepalive = Some(keepalive);
        }
    });
}

/// Releases the locks this thread kept (waking their waiters) and stops
/// keeping them. Cheap when nothing is kept.
pub fn release_held() {
    let (locks, keepalive) = HELD.with(|held| {
        let mut held = held.borrow_mut();
        if !held.enabled && held.locks.is_none() {
            return (None, None);
        }
        held.enabled = false;
        held.reused = 0;
        held.since = None;
        (held.locks.take(), held.keepalive.take())
    });
    drop(locks);
    drop(keepalive);
}

/// Releases the locks this thread kept if it has kept them for longer
/// than `HELD_MAX` (cheap when it keeps none).
pub fn release_stale_held() {
    let stale = HELD.with(|held| {
        let held = held.borrow();
        held.locks.is_some() && held.since.is_some_and(|since| since.elapsed() > HELD_MAX)
    });
    if stale {
        release_held();
    }
}

/// The kept locks, if this thread keeps those of `keyspace`.
fn take_held(keyspace: &Keyspace) -> Option<ShardLocks<'_>> {
    let (taken, expired): (Option<ShardLocks<'static>>, Option<ShardLocks<'static>>) = HELD.with(|held| {
        let mut held = held.borrow_mut();
        match &held.locks {
            Some(locks) if std::ptr::eq(locks.keyspace, keyspace) => {
                held.reused += 1;
                if held.reused > HELD_REUSES_MAX {
                    held.reused = 0;
                    held.since = None;
                    (None, held.locks.take())
                } else {
                    (held.locks.take(), None)
                }
            }
            _ => (None, None),
        }
    });
    // Released outside the borrow, for real (not kept again: `all` is
    // what its drop looks at), to be locked again like any other unit's.
    if let Some(mut expired) = expired {
        expired.all = false;
        drop(expired);
        return None;
    }
    // SAFETY: only the lifetime changes: the locks are `keyspace`'s, which
    // the caller borrows for as long as they live.
    taken.map(|locks| unsafe { std::mem::transmute::<ShardLocks<'static>, ShardLocks<'_>>(locks) })
}

/// Keeps the locks of an ending lock-all unit if this thread holds
/// between units; true if it took them.
fn park_held(locks: &mut ShardLocks<'_>) -> bool {
    HELD.with(|held| {
        let Ok(mut held) = held.try_borrow_mut() else { return false };
        if !held.enabled || held.locks.is_some() || held.keepalive.is_none() {
            return false;
        }
        let kept = ShardLocks { keyspace: locks.keyspace, held: std::mem::take(&mut locks.held), all: true };
        // SAFETY: only the lifetime is erased; `keepalive` keeps the
        // keyspace alive, and `release_held` drops the locks before it.
        held.locks = Some(unsafe { std::mem::transmute::<ShardLocks<'_>, ShardLocks<'static>>(kept) });
        if held.since.is_none() {
            held.since = Some(std::time::Instant::now());
        }
        true
    })
}
