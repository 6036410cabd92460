//! Snapshots to disk: SAVE, BGSAVE, the `save` points, saving at
//! shutdown and FLUSHALL's save, and the MISCONF refusal after a failed
//! background save.
//!
//! BGSAVE does not fork: it takes its cut with every shard locked and lets
//! `shoal_engine::snapshot` serialize each shard before its first change
//! while a `shoal-bgsave` thread walks the rest (see ARCHITECTURE.md,
//! "Snapshots without fork").

pub mod aof;
pub mod load;
pub mod rdb_file;

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::Duration;

use shoal_engine::snapshot::{ChunkSink, Snapshot};
use shoal_engine::{ShardIndex, ShardLocks, SHARD_COUNT};

use crate::server::Server;
use crate::state::persistence::{Running, SnapshotKind};
use rdb_file::{Format, RdbFile};

/// A failed background save is retried by the save points only after this
/// long (Redis's CONFIG_BGSAVE_RETRY_DELAY).
const RETRY_DELAY_MS: i64 = 5000;

pub const ALREADY_IN_PROGRESS: &str = "Background save already in progress";
pub const AOF_ALREADY_IN_PROGRESS: &str = "Background append only file rewriting already in progress";
pub const ANOTHER_CHILD: &str = "Another child process is active (AOF?): can't BGSAVE right now. Use BGSAVE SCHEDULE in order to schedule a BGSAVE whenever possible.";

/// Loads the dataset at start-up (the append-only file when `appendonly`
/// is on, else the RDB file if there is one), then turns the append-only
/// file on when configured. Clients may connect meanwhile: they get
/// `-LOADING`. An error with an empty message was logged already.
pub fn startup(server: &Server) -> Result<(), String> {
    let started = std::time::Instant::now();
    if server.config.get_bool("appendonly") {
        let mut manifest = aof::manifest_on_disk(server)?;
        aof::upgrade_old_file(server, &mut manifest)?;
        // Clients get -LOADING until the file is on (with the start-up's
        // own guard): a write served before would be in no file.
        let _loading = load::LoadingGuard::begin(server, load::aof_bytes(server, &manifest));
        if manifest.is_empty() {
            aof::create_base_on_start(server, &mut manifest)?;
        } else {
            // The failure is logged as Redis logs it, its reason last.
            load::replay_aof(server, &manifest).map_err(|_| String::new())?;
            server
                .log
                .notice(&format!("DB loaded from append only file: {:.3} seconds", started.elapsed().as_secs_f64()));
        }
        aof::turn_on(server, manifest, false)?;
        aof::delete_history(server);
    } else {
        let path = rdb_path(server);
        if path.exists() {
            let mut loaded = match load::load_rdb_file(server, &path) {
                Ok(loaded) => loaded,
                Err(e) if e.corrupt => return Err(rdb_read_failure(server, &path, &e.message)),
                Err(e) => return Err(e.message),
            };
            let persistence = &server.persistence;
            persistence.last_load_keys_loaded.store(loaded.keys, Ordering::Relaxed);
            persistence.last_load_keys_expired.store(loaded.expired, Ordering::Relaxed);
            let (keys, expired) = (loaded.keys, loaded.expired);
            server.persistence.loaded_replication.lock().expired_keys = std::mem::take(&mut loaded.expired_keys);
            if loaded.empty_skipped > 0 {
                server.log.warning(&format!(
                    "Done loading RDB, keys loaded: {keys}, keys expired: {expired}, empty keys skipped: {}.",
                    loaded.empty_skipped
                ));
            } else {
                server.log.notice(&format!("Done loading RDB, keys loaded: {keys}, keys expired: {expired}."));
            }
            server.log.notice(&format!("DB loaded from disk: {:.3} seconds", started.elapsed().as_secs_f64()));
        }
    }
    // What was loaded is what is on disk.
    server.engine.reset_dirty(server.engine.dirty());
    Ok(())
}

/// True when start-up finds no file to load (so it takes no time).
pub fn nothing_to_load(server: &Server) -> bool {
    if server.config.get_bool("appendonly") {
        let old_single_file = PathBuf::from(server.config.get_string("appendfilename")).exists();
        !old_single_file && aof::manifest_on_disk(server).is_ok_and(|m| m.is_empty())
    } else {
        !rdb_path(server).exists()
    }
}

/// What start-up logs when the RDB file's data is bad, before it exits:
/// the error, then the whole file's check (as redis-server runs
/// redis-check-rdb); returns the last line, which the caller logs.
fn rdb_read_failure(server: &Server, path: &std::path::Path, message: &str) -> String {
    server.log.warning(message);
    let name = path.display().to_string();
    let now_ms = shoal_engine::now_ms();
    match std::fs::File::open(path) {
        Ok(file) => {
            let source = std::io::BufReader::new(file);
            let _ = shoal_persist::rdb::check::check(source, &name, now_ms, &mut |line| server.log.warning(&line));
        }
        Err(e) => server.log.warning(&format!("Cannot open {name} to check it: {e}")),
    }
    RDB_READ_FAILURE.to_string()
}

/// The last line logged when start-up fails on bad RDB data (the
/// suite looks for it); nothing follows it.
pub const RDB_READ_FAILURE: &str = "Terminating server after rdb file reading failure.";

/// An I/O error as C's strerror spells it (without Rust's "(os error N)"),
/// for the log lines Redis writes.
pub fn strerror(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.rfind(" (os error ") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}

/// The RDB file, relative to the working directory (`dir`).
pub fn rdb_path(server: &Server) -> PathBuf {
    PathBuf::from(server.config.get_string("dbfilename"))
}

/// True when the `save` directive has at least one save point.
fn save_points(server: &Server) -> Vec<(u64, u64)> {
    match server.config.get("save") {
        crate::config::Value::Save(points) => points,
        _ => Vec::new(),
    }
}

/// Keys in every database (held by `locks`).
fn key_count(locks: &ShardLocks<'_>) -> u64 {
    locks.iter().map(|s| s.dbs.iter().map(|d| d.len() as u64).sum::<u64>()).sum()
}

/// What `rdb-key-save-delay` and `key-load-delay` (non-zero) mean per
/// key: microseconds, or when negative nanoseconds, as in Redis.
pub(crate) fn delay_per_key(setting: i64) -> Duration {
    if setting > 0 {
        Duration::from_micros(setting as u64)
    } else {
        Duration::from_nanos(setting.unsigned_abs())
    }
}

/// Sleeps as `rdb-key-save-delay` asks for `keys` keys (microseconds per
/// key; a negative value is nanoseconds, as in Redis), in short steps that
/// see the setting change (lowered to 0: the save goes on at once) and the
/// save being `cancelled`.
fn key_save_delay(server: &Server, keys: u64, cancelled: &dyn Fn() -> bool) {
    let started = std::time::Instant::now();
    loop {
        let delay = server.config.get_int("rdb-key-save-delay");
        if delay == 0 || keys == 0 || cancelled() {
            return;
        }
        let per_key = delay_per_key(delay);
        let Some(left) = (per_key * keys as u32).checked_sub(started.elapsed()).filter(|d| !d.is_zero()) else {
            return;
        };
        std::thread::sleep(left.min(Duration::from_millis(10)));
    }
}

/// After a successful save that began at `dirty_before` changes.
fn saved(server: &Server, dirty_before: u64) {
    server.engine.reset_dirty(dirty_before);
    server.engine.last_save.store(shoal_engine::now_ms() / 1000, Ordering::Relaxed);
    server.persistence.saves.fetch_add(1, Ordering::Relaxed);
}

/// SAVE (and the saves of SHUTDOWN and FLUSHALL): writes the dataset with
/// every shard held by the caller.
pub fn save(server: &Server, locks: &ShardLocks<'_>) -> Result<(), String> {
    let dirty_before = server.engine.dirty();
    let target = rdb_path(server);
    write_now(server, locks, target.clone(), Format::Rdb).map_err(|e| save_failed(server, &target, e))?;
    server.log.notice("DB saved on disk");
    saved(server, dirty_before);
    Ok(())
}

/// Writes the dataset to `target` in `format` on this thread, with every
/// shard held by the caller.
pub fn write_now(server: &Server, locks: &ShardLocks<'_>, target: PathBuf, format: Format) -> std::io::Result<()> {
    let mut file = RdbFile::create(server, target, false, format)?;
    let serializer = format.serializer(server);
    let mut chunk = Vec::new();
    for index in 0..SHARD_COUNT as ShardIndex {
        chunk.clear();
        let keys = serializer.serialize(index, locks.shard_ref(index), &mut chunk);
        if let Err(e) = file.write_chunk(&chunk) {
            Box::new(file).abandon();
            return Err(e);
        }
        key_save_delay(server, keys, &|| false);
    }
    Box::new(file).finish()
}

fn save_failed(server: &Server, target: &std::path::Path, e: std::io::Error) -> String {
    let message = format!("Failed saving the DB to {}: {e}", target.display());
    server.log.warning(&message);
    message
}

/// BGSAVE: takes the cut now (every shard is held by the caller) and
/// writes the file on a thread of its own.
pub fn bgsave(server: &Server, locks: &ShardLocks<'_>) -> Result<(), String> {
    let now_ms = shoal_engine::now_ms();
    server.persistence.last_attempt_ms.store(now_ms, Ordering::Relaxed);
    server.persistence.scheduled.store(false, Ordering::Relaxed);
    let dirty_before = server.engine.dirty();
    let done = move |server: &Server, result: std::io::Result<()>, cancelled: bool, started_ms: i64| {
        let persistence = &server.persistence;
        persistence.last_bgsave_secs.store((shoal_engine::now_ms() - started_ms) / 1000, Ordering::Relaxed);
        match result {
            Ok(()) => {
                server.log.notice("DB saved on disk");
                saved(server, dirty_before);
                persistence.last_bgsave_ok.store(true, Ordering::Relaxed);
                server.log.notice("Background saving terminated with success");
            }
            // Killed on purpose (FLUSHALL, SHUTDOWN): not an error, as in Redis.
            Err(_) if cancelled => server.log.warning("Background saving terminated by signal 10"),
            Err(e) => {
                server.log.warning(&format!("Write error saving DB on disk: {e}"));
                persistence.last_bgsave_ok.store(false, Ordering::Relaxed);
                server.log.warning("Background saving error");
            }
        }
    };
    let target = rdb_path(server);
    match start_snapshot(server, locks, SnapshotKind::Rdb, Format::Rdb, target.clone(), Box::new(done))? {
        Some(()) => server.log.notice(&format!("Background saving started by pid {}", std::process::id())),
        None => {
            // The file could not even be created: Redis's child fails the
            // same way, after the reply.
            server.persistence.last_bgsave_ok.store(false, Ordering::Relaxed);
            server.log.warning("Background saving error");
        }
    }
    Ok(())
}

/// What runs when a background snapshot ends: the result, whether it was
/// cancelled, and when it started.
pub type Done = Box<dyn FnOnce(&Server, std::io::Result<()>, bool, i64) + Send>;

/// Starts a background snapshot of `kind` into the file `target` in
/// `format`, taking its cut now (the caller holds every shard). Ok(None)
/// when the file could not be created (logged); Err when another snapshot
/// runs.
pub fn start_snapshot(
    server: &Server,
    locks: &ShardLocks<'_>,
    kind: SnapshotKind,
    format: Format,
    target: PathBuf,
    done: Done,
) -> Result<Option<()>, String> {
    let running = server.persistence.running.lock();
    if let Some(other) = running.as_ref() {
        return Err(match (other.kind, kind) {
            (SnapshotKind::Rdb, SnapshotKind::Rdb) => ALREADY_IN_PROGRESS.to_string(),
            (SnapshotKind::AofRewrite, SnapshotKind::AofRewrite) => AOF_ALREADY_IN_PROGRESS.to_string(),
            _ => ANOTHER_CHILD.to_string(),
        });
    }
    let file = match RdbFile::create(server, target.clone(), true, format) {
        Ok(file) => file,
        Err(e) => {
            save_failed(server, &target, e);
            return Ok(None);
        }
    };
    drop(running);
    start_snapshot_into(server, locks, kind, format.serializer(server), Box::new(file), done).map(Some)
}

/// Starts a background snapshot of `kind` whose chunks go to `sink` (a
/// file, or replicas' sockets for a diskless sync), taking its cut now
/// (the caller holds every shard). Err when another snapshot runs.
pub fn start_snapshot_into(
    server: &Server,
    locks: &ShardLocks<'_>,
    kind: SnapshotKind,
    serializer: Box<dyn shoal_engine::snapshot::ShardSerializer>,
    sink: Box<dyn ChunkSink>,
    done: Done,
) -> Result<(), String> {
    let mut running = server.persistence.running.lock();
    if running.is_some() {
        sink.abandon();
        return Err(ALREADY_IN_PROGRESS.to_string());
    }
    let started_ms = shoal_engine::now_ms();
    let keys_total = key_count(locks);
    let snapshot = Snapshot::begin(&server.engine, locks, serializer, sink);
    *running = Some(Running { kind, snapshot: snapshot.clone(), started_ms, keys_total });
    let server = server.arc();
    let spawned = std::thread::Builder::new().name("shoal-snapshot".into()).spawn({
        let server = server.clone();
        let snapshot = snapshot.clone();
        move || {
            let mut paced = 0;
            let result = snapshot.run(&server.engine, |s| {
                let keys = s.progress.keys.load(Ordering::Relaxed);
                key_save_delay(&server, keys - paced, &|| s.is_cancelled());
                paced = keys;
            });
            let early = snapshot.progress.early_bytes.load(Ordering::Relaxed);
            match kind {
                SnapshotKind::Rdb => server.persistence.rdb_last_cow_bytes.store(early, Ordering::Relaxed),
                SnapshotKind::AofRewrite => server.persistence.aof_last_cow_bytes.store(early, Ordering::Relaxed),
            }
            // The save counts as running until its outcome is installed
            // (a rewrite's manifest): INFO's *_in_progress then tells a
            // client the files are in their final state.
            done(&server, result, snapshot.is_cancelled(), started_ms);
            *server.persistence.running.lock() = None;
        }
    });
    if let Err(e) = spawned {
        // The hook is installed: without its thread the snapshot must go
        // (cancelled, the walk stops before taking any shard).
        snapshot.cancel();
        let _ = snapshot.run(&server.engine, |_| {});
        *running = None;
        return Err(format!("Can't save in background: {e}"));
    }
    Ok(())
}

/// Stops a running background save (its temporary file is removed).
pub fn kill_bgsave(server: &Server) {
    if let Some(running) = &*server.persistence.running.lock() {
        if running.kind == SnapshotKind::Rdb {
            server.log.warning("Killing the running background save");
            running.snapshot.cancel();
        }
    }
}

/// The save points and BGSAVE SCHEDULE, checked by the cron thread.
pub fn cron(server: &Server) {
    let persistence = &server.persistence;
    if persistence.running_kind().is_some() || persistence.is_loading() || server.engine.keyspace.exclusive().is_some()
    {
        return;
    }
    if aof::cron(server) {
        return;
    }
    let now_ms = shoal_engine::now_ms();
    let may_retry = persistence.last_bgsave_ok.load(Ordering::Relaxed)
        || now_ms - persistence.last_attempt_ms.load(Ordering::Relaxed) > RETRY_DELAY_MS;
    if !may_retry {
        return;
    }
    let dirty = server.engine.dirty();
    let since_save = now_ms / 1000 - server.engine.last_save.load(Ordering::Relaxed);
    let due = save_points(server).into_iter().find(|&(secs, changes)| dirty >= changes && since_save >= secs as i64);
    if let Some((secs, changes)) = due {
        server.log.notice(&format!("{changes} changes in {secs} seconds. Saving..."));
    } else if !persistence.scheduled.load(Ordering::Relaxed) {
        return;
    }
    let locks = server.engine.keyspace.lock_all();
    if let Err(e) = bgsave(server, &locks) {
        server.log.warning(&e);
    }
}

/// The save before exiting (SHUTDOWN, SIGTERM): a running background save
/// is stopped first. `Err` means the server must not exit.
pub fn save_before_exit(server: &Server, locks: &ShardLocks<'_>) -> Result<(), String> {
    kill_bgsave(server);
    server.log.notice("Saving the final RDB snapshot before exiting.");
    save(server, locks).inspect_err(|_| server.log.warning("Error trying to save the DB, can't exit."))
}

/// A running background snapshot, for INFO.
#[derive(Default)]
pub struct SaveProgress {
    pub kind: Option<SnapshotKind>,
    pub started_ms: i64,
    pub keys_saved: u64,
    pub keys_total: u64,
    /// Bytes serialized early for writes (current_cow_size).
    pub early_bytes: u64,
}

/// The background snapshot in progress (all zero when none runs).
pub fn save_progress(server: &Server) -> SaveProgress {
    match &*server.persistence.running.lock() {
        Some(r) => SaveProgress {
            kind: Some(r.kind),
            started_ms: r.started_ms,
            keys_saved: r.snapshot.progress.keys.load(Ordering::Relaxed),
            keys_total: r.keys_total,
            early_bytes: r.snapshot.progress.early_bytes.load(Ordering::Relaxed),
        },
        None => SaveProgress::default(),
    }
}
