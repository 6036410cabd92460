//! Server administration: CONFIG, COMMAND, DEBUG, TIME, SHUTDOWN.

use std::sync::atomic::Ordering;

use shoal_commands::{find_keys, table, CommandFlags, KeyRef};
use shoal_engine::Lookup;

use crate::client::flags;
use crate::error::{parse, CmdError, CmdResult};
use crate::exec::{Ctx, Registrar};

fn config_get(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let matches = ctx.server.config.matching(&argv[2..]);
    ctx.out.map(matches.len());
    for (name, value) in matches {
        ctx.out.bulk_str(&name);
        ctx.out.bulk_str(&value);
    }
    Ok(())
}

fn config_set(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    if !argv.len().is_multiple_of(2) {
        return Err(CmdError::Syntax);
    }
    let pairs: Vec<(String, String)> = argv[2..]
        .chunks(2)
        .map(|p| (String::from_utf8_lossy(p[0]).into_owned(), String::from_utf8_lossy(p[1]).into_owned()))
        .collect();
    let refs: Vec<(&str, &str)> = pairs.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let config = &ctx.server.config;
    let persistence = &ctx.server.persistence;
    if persistence.is_loading() || persistence.is_async_loading() {
        // Parameters that would change what is being loaded or where
        // (appendonly, dir, repl-diskless-load) wait for the load's end.
        let deny = |name: &str| crate::config::lookup(name).is_some_and(|(_, def)| def.flags & crate::config::DENY_LOADING != 0);
        if refs.iter().any(|(name, _)| deny(name)) {
            return Err(CmdError::custom("LOADING Redis is loading the dataset in memory"));
        }
    }
    let names: Vec<&str> = refs.iter().map(|(name, _)| *name).collect();
    let backup = config.backup(&names);
    let changed = config.set_many_from(&refs, ctx.client.info.is_local()).map_err(|e| CmdError::custom(e.message()))?;
    // Changes the server must apply, which may fail: then every parameter
    // of the call goes back to its old value, as in Redis.
    let relisten = ["port", "bind"].into_iter().find(|p| changed.contains(p));
    if let Some(first) = relisten {
        if let Err(e) = crate::net::relisten(ctx.server) {
            ctx.server.log.warning(&format!("CONFIG SET {first}: {e}"));
            config.restore(backup);
            ctx.server.config_changed();
            let reason = match first {
                "port" => "Unable to listen on this port. Check server logs.",
                _ => "Failed to bind to specified addresses.",
            };
            let error = crate::config::SetError::Failed(first.to_string(), reason.to_string());
            return Err(CmdError::custom(error.message()));
        }
    }
    ctx.server.config_changed();
    crate::persistence::aof::config_changed(ctx.server, &changed, ctx.in_exec);
    ctx.out.ok();
    Ok(())
}

fn config_resetstat(ctx: &mut Ctx<'_>, _argv: &[&[u8]]) -> CmdResult {
    let server = ctx.server;
    server.engine.stats.reset();
    server.command_stats.reset();
    server.error_stats.lock().clear();
    server.lazyfree.reset_stats();
    server.replicas.reset_stats();
    ctx.out.ok();
    Ok(())
}

fn config_rewrite(ctx: &mut Ctx<'_>, _argv: &[&[u8]]) -> CmdResult {
    ctx.server.config.rewrite(false, crate::acl::config_user_lines(ctx.server)).map_err(CmdError::err)?;
    ctx.server.log.notice("CONFIG REWRITE executed with success.");
    ctx.out.ok();
    Ok(())
}

fn config_help(ctx: &mut Ctx<'_>, _argv: &[&[u8]]) -> CmdResult {
    crate::families::help::write_help(
        ctx.out,
        "CONFIG",
        &[
            "GET <pattern>",
            "    Return parameters matching the glob-like <pattern> and their values.",
            "SET <directive> <value>",
            "    Set the configuration <directive> to <value>.",
            "RESETSTAT",
            "    Reset statistics reported by the INFO command.",
            "REWRITE",
            "    Rewrite the configuration file.",
        ],
    );
    Ok(())
}

fn time(ctx: &mut Ctx<'_>, _argv: &[&[u8]]) -> CmdResult {
    let us = shoal_engine::now_us();
    ctx.out.array(2);
    ctx.out.bulk_i64(us / 1_000_000);
    ctx.out.bulk_i64(us % 1_000_000);
    Ok(())
}

fn shutdown(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let (mut nosave, mut save, mut force, mut abort) = (false, false, false, false);
    for arg in &argv[1..] {
        match String::from_utf8_lossy(arg).to_ascii_lowercase().as_str() {
            "nosave" => nosave = true,
            "save" => save = true,
            "now" => {}
            "force" => force = true,
            "abort" => abort = true,
            _ => return Err(CmdError::Syntax),
        }
    }
    if (nosave && save) || (abort && argv.len() > 2) {
        return Err(CmdError::Syntax);
    }
    if abort {
        if !ctx.server.shutdown_asap.swap(false, Ordering::AcqRel) {
            return Err(CmdError::err("No shutdown in progress."));
        }
        ctx.server.log.warning("Shutdown manually aborted.");
        ctx.out.ok();
        return Ok(());
    }
    let server = ctx.server;
    ctx.server.log.warning("User requested shutdown...");
    if !nosave && (save || server.has_save_points()) {
        let tx = ctx.tx.as_ref().expect("SHUTDOWN locks every shard");
        if crate::persistence::save_before_exit(server, &tx.locks).is_err() && !force {
            return Err(CmdError::err("Errors trying to SHUTDOWN. Check logs."));
        }
    } else {
        crate::persistence::kill_bgsave(server);
    }
    // A script holding the keyspace ends at its next hook, written or not.
    server.scripts.force_kill();
    crate::net::stop_listening(server);
    server.request_shutdown();
    // No reply: the connection closes as the server exits.
    ctx.client.close_after_reply = true;
    Ok(())
}

/// SHUTDOWN NOSAVE needs no shard, so it is served even while a script
/// holds the whole keyspace (one of the two ways out of a busy script);
/// saving first needs every shard.
fn shutdown_plan(_cmd: &shoal_commands::Command, argv: &[&[u8]]) -> crate::exec::LockPlan {
    if argv[1..].iter().any(|a| parse::is(a, "nosave")) {
        crate::exec::LockPlan::Nothing
    } else {
        crate::exec::LockPlan::All
    }
}

fn command_count(ctx: &mut Ctx<'_>, _argv: &[&[u8]]) -> CmdResult {
    ctx.out.int(table().top_level_count() as i64);
    Ok(())
}

fn command_all(ctx: &mut Ctx<'_>, _argv: &[&[u8]]) -> CmdResult {
    let commands: Vec<_> = table().top_level().collect();
    ctx.out.array(commands.len());
    for cmd in commands {
        shoal_commands::reply::write_info(ctx.out, cmd);
    }
    Ok(())
}

fn command_info(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    if argv.len() == 2 {
        return command_all(ctx, argv);
    }
    ctx.out.array(argv.len() - 2);
    for name in &argv[2..] {
        match table().lookup_full_name(name) {
            Some(cmd) => shoal_commands::reply::write_info(ctx.out, cmd),
            None => ctx.out.null(),
        }
    }
    Ok(())
}

fn command_docs(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let commands: Vec<_> = if argv.len() == 2 {
        table().top_level().collect()
    } else {
        argv[2..].iter().filter_map(|n| table().lookup_full_name(n)).collect()
    };
    ctx.out.map(commands.len());
    for cmd in commands {
        ctx.out.bulk_str(cmd.name);
        shoal_commands::reply::write_docs(ctx.out, cmd);
    }
    Ok(())
}

fn command_list(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let mut filter: Option<(String, Vec<u8>)> = None;
    let mut i = 2;
    while i < argv.len() {
        if parse::is(argv[i], "filterby") && argv.len() - 1 - i == 2 {
            let kind = String::from_utf8_lossy(argv[i + 1]).to_ascii_lowercase();
            if !matches!(kind.as_str(), "module" | "aclcat" | "pattern") {
                return Err(CmdError::Syntax);
            }
            filter = Some((kind, argv[i + 2].to_vec()));
            i += 3;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let mut names = Vec::new();
    for cmd in table().all() {
        let keep = match &filter {
            None => true,
            Some((kind, arg)) => match kind.as_str() {
                "module" => false,
                "aclcat" => shoal_commands::AclCategories::parse(&String::from_utf8_lossy(arg))
                    .is_ok_and(|c| c.0 != 0 && cmd.acl.intersects(c)),
                _ => shoal_types::glob_match(arg, cmd.name.as_bytes(), true),
            },
        };
        if keep {
            names.push(cmd.name);
        }
    }
    ctx.out.array(names.len());
    for name in names {
        ctx.out.bulk_str(name);
    }
    Ok(())
}

fn command_getkeys(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    getkeys(ctx, argv, false)
}

fn command_getkeysandflags(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    getkeys(ctx, argv, true)
}

fn getkeys(ctx: &mut Ctx<'_>, argv: &[&[u8]], with_flags: bool) -> CmdResult {
    let target = &argv[2..];
    let Some(cmd) = table().resolve(target) else { return Err(CmdError::err("Invalid command specified")) };
    if !cmd.has_keys() {
        return Err(CmdError::err("The command has no key arguments"));
    }
    if !cmd.arity_ok(target.len()) {
        return Err(CmdError::err("Invalid number of arguments specified for command"));
    }
    let mut keys: Vec<KeyRef> = Vec::new();
    if find_keys(cmd, target, &mut keys).is_err() || keys.is_empty() {
        if cmd.is(CommandFlags::NO_MANDATORY_KEYS) {
            ctx.out.array(0);
            return Ok(());
        }
        return Err(CmdError::err("Invalid arguments specified for command"));
    }
    ctx.out.array(keys.len());
    for key in keys {
        if with_flags {
            ctx.out.array(2);
            ctx.out.bulk(target[key.index]);
            shoal_commands::reply::write_key_flags(ctx.out, key.flags);
        } else {
            ctx.out.bulk(target[key.index]);
        }
    }
    Ok(())
}

fn command_help(ctx: &mut Ctx<'_>, _argv: &[&[u8]]) -> CmdResult {
    crate::families::help::write_help(
        ctx.out,
        "COMMAND",
        &[
            "(no subcommand)",
            "    Return details about every command.",
            "COUNT",
            "    Return how many commands there are.",
            "LIST",
            "    Return the names of all commands.",
            "INFO [<command-name> ...]",
            "    Return details about the given commands, or all of them.",
            "DOCS [<command-name> ...]",
            "    Return documentation for the given commands, or all of them.",
            "GETKEYS <full-command>",
            "    Return the keys of a full command line.",
            "GETKEYSANDFLAGS <full-command>",
            "    Return the keys of a full command line and how each is accessed.",
        ],
    );
    Ok(())
}

/// COMMAND with no subcommand is its own container.
fn command(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    command_all(ctx, argv)
}

/// MEMORY USAGE key [SAMPLES count]: the key's block plus what its value
/// holds on the heap (collections are measured fully, not sampled).
fn memory_usage(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let mut j = 3;
    while j < argv.len() {
        if parse::is(argv[j], "samples") && j + 1 < argv.len() {
            if parse::int(argv[j + 1])? < 0 {
                return Err(CmdError::Syntax);
            }
            j += 2;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    match ctx.tx().lookup(argv[2], Lookup::QUIET) {
        Some(entry) => {
            let bytes = entry.block_bytes() + entry.value().heap_bytes();
            ctx.out.int(bytes as i64);
        }
        None => ctx.out.null(),
    }
    Ok(())
}

fn debug(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let sub = String::from_utf8_lossy(argv[1]).to_ascii_lowercase();
    match sub.as_str() {
        "sleep" if argv.len() == 3 => {
            let seconds = parse::float(argv[2])?;
            // Like Redis, the whole server stops: every shard stays locked.
            std::thread::sleep(std::time::Duration::from_secs_f64(seconds.max(0.0)));
            ctx.out.ok();
        }
        "exclusive" if argv.len() == 4 => {
            // Holds the whole keyspace as a script or a load will (Shoal's,
            // for tests of the exclusive mode): other clients wait, then
            // get -BUSY past busy-reply-threshold, or -LOADING at once.
            let kind = match argv[2].to_ascii_lowercase().as_slice() {
                b"script" => shoal_engine::ExclusiveKind::Script,
                b"loading" => shoal_engine::ExclusiveKind::Loading,
                _ => return Err(CmdError::Syntax),
            };
            let seconds = parse::float(argv[3])?;
            let keyspace = &ctx.server.engine.keyspace;
            keyspace.set_exclusive(kind, shoal_engine::now_ms());
            std::thread::sleep(std::time::Duration::from_secs_f64(seconds.max(0.0)));
            keyspace.clear_exclusive();
            ctx.out.ok();
        }
        "reload" => return crate::families::persistence::debug_reload(ctx, argv),
        "loadaof" if argv.len() == 2 => return crate::families::persistence::debug_loadaof(ctx, argv),
        "aof-flush-sleep" if argv.len() == 3 => {
            let micros = parse::int(argv[2])?.max(0) as u64;
            ctx.server.persistence.aof_flush_sleep_us.store(micros, Ordering::Relaxed);
            if let Some(aof) = ctx.server.persistence.aof() {
                aof.flush_sleep_us.store(micros, Ordering::Relaxed);
            }
            ctx.out.ok();
        }
        "set-disable-deny-scripts" if argv.len() == 3 => {
            let disabled = parse::int(argv[2])? != 0;
            ctx.server.scripts.deny_scripts_disabled.store(disabled, Ordering::Relaxed);
            ctx.out.ok();
        }
        "replicate" if argv.len() >= 3 => {
            // Into the stream only (tests of how replicas treat a command
            // they fail on): nothing runs here.
            ctx.server.engine.propagation.publish_raw(&argv[2..]);
            ctx.out.ok();
        }
        "set-active-expire" if argv.len() == 3 => {
            let on = parse::int(argv[2])? != 0;
            ctx.server.engine.active_expire.store(on, Ordering::Relaxed);
            ctx.out.ok();
        }
        "object" if argv.len() == 3 => {
            let engine = &ctx.server.engine;
            let tx = ctx.tx.as_mut().expect("debug locks everything");
            // The stored entry, even if its TTL has passed (as Redis's
            // DEBUG OBJECT, which never expires what it looks at).
            let Some(entry) = tx.peek_stored_in(tx.db, argv[2]) else { return Err(CmdError::NoSuchKey) };
            let value = entry.value();
            let length = value.string_len().unwrap_or(0);
            let text = format!(
                "Value at:{:p} refcount:1 encoding:{} serializedlength:{} lru:{} lru_seconds_idle:{}",
                value as *const _,
                value.encoding(),
                length.max(1),
                entry.access(),
                engine.idle_seconds(entry.access())
            );
            ctx.out.simple(&text);
        }
        "quicklist-packed-threshold" if argv.len() == 3 => {
            let text = String::from_utf8_lossy(argv[2]);
            let accepted = crate::config::parse_memory(&text)
                .and_then(|bytes| u64::try_from(bytes).ok())
                .is_some_and(|bytes| crate::families::lists::set_packed_threshold(ctx.server, bytes));
            if !accepted {
                return Err(CmdError::err("argument must be a memory value bigger than 1 and smaller than 4gb"));
            }
            ctx.out.ok();
        }
        "set-skip-checksum-validation" if argv.len() == 3 => {
            let skip = parse::int(argv[2])? != 0;
            ctx.server.skip_checksum_validation.store(skip, Ordering::Relaxed);
            ctx.out.ok();
        }
        "pause-cron" if argv.len() == 3 => {
            let pause = parse::int(argv[2])? != 0;
            ctx.server.cron_paused.store(pause, Ordering::Relaxed);
            ctx.out.ok();
        }
        "panic" if argv.len() == 2 => {
            let reason = format!("DEBUG PANIC called at Unix time {}", shoal_engine::now_ms() / 1000);
            crate::exec::crash_report(ctx, argv, &reason)
        }
        "jmap" | "stringmatch-len" | "replybuffer" => ctx.out.ok(),
        "change-repl-id" => ctx.out.ok(),
        "populate" if (3..=5).contains(&argv.len()) => crate::families::populate::populate(ctx, argv)?,
        "config-rewrite-force-all" if argv.len() == 2 => {
            ctx.server
                .config
                .rewrite(true, crate::acl::config_user_lines(ctx.server))
                .map_err(|e| CmdError::err(format!("CONFIG-REWRITE-FORCE-ALL failed: {e}")))?;
            ctx.out.ok();
        }
        "digest" if argv.len() == 2 => {
            let digest = crate::families::digest::dataset_digest(ctx.tx.as_mut().expect("locked"));
            ctx.out.simple(&digest);
        }
        "digest-value" => {
            let tx = ctx.tx.as_ref().expect("locked");
            let digests: Vec<String> =
                argv[2..].iter().map(|key| crate::families::digest::key_digest(tx, key)).collect();
            ctx.out.array(digests.len());
            for d in digests {
                ctx.out.simple(&d);
            }
        }
        "protocol" if argv.len() == 3 => debug_protocol(ctx, argv[2])?,
        "log" if argv.len() == 3 => {
            ctx.server.log.warning(&format!("DEBUG LOG: {}", String::from_utf8_lossy(argv[2])));
            ctx.out.ok();
        }
        "help" => crate::families::help::write_help(
            ctx.out,
            "DEBUG",
            &[
                "AOF-FLUSH-SLEEP <microsec>",
                "    Wait <microsec> before each write to the append-only file (for tests).",
                "CONFIG-REWRITE-FORCE-ALL",
                "    Like CONFIG REWRITE but writes all configuration options, including defaults.",
                "DIGEST",
                "    Output a hex signature of the whole dataset.",
                "DIGEST-VALUE <key> [<key> ...]",
                "    Output a hex signature of the values of the given keys.",
                "LOG <message>",
                "    Write <message> to the server log.",
                "OBJECT <key>",
                "    Show low-level information about the key.",
                "EXCLUSIVE <SCRIPT|LOADING> <seconds>",
                "    Hold the whole keyspace as a script or a load would (Shoal's).",
                "PANIC",
                "    Crash the server with a bug report in the log.",
                "POPULATE <count> [<prefix>] [<size>]",
                "    Create <count> string keys named <prefix>:<n> (default prefix: key) holding value:<n>,",
                "    padded or cut to <size> bytes if given; existing keys are left alone.",
                "PAUSE-CRON <0|1>",
                "    Stop or resume the server's periodic work (expiry, sampling).",
                "PROTOCOL <type>",
                "    Reply with a sample of a RESP type.",
                "QUICKLIST-PACKED-THRESHOLD <size>",
                "    List elements of at least <size> bytes get a node of their own (0: default).",
                "REPLICATE <command> [<arg> ...]",
                "    Send a command to the replicas only, in the replication stream, without running it.",
                "SET-DISABLE-DENY-SCRIPTS <0|1>",
                "    Let scripts run commands flagged noscript (for tests).",
                "SET-ACTIVE-EXPIRE <0|1>",
                "    Turn the active expiry cycle off or on.",
                "SET-SKIP-CHECKSUM-VALIDATION <0|1>",
                "    RESTORE skips (1) or checks (0) the payload's checksum.",
                "SLEEP <seconds>",
                "    Stop the server for <seconds> (decimals allowed).",
            ],
        ),
        _ => return Err(CmdError::subcommand_syntax(argv)),
    }
    Ok(())
}

fn debug_protocol(ctx: &mut Ctx<'_>, kind: &[u8]) -> CmdResult {
    let kind = String::from_utf8_lossy(kind).to_ascii_lowercase();
    let out = &mut *ctx.out;
    match kind.as_str() {
        "string" => out.bulk_str("Hello World"),
        "integer" => out.int(12345),
        // Redis's sample double, not an approximation of pi.
        #[allow(clippy::approx_constant)]
        "double" => out.double(3.141),
        "bignum" => out.big_number(b"1234567999999999999999999999999999999"),
        "null" => out.null(),
        "array" => {
            out.array(3);
            (0..3).for_each(|i| out.int(i));
        }
        "set" => {
            out.set(3);
            (0..3).for_each(|i| out.int(i));
        }
        "map" => {
            out.map(3);
            for i in 0..3 {
                out.int(i);
                out.bool(i == 1);
            }
        }
        "attrib" => {
            if out.resp3() {
                out.attribute(1);
                out.bulk_str("key-popularity");
                out.array(2);
                out.bulk_str("key:123");
                out.int(90);
            }
            out.bulk_str("Some real reply following the attribute");
        }
        "push" => {
            if !out.resp3() {
                return Err(CmdError::err("RESP2 is not supported by this command"));
            }
            out.push(2);
            out.bulk_str("server-cpu-usage");
            out.int(42);
            out.bulk_str("Some real reply following the push reply");
        }
        "true" => out.bool(true),
        "false" => out.bool(false),
        "verbatim" => out.verbatim("txt", b"This is a verbatim\nstring"),
        _ => {
            return Err(CmdError::err(
                "Wrong protocol type name. Please use one of the following: string|integer|double|bignum|null|array|set|map|attrib|push|verbatim|true|false",
            ))
        }
    }
    Ok(())
}

/// MONITOR: from now on the connection receives a line for every command
/// the server runs (monitor.rs).
fn monitor(ctx: &mut Ctx<'_>, _argv: &[&[u8]]) -> CmdResult {
    if ctx.in_exec {
        // A transaction expects one reply per command: no stream here.
        return Err(CmdError::err("MONITOR isn't allowed for DENY BLOCKING client"));
    }
    if ctx.client.is_replica || ctx.client.info.has_flag(flags::MONITOR) {
        return Ok(());
    }
    ctx.client.info.set_flag(flags::MONITOR, true);
    ctx.server.monitors.add(ctx.client.info.clone());
    ctx.out.ok();
    Ok(())
}

pub fn register(r: &mut Registrar) {
    r.plain("monitor", monitor);
    r.plain("config|get", config_get);
    r.plain("config|set", config_set);
    r.plain("config|resetstat", config_resetstat);
    r.plain("config|rewrite", config_rewrite);
    r.plain("config|help", config_help);
    r.plain("time", time);
    r.custom("shutdown", shutdown, shutdown_plan);
    r.plain("command", command);
    r.plain("command|count", command_count);
    r.plain("command|info", command_info);
    r.plain("command|docs", command_docs);
    r.plain("command|list", command_list);
    r.plain("command|getkeys", command_getkeys);
    r.plain("command|getkeysandflags", command_getkeysandflags);
    r.plain("command|help", command_help);
    r.custom("debug", debug, crate::families::persistence::debug_plan);
    r.keys("memory|usage", memory_usage);
}
