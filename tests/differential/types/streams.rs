//! Streams: entries (explicit ids mostly, `*` now and then with its reply
//! normalised), ranges, trimming (exact and approximate, with LIMIT),
//! consumer groups (create/setid/destroy, consumers, XREADGROUP, XACK,
//! XPENDING, XCLAIM, XAUTOCLAIM), XINFO, XSETID, and XREAD/XREADGROUP
//! BLOCK inside MULTI and in blocking scenarios.
//!
//! Explicit ids come from one counter that only grows, with milliseconds
//! far in the future, so that `*` after them is deterministic (the last
//! id's milliseconds, next sequence number). Idle times are either 0 or
//! hours (IDLE 7200000, TIME of 2001) and min-idle-times 0 or one hour, so
//! which entries XCLAIM/XAUTOCLAIM/XPENDING IDLE select never depends on
//! the moment a command runs.

use super::{Family, Gen};
use crate::harness::{Argv, Check};

const COMMANDS: &[(&str, u64)] = &[
    ("xadd", 16),
    ("xlen", 2),
    ("xrange", 5),
    ("xrevrange", 3),
    ("xdel", 3),
    ("xtrim", 3),
    ("xread", 4),
    ("xgroup create", 7),
    ("xgroup setid", 2),
    ("xgroup destroy", 1),
    ("xgroup createconsumer", 2),
    ("xgroup delconsumer", 1),
    ("xreadgroup", 7),
    ("xack", 3),
    ("xpending", 4),
    ("xclaim", 3),
    ("xautoclaim", 3),
    ("xinfo stream", 3),
    ("xinfo groups", 2),
    ("xinfo consumers", 2),
    ("xsetid", 2),
    ("blocking", 4),
    ("encoding", 1),
];

/// A fresh id, greater than every id generated before in this seed.
fn fresh_id(g: &mut Gen) -> Vec<u8> {
    g.stream_ms += g.rng.range(0, 2) as u64;
    let seq = g.rng.range(1, 3);
    // Within one millisecond the sequence must still grow: use the ids
    // already given out for it.
    let last_seq = g
        .stream_ids
        .last()
        .and_then(|id| {
            std::str::from_utf8(id).ok()?.split_once('-').map(|(m, s)| (m.parse::<u64>().ok(), s.parse::<i64>().ok()))
        })
        .and_then(|(m, s)| (m? == g.stream_ms).then_some(s?))
        .unwrap_or(-1);
    let id = match g.rng.below(10) {
        0 if last_seq < 0 => format!("{}", g.stream_ms),
        1 => format!("{}-*", g.stream_ms),
        _ => format!("{}-{}", g.stream_ms, last_seq + seq),
    };
    let recorded = if id.ends_with("-*") || !id.contains('-') {
        format!("{}-{}", g.stream_ms, last_seq.max(-1) + 1)
    } else {
        id.clone()
    };
    g.stream_ids.push(recorded.into_bytes());
    id.into_bytes()
}

/// An id for XADD: fresh, or now and then a refused one.
fn xadd_id(g: &mut Gen) -> (Vec<u8>, Check) {
    if !g.queueing && !g.in_scenario && g.rng.percent(6) {
        return (b"*".to_vec(), Check::AutoId);
    }
    if g.rng.percent(8) {
        let bad = match g.rng.below(3) {
            0 => old_id(g),
            _ => g
                .rng
                .pick(&[
                    "0-0",
                    "0",
                    "abc",
                    "1-2-3",
                    "18446744073709551615-18446744073709551615",
                    "-1",
                    "",
                    "5-",
                    "-5",
                    "1-*-1",
                    "*-1",
                ])
                .as_bytes()
                .to_vec(),
        };
        return (bad, Check::Exact);
    }
    (fresh_id(g), Check::Exact)
}

/// An id generated earlier (or 0-1 if none yet).
fn old_id(g: &mut Gen) -> Vec<u8> {
    if g.stream_ids.is_empty() {
        return b"0-1".to_vec();
    }
    // Recent ids are likelier to exist.
    let n = g.stream_ids.len() as u64;
    let back = g.rng.below(n.min(30));
    g.stream_ids[(n - 1 - back) as usize].clone()
}

/// A range bound for XRANGE (start or end).
fn range_bound(g: &mut Gen, start: bool) -> Vec<u8> {
    match g.rng.below(100) {
        0..=29 => {
            if start {
                b"-".to_vec()
            } else {
                b"+".to_vec()
            }
        }
        30..=69 => old_id(g),
        70..=79 => [b"(".to_vec(), old_id(g)].concat(),
        80..=87 => {
            // Milliseconds only: the first (start) or last (end) of them.
            let id = old_id(g);
            id.split(|&b| b == b'-').next().unwrap().to_vec()
        }
        _ => g
            .rng
            .pick(&["+", "-", "0", "(0-0", "(-", "abc", "", "(18446744073709551615-18446744073709551615", "0-0"])
            .as_bytes()
            .to_vec(),
    }
}

/// An id that says where to read from (XREAD, XREADGROUP history).
fn read_id(g: &mut Gen) -> Vec<u8> {
    match g.rng.below(10) {
        0..=5 => old_id(g),
        6..=7 => b"0".to_vec(),
        8 => b"0-0".to_vec(),
        _ => g.rng.pick(&["$", "abc", "+", "-"]).as_bytes().to_vec(),
    }
}

fn group(g: &mut Gen) -> Vec<u8> {
    g.rng.pick(&["g1", "g1", "g1", "g2", "g2", "g2", "nogroup"]).as_bytes().to_vec()
}

fn consumer(g: &mut Gen) -> Vec<u8> {
    g.rng.pick(&["c1", "c1", "c2", "c2", "c3", ""]).as_bytes().to_vec()
}

fn field_values(g: &mut Gen, argv: &mut Argv) {
    let n = g.rng.range(1, 3);
    for _ in 0..n {
        argv.push(g.rng.pick(&["f1", "f2", "f3", "", "name"]).as_bytes().to_vec());
        argv.push(g.value());
    }
    if g.rng.percent(2) {
        argv.push(b"odd".to_vec());
    }
}

/// MAXLEN/MINID [=|~] threshold [LIMIT n].
fn trim_args(g: &mut Gen, argv: &mut Argv) {
    let minid = g.rng.percent(35);
    argv.push(g.word(if minid { "MINID" } else { "MAXLEN" }));
    let approx = match g.rng.below(10) {
        0..=3 => None,
        4..=5 => Some("="),
        _ => Some("~"),
    };
    if let Some(a) = approx {
        argv.push(a.as_bytes().to_vec());
    }
    if minid {
        argv.push(if g.rng.percent(90) { old_id(g) } else { b"abc".to_vec() });
    } else {
        argv.push(g.count_arg(0, 12));
    }
    if g.rng.percent(if approx == Some("~") { 40 } else { 5 }) {
        argv.push(g.word("LIMIT"));
        argv.push(g.count_arg(0, 5));
    }
}

fn time_option(g: &mut Gen, argv: &mut Argv) {
    match g.rng.below(8) {
        0..=1 => {
            argv.push(g.word("IDLE"));
            argv.push(g.rng.pick(&["0", "7200000", "7200000", "-5", "abc"]).as_bytes().to_vec());
        }
        2 => {
            argv.push(g.word("TIME"));
            argv.push(g.rng.pick(&["1000000000000", "1000000000000", "0", "abc"]).as_bytes().to_vec());
        }
        3..=4 => {
            argv.push(g.word("RETRYCOUNT"));
            argv.push(g.count_arg(0, 5));
        }
        5 => argv.push(g.word("FORCE")),
        6 => argv.push(g.word("JUSTID")),
        _ => {
            argv.push(g.word("LASTID"));
            argv.push(old_id(g));
        }
    }
}

fn min_idle(g: &mut Gen) -> Vec<u8> {
    g.rng.pick(&["0", "0", "0", "3600000", "3600000", "-1", "abc"]).as_bytes().to_vec()
}

pub fn command(g: &mut Gen) -> Vec<(Argv, Check)> {
    let weights: Vec<u64> =
        COMMANDS.iter().map(|(n, w)| if *n == "blocking" && !g.queueing { 0 } else { *w }).collect();
    let name = COMMANDS[g.rng.weighted(&weights)].0;
    let mut check = Check::Exact;
    let mut argv: Argv = name.split(' ').map(|w| g.word(w)).collect();
    match name {
        "blocking" => {
            let block = match g.rng.below(10) {
                0..=6 => g.rng.pick(&["0", "100", "10"]).as_bytes().to_vec(),
                _ => g.rng.pick(&["-1", "abc", ""]).as_bytes().to_vec(),
            };
            return vec![(blocking_command(g, block), Check::Exact)];
        }
        "encoding" => return vec![(vec![g.word("OBJECT"), g.word("ENCODING"), g.key()], Check::Exact)],
        "xadd" => {
            argv.push(g.key());
            if g.rng.percent(10) {
                argv.push(g.word("NOMKSTREAM"));
            }
            if g.rng.percent(20) {
                trim_args(g, &mut argv);
            }
            let (id, id_check) = xadd_id(g);
            argv.push(id);
            check = id_check;
            field_values(g, &mut argv);
        }
        "xlen" => argv.push(g.key()),
        "xrange" | "xrevrange" => {
            argv.push(g.key());
            let (a, b) = (range_bound(g, true), range_bound(g, false));
            if name == "xrange" {
                argv.push(a);
                argv.push(b);
            } else {
                argv.push(b);
                argv.push(a);
            }
            if g.rng.percent(35) {
                argv.push(g.word("COUNT"));
                argv.push(g.count_arg(0, 5));
            }
        }
        "xdel" => {
            argv.push(g.key());
            for _ in 0..g.rng.range(1, 3) {
                argv.push(if g.rng.percent(95) { old_id(g) } else { b"abc".to_vec() });
            }
        }
        "xtrim" => {
            argv.push(g.key());
            trim_args(g, &mut argv);
        }
        "xread" => {
            if g.rng.percent(40) {
                argv.push(g.word("COUNT"));
                argv.push(g.count_arg(0, 4));
            }
            argv.push(g.word("STREAMS"));
            let n = g.rng.range(1, 2);
            let keys: Vec<Vec<u8>> = (0..n).map(|_| g.key()).collect();
            argv.extend(keys);
            let ids = if g.rng.percent(4) { n + 1 } else { n };
            for _ in 0..ids {
                argv.push(read_id(g));
            }
        }
        "xgroup create" => {
            argv.push(g.key());
            argv.push(group(g));
            argv.push(match g.rng.below(10) {
                0..=3 => b"$".to_vec(),
                4..=6 => b"0".to_vec(),
                _ => read_id(g),
            });
            if g.rng.percent(60) {
                argv.push(g.word("MKSTREAM"));
            }
            if g.rng.percent(15) {
                argv.push(g.word("ENTRIESREAD"));
                argv.push(g.count_arg(-1, 5));
            }
        }
        "xgroup setid" => {
            argv.push(g.key());
            argv.push(group(g));
            argv.push(if g.rng.percent(30) { b"$".to_vec() } else { read_id(g) });
            if g.rng.percent(20) {
                argv.push(g.word("ENTRIESREAD"));
                argv.push(g.count_arg(-1, 5));
            }
        }
        "xgroup destroy" => {
            argv.push(g.key());
            argv.push(group(g));
        }
        "xgroup createconsumer" | "xgroup delconsumer" => {
            argv.push(g.key());
            argv.push(group(g));
            argv.push(consumer(g));
        }
        "xreadgroup" => {
            argv.truncate(1);
            argv.push(g.word("GROUP"));
            argv.push(group(g));
            argv.push(consumer(g));
            if g.rng.percent(40) {
                argv.push(g.word("COUNT"));
                argv.push(g.count_arg(0, 4));
            }
            if g.rng.percent(15) {
                argv.push(g.word("NOACK"));
            }
            argv.push(g.word("STREAMS"));
            let n = g.rng.range(1, 2);
            let keys: Vec<Vec<u8>> = (0..n).map(|_| g.key()).collect();
            argv.extend(keys);
            for _ in 0..n {
                argv.push(if g.rng.percent(70) { b">".to_vec() } else { read_id(g) });
            }
        }
        "xack" => {
            argv.push(g.key());
            argv.push(group(g));
            for _ in 0..g.rng.range(1, 3) {
                argv.push(if g.rng.percent(95) { old_id(g) } else { b"abc".to_vec() });
            }
        }
        "xpending" => {
            check = Check::Clock;
            argv.push(g.key());
            argv.push(group(g));
            if g.rng.percent(65) {
                if g.rng.percent(30) {
                    argv.push(g.word("IDLE"));
                    argv.push(min_idle(g));
                }
                argv.push(range_bound(g, true));
                argv.push(range_bound(g, false));
                argv.push(g.count_arg(0, 6));
                if g.rng.percent(40) {
                    argv.push(consumer(g));
                }
            }
        }
        "xclaim" => {
            argv.push(g.key());
            argv.push(group(g));
            argv.push(consumer(g));
            argv.push(min_idle(g));
            for _ in 0..g.rng.range(1, 3) {
                argv.push(old_id(g));
            }
            for _ in 0..g.rng.below(3) {
                time_option(g, &mut argv);
            }
        }
        "xautoclaim" => {
            argv.push(g.key());
            argv.push(group(g));
            argv.push(consumer(g));
            argv.push(min_idle(g));
            argv.push(range_bound(g, true));
            if g.rng.percent(50) {
                argv.push(g.word("COUNT"));
                argv.push(g.count_arg(1, 5));
            }
            if g.rng.percent(30) {
                argv.push(g.word("JUSTID"));
            }
        }
        "xinfo stream" => {
            check = Check::Clock;
            argv.push(g.key());
            if g.rng.percent(40) {
                argv.push(g.word("FULL"));
                if g.rng.percent(50) {
                    argv.push(g.word("COUNT"));
                    argv.push(g.count_arg(0, 4));
                }
            }
        }
        "xinfo groups" => argv.push(g.key()),
        "xinfo consumers" => {
            check = Check::Clock;
            argv.push(g.key());
            argv.push(group(g));
        }
        "xsetid" => {
            argv.push(g.key());
            argv.push(if g.rng.percent(60) { old_id(g) } else { fresh_id(g) });
            if g.rng.percent(30) {
                argv.push(g.word("ENTRIESADDED"));
                argv.push(g.count_arg(0, 40));
            }
            if g.rng.percent(30) {
                argv.push(g.word("MAXDELETEDID"));
                argv.push(old_id(g));
            }
        }
        other => unreachable!("no generator for {other}"),
    }
    vec![(argv, check)]
}

/// XREAD or XREADGROUP with BLOCK `block` (milliseconds).
pub fn blocking_command(g: &mut Gen, block: Vec<u8>) -> Argv {
    let n = g.rng.range(1, 2);
    let mut argv;
    let group_read = g.rng.percent(50);
    if group_read {
        argv = vec![g.word("XREADGROUP"), g.word("GROUP"), group(g), consumer(g)];
    } else {
        argv = vec![g.word("XREAD")];
    }
    if g.rng.percent(30) {
        argv.push(g.word("COUNT"));
        argv.push(g.count_arg(1, 3));
    }
    if group_read && g.rng.percent(10) {
        argv.push(g.word("NOACK"));
    }
    argv.push(g.word("BLOCK"));
    argv.push(block);
    argv.push(g.word("STREAMS"));
    for _ in 0..n {
        argv.push(g.own_key());
    }
    for _ in 0..n {
        argv.push(match (group_read, g.rng.below(10)) {
            (true, 0..=8) => b">".to_vec(),
            (false, 0..=7) => b"$".to_vec(),
            _ => read_id(g),
        });
    }
    argv
}

fn feeder(g: &mut Gen) {
    match g.rng.below(20) {
        0..=9 => {
            let mut argv = vec![g.word("XADD"), g.own_key()];
            if g.rng.percent(10) {
                argv.push(g.word("MAXLEN"));
                argv.push(b"2".to_vec());
            }
            argv.push(fresh_id(g));
            field_values(g, &mut argv);
            g.feed(argv, Check::Exact);
        }
        10..=11 => {
            let argv =
                vec![g.word("XGROUP"), g.word("CREATE"), g.own_key(), group(g), b"$".to_vec(), g.word("MKSTREAM")];
            g.feed(argv, Check::Exact);
        }
        12..=13 => {
            let key = g.own_key();
            let mut first = vec![b"XADD".to_vec(), key.clone(), fresh_id(g)];
            field_values(g, &mut first);
            let mut commands = vec![first];
            if g.rng.percent(40) {
                commands.push(vec![b"XTRIM".to_vec(), key.clone(), b"MAXLEN".to_vec(), b"0".to_vec()]);
            }
            if g.rng.percent(30) {
                let mut second = vec![b"XADD".to_vec(), g.own_key(), fresh_id(g)];
                field_values(g, &mut second);
                commands.push(second);
            }
            g.feed_multi(commands);
        }
        14 => {
            let argv = vec![g.word("DEL"), g.own_key()];
            g.feed(argv, Check::Exact);
        }
        15 => {
            let argv = vec![g.word("XGROUP"), g.word("DESTROY"), g.own_key(), group(g)];
            g.feed(argv, Check::Exact);
        }
        16 => {
            let argv = vec![g.word("SET"), g.own_key(), g.member()];
            g.feed(argv, Check::Exact);
        }
        _ => {
            for (argv, check) in command(g) {
                g.feed(argv, check);
            }
        }
    }
}

/// Readers of one stream, or consumers of one group: XREAD waiters all
/// get a new entry, XREADGROUP waiters one entry each, in arrival order;
/// deleting the key or the group fails the group readers.
fn fifo(g: &mut Gen) {
    let key = g.own_key();
    let grp = if g.rng.percent(50) { b"g1".to_vec() } else { b"g2".to_vec() };
    if g.rng.percent(60) {
        let create =
            vec![b"XGROUP".to_vec(), b"CREATE".to_vec(), key.clone(), grp.clone(), b"$".to_vec(), b"MKSTREAM".to_vec()];
        g.feed(create, Check::Exact);
    }
    let waiters = g.rng.range(2, super::WAITERS as i64) as usize;
    for w in 0..waiters {
        let mut argv = if g.rng.percent(60) {
            vec![g.word("XREADGROUP"), g.word("GROUP"), grp.clone(), consumer(g)]
        } else {
            vec![g.word("XREAD")]
        };
        let group_read = argv.len() > 1;
        if g.rng.percent(30) {
            argv.push(g.word("COUNT"));
            argv.push(b"1".to_vec());
        }
        argv.extend([g.word("BLOCK"), b"0".to_vec(), g.word("STREAMS"), key.clone()]);
        argv.push(if group_read { b">".to_vec() } else { b"$".to_vec() });
        g.block(w, argv);
    }
    match g.rng.below(10) {
        0 => g.feed(vec![b"DEL".to_vec(), key.clone()], Check::Exact),
        1 => g.feed(vec![b"XGROUP".to_vec(), b"DESTROY".to_vec(), key.clone(), grp.clone()], Check::Exact),
        _ => {
            for _ in 0..g.rng.range(1, 2) {
                let mut add = vec![g.word("XADD"), key.clone(), fresh_id(g)];
                field_values(g, &mut add);
                g.feed(add, Check::Exact);
            }
        }
    }
    g.feed(vec![b"XINFO".to_vec(), b"GROUPS".to_vec(), key.clone()], Check::Exact);
    g.feed(vec![b"XPENDING".to_vec(), key, grp], Check::Clock);
    g.release();
}

pub fn scenario(g: &mut Gen) {
    g.family = Family::Streams;
    if g.rng.percent(35) {
        return fifo(g);
    }
    if g.rng.percent(20) {
        let block = if g.rng.percent(90) { g.rng.pick(&["10", "20", "1"]).as_bytes().to_vec() } else { b"-1".to_vec() };
        let argv = blocking_command(g, block);
        g.block_timed(0, argv);
        return;
    }
    let waiters = g.rng.range(1, super::WAITERS as i64) as usize;
    for w in 0..waiters {
        let block =
            if g.rng.percent(95) { g.rng.pick(&["0", "0", "100000"]).as_bytes().to_vec() } else { b"abc".to_vec() };
        let argv = blocking_command(g, block);
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
