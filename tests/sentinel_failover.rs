//! Shoal's sentinel on the network (`shoal-server --sentinel`, `shoal-sentinel`): automatic
//! failover after kill -9 of the master, of Shoal data nodes and of redis-server data
//! nodes; the configuration file rewritten on every change and read back after a restart;
//! and a client library (redis-py's `Sentinel`) following the master through a failover.

mod support;

use std::time::Duration;

use shoal_resp::Value;
use support::sentinel::{field, monitor_conf, text, wait_for, DataNodes, Kind, SentinelProcess};
use support::RawClient;

const FAILOVER_LIMIT: Duration = Duration::from_secs(60);

fn start_sentinels(kind: Kind, master_port: u16, count: usize) -> Vec<SentinelProcess> {
    let conf = monitor_conf(master_port, 2, 1000);
    let sentinels: Vec<SentinelProcess> = (0..count)
        .map(|i| {
            // One of Shoal's sentinels runs as the shoal-sentinel binary.
            if kind == Kind::Shoal && i == count - 1 {
                SentinelProcess::start_binary(&conf)
            } else {
                SentinelProcess::start(kind, &conf)
            }
        })
        .collect();
    for s in &sentinels {
        wait_for(Duration::from_secs(30), "the sentinels to discover each other and the replicas", || {
            let master = s.cmd("SENTINEL MASTER mymaster");
            field(&master, "num-other-sentinels").as_deref() == Some(&(count - 1).to_string())
                && field(&master, "num-slaves").as_deref() == Some("2")
        });
    }
    sentinels
}

/// Subscribes to every event channel of a sentinel.
fn events(sentinel: &SentinelProcess) -> RawClient {
    let mut c = sentinel.client();
    let reply = c.cmd("PSUBSCRIBE *");
    assert_eq!(text(&match reply {
        Value::Array(items) | Value::Push(items) => items[0].clone(),
        other => other,
    }), "psubscribe");
    c
}

/// Reads events until one on `channel` arrives; returns its message.
fn wait_event(c: &mut RawClient, channel: &str) -> String {
    let deadline = std::time::Instant::now() + FAILOVER_LIMIT;
    loop {
        assert!(std::time::Instant::now() < deadline, "no {channel} event");
        let Some(raw) = c.poll_raw(Duration::from_secs(1)) else { continue };
        let value = shoal_resp::parse_value(&raw).unwrap().unwrap().0;
        if let Value::Array(items) | Value::Push(items) = value {
            if items.len() == 4 && text(&items[2]) == channel {
                return text(&items[3]);
            }
        }
    }
}

/// kill -9 of the master: a replica is promoted, the other follows it, every sentinel
/// names it, and the sentinels' config files name it too.
fn failover_after_kill(nodes_kind: Kind, sentinels_kind: Kind) {
    let mut nodes = DataNodes::start(nodes_kind, 2);
    let old_master = nodes.ports[0];
    let sentinels = start_sentinels(sentinels_kind, old_master, 3);
    let mut watcher = events(&sentinels[0]);
    // A write the replicas acknowledged survives the failover.
    let mut master = nodes.client(0);
    assert_eq!(text(&master.cmd("SET survivor 1")), "OK");
    assert_eq!(master.cmd("WAIT 2 5000"), Value::Int(2));
    nodes.kill(0);

    let switch = wait_event(&mut watcher, "+switch-master");
    let words: Vec<&str> = switch.split(' ').collect();
    assert_eq!(words[..3], ["mymaster", "127.0.0.1", &old_master.to_string()[..]], "{switch}");
    let new_master: u16 = words[4].parse().unwrap();
    let promoted = nodes.ports.iter().position(|&p| p == new_master).expect("a replica was promoted");
    assert_ne!(promoted, 0);
    let other = 3 - promoted;

    for s in &sentinels {
        wait_for(FAILOVER_LIMIT, "every sentinel to name the new master", || s.master_port("mymaster") == Some(new_master));
    }
    wait_for(FAILOVER_LIMIT, "the promoted replica to be a master", || {
        nodes.info_field(promoted, "role").as_deref() == Some("master")
    });
    wait_for(FAILOVER_LIMIT, "the other replica to follow the new master", || {
        nodes.info_field(other, "master_port").as_deref() == Some(&new_master.to_string()[..]) && nodes.link_up(other)
    });
    let mut c = nodes.client(promoted);
    assert_eq!(text(&c.cmd("GET survivor")), "1");
    assert_eq!(text(&c.cmd("SET after failover")), "OK");
    for s in &sentinels {
        wait_for(Duration::from_secs(10), "the config file to name the new master", || {
            s.config_text().contains(&format!("sentinel monitor mymaster 127.0.0.1 {new_master} 2"))
        });
    }
}

#[test]
fn shoal_sentinels_fail_over_shoal_nodes_after_kill_9() {
    failover_after_kill(Kind::Shoal, Kind::Shoal);
}

#[test]
fn shoal_sentinels_fail_over_redis_server_nodes() {
    failover_after_kill(Kind::Redis, Kind::Shoal);
}

/// Everything a sentinel learns (its id, the replicas and sentinels it discovered, the
/// options set at run time, the epochs) is in its config file and comes back after a
/// restart; the user's own lines stay where they were.
#[test]
fn config_rewrite_survives_restart() {
    let nodes = DataNodes::start(Kind::Shoal, 2);
    let conf = format!("# my sentinel\nsentinel monitor mymaster 127.0.0.1 {} 2\n# end of my lines\n", nodes.ports[0]);
    let mut a = SentinelProcess::start(Kind::Shoal, &conf);
    let b = SentinelProcess::start(Kind::Shoal, &conf);
    let myid = text(&a.cmd("SENTINEL MYID"));
    assert_eq!(myid.len(), 40);
    assert_eq!(text(&a.cmd("SENTINEL SET mymaster down-after-milliseconds 1500 parallel-syncs 2")), "OK");
    assert_eq!(text(&a.cmd("SENTINEL MONITOR other 127.0.0.1 1 1")), "OK");
    wait_for(Duration::from_secs(30), "discovery", || {
        let m = a.cmd("SENTINEL MASTER mymaster");
        field(&m, "num-slaves").as_deref() == Some("2") && field(&m, "num-other-sentinels").as_deref() == Some("1")
    });
    let file = a.config_text();
    assert!(file.starts_with("# my sentinel\n"), "{file}");
    assert!(file.contains("# end of my lines"), "{file}");
    assert!(file.contains(&format!("sentinel myid {myid}")), "{file}");
    assert!(file.contains("sentinel down-after-milliseconds mymaster 1500"), "{file}");
    for port in &nodes.ports[1..] {
        assert!(file.contains(&format!("sentinel known-replica mymaster 127.0.0.1 {port}")), "{file}");
    }
    assert!(file.contains(&format!("sentinel known-sentinel mymaster 127.0.0.1 {}", b.port)), "{file}");

    a.restart();
    assert_eq!(text(&a.cmd("SENTINEL MYID")), myid);
    let master = a.cmd("SENTINEL MASTER mymaster");
    assert_eq!(field(&master, "down-after-milliseconds").as_deref(), Some("1500"));
    assert_eq!(field(&master, "parallel-syncs").as_deref(), Some("2"));
    // Known before any INFO or hello arrived: they came from the file.
    assert_eq!(field(&master, "num-slaves").as_deref(), Some("2"));
    assert_eq!(field(&master, "num-other-sentinels").as_deref(), Some("1"));
    assert_eq!(text(&a.cmd("SENTINEL REMOVE other")), "OK");
    a.restart();
    assert!(matches!(a.cmd("SENTINEL MASTER other"), Value::Error(_)));
    assert!(!a.config_text().contains("sentinel monitor other"));
}

/// The file's server directives are checked as redis-server checks them (a directive Shoal
/// cannot honour is refused, not ignored), and a rewrite writes those that differ from
/// redis-server's defaults, as redis-sentinel does, so a restart listens where it did.
#[test]
fn server_directives_are_checked_and_rewritten_like_redis_sentinel() {
    let conf = monitor_conf(support::free_port(), 2, 1000);
    let directives = |kind: Kind| {
        let sentinel = SentinelProcess::start(kind, &conf);
        assert_eq!(text(&sentinel.cmd("SENTINEL FLUSHCONFIG")), "OK");
        let mut lines: Vec<String> = sentinel
            .config_text()
            .lines()
            .filter(|l| ["port ", "bind ", "protected-mode ", "logfile "].iter().any(|p| l.starts_with(p)))
            .map(|l| l.replace('"', ""))
            .collect();
        lines.sort();
        (lines, sentinel.port)
    };
    let (shoal, shoal_port) = directives(Kind::Shoal);
    let (redis, redis_port) = directives(Kind::Redis);
    assert!(shoal.contains(&format!("port {shoal_port}")), "{shoal:?}");
    let redis = redis.join("\n").replace(&redis_port.to_string(), &shoal_port.to_string());
    assert_eq!(shoal.join("\n"), redis);

    let dir = tempfile::tempdir().unwrap();
    let start = |line: &str| {
        let file = dir.path().join("bad.conf");
        std::fs::write(&file, format!("{conf}{line}\n")).unwrap();
        let port = support::free_port().to_string();
        std::process::Command::new(env!("CARGO_BIN_EXE_shoal-server"))
            .args([file.to_str().unwrap(), "--sentinel", "--port", &port])
            .output()
            .unwrap()
    };
    let bad = start("no-such-directive 1");
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("Bad directive or wrong number of arguments"));
    let unsupported = start("daemonize yes");
    assert!(!unsupported.status.success());
    assert!(String::from_utf8_lossy(&unsupported.stderr).contains("daemonize yes is not supported"));
}

/// A promotion ends the sentinel's hello subscription on the promoted replica (CLIENT KILL
/// TYPE pubsub, as redis-sentinel sends it): the subscription alone is opened again and
/// the command connection, with the replies still due on it, stays.
#[test]
fn a_broken_subscription_leaves_the_command_connection() {
    let nodes = DataNodes::start(Kind::Shoal, 0);
    let sentinel = SentinelProcess::start(Kind::Shoal, &monitor_conf(nodes.ports[0], 1, 5000));
    let mut master = RawClient::connect(nodes.ports[0]).unwrap();
    let sentinel_clients = |master: &mut RawClient| {
        let list = text(&master.cmd("CLIENT LIST"));
        let mut found: Vec<(String, String)> = list
            .lines()
            .filter_map(|line| {
                let field = |name: &str| line.split(' ').find_map(|f| f.strip_prefix(name)).map(str::to_string);
                let name = field("name=")?;
                name.starts_with("sentinel-").then(|| (name.rsplit('-').next().unwrap().to_string(), field("id=").unwrap()))
            })
            .collect();
        found.sort();
        found
    };
    let mut before = Vec::new();
    wait_for(Duration::from_secs(10), "the sentinel's two connections", || {
        before = sentinel_clients(&mut master);
        before.len() == 2
    });
    assert_eq!(text(&master.cmd("CLIENT KILL TYPE pubsub")), "1");
    wait_for(Duration::from_secs(10), "the subscription again", || {
        let now = sentinel_clients(&mut master);
        now.len() == 2 && now[1].1 != before[1].1
    });
    let after = sentinel_clients(&mut master);
    assert_eq!(after[0], before[0], "the command connection was replaced: {before:?} -> {after:?}");
    assert_eq!(after[1].0, "pubsub");
    assert_eq!(text(&sentinel.cmd("PING")), "PONG");
}

/// After a failover the new master and the epochs are what a restarted sentinel starts from.
#[test]
fn a_restarted_sentinel_remembers_the_failover() {
    let mut nodes = DataNodes::start(Kind::Shoal, 2);
    let mut sentinels = start_sentinels(Kind::Shoal, nodes.ports[0], 3);
    nodes.kill(0);
    let mut new_master = None;
    wait_for(FAILOVER_LIMIT, "the failover", || {
        new_master = sentinels[1].master_port("mymaster").filter(|&p| p != nodes.ports[0]);
        new_master.is_some()
    });
    let epoch = field(&sentinels[1].cmd("SENTINEL MASTER mymaster"), "config-epoch").unwrap();
    assert_ne!(epoch, "0");
    wait_for(Duration::from_secs(10), "the flush", || {
        sentinels[1].config_text().contains(&format!("sentinel config-epoch mymaster {epoch}"))
    });
    sentinels[1].restart();
    assert_eq!(sentinels[1].master_port("mymaster"), new_master);
    let master = sentinels[1].cmd("SENTINEL MASTER mymaster");
    assert_eq!(field(&master, "config-epoch"), Some(epoch));
}

/// redis-py's Sentinel class (tests/sentinel_redis_py.py) finds the master through Shoal's
/// sentinels and, after a failover, reconnects to the new master with no change to the
/// client code.
#[test]
fn redis_py_follows_a_failover() {
    // The first python3 on PATH that has redis-py (a version manager's python3 may shadow
    // the system's, which apt-get's python3-redis installs into).
    let python = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join("python3"))
        .filter(|p| p.is_file())
        .find(|p| {
            std::process::Command::new(p)
                .args(["-c", "import redis"])
                .stderr(std::process::Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
        .expect("python3 with redis-py is required (apt-get install python3-redis)");
    let mut nodes = DataNodes::start(Kind::Shoal, 2);
    let sentinels = start_sentinels(Kind::Shoal, nodes.ports[0], 3);
    let ports: Vec<String> = sentinels.iter().map(|s| s.port.to_string()).collect();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sentinel_redis_py.py");
    let mut child = std::process::Command::new(python)
        .arg(script)
        .args(&ports)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The script writes through the master, then says "ready" and waits for the kill.
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut line).unwrap();
    assert_eq!(line.trim(), format!("ready {}", nodes.ports[0]));
    nodes.kill(0);
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), b"killed\n").unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "the redis-py script failed: {rest}");
    let moved: u16 = rest.lines().last().and_then(|l| l.strip_prefix("moved ")).unwrap().parse().unwrap();
    assert!(nodes.ports[1..].contains(&moved), "{rest}");
}
