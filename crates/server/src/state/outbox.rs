//! A client's outbox as data (the queue and its signal); sending and the
//! output limits are `crate::outbox`'s.

use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};

use parking_lot::Mutex;
use tokio::sync::Notify;

/// Bytes waiting for one connection.
#[derive(Default)]
pub struct Outbox {
    pub(crate) queue: Mutex<Vec<u8>>,
    /// Length of `queue`, readable without the lock.
    pub(crate) queued: AtomicUsize,
    /// Wakes the connection when bytes arrive.
    pub(crate) signal: Notify,
    /// When the client's output first went over its soft limit (ms since
    /// the epoch), 0 while under it.
    pub(crate) soft_since_ms: AtomicI64,
}

/// The class of client-output-buffer-limit a client falls under.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputClass {
    Normal,
    Replica,
    PubSub,
}

impl Outbox {
    /// Bytes queued and not yet taken by the connection.
    #[inline]
    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::Acquire)
    }

    /// Appends `bytes`; returns the queue's new length.
    pub(crate) fn append(&self, bytes: &[u8]) -> usize {
        let mut queue = self.queue.lock();
        queue.extend_from_slice(bytes);
        let len = queue.len();
        self.queued.store(len, Ordering::Release);
        drop(queue);
        self.signal.notify_one();
        len
    }

    /// Moves everything queued to the end of `out`.
    pub fn drain_into(&self, out: &mut Vec<u8>) {
        if self.queued() == 0 {
            return;
        }
        let mut queue = self.queue.lock();
        if out.is_empty() {
            std::mem::swap(out, &mut *queue);
        } else {
            out.extend_from_slice(&queue);
            queue.clear();
        }
        self.queued.store(0, Ordering::Release);
    }

    /// Drops everything queued (the client is being closed).
    pub(crate) fn discard(&self) {
        let mut queue = self.queue.lock();
        *queue = Vec::new();
        self.queued.store(0, Ordering::Release);
    }

    /// Resolves once bytes were appended since the last wake-up.
    pub async fn arrived(&self) {
        self.signal.notified().await
    }
}

/// Output that fits a connection's first reply buffer is not counted
/// against its limit, as Redis does not count its static 16 KB buffer
/// (CLIENT LIST shows the rest as `omem`).
pub const UNCOUNTED_OUTPUT_BYTES: usize = 16 * 1024;
