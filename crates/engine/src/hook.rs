//! The hook that runs before stored data changes.
//!
//! A point-in-time snapshot taken while writes continue (BGSAVE, a
//! replica's full sync, the AOF rewrite base: see `snapshot`) must see
//! each shard as it was when the snapshot began. Every change to stored
//! data goes through `Tx`, whose only way to a database table for
//! writing (`Tx::table`) runs this hook first, under the shard lock, as do
//! flushes and SWAPDB (`Tx::before_whole_db_change`); so the snapshot can
//! serialize the shard's old state before it is lost. Read lookups return
//! shared references, so a read cannot change data behind the hook's back.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::RwLock;

use crate::keyspace::{Shard, ShardIndex};

/// Observes data about to change (implemented by snapshots).
pub trait BeforeChange: Send + Sync {
    /// Some database's slice of `shard` is about to change: a key created,
    /// changed or removed, or a whole database emptied or swapped.
    fn shard(&self, index: ShardIndex, shard: &Shard);
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
    pub(crate) fn shard(&self, index: ShardIndex, shard: &Shard) {
        if self.is_active() {
            if let Some(hook) = &*self.hook.read() {
                hook.shard(index, shard);
            }
        }
    }
}
