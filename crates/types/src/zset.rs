//! Sorted sets: unique members, each with a double score, ordered by
//! (score, member bytes).
//!
//! Two encodings, switched at Redis's thresholds (`zset-max-listpack-*`):
//! - compact (reported as `listpack`): every element in one exact-size
//!   block (`compact`), for small sets;
//! - large (reported as `skiplist`): a skip list with spans (`skiplist`)
//!   for order and O(log n) ranks, plus a `ScanTable` from member to node
//!   for O(1) score lookups and ZSCAN cursors.
//!
//! Like Redis 7.0, a set never goes back to the compact encoding once it
//! has grown out of it; results built from scratch (ZUNIONSTORE, ...) pick
//! their encoding from their final size.
//!
//! Ranks are 0-based and ascending everywhere in this API; ranges of ranks
//! are half-open `[lo, hi)`. `iter`, `visit_ranks` and `at_rank` are the
//! read accessors other families (SORT) can use.

mod compact;
mod skiplist;

use std::cmp::Ordering;

use crate::siphash::hash_bytes;
use crate::table::{ScanTable, TableItem};
use crate::collection::Collection;

use compact::Compact;
use skiplist::{node_member, NodePtr, SkipList};

/// A compact set is converted before its block would pass this size
/// (Redis's listpack safety limit).
const COMPACT_MAX_BYTES: usize = 1 << 30;

/// The `zset-max-listpack-entries` / `zset-max-listpack-value` thresholds.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_entries: usize,
    pub max_value: usize,
}

impl Limits {
    /// Limits from configuration values (negative values mean zero).
    pub fn from_config(max_entries: i64, max_value: i64) -> Limits {
        Limits { max_entries: max_entries.max(0) as usize, max_value: max_value.max(0) as usize }
    }

    /// True if a set of `len` members, the longest `longest` bytes, fits
    /// the compact encoding.
    pub fn allow_compact(&self, len: usize, longest: usize) -> bool {
        len <= self.max_entries && longest <= self.max_value
    }
}

/// ZADD's options.
#[derive(Clone, Copy, Debug, Default)]
pub struct AddFlags {
    /// Only add new members.
    pub nx: bool,
    /// Only update existing members.
    pub xx: bool,
    /// Only update when the new score is greater.
    pub gt: bool,
    /// Only update when the new score is lower.
    pub lt: bool,
    /// Add the score to the current one.
    pub incr: bool,
}

/// What `ZSet::add` did.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum AddResult {
    /// A new member, with its score.
    Added(f64),
    /// An existing member whose score changed to this one.
    Updated(f64),
    /// An existing member whose score stayed this one.
    Unchanged(f64),
    /// Nothing done because of NX, XX, GT or LT.
    Skipped,
    /// The score (or the incremented score) is not a number.
    NotANumber,
}

/// A score interval; exclusive ends are Redis's `(` prefix.
#[derive(Clone, Copy, Debug)]
pub struct ScoreRange {
    pub min: f64,
    pub max: f64,
    pub min_exclusive: bool,
    pub max_exclusive: bool,
}

impl ScoreRange {
    /// True if `score` sorts before the interval.
    fn before(&self, score: f64) -> bool {
        if self.min_exclusive {
            score <= self.min
        } else {
            score < self.min
        }
    }

    /// True if `score` does not sort after the interval.
    fn not_after(&self, score: f64) -> bool {
        if self.max_exclusive {
            score < self.max
        } else {
            score <= self.max
        }
    }

    pub fn contains(&self, score: f64) -> bool {
        !self.before(score) && self.not_after(score)
    }
}

/// One end of a lexicographic range.
#[derive(Clone, Debug)]
pub enum LexBound {
    /// `-`: before everything.
    Lowest,
    /// `+`: after everything.
    Highest,
    /// `[member`.
    Inclusive(Vec<u8>),
    /// `(member`.
    Exclusive(Vec<u8>),
}

/// A member interval (meaningful when all scores are equal).
#[derive(Clone, Debug)]
pub struct LexRange {
    pub min: LexBound,
    pub max: LexBound,
}

impl LexRange {
    fn before(&self, member: &[u8]) -> bool {
        match &self.min {
            LexBound::Lowest => false,
            LexBound::Highest => true,
            LexBound::Inclusive(m) => member < m.as_slice(),
            LexBound::Exclusive(m) => member <= m.as_slice(),
        }
    }

    fn not_after(&self, member: &[u8]) -> bool {
        match &self.max {
            LexBound::Lowest => false,
            LexBound::Highest => true,
            LexBound::Inclusive(m) => member <= m.as_slice(),
            LexBound::Exclusive(m) => member < m.as_slice(),
        }
    }

    pub fn contains(&self, member: &[u8]) -> bool {
        !self.before(member) && self.not_after(member)
    }

    /// Where a bound sits among members, `-` and `+` included (Redis's
    /// sdscmplex), and whether it excludes its member.
    fn bound_order(bound: &LexBound) -> (u8, &[u8], bool) {
        match bound {
            LexBound::Lowest => (0, &[], false),
            LexBound::Inclusive(m) => (1, m, false),
            LexBound::Exclusive(m) => (1, m, true),
            LexBound::Highest => (2, &[], false),
        }
    }

    /// True when no member can be inside (min after max, or equal with an
    /// exclusive end), Redis's first test.
    pub fn always_empty(&self) -> bool {
        let (min_rank, min, min_ex) = Self::bound_order(&self.min);
        let (max_rank, max, max_ex) = Self::bound_order(&self.max);
        match (min_rank, min).cmp(&(max_rank, max)) {
            std::cmp::Ordering::Greater => true,
            std::cmp::Ordering::Equal => min_ex || max_ex,
            std::cmp::Ordering::Less => false,
        }
    }
}

/// A member table entry: the skip list node holding the member.
struct NodeRef(NodePtr);

// SAFETY: a NodeRef only lives in the table of the `Large` that owns the
// node, and is only dereferenced through that `Large`.
unsafe impl Send for NodeRef {}
unsafe impl Sync for NodeRef {}

impl TableItem for NodeRef {
    fn key_bytes(&self) -> &[u8] {
        // SAFETY: `Large` removes a node's entry before freeing the node.
        unsafe { node_member(self.0) }
    }
}

/// The large encoding: order and ranks in the list, members in the table.
struct Large {
    list: SkipList,
    index: ScanTable<NodeRef>,
}

impl Large {
    fn new() -> Large {
        Large { list: SkipList::new(), index: ScanTable::new() }
    }

    fn node(&self, member: &[u8]) -> Option<NodePtr> {
        self.index.get(hash_bytes(member), member).map(|r| r.0)
    }

    fn insert_new(&mut self, member: &[u8], score: f64) {
        self.insert_new_hashed(hash_bytes(member), member, score);
    }

    /// `insert_new` for a member whose hash the caller computed.
    fn insert_new_hashed(&mut self, hash: u64, member: &[u8], score: f64) {
        let node = self.list.insert(score, member);
        self.index.insert_new(hash, NodeRef(node));
    }

    fn remove(&mut self, member: &[u8]) -> bool {
        let Some(node) = self.node(member) else { return false };
        let score = self.list.score(node);
        self.index.remove(hash_bytes(member), member);
        self.list.remove(score, member)
    }

    fn remove_ranks(&mut self, lo: usize, hi: usize) {
        let Large { list, index } = self;
        list.remove_ranks(lo, hi, |member| {
            index.remove(hash_bytes(member), member);
        });
    }
}

/// ZADD's rules for a member already at `current`: the new score to move
/// it to, or the result when it stays where it is.
fn updated_score(current: f64, score: f64, flags: AddFlags) -> Result<f64, AddResult> {
    if flags.nx {
        return Err(AddResult::Skipped);
    }
    let new = if flags.incr { score + current } else { score };
    if new.is_nan() {
        return Err(AddResult::NotANumber);
    }
    if (flags.lt && new >= current) || (flags.gt && new <= current) {
        return Err(AddResult::Skipped);
    }
    if new == current {
        return Err(AddResult::Unchanged(new));
    }
    Ok(new)
}

enum Repr {
    Compact(Compact),
    Large(Box<Large>),
}

/// A sorted set.
pub struct ZSet {
    repr: Repr,
}

impl Default for ZSet {
    fn default() -> Self {
        ZSet::new()
    }
}

impl ZSet {
    /// An empty set in the compact encoding.
    pub fn new() -> ZSet {
        ZSet { repr: Repr::Compact(Compact::new()) }
    }

    /// An empty set in the large encoding.
    pub fn new_large() -> ZSet {
        ZSet { repr: Repr::Large(Box::new(Large::new())) }
    }

    /// The empty set ZADD creates for a missing key, whose first member is
    /// `first_member_len` bytes long (Redis decides the encoding up front).
    pub fn for_first_member(limits: Limits, first_member_len: usize) -> ZSet {
        if limits.max_entries == 0 || first_member_len > limits.max_value {
            ZSet::new_large()
        } else {
            ZSet::new()
        }
    }

    /// A set of distinct members, in the encoding their number and sizes
    /// call for.
    pub fn from_unique(entries: Vec<(Vec<u8>, f64)>, limits: Limits) -> ZSet {
        let mut refs: Vec<(&[u8], f64)> = entries.iter().map(|(m, s)| (m.as_slice(), *s)).collect();
        ZSet::from_unique_refs(&mut refs, limits)
    }

    /// `from_unique` over borrowed members (sorted in place), building the
    /// compact block in one allocation.
    pub fn from_unique_refs(entries: &mut [(&[u8], f64)], limits: Limits) -> ZSet {
        entries.sort_by(|a, b| skiplist::compare(a.1, a.0, b.1, b.0));
        let longest = entries.iter().map(|(m, _)| m.len()).max().unwrap_or(0);
        let total: usize = entries.iter().map(|(m, s)| compact::entry_size(m, *s)).sum();
        if limits.allow_compact(entries.len(), longest) && total < COMPACT_MAX_BYTES {
            let compact = Compact::from_sorted(entries.iter().copied());
            return ZSet { repr: Repr::Compact(compact) };
        }
        let mut large = Large::new();
        large.index.reserve(entries.len());
        entries.iter().for_each(|(m, s)| large.insert_new(m, *s));
        ZSet { repr: Repr::Large(Box::new(large)) }
    }

    /// True in the compact encoding (`listpack`).
    pub fn is_compact(&self) -> bool {
        matches!(self.repr, Repr::Compact(_))
    }

    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Compact(c) => c.len(),
            Repr::Large(l) => l.list.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The score of `member`.
    pub fn score(&self, member: &[u8]) -> Option<f64> {
        match &self.repr {
            Repr::Compact(c) => c.find(member).map(|s| s.score),
            Repr::Large(l) => l.node(member).map(|n| l.list.score(n)),
        }
    }

    pub fn contains(&self, member: &[u8]) -> bool {
        self.score(member).is_some()
    }

    /// ZADD/ZINCRBY on one member, with Redis's rules for the flags.
    pub fn add(&mut self, member: &[u8], score: f64, flags: AddFlags, limits: Limits) -> AddResult {
        if score.is_nan() {
            return AddResult::NotANumber;
        }
        if let Repr::Large(l) = &mut self.repr {
            // One hash and one probe: the node found is the one updated,
            // the hash computed is the one inserted with.
            let hash = hash_bytes(member);
            return match l.index.get(hash, member).map(|r| r.0) {
                Some(node) => {
                    let current = l.list.score(node);
                    match updated_score(current, score, flags) {
                        Ok(new) => {
                            l.list.update_score(node, new);
                            AddResult::Updated(new)
                        }
                        Err(result) => result,
                    }
                }
                None if flags.xx => AddResult::Skipped,
                None => {
                    l.insert_new_hashed(hash, member, score);
                    AddResult::Added(score)
                }
            };
        }
        match self.score(member) {
            Some(current) => match updated_score(current, score, flags) {
                Ok(new) => {
                    self.change_score(member, new);
                    AddResult::Updated(new)
                }
                Err(result) => result,
            },
            None if flags.xx => AddResult::Skipped,
            None => {
                self.insert_new(member, score, limits);
                AddResult::Added(score)
            }
        }
    }

    /// Moves an existing member to `score`.
    fn change_score(&mut self, member: &[u8], score: f64) {
        match &mut self.repr {
            Repr::Compact(c) => {
                if let Some(slot) = c.find(member) {
                    let (offset, len) = (slot.offset, slot.len);
                    c.remove_slot(offset, len);
                    c.insert(member, score);
                }
            }
            Repr::Large(l) => {
                if let Some(node) = l.node(member) {
                    l.list.update_score(node, score);
                }
            }
        }
    }

    /// Adds a member known to be absent, converting to the large encoding
    /// first if the compact one would pass the limits.
    pub fn insert_new(&mut self, member: &[u8], score: f64, limits: Limits) {
        if let Repr::Compact(c) = &self.repr {
            let too_big = c.len() + 1 > limits.max_entries
                || member.len() > limits.max_value
                || c.byte_len() + compact::entry_size(member, score) > COMPACT_MAX_BYTES;
            if too_big {
                self.convert_to_large();
            }
        }
        match &mut self.repr {
            Repr::Compact(c) => c.insert(member, score),
            Repr::Large(l) => l.insert_new(member, score),
        }
    }

    fn convert_to_large(&mut self) {
        let Repr::Compact(c) = &self.repr else { return };
        let mut large = Large::new();
        large.index.reserve(c.len() + 1);
        for slot in c.iter() {
            large.insert_new(slot.member, slot.score);
        }
        self.repr = Repr::Large(Box::new(large));
    }

    /// Removes `member`; false if it was absent.
    pub fn remove(&mut self, member: &[u8]) -> bool {
        match &mut self.repr {
            Repr::Compact(c) => match c.find(member) {
                Some(slot) => {
                    let (offset, len) = (slot.offset, slot.len);
                    c.remove_slot(offset, len);
                    true
                }
                None => false,
            },
            Repr::Large(l) => l.remove(member),
        }
    }

    /// Ascending rank and score of `member`.
    pub fn rank(&self, member: &[u8]) -> Option<(usize, f64)> {
        match &self.repr {
            Repr::Compact(c) => c.iter().enumerate().find(|(_, s)| s.member == member).map(|(r, s)| (r, s.score)),
            Repr::Large(l) => {
                let node = l.node(member)?;
                let score = l.list.score(node);
                l.list.rank_of(score, member).map(|r| (r, score))
            }
        }
    }

    /// Ranks `[lo, hi)` of the elements whose scores are in `range`.
    pub fn score_span(&self, range: &ScoreRange) -> (usize, usize) {
        let (lo, hi) = match &self.repr {
            Repr::Compact(c) => (
                c.iter().take_while(|s| range.before(s.score)).count(),
                c.iter().take_while(|s| range.not_after(s.score)).count(),
            ),
            Repr::Large(l) => {
                (l.list.count_before(|s, _| range.before(s)), l.list.count_before(|s, _| range.not_after(s)))
            }
        };
        (lo, hi.max(lo))
    }

    /// Ranks `[lo, hi)` of the elements whose members are in `range`
    /// (assuming equal scores, as Redis does).
    pub fn lex_span(&self, range: &LexRange) -> (usize, usize) {
        let (lo, hi) = match &self.repr {
            Repr::Compact(c) => (
                c.iter().take_while(|s| range.before(s.member)).count(),
                c.iter().take_while(|s| range.not_after(s.member)).count(),
            ),
            Repr::Large(l) => {
                (l.list.count_before(|_, m| range.before(m)), l.list.count_before(|_, m| range.not_after(m)))
            }
        };
        (lo, hi.max(lo))
    }

    /// For the compact encoding: the ascending ranks `[lo, hi)` a lex query
    /// selects, found the way Redis walks a listpack. Going up, it starts at
    /// the first member not below the minimum (nothing if that one is above
    /// the maximum), skips `offset` members without looking at them, then
    /// takes members while they are not above the maximum, at most `limit`
    /// (negative: no limit); going down (`reverse`) it mirrors that from
    /// the last member not above the maximum. With equal scores this is
    /// `lex_span`; with different scores the walk decides. None for the
    /// large encoding (whose answer Redis leaves to its skiplist's levels).
    pub fn compact_lex_window(&self, range: &LexRange, offset: i64, limit: i64, reverse: bool) -> Option<(usize, usize)> {
        let Repr::Compact(c) = &self.repr else { return None };
        let members: Vec<&[u8]> = c.iter().map(|s| s.member).collect();
        let n = members.len();
        let empty = Some((0, 0));
        if n == 0 || offset < 0 || range.always_empty() || range.before(members[n - 1]) || !range.not_after(members[0]) {
            return empty;
        }
        let offset = usize::try_from(offset).unwrap_or(usize::MAX);
        let cap = usize::try_from(limit).unwrap_or(usize::MAX);
        if !reverse {
            let Some(first) = members.iter().position(|m| !range.before(m)) else { return empty };
            if !range.not_after(members[first]) {
                return empty;
            }
            let start = first.saturating_add(offset);
            if start >= n {
                return empty;
            }
            let run = members[start..].iter().take_while(|m| range.not_after(m)).count().min(cap);
            Some((start, start + run))
        } else {
            let Some(last) = members.iter().rposition(|m| range.not_after(m)) else { return empty };
            if range.before(members[last]) || offset > last {
                return empty;
            }
            let start = last - offset;
            let run = members[..=start].iter().rev().take_while(|m| !range.before(m)).count().min(cap);
            Some((start + 1 - run, start + 1))
        }
    }

    /// The element at ascending rank `rank`.
    pub fn at_rank(&self, rank: usize) -> Option<(&[u8], f64)> {
        match &self.repr {
            Repr::Compact(c) => c.iter().nth(rank).map(|s| (s.member, s.score)),
            Repr::Large(l) => l.list.at_rank(rank).map(|n| (l.list.member(n), l.list.score(n))),
        }
    }

    /// Calls `visit` for the elements with ranks in `[lo, hi)`, ascending,
    /// or descending when `reverse`.
    pub fn visit_ranks(&self, lo: usize, hi: usize, reverse: bool, mut visit: impl FnMut(&[u8], f64)) {
        let hi = hi.min(self.len());
        if lo >= hi {
            return;
        }
        match &self.repr {
            Repr::Compact(c) => {
                let slots = c.iter().skip(lo).take(hi - lo);
                if reverse {
                    let collected: Vec<_> = slots.collect();
                    collected.iter().rev().for_each(|s| visit(s.member, s.score));
                } else {
                    slots.for_each(|s| visit(s.member, s.score));
                }
            }
            Repr::Large(l) => {
                let list = &l.list;
                let mut node = list.at_rank(if reverse { hi - 1 } else { lo });
                for _ in lo..hi {
                    let Some(n) = node else { break };
                    visit(list.member(n), list.score(n));
                    node = if reverse { list.prev(n) } else { list.next(n) };
                }
            }
        }
    }

    /// Removes the elements with ranks in `[lo, hi)`; returns how many.
    pub fn remove_ranks(&mut self, lo: usize, hi: usize) -> usize {
        let hi = hi.min(self.len());
        if lo >= hi {
            return 0;
        }
        match &mut self.repr {
            Repr::Compact(c) => c.remove_ranks(lo, hi),
            Repr::Large(l) => l.remove_ranks(lo, hi),
        }
        hi - lo
    }

    /// Removes and returns the lowest (or highest) element.
    pub fn pop(&mut self, highest: bool) -> Option<(Vec<u8>, f64)> {
        let len = self.len();
        if len == 0 {
            return None;
        }
        let rank = if highest { len - 1 } else { 0 };
        let (member, score) = self.at_rank(rank).map(|(m, s)| (m.to_vec(), s))?;
        self.remove_ranks(rank, rank + 1);
        Some((member, score))
    }

    /// Every element in ascending order.
    pub fn iter(&self) -> Iter<'_> {
        match &self.repr {
            Repr::Compact(c) => Iter(IterInner::Compact(c.iter())),
            Repr::Large(l) => Iter(IterInner::Large { list: &l.list, node: l.list.first(), remaining: l.list.len() }),
        }
    }

    /// One step of ZSCAN: visits the elements of the cursor's bucket and
    /// returns the next cursor (0 at the end). The compact encoding is
    /// returned whole in one step, as Redis does.
    pub fn scan(&self, cursor: u64, mut visit: impl FnMut(&[u8], f64)) -> u64 {
        match &self.repr {
            Repr::Compact(c) => {
                c.iter().for_each(|s| visit(s.member, s.score));
                0
            }
            Repr::Large(l) => l.index.scan(cursor, |r| visit(l.list.member(r.0), l.list.score(r.0))),
        }
    }
}

/// Ascending iteration over (member, score).
pub struct Iter<'a>(IterInner<'a>);

enum IterInner<'a> {
    Compact(compact::Iter<'a>),
    Large { list: &'a SkipList, node: Option<NodePtr>, remaining: usize },
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a [u8], f64);

    fn next(&mut self) -> Option<(&'a [u8], f64)> {
        match &mut self.0 {
            IterInner::Compact(it) => it.next().map(|s| (s.member, s.score)),
            IterInner::Large { list, node, remaining } => {
                let n = (*node)?;
                *node = list.next(n);
                *remaining -= 1;
                Some((list.member(n), list.score(n)))
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = match &self.0 {
            IterInner::Compact(it) => it.len(),
            IterInner::Large { remaining, .. } => *remaining,
        };
        (n, Some(n))
    }
}

impl ExactSizeIterator for Iter<'_> {}

impl Collection for ZSet {
    fn encoding(&self) -> &'static str {
        match self.repr {
            Repr::Compact(_) => "listpack",
            Repr::Large(_) => "skiplist",
        }
    }

    fn len(&self) -> usize {
        ZSet::len(self)
    }

    fn duplicate(&self) -> Self {
        match &self.repr {
            Repr::Compact(c) => ZSet { repr: Repr::Compact(c.duplicate()) },
            Repr::Large(l) => {
                let mut copy = Large::new();
                copy.index.reserve(l.list.len());
                for (member, score) in self.iter() {
                    copy.insert_new(member, score);
                }
                ZSet { repr: Repr::Large(Box::new(copy)) }
            }
        }
    }

    fn heap_bytes(&self) -> usize {
        match &self.repr {
            Repr::Compact(c) => c.heap_bytes(),
            Repr::Large(l) => std::mem::size_of::<Large>() + l.list.heap_bytes() + l.index.allocated_bytes(),
        }
    }
}

impl std::fmt::Debug for ZSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter().map(|(m, s)| (String::from_utf8_lossy(m), s))).finish()
    }
}

/// Orders two (score, member) pairs as sorted sets do.
pub fn compare(score_a: f64, member_a: &[u8], score_b: f64, member_b: &[u8]) -> Ordering {
    skiplist::compare(score_a, member_a, score_b, member_b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const SMALL: Limits = Limits { max_entries: 16, max_value: 8 };

    fn model_order(model: &HashMap<Vec<u8>, f64>) -> Vec<(Vec<u8>, f64)> {
        let mut v: Vec<(Vec<u8>, f64)> = model.iter().map(|(m, s)| (m.clone(), *s)).collect();
        v.sort_by(|a, b| compare(a.1, &a.0, b.1, &b.0));
        v
    }

    fn contents(z: &ZSet) -> Vec<(Vec<u8>, f64)> {
        z.iter().map(|(m, s)| (m.to_vec(), s)).collect()
    }

    #[test]
    fn both_encodings_follow_a_model() {
        for limits in [SMALL, Limits { max_entries: 0, max_value: 0 }, Limits { max_entries: 1000, max_value: 64 }] {
            let mut z = ZSet::for_first_member(limits, 2);
            let mut model: HashMap<Vec<u8>, f64> = HashMap::new();
            let mut seed = 5u64;
            for _ in 0..5000 {
                seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                let member = format!("m{}", (seed >> 35) % 40).into_bytes();
                let score = ((seed >> 13) % 9) as f64 - 4.0;
                match (seed >> 61) % 4 {
                    0 | 1 => {
                        let flags = AddFlags { incr: seed & 1 == 1, ..AddFlags::default() };
                        let result = z.add(&member, score, flags, limits);
                        let old = model.get(&member).copied();
                        let new = if flags.incr { old.unwrap_or(0.0) + score } else { score };
                        model.insert(member, new);
                        match old {
                            None => assert_eq!(result, AddResult::Added(new)),
                            Some(o) if o == new => assert_eq!(result, AddResult::Unchanged(new)),
                            Some(_) => assert_eq!(result, AddResult::Updated(new)),
                        }
                    }
                    2 => assert_eq!(z.remove(&member), model.remove(&member).is_some()),
                    _ => {
                        let order = model_order(&model);
                        if let Some((r, (m, s))) = order.iter().enumerate().nth((seed as usize) % (order.len() + 1)) {
                            assert_eq!(z.rank(m), Some((r, *s)));
                            assert_eq!(z.at_rank(r), Some((m.as_slice(), *s)));
                        }
                    }
                }
                assert_eq!(z.len(), model.len());
            }
            assert_eq!(contents(&z), model_order(&model));
            let range = ScoreRange { min: -1.0, max: 2.0, min_exclusive: true, max_exclusive: false };
            let (lo, hi) = z.score_span(&range);
            let expected: Vec<_> = model_order(&model).into_iter().filter(|(_, s)| range.contains(*s)).collect();
            let mut got = Vec::new();
            z.visit_ranks(lo, hi, false, |m, s| got.push((m.to_vec(), s)));
            assert_eq!(got, expected);
            let mut reversed = Vec::new();
            z.visit_ranks(lo, hi, true, |m, s| reversed.push((m.to_vec(), s)));
            reversed.reverse();
            assert_eq!(reversed, expected);
            let removed = z.remove_ranks(lo, hi);
            assert_eq!(removed, expected.len());
            assert!(z.iter().all(|(_, s)| !range.contains(s)));
            let copy = z.duplicate();
            assert_eq!(contents(&copy), contents(&z));
            assert_eq!(copy.encoding(), z.encoding());
        }
    }

    #[test]
    fn encoding_switches_at_the_limits() {
        let mut z = ZSet::for_first_member(SMALL, 1);
        for i in 0..16 {
            z.add(format!("{i}").as_bytes(), i as f64, AddFlags::default(), SMALL);
        }
        assert_eq!(z.encoding(), "listpack");
        z.add(b"16", 16.0, AddFlags::default(), SMALL);
        assert_eq!(z.encoding(), "skiplist");
        let mut z = ZSet::for_first_member(SMALL, 1);
        z.add(b"a", 1.0, AddFlags::default(), SMALL);
        z.add(b"123456789", 1.0, AddFlags::default(), SMALL);
        assert_eq!(z.encoding(), "skiplist");
        assert_eq!(ZSet::for_first_member(SMALL, 9).encoding(), "skiplist");
        let built = ZSet::from_unique(vec![(b"b".to_vec(), 1.0), (b"a".to_vec(), 1.0)], SMALL);
        assert_eq!(built.encoding(), "listpack");
        assert_eq!(contents(&built), vec![(b"a".to_vec(), 1.0), (b"b".to_vec(), 1.0)]);
    }

    #[test]
    fn flags_follow_redis() {
        let mut z = ZSet::new();
        let l = SMALL;
        let f = |nx, xx, gt, lt, incr| AddFlags { nx, xx, gt, lt, incr };
        assert_eq!(z.add(b"a", 1.0, f(false, true, false, false, false), l), AddResult::Skipped);
        assert_eq!(z.add(b"a", 1.0, f(true, false, false, false, false), l), AddResult::Added(1.0));
        assert_eq!(z.add(b"a", 2.0, f(true, false, false, false, false), l), AddResult::Skipped);
        assert_eq!(z.add(b"a", 0.0, f(false, false, true, false, false), l), AddResult::Skipped);
        assert_eq!(z.add(b"a", 3.0, f(false, false, true, false, false), l), AddResult::Updated(3.0));
        assert_eq!(z.add(b"a", 1.0, f(false, false, false, true, true), l), AddResult::Skipped);
        assert_eq!(z.add(b"a", -1.0, f(false, false, false, true, true), l), AddResult::Updated(2.0));
        assert_eq!(z.add(b"a", f64::NAN, AddFlags::default(), l), AddResult::NotANumber);
        z.add(b"b", f64::INFINITY, AddFlags::default(), l);
        assert_eq!(z.add(b"b", f64::NEG_INFINITY, f(false, false, false, false, true), l), AddResult::NotANumber);
        assert_eq!(z.pop(true), Some((b"b".to_vec(), f64::INFINITY)));
        assert_eq!(z.pop(false), Some((b"a".to_vec(), 2.0)));
        assert!(z.is_empty());
    }

    #[test]
    fn lex_ranges() {
        for limits in [SMALL, Limits { max_entries: 0, max_value: 0 }] {
            let mut z = ZSet::for_first_member(limits, 1);
            for m in ["a", "b", "c", "d", "e"] {
                z.add(m.as_bytes(), 0.0, AddFlags::default(), limits);
            }
            let r = LexRange { min: LexBound::Exclusive(b"a".to_vec()), max: LexBound::Inclusive(b"d".to_vec()) };
            assert_eq!(z.lex_span(&r), (1, 4));
            let r = LexRange { min: LexBound::Lowest, max: LexBound::Highest };
            assert_eq!(z.lex_span(&r), (0, 5));
            let r = LexRange { min: LexBound::Highest, max: LexBound::Lowest };
            let (lo, hi) = z.lex_span(&r);
            assert_eq!(lo, hi);
        }
    }

    #[test]
    fn scan_visits_everything() {
        let limits = Limits { max_entries: 0, max_value: 0 };
        let mut z = ZSet::for_first_member(limits, 1);
        for i in 0..500 {
            z.add(format!("m{i}").as_bytes(), i as f64, AddFlags::default(), limits);
        }
        let mut seen = Vec::new();
        let mut cursor = 0;
        loop {
            cursor = z.scan(cursor, |m, s| seen.push((m.to_vec(), s)));
            if cursor == 0 {
                break;
            }
        }
        seen.sort_by(|a, b| compare(a.1, &a.0, b.1, &b.0));
        assert_eq!(seen, contents(&z));
    }
}
