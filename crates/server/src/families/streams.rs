//! Stream commands: appending, ranges, deletion and trimming here; reads
//! with blocking in `read`, consumer groups in `groups`, XINFO in `info`.
//!
//! Replies, errors and propagation follow Redis 7.0: XADD propagates the
//! ID it generated and turns `~` trimming into the exact result (`=`), so
//! replicas end up with the same entries; group reads propagate as XCLAIM
//! and XGROUP commands.

pub(crate) mod groups;
pub(crate) mod info;
pub(crate) mod read;

use shoal_engine::{events, Lookup, Tx, NO_EXPIRE};
use shoal_resp::ReplyBuf;
use shoal_types::stream::{
    parse_id, EntryRef, IdSyntax, ID_TEXT_MAX, NodeLimits, ParsedId, Stream, StreamId, Trim, TrimStrategy, NODE_MAX_BYTES_CAP,
};
use shoal_types::Value;

use crate::exec::{Ctx, Registrar};
use crate::error::{parse, CmdError, CmdResult};
use crate::server::EncodingLimits;

/// Default LIMIT of `~` trimming, in nodes' worth of entries.
const APPROX_LIMIT_NODES: i64 = 100;
/// LIMIT used for `~` when the node size gives none.
const APPROX_LIMIT_FALLBACK: i64 = 10_000;
/// Largest default LIMIT of `~` trimming.
const APPROX_LIMIT_MAX: i64 = 1_000_000;

// ---- shared helpers --------------------------------------------------------

/// A plain ID argument (no `-`/`+`).
fn strict_id(arg: &[u8]) -> Result<StreamId, CmdError> {
    parse_id(arg, IdSyntax::STRICT).map(|p| p.id).ok_or(CmdError::INVALID_STREAM_ID)
}

/// An ID argument that may be `-` or `+`.
fn loose_id(arg: &[u8], missing_seq: u64) -> Result<StreamId, CmdError> {
    parse_id(arg, IdSyntax::bound(missing_seq)).map(|p| p.id).ok_or(CmdError::INVALID_STREAM_ID)
}

/// A range bound: `(` makes it exclusive (then `-`/`+` are refused).
/// Returns the bound and whether it is exclusive.
fn interval_id(arg: &[u8], missing_seq: u64) -> Result<(StreamId, bool), CmdError> {
    if arg.len() > 1 && arg[0] == b'(' {
        let syntax = IdSyntax { missing_seq, ..IdSyntax::STRICT };
        let id = parse_id(&arg[1..], syntax).ok_or(CmdError::INVALID_STREAM_ID)?;
        return Ok((id.id, true));
    }
    Ok((loose_id(arg, missing_seq)?, false))
}

/// The inclusive start of a range given as an interval bound.
fn range_start(arg: &[u8]) -> Result<StreamId, CmdError> {
    match interval_id(arg, 0)? {
        (id, false) => Ok(id),
        (id, true) => id.next().ok_or_else(|| CmdError::err("invalid start ID for the interval")),
    }
}

/// The inclusive end of a range given as an interval bound.
fn range_end(arg: &[u8]) -> Result<StreamId, CmdError> {
    match interval_id(arg, u64::MAX)? {
        (id, false) => Ok(id),
        (id, true) => id.prev().ok_or_else(|| CmdError::err("invalid end ID for the interval")),
    }
}

/// An integer argument with a custom error text.
fn int_or(arg: &[u8], message: &str) -> Result<i64, CmdError> {
    shoal_resp::number::parse_i64(arg).ok_or_else(|| CmdError::err(message))
}

/// The stream stored at `key`, to read: None if absent, an error for
/// another type.
fn stream_at<'t>(tx: &'t mut Tx<'_>, key: &[u8], how: Lookup) -> Result<Option<&'t Stream>, CmdError> {
    match tx.lookup(key, how) {
        None => Ok(None),
        Some(entry) => match entry.value() {
            Value::Stream(stream) => Ok(Some(stream)),
            _ => Err(CmdError::WrongType),
        },
    }
}

/// The stream stored at `key`, to change.
fn stream_at_mut<'t>(tx: &'t mut Tx<'_>, key: &[u8], how: Lookup) -> Result<Option<&'t mut Stream>, CmdError> {
    match tx.lookup_mut(key, how) {
        None => Ok(None),
        Some(entry) => match entry.value_mut() {
            Value::Stream(stream) => Ok(Some(stream)),
            _ => Err(CmdError::WrongType),
        },
    }
}

/// The node limits currently configured.
fn node_limits(ctx: &Ctx<'_>) -> NodeLimits {
    let encodings = &ctx.server.tunables.encodings;
    NodeLimits::from_config(
        EncodingLimits::get(&encodings.stream_node_max_bytes),
        EncodingLimits::get(&encodings.stream_node_max_entries),
    )
}

/// Wakes clients blocked on `key` (Redis signals readiness after XADD and
/// XGROUP DESTROY; other stream changes do not wake anyone).
fn wake_waiters(tx: &mut Tx<'_>, key: &[u8]) {
    let db = tx.db;
    tx.signal_ready_in(db, key);
}

fn reply_id(out: &mut ReplyBuf, id: StreamId) {
    let mut text = [0u8; ID_TEXT_MAX];
    out.bulk(id.write_text(&mut text));
}

/// `[id, [field, value, ...]]`.
fn reply_entry(out: &mut ReplyBuf, entry: &EntryRef<'_>) {
    out.array(2);
    reply_id(out, entry.id);
    out.array(entry.field_count() * 2);
    for (field, value) in entry.fields() {
        out.bulk(field);
        out.bulk(value);
    }
}

/// Writes the entries of `[start, end]` (at most `count`, 0 = all).
fn reply_range(out: &mut ReplyBuf, stream: &Stream, start: StreamId, end: StreamId, count: usize, rev: bool) {
    let deferred = out.begin_deferred(shoal_resp::reply::Aggregate::Array);
    let mut written = 0;
    for entry in stream.entries().range(start, end, rev) {
        reply_entry(out, &entry);
        written += 1;
        if written == count {
            break;
        }
    }
    out.finish_deferred(deferred, written);
}

fn owned(argv: &[&[u8]]) -> Vec<Vec<u8>> {
    argv.iter().map(|a| a.to_vec()).collect()
}

// ---- XADD / XTRIM argument parsing -------------------------------------------

/// Trimming requested by XADD or XTRIM.
#[derive(Clone, Copy)]
struct TrimArgs {
    trim: Trim,
    /// Index of the MAXLEN count / MINID id argument (rewritten for `~`).
    arg_index: usize,
}

struct AddTrimArgs {
    trim: Option<TrimArgs>,
    no_mkstream: bool,
    /// The ID argument (None for `*`) and its index.
    id: Option<ParsedId>,
    id_index: usize,
}

fn incompatible_strategies() -> CmdError {
    CmdError::err("syntax error, MAXLEN and MINID options at the same time are not compatible")
}

/// Parses XADD's options up to the ID, or XTRIM's options, with Redis's
/// checks and messages.
fn parse_add_trim(ctx: &Ctx<'_>, argv: &[&[u8]], xadd: bool) -> Result<AddTrimArgs, CmdError> {
    let mut strategy: Option<(TrimStrategy, usize)> = None;
    let mut approx = false;
    let mut limit: i64 = 0;
    let mut limit_given = false;
    let mut no_mkstream = false;
    let mut id = None;
    let mut i = 2;
    while i < argv.len() {
        let more = argv.len() - 1 - i;
        let opt = argv[i];
        let maxlen = parse::is(opt, "maxlen");
        if xadd && opt == b"*" {
            break;
        } else if (maxlen || parse::is(opt, "minid")) && more > 0 {
            if strategy.is_some() {
                return Err(incompatible_strategies());
            }
            approx = false;
            let next = argv[i + 1];
            if more >= 2 && next == b"~" {
                approx = true;
                i += 1;
            } else if more >= 2 && next == b"=" {
                i += 1;
            }
            let value = argv[i + 1];
            let parsed = if maxlen {
                let count = parse::int(value)?;
                if count < 0 {
                    return Err(CmdError::err("The MAXLEN argument must be >= 0."));
                }
                TrimStrategy::MaxLen(count as u64)
            } else {
                TrimStrategy::MinId(strict_id(value)?)
            };
            i += 1;
            strategy = Some((parsed, i));
        } else if parse::is(opt, "limit") && more > 0 {
            limit = parse::int(argv[i + 1])?;
            if limit < 0 {
                return Err(CmdError::err("The LIMIT argument must be >= 0."));
            }
            limit_given = true;
            i += 1;
        } else if xadd && parse::is(opt, "nomkstream") {
            no_mkstream = true;
        } else if xadd {
            let syntax = IdSyntax { allow_auto_seq: true, ..IdSyntax::STRICT };
            id = Some(parse_id(opt, syntax).ok_or(CmdError::INVALID_STREAM_ID)?);
            break;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    if limit != 0 && strategy.is_none() {
        return Err(CmdError::err("syntax error, LIMIT cannot be used without specifying a trimming strategy"));
    }
    if !xadd && strategy.is_none() {
        return Err(CmdError::err("syntax error, XTRIM must be called with a trimming strategy"));
    }
    // What the append-only file (or later a master) sends was rewritten
    // to trim exactly what its origin trimmed: no limit on the work.
    let obeyed = ctx.tx.as_ref().is_some_and(|tx| tx.loading);
    if obeyed {
        limit = 0;
    } else if limit_given {
        if !approx {
            return Err(CmdError::err("syntax error, LIMIT cannot be used without the special ~ option"));
        }
    } else if approx {
        let per_node = EncodingLimits::get(&ctx.server.tunables.encodings.stream_node_max_entries);
        limit = per_node.saturating_mul(APPROX_LIMIT_NODES);
        if limit <= 0 {
            limit = APPROX_LIMIT_FALLBACK;
        }
        limit = limit.min(APPROX_LIMIT_MAX);
    } else {
        limit = 0;
    }
    let trim = strategy.map(|(strategy, arg_index)| TrimArgs { trim: Trim { strategy, approx, limit: limit as u64 }, arg_index });
    Ok(AddTrimArgs { trim, no_mkstream, id, id_index: i })
}

/// After `~` trimming, the propagated command states the exact outcome:
/// `= <length>` or `= <first id>`, so replicas trim the same entries.
fn rewrite_approx_trim(propagated: &mut [Vec<u8>], trim: &TrimArgs, stream: &Stream) {
    propagated[trim.arg_index - 1] = b"=".to_vec();
    propagated[trim.arg_index] = match trim.trim.strategy {
        TrimStrategy::MaxLen(_) => stream.entries().len().to_string().into_bytes(),
        TrimStrategy::MinId(_) => stream.entries().first_edge_id(false).to_bytes(),
    };
}

// ---- XADD ------------------------------------------------------------------

/// The ID a new entry gets, or the reason it cannot be added.
fn new_entry_id(stream: &Stream, given: Option<ParsedId>, now_ms: i64) -> Result<StreamId, CmdError> {
    let entries = stream.entries();
    let last = entries.last_id();
    let id = match given {
        Some(ParsedId { id, seq_given: true }) => Some(id),
        Some(ParsedId { id, seq_given: false }) if id.ms == last.ms => {
            if last.seq == u64::MAX {
                // Redis reports this overflow with the size error.
                return Err(CmdError::STREAM_ELEMENTS_TOO_LARGE);
            }
            last.next()
        }
        Some(ParsedId { id, seq_given: false }) => Some(id),
        None => entries.next_auto_id(now_ms.max(0) as u64),
    };
    match id {
        Some(id) if id > last => Ok(id),
        _ => Err(CmdError::err("The ID specified in XADD is equal or smaller than the target stream top item")),
    }
}

fn xadd(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let args = parse_add_trim(ctx, argv, true)?;
    let fields_at = args.id_index + 1;
    if argv.len() < fields_at + 2 || (argv.len() - fields_at) % 2 == 1 {
        return Err(CmdError::wrong_arity(ctx.cmd.name));
    }
    if args.id.is_some_and(|p| p.seq_given && p.id.is_zero()) {
        return Err(CmdError::err("The ID specified in XADD must be greater than 0-0"));
    }
    let limits = node_limits(ctx);
    let key = argv[1];
    let tx = ctx.tx.as_mut().expect("xadd locks its key");
    let now = tx.now_ms;
    if stream_at_mut(tx, key, Lookup::WRITE)?.is_none() {
        if args.no_mkstream {
            ctx.out.null();
            return Ok(());
        }
        let db = tx.db;
        tx.insert_in(db, key, Value::Stream(Box::default()), NO_EXPIRE);
    }
    let stream = stream_at_mut(tx, key, Lookup::WRITE)?.expect("present");
    if stream.entries().last_id() == StreamId::MAX {
        return Err(CmdError::err("The stream has exhausted the last possible ID, unable to add more items"));
    }
    let id = new_entry_id(stream, args.id, now)?;
    let pairs = &argv[fields_at..];
    if pairs.iter().map(|p| p.len()).sum::<usize>() > NODE_MAX_BYTES_CAP {
        return Err(CmdError::STREAM_ELEMENTS_TOO_LARGE);
    }
    stream.entries_mut().append(id, pairs, limits);
    let mut propagated = owned(argv);
    let mut trimmed = 0;
    if let Some(trim) = args.trim {
        trimmed = stream.entries_mut().trim(&trim.trim);
        if trim.trim.approx {
            rewrite_approx_trim(&mut propagated, &trim, stream);
        }
    }
    if !args.id.is_some_and(|p| p.seq_given) {
        propagated[args.id_index] = id.to_bytes();
    }
    tx.changed(key, events::XADD, 1);
    if trimmed > 0 {
        tx.notify(events::XTRIM, key);
    }
    // New data for XREAD/XREADGROUP waiters (Redis signals every XADD).
    wake_waiters(tx, key);
    reply_id(ctx.out, id);
    ctx.propagate_as(vec![propagated]);
    Ok(())
}

// ---- XTRIM -----------------------------------------------------------------

fn xtrim(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let args = parse_add_trim(ctx, argv, false)?;
    let trim = args.trim.expect("XTRIM parsing requires a strategy");
    let key = argv[1];
    let tx = ctx.tx.as_mut().expect("xtrim locks its key");
    let Some(stream) = stream_at_mut(tx, key, Lookup::WRITE)? else {
        ctx.out.int(0);
        return Ok(());
    };
    let deleted = stream.entries_mut().trim(&trim.trim);
    let mut propagated = None;
    if deleted > 0 && trim.trim.approx {
        let mut rewritten = owned(argv);
        rewrite_approx_trim(&mut rewritten, &trim, stream);
        propagated = Some(rewritten);
    }
    if deleted > 0 {
        tx.changed(key, events::XTRIM, deleted);
    }
    ctx.out.int(deleted as i64);
    if let Some(rewritten) = propagated {
        ctx.propagate_as(vec![rewritten]);
    }
    Ok(())
}

// ---- XRANGE / XREVRANGE / XLEN -------------------------------------------------

fn xrange(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    range_generic(ctx, argv, false)
}

fn xrevrange(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    range_generic(ctx, argv, true)
}

fn range_generic(ctx: &mut Ctx<'_>, argv: &[&[u8]], rev: bool) -> CmdResult {
    let (start_arg, end_arg) = if rev { (argv[3], argv[2]) } else { (argv[2], argv[3]) };
    let start = range_start(start_arg)?;
    let end = range_end(end_arg)?;
    let mut count: Option<i64> = None;
    let mut j = 4;
    while j < argv.len() {
        if argv[j].eq_ignore_ascii_case(b"COUNT") && j + 1 < argv.len() {
            count = Some(parse::int(argv[j + 1])?.max(0));
            j += 2;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let tx = ctx.tx.as_mut().expect("xrange locks its key");
    let Some(stream) = stream_at(tx, argv[1], Lookup::READ)? else {
        ctx.out.array(0);
        return Ok(());
    };
    match count {
        Some(0) => ctx.out.null_array(),
        Some(n) => reply_range(ctx.out, stream, start, end, usize::try_from(n).unwrap_or(usize::MAX), rev),
        None => reply_range(ctx.out, stream, start, end, 0, rev),
    }
    Ok(())
}

fn xlen(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let tx = ctx.tx.as_mut().expect("xlen locks its key");
    let len = stream_at(tx, argv[1], Lookup::READ)?.map_or(0, |s| s.entries().len());
    ctx.out.int(len as i64);
    Ok(())
}

// ---- XDEL ------------------------------------------------------------------

fn xdel(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let key = argv[1];
    let tx = ctx.tx.as_mut().expect("xdel locks its key");
    let Some(stream) = stream_at_mut(tx, key, Lookup::WRITE)? else {
        ctx.out.int(0);
        return Ok(());
    };
    let ids = argv[2..].iter().map(|a| strict_id(a)).collect::<Result<Vec<_>, _>>()?;
    let deleted = stream.entries_mut().delete_ids(&ids);
    if deleted > 0 {
        tx.changed(key, events::XDEL, deleted);
    }
    ctx.out.int(deleted as i64);
    Ok(())
}

// ---- XSETID ----------------------------------------------------------------

fn xsetid(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let id = strict_id(argv[2])?;
    let mut entries_added: Option<u64> = None;
    let mut max_deleted: Option<StreamId> = None;
    let mut i = 3;
    while i < argv.len() {
        let more = argv.len() - 1 - i;
        if parse::is(argv[i], "entriesadded") && more > 0 {
            let added = parse::int(argv[i + 1])?;
            if added < 0 {
                return Err(CmdError::err("entries_added must be positive"));
            }
            entries_added = Some(added as u64);
        } else if parse::is(argv[i], "maxdeletedid") && more > 0 {
            let max = strict_id(argv[i + 1])?;
            if id < max {
                return Err(CmdError::err("The ID specified in XSETID is smaller than the provided max_deleted_entry_id"));
            }
            max_deleted = Some(max);
        } else {
            return Err(CmdError::Syntax);
        }
        i += 2;
    }
    let tx = ctx.tx.as_mut().expect("xsetid locks its key");
    let stream = stream_at_mut(tx, argv[1], Lookup::WRITE)?.ok_or(CmdError::NoSuchKey)?;
    let entries = stream.entries_mut();
    if !entries.is_empty() {
        if entries.last_live_id().is_some_and(|top| id < top) {
            return Err(CmdError::err("The ID specified in XSETID is smaller than the target stream top item"));
        }
        if entries_added.is_some_and(|added| entries.len() > added) {
            return Err(CmdError::err("The entries_added specified in XSETID is smaller than the target stream length"));
        }
    }
    entries.set_ids(id, entries_added, max_deleted.filter(|m| !m.is_zero()));
    tx.changed_unwatched(argv[1], events::XSETID, 1);
    ctx.out.ok();
    Ok(())
}

pub fn register(r: &mut Registrar) {
    r.keys("xadd", xadd);
    r.keys("xtrim", xtrim);
    r.keys("xrange", xrange);
    r.keys("xrevrange", xrevrange);
    r.keys("xlen", xlen);
    r.keys("xdel", xdel);
    r.keys("xsetid", xsetid);
}
