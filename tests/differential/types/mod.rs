//! Generators for `tests/differential_types.rs`: one module per command
//! family, and the seed-level mix (families in focus, MULTI/WATCH, the
//! second connection, random-reply groups, full scans and blocking
//! scenarios) in this file.
//!
//! A seed's stream never depends on replies: every generator only draws
//! from the seed's `Rng`.

use crate::harness::{Argv, Check, Op, Plan, Rng};

pub mod bitmaps;
pub mod geo;
pub mod hashes;
pub mod hyperloglog;
pub mod keyspace;
pub mod lists;
pub mod sets;
pub mod streams;
pub mod zsets;

/// Waiter connections per seed (blocking scenarios use up to this many).
pub const WAITERS: usize = 3;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Family {
    Lists,
    Hashes,
    Sets,
    Zsets,
    Streams,
    Bitmaps,
    Hll,
    Geo,
    Keyspace,
}

const FAMILIES: [Family; 9] = [
    Family::Lists,
    Family::Hashes,
    Family::Sets,
    Family::Zsets,
    Family::Streams,
    Family::Bitmaps,
    Family::Hll,
    Family::Geo,
    Family::Keyspace,
];

/// Keys shared by every family: whatever type they hold, the other
/// families' commands hit them (WRONGTYPE paths). One is empty, one binary.
pub const SHARED_KEYS: &[&[u8]] = &[b"shared", b"", b"bin\x00\xff\r\n", b"{t}x"];

/// Each family's own keys (another family's keys are used now and then).
fn own_keys(family: Family) -> &'static [&'static [u8]] {
    match family {
        Family::Lists => &[b"la", b"lb", b"{t}lc"],
        Family::Hashes => &[b"ha", b"hb", b"{t}hc"],
        Family::Sets => &[b"sa", b"sb", b"{t}sc"],
        Family::Zsets => &[b"za", b"zb", b"{t}zc"],
        Family::Streams => &[b"xa", b"xb", b"{t}xc"],
        Family::Bitmaps => &[b"ba", b"bb", b"{t}bc"],
        Family::Hll => &[b"pa", b"pb", b"{t}pc"],
        Family::Geo => &[b"ga", b"gb", b"za"],
        Family::Keyspace => &[b"la", b"ha", b"sa", b"za", b"xa", b"ba", b"pa", b"ga"],
    }
}

/// What a seed's stream is made of.
#[derive(Clone, Copy)]
pub struct Mix {
    /// Percent of steps that are blocking scenarios.
    pub scenarios: u64,
    /// Families in focus (empty: two drawn per seed).
    pub focus: &'static [Family],
}

/// Every family, a few blocking scenarios.
pub const GENERAL: Mix = Mix { scenarios: 3, focus: &[] };
/// Lists, sorted sets and streams, a third of the steps in blocking
/// scenarios.
pub const BLOCKING: Mix = Mix { scenarios: 30, focus: &[Family::Lists, Family::Zsets, Family::Streams] };

/// The per-seed encoding limits (sent with CONFIG SET to both servers).
pub struct Limits {
    pub list_size: i64,
    pub hash_entries: i64,
    pub hash_value: i64,
    pub intset_entries: i64,
    pub zset_entries: i64,
    pub zset_value: i64,
    pub stream_entries: i64,
    pub stream_bytes: i64,
    pub hll_sparse: i64,
}

pub struct Gen {
    pub rng: Rng,
    pub ops: Vec<Op>,
    /// Connection 0 is inside MULTI (as far as the stream is concerned).
    pub in_multi: bool,
    /// Checks of the commands queued since MULTI.
    queued: Vec<Check>,
    /// The family whose keys `key()` prefers.
    pub family: Family,
    /// Family weights of this seed (two families are in focus).
    weights: Vec<u64>,
    pub limits: Limits,
    /// Stream ids: the next explicit milliseconds part, and ids used so far.
    pub stream_ms: u64,
    pub stream_ids: Vec<Vec<u8>>,
    /// A blocking scenario is being generated (no nested scenarios).
    pub in_scenario: bool,
    /// The command being generated will be queued in MULTI on connection
    /// 0: blocking commands are allowed (they do not block there), random
    /// replies and clock-based ids are not.
    pub queueing: bool,
    /// The command being generated goes to connection 0 outside MULTI:
    /// it may come with reference commands in one `Op::Group`.
    pub grouping: bool,
    mix: Mix,
}

impl Gen {
    pub fn new(seed: u64, mix: Mix) -> Gen {
        let mut rng = Rng::new(seed, 0x7E57_7195);
        let mut weights = vec![3u64; FAMILIES.len()];
        if mix.focus.is_empty() {
            for _ in 0..2 {
                let focus = rng.below(FAMILIES.len() as u64 - 1) as usize; // not Keyspace
                weights[focus] += 12;
            }
        } else {
            for family in mix.focus {
                weights[FAMILIES.iter().position(|f| f == family).unwrap()] += 12;
            }
        }
        weights[FAMILIES.len() - 1] = 4;
        let limits = Limits {
            list_size: *rng.pick(&[-5, -4, -3, -2, -2, -1, 1, 2, 3, 4, 8, 128]),
            hash_entries: *rng.pick(&[0, 1, 2, 4, 8, 16, 128, 512]),
            hash_value: *rng.pick(&[0, 1, 4, 8, 16, 64]),
            intset_entries: *rng.pick(&[0, 1, 2, 4, 8, 16, 512]),
            zset_entries: *rng.pick(&[0, 1, 2, 4, 8, 16, 128]),
            zset_value: *rng.pick(&[0, 1, 4, 8, 16, 64]),
            stream_entries: *rng.pick(&[0, 1, 2, 3, 5, 10, 100]),
            stream_bytes: *rng.pick(&[0, 1, 100, 300, 4096]),
            hll_sparse: *rng.pick(&[0, 30, 100, 300, 3000]),
        };
        Gen {
            rng,
            ops: Vec::new(),
            in_multi: false,
            queued: Vec::new(),
            family: Family::Keyspace,
            weights,
            limits,
            stream_ms: 3_000_000_000_000 + (seed % 1000) * 1_000_000,
            stream_ids: Vec::new(),
            in_scenario: false,
            queueing: false,
            grouping: false,
            mix,
        }
    }

    fn setup(&self) -> Vec<Argv> {
        let l = &self.limits;
        let pairs: [(&str, i64); 9] = [
            ("list-max-listpack-size", l.list_size),
            ("hash-max-listpack-entries", l.hash_entries),
            ("hash-max-listpack-value", l.hash_value),
            ("set-max-intset-entries", l.intset_entries),
            ("zset-max-listpack-entries", l.zset_entries),
            ("zset-max-listpack-value", l.zset_value),
            ("stream-node-max-entries", l.stream_entries),
            ("stream-node-max-bytes", l.stream_bytes),
            ("hll-sparse-max-bytes", l.hll_sparse),
        ];
        let mut out: Vec<Argv> = pairs
            .iter()
            .map(|(k, v)| vec![b"CONFIG".to_vec(), b"SET".to_vec(), k.as_bytes().to_vec(), v.to_string().into_bytes()])
            .collect();
        out.push(vec![
            b"CONFIG".to_vec(),
            b"SET".to_vec(),
            b"list-compress-depth".to_vec(),
            if l.list_size % 2 == 0 { b"1".to_vec() } else { b"0".to_vec() },
        ]);
        out
    }

    // --- the mix -----------------------------------------------------------

    fn pick_family(&mut self) -> Family {
        FAMILIES[self.rng.weighted(&self.weights)]
    }

    /// One command of `family` (maybe preceded by an OBJECT ENCODING probe).
    pub fn family_command(&mut self, family: Family) -> Vec<(Argv, Check)> {
        self.family = family;
        let mut commands = match family {
            Family::Lists => lists::command(self),
            Family::Hashes => hashes::command(self),
            Family::Sets => sets::command(self),
            Family::Zsets => zsets::command(self),
            Family::Streams => streams::command(self),
            Family::Bitmaps => bitmaps::command(self),
            Family::Hll => hyperloglog::command(self),
            Family::Geo => geo::command(self),
            Family::Keyspace => keyspace::command(self),
        };
        // Now and then a wrong arity or a trailing argument (the probe, if
        // any, stays intact; a random reply is never mangled).
        if self.rng.percent(3) {
            if let Some((argv, check)) = commands.last_mut() {
                if matches!(
                    check,
                    Check::Exact | Check::Sorted | Check::SortedPairs | Check::Compact { .. } | Check::Clock
                ) {
                    self.mangle_arity(argv);
                }
            }
        }
        commands
    }

    fn push(&mut self, conn: usize, commands: Vec<(Argv, Check)>) {
        for (argv, check) in commands {
            if conn == 0 && self.in_multi {
                self.queued.push(check.clone());
            }
            self.ops.push(Op::Command { conn, argv, check });
        }
    }

    fn step(&mut self) {
        if self.rng.percent(8) {
            // The second connection interleaves plain commands.
            let family = self.pick_family();
            let commands = self.family_command(family);
            self.push(1, commands);
            return;
        }
        if self.in_multi {
            self.step_in_multi();
            return;
        }
        if self.rng.below(100) < self.mix.scenarios {
            let family = match self.mix.focus {
                [] => self.pick_family(),
                focus => *self.rng.pick(focus),
            };
            self.scenario(family);
            return;
        }
        match self.rng.below(100) {
            0..=2 => {
                self.in_multi = true;
                self.queued.clear();
                let argv = vec![self.word("MULTI")];
                self.ops.push(Op::Command { conn: 0, argv, check: Check::Exact });
            }
            3..=4 => {
                let mut argv = vec![self.word("WATCH")];
                let family = self.pick_family();
                self.family = family;
                for _ in 0..self.rng.range(1, 3) {
                    argv.push(self.key());
                }
                self.ops.push(Op::Command { conn: 0, argv, check: Check::Exact });
            }
            5 => {
                let argv = vec![self.word("UNWATCH")];
                self.ops.push(Op::Command { conn: 0, argv, check: Check::Exact });
            }
            6..=8 => {
                let family = self.pick_family();
                self.family = family;
                let op = match family {
                    Family::Hashes => hashes::scan(self),
                    Family::Sets => sets::scan(self),
                    Family::Zsets | Family::Geo => zsets::scan(self),
                    _ => keyspace::scan(self),
                };
                self.ops.push(op);
            }
            9..=11 => {
                let family = self.pick_family();
                self.family = family;
                let group = match family {
                    Family::Hashes => hashes::random_group(self),
                    Family::Sets => sets::random_group(self),
                    Family::Zsets => zsets::random_group(self),
                    _ => keyspace::random_group(self),
                };
                self.ops.push(Op::Group { conn: 0, commands: group });
            }
            _ => {
                let family = self.pick_family();
                self.grouping = true;
                let commands = self.family_command(family);
                self.grouping = false;
                if commands.iter().any(|(_, c)| needs_group(c)) {
                    self.ops.push(Op::Group { conn: 0, commands });
                } else {
                    self.push(0, commands);
                }
            }
        }
    }

    fn step_in_multi(&mut self) {
        let check_exec = |g: &mut Gen| Check::Exec(std::mem::take(&mut g.queued));
        match self.rng.below(100) {
            0..=9 => {
                self.in_multi = false;
                let check = check_exec(self);
                let argv = vec![self.word("EXEC")];
                self.ops.push(Op::Command { conn: 0, argv, check });
            }
            10..=11 => {
                self.in_multi = false;
                self.queued.clear();
                let argv = vec![self.word("DISCARD")];
                self.ops.push(Op::Command { conn: 0, argv, check: Check::Exact });
            }
            12 => {
                let argv = vec![self.word("WATCH"), self.key()];
                self.ops.push(Op::Command { conn: 0, argv, check: Check::Exact });
            }
            _ => {
                let family = self.pick_family();
                self.queueing = true;
                let commands = self.family_command(family);
                self.queueing = false;
                self.push(0, commands);
            }
        }
    }

    /// A blocking scenario of the family (lists, sorted sets and streams
    /// have blocking commands; other families fall back to lists).
    fn scenario(&mut self, family: Family) {
        self.in_scenario = true;
        match family {
            Family::Zsets | Family::Geo => zsets::scenario(self),
            Family::Streams => streams::scenario(self),
            _ => lists::scenario(self),
        }
        self.in_scenario = false;
    }

    /// Blocks waiter `waiter` on `argv` (waits until it is blocked or has
    /// its reply).
    pub fn block(&mut self, waiter: usize, argv: Argv) {
        self.ops.push(Op::Block { waiter, argv, check: Check::Exact, timed: false });
    }

    /// A blocking command with a short timeout: its reply is read at once
    /// (after the timeout fired, if it blocked).
    pub fn block_timed(&mut self, waiter: usize, argv: Argv) {
        self.ops.push(Op::Block { waiter, argv, check: Check::Exact, timed: true });
        self.ops.push(Op::Collect { waiter });
    }

    pub fn release(&mut self) {
        let error = self.rng.percent(15);
        self.ops.push(Op::Release { error });
    }

    /// A command on connection 0 inside a scenario (never queued: scenarios
    /// start outside MULTI, and a MULTI they open they also close).
    pub fn feed(&mut self, argv: Argv, check: Check) {
        self.ops.push(Op::Command { conn: 0, argv, check });
    }

    /// Feeds a whole transaction of `commands`.
    pub fn feed_multi(&mut self, commands: Vec<Argv>) {
        self.feed(vec![b"MULTI".to_vec()], Check::Exact);
        let checks = vec![Check::Exact; commands.len()];
        for argv in commands {
            self.feed(argv, Check::Exact);
        }
        self.feed(vec![b"EXEC".to_vec()], Check::Exec(checks));
    }

    // --- arguments ---------------------------------------------------------

    /// A keyword in upper case, or now and then in mixed case.
    pub fn word(&mut self, w: &str) -> Vec<u8> {
        if self.rng.percent(85) {
            return w.to_ascii_uppercase().into_bytes();
        }
        w.bytes().map(|b| if self.rng.percent(50) { b.to_ascii_lowercase() } else { b.to_ascii_uppercase() }).collect()
    }

    /// A key: mostly the current family's, sometimes shared, sometimes
    /// another family's (a WRONGTYPE path).
    pub fn key(&mut self) -> Vec<u8> {
        match self.rng.below(100) {
            0..=81 => self.rng.pick(own_keys(self.family)).to_vec(),
            82..=93 => self.rng.pick(SHARED_KEYS).to_vec(),
            _ => {
                let other = *self.rng.pick(&FAMILIES);
                self.rng.pick(own_keys(other)).to_vec()
            }
        }
    }

    /// A key of the current family only (most blocking scenarios).
    pub fn own_key(&mut self) -> Vec<u8> {
        if self.rng.percent(85) {
            self.rng.pick(own_keys(self.family)).to_vec()
        } else {
            self.rng.pick(SHARED_KEYS).to_vec()
        }
    }

    pub fn letters(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| b"abcdefgh"[self.rng.below(8) as usize]).collect()
    }

    /// A member or element: small so that commands hit existing ones, with
    /// integers (intset), empty and binary members, and long ones (value
    /// limits of the listpack encodings).
    pub fn member(&mut self) -> Vec<u8> {
        match self.rng.below(100) {
            0..=29 => self.rng.range(-3, 20).to_string().into_bytes(),
            30..=59 => vec![b"abcdefghij"[self.rng.below(10) as usize]],
            60..=64 => {
                let edge: &[u8] = *self.rng.pick(&[
                    &b""[..],
                    b"\x00",
                    b"\xff\xfe",
                    b"a\r\nb",
                    b"9223372036854775807",
                    b"-9223372036854775808",
                    b"9223372036854775808",
                    b"007",
                    b"+5",
                    b"-0",
                    b"1.5",
                    b" 1",
                    b"4294967296",
                    b"-2147483649",
                ]);
                edge.to_vec()
            }
            65..=74 => {
                let len = self.rng.range(2, 3) as usize;
                self.letters(len)
            }
            75..=79 => {
                let len = *self.rng.pick(&[5usize, 9, 17, 65, 70, 120]);
                let mut m = self.letters(len);
                m[0] = b'L';
                m
            }
            _ => self.rng.range(-1000, 100_000).to_string().into_bytes(),
        }
    }

    /// A plain value (hash values, stream field values).
    pub fn value(&mut self) -> Vec<u8> {
        match self.rng.below(10) {
            0..=5 => self.member(),
            6 => {
                let len = *self.rng.pick(&[0usize, 1, 3, 8, 16, 63, 64, 65, 200]);
                self.letters(len)
            }
            _ => self.rng.range(-50, 50).to_string().into_bytes(),
        }
    }

    /// A count or small integer argument, with edge cases.
    pub fn count_arg(&mut self, lo: i64, hi: i64) -> Vec<u8> {
        if self.rng.percent(88) {
            return self.rng.range(lo, hi).to_string().into_bytes();
        }
        self.rng
            .pick(&[
                "-1",
                "0",
                "abc",
                "",
                "1.5",
                "9223372036854775807",
                "-9223372036854775808",
                "9223372036854775808",
                "2147483648",
                "-2147483649",
                " 1",
                "+2",
                "0x10",
                "1e2",
            ])
            .as_bytes()
            .to_vec()
    }

    /// An index for LINDEX, LRANGE, ZRANGE, ...
    pub fn index_arg(&mut self) -> Vec<u8> {
        if self.rng.percent(90) {
            return self.rng.range(-15, 15).to_string().into_bytes();
        }
        self.rng
            .pick(&["9223372036854775807", "-9223372036854775808", "abc", "", "1.5", "-100000", "100000", "+1", "01"])
            .as_bytes()
            .to_vec()
    }

    /// A timeout for a blocking command that must not fire during the test.
    pub fn long_timeout(&mut self) -> Vec<u8> {
        self.rng.pick(&["0", "0", "0", "100", "3600", "0.0", "1e3"]).as_bytes().to_vec()
    }

    /// A timeout that fires quickly (seconds, as BLPOP takes them).
    pub fn short_timeout(&mut self) -> Vec<u8> {
        self.rng.pick(&["0.01", "0.02", "0.001", ".01", "0.05"]).as_bytes().to_vec()
    }

    /// A timeout that is refused (the command replies at once).
    pub fn bad_timeout(&mut self) -> Vec<u8> {
        self.rng
            .pick(&["-1", "-0.5", "abc", "", "inf", "nan", "1e400", "9223372036854775807", "-inf", "0x10", "1 "])
            .as_bytes()
            .to_vec()
    }

    /// Drops trailing arguments or adds one: usually an arity or syntax error.
    pub fn mangle_arity(&mut self, argv: &mut Argv) {
        if argv.len() > 1 && self.rng.percent(60) {
            let keep = self.rng.range(1, argv.len() as i64 - 1) as usize;
            argv.truncate(keep);
        } else {
            let extra = if self.rng.percent(50) { self.member() } else { self.word("FOO") };
            argv.push(extra);
        }
    }
}

/// Checks that refer to other replies of an `Op::Group`.
fn needs_group(check: &Check) -> bool {
    matches!(check, Check::Random(_) | Check::Lex { .. } | Check::GeoTies { .. } | Check::Resync(_))
}

/// Builds one seed's plan.
pub fn plan(seed: u64, ops_per_seed: usize, mix: Mix) -> Plan {
    let mut g = Gen::new(seed, mix);
    let setup = g.setup();
    while g.ops.len() < ops_per_seed {
        g.step();
    }
    if g.in_multi {
        let check = Check::Exec(std::mem::take(&mut g.queued));
        g.ops.push(Op::Command { conn: 0, argv: vec![b"EXEC".to_vec()], check });
    }
    Plan { resp3: seed % 3 == 2, setup, ops: g.ops, connections: 2, waiters: WAITERS }
}

/// The family a command name belongs to, for the summary.
pub fn family_of(name: &str) -> &'static str {
    match name {
        "blpop" | "brpop" | "blmove" | "brpoplpush" | "blmpop" | "bzpopmin" | "bzpopmax" | "bzmpop" | "client" => {
            "blocking"
        }
        n if n.starts_with('l') || n.starts_with("rpop") || n.starts_with("rpush") => "lists",
        n if n.starts_with('h') => "hashes",
        n if n.starts_with('s')
            && !matches!(n, "select" | "swapdb" | "scan" | "setbit" | "set" | "setrange" | "strlen") =>
        {
            "sets"
        }
        n if n.starts_with('z') => "zsets",
        n if n.starts_with('x') => "streams",
        n if n.starts_with("bit") || matches!(n, "setbit" | "getbit") => "bitmaps",
        n if n.starts_with("pf") => "hyperloglog",
        n if n.starts_with("geo") => "geo",
        _ => "keyspace/server",
    }
}
