//! Replication commands: the master side's SYNC, PSYNC and REPLCONF, WAIT,
//! ROLE, and REPLICAOF/SLAVEOF (which start or stop the replica side,
//! `master_link`).
//!
//! A full sync's snapshot and the replica's stream meet exactly: the
//! stream's reader is attached at the snapshot's cut, taken while every
//! shard is locked (`replication::request_full_sync`).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;

use crate::error::{parse, CmdError, CmdResult};
use crate::exec::{Ctx, Registrar};
use crate::replication::{backlog_size, replica_name, request_full_sync};
use crate::state::master::LinkState;
use crate::state::replicas::{
    Failover, FailoverState, RdbFilter, ReplicaInfo, ReplicaState, ReplicaStream, Waiting, Waker,
};

fn sync(ctx: &mut Ctx<'_>, _argv: &[&[u8]]) -> CmdResult {
    start_sync(ctx, None)
}

fn psync(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    if !ctx.client.is_replica && argv.len() > 3 && parse::is(argv[3], "failover") {
        promote_for_failover(ctx, argv[1])?;
    }
    let Ok(offset) = parse::int(argv[2]) else {
        let conf = &ctx.client.repl_conf;
        let ip = conf.ip.clone().unwrap_or_else(|| peer_ip(&ctx.client.info.addr));
        let name = format!("{ip}:{}", conf.port);
        ctx.server.log.warning(&format!("Replica {name} asks for synchronization but with a wrong offset"));
        return Err(CmdError::NotInteger);
    };
    start_sync(ctx, Some((argv[1], offset)))
}

/// PSYNC <id> <offset> FAILOVER: a master failing over to this replica
/// asks it to become a master; it continues the same history, so the
/// PSYNC that follows is a partial resync.
fn promote_for_failover(ctx: &mut Ctx<'_>, id: &[u8]) -> Result<(), CmdError> {
    let server = ctx.server;
    let id = String::from_utf8_lossy(id);
    server.log.warning(&format!("Failover request received for replid {id}."));
    if !server.master.is_replica() {
        return Err(CmdError::err("PSYNC FAILOVER can't be sent to a master."));
    }
    if id != server.engine.propagation.replication_id() {
        return Err(CmdError::err("PSYNC FAILOVER replid must match my replid."));
    }
    crate::replication::change_master(server, None, "");
    let by = crate::client::client_line(&ctx.client.info);
    server.log.notice(&format!("MASTER MODE enabled (failover request from '{by}')"));
    Ok(())
}

/// SYNC (`request` None) and PSYNC <replication id> <offset>.
fn start_sync(ctx: &mut Ctx<'_>, request: Option<(&[u8], i64)>) -> CmdResult {
    if ctx.client.is_replica {
        return Ok(());
    }
    let server = ctx.server;
    if server.replicas.failover_state() != FailoverState::None {
        return Err(CmdError::custom("NOMASTERLINK Can't SYNC while failing over"));
    }
    if server.master.is_replica() && server.master.state() != LinkState::Connected {
        return Err(CmdError::custom("NOMASTERLINK Can't SYNC while not connected with my master"));
    }
    let conf = &ctx.client.repl_conf;
    if conf.rdb_filter.is_some() && !conf.capa_eof {
        // A filtered snapshot is only ever streamed (never the RDB file).
        return Err(CmdError::err("Filtered replica requires EOF capability"));
    }
    let ip = conf.ip.clone().unwrap_or_else(|| peer_ip(&ctx.client.info.addr));
    let info = Arc::new(ReplicaInfo::new(ctx.client.id(), ip, conf.port));
    info.rdb_only.store(conf.rdb_only, Ordering::Relaxed);
    let name = replica_name(&info);
    server.log.notice(&format!("Replica {name} asks for synchronization"));
    if let Some((id, offset)) = request {
        let id = String::from_utf8_lossy(id).into_owned();
        if partial_resync(ctx, &info, &id, offset) {
            return Ok(());
        }
        if id != "?" {
            server.replicas.partial_err.fetch_add(1, Ordering::Relaxed);
        } else {
            server.log.notice(&format!("Full resync requested by replica {name}"));
        }
    }
    server.replicas.full_syncs.fetch_add(1, Ordering::Relaxed);
    let (start, started) = oneshot::channel();
    let eof_capable = ctx.client.repl_conf.capa_eof;
    let filter = ctx.client.repl_conf.rdb_filter;
    let waiting = Waiting { info: info.clone(), filter, eof_capable, since_ms: shoal_engine::now_ms(), start };
    let locks = ctx.tx.as_ref().map(|tx| &tx.locks);
    request_full_sync(server, locks, waiting);
    ctx.become_replica = Some(ReplicaStream { info, full: Some((started, request.is_some())) });
    Ok(())
}

/// Continues a replica's stream from `offset` when the backlog holds it
/// (+CONTINUE); false when a full sync is needed (logged why).
fn partial_resync(ctx: &mut Ctx<'_>, info: &Arc<ReplicaInfo>, id: &str, offset: i64) -> bool {
    let server = ctx.server;
    let propagation = &server.engine.propagation;
    let ids = propagation.ids();
    let name = replica_name(info);
    if id != ids.id && (id != ids.id2 || offset > ids.second_offset) {
        if id != "?" {
            let reason = if id != ids.id && id != ids.id2 {
                format!(
                    "Replication ID mismatch (Replica asked for '{id}', my replication IDs are '{}' and '{}')",
                    ids.id, ids.id2
                )
            } else {
                format!("Requested offset for second ID was {offset}, but I can reply up to {}", ids.second_offset)
            };
            server.log.notice(&format!("Partial resynchronization not accepted: {reason}"));
        }
        return false;
    }
    let Some(bytes) = (offset > 0).then(|| propagation.can_continue(id, offset as u64)).flatten() else {
        server.log.notice(&format!(
            "Unable to partial resync with replica {name} for lack of backlog (Replica request was: {offset})."
        ));
        return false;
    };
    let waker = Arc::new(Waker(info.clone()));
    let Some((reader, _)) = propagation.attach(waker, Some(offset as u64 - 1), backlog_size(server)) else {
        return false;
    };
    info.reader_id.store(reader, Ordering::Release);
    info.set_state(ReplicaState::Online);
    info.ack_ms.store(shoal_engine::now_ms(), Ordering::Relaxed);
    info.ack_offset.store(offset as u64 - 1, Ordering::Relaxed);
    let line = match ctx.client.repl_conf.capa_psync2 {
        true => format!("CONTINUE {}", ids.id),
        false => "CONTINUE".to_string(),
    };
    ctx.out.simple(&line);
    server.replicas.partial_ok.fetch_add(1, Ordering::Relaxed);
    server.log.notice(&format!(
        "Partial resynchronization request from {name} accepted. Sending {bytes} bytes of backlog starting from offset {offset}."
    ));
    ctx.become_replica = Some(ReplicaStream { info: info.clone(), full: None });
    true
}

/// The IP part of a connection's `ip:port` address.
fn peer_ip(addr: &str) -> String {
    match addr.rsplit_once(':') {
        Some((ip, _)) => ip.trim_start_matches('[').trim_end_matches(']').to_string(),
        None => addr.to_string(),
    }
}

fn replconf(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    if argv.len().is_multiple_of(2) {
        return Err(CmdError::Syntax);
    }
    for pair in argv[1..].chunks(2) {
        let (option, value) = (pair[0], pair[1]);
        if parse::is(option, "listening-port") {
            let port = parse::int(value)?;
            ctx.client.repl_conf.port = u16::try_from(port).map_err(|_| CmdError::NotInteger)?;
        } else if parse::is(option, "ip-address") {
            if value.len() >= 46 {
                return Err(CmdError::err(format!(
                    "REPLCONF ip-address provided by replica instance is too long: {} bytes",
                    value.len()
                )));
            }
            ctx.client.repl_conf.ip = Some(String::from_utf8_lossy(value).into_owned());
        } else if parse::is(option, "capa") {
            if parse::is(value, "eof") {
                ctx.client.repl_conf.capa_eof = true;
            } else if parse::is(value, "psync2") {
                ctx.client.repl_conf.capa_psync2 = true;
            }
        } else if parse::is(option, "ack") {
            // Acknowledgements get no reply.
            if let (Some(info), Ok(offset)) = (ctx.client.replica_info.clone(), parse::int(value)) {
                acknowledged(ctx, &info, offset.max(0) as u64);
            }
            return Ok(());
        } else if parse::is(option, "getack") || parse::is(option, "fack") {
            // GETACK is answered by a replica to its master (master_link).
            return Ok(());
        } else if parse::is(option, "rdb-only") {
            let wanted = parse::int(value)?;
            if !(0..=1).contains(&wanted) {
                return Err(CmdError::err("value is out of range, value must between 0 and 1"));
            }
            ctx.client.repl_conf.rdb_only = wanted == 1;
        } else if parse::is(option, "rdb-filter-only") {
            // Include filters: none (an empty snapshot, redis-cli
            // --replica) or `functions` (--functions-rdb).
            let Some(filters) = shoal_resp::inline::split_args_owned(value) else {
                return Err(CmdError::err("Missing rdb-filter-only values"));
            };
            let mut filter = RdbFilter { functions: false };
            for name in &filters {
                if parse::is(name, "functions") {
                    filter.functions = true;
                } else {
                    return Err(CmdError::err(format!(
                        "Unsupported rdb-filter-only option: {}",
                        String::from_utf8_lossy(name)
                    )));
                }
            }
            ctx.client.repl_conf.rdb_filter = Some(filter);
        } else {
            return Err(CmdError::err(format!("Unrecognized REPLCONF option: {}", String::from_utf8_lossy(option))));
        }
    }
    ctx.out.ok();
    Ok(())
}

/// REPLCONF ACK from a replica: its offset, its lag; a diskless replica
/// goes online with its first one (it has loaded the payload).
fn acknowledged(ctx: &Ctx<'_>, info: &ReplicaInfo, offset: u64) {
    info.ack_offset.fetch_max(offset, Ordering::Relaxed);
    info.ack_ms.store(shoal_engine::now_ms(), Ordering::Relaxed);
    info.acked.store(true, Ordering::Release);
    info.wake.notify_one();
    ctx.server.replicas.acks.notify_waiters();
}

/// WAIT numreplicas timeout: blocks until that many replicas acknowledged
/// everything written so far, or the timeout (ms; 0 forever) passes;
/// replies how many did.
fn wait(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    if let Some(output) = ctx.resumed.take() {
        let count = output.downcast::<usize>().map(|c| *c).unwrap_or(0);
        ctx.out.int(count as i64);
        return Ok(());
    }
    let server = ctx.server;
    if server.master.is_replica() {
        return Err(CmdError::err("WAIT cannot be used with replica instances. Please also note that since Redis 4.0 if a replica is configured to be writable (which is not the default) writes to replicas are just local and are not propagated."));
    }
    let wanted = parse::int(argv[1])?;
    let timeout_ms = parse::int(argv[2]).map_err(|_| CmdError::TIMEOUT_NOT_INTEGER)?;
    if timeout_ms < 0 {
        return Err(CmdError::TIMEOUT_NEGATIVE);
    }
    let offset = server.engine.propagation.offset();
    let count = server.replicas.acked(offset);
    if ctx.in_exec || count as i64 >= wanted {
        ctx.out.int(count as i64);
        return Ok(());
    }
    // A failover waits for a replica to reach the current offset: no
    // GETACK moves it meanwhile (the replicas acknowledge every second).
    if server.replicas.failover_state() == FailoverState::None {
        server.engine.propagation.publish_raw(&[b"REPLCONF", b"GETACK", b"*"]);
    }
    let server = server.arc();
    ctx.suspend = Some(Box::pin(async move {
        let deadline = (timeout_ms > 0).then(|| tokio::time::Instant::now() + Duration::from_millis(timeout_ms as u64));
        loop {
            // Registered before the count is read, so an ACK between the
            // two still wakes this client.
            let acked = server.replicas.acks.notified();
            let count = server.replicas.acked(offset);
            if count as i64 >= wanted || deadline.is_some_and(|d| tokio::time::Instant::now() >= d) {
                return Box::new(count) as Box<dyn std::any::Any>;
            }
            // Woken by the next ACK; a periodic look as well, as replicas
            // that go online or away change the count without one.
            let look = tokio::time::Instant::now() + Duration::from_millis(100);
            let until = deadline.map_or(look, |d| d.min(look));
            let _ = tokio::time::timeout_at(until, acked).await;
        }
    }));
    Ok(())
}

/// ROLE: master with its replicas, or replica with its master's state.
fn role(ctx: &mut Ctx<'_>, _argv: &[&[u8]]) -> CmdResult {
    let server = ctx.server;
    let out = &mut *ctx.out;
    if let Some((host, port)) = server.master.master() {
        out.array(5);
        out.bulk_str("slave");
        out.bulk_str(&host);
        out.int(port as i64);
        out.bulk_str(match server.master.state() {
            LinkState::Connect => "connect",
            LinkState::Connecting => "connecting",
            LinkState::Handshake => "handshake",
            LinkState::Transfer => "sync",
            LinkState::Connected => "connected",
        });
        let offset = match server.master.synced.load(Ordering::Relaxed) {
            true => server.engine.propagation.offset() as i64,
            false => -1,
        };
        out.int(offset);
        return Ok(());
    }
    let replicas: Vec<_> = server.replicas.all().into_iter().filter(|r| r.state() == ReplicaState::Online).collect();
    out.array(3);
    out.bulk_str("master");
    out.int(server.engine.propagation.offset() as i64);
    out.array(replicas.len());
    for replica in replicas {
        out.array(3);
        out.bulk_str(&replica.ip);
        out.bulk_str(&replica.port.to_string());
        out.bulk_str(&replica.ack_offset.load(Ordering::Relaxed).to_string());
    }
    Ok(())
}

/// REPLICAOF host port | NO ONE (and SLAVEOF).
fn replicaof(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let server = ctx.server;
    if server.replicas.failover_state() != FailoverState::None {
        return Err(CmdError::err("REPLICAOF not allowed while failing over."));
    }
    let target = if parse::is(argv[1], "no") && parse::is(argv[2], "one") {
        None
    } else {
        if ctx.client.is_replica {
            return Err(CmdError::err("Command is not valid when client is a replica."));
        }
        let port = parse::int(argv[2])?;
        let port = u16::try_from(port).map_err(|_| CmdError::err("Invalid master port"))?;
        Some((String::from_utf8_lossy(argv[1]).into_owned(), port))
    };
    let by = crate::client::client_line(&ctx.client.info);
    let changed = crate::replication::change_master(server, target.clone(), &by);
    match (changed, target) {
        (false, Some(_)) => {
            server.log.notice("REPLICAOF would result into synchronization with the master we are already connected with. No operation performed.");
            ctx.out.simple("OK Already connected to specified master");
        }
        _ => ctx.out.ok(),
    }
    Ok(())
}

/// FAILOVER [TO host port [FORCE]] [ABORT] [TIMEOUT ms]: pauses writes,
/// waits (the cron, `replication::update_failover`) for the target (or any
/// replica) to acknowledge the whole stream, then becomes its replica and
/// sends PSYNC ... FAILOVER, which promotes it.
fn failover(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let server = ctx.server;
    if argv.len() == 2 && parse::is(argv[1], "abort") {
        if server.replicas.failover_state() == FailoverState::None {
            return Err(CmdError::err("No failover in progress."));
        }
        crate::replication::abort_failover(server, "Failover manually aborted");
        ctx.out.ok();
        return Ok(());
    }
    let (mut timeout_ms, mut force, mut target) = (0i64, false, None);
    let mut i = 1;
    while i < argv.len() {
        let left = argv.len() - i - 1;
        if parse::is(argv[i], "timeout") && left >= 1 && timeout_ms == 0 {
            timeout_ms = parse::int(argv[i + 1])?;
            if timeout_ms <= 0 {
                return Err(CmdError::err("FAILOVER timeout must be greater than 0"));
            }
            i += 2;
        } else if parse::is(argv[i], "to") && left >= 2 && target.is_none() {
            let port = parse::int(argv[i + 2])?;
            target = Some((String::from_utf8_lossy(argv[i + 1]).into_owned(), port));
            i += 3;
        } else if parse::is(argv[i], "force") && !force {
            force = true;
            i += 1;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let mut failover = server.replicas.failover.lock();
    if failover.state != FailoverState::None {
        return Err(CmdError::err("FAILOVER already in progress."));
    }
    if server.master.is_replica() {
        return Err(CmdError::err("FAILOVER is not valid when server is a replica."));
    }
    if server.replicas.count() == 0 {
        return Err(CmdError::err("FAILOVER requires connected replicas."));
    }
    if force && (timeout_ms == 0 || target.is_none()) {
        return Err(CmdError::err("FAILOVER with force option requires both a timeout and target HOST and IP."));
    }
    let target = match target {
        Some((host, port)) => {
            let found = u16::try_from(port).ok().and_then(|port| server.replicas.find(&host, port));
            let Some(replica) = found else {
                return Err(CmdError::err("FAILOVER target HOST and PORT is not a replica."));
            };
            if replica.state() != ReplicaState::Online {
                return Err(CmdError::err("FAILOVER target replica is not online."));
            }
            server.log.notice(&format!("FAILOVER requested to {host}:{port}."));
            Some((host, replica.port))
        }
        None => {
            server.log.notice("FAILOVER requested to any replica.");
            None
        }
    };
    let end_ms = if timeout_ms > 0 { shoal_engine::now_ms().saturating_add(timeout_ms) } else { 0 };
    *failover = Failover { state: FailoverState::WaitForSync, target, end_ms, force };
    drop(failover);
    server.pause.set_failover(true);
    server.engine.keep_expired.store(true, Ordering::Relaxed);
    ctx.out.ok();
    Ok(())
}

pub fn register(r: &mut Registrar) {
    r.plain("failover", failover);
    r.plain("replicaof", replicaof);
    r.plain("slaveof", replicaof);
    r.all("sync", sync);
    r.all("psync", psync);
    r.plain("replconf", replconf);
    r.plain("wait", wait);
    r.plain("role", role);
}
