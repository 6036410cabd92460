//! Every configuration parameter Shoal accepts: redis.conf's names, types,
//! bounds and defaults. Parameters of features still to come are accepted,
//! stored and reported so existing configuration files keep working.

use super::def::{Def, Kind, Special};

const IMMUTABLE: u8 = super::def::IMMUTABLE;
const MODIFIABLE: u8 = 0;
const SENSITIVE: u8 = super::def::SENSITIVE;
const PROTECTED: u8 = super::def::PROTECTED;
const MULTI_ARG: u8 = super::def::MULTI_ARG;
const DENY_LOADING: u8 = super::def::DENY_LOADING;
const HIDDEN: u8 = super::def::HIDDEN;

const INT_MAX: i64 = i32::MAX as i64;
const INT_MIN: i64 = i32::MIN as i64;
const UINT_MAX: i64 = u32::MAX as i64;
const LONG_MAX: i64 = i64::MAX;

const fn boolean(name: &'static str, alias: &'static str, flags: u8, default: bool) -> Def {
    Def { name, alias, kind: Kind::Bool, default: if default { "yes" } else { "no" }, flags }
}

const fn int(name: &'static str, alias: &'static str, flags: u8, min: i64, max: i64, default: &'static str) -> Def {
    Def { name, alias, kind: Kind::Int { min, max, memory: false, percent: false, octal: false }, default, flags }
}

const fn memory(name: &'static str, alias: &'static str, flags: u8, min: i64, max: i64, default: &'static str) -> Def {
    Def { name, alias, kind: Kind::Int { min, max, memory: true, percent: false, octal: false }, default, flags }
}

const fn string(name: &'static str, alias: &'static str, flags: u8, default: &'static str) -> Def {
    Def { name, alias, kind: Kind::Str, default, flags }
}

const fn choice(name: &'static str, flags: u8, names: &'static [&'static str], default: &'static str) -> Def {
    Def { name, alias: "", kind: Kind::Enum { names, multi: false }, default, flags }
}

const fn special(name: &'static str, alias: &'static str, flags: u8, which: Special, default: &'static str) -> Def {
    Def { name, alias, kind: Kind::Special(which), default, flags }
}

const PROTECTED_ACTION: &[&str] = &["no", "yes", "local"];
const SHUTDOWN_ON_SIGNAL: &[&str] = &["default", "save", "nosave", "now", "force"];

pub const DEFS: &[Def] = &[
    // Network and clients.
    // Shoal listens on loopback unless told otherwise (redis.conf ships the same).
    special("bind", "", MODIFIABLE | MULTI_ARG, Special::Bind, "127.0.0.1 -::1"),
    int("port", "", MODIFIABLE, 0, 65535, "6379"),
    boolean("protected-mode", "", MODIFIABLE, true),
    int("tcp-backlog", "", IMMUTABLE, 0, INT_MAX, "511"),
    string("unixsocket", "", IMMUTABLE, ""),
    Def {
        name: "unixsocketperm",
        alias: "",
        kind: Kind::Int { min: 0, max: 0o777, memory: false, percent: false, octal: true },
        default: "0",
        flags: IMMUTABLE,
    },
    int("timeout", "", MODIFIABLE, 0, INT_MAX, "0"),
    int("tcp-keepalive", "", MODIFIABLE, 0, INT_MAX, "300"),
    int("socket-mark-id", "", IMMUTABLE, 0, UINT_MAX, "0"),
    string("bind-source-addr", "", MODIFIABLE, ""),
    int("maxclients", "", MODIFIABLE, 1, UINT_MAX, "10000"),
    memory("client-query-buffer-limit", "", MODIFIABLE, 1024 * 1024, LONG_MAX, "1073741824"),
    memory("proto-max-bulk-len", "", MODIFIABLE, 1024 * 1024, LONG_MAX, "536870912"),
    special(
        "client-output-buffer-limit",
        "",
        MODIFIABLE | MULTI_ARG,
        Special::ClientOutputBufferLimit,
        "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60",
    ),
    // Shoal's own: worker threads serving clients (0 = one per core).
    int("threads", "", IMMUTABLE, 0, 1024, "0"),
    // Shoal's own: worker threads run under SCHED_BATCH (see net.rs).
    boolean("worker-sched-batch", "", IMMUTABLE, false),
    // Shoal's own: pack connections onto as few workers as their load
    // needs, spreading when one gets busy (see placement.rs).
    boolean("worker-packing", "", MODIFIABLE, true),
    int("worker-spread-pct", "", MODIFIABLE, 1, 100, "85"),
    int("worker-spread-idle-pct", "", MODIFIABLE, 0, 100, "50"),
    int("worker-pack-pct", "", MODIFIABLE, 1, 100, "75"),
    // As in Redis 8: keys of up to this many pipelined commands are
    // prefetched together before they run (0 or 1: off; see conn.rs).
    int("prefetch-batch-max-size", "", MODIFIABLE, 0, 128, "16"),
    int("io-threads", "", IMMUTABLE, 1, 128, "1"),
    boolean("io-threads-do-reads", "", IMMUTABLE, false),
    // General.
    boolean("daemonize", "", IMMUTABLE, false),
    choice("supervised", IMMUTABLE, &["upstart", "systemd", "auto", "no"], "no"),
    string("pidfile", "", IMMUTABLE, ""),
    choice("loglevel", MODIFIABLE, &["debug", "verbose", "notice", "warning"], "notice"),
    string("logfile", "", IMMUTABLE, ""),
    boolean("syslog-enabled", "", IMMUTABLE, false),
    string("syslog-ident", "", IMMUTABLE, "redis"),
    choice(
        "syslog-facility",
        IMMUTABLE,
        &["user", "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7"],
        "local0",
    ),
    boolean("crash-log-enabled", "", MODIFIABLE, true),
    boolean("crash-memcheck-enabled", "", MODIFIABLE, true),
    int("databases", "", IMMUTABLE, 1, INT_MAX, "16"),
    boolean("always-show-logo", "", IMMUTABLE, false),
    boolean("set-proc-title", "", IMMUTABLE, true),
    string("proc-title-template", "", MODIFIABLE, "{title} {listen-addr} {server-mode}"),
    choice("enable-protected-configs", IMMUTABLE, PROTECTED_ACTION, "no"),
    choice("enable-debug-command", IMMUTABLE, PROTECTED_ACTION, "no"),
    choice("enable-module-command", IMMUTABLE, PROTECTED_ACTION, "no"),
    string("ignore-warnings", "", MODIFIABLE, ""),
    int("hz", "", MODIFIABLE, 0, INT_MAX, "10"),
    boolean("dynamic-hz", "", MODIFIABLE, true),
    int("shutdown-timeout", "", MODIFIABLE, 0, INT_MAX, "10"),
    Def {
        name: "shutdown-on-sigint",
        alias: "",
        kind: Kind::Enum { names: SHUTDOWN_ON_SIGNAL, multi: true },
        default: "default",
        flags: MODIFIABLE | MULTI_ARG,
    },
    Def {
        name: "shutdown-on-sigterm",
        alias: "",
        kind: Kind::Enum { names: SHUTDOWN_ON_SIGNAL, multi: true },
        default: "default",
        flags: MODIFIABLE | MULTI_ARG,
    },
    boolean("disable-thp", "", IMMUTABLE, true),
    boolean("jemalloc-bg-thread", "", MODIFIABLE, true),
    string("server_cpulist", "", IMMUTABLE, ""),
    string("bio_cpulist", "", IMMUTABLE, ""),
    string("aof_rewrite_cpulist", "", IMMUTABLE, ""),
    string("bgsave_cpulist", "", IMMUTABLE, ""),
    choice("oom-score-adj", MODIFIABLE, &["no", "yes", "relative", "absolute"], "no"),
    special("oom-score-adj-values", "", MODIFIABLE | MULTI_ARG, Special::OomScoreAdjValues, "0 200 800"),
    boolean("use-exit-on-panic", "", MODIFIABLE | HIDDEN, false),
    int("watchdog-period", "", MODIFIABLE | HIDDEN, 0, INT_MAX, "0"),
    // Snapshotting.
    special("save", "", MODIFIABLE | MULTI_ARG, Special::Save, "3600 1 300 100 60 10000"),
    boolean("stop-writes-on-bgsave-error", "", MODIFIABLE, true),
    boolean("rdbcompression", "", MODIFIABLE, true),
    boolean("rdbchecksum", "", IMMUTABLE, true),
    choice("sanitize-dump-payload", MODIFIABLE, &["no", "yes", "clients"], "no"),
    string("dbfilename", "", MODIFIABLE | PROTECTED, "dump.rdb"),
    boolean("rdb-del-sync-files", "", MODIFIABLE, false),
    special("dir", "", MODIFIABLE | PROTECTED | DENY_LOADING, Special::Dir, ""),
    boolean("rdb-save-incremental-fsync", "", MODIFIABLE, true),
    int("rdb-key-save-delay", "", MODIFIABLE | HIDDEN, INT_MIN, INT_MAX, "0"),
    int("key-load-delay", "", MODIFIABLE | HIDDEN, INT_MIN, INT_MAX, "0"),
    int("loading-process-events-interval-bytes", "", MODIFIABLE | HIDDEN, 1024, INT_MAX, "2097152"),
    // Replication.
    special("replicaof", "slaveof", IMMUTABLE | MULTI_ARG, Special::ReplicaOf, ""),
    string("masterauth", "", MODIFIABLE | SENSITIVE, ""),
    string("masteruser", "", MODIFIABLE | SENSITIVE, ""),
    boolean("replica-serve-stale-data", "slave-serve-stale-data", MODIFIABLE, true),
    boolean("replica-read-only", "slave-read-only", MODIFIABLE, true),
    boolean("repl-diskless-sync", "", MODIFIABLE, true),
    int("repl-diskless-sync-delay", "", MODIFIABLE, 0, INT_MAX, "5"),
    int("repl-diskless-sync-max-replicas", "", MODIFIABLE, 0, INT_MAX, "0"),
    choice("repl-diskless-load", MODIFIABLE | DENY_LOADING, &["disabled", "on-empty-db", "swapdb"], "disabled"),
    int("repl-ping-replica-period", "repl-ping-slave-period", MODIFIABLE, 1, INT_MAX, "10"),
    int("repl-timeout", "", MODIFIABLE, 1, INT_MAX, "60"),
    boolean("repl-disable-tcp-nodelay", "", MODIFIABLE, false),
    memory("repl-backlog-size", "", MODIFIABLE, 1, LONG_MAX, "1048576"),
    int("repl-backlog-ttl", "", MODIFIABLE, 0, LONG_MAX, "3600"),
    int("replica-priority", "slave-priority", MODIFIABLE, 0, INT_MAX, "100"),
    boolean("replica-announced", "", MODIFIABLE, true),
    // Shoal's (ARCHITECTURE.md, "Fencing a restarted master"): a server that
    // starts as a master with master-fence-on-restart on starts fenced,
    // refusing writes with -READONLY until `master-fenced no` (a Shoal
    // sentinel sets it; REPLICAOF lifts it too).
    boolean("master-fence-on-restart", "", MODIFIABLE, false),
    boolean("master-fenced", "", MODIFIABLE, false),
    int("min-replicas-to-write", "min-slaves-to-write", MODIFIABLE, 0, INT_MAX, "0"),
    int("min-replicas-max-lag", "min-slaves-max-lag", MODIFIABLE, 0, INT_MAX, "10"),
    string("replica-announce-ip", "slave-announce-ip", MODIFIABLE, ""),
    int("replica-announce-port", "slave-announce-port", MODIFIABLE, 0, 65535, "0"),
    boolean("replica-lazy-flush", "slave-lazy-flush", MODIFIABLE, false),
    boolean("replica-ignore-maxmemory", "slave-ignore-maxmemory", MODIFIABLE, true),
    boolean("replica-ignore-disk-write-errors", "", MODIFIABLE, false),
    choice("propagation-error-behavior", MODIFIABLE, &["ignore", "panic", "panic-on-replicas"], "ignore"),
    // Security.
    string("requirepass", "", MODIFIABLE | SENSITIVE, ""),
    int("acllog-max-len", "", MODIFIABLE, 0, LONG_MAX, "128"),
    string("aclfile", "", IMMUTABLE, ""),
    choice("acl-pubsub-default", MODIFIABLE, &["allchannels", "resetchannels"], "resetchannels"),
    // Memory management.
    Def {
        name: "maxmemory",
        alias: "",
        kind: Kind::Int { min: 0, max: LONG_MAX, memory: true, percent: false, octal: false },
        default: "0",
        flags: MODIFIABLE,
    },
    choice(
        "maxmemory-policy",
        MODIFIABLE,
        &shoal_engine::eviction::Policy::NAMES,
        "noeviction",
    ),
    int("maxmemory-samples", "", MODIFIABLE, 1, INT_MAX, "5"),
    int("maxmemory-eviction-tenacity", "", MODIFIABLE, 0, 100, "10"),
    Def {
        name: "maxmemory-clients",
        alias: "",
        kind: Kind::Int { min: -100, max: LONG_MAX, memory: true, percent: true, octal: false },
        default: "0",
        flags: MODIFIABLE,
    },
    boolean("lazyfree-lazy-eviction", "", MODIFIABLE, false),
    boolean("lazyfree-lazy-expire", "", MODIFIABLE, false),
    boolean("lazyfree-lazy-server-del", "", MODIFIABLE, false),
    boolean("lazyfree-lazy-user-del", "", MODIFIABLE, false),
    boolean("lazyfree-lazy-user-flush", "", MODIFIABLE, false),
    int("lfu-log-factor", "", MODIFIABLE, 0, INT_MAX, "10"),
    int("lfu-decay-time", "", MODIFIABLE, 0, INT_MAX, "1"),
    int("active-expire-effort", "", MODIFIABLE, 1, 10, "1"),
    boolean("activerehashing", "", MODIFIABLE, true),
    boolean("activedefrag", "", MODIFIABLE, false),
    memory("active-defrag-ignore-bytes", "", MODIFIABLE, 1, LONG_MAX, "104857600"),
    int("active-defrag-threshold-lower", "", MODIFIABLE, 0, 1000, "10"),
    int("active-defrag-threshold-upper", "", MODIFIABLE, 0, 1000, "100"),
    int("active-defrag-cycle-min", "", MODIFIABLE, 1, 99, "1"),
    int("active-defrag-cycle-max", "", MODIFIABLE, 1, 99, "25"),
    int("active-defrag-max-scan-fields", "", MODIFIABLE, 1, LONG_MAX, "1000"),
    // Append-only file.
    boolean("appendonly", "", MODIFIABLE | DENY_LOADING, false),
    string("appendfilename", "", IMMUTABLE, "appendonly.aof"),
    string("appenddirname", "", IMMUTABLE, "appendonlydir"),
    choice("appendfsync", MODIFIABLE, &["always", "everysec", "no"], "everysec"),
    boolean("no-appendfsync-on-rewrite", "", MODIFIABLE, false),
    int("auto-aof-rewrite-percentage", "", MODIFIABLE, 0, INT_MAX, "100"),
    memory("auto-aof-rewrite-min-size", "", MODIFIABLE, 0, LONG_MAX, "67108864"),
    boolean("aof-load-truncated", "", MODIFIABLE, true),
    boolean("aof-use-rdb-preamble", "", MODIFIABLE, true),
    boolean("aof-timestamp-enabled", "", MODIFIABLE, false),
    boolean("aof-rewrite-incremental-fsync", "", MODIFIABLE, true),
    boolean("aof-disable-auto-gc", "", MODIFIABLE, false),
    // Scripting.
    int("busy-reply-threshold", "lua-time-limit", MODIFIABLE, 0, LONG_MAX, "5000"),
    // Cluster.
    boolean("cluster-enabled", "", IMMUTABLE, false),
    string("cluster-config-file", "", IMMUTABLE, "nodes.conf"),
    int("cluster-node-timeout", "", MODIFIABLE, 0, LONG_MAX, "15000"),
    int("cluster-port", "", IMMUTABLE, 0, 65535, "0"),
    int("cluster-replica-validity-factor", "cluster-slave-validity-factor", MODIFIABLE, 0, INT_MAX, "10"),
    int("cluster-migration-barrier", "", MODIFIABLE, 0, INT_MAX, "1"),
    boolean("cluster-allow-replica-migration", "", MODIFIABLE, true),
    boolean("cluster-require-full-coverage", "", MODIFIABLE, true),
    boolean("cluster-replica-no-failover", "cluster-slave-no-failover", MODIFIABLE, false),
    boolean("cluster-allow-reads-when-down", "", MODIFIABLE, false),
    boolean("cluster-allow-pubsubshard-when-down", "", MODIFIABLE, true),
    memory("cluster-link-sendbuf-limit", "", MODIFIABLE, 0, LONG_MAX, "0"),
    string("cluster-announce-ip", "", MODIFIABLE, ""),
    string("cluster-announce-hostname", "", MODIFIABLE, ""),
    int("cluster-announce-port", "", MODIFIABLE, 0, 65535, "0"),
    int("cluster-announce-bus-port", "", MODIFIABLE, 0, 65535, "0"),
    int("cluster-announce-tls-port", "", MODIFIABLE, 0, 65535, "0"),
    choice("cluster-preferred-endpoint-type", MODIFIABLE, &["ip", "hostname", "unknown-endpoint"], "ip"),
    // Logs and monitoring.
    int("slowlog-log-slower-than", "", MODIFIABLE, -1, LONG_MAX, "10000"),
    int("slowlog-max-len", "", MODIFIABLE, 0, LONG_MAX, "128"),
    int("latency-monitor-threshold", "", MODIFIABLE, 0, LONG_MAX, "0"),
    boolean("latency-tracking", "", MODIFIABLE, true),
    special(
        "latency-tracking-info-percentiles",
        "",
        MODIFIABLE | MULTI_ARG,
        Special::LatencyPercentiles,
        "50 99 99.9",
    ),
    special("notify-keyspace-events", "", MODIFIABLE, Special::NotifyKeyspaceEvents, ""),
    // Data structure encodings.
    int("hash-max-listpack-entries", "hash-max-ziplist-entries", MODIFIABLE, 0, LONG_MAX, "512"),
    memory("hash-max-listpack-value", "hash-max-ziplist-value", MODIFIABLE, 0, LONG_MAX, "64"),
    int("list-max-listpack-size", "list-max-ziplist-size", MODIFIABLE, INT_MIN, INT_MAX, "-2"),
    int("list-compress-depth", "", MODIFIABLE, 0, INT_MAX, "0"),
    int("set-max-intset-entries", "", MODIFIABLE, 0, LONG_MAX, "512"),
    int("zset-max-listpack-entries", "zset-max-ziplist-entries", MODIFIABLE, 0, LONG_MAX, "128"),
    memory("zset-max-listpack-value", "zset-max-ziplist-value", MODIFIABLE, 0, LONG_MAX, "64"),
    memory("hll-sparse-max-bytes", "", MODIFIABLE, 0, LONG_MAX, "3000"),
    memory("stream-node-max-bytes", "", MODIFIABLE, 0, LONG_MAX, "4096"),
    int("stream-node-max-entries", "", MODIFIABLE, 0, LONG_MAX, "100"),
    int("tracking-table-max-keys", "", MODIFIABLE, 0, LONG_MAX, "1000000"),
    // TLS.
    int("tls-port", "", MODIFIABLE, 0, 65535, "0"),
    string("tls-cert-file", "", MODIFIABLE, ""),
    string("tls-key-file", "", MODIFIABLE, ""),
    string("tls-key-file-pass", "", MODIFIABLE, ""),
    string("tls-client-cert-file", "", MODIFIABLE, ""),
    string("tls-client-key-file", "", MODIFIABLE, ""),
    string("tls-client-key-file-pass", "", MODIFIABLE, ""),
    string("tls-dh-params-file", "", MODIFIABLE, ""),
    string("tls-ca-cert-file", "", MODIFIABLE, ""),
    string("tls-ca-cert-dir", "", MODIFIABLE, ""),
    choice("tls-auth-clients", MODIFIABLE, &["no", "yes", "optional"], "yes"),
    boolean("tls-replication", "", MODIFIABLE, false),
    boolean("tls-cluster", "", MODIFIABLE, false),
    string("tls-protocols", "", MODIFIABLE, ""),
    string("tls-ciphers", "", MODIFIABLE, ""),
    string("tls-ciphersuites", "", MODIFIABLE, ""),
    boolean("tls-prefer-server-ciphers", "", MODIFIABLE, false),
    boolean("tls-session-caching", "", MODIFIABLE, true),
    int("tls-session-cache-size", "", MODIFIABLE, 0, INT_MAX, "20480"),
    int("tls-session-cache-timeout", "", MODIFIABLE, 0, INT_MAX, "300"),
];
