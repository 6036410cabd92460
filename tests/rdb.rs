//! RDB interoperability with redis-server 7.0, both ways: DUMP payloads
//! passed to RESTORE, a dump.rdb written by redis-server read by Shoal's
//! reader, and a snapshot written by Shoal loaded by redis-server. Every
//! type in small and large encodings, expiries and several databases are
//! compared key by key (contents, OBJECT ENCODING, expiry).

mod support;
#[path = "rdb/dataset.rs"]
mod dataset;

use std::io::{Read, Write};

use shoal_persist::rdb::{self, Item};
use shoal_resp::Value;
use support::{RawClient, ServerProcess};

/// RESTOREs into `to` every key of `from` (DUMP, with the absolute
/// expiry), in every database of the dataset.
fn copy_by_dump(from: &mut RawClient, to: &mut RawClient) {
    for db in dataset::DATABASES {
        let select = format!("SELECT {db}");
        from.cmd(&select);
        to.cmd(&select);
        let Value::Array(keys) = from.cmd("KEYS *") else { panic!() };
        for key in keys {
            let Value::Bulk(key) = key else { panic!() };
            let Value::Bulk(payload) = from.call(&[b"DUMP", &key]) else { panic!("DUMP") };
            let Value::Int(expire) = from.call(&[b"PEXPIRETIME", &key]) else { panic!() };
            let ttl = expire.max(0).to_string();
            let reply = to.call(&[b"RESTORE", &key, ttl.as_bytes(), &payload, b"ABSTTL"]);
            assert_eq!(reply, Value::Simple(b"OK".to_vec()), "RESTORE {}", String::from_utf8_lossy(&key));
        }
    }
    from.cmd("SELECT 0");
    to.cmd("SELECT 0");
}

#[test]
fn dump_payloads_restore_across_servers_in_both_directions() {
    let redis = ServerProcess::redis(&[]);
    let shoal = ServerProcess::shoal(&[]);
    let (mut r, mut s) = (redis.client(), shoal.client());
    dataset::build(&mut r);
    s.cmd("FLUSHALL");
    copy_by_dump(&mut r, &mut s);
    dataset::assert_same(&mut r, &mut s, "redis DUMP -> shoal RESTORE");

    // The other way, from values Shoal built with its own commands.
    let shoal2 = ServerProcess::shoal(&[]);
    let redis2 = ServerProcess::redis(&[]);
    let (mut s2, mut r2) = (shoal2.client(), redis2.client());
    dataset::build(&mut s2);
    copy_by_dump(&mut s2, &mut r2);
    dataset::assert_same(&mut s2, &mut r2, "shoal DUMP -> redis RESTORE");
}

#[test]
fn dump_payloads_are_byte_identical_to_redis_for_the_same_value() {
    // A value restored from Redis's payload dumps back to the same bytes
    // (same encodings, same element forms), except hash
    // tables, whose element order is the table's, and lists of several
    // nodes: Shoal sizes list nodes by its own node encoding, so a long
    // list's nodes split elsewhere than Redis's (same elements). Without
    // compression: the LZF crate's compressor finds other matches than
    // Redis's liblzf (both decompress each other's output).
    let redis = ServerProcess::redis(&["--rdbcompression", "no"]);
    let shoal = ServerProcess::shoal(&["--rdbcompression", "no"]);
    let (mut r, mut s) = (redis.client(), shoal.client());
    dataset::build(&mut r);
    copy_by_dump(&mut r, &mut s);
    let Value::Array(keys) = r.cmd("KEYS *") else { panic!() };
    let mut identical = 0;
    for key in keys {
        let Value::Bulk(key) = key else { panic!() };
        if r.call(&[b"OBJECT", b"ENCODING", &key]) == Value::Bulk(b"hashtable".to_vec()) {
            continue;
        }
        if matches!(r.call(&[b"LLEN", &key]), Value::Int(n) if n > 100) {
            continue;
        }
        let theirs = r.call(&[b"DUMP", &key]);
        let ours = s.call(&[b"DUMP", &key]);
        assert!(ours == theirs, "DUMP {} differs", String::from_utf8_lossy(&key));
        identical += 1;
    }
    assert!(identical > 20);
}

/// Reads an RDB file item by item, RESTOREs each entry into `to` and
/// returns the aux fields seen.
fn load_with_reader(bytes: &[u8], to: &mut RawClient) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut reader = rdb::Reader::new(bytes).expect("RDB header");
    assert_eq!(reader.version(), rdb::RDB_VERSION);
    let limits = rdb::DecodeLimits::default();
    let mut aux = Vec::new();
    let mut entries = 0;
    while let Some(item) = reader.next_item().expect("valid RDB file") {
        match item {
            Item::Aux { key, value } => aux.push((key, value)),
            Item::SelectDb(db) => {
                to.cmd(&format!("SELECT {db}"));
            }
            Item::ResizeDb { keys, .. } => assert!(keys > 0),
            Item::Entry(entry) => {
                let value = entry.decode(&limits).expect("value decodes");
                let payload = rdb::dump_payload(&value, rdb::EncodeOptions { compress: true });
                let ttl = entry.expire_ms.unwrap_or(0).to_string();
                let reply = to.call(&[b"RESTORE", &entry.key, ttl.as_bytes(), &payload, b"ABSTTL"]);
                assert_eq!(reply, Value::Simple(b"OK".to_vec()));
                entries += 1;
            }
            Item::Function(_) => panic!("no functions in this dataset"),
        }
    }
    assert!(entries > 20);
    to.cmd("SELECT 0");
    aux
}

#[test]
fn redis_dump_rdb_is_read_by_the_file_reader() {
    for compression in ["yes", "no"] {
        let redis = ServerProcess::redis(&["--rdbcompression", compression]);
        let shoal = ServerProcess::shoal(&[]);
        let (mut r, mut s) = (redis.client(), shoal.client());
        dataset::build(&mut r);
        assert_eq!(r.cmd("SAVE"), Value::Simple(b"OK".to_vec()));
        let bytes = std::fs::read(redis.dir.path().join("dump.rdb")).unwrap();
        let aux = load_with_reader(&bytes, &mut s);
        assert!(aux.iter().any(|(k, v)| k == b"redis-ver" && v.starts_with(b"7.0")), "{aux:?}");
        dataset::assert_same(&mut r, &mut s, "redis dump.rdb -> reader");
        // Through io::Read in small pieces too.
        let mut reader = rdb::Reader::new(Trickle { data: &bytes, at: 0 }).unwrap();
        let mut count = 0;
        while let Some(item) = reader.next_item().unwrap() {
            count += matches!(item, Item::Entry(_)) as usize;
        }
        assert_eq!(reader.consumed() + 8, bytes.len());
        assert!(count > 20);
    }
}

/// A source that returns at most 7 bytes per read.
struct Trickle<'a> {
    data: &'a [u8],
    at: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(7).min(self.data.len() - self.at);
        buf[..n].copy_from_slice(&self.data[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// Sends SYNC and reads the snapshot (`$len` then the RDB bytes); the
/// connection then carries the replication stream.
fn sync_snapshot(c: &mut RawClient) -> Vec<u8> {
    c.send(&[b"SYNC"]);
    let mut header = Vec::new();
    let mut byte = [0u8];
    while !header.ends_with(b"\r\n") {
        c.stream.read_exact(&mut byte).unwrap();
        header.push(byte[0]);
    }
    assert_eq!(header[0], b'$');
    let len: usize = std::str::from_utf8(&header[1..header.len() - 2]).unwrap().parse().unwrap();
    let mut rdb = vec![0u8; len];
    c.stream.read_exact(&mut rdb).unwrap();
    rdb
}

#[test]
fn shoal_snapshot_loads_in_redis_server() {
    for (compression, checksum) in [("yes", "yes"), ("no", "no")] {
        let shoal = ServerProcess::shoal(&["--rdbcompression", compression, "--rdbchecksum", checksum]);
        let mut s = shoal.client();
        dataset::build(&mut s);
        let bytes = sync_snapshot(&mut shoal.client());
        assert!(bytes.starts_with(b"REDIS0010"));
        let crc = u64::from_le_bytes(bytes[bytes.len() - 8..].try_into().unwrap());
        assert_eq!(crc == 0, checksum == "no");
        let dir = tempfile::tempdir().unwrap();
        std::fs::File::create(dir.path().join("dump.rdb")).unwrap().write_all(&bytes).unwrap();
        let dir_arg = dir.path().display().to_string();
        let redis = ServerProcess::redis(&["--dir", &dir_arg, "--dbfilename", "dump.rdb"]);
        let mut r = redis.client();
        dataset::assert_same(&mut s, &mut r, "shoal snapshot -> redis-server start-up");
        // And Shoal's own reader reads it back.
        let shoal2 = ServerProcess::shoal(&[]);
        let mut s2 = shoal2.client();
        load_with_reader(&bytes, &mut s2);
        dataset::assert_same(&mut s, &mut s2, "shoal snapshot -> reader");
    }
}

/// Sends the same commands to both servers and compares the replies.
fn same_replies(r: &mut RawClient, s: &mut RawClient, commands: &[Vec<Vec<u8>>]) {
    for args in commands {
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_slice()).collect();
        let (theirs, ours) = (r.call(&args), s.call(&args));
        assert_eq!(ours, theirs, "{:?}", String::from_utf8_lossy(&args.join(&b' ')));
    }
}

fn line(words: &[&[u8]]) -> Vec<Vec<u8>> {
    words.iter().map(|w| w.to_vec()).collect()
}

#[test]
fn restore_errors_and_options_match_redis() {
    let redis = ServerProcess::redis(&[]);
    let shoal = ServerProcess::shoal(&[]);
    let (mut r, mut s) = (redis.client(), shoal.client());
    r.cmd("RPUSH src a b c");
    let Value::Bulk(good) = r.cmd("DUMP src") else { panic!() };
    let mut bad_crc = good.clone();
    *bad_crc.last_mut().unwrap() ^= 1;
    let mut newer = good.clone();
    let n = newer.len();
    newer[n - 10] = 11;
    // A payload with a valid footer around a corrupt value.
    let mut corrupt = good[..good.len() - 10].to_vec();
    corrupt[3] ^= 0x55;
    corrupt.extend_from_slice(&10u16.to_le_bytes());
    let crc = rdb::crc64(&corrupt);
    corrupt.extend_from_slice(&crc.to_le_bytes());
    let mut footer_only = 10u16.to_le_bytes().to_vec();
    footer_only.extend_from_slice(&rdb::crc64(&footer_only).to_le_bytes());
    let commands = vec![
        line(&[b"DUMP", b"nosuchkey"]),
        line(&[b"RESTORE", b"k", b"0", &good]),
        line(&[b"RESTORE", b"k", b"0", &good]),
        line(&[b"RESTORE", b"k", b"0", &good, b"REPLACE"]),
        line(&[b"LRANGE", b"k", b"0", b"-1"]),
        line(&[b"RESTORE", b"k2", b"-1", &good]),
        line(&[b"RESTORE", b"k2", b"abc", &good]),
        line(&[b"RESTORE", b"k2", b"0", &bad_crc]),
        line(&[b"RESTORE", b"k2", b"0", &newer]),
        line(&[b"RESTORE", b"k2", b"0", &corrupt]),
        line(&[b"RESTORE", b"k2", b"0", &footer_only]),
        line(&[b"RESTORE", b"k2", b"0", b"short"]),
        line(&[b"RESTORE", b"k2", b"0", &good, b"IDLETIME", b"-1"]),
        line(&[b"RESTORE", b"k2", b"0", &good, b"FREQ", b"256"]),
        line(&[b"RESTORE", b"k2", b"0", &good, b"FREQ", b"1", b"IDLETIME", b"1"]),
        line(&[b"RESTORE", b"k2", b"0", &good, b"IDLETIME"]),
        line(&[b"RESTORE", b"k2", b"0", &good, b"BOGUS"]),
        line(&[b"RESTORE", b"k2", b"0", &good, b"IDLETIME", b"1000"]),
        line(&[b"OBJECT", b"IDLETIME", b"k2"]),
        line(&[b"RESTORE", b"k3", b"1", &good, b"ABSTTL"]),
        line(&[b"EXISTS", b"k3"]),
        line(&[b"RESTORE", b"k", b"1", &good, b"ABSTTL", b"REPLACE"]),
        line(&[b"EXISTS", b"k"]),
        line(&[b"RESTORE", b"k4", b"100000", &good]),
        line(&[b"PTTL", b"k4"]),
        line(&[b"RESTORE"]),
    ];
    same_replies(&mut r, &mut s, &commands[..24]);
    // PTTL after a relative TTL is close to, not exactly, the same.
    let Value::Int(ttl) = s.cmd("PTTL k4") else { panic!() };
    assert!((99_000..=100_000).contains(&ttl), "{ttl}");
    same_replies(&mut r, &mut s, &commands[25..]);
}

#[test]
fn restore_fires_its_keyspace_event_and_propagates_an_absolute_ttl() {
    let shoal = ServerProcess::shoal(&["--notify-keyspace-events", "KEA"]);
    let mut s = shoal.client();
    let mut sub = shoal.client();
    sub.cmd("PSUBSCRIBE __keyevent@0__:*");
    s.cmd("SET src v");
    let Value::Bulk(payload) = s.cmd("DUMP src") else { panic!() };
    s.call(&[b"RESTORE", b"dst", b"0", &payload]);
    let mut events = Vec::new();
    while events.len() < 2 {
        let Value::Array(msg) = sub.read() else { panic!() };
        events.push(msg[2].clone());
    }
    assert!(events.contains(&Value::Bulk(b"__keyevent@0__:restore".to_vec())), "{events:?}");
    // A replica sees RESTORE with an absolute TTL (ABSTTL appended).
    let mut replica = shoal.client();
    sync_snapshot(&mut replica);
    s.call(&[b"RESTORE", b"ttl_key", b"50000", &payload]);
    let mut stream = Vec::new();
    while !String::from_utf8_lossy(&stream).contains("ABSTTL") {
        let mut chunk = [0u8; 4096];
        let n = replica.stream.read(&mut chunk).unwrap();
        assert!(n > 0);
        stream.extend_from_slice(&chunk[..n]);
    }
    let text = String::from_utf8_lossy(&stream);
    assert!(text.contains("RESTORE") && !text.contains("\r\n50000\r\n"), "{text}");
}
