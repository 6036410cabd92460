//! A dataset covering every type in its small and large encodings, and
//! a key-by-key snapshot of a server's contents to compare two servers.

use std::collections::BTreeMap;

use shoal_resp::Value;

use crate::support::RawClient;

fn run(c: &mut RawClient, args: &[&[u8]]) {
    let reply = c.call(args);
    assert!(!matches!(reply, Value::Error(_)), "{:?} failed: {reply:?}", String::from_utf8_lossy(&args.join(&b' ')));
}

fn cmd(c: &mut RawClient, line: &str) {
    let words: Vec<&[u8]> = line.split(' ').map(str::as_bytes).collect();
    run(c, &words);
}

/// Builds the dataset in databases 0, 1 and 3.
pub fn build(c: &mut RawClient) {
    cmd(c, "FLUSHALL");
    // Strings: int, embstr, raw, compressible, binary, HyperLogLogs.
    cmd(c, "SET int 12345");
    cmd(c, "SET bigint 9223372036854775807");
    cmd(c, "SET neg -70000");
    cmd(c, "SET small hello");
    run(c, &[b"SET", b"raw", &[b'r'; 300]]);
    run(c, &[b"SET", b"compressible", "abcdefgh".repeat(500).as_bytes()]);
    run(c, &[b"SET", b"binary", &(0..=255u8).collect::<Vec<u8>>()]);
    cmd(c, "SET empty_string x");
    cmd(c, "PFADD hll_sparse a b c d e");
    let many: Vec<String> = (0..3000).map(|i| format!("element:{i}")).collect();
    let mut pfadd: Vec<&[u8]> = vec![b"PFADD", b"hll_dense"];
    pfadd.extend(many.iter().map(|s| s.as_bytes()));
    run(c, &pfadd);
    // Lists.
    cmd(c, "RPUSH list_small a b 1 2 -3 4096 70000 9223372036854775807");
    let elements: Vec<String> = (0..2000).map(|i| format!("item-{i}-{}", "x".repeat(i % 50))).collect();
    let mut rpush: Vec<&[u8]> = vec![b"RPUSH", b"list_large"];
    rpush.extend(elements.iter().map(|s| s.as_bytes()));
    run(c, &rpush);
    run(c, &[b"RPUSH", b"list_big_element", b"a", &[b'z'; 20000], b"b"]);
    // Sets.
    cmd(c, "SADD set_ints 1 2 3 -5 100000 9223372036854775807");
    let ints: Vec<String> = (0..600).map(|i| (i * 7).to_string()).collect();
    let mut sadd: Vec<&[u8]> = vec![b"SADD", b"set_ints_large"];
    sadd.extend(ints.iter().map(|s| s.as_bytes()));
    run(c, &sadd);
    cmd(c, "SADD set_strings a b c 1");
    let mut sadd: Vec<&[u8]> = vec![b"SADD", b"set_large"];
    sadd.extend(elements.iter().take(1000).map(|s| s.as_bytes()));
    run(c, &sadd);
    // Hashes.
    cmd(c, "HSET hash_small f1 v1 f2 2 n -7");
    let mut hset: Vec<&[u8]> = vec![b"HSET", b"hash_large"];
    let fields: Vec<String> = (0..700).map(|i| format!("field{i}")).collect();
    for (f, v) in fields.iter().zip(&elements) {
        hset.push(f.as_bytes());
        hset.push(v.as_bytes());
    }
    run(c, &hset);
    run(c, &[b"HSET", b"hash_long_value", b"f", &[b'v'; 100]]);
    // Sorted sets.
    cmd(c, "ZADD zset_small 1 a 2.5 b -3 c inf d -inf e 0 f 1e300 g 0.1 h");
    let mut zadd: Vec<Vec<u8>> = vec![b"ZADD".to_vec(), b"zset_large".to_vec()];
    for (i, m) in elements.iter().take(300).enumerate() {
        zadd.push(format!("{}", i as f64 / 3.0).into_bytes());
        zadd.push(m.as_bytes().to_vec());
    }
    run(c, &zadd.iter().map(|v| v.as_slice()).collect::<Vec<_>>());
    run(c, &[b"ZADD", b"zset_long_member", b"1", &[b'm'; 100]]);
    // Streams: small; large over several nodes with tombstones and groups.
    cmd(c, "XADD stream_small 1-1 f v");
    cmd(c, "XADD stream_small 1-2 f w g 1");
    for i in 0..700 {
        let id = format!("{}-{}", 1000 + i / 3, i % 3);
        let v = format!("value{i}");
        if i % 5 == 0 {
            run(c, &[b"XADD", b"stream_large", id.as_bytes(), b"other", v.as_bytes()]);
        } else {
            run(c, &[b"XADD", b"stream_large", id.as_bytes(), b"name", v.as_bytes(), b"n", b"17"]);
        }
    }
    cmd(c, "XDEL stream_large 1000-1 1001-0 1200-2");
    cmd(c, "XGROUP CREATE stream_large g1 0");
    cmd(c, "XGROUP CREATE stream_large g2 $");
    cmd(c, "XREADGROUP GROUP g1 alice COUNT 5 STREAMS stream_large >");
    cmd(c, "XREADGROUP GROUP g1 bob COUNT 3 STREAMS stream_large >");
    cmd(c, "XACK stream_large g1 1000-0");
    cmd(c, "XGROUP CREATECONSUMER stream_large g1 carol");
    cmd(c, "XADD stream_empty 5-5 a b");
    cmd(c, "XDEL stream_empty 5-5");
    // Expiries.
    cmd(c, "SET volatile v PX 100000000");
    cmd(c, "HSET volatile_hash a b");
    cmd(c, "PEXPIRE volatile_hash 200000000");
    // Other databases.
    cmd(c, "SELECT 1");
    cmd(c, "SET db1_key one");
    cmd(c, "RPUSH db1_list x y");
    cmd(c, "SELECT 3");
    cmd(c, "ZADD db3_zset 1 one");
    cmd(c, "SET db3_volatile x EX 1000000");
    cmd(c, "SELECT 0");
}

pub const DATABASES: [usize; 3] = [0, 1, 3];

/// What a server holds under one key.
#[derive(Debug, PartialEq)]
pub struct KeyState {
    pub kind: Value,
    pub encoding: Value,
    pub expire_ms: Value,
    pub contents: Value,
}

fn sorted(v: Value) -> Value {
    match v {
        Value::Array(mut items) => {
            items.sort_by_key(|i| format!("{i:?}"));
            Value::Array(items)
        }
        other => other,
    }
}

/// Every key of `db` with its type, encoding, expiry and contents.
pub fn snapshot(c: &mut RawClient, db: usize) -> BTreeMap<Vec<u8>, KeyState> {
    c.cmd(&format!("SELECT {db}"));
    let Value::Array(keys) = c.cmd("KEYS *") else { panic!("KEYS") };
    let mut out = BTreeMap::new();
    for key in keys {
        let Value::Bulk(key) = key else { panic!() };
        let kind = c.call(&[b"TYPE", &key]);
        let contents = match &kind {
            Value::Simple(t) if t == b"string" => c.call(&[b"GET", &key]),
            Value::Simple(t) if t == b"list" => c.call(&[b"LRANGE", &key, b"0", b"-1"]),
            Value::Simple(t) if t == b"set" => sorted(c.call(&[b"SMEMBERS", &key])),
            Value::Simple(t) if t == b"hash" => {
                let Value::Array(flat) = c.call(&[b"HGETALL", &key]) else { panic!() };
                sorted(Value::Array(flat.chunks(2).map(|p| Value::Array(p.to_vec())).collect()))
            }
            Value::Simple(t) if t == b"zset" => c.call(&[b"ZRANGE", &key, b"0", b"-1", b"WITHSCORES"]),
            Value::Simple(t) if t == b"stream" => c.call(&[b"XINFO", b"STREAM", &key, b"FULL", b"COUNT", b"0"]),
            other => panic!("unexpected type {other:?}"),
        };
        let mut encoding = c.call(&[b"OBJECT", b"ENCODING", &key]);
        // Loading turns a short raw string (PFADD, APPEND...) into embstr,
        // in Redis as in Shoal: compare what a load keeps.
        if let (Value::Bulk(e), Value::Bulk(bytes)) = (&encoding, &contents) {
            if e == b"raw" && bytes.len() <= 44 {
                encoding = Value::Bulk(b"embstr".to_vec());
            }
        }
        let expire_ms = c.call(&[b"PEXPIRETIME", &key]);
        out.insert(key, KeyState { kind, encoding, expire_ms, contents });
    }
    c.cmd("SELECT 0");
    out
}

/// Asserts that two servers hold the same keys with the same states.
pub fn assert_same(a: &mut RawClient, b: &mut RawClient, what: &str) {
    assert_same_with(a, b, what, false);
}

/// `assert_same` for datasets loaded from an AOF written as commands,
/// where a stream consumer's seen-time is the time of the load (its
/// XCLAIM or XGROUP CREATECONSUMER ran then, in Redis as in Shoal).
#[allow(dead_code)]
pub fn assert_same_but_seen_times(a: &mut RawClient, b: &mut RawClient, what: &str) {
    assert_same_with(a, b, what, true);
}

/// Replaces the value after each `seen-time` field with 0.
fn clear_seen_times(v: &mut Value) {
    if let Value::Array(items) = v {
        for i in 0..items.len() {
            if i > 0 && items[i - 1] == Value::Bulk(b"seen-time".to_vec()) {
                items[i] = Value::Int(0);
            } else {
                clear_seen_times(&mut items[i]);
            }
        }
    }
}

fn assert_same_with(a: &mut RawClient, b: &mut RawClient, what: &str, ignore_seen_times: bool) {
    for db in DATABASES {
        let (mut left, mut right) = (snapshot(a, db), snapshot(b, db));
        if ignore_seen_times {
            left.values_mut().chain(right.values_mut()).for_each(|s| clear_seen_times(&mut s.contents));
        }
        assert!(!left.is_empty(), "{what}: database {db} is empty on the source");
        assert_eq!(left.keys().collect::<Vec<_>>(), right.keys().collect::<Vec<_>>(), "{what}: keys of database {db}");
        for (key, state) in &left {
            assert_eq!(Some(state), right.get(key), "{what}: key {} of database {db}", String::from_utf8_lossy(key));
        }
    }
}
