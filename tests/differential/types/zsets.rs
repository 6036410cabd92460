//! Sorted sets: every sorted-set command with its options and errors
//! (NX/XX/GT/LT/CH/INCR, NaN and infinite scores, score and lex ranges,
//! LIMIT, WEIGHTS/AGGREGATE with sets as inputs), listpack and skiplist
//! encodings, ZRANDMEMBER (property checked), ZSCAN, blocking pops inside
//! MULTI and in blocking scenarios.

use super::{Family, Gen};
use crate::harness::{Argv, Check, Op, Random, RandomKind, ResyncKind};

const COMMANDS: &[(&str, u64)] = &[
    ("zadd", 14),
    ("zincrby", 4),
    ("zscore", 4),
    ("zmscore", 3),
    ("zcard", 3),
    ("zcount", 3),
    ("zlexcount", 3),
    ("zrank", 3),
    ("zrevrank", 2),
    ("zrange", 9),
    ("zrangebyscore", 3),
    ("zrevrangebyscore", 2),
    ("zrangebylex", 3),
    ("zrevrangebylex", 2),
    ("zrevrange", 2),
    ("zrangestore", 3),
    ("zrem", 4),
    ("zremrangebyrank", 2),
    ("zremrangebyscore", 2),
    ("zremrangebylex", 2),
    ("zpopmin", 3),
    ("zpopmax", 3),
    ("zmpop", 3),
    ("zunion", 2),
    ("zinter", 2),
    ("zdiff", 2),
    ("zunionstore", 2),
    ("zinterstore", 2),
    ("zdiffstore", 2),
    ("zintercard", 2),
    ("blocking", 4),
    ("encoding", 2),
];

pub fn member(g: &mut Gen) -> Vec<u8> {
    if g.rng.percent(60) {
        let len = if g.rng.percent(80) { 1 } else { 2 };
        return g.letters(len);
    }
    g.member()
}

pub fn score(g: &mut Gen) -> Vec<u8> {
    match g.rng.below(100) {
        0..=63 => g.rng.range(-5, 10).to_string().into_bytes(),
        64..=79 => format!("{}.{}", g.rng.range(-5, 10), *g.rng.pick(&["5", "25", "1", "75", "333"])).into_bytes(),
        80..=95 => g
            .rng
            .pick(&[
                "inf",
                "+inf",
                "-inf",
                "0",
                "-0",
                "1e308",
                "-1e308",
                "1.7976931348623157e308",
                "4e-320",
                "0.1",
                "1e-10",
                "123456789.123456789",
                "1e17",
                "9007199254740993",
                "0x10",
                "infinity",
                "-Infinity",
                "3.0",
                "1E2",
                "+5",
            ])
            .as_bytes()
            .to_vec(),
        _ => g
            .rng
            .pick(&["nan", "abc", "", "1e309", "1e-400", "(1", " 1", "1 ", "NaN", "1,5", "--1", "1e", "-nan", "1\x00"])
            .as_bytes()
            .to_vec(),
    }
}

pub fn score_bound(g: &mut Gen) -> Vec<u8> {
    match g.rng.below(100) {
        0..=59 => {
            let v = g.rng.range(-6, 11).to_string();
            if g.rng.percent(30) { format!("({v}") } else { v }.into_bytes()
        }
        60..=84 => g
            .rng
            .pick(&["-inf", "+inf", "inf", "(-inf", "(+inf", "(5.5", "2.5", "-0", "(0", "1e308"])
            .as_bytes()
            .to_vec(),
        _ => g.rng.pick(&["abc", "(", "nan", "((1", "", "(nan", " 1", "[1", "1)"]).as_bytes().to_vec(),
    }
}

pub fn lex_bound(g: &mut Gen) -> Vec<u8> {
    match g.rng.below(100) {
        0..=24 => g.rng.pick(&["-", "+"]).as_bytes().to_vec(),
        25..=89 => {
            let mut b = vec![if g.rng.percent(50) { b'[' } else { b'(' }];
            let len = g.rng.range(0, 2) as usize;
            b.extend(g.letters(len));
            b
        }
        _ => g.rng.pick(&[&b"a"[..], b"", b"-a", b"+b", b"[\x00", b"(\xff", b"--", b"++"]).to_vec(),
    }
}

/// Input keys of the ZUNION family: sorted sets, and sets now and then.
fn input_key(g: &mut Gen) -> Vec<u8> {
    if g.rng.percent(20) {
        return g.rng.pick(&[&b"sa"[..], b"sb", b"{t}sc"]).to_vec();
    }
    g.key()
}

fn zrange_options(g: &mut Gen, argv: &mut Argv, store: bool) {
    let mode = g.rng.below(10);
    match mode {
        0..=4 => {
            argv.push(g.index_arg());
            argv.push(g.index_arg());
        }
        5..=7 => {
            argv.push(score_bound(g));
            argv.push(score_bound(g));
        }
        _ => {
            argv.push(lex_bound(g));
            argv.push(lex_bound(g));
        }
    }
    let mut options: Vec<Argv> = Vec::new();
    match mode {
        5..=7 if g.rng.percent(95) => options.push(vec![g.word("BYSCORE")]),
        8..=9 if g.rng.percent(95) => options.push(vec![g.word("BYLEX")]),
        _ if g.rng.percent(5) => options.push(vec![g.word("BYSCORE")]),
        _ => {}
    }
    if g.rng.percent(30) {
        options.push(vec![g.word("REV")]);
    }
    if g.rng.percent(25) {
        options.push(vec![g.word("LIMIT"), g.count_arg(-1, 4), g.count_arg(-1, 5)]);
    }
    if !store && g.rng.percent(40) {
        options.push(vec![g.word("WITHSCORES")]);
    }
    if g.rng.percent(15) && options.len() > 1 {
        let i = g.rng.below(options.len() as u64) as usize;
        let j = g.rng.below(options.len() as u64) as usize;
        options.swap(i, j);
    }
    for o in options {
        argv.extend(o);
    }
}

fn setop_args(g: &mut Gen, argv: &mut Argv, diff: bool, withscores: bool) {
    let n = g.rng.range(1, 3);
    argv.push(if g.rng.percent(6) { g.count_arg(0, 4) } else { n.to_string().into_bytes() });
    for _ in 0..n {
        argv.push(input_key(g));
    }
    if !diff && g.rng.percent(35) {
        argv.push(g.word("WEIGHTS"));
        let w = if g.rng.percent(5) { n + 1 } else { n };
        for _ in 0..w {
            argv.push(if g.rng.percent(70) { g.rng.range(-2, 3).to_string().into_bytes() } else { score(g) });
        }
    }
    if !diff && g.rng.percent(35) {
        argv.push(g.word("AGGREGATE"));
        let a = *g.rng.pick(&["SUM", "MIN", "MAX", "SUM", "MIN", "MAX", "AVG"]);
        argv.push(g.word(a));
    }
    if withscores && g.rng.percent(50) {
        argv.push(g.word("WITHSCORES"));
    }
}

pub fn command(g: &mut Gen) -> Vec<(Argv, Check)> {
    let weights: Vec<u64> =
        COMMANDS.iter().map(|(n, w)| if *n == "blocking" && !g.queueing { 0 } else { *w }).collect();
    let name = COMMANDS[g.rng.weighted(&weights)].0;
    if name == "blocking" {
        let timeout = match g.rng.below(10) {
            0..=5 => g.long_timeout(),
            6..=7 => g.short_timeout(),
            _ => g.bad_timeout(),
        };
        return vec![(blocking_command(g, timeout), Check::Exact)];
    }
    if name == "encoding" {
        return vec![(vec![g.word("OBJECT"), g.word("ENCODING"), g.key()], Check::Exact)];
    }
    let mut argv = vec![g.word(name)];
    match name {
        "zadd" => {
            argv.push(g.key());
            for flag in ["NX", "XX", "GT", "LT", "CH", "INCR"] {
                if g.rng.percent(if flag == "CH" { 20 } else { 9 }) {
                    argv.push(g.word(flag));
                }
            }
            let n = if g.rng.percent(8) { g.rng.range(8, 40) } else { g.rng.range(1, 3) };
            for _ in 0..n {
                argv.push(score(g));
                argv.push(member(g));
            }
        }
        "zincrby" => {
            argv.push(g.key());
            argv.push(score(g));
            argv.push(member(g));
        }
        "zscore" | "zrank" | "zrevrank" => {
            argv.push(g.key());
            argv.push(member(g));
        }
        "zmscore" | "zrem" => {
            argv.push(g.key());
            for _ in 0..g.rng.range(1, 4) {
                argv.push(member(g));
            }
        }
        "zcard" => argv.push(g.key()),
        "zcount" | "zremrangebyscore" => {
            argv.push(g.key());
            argv.push(score_bound(g));
            argv.push(score_bound(g));
        }
        "zlexcount" | "zremrangebylex" => {
            argv.push(g.key());
            argv.push(lex_bound(g));
            argv.push(lex_bound(g));
        }
        "zremrangebyrank" => {
            argv.push(g.key());
            argv.push(g.index_arg());
            argv.push(g.index_arg());
        }
        "zrange" => {
            argv.push(g.key());
            zrange_options(g, &mut argv, false);
        }
        "zrangestore" => {
            argv.push(g.key());
            argv.push(g.key());
            zrange_options(g, &mut argv, true);
        }
        "zrevrange" => {
            argv.push(g.key());
            argv.push(g.index_arg());
            argv.push(g.index_arg());
            if g.rng.percent(40) {
                argv.push(g.word("WITHSCORES"));
            }
        }
        "zrangebyscore" | "zrevrangebyscore" | "zrangebylex" | "zrevrangebylex" => {
            argv.push(g.key());
            let lex = name.ends_with("lex");
            for _ in 0..2 {
                let bound = if lex { lex_bound(g) } else { score_bound(g) };
                argv.push(bound);
            }
            if !lex && g.rng.percent(40) {
                argv.push(g.word("WITHSCORES"));
            }
            if g.rng.percent(30) {
                argv.push(g.word("LIMIT"));
                argv.push(g.count_arg(-1, 4));
                argv.push(g.count_arg(-1, 5));
            }
            if lex && g.rng.percent(3) {
                argv.push(g.word("WITHSCORES"));
            }
        }
        "zpopmin" | "zpopmax" => {
            argv.push(g.key());
            if g.rng.percent(50) {
                argv.push(g.count_arg(0, 5));
            }
        }
        "zmpop" => {
            mpop_args(g, &mut argv);
        }
        "zunion" | "zinter" => setop_args(g, &mut argv, false, true),
        "zdiff" => setop_args(g, &mut argv, true, true),
        "zunionstore" | "zinterstore" => {
            argv.push(g.key());
            setop_args(g, &mut argv, false, false);
        }
        "zdiffstore" => {
            argv.push(g.key());
            setop_args(g, &mut argv, true, false);
        }
        "zintercard" => {
            let n = g.rng.range(1, 3);
            argv.push(if g.rng.percent(6) { g.count_arg(0, 4) } else { n.to_string().into_bytes() });
            for _ in 0..n {
                argv.push(input_key(g));
            }
            if g.rng.percent(40) {
                argv.push(g.word("LIMIT"));
                argv.push(g.count_arg(0, 5));
            }
        }
        other => unreachable!("no generator for {other}"),
    }
    let lex = matches!(name, "zrangebylex" | "zrevrangebylex" | "zlexcount" | "zremrangebylex")
        || (matches!(name, "zrange" | "zrangestore") && argv.iter().any(|a| a.eq_ignore_ascii_case(b"BYLEX")));
    if lex {
        // Lex ranges over different scores are only compared when Redis's
        // answer does not depend on its skiplist's random levels, which
        // needs the set's encoding and scores next to the command.
        if !g.grouping {
            return command(g);
        }
        let source = if name == "zrangestore" { argv[2].clone() } else { argv[1].clone() };
        let changed = argv[1].clone();
        let mutates = matches!(name, "zremrangebylex" | "zrangestore");
        let mut group = vec![
            (vec![b"OBJECT".to_vec(), b"ENCODING".to_vec(), source.clone()], Check::Exact),
            (zrange_all(source), Check::Exact),
            (argv, Check::Lex { encoding: 0, scores: 1 }),
        ];
        if mutates {
            group.push((zrange_all(changed), Check::Resync(ResyncKind::Zset)));
        }
        return group;
    }
    vec![(argv, Check::Exact)]
}

/// ZRANGE key 0 -1 WITHSCORES.
pub fn zrange_all(key: Vec<u8>) -> Argv {
    vec![b"ZRANGE".to_vec(), key, b"0".to_vec(), b"-1".to_vec(), b"WITHSCORES".to_vec()]
}

fn min_max(g: &mut Gen) -> Vec<u8> {
    if g.rng.percent(3) {
        return g.word("MID");
    }
    let s = if g.rng.percent(50) { "MIN" } else { "MAX" };
    g.word(s)
}

fn mpop_args(g: &mut Gen, argv: &mut Argv) {
    let n = g.rng.range(1, 3);
    argv.push(if g.rng.percent(6) { g.count_arg(0, 5) } else { n.to_string().into_bytes() });
    for _ in 0..n {
        argv.push(g.own_key());
    }
    argv.push(min_max(g));
    if g.rng.percent(40) {
        argv.push(g.word("COUNT"));
        argv.push(g.count_arg(1, 5));
    }
}

/// BZPOPMIN, BZPOPMAX or BZMPOP with this timeout.
pub fn blocking_command(g: &mut Gen, timeout: Vec<u8>) -> Argv {
    if g.rng.percent(60) {
        let name = if g.rng.percent(50) { "BZPOPMIN" } else { "BZPOPMAX" };
        let mut argv = vec![g.word(name)];
        for _ in 0..g.rng.range(1, 3) {
            argv.push(g.own_key());
        }
        argv.push(timeout);
        argv
    } else {
        let mut argv = vec![g.word("BZMPOP"), timeout];
        mpop_args(g, &mut argv);
        argv
    }
}

fn feeder(g: &mut Gen) {
    match g.rng.below(20) {
        0..=8 => {
            let mut argv = vec![g.word("ZADD"), g.own_key()];
            if g.rng.percent(15) {
                let flag = *g.rng.pick(&["NX", "XX", "GT", "LT", "INCR"]);
                argv.push(g.word(flag));
            }
            for _ in 0..g.rng.range(1, 3) {
                argv.push(g.rng.range(-3, 5).to_string().into_bytes());
                argv.push(member(g));
            }
            g.feed(argv, Check::Exact);
        }
        9 => {
            let argv = vec![g.word("ZINCRBY"), g.own_key(), b"1".to_vec(), member(g)];
            g.feed(argv, Check::Exact);
        }
        10..=11 => {
            let name = *g.rng.pick(&["ZUNIONSTORE", "ZINTERSTORE", "ZDIFFSTORE"]);
            let argv = vec![g.word(name), g.own_key(), b"2".to_vec(), g.own_key(), input_key(g)];
            g.feed(argv, Check::Exact);
        }
        12 => {
            let argv = vec![g.word("ZRANGESTORE"), g.own_key(), g.own_key(), b"0".to_vec(), b"-1".to_vec()];
            g.feed(argv, Check::Exact);
        }
        13..=14 => {
            let key = g.own_key();
            let mut commands = vec![vec![b"ZADD".to_vec(), key.clone(), b"1".to_vec(), member(g)]];
            if g.rng.percent(50) {
                commands.push(vec![b"ZPOPMIN".to_vec(), key.clone()]);
            }
            if g.rng.percent(40) {
                commands.push(vec![b"ZADD".to_vec(), g.own_key(), b"2".to_vec(), member(g)]);
            }
            g.feed_multi(commands);
        }
        15 => {
            let argv = vec![g.word("SET"), g.own_key(), g.member()];
            g.feed(argv, Check::Exact);
        }
        16 => {
            let argv = vec![g.word("DEL"), g.own_key()];
            g.feed(argv, Check::Exact);
        }
        17 => {
            let name = if g.rng.percent(50) { "RENAME" } else { "COPY" };
            let argv = vec![g.word(name), g.own_key(), g.own_key()];
            g.feed(argv, Check::Exact);
        }
        _ => {
            for (argv, check) in command(g) {
                g.feed(argv, check);
            }
        }
    }
}

/// Several waiters on one key, served in arrival order by one ZADD.
fn fifo(g: &mut Gen) {
    let key = g.own_key();
    let waiters = g.rng.range(2, super::WAITERS as i64) as usize;
    for w in 0..waiters {
        let timeout = g.long_timeout();
        let argv = match g.rng.below(4) {
            0 => vec![g.word("BZPOPMIN"), key.clone(), timeout],
            1 => vec![g.word("BZPOPMAX"), g.own_key(), key.clone(), timeout],
            _ => {
                let mut argv = vec![g.word("BZMPOP"), timeout, b"1".to_vec(), key.clone(), min_max(g)];
                if g.rng.percent(50) {
                    argv.push(g.word("COUNT"));
                    argv.push(g.rng.range(1, 3).to_string().into_bytes());
                }
                argv
            }
        };
        g.block(w, argv);
    }
    let mut add = vec![g.word("ZADD"), key.clone()];
    for _ in 0..g.rng.range(1, 5) {
        add.push(g.rng.range(-3, 5).to_string().into_bytes());
        add.push(member(g));
    }
    g.feed(add, Check::Exact);
    g.feed(zrange_all(key), Check::Exact);
    g.release();
}

pub fn scenario(g: &mut Gen) {
    g.family = Family::Zsets;
    match g.rng.below(10) {
        0..=2 => return fifo(g),
        3 => {
            let key = g.own_key();
            let timeout = g.long_timeout();
            let waiter = vec![g.word("BZPOPMAX"), key.clone(), timeout];
            let fill = vec![b"ZADD".to_vec(), key, b"1".to_vec(), member(g), b"2".to_vec(), member(g)];
            return super::lists::swapdb(g, waiter, fill);
        }
        _ => {}
    }
    if g.rng.percent(20) {
        let timeout = if g.rng.percent(85) { g.short_timeout() } else { g.bad_timeout() };
        let argv = blocking_command(g, timeout);
        g.block_timed(0, argv);
        return;
    }
    let waiters = g.rng.range(1, super::WAITERS as i64) as usize;
    for w in 0..waiters {
        let timeout = if g.rng.percent(95) { g.long_timeout() } else { g.bad_timeout() };
        let argv = blocking_command(g, timeout);
        g.block(w, argv);
        if g.rng.percent(25) {
            feeder(g);
        }
    }
    for _ in 0..g.rng.range(1, 4) {
        feeder(g);
    }
    g.release();
}

pub fn random_group(g: &mut Gen) -> Vec<(Argv, Check)> {
    let key = g.key();
    let mut argv = vec![g.word("ZRANDMEMBER"), key.clone()];
    let mut count = None;
    let mut with_values = false;
    if g.rng.percent(75) {
        let c =
            if g.rng.percent(95) { g.rng.range(-6, 12) } else { *g.rng.pick(&[0, 1, 100, 9_223_372_036_854_775_807]) };
        argv.push(c.to_string().into_bytes());
        count = Some(c);
        if g.rng.percent(50) {
            argv.push(g.word("WITHSCORES"));
            with_values = true;
        }
    }
    if g.rng.percent(3) {
        argv.truncate(2);
        argv.push(if g.rng.percent(50) { b"abc".to_vec() } else { b"-9223372036854775808".to_vec() });
        count = Some(0);
    }
    let random = Random { kind: RandomKind::Zset, count, with_values, reference: 1, encoding: None };
    let reference = vec![b"ZRANGE".to_vec(), key, b"0".to_vec(), b"-1".to_vec(), b"WITHSCORES".to_vec()];
    vec![(argv, Check::Random(random)), (reference, Check::Exact)]
}

pub fn scan(g: &mut Gen) -> Op {
    let key = g.key();
    let options = super::hashes::scan_options(g, &[b"*", b"a*", b"?", b"[a-c]", b"*b*", b"1*", b"L*"]);
    Op::FullScan {
        conn: 0,
        command: vec![g.word("ZSCAN"), key],
        first_cursor: b"0".to_vec(),
        options,
        pairs: true,
        probe: true,
    }
}
