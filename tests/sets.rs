//! Set commands over TCP: replies compared byte for byte with redis-server
//! (sorted where Redis's order is unspecified), encodings, propagation of
//! SPOP, bounded SRANDMEMBER, SSCAN over large sets, memory per key.

mod support;

use shoal_resp::Value;
use support::{bulk, compare_script_with_redis, unordered, RawClient, ServerProcess};

const BASICS: &str = "
sadd s 3 1 2
sadd s 2 5
smembers s
object encoding s
scard s
sismember s 5
sismember s x
smismember s 1 x 5
smismember nokey a b
smismember s
sadd s a
object encoding s
srem s a
object encoding s
~ smembers s
srem s 1 2 3 5
exists s
sadd big 213244124402402314402033402
object encoding big
sismember big 213244124402402314402033402
sadd neg -5 0 -0 007
object encoding neg
~ smembers neg
set str x
sadd str a
srem str a
scard str
sismember str a
smismember str a
smembers str
sadd nokey
srem nokey a
scard nokey
smembers nokey
";

const ALGEBRA: &str = "
sadd a 1 2 3 4 5
sadd b 4 5 6
sadd c x y 5
sinter a b
sinter a b c
sinter a nokey
sinterstore d a b
object encoding d
smembers d
sinterstore d a c
object encoding d
smembers d
sinterstore d a nokey
exists d
sunion a b
~ sunion a c
sunionstore d a b
object encoding d
sunionstore d a c
object encoding d
~ smembers d
sunionstore d nokey nokey2
exists d
sdiff a b
~ sdiff c a
sdiff a a b
sdiff nokey a
sdiff a nokey
sdiffstore d a b c
smembers d
object encoding d
sdiffstore d a a
exists d
sintercard 2 a b
sintercard 3 a b c
sintercard 2 a b limit 1
sintercard 2 a b limit 0
sintercard 1 nokey
sintercard 0 a
sintercard -1 a
sintercard x a
sintercard 3 a b
sintercard 1 a b
sintercard 1 a limit
sintercard 1 a limit -1
sintercard 1 a limit x
set str x
sinter a str
sinter nokey str
sinterstore d nokey str
sunion nokey str
sdiff nokey str
sdiffstore d a str
sintercard 2 a str
";

const MOVES_AND_RANDOM: &str = "
sadd src 1 a b
sadd dst 2 3
smove src dst a
object encoding dst
~ smembers dst
smove src dst zz
smove nokey dst a
set str x
smove nokey str a
smove src str b
smove str src b
smove src src b
smove src src zz
smove src new 1
object encoding new
smove src new b
exists src
spop nokey
spop nokey 3
spop dst 0
spop dst -1
spop dst x
spop dst 1 2
srandmember nokey
srandmember nokey 3
srandmember dst 0
srandmember dst -9223372036854775808
srandmember dst x
srandmember dst 1 2
sadd one only
srandmember one
srandmember one 5
srandmember one -3
spop one 5
exists one
sadd ints 1 2 3
srandmember ints 10
spop ints 3
exists ints
";

const SCANS: &str = "
sadd s 1 2 3
sscan s 0
sscan s 0 match 2
sscan s 0 count 1
sscan s 0 count 0
sscan s 0 type string
sscan s x
sscan s 0 match
sscan nokey 0
sscan nokey 0 count 0
set str x
sscan str 0
";

#[test]
fn replies_match_redis_resp2() {
    for script in [BASICS, ALGEBRA, MOVES_AND_RANDOM, SCANS] {
        compare_script_with_redis(script, false);
    }
}

#[test]
fn replies_match_redis_resp3() {
    for script in [BASICS, ALGEBRA, MOVES_AND_RANDOM, SCANS] {
        compare_script_with_redis(script, true);
    }
}

#[test]
fn intset_limit_and_store_encodings_follow_configuration() {
    compare_script_with_redis(
        "
config set set-max-intset-entries 4
sadd s 1 2 3 4
object encoding s
sadd s 5
object encoding s
sadd t 1 2
sunionstore d s t
object encoding d
sinterstore d s t
object encoding d
config set set-max-intset-entries 0
sadd z 1
object encoding z
smove t nt 1
object encoding nt
",
        false,
    );
}

/// Reads "$<len>\r\n<rdb>" after SYNC, leaving the stream positioned at
/// the first propagated command.
fn start_replica_stream(server: &ServerProcess) -> RawClient {
    use std::io::Read;
    let mut replica = server.client();
    replica.send_raw(b"SYNC\r\n");
    let mut header = Vec::new();
    let mut byte = [0u8; 1];
    while !header.ends_with(b"\r\n") {
        replica.stream.read_exact(&mut byte).unwrap();
        if header.is_empty() && byte[0] == b'\n' {
            continue;
        }
        header.push(byte[0]);
    }
    let len: usize = std::str::from_utf8(&header[1..header.len() - 2]).unwrap().parse().unwrap();
    let mut rdb = vec![0u8; len];
    replica.stream.read_exact(&mut rdb).unwrap();
    replica
}

fn words(v: &Value) -> Vec<String> {
    match v {
        Value::Array(items) => items
            .iter()
            .map(|i| match i {
                Value::Bulk(b) => String::from_utf8_lossy(b).into_owned(),
                other => panic!("unexpected {other:?}"),
            })
            .collect(),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn spop_propagates_as_srem_or_del() {
    let server = ServerProcess::shoal(&[]);
    let mut c = server.client();
    c.cmd("SADD s a b c d e f g h i j");
    let mut replica = start_replica_stream(&server);

    // One member: a single SREM naming it.
    let Value::Bulk(popped) = c.cmd("SPOP s") else { panic!() };
    assert_eq!(words(&replica.read()), vec!["SELECT", "0"]);
    assert_eq!(words(&replica.read()), vec!["SREM".to_string(), "s".into(), String::from_utf8(popped).unwrap()]);

    // Several (few compared to the size): one SREM each, in a transaction.
    let Value::Array(popped) = c.cmd("SPOP s 2") else { panic!() };
    assert_eq!(words(&replica.read()), vec!["MULTI"]);
    for p in &popped {
        let Value::Bulk(p) = p else { panic!() };
        assert_eq!(words(&replica.read()), vec!["SREM".to_string(), "s".into(), String::from_utf8(p.clone()).unwrap()]);
    }
    assert_eq!(words(&replica.read()), vec!["EXEC"]);

    // Most of the set (the rebuilding path): still one SREM per member.
    let Value::Array(popped) = c.cmd("SPOP s 6") else { panic!() };
    assert_eq!(popped.len(), 6);
    assert_eq!(words(&replica.read()), vec!["MULTI"]);
    for _ in 0..6 {
        assert_eq!(words(&replica.read())[0], "SREM");
    }
    assert_eq!(words(&replica.read()), vec!["EXEC"]);
    assert_eq!(c.cmd("SCARD s"), Value::Int(1));

    // Everything: DEL.
    c.cmd("SADD s x");
    let Value::Array(popped) = c.cmd("SPOP s 10") else { panic!() };
    assert_eq!(popped.len(), 2);
    assert_eq!(words(&replica.read()), vec!["SADD", "s", "x"]);
    assert_eq!(words(&replica.read()), vec!["DEL", "s"]);
    assert_eq!(c.cmd("EXISTS s"), Value::Int(0));

    // Nothing popped, nothing propagated: the next command comes next.
    c.cmd("SPOP s 3");
    c.cmd("SPOP s 0");
    c.cmd("SET marker 1");
    assert_eq!(words(&replica.read()), vec!["SET", "marker", "1"]);
}

#[test]
fn srandmember_with_a_huge_negative_count_is_refused_without_allocating() {
    let server = ServerProcess::shoal(&[]);
    let mut c = server.client();
    c.cmd("SADD s a b c");
    let reply = c.cmd("SRANDMEMBER s -9223372036854775807");
    assert!(matches!(reply, Value::Error(ref e) if e.starts_with(b"ERR ")), "{reply:?}");
    // A count that fits the reply budget is served in full, with repeats.
    let Value::Array(items) = c.cmd("SRANDMEMBER s -5000") else { panic!() };
    assert_eq!(items.len(), 5000);
    assert!(items.iter().all(|i| [bulk("a"), bulk("b"), bulk("c")].contains(i)));
    // The budget follows proto-max-bulk-len.
    c.cmd("CONFIG SET proto-max-bulk-len 1mb");
    assert!(matches!(c.cmd("SRANDMEMBER s -200000"), Value::Error(_)));
    let Value::Array(items) = c.cmd("SRANDMEMBER s -100000") else { panic!() };
    assert_eq!(items.len(), 100000);
    assert_eq!(c.cmd("PING"), Value::Simple(b"PONG".to_vec()));
}

#[test]
fn positive_counts_return_distinct_members() {
    let server = ServerProcess::shoal(&[]);
    let mut c = server.client();
    let members: Vec<String> = (0..300).map(|i| format!("m{i}")).collect();
    let mut args: Vec<&[u8]> = vec![b"SADD", b"s"];
    args.extend(members.iter().map(|m| m.as_bytes()));
    c.call(&args);
    for count in [1usize, 5, 150, 299, 300, 1000] {
        let Value::Array(items) = c.cmd(&format!("SRANDMEMBER s {count}")) else { panic!() };
        let distinct: std::collections::HashSet<_> = items.iter().map(|v| format!("{v:?}")).collect();
        assert_eq!(items.len(), count.min(300));
        assert_eq!(distinct.len(), items.len(), "count {count}");
    }
}

#[test]
fn sscan_walks_a_large_set_and_sees_every_member() {
    let server = ServerProcess::shoal(&[]);
    let mut c = server.client();
    for chunk in 0..10 {
        let members: Vec<String> = (0..500).map(|i| format!("member:{}", chunk * 500 + i)).collect();
        let mut args: Vec<&[u8]> = vec![b"SADD", b"s"];
        args.extend(members.iter().map(|m| m.as_bytes()));
        c.call(&args);
    }
    assert_eq!(c.cmd("OBJECT ENCODING s"), bulk("hashtable"));
    let mut seen = std::collections::HashSet::new();
    let mut matched = 0;
    let mut cursor = "0".to_string();
    let mut calls = 0;
    loop {
        let Value::Array(reply) = c.cmd(&format!("SSCAN s {cursor} COUNT 50")) else { panic!() };
        let Value::Bulk(next) = &reply[0] else { panic!() };
        let Value::Array(items) = &reply[1] else { panic!() };
        for i in items {
            let Value::Bulk(m) = i else { panic!() };
            seen.insert(m.clone());
        }
        calls += 1;
        cursor = String::from_utf8(next.clone()).unwrap();
        if cursor == "0" {
            break;
        }
    }
    assert_eq!(seen.len(), 5000);
    assert!(calls > 10, "the walk is incremental");
    let mut cursor = "0".to_string();
    loop {
        let Value::Array(reply) = c.cmd(&format!("SSCAN s {cursor} MATCH member:1?? COUNT 1000")) else { panic!() };
        let Value::Array(items) = &reply[1] else { panic!() };
        matched += items.len();
        let Value::Bulk(next) = &reply[0] else { panic!() };
        cursor = String::from_utf8(next.clone()).unwrap();
        if cursor == "0" {
            break;
        }
    }
    assert_eq!(matched, 100);
}

#[test]
fn writes_invalidate_watchers_and_empty_sets_disappear() {
    let server = ServerProcess::shoal(&[]);
    let mut c = server.client();
    let mut other = server.client();
    c.cmd("SADD s a");
    c.cmd("WATCH s");
    other.cmd("SADD s b");
    c.cmd("MULTI");
    c.cmd("SCARD s");
    assert_eq!(c.cmd("EXEC"), Value::NullArray);

    // A no-op does not touch the key.
    c.cmd("WATCH s");
    other.cmd("SADD s a");
    other.cmd("SREM s zz");
    c.cmd("MULTI");
    c.cmd("SCARD s");
    assert_eq!(c.cmd("EXEC"), Value::Array(vec![Value::Int(2)]));

    assert_eq!(c.cmd("SREM s a b"), Value::Int(2));
    assert_eq!(c.cmd("EXISTS s"), Value::Int(0));
    c.cmd("SADD t x");
    c.cmd("SMOVE t u x");
    assert_eq!(c.cmd("EXISTS t"), Value::Int(0));
    assert_eq!(c.cmd("SMEMBERS u"), Value::Array(vec![bulk("x")]));
    c.cmd("SET dst old");
    c.cmd("EXPIRE dst 100");
    c.cmd("SUNIONSTORE dst u");
    assert_eq!(c.cmd("TTL dst"), Value::Int(-1), "a STORE replaces the key and its TTL");
}

#[test]
fn copy_keeps_encoding_and_contents() {
    let server = ServerProcess::shoal(&[]);
    let mut c = server.client();
    c.cmd("SADD ints 1 2 3");
    c.cmd("SADD strs a b 1");
    for (from, to, encoding) in [("ints", "ints2", "intset"), ("strs", "strs2", "hashtable")] {
        assert_eq!(c.cmd(&format!("COPY {from} {to}")), Value::Int(1));
        assert_eq!(c.cmd(&format!("OBJECT ENCODING {to}")), bulk(encoding));
        assert_eq!(unordered(c.cmd(&format!("SMEMBERS {to}"))), unordered(c.cmd(&format!("SMEMBERS {from}"))));
        assert_eq!(
            c.cmd(&format!("DEBUG DIGEST-VALUE {to}")),
            c.cmd(&format!("DEBUG DIGEST-VALUE {from}"))
        );
    }
}

fn used_memory(c: &mut RawClient) -> i64 {
    let Value::Bulk(info) = c.cmd("INFO memory") else { panic!() };
    let info = String::from_utf8(info).unwrap();
    let line = info.lines().find(|l| l.starts_with("used_memory:")).unwrap();
    line["used_memory:".len()..].trim().parse().unwrap()
}

#[test]
fn small_string_sets_cost_little_memory() {
    let server = ServerProcess::shoal(&[]);
    let mut c = server.client();
    let before = used_memory(&mut c);
    let keys = 20_000;
    for n in 0..keys {
        c.send(&[b"SADD", format!("key:{n}").as_bytes(), b"m1", b"m2", b"m3", b"m4", b"m5"]);
    }
    for _ in 0..keys {
        c.read_raw();
    }
    assert_eq!(c.cmd("OBJECT ENCODING key:7"), bulk("hashtable"));
    let per_key = (used_memory(&mut c) - before) / keys;
    // Key block (~50 bytes) and table slots, plus a 15-byte member block:
    // Redis 7.0 spends over 400 bytes per key on this.
    assert!(per_key < 120, "{per_key} bytes per key");
    let usage = c.cmd("MEMORY USAGE key:7");
    assert!(matches!(usage, Value::Int(n) if n > 15 && n < 120), "{usage:?}");
}
