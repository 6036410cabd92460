//! Keyspace commands: DEL, EXISTS, TYPE, KEYS, SCAN, RENAME, COPY, MOVE,
//! expiry commands, OBJECT, and the database-wide DBSIZE, FLUSHDB,
//! FLUSHALL, SWAPDB, RANDOMKEY.

use std::sync::atomic::Ordering;

use shoal_engine::{events, Lookup, Tx, NO_EXPIRE, SHARD_COUNT};
use shoal_types::glob_match;

use crate::exec::{Ctx, Registrar};
use crate::error::{parse, CmdError, CmdResult};

fn del(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let lazy = ctx.server.tunables.lazyfree_lazy_user_del.load(std::sync::atomic::Ordering::Relaxed);
    delete_keys(ctx, argv, lazy)
}

fn unlink(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    delete_keys(ctx, argv, true)
}

/// DEL and UNLINK: with `lazy`, large values are freed in the background.
fn delete_keys(ctx: &mut Ctx<'_>, argv: &[&[u8]], lazy: bool) -> CmdResult {
    let server = ctx.server;
    let tx = ctx.tx();
    let db = tx.db;
    let mut deleted = 0;
    for key in &argv[1..] {
        if let Some(entry) = tx.remove_in(db, key) {
            deleted += 1;
            tx.changed(key, events::DEL, 1);
            if lazy {
                server.lazyfree.free_entry(entry);
            }
        }
    }
    ctx.out.int(deleted as i64);
    Ok(())
}

fn exists(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let tx = ctx.tx();
    let count = argv[1..].iter().filter(|k| tx.lookup(k, Lookup::NO_TOUCH).is_some()).count();
    ctx.out.int(count as i64);
    Ok(())
}

fn touch(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let tx = ctx.tx();
    let count = argv[1..].iter().filter(|k| tx.lookup(k, Lookup::READ).is_some()).count();
    ctx.out.int(count as i64);
    Ok(())
}

fn type_(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let name = match ctx.tx().lookup(argv[1], Lookup::NO_TOUCH) {
        Some(entry) => entry.value().value_type().name(),
        None => "none",
    };
    ctx.out.simple(name);
    Ok(())
}

fn keys(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let pattern = argv[1];
    let all = pattern == b"*";
    let tx = ctx.tx();
    let (db, now) = (tx.db, tx.now_ms);
    let mut found: Vec<Vec<u8>> = Vec::new();
    for shard in tx.locks.iter() {
        for entry in shard.dbs[db].iter() {
            if (all || glob_match(pattern, entry.key(), false)) && !entry.is_expired(now) {
                found.push(entry.key().to_vec());
            }
        }
    }
    ctx.out.array(found.len());
    for key in found {
        ctx.out.bulk(&key);
    }
    Ok(())
}

/// Parses a SCAN cursor as Redis does: `strtoul` in base 10 on the
/// argument read as a C string (it ends at the first NUL byte, and may be
/// any length), refusing a leading space and out-of-range values.
pub fn parse_cursor(arg: &[u8]) -> Result<u64, CmdError> {
    let text = &arg[..arg.iter().position(|&b| b == 0).unwrap_or(arg.len())];
    // C's isspace: space, \t, \n, \v, \f, \r.
    if text.first().is_some_and(|c| matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')) {
        return Err(CmdError::INVALID_CURSOR);
    }
    let mut buf = Vec::with_capacity(text.len() + 1);
    buf.extend_from_slice(text);
    buf.push(0);
    let mut end: *mut libc::c_char = std::ptr::null_mut();
    // SAFETY: buf is NUL-terminated; strtoul stops inside it.
    let (value, consumed, erange) = unsafe {
        *libc::__errno_location() = 0;
        let v = libc::strtoul(buf.as_ptr() as *const libc::c_char, &mut end, 10);
        (v, end.offset_from(buf.as_ptr() as *const libc::c_char) as usize, *libc::__errno_location() == libc::ERANGE)
    };
    if consumed != text.len() || erange {
        return Err(CmdError::INVALID_CURSOR);
    }
    Ok(value)
}

/// SCAN/HSCAN/SSCAN/ZSCAN options.
pub struct ScanOptions<'a> {
    pub count: usize,
    pub pattern: Option<&'a [u8]>,
    pub value_type: Option<&'a [u8]>,
}

/// Parses the options starting at `first`; TYPE only when `allow_type`.
pub fn parse_scan_options<'a>(argv: &[&'a [u8]], first: usize, allow_type: bool) -> Result<ScanOptions<'a>, CmdError> {
    let mut options = ScanOptions { count: 10, pattern: None, value_type: None };
    let mut i = first;
    while i < argv.len() {
        let remaining = argv.len() - i;
        if parse::is(argv[i], "count") && remaining >= 2 {
            let count = parse::int(argv[i + 1])?;
            if count < 1 {
                return Err(CmdError::Syntax);
            }
            options.count = count as usize;
        } else if parse::is(argv[i], "match") && remaining >= 2 {
            options.pattern = (argv[i + 1] != b"*").then_some(argv[i + 1]);
        } else if parse::is(argv[i], "type") && allow_type && remaining >= 2 {
            options.value_type = Some(argv[i + 1]);
        } else {
            return Err(CmdError::Syntax);
        }
        i += 2;
    }
    Ok(options)
}

/// Bits of the SCAN cursor that select the shard.
const SHARD_BITS: u32 = SHARD_COUNT.trailing_zeros();

fn scan(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let cursor = parse_cursor(argv[1])?;
    let options = parse_scan_options(argv, 2, true)?;
    // Compared as a C string, case-insensitively, with the type's name.
    let wanted_type = options.value_type.map(|t| &t[..t.iter().position(|&b| b == 0).unwrap_or(t.len())]);
    let tx = ctx.tx();
    let db = tx.db;
    let mut shard = (cursor & (SHARD_COUNT as u64 - 1)) as usize;
    let mut inner = cursor >> SHARD_BITS;
    let mut keys: Vec<Vec<u8>> = Vec::new();
    let mut budget = options.count.saturating_mul(10).max(1);
    let next = loop {
        let table = &tx.locks.shard(shard as u16).dbs[db];
        if table.is_empty() {
            // Empty shards cost nothing: skip to the next one.
            inner = 0;
        } else {
            inner = table.scan(inner, |entry| keys.push(entry.key().to_vec()));
            budget -= 1;
        }
        if inner == 0 {
            shard += 1;
            if shard == SHARD_COUNT {
                break 0;
            }
        }
        if keys.len() >= options.count || budget == 0 {
            break (inner << SHARD_BITS) | shard as u64;
        }
    };
    let mut reply: Vec<Vec<u8>> = Vec::with_capacity(keys.len());
    for key in keys {
        if let Some(pattern) = options.pattern {
            if !glob_match(pattern, &key, false) {
                continue;
            }
        }
        if let Some(wanted) = wanted_type {
            // As Redis: the type comes from a read lookup (counted in the
            // keyspace statistics) that deletes an expired key, whose type
            // is then "none"; the expiry check that follows finds nothing
            // left to filter. So TYPE none returns keys that had expired.
            let name = match tx.lookup(&key, Lookup::NO_TOUCH) {
                Some(entry) => entry.value().value_type().name(),
                None => "none",
            };
            if !name.as_bytes().eq_ignore_ascii_case(wanted) {
                continue;
            }
        }
        // Expired keys are deleted here, as Redis's SCAN does (a key that
        // could not be deleted, on a replica, is still filtered out).
        if tx.lookup(&key, Lookup::QUIET).is_none() && (wanted_type.is_none() || tx.is_stale_in(db, &key)) {
            continue;
        }
        reply.push(key);
    }
    ctx.out.array(2);
    ctx.out.bulk(next.to_string().as_bytes());
    ctx.out.array(reply.len());
    for key in reply {
        ctx.out.bulk(&key);
    }
    Ok(())
}

fn randomkey(ctx: &mut Ctx<'_>, _argv: &[&[u8]]) -> CmdResult {
    let tx = ctx.tx();
    let db = tx.db;
    // Give up after many expired picks, as Redis does, rather than loop.
    for _ in 0..100 {
        let Some(key) = random_key(tx, db) else { break };
        if tx.lookup(&key, Lookup::QUIET).is_some() {
            ctx.out.bulk(&key);
            return Ok(());
        }
    }
    ctx.out.null();
    Ok(())
}

/// A key picked uniformly at random (possibly logically expired).
fn random_key(tx: &mut Tx<'_>, db: usize) -> Option<Vec<u8>> {
    let sizes: Vec<usize> = tx.locks.iter().map(|s| s.dbs[db].len()).collect();
    let total: usize = sizes.iter().sum();
    if total == 0 {
        return None;
    }
    let mut pick = rand::random_range(0..total);
    let mut shard = 0;
    while pick >= sizes[shard] {
        pick -= sizes[shard];
        shard += 1;
    }
    let table = &tx.locks.shard(shard as u16).dbs[db];
    let slot = table.random_slot(rand::random())?;
    Some(table.entry(slot).key().to_vec())
}

fn rename(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    rename_generic(ctx, argv, false)
}

fn renamenx(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    rename_generic(ctx, argv, true)
}

fn rename_generic(ctx: &mut Ctx<'_>, argv: &[&[u8]], nx: bool) -> CmdResult {
    let (from, to) = (argv[1], argv[2]);
    let tx = ctx.tx();
    let db = tx.db;
    if tx.lookup(from, Lookup::WRITE).is_none() {
        return Err(CmdError::NoSuchKey);
    }
    if from == to {
        if nx {
            ctx.out.int(0);
        } else {
            ctx.out.ok();
        }
        return Ok(());
    }
    if tx.lookup(to, Lookup::WRITE).is_some() {
        if nx {
            ctx.out.int(0);
            return Ok(());
        }
        tx.remove_in(db, to);
    }
    let entry = tx.remove_in(db, from).expect("checked above");
    let expire = entry.expire_at();
    tx.insert_in(db, to, entry.into_value(), expire);
    tx.changed(from, events::RENAME_FROM, 1);
    tx.changed(to, events::RENAME_TO, 0);
    if nx {
        ctx.out.int(1);
    } else {
        ctx.out.ok();
    }
    Ok(())
}

/// A database index argument (SELECT, MOVE, COPY DB), range-checked.
pub fn db_argument(ctx: &Ctx<'_>, arg: &[u8]) -> Result<usize, CmdError> {
    let value = parse::int(arg)?;
    if value < i32::MIN as i64 || value > i32::MAX as i64 {
        return Err(CmdError::not_between(i32::MIN.into(), i32::MAX.into()));
    }
    if value < 0 || value as usize >= ctx.server.engine.db_count() {
        return Err(CmdError::DbIndexOutOfRange);
    }
    Ok(value as usize)
}

fn move_(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let target = db_argument(ctx, argv[2])?;
    let key = argv[1];
    let tx = ctx.tx();
    let source = tx.db;
    if source == target {
        return Err(CmdError::SameObject);
    }
    if tx.lookup(key, Lookup::WRITE).is_none() || tx.lookup_in(target, key, Lookup::WRITE).is_some() {
        ctx.out.int(0);
        return Ok(());
    }
    let entry = tx.remove_in(source, key).expect("checked above");
    let expire = entry.expire_at();
    tx.insert_in(target, key, entry.into_value(), expire);
    tx.changed_in(source, key, events::MOVE_FROM, 1);
    tx.changed_in(target, key, events::MOVE_TO, 0);
    ctx.out.int(1);
    Ok(())
}

fn copy(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let (from, to) = (argv[1], argv[2]);
    let mut replace = false;
    let mut target = ctx.client.db;
    let mut j = 3;
    while j < argv.len() {
        if parse::is(argv[j], "replace") {
            replace = true;
        } else if parse::is(argv[j], "db") && j + 1 < argv.len() {
            target = db_argument(ctx, argv[j + 1])?;
            j += 1;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    let tx = ctx.tx();
    let source = tx.db;
    if source == target && from == to {
        return Err(CmdError::SameObject);
    }
    let Some(entry) = tx.lookup(from, Lookup::READ) else {
        ctx.out.int(0);
        return Ok(());
    };
    let (value, expire) = (entry.value().duplicate(), entry.expire_at());
    if tx.lookup_in(target, to, Lookup::WRITE).is_some() {
        if !replace {
            ctx.out.int(0);
            return Ok(());
        }
        tx.remove_in(target, to);
    }
    tx.insert_in(target, to, value, expire);
    tx.changed_in(target, to, events::COPY_TO, 1);
    ctx.out.int(1);
    Ok(())
}

/// Expiry command flavours.
#[derive(Clone, Copy)]
enum Base {
    /// Relative to now.
    Now,
    /// Absolute.
    Epoch,
}

fn expire(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    expire_generic(ctx, argv, Base::Now, true)
}

fn pexpire(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    expire_generic(ctx, argv, Base::Now, false)
}

fn expireat(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    expire_generic(ctx, argv, Base::Epoch, true)
}

fn pexpireat(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    expire_generic(ctx, argv, Base::Epoch, false)
}

fn expire_generic(ctx: &mut Ctx<'_>, argv: &[&[u8]], base: Base, seconds: bool) -> CmdResult {
    let (mut nx, mut xx, mut gt, mut lt) = (false, false, false, false);
    for opt in &argv[3..] {
        if parse::is(opt, "nx") {
            nx = true;
        } else if parse::is(opt, "xx") {
            xx = true;
        } else if parse::is(opt, "gt") {
            gt = true;
        } else if parse::is(opt, "lt") {
            lt = true;
        } else {
            // Redis formats the option with %s (it ends at a NUL byte), then
            // trims CR and LF from the end of the message.
            let mut text = &opt[..opt.iter().position(|&b| b == 0).unwrap_or(opt.len())];
            while let [rest @ .., b'\r' | b'\n'] = text {
                text = rest;
            }
            return Err(CmdError::err_bytes(&[b"Unsupported option ", text]));
        }
    }
    if nx && (xx || gt || lt) {
        return Err(CmdError::err("NX and XX, GT or LT options at the same time are not compatible"));
    }
    if gt && lt {
        return Err(CmdError::err("GT and LT options at the same time are not compatible"));
    }
    let command = ctx.cmd.name;
    let invalid = || CmdError::InvalidExpire(command);
    let mut when = parse::int(argv[2])?;
    if seconds {
        when = when.checked_mul(1000).ok_or_else(invalid)?;
    }
    let tx = ctx.tx();
    let basetime = match base {
        Base::Now => tx.now_ms,
        Base::Epoch => 0,
    };
    if when > i64::MAX - basetime {
        return Err(invalid());
    }
    when += basetime;
    let key = argv[1];
    let db = tx.db;
    let Some(entry) = tx.lookup(key, Lookup::WRITE) else {
        ctx.out.int(0);
        return Ok(());
    };
    let current = entry.expire_at();
    let has = current != NO_EXPIRE;
    let refused = (nx && has) || (xx && !has) || (gt && (!has || when <= current)) || (lt && has && when >= current);
    if refused {
        ctx.out.int(0);
        return Ok(());
    }
    // Loading a file, a time in the past is kept as it is (the key goes
    // once loaded), as in Redis.
    if when <= shoal_engine::now_ms() && ctx.server.engine.may_delete_expired() && !ctx.tx().loading {
        let tx = ctx.tx();
        tx.remove_in(db, key);
        tx.changed(key, events::DEL, 1);
        ctx.propagate_as(vec![vec![b"DEL".to_vec(), key.to_vec()]]);
    } else {
        let tx = ctx.tx();
        tx.set_expire_in(db, key, when);
        tx.changed(key, events::EXPIRE, 1);
        let mut rewritten: Vec<Vec<u8>> = argv.iter().map(|a| a.to_vec()).collect();
        rewritten[0] = b"PEXPIREAT".to_vec();
        rewritten[2] = when.to_string().into_bytes();
        ctx.propagate_as(vec![rewritten]);
    }
    ctx.out.int(1);
    Ok(())
}

/// What TTL-family commands report.
#[derive(Clone, Copy)]
enum TtlOutput {
    Seconds,
    Millis,
    AbsoluteSeconds,
    AbsoluteMillis,
}

fn ttl_generic(ctx: &mut Ctx<'_>, argv: &[&[u8]], output: TtlOutput) -> CmdResult {
    let tx = ctx.tx();
    let Some(entry) = tx.lookup(argv[1], Lookup::NO_TOUCH) else {
        ctx.out.int(-2);
        return Ok(());
    };
    let expire = entry.expire_at();
    if expire == NO_EXPIRE {
        ctx.out.int(-1);
        return Ok(());
    }
    let now = shoal_engine::now_ms();
    let value = match output {
        // Rounded as Redis's compiled `(ttl + 500) / 1000` behaves for a
        // non-negative ttl: without overflow, even near i64::MAX.
        TtlOutput::Seconds => round_to_seconds(expire.saturating_sub(now).max(0)),
        TtlOutput::Millis => expire.saturating_sub(now).max(0),
        TtlOutput::AbsoluteSeconds => round_to_seconds(expire.max(0)),
        TtlOutput::AbsoluteMillis => expire.max(0),
    };
    ctx.out.int(value);
    Ok(())
}

/// Milliseconds (non-negative) to the nearest second, rounding half up.
fn round_to_seconds(ms: i64) -> i64 {
    ((ms as u64 + 500) / 1000) as i64
}

fn ttl(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    ttl_generic(ctx, argv, TtlOutput::Seconds)
}

fn pttl(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    ttl_generic(ctx, argv, TtlOutput::Millis)
}

fn expiretime(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    ttl_generic(ctx, argv, TtlOutput::AbsoluteSeconds)
}

fn pexpiretime(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    ttl_generic(ctx, argv, TtlOutput::AbsoluteMillis)
}

fn persist(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let tx = ctx.tx();
    let db = tx.db;
    let had = tx.lookup(argv[1], Lookup::WRITE).is_some_and(|e| e.has_expire());
    if had {
        tx.set_expire_in(db, argv[1], NO_EXPIRE);
        tx.changed(argv[1], events::PERSIST, 1);
    }
    ctx.out.int(had as i64);
    Ok(())
}

fn object_encoding(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    match ctx.tx().lookup(argv[2], Lookup::QUIET) {
        Some(entry) => {
            let encoding = entry.value().encoding();
            ctx.out.bulk_str(encoding);
        }
        None => ctx.out.null(),
    }
    Ok(())
}

fn object_refcount(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    // Redis does not share integers when an LRU or LFU policy needs each
    // key's own access data.
    let policy = ctx.server.engine.eviction.policy();
    let per_key_access = ctx.server.tunables.maxmemory.load(std::sync::atomic::Ordering::Relaxed) > 0
        && (policy.is_lru() || policy.is_lfu());
    match ctx.tx().lookup(argv[2], Lookup::QUIET) {
        // Small integers are shared objects in Redis (refcount INT_MAX).
        Some(entry) => {
            let shared = !per_key_access && matches!(entry.value(), shoal_types::Value::Int(i) if (0..10000).contains(i));
            ctx.out.int(if shared { i32::MAX as i64 } else { 1 });
        }
        None => ctx.out.null(),
    }
    Ok(())
}

fn object_idletime(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let engine = &ctx.server.engine;
    let lfu = engine.eviction.policy().is_lfu();
    match ctx.tx.as_mut().expect("locked").lookup(argv[2], Lookup::QUIET) {
        Some(_) if lfu => {
            return Err(CmdError::err(
                "An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.",
            ))
        }
        Some(entry) => {
            let idle = engine.idle_seconds(entry.access());
            ctx.out.int(idle as i64);
        }
        None => ctx.out.null(),
    }
    Ok(())
}

fn object_freq(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let engine = &ctx.server.engine;
    let lfu = engine.eviction.policy().is_lfu();
    let decay = engine.eviction.lfu_decay_time.load(std::sync::atomic::Ordering::Relaxed);
    let now_ms = ctx.tx().now_ms;
    match ctx.tx().lookup(argv[2], Lookup::QUIET) {
        Some(_) if !lfu => Err(CmdError::err(
            "An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.",
        )),
        Some(entry) => {
            let freq = shoal_engine::evict::lfu_decayed(entry.access(), now_ms, decay);
            ctx.out.int(freq as i64);
            Ok(())
        }
        None => {
            ctx.out.null();
            Ok(())
        }
    }
}

fn object_help(ctx: &mut Ctx<'_>, _argv: &[&[u8]]) -> CmdResult {
    crate::families::help::write_help(
        ctx.out,
        "OBJECT",
        &[
            "ENCODING <key>",
            "    Return the internal encoding used to store the value of <key>.",
            "FREQ <key>",
            "    Return the access frequency of <key> (LFU eviction policies only).",
            "IDLETIME <key>",
            "    Return the seconds since <key> was last read or written.",
            "REFCOUNT <key>",
            "    Return how many references the value of <key> has.",
        ],
    );
    Ok(())
}

fn dbsize(ctx: &mut Ctx<'_>, _argv: &[&[u8]]) -> CmdResult {
    let tx = ctx.tx();
    let db = tx.db;
    let size: usize = tx.locks.iter().map(|s| s.dbs[db].len()).sum();
    ctx.out.int(size as i64);
    Ok(())
}

/// Parses FLUSHDB/FLUSHALL's optional ASYNC|SYNC.
/// True when the flush frees in the background: ASYNC, or neither mode
/// given and `lazyfree-lazy-user-flush` set.
fn flush_is_lazy(ctx: &Ctx<'_>, argv: &[&[u8]]) -> Result<bool, CmdError> {
    match argv.get(1) {
        None => Ok(ctx.server.tunables.lazyfree_lazy_user_flush.load(std::sync::atomic::Ordering::Relaxed)),
        Some(a) if argv.len() == 2 && parse::is(a, "async") => Ok(true),
        Some(a) if argv.len() == 2 && parse::is(a, "sync") => Ok(false),
        Some(_) => Err(CmdError::Syntax),
    }
}

fn flushdb(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let lazy = flush_is_lazy(ctx, argv)?;
    let db = ctx.client.db;
    let server = ctx.server;
    let removed = flush_databases(ctx.tx(), &[db], lazy.then_some(&server.lazyfree));
    ctx.tx().add_dirty(removed as u64);
    flush_invalidates_tracking(ctx, false);
    force_propagation(ctx, argv);
    ctx.out.ok();
    Ok(())
}

fn flushall(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let lazy = flush_is_lazy(ctx, argv)?;
    let server = ctx.server;
    let dbs: Vec<usize> = (0..server.engine.db_count()).collect();
    let removed = flush_databases(ctx.tx(), &dbs, lazy.then_some(&server.lazyfree));
    // As Redis: a running background save is stopped, and with save
    // points the empty dataset is saved at once (no change is then left
    // unsaved); without, every removed key counts as a change.
    crate::persistence::kill_bgsave(server);
    let saved = server.has_save_points()
        && crate::persistence::save(server, &ctx.tx().locks).is_ok();
    if !saved {
        ctx.tx().add_dirty(removed as u64 + 1);
    }
    flush_invalidates_tracking(ctx, true);
    force_propagation(ctx, argv);
    ctx.out.ok();
    Ok(())
}

/// Client-side caches are told that everything changed.
fn flush_invalidates_tracking(ctx: &mut Ctx<'_>, all_databases: bool) {
    let tx = ctx.tx.as_mut().expect("flushes lock every shard");
    crate::tracking::flushed(ctx.server, tx, ctx.client, all_databases);
}

fn force_propagation(ctx: &mut Ctx<'_>, argv: &[&[u8]]) {
    ctx.propagate_as(vec![argv.iter().map(|a| a.to_vec()).collect()]);
}

/// Empties databases in every shard (all shards are locked), signalling
/// WATCHers of keys that existed; with `lazy`, the keys are freed in the
/// background. Returns how many keys were removed.
pub fn flush_databases(tx: &mut Tx<'_>, dbs: &[usize], lazy: Option<&crate::lazyfree::LazyFree>) -> usize {
    let mut removed = 0;
    let mut garbage = Vec::new();
    let mut ready = Vec::new();
    tx.before_whole_db_change(dbs);
    for shard in tx.locks.iter_mut() {
        for &db in dbs {
            touch_watched_in_db(shard, db, None);
            blocked_keys_present(shard, db, &[db], &mut ready);
            removed += shard.dbs[db].len();
            garbage.push(shard.dbs[db].take());
        }
    }
    match lazy {
        Some(lazy) if removed > 0 => lazy.free_later(Box::new(garbage), removed as u64),
        _ => drop(garbage),
    }
    mark_ready(tx, ready);
    if dbs.len() == tx.engine.db_count() {
        // Nothing is left for a writable replica to expire itself.
        tx.engine.replica_expires.clear();
    }
    removed
}

/// Replaces every database with `staged` (one `Box<[Db]>` per shard, in
/// shard order: an async load's new dataset), as a flush followed by the
/// new keys' arrival: watchers of keys in the old or the new data are
/// marked dirty, clients blocked on keys of either are looked at again.
/// The caller holds every shard. Returns the number of keys removed.
pub fn swap_in_databases(
    tx: &mut Tx<'_>,
    staged: Vec<Box<[shoal_engine::db::Db]>>,
    lazy: Option<&crate::lazyfree::LazyFree>,
) -> usize {
    let dbs: Vec<usize> = (0..tx.engine.db_count()).collect();
    let removed = flush_databases(tx, &dbs, lazy);
    let mut ready = Vec::new();
    for (index, mut new_dbs) in staged.into_iter().enumerate() {
        let shard = tx.locks.shard(index as shoal_engine::ShardIndex);
        for &db in &dbs {
            shard.dbs[db] = new_dbs[db].take();
            touch_watched_in_db(shard, db, None);
            blocked_keys_present(shard, db, &[db], &mut ready);
        }
    }
    mark_ready(tx, ready);
    removed
}

/// Keys of `db` that clients are blocked on and that exist in one of
/// `dbs`: a flush or swap changes them under the waiters, who must look
/// again (XREADGROUP fails once its stream is gone, as in Redis).
fn blocked_keys_present(shard: &shoal_engine::keyspace::Shard, db: usize, dbs: &[usize], out: &mut Vec<(usize, Vec<u8>)>) {
    if shard.blocked.is_empty() {
        return;
    }
    for key in shard.blocked.keys_in(db) {
        let hash = shoal_types::hash_bytes(&key);
        if dbs.iter().any(|&d| shard.dbs[d].find(hash, &key).is_some()) {
            out.push((db, key));
        }
    }
}

/// Queues keys whose waiters must be served when the unit ends.
fn mark_ready(tx: &mut Tx<'_>, keys: Vec<(usize, Vec<u8>)>) {
    for entry in keys {
        if !tx.ready.contains(&entry) {
            tx.ready.push(entry);
        }
    }
}

/// Redis's touchAllWatchedKeysInDb: marks watchers of keys in `emptied`
/// (or in `replaced_with`, for SWAPDB) dirty, with its handling of keys
/// that were already expired when watched.
fn touch_watched_in_db(shard: &mut shoal_engine::keyspace::Shard, emptied: usize, replaced_with: Option<usize>) {
    if shard.watched.is_empty() {
        return;
    }
    let now = shoal_engine::now_ms();
    let dbs = &shard.dbs;
    for ((db, key), entries) in shard.watched.iter_mut() {
        if *db != emptied {
            continue;
        }
        let hash = shoal_types::hash_bytes(key);
        let in_emptied = dbs[emptied].find(hash, key).is_some();
        let replacement = replaced_with.and_then(|r| dbs[r].find(hash, key).map(|slot| (r, slot)));
        if !in_emptied && replacement.is_none() {
            continue;
        }
        let replacement_expired = replacement.is_some_and(|(r, slot)| dbs[r].entry(slot).is_expired(now));
        for entry in entries.iter_mut() {
            if entry.expired {
                if replacement.is_none() {
                    entry.expired = false;
                    continue;
                } else if replacement_expired {
                    continue;
                }
            } else if !in_emptied && replacement_expired {
                entry.expired = true;
                continue;
            }
            entry.watcher.mark_dirty();
        }
    }
}

fn swapdb(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let index = |arg: &[u8], message: &'static str| -> Result<i64, CmdError> {
        let v = shoal_resp::number::parse_i64(arg).ok_or_else(|| CmdError::err(message))?;
        if v < i32::MIN as i64 || v > i32::MAX as i64 {
            return Err(CmdError::err(message));
        }
        Ok(v)
    };
    let first = index(argv[1], "invalid first DB index")?;
    let second = index(argv[2], "invalid second DB index")?;
    let count = ctx.server.engine.db_count() as i64;
    if first < 0 || second < 0 || first >= count || second >= count {
        return Err(CmdError::DbIndexOutOfRange);
    }
    let (a, b) = (first as usize, second as usize);
    let tx = ctx.tx();
    if a != b {
        let mut ready = Vec::new();
        tx.before_whole_db_change(&[a, b]);
        for shard in tx.locks.iter_mut() {
            blocked_keys_present(shard, a, &[a, b], &mut ready);
            blocked_keys_present(shard, b, &[a, b], &mut ready);
            touch_watched_in_db(shard, a, Some(b));
            touch_watched_in_db(shard, b, Some(a));
            shard.dbs.swap(a, b);
        }
        mark_ready(tx, ready);
    }
    tx.add_dirty(1);
    ctx.out.ok();
    Ok(())
}

pub fn register(r: &mut Registrar) {
    r.keys("del", del);
    r.keys("unlink", unlink);
    r.keys("exists", exists);
    r.keys("touch", touch);
    r.keys("type", type_);
    r.all("keys", keys);
    r.all("scan", scan);
    r.all("randomkey", randomkey);
    r.keys("rename", rename);
    r.keys("renamenx", renamenx);
    r.keys("move", move_);
    r.keys("copy", copy);
    r.keys("expire", expire);
    r.keys("pexpire", pexpire);
    r.keys("expireat", expireat);
    r.keys("pexpireat", pexpireat);
    r.keys("ttl", ttl);
    r.keys("pttl", pttl);
    r.keys("expiretime", expiretime);
    r.keys("pexpiretime", pexpiretime);
    r.keys("persist", persist);
    r.keys("object|encoding", object_encoding);
    r.keys("object|refcount", object_refcount);
    r.keys("object|idletime", object_idletime);
    r.keys("object|freq", object_freq);
    r.plain("object|help", object_help);
    r.all("dbsize", dbsize);
    r.all("flushdb", flushdb);
    r.all("flushall", flushall);
    r.all("swapdb", swapdb);
    let _ = Ordering::Relaxed;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_parse_like_strtoul_on_a_c_string() {
        assert_eq!(parse_cursor(b"0"), Ok(0));
        assert_eq!(parse_cursor(b""), Ok(0));
        assert_eq!(parse_cursor(b"+7"), Ok(7));
        assert_eq!(parse_cursor(b"-1"), Ok(u64::MAX));
        assert_eq!(parse_cursor(b"12\0junk"), Ok(12));
        assert_eq!(parse_cursor(&[b'0'; 70]), Ok(0));
        assert_eq!(parse_cursor(b"18446744073709551615"), Ok(u64::MAX));
        for bad in [&b" 1"[..], b"\t1", b"-", b"1x", b"0 ", b"18446744073709551616"] {
            assert_eq!(parse_cursor(bad), Err(CmdError::INVALID_CURSOR), "{bad:?}");
        }
    }

    #[test]
    fn seconds_round_half_up_without_overflow() {
        assert_eq!(round_to_seconds(0), 0);
        assert_eq!(round_to_seconds(499), 0);
        assert_eq!(round_to_seconds(500), 1);
        assert_eq!(round_to_seconds(i64::MAX), 9_223_372_036_854_776);
    }
}
