//! Keys a writable replica's own clients gave a TTL (Redis's
//! `slaveKeysWithExpire`). A replica leaves the expiry of its master's
//! keys to the master's DELs and runs no active expiry cycle, so without
//! this list a key its clients wrote with a TTL would stay in memory
//! forever once expired (it reads as missing). The cron of a replica
//! checks these keys instead and deletes those whose time has passed.
//!
//! Lock order: a unit records a key while holding its shard; the cron
//! takes the list's mutex only for a moment and never while it waits for
//! a shard, so the two orders cannot deadlock.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::keyspace::shard_of;
use crate::tx::{Lookup, Tx};
use crate::Engine;

#[derive(Default)]
pub struct ReplicaExpires {
    /// Key name → the databases it was given a TTL in.
    keys: Mutex<HashMap<Vec<u8>, Vec<u32>>>,
}

impl ReplicaExpires {
    fn keys(&self) -> std::sync::MutexGuard<'_, HashMap<Vec<u8>, Vec<u32>>> {
        self.keys.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records that a client of this replica gave `key` in `db` a TTL.
    pub fn remember(&self, db: usize, key: &[u8]) {
        let mut keys = self.keys();
        let dbs = keys.entry(key.to_vec()).or_default();
        if !dbs.contains(&(db as u32)) {
            dbs.push(db as u32);
        }
    }

    /// Number of key names tracked (INFO `slave_expires_tracked_keys`).
    pub fn count(&self) -> usize {
        self.keys().len()
    }

    /// Forgets every key (the whole dataset was emptied or replaced).
    pub fn clear(&self) {
        self.keys().clear();
    }

    /// One pass of the replica's expiry: each tracked key is looked at in
    /// each of its databases under its shard's lock; an expired one is
    /// deleted (counted, `expired` event, DEL to the append-only file
    /// only), one without a TTL (or gone) is no longer tracked. Stops
    /// after `budget`. Returns the number of keys deleted.
    pub fn run(&self, engine: &Engine, budget: Duration) -> u64 {
        let start = Instant::now();
        let names: Vec<Vec<u8>> = self.keys().keys().cloned().collect();
        let mut expired = 0;
        for name in names {
            if start.elapsed() >= budget {
                break;
            }
            let locks = engine.keyspace.lock_one(shard_of(&name));
            let mut tx = Tx::new(engine, locks, 0, crate::now_ns());
            // Its deletions stay on this server and its file: a replica's
            // replicas receive the master's stream only.
            tx.file_only = true;
            tx.delete_expired = true;
            let dbs = self.keys().get(&name).cloned().unwrap_or_default();
            let mut keep = Vec::new();
            for db in dbs {
                let db = db as usize;
                if db >= engine.db_count() {
                    continue;
                }
                let stored = tx.peek_stored_in(db, &name).map(|e| e.is_expired(tx.now_ms));
                match stored {
                    Some(true) => {
                        // The lookup deletes it, as the active cycle's does.
                        let _ = tx.lookup_in(db, &name, Lookup::QUIET);
                        expired += 1;
                    }
                    Some(false) if tx.peek_stored_in(db, &name).is_some_and(|e| e.has_expire()) => keep.push(db as u32),
                    _ => {}
                }
            }
            // Updated while the shard is held: a unit recording this key
            // again holds the same shard, so it runs before or after.
            {
                let mut keys = self.keys();
                if keep.is_empty() {
                    keys.remove(&name);
                } else {
                    keys.insert(name, keep);
                }
            }
            tx.finish();
        }
        expired
    }
}
