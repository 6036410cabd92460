//! The hook that runs before stored data changes.
//!
//! A point-in-time snapshot taken while writes continue (BGSAVE, a
//! replica's full sync, the AOF rewrite base: the persistence issue) must
//! see each entry as it was when the snapshot began. Every change to a
//! stored entry goes through `Tx` (write lookups, replacement, removal,
//! expiry changes, lazy expiry, flushes and SWAPDB), and `Tx` calls this
//! hook first, under the shard lock, so the snapshot can serialize the old
//! state before it is lost. Read lookups return shared references, so a
//! read cannot change data behind the hook's back.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::RwLock;

use crate::db::Db;
use crate::entry::Entry;
use crate::keyspace::ShardIndex;

/// Observes data about to change (implemented by snapshots).
pub trait BeforeChange: Send + Sync {
    /// `entry`, in `db` of `shard`, is about to be changed or removed.
    fn entry(&self, shard: ShardIndex, db: usize, entry: &Entry);
    /// The whole of `db` in `shard` is about to be emptied or swapped.
    fn db(&self, shard: ShardIndex, db: usize, table: &Db);
}

/// The installed hook, if any: one relaxed load per change when none is.
#[derive(Default)]
pub struct ChangeHook {
    active: AtomicBool,
    hook: RwLock<Option<Arc<dyn BeforeChange>>>,
}

impl ChangeHook {
    /// Installs `hook` (or removes it with None).
    pub fn install(&self, hook: Option<Arc<dyn BeforeChange>>) {
        let active = hook.is_some();
        *self.hook.write() = hook;
        self.active.store(active, Ordering::Release);
    }

    #[inline]
    pub fn is_active(&self) -> bool {
        self.active.load(Ordering::Relaxed)
    }

    #[inline]
    pub(crate) fn entry(&self, shard: ShardIndex, db: usize, entry: &Entry) {
        if self.is_active() {
            if let Some(hook) = &*self.hook.read() {
                hook.entry(shard, db, entry);
            }
        }
    }

    #[inline]
    pub(crate) fn db(&self, shard: ShardIndex, db: usize, table: &Db) {
        if self.is_active() {
            if let Some(hook) = &*self.hook.read() {
                hook.db(shard, db, table);
            }
        }
    }
}
