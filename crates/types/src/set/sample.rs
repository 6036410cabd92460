//! Uniform random choices over the collections' encodings, shared by sets
//! and hashes (SRANDMEMBER, SPOP, HRANDFIELD).
//!
//! Picking "the first occupied slot after a random position" in an open
//! addressing table favours items that follow empty runs; the distribution
//! tests of SRANDMEMBER/HRANDFIELD would notice. Instead a random slot is
//! drawn until it is occupied (rejection sampling): the table is kept at
//! least one-eighth full (one-twelfth of both slot arrays while it grows),
//! so a handful of draws is expected.

use rand::Rng;

use crate::table::{ScanTable, TableItem};

/// Draws before giving up on rejection sampling (probability of reaching
/// it at the lowest load factor: (11/12)^256, i.e. never in practice).
const MAX_DRAWS: usize = 256;

/// A slot index chosen uniformly among the occupied slots of a non-empty
/// table.
pub(crate) fn fair_slot<T: TableItem, R: Rng + ?Sized>(table: &ScanTable<T>, rng: &mut R) -> usize {
    let slots = table.slot_count();
    for _ in 0..MAX_DRAWS {
        // Every item's slot is drawn with the same probability.
        let slot = rng.random_range(0..slots);
        if table.is_occupied(slot) {
            return slot;
        }
    }
    table.random_index(rng.random()).expect("non-empty table")
}

/// `count` distinct positions out of `0..len` (count <= len), in random
/// order, by a partial Fisher-Yates shuffle.
pub(crate) fn distinct_positions<R: Rng + ?Sized>(len: usize, count: usize, rng: &mut R) -> Vec<usize> {
    debug_assert!(count <= len);
    let mut positions: Vec<usize> = (0..len).collect();
    for i in 0..count {
        let j = rng.random_range(i..len);
        positions.swap(i, j);
    }
    positions.truncate(count);
    positions
}

/// `count` distinct occupied slots of a table much larger than `count`,
/// drawn until enough distinct ones are found (Redis's CASE 4).
pub(crate) fn distinct_slots<T: TableItem, R: Rng + ?Sized>(table: &ScanTable<T>, count: usize, rng: &mut R) -> Vec<usize> {
    debug_assert!(count <= table.len());
    let mut seen = std::collections::HashSet::with_capacity(count);
    let mut slots = Vec::with_capacity(count);
    while slots.len() < count {
        let slot = fair_slot(table, rng);
        if seen.insert(slot) {
            slots.push(slot);
        }
    }
    slots
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::siphash::hash_bytes;
    use std::collections::HashMap;

    /// A table of the members m0..m{n-1}.
    fn members(n: usize) -> ScanTable<Vec<u8>> {
        let mut t = ScanTable::new();
        for i in 0..n {
            let k = format!("m{i}").into_bytes();
            t.insert_new(hash_bytes(&k), k);
        }
        t
    }

    /// How often each member is drawn by `fair_slot` in `draws` draws.
    fn draw_counts(t: &ScanTable<Vec<u8>>, draws: usize) -> HashMap<Vec<u8>, usize> {
        let mut rng = rand::rng();
        let mut counts = HashMap::new();
        for _ in 0..draws {
            *counts.entry(t.at(fair_slot(t, &mut rng)).clone()).or_insert(0usize) += 1;
        }
        counts
    }

    /// Pearson's chi-square of the counts of members m0..m{n-1} (a member
    /// never drawn counts as 0) against a uniform draw.
    fn chi_square(counts: &HashMap<Vec<u8>, usize>, n: usize, draws: usize) -> f64 {
        let expected = draws as f64 / n as f64;
        (0..n)
            .map(|i| counts.get(format!("m{i}").as_bytes()).copied().unwrap_or(0))
            .map(|c| (c as f64 - expected).powi(2) / expected)
            .sum()
    }

    #[test]
    fn fair_slot_is_uniform() {
        let t = members(10);
        let draws = 20_000;
        let counts = draw_counts(&t, draws);
        assert_eq!(counts.len(), 10);
        let chi = chi_square(&counts, 10, draws);
        // df = 9: 40 is exceeded with probability 1e-5.
        assert!(chi < 40.0, "chi-square {chi}");
    }

    #[test]
    fn distinct_choices_are_distinct() {
        let mut rng = rand::rng();
        let p = distinct_positions(50, 20, &mut rng);
        assert_eq!(p.iter().collect::<std::collections::HashSet<_>>().len(), 20);
        assert!(p.iter().all(|&i| i < 50));
        let t = members(100);
        let s = distinct_slots(&t, 10, &mut rng);
        assert_eq!(s.iter().collect::<std::collections::HashSet<_>>().len(), 10);
    }

    #[test]
    fn fair_slot_is_uniform_while_a_table_grows() {
        let t = members(900);
        assert!(t.is_growing());
        let draws = 90_000;
        let chi = chi_square(&draw_counts(&t, draws), 900, draws);
        // df = 899: mean 899, standard deviation 42; 1150 is six of them.
        assert!(chi < 1150.0, "chi-square {chi}");
    }
}
