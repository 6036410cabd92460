//! Files both ways with redis-server 7.0, and what survives a restart or
//! a crash: a dump.rdb of every type loaded by the other server (contents,
//! encodings, expiries and DEBUG DIGEST compared), the same for the
//! append-only file (an RDB base plus incr files), `-LOADING` while a
//! load runs, and kill -9 under `appendfsync always` losing nothing that
//! was acknowledged.

mod support;
#[path = "rdb/dataset.rs"]
mod dataset;

use std::path::Path;
use std::time::{Duration, Instant};

use shoal_resp::Value;
use support::{simple, RawClient, ServerProcess};

const DEBUG: [&str; 2] = ["--enable-debug-command", "yes"];

fn args<'a>(dir: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut all = vec!["--dir", dir, "--enable-debug-command", "yes"];
    all.extend_from_slice(extra);
    all
}

fn digest(c: &mut RawClient) -> Value {
    c.cmd("DEBUG DIGEST")
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A client of `server` once it has loaded its dataset (clients are
/// accepted, and get -LOADING, while it loads).
fn loaded(server: &ServerProcess) -> RawClient {
    let mut c = server.client();
    wait_until("the load", || support::persistence_field(&mut c, "loading") == "0");
    c
}

/// Copies every regular file of `from` (and of its appendonlydir) to `to`.
fn copy_dir(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[test]
fn dump_rdb_files_load_both_ways_with_identical_contents_and_digests() {
    let redis = ServerProcess::redis(&DEBUG);
    let mut r = redis.client();
    dataset::build(&mut r);
    assert_eq!(r.cmd("SAVE"), simple("OK"));
    // Shoal starts on redis-server's file.
    let dir = tempfile::tempdir().unwrap();
    copy_dir(redis.dir.path(), dir.path());
    let dir_text = dir.path().display().to_string();
    let shoal = ServerProcess::shoal(&args(&dir_text, &[]));
    let mut s = loaded(&shoal);
    dataset::assert_same(&mut r, &mut s, "redis-server's dump.rdb loaded by Shoal");
    assert_eq!(digest(&mut s), digest(&mut r));
    assert_eq!(support::persistence_field(&mut s, "rdb_last_load_keys_loaded"), {
        let Value::Bulk(text) = r.cmd("INFO keyspace") else { panic!() };
        let total: u64 = String::from_utf8_lossy(&text)
            .lines()
            .filter_map(|l| l.split_once(":keys=").map(|(_, rest)| rest.split(',').next().unwrap().parse::<u64>().unwrap()))
            .sum();
        total.to_string()
    });
    // And redis-server starts on a file Shoal wrote in the background.
    s.cmd("SET written-by shoal");
    assert_eq!(s.cmd("BGSAVE"), simple("Background saving started"));
    wait_until("BGSAVE", || support::persistence_field(&mut s, "rdb_bgsave_in_progress") == "0");
    assert_eq!(support::persistence_field(&mut s, "rdb_last_bgsave_status"), "ok");
    let back = tempfile::tempdir().unwrap();
    std::fs::copy(dir.path().join("dump.rdb"), back.path().join("dump.rdb")).unwrap();
    let back_text = back.path().display().to_string();
    let redis2 = ServerProcess::redis(&args(&back_text, &[]));
    let mut r2 = loaded(&redis2);
    dataset::assert_same(&mut s, &mut r2, "Shoal's dump.rdb loaded by redis-server");
    assert_eq!(digest(&mut r2), digest(&mut s));
    // And Shoal restarts on its own file.
    drop(shoal);
    let shoal2 = ServerProcess::shoal(&args(&dir_text, &[]));
    let mut s2 = loaded(&shoal2);
    dataset::assert_same(&mut r2, &mut s2, "Shoal's dump.rdb loaded by Shoal");
    assert_eq!(digest(&mut s2), digest(&mut r2));
}

#[test]
fn clients_get_loading_while_the_dataset_loads() {
    let dir = tempfile::tempdir().unwrap();
    let dir_text = dir.path().display().to_string();
    let shoal = ServerProcess::shoal(&args(&dir_text, &[]));
    let mut c = shoal.client();
    for i in 0..2000 {
        c.call(&[b"SET", format!("k{i}").as_bytes(), b"v"]);
    }
    assert_eq!(c.cmd("SAVE"), simple("OK"));
    drop(shoal);
    // 2000 keys at a millisecond each: seconds of loading.
    let loading = ServerProcess::shoal(&args(&dir_text, &["--key-load-delay", "1000"]));
    let mut c = loading.client();
    let Value::Error(e) = c.cmd("GET k1") else { panic!("GET answered while loading") };
    assert!(e.starts_with(b"LOADING "), "{}", String::from_utf8_lossy(&e));
    assert_eq!(support::persistence_field(&mut c, "loading"), "1");
    assert!(support::persistence_field(&mut c, "loading_loaded_perc").parse::<f64>().unwrap() < 100.0);
    assert!(matches!(c.cmd("CONFIG GET maxmemory"), Value::Array(_)), "commands flagged loading still run");
    wait_until("the load", || support::persistence_field(&mut c, "loading") == "0");
    assert_eq!(c.cmd("DBSIZE"), Value::Int(2000));
    assert_eq!(c.cmd("GET k1"), support::bulk("v"));
}

/// A stream of INCRs on `keys` keys from `clients` connections until the
/// server dies; returns, per key, the last value each connection was told.
fn incr_until_killed(port: u16, clients: usize, keys: usize) -> Vec<i64> {
    let handles: Vec<_> = (0..clients)
        .map(|n| {
            std::thread::spawn(move || {
                let mut acked = vec![0i64; keys];
                let Ok(mut c) = RawClient::connect(port) else { return acked };
                for i in 0.. {
                    let key = (i * clients + n) % keys;
                    c.send(&[b"INCR", format!("counter:{key}").as_bytes()]);
                    match c.try_read_raw() {
                        Some(raw) if raw.starts_with(b":") => {
                            let v: i64 = String::from_utf8_lossy(&raw[1..raw.len() - 2]).parse().unwrap();
                            acked[key] = acked[key].max(v);
                        }
                        _ => return acked,
                    }
                }
                acked
            })
        })
        .collect();
    let mut acked = vec![0i64; keys];
    for h in handles {
        for (k, v) in h.join().unwrap().into_iter().enumerate() {
            acked[k] = acked[k].max(v);
        }
    }
    acked
}

#[test]
fn appendfsync_always_loses_no_acknowledged_write_to_kill_9() {
    let shoal = ServerProcess::shoal(&["--appendonly", "yes", "--appendfsync", "always"]);
    let port = shoal.port;
    let pid = shoal.pid();
    let killer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(1500));
        // SAFETY: kill(2) on our own child.
        unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    });
    let acked = incr_until_killed(port, 4, 50);
    killer.join().unwrap();
    assert!(acked.iter().sum::<i64>() > 100, "the load ran: {acked:?}");
    let dir = shoal.dir.path().display().to_string();
    let mut shoal = shoal;
    shoal.wait_exit();
    let restarted = ServerProcess::shoal(&args(&dir, &["--appendonly", "yes"]));
    let mut c = loaded(&restarted);
    for (key, &value) in acked.iter().enumerate() {
        let Value::Bulk(now) = c.call(&[b"GET", format!("counter:{key}").as_bytes()]) else {
            assert_eq!(value, 0, "counter:{key} was acknowledged at {value} and is gone");
            continue;
        };
        let now: i64 = String::from_utf8_lossy(&now).parse().unwrap();
        assert!(now >= value, "counter:{key} was acknowledged at {value}, the file has {now}");
    }
}

#[test]
fn the_append_only_file_replays_after_a_rewrite_and_more_writes() {
    let shoal = ServerProcess::shoal(&["--appendonly", "yes", "--enable-debug-command", "yes"]);
    let mut c = shoal.client();
    dataset::build(&mut c);
    assert_eq!(c.cmd("BGREWRITEAOF"), simple("Background append only file rewriting started"));
    wait_until("the rewrite", || support::persistence_field(&mut c, "aof_rewrite_in_progress") == "0");
    assert_eq!(support::persistence_field(&mut c, "aof_last_bgrewrite_status"), "ok");
    // Writes after the rewrite go to the new incr file.
    c.cmd("SELECT 1");
    c.cmd("SET after-rewrite 1");
    c.cmd("INCRBYFLOAT after-rewrite 1.5");
    c.cmd("SELECT 0");
    c.cmd("DEL int");
    c.cmd("EXPIRE small 1000");
    let before = digest(&mut c);
    let dir = shoal.dir.path().to_path_buf();
    let names: Vec<String> = std::fs::read_dir(dir.join("appendonlydir")).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert!(names.iter().any(|n| n.ends_with(".base.rdb")), "{names:?}");
    assert_eq!(names.iter().filter(|n| n.ends_with(".incr.aof")).count(), 1, "old incr files are deleted: {names:?}");
    let dir_text = dir.display().to_string();
    let mut shoal = shoal;
    // SAFETY: kill(2) on our own child: SIGTERM, a clean stop.
    unsafe { libc::kill(shoal.pid() as i32, libc::SIGTERM) };
    shoal.wait_exit();
    let copy = tempfile::tempdir().unwrap();
    copy_dir(&dir, copy.path());
    let log = copy.path().join("restart.log").display().to_string();
    let restarted = ServerProcess::shoal(&args(&dir_text, &["--appendonly", "yes", "--logfile", &log]));
    let mut s = loaded(&restarted);
    let after = digest(&mut s);
    assert_eq!(after, before, "log: {}", std::fs::read_to_string(&log).unwrap_or_default());
    // redis-server reads the same files.
    let copy_text = copy.path().display().to_string();
    let redis = ServerProcess::redis(&args(&copy_text, &["--appendonly", "yes"]));
    let mut r = loaded(&redis);
    dataset::assert_same(&mut s, &mut r, "Shoal's append-only file loaded by redis-server");
    assert_eq!(digest(&mut r), before);
}

#[test]
fn redis_servers_append_only_file_loads_in_shoal() {
    let redis = ServerProcess::redis(&["--appendonly", "yes", "--enable-debug-command", "yes"]);
    let mut r = redis.client();
    dataset::build(&mut r);
    assert_eq!(r.cmd("BGREWRITEAOF"), simple("Background append only file rewriting started"));
    wait_until("the rewrite", || support::persistence_field(&mut r, "aof_rewrite_in_progress") == "0");
    r.cmd("SET after-rewrite 1");
    r.cmd("LPUSH list_small z");
    let copy = tempfile::tempdir().unwrap();
    copy_dir(redis.dir.path(), copy.path());
    let copy_text = copy.path().display().to_string();
    let shoal = ServerProcess::shoal(&args(&copy_text, &["--appendonly", "yes"]));
    let mut s = loaded(&shoal);
    dataset::assert_same(&mut r, &mut s, "redis-server's append-only file loaded by Shoal");
    assert_eq!(digest(&mut s), digest(&mut r));
}

#[test]
fn config_set_appendonly_yes_writes_a_base_then_appends() {
    let shoal = ServerProcess::shoal(&DEBUG);
    let mut c = shoal.client();
    for i in 0..100 {
        c.call(&[b"SET", format!("k{i}").as_bytes(), b"before"]);
    }
    assert_eq!(c.cmd("CONFIG SET appendonly yes"), simple("OK"));
    wait_until("the first rewrite", || {
        support::persistence_field(&mut c, "aof_rewrites") == "1" && support::persistence_field(&mut c, "aof_rewrite_in_progress") == "0"
    });
    assert_eq!(support::persistence_field(&mut c, "aof_enabled"), "1");
    c.cmd("SET k0 after");
    let before = digest(&mut c);
    let dir = shoal.dir.path().display().to_string();
    let mut shoal = shoal;
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(shoal.pid() as i32, libc::SIGTERM) };
    shoal.wait_exit();
    let restarted = ServerProcess::shoal(&args(&dir, &["--appendonly", "yes"]));
    let mut s = loaded(&restarted);
    assert_eq!(digest(&mut s), before);
    assert_eq!(s.cmd("GET k0"), support::bulk("after"));
}
