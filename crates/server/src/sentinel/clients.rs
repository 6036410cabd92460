//! The sentinel's own clients: the listener, one task per connection, and the commands
//! redis-sentinel 7.0 answers (SENTINEL and its subcommands, INFO, PING, ROLE, CLIENT,
//! (P)SUBSCRIBE/(P)UNSUBSCRIBE, PUBLISH of hellos, AUTH, HELLO, SHUTDOWN, COMMAND);
//! anything else is refused with redis-sentinel's error. Requests are read with Shoal's
//! RESP parser; events reach subscribers through [`publish`].

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use shoal_resp::{parse_value, Protocol, ReplyBuf, Value};
use shoal_sentinel::{Addr, Event, Field, Fields, Level, MasterOption, PersistedMaster};
use shoal_types::glob::glob_match;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::{apply, close_client, drop_data_links, drop_sentinel_links, flush_config, log, HELLO_CHANNEL};
use crate::server::REDIS_VERSION;
use crate::state::acl::{Denied, Universe};
use crate::state::users::UserCell;
use crate::state::sentinel::{
    ClientOut, SentinelClient, SentinelShared, SentinelState, SIMFAILURE_CRASH_AFTER_ELECTION,
    SIMFAILURE_CRASH_AFTER_PROMOTION,
};

/// Opens the listening sockets (`bind`, or every IPv4 address).
pub async fn bind(binds: &[String], port: u16) -> std::io::Result<Vec<TcpListener>> {
    let mut listeners = Vec::new();
    let addrs: Vec<String> = if binds.is_empty() { vec!["0.0.0.0".into()] } else { binds.to_vec() };
    let mut last_error = None;
    for addr in addrs {
        let addr = addr.trim_start_matches('-');
        let addr = match addr {
            "*" => "0.0.0.0",
            "::*" => "::",
            addr => addr,
        };
        let target = if addr.contains(':') { format!("[{addr}]:{port}") } else { format!("{addr}:{port}") };
        match TcpListener::bind(target).await {
            Ok(l) => listeners.push(l),
            Err(e) => last_error = Some(e),
        }
    }
    match (listeners.is_empty(), last_error) {
        (true, Some(e)) => Err(e),
        _ => Ok(listeners),
    }
}

pub async fn accept_loop(shared: Arc<SentinelShared>, listener: TcpListener) {
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        let _ = stream.set_nodelay(true);
        tokio::spawn(serve(shared.clone(), stream));
    }
}

/// What one connection knows about itself between commands.
struct Session {
    id: u64,
    protocol: Protocol,
    authenticated: bool,
    close_after_reply: bool,
    user: Arc<UserCell>,
}

async fn serve(shared: Arc<SentinelShared>, stream: TcpStream) {
    let addr = stream.peer_addr().map(|a| a.to_string()).unwrap_or_default();
    let laddr = stream.local_addr().map(|a| a.to_string()).unwrap_or_default();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let (id, needs_auth) = {
        let mut st = shared.state.lock();
        let id = st.next_client_id;
        st.next_client_id += 1;
        st.total_connections += 1;
        if st.clients.len() as u64 >= st.maxclients {
            st.rejected_connections += 1;
            (0, false)
        } else {
        let now = Instant::now();
        st.clients.insert(
            id,
            SentinelClient {
                id,
                addr,
                laddr,
                name: String::new(),
                created: now,
                last_interaction: now,
                last_command: "NULL".into(),
                protocol: Protocol::Resp2,
                channels: Default::default(),
                patterns: Default::default(),
                user: "default".into(),
                out: tx,
            },
        );
        (id, !st.users.default_is_open())
        }
    };
    if id == 0 {
        let mut stream = stream;
        let _ = stream.write_all(b"-ERR max number of clients reached\r\n").await;
        return;
    }
    let user = shared.state.lock().users.default_user();
    let mut session =
        Session { id, protocol: Protocol::Resp2, authenticated: !needs_auth, close_after_reply: false, user };
    let (mut reader, mut writer) = stream.into_split();
    let mut buf = Vec::with_capacity(1024);
    'serve: loop {
        tokio::select! {
            read = reader.read_buf(&mut buf) => {
                if !matches!(read, Ok(n) if n > 0) {
                    break;
                }
                let mut out = Vec::new();
                loop {
                    match next_request(&mut buf) {
                        Ok(Some(args)) if args.is_empty() => continue,
                        Ok(Some(args)) => {
                            out.extend(execute(&shared, &mut session, args));
                            if session.close_after_reply {
                                let _ = writer.write_all(&out).await;
                                break 'serve;
                            }
                        }
                        Ok(None) => break,
                        Err(message) => {
                            out.extend_from_slice(format!("-ERR Protocol error: {message}\r\n").as_bytes());
                            let _ = writer.write_all(&out).await;
                            break 'serve;
                        }
                    }
                }
                if !out.is_empty() && writer.write_all(&out).await.is_err() {
                    break;
                }
            }
            message = rx.recv() => {
                match message {
                    Some(ClientOut::Data(bytes)) => {
                        if writer.write_all(&bytes).await.is_err() {
                            break;
                        }
                    }
                    Some(ClientOut::Close) | None => break,
                }
            }
        }
    }
    shared.state.lock().clients.remove(&id);
}

/// One complete request from the front of `buf` (RESP or inline), removed from it.
fn next_request(buf: &mut Vec<u8>) -> Result<Option<Vec<Vec<u8>>>, &'static str> {
    if buf.is_empty() {
        return Ok(None);
    }
    if buf[0] == b'*' {
        return match parse_value(buf) {
            Ok(Some((Value::Array(items), used))) => {
                buf.drain(..used);
                let mut args = Vec::with_capacity(items.len());
                for item in items {
                    match item {
                        Value::Bulk(b) => args.push(b),
                        _ => return Err("expected '$'"),
                    }
                }
                Ok(Some(args))
            }
            Ok(Some((Value::NullArray, used))) => {
                buf.drain(..used);
                Ok(Some(Vec::new()))
            }
            Ok(Some(_)) => Err("expected '*'"),
            Ok(None) => Ok(None),
            Err(e) => Err(e.0),
        };
    }
    let Some(end) = buf.iter().position(|&b| b == b'\n') else {
        return if buf.len() > 64 * 1024 { Err("too big inline request") } else { Ok(None) };
    };
    let line: Vec<u8> = buf.drain(..=end).collect();
    let line = line.strip_suffix(b"\n").unwrap_or(&line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    shoal_resp::inline::split_args_owned(line).map(Some).ok_or("unbalanced quotes in request")
}

fn lower(arg: &[u8]) -> String {
    String::from_utf8_lossy(arg).to_ascii_lowercase()
}

fn text(arg: &[u8]) -> String {
    String::from_utf8_lossy(arg).into_owned()
}

/// Commands redis-sentinel 7.0 knows, with their arity (negative: at least).
const COMMANDS: [(&str, i64); 15] = [
    ("acl", -2),
    ("auth", -2),
    ("client", -2),
    ("command", -1),
    ("hello", -1),
    ("info", -1),
    ("ping", -1),
    ("psubscribe", -2),
    ("publish", 3),
    ("punsubscribe", -1),
    ("role", 1),
    ("sentinel", -2),
    ("shutdown", -1),
    ("subscribe", -2),
    ("unsubscribe", -1),
];

/// The subcommands COMMAND LIST names (`client|setname` ...), as redis-sentinel 7.0 has them.
const COMMAND_SUBCOMMANDS: [(&str, &[&str]); 3] = [
    (
        "acl",
        &["cat", "deluser", "dryrun", "genpass", "getuser", "help", "list", "load", "log", "save", "setuser", "users", "whoami"],
    ),
    (
        "client",
        &[
            "caching", "getname", "getredir", "help", "id", "info", "kill", "list", "no-evict", "pause", "reply",
            "setname", "tracking", "trackinginfo", "unblock", "unpause",
        ],
    ),
    ("command", &["count", "docs", "getkeys", "getkeysandflags", "help", "info", "list"]),
];

/// SENTINEL subcommands with their arity as the command table has it.
const SUBCOMMANDS: [(&str, i64); 21] = [
    ("ckquorum", 3),
    ("config", -3),
    ("debug", -2),
    ("failover", 3),
    ("flushconfig", 2),
    ("get-master-addr-by-name", 3),
    ("help", 2),
    ("info-cache", -3),
    ("is-master-down-by-addr", 6),
    ("master", 3),
    ("masters", 2),
    ("monitor", 6),
    ("myid", 2),
    ("pending-scripts", 2),
    ("remove", 3),
    ("replicas", 3),
    ("reset", 3),
    ("sentinels", 3),
    ("set", -5),
    ("simulate-failure", -3),
    ("slaves", 3),
];

fn arity_ok(arity: i64, argc: usize) -> bool {
    let argc = argc as i64;
    if arity >= 0 {
        argc == arity
    } else {
        argc >= -arity
    }
}

fn unknown_command(out: &mut ReplyBuf, args: &[Vec<u8>]) {
    let mut beginning = String::new();
    for arg in args[1..].iter() {
        if beginning.len() >= 128 {
            break;
        }
        let shown: String = String::from_utf8_lossy(arg).chars().take(128 - beginning.len()).collect();
        beginning.push_str(&format!("'{shown}' "));
    }
    let name: String = String::from_utf8_lossy(&args[0]).chars().take(128).collect();
    out.error(&format!("ERR unknown command '{name}', with args beginning with: {beginning}"));
}

/// Runs one command and returns its reply bytes.
fn execute(shared: &Arc<SentinelShared>, session: &mut Session, args: Vec<Vec<u8>>) -> Vec<u8> {
    let mut out = ReplyBuf::new(session.protocol);
    let name = lower(&args[0]);
    let mut st = shared.state.lock();
    st.total_commands += 1;
    if let Some(c) = st.clients.get_mut(&session.id) {
        c.last_interaction = Instant::now();
        c.last_command = name.clone();
    }
    if name == "quit" {
        out.ok();
        session.close_after_reply = true;
        return out.buf;
    }
    let Some(&(_, arity)) = COMMANDS.iter().find(|(n, _)| *n == name) else {
        unknown_command(&mut out, &args);
        return out.buf;
    };
    if !arity_ok(arity, args.len()) {
        out.error(&format!("ERR wrong number of arguments for '{name}' command"));
        return out.buf;
    }
    if !session.authenticated && name != "auth" && name != "hello" {
        out.error("NOAUTH Authentication required.");
        return out.buf;
    }
    if let Err(message) = acl_check(&st, session, &args) {
        out.error(&message);
        return out.buf;
    }
    let subscribed = st.clients.get(&session.id).is_some_and(|c| !c.channels.is_empty() || !c.patterns.is_empty());
    if subscribed
        && session.protocol == Protocol::Resp2
        && !matches!(name.as_str(), "ping" | "subscribe" | "psubscribe" | "unsubscribe" | "punsubscribe" | "quit")
    {
        out.error(&format!(
            "ERR Can't execute '{name}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"
        ));
        return out.buf;
    }
    match name.as_str() {
        "ping" => ping(&mut out, &args, subscribed),
        "auth" => auth(&mut st, session, &mut out, &args),
        "hello" => hello(&mut st, session, &mut out, &args),
        "client" => client(&mut st, session, &mut out, &args),
        "command" => command(&mut out, &args),
        "info" => info(shared, &st, &mut out, &args),
        "role" => {
            let names = st.machine.master_names();
            out.array(2);
            out.bulk_str("sentinel");
            out.array(names.len());
            for n in names {
                out.bulk_str(&n);
            }
        }
        "subscribe" | "psubscribe" => subscribe(&mut st, session, &mut out, &args, name == "psubscribe"),
        "unsubscribe" | "punsubscribe" => unsubscribe(&mut st, session, &mut out, &args, name == "punsubscribe"),
        "publish" => {
            if args[1] != HELLO_CHANNEL.as_bytes() {
                out.error("ERR Only HELLO messages are accepted by Sentinel instances.");
            } else {
                let now = shared.now();
                let actions = st.machine.receive_hello(now, &text(&args[2]));
                apply(shared, &mut st, actions);
                out.int(1);
            }
        }
        "shutdown" => {
            log(&st, 3, "User requested shutdown...");
            flush_config(&mut st);
            log(&st, 3, "Sentinel is now ready to exit, bye bye...");
            std::process::exit(0);
        }
        "sentinel" => sentinel(shared, &mut st, &mut out, &args),
        "acl" => acl(&mut st, session, &mut out, &args),
        _ => unknown_command(&mut out, &args),
    }
    out.buf
}

fn ping(out: &mut ReplyBuf, args: &[Vec<u8>], subscribed: bool) {
    if args.len() > 2 {
        out.error("ERR wrong number of arguments for 'ping' command");
    } else if subscribed && !out.resp3() {
        out.array(2);
        out.bulk_str("pong");
        out.bulk(args.get(1).map_or(&b""[..], |a| a));
    } else if let Some(message) = args.get(1) {
        out.bulk(message);
    } else {
        out.simple("PONG");
    }
}

/// Logs the session in as `user` if the password fits (the same ACL core
/// as the data server); a failure is logged in ACL LOG.
fn log_in(st: &mut SentinelState, session: &mut Session, user: &[u8], pass: &[u8], command: &[u8]) -> bool {
    match st.users.get(user).filter(|u| u.rules().accepts(pass)) {
        Some(cell) => {
            if let Some(c) = st.clients.get_mut(&session.id) {
                c.user = cell.name_lossy();
            }
            session.user = cell;
            session.authenticated = true;
            true
        }
        None => {
            acl_log(st, session, user.to_vec(), "auth", command.to_vec());
            false
        }
    }
}

fn acl_log(st: &SentinelState, session: &Session, username: Vec<u8>, reason: &'static str, object: Vec<u8>) {
    let client_info = st.clients.get(&session.id).map(client_line).unwrap_or_default();
    let entry = crate::state::users::LogEntry {
        count: 1,
        reason,
        context: "toplevel",
        object,
        username,
        ctime_ms: shoal_engine::now_ms(),
        client_info,
    };
    st.users.log(entry, 128);
}

/// The commands ACL rules name on a sentinel: those it serves that are in
/// the command table (SENTINEL itself is not: only +@all allows it).
pub fn acl_universe() -> Universe {
    Universe::filtered(|name| COMMANDS.iter().any(|(n, _)| *n == name))
}

/// Checks the session's user's permissions for a command.
fn acl_check(st: &SentinelState, session: &Session, args: &[Vec<u8>]) -> Result<(), String> {
    if session.user.open() {
        return Ok(());
    }
    let argv: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
    let rules = session.user.rules();
    let (result, cmd_name) = match shoal_commands::table().resolve(&argv) {
        Some(cmd) => (rules.check(cmd, &argv).map_err(|d| (d.message(cmd), d)), cmd.name.to_string()),
        None if rules.allows_all_commands() => (Ok(()), String::new()),
        None => {
            let name = lower(&args[0]);
            let message = format!("NOPERM this user has no permissions to run the '{name}' command");
            (Err((message, Denied::Command)), name)
        }
    };
    drop(rules);
    result.map_err(|(message, denied)| {
        let object = match denied {
            Denied::Command => cmd_name.into_bytes(),
            Denied::Key(i) | Denied::Channel(i) => args[i].clone(),
        };
        acl_log(st, session, session.user.name.clone(), denied.reason(), object);
        message
    })
}

/// ACL on a sentinel: its own users, with the data server's replies.
fn acl(st: &mut SentinelState, session: &mut Session, out: &mut ReplyBuf, args: &[Vec<u8>]) {
    use crate::families::acl as replies;
    let argv: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
    let sub = lower(&args[1]);
    match shoal_commands::table().resolve(&argv) {
        Some(cmd) if !cmd.arity_ok(argv.len()) => {
            return out.error(&format!("ERR wrong number of arguments for '{}' command", cmd.name));
        }
        Some(_) => {}
        None => {
            let shown: String = text(&args[1]).chars().take(128).collect();
            return out.error(&format!("ERR unknown subcommand '{shown}'. Try ACL HELP."));
        }
    }
    let result = match (sub.as_str(), argv.len()) {
        ("setuser", n) if n >= 3 => {
            if !crate::state::acl::valid_name(argv[2]) {
                Err("ERR Usernames can't contain spaces or null characters".to_string())
            } else {
                st.users.set_user(argv[2], &argv[3..]).map(|_| out.ok()).map_err(|e| format!("ERR {e}"))
            }
        }
        ("deluser", n) if n >= 3 => {
            if argv[2..].iter().any(|n| *n == b"default") {
                Err("ERR The 'default' user cannot be removed".to_string())
            } else {
                let gone = st.users.delete(&argv[2..]);
                let names: Vec<String> = gone.iter().map(|u| u.name_lossy()).collect();
                let victims: Vec<u64> =
                    st.clients.values().filter(|c| names.contains(&c.user)).map(|c| c.id).collect();
                for id in victims {
                    if id == session.id {
                        session.close_after_reply = true;
                    } else {
                        close_client(st, id);
                    }
                }
                out.int(gone.len() as i64);
                Ok(())
            }
        }
        ("getuser", 3) => Ok(replies::getuser_reply(&st.users, out, argv[2])),
        ("users", 2) => Ok(replies::users_reply(&st.users, out)),
        ("list", 2) => Ok(replies::list_reply(&st.users, out)),
        ("whoami", 2) => Ok(out.bulk(&session.user.name)),
        ("cat", _) => replies::cat_reply(&st.users, out, &argv).map_err(|e| e.message()),
        ("genpass", _) => replies::genpass_reply(out, &argv).map_err(|e| e.message()),
        ("log", _) => replies::log_reply(&st.users, out, &argv).map_err(|e| e.message()),
        ("dryrun", n) if n >= 4 => replies::dryrun_reply(&st.users, out, &argv).map_err(|e| e.message()),
        ("load" | "save", 2) => Err(replies::NO_ACL_FILE.to_string()),
        ("help", 2) => Ok(crate::families::help::write_help(out, "ACL", replies::HELP)),
        _ => Err(crate::error::CmdError::subcommand_syntax(&argv).message()),
    };
    if let Err(message) = result {
        out.error(&message);
    }
}

fn auth(st: &mut SentinelState, session: &mut Session, out: &mut ReplyBuf, args: &[Vec<u8>]) {
    if args.len() > 3 {
        out.error("ERR syntax error");
        return;
    }
    if args.len() == 2 && st.users.default_nopass() {
        out.error(
            "ERR AUTH <password> called without any password configured for the default user. \
             Are you sure your configuration is correct?",
        );
        return;
    }
    let (user, pass) = if args.len() == 3 { (&args[1][..], &args[2][..]) } else { (&b"default"[..], &args[1][..]) };
    if log_in(st, session, user, pass, &args[0]) {
        out.ok();
    } else {
        out.error("WRONGPASS invalid username-password pair or user is disabled.");
    }
}

fn hello(st: &mut SentinelState, session: &mut Session, out: &mut ReplyBuf, args: &[Vec<u8>]) {
    let mut protocol = session.protocol;
    let mut j = 1;
    if let Some(version) = args.get(1) {
        match text(version).parse::<i64>() {
            Ok(2) => protocol = Protocol::Resp2,
            Ok(3) => protocol = Protocol::Resp3,
            Ok(_) => {
                out.error("NOPROTO unsupported protocol version");
                return;
            }
            Err(_) => {
                out.error("ERR Protocol version is not an integer or out of range");
                return;
            }
        }
        j = 2;
    }
    let mut setname = None;
    while j < args.len() {
        let more = args.len() - 1 - j;
        match lower(&args[j]).as_str() {
            "auth" if more >= 2 => {
                if !log_in(st, session, &args[j + 1], &args[j + 2], &args[0]) {
                    out.error("WRONGPASS invalid username-password pair or user is disabled.");
                    return;
                }
                j += 3;
            }
            "setname" if more >= 1 => {
                setname = Some(text(&args[j + 1]));
                j += 2;
            }
            _ => {
                out.error(&format!("ERR Syntax error in HELLO option '{}'", text(&args[j])));
                return;
            }
        }
    }
    if !session.authenticated {
        out.error("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time");
        return;
    }
    if let Some(name) = setname {
        if let Some(c) = st.clients.get_mut(&session.id) {
            c.name = name;
        }
    }
    session.protocol = protocol;
    if let Some(c) = st.clients.get_mut(&session.id) {
        c.protocol = protocol;
    }
    let mut reply = ReplyBuf::new(protocol);
    reply.map(7);
    reply.bulk_str("server");
    reply.bulk_str("redis");
    reply.bulk_str("version");
    reply.bulk_str(REDIS_VERSION);
    reply.bulk_str("proto");
    reply.int(if protocol == Protocol::Resp3 { 3 } else { 2 });
    reply.bulk_str("id");
    reply.int(session.id as i64);
    reply.bulk_str("mode");
    reply.bulk_str("sentinel");
    reply.bulk_str("role");
    reply.bulk_str("master");
    reply.bulk_str("modules");
    reply.array(0);
    out.buf = reply.buf;
    out.protocol = protocol;
}

fn client_line(c: &SentinelClient) -> String {
    let now = Instant::now();
    let flags = if !c.channels.is_empty() || !c.patterns.is_empty() { "P" } else { "N" };
    format!(
        "id={} addr={} laddr={} fd=8 name={} age={} idle={} flags={flags} db=0 sub={} psub={} ssub=0 multi=-1 \
         qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=1024 rbp=0 obl=0 oll=0 omem=0 tot-mem=0 events=r cmd={} \
         user={} redir=-1 resp={}",
        c.id,
        c.addr,
        c.laddr,
        c.name,
        now.duration_since(c.created).as_secs(),
        now.duration_since(c.last_interaction).as_secs(),
        c.channels.len(),
        c.patterns.len(),
        c.last_command,
        c.user,
        if c.protocol == Protocol::Resp3 { 3 } else { 2 }
    )
}

fn client(st: &mut SentinelState, session: &mut Session, out: &mut ReplyBuf, args: &[Vec<u8>]) {
    let sub = lower(&args[1]);
    match (sub.as_str(), args.len()) {
        ("id", 2) => out.int(session.id as i64),
        ("getname", 2) => match st.clients.get(&session.id).map(|c| c.name.clone()).filter(|n| !n.is_empty()) {
            Some(name) => out.bulk_str(&name),
            None => out.null(),
        },
        ("setname", 3) => {
            if args[2].iter().any(|&b| b <= b' ' || b > b'~') {
                out.error("ERR Client names cannot contain spaces, newlines or special characters.");
                return;
            }
            if let Some(c) = st.clients.get_mut(&session.id) {
                c.name = text(&args[2]);
            }
            out.ok();
        }
        ("info", 2) => {
            let line = st.clients.get(&session.id).map(client_line).unwrap_or_default();
            out.verbatim("txt", format!("{line}\n").as_bytes());
        }
        ("list", _) => {
            let mut wanted_type = None;
            let mut ids: Option<Vec<u64>> = None;
            let mut j = 2;
            while j < args.len() {
                match lower(&args[j]).as_str() {
                    "type" if j + 1 < args.len() => {
                        wanted_type = Some(lower(&args[j + 1]));
                        j += 2;
                    }
                    "id" if j + 1 < args.len() => {
                        let mut list = Vec::new();
                        for a in &args[j + 1..] {
                            match text(a).parse::<u64>() {
                                Ok(id) if id > 0 => list.push(id),
                                _ => {
                                    out.error("ERR Invalid client ID");
                                    return;
                                }
                            }
                        }
                        ids = Some(list);
                        j = args.len();
                    }
                    _ => {
                        out.error("ERR syntax error");
                        return;
                    }
                }
            }
            if let Some(t) = &wanted_type {
                if !matches!(t.as_str(), "normal" | "pubsub" | "master" | "replica" | "slave") {
                    out.error(&format!("ERR Unknown client type '{t}'"));
                    return;
                }
            }
            let mut text_out = String::new();
            for c in st.clients.values() {
                if ids.as_ref().is_some_and(|ids| !ids.contains(&c.id)) {
                    continue;
                }
                if !type_matches(c, wanted_type.as_deref()) {
                    continue;
                }
                text_out.push_str(&client_line(c));
                text_out.push('\n');
            }
            out.verbatim("txt", text_out.as_bytes());
        }
        ("kill", _) => client_kill(st, session, out, args),
        ("help", 2) => {
            out.array(1);
            out.simple("CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are: ID, GETNAME, SETNAME, INFO, LIST, KILL, HELP");
        }
        _ => out.error(&format!("ERR unknown subcommand '{}'. Try CLIENT HELP.", text(&args[1]))),
    }
}

fn type_matches(c: &SentinelClient, wanted: Option<&str>) -> bool {
    let pubsub = !c.channels.is_empty() || !c.patterns.is_empty();
    match wanted {
        None => true,
        Some("pubsub") => pubsub,
        Some("normal") => !pubsub,
        Some(_) => false,
    }
}

fn client_kill(st: &mut SentinelState, session: &mut Session, out: &mut ReplyBuf, args: &[Vec<u8>]) {
    if args.len() == 3 {
        let addr = text(&args[2]);
        let found = st.clients.values().find(|c| c.addr == addr).map(|c| c.id);
        match found {
            Some(id) => {
                if id == session.id {
                    session.close_after_reply = true;
                } else {
                    close_client(st, id);
                }
                out.ok();
            }
            None => out.error("ERR No such client"),
        }
        return;
    }
    if args.len() % 2 != 0 || args.len() < 4 {
        out.error("ERR syntax error");
        return;
    }
    let (mut id, mut addr, mut laddr, mut kind, mut skipme, mut user) = (None, None, None, None, true, None);
    for pair in args[2..].chunks(2) {
        let value = text(&pair[1]);
        match lower(&pair[0]).as_str() {
            "id" => match value.parse::<u64>() {
                Ok(v) if v > 0 => id = Some(v),
                _ => {
                    out.error("ERR client-id should be greater than 0");
                    return;
                }
            },
            "addr" => addr = Some(value),
            "laddr" => laddr = Some(value),
            "type" => {
                let t = value.to_ascii_lowercase();
                if !matches!(t.as_str(), "normal" | "pubsub" | "master" | "replica" | "slave") {
                    out.error(&format!("ERR Unknown client type '{value}'"));
                    return;
                }
                kind = Some(t);
            }
            "skipme" => match value.to_ascii_lowercase().as_str() {
                "yes" => skipme = true,
                "no" => skipme = false,
                _ => {
                    out.error("ERR syntax error");
                    return;
                }
            },
            "user" => user = Some(value),
            _ => {
                out.error("ERR syntax error");
                return;
            }
        }
    }
    if let Some(name) = user.as_deref().filter(|u| st.users.get(u.as_bytes()).is_none()) {
        out.error(&format!("ERR No such user '{name}'"));
        return;
    }
    let victims: Vec<u64> = st
        .clients
        .values()
        .filter(|c| id.is_none_or(|i| c.id == i))
        .filter(|c| addr.as_ref().is_none_or(|a| c.addr == *a))
        .filter(|c| laddr.as_ref().is_none_or(|a| c.laddr == *a))
        .filter(|c| kind.is_none() || type_matches(c, kind.as_deref()))
        .filter(|c| user.as_ref().is_none_or(|u| c.user == *u))
        .filter(|c| !(skipme && c.id == session.id))
        .map(|c| c.id)
        .collect();
    for victim in &victims {
        if *victim == session.id {
            session.close_after_reply = true;
        } else {
            close_client(st, *victim);
        }
    }
    out.int(victims.len() as i64);
}

fn command(out: &mut ReplyBuf, args: &[Vec<u8>]) {
    let sub = args.get(1).map(|a| lower(a));
    match sub.as_deref() {
        None => {
            out.array(COMMANDS.len());
            for (name, arity) in COMMANDS {
                out.array(10);
                out.bulk_str(name);
                out.int(arity);
                out.set(0);
                out.int(0);
                out.int(0);
                out.int(0);
                out.set(0);
                out.set(0);
                out.array(0);
                out.array(0);
            }
        }
        Some("count") => out.int(COMMANDS.len() as i64),
        Some("list") => {
            let mut names: Vec<String> = Vec::new();
            for (name, _) in COMMANDS {
                names.push(name.to_string());
                if name == "sentinel" {
                    names.extend(SUBCOMMANDS.iter().map(|(sub, _)| format!("sentinel|{sub}")));
                }
                if let Some((_, subs)) = COMMAND_SUBCOMMANDS.iter().find(|(n, _)| *n == name) {
                    names.extend(subs.iter().map(|sub| format!("{name}|{sub}")));
                }
            }
            out.array(names.len());
            for name in names {
                out.bulk_str(&name);
            }
        }
        Some(_) => out.error(&format!("ERR unknown subcommand '{}'. Try COMMAND HELP.", text(&args[1]))),
    }
}

fn subscribe(st: &mut SentinelState, session: &mut Session, out: &mut ReplyBuf, args: &[Vec<u8>], pattern: bool) {
    let Some(client) = st.clients.get_mut(&session.id) else { return };
    for name in &args[1..] {
        if pattern {
            client.patterns.insert(name.clone());
        } else {
            client.channels.insert(name.clone());
        }
        let count = client.channels.len() + client.patterns.len();
        out.push(3);
        out.bulk_str(if pattern { "psubscribe" } else { "subscribe" });
        out.bulk(name);
        out.int(count as i64);
    }
}

fn unsubscribe(st: &mut SentinelState, session: &mut Session, out: &mut ReplyBuf, args: &[Vec<u8>], pattern: bool) {
    let Some(client) = st.clients.get_mut(&session.id) else { return };
    let kind = if pattern { "punsubscribe" } else { "unsubscribe" };
    let mut names: Vec<Vec<u8>> = args[1..].to_vec();
    if names.is_empty() {
        names = if pattern { client.patterns.iter().cloned().collect() } else { client.channels.iter().cloned().collect() };
        names.sort();
        if names.is_empty() {
            out.push(3);
            out.bulk_str(kind);
            out.null();
            out.int((client.channels.len() + client.patterns.len()) as i64);
            return;
        }
    }
    for name in names {
        if pattern {
            client.patterns.remove(&name);
        } else {
            client.channels.remove(&name);
        }
        out.push(3);
        out.bulk_str(kind);
        out.bulk(&name);
        out.int((client.channels.len() + client.patterns.len()) as i64);
    }
}

/// Sends an event to the clients subscribed to its channel, or to a pattern matching it.
pub fn publish(st: &SentinelState, channel: &[u8], message: &[u8]) {
    for client in st.clients.values() {
        let mut reply = ReplyBuf::new(client.protocol);
        if client.channels.contains(channel) {
            reply.push(3);
            reply.bulk_str("message");
            reply.bulk(channel);
            reply.bulk(message);
        }
        for pattern in &client.patterns {
            if glob_match(pattern, channel, false) {
                reply.push(4);
                reply.bulk_str("pmessage");
                reply.bulk(pattern);
                reply.bulk(channel);
                reply.bulk(message);
            }
        }
        if !reply.is_empty() {
            let _ = client.out.send(ClientOut::Data(reply.buf));
        }
    }
}

fn rusage(who: libc::c_int) -> (f64, f64) {
    // SAFETY: getrusage writes only into the struct we pass.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(who, &mut usage) };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    (secs(usage.ru_stime), secs(usage.ru_utime))
}

fn info(shared: &Arc<SentinelShared>, st: &SentinelState, out: &mut ReplyBuf, args: &[Vec<u8>]) {
    const SECTIONS: [&str; 5] = ["server", "clients", "stats", "cpu", "sentinel"];
    let mut wanted: Vec<&str> = Vec::new();
    let requested: Vec<String> = args[1..].iter().map(|a| lower(a)).collect();
    if requested.is_empty() || requested.iter().any(|r| matches!(r.as_str(), "all" | "default" | "everything")) {
        wanted.extend(SECTIONS);
    } else {
        for section in SECTIONS {
            if requested.iter().any(|r| r == section) {
                wanted.push(section);
            }
        }
    }
    let uptime = shared.started.elapsed().as_secs();
    let mut parts = Vec::new();
    for section in wanted {
        let body = match section {
            "server" => format!(
                "# Server\r\nredis_version:{REDIS_VERSION}\r\nredis_git_sha1:00000000\r\nredis_git_dirty:0\r\n\
                 redis_build_id:0\r\nredis_mode:sentinel\r\nos:{} {}\r\narch_bits:64\r\n\
                 monotonic_clock:POSIX clock_gettime\r\nmultiplexing_api:epoll\r\natomicvar_api:c11-builtin\r\n\
                 gcc_version:0.0.0\r\nprocess_id:{}\r\nprocess_supervised:no\r\nrun_id:{}\r\ntcp_port:{}\r\n\
                 server_time_usec:{}\r\nuptime_in_seconds:{uptime}\r\nuptime_in_days:{}\r\nhz:10\r\n\
                 configured_hz:10\r\nlru_clock:0\r\nexecutable:{}\r\nconfig_file:{}\r\nio_threads_active:0\r\n",
                std::env::consts::OS,
                std::env::consts::ARCH,
                std::process::id(),
                st.run_id,
                st.port,
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_micros(),
                uptime / 86400,
                st.executable,
                st.config_path.display()
            ),
            "clients" => format!(
                "# Clients\r\nconnected_clients:{}\r\ncluster_connections:0\r\nmaxclients:{}\r\n\
                 client_recent_max_input_buffer:0\r\nclient_recent_max_output_buffer:0\r\nblocked_clients:0\r\n\
                 tracking_clients:0\r\nclients_in_timeout_table:0\r\n",
                st.clients.len(),
                st.maxclients
            ),
            "cpu" => {
                let (sys, user) = rusage(libc::RUSAGE_SELF);
                let (csys, cuser) = rusage(libc::RUSAGE_CHILDREN);
                format!(
                    "# CPU\r\nused_cpu_sys:{sys:.6}\r\nused_cpu_user:{user:.6}\r\nused_cpu_sys_children:{csys:.6}\r\n\
                     used_cpu_user_children:{cuser:.6}\r\nused_cpu_sys_main_thread:{sys:.6}\r\n\
                     used_cpu_user_main_thread:{user:.6}\r\n"
                )
            }
            "stats" => {
                let channels: usize = st.clients.values().map(|c| c.channels.len()).sum();
                let patterns: usize = st.clients.values().map(|c| c.patterns.len()).sum();
                format!(
                    "# Stats\r\ntotal_connections_received:{}\r\ntotal_commands_processed:{}\r\n\
                     instantaneous_ops_per_sec:0\r\ntotal_net_input_bytes:0\r\ntotal_net_output_bytes:0\r\n\
                     rejected_connections:{}\r\nexpired_keys:0\r\nevicted_keys:0\r\nkeyspace_hits:0\r\n\
                     keyspace_misses:0\r\npubsub_channels:{channels}\r\npubsub_patterns:{patterns}\r\n\
                     total_forks:0\r\n",
                    st.total_connections, st.total_commands, st.rejected_connections
                )
            }
            _ => sentinel_info(shared, st),
        };
        parts.push(body);
    }
    out.bulk(parts.join("\r\n").as_bytes());
}

fn sentinel_info(shared: &Arc<SentinelShared>, st: &SentinelState) -> String {
    let (tilt, tilt_since, masters) = st.machine.info_masters(shared.now());
    let running = st.scripts.iter().filter(|s| s.running_since.is_some()).count();
    let mut text = format!(
        "# Sentinel\r\nsentinel_masters:{}\r\nsentinel_tilt:{}\r\nsentinel_tilt_since_seconds:{tilt_since}\r\n\
         sentinel_running_scripts:{running}\r\nsentinel_scripts_queue_length:{}\r\n\
         sentinel_simulate_failure_flags:{}\r\n",
        masters.len(),
        tilt as u8,
        st.scripts.len() - running,
        st.simfailure
    );
    for line in masters {
        text.push_str(&line);
        text.push_str("\r\n");
    }
    text
}

const SENTINEL_HELP: [&str; 44] = [
    "CKQUORUM <master-name>",
    "    Check if the current Sentinel configuration is able to reach the quorum",
    "    needed to failover a master and the majority needed to authorize the",
    "    failover.",
    "CONFIG SET <param> <value>",
    "    Set a global Sentinel configuration parameter.",
    "CONFIG GET <param>",
    "    Get global Sentinel configuration parameter.",
    "DEBUG [<param> <value> ...]",
    "    Show a list of configurable time parameters and their values (milliseconds).",
    "    Or update current configurable parameters values (one or more).",
    "GET-MASTER-ADDR-BY-NAME <master-name>",
    "    Return the ip and port number of the master with that name.",
    "FAILOVER <master-name>",
    "    Manually failover a master node without asking for agreement from other",
    "    Sentinels",
    "FLUSHCONFIG",
    "    Force Sentinel to rewrite its configuration on disk, including the current",
    "    Sentinel state.",
    "INFO-CACHE <master-name>",
    "    Return last cached INFO output from masters and all its replicas.",
    "IS-MASTER-DOWN-BY-ADDR <ip> <port> <current-epoch> <runid>",
    "    Check if the master specified by ip:port is down from current Sentinel's",
    "    point of view.",
    "MASTER <master-name>",
    "    Show the state and info of the specified master.",
    "MASTERS",
    "    Show a list of monitored masters and their state.",
    "MONITOR <name> <ip> <port> <quorum>",
    "    Start monitoring a new master with the specified name, ip, port and quorum.",
    "MYID",
    "    Return the ID of the Sentinel instance.",
    "PENDING-SCRIPTS",
    "    Get pending scripts information.",
    "REMOVE <master-name>",
    "    Remove master from Sentinel's monitor list.",
    "REPLICAS <master-name>",
    "    Show a list of replicas for this master and their state.",
    "RESET <pattern>",
    "    Reset masters for specific master name matching this pattern.",
    "SENTINELS <master-name>",
    "    Show a list of Sentinel instances for this master and their state.",
    "SET <master-name> <option> <value> [<option> <value> ...]",
    "    Set configuration parameters for certain masters.",
];

/// The address a reply shows for a host: the host itself with `announce-hostnames yes`
/// (or when it is an IP address), else the address it resolves to, as redis-sentinel does.
fn announced(st: &SentinelState, host: &str) -> String {
    if st.config.announce_hostnames || host.parse::<IpAddr>().is_ok() {
        return host.to_string();
    }
    use std::net::ToSocketAddrs;
    let resolved: Vec<_> = (host, 0).to_socket_addrs().map(|a| a.collect()).unwrap_or_default();
    let first = resolved.iter().find(|a: &&std::net::SocketAddr| a.is_ipv4()).or(resolved.first());
    first.map_or_else(|| host.to_string(), |a| a.ip().to_string())
}

fn fields_reply(st: &SentinelState, out: &mut ReplyBuf, fields: &Fields) {
    out.map(fields.len());
    for (name, value) in fields {
        out.bulk_str(name);
        match value {
            Field::Text(t) if *name == "ip" => out.bulk_str(&announced(st, t)),
            Field::Text(t) => out.bulk_str(t),
            Field::Int(n) => out.bulk_i64(*n),
        }
    }
}

/// A master's fields with the driver's script options appended, as redis-sentinel lists them.
fn master_fields(st: &SentinelState, now: u64, name: &str) -> Option<Fields> {
    let mut fields = st.machine.describe_master(now, name)?;
    if let Some(master) = st.config.masters.iter().find(|m| m.state.name == name) {
        if let Some(s) = &master.notification_script {
            fields.push(("notification-script", Field::Text(s.clone())));
        }
        if let Some(s) = &master.client_reconfig_script {
            fields.push(("client-reconfig-script", Field::Text(s.clone())));
        }
    }
    Some(fields)
}

fn no_such_master(out: &mut ReplyBuf) {
    out.error("ERR No such master with that name");
}

fn flush_and_reply(st: &mut SentinelState, out: &mut ReplyBuf) {
    if flush_config(st) {
        out.ok();
    } else {
        out.error("ERR Failed to save config file. Check server logs.");
    }
}

/// `master <name> <ip> <port>`, how events name a master.
fn master_ident(st: &SentinelState, now: u64, name: &str) -> String {
    let fields = st.machine.describe_master(now, name).unwrap_or_default();
    let get = |key: &str| {
        fields.iter().find(|(k, _)| *k == key).map(|(_, v)| match v {
            Field::Text(t) => t.clone(),
            Field::Int(n) => n.to_string(),
        })
    };
    format!("master {name} {} {}", get("ip").unwrap_or_default(), get("port").unwrap_or_default())
}

fn sentinel(shared: &Arc<SentinelShared>, st: &mut SentinelState, out: &mut ReplyBuf, args: &[Vec<u8>]) {
    let sub = lower(&args[1]);
    let now = shared.now();
    let Some(&(_, arity)) = SUBCOMMANDS.iter().find(|(n, _)| *n == sub) else {
        out.error(&format!("ERR unknown subcommand '{}'. Try SENTINEL HELP.", text(&args[1])));
        return;
    };
    if !arity_ok(arity, args.len()) {
        out.error(&format!("ERR wrong number of arguments for 'sentinel|{sub}' command"));
        return;
    }
    let name = args.get(2).map(|a| text(a)).unwrap_or_default();
    match sub.as_str() {
        "help" => {
            out.array(SENTINEL_HELP.len() + 5);
            out.simple("SENTINEL <subcommand> [<arg> [value] [opt] ...]. Subcommands are:");
            for line in SENTINEL_HELP {
                out.simple(line);
            }
            out.simple("SIMULATE-FAILURE [CRASH-AFTER-ELECTION] [CRASH-AFTER-PROMOTION] [HELP]");
            out.simple("    Simulate a Sentinel crash.");
            out.simple("HELP");
            out.simple("    Prints this help.");
        }
        "masters" => {
            let names = st.machine.master_names();
            out.array(names.len());
            for n in names {
                let fields = master_fields(st, now, &n).unwrap_or_default();
                fields_reply(st, out, &fields);
            }
        }
        "master" => match master_fields(st, now, &name) {
            Some(fields) => fields_reply(st, out, &fields),
            None => no_such_master(out),
        },
        "replicas" | "slaves" => match st.machine.describe_replicas(now, &name) {
            Some(list) => {
                out.array(list.len());
                for fields in list {
                    fields_reply(st, out, &fields);
                }
            }
            None => no_such_master(out),
        },
        "sentinels" => match st.machine.describe_sentinels(now, &name) {
            Some(list) => {
                out.array(list.len());
                for fields in list {
                    fields_reply(st, out, &fields);
                }
            }
            None => no_such_master(out),
        },
        "myid" => out.bulk_str(st.machine.myid()),
        "is-master-down-by-addr" => {
            let Ok(port) = text(&args[3]).parse::<i64>() else {
                out.error("ERR value is not an integer or out of range");
                return;
            };
            let Ok(epoch) = text(&args[4]).parse::<i64>() else {
                out.error("ERR value is not an integer or out of range");
                return;
            };
            let runid = text(&args[5]);
            let runid = (runid != "*").then_some(runid.as_str());
            let addr = Addr::new(text(&args[2]), port.clamp(0, 65535) as u16);
            let (reply, actions) = st.machine.is_master_down_by_addr(now, rand::random(), &addr, epoch.max(0) as u64, runid);
            apply(shared, st, actions);
            out.array(3);
            out.int(reply.down as i64);
            out.bulk_str(reply.leader.as_deref().unwrap_or("*"));
            out.int(reply.leader_epoch as i64);
        }
        "reset" => {
            let (count, actions) = st.machine.reset(now, &name);
            apply(shared, st, actions);
            out.int(count as i64);
        }
        "get-master-addr-by-name" => match st.machine.master_addr(&name) {
            Some(addr) => {
                out.array(2);
                out.bulk_str(&announced(st, &addr.host));
                out.bulk_i64(addr.port as i64);
            }
            None => out.null_array(),
        },
        "failover" => match st.machine.force_failover(now, rand::random(), &name) {
            Ok(actions) => {
                log(st, 3, &format!("Executing user requested FAILOVER of '{name}'"));
                apply(shared, st, actions);
                out.ok();
            }
            Err(message) if message.starts_with("No such") => no_such_master(out),
            Err(message) => out.error(message),
        },
        "pending-scripts" => {
            out.array(st.scripts.len());
            for job in &st.scripts {
                out.map(5);
                out.bulk_str("argv");
                out.array(job.argv.len());
                for a in &job.argv {
                    out.bulk_str(a);
                }
                out.bulk_str("flags");
                out.bulk_str(if job.running_since.is_some() { "running" } else { "scheduled" });
                out.bulk_str("pid");
                out.bulk_i64(job.pid.unwrap_or(0) as i64);
                match job.running_since {
                    Some(since) => {
                        out.bulk_str("run-time");
                        out.bulk_i64(now.saturating_sub(since) as i64);
                    }
                    None => {
                        out.bulk_str("run-delay");
                        out.bulk_i64(job.start_at.saturating_sub(now) as i64);
                    }
                }
                out.bulk_str("retry-num");
                out.bulk_i64(job.retries as i64);
            }
        }
        "monitor" => monitor(shared, st, out, args, now),
        "flushconfig" => flush_and_reply(st, out),
        "remove" => match st.machine.remove(now, &name) {
            Some(actions) => {
                apply(shared, st, actions);
                st.info_cache.retain(|_, _| true);
                flush_and_reply(st, out);
            }
            None => no_such_master(out),
        },
        "ckquorum" => match st.machine.check_quorum(&name) {
            Some(check) => {
                let line = check.reply();
                if let Some(error) = line.strip_prefix('-') {
                    out.error(error);
                } else {
                    out.simple(line.trim_start_matches('+'));
                }
            }
            None => no_such_master(out),
        },
        "set" => set(shared, st, out, args, now),
        "config" => config(shared, st, out, args),
        "info-cache" => {
            let names: Vec<String> = if args.len() > 2 {
                args[2..].iter().map(|a| text(a)).filter(|n| st.machine.master_names().contains(n)).collect()
            } else {
                st.machine.master_names()
            };
            out.array(names.len() * 2);
            for n in names {
                out.bulk_str(&n);
                let fields = st.machine.describe_master(now, &n).unwrap_or_default();
                let field = |key: &str| fields.iter().find(|(k, _)| *k == key).map(|(_, v)| v.clone());
                let master_addr = match (field("ip"), field("port")) {
                    (Some(Field::Text(ip)), Some(Field::Int(port))) => Some(Addr::new(ip, port as u16)),
                    _ => None,
                };
                let replicas = st.machine.replicas(&n);
                out.array(replicas.len() + 1);
                for addr in master_addr.iter().chain(replicas.iter()) {
                    out.array(2);
                    match st.info_cache.get(addr) {
                        Some((at, info)) => {
                            out.int(now.saturating_sub(*at) as i64);
                            out.bulk_str(info);
                        }
                        None => {
                            out.int(0);
                            out.null();
                        }
                    }
                }
            }
        }
        "simulate-failure" => {
            st.simfailure = 0;
            for arg in &args[2..] {
                match lower(arg).as_str() {
                    "crash-after-election" => {
                        st.simfailure |= SIMFAILURE_CRASH_AFTER_ELECTION;
                        log(st, 3, "Failure simulation: this Sentinel will crash after being successfully elected as failover leader");
                    }
                    "crash-after-promotion" => {
                        st.simfailure |= SIMFAILURE_CRASH_AFTER_PROMOTION;
                        log(st, 3, "Failure simulation: this Sentinel will crash after promoting the selected replica to master");
                    }
                    "help" => {
                        out.array(2);
                        out.bulk_str("crash-after-election");
                        out.bulk_str("crash-after-promotion");
                        return;
                    }
                    _ => {
                        out.error("ERR Unknown failure simulation specified");
                        return;
                    }
                }
            }
            out.ok();
        }
        "debug" => debug(st, out, args),
        _ => out.error(&format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try SENTINEL HELP.",
            text(&args[1])
        )),
    }
}

fn monitor(shared: &Arc<SentinelShared>, st: &mut SentinelState, out: &mut ReplyBuf, args: &[Vec<u8>], now: u64) {
    let Ok(quorum) = text(&args[5]).parse::<i64>() else {
        out.error("ERR Invalid quorum");
        return;
    };
    let Ok(port) = text(&args[4]).parse::<i64>() else {
        out.error("ERR Invalid port");
        return;
    };
    if quorum <= 0 {
        out.error("ERR Quorum must be 1 or greater.");
        return;
    }
    let host = text(&args[3]);
    if !st.config.resolve_hostnames && host.parse::<IpAddr>().is_err() {
        out.error("ERR Invalid IP address or hostname specified");
        return;
    }
    if !(0..=65535).contains(&port) {
        out.error("ERR Invalid port number");
        return;
    }
    let name = text(&args[2]);
    let settings = PersistedMaster::new(&name, Addr::new(host, port as u16), quorum as u32, st.machine.timing());
    match st.machine.monitor(now, settings) {
        Ok(actions) => {
            // The reply follows the configuration's flush, the event after it, as in redis-sentinel.
            let (flushes, rest): (Vec<_>, Vec<_>) =
                actions.into_iter().partition(|a| matches!(a, shoal_sentinel::Action::FlushConfig));
            let _ = flushes;
            flush_and_reply(st, out);
            apply(shared, st, rest);
        }
        Err("Duplicated master name") => out.error("ERR Duplicate master name."),
        Err(message) => out.error(&format!("ERR {message}")),
    }
}

fn set(shared: &Arc<SentinelShared>, st: &mut SentinelState, out: &mut ReplyBuf, args: &[Vec<u8>], now: u64) {
    let name = text(&args[2]);
    if st.machine.describe_master(now, &name).is_none() {
        no_such_master(out);
        return;
    }
    let mut changes = 0;
    let mut j = 3;
    let result: Result<(), String> = loop {
        if j >= args.len() {
            break Ok(());
        }
        let option = text(&args[j]);
        let lower_option = option.to_ascii_lowercase();
        let more = args.len() - 1 - j;
        let bad = |value: &[u8]| format!("ERR Invalid argument '{}' for SENTINEL SET '{option}'", text(value));
        let number = |value: &[u8]| text(value).parse::<i64>().ok();
        let machine_option = match lower_option.as_str() {
            "down-after-milliseconds" | "failover-timeout" | "parallel-syncs" | "quorum" if more > 0 => {
                match number(&args[j + 1]).filter(|&v| v > 0) {
                    Some(v) => Some(match lower_option.as_str() {
                        "down-after-milliseconds" => MasterOption::DownAfterMs(v as u64),
                        "failover-timeout" => MasterOption::FailoverTimeoutMs(v as u64),
                        "parallel-syncs" => MasterOption::ParallelSyncs(v as u32),
                        _ => MasterOption::Quorum(v as u32),
                    }),
                    None => break Err(bad(&args[j + 1])),
                }
            }
            "master-reboot-down-after-period" if more > 0 => match number(&args[j + 1]).filter(|&v| v >= 0) {
                Some(v) => Some(MasterOption::MasterRebootDownAfterMs(v as u64)),
                None => break Err(bad(&args[j + 1])),
            },
            _ => None,
        };
        if let Some(option_value) = machine_option {
            let event_text = format!("{option} {}", text(&args[j + 1]));
            if let Some(actions) = st.machine.set_option(now, &name, option_value, &event_text) {
                apply(shared, st, actions);
            }
            changes += 1;
            j += 2;
            continue;
        }
        let Some(index) = st.config.masters.iter().position(|m| m.state.name == name) else {
            // Known to the machine but not yet to the config: write it first.
            flush_config(st);
            continue;
        };
        let ident = master_ident(st, now, &name);
        let event_text;
        match lower_option.as_str() {
            "notification-script" | "client-reconfig-script" if more > 0 => {
                let value = text(&args[j + 1]);
                if st.config.deny_scripts_reconfig {
                    break Err("ERR Reconfiguration of scripts path is denied for security reasons. Check the \
                               deny-scripts-reconfig configuration directive in your Sentinel configuration"
                        .into());
                }
                let notification = lower_option == "notification-script";
                if !value.is_empty() && !super::executable(&value) {
                    break Err(if notification {
                        "ERR Notification script seems non existing or non executable".into()
                    } else {
                        "ERR Client reconfiguration script seems non existing or non executable".into()
                    });
                }
                let master = &mut st.config.masters[index];
                let slot =
                    if notification { &mut master.notification_script } else { &mut master.client_reconfig_script };
                *slot = (!value.is_empty()).then_some(value.clone());
                event_text = format!("{ident} {option} {value}");
                j += 2;
            }
            "auth-pass" | "auth-user" if more > 0 => {
                let value = text(&args[j + 1]);
                let master = &mut st.config.masters[index];
                if lower_option == "auth-pass" {
                    master.auth_pass = (!value.is_empty()).then_some(value);
                    event_text = format!("{ident} {option} ******");
                } else {
                    master.auth_user = (!value.is_empty()).then_some(value.clone());
                    event_text = format!("{ident} {option} {value}");
                }
                drop_data_links(shared, st, &name);
                j += 2;
            }
            "rename-command" if more > 1 => {
                let (from, to) = (text(&args[j + 1]), text(&args[j + 2]));
                if from.is_empty() || to.is_empty() {
                    let bad_arg = if to.is_empty() { &args[j + 2] } else { &args[j + 1] };
                    break Err(bad(bad_arg));
                }
                let master = &mut st.config.masters[index];
                master.renamed_commands.retain(|(f, _)| !f.eq_ignore_ascii_case(&from));
                if !from.eq_ignore_ascii_case(&to) {
                    master.renamed_commands.push((from.clone(), to.clone()));
                }
                event_text = format!("{ident} {option} {from} {to}");
                // Commands are named when a link opens: reopen the links.
                drop_data_links(shared, st, &name);
                j += 3;
            }
            _ => break Err(format!("ERR Unknown option or number of arguments for SENTINEL SET '{option}'")),
        }
        changes += 1;
        let event = Event { level: Level::Warning, kind: "+set", text: event_text, master: Some(name.clone()) };
        super::event(st, &event);
    };
    match result {
        Ok(()) => {
            if changes > 0 {
                flush_and_reply(st, out);
            } else {
                out.ok();
            }
        }
        Err(message) => {
            out.error(&message);
            if changes > 0 {
                flush_config(st);
            }
        }
    }
}

fn config(shared: &Arc<SentinelShared>, st: &mut SentinelState, out: &mut ReplyBuf, args: &[Vec<u8>]) {
    let action = lower(&args[2]);
    if action == "set" && args.len() == 5 {
        let option = lower(&args[3]);
        let value = text(&args[4]);
        let yes_no = |v: &str| match v.to_ascii_lowercase().as_str() {
            "yes" => Some(true),
            "no" => Some(false),
            _ => None,
        };
        let bad = format!("ERR Invalid value '{value}' to SENTINEL CONFIG SET '{}'", text(&args[3]));
        let mut drop_links = false;
        match option.as_str() {
            "resolve-hostnames" => match yes_no(&value) {
                Some(b) => st.config.resolve_hostnames = b,
                None => return out.error(&bad),
            },
            "announce-hostnames" => match yes_no(&value) {
                Some(b) => st.config.announce_hostnames = b,
                None => return out.error(&bad),
            },
            "announce-ip" => st.config.announce_ip = (!value.is_empty()).then_some(value.clone()),
            "announce-port" => match value.parse::<i64>() {
                Ok(p) if (0..=65535).contains(&p) => st.config.announce_port = p as u16,
                _ => return out.error(&bad),
            },
            "sentinel-user" => {
                st.config.sentinel_user = (!value.is_empty()).then_some(value.clone());
                drop_links = true;
            }
            "sentinel-pass" => {
                st.config.sentinel_pass = (!value.is_empty()).then_some(value.clone());
                drop_links = true;
            }
            _ => {
                out.error(&format!("ERR Invalid argument '{}' to SENTINEL CONFIG SET", text(&args[3])));
                return;
            }
        }
        let port = if st.config.announce_port != 0 { st.config.announce_port } else { st.port };
        let ip = st.config.announce_ip.clone();
        st.machine.set_announce(ip, port);
        flush_and_reply(st, out);
        if drop_links {
            drop_sentinel_links(shared, st);
        }
    } else if action == "get" && args.len() == 4 {
        let pattern = &args[3];
        let c = &st.config;
        let entries = [
            ("resolve-hostnames", if c.resolve_hostnames { "yes" } else { "no" }.to_string()),
            ("announce-hostnames", if c.announce_hostnames { "yes" } else { "no" }.to_string()),
            ("announce-ip", c.announce_ip.clone().unwrap_or_default()),
            ("announce-port", c.announce_port.to_string()),
            ("sentinel-user", c.sentinel_user.clone().unwrap_or_default()),
            ("sentinel-pass", c.sentinel_pass.clone().unwrap_or_default()),
        ];
        let matching: Vec<_> = entries.iter().filter(|(k, _)| glob_match(pattern, k.as_bytes(), true)).collect();
        out.map(matching.len());
        for (k, v) in matching {
            out.bulk_str(k);
            out.bulk_str(v);
        }
    } else {
        out.error("ERR Only SENTINEL CONFIG GET <option> / SET <option> <value> are supported.");
    }
}

fn debug(st: &mut SentinelState, out: &mut ReplyBuf, args: &[Vec<u8>]) {
    let mut timing = st.machine.timing().clone();
    let mut scripts = st.script_timing.clone();
    if args.len() == 2 {
        let entries = [
            ("INFO-PERIOD", timing.info_period_ms),
            ("PING-PERIOD", timing.ping_period_ms),
            ("ASK-PERIOD", timing.ask_period_ms),
            ("PUBLISH-PERIOD", timing.publish_period_ms),
            ("DEFAULT-DOWN-AFTER", timing.default_down_after_ms),
            ("DEFAULT-FAILOVER-TIMEOUT", timing.default_failover_timeout_ms),
            ("TILT-TRIGGER", timing.tilt_trigger_ms),
            ("TILT-PERIOD", timing.tilt_period_ms),
            ("SLAVE-RECONF-TIMEOUT", timing.slave_reconf_timeout_ms),
            ("MIN-LINK-RECONNECT-PERIOD", timing.min_link_reconnect_period_ms),
            ("ELECTION-TIMEOUT", timing.election_timeout_ms),
            ("SCRIPT-MAX-RUNTIME", scripts.max_runtime_ms),
            ("SCRIPT-RETRY-DELAY", scripts.retry_delay_ms),
        ];
        out.map(entries.len());
        for (k, v) in entries {
            out.bulk_str(k);
            out.bulk_i64(v as i64);
        }
        return;
    }
    let mut j = 2;
    while j < args.len() {
        let option = text(&args[j]);
        let more = args.len() - 1 - j;
        if more == 0 {
            out.error(&format!("ERR Unknown option or number of arguments for SENTINEL DEBUG '{option}'"));
            return;
        }
        let value = text(&args[j + 1]).parse::<i64>().ok().filter(|&v| v > 0);
        let slot: &mut u64 = match option.to_ascii_lowercase().as_str() {
            "info-period" => &mut timing.info_period_ms,
            "ping-period" => &mut timing.ping_period_ms,
            "ask-period" => &mut timing.ask_period_ms,
            "publish-period" => &mut timing.publish_period_ms,
            "default-down-after" => &mut timing.default_down_after_ms,
            "tilt-trigger" => &mut timing.tilt_trigger_ms,
            "tilt-period" => &mut timing.tilt_period_ms,
            "slave-reconf-timeout" => &mut timing.slave_reconf_timeout_ms,
            "min-link-reconnect-period" => &mut timing.min_link_reconnect_period_ms,
            "default-failover-timeout" => &mut timing.default_failover_timeout_ms,
            "election-timeout" => &mut timing.election_timeout_ms,
            "script-max-runtime" => &mut scripts.max_runtime_ms,
            "script-retry-delay" => &mut scripts.retry_delay_ms,
            _ => {
                out.error(&format!("ERR Unknown option or number of arguments for SENTINEL DEBUG '{option}'"));
                return;
            }
        };
        match value {
            Some(v) => *slot = v as u64,
            None => {
                out.error(&format!("ERR Invalid argument '{}' for SENTINEL DEBUG '{option}'", text(&args[j + 1])));
                return;
            }
        }
        j += 2;
    }
    st.machine.set_timing(timing);
    st.script_timing = scripts;
    out.ok();
}
