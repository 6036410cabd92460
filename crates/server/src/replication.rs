//! Connections that are replicas: the stream sink that feeds one, and
//! turning a connection into one or forgetting it (SYNC and PSYNC
//! themselves are in `families::replication`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use shoal_engine::StreamSink;
use tokio::sync::mpsc::UnboundedSender;

use crate::client::{flags, Client};
use crate::server::Server;
use crate::state::replicas::ReplicaStream;

/// Stream bytes queued for one replica, bounded by its output limit.
pub(crate) struct ChannelSink {
    pub(crate) sender: UnboundedSender<Vec<u8>>,
    pub(crate) queued: Arc<AtomicUsize>,
    pub(crate) hard_limit: usize,
}

impl StreamSink for ChannelSink {
    fn deliver(&self, bytes: &[u8]) -> bool {
        let queued = self.queued.fetch_add(bytes.len(), Ordering::AcqRel) + bytes.len();
        if self.hard_limit > 0 && queued > self.hard_limit {
            // The replica cannot keep up: drop it, as Redis does.
            return false;
        }
        self.sender.send(bytes.to_vec()).is_ok()
    }
}

/// Marks the connection as a replica (after the snapshot reply is queued).
pub fn attach(server: &Server, client: &mut Client, stream: ReplicaStream) {
    client.is_replica = true;
    client.info.set_flag(flags::REPLICA, true);
    server.replicas.connected.lock().push((client.id(), client.info.addr.clone()));
    server.replicas.queued.lock().push((client.id(), stream.queued.clone()));
    client.replica_stream = Some(stream);
}

/// Forgets a replica whose connection closed.
pub fn detach(server: &Server, client: &mut Client) {
    if let Some(stream) = client.replica_stream.take() {
        server.engine.propagation.detach(stream.sink_id);
    }
    server.replicas.connected.lock().retain(|(id, _)| *id != client.id());
    server.replicas.queued.lock().retain(|(id, _)| *id != client.id());
}
