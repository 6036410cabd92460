//! Differential test of keyspace notifications: Shoal against a real
//! redis-server 7.0.
//!
//! Both servers run with `notify-keyspace-events KEAnm` (every class on both
//! kinds of channel, plus `new`, and `keymiss` for read lookups that miss),
//! and one connection to each is subscribed to `__key*__:*`. A seeded stream of write commands over every
//! type goes to both servers round by round: strings, counters, bitmaps,
//! HyperLogLogs, lists, hashes, sets, sorted sets, geo indexes and streams
//! with consumer groups, collections emptied by pops and removals, the
//! *STORE commands, SORT ... STORE, RENAME, MOVE, COPY, SMOVE, LMOVE,
//! expiry (in the future, in the past, lazy expiry of keys whose TTL ran
//! out), commands in another database and in MULTI/EXEC, and blocking
//! pops served by a push. After each round a marker PUBLISH (on a channel
//! the pattern matches) ends the round's notifications, and the sequence
//! of (channel, message) pairs each subscriber received before it must be
//! identical on both servers, as must every reply.
//!
//! Determinism:
//! - Active expiry is off (`DEBUG SET-ACTIVE-EXPIRE 0`): a key whose time
//!   has passed dies when a command looks it up, so its `expired` event
//!   comes at the same place on both servers. A round may end by giving a
//!   few keys a 20 ms TTL (nothing touches them before the round ends); the
//!   next round starts 60 ms later, when they are expired on both servers.
//! - Nothing random: SPOP pops whole sets (or a one-member set), stream ids
//!   are explicit, scores are small integers (ties ordered by member),
//!   no SCAN, KEYS or RANDOMKEY (they would expire keys in table order).
//! - Blocking: a waiter connection sends a blocking command on keys just
//!   deleted, the test waits until INFO reports it blocked, then a push
//!   serves it; its events follow the push's, as in Redis.
//!
//! `DIFF_SEED=<n>` runs one seed, `DIFF_SEEDS=<n>` seeds 0..n.

#[path = "differential/harness.rs"]
mod harness;
mod support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use harness::{describe, escape, Argv, Rng};
use shoal_resp::Value;
use support::{RawClient, ServerProcess};

/// Seeds run by default: 0..SEEDS.
const SEEDS: u64 = 24;
/// Rounds per seed.
const ROUNDS: usize = 40;
/// The TTL given at the end of a round, and the pause before the next.
const SHORT_TTL_MS: &str = "20";
const PAUSE: Duration = Duration::from_millis(60);
/// The test must see at least this many events on each server.
const MIN_EVENTS: usize = 20_000;

/// Every event name the run must produce (on redis-server, the reference):
/// the test is only as good as what it exercises.
#[rustfmt::skip]
const REQUIRED: &[&str] = &[
    "new", "expired", "del", "expire", "persist", "rename_from", "rename_to", "move_from", "move_to", "copy_to",
    "set", "setrange", "incrby", "incrbyfloat", "append", "setbit", "pfadd", "lpush", "rpush", "lpop", "rpop",
    "linsert", "lset", "ltrim", "lrem", "sortstore", "sadd", "srem", "spop", "sinterstore", "sunionstore",
    "sdiffstore", "hset", "hdel", "hincrby", "hincrbyfloat", "zadd", "zincr", "zrem", "zremrangebyrank",
    "zremrangebyscore", "zremrangebylex", "zpopmin", "zpopmax", "zunionstore", "zinterstore", "zdiffstore",
    "zrangestore", "geosearchstore", "georadiusstore", "xadd", "xtrim", "xdel", "xsetid", "xgroup-create",
    "xgroup-createconsumer", "xgroup-delconsumer", "xgroup-destroy", "xgroup-setid", "keymiss",
];

macro_rules! argv {
    ($($x:expr),* $(,)?) => { vec![$(AsRef::<[u8]>::as_ref(&$x).to_vec()),*] };
}

// ---------------------------------------------------------------------------
// Generation

#[derive(Clone, Copy)]
enum Kind {
    Str,
    List,
    Hash,
    Set,
    Zset,
    Stream,
    Hll,
    Bits,
    Geo,
}

const KINDS: [Kind; 9] =
    [Kind::Str, Kind::List, Kind::Hash, Kind::Set, Kind::Zset, Kind::Stream, Kind::Hll, Kind::Bits, Kind::Geo];

fn pool(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::Str => &["s1", "s2", "s3"],
        Kind::List => &["l1", "l2", "l3"],
        Kind::Hash => &["h1", "h2"],
        Kind::Set => &["t1", "t2", "t3"],
        Kind::Zset => &["z1", "z2", "z3"],
        Kind::Stream => &["x1", "x2"],
        Kind::Hll => &["p1", "p2"],
        Kind::Bits => &["b1", "b2"],
        Kind::Geo => &["g1", "g2"],
    }
}

const MEMBERS: &[&str] = &["a", "b", "c", "d", "1", "2", "3"];
const FIELDS: &[&str] = &["f1", "f2", "f3"];
const NUMBERS: &[&str] = &["1", "2", "5", "-3", "10", "0"];
const FLOATS: &[&str] = &["1.5", "-0.25", "3e2", "0.1", "7"];
const GROUPS: &[&str] = &["g1", "g2"];
const CONSUMERS: &[&str] = &["c1", "c2", "c3"];
const POINTS: &[(&str, &str)] =
    &[("13.361389", "38.115556"), ("15.087269", "37.502669"), ("13.5", "38.0"), ("14.2", "37.9")];

struct Gen {
    rng: Rng,
    /// The database the command connection is in while generating.
    db: u8,
    /// The next explicit stream id's milliseconds part.
    stream_ms: u64,
    /// Stream ids used so far (for XDEL, XCLAIM, XACK, MINID).
    stream_ids: Vec<String>,
    /// Generating commands queued in MULTI (no unordered replies there).
    in_multi: bool,
}

/// A round: commands, maybe a blocking scenario, maybe short TTLs.
struct Round {
    commands: Vec<Argv>,
    scenario: Option<Scenario>,
    expiring: Vec<Argv>,
}

/// A waiter blocks with `wait` after `setup`; `push` serves it.
struct Scenario {
    setup: Vec<Argv>,
    wait: Argv,
    push: Vec<Argv>,
}

impl Gen {
    fn new(seed: u64) -> Gen {
        Gen { rng: Rng::new(seed, 0xE7E7_0001), db: 0, stream_ms: 1, stream_ids: Vec::new(), in_multi: false }
    }

    fn pick(&mut self, items: &[&'static str]) -> &'static str {
        *self.rng.pick(items)
    }

    /// A key of `kind`, now and then one of another type.
    fn key(&mut self, kind: Kind) -> &'static str {
        let kind = if self.rng.percent(8) { *self.rng.pick(&KINDS) } else { kind };
        self.pick(pool(kind))
    }

    fn member(&mut self) -> &'static str {
        self.pick(MEMBERS)
    }

    fn members(&mut self, max: i64) -> Vec<&'static str> {
        (0..self.rng.range(1, max)).map(|_| self.member()).collect()
    }

    fn number(&mut self) -> &'static str {
        self.pick(NUMBERS)
    }

    fn score(&mut self) -> String {
        self.rng.range(0, 5).to_string()
    }

    fn next_stream_id(&mut self) -> String {
        self.stream_ms += self.rng.range(1, 3) as u64;
        let id = format!("{}-1", self.stream_ms);
        self.stream_ids.push(id.clone());
        id
    }

    fn used_stream_id(&mut self) -> String {
        if self.stream_ids.is_empty() || self.rng.percent(10) {
            return "1-1".into();
        }
        let i = self.rng.below(self.stream_ids.len() as u64) as usize;
        self.stream_ids[i].clone()
    }

    fn round(&mut self) -> Round {
        let mut commands = Vec::new();
        for _ in 0..self.rng.range(12, 30) {
            commands.extend(self.step());
        }
        let scenario = self.rng.percent(20).then(|| self.scenario());
        let mut expiring = Vec::new();
        if self.rng.percent(35) {
            for _ in 0..self.rng.range(1, 3) {
                expiring.push(self.short_ttl());
            }
        }
        Round { commands, scenario, expiring }
    }

    /// One or a few commands (a database switch or a transaction).
    fn step(&mut self) -> Vec<Argv> {
        match self.rng.below(100) {
            0..=2 => {
                let mut out = vec![argv!["SELECT", "1"]];
                self.db = 1;
                for _ in 0..self.rng.range(1, 4) {
                    out.push(self.command());
                }
                self.db = 0;
                out.push(argv!["SELECT", "0"]);
                out
            }
            6 => {
                // A one-member set popped empty: SPOP without a count, and
                // nothing random about it.
                vec![argv!["DEL", "one"], argv!["SADD", "one", self.member()], argv!["SPOP", "one"]]
            }
            7..=8 => {
                // Lexicographic ranges on a sorted set whose scores are all
                // equal (with mixed scores their result is unspecified).
                let mut add = argv!["ZADD", "lex"];
                for m in self.members(5) {
                    add.extend(argv!["0", m]);
                }
                let min = self.pick(&["-", "[a", "(b", "[1"]);
                let max = self.pick(&["+", "[c", "(d", "[b"]);
                let range = if self.rng.percent(50) {
                    argv!["ZREMRANGEBYLEX", "lex", min, max]
                } else {
                    argv!["ZRANGESTORE", self.key(Kind::Zset), "lex", max, min, "BYLEX", "REV"]
                };
                vec![argv!["DEL", "lex"], add, range]
            }
            3..=5 => {
                let mut out = vec![argv!["MULTI"]];
                self.in_multi = true;
                for _ in 0..self.rng.range(2, 4) {
                    out.push(self.command());
                }
                self.in_multi = false;
                out.push(argv!["EXEC"]);
                out
            }
            _ => vec![self.command()],
        }
    }

    fn command(&mut self) -> Argv {
        match self.rng.weighted(&[10, 10, 6, 7, 9, 9, 3, 4, 4, 9]) {
            0 => self.string(),
            1 => self.list(),
            2 => self.hash(),
            3 => self.set(),
            4 => self.zset(),
            5 => self.stream(),
            6 => self.hll(),
            7 => self.bits(),
            8 => self.geo(),
            _ => self.keyspace(),
        }
    }

    fn string(&mut self) -> Argv {
        let k = self.key(Kind::Str);
        let v = if self.rng.percent(50) { self.number() } else { self.member() };
        match self.rng.below(20) {
            0..=3 => {
                let mut a = argv!["SET", k, v];
                match self.rng.below(9) {
                    0 => a.extend(argv!["EX", "1000"]),
                    1 => a.extend(argv!["PX", "100000"]),
                    2 => a.extend(argv!["KEEPTTL"]),
                    3 => a.extend(argv!["NX"]),
                    4 => a.extend(argv!["XX"]),
                    5 => a.extend(argv!["GET"]),
                    6 => a.extend(argv!["PXAT", "1"]),
                    7 => a.extend(argv!["XX", "GET", "EX", "500"]),
                    _ => {}
                }
                a
            }
            4 => argv!["SETNX", k, v],
            5 => argv!["SETEX", k, "1000", v],
            6 => argv!["PSETEX", k, "100000", v],
            7 => argv!["GETSET", k, v],
            8 => argv!["GETDEL", k],
            9 => {
                let mut a = argv!["GETEX", k];
                match self.rng.below(5) {
                    0 => a.extend(argv!["EX", "1000"]),
                    1 => a.extend(argv!["PERSIST"]),
                    2 => a.extend(argv!["PXAT", "1"]),
                    3 => a.extend(argv!["EXAT", "4102444800"]),
                    _ => {}
                }
                a
            }
            10 => {
                let k2 = self.key(Kind::Str);
                let v2 = self.number();
                argv![if self.rng.percent(60) { "MSET" } else { "MSETNX" }, k, v, k2, v2]
            }
            11 => argv!["APPEND", k, v],
            12 => {
                let value = if self.rng.percent(15) { "" } else { v };
                argv!["SETRANGE", k, self.rng.range(0, 6).to_string(), value]
            }
            13 => argv!["INCR", k],
            14 => argv!["DECR", k],
            15 => argv!["INCRBY", k, self.number()],
            16 => argv!["DECRBY", k, self.number()],
            17 => argv!["INCRBYFLOAT", k, self.pick(FLOATS)],
            _ => argv!["SET", k, self.number()],
        }
    }

    fn list(&mut self) -> Argv {
        let k = self.key(Kind::List);
        let end = |g: &mut Gen| if g.rng.percent(50) { "LEFT" } else { "RIGHT" };
        match self.rng.below(22) {
            0..=3 => {
                let mut a = argv![self.pick(&["LPUSH", "RPUSH", "LPUSH", "RPUSH", "LPUSHX", "RPUSHX"]), k];
                a.extend(self.members(3).iter().map(|m| m.as_bytes().to_vec()));
                a
            }
            4..=6 => {
                let mut a = argv![self.pick(&["LPOP", "RPOP"]), k];
                if self.rng.percent(40) {
                    a.push(self.rng.range(0, 3).to_string().into_bytes());
                }
                a
            }
            7 => argv!["LSET", k, self.rng.range(-3, 3).to_string(), self.member()],
            8 => argv!["LINSERT", k, self.pick(&["BEFORE", "AFTER"]), self.member(), self.member()],
            9 => argv!["LTRIM", k, self.rng.range(-2, 2).to_string(), self.rng.range(-3, 3).to_string()],
            10 => argv!["LREM", k, self.rng.range(-2, 2).to_string(), self.member()],
            11..=13 => {
                let dst = self.key(Kind::List);
                argv!["LMOVE", k, dst, end(self), end(self)]
            }
            14 => {
                let dst = self.key(Kind::List);
                argv!["RPOPLPUSH", k, dst]
            }
            15 => {
                let k2 = self.key(Kind::List);
                let mut a = argv!["LMPOP", "2", k, k2, end(self)];
                if self.rng.percent(60) {
                    a.extend(argv!["COUNT", self.rng.range(1, 4).to_string()]);
                }
                a
            }
            _ => {
                let mut a = argv!["RPUSH", k];
                a.extend(self.members(4).iter().map(|m| m.as_bytes().to_vec()));
                a
            }
        }
    }

    fn hash(&mut self) -> Argv {
        let k = self.key(Kind::Hash);
        let f = self.pick(FIELDS);
        match self.rng.below(10) {
            0..=2 => {
                let mut a = argv![self.pick(&["HSET", "HSET", "HMSET"]), k, f, self.number()];
                if self.rng.percent(40) {
                    a.extend(argv![self.pick(FIELDS), self.member()]);
                }
                a
            }
            3 => argv!["HSETNX", k, f, self.number()],
            4..=5 => {
                let mut a = argv!["HDEL", k, f];
                if self.rng.percent(40) {
                    a.push(self.pick(FIELDS).as_bytes().to_vec());
                }
                a
            }
            6..=7 => argv!["HINCRBY", k, f, self.number()],
            _ => argv!["HINCRBYFLOAT", k, f, self.pick(FLOATS)],
        }
    }

    fn set(&mut self) -> Argv {
        let k = self.key(Kind::Set);
        match self.rng.below(14) {
            0..=3 => {
                let mut a = argv!["SADD", k];
                a.extend(self.members(3).iter().map(|m| m.as_bytes().to_vec()));
                a
            }
            4..=6 => {
                let mut a = argv!["SREM", k];
                a.extend(self.members(3).iter().map(|m| m.as_bytes().to_vec()));
                a
            }
            7..=8 => {
                let dst = self.key(Kind::Set);
                argv!["SMOVE", k, dst, self.member()]
            }
            // Pops every member: nothing random (the reply, a set, is
            // compared sorted; not in MULTI, where it would be nested).
            9 if !self.in_multi => argv!["SPOP", k, "10"],
            _ => {
                let cmd = self.pick(&["SINTERSTORE", "SUNIONSTORE", "SDIFFSTORE"]);
                let dst = self.key(Kind::Set);
                let mut a = argv![cmd, dst, k];
                for _ in 0..self.rng.range(0, 2) {
                    a.push(self.key(Kind::Set).as_bytes().to_vec());
                }
                a
            }
        }
    }

    fn zset(&mut self) -> Argv {
        let k = self.key(Kind::Zset);
        match self.rng.below(22) {
            0..=4 => {
                let mut a = argv!["ZADD", k];
                let flags = self.pick(&["", "", "", "NX", "XX", "GT", "LT", "CH", "XX CH", "INCR", "GT CH"]);
                let incr = flags.contains("INCR");
                a.extend(flags.split_whitespace().map(|w| w.as_bytes().to_vec()));
                for _ in 0..if incr { 1 } else { self.rng.range(1, 3) } {
                    a.extend(argv![self.score(), self.member()]);
                }
                a
            }
            5 => argv!["ZINCRBY", k, self.number(), self.member()],
            6..=8 => {
                let mut a = argv!["ZREM", k];
                a.extend(self.members(3).iter().map(|m| m.as_bytes().to_vec()));
                a
            }
            9 => argv!["ZREMRANGEBYRANK", k, self.rng.range(-2, 1).to_string(), self.rng.range(-2, 2).to_string()],
            10 => argv!["ZREMRANGEBYSCORE", k, self.rng.range(0, 3).to_string(), self.pick(&["2", "4", "+inf", "(3"])],
            11..=14 => {
                let mut a = argv![self.pick(&["ZPOPMIN", "ZPOPMAX"]), k];
                if self.rng.percent(50) {
                    a.push(self.rng.range(0, 3).to_string().into_bytes());
                }
                a
            }
            15 => {
                let k2 = self.key(Kind::Zset);
                let mut a = argv!["ZMPOP", "2", k, k2, self.pick(&["MIN", "MAX"])];
                if self.rng.percent(60) {
                    a.extend(argv!["COUNT", self.rng.range(1, 4).to_string()]);
                }
                a
            }
            16..=18 => {
                let cmd = self.pick(&["ZUNIONSTORE", "ZINTERSTORE", "ZDIFFSTORE"]);
                let dst = self.key(Kind::Zset);
                let other = self.key(Kind::Zset);
                argv![cmd, dst, "2", k, other]
            }
            19 => {
                let dst = self.key(Kind::Zset);
                if self.rng.percent(50) {
                    argv!["ZRANGESTORE", dst, k, "0", self.rng.range(-1, 2).to_string()]
                } else {
                    argv!["ZRANGESTORE", dst, k, "2", "4", "BYSCORE"]
                }
            }
            _ => argv!["ZADD", k, self.score(), self.member(), self.score(), self.member()],
        }
    }

    fn stream(&mut self) -> Argv {
        let k = self.key(Kind::Stream);
        let group = self.pick(GROUPS);
        let consumer = self.pick(CONSUMERS);
        match self.rng.below(26) {
            0..=5 => {
                let mut a = argv!["XADD", k];
                match self.rng.below(6) {
                    0 => a.extend(argv!["MAXLEN", self.rng.range(1, 3).to_string()]),
                    1 => a.extend(argv!["NOMKSTREAM"]),
                    2 => {
                        let min = self.used_stream_id();
                        a.extend(argv!["MINID", "=", min]);
                    }
                    _ => {}
                }
                let id = self.next_stream_id();
                a.extend(argv![id, "f", self.member()]);
                a
            }
            6 => argv!["XTRIM", k, "MAXLEN", self.rng.range(0, 3).to_string()],
            7 => {
                let min = self.used_stream_id();
                argv!["XTRIM", k, "MINID", min]
            }
            8 => {
                let id = self.used_stream_id();
                argv!["XDEL", k, id]
            }
            9 => {
                self.stream_ms += 5;
                argv!["XSETID", k, format!("{}-0", self.stream_ms)]
            }
            10..=11 => {
                let mut a = argv!["XGROUP", "CREATE", k, group, self.pick(&["$", "0"])];
                if self.rng.percent(50) {
                    a.extend(argv!["MKSTREAM"]);
                }
                a
            }
            12 => argv!["XGROUP", "CREATECONSUMER", k, group, consumer],
            13 => argv!["XGROUP", "DELCONSUMER", k, group, consumer],
            14 => argv!["XGROUP", "DESTROY", k, group],
            15 => argv!["XGROUP", "SETID", k, group, self.pick(&["0", "$"])],
            16..=19 => {
                let mut a = argv!["XREADGROUP", "GROUP", group, consumer, "COUNT", "2"];
                if self.rng.percent(20) {
                    a.extend(argv!["NOACK"]);
                }
                a.extend(argv!["STREAMS", k, self.pick(&[">", ">", "0"])]);
                a
            }
            20..=21 => {
                let id = self.used_stream_id();
                let mut a = argv!["XCLAIM", k, group, consumer, "0", id];
                if self.rng.percent(40) {
                    a.extend(argv!["FORCE"]);
                }
                if self.rng.percent(30) {
                    a.extend(argv!["JUSTID"]);
                }
                a
            }
            22..=23 => argv!["XAUTOCLAIM", k, group, consumer, "0", "0", "COUNT", "2"],
            _ => {
                let id = self.used_stream_id();
                argv!["XACK", k, group, id]
            }
        }
    }

    fn hll(&mut self) -> Argv {
        let k = self.key(Kind::Hll);
        match self.rng.below(6) {
            0..=2 => {
                let mut a = argv!["PFADD", k];
                for _ in 0..self.rng.range(0, 3) {
                    a.push(self.member().as_bytes().to_vec());
                }
                a
            }
            3 => argv!["PFCOUNT", k],
            _ => {
                let src = self.key(Kind::Hll);
                argv!["PFMERGE", k, src]
            }
        }
    }

    fn bits(&mut self) -> Argv {
        let k = self.key(Kind::Bits);
        match self.rng.below(8) {
            0..=3 => argv!["SETBIT", k, self.rng.range(0, 40).to_string(), self.pick(&["0", "1"])],
            4 => argv![
                "BITFIELD",
                k,
                "SET",
                "u8",
                format!("#{}", self.rng.range(0, 3)),
                self.rng.range(0, 255).to_string()
            ],
            5 => argv![
                "BITFIELD",
                k,
                "OVERFLOW",
                self.pick(&["WRAP", "SAT", "FAIL"]),
                "INCRBY",
                "u4",
                "0",
                self.number()
            ],
            _ => {
                let dst = self.key(Kind::Bits);
                match self.rng.below(4) {
                    0 => argv!["BITOP", "NOT", dst, k],
                    n => {
                        let other = self.key(Kind::Bits);
                        argv!["BITOP", ["AND", "OR", "XOR"][n as usize - 1], dst, k, other]
                    }
                }
            }
        }
    }

    fn geo(&mut self) -> Argv {
        let k = self.key(Kind::Geo);
        let (lon, lat) = *self.rng.pick(POINTS);
        match self.rng.below(10) {
            0..=3 => {
                let mut a = argv!["GEOADD", k];
                if self.rng.percent(20) {
                    a.extend(argv![self.pick(&["NX", "XX", "CH"])]);
                }
                a.extend(argv![lon, lat, self.member()]);
                a
            }
            4..=6 => {
                let dst = self.key(Kind::Geo);
                let mut a = argv!["GEOSEARCHSTORE", dst, k];
                if self.rng.percent(50) {
                    a.extend(argv!["FROMLONLAT", lon, lat]);
                } else {
                    a.extend(argv!["FROMMEMBER", self.member()]);
                }
                a.extend(argv!["BYRADIUS", self.pick(&["1", "100", "300"]), "km"]);
                if self.rng.percent(40) {
                    a.extend(argv!["STOREDIST"]);
                }
                a
            }
            7..=8 => {
                let dst = self.key(Kind::Geo);
                let store = self.pick(&["STORE", "STOREDIST"]);
                argv!["GEORADIUS", k, lon, lat, self.pick(&["1", "200"]), "km", store, dst]
            }
            _ => {
                let dst = self.key(Kind::Geo);
                argv!["GEORADIUSBYMEMBER", k, self.member(), "200", "km", "STORE", dst]
            }
        }
    }

    fn keyspace(&mut self) -> Argv {
        let kind = *self.rng.pick(&KINDS);
        let k = self.pick(pool(kind));
        let other = self.key(kind);
        let other_db = if self.db == 0 { "1" } else { "0" };
        match self.rng.below(24) {
            0..=2 => {
                let kind = *self.rng.pick(&KINDS);
                let extra = self.key(kind);
                argv![self.pick(&["DEL", "DEL", "UNLINK"]), k, extra]
            }
            3..=4 => argv![self.pick(&["RENAME", "RENAMENX"]), k, other],
            5..=6 => argv!["MOVE", k, other_db],
            7..=9 => {
                let mut a = argv!["COPY", k, other];
                if self.rng.percent(40) {
                    a.extend(argv!["DB", other_db]);
                }
                if self.rng.percent(40) {
                    a.extend(argv!["REPLACE"]);
                }
                a
            }
            10..=11 => {
                // A flag compares the new time with the key's: relative
                // times equal to another command's (EX 1000, then EXPIRE
                // 1000 GT) would compare the milliseconds between the two
                // commands, so flagged forms use absolute times.
                if self.rng.percent(40) {
                    let mut a = argv!["EXPIREAT", k, self.pick(&["4102444000", "4102445000", "4102446000"])];
                    a.push(self.pick(&["NX", "XX", "GT", "LT"]).as_bytes().to_vec());
                    a
                } else {
                    argv!["EXPIRE", k, self.pick(&["1000", "2000", "3000"])]
                }
            }
            12 => argv!["EXPIRE", k, "-1"],
            13 => argv!["PEXPIREAT", k, "1"],
            14 => argv!["EXPIREAT", k, "4102444800"],
            15..=16 => argv!["PERSIST", k],
            17..=19 => {
                let kind = *self.rng.pick(&[Kind::List, Kind::Set, Kind::Zset]);
                let src = self.key(kind);
                let dst = self.key(Kind::List);
                let mut a = argv!["SORT", src];
                if self.rng.percent(70) {
                    a.extend(argv!["ALPHA"]);
                }
                if self.rng.percent(30) {
                    a.extend(argv!["DESC"]);
                }
                if self.rng.percent(20) {
                    a.extend(argv!["LIMIT", "0", "2"]);
                }
                a.extend(argv!["STORE", dst]);
                a
            }
            // Reads that expire keys lazily.
            _ => argv![self.pick(&["EXISTS", "TYPE", "TOUCH"]), k],
        }
    }

    fn scenario(&mut self) -> Scenario {
        let (l1, l2) = self.two(Kind::List);
        let z = self.pick(pool(Kind::Zset));
        let x = self.pick(pool(Kind::Stream));
        match self.rng.below(7) {
            0 => Scenario {
                setup: vec![argv!["DEL", l1, l2]],
                wait: argv![self.pick(&["BLPOP", "BRPOP"]), l1, l2, "5"],
                push: vec![
                    argv!["RPUSH", if self.rng.percent(50) { l1 } else { l2 }, "a"],
                    argv!["RPUSH", l2, "b", "c"],
                ],
            },
            1 => Scenario {
                setup: vec![argv!["DEL", l1, l2]],
                wait: argv!["BLMPOP", "5", "2", l1, l2, self.pick(&["LEFT", "RIGHT"]), "COUNT", "2"],
                push: vec![argv!["RPUSH", l2, "a", "b", "c"]],
            },
            2 => Scenario {
                setup: vec![argv!["DEL", l1, l2]],
                wait: argv!["BLMOVE", l1, l2, self.pick(&["LEFT", "RIGHT"]), self.pick(&["LEFT", "RIGHT"]), "5"],
                push: vec![argv!["LPUSH", l1, "a"], argv!["LPUSH", l1, "b", "c"]],
            },
            3 => Scenario {
                setup: vec![argv!["DEL", l1, l2], argv!["RPUSH", l2, "z"]],
                wait: argv!["BRPOPLPUSH", l1, l2, "5"],
                push: vec![argv!["RPUSH", l1, "a"]],
            },
            4 => Scenario {
                setup: vec![argv!["DEL", z]],
                wait: argv![self.pick(&["BZPOPMIN", "BZPOPMAX"]), z, "5"],
                push: vec![argv!["ZADD", z, "1", "a", "2", "b"]],
            },
            5 => Scenario {
                setup: vec![argv!["DEL", z]],
                wait: argv!["BZMPOP", "5", "1", z, self.pick(&["MIN", "MAX"]), "COUNT", "2"],
                push: vec![argv!["ZADD", z, "1", "a", "2", "b"]],
            },
            _ => {
                let group = self.pick(GROUPS);
                let id = self.next_stream_id();
                Scenario {
                    setup: vec![argv!["DEL", x], argv!["XGROUP", "CREATE", x, group, "$", "MKSTREAM"]],
                    wait: argv!["XREADGROUP", "GROUP", group, self.pick(CONSUMERS), "BLOCK", "5000", "STREAMS", x, ">"],
                    push: vec![argv!["XADD", x, id, "f", "v"]],
                }
            }
        }
    }

    /// Two distinct keys of `kind`.
    fn two(&mut self, kind: Kind) -> (&'static str, &'static str) {
        let keys = pool(kind);
        let first = self.rng.below(keys.len() as u64) as usize;
        let second = (first + 1 + self.rng.below(keys.len() as u64 - 1) as usize) % keys.len();
        (keys[first], keys[second])
    }

    /// A command that gives a key a short TTL at the end of a round.
    fn short_ttl(&mut self) -> Argv {
        let kind = *self.rng.pick(&KINDS);
        let k = self.pick(pool(kind));
        match self.rng.below(4) {
            0 => argv!["PSETEX", k, SHORT_TTL_MS, self.member()],
            1 => argv!["SET", k, self.number(), "PX", SHORT_TTL_MS],
            2 => argv!["GETEX", k, "PX", SHORT_TTL_MS],
            _ => argv!["PEXPIRE", k, SHORT_TTL_MS],
        }
    }
}

// ---------------------------------------------------------------------------
// Running

/// One server with its connections: commands, the subscriber, a waiter.
struct Side {
    name: &'static str,
    _server: ServerProcess,
    cmd: RawClient,
    sub: RawClient,
    waiter: RawClient,
    marks: u64,
}

impl Side {
    fn start(name: &'static str, server: ServerProcess) -> Side {
        let mut cmd = server.client();
        for line in ["CONFIG SET notify-keyspace-events KEAnm", "DEBUG SET-ACTIVE-EXPIRE 0"] {
            assert_eq!(cmd.cmd(line), Value::Simple(b"OK".to_vec()), "{name}: {line}");
        }
        let mut sub = server.client();
        let reply = sub.cmd("PSUBSCRIBE __key*__:*");
        assert!(matches!(reply, Value::Array(ref items) if items.len() == 3), "{name}: PSUBSCRIBE replied {reply:?}");
        let waiter = server.client();
        Side { name, _server: server, cmd, sub, waiter, marks: 0 }
    }

    /// Sends commands pipelined and returns their replies.
    fn run(&mut self, commands: &[Argv]) -> Vec<Vec<u8>> {
        for argv in commands {
            self.cmd.send(&as_args(argv));
        }
        commands.iter().map(|_| self.cmd.read_raw()).collect()
    }

    /// Blocks the waiter, waits until the server reports it blocked.
    fn block(&mut self, argv: &Argv) {
        self.waiter.send(&as_args(argv));
        support::wait_blocked(&mut self.cmd, 1);
    }

    /// The notifications received since the last call, in order: a marker
    /// published on a channel the pattern matches closes the list.
    fn events(&mut self) -> Vec<(Vec<u8>, Vec<u8>)> {
        self.marks += 1;
        let marker = format!("__keymark__:{}", self.marks).into_bytes();
        let reply = self.cmd.call(&[&b"PUBLISH"[..], &marker, &b"end"[..]]);
        assert_eq!(reply, Value::Int(1), "{}: marker PUBLISH", self.name);
        let mut events = Vec::new();
        loop {
            let message = self.sub.read();
            let Value::Array(items) = message else { panic!("{}: subscriber got {message:?}", self.name) };
            let parts: Vec<Vec<u8>> = items
                .into_iter()
                .map(|v| match v {
                    Value::Bulk(b) => b,
                    other => panic!("{}: subscriber got {other:?}", self.name),
                })
                .collect();
            assert_eq!(parts.len(), 4, "{}: not a pmessage", self.name);
            assert_eq!(parts[0], b"pmessage", "{}: not a pmessage", self.name);
            if parts[2] == marker {
                return events;
            }
            events.push((parts[2].clone(), parts[3].clone()));
        }
    }
}

fn as_args(argv: &Argv) -> Vec<&[u8]> {
    argv.iter().map(|a| a.as_slice()).collect()
}

fn show_events(events: &[(Vec<u8>, Vec<u8>)], from: usize) -> String {
    let start = from.saturating_sub(6);
    events[start..]
        .iter()
        .enumerate()
        .take(16)
        .map(|(i, (channel, message))| format!("    {:>4} {} {}", start + i, escape(channel), escape(message)))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A reply with its aggregates sorted (for SPOP with a count).
fn parsed(raw: &[u8]) -> Value {
    support::unordered(shoal_resp::parse_value(raw).expect("valid RESP").expect("a whole reply").0)
}

/// Totals of a run.
#[derive(Default)]
struct Totals {
    commands: usize,
    events: usize,
    names: BTreeSet<String>,
}

/// Runs `commands` on both sides and requires identical replies.
fn run_both(redis: &mut Side, shoal: &mut Side, commands: &[Argv], context: &str) -> Result<(), String> {
    let expected = redis.run(commands);
    let got = shoal.run(commands);
    for ((argv, e), g) in commands.iter().zip(&expected).zip(&got) {
        let unordered = argv[0] == b"SPOP" && argv.len() == 3;
        let same = if unordered { parsed(e) == parsed(g) } else { e == g };
        if !same {
            return Err(format!(
                "{context}: reply to {} differs\n    redis: {}\n    shoal: {}",
                describe(argv),
                escape(e),
                escape(g)
            ));
        }
    }
    Ok(())
}

/// Collects both sides' notifications and requires the same sequence.
fn compare_events(
    redis: &mut Side,
    shoal: &mut Side,
    context: &str,
    round: &[Argv],
    totals: &mut Totals,
) -> Result<(), String> {
    let expected = redis.events();
    let got = shoal.events();
    totals.events += expected.len();
    for (channel, message) in &expected {
        if channel.starts_with(b"__keyevent@") {
            totals.names.insert(
                String::from_utf8_lossy(&channel[channel.iter().position(|&b| b == b':').unwrap() + 1..]).into_owned(),
            );
        } else {
            totals.names.insert(String::from_utf8_lossy(message).into_owned());
        }
    }
    if expected == got {
        return Ok(());
    }
    let first = expected.iter().zip(&got).position(|(e, g)| e != g).unwrap_or(expected.len().min(got.len()));
    let commands: Vec<String> = round.iter().map(|a| format!("    {}", describe(a))).collect();
    Err(format!(
        "{context}: notifications differ at #{first} ({} from redis, {} from shoal)\n  commands:\n{}\n  redis:\n{}\n  shoal:\n{}",
        expected.len(),
        got.len(),
        commands.join("\n"),
        show_events(&expected, first),
        show_events(&got, first)
    ))
}

fn run_seed(seed: u64, redis: &mut Side, shoal: &mut Side, totals: &mut Totals) -> Result<(), String> {
    let mut g = Gen::new(seed);
    let reset = vec![argv!["SELECT", "0"], argv!["FLUSHALL"]];
    run_both(redis, shoal, &reset, &format!("seed {seed} reset"))?;
    compare_events(redis, shoal, &format!("seed {seed} reset"), &reset, totals)?;
    let mut pause_before = false;
    for index in 0..ROUNDS {
        let round = g.round();
        if pause_before {
            std::thread::sleep(PAUSE);
        }
        let context = format!("seed {seed} round {index}");
        let mut all = round.commands.clone();
        run_both(redis, shoal, &round.commands, &context)?;
        if let Some(s) = &round.scenario {
            run_both(redis, shoal, &s.setup, &context)?;
            let mut replies = Vec::new();
            for side in [&mut *redis, &mut *shoal] {
                side.block(&s.wait);
                let pushed = side.run(&s.push);
                replies.push((pushed, side.waiter.read_raw()));
            }
            let (expected, got) = (&replies[0], &replies[1]);
            if expected != got {
                return Err(format!(
                    "{context}: blocking scenario {} then {} replied differently\n    redis: {} / {}\n    shoal: {} / {}",
                    describe(&s.wait),
                    s.push.iter().map(|p| describe(p)).collect::<Vec<_>>().join(" ; "),
                    expected.0.iter().map(|r| escape(r)).collect::<Vec<_>>().join(" "),
                    escape(&expected.1),
                    got.0.iter().map(|r| escape(r)).collect::<Vec<_>>().join(" "),
                    escape(&got.1)
                ));
            }
            all.extend(s.setup.iter().cloned());
            all.push(s.wait.clone());
            all.extend(s.push.iter().cloned());
        }
        run_both(redis, shoal, &round.expiring, &context)?;
        all.extend(round.expiring.iter().cloned());
        pause_before = !round.expiring.is_empty();
        totals.commands += all.len();
        compare_events(redis, shoal, &context, &all, totals)?;
    }
    Ok(())
}

#[test]
fn keyspace_notifications_match_redis() {
    let mut redis = Side::start("redis", ServerProcess::redis(&["--enable-debug-command", "local"]));
    let mut shoal = Side::start("shoal", ServerProcess::shoal(&["--enable-debug-command", "local"]));
    let number = |name: &str| std::env::var(name).ok().map(|s| s.parse::<u64>().expect("a number"));
    let seeds: Vec<u64> = match (number("DIFF_SEED"), number("DIFF_SEEDS")) {
        (Some(seed), _) => vec![seed],
        (None, Some(count)) => (0..count).collect(),
        (None, None) => (0..SEEDS).collect(),
    };
    let started = Instant::now();
    let mut totals = Totals::default();
    for &seed in &seeds {
        if let Err(report) = run_seed(seed, &mut redis, &mut shoal, &mut totals) {
            panic!("DIVERGENCE {report}");
        }
    }
    eprintln!(
        "differential_events: {} seeds, {} commands and {} notifications per server, {} event names, {:.1?}",
        seeds.len(),
        totals.commands,
        totals.events,
        totals.names.len(),
        started.elapsed()
    );
    if seeds.len() as u64 == SEEDS {
        let missing: Vec<&str> = REQUIRED.iter().copied().filter(|n| !totals.names.contains(*n)).collect();
        assert!(missing.is_empty(), "events never produced (the generator must exercise them): {missing:?}");
        assert!(totals.events >= MIN_EVENTS, "only {} notifications (at least {MIN_EVENTS} expected)", totals.events);
    }
}
