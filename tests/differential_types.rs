//! Differential test of the data types: Shoal against a real redis-server 7.0.
//!
//! Seeded command streams over every data type (lists, hashes, sets, sorted
//! sets, streams, bitmaps, HyperLogLog, geo) and the keyspace commands that
//! move them around, plus blocking scenarios, are sent to both servers and
//! compared reply by reply. The harness (`differential/harness.rs`) holds
//! the runner and the comparison rules; `differential/types/` holds the
//! generators and says which replies are compared loosely and why. Set
//! `DIFF_SEED=<n>` to run one seed, `DIFF_SEEDS=<n>` for seeds 0..n.

#[path = "differential/harness.rs"]
mod harness;
mod support;
#[path = "differential/types/mod.rs"]
mod types;

use harness::Suite;

/// Seeds run by default by each test: 0..SEEDS.
const SEEDS: u64 = 64;
/// Generated operations per seed.
const OPS_PER_SEED: usize = 2_600;

fn suite(name: &'static str, min_commands: usize) -> Suite {
    Suite {
        name,
        seeds: SEEDS,
        min_commands,
        // hz 100: redis-server fires blocking timeouts from its cron, 10 ms
        // apart instead of 100.
        global_setup: &[&["DEBUG", "SET-ACTIVE-EXPIRE", "0"], &["CONFIG", "SET", "hz", "100"]],
        family: types::family_of,
    }
}

/// Every data type, with blocking scenarios now and then.
#[test]
fn data_types_reply_like_redis() {
    harness::run(&suite("differential_types", 150_000), |seed| types::plan(seed, OPS_PER_SEED, types::GENERAL));
}

/// Lists, sorted sets and streams, with a third of the steps in blocking
/// scenarios (waiters in arrival order, BLMOVE chains, SWAPDB, timeouts,
/// CLIENT UNBLOCK). Runs next to the other test (its own servers).
#[test]
fn blocking_commands_reply_like_redis() {
    harness::run(&suite("differential_blocking", 60_000), |seed| types::plan(seed, OPS_PER_SEED, types::BLOCKING));
}
