//! maxmemory: the server's side of eviction (the engine's `evict` does
//! the choosing and deleting). Memory is what the counting allocator
//! reports, minus what Redis does not count for eviction (the replicas'
//! queued stream); evicted values are freed here, lazily under
//! lazyfree-lazy-eviction.

use std::sync::atomic::Ordering;

use shoal_engine::evict::Outcome;

use crate::server::Server;

/// Bytes Redis leaves out of the eviction decision: the replication
/// stream queued for replicas (Shoal has no AOF buffer).
pub fn not_counted_bytes(server: &Server) -> usize {
    let (buffers, backlog) = server.engine.propagation.buffer_memory();
    (buffers - backlog) as usize
}

/// Runs eviction if memory is over maxmemory. Called before each command
/// (the dispatcher's OOM check) and by the cron while an eviction that ran
/// out of time is pending. `Fail` means over the limit with nothing left to
/// evict.
pub fn perform(server: &Server) -> Outcome {
    let limit = server.tunables.maxmemory.load(Ordering::Relaxed);
    if limit <= 0 {
        return Outcome::Ok;
    }
    let over = || {
        let used = crate::alloc::allocated_bytes() as i64 - not_counted_bytes(server) as i64;
        used - limit
    };
    // The common case first, without the replicas' lock: under the limit
    // even counting everything.
    if crate::alloc::allocated_bytes() as i64 <= limit || over() <= 0 {
        let pending = &server.engine.eviction.pending;
        if pending.load(Ordering::Relaxed) {
            pending.store(false, Ordering::Relaxed);
        }
        return Outcome::Ok;
    }
    let lazy = server.engine.eviction.lazy.load(Ordering::Relaxed);
    server.engine.evict(&over, &|entry| {
        if lazy {
            server.lazyfree.free_entry(entry);
        }
    })
}


/// True when counted memory is over maxmemory, without evicting: for the
/// commands a script calls, which run while the script holds every shard
/// (Redis checks them against the state found before the script started,
/// after that command's own eviction).
pub fn over_limit(server: &Server) -> bool {
    let limit = server.tunables.maxmemory.load(Ordering::Relaxed);
    limit > 0 && crate::alloc::allocated_bytes() as i64 - not_counted_bytes(server) as i64 > limit
}
