//! The slow log, as data.

use std::collections::VecDeque;
use std::sync::atomic::AtomicU64;

use parking_lot::Mutex;

/// Arguments kept per entry (the last slot says how many more there were).
pub(crate) const MAX_ARGS: usize = 32;
/// Bytes kept per argument.
pub(crate) const MAX_ARG_BYTES: usize = 128;
pub(crate) const REDACTED: &[u8] = b"(redacted)";

pub(crate) struct Entry {
    pub(crate) id: u64,
    pub(crate) unix_secs: i64,
    pub(crate) micros: u64,
    pub(crate) argv: Vec<Vec<u8>>,
    pub(crate) peer: String,
    pub(crate) name: String,
}

#[derive(Default)]
pub struct SlowLog {
    pub(crate) entries: Mutex<VecDeque<Entry>>,
    pub(crate) next_id: AtomicU64,
}
