//! What INFO persistence, LASTSAVE and the save points need to know about
//! snapshots to disk: the running background save and the last results.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use shoal_engine::snapshot::Snapshot;

/// What a snapshot in progress is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SnapshotKind {
    /// BGSAVE (or a save point).
    Rdb,
    /// BGREWRITEAOF: the new base of the append-only file.
    AofRewrite,
}

/// A background snapshot in progress (one at a time: it is the engine's
/// before-change hook).
pub struct Running {
    pub kind: SnapshotKind,
    pub snapshot: Arc<Snapshot>,
    pub started_ms: i64,
    /// Keys in the dataset at the cut (INFO current_save_keys_total).
    pub keys_total: u64,
}

/// The append-only file while `appendonly` is on.
pub struct AofOn {
    pub aof: Arc<crate::state::aof::Aof>,
    pub writer: Option<std::thread::JoinHandle<()>>,
}

/// An RDB file's replication AUX fields, as far as they were present.
#[derive(Clone, Debug, Default)]
pub struct LoadedReplication {
    pub id: Option<String>,
    pub offset: Option<u64>,
    pub stream_db: Option<usize>,
    /// Keys the load dropped as expired (database, key).
    pub expired_keys: Vec<(usize, Vec<u8>)>,
}

/// Start-up loading in progress (INFO loading_*).
#[derive(Default)]
pub struct Loading {
    pub active: AtomicBool,
    pub started_ms: AtomicI64,
    pub total_bytes: AtomicU64,
    pub loaded_bytes: AtomicU64,
    pub loaded_keys: AtomicU64,
    /// Loading guards alive (start-up holds one around its loads).
    pub depth: AtomicU32,
    /// An async load runs (`repl-diskless-load swapdb` within the same
    /// replication history): the old dataset is served meanwhile; INFO
    /// shows `async_loading:1` and `loading:0`.
    pub async_active: AtomicBool,
}

/// The back-off of automatic AOF rewrites that keep failing: each failed
/// rewrite leaves an incr file behind, so they are not retried at every
/// cron tick.
#[derive(Default, Debug)]
pub struct RewriteLimit {
    /// The current wait, doubled at each limit up to a maximum.
    pub delay_minutes: i64,
    /// When the next attempt may start (0: not waiting).
    pub next_ms: i64,
}

pub struct Persistence {
    pub running: Mutex<Option<Running>>,
    pub aof: Mutex<Option<AofOn>>,
    /// The file is on: replies wait until their writes are written to it
    /// (and synced, under `appendfsync always`).
    pub aof_wait: AtomicBool,
    /// False while the append-only file cannot be written (MISCONF).
    pub aof_write_ok: Arc<AtomicBool>,
    /// DEBUG AOF-FLUSH-SLEEP (microseconds), for the file now and later.
    pub aof_flush_sleep_us: AtomicU64,
    /// A rewrite asked for while something else ran (BGREWRITEAOF while a
    /// BGSAVE runs, CONFIG SET appendonly yes).
    pub aof_rewrite_scheduled: AtomicBool,
    pub aof_last_rewrite_ok: AtomicBool,
    /// Rewrites that failed in a row, and when automatic ones may be
    /// tried again after repeated failures.
    pub aof_rewrite_failures: AtomicU64,
    pub aof_rewrite_limit: Mutex<RewriteLimit>,
    /// The replication position the last RDB loaded recorded (repl-id,
    /// repl-offset, repl-stream-db), which start-up continues from.
    pub loaded_replication: Mutex<LoadedReplication>,
    pub aof_last_rewrite_secs: AtomicI64,
    pub aof_rewrites: AtomicU64,
    /// BGSAVE SCHEDULE: start one when nothing else runs.
    pub scheduled: AtomicBool,
    pub last_bgsave_ok: AtomicBool,
    /// What the writes during the last BGSAVE / AOF rewrite made it
    /// serialize ahead of its walk (INFO rdb_last_cow_size,
    /// aof_last_cow_size).
    pub rdb_last_cow_bytes: AtomicU64,
    pub aof_last_cow_bytes: AtomicU64,
    /// Seconds the last background save took (-1: none yet).
    pub last_bgsave_secs: AtomicI64,
    /// When the last background save was attempted (a failed one is
    /// retried by the save points only after a pause, as in Redis).
    pub last_attempt_ms: AtomicI64,
    /// Successful saves (INFO rdb_saves).
    pub saves: AtomicU64,
    pub loading: Loading,
    pub last_load_keys_loaded: AtomicU64,
    pub last_load_keys_expired: AtomicU64,
}

impl Default for Persistence {
    fn default() -> Persistence {
        Persistence {
            running: Mutex::new(None),
            aof: Mutex::new(None),
            aof_wait: AtomicBool::new(false),
            aof_write_ok: Arc::new(AtomicBool::new(true)),
            aof_flush_sleep_us: AtomicU64::new(0),
            aof_rewrite_scheduled: AtomicBool::new(false),
            aof_last_rewrite_ok: AtomicBool::new(true),
            aof_rewrite_failures: AtomicU64::new(0),
            aof_rewrite_limit: Mutex::new(RewriteLimit::default()),
            loaded_replication: Default::default(),
            aof_last_rewrite_secs: AtomicI64::new(-1),
            aof_rewrites: AtomicU64::new(0),
            scheduled: AtomicBool::new(false),
            last_bgsave_ok: AtomicBool::new(true),
            rdb_last_cow_bytes: AtomicU64::new(0),
            aof_last_cow_bytes: AtomicU64::new(0),
            last_bgsave_secs: AtomicI64::new(-1),
            last_attempt_ms: AtomicI64::new(0),
            saves: AtomicU64::new(0),
            loading: Loading::default(),
            last_load_keys_loaded: AtomicU64::new(0),
            last_load_keys_expired: AtomicU64::new(0),
        }
    }
}

impl Persistence {
    /// The kind of background snapshot running, if any.
    pub fn running_kind(&self) -> Option<SnapshotKind> {
        self.running.lock().as_ref().map(|r| r.kind)
    }

    pub fn in_progress(&self) -> bool {
        self.running_kind() == Some(SnapshotKind::Rdb)
    }

    /// The append-only file, when on.
    pub fn aof(&self) -> Option<Arc<crate::state::aof::Aof>> {
        self.aof.lock().as_ref().map(|on| on.aof.clone())
    }

    pub fn is_loading(&self) -> bool {
        self.loading.active.load(Ordering::Relaxed)
    }

    /// True while an async load runs (see `Loading::async_active`).
    pub fn is_async_loading(&self) -> bool {
        self.loading.async_active.load(Ordering::Relaxed)
    }
}
