//! The master side of replication as far as the foundation needs it: SYNC
//! and PSYNC send a full snapshot and then stream every propagated write;
//! REPLCONF accepts the replica's announcements.
//!
//! The snapshot and the stream meet exactly: the snapshot is taken and the
//! stream attached while every shard is locked.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use shoal_persist::rdb;
use tokio::sync::mpsc::unbounded_channel;

use crate::exec::{Ctx, Registrar};
use crate::error::{parse, CmdError, CmdResult};
use crate::replication::ChannelSink;
use crate::server::REDIS_VERSION;
use crate::state::replicas::ReplicaStream;

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
        let now = tx.now_ms;
        let mut writer = rdb::Writer::new(Vec::with_capacity(4096), server.rdb_encode_options(), server.config.get_bool("rdbchecksum"));
        let written: std::io::Result<()> = (|| {
            let used = crate::alloc::allocated_bytes() as u64;
            writer.standard_aux(REDIS_VERSION, shoal_engine::now_ms() / 1000, used, false)?;
            for code in server.scripts.library_codes.lock().iter() {
                writer.function(code)?;
            }
            for db in 0..server.engine.db_count() {
                let (keys, volatile) =
                    tx.locks.iter().fold((0, 0), |(k, v), s| (k + s.dbs[db].len(), v + s.dbs[db].volatile_len()));
                if keys == 0 {
                    continue;
                }
                writer.select_db(db, keys, volatile)?;
                for shard in tx.locks.iter() {
                    for entry in shard.dbs[db].iter() {
                        let expire = entry.has_expire().then(|| entry.expire_at());
                        writer.entry(entry.key(), entry.value(), expire, server.rdb_access(entry.access(), now))?;
                    }
                }
            }
            Ok(())
        })();
        written.and_then(|()| writer.finish()).expect("writing to memory cannot fail")
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
