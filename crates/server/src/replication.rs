//! The master side of replication: registering replica connections,
//! starting full syncs (one fork-less snapshot for every replica waiting,
//! written to disk or streamed to them with the EOF-marker format), and
//! the periodic work (diskless delay, backlog TTL). PSYNC, SYNC and
//! REPLCONF themselves are in `families::replication`; the connection
//! that streams to a replica is `replica_link`.

use std::io;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use shoal_engine::snapshot::ChunkSink;
use shoal_engine::ShardLocks;
use shoal_persist::rdb;

use crate::client::{flags, Client};
use crate::persistence::rdb_file::{rdb_header_with, Format};
use crate::server::Server;
use crate::state::persistence::SnapshotKind;
use crate::state::replicas::{
    DiskJob, DisklessQueue, Failover, FailoverState, RdbFilter, ReplicaInfo, ReplicaState, ReplicaStream, SyncSource,
    SyncStart, Waiting, Waker,
};

/// A diskless payload's end marker length (Redis's RDB_EOF_MARK_SIZE).
pub const EOF_MARK_BYTES: usize = 40;

/// Marks the connection as a replica.
pub fn attach(server: &Server, client: &mut Client, stream: ReplicaStream) {
    client.is_replica = true;
    client.info.set_flag(flags::REPLICA, true);
    server.replicas.list.lock().push(stream.info.clone());
    client.replica_info = Some(stream.info.clone());
    server.replicas.alone_since_ms.store(0, Ordering::Relaxed);
    client.replica_stream = Some(stream);
}

/// Forgets a replica whose connection closed.
pub fn detach(server: &Server, client: &mut Client) {
    if !client.is_replica {
        return;
    }
    let id = client.id();
    let mut list = server.replicas.list.lock();
    if let Some(at) = list.iter().position(|r| r.client_id == id) {
        let info = list.remove(at);
        let reader = info.reader_id.load(Ordering::Acquire);
        if reader != 0 {
            server.engine.propagation.detach(reader);
        }
        if list.is_empty() {
            server.replicas.alone_since_ms.store(shoal_engine::now_ms().max(1), Ordering::Relaxed);
        }
        server.log.notice(&format!("Connection with replica {} lost.", replica_name(&info)));
    }
    drop(list);
    server.replicas.waiting.lock().retain(|w| w.info.client_id != id);
}

/// Detaches the stream reader of the replica on connection `client_id`
/// (CLIENT KILL), so the blocks only it kept are released now; its
/// connection then finds its stream gone and ends.
pub fn release_reader(server: &Server, client_id: u64) {
    let replica = server.replicas.list.lock().iter().find(|r| r.client_id == client_id).cloned();
    if let Some(replica) = replica {
        let reader = replica.reader_id.swap(0, Ordering::AcqRel);
        if reader != 0 {
            server.engine.propagation.detach(reader);
        }
        replica.wake.notify_one();
    }
}

/// How Redis names a replica in its log lines: `ip:port`.
pub fn replica_name(info: &ReplicaInfo) -> String {
    format!("{}:{}", info.ip, info.port)
}

/// The backlog size the configuration asks for.
pub fn backlog_size(server: &Server) -> u64 {
    server.repl_backlog_size()
}

/// Queues a replica for a full sync and starts it at once when it can
/// (`locks`: every shard, held by PSYNC's unit): joining a disk-backed
/// sync whose snapshot is being written, or starting one now unless the
/// diskless delay asks to wait for more replicas.
pub fn request_full_sync(server: &Server, locks: Option<&ShardLocks<'_>>, waiting: Waiting) {
    if let Some(filter) = waiting.filter {
        return filtered_sync(server, waiting, filter);
    }
    if !waiting.eof_capable || !server.config.get_bool("repl-diskless-sync") {
        let job = server.replicas.disk_job.lock().clone();
        if let Some(job) = job.filter(|j| j.done.lock().is_none()) {
            let waker = Arc::new(Waker(waiting.info.clone()));
            if let Some((reader, _)) = server.engine.propagation.attach(waker, Some(job.offset), backlog_size(server)) {
                server.log.notice("Waiting for end of BGSAVE for SYNC");
                waiting.info.reader_id.store(reader, Ordering::Release);
                let start = SyncStart {
                    replication_id: job.replication_id.clone(),
                    offset: job.offset,
                    source: SyncSource::Disk(job),
                };
                let _ = waiting.start.send(start);
                return;
            }
        }
    }
    server.replicas.waiting.lock().push(waiting);
    if let Some(locks) = locks {
        if sync_due(server, shoal_engine::now_ms()) {
            start_full_sync(server, locks);
        }
    }
}

/// REPLCONF rdb-filter-only: a snapshot without keys needs no walk of the
/// keyspace, so it is made at once for this replica alone (it shares no
/// snapshot with unfiltered replicas, as in Redis) and streamed with the
/// EOF framing: the header with the replication position at this instant,
/// the function libraries if the filter names them, the trailer. Its
/// stream, if it wants one, starts at that position.
fn filtered_sync(server: &Server, waiting: Waiting, filter: RdbFilter) {
    let propagation = &server.engine.propagation;
    propagation.create_backlog(backlog_size(server));
    propagation.select_again();
    let queue = Arc::new(DisklessQueue::default());
    let (offset, replication_id) = propagation.at_cut(|offset, ids, _| (offset, ids.id.clone()));
    let sink = match DisklessSink::new(server, vec![queue.clone()], filter.functions) {
        Ok(sink) => sink,
        Err(e) => return fail_sync(server, vec![waiting], &e.to_string()),
    };
    if let Err(e) = Box::new(sink).finish() {
        return fail_sync(server, vec![waiting], &e.to_string());
    }
    server.log.notice("Starting BGSAVE for SYNC with target: replicas sockets");
    if !waiting.info.rdb_only.load(Ordering::Relaxed) {
        let waker = Arc::new(Waker(waiting.info.clone()));
        if let Some((reader, _)) = propagation.attach(waker, Some(offset), backlog_size(server)) {
            waiting.info.reader_id.store(reader, Ordering::Release);
        }
    }
    let start = SyncStart { replication_id, offset, source: SyncSource::Diskless(queue) };
    let _ = waiting.start.send(start);
}

/// True when the replicas waiting should get their snapshot now.
fn sync_due(server: &Server, now_ms: i64) -> bool {
    let waiting = server.replicas.waiting.lock();
    let Some(oldest) = waiting.iter().map(|w| w.since_ms).min() else { return false };
    if server.persistence.running_kind().is_some() {
        return false;
    }
    let diskless = server.config.get_bool("repl-diskless-sync") && waiting.iter().all(|w| w.eof_capable);
    if !diskless {
        return true;
    }
    let max = server.config.get_int("repl-diskless-sync-max-replicas");
    let delay_ms = server.config.get_int("repl-diskless-sync-delay") * 1000;
    (max > 0 && waiting.len() as i64 >= max) || now_ms - oldest >= delay_ms
}

/// Starts one snapshot for every waiting replica (the caller holds every
/// shard): each replica's stream starts at the cut.
fn start_full_sync(server: &Server, locks: &ShardLocks<'_>) {
    let waiting: Vec<Waiting> = std::mem::take(&mut *server.replicas.waiting.lock());
    if waiting.is_empty() {
        return;
    }
    let diskless = server.config.get_bool("repl-diskless-sync") && waiting.iter().all(|w| w.eof_capable);
    let propagation = &server.engine.propagation;
    propagation.create_backlog(backlog_size(server));
    propagation.select_again();
    let (offset, replication_id) = propagation.at_cut(|offset, ids, _| (offset, ids.id.clone()));
    let (sink, sources): (Box<dyn ChunkSink>, Vec<SyncSource>) = if diskless {
        let queues: Vec<Arc<DisklessQueue>> = waiting.iter().map(|_| Arc::new(DisklessQueue::default())).collect();
        let sink = match DisklessSink::new(server, queues.clone(), true) {
            Ok(sink) => sink,
            Err(e) => return fail_sync(server, waiting, &e.to_string()),
        };
        (Box::new(sink), queues.into_iter().map(SyncSource::Diskless).collect())
    } else {
        let path = crate::persistence::rdb_path(server);
        let file = match crate::persistence::rdb_file::RdbFile::create(server, path.clone(), true, Format::Rdb) {
            Ok(file) => file,
            Err(e) => return fail_sync(server, waiting, &e.to_string()),
        };
        let job = Arc::new(DiskJob {
            offset,
            replication_id: replication_id.clone(),
            path,
            done: Default::default(),
            finished: Default::default(),
        });
        *server.replicas.disk_job.lock() = Some(job.clone());
        (Box::new(file), waiting.iter().map(|_| SyncSource::Disk(job.clone())).collect())
    };
    let disk_job = server.replicas.disk_job.lock().clone().filter(|_| !diskless);
    let dirty_before = server.engine.dirty();
    let done: crate::persistence::Done = Box::new(move |server, result, _cancelled, _started| {
        let outcome = result.map_err(|e| e.to_string());
        match (&outcome, &disk_job) {
            (Ok(()), Some(_)) => {
                server.log.notice("DB saved on disk");
                server.engine.reset_dirty(dirty_before);
                server.engine.last_save.store(shoal_engine::now_ms() / 1000, Ordering::Relaxed);
                server.log.notice("Background saving terminated with success");
            }
            (Ok(()), None) => server.log.notice("Background RDB transfer terminated with success"),
            (Err(e), _) => server.log.warning(&format!("Background transfer error: {e}")),
        }
        if let Some(job) = disk_job {
            *job.done.lock() = Some(outcome);
            job.finished.notify_waiters();
        }
    });
    let serializer = Format::Rdb.serializer(server);
    if let Err(e) = crate::persistence::start_snapshot_into(server, locks, SnapshotKind::Rdb, serializer, sink, done) {
        return fail_sync(server, waiting, &e);
    }
    let target = if diskless { "replicas sockets" } else { "disk" };
    server.log.notice(&format!("Starting BGSAVE for SYNC with target: {target}"));
    for (waiting, source) in waiting.into_iter().zip(sources) {
        let waker = Arc::new(Waker(waiting.info.clone()));
        if let Some((reader, _)) = propagation.attach(waker, Some(offset), backlog_size(server)) {
            waiting.info.reader_id.store(reader, Ordering::Release);
        }
        let start = SyncStart { replication_id: replication_id.clone(), offset, source };
        let _ = waiting.start.send(start);
    }
}

/// The snapshot could not start: the waiting replicas are dropped (they
/// will reconnect and ask again).
fn fail_sync(server: &Server, waiting: Vec<Waiting>, why: &str) {
    server.log.warning(&format!("Can't BGSAVE for replication: {why}"));
    drop(waiting);
}

/// Periodic work: starts due full syncs, frees the backlog after
/// repl-backlog-ttl seconds without replicas, keeps the backlog's size
/// and the replicas' output limit current. Runs on the cron thread.
pub fn cron(server: &Server) {
    let propagation = &server.engine.propagation;
    propagation.set_backlog_size(backlog_size(server));
    propagation.set_reader_limit(replica_hard_limit(server));
    let now_ms = shoal_engine::now_ms();
    if sync_due(server, now_ms) {
        let locks = server.engine.keyspace.lock_all();
        if sync_due(server, now_ms) {
            start_full_sync(server, &locks);
        }
    }
    drop_stuck_replicas(server, now_ms);
    update_failover(server);
    let alone_since = server.replicas.alone_since_ms.load(Ordering::Relaxed);
    let ttl_ms = server.config.get_int("repl-backlog-ttl") * 1000;
    if alone_since > 0 && ttl_ms > 0 && now_ms - alone_since > ttl_ms && !server.master.is_replica() {
        if propagation.backlog_info().active {
            server.log.notice(&format!(
                "Replication backlog freed after {} seconds without connected replicas.",
                ttl_ms / 1000
            ));
            propagation.free_backlog();
        }
        server.replicas.alone_since_ms.store(0, Ordering::Relaxed);
    }
}

/// Disconnects online replicas that acknowledged nothing for repl-timeout
/// seconds, and replicas whose pending stream stayed over the soft
/// output limit for its seconds (the hard limit is the stream's own).
fn drop_stuck_replicas(server: &Server, now_ms: i64) {
    let timeout_ms = server.config.get_int("repl-timeout") * 1000;
    let limit = *server.tunables.replica_output_limit.lock();
    let hard = replica_hard_limit(server);
    for replica in server.replicas.all() {
        let name = replica_name(&replica);
        if replica.state() == ReplicaState::Online && now_ms - replica.ack_ms.load(Ordering::Relaxed) > timeout_ms {
            server.log.warning(&format!("Disconnecting timedout replica (streaming sync): {name}"));
            server.clients.kill(replica.client_id);
            continue;
        }
        let reader = replica.reader_id.load(Ordering::Acquire);
        let pending = if reader == 0 { 0 } else { server.engine.propagation.pending(reader) };
        if hard > 0 && pending > hard {
            // Its connection may be stuck writing: the kill ends the write.
            server
                .log
                .warning(&format!("Client {name} scheduled to be closed ASAP for overcoming of output buffer limits."));
            server.clients.kill(replica.client_id);
            continue;
        }
        let over = limit.soft_bytes > 0 && pending > limit.soft_bytes;
        if !over {
            replica.over_soft_since_ms.store(0, Ordering::Relaxed);
            continue;
        }
        let since = replica.over_soft_since_ms.load(Ordering::Relaxed);
        if since == 0 {
            replica.over_soft_since_ms.store(now_ms, Ordering::Relaxed);
        } else if now_ms - since >= limit.soft_seconds as i64 * 1000 {
            server
                .log
                .warning(&format!("Client {name} scheduled to be closed ASAP for overcoming of output buffer limits."));
            server.clients.kill(replica.client_id);
        }
    }
}

/// The hard output limit of a replica: never below the backlog's size
/// (a replica that continued from the backlog may be that far behind), as
/// Redis rules; 0: none.
fn replica_hard_limit(server: &Server) -> u64 {
    let hard = server.tunables.replica_output_limit.lock().hard_bytes;
    if hard == 0 {
        0
    } else {
        hard.max(backlog_size(server))
    }
}

/// A diskless sync's output: the payload, with Redis's EOF-marker framing
/// (`$EOF:<40 random bytes>\r\n`, the RDB, the same 40 bytes), queued to
/// each replica's connection as chunks are made.
struct DisklessSink {
    queues: Vec<Arc<DisklessQueue>>,
    checksum: rdb::Checksum,
    checksums: bool,
    mark: Vec<u8>,
}

impl DisklessSink {
    /// Starts the payload: the EOF preamble and the RDB header (with the
    /// function libraries when `functions`).
    fn new(server: &Server, queues: Vec<Arc<DisklessQueue>>, functions: bool) -> io::Result<DisklessSink> {
        let mark = shoal_engine::propagate::random_hex_id().into_bytes();
        debug_assert_eq!(mark.len(), EOF_MARK_BYTES);
        let mut sink = DisklessSink {
            queues,
            checksum: rdb::Checksum::default(),
            checksums: server.config.get_bool("rdbchecksum"),
            mark,
        };
        let mut preamble = b"$EOF:".to_vec();
        preamble.extend_from_slice(&sink.mark);
        preamble.extend_from_slice(b"\r\n");
        sink.push(Arc::new(preamble));
        let header = rdb_header_with(server, false, functions)?;
        sink.write_chunk(&header)?;
        Ok(sink)
    }

    fn push(&self, chunk: Arc<Vec<u8>>) {
        for queue in &self.queues {
            let mut chunks = queue.chunks.lock();
            if chunks.gone {
                continue;
            }
            chunks.queued_bytes += chunk.len();
            chunks.queue.push_back(chunk.clone());
            drop(chunks);
            queue.arrived.notify_one();
        }
    }

    fn end(&self, outcome: Result<(), String>) {
        for queue in &self.queues {
            queue.chunks.lock().end = Some(outcome.clone());
            queue.arrived.notify_one();
        }
    }
}

impl ChunkSink for DisklessSink {
    fn write_chunk(&mut self, chunk: &[u8]) -> io::Result<()> {
        if self.queues.iter().all(|q| q.chunks.lock().gone) {
            return Err(io::Error::new(io::ErrorKind::BrokenPipe, "every replica is gone"));
        }
        self.checksum.update(chunk);
        self.push(Arc::new(chunk.to_vec()));
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> io::Result<()> {
        let checksum = std::mem::take(&mut self.checksum);
        let mut tail = checksum.trailer(self.checksums).to_vec();
        tail.extend_from_slice(&self.mark);
        self.push(Arc::new(tail));
        self.end(Ok(()));
        Ok(())
    }

    fn abandon(self: Box<Self>) {
        self.end(Err("the snapshot failed".to_string()));
    }
}

/// Marks a replica online (its payload is sent; a diskless one has also
/// acknowledged loading it).
pub fn online(server: &Server, info: &ReplicaInfo) {
    if info.state() != ReplicaState::Online {
        info.set_state(ReplicaState::Online);
        info.ack_ms.store(shoal_engine::now_ms(), Ordering::Relaxed);
        server.log.notice(&format!("Synchronization with replica {} succeeded", replica_name(info)));
    }
}

/// FAILOVER's periodic step while it waits for a replica: gives up (or,
/// with FORCE, fails over anyway) at the timeout; otherwise fails over to
/// the target, or to the first replica, once it acknowledged everything
/// this master wrote (writes are paused, so the offset stands still).
pub fn update_failover(server: &Server) {
    let mut failover = server.replicas.failover.lock();
    if failover.state != FailoverState::WaitForSync {
        return;
    }
    if failover.end_ms != 0 && failover.end_ms <= shoal_engine::now_ms() {
        match (failover.force, failover.target.clone()) {
            (true, Some((host, port))) => {
                server.log.notice(&format!("FAILOVER to {host}:{port} time out exceeded, failing over."));
                failover.state = FailoverState::InProgress;
                drop(failover);
                change_master(server, Some((host, port)), "");
            }
            _ => {
                drop(failover);
                abort_failover(server, "Replica never caught up before timeout");
            }
        }
        return;
    }
    let offset = server.engine.propagation.offset();
    let caught_up = |r: &Arc<ReplicaInfo>| {
        r.state() == ReplicaState::Online && r.ack_offset.load(Ordering::Relaxed) == offset
    };
    let replica = match &failover.target {
        Some((host, port)) => server.replicas.find(host, *port).filter(caught_up),
        None => server.replicas.all().into_iter().find(caught_up),
    };
    let Some(replica) = replica else { return };
    let target = (replica.ip.clone(), replica.port);
    server.log.notice(&format!("Failover target {}:{} is synced, failing over.", target.0, target.1));
    failover.target = Some(target.clone());
    failover.state = FailoverState::InProgress;
    drop(failover);
    change_master(server, Some(target), "");
}

/// Ends a failover without promoting anyone: a server that already
/// became the target's replica is a master again (under a new history id,
/// as after REPLICAOF NO ONE), and writes resume.
pub fn abort_failover(server: &Server, why: &str) {
    let mut failover = server.replicas.failover.lock();
    let previous = std::mem::take(&mut *failover);
    drop(failover);
    match &previous.target {
        _ if previous.state == FailoverState::None => return,
        Some((host, port)) => server.log.notice(&format!("FAILOVER to {host}:{port} aborted: {why}")),
        None => server.log.notice(&format!("FAILOVER to any replica aborted: {why}")),
    }
    if previous.state == FailoverState::InProgress {
        change_master(server, None, "");
    }
    resume_writes(server);
}

/// The target accepted PSYNC ... FAILOVER: this server is its replica
/// now, and the failover is over.
pub fn failover_done(server: &Server) {
    *server.replicas.failover.lock() = Failover::default();
    resume_writes(server);
}

fn resume_writes(server: &Server) {
    server.pause.set_failover(false);
    if server.pause.current().is_none() {
        server.engine.keep_expired.store(false, Ordering::Relaxed);
    }
}

/// What REPLICAOF changes (installed by start-up: the replica side sits
/// above the command families): the new master (None: NO ONE) and the
/// client asking, for the log; false when nothing changed.
pub type ReplicaOfFn = fn(&Server, Option<(String, u16)>, &str) -> bool;
pub static REPLICAOF: std::sync::OnceLock<ReplicaOfFn> = std::sync::OnceLock::new();

/// REPLICAOF `target` (None: NO ONE) asked by `by` (for the log), and the
/// `replicaof` directive kept current (CONFIG GET, CONFIG REWRITE); false
/// when this server already replicated that master.
pub fn change_master(server: &Server, target: Option<(String, u16)>, by: &str) -> bool {
    if server.tunables.master_fenced.load(Ordering::Relaxed) {
        // An explicit role (a sentinel's REPLICAOF, or NO ONE) ends a fence.
        set_fenced(server, false);
        server.log.notice(&format!("Fence lifted by REPLICAOF from {by}"));
    }
    let change = REPLICAOF.get().expect("start-up installs the replica side");
    let changed = change(server, target.clone(), by);
    if let Some((index, _)) = crate::config::lookup("replicaof") {
        let words = target.map(|(host, port)| vec![host, port.to_string()]).unwrap_or_default();
        // (restore applies the replica class of oom-score-adj-values too)
        server.config.restore(vec![(index, crate::config::Value::Words(words))]);
    }
    changed
}

/// `master-fence-on-restart`: a server that starts as a master (no
/// `replicaof` directive) starts fenced, refusing writes until a sentinel
/// (or anyone) sets `master-fenced no` or sends REPLICAOF. Called before
/// any client can connect.
pub fn fence_at_startup(server: &Server) {
    let replica = matches!(server.config.get("replicaof"), crate::config::Value::Words(w) if !w.is_empty());
    if server.config.get_bool("master-fence-on-restart") && !replica {
        set_fenced(server, true);
    }
    if server.tunables.master_fenced.load(Ordering::Relaxed) && !replica {
        server.log.notice("Fenced: this master takes no writes until a sentinel confirms it (master-fenced no)");
    }
}

/// Sets `master-fenced` (so CONFIG GET and CONFIG REWRITE show it).
fn set_fenced(server: &Server, fenced: bool) {
    if let Some((index, _)) = crate::config::lookup("master-fenced") {
        server.config.restore(vec![(index, crate::config::Value::Bool(fenced))]);
    }
    server.tunables.master_fenced.store(fenced, Ordering::Relaxed);
}
