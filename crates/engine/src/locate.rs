//! Where a key lives: its shard and its table hash.
//!
//! Locating a key costs a CRC16 (for the shard) and a SipHash (for the
//! table), and one command locates its key several times: to plan its
//! locks, to look it up, to prefetch it in a pipelined batch. `Hints` lets
//! the first of those pass its result on to the others. A hint is keyed by
//! the address and length of the key bytes, so it is only sound while
//! those bytes cannot change or move: `Hints` borrows every key it is
//! given for as long as it lives, and forgets all hints when dropped.

use std::cell::Cell;
use std::marker::PhantomData;

use shoal_types::hash_bytes;

use crate::keyspace::{shard_of, ShardIndex};

/// A key's shard and hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct At {
    pub shard: ShardIndex,
    pub hash: u64,
}

const SLOTS: usize = 4;

thread_local! {
    static HINTS: [Cell<(usize, usize, At)>; SLOTS] =
        const { [const { Cell::new((0, 0, At { shard: 0, hash: 0 })) }; SLOTS] };
    static COUNT: Cell<usize> = const { Cell::new(0) };
}

/// Where `key` lives (from a hint when one is held for these very bytes).
#[inline]
pub fn locate(key: &[u8]) -> At {
    let count = COUNT.with(Cell::get);
    if count > 0 {
        let address = key.as_ptr() as usize;
        let found = HINTS.with(|hints| {
            hints[..count.min(SLOTS)].iter().map(Cell::get).find(|h| h.0 == address && h.1 == key.len()).map(|h| h.2)
        });
        if let Some(at) = found {
            return at;
        }
    }
    locate_bytes(key)
}

/// The last key this thread located from its bytes, and where it lives.
struct LastKey {
    len: usize,
    bytes: [u8; LAST_KEY_MAX],
    at: At,
}

/// Longest key the last-key cache holds.
const LAST_KEY_MAX: usize = 32;

thread_local! {
    static LAST_KEY: std::cell::RefCell<LastKey> =
        const { std::cell::RefCell::new(LastKey { len: usize::MAX, bytes: [0; LAST_KEY_MAX], at: At { shard: 0, hash: 0 } }) };
}

/// Where `key` lives, computed from its bytes. A hot key (a counter, a
/// rate limiter, one big collection) is located over and over, often by
/// consecutive commands: the thread remembers the last short key it
/// located, by content, and answers it with a comparison instead of a
/// CRC16 and a SipHash. (A location depends on the key's bytes alone.)
#[inline]
fn locate_bytes(key: &[u8]) -> At {
    if key.len() > LAST_KEY_MAX {
        return At { shard: shard_of(key), hash: hash_bytes(key) };
    }
    LAST_KEY.with(|last| {
        let mut last = last.borrow_mut();
        if last.len == key.len() && &last.bytes[..key.len()] == key {
            return last.at;
        }
        let at = At { shard: shard_of(key), hash: hash_bytes(key) };
        last.len = key.len();
        last.bytes[..key.len()].copy_from_slice(key);
        last.at = at;
        at
    })
}

/// Located keys of the command being run on this thread. Dropping it
/// forgets every hint of the thread (an inner `Hints` may thus cost an
/// outer one its hints; never a wrong answer). Must be dropped, not
/// leaked with `mem::forget`.
pub struct Hints<'k> {
    keys: PhantomData<&'k [u8]>,
}

impl<'k> Hints<'k> {
    pub fn new() -> Hints<'k> {
        Hints { keys: PhantomData }
    }

    /// Locates `key` and remembers the result while `self` lives (for up
    /// to four keys; later ones are located but not remembered).
    #[inline]
    pub fn locate(&self, key: &'k [u8]) -> At {
        let at = locate(key);
        self.remember(key, at);
        at
    }

    /// Remembers that `key` is located at `at`, which the caller computed
    /// with `locate`.
    #[inline]
    pub fn remember(&self, key: &'k [u8], at: At) {
        if key.is_empty() {
            return;
        }
        let count = COUNT.with(Cell::get);
        if count < SLOTS {
            HINTS.with(|hints| hints[count].set((key.as_ptr() as usize, key.len(), at)));
            COUNT.with(|c| c.set(count + 1));
        }
    }
}

impl Default for Hints<'_> {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Hints<'_> {
    fn drop(&mut self) {
        COUNT.with(|c| c.set(0));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_answer_for_the_same_bytes_only_while_held() {
        let buffer = b"key1key1".to_vec();
        let (first, second) = buffer.split_at(4);
        let truth = locate(first);
        assert_eq!(truth, locate(second), "equal keys locate alike");
        let fake = At { shard: truth.shard.wrapping_add(1), hash: truth.hash ^ 1 };
        {
            let hints = Hints::new();
            hints.remember(first, fake);
            assert_eq!(locate(first), fake, "the hinted bytes use the hint");
            assert_eq!(locate(second), truth, "equal bytes elsewhere are located afresh");
            assert_eq!(locate(&first[..3]), locate(b"key"), "a shorter slice at the same address is another key");
        }
        assert_eq!(locate(first), truth, "hints end with their holder");
    }

    #[test]
    fn the_last_key_cache_answers_by_content() {
        let long = vec![b'k'; LAST_KEY_MAX + 1];
        for key in [&b"counter"[..], b"", b"counter2", &long, b"counter", &long[..LAST_KEY_MAX]] {
            let fresh = At { shard: shard_of(key), hash: hash_bytes(key) };
            assert_eq!(locate(key), fresh);
            assert_eq!(locate(key), fresh, "again, from the cache");
            assert_eq!(locate(&key.to_vec()), fresh, "the same bytes elsewhere");
        }
        assert_ne!(locate(b"a"), locate(b"b"));
    }
}
