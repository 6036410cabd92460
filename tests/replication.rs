//! Replication with redis-server 7.0, both ways: a redis-server replica of
//! Shoal, Shoal as a replica of redis-server, and a chain redis-server →
//! Shoal → redis-server, each under a write load of every type with
//! expiries, blocking pops and MULTI/EXEC; the link killed mid-load must
//! resume with a partial resync. Afterwards DEBUG DIGEST and a key-by-key
//! comparison agree. Also WAIT's durability and min-replicas-to-write.

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use shoal_resp::Value;
use support::{replication_report, RawClient, ServerProcess};

/// Every server of these tests: DEBUG DIGEST, and a backlog that holds
/// the stream of a broken link's reconnection under the write load.
const DEBUG: [&str; 4] = ["--enable-debug-command", "yes", "--repl-backlog-size", "64mb"];

fn text(v: &Value) -> String {
    match v {
        Value::Bulk(b) | Value::Simple(b) | Value::Error(b) | Value::Verbatim(b) => {
            String::from_utf8_lossy(b).into_owned()
        }
        Value::Int(i) => i.to_string(),
        other => format!("{other:?}"),
    }
}

fn info_field(c: &mut RawClient, section: &str, field: &str) -> String {
    let info = text(&c.cmd(&format!("INFO {section}")));
    let prefix = format!("{field}:");
    info.lines()
        .find_map(|l| l.strip_prefix(&prefix).map(|v| v.trim().to_string()))
        .unwrap_or_else(|| panic!("INFO {section} has no {field}: {info}"))
}

fn info_number(c: &mut RawClient, section: &str, field: &str) -> i64 {
    info_field(c, section, field).parse().unwrap()
}

/// Waits (generously) until `f` holds.
fn eventually(what: &str, seconds: u64, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `eventually`, and on a timeout INFO replication of `servers` too.
fn eventually_on(servers: &[&ServerProcess], what: &str, seconds: u64, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}{}", replication_report(servers));
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn replicaof(replica: &ServerProcess, master: &ServerProcess) {
    let reply = replica.client().cmd(&format!("REPLICAOF 127.0.0.1 {}", master.port));
    assert_eq!(text(&reply), "OK");
}

fn wait_link_up(replica: &ServerProcess) {
    let mut c = replica.client();
    eventually_on(&[replica], "the replica's link to come up", 60, || info_field(&mut c, "replication", "master_link_status") == "up");
}

/// Waits until the replica processed everything the master produced.
fn wait_caught_up(master: &ServerProcess, replica: &ServerProcess) {
    let (mut m, mut r) = (master.client(), replica.client());
    eventually_on(&[master, replica], "the replica to catch up", 60, || {
        let master_offset = info_number(&mut m, "replication", "master_repl_offset");
        info_field(&mut r, "replication", "master_link_status") == "up"
            && info_number(&mut r, "replication", "slave_repl_offset") == master_offset
    });
}

/// The write load: every type, expiries (some short enough to expire
/// during the run), MULTI/EXEC, a second database, and blocking pops
/// served by pushes. Runs until `stop`.
fn write_load(port: u16, seed: u64, stop: Arc<AtomicBool>) -> Vec<std::thread::JoinHandle<()>> {
    let mut threads = Vec::new();
    for worker in 0..2u64 {
        let stop = stop.clone();
        threads.push(std::thread::spawn(move || {
            let mut c = RawClient::connect(port).unwrap();
            let mut rng = StdRng::seed_from_u64(seed * 10 + worker);
            while !stop.load(Ordering::Relaxed) {
                one_write(&mut c, &mut rng);
            }
        }));
    }
    // Blocking pops, each answered by a push from another connection.
    let stop_pops = stop.clone();
    threads.push(std::thread::spawn(move || {
        let mut popper = RawClient::connect(port).unwrap();
        let mut pusher = RawClient::connect(port).unwrap();
        let mut i = 0u64;
        while !stop_pops.load(Ordering::Relaxed) {
            popper.send(&[b"BLPOP", b"queue", b"5"]);
            std::thread::sleep(Duration::from_millis(2));
            let value = format!("job{i}");
            pusher.call(&[b"RPUSH", b"queue", value.as_bytes(), b"extra"]);
            let _ = popper.read();
            popper.call(&[b"BLMOVE", b"queue", b"done", b"LEFT", b"RIGHT", b"1"]);
            i += 1;
        }
    }));
    threads
}

fn one_write(c: &mut RawClient, rng: &mut StdRng) {
    let key = |rng: &mut StdRng, kind: &str| format!("{kind}:{}", rng.random_range(0..40));
    let n = rng.random_range(0..1000).to_string();
    match rng.random_range(0..22) {
        0 => c.cmd(&format!("SET {} {n}", key(rng, "s"))),
        1 => c.cmd(&format!("SET {} {n} EX {}", key(rng, "s"), rng.random_range(1..3))),
        2 => c.cmd(&format!("SET {} {n} PX 500000", key(rng, "s"))),
        3 => c.cmd(&format!("INCRBYFLOAT {} 1.{n}", key(rng, "f"))),
        4 => c.cmd(&format!("APPEND {} x{n}", key(rng, "s"))),
        5 => c.cmd(&format!("RPUSH {} {n} a{n} b", key(rng, "l"))),
        6 => c.cmd(&format!("LPOP {}", key(rng, "l"))),
        7 => c.cmd(&format!("HSET {} f{} {n}", key(rng, "h"), rng.random_range(0..200))),
        8 => c.cmd(&format!("HINCRBY {} n {n}", key(rng, "h"))),
        9 => c.cmd(&format!("SADD {} {n} m{}", key(rng, "set"), rng.random_range(0..300))),
        10 => c.cmd(&format!("SPOP {}", key(rng, "set"))),
        11 => c.cmd(&format!("ZADD {} {n} m{}", key(rng, "z"), rng.random_range(0..200))),
        12 => c.cmd(&format!("ZINCRBY {} 2.5 m{}", key(rng, "z"), rng.random_range(0..200))),
        13 => c.cmd(&format!("XADD {} MAXLEN ~ 50 * f {n}", key(rng, "x"))),
        14 => c.cmd(&format!("PFADD {} {n} e{n}", key(rng, "hll"))),
        15 => c.cmd(&format!("SETBIT {} {n} 1", key(rng, "bits"))),
        16 => c.cmd(&format!("EXPIRE {} {}", key(rng, "h"), rng.random_range(1..4))),
        17 => c.cmd(&format!("DEL {}", key(rng, "l"))),
        18 => {
            c.cmd("MULTI");
            c.cmd(&format!("INCR {}", key(rng, "n")));
            c.cmd(&format!("LPUSH {} {n}", key(rng, "l")));
            c.cmd(&format!("ZADD {} {n} tx", key(rng, "z")));
            c.cmd("EXEC")
        }
        19 => {
            c.cmd("SELECT 5");
            c.cmd(&format!("SET {} {n}", key(rng, "db5")));
            c.cmd(&format!("HSET {} a {n}", key(rng, "db5h")));
            c.cmd("SELECT 0")
        }
        20 => c.cmd(&format!("GETEX {} PX {}", key(rng, "s"), rng.random_range(100..3000))),
        _ => c.cmd(&format!("SRANDMEMBER {} -3", key(rng, "set"))),
    };
}

fn stop_load(stop: &Arc<AtomicBool>, threads: Vec<std::thread::JoinHandle<()>>) {
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().unwrap();
    }
}

fn digest(server: &ServerProcess) -> String {
    text(&server.client().cmd("DEBUG DIGEST"))
}

/// The whole dataset as comparable text: every key of every database
/// with its type, whether it has a TTL, and its contents.
fn dataset(server: &ServerProcess) -> Vec<String> {
    let mut c = server.client();
    let mut out = Vec::new();
    for db in 0..16 {
        c.cmd(&format!("SELECT {db}"));
        let Value::Array(keys) = c.cmd("KEYS *") else { panic!("KEYS failed") };
        let mut keys: Vec<Vec<u8>> = keys.iter().map(|k| text(k).into_bytes()).collect();
        keys.sort();
        for key in keys {
            let kind = text(&c.call(&[b"TYPE", &key]));
            let ttl = text(&c.call(&[b"PTTL", &key])) != "-1";
            let contents = match kind.as_str() {
                "string" => text(&c.call(&[b"GET", &key])),
                "list" => format!("{:?}", c.call(&[b"LRANGE", &key, b"0", b"-1"])),
                "hash" => sorted(c.call(&[b"HGETALL", &key])),
                "set" => sorted(c.call(&[b"SMEMBERS", &key])),
                "zset" => format!("{:?}", c.call(&[b"ZRANGE", &key, b"0", b"-1", b"WITHSCORES"])),
                "stream" => format!("{:?}", c.call(&[b"XRANGE", &key, b"-", b"+"])),
                other => other.to_string(),
            };
            out.push(format!("{db} {} {kind} ttl={ttl} {contents}", String::from_utf8_lossy(&key)));
        }
    }
    out
}

/// True while some key of the master expires within ten seconds.
fn has_short_ttls(server: &ServerProcess) -> bool {
    let mut c = server.client();
    (0..16).any(|db| {
        c.cmd(&format!("SELECT {db}"));
        let Value::Array(keys) = c.cmd("KEYS *") else { panic!("KEYS failed") };
        keys.iter().any(|key| {
            let Value::Int(ttl) = c.call(&[b"PTTL", text(key).as_bytes()]) else { return false };
            (0..10_000).contains(&ttl)
        })
    })
}

fn sorted(v: Value) -> String {
    let Value::Array(items) = v else { return format!("{v:?}") };
    let mut items: Vec<String> = items.iter().map(text).collect();
    items.sort();
    items.join(",")
}

/// After the load: both sides hold the same data (DEBUG DIGEST and key by
/// key), once keys that expired during the load are gone on the master
/// (the replica drops them with the master's DELs).
fn assert_same_data(master: &ServerProcess, replicas: &[&ServerProcess]) {
    // Keys with a short TTL left by the load are gone first: a comparison
    // running while one expires would see it on one side only.
    eventually("the load's short TTLs to run out", 60, || !has_short_ttls(master));
    for replica in replicas {
        eventually("digests to agree", 60, || {
            wait_caught_up(master, replica);
            digest(master) == digest(replica)
        });
        assert_ne!(digest(master), "0".repeat(40), "the load wrote something");
        let (on_master, on_replica) = (dataset(master), dataset(replica));
        let differ: Vec<_> = on_master.iter().zip(&on_replica).filter(|(m, r)| m != r).take(3).collect();
        assert!(
            on_master.len() == on_replica.len() && differ.is_empty(),
            "{} vs {} keys; first differences: {differ:?}",
            on_master.len(),
            on_replica.len()
        );
    }
}

fn sync_counts(master: &ServerProcess) -> (i64, i64) {
    let mut c = master.client();
    (info_number(&mut c, "stats", "sync_full"), info_number(&mut c, "stats", "sync_partial_ok"))
}

/// Which side breaks the link mid-load.
enum Kill {
    /// The master drops its replica (CLIENT KILL TYPE replica).
    OnMaster,
    /// The replica drops its master (CLIENT KILL TYPE master).
    OnReplica,
}

/// Syncs `replica` from `master` under the write load, breaks the link
/// mid-load and checks it resumes with a partial resync (no second full
/// sync), then that both hold the same data.
fn sync_under_load_and_resume(master: &ServerProcess, replica: &ServerProcess, kill: Kill, seed: u64) {
    master.client().cmd("SET before-sync 1");
    let stop = Arc::new(AtomicBool::new(false));
    let load = write_load(master.port, seed, stop.clone());
    replicaof(replica, master);
    wait_link_up(replica);
    std::thread::sleep(Duration::from_millis(500));
    let (full, partial) = sync_counts(master);
    assert_eq!(full, 1);
    let killed = match kill {
        Kill::OnMaster => master.client().cmd("CLIENT KILL TYPE replica"),
        Kill::OnReplica => replica.client().cmd("CLIENT KILL TYPE master"),
    };
    assert_eq!(text(&killed), "1");
    let mut m = master.client();
    eventually("a partial resync", 60, || info_number(&mut m, "stats", "sync_partial_ok") > partial);
    std::thread::sleep(Duration::from_millis(500));
    stop_load(&stop, load);
    assert_eq!(sync_counts(master).0, 1, "no second full sync");
    assert_same_data(master, &[replica]);
    assert_eq!(text(&replica.client().cmd("GET before-sync")), "1");
}

#[test]
fn a_redis_replica_of_shoal_gets_everything_and_resumes_partially() {
    let master = ServerProcess::shoal(&[&DEBUG[..], &["--repl-diskless-sync-delay", "0"]].concat());
    let replica = ServerProcess::redis(&DEBUG);
    sync_under_load_and_resume(&master, &replica, Kill::OnMaster, 1);
}

#[test]
fn shoal_replicates_redis_and_resumes_partially() {
    let master = ServerProcess::redis(&[&DEBUG[..], &["--repl-diskless-sync-delay", "0"]].concat());
    let replica = ServerProcess::shoal(&DEBUG);
    sync_under_load_and_resume(&master, &replica, Kill::OnReplica, 2);
    // A replica refuses writes from its clients.
    let refused = text(&replica.client().cmd("SET x 1"));
    assert!(refused.starts_with("READONLY"), "{refused}");
}

#[test]
fn a_disk_backed_sync_from_shoal_to_shoal_resumes_partially() {
    let master = ServerProcess::shoal(&[&DEBUG[..], &["--repl-diskless-sync", "no"]].concat());
    let replica = ServerProcess::shoal(&[&DEBUG[..], &["--repl-diskless-load", "swapdb"]].concat());
    sync_under_load_and_resume(&master, &replica, Kill::OnReplica, 4);
}

#[test]
fn a_chain_redis_shoal_redis_agrees_from_end_to_end() {
    let top = ServerProcess::redis(&[&DEBUG[..], &["--repl-diskless-sync", "no"]].concat());
    let middle = ServerProcess::shoal(&[&DEBUG[..], &["--repl-diskless-sync", "no"]].concat());
    let bottom = ServerProcess::redis(&DEBUG);
    replicaof(&middle, &top);
    replicaof(&bottom, &middle);
    let stop = Arc::new(AtomicBool::new(false));
    let load = write_load(top.port, 3, stop.clone());
    wait_link_up(&middle);
    wait_link_up(&bottom);
    std::thread::sleep(Duration::from_secs(2));
    stop_load(&stop, load);
    assert_same_data(&top, &[&middle]);
    assert_same_data(&top, &[&bottom]);
    // Offsets agree along the chain: the middle forwards bytes verbatim.
    let mut b = bottom.client();
    let mut t = top.client();
    assert_eq!(
        info_number(&mut b, "replication", "slave_repl_offset"),
        info_number(&mut t, "replication", "master_repl_offset")
    );
}

#[test]
fn wait_counts_only_replicas_that_acknowledged() {
    let master = ServerProcess::shoal(&["--repl-diskless-sync-delay", "0"]);
    let mut c = master.client();
    assert_eq!(c.cmd("WAIT 1 100"), Value::Int(0), "no replica: WAIT times out with 0");
    let replica = ServerProcess::shoal(&[]);
    replicaof(&replica, &master);
    wait_link_up(&replica);
    c.cmd("SET k v");
    assert_eq!(c.cmd("WAIT 1 0"), Value::Int(1), "{}", replication_report(&[&master, &replica]));
    // A stopped replica acknowledges nothing more (pause returns once it
    // is really stopped, so it cannot acknowledge the write below).
    let mut r = replica.client();
    replica.pause();
    c.cmd("SET k w");
    let waited = c.cmd("WAIT 1 300");
    let report = replication_report(&[&master]);
    replica.resume();
    assert_eq!(waited, Value::Int(0), "the stopped replica acknowledged{report}");
    assert_eq!(c.cmd("WAIT 1 0"), Value::Int(1), "{}", replication_report(&[&master, &replica]));
    assert_eq!(text(&r.cmd("GET k")), "w");
    let role = c.cmd("ROLE");
    let Value::Array(parts) = role else { panic!("ROLE: {role:?}") };
    assert_eq!(text(&parts[0]), "master");
    let Value::Array(replicas) = &parts[2] else { panic!("ROLE replicas") };
    assert_eq!(replicas.len(), 1, "{}", replication_report(&[&master, &replica]));
}

#[test]
fn a_replica_promoted_with_no_one_keeps_serving_its_replicas_history() {
    let master = ServerProcess::shoal(&["--repl-diskless-sync-delay", "0"]);
    let middle = ServerProcess::shoal(&["--repl-diskless-sync-delay", "0"]);
    let bottom = ServerProcess::redis(&[]);
    replicaof(&middle, &master);
    replicaof(&bottom, &middle);
    wait_link_up(&bottom);
    master.client().cmd("SET a 1");
    wait_caught_up(&master, &middle);
    wait_caught_up(&master, &bottom);
    // Promote the middle: the bottom continues with a partial resync
    // under the middle's new id (replid2 keeps the old history).
    let (_, partial_before) = sync_counts(&middle);
    assert_eq!(text(&middle.client().cmd("REPLICAOF NO ONE")), "OK");
    let mut m = middle.client();
    eventually("the bottom to continue", 60, || info_number(&mut m, "stats", "sync_partial_ok") > partial_before);
    assert_eq!(info_number(&mut m, "stats", "sync_full"), 1);
    middle.client().cmd("SET b 2");
    wait_caught_up(&middle, &bottom);
    assert_eq!(text(&bottom.client().cmd("GET b")), "2");
    let second = info_number(&mut m, "replication", "second_repl_offset");
    assert!(second > 0);
}

/// A server of either kind, for tests that run both ways.
#[derive(Clone, Copy, Debug)]
enum Kind {
    Shoal,
    Redis,
}

fn start(kind: Kind, extra: &[&str]) -> ServerProcess {
    match kind {
        Kind::Shoal => ServerProcess::shoal(extra),
        Kind::Redis => ServerProcess::redis(extra),
    }
}

/// A write WAIT 1 0 acknowledged is on the replica even when the master
/// is killed (SIGKILL) right after: a Shoal master counts an ACK only for
/// what the replica reported, and a Shoal replica acknowledges an offset
/// only once the commands up to it are applied. Both ways with
/// redis-server.
#[test]
fn a_write_acknowledged_by_wait_is_on_the_replica_when_the_master_dies() {
    for (master_kind, replica_kind) in [(Kind::Shoal, Kind::Redis), (Kind::Shoal, Kind::Shoal), (Kind::Redis, Kind::Shoal)] {
        let mut master = start(master_kind, &["--repl-diskless-sync-delay", "0"]);
        let replica = start(replica_kind, &[]);
        replicaof(&replica, &master);
        wait_link_up(&replica);
        let mut c = master.client();
        for i in 0..200 {
            c.cmd(&format!("RPUSH list {i}"));
            assert_eq!(c.cmd("WAIT 1 0"), Value::Int(1), "{master_kind:?} master");
        }
        unsafe { libc::kill(master.pid() as i32, libc::SIGKILL) };
        master.wait_exit();
        let mut r = replica.client();
        assert_eq!(r.cmd("LLEN list"), Value::Int(200), "{master_kind:?} master");
        assert_eq!(text(&r.cmd("LINDEX list -1")), "199");
    }
}

/// min-replicas-to-write: writes are refused without a replica; accepted
/// once one acknowledges; refused again once its last ACK is older than
/// min-replicas-max-lag while its link stays open (stopped), accepted when
/// it resumes, and refused once it is gone (killed).
#[test]
fn min_replicas_to_write_refuses_writes_when_the_replica_lags_or_is_gone() {
    for replica_kind in [Kind::Shoal, Kind::Redis] {
        let master = ServerProcess::shoal(&[
            "--repl-diskless-sync-delay",
            "0",
            "--min-replicas-to-write",
            "1",
            "--min-replicas-max-lag",
            "2",
        ]);
        let mut c = master.client();
        assert!(text(&c.cmd("SET k 1")).starts_with("NOREPLICAS"));
        let replica = start(replica_kind, &[]);
        replicaof(&replica, &master);
        wait_link_up(&replica);
        eventually("writes to be accepted", 30, || text(&c.cmd("SET k 2")) == "OK");
        replica.pause();
        eventually("writes to be refused", 30, || text(&c.cmd("SET k 3")).starts_with("NOREPLICAS"));
        assert_eq!(info_number(&mut c, "replication", "connected_slaves"), 1, "the link is still open");
        replica.resume();
        eventually("writes to be accepted again", 30, || text(&c.cmd("SET k 4")) == "OK");
        wait_caught_up(&master, &replica);
        assert_eq!(text(&replica.client().cmd("GET k")), "4", "{replica_kind:?} replica");
        let mut replica = replica;
        unsafe { libc::kill(replica.pid() as i32, libc::SIGKILL) };
        replica.wait_exit();
        eventually("writes to be refused", 30, || text(&c.cmd("SET k 5")).starts_with("NOREPLICAS"));
    }
}

/// A Shoal replica whose own client runs a script past
/// busy-reply-threshold keeps its master's stream: the master's commands
/// wait for the script to end instead of being refused with -BUSY.
#[test]
fn the_masters_stream_waits_for_a_busy_script_on_the_replica() {
    let master = ServerProcess::shoal(&["--repl-diskless-sync-delay", "0", "--enable-debug-command", "yes"]);
    let replica = ServerProcess::shoal(&["--busy-reply-threshold", "50", "--enable-debug-command", "yes"]);
    replicaof(&replica, &master);
    wait_link_up(&replica);
    let mut m = master.client();
    m.cmd("SET before 1");
    wait_caught_up(&master, &replica);
    let mut script = replica.client();
    script.send(&[b"EVAL", b"while true do end", b"0"]);
    let mut r = replica.client();
    eventually("the script to be busy", 30, || text(&r.cmd("PING")).starts_with("BUSY"));
    for i in 0..50 {
        m.cmd(&format!("SET during{i} {i}"));
    }
    // Time for the stream to reach the replica while the script runs.
    std::thread::sleep(Duration::from_millis(500));
    assert!(text(&r.cmd("PING")).starts_with("BUSY"), "still busy");
    assert_eq!(text(&r.cmd("SCRIPT KILL")), "OK");
    assert!(text(&script.read()).contains("killed"));
    wait_caught_up(&master, &replica);
    for i in 0..50 {
        assert_eq!(text(&r.cmd(&format!("GET during{i}"))), i.to_string());
    }
    assert_eq!(digest(&master), digest(&replica));
}

/// FAILOVER's argument checks and refusals, beside redis-server's.
#[test]
fn failover_refusals_match_redis() {
    let lines = [
        "FAILOVER",
        "FAILOVER ABORT",
        "FAILOVER ABORT NOW",
        "FAILOVER TO 127.0.0.1 1",
        "FAILOVER TO 127.0.0.1 notaport",
        "FAILOVER TIMEOUT 0",
        "FAILOVER TIMEOUT -5",
        "FAILOVER TIMEOUT x",
        "FAILOVER TIMEOUT 10 TIMEOUT 20",
        "FAILOVER FORCE",
        "FAILOVER FORCE FORCE",
        "FAILOVER TO",
        "FAILOVER BOGUS",
        "PSYNC ? -1 FAILOVER",
    ];
    let mut pair = support::Pair::start(false);
    for line in lines {
        assert_eq!(pair.shoal_client.cmd(line), pair.redis_client.cmd(line), "{line}");
    }
    // With a replica connected: the target must be one of them, FORCE
    // needs a target and a timeout, a replica cannot fail over.
    let with_replica = |master: &ServerProcess, kind: Kind| {
        let replica = start(kind, &[]);
        replicaof(&replica, master);
        wait_link_up(&replica);
        let mut c = master.client();
        eventually("the replica to be online", 30, || info_field(&mut c, "replication", "slave0").contains("online"));
        let mut replies: Vec<Value> = ["FAILOVER TO 127.0.0.1 1", "FAILOVER TO nohost 1", "FAILOVER FORCE TIMEOUT 100"]
            .iter()
            .map(|line| c.cmd(line))
            .collect();
        replies.push(c.cmd(&format!("FAILOVER TO 127.0.0.1 {} FORCE", replica.port)));
        replies.push(replica.client().cmd(&format!("FAILOVER TO 127.0.0.1 {}", replica.port)));
        replies.push(c.cmd("FAILOVER ABORT"));
        replies
    };
    let on_shoal = with_replica(&pair.shoal, Kind::Shoal);
    let on_redis = with_replica(&pair.redis, Kind::Redis);
    assert!(on_redis.iter().all(|r| text(r).starts_with("ERR")), "{on_redis:?}");
    assert_eq!(on_shoal, on_redis);
}

fn failover_state(server: &ServerProcess) -> String {
    info_field(&mut server.client(), "replication", "master_failover_state")
}

fn role(server: &ServerProcess) -> String {
    let Value::Array(parts) = server.client().cmd("ROLE") else { panic!("ROLE failed") };
    text(&parts[0])
}

/// FAILOVER TO a replica: the master pauses writes, waits for the target
/// to acknowledge everything, becomes its replica and sends PSYNC ...
/// FAILOVER, which promotes the target; the old master continues the same
/// history (a partial resync, no full sync), and so does another replica
/// moved to the new master. A write paused meanwhile runs after the
/// failover, on what is a replica by then. Every direction between
/// shoal-server and redis-server.
#[test]
fn failover_to_a_replica_promotes_it_without_a_full_sync() {
    for (master_kind, target_kind) in [(Kind::Shoal, Kind::Shoal), (Kind::Shoal, Kind::Redis), (Kind::Redis, Kind::Shoal)] {
        let case = format!("{master_kind:?} master, {target_kind:?} target");
        let master = start(master_kind, &["--repl-diskless-sync-delay", "0"]);
        let target = start(target_kind, &["--repl-diskless-sync-delay", "0"]);
        let other = ServerProcess::shoal(&[]);
        replicaof(&target, &master);
        replicaof(&other, &master);
        let mut m = master.client();
        for i in 0..100 {
            m.cmd(&format!("SET k{i} {i}"));
            m.cmd(&format!("HSET h f{i} {i}"));
        }
        wait_caught_up(&master, &target);
        wait_caught_up(&master, &other);
        let (full_before, partial_before) = sync_counts(&target);
        // The target stopped, behind by a write: the master waits for it,
        // writes paused.
        target.pause();
        m.cmd("SET behind 1");
        assert_eq!(text(&m.cmd(&format!("FAILOVER TO 127.0.0.1 {}", target.port))), "OK", "{case}");
        assert_eq!(failover_state(&master), "waiting-for-sync", "{case}");
        let mut writer = master.client();
        writer.send(&[b"SET", b"paused", b"1"]);
        assert_eq!(text(&m.cmd("GET k1")), "1", "{case}: reads go on");
        assert_eq!(text(&m.cmd("FAILOVER")), "ERR FAILOVER already in progress.", "{case}");
        target.resume();
        eventually("the failover to end", 60, || failover_state(&master) == "no-failover");
        assert!(text(&writer.read()).starts_with("READONLY"), "{case}: the paused write ran on a replica");
        assert_eq!(role(&master), "slave", "{case}");
        assert_eq!(role(&target), "master", "{case}");
        let mut t = target.client();
        eventually("the old master to continue", 60, || {
            info_number(&mut t, "stats", "sync_partial_ok") == partial_before + 1
        });
        replicaof(&other, &target);
        eventually("the other replica to continue", 60, || {
            info_number(&mut t, "stats", "sync_partial_ok") == partial_before + 2
        });
        assert_eq!(info_number(&mut t, "stats", "sync_full"), full_before, "{case}: no full sync");
        t.cmd("SET after 1");
        wait_caught_up(&target, &master);
        wait_caught_up(&target, &other);
        assert_eq!(text(&m.cmd("GET after")), "1", "{case}");
        assert_eq!(digest(&master), digest(&target), "{case}");
        assert_eq!(digest(&other), digest(&target), "{case}");
    }
}

/// FAILOVER without a target picks the replica that caught up; a stopped
/// one cannot be it.
#[test]
fn failover_to_any_replica_picks_one_that_caught_up() {
    let master = ServerProcess::shoal(&["--repl-diskless-sync-delay", "0"]);
    let (stopped, ready) = (ServerProcess::shoal(&[]), ServerProcess::shoal(&[]));
    replicaof(&stopped, &master);
    replicaof(&ready, &master);
    wait_caught_up(&master, &stopped);
    wait_caught_up(&master, &ready);
    stopped.pause();
    let mut m = master.client();
    m.cmd("SET case 1");
    assert_eq!(text(&m.cmd("FAILOVER")), "OK");
    eventually("the failover to end", 60, || failover_state(&master) == "no-failover");
    stopped.resume();
    assert_eq!(role(&ready), "master");
    assert_eq!(role(&master), "slave");
    assert_eq!(text(&ready.client().cmd("GET case")), "1");
}

/// FAILOVER ABORT, and a TIMEOUT without FORCE, leave the master a master
/// with writes resumed; with FORCE the master fails over at the timeout
/// even though the target had not caught up.
#[test]
fn failover_abort_timeout_and_force() {
    let master = ServerProcess::shoal(&["--repl-diskless-sync-delay", "0"]);
    let replica = ServerProcess::shoal(&[]);
    replicaof(&replica, &master);
    wait_caught_up(&master, &replica);
    let mut m = master.client();
    let to = format!("FAILOVER TO 127.0.0.1 {}", replica.port);
    replica.pause();
    m.cmd("SET case 1");
    assert_eq!(text(&m.cmd(&format!("{to} TIMEOUT 60000"))), "OK");
    let mut writer = master.client();
    writer.send(&[b"SET", b"paused", b"1"]);
    assert_eq!(failover_state(&master), "waiting-for-sync");
    assert_eq!(text(&m.cmd("FAILOVER ABORT")), "OK");
    assert_eq!(text(&writer.read()), "OK", "the paused write runs on the master");
    assert_eq!(failover_state(&master), "no-failover");
    assert_eq!(text(&m.cmd("FAILOVER ABORT")), "ERR No failover in progress.");
    // A timeout without FORCE gives up.
    assert_eq!(text(&m.cmd(&format!("{to} TIMEOUT 100"))), "OK");
    eventually("the failover to give up", 60, || failover_state(&master) == "no-failover");
    assert_eq!(role(&master), "master");
    assert_eq!(text(&m.cmd("SET case 2")), "OK");
    // With FORCE it fails over to the stopped target anyway.
    assert_eq!(text(&m.cmd(&format!("{to} TIMEOUT 100 FORCE"))), "OK");
    eventually("the failover to start", 60, || failover_state(&master) == "failover-in-progress");
    assert_eq!(role(&master), "slave");
    replica.resume();
    eventually("the failover to end", 60, || failover_state(&master) == "no-failover");
    assert_eq!(role(&replica), "master");
    wait_caught_up(&replica, &master);
    assert_eq!(digest(&master), digest(&replica));
}

/// A command of the master's stream that fails on the replica (DEBUG
/// REPLICATE sends one only to the replicas) is logged as Redis logs it;
/// with propagation-error-behavior panic the replica stops instead of
/// diverging further.
#[test]
fn a_replica_logs_a_master_command_it_fails_on_and_panics_when_asked() {
    let master = ServerProcess::shoal(&["--repl-diskless-sync-delay", "0", "--enable-debug-command", "yes"]);
    let log_dir = tempfile::tempdir().unwrap();
    let log = log_dir.path().join("replica.log");
    let mut replica = ServerProcess::shoal(&["--logfile", log.to_str().unwrap()]);
    replicaof(&replica, &master);
    wait_caught_up(&master, &replica);
    let mut m = master.client();
    assert_eq!(text(&m.cmd("DEBUG REPLICATE fake-command-1 x")), "OK");
    assert_eq!(text(&m.cmd("DEBUG REPLICATE INCR")), "OK");
    m.cmd("SET after 1");
    wait_caught_up(&master, &replica);
    let logged = std::fs::read_to_string(&log).unwrap();
    let critical: Vec<&str> = logged.lines().filter(|l| l.contains("== CRITICAL ==")).collect();
    assert_eq!(critical.len(), 2, "{logged}");
    assert!(critical[0].contains("fake-command-1"), "{}", critical[0]);
    assert!(critical[1].contains("'incr'") && critical[1].contains("wrong number of arguments"), "{}", critical[1]);
    assert_eq!(text(&replica.client().cmd("GET after")), "1", "the stream goes on");
    assert_eq!(text(&replica.client().cmd("CONFIG SET propagation-error-behavior panic")), "OK");
    m.cmd("DEBUG REPLICATE fake-command-2");
    eventually("the replica to stop", 30, || !replica.alive());
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains("panicked sending an error to its master"), "{logged}");
}

/// DEBUG OBJECT reports a key whose TTL has passed but which is still
/// stored (on a replica, until its master's DEL), as Redis's does.
#[test]
fn debug_object_finds_a_logically_expired_key_on_a_replica() {
    let master = ServerProcess::shoal(&["--repl-diskless-sync-delay", "0", "--enable-debug-command", "yes"]);
    let replica = ServerProcess::shoal(&["--enable-debug-command", "yes"]);
    replicaof(&replica, &master);
    wait_caught_up(&master, &replica);
    let mut m = master.client();
    assert_eq!(text(&m.cmd("DEBUG SET-ACTIVE-EXPIRE 0")), "OK");
    m.cmd("SET k 1 PX 50");
    wait_caught_up(&master, &replica);
    let mut r = replica.client();
    eventually("the key to expire on the replica", 30, || r.cmd("EXISTS k") == Value::Int(0));
    assert!(text(&r.cmd("DEBUG OBJECT k")).starts_with("Value at:"));
    assert!(text(&r.cmd("DEBUG OBJECT nosuchkey")).starts_with("ERR no such key"));
}

/// A diskless full sync serving two replicas goes on for the one left when
/// the other dies mid-transfer; when every replica is gone the snapshot
/// stops instead of running to its end (rdb-key-save-delay makes it slow).
#[test]
fn a_diskless_sync_survives_one_replica_dropping_and_stops_when_all_drop() {
    let master = ServerProcess::shoal(&[
        "--enable-debug-command",
        "yes",
        "--repl-diskless-sync",
        "yes",
        "--repl-diskless-sync-delay",
        "30",
        "--repl-diskless-sync-max-replicas",
        "2",
        "--rdb-key-save-delay",
        "2000",
    ]);
    let mut m = master.client();
    m.cmd("DEBUG POPULATE 2000 key 10");
    let (mut dying, staying) = (ServerProcess::shoal(&[]), ServerProcess::shoal(&["--enable-debug-command", "yes"]));
    replicaof(&dying, &master);
    replicaof(&staying, &master);
    eventually("the transfer to start", 60, || {
        let info = text(&m.cmd("INFO replication"));
        info.matches("state=wait_bgsave").count() + info.matches("state=send_bulk").count() == 2
            && info_field(&mut m, "persistence", "rdb_bgsave_in_progress") == "1"
    });
    unsafe { libc::kill(dying.pid() as i32, libc::SIGKILL) };
    dying.wait_exit();
    wait_link_up(&staying);
    assert_eq!(staying.client().cmd("DBSIZE"), Value::Int(2000));
    assert_eq!(digest(&master), digest(&staying));
    // Now a single replica, killed during its transfer: the snapshot ends
    // early (2000 keys at 2 ms each would take 4 s more).
    m.cmd("CONFIG SET repl-diskless-sync-max-replicas 1");
    m.cmd("CONFIG SET rdb-key-save-delay 100000");
    let mut alone = ServerProcess::shoal(&[]);
    replicaof(&alone, &master);
    eventually("the second transfer to start", 60, || {
        info_field(&mut m, "persistence", "rdb_bgsave_in_progress") == "1"
    });
    unsafe { libc::kill(alone.pid() as i32, libc::SIGKILL) };
    alone.wait_exit();
    eventually("the snapshot to stop", 60, || info_field(&mut m, "persistence", "rdb_bgsave_in_progress") == "0");
    assert_eq!(text(&m.cmd("PING")), "PONG");
}

/// A replica killed and a backlog shrunk in the same transaction, then
/// more written than the new size: the replica's reconnection cannot
/// continue (the killed replica's stream no longer holds the old bytes,
/// and the smaller backlog applies at once), so it gets a full sync, as
/// from Redis, and with repl-diskless-load swapdb the master's dataset
/// replaces what the (writable) replica held.
#[test]
fn a_killed_replica_and_a_smaller_backlog_release_the_old_stream_at_once() {
    for master_kind in [Kind::Shoal, Kind::Redis] {
        let master = start(master_kind, &["--repl-diskless-sync-delay", "0", "--repl-backlog-size", "1mb"]);
        let replica = ServerProcess::shoal(&["--repl-diskless-load", "swapdb", "--replica-read-only", "no"]);
        replicaof(&replica, &master);
        wait_caught_up(&master, &replica);
        assert_eq!(text(&replica.client().cmd("SET replica-only 1")), "OK");
        let (full_before, partial_before) = sync_counts(&master);
        let mut m = master.client();
        let value = "A".repeat(16384);
        m.cmd("MULTI");
        m.cmd("CLIENT KILL TYPE replica");
        m.cmd("CONFIG SET repl-backlog-size 16384");
        for i in 0..10 {
            m.call(&[b"SET", format!("k{i}").as_bytes(), value.as_bytes()]);
        }
        let Value::Array(replies) = m.cmd("EXEC") else { panic!("EXEC failed") };
        assert_eq!(replies[0], Value::Int(1), "{master_kind:?}");
        eventually("the replica to sync again", 60, || sync_counts(&master) != (full_before, partial_before));
        wait_caught_up(&master, &replica);
        assert_eq!(sync_counts(&master), (full_before + 1, partial_before), "{master_kind:?}: a full sync");
        let mut r = replica.client();
        assert_eq!(text(&r.cmd("STRLEN k9")), "16384");
        assert_eq!(r.cmd("GET replica-only"), Value::Null, "{master_kind:?}: the master's dataset replaced the replica's");
        assert_eq!(r.cmd("DBSIZE"), m.cmd("DBSIZE"));
    }
}

/// redis-cli --functions-rdb / --rdb against a server of `kind`: the file
/// it wrote, loaded by a fresh Shoal, holds the functions and `keys` keys.
fn cli_rdb_loads(kind: Kind, diskless: &str, functions_only: bool) -> (Value, String) {
    let server = start(kind, &["--repl-diskless-sync", diskless, "--repl-diskless-sync-delay", "0", "--enable-debug-command", "yes"]);
    let mut c = server.client();
    c.cmd("DEBUG POPULATE 1000 key 10");
    let lib = "#!lua name=lib1\nredis.register_function('func1', function() return 123 end)";
    assert_eq!(text(&c.call(&[b"FUNCTION", b"LOAD", lib.as_bytes()])), "lib1");
    let out_dir = tempfile::tempdir().unwrap();
    let file = out_dir.path().join("cli.rdb");
    let flag = if functions_only { "--functions-rdb" } else { "--rdb" };
    let output = std::process::Command::new("redis-cli")
        .args(["-p", &server.port.to_string(), flag, file.to_str().unwrap()])
        .output()
        .expect("redis-cli runs");
    let said = String::from_utf8_lossy(&output.stderr).into_owned() + &String::from_utf8_lossy(&output.stdout);
    assert!(said.contains("Transfer finished with success"), "{kind:?} {flag} diskless {diskless}: {said}");
    let loader_dir = tempfile::tempdir().unwrap();
    std::fs::copy(&file, loader_dir.path().join("dump.rdb")).unwrap();
    let dir = loader_dir.path().to_str().unwrap().to_string();
    let loaded = ServerProcess::shoal(&["--dir", &dir, "--dbfilename", "dump.rdb"]);
    let mut l = loaded.client();
    eventually("the file to be loaded", 60, || !matches!(l.cmd("DBSIZE"), Value::Error(_)));
    (l.cmd("DBSIZE"), text(&l.cmd("FCALL func1 0")))
}

/// REPLCONF rdb-only / rdb-filter-only as Redis 7.0: redis-cli
/// --functions-rdb gets a snapshot of the functions alone and --rdb the
/// whole dataset, from a disk-backed or a diskless master alike; the
/// refusals match redis-server's.
#[test]
fn redis_cli_rdb_and_functions_rdb_get_what_they_ask_for() {
    for diskless in ["no", "yes"] {
        for kind in [Kind::Shoal, Kind::Redis] {
            assert_eq!(cli_rdb_loads(kind, diskless, true), (Value::Int(0), "123".into()), "{kind:?} diskless {diskless}");
            assert_eq!(cli_rdb_loads(kind, diskless, false), (Value::Int(1000), "123".into()), "{kind:?} diskless {diskless}");
        }
    }
    let pair = support::Pair::start(false);
    let (mut shoal, mut redis) = (pair.shoal_client, pair.redis_client);
    for line in ["REPLCONF rdb-filter-only bogus", "REPLCONF rdb-only 2", "REPLCONF rdb-only x", "REPLCONF rdb-filter-only functions", "SYNC"] {
        assert_eq!(shoal.cmd(line), redis.cmd(line), "{line}");
    }
}

/// redis-cli --replica: an empty snapshot, then the stream.
#[test]
fn redis_cli_replica_streams_after_an_empty_snapshot() {
    let server = ServerProcess::shoal(&[]);
    let mut c = server.client();
    // redis-cli --replica asks for an empty snapshot (rdb-filter-only ""),
    // discards it and prints the stream.
    let mut cli = std::process::Command::new("redis-cli")
        .args(["-p", &server.port.to_string(), "--replica"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("redis-cli runs");
    let stdout = cli.stdout.take().unwrap();
    let (lines, received) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufRead::lines(std::io::BufReader::new(stdout)).map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    // Online once its payload is through (after the diskless delay, and
    // the ACK redis-cli sends a second later): what is written from then
    // on is streamed, not in the discarded payload.
    eventually("redis-cli --replica is online", 60, || {
        text(&c.cmd("INFO replication")).lines().any(|l| l.starts_with("slave0:") && l.contains("state=online"))
    });
    c.cmd("SET streamed-key v");
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = Vec::new();
    while !seen.iter().any(|l: &String| l.contains("\"SET\",\"streamed-key\",\"v\"")) {
        let left = deadline.saturating_duration_since(Instant::now());
        match received.recv_timeout(left) {
            Ok(line) => seen.push(line),
            Err(_) => panic!("redis-cli --replica did not print the SET: {seen:?}"),
        }
    }
    let _ = cli.kill();
    let _ = cli.wait();
}

/// A writable replica expires the keys its own clients wrote with a TTL
/// (INFO stats `slave_expires_tracked_keys` counts them), actively, while
/// a key of its master's whose time passed stays until the master's DEL
/// (the master's active expiry is off here, so none comes). The same
/// with a redis-server replica.
#[test]
fn a_writable_replica_expires_the_keys_its_clients_gave_a_ttl() {
    for replica_kind in [Kind::Shoal, Kind::Redis] {
        let master = ServerProcess::shoal(&["--repl-diskless-sync-delay", "0", "--enable-debug-command", "yes"]);
        let replica = start(replica_kind, &["--replica-read-only", "no"]);
        replicaof(&replica, &master);
        wait_caught_up(&master, &replica);
        let mut m = master.client();
        assert_eq!(text(&m.cmd("DEBUG SET-ACTIVE-EXPIRE 0")), "OK");
        m.cmd("SET from-master 1 PX 50");
        wait_caught_up(&master, &replica);
        let mut r = replica.client();
        r.cmd("SELECT 5");
        assert_eq!(text(&r.cmd("SET own1 1 PX 300")), "OK");
        assert_eq!(text(&r.cmd("SET own2 2")), "OK");
        assert_eq!(r.cmd("PEXPIRE own2 300"), Value::Int(1));
        assert_eq!(text(&r.cmd("SET own3 3 EX 1000")), "OK");
        assert_eq!(
            info_number(&mut r, "stats", "slave_expires_tracked_keys"),
            3,
            "{replica_kind:?}{}",
            replication_report(&[&replica])
        );
        eventually_on(&[&master, &replica], "the replica's own keys to expire", 30, || {
            r.cmd("DBSIZE") == Value::Int(1)
        });
        assert_eq!(r.cmd("EXISTS own3"), Value::Int(1), "{replica_kind:?}: a key whose time has not come stays");
        assert_eq!(info_number(&mut r, "stats", "slave_expires_tracked_keys"), 1, "{replica_kind:?}");
        r.cmd("SELECT 0");
        assert_eq!(r.cmd("GET from-master"), Value::Null, "{replica_kind:?}: expired, so it reads as missing");
        assert_eq!(r.cmd("DBSIZE"), Value::Int(1), "{replica_kind:?}: but the master's key waits for its DEL");
        // FLUSHALL forgets every tracked key.
        assert_eq!(text(&r.cmd("FLUSHALL")), "OK");
        assert_eq!(info_number(&mut r, "stats", "slave_expires_tracked_keys"), 0, "{replica_kind:?}");
    }
}

/// repl-diskless-load swapdb, a full sync within the replica's own
/// history (its master's id is its own): the replica loads aside
/// (INFO async_loading:1, loading:0) and keeps serving its old dataset
/// and functions, refuses REPLICAOF and CONFIG SET appendonly with
/// -LOADING meanwhile, then swaps the new dataset and functions in.
#[test]
fn async_loading_serves_the_old_dataset_until_the_new_one_is_swapped_in() {
    let master = ServerProcess::shoal(&[
        "--repl-diskless-sync",
        "yes",
        "--repl-diskless-sync-delay",
        "0",
        "--enable-debug-command",
        "yes",
    ]);
    let replica = ServerProcess::shoal(&[
        "--repl-diskless-load",
        "swapdb",
        "--replica-read-only",
        "no",
        "--enable-debug-command",
        "yes",
    ]);
    replicaof(&replica, &master);
    wait_caught_up(&master, &replica);
    let mut m = master.client();
    let mut r = replica.client();
    m.cmd("DEBUG POPULATE 500 master 10");
    let old_lib = "#!lua name=test\nredis.register_function('test', function() return 'hello1' end)";
    let new_lib = "#!lua name=test\nredis.register_function('test', function() return 'hello2' end)";
    assert_eq!(text(&m.call(&[b"FUNCTION", b"LOAD", new_lib.as_bytes()])), "test");
    wait_caught_up(&master, &replica);
    // The replica's own additions, which the new dataset replaces.
    assert_eq!(text(&r.cmd("SET mykey myvalue")), "OK");
    assert_eq!(text(&r.call(&[b"FUNCTION", b"LOAD", b"REPLACE", old_lib.as_bytes()])), "test");
    let size_before = r.cmd("DBSIZE");
    // A full sync again, in the same history, and a slow one.
    m.cmd("CONFIG SET rdb-key-save-delay 10000");
    m.cmd("MULTI");
    m.cmd("CLIENT KILL TYPE replica");
    m.cmd("CONFIG SET repl-backlog-size 16384");
    let value = "A".repeat(16384);
    for i in 0..10 {
        m.call(&[b"SET", format!("big{i}").as_bytes(), value.as_bytes()]);
    }
    m.cmd("EXEC");
    eventually_on(&[&master, &replica], "the replica to load asynchronously", 60, || {
        info_field(&mut r, "persistence", "async_loading") == "1"
    });
    assert_eq!(info_field(&mut r, "persistence", "loading"), "0");
    assert_eq!(text(&r.cmd("GET mykey")), "myvalue", "the old dataset is served");
    assert_eq!(text(&r.cmd("FCALL test 0")), "hello1", "the old functions are served");
    assert_eq!(r.cmd("DBSIZE"), size_before, "(DEBUG POPULATE is not replicated)");
    assert!(text(&r.cmd("REPLICAOF NO ONE")).starts_with("LOADING"));
    assert!(text(&r.cmd("CONFIG SET appendonly no")).starts_with("LOADING"));
    assert_eq!(info_field(&mut r, "persistence", "async_loading"), "1", "{}", replication_report(&[&master, &replica]));
    m.cmd("CONFIG SET rdb-key-save-delay 0");
    wait_caught_up(&master, &replica);
    assert_eq!(info_field(&mut r, "persistence", "async_loading"), "0");
    assert_eq!(r.cmd("GET mykey"), Value::Null, "the new dataset replaced the old");
    assert_eq!(text(&r.cmd("FCALL test 0")), "hello2", "and the master's functions the replica's");
    assert_eq!(r.cmd("DBSIZE"), Value::Int(510));
    assert_eq!(m.cmd("DBSIZE"), Value::Int(510));
    assert_eq!(digest(&master), digest(&replica));
}

/// INFO replication of a replica whose master is still writing the
/// snapshot (after +FULLRESYNC, before the payload's `$` line): the
/// master_sync_* fields as redis-server shows them (size unknown: -1,
/// nothing read, -0.00 percent), from a Shoal and a redis-server replica
/// of the same slow disk-backed sync.
#[test]
fn a_replica_waiting_for_its_snapshot_reports_as_redis_does() {
    let master = ServerProcess::shoal(&["--repl-diskless-sync", "no", "--enable-debug-command", "yes"]);
    let mut m = master.client();
    m.cmd("DEBUG POPULATE 200 key 10");
    m.cmd("CONFIG SET rdb-key-save-delay 100000");
    let (shoal, redis) = (ServerProcess::shoal(&[]), ServerProcess::redis(&[]));
    replicaof(&shoal, &master);
    replicaof(&redis, &master);
    let fields = [
        "master_link_status",
        "master_last_io_seconds_ago",
        "master_sync_in_progress",
        "master_sync_total_bytes",
        "master_sync_read_bytes",
        "master_sync_left_bytes",
        "master_sync_perc",
    ];
    let read = |server: &ServerProcess| -> Vec<String> {
        let info = text(&server.client().cmd("INFO replication"));
        fields
            .iter()
            .map(|f| {
                let prefix = format!("{f}:");
                info.lines().find_map(|l| l.strip_prefix(&prefix)).unwrap_or("(missing)").trim().to_string()
            })
            .collect()
    };
    eventually_on(&[&master, &shoal, &redis], "both replicas to wait for the payload", 60, || {
        let mut m = master.client();
        let info = text(&m.cmd("INFO replication"));
        info.matches("state=wait_bgsave").count() == 2 && read(&shoal)[2] == "1" && read(&redis)[2] == "1"
    });
    let (on_shoal, on_redis) = (read(&shoal), read(&redis));
    assert_eq!(on_shoal, on_redis, "{}", replication_report(&[&shoal, &redis]));
    assert_eq!(on_shoal[3], "-1", "the size is not known yet");
    m.cmd("CONFIG SET rdb-key-save-delay 0");
    wait_caught_up(&master, &shoal);
    wait_caught_up(&master, &redis);
    assert_eq!(read(&shoal)[2], "0");
}
