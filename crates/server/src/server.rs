//! `Server`: everything shared by all connections and threads.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::mpsc::UnboundedSender;

use parking_lot::Mutex;
use shoal_commands::{table, CommandId};
use shoal_engine::{now_ms, Engine};
use shoal_persist::rdb;
use tokio::sync::Notify;

use crate::client::Registry;
use crate::config::{self, Config, OutputLimit};
use crate::log::Logger;

/// Version reported to clients: Shoal speaks Redis 7.0.
pub const REDIS_VERSION: &str = "7.0.15";
/// Shoal's own version.
pub const SHOAL_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Shoal's version and the Redis version it speaks, for messages such as a fatal
/// configuration error.
pub fn product() -> String {
    format!("Shoal {SHOAL_VERSION}, Redis {REDIS_VERSION} compatible")
}

/// Settings read on hot paths, refreshed from `Config` on every change.
pub struct Tunables {
    pub proto_max_bulk_len: AtomicI64,
    pub client_query_buffer_limit: AtomicI64,
    pub maxclients: AtomicI64,
    pub timeout_secs: AtomicI64,
    pub hz: AtomicI64,
    pub normal_output_limit: Mutex<OutputLimit>,
    pub replica_output_limit: Mutex<OutputLimit>,
    pub pubsub_output_limit: Mutex<OutputLimit>,
    /// 0 no, 1 yes, 2 local.
    pub enable_debug_command: AtomicU8,
    pub loglevel: AtomicU8,
    pub lazyfree_lazy_user_del: AtomicBool,
    pub lazyfree_lazy_user_flush: AtomicBool,
    pub maxmemory: AtomicI64,
    pub min_replicas_to_write: AtomicI64,
    pub min_replicas_max_lag: AtomicI64,
    /// `slowlog-log-slower-than`, microseconds (negative: off).
    pub slowlog_slower_than: AtomicI64,
    /// `prefetch-batch-max-size`: pipelined commands whose keys are
    /// prefetched together (below 2: no prefetching).
    pub prefetch_batch: AtomicI64,
    /// `tracking-table-max-keys` (0: no limit).
    pub tracking_table_max_keys: AtomicI64,
    /// `busy-reply-threshold`, milliseconds.
    pub busy_reply_threshold: AtomicI64,
    /// `master-fenced`: a master refuses writes as a read-only replica does.
    pub master_fenced: AtomicBool,
    /// Encoding thresholds of the collection types.
    pub encodings: EncodingLimits,
}

/// The `*-max-listpack-*`, `set-max-intset-entries` and stream node limits,
/// read by the collection families on every write.
pub struct EncodingLimits {
    pub list_max_listpack_size: AtomicI64,
    pub list_compress_depth: AtomicI64,
    pub hash_max_listpack_entries: AtomicI64,
    pub hash_max_listpack_value: AtomicI64,
    pub set_max_intset_entries: AtomicI64,
    pub zset_max_listpack_entries: AtomicI64,
    pub zset_max_listpack_value: AtomicI64,
    pub stream_node_max_bytes: AtomicI64,
    pub stream_node_max_entries: AtomicI64,
    pub hll_sparse_max_bytes: AtomicI64,
    /// DEBUG QUICKLIST-PACKED-THRESHOLD: list elements at least this
    /// large get a node of their own (not a configuration parameter).
    pub list_packed_threshold: AtomicUsize,
}

impl Default for EncodingLimits {
    fn default() -> Self {
        EncodingLimits {
            list_max_listpack_size: Default::default(),
            list_compress_depth: Default::default(),
            hash_max_listpack_entries: Default::default(),
            hash_max_listpack_value: Default::default(),
            set_max_intset_entries: Default::default(),
            zset_max_listpack_entries: Default::default(),
            zset_max_listpack_value: Default::default(),
            stream_node_max_bytes: Default::default(),
            stream_node_max_entries: Default::default(),
            hll_sparse_max_bytes: Default::default(),
            list_packed_threshold: AtomicUsize::new(shoal_types::list::DEFAULT_PACKED_THRESHOLD),
        }
    }
}

impl EncodingLimits {
    fn refresh(&self, config: &Config) {
        let r = Ordering::Relaxed;
        self.list_max_listpack_size.store(config.get_int("list-max-listpack-size"), r);
        self.list_compress_depth.store(config.get_int("list-compress-depth"), r);
        self.hash_max_listpack_entries.store(config.get_int("hash-max-listpack-entries"), r);
        self.hash_max_listpack_value.store(config.get_int("hash-max-listpack-value"), r);
        self.set_max_intset_entries.store(config.get_int("set-max-intset-entries"), r);
        self.zset_max_listpack_entries.store(config.get_int("zset-max-listpack-entries"), r);
        self.zset_max_listpack_value.store(config.get_int("zset-max-listpack-value"), r);
        self.stream_node_max_bytes.store(config.get_int("stream-node-max-bytes"), r);
        self.stream_node_max_entries.store(config.get_int("stream-node-max-entries"), r);
        self.hll_sparse_max_bytes.store(config.get_int("hll-sparse-max-bytes"), r);
    }

    pub fn get(value: &AtomicI64) -> i64 {
        value.load(Ordering::Relaxed)
    }

    /// The thresholds that decide encodings when values are loaded from
    /// RDB data (RESTORE, snapshots).
    pub fn rdb_decode_limits(&self) -> rdb::DecodeLimits {
        let size = |v: &AtomicI64| Self::get(v).max(0) as usize;
        rdb::DecodeLimits {
            list: shoal_types::list::ListLimits::new(
                Self::get(&self.list_max_listpack_size),
                self.list_packed_threshold.load(Ordering::Relaxed),
            ),
            hash: shoal_types::hash::HashLimits {
                max_entries: size(&self.hash_max_listpack_entries),
                max_value: size(&self.hash_max_listpack_value),
            },
            zset: shoal_types::zset::Limits {
                max_entries: size(&self.zset_max_listpack_entries),
                max_value: size(&self.zset_max_listpack_value),
            },
            set_max_intset: size(&self.set_max_intset_entries),
        }
    }
}

impl Tunables {
    fn from(config: &Config) -> Tunables {
        let t = Tunables {
            proto_max_bulk_len: AtomicI64::new(0),
            client_query_buffer_limit: AtomicI64::new(0),
            maxclients: AtomicI64::new(0),
            timeout_secs: AtomicI64::new(0),
            hz: AtomicI64::new(10),
            normal_output_limit: Mutex::new(OutputLimit::default()),
            replica_output_limit: Mutex::new(OutputLimit::default()),
            pubsub_output_limit: Mutex::new(OutputLimit::default()),
            enable_debug_command: AtomicU8::new(0),
            loglevel: AtomicU8::new(2),
            lazyfree_lazy_user_del: AtomicBool::new(false),
            lazyfree_lazy_user_flush: AtomicBool::new(false),
            maxmemory: AtomicI64::new(0),
            min_replicas_to_write: AtomicI64::new(0),
            min_replicas_max_lag: AtomicI64::new(10),
            slowlog_slower_than: AtomicI64::new(10_000),
            prefetch_batch: AtomicI64::new(16),
            tracking_table_max_keys: AtomicI64::new(0),
            busy_reply_threshold: AtomicI64::new(5000),
            master_fenced: AtomicBool::new(false),
            encodings: EncodingLimits::default(),
        };
        t.refresh(config);
        t
    }

    /// Copies every hot setting out of the configuration.
    pub fn refresh(&self, config: &Config) {
        let r = Ordering::Relaxed;
        self.proto_max_bulk_len.store(config.get_int("proto-max-bulk-len"), r);
        self.client_query_buffer_limit.store(config.get_int("client-query-buffer-limit"), r);
        self.maxclients.store(config.get_int("maxclients"), r);
        self.timeout_secs.store(config.get_int("timeout"), r);
        self.slowlog_slower_than.store(config.get_int("slowlog-log-slower-than"), r);
        self.prefetch_batch.store(config.get_int("prefetch-batch-max-size"), r);
        self.tracking_table_max_keys.store(config.get_int("tracking-table-max-keys"), r);
        self.busy_reply_threshold.store(config.get_int("busy-reply-threshold"), r);
        self.master_fenced.store(config.get_bool("master-fenced"), r);
        self.hz.store(config.get_int("hz").clamp(1, 500), r);
        if let config::Value::OutputLimits(limits) = config.get("client-output-buffer-limit") {
            *self.normal_output_limit.lock() = limits[0];
            *self.replica_output_limit.lock() = limits[1];
            *self.pubsub_output_limit.lock() = limits[2];
        }
        if let config::Value::Enum(i) = config.get("enable-debug-command") {
            self.enable_debug_command.store(i as u8, r);
        }
        if let config::Value::Enum(i) = config.get("loglevel") {
            self.loglevel.store(i as u8, r);
        }
        self.lazyfree_lazy_user_del.store(config.get_bool("lazyfree-lazy-user-del"), r);
        self.lazyfree_lazy_user_flush.store(config.get_bool("lazyfree-lazy-user-flush"), r);
        self.maxmemory.store(config.get_int("maxmemory"), r);
        self.min_replicas_to_write.store(config.get_int("min-replicas-to-write"), r);
        self.min_replicas_max_lag.store(config.get_int("min-replicas-max-lag"), r);
        self.encodings.refresh(config);
    }

    /// The client-output-buffer-limit of one class of clients.
    pub fn output_limit(&self, class: crate::state::outbox::OutputClass) -> OutputLimit {
        use crate::state::outbox::OutputClass;
        match class {
            OutputClass::Normal => *self.normal_output_limit.lock(),
            OutputClass::Replica => *self.replica_output_limit.lock(),
            OutputClass::PubSub => *self.pubsub_output_limit.lock(),
        }
    }

    pub fn busy_reply_threshold_ms(&self) -> i64 {
        self.busy_reply_threshold.load(Ordering::Relaxed)
    }
}

/// CLIENT PAUSE state.
#[derive(Default)]
pub struct Pause {
    /// 0: none, 1: writes paused, 2: everything paused.
    kind: AtomicU8,
    until_ms: AtomicI64,
    /// FAILOVER's pause of writes, which lasts until the failover ends
    /// (CLIENT UNPAUSE does not end it).
    failover: AtomicBool,
    pub changed: Notify,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PauseKind {
    Write,
    All,
}

impl Pause {
    pub fn start(&self, kind: PauseKind, until_ms: i64) {
        let new = match kind {
            PauseKind::Write => 1,
            PauseKind::All => 2,
        };
        // A longer or stronger pause wins, as in Redis.
        let old_kind = self.kind.load(Ordering::Acquire);
        let old_until = self.until_ms.load(Ordering::Acquire);
        let active = old_kind != 0 && old_until > now_ms();
        self.until_ms.store(if active { old_until.max(until_ms) } else { until_ms }, Ordering::Release);
        self.kind.store(if active { old_kind.max(new) } else { new }, Ordering::Release);
    }

    pub fn end(&self) {
        self.kind.store(0, Ordering::Release);
        self.changed.notify_waiters();
    }

    /// FAILOVER pauses writes (true) until it ends (false).
    pub fn set_failover(&self, paused: bool) {
        self.failover.store(paused, Ordering::Release);
        if !paused {
            self.changed.notify_waiters();
        }
    }

    /// The pause in force now, if any (expired pauses end themselves).
    pub fn current(&self) -> Option<(PauseKind, i64)> {
        let failover = self.failover.load(Ordering::Acquire).then_some((PauseKind::Write, i64::MAX));
        let kind = self.kind.load(Ordering::Acquire);
        if kind == 0 {
            return failover;
        }
        let until = self.until_ms.load(Ordering::Acquire);
        if until <= now_ms() {
            self.end();
            return failover;
        }
        match (kind, failover) {
            (1, Some(failover)) => Some(failover),
            (1, None) => Some((PauseKind::Write, until)),
            _ => Some((PauseKind::All, until)),
        }
    }
}

/// Threads with their own command-statistics slot; later threads share the
/// last one (the counters stay correct, only slower).
const COMMAND_STAT_THREADS: usize = 16;

/// Per-command counters for INFO commandstats, kept per thread so that the
/// same command running on two cores does not share a cache line.
pub struct CommandStats {
    /// [thread][command][calls, nanoseconds, rejected, failed]
    slots: Box<[ThreadCommandStats]>,
}

#[repr(align(128))]
struct ThreadCommandStats(Box<[[AtomicU64; 4]]>);

impl CommandStats {
    fn new(commands: usize) -> CommandStats {
        let slots = (0..COMMAND_STAT_THREADS)
            .map(|_| ThreadCommandStats((0..commands).map(|_| Default::default()).collect()))
            .collect();
        CommandStats { slots }
    }

    pub fn reset(&self) {
        for slot in self.slots.iter() {
            for counters in slot.0.iter() {
                counters.iter().for_each(|c| c.store(0, Ordering::Relaxed));
            }
        }
    }
}

/// The four counters of one command (summed over threads when read).
pub struct CommandCounters<'a> {
    pub calls: Counter<'a>,
    /// Time spent in the command, in nanoseconds (summed unrounded, so
    /// that sub-microsecond commands still add up).
    pub nanos: Counter<'a>,
    pub rejected: Counter<'a>,
    pub failed: Counter<'a>,
}

/// One per-command counter.
pub struct Counter<'a> {
    stats: &'a CommandStats,
    command: usize,
    which: usize,
}

impl Counter<'_> {
    pub fn fetch_add(&self, n: u64, order: Ordering) {
        let slot = shoal_engine::stats::thread_slot().min(COMMAND_STAT_THREADS - 1);
        self.stats.slots[slot].0[self.command][self.which].fetch_add(n, order);
    }

    pub fn load(&self, order: Ordering) -> u64 {
        self.stats.slots.iter().map(|s| s.0[self.command][self.which].load(order)).sum()
    }
}

/// Everything the server shares.
pub struct Server {
    pub engine: Engine,
    pub config: Config,
    pub tunables: Tunables,
    pub clients: Registry,
    pub log: Logger,
    pub pause: Pause,
    pub run_id: String,
    pub started: Instant,
    pub started_ms: i64,
    pub executable: String,
    pub tcp_port: AtomicU64,
    pub threads: usize,
    /// Which worker serves which connection.
    pub placement: crate::placement::Placement,
    pub slowlog: crate::state::slowlog::SlowLog,
    /// Channel, pattern and shard channel listeners.
    pub pubsub: crate::state::channels::PubSub,
    /// Clients in MONITOR mode.
    pub monitors: crate::state::monitors::Monitors,
    /// Client-side caching: BCAST prefixes and the tracking table's size.
    pub tracking: crate::state::tracking::Tracking,
    /// Replicas streaming from this server.
    pub replicas: crate::state::replicas::Replicas,
    /// The replica side: the master this server replicates, if any.
    pub master: crate::state::master::MasterLink,
    /// Snapshots to disk and loading.
    pub persistence: crate::state::persistence::Persistence,
    /// DEBUG PAUSE-CRON: the cron thread does no periodic work.
    pub cron_paused: AtomicBool,
    /// DEBUG SET-SKIP-CHECKSUM-VALIDATION: RESTORE does not check the
    /// payload's CRC64 (the value is still checked completely).
    pub skip_checksum_validation: AtomicBool,
    /// INFO's instantaneous_ops_per_sec, sampled by the cron thread.
    pub ops_per_sec: AtomicU64,
    /// The background freeing thread (UNLINK, FLUSHDB ASYNC).
    pub lazyfree: crate::lazyfree::LazyFree,
    /// MIGRATE's connections to target servers.
    pub migrate_sockets: crate::state::migrate::MigrateSockets,
    /// The script thread, the running script, scripting counts.
    pub scripts: crate::state::scripts::Scripts,
    /// ACL users and the ACL log.
    pub acl: crate::state::users::Users,
    next_client_id: AtomicU64,
    pub command_stats: CommandStats,
    pub error_stats: Mutex<HashMap<String, u64>>,
    /// Connections currently open (for maxclients).
    pub connected: AtomicUsize,
    /// Set once shutdown starts.
    pub shutting_down: AtomicBool,
    /// A SIGTERM/SIGINT asked for a shutdown that has not run yet (it runs
    /// at the cron's next tick); SHUTDOWN ABORT clears it.
    pub shutdown_asap: AtomicBool,
    pub shutdown_signal: Notify,
    /// Blocked-client and other counters kept outside the engine.
    pub blocked_clients: AtomicUsize,
    /// Asks the acceptor to listen elsewhere (CONFIG SET port / bind).
    pub relisten: std::sync::OnceLock<UnboundedSender<crate::state::net::Relisten>>,
    /// This server, for work that outlives a command (a background save).
    me: std::sync::Weak<Server>,
}

impl Server {
    pub fn new(config: Config, threads: usize, executable: String) -> Arc<Server> {
        let dbs = config.get_int("databases") as usize;
        let tunables = Tunables::from(&config);
        let log = Logger::new(&config);
        let command_stats = CommandStats::new(table().all().len());
        let server = Arc::new_cyclic(|me| Server {
            engine: Engine::new(dbs),
            tcp_port: AtomicU64::new(config.get_int("port") as u64),
            config,
            tunables,
            clients: Registry::default(),
            log,
            pause: Pause::default(),
            run_id: shoal_engine::propagate::random_hex_id(),
            started: Instant::now(),
            started_ms: now_ms(),
            executable,
            threads,
            placement: crate::placement::Placement::new(threads),
            slowlog: Default::default(),
            pubsub: Default::default(),
            monitors: Default::default(),
            replicas: Default::default(),
            master: Default::default(),
            persistence: Default::default(),
            tracking: Default::default(),
            ops_per_sec: AtomicU64::new(0),
            cron_paused: AtomicBool::new(false),
            skip_checksum_validation: AtomicBool::new(false),
            lazyfree: Default::default(),
            migrate_sockets: Default::default(),
            scripts: Default::default(),
            acl: crate::state::users::Users::new(crate::state::acl::Universe::full()),
            next_client_id: AtomicU64::new(1),
            command_stats,
            error_stats: Mutex::new(HashMap::new()),
            connected: AtomicUsize::new(0),
            shutting_down: AtomicBool::new(false),
            shutdown_asap: AtomicBool::new(false),
            shutdown_signal: Notify::new(),
            blocked_clients: AtomicUsize::new(0),
            relisten: std::sync::OnceLock::new(),
            me: me.clone(),
        });
        server.refresh_notify_flags();
        server.refresh_acl_settings();
        server
    }

    /// min-replicas-to-write: enough online replicas acknowledged within
    /// min-replicas-max-lag seconds.
    /// A replica whose link is down refuses commands without the `stale`
    /// flag when `replica-serve-stale-data` is off.
    pub fn stale_refused(&self) -> bool {
        self.master.is_replica()
            && self.master.state() != crate::state::master::LinkState::Connected
            && !self.config.get_bool("replica-serve-stale-data")
    }

    /// `save` has at least one save point.
    pub fn has_save_points(&self) -> bool {
        matches!(self.config.get("save"), crate::config::Value::Save(points) if !points.is_empty())
    }

    /// MISCONF: after a failed background save, with save points and
    /// `stop-writes-on-bgsave-error yes`, or while the append-only file cannot
    /// be written, writes are refused. The message, if so.
    #[inline]
    pub fn writes_refused(&self) -> Option<String> {
        let persistence = &self.persistence;
        if persistence.last_bgsave_ok.load(Ordering::Relaxed) && persistence.aof_write_ok.load(Ordering::Relaxed) {
            return None;
        }
        if !persistence.last_bgsave_ok.load(Ordering::Relaxed)
            && self.config.get_bool("stop-writes-on-bgsave-error")
            && self.has_save_points()
        {
            return Some(MISCONF.to_string());
        }
        let aof = persistence.aof()?;
        if aof.last_write_ok.load(Ordering::Relaxed) {
            return None;
        }
        Some(format!("MISCONF Errors writing to the AOF file: {}", aof.last_write_error.lock()))
    }

    pub fn enough_good_replicas(&self) -> bool {
        let wanted = self.tunables.min_replicas_to_write.load(Ordering::Relaxed);
        let max_lag = self.tunables.min_replicas_max_lag.load(Ordering::Relaxed);
        wanted == 0
            || max_lag == 0
            || self.master.is_replica()
            || self.replicas.good(shoal_engine::now_ms(), max_lag) as i64 >= wanted
    }

    /// Why this server's role refuses its clients' writes: a read-only
    /// replica, or a master fenced by `master-fenced` (it restarted and
    /// waits for a sentinel to confirm it). None: writes are taken.
    pub fn role_refuses_writes(&self) -> Option<&'static str> {
        if self.master.is_replica() {
            return self
                .config
                .get_bool("replica-read-only")
                .then_some("READONLY You can't write against a read only replica.");
        }
        self.tunables
            .master_fenced
            .load(Ordering::Relaxed)
            .then_some("READONLY You can't write against a fenced master (it waits for a sentinel to confirm it).")
    }

    /// This server as a shared handle.
    pub fn arc(&self) -> Arc<Server> {
        self.me.upgrade().expect("the server outlives its commands")
    }

    /// Mirrors notify-keyspace-events and the eviction settings into the
    /// engine.
    fn refresh_notify_flags(&self) {
        if let config::Value::Flags(flags) = self.config.get("notify-keyspace-events") {
            self.engine.notify_flags.store(flags, Ordering::Relaxed);
        }
        self.refresh_eviction();
    }

    /// Mirrors the eviction parameters into the engine (startup, CONFIG SET).
    fn refresh_eviction(&self) {
        use shoal_engine::eviction::Policy;
        let config = &self.config;
        let e = &self.engine.eviction;
        let r = Ordering::Relaxed;
        e.set_policy(Policy::from_name(&config.get_string("maxmemory-policy")).unwrap_or(Policy::NoEviction));
        e.samples.store(config.get_int("maxmemory-samples").clamp(1, u32::MAX as i64) as u32, r);
        e.tenacity.store(config.get_int("maxmemory-eviction-tenacity").clamp(0, 100) as u32, r);
        e.lfu_log_factor.store(config.get_int("lfu-log-factor").clamp(0, u32::MAX as i64) as u32, r);
        e.lfu_decay_time.store(config.get_int("lfu-decay-time").clamp(0, u32::MAX as i64) as u32, r);
        e.lazy.store(config.get_bool("lazyfree-lazy-eviction"), r);
        // A lower maxmemory starts evicting at once (the cron goes on until
        // memory fits), as CONFIG SET maxmemory does in Redis.
        if config.get_int("maxmemory") > 0 {
            e.pending.store(true, r);
        }
    }

    pub fn next_client_id(&self) -> u64 {
        self.next_client_id.fetch_add(1, Ordering::Relaxed)
    }

    pub fn counters(&self, id: CommandId) -> CommandCounters<'_> {
        let counter = |which| Counter { stats: &self.command_stats, command: id.0 as usize, which };
        CommandCounters { calls: counter(0), nanos: counter(1), rejected: counter(2), failed: counter(3) }
    }

    /// Counts an error reply for INFO errorstats.
    pub fn count_error(&self, code: &str) {
        let mut stats = self.error_stats.lock();
        // Redis stops tracking new error codes beyond 128 of them.
        if stats.len() >= 128 && !stats.contains_key(code) {
            return;
        }
        *stats.entry(code.to_string()).or_insert(0) += 1;
    }

    /// How values are serialized (DUMP, snapshots): `rdbcompression`.
    pub fn rdb_encode_options(&self) -> rdb::EncodeOptions {
        rdb::EncodeOptions { compress: self.config.get_bool("rdbcompression") }
    }

    /// The access data a snapshot records for an entry, by the
    /// maxmemory-policy (idle seconds under LRU, the decayed LFU counter
    /// under LFU), as Redis writes it.
    pub fn rdb_access(&self, access: u32, now_ms: i64) -> rdb::Access {
        let eviction = &self.engine.eviction;
        let policy = eviction.policy();
        if policy.is_lru() {
            rdb::Access::Idle(self.engine.idle_seconds(access))
        } else if policy.is_lfu() {
            let decay = eviction.lfu_decay_time.load(Ordering::Relaxed);
            rdb::Access::Freq(shoal_engine::evict::lfu_decayed(access, now_ms, decay) as u8)
        } else {
            rdb::Access::None
        }
    }

    /// An entry's access field from what a file or RESTORE says: idle
    /// seconds under an LRU (or no) policy, the LFU counter under an LFU
    /// one; a fresh access when it says nothing.
    pub fn access_from(&self, idle: Option<i64>, freq: Option<i64>, now_ms: i64) -> u32 {
        let engine = &self.engine;
        if engine.eviction.policy().is_lfu() {
            match freq {
                Some(freq) => (shoal_engine::eviction::lfu_minutes(now_ms) << 8) | freq.clamp(0, 255) as u32,
                None => shoal_engine::eviction::lfu_new(now_ms),
            }
        } else {
            let clock = i64::from(shoal_engine::lru_clock_at(now_ms));
            let max = i64::from(shoal_engine::LRU_CLOCK_MAX);
            let at = clock - idle.unwrap_or(0).clamp(0, max);
            (if at < 0 { at + max } else { at }) as u32
        }
    }

    /// `access_from` for what an RDB entry records.
    pub fn access_on_load(&self, access: rdb::Access, now_ms: i64) -> u32 {
        match access {
            rdb::Access::Idle(secs) => self.access_from(Some(secs.min(i64::MAX as u64) as i64), None, now_ms),
            rdb::Access::Freq(counter) => self.access_from(None, Some(i64::from(counter)), now_ms),
            rdb::Access::None => self.access_from(None, None, now_ms),
        }
    }

    /// Called after CONFIG SET changed something.
    pub fn config_changed(&self) {
        self.tunables.refresh(&self.config);
        self.refresh_notify_flags();
        self.refresh_acl_settings();
        self.log.refresh(&self.config);
        // At once, as Redis resizes its backlog: a PSYNC right after a
        // smaller repl-backlog-size must not continue from what it drops.
        self.engine.propagation.set_backlog_size(self.repl_backlog_size());
    }

    /// `requirepass` (the default user's password, applied when it
    /// changes) and `acl-pubsub-default`.
    fn refresh_acl_settings(&self) {
        self.acl.set_all_channels_default(self.config.get_string("acl-pubsub-default") == "allchannels");
        self.acl.apply_requirepass(&self.config.get_string("requirepass"));
    }

    /// New connections must authenticate: the default user is off or
    /// has a password.
    pub fn requires_auth(&self) -> bool {
        !self.acl.default_is_open()
    }

    /// `repl-backlog-size` in bytes (at least one).
    pub fn repl_backlog_size(&self) -> u64 {
        self.config.get_int("repl-backlog-size").max(1) as u64
    }

    /// Starts an orderly shutdown.
    pub fn request_shutdown(&self) {
        self.shutting_down.store(true, Ordering::Release);
        self.shutdown_signal.notify_waiters();
        self.shutdown_signal.notify_one();
    }

    pub fn uptime_secs(&self) -> u64 {
        self.started.elapsed().as_secs()
    }
}

pub const MISCONF: &str = "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. Commands that may modify the data set are disabled, because this instance is configured to report errors during writes if RDB snapshotting fails (stop-writes-on-bgsave-error option). Please check the Redis logs for details about the RDB error.";
