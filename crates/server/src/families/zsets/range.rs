//! Range queries: ZRANGE and its legacy forms, ZRANGESTORE, ZCOUNT,
//! ZLEXCOUNT and the ZREMRANGEBY* commands.
//!
//! Every query is turned into an interval of ascending ranks `[lo, hi)`
//! plus a direction: score and lexicographic ranges select a contiguous
//! run of ranks, and LIMIT offset/count then narrow that run, which gives
//! exactly Redis's results (including its treatment of negative offsets
//! and counts).

use shoal_engine::events;
use shoal_types::zset::{LexBound, LexRange, ScoreRange, ZSet};

use super::{after_change, parts, read_zset, reply_element, reply_elements_header, store_result, write_zset};
use crate::exec::{Ctx, Registrar};
use crate::error::{parse, CmdError, CmdResult};

#[derive(Clone, Copy, PartialEq, Eq)]
enum By {
    Rank,
    Score,
    Lex,
}

/// A parsed range query.
struct Query<'a> {
    key: &'a [u8],
    reverse: bool,
    withscores: bool,
    offset: i64,
    /// -1: no LIMIT (Redis treats any negative count as unlimited).
    limit: i64,
    bounds: Bounds,
}

/// The range itself.
enum Bounds {
    Rank(i64, i64),
    Score(ScoreRange),
    Lex(LexRange),
}

/// C `strtod` over the whole of `text`: Redis parses range ends this way
/// (leading spaces allowed, anything left over rejected, NaN rejected).
fn strtod_whole(text: &[u8]) -> Option<f64> {
    let mut buf = Vec::with_capacity(text.len() + 1);
    buf.extend_from_slice(text);
    buf.push(0);
    let mut end: *mut libc::c_char = std::ptr::null_mut();
    // SAFETY: `buf` is NUL-terminated and outlives the call; `end` points into it.
    let (value, consumed) = unsafe {
        let v = libc::strtod(buf.as_ptr() as *const libc::c_char, &mut end);
        (v, end.offset_from(buf.as_ptr() as *const libc::c_char) as usize)
    };
    (consumed == text.len() && !value.is_nan()).then_some(value)
}

/// One end of a score range: Redis reads the argument as a C string (up
/// to its first NUL byte); a leading `(` makes the end exclusive.
fn parse_score_bound(arg: &[u8]) -> Option<(f64, bool)> {
    let text = &arg[..arg.iter().position(|&b| b == 0).unwrap_or(arg.len())];
    match text.split_first() {
        Some((b'(', rest)) => strtod_whole(rest).map(|v| (v, true)),
        _ => strtod_whole(text).map(|v| (v, false)),
    }
}

pub(crate) fn parse_score_range(min: &[u8], max: &[u8]) -> Result<ScoreRange, CmdError> {
    let (min, min_exclusive) = parse_score_bound(min).ok_or(CmdError::MIN_MAX_NOT_FLOAT)?;
    let (max, max_exclusive) = parse_score_bound(max).ok_or(CmdError::MIN_MAX_NOT_FLOAT)?;
    Ok(ScoreRange { min, max, min_exclusive, max_exclusive })
}

/// One end of a lexicographic range: `-`, `+`, `[member` or `(member`.
fn parse_lex_bound(arg: &[u8]) -> Option<LexBound> {
    // `+` and `-` must stand alone (Redis tolerates a NUL after them).
    let alone = arg.get(1).is_none_or(|&b| b == 0);
    match arg.split_first() {
        Some((b'+', _)) if alone => Some(LexBound::Highest),
        Some((b'-', _)) if alone => Some(LexBound::Lowest),
        Some((b'(', rest)) => Some(LexBound::Exclusive(rest.to_vec())),
        Some((b'[', rest)) => Some(LexBound::Inclusive(rest.to_vec())),
        _ => None,
    }
}

fn parse_lex_range(min: &[u8], max: &[u8]) -> Result<LexRange, CmdError> {
    let bound = |arg| parse_lex_bound(arg).ok_or(CmdError::MIN_MAX_NOT_LEX_RANGE);
    Ok(LexRange { min: bound(min)?, max: bound(max)? })
}

/// Parses `<key> <min> <max> [options]` starting at `key_index`. `by` and
/// `reverse` are fixed by the legacy commands; each may be given once as
/// an option otherwise. `store` (ZRANGESTORE) refuses WITHSCORES.
fn parse_query<'a>(
    argv: &[&'a [u8]],
    key_index: usize,
    store: bool,
    by: Option<By>,
    reverse: Option<bool>,
) -> Result<Query<'a>, CmdError> {
    let (mut by_opt, mut reverse_opt) = (by, reverse);
    let (mut withscores, mut offset, mut limit) = (false, 0i64, -1i64);
    let mut j = key_index + 3;
    while j < argv.len() {
        let arg = argv[j];
        let left = argv.len() - j - 1;
        if !store && parse::is(arg, "withscores") {
            withscores = true;
        } else if parse::is(arg, "limit") && left >= 2 {
            offset = parse::int(argv[j + 1])?;
            limit = parse::int(argv[j + 2])?;
            j += 2;
        } else if reverse_opt.is_none() && parse::is(arg, "rev") {
            reverse_opt = Some(true);
        } else if by_opt.is_none() && parse::is(arg, "bylex") {
            by_opt = Some(By::Lex);
        } else if by_opt.is_none() && parse::is(arg, "byscore") {
            by_opt = Some(By::Score);
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    let by = by_opt.unwrap_or(By::Rank);
    let reverse = reverse_opt.unwrap_or(false);
    if limit != -1 && by == By::Rank {
        return Err(CmdError::err("syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX"));
    }
    if withscores && by == By::Lex {
        return Err(CmdError::err("syntax error, WITHSCORES not supported in combination with BYLEX"));
    }
    let (mut min, mut max) = (argv[key_index + 1], argv[key_index + 2]);
    if reverse && by != By::Rank {
        // Reverse score and lex ranges are written max first.
        std::mem::swap(&mut min, &mut max);
    }
    let bounds = match by {
        By::Rank => Bounds::Rank(parse::int(min)?, parse::int(max)?),
        By::Score => Bounds::Score(parse_score_range(min, max)?),
        By::Lex => Bounds::Lex(parse_lex_range(min, max)?),
    };
    Ok(Query { key: argv[key_index], reverse, withscores, offset, limit, bounds })
}

/// Ascending ranks `[lo, hi)` of the elements a ZRANGE-style `start stop`
/// pair selects (negative indexes count from the end).
fn rank_window(len: usize, start: i64, end: i64) -> (usize, usize) {
    let len = len as i64;
    let mut start = if start < 0 { start + len } else { start };
    let mut end = if end < 0 { end + len } else { end };
    start = start.max(0);
    if start > end || start >= len {
        return (0, 0);
    }
    end = end.min(len - 1);
    (start as usize, (end + 1) as usize)
}

/// Applies LIMIT to the run of ranks `[lo, hi)`, from its top when
/// `reverse`.
fn limit_window((lo, hi): (usize, usize), offset: i64, limit: i64, reverse: bool) -> (usize, usize) {
    let available = hi - lo;
    if offset < 0 || offset as u64 >= available as u64 {
        return (0, 0);
    }
    let offset = offset as usize;
    let remaining = available - offset;
    let take = if limit < 0 { remaining } else { remaining.min(usize::try_from(limit).unwrap_or(usize::MAX)) };
    if reverse {
        (hi - offset - take, hi - offset)
    } else {
        (lo + offset, lo + offset + take)
    }
}

/// The ascending ranks `[lo, hi)` a query selects in `set`.
fn select(set: &ZSet, query: &Query<'_>) -> (usize, usize) {
    match &query.bounds {
        Bounds::Rank(start, end) => {
            let (lo, hi) = rank_window(set.len(), *start, *end);
            if query.reverse && hi > lo {
                // Reverse ranks count from the highest score.
                (set.len() - hi, set.len() - lo)
            } else {
                (lo, hi)
            }
        }
        Bounds::Score(range) => limit_window(set.score_span(range), query.offset, query.limit, query.reverse),
        Bounds::Lex(range) => set
            .compact_lex_window(range, query.offset, query.limit, query.reverse)
            .unwrap_or_else(|| limit_window(set.lex_span(range), query.offset, query.limit, query.reverse)),
    }
}

/// The ascending ranks `[lo, hi)` of the members in a lex range, walked as
/// Redis walks them (ZLEXCOUNT, ZREMRANGEBYLEX).
fn lex_run(set: &ZSet, range: &LexRange) -> (usize, usize) {
    set.compact_lex_window(range, 0, -1, false).unwrap_or_else(|| set.lex_span(range))
}

/// Runs a parsed query and replies with the elements.
fn reply_range(ctx: &mut Ctx<'_>, query: &Query<'_>) -> CmdResult {
    let (tx, out) = parts(ctx);
    let Some(set) = read_zset(tx, query.key)? else {
        out.array(0);
        return Ok(());
    };
    let (lo, hi) = select(set, query);
    let withscores = query.withscores;
    reply_elements_header(out, hi - lo, withscores);
    set.visit_ranks(lo, hi, query.reverse, |m, s| reply_element(out, m, s, withscores));
    Ok(())
}

fn zrange(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let query = parse_query(argv, 1, false, None, None)?;
    reply_range(ctx, &query)
}

fn zrevrange(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let query = parse_query(argv, 1, false, Some(By::Rank), Some(true))?;
    reply_range(ctx, &query)
}

fn zrangebyscore(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let query = parse_query(argv, 1, false, Some(By::Score), Some(false))?;
    reply_range(ctx, &query)
}

fn zrevrangebyscore(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let query = parse_query(argv, 1, false, Some(By::Score), Some(true))?;
    reply_range(ctx, &query)
}

fn zrangebylex(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let query = parse_query(argv, 1, false, Some(By::Lex), Some(false))?;
    reply_range(ctx, &query)
}

fn zrevrangebylex(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let query = parse_query(argv, 1, false, Some(By::Lex), Some(true))?;
    reply_range(ctx, &query)
}

fn zrangestore(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let query = parse_query(argv, 2, true, None, None)?;
    let limits = super::limits(ctx);
    let (tx, _) = parts(ctx);
    let mut picked: Vec<(Vec<u8>, f64)> = Vec::new();
    if let Some(set) = read_zset(tx, query.key)? {
        let (lo, hi) = select(set, &query);
        picked.reserve(hi - lo);
        set.visit_ranks(lo, hi, query.reverse, |m, s| picked.push((m.to_vec(), s)));
    }
    // A lex range over unequal scores selects what the walk finds, and a
    // Redis replica's walk of its own skip list finds other members: the
    // result itself is propagated (Redis 7.0 sends the command as is).
    let rewrite = matches!(query.bounds, Bounds::Lex(_)) && ctx.propagating();
    let stored = rewrite.then(|| zadd_of(argv[1], &picked));
    store_result(ctx, argv[1], ZSet::from_unique(picked, limits), events::ZRANGESTORE, 1);
    if let Some(zadd) = stored {
        let mut commands = vec![vec![b"DEL".to_vec(), argv[1].to_vec()]];
        commands.extend(zadd);
        ctx.propagate_as(commands);
    }
    Ok(())
}

/// `ZADD key score member ...` recreating `members` (none if empty).
/// Scores are written in the shortest form that reads back exactly.
fn zadd_of(key: &[u8], members: &[(Vec<u8>, f64)]) -> Option<Vec<Vec<u8>>> {
    if members.is_empty() {
        return None;
    }
    let mut zadd = Vec::with_capacity(2 + members.len() * 2);
    zadd.push(b"ZADD".to_vec());
    zadd.push(key.to_vec());
    for (member, score) in members {
        zadd.push(score.to_string().into_bytes());
        zadd.push(member.clone());
    }
    Some(zadd)
}

fn zcount(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let range = parse_score_range(argv[2], argv[3])?;
    let (tx, out) = parts(ctx);
    let count = read_zset(tx, argv[1])?.map_or(0, |z| {
        let (lo, hi) = z.score_span(&range);
        hi - lo
    });
    out.int(count as i64);
    Ok(())
}

fn zlexcount(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let range = parse_lex_range(argv[2], argv[3])?;
    let (tx, out) = parts(ctx);
    let count = read_zset(tx, argv[1])?.map_or(0, |z| {
        let (lo, hi) = lex_run(z, &range);
        hi - lo
    });
    out.int(count as i64);
    Ok(())
}

/// ZREMRANGEBY*: removes the selected ranks and replies with the count.
fn remove_range(ctx: &mut Ctx<'_>, key: &[u8], bounds: Bounds) -> CmdResult {
    let propagating = ctx.propagating();
    let (tx, out) = parts(ctx);
    let Some(set) = write_zset(tx, key)? else {
        out.int(0);
        return Ok(());
    };
    let (lo, hi) = match &bounds {
        Bounds::Rank(start, end) => rank_window(set.len(), *start, *end),
        Bounds::Score(range) => set.score_span(range),
        Bounds::Lex(range) => lex_run(set, range),
    };
    // ZREMRANGEBYLEX over unequal scores removes what Shoal's walk finds,
    // which a Redis replica's walk need not find: replicas get the ZREM of
    // the members removed (Redis 7.0 sends the command as is).
    let mut zrem = None;
    if matches!(bounds, Bounds::Lex(_)) && hi > lo && propagating {
        let mut argv = vec![b"ZREM".to_vec(), key.to_vec()];
        set.visit_ranks(lo, hi, false, |m, _| argv.push(m.to_vec()));
        zrem = Some(argv);
    }
    let removed = set.remove_ranks(lo, hi);
    let event = match bounds {
        Bounds::Rank(..) => events::ZREMRANGEBYRANK,
        Bounds::Score(_) => events::ZREMRANGEBYSCORE,
        Bounds::Lex(_) => events::ZREMRANGEBYLEX,
    };
    after_change(tx, key, event, removed as u64);
    out.int(removed as i64);
    if let Some(zrem) = zrem {
        ctx.propagate_as(vec![zrem]);
    }
    Ok(())
}

fn zremrangebyrank(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let bounds = Bounds::Rank(parse::int(argv[2])?, parse::int(argv[3])?);
    remove_range(ctx, argv[1], bounds)
}

fn zremrangebyscore(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let bounds = Bounds::Score(parse_score_range(argv[2], argv[3])?);
    remove_range(ctx, argv[1], bounds)
}

fn zremrangebylex(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let bounds = Bounds::Lex(parse_lex_range(argv[2], argv[3])?);
    remove_range(ctx, argv[1], bounds)
}

pub fn register(r: &mut Registrar) {
    r.keys("zrange", zrange);
    r.keys("zrevrange", zrevrange);
    r.keys("zrangebyscore", zrangebyscore);
    r.keys("zrevrangebyscore", zrevrangebyscore);
    r.keys("zrangebylex", zrangebylex);
    r.keys("zrevrangebylex", zrevrangebylex);
    r.keys("zrangestore", zrangestore);
    r.keys("zcount", zcount);
    r.keys("zlexcount", zlexcount);
    r.keys("zremrangebyrank", zremrangebyrank);
    r.keys("zremrangebyscore", zremrangebyscore);
    r.keys("zremrangebylex", zremrangebylex);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn score_bounds_follow_strtod() {
        assert_eq!(parse_score_bound(b"1.5"), Some((1.5, false)));
        assert_eq!(parse_score_bound(b"(1"), Some((1.0, true)));
        assert_eq!(parse_score_bound(b" 2"), Some((2.0, false)));
        assert_eq!(parse_score_bound(b"-inf"), Some((f64::NEG_INFINITY, false)));
        assert_eq!(parse_score_bound(b"(+inf"), Some((f64::INFINITY, true)));
        assert_eq!(parse_score_bound(b""), Some((0.0, false)));
        assert_eq!(parse_score_bound(b"1\0junk"), Some((1.0, false)));
        assert_eq!(parse_score_bound(b"nan"), None);
        assert_eq!(parse_score_bound(b"1x"), None);
        assert_eq!(parse_score_bound(b"str"), None);
    }

    #[test]
    fn lex_bounds() {
        assert!(matches!(parse_lex_bound(b"+"), Some(LexBound::Highest)));
        assert!(matches!(parse_lex_bound(b"-"), Some(LexBound::Lowest)));
        assert!(parse_lex_bound(b"+a").is_none());
        assert!(parse_lex_bound(b"a").is_none());
        assert!(parse_lex_bound(b"").is_none());
        assert!(matches!(parse_lex_bound(b"(a"), Some(LexBound::Exclusive(v)) if v == b"a"));
        assert!(matches!(parse_lex_bound(b"["), Some(LexBound::Inclusive(v)) if v.is_empty()));
    }

    #[test]
    fn windows() {
        assert_eq!(rank_window(5, 0, -1), (0, 5));
        assert_eq!(rank_window(5, -2, -1), (3, 5));
        assert_eq!(rank_window(5, 3, 1), (0, 0));
        assert_eq!(rank_window(5, 7, 9), (0, 0));
        assert_eq!(rank_window(5, i64::MIN, i64::MAX), (0, 5));
        assert_eq!(limit_window((2, 8), 1, 2, false), (3, 5));
        assert_eq!(limit_window((2, 8), 1, 2, true), (5, 7));
        assert_eq!(limit_window((2, 8), 0, -5, false), (2, 8));
        assert_eq!(limit_window((2, 8), -1, 3, false), (0, 0));
        assert_eq!(limit_window((2, 8), 6, 3, false), (0, 0));
        assert_eq!(limit_window((2, 8), 5, i64::MAX, true), (2, 3));
    }
}
