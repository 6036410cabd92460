//! Eviction: keeping the dataset under `maxmemory` by deleting keys the
//! `maxmemory-policy` chooses, approximated by sampling as Redis 7.0 does.
//!
//! - Random policies take a random key (of any kind, or with a TTL) from a
//!   random non-empty shard, the databases taken in turn.
//! - LRU, LFU and TTL policies keep a pool of the best candidates seen so
//!   far (16, sorted by score). Each round samples `maxmemory-samples`
//!   keys from consecutive non-empty shards starting at a random one (a
//!   shard holds a random 1/256 of the keys, so this is a random sample of
//!   the keyspace), merges them into the pool, and evicts the best
//!   candidate still present. Scores: idle time (LRU), 255 minus the decayed access
//!   counter (LFU), and how soon the key expires (TTL).
//!
//! Every eviction is a deletion unit of its own on the key's shard
//! (`Tx::evict_in`): DEL (UNLINK under lazyfree-lazy-eviction) propagated,
//! the `evicted` keyspace event, WATCH and client-side caching invalidated,
//! `evicted_keys` counted. One thread evicts at a time; a call stops when
//! it has freed what memory was over the limit when it started (counting
//! only what freeing the evicted entries released, as Redis does: the
//! invalidation messages an eviction sends to tracking clients must not
//! make it evict more, which would feed itself), when nothing is left to
//! evict, or when its time budget (from `maxmemory-eviction-tenacity`) is
//! spent, in which case the caller continues later (the server's cron) as
//! Redis's timer does.
//!
//! LFU data (Redis's layout in the entry's 24-bit access field): the top
//! 16 bits are the minute of the last decrement, the low 8 bits a
//! logarithmic counter that starts at 5, grows with probability
//! 1/((counter-5)*lfu-log-factor+1) per access and loses one per
//! `lfu-decay-time` minutes of idleness.

use std::sync::atomic::Ordering;
use std::time::Instant;

use parking_lot::Mutex;

use crate::entry::Entry;
use crate::keyspace::{ShardIndex, SHARD_COUNT};
use crate::tx::Tx;
use crate::Engine;

pub use crate::eviction::{lfu_decayed, lfu_minutes, lfu_new, lfu_touched, Policy, Settings, LFU_INIT_VAL};

/// What an eviction call achieved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Memory is under the limit (or eviction does not apply now).
    Ok,
    /// Out of time with memory still over: eviction continues later.
    Running,
    /// Over the limit with nothing (more) to evict: writes that may grow
    /// memory are refused.
    Fail,
}

const POOL_SIZE: usize = 16;
/// Picks in busy shards one eviction call passes over before leaving the
/// rest to the cron.
const BUSY_PICKS_MAX: usize = 64;

struct Candidate {
    score: u64,
    db: usize,
    key: Vec<u8>,
}

/// State kept between eviction calls (Redis's static pool and next db).
#[derive(Default)]
pub struct Evictor {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Sorted by score, best candidate last.
    pool: Vec<Candidate>,
    /// The policy the pool was filled for.
    pool_policy: Option<Policy>,
    next_db: usize,
}

impl Engine {
    /// Evicts keys while `over()` (bytes above maxmemory, not counting
    /// what Redis does not count) is positive. `dispose` receives each
    /// evicted entry once its unit has ended (to free it, perhaps lazily).
    pub fn evict(&self, over: &dyn Fn() -> i64, dispose: &dyn Fn(Entry)) -> Outcome {
        if over() <= 0 || !self.may_delete_expired() {
            // Nothing to do, or the dataset must stay as it is (a paused
            // server deletes nothing, as for expiry).
            return Outcome::Ok;
        }
        let policy = self.eviction.policy();
        if policy == Policy::NoEviction {
            return Outcome::Fail;
        }
        let mut state = self.evictor.state.lock();
        if state.pool_policy != Some(policy) {
            state.pool.clear();
            state.pool_policy = Some(policy);
        }
        let started = Instant::now();
        let limit_us = self.eviction.time_limit_us();
        let lazy = self.eviction.lazy.load(Ordering::Relaxed);
        // As Redis: the amount to free is fixed at the start, and only what
        // freeing the evicted entries releases counts towards it, not what
        // their invalidation messages or events allocate meanwhile (which
        // would otherwise feed the eviction; see the module comment).
        let to_free = over();
        if to_free <= 0 {
            self.eviction.pending.store(false, Ordering::Relaxed);
            return Outcome::Ok;
        }
        let mut freed_bytes = 0i64;
        let mut freed = 0u64;
        let mut busy_picks = 0usize;
        loop {
            if freed_bytes >= to_free {
                self.eviction.pending.store(false, Ordering::Relaxed);
                return Outcome::Ok;
            }
            let picked = if policy.is_random() { self.pick_random(&mut state, policy) } else { self.pick_pooled(&mut state, policy) };
            let Some((db, key)) = picked else {
                self.eviction.pending.store(false, Ordering::Relaxed);
                return Outcome::Fail;
            };
            let shard = crate::shard_of(&key);
            // Worker threads never wait for a shard: a candidate in a busy
            // one is passed over (and, if every pick is busy, the rest is
            // left to the cron).
            let Some(locks) = self.keyspace.try_lock_one(shard) else {
                busy_picks += 1;
                if busy_picks > BUSY_PICKS_MAX {
                    self.eviction.pending.store(true, Ordering::Relaxed);
                    return Outcome::Running;
                }
                continue;
            };
            let mut tx = Tx::new(self, locks, db, crate::now_ns());
            let entry = tx.evict_in(db, &key, policy.volatile_only(), lazy);
            tx.finish();
            if let Some(entry) = entry {
                let before = over();
                dispose(entry);
                freed_bytes += before - over();
                freed += 1;
                if freed % 16 == 0 {
                    if lazy && over() <= 0 {
                        // Values freed in the background have caught up.
                        self.eviction.pending.store(false, Ordering::Relaxed);
                        return Outcome::Ok;
                    }
                    if let Some(limit) = limit_us {
                        if started.elapsed().as_micros() as u64 > limit {
                            let still_over = over() > 0;
                            self.eviction.pending.store(still_over, Ordering::Relaxed);
                            return if still_over { Outcome::Running } else { Outcome::Ok };
                        }
                    }
                }
            }
        }
    }

    /// A random key (with a TTL for volatile-random) of a random
    /// non-empty shard, the databases taken in turn.
    fn pick_random(&self, state: &mut State, policy: Policy) -> Option<(usize, Vec<u8>)> {
        let db_count = self.db_count();
        let start = rand::random_range(0..SHARD_COUNT);
        for step in 0..SHARD_COUNT {
            let shard = ((start + step) % SHARD_COUNT) as ShardIndex;
            let Some(guard) = self.keyspace.try_lock_one(shard) else { continue };
            let shard = guard.iter().next().expect("one shard");
            for i in 0..db_count {
                let db = (state.next_db + i) % db_count;
                let table = &shard.dbs[db];
                let key = if policy.volatile_only() {
                    table.random_volatile_key(rand::random())
                } else {
                    table.random_slot(rand::random()).map(|slot| table.entry(slot).key().to_vec())
                };
                if let Some(key) = key {
                    state.next_db = db + 1;
                    return Some((db, key));
                }
            }
        }
        None
    }

    /// The best candidate of the pool after sampling one more shard.
    fn pick_pooled(&self, state: &mut State, policy: Policy) -> Option<(usize, Vec<u8>)> {
        let samples = self.eviction.samples.load(Ordering::Relaxed).max(1) as usize;
        let decay = self.eviction.lfu_decay_time.load(Ordering::Relaxed);
        let now_ms = crate::now_ms();
        let clock = self.lru_clock();
        let db_count = self.db_count();
        let start = rand::random_range(0..SHARD_COUNT);
        let mut sampled = 0;
        for step in 0..SHARD_COUNT {
            let shard = ((start + step) % SHARD_COUNT) as ShardIndex;
            let Some(guard) = self.keyspace.try_lock_one(shard) else { continue };
            let shard = guard.iter().next().expect("one shard");
            for db in 0..db_count {
                let table = &shard.dbs[db];
                let candidates = if policy.volatile_only() { table.volatile_len() } else { table.len() };
                if candidates == 0 {
                    continue;
                }
                for _ in 0..samples.saturating_sub(sampled).min(candidates) {
                    sampled += 1;
                    let Some(entry) = table.random_entry(policy.volatile_only(), rand::random()) else { continue };
                    let score = match policy {
                        Policy::VolatileTtl => u64::MAX - entry.expire_at() as u64,
                        p if p.is_lfu() => 255 - lfu_decayed(entry.access(), now_ms, decay) as u64,
                        _ => idle_of(clock, entry.access()),
                    };
                    insert_candidate(&mut state.pool, Candidate { score, db, key: entry.key().to_vec() });
                }
            }
            if sampled >= samples {
                break;
            }
        }
        if sampled == 0 {
            // The keyspace has no candidate at all.
            state.pool.clear();
            return None;
        }
        // The best candidate still there (the caller re-checks under the
        // shard lock; a stale one is simply skipped next time).
        let best = state.pool.pop()?;
        Some((best.db, best.key))
    }
}

/// Seconds since `access` on the LRU clock `clock` (which wraps).
fn idle_of(clock: u32, access: u32) -> u64 {
    if clock >= access {
        (clock - access) as u64
    } else {
        (clock as u64 + crate::LRU_CLOCK_MAX as u64) - access as u64
    }
}

fn insert_candidate(pool: &mut Vec<Candidate>, candidate: Candidate) {
    if let Some(i) = pool.iter().position(|c| c.db == candidate.db && c.key == candidate.key) {
        pool.remove(i);
    }
    if pool.len() >= POOL_SIZE {
        if candidate.score <= pool[0].score {
            return;
        }
        pool.remove(0);
    }
    let at = pool.partition_point(|c| c.score <= candidate.score);
    pool.insert(at, candidate);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NO_EXPIRE;
    use shoal_types::Value;
    use std::cell::Cell;

    fn fill(engine: &Engine, n: usize, ttl_every: usize) {
        let mut tx = engine.begin_all(0);
        let far = tx.now_ms + 3_600_000;
        for i in 0..n {
            let expire = if ttl_every > 0 && i % ttl_every == 0 { far + i as i64 } else { NO_EXPIRE };
            tx.insert_in(0, format!("k{i}").as_bytes(), Value::Int(i as i64), expire);
        }
        tx.finish();
    }

    fn count(engine: &Engine) -> (usize, usize) {
        let tx = engine.begin_all(0);
        let keys = tx.locks.iter().map(|s| s.dbs[0].len()).sum();
        let volatile = tx.locks.iter().map(|s| s.dbs[0].volatile_len()).sum();
        tx.finish();
        (keys, volatile)
    }

    /// Evicts exactly `n` keys (the "memory" is a countdown).
    fn evict_n(engine: &Engine, n: i64) -> Outcome {
        engine.eviction.tenacity.store(100, Ordering::Relaxed);
        let left = Cell::new(n);
        engine.evict(&|| left.get(), &|_| left.set(left.get() - 1))
    }

    #[test]
    fn allkeys_policies_evict_any_key_and_noeviction_none() {
        for policy in [Policy::AllkeysRandom, Policy::AllkeysLru, Policy::AllkeysLfu] {
            let engine = Engine::new(1);
            fill(&engine, 300, 0);
            engine.eviction.set_policy(policy);
            assert_eq!(evict_n(&engine, 100), Outcome::Ok, "{policy:?}");
            assert_eq!(count(&engine).0, 200, "{policy:?}");
            assert_eq!(engine.stats.get(crate::Stat::EvictedKeys), 100);
        }
        let engine = Engine::new(1);
        fill(&engine, 10, 0);
        assert_eq!(evict_n(&engine, 1), Outcome::Fail);
        assert_eq!(count(&engine).0, 10);
    }

    #[test]
    fn volatile_policies_evict_only_keys_with_a_ttl() {
        for policy in [Policy::VolatileRandom, Policy::VolatileLru, Policy::VolatileLfu, Policy::VolatileTtl] {
            let engine = Engine::new(1);
            fill(&engine, 300, 3);
            engine.eviction.set_policy(policy);
            assert_eq!(evict_n(&engine, 50), Outcome::Ok, "{policy:?}");
            assert_eq!(count(&engine), (250, 50), "{policy:?}");
            // 50 volatile keys left: asking for 80 fails after those.
            assert_eq!(evict_n(&engine, 80), Outcome::Fail, "{policy:?}");
            assert_eq!(count(&engine), (200, 0), "{policy:?}");
        }
    }

    #[test]
    fn volatile_ttl_prefers_the_shortest_ttl() {
        let engine = Engine::new(1);
        fill(&engine, 1000, 1);
        engine.eviction.set_policy(Policy::VolatileTtl);
        assert_eq!(evict_n(&engine, 100), Outcome::Ok);
        let mut tx = engine.begin_all(0);
        let survivors_low = (0..100).filter(|i| tx.exists_in(0, format!("k{i}").as_bytes())).count();
        let survivors_high = (900..1000).filter(|i| tx.exists_in(0, format!("k{i}").as_bytes())).count();
        tx.finish();
        assert!(survivors_low < survivors_high, "{survivors_low} of the shortest TTLs vs {survivors_high}");
    }

    #[test]
    fn lfu_counter_grows_logarithmically_and_decays() {
        let settings = Settings::default();
        let now = 10 * 60_000;
        let mut access = lfu_new(now);
        assert_eq!(access & 0xff, LFU_INIT_VAL);
        for _ in 0..1000 {
            access = lfu_touched(access, now, &settings);
        }
        let counter = access & 0xff;
        assert!(counter > 10 && counter < 60, "{counter}");
        // Three minutes idle with lfu-decay-time 1: three less.
        assert_eq!(lfu_decayed(access, now + 3 * 60_000, 1), counter - 3);
        assert_eq!(lfu_decayed(access, now + 3 * 60_000, 0), counter);
        assert_eq!(lfu_decayed(access, now + 600 * 60_000, 1), 0);
    }

    #[test]
    fn tenacity_scales_the_time_budget() {
        let s = Settings::default();
        assert_eq!(s.time_limit_us(), Some(500));
        s.tenacity.store(0, Ordering::Relaxed);
        assert_eq!(s.time_limit_us(), Some(0));
        s.tenacity.store(100, Ordering::Relaxed);
        assert_eq!(s.time_limit_us(), None);
    }
}
