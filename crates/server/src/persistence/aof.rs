//! The append-only file's life: on at start-up or by CONFIG SET
//! appendonly yes (whose base a rewrite makes), off, BGREWRITEAOF (without
//! fork: a snapshot is the new base while appends go to a new incr file),
//! the automatic rewrite, and MISCONF after a write error. The file itself
//! is `state::aof::Aof`; the formats are `shoal_persist::aof`.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use shoal_engine::ShardLocks;
use shoal_persist::aof::manifest::temp_incr_name;
use shoal_persist::aof::{AofFile, Disk, FileKind, Manifest, RealDisk};

use super::rdb_file::Format;
use crate::server::Server;
use crate::state::aof::{Aof, Fsync};
use crate::state::persistence::{AofOn, SnapshotKind};

/// Failed rewrites in a row after which automatic ones back off.
const LIMIT_AFTER_FAILURES: u64 = 3;
const LIMIT_MAX_MINUTES: i64 = 60;

pub const REWRITE_SCHEDULED: &str = "Background append only file rewriting scheduled";
pub const REWRITE_STARTED: &str = "Background append only file rewriting started";

pub fn dir(server: &Server) -> PathBuf {
    PathBuf::from(server.config.get_string("appenddirname"))
}

pub fn prefix(server: &Server) -> String {
    server.config.get_string("appendfilename")
}

fn disk() -> Arc<dyn Disk> {
    Arc::new(RealDisk)
}

/// The manifest on disk, or an empty one (nothing written yet).
pub fn manifest_on_disk(server: &Server) -> Result<Manifest, String> {
    match Manifest::load(&*disk(), &dir(server), &prefix(server)) {
        Ok(None) => Ok(Manifest::default()),
        Ok(Some(Ok(manifest))) => Ok(manifest),
        Ok(Some(Err(e))) => Err(e.to_string()),
        Err(e) => Err(e.to_string()),
    }
}

/// Redis 7.0's upgrade of a single-file AOF from an older version: an
/// `appendfilename` file in the working directory becomes the base of a
/// new manifest and moves into `appenddirname`. Done when the directory
/// does not exist, when its manifest lists no base or incr file, or when
/// an interrupted upgrade left a manifest whose only file is that base,
/// not moved yet.
pub fn upgrade_old_file(server: &Server, manifest: &mut Manifest) -> Result<(), String> {
    let (dir, name) = (dir(server), prefix(server));
    let old = PathBuf::from(&name);
    if !old.is_file() {
        return Ok(());
    }
    let interrupted = manifest.incr.is_empty()
        && manifest.base.as_ref().is_some_and(|base| base.name == name)
        && !dir.join(&name).is_file();
    if dir.is_dir() && !manifest.is_empty() && !interrupted {
        return Ok(());
    }
    let shown = dir.display();
    match std::fs::create_dir(&dir) {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
            return Err(format!("Can't open or create append-only dir {shown}: {}", super::strerror(&e)));
        }
        _ => {}
    }
    manifest.base = Some(AofFile { name: name.clone(), seq: 1, kind: FileKind::Base });
    manifest.base_seq = 1;
    manifest
        .persist(&*disk(), &dir, &name)
        .map_err(|e| format!("Can't persist the AOF manifest in {shown}: {}", super::strerror(&e)))?;
    std::fs::rename(&old, dir.join(&name)).map_err(|e| {
        format!("Error trying to move the old AOF file {name} into dir {shown}: {}", super::strerror(&e))
    })?;
    server
        .log
        .notice(&format!("Successfully migrated an old-style AOF file ({name}) into the AOF directory ({shown})."));
    Ok(())
}

/// Starting with the file on and nothing to load: the dataset (empty) is
/// written as the first base at once, as Redis does.
pub fn create_base_on_start(server: &Server, manifest: &mut Manifest) -> Result<(), String> {
    let dir = dir(server);
    disk().create_dir(&dir).map_err(|e| {
        format!("Can't open or create append-only dir {}: {}", dir.display(), super::strerror(&e))
    })?;
    let rdb = server.config.get_bool("aof-use-rdb-preamble");
    let name = manifest.new_base(&prefix(server), rdb).to_string();
    let format = if rdb { Format::RdbAofBase } else { Format::AofCommands };
    let locks = server.engine.keyspace.lock_all();
    super::write_now(server, &locks, dir.join(&name), format)
        .map_err(|e| format!("Can't create the AOF base file {name}: {}", super::strerror(&e)))?;
    server.log.notice(&format!("Creating AOF base file {name} on server start"));
    Ok(())
}

/// Turns the file on with `manifest` (appends go to its last incr file,
/// added if it has none; with `temp_incr`, to a temporary incr file the
/// manifest names only once the first rewrite is installed, as Redis does
/// when the file is turned on at run time). Called with every shard held,
/// or before clients are served, so the stream starts exactly after what
/// the base holds.
pub fn turn_on(server: &Server, manifest: Manifest, temp_incr: bool) -> Result<Arc<Aof>, String> {
    let base_size = match &manifest.base {
        Some(base) => disk().size(&dir(server).join(&base.name)).ok().flatten().unwrap_or(0),
        None => 0,
    };
    let fsync = Fsync::parse(&server.config.get_string("appendfsync"));
    let timestamps = server.config.get_bool("aof-timestamp-enabled");
    let write_ok = server.persistence.aof_write_ok.clone();
    write_ok.store(true, Ordering::Relaxed);
    let aof =
        Aof::open(disk(), dir(server), prefix(server), manifest, base_size, fsync, timestamps, write_ok, temp_incr)
            .map_err(|e| format!("Can't open the append-only file: {e}"))?;
    aof.flush_sleep_us.store(server.persistence.aof_flush_sleep_us.load(Ordering::Relaxed), Ordering::Relaxed);
    let weak = Arc::downgrade(&server.arc());
    let log: crate::state::aof::Log = Arc::new(move |line: &str| {
        if let Some(server) = weak.upgrade() {
            server.log.warning(line);
        }
    });
    let writer = aof.spawn_writer(log).map_err(|e| format!("Can't start the AOF writer: {e}"))?;
    server.engine.propagation.set_aof(Some(aof.clone()), || ());
    // Replies wait for their writes to be in the file (synced too under
    // `always`), as Redis writes the file before it replies.
    server.persistence.aof_wait.store(true, Ordering::Relaxed);
    *server.persistence.aof.lock() = Some(AofOn { aof: aof.clone(), writer: Some(writer) });
    Ok(aof)
}

/// Turns the file off (CONFIG SET appendonly no, shutdown): what is
/// buffered is written and synced first; a running rewrite is stopped.
pub fn turn_off(server: &Server) {
    close(server);
    if let Some(running) = &*server.persistence.running.lock() {
        if running.kind == SnapshotKind::AofRewrite {
            server.log.notice(&format!("Killing running AOF rewrite child: {}", std::process::id()));
            running.snapshot.cancel();
        }
    }
}

/// Stops appending: the writer flushes, syncs and ends. A temporary incr
/// file (its first rewrite did not finish, so nothing names what it
/// holds) is removed.
fn close(server: &Server) {
    let Some(mut on) = server.persistence.aof.lock().take() else { return };
    server.persistence.aof_wait.store(false, Ordering::Relaxed);
    server.engine.propagation.set_aof(None, || ());
    on.aof.stop(on.writer.take());
    server.persistence.aof_write_ok.store(true, Ordering::Relaxed);
    if on.aof.files.lock().temp_incr {
        let name = temp_incr_name(&on.aof.prefix);
        server.log.notice(&format!("Removing the temp incr aof file {name} in the background"));
        let _ = std::fs::remove_file(on.aof.dir.join(&name));
    }
}

/// CONFIG SET of the AOF's parameters; `in_exec` when the CONFIG SET is
/// part of a transaction, whose unit already holds some shards.
pub fn config_changed(server: &Server, changed: &[&str], in_exec: bool) {
    if changed.contains(&"aof-disable-auto-gc") {
        delete_history(server);
    }
    if changed.contains(&"appendonly") {
        if server.config.get_bool("appendonly") {
            // The file starts with a rewrite (its base), at once as in
            // Redis, or once a running save ends (the cron thread).
            if server.persistence.aof().is_none() && in_exec {
                // The rewrite's cut needs every shard, and EXEC's unit
                // holds some of them: the cron starts it after EXEC, as
                // Redis defers it out of a transaction too. Its snapshot
                // then holds what the transaction wrote.
                server.persistence.aof_rewrite_scheduled.store(true, Ordering::Relaxed);
                server.log.notice(
                    "AOF turned on inside MULTI/EXEC: the AOF background was scheduled to start when possible.",
                );
            } else if server.persistence.aof().is_none() {
                let started = server.persistence.running_kind().is_none() && {
                    let locks = server.engine.keyspace.lock_all();
                    start_rewrite(server, &locks).inspect_err(|e| server.log.warning(e)).is_ok()
                };
                if !started {
                    server.persistence.aof_rewrite_scheduled.store(true, Ordering::Relaxed);
                }
            }
        } else {
            turn_off(server);
        }
    }
    if let Some(aof) = server.persistence.aof() {
        let fsync = Fsync::parse(&server.config.get_string("appendfsync"));
        aof.set_fsync_policy(fsync);
        aof.timestamps.store(server.config.get_bool("aof-timestamp-enabled"), Ordering::Relaxed);
    }
}

/// BGREWRITEAOF with every shard held: starts the rewrite, or schedules
/// it after a running BGSAVE. Returns the status reply.
pub fn bgrewriteaof(server: &Server, locks: &ShardLocks<'_>) -> Result<&'static str, String> {
    match server.persistence.running_kind() {
        Some(SnapshotKind::AofRewrite) => Err(super::AOF_ALREADY_IN_PROGRESS.to_string()),
        Some(SnapshotKind::Rdb) => {
            server.persistence.aof_rewrite_scheduled.store(true, Ordering::Relaxed);
            // Asked for by hand: not held back by earlier failures.
            server.persistence.aof_rewrite_failures.store(0, Ordering::Relaxed);
            Ok(REWRITE_SCHEDULED)
        }
        None => start_rewrite(server, locks).map(|()| REWRITE_STARTED),
    }
}

/// The rewrite's cut: appends switch to a new incr file and a snapshot of
/// the dataset becomes the new base. When it is written, the manifest
/// names the new base and retires the old base and incr files.
pub fn start_rewrite(server: &Server, locks: &ShardLocks<'_>) -> Result<(), String> {
    server.persistence.aof_rewrite_scheduled.store(false, Ordering::Relaxed);
    let aof = match server.persistence.aof() {
        Some(aof) => Some(aof),
        // CONFIG SET appendonly yes: the file starts with this rewrite,
        // appends going to a temporary incr file meanwhile.
        None if server.config.get_bool("appendonly") => Some(turn_on(server, manifest_on_disk(server)?, true)?),
        None => None,
    };
    let mut manifest = match &aof {
        Some(aof) => {
            if !aof.files.lock().temp_incr {
                server
                    .engine
                    .propagation
                    .new_aof_file(|| aof.switch_incr())
                    .map_err(|e| format!("Can't open a new incr AOF file: {e}"))?;
            }
            aof.files.lock().manifest.clone()
        }
        None => manifest_on_disk(server)?,
    };
    let dir = dir(server);
    disk().create_dir(&dir).map_err(|e| format!("Can't create the AOF directory: {e}"))?;
    let rdb = server.config.get_bool("aof-use-rdb-preamble");
    let format = if rdb { Format::RdbAofBase } else { Format::AofCommands };
    let base_name = manifest.new_base(&prefix(server), rdb).to_string();
    let target = dir.join(&base_name);
    let done: super::Done =
        Box::new(move |server: &Server, result: std::io::Result<()>, cancelled: bool, started_ms: i64| {
            let persistence = &server.persistence;
            persistence.aof_last_rewrite_secs.store((shoal_engine::now_ms() - started_ms) / 1000, Ordering::Relaxed);
            let result = result.map_err(|e| e.to_string()).and_then(|()| install_base(server, &base_name, rdb));
            let result_ok = result.is_ok();
            match result {
                Ok(()) => {
                    persistence.aof_rewrites.fetch_add(1, Ordering::Relaxed);
                    persistence.aof_last_rewrite_ok.store(true, Ordering::Relaxed);
                    persistence.aof_rewrite_failures.store(0, Ordering::Relaxed);
                    server.log.notice("Background AOF rewrite terminated with success");
                    server.log.notice("Background AOF rewrite finished successfully");
                }
                Err(_) if cancelled => server.log.warning("Background AOF rewrite terminated by signal 10"),
                Err(e) => {
                    rewrite_failed(server);
                    server.log.warning(&format!("Background AOF rewrite terminated with error: {e}"));
                }
            }
            if !result_ok && persistence.aof().is_some_and(|aof| aof.files.lock().temp_incr) {
                // The first rewrite of a file turned on at run time failed:
                // its temporary incr file goes, and another rewrite starts
                // the file again.
                close(server);
                persistence.aof_rewrite_scheduled.store(server.config.get_bool("appendonly"), Ordering::Relaxed);
            }
        });
    let started = super::start_snapshot(server, locks, SnapshotKind::AofRewrite, format, target, done);
    if !matches!(started, Ok(Some(()))) && aof.is_some_and(|aof| aof.files.lock().temp_incr) {
        // No rewrite will name the temporary incr file.
        close(server);
    }
    match started? {
        Some(()) => {
            server.log.notice(&format!("Background append only file rewriting started by pid {}", std::process::id()));
            Ok(())
        }
        None => {
            rewrite_failed(server);
            Err("Can't create the AOF base file".to_string())
        }
    }
}

/// The new base is written: the manifest names it, the files it replaces
/// become history and are deleted.
fn install_base(server: &Server, base_name: &str, rdb: bool) -> Result<(), String> {
    let disk = disk();
    let (dir, prefix) = (dir(server), prefix(server));
    let base_size = disk.size(&dir.join(base_name)).ok().flatten().unwrap_or(0);
    let io = |e: std::io::Error| format!("Can't update the AOF manifest: {e}");
    match server.persistence.aof() {
        Some(aof) => {
            let mut files = aof.files.lock();
            let new_name = files.manifest.new_base(&prefix, rdb).to_string();
            debug_assert_eq!(new_name, base_name);
            if files.temp_incr {
                // Every incr file is covered by the base; the temporary
                // one, where appends went since the cut, is named now.
                files.manifest.retire_incr(false);
                let name = files.manifest.add_incr(&prefix).to_string();
                disk.rename(&dir.join(temp_incr_name(&prefix)), &dir.join(name)).map_err(io)?;
                files.temp_incr = false;
            } else {
                files.manifest.retire_incr(true);
            }
            files.manifest.persist(&*disk, &dir, &prefix).map_err(io)?;
            if !server.config.get_bool("aof-disable-auto-gc") {
                files.manifest.delete_history(&*disk, &dir, &prefix).map_err(io)?;
            }
            let incr = files.manifest.incr.last().map(|f| disk.size(&dir.join(&f.name)).ok().flatten().unwrap_or(0));
            aof.base_size.store(base_size, Ordering::Relaxed);
            aof.current_size.store(base_size + incr.unwrap_or(0), Ordering::Relaxed);
        }
        None => {
            let mut manifest = manifest_on_disk(server)?;
            manifest.new_base(&prefix, rdb);
            manifest.retire_incr(false);
            manifest.persist(&*disk, &dir, &prefix).map_err(io)?;
            if !server.config.get_bool("aof-disable-auto-gc") {
                manifest.delete_history(&*disk, &dir, &prefix).map_err(io)?;
            }
        }
    }
    Ok(())
}

/// A scheduled rewrite, or the automatic one (`auto-aof-rewrite-*`);
/// called by the cron thread when no snapshot runs. True if one started.
pub fn cron(server: &Server) -> bool {
    let persistence = &server.persistence;
    let scheduled = persistence.aof_rewrite_scheduled.load(Ordering::Relaxed);
    let growth = persistence.aof().and_then(|aof| {
        let percentage = server.config.get_int("auto-aof-rewrite-percentage");
        let min_size = server.config.get_int("auto-aof-rewrite-min-size").max(0) as u64;
        let current = aof.current_size.load(Ordering::Relaxed);
        let base = aof.base_size.load(Ordering::Relaxed).max(1);
        let growth = (current * 100 / base) as i64 - 100;
        (percentage > 0 && current > min_size && growth >= percentage).then_some(growth)
    });
    if !scheduled && growth.is_none() || rewrite_limited(server) {
        return false;
    }
    if let (false, Some(growth)) = (scheduled, growth) {
        server.log.notice(&format!("Starting automatic rewriting of AOF on {growth}% growth"));
    }
    let locks = server.engine.keyspace.lock_all();
    if let Err(e) = start_rewrite(server, &locks) {
        server.log.warning(&e);
    }
    true
}

fn rewrite_failed(server: &Server) {
    server.persistence.aof_last_rewrite_ok.store(false, Ordering::Relaxed);
    server.persistence.aof_rewrite_failures.fetch_add(1, Ordering::Relaxed);
}

/// After repeated failures, a rewrite the cron thread would start waits:
/// a minute, then twice as long each time, up to an hour. A success or a
/// rewrite asked for by hand ends the back-off.
fn rewrite_limited(server: &Server) -> bool {
    let persistence = &server.persistence;
    let mut limit = persistence.aof_rewrite_limit.lock();
    if persistence.aof_rewrite_failures.load(Ordering::Relaxed) < LIMIT_AFTER_FAILURES {
        *limit = Default::default();
        return false;
    }
    let now = shoal_engine::now_ms();
    if limit.next_ms != 0 {
        if now < limit.next_ms {
            return true;
        }
        limit.next_ms = 0;
        return false;
    }
    limit.delay_minutes = if limit.delay_minutes == 0 { 1 } else { (limit.delay_minutes * 2).min(LIMIT_MAX_MINUTES) };
    limit.next_ms = now + limit.delay_minutes * 60_000;
    server.log.warning(&format!(
        "Background AOF rewrite has repeatedly failed and triggered the limit, will retry in {} minutes",
        limit.delay_minutes
    ));
    true
}

/// Deletes the history files a rewrite retired, unless
/// `aof-disable-auto-gc` keeps them (CONFIG SET back to `no`, start-up).
pub fn delete_history(server: &Server) {
    if server.config.get_bool("aof-disable-auto-gc") {
        return;
    }
    let (dir, prefix) = (dir(server), prefix(server));
    let deleted = match server.persistence.aof() {
        Some(aof) => aof.files.lock().manifest.delete_history(&*disk(), &dir, &prefix),
        None => match manifest_on_disk(server) {
            Ok(mut manifest) if !manifest.history.is_empty() => manifest.delete_history(&*disk(), &dir, &prefix),
            _ => Ok(()),
        },
    };
    if let Err(e) = deleted {
        server.log.warning(&format!("Can't delete the AOF history files: {e}"));
    }
}

