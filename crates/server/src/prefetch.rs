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
        let mut last: Option<(&[u8], &'static Command)> = None;
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
                self.keys.push((key.start, key.len(), locate(&input[key])));
            }
        }
        if self.keys.len() > 1 {
            let ats: SmallVec<[At; 16]> = self.keys.iter().map(|k| k.2).collect();
            server.engine.keyspace.prefetch(db, &ats);
        }
    }

    /// Hands the locations of the keys read ahead in `input[start..end]`
    /// (one request) on to `hints`.
    pub fn hand_on<'k>(&self, hints: &Hints<'k>, input: &'k [u8], start: usize, end: usize) {
        for &(offset, len, at) in &self.keys {
            if offset >= start && offset < end {
                hints.remember(&input[offset..offset + len], at);
            }
        }
    }
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
