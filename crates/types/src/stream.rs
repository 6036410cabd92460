//! Streams: an append-only log of entries (an ID and field/value pairs)
//! with consumer groups.
//!
//! Entries are kept in ID order in packed nodes (`node`), each holding up
//! to `stream-node-max-entries` entries or `stream-node-max-bytes` bytes,
//! in a deque ordered by first ID: seeking an ID is a binary search over
//! nodes then a walk inside one node, appending and trimming the head are
//! O(1) per node. Deleted entries stay as tombstones until their node is
//! empty, exactly when Redis drops its listpack, so approximate trimming
//! (`~`) removes the same entries as Redis.
//!
//! The stream also keeps Redis 7.0's metadata: the last generated ID, the
//! number of entries ever added, the largest deleted ID and the recorded
//! first ID, from which consumer group lag is derived.

mod group;
mod id;
mod node;
mod raw;

use std::collections::{BTreeMap, VecDeque};

pub use group::{Consumer, ConsumerId, Group, Nack, ENTRIES_READ_UNKNOWN};
pub use id::{parse_c_u64, parse_id, IdSyntax, ParsedId, StreamId, ID_TEXT_MAX};
use node::{Fields, Node, RawEntry};
pub use raw::{LoadError, NodeBuilder, RawNode, RawNodeEntry};

use crate::collection::Collection;

/// Largest node size (and largest total size of one entry's strings).
pub const NODE_MAX_BYTES_CAP: usize = 1 << 30;

/// When a node is full (Redis's stream-node-max-bytes/-entries).
#[derive(Clone, Copy, Debug)]
pub struct NodeLimits {
    pub max_bytes: usize,
    /// 0: no limit on the number of entries.
    pub max_entries: u64,
}

impl NodeLimits {
    /// From the configuration values (0 or huge bytes mean the cap).
    pub fn from_config(max_bytes: i64, max_entries: i64) -> NodeLimits {
        let max_bytes = if max_bytes <= 0 || max_bytes as u64 > NODE_MAX_BYTES_CAP as u64 {
            NODE_MAX_BYTES_CAP
        } else {
            max_bytes as usize
        };
        NodeLimits { max_bytes, max_entries: max_entries.max(0) as u64 }
    }
}

impl Default for NodeLimits {
    fn default() -> Self {
        NodeLimits { max_bytes: 4096, max_entries: 100 }
    }
}

/// How XADD/XTRIM trim.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrimStrategy {
    /// Keep at most this many entries.
    MaxLen(u64),
    /// Drop entries with smaller IDs.
    MinId(StreamId),
}

#[derive(Clone, Copy, Debug)]
pub struct Trim {
    pub strategy: TrimStrategy,
    /// Only remove whole nodes.
    pub approx: bool,
    /// At most this many entries removed (0: no limit).
    pub limit: u64,
}

/// The entries of a stream and their metadata.
#[derive(Clone, Debug, Default)]
pub struct Entries {
    nodes: VecDeque<Node>,
    length: u64,
    last_id: StreamId,
    first_id: StreamId,
    max_deleted_id: StreamId,
    entries_added: u64,
}

/// Consumer groups by name, in byte order (XINFO's order).
#[derive(Clone, Debug, Default)]
struct GroupMap(BTreeMap<Box<[u8]>, Group>);

/// A stream: entries plus consumer groups (allocated on first use: the
/// box keeps streams without groups 16 bytes smaller).
#[derive(Clone, Debug, Default)]
pub struct Stream {
    entries: Entries,
    groups: Option<Box<GroupMap>>,
}

/// One entry seen through an iterator.
#[derive(Clone, Copy)]
pub struct EntryRef<'a> {
    pub id: StreamId,
    node: &'a Node,
    raw: RawEntry,
}

impl<'a> EntryRef<'a> {
    pub fn field_count(&self) -> usize {
        self.raw.field_count
    }

    /// The field/value pairs, in insertion order.
    pub fn fields(&self) -> impl Iterator<Item = (&'a [u8], &'a [u8])> + 'a {
        Fields::new(self.node, &self.raw)
    }

    pub fn is_deleted(&self) -> bool {
        self.raw.is_deleted()
    }
}

/// Where an iterator is inside the current node.
#[derive(Clone, Copy)]
struct Position {
    node: usize,
    /// Forward: start of the next entry. Backward: end of the next entry.
    offset: usize,
    master_count: usize,
    first_entry: usize,
}

/// Iterates entries with IDs in `[start, end]`, in either direction.
pub struct Iter<'a> {
    entries: &'a Entries,
    start: StreamId,
    end: StreamId,
    rev: bool,
    skip_tombstones: bool,
    at: Option<Position>,
}

impl<'a> Iter<'a> {
    fn position(entries: &Entries, node: usize, rev: bool) -> Position {
        let n = &entries.nodes[node];
        let (master_count, first_entry) = n.master_fields();
        let offset = if rev { n.bytes() } else { first_entry };
        Position { node, offset, master_count, first_entry }
    }

    fn step_forward(&mut self) -> Option<EntryRef<'a>> {
        loop {
            let mut pos = self.at?;
            let node = &self.entries.nodes[pos.node];
            if pos.offset >= node.bytes() {
                self.at = (pos.node + 1 < self.entries.nodes.len()).then(|| Iter::position(self.entries, pos.node + 1, false));
                continue;
            }
            let raw = node.entry_at(pos.offset, pos.master_count);
            pos.offset = raw.end;
            self.at = Some(pos);
            if raw.id < self.start || (self.skip_tombstones && raw.is_deleted()) {
                continue;
            }
            if raw.id > self.end {
                self.at = None;
                return None;
            }
            return Some(EntryRef { id: raw.id, node, raw });
        }
    }

    fn step_backward(&mut self) -> Option<EntryRef<'a>> {
        loop {
            let mut pos = self.at?;
            let node = &self.entries.nodes[pos.node];
            let Some(start) = node.prev_start(pos.offset, pos.first_entry) else {
                self.at = (pos.node > 0).then(|| Iter::position(self.entries, pos.node - 1, true));
                continue;
            };
            let raw = node.entry_at(start, pos.master_count);
            pos.offset = start;
            self.at = Some(pos);
            if raw.id > self.end || (self.skip_tombstones && raw.is_deleted()) {
                continue;
            }
            if raw.id < self.start {
                self.at = None;
                return None;
            }
            return Some(EntryRef { id: raw.id, node, raw });
        }
    }
}

impl<'a> Iterator for Iter<'a> {
    type Item = EntryRef<'a>;

    fn next(&mut self) -> Option<EntryRef<'a>> {
        if self.rev {
            self.step_backward()
        } else {
            self.step_forward()
        }
    }
}

impl Entries {
    /// Number of entries (tombstones excluded).
    pub fn len(&self) -> u64 {
        self.length
    }

    pub fn is_empty(&self) -> bool {
        self.length == 0
    }

    /// The last ID generated or set (XSETID): new IDs must be greater.
    pub fn last_id(&self) -> StreamId {
        self.last_id
    }

    /// The first live entry's ID as recorded (0-0 when empty).
    pub fn first_id(&self) -> StreamId {
        self.first_id
    }

    pub fn max_deleted_id(&self) -> StreamId {
        self.max_deleted_id
    }

    pub fn entries_added(&self) -> u64 {
        self.entries_added
    }

    /// Number of nodes (XINFO's radix-tree-keys).
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// XSETID: the caller validated the values.
    pub fn set_ids(&mut self, last_id: StreamId, entries_added: Option<u64>, max_deleted_id: Option<StreamId>) {
        self.last_id = last_id;
        if let Some(added) = entries_added {
            self.entries_added = added;
        }
        if let Some(max) = max_deleted_id {
            self.max_deleted_id = max;
        }
    }

    /// The ID `*` generates at `now_ms`: the time, or the last ID plus one
    /// when the clock is not ahead of it. None once IDs are exhausted.
    pub fn next_auto_id(&self, now_ms: u64) -> Option<StreamId> {
        if now_ms > self.last_id.ms {
            Some(StreamId::new(now_ms, 0))
        } else {
            self.last_id.next()
        }
    }

    /// Appends an entry. `pairs` alternates fields and values; `id` must
    /// be greater than `last_id()` (checked by the caller).
    pub fn append(&mut self, id: StreamId, pairs: &[&[u8]], limits: NodeLimits) {
        debug_assert!(id > self.last_id);
        let strings: usize = pairs.iter().map(|p| p.len()).sum();
        let full = match self.nodes.back() {
            None => true,
            Some(node) => {
                node.listpack_bytes() + strings >= limits.max_bytes
                    || (limits.max_entries > 0 && node.live() + node.deleted() >= limits.max_entries)
            }
        };
        if full {
            if let Some(node) = self.nodes.back_mut() {
                node.shrink();
            }
            if self.nodes.capacity() == 0 {
                // Most streams have one node: do not reserve room for four.
                self.nodes.reserve_exact(1);
            }
            self.nodes.push_back(Node::new(id, pairs));
        } else if let Some(node) = self.nodes.back_mut() {
            node.append(id, pairs);
        }
        self.length += 1;
        self.entries_added += 1;
        self.last_id = id;
        if self.length == 1 {
            self.first_id = id;
        }
    }

    /// Index of the last node whose first ID is <= `id`.
    fn node_at_or_before(&self, id: StreamId) -> Option<usize> {
        self.nodes.partition_point(|n| n.master <= id).checked_sub(1)
    }

    /// Entries in `[start, end]` (tombstones skipped), in ID order or
    /// reversed.
    pub fn range(&self, start: StreamId, end: StreamId, rev: bool) -> Iter<'_> {
        self.range_with(start, end, rev, true)
    }

    fn range_with(&self, start: StreamId, end: StreamId, rev: bool, skip_tombstones: bool) -> Iter<'_> {
        let node = if self.nodes.is_empty() || start > end {
            None
        } else if rev {
            self.node_at_or_before(end)
        } else {
            Some(self.node_at_or_before(start).unwrap_or(0))
        };
        let at = node.map(|n| Iter::position(self, n, rev));
        Iter { entries: self, start, end, rev, skip_tombstones, at }
    }

    /// Every entry, oldest first.
    pub fn iter(&self) -> Iter<'_> {
        self.range(StreamId::MIN, StreamId::MAX, false)
    }

    pub fn get(&self, id: StreamId) -> Option<EntryRef<'_>> {
        self.range(id, id, false).next()
    }

    pub fn contains(&self, id: StreamId) -> bool {
        self.get(id).is_some()
    }

    /// The largest live ID.
    pub fn last_live_id(&self) -> Option<StreamId> {
        self.range(StreamId::MIN, StreamId::MAX, true).next().map(|e| e.id)
    }

    /// The first entry's ID, tombstones included or not; StreamId::MAX
    /// when there is none (as Redis's edge lookup answers).
    pub fn first_edge_id(&self, skip_tombstones: bool) -> StreamId {
        self.range_with(StreamId::MIN, StreamId::MAX, false, skip_tombstones).next().map_or(StreamId::MAX, |e| e.id)
    }

    /// Removes one live entry; false if there is none with this ID. Does
    /// not update the first/max-deleted metadata (see `delete_ids`).
    fn delete(&mut self, id: StreamId) -> bool {
        let Some(index) = self.node_at_or_before(id) else { return false };
        let node = &self.nodes[index];
        let (count, mut at) = node.master_fields();
        let mut found = None;
        while at < node.bytes() {
            let raw = node.entry_at(at, count);
            // A tombstone may share its ID with a later live entry (after
            // XSETID moved the last ID back over it): skip tombstones.
            if raw.id == id && !raw.is_deleted() {
                found = Some(raw);
                break;
            }
            if raw.id > id {
                break;
            }
            at = raw.end;
        }
        let Some(raw) = found else { return false };
        if node.live() == 1 {
            self.nodes.remove(index);
        } else {
            self.nodes[index].mark_deleted(&raw);
        }
        self.length -= 1;
        true
    }

    /// XDEL: deletes the entries and maintains the metadata. Returns how
    /// many existed.
    pub fn delete_ids(&mut self, ids: &[StreamId]) -> u64 {
        let mut deleted = 0;
        let mut first_deleted = false;
        for &id in ids {
            if self.delete(id) {
                first_deleted |= id == self.first_id;
                if id > self.max_deleted_id {
                    self.max_deleted_id = id;
                }
                deleted += 1;
            }
        }
        if deleted > 0 {
            if self.length == 0 {
                self.first_id = StreamId::MIN;
            } else if first_deleted {
                self.first_id = self.first_edge_id(true);
            }
        }
        deleted
    }

    /// Trims from the oldest entries; returns how many were removed.
    pub fn trim(&mut self, trim: &Trim) -> u64 {
        let mut deleted = 0u64;
        while let Some(node) = self.nodes.front() {
            if let TrimStrategy::MaxLen(max) = trim.strategy {
                if self.length <= max {
                    break;
                }
            }
            let live = node.live();
            if trim.limit > 0 && deleted + live > trim.limit {
                break;
            }
            let whole = match trim.strategy {
                TrimStrategy::MaxLen(max) => self.length - live >= max,
                TrimStrategy::MinId(min) => node.last_id() < min,
            };
            if whole {
                self.nodes.pop_front();
                self.length -= live;
                deleted += live;
                continue;
            }
            if !trim.approx {
                deleted += self.trim_head_node(trim.strategy);
            }
            break;
        }
        if self.length == 0 {
            self.first_id = StreamId::MIN;
        } else if deleted > 0 {
            self.first_id = self.first_edge_id(true);
        }
        deleted
    }

    /// Marks the first node's entries deleted until the strategy is met.
    fn trim_head_node(&mut self, strategy: TrimStrategy) -> u64 {
        let mut removed = 0;
        let node = &self.nodes[0];
        let (count, mut at) = node.master_fields();
        let mut victims = Vec::new();
        let mut length = self.length;
        while at < node.bytes() {
            let raw = node.entry_at(at, count);
            let stop = match strategy {
                TrimStrategy::MaxLen(max) => length <= max,
                TrimStrategy::MinId(min) => raw.id >= min,
            };
            if stop {
                break;
            }
            if !raw.is_deleted() {
                victims.push(raw);
                length -= 1;
                removed += 1;
            }
            at = raw.end;
        }
        let node = &mut self.nodes[0];
        for raw in &victims {
            node.mark_deleted(raw);
        }
        self.length = length;
        removed
    }

    /// True if a tombstone may lie in `[start, end]` (Redis's check based
    /// on the largest deleted ID).
    pub fn range_has_tombstones(&self, start: StreamId, end: StreamId) -> bool {
        if self.length == 0 || self.max_deleted_id.is_zero() || self.first_id > self.max_deleted_id {
            return false;
        }
        start <= self.max_deleted_id && self.max_deleted_id <= end
    }

    /// The logical read counter of `id` (its distance from the first entry
    /// ever added), when it can be known.
    pub fn estimate_distance(&self, id: StreamId) -> Option<u64> {
        if self.entries_added == 0 {
            return Some(0);
        }
        if self.length == 0 && id <= self.last_id {
            return Some(self.entries_added);
        }
        if id == self.last_id {
            return Some(self.entries_added);
        }
        if id > self.last_id {
            return None;
        }
        if self.max_deleted_id.is_zero() || self.max_deleted_id < self.first_id {
            if id < self.first_id {
                return Some(self.entries_added - self.length);
            }
            if id == self.first_id {
                return Some(self.entries_added - self.length + 1);
            }
        }
        None
    }

    /// A consumer group's lag: entries not yet delivered, when known.
    pub fn lag(&self, group: &Group) -> Option<i64> {
        let added = self.entries_added as i64;
        if added == 0 {
            return Some(0);
        }
        if group.entries_read != ENTRIES_READ_UNKNOWN && !self.range_has_tombstones(group.last_id, StreamId::MAX) {
            return Some(added.wrapping_sub(group.entries_read));
        }
        self.estimate_distance(group.last_id).map(|read| added.wrapping_sub(read as i64))
    }

    /// Advances a group's cursor over a delivered ID, keeping its read
    /// counter as Redis does.
    pub fn advance_group(&self, group: &mut Group, id: StreamId) {
        if id <= group.last_id {
            return;
        }
        if group.entries_read != ENTRIES_READ_UNKNOWN && !self.range_has_tombstones(id, StreamId::MAX) {
            group.entries_read += 1;
        } else if self.entries_added > 0 {
            group.entries_read = self.estimate_distance(id).map_or(ENTRIES_READ_UNKNOWN, |d| d as i64);
        }
        group.last_id = id;
    }

    /// The number of nodes a radix tree keyed by the nodes' big-endian
    /// first IDs would have (XINFO's radix-tree-nodes): the root, and for
    /// each run of keys a compressed node down to where they diverge, one
    /// child per distinct next byte, and a leaf per key.
    pub fn radix_tree_nodes(&self) -> usize {
        let key = |i: usize| self.nodes[i].master.to_be_bytes();
        1 + radix_subtree(&key, 0, self.nodes.len(), 0)
    }

    fn heap_bytes(&self) -> usize {
        let nodes: usize = self.nodes.iter().map(|n| n.data.capacity() + 16).sum();
        nodes + self.nodes.capacity() * std::mem::size_of::<Node>()
    }
}

/// Nodes below a radix tree node at `depth` holding keys `lo..hi`.
fn radix_subtree(key: &impl Fn(usize) -> [u8; 16], lo: usize, hi: usize, depth: usize) -> usize {
    match hi - lo {
        0 => 0,
        // A compressed node with the rest of the key, then the leaf.
        1 => usize::from(depth < 16),
        _ => {
            let (first, last) = (key(lo), key(hi - 1));
            let common = first.iter().zip(last.iter()).take_while(|(a, b)| a == b).count();
            let below = radix_children(key, lo, hi, common);
            // Bytes shared beyond `depth` sit in one compressed node.
            if common > depth {
                1 + below
            } else {
                below
            }
        }
    }
}

/// Nodes below a branching node at `depth`: one child per distinct byte.
fn radix_children(key: &impl Fn(usize) -> [u8; 16], lo: usize, hi: usize, depth: usize) -> usize {
    let mut total = 0;
    let mut start = lo;
    while start < hi {
        let byte = key(start)[depth];
        let mut end = start + 1;
        while end < hi && key(end)[depth] == byte {
            end += 1;
        }
        total += 1 + radix_subtree(key, start, end, depth + 1);
        start = end;
    }
    total
}

impl Stream {
    pub fn new() -> Stream {
        Stream::default()
    }

    pub fn entries(&self) -> &Entries {
        &self.entries
    }

    pub fn entries_mut(&mut self) -> &mut Entries {
        &mut self.entries
    }

    /// The entries (read-only) and the groups (mutable) at once: reading
    /// through a group updates the group while scanning the entries.
    pub fn split_mut(&mut self) -> (&Entries, GroupsMut<'_>) {
        (&self.entries, GroupsMut { groups: &mut self.groups })
    }

    pub fn group_count(&self) -> usize {
        self.groups.as_ref().map_or(0, |g| g.0.len())
    }

    pub fn group(&self, name: &[u8]) -> Option<&Group> {
        self.groups.as_ref()?.0.get(name)
    }

    pub fn group_mut(&mut self, name: &[u8]) -> Option<&mut Group> {
        self.groups.as_mut()?.0.get_mut(name)
    }

    /// Groups in name order.
    pub fn groups(&self) -> impl Iterator<Item = (&[u8], &Group)> + '_ {
        self.groups.iter().flat_map(|g| g.0.iter().map(|(name, group)| (&name[..], group)))
    }

    /// Creates a group; false if the name is taken.
    pub fn create_group(&mut self, name: &[u8], last_id: StreamId, entries_read: i64) -> bool {
        let groups = &mut self.groups.get_or_insert_with(Default::default).0;
        if groups.contains_key(name) {
            return false;
        }
        groups.insert(name.into(), Group::new(last_id, entries_read));
        true
    }

    pub fn destroy_group(&mut self, name: &[u8]) -> bool {
        self.groups.as_mut().is_some_and(|g| g.0.remove(name).is_some())
    }
}

/// Mutable access to the groups while the entries are borrowed.
pub struct GroupsMut<'a> {
    groups: &'a mut Option<Box<GroupMap>>,
}

impl GroupsMut<'_> {
    pub fn get(&mut self, name: &[u8]) -> Option<&mut Group> {
        self.groups.as_mut()?.0.get_mut(name)
    }
}

impl Collection for Stream {
    fn encoding(&self) -> &'static str {
        "stream"
    }

    fn len(&self) -> usize {
        self.entries.length as usize
    }

    fn duplicate(&self) -> Self {
        self.clone()
    }

    fn heap_bytes(&self) -> usize {
        let groups: usize = self.groups().map(|(name, g)| name.len() + 64 + g.heap_bytes()).sum();
        self.entries.heap_bytes() + groups
    }
}

#[cfg(test)]
mod tests;
