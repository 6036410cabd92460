//! `Tx`: one execution unit's view of the keyspace.
//!
//! A `Tx` holds the shard locks an execution unit needs (one command, an
//! EXEC, a script), the time frozen at its start, its effects for
//! propagation and its change count. Every key access goes through it, so
//! lazy expiry, hit/miss statistics, access times, WATCH invalidation and
//! propagation of deletions happen in one place for every command.

use shoal_types::{hash_bytes, Value};

use crate::entry::{Entry, ExpireAt, NO_EXPIRE};
use crate::events::{self, Event, KeyEvent};
use crate::keyspace::{shard_of, ShardLocks, WatchEntry};
use crate::locate::At;
use crate::propagate::Effect;
use crate::stats::Stat;
use crate::Engine;

/// How a lookup behaves (Redis's LOOKUP_* flags).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lookup {
    /// Do not update the key's access time.
    pub no_touch: bool,
    /// Do not count a keyspace hit or miss.
    pub no_stats: bool,
    /// A miss fires the `keymiss` event (Redis's read lookups without
    /// LOOKUP_NONOTIFY).
    pub notify_miss: bool,
}

impl Lookup {
    /// A normal read: counts hit/miss and updates the access time.
    pub const READ: Lookup = Lookup { no_touch: false, no_stats: false, notify_miss: true };
    /// A lookup on behalf of a write: no statistics.
    pub const WRITE: Lookup = Lookup { no_touch: false, no_stats: true, notify_miss: false };
    /// A read that leaves no trace (OBJECT, internal lookups).
    pub const QUIET: Lookup = Lookup { no_touch: true, no_stats: true, notify_miss: false };
    /// Counts hits and misses, reports misses, but does not touch (EXISTS,
    /// TYPE, TTL).
    pub const NO_TOUCH: Lookup = Lookup { no_touch: true, no_stats: false, notify_miss: true };
}

pub struct Tx<'a> {
    pub engine: &'a Engine,
    pub locks: ShardLocks<'a>,
    /// Milliseconds since the epoch, fixed for the whole unit.
    pub now_ms: i64,
    /// Nanoseconds since the epoch when the unit began (after its locks
    /// were taken): the start of the command's time in commandstats.
    pub started_ns: i64,
    /// The database commands address by default (the client's SELECT).
    pub db: usize,
    /// Commands to propagate when the unit ends.
    pub effects: Vec<Effect>,
    /// Number of changes made (Redis's `server.dirty` delta).
    pub dirty: u64,
    /// Several effects may be wrapped in MULTI/EXEC (false for SCAN and
    /// RANDOMKEY, whose effects are independent lazy expirations).
    pub wrap_effects: bool,
    /// Keys changed during the unit that have blocked clients, in order.
    pub ready: Vec<(usize, Vec<u8>)>,
    /// Keyspace events recorded by the unit, delivered when it ends.
    pub events: Vec<KeyEvent>,
    /// Keys changed while some client tracks keys (client-side caching):
    /// the server sends their invalidations before the unit ends.
    pub invalidated: Vec<Vec<u8>>,
    /// Changed keys waiting for the unit's end, when BCAST clients get
    /// one message per prefix for the whole unit.
    pub broadcast: Vec<Vec<u8>>,
    /// The client the unit runs for (0: the server itself), so that a
    /// NOLOOP client is not told about its own changes.
    pub client_id: u64,
    /// Loading a file: no key counts as expired (a command the file
    /// holds runs on the keys as they were when it was written, as in
    /// Redis, which expires nothing while loading).
    pub loading: bool,
    /// A replica's unit: the effects go to the append-only file only (a
    /// replica forwards its master's bytes to its own replicas verbatim,
    /// and its clients' writes stay local).
    pub file_only: bool,
    /// A write on a writable replica: an expired key it meets is deleted
    /// (as a write lookup does in Redis) even though the server otherwise
    /// leaves expired keys to its master's DELs.
    pub delete_expired: bool,
}

impl<'a> Tx<'a> {
    /// A unit starting at `now_ns` (nanoseconds since the epoch).
    #[inline(always)]
    pub fn new(engine: &'a Engine, locks: ShardLocks<'a>, db: usize, now_ns: i64) -> Tx<'a> {
        Tx {
            engine,
            locks,
            now_ms: now_ns / 1_000_000,
            started_ns: now_ns,
            db,
            effects: Vec::new(),
            dirty: 0,
            wrap_effects: true,
            ready: Vec::new(),
            events: Vec::new(),
            invalidated: Vec::new(),
            broadcast: Vec::new(),
            client_id: 0,
            loading: false,
            file_only: false,
            delete_expired: false,
        }
    }

    /// True if `entry` is expired as this unit sees it.
    #[inline]
    fn expired(&self, entry: &Entry) -> bool {
        !self.loading && entry.is_expired(self.now_ms)
    }

    /// The LRU clock at the unit's frozen time (no extra clock read).
    #[inline]
    pub fn clock(&self) -> u32 {
        ((self.now_ms / 1000) as u32) & crate::LRU_CLOCK_MAX
    }

    /// The access field of a new key: the LRU clock, or under an LFU
    /// policy the initial counter.
    #[inline]
    fn new_access(&self) -> u32 {
        if self.engine.eviction.policy().is_lfu() {
            crate::eviction::lfu_new(self.now_ms)
        } else {
            self.clock()
        }
    }

    /// The access field after an access (LRU clock, or LFU counter bumped).
    #[inline]
    fn touched_access(&self, old: u32) -> u32 {
        if self.engine.eviction.policy().is_lfu() {
            crate::eviction::lfu_touched(old, self.now_ms, &self.engine.eviction)
        } else {
            self.clock()
        }
    }

    /// Publishes the effects and returns the change count. Must be called
    /// before the locks are released (the `Tx` holds them).
    pub fn finish(mut self) -> u64 {
        self.complete()
    }

    /// `finish` for a unit that stays in place (a unit is large: moving it
    /// out to finish it copies it): publishes what it did; the locks are
    /// released when it is dropped, which must follow.
    pub fn complete(&mut self) -> u64 {
        self.publish_effects();
        if self.file_only {
            self.engine.propagation.feed_staged();
        }
        self.engine.add_dirty(self.dirty);
        self.dirty
    }

    /// Publishes the effects gathered so far as one unit and starts a new
    /// one (served blocked clients propagate as units of their own).
    pub fn publish_effects(&mut self) {
        if !self.effects.is_empty() {
            self.engine.propagation.publish(&self.effects, self.wrap_effects, !self.file_only);
            self.effects.clear();
        }
        if !self.events.is_empty() {
            if let Some(sink) = self.engine.event_sink.get() {
                sink.deliver(&self.events);
            }
            self.events.clear();
        }
        if !self.invalidated.is_empty() || !self.broadcast.is_empty() {
            if let Some(sink) = self.engine.event_sink.get() {
                sink.invalidate(self);
            }
            self.invalidated.clear();
            self.broadcast.clear();
        }
    }

    /// Records that `key` in the current database changed: `dirty`
    /// changes for the save counter, WATCHers invalidated, and `event`
    /// for keyspace notifications. Every write a command makes to an
    /// existing key ends here.
    pub fn changed(&mut self, key: &[u8], event: Event, dirty: u64) {
        let db = self.db;
        self.changed_in(db, key, event, dirty);
    }

    pub fn changed_in(&mut self, db: usize, key: &[u8], event: Event, dirty: u64) {
        self.dirty += dirty;
        self.touch_in(db, key);
        self.notify_in(db, event, key);
    }

    /// Like `changed`, but WATCHers are not invalidated: Redis does not
    /// signal consumer-group changes (XGROUP, consumers created by reads
    /// and claims) or XSETID to WATCH.
    pub fn changed_unwatched(&mut self, key: &[u8], event: Event, dirty: u64) {
        self.dirty += dirty;
        self.notify(event, key);
    }

    /// Counts `n` changes that no key event describes (FLUSHDB, SWAPDB,
    /// FUNCTION FLUSH, XACK and other consumer-group bookkeeping).
    pub fn add_dirty(&mut self, n: u64) {
        self.dirty += n;
    }

    /// Records a change of `key` that Redis signals to WATCH and counts
    /// without a keyspace event (PFCOUNT caching its result in the value).
    pub fn changed_quietly(&mut self, key: &[u8], dirty: u64) {
        self.dirty += dirty;
        self.touch(key);
    }

    /// Records a keyspace event on `key` in `db` (if its class is enabled).
    #[inline]
    pub fn notify_in(&mut self, db: usize, event: Event, key: &[u8]) {
        if self.engine.notifies(event.class) {
            self.events.push(KeyEvent { event, db, key: key.to_vec() });
        }
    }

    pub fn notify(&mut self, event: Event, key: &[u8]) {
        let db = self.db;
        self.notify_in(db, event, key);
    }

    /// Records a command to propagate in the current database.
    pub fn propagate(&mut self, argv: Vec<Vec<u8>>) {
        let db = self.db;
        self.propagate_in(db, argv);
    }

    pub fn propagate_in(&mut self, db: usize, argv: Vec<Vec<u8>>) {
        self.propagate_effect(Effect::new(db, argv));
    }

    pub fn propagate_effect(&mut self, effect: Effect) {
        if self.engine.propagation.is_active() {
            self.effects.push(effect);
        }
    }

    /// Where `key` lives: its shard and its hash, computed once per operation.
    #[inline]
    fn locate(key: &[u8]) -> At {
        crate::locate::locate(key)
    }

    #[inline]
    /// `db`'s slice of the key's shard, to change stored data: the
    /// before-change hook sees the shard first. Every change to stored
    /// data in a unit goes through here (or `before_whole_db_change`), so
    /// a snapshot cannot miss one.
    fn table(&mut self, at: At, db: usize) -> &mut crate::db::Db {
        let engine = self.engine;
        let shard = self.locks.shard(at.shard);
        engine.before_change.shard(at.shard, shard);
        &mut shard.dbs[db]
    }

    /// `db`'s slice of the key's shard, to read.
    fn table_ref(&self, at: At, db: usize) -> &crate::db::Db {
        &self.locks.shard_ref(at.shard).dbs[db]
    }

    /// `db`'s slice of the key's shard, to update an entry's access time
    /// (LRU/LFU), which is not a change of the data.
    fn table_for_access(&mut self, at: At, db: usize) -> &mut crate::db::Db {
        &mut self.locks.shard(at.shard).dbs[db]
    }

    /// Slot of the live key `key` in `db`, deleting it first if it expired.
    fn live_slot(&mut self, db: usize, key: &[u8], at: At) -> Option<usize> {
        let table = self.table_ref(at, db);
        let slot = table.find(at.hash, key)?;
        if !self.expired(table.entry(slot)) {
            return Some(slot);
        }
        if !self.engine.may_delete_expired() && !self.delete_expired {
            // A replica (or a write-paused server) reports the key as gone
            // but leaves the deletion to its master.
            return None;
        }
        let removed = self.table(at, db).remove(slot, at.hash);
        let was_stream = is_stream(removed.value());
        drop(removed);
        self.engine.stats.incr(Stat::ExpiredKeys);
        if was_stream {
            self.signal_at(db, key, at);
        }
        self.touch_at(db, key, at);
        self.notify_in(db, events::EXPIRED, key);
        self.propagate_in(db, vec![b"DEL".to_vec(), key.to_vec()]);
        None
    }

    /// Looks a key up in the current database, for reading.
    pub fn lookup(&mut self, key: &[u8], how: Lookup) -> Option<&Entry> {
        let db = self.db;
        self.lookup_in(db, key, how)
    }

    /// Looks a key up in `db` for reading, expiring it lazily.
    pub fn lookup_in(&mut self, db: usize, key: &[u8], how: Lookup) -> Option<&Entry> {
        let (at, slot) = self.find_live(db, key, how)?;
        Some(self.table_ref(at, db).entry(slot))
    }

    /// Looks a key up in the current database, to change it.
    pub fn lookup_mut(&mut self, key: &[u8], how: Lookup) -> Option<&mut Entry> {
        let db = self.db;
        self.lookup_mut_in(db, key, how)
    }

    /// Looks a key up in `db` to change it, expiring it lazily; the
    /// before-change hook sees the shard first.
    pub fn lookup_mut_in(&mut self, db: usize, key: &[u8], how: Lookup) -> Option<&mut Entry> {
        let (at, slot) = self.find_live(db, key, how)?;
        Some(self.table(at, db).entry_mut(slot))
    }

    /// The slot of a live key (expiring it lazily), with `how`'s
    /// statistics and access time.
    fn find_live(&mut self, db: usize, key: &[u8], how: Lookup) -> Option<(At, usize)> {
        let at = Self::locate(key);
        let slot = self.live_slot(db, key, at);
        if !how.no_stats {
            self.engine.stats.incr(if slot.is_some() { Stat::KeyspaceHits } else { Stat::KeyspaceMisses });
        }
        let Some(slot) = slot else {
            if how.notify_miss {
                self.notify_in(db, events::KEYMISS, key);
            }
            return None;
        };
        if !how.no_touch {
            let old = self.table_ref(at, db).entry(slot).access();
            let access = self.touched_access(old);
            self.table_for_access(at, db).entry_mut(slot).set_access(access);
        }
        Some((at, slot))
    }

    /// The live entry of `key` in `db`, read without side effects (no
    /// lazy expiry, statistics or access time). Several can be held at
    /// once, which multi-key readers (SINTER, SUNION) need; they look each
    /// key up normally first, so expired keys are already handled.
    pub fn peek_in(&self, db: usize, key: &[u8]) -> Option<&Entry> {
        let at = Self::locate(key);
        let table = &self.locks.shard_ref(at.shard).dbs[db];
        let entry = table.entry(table.find(at.hash, key)?);
        (!self.expired(entry)).then_some(entry)
    }

    /// The stored entry of `key` in `db`, even if its TTL has passed, with
    /// no side effect at all (DEBUG DIGEST-VALUE, as in Redis).
    pub fn peek_stored_in(&self, db: usize, key: &[u8]) -> Option<&Entry> {
        let at = Self::locate(key);
        let table = &self.locks.shard_ref(at.shard).dbs[db];
        Some(table.entry(table.find(at.hash, key)?))
    }

    /// Normal read lookup in the current database.
    pub fn read(&mut self, key: &[u8]) -> Option<&Entry> {
        self.lookup(key, Lookup::READ)
    }

    /// Lookup for modification in the current database.
    pub fn write(&mut self, key: &[u8]) -> Option<&mut Entry> {
        self.lookup_mut(key, Lookup::WRITE)
    }

    /// True if the live key exists (no statistics, no touch).
    pub fn exists_in(&mut self, db: usize, key: &[u8]) -> bool {
        self.lookup_in(db, key, Lookup::QUIET).is_some()
    }

    /// True if `key` is present in the table even if logically expired.
    pub fn present_in(&mut self, db: usize, key: &[u8]) -> bool {
        let at = Self::locate(key);
        self.table_ref(at, db).find(at.hash, key).is_some()
    }

    /// True if `key` is present but logically expired.
    pub fn is_stale_in(&mut self, db: usize, key: &[u8]) -> bool {
        let at = Self::locate(key);
        let table = self.table_ref(at, db);
        match table.find(at.hash, key) {
            Some(slot) => self.expired(table.entry(slot)),
            None => false,
        }
    }

    /// Sets `key` to `value` (SET semantics): replaces any value, clears the
    /// expiry unless `keep_ttl`, and signals the change.
    pub fn set(&mut self, key: &[u8], value: Value, keep_ttl: bool) {
        let db = self.db;
        self.set_in(db, key, value, keep_ttl);
    }

    pub fn set_in(&mut self, db: usize, key: &[u8], value: Value, keep_ttl: bool) {
        let at = Self::locate(key);
        let new_access = self.new_access();
        let signal = match self.live_slot(db, key, at) {
            Some(slot) => {
                let old = self.table_ref(at, db).entry(slot).access();
                let clock = self.touched_access(old);
                let table = self.table(at, db);
                let old = table.entry_mut(slot).replace_value(value);
                if !keep_ttl && table.entry(slot).has_expire() {
                    table.set_expire(slot, at.hash, NO_EXPIRE);
                }
                table.entry_mut(slot).set_access(clock);
                // An overwrite wakes waiters only if a stream went away.
                is_stream(&old)
            }
            None => {
                let signal = can_block(&value);
                self.table(at, db).insert(at.hash, Entry::new(key, value, NO_EXPIRE, new_access));
                self.notify_in(db, events::NEW, key);
                signal
            }
        };
        if signal {
            self.signal_at(db, key, at);
        }
        self.touch_at(db, key, at);
    }

    /// SET of a string value: like `set_in`, reusing the old value's buffer
    /// when it can (see `Value::assign_string`).
    pub fn set_string_in(&mut self, db: usize, key: &[u8], bytes: &[u8], keep_ttl: bool) {
        let at = Self::locate(key);
        let new_access = self.new_access();
        match self.live_slot(db, key, at) {
            Some(slot) => {
                let old = self.table_ref(at, db).entry(slot).access();
                let clock = self.touched_access(old);
                let table = self.table(at, db);
                let was_stream = is_stream(table.entry(slot).value());
                let old = table.entry_mut(slot).value_mut().assign_string(bytes);
                if !keep_ttl && table.entry(slot).has_expire() {
                    table.set_expire(slot, at.hash, NO_EXPIRE);
                }
                table.entry_mut(slot).set_access(clock);
                drop(old);
                if was_stream {
                    self.signal_at(db, key, at);
                }
            }
            None => {
                self.table(at, db).insert(at.hash, Entry::new(key, Value::string(bytes), NO_EXPIRE, new_access));
                self.notify_in(db, events::NEW, key);
            }
        }
        self.touch_at(db, key, at);
    }

    /// Adds a key that must not exist (callers check first), with an expiry.
    pub fn insert_in(&mut self, db: usize, key: &[u8], value: Value, expire_at: ExpireAt) {
        let at = Self::locate(key);
        debug_assert!(self.live_slot(db, key, at).is_none(), "insert over a live key");
        let clock = self.new_access();
        let signal = can_block(&value);
        self.table(at, db).insert(at.hash, Entry::new(key, value, expire_at, clock));
        self.remember_replica_expire(db, key, expire_at);
        self.notify_in(db, events::NEW, key);
        if signal {
            self.signal_at(db, key, at);
        }
        self.touch_at(db, key, at);
    }

    /// Removes a live key and returns it (signals the change).
    pub fn remove_in(&mut self, db: usize, key: &[u8]) -> Option<Entry> {
        let at = Self::locate(key);
        let slot = self.live_slot(db, key, at)?;
        let table = self.table(at, db);
        let entry = table.remove(slot, at.hash);
        if is_stream(entry.value()) {
            self.signal_at(db, key, at);
        }
        self.touch_at(db, key, at);
        Some(entry)
    }

    /// Evicts `key` from `db` (maxmemory): a deletion whatever its expiry
    /// (Redis evicts what is in the table), with the `evicted` event, DEL
    /// (UNLINK when `lazy`) propagated and `evicted_keys` counted. With
    /// `volatile_only`, a key without a TTL is left alone. Returns the
    /// entry for the caller to free.
    pub fn evict_in(&mut self, db: usize, key: &[u8], volatile_only: bool, lazy: bool) -> Option<Entry> {
        let at = Self::locate(key);
        let table = self.table_ref(at, db);
        let slot = table.find(at.hash, key)?;
        if volatile_only && !table.entry(slot).has_expire() {
            return None;
        }
        let entry = self.table(at, db).remove(slot, at.hash);
        if is_stream(entry.value()) {
            self.signal_at(db, key, at);
        }
        self.touch_at(db, key, at);
        self.notify_in(db, events::EVICTED, key);
        let command: &[u8] = if lazy { b"UNLINK" } else { b"DEL" };
        self.propagate_in(db, vec![command.to_vec(), key.to_vec()]);
        self.engine.stats.incr(Stat::EvictedKeys);
        Some(entry)
    }

    /// Deletes a live key in the current database; true if it existed.
    pub fn delete(&mut self, key: &[u8]) -> bool {
        let db = self.db;
        self.remove_in(db, key).is_some()
    }

    /// Deletes `key` in the current database if it is in the table, even
    /// if its time has passed (Redis's dbDelete, without lazy expiry). The
    /// *STORE commands, SORT ... STORE and BITOP delete their destination
    /// this way when their result is empty: Redis counts a destination
    /// whose time had passed as a change and reports `del`, not `expired`.
    /// True if the key was there.
    pub fn delete_ignoring_expiry(&mut self, key: &[u8]) -> bool {
        let db = self.db;
        let at = Self::locate(key);
        let Some(slot) = self.table_ref(at, db).find(at.hash, key) else { return false };
        let entry = self.table(at, db).remove(slot, at.hash);
        if is_stream(entry.value()) {
            self.signal_at(db, key, at);
        }
        self.touch_at(db, key, at);
        true
    }

    /// Deletes the collection at `key` in the current database that a
    /// command has just emptied (no empty collection stays in the
    /// keyspace), with the `del` event Redis emits for it.
    pub fn delete_emptied(&mut self, key: &[u8]) {
        if self.delete(key) {
            self.notify(events::DEL, key);
        }
    }

    /// Sets the expiry of a live key (NO_EXPIRE removes it). False if absent.
    pub fn set_expire_in(&mut self, db: usize, key: &[u8], when: ExpireAt) -> bool {
        let at = Self::locate(key);
        let Some(slot) = self.live_slot(db, key, at) else { return false };
        self.table(at, db).set_expire(slot, at.hash, when);
        self.remember_replica_expire(db, key, when);
        self.touch_at(db, key, at);
        true
    }

    /// A replica's own client gave `key` a TTL: the replica must expire
    /// it itself (`replica_expires`). Its master's stream and files being
    /// loaded (`loading`) do not count: those keys go by the master's DELs.
    #[inline]
    fn remember_replica_expire(&mut self, db: usize, key: &[u8], when: ExpireAt) {
        if when != NO_EXPIRE && !self.loading && self.engine.replica.load(std::sync::atomic::Ordering::Relaxed) {
            self.engine.replica_expires.remember(db, key);
        }
    }

    /// Expiry of a live key: None if absent, Some(NO_EXPIRE) if persistent.
    pub fn expire_of_in(&mut self, db: usize, key: &[u8]) -> Option<ExpireAt> {
        self.lookup_in(db, key, Lookup::QUIET).map(|e| e.expire_at())
    }

    /// Runs the before-change hook on every held shard with data in one
    /// of `dbs`, which the caller is about to empty or swap (FLUSHDB,
    /// FLUSHALL, SWAPDB) without going through `table`.
    pub fn before_whole_db_change(&mut self, dbs: &[usize]) {
        if !self.engine.before_change.is_active() {
            return;
        }
        let engine = self.engine;
        for i in 0..crate::SHARD_COUNT as crate::ShardIndex {
            if self.locks.holds(i) {
                let shard = self.locks.shard_ref(i);
                if dbs.iter().any(|&db| !shard.dbs[db].is_empty()) {
                    engine.before_change.shard(i, shard);
                }
            }
        }
    }

    /// Marks WATCHers of `key` in `db` dirty (Redis's signalModifiedKey).
    pub fn touch_in(&mut self, db: usize, key: &[u8]) {
        self.invalidate(key);
        // Nobody watches a key of the held shards (the common case): no
        // need to find the key's shard.
        if !self.locks.any_held(|shard| !shard.watched.is_empty()) {
            return;
        }
        self.touch_shard(db, key, shard_of(key));
    }

    /// Queues `key` for the clients blocked on it (Redis's
    /// signalKeyAsReady), unless it is queued already. As in Redis, this
    /// happens when a key of a type clients block on (list, sorted set,
    /// stream) is created, when a stream is overwritten or deleted (its
    /// XREADGROUP waiters fail), and explicitly for XADD, XGROUP DESTROY,
    /// SWAPDB and flushes; not for other changes.
    pub fn signal_ready_in(&mut self, db: usize, key: &[u8]) {
        if !self.locks.any_held(|shard| !shard.blocked.is_empty()) {
            return;
        }
        self.signal_shard(db, key, shard_of(key));
    }

    fn signal_at(&mut self, db: usize, key: &[u8], at: At) {
        self.signal_shard(db, key, at.shard);
    }

    fn signal_shard(&mut self, db: usize, key: &[u8], shard: crate::ShardIndex) {
        let shard = self.locks.shard(shard);
        if shard.blocked.has_waiters(db, key) && !self.ready.iter().any(|(d, k)| *d == db && k == key) {
            self.ready.push((db, key.to_vec()));
        }
    }

    fn touch_at(&mut self, db: usize, key: &[u8], at: At) {
        self.invalidate(key);
        self.touch_shard(db, key, at.shard);
    }

    /// Remembers a changed key for client-side caching invalidation.
    #[inline]
    fn invalidate(&mut self, key: &[u8]) {
        if self.engine.tracking_clients.load(std::sync::atomic::Ordering::Relaxed) > 0
            && !self.invalidated.iter().any(|k| k == key)
        {
            self.invalidated.push(key.to_vec());
        }
    }

    /// Needs only the key's shard: the hash is computed in the rare case
    /// that the shard has WATCHers.
    fn touch_shard(&mut self, db: usize, key: &[u8], shard: crate::ShardIndex) {
        let shard = self.locks.shard(shard);
        if shard.watched.is_empty() {
            return;
        }
        let exists_now = shard.dbs[db].find(hash_bytes(key), key).is_some();
        if let Some(entries) = shard.watched.get_mut(&(db, key.into())) {
            // Entries of clients that stopped watching go first: they must
            // not stop the walk below.
            entries.retain(|e| !e.watcher.is_retired());
            touch_entries(entries, exists_now);
        }
    }

    pub fn touch(&mut self, key: &[u8]) {
        let db = self.db;
        self.touch_in(db, key);
    }
}

/// Applies a modification to the clients watching one key, with Redis 7.0's
/// handling of keys that were already expired when watched.
fn touch_entries(entries: &mut [WatchEntry], key_in_table: bool) {
    for entry in entries.iter_mut() {
        if entry.expired {
            if !key_in_table {
                // The stale key is now gone: logically nothing changed.
                entry.expired = false;
                continue;
            }
            // Redis stops at the first stale watcher of a key still present.
            break;
        }
        entry.watcher.mark_dirty();
    }
}

/// A value clients can block on (list, sorted set, stream).
fn can_block(value: &Value) -> bool {
    matches!(value, Value::List(_) | Value::ZSet(_) | Value::Stream(_))
}

fn is_stream(value: &Value) -> bool {
    matches!(value, Value::Stream(_))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use shoal_types::Value;

    use crate::events::{self, class};
    use crate::{Engine, Lookup};

    fn engine() -> Engine {
        let engine = Engine::new(2);
        engine.notify_flags.store(class::KEYEVENT | class::ALL | class::NEW, Ordering::Relaxed);
        engine
    }

    fn names(tx: &super::Tx<'_>) -> Vec<&'static str> {
        tx.events.iter().map(|e| e.event.name).collect()
    }

    #[test]
    fn changes_count_signal_and_report_as_asked() {
        let engine = engine();
        let mut tx = engine.begin_all(0);
        tx.insert_in(0, b"k", Value::Int(1), crate::NO_EXPIRE);
        tx.changed(b"k", events::INCRBY, 1);
        tx.changed_unwatched(b"k", events::XSETID, 2);
        tx.changed_quietly(b"k", 3);
        tx.add_dirty(4);
        tx.changed_in(1, b"k", events::MOVE_TO, 0);
        assert_eq!(names(&tx), ["new", "incrby", "xsetid", "move_to"]);
        assert_eq!(tx.events[3].db, 1);
        assert_eq!(tx.finish(), 10);
    }

    #[test]
    fn nothing_is_recorded_while_no_class_is_enabled() {
        let engine = Engine::new(1);
        let mut tx = engine.begin_all(0);
        tx.insert_in(0, b"k", Value::Int(1), crate::NO_EXPIRE);
        tx.changed(b"k", events::SET, 1);
        tx.delete_emptied(b"k");
        assert!(tx.events.is_empty());
        tx.finish();
    }

    #[test]
    fn an_emptied_collection_goes_with_a_del_event() {
        let engine = engine();
        let mut tx = engine.begin_all(0);
        tx.insert_in(0, b"k", Value::Int(1), crate::NO_EXPIRE);
        tx.events.clear();
        tx.delete_emptied(b"k");
        tx.delete_emptied(b"missing");
        assert_eq!(names(&tx), ["del"]);
        assert!(!tx.exists_in(0, b"k"));
        tx.finish();
    }

    #[test]
    fn a_store_deletes_its_stale_destination_without_expiring_it() {
        let engine = engine();
        let mut tx = engine.begin_all(0);
        let past = tx.now_ms - 10;
        tx.insert_in(0, b"stale", Value::Int(1), past);
        tx.insert_in(0, b"also-stale", Value::Int(1), past);
        tx.events.clear();
        assert!(tx.delete_ignoring_expiry(b"stale"));
        assert!(!tx.present_in(0, b"stale"));
        assert!(!tx.delete_ignoring_expiry(b"missing"));
        assert!(tx.events.is_empty(), "no expired event");
        // A plain deletion expires such a key lazily instead.
        assert!(!tx.delete(b"also-stale"));
        assert_eq!(names(&tx), ["expired"]);
        tx.finish();
    }

    /// Records, per call of the before-change hook, the contents of the
    /// shard's database 0 as (key, string value) at that moment.
    #[derive(Default)]
    struct Recorder(parking_lot::Mutex<Vec<Vec<(Vec<u8>, Vec<u8>)>>>);

    impl crate::BeforeChange for Recorder {
        fn shard(&self, _index: crate::ShardIndex, shard: &crate::keyspace::Shard) {
            let mut seen: Vec<_> =
                shard.dbs[0].iter().map(|e| (e.key().to_vec(), e.value().string_to_vec().unwrap_or_default())).collect();
            seen.sort();
            self.0.lock().push(seen);
        }
    }

    #[test]
    fn every_change_to_stored_data_runs_the_hook_first_and_reads_do_not() {
        let engine = engine();
        let recorder = std::sync::Arc::new(Recorder::default());
        let mut tx = engine.begin_all(0);
        for key in [b"a", b"b", b"c", b"d"] {
            tx.set(key, Value::string(b"1"), false);
        }
        tx.set_expire_in(0, b"d", 1);
        engine.before_change.install(Some(recorder.clone()));
        // Each call shows the shard as it was before the change.
        let calls = |r: &Recorder| std::mem::take(&mut *r.0.lock());
        let before = |key: &[u8], value: &[u8]| vec![vec![(key.to_vec(), value.to_vec())]];
        // (The keys used here live in different shards.)
        let shards: std::collections::HashSet<_> = [&b"a"[..], b"b", b"c", b"d", b"fresh"].iter().map(|k| crate::shard_of(k)).collect();
        assert_eq!(shards.len(), 5);
        // Reads (write lookups that find nothing included) change nothing.
        assert!(tx.read(b"a").is_some());
        assert!(tx.lookup(b"b", Lookup::WRITE).is_some());
        assert!(tx.write(b"missing").is_none());
        assert!(calls(&recorder).is_empty());
        // Creating a key changes its shard too.
        tx.set(b"fresh", Value::string(b"x"), false);
        assert_eq!(calls(&recorder), vec![Vec::new()]);
        tx.set(b"a", Value::string(b"2"), false);
        assert_eq!(calls(&recorder), before(b"a", b"1"));
        tx.set_string_in(0, b"b", b"2", false);
        assert_eq!(calls(&recorder), before(b"b", b"1"));
        assert!(tx.write(b"c").is_some());
        assert_eq!(calls(&recorder), before(b"c", b"1"));
        tx.set_expire_in(0, b"a", crate::now_ms() + 100_000);
        assert_eq!(calls(&recorder), before(b"a", b"2"));
        assert!(tx.delete(b"b"));
        assert_eq!(calls(&recorder), before(b"b", b"2"));
        assert!(tx.evict_in(0, b"c", false, false).is_some());
        assert_eq!(calls(&recorder), before(b"c", b"1"));
        // Lazy expiry removes a stored entry: the hook sees it first.
        assert!(tx.read(b"d").is_none());
        assert_eq!(calls(&recorder), before(b"d", b"1"));
        // Emptying a database shows every shard with data in it.
        tx.before_whole_db_change(&[0]);
        let mut whole: Vec<_> = calls(&recorder).concat();
        whole.sort();
        assert_eq!(whole, vec![(b"a".to_vec(), b"2".to_vec()), (b"fresh".to_vec(), b"x".to_vec())]);
        engine.before_change.install(None);
        tx.set(b"a", Value::string(b"0"), false);
        assert!(calls(&recorder).is_empty());
    }
}
