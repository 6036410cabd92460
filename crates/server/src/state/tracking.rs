//! Client-side caching state, as data: each client's options and the
//! server's BCAST prefixes and table size (the table itself lives in the
//! keyspace shards).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};

use parking_lot::{Mutex, RwLock};

/// A client's tracking options (`ClientTracking::mode` bits).
pub mod mode {
    pub const ON: u32 = 1 << 0;
    pub const BCAST: u32 = 1 << 1;
    pub const OPTIN: u32 = 1 << 2;
    pub const OPTOUT: u32 = 1 << 3;
    pub const NOLOOP: u32 = 1 << 4;
    /// CLIENT CACHING yes (OPTIN) or no (OPTOUT) for the next command.
    pub const CACHING: u32 = 1 << 5;
    pub const BROKEN_REDIRECT: u32 = 1 << 6;
}

/// One client's tracking state, readable by the threads that invalidate.
#[derive(Default)]
pub struct ClientTracking {
    pub mode: AtomicU32,
    /// Client id invalidations go to (0: the client itself).
    pub redirect: AtomicU64,
    /// BCAST prefixes, sorted.
    pub prefixes: Mutex<Vec<Vec<u8>>>,
}

impl ClientTracking {
    #[inline]
    pub fn has(&self, bit: u32) -> bool {
        self.mode.load(Ordering::Relaxed) & bit != 0
    }

    pub(crate) fn set(&self, bit: u32, on: bool) {
        if on {
            self.mode.fetch_or(bit, Ordering::Relaxed);
        } else {
            self.mode.fetch_and(!bit, Ordering::Relaxed);
        }
    }
}

/// The server's side: BCAST prefixes and the table's size.
#[derive(Default)]
pub struct Tracking {
    /// Prefix to the ids of the BCAST clients registered for it.
    pub(crate) prefixes: RwLock<BTreeMap<Vec<u8>, Vec<u64>>>,
    /// Keys in the tracking table, over all shards.
    pub keys: AtomicUsize,
    /// (key, client) pairs in the tracking table.
    pub items: AtomicUsize,
}

impl Tracking {
    pub fn prefix_count(&self) -> usize {
        self.prefixes.read().len()
    }
}
