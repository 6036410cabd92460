//! Shared helpers for the black-box tests: start shoal-server (or a real
//! redis-server for differential runs) on a free port, stop it on drop,
//! and talk RESP to it byte for byte.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use shoal_resp::{parse_value, Value};

pub mod sentinel;

/// A port nobody listens on right now, and one no other test of this
/// process was given: two tests probing the same port would race to bind
/// it, and one test's probe could briefly listen where another test's
/// server is about to, resetting its first connection.
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    loop {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

/// A server process that is killed when dropped.
pub struct ServerProcess {
    child: Child,
    pub port: u16,
    pub dir: tempfile::TempDir,
}

impl ServerProcess {
    /// Starts shoal-server with extra `--directive value` arguments.
    pub fn shoal(extra: &[&str]) -> ServerProcess {
        Self::start(PathBuf::from(env!("CARGO_BIN_EXE_shoal-server")), None, extra)
    }

    /// Starts shoal-server with a config file (its first argument, where
    /// redis-server takes it) and extra arguments.
    pub fn shoal_with_config(conf: &Path, extra: &[&str]) -> ServerProcess {
        Self::start(PathBuf::from(env!("CARGO_BIN_EXE_shoal-server")), Some(conf), extra)
    }

    /// Starts the system's redis-server, for differential tests.
    pub fn redis(extra: &[&str]) -> ServerProcess {
        let path = which("redis-server").expect(
            "redis-server is required for differential tests (apt-get install redis-server); \
             scripts/test.sh installs it",
        );
        Self::start(path, None, extra)
    }

    /// The system's redis-server with a config file and extra arguments.
    pub fn redis_with_config(conf: &Path, extra: &[&str]) -> ServerProcess {
        Self::start(which("redis-server").expect("redis-server is required"), Some(conf), extra)
    }

    fn start(binary: PathBuf, conf: Option<&Path>, extra: &[&str]) -> ServerProcess {
        Self::spawn(|port, dir| {
            let mut command = Command::new(&binary);
            command.args(conf);
            command.args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]);
            command.arg("--dir").arg(dir).args(extra);
            command
        })
    }

    /// Starts `command(port, dir)` on a free port and a fresh directory
    /// (removed with the server), its output discarded, and waits until
    /// that process serves the port. A free port can be taken between the
    /// probe and the bind (another test's server then answers there and
    /// ours cannot bind): it retries on another port.
    pub fn spawn(mut command: impl FnMut(u16, &Path) -> Command) -> ServerProcess {
        for _attempt in 0..5 {
            if let Some(server) = Self::try_spawn(free_port(), &mut command) {
                return server;
            }
        }
        panic!("server did not start");
    }

    /// `spawn` on a port chosen by the caller (a server restarted from a
    /// file naming its port), without retrying.
    pub fn spawn_on(port: u16, mut command: impl FnMut(u16, &Path) -> Command) -> ServerProcess {
        Self::try_spawn(port, &mut command).unwrap_or_else(|| panic!("the server did not start on port {port}"))
    }

    fn try_spawn(port: u16, command: &mut impl FnMut(u16, &Path) -> Command) -> Option<ServerProcess> {
        let dir = tempfile::tempdir().unwrap();
        let child = command(port, dir.path())
            .stdout(Stdio::null())
            // Null, not inherited: a server outliving a failed test
            // would hold the test's output pipe open.
            .stderr(Stdio::null())
            .spawn()
            .expect("cannot start server");
        // Owned at once, so the server is killed if it never gets
        // ready, and even if the probe panics.
        let mut server = ServerProcess { child, port, dir };
        wait_ready(&mut server.child, port).then_some(server)
    }

    pub fn client(&self) -> RawClient {
        RawClient::connect(self.port).unwrap()
    }

    pub fn redis_client(&self) -> redis::Connection {
        redis::Client::open(format!("redis://127.0.0.1:{}/", self.port)).unwrap().get_connection().unwrap()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stops the process (SIGSTOP) and returns once every thread of it is
    /// really stopped, so what the test does next meets a frozen server
    /// (a signal is delivered asynchronously; under load a thread can run
    /// on for a while after kill() returns).
    pub fn pause(&self) {
        unsafe { libc::kill(self.pid() as i32, libc::SIGSTOP) };
        wait_thread_states(self.pid(), true);
    }

    /// Continues a process stopped by `pause` (SIGCONT) and returns once
    /// every thread of it runs again.
    pub fn resume(&self) {
        unsafe { libc::kill(self.pid() as i32, libc::SIGCONT) };
        wait_thread_states(self.pid(), false);
    }

    /// True while the process is running.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits (up to 10 s) for the process to exit on its own.
    pub fn wait_exit(&mut self) {
        self.exit_status();
    }

    /// Waits (up to 10 s) for the process to exit on its own; how it exited.
    pub fn exit_status(&mut self) -> std::process::ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "the server did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits (up to 30 s) until every thread of `pid` is stopped (`stopped`)
/// or none is, as /proc tells: the state letter follows the command name's
/// closing parenthesis in /proc/<pid>/task/<tid>/stat.
fn wait_thread_states(pid: u32, stopped: bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).expect("the process exists");
        let all = tasks.filter_map(Result::ok).all(|task| {
            let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
            let state = stat.rfind(')').and_then(|i| stat[i + 1..].trim_start().chars().next());
            // A thread that exited meanwhile has no stat left: it counts as done.
            match state {
                Some(s) => matches!(s, 'T' | 't') == stopped,
                None => true,
            }
        });
        if all {
            return;
        }
        assert!(Instant::now() < deadline, "process {pid} did not {}", if stopped { "stop" } else { "continue" });
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// INFO replication of each server, labelled by port, for assertion
/// messages of replication tests (what each side believed when it failed).
pub fn replication_report(servers: &[&ServerProcess]) -> String {
    let mut out = String::new();
    for server in servers {
        let info = match RawClient::connect(server.port) {
            Ok(mut c) => {
                // A stopped or dying server must not hang the report.
                let _ = c.stream.set_read_timeout(Some(Duration::from_secs(2)));
                c.send(&[b"INFO", b"replication"]);
                match c.try_read_raw().and_then(|raw| parse_value(&raw).ok().flatten().map(|(v, _)| v)) {
                    Some(Value::Bulk(text)) => String::from_utf8_lossy(&text).into_owned(),
                    other => format!("(no INFO: {other:?})"),
                }
            }
            Err(e) => format!("(cannot connect: {e})"),
        };
        out.push_str(&format!("\n--- INFO replication of the server on port {} ---\n{}", server.port, info.trim_end()));
    }
    out
}

/// Waits (up to 10 s) until `child` serves `port`; false if it exited or
/// another process answers there.
fn wait_ready(child: &mut Child, port: u16) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        match info_server_reply(port) {
            // Another test's server can answer on this port if both
            // probed the same free port; ours then failed to bind.
            Some(Value::Bulk(text)) => return serves_as(&text, child.id()),
            // NOAUTH when a password is set: it serves.
            Some(Value::Error(_)) => return true,
            _ => {}
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// What INFO server gets on `port`; None when nothing answers (a
/// connection refused, or reset before our server listens: something else
/// held the port for a moment).
pub fn info_server_reply(port: u16) -> Option<Value> {
    let mut c = RawClient::connect(port).ok()?;
    c.stream.write_all(b"*2\r\n$4\r\nINFO\r\n$6\r\nserver\r\n").ok()?;
    let raw = c.try_read_raw()?;
    parse_value(&raw).ok().flatten().map(|(v, _)| v)
}

/// True if INFO server text names `pid` as the serving process.
pub fn serves_as(info: &[u8], pid: u32) -> bool {
    let wanted = format!("process_id:{pid}");
    String::from_utf8_lossy(info).lines().any(|line| line.trim_end() == wanted)
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| std::env::split_paths(&paths).map(|p| p.join(name)).find(|p| p.is_file()))
}

/// A RESP client that keeps reply bytes exactly as the server sent them.
pub struct RawClient {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl RawClient {
    pub fn connect(port: u16) -> std::io::Result<RawClient> {
        let stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        stream.set_nodelay(true)?;
        Ok(RawClient { stream, buf: Vec::new() })
    }

    /// Encodes and sends one command without waiting.
    pub fn send(&mut self, args: &[&[u8]]) {
        let mut out = Vec::new();
        out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
        for a in args {
            out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            out.extend_from_slice(a);
            out.extend_from_slice(b"\r\n");
        }
        self.stream.write_all(&out).unwrap();
    }

    /// Sends raw bytes.
    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    /// Reads one reply, returning its exact bytes.
    pub fn read_raw(&mut self) -> Vec<u8> {
        self.try_read_raw().expect("connection closed before a full reply")
    }

    /// Reads one reply, or None if the server closed the connection.
    pub fn try_read_raw(&mut self) -> Option<Vec<u8>> {
        loop {
            if let Some((_, used)) = parse_value(&self.buf).expect("server sent invalid RESP") {
                let reply = self.buf[..used].to_vec();
                self.buf.drain(..used);
                return Some(reply);
            }
            let mut chunk = [0u8; 64 * 1024];
            match self.stream.read(&mut chunk) {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }

    /// A complete reply if one arrives within `wait`, else None (whatever
    /// part of a reply arrived stays buffered for the next read).
    pub fn poll_raw(&mut self, wait: Duration) -> Option<Vec<u8>> {
        let deadline = Instant::now() + wait;
        loop {
            if let Some((_, used)) = parse_value(&self.buf).expect("server sent invalid RESP") {
                let reply = self.buf[..used].to_vec();
                self.buf.drain(..used);
                return Some(reply);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            self.stream.set_read_timeout(Some(left.max(Duration::from_micros(100)))).unwrap();
            let mut chunk = [0u8; 64 * 1024];
            let read = self.stream.read(&mut chunk);
            self.stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
            match read {
                Ok(0) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(_) => return None,
            }
        }
    }

    pub fn read(&mut self) -> Value {
        let raw = self.read_raw();
        parse_value(&raw).unwrap().unwrap().0
    }

    pub fn call(&mut self, args: &[&[u8]]) -> Value {
        self.send(args);
        self.read()
    }

    /// Convenience: a command written as space-separated words.
    pub fn cmd(&mut self, line: &str) -> Value {
        let words: Vec<&[u8]> = line.split_whitespace().map(|w| w.as_bytes()).collect();
        self.call(&words)
    }

    /// True once the server has closed the connection.
    pub fn closed(&mut self) -> bool {
        self.stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut byte = [0u8; 1];
        matches!(self.stream.read(&mut byte), Ok(0))
    }
}

/// Shorthands for expected values.
pub fn bulk(s: &str) -> Value {
    Value::Bulk(s.as_bytes().to_vec())
}

pub fn simple(s: &str) -> Value {
    Value::Simple(s.as_bytes().to_vec())
}

pub fn error(s: &str) -> Value {
    Value::Error(s.as_bytes().to_vec())
}

/// Sorts arrays, sets and maps recursively, for replies whose order is
/// unspecified.
pub fn unordered(v: Value) -> Value {
    match v {
        Value::Array(items) | Value::Set(items) => {
            let mut items: Vec<Value> = items.into_iter().map(unordered).collect();
            items.sort_by_key(|i| format!("{i:?}"));
            Value::Array(items)
        }
        Value::Map(pairs) => {
            let mut pairs: Vec<(Value, Value)> = pairs.into_iter().map(|(k, v)| (unordered(k), unordered(v))).collect();
            pairs.sort_by_key(|p| format!("{p:?}"));
            Value::Map(pairs)
        }
        other => other,
    }
}

/// A redis-server and a shoal-server side by side, each with a client
/// speaking RESP3 when asked.
pub struct Pair {
    pub redis: ServerProcess,
    pub shoal: ServerProcess,
    pub redis_client: RawClient,
    pub shoal_client: RawClient,
}

impl Pair {
    pub fn start(resp3: bool) -> Pair {
        let (redis, shoal) = (ServerProcess::redis(&[]), ServerProcess::shoal(&[]));
        let (mut redis_client, mut shoal_client) = (redis.client(), shoal.client());
        if resp3 {
            redis_client.cmd("HELLO 3");
            shoal_client.cmd("HELLO 3");
        }
        Pair { redis, shoal, redis_client, shoal_client }
    }
}

/// Runs `script` (one command per line, words separated by spaces) on
/// redis-server and shoal-server and compares the replies: as bytes, or
/// sorted when the line starts with "~ ". Lines starting with '#' are
/// comments.
pub fn compare_script_with_redis(script: &str, resp3: bool) {
    let pair = Pair::start(resp3);
    let (mut r, mut s) = (pair.redis_client, pair.shoal_client);
    for line in script.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
        let (sorted, command) = match line.strip_prefix("~ ") {
            Some(rest) => (true, rest),
            None => (false, line),
        };
        let words: Vec<&[u8]> = command.split(' ').map(|w| w.as_bytes()).collect();
        if sorted {
            assert_eq!(unordered(s.call(&words)), unordered(r.call(&words)), "{command} (resp3: {resp3})");
        } else {
            r.send(&words);
            s.send(&words);
            let (expected, got) = (r.read_raw(), s.read_raw());
            assert_eq!(String::from_utf8_lossy(&got), String::from_utf8_lossy(&expected), "{command} (resp3: {resp3})");
        }
    }
}

/// True if nothing has arrived on the connection yet (checked without
/// waiting): e.g. a command is still running.
pub fn no_reply_yet(c: &mut RawClient) -> bool {
    c.stream.set_nonblocking(true).unwrap();
    let mut byte = [0u8; 1];
    let pending = matches!(c.stream.read(&mut byte), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock);
    c.stream.set_nonblocking(false).unwrap();
    pending
}

/// Waits (up to 20 s) until INFO clients reports `count` blocked clients.
pub fn wait_blocked(c: &mut RawClient, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let Value::Bulk(info) = c.cmd("INFO clients") else { panic!("INFO clients failed") };
        if String::from_utf8_lossy(&info).contains(&format!("blocked_clients:{count}\r\n")) {
            return;
        }
        assert!(Instant::now() < deadline, "clients did not block (wanted {count})");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A field of INFO persistence, as text.
pub fn persistence_field(c: &mut RawClient, field: &str) -> String {
    info_value(c, "persistence", field).unwrap_or_else(|| panic!("INFO has no {field}"))
}

/// A field of an INFO section, as text (None: INFO does not show it).
pub fn info_value(c: &mut RawClient, section: &str, field: &str) -> Option<String> {
    let Value::Bulk(text) = c.cmd(&format!("INFO {section}")) else { panic!("INFO failed") };
    let prefix = format!("{field}:");
    String::from_utf8_lossy(&text).lines().find_map(|l| l.strip_prefix(&prefix).map(|v| v.trim().to_string()))
}

/// A connection turned into a replica stream by SYNC, read past the
/// snapshot: what it reads next is the commands propagated from now on.
pub fn start_sync(server: &ServerProcess) -> RawClient {
    let mut replica = server.client();
    replica.send_raw(b"SYNC\r\n");
    let mut header = Vec::new();
    let mut byte = [0u8; 1];
    while !header.ends_with(b"\r\n") {
        replica.stream.read_exact(&mut byte).unwrap();
        // Keep-alive newlines may come before the snapshot.
        if !(header.is_empty() && byte[0] == b'\n') {
            header.push(byte[0]);
        }
    }
    let len: usize = std::str::from_utf8(&header[1..header.len() - 2]).unwrap().parse().unwrap();
    let mut rdb = vec![0u8; len];
    replica.stream.read_exact(&mut rdb).unwrap();
    replica
}
