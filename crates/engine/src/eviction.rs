//! The eviction policy and its settings, and the LFU access counter
//! (Redis's layout in the entry's 24-bit access field: the top 16 bits
//! are the minute of the last decrement, the low 8 bits a logarithmic
//! counter). Choosing and deleting keys is `evict`'s.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU8, Ordering};

/// `maxmemory-policy`, in the order of the configuration's names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Policy {
    VolatileLru = 0,
    VolatileLfu = 1,
    VolatileRandom = 2,
    VolatileTtl = 3,
    AllkeysLru = 4,
    AllkeysLfu = 5,
    AllkeysRandom = 6,
    NoEviction = 7,
}

impl Policy {
    pub const NAMES: [&'static str; 8] = [
        "volatile-lru",
        "volatile-lfu",
        "volatile-random",
        "volatile-ttl",
        "allkeys-lru",
        "allkeys-lfu",
        "allkeys-random",
        "noeviction",
    ];

    pub fn from_name(name: &str) -> Option<Policy> {
        let i = Self::NAMES.iter().position(|n| n.eq_ignore_ascii_case(name))?;
        Some(Self::from_u8(i as u8))
    }

    pub(crate) fn from_u8(i: u8) -> Policy {
        match i {
            0 => Policy::VolatileLru,
            1 => Policy::VolatileLfu,
            2 => Policy::VolatileRandom,
            3 => Policy::VolatileTtl,
            4 => Policy::AllkeysLru,
            5 => Policy::AllkeysLfu,
            6 => Policy::AllkeysRandom,
            _ => Policy::NoEviction,
        }
    }

    pub fn is_lfu(self) -> bool {
        matches!(self, Policy::VolatileLfu | Policy::AllkeysLfu)
    }

    pub fn is_lru(self) -> bool {
        matches!(self, Policy::VolatileLru | Policy::AllkeysLru)
    }

    /// Only keys with a TTL are candidates.
    pub fn volatile_only(self) -> bool {
        matches!(self, Policy::VolatileLru | Policy::VolatileLfu | Policy::VolatileRandom | Policy::VolatileTtl)
    }

    pub(crate) fn is_random(self) -> bool {
        matches!(self, Policy::VolatileRandom | Policy::AllkeysRandom)
    }
}

/// The eviction parameters (mirrors of the configuration).
pub struct Settings {
    policy: AtomicU8,
    pub samples: AtomicU32,
    pub tenacity: AtomicU32,
    pub lfu_log_factor: AtomicU32,
    pub lfu_decay_time: AtomicU32,
    /// lazyfree-lazy-eviction: propagate UNLINK (the caller frees lazily).
    pub lazy: AtomicBool,
    /// An eviction call ran out of time with memory still over the limit:
    /// the cron continues it.
    pub pending: AtomicBool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            policy: AtomicU8::new(Policy::NoEviction as u8),
            samples: AtomicU32::new(5),
            tenacity: AtomicU32::new(10),
            lfu_log_factor: AtomicU32::new(10),
            lfu_decay_time: AtomicU32::new(1),
            lazy: AtomicBool::new(false),
            pending: AtomicBool::new(false),
        }
    }
}

impl Settings {
    pub fn policy(&self) -> Policy {
        Policy::from_u8(self.policy.load(Ordering::Relaxed))
    }

    pub fn set_policy(&self, policy: Policy) {
        self.policy.store(policy as u8, Ordering::Relaxed);
    }

    /// Time budget of one eviction call in microseconds (None: unlimited),
    /// from maxmemory-eviction-tenacity as Redis 7.0 scales it: 50 µs per
    /// step up to 10, then 15% more per step, unlimited at 100.
    pub fn time_limit_us(&self) -> Option<u64> {
        let t = self.tenacity.load(Ordering::Relaxed);
        if t <= 10 {
            Some(50 * t as u64)
        } else if t < 100 {
            Some((500.0 * 1.15f64.powi(t as i32 - 10)) as u64)
        } else {
            None
        }
    }
}

/// Initial LFU counter of a new key (Redis's LFU_INIT_VAL).
pub const LFU_INIT_VAL: u32 = 5;

/// Minutes since the epoch, 16 bits (the LFU decrement clock).
pub fn lfu_minutes(now_ms: i64) -> u32 {
    ((now_ms / 60_000) as u32) & 0xffff
}

/// The LFU access value of a new key.
pub fn lfu_new(now_ms: i64) -> u32 {
    (lfu_minutes(now_ms) << 8) | LFU_INIT_VAL
}

/// The counter of `access` after its decay up to `now_ms`.
pub fn lfu_decayed(access: u32, now_ms: i64, decay_time: u32) -> u32 {
    let last = access >> 8;
    let counter = access & 0xff;
    if decay_time == 0 {
        return counter;
    }
    let now = lfu_minutes(now_ms);
    let elapsed = if now >= last { now - last } else { 0xffff - last + now };
    let periods = elapsed / decay_time;
    counter.saturating_sub(periods)
}

/// The LFU access value after one more access at `now_ms`.
pub fn lfu_touched(access: u32, now_ms: i64, settings: &Settings) -> u32 {
    let decay = settings.lfu_decay_time.load(Ordering::Relaxed);
    let mut counter = lfu_decayed(access, now_ms, decay);
    if counter < 255 {
        let factor = settings.lfu_log_factor.load(Ordering::Relaxed) as f64;
        let base = counter.saturating_sub(LFU_INIT_VAL) as f64;
        let p = 1.0 / (base * factor + 1.0);
        if rand::random::<f64>() < p {
            counter += 1;
        }
    }
    (lfu_minutes(now_ms) << 8) | counter
}

