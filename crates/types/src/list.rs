//! Lists: a sequence of byte strings with cheap access at both ends and
//! logarithmic access by position.
//!
//! Two representations, both reported as `quicklist` (Redis 7.0 names every
//! list that way):
//!
//! - small: one `PackedVec`, while the whole list fits the limits of a
//!   single node (`list-max-listpack-size`). One allocation per list.
//! - large (`quick`): a deque of nodes, each a `PackedVec` of several
//!   elements, or a "plain" node holding one element at least as large as
//!   the packed threshold. Positions are found by binary search over the
//!   nodes' start positions, so reaching any element costs a search plus a
//!   walk inside one bounded node.
//!
//! A large list that shrinks to one packed node at most half full becomes
//! small again (the half keeps a list hovering at the limit from
//! converting back and forth).

mod limits;
mod quick;

use crate::collection::Collection;
use crate::packed::{self, PackedVec};
use limits::{remove_in_packed, shrink_if_slack};
pub use limits::{End, ListLimits, DEFAULT_PACKED_THRESHOLD};
use quick::Quick;

#[derive(Clone, Debug)]
enum Repr {
    Small(PackedVec),
    Quick(Box<Quick>),
}

/// A list value.
#[derive(Clone, Debug)]
pub struct List {
    repr: Repr,
}

impl Default for List {
    fn default() -> Self {
        List::new()
    }
}

impl List {
    pub fn new() -> List {
        List { repr: Repr::Small(PackedVec::new()) }
    }

    /// A list holding `values` in order.
    pub fn from_values<'a>(values: impl IntoIterator<Item = &'a [u8]>, limits: &ListLimits) -> List {
        let mut list = List::new();
        for v in values {
            list.push(v, End::Tail, limits);
        }
        list.compact();
        list
    }

    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Small(p) => p.len(),
            Repr::Quick(q) => q.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True while the list is one packed buffer (for tests and memory
    /// reports; both forms are "quicklist" to clients).
    pub fn is_small(&self) -> bool {
        matches!(self.repr, Repr::Small(_))
    }

    /// Number of nodes (1 for a small list).
    fn node_count(&self) -> usize {
        match &self.repr {
            Repr::Small(_) => 1,
            Repr::Quick(q) => q.node_count(),
        }
    }

    fn node(&self, index: usize) -> &PackedVec {
        match &self.repr {
            Repr::Small(p) => p,
            Repr::Quick(q) => q.node_items(index),
        }
    }

    /// Node and offset inside it of element `index` (< len).
    fn locate(&self, index: usize) -> (usize, usize) {
        match &self.repr {
            Repr::Small(_) => (0, index),
            Repr::Quick(q) => q.locate(index),
        }
    }

    /// Switches to the large representation (idempotent).
    fn quick(&mut self) -> &mut Quick {
        if let Repr::Small(p) = &mut self.repr {
            let items = std::mem::take(p);
            self.repr = Repr::Quick(Box::new(Quick::from_packed(items)));
        }
        match &mut self.repr {
            Repr::Quick(q) => q,
            Repr::Small(_) => unreachable!("converted above"),
        }
    }

    /// Returns to the small representation when the list shrank enough.
    fn maybe_shrink(&mut self, limits: &ListLimits) {
        if let Repr::Quick(q) = &mut self.repr {
            if let Some(items) = q.take_single_packed(|p| limits.allows_shrink(p)) {
                self.repr = Repr::Small(items);
            }
        }
    }

    /// Adds `value` at one end.
    pub fn push(&mut self, value: &[u8], end: End, limits: &ListLimits) {
        if let Repr::Small(p) = &mut self.repr {
            if limits.allows_insert(p, value) {
                match end {
                    End::Head => p.push_front(value),
                    End::Tail => p.push_back(value),
                }
                return;
            }
        }
        self.quick().push(value, end, limits);
    }

    /// Removes and returns the element at one end.
    pub fn pop(&mut self, end: End, limits: &ListLimits) -> Option<Vec<u8>> {
        let value = match &mut self.repr {
            Repr::Small(p) if p.is_empty() => None,
            Repr::Small(p) => Some(match end {
                End::Head => p.remove(0),
                End::Tail => p.remove(p.len() - 1),
            }),
            Repr::Quick(q) => q.pop(end),
        };
        self.maybe_shrink(limits);
        value
    }

    /// Element `index` (0 = head).
    pub fn get(&self, index: usize) -> Option<&[u8]> {
        if index >= self.len() {
            return None;
        }
        let (node, offset) = self.locate(index);
        self.node(node).get(offset)
    }

    /// Replaces element `index`; false if there is no such element.
    pub fn set(&mut self, index: usize, value: &[u8], limits: &ListLimits) -> bool {
        if index >= self.len() {
            return false;
        }
        if let Repr::Small(p) = &mut self.repr {
            if !limits.is_large(value) {
                let old = p.remove(index);
                let new_bytes = p.encoded_bytes() + packed::entry_bytes(value);
                // Put back whichever value keeps the buffer within limits;
                // a new value that does not fit is replaced below.
                let fits = p.is_empty() || limits.fits_bytes(new_bytes);
                p.insert(index, if fits { value } else { &old });
                if fits {
                    return true;
                }
            }
        }
        self.quick().set(index, value, limits);
        self.maybe_shrink(limits);
        true
    }

    /// Inserts `value` so that it becomes element `index` (index <= len).
    pub fn insert(&mut self, index: usize, value: &[u8], limits: &ListLimits) {
        assert!(index <= self.len(), "insert position beyond the end");
        if let Repr::Small(p) = &mut self.repr {
            if limits.allows_insert(p, value) {
                p.insert(index, value);
                return;
            }
        }
        self.quick().insert(index, value, limits);
    }

    /// Removes element `index`; false if there is no such element.
    pub fn remove(&mut self, index: usize, limits: &ListLimits) -> bool {
        if index >= self.len() {
            return false;
        }
        match &mut self.repr {
            Repr::Small(p) => {
                p.remove(index);
            }
            Repr::Quick(q) => q.remove(index),
        }
        self.maybe_shrink(limits);
        true
    }

    /// Removes `count` elements from one end (all of them if fewer).
    pub fn remove_end(&mut self, end: End, count: usize, limits: &ListLimits) {
        let count = count.min(self.len());
        match &mut self.repr {
            Repr::Small(p) => match end {
                End::Head => p.remove_range(0, count),
                End::Tail => p.remove_range(p.len() - count, count),
            },
            Repr::Quick(q) => q.remove_end(end, count),
        }
        self.maybe_shrink(limits);
    }

    /// Removes up to `limit` elements equal to `value` (0: all), scanning
    /// from `from`. Returns how many were removed.
    pub fn remove_matches(&mut self, value: &[u8], limit: usize, from: End, limits: &ListLimits) -> usize {
        let removed = match &mut self.repr {
            Repr::Small(p) => remove_in_packed(p, value, limit, from),
            Repr::Quick(q) => q.remove_matches(value, limit, from),
        };
        if removed > 0 {
            self.maybe_shrink(limits);
        }
        removed
    }

    /// All elements, head to tail.
    pub fn iter(&self) -> Iter<'_> {
        self.range(0, self.len())
    }

    /// Up to `count` elements from position `start` towards the tail.
    pub fn range(&self, start: usize, count: usize) -> Iter<'_> {
        let len = self.len();
        if start >= len || count == 0 {
            return Iter { list: self, node: self.node_count(), inner: None, remaining: 0 };
        }
        let (node, offset) = self.locate(start);
        let mut inner = self.node(node).iter();
        if offset > 0 {
            inner.nth(offset - 1);
        }
        Iter { list: self, node, inner: Some(inner), remaining: count.min(len - start) }
    }

    /// All elements, tail to head.
    pub fn iter_rev(&self) -> RevIter<'_> {
        match self.len() {
            0 => RevIter { list: self, node: 0, buffer: Vec::new(), remaining: 0 },
            len => self.range_rev(len - 1, len),
        }
    }

    /// Up to `count` elements from position `last` towards the head.
    pub fn range_rev(&self, last: usize, count: usize) -> RevIter<'_> {
        if last >= self.len() || count == 0 {
            return RevIter { list: self, node: 0, buffer: Vec::new(), remaining: 0 };
        }
        let (node, offset) = self.locate(last);
        let buffer: Vec<&[u8]> = self.node(node).iter().take(offset + 1).collect();
        RevIter { list: self, node, buffer, remaining: count.min(last + 1) }
    }

    /// The nodes in order, each with true when it is a plain node (one
    /// element at least as large as the packed threshold): what an RDB
    /// quicklist holds.
    pub fn nodes(&self) -> impl Iterator<Item = (&PackedVec, bool)> + '_ {
        let plain = move |i: usize| match &self.repr {
            Repr::Small(_) => false,
            Repr::Quick(q) => q.node_is_plain(i),
        };
        (0..self.node_count()).map(move |i| (self.node(i), plain(i))).filter(|(node, _)| !node.is_empty())
    }

    /// Releases the spare capacity of a small list (after a batch of
    /// pushes). Large lists shrink each node as it fills up.
    pub fn compact(&mut self) {
        if let Repr::Small(p) = &mut self.repr {
            shrink_if_slack(p);
        }
    }
}

/// Forward iterator over a list or a range of it.
pub struct Iter<'a> {
    list: &'a List,
    node: usize,
    /// Elements left in the current node (None for an empty range).
    inner: Option<packed::Iter<'a>>,
    remaining: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.remaining == 0 {
            return None;
        }
        loop {
            if let Some(v) = self.inner.as_mut().and_then(|i| i.next()) {
                self.remaining -= 1;
                return Some(v);
            }
            self.node += 1;
            if self.node >= self.list.node_count() {
                self.remaining = 0;
                return None;
            }
            self.inner = Some(self.list.node(self.node).iter());
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl ExactSizeIterator for Iter<'_> {}

/// Backward iterator: buffers one node at a time (nodes are bounded).
pub struct RevIter<'a> {
    list: &'a List,
    /// Node whose elements are in `buffer`.
    node: usize,
    buffer: Vec<&'a [u8]>,
    remaining: usize,
}

impl<'a> Iterator for RevIter<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.remaining == 0 {
            return None;
        }
        loop {
            if let Some(v) = self.buffer.pop() {
                self.remaining -= 1;
                return Some(v);
            }
            if self.node == 0 {
                self.remaining = 0;
                return None;
            }
            self.node -= 1;
            self.buffer.extend(self.list.node(self.node).iter());
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl ExactSizeIterator for RevIter<'_> {}

impl Collection for List {
    fn encoding(&self) -> &'static str {
        // Redis 7.0 reports every list as a quicklist, whatever its size.
        "quicklist"
    }

    fn len(&self) -> usize {
        List::len(self)
    }

    fn duplicate(&self) -> Self {
        self.clone()
    }

    fn heap_bytes(&self) -> usize {
        match &self.repr {
            Repr::Small(p) => p.heap_bytes(),
            Repr::Quick(q) => std::mem::size_of::<Quick>() + q.heap_bytes(),
        }
    }
}

#[cfg(test)]
mod tests;
