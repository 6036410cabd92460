//! The active expiry cycle: deletes keys whose time has passed even if no
//! client touches them, as Redis's `activeExpireCycle` does.
//!
//! Each run walks shards round-robin, one shard lock at a time, and within
//! a shard samples the expiry index of each database bucket by bucket,
//! continuing on a database while more than a tenth of the sampled keys were
//! expired. The run stops when its time budget is spent; the next run
//! resumes where it stopped.
//!
//! A shard some unit holds right now is passed over rather than waited
//! for (waiting would put the cron thread to sleep on the mutex and make
//! the unit's release wake it, costing both sides system calls; a hot
//! key's shard is held most of the time), unless it was passed over
//! `BUSY_SKIPS_MAX` times in a row: then the cycle waits, so every shard
//! still gets its expired keys deleted.

use std::time::{Duration, Instant};

use crate::keyspace::{ShardIndex, ShardLocks, SHARD_COUNT};
use crate::tx::{Lookup, Tx};
use crate::Engine;

/// Keys sampled per database per round (Redis: 20).
const KEYS_PER_ROUND: usize = 20;
/// Keep going on a database while more than this percentage was expired.
const ACCEPTABLE_STALE_PERCENT: usize = 10;

/// Visits a shard may be passed over in a row because it was held.
const BUSY_SKIPS_MAX: u8 = 10;

/// Where the cycle resumes: the next shard and every (shard, db) cursor.
pub struct ExpireCycle {
    next_shard: usize,
    cursors: Vec<u64>,
    /// Per shard, the visits in a row that found it held.
    busy_skips: Vec<u8>,
}

impl ExpireCycle {
    pub fn new(db_count: usize) -> ExpireCycle {
        ExpireCycle { next_shard: 0, cursors: vec![0; SHARD_COUNT * db_count], busy_skips: vec![0; SHARD_COUNT] }
    }

    /// The shard's lock if it is free, or if it was passed over too many
    /// times in a row (then waiting for it); `None` to pass over it.
    fn lock<'e>(&mut self, engine: &'e Engine, shard: usize) -> Option<ShardLocks<'e>> {
        let skips = &mut self.busy_skips[shard];
        if let Some(locks) = engine.keyspace.try_lock_one(shard as ShardIndex) {
            *skips = 0;
            return Some(locks);
        }
        if *skips >= BUSY_SKIPS_MAX {
            *skips = 0;
            return Some(engine.keyspace.lock_one(shard as ShardIndex));
        }
        *skips += 1;
        None
    }

    /// Runs for at most `budget`, with `active-expire-effort` minus one
    /// (0..=9) as `effort`: Redis samples 5 more keys per round per step
    /// and tolerates one percent fewer expired keys. Returns the number of
    /// keys expired.
    pub fn run(&mut self, engine: &Engine, budget: Duration, effort: usize) -> u64 {
        let effort = effort.min(9);
        let keys_per_round = KEYS_PER_ROUND + KEYS_PER_ROUND / 4 * effort;
        let acceptable_stale = ACCEPTABLE_STALE_PERCENT - effort;
        let start = Instant::now();
        let db_count = engine.db_count();
        let mut expired: u64 = 0;
        let mut sampled_candidates: Vec<(Vec<u8>, i64)> = Vec::with_capacity(keys_per_round * 2);
        for _ in 0..SHARD_COUNT {
            if start.elapsed() >= budget {
                engine.stats.incr(crate::Stat::ExpiredTimeCapReached);
                break;
            }
            let shard = self.next_shard;
            self.next_shard = (self.next_shard + 1) % SHARD_COUNT;
            let Some(locks) = self.lock(engine, shard) else { continue };
            let mut tx = Tx::new(engine, locks, 0, crate::now_ns());
            for db in 0..db_count {
                let cursor_slot = shard * db_count + db;
                loop {
                    let table = &tx.locks.shard(shard as ShardIndex).dbs[db];
                    if table.volatile_len() == 0 {
                        self.cursors[cursor_slot] = 0;
                        break;
                    }
                    sampled_candidates.clear();
                    let mut cursor = self.cursors[cursor_slot];
                    // Visit buckets until enough keys were seen or the index wrapped.
                    loop {
                        cursor = table.scan_volatile(cursor, &mut sampled_candidates);
                        if cursor == 0 || sampled_candidates.len() >= keys_per_round {
                            break;
                        }
                    }
                    self.cursors[cursor_slot] = cursor;
                    let sampled = sampled_candidates.len();
                    let now = tx.now_ms;
                    let mut round_expired = 0;
                    for (key, when) in sampled_candidates.drain(..) {
                        if now > when {
                            // The lookup deletes it, propagates DEL and signals watchers.
                            let _ = tx.lookup_in(db, &key, Lookup::QUIET);
                            round_expired += 1;
                        }
                    }
                    expired += round_expired as u64;
                    if cursor == 0
                        || sampled == 0
                        || round_expired * 100 <= sampled * acceptable_stale
                        || start.elapsed() >= budget
                    {
                        break;
                    }
                }
            }
            tx.finish();
        }
        expired
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shoal_types::Value;

    #[test]
    fn removes_expired_keys_only() {
        let engine = Engine::new(2);
        let mut tx = engine.begin_all(0);
        let now = tx.now_ms;
        for i in 0..500 {
            let key = format!("k{i}").into_bytes();
            let expire = if i % 2 == 0 { now - 10 } else { now + 3_600_000 };
            tx.insert_in(i % 2, &key, Value::Int(1), expire);
        }
        tx.finish();
        let mut cycle = ExpireCycle::new(2);
        let mut total = 0;
        for _ in 0..50 {
            total += cycle.run(&engine, Duration::from_secs(1), 0);
        }
        assert_eq!(total, 250);
        let mut tx = engine.begin_all(0);
        assert_eq!(engine.db_size(&mut tx, 0), 0);
        assert_eq!(engine.db_size(&mut tx, 1), 250);
        tx.finish();
    }

    #[test]
    fn a_held_shard_is_passed_over_then_waited_for() {
        let engine = Engine::new(1);
        let mut tx = engine.begin_all(0);
        let now = tx.now_ms;
        tx.insert_in(0, b"gone", Value::Int(1), now - 10);
        tx.finish();
        let held = engine.keyspace.lock_one(crate::keyspace::shard_of(b"gone"));
        let mut cycle = ExpireCycle::new(1);
        for _ in 0..BUSY_SKIPS_MAX {
            assert_eq!(cycle.run(&engine, Duration::from_secs(10), 0), 0, "a held shard is passed over");
        }
        std::thread::scope(|scope| {
            let (cycle, engine) = (&mut cycle, &engine);
            let waiting = scope.spawn(move || cycle.run(engine, Duration::from_secs(10), 0));
            std::thread::sleep(Duration::from_millis(20));
            drop(held);
            assert_eq!(waiting.join().unwrap(), 1, "passed over too often, it is waited for");
        });
    }
}
