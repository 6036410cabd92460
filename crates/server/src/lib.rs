//! The Shoal server: configuration, networking, client state, command
//! dispatch and the command families.
//!
//! `run` is the whole program: it reads redis-server style arguments, binds
//! the listeners, starts one worker thread per core plus the acceptor and
//! cron threads, and waits for SIGTERM, SIGINT or SHUTDOWN.

pub mod acl;
pub mod alloc;
pub mod blocking;
pub mod client;
pub mod config;
pub mod conn;
pub mod cron;
pub mod dispatch;
pub mod error;
pub mod evict;
pub mod exec;
pub mod families;
pub mod lazyfree;
pub mod log;
pub mod master_link;
pub mod monitor;
pub mod net;
pub mod offload;
pub mod outbox;
pub mod persistence;
pub mod placement;
pub mod prefetch;
pub mod pubsub;
pub mod replica_link;
pub mod replication;
pub mod sentinel;
pub mod server;
pub mod slowlog;
pub mod state;
pub mod tracking;

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::config::Config;
use crate::server::{Server, REDIS_VERSION, SHOAL_VERSION};

const USAGE: &str = "Usage: shoal-server [/path/to/redis.conf] [options] [-]
       shoal-server - (read config from stdin)
       shoal-server -v or --version
       shoal-server -h or --help

Examples:
       shoal-server (serves on 127.0.0.1:6379 with the default configuration)
       shoal-server /etc/redis/6379.conf
       shoal-server --port 7777
       shoal-server /etc/myredis.conf --loglevel verbose
";

/// Runs the server with command-line `args` (without the program name).
/// Returns the process exit code.
pub fn run(args: Vec<String>) -> i32 {
    match args.first().map(String::as_str) {
        Some("-v") | Some("--version") => {
            println!(
                "Shoal server v={SHOAL_VERSION} redis-compatible={REDIS_VERSION} bits=64 malloc={}",
                alloc::ALLOCATOR_NAME
            );
            return 0;
        }
        Some("-h") | Some("--help") => {
            print!("{USAGE}");
            return 0;
        }
        _ => {}
    }
    // redis-server runs as a sentinel with --sentinel anywhere on its command line.
    if args.iter().any(|a| a == "--sentinel") {
        return sentinel::run(args.into_iter().filter(|a| a != "--sentinel").collect());
    }
    let command_line = config::parse_command_line(&args);
    let mut extra = command_line.options;
    if command_line.stdin {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut std::io::stdin(), &mut text);
        extra = format!("{text}\n{extra}");
    }
    let config = match Config::load(command_line.file.as_deref(), &extra) {
        Ok(c) => c,
        Err(e) => {
            e.report(&crate::server::product());
            return 1;
        }
    };
    if config.get_bool("disable-thp") {
        // As redis-server does: transparent huge pages make every first
        // touch of a region zero 2 MB, which shows up as latency spikes.
        // SAFETY: prctl with these arguments only changes this process's flag.
        unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) };
    }
    let threads = match config.get_int("threads") {
        0 => std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        n => n as usize,
    };
    let executable = std::env::current_exe().map(|p| p.display().to_string()).unwrap_or_default();
    exec::install_handlers(families::register_all);
    let _ = replication::REPLICAOF.set(master_link::replicaof);
    let server = Server::new(config, threads, executable);
    // Keyspace events reach subscribers through Pub/Sub.
    let events = pubsub::KeyspaceEvents(Arc::downgrade(&server));
    let _ = server.engine.event_sink.set(Arc::new(events));
    start(server)
}

fn start(server: Arc<Server>) -> i32 {
    let pid = std::process::id();
    // Signal handlers go in first: a SIGTERM that arrives once clients can
    // connect (or the pid file exists) must shut down cleanly.
    let signals = Signals::install();
    server.log.warning("oO0OoO0OoO0Oo Shoal is starting oO0OoO0OoO0Oo");
    server.log.warning(&format!(
        "Shoal version={SHOAL_VERSION}, speaks Redis {REDIS_VERSION}, bits=64, pid={pid}, just started"
    ));
    match &server.config.file {
        Some(path) => server.log.warning(&format!("Configuration loaded from {}", path.display())),
        None => server.log.warning("No config file specified, using the default config."),
    }
    if let Err(e) = server.config.apply_oom_score_adj() {
        server.log.warning(&e);
    }
    if let Err(e) = acl::load_at_startup(&server) {
        server.log.warning(&e);
        server.log.warning("Critical error while loading ACLs. Exiting.");
        return 1;
    }
    let (binds, port) = net::listen_address(&server.config);
    let backlog = server.config.get_int("tcp-backlog") as i32;
    let tcp = match net::bind(&binds, port, backlog) {
        Ok(l) => l,
        Err(e) => {
            server.log.warning(&e);
            // redis-server's last words, which test harnesses look for to
            // retry on another port.
            if !e.starts_with("Failed listening") {
                server.log.warning(&format!("Failed listening on port {port} (tcp), aborting."));
            }
            return 1;
        }
    };
    let unix_path = server.config.get_string("unixsocket");
    let unix = if unix_path.is_empty() {
        None
    } else {
        let permissions = server.config.get_int("unixsocketperm") as u32;
        match net::bind_unix(&unix_path, permissions) {
            Ok(l) => Some((l, unix_path.clone())),
            Err(e) => {
                server.log.warning(&e);
                return 1;
            }
        }
    };
    if tcp.is_empty() && unix.is_none() {
        server.log.warning("Configured to not listen anywhere, exiting.");
        return 1;
    }
    let pidfile = server.config.get_string("pidfile");
    if !pidfile.is_empty() {
        let _ = std::fs::write(&pidfile, format!("{pid}\n"));
    }
    server.log.notice(&format!("Running mode=standalone, port={port}, worker threads={}. PID: {pid}", server.threads));
    server.log.notice("Server initialized");
    // With nothing to load, the dataset is ready (and the append-only file
    // on) before the first client connects; otherwise clients connect
    // during the load and get -LOADING until it is done and the file is on
    // (a write accepted before the file is on would be acknowledged and
    // never logged).
    replication::fence_at_startup(&server);
    let load_first = persistence::nothing_to_load(&server);
    let mut loading = Some(persistence::load::LoadingGuard::begin(&server, 0));
    if load_first {
        if let Err(e) = persistence::startup(&server) {
            return startup_failed(&server, &e);
        }
        loading = None;
    }
    if let Err(e) = net::start(server.clone(), net::Listeners { tcp, unix }) {
        server.log.warning(&format!("Cannot start worker threads: {e}"));
        return 1;
    }
    let cron_server = server.clone();
    let _ = std::thread::Builder::new().name("shoal-cron".into()).spawn(move || cron::run(cron_server));
    if !load_first {
        if let Err(e) = persistence::startup(&server) {
            return startup_failed(&server, &e);
        }
    }
    master_link::startup(&server);
    drop(loading);
    if !unix_path.is_empty() {
        server.log.notice(&format!("The server is now ready to accept connections at {unix_path}"));
    }
    server.log.notice("Ready to accept connections tcp");
    let mut signals = signals;
    let mut stop = signals.wait_for_shutdown(&server);
    loop {
        match stop {
            Stop::Command => break,
            Stop::Signal(directive) => match signals.shut_down_on_signal(&server, directive) {
                AfterSignal::Exit => break,
                AfterSignal::Serve => stop = signals.wait_for_shutdown(&server),
                AfterSignal::Again(next) => stop = Stop::Signal(next),
            },
        }
    }
    shutdown(&server, &pidfile, &unix_path);
    0
}

/// Start-up's load failed: the exit status, after the last words.
fn startup_failed(server: &Server, e: &str) -> i32 {
    // Empty: the failure was logged where it happened.
    if e.is_empty() {
        return 1;
    }
    server.log.warning(e);
    if e != persistence::RDB_READ_FAILURE {
        server.log.warning("Fatal error loading the DB, check the server logs. Exiting.");
    }
    1
}

/// What `shutdown-on-sigterm` / `shutdown-on-sigint` ask for: saves as
/// SHUTDOWN would (with save points, or always with `save`; never with
/// `nosave`). False when the save failed and the server must keep running
/// (unless `force`).
fn save_on_signal(server: &Server, directive: &str) -> bool {
    let value = server.config.get_string(directive);
    let words: Vec<&str> = value.split_whitespace().collect();
    let has = |w: &str| words.contains(&w);
    if has("nosave") || !(has("save") || server.has_save_points()) {
        persistence::kill_bgsave(server);
        return true;
    }
    let locks = server.engine.keyspace.lock_all();
    persistence::save_before_exit(server, &locks).is_ok() || has("force")
}

/// Why the server stops.
enum Stop {
    /// SHUTDOWN: the command did its saving.
    Command,
    /// A signal; the directive saying what to do on it.
    Signal(&'static str),
}

/// What follows a signal's shutdown.
enum AfterSignal {
    /// The server exits.
    Exit,
    /// SHUTDOWN ABORT cancelled it, or its save failed: serve on.
    Serve,
    /// Cancelled, and another signal (its directive) already came.
    Again(&'static str),
}

/// SIGTERM and SIGINT, caught from start-up on.
struct Signals {
    runtime: tokio::runtime::Runtime,
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> Signals {
        use tokio::signal::unix::{signal, SignalKind};
        let runtime =
            tokio::runtime::Builder::new_current_thread().enable_all().build().expect("cannot build a runtime");
        let (term, int) = runtime.block_on(async {
            (
                signal(SignalKind::terminate()).expect("cannot install SIGTERM handler"),
                signal(SignalKind::interrupt()).expect("cannot install SIGINT handler"),
            )
        });
        Signals { runtime, term, int }
    }

    /// A signal asked for a shutdown: as in Redis it runs at the cron's
    /// next tick (not while DEBUG PAUSE-CRON holds the cron), unless
    /// SHUTDOWN ABORT cancels it first. A SIGINT while it is pending or
    /// saving is the user insisting: the server exits at once, without its
    /// temporary file. A signal after SHUTDOWN ABORT (which this loop may
    /// not have seen yet) asks for a new shutdown.
    fn shut_down_on_signal(&mut self, server: &Arc<Server>, directive: &'static str) -> AfterSignal {
        server.shutdown_asap.store(true, Ordering::Release);
        let Signals { runtime, term, int } = self;
        let pending = || server.shutdown_asap.load(Ordering::Acquire);
        runtime.block_on(async {
            loop {
                if !pending() {
                    return AfterSignal::Serve;
                }
                if !server.cron_paused.load(Ordering::Relaxed) {
                    break;
                }
                tokio::select! {
                    _ = tokio::time::sleep(std::time::Duration::from_millis(10)) => {}
                    _ = int.recv() => {
                        if pending() {
                            insist(server);
                        }
                        return AfterSignal::Again(scheduled(server, "SIGINT"));
                    }
                    _ = term.recv() => {
                        if !pending() {
                            return AfterSignal::Again(scheduled(server, "SIGTERM"));
                        }
                    }
                }
            }
            let saving = {
                let server = server.clone();
                tokio::task::spawn_blocking(move || save_on_signal(&server, directive))
            };
            tokio::pin!(saving);
            loop {
                tokio::select! {
                    saved = &mut saving => {
                        let exit = saved.unwrap_or(false);
                        server.shutdown_asap.store(false, Ordering::Release);
                        if exit {
                            return AfterSignal::Exit;
                        }
                        server.log.warning(
                            "SIGTERM received but errors trying to shut down the server, check the logs for more information",
                        );
                        return AfterSignal::Serve;
                    }
                    _ = int.recv() => insist(server),
                    _ = term.recv() => {}
                }
            }
        })
    }

    fn wait_for_shutdown(&mut self, server: &Server) -> Stop {
        let Signals { runtime, term, int } = self;
        runtime.block_on(async {
            loop {
                let requested = server.shutdown_signal.notified();
                if server.shutting_down.load(Ordering::Acquire) {
                    return Stop::Command;
                }
                tokio::select! {
                    _ = term.recv() => return Stop::Signal(scheduled(server, "SIGTERM")),
                    _ = int.recv() => return Stop::Signal(scheduled(server, "SIGINT")),
                    _ = requested => {}
                }
            }
        })
    }
}

/// Logs that `signal` (SIGTERM or SIGINT) asked for a shutdown; the
/// directive saying what to do on it.
fn scheduled(server: &Server, signal: &str) -> &'static str {
    server.log.warning(&format!("Received {signal} scheduling shutdown..."));
    if signal == "SIGINT" {
        "shutdown-on-sigint"
    } else {
        "shutdown-on-sigterm"
    }
}

/// A second SIGINT while a signal's shutdown is under way.
fn insist(server: &Server) -> ! {
    server.log.warning("You insist... exiting now.");
    let dir = std::env::current_dir().unwrap_or_default();
    let _ = std::fs::remove_file(persistence::rdb_file::temp_path(&dir, false, persistence::rdb_file::Format::Rdb));
    let _ = std::fs::remove_file(persistence::rdb_file::temp_path(&dir, true, persistence::rdb_file::Format::Rdb));
    std::process::exit(1);
}

fn shutdown(server: &Server, pidfile: &str, unix_path: &str) {
    server.shutting_down.store(true, Ordering::Release);
    server.log.warning("User requested shutdown...");
    server.clients.kill_all();
    // A background save stopped by SHUTDOWN NOSAVE (or by the save of the
    // shutdown) leaves no temporary file behind, even if its thread has
    // not reached the cancellation yet.
    let dir = std::env::current_dir().unwrap_or_default();
    let _ = std::fs::remove_file(persistence::rdb_file::temp_path(&dir, true, persistence::rdb_file::Format::Rdb));
    if server.persistence.aof().is_some() {
        server.log.notice("Calling fsync() on the AOF file.");
        persistence::aof::turn_off(server);
    }
    if !pidfile.is_empty() {
        server.log.notice("Removing the pid file.");
        let _ = std::fs::remove_file(pidfile);
    }
    if !unix_path.is_empty() {
        server.log.notice("Removing the unix socket file.");
        let _ = std::fs::remove_file(PathBuf::from(unix_path));
    }
    server.log.warning("Shoal is now ready to exit, bye bye...");
}
