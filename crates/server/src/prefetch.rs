//! Prefetching the keys of a pipelined batch.
//!
//! When a read brings several requests, the worker reads ahead over up to
//! `prefetch-batch-max-size` of them, locates their keys (shard and hash)
//! and asks the keyspace to bring those keys' table slots, entries and
//! values into cache together (`Keyspace::prefetch`). Each lookup would
//! otherwise miss the cache in turn; together the misses overlap. Then
//! the requests run one by one as usual, each with its keys' locations
//! handed on as `Hints`, so the reading ahead costs no second hashing.
//!
//! Reading ahead only guesses: a request the parser will treat otherwise,
//! a command that turns out unknown or a SELECT in the batch just makes
//! some prefetches useless. Nothing here decides what runs.

use std::cell::Cell;

use shoal_commands::{table, Command};
use shoal_engine::{locate, At, Hints};
use shoal_resp::peek_request;
use smallvec::SmallVec;

use crate::server::Server;

/// Most arguments a request may have to be read ahead.
const PEEK_MAX_ARGS: usize = 64;

/// Located keys of the requests read ahead, by position in the input.
#[derive(Default)]
pub struct Batch {
    /// (offset, length, location) of each key, in input order.
    keys: SmallVec<[(usize, usize, At); 16]>,
    /// Input offset where the requests read ahead end.
    end: usize,
}

impl Batch {
    /// True when the request at `position` was not read ahead.
    pub fn passed(&self, position: usize) -> bool {
        position >= self.end
    }

    /// Reads ahead from `from` over up to `max_requests` complete requests
    /// (stopping once `max_requests` keys are found), locates their keys
    /// and prefetches them in database `db`.
    pub fn prepare(&mut self, server: &Server, db: usize, input: &[u8], from: usize, max_requests: usize) {
        self.keys.clear();
        self.end = from;
        let connection = input.as_ptr() as usize;
        if hot_skip(connection) {
            // This connection's last batches hit one key: reading ahead
            // would only find it again. Its requests run unread-ahead (each
            // locates its key from the thread's last-key cache).
            self.end = input.len();
            return;
        }
        let mut last: Option<(&[u8], &'static Command)> = None;
        // Keys located more than once in a row (a hot key, one collection
        // taking many writes) are located and prefetched once.
        let mut distinct = 0usize;
        let mut args: SmallVec<[std::ops::Range<usize>; 24]> = SmallVec::new();
        for _ in 0..max_requests {
            if self.keys.len() >= max_requests {
                break;
            }
            args.clear();
            let start = self.end;
            let Some(len) =
                peek_request(&input[start..], PEEK_MAX_ARGS, |_, r| args.push(start + r.start..start + r.end))
            else {
                break;
            };
            self.end = start + len;
            let name = &input[args[0].clone()];
            let cmd = match last {
                Some((n, cmd)) if n.eq_ignore_ascii_case(name) => cmd,
                _ => match table().lookup(name) {
                    Some(cmd) => {
                        last = Some((name, cmd));
                        cmd
                    }
                    None => continue,
                },
            };
            for index in key_positions(cmd, args.len()) {
                if self.keys.len() == max_requests {
                    break;
                }
                let key = args[index].clone();
                let bytes = &input[key.clone()];
                let at = match self.keys.last() {
                    Some(&(offset, len, at)) if len == bytes.len() && &input[offset..offset + len] == bytes => at,
                    _ => {
                        distinct += 1;
                        locate(bytes)
                    }
                };
                self.keys.push((key.start, key.len(), at));
            }
        }
        // One key (or one key repeated) gains nothing from prefetching:
        // its first lookup brings it in, and the rest find it cached.
        if distinct <= 1 && self.keys.len() >= HOT_MIN_KEYS {
            hot_found(connection);
        }
        if distinct > 1 {
            let mut ats: SmallVec<[At; 16]> = SmallVec::new();
            for &(_, _, at) in &self.keys {
                if ats.last() != Some(&at) {
                    ats.push(at);
                }
            }
            server.engine.keyspace.prefetch(db, &ats);
        }
    }

    /// Hands the locations of the keys read ahead in `input[start..end]`
    /// (one request) on to `hints`.
    pub fn hand_on<'k>(&self, hints: &Hints<'k>, input: &'k [u8], start: usize, end: usize) {
        // Keys are in input order: skip to the request's first one.
        let first = self.keys.partition_point(|k| k.0 < start);
        for &(offset, len, at) in &self.keys[first..] {
            if offset >= end {
                break;
            }
            hints.remember(&input[offset..offset + len], at);
        }
    }
}

/// A batch whose keys are all one key, at least this many times, marks
/// its connection hot...
const HOT_MIN_KEYS: usize = 4;
/// ...and that connection's next this many batches are not read ahead
/// (then one is, to see whether it still hits one key).
const HOT_SKIP_BATCHES: u8 = 7;
/// Connections remembered per thread (direct-mapped by a hash of the input
/// buffer's address; a collision only costs a batch read ahead for nothing or one
/// not read ahead).
const HOT_SLOTS: usize = 64;
const _: () = assert!(HOT_SLOTS == 64, "hot_slot keeps 6 bits");

thread_local! {
    /// (input buffer address, batches left to skip) of hot connections.
    static HOT: [Cell<(usize, u8)>; HOT_SLOTS] = const { [const { Cell::new((0, 0)) }; HOT_SLOTS] };
}

fn hot_slot(connection: usize) -> usize {
    // Input buffers are page-aligned or more: mix every address bit in.
    ((connection as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 58) as usize % HOT_SLOTS
}

/// True (and one skip used up) when `connection`'s batch is not to be read ahead.
fn hot_skip(connection: usize) -> bool {
    HOT.with(|hot| {
        let slot = &hot[hot_slot(connection)];
        match slot.get() {
            (address, left) if address == connection && left > 0 => {
                slot.set((address, left - 1));
                true
            }
            _ => false,
        }
    })
}

fn hot_found(connection: usize) {
    HOT.with(|hot| hot[hot_slot(connection)].set((connection, HOT_SKIP_BATCHES)));
}

/// Argument indexes of a command's keys by its (first, last, step) range;
/// none for commands whose keys move (their range starts at 0).
fn key_positions(cmd: &Command, argc: usize) -> impl Iterator<Item = usize> {
    let range = cmd.legacy;
    let first = range.first.max(0) as usize;
    let last = if range.last < 0 { argc as i64 + range.last as i64 } else { range.last as i64 };
    let last = last.min(argc as i64 - 1);
    let step = range.step.max(1) as usize;
    let count = if first == 0 || (last as usize) < first || last < 0 { 0 } else { (last as usize - first) / step + 1 };
    (0..count).map(move |i| first + i * step)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn positions(name: &str, argc: usize) -> Vec<usize> {
        key_positions(table().lookup(name.as_bytes()).unwrap(), argc).collect()
    }

    #[test]
    fn key_positions_follow_the_command_table() {
        assert_eq!(positions("get", 2), vec![1]);
        assert_eq!(positions("set", 5), vec![1]);
        assert_eq!(positions("mset", 7), vec![1, 3, 5]);
        assert_eq!(positions("mget", 4), vec![1, 2, 3]);
        assert_eq!(positions("get", 1), Vec::<usize>::new(), "a missing key argument is not read");
        assert_eq!(positions("ping", 1), Vec::<usize>::new());
        assert_eq!(positions("zunionstore", 6), vec![1], "movable keys beyond the fixed ones are not read");
    }
}
