//! The clients in MONITOR mode, as data.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::RwLock;

use crate::client::ClientInfo;

/// The clients in monitor mode.
#[derive(Default)]
pub struct Monitors {
    pub(crate) clients: RwLock<Vec<Arc<ClientInfo>>>,
    /// `clients.len()`, read on every command without the lock.
    count: AtomicUsize,
}

impl Monitors {
    pub fn add(&self, info: Arc<ClientInfo>) {
        let mut clients = self.clients.write();
        clients.push(info);
        self.count.store(clients.len(), Ordering::Release);
    }

    pub fn remove(&self, client_id: u64) {
        let mut clients = self.clients.write();
        clients.retain(|c| c.id != client_id);
        self.count.store(clients.len(), Ordering::Release);
    }

    #[inline]
    pub fn any(&self) -> bool {
        self.count.load(Ordering::Acquire) > 0
    }
}
