//! The stream's nodes as they are, tombstones included: what a snapshot
//! writes (one Redis listpack per node) and what loading one rebuilds.

use super::id::StreamId;
use super::node::{Fields, Node, FLAG_DELETED, FLAG_SAME_FIELDS};
use super::Entries;

/// One node seen from outside: its master ID and fields, its counters and
/// every entry it holds, deleted or not.
pub struct RawNode<'a> {
    node: &'a Node,
}

/// One entry of a `RawNode`.
pub struct RawNodeEntry<'a> {
    pub id: StreamId,
    pub deleted: bool,
    /// The entry has exactly the master fields (only its values are kept).
    pub same_fields: bool,
    node: &'a Node,
    raw: super::node::RawEntry,
}

impl<'a> RawNodeEntry<'a> {
    /// The entry's field/value pairs.
    pub fn fields(&self) -> impl Iterator<Item = (&'a [u8], &'a [u8])> + 'a {
        Fields::new(self.node, &self.raw)
    }
}

impl<'a> RawNode<'a> {
    /// ID of the first entry ever stored in the node.
    pub fn master(&self) -> StreamId {
        self.node.master
    }

    pub fn live(&self) -> u64 {
        self.node.live()
    }

    pub fn deleted(&self) -> u64 {
        self.node.deleted()
    }

    /// The master field names.
    pub fn master_fields(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        let node = self.node;
        let (count, _) = node.master_fields();
        let mut at = node.master_names_at();
        (0..count).map(move |_| super::node::get_bytes(&node.data, &mut at))
    }

    /// Every entry in storage order.
    pub fn entries(&self) -> impl Iterator<Item = RawNodeEntry<'a>> + 'a {
        let node = self.node;
        let (count, mut at) = node.master_fields();
        std::iter::from_fn(move || {
            if at >= node.bytes() {
                return None;
            }
            let raw = node.entry_at(at, count);
            at = raw.end;
            Some(RawNodeEntry {
                id: raw.id,
                deleted: raw.flags & FLAG_DELETED != 0,
                same_fields: raw.flags & FLAG_SAME_FIELDS != 0,
                node,
                raw,
            })
        })
    }
}

/// Why loaded nodes cannot form a stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoadError {
    /// An entry's ID is below its node's master ID.
    EntryBeforeMaster,
    /// Node master IDs are not strictly ascending, or a live entry is not
    /// below the next node's master ID.
    NodesOutOfOrder,
    /// Live entries are not in strictly ascending ID order.
    EntriesOutOfOrder,
    /// A node without live entries.
    EmptyNode,
    /// The metadata contradicts the entries.
    Metadata,
}

/// Builds one node from loaded entries (see `Entries::push_loaded_node`).
pub struct NodeBuilder {
    node: Node,
    master_fields: Vec<Box<[u8]>>,
    last_live: Option<StreamId>,
}

impl NodeBuilder {
    /// A node with this master ID and these master field names.
    pub fn new(master: StreamId, master_fields: &[&[u8]]) -> NodeBuilder {
        NodeBuilder {
            node: Node::empty(master, master_fields),
            master_fields: master_fields.iter().map(|f| Box::from(*f)).collect(),
            last_live: None,
        }
    }

    /// Adds an entry; `pairs` alternates fields and values. Live entries
    /// must come in ascending ID order, and no ID may be below the master.
    pub fn push(&mut self, id: StreamId, deleted: bool, pairs: &[&[u8]]) -> Result<(), LoadError> {
        if id < self.node.master {
            return Err(LoadError::EntryBeforeMaster);
        }
        if !deleted {
            if self.last_live.is_some_and(|last| id <= last) {
                return Err(LoadError::EntriesOutOfOrder);
            }
            self.last_live = Some(id);
        }
        let same = pairs.len() == self.master_fields.len() * 2
            && pairs.chunks_exact(2).zip(&self.master_fields).all(|(pair, name)| pair[0] == &name[..]);
        self.node.push_loaded(id, pairs, same, deleted);
        Ok(())
    }
}

impl Entries {
    /// The nodes in order (for serialization).
    pub fn raw_nodes(&self) -> impl Iterator<Item = RawNode<'_>> + '_ {
        self.nodes.iter().map(|node| RawNode { node })
    }

    /// Appends a node rebuilt from a snapshot, after the nodes already
    /// pushed. Checks what the stream's searches rely on.
    pub fn push_loaded_node(&mut self, builder: NodeBuilder) -> Result<(), LoadError> {
        if builder.node.live() == 0 {
            return Err(LoadError::EmptyNode);
        }
        if let Some(prev) = self.nodes.back() {
            if builder.node.master <= prev.master {
                return Err(LoadError::NodesOutOfOrder);
            }
        }
        if let Some(last) = self.nodes.back().and_then(last_live_in) {
            if builder.node.master <= last {
                return Err(LoadError::NodesOutOfOrder);
            }
        }
        self.length += builder.node.live();
        let mut node = builder.node;
        node.shrink();
        self.nodes.push_back(node);
        Ok(())
    }

    /// Sets the metadata of a loaded stream once its nodes are in. The
    /// length must be the number of live entries and the last ID at least
    /// the largest live ID.
    pub fn finish_load(&mut self, length: u64, last_id: StreamId, first_id: StreamId, max_deleted_id: StreamId, entries_added: u64) -> Result<(), LoadError> {
        if length != self.length || self.last_live_id().is_some_and(|max| max > last_id) {
            return Err(LoadError::Metadata);
        }
        self.last_id = last_id;
        self.first_id = first_id;
        self.max_deleted_id = max_deleted_id;
        self.entries_added = entries_added;
        Ok(())
    }
}

/// The largest live ID of a node (live entries are ascending).
fn last_live_in(node: &Node) -> Option<StreamId> {
    RawNode { node }.entries().filter(|e| !e.deleted).last().map(|e| e.id)
}
