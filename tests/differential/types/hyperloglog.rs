//! HyperLogLog: PFADD/PFCOUNT/PFMERGE over sparse and dense encodings
//! (hll-sparse-max-bytes varies per seed), PFDEBUG, the exact bytes of
//! the strings (GET), and strings that are not (or no longer) valid HLLs.

use super::Gen;
use crate::harness::{Argv, Check};

const COMMANDS: &[(&str, u64)] =
    &[("pfadd", 14), ("pfcount", 8), ("pfmerge", 5), ("pfdebug", 3), ("get", 3), ("corrupt", 2), ("encoding", 1)];

fn element(g: &mut Gen) -> Vec<u8> {
    match g.rng.below(10) {
        0..=5 => format!("e{}", g.rng.below(60)).into_bytes(),
        6..=8 => format!("e{}", g.rng.below(30000)).into_bytes(),
        _ => g.member(),
    }
}

pub fn command(g: &mut Gen) -> Vec<(Argv, Check)> {
    let weights: Vec<u64> = COMMANDS.iter().map(|(_, w)| *w).collect();
    let name = COMMANDS[g.rng.weighted(&weights)].0;
    let argv = match name {
        "pfadd" => {
            let mut argv = vec![g.word("PFADD"), g.key()];
            let n = match g.rng.below(20) {
                0 => 0,
                1..=2 => g.rng.range(50, 400),
                _ => g.rng.range(1, 5),
            };
            for _ in 0..n {
                argv.push(element(g));
            }
            argv
        }
        "pfcount" => {
            let mut argv = vec![g.word("PFCOUNT")];
            for _ in 0..g.rng.range(1, 3) {
                argv.push(g.key());
            }
            argv
        }
        "pfmerge" => {
            let mut argv = vec![g.word("PFMERGE"), g.key()];
            for _ in 0..g.rng.range(0, 3) {
                argv.push(g.key());
            }
            argv
        }
        "pfdebug" => {
            let sub = match g.rng.below(20) {
                0..=2 => "GETREG",
                3..=9 => "ENCODING",
                10..=14 => "TODENSE",
                15..=18 => "DECODE",
                _ => "FOO",
            };
            vec![g.word("PFDEBUG"), g.word(sub), g.key()]
        }
        "get" => vec![g.word("GET"), g.key()],
        "corrupt" => match g.rng.below(6) {
            0 => vec![
                g.word("SET"),
                g.key(),
                g.rng
                    .pick(&[
                        &b"HYLL"[..],
                        b"HYLL\x00\x00\x00\x00",
                        b"HYLX\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00",
                    ])
                    .to_vec(),
            ],
            1 => vec![g.word("APPEND"), g.key(), b"\x00".to_vec()],
            2 => vec![g.word("SETRANGE"), g.key(), b"4".to_vec(), vec![*g.rng.pick(&[0u8, 1, 2])]],
            _ => {
                // The cached cardinality (bytes 8..15; its top bit says
                // whether the cache is valid).
                let offset = g.rng.range(8, 15).to_string().into_bytes();
                vec![g.word("SETRANGE"), g.key(), offset, vec![*g.rng.pick(&[0u8, 0x80, 0x7f, 0x01])]]
            }
        },
        "encoding" => vec![g.word("OBJECT"), g.word("ENCODING"), g.key()],
        other => unreachable!("no generator for {other}"),
    };
    vec![(argv, Check::Exact)]
}
