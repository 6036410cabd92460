//! The master side of replication as far as the foundation needs it: SYNC
//! and PSYNC send a full snapshot and then stream every propagated write;
//! REPLCONF accepts the replica's announcements.
//!
//! The snapshot and the stream meet exactly: the snapshot is taken and the
//! stream attached while every shard is locked.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use shoal_engine::StreamSink;
use shoal_persist::rdb;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

use crate::client::{flags, Client};
use crate::dispatch::{Ctx, Registrar};
use crate::error::{parse, CmdError, CmdResult};
use crate::server::REDIS_VERSION;

/// The master side's state (one per server, so that several servers can
/// live in one process).
#[derive(Default)]
pub struct Replicas {
    full_syncs: AtomicU64,
    /// (client id, address) of each connected replica.
    connected: Mutex<Vec<(u64, String)>>,
    /// (client id, bytes queued) of each replica's stream.
    queued: Mutex<Vec<(u64, Arc<AtomicUsize>)>>,
}

impl Replicas {
    /// INFO's sync_full.
    pub fn full_syncs(&self) -> u64 {
        self.full_syncs.load(Ordering::Relaxed)
    }

    /// Addresses of connected replicas.
    pub fn addresses(&self) -> Vec<String> {
        self.connected.lock().iter().map(|(_, a)| a.clone()).collect()
    }

    pub fn count(&self) -> usize {
        self.connected.lock().len()
    }

    /// Stream bytes queued for all replicas and not yet written
    /// (INFO mem_clients_slaves; not counted for eviction, as in Redis).
    pub fn queued_bytes(&self) -> usize {
        self.queued.lock().iter().map(|(_, q)| q.load(Ordering::Relaxed)).sum()
    }
}

/// Stream bytes queued for one replica, bounded by its output limit.
struct ChannelSink {
    sender: UnboundedSender<Vec<u8>>,
    queued: Arc<AtomicUsize>,
    hard_limit: usize,
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

/// What a connection needs to become a replica stream.
pub struct ReplicaStream {
    pub sink_id: u64,
    pub receiver: UnboundedReceiver<Vec<u8>>,
    pub queued: Arc<AtomicUsize>,
}

fn sync(ctx: &mut Ctx<'_>, _argv: &[&[u8]]) -> CmdResult {
    full_sync(ctx, false)
}

fn psync(ctx: &mut Ctx<'_>, _argv: &[&[u8]]) -> CmdResult {
    full_sync(ctx, true)
}

fn full_sync(ctx: &mut Ctx<'_>, announce: bool) -> CmdResult {
    if ctx.client.is_replica {
        return Ok(());
    }
    let server = ctx.server;
    let snapshot = {
        let tx = ctx.tx.as_mut().expect("SYNC locks every shard");
        let mut writer = rdb::Writer::new(REDIS_VERSION, shoal_engine::now_ms() / 1000, crate::alloc::allocated_bytes() as u64);
        for db in 0..server.engine.db_count() {
            let (keys, volatile) =
                tx.locks.iter().fold((0, 0), |(k, v), s| (k + s.dbs[db].len(), v + s.dbs[db].volatile_len()));
            if keys == 0 {
                continue;
            }
            writer.select_db(db, keys, volatile);
            for shard in tx.locks.iter() {
                for entry in shard.dbs[db].iter() {
                    writer.entry(entry);
                }
            }
        }
        writer.finish()
    };
    let (sender, receiver) = unbounded_channel();
    let queued = Arc::new(AtomicUsize::new(0));
    let hard_limit = server.tunables.replica_output_limit.lock().hard_bytes as usize;
    let sink = Arc::new(ChannelSink { sender, queued: queued.clone(), hard_limit });
    // Still holding every shard: nothing can be written between the
    // snapshot and the start of the stream.
    let (sink_id, offset) = server.engine.propagation.attach(sink);
    if announce {
        let line = format!("FULLRESYNC {} {}", server.engine.propagation.replication_id(), offset);
        ctx.out.simple(&line);
    }
    ctx.out.raw(format!("${}\r\n", snapshot.len()).as_bytes());
    ctx.out.raw(&snapshot);
    server.replicas.full_syncs.fetch_add(1, Ordering::Relaxed);
    ctx.become_replica = Some(ReplicaStream { sink_id, receiver, queued });
    Ok(())
}

/// Marks the connection as a replica (after the snapshot reply is queued).
pub fn attach(server: &crate::server::Server, client: &mut Client, stream: ReplicaStream) {
    client.is_replica = true;
    client.info.set_flag(flags::REPLICA, true);
    server.replicas.connected.lock().push((client.id(), client.info.addr.clone()));
    server.replicas.queued.lock().push((client.id(), stream.queued.clone()));
    client.replica_stream = Some(stream);
}

/// Forgets a replica whose connection closed.
pub fn detach(server: &crate::server::Server, client: &mut Client) {
    if let Some(stream) = client.replica_stream.take() {
        server.engine.propagation.detach(stream.sink_id);
    }
    server.replicas.connected.lock().retain(|(id, _)| *id != client.id());
    server.replicas.queued.lock().retain(|(id, _)| *id != client.id());
}

fn replconf(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    if argv.len().is_multiple_of(2) {
        return Err(CmdError::Syntax);
    }
    for pair in argv[1..].chunks(2) {
        let option = pair[0];
        if parse::is(option, "ack") || parse::is(option, "fack") {
            // Acknowledgements get no reply.
            return Ok(());
        }
        let known = ["listening-port", "ip-address", "capa", "getack", "rdb-only", "rdb-filter-only"];
        if !known.iter().any(|k| parse::is(option, k)) {
            return Err(CmdError::err(format!(
                "Unrecognized REPLCONF option: {}",
                String::from_utf8_lossy(option)
            )));
        }
    }
    ctx.out.ok();
    Ok(())
}

pub fn register(r: &mut Registrar) {
    r.all("sync", sync);
    r.all("psync", psync);
    r.plain("replconf", replconf);
}
