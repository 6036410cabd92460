//! Differential test: Shoal against a real redis-server 7.0.
//!
//! The same seeded, pseudo-random command streams are sent to shoal-server
//! and to redis-server, and every reply is compared byte for byte. The
//! streams cover the string commands, the keyspace commands, expiry,
//! databases (SELECT, MOVE, COPY DB, SWAPDB, FLUSHDB) and MULTI/EXEC/WATCH,
//! with argument errors (wrong arity, non-numeric, overflowing, negative and
//! huge numbers, empty strings, binary bytes) mixed in. Keys come from a
//! small pool (some with hash tags) so that commands collide.
//!
//! Determinism, and the few places where bytes are not compared:
//! - The generator is a fixed SplitMix64, so a seed always yields the same
//!   stream. A divergence prints the seed, the command index, the command,
//!   both replies (escaped) and the commands just before it. Set
//!   `DIFF_SEED=<n>` to run a single seed while debugging, or
//!   `DIFF_SEEDS=<n>` to run seeds 0..n (a longer search).
//! - The active expiry cycle is turned off on both servers
//!   (`DEBUG SET-ACTIVE-EXPIRE 0`): keys whose time has passed are removed
//!   only lazily, by the commands that look them up, so DBSIZE and WATCH
//!   are deterministic and are compared exactly.
//! - Expiry times are either in the past (the key dies at once), fixed
//!   absolute times far in the future, or relative times of at least
//!   1000 s. Relative times are distinct multiples of 10 s within a seed, so
//!   NX/XX/GT/LT comparisons never depend on the millisecond a command ran.
//! - TTL, PTTL, EXPIRETIME and PEXPIRETIME of relative expiries depend on
//!   each server's clock when the expiry was set and read, so when both
//!   replies are non-negative integers they may differ by at most
//!   `MAX_MS_SKEW` milliseconds (PTTL, PEXPIRETIME) or `MAX_SECONDS_SKEW`
//!   seconds (TTL, EXPIRETIME: rounding can flip a second). Negative replies
//!   (-1, -2) and every other reply are compared exactly.
//! - KEYS returns keys in hash-table order, which differs between the two
//!   servers: its array elements are sorted before comparing (each element
//!   is still compared byte for byte).
//! - SCAN cursors are implementation details: a SCAN is run as a full
//!   iteration on each server and the sorted, de-duplicated key sets are
//!   compared. SCAN calls that must fail (bad cursor, bad options) are
//!   compared byte for byte.
//! - Every fourth seed runs in RESP3 (HELLO 3 on both connections; the
//!   HELLO reply itself holds connection ids and is only checked to be a
//!   map), the others in RESP2.
//! - RANDOMKEY, OBJECT IDLETIME/FREQ and anything else inherently random or
//!   clock-driven are not sent.
//! - Arguments that an error message quotes back (unknown command
//!   arguments, EXPIRE's "Unsupported option") carry binary bytes too, so
//!   error replies must echo them byte for byte as Redis does.
//!
//! Commands are pipelined in batches per connection, but replies are read
//! and compared one by one. A second connection per server interleaves
//! writes so that WATCH sees other clients' changes.

#[path = "differential/harness.rs"]
mod harness;
mod support;
#[path = "differential/strings.rs"]
mod strings;

use harness::Suite;

/// Seeds run by default: 0..SEEDS.
const SEEDS: u64 = 48;
/// Generated operations per seed (a full SCAN counts once here, but every
/// SCAN call is counted in the command total).
const OPS_PER_SEED: usize = 2_200;
/// The run must send at least this many commands to each server.
const MIN_COMMANDS: usize = 100_000;

#[test]
fn shoal_replies_like_redis() {
    let suite = Suite {
        name: "differential",
        seeds: SEEDS,
        min_commands: MIN_COMMANDS,
        global_setup: &[&["DEBUG", "SET-ACTIVE-EXPIRE", "0"]],
        family: |name| match name {
            "select" | "swapdb" | "flushdb" | "flushall" | "dbsize" | "multi" | "exec" | "discard" | "watch"
            | "unwatch" => "server",
            "del" | "unlink" | "exists" | "type" | "touch" | "rename" | "renamenx" | "copy" | "move" | "expire"
            | "pexpire" | "expireat" | "pexpireat" | "ttl" | "pttl" | "expiretime" | "pexpiretime" | "persist"
            | "object" | "keys" | "scan" => "keys",
            _ => "strings",
        },
    };
    harness::run(&suite, |seed| strings::plan(seed, OPS_PER_SEED));
}
