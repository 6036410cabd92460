//! Bitmap commands against redis-server 7.0: random command sequences must
//! give the same replies and leave the same bytes; offsets are bounded by
//! proto-max-bulk-len; only real changes count as writes.

mod support;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use shoal_resp::Value;
use support::{bulk, error, RawClient, ServerProcess};

fn same(shoal: &mut RawClient, redis: &mut RawClient, args: &[String]) {
    let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
    let ours = shoal.call(&args);
    let theirs = redis.call(&args);
    assert_eq!(ours, theirs, "reply to {:?}", args.iter().map(|a| String::from_utf8_lossy(a)).collect::<Vec<_>>());
}

fn pick<'a>(rng: &mut SmallRng, items: &[&'a str]) -> &'a str {
    items[rng.random_range(0..items.len())]
}

fn small(rng: &mut SmallRng, range: std::ops::RangeInclusive<i64>) -> String {
    rng.random_range(range).to_string()
}

fn field_type(rng: &mut SmallRng) -> String {
    let sign = pick(rng, &["i", "u"]);
    let bits = pick(rng, &["1", "5", "8", "13", "32", "63", "64", "0", "65"]);
    format!("{sign}{bits}")
}

fn field_value(rng: &mut SmallRng) -> String {
    match rng.random_range(0..4) {
        0 => small(rng, -300..=300),
        1 => rng.random::<i64>().to_string(),
        2 => pick(rng, &["9223372036854775807", "-9223372036854775808", "x"]).to_string(),
        _ => small(rng, -5..=5),
    }
}

/// One random bit command over a few keys.
fn random_command(rng: &mut SmallRng) -> Vec<String> {
    let key = pick(rng, &["a", "b", "c"]).to_string();
    let mut args: Vec<String> = Vec::new();
    match rng.random_range(0..10) {
        0 | 1 => args.extend(["SETBIT".into(), key, small(rng, -1..=200), pick(rng, &["0", "1", "1", "2"]).into()]),
        2 => args.extend(["GETBIT".into(), key, small(rng, -1..=200)]),
        3 => {
            args.extend(["BITCOUNT".into(), key]);
            if rng.random_bool(0.7) {
                args.extend([small(rng, -40..=40), small(rng, -40..=40)]);
                if rng.random_bool(0.5) {
                    args.push(pick(rng, &["BIT", "byte", "bits"]).into());
                }
            }
        }
        4 => {
            args.extend(["BITPOS".into(), key, pick(rng, &["0", "1"]).into()]);
            let extra = rng.random_range(0..=3);
            if extra >= 1 {
                args.push(small(rng, -30..=30));
            }
            if extra >= 2 {
                args.push(small(rng, -30..=30));
            }
            if extra == 3 {
                args.push(pick(rng, &["bit", "BYTE"]).into());
            }
        }
        5 => {
            args.extend(["BITOP".into(), pick(rng, &["AND", "or", "XOR", "not"]).into(), key]);
            for _ in 0..rng.random_range(1..=3) {
                args.push(pick(rng, &["a", "b", "c", "missing", "s"]).into());
            }
        }
        6 => args.extend(["SET".into(), key, pick(rng, &["foobar", "123", "", "\u{7f}\u{1}xyz"]).into()]),
        _ => {
            args.push(pick(rng, &["BITFIELD", "BITFIELD", "BITFIELD_RO"]).into());
            args.push(key);
            for _ in 0..rng.random_range(0..=4) {
                let offset = if rng.random_bool(0.3) { format!("#{}", rng.random_range(0..12)) } else { small(rng, 0..=150) };
                match rng.random_range(0..4) {
                    0 => args.extend(["GET".into(), field_type(rng), offset]),
                    1 => args.extend(["SET".into(), field_type(rng), offset, field_value(rng)]),
                    2 => args.extend(["INCRBY".into(), field_type(rng), offset, field_value(rng)]),
                    _ => args.extend(["OVERFLOW".into(), pick(rng, &["WRAP", "sat", "FAIL", "bad"]).into()]),
                }
            }
        }
    }
    args
}

#[test]
fn random_bit_commands_match_redis() {
    let shoal_server = ServerProcess::shoal(&[]);
    let redis_server = ServerProcess::redis(&[]);
    let (mut s, mut r) = (shoal_server.client(), redis_server.client());
    let mut rng = SmallRng::seed_from_u64(2024);
    same(&mut s, &mut r, &["SET".into(), "s".into(), "\u{ff}\u{0}abc".into()]);
    for _ in 0..3000 {
        let command = random_command(&mut rng);
        same(&mut s, &mut r, &command);
        for key in ["a", "b", "c"] {
            same(&mut s, &mut r, &["GET".into(), key.into()]);
        }
    }
}

#[test]
fn offsets_are_bounded_by_proto_max_bulk_len() {
    let server = ServerProcess::shoal(&["--proto-max-bulk-len", "1mb"]);
    let mut c = server.client();
    let out_of_range = error("ERR bit offset is not an integer or out of range");
    assert_eq!(c.cmd("SETBIT k 8388608 1"), out_of_range);
    assert_eq!(c.cmd("SETBIT k -1 1"), out_of_range);
    assert_eq!(c.cmd("GETBIT k 8388608"), out_of_range);
    assert_eq!(c.cmd("BITFIELD k GET u8 #1048576"), out_of_range);
    assert_eq!(c.cmd("BITFIELD k SET u8 #0 1 GET u8 #-1"), out_of_range);
    assert_eq!(c.cmd("EXISTS k"), Value::Int(0), "nothing is created by a refused command");
    // The last addressable bit allocates exactly what it needs.
    assert_eq!(c.cmd("SETBIT k 8388607 1"), Value::Int(0));
    assert_eq!(c.cmd("STRLEN k"), Value::Int(1 << 20));
    assert_eq!(c.cmd("BITPOS k 1"), Value::Int(8388607));
    // A field may start at the last byte and run past it.
    assert_eq!(c.cmd("BITFIELD k SET i64 8388607 -1"), Value::Array(vec![Value::Int(i64::MIN)]));
    assert_eq!(c.cmd("STRLEN k"), Value::Int((1 << 20) + 8));
    assert_eq!(c.cmd("SETBIT k 0 2"), error("ERR bit is not an integer or out of range"));
    assert_eq!(
        c.cmd("BITFIELD k GET u64 0"),
        error("ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.")
    );
    assert_eq!(c.cmd("BITFIELD_RO k SET u8 0 1"), error("ERR BITFIELD_RO only supports the GET subcommand"));
    assert_eq!(c.cmd("BITOP NOT d k k"), error("ERR BITOP NOT must be called with a single source key."));
    assert_eq!(c.cmd("BITPOS k 2"), error("ERR The bit argument must be 1 or 0."));
}

#[test]
fn bitop_replaces_or_deletes_the_destination() {
    let server = ServerProcess::shoal(&[]);
    let mut c = server.client();
    c.call(&[b"SET", b"a", b"\xaa\x00\xff\x55"]);
    c.cmd("SET d old EX 100");
    assert_eq!(c.cmd("BITOP NOT d a"), Value::Int(4));
    assert_eq!(c.cmd("GET d"), Value::Bulk(vec![0x55, 0xff, 0x00, 0xaa]));
    assert_eq!(c.cmd("TTL d"), Value::Int(-1));
    assert_eq!(c.cmd("OBJECT ENCODING d"), bulk("raw"));
    assert_eq!(c.cmd("BITOP AND d missing other"), Value::Int(0));
    assert_eq!(c.cmd("EXISTS d"), Value::Int(0));
    c.cmd("SET one 1");
    c.cmd("SET two 2");
    assert_eq!(c.cmd("BITOP XOR d one two one"), Value::Int(1));
    assert_eq!(c.cmd("GET d"), bulk("2"));
}

#[test]
fn bitfield_fail_replies_null_in_both_protocols() {
    let server = ServerProcess::shoal(&[]);
    let mut c = server.client();
    assert_eq!(
        c.cmd("BITFIELD k OVERFLOW FAIL INCRBY u8 0 300 OVERFLOW SAT INCRBY u8 0 300 GET i8 0"),
        Value::Array(vec![Value::Null, Value::Int(255), Value::Int(-1)])
    );
    c.cmd("HELLO 3");
    c.send(&[b"BITFIELD", b"k", b"OVERFLOW", b"FAIL", b"INCRBY", b"u8", b"0", b"1"]);
    assert_eq!(c.read_raw(), b"*1\r\n_\r\n".to_vec());
}

fn start_sync(server: &ServerProcess) -> RawClient {
    use std::io::Read;
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

fn words(line: &str) -> Value {
    Value::Array(line.split_whitespace().map(bulk).collect())
}

#[test]
fn only_real_changes_are_written() {
    let server = ServerProcess::shoal(&[]);
    let mut replica = start_sync(&server);
    let mut c = server.client();
    c.cmd("SETBIT k 0 0");
    c.cmd("SETBIT k 0 0");
    c.cmd("SETBIT k 3 1");
    c.cmd("SETBIT k 30 0");
    c.cmd("BITFIELD k SET u4 0 1");
    c.cmd("BITFIELD k GET u4 0");
    c.cmd("BITFIELD f OVERFLOW FAIL SET u8 0 300");
    c.cmd("BITOP OR k missing");
    c.cmd("BITOP OR k missing");
    c.cmd("SET end 1");
    assert_eq!(replica.read(), words("SELECT 0"));
    assert_eq!(replica.read(), words("SETBIT k 0 0"));
    assert_eq!(replica.read(), words("SETBIT k 3 1"));
    assert_eq!(replica.read(), words("SETBIT k 30 0"));
    // A FAIL-only BITFIELD leaves a zeroed key behind, as in Redis; Redis
    // does not propagate it (its replicas lack the key), Shoal does.
    assert_eq!(replica.read(), words("BITFIELD f OVERFLOW FAIL SET u8 0 300"));
    assert_eq!(replica.read(), words("BITOP OR k missing"));
    assert_eq!(replica.read(), words("SET end 1"));
    assert_eq!(c.cmd("GET f"), Value::Bulk(vec![0]));
}
