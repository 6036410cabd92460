//! Point-in-time snapshots taken while writes continue, without fork.
//!
//! A snapshot (BGSAVE, and later a replica's full sync and the AOF rewrite
//! base) must hold every key as it was at one instant, the cut, while the
//! server keeps serving writes. Redis forks and lets the kernel copy pages
//! on write, up to doubling memory. Shoal serializes a shard before its
//! first change instead:
//!
//! * The cut is taken with every shard locked (`Snapshot::begin`), so no
//!   unit is half applied across shards at that instant; the snapshot then
//!   installs itself as the engine's before-change hook (`hook`).
//! * A snapshot thread walks the shards in order, locking one at a time,
//!   and serializes each shard it has not saved yet.
//! * A unit that is about to change a shard the walk has not reached yet
//!   runs the hook first, under that shard's lock: the hook serializes the
//!   shard as it still is, marks it saved, and the change goes ahead. The
//!   walk skips it later.
//!
//! Each shard is therefore serialized exactly once, holding its state at
//! the cut, whoever gets there first. Chunks are appended to the output in
//! the order they are made, each one self-contained (the RDB format allows
//! a database selector before any run of keys), so interleaving the walk's
//! chunks with the hook's is harmless. Extra memory is one shard's chunk
//! per thread serializing at once: chunks go to the output (a file, a
//! socket) as soon as they are made, under a mutex that is never held
//! while taking a shard lock.
//!
//! The cost falls on the first write to each unsaved shard (it serializes
//! 1/256 of the dataset before proceeding), once per snapshot.

use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::hook::BeforeChange;
use crate::keyspace::{Shard, ShardIndex, ShardLocks, SHARD_COUNT};
use crate::Engine;

/// Turns a shard into one self-contained chunk of the output format.
pub trait ShardSerializer: Send + Sync {
    /// Appends every database's slice of `shard` to `out`; returns the
    /// number of keys written.
    fn serialize(&self, index: ShardIndex, shard: &Shard, out: &mut Vec<u8>) -> u64;
}

/// Where chunks go, in the order they are made.
pub trait ChunkSink: Send {
    fn write_chunk(&mut self, chunk: &[u8]) -> io::Result<()>;
    /// Every shard is in: complete the output (trailer, sync, rename).
    fn finish(self: Box<Self>) -> io::Result<()>;
    /// The snapshot failed or was cancelled: drop what was written.
    fn abandon(self: Box<Self>);
}

/// Progress of a running snapshot.
#[derive(Default)]
pub struct Progress {
    pub keys: AtomicU64,
    pub bytes: AtomicU64,
    pub shards: AtomicU64,
    /// Of `bytes`, those serialized ahead of the walk because a write was
    /// about to change their shard: what the writes during the snapshot
    /// made it copy, Shoal's counterpart of a fork's copy-on-write pages
    /// (INFO current_cow_size).
    pub early_bytes: AtomicU64,
}

struct Output {
    sink: Box<dyn ChunkSink>,
    error: Option<io::Error>,
}

/// One snapshot in progress.
pub struct Snapshot {
    saved: Box<[AtomicBool]>,
    serializer: Box<dyn ShardSerializer>,
    output: Mutex<Output>,
    cancelled: AtomicBool,
    pub progress: Progress,
}

thread_local! {
    /// Chunk buffer reused by the threads that serialize shards.
    static CHUNK: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Keep at most this much capacity in a thread's chunk buffer between
/// chunks.
const CHUNK_KEEP_BYTES: usize = 1 << 20;

impl Snapshot {
    /// Takes the cut: `locks` must hold every shard. From here on, every
    /// change to a shard not yet saved saves it first.
    pub fn begin(
        engine: &Engine,
        locks: &ShardLocks<'_>,
        serializer: Box<dyn ShardSerializer>,
        sink: Box<dyn ChunkSink>,
    ) -> Arc<Snapshot> {
        assert!(locks.holds_all(), "a snapshot's cut needs every shard locked");
        let snapshot = Arc::new(Snapshot {
            saved: (0..SHARD_COUNT).map(|_| AtomicBool::new(false)).collect(),
            serializer,
            output: Mutex::new(Output { sink, error: None }),
            cancelled: AtomicBool::new(false),
            progress: Progress::default(),
        });
        engine.before_change.install(Some(snapshot.clone()));
        snapshot
    }

    /// Walks every shard not saved yet (run on a thread that serves no
    /// connection: it waits for shard locks), detaches from the engine and
    /// finishes the output; or abandons it on the first write error or a
    /// cancellation. `pace` runs after each shard (rdb-key-save-delay,
    /// progress reports).
    pub fn run(self: &Arc<Self>, engine: &Engine, mut pace: impl FnMut(&Snapshot)) -> io::Result<()> {
        for index in 0..SHARD_COUNT as ShardIndex {
            if self.cancelled.load(Ordering::Relaxed) {
                break;
            }
            if !self.saved[index as usize].load(Ordering::Acquire) {
                let locks = engine.keyspace.lock_one(index);
                self.save(index, locks.shard_ref(index), false);
            }
            pace(self);
        }
        self.detach(engine)
    }

    /// Stops the walk at the next shard (BGSAVE killed, SHUTDOWN).
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::Relaxed);
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed)
    }

    fn detach(self: &Arc<Self>, engine: &Engine) -> io::Result<()> {
        engine.before_change.install(None);
        // No unit can reach the hook any more; take the output back.
        let mut output = self.output.lock();
        let sink = std::mem::replace(&mut output.sink, Box::new(Discard));
        let failure = match output.error.take() {
            Some(error) => Some(error),
            None if self.is_cancelled() => Some(io::Error::new(io::ErrorKind::Interrupted, "snapshot cancelled")),
            None => None,
        };
        drop(output);
        match failure {
            Some(error) => {
                sink.abandon();
                Err(error)
            }
            None => sink.finish(),
        }
    }

    /// Serializes `shard` unless it was saved already (`early`: for a write,
    /// ahead of the walk). The caller holds the shard's lock.
    fn save(&self, index: ShardIndex, shard: &Shard, early: bool) {
        if self.is_cancelled() || self.saved[index as usize].swap(true, Ordering::AcqRel) {
            return;
        }
        CHUNK.with(|cell| {
            let mut chunk = cell.borrow_mut();
            chunk.clear();
            let keys = self.serializer.serialize(index, shard, &mut chunk);
            self.progress.keys.fetch_add(keys, Ordering::Relaxed);
            self.progress.bytes.fetch_add(chunk.len() as u64, Ordering::Relaxed);
            if early {
                self.progress.early_bytes.fetch_add(chunk.len() as u64, Ordering::Relaxed);
            }
            self.progress.shards.fetch_add(1, Ordering::Relaxed);
            if !chunk.is_empty() {
                let mut output = self.output.lock();
                if output.error.is_none() {
                    if let Err(e) = output.sink.write_chunk(&chunk) {
                        output.error = Some(e);
                        self.cancel();
                    }
                }
            }
            if chunk.capacity() > CHUNK_KEEP_BYTES {
                *chunk = Vec::new();
            }
        });
    }
}

impl BeforeChange for Snapshot {
    fn shard(&self, index: ShardIndex, shard: &Shard) {
        self.save(index, shard, true);
    }
}

/// The sink left behind once the real one was handed back.
struct Discard;

impl ChunkSink for Discard {
    fn write_chunk(&mut self, _chunk: &[u8]) -> io::Result<()> {
        Ok(())
    }

    fn finish(self: Box<Self>) -> io::Result<()> {
        Ok(())
    }

    fn abandon(self: Box<Self>) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use shoal_types::Value;

    fn engine() -> Arc<Engine> {
        Arc::new(Engine::new(2))
    }

    /// Writes "key=value;" per string key, db 0 only.
    struct Text;

    impl ShardSerializer for Text {
        fn serialize(&self, _index: ShardIndex, shard: &Shard, out: &mut Vec<u8>) -> u64 {
            let mut n = 0;
            for entry in shard.dbs[0].iter() {
                out.extend_from_slice(entry.key());
                out.push(b'=');
                out.extend_from_slice(&entry.value().string_to_vec().unwrap_or_default());
                out.push(b';');
                n += 1;
            }
            n
        }
    }

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl ChunkSink for Shared {
        fn write_chunk(&mut self, chunk: &[u8]) -> io::Result<()> {
            self.0.lock().extend_from_slice(chunk);
            Ok(())
        }

        fn finish(self: Box<Self>) -> io::Result<()> {
            self.0.lock().extend_from_slice(b"END");
            Ok(())
        }

        fn abandon(self: Box<Self>) {}
    }

    fn pairs(bytes: &[u8]) -> Vec<String> {
        let mut v: Vec<String> =
            String::from_utf8_lossy(bytes).split(';').filter(|s| !s.is_empty()).map(str::to_string).collect();
        v.sort();
        v
    }

    #[test]
    fn the_snapshot_holds_the_data_as_of_its_cut_while_writes_continue() {
        let engine = engine();
        {
            let mut tx = engine.begin_all(0);
            for i in 0..2000 {
                tx.set(format!("k{i}").as_bytes(), Value::string(b"old"), false);
            }
            tx.finish();
        }
        let out = Shared::default();
        let snapshot = {
            let locks = engine.keyspace.lock_all();
            Snapshot::begin(&engine, &locks, Box::new(Text), Box::new(out.clone()))
        };
        // Writes after the cut, before the walk and during it: changes,
        // deletions, new keys and a flush of everything.
        {
            let mut tx = engine.begin_all(0);
            tx.set(b"k5", Value::string(b"new"), false);
            tx.delete(b"k6");
            tx.finish();
        }
        let writer = {
            let engine = engine.clone();
            std::thread::spawn(move || {
                for i in (0..2000).step_by(3) {
                    let mut tx = engine.begin_all(0);
                    tx.set(format!("k{i}").as_bytes(), Value::string(b"new"), false);
                    tx.delete(format!("k{}", i + 1).as_bytes());
                    tx.set(format!("fresh{i}").as_bytes(), Value::string(b"new"), false);
                    tx.finish();
                }
                let mut tx = engine.begin_all(0);
                tx.before_whole_db_change(&[0]);
                for shard in tx.locks.iter_mut() {
                    shard.dbs[0].take();
                }
                tx.finish();
            })
        };
        let mut walked = 0;
        let done = snapshot.run(&engine, |_| walked += 1);
        writer.join().unwrap();
        assert!(done.is_ok());
        let bytes = std::mem::take(&mut *out.0.lock());
        let body = bytes.strip_suffix(b"END").expect("the output was finished, once, at the end");
        assert_eq!(walked, SHARD_COUNT);
        let expected: Vec<String> = {
            let mut v: Vec<String> = (0..2000).map(|i| format!("k{i}=old")).collect();
            v.sort();
            v
        };
        assert_eq!(pairs(body), expected);
        assert_eq!(snapshot.progress.keys.load(Ordering::Relaxed), 2000);
        // The write to k5, before the walk began, saved its shard early.
        let early = snapshot.progress.early_bytes.load(Ordering::Relaxed);
        assert!(early > 0 && early <= snapshot.progress.bytes.load(Ordering::Relaxed));
        assert!(!engine.before_change.is_active(), "the hook is removed after the walk");
    }

    struct Failing;

    impl ChunkSink for Failing {
        fn write_chunk(&mut self, _chunk: &[u8]) -> io::Result<()> {
            Err(io::Error::other("disk full"))
        }

        fn finish(self: Box<Self>) -> io::Result<()> {
            panic!("a failed snapshot is not finished");
        }

        fn abandon(self: Box<Self>) {}
    }

    #[test]
    fn a_write_error_ends_the_snapshot_with_that_error() {
        let engine = engine();
        {
            let mut tx = engine.begin_all(0);
            tx.set(b"k", Value::string(b"v"), false);
            tx.finish();
        }
        let snapshot = {
            let locks = engine.keyspace.lock_all();
            Snapshot::begin(&engine, &locks, Box::new(Text), Box::new(Failing))
        };
        let err = snapshot.run(&engine, |_| {}).err().expect("the write fails");
        assert_eq!(err.to_string(), "disk full");
        assert!(!engine.before_change.is_active());
    }
}
