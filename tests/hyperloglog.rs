//! HyperLogLog commands against redis-server 7.0: the same commands must
//! leave byte-identical strings (sparse and dense encodings, promotion,
//! cached cardinality), Redis-made sketches must work in Shoal, corrupted
//! sketches get Redis's errors, and cache refreshes are propagated.

mod support;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use shoal_resp::Value;
use support::{bulk, error, RawClient, ServerProcess};

/// Sends the same command to both servers and checks the replies agree.
fn same(shoal: &mut RawClient, redis: &mut RawClient, args: &[&[u8]]) -> Value {
    let ours = shoal.call(args);
    let theirs = redis.call(args);
    assert_eq!(ours, theirs, "reply to {:?}", printable(args));
    ours
}

/// GET of `key` on both servers must return the same bytes.
fn same_bytes(shoal: &mut RawClient, redis: &mut RawClient, key: &str) {
    same(shoal, redis, &[b"GET", key.as_bytes()]);
}

fn printable(args: &[&[u8]]) -> Vec<String> {
    args.iter().take(4).map(|a| String::from_utf8_lossy(a).chars().take(30).collect()).collect()
}

fn elements(rng: &mut SmallRng, n: usize) -> Vec<Vec<u8>> {
    (0..n).map(|_| format!("{}", rng.random::<u64>() % 1_000_000_000).into_bytes()).collect()
}

fn pfadd(shoal: &mut RawClient, redis: &mut RawClient, key: &str, items: &[Vec<u8>]) {
    let mut args: Vec<&[u8]> = vec![b"PFADD", key.as_bytes()];
    args.extend(items.iter().map(|e| e.as_slice()));
    same(shoal, redis, &args);
    same_bytes(shoal, redis, key);
}

#[test]
fn same_commands_leave_the_same_bytes_as_redis() {
    let shoal_server = ServerProcess::shoal(&[]);
    let redis_server = ServerProcess::redis(&[]);
    let (mut s, mut r) = (shoal_server.client(), redis_server.client());
    let mut rng = SmallRng::seed_from_u64(7);
    for limit in ["3000", "400"] {
        same(&mut s, &mut r, &[b"CONFIG", b"SET", b"hll-sparse-max-bytes", limit.as_bytes()]);
        same(&mut s, &mut r, &[b"DEL", b"a", b"b", b"u"]);
        // Small batches first (sparse), then enough to turn the sketch dense.
        for batch in [1, 3, 10, 50, 200, 1000, 3000] {
            let items = elements(&mut rng, batch);
            pfadd(&mut s, &mut r, "a", &items);
            same(&mut s, &mut r, &[b"PFDEBUG", b"ENCODING", b"a"]);
            same(&mut s, &mut r, &[b"PFCOUNT", b"a"]);
            same_bytes(&mut s, &mut r, "a");
            let items = elements(&mut rng, batch / 3 + 1);
            pfadd(&mut s, &mut r, "b", &items);
            same(&mut s, &mut r, &[b"PFCOUNT", b"a", b"b", b"missing"]);
        }
        same(&mut s, &mut r, &[b"PFDEBUG", b"DECODE", b"b"]);
        same(&mut s, &mut r, &[b"PFMERGE", b"u", b"b"]);
        same_bytes(&mut s, &mut r, "u");
        same(&mut s, &mut r, &[b"PFMERGE", b"u", b"a", b"b"]);
        same_bytes(&mut s, &mut r, "u");
        same(&mut s, &mut r, &[b"PFCOUNT", b"u"]);
        same_bytes(&mut s, &mut r, "u");
        same(&mut s, &mut r, &[b"PFDEBUG", b"TODENSE", b"b"]);
        same_bytes(&mut s, &mut r, "b");
    }
}

#[test]
fn redis_made_sketches_work_in_shoal() {
    let shoal_server = ServerProcess::shoal(&[]);
    let redis_server = ServerProcess::redis(&[]);
    let (mut s, mut r) = (shoal_server.client(), redis_server.client());
    let mut rng = SmallRng::seed_from_u64(11);
    for (key, n) in [("sparse", 40), ("dense", 5000)] {
        let items = elements(&mut rng, n);
        let mut args: Vec<&[u8]> = vec![b"PFADD", key.as_bytes()];
        args.extend(items.iter().map(|e| e.as_slice()));
        r.call(&args);
        let Value::Bulk(bytes) = r.call(&[b"GET", key.as_bytes()]) else { panic!("no sketch") };
        assert_eq!(s.call(&[b"SET", key.as_bytes(), &bytes]), support::simple("OK"));
        same(&mut s, &mut r, &[b"PFCOUNT", key.as_bytes()]);
        let more = elements(&mut rng, 30);
        pfadd(&mut s, &mut r, key, &more);
        same(&mut s, &mut r, &[b"PFCOUNT", key.as_bytes()]);
        same_bytes(&mut s, &mut r, key);
    }
    same(&mut s, &mut r, &[b"PFMERGE", b"both", b"sparse", b"dense"]);
    same_bytes(&mut s, &mut r, "both");
}

#[test]
fn cached_cardinality_lives_in_the_header() {
    let server = ServerProcess::shoal(&[]);
    let mut c = server.client();
    let stale_byte = |c: &mut RawClient| c.cmd("GETRANGE h 15 15");
    c.cmd("PFADD h a b c");
    assert_eq!(stale_byte(&mut c), Value::Bulk(vec![0x80]));
    assert_eq!(c.cmd("PFCOUNT h"), Value::Int(3));
    assert_eq!(c.cmd("GETRANGE h 8 15"), Value::Bulk(vec![3, 0, 0, 0, 0, 0, 0, 0]));
    // Nothing changed: the cache stays valid.
    assert_eq!(c.cmd("PFADD h a b c"), Value::Int(0));
    assert_eq!(stale_byte(&mut c), Value::Bulk(vec![0]));
    assert_eq!(c.cmd("PFADD h 1 2 3"), Value::Int(1));
    assert_eq!(stale_byte(&mut c), Value::Bulk(vec![0x80]));
    assert_eq!(c.cmd("PFCOUNT h"), Value::Int(6));
    assert_eq!(c.cmd("OBJECT ENCODING h"), bulk("raw"));
}

#[test]
fn corrupted_sketches_get_redis_errors() {
    let server = ServerProcess::shoal(&[]);
    let mut c = server.client();
    let not_hll = error("WRONGTYPE Key is not a valid HyperLogLog string value.");
    let corrupt = error("INVALIDOBJ Corrupted HLL object detected");
    c.cmd("PFADD h a b c");
    c.cmd("APPEND h hello");
    assert_eq!(c.cmd("PFCOUNT h"), corrupt);
    assert_eq!(c.cmd("PFCOUNT h other"), corrupt);
    assert_eq!(c.cmd("PFMERGE dest h"), corrupt);
    c.cmd("DEL h");
    c.cmd("PFADD h a b c");
    c.cmd("SETRANGE h 0 0123");
    assert_eq!(c.cmd("PFCOUNT h"), not_hll);
    c.cmd("DEL h");
    c.cmd("PFADD h a b c");
    c.call(&[b"SETRANGE", b"h", b"4", b"\x00"]);
    assert_eq!(c.cmd("PFCOUNT h"), not_hll, "dense header with a sparse length");
    c.cmd("SET n 12345678901234567890");
    assert_eq!(c.cmd("PFADD n x"), not_hll);
    c.cmd("SET s foo");
    assert_eq!(c.cmd("PFMERGE s"), not_hll);
    assert_eq!(c.cmd("PFDEBUG ENCODING missing"), error("ERR The specified key does not exist"));
    assert_eq!(c.cmd("PFDEBUG NOPE s"), not_hll);
    c.cmd("PFADD h2 x");
    assert_eq!(c.cmd("PFDEBUG NOPE h2"), error("ERR Unknown PFDEBUG subcommand 'NOPE'"));
    // Random damage never takes the server down.
    let mut rng = SmallRng::seed_from_u64(3);
    for _ in 0..200 {
        c.cmd("DEL f");
        let items: Vec<String> = (0..rng.random_range(1..400)).map(|i| format!("e{i}")).collect();
        let mut args: Vec<&[u8]> = vec![b"PFADD", b"f"];
        args.extend(items.iter().map(|e| e.as_bytes()));
        c.call(&args);
        let Value::Int(len) = c.cmd("STRLEN f") else { panic!() };
        let pos = rng.random_range(0..len).to_string();
        let byte = [rng.random::<u8>()];
        c.call(&[b"SETRANGE", b"f", pos.as_bytes(), &byte]);
        c.cmd("PFCOUNT f");
        c.cmd("PFADD f more");
    }
    assert_eq!(c.cmd("PING"), support::simple("PONG"));
}

#[test]
fn debug_and_selftest() {
    let server = ServerProcess::shoal(&[]);
    let mut c = server.client();
    assert_eq!(c.cmd("PFSELFTEST"), support::simple("OK"));
    c.cmd("PFADD h 1 2 3");
    assert_eq!(c.cmd("PFDEBUG ENCODING h"), support::simple("sparse"));
    let Value::Array(registers) = c.cmd("PFDEBUG GETREG h") else { panic!() };
    assert_eq!(registers.len(), 16384);
    assert_eq!(registers.iter().filter(|r| **r != Value::Int(0)).count(), 3);
    // GETREG converts the sketch, as in Redis.
    assert_eq!(c.cmd("PFDEBUG ENCODING h"), support::simple("dense"));
    assert_eq!(c.cmd("PFDEBUG DECODE h"), error("ERR HLL encoding is not sparse"));
    assert_eq!(c.cmd("STRLEN h"), Value::Int(12304));
    c.cmd("PFADD e");
    assert_eq!(c.cmd("PFDEBUG DECODE e"), bulk("Z:16384"));
    assert_eq!(c.cmd("PFDEBUG TODENSE e"), Value::Int(1));
    assert_eq!(c.cmd("PFDEBUG TODENSE e"), Value::Int(0));
}

fn words(line: &str) -> Value {
    Value::Array(line.split_whitespace().map(bulk).collect())
}

#[test]
fn cache_refresh_is_propagated_and_plain_reads_are_not() {
    let server = ServerProcess::shoal(&[]);
    let mut replica = support::start_sync(&server);
    let mut c = server.client();
    c.cmd("PFADD h a b");
    c.cmd("PFCOUNT h");
    c.cmd("PFCOUNT h");
    c.cmd("PFADD h a");
    c.cmd("PFCOUNT h h2");
    c.cmd("PFMERGE h3 h");
    c.cmd("SET end 1");
    assert_eq!(replica.read(), words("SELECT 0"));
    assert_eq!(replica.read(), words("PFADD h a b"));
    assert_eq!(replica.read(), words("PFCOUNT h"));
    assert_eq!(replica.read(), words("PFMERGE h3 h"));
    assert_eq!(replica.read(), words("SET end 1"));
}
