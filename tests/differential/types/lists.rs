//! Lists: every list command with its options and errors, blocking
//! commands inside MULTI, and blocking scenarios (waiters served in
//! arrival order, timeouts, moves into waited keys, transactions).

use super::Gen;
use crate::harness::{Argv, Check};

const COMMANDS: &[(&str, u64)] = &[
    ("lpush", 10),
    ("rpush", 10),
    ("lpushx", 2),
    ("rpushx", 2),
    ("linsert", 3),
    ("llen", 3),
    ("lindex", 4),
    ("lset", 3),
    ("lrange", 8),
    ("ltrim", 2),
    ("lrem", 3),
    ("lpop", 5),
    ("rpop", 5),
    ("lpos", 5),
    ("lmove", 4),
    ("rpoplpush", 2),
    ("lmpop", 3),
    ("blocking", 5),
    ("encoding", 2),
];

/// A list element: mostly small, sometimes big enough to fill a
/// size-limited quicklist node by itself.
pub fn element(g: &mut Gen) -> Vec<u8> {
    if g.rng.percent(4) {
        let len = *g.rng.pick(&[300usize, 1000, 2100, 4100, 9000]);
        return g.letters(len);
    }
    g.member()
}

fn side(g: &mut Gen) -> Vec<u8> {
    if g.rng.percent(3) {
        return g.word("UP");
    }
    let s = if g.rng.percent(50) { "LEFT" } else { "RIGHT" };
    g.word(s)
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
        "lpush" | "rpush" | "lpushx" | "rpushx" => {
            argv.push(g.key());
            if g.rng.percent(10) {
                for _ in 0..g.rng.range(10, 40) {
                    argv.push(g.member());
                }
            } else {
                for _ in 0..g.rng.range(1, 4) {
                    argv.push(element(g));
                }
            }
        }
        "linsert" => {
            argv.push(g.key());
            argv.push(match g.rng.below(10) {
                0..=4 => g.word("BEFORE"),
                5..=8 => g.word("AFTER"),
                _ => g.word("MIDDLE"),
            });
            argv.push(g.member());
            argv.push(element(g));
        }
        "llen" => argv.push(g.key()),
        "lindex" => {
            argv.push(g.key());
            argv.push(g.index_arg());
        }
        "lset" => {
            argv.push(g.key());
            argv.push(g.index_arg());
            argv.push(element(g));
        }
        "lrange" | "ltrim" => {
            argv.push(g.key());
            argv.push(g.index_arg());
            argv.push(g.index_arg());
        }
        "lrem" => {
            argv.push(g.key());
            argv.push(g.count_arg(-3, 3));
            argv.push(g.member());
        }
        "lpop" | "rpop" => {
            argv.push(g.key());
            if g.rng.percent(50) {
                argv.push(g.count_arg(0, 5));
            }
        }
        "lpos" => {
            argv.push(g.key());
            argv.push(g.member());
            for _ in 0..g.rng.below(4) {
                match g.rng.below(7) {
                    0 | 1 => {
                        argv.push(g.word("RANK"));
                        argv.push(g.count_arg(-3, 3));
                    }
                    2 | 3 => {
                        argv.push(g.word("COUNT"));
                        argv.push(g.count_arg(0, 4));
                    }
                    4 | 5 => {
                        argv.push(g.word("MAXLEN"));
                        argv.push(g.count_arg(0, 8));
                    }
                    _ => argv.push(g.word("FIRST")),
                }
            }
        }
        "lmove" => {
            argv.push(g.key());
            argv.push(g.key());
            argv.push(side(g));
            argv.push(side(g));
        }
        "rpoplpush" => {
            argv.push(g.key());
            argv.push(g.key());
        }
        "lmpop" => {
            mpop_args(g, &mut argv);
        }
        other => unreachable!("no generator for {other}"),
    }
    vec![(argv, Check::Exact)]
}

/// numkeys, keys, LEFT|RIGHT, [COUNT n] (with errors now and then).
fn mpop_args(g: &mut Gen, argv: &mut Argv) {
    let n = g.rng.range(1, 3);
    argv.push(if g.rng.percent(6) { g.count_arg(0, 5) } else { n.to_string().into_bytes() });
    for _ in 0..n {
        argv.push(g.key());
    }
    argv.push(side(g));
    if g.rng.percent(40) {
        argv.push(g.word("COUNT"));
        argv.push(g.count_arg(1, 5));
    }
    if g.rng.percent(3) {
        argv.push(g.word("COUNT"));
        argv.push(b"2".to_vec());
    }
}

/// BLPOP, BRPOP, BLMOVE, BRPOPLPUSH or BLMPOP with this timeout.
pub fn blocking_command(g: &mut Gen, timeout: Vec<u8>) -> Argv {
    match g.rng.below(9) {
        0..=2 => {
            let name = if g.rng.percent(50) { "BLPOP" } else { "BRPOP" };
            let mut argv = vec![g.word(name)];
            for _ in 0..g.rng.range(1, 3) {
                argv.push(g.own_key());
            }
            argv.push(timeout);
            argv
        }
        3..=4 => {
            let mut argv = vec![g.word("BLMOVE"), g.own_key(), g.own_key(), side(g), side(g)];
            argv.push(timeout);
            argv
        }
        5 => vec![g.word("BRPOPLPUSH"), g.own_key(), g.own_key(), timeout],
        _ => {
            let mut argv = vec![g.word("BLMPOP"), timeout];
            let n = g.rng.range(1, 3);
            argv.push(if g.rng.percent(4) { g.count_arg(0, 5) } else { n.to_string().into_bytes() });
            for _ in 0..n {
                argv.push(g.own_key());
            }
            argv.push(side(g));
            if g.rng.percent(40) {
                argv.push(g.word("COUNT"));
                argv.push(g.count_arg(1, 4));
            }
            argv
        }
    }
}

/// A command of connection 0 that may serve list waiters (or not).
fn feeder(g: &mut Gen) {
    match g.rng.below(20) {
        0..=7 => {
            let name = if g.rng.percent(50) { "LPUSH" } else { "RPUSH" };
            let mut argv = vec![g.word(name), g.own_key()];
            for _ in 0..g.rng.range(1, 4) {
                argv.push(g.member());
            }
            g.feed(argv, Check::Exact);
        }
        8..=9 => {
            let argv = vec![g.word("LMOVE"), g.own_key(), g.own_key(), side(g), side(g)];
            g.feed(argv, Check::Exact);
        }
        10 => {
            let argv = vec![g.word("RPOPLPUSH"), g.own_key(), g.own_key()];
            g.feed(argv, Check::Exact);
        }
        11..=12 => {
            // A transaction: waiters are served after EXEC, with what is
            // left then.
            let key = g.own_key();
            let mut commands = vec![vec![b"RPUSH".to_vec(), key.clone(), g.member(), g.member()]];
            if g.rng.percent(50) {
                commands.push(vec![b"LPOP".to_vec(), key.clone()]);
            }
            if g.rng.percent(30) {
                commands.push(vec![b"DEL".to_vec(), key.clone()]);
            }
            if g.rng.percent(40) {
                commands.push(vec![b"LPUSH".to_vec(), g.own_key(), g.member()]);
            }
            g.feed_multi(commands);
        }
        13 => {
            let argv = vec![g.word("SET"), g.own_key(), g.member()];
            g.feed(argv, Check::Exact);
        }
        14 => {
            let argv = vec![g.word("DEL"), g.own_key()];
            g.feed(argv, Check::Exact);
        }
        15 => {
            let name = if g.rng.percent(50) { "RENAME" } else { "COPY" };
            let argv = vec![g.word(name), g.own_key(), g.own_key()];
            g.feed(argv, Check::Exact);
        }
        16 => {
            let argv = vec![g.word("LRANGE"), g.own_key(), b"0".to_vec(), b"-1".to_vec()];
            g.feed(argv, Check::Exact);
        }
        17 => {
            // A pushed list that is emptied again by the same command
            // never serves anyone (LMPOP of everything from another key).
            let argv = vec![g.word("LPUSHX"), g.own_key(), g.member()];
            g.feed(argv, Check::Exact);
        }
        _ => {
            for (argv, check) in command(g) {
                g.feed(argv, check);
            }
        }
    }
}

/// Several waiters on one key, served in arrival order by one push.
fn fifo(g: &mut Gen) {
    let key = g.own_key();
    let waiters = g.rng.range(2, super::WAITERS as i64) as usize;
    for w in 0..waiters {
        let timeout = g.long_timeout();
        let argv = match g.rng.below(6) {
            0 => vec![g.word("BLPOP"), key.clone(), timeout],
            1 => vec![g.word("BRPOP"), key.clone(), timeout],
            2 => {
                let mut argv = vec![g.word("BLMPOP"), timeout, b"1".to_vec(), key.clone(), side(g)];
                if g.rng.percent(50) {
                    argv.push(g.word("COUNT"));
                    argv.push(g.rng.range(1, 3).to_string().into_bytes());
                }
                argv
            }
            3 => vec![g.word("BLMOVE"), key.clone(), g.own_key(), side(g), side(g), timeout],
            4 => vec![g.word("BRPOPLPUSH"), key.clone(), g.own_key(), timeout],
            _ => vec![g.word("BLPOP"), g.own_key(), key.clone(), timeout],
        };
        g.block(w, argv);
    }
    let name = if g.rng.percent(50) { "LPUSH" } else { "RPUSH" };
    let mut push = vec![g.word(name), key.clone()];
    for _ in 0..g.rng.range(1, 5) {
        push.push(g.member());
    }
    g.feed(push, Check::Exact);
    if g.rng.percent(50) {
        let argv = vec![g.word("RPUSH"), key.clone(), g.member()];
        g.feed(argv, Check::Exact);
    }
    g.feed(vec![b"LRANGE".to_vec(), key, b"0".to_vec(), b"-1".to_vec()], Check::Exact);
    g.release();
}

/// BLMOVE waiters feeding other waiters: one push ripples through.
fn chain(g: &mut Gen) {
    let keys = [b"la".to_vec(), b"lb".to_vec(), b"{t}lc".to_vec()];
    let a = g.rng.below(3) as usize;
    let b = (a + 1 + g.rng.below(2) as usize) % 3;
    let (ka, kb) = (keys[a].clone(), keys[b].clone());
    let timeout = g.long_timeout();
    let argv = vec![g.word("BLMOVE"), ka.clone(), kb.clone(), side(g), side(g), timeout];
    g.block(0, argv);
    let timeout = g.long_timeout();
    let argv = match g.rng.below(3) {
        0 => vec![g.word("BLPOP"), kb.clone(), timeout],
        1 => vec![g.word("BRPOPLPUSH"), kb.clone(), ka.clone(), timeout],
        _ => vec![g.word("BLMOVE"), kb.clone(), keys[3 - a - b].clone(), side(g), side(g), timeout],
    };
    g.block(1, argv);
    let mut push = vec![g.word("LPUSH"), ka.clone()];
    for _ in 0..g.rng.range(1, 3) {
        push.push(g.member());
    }
    g.feed(push, Check::Exact);
    for key in keys {
        g.feed(vec![b"LRANGE".to_vec(), key, b"0".to_vec(), b"-1".to_vec()], Check::Exact);
    }
    g.release();
}

/// A waiter in database 0 served by SWAPDB bringing a list in.
pub fn swapdb(g: &mut Gen, waiter_argv: Argv, fill: Argv) {
    g.block(0, waiter_argv);
    g.feed(vec![b"SELECT".to_vec(), b"1".to_vec()], Check::Exact);
    g.feed(fill, Check::Exact);
    g.feed(vec![b"SWAPDB".to_vec(), b"0".to_vec(), b"1".to_vec()], Check::Exact);
    g.feed(vec![b"SELECT".to_vec(), b"0".to_vec()], Check::Exact);
    g.release();
}

pub fn scenario(g: &mut Gen) {
    g.family = super::Family::Lists;
    match g.rng.below(20) {
        0..=1 => {
            let key = g.own_key();
            let timeout = g.long_timeout();
            let waiter = vec![g.word("BLPOP"), key.clone(), timeout];
            let fill = vec![b"RPUSH".to_vec(), key, g.member(), g.member()];
            swapdb(g, waiter, fill);
        }
        2..=6 => fifo(g),
        7..=9 => chain(g),
        10..=13 => {
            // A timeout that fires (or an immediate reply).
            let timeout = if g.rng.percent(85) { g.short_timeout() } else { g.bad_timeout() };
            let argv = blocking_command(g, timeout);
            g.block_timed(0, argv);
        }
        _ => {
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
    }
}
