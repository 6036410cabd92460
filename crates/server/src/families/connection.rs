//! Connection commands: PING, ECHO, QUIT, SELECT, AUTH, HELLO, RESET and
//! the CLIENT family.

use std::sync::atomic::Ordering;

use shoal_resp::Protocol;

use crate::client::{flags, ClientInfo, ReplyMode};
use crate::tracking::{self, mode};
use crate::exec::{Ctx, Registrar};
use crate::error::{parse, CmdError, CmdResult};
use crate::server::PauseKind;

fn ping(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    if argv.len() > 2 {
        return Err(CmdError::wrong_arity(ctx.cmd.name));
    }
    let in_pubsub = ctx.client.info.has_flag(flags::PUBSUB) && !ctx.out.resp3();
    match (argv.get(1), in_pubsub) {
        (None, false) => ctx.out.simple("PONG"),
        (Some(message), false) => ctx.out.bulk(message),
        (message, true) => {
            ctx.out.array(2);
            ctx.out.bulk(b"pong");
            ctx.out.bulk(message.copied().unwrap_or(b""));
        }
    }
    Ok(())
}

fn echo(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    ctx.out.bulk(argv[1]);
    Ok(())
}

fn quit(ctx: &mut Ctx<'_>, _argv: &[&[u8]]) -> CmdResult {
    ctx.client.close_after_reply = true;
    ctx.out.ok();
    Ok(())
}

fn select(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let db = crate::families::keys::db_argument(ctx, argv[1])?;
    ctx.client.select(db);
    ctx.out.ok();
    Ok(())
}

/// Logs the client in as `user`, or WRONGPASS (and an ACL LOG entry).
fn log_in(ctx: &mut Ctx<'_>, user: &[u8], password: &[u8], command: &[u8]) -> Result<(), CmdError> {
    if crate::acl::authenticate(ctx.server, ctx.client, user, password, command) {
        Ok(())
    } else {
        Err(CmdError::custom("WRONGPASS invalid username-password pair or user is disabled."))
    }
}

fn auth(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    if argv.len() > 3 {
        return Err(CmdError::Syntax);
    }
    let (user, password): (&[u8], &[u8]) = if argv.len() == 2 { (b"default", argv[1]) } else { (argv[1], argv[2]) };
    if argv.len() == 2 && ctx.server.acl.default_nopass() {
        return Err(CmdError::err(
            "AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?",
        ));
    }
    log_in(ctx, user, password, argv[0])?;
    ctx.out.ok();
    Ok(())
}

fn valid_client_name(name: &[u8]) -> bool {
    name.iter().all(|&c| (b'!'..=b'~').contains(&c))
}

fn hello(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let mut protocol = None;
    let mut i = 1;
    if argv.len() >= 2 {
        let version = shoal_resp::number::parse_i64(argv[1])
            .ok_or_else(|| CmdError::err("Protocol version is not an integer or out of range"))?;
        if !(2..=3).contains(&version) {
            return Err(CmdError::custom("NOPROTO unsupported protocol version"));
        }
        protocol = Some(if version == 3 { Protocol::Resp3 } else { Protocol::Resp2 });
        i = 2;
    }
    let mut credentials = None;
    let mut name = None;
    while i < argv.len() {
        let more = argv.len() - 1 - i;
        if parse::is(argv[i], "auth") && more >= 2 {
            credentials = Some((argv[i + 1], argv[i + 2]));
            i += 3;
        } else if parse::is(argv[i], "setname") && more >= 1 {
            name = Some(argv[i + 1]);
            i += 2;
        } else {
            return Err(CmdError::err(format!("Syntax error in HELLO option '{}'", String::from_utf8_lossy(argv[i]))));
        }
    }
    match credentials {
        Some((user, password)) => {
            log_in(ctx, user, password, argv[0])?;
        }
        None if !ctx.client.authenticated => {
            return Err(CmdError::custom(
                "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time",
            ));
        }
        None => {}
    }
    if let Some(name) = name {
        if !valid_client_name(name) {
            return Err(CmdError::BAD_CLIENT_NAME);
        }
        *ctx.client.info.name.lock() = (!name.is_empty()).then(|| name.to_vec());
    }
    if let Some(protocol) = protocol {
        ctx.out.protocol = protocol;
        ctx.client.info.resp.store(if protocol == Protocol::Resp3 { 3 } else { 2 }, Ordering::Relaxed);
    }
    let out = &mut *ctx.out;
    out.map(7);
    out.bulk_str("server");
    out.bulk_str("redis");
    out.bulk_str("version");
    out.bulk_str(crate::server::REDIS_VERSION);
    out.bulk_str("proto");
    out.int(if out.resp3() { 3 } else { 2 });
    out.bulk_str("id");
    out.int(ctx.client.id() as i64);
    out.bulk_str("mode");
    out.bulk_str("standalone");
    out.bulk_str("role");
    out.bulk_str("master");
    out.bulk_str("modules");
    out.array(0);
    Ok(())
}

fn reset(ctx: &mut Ctx<'_>, _argv: &[&[u8]]) -> CmdResult {
    if ctx.client.is_replica || ctx.client.info.has_flag(flags::MASTER) {
        return Err(CmdError::err("can only reset normal client connections"));
    }
    crate::families::transactions::discard_state(ctx.client);
    crate::pubsub::unsubscribe_all(ctx.server, ctx.client);
    crate::tracking::disable(ctx.server, &ctx.client.info);
    if ctx.client.info.has_flag(flags::MONITOR) {
        ctx.server.monitors.remove(ctx.client.id());
        ctx.client.info.set_flag(flags::MONITOR, false);
    }
    ctx.client.select(0);
    ctx.client.reply_mode = ReplyMode::On;
    ctx.out.protocol = Protocol::Resp2;
    ctx.client.info.resp.store(2, Ordering::Relaxed);
    *ctx.client.info.name.lock() = None;
    ctx.client.info.set_flag(flags::NO_EVICT, false);
    // Back to the default user, authenticated only if it needs nothing.
    ctx.client.authenticated = !ctx.server.requires_auth();
    ctx.client.user = Some(ctx.server.acl.default_user());
    *ctx.client.info.user.lock() = "default".to_string();
    ctx.out.simple("RESET");
    Ok(())
}

fn client_id(ctx: &mut Ctx<'_>, _argv: &[&[u8]]) -> CmdResult {
    ctx.out.int(ctx.client.id() as i64);
    Ok(())
}

fn client_getname(ctx: &mut Ctx<'_>, _argv: &[&[u8]]) -> CmdResult {
    match ctx.client.info.name.lock().clone() {
        Some(name) => ctx.out.bulk(&name),
        None => ctx.out.null(),
    }
    Ok(())
}

fn client_setname(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let name = argv[2];
    if !valid_client_name(name) {
        return Err(CmdError::BAD_CLIENT_NAME);
    }
    *ctx.client.info.name.lock() = (!name.is_empty()).then(|| name.to_vec());
    ctx.out.ok();
    Ok(())
}

fn client_type_matches(info: &ClientInfo, wanted: &str) -> bool {
    let kind = if info.has_flag(flags::MASTER) {
        "master"
    } else if info.has_flag(flags::REPLICA) {
        "replica"
    } else if info.has_flag(flags::PUBSUB) {
        "pubsub"
    } else {
        "normal"
    };
    kind == wanted
}

fn parse_client_type(arg: &[u8]) -> Result<&'static str, CmdError> {
    let lower = String::from_utf8_lossy(arg).to_ascii_lowercase();
    match lower.as_str() {
        "normal" => Ok("normal"),
        "master" => Ok("master"),
        "replica" | "slave" => Ok("replica"),
        "pubsub" => Ok("pubsub"),
        _ => Err(CmdError::err(format!("Unknown client type '{}'", String::from_utf8_lossy(arg)))),
    }
}

fn client_list(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let mut wanted_type = None;
    let mut ids: Option<Vec<u64>> = None;
    if argv.len() == 4 && parse::is(argv[2], "type") {
        wanted_type = Some(parse_client_type(argv[3])?);
    } else if argv.len() >= 4 && parse::is(argv[2], "id") {
        let mut list = Vec::new();
        for arg in &argv[3..] {
            match shoal_resp::number::parse_i64(arg) {
                Some(id) if id > 0 => list.push(id as u64),
                _ => return Err(CmdError::err("Invalid client ID")),
            }
        }
        ids = Some(list);
    } else if argv.len() != 2 {
        return Err(CmdError::Syntax);
    }
    let mut text = String::new();
    for info in ctx.server.clients.all() {
        if wanted_type.is_some_and(|t| !client_type_matches(&info, t)) {
            continue;
        }
        if ids.as_ref().is_some_and(|ids| !ids.contains(&info.id)) {
            continue;
        }
        text.push_str(&crate::client::client_line(&info));
        text.push('\n');
    }
    ctx.out.verbatim("txt", text.as_bytes());
    Ok(())
}

fn client_info(ctx: &mut Ctx<'_>, _argv: &[&[u8]]) -> CmdResult {
    let mut line = crate::client::client_line(&ctx.client.info);
    line.push('\n');
    ctx.out.verbatim("txt", line.as_bytes());
    Ok(())
}

fn client_kill(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let me = ctx.client.id();
    if argv.len() == 3 {
        // Old form: CLIENT KILL addr:port.
        let addr = String::from_utf8_lossy(argv[2]);
        let target = ctx.server.clients.all().into_iter().find(|c| c.addr == addr);
        let Some(target) = target else { return Err(CmdError::err("No such client")) };
        kill_client(ctx, &target, me);
        ctx.out.ok();
        return Ok(());
    }
    let mut filter_id = None;
    let mut filter_type = None;
    let mut filter_addr = None;
    let mut filter_laddr = None;
    let mut filter_user = None;
    let mut max_age = None;
    let mut skip_me = true;
    let mut i = 2;
    while i < argv.len() {
        if i + 1 >= argv.len() {
            return Err(CmdError::Syntax);
        }
        let (option, value) = (argv[i], argv[i + 1]);
        if parse::is(option, "id") {
            match shoal_resp::number::parse_i64(value) {
                Some(id) if id > 0 => filter_id = Some(id as u64),
                _ => return Err(CmdError::err("client-id should be greater than 0")),
            }
        } else if parse::is(option, "type") {
            filter_type = Some(parse_client_type(value)?);
        } else if parse::is(option, "addr") {
            filter_addr = Some(String::from_utf8_lossy(value).into_owned());
        } else if parse::is(option, "laddr") {
            filter_laddr = Some(String::from_utf8_lossy(value).into_owned());
        } else if parse::is(option, "user") {
            let user = String::from_utf8_lossy(value).into_owned();
            if ctx.server.acl.get(value).is_none() {
                return Err(CmdError::err(format!("No such user '{user}'")));
            }
            filter_user = Some(user);
        } else if parse::is(option, "skipme") {
            if parse::is(value, "yes") {
                skip_me = true;
            } else if parse::is(value, "no") {
                skip_me = false;
            } else {
                return Err(CmdError::Syntax);
            }
        } else if parse::is(option, "maxage") {
            max_age = Some(parse::int(value)?);
        } else {
            return Err(CmdError::Syntax);
        }
        i += 2;
    }
    let now = shoal_engine::now_ms();
    let mut killed = 0;
    for info in ctx.server.clients.all() {
        if filter_id.is_some_and(|id| id != info.id)
            || filter_type.is_some_and(|t| !client_type_matches(&info, t))
            || filter_addr.as_ref().is_some_and(|a| *a != info.addr)
            || filter_laddr.as_ref().is_some_and(|a| *a != info.local_addr)
            || filter_user.as_ref().is_some_and(|u| *u != *info.user.lock())
            || max_age.is_some_and(|age| (now - info.created_ms) / 1000 < age)
            || (skip_me && info.id == me)
        {
            continue;
        }
        kill_client(ctx, &info, me);
        killed += 1;
    }
    ctx.out.int(killed);
    Ok(())
}

fn kill_client(ctx: &mut Ctx<'_>, target: &ClientInfo, me: u64) {
    if target.id == me {
        ctx.client.close_after_reply = true;
    } else {
        // A replica's stream stops counting at once (its backlog share is
        // released before its connection notices the kill).
        crate::replication::release_reader(ctx.server, target.id);
        ctx.server.clients.kill(target.id);
    }
}

fn client_unblock(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let id = shoal_resp::number::parse_i64(argv[2]).ok_or(CmdError::NotInteger)?;
    let mode = match argv.get(3) {
        None => crate::blocking::UNBLOCK_TIMEOUT,
        Some(m) if parse::is(m, "timeout") => crate::blocking::UNBLOCK_TIMEOUT,
        Some(m) if parse::is(m, "error") => crate::blocking::UNBLOCK_ERROR,
        Some(_) => return Err(CmdError::err("CLIENT UNBLOCK reason should be TIMEOUT or ERROR")),
    };
    let target = ctx.server.clients.get(id as u64).filter(|c| c.has_flag(flags::BLOCKED));
    match target {
        Some(client) => {
            client.unblock_mode.store(mode, Ordering::Release);
            client.unblock_signal.notify_one();
            ctx.out.int(1);
        }
        None => ctx.out.int(0),
    }
    Ok(())
}

fn client_pause(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let timeout = shoal_resp::number::parse_i64(argv[2]).ok_or(CmdError::TIMEOUT_NOT_INTEGER)?;
    if timeout < 0 {
        return Err(CmdError::TIMEOUT_NEGATIVE);
    }
    let kind = match argv.get(3) {
        None => PauseKind::All,
        Some(a) if parse::is(a, "write") && argv.len() == 4 => PauseKind::Write,
        Some(a) if parse::is(a, "all") && argv.len() == 4 => PauseKind::All,
        Some(_) => {
            return Err(CmdError::err("CLIENT PAUSE mode must be WRITE or ALL"));
        }
    };
    ctx.server.pause.start(kind, shoal_engine::now_ms().saturating_add(timeout));
    ctx.server.engine.keep_expired.store(true, Ordering::Relaxed);
    ctx.out.ok();
    Ok(())
}

fn client_unpause(ctx: &mut Ctx<'_>, _argv: &[&[u8]]) -> CmdResult {
    ctx.server.pause.end();
    ctx.server.engine.keep_expired.store(false, Ordering::Relaxed);
    ctx.out.ok();
    Ok(())
}

fn client_reply(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    if parse::is(argv[2], "on") {
        ctx.client.reply_mode = ReplyMode::On;
        ctx.out.ok();
    } else if parse::is(argv[2], "off") {
        ctx.client.reply_mode = ReplyMode::Off;
    } else if parse::is(argv[2], "skip") {
        if ctx.client.reply_mode != ReplyMode::Off {
            ctx.client.reply_mode = ReplyMode::SkipNext;
        }
    } else {
        return Err(CmdError::Syntax);
    }
    Ok(())
}

fn client_no_evict(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    if parse::is(argv[2], "on") {
        ctx.client.info.set_flag(flags::NO_EVICT, true);
    } else if parse::is(argv[2], "off") {
        ctx.client.info.set_flag(flags::NO_EVICT, false);
    } else {
        return Err(CmdError::Syntax);
    }
    ctx.out.ok();
    Ok(())
}

fn client_help(ctx: &mut Ctx<'_>, _argv: &[&[u8]]) -> CmdResult {
    crate::families::help::write_help(
        ctx.out,
        "CLIENT",
        &[
            "GETNAME",
            "    Return the name of the current connection.",
            "ID",
            "    Return the ID of the current connection.",
            "INFO",
            "    Return information about the current connection.",
            "KILL <ip:port>",
            "    Close the connection at <ip:port>.",
            "KILL <option> <value> [<option> <value> [...]]",
            "    Close the connections matching all filters: ID, TYPE, USER, ADDR, LADDR, SKIPME, MAXAGE.",
            "LIST [TYPE (NORMAL|MASTER|REPLICA|PUBSUB)] [ID <id> [...]]",
            "    Return information about connections.",
            "UNBLOCK <clientid> [TIMEOUT|ERROR]",
            "    Unblock a client blocked in a blocking command, as if it timed out (or with an error).",
            "UNPAUSE",
            "    End a CLIENT PAUSE early.",
            "PAUSE <timeout> [WRITE|ALL]",
            "    Hold clients' commands (or only writes) for <timeout> milliseconds.",
            "REPLY (ON|OFF|SKIP)",
            "    Turn replies on or off, or skip the reply of the next command.",
            "SETNAME <name>",
            "    Name the current connection.",
            "NO-EVICT (ON|OFF)",
            "    Protect the current connection from client eviction.",
        ],
    );
    Ok(())
}

/// CLIENT TRACKING on|off [REDIRECT id] [PREFIX p ...] [BCAST] [OPTIN]
/// [OPTOUT] [NOLOOP], with Redis's checks in Redis's order.
fn client_tracking(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let mut redirect: u64 = 0;
    let mut options = 0;
    let mut prefixes: Vec<Vec<u8>> = Vec::new();
    let mut i = 3;
    while i < argv.len() {
        let more = i + 1 < argv.len();
        let arg = argv[i];
        if parse::is(arg, "redirect") && more {
            i += 1;
            if redirect != 0 {
                return Err(CmdError::err("A client can only redirect to a single other client"));
            }
            let id = parse::int(argv[i])?;
            if id <= 0 || ctx.server.clients.get(id as u64).is_none() {
                return Err(CmdError::err("The client ID you want redirect to does not exist"));
            }
            redirect = id as u64;
        } else if parse::is(arg, "bcast") {
            options |= mode::BCAST;
        } else if parse::is(arg, "optin") {
            options |= mode::OPTIN;
        } else if parse::is(arg, "optout") {
            options |= mode::OPTOUT;
        } else if parse::is(arg, "noloop") {
            options |= mode::NOLOOP;
        } else if parse::is(arg, "prefix") && more {
            i += 1;
            prefixes.push(argv[i].to_vec());
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    let tracking = &ctx.client.info.tracking;
    if parse::is(argv[2], "off") {
        tracking::disable(ctx.server, &ctx.client.info);
        ctx.out.ok();
        return Ok(());
    }
    if !parse::is(argv[2], "on") {
        return Err(CmdError::Syntax);
    }
    if options & mode::BCAST == 0 && !prefixes.is_empty() {
        return Err(CmdError::err("PREFIX option requires BCAST mode to be enabled"));
    }
    if tracking.has(mode::ON) && tracking.has(mode::BCAST) != (options & mode::BCAST != 0) {
        return Err(CmdError::err(
            "You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it with a different mode.",
        ));
    }
    if options & mode::BCAST != 0 && options & (mode::OPTIN | mode::OPTOUT) != 0 {
        return Err(CmdError::err("OPTIN and OPTOUT are not compatible with BCAST"));
    }
    if options & mode::OPTIN != 0 && options & mode::OPTOUT != 0 {
        return Err(CmdError::err("You can't specify both OPTIN mode and OPTOUT mode"));
    }
    if (options & mode::OPTIN != 0 && tracking.has(mode::OPTOUT)) || (options & mode::OPTOUT != 0 && tracking.has(mode::OPTIN)) {
        return Err(CmdError::err(
            "You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, and then re-enabling it with a different mode.",
        ));
    }
    if options & mode::BCAST != 0 {
        check_prefix_collisions(&tracking.prefixes.lock(), &prefixes)?;
    }
    tracking::enable(ctx.server, &ctx.client.info, tracking::Enable { options, redirect, prefixes });
    ctx.out.ok();
    Ok(())
}

/// Prefixes of one client must not overlap (one a prefix of another).
fn check_prefix_collisions(existing: &[Vec<u8>], wanted: &[Vec<u8>]) -> CmdResult {
    let overlap = |a: &[u8], b: &[u8]| a.starts_with(b) || b.starts_with(a);
    for (i, prefix) in wanted.iter().enumerate() {
        if let Some(old) = existing.iter().find(|old| overlap(old, prefix)) {
            return Err(CmdError::err_bytes(&[
                b"Prefix '",
                prefix,
                b"' overlaps with an existing prefix '",
                old,
                b"'. Prefixes for a single client must not overlap.",
            ]));
        }
        if let Some(other) = wanted[i + 1..].iter().find(|other| overlap(prefix, other)) {
            return Err(CmdError::err_bytes(&[
                b"Prefix '",
                prefix,
                b"' overlaps with another provided prefix '",
                other,
                b"'. Prefixes for a single client must not overlap.",
            ]));
        }
    }
    Ok(())
}

fn client_caching(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let tracking = &ctx.client.info.tracking;
    if !tracking.has(mode::ON) {
        return Err(CmdError::err(
            "CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled",
        ));
    }
    if parse::is(argv[2], "yes") {
        if !tracking.has(mode::OPTIN) {
            return Err(CmdError::err("CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode."));
        }
    } else if parse::is(argv[2], "no") {
        if !tracking.has(mode::OPTOUT) {
            return Err(CmdError::err("CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode."));
        }
    } else {
        return Err(CmdError::Syntax);
    }
    tracking.mode.fetch_or(mode::CACHING, Ordering::Relaxed);
    ctx.out.ok();
    Ok(())
}

fn client_getredir(ctx: &mut Ctx<'_>, _argv: &[&[u8]]) -> CmdResult {
    let tracking = &ctx.client.info.tracking;
    let redirect = if tracking.has(mode::ON) { tracking.redirect.load(Ordering::Relaxed) as i64 } else { -1 };
    ctx.out.int(redirect);
    Ok(())
}

fn client_trackinginfo(ctx: &mut Ctx<'_>, _argv: &[&[u8]]) -> CmdResult {
    let tracking = &ctx.client.info.tracking;
    let bits = tracking.mode.load(Ordering::Relaxed);
    let mut names = vec![if bits & mode::ON != 0 { "on" } else { "off" }];
    let caching = bits & mode::CACHING != 0;
    for (bit, name, extra) in [
        (mode::BCAST, "bcast", None),
        (mode::OPTIN, "optin", Some("caching-yes")),
        (mode::OPTOUT, "optout", Some("caching-no")),
        (mode::NOLOOP, "noloop", None),
        (mode::BROKEN_REDIRECT, "broken_redirect", None),
    ] {
        if bits & bit != 0 {
            names.push(name);
            if let (Some(extra), true) = (extra, caching) {
                names.push(extra);
            }
        }
    }
    ctx.out.map(3);
    ctx.out.bulk(b"flags");
    ctx.out.set(names.len());
    names.iter().for_each(|n| ctx.out.bulk(n.as_bytes()));
    ctx.out.bulk(b"redirect");
    ctx.out.int(if bits & mode::ON != 0 { tracking.redirect.load(Ordering::Relaxed) as i64 } else { -1 });
    ctx.out.bulk(b"prefixes");
    let prefixes = tracking.prefixes.lock();
    ctx.out.array(prefixes.len());
    prefixes.iter().for_each(|p| ctx.out.bulk(p));
    Ok(())
}

pub fn register(r: &mut Registrar) {
    r.plain("client|tracking", client_tracking);
    r.plain("client|caching", client_caching);
    r.plain("client|getredir", client_getredir);
    r.plain("client|trackinginfo", client_trackinginfo);
    r.plain("ping", ping);
    r.plain("echo", echo);
    r.plain("quit", quit);
    r.plain("select", select);
    r.plain("auth", auth);
    r.plain("hello", hello);
    r.plain("reset", reset);
    r.plain("client|id", client_id);
    r.plain("client|getname", client_getname);
    r.plain("client|setname", client_setname);
    r.plain("client|list", client_list);
    r.plain("client|info", client_info);
    r.plain("client|kill", client_kill);
    r.plain("client|pause", client_pause);
    r.plain("client|unpause", client_unpause);
    r.plain("client|unblock", client_unblock);
    r.plain("client|reply", client_reply);
    r.plain("client|no-evict", client_no_evict);
    r.plain("client|help", client_help);
}
