//! MIGRATE between Shoal and redis-server 7.0 in both directions, its
//! options and errors (compared with redis-server's own MIGRATE), a target
//! that never answers (the server keeps serving everyone else), and a key
//! changed by another client while its migration is in flight.

mod support;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use shoal_resp::Value;
use support::{bulk, error, simple, RawClient, ServerProcess};

const DEBUG: [&str; 2] = ["--enable-debug-command", "yes"];

/// Keys of every type and encoding, a few with a TTL.
fn fill(c: &mut RawClient) -> Vec<String> {
    let big: Vec<String> = (0..300).map(|i| format!("member-{i}")).collect();
    let big = big.join(" ");
    let lines = [
        "SET str:int 12345".to_string(),
        "SET str:emb hello".to_string(),
        format!("SET str:raw {}", "x".repeat(100)),
        "SET str:ttl v PX 100000".to_string(),
        "RPUSH list:small a b c 1 2 3".to_string(),
        format!("RPUSH list:big {big}"),
        "HSET hash:small f1 v1 f2 v2".to_string(),
        format!("HSET hash:big {big}"),
        "SADD set:int 1 2 3 99".to_string(),
        "SADD set:str a b c".to_string(),
        format!("SADD set:big {big}"),
        "ZADD zset:small 1 a 2.5 b -3 c".to_string(),
        format!("ZADD zset:big {}", (0..300).map(|i| format!("{i} m{i}")).collect::<Vec<_>>().join(" ")),
        "XADD stream 1-1 a 1".to_string(),
        "XADD stream 2-1 b 2".to_string(),
        "XGROUP CREATE stream g 0".to_string(),
        "XREADGROUP GROUP g alice COUNT 1 STREAMS stream >".to_string(),
        "PFADD hll a b c d".to_string(),
        "PEXPIRE hash:small 200000".to_string(),
    ];
    for line in &lines {
        let reply = c.cmd(line);
        assert!(!matches!(reply, Value::Error(_)), "{line}: {reply:?}");
    }
    let Value::Array(keys) = c.cmd("KEYS *") else { panic!() };
    let mut keys: Vec<String> = keys
        .into_iter()
        .map(|k| match k {
            Value::Bulk(k) => String::from_utf8(k).unwrap(),
            _ => panic!(),
        })
        .collect();
    keys.sort();
    assert_eq!(keys.len(), 15);
    keys
}

fn digests(c: &mut RawClient, keys: &[String]) -> Vec<Value> {
    keys.iter().map(|k| c.cmd(&format!("DEBUG DIGEST-VALUE {k}"))).collect()
}

fn ttls(c: &mut RawClient, keys: &[String]) -> Vec<bool> {
    keys.iter().map(|k| c.cmd(&format!("PTTL {k}")) != Value::Int(-1)).collect()
}

fn migrate_keys(c: &mut RawClient, port: u16, db: &str, keys: &[String], extra: &[&str]) -> Value {
    let port = port.to_string();
    let mut args: Vec<&[u8]> = vec![b"MIGRATE", b"127.0.0.1", port.as_bytes(), b"", db.as_bytes(), b"5000"];
    args.extend(extra.iter().map(|a| a.as_bytes()));
    args.push(b"KEYS");
    args.extend(keys.iter().map(|k| k.as_bytes()));
    c.call(&args)
}

#[test]
fn every_type_moves_from_shoal_to_redis_and_back() {
    let shoal = ServerProcess::shoal(&DEBUG);
    let redis = ServerProcess::redis(&DEBUG);
    let (mut s, mut r) = (shoal.client(), redis.client());
    let keys = fill(&mut s);
    let digest = digests(&mut s, &keys);
    let with_ttl = ttls(&mut s, &keys);
    // DEBUG DIGEST-VALUE leaves consumer groups out: compare them too.
    let pending = s.cmd("XPENDING stream g");
    assert_eq!(pending.clone(), s_xpending());
    assert_eq!(with_ttl.iter().filter(|t| **t).count(), 2);

    assert_eq!(migrate_keys(&mut s, redis.port, "3", &keys, &[]), simple("OK"));
    assert_eq!(s.cmd("DBSIZE"), Value::Int(0), "migrated keys are deleted at the source");
    r.cmd("SELECT 3");
    assert_eq!(digests(&mut r, &keys), digest);
    assert_eq!(ttls(&mut r, &keys), with_ttl);
    assert_eq!(r.cmd("XPENDING stream g"), pending);

    // And back, Redis being the source.
    let port = shoal.port.to_string();
    let mut args: Vec<&[u8]> = vec![b"MIGRATE", b"127.0.0.1", port.as_bytes(), b"", b"0", b"5000", b"KEYS"];
    args.extend(keys.iter().map(|k| k.as_bytes()));
    assert_eq!(r.call(&args), simple("OK"));
    assert_eq!(r.cmd("DBSIZE"), Value::Int(0));
    assert_eq!(digests(&mut s, &keys), digest);
    assert_eq!(ttls(&mut s, &keys), with_ttl);
    assert_eq!(s.cmd("XPENDING stream g"), pending);
}

/// The entry alice read is pending.
fn s_xpending() -> Value {
    Value::Array(vec![
        Value::Int(1),
        bulk("1-1"),
        bulk("1-1"),
        Value::Array(vec![Value::Array(vec![bulk("alice"), bulk("1")])]),
    ])
}

/// The same MIGRATE lines from Shoal and from redis-server, to a second
/// redis-server each, get the same replies and leave the same data.
#[test]
fn options_and_errors_match_redis() {
    let source_shoal = ServerProcess::shoal(&DEBUG);
    let source_redis = ServerProcess::redis(&DEBUG);
    let target_a = ServerProcess::redis(&["--requirepass", "secret"]);
    let target_b = ServerProcess::redis(&["--requirepass", "secret"]);
    let mut sources = [(source_shoal.client(), target_a.port), (source_redis.client(), target_b.port)];
    let script = [
        "SET k v",
        "RPUSH list a b c",
        "SET other 1",
        "MIGRATE 127.0.0.1 {port} k 0 5000",
        "MIGRATE 127.0.0.1 {port} k 0 5000 AUTH wrong",
        "MIGRATE 127.0.0.1 {port} k 0 5000 AUTH2 default wrong",
        "MIGRATE 127.0.0.1 {port} k 0 5000 COPY AUTH secret",
        "EXISTS k",
        "MIGRATE 127.0.0.1 {port} k 0 5000 COPY AUTH secret",
        "MIGRATE 127.0.0.1 {port} k 0 5000 REPLACE AUTH2 default secret",
        "EXISTS k",
        "MIGRATE 127.0.0.1 {port} k 0 5000 AUTH secret",
        "MIGRATE 127.0.0.1 {port} list 99 5000 AUTH secret",
        "MIGRATE 127.0.0.1 {port} list 1 5000 AUTH secret",
        "MIGRATE 127.0.0.1 {port} nokey 0 5000",
        "MIGRATE 127.0.0.1 {port} k 0 5000 KEYS a",
        "MIGRATE 127.0.0.1 {port} k 0 5000 AUTH",
        "MIGRATE 127.0.0.1 {port} k 0 5000 AUTH2 u",
        "MIGRATE 127.0.0.1 {port} k 0 5000 BOGUS",
        "MIGRATE 127.0.0.1 {port} k 0 notanumber",
        "MIGRATE 127.0.0.1 {port} k notanumber 5000",
        "MIGRATE 127.0.0.1 {port} k 0",
        "MIGRATE 127.0.0.1 1 other 0 5000",
        "MIGRATE name.invalid 6379 other 0 1000",
        "EXISTS other",
        "MIGRATE 127.0.0.1 {port} \"\" 0 5000 AUTH secret KEYS nokey1 nokey2",
        "MIGRATE 127.0.0.1 {port} \"\" 0 5000 AUTH secret KEYS nokey other",
        "EXISTS other",
    ];
    for line in script {
        let replies: Vec<Value> = sources
            .iter_mut()
            .map(|(c, port)| {
                let line = line.replace("{port}", &port.to_string());
                let args: Vec<&[u8]> =
                    line.split_whitespace().map(|w| if w == "\"\"" { &b""[..] } else { w.as_bytes() }).collect();
                c.call(&args)
            })
            .collect();
        assert_eq!(replies[0], replies[1], "{line}");
    }
    for (target, port) in [(&target_a, "a"), (&target_b, "b")] {
        let mut t = target.client();
        t.cmd("AUTH secret");
        assert_eq!(t.cmd("GET k"), bulk("v"), "target {port}");
        t.cmd("SELECT 1");
        assert_eq!(t.cmd("LRANGE list 0 -1"), Value::Array(vec![bulk("a"), bulk("b"), bulk("c")]));
    }
}

#[test]
fn keys_form_deletes_only_what_the_target_acknowledged() {
    let shoal = ServerProcess::shoal(&[]);
    let redis = ServerProcess::redis(&[]);
    let (mut s, mut r) = (shoal.client(), redis.client());
    s.cmd("MSET a 1 b 2 c 3 d 4");
    r.cmd("SET c busy");
    let keys: Vec<String> = ["a", "b", "c", "d", "missing"].iter().map(|k| k.to_string()).collect();
    assert_eq!(
        migrate_keys(&mut s, redis.port, "0", &keys, &[]),
        error("ERR Target instance replied with error: BUSYKEY Target key name already exists.")
    );
    assert_eq!(s.cmd("MGET a b c d"), Value::Array(vec![Value::Null, Value::Null, bulk("3"), Value::Null]));
    assert_eq!(r.cmd("MGET a b c d"), Value::Array(vec![bulk("1"), bulk("2"), bulk("busy"), bulk("4")]));
    // The connection is cached and counted.
    let Value::Bulk(info) = s.cmd("INFO stats") else { panic!() };
    assert!(String::from_utf8_lossy(&info).contains("migrate_cached_sockets:1\r\n"));
    assert_eq!(migrate_keys(&mut s, redis.port, "0", &keys, &["REPLACE"]), simple("OK"));
    assert_eq!(s.cmd("DBSIZE"), Value::Int(0));
    assert_eq!(r.cmd("GET c"), bulk("3"));
}

/// A fake target: accepts one connection, collects what it is sent and
/// answers only when told, with the given bytes.
struct FakeTarget {
    port: u16,
    answer: mpsc::Sender<Vec<u8>>,
    received: mpsc::Receiver<usize>,
}

fn fake_target() -> FakeTarget {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (answer, answers) = mpsc::channel::<Vec<u8>>();
    let (tell, received) = mpsc::channel();
    std::thread::spawn(move || {
        let Ok((mut conn, _)) = listener.accept() else { return };
        conn.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        let mut total = Vec::new();
        loop {
            let mut chunk = [0u8; 65536];
            match conn.read(&mut chunk) {
                Ok(0) => return,
                Ok(n) => {
                    total.extend_from_slice(&chunk[..n]);
                    let _ = tell.send(total.windows(7).filter(|w| w == b"RESTORE").count());
                }
                Err(_) => {}
            }
            match answers.try_recv() {
                Ok(bytes) => {
                    let _ = conn.write_all(&bytes);
                }
                Err(mpsc::TryRecvError::Disconnected) => return,
                Err(mpsc::TryRecvError::Empty) => {}
            }
        }
    });
    FakeTarget { port, answer, received }
}

impl FakeTarget {
    /// Waits until `n` RESTORE commands have arrived.
    fn wait_restores(&self, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let seen = self.received.recv_timeout(Duration::from_secs(10)).expect("the target received nothing");
            if seen >= n {
                return;
            }
            assert!(Instant::now() < deadline);
        }
    }
}

#[test]
fn a_target_that_never_answers_times_out_and_blocks_nobody() {
    // One worker: the other client is served by the very thread whose
    // connection waits for the target.
    let shoal = ServerProcess::shoal(&["--threads", "1"]);
    let target = fake_target();
    let (mut a, mut b) = (shoal.client(), shoal.client());
    a.cmd("SET k v");
    let started = Instant::now();
    a.send(&[b"MIGRATE", b"127.0.0.1", target.port.to_string().as_bytes(), b"k", b"0", b"1500"]);
    target.wait_restores(1);
    // Meanwhile the same key and everything else are served at once.
    for i in 0..50 {
        assert_eq!(b.cmd(&format!("SET other{i} x")), simple("OK"));
        assert_eq!(b.cmd("GET k"), bulk("v"));
    }
    assert_eq!(b.cmd("SET k changed"), simple("OK"));
    // Served while MIGRATE still waits: had the worker been held, the
    // timeout's reply would have been written before these were served.
    assert!(support::no_reply_yet(&mut a), "others were served only after MIGRATE's wait");
    assert_eq!(a.read(), error("IOERR error or timeout reading to target instance"));
    assert!(started.elapsed() >= Duration::from_millis(1400));
    assert_eq!(a.cmd("GET k"), bulk("changed"));
    // A target nobody listens on: Redis reports it when writing.
    let port = support::free_port().to_string();
    assert_eq!(
        a.call(&[b"MIGRATE", b"127.0.0.1", port.as_bytes(), b"k", b"0", b"1000"]),
        error("IOERR error or timeout writing to target instance")
    );
    drop(target);
}

fn words(line: &str) -> Value {
    Value::Array(line.split_whitespace().map(bulk).collect())
}

#[test]
fn a_key_changed_during_its_migration_keeps_its_new_value() {
    let shoal = ServerProcess::shoal(&[]);
    let mut replica = support::start_sync(&shoal);
    let target = fake_target();
    let (mut a, mut b) = (shoal.client(), shoal.client());
    a.cmd("MSET changed 1 kept 2");
    a.cmd("XADD grouped 1-1 f v");
    let port = target.port.to_string();
    a.send(&[b"MIGRATE", b"127.0.0.1", port.as_bytes(), b"", b"0", b"5000", b"KEYS", b"changed", b"kept", b"grouped"]);
    target.wait_restores(3);
    // Changed while the target has not answered yet: a new value, and a
    // change that is not a WATCH-visible write (a consumer group).
    assert_eq!(b.cmd("SET changed new"), simple("OK"));
    assert_eq!(b.cmd("XGROUP CREATE grouped g 0"), simple("OK"));
    b.cmd("SET end 1");
    target.answer.send(b"+OK\r\n+OK\r\n+OK\r\n+OK\r\n".to_vec()).unwrap();
    assert_eq!(a.read(), simple("OK"));
    assert_eq!(a.cmd("GET changed"), bulk("new"));
    assert_eq!(a.cmd("EXISTS kept"), Value::Int(0), "an unchanged key is deleted");
    let Value::Array(groups) = a.cmd("XINFO GROUPS grouped") else { panic!("the stream is still here") };
    assert_eq!(groups.len(), 1, "with the group created meanwhile");
    // Only the deletion of the unchanged key propagates, as a DEL, after
    // everything the other client did.
    let mut stream = Vec::new();
    loop {
        let Value::Array(command) = replica.read() else { panic!() };
        let is_del = command[0] == bulk("DEL");
        stream.push(Value::Array(command));
        if is_del {
            break;
        }
    }
    assert_eq!(stream.last(), Some(&words("DEL kept")));
    assert!(stream.contains(&words("SET end 1")));
}

/// To this very server: into another database the key moves; into its
/// own database it would be restored over itself and then deleted, so,
/// as with Redis (which waits for itself until the timeout), nothing is
/// deleted and the reply is an IOERR.
#[test]
fn migrating_to_the_same_server_never_loses_the_key() {
    let shoal = ServerProcess::shoal(&[]);
    let mut c = shoal.client();
    let port = shoal.port.to_string();
    c.cmd("SET k v");
    let to = |db: &'static str| -> Vec<Vec<u8>> {
        [&b"MIGRATE"[..], b"127.0.0.1", port.as_bytes(), b"k", db.as_bytes(), b"1000", b"REPLACE"]
            .iter()
            .map(|a| a.to_vec())
            .collect()
    };
    let call = |c: &mut RawClient, argv: Vec<Vec<u8>>| c.call(&argv.iter().map(|a| a.as_slice()).collect::<Vec<_>>());
    assert_eq!(call(&mut c, to("0")), error("IOERR error or timeout reading to target instance"));
    assert_eq!(c.cmd("GET k"), bulk("v"));
    assert_eq!(call(&mut c, to("1")), simple("OK"));
    assert_eq!(c.cmd("EXISTS k"), Value::Int(0));
    c.cmd("SELECT 1");
    assert_eq!(c.cmd("GET k"), bulk("v"));
}

#[test]
fn migrate_is_refused_inside_a_transaction_and_its_credentials_are_redacted() {
    let shoal = ServerProcess::shoal(&[]);
    let mut c = shoal.client();
    c.cmd("SET k v");
    c.cmd("MULTI");
    assert_eq!(c.cmd("MIGRATE 127.0.0.1 1 k 0 1000"), simple("QUEUED"));
    assert_eq!(c.cmd("EXEC"), Value::Array(vec![error("ERR MIGRATE is not supported inside MULTI/EXEC")]));
    assert_eq!(c.cmd("GET k"), bulk("v"));
    c.cmd("CONFIG SET slowlog-log-slower-than 0");
    c.cmd("SLOWLOG RESET");
    c.cmd("MIGRATE 127.0.0.1 1 nokey 0 1000 COPY AUTH2 user pass");
    let Value::Array(entries) = c.cmd("SLOWLOG GET 1") else { panic!() };
    let Value::Array(entry) = &entries[0] else { panic!() };
    let words: Vec<&str> =
        ["MIGRATE", "127.0.0.1", "1", "nokey", "0", "1000", "COPY", "AUTH2", "(redacted)", "(redacted)"].to_vec();
    assert_eq!(entry[3], Value::Array(words.iter().map(|w| bulk(w)).collect()));
}
