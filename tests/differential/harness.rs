//! The harness shared by the differential tests (`tests/differential.rs`,
//! `tests/differential_types.rs`): deterministic randomness, the operations
//! a generator produces for one seed, how two replies are compared, and the
//! runner that sends each seed's operations to shoal-server and to a real
//! redis-server and reports the first divergence of every seed.
//!
//! What each `Check` tolerates is documented on the variant; the test files
//! say which commands use which check and why.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::support::{RawClient, ServerProcess};

/// Commands pipelined per batch on one connection.
pub const BATCH: usize = 32;
/// Request bytes per batch: all of a batch is written before any reply is
/// read, so it must fit in the socket buffers whatever the server does.
pub const BATCH_BYTES: usize = 48 * 1024;
/// Tolerance for PTTL and PEXPIRETIME of relative expiries: the two servers
/// set and read the expiry at slightly different instants.
pub const MAX_MS_SKEW: i64 = 250;
/// Tolerance for TTL and EXPIRETIME (whole seconds, rounded by the server).
pub const MAX_SECONDS_SKEW: i64 = 1;
/// Tolerance for stream idle times and delivery/seen timestamps (`Clock`).
pub const CLOCK_SKEW_MS: i64 = 1000;
/// Longest wait for a blocked client to show up as blocked, or for a reply.
const BLOCK_WAIT: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------
// Deterministic randomness

/// SplitMix64: tiny, and its output never changes between versions.
pub struct Rng(pub u64);

impl Rng {
    pub fn new(seed: u64, salt: u64) -> Rng {
        Rng(seed.wrapping_mul(0x2545_F491_4F6C_DD1D) ^ salt)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// A number in `lo..=hi`.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo + 1) as u64) as i64
    }

    pub fn percent(&mut self, p: u64) -> bool {
        self.below(100) < p
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// An index into `weights`, chosen in proportion to the weights.
    pub fn weighted(&mut self, weights: &[u64]) -> usize {
        let total: u64 = weights.iter().sum();
        let mut pick = self.below(total);
        for (i, w) in weights.iter().enumerate() {
            if pick < *w {
                return i;
            }
            pick -= w;
        }
        weights.len() - 1
    }
}

// ---------------------------------------------------------------------------
// What is generated

pub type Argv = Vec<Vec<u8>>;

/// How two replies are compared.
#[derive(Clone, Debug)]
pub enum Check {
    /// Byte for byte.
    Exact,
    /// A TTL-family integer: non-negative values may differ a little.
    Ttl(Unit),
    /// An aggregate whose element order is unspecified (hash-table order):
    /// same type byte and length, and the same elements (map entries as
    /// pairs) once sorted, each compared byte for byte.
    Sorted,
    /// Like `Sorted` for a flat array of pairs (HGETALL, ZSCAN in RESP2).
    SortedPairs,
    /// EXEC: an array whose elements follow the queued commands' checks.
    Exec(Vec<Check>),
    /// Byte for byte if the previous reply on the connection (an OBJECT
    /// ENCODING of the same key) named a compact encoding, whose order is
    /// deterministic; otherwise `Sorted` (or `SortedPairs` if `pairs`).
    Compact { pairs: bool },
    /// Stream replies with idle times and delivery or seen timestamps: the
    /// same structure byte for byte, except integers under an `idle` label,
    /// at an XPENDING entry's idle position, or that are both Unix-ms
    /// timestamps, which may differ by `CLOCK_SKEW_MS`.
    Clock,
    /// XADD with an auto-generated id: byte for byte, or two time-based ids
    /// (the clocks differ); the stream is then deleted on both servers.
    AutoId,
    /// A random reply, checked for its properties against other replies of
    /// the same `Op::Group` (see `Random`).
    Random(Random),
    /// A lex-range command (ZRANGEBYLEX, ZLEXCOUNT, ZREMRANGEBYLEX, ...):
    /// byte for byte, unless redis-server's sorted set (OBJECT ENCODING at
    /// group index `encoding`, ZRANGE WITHSCORES at `scores`) is a skiplist
    /// whose scores are not all equal: Redis then answers by descending its
    /// skiplist's randomly drawn levels, and the reply is not compared (a
    /// later `Resync(Zset)` repairs the state).
    Lex { encoding: usize, scores: usize },
    /// A geo search with COUNT: byte for byte, or the same items except that
    /// members at one position (the same 52-bit geohash, per each server's
    /// ZRANGE WITHSCORES of the source at group index `reference`) may be
    /// swapped: Redis orders equal distances by its partial quicksort.
    GeoTies { reference: usize },
    /// The state of a key after a random or relaxed command of the group:
    /// SMEMBERS after an SPOP (rebuilt from redis-server's members if the
    /// servers popped different ones), or ZRANGE WITHSCORES after a relaxed
    /// `Lex` (rebuilt from redis-server's) or `GeoTies` (the same scores
    /// required, members may differ; rebuilt). Without such a command in the
    /// group, byte for byte.
    Resync(ResyncKind),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResyncKind {
    Set,
    Zset,
}

/// How much a group's earlier relaxed check frees a later `Resync`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Relax {
    /// Any state (random pops, skiplist lex ranges).
    Free,
    /// Members may differ, the multiset of scores may not (geo ties).
    SameScores,
}

#[derive(Clone, Copy, Debug)]
pub enum Unit {
    Seconds,
    Millis,
}

/// A random reply and where its reference data is in its group.
#[derive(Clone, Debug)]
pub struct Random {
    pub kind: RandomKind,
    /// The command's count argument, if it had one.
    pub count: Option<i64>,
    /// WITHVALUES / WITHSCORES: elements are (member, value) pairs.
    pub with_values: bool,
    /// Index in the group of the reply holding every member (SMEMBERS,
    /// HGETALL, ZRANGE 0 -1 WITHSCORES, KEYS *; for SPOP, the set after).
    pub reference: usize,
    /// Index in the group of the key's OBJECT ENCODING reply, if sent.
    pub encoding: Option<usize>,
}

#[derive(Clone, Copy, Debug)]
pub enum RandomKind {
    /// SRANDMEMBER.
    Set,
    /// HRANDFIELD.
    Hash,
    /// ZRANDMEMBER.
    Zset,
    /// RANDOMKEY.
    Key,
    /// SPOP; `before` is the index of SMEMBERS before the pop.
    SPop { before: usize },
}

/// One step of a seed.
pub enum Op {
    /// One command on normal connection `conn`; consecutive commands on one
    /// connection are pipelined.
    Command { conn: usize, argv: Argv, check: Check },
    /// Commands sent as one batch whose checks may refer to each other.
    Group { conn: usize, commands: Vec<(Argv, Check)> },
    /// A full SCAN-family iteration: `command` is `[SCAN]` or `[HSCAN, key]`
    /// (SSCAN, ZSCAN); the sorted, de-duplicated elements (pairs if
    /// `pairs`) are compared. With `probe`, OBJECT ENCODING of the key is
    /// compared first and compact encodings have every call compared byte
    /// for byte instead.
    FullScan { conn: usize, command: Argv, first_cursor: Vec<u8>, options: Argv, pairs: bool, probe: bool },
    /// A (possibly) blocking command on waiter connection `waiter`. Unless
    /// `timed`, the harness waits until the client is blocked (CLIENT LIST
    /// ID shows flag `b`) or its reply arrived, on each server, and both
    /// servers must agree; a timed command's reply is read by `Collect`.
    Block { waiter: usize, argv: Argv, check: Check, timed: bool },
    /// Reads the reply of a waiter's timed command.
    Collect { waiter: usize },
    /// Ends a blocking scenario: CLIENT UNBLOCK (ERROR if `error`) for each
    /// waiter whose reply has not been read (replies compared: 1 if it was
    /// still blocked, 0 if it was served), then reads and compares the
    /// waiters' replies.
    Release { error: bool },
}

/// One seed's operations and set-up.
pub struct Plan {
    pub resp3: bool,
    /// Commands run on connection 0 of both servers before the operations
    /// (after FLUSHALL); their replies must be equal.
    pub setup: Vec<Argv>,
    pub ops: Vec<Op>,
    /// Normal connections (at least 1).
    pub connections: usize,
    /// Waiter connections for blocking commands.
    pub waiters: usize,
}

/// A differential test: what to start and how many commands it must send.
pub struct Suite {
    pub name: &'static str,
    /// Seeds run by default: 0..seeds.
    pub seeds: u64,
    /// The default run must send at least this many commands per server.
    pub min_commands: usize,
    /// Commands run once on both servers before any seed (replies equal).
    pub global_setup: &'static [&'static [&'static str]],
    /// Groups command names for the summary ("lists", "hashes", ...).
    pub family: fn(&str) -> &'static str,
}

// ---------------------------------------------------------------------------
// Replies as trees of raw byte spans

/// A RESP reply with every element's exact bytes.
#[derive(Debug)]
pub enum Node<'a> {
    /// A scalar (or null), with its type byte and terminator.
    Leaf(&'a [u8]),
    /// An aggregate: type byte, its exact bytes, its elements (a map's keys
    /// and values alternate).
    Agg { kind: u8, raw: &'a [u8], items: Vec<Node<'a>> },
}

impl<'a> Node<'a> {
    pub fn parse(raw: &'a [u8]) -> Option<Node<'a>> {
        let mut pos = 0;
        let node = parse_node(raw, &mut pos, 0)?;
        (pos == raw.len()).then_some(node)
    }

    pub fn raw(&self) -> &'a [u8] {
        match self {
            Node::Leaf(r) => r,
            Node::Agg { raw, .. } => raw,
        }
    }

    pub fn int(&self) -> Option<i64> {
        match self {
            Node::Leaf(r) if r.first() == Some(&b':') => std::str::from_utf8(&r[1..r.len() - 2]).ok()?.parse().ok(),
            _ => None,
        }
    }

    /// The payload of a bulk, verbatim or simple string.
    pub fn text(&self) -> Option<&'a [u8]> {
        match self {
            Node::Leaf(r) if r.first() == Some(&b'+') => Some(&r[1..r.len() - 2]),
            Node::Leaf(r) if matches!(r.first(), Some(b'$') | Some(b'=')) && !r.starts_with(b"$-1") => {
                let start = r.iter().position(|&b| b == b'\n')? + 1;
                Some(&r[start..r.len() - 2])
            }
            _ => None,
        }
    }

    pub fn items(&self) -> Option<&[Node<'a>]> {
        match self {
            Node::Agg { items, .. } => Some(items),
            _ => None,
        }
    }

    pub fn kind(&self) -> u8 {
        match self {
            Node::Leaf(r) => r[0],
            Node::Agg { kind, .. } => *kind,
        }
    }

    pub fn is_error(&self) -> bool {
        self.kind() == b'-' || self.kind() == b'!'
    }
}

fn parse_node<'a>(buf: &'a [u8], pos: &mut usize, depth: usize) -> Option<Node<'a>> {
    if depth > 64 || *pos >= buf.len() {
        return None;
    }
    let start = *pos;
    let kind = buf[start];
    let eol = start + buf[start..].windows(2).position(|w| w == b"\r\n")?;
    let text = std::str::from_utf8(&buf[start + 1..eol]).ok()?;
    *pos = eol + 2;
    match kind {
        b'$' | b'=' | b'!' => {
            let len: i64 = text.parse().ok()?;
            if len >= 0 {
                *pos += len as usize + 2;
                if *pos > buf.len() {
                    return None;
                }
            }
            Some(Node::Leaf(&buf[start..*pos]))
        }
        b'*' | b'~' | b'>' | b'%' | b'|' => {
            let len: i64 = text.parse().ok()?;
            if len < 0 {
                return Some(Node::Leaf(&buf[start..*pos]));
            }
            let count = if matches!(kind, b'%' | b'|') { len as usize * 2 } else { len as usize };
            let mut items = Vec::with_capacity(count.min(1 << 16));
            for _ in 0..count {
                items.push(parse_node(buf, pos, depth + 1)?);
            }
            Some(Node::Agg { kind, raw: &buf[start..*pos], items })
        }
        _ => Some(Node::Leaf(&buf[start..*pos])),
    }
}

/// An aggregate's elements as raw spans: singles, or pairs when `pairs`
/// (map entries are always pairs). None if `raw` is not an aggregate.
fn elements(node: &Node<'_>, pairs: bool) -> Option<(u8, Vec<Vec<u8>>)> {
    let Node::Agg { kind, items, .. } = node else { return None };
    let pairs = pairs || *kind == b'%';
    if pairs {
        if items.len() % 2 != 0 {
            return None;
        }
        let mut out: Vec<Vec<u8>> = items.chunks(2).map(|c| [c[0].raw(), c[1].raw()].concat()).collect::<Vec<_>>();
        out.sort();
        Some((*kind, out))
    } else {
        let mut out: Vec<Vec<u8>> = items.iter().map(|n| n.raw().to_vec()).collect();
        out.sort();
        Some((*kind, out))
    }
}

fn sorted_match(a: &[u8], b: &[u8], pairs: bool) -> bool {
    let (Some(x), Some(y)) = (Node::parse(a), Node::parse(b)) else { return false };
    match (elements(&x, pairs), elements(&y, pairs)) {
        (Some(p), Some(q)) => p == q,
        _ => false,
    }
}

fn is_compact_encoding(reply: Option<&[u8]>) -> bool {
    matches!(reply, Some(r) if r == b"$8\r\nlistpack\r\n" || r == b"$6\r\nintset\r\n" || r == b"$7\r\nziplist\r\n")
}

/// (member, value) pairs of a reply: a map, an array of 2-element arrays,
/// or a flat array of alternating members and values.
fn pairs_of<'a>(node: &'a Node<'a>) -> Option<Vec<(&'a [u8], &'a [u8])>> {
    let items = node.items()?;
    if node.kind() == b'%' || items.iter().all(|i| i.items().is_none()) {
        if items.len() % 2 != 0 {
            return None;
        }
        return Some(items.chunks(2).map(|c| (c[0].raw(), c[1].raw())).collect());
    }
    items
        .iter()
        .map(|i| match i.items() {
            Some([m, v]) => Some((m.raw(), v.raw())),
            _ => None,
        })
        .collect()
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

/// Largest clock differences seen in tolerated comparisons.
#[derive(Default)]
pub struct Skew {
    pub millis: i64,
    pub seconds: i64,
    pub clock: i64,
}

/// What a comparison may look at besides the two replies.
struct Context<'a> {
    /// redis-server's previous reply on the same connection.
    prev_redis: Option<&'a [u8]>,
    /// The replies of the group being checked (shoal, redis).
    group: Option<(&'a [Vec<u8>], &'a [Vec<u8>])>,
    started_ms: i64,
}

fn replies_match(check: &Check, a: &[u8], b: &[u8], cx: &Context<'_>, skew: &mut Skew) -> bool {
    if a == b {
        return true;
    }
    match check {
        Check::Exact | Check::Resync(_) | Check::Lex { .. } | Check::GeoTies { .. } => false,
        Check::Ttl(unit) => {
            let (Some(x), Some(y)) = (Node::parse(a).and_then(|n| n.int()), Node::parse(b).and_then(|n| n.int()))
            else {
                return false;
            };
            if x < 0 || y < 0 {
                return false;
            }
            let diff = (x - y).abs();
            match unit {
                Unit::Millis => {
                    skew.millis = skew.millis.max(diff);
                    diff <= MAX_MS_SKEW
                }
                Unit::Seconds => {
                    skew.seconds = skew.seconds.max(diff);
                    diff <= MAX_SECONDS_SKEW
                }
            }
        }
        Check::Sorted => sorted_match(a, b, false),
        Check::SortedPairs => sorted_match(a, b, true),
        Check::Compact { pairs } => !is_compact_encoding(cx.prev_redis) && sorted_match(a, b, *pairs),
        Check::Exec(checks) => {
            let (Some(x), Some(y)) = (Node::parse(a), Node::parse(b)) else { return false };
            let (Some(xs), Some(ys)) = (x.items(), y.items()) else { return false };
            if x.kind() != b'*' || y.kind() != b'*' || xs.len() != ys.len() || xs.len() != checks.len() {
                return false;
            }
            let mut prev: Option<&[u8]> = None;
            for (c, (p, q)) in checks.iter().zip(xs.iter().zip(ys.iter())) {
                let inner = Context { prev_redis: prev, group: None, started_ms: cx.started_ms };
                if !replies_match(c, p.raw(), q.raw(), &inner, skew) {
                    return false;
                }
                prev = Some(q.raw());
            }
            true
        }
        Check::Clock => {
            let (Some(x), Some(y)) = (Node::parse(a), Node::parse(b)) else { return false };
            clock_match(&x, &y, None, skew)
        }
        Check::AutoId => auto_ids(a, b, cx.started_ms),
        Check::Random(random) => {
            let Some((ga, gb)) = cx.group else { return false };
            random_ok(random, a, b, ga, gb)
        }
    }
}

fn label_tolerant(label: Option<&[u8]>) -> bool {
    matches!(label, Some(b"idle"))
}

fn clock_match(a: &Node<'_>, b: &Node<'_>, label: Option<&[u8]>, skew: &mut Skew) -> bool {
    if a.raw() == b.raw() {
        return true;
    }
    match (a, b) {
        (Node::Leaf(_), Node::Leaf(_)) => {
            let (Some(x), Some(y)) = (a.int(), b.int()) else { return false };
            let timestamps = x >= 1_000_000_000_000 && y >= 1_000_000_000_000;
            if !(timestamps || label_tolerant(label)) {
                return false;
            }
            let diff = (x - y).abs();
            skew.clock = skew.clock.max(diff);
            diff <= CLOCK_SKEW_MS
        }
        (Node::Agg { kind: k1, items: xs, .. }, Node::Agg { kind: k2, items: ys, .. }) => {
            if k1 != k2 || xs.len() != ys.len() {
                return false;
            }
            // XPENDING's extended entries: [id, consumer, idle, deliveries].
            let pending_entry = xs.len() == 4
                && xs[0].text().is_some()
                && xs[1].text().is_some()
                && xs[2].int().is_some()
                && xs[3].int().is_some();
            for (i, (p, q)) in xs.iter().zip(ys.iter()).enumerate() {
                let label = if pending_entry && i == 2 {
                    Some(&b"idle"[..])
                } else if i % 2 == 1 {
                    xs[i - 1].text()
                } else {
                    None
                };
                if !clock_match(p, q, label, skew) {
                    return false;
                }
            }
            true
        }
        _ => false,
    }
}

/// Two different XADD `*` replies that are both ids taken from the clock.
fn auto_ids(a: &[u8], b: &[u8], started_ms: i64) -> bool {
    let time_based = |raw: &[u8]| -> bool {
        let Some(node) = Node::parse(raw) else { return false };
        let Some(text) = node.text() else { return false };
        let Some(text) = std::str::from_utf8(text).ok() else { return false };
        let Some((ms, seq)) = text.split_once('-') else { return false };
        let (Ok(ms), Ok(_)) = (ms.parse::<i64>(), seq.parse::<u64>()) else { return false };
        ms >= started_ms - 60_000 && ms <= now_ms() + 60_000
    };
    time_based(a) && time_based(b)
}

/// Members (or member+value pairs) of a reference reply.
fn reference_members<'a>(node: &'a Node<'a>, kind: RandomKind) -> Option<Vec<(&'a [u8], Option<&'a [u8]>)>> {
    match kind {
        RandomKind::Set | RandomKind::Key | RandomKind::SPop { .. } => {
            Some(node.items()?.iter().map(|n| (n.raw(), None)).collect())
        }
        RandomKind::Hash | RandomKind::Zset => Some(pairs_of(node)?.into_iter().map(|(m, v)| (m, Some(v))).collect()),
    }
}

/// The members a random reply returned, as (member, value) spans.
fn returned_members<'a>(node: &'a Node<'a>, with_values: bool) -> Option<Vec<(&'a [u8], Option<&'a [u8]>)>> {
    if with_values {
        Some(pairs_of(node)?.into_iter().map(|(m, v)| (m, Some(v))).collect())
    } else {
        Some(node.items()?.iter().map(|n| (n.raw(), None)).collect())
    }
}

/// Properties of one server's random reply.
fn random_props(r: &Random, reply: &Node<'_>, group: &[Vec<u8>]) -> bool {
    let Some(reference) = Node::parse(&group[r.reference]) else { return false };
    let Some(members) = reference_members(&reference, r.kind) else { return false };
    let member_set: BTreeSet<&[u8]> = members.iter().map(|(m, _)| *m).collect();
    let full: BTreeSet<(&[u8], Option<&[u8]>)> = members.iter().copied().collect();
    if let RandomKind::SPop { before } = r.kind {
        // `reference` is the set after the pop.
        let Some(before_node) = Node::parse(&group[before]) else { return false };
        let Some(before_items) = before_node.items() else { return false };
        let before_set: BTreeSet<&[u8]> = before_items.iter().map(|n| n.raw()).collect();
        let popped: Vec<&[u8]> = match (r.count, reply.items()) {
            (None, None) => vec![reply.raw()],
            (Some(_), Some(items)) => items.iter().map(|n| n.raw()).collect(),
            _ => return false,
        };
        let popped_set: BTreeSet<&[u8]> = popped.iter().copied().collect();
        let want = r.count.map_or(1, |c| c as usize).min(before_set.len());
        return popped_set.len() == popped.len()
            && popped.len() == want
            && popped_set.is_subset(&before_set)
            && before_set.difference(&popped_set).copied().collect::<BTreeSet<_>>() == member_set;
    }
    match r.count {
        None => {
            // One member (RANDOMKEY, or no count): a bulk string.
            reply.text().is_some() && member_set.contains(reply.raw())
        }
        Some(count) => {
            let Some(got) = returned_members(reply, r.with_values) else { return false };
            let in_reference = got.iter().all(|(m, v)| match v {
                Some(_) => full.contains(&(*m, *v)),
                None => member_set.contains(m),
            });
            if count >= 0 {
                let distinct: BTreeSet<&[u8]> = got.iter().map(|(m, _)| *m).collect();
                in_reference && distinct.len() == got.len() && got.len() == (count as usize).min(member_set.len())
            } else {
                in_reference && got.len() == if member_set.is_empty() { 0 } else { count.unsigned_abs() as usize }
            }
        }
    }
}

fn random_ok(r: &Random, a: &[u8], b: &[u8], ga: &[Vec<u8>], gb: &[Vec<u8>]) -> bool {
    let (Some(x), Some(y)) = (Node::parse(a), Node::parse(b)) else { return false };
    // Errors, nulls and empty replies are compared byte for byte (a != b).
    if x.kind() != y.kind() || x.is_error() || x.items().is_some_and(|i| i.is_empty()) {
        return false;
    }
    if x.items().map(|i| i.len()) != y.items().map(|i| i.len()) {
        return false;
    }
    // A whole collection in a deterministic order must be byte for byte:
    // sorted sets always, hashes in listpack, sets in intset encoding.
    if let Some(count) = r.count {
        let card_of = |raw: &[u8]| -> usize {
            let Some(node) = Node::parse(raw) else { return 0 };
            reference_members(&node, r.kind).map_or(0, |m| m.len())
        };
        let card = match r.kind {
            RandomKind::SPop { before } => card_of(&gb[before]),
            _ => card_of(&gb[r.reference]),
        };
        let encoding = r.encoding.map(|i| gb[i].as_slice());
        let deterministic = match r.kind {
            RandomKind::Zset => true,
            RandomKind::Hash | RandomKind::Set | RandomKind::SPop { .. } => is_compact_encoding(encoding),
            RandomKind::Key => false,
        };
        if count > 0 && count as usize >= card && deterministic && card > 0 {
            return false;
        }
    }
    random_props(r, &x, ga) && random_props(r, &y, gb)
}

/// The text of a bulk, simple, verbatim or double reply (raw bytes).
fn scalar_text(raw: &[u8]) -> Option<&[u8]> {
    let node = Node::parse(raw)?;
    if raw.first() == Some(&b',') {
        return Some(&raw[1..raw.len() - 2]);
    }
    node.text()
}

/// The (member, score) pairs of a ZRANGE WITHSCORES reply as texts.
fn zset_pairs(raw: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
    let Some(node) = Node::parse(raw) else { return Vec::new() };
    pairs_of(&node)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(m, s)| Some((scalar_text(m)?.to_vec(), scalar_text(s)?.to_vec())))
        .collect()
}

/// A skiplist-encoded sorted set whose scores are not all equal.
fn mixed_skiplist(encoding: &[u8], scores: &[u8]) -> bool {
    if encoding != b"$8\r\nskiplist\r\n" {
        return false;
    }
    let pairs = zset_pairs(scores);
    pairs.windows(2).any(|w| w[0].1 != w[1].1)
}

/// Two sorted-set states with the same multiset of scores.
fn same_scores(a: &[u8], b: &[u8]) -> bool {
    let scores = |raw: &[u8]| {
        let mut s: Vec<Vec<u8>> = zset_pairs(raw).into_iter().map(|(_, s)| s).collect();
        s.sort();
        s
    };
    let (x, y) = (scores(a), scores(b));
    !x.is_empty() && x == y
}

/// The geohash cell a sorted-set score stands for (its integer part).
fn geo_cell(score: &[u8]) -> Vec<u8> {
    match std::str::from_utf8(score).ok().and_then(|t| t.parse::<f64>().ok()) {
        Some(v) if v.is_finite() => (v.trunc() as i128).to_string().into_bytes(),
        _ => score.to_vec(),
    }
}

/// Whether two members of a ZRANGE WITHSCORES reply share a geohash cell.
fn has_ties(reference: &[u8]) -> bool {
    let mut cells: Vec<Vec<u8>> = zset_pairs(reference).iter().map(|(_, s)| geo_cell(s)).collect();
    let n = cells.len();
    cells.sort();
    cells.dedup();
    cells.len() != n
}

/// Two geo search replies equal but for members at one position swapped.
fn geo_ties_ok(a: &[u8], b: &[u8], ref_a: &[u8], ref_b: &[u8]) -> bool {
    let (Some(x), Some(y)) = (Node::parse(a), Node::parse(b)) else { return false };
    let (Some(xs), Some(ys)) = (x.items(), y.items()) else { return false };
    if x.kind() != y.kind() || xs.len() != ys.len() {
        return false;
    }
    let cells = |reference: &[u8]| -> BTreeMap<Vec<u8>, Vec<u8>> {
        zset_pairs(reference).into_iter().map(|(m, s)| (m, geo_cell(&s))).collect()
    };
    let (cells_a, cells_b) = (cells(ref_a), cells(ref_b));
    // An item is a member, or [member, dist/hash/coordinates...].
    let split = |item: &'_ Node<'_>| -> Option<(Vec<u8>, Vec<Vec<u8>>)> {
        match item.items() {
            Some([member, rest @ ..]) => {
                Some((member.text()?.to_vec(), rest.iter().map(|r| r.raw().to_vec()).collect()))
            }
            Some([]) => None,
            None => Some((item.text()?.to_vec(), Vec::new())),
        }
    };
    let mut seen_a = BTreeSet::new();
    let mut seen_b = BTreeSet::new();
    for (p, q) in xs.iter().zip(ys) {
        let (Some((ma, ra)), Some((mb, rb))) = (split(p), split(q)) else { return false };
        if ra != rb || !seen_a.insert(ma.clone()) || !seen_b.insert(mb.clone()) {
            return false;
        }
        match (cells_a.get(&ma), cells_b.get(&mb)) {
            (Some(ca), Some(cb)) if ca == cb => {}
            _ => return false,
        }
    }
    true
}

// ---------------------------------------------------------------------------
// Printing

/// Bytes as readable text: printable ASCII kept, the rest escaped.
pub fn escape(bytes: &[u8]) -> String {
    const LIMIT: usize = 400;
    let mut out = String::new();
    for &b in bytes.iter().take(LIMIT) {
        match b {
            b'\r' => out.push_str("\\r"),
            b'\n' => out.push_str("\\n"),
            b'\\' => out.push_str("\\\\"),
            b'"' => out.push_str("\\\""),
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    if bytes.len() > LIMIT {
        out.push_str(&format!("...({} bytes)", bytes.len()));
    }
    out
}

pub fn describe(argv: &[Vec<u8>]) -> String {
    argv.iter().map(|a| format!("\"{}\"", escape(a))).collect::<Vec<_>>().join(" ")
}

fn describe_op(op: &Op) -> String {
    match op {
        Op::Command { conn, argv, .. } => format!("[conn {conn}] {}", describe(argv)),
        Op::Group { conn, commands } => {
            let cmds: Vec<String> = commands.iter().map(|(a, _)| describe(a)).collect();
            format!("[conn {conn}] group: {}", cmds.join(" ; "))
        }
        Op::FullScan { conn, command, first_cursor, options, .. } => {
            format!("[conn {conn}] full {} from \"{}\" {}", describe(command), escape(first_cursor), describe(options))
        }
        Op::Block { waiter, argv, timed, .. } => {
            format!("[waiter {waiter}] {}{}", describe(argv), if *timed { " (timed)" } else { "" })
        }
        Op::Collect { waiter } => format!("[waiter {waiter}] read the reply"),
        Op::Release { error } => format!("release the waiters{}", if *error { " (ERROR)" } else { "" }),
    }
}

// ---------------------------------------------------------------------------
// Running

/// One connection to each server.
pub struct Pair {
    pub shoal: RawClient,
    pub redis: RawClient,
}

impl Pair {
    pub fn open(shoal: &ServerProcess, redis: &ServerProcess) -> Pair {
        Pair { shoal: shoal.client(), redis: redis.client() }
    }

    fn send(&mut self, argv: &[Vec<u8>]) {
        let args: Vec<&[u8]> = argv.iter().map(|a| a.as_slice()).collect();
        self.shoal.send(&args);
        self.redis.send(&args);
    }

    fn read(&mut self) -> Result<(Vec<u8>, Vec<u8>), String> {
        Ok((read_reply(&mut self.shoal, "shoal")?, read_reply(&mut self.redis, "redis")?))
    }

    fn call(&mut self, argv: &[Vec<u8>]) -> Result<(Vec<u8>, Vec<u8>), String> {
        self.send(argv);
        self.read()
    }
}

fn read_reply(client: &mut RawClient, server: &str) -> Result<Vec<u8>, String> {
    client.try_read_raw().ok_or_else(|| format!("{server} closed the connection (or did not reply in time)"))
}

pub fn args(words: &[&str]) -> Argv {
    words.iter().map(|w| w.as_bytes().to_vec()).collect()
}

#[derive(Default)]
pub struct Totals {
    pub commands: usize,
    pub skew: Skew,
    /// Commands per name (lower case).
    pub per_command: BTreeMap<String, usize>,
    /// (command name, first reply byte or "null array") -> count, printed
    /// with DIFF_STATS=1 to see what the streams exercise.
    pub reply_kinds: BTreeMap<(String, String), usize>,
}

impl Totals {
    fn count(&mut self, argv: &[Vec<u8>], reply: &[u8]) {
        self.commands += 1;
        let name = String::from_utf8_lossy(&argv[0]).to_ascii_lowercase();
        let kind = match reply {
            b"*-1\r\n" => "null array".to_string(),
            b"$-1\r\n" | b"_\r\n" => "null".to_string(),
            [b'-', rest @ ..] => {
                let text = String::from_utf8_lossy(rest);
                format!("-{}", text.split(' ').take(4).collect::<Vec<_>>().join(" "))
            }
            [] => "?".to_string(),
            // OBJECT ENCODING: which encodings the streams reach.
            [b'$', ..] if name == "object" => String::from_utf8_lossy(reply).replace("\r\n", " "),
            _ => (reply[0] as char).to_string(),
        };
        *self.per_command.entry(name.clone()).or_default() += 1;
        *self.reply_kinds.entry((name, kind)).or_default() += 1;
    }
}

/// A waiter connection to each server and its state.
struct WaiterConn {
    pair: Pair,
    /// Client ids on (shoal, redis).
    ids: (Vec<u8>, Vec<u8>),
    /// The command whose reply has not been read yet.
    pending: Option<(Argv, Check)>,
}

/// Result of a full SCAN-family iteration on one server.
#[derive(PartialEq, Debug)]
enum ScanResult {
    Elements(Vec<Vec<u8>>),
    Error(Vec<u8>),
    /// Each call's exact reply (compact encodings).
    Calls(Vec<Vec<u8>>),
}

fn full_scan(
    client: &mut RawClient,
    server: &str,
    command: &[Vec<u8>],
    first_cursor: &[u8],
    options: &[Vec<u8>],
    pairs: bool,
    exact: bool,
    calls: &mut usize,
) -> Result<ScanResult, String> {
    let mut cursor = first_cursor.to_vec();
    let mut found: Vec<Vec<u8>> = Vec::new();
    let mut raws = Vec::new();
    for _ in 0..100_000 {
        let mut argv: Vec<&[u8]> = command.iter().map(|a| a.as_slice()).collect();
        argv.push(&cursor);
        argv.extend(options.iter().map(|o| o.as_slice()));
        client.send(&argv);
        *calls += 1;
        let raw = read_reply(client, server)?;
        let node = Node::parse(&raw).ok_or_else(|| format!("{server}: invalid RESP {}", escape(&raw)))?;
        if node.is_error() {
            return Ok(ScanResult::Error(raw));
        }
        let malformed = || format!("{server}: malformed SCAN reply {}", escape(&raw));
        let items = node.items().ok_or_else(malformed)?;
        let [next, batch] = items else { return Err(malformed()) };
        let next = next.text().ok_or_else(malformed)?.to_vec();
        let batch = batch.items().ok_or_else(malformed)?;
        if pairs {
            if batch.len() % 2 != 0 {
                return Err(malformed());
            }
            found.extend(batch.chunks(2).map(|c| [c[0].raw(), c[1].raw()].concat()));
        } else {
            found.extend(batch.iter().map(|n| n.raw().to_vec()));
        }
        raws.push(raw.clone());
        if next == b"0" {
            if exact {
                return Ok(ScanResult::Calls(raws));
            }
            found.sort();
            found.dedup();
            return Ok(ScanResult::Elements(found));
        }
        cursor = next;
    }
    Err(format!("{server}: SCAN did not finish after 100000 calls"))
}

/// Polls until the waiter's client is blocked or its reply has arrived.
fn blocked_or_reply(
    waiter: &mut RawClient,
    control: &mut RawClient,
    id: &[u8],
    server: &str,
) -> Result<Option<Vec<u8>>, String> {
    let deadline = Instant::now() + BLOCK_WAIT;
    loop {
        if let Some(reply) = waiter.poll_raw(Duration::from_millis(1)) {
            return Ok(Some(reply));
        }
        control.send(&[b"CLIENT", b"LIST", b"ID", id]);
        let list = read_reply(control, server)?;
        let text = String::from_utf8_lossy(&list);
        if let Some(flags) = text.split(' ').find_map(|f| f.strip_prefix("flags=")) {
            if flags.contains('b') {
                return Ok(None);
            }
        }
        if Instant::now() > deadline {
            return Err(format!("{server}: the waiter neither blocked nor replied in {BLOCK_WAIT:?}"));
        }
    }
}

/// The connections of one seed.
struct Session {
    conns: Vec<Pair>,
    waiters: Vec<WaiterConn>,
    control: Pair,
    /// redis-server's last reply per normal connection (for `Compact`).
    prev_redis: Vec<Option<Vec<u8>>>,
}

/// A state repair after a random command or a clock-based id.
enum Fixup {
    Delete {
        conn: usize,
        key: Vec<u8>,
    },
    /// Recreate `key` from redis-server's SMEMBERS or ZRANGE WITHSCORES.
    Rebuild {
        conn: usize,
        key: Vec<u8>,
        kind: ResyncKind,
        reply: Vec<u8>,
    },
}

fn run_seed(
    seed: u64,
    plan: Plan,
    shoal: &ServerProcess,
    redis: &ServerProcess,
    totals: &mut Totals,
) -> Result<(), String> {
    let started_ms = now_ms();
    let ops = plan.ops;
    if std::env::var_os("DIFF_DUMP").is_some() {
        // Debugging: every operation of the seed, with its index.
        for argv in &plan.setup {
            eprintln!("seed {seed} setup: {}", describe(argv));
        }
        let hex = |argv: &[Vec<u8>]| -> String {
            argv.iter()
                .map(|a| a.iter().map(|b| format!("{b:02x}")).collect::<String>() + ".")
                .collect::<Vec<_>>()
                .join(" ")
        };
        for (i, op) in ops.iter().enumerate() {
            eprintln!("seed {seed} #{i}: {}", describe_op(op));
            match op {
                Op::Command { conn, argv, .. } => eprintln!("raw {conn} {}", hex(argv)),
                Op::Group { conn, commands } => commands.iter().for_each(|(a, _)| eprintln!("raw {conn} {}", hex(a))),
                _ => {}
            }
        }
        for argv in &plan.setup {
            eprintln!("setup {}", hex(argv));
        }
    }
    let mut s = Session {
        conns: (0..plan.connections.max(1)).map(|_| Pair::open(shoal, redis)).collect(),
        waiters: Vec::new(),
        control: Pair::open(shoal, redis),
        prev_redis: vec![None; plan.connections.max(1)],
    };
    for _ in 0..plan.waiters {
        let mut pair = Pair::open(shoal, redis);
        let (a, b) = pair.call(&args(&["CLIENT", "ID"]))?;
        let id = |raw: &[u8]| raw[1..raw.len() - 2].to_vec();
        s.waiters.push(WaiterConn { ids: (id(&a), id(&b)), pair, pending: None });
    }

    // RESP3 seeds speak it on every connection. HELLO's own reply carries
    // connection ids, so it is only required to be a map on both servers.
    if plan.resp3 {
        let pairs = s.conns.iter_mut().chain(s.waiters.iter_mut().map(|w| &mut w.pair));
        for pair in pairs {
            let (a, b) = pair.call(&args(&["HELLO", "3"]))?;
            if !a.starts_with(b"%7\r\n") || !b.starts_with(b"%7\r\n") {
                return Err(format!("seed {seed}: HELLO 3 failed: shoal {} redis {}", escape(&a), escape(&b)));
            }
        }
    }

    // A clean slate: both servers start the seed empty.
    let (a, b) = s.conns[0].call(&args(&["FLUSHALL"]))?;
    if a != b || a != b"+OK\r\n" {
        return Err(format!("seed {seed}: FLUSHALL failed: shoal {} redis {}", escape(&a), escape(&b)));
    }
    for argv in &plan.setup {
        let (a, b) = s.conns[0].call(argv)?;
        if a != b {
            return Err(format!(
                "seed {seed}: setup {} differs: shoal {} redis {}",
                describe(argv),
                escape(&a),
                escape(&b)
            ));
        }
    }

    let context = |index: usize| -> String {
        let from = index.saturating_sub(12);
        let mut lines = String::new();
        for (i, op) in ops.iter().enumerate().take(index).skip(from) {
            lines.push_str(&format!("    #{i}: {}\n", describe_op(op)));
        }
        lines
    };
    let diverged = |i: usize, what: String, a: &[u8], b: &[u8]| -> String {
        format!(
            "seed {seed}, op #{i}: {what}\n  shoal: {}\n  redis: {}\n  before it:\n{}",
            escape(a),
            escape(b),
            context(i)
        )
    };

    // Errors without a seed (I/O, a server that stopped answering) get
    // the seed, the operation and what came before it.
    let current = std::cell::Cell::new(0usize);
    let result = (|| -> Result<(), String> {
        let mut i = 0;
        while i < ops.len() {
            current.set(i);
            match &ops[i] {
                Op::Command { conn, .. } => {
                    let conn = *conn;
                    let mut end = i;
                    let mut bytes = 0;
                    while end < ops.len() && end - i < BATCH && (end == i || bytes < BATCH_BYTES) {
                        let Op::Command { conn: c, argv, check } = &ops[end] else { break };
                        if *c != conn {
                            break;
                        }
                        bytes += argv.iter().map(|a| a.len() + 16).sum::<usize>();
                        end += 1;
                        // A reply that may need a repair ends the batch.
                        if matches!(check, Check::AutoId) {
                            break;
                        }
                    }
                    let pair = &mut s.conns[conn];
                    for op in &ops[i..end] {
                        if let Op::Command { argv, .. } = op {
                            let args: Vec<&[u8]> = argv.iter().map(|a| a.as_slice()).collect();
                            pair.shoal.send(&args);
                        }
                    }
                    for op in &ops[i..end] {
                        if let Op::Command { argv, .. } = op {
                            let args: Vec<&[u8]> = argv.iter().map(|a| a.as_slice()).collect();
                            pair.redis.send(&args);
                        }
                    }
                    let mut divergence = None;
                    let mut fixups = Vec::new();
                    for (index, op) in ops.iter().enumerate().take(end).skip(i) {
                        let Op::Command { argv, check, .. } = op else { unreachable!() };
                        // Every reply of the batch is read even after a
                        // divergence, so no command of this seed is left running.
                        let a = read_reply(&mut pair.shoal, "shoal")?;
                        let b = read_reply(&mut pair.redis, "redis")?;
                        totals.count(argv, &b);
                        let cx = Context { prev_redis: s.prev_redis[conn].as_deref(), group: None, started_ms };
                        if divergence.is_none() && !replies_match(check, &a, &b, &cx, &mut totals.skew) {
                            divergence = Some(diverged(index, format!("[conn {conn}] {}", describe(argv)), &a, &b));
                        }
                        if matches!(check, Check::AutoId) && a != b {
                            fixups.push(Fixup::Delete { conn, key: argv[1].clone() });
                        }
                        s.prev_redis[conn] = Some(b);
                    }
                    if let Some(divergence) = divergence {
                        return Err(divergence);
                    }
                    apply_fixups(&mut s, fixups, totals).map_err(|e| format!("seed {seed}, op #{i}: {e}"))?;
                    i = end;
                }
                Op::Group { conn, commands } => {
                    let conn = *conn;
                    let pair = &mut s.conns[conn];
                    for (argv, _) in commands {
                        let args: Vec<&[u8]> = argv.iter().map(|a| a.as_slice()).collect();
                        pair.shoal.send(&args);
                    }
                    for (argv, _) in commands {
                        let args: Vec<&[u8]> = argv.iter().map(|a| a.as_slice()).collect();
                        pair.redis.send(&args);
                    }
                    let mut ga = Vec::new();
                    let mut gb = Vec::new();
                    for (argv, _) in commands {
                        ga.push(read_reply(&mut pair.shoal, "shoal")?);
                        gb.push(read_reply(&mut pair.redis, "redis")?);
                        totals.count(argv, gb.last().unwrap());
                    }
                    let mut fixups = Vec::new();
                    let mut relaxed: Option<Relax> = None;
                    for (k, (argv, check)) in commands.iter().enumerate() {
                        let prev = if k == 0 { s.prev_redis[conn].as_deref() } else { Some(gb[k - 1].as_slice()) };
                        let cx = Context { prev_redis: prev, group: Some((&ga, &gb)), started_ms };
                        let what = || format!("[conn {conn}] {} (command {k} of the group)", describe(argv));
                        match check {
                            Check::Resync(kind) => {
                                let same = match kind {
                                    ResyncKind::Set => sorted_match(&ga[k], &gb[k], false),
                                    ResyncKind::Zset => ga[k] == gb[k],
                                };
                                if !same {
                                    let allowed = match (kind, relaxed) {
                                        (ResyncKind::Set, Some(_)) | (_, Some(Relax::Free)) => true,
                                        (ResyncKind::Zset, Some(Relax::SameScores)) => same_scores(&ga[k], &gb[k]),
                                        (_, None) => false,
                                    };
                                    if !allowed {
                                        return Err(diverged(i, what(), &ga[k], &gb[k]));
                                    }
                                    fixups.push(Fixup::Rebuild {
                                        conn,
                                        key: argv[1].clone(),
                                        kind: *kind,
                                        reply: gb[k].clone(),
                                    });
                                }
                                continue;
                            }
                            Check::Lex { encoding, scores } => {
                                if mixed_skiplist(&gb[*encoding], &gb[*scores]) {
                                    relaxed = Some(Relax::Free);
                                    continue;
                                }
                            }
                            Check::GeoTies { reference } => {
                                if has_ties(&ga[*reference]) || has_ties(&gb[*reference]) {
                                    relaxed = relaxed.or(Some(Relax::SameScores));
                                }
                                if ga[k] != gb[k] && !geo_ties_ok(&ga[k], &gb[k], &ga[*reference], &gb[*reference]) {
                                    return Err(diverged(i, what(), &ga[k], &gb[k]));
                                }
                                continue;
                            }
                            Check::Random(r) if matches!(r.kind, RandomKind::SPop { .. }) => {
                                relaxed = Some(Relax::Free)
                            }
                            _ => {}
                        }
                        if !replies_match(check, &ga[k], &gb[k], &cx, &mut totals.skew) {
                            return Err(diverged(i, what(), &ga[k], &gb[k]));
                        }
                    }
                    s.prev_redis[conn] = gb.pop();
                    apply_fixups(&mut s, fixups, totals).map_err(|e| format!("seed {seed}, op #{i}: {e}"))?;
                    i += 1;
                }
                Op::FullScan { conn, command, first_cursor, options, pairs, probe } => {
                    let pair = &mut s.conns[*conn];
                    let mut exact = false;
                    if *probe {
                        let probe_argv = vec![b"OBJECT".to_vec(), b"ENCODING".to_vec(), command[1].clone()];
                        let (a, b) = pair.call(&probe_argv)?;
                        totals.count(&probe_argv, &b);
                        if a != b {
                            return Err(diverged(i, format!("[conn {conn}] {}", describe(&probe_argv)), &a, &b));
                        }
                        exact = is_compact_encoding(Some(&b));
                    }
                    let mut calls = 0;
                    let a =
                        full_scan(&mut pair.shoal, "shoal", command, first_cursor, options, *pairs, exact, &mut calls)?;
                    let b =
                        full_scan(&mut pair.redis, "redis", command, first_cursor, options, *pairs, exact, &mut calls)?;
                    let n = calls.div_ceil(2);
                    totals.commands += n;
                    *totals
                        .per_command
                        .entry(String::from_utf8_lossy(&command[0]).to_ascii_lowercase())
                        .or_default() += n;
                    if a != b {
                        let show = |r: &ScanResult| match r {
                            ScanResult::Elements(keys) => format!("elements [{}]", describe(keys)),
                            ScanResult::Error(error) => format!("error {}", escape(error)),
                            ScanResult::Calls(calls) => format!("replies [{}]", describe(calls)),
                        };
                        return Err(format!(
                            "seed {seed}, op #{i}: {}\n  shoal: {}\n  redis: {}\n  before it:\n{}",
                            describe_op(&ops[i]),
                            show(&a),
                            show(&b),
                            context(i)
                        ));
                    }
                    i += 1;
                }
                Op::Block { waiter, argv, check, timed } => {
                    let w = &mut s.waiters[*waiter];
                    assert!(w.pending.is_none(), "seed {seed}, op #{i}: waiter {waiter} is busy");
                    w.pair.send(argv);
                    if *timed {
                        w.pending = Some((argv.clone(), check.clone()));
                        i += 1;
                        continue;
                    }
                    let a = blocked_or_reply(&mut w.pair.shoal, &mut s.control.shoal, &w.ids.0, "shoal")
                        .map_err(|e| format!("seed {seed}, op #{i}: {e}\n  before it:\n{}", context(i)))?;
                    let b = blocked_or_reply(&mut w.pair.redis, &mut s.control.redis, &w.ids.1, "redis")
                        .map_err(|e| format!("seed {seed}, op #{i}: {e}\n  before it:\n{}", context(i)))?;
                    match (a, b) {
                        (None, None) => w.pending = Some((argv.clone(), check.clone())),
                        (Some(a), Some(b)) => {
                            totals.count(argv, &b);
                            let cx = Context { prev_redis: None, group: None, started_ms };
                            if !replies_match(check, &a, &b, &cx, &mut totals.skew) {
                                return Err(diverged(i, describe_op(&ops[i]), &a, &b));
                            }
                        }
                        (a, b) => {
                            let show = |r: Option<Vec<u8>>| r.unwrap_or_else(|| b"(blocked)".to_vec());
                            return Err(diverged(i, describe_op(&ops[i]), &show(a), &show(b)));
                        }
                    }
                    i += 1;
                }
                Op::Collect { waiter } => {
                    let w = &mut s.waiters[*waiter];
                    let (argv, check) = w.pending.take().expect("Collect without a timed command");
                    let (a, b) = w.pair.read()?;
                    totals.count(&argv, &b);
                    let cx = Context { prev_redis: None, group: None, started_ms };
                    if !replies_match(&check, &a, &b, &cx, &mut totals.skew) {
                        return Err(diverged(i, format!("{} of {}", describe_op(&ops[i]), describe(&argv)), &a, &b));
                    }
                    i += 1;
                }
                Op::Release { error } => {
                    release(&mut s, *error, totals, started_ms).map_err(|(what, a, b)| diverged(i, what, &a, &b))?;
                    i += 1;
                }
            }
        }
        release(&mut s, false, totals, started_ms).map_err(|(what, a, b)| diverged(ops.len(), what, &a, &b))?;
        Ok(())
    })();
    result.map_err(|e| {
        if e.starts_with("seed ") {
            e
        } else {
            let i = current.get();
            format!("seed {seed}, op #{i}: {}: {e}\n  before it:\n{}", describe_op(&ops[i]), context(i))
        }
    })
}

/// CLIENT UNBLOCK for every waiter with an unread reply, then reads them.
fn release(
    s: &mut Session,
    error: bool,
    totals: &mut Totals,
    started_ms: i64,
) -> Result<(), (String, Vec<u8>, Vec<u8>)> {
    let io = |e: String| (e, Vec::new(), Vec::new());
    for (k, w) in s.waiters.iter_mut().enumerate() {
        let Some((argv, check)) = w.pending.take() else { continue };
        let unblock = |client: &mut RawClient, id: &[u8], server: &str| -> Result<Vec<u8>, String> {
            let mut cmd: Vec<&[u8]> = vec![b"CLIENT", b"UNBLOCK", id];
            if error {
                cmd.push(b"ERROR");
            }
            client.send(&cmd);
            read_reply(client, server)
        };
        let a = unblock(&mut s.control.shoal, &w.ids.0, "shoal").map_err(io)?;
        let b = unblock(&mut s.control.redis, &w.ids.1, "redis").map_err(io)?;
        totals.count(&args(&["client"]), &b);
        if a != b {
            let what = format!("CLIENT UNBLOCK of waiter {k} ({})", describe(&argv));
            // Read what arrives anyway, so the report shows it.
            let _ = w.pair.shoal.poll_raw(Duration::from_millis(200));
            let _ = w.pair.redis.poll_raw(Duration::from_millis(200));
            return Err((what, a, b));
        }
        let (a, b) = w.pair.read().map_err(io)?;
        totals.count(&argv, &b);
        let cx = Context { prev_redis: None, group: None, started_ms };
        if !replies_match(&check, &a, &b, &cx, &mut totals.skew) {
            return Err((format!("[waiter {k}] reply to {}", describe(&argv)), a, b));
        }
    }
    Ok(())
}

fn apply_fixups(s: &mut Session, fixups: Vec<Fixup>, totals: &mut Totals) -> Result<(), String> {
    for fixup in fixups {
        let (conn, commands) = match fixup {
            Fixup::Delete { conn, key } => (conn, vec![vec![b"DEL".to_vec(), key]]),
            Fixup::Rebuild { conn, key, kind, reply } => {
                let mut commands = vec![vec![b"DEL".to_vec(), key.clone()]];
                let node = Node::parse(&reply).ok_or_else(|| "unparsable state to rebuild".to_string())?;
                let mut add = match kind {
                    ResyncKind::Set => vec![b"SADD".to_vec(), key],
                    ResyncKind::Zset => vec![b"ZADD".to_vec(), key],
                };
                match kind {
                    ResyncKind::Set => {
                        for m in node.items().unwrap_or(&[]) {
                            add.push(m.text().ok_or_else(|| "a member that is not a string".to_string())?.to_vec());
                        }
                    }
                    ResyncKind::Zset => {
                        for (m, score) in pairs_of(&node).unwrap_or_default() {
                            add.push(
                                scalar_text(score).ok_or_else(|| "a score that is not a number".to_string())?.to_vec(),
                            );
                            add.push(
                                scalar_text(m).ok_or_else(|| "a member that is not a string".to_string())?.to_vec(),
                            );
                        }
                    }
                }
                if add.len() > 2 {
                    commands.push(add);
                }
                (conn, commands)
            }
        };
        for (k, argv) in commands.into_iter().enumerate() {
            let (a, b) = s.conns[conn].call(&argv)?;
            totals.count(&argv, &b);
            // The first DEL's reply differs when only one server still had
            // the key; what is rebuilt must be the same.
            if a != b && k > 0 {
                return Err(format!("repair {} differs: shoal {} redis {}", describe(&argv), escape(&a), escape(&b)));
            }
            s.prev_redis[conn] = Some(b);
        }
    }
    Ok(())
}

/// Runs the suite: starts both servers, runs every seed's plan, prints a
/// summary and fails on any divergence. DIFF_SEED=<n> runs only seed n,
/// DIFF_SEEDS=<n> seeds 0..n, DIFF_STATS=1 prints reply kinds per command,
/// DIFF_PAUSE=<s> keeps the servers running for s seconds after a
/// divergence (their ports are printed) to inspect them, DIFF_DUMP=1
/// prints every operation of the seeds.
pub fn run(suite: &Suite, plan: impl Fn(u64) -> Plan) {
    // Fails (with a message saying to install it) if redis-server is missing.
    let redis = ServerProcess::redis(&["--enable-debug-command", "local"]);
    let shoal = ServerProcess::shoal(&["--enable-debug-command", "local"]);
    {
        let mut pair = Pair::open(&shoal, &redis);
        for words in suite.global_setup {
            let argv = args(words);
            let (a, b) = pair.call(&argv).unwrap();
            assert_eq!((escape(&a), escape(&b)), (escape(&b), escape(&a)), "setup command {} differs", describe(&argv));
        }
    }

    let number = |name: &str| std::env::var(name).ok().map(|s| s.parse::<u64>().expect("a number"));
    let seeds: Vec<u64> = match (number("DIFF_SEED"), number("DIFF_SEEDS")) {
        (Some(seed), _) => vec![seed],
        (None, Some(count)) => (0..count).collect(),
        (None, None) => (0..suite.seeds).collect(),
    };

    let started = Instant::now();
    let mut totals = Totals::default();
    let mut divergences = Vec::new();
    for &seed in &seeds {
        if let Err(report) = run_seed(seed, plan(seed), &shoal, &redis, &mut totals) {
            if let Some(secs) = number("DIFF_PAUSE") {
                // Debugging: keep both servers (and their state) for a while.
                eprintln!(
                    "DIVERGENCE {report}\npaused {secs} s: shoal on port {}, redis on port {}",
                    shoal.port, redis.port
                );
                std::thread::sleep(Duration::from_secs(secs));
            }
            divergences.push(report);
        }
    }
    let elapsed = started.elapsed();
    let mut families: BTreeMap<&str, usize> = BTreeMap::new();
    for (name, count) in &totals.per_command {
        *families.entry((suite.family)(name)).or_default() += count;
    }
    let per_family: Vec<String> = families.iter().map(|(f, n)| format!("{f} {n}")).collect();
    eprintln!(
        "{}: {} seeds, {} commands per server ({}), {:.1?}, largest skew tolerated: ttl {} ms / {} s, clock {} ms, {} divergent seeds",
        suite.name,
        seeds.len(),
        totals.commands,
        per_family.join(", "),
        elapsed,
        totals.skew.millis,
        totals.skew.seconds,
        totals.skew.clock,
        divergences.len()
    );
    if std::env::var_os("DIFF_STATS").is_some() {
        for ((name, kind), count) in &totals.reply_kinds {
            eprintln!("{count:>8}  {name} {kind}");
        }
    }
    for report in &divergences {
        eprintln!("DIVERGENCE {report}");
    }
    assert!(divergences.is_empty(), "{} of {} seeds diverged (see above)", divergences.len(), seeds.len());
    if seeds.len() as u64 >= suite.seeds {
        assert!(
            totals.commands >= suite.min_commands,
            "only {} commands were compared, expected at least {}",
            totals.commands,
            suite.min_commands
        );
    }
}
