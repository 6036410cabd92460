//! The large list representation: a deque of nodes with searchable start
//! positions.
//!
//! Every node records the position of its first element in a "virtual"
//! numbering where consecutive nodes are contiguous:
//! `nodes[k + 1].start == nodes[k].start + nodes[k].len()`. Element `i` of
//! the list is at virtual position `nodes[0].start + i`, found by binary
//! search. The numbering may start anywhere (even below zero), so growing or
//! shrinking a node only moves the starts on one side of it, and we always
//! pick the shorter side: pushes and pops at either end touch one node.

use std::collections::VecDeque;

use super::limits::{remove_in_packed, shrink_if_slack, End, ListLimits};
use crate::packed::PackedVec;

#[derive(Clone, Debug)]
struct Node {
    /// Virtual position of the first element.
    start: i64,
    items: PackedVec,
    /// Holds one element at least as large as the packed threshold; never
    /// shares its node.
    plain: bool,
}

impl Node {
    fn count(&self) -> i64 {
        self.items.len() as i64
    }

    fn end(&self) -> i64 {
        self.start + self.count()
    }

    fn single(start: i64, value: &[u8], plain: bool) -> Node {
        let mut items = PackedVec::new();
        items.push_back(value);
        Node { start, items, plain }
    }

    /// True when `value` may join this node.
    fn accepts(&self, value: &[u8], limits: &ListLimits) -> bool {
        !self.plain && limits.allows_insert(&self.items, value)
    }
}

#[derive(Clone, Debug, Default)]
pub(super) struct Quick {
    nodes: VecDeque<Node>,
    len: usize,
}

impl Quick {
    /// A large list made of one packed buffer (possibly empty).
    pub(super) fn from_packed(items: PackedVec) -> Quick {
        let len = items.len();
        let mut nodes = VecDeque::new();
        if len > 0 {
            nodes.push_back(Node { start: 0, items, plain: false });
        }
        Quick { nodes, len }
    }

    pub(super) fn len(&self) -> usize {
        self.len
    }

    pub(super) fn node_count(&self) -> usize {
        self.nodes.len()
    }

    pub(super) fn node_items(&self, index: usize) -> &PackedVec {
        &self.nodes[index].items
    }

    /// Node index and offset of element `index` (< len).
    pub(super) fn node_is_plain(&self, index: usize) -> bool {
        self.nodes[index].plain
    }

    pub(super) fn locate(&self, index: usize) -> (usize, usize) {
        debug_assert!(index < self.len);
        let target = self.nodes[0].start + index as i64;
        let node = self.nodes.partition_point(|n| n.start <= target) - 1;
        (node, (target - self.nodes[node].start) as usize)
    }

    /// If the list is down to at most one packed node that `small_enough`
    /// accepts, hands its buffer over (the list becomes small).
    pub(super) fn take_single_packed(&mut self, small_enough: impl Fn(&PackedVec) -> bool) -> Option<PackedVec> {
        match self.nodes.len() {
            0 => Some(PackedVec::new()),
            1 if !self.nodes[0].plain && small_enough(&self.nodes[0].items) => {
                self.nodes.pop_front().map(|mut n| {
                    n.items.shrink_to_fit();
                    n.items
                })
            }
            _ => None,
        }
    }

    /// Node `j` gained `delta` elements (negative: lost): restores the
    /// start invariant by moving the shorter side.
    fn grew(&mut self, j: usize, delta: i64) {
        let n = self.nodes.len();
        // Left side: nodes 0..=j; right side: nodes j+1..n.
        if j < n - j - 1 {
            self.nodes.range_mut(..=j).for_each(|node| node.start -= delta);
        } else {
            self.nodes.range_mut(j + 1..).for_each(|node| node.start += delta);
        }
    }

    /// Inserts `node` at index `j` (its start is set here).
    fn insert_node(&mut self, j: usize, mut node: Node) {
        node.start = match self.nodes.get(j) {
            Some(next) => next.start,
            None => self.nodes.back().map_or(0, Node::end),
        };
        let count = node.count();
        self.nodes.insert(j, node);
        self.grew(j, count);
    }

    /// Removes node `j`, which held `count` elements before it emptied.
    fn remove_node(&mut self, j: usize, count: i64) {
        self.nodes.remove(j);
        let n = self.nodes.len();
        // Nothing moves when the node was at either end.
        if j == 0 || j == n {
            return;
        }
        if j <= n - j {
            self.nodes.range_mut(..j).for_each(|node| node.start += count);
        } else {
            self.nodes.range_mut(j..).for_each(|node| node.start -= count);
        }
    }

    /// Renumbers every node from zero (after bulk changes).
    fn renumber(&mut self) {
        let mut start = 0;
        for node in self.nodes.iter_mut() {
            node.start = start;
            start += node.count();
        }
    }

    pub(super) fn push(&mut self, value: &[u8], end: End, limits: &ListLimits) {
        self.len += 1;
        let plain = limits.is_large(value);
        match end {
            End::Head => match self.nodes.front_mut() {
                Some(head) if head.accepts(value, limits) => {
                    head.items.push_front(value);
                    head.start -= 1;
                }
                head => {
                    let start = head.map_or(0, |h| {
                        shrink_if_slack(&mut h.items);
                        h.start - 1
                    });
                    self.nodes.push_front(Node::single(start, value, plain));
                }
            },
            End::Tail => match self.nodes.back_mut() {
                Some(tail) if tail.accepts(value, limits) => tail.items.push_back(value),
                tail => {
                    let start = tail.map_or(0, |t| {
                        shrink_if_slack(&mut t.items);
                        t.end()
                    });
                    self.nodes.push_back(Node::single(start, value, plain));
                }
            },
        }
    }

    pub(super) fn pop(&mut self, end: End) -> Option<Vec<u8>> {
        let value = match end {
            End::Head => {
                let head = self.nodes.front_mut()?;
                let value = head.items.remove(0);
                head.start += 1;
                if head.items.is_empty() {
                    self.nodes.pop_front();
                }
                value
            }
            End::Tail => {
                let tail = self.nodes.back_mut()?;
                let value = tail.items.remove(tail.items.len() - 1);
                if tail.items.is_empty() {
                    self.nodes.pop_back();
                }
                value
            }
        };
        self.len -= 1;
        Some(value)
    }

    /// Replaces element `index` (< len).
    pub(super) fn set(&mut self, index: usize, value: &[u8], limits: &ListLimits) {
        let (j, offset) = self.locate(index);
        let node = &mut self.nodes[j];
        let large = limits.is_large(value);
        if node.plain && large {
            node.items = PackedVec::new();
            node.items.push_back(value);
            return;
        }
        if !node.plain && !large {
            node.items.remove(offset);
            let bytes = node.items.encoded_bytes() + crate::packed::entry_bytes(value);
            if node.items.is_empty() || limits.fits_bytes(bytes) {
                node.items.insert(offset, value);
                return;
            }
            // Too big for this node: the node lost the old value, and the
            // new one goes in as an insertion.
            self.len -= 1;
            self.grew(j, -1);
        } else {
            // The new value needs a different kind of node.
            self.remove(index);
        }
        self.insert(index, value, limits);
    }

    /// Inserts `value` as element `index` (<= len).
    pub(super) fn insert(&mut self, index: usize, value: &[u8], limits: &ListLimits) {
        if index == 0 {
            return self.push(value, End::Head, limits);
        }
        if index == self.len {
            return self.push(value, End::Tail, limits);
        }
        self.len += 1;
        let (j, offset) = self.locate(index);
        if limits.is_large(value) {
            let at = if offset == 0 { j } else { self.split(j, offset) };
            self.insert_node(at, Node::single(0, value, true));
            return;
        }
        if self.nodes[j].accepts(value, limits) {
            self.nodes[j].items.insert(offset, value);
            self.grew(j, 1);
            return;
        }
        if offset == 0 {
            // Between two nodes: append to the previous one if it has room.
            if j > 0 && self.nodes[j - 1].accepts(value, limits) {
                self.nodes[j - 1].items.push_back(value);
                self.grew(j - 1, 1);
            } else {
                self.insert_node(j, Node::single(0, value, false));
            }
            return;
        }
        // Inside a full node: split it and put the value at the seam.
        let right = self.split(j, offset);
        if self.nodes[j].accepts(value, limits) {
            self.nodes[j].items.push_back(value);
            self.grew(j, 1);
        } else if self.nodes[right].accepts(value, limits) {
            self.nodes[right].items.push_front(value);
            self.grew(right, 1);
        } else {
            self.insert_node(right, Node::single(0, value, false));
        }
    }

    /// Splits node `j` before its element `offset` (0 < offset < count);
    /// returns the index of the new right-hand node.
    fn split(&mut self, j: usize, offset: usize) -> usize {
        let node = &mut self.nodes[j];
        let count = node.items.len();
        let moved: PackedVec = node.items.iter().skip(offset).collect();
        node.items.remove_range(offset, count - offset);
        node.items.shrink_to_fit();
        let start = node.start + offset as i64;
        self.nodes.insert(j + 1, Node { start, items: moved, plain: false });
        j + 1
    }

    /// Removes element `index` (< len).
    pub(super) fn remove(&mut self, index: usize) {
        let (j, offset) = self.locate(index);
        self.len -= 1;
        let node = &mut self.nodes[j];
        node.items.remove(offset);
        if node.items.is_empty() {
            self.remove_node(j, 1);
        } else {
            self.grew(j, -1);
        }
    }

    /// Removes `count` (<= len) elements from one end.
    pub(super) fn remove_end(&mut self, end: End, mut count: usize) {
        self.len -= count;
        while count > 0 {
            let node = match end {
                End::Head => self.nodes.front_mut(),
                End::Tail => self.nodes.back_mut(),
            };
            let Some(node) = node else { break };
            let in_node = node.items.len();
            if in_node <= count {
                count -= in_node;
                match end {
                    End::Head => self.nodes.pop_front(),
                    End::Tail => self.nodes.pop_back(),
                };
                continue;
            }
            match end {
                End::Head => {
                    node.items.remove_range(0, count);
                    node.start += count as i64;
                }
                End::Tail => node.items.remove_range(in_node - count, count),
            }
            count = 0;
        }
    }

    /// LREM: removes up to `limit` (0: all) elements equal to `value`,
    /// scanning from `from`.
    pub(super) fn remove_matches(&mut self, value: &[u8], limit: usize, from: End) -> usize {
        let mut removed = 0;
        let order: Box<dyn Iterator<Item = usize>> = match from {
            End::Head => Box::new(0..self.nodes.len()),
            End::Tail => Box::new((0..self.nodes.len()).rev()),
        };
        for j in order {
            let left = if limit == 0 { 0 } else { limit - removed };
            removed += remove_in_packed(&mut self.nodes[j].items, value, left, from);
            if limit > 0 && removed == limit {
                break;
            }
        }
        if removed > 0 {
            self.nodes.retain(|n| !n.items.is_empty());
            self.renumber();
            self.len -= removed;
        }
        removed
    }

    pub(super) fn heap_bytes(&self) -> usize {
        self.nodes.capacity() * std::mem::size_of::<Node>() + self.nodes.iter().map(|n| n.items.heap_bytes()).sum::<usize>()
    }

    /// Checks the start invariant and the length (tests).
    #[cfg(test)]
    pub(super) fn check(&self) {
        let mut total = 0;
        for pair in self.nodes.iter().zip(self.nodes.iter().skip(1)) {
            assert_eq!(pair.0.end(), pair.1.start, "nodes not contiguous");
        }
        for node in &self.nodes {
            assert!(!node.items.is_empty(), "empty node");
            assert!(!node.plain || node.items.len() == 1, "plain node with several elements");
            total += node.items.len();
        }
        assert_eq!(total, self.len);
    }
}
