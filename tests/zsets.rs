//! Sorted sets over TCP: replies compared byte for byte with redis-server
//! in both encodings and both protocols, rank queries on large sets
//! against a model, encoding changes, blocking pops, propagation, and
//! bounded random replies.

mod support;

use std::collections::HashMap;
use std::io::Read;
use std::time::Duration;

use shoal_resp::Value;
use support::{bulk, error, wait_blocked, RawClient, ServerProcess};

/// Commands whose replies must equal Redis's (no randomness in them).
const SCRIPT: &[&str] = &[
    "ZADD z 1 a 2 b 3 c 1.5 d -inf ninf +inf pinf",
    "ZADD z NX XX 1 a",
    "ZADD z GT LT 1 a",
    "ZADD z NX GT 1 a",
    "ZADD z INCR 1 a 2 b",
    "ZADD z 1",
    "ZADD z 1 a 2",
    "ZADD z nan a",
    "ZADD z abc a",
    "ZADD z CH XX 9 a 9 nope",
    "ZADD z GT CH 0 a 10 b 11 new",
    "ZADD z LT 100 new",
    "ZADD z INCR GT -1 a",
    "ZADD z INCR 1 fresh",
    "ZADD z XX INCR 1 missing",
    "ZINCRBY z 2.5 a",
    "ZINCRBY z -inf pinf",
    "ZINCRBY z abc a",
    "ZCARD z",
    "ZCARD nokey",
    "ZSCORE z a",
    "ZSCORE z nope",
    "ZSCORE nokey a",
    "ZMSCORE z a nope b",
    "ZMSCORE nokey a",
    "ZRANK z c",
    "ZREVRANK z c",
    "ZRANK z nope",
    "ZRANGE z 0 -1",
    "ZRANGE z 0 -1 WITHSCORES",
    "ZRANGE z -3 -2 WITHSCORES",
    "ZRANGE z 5 2",
    "ZRANGE z 0 -1 REV WITHSCORES",
    "ZRANGE z (1 3 BYSCORE WITHSCORES",
    "ZRANGE z 3 (1 BYSCORE REV WITHSCORES LIMIT 1 2",
    "ZRANGE z -inf +inf BYSCORE LIMIT 2 -1",
    "ZRANGE z -inf +inf BYSCORE LIMIT -1 2",
    "ZRANGE z 0 -1 LIMIT 0 1",
    "ZRANGE z 0 -1 LIMIT 0 -1",
    "ZRANGE z - + BYLEX WITHSCORES",
    "ZRANGE z 0 -1 BYSCORE BYLEX",
    "ZRANGE z 0 -1 REV REV",
    "ZRANGE z x 1 BYSCORE",
    "ZRANGE z a b BYLEX",
    "ZRANGE z 0 x",
    "ZRANGE nokey 0 -1",
    "ZREVRANGE z 0 2 WITHSCORES",
    "ZREVRANGE z 0 2 REV",
    "ZRANGEBYSCORE z -inf +inf WITHSCORES LIMIT 1 3",
    "ZRANGEBYSCORE z 1 3 BYSCORE",
    "ZREVRANGEBYSCORE z +inf (1 WITHSCORES",
    "ZCOUNT z (1 3",
    "ZCOUNT z 3 1",
    "ZCOUNT z x 1",
    "ZCOUNT nokey 0 1",
    "ZADD lex 0 a 0 b 0 c 0 d 0 e 0 f",
    "ZRANGEBYLEX lex [b (e",
    "ZRANGEBYLEX lex - + LIMIT 1 2",
    "ZREVRANGEBYLEX lex + - LIMIT 1 2",
    "ZREVRANGEBYLEX lex (e [b",
    "ZRANGEBYLEX lex b c",
    "ZRANGEBYLEX lex +a -",
    "ZRANGEBYLEX lex [a [b WITHSCORES",
    "ZLEXCOUNT lex [b +",
    "ZLEXCOUNT lex + -",
    "ZREMRANGEBYLEX lex [e +",
    "ZRANGE lex 0 -1",
    "ZREMRANGEBYSCORE z (2 3",
    "ZREMRANGEBYSCORE z x 3",
    "ZREMRANGEBYRANK z 0 0",
    "ZREMRANGEBYRANK z 5 1",
    "ZRANGE z 0 -1 WITHSCORES",
    "ZREM z nope a",
    "ZREM nokey a",
    "ZRANGESTORE dst z 0 -1",
    "ZRANGE dst 0 -1 WITHSCORES",
    "ZRANGESTORE dst z 0 -1 WITHSCORES",
    "ZRANGESTORE dst nokey 0 -1",
    "EXISTS dst",
    "ZRANGESTORE dst lex [b [c BYLEX",
    "ZRANGE dst 0 -1",
    "ZPOPMIN z",
    "ZPOPMAX z 2",
    "ZPOPMIN z 0",
    "ZPOPMIN z -1",
    "ZPOPMIN z 1 2",
    "ZPOPMIN nokey",
    "ZPOPMIN nokey 0",
    "ZADD m1 1 a 2 b 3 c",
    "ZMPOP 2 nokey m1 MAX COUNT 2",
    "ZMPOP 2 nokey m1 MIN COUNT 10",
    "ZMPOP 1 m1 MIN",
    "ZMPOP 0 m1 MIN",
    "ZMPOP 2 m1 MIN",
    "ZMPOP 1 m1 MIN COUNT 0",
    "ZMPOP 1 m1 LEFT",
    "ZMPOP 1 m1 MIN COUNT 1 COUNT 2",
    "EXISTS m1",
    "ZADD u1 1 a 2 b 3 c",
    "ZADD u2 1 b 2 c 3 d",
    "ZUNION 2 u1 u2 WITHSCORES",
    "ZUNION 2 u1 u2 WEIGHTS 2 3 AGGREGATE MAX WITHSCORES",
    "ZINTER 2 u1 u2 AGGREGATE MIN WITHSCORES",
    "ZINTER 2 u1 nokey",
    "ZDIFF 2 u1 u2 WITHSCORES",
    "ZDIFF 2 u1 u2 WEIGHTS 1 1",
    "ZINTERCARD 2 u1 u2",
    "ZINTERCARD 2 u1 u2 LIMIT 1",
    "ZINTERCARD 2 u1 u2 LIMIT -1",
    "ZINTERCARD 2 u1 u2 WITHSCORES",
    "ZUNIONSTORE out 2 u1 u2 WEIGHTS 1 nan",
    "ZUNIONSTORE out 2 u1 u2 WITHSCORES",
    "ZUNIONSTORE out 0 u1",
    "ZUNION 3 u1 u2",
    "ZUNION x u1",
    "ZUNIONSTORE out 2 u1 u2",
    "ZRANGE out 0 -1 WITHSCORES",
    "ZINTERSTORE out 2 u1 nokey",
    "EXISTS out",
    "ZDIFFSTORE out 1 u1",
    "ZRANGE out 0 -1 WITHSCORES",
    "ZADD inf +inf a -inf b",
    "ZUNIONSTORE out 2 inf inf WEIGHTS 1 -1",
    "ZRANGE out 0 -1 WITHSCORES",
    "ZRANDMEMBER nokey",
    "ZRANDMEMBER nokey 5",
    "ZRANDMEMBER u1 0",
    "ZRANDMEMBER u1 10 WITHSCORES",
    "ZRANDMEMBER u1 -9223372036854775808",
    "ZRANDMEMBER u1 -9223372036854775807 WITHSCORES",
    "ZRANDMEMBER u1 1 WITHSCORES x",
    "ZRANDMEMBER u1 x",
    "ZSCAN u1 0",
    "ZSCAN u1 0 MATCH b*",
    "ZSCAN u1 0 COUNT 0",
    "ZSCAN u1 0 TYPE zset",
    "ZSCAN u1 x",
    "ZSCAN nokey 0",
    "ZADD sc 1.5 x 1e20 y -0 w 1000000000000000000 v",
    "ZSCAN sc 0",
    "ZRANGE sc 0 -1 WITHSCORES",
    "SET str x",
    "ZADD str 1 a",
    "ZRANGE str 0 1",
    "ZUNION 2 u1 str",
    "ZMPOP 2 nokey str MIN",
    "ZRANGESTORE dst str 0 1",
    "ZSCORE str a",
    "BZPOPMIN str 0",
    "BZPOPMIN nokey -1",
    "BZPOPMIN nokey abc",
    "BZMPOP 0 0 u1 MIN",
    "BZPOPMAX u1 u2 0",
    "BZMPOP 0 2 nokey u2 MAX COUNT 5",
];

/// Runs the script on both servers and compares every reply's bytes.
fn compare_with_redis(setup: &[&str], resp3: bool) {
    let shoal = ServerProcess::shoal(&[]);
    let redis = ServerProcess::redis(&[]);
    let mut a = shoal.client();
    let mut b = redis.client();
    let mut lines: Vec<&str> = Vec::new();
    if resp3 {
        lines.push("HELLO 3");
    }
    lines.extend_from_slice(setup);
    lines.extend_from_slice(SCRIPT);
    for line in lines {
        let words: Vec<&[u8]> = line.split_whitespace().map(|w| w.as_bytes()).collect();
        a.send(&words);
        b.send(&words);
        let (x, y) = (a.read_raw(), b.read_raw());
        if line.starts_with("HELLO") {
            continue;
        }
        if line.starts_with("ZSCAN") && x.starts_with(b"*2") {
            // Hash-table order differs between servers: compare the pairs.
            assert_eq!(scan_pairs(&x), scan_pairs(&y), "reply to {line:?}");
            continue;
        }
        assert_eq!(String::from_utf8_lossy(&x), String::from_utf8_lossy(&y), "reply to {line:?}");
    }
}

#[test]
fn replies_equal_redis_in_the_compact_encoding() {
    compare_with_redis(&[], false);
}

#[test]
fn replies_equal_redis_in_the_large_encoding() {
    compare_with_redis(&["CONFIG SET zset-max-listpack-entries 0"], false);
}

#[test]
fn replies_equal_redis_in_resp3() {
    compare_with_redis(&[], true);
    compare_with_redis(&["CONFIG SET zset-max-ziplist-entries 0"], true);
}

/// A ZSCAN reply as (cursor, sorted member/score pairs).
fn scan_pairs(raw: &[u8]) -> (Value, Vec<(Value, Value)>) {
    let (value, _) = shoal_resp::parse_value(raw).unwrap().unwrap();
    let Value::Array(mut parts) = value else { panic!("ZSCAN reply") };
    let Value::Array(items) = parts.pop().unwrap() else { panic!("ZSCAN items") };
    let mut pairs: Vec<(Value, Value)> = items.chunks(2).map(|p| (p[0].clone(), p[1].clone())).collect();
    pairs.sort_by_key(|(m, _)| format!("{m:?}"));
    (parts.pop().unwrap(), pairs)
}

fn ints(v: &Value) -> i64 {
    match v {
        Value::Int(i) => *i,
        other => panic!("expected an integer, got {other:?}"),
    }
}

#[test]
fn ranks_and_ranges_of_a_large_set_follow_a_model() {
    let server = ServerProcess::shoal(&[]);
    let mut c = server.client();
    let mut model: HashMap<String, i64> = HashMap::new();
    let mut seed = 12345u64;
    let mut next = || {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        seed >> 33
    };
    for _ in 0..40 {
        let mut args: Vec<Vec<u8>> = vec![b"ZADD".to_vec(), b"big".to_vec()];
        for _ in 0..500 {
            let member = format!("m{}", next() % 5000);
            let score = (next() % 1000) as i64;
            model.insert(member.clone(), score);
            args.push(score.to_string().into_bytes());
            args.push(member.into_bytes());
        }
        // Later pairs of the same member win, as in the model.
        let refs: Vec<&[u8]> = args.iter().map(|a| a.as_slice()).collect();
        c.call(&refs);
    }
    for _ in 0..300 {
        let victim = format!("m{}", next() % 5000);
        let removed = model.remove(&victim).is_some() as i64;
        assert_eq!(c.call(&[b"ZREM", b"big", victim.as_bytes()]), Value::Int(removed));
    }
    assert_eq!(c.cmd("OBJECT ENCODING big"), bulk("skiplist"));
    let mut order: Vec<(i64, String)> = model.iter().map(|(m, s)| (*s, m.clone())).collect();
    order.sort();
    assert_eq!(ints(&c.cmd("ZCARD big")), order.len() as i64);
    for _ in 0..200 {
        let r = (next() as usize) % order.len();
        let (score, member) = &order[r];
        assert_eq!(c.call(&[b"ZRANK", b"big", member.as_bytes()]), Value::Int(r as i64));
        assert_eq!(
            c.call(&[b"ZREVRANK", b"big", member.as_bytes()]),
            Value::Int((order.len() - 1 - r) as i64)
        );
        let range = c.call(&[b"ZRANGE", b"big", r.to_string().as_bytes(), r.to_string().as_bytes(), b"WITHSCORES"]);
        assert_eq!(range, Value::Array(vec![bulk(member), bulk(&score.to_string())]));
    }
    let expected: Vec<Value> =
        order.iter().filter(|(s, _)| (100..=110).contains(s)).map(|(_, m)| bulk(m)).collect();
    assert_eq!(c.cmd("ZRANGEBYSCORE big 100 110"), Value::Array(expected.clone()));
    assert_eq!(ints(&c.cmd("ZCOUNT big 100 110")), expected.len() as i64);
    let removed = ints(&c.cmd("ZREMRANGEBYSCORE big 100 110"));
    assert_eq!(removed, expected.len() as i64);
    assert_eq!(ints(&c.cmd("ZCARD big")), (order.len() - expected.len()) as i64);
}

#[test]
fn encoding_follows_the_thresholds() {
    let server = ServerProcess::shoal(&["--zset-max-listpack-entries", "4", "--zset-max-listpack-value", "8"]);
    let mut c = server.client();
    c.cmd("ZADD z 1 a 2 b 3 c 4 d");
    assert_eq!(c.cmd("OBJECT ENCODING z"), bulk("listpack"));
    c.cmd("ZADD z 5 e");
    assert_eq!(c.cmd("OBJECT ENCODING z"), bulk("skiplist"));
    c.cmd("ZREM z a b c d");
    // Like Redis 7.0, a set does not go back to the compact encoding.
    assert_eq!(c.cmd("OBJECT ENCODING z"), bulk("skiplist"));
    c.cmd("ZADD long 1 123456789");
    assert_eq!(c.cmd("OBJECT ENCODING long"), bulk("skiplist"));
    // Results are encoded by their final size.
    c.cmd("ZRANGESTORE small z 0 -1");
    assert_eq!(c.cmd("OBJECT ENCODING small"), bulk("listpack"));
    c.cmd("CONFIG SET zset-max-ziplist-entries 0");
    c.cmd("ZRANGESTORE none z 0 -1");
    assert_eq!(c.cmd("OBJECT ENCODING none"), bulk("skiplist"));
    assert_eq!(c.cmd("CONFIG GET zset-max-listpack-entries"), Value::Array(vec![bulk("zset-max-listpack-entries"), bulk("0")]));
}

#[test]
fn blocking_pops_are_served_by_writes() {
    let server = ServerProcess::shoal(&[]);
    let mut waiter = server.client();
    let mut writer = server.client();
    waiter.cmd("CLIENT SETNAME waiter");
    waiter.send(&[b"BZPOPMIN", b"k1", b"k2", b"0"]);
    wait_blocked(&mut writer, 1);
    writer.cmd("ZADD k2 5 five 1 one");
    assert_eq!(waiter.read(), Value::Array(vec![bulk("k2"), bulk("one"), bulk("1")]));
    waiter.send(&[b"BZMPOP", b"0", b"1", b"k3", b"MAX", b"COUNT", b"5"]);
    wait_blocked(&mut writer, 1);
    // Emptied again in the same transaction: the waiter keeps waiting.
    writer.cmd("MULTI");
    writer.cmd("ZADD k3 1 a");
    writer.cmd("DEL k3");
    writer.cmd("EXEC");
    writer.cmd("ZADD k3 1 a 2 b");
    let pairs = Value::Array(vec![Value::Array(vec![bulk("b"), bulk("2")]), Value::Array(vec![bulk("a"), bulk("1")])]);
    assert_eq!(waiter.read(), Value::Array(vec![bulk("k3"), pairs]));
    assert_eq!(writer.cmd("EXISTS k3"), Value::Int(0));
    // Timeouts and MULTI answer with a null array.
    assert_eq!(waiter.cmd("BZPOPMAX nothing 0.05"), Value::NullArray);
    waiter.cmd("MULTI");
    waiter.cmd("BZPOPMIN nothing 0");
    assert_eq!(waiter.cmd("EXEC"), Value::Array(vec![Value::NullArray]));
}

/// Reads the replication stream after SYNC's snapshot.
fn start_replica(server: &ServerProcess) -> RawClient {
    let mut replica = server.client();
    replica.send_raw(b"SYNC\r\n");
    let mut header = Vec::new();
    let mut byte = [0u8; 1];
    while !header.ends_with(b"\r\n") {
        replica.stream.read_exact(&mut byte).unwrap();
        header.push(byte[0]);
    }
    let len: usize = std::str::from_utf8(&header[1..header.len() - 2]).unwrap().parse().unwrap();
    let mut rdb = vec![0u8; len];
    replica.stream.read_exact(&mut rdb).unwrap();
    replica
}

fn words(v: Value) -> Vec<String> {
    match v {
        Value::Array(items) => items
            .into_iter()
            .map(|i| match i {
                Value::Bulk(b) => String::from_utf8_lossy(&b).into_owned(),
                other => panic!("{other:?}"),
            })
            .collect(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn pops_propagate_as_redis_does() {
    let server = ServerProcess::shoal(&[]);
    let mut c = server.client();
    let mut replica = start_replica(&server);
    c.cmd("ZADD z 1 a 2 b 3 c");
    c.cmd("ZMPOP 2 nokey z MAX COUNT 10");
    c.cmd("ZADD z 1 a");
    c.cmd("BZPOPMIN z 0");
    c.cmd("ZPOPMIN nokey");
    c.cmd("ZADD z 1 a");
    c.cmd("ZADD z 1 a");
    c.cmd("ZINCRBY z 1 a");
    assert_eq!(words(replica.read()), ["SELECT", "0"]);
    assert_eq!(words(replica.read()), ["ZADD", "z", "1", "a", "2", "b", "3", "c"]);
    assert_eq!(words(replica.read()), ["ZPOPMAX", "z", "3"]);
    assert_eq!(words(replica.read()), ["ZADD", "z", "1", "a"]);
    assert_eq!(words(replica.read()), ["ZPOPMIN", "z"]);
    // The no-op pop and the unchanged ZADD are not propagated.
    assert_eq!(words(replica.read()), ["ZADD", "z", "1", "a"]);
    assert_eq!(words(replica.read()), ["ZINCRBY", "z", "1", "a"]);
}

#[test]
fn huge_random_replies_are_bounded() {
    let server = ServerProcess::shoal(&[]);
    let mut c = server.client();
    c.cmd("CONFIG SET client-output-buffer-limit normal 1mb 0 0");
    c.cmd("ZADD z 1 a 2 b 3 c");
    c.send(&[b"ZRANDMEMBER", b"z", b"-9223372036854775807"]);
    let mut probe = [0u8; 1];
    c.stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    // The connection is closed rather than the reply grown without end.
    let mut total = 0usize;
    loop {
        match c.stream.read(&mut probe) {
            Ok(0) | Err(_) => break,
            Ok(n) => total += n,
        }
        assert!(total < 8 << 20, "the reply keeps growing");
    }
    let mut other = server.client();
    assert_eq!(other.cmd("ZCARD z"), Value::Int(3));
    let Value::Array(items) = other.cmd("ZRANDMEMBER z -1000 WITHSCORES") else { panic!() };
    assert_eq!(items.len(), 2000);
    assert_eq!(other.cmd("ZRANDMEMBER z -9223372036854775807 WITHSCORES"), error("ERR value is out of range"));
}

#[test]
fn zscan_walks_a_large_set_completely() {
    let server = ServerProcess::shoal(&["--zset-max-listpack-entries", "0"]);
    let mut c = server.client();
    let mut args: Vec<Vec<u8>> = vec![b"ZADD".to_vec(), b"z".to_vec()];
    for i in 0..2000 {
        args.push(i.to_string().into_bytes());
        args.push(format!("m{i}").into_bytes());
    }
    let refs: Vec<&[u8]> = args.iter().map(|a| a.as_slice()).collect();
    c.call(&refs);
    let mut seen = HashMap::new();
    let mut cursor = b"0".to_vec();
    loop {
        let Value::Array(reply) = c.call(&[b"ZSCAN", b"z", &cursor, b"COUNT", b"50"]) else { panic!() };
        let Value::Bulk(next) = &reply[0] else { panic!() };
        let Value::Array(items) = &reply[1] else { panic!() };
        for pair in items.chunks(2) {
            let (Value::Bulk(m), Value::Bulk(s)) = (&pair[0], &pair[1]) else { panic!() };
            seen.insert(String::from_utf8_lossy(m).into_owned(), String::from_utf8_lossy(s).into_owned());
        }
        cursor = next.clone();
        if cursor == b"0" {
            break;
        }
    }
    assert_eq!(seen.len(), 2000);
    assert_eq!(seen["m1999"], "1999");
}
