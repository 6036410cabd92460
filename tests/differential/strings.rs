//! The generator of `tests/differential.rs` (strings, keyspace commands,
//! expiry, databases, MULTI/EXEC/WATCH), shared with the replica-equality
//! test: see `tests/differential.rs` for what it covers and why.

use std::collections::HashSet;

use crate::harness::{Check, Op, Plan, Rng, Unit};

/// Key pool: small so that commands collide; some share a hash tag, one is
/// empty, one is binary, one is full of glob characters, one is long.
const KEYS: &[&[u8]] = &[
    b"k0",
    b"k1",
    b"k2",
    b"k3",
    b"k4",
    b"{t}a",
    b"{t}b",
    b"{t}c",
    b"user:1",
    b"user:2",
    b"",
    b"bin\x00\xff\r\n",
    b"a*?[k]\\",
    b"long-key-long-key-long-key-long-key-long-key-long-key-long-key",
];

/// Command names and their relative weights.
const COMMANDS: &[(&str, u64)] = &[
    ("get", 8),
    ("set", 12),
    ("setnx", 2),
    ("setex", 2),
    ("psetex", 2),
    ("getset", 2),
    ("getdel", 2),
    ("getex", 4),
    ("mget", 3),
    ("mset", 3),
    ("msetnx", 2),
    ("append", 4),
    ("strlen", 2),
    ("getrange", 3),
    ("substr", 1),
    ("setrange", 3),
    ("incr", 4),
    ("decr", 2),
    ("incrby", 3),
    ("decrby", 2),
    ("incrbyfloat", 4),
    ("lcs", 2),
    ("del", 3),
    ("unlink", 1),
    ("exists", 3),
    ("type", 2),
    ("touch", 1),
    ("rename", 2),
    ("renamenx", 2),
    ("copy", 2),
    ("move", 2),
    ("expire", 3),
    ("pexpire", 2),
    ("expireat", 2),
    ("pexpireat", 2),
    ("ttl", 3),
    ("pttl", 2),
    ("expiretime", 2),
    ("pexpiretime", 2),
    ("persist", 2),
    ("object", 2),
    ("dbsize", 2),
    ("select", 2),
    ("swapdb", 1),
    ("flushdb", 1),
    ("keys", 3),
    ("scan-error", 1),
];

/// Builds one seed's operations. The stream does not depend on replies.
struct Generator {
    rng: Rng,
    /// Connection 0 is inside MULTI (as far as the stream is concerned).
    in_multi: bool,
    /// Checks of the commands queued since MULTI.
    queued: Vec<Check>,
    /// Relative expiries used so far, in milliseconds (kept distinct).
    relative_used: HashSet<i64>,
}

impl Generator {
    fn new(seed: u64) -> Generator {
        Generator { rng: Rng::new(seed, 0x5EED), in_multi: false, queued: Vec::new(), relative_used: HashSet::new() }
    }

    fn next_op(&mut self) -> Op {
        // The second connection interleaves plain commands (never MULTI).
        if self.rng.percent(8) {
            let (argv, check) = self.plain_command();
            return Op::Command { conn: 1, argv, check };
        }
        if self.in_multi {
            return self.op_in_multi();
        }
        let (argv, check) = match self.rng.below(100) {
            0..=3 => {
                self.in_multi = true;
                self.queued.clear();
                (vec![self.word("MULTI")], Check::Exact)
            }
            4..=6 => {
                let mut argv = vec![self.word("WATCH")];
                let n = self.rng.range(1, 3);
                for _ in 0..n {
                    argv.push(self.key());
                }
                (argv, Check::Exact)
            }
            7 => (vec![self.word("UNWATCH")], Check::Exact),
            8 => {
                // EXEC or DISCARD without MULTI.
                let name = if self.rng.percent(50) { "EXEC" } else { "DISCARD" };
                (vec![self.word(name)], Check::Exact)
            }
            9..=10 => return self.full_scan(),
            _ => self.plain_command(),
        };
        Op::Command { conn: 0, argv, check }
    }

    fn op_in_multi(&mut self) -> Op {
        let (argv, check) = match self.rng.below(100) {
            0..=11 => {
                self.in_multi = false;
                (vec![self.word("EXEC")], Check::Exec(std::mem::take(&mut self.queued)))
            }
            12..=14 => {
                self.in_multi = false;
                self.queued.clear();
                (vec![self.word("DISCARD")], Check::Exact)
            }
            15 => {
                // EXEC with a wrong arity aborts the transaction.
                self.in_multi = false;
                self.queued.clear();
                (vec![self.word("EXEC"), b"now".to_vec()], Check::Exact)
            }
            16..=17 => (vec![self.word("MULTI")], Check::Exact),
            18..=19 => (vec![self.word("WATCH"), self.key()], Check::Exact),
            _ => {
                let (argv, check) = self.plain_command();
                self.queued.push(check.clone());
                (argv, check)
            }
        };
        Op::Command { conn: 0, argv, check }
    }

    fn full_scan(&mut self) -> Op {
        // All of these mean cursor 0 to Redis (strtoul).
        let first_cursor: Vec<u8> = match self.rng.below(10) {
            0 => b"00".to_vec(),
            1 => b"".to_vec(),
            2 => b"+0".to_vec(),
            3 => vec![b'0'; 70],
            _ => b"0".to_vec(),
        };
        let mut options = Vec::new();
        if self.rng.percent(50) {
            options.push(self.word("MATCH"));
            options.push(self.pattern());
        }
        if self.rng.percent(50) {
            options.push(self.word("COUNT"));
            options.push(self.rng.range(1, 20).to_string().into_bytes());
        }
        if self.rng.percent(20) {
            options.push(self.word("TYPE"));
            let type_name: &[u8] =
                *self.rng.pick(&[&b"string"[..], b"STRING", b"list", b"none", b"hash", b"string\x00x"]);
            options.push(type_name.to_vec());
        }
        Op::FullScan { conn: 0, command: vec![b"SCAN".to_vec()], first_cursor, options, pairs: false, probe: false }
    }

    /// A command that is not a transaction control command.
    fn plain_command(&mut self) -> (Vec<Vec<u8>>, Check) {
        if self.rng.percent(1) {
            return (self.unknown_command(), Check::Exact);
        }
        let total: u64 = COMMANDS.iter().map(|(_, w)| w).sum();
        let mut pick = self.rng.below(total);
        let mut name = COMMANDS[0].0;
        for (candidate, weight) in COMMANDS {
            if pick < *weight {
                name = candidate;
                break;
            }
            pick -= weight;
        }
        let (mut argv, check) = self.build(name);
        // (An invalid SCAN must stay invalid: a valid one replies in
        // hash-table order.)
        if name != "scan-error" && self.rng.percent(3) {
            self.mangle_arity(&mut argv);
        }
        (argv, check)
    }

    fn build(&mut self, name: &str) -> (Vec<Vec<u8>>, Check) {
        let mut argv = vec![self.word(name)];
        let mut check = Check::Exact;
        match name {
            "get" | "strlen" | "getdel" | "incr" | "decr" | "type" | "persist" => argv.push(self.key()),
            "set" => {
                argv.push(self.key());
                argv.push(self.value());
                self.set_options(&mut argv);
            }
            "setnx" | "getset" => {
                argv.push(self.key());
                argv.push(self.value());
            }
            "setex" => {
                argv.push(self.key());
                argv.push(self.relative_seconds());
                argv.push(self.value());
            }
            "psetex" => {
                argv.push(self.key());
                argv.push(self.relative_millis());
                argv.push(self.value());
            }
            "getex" => {
                argv.push(self.key());
                for _ in 0..self.rng.below(3) {
                    self.expiry_option(&mut argv, true);
                }
            }
            "mget" | "del" | "unlink" | "exists" | "touch" => {
                let most = if self.rng.percent(10) { 20 } else { 5 };
                for _ in 0..self.rng.range(1, most) {
                    argv.push(self.key());
                }
            }
            "mset" | "msetnx" => {
                for _ in 0..self.rng.range(1, 4) {
                    argv.push(self.key());
                    argv.push(self.value());
                }
            }
            "append" => {
                argv.push(self.key());
                argv.push(self.short_value());
            }
            "getrange" | "substr" => {
                argv.push(self.key());
                argv.push(self.range_arg());
                argv.push(self.range_arg());
            }
            "setrange" => {
                argv.push(self.key());
                argv.push(self.offset_arg());
                argv.push(if self.rng.percent(10) { Vec::new() } else { self.short_value() });
            }
            "incrby" | "decrby" => {
                argv.push(self.key());
                argv.push(self.increment_arg());
            }
            "incrbyfloat" => {
                argv.push(self.key());
                argv.push(self.float_arg());
            }
            "lcs" => {
                let first = self.key();
                let second = if self.rng.percent(30) { first.clone() } else { self.key() };
                argv.push(first);
                argv.push(second);
                for _ in 0..self.rng.below(3) {
                    match self.rng.below(5) {
                        0 => argv.push(self.word("LEN")),
                        1 => argv.push(self.word("IDX")),
                        2 => argv.push(self.word("WITHMATCHLEN")),
                        3 => {
                            argv.push(self.word("MINMATCHLEN"));
                            argv.push(if self.rng.percent(80) {
                                self.rng.range(-1, 4).to_string().into_bytes()
                            } else {
                                self.increment_arg()
                            });
                        }
                        _ => argv.push(self.word("FOO")),
                    }
                }
            }
            "rename" | "renamenx" => {
                argv.push(self.key());
                argv.push(self.key());
            }
            "copy" => {
                argv.push(self.key());
                argv.push(self.key());
                if self.rng.percent(40) {
                    argv.push(self.word("DB"));
                    argv.push(self.db_arg());
                }
                if self.rng.percent(40) {
                    argv.push(self.word("REPLACE"));
                }
                if self.rng.percent(5) {
                    argv.push(self.word("FOO"));
                }
            }
            "move" => {
                argv.push(self.key());
                argv.push(self.db_arg());
            }
            "expire" | "pexpire" | "expireat" | "pexpireat" => {
                argv.push(self.key());
                let time = match name {
                    "expire" => self.expire_relative_seconds(),
                    "pexpire" => self.expire_relative_millis(),
                    "expireat" => self.unix_seconds(),
                    _ => self.unix_millis(),
                };
                argv.push(time);
                for _ in 0..self.rng.below(3) {
                    let flag = *self.rng.pick(&["NX", "XX", "GT", "LT", "NX", "XX", "GT", "LT", "FOO"]);
                    argv.push(self.word(flag));
                }
            }
            "ttl" | "expiretime" => {
                argv.push(self.key());
                check = Check::Ttl(Unit::Seconds);
            }
            "pttl" | "pexpiretime" => {
                argv.push(self.key());
                check = Check::Ttl(Unit::Millis);
            }
            "object" => match self.rng.below(20) {
                0 => argv.push(self.word("ENCODING")),
                1 => {
                    argv.push(self.word("NOSUCHSUB"));
                    argv.push(self.key());
                }
                _ => {
                    argv.push(self.word("ENCODING"));
                    argv.push(self.key());
                }
            },
            "dbsize" => {}
            "select" => argv.push(self.db_arg()),
            "swapdb" => {
                argv.push(self.db_arg());
                argv.push(self.db_arg());
            }
            "flushdb" => {
                if self.rng.percent(20) {
                    argv[0] = self.word("FLUSHALL");
                }
                match self.rng.below(6) {
                    0 => argv.push(self.word("ASYNC")),
                    1 => argv.push(self.word("SYNC")),
                    2 => argv.push(self.word("LATER")),
                    _ => {}
                }
            }
            "keys" => {
                argv.push(self.pattern());
                check = Check::Sorted;
            }
            "scan-error" => {
                argv[0] = self.word("SCAN");
                self.scan_error_args(&mut argv);
            }
            other => unreachable!("no generator for {other}"),
        }
        (argv, check)
    }

    /// SET options: conflicting and repeated options included.
    fn set_options(&mut self, argv: &mut Vec<Vec<u8>>) {
        if self.rng.percent(45) {
            return;
        }
        for _ in 0..self.rng.range(1, 3) {
            match self.rng.below(12) {
                0 | 1 => argv.push(self.word("NX")),
                2 | 3 => argv.push(self.word("XX")),
                4 | 5 => argv.push(self.word("GET")),
                6 => argv.push(self.word("KEEPTTL")),
                7 => argv.push(self.word("PERSIST")),
                _ => self.expiry_option(argv, false),
            }
        }
    }

    /// EX/PX/EXAT/PXAT with a time (or, for GETEX, sometimes PERSIST).
    fn expiry_option(&mut self, argv: &mut Vec<Vec<u8>>, getex: bool) {
        match self.rng.below(if getex { 6 } else { 5 }) {
            0 => {
                argv.push(self.word("EX"));
                argv.push(self.relative_seconds());
            }
            1 => {
                argv.push(self.word("PX"));
                argv.push(self.relative_millis());
            }
            2 => {
                argv.push(self.word("EXAT"));
                argv.push(self.unix_seconds());
            }
            3 => {
                argv.push(self.word("PXAT"));
                argv.push(self.unix_millis());
            }
            4 if self.rng.percent(20) => argv.push(self.word("EX")), // missing value
            4 => argv.push(self.word("KEEPTTL")),
            _ => argv.push(self.word("PERSIST")),
        }
    }

    fn scan_error_args(&mut self, argv: &mut Vec<Vec<u8>>) {
        const BAD_CURSORS: &[&[u8]] =
            &[b"abc", b"1.5", b" 1", b"-", b"1x", b"18446744073709551616", b"0 ", b"\t0", b"-0x"];
        const BAD_OPTIONS: &[&[&[u8]]] = &[
            &[b"COUNT", b"0"],
            &[b"COUNT", b"-5"],
            &[b"COUNT", b"abc"],
            &[b"COUNT", b""],
            &[b"COUNT", b"99999999999999999999"],
            &[b"MATCH"],
            &[b"COUNT"],
            &[b"TYPE"],
            &[b"FOO", b"bar"],
            &[b"COUNT", b"1", b"MATCH"],
        ];
        if self.rng.percent(50) {
            argv.push(self.rng.pick(BAD_CURSORS).to_vec());
            if self.rng.percent(30) {
                argv.push(self.word("COUNT"));
                argv.push(b"5".to_vec());
            }
        } else {
            argv.push(b"0".to_vec());
            for word in *self.rng.pick(BAD_OPTIONS) {
                argv.push(word.to_vec());
            }
        }
    }

    /// Drops trailing arguments or adds one: usually an arity or syntax error.
    fn mangle_arity(&mut self, argv: &mut Vec<Vec<u8>>) {
        if argv.len() > 1 && self.rng.percent(60) {
            let keep = self.rng.range(1, argv.len() as i64 - 1) as usize;
            argv.truncate(keep);
        } else {
            argv.push(self.echoed_value());
        }
    }

    /// A value for an argument that an error message quotes back (unknown
    /// command arguments, EXPIRE's "Unsupported option"), binary included.
    fn echoed_value(&mut self) -> Vec<u8> {
        self.value()
    }

    fn unknown_command(&mut self) -> Vec<Vec<u8>> {
        let name: &[u8] = *self.rng.pick(&[&b"FOO"[..], b"GETT", b"SETX", b"hello world", b"obj\x00ect"]);
        let mut argv = vec![name.to_vec()];
        for _ in 0..self.rng.below(4) {
            argv.push(self.echoed_value());
        }
        argv
    }

    // --- arguments ---------------------------------------------------------

    /// A keyword in upper case, or now and then in mixed case.
    fn word(&mut self, w: &str) -> Vec<u8> {
        if self.rng.percent(85) {
            return w.to_ascii_uppercase().into_bytes();
        }
        w.bytes().map(|b| if self.rng.percent(50) { b.to_ascii_lowercase() } else { b.to_ascii_uppercase() }).collect()
    }

    fn key(&mut self) -> Vec<u8> {
        self.rng.pick(KEYS).to_vec()
    }

    fn letters(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| b"abcdefgh"[self.rng.below(8) as usize]).collect()
    }

    fn value(&mut self) -> Vec<u8> {
        self.value_up_to(1500)
    }

    /// A value for APPEND and SETRANGE, so strings grow slowly.
    fn short_value(&mut self) -> Vec<u8> {
        self.value_up_to(46)
    }

    fn value_up_to(&mut self, max_len: usize) -> Vec<u8> {
        const INTEGERS: &[&str] = &[
            "0",
            "-0",
            "+1",
            "01",
            " 1",
            "1 ",
            "-1",
            "9999",
            "10000",
            "9223372036854775807",
            "-9223372036854775808",
            "9223372036854775808",
            "-9223372036854775809",
            "12345678901234567890",
            "1e3",
            "0x10",
        ];
        const FLOATS: &[&str] = &[
            "1.5",
            "-2.25",
            "0.1",
            "3.0",
            "1e10",
            "1.5e-5",
            "inf",
            "-inf",
            "nan",
            "1e308",
            ".5",
            "5.",
            "+3.5",
            "1e400",
            "0.0001",
            "-0.0",
            "1.7976931348623157e308",
            "2.5E2",
            "0x1p-2",
            "1e-4940",
            "17.99999999999999999",
            "10.50",
            "1\x00",
        ];
        match self.rng.below(100) {
            0..=19 => self.rng.range(-100, 1000).to_string().into_bytes(),
            20..=29 => self.rng.pick(INTEGERS).as_bytes().to_vec(),
            30..=39 => self.rng.pick(FLOATS).as_bytes().to_vec(),
            40..=44 => Vec::new(),
            45..=54 => {
                let len = self.rng.range(1, 12);
                (0..len).map(|_| *self.rng.pick(&[0u8, b'\r', b'\n', 0xff, 0x80, b'a', b' ', b'*', b'?'])).collect()
            }
            55..=62 => {
                let len = *self.rng.pick(&[20usize, 21, 22, 23, 43, 44, 45, 46, 64, 100, 500, 1500]);
                let len = len.min(max_len);
                self.letters(len)
            }
            // Now and then a value long enough that LCS of two of them
            // needs more than proto-max-bulk-len (refused up front).
            63 if max_len > 1000 && self.rng.percent(40) => self.letters(12_000),
            _ => {
                let len = self.rng.range(1, 8) as usize;
                self.letters(len)
            }
        }
    }

    /// INCRBY/DECRBY/MINMATCHLEN argument.
    fn increment_arg(&mut self) -> Vec<u8> {
        if self.rng.percent(75) {
            return self.rng.range(-1000, 1000).to_string().into_bytes();
        }
        let edge: &str = *self.rng.pick(&[
            "9223372036854775807",
            "-9223372036854775808",
            "9223372036854775808",
            "-9223372036854775809",
            "4611686018427387904",
            "abc",
            "",
            "1.5",
            " 1",
            "+1",
            "0x10",
            "-0",
            "00",
            "1\x00",
        ]);
        edge.as_bytes().to_vec()
    }

    fn float_arg(&mut self) -> Vec<u8> {
        match self.rng.below(20) {
            0..=11 => format!("{}.{}", self.rng.range(-100, 100), self.rng.range(0, 999)).into_bytes(),
            12..=15 => self.rng.range(-50, 50).to_string().into_bytes(),
            16 => {
                // Around Redis's 5120-byte limit for a long double's text.
                let mut digits = vec![b'0'; *self.rng.pick(&[5118usize, 5119, 5120, 6000])];
                *digits.last_mut().unwrap() = b'1';
                digits
            }
            _ => {
                let edge: &str = *self.rng.pick(&[
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
                    "3.4028236e+38",
                    "1\x00",
                    "1\x00abc",
                    "0x1p3",
                    "0x1.8p1",
                    "infinity",
                    "-INF",
                    "NaN",
                    "1e-4950",
                    "1e-4940",
                    "4e-320",
                    "1e",
                    "e1",
                    "1.5.5",
                    "123456789012345678901234567890",
                    "0.000000000000000001",
                    "-0",
                    "1.0e+2",
                    "\t1",
                    "1e4000",
                    "-1e4000",
                ]);
                edge.as_bytes().to_vec()
            }
        }
    }

    /// GETRANGE start/end.
    fn range_arg(&mut self) -> Vec<u8> {
        if self.rng.percent(85) {
            return self.rng.range(-30, 30).to_string().into_bytes();
        }
        let edge: &str =
            *self.rng.pick(&["9223372036854775807", "-9223372036854775808", "abc", "", "1.5", "-100000", "100000"]);
        edge.as_bytes().to_vec()
    }

    /// SETRANGE offset. Offsets that would build strings close to the
    /// 512 MB limit are avoided (they would allocate that much).
    fn offset_arg(&mut self) -> Vec<u8> {
        match self.rng.below(100) {
            0..=74 => self.rng.range(0, 40).to_string().into_bytes(),
            75..=84 => self.rng.range(41, 2000).to_string().into_bytes(),
            _ => {
                let edge: &str = *self.rng.pick(&[
                    "-1",
                    "536870912",
                    "1000000000",
                    "9223372036854775807",
                    "-9223372036854775808",
                    "abc",
                    "",
                ]);
                edge.as_bytes().to_vec()
            }
        }
    }

    fn db_arg(&mut self) -> Vec<u8> {
        if self.rng.percent(80) {
            return self.rng.range(0, 2).to_string().into_bytes();
        }
        let edge: &str = *self.rng.pick(&[
            "3",
            "15",
            "16",
            "-1",
            "abc",
            "",
            "2147483648",
            "-2147483649",
            "9223372036854775808",
            "1.0",
            " 1",
        ]);
        edge.as_bytes().to_vec()
    }

    /// A relative expiry in milliseconds, >= 1000 s, a multiple of 10 s and
    /// unused so far in this seed.
    fn fresh_relative_ms(&mut self) -> i64 {
        loop {
            let ms = self.rng.range(100, 100_000) * 10_000;
            if self.relative_used.insert(ms) {
                return ms;
            }
        }
    }

    /// SET EX / SETEX / GETEX EX seconds: valid, or invalid for SET.
    fn relative_seconds(&mut self) -> Vec<u8> {
        match self.rng.below(100) {
            0..=79 => (self.fresh_relative_ms() / 1000).to_string().into_bytes(),
            80..=89 => self.bad_time(),
            _ => {
                let edge: &str = *self.rng.pick(&[
                    "0",
                    "-1",
                    "-1000",
                    "9223372036854775807",
                    "9223372036854775",
                    "9223372036854776",
                    "-9223372036854775808",
                ]);
                edge.as_bytes().to_vec()
            }
        }
    }

    fn relative_millis(&mut self) -> Vec<u8> {
        match self.rng.below(100) {
            0..=79 => self.fresh_relative_ms().to_string().into_bytes(),
            80..=89 => self.bad_time(),
            _ => {
                let edge: &str = *self.rng.pick(&["0", "-1", "9223372036854775807", "9223372036854775000"]);
                edge.as_bytes().to_vec()
            }
        }
    }

    /// EXPIRE seconds: also zero and negative (the key is deleted at once).
    fn expire_relative_seconds(&mut self) -> Vec<u8> {
        if self.rng.percent(15) {
            return self.rng.pick(&["0", "-1", "-5000", "-9223372036854775"]).as_bytes().to_vec();
        }
        self.relative_seconds()
    }

    fn expire_relative_millis(&mut self) -> Vec<u8> {
        if self.rng.percent(15) {
            return self.rng.pick(&["0", "-1", "-5000000", "-9223372036854775808"]).as_bytes().to_vec();
        }
        self.relative_millis()
    }

    /// Absolute seconds: in the past, or fixed and far in the future.
    fn unix_seconds(&mut self) -> Vec<u8> {
        match self.rng.below(100) {
            0..=39 => self.rng.pick(&["1", "100", "1000000000", "1600000000"]).as_bytes().to_vec(),
            40..=79 => (3_000_000_000 + self.rng.range(0, 50) * 1000).to_string().into_bytes(),
            80..=89 => self.bad_time(),
            _ => {
                let edge: &str =
                    *self.rng.pick(&["0", "-1", "9223372036854775807", "9223372036854775", "9223372036854776"]);
                edge.as_bytes().to_vec()
            }
        }
    }

    fn unix_millis(&mut self) -> Vec<u8> {
        match self.rng.below(100) {
            0..=39 => self.rng.pick(&["1", "100000", "1000000000000", "1600000000000"]).as_bytes().to_vec(),
            40..=79 => (3_000_000_000_000 + self.rng.range(0, 50) * 1_000_000).to_string().into_bytes(),
            80..=89 => self.bad_time(),
            _ => self.rng.pick(&["0", "-1", "9223372036854775807"]).as_bytes().to_vec(),
        }
    }

    fn bad_time(&mut self) -> Vec<u8> {
        self.rng.pick(&["abc", "", "1.5", " 2000", "2000 ", "+2000", "1e4", "2000\x00"]).as_bytes().to_vec()
    }

    fn pattern(&mut self) -> Vec<u8> {
        const PATTERNS: &[&[u8]] = &[
            b"*",
            b"k*",
            b"k?",
            b"*a*",
            b"[a-k]*",
            b"{t}*",
            b"\\{t\\}*",
            b"user:[12]",
            b"k[^0-2]",
            b"",
            b"*\\",
            b"?",
            b"??",
            b"*:*",
            b"[",
            b"k[",
            b"bin*",
            b"*\x00*",
            b"[!k]*",
            b"*[\\]]*",
            b"K*",
            b"[k-a]?",
        ];
        self.rng.pick(PATTERNS).to_vec()
    }
}

// ---------------------------------------------------------------------------
// Running

/// Builds one seed's plan of `ops_per_seed` operations.
pub fn plan(seed: u64, ops_per_seed: usize) -> Plan {
    let mut generator = Generator::new(seed);
    let ops = (0..ops_per_seed).map(|_| generator.next_op()).collect();
    // Every fourth seed speaks RESP3 on both connections.
    Plan { resp3: seed % 4 == 3, setup: Vec::new(), ops, connections: 2, waiters: 0 }
}
