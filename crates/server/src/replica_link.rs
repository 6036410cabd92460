//! A connection that has become a replica: a full sync's payload first
//! (the RDB file of a disk-backed sync, or a diskless one's chunks as the
//! snapshot makes them), then the propagation stream from the replica's
//! reader in the shared replication buffer; the replica's REPLCONF ACKs
//! flow in and run as commands.

use std::io::Read;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use shoal_engine::propagate::ReadError;
use shoal_resp::request::{Limits, Parsed};
use shoal_resp::{Protocol, ReplyBuf, RequestParser};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::client::Client;
use crate::replication::replica_name;
use crate::server::Server;
use crate::state::replicas::{DiskJob, DisklessQueue, ReplicaInfo, ReplicaState, ReplicaStream, SyncSource};

/// Bytes of the stream (or of a payload file) written at once.
const WRITE_BYTES: usize = 64 * 1024;

pub async fn stream_to_replica<S>(
    server: &Server,
    stream: &mut S,
    client: &mut Client,
    link: ReplicaStream,
) -> Result<(), String>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let info = link.info.clone();
    let mut input = Vec::with_capacity(1024);
    let mut parser = RequestParser::new();
    // A diskless replica gets the stream once it acknowledged loading.
    let mut wait_for_ack = false;
    if let Some((started, announce)) = link.full {
        // Until the snapshot starts, a newline a second keeps the
        // replica's read timeout at bay, as Redis sends them.
        let mut keepalive = keepalive_timer();
        tokio::pin!(started);
        let start = loop {
            let event = tokio::select! {
                start = &mut started => break start.map_err(|_| "the full sync could not start".to_string())?,
                _ = keepalive.tick() => Waited::Tick,
                read = stream.read_buf(&mut input) => Waited::Read(read),
                _ = client.info.kill_signal.notified() => Waited::Killed,
            };
            handle(server, stream, event).await?;
        };
        if announce {
            let line = format!("+FULLRESYNC {} {}\r\n", start.replication_id, start.offset);
            write(server, stream, line.as_bytes()).await?;
        }
        match start.source {
            SyncSource::Disk(job) => {
                send_file(server, stream, client, &mut input, &info, &job).await?;
                if info.rdb_only.load(Ordering::Relaxed) {
                    return rdb_only_done(server, stream, &info).await;
                }
                crate::replication::online(server, &info);
            }
            SyncSource::Diskless(queue) => {
                let sent = send_diskless(server, stream, client, &mut input, &queue).await;
                queue.chunks.lock().gone = true;
                sent?;
                if info.rdb_only.load(Ordering::Relaxed) {
                    return rdb_only_done(server, stream, &info).await;
                }
                server.log.notice(&format!(
                    "Streamed RDB transfer with replica {} succeeded (socket). Waiting for REPLCONF ACK from replica to enable streaming",
                    replica_name(&info)
                ));
                wait_for_ack = true;
            }
        }
    }
    if !input.is_empty() {
        run_input(server, client, &mut input, &mut parser)?;
    }
    let mut chunk = Vec::with_capacity(WRITE_BYTES);
    loop {
        if wait_for_ack && info.acked.load(Ordering::Acquire) {
            wait_for_ack = false;
            crate::replication::online(server, &info);
        }
        if !wait_for_ack {
            chunk.clear();
            let reader = info.reader_id.load(Ordering::Acquire);
            match server.engine.propagation.read(reader, WRITE_BYTES, &mut chunk) {
                Ok(0) => {}
                Ok(_) => {
                    write(server, stream, &chunk).await?;
                    continue;
                }
                Err(ReadError::OverLimit) => {
                    server.log.warning(&format!(
                        "Client {} scheduled to be closed ASAP for overcoming of output buffer limits.",
                        crate::client::client_line(&client.info)
                    ));
                    return Err("output buffer limit".into());
                }
                Err(ReadError::Gone) => return Err("the replication stream ended".into()),
            }
        }
        tokio::select! {
            _ = info.wake.notified() => {}
            read = stream.read_buf(&mut input) => {
                match read {
                    Ok(0) => return Err("replica closed the link".into()),
                    Err(e) => return Err(format!("read error: {e}")),
                    Ok(_) => run_input(server, client, &mut input, &mut parser)?,
                }
            }
            _ = client.info.kill_signal.notified() => return Err("killed".into()),
        }
    }
}

/// A replica that asked for the snapshot alone (REPLCONF rdb-only) has it:
/// it is closed (Redis closes it as soon as it can), once what was
/// written has left.
async fn rdb_only_done<S: AsyncWrite + Unpin>(server: &Server, stream: &mut S, info: &ReplicaInfo) -> Result<(), String> {
    server.log.notice(&format!(
        "RDB transfer completed, rdb only replica ({}) should be disconnected asap",
        replica_name(info)
    ));
    let _ = stream.flush().await;
    Ok(())
}

/// What woke a connection waiting for its payload.
enum Waited {
    /// The awaited thing happened.
    Done,
    /// Time for a keep-alive newline.
    Tick,
    /// The replica sent something (kept for later) or closed the link.
    Read(std::io::Result<usize>),
    Killed,
}

/// Acts on a wake-up while waiting for the payload: a closed link or a
/// kill ends the replica (so a replica that went away during a long
/// snapshot is forgotten at once).
async fn handle<S: AsyncWrite + Unpin>(server: &Server, stream: &mut S, event: Waited) -> Result<(), String> {
    match event {
        Waited::Done | Waited::Read(Ok(1..)) => Ok(()),
        Waited::Tick => write(server, stream, b"\n").await,
        Waited::Read(Ok(_)) => Err("replica closed the link".into()),
        Waited::Read(Err(e)) => Err(format!("read error: {e}")),
        Waited::Killed => Err("killed".into()),
    }
}

async fn write<S: AsyncWrite + Unpin>(server: &Server, stream: &mut S, bytes: &[u8]) -> Result<(), String> {
    stream.write_all(bytes).await.map_err(|e| format!("write error: {e}"))?;
    server.engine.stats.add(shoal_engine::Stat::NetOutputBytes, bytes.len() as u64);
    Ok(())
}

/// Runs what the replica sent (REPLCONF ACK) for its side effects. The
/// link carries the stream only: a command that would answer something
/// ends the replica's connection, as in Redis.
fn run_input(server: &Server, client: &mut Client, input: &mut Vec<u8>, parser: &mut RequestParser) -> Result<(), String> {
    let limits = Limits::default();
    let mut replies = ReplyBuf::new(Protocol::Resp2);
    let mut position = 0;
    while let Ok(Parsed::Command { consumed }) | Ok(Parsed::Nothing { consumed }) =
        parser.parse(&input[position..], &limits)
    {
        let request = &input[position..position + consumed];
        let argv: Vec<&[u8]> = parser.args().iter().map(|&a| parser.arg(request, a)).collect();
        if !argv.is_empty() {
            crate::dispatch::dispatch(server, client, &mut replies, &argv);
            if !replies.buf.is_empty() {
                crate::exec::unread_error(server, &replies.buf, &argv, crate::exec::Unread::Replica);
                let name = match shoal_commands::table().resolve(&argv) {
                    Some(cmd) => cmd.name.to_string(),
                    None => String::from_utf8_lossy(argv[0]).to_lowercase(),
                };
                server.log.warning(&format!(
                    "Replica generated a reply to command '{name}', disconnecting it: {}",
                    crate::client::client_line(&client.info)
                ));
                return Err("the replica sent a command with a reply".into());
            }
        }
        position += consumed;
    }
    input.drain(..position);
    Ok(())
}

/// A disk-backed sync: waits for the file, then sends `$<length>` and its
/// bytes.
async fn send_file<S>(
    server: &Server,
    stream: &mut S,
    client: &mut Client,
    input: &mut Vec<u8>,
    info: &ReplicaInfo,
    job: &Arc<DiskJob>,
) -> Result<(), String>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut keepalive = keepalive_timer();
    loop {
        let finished = job.finished.notified();
        tokio::pin!(finished);
        finished.as_mut().enable();
        match job.done.lock().clone() {
            Some(Ok(())) => break,
            Some(Err(e)) => return Err(format!("the snapshot failed: {e}")),
            None => {}
        }
        let event = tokio::select! {
            _ = finished => Waited::Done,
            _ = keepalive.tick() => Waited::Tick,
            read = stream.read_buf(input) => Waited::Read(read),
            _ = client.info.kill_signal.notified() => Waited::Killed,
        };
        handle(server, stream, event).await?;
    }
    info.set_state(ReplicaState::SendBulk);
    let mut file = std::fs::File::open(&job.path).map_err(|e| format!("can't open the RDB file: {e}"))?;
    let length = file.metadata().map_err(|e| e.to_string())?.len();
    write(server, stream, format!("${length}\r\n").as_bytes()).await?;
    let mut buffer = vec![0u8; WRITE_BYTES];
    let mut left = length;
    while left > 0 {
        let want = (left as usize).min(WRITE_BYTES);
        file.read_exact(&mut buffer[..want]).map_err(|e| format!("reading the RDB file: {e}"))?;
        write(server, stream, &buffer[..want]).await?;
        left -= want as u64;
    }
    Ok(())
}

/// A diskless sync: the payload's chunks as the snapshot queues them.
async fn send_diskless<S>(
    server: &Server,
    stream: &mut S,
    client: &mut Client,
    input: &mut Vec<u8>,
    queue: &DisklessQueue,
) -> Result<(), String>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    loop {
        let arrived = queue.arrived.notified();
        let next = {
            let mut chunks = queue.chunks.lock();
            match chunks.queue.pop_front() {
                Some(chunk) => {
                    chunks.queued_bytes -= chunk.len();
                    Ok(Some(chunk))
                }
                None => match &chunks.end {
                    Some(Ok(())) => Ok(None),
                    Some(Err(e)) => Err(e.clone()),
                    None => Ok(Some(Arc::new(Vec::new()))),
                },
            }
        };
        match next? {
            None => return Ok(()),
            Some(chunk) if !chunk.is_empty() => write(server, stream, &chunk).await?,
            Some(_) => {
                let event = tokio::select! {
                    _ = arrived => Waited::Done,
                    read = stream.read_buf(input) => Waited::Read(read),
                    _ = client.info.kill_signal.notified() => Waited::Killed,
                };
                handle(server, stream, event).await?;
            }
        }
    }
}

/// Ticks every second, the first one a second from now: a keep-alive
/// newline goes only to a replica that has waited.
fn keepalive_timer() -> tokio::time::Interval {
    let period = std::time::Duration::from_secs(1);
    tokio::time::interval_at(tokio::time::Instant::now() + period, period)
}
