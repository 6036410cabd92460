//! Streams.
//!
//! Scaffolding only: the type exists so the keyspace can name it; its
//! encodings and operations arrive with its command family.

use crate::packed::PackedVec;
use crate::value::Collection;

/// Streams (placeholder representation).
#[derive(Clone, Debug, Default)]
pub struct Stream {
    items: PackedVec,
}

impl Collection for Stream {
    fn encoding(&self) -> &'static str {
        "stream"
    }

    fn len(&self) -> usize {
        self.items.len()
    }

    fn duplicate(&self) -> Self {
        self.clone()
    }

    fn heap_bytes(&self) -> usize {
        self.items.heap_bytes()
    }

    fn digest(&self, feed: &mut dyn FnMut(&[u8])) {
        self.items.iter().for_each(|v| feed(v));
    }
}
