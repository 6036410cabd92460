//! What a sentinel relies on in the data nodes it manages, beyond replication itself
//! (tests/replication.rs): CONFIG REWRITE keeping what was set at run time, writes refused
//! by the role (scripts included), and Shoal's fence for a restarted master
//! (`master-fence-on-restart`, ARCHITECTURE.md "Fencing a restarted master").

mod support;

use shoal_resp::Value;
use support::{bulk, info_value, RawClient, ServerProcess};

fn text(v: &Value) -> String {
    match v {
        Value::Simple(b) | Value::Bulk(b) | Value::Error(b) => String::from_utf8_lossy(b).into_owned(),
        other => format!("{other:?}"),
    }
}

fn is_error(v: &Value) -> bool {
    matches!(v, Value::Error(_))
}

/// redis-sentinel's suite (12-master-reboot) sets key-load-delay and
/// loading-process-events-interval-bytes, runs CONFIG REWRITE and restarts the master
/// expecting a slow load. Both are hidden from CONFIG GET *, yet redis-server writes them
/// like any other parameter that differs from its default.
#[test]
fn config_rewrite_writes_hidden_parameters_set_at_run_time_like_redis() {
    let written = |start: fn(&std::path::Path, &[&str]) -> ServerProcess| {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("node.conf");
        std::fs::write(&conf, "# node\n").unwrap();
        let server = start(&conf, &[]);
        let mut c = server.client();
        assert_eq!(text(&c.cmd("CONFIG SET key-load-delay 1500")), "OK");
        assert_eq!(text(&c.cmd("CONFIG SET loading-process-events-interval-bytes 1024")), "OK");
        assert_eq!(text(&c.cmd("CONFIG REWRITE")), "OK");
        let file = std::fs::read_to_string(&conf).unwrap();
        ["key-load-delay 1500", "loading-process-events-interval-bytes 1024"]
            .map(|line| file.lines().any(|l| l == line))
    };
    let redis = written(ServerProcess::redis_with_config);
    assert_eq!(written(ServerProcess::shoal_with_config), redis);
}

/// A script's write on a read-only replica is refused as a client's is, with redis-server's
/// reply, whether the script declares flags or not.
#[test]
fn scripts_cannot_write_on_a_read_only_replica_like_redis() {
    let replies = |start: fn(&[&str]) -> ServerProcess| {
        // A master that does not exist: the replica stays read-only and empty.
        let nowhere = support::free_port().to_string();
        let server = start(&["--replicaof", "127.0.0.1", &nowhere]);
        let mut c = server.client();
        let undeclared = c.call(&[b"EVAL", b"return redis.call('set','k','v')", b"0"]);
        let declared = c.call(&[b"EVAL", b"#!lua\nreturn redis.call('set','k','v')", b"0"]);
        let reading = c.call(&[b"EVAL", b"#!lua flags=no-writes\nreturn redis.call('get','k')", b"0"]);
        [undeclared, declared, reading]
    };
    let redis = replies(ServerProcess::redis);
    let shoal = replies(ServerProcess::shoal);
    assert!(is_error(&redis[0]) && is_error(&redis[1]), "{redis:?}");
    assert_eq!(shoal, redis);
}

fn fenced_field(c: &mut RawClient) -> Option<String> {
    info_value(c, "replication", "master_fenced")
}

/// Off by default: a master takes writes at once and INFO shows no fence.
#[test]
fn without_fence_on_restart_a_master_takes_writes_at_once() {
    let server = ServerProcess::shoal(&[]);
    let mut c = server.client();
    assert_eq!(text(&c.cmd("SET k v")), "OK");
    assert_eq!(fenced_field(&mut c), None);
}

/// A master started with master-fence-on-restart refuses writes (commands, writes queued
/// in a transaction, and scripts) with -READONLY and serves reads until `CONFIG SET master-fenced no`.
#[test]
fn a_master_started_with_fence_on_restart_takes_no_writes_until_unfenced() {
    let server = ServerProcess::shoal(&["--master-fence-on-restart", "yes"]);
    let mut c = server.client();
    assert_eq!(fenced_field(&mut c).as_deref(), Some("1"));
    assert_eq!(c.cmd("CONFIG GET master-fenced"), Value::Array(vec![bulk("master-fenced"), bulk("yes")]));
    let refused = c.cmd("SET k v");
    assert!(text(&refused).starts_with("READONLY "), "{refused:?}");
    assert_eq!(text(&c.cmd("MULTI")), "OK");
    assert!(text(&c.cmd("INCR n")).starts_with("READONLY "), "refused as it is queued, as on a replica");
    assert!(text(&c.cmd("EXEC")).starts_with("EXECABORT "));
    let script = c.call(&[b"EVAL", b"return redis.call('set','k','v')", b"0"]);
    assert!(text(&script).starts_with("READONLY "), "{script:?}");
    assert_eq!(c.cmd("GET k"), Value::Null, "reads are served");
    assert_eq!(text(&c.cmd("PING")), "PONG");
    assert_eq!(text(&c.cmd("CONFIG SET master-fenced no")), "OK");
    assert_eq!(fenced_field(&mut c).as_deref(), Some("0"));
    assert_eq!(text(&c.cmd("SET k v")), "OK");
    assert_eq!(text(&c.cmd("GET k")), "v");
}

/// A server that starts as a replica is not fenced; REPLICAOF (here NO ONE) ends a fence,
/// as it is an explicit decision about the role.
#[test]
fn a_replica_starts_unfenced_and_replicaof_lifts_a_fence() {
    let nowhere = support::free_port().to_string();
    let replica = ServerProcess::shoal(&["--master-fence-on-restart", "yes", "--replicaof", "127.0.0.1", &nowhere]);
    let mut c = replica.client();
    assert_eq!(c.cmd("CONFIG GET master-fenced"), Value::Array(vec![bulk("master-fenced"), bulk("no")]));
    assert_eq!(text(&c.cmd("REPLICAOF NO ONE")), "OK");
    assert_eq!(text(&c.cmd("SET k v")), "OK", "a replica promoted by hand is not fenced");

    let master = ServerProcess::shoal(&["--master-fence-on-restart", "yes"]);
    let mut c = master.client();
    assert!(text(&c.cmd("SET k v")).starts_with("READONLY "));
    assert_eq!(text(&c.cmd("REPLICAOF NO ONE")), "OK");
    assert_eq!(fenced_field(&mut c).as_deref(), Some("0"));
    assert_eq!(text(&c.cmd("SET k v")), "OK");
}

/// The directive fences every start as a master, whatever the last run lifted; a fence set
/// by hand (`CONFIG SET master-fenced yes`) and written by CONFIG REWRITE fences the next
/// start too, as the node was never confirmed.
#[test]
fn a_restart_is_fenced_by_the_directive_or_by_a_rewritten_fence() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("node.conf");
    std::fs::write(&conf, "master-fence-on-restart yes\n").unwrap();
    {
        let server = ServerProcess::shoal_with_config(&conf, &[]);
        let mut c = server.client();
        assert_eq!(fenced_field(&mut c).as_deref(), Some("1"));
        assert_eq!(text(&c.cmd("CONFIG SET master-fenced no")), "OK");
        assert_eq!(text(&c.cmd("CONFIG REWRITE")), "OK");
    }
    {
        let server = ServerProcess::shoal_with_config(&conf, &[]);
        let mut c = server.client();
        assert_eq!(fenced_field(&mut c).as_deref(), Some("1"), "the directive fences again");
        assert!(text(&c.cmd("SET k v")).starts_with("READONLY "));
    }
    std::fs::write(&conf, "# by hand\n").unwrap();
    {
        let server = ServerProcess::shoal_with_config(&conf, &[]);
        let mut c = server.client();
        assert_eq!(text(&c.cmd("SET k v")), "OK");
        assert_eq!(text(&c.cmd("CONFIG SET master-fenced yes")), "OK");
        assert!(text(&c.cmd("SET k v")).starts_with("READONLY "));
        assert_eq!(text(&c.cmd("CONFIG REWRITE")), "OK");
    }
    let server = ServerProcess::shoal_with_config(&conf, &[]);
    let mut c = server.client();
    assert_eq!(fenced_field(&mut c).as_deref(), Some("1"), "{}", std::fs::read_to_string(&conf).unwrap());
    assert!(text(&c.cmd("SET k v")).starts_with("READONLY "));
}

/// `key-load-delay` slows a load by its value for every key, as in Redis, whatever the
/// number of loader threads (the sentinel suite's master-reboot test needs a master that
/// stays loading for keys x delay). A lower bound only: sleeping guarantees it, so the
/// test can fail only if the delays overlap.
#[test]
fn key_load_delay_slows_a_load_by_the_delay_for_every_key() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().display().to_string();
    let keys = 2000u64;
    {
        let server = ServerProcess::shoal(&["--dir", &dir, "--enable-debug-command", "yes"]);
        let mut c = server.client();
        assert_eq!(text(&c.cmd(&format!("DEBUG POPULATE {keys}"))), "OK");
        assert_eq!(text(&c.cmd("SAVE")), "OK");
    }
    let delay_us = 1000u64;
    let started = std::time::Instant::now();
    let server = ServerProcess::shoal(&["--dir", &dir, "--key-load-delay", &delay_us.to_string()]);
    let mut c = server.client();
    let deadline = started + std::time::Duration::from_secs(60);
    while text(&c.cmd("PING")) != "PONG" {
        assert!(std::time::Instant::now() < deadline, "still loading after 60 s");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let elapsed = started.elapsed();
    assert_eq!(c.cmd("DBSIZE"), Value::Int(keys as i64));
    assert!(elapsed >= std::time::Duration::from_micros(keys * delay_us), "loaded in {elapsed:?}");
}

/// The delay is read again for every key: lowered to 0 during a load (as Redis's own tests
/// do to let a slowed load end), the rest of the load goes on at once.
#[test]
fn lowering_key_load_delay_during_a_load_lets_it_finish() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().display().to_string();
    {
        let server = ServerProcess::shoal(&["--dir", &dir, "--enable-debug-command", "yes"]);
        let mut c = server.client();
        assert_eq!(text(&c.cmd("DEBUG POPULATE 100")), "OK");
        assert_eq!(text(&c.cmd("SAVE")), "OK");
    }
    // A second per key: 100 s unless the change is seen.
    let server = ServerProcess::shoal(&["--dir", &dir, "--key-load-delay", "1000000"]);
    let mut c = server.client();
    assert_eq!(info_value(&mut c, "persistence", "loading").as_deref(), Some("1"));
    assert_eq!(text(&c.cmd("CONFIG SET key-load-delay 0")), "OK");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while text(&c.cmd("PING")) != "PONG" {
        assert!(std::time::Instant::now() < deadline, "still loading 30 s after the delay went to 0");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(c.cmd("DBSIZE"), Value::Int(100));
}
