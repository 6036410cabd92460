//! The server's Pub/Sub index, as data: who listens to what.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::RwLock;
use shoal_types::glob::glob_match;

use crate::client::ClientInfo;
use crate::state::pubsub::Kind;

type Listeners = HashMap<Box<[u8]>, Vec<Arc<ClientInfo>>>;

/// The server's index: channel, pattern or shard channel to its listeners,
/// each in subscription order.
#[derive(Default)]
pub struct PubSub {
    pub(crate) channels: RwLock<Listeners>,
    pub(crate) patterns: RwLock<Listeners>,
    pub(crate) shard_channels: RwLock<Listeners>,
}

impl PubSub {
    pub(crate) fn index(&self, kind: Kind) -> &RwLock<Listeners> {
        match kind {
            Kind::Channel => &self.channels,
            Kind::Pattern => &self.patterns,
            Kind::Shard => &self.shard_channels,
        }
    }

    /// Channels (or shard channels) with listeners, optionally matching a pattern.
    pub fn active(&self, kind: Kind, pattern: Option<&[u8]>) -> Vec<Vec<u8>> {
        let index = self.index(kind).read();
        index.keys().filter(|name| pattern.is_none_or(|p| glob_match(p, name, false))).map(|n| n.to_vec()).collect()
    }

    /// Listeners of one channel (or shard channel).
    pub fn listeners(&self, kind: Kind, name: &[u8]) -> usize {
        self.index(kind).read().get(name).map_or(0, Vec::len)
    }

    /// Number of distinct channels, patterns or shard channels with listeners.
    pub fn count(&self, kind: Kind) -> usize {
        self.index(kind).read().len()
    }

    pub(crate) fn add(&self, kind: Kind, name: &[u8], info: &Arc<ClientInfo>) {
        self.index(kind).write().entry(name.into()).or_default().push(info.clone());
    }

    pub(crate) fn remove(&self, kind: Kind, name: &[u8], client_id: u64) {
        let mut index = self.index(kind).write();
        if let Some(listeners) = index.get_mut(name) {
            listeners.retain(|l| l.id != client_id);
            if listeners.is_empty() {
                index.remove(name);
            }
        }
    }
}
