//! Server statistics counted per thread and summed on demand.
//!
//! Hot counters (keyspace hits, commands processed) are bumped on every
//! request from every core; a shared atomic would bounce one cache line
//! between cores. Each thread adds to its own padded slot instead, and INFO
//! sums the slots.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

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
}

const STAT_COUNT: usize = Stat::ExpireCycleCpuMicros as usize + 1;

#[repr(align(128))]
struct Slot([AtomicU64; STAT_COUNT]);

pub struct Stats {
    slots: Box<[Slot]>,
}

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
        Stats { slots }
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
