//! Lists against a `Vec` model, under several node limits.

use super::*;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 33
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn check(list: &List, model: &[Vec<u8>]) {
    assert_eq!(list.len(), model.len());
    if let Repr::Quick(q) = &list.repr {
        q.check();
    }
    let forward: Vec<Vec<u8>> = list.iter().map(|v| v.to_vec()).collect();
    assert_eq!(forward, model);
    let backward: Vec<Vec<u8>> = list.iter_rev().map(|v| v.to_vec()).collect();
    let mut reversed = model.to_vec();
    reversed.reverse();
    assert_eq!(backward, reversed);
}

fn value(rng: &mut Rng, step: usize) -> Vec<u8> {
    let len = match rng.below(10) {
        0 => 0,
        1 => 200 + rng.below(3000),
        _ => 1 + rng.below(12),
    };
    (0..len).map(|i| b'a' + ((i + step) % 26) as u8).collect()
}

fn run_model(limits: ListLimits, seed: u64, steps: usize) {
    let mut rng = Rng(seed);
    let mut list = List::new();
    let mut model: Vec<Vec<u8>> = Vec::new();
    for step in 0..steps {
        let v = value(&mut rng, step);
        match rng.below(12) {
            0 | 1 => {
                list.push(&v, End::Head, &limits);
                model.insert(0, v);
            }
            2 | 3 => {
                list.push(&v, End::Tail, &limits);
                model.push(v);
            }
            4 => {
                let expected = if model.is_empty() { None } else { Some(model.remove(0)) };
                assert_eq!(list.pop(End::Head, &limits), expected);
            }
            5 => assert_eq!(list.pop(End::Tail, &limits), model.pop()),
            6 => {
                let i = rng.below(model.len() + 1);
                list.insert(i, &v, &limits);
                model.insert(i, v);
            }
            7 if !model.is_empty() => {
                let i = rng.below(model.len());
                assert!(list.set(i, &v, &limits));
                model[i] = v;
            }
            8 if !model.is_empty() => {
                let i = rng.below(model.len());
                assert!(list.remove(i, &limits));
                model.remove(i);
            }
            9 => {
                let n = rng.below(4);
                let end = if rng.below(2) == 0 { End::Head } else { End::Tail };
                list.remove_end(end, n, &limits);
                let n = n.min(model.len());
                match end {
                    End::Head => drop(model.drain(..n)),
                    End::Tail => model.truncate(model.len() - n),
                }
            }
            10 if !model.is_empty() => {
                let target = model[rng.below(model.len())].clone();
                let limit = rng.below(3);
                let from = if rng.below(2) == 0 { End::Head } else { End::Tail };
                let positions: Vec<usize> = match from {
                    End::Head => model.iter().enumerate().filter(|(_, v)| **v == target).map(|(i, _)| i).collect(),
                    End::Tail => model.iter().enumerate().rev().filter(|(_, v)| **v == target).map(|(i, _)| i).collect(),
                };
                let take = if limit == 0 { positions.len() } else { limit.min(positions.len()) };
                let mut doomed: Vec<usize> = positions[..take].to_vec();
                doomed.sort_unstable();
                for i in doomed.iter().rev() {
                    model.remove(*i);
                }
                assert_eq!(list.remove_matches(&target, limit, from, &limits), take);
            }
            _ if !model.is_empty() => {
                let i = rng.below(model.len());
                assert_eq!(list.get(i), Some(model[i].as_slice()));
                let count = rng.below(20);
                let got: Vec<&[u8]> = list.range(i, count).collect();
                let want: Vec<&[u8]> = model[i..].iter().take(count).map(|v| v.as_slice()).collect();
                assert_eq!(got, want);
                let got: Vec<&[u8]> = list.range_rev(i, count).collect();
                let want: Vec<&[u8]> = model[..=i].iter().rev().take(count).map(|v| v.as_slice()).collect();
                assert_eq!(got, want);
            }
            _ => {}
        }
        if step % 97 == 0 {
            list.compact();
        }
        assert_eq!(list.len(), model.len());
        if step % 16 == 0 {
            check(&list, &model);
        }
    }
    check(&list, &model);
}

#[test]
fn matches_model_under_various_limits() {
    let cases = [
        ListLimits::new(-2, DEFAULT_PACKED_THRESHOLD),
        ListLimits::new(-1, DEFAULT_PACKED_THRESHOLD),
        ListLimits::new(1, DEFAULT_PACKED_THRESHOLD),
        ListLimits::new(4, DEFAULT_PACKED_THRESHOLD),
        ListLimits::new(0, DEFAULT_PACKED_THRESHOLD),
        ListLimits::new(5, 1),
        ListLimits::new(-2, 100),
        ListLimits::new(16, 10),
    ];
    for (i, limits) in cases.iter().enumerate() {
        run_model(*limits, 11 + i as u64, 3000);
    }
}

#[test]
fn grows_into_nodes_and_shrinks_back() {
    let limits = ListLimits::new(4, DEFAULT_PACKED_THRESHOLD);
    let mut list = List::new();
    for i in 0..3u8 {
        list.push(&[i], End::Tail, &limits);
    }
    assert!(list.is_small());
    for i in 3..20u8 {
        list.push(&[i], End::Tail, &limits);
    }
    assert!(!list.is_small());
    assert_eq!(list.node_count(), 5);
    list.remove_end(End::Head, 18, &limits);
    assert!(list.is_small());
    assert_eq!(list.iter().collect::<Vec<_>>(), vec![&[18u8][..], &[19u8][..]]);
    assert_eq!(list.encoding(), "quicklist");
}

#[test]
fn large_elements_get_plain_nodes() {
    let limits = ListLimits::new(-2, 10);
    let mut list = List::new();
    list.push(b"small", End::Tail, &limits);
    list.push(&[b'x'; 10], End::Tail, &limits);
    list.push(b"tiny", End::Tail, &limits);
    assert_eq!(list.node_count(), 3);
    list.insert(1, &[b'y'; 20], &limits);
    list.set(0, &[b'z'; 30], &limits);
    let got: Vec<usize> = list.iter().map(|v| v.len()).collect();
    assert_eq!(got, vec![30, 20, 10, 4]);
    if let Repr::Quick(q) = &list.repr {
        q.check();
    }
}

#[test]
fn positional_access_on_a_million_elements() {
    let limits = ListLimits::default();
    let mut list = List::new();
    for i in 0..1_000_000u32 {
        list.push(i.to_string().as_bytes(), End::Tail, &limits);
    }
    for i in (0..1_000_000usize).step_by(9973) {
        assert_eq!(list.get(i), Some(i.to_string().as_bytes()));
    }
    assert!(list.set(777_777, b"x", &limits));
    assert_eq!(list.range(777_776, 3).collect::<Vec<_>>(), vec![&b"777776"[..], b"x", b"777778"]);
}

#[test]
fn inline_size_fits_the_value() {
    assert!(std::mem::size_of::<List>() <= 16);
}
