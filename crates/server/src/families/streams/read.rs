//! XREAD and XREADGROUP: reading several streams at once, optionally
//! waiting for new entries.
//!
//! A read that finds nothing and may block registers on its keys; whenever
//! one of them changes, the command runs again on the waiter's behalf
//! (`ctx.serving_blocked`). XREAD's `$` is resolved before blocking (the
//! retried command carries the resolved IDs); XREADGROUP's `>` is resolved
//! against the group each time, so a waiter is served exactly the entries
//! the group has not delivered yet, and the group is updated for it.

use std::time::Duration;

use shoal_engine::{events, Lookup};
use shoal_resp::reply::Aggregate;
use shoal_resp::ReplyBuf;
use shoal_types::stream::{Group, Stream, StreamId};

use super::{owned, reply_entry, reply_id, reply_range, stream_at, stream_at_mut, strict_id};
use crate::exec::{Ctx, Registrar};
use crate::error::{self, parse, CmdError, CmdResult};

/// COUNT of a read served after blocking when none was given, so that a
/// low ID does not make one wake-up return a huge reply.
const BLOCKED_DEFAULT_COUNT: usize = 1000;

/// Where a read starts in one stream.
#[derive(Clone, Copy)]
enum Start {
    /// Entries with greater IDs (XREAD, or XREADGROUP's history).
    After(StreamId),
    /// `>`: entries the group has not delivered yet.
    Undelivered,
}

struct ReadArgs<'a> {
    /// BLOCK milliseconds (0: forever).
    block: Option<u64>,
    /// COUNT (0: no limit).
    count: usize,
    noack: bool,
    /// GROUP's group and consumer names.
    group: Option<(&'a [u8], &'a [u8])>,
    /// Index of the first key.
    keys_at: usize,
    streams: usize,
}

fn parse_args<'a>(argv: &[&'a [u8]], xreadgroup: bool) -> Result<ReadArgs<'a>, CmdError> {
    let mut args = ReadArgs { block: None, count: 0, noack: false, group: None, keys_at: 0, streams: 0 };
    let mut i = 1;
    while i < argv.len() {
        let more = argv.len() - i - 1;
        let opt = argv[i];
        if parse::is(opt, "block") && more > 0 {
            i += 1;
            let ms = shoal_resp::number::parse_i64(argv[i]).ok_or(CmdError::TIMEOUT_NOT_INTEGER)?;
            if ms < 0 {
                return Err(CmdError::TIMEOUT_NEGATIVE);
            }
            args.block = Some(ms as u64);
        } else if parse::is(opt, "count") && more > 0 {
            i += 1;
            args.count = usize::try_from(parse::int(argv[i])?.max(0)).unwrap_or(usize::MAX);
        } else if parse::is(opt, "streams") && more > 0 {
            args.keys_at = i + 1;
            let rest = argv.len() - args.keys_at;
            if !rest.is_multiple_of(2) {
                return Err(CmdError::err(
                    "Unbalanced XREAD list of streams: for each stream key an ID or '$' must be specified.",
                ));
            }
            args.streams = rest / 2;
            break;
        } else if parse::is(opt, "group") && more >= 2 {
            if !xreadgroup {
                return Err(CmdError::err("The GROUP option is only supported by XREADGROUP. You called XREAD instead."));
            }
            args.group = Some((argv[i + 1], argv[i + 2]));
            i += 2;
        } else if parse::is(opt, "noack") {
            if !xreadgroup {
                return Err(CmdError::err("The NOACK option is only supported by XREADGROUP. You called XREAD instead."));
            }
            args.noack = true;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    if args.keys_at == 0 {
        return Err(CmdError::Syntax);
    }
    if xreadgroup && args.group.is_none() {
        return Err(CmdError::err("Missing GROUP option for XREADGROUP"));
    }
    Ok(args)
}

/// Resolves each stream's start, checking types and groups in Redis's
/// order. While serving a blocked XREAD, a key that is no longer a stream
/// is skipped rather than failing the wait.
fn resolve_starts(ctx: &mut Ctx<'_>, argv: &[&[u8]], args: &ReadArgs<'_>) -> Result<Vec<Start>, CmdError> {
    let lenient = ctx.serving_blocked && args.group.is_none();
    let tx = ctx.tx.as_mut().expect("reads lock their keys");
    let mut starts = Vec::with_capacity(args.streams);
    for i in 0..args.streams {
        let key = argv[args.keys_at + i];
        let id_arg = argv[args.keys_at + args.streams + i];
        let stream = match stream_at(tx, key, Lookup::READ) {
            Err(_) if lenient => None,
            other => other?,
        };
        if let Some((group, _)) = args.group {
            if stream.as_ref().and_then(|s| s.group(group)).is_none() {
                return Err(CmdError::custom(format!(
                    "NOGROUP No such key '{}' or consumer group '{}' in XREADGROUP with GROUP option",
                    error::c_str(key),
                    error::c_str(group)
                )));
            }
        }
        let start = if id_arg == b"$" {
            if args.group.is_some() {
                return Err(CmdError::err("The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set."));
            }
            Start::After(stream.map_or(StreamId::MIN, |s| s.entries().last_id()))
        } else if id_arg == b">" {
            if args.group.is_none() {
                return Err(CmdError::err(
                    "The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.",
                ));
            }
            Start::Undelivered
        } else {
            Start::After(strict_id(id_arg)?)
        };
        starts.push(start);
    }
    Ok(starts)
}

/// A blocked XREADGROUP whose stream or group went away fails with
/// Redis's unblocking errors (which end the wait).
fn check_still_readable(ctx: &mut Ctx<'_>, argv: &[&[u8]], args: &ReadArgs<'_>) -> CmdResult {
    let Some((group, _)) = args.group else { return Ok(()) };
    let tx = ctx.tx.as_mut().expect("reads lock their keys");
    let mut failure = None;
    for key in &argv[args.keys_at..args.keys_at + args.streams] {
        match stream_at(tx, key, Lookup::READ) {
            Ok(Some(stream)) if stream.group(group).is_some() => {}
            Ok(Some(_)) => {
                failure = Some("NOGROUP the consumer group this client was blocked on no longer exists");
            }
            _ => failure = Some("UNBLOCKED the stream key no longer exists"),
        }
        if failure.is_some() {
            break;
        }
    }
    match failure {
        Some(message) => {
            ctx.error_ends_wait = true;
            Err(CmdError::custom(message))
        }
        None => Ok(()),
    }
}

/// What serving one stream of a group read needs.
struct GroupRead<'a> {
    key: &'a [u8],
    group: &'a [u8],
    consumer: &'a [u8],
    noack: bool,
    now: i64,
}

/// The commands that replay a group read on replicas.
#[derive(Default)]
struct Effects {
    commands: Vec<Vec<Vec<u8>>>,
    /// Changes counted for the reads themselves.
    changes: u64,
    /// The streams whose group got a new consumer, in order.
    consumers_created: Vec<Vec<u8>>,
}

/// The XCLAIM that recreates one pending entry on a replica.
pub(super) fn xclaim_command(key: &[u8], group: &[u8], owner: &[u8], id: &[u8], time: i64, count: u64, last: StreamId) -> Vec<Vec<u8>> {
    [
        &b"XCLAIM"[..],
        key,
        group,
        owner,
        b"0",
        id,
        b"TIME",
        time.to_string().as_bytes(),
        b"RETRYCOUNT",
        count.to_string().as_bytes(),
        b"FORCE",
        b"JUSTID",
        b"LASTID",
        last.to_string().as_bytes(),
    ]
    .iter()
    .map(|a| a.to_vec())
    .collect()
}

/// The XGROUP SETID that moves a replica's group cursor.
pub(super) fn setid_command(key: &[u8], group_name: &[u8], group: &Group) -> Vec<Vec<u8>> {
    vec![
        b"XGROUP".to_vec(),
        b"SETID".to_vec(),
        key.to_vec(),
        group_name.to_vec(),
        group.last_id.to_bytes(),
        b"ENTRIESREAD".to_vec(),
        group.entries_read.to_string().into_bytes(),
    ]
}

/// Serves one stream to a consumer: its history (`After`) or undelivered
/// entries, updating the group and recording what to propagate.
fn serve_group(out: &mut ReplyBuf, stream: &mut Stream, read: &GroupRead<'_>, start: Start, count: usize, effects: &mut Effects) {
    let (entries, mut groups) = stream.split_mut();
    let group = groups.get(read.group).expect("group checked while parsing");
    let created_at = effects.commands.len();
    let (consumer, created) = match group.find_consumer(read.consumer) {
        Some(id) => {
            group.touch_consumer(id, read.now);
            (id, false)
        }
        None => {
            let id = group.create_consumer(read.consumer, read.now).expect("name is free");
            effects.consumers_created.push(read.key.to_vec());
            (id, true)
        }
    };
    let limit = if count == 0 { usize::MAX } else { count };
    match start {
        Start::After(after) => {
            // History: only this consumer's pending entries.
            let first = after.next().unwrap_or(StreamId::MIN);
            let ids: Vec<StreamId> = group.consumer(consumer).pending_range(first, StreamId::MAX).take(limit).collect();
            out.array(ids.len());
            for id in ids {
                match entries.get(id) {
                    Some(entry) => {
                        reply_entry(out, &entry);
                        group.redeliver(id, read.now);
                        // Redis 7.0 does not propagate a re-delivery, so its
                        // replicas keep the old delivery count and time; the
                        // XCLAIM form keeps them equal.
                        let deliveries = group.nack(id).map_or(1, |n| n.delivery_count);
                        let id = id.to_bytes();
                        effects.commands.push(xclaim_command(read.key, read.group, read.consumer, &id, read.now, deliveries, group.last_id));
                    }
                    None => {
                        // Pending but gone from the stream.
                        out.array(2);
                        reply_id(out, id);
                        out.null_array();
                    }
                }
            }
        }
        Start::Undelivered => {
            let first = group.last_id.next().unwrap_or(StreamId::MIN);
            let deferred = out.begin_deferred(Aggregate::Array);
            let mut written = 0;
            let mut moved_cursor = false;
            for entry in entries.range(first, StreamId::MAX, false).take(limit) {
                if entry.id > group.last_id {
                    entries.advance_group(group, entry.id);
                    moved_cursor = true;
                }
                reply_entry(out, &entry);
                written += 1;
                if !read.noack {
                    group.deliver(entry.id, consumer, read.now);
                    let id = entry.id.to_bytes();
                    effects.commands.push(xclaim_command(read.key, read.group, read.consumer, &id, read.now, 1, group.last_id));
                }
            }
            // Redis 7.0 moves the cursor with NOACK only: its XCLAIM ...
            // LASTID leaves a replica's entries-read behind. The SETID
            // form carries it.
            // An entries-read that overflowed past i64::MAX (Redis wraps it
            // as well) cannot be sent: XGROUP SETID refuses negative values.
            if moved_cursor && (read.noack || group.entries_read >= -1) {
                effects.commands.push(setid_command(read.key, read.group, group));
            }
            out.finish_deferred(deferred, written);
        }
    }
    // A consumer the read created reaches replicas through the XCLAIMs of
    // its deliveries; without any (NOACK, or nothing to deliver, as a new
    // consumer's history read), it is created explicitly, first.
    if created && !effects.commands[created_at..].iter().any(|c| c[0] == b"XCLAIM") {
        let create = [&b"XGROUP"[..], b"CREATECONSUMER", read.key, read.group, read.consumer];
        effects.commands.insert(created_at, create.iter().map(|a| a.to_vec()).collect());
    }
    effects.changes += 1;
}

/// True when `stream` has something for this read. A blocked read being
/// served compares with the last ID the stream generated (entries deleted
/// or trimmed since included, so its reply may hold no entry), as Redis
/// does; a read that has not blocked needs a live entry.
fn has_data(stream: &Stream, group: Option<&[u8]>, start: Start, serving: bool) -> bool {
    let entries = stream.entries();
    let top = if serving { Some(entries.last_id()) } else { entries.last_live_id() };
    match (start, group) {
        // History reads are always served, even empty.
        (Start::After(_), Some(_)) => true,
        (Start::Undelivered, Some(name)) => {
            let last = stream.group(name).map_or(StreamId::MAX, |g| g.last_id);
            top.is_some_and(|top| top > last)
        }
        (Start::After(after), None) => top.is_some_and(|top| top > after),
        (Start::Undelivered, None) => false,
    }
}

fn read_generic(ctx: &mut Ctx<'_>, argv: &[&[u8]], xreadgroup: bool) -> CmdResult {
    let args = parse_args(argv, xreadgroup)?;
    if args.block.is_some() && ctx.in_script {
        let name = if xreadgroup { "xreadgroup" } else { "xread" };
        return Err(CmdError::err(format!("{name} command is not allowed with BLOCK option from scripts")));
    }
    if ctx.serving_blocked {
        check_still_readable(ctx, argv, &args)?;
    }
    let starts = resolve_starts(ctx, argv, &args)?;
    let mut count = args.count;
    if ctx.serving_blocked && count == 0 {
        count = BLOCKED_DEFAULT_COUNT;
    }
    let resp3 = ctx.out.resp3();
    let serving_blocked = ctx.serving_blocked;
    let tx = ctx.tx.as_mut().expect("reads lock their keys");
    let now = tx.now_ms;
    let mut effects = Effects::default();
    let header = ctx.out.begin_deferred(if resp3 { Aggregate::Map } else { Aggregate::Array });
    let mut served = 0;
    // A woken client is served from the key that became ready (its first
    // occurrence), as in Redis.
    let ready = ctx.serving_key.as_deref().filter(|_| serving_blocked);
    let ready_at = ready.and_then(|k| argv[args.keys_at..args.keys_at + args.streams].iter().position(|a| *a == k));
    for (i, &start) in starts.iter().enumerate() {
        if ready.is_some() && ready_at != Some(i) {
            continue;
        }
        let key = argv[args.keys_at + i];
        // XREADGROUP changes the group's state: a lookup to change.
        let Ok(Some(stream)) = stream_at_mut(tx, key, Lookup::READ) else { continue };
        if !has_data(stream, args.group.map(|g| g.0), start, serving_blocked) {
            continue;
        }
        served += 1;
        if !resp3 {
            ctx.out.array(2);
        }
        ctx.out.bulk(key);
        match args.group {
            Some((group, consumer)) => {
                let read = GroupRead { key, group, consumer, noack: args.noack, now };
                serve_group(ctx.out, stream, &read, start, count, &mut effects);
            }
            None => {
                let Start::After(after) = start else { unreachable!("XREAD has no > ID") };
                let first = after.next().unwrap_or(StreamId::MIN);
                reply_range(ctx.out, stream, first, StreamId::MAX, count, false);
            }
        }
        if serving_blocked {
            // A woken client is served from one stream, as in Redis.
            break;
        }
    }
    for key in &effects.consumers_created {
        tx.changed_unwatched(key, events::XGROUP_CREATECONSUMER, 1);
    }
    tx.add_dirty(effects.changes);
    if served > 0 {
        ctx.out.finish_deferred(header, served);
    } else {
        block_or_give_up(ctx, argv, &args, &starts);
    }
    if xreadgroup {
        // The read itself is never propagated, only its effects.
        ctx.propagate_as(effects.commands);
    }
    Ok(())
}

/// Nothing to read: block if asked and allowed, else reply with nothing.
fn block_or_give_up(ctx: &mut Ctx<'_>, argv: &[&[u8]], args: &ReadArgs<'_>, starts: &[Start]) {
    let Some(ms) = args.block.filter(|_| ctx.can_block()) else {
        ctx.out.null_array();
        return;
    };
    let keys_range = args.keys_at..args.keys_at + args.streams;
    let mut keys: Vec<Vec<u8>> = Vec::with_capacity(args.streams);
    for key in &argv[keys_range] {
        if !keys.iter().any(|k| k == key) {
            keys.push(key.to_vec());
        }
    }
    let timeout = (ms > 0).then(|| Duration::from_millis(ms));
    let mut retry = None;
    if args.group.is_none() && argv[args.keys_at + args.streams..].iter().any(|a| *a == b"$") {
        let mut resolved = owned(argv);
        for (i, start) in starts.iter().enumerate() {
            if let Start::After(id) = start {
                resolved[args.keys_at + args.streams + i] = id.to_bytes();
            }
        }
        retry = Some(resolved);
    }
    ctx.block_on(keys, timeout, retry);
}

fn xread(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    read_generic(ctx, argv, false)
}

fn xreadgroup(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    read_generic(ctx, argv, true)
}

pub fn register(r: &mut Registrar) {
    r.keys("xread", xread);
    r.keys("xreadgroup", xreadgroup);
}
