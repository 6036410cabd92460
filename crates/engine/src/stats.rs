//! Server statistics counted per thread and summed on demand.
//!
//! Hot counters (keyspace hits, commands processed) are bumped on every
//! request from every core; a shared atomic would bounce one cache line
//! between cores. Each thread adds to its own padded slot instead, and INFO
//! sums the slots.

use std::cell::Cell;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};

/// Upper bound on threads with a private slot; later threads share the last.
pub const MAX_STAT_THREADS: usize = 128;

/// Everything INFO stats reports that the engine counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(usize)]
pub enum Stat {
    KeyspaceHits,
    KeyspaceMisses,
    ExpiredKeys,
    ExpiredStaleCandidates,
    ExpiredTimeCapReached,
    EvictedKeys,
    CommandsProcessed,
    ConnectionsReceived,
    RejectedConnections,
    NetInputBytes,
    NetOutputBytes,
    TotalErrorReplies,
    UnexpectedErrorReplies,
    ExpireCycleCpuMicros,
    /// Units that found a shard they needed locked by another thread.
    ShardLockWaits,
    /// Units over every shard (scripts, commands over the whole keyspace).
    AllShardUnits,
}

const STAT_COUNT: usize = Stat::AllShardUnits as usize + 1;

#[repr(align(128))]
struct Slot([AtomicU64; STAT_COUNT]);

pub struct Stats {
    slots: Box<[Slot]>,
    /// Per thread slot, one-shard units by shard (connection placement:
    /// a load on one hot shard gains nothing from a second worker).
    shard_units: Box<[ShardUnits]>,
}

#[repr(align(128))]
struct ShardUnits([AtomicU32; crate::keyspace::SHARD_COUNT]);

static NEXT_SLOT: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static MY_SLOT: Cell<usize> = const { Cell::new(usize::MAX) };
}

/// This thread's slot in per-thread counter arrays (0..MAX_STAT_THREADS).
pub fn thread_slot() -> usize {
    MY_SLOT.with(|s| {
        let v = s.get();
        if v != usize::MAX {
            return v;
        }
        let claimed = NEXT_SLOT.fetch_add(1, Ordering::Relaxed).min(MAX_STAT_THREADS - 1);
        s.set(claimed);
        claimed
    })
}

impl Default for Stats {
    fn default() -> Self {
        let slots = (0..MAX_STAT_THREADS)
            .map(|_| Slot(std::array::from_fn(|_| AtomicU64::new(0))))
            .collect::<Vec<_>>()
            .into_boxed_slice();
        let shard_units = (0..MAX_STAT_THREADS)
            .map(|_| ShardUnits(std::array::from_fn(|_| AtomicU32::new(0))))
            .collect::<Vec<_>>()
            .into_boxed_slice();
        Stats { slots, shard_units }
    }
}

impl Stats {
    #[inline]
    pub fn add(&self, stat: Stat, n: u64) {
        self.slots[thread_slot()].0[stat as usize].fetch_add(n, Ordering::Relaxed);
    }

    #[inline]
    pub fn incr(&self, stat: Stat) {
        self.add(stat, 1);
    }

    /// Adds one to this thread's own counter with a plain load and store
    /// (no locked instruction): for counters only placement reads, where
    /// a count lost to a reset or to threads sharing the last slot does
    /// not matter.
    #[inline]
    pub fn bump_own(&self, stat: Stat) {
        let counter = &self.slots[thread_slot()].0[stat as usize];
        counter.store(counter.load(Ordering::Relaxed).wrapping_add(1), Ordering::Relaxed);
    }

    /// Counts a unit on the one shard `shard` for this thread (plain load
    /// and store: only this thread writes its slot, and placement only
    /// needs proportions).
    #[inline]
    pub fn count_shard_unit(&self, shard: crate::keyspace::ShardIndex) {
        let counter = &self.shard_units[thread_slot()].0[shard as usize % crate::keyspace::SHARD_COUNT];
        counter.store(counter.load(Ordering::Relaxed).wrapping_add(1), Ordering::Relaxed);
    }

    /// One thread's one-shard units by shard (wrapping counters).
    pub fn shard_units(&self, slot: usize) -> Vec<u32> {
        self.shard_units.get(slot).map_or_else(Vec::new, |s| s.0.iter().map(|c| c.load(Ordering::Relaxed)).collect())
    }

    /// One thread's counter (`slot` from that thread's `thread_slot`).
    pub fn get_slot(&self, slot: usize, stat: Stat) -> u64 {
        self.slots.get(slot).map_or(0, |s| s.0[stat as usize].load(Ordering::Relaxed))
    }

    pub fn get(&self, stat: Stat) -> u64 {
        self.slots.iter().map(|s| s.0[stat as usize].load(Ordering::Relaxed)).sum()
    }

    /// CONFIG RESETSTAT.
    pub fn reset(&self) {
        for slot in self.slots.iter() {
            for counter in &slot.0 {
                counter.store(0, Ordering::Relaxed);
            }
        }
    }
}
