//! Listening sockets, worker threads and connection hand-off.
//!
//! One acceptor thread accepts TCP and Unix-socket connections and hands
//! each to a worker thread chosen by placement.rs; each worker runs a
//! single-threaded runtime serving its connections. A connection moves to
//! another worker only between two of its requests, when placement asks
//! (its socket and session travel through the target worker's channel).

use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use socket2::{Domain, Socket, TcpKeepalive, Type};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

use crate::client::ClientInfo;
use crate::conn::{Ended, Session};
use crate::server::Server;
pub use crate::state::net::{Incoming, Relisten};

/// Bound listeners, ready to accept.
pub struct Listeners {
    pub tcp: Vec<std::net::TcpListener>,
    pub unix: Option<(std::os::unix::net::UnixListener, String)>,
}

/// Binds every `bind` address on `port` (addresses prefixed with `-` are
/// optional: failing to bind them is not an error, as in Redis).
pub fn bind(addresses: &[String], port: u16, backlog: i32) -> Result<Vec<std::net::TcpListener>, String> {
    let mut listeners = Vec::new();
    if port == 0 {
        return Ok(listeners);
    }
    for address in addresses {
        let (optional, address) = match address.strip_prefix('-') {
            Some(a) => (true, a),
            None => (false, address.as_str()),
        };
        let ip: IpAddr = match address {
            "*" => IpAddr::from([0, 0, 0, 0]),
            "::*" => IpAddr::from([0u16; 8]),
            other => match other.parse() {
                Ok(ip) => ip,
                Err(_) if optional => continue,
                Err(_) => return Err(format!("Invalid bind address '{other}'")),
            },
        };
        match bind_one(SocketAddr::new(ip, port), backlog) {
            Ok(l) => listeners.push(l),
            Err(_) if optional => {}
            Err(e) => return Err(format!("Could not create server TCP listening socket {address}:{port}: {e}")),
        }
    }
    if listeners.is_empty() {
        return Err(format!("Failed listening on port {port} (tcp), aborting."));
    }
    Ok(listeners)
}

fn bind_one(addr: SocketAddr, backlog: i32) -> std::io::Result<std::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.bind(&addr.into())?;
    socket.listen(backlog.max(1))?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

pub fn bind_unix(path: &str, permissions: u32) -> Result<std::os::unix::net::UnixListener, String> {
    let _ = std::fs::remove_file(path);
    let listener =
        std::os::unix::net::UnixListener::bind(path).map_err(|e| format!("Failed opening Unix socket: {e}"))?;
    listener.set_nonblocking(true).map_err(|e| e.to_string())?;
    if permissions != 0 {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(permissions));
    }
    Ok(listener)
}

/// The configured `bind` addresses and `port`.
pub fn listen_address(config: &crate::config::Config) -> (Vec<String>, u16) {
    let binds = config.get_string("bind").split_whitespace().map(str::to_string).collect();
    (binds, config.get_int("port") as u16)
}

/// Moves the TCP listeners to the configured `bind` and `port` and waits
/// for the outcome.
pub fn relisten(server: &Server) -> Result<(), String> {
    let Some(control) = server.relisten.get() else { return Err("the server is not listening yet".into()) };
    let (binds, port) = listen_address(&server.config);
    let (done, outcome) = std::sync::mpsc::sync_channel(1);
    control.send(Relisten { binds, port, done }).map_err(|_| "the acceptor has stopped".to_string())?;
    outcome.recv().map_err(|_| "the acceptor has stopped".to_string())?
}

/// Closes the TCP listeners (SHUTDOWN, before its client sees the
/// connection close: a client that reconnects then is refused, as by a
/// redis-server that has exited).
pub fn stop_listening(server: &Server) {
    let Some(control) = server.relisten.get() else { return };
    let (done, outcome) = std::sync::mpsc::sync_channel(1);
    if control.send(Relisten { binds: Vec::new(), port: 0, done }).is_ok() {
        let _ = outcome.recv();
    }
}

/// Starts the worker threads and the acceptor. Returns when the acceptor
/// thread has been started.
pub fn start(server: Arc<Server>, listeners: Listeners) -> Result<(), String> {
    let mut workers: Vec<UnboundedSender<Incoming>> = Vec::new();
    for index in 0..server.threads {
        let (sender, receiver) = unbounded_channel();
        workers.push(sender);
        let server = server.clone();
        std::thread::Builder::new()
            .name(format!("shoal-worker-{index}"))
            .spawn(move || worker(server, index, receiver))
            .map_err(|e| e.to_string())?;
    }
    server.placement.set_senders(workers);
    let server_for_acceptor = server.clone();
    std::thread::Builder::new()
        .name("shoal-accept".into())
        .spawn(move || acceptor(server_for_acceptor, listeners))
        .map_err(|e| e.to_string())?;
    Ok(())
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("cannot build a runtime")
}

fn worker(server: Arc<Server>, index: usize, mut incoming: UnboundedReceiver<Incoming>) {
    if server.config.get_bool("worker-sched-batch") {
        sched_batch();
    }
    server.placement.worker_started(index);
    let (parking, unparked) = (server.clone(), server.clone());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .on_thread_park(move || {
            crate::conn::worker_parks();
            parking.placement.parking(index)
        })
        .on_thread_unpark(move || unparked.placement.unparked(index))
        .build()
        .expect("cannot build a runtime");
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async move {
        while let Some(connection) = incoming.recv().await {
            let server = server.clone();
            tokio::task::spawn_local(async move { serve(server, index, connection).await });
        }
    });
}

/// Moves the calling thread to SCHED_BATCH (unprivileged, same nice
/// level), for `worker-sched-batch yes`. A waking worker then does not
/// preempt the task running on its CPU and is not preempted as eagerly:
/// with workers on every core and clients on the same machine, this cut
/// involuntary context switches from about 12,000 to about 400 per 300,000
/// unpipelined requests and CPU per request by 5-10%. It is off by
/// default because the saving comes from serving requests later: a woken
/// worker waits for the running task's slice, tail latency grows, and two
/// connections of one client process are served out of the order it wrote
/// to them far more often (Redis's own tests that do not wait for a client
/// to block before writing from another connection then fail).
fn sched_batch() {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: plain system call on the calling thread with a valid param.
    let _ = unsafe { libc::sched_setscheduler(0, libc::SCHED_BATCH, &param) };
}

async fn serve(server: Arc<Server>, index: usize, connection: Incoming) {
    let load = &server.placement.workers[index];
    load.connections.fetch_add(1, Ordering::Relaxed);
    let new_session = |info: Arc<ClientInfo>| {
        server.clients.insert(info.clone());
        Session::new(&server, info)
    };
    match connection {
        Incoming::Tcp(stream, peer, local) => {
            let info = client_info(&server, index, peer.to_string(), local.to_string(), stream.as_raw_fd(), false);
            run(&server, index, stream, new_session(info)).await
        }
        Incoming::Unix(stream, path) => {
            let info = client_info(&server, index, format!("{path}:0"), path.clone(), stream.as_raw_fd(), true);
            run(&server, index, stream, new_session(info)).await
        }
        Incoming::MovingTcp(stream, session) => run(&server, index, stream, session).await,
        Incoming::MovingUnix(stream, session) => run(&server, index, stream, session).await,
    }
    load.connections.fetch_sub(1, Ordering::Relaxed);
}

/// A socket type a worker can serve and hand on to another worker.
trait WorkerSocket: Sized {
    type Async: crate::conn::Socket;
    fn register(self) -> std::io::Result<Self::Async>;
    fn deregister(socket: Self::Async) -> std::io::Result<Self>;
    fn moving(self, session: Box<Session>) -> Incoming;
}

impl WorkerSocket for std::net::TcpStream {
    type Async = tokio::net::TcpStream;
    fn register(self) -> std::io::Result<Self::Async> {
        tokio::net::TcpStream::from_std(self)
    }
    fn deregister(socket: Self::Async) -> std::io::Result<Self> {
        socket.into_std()
    }
    fn moving(self, session: Box<Session>) -> Incoming {
        Incoming::MovingTcp(self, session)
    }
}

impl WorkerSocket for std::os::unix::net::UnixStream {
    type Async = tokio::net::UnixStream;
    fn register(self) -> std::io::Result<Self::Async> {
        tokio::net::UnixStream::from_std(self)
    }
    fn deregister(socket: Self::Async) -> std::io::Result<Self> {
        socket.into_std()
    }
    fn moving(self, session: Box<Session>) -> Incoming {
        Incoming::MovingUnix(self, session)
    }
}

/// Serves a connection on this worker until it closes or moves on.
async fn run<T: WorkerSocket>(server: &Arc<Server>, index: usize, socket: T, session: Box<Session>) {
    session.client.info.thread.store(index, Ordering::Relaxed);
    let socket = match socket.register() {
        Ok(socket) => socket,
        Err(_) => return closed(server, session),
    };
    if let Ended::Move(socket, session, target) = crate::conn::serve(server.clone(), socket, session).await {
        match T::deregister(socket) {
            Ok(socket) => {
                server.placement.moves.fetch_add(1, Ordering::Relaxed);
                server.placement.send(target, socket.moving(session));
            }
            Err(_) => closed(server, session),
        }
        return;
    }
    server.connected.fetch_sub(1, Ordering::AcqRel);
}

/// Releases a connection that could not be served further.
fn closed(server: &Server, session: Box<Session>) {
    session.close(server);
    server.connected.fetch_sub(1, Ordering::AcqRel);
}

fn client_info(server: &Server, thread: usize, addr: String, local_addr: String, fd: i32, unix: bool) -> Arc<ClientInfo> {
    ClientInfo::new(server.next_client_id(), thread, addr, local_addr, fd, unix)
}

/// One task per TCP listener, handing accepted connections to workers.
fn accept_tcp(server: &Arc<Server>, listeners: Vec<std::net::TcpListener>) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks = Vec::new();
    for listener in listeners {
        let Ok(listener) = tokio::net::TcpListener::from_std(listener) else { continue };
        let server = server.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                let Ok((stream, peer)) = listener.accept().await else { continue };
                let local = stream.local_addr().unwrap_or(peer);
                let Ok(stream) = stream.into_std() else { continue };
                configure_tcp(&server, &stream);
                hand_off(&server, Incoming::Tcp(stream, peer, local));
            }
        }));
    }
    tasks
}

/// Closes the listeners `tasks` accept on (their sockets close once the
/// tasks are gone).
async fn stop_accepting(tasks: Vec<tokio::task::JoinHandle<()>>) {
    for task in &tasks {
        task.abort();
    }
    for task in tasks {
        let _ = task.await;
    }
}

fn acceptor(server: Arc<Server>, listeners: Listeners) {
    let rt = runtime();
    let (control, mut requests) = unbounded_channel::<Relisten>();
    let _ = server.relisten.set(control);
    rt.block_on(async move {
        let backlog = server.config.get_int("tcp-backlog") as i32;
        let mut current = listen_address(&server.config);
        let mut tcp = accept_tcp(&server, listeners.tcp);
        let relisten_server = server.clone();
        let relistening = tokio::spawn(async move {
            let server = relisten_server;
            while let Some(request) = requests.recv().await {
                stop_accepting(std::mem::take(&mut tcp)).await;
                let outcome = match bind(&request.binds, request.port, backlog) {
                    Ok(listeners) => {
                        tcp = accept_tcp(&server, listeners);
                        current = (request.binds, request.port);
                        server.tcp_port.store(current.1 as u64, Ordering::Relaxed);
                        Ok(())
                    }
                    Err(e) => {
                        server.log.warning(&e);
                        match bind(&current.0, current.1, backlog) {
                            Ok(old) => tcp = accept_tcp(&server, old),
                            Err(again) => server.log.warning(&format!("Listening again where it was failed: {again}")),
                        }
                        Err(e)
                    }
                };
                let _ = request.done.send(outcome);
            }
        });
        let mut tasks = vec![relistening];
        if let Some((listener, path)) = listeners.unix {
            let Ok(listener) = tokio::net::UnixListener::from_std(listener) else { return };
            let server = server.clone();
            tasks.push(tokio::spawn(async move {
                loop {
                    let Ok((stream, _)) = listener.accept().await else { continue };
                    let Ok(stream) = stream.into_std() else { continue };
                    hand_off(&server, Incoming::Unix(stream, path.clone()));
                }
            }));
        }
        for task in tasks {
            let _ = task.await;
        }
    });
}

fn configure_tcp(server: &Server, stream: &std::net::TcpStream) {
    let _ = stream.set_nodelay(true);
    let keepalive = server.config.get_int("tcp-keepalive");
    if keepalive > 0 {
        let socket = socket2::SockRef::from(stream);
        let _ = socket.set_tcp_keepalive(&TcpKeepalive::new().with_time(std::time::Duration::from_secs(keepalive as u64)));
    }
}

fn hand_off(server: &Server, connection: Incoming) {
    server.engine.stats.incr(shoal_engine::Stat::ConnectionsReceived);
    let limit = server.tunables.maxclients.load(Ordering::Relaxed).max(1) as usize;
    if server.connected.fetch_add(1, Ordering::AcqRel) >= limit {
        server.connected.fetch_sub(1, Ordering::AcqRel);
        server.engine.stats.incr(shoal_engine::Stat::RejectedConnections);
        refuse(connection, b"-ERR max number of clients reached\r\n");
        return;
    }
    if let Incoming::Tcp(_, peer, _) = &connection {
        if protected_mode_refuses(server, peer) {
            server.connected.fetch_sub(1, Ordering::AcqRel);
            refuse(connection, PROTECTED_MODE_MESSAGE.as_bytes());
            return;
        }
    }
    let index = server.placement.choose(server.config.get_bool("worker-packing"));
    server.placement.send(index, connection);
}

fn refuse(connection: Incoming, message: &[u8]) {
    use std::io::Write;
    match connection {
        Incoming::Tcp(mut s, _, _) => {
            let _ = s.set_nonblocking(false);
            let _ = s.write_all(message);
        }
        Incoming::Unix(mut s, _) => {
            let _ = s.set_nonblocking(false);
            let _ = s.write_all(message);
        }
        Incoming::MovingTcp(..) | Incoming::MovingUnix(..) => {}
    }
}

fn protected_mode_refuses(server: &Server, peer: &SocketAddr) -> bool {
    server.config.get_bool("protected-mode") && server.acl.default_nopass() && !peer.ip().is_loopback()
}

const PROTECTED_MODE_MESSAGE: &str = "-DENIED Shoal is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers, you may set a password with CONFIG SET requirepass <password> from a loopback connection, or disable protected mode with CONFIG SET protected-mode no.\r\n";
