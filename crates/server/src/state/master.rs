//! The replica side's state, as data: the master this server replicates
//! (REPLICAOF), the link's state and the figures INFO replication reports
//! about it.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicU8, AtomicUsize, Ordering};

use parking_lot::Mutex;

/// The link to the master (INFO `master_link_status` and the handshake's
/// steps).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum LinkState {
    /// Not connected; a connection will be attempted.
    Connect = 0,
    /// Connecting.
    Connecting = 1,
    /// Connected, handshaking until PSYNC's reply.
    Handshake = 4,
    /// Receiving the full sync's payload.
    Transfer = 2,
    /// Applying the master's stream.
    Connected = 3,
}

/// The replica side (one per server).
#[derive(Default)]
pub struct MasterLink {
    /// REPLICAOF's host and port (None: this server is a master).
    master: Mutex<Option<(String, u16)>>,
    /// `master` is Some: read by every command, without the lock.
    replica: AtomicBool,
    /// Bumped by every REPLICAOF: a link task whose generation is not the
    /// current one stops.
    pub generation: AtomicU64,
    state: AtomicU8,
    /// The master client's id while connected (CLIENT KILL TYPE master).
    pub client_id: AtomicU64,
    /// The replication offset processed (complete commands only).
    pub processed_offset: AtomicU64,
    /// When the last bytes came from the master (ms since the epoch).
    pub last_io_ms: AtomicI64,
    /// When the link went down (ms; 0: never connected or connected now).
    pub down_since_ms: AtomicI64,
    /// A full sync's payload: bytes expected (-1 unknown) and read so far.
    pub transfer_size: AtomicI64,
    pub transfer_read: AtomicU64,
    pub transfer_started_ms: AtomicI64,
    /// The master's stream was applied at least once since REPLICAOF (so
    /// the dataset is the master's, possibly stale).
    pub synced: AtomicBool,
    /// The dataset is a known point of a replication history (this
    /// server's own, or a master's it synced from): PSYNC asks to continue
    /// it with the id and offset, rather than `? -1`.
    pub cached: AtomicBool,
    /// The database the master's stream has selected: kept across links,
    /// as a continued stream does not select it again.
    pub stream_db: AtomicUsize,
}

impl MasterLink {
    pub fn state(&self) -> LinkState {
        match self.state.load(Ordering::Acquire) {
            1 => LinkState::Connecting,
            2 => LinkState::Transfer,
            3 => LinkState::Connected,
            4 => LinkState::Handshake,
            _ => LinkState::Connect,
        }
    }

    pub fn set_state(&self, state: LinkState) {
        self.state.store(state as u8, Ordering::Release);
    }

    /// True when this server replicates a master.
    pub fn is_replica(&self) -> bool {
        self.replica.load(Ordering::Acquire)
    }

    /// Makes `target` the master this server replicates (None: none) and
    /// starts a new link generation. Returns whether it replicated one
    /// before, or None when `target` was already the master.
    pub fn switch_master(&self, target: Option<(String, u16)>) -> Option<bool> {
        let mut master = self.master.lock();
        if *master == target {
            return None;
        }
        let was_replica = master.is_some();
        self.replica.store(target.is_some(), Ordering::Release);
        *master = target;
        self.generation.fetch_add(1, Ordering::AcqRel);
        Some(was_replica)
    }

    pub fn master(&self) -> Option<(String, u16)> {
        self.master.lock().clone()
    }
}
