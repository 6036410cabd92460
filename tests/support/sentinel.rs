//! Sentinel processes for the tests: Shoal's (`shoal-server <conf> --sentinel`, or the
//! `shoal-sentinel` binary) and Redis's (`redis-server <conf> --sentinel`) on free ports,
//! each with a config file of its own that survives a restart, and a data-node group
//! (a master and its replicas) of either kind.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use shoal_resp::Value;

use super::{free_port, RawClient, ServerProcess};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Shoal,
    Redis,
}

/// The text of a reply that is a status, error or bulk string.
pub fn text(v: &Value) -> String {
    match v {
        Value::Simple(b) | Value::Bulk(b) | Value::Error(b) | Value::Verbatim(b) => {
            String::from_utf8_lossy(b).into_owned()
        }
        Value::Int(n) => n.to_string(),
        other => format!("{other:?}"),
    }
}

/// A flat `[name, value, ...]` (or RESP3 map) reply as pairs of texts.
pub fn pairs(v: &Value) -> Vec<(String, String)> {
    match v {
        Value::Array(items) => items.chunks(2).map(|p| (text(&p[0]), text(&p[1]))).collect(),
        Value::Map(items) => items.iter().map(|(k, v)| (text(k), text(v))).collect(),
        _ => Vec::new(),
    }
}

pub fn field(v: &Value, name: &str) -> Option<String> {
    pairs(v).into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
}

/// Polls `check` every 50 ms until it holds; panics with `what` after `limit`.
pub fn wait_for(limit: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn redis_server() -> PathBuf {
    std::env::var_os("PATH")
        .and_then(|paths| std::env::split_paths(&paths).map(|p| p.join("redis-server")).find(|p| p.is_file()))
        .expect("redis-server is required (apt-get install redis-server)")
}

/// A sentinel process, killed when dropped; its directory and config file stay with it.
pub struct SentinelProcess {
    child: Option<Child>,
    pub kind: Kind,
    pub port: u16,
    pub dir: tempfile::TempDir,
    pub conf: PathBuf,
    /// Start through the `shoal-sentinel` binary rather than `shoal-server --sentinel`.
    pub via_sentinel_binary: bool,
}

impl SentinelProcess {
    /// Writes `conf_text` (without `port`) to a new directory and starts a sentinel on it.
    pub fn start(kind: Kind, conf_text: &str) -> SentinelProcess {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("sentinel.conf");
        std::fs::write(&conf, conf_text).unwrap();
        let mut sentinel =
            SentinelProcess { child: None, kind, port: free_port(), dir, conf, via_sentinel_binary: false };
        sentinel.launch();
        sentinel
    }

    /// The same, through the `shoal-sentinel` binary.
    pub fn start_binary(conf_text: &str) -> SentinelProcess {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("sentinel.conf");
        std::fs::write(&conf, conf_text).unwrap();
        let mut sentinel =
            SentinelProcess { child: None, kind: Kind::Shoal, port: free_port(), dir, conf, via_sentinel_binary: true };
        sentinel.launch();
        sentinel
    }

    fn launch(&mut self) {
        for _attempt in 0..5 {
            let port = self.port.to_string();
            let dir = self.dir.path().display().to_string();
            let conf = self.conf.display().to_string();
            let mut command = match (self.kind, self.via_sentinel_binary) {
                (Kind::Shoal, true) => {
                    let mut c = Command::new(env!("CARGO_BIN_EXE_shoal-sentinel"));
                    c.arg(&conf);
                    c
                }
                (Kind::Shoal, false) => {
                    let mut c = Command::new(env!("CARGO_BIN_EXE_shoal-server"));
                    c.args([&conf, "--sentinel"]);
                    c
                }
                (Kind::Redis, _) => {
                    let mut c = Command::new(redis_server());
                    c.args([&conf, "--sentinel"]);
                    c
                }
            };
            command
                .args(["--port", &port, "--bind", "127.0.0.1", "--dir", &dir, "--daemonize", "no"])
                .args(["--logfile", "log.txt"])
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            let child = command.spawn().expect("the sentinel starts");
            self.child = Some(child);
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Some(Ok(Some(_))) = self.child.as_mut().map(|c| c.try_wait()) {
                    break;
                }
                // Ours, not another test's server that took the probed port
                // first (this one then cannot bind).
                let pid = self.child.as_ref().map_or(0, |c| c.id());
                match super::info_server_reply(self.port) {
                    Some(Value::Bulk(info)) if super::serves_as(&info, pid) => return,
                    Some(Value::Bulk(_)) => break,
                    _ => {}
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            self.kill();
            self.port = free_port();
        }
        panic!("the sentinel did not start");
    }

    pub fn client(&self) -> RawClient {
        RawClient::connect(self.port).unwrap()
    }

    pub fn cmd(&self, line: &str) -> Value {
        self.client().cmd(line)
    }

    /// SIGKILL, as `kill -9`.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Killed and started again on the same config file and port.
    pub fn restart(&mut self) {
        self.kill();
        self.launch();
    }

    pub fn config_text(&self) -> String {
        std::fs::read_to_string(&self.conf).unwrap()
    }

    /// GET-MASTER-ADDR-BY-NAME's port, if it answers with an address.
    pub fn master_port(&self, name: &str) -> Option<u16> {
        match self.client().call(&[b"SENTINEL", b"get-master-addr-by-name", name.as_bytes()]) {
            Value::Array(items) if items.len() == 2 => text(&items[1]).parse().ok(),
            _ => None,
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log.txt")).unwrap_or_default()
    }
}

impl Drop for SentinelProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A master and its replicas, of one kind, on free ports.
pub struct DataNodes {
    pub nodes: Vec<Option<ServerProcess>>,
    pub ports: Vec<u16>,
    /// The nodes' config files (CONFIG REWRITE writes there on promotion).
    _confs: Vec<tempfile::TempDir>,
}

fn start_node(kind: Kind, extra: &[&str]) -> (ServerProcess, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("node.conf");
    std::fs::write(&conf, "# data node\n").unwrap();
    let node = match kind {
        Kind::Shoal => ServerProcess::shoal_with_config(&conf, extra),
        Kind::Redis => ServerProcess::redis_with_config(&conf, extra),
    };
    (node, dir)
}

impl DataNodes {
    /// One master and `replicas` replicas, the replicas in sync before this returns.
    pub fn start(kind: Kind, replicas: usize) -> DataNodes {
        let (master, conf) = start_node(kind, &[]);
        let master_port = master.port.to_string();
        let mut nodes = vec![Some(master)];
        let mut confs = vec![conf];
        for _ in 0..replicas {
            let (node, conf) = start_node(kind, &["--replicaof", "127.0.0.1", &master_port]);
            nodes.push(Some(node));
            confs.push(conf);
        }
        let ports = nodes.iter().map(|n| n.as_ref().unwrap().port).collect();
        let group = DataNodes { nodes, ports, _confs: confs };
        for i in 1..=replicas {
            wait_for(Duration::from_secs(20), "the replicas to sync", || group.link_up(i));
        }
        group
    }

    pub fn client(&self, i: usize) -> RawClient {
        self.nodes[i].as_ref().expect("node running").client()
    }

    pub fn info(&self, i: usize) -> String {
        match &self.nodes[i] {
            Some(n) => match n.client().cmd("INFO replication") {
                Value::Bulk(b) | Value::Verbatim(b) => String::from_utf8_lossy(&b).into_owned(),
                _ => String::new(),
            },
            None => String::new(),
        }
    }

    pub fn info_field(&self, i: usize, name: &str) -> Option<String> {
        let info = self.info(i);
        info.lines().find_map(|l| l.strip_prefix(&format!("{name}:")).map(|v| v.trim().to_string()))
    }

    pub fn link_up(&self, i: usize) -> bool {
        self.info_field(i, "master_link_status").as_deref() == Some("up")
    }

    /// kill -9 of node `i`.
    pub fn kill(&mut self, i: usize) {
        self.nodes[i] = None;
    }
}

/// A sentinel config monitoring `mymaster` at `port`, with short timeouts.
pub fn monitor_conf(port: u16, quorum: u32, down_after_ms: u64) -> String {
    format!(
        "sentinel monitor mymaster 127.0.0.1 {port} {quorum}\n\
         sentinel down-after-milliseconds mymaster {down_after_ms}\n\
         sentinel failover-timeout mymaster 10000\n"
    )
}

pub fn path_text(path: &Path) -> String {
    path.display().to_string()
}
