//! Model tests: the packed representation against a sorted map.

use std::collections::BTreeMap;

use super::*;

type Model = BTreeMap<StreamId, Vec<(Vec<u8>, Vec<u8>)>>;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 33
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn pairs_for(rng: &mut Rng, step: u64) -> Vec<Vec<u8>> {
    let kind = rng.below(4);
    let fields: u64 = if kind == 0 { 2 } else { rng.below(4) };
    let mut out = Vec::new();
    for f in 0..fields {
        out.push(if kind == 0 { format!("item{f}").into_bytes() } else { format!("f{}", rng.below(3)).into_bytes() });
        out.push(format!("value-{step}-{}", "x".repeat(rng.below(40) as usize)).into_bytes());
    }
    out
}

fn collect(it: Iter<'_>) -> Vec<(StreamId, Vec<(Vec<u8>, Vec<u8>)>)> {
    it.map(|e| (e.id, e.fields().map(|(f, v)| (f.to_vec(), v.to_vec())).collect())).collect()
}

fn check(s: &Entries, model: &Model, rng: &mut Rng) {
    assert_eq!(s.len(), model.len() as u64);
    let all: Vec<_> = model.iter().map(|(k, v)| (*k, v.clone())).collect();
    assert_eq!(collect(s.iter()), all);
    let mut rev = all.clone();
    rev.reverse();
    assert_eq!(collect(s.range(StreamId::MIN, StreamId::MAX, true)), rev);
    for _ in 0..5 {
        let a = StreamId::new(rng.below(400), rng.below(3));
        let b = StreamId::new(rng.below(400), rng.below(3));
        let expected: Vec<_> = all.iter().filter(|(id, _)| *id >= a && *id <= b).cloned().collect();
        assert_eq!(collect(s.range(a, b, false)), expected, "range {a} {b}");
        let mut expected_rev = expected.clone();
        expected_rev.reverse();
        assert_eq!(collect(s.range(a, b, true)), expected_rev, "revrange {a} {b}");
    }
    assert_eq!(s.last_live_id(), model.keys().next_back().copied());
    if let Some(first) = model.keys().next() {
        assert_eq!(s.first_id(), *first);
    } else {
        assert_eq!(s.first_id(), StreamId::MIN);
    }
}

#[test]
fn random_operations_match_a_sorted_map() {
    for seed in 1..6u64 {
        let mut rng = Rng(seed);
        let limits = NodeLimits { max_bytes: 200 + rng.below(400) as usize, max_entries: 1 + rng.below(12) };
        let mut s = Entries::default();
        let mut model = Model::new();
        let mut ms = 1;
        for step in 0..1500 {
            match rng.below(10) {
                0..=5 => {
                    ms += rng.below(2);
                    let id = s.next_auto_id(ms).unwrap();
                    let pairs = pairs_for(&mut rng, step);
                    let refs: Vec<&[u8]> = pairs.iter().map(|p| p.as_slice()).collect();
                    s.append(id, &refs, limits);
                    model.insert(id, pairs.chunks(2).map(|c| (c[0].clone(), c[1].clone())).collect());
                }
                6 | 7 => {
                    let ids: Vec<StreamId> = (0..3).map(|_| StreamId::new(rng.below(ms + 1), rng.below(3))).collect();
                    let expected = ids.iter().collect::<std::collections::BTreeSet<_>>().iter().filter(|id| model.remove(id).is_some()).count();
                    assert_eq!(s.delete_ids(&ids), expected as u64);
                }
                8 => {
                    let max = rng.below(model.len() as u64 + 3);
                    let removed = s.trim(&Trim { strategy: TrimStrategy::MaxLen(max), approx: false, limit: 0 });
                    let before = model.len() as u64;
                    while model.len() as u64 > max {
                        let first = *model.keys().next().unwrap();
                        model.remove(&first);
                    }
                    assert_eq!(removed, before - model.len() as u64);
                }
                _ => {
                    let min = StreamId::new(rng.below(ms + 1), rng.below(3));
                    let before = model.len();
                    model.retain(|id, _| *id >= min);
                    let removed = s.trim(&Trim { strategy: TrimStrategy::MinId(min), approx: false, limit: 0 });
                    assert_eq!(removed, (before - model.len()) as u64);
                }
            }
            if step % 50 == 0 {
                check(&s, &model, &mut rng);
            }
        }
        check(&s, &model, &mut rng);
    }
}

fn filled(count: u64, max_entries: u64) -> Entries {
    let mut s = Entries::default();
    for i in 1..=count {
        s.append(StreamId::new(i, 0), &[b"f", b"v"], NodeLimits { max_bytes: 4096, max_entries });
    }
    s
}

#[test]
fn approximate_trimming_removes_whole_nodes_only() {
    // 1000 entries in nodes of 100: MAXLEN ~ 555 keeps 600.
    let mut s = filled(1000, 100);
    let trim = Trim { strategy: TrimStrategy::MaxLen(555), approx: true, limit: 10_000 };
    assert_eq!(s.trim(&trim), 400);
    assert_eq!(s.len(), 600);
    assert_eq!(s.first_id(), StreamId::new(401, 0));
    // LIMIT stops before a node that would exceed it.
    let mut s = filled(101, 10);
    let limited = Trim { strategy: TrimStrategy::MaxLen(55), approx: true, limit: 30 };
    assert_eq!(s.trim(&limited), 30);
    assert_eq!(s.len(), 71);
    // MINID ~ keeps the node holding the minimum.
    let mut s = filled(100, 10);
    let by_id = Trim { strategy: TrimStrategy::MinId(StreamId::new(55, 0)), approx: true, limit: 0 };
    assert_eq!(s.trim(&by_id), 50);
    assert_eq!(s.first_edge_id(false), StreamId::new(51, 0));
}

#[test]
fn tombstones_keep_node_slots_and_metadata() {
    let mut s = filled(3, 100);
    assert_eq!(s.delete_ids(&[StreamId::new(2, 0)]), 1);
    assert_eq!(s.max_deleted_id(), StreamId::new(2, 0));
    assert_eq!(s.first_id(), StreamId::new(1, 0));
    assert_eq!(s.delete_ids(&[StreamId::new(1, 0)]), 1);
    assert_eq!(s.first_id(), StreamId::new(3, 0));
    assert_eq!(s.first_edge_id(false), StreamId::new(1, 0));
    assert_eq!(s.node_count(), 1);
    assert_eq!(s.delete_ids(&[StreamId::new(3, 0)]), 1);
    assert_eq!(s.node_count(), 0);
    assert_eq!(s.first_id(), StreamId::MIN);
    assert_eq!(s.first_edge_id(false), StreamId::MAX);
    assert_eq!(s.entries_added(), 3);
    assert_eq!(s.last_id(), StreamId::new(3, 0));
}

#[test]
fn lag_follows_redis_rules() {
    let mut s = filled(5, 100);
    let mut g = Group::new(StreamId::MIN, ENTRIES_READ_UNKNOWN);
    assert_eq!(s.lag(&g), Some(5));
    s.advance_group(&mut g, StreamId::new(1, 0));
    assert_eq!((g.entries_read, s.lag(&g)), (1, Some(4)));
    s.delete_ids(&[StreamId::new(3, 0)]);
    let mut g2 = Group::new(StreamId::MIN, ENTRIES_READ_UNKNOWN);
    assert_eq!(s.lag(&g2), None);
    s.advance_group(&mut g2, StreamId::new(1, 0));
    assert_eq!(g2.entries_read, ENTRIES_READ_UNKNOWN);
    s.advance_group(&mut g2, StreamId::new(5, 0));
    assert_eq!((g2.entries_read, s.lag(&g2)), (5, Some(0)));
}

/// The node count by definition: the root, every branching prefix, the
/// children of branching prefixes, and the keys.
fn radix_nodes_by_prefixes(keys: &[[u8; 16]]) -> usize {
    let mut prefixes: std::collections::BTreeSet<&[u8]> = std::collections::BTreeSet::new();
    prefixes.insert(&[]);
    for key in keys {
        prefixes.insert(&key[..]);
    }
    for pair in keys.windows(2) {
        let common = pair[0].iter().zip(pair[1].iter()).take_while(|(a, b)| a == b).count();
        prefixes.insert(&pair[0][..common]);
        prefixes.insert(&pair[0][..common + 1]);
        prefixes.insert(&pair[1][..common + 1]);
    }
    prefixes.len()
}

#[test]
fn radix_node_count_matches_redis() {
    assert_eq!(Entries::default().radix_tree_nodes(), 1);
    assert_eq!(filled(5, 100).radix_tree_nodes(), 2);
    let mut rng = Rng(11);
    for _ in 0..20 {
        let mut s = Entries::default();
        let mut ms = 0;
        for _ in 0..rng.below(300) {
            ms += 1 + rng.below(100_000);
            s.append(StreamId::new(ms, rng.below(3)), &[b"f", b"v"], NodeLimits { max_bytes: 4096, max_entries: 1 });
        }
        let keys: Vec<[u8; 16]> = s.nodes.iter().map(|n| n.master.to_be_bytes()).collect();
        assert_eq!(s.radix_tree_nodes(), radix_nodes_by_prefixes(&keys));
    }
}

#[test]
fn a_live_entry_can_follow_a_tombstone_with_its_id() {
    let mut s = filled(3, 100);
    s.delete_ids(&[StreamId::new(3, 0)]);
    s.set_ids(StreamId::new(2, 0), None, None);
    s.append(StreamId::new(3, 0), &[b"again", b"1"], NodeLimits::default());
    assert_eq!(s.get(StreamId::new(3, 0)).unwrap().fields().next(), Some((&b"again"[..], &b"1"[..])));
    assert_eq!(s.delete_ids(&[StreamId::new(3, 0)]), 1);
    assert_eq!(s.len(), 2);
}
