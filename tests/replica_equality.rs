//! Replica equality: everything Shoal propagates, applied to a real
//! redis-server 7.0 replica, yields exactly Shoal's dataset.
//!
//! The test opens a replica connection to an empty shoal-server (`SYNC`),
//! reads the snapshot and then the propagated command stream on a thread,
//! and plays the master for a fresh redis-server started with `replicaof`
//! pointing at the test: it answers the replica's handshake, hands it
//! Shoal's snapshot, and forwards every propagated command verbatim
//! (except PING and REPLCONF GETACK). redis-server therefore applies the
//! stream exactly as a replica of Shoal would: it never expires keys
//! itself (it waits for the master's DEL), and it executes commands whose
//! keys are logically expired as they are.
//!
//! The workload is the differential tests' own generators (strings and
//! keyspace, every data type, blocking scenarios; `tests/differential/`)
//! run against Shoal alone, plus a hand-written scenario (`targeted`) that
//! makes sure every write family, expiry (active and lazy), blocking
//! commands served by pushes, MULTI/EXEC and SELECT of several databases
//! appear in every run. After each workload every database of Shoal is
//! SCANned (so that keys whose time has passed are deleted and the DEL
//! propagated), a sentinel key is written and awaited on the replica, and
//! the two datasets are compared key by key in databases 0..15: the key
//! set and DBSIZE (a key the master forgot to delete is still counted by a
//! replica), TYPE, TTL presence (PTTL within `TTL_TOLERANCE_MS`) and the
//! value (strings and HyperLogLogs byte for byte, lists in order, hashes
//! and sets sorted, sorted sets with scores, streams with their metadata,
//! consumer groups, consumers and pending entries, idle times excepted).
//! Errors the replica reports while applying the stream (its log's
//! "sending an error to its master" lines) fail the test too.
//!
//! `REPLICA_SEED=<n>` changes the base seed (printed at start);
//! `REPLICA_SEEDS=<n>` runs n rounds of generated workloads (default 2; a
//! round is 2 strings, 5 data-type and 2 blocking seeds).

#[allow(dead_code)]
#[path = "differential/harness.rs"]
mod harness;
#[allow(dead_code)]
#[path = "differential/strings.rs"]
mod strings;
mod support;
#[allow(dead_code)]
#[path = "differential/types/mod.rs"]
mod types;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use harness::{Argv, Check, Op, Plan};
use shoal_resp::{parse_value, Value};
use support::{RawClient, ServerProcess};

/// Databases compared.
const DBS: usize = 16;
/// Two PTTLs of one key may differ by this much (both servers hold the
/// same absolute time; the replies are read a moment apart).
const TTL_TOLERANCE_MS: i64 = 2_000;
/// Divergences reported at most.
const MAX_REPORTED: usize = 12;
const SENTINEL: &[u8] = b"__replica_equality_sentinel__";

// ---------------------------------------------------------------------------
// The stream: Shoal → test → redis-server replica

/// Every command forwarded so far, with its database (for reports).
#[derive(Default)]
struct StreamLog {
    commands: Vec<(usize, Argv)>,
    /// Set if the stream thread stopped.
    failed: Option<String>,
}

/// Parses one RESP array of bulk strings at the start of `buf`: None if
/// incomplete, else the arguments and the bytes taken.
fn parse_command(buf: &[u8]) -> Result<Option<(Argv, usize)>, String> {
    fn line(buf: &[u8], pos: usize) -> Option<(&[u8], usize)> {
        let end = buf[pos..].windows(2).position(|w| w == b"\r\n")?;
        Some((&buf[pos..pos + end], pos + end + 2))
    }
    fn number(text: &[u8]) -> Result<usize, String> {
        std::str::from_utf8(text).ok().and_then(|t| t.parse().ok()).ok_or_else(|| format!("bad length {text:?}"))
    }
    if buf.is_empty() {
        return Ok(None);
    }
    if buf[0] != b'*' {
        return Err(format!("stream: expected '*', got {}", harness::escape(&buf[..buf.len().min(40)])));
    }
    let Some((head, mut pos)) = line(buf, 1) else { return Ok(None) };
    let count = number(head)?;
    let mut argv = Vec::with_capacity(count);
    for _ in 0..count {
        if pos >= buf.len() {
            return Ok(None);
        }
        if buf[pos] != b'$' {
            return Err("stream: expected '$'".into());
        }
        let Some((len, start)) = line(buf, pos + 1) else { return Ok(None) };
        let len = number(len)?;
        if buf.len() < start + len + 2 {
            return Ok(None);
        }
        argv.push(buf[start..start + len].to_vec());
        pos = start + len + 2;
    }
    Ok(Some((argv, pos)))
}

/// Reads from `stream` into `buf` until `f` finds something.
fn read_until<T>(stream: &mut TcpStream, buf: &mut Vec<u8>, mut f: impl FnMut(&mut Vec<u8>) -> Result<Option<T>, String>) -> Result<T, String> {
    loop {
        if let Some(t) = f(buf)? {
            return Ok(t);
        }
        let mut chunk = [0u8; 64 * 1024];
        match stream.read(&mut chunk) {
            Ok(0) => return Err("connection closed".into()),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) => return Err(format!("read: {e}")),
        }
    }
}

/// Sends SYNC to Shoal and returns the connection and the snapshot.
fn sync_from(shoal: &ServerProcess) -> (TcpStream, Vec<u8>, Vec<u8>) {
    let mut conn = TcpStream::connect(("127.0.0.1", shoal.port)).unwrap();
    conn.set_nodelay(true).unwrap();
    conn.write_all(b"*1\r\n$4\r\nSYNC\r\n").unwrap();
    let mut buf = Vec::new();
    let rdb = read_until(&mut conn, &mut buf, |buf| {
        // A master may send newlines while it prepares the snapshot.
        let skip = buf.iter().take_while(|&&b| b == b'\n').count();
        buf.drain(..skip);
        if buf.is_empty() {
            return Ok(None);
        }
        if buf[0] != b'$' {
            return Err(format!("SYNC: expected '$', got {}", harness::escape(buf)));
        }
        let Some(end) = buf.windows(2).position(|w| w == b"\r\n") else { return Ok(None) };
        let len: usize = std::str::from_utf8(&buf[1..end]).unwrap().parse().unwrap();
        if buf.len() < end + 2 + len {
            return Ok(None);
        }
        let rdb = buf[end + 2..end + 2 + len].to_vec();
        buf.drain(..end + 2 + len);
        Ok(Some(rdb))
    })
    .expect("SYNC failed");
    (conn, rdb, buf)
}

/// Plays the master's side of the handshake for the redis-server replica
/// connecting to `listener`, hands it `rdb`, then forwards Shoal's stream.
fn serve_replica(listener: TcpListener, mut shoal: TcpStream, rdb: Vec<u8>, mut pending: Vec<u8>, log: Arc<Mutex<StreamLog>>) {
    let fail = |log: &Arc<Mutex<StreamLog>>, what: String| {
        log.lock().unwrap().failed.get_or_insert(what);
    };
    let (mut replica, _) = match listener.accept() {
        Ok(c) => c,
        Err(e) => return fail(&log, format!("accept: {e}")),
    };
    replica.set_nodelay(true).unwrap();
    let mut buf = Vec::new();
    // The handshake: PING, REPLCONF..., PSYNC (or SYNC).
    loop {
        let argv = match read_until(&mut replica, &mut buf, |b| {
            Ok(parse_command(b)?.map(|(argv, used)| {
                b.drain(..used);
                argv
            }))
        }) {
            Ok(a) => a,
            Err(e) => return fail(&log, format!("handshake: {e}")),
        };
        let name = String::from_utf8_lossy(&argv[0]).to_ascii_uppercase();
        let reply: Vec<u8> = match name.as_str() {
            "PING" => b"+PONG\r\n".to_vec(),
            "PSYNC" | "SYNC" => {
                let mut out = Vec::new();
                if name == "PSYNC" {
                    out.extend_from_slice(format!("+FULLRESYNC {} 0\r\n", "a".repeat(40)).as_bytes());
                }
                out.extend_from_slice(format!("${}\r\n", rdb.len()).as_bytes());
                out.extend_from_slice(&rdb);
                if replica.write_all(&out).is_err() {
                    return fail(&log, "handshake: replica closed".into());
                }
                break;
            }
            _ => b"+OK\r\n".to_vec(),
        };
        if replica.write_all(&reply).is_err() {
            return fail(&log, "handshake: replica closed".into());
        }
    }
    // The replica's acknowledgements are read and dropped.
    let mut acks = replica.try_clone().unwrap();
    std::thread::spawn(move || {
        let mut chunk = [0u8; 4096];
        while matches!(acks.read(&mut chunk), Ok(n) if n > 0) {}
    });
    let mut db = 0usize;
    loop {
        let skip = pending.iter().take_while(|&&b| b == b'\n').count();
        pending.drain(..skip);
        match parse_command(&pending) {
            Err(e) => return fail(&log, e),
            Ok(Some((argv, used))) => {
                let raw: Vec<u8> = pending.drain(..used).collect();
                let name = String::from_utf8_lossy(&argv[0]).to_ascii_uppercase();
                let getack = name == "REPLCONF" && argv.get(1).is_some_and(|a| a.eq_ignore_ascii_case(b"GETACK"));
                if name == "PING" || getack {
                    continue;
                }
                if name == "SELECT" {
                    db = String::from_utf8_lossy(&argv[1]).parse().unwrap_or(db);
                }
                if replica.write_all(&raw).is_err() {
                    return fail(&log, "the replica closed its link".into());
                }
                log.lock().unwrap().commands.push((db, argv));
            }
            Ok(None) => {
                let mut chunk = [0u8; 64 * 1024];
                match shoal.read(&mut chunk) {
                    Ok(0) => return fail(&log, "Shoal closed the replica stream".into()),
                    Ok(n) => pending.extend_from_slice(&chunk[..n]),
                    Err(e) => return fail(&log, format!("stream read: {e}")),
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Driving Shoal

/// One step of a workload run against Shoal alone.
enum Step {
    Op(Op),
    Sleep(u64),
}

fn argv_of(line: &str) -> Argv {
    line.split(' ').filter(|w| !w.is_empty()).map(|w| w.as_bytes().to_vec()).collect()
}

fn cmd(line: &str) -> Step {
    Step::Op(Op::Command { conn: 0, argv: argv_of(line), check: Check::Exact })
}

fn raw_cmd(argv: Vec<Vec<u8>>) -> Step {
    Step::Op(Op::Command { conn: 0, argv, check: Check::Exact })
}

fn block(waiter: usize, line: &str) -> Step {
    Step::Op(Op::Block { waiter, argv: argv_of(line), check: Check::Exact, timed: false })
}

fn release() -> Step {
    Step::Op(Op::Release { error: false })
}

fn read_reply(c: &mut RawClient, what: &dyn Fn() -> String) -> Value {
    match c.try_read_raw() {
        Some(raw) => parse_value(&raw).unwrap().unwrap().0,
        None => panic!("no reply to {}", what()),
    }
}

fn call(c: &mut RawClient, argv: &[Vec<u8>]) -> Value {
    let args: Vec<&[u8]> = argv.iter().map(|a| a.as_slice()).collect();
    c.send(&args);
    read_reply(c, &|| harness::describe(argv))
}

fn client_id(c: &mut RawClient) -> Vec<u8> {
    match c.cmd("CLIENT ID") {
        Value::Int(id) => id.to_string().into_bytes(),
        other => panic!("CLIENT ID: {other:?}"),
    }
}

/// Runs `steps` on Shoal: `connections` normal connections, `waiters`
/// connections for blocking commands (replies are read, not checked).
fn drive(shoal: &ServerProcess, steps: Vec<Step>, connections: usize, waiters: usize) -> usize {
    let mut conns: Vec<RawClient> = (0..connections.max(1)).map(|_| shoal.client()).collect();
    let mut control = shoal.client();
    let mut waiting: Vec<(RawClient, Vec<u8>, Option<Argv>)> = (0..waiters)
        .map(|_| {
            let mut c = shoal.client();
            let id = client_id(&mut c);
            (c, id, None)
        })
        .collect();
    let mut sent = 0;
    for step in steps {
        let op = match step {
            Step::Sleep(ms) => {
                std::thread::sleep(Duration::from_millis(ms));
                continue;
            }
            Step::Op(op) => op,
        };
        match op {
            Op::Command { conn, argv, .. } => {
                call(&mut conns[conn], &argv);
                sent += 1;
            }
            Op::Group { conn, commands } => {
                for (argv, _) in &commands {
                    call(&mut conns[conn], argv);
                    sent += 1;
                }
            }
            Op::FullScan { conn, command, first_cursor, options, .. } => {
                let mut cursor = first_cursor;
                for _ in 0..10_000 {
                    let mut argv = command.clone();
                    argv.push(cursor.clone());
                    argv.extend(options.iter().cloned());
                    sent += 1;
                    match call(&mut conns[conn], &argv) {
                        Value::Array(items) if items.len() == 2 => match &items[0] {
                            Value::Bulk(next) if next.as_slice() != b"0" => cursor = next.clone(),
                            _ => break,
                        },
                        _ => break,
                    }
                }
            }
            Op::Block { waiter, argv, timed, .. } => {
                let (w, id, pending) = &mut waiting[waiter];
                assert!(pending.is_none(), "waiter {waiter} is busy");
                let args: Vec<&[u8]> = argv.iter().map(|a| a.as_slice()).collect();
                w.send(&args);
                sent += 1;
                if timed {
                    *pending = Some(argv);
                    continue;
                }
                let deadline = Instant::now() + Duration::from_secs(10);
                loop {
                    if w.poll_raw(Duration::from_millis(1)).is_some() {
                        break;
                    }
                    let list = call(&mut control, &[b"CLIENT".to_vec(), b"LIST".to_vec(), b"ID".to_vec(), id.clone()]);
                    let Value::Bulk(list) = list else { panic!("CLIENT LIST: {list:?}") };
                    let text = String::from_utf8_lossy(&list);
                    if text.split(' ').find_map(|f| f.strip_prefix("flags=")).is_some_and(|f| f.contains('b')) {
                        *pending = Some(argv);
                        break;
                    }
                    assert!(Instant::now() < deadline, "waiter neither blocked nor replied: {}", harness::describe(&argv));
                }
            }
            Op::Collect { waiter } => {
                let (w, _, pending) = &mut waiting[waiter];
                let argv = pending.take().expect("nothing to collect");
                read_reply(w, &|| harness::describe(&argv));
            }
            Op::Release { error } => {
                for (w, id, pending) in waiting.iter_mut() {
                    let Some(argv) = pending.take() else { continue };
                    let mut unblock = vec![b"CLIENT".to_vec(), b"UNBLOCK".to_vec(), id.clone()];
                    if error {
                        unblock.push(b"ERROR".to_vec());
                    }
                    call(&mut control, &unblock);
                    read_reply(w, &|| harness::describe(&argv));
                }
            }
        }
    }
    // Waiters still blocked (none should be) are released by closing.
    for (w, id, pending) in waiting.iter_mut() {
        if let Some(argv) = pending.take() {
            call(&mut control, &[b"CLIENT".to_vec(), b"UNBLOCK".to_vec(), id.clone()]);
            read_reply(w, &|| harness::describe(&argv));
        }
    }
    sent
}

fn plan_steps(plan: Plan) -> (Vec<Step>, Vec<Argv>, usize, usize) {
    let mut steps = vec![cmd("FLUSHALL")];
    steps.extend(plan.ops.into_iter().map(Step::Op));
    (steps, plan.setup, plan.connections, plan.waiters)
}

// ---------------------------------------------------------------------------
// The hand-written scenario

/// A sparse HyperLogLog header (cache invalid unless `cached`) followed by
/// `body`.
fn hll(sparse: bool, cached: bool, body: &[u8]) -> Vec<u8> {
    let mut v = b"HYLL".to_vec();
    v.push(if sparse { 1 } else { 0 });
    v.extend_from_slice(&[0, 0, 0]);
    if cached {
        v.extend_from_slice(&[5, 0, 0, 0, 0, 0, 0, 0]);
    } else {
        v.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0x80]);
    }
    v.extend_from_slice(body);
    v
}

fn targeted() -> Vec<Step> {
    let mut s: Vec<Step> = Vec::new();
    let lines = |s: &mut Vec<Step>, text: &str| {
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
            s.push(cmd(line));
        }
    };
    lines(
        &mut s,
        "FLUSHALL
        CONFIG SET zset-max-listpack-entries 4
        CONFIG SET hash-max-listpack-entries 4
        CONFIG SET set-max-intset-entries 4
        CONFIG SET stream-node-max-entries 3
        CONFIG SET hll-sparse-max-bytes 3000
        # strings
        SET s1 v1 EX 1000
        SET s2 v2 PX 1000000 GET
        SET s1 v3 KEEPTTL XX GET
        SET s3 v NX EXAT 4102444800
        SET s4 v PXAT 4102444800000
        SET s6 v XX
        SET s5 a
        APPEND s5 bcd
        SETRANGE s5 10 xyz
        INCRBYFLOAT f1 0.1
        INCRBYFLOAT f1 0.2
        INCRBYFLOAT f1 1e5
        SET n1 10
        INCR n1
        DECRBY n1 3
        INCRBY n1 100
        DECR n1
        GETDEL s2
        GETEX s3 PERSIST
        GETEX s4 EX 5000
        GETEX s5 PXAT 4102444800000
        GETEX s1 PX 99000
        MSETNX m1 a m2 b
        MSETNX m1 a m9 b
        MSET m3 c m4 d
        SETEX se 1000 v
        PSETEX pse 1000000 v
        SETNX sn v
        GETSET m1 z
        # lists
        RPUSH l1 a b c d e f g h
        LPUSH l1 z
        LPUSHX l1 y
        RPUSHX lnone y
        LINSERT l1 BEFORE c cc
        LSET l1 0 zz
        LREM l1 1 a
        LTRIM l1 0 6
        RPOPLPUSH l1 l2
        LMOVE l1 l2 LEFT RIGHT
        LMPOP 2 l1 l2 LEFT COUNT 2
        LPOP l1
        RPOP l2 1
        # hashes
        HSET h1 a 1 b 2 c 3.5
        HINCRBY h1 a 5
        HINCRBYFLOAT h1 c 0.1
        HINCRBYFLOAT h1 d 1.5e3
        HSETNX h1 e x
        HMSET h1 f 1 g 2
        HDEL h1 b
        HRANDFIELD h1 2
        # sets
        SADD st1 a b c d e f g 1 2 3
        SADD st2 c d x y
        SADD sti 1 2 3
        SPOP st1
        SPOP st1 3
        SPOP sti 1
        SRANDMEMBER st1 2
        SMOVE st1 st2 g
        SMOVE st1 st2 e
        SINTERSTORE st3 st1 st2
        SUNIONSTORE st4 st1 st2
        SDIFFSTORE st5 st2 st1
        SREM st2 x
        # sorted sets
        ZADD z1 1 a 2 b 3 c 4 d 5 e 6 f 7 g
        ZADD z1 XX GT CH 10 a
        ZADD z1 INCR 1.5 b
        ZINCRBY z1 2.5 c
        ZPOPMIN z1
        ZPOPMAX z1 2
        ZADD z2 0 a 0 b 0 c 0 d 0 e 0 f 0 g
        ZRANGESTORE z3 z2 [b (f BYLEX
        ZRANGESTORE z4 z1 0 +inf BYSCORE LIMIT 0 2
        ZRANGESTORE z5 z1 0 -1 REV
        ZREMRANGEBYLEX z2 [a [c
        ZREMRANGEBYSCORE z1 -inf 2
        ZREMRANGEBYRANK z1 0 0
        ZUNIONSTORE z6 2 z1 z2 WEIGHTS 2 3 AGGREGATE MAX
        ZINTERSTORE z7 2 z1 z3
        ZDIFFSTORE z8 2 z2 z3
        ZMPOP 1 z6 MIN COUNT 2
        ZADD zm 1 a 2 b 2 c 3 d 4 e 5 f
        ZREMRANGEBYLEX zm [b [c
        ZRANGESTORE zm2 zm - + BYLEX
        ZRANGESTORE zm3 zm (a [e BYLEX REV LIMIT 0 10
        ZRANGESTORE zm4 zm [zz [zzz BYLEX
        ZADD zsmall 1 a 3 b 2 c
        ZREMRANGEBYLEX zsmall - [b
        ZRANGESTORE zsmall2 zsmall - + BYLEX
        # streams
        XADD x1 1-1 a 1
        XADD x1 1-2 b 2
        XADD x1 1-* c 3
        XADD x1 * d 4
        XADD x1 * e 5
        XADD x1 MAXLEN ~ 2 * f 6
        XADD x2 * a 1
        XADD x2 NOMKSTREAM * b 2
        XADD x3 NOMKSTREAM * b 2
        XGROUP CREATE x1 g1 0
        XGROUP CREATE x1 g2 $
        XGROUP CREATE xnew g1 $ MKSTREAM
        XGROUP CREATECONSUMER x1 g1 c9
        XREADGROUP GROUP g1 c1 COUNT 2 STREAMS x1 >
        XREADGROUP GROUP g1 c2 STREAMS x1 >
        XREADGROUP GROUP g1 c1 STREAMS x1 0
        XREADGROUP GROUP g1 c7 STREAMS x1 0
        XREADGROUP GROUP g2 c1 NOACK STREAMS x1 0
        XADD x1 * g 7
        XREADGROUP GROUP g2 c3 NOACK STREAMS x1 >
        XACK x1 g1 1-1
        XCLAIM x1 g1 c4 0 1-2
        XCLAIM x1 g1 c4 0 1-3 JUSTID
        XCLAIM x1 g1 c5 0 1-2 IDLE 5000 RETRYCOUNT 7 FORCE
        XAUTOCLAIM x1 g1 c6 0 0 COUNT 10
        XREADGROUP GROUP g1 c6 COUNT 1 STREAMS x1 0
        XDEL x1 1-3
        XREADGROUP GROUP g1 c6 STREAMS x1 0
        XAUTOCLAIM x1 g1 c8 0 0
        XGROUP SETID x1 g1 1-1 ENTRIESREAD 1
        XGROUP SETID x1 g2 $
        XGROUP DELCONSUMER x1 g1 c9
        XGROUP DELCONSUMER x1 g1 c1
        XGROUP CREATECONSUMER x1 g2 cc
        XADD x4 1-1 a 1
        XADD x4 2-1 a 1
        XADD x4 3-1 a 1
        XADD x4 4-1 a 1
        XADD x4 5-1 a 1
        XADD x4 6-1 a 1
        XADD x4 7-1 a 1
        XTRIM x4 MAXLEN ~ 2
        XTRIM x4 MAXLEN 3
        XTRIM x4 MINID ~ 6
        XADD x4 MINID 7 * z 1
        XSETID x4 99-1 ENTRIESADDED 100 MAXDELETEDID 50-0
        XGROUP CREATE x4 gd 0 ENTRIESREAD 3
        XGROUP DESTROY x1 g2
        # bitmaps
        SETBIT b1 7 1
        SETBIT b1 100 1
        SETBIT b1 7 0
        SET b2 foobar
        BITOP AND b3 b1 b2
        BITOP OR b4 b1 b2
        BITOP XOR b5 b1 b2
        BITOP NOT b6 b2
        BITOP AND b7 nothere
        BITFIELD bf SET u8 0 255 INCRBY u8 0 10
        BITFIELD bf OVERFLOW SAT INCRBY u8 0 250
        BITFIELD bf OVERFLOW FAIL INCRBY u8 0 100
        BITFIELD bf OVERFLOW FAIL INCRBY u8 8 1 OVERFLOW FAIL INCRBY u8 8 255
        BITFIELD bf OVERFLOW FAIL SET i8 16 100 INCRBY i8 16 100
        BITFIELD bfnew OVERFLOW FAIL INCRBY u8 0 300
        BITFIELD bfnew2 OVERFLOW FAIL INCRBY u4 0 20 GET u4 0
        BITFIELD bf OVERFLOW WRAP INCRBY i8 24 200 OVERFLOW SAT INCRBY i8 24 -300
        BITFIELD bf GET u8 0
        BITFIELD_RO bf GET u8 0
        # hyperloglog
        PFADD p1 a b c
        PFADD p2 c d e
        PFADD p0
        PFMERGE p3 p1 p2
        PFMERGE p4 p1
        PFMERGE p5 nothere
        PFCOUNT p1
        PFCOUNT p1 p2
        PFCOUNT p3
        PFADD p3 x
        PFCOUNT p3
        PFCOUNT p3",
    );
    // Corrupt sketches: sparse runs that cover too few registers, with and
    // without a valid cache, and a dense one of the wrong length.
    for (key, value) in [
        (&b"pbad1"[..], hll(true, false, &[0x7f, 0xff])),
        (b"pbad2", hll(true, true, &[0x7f, 0xff])),
        (b"pbad3", hll(true, false, &[0x7f, 0xff, 0x7f, 0xff, 0x7f, 0xff, 0x7f, 0xff, 0x7f, 0xff, 0x7f])),
        (b"pbad4", hll(false, false, &[1, 2, 3, 4])),
        (b"pbad5", hll(true, false, &[0x80, 0x7f, 0xff, 0x7f, 0xff])),
    ] {
        s.push(raw_cmd(vec![b"SET".to_vec(), key.to_vec(), value]));
    }
    lines(
        &mut s,
        "PFADD pbad1 a
        PFCOUNT pbad1
        PFCOUNT pbad2
        PFADD pbad2 a b
        PFCOUNT pbad2
        PFCOUNT pbad3
        PFADD pbad3 q
        PFADD pbad4 a
        PFCOUNT pbad4
        PFADD pbad5 a
        PFCOUNT pbad5
        PFMERGE pm pbad1 p1
        PFMERGE pm2 p1 pbad5
        PFCOUNT pbad2 p1
        # geo
        GEOADD g1 13.361389 38.115556 Palermo 15.087269 37.502669 Catania
        GEOADD g1 NX CH 2.35 48.85 Paris 13.4 38.1 Palermo
        GEOADD g1 XX 13.5 38.2 Palermo
        GEOSEARCHSTORE g2 g1 FROMLONLAT 15 37 BYRADIUS 200 km ASC
        GEOSEARCHSTORE g3 g1 FROMMEMBER Palermo BYBOX 400 400 km STOREDIST
        GEOSEARCHSTORE g5 g1 FROMLONLAT 0 0 BYRADIUS 1 m
        GEORADIUS g1 15 37 200 km STORE g4
        GEORADIUSBYMEMBER g1 Palermo 500 km STOREDIST g6
        # keys
        EXPIRE s5 5000 NX
        EXPIRE s5 6000 XX
        EXPIRE s5 7000 GT
        EXPIRE s5 100 LT
        EXPIRE m3 5000 XX
        PEXPIRE m4 9000000 NX
        EXPIREAT se 4102444800 GT
        PEXPIREAT pse 4102444800000 LT
        PERSIST s1
        RENAME m3 m3r
        RENAMENX m4 m3r
        RENAMENX m4 m4r
        COPY l2 l2c
        COPY h1 h1c DB 3 REPLACE
        COPY x1 x1c
        COPY z1 z1c DB 4
        MOVE st3 2
        RPUSH nums 3 1 2 10
        SORT nums STORE sorted1
        SORT nums DESC LIMIT 0 2 STORE sorted2
        SORT l1 ALPHA STORE sorted3
        SORT nothere STORE sorted1x
        SADD sortset b a c
        SORT sortset ALPHA STORE sorted4
        UNLINK m1
        DEL m2 nothere
        TOUCH s1
        SELECT 5
        SET a5 b
        HSET h5 a b
        SELECT 6
        SET a6 b
        RPUSH l6 a
        FLUSHDB
        SET a6again b
        SELECT 7
        SET a7 x
        SWAPDB 7 8
        SELECT 8
        LPUSH l8 x
        SWAPDB 8 9
        SELECT 0
        # transactions
        MULTI
        SET t1 a
        INCR t2
        LPUSH tl a b
        SADD ts a
        EXPIRE t1 100
        ZADD tz 1 a
        XADD tx * a 1
        HINCRBYFLOAT th f 1.1
        SPOP st4
        SELECT 3
        SET t3 x
        SELECT 0
        EXEC
        MULTI
        SET tx2 y
        INCR tx2
        GETEX s3 EX 100
        INCRBYFLOAT t2 2.5
        EXEC
        MULTI
        BLPOP emptylist 0
        BLMOVE tl tl2 LEFT LEFT 0
        BZPOPMIN tz 0
        XREADGROUP GROUP g1 c1 STREAMS x1 0
        EXEC
        MULTI
        DEL t1
        EXEC",
    );
    // Blocking commands served by pushes from another connection.
    s.push(cmd("XGROUP CREATE xb g1 $ MKSTREAM"));
    s.push(block(0, "BLPOP bl1 0"));
    s.push(cmd("RPUSH bl1 a b"));
    s.push(release());
    s.push(block(0, "BRPOP bl2 bl3 0"));
    s.push(cmd("LPUSH bl3 x y"));
    s.push(release());
    s.push(block(0, "BLMOVE bl4 bl5 LEFT RIGHT 0"));
    s.push(cmd("RPUSH bl4 q r"));
    s.push(release());
    s.push(block(0, "BLMPOP 0 2 bl6 bl7 RIGHT COUNT 2"));
    s.push(cmd("RPUSH bl7 1 2 3"));
    s.push(release());
    s.push(block(0, "BRPOPLPUSH bl8 bl9 0"));
    s.push(cmd("RPUSH bl8 1 2 3"));
    s.push(release());
    s.push(block(0, "BZPOPMIN bz1 0"));
    s.push(cmd("ZADD bz1 1 a 2 b"));
    s.push(release());
    s.push(block(0, "BZPOPMAX bz1 bz9 0"));
    s.push(cmd("ZADD bz9 7 q"));
    s.push(release());
    s.push(block(0, "BZMPOP 0 1 bz2 MAX COUNT 2"));
    s.push(cmd("ZADD bz2 1 a 2 b 3 c"));
    s.push(release());
    s.push(block(0, "XREADGROUP GROUP g1 w1 BLOCK 0 STREAMS xb >"));
    s.push(block(1, "XREADGROUP GROUP g1 w2 BLOCK 0 NOACK STREAMS xb >"));
    s.push(block(2, "XREAD BLOCK 0 STREAMS xb $"));
    s.push(cmd("XADD xb * f v"));
    s.push(cmd("XADD xb * f w"));
    s.push(release());
    s.push(block(0, "BLPOP bm1 0"));
    s.push(block(1, "BLMOVE bm1 bm2 RIGHT LEFT 0"));
    s.push(block(2, "BLPOP bm2 0"));
    lines(
        &mut s,
        "MULTI
        RPUSH bm1 a b c
        LPUSH bm1 d
        EXEC",
    );
    s.push(release());
    s.push(block(0, "BLPOP swapped 0"));
    lines(
        &mut s,
        "SELECT 1
        RPUSH swapped a b
        SWAPDB 0 1
        SELECT 0",
    );
    s.push(release());
    // Expiry: keys of every type with short TTLs, some read (lazy expiry),
    // the others left to active expiry; plus past times that delete at once.
    for i in 0..40 {
        let ms = 20 + (i % 8) * 10;
        match i % 8 {
            0 => s.push(cmd(&format!("SET e{i} v PX {ms}"))),
            1 => s.push(cmd(&format!("RPUSH e{i} a b"))),
            2 => s.push(cmd(&format!("HSET e{i} f v"))),
            3 => s.push(cmd(&format!("SADD e{i} a"))),
            4 => s.push(cmd(&format!("ZADD e{i} 1 a"))),
            5 => s.push(cmd(&format!("XADD e{i} * f v"))),
            6 => s.push(cmd(&format!("SETBIT e{i} 3 1"))),
            _ => s.push(cmd(&format!("PFADD e{i} a"))),
        }
        if i % 8 != 0 {
            s.push(cmd(&format!("PEXPIRE e{i} {ms}")));
        }
    }
    lines(
        &mut s,
        "SET past v EXAT 1
        SET past2 v
        EXPIRE past2 -1
        SET past3 v
        PEXPIREAT past3 1
        SET past4 v
        GETEX past4 PXAT 1
        SELECT 2
        SET e2db v PX 30
        SELECT 0
        SET ek v PX 30
        SET ek2 v PX 30
        RPUSH ek3 a
        PEXPIRE ek3 30",
    );
    s.push(Step::Sleep(300));
    lines(
        &mut s,
        "GET e0
        LLEN e1
        EXISTS e2 e3
        APPEND ek more
        RPUSH ek3 b
        GETSET ek2 new
        INCR e8",
    );
    s.push(Step::Sleep(700));
    s
}

// ---------------------------------------------------------------------------
// Comparing the datasets

fn text(v: &Value) -> String {
    match v {
        Value::Bulk(b) | Value::Simple(b) | Value::Error(b) => harness::escape(b),
        Value::Int(i) => i.to_string(),
        Value::Array(items) => format!("[{}]", items.iter().map(text).collect::<Vec<_>>().join(", ")),
        other => format!("{other:?}"),
    }
}

fn args(parts: &[&[u8]]) -> Argv {
    parts.iter().map(|p| p.to_vec()).collect()
}

fn bulks(v: Value) -> Vec<Vec<u8>> {
    match v {
        Value::Array(items) => items.into_iter().map(|i| match i {
            Value::Bulk(b) => b,
            other => text(&other).into_bytes(),
        }).collect(),
        _ => Vec::new(),
    }
}

/// A flat array of pairs as a map (XINFO replies).
fn fields(v: Value) -> Vec<(String, Value)> {
    let Value::Array(items) = v else { return Vec::new() };
    let mut out = Vec::new();
    let mut it = items.into_iter();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        out.push((text(&k), v));
    }
    out
}

fn keep(v: Value, names: &[&str]) -> Value {
    Value::Array(
        fields(v)
            .into_iter()
            .filter(|(k, _)| names.contains(&k.as_str()))
            .flat_map(|(k, v)| [Value::Bulk(k.into_bytes()), v])
            .collect(),
    )
}

/// The value of `key` (of type `kind`) as comparable text.
fn dump(c: &mut RawClient, key: &[u8], kind: &str) -> String {
    match kind {
        "string" => text(&call(c, &args(&[b"GET", key]))),
        "list" => text(&call(c, &args(&[b"LRANGE", key, b"0", b"-1"]))),
        "hash" => {
            let flat = bulks(call(c, &args(&[b"HGETALL", key])));
            let mut pairs: Vec<(Vec<u8>, Vec<u8>)> = flat.chunks(2).map(|p| (p[0].clone(), p[1].clone())).collect();
            pairs.sort();
            pairs.iter().map(|(f, v)| format!("{}={}", harness::escape(f), harness::escape(v))).collect::<Vec<_>>().join(" ")
        }
        "set" => {
            let mut members = bulks(call(c, &args(&[b"SMEMBERS", key])));
            members.sort();
            harness::describe(&members)
        }
        "zset" => text(&call(c, &args(&[b"ZRANGE", key, b"0", b"-1", b"WITHSCORES"]))),
        "stream" => {
            let mut out = String::new();
            out += &format!("entries {}\n", text(&call(c, &args(&[b"XRANGE", key, b"-", b"+"]))));
            let info = call(c, &args(&[b"XINFO", b"STREAM", key]));
            let info = keep(info, &["length", "last-generated-id", "max-deleted-entry-id", "entries-added", "recorded-first-entry-id", "groups"]);
            out += &format!("info {}\n", text(&info));
            let Value::Array(groups) = call(c, &args(&[b"XINFO", b"GROUPS", key])) else { return out };
            for group in groups {
                let g = fields(group);
                let name = match g.iter().find(|(k, _)| k == "name") {
                    Some((_, Value::Bulk(n))) => n.clone(),
                    _ => continue,
                };
                out += &format!("group {}\n", g.iter().map(|(k, v)| format!("{k}={}", text(v))).collect::<Vec<_>>().join(" "));
                if let Value::Array(consumers) = call(c, &args(&[b"XINFO", b"CONSUMERS", key, &name])) {
                    for consumer in consumers {
                        out += &format!("  consumer {}\n", text(&keep(consumer, &["name", "pending"])));
                    }
                }
                if let Value::Array(pending) = call(c, &args(&[b"XPENDING", key, &name, b"-", b"+", b"1000000"])) {
                    for entry in pending {
                        // id, consumer, idle (not compared), deliveries.
                        if let Value::Array(e) = entry {
                            if e.len() == 4 {
                                out += &format!("  pending {} {} {}\n", text(&e[0]), text(&e[1]), text(&e[3]));
                            }
                        }
                    }
                }
            }
            out
        }
        other => format!("(type {other})"),
    }
}

fn pttl(c: &mut RawClient, key: &[u8]) -> i64 {
    match call(c, &args(&[b"PTTL", key])) {
        Value::Int(i) => i,
        other => panic!("PTTL: {other:?}"),
    }
}

fn select(c: &mut RawClient, db: usize) {
    call(c, &args(&[b"SELECT", db.to_string().as_bytes()]));
}

fn keys(c: &mut RawClient) -> Vec<Vec<u8>> {
    let mut keys = bulks(call(c, &args(&[b"KEYS", b"*"])));
    keys.retain(|k| k != SENTINEL);
    keys.sort();
    keys
}

fn dbsize(c: &mut RawClient) -> i64 {
    match call(c, &args(&[b"DBSIZE"])) {
        Value::Int(i) => i,
        other => panic!("DBSIZE: {other:?}"),
    }
}

/// The stream's last commands naming `key`, in any database (SWAPDB and
/// MOVE move keys between them), for a report.
fn history(log: &Arc<Mutex<StreamLog>>, key: &[u8]) -> String {
    let log = log.lock().unwrap();
    let hits: Vec<String> = log
        .commands
        .iter()
        .filter(|(_, argv)| argv.get(1).is_some_and(|a| a == key) || !key.is_empty() && argv.iter().skip(2).any(|a| a == key))
        .map(|(d, argv)| format!("      db{d}: {}", harness::describe(argv)))
        .collect();
    hits[hits.len().saturating_sub(20)..].join("\n")
}

/// Scans every database of Shoal (deleting keys whose time has passed), then
/// waits until the replica has applied everything sent so far.
fn catch_up(shoal: &ServerProcess, replica: &ServerProcess, log: &Arc<Mutex<StreamLog>>, round: u64) {
    let mut s = shoal.client();
    for db in 0..DBS {
        select(&mut s, db);
        let mut cursor = b"0".to_vec();
        loop {
            let Value::Array(items) = call(&mut s, &[b"SCAN".to_vec(), cursor.clone(), b"COUNT".to_vec(), b"1000".to_vec()]) else { panic!("SCAN failed") };
            let Value::Bulk(next) = &items[0] else { panic!("SCAN cursor") };
            if next.as_slice() == b"0" {
                break;
            }
            cursor = next.clone();
        }
    }
    select(&mut s, 0);
    let mark = round.to_string().into_bytes();
    call(&mut s, &args(&[b"SET", SENTINEL, &mark]));
    let mut r = replica.client();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(failed) = &log.lock().unwrap().failed {
            panic!("replica stream failed: {failed}");
        }
        if call(&mut r, &args(&[b"GET", SENTINEL])) == Value::Bulk(mark.clone()) {
            return;
        }
        assert!(Instant::now() < deadline, "the replica did not catch up within 30 s");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Compares the two datasets; returns the divergences found and the keys compared.
fn compare(shoal: &ServerProcess, replica: &ServerProcess, log: &Arc<Mutex<StreamLog>>) -> (Vec<String>, usize) {
    let (mut s, mut r) = (shoal.client(), replica.client());
    let mut out = Vec::new();
    let mut compared = 0;
    for db in 0..DBS {
        select(&mut s, db);
        select(&mut r, db);
        let (ks, kr) = (keys(&mut s), keys(&mut r));
        let (ns, nr) = (dbsize(&mut s), dbsize(&mut r));
        let sentinel = usize::from(db == 0) as i64;
        if ks != kr {
            let only_s: Vec<Vec<u8>> = ks.iter().filter(|k| !kr.contains(k)).cloned().collect();
            let only_r: Vec<Vec<u8>> = kr.iter().filter(|k| !ks.contains(k)).cloned().collect();
            let mut text = format!("db {db}: keys only on shoal [{}], only on the replica [{}]", harness::describe(&only_s), harness::describe(&only_r));
            for k in only_s.iter().chain(&only_r).take(3) {
                text += &format!("\n    stream for {}:\n{}", harness::escape(k), history(log, k));
            }
            out.push(text);
        } else if ns != nr {
            out.push(format!(
                "db {db}: DBSIZE shoal {} replica {} (the replica holds keys that expired on Shoal and were never deleted by the stream)",
                ns - sentinel,
                nr - sentinel
            ));
        }
        for key in ks.iter().filter(|k| kr.contains(k)) {
            compared += 1;
            let ts = text(&call(&mut s, &args(&[b"TYPE", key])));
            let tr = text(&call(&mut r, &args(&[b"TYPE", key])));
            let mut diff = Vec::new();
            if ts != tr {
                diff.push(format!("TYPE shoal {ts} replica {tr}"));
            } else {
                let (ps, pr) = (pttl(&mut s, key), pttl(&mut r, key));
                if (ps < 0) != (pr < 0) || (ps - pr).abs() > TTL_TOLERANCE_MS {
                    diff.push(format!("PTTL shoal {ps} replica {pr}"));
                }
                let (vs, vr) = (dump(&mut s, key, &ts), dump(&mut r, key, &tr));
                if vs != vr {
                    diff.push(format!("value\n    shoal:   {vs}\n    replica: {vr}"));
                }
            }
            if !diff.is_empty() {
                out.push(format!(
                    "db {db} key {}: {}\n    stream for the key:\n{}",
                    harness::escape(key),
                    diff.join("; "),
                    history(log, key)
                ));
            }
        }
    }
    (out, compared)
}

/// Errors the replica logged while applying the stream.
fn replica_errors(logfile: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(logfile)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("sending an error to its master"))
        .map(str::to_string)
        .collect()
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

#[test]
fn replica_applying_the_stream_equals_shoal() {
    let started = Instant::now();
    let seed = env_u64("REPLICA_SEED").unwrap_or(1);
    let rounds = env_u64("REPLICA_SEEDS").unwrap_or(2).max(1);
    eprintln!("replica_equality: base seed {seed} (REPLICA_SEED=<n> to change), {rounds} round(s)");

    let shoal = ServerProcess::shoal(&[]);
    let (stream, rdb, pending) = sync_from(&shoal);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let master_port = listener.local_addr().unwrap().port().to_string();
    let logdir = tempfile::tempdir().unwrap();
    let logfile = logdir.path().join("replica.log");
    let log = Arc::new(Mutex::new(StreamLog::default()));
    {
        let log = log.clone();
        std::thread::spawn(move || serve_replica(listener, stream, rdb, pending, log));
    }
    let replica = ServerProcess::redis(&[
        "--replicaof",
        "127.0.0.1",
        &master_port,
        "--logfile",
        logfile.to_str().unwrap(),
    ]);
    // The replica has loaded the snapshot once it reports the link up.
    let mut r = replica.client();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let Value::Bulk(info) = r.cmd("INFO replication") else { panic!("INFO") };
        if String::from_utf8_lossy(&info).contains("master_link_status:up") {
            break;
        }
        if let Some(failed) = &log.lock().unwrap().failed {
            panic!("replica link: {failed}");
        }
        assert!(Instant::now() < deadline, "the replica did not connect");
        std::thread::sleep(Duration::from_millis(20));
    }

    // The workloads: each one's encoding limits go to both servers.
    let mut workloads: Vec<(String, Vec<Step>, Vec<Argv>, usize, usize)> = Vec::new();
    let mut add = |name: String, plan: Plan| {
        let (steps, setup, conns, waiters) = plan_steps(plan);
        workloads.push((name, steps, setup, conns, waiters));
    };
    for k in 0..rounds {
        let base = seed.wrapping_add(k * 1000);
        for i in 0..2 {
            add(format!("strings seed {}", base + i), strings::plan(base + i, 2_200));
        }
        for i in 0..5 {
            add(format!("types seed {}", base + i), types::plan(base + i, 2_600, types::GENERAL));
        }
        for i in 0..2 {
            add(format!("blocking seed {}", base + i), types::plan(base + i, 2_600, types::BLOCKING));
        }
    }
    workloads.push(("targeted".into(), targeted(), Vec::new(), 2, 3));

    let mut failures = Vec::new();
    let mut sent = 0;
    let mut compared = 0;
    for (round, (name, steps, setup, conns, waiters)) in workloads.into_iter().enumerate() {
        let mut s = shoal.client();
        for argv in &setup {
            call(&mut s, argv);
            call(&mut r, argv);
        }
        sent += drive(&shoal, steps, conns, waiters);
        catch_up(&shoal, &replica, &log, round as u64);
        let (diverged, keys) = compare(&shoal, &replica, &log);
        compared += keys;
        let errors = replica_errors(&logfile);
        if !diverged.is_empty() || !errors.is_empty() {
            let mut report = format!("{name}: {} divergence(s)", diverged.len());
            for d in diverged.iter().take(MAX_REPORTED) {
                report += &format!("\n  {d}");
            }
            for e in errors.iter().take(MAX_REPORTED) {
                report += &format!("\n  replica error: {e}");
            }
            failures.push(report);
            break;
        }
        eprintln!("replica_equality: {name}: equal ({keys} keys)");
    }
    if !failures.is_empty() {
        // The whole stream, for debugging.
        let path = std::env::temp_dir().join(format!("replica_equality_stream_{}.txt", std::process::id()));
        let text: String = log.lock().unwrap().commands.iter().map(|(db, argv)| format!("db{db}: {}\n", harness::describe(argv))).collect();
        if std::fs::write(&path, text).is_ok() {
            eprintln!("replica_equality: the stream is in {}", path.display());
        }
    }
    let streamed = log.lock().unwrap().commands.len();
    eprintln!(
        "replica_equality: {sent} commands sent, {streamed} propagated commands applied, {compared} keys compared, {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert!(failures.is_empty(), "the replica diverged from Shoal (seed {seed}):\n{}", failures.join("\n"));
}

