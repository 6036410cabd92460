//! Client state: what a connection owns (`Client`) and what other threads
//! may read or signal (`ClientInfo`, kept in the server's registry for
//! CLIENT LIST, CLIENT KILL, INFO clients).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU16, AtomicU32, AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use shoal_commands::CommandId;
use shoal_engine::Watcher;
use tokio::sync::Notify;

/// Flags shown by CLIENT LIST (subset of Redis's letters).
pub mod flags {
    pub const MULTI: u32 = 1 << 0; // x
    pub const REPLICA: u32 = 1 << 1; // S
    pub const MASTER: u32 = 1 << 2; // M
    pub const PUBSUB: u32 = 1 << 3; // P
    pub const BLOCKED: u32 = 1 << 4; // b
    pub const DIRTY_CAS: u32 = 1 << 5; // d
    pub const CLOSE_AFTER_REPLY: u32 = 1 << 6; // c
    pub const UNIX_SOCKET: u32 = 1 << 7; // U
    pub const READONLY: u32 = 1 << 8; // r
    pub const NO_EVICT: u32 = 1 << 9; // e
    pub const MONITOR: u32 = 1 << 10; // O
    pub const TRACKING: u32 = 1 << 11; // t
}

/// The part of a client visible to other threads.
pub struct ClientInfo {
    pub id: u64,
    pub addr: String,
    pub local_addr: String,
    pub fd: i32,
    /// Worker thread serving the client (it changes when the connection
    /// moves, see placement.rs).
    pub thread: AtomicUsize,
    /// A worker the connection should move to, or `placement::NO_MOVE`.
    pub move_to: AtomicUsize,
    pub created_ms: i64,
    pub name: Mutex<Option<Vec<u8>>>,
    pub user: Mutex<String>,
    pub db: AtomicUsize,
    pub last_interaction_ms: AtomicI64,
    pub last_command: AtomicU16,
    pub flags: AtomicU32,
    pub resp: AtomicU8,
    pub query_buffer_bytes: AtomicUsize,
    pub query_buffer_free: AtomicUsize,
    pub output_bytes: AtomicUsize,
    pub multi_count: AtomicI64,
    pub subscriptions: AtomicUsize,
    pub pattern_subscriptions: AtomicUsize,
    pub shard_subscriptions: AtomicUsize,
    /// Bytes other threads send to this connection (pushes).
    pub outbox: crate::state::outbox::Outbox,
    /// CLIENT TRACKING state.
    pub tracking: crate::state::tracking::ClientTracking,
    /// Set by CLIENT KILL and shutdown; the connection closes when it sees it.
    pub killed: AtomicBool,
    pub kill_signal: Notify,
    /// CLIENT UNBLOCK: the mode requested, and the wake-up.
    pub unblock_mode: AtomicU8,
    pub unblock_signal: Notify,
}

/// "No move requested" in `ClientInfo::move_to` (see placement.rs).
pub const NO_MOVE: usize = usize::MAX;

/// Sentinel for "no command yet".
pub const NO_COMMAND: u16 = u16::MAX;

impl ClientInfo {
    /// A client's shared part (`fd` -1: no socket, as the loader's).
    pub fn new(id: u64, thread: usize, addr: String, local_addr: String, fd: i32, unix: bool) -> Arc<ClientInfo> {
        let now = shoal_engine::now_ms();
        let info = ClientInfo {
            id,
            addr,
            local_addr,
            fd,
            thread: thread.into(),
            move_to: NO_MOVE.into(),
            created_ms: now,
            name: Default::default(),
            user: parking_lot::Mutex::new("default".to_string()),
            db: Default::default(),
            last_interaction_ms: now.into(),
            last_command: NO_COMMAND.into(),
            flags: (if unix { flags::UNIX_SOCKET } else { 0 }).into(),
            resp: 2.into(),
            query_buffer_bytes: Default::default(),
            query_buffer_free: Default::default(),
            output_bytes: Default::default(),
            multi_count: (-1i64).into(),
            subscriptions: Default::default(),
            pattern_subscriptions: Default::default(),
            shard_subscriptions: Default::default(),
            outbox: Default::default(),
            tracking: Default::default(),
            killed: Default::default(),
            kill_signal: Default::default(),
            unblock_mode: Default::default(),
            unblock_signal: Default::default(),
        };
        Arc::new(info)
    }

    pub fn has_flag(&self, flag: u32) -> bool {
        self.flags.load(Ordering::Relaxed) & flag != 0
    }

    pub fn set_flag(&self, flag: u32, on: bool) {
        if on {
            self.flags.fetch_or(flag, Ordering::Relaxed);
        } else {
            self.flags.fetch_and(!flag, Ordering::Relaxed);
        }
    }

    /// Marks the client killed, wakes it if it waits on something other
    /// than its socket, and shuts its socket down so a pending read ends.
    /// Called under the registry's lock (see `Registry::kill`).
    fn kill(&self) {
        self.killed.store(true, Ordering::Release);
        self.kill_signal.notify_one();
        // SAFETY: the descriptor is still this client's: a connection
        // leaves the registry before its socket closes, and we hold the
        // registry lock.
        unsafe { libc::shutdown(self.fd, libc::SHUT_RDWR) };
    }

    /// Output not yet written: queued pushes plus what the connection is
    /// writing (CLIENT LIST's obl/omem, the output buffer limits).
    pub fn pending_output(&self) -> usize {
        self.outbox.queued() + self.output_bytes.load(Ordering::Relaxed)
    }

    /// Connected over loopback or a Unix socket (what `local` means for
    /// enable-debug-command and enable-protected-configs).
    pub fn is_local(&self) -> bool {
        self.addr.starts_with("127.0.0.1:") || self.addr.starts_with("[::1]:") || self.has_flag(flags::UNIX_SOCKET)
    }

    pub fn is_killed(&self) -> bool {
        self.killed.load(Ordering::Acquire)
    }

    pub fn name_string(&self) -> String {
        self.name.lock().as_deref().map(|n| String::from_utf8_lossy(n).into_owned()).unwrap_or_default()
    }

    /// True when other threads may send this client pushes (subscribers,
    /// monitors, RESP3 clients): its connection then also waits on its
    /// outbox. Anyone else has nothing to wait for there.
    pub fn receives_pushes(&self) -> bool {
        self.has_flag(flags::PUBSUB | flags::MONITOR) || self.resp.load(Ordering::Relaxed) >= 3 || self.outbox.queued() > 0
    }

    pub fn command(&self) -> Option<CommandId> {
        match self.last_command.load(Ordering::Relaxed) {
            NO_COMMAND => None,
            id => Some(CommandId(id)),
        }
    }
}

/// A command queued by MULTI.
pub struct Queued {
    pub command: CommandId,
    pub argv: Vec<Vec<u8>>,
}

/// MULTI state.
#[derive(Default)]
pub struct Multi {
    pub queue: Vec<Queued>,
    /// A command was refused while queueing: EXEC will abort.
    pub aborted: bool,
}

/// CLIENT REPLY mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplyMode {
    On,
    Off,
    /// Skip the reply to the next command only.
    SkipNext,
    /// Skipping the reply to the command being run now.
    Skipping,
}

/// A replica's REPLCONF announcements.
#[derive(Clone, Debug, Default)]
pub struct ReplConf {
    /// listening-port (0: not announced).
    pub port: u16,
    /// ip-address (None: the connection's peer address).
    pub ip: Option<String>,
    /// capa eof: accepts a diskless payload.
    pub capa_eof: bool,
    /// capa psync2: understands `+CONTINUE <new id>`.
    pub capa_psync2: bool,
    /// rdb-only 1: wants the snapshot alone, no stream (redis-cli --rdb).
    pub rdb_only: bool,
    /// rdb-filter-only: the snapshot holds no keys, and the functions only
    /// when the filter names them (None: the whole dataset).
    pub rdb_filter: Option<crate::state::replicas::RdbFilter>,
}

/// Connection-owned state.
pub struct Client {
    pub info: Arc<ClientInfo>,
    pub db: usize,
    pub authenticated: bool,
    /// The ACL user the client runs as; None for internal clients (the
    /// loader, the master's stream), which run anything.
    pub user: Option<Arc<crate::state::users::UserCell>>,
    pub multi: Option<Multi>,
    pub watched: Vec<(usize, Vec<u8>)>,
    pub watcher: Arc<Watcher>,
    pub reply_mode: ReplyMode,
    pub close_after_reply: bool,
    /// SCRIPT DEBUG SYNC: the next EVAL or EVAL_RO runs under the debugger.
    pub lua_debug: bool,
    /// This connection is a replica streaming from us.
    pub is_replica: bool,
    /// Set by SYNC: the stream this connection forwards once replies are out.
    pub replica_stream: Option<crate::state::replicas::ReplicaStream>,
    /// What a replica announced with REPLCONF before its PSYNC.
    pub repl_conf: ReplConf,
    /// This replica connection's shared state (REPLCONF ACK updates it).
    pub replica_info: Option<Arc<crate::state::replicas::ReplicaInfo>>,
    pub subscriptions: crate::state::pubsub::Subscriptions,
    /// Reply-buffer position up to which the running command's output is
    /// pushes (see `dispatch::apply_reply_mode`).
    pub pushed_to: usize,
    /// Pushes that follow the running command's reply (invalidations the
    /// command caused for this client itself).
    pub after_reply: Vec<u8>,
    /// Times in a row this client's command found its shards busy.
    pub lock_tries: u32,
    /// The fairness gate this client raised after too many tries.
    pub gate: Option<shoal_engine::GateTicket>,
}

impl Client {
    /// The client that replays the append-only file while it loads.
    pub fn loader(id: u64) -> Client {
        Client::new(ClientInfo::new(id, 0, String::new(), String::new(), -1, false), true)
    }

    pub fn new(info: Arc<ClientInfo>, authenticated: bool) -> Client {
        Client {
            info,
            db: 0,
            authenticated,
            user: None,
            multi: None,
            watched: Vec::new(),
            watcher: Arc::new(Watcher::default()),
            reply_mode: ReplyMode::On,
            close_after_reply: false,
            lua_debug: false,
            is_replica: false,
            replica_stream: None,
            repl_conf: ReplConf::default(),
            replica_info: None,
            subscriptions: Default::default(),
            pushed_to: 0,
            after_reply: Vec::new(),
            lock_tries: 0,
            gate: None,
        }
    }

    pub fn id(&self) -> u64 {
        self.info.id
    }

    pub fn select(&mut self, db: usize) {
        self.db = db;
        self.info.db.store(db, Ordering::Relaxed);
    }

    pub fn in_multi(&self) -> bool {
        self.multi.is_some()
    }
}

/// All connected clients, by id.
#[derive(Default)]
pub struct Registry {
    clients: Mutex<BTreeMap<u64, Arc<ClientInfo>>>,
}

impl Registry {
    pub fn insert(&self, info: Arc<ClientInfo>) {
        self.clients.lock().insert(info.id, info);
    }

    pub fn remove(&self, id: u64) {
        self.clients.lock().remove(&id);
    }

    /// Kills a connected client; false if it is gone.
    pub fn kill(&self, id: u64) -> bool {
        let clients = self.clients.lock();
        match clients.get(&id) {
            Some(info) => {
                info.kill();
                true
            }
            None => false,
        }
    }

    /// Kills every connected client (shutdown).
    pub fn kill_all(&self) {
        self.clients.lock().values().for_each(|info| info.kill());
    }

    pub fn len(&self) -> usize {
        self.clients.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A snapshot of all clients in id order.
    pub fn all(&self) -> Vec<Arc<ClientInfo>> {
        self.clients.lock().values().cloned().collect()
    }

    pub fn get(&self, id: u64) -> Option<Arc<ClientInfo>> {
        self.clients.lock().get(&id).cloned()
    }
}

impl ClientInfo {
    /// The client-output-buffer-limit class, as Redis classifies clients:
    /// replicas (but not MONITOR clients), then subscribers, then the rest.
    pub fn output_class(&self) -> crate::state::outbox::OutputClass {
        if self.has_flag(flags::REPLICA) && !self.has_flag(flags::MONITOR) {
            crate::state::outbox::OutputClass::Replica
        } else if self.has_flag(flags::PUBSUB) {
            crate::state::outbox::OutputClass::PubSub
        } else {
            crate::state::outbox::OutputClass::Normal
        }
    }
}

/// One CLIENT LIST line (without the newline).
pub fn client_line(info: &ClientInfo) -> String {
    let now = shoal_engine::now_ms();
    let flag_bits = info.flags.load(Ordering::Relaxed);
    let letters: &[(u32, char)] = &[
        (flags::REPLICA, 'S'),
        (flags::MASTER, 'M'),
        (flags::PUBSUB, 'P'),
        (flags::MULTI, 'x'),
        (flags::BLOCKED, 'b'),
        (flags::DIRTY_CAS, 'd'),
        (flags::CLOSE_AFTER_REPLY, 'c'),
        (flags::UNIX_SOCKET, 'U'),
        (flags::READONLY, 'r'),
        (flags::NO_EVICT, 'e'),
        (flags::MONITOR, 'O'),
        (flags::TRACKING, 't'),
    ];
    let mut flag_text: String = letters.iter().filter(|(f, _)| flag_bits & f != 0).map(|(_, c)| *c).collect();
    if info.tracking.has(crate::state::tracking::mode::BROKEN_REDIRECT) {
        flag_text.push('R');
    }
    if info.tracking.has(crate::state::tracking::mode::BCAST) {
        flag_text.push('B');
    }
    if flag_text.is_empty() {
        flag_text.push('N');
    }
    let command = info.command().map(|id| shoal_commands::table().get(id).name).unwrap_or("NULL");
    let qbuf = info.query_buffer_bytes.load(Ordering::Relaxed);
    // Pending output as Redis splits it: a 16 KB buffer, then a list.
    let pending = info.pending_output();
    let output = pending.min(crate::state::outbox::UNCOUNTED_OUTPUT_BYTES);
    let list_bytes = pending - output;
    format!(
        "id={} addr={} laddr={} fd={} name={} age={} idle={} flags={} db={} sub={} psub={} ssub={} multi={} qbuf={} qbuf-free={} argv-mem=0 multi-mem=0 rbs=16384 rbp=0 obl={} oll={} omem={} tot-mem={} events=r cmd={} user={} redir={} resp={}",
        info.id,
        info.addr,
        info.local_addr,
        info.fd,
        info.name_string(),
        (now - info.created_ms).max(0) / 1000,
        (now - info.last_interaction_ms.load(Ordering::Relaxed)).max(0) / 1000,
        flag_text,
        info.db.load(Ordering::Relaxed),
        info.subscriptions.load(Ordering::Relaxed),
        info.pattern_subscriptions.load(Ordering::Relaxed),
        info.shard_subscriptions.load(Ordering::Relaxed),
        info.multi_count.load(Ordering::Relaxed),
        qbuf,
        info.query_buffer_free.load(Ordering::Relaxed),
        output,
        list_bytes.div_ceil(16 * 1024),
        list_bytes,
        qbuf + pending + 16384,
        command,
        info.user.lock(),
        if info.tracking.has(crate::state::tracking::mode::ON) { info.tracking.redirect.load(Ordering::Relaxed) as i64 } else { -1 },
        info.resp.load(Ordering::Relaxed),
    )
}
