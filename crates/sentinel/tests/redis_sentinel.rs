//! Comparisons with redis-sentinel 7.0 (`redis-server --sentinel`).
//!
//! The config rewriter: both read the same file, both rewrite it (redis-sentinel on
//! SENTINEL FLUSHCONFIG), and the results must be the same apart from the server's own
//! directives, which the server's rewrite writes, not Sentinel's. The instance reports:
//! SENTINEL MASTER / REPLICAS / SENTINELS list the same fields in the same order, with the
//! same values where they do not depend on time or on connections.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use shoal_resp::{parse_value, Value};
use shoal_sentinel::{Field, Fields, Sentinel, SentinelConfig, SentinelOptions, Timing};

const MYID: &str = "0123456789abcdef0123456789abcdef01234567";

/// The redis-server binary (it runs as redis-sentinel with `--sentinel`).
fn redis_server() -> PathBuf {
    std::env::var_os("PATH")
        .and_then(|paths| std::env::split_paths(&paths).map(|p| p.join("redis-server")).find(|p| p.is_file()))
        .expect("redis-server is required for the comparison with redis-sentinel (apt-get install redis-server)")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A redis-sentinel process on a free port, killed when dropped.
struct RedisSentinel {
    child: Child,
    port: u16,
}

impl Drop for RedisSentinel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl RedisSentinel {
    /// Starts redis-sentinel on the config file `path` (in `dir`) and waits until it
    /// answers.
    fn start(dir: &Path, path: &Path) -> RedisSentinel {
        // The port can be taken between the probe and the bind: retry with another.
        for _attempt in 0..5 {
            let port = free_port();
            let child = Command::new(redis_server())
                .arg(path)
                .args(["--sentinel", "--port", &port.to_string(), "--daemonize", "no"])
                .current_dir(dir)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("redis-server starts");
            let mut sentinel = RedisSentinel { child, port };
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline && matches!(sentinel.child.try_wait(), Ok(None)) {
                // What answers must be this process: another test's server may have
                // taken the port first (this one then exits, unable to bind).
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    if sentinel.answers_as_itself() {
                        return sentinel;
                    }
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        panic!("redis-sentinel did not start");
    }

    /// Whether the process listening on the port is this child (INFO's process_id).
    fn answers_as_itself(&self) -> bool {
        let Value::Bulk(info) = self.command(&["INFO", "server"]) else { return false };
        let pid = format!("process_id:{}", self.child.id());
        String::from_utf8_lossy(&info).lines().any(|line| line.trim_end() == pid)
    }

    fn command(&self, args: &[&str]) -> Value {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut request = format!("*{}\r\n", args.len());
        for arg in args {
            request.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
        }
        stream.write_all(request.as_bytes()).unwrap();
        let mut buffer = Vec::new();
        loop {
            if let Some((value, _)) = parse_value(&buffer).expect("a valid reply") {
                return value;
            }
            let mut chunk = [0u8; 4096];
            let n = stream.read(&mut chunk).unwrap();
            assert!(n > 0, "redis-sentinel closed the connection");
            buffer.extend_from_slice(&chunk[..n]);
        }
    }
}

/// Runs redis-sentinel on `path`, asks it to rewrite its file and returns the file.
fn rewritten_by_redis(dir: &Path, path: &Path) -> String {
    let sentinel = RedisSentinel::start(dir, path);
    assert_eq!(sentinel.command(&["SENTINEL", "FLUSHCONFIG"]), Value::Simple(b"OK".to_vec()));
    std::fs::read_to_string(path).unwrap()
}

/// Redis's output without the server directives it added (those not in the original file),
/// with each run of lines of one option and master sorted: redis-sentinel lists replicas
/// and sentinels in its hash tables' order.
fn normalize(text: &str, original: &str) -> Vec<String> {
    let kept: Vec<&str> = text
        .lines()
        .filter(|line| {
            line.starts_with('#')
                || line.is_empty()
                || line.starts_with("sentinel ")
                || original.lines().any(|o| o.trim() == *line)
        })
        .collect();
    let mut out: Vec<String> = Vec::new();
    let mut run: Vec<String> = Vec::new();
    let key = |line: &str| line.split(' ').take(3).collect::<Vec<_>>().join(" ");
    for line in kept {
        if run.last().is_some_and(|last| key(last) != key(line)) {
            run.sort();
            out.append(&mut run);
        }
        run.push(line.to_string());
    }
    run.sort();
    out.append(&mut run);
    // Dropping server lines can leave two empty lines in a row; Redis joins such runs.
    out.dedup_by(|a, b| a.is_empty() && b.is_empty());
    out
}

fn compare(original: &str) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sentinel.conf");
    std::fs::write(&path, original).unwrap();
    let theirs = rewritten_by_redis(dir.path(), &path);
    let config = SentinelConfig::parse(original, &Timing::default(), &|_| true).expect("the file reads");
    let ours = config.rewrite(original, &Timing::default());
    assert_eq!(normalize(&ours, original), normalize(&theirs, original), "ours:\n{ours}\nredis-sentinel:\n{theirs}");
    // Reading our output gives the same configuration back.
    assert_eq!(SentinelConfig::parse(&ours, &Timing::default(), &|_| true).unwrap(), config);
}

#[test]
fn a_users_file_is_rewritten_as_redis_sentinel_does() {
    compare(&format!(
        "# Sentinel for the cache\n\
         sentinel down-after-milliseconds mymaster 5000\n\
         \n\
         sentinel monitor mymaster 127.0.0.1 6999 2\n\
         # replicas we know\n\
         sentinel parallel-syncs mymaster 3\n\
         sentinel myid {MYID}\n\
         loglevel notice\n\
         sentinel failover-timeout mymaster 60000\n"
    ));
}

#[test]
fn state_lines_reuse_their_places_and_leftovers_go() {
    compare(&format!(
        "sentinel myid {MYID}\n\
         sentinel monitor mymaster 127.0.0.1 6999 2\n\
         sentinel auth-pass mymaster s3cret\n\
         sentinel master-reboot-down-after-period mymaster 2000\n\
         sentinel parallel-syncs mymaster 1\n\
         \n\
         \n\
         # Generated by CONFIG REWRITE\n\
         sentinel config-epoch mymaster 5\n\
         sentinel leader-epoch mymaster 6\n\
         sentinel known-replica mymaster 127.0.0.1 7001\n\
         sentinel known-replica mymaster 127.0.0.1 7002\n\
         sentinel known-sentinel mymaster 127.0.0.1 26001 aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n\
         sentinel known-sentinel mymaster 127.0.0.1 26002\n\
         sentinel rename-command mymaster CONFIG GUESSME\n\
         sentinel current-epoch 6\n\
         sentinel announce-ip 10.1.2.3\n\
         sentinel announce-port 26555\n\
         sentinel deny-scripts-reconfig no\n"
    ));
}

/// A field list as (name, value text) pairs.
fn redis_fields(value: &Value) -> Vec<(String, String)> {
    let Value::Array(items) = value else { panic!("not an array: {value:?}") };
    let text = |v: &Value| match v {
        Value::Bulk(b) => String::from_utf8_lossy(b).into_owned(),
        other => panic!("not a bulk string: {other:?}"),
    };
    items.chunks(2).map(|pair| (text(&pair[0]), text(&pair[1]))).collect()
}

fn our_fields(fields: &Fields) -> Vec<(String, String)> {
    let text = |f: &Field| match f {
        Field::Text(t) => t.clone(),
        Field::Int(i) => i.to_string(),
    };
    fields.iter().map(|(name, value)| (name.to_string(), text(value))).collect()
}

/// Drops what depends on time, on connections or on the process (flags are compared
/// without `disconnected`, which changes as redis-sentinel's connects are refused).
fn stable(fields: Vec<(String, String)>) -> Vec<(String, String)> {
    const VOLATILE: [&str; 7] = [
        "last-ping-sent",
        "last-ok-ping-reply",
        "last-ping-reply",
        "info-refresh",
        "role-reported-time",
        "last-hello-message",
        "link-pending-commands",
    ];
    fields
        .into_iter()
        .map(|(name, value)| {
            let value = if VOLATILE.contains(&name.as_str()) {
                String::new()
            } else if name == "flags" {
                value.split(',').filter(|f| *f != "disconnected").collect::<Vec<_>>().join(",")
            } else {
                value
            };
            (name, value)
        })
        .collect()
}

#[test]
fn instance_reports_list_redis_sentinels_fields() {
    let dead = || free_port().to_string();
    let original = format!(
        "sentinel myid {MYID}\n\
         sentinel monitor mymaster 127.0.0.1 {} 2\n\
         sentinel down-after-milliseconds mymaster 60000\n\
         sentinel failover-timeout mymaster 90000\n\
         sentinel parallel-syncs mymaster 2\n\
         sentinel config-epoch mymaster 3\n\
         sentinel known-replica mymaster 127.0.0.1 {}\n\
         sentinel known-sentinel mymaster 127.0.0.1 {} aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
        dead(),
        dead(),
        dead()
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sentinel.conf");
    std::fs::write(&path, &original).unwrap();
    let redis = RedisSentinel::start(dir.path(), &path);
    let config = SentinelConfig::parse(&original, &Timing::default(), &|_| true).unwrap();
    let options = SentinelOptions { myid: MYID.into(), port: 26379, announce_ip: None, timing: Timing::default() };
    let ours = Sentinel::restore(options, &config.persisted(), 0);

    let theirs = stable(redis_fields(&redis.command(&["SENTINEL", "MASTER", "mymaster"])));
    assert_eq!(stable(our_fields(&ours.describe_master(0, "mymaster").unwrap())), theirs);
    let Value::Array(replicas) = redis.command(&["SENTINEL", "REPLICAS", "mymaster"]) else { panic!() };
    let ours_replicas = ours.describe_replicas(0, "mymaster").unwrap();
    assert_eq!(replicas.len(), 1);
    assert_eq!(stable(our_fields(&ours_replicas[0])), stable(redis_fields(&replicas[0])));
    let Value::Array(sentinels) = redis.command(&["SENTINEL", "SENTINELS", "mymaster"]) else { panic!() };
    let ours_sentinels = ours.describe_sentinels(0, "mymaster").unwrap();
    assert_eq!(sentinels.len(), 1);
    assert_eq!(stable(our_fields(&ours_sentinels[0])), stable(redis_fields(&sentinels[0])));

    let Value::Simple(theirs) = redis.command(&["SENTINEL", "CKQUORUM", "mymaster"]) else { panic!() };
    let ours_check = ours.check_quorum("mymaster").unwrap().reply();
    assert_eq!(ours_check, format!("+{}", String::from_utf8_lossy(&theirs)));
    let Value::Bulk(info) = redis.command(&["INFO", "sentinel"]) else { panic!() };
    let info = String::from_utf8_lossy(&info).into_owned();
    let theirs: Vec<&str> = info.lines().filter(|l| l.starts_with("master")).collect();
    let (tilt, tilt_since, ours_lines) = ours.info_masters(0);
    assert_eq!(ours_lines, theirs);
    assert!(info.contains(&format!("sentinel_tilt:{}\r\nsentinel_tilt_since_seconds:{tilt_since}\r\n", tilt as u8)));
}
