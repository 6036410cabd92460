//! Sentinel mode: `shoal-server --sentinel <config>` (or `shoal-sentinel <config>`).
//!
//! The decision logic is `shoal_sentinel::Sentinel`, a pure state machine; this module is
//! its driver on real sockets. The main loop feeds it the timer (`timers`), the links'
//! reports (`links`: connections to masters, replicas and other sentinels) and the
//! questions of clients (`clients`: SENTINEL, INFO, SUBSCRIBE ...), and carries out the
//! actions it returns ([`apply`]): open and close links, send commands, publish and log
//! events, queue scripts, and rewrite the configuration file (the state survives a
//! restart). The state lives in `crate::state::sentinel`.

mod clients;
mod links;
mod timers;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use shoal_sentinel::{Action, Addr, Event, Input, Level, Reply, Sentinel, SentinelConfig, SentinelOptions, Timing};

use crate::state::sentinel::{
    ClientOut, ScriptJob, ScriptTiming, SentinelShared, SentinelState, SIMFAILURE_CRASH_AFTER_ELECTION,
    SIMFAILURE_CRASH_AFTER_PROMOTION,
};

pub use links::HELLO_CHANNEL;

/// Log levels as redis-server numbers them (debug, verbose, notice, warning).
const LOG_CHARS: [char; 4] = ['.', '-', '*', '#'];

/// The server directives sentinel mode reads from its file and command line.
struct ServerDirectives {
    port: u16,
    bind: Vec<String>,
    logfile: Option<String>,
    loglevel: u8,
    pidfile: Option<String>,
    requirepass: Option<String>,
    maxclients: u64,
    /// `user` lines: the sentinel's own ACL users.
    users: Vec<Vec<String>>,
}

fn server_directives(config: &crate::config::Config) -> ServerDirectives {
    use crate::config::Value;
    let text = |name: &str| Some(config.get_string(name)).filter(|v| !v.is_empty());
    ServerDirectives {
        port: config.get_int("port") as u16,
        bind: match config.get("bind") {
            Value::Words(words) => words,
            _ => Vec::new(),
        },
        logfile: text("logfile"),
        loglevel: match config.get("loglevel") {
            Value::Enum(i) => i as u8,
            _ => 2,
        },
        pidfile: text("pidfile"),
        requirepass: text("requirepass"),
        maxclients: config.get_int("maxclients") as u64,
        users: config.users().to_vec(),
    }
}

/// Whether a script path may be run (redis-sentinel checks X_OK).
fn executable(path: &str) -> bool {
    let Ok(c) = std::ffi::CString::new(path) else { return false };
    // SAFETY: access() only reads the NUL-terminated path.
    unsafe { libc::access(c.as_ptr(), libc::X_OK) == 0 }
}

fn random_hex(len: usize) -> String {
    (0..len).map(|_| char::from_digit(rand::random::<u32>() % 16, 16).unwrap()).collect()
}

/// Runs sentinel mode with redis-server's command line (`--sentinel` already removed).
pub fn run(args: Vec<String>) -> i32 {
    let command_line = crate::config::parse_command_line(&args);
    let Some(file) = command_line.file.clone() else {
        eprintln!("Sentinel needs config file on disk to save state. Exiting...");
        return 1;
    };
    let config_path = std::fs::canonicalize(&file).unwrap_or_else(|_| file.clone());
    let file_text = match std::fs::read_to_string(&config_path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("Fatal error, can't open config file '{}': {e}", file.display());
            return 1;
        }
    };
    if std::fs::OpenOptions::new().append(true).open(&config_path).is_err() {
        eprintln!("Sentinel config file {} is not writable. Exiting...", config_path.display());
        return 1;
    }
    // The server directives first, checked as redis-server checks them (`dir` moves the
    // working directory before the sentinel directives are read, so script paths are
    // relative to it).
    let server_config = match crate::config::Config::load_sentinel(Some(&config_path), &command_line.options) {
        Ok(c) => c,
        Err(e) => {
            e.report(&crate::server::product());
            return 1;
        }
    };
    let directives = server_directives(&server_config);
    let all_text = format!("{file_text}\n{}", command_line.options);
    let timing = Timing::default();
    let mut config = match SentinelConfig::parse(&all_text, &timing, &executable) {
        Ok(c) => c,
        Err(e) => {
            let error = crate::config::LoadError { line_number: e.line, line: e.text, message: e.message.to_string() };
            error.report(&crate::server::product());
            return 1;
        }
    };
    let fresh_id = config.myid.is_none();
    if fresh_id {
        config.myid = Some(random_hex(40));
    }
    let logfile = directives.logfile.as_ref().map(PathBuf::from);
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return 1;
        }
    };
    runtime.block_on(async move {
        let listeners = match clients::bind(&directives.bind, directives.port).await {
            Ok(l) => l,
            Err(e) => {
                // In the log, as redis-server reports it (stderr stays empty once a logfile is set).
                let message = format!("Could not create server TCP listening socket *:{}: {e}", directives.port);
                write_log(logfile.as_deref(), 3, &message);
                return 1;
            }
        };
        let (inputs, mut received) = tokio::sync::mpsc::unbounded_channel();
        let announce_port = if config.announce_port != 0 { config.announce_port } else { directives.port };
        let options = SentinelOptions {
            myid: config.myid.clone().unwrap_or_default(),
            port: announce_port,
            announce_ip: config.announce_ip.clone(),
            timing: timing.clone(),
        };
        let machine = Sentinel::restore(options, &config.persisted(), 0);
        let state = SentinelState {
            machine,
            config,
            server_config,
            config_path,
            links: Default::default(),
            info_cache: Default::default(),
            clients: Default::default(),
            next_client_id: 1,
            scripts: Default::default(),
            next_script_id: 1,
            script_timing: ScriptTiming { max_runtime_ms: 60_000, retry_delay_ms: 30_000 },
            simfailure: 0,
            requirepass: directives.requirepass.clone(),
            users: {
                let users = crate::state::users::Users::new(clients::acl_universe());
                users.apply_requirepass(directives.requirepass.as_deref().unwrap_or(""));
                match users.from_directives(&directives.users) {
                    Ok(loaded) => {
                        users.replace_all(loaded);
                    }
                    Err(e) => {
                        eprintln!("{e}");
                        return 1;
                    }
                }
                users
            },
            port: directives.port,
            bind: directives.bind.clone(),
            run_id: random_hex(40),
            executable: std::env::current_exe().map(|p| p.display().to_string()).unwrap_or_default(),
            logfile,
            loglevel: directives.loglevel,
            maxclients: directives.maxclients,
            total_connections: 0,
            total_commands: 0,
            rejected_connections: 0,
        };
        let shared = Arc::new(SentinelShared { state: parking_lot::Mutex::new(state), inputs, started: Instant::now() });
        {
            let mut st = shared.state.lock();
            log(&st, 3, &format!("Shoal sentinel started, port {}", directives.port));
            if let Some(pidfile) = &directives.pidfile {
                let _ = std::fs::write(pidfile, format!("{}\n", std::process::id()));
            }
            if fresh_id {
                flush_config(&mut st);
            }
            let id = st.machine.myid().to_string();
            log(&st, 3, &format!("Sentinel ID is {id}"));
            for name in st.machine.master_names() {
                if let Some(addr) = st.machine.master_addr(&name) {
                    log(&st, 3, &format!("+monitor master {name} {} {}", addr.host, addr.port));
                }
            }
        }
        for listener in listeners {
            tokio::spawn(clients::accept_loop(shared.clone(), listener));
        }
        tokio::spawn(timers::tick_loop(shared.clone()));
        while let Some(input) = received.recv().await {
            let now = shared.now();
            let mut st = shared.state.lock();
            if let Input::Reply(link, Reply::Info(text)) = &input {
                if let Some(addr) = st.link_addr(*link).cloned() {
                    st.info_cache.insert(addr, (now, text.clone()));
                }
            }
            let actions = st.machine.handle(now, rand::random(), input);
            apply(&shared, &mut st, actions);
        }
        0
    })
}

/// Writes a line to the log (the `logfile`, or standard output), as redis-server formats it.
pub fn log(st: &SentinelState, level: u8, message: &str) {
    if level < st.loglevel {
        return;
    }
    write_log(st.logfile.as_deref(), level, message);
}

/// Appends one line to `logfile`, or writes it to standard output.
fn write_log(logfile: Option<&Path>, level: u8, message: &str) {
    let line = format!(
        "{}:X {} {} {message}\n",
        std::process::id(),
        timestamp(),
        LOG_CHARS[level.min(3) as usize]
    );
    match logfile {
        Some(path) => {
            if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(path) {
                let _ = f.write_all(line.as_bytes());
            }
        }
        None => {
            let _ = std::io::stdout().write_all(line.as_bytes());
        }
    }
}

/// `06 Dec 2026 16:04:05.123`, local time as redis-server logs it.
fn timestamp() -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let secs = now.as_secs() as libc::time_t;
    // SAFETY: localtime_r writes only into the tm we pass.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    unsafe { libc::localtime_r(&secs, &mut tm) };
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    format!(
        "{:02} {} {} {:02}:{:02}:{:02}.{:03}",
        tm.tm_mday,
        MONTHS[tm.tm_mon.clamp(0, 11) as usize],
        tm.tm_year + 1900,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec,
        now.subsec_millis()
    )
}

/// Carries out the machine's actions in order.
pub fn apply(shared: &Arc<SentinelShared>, st: &mut SentinelState, actions: Vec<Action>) {
    for action in actions {
        match action {
            Action::Connect { link, addr, subscribe } => {
                let setup = link_setup(st, link, addr.clone(), subscribe);
                let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
                let task = tokio::spawn(links::run(setup, shared.inputs.clone(), rx));
                st.links.insert(
                    link,
                    crate::state::sentinel::LinkHandle { addr, commands: tx, task: task.abort_handle() },
                );
            }
            Action::Close(link) => {
                if let Some(handle) = st.links.remove(&link) {
                    handle.task.abort();
                }
            }
            Action::Send(link, command) => {
                if let Some(handle) = st.links.get(&link) {
                    let _ = handle.commands.send(command);
                }
            }
            Action::Event(event) => self::event(st, &event),
            Action::ClientReconfig { master, role, state, from, to } => {
                let script = st.config.masters.iter().find(|m| m.state.name == master);
                if let Some(script) = script.and_then(|m| m.client_reconfig_script.clone()) {
                    let role = match role {
                        shoal_sentinel::ReconfigRole::Leader => "leader",
                        shoal_sentinel::ReconfigRole::Observer => "observer",
                    };
                    let argv = vec![
                        script,
                        master,
                        role.to_string(),
                        state.to_string(),
                        from.host,
                        from.port.to_string(),
                        to.host,
                        to.port.to_string(),
                    ];
                    queue_script(shared, st, argv);
                }
            }
            Action::FlushConfig => {
                flush_config(st);
            }
        }
    }
}

/// What a new link needs: the credentials and renamed commands of the master whose
/// instance it goes to (sentinel links use `sentinel-user`/`sentinel-pass`).
fn link_setup(st: &SentinelState, link: shoal_sentinel::LinkId, addr: Addr, subscribe: bool) -> links::LinkSetup {
    let myid = st.machine.myid();
    let client_name = format!("sentinel-{}", &myid[..myid.len().min(8)]);
    let mut auth = None;
    let mut renames = Vec::new();
    if subscribe {
        let owner = st.config.masters.iter().find(|m| {
            st.machine.master_addr_ref(&m.state.name) == Some(&addr)
                || m.state.addr == addr
                || st.machine.replicas(&m.state.name).contains(&addr)
        });
        if let Some(master) = owner {
            auth = master.auth_pass.clone().map(|pass| (master.auth_user.clone(), pass));
            renames = master.renamed_commands.clone();
        }
    } else if let Some(pass) = &st.config.sentinel_pass {
        auth = Some((st.config.sentinel_user.clone(), pass.clone()));
    }
    links::LinkSetup { link, addr, subscribe, auth, renames, client_name }
}

/// Logs an event, publishes it on its channel and runs the master's notification script
/// for warnings; SIMULATE-FAILURE crashes here.
fn event(st: &mut SentinelState, event: &Event) {
    let level = match event.level {
        Level::Debug => 0,
        Level::Verbose => 1,
        Level::Notice => 2,
        Level::Warning => 3,
    };
    log(st, level, &format!("{} {}", event.kind, event.text));
    if event.level != Level::Debug {
        clients::publish(st, event.kind.as_bytes(), event.text.as_bytes());
    }
    if event.level == Level::Warning {
        let script = event
            .master
            .as_ref()
            .and_then(|name| st.config.masters.iter().find(|m| m.state.name == *name))
            .and_then(|m| m.notification_script.clone());
        if let Some(script) = script {
            push_script(st, vec![script, event.kind.to_string(), event.text.clone()]);
        }
    }
    let crash = match event.kind {
        "+elected-leader" => st.simfailure & SIMFAILURE_CRASH_AFTER_ELECTION != 0,
        "+failover-state-wait-promotion" => st.simfailure & SIMFAILURE_CRASH_AFTER_PROMOTION != 0,
        _ => false,
    };
    if crash {
        log(st, 3, "Sentinel CRASH because of SENTINEL simulate-failure");
        std::process::exit(99);
    }
}

/// Redis keeps at most this many scripts queued.
const MAX_QUEUED_SCRIPTS: usize = 256;

fn push_script(st: &mut SentinelState, argv: Vec<String>) {
    if st.scripts.len() >= MAX_QUEUED_SCRIPTS {
        // The oldest one not running goes, as in redis-sentinel.
        if let Some(pos) = st.scripts.iter().position(|s| s.running_since.is_none()) {
            st.scripts.remove(pos);
        }
    }
    let id = st.next_script_id;
    st.next_script_id += 1;
    st.scripts.push_back(ScriptJob { argv, start_at: 0, retries: 0, running_since: None, pid: None, id });
}

fn queue_script(_shared: &Arc<SentinelShared>, st: &mut SentinelState, argv: Vec<String>) {
    push_script(st, argv);
}

/// Rewrites the configuration file with the machine's state (SENTINEL FLUSHCONFIG and
/// every change the machine persists).
pub fn flush_config(st: &mut SentinelState) -> bool {
    let persisted = st.machine.persisted();
    st.config.update(&persisted);
    let old = std::fs::read_to_string(&st.config_path).unwrap_or_default();
    // As redis-sentinel: the server's parameters first (those that differ from
    // redis-server's defaults are appended), then the sentinel's state.
    let old = st.server_config.rewrite_text(&old, false, Some(st.users.lines()));
    let text = st.config.rewrite(&old, st.machine.timing());
    match write_atomically(&st.config_path, &text) {
        Ok(()) => true,
        Err(e) => {
            log(st, 3, &format!("WARNING: Sentinel was not able to save the new configuration on disk!!!: {e}"));
            false
        }
    }
}

fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}

/// Closes a client connection (CLIENT KILL, SHUTDOWN).
pub fn close_client(st: &SentinelState, id: u64) -> bool {
    match st.clients.get(&id) {
        Some(c) => c.out.send(ClientOut::Close).is_ok(),
        None => false,
    }
}

/// Breaks the links to a master's data nodes (its credentials changed): the machine
/// reopens them.
pub fn drop_data_links(shared: &Arc<SentinelShared>, st: &mut SentinelState, master: &str) {
    let mut addrs = st.machine.replicas(master);
    addrs.extend(st.machine.master_addr(master));
    let gone: Vec<_> = st.links.iter().filter(|(_, h)| addrs.contains(&h.addr)).map(|(id, _)| *id).collect();
    for id in gone {
        if let Some(handle) = st.links.remove(&id) {
            handle.task.abort();
        }
        let _ = shared.inputs.send(Input::Disconnected(id));
    }
}

/// Breaks every link to other sentinels (sentinel-user / sentinel-pass changed).
pub fn drop_sentinel_links(shared: &Arc<SentinelShared>, st: &mut SentinelState) {
    let mut data = Vec::new();
    for name in st.machine.master_names() {
        data.extend(st.machine.replicas(&name));
        data.extend(st.machine.master_addr(&name));
    }
    let gone: Vec<_> = st.links.iter().filter(|(_, h)| !data.contains(&h.addr)).map(|(id, _)| *id).collect();
    for id in gone {
        if let Some(handle) = st.links.remove(&id) {
            handle.task.abort();
        }
        let _ = shared.inputs.send(Input::Disconnected(id));
    }
}
