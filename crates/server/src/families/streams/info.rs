//! XINFO STREAM [FULL [COUNT n]], XINFO GROUPS, XINFO CONSUMERS, with Redis
//! 7.0's fields (entries-added, max-deleted-entry-id,
//! recorded-first-entry-id, group entries-read and lag).

use shoal_engine::Lookup;
use shoal_resp::ReplyBuf;
use shoal_types::stream::{Entries, Group, Stream, StreamId, ENTRIES_READ_UNKNOWN};

use super::{reply_entry, reply_id, reply_range, stream_at};
use crate::exec::{Ctx, Registrar};
use crate::error::{parse, CmdError, CmdResult};
use crate::families::help::write_help;

/// Entries and PEL items XINFO STREAM FULL shows without COUNT.
const FULL_DEFAULT_COUNT: i64 = 10;

fn entries_read(out: &mut ReplyBuf, group: &Group) {
    if group.entries_read == ENTRIES_READ_UNKNOWN {
        out.null();
    } else {
        out.int(group.entries_read);
    }
}

fn lag(out: &mut ReplyBuf, entries: &Entries, group: &Group) {
    match entries.lag(group) {
        Some(lag) => out.int(lag),
        None => out.null(),
    }
}

fn xinfo_consumers(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let (key, name) = (argv[2], argv[3]);
    let tx = ctx.tx.as_mut().expect("xinfo locks its key");
    let now = tx.now_ms;
    let stream = stream_at(tx, key, Lookup::READ)?.ok_or(CmdError::NoSuchKey)?;
    let group = stream.group(name).ok_or_else(|| CmdError::no_group_for_key(name, key))?;
    let out = &mut *ctx.out;
    out.array(group.consumer_count());
    for consumer in group.consumers() {
        out.map(3);
        out.bulk(b"name");
        out.bulk(consumer.name());
        out.bulk(b"pending");
        out.int(consumer.pending() as i64);
        out.bulk(b"idle");
        out.int(now.saturating_sub(consumer.seen_time).max(0));
    }
    Ok(())
}

fn xinfo_groups(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let tx = ctx.tx.as_mut().expect("xinfo locks its key");
    let stream = stream_at(tx, argv[2], Lookup::READ)?.ok_or(CmdError::NoSuchKey)?;
    let out = &mut *ctx.out;
    out.array(stream.group_count());
    for (name, group) in stream.groups() {
        out.map(6);
        out.bulk(b"name");
        out.bulk(name);
        out.bulk(b"consumers");
        out.int(group.consumer_count() as i64);
        out.bulk(b"pending");
        out.int(group.pending_count() as i64);
        out.bulk(b"last-delivered-id");
        reply_id(out, group.last_id);
        out.bulk(b"entries-read");
        entries_read(out, group);
        out.bulk(b"lag");
        lag(out, stream.entries(), group);
    }
    Ok(())
}

/// `Some(count)` for FULL (0: everything), None for the summary.
fn parse_stream_options(argv: &[&[u8]]) -> Result<Option<usize>, CmdError> {
    let options = &argv[3..];
    if options.is_empty() {
        return Ok(None);
    }
    if (options.len() != 1 && options.len() != 3) || !parse::is(options[0], "full") {
        return Err(CmdError::subcommand_syntax(argv));
    }
    let mut count = FULL_DEFAULT_COUNT;
    if options.len() == 3 {
        if !parse::is(options[1], "count") {
            return Err(CmdError::subcommand_syntax(argv));
        }
        count = parse::int(options[2])?;
        if count < 0 {
            count = FULL_DEFAULT_COUNT;
        }
    }
    Ok(Some(usize::try_from(count).unwrap_or(usize::MAX)))
}

fn xinfo_stream(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let tx = ctx.tx.as_mut().expect("xinfo locks its key");
    let stream = stream_at(tx, argv[2], Lookup::READ)?.ok_or(CmdError::NoSuchKey)?;
    let full = parse_stream_options(argv)?;
    let out = &mut *ctx.out;
    let entries = stream.entries();
    out.map(if full.is_some() { 9 } else { 10 });
    out.bulk(b"length");
    out.int(entries.len() as i64);
    out.bulk(b"radix-tree-keys");
    out.int(entries.node_count() as i64);
    out.bulk(b"radix-tree-nodes");
    out.int(entries.radix_tree_nodes() as i64);
    out.bulk(b"last-generated-id");
    reply_id(out, entries.last_id());
    out.bulk(b"max-deleted-entry-id");
    reply_id(out, entries.max_deleted_id());
    out.bulk(b"entries-added");
    out.int(entries.entries_added() as i64);
    out.bulk(b"recorded-first-entry-id");
    reply_id(out, entries.first_id());
    match full {
        None => stream_summary(out, stream),
        Some(count) => stream_full(out, stream, count),
    }
    Ok(())
}

fn stream_summary(out: &mut ReplyBuf, stream: &Stream) {
    out.bulk(b"groups");
    out.int(stream.group_count() as i64);
    for (label, rev) in [(&b"first-entry"[..], false), (b"last-entry", true)] {
        out.bulk(label);
        match stream.entries().range(StreamId::MIN, StreamId::MAX, rev).next() {
            Some(entry) => reply_entry(out, &entry),
            None => out.null(),
        }
    }
}

fn stream_full(out: &mut ReplyBuf, stream: &Stream, count: usize) {
    let limit = if count == 0 { usize::MAX } else { count };
    out.bulk(b"entries");
    reply_range(out, stream, StreamId::MIN, StreamId::MAX, count, false);
    out.bulk(b"groups");
    out.array(stream.group_count());
    for (name, group) in stream.groups() {
        out.map(7);
        out.bulk(b"name");
        out.bulk(name);
        out.bulk(b"last-delivered-id");
        reply_id(out, group.last_id);
        out.bulk(b"entries-read");
        entries_read(out, group);
        out.bulk(b"lag");
        lag(out, stream.entries(), group);
        out.bulk(b"pel-count");
        out.int(group.pending_count() as i64);
        out.bulk(b"pending");
        let shown: Vec<_> = group.pending_from(StreamId::MIN).take(limit).collect();
        out.array(shown.len());
        for (id, nack) in shown {
            out.array(4);
            reply_id(out, id);
            out.bulk(group.consumer(nack.owner()).name());
            out.int(nack.delivery_time);
            out.int(nack.delivery_count as i64);
        }
        out.bulk(b"consumers");
        out.array(group.consumer_count());
        for consumer in group.consumers() {
            out.map(4);
            out.bulk(b"name");
            out.bulk(consumer.name());
            out.bulk(b"seen-time");
            out.int(consumer.seen_time);
            out.bulk(b"pel-count");
            out.int(consumer.pending() as i64);
            out.bulk(b"pending");
            let ids: Vec<_> = consumer.pending_range(StreamId::MIN, StreamId::MAX).take(limit).collect();
            out.array(ids.len());
            for id in ids {
                let nack = group.nack(id).expect("consumer PEL entries are in the group PEL");
                out.array(3);
                reply_id(out, id);
                out.int(nack.delivery_time);
                out.int(nack.delivery_count as i64);
            }
        }
    }
}

fn xinfo_help(ctx: &mut Ctx<'_>, _argv: &[&[u8]]) -> CmdResult {
    write_help(
        ctx.out,
        "XINFO",
        &[
            "CONSUMERS <key> <groupname>",
            "    List the consumers of a group with their pending counts and idle times.",
            "GROUPS <key>",
            "    List the consumer groups of a stream.",
            "STREAM <key> [FULL [COUNT <count>]",
            "    Describe a stream; FULL adds its entries, groups and pending lists.",
        ],
    );
    Ok(())
}

pub fn register(r: &mut Registrar) {
    r.keys("xinfo|consumers", xinfo_consumers);
    r.keys("xinfo|groups", xinfo_groups);
    r.keys("xinfo|stream", xinfo_stream);
    r.plain("xinfo|help", xinfo_help);
}
