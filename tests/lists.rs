//! Lists, black box: replies compared byte for byte with redis-server 7.0
//! (fixed scripts and a seeded random workload under several node limits),
//! blocking commands (arrival order, across worker threads, after a
//! transaction, timeouts, MULTI), and what replicas receive.

mod support;

use std::io::Read;

use shoal_resp::Value;
use support::{bulk, error, wait_blocked, RawClient, ServerProcess};

const DEBUG: [&str; 2] = ["--enable-debug-command", "yes"];

/// Runs `commands` on both servers and asserts identical reply bytes.
fn assert_same_replies(redis: &mut RawClient, shoal: &mut RawClient, commands: &[Vec<Vec<u8>>]) {
    for argv in commands {
        let args: Vec<&[u8]> = argv.iter().map(|a| a.as_slice()).collect();
        redis.send(&args);
        shoal.send(&args);
        let (want, got) = (redis.read_raw(), shoal.read_raw());
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(&want),
            "reply to {:?}",
            args.iter().map(|a| String::from_utf8_lossy(a)).collect::<Vec<_>>()
        );
    }
}

fn words(line: &str) -> Vec<Vec<u8>> {
    line.split_whitespace().map(|w| w.as_bytes().to_vec()).collect()
}

/// Commands covering every list command's replies and errors.
const SCRIPT: &str = "
rpush l a b c 1 2 3 c c
lpos l c
lpos l c RANK 2
lpos l c RANK -1 COUNT 0
lpos l c COUNT 0 MAXLEN 3 RANK -1
lpos l x COUNT 2
lpos l x
lpos nokey x
lpos nokey x COUNT 1
lpos l c RANK 0
lpos l c COUNT -1
lpos l c MAXLEN x
lpos l c rank -9223372036854775808 count 2
lpos l c COUNT
lindex l -1
lindex l 100
lindex l x
lindex nokey x
lrange l -3 -1
lrange l 5 2
lrange l 0 -100
lrange nokey 0 -1
lrange l x 1
llen l
llen nokey
lset l 0 zz
lset l 100 zz
lset l x zz
lset nokey x zz
linsert l BEFORE c NEW
linsert l after c NEW2
linsert l after nothere NEW2
linsert l sideways c x
linsert nokey before a b
lrem l 0 c
lrem l -1 NEW
lrem l x a
lrem nokey 1 a
lrange l 0 -1
ltrim l 1 -2
ltrim l 100 200
exists l
ltrim nokey 0 1
rpush l a b c d e
lpop l 0
rpop l 0
lpop l 2
rpop l 2
lpop l 10
lpop l
lpop l 1
lpop l -1
lpop l x
lpop l 1 2
rpush l a
lpush l b
lpushx nokey a
rpushx nokey a
lpushx l x y
rpushx l z
set s str
lpush s a
lindex s 0
lpop s
lset s 0 a
linsert s before a b
lrem s 0 a
ltrim s 0 1
lpos s a
lmove s l left right
lmove l s left right
rpoplpush s l
lmove l l left left
lmove l l right left
lmove nokey l left right
lmove l newl RIGHT LEFT
lmove l newl up down
lrange newl 0 -1
rpoplpush l l
lmpop 1 l left
lmpop 2 nokey l right count 10
lmpop 2 nokey nokey2 right count 10
lmpop 2 nokey s left
lmpop 0 l left
lmpop x l left
lmpop 1 l middle
lmpop 1 l left count 0
lmpop 1 l left count 1 count 1
lmpop 3 l left
blpop s 0
brpop nokey s 0
blpop nokey -1
blpop nokey abc
blpop nokey inf
blmpop 0 1 s left
blmpop abc 1 nokey left
blmpop 0 0 nokey left
blmove s l left left 0
blmove nokey l left left -1
blmove nokey l left middle 0
brpoplpush nokey l x
rpush bl a b c
blpop nokey bl 0
brpop bl 0
blmpop 0 2 nokey bl right count 5
rpush bl a b c
blmove bl bl2 right left 0
brpoplpush bl bl2 0
lrange bl2 0 -1
multi
blpop nokey 0
brpop nokey 0
blmove nokey x left left 0
brpoplpush nokey x 0
blmpop 0 1 nokey left
exec
debug quicklist-packed-threshold -1
debug quicklist-packed-threshold 5gb
debug quicklist-packed-threshold abc
debug quicklist-packed-threshold 1b
rpush plain aaa bbb ccc
linsert plain before bbb x
lset plain 0 yy
lrange plain 0 -1
debug quicklist-packed-threshold 0
object encoding plain
object encoding bl2
";

#[test]
fn replies_match_redis_in_resp2_and_resp3() {
    let redis = ServerProcess::redis(&DEBUG);
    let shoal = ServerProcess::shoal(&DEBUG);
    let script: Vec<Vec<Vec<u8>>> = SCRIPT.lines().filter(|l| !l.trim().is_empty()).map(words).collect();
    for protocol in ["2", "3"] {
        let (mut r, mut s) = (redis.client(), shoal.client());
        assert_same_replies(&mut r, &mut s, &[words("flushall")]);
        // HELLO's reply names the server: not compared.
        r.call(&[b"HELLO", protocol.as_bytes()]);
        s.call(&[b"HELLO", protocol.as_bytes()]);
        assert_same_replies(&mut r, &mut s, &script);
    }
}

/// A seeded generator (the workload must be the same on both servers).
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 33) % n.max(1)
    }

    fn element(&mut self) -> String {
        match self.below(8) {
            0 => "x".repeat(self.below(3000) as usize) + &self.below(100).to_string(),
            1 => format!("-{}", self.below(1 << 40)),
            _ => self.below(40).to_string(),
        }
    }

    fn index(&mut self) -> String {
        (self.below(80) as i64 - 40).to_string()
    }
}

/// One random list command on `l` (or between `l` and `m`).
fn random_command(rng: &mut Lcg) -> Vec<Vec<u8>> {
    let line = match rng.below(16) {
        0 | 1 => format!("lpush l{{t}} {} {}", rng.element(), rng.element()),
        2 | 3 => format!("rpush l{{t}} {}", rng.element()),
        4 => "lpop l{t}".to_string(),
        5 => format!("rpop l{{t}} {}", rng.below(4)),
        6 => format!("lset l{{t}} {} {}", rng.index(), rng.element()),
        7 => {
            let side = if rng.below(2) == 0 { "before" } else { "after" };
            format!("linsert l{{t}} {side} {} {}", rng.below(40), rng.element())
        }
        8 => format!("lrem l{{t}} {} {}", rng.below(5) as i64 - 2, rng.below(40)),
        9 => format!("lindex l{{t}} {}", rng.index()),
        10 => format!("lrange l{{t}} {} {}", rng.index(), rng.index()),
        11 => format!("lpos l{{t}} {} RANK {} COUNT {} MAXLEN {}", rng.below(40), (rng.below(5) as i64 - 2) | 1, rng.below(3), rng.below(50)),
        12 => {
            let end = |r: &mut Lcg| if r.below(2) == 0 { "left" } else { "right" };
            format!("lmove l{{t}} m{{t}} {} {}", end(rng), end(rng))
        }
        13 => format!("lmpop 2 m{{t}} l{{t}} right count {}", 1 + rng.below(3)),
        14 if rng.below(10) == 0 => format!("ltrim l{{t}} {} {}", rng.below(5), 40 + rng.below(40)),
        _ => "llen l{t}".to_string(),
    };
    words(&line)
}

#[test]
fn random_workload_matches_redis_under_several_node_limits() {
    let redis = ServerProcess::redis(&DEBUG);
    let shoal = ServerProcess::shoal(&DEBUG);
    let (mut r, mut s) = (redis.client(), shoal.client());
    let configs = [("-2", "0"), ("4", "0"), ("1", "0"), ("-1", "100b"), ("16", "10b")];
    for (seed, (fill, threshold)) in configs.iter().enumerate() {
        let mut setup = vec![words("flushall"), words(&format!("config set list-max-listpack-size {fill}"))];
        setup.push(words(&format!("debug quicklist-packed-threshold {threshold}")));
        assert_same_replies(&mut r, &mut s, &setup);
        let mut rng = Lcg(seed as u64 + 1);
        let workload: Vec<Vec<Vec<u8>>> = (0..2500).map(|_| random_command(&mut rng)).collect();
        assert_same_replies(&mut r, &mut s, &workload);
        assert_same_replies(&mut r, &mut s, &[words("lrange l{t} 0 -1"), words("lrange m{t} 0 -1")]);
    }
    assert_same_replies(&mut r, &mut s, &[words("debug quicklist-packed-threshold 0")]);
}

#[test]
fn positional_access_on_a_large_list() {
    let shoal = ServerProcess::shoal(&[]);
    let mut c = shoal.client();
    let n = 200_000;
    for start in (0..n).step_by(1000) {
        let values: Vec<String> = (start..start + 1000).map(|i| i.to_string()).collect();
        let mut args: Vec<&[u8]> = vec![b"RPUSH", b"big"];
        args.extend(values.iter().map(|v| v.as_bytes()));
        c.call(&args);
    }
    assert_eq!(c.cmd("LLEN big"), Value::Int(n));
    let mut rng = Lcg(7);
    for _ in 0..300 {
        let i = rng.below(n as u64) as i64;
        assert_eq!(c.cmd(&format!("LINDEX big {i}")), bulk(&i.to_string()));
        assert_eq!(c.cmd(&format!("LINDEX big {}", i - n)), bulk(&i.to_string()));
    }
    assert_eq!(c.cmd("LSET big 123456 changed"), support::simple("OK"));
    assert_eq!(
        c.cmd("LRANGE big 123455 123457"),
        Value::Array(vec![bulk("123455"), bulk("changed"), bulk("123457")])
    );
    assert_eq!(c.cmd("LINSERT big BEFORE changed new"), Value::Int(n + 1));
    assert_eq!(c.cmd("LINDEX big 123456"), bulk("new"));
    assert_eq!(c.cmd("LREM big 0 new"), Value::Int(1));
    assert_eq!(c.cmd("LTRIM big 100000 -1"), support::simple("OK"));
    assert_eq!(c.cmd("LINDEX big 0"), bulk("100000"));
    assert_eq!(c.cmd("LPOS big 199999"), Value::Int(99999));
    assert_eq!(c.cmd("OBJECT ENCODING big"), bulk("quicklist"));
}

#[test]
fn blocked_clients_are_served_in_arrival_order_across_threads() {
    let shoal = ServerProcess::shoal(&["--threads", "2"]);
    let mut pusher = shoal.client();
    // Consecutive connections land on different worker threads.
    let mut waiters: Vec<RawClient> = (0..4).map(|_| shoal.client()).collect();
    for (i, w) in waiters.iter_mut().enumerate() {
        w.send(&[b"BLPOP", b"q", b"0"]);
        wait_blocked(&mut pusher, i + 1);
    }
    assert_eq!(pusher.cmd("RPUSH q a b c"), Value::Int(3));
    for (w, expected) in waiters.iter_mut().zip(["a", "b", "c"]) {
        assert_eq!(w.read(), Value::Array(vec![bulk("q"), bulk(expected)]));
    }
    assert_eq!(pusher.cmd("EXISTS q"), Value::Int(0));
    assert_eq!(pusher.cmd("RPUSH q d"), Value::Int(1));
    assert_eq!(waiters[3].read(), Value::Array(vec![bulk("q"), bulk("d")]));
}

#[test]
fn a_transaction_serves_waiters_after_it_completes() {
    let shoal = ServerProcess::shoal(&["--threads", "2"]);
    let mut c = shoal.client();
    let mut waiter = shoal.client();
    waiter.send(&[b"BLMPOP", b"0", b"2", b"x", b"y", b"LEFT", b"COUNT", b"5"]);
    wait_blocked(&mut c, 1);
    c.cmd("MULTI");
    c.cmd("RPUSH y 1 2");
    c.cmd("RPUSH x 3");
    c.cmd("DEL y");
    assert_eq!(c.cmd("EXEC"), Value::Array(vec![Value::Int(2), Value::Int(1), Value::Int(1)]));
    // y was ready first but deleted by the end: the client gets x.
    assert_eq!(waiter.read(), Value::Array(vec![bulk("x"), Value::Array(vec![bulk("3")])]));
}

#[test]
fn timeouts_multi_and_unblock() {
    let shoal = ServerProcess::shoal(&[]);
    let mut c = shoal.client();
    let mut waiter = shoal.client();
    waiter.send(&[b"BRPOPLPUSH", b"none", b"dst", b"0.05"]);
    assert_eq!(waiter.read_raw(), b"*-1\r\n");
    c.cmd("MULTI");
    c.cmd("BLPOP none 0");
    c.cmd("BLMOVE none dst LEFT LEFT 0");
    assert_eq!(c.read_raw_after(&[b"EXEC"]), b"*2\r\n*-1\r\n$-1\r\n");
    waiter.send(&[b"CLIENT", b"ID"]);
    let Value::Int(id) = waiter.read() else { panic!("CLIENT ID") };
    waiter.send(&[b"BLPOP", b"none", b"0"]);
    wait_blocked(&mut c, 1);
    assert_eq!(c.cmd(&format!("CLIENT UNBLOCK {id} ERROR")), Value::Int(1));
    assert_eq!(waiter.read(), error("UNBLOCKED client unblocked via CLIENT UNBLOCK"));
}

#[test]
fn served_move_with_a_wrong_destination_reports_the_error() {
    let shoal = ServerProcess::shoal(&["--threads", "2"]);
    let mut c = shoal.client();
    let mut waiter = shoal.client();
    c.cmd("SET dst string");
    waiter.send(&[b"BLMOVE", b"src", b"dst", b"RIGHT", b"LEFT", b"0"]);
    wait_blocked(&mut c, 1);
    c.cmd("RPUSH src a b");
    assert_eq!(waiter.read(), error("WRONGTYPE Operation against a key holding the wrong kind of value"));
    assert_eq!(c.cmd("LRANGE src 0 -1"), Value::Array(vec![bulk("a"), bulk("b")]));
    // The failed waiter is dropped and the next one is served.
    let mut second = shoal.client();
    c.cmd("DEL src");
    waiter.send(&[b"BRPOPLPUSH", b"src", b"dst", b"0"]);
    wait_blocked(&mut c, 1);
    second.send(&[b"BRPOPLPUSH", b"src", b"dst2", b"0"]);
    wait_blocked(&mut c, 2);
    c.cmd("LPUSH src foo");
    assert_eq!(waiter.read(), error("WRONGTYPE Operation against a key holding the wrong kind of value"));
    assert_eq!(second.read(), bulk("foo"));
    assert_eq!(c.cmd("LRANGE dst2 0 -1"), Value::Array(vec![bulk("foo")]));
    // A source that turns into another type keeps the client waiting.
    waiter.send(&[b"BLPOP", b"other", b"0"]);
    wait_blocked(&mut c, 1);
    c.cmd("SET other x");
    c.cmd("DEL other");
    c.cmd("LPUSH other y");
    assert_eq!(waiter.read(), Value::Array(vec![bulk("other"), bulk("y")]));
}

/// Attaches to the replication stream (SYNC) and skips the snapshot.
fn attach_replica(server: &ServerProcess) -> RawClient {
    let mut replica = server.client();
    replica.send_raw(b"SYNC\r\n");
    let mut header = Vec::new();
    let mut byte = [0u8; 1];
    while !header.ends_with(b"\r\n") {
        replica.stream.read_exact(&mut byte).unwrap();
        if !(header.is_empty() && byte[0] == b'\n') {
            header.push(byte[0]);
        }
    }
    let len: usize = std::str::from_utf8(&header[1..header.len() - 2]).unwrap().parse().unwrap();
    let mut rdb = vec![0u8; len];
    replica.stream.read_exact(&mut rdb).unwrap();
    replica
}

/// Commands a replica receives until (and without) `SET end 1`.
fn stream_until_end(replica: &mut RawClient) -> Vec<Value> {
    let mut seen = Vec::new();
    loop {
        let v = replica.read();
        if v == Value::Array(vec![bulk("set"), bulk("end"), bulk("1")]) {
            return seen;
        }
        seen.push(v);
    }
}

/// Runs writes, with one blocked client served on the way, and returns
/// what a replica received.
fn replicated(server: &ServerProcess) -> Vec<Value> {
    let mut c = server.client();
    c.cmd("CONFIG SET repl-ping-replica-period 3600");
    let mut replica = attach_replica(server);
    let mut waiter = server.client();
    for line in ["rpush l a b c", "blpop l 0", "blmove l m LEFT right 0", "blmpop 0 1 l right count 9", "lmpop 1 m left"] {
        c.cmd(line);
    }
    for (blocking, push) in [
        ("blpop w 0", "rpush w 1 2"),
        ("brpoplpush w2 m 0", "rpush w2 x"),
        ("blmove w3 m RIGHT LEFT 0", "rpush w3 y"),
        ("blmpop 0 2 w4 w5 RIGHT COUNT 5", "rpush w5 p q"),
    ] {
        let argv = words(blocking);
        let args: Vec<&[u8]> = argv.iter().map(|a| a.as_slice()).collect();
        waiter.send(&args);
        wait_blocked(&mut c, 1);
        c.cmd(push);
        waiter.read();
    }
    c.cmd("set end 1");
    stream_until_end(&mut replica)
}

#[test]
fn replicas_receive_what_redis_sends() {
    let redis = ServerProcess::redis(&[]);
    let shoal = ServerProcess::shoal(&[]);
    let want = replicated(&redis);
    assert!(want.len() > 10, "the redis stream was read: {want:?}");
    assert_eq!(replicated(&shoal), want);
}

trait ReadAfter {
    fn read_raw_after(&mut self, args: &[&[u8]]) -> Vec<u8>;
}

impl ReadAfter for RawClient {
    fn read_raw_after(&mut self, args: &[&[u8]]) -> Vec<u8> {
        self.send(args);
        self.read_raw()
    }
}
