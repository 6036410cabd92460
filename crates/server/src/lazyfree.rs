//! Freeing in the background: UNLINK, FLUSHDB/FLUSHALL ASYNC (and DEL or
//! FLUSH* when `lazyfree-lazy-user-del` / `-user-flush` say so) hand what
//! they removed to a thread that drops it, so a command that deletes a
//! value of millions of elements returns at once. As in Redis, a value is
//! sent there only when freeing it is real work (its effort, about the
//! number of allocations to free, exceeds 64); small ones are freed on
//! the spot. INFO shows `lazyfree_pending_objects` and `lazyfreed_objects`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{channel, Sender};
use std::sync::{Arc, OnceLock};

use shoal_engine::Entry;
use shoal_types::Value;

/// Values costing more than this many frees go to the background.
pub const EFFORT_THRESHOLD: usize = 64;

/// Something to drop, and how many objects it counts for.
type Garbage = (Box<dyn Send>, u64);

#[derive(Default)]
struct Counters {
    pending: AtomicU64,
    freed: AtomicU64,
}

impl Counters {
    fn done(&self, objects: u64) {
        self.pending.fetch_sub(objects, Ordering::Relaxed);
        self.freed.fetch_add(objects, Ordering::Relaxed);
    }
}

#[derive(Default)]
pub struct LazyFree {
    /// The freeing thread's queue, started on first use.
    sender: OnceLock<Option<Sender<Garbage>>>,
    counters: Arc<Counters>,
}

impl LazyFree {
    /// Frees a removed key: in the background if its value is large.
    pub fn free_entry(&self, entry: Entry) {
        if effort(entry.value()) > EFFORT_THRESHOLD {
            self.free_later(Box::new(entry), 1);
        }
    }

    /// Frees `garbage`, which counts for `objects` keys or values, in the
    /// background.
    pub fn free_later(&self, garbage: Box<dyn Send>, objects: u64) {
        self.counters.pending.fetch_add(objects, Ordering::Relaxed);
        let sender = self.sender.get_or_init(|| start(self.counters.clone()));
        let unsent = match sender {
            Some(sender) => sender.send((garbage, objects)).err().map(|e| e.0),
            None => Some((garbage, objects)),
        };
        if let Some((garbage, objects)) = unsent {
            // No freeing thread: free here.
            drop(garbage);
            self.counters.done(objects);
        }
    }

    /// Objects handed over and not freed yet.
    pub fn pending(&self) -> u64 {
        self.counters.pending.load(Ordering::Relaxed)
    }

    /// Objects freed in the background since start (or CONFIG RESETSTAT).
    pub fn freed(&self) -> u64 {
        self.counters.freed.load(Ordering::Relaxed)
    }

    pub fn reset_stats(&self) {
        self.counters.freed.store(0, Ordering::Relaxed);
    }
}

fn start(counters: Arc<Counters>) -> Option<Sender<Garbage>> {
    let (sender, receiver) = channel::<Garbage>();
    std::thread::Builder::new()
        .name("shoal-lazyfree".into())
        .spawn(move || {
            for (garbage, objects) in receiver {
                drop(garbage);
                counters.done(objects);
            }
        })
        .ok()?;
    Some(sender)
}

/// About how many allocations freeing `value` takes (Redis's free
/// effort): one for strings and compact encodings, one per element for
/// the others.
pub fn effort(value: &Value) -> usize {
    match value.collection() {
        Some(c) if !matches!(c.encoding(), "listpack" | "intset") => c.len(),
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_values_are_freed_in_the_background_and_counted() {
        let lazy = LazyFree::default();
        lazy.free_entry(Entry::new(b"small", Value::string(b"v"), 0, 0));
        assert_eq!((lazy.pending(), lazy.freed()), (0, 0), "a small value is freed at once");
        lazy.free_later(Box::new(vec![0u8; 1 << 20]), 3);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while lazy.freed() < 3 {
            assert!(std::time::Instant::now() < deadline, "the freeing thread never ran");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert_eq!(lazy.pending(), 0);
        lazy.reset_stats();
        assert_eq!(lazy.freed(), 0);
    }
}
