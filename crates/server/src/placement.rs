//! Which worker serves which connection.
//!
//! Every worker can serve clients, but a worker that wakes for one request
//! at a time costs more CPU per request than one that wakes for a batch:
//! each sleep and wake-up is a pair of context switches. So connections
//! are packed onto as few workers as their load needs ("active" workers
//! 0..k), and spread over more when a worker gets busy:
//!
//! * New connections go round-robin to the active workers, skipping one
//!   that has been awake (running commands without a break) for longer
//!   than [`STUCK_MS`], e.g. inside DEBUG SLEEP or a long KEYS: it would
//!   not serve them soon. If every active worker is stuck, an inactive
//!   one takes the connection.
//! * Every [`BALANCE_PERIOD_MS`] the cron thread reads each worker's CPU
//!   time. If an active worker used more than `worker-spread-pct` percent
//!   of a core, and the machine has CPU to spare (at least
//!   `worker-spread-idle-pct` percent of a core idle, from /proc/stat),
//!   one more worker becomes active and takes a share of the busy
//!   workers' connections. Without idle CPU another worker adds no
//!   capacity: it only competes for the cores with what is already
//!   running (on a 2-core machine with the client beside the server, it
//!   took CPU from the client and tripled the server's p99 latency). If the active workers' load would fit in
//!   fewer workers each below `worker-pack-pct`, the highest ones stop
//!   being active and hand their connections to the rest (at most once
//!   per [`PACK_COOLDOWN_MS`], so a load near a threshold does not
//!   oscillate).
//! * A connection moves only between two of its own requests, when its
//!   replies are written and it is not blocked, in a transaction's wait
//!   or streaming to a replica: it sees the request to move at the top of
//!   its loop, hands its socket and state to the target worker and
//!   resumes there. Moving changes nothing a client can observe: the
//!   keyspace, locks and wake-ups do not depend on the worker.
//!
//! `worker-packing no` restores plain round-robin over all workers with no
//! moves.

use std::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

use tokio::sync::mpsc::UnboundedSender;

use shoal_engine::stats::{Stat, Stats};

use crate::client::Registry;
use crate::config::Config;
use crate::state::net::Incoming;

/// A worker awake this long without parking is considered stuck.
pub const STUCK_MS: i64 = 50;
/// How often the load is measured and the active set adjusted.
pub const BALANCE_PERIOD_MS: i64 = 200;
/// Shrinking the active set waits this long after any change.
pub const PACK_COOLDOWN_MS: i64 = 1000;

pub use crate::client::NO_MOVE;

/// What one worker publishes about itself.
#[derive(Default)]
pub struct WorkerLoad {
    /// Coarse milliseconds when it last woke up; 0 while parked.
    awake_since_ms: AtomicI64,
    /// Its thread's CPU-time clock, once the thread has started.
    cpu_clock: OnceLock<libc::clockid_t>,
    /// Connections it serves now.
    pub connections: AtomicUsize,
    /// CPU use over the last balance period, in percent of a core.
    pub cpu_pct: AtomicU32,
    /// Its thread's slot in the engine's per-thread statistics.
    stat_slot: OnceLock<usize>,
    /// Over the last balance period, percent of its one-shard commands
    /// that ran on its busiest shard (one hot key or collection gives
    /// ~100, keys spread over the keyspace ~1)...
    pub top_shard_pct: AtomicU32,
    /// ...and percent of its commands that waited for a shard another
    /// worker held.
    pub lock_wait_pct: AtomicU32,
}

/// A worker's engine counters (at a balance step, or their change over a
/// period).
#[derive(Clone, Default)]
struct UnitCounts {
    commands: u64,
    lock_waits: u64,
    /// Units over every shard.
    all_shards: u64,
    /// One-shard units by shard.
    shards: Vec<u32>,
}

impl UnitCounts {
    fn read(stats: &Stats, worker: &WorkerLoad) -> UnitCounts {
        let Some(&slot) = worker.stat_slot.get() else {
            return UnitCounts::default();
        };
        UnitCounts {
            commands: stats.get_slot(slot, Stat::CommandsProcessed),
            lock_waits: stats.get_slot(slot, Stat::ShardLockWaits),
            all_shards: stats.get_slot(slot, Stat::AllShardUnits),
            shards: stats.shard_units(slot),
        }
    }

    fn since(&self, earlier: &UnitCounts) -> UnitCounts {
        UnitCounts {
            commands: self.commands.wrapping_sub(earlier.commands),
            lock_waits: self.lock_waits.wrapping_sub(earlier.lock_waits),
            all_shards: self.all_shards.wrapping_sub(earlier.all_shards),
            shards: self.shards.iter().enumerate().map(|(i, n)| n.wrapping_sub(earlier.shards.get(i).copied().unwrap_or(0))).collect(),
        }
    }

    /// (units on the busiest shard, one-shard units in all).
    fn top_shard(&self) -> (u64, u64) {
        let top = self.shards.iter().copied().max().unwrap_or(0) as u64;
        (top, self.shards.iter().map(|&n| n as u64).sum())
    }
}

/// Fewer one-shard commands than this in a balance period say nothing
/// about how concentrated the load is.
const CONCENTRATION_MIN_UNITS: u64 = 1000;
/// The load is on one shard when at least this percent of the active
/// workers' one-shard commands went to one shard...
const TOP_SHARD_PCT: u64 = 75;
/// ...or at least this percent of their commands waited for a shard lock,
/// or held every shard (scripts: one runs at a time, whichever worker).
const LOCK_WAIT_PCT: u64 = 20;

/// Whether the active workers' commands over one period (`counts`) mostly
/// went to one shard, or held them all, which runs one command at a time
/// whatever the number of workers: another worker would only wait for
/// the locks (and add a hand-over of their cache lines to every command).
fn concentrated(counts: &[UnitCounts]) -> bool {
    let mut by_shard = vec![0u64; shoal_engine::SHARD_COUNT];
    for c in counts {
        for (total, &n) in by_shard.iter_mut().zip(&c.shards) {
            *total += n as u64;
        }
    }
    let units: u64 = by_shard.iter().sum();
    let top = by_shard.iter().copied().max().unwrap_or(0);
    let commands: u64 = counts.iter().map(|c| c.commands).sum();
    let waits: u64 = counts.iter().map(|c| c.lock_waits.min(c.commands)).sum();
    let all_shards: u64 = counts.iter().map(|c| c.all_shards.min(c.commands)).sum();
    (units >= CONCENTRATION_MIN_UNITS && top * 100 >= units * TOP_SHARD_PCT)
        || (commands >= CONCENTRATION_MIN_UNITS && waits.max(all_shards) * 100 >= commands * LOCK_WAIT_PCT)
}

/// Balancer memory between two periods.
struct Sample {
    at_ms: i64,
    cpu_ns: Vec<u64>,
    units: Vec<UnitCounts>,
    /// The machine's (idle, total) CPU time from /proc/stat, if readable.
    machine: Option<MachineTimes>,
    last_change_ms: i64,
}

/// The thresholds of one balance decision.
#[derive(Clone, Copy, Debug)]
pub struct Thresholds {
    /// Spread when a worker is busier than this (percent of a core)...
    pub spread_at: u32,
    /// ...and the machine has at least this much of a core idle.
    pub spread_idle: u32,
    /// Pack onto the fewest workers that carry the load below this.
    pub pack_below: u32,
}

/// How many workers should be active, given each active worker's CPU use
/// (`pct`, percent of a core), the machine's idle CPU (percent of one
/// core; `None` when unknown, which does not hold spreading back), whether
/// the load is concentrated on one shard (`one_shard`: a hot key or
/// collection, which more workers would only contend for), and whether
/// packing may happen yet (`may_pack`: the cooldown has passed).
pub fn decide(
    active: usize,
    all: usize,
    pct: &[u32],
    idle: Option<u32>,
    one_shard: bool,
    t: Thresholds,
    may_pack: bool,
) -> usize {
    let busiest = pct.iter().copied().max().unwrap_or(0);
    let total: u32 = pct.iter().sum();
    let spare_cpu = idle.is_none_or(|idle| idle >= t.spread_idle);
    if one_shard {
        // One shard runs one command at a time: a single worker serves it
        // best, with no lock hand-overs between cores.
        return if active > 1 && may_pack { 1 } else { active };
    }
    if busiest > t.spread_at && active < all && spare_cpu {
        return active + 1;
    }
    if active > 1 && may_pack {
        // The fewest workers that carry this load below the threshold.
        let needed = (total.div_ceil(t.pack_below.max(1)) as usize).max(1);
        if needed < active {
            return needed;
        }
    }
    active
}

/// Idle and total CPU time of the whole machine, in clock ticks.
#[derive(Clone, Copy)]
struct MachineTimes {
    idle: u64,
    total: u64,
}

impl MachineTimes {
    /// From the first line of /proc/stat: `cpu user nice system idle
    /// iowait irq softirq steal ...`; idle is idle + iowait; total the
    /// first eight fields (guest time is already in user).
    fn read() -> Option<MachineTimes> {
        let text = std::fs::read_to_string("/proc/stat").ok()?;
        Self::parse(text.lines().next()?)
    }

    fn parse(line: &str) -> Option<MachineTimes> {
        let mut fields = line.split_whitespace();
        if fields.next()? != "cpu" {
            return None;
        }
        let ticks: Vec<u64> = fields.take(8).map(|f| f.parse().ok()).collect::<Option<_>>()?;
        if ticks.len() < 5 {
            return None;
        }
        Some(MachineTimes { idle: ticks[3] + ticks[4], total: ticks.iter().sum() })
    }

    /// Idle CPU between `earlier` and `self`, in percent of one core.
    fn idle_pct_since(&self, earlier: &MachineTimes, cores: usize) -> Option<u32> {
        let total = self.total.checked_sub(earlier.total).filter(|&t| t > 0)?;
        let idle = self.idle.checked_sub(earlier.idle)?.min(total);
        Some((idle * 100 * cores as u64 / total) as u32)
    }
}

pub struct Placement {
    pub workers: Vec<WorkerLoad>,
    /// Workers 0..active take new connections.
    active: AtomicUsize,
    next: AtomicUsize,
    /// Connections moved between workers since start.
    pub moves: AtomicU64,
    /// Idle CPU of the machine over the last balance period, in percent of
    /// one core (`u32::MAX`: unknown).
    pub machine_idle_pct: AtomicU32,
    senders: OnceLock<Vec<UnboundedSender<Incoming>>>,
    sample: Mutex<Option<Sample>>,
}

impl Placement {
    pub fn new(threads: usize) -> Placement {
        Placement {
            workers: (0..threads.max(1)).map(|_| WorkerLoad::default()).collect(),
            active: AtomicUsize::new(1),
            next: AtomicUsize::new(0),
            moves: AtomicU64::new(0),
            machine_idle_pct: AtomicU32::new(u32::MAX),
            senders: OnceLock::new(),
            sample: Mutex::new(None),
        }
    }

    pub fn set_senders(&self, senders: Vec<UnboundedSender<Incoming>>) {
        let _ = self.senders.set(senders);
    }

    /// Hands a connection (new or moving) to worker `index`.
    pub fn send(&self, index: usize, connection: Incoming) {
        if let Some(senders) = self.senders.get() {
            let _ = senders[index % senders.len()].send(connection);
        }
    }

    pub fn active(&self) -> usize {
        self.active.load(Ordering::Relaxed)
    }

    /// Called on the worker's own thread when it starts.
    pub fn worker_started(&self, index: usize) {
        let mut clock: libc::clockid_t = 0;
        // SAFETY: asks for the calling thread's CPU clock id, written to a
        // valid local.
        if unsafe { libc::pthread_getcpuclockid(libc::pthread_self(), &mut clock) } == 0 {
            let _ = self.workers[index].cpu_clock.set(clock);
        }
        let _ = self.workers[index].stat_slot.set(shoal_engine::stats::thread_slot());
    }

    /// Runtime hook: the worker woke up.
    pub fn unparked(&self, index: usize) {
        self.workers[index].awake_since_ms.store(coarse_now_ms(), Ordering::Relaxed);
    }

    /// Runtime hook: the worker is about to sleep (the time the last
    /// command ended goes stale).
    pub fn parking(&self, index: usize) {
        self.workers[index].awake_since_ms.store(0, Ordering::Relaxed);
        shoal_engine::clock_hint::forget();
    }

    fn stuck(&self, index: usize, now_ms: i64) -> bool {
        let since = self.workers[index].awake_since_ms.load(Ordering::Relaxed);
        since != 0 && now_ms - since > STUCK_MS
    }

    /// The worker a new connection goes to.
    pub fn choose(&self, packing: bool) -> usize {
        let all = self.workers.len();
        let next = self.next.fetch_add(1, Ordering::Relaxed);
        if !packing {
            return next % all;
        }
        let active = self.active().clamp(1, all);
        let now = coarse_now_ms();
        (0..active)
            .map(|offset| (next + offset) % active)
            .chain(active..all)
            .find(|&index| !self.stuck(index, now))
            .unwrap_or(next % active)
    }

    /// One balance step, from the cron thread.
    pub fn balance(&self, config: &Config, clients: &Registry, stats: &Stats) {
        let now = coarse_now_ms();
        let cpu_ns: Vec<u64> = self.workers.iter().map(|w| w.cpu_clock.get().map_or(0, |&c| thread_cpu_ns(c))).collect();
        let mut guard = self.sample.lock().unwrap_or_else(|e| e.into_inner());
        let machine = MachineTimes::read();
        let units: Vec<UnitCounts> = self.workers.iter().map(|w| UnitCounts::read(stats, w)).collect();
        let Some(previous) = guard.as_mut() else {
            *guard = Some(Sample { at_ms: now, cpu_ns, units, machine, last_change_ms: now });
            return;
        };
        let elapsed_ms = now - previous.at_ms;
        if elapsed_ms < BALANCE_PERIOD_MS {
            return;
        }
        let pct: Vec<u32> = cpu_ns
            .iter()
            .zip(&previous.cpu_ns)
            .map(|(now_ns, then_ns)| (now_ns.saturating_sub(*then_ns) / 10_000 / elapsed_ms.max(1) as u64) as u32)
            .collect();
        let period: Vec<UnitCounts> = units.iter().zip(&previous.units).map(|(now, then)| now.since(then)).collect();
        for ((worker, p), counts) in self.workers.iter().zip(&pct).zip(&period) {
            worker.cpu_pct.store(*p, Ordering::Relaxed);
            let (top, units) = counts.top_shard();
            let pct = |n: u64, of: u64| (n.min(of) * 100).checked_div(of).unwrap_or(0) as u32;
            worker.top_shard_pct.store(pct(top, units), Ordering::Relaxed);
            worker.lock_wait_pct.store(pct(counts.lock_waits, counts.commands), Ordering::Relaxed);
        }
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let idle = match (machine, previous.machine) {
            (Some(now), Some(then)) => now.idle_pct_since(&then, cores),
            _ => None,
        };
        self.machine_idle_pct.store(idle.unwrap_or(u32::MAX), Ordering::Relaxed);
        previous.at_ms = now;
        previous.cpu_ns = cpu_ns;
        previous.units = units;
        previous.machine = machine;
        if !config.get_bool("worker-packing") {
            return;
        }
        let all = self.workers.len();
        let active = self.active().clamp(1, all);
        let thresholds = Thresholds {
            spread_at: config.get_int("worker-spread-pct") as u32,
            spread_idle: config.get_int("worker-spread-idle-pct") as u32,
            pack_below: config.get_int("worker-pack-pct") as u32,
        };
        let may_pack = now - previous.last_change_ms >= PACK_COOLDOWN_MS;
        let one_shard = concentrated(&period[..active]);
        let wanted = decide(active, all, &pct[..active], idle, one_shard, thresholds, may_pack);
        if wanted != active {
            self.active.store(wanted, Ordering::Relaxed);
            previous.last_change_ms = now;
            if wanted > active {
                self.spread(clients, wanted);
            } else {
                self.pack(clients, wanted);
            }
        }
    }

    /// `active` workers now: each takes an equal share of the recently
    /// busy connections; the excess of each worker moves to the newest.
    fn spread(&self, clients: &Registry, active: usize) {
        let newest = active - 1;
        let recent = coarse_now_ms() - 1000;
        let mut seen = vec![0usize; self.workers.len()];
        for info in clients.all() {
            let thread = info.thread.load(Ordering::Relaxed);
            if thread >= newest || info.last_interaction_ms.load(Ordering::Relaxed) < recent {
                continue;
            }
            seen[thread] += 1;
            // Every `active`-th busy connection of each worker moves.
            if seen[thread].is_multiple_of(active) {
                info.move_to.store(newest, Ordering::Relaxed);
            }
        }
    }

    /// Only workers 0..active stay: the others' connections move to them.
    fn pack(&self, clients: &Registry, active: usize) {
        let mut target = 0;
        for info in clients.all() {
            if info.thread.load(Ordering::Relaxed) >= active {
                info.move_to.store(target % active, Ordering::Relaxed);
                target += 1;
            }
        }
    }
}

/// CPU time of a thread clock, in nanoseconds.
fn thread_cpu_ns(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec; a stale clock id of an
    // exited thread makes the call fail, not misbehave.
    if unsafe { libc::clock_gettime(clock, &mut ts) } != 0 {
        return 0;
    }
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Milliseconds since the epoch from the kernel's coarse clock (a few ms
/// of resolution, no hardware clock read): cheap enough for every wake-up
/// and every read.
pub fn coarse_now_ms() -> i64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec.
    if unsafe { libc::clock_gettime(libc::CLOCK_REALTIME_COARSE, &mut ts) } != 0 {
        return shoal_engine::now_ms();
    }
    ts.tv_sec * 1000 + ts.tv_nsec / 1_000_000
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Thresholds = Thresholds { spread_at: 85, spread_idle: 50, pack_below: 75 };

    #[test]
    fn a_busy_worker_spreads_only_onto_idle_cpu() {
        assert_eq!(decide(1, 2, &[95], Some(120), false, T, true), 2, "busy, a core idle: spread");
        assert_eq!(decide(1, 2, &[95], None, false, T, true), 2, "idle time unknown: spread");
        assert_eq!(decide(1, 2, &[95], Some(10), false, T, true), 1, "busy but the machine is full: stay");
        assert_eq!(decide(1, 2, &[80], Some(120), false, T, true), 1, "below the spread threshold: stay");
        assert_eq!(decide(2, 2, &[99, 99], Some(200), false, T, true), 2, "every worker already active");
        let always = Thresholds { spread_idle: 0, ..T };
        assert_eq!(decide(1, 2, &[95], Some(0), false, always, true), 2, "worker-spread-idle-pct 0: always spread");
    }

    #[test]
    fn calm_workers_pack_after_the_cooldown() {
        assert_eq!(decide(2, 2, &[30, 30], Some(100), false, T, true), 1, "60% fits in one worker below 75%");
        assert_eq!(decide(2, 2, &[30, 30], Some(100), false, T, false), 2, "not before the cooldown");
        assert_eq!(decide(2, 2, &[50, 40], Some(100), false, T, true), 2, "90% needs two workers");
        assert_eq!(decide(3, 4, &[20, 20, 20], Some(0), false, T, true), 1);
        assert_eq!(decide(3, 4, &[60, 60, 30], None, false, T, true), 2);
    }

    #[test]
    fn a_load_on_one_shard_stays_on_one_worker() {
        assert_eq!(decide(1, 2, &[99], Some(120), true, T, true), 1, "busy on one hot shard: no spreading");
        assert_eq!(decide(2, 2, &[60, 60], Some(80), true, T, true), 1, "already spread: pack back");
        assert_eq!(decide(2, 2, &[60, 60], Some(80), true, T, false), 2, "not before the cooldown");
        // `commands` spread evenly over the first `spread` shards, plus
        // `hot` more on shard 7.
        let c = |commands: u64, spread: usize, hot: u32, lock_waits| {
            let mut shards = vec![0u32; shoal_engine::SHARD_COUNT];
            for i in 0..spread {
                shards[i] = (commands / spread as u64) as u32;
            }
            shards[7] += hot;
            UnitCounts { commands: commands + hot as u64, lock_waits, all_shards: 0, shards }
        };
        assert!(concentrated(&[c(0, 1, 10_000, 0)]), "one hot key");
        assert!(concentrated(&[c(1_000, 256, 9_000, 0)]), "mostly one hot key");
        assert!(!concentrated(&[c(10_000, 256, 0, 0)]), "keys spread over the shards");
        assert!(!concentrated(&[c(10_000, 4, 0, 0)]), "four busy keys on four shards");
        assert!(!concentrated(&[c(5_000, 4, 0, 0), c(0, 1, 5_000, 0)]), "one hot key among workers busy elsewhere");
        assert!(concentrated(&[c(5_000, 256, 0, 1_500), c(5_000, 256, 0, 1_500)]), "two workers waiting for shards");
        assert!(!concentrated(&[c(0, 1, 500, 0)]), "too few commands to tell");
        // Scripts hold every shard: one runs at a time, whichever worker.
        let scripts = |commands: u64, all_shards: u64| UnitCounts { commands, all_shards, ..c(0, 0, 0, 0) };
        assert!(concentrated(&[scripts(5_000, 5_000), scripts(5_000, 5_000)]), "scripts on two workers");
        assert!(concentrated(&[scripts(10_000, 3_000)]), "scripts among other commands");
        assert!(!concentrated(&[scripts(10_000, 500)]), "a few scripts among spread commands");
    }

    #[test]
    fn machine_idle_time_comes_from_proc_stat() {
        let then = MachineTimes::parse("cpu  100 0 50 1000 10 0 0 5 0 0").unwrap();
        let now = MachineTimes::parse("cpu  200 0 100 1100 10 0 0 5 0 0").unwrap();
        // 100 idle ticks of 250 on 2 cores: 80% of one core idle.
        assert_eq!(now.idle_pct_since(&then, 2), Some(80));
        assert_eq!(then.idle_pct_since(&then, 2), None, "no time passed");
        assert!(MachineTimes::parse("cpu0 1 2 3 4 5 6 7 8").is_none());
        assert!(MachineTimes::parse("cpu  1 2 x 4 5 6 7 8").is_none());
        assert!(MachineTimes::read().is_some(), "this test runs on Linux");
    }
}
