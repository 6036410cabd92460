//! DEBUG DIGEST and DEBUG DIGEST-VALUE against a real redis-server 7.0:
//! the same dataset is built on both servers (every type in its small and
//! large encodings, integer strings, HyperLogLogs, streams with consumer
//! groups, TTLs at the same absolute time, several databases, a key whose
//! TTL has passed but that is still stored) and the digests of the whole
//! dataset and of every key must be equal. DEBUG POPULATE is checked the
//! same way (replies, then the digest of what it built).

mod support;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use shoal_resp::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use support::{RawClient, ServerProcess};

type Command = Vec<Vec<u8>>;

fn cmd(words: &[&[u8]]) -> Command {
    words.iter().map(|w| w.to_vec()).collect()
}

/// Builds the commands and remembers every key per database.
struct Builder {
    commands: Vec<Command>,
    keys: BTreeMap<u32, BTreeSet<Vec<u8>>>,
    db: u32,
    rng: SmallRng,
    /// One absolute expiry time (ms) for every TTL, so both servers agree.
    expire_at: u64,
}

impl Builder {
    fn select(&mut self, db: u32) {
        self.db = db;
        self.commands.push(cmd(&[b"SELECT", db.to_string().as_bytes()]));
    }

    /// A command whose first argument after the name is a key.
    fn on(&mut self, words: Vec<Vec<u8>>) {
        self.keys.entry(self.db).or_default().insert(words[1].clone());
        self.commands.push(words);
    }

    fn expire(&mut self, key: &[u8]) {
        self.commands.push(cmd(&[b"PEXPIREAT", key, self.expire_at.to_string().as_bytes()]));
    }

    fn word(&mut self, max_len: usize) -> Vec<u8> {
        let len = self.rng.random_range(0..=max_len);
        (0..len).map(|_| self.rng.random::<u8>()).collect()
    }
}

fn words(first: &[&[u8]], rest: impl IntoIterator<Item = Vec<u8>>) -> Command {
    first.iter().map(|w| w.to_vec()).chain(rest).collect()
}

fn strings(b: &mut Builder) {
    b.on(cmd(&[b"SET", b"str:plain", b"hello world"]));
    b.on(cmd(&[b"SET", b"str:int", b"12345"]));
    b.on(cmd(&[b"SET", b"str:negative", b"-9223372036854775808"]));
    b.on(cmd(&[b"SET", b"str:not-canonical", b"0012"]));
    b.on(cmd(&[b"SET", b"str:empty", b""]));
    b.on(cmd(&[b"INCRBY", b"str:counter", b"41"]));
    b.on(cmd(&[b"INCRBYFLOAT", b"str:float", b"0.1"]));
    let long = b.word(300);
    b.on(words(&[b"SET", b"str:binary"], [long]));
    b.on(cmd(&[b"APPEND", b"str:raw", b"abc"]));
    b.on(cmd(&[b"APPEND", b"str:raw", b"defghijklmnopqrstuvwxyz0123456789012345678901234567890"]));
    b.on(cmd(&[b"SETBIT", b"str:bitmap", b"1000", b"1"]));
    b.on(cmd(&[b"SET", b"str:ttl", b"expiring"]));
    b.expire(b"str:ttl");
    b.on(cmd(&[b"SET", b"str:int-ttl", b"77"]));
    b.expire(b"str:int-ttl");
    // HyperLogLogs: sparse, dense, and one whose cached count PFCOUNT set.
    let few: Vec<Vec<u8>> = (0..20).map(|i| format!("e{i}").into_bytes()).collect();
    b.on(words(&[b"PFADD", b"hll:sparse"], few.clone()));
    b.on(words(&[b"PFADD", b"hll:counted"], few));
    b.commands.push(cmd(&[b"PFCOUNT", b"hll:counted"]));
    let many: Vec<Vec<u8>> = (0..6000).map(|i| format!("element:{i}").into_bytes()).collect();
    b.on(words(&[b"PFADD", b"hll:dense"], many));
}

fn lists(b: &mut Builder) {
    let small: Vec<Vec<u8>> = [&b"a"[..], b"12", b"-7", b"", b"\x00\xff", b"9223372036854775807", b"007", b"12"]
        .iter()
        .map(|w| w.to_vec())
        .collect();
    b.on(words(&[b"RPUSH", b"list:small"], small));
    b.on(cmd(&[b"LPUSH", b"list:small", b"head"]));
    let large: Vec<Vec<u8>> = (0..600)
        .map(|i| if i % 3 == 0 { i.to_string().into_bytes() } else { format!("item-{i}").into_bytes() })
        .collect();
    b.on(words(&[b"RPUSH", b"list:large"], large));
    let big = b.word(2000);
    b.on(words(&[&b"RPUSH"[..], b"list:big-element", b"x"], [big, b"y".to_vec()]));
    b.on(cmd(&[b"RPUSH", b"list:ttl", b"1", b"2", b"3"]));
    b.expire(b"list:ttl");
}

fn sets(b: &mut Builder) {
    b.on(cmd(&[b"SADD", b"set:intset", b"1", b"2", b"-3", b"100000000000", b"-9223372036854775808"]));
    b.on(cmd(&[b"SADD", b"set:strings", b"a", b"b", b"", b"12", b"\x00"]));
    let ints: Vec<Vec<u8>> = (0..700).map(|i| (i * 7 - 1000).to_string().into_bytes()).collect();
    b.on(words(&[b"SADD", b"set:large-ints"], ints));
    let members: Vec<Vec<u8>> = (0..300).map(|i| format!("member:{i}").into_bytes()).collect();
    b.on(words(&[b"SADD", b"set:large"], members));
    b.on(cmd(&[b"SADD", b"set:ttl", b"x", b"y"]));
    b.expire(b"set:ttl");
}

fn hashes(b: &mut Builder) {
    b.on(cmd(&[b"HSET", b"hash:small", b"f1", b"v1", b"f2", b"12", b"", b"empty-field", b"99", b""]));
    let pairs: Vec<Vec<u8>> =
        (0..300).flat_map(|i| [format!("field:{i}").into_bytes(), i.to_string().into_bytes()]).collect();
    b.on(words(&[b"HSET", b"hash:large"], pairs));
    let long = b.word(200);
    b.on(words(&[&b"HSET"[..], b"hash:long-value", b"a", b"1", b"long"], [long]));
    b.on(cmd(&[b"HINCRBYFLOAT", b"hash:small", b"float", b"1.5"]));
    b.on(cmd(&[b"HSET", b"hash:ttl", b"a", b"b"]));
    b.expire(b"hash:ttl");
}

/// Scores whose printing matters: whole numbers, -0, huge and tiny ones,
/// infinities, values that are not exact in binary.
const SCORES: [&[u8]; 14] = [
    b"0",
    b"-0",
    b"1",
    b"-1",
    b"1.5",
    b"0.1",
    b"1e20",
    b"-1e-20",
    b"inf",
    b"-inf",
    b"3.141592653589793",
    b"9007199254740993",
    b"123456789012345678",
    b"2.5e-310",
];

fn zsets(b: &mut Builder) {
    let small: Vec<Vec<u8>> =
        SCORES.iter().enumerate().flat_map(|(i, s)| [s.to_vec(), format!("m{i}").into_bytes()]).collect();
    b.on(words(&[b"ZADD", b"zset:small"], small));
    b.on(cmd(&[b"ZADD", b"zset:small", b"7", b"42"]));
    let mut large: Vec<Vec<u8>> =
        SCORES.iter().enumerate().flat_map(|(i, s)| [s.to_vec(), format!("special{i}").into_bytes()]).collect();
    for i in 0..300 {
        let score: f64 = b.rng.random_range(-1e6..1e6);
        large.extend([format!("{score}").into_bytes(), format!("member:{i}").into_bytes()]);
    }
    b.on(words(&[b"ZADD", b"zset:large"], large.clone()));
    // -0 added after the set left the small encoding stays -0 in Redis.
    large.reverse();
    b.on(words(&[b"ZADD", b"zset:large-reversed"], large.chunks(2).flat_map(|p| [p[1].clone(), p[0].clone()])));
    let long = b.word(100);
    b.on(words(&[&b"ZADD"[..], b"zset:long-member", b"1"], [long]));
    b.on(cmd(&[b"ZINCRBY", b"zset:small", b"0.2", b"m5"]));
    b.on(cmd(&[b"ZADD", b"zset:ttl", b"-0", b"z"]));
    b.expire(b"zset:ttl");
}

fn streams(b: &mut Builder) {
    b.on(cmd(&[b"XADD", b"stream:small", b"1-1", b"field", b"value", b"n", b"12"]));
    b.on(cmd(&[b"XADD", b"stream:small", b"1-2", b"field", b"other", b"", b""]));
    b.on(cmd(&[b"XADD", b"stream:small", b"5-0", b"a", b"b"]));
    b.on(cmd(&[b"XDEL", b"stream:small", b"1-2"]));
    for i in 1..=450 {
        let id = format!("{}-{}", 1000 + i / 3, i % 3);
        let value = if i % 5 == 0 { b.word(80) } else { i.to_string().into_bytes() };
        let field = if i % 7 == 0 { format!("f{i}").into_bytes() } else { b"f".to_vec() };
        b.on(words(&[b"XADD", b"stream:large", id.as_bytes()], [field, value, b"same".to_vec(), b"x".to_vec()]));
    }
    for id in ["1001-0", "1010-1", "1100-2", "1033-1"] {
        b.on(cmd(&[b"XDEL", b"stream:large", id.as_bytes()]));
    }
    b.commands.push(cmd(&[b"XGROUP", b"CREATE", b"stream:large", b"g1", b"0"]));
    b.commands.push(cmd(&[
        b"XREADGROUP",
        b"GROUP",
        b"g1",
        b"alice",
        b"COUNT",
        b"25",
        b"STREAMS",
        b"stream:large",
        b">",
    ]));
    b.commands.push(cmd(&[b"XREADGROUP", b"GROUP", b"g1", b"bob", b"COUNT", b"5", b"STREAMS", b"stream:large", b">"]));
    b.commands.push(cmd(&[b"XACK", b"stream:large", b"g1", b"1000-1", b"1000-2"]));
    b.commands.push(cmd(&[b"XGROUP", b"CREATE", b"stream:large", b"g2", b"$"]));
    b.on(cmd(&[b"XADD", b"stream:emptied", b"7-7", b"k", b"v"]));
    b.on(cmd(&[b"XDEL", b"stream:emptied", b"7-7"]));
    b.commands.push(cmd(&[b"XGROUP", b"CREATE", b"stream:group-only", b"g", b"$", b"MKSTREAM"]));
    b.keys.entry(b.db).or_default().insert(b"stream:group-only".to_vec());
    b.on(cmd(&[b"XADD", b"stream:ttl", b"9-9", b"k", b"v"]));
    b.expire(b"stream:ttl");
}

fn build(seed: u64, expire_at: u64) -> Builder {
    let mut b =
        Builder { commands: Vec::new(), keys: BTreeMap::new(), db: 0, rng: SmallRng::seed_from_u64(seed), expire_at };
    b.select(0);
    strings(&mut b);
    lists(&mut b);
    b.select(1);
    sets(&mut b);
    hashes(&mut b);
    b.select(5);
    zsets(&mut b);
    b.select(15);
    streams(&mut b);
    // The same names in another database, holding other types.
    b.select(3);
    b.on(cmd(&[b"SADD", b"str:plain", b"now a set"]));
    b.on(cmd(&[b"RPUSH", b"set:intset", b"now", b"a", b"list"]));
    b
}

/// Sends one command to both servers; their replies must be equal (so the
/// two datasets are built alike).
fn both(redis: &mut RawClient, shoal: &mut RawClient, command: &[Vec<u8>]) -> Value {
    let args: Vec<&[u8]> = command.iter().map(Vec::as_slice).collect();
    let expected = redis.call(&args);
    let got = shoal.call(&args);
    let name = String::from_utf8_lossy(&command[0]).to_string();
    let arg = |i: usize| command.get(i).map_or(String::new(), |a| String::from_utf8_lossy(a).into_owned());
    assert_eq!(show(&got), show(&expected), "{name} {} {}", arg(1), arg(2));
    got
}

/// A reply as readable text.
fn show(v: &Value) -> String {
    match v {
        Value::Simple(b) | Value::Bulk(b) => format!("{:?}", String::from_utf8_lossy(b)),
        Value::Error(b) => format!("-{}", String::from_utf8_lossy(b)),
        Value::Array(items) => format!("[{}]", items.iter().map(show).collect::<Vec<_>>().join(", ")),
        other => format!("{other:?}"),
    }
}

fn status(v: &Value) -> String {
    match v {
        Value::Simple(s) => String::from_utf8_lossy(s).into_owned(),
        other => panic!("expected a status reply, got {other:?}"),
    }
}

fn start_pair() -> (ServerProcess, ServerProcess) {
    let args = ["--enable-debug-command", "yes"];
    (ServerProcess::redis(&args), ServerProcess::shoal(&args))
}

#[test]
fn empty_dataset_digest_is_all_zeros_on_both() {
    let (redis, shoal) = start_pair();
    let (mut r, mut s) = (redis.client(), shoal.client());
    let zeros = "0".repeat(40);
    let digest = status(&both(&mut r, &mut s, &cmd(&[b"DEBUG", b"DIGEST"])));
    assert_eq!(digest, zeros);
    let values = both(&mut r, &mut s, &cmd(&[b"DEBUG", b"DIGEST-VALUE", b"missing", b"other"]));
    assert_eq!(values, Value::Array(vec![Value::Simple(zeros.clone().into_bytes()); 2]));
    both(&mut r, &mut s, &cmd(&[b"DEBUG", b"DIGEST-VALUE"]));
}

#[test]
fn digests_equal_redis_for_every_type_encoding_ttl_and_database() {
    let (redis, shoal) = start_pair();
    let (mut r, mut s) = (redis.client(), shoal.client());
    for c in
        [&[&b"DEBUG"[..], b"SET-ACTIVE-EXPIRE", b"0"][..], &[b"CONFIG", b"SET", b"stream-node-max-entries", b"100"]]
    {
        both(&mut r, &mut s, &cmd(c));
    }
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
    let plan = build(7, now_ms + 3_600_000);
    for command in &plan.commands {
        both(&mut r, &mut s, command);
    }
    // A key whose TTL passes while active expiry is off: still stored, so
    // both digests count it.
    both(&mut r, &mut s, &cmd(&[b"SELECT", b"0"]));
    both(&mut r, &mut s, &cmd(&[b"SET", b"str:stale", b"v", b"PX", b"1"]));
    std::thread::sleep(Duration::from_millis(50));
    let mut keys = plan.keys.clone();
    keys.entry(0).or_default().insert(b"str:stale".to_vec());

    let mut encodings = BTreeSet::new();
    let mut key_count = 0;
    for (db, names) in &keys {
        both(&mut r, &mut s, &cmd(&[b"SELECT", db.to_string().as_bytes()]));
        let mut all = cmd(&[b"DEBUG", b"DIGEST-VALUE"]);
        for name in names {
            let value = both(&mut r, &mut s, &[b"DEBUG".to_vec(), b"DIGEST-VALUE".to_vec(), name.clone()]);
            assert_ne!(
                value,
                Value::Array(vec![Value::Simple("0".repeat(40).into_bytes())]),
                "{} is missing",
                String::from_utf8_lossy(name)
            );
            all.push(name.clone());
            key_count += 1;
            if name.as_slice() != b"str:stale" {
                let args = [&b"OBJECT"[..], b"ENCODING", name];
                if let Value::Bulk(e) = r.call(&args) {
                    encodings.insert(String::from_utf8_lossy(&e).into_owned());
                }
            }
        }
        // Several keys in one call, and a missing one.
        all.push(b"no such key".to_vec());
        both(&mut r, &mut s, &all);
    }
    // The whole dataset, after every key agreed (a difference here alone
    // is in how databases and keys are combined).
    let digest = status(&both(&mut r, &mut s, &cmd(&[b"DEBUG", b"DIGEST"])));
    assert_ne!(digest, "0".repeat(40));
    assert!(key_count > 40, "{key_count} keys");
    // The dataset covers every encoding Redis 7.0 has for these types.
    let wanted = ["int", "embstr", "raw", "listpack", "quicklist", "intset", "hashtable", "skiplist", "stream"];
    for encoding in wanted {
        assert!(encodings.contains(encoding), "no key in encoding {encoding}: {encodings:?}");
    }
}

/// Sorted-set scores are digested as printed (`%.17g`), and every score
/// spelling of one number gives one digest, in both encodings.
#[test]
fn zset_score_spellings_digest_like_redis() {
    let (redis, shoal) = start_pair();
    let (mut r, mut s) = (redis.client(), shoal.client());
    both(&mut r, &mut s, &cmd(&[b"CONFIG", b"SET", b"zset-max-listpack-entries", b"4"]));
    let spellings: [&[u8]; 8] = [b"1", b"1.0", b"+1", b"1e0", b"0.1", b".1", b"-0.0", b"1e-400"];
    for (i, score) in spellings.iter().enumerate() {
        let small = format!("small{i}");
        both(&mut r, &mut s, &cmd(&[b"ZADD", small.as_bytes(), score, b"m"]));
        let large = format!("large{i}");
        both(
            &mut r,
            &mut s,
            &cmd(&[b"ZADD", large.as_bytes(), b"1", b"a", b"2", b"b", b"3", b"c", b"4", b"d", score, b"m"]),
        );
        for key in [small, large] {
            both(&mut r, &mut s, &cmd(&[b"DEBUG", b"DIGEST-VALUE", key.as_bytes()]));
        }
    }
    both(&mut r, &mut s, &cmd(&[b"DEBUG", b"DIGEST"]));
}

#[test]
fn debug_populate_builds_what_redis_builds() {
    let (redis, shoal) = start_pair();
    let (mut r, mut s) = (redis.client(), shoal.client());
    let long_prefix = "p".repeat(200);
    let script: Vec<Vec<&str>> = vec![
        vec!["DEBUG", "SET-ACTIVE-EXPIRE", "0"],
        vec!["SET", "key:12", "custom"],
        vec!["SET", "key:13", "gone", "PX", "1"],
        vec!["SLEEP"],
        vec!["DEBUG", "POPULATE", "20"],
        vec!["DEBUG", "POPULATE", "25"],
        vec!["DEBUG", "POPULATE", "10", "short", "3"],
        vec!["DEBUG", "POPULATE", "10", "padded", "20"],
        vec!["DEBUG", "POPULATE", "10", "exact", "7"],
        vec!["DEBUG", "POPULATE", "3", long_prefix.as_str()],
        vec!["DEBUG", "POPULATE", "0"],
        vec!["DEBUG", "POPULATE", "-1"],
        vec!["DEBUG", "POPULATE", "abc"],
        vec!["DEBUG", "POPULATE", "1", "x", "-5"],
        vec!["DEBUG", "POPULATE", "1", "x", "1", "extra"],
        vec!["DEBUG", "POPULATE"],
        vec!["SELECT", "5"],
        vec!["DEBUG", "POPULATE", "7", "other"],
        vec!["SELECT", "0"],
        vec!["GET", "key:12"],
        vec!["GET", "key:13"],
        vec!["GET", "short:9"],
        vec!["GET", "padded:4"],
        vec!["STRLEN", "exact:1"],
        vec!["DBSIZE"],
        vec!["DEBUG", "DIGEST"],
    ];
    for words in script {
        if words == ["SLEEP"] {
            std::thread::sleep(Duration::from_millis(20));
            continue;
        }
        let command: Command = words.iter().map(|w| w.as_bytes().to_vec()).collect();
        both(&mut r, &mut s, &command);
    }
}
