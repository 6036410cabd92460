//! Sorted set commands.
//!
//! This file holds the shared plumbing (typed lookups, encoding limits,
//! member/score replies) and the single-member commands; ranges, pops and
//! set operations live in the submodules. GEO commands reuse `add_pairs`,
//! `read_zset` and `store_result` since geo indexes are sorted sets.

pub(crate) mod pop;
pub(crate) mod range;
pub(crate) mod setops;

use shoal_engine::{events, Event, Lookup, Tx};
use shoal_resp::ReplyBuf;
use shoal_types::zset::{AddFlags, AddResult, Limits, ZSet};
use shoal_types::Value;

use crate::exec::{Ctx, Registrar};
use crate::error::{parse, CmdError, CmdResult};
use crate::server::EncodingLimits;

/// ZSCAN visits at most this many buckets per requested element (Redis
/// counts member and score separately, hence twice its factor of 10).
const SCAN_BUCKETS_PER_ELEMENT: usize = 20;

/// The keyspace view and the reply buffer at once.
pub(crate) fn parts<'c, 'a>(ctx: &'c mut Ctx<'a>) -> (&'c mut Tx<'a>, &'c mut ReplyBuf) {
    (ctx.tx.as_mut().expect("sorted set commands lock their keys"), &mut *ctx.out)
}

/// The configured encoding thresholds.
pub(crate) fn limits(ctx: &Ctx<'_>) -> Limits {
    let e = &ctx.server.tunables.encodings;
    Limits::from_config(
        EncodingLimits::get(&e.zset_max_listpack_entries),
        EncodingLimits::get(&e.zset_max_listpack_value),
    )
}

/// The sorted set at `key` for reading: None if the key is missing,
/// WRONGTYPE if it holds something else.
pub(crate) fn read_zset<'t>(tx: &'t mut Tx<'_>, key: &[u8]) -> Result<Option<&'t ZSet>, CmdError> {
    match tx.lookup(key, Lookup::READ) {
        None => Ok(None),
        Some(entry) => match entry.value() {
            Value::ZSet(z) => Ok(Some(z)),
            _ => Err(CmdError::WrongType),
        },
    }
}

/// The sorted set at `key` for modification.
pub(crate) fn write_zset<'t>(tx: &'t mut Tx<'_>, key: &[u8]) -> Result<Option<&'t mut ZSet>, CmdError> {
    match tx.lookup_mut(key, Lookup::WRITE) {
        None => Ok(None),
        Some(entry) => match entry.value_mut() {
            Value::ZSet(z) => Ok(Some(z)),
            _ => Err(CmdError::WrongType),
        },
    }
}

/// After an in-place change of `changes` elements: records it as `event`,
/// then deletes the key if the set became empty (as Redis does).
pub(crate) fn after_change(tx: &mut Tx<'_>, key: &[u8], event: Event, changes: u64) {
    if changes == 0 {
        return;
    }
    let empty = matches!(tx.lookup(key, Lookup::QUIET).map(|e| e.value()), Some(Value::ZSet(z)) if z.is_empty());
    tx.changed(key, event, changes);
    if empty {
        tx.delete_emptied(key);
    }
}

/// Stores a computed result at `dest` (replacing whatever was there and
/// its TTL) or deletes `dest` when the result is empty; replies with the
/// result's size. `event` names the store and `dirty_if_stored` is what
/// Redis counts for it.
pub(crate) fn store_result(ctx: &mut Ctx<'_>, dest: &[u8], result: ZSet, event: Event, dirty_if_stored: u64) {
    let (tx, out) = parts(ctx);
    let len = result.len();
    if len > 0 {
        tx.set(dest, Value::ZSet(result), false);
        tx.changed(dest, event, dirty_if_stored);
    } else if tx.delete_ignoring_expiry(dest) {
        tx.changed(dest, events::DEL, 1);
    }
    out.int(len as i64);
}

/// A score as a ZRANGE-style reply element.
pub(crate) fn reply_element(out: &mut ReplyBuf, member: &[u8], score: f64, withscores: bool) {
    if withscores && out.resp3() {
        out.array(2);
    }
    out.bulk(member);
    if withscores {
        out.double(score);
    }
}

/// The array header for `n` elements, flat with scores in RESP2.
pub(crate) fn reply_elements_header(out: &mut ReplyBuf, n: usize, withscores: bool) {
    out.array(if withscores && !out.resp3() { n * 2 } else { n });
}

/// Parses a score argument (ZADD, ZINCRBY).
fn parse_score(arg: &[u8]) -> Result<f64, CmdError> {
    parse::float(arg)
}

/// What ZADD was asked to do.
pub(crate) struct AddRequest<'a> {
    pub flags: AddFlags,
    /// Reply with added + updated instead of added.
    pub ch: bool,
    pub pairs: Vec<(f64, &'a [u8])>,
}

/// Parses ZADD/ZINCRBY arguments after the key.
fn parse_zadd<'a>(argv: &[&'a [u8]], incr: bool) -> Result<AddRequest<'a>, CmdError> {
    let mut flags = AddFlags { incr, ..AddFlags::default() };
    let mut ch = false;
    let mut i = 2;
    while i < argv.len() {
        let opt = argv[i];
        if parse::is(opt, "nx") {
            flags.nx = true;
        } else if parse::is(opt, "xx") {
            flags.xx = true;
        } else if parse::is(opt, "ch") {
            ch = true;
        } else if parse::is(opt, "incr") {
            flags.incr = true;
        } else if parse::is(opt, "gt") {
            flags.gt = true;
        } else if parse::is(opt, "lt") {
            flags.lt = true;
        } else {
            break;
        }
        i += 1;
    }
    let rest = &argv[i..];
    if rest.is_empty() || !rest.chunks_exact(2).remainder().is_empty() {
        return Err(CmdError::Syntax);
    }
    if flags.nx && flags.xx {
        return Err(CmdError::err("XX and NX options at the same time are not compatible"));
    }
    if (flags.nx && (flags.gt || flags.lt)) || (flags.gt && flags.lt) {
        return Err(CmdError::err("GT, LT, and/or NX options at the same time are not compatible"));
    }
    if flags.incr && rest.len() > 2 {
        return Err(CmdError::err("INCR option supports a single increment-element pair"));
    }
    let pairs = rest.chunks(2).map(|p| Ok((parse_score(p[0])?, p[1]))).collect::<Result<Vec<_>, CmdError>>()?;
    Ok(AddRequest { flags, ch, pairs })
}

/// Applies a parsed ZADD to `key` and replies (shared with GEOADD).
pub(crate) fn add_pairs(ctx: &mut Ctx<'_>, key: &[u8], request: &AddRequest<'_>) -> CmdResult {
    let limits = limits(ctx);
    let (tx, out) = parts(ctx);
    let exists = write_zset(tx, key)?.is_some();
    if !exists && request.flags.xx {
        reply_add(out, request, 0, 0, None);
        return Ok(());
    }
    if !exists && !request.flags.incr {
        if let Some(set) = build_fresh(request, limits) {
            let added = set.len() as u64;
            let db = tx.db;
            tx.insert_in(db, key, Value::ZSet(set), shoal_engine::NO_EXPIRE);
            tx.changed(key, add_event(request), added);
            reply_add(out, request, added, 0, None);
            return Ok(());
        }
    }
    let mut fresh = (!exists).then(|| ZSet::for_first_member(limits, request.pairs[0].1.len()));
    let set = match fresh.as_mut() {
        Some(set) => set,
        None => write_zset(tx, key)?.expect("checked above"),
    };
    let (mut added, mut updated) = (0u64, 0u64);
    let mut last_score = None;
    for &(score, member) in &request.pairs {
        match set.add(member, score, request.flags, limits) {
            AddResult::Added(s) => {
                added += 1;
                last_score = Some(s);
            }
            AddResult::Updated(s) => {
                updated += 1;
                last_score = Some(s);
            }
            AddResult::Unchanged(s) => last_score = Some(s),
            AddResult::Skipped => {}
            AddResult::NotANumber => {
                // Only possible for the single INCR pair: nothing changed.
                return Err(CmdError::NAN_SCORE);
            }
        }
    }
    if let Some(set) = fresh {
        if !set.is_empty() {
            let db = tx.db;
            tx.insert_in(db, key, Value::ZSet(set), shoal_engine::NO_EXPIRE);
        }
    }
    if added + updated > 0 {
        tx.changed(key, add_event(request), added + updated);
    }
    reply_add(out, request, added, updated, last_score);
    Ok(())
}

/// ZADD's event: `zincr` in its INCR form (ZINCRBY), `zadd` otherwise.
fn add_event(request: &AddRequest<'_>) -> Event {
    if request.flags.incr {
        events::ZINCR
    } else {
        events::ZADD
    }
}

/// A new key's set built in one go when every member is distinct (then
/// each pair is simply added, whatever NX/GT/LT say); None when members
/// repeat and the pairs must be applied one by one.
fn build_fresh(request: &AddRequest<'_>, limits: Limits) -> Option<ZSet> {
    let mut pairs: Vec<(&[u8], f64)> = request.pairs.iter().map(|&(score, member)| (member, score)).collect();
    let mut members: Vec<&[u8]> = pairs.iter().map(|p| p.0).collect();
    members.sort_unstable();
    if members.windows(2).any(|w| w[0] == w[1]) {
        return None;
    }
    zero_scores_added_small(&mut pairs, limits);
    Some(ZSet::from_unique_refs(&mut pairs, limits))
}

/// Redis creates a new key's set in the small encoding (unless its first
/// member is too long) and adds the pairs in order, converting when the
/// next one no longer fits; the small encoding stores a score of -0 as 0,
/// so the pairs added before the conversion keep 0, the later ones -0.
fn zero_scores_added_small(pairs: &mut [(&[u8], f64)], limits: Limits) {
    for (i, (member, score)) in pairs.iter_mut().enumerate() {
        if i + 1 > limits.max_entries || member.len() > limits.max_value {
            return;
        }
        if *score == 0.0 {
            *score = 0.0;
        }
    }
}

fn reply_add(out: &mut ReplyBuf, request: &AddRequest<'_>, added: u64, updated: u64, score: Option<f64>) {
    if request.flags.incr {
        match score {
            Some(s) => out.double(s),
            None => out.null(),
        }
    } else {
        out.int((if request.ch { added + updated } else { added }) as i64);
    }
}

fn zadd(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let request = parse_zadd(argv, false)?;
    add_pairs(ctx, argv[1], &request)
}

fn zincrby(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let request = parse_zadd(argv, true)?;
    add_pairs(ctx, argv[1], &request)
}

fn zrem(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let (tx, out) = parts(ctx);
    let key = argv[1];
    let Some(set) = write_zset(tx, key)? else {
        out.int(0);
        return Ok(());
    };
    let mut removed = 0u64;
    for member in &argv[2..] {
        if set.remove(member) {
            removed += 1;
        }
        if set.is_empty() {
            break;
        }
    }
    after_change(tx, key, events::ZREM, removed);
    out.int(removed as i64);
    Ok(())
}

fn zcard(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let (tx, out) = parts(ctx);
    let len = read_zset(tx, argv[1])?.map_or(0, |z| z.len());
    out.int(len as i64);
    Ok(())
}

fn zscore(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let (tx, out) = parts(ctx);
    match read_zset(tx, argv[1])?.and_then(|z| z.score(argv[2])) {
        Some(score) => out.double(score),
        None => out.null(),
    }
    Ok(())
}

fn zmscore(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let (tx, out) = parts(ctx);
    let set = read_zset(tx, argv[1])?;
    out.array(argv.len() - 2);
    for member in &argv[2..] {
        match set.and_then(|z| z.score(member)) {
            Some(score) => out.double(score),
            None => out.null(),
        }
    }
    Ok(())
}

fn rank_generic(ctx: &mut Ctx<'_>, argv: &[&[u8]], reverse: bool) -> CmdResult {
    let (tx, out) = parts(ctx);
    let Some(set) = read_zset(tx, argv[1])? else {
        out.null();
        return Ok(());
    };
    match set.rank(argv[2]) {
        Some((rank, _)) => out.int((if reverse { set.len() - 1 - rank } else { rank }) as i64),
        None => out.null(),
    }
    Ok(())
}

fn zrank(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    rank_generic(ctx, argv, false)
}

fn zrevrank(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    rank_generic(ctx, argv, true)
}

/// A score as ZSCAN shows it: the compact encoding keeps whole numbers in
/// integer form (Redis's listpack stores them as integers), the large one
/// prints every score with 17 significant digits.
fn scan_score_text(score: f64, compact: bool) -> Vec<u8> {
    const WHOLE_LIMIT: f64 = (i64::MAX / 2) as f64;
    if compact && score.fract() == 0.0 && (-WHOLE_LIMIT..=WHOLE_LIMIT).contains(&score) {
        return shoal_resp::number::i64_to_bytes(score as i64);
    }
    shoal_resp::number::f64_to_bytes(score)
}

fn zscan(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let cursor = crate::families::keys::parse_cursor(argv[2])?;
    let (tx, out) = parts(ctx);
    let Some(set) = read_zset(tx, argv[1])? else {
        out.array(2);
        out.bulk(b"0");
        out.array(0);
        return Ok(());
    };
    let options = crate::families::keys::parse_scan_options(argv, 3, false)?;
    let compact = set.is_compact();
    let mut found: Vec<(Vec<u8>, f64)> = Vec::new();
    let mut next = cursor;
    let mut buckets = 0usize;
    let bucket_budget = options.count.saturating_mul(SCAN_BUCKETS_PER_ELEMENT);
    loop {
        next = set.scan(next, |m, s| found.push((m.to_vec(), s)));
        buckets += 1;
        if next == 0 || buckets >= bucket_budget || found.len() >= options.count {
            break;
        }
    }
    if let Some(pattern) = options.pattern {
        found.retain(|(m, _)| shoal_types::glob_match(pattern, m, false));
    }
    out.array(2);
    out.bulk(next.to_string().as_bytes());
    out.array(found.len() * 2);
    for (member, score) in found {
        out.bulk(&member);
        out.bulk(&scan_score_text(score, compact));
    }
    Ok(())
}

pub fn register(r: &mut Registrar) {
    r.keys("zadd", zadd);
    r.keys("zincrby", zincrby);
    r.keys("zrem", zrem);
    r.keys("zcard", zcard);
    r.keys("zscore", zscore);
    r.keys("zmscore", zmscore);
    r.keys("zrank", zrank);
    r.keys("zrevrank", zrevrank);
    r.keys("zscan", zscan);
}
