//! The sentinel's own commands, compared side by side with redis-sentinel 7.0
//! (`redis-server --sentinel`): a Shoal sentinel and a Redis sentinel monitor the same
//! redis-server master (and discover each other through it); every command below must get
//! the same reply from both, byte for byte once both agree on the deployment, or the same
//! fields where values depend on time.

mod support;

use std::time::Duration;

use shoal_resp::Value;
use support::sentinel::{field, monitor_conf, pairs, text, wait_for, DataNodes, Kind, SentinelProcess};
use support::RawClient;

struct Pair {
    shoal: SentinelProcess,
    redis: SentinelProcess,
    _nodes: DataNodes,
}

fn start_pair() -> Pair {
    let nodes = DataNodes::start(Kind::Redis, 1);
    let conf = monitor_conf(nodes.ports[0], 2, 5000);
    let shoal = SentinelProcess::start(Kind::Shoal, &conf);
    let redis = SentinelProcess::start(Kind::Redis, &conf);
    for s in [&shoal, &redis] {
        wait_for(Duration::from_secs(30), "both sentinels to see the replica and each other", || {
            let m = s.cmd("SENTINEL MASTER mymaster");
            field(&m, "num-slaves").as_deref() == Some("1") && field(&m, "num-other-sentinels").as_deref() == Some("1")
        });
    }
    Pair { shoal, redis, _nodes: nodes }
}

fn call(c: &mut RawClient, args: &[&str]) -> Value {
    let words: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
    c.call(&words)
}

/// Commands whose replies must be identical.
const SAME: &[&[&str]] = &[
    &["PING"],
    &["PING", "hello"],
    &["ROLE"],
    &["SENTINEL", "GET-MASTER-ADDR-BY-NAME", "mymaster"],
    &["SENTINEL", "get-master-addr-by-name", "nosuch"],
    &["SENTINEL", "MASTER", "nosuch"],
    &["SENTINEL", "REPLICAS", "nosuch"],
    &["SENTINEL", "SENTINELS", "nosuch"],
    &["SENTINEL", "MASTER"],
    &["SENTINEL", "NOSUCHCOMMAND"],
    &["SENTINEL", "HELP"],
    &["SENTINEL", "CKQUORUM", "mymaster"],
    &["SENTINEL", "CKQUORUM", "nosuch"],
    &["SENTINEL", "CONFIG", "GET", "*"],
    &["SENTINEL", "CONFIG", "GET", "announce-*"],
    &["SENTINEL", "CONFIG", "SET", "nosuch", "1"],
    &["SENTINEL", "CONFIG", "SET", "announce-port", "notanumber"],
    &["SENTINEL", "CONFIG", "SET", "resolve-hostnames", "maybe"],
    &["SENTINEL", "CONFIG", "FOO", "bar"],
    &["SENTINEL", "DEBUG"],
    &["SENTINEL", "DEBUG", "ping-period", "abc"],
    &["SENTINEL", "DEBUG", "nosuch", "1"],
    &["SENTINEL", "SET", "mymaster", "nosuch", "1"],
    &["SENTINEL", "SET", "mymaster", "quorum", "0"],
    &["SENTINEL", "SET", "mymaster", "down-after-milliseconds", "-5"],
    &["SENTINEL", "SET", "nosuch", "quorum", "1"],
    &["SENTINEL", "SET", "mymaster", "notification-script", "/bin/true"],
    &["SENTINEL", "SET", "mymaster", "rename-command", "CONFIG", ""],
    &["SENTINEL", "MONITOR", "other", "127.0.0.1", "notaport", "1"],
    &["SENTINEL", "MONITOR", "other", "127.0.0.1", "1", "notaquorum"],
    &["SENTINEL", "MONITOR", "other", "not-an-ip", "1", "1"],
    &["SENTINEL", "MONITOR", "other", "127.0.0.1", "1", "0"],
    &["SENTINEL", "MONITOR", "mymaster", "127.0.0.1", "1", "1"],
    &["SENTINEL", "REMOVE", "nosuch"],
    &["SENTINEL", "FAILOVER", "nosuch"],
    &["SENTINEL", "RESET", "nosuch*"],
    &["SENTINEL", "INFO-CACHE", "nosuch"],
    &["SENTINEL", "PENDING-SCRIPTS"],
    &["SENTINEL", "SIMULATE-FAILURE", "help"],
    &["SENTINEL", "SIMULATE-FAILURE", "nosuch"],
    &["SENTINEL", "IS-MASTER-DOWN-BY-ADDR", "127.0.0.1", "notaport", "0", "*"],
    &["SENTINEL", "IS-MASTER-DOWN-BY-ADDR", "10.0.0.1", "1", "0", "*"],
    &["GET", "key"],
    &["SET", "key", "value", "EX", "10"],
    &["CLIENT", "SETNAME", "has space"],
    &["CLIENT", "GETNAME"],
    &["CLIENT", "SETNAME", "named"],
    &["CLIENT", "GETNAME"],
    &["CLIENT", "NOSUCH"],
    &["CLIENT", "KILL", "127.0.0.1:1"],
    &["CLIENT", "KILL", "ID", "999999"],
    &["AUTH", "password"],
    &["PUBLISH", "channel", "message"],
    &["HELLO", "4"],
    &["SUBSCRIBE", "+sdown", "-sdown"],
    &["UNSUBSCRIBE", "+sdown", "-sdown"],
];

#[test]
fn replies_match_redis_sentinel() {
    let pair = start_pair();
    let (mut s, mut r) = (pair.shoal.client(), pair.redis.client());
    let mut differences = Vec::new();
    for command in SAME {
        let (a, b) = (call(&mut s, command), call(&mut r, command));
        if a != b {
            differences.push(format!("{command:?}:\n  shoal: {a:?}\n  redis: {b:?}"));
        }
        // (UN)SUBSCRIBE answers once per channel.
        if command[0].ends_with("SUBSCRIBE") {
            let (a, b) = (s.read(), r.read());
            if a != b {
                differences.push(format!("{command:?} (second):\n  shoal: {a:?}\n  redis: {b:?}"));
            }
        }
    }
    assert!(differences.is_empty(), "{} differences:\n{}", differences.len(), differences.join("\n"));
}

fn keys(v: &Value) -> Vec<String> {
    pairs(v).into_iter().map(|(k, _)| k).collect()
}

/// The instance reports list the same fields in the same order, with the same values
/// where they do not depend on time or on the instance's identity.
#[test]
fn instance_reports_match_redis_sentinel() {
    let pair = start_pair();
    let (mut s, mut r) = (pair.shoal.client(), pair.redis.client());
    let stable = ["name", "ip", "port", "flags", "num-slaves", "num-other-sentinels", "quorum", "config-epoch"];
    for command in [&["SENTINEL", "MASTER", "mymaster"][..]] {
        let (a, b) = (call(&mut s, command), call(&mut r, command));
        assert_eq!(keys(&a), keys(&b), "{command:?}");
        for k in stable {
            assert_eq!(field(&a, k), field(&b, k), "{command:?} {k}");
        }
    }
    for command in [&["SENTINEL", "REPLICAS", "mymaster"][..], &["SENTINEL", "SLAVES", "mymaster"][..]] {
        let (Value::Array(a), Value::Array(b)) = (call(&mut s, command), call(&mut r, command)) else {
            panic!("{command:?} is not an array")
        };
        assert_eq!(a.len(), 1);
        assert_eq!(b.len(), 1);
        assert_eq!(keys(&a[0]), keys(&b[0]), "{command:?}");
        for k in ["name", "ip", "port", "flags", "master-host", "master-port", "slave-priority"] {
            assert_eq!(field(&a[0], k), field(&b[0], k), "{command:?} {k}");
        }
    }
    let (Value::Array(a), Value::Array(b)) =
        (call(&mut s, &["SENTINEL", "SENTINELS", "mymaster"]), call(&mut r, &["SENTINEL", "SENTINELS", "mymaster"]))
    else {
        panic!("SENTINELS is not an array")
    };
    assert_eq!(keys(&a[0]), keys(&b[0]));
    // Each names the other.
    assert_eq!(field(&a[0], "port"), Some(pair.redis.port.to_string()));
    assert_eq!(field(&b[0], "port"), Some(pair.shoal.port.to_string()));
    assert_eq!(field(&a[0], "name"), Some(text(&call(&mut r, &["SENTINEL", "MYID"]))));
    // INFO: the same sections; the sentinel section the same apart from nothing.
    let sections = |v: &Value| text(v).lines().filter(|l| l.starts_with('#')).map(str::to_string).collect::<Vec<_>>();
    assert_eq!(sections(&call(&mut s, &["INFO"])), sections(&call(&mut r, &["INFO"])));
    assert_eq!(sections(&call(&mut s, &["INFO", "cpu", "sentinel"])), sections(&call(&mut r, &["INFO", "cpu", "sentinel"])));
    assert_eq!(text(&call(&mut s, &["INFO", "sentinel"])), text(&call(&mut r, &["INFO", "sentinel"])));
    // INFO-CACHE: the master and its replica, each with the INFO text it last sent.
    let cache = call(&mut s, &["SENTINEL", "INFO-CACHE", "mymaster"]);
    let Value::Array(items) = cache else { panic!("INFO-CACHE is not an array") };
    assert_eq!(text(&items[0]), "mymaster");
    let Value::Array(instances) = &items[1] else { panic!("no instances") };
    assert_eq!(instances.len(), 2);
    for instance in instances {
        let Value::Array(entry) = instance else { panic!() };
        assert!(text(&entry[1]).contains("# Replication"), "{entry:?}");
    }
}

/// SENTINEL SET, SENTINEL CONFIG SET and SENTINEL DEBUG change what the reports show, and
/// SET publishes +set as redis-sentinel does.
#[test]
fn settings_change_like_redis_sentinel() {
    let pair = start_pair();
    for sentinel in [&pair.shoal, &pair.redis] {
        let mut events = sentinel.client();
        call(&mut events, &["SUBSCRIBE", "+set"]);
        let mut c = sentinel.client();
        assert_eq!(text(&call(&mut c, &["SENTINEL", "SET", "mymaster", "quorum", "1", "parallel-syncs", "3"])), "OK");
        let master = call(&mut c, &["SENTINEL", "MASTER", "mymaster"]);
        assert_eq!(field(&master, "quorum").as_deref(), Some("1"));
        assert_eq!(field(&master, "parallel-syncs").as_deref(), Some("3"));
        let port = field(&master, "port").unwrap();
        let Value::Array(message) = events.read() else { panic!("no +set event") };
        assert_eq!(text(&message[2]), format!("master mymaster 127.0.0.1 {port} quorum 1"));
        assert_eq!(text(&call(&mut c, &["SENTINEL", "SET", "mymaster", "auth-pass", "secret"])), "OK");
        let Value::Array(_) = events.read() else { panic!() };
        let Value::Array(message) = events.read() else { panic!("no +set event") };
        assert_eq!(text(&message[2]), format!("master mymaster 127.0.0.1 {port} auth-pass ******"));
        assert_eq!(text(&call(&mut c, &["SENTINEL", "CONFIG", "SET", "announce-port", "7777"])), "OK");
        let got = call(&mut c, &["SENTINEL", "CONFIG", "GET", "announce-port"]);
        assert_eq!(pairs(&got), vec![("announce-port".to_string(), "7777".to_string())]);
        assert_eq!(text(&call(&mut c, &["SENTINEL", "DEBUG", "info-period", "500", "ping-period", "600"])), "OK");
        let debug = call(&mut c, &["SENTINEL", "DEBUG"]);
        assert_eq!(field(&debug, "INFO-PERIOD").as_deref(), Some("500"));
        assert_eq!(field(&debug, "PING-PERIOD").as_deref(), Some("600"));
        assert_eq!(text(&call(&mut c, &["SENTINEL", "SIMULATE-FAILURE", "crash-after-election"])), "OK");
        let info = text(&call(&mut c, &["INFO", "sentinel"]));
        assert!(info.contains("sentinel_simulate_failure_flags:1"), "{info}");
        let file = sentinel.config_text();
        assert!(file.contains("sentinel announce-port 7777"), "{file}");
        assert!(file.contains("sentinel auth-pass mymaster secret"), "{file}");
    }
}

/// ACL on the sentinels themselves: the same replies from both (users,
/// rules, NOPERM, AUTH as a user, CLIENT KILL USER), and users kept in the
/// config file across a restart.
#[test]
fn acl_users_like_redis_sentinel() {
    let mut pair = start_pair();
    let (mut s, mut r) = (pair.shoal.client(), pair.redis.client());
    let script: &[&[&str]] = &[
        &["ACL", "SETUSER", "alice", "on", ">secret", "+@all"],
        &["ACL", "SETUSER", "bob", "on", ">pw", "-@all", "+ping"],
        &["ACL", "SETUSER", "bad", "+nosuch"],
        &["ACL", "GETUSER", "alice"],
        &["ACL", "GETUSER", "bob"],
        &["ACL", "GETUSER", "nosuch"],
        &["ACL", "LIST"],
        &["ACL", "USERS"],
        &["ACL", "WHOAMI"],
        &["ACL", "DRYRUN", "bob", "ping"],
        &["ACL", "DRYRUN", "bob", "info"],
        &["ACL", "DELUSER", "default"],
        &["ACL", "LOAD"],
        &["ACL", "NOSUCH"],
        &["CLIENT", "KILL", "USER", "nosuch"],
        &["AUTH", "bob", "wrong"],
        &["AUTH", "bob", "pw"],
        &["ACL", "WHOAMI"],
        &["PING"],
        &["INFO"],
        &["AUTH", "alice", "secret"],
        &["ACL", "WHOAMI"],
        &["ACL", "DELUSER", "bob", "nosuch"],
    ];
    let mut differences = Vec::new();
    for command in script {
        let (a, b) = (call(&mut s, command), call(&mut r, command));
        if a != b {
            differences.push(format!("{command:?}:\n  shoal: {a:?}\n  redis: {b:?}"));
        }
    }
    assert!(differences.is_empty(), "{} differences:\n{}", differences.len(), differences.join("\n"));
    // The default user off: new connections must log in.
    call(&mut s, &["ACL", "SETUSER", "default", "off"]);
    let mut fresh = pair.shoal.client();
    assert_eq!(call(&mut fresh, &["PING"]), Value::Error(b"NOAUTH Authentication required.".to_vec()));
    assert_eq!(call(&mut fresh, &["AUTH", "alice", "secret"]), Value::Simple(b"OK".to_vec()));
    // Users are written to the config file and come back after a restart
    // (the default user on again, for the harness's start-up check).
    call(&mut fresh, &["ACL", "SETUSER", "default", "on"]);
    call(&mut fresh, &["SENTINEL", "FLUSHCONFIG"]);
    assert!(pair.shoal.config_text().contains("user alice on #"), "{}", pair.shoal.config_text());
    pair.shoal.restart();
    let mut after = pair.shoal.client();
    assert_eq!(call(&mut after, &["AUTH", "alice", "secret"]), Value::Simple(b"OK".to_vec()));
    assert_eq!(call(&mut after, &["ACL", "USERS"]), Value::Array(vec![support::bulk("alice"), support::bulk("default")]));
}
