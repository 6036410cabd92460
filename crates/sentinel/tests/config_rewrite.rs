//! The config rewriter against redis-sentinel 7.0 (`redis-server --sentinel`): both read
//! the same file, both rewrite it (redis-sentinel on SENTINEL FLUSHCONFIG), and the
//! results must be the same apart from the server's own directives, which the server's
//! rewrite writes, not Sentinel's.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use shoal_sentinel::{SentinelConfig, Timing};

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

struct Sentinel {
    child: Child,
}

impl Drop for Sentinel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs redis-sentinel on `path`, asks it to rewrite its file and returns the file.
fn rewritten_by_redis(dir: &Path, path: &Path) -> String {
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
        let _sentinel = Sentinel { child };
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) {
                stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                stream.write_all(b"*2\r\n$8\r\nSENTINEL\r\n$11\r\nFLUSHCONFIG\r\n").unwrap();
                let mut reply = [0u8; 5];
                stream.read_exact(&mut reply).unwrap();
                assert_eq!(&reply, b"+OK\r\n");
                return std::fs::read_to_string(path).unwrap();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    panic!("redis-sentinel did not start");
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
