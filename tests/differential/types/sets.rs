//! Sets: every set command with its options and errors, intset and
//! hash-table encodings, set algebra, SRANDMEMBER and SPOP (property
//! checked, SPOP followed by a resync) and SSCAN.

use super::Gen;
use crate::harness::{Argv, Check, Op, Random, RandomKind, ResyncKind};

const COMMANDS: &[(&str, u64)] = &[
    ("sadd", 14),
    ("srem", 5),
    ("scard", 3),
    ("sismember", 4),
    ("smismember", 3),
    ("smembers", 5),
    ("smove", 3),
    ("sinter", 3),
    ("sunion", 3),
    ("sdiff", 3),
    ("sinterstore", 3),
    ("sunionstore", 3),
    ("sdiffstore", 3),
    ("sintercard", 3),
    ("encoding", 2),
];

/// A member: integers half of the time (the intset encoding).
pub fn member(g: &mut Gen) -> Vec<u8> {
    if g.rng.percent(50) {
        return match g.rng.below(10) {
            0..=7 => g.rng.range(-3, 30).to_string().into_bytes(),
            _ => g
                .rng
                .pick(&[
                    "9223372036854775807",
                    "-9223372036854775808",
                    "2147483648",
                    "-2147483649",
                    "65536",
                    "-32769",
                    "40000",
                ])
                .as_bytes()
                .to_vec(),
        };
    }
    g.member()
}

pub fn command(g: &mut Gen) -> Vec<(Argv, Check)> {
    let weights: Vec<u64> = COMMANDS.iter().map(|(_, w)| *w).collect();
    let name = COMMANDS[g.rng.weighted(&weights)].0;
    match name {
        "encoding" => return vec![(vec![g.word("OBJECT"), g.word("ENCODING"), g.key()], Check::Exact)],
        "smembers" => {
            let key = g.key();
            let probe = vec![b"OBJECT".to_vec(), b"ENCODING".to_vec(), key.clone()];
            return vec![(probe, Check::Exact), (vec![g.word("SMEMBERS"), key], Check::Compact { pairs: false })];
        }
        _ => {}
    }
    let mut argv = vec![g.word(name)];
    let mut check = Check::Exact;
    match name {
        "sadd" | "srem" | "smismember" => {
            argv.push(g.key());
            let n = if g.rng.percent(8) { g.rng.range(8, 40) } else { g.rng.range(1, 4) };
            for _ in 0..n {
                argv.push(member(g));
            }
        }
        "scard" => argv.push(g.key()),
        "sismember" => {
            argv.push(g.key());
            argv.push(member(g));
        }
        "smove" => {
            argv.push(g.key());
            argv.push(g.key());
            argv.push(member(g));
        }
        "sinter" | "sunion" | "sdiff" => {
            // The reply's order is the result set's hash-table order.
            check = Check::Sorted;
            for _ in 0..g.rng.range(1, 3) {
                argv.push(g.key());
            }
        }
        "sinterstore" | "sunionstore" | "sdiffstore" => {
            for _ in 0..g.rng.range(2, 4) {
                argv.push(g.key());
            }
        }
        "sintercard" => {
            let n = g.rng.range(1, 3);
            argv.push(if g.rng.percent(8) { g.count_arg(0, 4) } else { n.to_string().into_bytes() });
            for _ in 0..n {
                argv.push(g.key());
            }
            if g.rng.percent(40) {
                argv.push(g.word("LIMIT"));
                argv.push(g.count_arg(0, 5));
            }
        }
        other => unreachable!("no generator for {other}"),
    }
    vec![(argv, check)]
}

pub fn random_group(g: &mut Gen) -> Vec<(Argv, Check)> {
    let key = g.key();
    let probe = vec![b"OBJECT".to_vec(), b"ENCODING".to_vec(), key.clone()];
    let members = vec![b"SMEMBERS".to_vec(), key.clone()];
    let mut count = None;
    let mut count_arg = |g: &mut Gen, lo: i64| -> Option<Vec<u8>> {
        if g.rng.percent(30) {
            return None;
        }
        let c =
            if g.rng.percent(95) { g.rng.range(lo, 12) } else { *g.rng.pick(&[0, 1, 100, 9_223_372_036_854_775_807]) };
        count = Some(c);
        Some(c.to_string().into_bytes())
    };
    if g.rng.percent(55) {
        let mut argv = vec![g.word("SRANDMEMBER"), key];
        if let Some(c) = count_arg(g, -6) {
            argv.push(c);
        }
        let random = Random { kind: RandomKind::Set, count, with_values: false, reference: 2, encoding: Some(1) };
        vec![(argv, Check::Random(random)), (probe, Check::Exact), (members, Check::Compact { pairs: false })]
    } else {
        let mut argv = vec![g.word("SPOP"), key];
        if let Some(c) = count_arg(g, 0) {
            argv.push(c);
        }
        let random =
            Random { kind: RandomKind::SPop { before: 1 }, count, with_values: false, reference: 3, encoding: Some(0) };
        vec![
            (probe, Check::Exact),
            (members.clone(), Check::Compact { pairs: false }),
            (argv, Check::Random(random)),
            (members, Check::Resync(ResyncKind::Set)),
        ]
    }
}

pub fn scan(g: &mut Gen) -> Op {
    let key = g.key();
    let options = super::hashes::scan_options(g, &[b"*", b"1*", b"?", b"-*", b"[a-c]", b"*0", b"L*"]);
    Op::FullScan {
        conn: 0,
        command: vec![g.word("SSCAN"), key],
        first_cursor: b"0".to_vec(),
        options,
        pairs: false,
        probe: true,
    }
}
