//! The replica side: REPLICAOF starts a link thread that connects to the
//! master, handshakes (PING, AUTH, REPLCONF listening-port and capa eof
//! psync2, PSYNC), loads a full sync's RDB or continues after a partial
//! resync, then applies the master's stream through the dispatcher as the
//! master client (`flags::MASTER`: no read-only check, replies dropped
//! except the ACK that REPLCONF GETACK asks for). Each complete command
//! advances the offset and its bytes go verbatim to this server's own
//! backlog and replicas (`Propagation::feed_verbatim`), so offsets agree
//! along a chain. A broken link reconnects and asks to continue from its
//! offset (PSYNC with its replication id).

use std::io::Write;
use std::net::ToSocketAddrs;
use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use shoal_resp::request::{Limits, Parsed};
use shoal_resp::{Protocol, ReplyBuf, RequestParser};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::client::{flags, Client, ClientInfo};
use crate::dispatch::Outcome;
use crate::server::Server;
use crate::state::master::LinkState;
use crate::state::replicas::FailoverState;

/// Bytes read from the master at once.
const READ_BYTES: usize = 64 * 1024;
/// A handshake reply line longer than this is refused.
const MAX_LINE_BYTES: usize = 64 * 1024;

/// REPLICAOF host port (Some) or NO ONE (None); `by` names the client for
/// the log. Returns false when the server already replicates that master.
pub fn replicaof(server: &Server, target: Option<(String, u16)>, by: &str) -> bool {
    let link = &server.master;
    let Some(was_replica) = link.switch_master(target.clone()) else {
        return false;
    };
    kill_master_client(server);
    let propagation = &server.engine.propagation;
    match target {
        None => {
            server.engine.replica.store(false, Ordering::Relaxed);
            server.log.set_replica(false);
            link.set_state(LinkState::Connect);
            link.synced.store(false, Ordering::Relaxed);
            // A new history starts here; replicas of this server can
            // continue under the old id up to this offset.
            propagation.create_backlog(crate::replication::backlog_size(server));
            propagation.switch_id(&shoal_engine::propagate::random_hex_id());
            disconnect_replicas(server);
            if was_replica && !by.is_empty() {
                server.log.notice(&format!("MASTER MODE enabled (user request from '{by}')"));
            }
        }
        Some((host, port)) => {
            server.engine.replica.store(true, Ordering::Relaxed);
            server.log.set_replica(true);
            link.set_state(LinkState::Connect);
            link.down_since_ms.store(0, Ordering::Relaxed);
            // The data so far continues under this server's own id: a
            // master that knows it can continue from the offset.
            link.synced.store(false, Ordering::Relaxed);
            link.cached.store(true, Ordering::Relaxed);
            if !was_replica {
                // Clients blocked on a master would wait for writes that
                // can no longer come from them.
                for client in server.clients.all().into_iter().filter(|c| c.has_flag(flags::BLOCKED)) {
                    client.unblock_mode.store(crate::blocking::UNBLOCK_ROLE_CHANGE, Ordering::Release);
                    client.unblock_signal.notify_one();
                }
            }
            if !by.is_empty() {
                server.log.notice(&format!("REPLICAOF {host}:{port} enabled (user request from '{by}')"));
            }
            start_link(server);
        }
    }
    true
}

/// Starts the link thread for the current REPLICAOF target (start-up's
/// `replicaof` directive calls it too).
pub fn start_link(server: &Server) {
    let generation = server.master.generation.load(Ordering::Acquire);
    let link_server = server.arc();
    let spawned = std::thread::Builder::new().name("shoal-master-link".into()).spawn(move || {
        let server = link_server;
        let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(runtime) => runtime,
            Err(e) => return server.log.warning(&format!("Can't start the replication link: {e}")),
        };
        runtime.block_on(run(&server, generation));
    });
    if let Err(e) = spawned {
        server.log.warning(&format!("Can't start the replication link: {e}"));
    }
}

fn current(server: &Server, generation: u64) -> bool {
    server.master.generation.load(Ordering::Acquire) == generation
}

fn kill_master_client(server: &Server) {
    let id = server.master.client_id.swap(0, Ordering::AcqRel);
    if id != 0 {
        server.clients.kill(id);
    }
}

/// Closes the replicas' connections: they reconnect and learn the new
/// replication id (PSYNC continues where it can).
fn disconnect_replicas(server: &Server) {
    for replica in server.replicas.all() {
        server.clients.kill(replica.client_id);
    }
}

/// Connects, syncs and applies the stream until REPLICAOF changes.
async fn run(server: &Arc<Server>, generation: u64) {
    let link = &server.master;
    while current(server, generation) {
        let Some((host, port)) = link.master() else { return };
        link.set_state(LinkState::Connecting);
        server.log.notice(&format!("Connecting to MASTER {host}:{port}"));
        let ended = match connect(server, &host, port).await {
            Ok(stream) => {
                server.log.notice("MASTER <-> REPLICA sync started");
                session(server, generation, stream).await
            }
            Err(e) => Err(format!("Error condition on socket for SYNC: {e}")),
        };
        if !current(server, generation) {
            return;
        }
        if let Err(e) = ended {
            server.log.warning(&e);
        }
        link.set_state(LinkState::Connect);
        // A link that was up tries again at once (the backlog is only so
        // long); failed attempts are a second apart.
        let was_up = link.down_since_ms.load(Ordering::Relaxed) == 0;
        if was_up {
            link.down_since_ms.store(shoal_engine::now_ms(), Ordering::Relaxed);
        }
        tokio::time::sleep(if was_up { Duration::from_millis(100) } else { Duration::from_secs(1) }).await;
    }
}

async fn connect(server: &Server, host: &str, port: u16) -> Result<TcpStream, String> {
    let timeout = Duration::from_secs(server.config.get_int("repl-timeout").max(1) as u64);
    let address = (host, port).to_socket_addrs().map_err(|e| e.to_string())?.next().ok_or("no address")?;
    let socket = match address {
        std::net::SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4(),
        std::net::SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6(),
    }
    .map_err(|e| crate::persistence::strerror(&e))?;
    let source = server.config.get_string("bind-source-addr");
    if !source.is_empty() {
        let ip: std::net::IpAddr = source.parse().map_err(|_| format!("Invalid bind-source-addr {source}"))?;
        socket.bind((ip, 0).into()).map_err(|e| crate::persistence::strerror(&e))?;
    }
    let stream = tokio::time::timeout(timeout, socket.connect(address))
        .await
        .map_err(|_| "connection timed out".to_string())?
        .map_err(|e| crate::persistence::strerror(&e))?;
    if !server.config.get_bool("repl-disable-tcp-nodelay") {
        let _ = stream.set_nodelay(true);
    }
    Ok(stream)
}

/// The master connection: its socket and what has been read of it.
struct Conn {
    stream: TcpStream,
    input: Vec<u8>,
    timeout: Duration,
}

impl Conn {
    async fn read_more(&mut self) -> Result<usize, String> {
        self.input.reserve(READ_BYTES);
        match tokio::time::timeout(self.timeout, self.stream.read_buf(&mut self.input)).await {
            Err(_) => Err("Timeout connecting to the MASTER...".to_string()),
            Ok(Ok(0)) => Err("Master closed the connection".to_string()),
            Ok(Ok(n)) => Ok(n),
            Ok(Err(e)) => Err(format!("Error reading from MASTER: {e}")),
        }
    }

    /// One reply line (without CRLF); a bare newline, the master's
    /// keep-alive while it prepares a sync, is skipped.
    async fn line(&mut self) -> Result<String, String> {
        loop {
            while self.input.first() == Some(&b'\n') {
                self.input.remove(0);
            }
            if let Some(end) = self.input.windows(2).position(|w| w == b"\r\n") {
                let line = String::from_utf8_lossy(&self.input[..end]).into_owned();
                self.input.drain(..end + 2);
                return Ok(line);
            }
            if self.input.len() > MAX_LINE_BYTES {
                return Err("Master sent a too long reply line".to_string());
            }
            self.read_more().await?;
        }
    }

    async fn command(&mut self, argv: &[&[u8]]) -> Result<String, String> {
        let mut request = Vec::new();
        shoal_engine::propagate::encode(&mut request, argv);
        self.stream.write_all(&request).await.map_err(|e| format!("Error writing to MASTER: {e}"))?;
        self.line().await
    }
}

/// One connection to the master: handshake, sync, stream.
async fn session(server: &Arc<Server>, generation: u64, stream: TcpStream) -> Result<(), String> {
    let timeout = Duration::from_secs(server.config.get_int("repl-timeout").max(1) as u64);
    let mut conn = Conn { stream, input: Vec::new(), timeout };
    server.master.set_state(LinkState::Handshake);
    handshake(server, &mut conn).await?;
    let link = &server.master;
    let propagation = &server.engine.propagation;
    let psync = match link.cached.load(Ordering::Relaxed) {
        true => (propagation.replication_id(), (propagation.offset() + 1).to_string()),
        false => ("?".to_string(), "-1".to_string()),
    };
    if psync.0 != "?" {
        server.log.notice(&format!("Trying a partial resynchronization (request {}:{}).", psync.0, psync.1));
    }
    // A master failing over to this one asks it to take over (PSYNC ...
    // FAILOVER); its reply decides the failover.
    let failing_over = server.replicas.failover_state() == FailoverState::InProgress;
    let reply = match failing_over {
        false => conn.command(&[b"PSYNC", psync.0.as_bytes(), psync.1.as_bytes()]).await?,
        true => {
            let reply = conn.command(&[b"PSYNC", psync.0.as_bytes(), psync.1.as_bytes(), b"FAILOVER"]).await;
            match reply {
                Ok(line) if line.starts_with("+FULLRESYNC") || line.starts_with("+CONTINUE") => {
                    crate::replication::failover_done(server);
                    line
                }
                Ok(line) => {
                    server.log.warning(&format!("Failover target refused PSYNC FAILOVER: {line}"));
                    crate::replication::abort_failover(server, "Failover target rejected psync request");
                    return Ok(());
                }
                Err(e) => {
                    crate::replication::abort_failover(server, "Write error to failover target");
                    return Err(e);
                }
            }
        }
    };
    if let Some(rest) = reply.strip_prefix("+FULLRESYNC ") {
        let mut parts = rest.split(' ');
        let (Some(id), Some(offset)) = (parts.next(), parts.next().and_then(|o| o.parse::<u64>().ok())) else {
            return Err(format!("Master replied with wrong +FULLRESYNC syntax: {reply}"));
        };
        server.log.notice(&format!("Full resync from master: {id}:{offset}"));
        // Waiting for the payload counts as the transfer (INFO
        // master_sync_*), its size unknown (-1) until the `$` line, as in
        // Redis.
        link.transfer_size.store(-1, Ordering::Relaxed);
        link.transfer_read.store(0, Ordering::Relaxed);
        link.last_io_ms.store(shoal_engine::now_ms(), Ordering::Relaxed);
        link.set_state(LinkState::Transfer);
        if !current(server, generation) {
            return Ok(());
        }
        full_sync(server, &mut conn, id, offset).await?;
    } else if let Some(rest) = reply.strip_prefix("+CONTINUE") {
        server.log.notice("Successful partial resynchronization with master.");
        let new_id = rest.trim();
        if !new_id.is_empty() && new_id != propagation.replication_id() {
            propagation.switch_id(new_id);
            server.log.notice(&format!("Master replication ID changed to {new_id}"));
            // Replicas of this server learn the new id by reconnecting.
            disconnect_replicas(server);
        }
        server.log.notice("MASTER <-> REPLICA sync: Master accepted a Partial Resynchronization.");
    } else if reply.starts_with("-NOMASTERLINK") || reply.starts_with("-LOADING") {
        return Err(format!("Master is currently unable to PSYNC but should be in the future: {reply}"));
    } else {
        return Err(format!("Unexpected reply to PSYNC from master: {reply}"));
    }
    link.cached.store(true, Ordering::Relaxed);
    link.synced.store(true, Ordering::Relaxed);
    stream_from_master(server, generation, conn).await
}

async fn handshake(server: &Server, conn: &mut Conn) -> Result<(), String> {
    let pong = conn.command(&[b"PING"]).await?;
    let acceptable = ["-NOAUTH", "-NOPERM", "-ERR operation not permitted"];
    if pong.starts_with('-') && !acceptable.iter().any(|a| pong.starts_with(a)) {
        return Err(format!("Error reply to PING from master: '{pong}'"));
    }
    server.log.notice("Master replied to PING, replication can continue...");
    let password = server.config.get_string("masterauth");
    if !password.is_empty() {
        let user = server.config.get_string("masteruser");
        let reply = match user.is_empty() {
            true => conn.command(&[b"AUTH", password.as_bytes()]).await?,
            false => conn.command(&[b"AUTH", user.as_bytes(), password.as_bytes()]).await?,
        };
        if reply.starts_with('-') {
            return Err(format!("Unable to AUTH to MASTER: {reply}"));
        }
    }
    let port = match server.config.get_int("replica-announce-port") {
        0 => server.tcp_port.load(Ordering::Relaxed).to_string(),
        announced => announced.to_string(),
    };
    let reply = conn.command(&[b"REPLCONF", b"listening-port", port.as_bytes()]).await?;
    if reply.starts_with('-') {
        server.log.notice(&format!("(Non critical) Master does not understand REPLCONF listening-port: {reply}"));
    }
    let ip = server.config.get_string("replica-announce-ip");
    if !ip.is_empty() {
        let reply = conn.command(&[b"REPLCONF", b"ip-address", ip.as_bytes()]).await?;
        if reply.starts_with('-') {
            server.log.notice(&format!("(Non critical) Master does not understand REPLCONF ip-address: {reply}"));
        }
    }
    let reply = conn.command(&[b"REPLCONF", b"capa", b"eof", b"capa", b"psync2"]).await?;
    if reply.starts_with('-') {
        server.log.notice(&format!("(Non critical) Master does not understand REPLCONF capa: {reply}"));
    }
    Ok(())
}

/// Where a full sync's payload goes while it arrives.
enum Payload {
    File(std::fs::File, std::path::PathBuf),
    Memory(Vec<u8>),
}

impl Payload {
    fn write(&mut self, bytes: &[u8]) -> Result<(), String> {
        match self {
            Payload::File(file, _) => {
                file.write_all(bytes).map_err(|e| format!("Write error writing the payload: {e}"))
            }
            Payload::Memory(buffer) => {
                buffer.extend_from_slice(bytes);
                Ok(())
            }
        }
    }
}

/// Receives the payload (`$<length>` or `$EOF:<mark>`), then replaces the
/// dataset with it and adopts the master's id and offset.
async fn full_sync(server: &Arc<Server>, conn: &mut Conn, id: &str, offset: u64) -> Result<(), String> {
    let link = &server.master;
    // The master's keep-alive newlines, while it prepares the snapshot,
    // count as I/O for master_sync_last_io_seconds_ago.
    let header = loop {
        while conn.input.first() == Some(&b'\n') {
            conn.input.remove(0);
            link.last_io_ms.store(shoal_engine::now_ms(), Ordering::Relaxed);
        }
        if conn.input.windows(2).any(|w| w == b"\r\n") {
            break conn.line().await?;
        }
        if conn.input.len() > MAX_LINE_BYTES {
            return Err("Master sent a too long reply line".to_string());
        }
        conn.read_more().await?;
        link.last_io_ms.store(shoal_engine::now_ms(), Ordering::Relaxed);
    };
    let Some(size) = header.strip_prefix('$') else {
        return Err(format!("Bad protocol from MASTER, the first byte is not '$' (we received '{header}'), are you sure the host and port are right?"));
    };
    let eof_mark = size.strip_prefix("EOF:").map(|m| m.as_bytes().to_vec());
    let length = match &eof_mark {
        Some(mark) if mark.len() == crate::replication::EOF_MARK_BYTES => None,
        Some(_) => return Err("Bad EOF mark from MASTER".to_string()),
        None => Some(size.parse::<u64>().map_err(|_| format!("Bad payload length from MASTER: {size}"))?),
    };
    let diskless_load = server.config.get_string("repl-diskless-load") != "disabled";
    let mut payload = if diskless_load {
        Payload::Memory(Vec::new())
    } else {
        let temp =
            std::path::PathBuf::from(format!("temp-{}.{}.rdb", shoal_engine::now_ms() / 1000, std::process::id()));
        let file = std::fs::File::create(&temp)
            .map_err(|e| format!("Opening the temp file needed for MASTER <-> REPLICA synchronization: {e}"))?;
        Payload::File(file, temp)
    };
    match (length, diskless_load) {
        (Some(n), false) => {
            server.log.notice(&format!("MASTER <-> REPLICA sync: receiving {n} bytes from master to disk"))
        }
        (Some(n), true) => {
            server.log.notice(&format!("MASTER <-> REPLICA sync: receiving {n} bytes from master to memory"))
        }
        (None, false) => {
            server.log.notice("MASTER <-> REPLICA sync: receiving streamed RDB from master with EOF to disk")
        }
        (None, true) => {
            server.log.notice("MASTER <-> REPLICA sync: receiving streamed RDB from master with EOF to memory")
        }
    }
    // With swapdb, a sync that continues this server's own history (the
    // master's id is ours) loads asynchronously, as Redis 7.0's
    // async_loading: the old dataset stays served until the new one,
    // loaded aside, is swapped in. Any other diskless load is a load from
    // its first byte: clients get -LOADING (the old data stays until the
    // whole payload arrived).
    let async_load = diskless_load
        && server.config.get_string("repl-diskless-load") == "swapdb"
        && id == server.engine.propagation.replication_id();
    let _loading = (diskless_load && !async_load)
        .then(|| crate::persistence::load::LoadingGuard::begin(server, length.unwrap_or(0)));
    let _async_loading = async_load.then(|| AsyncLoading::begin(server, length.unwrap_or(0)));
    link.set_state(LinkState::Transfer);
    // An EOF-marked payload's size reads 0 (Redis sets it so).
    link.transfer_size.store(length.map_or(0, |n| n as i64), Ordering::Relaxed);
    link.transfer_read.store(0, Ordering::Relaxed);
    link.transfer_started_ms.store(shoal_engine::now_ms(), Ordering::Relaxed);
    let received = receive(server, conn, &mut payload, length, eof_mark.as_deref()).await;
    if let Err(e) = received {
        if let Payload::File(_, temp) = &payload {
            let _ = std::fs::remove_file(temp);
        }
        return Err(e);
    }
    match (payload, async_load) {
        (Payload::Memory(buffer), true) => load_payload_async(server, buffer, id, offset),
        (payload, _) => load_payload(server, payload, id, offset),
    }
}

/// The async-loading state (INFO `async_loading:1`) while alive.
struct AsyncLoading<'a> {
    server: &'a Server,
}

impl<'a> AsyncLoading<'a> {
    fn begin(server: &'a Server, total_bytes: u64) -> AsyncLoading<'a> {
        let loading = &server.persistence.loading;
        loading.started_ms.store(shoal_engine::now_ms(), Ordering::Relaxed);
        loading.total_bytes.store(total_bytes, Ordering::Relaxed);
        loading.loaded_bytes.store(0, Ordering::Relaxed);
        loading.loaded_keys.store(0, Ordering::Relaxed);
        loading.async_active.store(true, Ordering::Relaxed);
        AsyncLoading { server }
    }
}

impl Drop for AsyncLoading<'_> {
    fn drop(&mut self) {
        self.server.persistence.loading.async_active.store(false, Ordering::Relaxed);
    }
}

/// The end of a successful full sync, however it was loaded: the log lines
/// Redis writes (its tests wait for them), the loaded dataset counted as
/// saved, and the append-only file rebuilt from it.
fn sync_loaded(server: &Server, keys: u64, expired: u64) {
    server.log.notice(&format!("Done loading RDB, keys loaded: {keys}, keys expired: {expired}."));
    server.engine.reset_dirty(server.engine.dirty());
    if server.persistence.aof().is_some() {
        server.persistence.aof_rewrite_scheduled.store(true, Ordering::Relaxed);
    }
    server.log.notice("MASTER <-> REPLICA sync: Finished with success");
}

/// An async load's end: the payload loads into a keyspace of its own
/// while clients keep reading (and a writable replica's clients writing)
/// the old dataset; then, with every shard held, the old databases are
/// flushed and the new ones put in their place, and the function
/// libraries are replaced. A payload that fails to load leaves the old
/// dataset as it was.
fn load_payload_async(server: &Arc<Server>, buffer: Vec<u8>, id: &str, offset: u64) -> Result<(), String> {
    use crate::persistence::load::{load_rdb_into, Staged};
    server.log.notice("MASTER <-> REPLICA sync: Loading DB in memory");
    server.persistence.loading.total_bytes.store(buffer.len() as u64, Ordering::Relaxed);
    let mut staged = Staged::new(server);
    let loaded = match load_rdb_into(server, buffer.as_slice(), false, Some(&mut staged)) {
        Ok(loaded) => loaded,
        Err(e) => {
            server
                .log
                .warning(&format!("Failed trying to load the MASTER synchronization DB from socket: {}", e.message));
            server.log.notice("MASTER <-> REPLICA sync: Discarding temporary DB in background");
            server.lazyfree.free_later(Box::new(staged.keyspace), 0);
            return Err("MASTER <-> REPLICA sync: loading failed".to_string());
        }
    };
    drop(buffer);
    server.log.notice("MASTER <-> REPLICA sync: Swapping active DB with loaded DB");
    let functions = std::mem::take(&mut staged.functions);
    let new_dbs = staged.keyspace.into_shard_dbs();
    {
        let locks = server.engine.keyspace.lock_all();
        let mut tx = server.engine.unit(locks, 0);
        let removed = crate::families::keys::swap_in_databases(&mut tx, new_dbs, Some(&server.lazyfree));
        tx.effects.clear();
        tx.finish();
        if removed > 0 {
            server.log.notice("MASTER <-> REPLICA sync: Discarding old DB in background");
        }
        // Whatever the new data, the dataset now follows the master's
        // history (taken while every shard is held: no client write of
        // a writable replica falls between).
        server.engine.propagation.adopt(id, offset, crate::replication::backlog_size(server));
        server.master.stream_db.store(0, Ordering::Relaxed);
    }
    crate::families::scripting::flush_functions(server);
    for code in functions {
        if let Err(why) = crate::families::scripting::load_library(server, code, false) {
            server.log.warning(&format!("Failed loading library from the MASTER synchronization: {why}"));
        }
    }
    server.persistence.loaded_replication.lock().clone_from(&Default::default());
    sync_loaded(server, loaded.keys, loaded.expired);
    Ok(())
}

/// Copies the payload from the socket: `length` bytes, or up to the EOF
/// mark (whose bytes are not part of the RDB).
async fn receive(
    server: &Server,
    conn: &mut Conn,
    payload: &mut Payload,
    length: Option<u64>,
    mark: Option<&[u8]>,
) -> Result<(), String> {
    let link = &server.master;
    let mut left = length.unwrap_or(u64::MAX);
    // With an EOF mark, the last bytes seen are held back until more come.
    let mut tail: Vec<u8> = Vec::new();
    loop {
        if conn.input.is_empty() {
            conn.read_more().await?;
        }
        link.last_io_ms.store(shoal_engine::now_ms(), Ordering::Relaxed);
        match mark {
            None => {
                let take = (conn.input.len() as u64).min(left) as usize;
                payload.write(&conn.input[..take])?;
                conn.input.drain(..take);
                left -= take as u64;
                link.transfer_read.fetch_add(take as u64, Ordering::Relaxed);
                if left == 0 {
                    return Ok(());
                }
            }
            Some(mark) => {
                tail.extend_from_slice(&conn.input);
                link.transfer_read.fetch_add(conn.input.len() as u64, Ordering::Relaxed);
                conn.input.clear();
                if tail.ends_with(mark) {
                    payload.write(&tail[..tail.len() - mark.len()])?;
                    return Ok(());
                }
                if tail.len() > mark.len() {
                    let keep_from = tail.len() - mark.len();
                    payload.write(&tail[..keep_from])?;
                    tail.drain(..keep_from);
                }
            }
        }
    }
}

/// Empties the dataset and loads the payload into it; the server then
/// continues the master's history from `offset`.
fn load_payload(server: &Arc<Server>, payload: Payload, id: &str, offset: u64) -> Result<(), String> {
    server.log.notice("MASTER <-> REPLICA sync: Flushing old data");
    let size = match &payload {
        Payload::File(file, _) => file.metadata().map(|m| m.len()).unwrap_or(0),
        Payload::Memory(buffer) => buffer.len() as u64,
    };
    let guard = crate::families::persistence::flush_for_reload(server, false, size).map_err(|e| e.message())?;
    server.log.notice("MASTER <-> REPLICA sync: Loading DB in memory");
    let loaded = match payload {
        Payload::File(file, temp) => {
            drop(file);
            let target = crate::persistence::rdb_path(server);
            std::fs::rename(&temp, &target).map_err(|e| {
                format!(
                    "Failed trying to rename the temp DB into {} in MASTER <-> REPLICA synchronization: {e}",
                    target.display()
                )
            })?;
            crate::persistence::load::load_rdb_path(server, &target, false)
        }
        Payload::Memory(buffer) => crate::persistence::load::load_rdb(server, buffer.as_slice(), false),
    };
    // Whatever loaded, the dataset now follows the master's history.
    server.engine.propagation.adopt(id, offset, crate::replication::backlog_size(server));
    server.master.stream_db.store(0, Ordering::Relaxed);
    drop(guard);
    server.persistence.loaded_replication.lock().clone_from(&Default::default());
    let loaded = match loaded {
        Ok(loaded) => loaded,
        Err(e) => {
            server
                .log
                .warning(&format!("Failed trying to load the MASTER synchronization DB from disk: {}", e.message));
            return Err("MASTER <-> REPLICA sync: loading failed".to_string());
        }
    };
    sync_loaded(server, loaded.keys, loaded.expired);
    Ok(())
}

/// Applies the master's stream until the link breaks or REPLICAOF changes.
async fn stream_from_master(server: &Arc<Server>, generation: u64, mut conn: Conn) -> Result<(), String> {
    let link = &server.master;
    let peer = conn.stream.peer_addr().map(|a| a.to_string()).unwrap_or_default();
    let local = conn.stream.local_addr().map(|a| a.to_string()).unwrap_or_default();
    let info = ClientInfo::new(server.next_client_id(), 0, peer, local, conn.stream.as_raw_fd(), false);
    info.set_flag(flags::MASTER, true);
    server.clients.insert(info.clone());
    link.client_id.store(info.id, Ordering::Release);
    let mut client = Client::new(info.clone(), true);
    client.select(link.stream_db.load(Ordering::Relaxed));
    link.set_state(LinkState::Connected);
    link.down_since_ms.store(0, Ordering::Relaxed);
    link.last_io_ms.store(shoal_engine::now_ms(), Ordering::Relaxed);
    let result = apply_stream(server, generation, &mut conn, &mut client).await;
    crate::families::transactions::discard_state(&mut client);
    server.clients.remove(info.id);
    let _ = link.client_id.compare_exchange(info.id, 0, Ordering::AcqRel, Ordering::Relaxed);
    if current(server, generation) {
        server.log.notice("Connection with master lost.");
        server.log.notice("Caching the disconnected master state.");
    }
    result
}

async fn apply_stream(
    server: &Arc<Server>,
    generation: u64,
    conn: &mut Conn,
    client: &mut Client,
) -> Result<(), String> {
    let link = &server.master;
    let mut parser = RequestParser::new();
    let mut replies = ReplyBuf::new(Protocol::Resp2);
    let mut ack_timer = tokio::time::interval(Duration::from_secs(1));
    let limits = Limits { max_bulk_bytes: i64::MAX, unauthenticated: false, from_master: true };
    let mut position = 0;
    send_ack(server, conn).await?;
    loop {
        loop {
            if !current(server, generation) || client.info.is_killed() {
                return Ok(());
            }
            let consumed = match parser.parse(&conn.input[position..], &limits) {
                Ok(Parsed::Command { consumed }) => consumed,
                Ok(Parsed::Nothing { consumed }) => {
                    // Blank lines (keep-alives) count as stream bytes too.
                    server.engine.propagation.feed_verbatim(&conn.input[position..position + consumed]);
                    position += consumed;
                    continue;
                }
                Ok(_) => break,
                Err(e) => return Err(format!("Protocol error from MASTER: {e:?}")),
            };
            let request = &conn.input[position..position + consumed];
            let argv: Vec<&[u8]> = parser.args().iter().map(|&a| parser.arg(request, a)).collect();
            let getack =
                argv.len() >= 2 && argv[0].eq_ignore_ascii_case(b"replconf") && argv[1].eq_ignore_ascii_case(b"getack");
            if getack {
                // The offset before the GETACK itself, as Redis answers.
                send_ack(server, conn).await?;
                server.engine.propagation.feed_verbatim(&conn.input[position..position + consumed]);
            } else {
                // Its bytes are counted by the unit that applies it (or
                // right after it, if it opened none).
                shoal_engine::propagate::stage_verbatim(request);
                if !argv.is_empty() {
                    run_command(server, client, &mut replies, &argv).await;
                    link.stream_db.store(client.db, Ordering::Relaxed);
                }
                server.engine.propagation.feed_staged();
            }
            position += consumed;
        }
        conn.input.drain(..position);
        position = 0;
        tokio::select! {
            read = conn.read_more() => {
                read?;
                link.last_io_ms.store(shoal_engine::now_ms(), Ordering::Relaxed);
            }
            _ = ack_timer.tick() => send_ack(server, conn).await?,
            _ = client.info.kill_signal.notified() => return Err("Master client killed".to_string()),
        }
    }
}

async fn send_ack(server: &Server, conn: &mut Conn) -> Result<(), String> {
    let offset = server.engine.propagation.offset().to_string();
    let mut ack = Vec::new();
    shoal_engine::propagate::encode(&mut ack, &[b"REPLCONF", b"ACK", offset.as_bytes()]);
    conn.stream.write_all(&ack).await.map_err(|e| format!("Error writing to MASTER: {e}"))
}

/// Runs one command of the master's stream as the master client: through
/// the dispatcher (MULTI queueing, EXEC, SELECT), waiting when its shards
/// are busy (this thread serves no other connection); its reply is
/// dropped.
async fn run_command(server: &Server, client: &mut Client, replies: &mut ReplyBuf, argv: &[&[u8]]) {
    loop {
        let mut outcome = crate::dispatch::dispatch(server, client, replies, argv);
        if matches!(outcome, Outcome::Offload) {
            // Scripts and functions run on the script thread.
            outcome = crate::offload::run(server, client, replies, argv).await;
        }
        match outcome {
            Outcome::Busy(busy) => {
                let listener = server.engine.keyspace.listen(busy);
                let _ = tokio::time::timeout(Duration::from_millis(10), listener).await;
            }
            Outcome::Postpone => tokio::time::sleep(Duration::from_millis(1)).await,
            Outcome::Continue | Outcome::Blocked(_) | Outcome::Suspended(_) | Outcome::Offload => break,
        }
    }
    crate::exec::unread_error(server, &replies.buf, argv, crate::exec::Unread::Master);
    replies.buf.clear();
}

/// Start-up: continues the replication history the RDB file recorded (a
/// replica asks its master to continue it; a master keeps it as its
/// previous id so its replicas can continue), then starts the link when
/// the `replicaof` directive names a master.
pub fn startup(server: &Server) {
    let loaded = std::mem::take(&mut *server.persistence.loaded_replication.lock());
    let target = match server.config.get("replicaof") {
        crate::config::Value::Words(w) if w.len() == 2 => w[1].parse::<u16>().ok().map(|port| (w[0].clone(), port)),
        _ => None,
    };
    let propagation = &server.engine.propagation;
    let size = crate::replication::backlog_size(server);
    if let (Some(id), Some(offset)) = (loaded.id, loaded.offset) {
        if target.is_some() {
            propagation.adopt(&id, offset, size);
            server.master.stream_db.store(loaded.stream_db.unwrap_or(0), Ordering::Relaxed);
            server.master.cached.store(true, Ordering::Relaxed);
        } else {
            propagation.adopt(&id, offset, size);
            propagation.switch_id(&shoal_engine::propagate::random_hex_id());
            server.replicas.alone_since_ms.store(shoal_engine::now_ms(), Ordering::Relaxed);
            // What expired while the file rested is deleted in the
            // history too, so replicas that continue it drop it as well.
            for (db, key) in loaded.expired_keys {
                let del = shoal_engine::Effect::new(db, vec![b"DEL".to_vec(), key]);
                propagation.publish(&[del], false, true);
            }
        }
    }
    if let Some(target) = target {
        server.master.switch_master(Some(target));
        server.engine.replica.store(true, Ordering::Relaxed);
        server.log.set_replica(true);
        start_link(server);
    }
}
