//! Sets of byte strings, with Redis 7.0's visible encodings.
//!
//! Three representations:
//! - `Ints`: a sorted integer array (`intset`), used while every member is
//!   a canonical 64-bit integer and there are at most
//!   `set-max-intset-entries` of them;
//! - `Small`: a `Compact` sequence of members, for sets of a few short
//!   strings;
//! - `Table`: a `ScanTable` of members.
//!
//! Redis 7.0 has no compact encoding for string sets, so `Small` and
//! `Table` are both reported as `hashtable`: `Small` only saves memory
//! (a few-member set costs one small allocation instead of a table and one
//! allocation per member). The transitions Redis makes are kept: an intset
//! becomes a string set when a non-integer is added or when it grows past
//! the limit, and a string set never turns back into an intset.

pub mod compact;
mod intset;
pub(crate) mod sample;

use rand::Rng;

use crate::siphash::hash_bytes;
use crate::table::ScanTable;
use crate::collection::Collection;

pub use compact::Compact;
pub use intset::IntSet;

/// Most members a `Small` set holds before it becomes a table.
pub const SMALL_MAX_ENTRIES: usize = 128;
/// Longest member a `Small` set holds.
pub const SMALL_MAX_MEMBER: usize = 64;
/// Members measured to estimate a large set's memory (MEMORY USAGE).
pub(crate) const HEAP_SAMPLE: usize = 64;
/// Redis caps set-max-intset-entries at 2^30 whatever the configuration.
const INTSET_HARD_LIMIT: usize = 1 << 30;

/// A set member as the encodings hold it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Member<'a> {
    Int(i64),
    Bytes(&'a [u8]),
}

impl Member<'_> {
    /// The member's bytes (integers in decimal).
    pub fn to_vec(self) -> Vec<u8> {
        match self {
            Member::Int(v) => shoal_resp::number::i64_to_bytes(v),
            Member::Bytes(b) => b.to_vec(),
        }
    }

    /// Calls `f` with the member's bytes without allocating.
    pub fn with_bytes<R>(self, f: impl FnOnce(&[u8]) -> R) -> R {
        match self {
            Member::Int(v) => {
                let mut digits = [0u8; 20];
                let negative = v < 0;
                let abs = shoal_resp::number::format_u64(&mut digits, v.unsigned_abs());
                let mut buf = [0u8; 21];
                let start = usize::from(negative);
                buf[0] = b'-';
                buf[start..start + abs.len()].copy_from_slice(abs);
                f(&buf[..start + abs.len()])
            }
            Member::Bytes(b) => f(b),
        }
    }
}

/// A set value.
pub enum Set {
    Ints(IntSet),
    Small(Compact),
    Table(Box<ScanTable<Box<[u8]>>>),
}

impl Default for Set {
    fn default() -> Self {
        Set::Ints(IntSet::new())
    }
}

impl std::fmt::Debug for Set {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.iter().map(|m| String::from_utf8_lossy(&m.to_vec()).into_owned())).finish()
    }
}

fn parse_int(member: &[u8]) -> Option<i64> {
    shoal_resp::number::parse_i64(member)
}

impl Set {
    /// An empty set that starts as an intset (what set operations build
    /// their results in).
    pub fn new_intset() -> Set {
        Set::Ints(IntSet::new())
    }

    /// An empty set of the encoding Redis picks for a set whose first
    /// member is `first`.
    pub fn for_member(first: &[u8]) -> Set {
        if parse_int(first).is_some() {
            Set::Ints(IntSet::new())
        } else {
            Set::Small(Compact::new())
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Set::Ints(s) => s.len(),
            Set::Small(p) => p.len(),
            Set::Table(t) => t.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True for the intset encoding.
    pub fn is_intset(&self) -> bool {
        matches!(self, Set::Ints(_))
    }

    pub fn contains(&self, member: &[u8]) -> bool {
        match self {
            Set::Ints(s) => parse_int(member).is_some_and(|v| s.contains(v)),
            Set::Small(p) => p.position(member).is_some(),
            Set::Table(t) => t.find(hash_bytes(member), member).is_some(),
        }
    }

    /// Membership of a member taken from another set.
    pub fn contains_member(&self, member: Member<'_>) -> bool {
        match (self, member) {
            (Set::Ints(s), Member::Int(v)) => s.contains(v),
            (_, Member::Bytes(b)) => self.contains(b),
            (_, m) => m.with_bytes(|b| self.contains(b)),
        }
    }

    /// Adds `member`; false if it was already present. `max_intset` is
    /// set-max-intset-entries.
    pub fn insert(&mut self, member: &[u8], max_intset: usize) -> bool {
        if let Set::Ints(ints) = self {
            match parse_int(member) {
                Some(v) => {
                    if !ints.insert(v) {
                        return false;
                    }
                    if ints.len() > max_intset.min(INTSET_HARD_LIMIT) {
                        self.convert_ints(0);
                    }
                    return true;
                }
                None => self.convert_ints(1),
            }
        }
        self.insert_string(member)
    }

    /// Adds a member taken from another set.
    pub fn insert_member(&mut self, member: Member<'_>, max_intset: usize) -> bool {
        member.with_bytes(|b| self.insert(b, max_intset))
    }

    /// Insertion into a string encoding.
    fn insert_string(&mut self, member: &[u8]) -> bool {
        if let Set::Small(p) = self {
            if p.position(member).is_some() {
                return false;
            }
            if p.len() < SMALL_MAX_ENTRIES && member.len() <= SMALL_MAX_MEMBER {
                p.push(member);
                return true;
            }
            self.convert_small(1);
        }
        match self {
            Set::Table(t) => {
                let hash = hash_bytes(member);
                if t.find(hash, member).is_some() {
                    return false;
                }
                t.insert_new(hash, member.into());
                true
            }
            _ => unreachable!("string insertion into an intset"),
        }
    }

    /// Turns an intset into a string set with room for `extra` more.
    fn convert_ints(&mut self, extra: usize) {
        let Set::Ints(ints) = self else { return };
        let members: Vec<Vec<u8>> = ints.iter().map(|v| Member::Int(v).to_vec()).collect();
        *self = Set::strings_from(members.iter().map(|m| m.as_slice()), members.len() + extra);
    }

    /// Turns a small string set into a table with room for `extra` more.
    fn convert_small(&mut self, extra: usize) {
        let Set::Small(p) = self else { return };
        let mut table = ScanTable::with_capacity(p.len() + extra);
        for m in p.iter() {
            table.insert_new(hash_bytes(m), m.into());
        }
        *self = Set::Table(Box::new(table));
    }

    /// A set of `members`, which are distinct, in the encoding a set built
    /// by adding them one by one would end in.
    pub fn from_distinct(members: &[&[u8]], max_intset: usize) -> Set {
        if members.len() <= max_intset.min(INTSET_HARD_LIMIT) {
            let ints: Option<Vec<i64>> = members.iter().map(|m| parse_int(m)).collect();
            if let Some(ints) = ints {
                let mut set = IntSet::new();
                for v in ints {
                    set.insert(v);
                }
                return Set::Ints(set);
            }
        }
        Set::strings_from(members.iter().copied(), members.len())
    }

    /// A string set holding `members` (distinct), sized for `expected`.
    fn strings_from<'a>(members: impl ExactSizeIterator<Item = &'a [u8]>, expected: usize) -> Set {
        let members: Vec<&[u8]> = members.collect();
        if expected <= SMALL_MAX_ENTRIES && members.iter().all(|m| m.len() <= SMALL_MAX_MEMBER) {
            return Set::Small(Compact::from_slices(&members));
        }
        let mut table = ScanTable::with_capacity(expected);
        for m in members {
            table.insert_new(hash_bytes(m), m.into());
        }
        Set::Table(Box::new(table))
    }

    /// Removes `member`; false if it was absent.
    pub fn remove(&mut self, member: &[u8]) -> bool {
        match self {
            Set::Ints(s) => parse_int(member).is_some_and(|v| s.remove(v)),
            Set::Small(p) => match p.position(member) {
                Some(i) => {
                    p.splice(i, 1, &[]);
                    true
                }
                None => false,
            },
            Set::Table(t) => t.remove(hash_bytes(member), member).is_some(),
        }
    }

    /// Every member, in the encoding's order (ascending for intsets).
    pub fn iter(&self) -> Box<dyn Iterator<Item = Member<'_>> + '_> {
        match self {
            Set::Ints(s) => Box::new(s.iter().map(Member::Int)),
            Set::Small(p) => Box::new(p.iter().map(Member::Bytes)),
            Set::Table(t) => Box::new(t.iter().map(|m| Member::Bytes(m))),
        }
    }

    /// A member chosen uniformly at random (the set must not be empty).
    pub fn random_member<R: Rng + ?Sized>(&self, rng: &mut R) -> Member<'_> {
        match self {
            Set::Ints(s) => Member::Int(s.get(rng.random_range(0..s.len()))),
            Set::Small(p) => Member::Bytes(p.get(rng.random_range(0..p.len())).expect("index below length")),
            Set::Table(t) => Member::Bytes(t.at(sample::fair_slot(t, rng))),
        }
    }

    /// Removes a member chosen uniformly at random and returns its bytes
    /// (the set must not be empty).
    pub fn pop_random<R: Rng + ?Sized>(&mut self, rng: &mut R) -> Vec<u8> {
        match self {
            Set::Ints(s) => {
                let index = rng.random_range(0..s.len());
                Member::Int(s.remove_at(index)).to_vec()
            }
            Set::Small(p) => {
                let index = rng.random_range(0..p.len());
                p.remove(index)
            }
            Set::Table(t) => {
                let slot = sample::fair_slot(t, rng);
                t.remove_at(slot).into_vec()
            }
        }
    }

    /// Calls `visit` with `count` members drawn independently (repeats
    /// possible) while it returns true. The set must not be empty.
    pub fn sample<R: Rng + ?Sized>(&self, count: u64, rng: &mut R, mut visit: impl FnMut(Member<'_>) -> bool) {
        match self {
            Set::Small(p) => {
                // Index the members once instead of walking for every draw.
                let members: Vec<&[u8]> = p.iter().collect();
                for _ in 0..count {
                    if !visit(Member::Bytes(members[rng.random_range(0..members.len())])) {
                        return;
                    }
                }
            }
            _ => {
                for _ in 0..count {
                    if !visit(self.random_member(rng)) {
                        return;
                    }
                }
            }
        }
    }

    /// `count` distinct members chosen at random (count < len), the way
    /// Redis's SRANDMEMBER picks them: when most of the set is wanted, a
    /// random subset of all of it; otherwise draws until enough distinct.
    pub fn distinct_sample<R: Rng + ?Sized>(&self, count: usize, rng: &mut R) -> Vec<Member<'_>> {
        let count = count.min(self.len());
        match self {
            Set::Ints(s) => sample::distinct_positions(s.len(), count, rng).into_iter().map(|i| Member::Int(s.get(i))).collect(),
            Set::Small(p) => {
                let members: Vec<&[u8]> = p.iter().collect();
                sample::distinct_positions(members.len(), count, rng).into_iter().map(|i| Member::Bytes(members[i])).collect()
            }
            Set::Table(t) if count * 3 > t.len() => {
                let members: Vec<&Box<[u8]>> = t.iter().collect();
                sample::distinct_positions(members.len(), count, rng).into_iter().map(|i| Member::Bytes(members[i])).collect()
            }
            Set::Table(t) => sample::distinct_slots(t, count, rng).into_iter().map(|slot| Member::Bytes(t.at(slot))).collect(),
        }
    }

    /// One SSCAN step: visits the members of the cursor's bucket (or all
    /// members for compact encodings) and returns the next cursor.
    pub fn scan(&self, cursor: u64, mut visit: impl FnMut(Member<'_>)) -> u64 {
        match self {
            Set::Table(t) => t.scan(cursor, |m| visit(Member::Bytes(m))),
            _ => {
                self.iter().for_each(visit);
                0
            }
        }
    }

    /// True when SSCAN walks the set in several steps (Redis's hashtable).
    pub fn scans_incrementally(&self) -> bool {
        matches!(self, Set::Table(_))
    }
}

impl Collection for Set {
    fn encoding(&self) -> &'static str {
        match self {
            Set::Ints(_) => "intset",
            Set::Small(_) | Set::Table(_) => "hashtable",
        }
    }

    fn len(&self) -> usize {
        Set::len(self)
    }

    fn duplicate(&self) -> Self {
        match self {
            Set::Ints(s) => Set::Ints(s.clone()),
            Set::Small(p) => Set::Small(p.clone()),
            Set::Table(t) => {
                let mut copy = ScanTable::with_capacity(t.len());
                for m in t.iter() {
                    copy.insert_new(hash_bytes(m), m.clone());
                }
                Set::Table(Box::new(copy))
            }
        }
    }

    fn heap_bytes(&self) -> usize {
        match self {
            Set::Ints(s) => s.heap_bytes(),
            Set::Small(p) => p.heap_bytes(),
            Set::Table(t) => {
                // Member sizes are estimated from a sample, as Redis does.
                let sampled: Vec<usize> = t.iter().take(HEAP_SAMPLE).map(|m| m.len()).collect();
                let average = sampled.iter().sum::<usize>() / sampled.len().max(1);
                std::mem::size_of::<ScanTable<Box<[u8]>>>() + t.allocated_bytes() + t.len() * average
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn members(s: &Set) -> BTreeSet<Vec<u8>> {
        s.iter().map(Member::to_vec).collect()
    }

    #[test]
    fn intset_until_a_string_or_too_many() {
        let mut s = Set::for_member(b"1");
        assert!(s.insert(b"1", 4));
        assert!(!s.insert(b"1", 4));
        assert!(s.insert(b"-7", 4));
        assert_eq!(s.encoding(), "intset");
        assert!(s.contains(b"-7"));
        assert!(!s.contains(b"-07"));
        assert!(s.insert(b"a", 4));
        assert_eq!(s.encoding(), "hashtable");
        assert!(s.remove(b"a"));
        assert_eq!(s.encoding(), "hashtable", "a string set never returns to intset");
        assert!(s.contains(b"1"));

        let mut s = Set::new_intset();
        for i in 0..5 {
            s.insert(i.to_string().as_bytes(), 4);
        }
        assert_eq!(s.encoding(), "hashtable");
        assert_eq!(s.len(), 5);
        let mut s = Set::for_member(b"x");
        s.insert(b"x", 4);
        assert_eq!(s.encoding(), "hashtable");
    }

    #[test]
    fn small_grows_into_a_table() {
        let mut s = Set::for_member(b"m0");
        let mut model = BTreeSet::new();
        for i in 0..(SMALL_MAX_ENTRIES * 3) {
            let m = format!("m{i}").into_bytes();
            assert!(s.insert(&m, 512));
            model.insert(m);
            if i < SMALL_MAX_ENTRIES {
                assert!(matches!(s, Set::Small(_)));
            }
        }
        assert!(matches!(s, Set::Table(_)));
        assert_eq!(members(&s), model);
        let long = vec![b'x'; SMALL_MAX_MEMBER + 1];
        let mut s = Set::for_member(b"a");
        s.insert(b"a", 512);
        s.insert(&long, 512);
        assert!(matches!(s, Set::Table(_)));
        assert!(s.contains(&long));
    }

    #[test]
    fn operations_match_a_model_in_every_encoding() {
        let mut rng = rand::rng();
        for (max_intset, strings) in [(512, false), (16, false), (512, true)] {
            let mut s = Set::new_intset();
            let mut model = BTreeSet::new();
            for step in 0..3000u64 {
                let v = (step.wrapping_mul(2654435761) % 400) as i64 - 200;
                let m = if strings { format!("s{v}").into_bytes() } else { v.to_string().into_bytes() };
                if step % 3 == 0 {
                    assert_eq!(s.remove(&m), model.remove(&m));
                } else {
                    assert_eq!(s.insert(&m, max_intset), model.insert(m.clone()));
                }
                assert_eq!(s.len(), model.len());
            }
            assert_eq!(members(&s), model);
            let copy = s.duplicate();
            assert_eq!(members(&copy), model);
            assert_eq!(copy.encoding(), s.encoding());
            let sample = s.distinct_sample(model.len() / 2, &mut rng);
            let distinct: BTreeSet<Vec<u8>> = sample.iter().map(|m| m.to_vec()).collect();
            assert_eq!(distinct.len(), model.len() / 2);
            assert!(distinct.is_subset(&model));
            let mut drawn = 0;
            s.sample(50, &mut rng, |m| {
                assert!(model.contains(&m.to_vec()));
                drawn += 1;
                drawn < 20
            });
            assert_eq!(drawn, 20);
            while !s.is_empty() {
                let m = s.pop_random(&mut rng);
                assert!(model.remove(&m));
            }
            assert!(model.is_empty());
        }
    }

    #[test]
    fn scan_of_a_table_visits_everything() {
        let mut s = Set::new_intset();
        for i in 0..1000 {
            s.insert(format!("k{i}").as_bytes(), 512);
        }
        assert!(s.scans_incrementally());
        let mut seen = BTreeSet::new();
        let mut cursor = 0;
        loop {
            cursor = s.scan(cursor, |m| {
                seen.insert(m.to_vec());
            });
            if cursor == 0 {
                break;
            }
        }
        assert_eq!(seen, members(&s));
    }

    #[test]
    fn member_bytes() {
        assert_eq!(Member::Int(i64::MIN).to_vec(), b"-9223372036854775808");
        assert_eq!(Member::Int(-5).with_bytes(|b| b.to_vec()), b"-5");
        assert_eq!(Member::Int(i64::MIN).with_bytes(|b| b.to_vec()), b"-9223372036854775808");
        assert_eq!(Member::Int(0).with_bytes(|b| b.to_vec()), b"0");
    }
}
