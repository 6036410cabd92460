//! The master side's replication state, as data.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::mpsc::UnboundedReceiver;

/// The master side's state (one per server, so that several servers can
/// live in one process).
#[derive(Default)]
pub struct Replicas {
    pub(crate) full_syncs: AtomicU64,
    /// (client id, address) of each connected replica.
    pub(crate) connected: Mutex<Vec<(u64, String)>>,
    /// (client id, bytes queued) of each replica's stream.
    pub(crate) queued: Mutex<Vec<(u64, Arc<AtomicUsize>)>>,
}

impl Replicas {
    /// INFO's sync_full.
    pub fn full_syncs(&self) -> u64 {
        self.full_syncs.load(Ordering::Relaxed)
    }

    /// Addresses of connected replicas.
    pub fn addresses(&self) -> Vec<String> {
        self.connected.lock().iter().map(|(_, a)| a.clone()).collect()
    }

    pub fn count(&self) -> usize {
        self.connected.lock().len()
    }

    /// Stream bytes queued for all replicas and not yet written
    /// (INFO mem_clients_slaves; not counted for eviction, as in Redis).
    pub fn queued_bytes(&self) -> usize {
        self.queued.lock().iter().map(|(_, q)| q.load(Ordering::Relaxed)).sum()
    }
}

/// What a connection needs to become a replica stream.
pub struct ReplicaStream {
    pub sink_id: u64,
    pub receiver: UnboundedReceiver<Vec<u8>>,
    pub queued: Arc<AtomicUsize>,
}
