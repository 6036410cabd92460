//! Bitmaps: SETBIT/GETBIT, BITCOUNT and BITPOS (BYTE and BIT ranges),
//! BITOP, BITFIELD/BITFIELD_RO (every type width, # offsets, overflow
//! modes), mixed with plain string commands on the same keys. Offsets that
//! would build strings near 512 MB are not sent.

use super::Gen;
use crate::harness::{Argv, Check};

const COMMANDS: &[(&str, u64)] = &[
    ("setbit", 12),
    ("getbit", 6),
    ("bitcount", 6),
    ("bitpos", 6),
    ("bitop", 4),
    ("bitfield", 9),
    ("bitfield_ro", 3),
    ("get", 3),
    ("set", 2),
    ("append", 2),
    ("setrange", 2),
    ("strlen", 1),
    ("encoding", 1),
];

fn bit_offset(g: &mut Gen, read_only: bool) -> Vec<u8> {
    match g.rng.below(100) {
        0..=89 => g.rng.range(0, 300).to_string().into_bytes(),
        90..=94 => g.rng.range(301, 9000).to_string().into_bytes(),
        _ => {
            let edges: &[&str] = if read_only {
                &["4294967295", "4294967296", "-1", "abc", "", "1.5", "9223372036854775807"]
            } else {
                &["4294967296", "-1", "abc", "", "1.5", " 1", "+5"]
            };
            g.rng.pick(edges).as_bytes().to_vec()
        }
    }
}

fn range_index(g: &mut Gen, bits: bool) -> Vec<u8> {
    if g.rng.percent(92) {
        let (lo, hi) = if bits { (-90, 330) } else { (-12, 42) };
        return g.rng.range(lo, hi).to_string().into_bytes();
    }
    g.rng.pick(&["9223372036854775807", "-9223372036854775808", "abc", "", "-100000"]).as_bytes().to_vec()
}

fn range_args(g: &mut Gen, argv: &mut Argv, optional_end: bool) {
    let bits = g.rng.percent(40);
    argv.push(range_index(g, bits));
    if optional_end && g.rng.percent(25) {
        return;
    }
    argv.push(range_index(g, bits));
    if g.rng.percent(50) {
        argv.push(if bits { g.word("BIT") } else { g.word("BYTE") });
    } else if g.rng.percent(4) {
        argv.push(g.word("NIBBLE"));
    }
}

fn field_type(g: &mut Gen) -> Vec<u8> {
    match g.rng.below(100) {
        0..=44 => format!("u{}", g.rng.range(1, 63)).into_bytes(),
        45..=89 => format!("i{}", g.rng.range(1, 64)).into_bytes(),
        90..=94 => g.rng.pick(&["u8", "i8", "u1", "i64", "u63", "i1"]).as_bytes().to_vec(),
        _ => g.rng.pick(&["u64", "i65", "i0", "u0", "x8", "u", "", "I8", "U8"]).as_bytes().to_vec(),
    }
}

fn field_offset(g: &mut Gen) -> Vec<u8> {
    match g.rng.below(100) {
        0..=69 => g.rng.range(0, 100).to_string().into_bytes(),
        70..=89 => format!("#{}", g.rng.range(0, 6)).into_bytes(),
        _ => g.rng.pick(&["-1", "abc", "4294967296", "#-1", "#", "", "#abc"]).as_bytes().to_vec(),
    }
}

fn field_value(g: &mut Gen) -> Vec<u8> {
    if g.rng.percent(85) {
        return g.rng.range(-300, 300).to_string().into_bytes();
    }
    g.rng
        .pick(&[
            "9223372036854775807",
            "-9223372036854775808",
            "9223372036854775808",
            "abc",
            "",
            "1.5",
            "4294967296",
            "-129",
        ])
        .as_bytes()
        .to_vec()
}

fn bitfield_ops(g: &mut Gen, argv: &mut Argv, read_only: bool) {
    for _ in 0..g.rng.range(1, 4) {
        let op = if read_only && g.rng.percent(92) { 0 } else { g.rng.below(10) };
        match op {
            0..=2 => {
                argv.push(g.word("GET"));
                argv.push(field_type(g));
                argv.push(field_offset(g));
            }
            3..=4 => {
                argv.push(g.word("SET"));
                argv.push(field_type(g));
                argv.push(field_offset(g));
                argv.push(field_value(g));
            }
            5..=7 => {
                argv.push(g.word("INCRBY"));
                argv.push(field_type(g));
                argv.push(field_offset(g));
                argv.push(field_value(g));
            }
            8 => {
                argv.push(g.word("OVERFLOW"));
                let mode = *g.rng.pick(&["WRAP", "SAT", "FAIL", "WRAP", "SAT", "FAIL", "BOGUS"]);
                argv.push(g.word(mode));
            }
            _ => {
                // A truncated or unknown subcommand.
                let word = *g.rng.pick(&["GET", "SET", "INCRBY", "OVERFLOW", "DEL"]);
                argv.push(g.word(word));
            }
        }
    }
}

pub fn command(g: &mut Gen) -> Vec<(Argv, Check)> {
    let weights: Vec<u64> = COMMANDS.iter().map(|(_, w)| *w).collect();
    let name = COMMANDS[g.rng.weighted(&weights)].0;
    if name == "encoding" {
        return vec![(vec![g.word("OBJECT"), g.word("ENCODING"), g.key()], Check::Exact)];
    }
    let mut argv = vec![g.word(name)];
    match name {
        "setbit" => {
            argv.push(g.key());
            argv.push(bit_offset(g, false));
            argv.push(if g.rng.percent(93) {
                g.rng.pick(&["0", "1", "1"]).as_bytes().to_vec()
            } else {
                g.rng.pick(&["2", "-1", "", "01", " 1"]).as_bytes().to_vec()
            });
        }
        "getbit" => {
            argv.push(g.key());
            argv.push(bit_offset(g, true));
        }
        "bitcount" => {
            argv.push(g.key());
            if g.rng.percent(70) {
                range_args(g, &mut argv, false);
                if g.rng.percent(3) {
                    argv.truncate(3);
                }
            }
        }
        "bitpos" => {
            argv.push(g.key());
            argv.push(g.rng.pick(&["0", "1", "0", "1", "2", "-1", "abc"]).as_bytes().to_vec());
            if g.rng.percent(65) {
                range_args(g, &mut argv, true);
            }
        }
        "bitop" => {
            let op = *g.rng.pick(&["AND", "OR", "XOR", "NOT", "AND", "OR", "XOR", "NOT", "NAND"]);
            argv.push(g.word(op));
            argv.push(g.key());
            let n = if op == "NOT" && g.rng.percent(90) { 1 } else { g.rng.range(1, 3) };
            for _ in 0..n {
                argv.push(g.key());
            }
        }
        "bitfield" => {
            argv.push(g.key());
            bitfield_ops(g, &mut argv, false);
        }
        "bitfield_ro" => {
            argv.push(g.key());
            bitfield_ops(g, &mut argv, true);
        }
        "get" | "strlen" => argv.push(g.key()),
        "set" => {
            argv.push(g.key());
            argv.push(if g.rng.percent(50) {
                g.member()
            } else {
                vec![*g.rng.pick(&[0u8, 0xff, 0x0f, 0x80, 1]); g.rng.range(1, 20) as usize]
            });
        }
        "append" => {
            argv.push(g.key());
            argv.push(vec![*g.rng.pick(&[0u8, 0xff, 0xaa, b'a']); g.rng.range(1, 8) as usize]);
        }
        "setrange" => {
            argv.push(g.key());
            argv.push(g.rng.range(0, 40).to_string().into_bytes());
            argv.push(vec![*g.rng.pick(&[0u8, 0xff, 0x55, b'z']); g.rng.range(0, 5) as usize]);
        }
        other => unreachable!("no generator for {other}"),
    }
    vec![(argv, Check::Exact)]
}
