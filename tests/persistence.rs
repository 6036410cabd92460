//! Snapshots to disk: SAVE, BGSAVE taken without fork while writes
//! continue, the save points' bookkeeping, MISCONF after a failed
//! background save, and the saves of SHUTDOWN and FLUSHALL. Files Shoal
//! writes are read back by a real redis-server.

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use shoal_resp::Value;
use support::{simple, RawClient, ServerProcess};

fn wait_for_bgsave(c: &mut RawClient) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while support::persistence_field(c, "rdb_bgsave_in_progress") != "0" {
        assert!(Instant::now() < deadline, "BGSAVE did not end");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Every key of db 0 with its string value, sorted, read from a server.
fn strings_of(c: &mut RawClient) -> Vec<(Vec<u8>, Vec<u8>)> {
    let Value::Array(keys) = c.cmd("KEYS *") else { panic!("KEYS failed") };
    let mut out: Vec<(Vec<u8>, Vec<u8>)> = keys
        .into_iter()
        .map(|k| {
            let Value::Bulk(k) = k else { panic!("key") };
            let Value::Bulk(v) = c.call(&[b"GET", &k]) else { panic!("value of {k:?}") };
            (k, v)
        })
        .collect();
    out.sort();
    out
}

/// Starts redis-server on the dump.rdb in `dir` (read-only use: redis
/// gets its own copy).
fn redis_loading(dir: &Path) -> ServerProcess {
    let copy = tempfile::tempdir().unwrap();
    std::fs::copy(dir.join("dump.rdb"), copy.path().join("dump.rdb")).unwrap();
    let redis = ServerProcess::redis(&["--dir", &copy.path().display().to_string()]);
    drop(copy);
    redis
}

#[test]
fn bgsave_writes_the_data_as_of_its_start_while_writes_continue() {
    let shoal = ServerProcess::shoal(&[]);
    let mut c = shoal.client();
    let n = 5000;
    for i in 0..n {
        c.call(&[b"SET", format!("k{i}").as_bytes(), format!("v{i}").as_bytes()]);
    }
    let before = strings_of(&mut c);
    // Slow enough that the writes below overlap the walk of the shards.
    assert_eq!(c.cmd("CONFIG SET rdb-key-save-delay 100"), simple("OK"));
    assert_eq!(c.cmd("BGSAVE"), simple("Background saving started"));
    assert_eq!(support::persistence_field(&mut c, "rdb_bgsave_in_progress"), "1");
    assert!(matches!(c.cmd("BGSAVE"), Value::Error(e) if e.ends_with(b"Background save already in progress")));
    assert!(matches!(c.cmd("SAVE"), Value::Error(e) if e.ends_with(b"Background save already in progress")));
    // Changes, deletions, new keys, and a whole database emptied, while
    // the save runs.
    for i in (0..n).step_by(7) {
        c.call(&[b"SET", format!("k{i}").as_bytes(), b"changed"]);
        c.call(&[b"DEL", format!("k{}", i + 1).as_bytes()]);
        c.call(&[b"SET", format!("new{i}").as_bytes(), b"new"]);
    }
    assert_eq!(c.cmd("FLUSHDB"), simple("OK"));
    assert_eq!(support::persistence_field(&mut c, "rdb_bgsave_in_progress"), "1", "the save outlasted the writes");
    wait_for_bgsave(&mut c);
    assert_eq!(support::persistence_field(&mut c, "rdb_last_bgsave_status"), "ok");
    assert_eq!(support::persistence_field(&mut c, "rdb_saves"), "1");
    let redis = redis_loading(shoal.dir.path());
    assert_eq!(strings_of(&mut redis.client()), before);
}

#[test]
fn save_resets_the_change_count_and_sets_lastsave() {
    let shoal = ServerProcess::shoal(&[]);
    let mut c = shoal.client();
    for i in 0..100 {
        c.call(&[b"SET", format!("k{i}").as_bytes(), b"v"]);
    }
    assert_eq!(support::persistence_field(&mut c, "rdb_changes_since_last_save"), "100");
    let Value::Int(last) = c.cmd("LASTSAVE") else { panic!("LASTSAVE") };
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(c.cmd("SAVE"), simple("OK"));
    assert_eq!(support::persistence_field(&mut c, "rdb_changes_since_last_save"), "0");
    let Value::Int(now) = c.cmd("LASTSAVE") else { panic!("LASTSAVE") };
    assert!(now > last, "LASTSAVE moved from {last} to {now}");
    let before = strings_of(&mut c);
    let redis = redis_loading(shoal.dir.path());
    assert_eq!(strings_of(&mut redis.client()), before);
}

/// A directory where the RDB file should be makes the rename fail.
fn block_the_rdb_file(server: &ServerProcess) {
    std::fs::create_dir(server.dir.path().join("dump.rdb")).unwrap();
}

#[test]
fn a_failed_bgsave_refuses_writes_while_save_points_exist() {
    let shoal = ServerProcess::shoal(&[]);
    let mut c = shoal.client();
    c.cmd("SET k v");
    block_the_rdb_file(&shoal);
    assert_eq!(c.cmd("BGSAVE"), simple("Background saving started"));
    wait_for_bgsave(&mut c);
    assert_eq!(support::persistence_field(&mut c, "rdb_last_bgsave_status"), "err");
    // No save points (the tests' servers run with save ""): writes go on.
    assert_eq!(c.cmd("SET k v2"), simple("OK"));
    assert_eq!(c.call(&[b"CONFIG", b"SET", b"save", b"3600 1"]), simple("OK"));
    assert!(matches!(c.cmd("SET k v3"), Value::Error(e) if e.starts_with(b"MISCONF ")));
    assert!(matches!(c.cmd("PING"), Value::Error(e) if e.starts_with(b"MISCONF ")));
    assert_eq!(c.cmd("GET k"), support::bulk("v2"), "reads still work");
    assert_eq!(c.cmd("CONFIG SET stop-writes-on-bgsave-error no"), simple("OK"));
    assert_eq!(c.cmd("SET k v3"), simple("OK"));
    // A save that succeeds clears the refusal.
    assert_eq!(c.cmd("CONFIG SET stop-writes-on-bgsave-error yes"), simple("OK"));
    std::fs::remove_dir(shoal.dir.path().join("dump.rdb")).unwrap();
    assert_eq!(c.cmd("BGSAVE"), simple("Background saving started"));
    wait_for_bgsave(&mut c);
    assert_eq!(support::persistence_field(&mut c, "rdb_last_bgsave_status"), "ok");
    assert_eq!(c.cmd("SET k v4"), simple("OK"));
}

#[test]
fn shutdown_saves_with_save_points_and_refuses_to_exit_when_it_cannot() {
    let mut shoal = ServerProcess::shoal(&["--save", "3600 1"]);
    let mut c = shoal.client();
    c.cmd("SET k v");
    block_the_rdb_file(&shoal);
    assert_eq!(c.cmd("SHUTDOWN"), support::error("ERR Errors trying to SHUTDOWN. Check logs."));
    assert!(shoal.alive());
    std::fs::remove_dir(shoal.dir.path().join("dump.rdb")).unwrap();
    c.send(&[b"SHUTDOWN"]);
    assert!(c.closed());
    shoal.wait_exit();
    let redis = redis_loading(shoal.dir.path());
    assert_eq!(redis.client().cmd("GET k"), support::bulk("v"));
}

#[test]
fn sigterm_saves_before_exiting_when_save_points_exist() {
    let mut shoal = ServerProcess::shoal(&["--save", "3600 1"]);
    let mut c = shoal.client();
    c.cmd("SET k v");
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(shoal.pid() as i32, libc::SIGTERM) };
    shoal.wait_exit();
    let redis = redis_loading(shoal.dir.path());
    assert_eq!(redis.client().cmd("GET k"), support::bulk("v"));
}

#[test]
fn a_signal_after_shutdown_abort_asks_for_a_new_shutdown() {
    let mut shoal = ServerProcess::shoal(&["--save", "3600 1", "--enable-debug-command", "yes"]);
    let mut c = shoal.client();
    c.cmd("SET k v");
    assert_eq!(c.cmd("DEBUG PAUSE-CRON 1"), simple("OK"));
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(shoal.pid() as i32, libc::SIGTERM) };
    // The shutdown waits for the paused cron; SHUTDOWN ABORT cancels it
    // once the signal has been taken in.
    let deadline = Instant::now() + Duration::from_secs(10);
    while c.cmd("SHUTDOWN ABORT") != simple("OK") {
        assert!(Instant::now() < deadline, "the SIGTERM never scheduled a shutdown");
        std::thread::sleep(Duration::from_millis(5));
    }
    // Right away, before the cancelled shutdown's wait may have looked
    // again: a SIGINT now is a new request, not the user insisting on the
    // old one (which would exit at once, without saving).
    unsafe { libc::kill(shoal.pid() as i32, libc::SIGINT) };
    std::thread::sleep(Duration::from_millis(200));
    assert!(shoal.alive(), "the SIGINT after SHUTDOWN ABORT made the server exit at once");
    assert_eq!(c.cmd("PING"), simple("PONG"));
    assert_eq!(c.cmd("DEBUG PAUSE-CRON 0"), simple("OK"));
    shoal.wait_exit();
    let redis = redis_loading(shoal.dir.path());
    assert_eq!(redis.client().cmd("GET k"), support::bulk("v"));
}

#[test]
fn shutdown_nosave_writes_no_file() {
    let mut shoal = ServerProcess::shoal(&["--save", "3600 1"]);
    let mut c = shoal.client();
    c.cmd("SET k v");
    c.send(&[b"SHUTDOWN", b"NOSAVE"]);
    assert!(c.closed());
    shoal.wait_exit();
    assert!(!shoal.dir.path().join("dump.rdb").exists());
}

#[test]
fn flushall_saves_and_clears_the_change_count_only_with_save_points() {
    let shoal = ServerProcess::shoal(&[]);
    let mut c = shoal.client();
    c.cmd("SET k v");
    assert_eq!(c.cmd("FLUSHALL"), simple("OK"));
    assert!(support::persistence_field(&mut c, "rdb_changes_since_last_save").parse::<u64>().unwrap() > 0);
    assert!(!shoal.dir.path().join("dump.rdb").exists());
    assert_eq!(c.call(&[b"CONFIG", b"SET", b"save", b"3600 1 300 100"]), simple("OK"));
    c.cmd("SET k v");
    assert_eq!(c.cmd("FLUSHALL"), simple("OK"));
    assert_eq!(support::persistence_field(&mut c, "rdb_changes_since_last_save"), "0");
    assert!(shoal.dir.path().join("dump.rdb").exists());
}

#[test]
fn save_points_start_a_background_save() {
    let shoal = ServerProcess::shoal(&["--save", "1 3"]);
    let mut c = shoal.client();
    for i in 0..3 {
        c.call(&[b"SET", format!("k{i}").as_bytes(), b"v"]);
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while support::persistence_field(&mut c, "rdb_saves") == "0" {
        assert!(Instant::now() < deadline, "no save after 3 changes and 1 second");
        std::thread::sleep(Duration::from_millis(50));
    }
    wait_for_bgsave(&mut c);
    let redis = redis_loading(shoal.dir.path());
    assert_eq!(redis.client().cmd("DBSIZE"), Value::Int(3));
}

/// Redis's unit/shutdown checks this with the save's child pid; Shoal's
/// background save has no child, its temporary file is
/// temp-bgsave-<server pid>.rdb.
#[test]
fn shutdown_nosave_during_a_bgsave_leaves_no_temporary_file() {
    let mut shoal = ServerProcess::shoal(&[]);
    let mut c = shoal.client();
    for i in 0..20 {
        c.call(&[b"SET", format!("k{i}").as_bytes(), b"v"]);
    }
    // 100 ms a key: the save lasts about two seconds.
    c.cmd("CONFIG SET rdb-key-save-delay 100000");
    assert_eq!(c.cmd("BGSAVE"), simple("Background saving started"));
    let temp = shoal.dir.path().join(format!("temp-bgsave-{}.rdb", shoal.pid()));
    let deadline = Instant::now() + Duration::from_secs(10);
    while !temp.exists() {
        assert!(Instant::now() < deadline, "no temporary file while the BGSAVE runs");
        std::thread::sleep(Duration::from_millis(5));
    }
    c.send(&[b"SHUTDOWN", b"NOSAVE"]);
    assert!(c.closed());
    shoal.wait_exit();
    assert!(!temp.exists(), "the cancelled save's temporary file is gone");
    assert!(!shoal.dir.path().join("dump.rdb").exists());
}
