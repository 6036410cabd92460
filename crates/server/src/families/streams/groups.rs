//! Consumer group commands: XGROUP, XACK, XPENDING, XCLAIM, XAUTOCLAIM.
//!
//! Claims propagate as idempotent XCLAIM ... FORCE JUSTID commands (one per
//! entry, with the resulting owner, delivery time and count), and pending
//! entries whose stream entry is gone are dropped, as Redis does.

use shoal_engine::{events, Lookup, NO_EXPIRE};
use shoal_types::stream::{ConsumerId, Group, Stream, StreamId, ENTRIES_READ_UNKNOWN};
use shoal_types::Value;

use super::read::{setid_command, xclaim_command};
use super::{int_or, loose_id, range_end, range_start, reply_entry, reply_id, stream_at, stream_at_mut, strict_id, wake_waiters};
use crate::exec::{Ctx, Registrar};
use crate::error::{self, parse, CmdError, CmdResult};
use crate::families::help::write_help;

/// XAUTOCLAIM scans at most this many PEL entries per entry it may return.
const AUTOCLAIM_ATTEMPTS_FACTOR: u64 = 10;
/// XAUTOCLAIM's default COUNT.
const AUTOCLAIM_DEFAULT_COUNT: u64 = 100;
/// Largest XAUTOCLAIM COUNT (Redis bounds it so COUNT * 16 bytes fits).
const AUTOCLAIM_MAX_COUNT: i64 = i64::MAX / 16;

/// Finds a consumer (refreshing its seen time) or creates it, setting
/// `created`.
fn consumer_for(group: &mut Group, name: &[u8], now: i64, created: &mut bool) -> ConsumerId {
    match group.find_consumer(name) {
        Some(id) => {
            group.touch_consumer(id, now);
            id
        }
        None => {
            *created = true;
            group.create_consumer(name, now).expect("name is free")
        }
    }
}

// ---- XGROUP ----------------------------------------------------------------

/// Options after `XGROUP <sub> <key> <group> <id>`.
struct GroupOptions {
    mkstream: bool,
    entries_read: i64,
}

/// The XGROUP subcommands that take a key and a group.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Sub {
    Create,
    SetId,
    Destroy,
    CreateConsumer,
    DelConsumer,
}

fn parse_group_options(argv: &[&[u8]], sub: Sub) -> Result<GroupOptions, CmdError> {
    let mut options = GroupOptions { mkstream: false, entries_read: ENTRIES_READ_UNKNOWN };
    let mut i = 5;
    while i < argv.len() {
        if sub == Sub::Create && parse::is(argv[i], "mkstream") {
            options.mkstream = true;
            i += 1;
        } else if matches!(sub, Sub::Create | Sub::SetId) && parse::is(argv[i], "entriesread") && i + 1 < argv.len() {
            let value = parse::int(argv[i + 1])?;
            if value < 0 && value != ENTRIES_READ_UNKNOWN {
                return Err(CmdError::err("value for ENTRIESREAD must be positive or -1"));
            }
            options.entries_read = value;
            i += 2;
        } else {
            return Err(CmdError::subcommand_syntax(argv));
        }
    }
    Ok(options)
}

/// The checks every XGROUP subcommand makes first, in Redis's order:
/// options, key type, key existence (unless MKSTREAM), group existence.
/// Returns the options and whether the stream exists.
fn group_prelude(ctx: &mut Ctx<'_>, argv: &[&[u8]], sub: Sub, arity_ok: bool) -> Result<(GroupOptions, bool), CmdError> {
    let options = parse_group_options(argv, sub)?;
    let (key, name) = (argv[2], argv[3]);
    let tx = ctx.tx.as_mut().expect("xgroup locks its key");
    let stream = stream_at_mut(tx, key, Lookup::WRITE)?;
    let exists = stream.is_some();
    if !options.mkstream {
        let Some(stream) = stream else {
            return Err(CmdError::err("The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically."));
        };
        let needs_group = matches!(sub, Sub::SetId | Sub::CreateConsumer | Sub::DelConsumer);
        if needs_group && stream.group(name).is_none() {
            return Err(CmdError::no_group_for_key(name, key));
        }
    }
    if !arity_ok {
        return Err(CmdError::subcommand_syntax(argv));
    }
    Ok((options, exists))
}

/// The stream of a subcommand whose prelude checked that it exists.
fn checked_stream<'t>(ctx: &'t mut Ctx<'_>, key: &[u8]) -> &'t mut Stream {
    let tx = ctx.tx.as_mut().expect("xgroup locks its key");
    stream_at_mut(tx, key, Lookup::WRITE).ok().flatten().expect("checked by the prelude")
}

fn xgroup_create(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let (options, exists) = group_prelude(ctx, argv, Sub::Create, (5..=8).contains(&argv.len()))?;
    let (key, name) = (argv[2], argv[3]);
    let tx = ctx.tx.as_mut().expect("xgroup locks its key");
    let id = if argv[4] == b"$" {
        stream_at_mut(tx, key, Lookup::WRITE)?.map_or(StreamId::MIN, |s| s.entries().last_id())
    } else {
        strict_id(argv[4])?
    };
    if !exists {
        // MKSTREAM, now that nothing can fail before the group exists.
        let db = tx.db;
        tx.insert_in(db, key, Value::Stream(Box::default()), NO_EXPIRE);
    }
    let stream = stream_at_mut(tx, key, Lookup::WRITE)?.expect("present");
    if !stream.create_group(name, id, options.entries_read) {
        return Err(CmdError::custom("BUSYGROUP Consumer Group name already exists"));
    }
    tx.changed_unwatched(key, events::XGROUP_CREATE, 1);
    ctx.out.ok();
    Ok(())
}

fn xgroup_setid(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let (options, _) = group_prelude(ctx, argv, Sub::SetId, argv.len() == 5 || argv.len() == 7)?;
    let stream = checked_stream(ctx, argv[2]);
    let id = if argv[4] == b"$" { stream.entries().last_id() } else { loose_id(argv[4], 0)? };
    let group = stream.group_mut(argv[3]).expect("checked by the prelude");
    group.last_id = id;
    group.entries_read = options.entries_read;
    ctx.tx().changed_unwatched(argv[2], events::XGROUP_SETID, 1);
    ctx.out.ok();
    Ok(())
}

fn xgroup_destroy(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    group_prelude(ctx, argv, Sub::Destroy, true)?;
    let destroyed = checked_stream(ctx, argv[2]).destroy_group(argv[3]);
    if destroyed {
        let tx = ctx.tx();
        tx.changed_unwatched(argv[2], events::XGROUP_DESTROY, 1);
        // Clients blocked reading through the group get -NOGROUP.
        wake_waiters(tx, argv[2]);
    }
    ctx.out.int(i64::from(destroyed));
    Ok(())
}

fn xgroup_createconsumer(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    group_prelude(ctx, argv, Sub::CreateConsumer, true)?;
    let now = ctx.tx().now_ms;
    let group = checked_stream(ctx, argv[2]).group_mut(argv[3]).expect("checked by the prelude");
    let created = group.create_consumer(argv[4], now).is_some();
    if created {
        ctx.tx().changed_unwatched(argv[2], events::XGROUP_CREATECONSUMER, 1);
    }
    ctx.out.int(i64::from(created));
    Ok(())
}

fn xgroup_delconsumer(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    group_prelude(ctx, argv, Sub::DelConsumer, true)?;
    let group = checked_stream(ctx, argv[2]).group_mut(argv[3]).expect("checked by the prelude");
    let pending = group.delete_consumer(argv[4]);
    if pending.is_some() {
        ctx.tx().changed_unwatched(argv[2], events::XGROUP_DELCONSUMER, 1);
    }
    ctx.out.int(pending.unwrap_or(0) as i64);
    Ok(())
}

fn xgroup_help(ctx: &mut Ctx<'_>, _argv: &[&[u8]]) -> CmdResult {
    write_help(
        ctx.out,
        "XGROUP",
        &[
            "CREATE <key> <groupname> <id|$> [option]",
            "    Make a consumer group that starts reading after <id> ($: the last entry). Options:",
            "    * MKSTREAM",
            "      Make an empty stream when <key> does not exist.",
            "    * ENTRIESREAD entries_read",
            "      Initial value of the group's entries-read counter (used by replication).",
            "CREATECONSUMER <key> <groupname> <consumer>",
            "    Add a consumer to the group.",
            "DELCONSUMER <key> <groupname> <consumer>",
            "    Drop a consumer and its pending entries.",
            "DESTROY <key> <groupname>",
            "    Drop the group.",
            "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
            "    Move the group's last delivered ID (and its entries-read counter).",
        ],
    );
    Ok(())
}

// ---- XACK ------------------------------------------------------------------

fn xack(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let tx = ctx.tx.as_mut().expect("xack locks its key");
    let group = match stream_at_mut(tx, argv[1], Lookup::READ)? {
        Some(stream) => stream.group_mut(argv[2]),
        None => None,
    };
    let Some(group) = group else {
        ctx.out.int(0);
        return Ok(());
    };
    // All IDs are checked first: the command must not half-succeed.
    let ids = argv[3..].iter().map(|a| strict_id(a)).collect::<Result<Vec<_>, _>>()?;
    let mut acknowledged = 0;
    for id in ids {
        if group.remove_pending(id) {
            acknowledged += 1;
        }
    }
    tx.add_dirty(acknowledged);
    ctx.out.int(acknowledged as i64);
    Ok(())
}

// ---- XPENDING --------------------------------------------------------------

struct PendingRange<'a> {
    start: StreamId,
    end: StreamId,
    count: u64,
    min_idle: i64,
    consumer: Option<&'a [u8]>,
}

fn parse_pending_range<'a>(argv: &[&'a [u8]]) -> Result<Option<PendingRange<'a>>, CmdError> {
    let argc = argv.len();
    if argc != 3 && !(6..=9).contains(&argc) {
        return Err(CmdError::Syntax);
    }
    if argc == 3 {
        return Ok(None);
    }
    let mut at = 3;
    let mut min_idle = 0;
    if parse::is(argv[3], "idle") {
        min_idle = parse::int(argv[4])?;
        if argc < 8 {
            return Err(CmdError::Syntax);
        }
        at += 2;
    }
    let count = parse::int(argv[at + 2])?.max(0) as u64;
    let start = range_start(argv[at])?;
    let end = range_end(argv[at + 1])?;
    Ok(Some(PendingRange { start, end, count, min_idle, consumer: argv.get(at + 3).copied() }))
}

fn xpending(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let range = parse_pending_range(argv)?;
    let (key, name) = (argv[1], argv[2]);
    let tx = ctx.tx.as_mut().expect("xpending locks its key");
    let now = tx.now_ms;
    let stream = stream_at(tx, key, Lookup::READ)?;
    let Some(group) = stream.as_ref().and_then(|s| s.group(name)) else {
        return Err(CmdError::no_key_or_group(key, name));
    };
    match range {
        None => pending_summary(ctx.out, group),
        Some(range) => pending_entries(ctx.out, group, &range, now),
    }
    Ok(())
}

fn pending_summary(out: &mut shoal_resp::ReplyBuf, group: &Group) {
    out.array(4);
    out.int(group.pending_count() as i64);
    match (group.first_pending(), group.last_pending()) {
        (Some(first), Some(last)) => {
            reply_id(out, first);
            reply_id(out, last);
            let owners: Vec<_> = group.consumers().filter(|c| c.pending() > 0).collect();
            out.array(owners.len());
            for consumer in owners {
                out.array(2);
                out.bulk(consumer.name());
                out.bulk_i64(consumer.pending() as i64);
            }
        }
        _ => {
            out.null();
            out.null();
            out.null_array();
        }
    }
}

fn pending_entries(out: &mut shoal_resp::ReplyBuf, group: &Group, range: &PendingRange<'_>, now: i64) {
    let ids: Box<dyn Iterator<Item = StreamId>> = match range.consumer {
        None => Box::new(group.pending_from(range.start).map(|(id, _)| id)),
        Some(name) => match group.find_consumer(name) {
            Some(consumer) => Box::new(group.consumer(consumer).pending_range(range.start, StreamId::MAX)),
            None => {
                out.array(0);
                return;
            }
        },
    };
    let deferred = out.begin_deferred(shoal_resp::reply::Aggregate::Array);
    let mut written = 0;
    let mut left = range.count;
    for id in ids {
        if left == 0 || id > range.end {
            break;
        }
        let Some(nack) = group.nack(id) else { continue };
        let idle = now.saturating_sub(nack.delivery_time);
        if range.min_idle != 0 && idle < range.min_idle {
            continue;
        }
        left -= 1;
        written += 1;
        out.array(4);
        reply_id(out, id);
        out.bulk(group.consumer(nack.owner()).name());
        out.int(idle.max(0));
        out.int(nack.delivery_count as i64);
    }
    out.finish_deferred(deferred, written);
}

// ---- XCLAIM ----------------------------------------------------------------

struct ClaimOptions {
    force: bool,
    justid: bool,
    /// Delivery time to set (IDLE/TIME), else now.
    delivery_time: Option<i64>,
    /// RETRYCOUNT (negative: not given).
    retry_count: i64,
    last_id: StreamId,
}

fn parse_claim_options(argv: &[&[u8]], first: usize, now: i64) -> Result<ClaimOptions, CmdError> {
    let mut o = ClaimOptions { force: false, justid: false, delivery_time: None, retry_count: -1, last_id: StreamId::MIN };
    let mut j = first;
    while j < argv.len() {
        let more = argv.len() - 1 - j;
        let opt = argv[j];
        if parse::is(opt, "force") {
            o.force = true;
        } else if parse::is(opt, "justid") {
            o.justid = true;
        } else if parse::is(opt, "idle") && more > 0 {
            j += 1;
            let idle = int_or(argv[j], "Invalid IDLE option argument for XCLAIM")?;
            o.delivery_time = Some(now.wrapping_sub(idle));
        } else if parse::is(opt, "time") && more > 0 {
            j += 1;
            o.delivery_time = Some(int_or(argv[j], "Invalid TIME option argument for XCLAIM")?);
        } else if parse::is(opt, "retrycount") && more > 0 {
            j += 1;
            o.retry_count = int_or(argv[j], "Invalid RETRYCOUNT option argument for XCLAIM")?;
        } else if parse::is(opt, "lastid") && more > 0 {
            j += 1;
            o.last_id = strict_id(argv[j])?;
        } else {
            return Err(CmdError::err(format!("Unrecognized XCLAIM option '{}'", error::c_str(opt))));
        }
        j += 1;
    }
    Ok(o)
}

fn xclaim(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let (key, name, claimer) = (argv[1], argv[2], argv[3]);
    let tx = ctx.tx.as_mut().expect("xclaim locks its key");
    let now = tx.now_ms;
    let stream = stream_at_mut(tx, key, Lookup::READ)?;
    let Some(stream) = stream.filter(|s| s.group(name).is_some()) else {
        return Err(CmdError::no_key_or_group(key, name));
    };
    let min_idle = int_or(argv[4], "Invalid min-idle-time argument for XCLAIM")?.max(0);
    // IDs come first; the first argument that is not an ID starts the options.
    let mut ids = Vec::new();
    let mut j = 5;
    while j < argv.len() {
        match shoal_types::stream::parse_id(argv[j], shoal_types::stream::IdSyntax::STRICT) {
            Some(parsed) => ids.push((parsed.id, argv[j])),
            None => break,
        }
        j += 1;
    }
    let options = parse_claim_options(argv, j, now)?;
    let delivery_time = match options.delivery_time {
        Some(t) if t >= 0 && t <= now => t,
        _ => now,
    };

    let (entries, mut groups) = stream.split_mut();
    let group = groups.get(name).expect("checked");
    let mut effects = Vec::new();
    let mut changes = 0;
    let mut created = false;
    let mut propagate_last_id = false;
    if options.last_id > group.last_id {
        group.last_id = options.last_id;
        propagate_last_id = true;
    }
    let mut consumer = None;
    let mut claimed = Vec::new();
    for (id, arg) in ids {
        let nack = group.nack(id).cloned();
        if !entries.contains(id) {
            if let Some(nack) = nack {
                // The entry is gone: drop it from the PEL here and there.
                let owner = group.consumer(nack.owner()).name().to_vec();
                effects.push(xclaim_command(key, name, &owner, arg, nack.delivery_time, nack.delivery_count, group.last_id));
                propagate_last_id = false;
                changes += 1;
                group.remove_pending(id);
            }
            continue;
        }
        if nack.is_none() && !options.force {
            continue;
        }
        if let Some(nack) = &nack {
            if min_idle > 0 && now.saturating_sub(nack.delivery_time) < min_idle {
                continue;
            }
        }
        let owner = *consumer.get_or_insert_with(|| consumer_for(group, claimer, now, &mut created));
        let previous = nack.map_or(1, |n| n.delivery_count);
        let count = if options.retry_count >= 0 {
            options.retry_count as u64
        } else if !options.justid {
            previous + 1
        } else {
            previous
        };
        group.claim(id, owner, delivery_time, count);
        claimed.push(id);
        effects.push(xclaim_command(key, name, claimer, arg, delivery_time, count, group.last_id));
        propagate_last_id = false;
        changes += 1;
    }
    if propagate_last_id {
        effects.push(setid_command(key, name, group));
        changes += 1;
    }
    ctx.out.array(claimed.len());
    for id in claimed {
        if options.justid {
            reply_id(ctx.out, id);
        } else if let Some(entry) = entries.get(id) {
            reply_entry(ctx.out, &entry);
        }
    }
    tx.add_dirty(changes);
    if created {
        tx.changed_unwatched(key, events::XGROUP_CREATECONSUMER, 1);
    }
    ctx.propagate_as(effects);
    Ok(())
}

// ---- XAUTOCLAIM ------------------------------------------------------------

fn xautoclaim(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let (key, name, claimer) = (argv[1], argv[2], argv[3]);
    let min_idle = int_or(argv[4], "Invalid min-idle-time argument for XAUTOCLAIM")?.max(0);
    let start = range_start(argv[5])?;
    let mut count = AUTOCLAIM_DEFAULT_COUNT;
    let mut justid = false;
    let mut j = 6;
    while j < argv.len() {
        let more = argv.len() - 1 - j;
        if parse::is(argv[j], "count") && more > 0 {
            let value = shoal_resp::number::parse_i64(argv[j + 1]);
            let value = value.filter(|v| (1..=AUTOCLAIM_MAX_COUNT).contains(v));
            count = value.ok_or(CmdError::COUNT_OPTION_NOT_POSITIVE)? as u64;
            j += 1;
        } else if parse::is(argv[j], "justid") {
            justid = true;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    let tx = ctx.tx.as_mut().expect("xautoclaim locks its key");
    let now = tx.now_ms;
    let stream = stream_at_mut(tx, key, Lookup::READ)?;
    let Some(stream) = stream.filter(|s| s.group(name).is_some()) else {
        return Err(CmdError::no_key_or_group(key, name));
    };
    let outcome = autoclaim(stream, AutoClaim { key, name, claimer, min_idle, start, count, justid, now });
    ctx.out.array(3);
    reply_id(ctx.out, outcome.cursor);
    ctx.out.array(outcome.claimed.len());
    for id in &outcome.claimed {
        if justid {
            reply_id(ctx.out, *id);
        } else if let Some(entry) = stream.entries().get(*id) {
            reply_entry(ctx.out, &entry);
        }
    }
    ctx.out.array(outcome.deleted.len());
    for id in &outcome.deleted {
        reply_id(ctx.out, *id);
    }
    tx.add_dirty(outcome.changes);
    if outcome.created_consumer {
        tx.changed_unwatched(key, events::XGROUP_CREATECONSUMER, 1);
    }
    ctx.propagate_as(outcome.effects);
    Ok(())
}

struct AutoClaim<'a> {
    key: &'a [u8],
    name: &'a [u8],
    claimer: &'a [u8],
    min_idle: i64,
    start: StreamId,
    count: u64,
    justid: bool,
    now: i64,
}

struct AutoClaimOutcome {
    cursor: StreamId,
    claimed: Vec<StreamId>,
    deleted: Vec<StreamId>,
    effects: Vec<Vec<Vec<u8>>>,
    changes: u64,
    created_consumer: bool,
}

/// Walks the PEL from `start`, claiming idle entries and dropping those
/// whose stream entry is gone, within XAUTOCLAIM's work bounds.
fn autoclaim(stream: &mut Stream, a: AutoClaim<'_>) -> AutoClaimOutcome {
    let (entries, mut groups) = stream.split_mut();
    let group = groups.get(a.name).expect("checked");
    let mut out = AutoClaimOutcome {
        cursor: StreamId::MIN,
        claimed: Vec::new(),
        deleted: Vec::new(),
        effects: Vec::new(),
        changes: 0,
        created_consumer: false,
    };
    let mut attempts = a.count.saturating_mul(AUTOCLAIM_ATTEMPTS_FACTOR);
    let mut count = a.count;
    let mut next_from = Some(a.start);
    let mut consumer = None;
    while attempts > 0 && count > 0 {
        attempts -= 1;
        let Some(from) = next_from else { break };
        let Some((id, nack)) = group.pending_from(from).next().map(|(id, n)| (id, n.clone())) else {
            next_from = None;
            break;
        };
        next_from = id.next();
        let id_arg = id.to_bytes();
        if !entries.contains(id) {
            let owner = group.consumer(nack.owner()).name().to_vec();
            out.effects.push(xclaim_command(a.key, a.name, &owner, &id_arg, nack.delivery_time, nack.delivery_count, group.last_id));
            out.changes += 1;
            group.remove_pending(id);
            out.deleted.push(id);
            count -= 1;
            continue;
        }
        if a.min_idle > 0 && a.now.saturating_sub(nack.delivery_time) < a.min_idle {
            continue;
        }
        let owner = *consumer.get_or_insert_with(|| consumer_for(group, a.claimer, a.now, &mut out.created_consumer));
        let delivery_count = if a.justid { nack.delivery_count } else { nack.delivery_count + 1 };
        group.claim(id, owner, a.now, delivery_count);
        out.claimed.push(id);
        count -= 1;
        out.effects.push(xclaim_command(a.key, a.name, a.claimer, &id_arg, a.now, delivery_count, group.last_id));
        out.changes += 1;
    }
    // The cursor is the next pending entry after the last one examined.
    out.cursor = next_from.and_then(|from| group.pending_from(from).next().map(|(id, _)| id)).unwrap_or(StreamId::MIN);
    out
}

pub fn register(r: &mut Registrar) {
    r.keys("xgroup|create", xgroup_create);
    r.keys("xgroup|setid", xgroup_setid);
    r.keys("xgroup|destroy", xgroup_destroy);
    r.keys("xgroup|createconsumer", xgroup_createconsumer);
    r.keys("xgroup|delconsumer", xgroup_delconsumer);
    r.plain("xgroup|help", xgroup_help);
    r.keys("xack", xack);
    r.keys("xpending", xpending);
    r.keys("xclaim", xclaim);
    r.keys("xautoclaim", xautoclaim);
}
