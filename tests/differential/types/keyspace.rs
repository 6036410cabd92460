//! Keyspace commands on keys of every type: TYPE, OBJECT ENCODING,
//! EXISTS/DEL/UNLINK/TOUCH, RENAME/RENAMENX, COPY (within and across
//! databases), MOVE, SELECT, SWAPDB, FLUSHDB, DBSIZE, KEYS, SCAN with TYPE
//! RANDOMKEY (property checked), and expiry (EXPIRE far in the future or
//! in the past, PERSIST, TTL) on keys of every type.

use super::Gen;
use crate::harness::{Argv, Check, Op, Random, RandomKind, Unit};

const COMMANDS: &[(&str, u64)] = &[
    ("type", 6),
    ("encoding", 8),
    ("exists", 3),
    ("del", 4),
    ("unlink", 1),
    ("touch", 1),
    ("rename", 3),
    ("renamenx", 2),
    ("copy", 4),
    ("move", 2),
    ("select", 2),
    ("swapdb", 1),
    ("flushdb", 1),
    ("dbsize", 2),
    ("keys", 2),
    ("expire", 3),
    ("ttl", 2),
    ("persist", 1),
];

fn db(g: &mut Gen) -> Vec<u8> {
    if g.rng.percent(90) {
        return if g.rng.percent(70) { b"0".to_vec() } else { b"1".to_vec() };
    }
    g.rng.pick(&["2", "16", "-1", "abc", ""]).as_bytes().to_vec()
}

pub fn command(g: &mut Gen) -> Vec<(Argv, Check)> {
    let weights: Vec<u64> = COMMANDS.iter().map(|(_, w)| *w).collect();
    let name = COMMANDS[g.rng.weighted(&weights)].0;
    let mut check = Check::Exact;
    let argv = match name {
        "type" => vec![g.word("TYPE"), g.key()],
        "encoding" => vec![g.word("OBJECT"), g.word("ENCODING"), g.key()],
        "exists" | "del" | "unlink" | "touch" => {
            let mut argv = vec![g.word(name)];
            for _ in 0..g.rng.range(1, 3) {
                argv.push(g.key());
            }
            argv
        }
        "rename" | "renamenx" => vec![g.word(name), g.key(), g.key()],
        "copy" => {
            let mut argv = vec![g.word("COPY"), g.key(), g.key()];
            if g.rng.percent(30) {
                argv.push(g.word("DB"));
                argv.push(db(g));
            }
            if g.rng.percent(40) {
                argv.push(g.word("REPLACE"));
            }
            argv
        }
        "move" => vec![g.word("MOVE"), g.key(), db(g)],
        "select" => {
            // Mostly back to (or staying in) database 0.
            let target = if g.rng.percent(75) { b"0".to_vec() } else { db(g) };
            vec![g.word("SELECT"), target]
        }
        "swapdb" => vec![g.word("SWAPDB"), db(g), db(g)],
        "flushdb" => {
            // Rare, so that collections get big between flushes.
            if g.rng.percent(30) {
                vec![g.word("FLUSHDB")]
            } else {
                vec![g.word("DBSIZE")]
            }
        }
        "dbsize" => vec![g.word("DBSIZE")],
        "keys" => {
            check = Check::Sorted;
            let pattern: &[u8] = *g.rng.pick(&[&b"*"[..], b"?a", b"{t}*", b"*b*", b"[lhs]?"]);
            vec![g.word("KEYS"), pattern.to_vec()]
        }
        "expire" => match g.rng.below(10) {
            // Far enough that no key expires during the test, or in the
            // past (the key is deleted at once).
            0..=5 => vec![g.word("EXPIRE"), g.key(), g.rng.range(100_000, 200_000).to_string().into_bytes()],
            6..=7 => vec![g.word("PEXPIREAT"), g.key(), b"1".to_vec()],
            _ => vec![g.word("EXPIREAT"), g.key(), b"4000000000".to_vec()],
        },
        "ttl" => {
            check = Check::Ttl(Unit::Seconds);
            vec![g.word("TTL"), g.key()]
        }
        "persist" => vec![g.word("PERSIST"), g.key()],
        other => unreachable!("no generator for {other}"),
    };
    vec![(argv, check)]
}

pub fn random_group(g: &mut Gen) -> Vec<(Argv, Check)> {
    let random = Random { kind: RandomKind::Key, count: None, with_values: false, reference: 1, encoding: None };
    vec![(vec![g.word("RANDOMKEY")], Check::Random(random)), (vec![b"KEYS".to_vec(), b"*".to_vec()], Check::Sorted)]
}

pub fn scan(g: &mut Gen) -> Op {
    let mut options = super::hashes::scan_options(g, &[b"*", b"?a", b"{t}*", b"*b*", b"[lhsz]?"]);
    if g.rng.percent(60) {
        options.push(g.word("TYPE"));
        let t: &[u8] =
            *g.rng.pick(&[&b"list"[..], b"hash", b"set", b"zset", b"stream", b"string", b"none", b"LIST", b"ZSET"]);
        options.push(t.to_vec());
    }
    Op::FullScan {
        conn: 0,
        command: vec![b"SCAN".to_vec()],
        first_cursor: b"0".to_vec(),
        options,
        pairs: false,
        probe: false,
    }
}
