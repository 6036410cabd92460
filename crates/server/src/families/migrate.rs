//! MIGRATE: moves keys to another server (Redis or Shoal) as Redis 7.0
//! does: each key's value in DUMP form is sent as `RESTORE key ttl payload
//! [REPLACE]` (after `AUTH` and `SELECT` when needed, all pipelined), and
//! the keys the target acknowledged are deleted here unless COPY; the
//! deletion propagates as `DEL`. Connections to targets are cached
//! (`state::migrate`).
//!
//! Redis blocks its whole server for the exchange. Here the command runs
//! in two halves around it (`exec::Suspended`): the first, under the
//! keys' shard locks, serializes the values and ends its unit; the
//! connection then talks to the target on its own task, with no lock
//! held, while the worker serves everyone else; the second half, in a new
//! unit over the same keys, deletes what was acknowledged and replies.
//!
//! A key may change between the halves. The second half deletes an
//! acknowledged key only if it is still exactly what was sent: the same
//! expiry and the same DUMP bytes when serialized again (consumer groups
//! and every other part of a value are in those bytes). A key changed
//! meanwhile stays here with its new value: the target holds the value it
//! had, as after COPY, and no write is lost. Holding the key's shard
//! through the exchange would also be correct, but would stall every
//! command on 1/256 of the keyspace for up to the network timeout; the
//! check costs one more serialization of the acknowledged keys.
//!
//! Inside MULTI/EXEC the exchange would have to run while the transaction
//! holds its shards, so MIGRATE is refused there.

use std::ops::Range;
use std::time::Duration;

use shoal_engine::{events, propagate, ExpireAt, Lookup, NO_EXPIRE};
use shoal_persist::rdb;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::error::{parse, CmdError, CmdResult};
use crate::exec::{Ctx, Registrar};
use crate::server::Server;

/// The payload goes out in writes of at most this size, each given the
/// command's timeout.
const WRITE_CHUNK_BYTES: usize = 64 * 1024;
const CONNECT_FAILED: &str = "IOERR error or timeout connecting to the client";
const WRITE_FAILED: &str = "IOERR error or timeout writing to target instance";
const READ_FAILED: &str = "IOERR error or timeout reading to target instance";
/// Longest reply line kept from the target (Redis reads lines into a
/// 1 KB buffer).
const MAX_LINE_BYTES: usize = 1023;

/// MIGRATE's arguments.
struct Args<'a> {
    copy: bool,
    replace: bool,
    /// AUTH password or AUTH2 username password.
    auth: Option<(Option<&'a [u8]>, &'a [u8])>,
    /// Index of the first key and how many.
    keys: Range<usize>,
    timeout: Duration,
    db: i64,
}

fn parse_args<'a>(argv: &[&'a [u8]]) -> Result<Args<'a>, CmdError> {
    let (mut copy, mut replace, mut auth) = (false, false, None);
    let mut keys = 3..4;
    let mut j = 6;
    while j < argv.len() {
        let more = argv.len() - 1 - j;
        if parse::is(argv[j], "copy") {
            copy = true;
        } else if parse::is(argv[j], "replace") {
            replace = true;
        } else if parse::is(argv[j], "auth") && more >= 1 {
            auth = Some((None, argv[j + 1]));
            j += 1;
        } else if parse::is(argv[j], "auth2") && more >= 2 {
            auth = Some((Some(argv[j + 1]), argv[j + 2]));
            j += 2;
        } else if parse::is(argv[j], "keys") {
            if !argv[3].is_empty() {
                return Err(CmdError::err(
                    "When using MIGRATE KEYS option, the key argument must be set to the empty string",
                ));
            }
            keys = j + 1..argv.len();
            break;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    let timeout = parse::int(argv[5])?;
    let db = parse::int(argv[4])?;
    let timeout = Duration::from_millis(if timeout <= 0 { 1000 } else { timeout as u64 });
    Ok(Args { copy, replace, auth, keys, timeout, db })
}

/// One key sent to the target.
struct Sent {
    key: Vec<u8>,
    expire_at: ExpireAt,
    /// Where its payload is in the request bytes.
    payload: Range<usize>,
}

/// What the connection carries from the first half to the second.
struct Exchange {
    target: Vec<u8>,
    host: Vec<u8>,
    port: Vec<u8>,
    timeout: Duration,
    db: i64,
    /// AUTH or AUTH2, encoded, if asked for.
    auth: Option<Vec<u8>>,
    /// The RESTORE commands, pipelined.
    restores: Vec<u8>,
    sent: Vec<Sent>,
    copy: bool,
    /// The database the keys come from.
    source_db: i64,
    /// Which keys the target acknowledged (filled by the exchange).
    acked: Vec<bool>,
    verdict: Verdict,
}

/// How the exchange ended, as the client will be told.
enum Verdict {
    Ok,
    /// The target's first error line, without its `-`.
    TargetError(Vec<u8>),
    /// A network failure or timeout: the error text.
    Io(&'static str),
}

fn migrate(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    if let Some(output) = ctx.resumed.take() {
        let exchange = output.downcast::<Exchange>().expect("MIGRATE resumes with its own exchange");
        return settle(ctx, *exchange);
    }
    if ctx.in_exec {
        return Err(CmdError::err("MIGRATE is not supported inside MULTI/EXEC"));
    }
    let args = parse_args(argv)?;
    let options = ctx.server.rdb_encode_options();
    let tx = ctx.tx();
    let now_ms = tx.now_ms;
    let mut restores = Vec::new();
    let mut sent = Vec::new();
    for key in &argv[args.keys.clone()] {
        let Some(entry) = tx.lookup(key, Lookup::READ) else { continue };
        let expire_at = entry.expire_at();
        let ttl = if expire_at == NO_EXPIRE { 0 } else { (expire_at - now_ms).max(1) };
        let payload = rdb::dump_payload(entry.value(), options);
        let ttl = ttl.to_string();
        let mut restore: Vec<&[u8]> = vec![b"RESTORE", key, ttl.as_bytes(), &payload];
        if args.replace {
            restore.push(b"REPLACE");
        }
        let start = restores.len();
        propagate::encode(&mut restores, &restore);
        // The payload ends before its CRLF and REPLACE's argument.
        let end = restores.len() - 2 - if args.replace { "$7\r\nREPLACE\r\n".len() } else { 0 };
        debug_assert_eq!(restores[start..end].ends_with(&payload), true);
        sent.push(Sent { key: key.to_vec(), expire_at, payload: end - payload.len()..end });
    }
    if sent.is_empty() {
        ctx.out.simple("NOKEY");
        return Ok(());
    }
    let auth = args.auth.map(|(user, password)| {
        let mut command = Vec::new();
        match user {
            Some(user) => propagate::encode(&mut command, &[b"AUTH", user, password]),
            None => propagate::encode(&mut command, &[b"AUTH", password]),
        }
        command
    });
    let mut target = argv[1].to_vec();
    target.push(b':');
    target.extend_from_slice(argv[2]);
    let exchange = Exchange {
        target,
        host: argv[1].to_vec(),
        port: argv[2].to_vec(),
        timeout: args.timeout,
        db: args.db,
        auth,
        restores,
        acked: vec![false; sent.len()],
        sent,
        copy: args.copy,
        source_db: ctx.client.db as i64,
        verdict: Verdict::Ok,
    };
    let server = ctx.server.arc();
    ctx.suspend = Some(Box::pin(async move {
        let mut exchange = exchange;
        exchange.verdict = run(&server, &mut exchange).await;
        Box::new(exchange) as Box<dyn std::any::Any>
    }));
    Ok(())
}

/// The second half: deletes the acknowledged keys that are still what
/// was sent (unless COPY) and replies.
fn settle(ctx: &mut Ctx<'_>, exchange: Exchange) -> CmdResult {
    let mut del: Vec<Vec<u8>> = vec![b"DEL".to_vec()];
    if !exchange.copy {
        let options = ctx.server.rdb_encode_options();
        let tx = ctx.tx();
        let db = tx.db;
        for (sent, _) in exchange.sent.iter().zip(&exchange.acked).filter(|(_, &acked)| acked) {
            let unchanged = tx.lookup(&sent.key, Lookup::QUIET).is_some_and(|entry| {
                entry.expire_at() == sent.expire_at
                    && rdb::dump_payload(entry.value(), options) == exchange.restores[sent.payload.clone()]
            });
            if unchanged && tx.remove_in(db, &sent.key).is_some() {
                tx.changed(&sent.key, events::DEL, 1);
                del.push(sent.key.clone());
            }
        }
    }
    if del.len() > 1 {
        ctx.propagate_as(vec![del]);
    } else {
        ctx.suppress_propagation();
    }
    match exchange.verdict {
        Verdict::Ok => {
            ctx.out.ok();
            Ok(())
        }
        Verdict::TargetError(line) => Err(CmdError::err_bytes(&[b"Target instance replied with error: ", &line])),
        Verdict::Io(text) => Err(CmdError::Fixed(text)),
    }
}

/// Why an attempt at the exchange stopped talking to the target.
struct IoFailure {
    writing: bool,
    timed_out: bool,
    /// No RESTORE reply had been read: nothing was acknowledged, so a
    /// fresh connection may try again (a cached one may have been closed
    /// by the target meanwhile).
    before_replies: bool,
}

/// Talks to the target: one attempt, and one more on a fresh connection
/// if the first failed before any reply for a reason other than a timeout,
/// as Redis does.
async fn run(server: &Server, exchange: &mut Exchange) -> Verdict {
    let sockets = &server.migrate_sockets;
    let mut may_retry = true;
    loop {
        let cached = sockets.take(&exchange.target).and_then(|c| Some((TcpStream::from_std(c.stream).ok()?, c.db)));
        let (stream, selected) = match cached {
            Some(cached) => cached,
            None => match connect(&exchange.host, &exchange.port, exchange.timeout).await {
                Ok(stream) => (stream, None),
                Err(Connect::Unreachable) => return Verdict::Io(CONNECT_FAILED),
                // Redis connects without waiting for the handshake's
                // result and learns of a refusal when it writes.
                Err(Connect::Refused) if may_retry => {
                    may_retry = false;
                    continue;
                }
                Err(Connect::Refused) => return Verdict::Io(WRITE_FAILED),
            },
        };
        let mut stream = BufReader::new(stream);
        let (target_error, failure) = attempt(&mut stream, selected, exchange).await;
        if exchange.db == exchange.source_db && is_own_client(server, stream.get_ref()) {
            // This server, same database: each key was restored over
            // itself, and deleting it now would lose it. Redis, blocked
            // while it waits for itself, times out; so does this.
            exchange.acked.fill(false);
            return Verdict::Io(READ_FAILED);
        }
        match failure {
            None => {
                // Every reply read: the connection is clean to reuse.
                let db = if target_error.is_none() { Some(exchange.db) } else { None };
                if stream.buffer().is_empty() {
                    if let Ok(stream) = stream.into_inner().into_std() {
                        sockets.give_back(&exchange.target, stream, db);
                    }
                }
                return target_error.map_or(Verdict::Ok, Verdict::TargetError);
            }
            Some(failure) => {
                drop(stream);
                if let Some(line) = target_error {
                    return Verdict::TargetError(line);
                }
                if failure.before_replies && !failure.timed_out && may_retry {
                    may_retry = false;
                    continue;
                }
                return Verdict::Io(if failure.writing { WRITE_FAILED } else { READ_FAILED });
            }
        }
    }
}

/// True if `stream` is connected to this very server: one of its clients
/// has the stream's local address as its peer.
fn is_own_client(server: &Server, stream: &TcpStream) -> bool {
    let Ok(local) = stream.local_addr() else { return false };
    let local = local.to_string();
    server.clients.all().iter().any(|client| client.addr == local)
}

/// Sends AUTH, SELECT (unless the connection has `db` selected) and the
/// RESTOREs, then reads the replies, marking acknowledged keys. Returns
/// the first error the target replied with, and the I/O failure that
/// ended the attempt early, if any.
async fn attempt(
    stream: &mut BufReader<TcpStream>,
    selected: Option<i64>,
    exchange: &mut Exchange,
) -> (Option<Vec<u8>>, Option<IoFailure>) {
    let timeout = exchange.timeout;
    let select = selected != Some(exchange.db);
    let mut head = exchange.auth.clone().unwrap_or_default();
    if select {
        propagate::encode(&mut head, &[b"SELECT", exchange.db.to_string().as_bytes()]);
    }
    for chunk in head.chunks(WRITE_CHUNK_BYTES).chain(exchange.restores.chunks(WRITE_CHUNK_BYTES)) {
        if let Err(timed_out) = io(timeout, stream.get_mut().write_all(chunk)).await {
            return (None, Some(IoFailure { writing: true, timed_out, before_replies: true }));
        }
    }
    let mut head_error = None;
    for expected in [exchange.auth.is_some(), select] {
        if !expected {
            continue;
        }
        match read_line(stream, timeout).await {
            Ok(line) => {
                if head_error.is_none() && line.first() == Some(&b'-') {
                    head_error = Some(line[1..].to_vec());
                }
            }
            Err(timed_out) => return (None, Some(IoFailure { writing: false, timed_out, before_replies: true })),
        }
    }
    let mut target_error = None;
    for j in 0..exchange.sent.len() {
        let line = match read_line(stream, timeout).await {
            Ok(line) => line,
            Err(timed_out) => {
                return (target_error, Some(IoFailure { writing: false, timed_out, before_replies: j == 0 }));
            }
        };
        // An AUTH or SELECT error fails every key, as does the key's own.
        let error = head_error.clone().or_else(|| (line.first() == Some(&b'-')).then(|| line[1..].to_vec()));
        match error {
            Some(error) => {
                target_error.get_or_insert(error);
            }
            None => exchange.acked[j] = true,
        }
    }
    (target_error, None)
}

/// Connects to `host:port` within `timeout`. The port is read as C's atoi
/// reads it, as Redis does.
async fn connect(host: &[u8], port: &[u8], timeout: Duration) -> Result<TcpStream, Connect> {
    let host = std::str::from_utf8(host).map_err(|_| Connect::Unreachable)?;
    let port = u16::try_from(atoi(port)).map_err(|_| Connect::Unreachable)?;
    let connecting = async {
        let address = tokio::net::lookup_host((host, port)).await.ok().and_then(|mut a| a.next());
        let address = address.ok_or(Connect::Unreachable)?;
        TcpStream::connect(address).await.map_err(|_| Connect::Refused)
    };
    let stream = tokio::time::timeout(timeout, connecting).await.map_err(|_| Connect::Unreachable)??;
    let _ = stream.set_nodelay(true);
    Ok(stream)
}

/// Why a connection could not be made.
enum Connect {
    /// The name does not resolve, or no answer within the timeout.
    Unreachable,
    /// The target refused (or reset) the connection.
    Refused,
}

/// C's atoi: optional blanks, an optional sign, then digits; anything
/// else ends the number (0 if there is none).
fn atoi(bytes: &[u8]) -> i64 {
    let text = bytes.iter().skip_while(|b| b.is_ascii_whitespace()).copied().collect::<Vec<u8>>();
    let (negative, digits) = match text.first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, &text[..]),
    };
    let n = digits
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .fold(0i64, |n, d| n.saturating_mul(10).saturating_add((d - b'0') as i64));
    if negative {
        -n
    } else {
        n
    }
}

/// One network operation within `timeout`; the error says whether it
/// timed out.
async fn io<T>(timeout: Duration, op: impl std::future::Future<Output = std::io::Result<T>>) -> Result<T, bool> {
    match tokio::time::timeout(timeout, op).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(_)) => Err(false),
        Err(_) => Err(true),
    }
}

/// Reads one reply line (without its CRLF) within `timeout`, keeping at
/// most `MAX_LINE_BYTES` of it. An empty line or the end of the stream is
/// a failure, as for Redis.
async fn read_line(stream: &mut BufReader<TcpStream>, timeout: Duration) -> Result<Vec<u8>, bool> {
    let read = async {
        let mut line = Vec::new();
        loop {
            let available = stream.fill_buf().await?;
            if available.is_empty() {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            let (taken, done) = match available.iter().position(|&b| b == b'\n') {
                Some(at) => (at + 1, true),
                None => (available.len(), false),
            };
            let room = MAX_LINE_BYTES.saturating_sub(line.len());
            line.extend_from_slice(&available[..taken.min(room)]);
            stream.consume(taken);
            if done {
                return Ok(line);
            }
        }
    };
    let mut line = io(timeout, read).await?;
    while matches!(line.last(), Some(b'\n' | b'\r')) {
        line.pop();
    }
    if line.is_empty() {
        return Err(false);
    }
    Ok(line)
}

pub fn register(r: &mut Registrar) {
    r.keys("migrate", migrate);
}
