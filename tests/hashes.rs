//! Hash commands over TCP: replies compared byte for byte with
//! redis-server (sorted where Redis's order is unspecified), encoding
//! thresholds, HINCRBYFLOAT propagation, bounded HRANDFIELD, HSCAN over
//! large hashes, memory per key.

mod support;

use shoal_resp::Value;
use support::{bulk, compare_script_with_redis, unordered, RawClient, ServerProcess};

const BASICS: &str = "
hset h a 1 b 2
hset h a 3 c 4
hset h a
hset h
hmset h a
hmset h a 5 d 6
hgetall h
hkeys h
hvals h
hget h a
hget h zz
hget nokey a
hmget h a zz b
hmget nokey a b
hlen h
hlen nokey
hstrlen h a
hstrlen h zz
hstrlen nokey a
hexists h a
hexists h zz
hexists nokey a
hsetnx h a 9
hsetnx h z 9
hsetnx newh f v
hgetall newh
hdel h a zz
hdel nokey a
hdel h b c d z
exists h
hgetall nokey
hkeys nokey
hvals nokey
object encoding newh
set str x
hset str a b
hsetnx str a b
hget str a
hmget str a
hgetall str
hkeys str
hlen str
hstrlen str a
hexists str a
hdel str a
hincrby str a 1
hincrbyfloat str a 1
hrandfield str
hscan str 0
";

const COUNTERS: &str = "
hincrby h n 5
hincrby h n -7
hincrby h n x
hincrby h n 9223372036854775807
hset h n -9223372036854775484
hincrby h n -1
hincrby h n -10000
hset h s 11x
hincrby h s 1
hset h t 17179869184
hincrby h t 17179869184
hincrbyfloat h f 1.5
hincrbyfloat h f 0.1
hincrbyfloat h f -1.6
hincrbyfloat h g 1.23
hincrbyfloat h g 0.77
hincrbyfloat h g -0.1
hincrbyfloat h f 1e5000
hincrbyfloat h f nan
hincrbyfloat h f inf
hincrbyfloat h f -inf
hincrbyfloat h f x
hincrbyfloat h s 1
hset h big 1e4932
hincrbyfloat h big 1e4932
hincrbyfloat nokey f +inf
exists nokey
hincrbyfloat h t 1
hincrbyfloat h new 5.0e3
hget h new
hincrbyfloat h hex 0x10
hgetall h
";

const RANDOM_AND_SCAN: &str = "
hset one f v
hrandfield one
hrandfield one 1
hrandfield one 1 withvalues
hrandfield one 5
hrandfield one 5 withvalues
hrandfield one -3
hrandfield one -3 withvalues
hrandfield one 0
hrandfield one 0 withvalues
hrandfield one 1 withvalue
hrandfield one 1 withvalues x
hrandfield one x
hrandfield one -9223372036854775808
hrandfield one -9223372036854770000 withvalues
hrandfield one 4611686018427387904 withvalues
hrandfield nokey
hrandfield nokey 3
hrandfield nokey 3 withvalues
hrandfield nokey -9223372036854770000 withvalues
hscan one 0
hscan one 0 match f
hscan one 0 match g
hscan one 0 count 1
hscan one 0 count 0
hscan one 0 novalues
hscan one x
hscan nokey 0
hscan nokey 0 count 0
";

#[test]
fn replies_match_redis_resp2() {
    for script in [BASICS, COUNTERS, RANDOM_AND_SCAN] {
        compare_script_with_redis(script, false);
    }
}

#[test]
fn replies_match_redis_resp3() {
    for script in [BASICS, COUNTERS, RANDOM_AND_SCAN] {
        compare_script_with_redis(script, true);
    }
}

#[test]
fn encoding_thresholds_follow_configuration() {
    compare_script_with_redis(
        "
config set hash-max-ziplist-entries 4
config set hash-max-listpack-value 8
hset h a 1 b 2 c 3 d 4
object encoding h
hset h e 5
object encoding h
hset v f 12345678
object encoding v
hset v f 123456789
object encoding v
hset k 123456789 1
object encoding k
hset w f 0
hincrbyfloat w f 0.000005
object encoding w
hincrbyfloat w f 0.0000005
object encoding w
hincrby k2 abcdefghi 1
object encoding k2
hsetnx k3 abcdefghi 1
object encoding k3
config set hash-max-listpack-entries 0
hset z a 1
object encoding z
config get hash-max-ziplist-entries
",
        false,
    );
}

#[test]
fn large_hashes_keep_every_field() {
    let server = ServerProcess::shoal(&[]);
    let mut c = server.client();
    for i in 0..2000 {
        c.send(&[b"HSET", b"h", format!("field:{i}").as_bytes(), format!("value:{i}").as_bytes()]);
    }
    for _ in 0..2000 {
        assert_eq!(c.read(), Value::Int(1));
    }
    assert_eq!(c.cmd("OBJECT ENCODING h"), bulk("hashtable"));
    assert_eq!(c.cmd("HLEN h"), Value::Int(2000));
    assert_eq!(c.cmd("HGET h field:1234"), bulk("value:1234"));
    assert_eq!(c.cmd("HSTRLEN h field:1234"), Value::Int(10));
    assert_eq!(c.cmd("HSET h field:1234 x"), Value::Int(0));
    assert_eq!(c.cmd("HGET h field:1234"), bulk("x"));
    let Value::Array(all) = c.cmd("HGETALL h") else { panic!() };
    assert_eq!(all.len(), 4000);

    let mut seen = std::collections::HashMap::new();
    let mut cursor = "0".to_string();
    loop {
        let Value::Array(reply) = c.cmd(&format!("HSCAN h {cursor} COUNT 100")) else { panic!() };
        let Value::Bulk(next) = &reply[0] else { panic!() };
        let Value::Array(items) = &reply[1] else { panic!() };
        for pair in items.chunks(2) {
            seen.insert(format!("{:?}", pair[0]), pair[1].clone());
        }
        cursor = String::from_utf8(next.clone()).unwrap();
        if cursor == "0" {
            break;
        }
    }
    assert_eq!(seen.len(), 2000);
    assert_eq!(seen[&format!("{:?}", bulk("field:7"))], bulk("value:7"));

    for i in 0..2000 {
        c.send(&[b"HDEL", b"h", format!("field:{i}").as_bytes()]);
    }
    for _ in 0..2000 {
        assert_eq!(c.read(), Value::Int(1));
    }
    assert_eq!(c.cmd("EXISTS h"), Value::Int(0));
}

#[test]
fn hrandfield_shapes_and_bounds() {
    let server = ServerProcess::shoal(&[]);
    let mut c = server.client();
    c.cmd("HSET h a 1 b 2 c 3");
    let Value::Array(items) = c.cmd("HRANDFIELD h -7 WITHVALUES") else { panic!() };
    assert_eq!(items.len(), 14);
    for pair in items.chunks(2) {
        let expected = match &pair[0] {
            Value::Bulk(f) if f == b"a" => bulk("1"),
            Value::Bulk(f) if f == b"b" => bulk("2"),
            _ => bulk("3"),
        };
        assert_eq!(pair[1], expected);
    }
    let Value::Array(items) = c.cmd("HRANDFIELD h 2") else { panic!() };
    assert_eq!(items.len(), 2);
    assert_ne!(items[0], items[1]);

    c.cmd("HELLO 3");
    let Value::Array(items) = c.cmd("HRANDFIELD h 2 WITHVALUES") else { panic!() };
    assert_eq!(items.len(), 2);
    assert!(items.iter().all(|i| matches!(i, Value::Array(p) if p.len() == 2)));
    let Value::Array(items) = c.cmd("HRANDFIELD h -5") else { panic!() };
    assert!(items.iter().all(|i| matches!(i, Value::Bulk(_))));

    // Huge negative counts are refused instead of building the reply.
    let reply = c.cmd("HRANDFIELD h -9223372036854775807");
    assert!(matches!(reply, Value::Error(ref e) if e.starts_with(b"ERR ")), "{reply:?}");
    let reply = c.cmd("HRANDFIELD h -4611686018427387903 WITHVALUES");
    assert!(matches!(reply, Value::Error(ref e) if e.starts_with(b"ERR ")), "{reply:?}");
    let Value::Array(items) = c.cmd("HRANDFIELD h -3000 WITHVALUES") else { panic!() };
    assert_eq!(items.len(), 3000);
}

#[test]
fn hincrbyfloat_propagates_as_hset_with_the_result() {
    use std::io::Read;
    let server = ServerProcess::shoal(&[]);
    let mut c = server.client();
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

    assert_eq!(c.cmd("HINCRBYFLOAT h f 10.5"), bulk("10.5"));
    assert_eq!(c.cmd("HINCRBYFLOAT h f 0.1"), bulk("10.6"));
    c.cmd("HINCRBYFLOAT h f x");
    c.cmd("HSETNX h f 1");
    c.cmd("HDEL h nothing");
    c.cmd("HINCRBY h n 3");
    let command = |v: Value| match v {
        Value::Array(items) => items,
        other => panic!("{other:?}"),
    };
    assert_eq!(command(replica.read()), vec![bulk("SELECT"), bulk("0")]);
    assert_eq!(command(replica.read()), vec![bulk("HSET"), bulk("h"), bulk("f"), bulk("10.5")]);
    assert_eq!(command(replica.read()), vec![bulk("HSET"), bulk("h"), bulk("f"), bulk("10.6")]);
    assert_eq!(command(replica.read()), vec![bulk("HINCRBY"), bulk("h"), bulk("n"), bulk("3")]);
}

#[test]
fn copy_keeps_encoding_and_contents() {
    let server = ServerProcess::shoal(&["--hash-max-listpack-entries", "2"]);
    let mut c = server.client();
    c.cmd("HSET small a 1");
    c.cmd("HSET big a 1 b 2 c 3");
    for (from, to, encoding) in [("small", "small2", "listpack"), ("big", "big2", "hashtable")] {
        assert_eq!(c.cmd(&format!("COPY {from} {to}")), Value::Int(1));
        assert_eq!(c.cmd(&format!("OBJECT ENCODING {to}")), bulk(encoding));
        assert_eq!(unordered(c.cmd(&format!("HGETALL {to}"))), unordered(c.cmd(&format!("HGETALL {from}"))));
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
fn small_hashes_cost_little_memory() {
    let server = ServerProcess::shoal(&[]);
    let mut c = server.client();
    let before = used_memory(&mut c);
    let keys = 20_000;
    for n in 0..keys {
        c.send(&[
            b"HSET",
            format!("key:{n}").as_bytes(),
            b"f1",
            b"v1",
            b"f2",
            b"v2",
            b"f3",
            b"v3",
            b"f4",
            b"v4",
            b"f5",
            b"v5",
        ]);
    }
    for _ in 0..keys {
        c.read_raw();
    }
    assert_eq!(c.cmd("OBJECT ENCODING key:7"), bulk("listpack"));
    let per_key = (used_memory(&mut c) - before) / keys;
    // Key block (~50 bytes) and table slots, plus a 27-byte pair block
    // (Redis's listpack alone is 47 bytes).
    assert!(per_key < 130, "{per_key} bytes per key");
}
