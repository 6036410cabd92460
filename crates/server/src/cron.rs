//! The server's periodic work, on its own thread at `hz` times a second:
//! the active expiry cycle, eviction that ran out of time, the ops/sec sample, pings to replicas, the
//! end of client pauses, the save points, and the worker load balance (placement.rs).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use shoal_engine::expire::ExpireCycle;
use shoal_engine::Stat;

use crate::server::Server;

const OPS_SAMPLES: usize = 16;

/// Runs until shutdown starts.
pub fn run(server: Arc<Server>) {
    let mut cycle = ExpireCycle::new(server.engine.db_count());
    let mut samples = [0u64; OPS_SAMPLES];
    let mut sample_index = 0;
    let mut last_sample = (Instant::now(), server.engine.stats.get(Stat::CommandsProcessed));
    let mut last_ping = Instant::now();
    let mut last_prune = Instant::now();
    while !server.shutting_down.load(Ordering::Acquire) {
        let hz = server.tunables.hz.load(Ordering::Relaxed).max(1) as u64;
        let period = Duration::from_micros(1_000_000 / hz);
        let started = Instant::now();
        if server.cron_paused.load(Ordering::Relaxed) {
            std::thread::sleep(period);
            continue;
        }
        let paused = server.pause.current().is_some();
        if !paused {
            server.engine.keep_expired.store(false, Ordering::Relaxed);
        }
        // A unit holding the whole keyspace (a script, a load) stops the
        // clock of expiry as in Redis; the cron must not wait for it.
        let exclusive = server.engine.keyspace.exclusive().is_some();
        let may_expire = server.engine.active_expire.load(Ordering::Relaxed) && !paused && !exclusive;
        if may_expire && server.engine.replica.load(Ordering::Relaxed) {
            // A replica expires only the keys its own clients gave a TTL
            // (its master's go by the master's DELs), as Redis's replicas.
            server.engine.replica_expires.run(&server.engine, period / 4);
        } else if may_expire && server.engine.may_delete_expired() {
            // Redis spends at most a quarter of each tick on expiry, two
            // percent more per step of active-expire-effort.
            let effort = (server.config.get_int("active-expire-effort").clamp(1, 10) - 1) as u32;
            cycle.run(&server.engine, period * (25 + 2 * effort) / 100, effort as usize);
            server.engine.stats.add(Stat::ExpireCycleCpuMicros, started.elapsed().as_micros() as u64);
        }
        if server.engine.eviction.pending.load(Ordering::Relaxed) && !paused {
            // An eviction that ran out of time, or a lower maxmemory.
            crate::evict::perform(&server);
            if server.tunables.maxmemory.load(Ordering::Relaxed) <= 0 {
                server.engine.eviction.pending.store(false, Ordering::Relaxed);
            }
        }
        crate::tracking::enforce_limit(&server);
        if last_prune.elapsed() >= Duration::from_secs(1) {
            server.engine.keyspace.prune_watches();
            server.migrate_sockets.close_idle();
            last_prune = Instant::now();
        }
        crate::outbox::check_idle_limits(&server);
        if last_sample.0.elapsed() >= Duration::from_millis(100) {
            let now = (Instant::now(), server.engine.stats.get(Stat::CommandsProcessed));
            let elapsed = now.0.duration_since(last_sample.0).as_secs_f64();
            samples[sample_index % OPS_SAMPLES] = ((now.1 - last_sample.1) as f64 / elapsed) as u64;
            sample_index += 1;
            let filled = sample_index.min(OPS_SAMPLES);
            server.ops_per_sec.store(samples[..filled].iter().sum::<u64>() / filled as u64, Ordering::Relaxed);
            last_sample = now;
        }
        let ping_period = Duration::from_secs(server.config.get_int("repl-ping-replica-period").max(1) as u64);
        if last_ping.elapsed() >= ping_period {
            // A replica's own replicas get its master's pings, verbatim;
            // a failover waits for a replica to reach a still offset.
            let failing_over = server.replicas.failover_state() != crate::state::replicas::FailoverState::None;
            if !server.master.is_replica() && !failing_over {
                server.engine.propagation.publish_raw(&[b"PING"]);
            }
            last_ping = Instant::now();
        }
        crate::replication::cron(&server);
        crate::persistence::cron(&server);
        server.placement.balance(&server.config, &server.clients, &server.engine.stats);
        std::thread::sleep(period.saturating_sub(started.elapsed()));
    }
}
