//! The keyspace and how commands execute against it.
//!
//! - `keyspace`: databases split into hash-slot shards, each behind a mutex,
//!   locked in one global order (no deadlock is possible).
//! - `tx`: an execution unit's locked view; all key access, lazy expiry,
//!   WATCH invalidation and effect collection go through it.
//! - `propagate`: the one point where effects leave for replicas and the
//!   append-only file, in a single total order.
//! - `expire`: the active expiry cycle; `replica_expires`: a writable
//!   replica's own keys with a TTL, which it expires itself.
//! - `evict`: eviction under maxmemory (policies, sampling, LFU counters).
//! - `snapshot`: point-in-time snapshots while writes continue (no fork).
//! - `stats`: per-thread counters summed for INFO.
//!
//! The engine knows nothing of sockets or the RESP protocol.

pub mod blocking;
pub mod db;
pub mod entry;
pub mod events;
pub mod evict;
pub mod eviction;
pub mod expire;
pub mod hook;
pub mod keyspace;
pub mod locate;
pub mod propagate;
pub mod replica_expires;
pub mod snapshot;
pub mod stats;
pub mod tx;

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

pub use blocking::{WaitEnd, Waiter};
pub use entry::{Entry, ExpireAt, NO_EXPIRE};
pub use events::{Event, EventSink, KeyEvent};
pub use hook::{BeforeChange, ChangeHook};
pub use keyspace::{shard_of, Busy, ExclusiveKind, Gate, GateTicket, Keyspace, ShardIndex, ShardList, ShardLocks, Watcher, SHARD_COUNT};
pub use locate::{locate, At, Hints};
pub use propagate::{Effect, Propagation, StreamReader};
pub use stats::{Stat, Stats};
pub use tx::{Lookup, Tx};

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    now_ns().div_euclid(1_000_000)
}

/// Nanoseconds since the Unix epoch (the wall clock at full precision,
/// read directly: `SystemTime`'s checked arithmetic cost more than the
/// vDSO read itself, two or more times per command).
#[inline]
pub fn now_ns() -> i64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec.
    if unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) } != 0 {
        return SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as i64).unwrap_or(0);
    }
    ts.tv_sec as i64 * 1_000_000_000 + ts.tv_nsec as i64
}

/// One clock read per command in a batch: the time a command ends is the
/// time the next command of the same pipelined batch starts, microseconds
/// apart. A worker records each command's end (`end_ns`, for
/// commandstats); the next unit on that thread starts from it if its
/// shards were free at once, and forgets it (`forget`) whenever it stops
/// to wait for anything (the next read, a flush, a blocked or paused
/// client), so a stale time is never used. A unit that had to wait for a
/// shard reads the clock after getting it, so a shard's units never see
/// time go backwards by more than the parsing of one request.
pub mod clock_hint {
    use std::cell::Cell;

    thread_local! {
        static LAST_END_NS: Cell<i64> = const { Cell::new(0) };
    }

    /// Start time of a command: the previous command's end, if recorded.
    #[inline]
    pub fn start_ns() -> i64 {
        match LAST_END_NS.with(|t| t.replace(0)) {
            0 => super::now_ns(),
            t => t,
        }
    }

    /// A fresh reading (the hint is dropped).
    #[inline]
    pub fn fresh() -> i64 {
        LAST_END_NS.with(|t| t.set(0));
        super::now_ns()
    }

    /// End time of a command, remembered as the next one's start.
    #[inline]
    pub fn end_ns() -> i64 {
        let now = super::now_ns();
        LAST_END_NS.with(|t| t.set(now));
        now
    }

    /// The worker is about to wait: the next command reads the clock.
    #[inline]
    pub fn forget() {
        LAST_END_NS.with(|t| t.set(0));
    }
}

/// Microseconds since the Unix epoch.
pub fn now_us() -> i64 {
    now_ns().div_euclid(1_000)
}

/// Resolution of the LRU clock kept in each entry (Redis: 1 s, 24 bits).
pub const LRU_CLOCK_MAX: u32 = (1 << 24) - 1;

/// Everything shared by all threads that execute commands.
pub struct Engine {
    pub keyspace: Keyspace,
    pub propagation: Propagation,
    pub stats: Stats,
    /// Changes since the last save (Redis's `server.dirty`).
    dirty: AtomicU64,
    /// Active expiry on/off (DEBUG SET-ACTIVE-EXPIRE).
    pub active_expire: AtomicBool,
    /// When set, expired keys are hidden but not deleted (replicas, paused writes).
    pub keep_expired: AtomicBool,
    /// This server replicates a master: expired keys read as missing but
    /// only the master's DELs remove them.
    pub replica: AtomicBool,
    /// Keys this replica's own clients gave a TTL, which it expires itself.
    pub replica_expires: replica_expires::ReplicaExpires,
    /// Time of the last successful save, seconds since the epoch.
    pub last_save: AtomicI64,
    /// Enabled keyspace event classes (notify-keyspace-events).
    pub notify_flags: AtomicU32,
    /// Where units deliver their keyspace events.
    pub event_sink: OnceLock<Arc<dyn EventSink>>,
    /// Clients with CLIENT TRACKING on: while 0, units record no
    /// invalidations.
    pub tracking_clients: AtomicUsize,
    /// Runs before any stored entry changes (snapshots: see `hook`).
    pub before_change: ChangeHook,
    /// maxmemory-policy and its parameters.
    pub eviction: evict::Settings,
    pub evictor: evict::Evictor,
}

impl Engine {
    pub fn new(db_count: usize) -> Engine {
        Engine {
            keyspace: Keyspace::new(db_count),
            propagation: Propagation::default(),
            stats: Stats::default(),
            dirty: AtomicU64::new(0),
            active_expire: AtomicBool::new(true),
            keep_expired: AtomicBool::new(false),
            replica: AtomicBool::new(false),
            replica_expires: Default::default(),
            last_save: AtomicI64::new(now_ms() / 1000),
            notify_flags: AtomicU32::new(0),
            event_sink: OnceLock::new(),
            tracking_clients: AtomicUsize::new(0),
            before_change: ChangeHook::default(),
            eviction: evict::Settings::default(),
            evictor: evict::Evictor::default(),
        }
    }

    pub fn db_count(&self) -> usize {
        self.keyspace.db_count()
    }

    /// The current LRU clock value.
    pub fn lru_clock(&self) -> u32 {
        lru_clock_at(now_ms())
    }

    /// Seconds since an entry with access clock `access` was last used.
    pub fn idle_seconds(&self, access: u32) -> u64 {
        let now = self.lru_clock();
        if now >= access {
            (now - access) as u64
        } else {
            (now as u64 + LRU_CLOCK_MAX as u64) - access as u64
        }
    }

    /// True when events of `class` are published at all.
    #[inline]
    pub fn notifies(&self, class: u32) -> bool {
        let flags = self.notify_flags.load(Ordering::Relaxed);
        flags & class != 0 && flags & (events::class::KEYSPACE | events::class::KEYEVENT) != 0
    }

    pub fn may_delete_expired(&self) -> bool {
        !self.keep_expired.load(Ordering::Relaxed) && !self.replica.load(Ordering::Relaxed)
    }

    pub fn add_dirty(&self, n: u64) {
        if n > 0 {
            self.dirty.fetch_add(n, Ordering::Relaxed);
        }
    }

    pub fn dirty(&self) -> u64 {
        self.dirty.load(Ordering::Relaxed)
    }

    /// Called after a successful save.
    pub fn reset_dirty(&self, saved: u64) {
        self.dirty.fetch_sub(saved.min(self.dirty()), Ordering::Relaxed);
    }

    /// The shards of a unit, if all are free right now (the unit itself
    /// is made by `unit`, so that it is built where it is used). Counts,
    /// per thread, units that found their shards busy and units of one
    /// shard by shard (the placement reads both).
    #[inline]
    pub fn try_lock_unit(&self, shards: &mut [ShardIndex], ticket: bool) -> Result<ShardLocks<'_>, Busy> {
        let locks = match self.keyspace.try_lock(shards, ticket) {
            Ok(locks) => locks,
            Err(busy) => {
                self.stats.bump_own(stats::Stat::ShardLockWaits);
                return Err(busy);
            }
        };
        if let [shard] = *shards {
            self.stats.count_shard_unit(shard);
        }
        Ok(locks)
    }

    /// Every shard, if all are free right now, counted per thread like
    /// `try_lock_unit`'s units.
    #[inline]
    pub fn try_lock_all_unit(&self, ticket: bool) -> Result<ShardLocks<'_>, Busy> {
        match self.keyspace.try_lock_all(ticket) {
            Ok(locks) => {
                self.stats.bump_own(stats::Stat::AllShardUnits);
                Ok(locks)
            }
            Err(busy) => {
                self.stats.bump_own(stats::Stat::ShardLockWaits);
                Err(busy)
            }
        }
    }

    /// An execution unit over `locks` (from `try_lock_unit` or
    /// `try_lock_all_unit`).
    #[inline(always)]
    pub fn unit<'e>(&'e self, locks: ShardLocks<'e>, db: usize) -> Tx<'e> {
        let started = if locks.holds_all() { clock_hint::fresh() } else { clock_hint::start_ns() };
        Tx::new(self, locks, db, started)
    }

    /// Starts an execution unit over every shard.
    pub fn begin_all(&self, db: usize) -> Tx<'_> {
        let locks = self.keyspace.lock_all();
        Tx::new(self, locks, db, clock_hint::fresh())
    }

    /// Number of keys in `db` (including logically expired ones, as Redis).
    pub fn db_size(&self, tx: &mut Tx<'_>, db: usize) -> usize {
        debug_assert!(tx.locks.holds_all());
        tx.locks.iter().map(|s| s.dbs[db].len()).sum()
    }
}

/// The LRU clock value at `now_ms`.
pub fn lru_clock_at(now_ms: i64) -> u32 {
    ((now_ms / 1000) as u32) & LRU_CLOCK_MAX
}
