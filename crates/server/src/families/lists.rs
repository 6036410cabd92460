//! List commands: pushes and pops at both ends, positional access
//! (LINDEX, LSET, LRANGE, LTRIM, LINSERT, LREM, LPOS), moves between lists
//! (LMOVE, RPOPLPUSH), multi-key pops (LMPOP) and their blocking forms
//! (BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP).
//!
//! Argument errors are checked in the order redis-server checks them,
//! which differs from command to command (some parse before looking the key
//! up, some after). Pops are propagated as Redis propagates them: blocking
//! pops as LPOP/RPOP (with the count actually popped for LMPOP and BLMPOP),
//! blocking moves as LMOVE/RPOPLPUSH.

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::time::Duration;

use shoal_engine::{events, Event, Lookup, Tx, NO_EXPIRE};
use shoal_resp::reply::Aggregate;
use shoal_resp::ReplyBuf;
use shoal_types::list::{End, List, ListLimits, DEFAULT_PACKED_THRESHOLD};
use shoal_types::Value;

use crate::exec::{Ctx, Registrar};
use crate::error::{parse, CmdError, CmdResult};
use crate::server::EncodingLimits;

const LOCKED: &str = "list commands lock their keys";

/// Largest accepted threshold (Redis refuses anything close to 4 GB).
const PACKED_THRESHOLD_MAX: u64 = (1 << 32) - (1 << 20);
/// Blocking timeouts beyond this many milliseconds (about 30 years) wait
/// forever (Redis's absolute deadlines that far away never arrive either).
const TIMEOUT_FOREVER_MS: f64 = 1e12;

/// Sets the packed threshold (0 restores the default). False if too large.
pub fn set_packed_threshold(server: &crate::server::Server, bytes: u64) -> bool {
    if bytes > PACKED_THRESHOLD_MAX {
        return false;
    }
    let bytes = if bytes == 0 { DEFAULT_PACKED_THRESHOLD } else { bytes as usize };
    server.tunables.encodings.list_packed_threshold.store(bytes, Ordering::Relaxed);
    true
}

/// The node limits new list contents are built with (also for SORT ...
/// STORE, which creates lists).
pub fn limits(ctx: &Ctx<'_>) -> ListLimits {
    let fill = EncodingLimits::get(&ctx.server.tunables.encodings.list_max_listpack_size);
    ListLimits::new(fill, ctx.server.tunables.encodings.list_packed_threshold.load(Ordering::Relaxed))
}

// ---------------------------------------------------------------------------
// Keyspace access

/// The list at `key` for modification: None if absent, WRONGTYPE if the key
/// holds something else.
fn write_list<'t>(tx: &'t mut Tx<'_>, key: &[u8]) -> Result<Option<&'t mut List>, CmdError> {
    match tx.lookup_mut(key, Lookup::WRITE) {
        None => Ok(None),
        Some(entry) => match entry.value_mut() {
            Value::List(list) => Ok(Some(list)),
            _ => Err(CmdError::WrongType),
        },
    }
}

/// The list at `key` for reading (counts a hit or a miss).
fn read_list<'t>(tx: &'t mut Tx<'_>, key: &[u8]) -> Result<Option<&'t List>, CmdError> {
    match tx.lookup(key, Lookup::READ) {
        None => Ok(None),
        Some(entry) => match entry.value() {
            Value::List(list) => Ok(Some(list)),
            _ => Err(CmdError::WrongType),
        },
    }
}

/// After modifying the list at `key`: records the change (`event`,
/// `dirty` changes), then deletes the list if it became empty (Redis never
/// keeps empty lists) with a `del` event.
fn finish_write(tx: &mut Tx<'_>, key: &[u8], event: Event, dirty: u64, now_empty: bool) {
    tx.changed(key, event, dirty);
    if now_empty {
        tx.delete_emptied(key);
    }
}

fn push_event(end: End) -> Event {
    match end {
        End::Head => events::LPUSH,
        End::Tail => events::RPUSH,
    }
}

fn pop_event(end: End) -> Event {
    match end {
        End::Head => events::LPOP,
        End::Tail => events::RPOP,
    }
}

/// Pushes `values` onto the list at `key`, creating it unless
/// `existing_only`. Returns the new length (0 when nothing was created).
fn push_values(tx: &mut Tx<'_>, key: &[u8], values: &[&[u8]], end: End, existing_only: bool, limits: &ListLimits) -> Result<usize, CmdError> {
    let len = match write_list(tx, key)? {
        Some(list) => {
            values.iter().for_each(|v| list.push(v, end, limits));
            list.compact();
            list.len()
        }
        None if existing_only => return Ok(0),
        None => {
            let mut list = List::new();
            values.iter().for_each(|v| list.push(v, end, limits));
            list.compact();
            let len = list.len();
            let db = tx.db;
            tx.insert_in(db, key, Value::List(list), NO_EXPIRE);
            len
        }
    };
    tx.changed(key, push_event(end), values.len() as u64);
    Ok(len)
}

// ---------------------------------------------------------------------------
// Argument parsing

fn parse_end(arg: &[u8]) -> Result<End, CmdError> {
    if parse::is(arg, "left") {
        Ok(End::Head)
    } else if parse::is(arg, "right") {
        Ok(End::Tail)
    } else {
        Err(CmdError::Syntax)
    }
}

/// How Redis spells an end when it rewrites a command for propagation.
fn end_name(end: End) -> &'static [u8] {
    match end {
        End::Head => b"left",
        End::Tail => b"right",
    }
}

/// A non-negative integer; any failure (not a number, or negative) is
/// reported as `error()` says, as Redis's getPositiveLongFromObjectOrReply.
fn parse_non_negative(arg: &[u8], error: impl Fn() -> CmdError) -> Result<i64, CmdError> {
    parse::int(arg).ok().filter(|n| *n >= 0).ok_or_else(error)
}

/// A blocking timeout in seconds (decimals allowed). None: wait forever.
pub fn parse_timeout(arg: &[u8]) -> Result<Option<Duration>, CmdError> {
    // Redis parses a long double and converts it to a signed 64-bit count
    // of milliseconds; values out of that range come out negative.
    let ms = shoal_types::longdouble::timeout_ms(arg).ok_or(CmdError::TIMEOUT_NOT_FLOAT)?;
    if ms < 0 {
        return Err(CmdError::TIMEOUT_NEGATIVE);
    }
    if ms == 0 || ms as f64 > TIMEOUT_FOREVER_MS {
        return Ok(None);
    }
    Ok(Some(Duration::from_millis(ms as u64)))
}

/// A list index (negative counts from the tail) as a position, if inside.
fn position(index: i64, len: usize) -> Option<usize> {
    let index = if index < 0 { index as i128 + len as i128 } else { index as i128 };
    (0..len as i128).contains(&index).then_some(index as usize)
}

/// LRANGE/LTRIM's start and stop turned into (first, count); None when the
/// range is empty.
fn range_of(start: i64, stop: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let start = if start < 0 { (len + start).max(0) } else { start };
    let stop = if stop < 0 { len + stop } else { stop };
    if start > stop || start >= len {
        return None;
    }
    let stop = stop.min(len - 1);
    Some((start as usize, (stop - start + 1) as usize))
}

// ---------------------------------------------------------------------------
// Replies

/// Writes up to `count` elements taken from `end` (tail elements in the
/// order they are popped) and returns how many.
fn reply_from_end(out: &mut ReplyBuf, list: &List, end: End, count: usize) -> usize {
    let count = count.min(list.len());
    out.array(count);
    match end {
        End::Head => list.range(0, count).for_each(|v| out.bulk(v)),
        End::Tail => list.range_rev(list.len() - 1, count).for_each(|v| out.bulk(v)),
    }
    count
}

/// Pops up to `count` elements from the list at `key` replying
/// `[key, [elements]]` (LMPOP's shape); returns how many were popped.
fn pop_range_with_key(out: &mut ReplyBuf, tx: &mut Tx<'_>, key: &[u8], end: End, count: usize, limits: &ListLimits) -> Result<usize, CmdError> {
    let Some(list) = write_list(tx, key)? else { return Ok(0) };
    out.array(2);
    out.bulk(key);
    let popped = reply_from_end(out, list, end, count);
    list.remove_end(end, popped, limits);
    let empty = list.is_empty();
    finish_write(tx, key, pop_event(end), popped as u64, empty);
    Ok(popped)
}

/// The LPOP/RPOP a pop is propagated as.
fn pop_command(end: End, key: &[u8], count: Option<usize>) -> Vec<Vec<u8>> {
    let name: &[u8] = match end {
        End::Head => b"LPOP",
        End::Tail => b"RPOP",
    };
    let mut argv = vec![name.to_vec(), key.to_vec()];
    if let Some(count) = count {
        argv.push(count.to_string().into_bytes());
    }
    argv
}

// ---------------------------------------------------------------------------
// Pushes and pops

fn push_command(ctx: &mut Ctx<'_>, argv: &[&[u8]], end: End, existing_only: bool) -> CmdResult {
    let limits = limits(ctx);
    let tx = ctx.tx.as_mut().expect(LOCKED);
    let len = push_values(tx, argv[1], &argv[2..], end, existing_only, &limits)?;
    ctx.out.int(len as i64);
    Ok(())
}

fn lpush(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    push_command(ctx, argv, End::Head, false)
}

fn rpush(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    push_command(ctx, argv, End::Tail, false)
}

fn lpushx(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    push_command(ctx, argv, End::Head, true)
}

fn rpushx(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    push_command(ctx, argv, End::Tail, true)
}

/// LPOP/RPOP key [count].
fn pop_command_generic(ctx: &mut Ctx<'_>, argv: &[&[u8]], end: End) -> CmdResult {
    if argv.len() > 3 {
        return Err(CmdError::wrong_arity(ctx.cmd.name));
    }
    let count = match argv.get(2) {
        Some(arg) => Some(parse_non_negative(arg, || CmdError::NotPositive)? as usize),
        None => None,
    };
    let limits = limits(ctx);
    let key = argv[1];
    let tx = ctx.tx.as_mut().expect(LOCKED);
    let out = &mut *ctx.out;
    let Some(list) = write_list(tx, key)? else {
        if count.is_some() {
            out.null_array();
        } else {
            out.null();
        }
        return Ok(());
    };
    let popped = match count {
        None => match list.pop(end, &limits) {
            Some(value) => {
                out.bulk(&value);
                1
            }
            None => {
                out.null();
                0
            }
        },
        Some(0) => {
            out.array(0);
            return Ok(());
        }
        Some(count) => {
            let popped = reply_from_end(out, list, end, count);
            list.remove_end(end, popped, &limits);
            popped
        }
    };
    let empty = list.is_empty();
    finish_write(tx, key, pop_event(end), popped as u64, empty);
    Ok(())
}

fn lpop(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    pop_command_generic(ctx, argv, End::Head)
}

fn rpop(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    pop_command_generic(ctx, argv, End::Tail)
}

// ---------------------------------------------------------------------------
// Reading and positional changes

fn llen(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let tx = ctx.tx.as_mut().expect(LOCKED);
    let len = read_list(tx, argv[1])?.map_or(0, |l| l.len());
    ctx.out.int(len as i64);
    Ok(())
}

fn lindex(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let tx = ctx.tx.as_mut().expect(LOCKED);
    let Some(list) = read_list(tx, argv[1])? else {
        ctx.out.null();
        return Ok(());
    };
    let index = parse::int(argv[2])?;
    match position(index, list.len()).and_then(|i| list.get(i)) {
        Some(value) => ctx.out.bulk(value),
        None => ctx.out.null(),
    }
    Ok(())
}

fn lset(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let limits = limits(ctx);
    let key = argv[1];
    let tx = ctx.tx.as_mut().expect(LOCKED);
    let list = write_list(tx, key)?.ok_or(CmdError::NoSuchKey)?;
    let index = parse::int(argv[2])?;
    let replaced = position(index, list.len()).is_some_and(|i| list.set(i, argv[3], &limits));
    if !replaced {
        return Err(CmdError::err("index out of range"));
    }
    tx.changed(key, events::LSET, 1);
    ctx.out.ok();
    Ok(())
}

fn lrange(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let (start, stop) = (parse::int(argv[2])?, parse::int(argv[3])?);
    let tx = ctx.tx.as_mut().expect(LOCKED);
    let out = &mut *ctx.out;
    let Some(list) = read_list(tx, argv[1])? else {
        out.array(0);
        return Ok(());
    };
    match range_of(start, stop, list.len()) {
        None => out.array(0),
        Some((first, count)) => {
            out.array(count);
            list.range(first, count).for_each(|v| out.bulk(v));
        }
    }
    Ok(())
}

fn ltrim(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let (start, stop) = (parse::int(argv[2])?, parse::int(argv[3])?);
    let limits = limits(ctx);
    let key = argv[1];
    let tx = ctx.tx.as_mut().expect(LOCKED);
    let Some(list) = write_list(tx, key)? else {
        ctx.out.ok();
        return Ok(());
    };
    let len = list.len();
    let (head, tail) = match range_of(start, stop, len) {
        None => (len, 0),
        Some((first, count)) => (first, len - first - count),
    };
    list.remove_end(End::Head, head, &limits);
    list.remove_end(End::Tail, tail, &limits);
    let empty = list.is_empty();
    // Redis signals the key even when nothing was trimmed.
    finish_write(tx, key, events::LTRIM, (head + tail) as u64, empty);
    ctx.out.ok();
    Ok(())
}

fn linsert(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let after = if parse::is(argv[2], "after") {
        true
    } else if parse::is(argv[2], "before") {
        false
    } else {
        return Err(CmdError::Syntax);
    };
    let limits = limits(ctx);
    let (key, pivot, value) = (argv[1], argv[3], argv[4]);
    let tx = ctx.tx.as_mut().expect(LOCKED);
    let Some(list) = write_list(tx, key)? else {
        ctx.out.int(0);
        return Ok(());
    };
    let Some(found) = list.iter().position(|v| v == pivot) else {
        ctx.out.int(-1);
        return Ok(());
    };
    list.insert(found + after as usize, value, &limits);
    let len = list.len();
    tx.changed(key, events::LINSERT, 1);
    ctx.out.int(len as i64);
    Ok(())
}

fn lrem(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let count = parse::int(argv[2])?;
    let limits = limits(ctx);
    let (key, value) = (argv[1], argv[3]);
    let tx = ctx.tx.as_mut().expect(LOCKED);
    let Some(list) = write_list(tx, key)? else {
        ctx.out.int(0);
        return Ok(());
    };
    let from = if count < 0 { End::Tail } else { End::Head };
    let limit = usize::try_from(count.unsigned_abs()).unwrap_or(usize::MAX);
    let removed = list.remove_matches(value, limit, from, &limits);
    let empty = list.is_empty();
    if removed > 0 {
        finish_write(tx, key, events::LREM, removed as u64, empty);
    }
    ctx.out.int(removed as i64);
    Ok(())
}

/// LPOS options. `count` is None when COUNT was not given (single reply).
struct LposOptions {
    rank: i64,
    count: Option<i64>,
    maxlen: i64,
}

fn parse_lpos(argv: &[&[u8]]) -> Result<LposOptions, CmdError> {
    let mut o = LposOptions { rank: 1, count: None, maxlen: 0 };
    let mut j = 3;
    while j < argv.len() {
        let has_value = j + 1 < argv.len();
        if parse::is(argv[j], "rank") && has_value {
            o.rank = parse::int(argv[j + 1])?;
            if o.rank == 0 {
                return Err(CmdError::err(
                    "RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list",
                ));
            }
        } else if parse::is(argv[j], "count") && has_value {
            o.count = Some(parse_non_negative(argv[j + 1], || CmdError::err("COUNT can't be negative"))?);
        } else if parse::is(argv[j], "maxlen") && has_value {
            o.maxlen = parse_non_negative(argv[j + 1], || CmdError::err("MAXLEN can't be negative"))?;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 2;
    }
    Ok(o)
}

/// Scans for matches the way LPOS does, writing each reported index (with
/// COUNT) and returning the single match otherwise. Arithmetic wraps like
/// Redis's for the extreme RANK of i64::MIN.
fn lpos_scan<'a>(
    elements: impl Iterator<Item = &'a [u8]>,
    target: &[u8],
    o: &LposOptions,
    rank: i64,
    to_index: impl Fn(i64) -> i64,
    out: &mut ReplyBuf,
) -> (Option<i64>, usize) {
    let (mut matches, mut reported) = (0i64, 0usize);
    for (scanned, element) in elements.enumerate() {
        let scanned = scanned as i64;
        if o.maxlen != 0 && scanned >= o.maxlen {
            break;
        }
        if element != target {
            continue;
        }
        matches += 1;
        if matches < rank {
            continue;
        }
        let index = to_index(scanned);
        match o.count {
            None => return (Some(index), 0),
            Some(count) => {
                reported += 1;
                out.int(index);
                if count != 0 && matches.wrapping_sub(rank).wrapping_add(1) >= count {
                    break;
                }
            }
        }
    }
    (None, reported)
}

fn lpos(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let o = parse_lpos(argv)?;
    let from_tail = o.rank < 0;
    let rank = if from_tail { o.rank.wrapping_neg() } else { o.rank };
    let tx = ctx.tx.as_mut().expect(LOCKED);
    let out = &mut *ctx.out;
    let Some(list) = read_list(tx, argv[1])? else {
        if o.count.is_some() {
            out.array(0);
        } else {
            out.null();
        }
        return Ok(());
    };
    let len = list.len() as i64;
    let deferred = o.count.map(|_| out.begin_deferred(Aggregate::Array));
    let (single, reported) = if from_tail {
        lpos_scan(list.iter_rev(), argv[2], &o, rank, |scanned| len - scanned - 1, out)
    } else {
        lpos_scan(list.iter(), argv[2], &o, rank, |scanned| scanned, out)
    };
    match (deferred, single) {
        (Some(deferred), _) => out.finish_deferred(deferred, reported),
        (None, Some(index)) => out.int(index),
        (None, None) => out.null(),
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Moves

/// One LMOVE: from which list and end to which list and end.
struct Move<'k> {
    source: &'k [u8],
    destination: &'k [u8],
    from: End,
    to: End,
}

/// Why a move did not happen.
enum MoveError {
    /// The source key is absent.
    NoSource,
    /// A type error (source or destination).
    Failed(CmdError),
}

/// Moves one element. The source's type is checked before the
/// destination's, and the destination's before anything changes.
fn move_element(tx: &mut Tx<'_>, m: &Move<'_>, limits: &ListLimits) -> Result<Vec<u8>, MoveError> {
    match write_list(tx, m.source) {
        Ok(Some(_)) => {}
        Ok(None) => return Err(MoveError::NoSource),
        Err(e) => return Err(MoveError::Failed(e)),
    }
    if let Err(e) = write_list(tx, m.destination) {
        return Err(MoveError::Failed(e));
    }
    let popped = write_list(tx, m.source).ok().flatten().and_then(|l| l.pop(m.from, limits));
    let Some(value) = popped else { return Err(MoveError::NoSource) };
    // The push counts the move's one change (Redis counts a move once).
    push_values(tx, m.destination, &[&value], m.to, false, limits).map_err(MoveError::Failed)?;
    let source_empty = matches!(write_list(tx, m.source), Ok(Some(l)) if l.is_empty());
    finish_write(tx, m.source, pop_event(m.from), 0, source_empty);
    Ok(value)
}

fn lmove_generic(ctx: &mut Ctx<'_>, m: &Move<'_>) -> CmdResult {
    let limits = limits(ctx);
    let tx = ctx.tx.as_mut().expect(LOCKED);
    match move_element(tx, m, &limits) {
        Ok(value) => ctx.out.bulk(&value),
        Err(MoveError::NoSource) => ctx.out.null(),
        Err(MoveError::Failed(e)) => return Err(e),
    }
    Ok(())
}

fn lmove(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let (from, to) = (parse_end(argv[3])?, parse_end(argv[4])?);
    lmove_generic(ctx, &Move { source: argv[1], destination: argv[2], from, to })
}

fn rpoplpush(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    lmove_generic(ctx, &Move { source: argv[1], destination: argv[2], from: End::Tail, to: End::Head })
}

/// BLMOVE and BRPOPLPUSH once their arguments are parsed. `as_rpoplpush`
/// chooses what the move is propagated as.
fn blocking_move(ctx: &mut Ctx<'_>, argv: &[&[u8]], m: &Move<'_>, timeout: Option<Duration>, as_rpoplpush: bool) -> CmdResult {
    let limits = limits(ctx);
    let serving = ctx.serving_blocked;
    let tx = ctx.tx.as_mut().expect(LOCKED);
    match move_element(tx, m, &limits) {
        Ok(value) => {
            ctx.out.bulk(&value);
            ctx.propagate_as(vec![move_propagation(argv, m, as_rpoplpush, serving)]);
            Ok(())
        }
        // Redis serves a blocked client only from a key that is a list;
        // anything else leaves it waiting.
        Err(MoveError::NoSource) => wait_or_give_up(ctx, vec![m.source.to_vec()], timeout, false),
        Err(MoveError::Failed(CmdError::WrongType)) if serving && !source_is_list(ctx, m.source) => {
            wait_or_give_up(ctx, vec![m.source.to_vec()], timeout, false)
        }
        Err(MoveError::Failed(e)) => fail(ctx, e),
    }
}

fn source_is_list(ctx: &mut Ctx<'_>, key: &[u8]) -> bool {
    let tx = ctx.tx.as_mut().expect(LOCKED);
    matches!(write_list(tx, key), Ok(Some(_)))
}

/// What a blocking move propagates as: RPOPLPUSH, or LMOVE with the ends
/// as given (Redis spells them in lower case when it served a waiter).
fn move_propagation(argv: &[&[u8]], m: &Move<'_>, as_rpoplpush: bool, served: bool) -> Vec<Vec<u8>> {
    if as_rpoplpush {
        return vec![b"RPOPLPUSH".to_vec(), m.source.to_vec(), m.destination.to_vec()];
    }
    let (from, to) = if served { (end_name(m.from), end_name(m.to)) } else { (argv[3], argv[4]) };
    vec![b"LMOVE".to_vec(), m.source.to_vec(), m.destination.to_vec(), from.to_vec(), to.to_vec()]
}

fn blmove(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let (from, to) = (parse_end(argv[3])?, parse_end(argv[4])?);
    let timeout = parse_timeout(argv[5])?;
    blocking_move(ctx, argv, &Move { source: argv[1], destination: argv[2], from, to }, timeout, false)
}

fn brpoplpush(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let timeout = parse_timeout(argv[3])?;
    let m = Move { source: argv[1], destination: argv[2], from: End::Tail, to: End::Head };
    blocking_move(ctx, argv, &m, timeout, true)
}

// ---------------------------------------------------------------------------
// Multi-key and blocking pops

/// Ends a blocking command that found nothing: blocks, or (inside MULTI)
/// replies as a timeout would (a null array, or a null for the moves).
fn wait_or_give_up(ctx: &mut Ctx<'_>, keys: Vec<Vec<u8>>, timeout: Option<Duration>, array_reply: bool) -> CmdResult {
    if !ctx.can_block() {
        if array_reply {
            ctx.out.null_array();
        } else {
            ctx.out.null();
        }
        return Ok(());
    }
    let mut seen = HashSet::new();
    let keys = keys.into_iter().filter(|k| seen.insert(k.clone())).collect();
    ctx.block_on(keys, timeout, None);
    Ok(())
}

/// Reports an error. A served waiter gets it as its reply (Redis unblocks
/// it with the error), instead of going back to waiting.
fn fail(ctx: &mut Ctx<'_>, error: CmdError) -> CmdResult {
    if ctx.serving_blocked {
        crate::exec::error_reply(ctx.server, ctx.out, error.message());
        return Ok(());
    }
    Err(error)
}

/// LMPOP/BLMPOP arguments after the numkeys position.
struct MpopArgs<'a> {
    keys: &'a [&'a [u8]],
    end: End,
    count: usize,
}

fn parse_mpop<'a>(argv: &'a [&'a [u8]], numkeys_at: usize) -> Result<MpopArgs<'a>, CmdError> {
    let numkeys = parse::at_least_one(argv[numkeys_at], CmdError::NUMKEYS_NOT_POSITIVE)? as usize;
    let end_at = numkeys.checked_add(numkeys_at + 1).filter(|&i| i < argv.len()).ok_or(CmdError::Syntax)?;
    let end = parse_end(argv[end_at])?;
    let mut count = None;
    let mut j = end_at + 1;
    while j < argv.len() {
        if count.is_none() && parse::is(argv[j], "count") && j + 1 < argv.len() {
            count = Some(parse::at_least_one(argv[j + 1], CmdError::COUNT_NOT_POSITIVE)? as usize);
            j += 2;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    Ok(MpopArgs { keys: &argv[numkeys_at + 1..end_at], end, count: count.unwrap_or(1) })
}

fn lmpop(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let args = parse_mpop(argv, 1)?;
    let limits = limits(ctx);
    let tx = ctx.tx.as_mut().expect(LOCKED);
    for key in args.keys {
        let popped = pop_range_with_key(ctx.out, tx, key, args.end, args.count, &limits)?;
        if popped > 0 {
            ctx.propagate_as(vec![pop_command(args.end, key, Some(popped))]);
            return Ok(());
        }
    }
    ctx.out.null_array();
    Ok(())
}

/// The keys a blocking pop may take from: all of them, in order, or only
/// the ready key when serving a waiter.
fn candidate_keys<'a>(ctx: &Ctx<'_>, keys: &[&'a [u8]]) -> Vec<&'a [u8]> {
    match &ctx.serving_key {
        Some(ready) if ctx.serving_blocked => keys.iter().copied().filter(|k| *k == ready.as_slice()).take(1).collect(),
        _ => keys.to_vec(),
    }
}

/// BLPOP/BRPOP (count None: `[key, element]` reply) and BLMPOP (count:
/// `[key, [elements]]`).
fn blocking_pop(ctx: &mut Ctx<'_>, keys: &[&[u8]], end: End, count: Option<usize>, timeout: Option<Duration>) -> CmdResult {
    let limits = limits(ctx);
    let serving = ctx.serving_blocked;
    for key in candidate_keys(ctx, keys) {
        let tx = ctx.tx.as_mut().expect(LOCKED);
        match write_list(tx, key) {
            Ok(Some(_)) => {}
            Ok(None) => continue,
            // Redis serves waiters only from keys holding lists.
            Err(_) if serving => continue,
            Err(e) => return Err(e),
        }
        let popped = match count {
            Some(count) => pop_range_with_key(ctx.out, tx, key, end, count, &limits)?,
            None => pop_one_with_key(ctx.out, tx, key, end, &limits)?,
        };
        if popped > 0 {
            ctx.propagate_as(vec![pop_command(end, key, count.map(|_| popped))]);
            return Ok(());
        }
    }
    wait_or_give_up(ctx, keys.iter().map(|k| k.to_vec()).collect(), timeout, true)
}

/// BLPOP/BRPOP's pop: replies `[key, element]`; returns 1 if popped.
fn pop_one_with_key(out: &mut ReplyBuf, tx: &mut Tx<'_>, key: &[u8], end: End, limits: &ListLimits) -> Result<usize, CmdError> {
    let Some(list) = write_list(tx, key)? else { return Ok(0) };
    let Some(value) = list.pop(end, limits) else { return Ok(0) };
    out.array(2);
    out.bulk(key);
    out.bulk(&value);
    let empty = list.is_empty();
    finish_write(tx, key, pop_event(end), 1, empty);
    Ok(1)
}

fn blpop(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let timeout = parse_timeout(argv[argv.len() - 1])?;
    blocking_pop(ctx, &argv[1..argv.len() - 1], End::Head, None, timeout)
}

fn brpop(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let timeout = parse_timeout(argv[argv.len() - 1])?;
    blocking_pop(ctx, &argv[1..argv.len() - 1], End::Tail, None, timeout)
}

fn blmpop(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    // Redis checks the other arguments before the timeout here.
    let args = parse_mpop(argv, 2)?;
    let timeout = parse_timeout(argv[1])?;
    blocking_pop(ctx, args.keys, args.end, Some(args.count), timeout)
}

pub fn register(r: &mut Registrar) {
    r.keys("lpush", lpush);
    r.keys("rpush", rpush);
    r.keys("lpushx", lpushx);
    r.keys("rpushx", rpushx);
    r.keys("lpop", lpop);
    r.keys("rpop", rpop);
    r.keys("llen", llen);
    r.keys("lindex", lindex);
    r.keys("lset", lset);
    r.keys("lrange", lrange);
    r.keys("ltrim", ltrim);
    r.keys("linsert", linsert);
    r.keys("lrem", lrem);
    r.keys("lpos", lpos);
    r.keys("lmove", lmove);
    r.keys("rpoplpush", rpoplpush);
    r.keys("lmpop", lmpop);
    r.keys("blpop", blpop);
    r.keys("brpop", brpop);
    r.keys("blmove", blmove);
    r.keys("brpoplpush", brpoplpush);
    r.keys("blmpop", blmpop);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_follow_redis() {
        assert_eq!(parse_timeout(b"0").unwrap(), None);
        assert_eq!(parse_timeout(b"0.001").unwrap(), Some(Duration::from_millis(1)));
        assert_eq!(parse_timeout(b"0.0001").unwrap(), Some(Duration::from_millis(1)));
        assert_eq!(parse_timeout(b"-0.0001").unwrap(), None);
        assert_eq!(parse_timeout(b"1.5").unwrap(), Some(Duration::from_millis(1500)));
        assert_eq!(parse_timeout(b"9.2e15").unwrap(), None);
        for bad in [&b"-1"[..], b"9.3e15", b"inf", b"-inf", b"1e20", b"1e400"] {
            assert_eq!(parse_timeout(bad).unwrap_err().message(), "ERR timeout is negative");
        }
        for bad in [&b"abc"[..], b"", b" 1", b"nan", b"1x"] {
            assert_eq!(parse_timeout(bad).unwrap_err().message(), "ERR timeout is not a float or out of range");
        }
    }

    #[test]
    fn ranges_follow_redis() {
        assert_eq!(range_of(0, -1, 5), Some((0, 5)));
        assert_eq!(range_of(-100, 100, 5), Some((0, 5)));
        assert_eq!(range_of(3, 1, 5), None);
        assert_eq!(range_of(5, 10, 5), None);
        assert_eq!(range_of(0, -6, 5), None);
        assert_eq!(range_of(i64::MIN, i64::MAX, 5), Some((0, 5)));
        assert_eq!(position(-1, 5), Some(4));
        assert_eq!(position(-6, 5), None);
        assert_eq!(position(i64::MIN, 5), None);
        assert_eq!(position(5, 5), None);
    }

    #[test]
    fn packed_threshold_bounds() {
        let config = crate::config::Config::load(None, "").unwrap();
        let server = crate::server::Server::new(config, 1, String::new());
        let threshold = || server.tunables.encodings.list_packed_threshold.load(Ordering::Relaxed);
        assert!(!set_packed_threshold(&server, PACKED_THRESHOLD_MAX + 1));
        assert!(set_packed_threshold(&server, 100));
        assert_eq!(threshold(), 100);
        assert!(set_packed_threshold(&server, 0));
        assert_eq!(threshold(), DEFAULT_PACKED_THRESHOLD);
    }
}
