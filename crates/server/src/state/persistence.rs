//! What INFO persistence, LASTSAVE and the save points need to know about
//! snapshots to disk: the running background save and the last results.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use shoal_engine::snapshot::Snapshot;

/// A background save in progress.
pub struct Running {
    pub snapshot: Arc<Snapshot>,
    pub started_ms: i64,
    /// Keys in the dataset at the cut (INFO current_save_keys_total).
    pub keys_total: u64,
}

/// Start-up loading in progress (INFO loading_*).
#[derive(Default)]
pub struct Loading {
    pub active: AtomicBool,
    pub started_ms: AtomicI64,
    pub total_bytes: AtomicU64,
    pub loaded_bytes: AtomicU64,
    pub loaded_keys: AtomicU64,
}

pub struct Persistence {
    pub running: Mutex<Option<Running>>,
    /// BGSAVE SCHEDULE: start one when nothing else runs.
    pub scheduled: AtomicBool,
    pub last_bgsave_ok: AtomicBool,
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
            scheduled: AtomicBool::new(false),
            last_bgsave_ok: AtomicBool::new(true),
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
    pub fn in_progress(&self) -> bool {
        self.running.lock().is_some()
    }

    pub fn is_loading(&self) -> bool {
        self.loading.active.load(Ordering::Relaxed)
    }
}
