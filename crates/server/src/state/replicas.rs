//! The master side's replication state, as data: the connected replicas
//! (what INFO, ROLE, WAIT and min-replicas read), the replicas waiting for
//! a full sync, the full sync in progress, and the sync counters.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use shoal_engine::StreamReader;
use tokio::sync::{oneshot, Notify};

/// Where a replica is in its life (INFO's `state=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum ReplicaState {
    /// Waiting for a snapshot to start (diskless delay, another save).
    WaitBgsave = 0,
    /// Receiving the snapshot.
    SendBulk = 1,
    /// Receiving the stream.
    Online = 2,
}

impl ReplicaState {
    pub fn name(self) -> &'static str {
        match self {
            ReplicaState::WaitBgsave => "wait_bgsave",
            ReplicaState::SendBulk => "send_bulk",
            ReplicaState::Online => "online",
        }
    }
}

/// One replica connection, shared between its connection (which updates
/// it) and whoever reports on replicas.
pub struct ReplicaInfo {
    pub client_id: u64,
    /// The replica's address as INFO shows it (REPLCONF ip-address, or the
    /// connection's peer).
    pub ip: String,
    /// REPLCONF listening-port (0: not announced).
    pub port: u16,
    state: AtomicU8,
    /// The offset the replica acknowledged last (REPLCONF ACK).
    pub ack_offset: AtomicU64,
    /// When it last acknowledged (ms since the epoch; 0: never).
    pub ack_ms: AtomicI64,
    /// Its reader of the propagation stream (0: not attached yet).
    pub reader_id: AtomicU64,
    /// Woken when the stream has bytes for it.
    pub wake: Notify,
    /// Set when the replica sends its first ACK (a diskless replica goes
    /// online then, once it has loaded the snapshot).
    pub acked: AtomicBool,
    /// Since when its pending output is over the soft limit (ms; 0: not).
    pub over_soft_since_ms: AtomicI64,
    /// REPLCONF rdb-only: closed once its snapshot is sent.
    pub rdb_only: AtomicBool,
}

impl ReplicaInfo {
    pub fn new(client_id: u64, ip: String, port: u16) -> ReplicaInfo {
        ReplicaInfo {
            client_id,
            ip,
            port,
            state: AtomicU8::new(ReplicaState::WaitBgsave as u8),
            ack_offset: AtomicU64::new(0),
            ack_ms: AtomicI64::new(0),
            reader_id: AtomicU64::new(0),
            wake: Notify::new(),
            acked: AtomicBool::new(false),
            over_soft_since_ms: AtomicI64::new(0),
            rdb_only: AtomicBool::new(false),
        }
    }

    pub fn state(&self) -> ReplicaState {
        match self.state.load(Ordering::Acquire) {
            0 => ReplicaState::WaitBgsave,
            1 => ReplicaState::SendBulk,
            _ => ReplicaState::Online,
        }
    }

    pub fn set_state(&self, state: ReplicaState) {
        self.state.store(state as u8, Ordering::Release);
    }
}

/// REPLCONF rdb-filter-only <filters>: a snapshot without keys, holding
/// the function libraries only when `functions` (Redis 7.0's filtered
/// RDB; redis-cli --functions-rdb asks for `functions`, --replica for
/// nothing).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RdbFilter {
    pub functions: bool,
}

/// The stream wakes a replica's connection through its `Notify`.
pub struct Waker(pub Arc<ReplicaInfo>);

impl StreamReader for Waker {
    fn wake(&self) {
        self.0.wake.notify_one();
    }
}

/// What a replica waiting for a full sync is told when its snapshot
/// starts.
pub struct SyncStart {
    pub replication_id: String,
    pub offset: u64,
    pub source: SyncSource,
}

/// Where a full sync's snapshot comes from.
pub enum SyncSource {
    /// The RDB file a disk-backed sync writes: ready when the job says so.
    Disk(Arc<crate::state::replicas::DiskJob>),
    /// Streamed as it is made (diskless), to this replica's queue.
    Diskless(Arc<DisklessQueue>),
}

/// A disk-backed sync's file: sent to every replica that joined it.
pub struct DiskJob {
    /// The stream offset at the snapshot's cut.
    pub offset: u64,
    pub replication_id: String,
    pub path: std::path::PathBuf,
    /// None while the file is written; then the outcome.
    pub done: Mutex<Option<Result<(), String>>>,
    pub finished: Notify,
}

/// One replica's share of a diskless sync: chunks of the payload as the
/// snapshot makes them.
#[derive(Default)]
pub struct DisklessQueue {
    pub chunks: Mutex<DisklessChunks>,
    pub arrived: Notify,
}

#[derive(Default)]
pub struct DisklessChunks {
    pub queue: std::collections::VecDeque<Arc<Vec<u8>>>,
    pub queued_bytes: usize,
    /// Set once the payload is complete (Ok) or failed.
    pub end: Option<Result<(), String>>,
    /// The replica is gone: nothing more is queued for it.
    pub gone: bool,
}

/// A replica waiting for its full sync to start.
pub struct Waiting {
    pub info: Arc<ReplicaInfo>,
    /// REPLCONF rdb-filter-only: a snapshot of its own, without keys.
    pub filter: Option<RdbFilter>,
    /// It announced `capa eof` (may receive a diskless payload).
    pub eof_capable: bool,
    pub since_ms: i64,
    pub start: oneshot::Sender<SyncStart>,
}

/// The master side's state (one per server, so that several servers can
/// live in one process).
#[derive(Default)]
pub struct Replicas {
    pub(crate) full_syncs: AtomicU64,
    pub(crate) partial_ok: AtomicU64,
    pub(crate) partial_err: AtomicU64,
    /// Connected replicas, in the order they connected.
    pub(crate) list: Mutex<Vec<Arc<ReplicaInfo>>>,
    pub(crate) waiting: Mutex<Vec<Waiting>>,
    /// The disk-backed sync being written, which replicas may join.
    pub(crate) disk_job: Mutex<Option<Arc<DiskJob>>>,
    /// When the last replica left (ms; 0: some are connected or there never
    /// was one), for repl-backlog-ttl.
    pub(crate) alone_since_ms: AtomicI64,
    /// FAILOVER in progress, if any.
    pub failover: Mutex<Failover>,
    /// Signalled on every REPLCONF ACK, for the clients in WAIT.
    pub acks: Notify,
}

/// Where a FAILOVER is (INFO's `master_failover_state`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FailoverState {
    #[default]
    None,
    /// Writes are paused until a replica acknowledges the whole stream.
    WaitForSync,
    /// This server is a replica of the target, whose PSYNC FAILOVER reply
    /// decides: it accepted (done) or refused (back to master).
    InProgress,
}

impl FailoverState {
    pub fn name(self) -> &'static str {
        match self {
            FailoverState::None => "no-failover",
            FailoverState::WaitForSync => "waiting-for-sync",
            FailoverState::InProgress => "failover-in-progress",
        }
    }
}

/// A FAILOVER's parameters.
#[derive(Clone, Debug, Default)]
pub struct Failover {
    pub state: FailoverState,
    /// The replica to promote (None: the first that catches up).
    pub target: Option<(String, u16)>,
    /// When waiting for the replica gives up (ms since the epoch; 0: never).
    pub end_ms: i64,
    /// At `end_ms`, fail over anyway instead of aborting.
    pub force: bool,
}

impl Replicas {
    /// INFO's sync_full.
    pub fn full_syncs(&self) -> u64 {
        self.full_syncs.load(Ordering::Relaxed)
    }

    /// CONFIG RESETSTAT.
    pub fn reset_stats(&self) {
        self.full_syncs.store(0, Ordering::Relaxed);
        self.partial_ok.store(0, Ordering::Relaxed);
        self.partial_err.store(0, Ordering::Relaxed);
    }

    pub fn partial_ok(&self) -> u64 {
        self.partial_ok.load(Ordering::Relaxed)
    }

    pub fn partial_err(&self) -> u64 {
        self.partial_err.load(Ordering::Relaxed)
    }

    pub fn all(&self) -> Vec<Arc<ReplicaInfo>> {
        self.list.lock().clone()
    }

    pub fn count(&self) -> usize {
        self.list.lock().len()
    }

    /// Online replicas that acknowledged within `max_lag_secs` (the
    /// min-replicas-to-write count).
    pub fn good(&self, now_ms: i64, max_lag_secs: i64) -> usize {
        self.list
            .lock()
            .iter()
            .filter(|r| {
                r.state() == ReplicaState::Online && now_ms - r.ack_ms.load(Ordering::Relaxed) <= max_lag_secs * 1000
            })
            .count()
    }

    /// The connected replica that announced this address.
    pub fn find(&self, host: &str, port: u16) -> Option<Arc<ReplicaInfo>> {
        self.list.lock().iter().find(|r| r.ip.eq_ignore_ascii_case(host) && r.port == port).cloned()
    }

    pub fn failover_state(&self) -> FailoverState {
        self.failover.lock().state
    }

    /// Replicas that acknowledged `offset` or beyond (WAIT).
    pub fn acked(&self, offset: u64) -> usize {
        self.list
            .lock()
            .iter()
            .filter(|r| r.state() == ReplicaState::Online && r.ack_offset.load(Ordering::Relaxed) >= offset)
            .count()
    }
}

/// What a connection needs to become a replica stream.
pub struct ReplicaStream {
    pub info: Arc<ReplicaInfo>,
    /// A partial resync: the reader is attached and `+CONTINUE` written.
    /// A full sync: the snapshot to send first, and whether the reply
    /// line (`+FULLRESYNC`, PSYNC only) still has to be written.
    pub full: Option<(oneshot::Receiver<SyncStart>, bool)>,
}
