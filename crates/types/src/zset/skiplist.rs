//! The ordered index of large sorted sets: a skip list whose links carry
//! spans (how many elements each link jumps over), so that finding the
//! element at a rank and the rank of an element both take O(log n).
//!
//! Elements are ordered by (score, member bytes). Each node is one heap
//! block: a fixed header, then its tower of links, then the member bytes.
//! The list owns its nodes; the member table of the sorted set refers to
//! them by pointer (`NodePtr`), which stays valid until the node is
//! removed: score updates move a node without reallocating it.

use std::alloc::{self, Layout};
use std::cmp::Ordering;
use std::ptr::{self, NonNull};

/// Highest tower (enough for 2^64 elements with p = 1/4).
const MAX_HEIGHT: usize = 32;
/// A tower grows one more level with probability 1 / LEVEL_ODDS.
const LEVEL_ODDS: u32 = 4;

#[repr(C)]
pub(crate) struct Node {
    score: f64,
    /// The previous node on level 0 (null for the first element).
    backward: *mut Node,
    member_len: u32,
    height: u32,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct Link {
    forward: *mut Node,
    /// Number of level-0 steps this link covers.
    span: usize,
}

/// A node owned by a `SkipList`.
pub(crate) type NodePtr = NonNull<Node>;

fn node_layout(height: usize, member_len: usize) -> Layout {
    let size = std::mem::size_of::<Node>() + height * std::mem::size_of::<Link>() + member_len;
    Layout::from_size_align(size, std::mem::align_of::<Node>()).expect("skip list node layout")
}

/// Allocates a node with an empty tower of `height` links.
fn alloc_node(height: usize, score: f64, member: &[u8]) -> NodePtr {
    let member_len = u32::try_from(member.len()).expect("members are limited by proto-max-bulk-len");
    let layout = node_layout(height, member.len());
    // SAFETY: the layout is never zero-sized (the header is not empty).
    let raw = unsafe { alloc::alloc(layout) } as *mut Node;
    let Some(node) = NonNull::new(raw) else { alloc::handle_alloc_error(layout) };
    // SAFETY: fresh block sized for the header, `height` links and the member.
    unsafe {
        node.as_ptr().write(Node { score, backward: ptr::null_mut(), member_len, height: height as u32 });
        let links = links_of(node.as_ptr());
        for i in 0..height {
            links.add(i).write(Link { forward: ptr::null_mut(), span: 0 });
        }
        let dst = (links.add(height)) as *mut u8;
        ptr::copy_nonoverlapping(member.as_ptr(), dst, member.len());
    }
    node
}

/// # Safety
/// `node` must come from `alloc_node` and not be freed yet.
unsafe fn free_node(node: *mut Node) {
    let height = (*node).height as usize;
    let len = (*node).member_len as usize;
    alloc::dealloc(node as *mut u8, node_layout(height, len));
}

/// # Safety
/// `node` must be a live node.
#[inline]
unsafe fn links_of(node: *mut Node) -> *mut Link {
    (node as *mut u8).add(std::mem::size_of::<Node>()) as *mut Link
}

/// # Safety
/// `node` must be a live node with more than `level` links.
#[inline]
unsafe fn link(node: *mut Node, level: usize) -> *mut Link {
    debug_assert!(level < (*node).height as usize);
    links_of(node).add(level)
}

/// # Safety
/// `node` must be a live node; the slice lives as long as the node.
#[inline]
unsafe fn member_of<'a>(node: *const Node) -> &'a [u8] {
    let height = (*node).height as usize;
    let start = (node as *const u8).add(std::mem::size_of::<Node>() + height * std::mem::size_of::<Link>());
    std::slice::from_raw_parts(start, (*node).member_len as usize)
}

/// The member bytes of a node.
///
/// # Safety
/// `node` must be alive for the returned lifetime.
#[inline]
pub(crate) unsafe fn node_member<'a>(node: NodePtr) -> &'a [u8] {
    member_of(node.as_ptr())
}

/// Total order of elements: score, then member bytes.
#[inline]
pub(crate) fn compare(score_a: f64, member_a: &[u8], score_b: f64, member_b: &[u8]) -> Ordering {
    match score_a.partial_cmp(&score_b) {
        Some(Ordering::Equal) | None => member_a.cmp(member_b),
        Some(order) => order,
    }
}

fn random_height() -> usize {
    let mut height = 1;
    while height < MAX_HEIGHT && rand::random_ratio(1, LEVEL_ODDS) {
        height += 1;
    }
    height
}

pub(crate) struct SkipList {
    /// Sentinel with MAX_HEIGHT links and no member.
    head: NonNull<Node>,
    tail: *mut Node,
    len: usize,
    /// Number of levels in use (at least 1).
    levels: usize,
}

// SAFETY: the list exclusively owns its nodes; nothing is shared between
// lists, and shared access only reads.
unsafe impl Send for SkipList {}
unsafe impl Sync for SkipList {}

/// Predecessors of a position on every level, and their ranks.
struct Path {
    nodes: [*mut Node; MAX_HEIGHT],
    ranks: [usize; MAX_HEIGHT],
}

impl SkipList {
    pub(crate) fn new() -> SkipList {
        SkipList { head: alloc_node(MAX_HEIGHT, 0.0, b""), tail: ptr::null_mut(), len: 0, levels: 1 }
    }

    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    #[inline]
    fn head(&self) -> *mut Node {
        self.head.as_ptr()
    }

    /// Score of a node of this list.
    #[inline]
    pub(crate) fn score(&self, node: NodePtr) -> f64 {
        // SAFETY: nodes handed out by this list are alive while it is borrowed.
        unsafe { (*node.as_ptr()).score }
    }

    /// Member of a node of this list.
    #[inline]
    pub(crate) fn member(&self, node: NodePtr) -> &[u8] {
        // SAFETY: as above; the slice cannot outlive the borrow of the list.
        unsafe { member_of(node.as_ptr()) }
    }

    pub(crate) fn first(&self) -> Option<NodePtr> {
        // SAFETY: the head is alive and has MAX_HEIGHT links.
        NonNull::new(unsafe { (*link(self.head(), 0)).forward })
    }

    #[cfg(test)]
    pub(crate) fn last(&self) -> Option<NodePtr> {
        NonNull::new(self.tail)
    }

    pub(crate) fn next(&self, node: NodePtr) -> Option<NodePtr> {
        // SAFETY: live node of this list.
        NonNull::new(unsafe { (*link(node.as_ptr(), 0)).forward })
    }

    pub(crate) fn prev(&self, node: NodePtr) -> Option<NodePtr> {
        // SAFETY: live node of this list.
        NonNull::new(unsafe { (*node.as_ptr()).backward })
    }

    /// The path to the position of (score, member): on each level, the last
    /// node ordered before it.
    fn path_to(&self, score: f64, member: &[u8]) -> Path {
        let mut path = Path { nodes: [ptr::null_mut(); MAX_HEIGHT], ranks: [0; MAX_HEIGHT] };
        let mut x = self.head();
        let mut rank = 0;
        for level in (0..self.levels).rev() {
            // SAFETY: every node reached through links is alive.
            unsafe {
                loop {
                    let next = (*link(x, level)).forward;
                    if next.is_null() || compare((*next).score, member_of(next), score, member) != Ordering::Less {
                        break;
                    }
                    rank += (*link(x, level)).span;
                    x = next;
                }
            }
            path.nodes[level] = x;
            path.ranks[level] = rank;
        }
        path
    }

    /// The path to the element at 0-based `rank` (the nodes before it).
    fn path_to_rank(&self, rank: usize) -> Path {
        let mut path = Path { nodes: [ptr::null_mut(); MAX_HEIGHT], ranks: [0; MAX_HEIGHT] };
        let mut x = self.head();
        let mut traversed = 0;
        for level in (0..self.levels).rev() {
            // SAFETY: every node reached through links is alive.
            unsafe {
                loop {
                    let l = *link(x, level);
                    if l.forward.is_null() || traversed + l.span > rank {
                        break;
                    }
                    traversed += l.span;
                    x = l.forward;
                }
            }
            path.nodes[level] = x;
            path.ranks[level] = traversed;
        }
        path
    }

    /// Inserts a member that is not in the list yet.
    pub(crate) fn insert(&mut self, score: f64, member: &[u8]) -> NodePtr {
        let node = alloc_node(random_height(), score, member);
        let mut path = self.path_to(score, member);
        self.link_node(node, &mut path);
        node
    }

    /// Links `node` at the position `path` leads to.
    fn link_node(&mut self, node: NodePtr, path: &mut Path) {
        let x = node.as_ptr();
        // SAFETY: `x` is a live unlinked node; path nodes are live list nodes.
        unsafe {
            let height = (*x).height as usize;
            if height > self.levels {
                for level in self.levels..height {
                    path.nodes[level] = self.head();
                    path.ranks[level] = 0;
                    (*link(self.head(), level)).span = self.len;
                }
                self.levels = height;
            }
            let rank0 = path.ranks[0];
            for level in 0..height {
                let before = link(path.nodes[level], level);
                let mine = link(x, level);
                (*mine).forward = (*before).forward;
                (*before).forward = x;
                let skipped = rank0 - path.ranks[level];
                (*mine).span = (*before).span - skipped;
                (*before).span = skipped + 1;
            }
            for level in height..self.levels {
                (*link(path.nodes[level], level)).span += 1;
            }
            (*x).backward = if path.nodes[0] == self.head() { ptr::null_mut() } else { path.nodes[0] };
            let next = (*link(x, 0)).forward;
            if next.is_null() {
                self.tail = x;
            } else {
                (*next).backward = x;
            }
        }
        self.len += 1;
    }

    /// Unlinks `x`, whose predecessors are `path` (the node is not freed).
    fn unlink_node(&mut self, x: *mut Node, path: &Path) {
        // SAFETY: `x` is linked in this list and `path` leads to it.
        unsafe {
            for level in 0..self.levels {
                let before = link(path.nodes[level], level);
                if (*before).forward == x {
                    (*before).span += (*link(x, level)).span;
                    (*before).span -= 1;
                    (*before).forward = (*link(x, level)).forward;
                } else {
                    (*before).span -= 1;
                }
            }
            let next = (*link(x, 0)).forward;
            if next.is_null() {
                self.tail = (*x).backward;
            } else {
                (*next).backward = (*x).backward;
            }
            while self.levels > 1 && (*link(self.head(), self.levels - 1)).forward.is_null() {
                self.levels -= 1;
            }
        }
        self.len -= 1;
    }

    /// The node holding exactly (score, member), with its path.
    fn find_with_path(&self, score: f64, member: &[u8]) -> Option<(*mut Node, Path)> {
        let path = self.path_to(score, member);
        // SAFETY: path nodes are live; so is what they link to.
        unsafe {
            let x = (*link(path.nodes[0], 0)).forward;
            if !x.is_null() && (*x).score == score && member_of(x) == member {
                return Some((x, path));
            }
        }
        None
    }

    /// Removes (score, member) and frees its node. False if absent.
    pub(crate) fn remove(&mut self, score: f64, member: &[u8]) -> bool {
        match self.find_with_path(score, member) {
            Some((x, path)) => {
                self.unlink_node(x, &path);
                // SAFETY: unlinked, so nothing refers to it any more.
                unsafe { free_node(x) };
                true
            }
            None => false,
        }
    }

    /// Changes the score of `node` (currently `old_score`), moving it if its
    /// position changes. The node keeps its address.
    pub(crate) fn update_score(&mut self, node: NodePtr, new_score: f64) {
        let x = node.as_ptr();
        // SAFETY: `node` belongs to this list.
        let (old_score, member) = unsafe { ((*x).score, member_of(x)) };
        // SAFETY: neighbours of a live node are live or null.
        unsafe {
            let prev = (*x).backward;
            let next = (*link(x, 0)).forward;
            let after_prev = prev.is_null() || compare((*prev).score, member_of(prev), new_score, member) == Ordering::Less;
            let before_next = next.is_null() || compare((*next).score, member_of(next), new_score, member) == Ordering::Greater;
            if after_prev && before_next {
                // Still in order where it is: no path needed.
                (*x).score = new_score;
                return;
            }
        }
        let Some((found, path)) = self.find_with_path(old_score, member) else {
            panic!("skip list node not found for a score update");
        };
        debug_assert!(found == x);
        self.unlink_node(x, &path);
        // SAFETY: unlinked; its member bytes stay in place.
        unsafe { (*x).score = new_score };
        let mut path = self.path_to(new_score, member);
        self.link_node(node, &mut path);
    }

    /// 0-based rank of (score, member), if present.
    pub(crate) fn rank_of(&self, score: f64, member: &[u8]) -> Option<usize> {
        let path = self.path_to(score, member);
        // SAFETY: path nodes are live; so is what they link to.
        unsafe {
            let x = (*link(path.nodes[0], 0)).forward;
            if !x.is_null() && (*x).score == score && member_of(x) == member {
                return Some(path.ranks[0]);
            }
        }
        None
    }

    /// The node at 0-based `rank`.
    pub(crate) fn at_rank(&self, rank: usize) -> Option<NodePtr> {
        if rank >= self.len {
            return None;
        }
        let path = self.path_to_rank(rank);
        // SAFETY: the rank is in bounds, so the successor exists.
        NonNull::new(unsafe { (*link(path.nodes[0], 0)).forward })
    }

    /// Number of leading elements for which `before` holds. `before` must
    /// be monotone over the order (true, then false).
    pub(crate) fn count_before(&self, before: impl Fn(f64, &[u8]) -> bool) -> usize {
        let mut x = self.head();
        let mut rank = 0;
        for level in (0..self.levels).rev() {
            // SAFETY: every node reached through links is alive.
            unsafe {
                loop {
                    let l = *link(x, level);
                    if l.forward.is_null() || !before((*l.forward).score, member_of(l.forward)) {
                        break;
                    }
                    rank += l.span;
                    x = l.forward;
                }
            }
        }
        rank
    }

    /// Removes the elements with 0-based ranks in [lo, hi), calling
    /// `removed` with each one's member before its node is freed.
    pub(crate) fn remove_ranks(&mut self, lo: usize, hi: usize, mut removed: impl FnMut(&[u8])) {
        let hi = hi.min(self.len);
        if lo >= hi {
            return;
        }
        let path = self.path_to_rank(lo);
        // SAFETY: path nodes are live; each removed node is unlinked before
        // being freed, and the path stays valid as only successors go.
        unsafe {
            let mut x = (*link(path.nodes[0], 0)).forward;
            for _ in lo..hi {
                let next = (*link(x, 0)).forward;
                self.unlink_node(x, &path);
                removed(member_of(x));
                free_node(x);
                x = next;
            }
        }
    }

    /// Bytes held by nodes (memory reports).
    pub(crate) fn heap_bytes(&self) -> usize {
        let mut total = node_layout(MAX_HEIGHT, 0).size();
        let mut node = self.first();
        while let Some(n) = node {
            // SAFETY: live node.
            unsafe {
                total += node_layout((*n.as_ptr()).height as usize, (*n.as_ptr()).member_len as usize).size();
            }
            node = self.next(n);
        }
        total
    }
}

impl Drop for SkipList {
    fn drop(&mut self) {
        // SAFETY: walk level 0 once, freeing each node after reading its link.
        unsafe {
            let mut x = (*link(self.head(), 0)).forward;
            while !x.is_null() {
                let next = (*link(x, 0)).forward;
                free_node(x);
                x = next;
            }
            free_node(self.head());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(list: &SkipList) -> Vec<(f64, Vec<u8>)> {
        let mut out = Vec::new();
        let mut node = list.first();
        while let Some(n) = node {
            out.push((list.score(n), list.member(n).to_vec()));
            node = list.next(n);
        }
        out
    }

    fn collect_backwards(list: &SkipList) -> Vec<(f64, Vec<u8>)> {
        let mut out = Vec::new();
        let mut node = list.last();
        while let Some(n) = node {
            out.push((list.score(n), list.member(n).to_vec()));
            node = list.prev(n);
        }
        out.reverse();
        out
    }

    fn sorted(model: &std::collections::HashMap<Vec<u8>, f64>) -> Vec<(f64, Vec<u8>)> {
        let mut v: Vec<(f64, Vec<u8>)> = model.iter().map(|(m, s)| (*s, m.clone())).collect();
        v.sort_by(|a, b| compare(a.0, &a.1, b.0, &b.1));
        v
    }

    #[test]
    fn matches_a_sorted_model() {
        let mut list = SkipList::new();
        let mut nodes: std::collections::HashMap<Vec<u8>, NodePtr> = Default::default();
        let mut model: std::collections::HashMap<Vec<u8>, f64> = Default::default();
        let mut seed = 99u64;
        for step in 0..20_000 {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let member = format!("m{}", (seed >> 33) % 500).into_bytes();
            let score = ((seed >> 20) % 50) as f64;
            match (seed >> 60) % 4 {
                0 | 1 => {
                    if let Some(&node) = nodes.get(&member) {
                        list.update_score(node, score);
                    } else {
                        nodes.insert(member.clone(), list.insert(score, &member));
                    }
                    model.insert(member, score);
                }
                2 => {
                    if let Some(old) = model.remove(&member) {
                        assert!(list.remove(old, &member));
                        nodes.remove(&member);
                    } else {
                        assert!(!list.remove(score, &member));
                    }
                }
                _ => {
                    let expected = sorted(&model);
                    if !expected.is_empty() {
                        let r = (seed as usize) % expected.len();
                        let node = list.at_rank(r).unwrap();
                        assert_eq!(list.member(node), &expected[r].1[..]);
                        assert_eq!(list.rank_of(expected[r].0, &expected[r].1), Some(r));
                    }
                }
            }
            assert_eq!(list.len(), model.len(), "step {step}");
        }
        let expected = sorted(&model);
        assert_eq!(collect(&list), expected);
        assert_eq!(collect_backwards(&list), expected);
        let below_ten = expected.iter().filter(|(s, _)| *s < 10.0).count();
        assert_eq!(list.count_before(|s, _| s < 10.0), below_ten);
    }

    #[test]
    fn rank_ranges_are_removed() {
        let mut list = SkipList::new();
        for i in 0..1000 {
            list.insert(i as f64, format!("{i:04}").as_bytes());
        }
        let mut gone = Vec::new();
        list.remove_ranks(100, 900, |m| gone.push(m.to_vec()));
        assert_eq!(gone.len(), 800);
        assert_eq!(gone[0], b"0100");
        assert_eq!(list.len(), 200);
        let left = collect(&list);
        assert_eq!(left[99].1, b"0099");
        assert_eq!(left[100].1, b"0900");
        assert_eq!(collect_backwards(&list), left);
        for (r, (s, m)) in left.iter().enumerate() {
            assert_eq!(list.rank_of(*s, m), Some(r));
        }
        list.remove_ranks(0, 200, |_| {});
        assert_eq!(list.len(), 0);
        assert!(list.first().is_none() && list.last().is_none());
    }
}
