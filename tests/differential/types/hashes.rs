//! Hashes: every hash command with its options and errors (arity, integer
//! and float increments with overflow, NaN and infinity), listpack and
//! hash-table encodings, HRANDFIELD (property checked) and HSCAN.

use super::Gen;
use crate::harness::{Argv, Check, Op, Random, RandomKind};

const COMMANDS: &[(&str, u64)] = &[
    ("hset", 12),
    ("hmset", 3),
    ("hsetnx", 3),
    ("hget", 6),
    ("hmget", 4),
    ("hdel", 5),
    ("hlen", 3),
    ("hstrlen", 3),
    ("hexists", 3),
    ("hincrby", 5),
    ("hincrbyfloat", 5),
    ("hkeys", 2),
    ("hvals", 2),
    ("hgetall", 5),
    ("encoding", 2),
];

pub fn field(g: &mut Gen) -> Vec<u8> {
    match g.rng.below(10) {
        0..=5 => format!("f{}", g.rng.below(8)).into_bytes(),
        6..=8 => g.member(),
        _ => {
            let len = *g.rng.pick(&[3usize, 8, 15, 16, 17, 63, 64, 65, 70]);
            g.letters(len)
        }
    }
}

/// An increment for HINCRBYFLOAT (and ZINCRBY-like float arguments).
pub fn float_arg(g: &mut Gen) -> Vec<u8> {
    match g.rng.below(20) {
        0..=10 => format!("{}.{}", g.rng.range(-100, 100), g.rng.range(0, 99)).into_bytes(),
        11..=13 => g.rng.range(-50, 50).to_string().into_bytes(),
        _ => g
            .rng
            .pick(&[
                "inf",
                "-inf",
                "nan",
                "1e308",
                "-1e308",
                "1e4932",
                "abc",
                "",
                "1.5e3",
                "0x10",
                " 1",
                "1 ",
                "5.",
                "-.5",
                "+1.5",
                "1e-300",
                "0.1",
                "infinity",
                "-INF",
                "1e",
                "1.5.5",
                "-0",
                "1e-4950",
                "4e-320",
                "1e4000",
                "123456789012345678901234567890",
                "0.000000000000000001",
                "1\x00",
            ])
            .as_bytes()
            .to_vec(),
    }
}

pub fn command(g: &mut Gen) -> Vec<(Argv, Check)> {
    let weights: Vec<u64> = COMMANDS.iter().map(|(_, w)| *w).collect();
    let name = COMMANDS[g.rng.weighted(&weights)].0;
    let key = g.key();
    match name {
        "encoding" => return vec![(vec![g.word("OBJECT"), g.word("ENCODING"), key], Check::Exact)],
        "hkeys" | "hvals" | "hgetall" => {
            // The order is the encoding's: listpack order is compared.
            let probe = vec![b"OBJECT".to_vec(), b"ENCODING".to_vec(), key.clone()];
            let pairs = name == "hgetall";
            return vec![(probe, Check::Exact), (vec![g.word(name), key], Check::Compact { pairs })];
        }
        _ => {}
    }
    let mut argv = vec![g.word(name), key];
    match name {
        "hset" | "hmset" => {
            let n = if g.rng.percent(8) { g.rng.range(8, 30) } else { g.rng.range(1, 3) };
            for _ in 0..n {
                argv.push(field(g));
                argv.push(g.value());
            }
        }
        "hsetnx" => {
            argv.push(field(g));
            argv.push(g.value());
        }
        "hget" | "hstrlen" | "hexists" => argv.push(field(g)),
        "hmget" | "hdel" => {
            for _ in 0..g.rng.range(1, 4) {
                argv.push(field(g));
            }
        }
        "hlen" => {}
        "hincrby" => {
            argv.push(field(g));
            argv.push(g.count_arg(-100, 100));
        }
        "hincrbyfloat" => {
            argv.push(field(g));
            argv.push(float_arg(g));
        }
        other => unreachable!("no generator for {other}"),
    }
    vec![(argv, Check::Exact)]
}

pub fn random_group(g: &mut Gen) -> Vec<(Argv, Check)> {
    let key = g.key();
    let mut argv = vec![g.word("HRANDFIELD"), key.clone()];
    let mut count = None;
    let mut with_values = false;
    if g.rng.percent(75) {
        let c =
            if g.rng.percent(95) { g.rng.range(-6, 12) } else { *g.rng.pick(&[0, 1, 100, 9_223_372_036_854_775_807]) };
        argv.push(c.to_string().into_bytes());
        count = Some(c);
        if g.rng.percent(50) {
            argv.push(g.word("WITHVALUES"));
            with_values = true;
        }
    }
    if g.rng.percent(3) {
        // Errors: a bad count, or an unknown option.
        let bad = if g.rng.percent(50) { b"abc".to_vec() } else { b"-9223372036854775808".to_vec() };
        argv.truncate(2);
        argv.push(bad);
        count = Some(0);
    }
    let random = Random { kind: RandomKind::Hash, count, with_values, reference: 2, encoding: Some(1) };
    vec![
        (argv, Check::Random(random)),
        (vec![b"OBJECT".to_vec(), b"ENCODING".to_vec(), key.clone()], Check::Exact),
        (vec![b"HGETALL".to_vec(), key], Check::Compact { pairs: true }),
    ]
}

pub fn scan_options(g: &mut Gen, patterns: &[&[u8]]) -> Argv {
    let mut options = Vec::new();
    if g.rng.percent(50) {
        options.push(g.word("MATCH"));
        options.push(g.rng.pick(patterns).to_vec());
    }
    if g.rng.percent(50) {
        options.push(g.word("COUNT"));
        options.push(g.rng.range(1, 20).to_string().into_bytes());
    }
    options
}

pub fn scan(g: &mut Gen) -> Op {
    let key = g.key();
    let options = scan_options(g, &[b"*", b"f*", b"f[0-3]", b"?", b"*a*", b"[a-c]*", b"1*", b""]);
    Op::FullScan {
        conn: 0,
        command: vec![g.word("HSCAN"), key],
        first_cursor: b"0".to_vec(),
        options,
        pairs: true,
        probe: true,
    }
}
