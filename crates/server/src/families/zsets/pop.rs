//! Removing and sampling: ZPOPMIN/ZPOPMAX, ZMPOP, the blocking BZPOPMIN,
//! BZPOPMAX and BZMPOP, and ZRANDMEMBER.

use std::collections::HashSet;
use std::time::Duration;

use shoal_engine::{events, Tx};
use shoal_resp::ReplyBuf;
use shoal_types::zset::ZSet;

use super::{after_change, parts, read_zset, reply_element, reply_elements_header, write_zset};
use crate::exec::{Ctx, Registrar};
use crate::error::{parse, CmdError, CmdResult};

/// A reply of random members larger than this closes the connection (as
/// Redis does when a client passes its output buffer limit) instead of
/// growing without bound.
const RANDOM_REPLY_MAX_BYTES: usize = 256 << 20;
/// How often (in elements) a long random reply checks its size.
const RANDOM_REPLY_CHECK_EVERY: u64 = 1024;
/// ZRANDMEMBER switches from sampling to shuffling when the set is less
/// than this many times larger than the count.
const SHUFFLE_FACTOR: usize = 3;

/// How a pop reply is laid out.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// ZPOPMIN/ZPOPMAX: member, score, ... (pairs nested in RESP3 with a count).
    Plain { nested: bool },
    /// BZPOPMIN/BZPOPMAX: key, member, score.
    WithKey,
    /// ZMPOP/BZMPOP: key, then [member, score] pairs.
    KeyAndPairs,
}

/// The first of `keys` holding a sorted set (WRONGTYPE stops the search).
fn first_existing<'k>(tx: &mut Tx<'_>, keys: &[&'k [u8]]) -> Result<Option<&'k [u8]>, CmdError> {
    for key in keys {
        if write_zset(tx, key)?.is_some() {
            return Ok(Some(key));
        }
    }
    Ok(None)
}

/// Pops up to `count` elements of the set at `key` (which exists) and
/// replies in `shape`. Returns how many were popped.
fn pop_and_reply(tx: &mut Tx<'_>, out: &mut ReplyBuf, key: &[u8], highest: bool, count: u64, shape: Shape) -> u64 {
    let set = match write_zset(tx, key) {
        Ok(Some(set)) => set,
        _ => unreachable!("the caller found a sorted set at the key"),
    };
    let n = count.min(set.len() as u64);
    let pair = |out: &mut ReplyBuf, member: &[u8], score: f64, nested: bool| {
        if nested {
            out.array(2);
        }
        out.bulk(member);
        out.double(score);
    };
    let nested = match shape {
        Shape::Plain { nested } => {
            out.array(if nested { n as usize } else { n as usize * 2 });
            nested
        }
        Shape::WithKey => {
            out.array(n as usize * 2 + 1);
            out.bulk(key);
            false
        }
        Shape::KeyAndPairs => {
            out.array(2);
            out.bulk(key);
            out.array(n as usize);
            true
        }
    };
    for _ in 0..n {
        if let Some((member, score)) = set.pop(highest) {
            pair(out, &member, score, nested);
        }
    }
    after_change(tx, key, if highest { events::ZPOPMAX } else { events::ZPOPMIN }, n);
    n
}

fn pop_command_name(highest: bool) -> Vec<u8> {
    if highest { b"ZPOPMAX" } else { b"ZPOPMIN" }.to_vec()
}

fn zpop_generic(ctx: &mut Ctx<'_>, argv: &[&[u8]], highest: bool) -> CmdResult {
    if argv.len() > 3 {
        return Err(CmdError::Syntax);
    }
    let count = match argv.get(2) {
        Some(arg) => {
            // Redis's getPositiveLongFromObjectOrReply: one message for
            // negative and non-integer counts alike.
            let count = parse::int(arg).map_err(|_| CmdError::NotPositive)?;
            if count < 0 {
                return Err(CmdError::NotPositive);
            }
            Some(count as u64)
        }
        None => None,
    };
    let nested = ctx.out.resp3() && count.is_some();
    let (tx, out) = parts(ctx);
    let Some(key) = first_existing(tx, &argv[1..2])? else {
        out.array(0);
        return Ok(());
    };
    if count == Some(0) {
        out.array(0);
        return Ok(());
    }
    pop_and_reply(tx, out, key, highest, count.unwrap_or(1), Shape::Plain { nested });
    Ok(())
}

fn zpopmin(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    zpop_generic(ctx, argv, false)
}

fn zpopmax(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    zpop_generic(ctx, argv, true)
}

/// A parsed `numkeys key... MIN|MAX [COUNT count]`.
struct MultiPop<'a> {
    keys: Vec<&'a [u8]>,
    highest: bool,
    count: u64,
}

/// Parses ZMPOP's arguments starting at its numkeys argument.
fn parse_multi_pop<'a>(argv: &[&'a [u8]], numkeys_index: usize) -> Result<MultiPop<'a>, CmdError> {
    let numkeys = parse::at_least_one(argv[numkeys_index], CmdError::NUMKEYS_NOT_POSITIVE)?;
    let where_index = usize::try_from(numkeys)
        .ok()
        .and_then(|n| n.checked_add(numkeys_index + 1))
        .filter(|i| *i < argv.len())
        .ok_or(CmdError::Syntax)?;
    let highest = match argv[where_index] {
        w if parse::is(w, "min") => false,
        w if parse::is(w, "max") => true,
        _ => return Err(CmdError::Syntax),
    };
    let mut count = None;
    let mut j = where_index + 1;
    while j < argv.len() {
        if count.is_none() && parse::is(argv[j], "count") && j + 1 < argv.len() {
            let value = parse::at_least_one(argv[j + 1], CmdError::COUNT_NOT_POSITIVE)?;
            count = Some(value as u64);
            j += 2;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let keys = argv[numkeys_index + 1..where_index].to_vec();
    Ok(MultiPop { keys, highest, count: count.unwrap_or(1) })
}

/// Propagates a pop as ZPOPMIN/ZPOPMAX `key` [`count`].
fn propagate_pop(ctx: &mut Ctx<'_>, key: &[u8], highest: bool, count: Option<u64>) {
    let mut command = vec![pop_command_name(highest), key.to_vec()];
    if let Some(count) = count {
        command.push(count.to_string().into_bytes());
    }
    ctx.propagate_as(vec![command]);
}

fn zmpop(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let request = parse_multi_pop(argv, 1)?;
    let (tx, out) = parts(ctx);
    let Some(key) = first_existing(tx, &request.keys)? else {
        out.null_array();
        return Ok(());
    };
    let popped = pop_and_reply(tx, out, key, request.highest, request.count, Shape::KeyAndPairs);
    propagate_pop(ctx, key, request.highest, Some(popped));
    Ok(())
}

/// A blocking timeout in seconds (decimals allowed), as Redis checks it
/// (the lists' rules). None means wait forever.
pub(crate) fn parse_timeout(arg: &[u8]) -> Result<Option<Duration>, CmdError> {
    crate::families::lists::parse_timeout(arg)
}

/// Shared body of the blocking pops: serve from the first non-empty set,
/// otherwise block (or reply null inside MULTI).
fn blocking_pop(
    ctx: &mut Ctx<'_>,
    keys: &[&[u8]],
    timeout: Option<Duration>,
    highest: bool,
    count: Option<u64>,
) -> CmdResult {
    let shape = if count.is_some() { Shape::KeyAndPairs } else { Shape::WithKey };
    // A waiter being served takes from the key that became ready only, and
    // only if it holds a sorted set then, as in Redis.
    let ready = ctx.serving_key.clone().filter(|_| ctx.serving_blocked);
    let (tx, out) = parts(ctx);
    let found = match &ready {
        Some(ready) => {
            let key = keys.iter().copied().find(|k| *k == ready.as_slice());
            key.filter(|k| matches!(write_zset(tx, k), Ok(Some(_))))
        }
        None => first_existing(tx, keys)?,
    };
    if let Some(key) = found {
        let popped = pop_and_reply(tx, out, key, highest, count.unwrap_or(1), shape);
        propagate_pop(ctx, key, highest, count.map(|_| popped));
        return Ok(());
    }
    if !ctx.can_block() {
        ctx.out.null_array();
        return Ok(());
    }
    let mut unique: Vec<Vec<u8>> = Vec::with_capacity(keys.len());
    for key in keys {
        if !unique.iter().any(|k| k == key) {
            unique.push(key.to_vec());
        }
    }
    ctx.block_on(unique, timeout, None);
    Ok(())
}

fn bzpop_generic(ctx: &mut Ctx<'_>, argv: &[&[u8]], highest: bool) -> CmdResult {
    let timeout = parse_timeout(argv[argv.len() - 1])?;
    blocking_pop(ctx, &argv[1..argv.len() - 1], timeout, highest, None)
}

fn bzpopmin(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    bzpop_generic(ctx, argv, false)
}

fn bzpopmax(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    bzpop_generic(ctx, argv, true)
}

fn bzmpop(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let request = parse_multi_pop(argv, 2)?;
    let timeout = parse_timeout(argv[1])?;
    blocking_pop(ctx, &request.keys, timeout, request.highest, Some(request.count))
}

/// ZRANDMEMBER's count argument.
fn parse_random_count(argv: &[&[u8]]) -> Result<(i64, bool), CmdError> {
    let count = crate::families::sets::parse_sample_count(argv[2])?;
    let withscores = match argv.get(3) {
        None => false,
        Some(arg) if argv.len() == 4 && parse::is(arg, "withscores") => true,
        Some(_) => return Err(CmdError::Syntax),
    };
    if withscores && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&count) {
        return Err(CmdError::OutOfRange);
    }
    Ok((count, withscores))
}

fn zrandmember(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    if argv.len() >= 3 {
        let (count, withscores) = parse_random_count(argv)?;
        return random_with_count(ctx, argv[1], count, withscores);
    }
    let (tx, out) = parts(ctx);
    match read_zset(tx, argv[1])? {
        None => out.null(),
        Some(set) => match set.at_rank(rand::random_range(0..set.len())) {
            Some((member, _)) => out.bulk(member),
            None => out.null(),
        },
    }
    Ok(())
}

fn random_with_count(ctx: &mut Ctx<'_>, key: &[u8], count: i64, withscores: bool) -> CmdResult {
    let cap = reply_cap(ctx);
    let (tx, out) = parts(ctx);
    let Some(set) = read_zset(tx, key)? else {
        out.array(0);
        return Ok(());
    };
    if count == 0 {
        out.array(0);
        return Ok(());
    }
    let start = out.len();
    if count < 0 || count == 1 {
        if !random_with_repeats(set, out, count.unsigned_abs(), withscores, start + cap) {
            // The reply outgrew any sane size: drop it and the client.
            out.truncate(start);
            ctx.client.close_after_reply = true;
        }
        return Ok(());
    }
    let count = count as usize;
    let size = set.len();
    if count >= size {
        // The whole set, highest score first as Redis walks it.
        reply_elements_header(out, size, withscores);
        set.visit_ranks(0, size, true, |m, s| reply_element(out, m, s, withscores));
        return Ok(());
    }
    let ranks = distinct_ranks(size, count);
    reply_elements_header(out, ranks.len(), withscores);
    for rank in ranks {
        if let Some((member, score)) = set.at_rank(rank) {
            reply_element(out, member, score, withscores);
        }
    }
    Ok(())
}

/// The output size a random reply may reach.
fn reply_cap(ctx: &Ctx<'_>) -> usize {
    let hard = ctx.server.tunables.normal_output_limit.lock().hard_bytes as usize;
    if hard > 0 {
        hard.min(RANDOM_REPLY_MAX_BYTES)
    } else {
        RANDOM_REPLY_MAX_BYTES
    }
}

/// `count` random elements, repetitions allowed, streamed into the reply.
/// Returns false if the reply passed `max_len` bytes (it is then partial).
fn random_with_repeats(set: &ZSet, out: &mut ReplyBuf, count: u64, withscores: bool, max_len: usize) -> bool {
    let size = set.len();
    out.array(if withscores && !out.resp3() { count as usize * 2 } else { count as usize });
    // Small sets are walked once instead of once per pick.
    let compact: Option<Vec<(&[u8], f64)>> = set.is_compact().then(|| set.iter().collect());
    for i in 0..count {
        let rank = rand::random_range(0..size);
        let picked = match &compact {
            Some(all) => Some(all[rank]),
            None => set.at_rank(rank),
        };
        if let Some((member, score)) = picked {
            reply_element(out, member, score, withscores);
        }
        if i % RANDOM_REPLY_CHECK_EVERY == 0 && out.len() > max_len {
            return false;
        }
    }
    true
}

/// `count` distinct ranks below `size` (count < size), in random order.
fn distinct_ranks(size: usize, count: usize) -> Vec<usize> {
    if count.saturating_mul(SHUFFLE_FACTOR) > size {
        // Close to the whole set: shuffle the first `count` positions.
        let mut ranks: Vec<usize> = (0..size).collect();
        for i in 0..count {
            let j = rand::random_range(i..size);
            ranks.swap(i, j);
        }
        ranks.truncate(count);
        return ranks;
    }
    let mut seen = HashSet::with_capacity(count);
    let mut ranks = Vec::with_capacity(count);
    while ranks.len() < count {
        let rank = rand::random_range(0..size);
        if seen.insert(rank) {
            ranks.push(rank);
        }
    }
    ranks
}

pub fn register(r: &mut Registrar) {
    r.keys("zpopmin", zpopmin);
    r.keys("zpopmax", zpopmax);
    r.keys("zmpop", zmpop);
    r.keys("bzpopmin", bzpopmin);
    r.keys("bzpopmax", bzpopmax);
    r.keys("bzmpop", bzmpop);
    r.keys("zrandmember", zrandmember);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distinct_ranks_are_distinct_and_in_range() {
        for (size, count) in [(10, 9), (10, 2), (1000, 5), (3, 2)] {
            let ranks = distinct_ranks(size, count);
            assert_eq!(ranks.len(), count);
            assert_eq!(ranks.iter().collect::<HashSet<_>>().len(), count);
            assert!(ranks.iter().all(|r| *r < size));
        }
    }

    #[test]
    fn timeouts() {
        assert_eq!(parse_timeout(b"0").unwrap(), None);
        assert_eq!(parse_timeout(b"0.0011").unwrap(), Some(Duration::from_millis(2)));
        assert!(parse_timeout(b"-1").is_err());
        assert!(parse_timeout(b"abc").is_err());
    }
}
