//! MIGRATE's cache of connections to target servers, one per `host:port`
//! (INFO `migrate_cached_sockets`). A connection is taken out while one
//! MIGRATE uses it and given back afterwards, so two clients migrating to
//! the same target at once each have their own; the cron thread closes
//! those idle for more than `IDLE_SECS`, as Redis does.
//!
//! Sockets rest here as `std` streams, out of any worker's reactor: the
//! MIGRATE that takes one registers it with the runtime of the worker it
//! runs on.

use std::collections::HashMap;
use std::net::TcpStream;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Connections idle longer than this are closed.
pub const IDLE_SECS: u64 = 10;
/// At most this many targets are cached; one more evicts another.
pub const MAX_CACHED: usize = 64;

/// One cached connection.
pub struct Cached {
    pub stream: TcpStream,
    /// The database the target connection has selected, if known.
    pub db: Option<i64>,
    last_use: Instant,
}

#[derive(Default)]
pub struct MigrateSockets {
    cached: Mutex<HashMap<Vec<u8>, Cached>>,
}

impl MigrateSockets {
    /// Takes the cached connection to `target` out of the cache.
    pub fn take(&self, target: &[u8]) -> Option<Cached> {
        self.lock().remove(target)
    }

    /// Caches a connection to `target` after use. A connection another
    /// MIGRATE gave back meanwhile is replaced (and closed).
    pub fn give_back(&self, target: &[u8], stream: TcpStream, db: Option<i64>) {
        let mut cached = self.lock();
        if cached.len() >= MAX_CACHED && !cached.contains_key(target) {
            if let Some(victim) = cached.keys().next().cloned() {
                cached.remove(&victim);
            }
        }
        cached.insert(target.to_vec(), Cached { stream, db, last_use: Instant::now() });
    }

    /// Closes the connections idle for more than `IDLE_SECS`.
    pub fn close_idle(&self) {
        let limit = Duration::from_secs(IDLE_SECS);
        self.lock().retain(|_, c| c.last_use.elapsed() <= limit);
    }

    pub fn count(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Vec<u8>, Cached>> {
        self.cached.lock().unwrap_or_else(|e| e.into_inner())
    }
}
