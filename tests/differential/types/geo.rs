//! Geo: GEOADD (NX/XX/CH, invalid coordinates), GEODIST, GEOHASH, GEOPOS,
//! GEORADIUS[BYMEMBER][_RO] and GEOSEARCH[STORE] with every option and
//! their conflicts, on keys shared with the sorted-set family.
//!
//! Coordinates are drawn with six decimals from a 0.6 x 0.4 degree box,
//! never reused, so that two members are practically never at the same
//! distance from a centre (ties would be cut by COUNT in an order that
//! depends on sorting details).

use super::Gen;
use crate::harness::{Argv, Check, ResyncKind};

const COMMANDS: &[(&str, u64)] = &[
    ("geoadd", 12),
    ("geodist", 4),
    ("geohash", 3),
    ("geopos", 4),
    ("georadius", 4),
    ("georadiusbymember", 3),
    ("georadius_ro", 2),
    ("georadiusbymember_ro", 2),
    ("geosearch", 7),
    ("geosearchstore", 4),
    ("zrange", 2),
];

fn lon(g: &mut Gen) -> Vec<u8> {
    format!("13.{:06}", g.rng.below(600_000)).into_bytes()
}

fn lat(g: &mut Gen) -> Vec<u8> {
    format!("52.{:06}", 300_000 + g.rng.below(400_000)).into_bytes()
}

fn lon_lat(g: &mut Gen, argv: &mut Argv) {
    if g.rng.percent(4) {
        let (x, y) = *g.rng.pick(&[
            ("181", "0"),
            ("0", "86"),
            ("abc", "1"),
            ("-180", "-85.05112878"),
            ("180", "85.05112878"),
            ("", "1"),
            ("1", "nan"),
            ("inf", "0"),
            ("13.5", "-85.06"),
        ]);
        argv.push(x.as_bytes().to_vec());
        argv.push(y.as_bytes().to_vec());
        return;
    }
    argv.push(lon(g));
    argv.push(lat(g));
}

fn member(g: &mut Gen) -> Vec<u8> {
    if g.rng.percent(80) {
        return format!("m{}", g.rng.below(16)).into_bytes();
    }
    g.member()
}

fn unit(g: &mut Gen) -> Vec<u8> {
    let u = *g.rng.pick(&["m", "km", "km", "km", "ft", "mi", "KM", "parsec"]);
    u.as_bytes().to_vec()
}

fn radius(g: &mut Gen, unit: &[u8]) -> Vec<u8> {
    if g.rng.percent(5) {
        return g.rng.pick(&["-1", "abc", "0", "", "inf"]).as_bytes().to_vec();
    }
    let km = g.rng.range(1, 600) as f64 / 10.0;
    let value = match unit.to_ascii_lowercase().as_slice() {
        b"m" => km * 1000.0,
        b"ft" => km * 3280.84,
        b"mi" => km * 0.621371,
        _ => km,
    };
    format!("{value:.2}").into_bytes()
}

/// WITH*, COUNT [ANY], ASC/DESC, and for GEORADIUS STORE/STOREDIST.
/// COUNT only where the reply can be checked for ties (in a group).
fn options(g: &mut Gen, argv: &mut Argv, store: bool, search: bool) {
    let mut opts: Vec<Argv> = Vec::new();
    let may_count = g.grouping;
    for w in ["WITHCOORD", "WITHDIST", "WITHHASH"] {
        if g.rng.percent(if store { 3 } else { 30 }) {
            opts.push(vec![g.word(w)]);
        }
    }
    if may_count && g.rng.percent(35) {
        let mut o = vec![g.word("COUNT"), g.count_arg(1, 8)];
        if g.rng.percent(30) {
            o.push(g.word("ANY"));
        }
        opts.push(o);
    } else if g.rng.percent(3) {
        opts.push(vec![g.word("ANY")]);
    }
    if g.rng.percent(50) {
        let order = if g.rng.percent(50) { "ASC" } else { "DESC" };
        opts.push(vec![g.word(order)]);
    }
    if store && !search {
        let which = if g.rng.percent(50) { "STORE" } else { "STOREDIST" };
        opts.push(vec![g.word(which), g.key()]);
    }
    if store && search && g.rng.percent(40) {
        opts.push(vec![g.word("STOREDIST")]);
    }
    if opts.len() > 1 && g.rng.percent(30) {
        let i = g.rng.below(opts.len() as u64) as usize;
        opts.swap(0, i);
    }
    for o in opts {
        argv.extend(o);
    }
}

fn search_shape(g: &mut Gen, argv: &mut Argv) {
    match g.rng.below(20) {
        0..=9 => {
            argv.push(g.word("FROMMEMBER"));
            argv.push(member(g));
        }
        10..=18 => {
            argv.push(g.word("FROMLONLAT"));
            lon_lat(g, argv);
        }
        _ => {}
    }
    let u = unit(g);
    match g.rng.below(20) {
        0..=10 => {
            argv.push(g.word("BYRADIUS"));
            argv.push(radius(g, &u));
            argv.push(u);
        }
        11..=19 => {
            argv.push(g.word("BYBOX"));
            argv.push(radius(g, &u));
            argv.push(radius(g, &u));
            argv.push(u);
        }
        _ => {}
    }
}

pub fn command(g: &mut Gen) -> Vec<(Argv, Check)> {
    let weights: Vec<u64> = COMMANDS.iter().map(|(_, w)| *w).collect();
    let name = COMMANDS[g.rng.weighted(&weights)].0;
    let mut argv = vec![g.word(name), g.key()];
    match name {
        "geoadd" => {
            for flag in ["NX", "XX", "CH"] {
                if g.rng.percent(10) {
                    argv.push(g.word(flag));
                }
            }
            for _ in 0..g.rng.range(1, 4) {
                lon_lat(g, &mut argv);
                argv.push(member(g));
            }
        }
        "geodist" => {
            argv.push(member(g));
            argv.push(member(g));
            if g.rng.percent(60) {
                argv.push(unit(g));
            }
        }
        "geohash" | "geopos" => {
            for _ in 0..g.rng.range(0, 3) {
                argv.push(member(g));
            }
        }
        "georadius" | "georadius_ro" => {
            lon_lat(g, &mut argv);
            let u = unit(g);
            argv.push(radius(g, &u));
            argv.push(u);
            let store = name == "georadius" && g.rng.percent(15) || name == "georadius_ro" && g.rng.percent(3);
            options(g, &mut argv, store, false);
        }
        "georadiusbymember" | "georadiusbymember_ro" => {
            argv.push(member(g));
            let u = unit(g);
            argv.push(radius(g, &u));
            argv.push(u);
            let store = name == "georadiusbymember" && g.rng.percent(15);
            options(g, &mut argv, store, false);
        }
        "geosearch" => {
            search_shape(g, &mut argv);
            options(g, &mut argv, false, true);
        }
        "geosearchstore" => {
            argv.push(g.key());
            search_shape(g, &mut argv);
            options(g, &mut argv, true, true);
        }
        "zrange" => {
            argv.push(b"0".to_vec());
            argv.push(b"-1".to_vec());
            argv.push(g.word("WITHSCORES"));
        }
        other => unreachable!("no generator for {other}"),
    }
    let counted = argv.iter().any(|a| a.eq_ignore_ascii_case(b"COUNT"));
    if counted && name != "geoadd" && name != "zrange" {
        // Members at one position may come in any order (and be cut in any
        // way) by COUNT: compared against the source's geohashes.
        let source = if name == "geosearchstore" { argv[2].clone() } else { argv[1].clone() };
        let stored = if name == "geosearchstore" {
            Some(argv[1].clone())
        } else {
            argv.iter()
                .position(|a| a.eq_ignore_ascii_case(b"STORE") || a.eq_ignore_ascii_case(b"STOREDIST"))
                .and_then(|i| argv.get(i + 1).cloned())
        };
        let mut group = vec![(super::zsets::zrange_all(source), Check::Exact), (argv, Check::GeoTies { reference: 0 })];
        if let Some(dst) = stored {
            group.push((super::zsets::zrange_all(dst), Check::Resync(ResyncKind::Zset)));
        }
        return group;
    }
    vec![(argv, Check::Exact)]
}
