//! Snapshots to disk: SAVE, BGSAVE, the `save` points, saving at
//! shutdown and FLUSHALL's save, and the MISCONF refusal after a failed
//! background save.
//!
//! BGSAVE does not fork: it takes its cut with every shard locked and lets
//! `shoal_engine::snapshot` serialize each shard before its first change
//! while a `shoal-bgsave` thread walks the rest (see ARCHITECTURE.md,
//! "Snapshots without fork").

pub mod rdb_file;

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::Duration;

use shoal_engine::snapshot::{ChunkSink, ShardSerializer, Snapshot};
use shoal_engine::{ShardIndex, ShardLocks, SHARD_COUNT};

use crate::server::Server;
use crate::state::persistence::Running;
use rdb_file::{RdbFile, RdbShards};

/// A failed background save is retried by the save points only after this
/// long (Redis's CONFIG_BGSAVE_RETRY_DELAY).
const RETRY_DELAY_MS: i64 = 5000;

pub const ALREADY_IN_PROGRESS: &str = "Background save already in progress";

/// The RDB file, relative to the working directory (`dir`).
pub fn rdb_path(server: &Server) -> PathBuf {
    PathBuf::from(server.config.get_string("dbfilename"))
}

/// True when the `save` directive has at least one save point.
pub fn has_save_points(server: &Server) -> bool {
    !save_points(server).is_empty()
}

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

/// Sleeps as `rdb-key-save-delay` asks for `keys` keys (microseconds per
/// key; a negative value is nanoseconds, as in Redis).
fn key_save_delay(server: &Server, keys: u64) {
    let delay = server.config.get_int("rdb-key-save-delay");
    if delay != 0 && keys > 0 {
        let per_key = if delay > 0 { Duration::from_micros(delay as u64) } else { Duration::from_nanos(delay.unsigned_abs()) };
        std::thread::sleep(per_key * keys as u32);
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
    let mut file = RdbFile::create(server, target.clone(), false).map_err(|e| save_failed(server, &target, e))?;
    let serializer = RdbShards { dbs: server.engine.db_count() };
    let mut chunk = Vec::new();
    for index in 0..SHARD_COUNT as ShardIndex {
        chunk.clear();
        let keys = serializer.serialize(index, locks.shard_ref(index), &mut chunk);
        if let Err(e) = file.write_chunk(&chunk) {
            Box::new(file).abandon();
            return Err(save_failed(server, &target, e));
        }
        key_save_delay(server, keys);
    }
    Box::new(file).finish().map_err(|e| save_failed(server, &target, e))?;
    server.log.notice("DB saved on disk");
    saved(server, dirty_before);
    Ok(())
}

fn save_failed(server: &Server, target: &std::path::Path, e: std::io::Error) -> String {
    let message = format!("Failed saving the DB to {}: {e}", target.display());
    server.log.warning(&message);
    message
}

/// BGSAVE: takes the cut now (every shard is held by the caller) and
/// writes the file on a thread of its own.
pub fn bgsave(server: &Server, locks: &ShardLocks<'_>) -> Result<(), String> {
    let mut running = server.persistence.running.lock();
    if running.is_some() {
        return Err(ALREADY_IN_PROGRESS.to_string());
    }
    let now_ms = shoal_engine::now_ms();
    server.persistence.last_attempt_ms.store(now_ms, Ordering::Relaxed);
    server.persistence.scheduled.store(false, Ordering::Relaxed);
    let target = rdb_path(server);
    let file = match RdbFile::create(server, target.clone(), true) {
        Ok(file) => file,
        Err(e) => {
            // Redis's child fails the same way after the reply.
            save_failed(server, &target, e);
            server.persistence.last_bgsave_ok.store(false, Ordering::Relaxed);
            server.log.warning("Background saving error");
            return Ok(());
        }
    };
    let dirty_before = server.engine.dirty();
    let keys_total = key_count(locks);
    let serializer = RdbShards { dbs: server.engine.db_count() };
    let snapshot = Snapshot::begin(&server.engine, locks, Box::new(serializer), Box::new(file));
    *running = Some(Running { snapshot: snapshot.clone(), started_ms: now_ms, keys_total });
    let server = server.arc();
    server.log.notice(&format!("Background saving started by pid {}", std::process::id()));
    let spawned = std::thread::Builder::new().name("shoal-bgsave".into()).spawn({
        let server = server.clone();
        let snapshot = snapshot.clone();
        move || {
            let mut paced = 0;
            let result = snapshot.run(&server.engine, |s| {
                let keys = s.progress.keys.load(Ordering::Relaxed);
                key_save_delay(&server, keys - paced);
                paced = keys;
            });
            finish_bgsave(&server, &snapshot, result, dirty_before, now_ms);
        }
    });
    if let Err(e) = spawned {
        // The hook is installed: without its thread the snapshot must go.
        snapshot.cancel();
        drop(running);
        let _ = snapshot.run(&server.engine, |_| {});
        *server.persistence.running.lock() = None;
        server.persistence.last_bgsave_ok.store(false, Ordering::Relaxed);
        return Err(format!("Can't save in background: {e}"));
    }
    Ok(())
}

fn finish_bgsave(server: &Server, snapshot: &Snapshot, result: std::io::Result<()>, dirty_before: u64, started_ms: i64) {
    let persistence = &server.persistence;
    let elapsed = (shoal_engine::now_ms() - started_ms) / 1000;
    persistence.last_bgsave_secs.store(elapsed, Ordering::Relaxed);
    match result {
        Ok(()) => {
            server.log.notice("DB saved on disk");
            saved(server, dirty_before);
            persistence.last_bgsave_ok.store(true, Ordering::Relaxed);
            server.log.notice("Background saving terminated with success");
        }
        // Killed on purpose (FLUSHALL, SHUTDOWN): not an error, as in Redis.
        Err(_) if snapshot.is_cancelled() && persistence.last_bgsave_ok.load(Ordering::Relaxed) => {
            server.log.warning("Background saving terminated by signal 10");
        }
        Err(e) => {
            server.log.warning(&format!("Write error saving DB on disk: {e}"));
            persistence.last_bgsave_ok.store(false, Ordering::Relaxed);
            server.log.warning("Background saving error");
        }
    }
    *persistence.running.lock() = None;
}

/// Stops a running background save (its temporary file is removed).
pub fn kill_bgsave(server: &Server) {
    if let Some(running) = &*server.persistence.running.lock() {
        server.log.warning("Killing the running background save");
        running.snapshot.cancel();
    }
}

/// The save points and BGSAVE SCHEDULE, checked by the cron thread.
pub fn cron(server: &Server) {
    let persistence = &server.persistence;
    if persistence.in_progress() || persistence.is_loading() || server.engine.keyspace.exclusive().is_some() {
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

/// MISCONF: after a failed background save, with save points and
/// `stop-writes-on-bgsave-error yes`, writes are refused.
#[inline]
pub fn writes_refused(server: &Server) -> bool {
    !server.persistence.last_bgsave_ok.load(Ordering::Relaxed)
        && server.config.get_bool("stop-writes-on-bgsave-error")
        && has_save_points(server)
}

pub const MISCONF: &str = "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. Commands that may modify the data set are disabled, because this instance is configured to report errors during writes if RDB snapshotting fails (stop-writes-on-bgsave-error option). Please check the Redis logs for details about the RDB error.";

/// The save before exiting (SHUTDOWN, SIGTERM): a running background save
/// is stopped first. `Err` means the server must not exit.
pub fn save_before_exit(server: &Server, locks: &ShardLocks<'_>) -> Result<(), String> {
    kill_bgsave(server);
    server.log.notice("Saving the final RDB snapshot before exiting.");
    save(server, locks).inspect_err(|_| server.log.warning("Error trying to save the DB, can't exit."))
}

/// Keys saved so far and in all, for INFO (0, 0 when no save runs).
pub fn save_progress(server: &Server) -> (u64, u64, i64) {
    match &*server.persistence.running.lock() {
        Some(r) => (r.snapshot.progress.keys.load(Ordering::Relaxed), r.keys_total, r.started_ms),
        None => (0, 0, 0),
    }
}
