//! INFO, with Redis 7.0's sections and field names.

use std::fmt::Write;
use std::sync::atomic::Ordering;

use shoal_commands::table;
use shoal_engine::Stat;

use crate::error::CmdResult;
use crate::exec::{Ctx, Registrar};
use crate::server::{Server, REDIS_VERSION, SHOAL_VERSION};

const DEFAULT_SECTIONS: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "modules",
    "errorstats",
    "cluster",
    "keyspace",
];
const EXTRA_SECTIONS: &[&str] = &["commandstats", "latencystats", "workers"];

fn info(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let mut wanted: Vec<String> = Vec::new();
    let add = |name: &str, list: &mut Vec<String>| {
        if !list.iter().any(|s| s == name) {
            list.push(name.to_string());
        }
    };
    if argv.len() == 1 {
        DEFAULT_SECTIONS.iter().for_each(|s| add(s, &mut wanted));
    }
    for arg in &argv[1..] {
        let name = String::from_utf8_lossy(arg).to_ascii_lowercase();
        match name.as_str() {
            "default" => DEFAULT_SECTIONS.iter().for_each(|s| add(s, &mut wanted)),
            "all" | "everything" => DEFAULT_SECTIONS.iter().chain(EXTRA_SECTIONS).for_each(|s| add(s, &mut wanted)),
            other => add(other, &mut wanted),
        }
    }
    let keyspace = if wanted.iter().any(|s| s == "keyspace") { keyspace_counts(ctx) } else { Vec::new() };
    let text = render(ctx.server, &wanted, &keyspace);
    ctx.out.verbatim("txt", text.as_bytes());
    Ok(())
}

/// (keys, volatile keys) per database, for the keyspace section.
fn keyspace_counts(ctx: &mut Ctx<'_>) -> Vec<(usize, usize)> {
    let dbs = ctx.server.engine.db_count();
    let mut counts = vec![(0usize, 0usize); dbs];
    // INFO locks every shard (it may run inside EXEC, which already holds them).
    for shard in ctx.tx().locks.iter() {
        for (db, count) in counts.iter_mut().enumerate() {
            count.0 += shard.dbs[db].len();
            count.1 += shard.dbs[db].volatile_len();
        }
    }
    counts
}

/// Renders the requested sections, in Redis's section order.
pub fn render(server: &Server, wanted: &[String], keyspace: &[(usize, usize)]) -> String {
    let order = DEFAULT_SECTIONS.iter().chain(EXTRA_SECTIONS);
    let mut out = String::new();
    for section in order {
        if !wanted.iter().any(|w| w == section) {
            continue;
        }
        if !out.is_empty() {
            out.push_str("\r\n");
        }
        match *section {
            "server" => server_section(server, &mut out),
            "clients" => clients_section(server, &mut out),
            "memory" => memory_section(server, &mut out),
            "persistence" => persistence_section(server, &mut out),
            "stats" => stats_section(server, &mut out),
            "replication" => replication_section(server, &mut out),
            "cpu" => cpu_section(&mut out),
            "modules" => out.push_str("# Modules\r\n"),
            "errorstats" => errorstats_section(server, &mut out),
            "cluster" => out.push_str("# Cluster\r\ncluster_enabled:0\r\n"),
            "keyspace" => keyspace_section(keyspace, &mut out),
            "commandstats" => commandstats_section(server, &mut out),
            "latencystats" => out.push_str("# Latencystats\r\n"),
            "workers" => workers_section(server, &mut out),
            _ => {}
        }
    }
    out
}

macro_rules! field {
    ($out:expr, $name:expr, $value:expr) => {
        let _ = write!($out, "{}:{}\r\n", $name, $value);
    };
}

fn server_section(server: &Server, out: &mut String) {
    let uptime = server.uptime_secs();
    out.push_str("# Server\r\n");
    field!(out, "redis_version", REDIS_VERSION);
    field!(out, "shoal_version", SHOAL_VERSION);
    field!(out, "redis_git_sha1", "00000000");
    field!(out, "redis_git_dirty", 0);
    field!(out, "redis_build_id", "0");
    field!(out, "redis_mode", "standalone");
    field!(out, "os", os_name());
    field!(out, "arch_bits", 64);
    field!(out, "monotonic_clock", "POSIX clock_gettime");
    field!(out, "multiplexing_api", "epoll");
    field!(out, "atomicvar_api", "c11-builtin");
    field!(out, "gcc_version", "0.0.0");
    field!(out, "process_id", std::process::id());
    field!(out, "process_supervised", "no");
    field!(out, "run_id", server.run_id);
    field!(out, "tcp_port", server.tcp_port.load(Ordering::Relaxed));
    field!(out, "server_time_usec", shoal_engine::now_us());
    field!(out, "uptime_in_seconds", uptime);
    field!(out, "uptime_in_days", uptime / 86400);
    field!(out, "hz", server.tunables.hz.load(Ordering::Relaxed));
    field!(out, "configured_hz", server.tunables.hz.load(Ordering::Relaxed));
    field!(out, "lru_clock", server.engine.lru_clock());
    field!(out, "executable", server.executable);
    field!(out, "config_file", server.config.file.as_ref().map(|p| p.display().to_string()).unwrap_or_default());
    field!(out, "io_threads_active", 0);
    field!(out, "worker_threads", server.threads);
}

/// Shoal's own section: the worker threads and where connections run.
fn workers_section(server: &Server, out: &mut String) {
    let placement = &server.placement;
    out.push_str("# Workers\r\n");
    field!(out, "workers", placement.workers.len());
    field!(out, "workers_active", placement.active());
    field!(out, "worker_packing", if server.config.get_bool("worker-packing") { "yes" } else { "no" });
    field!(out, "connection_moves", placement.moves.load(Ordering::Relaxed));
    let idle = placement.machine_idle_pct.load(Ordering::Relaxed);
    field!(out, "machine_idle_pct", if idle == u32::MAX { "unknown".to_string() } else { idle.to_string() });
    for (index, worker) in placement.workers.iter().enumerate() {
        field!(
            out,
            format!("worker{index}"),
            format!(
                "clients={},cpu_pct={},top_shard_pct={},lock_wait_pct={}",
                worker.connections.load(Ordering::Relaxed),
                worker.cpu_pct.load(Ordering::Relaxed),
                worker.top_shard_pct.load(Ordering::Relaxed),
                worker.lock_wait_pct.load(Ordering::Relaxed)
            )
        );
    }
}

fn os_name() -> String {
    // SAFETY: uname fills the struct; the fields are NUL-terminated.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    if unsafe { libc::uname(&mut u) } != 0 {
        return "Linux".to_string();
    }
    let field = |f: &[libc::c_char]| {
        let bytes: Vec<u8> = f.iter().take_while(|&&c| c != 0).map(|&c| c as u8).collect();
        String::from_utf8_lossy(&bytes).into_owned()
    };
    format!("{} {} {}", field(&u.sysname), field(&u.release), field(&u.machine))
}

fn clients_section(server: &Server, out: &mut String) {
    out.push_str("# Clients\r\n");
    field!(out, "connected_clients", server.clients.len());
    field!(out, "cluster_connections", 0);
    field!(out, "maxclients", server.tunables.maxclients.load(Ordering::Relaxed));
    field!(out, "client_recent_max_input_buffer", 0);
    field!(out, "client_recent_max_output_buffer", 0);
    field!(out, "blocked_clients", server.blocked_clients.load(Ordering::Relaxed));
    field!(out, "tracking_clients", server.engine.tracking_clients.load(Ordering::Relaxed));
    field!(out, "clients_in_timeout_table", 0);
}

/// "1.41M" style sizes, as Redis's bytesToHuman.
pub fn human_bytes(n: u64) -> String {
    let n = n as f64;
    let k = 1024.0;
    if n < k {
        format!("{}B", n as u64)
    } else if n < k * k {
        format!("{:.2}K", n / k)
    } else if n < k * k * k {
        format!("{:.2}M", n / (k * k))
    } else if n < k * k * k * k {
        format!("{:.2}G", n / (k * k * k))
    } else {
        format!("{:.2}T", n / (k * k * k * k))
    }
}

/// The scripting part of INFO memory, in Redis 7.0's order: the two Lua
/// VMs (EVAL's and the functions'), the script cache and the libraries.
fn scripting_memory_fields(server: &Server, out: &mut String) {
    let scripts = &server.scripts;
    let load = |counter: &std::sync::atomic::AtomicU64| counter.load(Ordering::Relaxed);
    let (vm_eval, vm_functions) = (load(&scripts.vm_bytes), load(&scripts.functions_vm_bytes));
    let (scripts_eval, functions) = (load(&scripts.cached_script_bytes), load(&scripts.functions_bytes));
    field!(out, "used_memory_lua", vm_eval);
    field!(out, "used_memory_vm_eval", vm_eval);
    field!(out, "used_memory_lua_human", human_bytes(vm_eval));
    field!(out, "used_memory_scripts_eval", scripts_eval);
    field!(out, "number_of_cached_scripts", load(&scripts.cached_scripts));
    field!(out, "number_of_functions", load(&scripts.functions));
    field!(out, "number_of_libraries", load(&scripts.libraries));
    field!(out, "used_memory_vm_functions", vm_functions);
    field!(out, "used_memory_vm_total", vm_eval + vm_functions);
    field!(out, "used_memory_vm_total_human", human_bytes(vm_eval + vm_functions));
    field!(out, "used_memory_functions", functions);
    field!(out, "used_memory_scripts", scripts_eval + functions);
    field!(out, "used_memory_scripts_human", human_bytes(scripts_eval + functions));
}

fn memory_section(server: &Server, out: &mut String) {
    let used = crate::alloc::allocated_bytes() as u64;
    let peak = crate::alloc::peak_bytes() as u64;
    let rss = crate::alloc::resident_bytes();
    let maxmemory = server.config.get_int("maxmemory") as u64;
    out.push_str("# Memory\r\n");
    field!(out, "used_memory", used);
    field!(out, "used_memory_human", human_bytes(used));
    field!(out, "used_memory_rss", rss);
    field!(out, "used_memory_rss_human", human_bytes(rss));
    field!(out, "used_memory_peak", peak);
    field!(out, "used_memory_peak_human", human_bytes(peak));
    field!(out, "used_memory_peak_perc", format!("{:.2}%", used as f64 * 100.0 / peak.max(1) as f64));
    field!(out, "used_memory_overhead", 0);
    field!(out, "used_memory_startup", 0);
    field!(out, "used_memory_dataset", used);
    field!(out, "total_system_memory", crate::alloc::total_system_memory());
    field!(out, "total_system_memory_human", human_bytes(crate::alloc::total_system_memory()));
    scripting_memory_fields(server, out);
    field!(out, "maxmemory", maxmemory);
    field!(out, "maxmemory_human", human_bytes(maxmemory));
    field!(out, "maxmemory_policy", server.config.get_string("maxmemory-policy"));
    field!(out, "mem_fragmentation_ratio", format!("{:.2}", rss as f64 / used.max(1) as f64));
    field!(out, "mem_fragmentation_bytes", rss as i64 - used as i64);
    let replica_bytes = crate::evict::not_counted_bytes(server);
    field!(out, "mem_not_counted_for_evict", replica_bytes);
    let (buffers, backlog) = server.engine.propagation.buffer_memory();
    field!(out, "mem_replication_backlog", backlog);
    field!(out, "mem_total_replication_buffers", buffers);
    field!(out, "mem_clients_slaves", buffers - backlog);
    field!(out, "mem_clients_normal", 0);
    field!(out, "mem_aof_buffer", 0);
    field!(out, "mem_allocator", crate::alloc::ALLOCATOR_NAME);
    field!(out, "active_defrag_running", 0);
    field!(out, "lazyfree_pending_objects", server.lazyfree.pending());
    field!(out, "lazyfreed_objects", server.lazyfree.freed());
}

fn persistence_section(server: &Server, out: &mut String) {
    let persistence = &server.persistence;
    let now_ms = shoal_engine::now_ms();
    let loading = &persistence.loading;
    let is_async_loading = persistence.is_async_loading();
    let is_loading = persistence.is_loading() && !is_async_loading;
    let progress = crate::persistence::save_progress(server);
    let save_started_ms = progress.started_ms;
    use crate::state::persistence::SnapshotKind;
    let saving = progress.kind == Some(SnapshotKind::Rdb);
    let rewriting = progress.kind == Some(SnapshotKind::AofRewrite);
    out.push_str("# Persistence\r\n");
    field!(out, "loading", is_loading as u8);
    field!(out, "async_loading", is_async_loading as u8);
    if is_loading || is_async_loading {
        let started = loading.started_ms.load(Ordering::Relaxed);
        let total = loading.total_bytes.load(Ordering::Relaxed);
        let loaded = loading.loaded_bytes.load(Ordering::Relaxed);
        let elapsed = ((now_ms - started) / 1000).max(0);
        let perc = if total > 0 { loaded as f64 * 100.0 / total as f64 } else { 0.0 };
        let eta = if loaded > 0 && elapsed > 0 {
            (total.saturating_sub(loaded)) as f64 / (loaded as f64 / elapsed as f64)
        } else {
            1.0
        };
        field!(out, "loading_start_time", started / 1000);
        field!(out, "loading_total_bytes", total);
        field!(out, "loading_rdb_used_mem", 0);
        field!(out, "loading_loaded_bytes", loaded);
        field!(out, "loading_loaded_perc", format!("{perc:.2}"));
        field!(out, "loading_eta_seconds", eta as i64);
    }
    // No fork: the "copy-on-write" fields report what the writes made the
    // running snapshot serialize ahead of its walk (it only grows while
    // the snapshot runs, so its peak is its current size).
    field!(out, "current_cow_peak", progress.early_bytes);
    field!(out, "current_cow_size", progress.early_bytes);
    field!(out, "current_cow_size_age", 0);
    let perc =
        if progress.keys_total > 0 { progress.keys_saved as f64 * 100.0 / progress.keys_total as f64 } else { 0.0 };
    field!(out, "current_fork_perc", format!("{perc:.2}"));
    field!(out, "current_save_keys_processed", progress.keys_saved);
    field!(out, "current_save_keys_total", progress.keys_total);
    field!(out, "rdb_changes_since_last_save", server.engine.dirty());
    field!(out, "rdb_bgsave_in_progress", saving as u8);
    field!(out, "rdb_last_save_time", server.engine.last_save.load(Ordering::Relaxed));
    let ok = persistence.last_bgsave_ok.load(Ordering::Relaxed);
    field!(out, "rdb_last_bgsave_status", if ok { "ok" } else { "err" });
    field!(out, "rdb_last_bgsave_time_sec", persistence.last_bgsave_secs.load(Ordering::Relaxed));
    field!(out, "rdb_current_bgsave_time_sec", if saving { (now_ms - save_started_ms) / 1000 } else { -1 });
    field!(out, "rdb_saves", persistence.saves.load(Ordering::Relaxed));
    field!(out, "rdb_last_cow_size", persistence.rdb_last_cow_bytes.load(Ordering::Relaxed));
    field!(out, "rdb_last_load_keys_expired", persistence.last_load_keys_expired.load(Ordering::Relaxed));
    field!(out, "rdb_last_load_keys_loaded", persistence.last_load_keys_loaded.load(Ordering::Relaxed));
    let aof = persistence.aof();
    field!(out, "aof_enabled", aof.is_some() as u8);
    field!(out, "aof_rewrite_in_progress", rewriting as u8);
    field!(out, "aof_rewrite_scheduled", persistence.aof_rewrite_scheduled.load(Ordering::Relaxed) as u8);
    field!(out, "aof_last_rewrite_time_sec", persistence.aof_last_rewrite_secs.load(Ordering::Relaxed));
    field!(out, "aof_current_rewrite_time_sec", if rewriting { (now_ms - save_started_ms) / 1000 } else { -1 });
    let rewrite_ok = persistence.aof_last_rewrite_ok.load(Ordering::Relaxed);
    field!(out, "aof_last_bgrewrite_status", if rewrite_ok { "ok" } else { "err" });
    field!(out, "aof_rewrites", persistence.aof_rewrites.load(Ordering::Relaxed));
    field!(out, "aof_rewrites_consecutive_failures", persistence.aof_rewrite_failures.load(Ordering::Relaxed));
    let write_ok = persistence.aof_write_ok.load(Ordering::Relaxed);
    field!(out, "aof_last_write_status", if write_ok { "ok" } else { "err" });
    field!(out, "aof_last_cow_size", persistence.aof_last_cow_bytes.load(Ordering::Relaxed));
    if let Some(aof) = aof {
        field!(out, "aof_current_size", aof.current_size.load(Ordering::Relaxed));
        field!(out, "aof_base_size", aof.base_size.load(Ordering::Relaxed));
        field!(out, "aof_pending_rewrite", persistence.aof_rewrite_scheduled.load(Ordering::Relaxed) as u8);
        field!(out, "aof_buffer_length", aof.appended() - aof.durable());
        field!(out, "aof_pending_bio_fsync", 0);
        field!(out, "aof_delayed_fsync", 0);
    }
    field!(out, "module_fork_in_progress", 0);
    field!(out, "module_fork_last_cow_size", 0);
}

fn stats_section(server: &Server, out: &mut String) {
    let stats = &server.engine.stats;
    out.push_str("# Stats\r\n");
    field!(out, "total_connections_received", stats.get(Stat::ConnectionsReceived));
    field!(out, "total_commands_processed", stats.get(Stat::CommandsProcessed));
    field!(out, "instantaneous_ops_per_sec", server.ops_per_sec.load(std::sync::atomic::Ordering::Relaxed));
    field!(out, "total_net_input_bytes", stats.get(Stat::NetInputBytes));
    field!(out, "total_net_output_bytes", stats.get(Stat::NetOutputBytes));
    field!(out, "total_net_repl_input_bytes", 0);
    field!(out, "total_net_repl_output_bytes", 0);
    field!(out, "instantaneous_input_kbps", "0.00");
    field!(out, "instantaneous_output_kbps", "0.00");
    field!(out, "instantaneous_input_repl_kbps", "0.00");
    field!(out, "instantaneous_output_repl_kbps", "0.00");
    field!(out, "rejected_connections", stats.get(Stat::RejectedConnections));
    field!(out, "sync_full", server.replicas.full_syncs());
    field!(out, "sync_partial_ok", server.replicas.partial_ok());
    field!(out, "sync_partial_err", server.replicas.partial_err());
    field!(out, "expired_keys", stats.get(Stat::ExpiredKeys));
    field!(out, "expired_stale_perc", "0.00");
    field!(out, "expired_time_cap_reached_count", stats.get(Stat::ExpiredTimeCapReached));
    field!(out, "expire_cycle_cpu_milliseconds", stats.get(Stat::ExpireCycleCpuMicros) / 1000);
    field!(out, "evicted_keys", stats.get(Stat::EvictedKeys));
    field!(out, "evicted_clients", 0);
    field!(out, "total_eviction_exceeded_time", 0);
    field!(out, "current_eviction_exceeded_time", 0);
    field!(out, "keyspace_hits", stats.get(Stat::KeyspaceHits));
    field!(out, "keyspace_misses", stats.get(Stat::KeyspaceMisses));
    use crate::pubsub::Kind;
    field!(out, "pubsub_channels", server.pubsub.count(Kind::Channel));
    field!(out, "pubsub_patterns", server.pubsub.count(Kind::Pattern));
    field!(out, "pubsubshard_channels", server.pubsub.count(Kind::Shard));
    field!(out, "latest_fork_usec", 0);
    field!(out, "total_forks", 0);
    field!(out, "migrate_cached_sockets", server.migrate_sockets.count());
    field!(out, "slave_expires_tracked_keys", server.engine.replica_expires.count());
    field!(out, "active_defrag_hits", 0);
    field!(out, "active_defrag_misses", 0);
    field!(out, "active_defrag_key_hits", 0);
    field!(out, "active_defrag_key_misses", 0);
    field!(out, "total_active_defrag_time", 0);
    field!(out, "current_active_defrag_time", 0);
    field!(out, "tracking_total_keys", server.tracking.keys.load(Ordering::Relaxed));
    field!(out, "tracking_total_items", server.tracking.items.load(Ordering::Relaxed));
    field!(out, "tracking_total_prefixes", server.tracking.prefix_count());
    field!(out, "unexpected_error_replies", stats.get(Stat::UnexpectedErrorReplies));
    field!(out, "total_error_replies", stats.get(Stat::TotalErrorReplies));
    field!(out, "dump_payload_sanitizations", 0);
    field!(out, "total_reads_processed", 0);
    field!(out, "total_writes_processed", 0);
    field!(out, "io_threaded_reads_processed", 0);
    field!(out, "io_threaded_writes_processed", 0);
    field!(out, "reply_buffer_shrinks", 0);
    field!(out, "reply_buffer_expands", 0);
}

fn replication_section(server: &Server, out: &mut String) {
    use crate::state::master::LinkState;
    let propagation = &server.engine.propagation;
    let offset = propagation.offset();
    let now_ms = shoal_engine::now_ms();
    out.push_str("# Replication\r\n");
    if let Some((host, port)) = server.master.master() {
        let link = &server.master;
        let state = link.state();
        field!(out, "role", "slave");
        field!(out, "master_host", host);
        field!(out, "master_port", port);
        field!(out, "master_link_status", if state == LinkState::Connected { "up" } else { "down" });
        let last_io = match state {
            LinkState::Connected => (now_ms - link.last_io_ms.load(Ordering::Relaxed)) / 1000,
            _ => -1,
        };
        field!(out, "master_last_io_seconds_ago", last_io);
        field!(out, "master_sync_in_progress", u8::from(state == LinkState::Transfer));
        field!(out, "slave_read_repl_offset", offset);
        field!(out, "slave_repl_offset", offset);
        if state == LinkState::Transfer {
            let total = link.transfer_size.load(Ordering::Relaxed);
            let read = link.transfer_read.load(Ordering::Relaxed) as i64;
            field!(out, "master_sync_total_bytes", total);
            field!(out, "master_sync_read_bytes", read);
            // As Redis computes them: while the size is unknown (-1) the
            // percentage is -0.00; an EOF-marked payload's size is 0.
            field!(out, "master_sync_left_bytes", total - read);
            let percent = if total != 0 { read as f64 / total as f64 * 100.0 } else { 0.0 };
            field!(out, "master_sync_perc", format!("{percent:.2}"));
            field!(out, "master_sync_last_io_seconds_ago", (now_ms - link.last_io_ms.load(Ordering::Relaxed)) / 1000);
        }
        if state != LinkState::Connected {
            let since = link.down_since_ms.load(Ordering::Relaxed);
            field!(out, "master_link_down_since_seconds", if since == 0 { -1 } else { (now_ms - since) / 1000 });
        }
        field!(out, "slave_priority", server.config.get_int("replica-priority"));
        field!(out, "slave_read_only", u8::from(server.config.get_bool("replica-read-only")));
        field!(out, "replica_announced", u8::from(server.config.get_bool("replica-announced")));
    } else {
        field!(out, "role", "master");
        // Shoal's: shown where fencing is in use (a sentinel reads it).
        let fenced = server.tunables.master_fenced.load(Ordering::Relaxed);
        if fenced || server.config.get_bool("master-fence-on-restart") {
            field!(out, "master_fenced", u8::from(fenced));
        }
    }
    let replicas = server.replicas.all();
    field!(out, "connected_slaves", replicas.len());
    for (i, replica) in replicas.iter().enumerate() {
        let ack_offset = replica.ack_offset.load(Ordering::Relaxed);
        let lag = (now_ms - replica.ack_ms.load(Ordering::Relaxed)).max(0) / 1000;
        let _ = write!(
            out,
            "slave{i}:ip={},port={},state={},offset={ack_offset},lag={lag}\r\n",
            replica.ip,
            replica.port,
            replica.state().name()
        );
    }
    let ids = propagation.ids();
    let backlog = propagation.backlog_info();
    field!(out, "master_failover_state", server.replicas.failover_state().name());
    field!(out, "master_replid", ids.id);
    field!(out, "master_replid2", ids.id2);
    field!(out, "master_repl_offset", offset);
    field!(out, "second_repl_offset", ids.second_offset);
    field!(out, "repl_backlog_active", u8::from(backlog.active));
    field!(out, "repl_backlog_size", server.config.get_int("repl-backlog-size"));
    field!(out, "repl_backlog_first_byte_offset", backlog.first_byte);
    field!(out, "repl_backlog_histlen", backlog.histlen);
}

fn cpu_section(out: &mut String) {
    let usage = |who| {
        // SAFETY: getrusage fills the struct.
        let mut r: libc::rusage = unsafe { std::mem::zeroed() };
        unsafe { libc::getrusage(who, &mut r) };
        let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
        (secs(r.ru_stime), secs(r.ru_utime))
    };
    let (sys, user) = usage(libc::RUSAGE_SELF);
    let (csys, cuser) = usage(libc::RUSAGE_CHILDREN);
    let (tsys, tuser) = usage(libc::RUSAGE_THREAD);
    out.push_str("# CPU\r\n");
    field!(out, "used_cpu_sys", format!("{sys:.6}"));
    field!(out, "used_cpu_user", format!("{user:.6}"));
    field!(out, "used_cpu_sys_children", format!("{csys:.6}"));
    field!(out, "used_cpu_user_children", format!("{cuser:.6}"));
    field!(out, "used_cpu_sys_main_thread", format!("{tsys:.6}"));
    field!(out, "used_cpu_user_main_thread", format!("{tuser:.6}"));
}

fn errorstats_section(server: &Server, out: &mut String) {
    out.push_str("# Errorstats\r\n");
    let stats = server.error_stats.lock();
    let mut codes: Vec<_> = stats.iter().collect();
    codes.sort();
    for (code, count) in codes {
        let _ = write!(out, "errorstat_{code}:count={count}\r\n");
    }
}

fn keyspace_section(counts: &[(usize, usize)], out: &mut String) {
    out.push_str("# Keyspace\r\n");
    for (db, (keys, expires)) in counts.iter().enumerate() {
        if *keys > 0 {
            let _ = write!(out, "db{db}:keys={keys},expires={expires},avg_ttl=0\r\n");
        }
    }
}

fn commandstats_section(server: &Server, out: &mut String) {
    out.push_str("# Commandstats\r\n");
    for cmd in table().all() {
        let c = server.counters(cmd.id);
        let calls = c.calls.load(Ordering::Relaxed);
        let rejected = c.rejected.load(Ordering::Relaxed);
        let failed = c.failed.load(Ordering::Relaxed);
        if calls == 0 && rejected == 0 && failed == 0 {
            continue;
        }
        let nanos = c.nanos.load(Ordering::Relaxed);
        let usec = nanos / 1000;
        let per_call = if calls > 0 { nanos as f64 / 1000.0 / calls as f64 } else { 0.0 };
        let _ = write!(
            out,
            "cmdstat_{}:calls={calls},usec={usec},usec_per_call={per_call:.2},rejected_calls={rejected},failed_calls={failed}\r\n",
            cmd.name
        );
    }
}

pub fn register(r: &mut Registrar) {
    r.all("info", info);
}
