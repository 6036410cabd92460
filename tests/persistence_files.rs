//! Files both ways with redis-server 7.0, and what survives a restart or
//! a crash: a dump.rdb of every type loaded by the other server (contents,
//! encodings, expiries and DEBUG DIGEST compared), the same for the
//! append-only file (an RDB base plus incr files), `-LOADING` while a
//! load runs, and kill -9 under `appendfsync always` losing nothing that
//! was acknowledged.

#[path = "rdb/dataset.rs"]
mod dataset;
mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use shoal_resp::Value;
use support::{simple, RawClient, ServerProcess};

const DEBUG: [&str; 2] = ["--enable-debug-command", "yes"];
const DEBUG_AOF: [&str; 6] =
    ["--enable-debug-command", "yes", "--appendonly", "yes", "--auto-aof-rewrite-percentage", "0"];

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
            .filter_map(|l| {
                l.split_once(":keys=").map(|(_, rest)| rest.split(',').next().unwrap().parse::<u64>().unwrap())
            })
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

/// DEBUG RELOAD holds the whole keyspace while it loads, but not the worker
/// thread of the client that sent it: with a single worker, another client
/// is answered `-LOADING` meanwhile instead of waiting for the load.
#[test]
fn debug_reload_leaves_its_worker_answering_the_other_clients() {
    let dir = tempfile::tempdir().unwrap();
    let dir_text = dir.path().display().to_string();
    let shoal = ServerProcess::shoal(&args(&dir_text, &["--threads", "1"]));
    let mut reloader = shoal.client();
    for i in 0..2000 {
        reloader.call(&[b"SET", format!("k{i}").as_bytes(), b"v"]);
    }
    // 2000 keys at a millisecond each: seconds of loading.
    assert_eq!(reloader.cmd("CONFIG SET key-load-delay 1000"), simple("OK"));
    let mut other = shoal.client();
    reloader.send(&[b"DEBUG", b"RELOAD"]);
    wait_until("the reload to start", || support::persistence_field(&mut other, "loading") == "1");
    let Value::Error(e) = other.cmd("GET k1") else { panic!("GET answered while loading") };
    assert!(e.starts_with(b"LOADING "), "{}", String::from_utf8_lossy(&e));
    assert_eq!(other.cmd("PING"), Value::Error(e.clone()), "PING is refused while loading, as in Redis");
    assert_eq!(reloader.read(), simple("OK"));
    assert_eq!(other.cmd("DBSIZE"), Value::Int(2000));
    assert_eq!(other.cmd("GET k1999"), support::bulk("v"));
}

/// A stream of INCRs on `keys` keys from `clients` connections until the
/// server dies or `until` passes; returns, per key, the last value each
/// connection was told.
fn incr_load(port: u16, clients: usize, keys: usize, until: Option<Instant>) -> Vec<i64> {
    let handles: Vec<_> = (0..clients)
        .map(|n| {
            std::thread::spawn(move || {
                let mut acked = vec![0i64; keys];
                let Ok(mut c) = RawClient::connect(port) else { return acked };
                for i in 0.. {
                    if until.is_some_and(|t| Instant::now() >= t) {
                        break;
                    }
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

/// `incr_load` until kill -9 of `pid` after `ms` milliseconds.
fn incr_until_killed(port: u16, pid: u32, ms: u64) -> Vec<i64> {
    let killer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(ms));
        // SAFETY: kill(2) on our own child.
        unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    });
    let acked = incr_load(port, 4, 50, None);
    killer.join().unwrap();
    acked
}

/// Each counter's value on a server (0 when missing).
fn counters(c: &mut RawClient, keys: usize) -> Vec<i64> {
    (0..keys)
        .map(|key| match c.call(&[b"GET", format!("counter:{key}").as_bytes()]) {
            Value::Bulk(v) => String::from_utf8_lossy(&v).parse().unwrap(),
            _ => 0,
        })
        .collect()
}

#[test]
fn appendfsync_always_loses_no_acknowledged_write_to_kill_9() {
    let mut shoal = ServerProcess::shoal(&["--appendonly", "yes", "--appendfsync", "always"]);
    let acked = incr_until_killed(shoal.port, shoal.pid(), 1500);
    assert!(acked.iter().sum::<i64>() > 100, "the load ran: {acked:?}");
    shoal.wait_exit();
    let dir = shoal.dir.path().display().to_string();
    let restarted = ServerProcess::shoal(&args(&dir, &["--appendonly", "yes"]));
    let now = counters(&mut loaded(&restarted), 50);
    for (key, (&acked, &now)) in acked.iter().zip(&now).enumerate() {
        assert!(now >= acked, "counter:{key} was acknowledged at {acked}, the file has {now}");
    }
}

/// Arguments for a server with the append-only file on, DEBUG, and
/// `aof-use-rdb-preamble` set to `preamble`.
fn aof_with_preamble(preamble: &str) -> Vec<&str> {
    vec!["--appendonly", "yes", "--enable-debug-command", "yes", "--aof-use-rdb-preamble", preamble]
}

/// A rewrite (its base in RDB format with `preamble` yes, else as
/// commands), more writes, a restart: the same dataset, in Shoal and in
/// redis-server loading the same files.
fn replays_after_a_rewrite_and_more_writes(preamble: &str) {
    let shoal = ServerProcess::shoal(&aof_with_preamble(preamble));
    let mut c = loaded(&shoal);
    dataset::build(&mut c);
    // The file's last SELECT before the cut is 1.
    c.cmd("SELECT 1");
    c.cmd("SET before-rewrite 1");
    assert_eq!(c.cmd("BGREWRITEAOF"), simple("Background append only file rewriting started"));
    wait_until("the rewrite", || support::persistence_field(&mut c, "aof_rewrite_in_progress") == "0");
    assert_eq!(support::persistence_field(&mut c, "aof_last_bgrewrite_status"), "ok");
    // Writes after the rewrite go to the new incr file, which must select
    // database 1 again before them.
    c.cmd("SET after-rewrite 1");
    c.cmd("INCRBYFLOAT after-rewrite 1.5");
    c.cmd("SELECT 0");
    c.cmd("DEL int");
    c.cmd("EXPIRE small 1000");
    let before = digest(&mut c);
    let dir = shoal.dir.path().to_path_buf();
    let names: Vec<String> = std::fs::read_dir(dir.join("appendonlydir"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let base_suffix = if preamble == "yes" { ".base.rdb" } else { ".base.aof" };
    assert!(names.iter().any(|n| n.ends_with(base_suffix)), "{names:?}");
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
    if preamble == "yes" {
        dataset::assert_same(&mut s, &mut r, "Shoal's append-only file loaded by redis-server");
    } else {
        dataset::assert_same_but_seen_times(&mut s, &mut r, "Shoal's append-only file loaded by redis-server");
    }
    assert_eq!(digest(&mut r), before);
}

#[test]
fn the_append_only_file_replays_after_a_rewrite_and_more_writes() {
    replays_after_a_rewrite_and_more_writes("yes");
}

#[test]
fn a_base_written_as_commands_replays_in_shoal_and_redis() {
    replays_after_a_rewrite_and_more_writes("no");
}

#[test]
fn redis_servers_append_only_file_loads_in_shoal() {
    redis_file_loads_in_shoal("yes");
}

#[test]
fn redis_servers_base_written_as_commands_loads_in_shoal() {
    redis_file_loads_in_shoal("no");
}

fn redis_file_loads_in_shoal(preamble: &str) {
    let mut redis_args = aof_with_preamble(preamble);
    // Each write in the file before its reply (under everysec Redis may
    // postpone writing while a sync runs).
    redis_args.extend(["--appendfsync", "always"]);
    let redis = ServerProcess::redis(&redis_args);
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
    if preamble == "yes" {
        dataset::assert_same(&mut r, &mut s, "redis-server's append-only file loaded by Shoal");
    } else {
        // What redis-server itself loads back from the same files (the
        // consumers' seen-times are the load's).
        let copy2 = tempfile::tempdir().unwrap();
        copy_dir(copy.path(), copy2.path());
        let copy2_text = copy2.path().display().to_string();
        let reloaded = ServerProcess::redis(&args(&copy2_text, &["--appendonly", "yes"]));
        let mut r2 = loaded(&reloaded);
        dataset::assert_same_but_seen_times(&mut r2, &mut s, "redis-server's append-only file loaded by Shoal");
    }
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
        support::persistence_field(&mut c, "aof_rewrites") == "1"
            && support::persistence_field(&mut c, "aof_rewrite_in_progress") == "0"
    });
    assert_eq!(support::persistence_field(&mut c, "aof_enabled"), "1");
    // As in Redis, the writes made during the first rewrite went to a
    // temporary incr file, named in the manifest as incr file 1 with it.
    assert_eq!(
        aof_names(shoal.dir.path()),
        ["appendonly.aof.1.base.rdb", "appendonly.aof.1.incr.aof", "appendonly.aof.manifest"]
    );
    c.cmd("SET k0 after");
    let (_restarted, mut s) = restart_with_same_data(shoal, &mut c);
    assert_eq!(s.cmd("GET k0"), support::bulk("after"));
}

/// Stops `shoal` (SIGTERM) and starts it again on its directory with
/// appendonly yes: the dataset read back must be the one it had.
fn restart_with_same_data(shoal: ServerProcess, c: &mut RawClient) -> (ServerProcess, RawClient) {
    let before = digest(c);
    let dir = shoal.dir.path().display().to_string();
    let mut shoal = shoal;
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(shoal.pid() as i32, libc::SIGTERM) };
    shoal.wait_exit();
    let restarted = ServerProcess::shoal(&args(&dir, &["--appendonly", "yes"]));
    let mut s = loaded(&restarted);
    assert_eq!(digest(&mut s), before);
    (restarted, s)
}

/// CONFIG SET appendonly yes inside MULTI/EXEC: the transaction's unit
/// holds its keys' shards, so the rewrite that starts the file is deferred
/// to after EXEC (it used to wait for every shard from inside the unit and
/// hang). The file then holds what the transaction wrote.
#[test]
fn config_set_appendonly_yes_inside_exec_starts_the_file_after_the_transaction() {
    let shoal = ServerProcess::shoal(&DEBUG);
    let mut c = shoal.client();
    assert_eq!(c.cmd("MULTI"), simple("OK"));
    assert_eq!(c.cmd("SET x 1"), simple("QUEUED"));
    assert_eq!(c.cmd("CONFIG SET appendonly yes"), simple("QUEUED"));
    assert_eq!(c.cmd("SET y 2"), simple("QUEUED"));
    // The client's read timeout turns a hang into a failure.
    assert_eq!(c.cmd("EXEC"), Value::Array(vec![simple("OK"), simple("OK"), simple("OK")]));
    wait_until("the first rewrite", || {
        support::persistence_field(&mut c, "aof_rewrites") == "1"
            && support::persistence_field(&mut c, "aof_rewrite_in_progress") == "0"
    });
    assert_eq!(support::persistence_field(&mut c, "aof_enabled"), "1");
    let (_restarted, mut s) = restart_with_same_data(shoal, &mut c);
    assert_eq!(s.cmd("GET x"), support::bulk("1"));
    assert_eq!(s.cmd("GET y"), support::bulk("2"));
}

/// Random writes of every type on `keys` keys of db 0 until `stop`, from
/// one connection (seeded: `seed`). Returns how many were sent.
fn random_writes(port: u16, keys: usize, seed: u64, stop: std::sync::Arc<std::sync::atomic::AtomicBool>) -> u64 {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut c = RawClient::connect(port).unwrap();
    let mut sent = 0;
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        // A pipeline of 100, then its replies (errors included: a write
        // may meet a key of another type).
        for _ in 0..100 {
            let n = rng.random_range(0..keys);
            let v = rng.random_range(0..1_000_000u32).to_string();
            let (s, h, l, z, set) =
                (format!("s:{n}"), format!("h:{n}"), format!("l:{n}"), format!("z:{n}"), format!("set:{n}"));
            let args: Vec<&[u8]> = match rng.random_range(0..10) {
                0 => vec![b"SET", s.as_bytes(), v.as_bytes()],
                1 => vec![b"APPEND", s.as_bytes(), v.as_bytes()],
                2 => vec![b"HSET", h.as_bytes(), v.as_bytes(), v.as_bytes()],
                3 => vec![b"HDEL", h.as_bytes(), b"f0"],
                4 => vec![b"LPUSH", l.as_bytes(), v.as_bytes()],
                5 => vec![b"RPOP", l.as_bytes()],
                6 => vec![b"ZADD", z.as_bytes(), v.as_bytes(), v.as_bytes()],
                7 => vec![b"SADD", set.as_bytes(), v.as_bytes()],
                8 => vec![b"DEL", s.as_bytes()],
                _ => vec![b"EXPIRE", h.as_bytes(), b"100000"],
            };
            c.send(&args);
            sent += 1;
        }
        for _ in 0..100 {
            c.read();
        }
    }
    sent
}

/// The property behind BGSAVE without fork: whatever the writes during
/// the save, the file holds the dataset as of the save's start. The
/// digest at the start is taken in the same transaction as BGSAVE.
#[test]
fn bgsave_under_random_writes_of_every_type_holds_the_data_as_of_its_start() {
    let keys = 20_000;
    let shoal = ServerProcess::shoal(&DEBUG);
    let mut c = shoal.client();
    for n in 0..keys {
        let v = n.to_string();
        let (s, h, l, z, set) =
            (format!("s:{n}"), format!("h:{n}"), format!("l:{n}"), format!("z:{n}"), format!("set:{n}"));
        c.send(&[b"SET", s.as_bytes(), v.as_bytes()]);
        c.send(&[b"HSET", h.as_bytes(), b"f0", v.as_bytes(), b"f1", b"x"]);
        c.send(&[b"RPUSH", l.as_bytes(), v.as_bytes(), b"a", b"b"]);
        c.send(&[b"ZADD", z.as_bytes(), b"1", v.as_bytes(), b"2", b"m"]);
        c.send(&[b"SADD", set.as_bytes(), v.as_bytes(), b"m"]);
        for _ in 0..5 {
            assert!(!matches!(c.read(), Value::Error(_)));
        }
    }
    // 50 µs a key: the save lasts about 5 s, the writes overlap its walk.
    assert_eq!(c.cmd("CONFIG SET rdb-key-save-delay 50"), simple("OK"));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writers: Vec<_> = (0..2)
        .map(|seed| {
            let stop = stop.clone();
            let port = shoal.port;
            std::thread::spawn(move || random_writes(port, keys, seed, stop))
        })
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    c.cmd("MULTI");
    c.cmd("DEBUG DIGEST");
    c.cmd("BGSAVE");
    let Value::Array(replies) = c.cmd("EXEC") else { panic!("EXEC failed") };
    assert_eq!(replies[1], simple("Background saving started"));
    let at_start = replies[0].clone();
    wait_until("the BGSAVE", || support::persistence_field(&mut c, "rdb_bgsave_in_progress") == "0");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let sent: u64 = writers.into_iter().map(|w| w.join().unwrap()).sum();
    assert_eq!(support::persistence_field(&mut c, "rdb_last_bgsave_status"), "ok");
    assert!(sent > 1000, "the writers ran ({sent} writes)");
    assert_ne!(digest(&mut c), at_start, "the writes changed the dataset");
    let early: u64 = support::persistence_field(&mut c, "rdb_last_cow_size").parse().unwrap();
    assert!(early > 0, "writes reached shards the walk had not saved yet");
    // redis-server and Shoal both load the file as it was at the start.
    let copy = tempfile::tempdir().unwrap();
    std::fs::copy(shoal.dir.path().join("dump.rdb"), copy.path().join("dump.rdb")).unwrap();
    let copy_text = copy.path().display().to_string();
    let redis = ServerProcess::redis(&args(&copy_text, &[]));
    assert_eq!(digest(&mut loaded(&redis)), at_start);
    drop(redis);
    let reloaded = ServerProcess::shoal(&args(&copy_text, &[]));
    assert_eq!(digest(&mut loaded(&reloaded)), at_start);
}

#[test]
fn appendfsync_everysec_keeps_what_was_acknowledged_a_sync_ago() {
    let mut shoal = ServerProcess::shoal(&["--appendonly", "yes", "--appendfsync", "everysec"]);
    // A second of load, then more than everysec's period of quiet, in which
    // the writer thread must sync all of it; then a load cut by kill -9.
    let synced = incr_load(shoal.port, 4, 50, Some(Instant::now() + Duration::from_secs(1)));
    std::thread::sleep(Duration::from_millis(2500));
    let unsynced = incr_until_killed(shoal.port, shoal.pid(), 1000);
    assert!(synced.iter().sum::<i64>() > 100, "the first load ran: {synced:?}");
    shoal.wait_exit();
    let dir = shoal.dir.path().display().to_string();
    let restarted = ServerProcess::shoal(&args(&dir, &["--appendonly", "yes"]));
    let now = counters(&mut loaded(&restarted), 50);
    let mut lost = 0;
    for (key, &now) in now.iter().enumerate() {
        assert!(now >= synced[key], "counter:{key} was acknowledged at {} a sync ago, the file has {now}", synced[key]);
        lost += (unsynced[key] - now).max(0);
    }
    eprintln!("appendfsync everysec: {lost} INCRs acknowledged in the last second lost to kill -9");
}

/// Runs shoal-server with `args` until it exits on its own (killed after
/// 10 s); true if it was still running then.
fn starts(args: &[&str]) -> bool {
    let port = support::free_port().to_string();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_shoal-server"))
        .args(["--port", &port, "--save", ""])
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            return status.success();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    true
}

/// A record torn by a crash in the middle of its write: with
/// aof-load-truncated (the default) the server loads what precedes it,
/// cuts the torn bytes off, and appends after them; without it, it
/// refuses to start.
#[test]
fn a_torn_last_record_is_cut_off_with_aof_load_truncated() {
    let mut shoal = ServerProcess::shoal(&["--appendonly", "yes", "--appendfsync", "always"]);
    let acked = incr_until_killed(shoal.port, shoal.pid(), 500);
    shoal.wait_exit();
    let dir = shoal.dir.path().to_path_buf();
    let incr = std::fs::read_dir(dir.join("appendonlydir"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(".incr.aof"))
        .expect("an incr file");
    let mut file = std::fs::OpenOptions::new().append(true).open(&incr).unwrap();
    std::io::Write::write_all(&mut file, b"*2\r\n$4\r\nINCR\r\n$9\r\ncount").unwrap();
    drop(file);
    let dir_text = dir.display().to_string();
    assert!(
        !starts(&args(&dir_text, &["--appendonly", "yes", "--aof-load-truncated", "no"])),
        "aof-load-truncated no refuses the file"
    );
    let restarted = ServerProcess::shoal(&args(&dir_text, &["--appendonly", "yes"]));
    let mut c = loaded(&restarted);
    let now = counters(&mut c, 50);
    for (key, (&acked, &now)) in acked.iter().zip(&now).enumerate() {
        assert!(now >= acked, "counter:{key} was acknowledged at {acked}, the file has {now}");
    }
    c.cmd("SET after-the-tear 1");
    let before = digest(&mut c);
    let mut restarted = restarted;
    // SAFETY: kill(2) on our own child: SIGTERM, a clean stop.
    unsafe { libc::kill(restarted.pid() as i32, libc::SIGTERM) };
    restarted.wait_exit();
    let again = ServerProcess::shoal(&args(&dir_text, &["--appendonly", "yes"]));
    assert_eq!(digest(&mut loaded(&again)), before, "the write after the torn bytes replays");
}

/// The append-only files of `dir`'s appendonlydir, by name.
fn aof_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir.join("appendonlydir"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// An old single-file AOF (commands, or an RDB preamble then commands)
/// in the working directory: it is moved into appendonlydir as the base
/// of a new manifest, loaded, and keeps working through a rewrite.
fn upgrades_an_old_single_file_aof(old_file: &[u8], expected: &[(&str, &str)]) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("appendonly.aof"), old_file).unwrap();
    let dir_text = dir.path().display().to_string();
    let shoal = ServerProcess::shoal(&args(&dir_text, &["--appendonly", "yes"]));
    let mut s = loaded(&shoal);
    for (key, value) in expected {
        assert_eq!(s.call(&[b"GET", key.as_bytes()]), support::bulk(value), "{key}");
    }
    assert!(!dir.path().join("appendonly.aof").exists(), "the old file moved");
    assert_eq!(aof_names(dir.path()), ["appendonly.aof", "appendonly.aof.1.incr.aof", "appendonly.aof.manifest"]);
    let manifest = std::fs::read_to_string(dir.path().join("appendonlydir/appendonly.aof.manifest")).unwrap();
    assert_eq!(manifest, "file appendonly.aof seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\n");
    s.cmd("SET added later");
    assert_eq!(s.cmd("BGREWRITEAOF"), simple("Background append only file rewriting started"));
    wait_until("the rewrite", || support::persistence_field(&mut s, "aof_rewrite_in_progress") == "0");
    wait_until("the old base deleted", || !aof_names(dir.path()).contains(&"appendonly.aof".to_string()));
    assert_eq!(
        aof_names(dir.path()),
        ["appendonly.aof.2.base.rdb", "appendonly.aof.2.incr.aof", "appendonly.aof.manifest"]
    );
    let before = digest(&mut s);
    drop(s);
    drop(shoal);
    let restarted = ServerProcess::shoal(&args(&dir_text, &["--appendonly", "yes"]));
    let mut s = loaded(&restarted);
    assert_eq!(digest(&mut s), before);
    assert_eq!(s.cmd("GET added"), support::bulk("later"));
}

#[test]
fn an_old_single_file_aof_of_commands_is_upgraded() {
    let mut old = Vec::new();
    for (k, v) in [("k1", "v1"), ("k2", "v2"), ("k3", "v3")] {
        old.extend_from_slice(format!("*3\r\n$3\r\nSET\r\n$2\r\n{k}\r\n$2\r\n{v}\r\n").as_bytes());
    }
    upgrades_an_old_single_file_aof(&old, &[("k1", "v1"), ("k2", "v2"), ("k3", "v3")]);
}

#[test]
fn an_old_single_file_aof_with_an_rdb_preamble_is_upgraded() {
    // redis-server writes the preamble (a dump.rdb); commands follow.
    let redis = ServerProcess::redis(&[]);
    let mut r = redis.client();
    r.cmd("SET k1 v1");
    r.cmd("SET k2 v2");
    assert_eq!(r.cmd("SAVE"), simple("OK"));
    let mut old = std::fs::read(redis.dir.path().join("dump.rdb")).unwrap();
    old.extend_from_slice(b"*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*3\r\n$3\r\nSET\r\n$2\r\nk3\r\n$2\r\nv3\r\n");
    upgrades_an_old_single_file_aof(&old, &[("k1", "v1"), ("k2", "v2"), ("k3", "v3")]);
}

#[test]
fn starting_with_an_empty_aof_writes_a_base_in_the_configured_format() {
    for (preamble, base) in [("yes", "appendonly.aof.1.base.rdb"), ("no", "appendonly.aof.1.base.aof")] {
        let dir = tempfile::tempdir().unwrap();
        let dir_text = dir.path().display().to_string();
        let shoal =
            ServerProcess::shoal(&args(&dir_text, &["--appendonly", "yes", "--aof-use-rdb-preamble", preamble]));
        let mut s = loaded(&shoal);
        assert_eq!(aof_names(dir.path()), [base, "appendonly.aof.1.incr.aof", "appendonly.aof.manifest"]);
        s.cmd("SET foo behavior");
        let before = digest(&mut s);
        assert_eq!(s.cmd("DEBUG LOADAOF"), simple("OK"));
        assert_eq!(digest(&mut s), before);
    }
}

#[test]
fn a_missing_file_named_by_the_manifest_stops_the_start_with_redis_s_log_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("appendonlydir")).unwrap();
    std::fs::write(dir.path().join("appendonlydir/appendonly.aof.manifest"), "file appendonly.aof seq 1 type b\n")
        .unwrap();
    let log = dir.path().join("log");
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_shoal-server"))
        .args(["--port", &support::free_port().to_string(), "--dir", &dir.path().display().to_string()])
        .args(["--appendonly", "yes", "--logfile", &log.display().to_string()])
        .status()
        .unwrap();
    assert!(!status.success());
    let text = std::fs::read_to_string(&log).unwrap();
    let last = text.lines().last().unwrap_or_default();
    assert!(
        last.ends_with("Unable to obtain the AOF file appendonly.aof length. stat: No such file or directory"),
        "{text}"
    );
}

#[test]
fn expiry_times_in_the_past_are_kept_while_loading() {
    // As in Redis, nothing expires while a file loads: the RPUSH after the
    // PEXPIREAT adds to the list it set in the past, which is gone once
    // loaded.
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("appendonlydir")).unwrap();
    std::fs::write(
        dir.path().join("appendonlydir/appendonly.aof.manifest"),
        "file appendonly.aof.1.incr.aof seq 1 type i\n",
    )
    .unwrap();
    let mut file = Vec::new();
    for argv in [
        &["RPUSH", "list", "foo"][..],
        &["PEXPIREAT", "list", "1000"],
        &["RPUSH", "list", "bar"],
        &["SET", "kept", "1"],
    ] {
        shoal_persist::aof::encode_command(&mut file, &argv.iter().map(|a| a.as_bytes()).collect::<Vec<_>>());
    }
    std::fs::write(dir.path().join("appendonlydir/appendonly.aof.1.incr.aof"), file).unwrap();
    let dir_text = dir.path().display().to_string();
    let shoal = ServerProcess::shoal(&args(&dir_text, &["--appendonly", "yes"]));
    let mut s = loaded(&shoal);
    assert_eq!(s.cmd("LLEN list"), Value::Int(0));
    assert_eq!(s.cmd("GET kept"), support::bulk("1"));
}

fn manifest_lines(dir: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(dir.join("appendonlydir/appendonly.aof.manifest")).unwrap();
    text.lines().map(str::to_string).collect()
}

fn rewrite(c: &mut RawClient) -> Value {
    let reply = c.cmd("BGREWRITEAOF");
    wait_until("the rewrite", || support::persistence_field(c, "aof_rewrite_in_progress") == "0");
    reply
}

#[test]
fn failed_rewrites_leave_incr_files_until_one_succeeds() {
    let shoal = ServerProcess::shoal(&DEBUG_AOF);
    let mut c = loaded(&shoal);
    c.cmd("SET a 1");
    // The base file cannot be created: a directory holds its temporary name.
    let blocker = shoal.dir.path().join(format!("appendonlydir/temp-bgsave-{}.rdb", shoal.pid()));
    std::fs::create_dir(&blocker).unwrap();
    for i in 0..2 {
        assert!(matches!(rewrite(&mut c), Value::Error(_)));
        c.cmd(&format!("SET b{i} 1"));
    }
    assert_eq!(support::persistence_field(&mut c, "aof_last_bgrewrite_status"), "err");
    assert_eq!(
        manifest_lines(shoal.dir.path()),
        [
            "file appendonly.aof.1.base.rdb seq 1 type b",
            "file appendonly.aof.1.incr.aof seq 1 type i",
            "file appendonly.aof.2.incr.aof seq 2 type i",
            "file appendonly.aof.3.incr.aof seq 3 type i",
        ]
    );
    let before = digest(&mut c);
    assert_eq!(c.cmd("DEBUG LOADAOF"), simple("OK"));
    assert_eq!(digest(&mut c), before);
    std::fs::remove_dir(&blocker).unwrap();
    assert_eq!(rewrite(&mut c), simple("Background append only file rewriting started"));
    assert_eq!(
        manifest_lines(shoal.dir.path()),
        ["file appendonly.aof.2.base.rdb seq 2 type b", "file appendonly.aof.4.incr.aof seq 4 type i"]
    );
    assert_eq!(
        aof_names(shoal.dir.path()),
        ["appendonly.aof.2.base.rdb", "appendonly.aof.4.incr.aof", "appendonly.aof.manifest"]
    );
    assert_eq!(c.cmd("DEBUG LOADAOF"), simple("OK"));
    assert_eq!(digest(&mut c), before);
}

#[test]
fn aof_disable_auto_gc_keeps_history_until_turned_off() {
    let shoal = ServerProcess::shoal(&DEBUG_AOF);
    let mut c = loaded(&shoal);
    c.cmd("CONFIG SET aof-disable-auto-gc yes");
    c.cmd("SET a 1");
    rewrite(&mut c);
    rewrite(&mut c);
    assert_eq!(
        manifest_lines(shoal.dir.path()),
        [
            "file appendonly.aof.3.base.rdb seq 3 type b",
            "file appendonly.aof.2.incr.aof seq 2 type h",
            "file appendonly.aof.2.base.rdb seq 2 type h",
            "file appendonly.aof.1.incr.aof seq 1 type h",
            "file appendonly.aof.1.base.rdb seq 1 type h",
            "file appendonly.aof.3.incr.aof seq 3 type i",
        ]
    );
    assert_eq!(aof_names(shoal.dir.path()).len(), 7);
    c.cmd("CONFIG SET aof-disable-auto-gc no");
    assert_eq!(
        manifest_lines(shoal.dir.path()),
        ["file appendonly.aof.3.base.rdb seq 3 type b", "file appendonly.aof.3.incr.aof seq 3 type i"]
    );
    assert_eq!(
        aof_names(shoal.dir.path()),
        ["appendonly.aof.3.base.rdb", "appendonly.aof.3.incr.aof", "appendonly.aof.manifest"]
    );
}

#[test]
fn automatic_rewrites_back_off_after_repeated_failures_and_a_rewrite_by_hand_still_runs() {
    let dir = tempfile::tempdir().unwrap();
    let dir_text = dir.path().display().to_string();
    let log = dir.path().join("shoal.log");
    let log_text = log.display().to_string();
    let shoal = ServerProcess::shoal(&args(&dir_text, &["--appendonly", "yes", "--logfile", &log_text]));
    let mut c = loaded(&shoal);
    // Where a rewrite writes its new base stands a directory: it fails.
    let blocker = dir.path().join("appendonlydir").join(format!("temp-bgsave-{}.rdb", shoal.pid()));
    std::fs::create_dir_all(&blocker).unwrap();
    for failures in 1..=3 {
        assert!(matches!(c.cmd("BGREWRITEAOF"), Value::Error(_)), "a rewrite that cannot create its file");
        assert_eq!(support::persistence_field(&mut c, "aof_rewrites_consecutive_failures"), failures.to_string());
    }
    let limits = || std::fs::read_to_string(&log).unwrap().matches("triggered the limit").count();
    assert_eq!(limits(), 0);
    // Growth that would start an automatic rewrite: it waits instead.
    c.cmd("CONFIG SET auto-aof-rewrite-min-size 1");
    c.cmd("CONFIG SET auto-aof-rewrite-percentage 1");
    c.call(&[b"SET", b"x", &[b'x'; 4096]]);
    wait_until("the back-off", || limits() == 1);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(limits(), 1, "the limit is logged once, when it starts");
    assert_eq!(support::persistence_field(&mut c, "aof_rewrites_consecutive_failures"), "3", "no rewrite tried meanwhile");
    assert_eq!(support::persistence_field(&mut c, "aof_rewrite_in_progress"), "0");
    // A rewrite asked for by hand is not held back, and its success ends the back-off.
    std::fs::remove_dir(&blocker).unwrap();
    assert_eq!(c.cmd("BGREWRITEAOF"), simple("Background append only file rewriting started"));
    wait_until("the rewrite", || support::persistence_field(&mut c, "aof_rewrite_in_progress") == "0");
    assert_eq!(support::persistence_field(&mut c, "aof_last_bgrewrite_status"), "ok");
    assert_eq!(support::persistence_field(&mut c, "aof_rewrites_consecutive_failures"), "0");
}
