//! maxmemory eviction (every maxmemory-policy), LFU access counters
//! (OBJECT FREQ), and what an eviction does beyond freeing memory: the
//! `evicted` keyspace event, DEL on the replication stream, WATCH
//! invalidation, INFO evicted_keys. Also `keymiss` events.

mod support;

use std::io::Read;
use std::time::{Duration, Instant};

use shoal_resp::Value;
use support::{bulk, simple, RawClient, ServerProcess};

fn info_number(c: &mut RawClient, field: &str) -> i64 {
    let Value::Bulk(text) = c.cmd("INFO everything") else { panic!("INFO failed") };
    let prefix = format!("{field}:");
    String::from_utf8_lossy(&text)
        .lines()
        .find_map(|l| l.strip_prefix(&prefix).map(|v| v.trim().parse().unwrap()))
        .unwrap_or_else(|| panic!("INFO has no {field}"))
}

fn exists(c: &mut RawClient, key: &str) -> bool {
    c.call(&[b"EXISTS", key.as_bytes()]) == Value::Int(1)
}

/// Writes `n` keys `prefix:i` of `size` bytes, optionally with EX `ttl(i)`.
fn fill(c: &mut RawClient, prefix: &str, n: usize, size: usize, ttl: Option<&dyn Fn(usize) -> u64>) -> Vec<Value> {
    let value = vec![b'x'; size];
    let mut replies = Vec::new();
    for i in 0..n {
        let key = format!("{prefix}:{i}");
        let reply = match ttl {
            Some(ttl) => c.call(&[b"SET", key.as_bytes(), &value, b"EX", ttl(i).to_string().as_bytes()]),
            None => c.call(&[b"SET", key.as_bytes(), &value]),
        };
        replies.push(reply);
    }
    replies
}

fn is_oom(reply: &Value) -> bool {
    matches!(reply, Value::Error(e) if e.starts_with(b"OOM command not allowed when used memory > 'maxmemory'"))
}

/// Under allkeys-lru, keys read recently survive a wave of evictions far
/// better than keys idle for seconds; used_memory stays near maxmemory.
#[test]
fn allkeys_lru_keeps_recently_used_keys() {
    let server = ServerProcess::shoal(&[]);
    let mut c = server.client();
    assert_eq!(c.cmd("CONFIG SET maxmemory-policy allkeys-lru"), simple("OK"));
    fill(&mut c, "a", 1000, 1000, None);
    // The LRU clock counts seconds.
    std::thread::sleep(Duration::from_millis(2100));
    for i in 0..500 {
        c.call(&[b"GET", format!("a:{i}").as_bytes()]);
    }
    let used = info_number(&mut c, "used_memory");
    let limit = used + 200 * 1024;
    assert_eq!(c.cmd(&format!("CONFIG SET maxmemory {limit}")), simple("OK"));
    let replies = fill(&mut c, "b", 1000, 1000, None);
    assert!(replies.iter().all(|r| *r == simple("OK")), "allkeys-lru never refuses a SET");
    assert!(info_number(&mut c, "evicted_keys") > 500);
    assert!(info_number(&mut c, "used_memory") < limit + 64 * 1024);
    let recent = (0..500).filter(|i| exists(&mut c, &format!("a:{i}"))).count();
    let idle = (500..1000).filter(|i| exists(&mut c, &format!("a:{i}"))).count();
    assert!(recent > 2 * idle + 50, "recently read keys survived: {recent}, idle ones: {idle}");
}

/// volatile-* policies evict only keys with a TTL and refuse writes with
/// OOM once none is left; volatile-ttl takes the shortest TTLs first.
#[test]
fn volatile_policies_evict_only_keys_with_a_ttl() {
    for policy in ["volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl"] {
        let server = ServerProcess::shoal(&[]);
        let mut c = server.client();
        assert_eq!(c.cmd(&format!("CONFIG SET maxmemory-policy {policy}")), simple("OK"));
        fill(&mut c, "persistent", 300, 1000, None);
        fill(&mut c, "volatile", 300, 1000, Some(&|i| 1000 + i as u64));
        let used = info_number(&mut c, "used_memory");
        assert_eq!(c.cmd(&format!("CONFIG SET maxmemory {}", used + 50 * 1024)), simple("OK"));
        // 150 more keys: about 100 volatile keys must go.
        let replies = fill(&mut c, "more", 150, 1000, None);
        assert!(replies.iter().all(|r| *r == simple("OK")), "{policy}: volatile keys were left to evict");
        assert!((0..300).all(|i| exists(&mut c, &format!("persistent:{i}"))), "{policy} evicted a key without TTL");
        let gone = (0..300).filter(|i| !exists(&mut c, &format!("volatile:{i}"))).count();
        assert!(gone >= 50, "{policy}: {gone} volatile keys evicted");
        if policy == "volatile-ttl" {
            let short = (0..100).filter(|i| !exists(&mut c, &format!("volatile:{i}"))).count();
            let long = (200..300).filter(|i| !exists(&mut c, &format!("volatile:{i}"))).count();
            assert!(short > 2 * long, "volatile-ttl evicted {short} of the shortest TTLs, {long} of the longest");
        }
        // Keep writing: once no key has a TTL, writes are refused.
        let replies = fill(&mut c, "flood", 1000, 1000, None);
        assert!(replies.iter().any(is_oom), "{policy}: no OOM once every volatile key is gone");
        assert!((0..300).all(|i| exists(&mut c, &format!("persistent:{i}"))), "{policy} evicted a key without TTL");
        // Reads still work, and so does a DEL (not denyoom).
        assert_eq!(c.cmd("GET volatile:none"), Value::Null);
        assert_eq!(c.cmd("DEL persistent:0"), Value::Int(1));
    }
}

/// noeviction refuses writes that may grow memory, as before.
#[test]
fn noeviction_refuses_writes_over_the_limit() {
    let server = ServerProcess::shoal(&[]);
    let mut c = server.client();
    fill(&mut c, "k", 100, 1000, None);
    assert_eq!(c.cmd("CONFIG SET maxmemory 1"), simple("OK"));
    assert!(is_oom(&c.cmd("SET x y")));
    assert_eq!(c.cmd("DBSIZE"), Value::Int(100));
    assert_eq!(info_number(&mut c, "evicted_keys"), 0);
    assert_eq!(c.cmd("CONFIG SET maxmemory 0"), simple("OK"));
    assert_eq!(c.cmd("SET x y"), simple("OK"));
}

fn read_bulk_header(replica: &mut RawClient) -> usize {
    let mut header = Vec::new();
    let mut byte = [0u8; 1];
    while !header.ends_with(b"\r\n") {
        replica.stream.read_exact(&mut byte).unwrap();
        header.push(byte[0]);
    }
    std::str::from_utf8(&header[1..header.len() - 2]).unwrap().parse().unwrap()
}

/// Each evicted key is a deletion like any other: `evicted` event, DEL to
/// replicas, WATCH invalidated, evicted_keys counted.
#[test]
fn an_evicted_key_is_deleted_everywhere() {
    let server = ServerProcess::shoal(&[]);
    let mut c = server.client();
    assert_eq!(c.cmd("CONFIG SET notify-keyspace-events KEe"), simple("OK"));
    let mut replica = server.client();
    replica.send_raw(b"SYNC\r\n");
    let len = read_bulk_header(&mut replica);
    let mut rdb = vec![0u8; len];
    replica.stream.read_exact(&mut rdb).unwrap();
    let mut sub = server.client();
    sub.cmd("SUBSCRIBE __keyevent@0__:evicted");
    let mut watcher = server.client();
    for k in ["k1", "k2", "k3"] {
        c.call(&[b"SET", k.as_bytes(), b"value"]);
    }
    assert_eq!(watcher.cmd("WATCH k2"), simple("OK"));
    assert_eq!(c.cmd("CONFIG SET maxmemory-policy allkeys-random"), simple("OK"));
    assert_eq!(c.cmd("CONFIG SET maxmemory 1"), simple("OK"));
    let deadline = Instant::now() + Duration::from_secs(10);
    while c.cmd("DBSIZE") != Value::Int(0) {
        assert!(Instant::now() < deadline, "keys were not evicted");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(c.cmd("CONFIG SET maxmemory 0"), simple("OK"));
    assert_eq!(info_number(&mut c, "evicted_keys"), 3);
    assert_eq!(watcher.cmd("MULTI"), simple("OK"));
    assert_eq!(watcher.cmd("SET k2 again"), simple("QUEUED"));
    assert_eq!(watcher.cmd("EXEC"), Value::NullArray, "the eviction of a watched key aborts EXEC");
    let mut evicted = Vec::new();
    for _ in 0..3 {
        let Value::Array(message) = sub.read() else { panic!("not a message") };
        assert_eq!(message[1], bulk("__keyevent@0__:evicted"));
        evicted.push(message[2].clone());
    }
    evicted.sort_by_key(|v| format!("{v:?}"));
    assert_eq!(evicted, vec![bulk("k1"), bulk("k2"), bulk("k3")]);
    assert_eq!(replica.read(), Value::Array(vec![bulk("SELECT"), bulk("0")]));
    for k in ["k1", "k2", "k3"] {
        assert_eq!(replica.read(), Value::Array(vec![bulk("SET"), bulk(k), bulk("value")]));
    }
    let mut deleted = Vec::new();
    for _ in 0..3 {
        let Value::Array(del) = replica.read() else { panic!("not a command") };
        assert_eq!(del[0], bulk("DEL"), "each eviction propagates a DEL of its own");
        assert_eq!(del.len(), 2);
        deleted.push(del[1].clone());
    }
    deleted.sort_by_key(|v| format!("{v:?}"));
    assert_eq!(deleted, vec![bulk("k1"), bulk("k2"), bulk("k3")]);
}

/// OBJECT FREQ reports the LFU counter under an LFU policy (5 for a new
/// key, one more per access with lfu-log-factor 0) and errors otherwise,
/// as OBJECT IDLETIME errors under LFU. LFU evicts rarely used keys first.
#[test]
fn lfu_counters_and_object_freq() {
    let server = ServerProcess::shoal(&[]);
    let mut c = server.client();
    c.cmd("SET k v");
    let not_lfu = c.cmd("OBJECT FREQ k");
    assert!(matches!(&not_lfu, Value::Error(e) if e.starts_with(b"ERR An LFU maxmemory policy is not selected")), "{not_lfu:?}");
    assert_eq!(c.cmd("OBJECT FREQ missing"), Value::Null);
    assert_eq!(c.cmd("CONFIG SET maxmemory-policy allkeys-lfu"), simple("OK"));
    assert_eq!(c.cmd("CONFIG SET lfu-log-factor 0"), simple("OK"));
    c.cmd("SET fresh v");
    assert_eq!(c.cmd("OBJECT FREQ fresh"), Value::Int(5));
    for _ in 0..10 {
        c.cmd("GET fresh");
    }
    assert_eq!(c.cmd("OBJECT FREQ fresh"), Value::Int(15));
    let idle = c.cmd("OBJECT IDLETIME fresh");
    assert!(matches!(&idle, Value::Error(e) if e.starts_with(b"ERR An LFU maxmemory policy is selected")), "{idle:?}");
    // Eviction prefers the keys read least.
    assert_eq!(c.cmd("CONFIG SET lfu-log-factor 10"), simple("OK"));
    fill(&mut c, "a", 600, 1000, None);
    for _ in 0..5 {
        for i in 0..300 {
            c.call(&[b"GET", format!("a:{i}").as_bytes()]);
        }
    }
    let used = info_number(&mut c, "used_memory");
    assert_eq!(c.cmd(&format!("CONFIG SET maxmemory {}", used + 50 * 1024)), simple("OK"));
    fill(&mut c, "b", 300, 1000, None);
    let hot = (0..300).filter(|i| exists(&mut c, &format!("a:{i}"))).count();
    let cold = (300..600).filter(|i| exists(&mut c, &format!("a:{i}"))).count();
    assert!(hot > cold + 50, "frequently read keys survived: {hot}, others: {cold}");
}

/// Integers are reported unshared (refcount 1) while an LRU or LFU policy
/// with maxmemory needs every key's own access data, as in Redis.
#[test]
fn shared_integers_follow_the_policy() {
    let server = ServerProcess::shoal(&[]);
    let mut c = server.client();
    c.cmd("SET a 1");
    assert_eq!(c.cmd("OBJECT REFCOUNT a"), Value::Int(i32::MAX as i64));
    c.cmd("CONFIG SET maxmemory 1073741824");
    c.cmd("CONFIG SET maxmemory-policy allkeys-random");
    assert_eq!(c.cmd("OBJECT REFCOUNT a"), Value::Int(i32::MAX as i64));
    c.cmd("CONFIG SET maxmemory-policy volatile-lru");
    assert_eq!(c.cmd("OBJECT REFCOUNT a"), Value::Int(1));
}

/// `keymiss` (class m) fires on read lookups that miss (GET, EXISTS,
/// TYPE, TTL, a missing source of SUNIONSTORE), not on writes or OBJECT.
#[test]
fn keymiss_events_on_read_misses() {
    for server in [ServerProcess::shoal(&[]), ServerProcess::redis(&[])] {
        let mut c = server.client();
        assert_eq!(c.cmd("CONFIG SET notify-keyspace-events Km"), simple("OK"));
        let mut sub = server.client();
        sub.cmd("PSUBSCRIBE __keyspace@0__:*");
        c.cmd("SET present 1");
        for command in [
            "GET missing1",
            "GET present",
            "EXISTS missing2",
            "TYPE missing3",
            "TTL missing4",
            "SET missing5 v",
            "DEL missing6",
            "OBJECT ENCODING missing7",
            "SUNIONSTORE dest missing8",
            "HGET missing9 f",
            "LPUSH missing10 x",
        ] {
            c.cmd(command);
        }
        c.cmd("PUBLISH __keyspace@0__:end end");
        let mut got = Vec::new();
        loop {
            let Value::Array(message) = sub.read() else { panic!("not a message") };
            if message[2] == bulk("__keyspace@0__:end") {
                break;
            }
            assert_eq!(message[3], bulk("keymiss"));
            got.push(message[2].clone());
        }
        let want: Vec<Value> = ["missing1", "missing2", "missing3", "missing4", "missing8", "missing9"]
            .iter()
            .map(|k| bulk(&format!("__keyspace@0__:{k}")))
            .collect();
        assert_eq!(got, want);
    }
}
