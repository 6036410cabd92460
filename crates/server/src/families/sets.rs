//! Set commands: SADD/SREM/SMOVE, membership, SPOP/SRANDMEMBER, the
//! algebra (SINTER, SUNION, SDIFF and their STORE forms, SINTERCARD), SSCAN.
//!
//! Multi-key readers look every key up first (lazy expiry, statistics,
//! type errors in argument order, as Redis), then borrow all the sets at
//! once through `Tx::peek_in` and compute the result before writing
//! anything, so a destination that is also a source is handled naturally.

use shoal_engine::{events, Event, Lookup, Tx, NO_EXPIRE};
use shoal_resp::reply::Aggregate;
use shoal_resp::ReplyBuf;
use shoal_types::set::{Member, Set};
use shoal_types::{glob_match, Value};

use crate::exec::{Ctx, Registrar};
use crate::error::{parse, CmdError, CmdResult};
use crate::families::keys::{parse_cursor, parse_scan_options};
use crate::server::EncodingLimits;

/// SPOP rebuilds the set from the members that stay when fewer than one in
/// this many would remain (Redis's SPOP_MOVE_STRATEGY_MUL).
const SPOP_REBUILD_RATIO: usize = 5;
/// Smallest reply element ("$1\r\nx\r\n"), to refuse absurd counts early.
pub(crate) const MIN_BULK_REPLY_BYTES: u64 = 7;

/// set-max-intset-entries.
fn intset_limit(ctx: &Ctx<'_>) -> usize {
    EncodingLimits::get(&ctx.server.tunables.encodings.set_max_intset_entries).max(0) as usize
}

/// The largest reply a random-sampling command (SRANDMEMBER/HRANDFIELD with
/// a negative count) may build: proto-max-bulk-len. Redis streams such
/// replies until the client is dropped; Shoal builds a reply before sending
/// it, so a count asking for more is refused instead of exhausting memory.
pub(crate) fn sample_reply_budget(ctx: &Ctx<'_>) -> usize {
    ctx.server.tunables.proto_max_bulk_len.load(std::sync::atomic::Ordering::Relaxed).max(0) as usize
}

fn as_set(value: &Value) -> Result<&Set, CmdError> {
    match value {
        Value::Set(s) => Ok(s),
        _ => Err(CmdError::WrongType),
    }
}

fn as_set_mut(value: &mut Value) -> Result<&mut Set, CmdError> {
    match value {
        Value::Set(s) => Ok(s),
        _ => Err(CmdError::WrongType),
    }
}

/// The set at `key` for reading: None if absent, an error if not a set.
fn read_set<'t>(tx: &'t mut Tx<'_>, key: &[u8]) -> Result<Option<&'t Set>, CmdError> {
    match tx.lookup(key, Lookup::READ) {
        None => Ok(None),
        Some(entry) => as_set(entry.value()).map(Some),
    }
}

/// The set at `key` for modification.
fn write_set<'t>(tx: &'t mut Tx<'_>, key: &[u8]) -> Result<Option<&'t mut Set>, CmdError> {
    match tx.lookup_mut(key, Lookup::WRITE) {
        None => Ok(None),
        Some(entry) => as_set_mut(entry.value_mut()).map(Some),
    }
}

/// A set already looked up in this unit, borrowed shared.
fn peek_set<'t>(tx: &'t Tx<'_>, key: &[u8]) -> Option<&'t Set> {
    match tx.peek_in(tx.db, key).map(|e| e.value()) {
        Some(Value::Set(s)) => Some(s),
        _ => None,
    }
}

pub(crate) fn reply_member(out: &mut ReplyBuf, member: Member<'_>) {
    match member {
        Member::Int(v) => out.bulk_i64(v),
        Member::Bytes(b) => out.bulk(b),
    }
}

fn sadd(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let max_intset = intset_limit(ctx);
    let key = argv[1];
    let tx = ctx.tx();
    let added = match write_set(tx, key)? {
        Some(set) => argv[2..].iter().filter(|m| set.insert(m, max_intset)).count(),
        None => {
            let mut set = Set::for_member(argv[2]);
            let added = argv[2..].iter().filter(|m| set.insert(m, max_intset)).count();
            let db = tx.db;
            tx.insert_in(db, key, Value::Set(set), NO_EXPIRE);
            added
        }
    };
    if added > 0 {
        tx.changed(key, events::SADD, added as u64);
    }
    ctx.out.int(added as i64);
    Ok(())
}

fn srem(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let key = argv[1];
    let tx = ctx.tx();
    let Some(set) = write_set(tx, key)? else {
        ctx.out.int(0);
        return Ok(());
    };
    let mut removed = 0;
    for member in &argv[2..] {
        if set.remove(member) {
            removed += 1;
            if set.is_empty() {
                break;
            }
        }
    }
    let emptied = set.is_empty();
    if removed > 0 {
        tx.changed(key, events::SREM, removed);
    }
    if emptied {
        tx.delete_emptied(key);
    }
    ctx.out.int(removed as i64);
    Ok(())
}

fn smove(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let (source, destination, member) = (argv[1], argv[2], argv[3]);
    let max_intset = intset_limit(ctx);
    let tx = ctx.tx();
    let db = tx.db;
    let source_type_ok = tx.lookup(source, Lookup::WRITE).map(|e| matches!(e.value(), Value::Set(_)));
    let destination_type_ok = tx.lookup(destination, Lookup::WRITE).map(|e| matches!(e.value(), Value::Set(_)));
    match (source_type_ok, destination_type_ok) {
        (None, _) => {
            ctx.out.int(0);
            return Ok(());
        }
        (Some(false), _) | (_, Some(false)) => return Err(CmdError::WrongType),
        _ => {}
    }
    if source == destination {
        let present = write_set(tx, source)?.is_some_and(|s| s.contains(member));
        ctx.out.int(present as i64);
        return Ok(());
    }
    let set = write_set(tx, source)?.expect("looked up above");
    if !set.remove(member) {
        ctx.out.int(0);
        return Ok(());
    }
    let emptied = set.is_empty();
    tx.changed(source, events::SREM, 1);
    if emptied {
        tx.delete_emptied(source);
    }
    let added = match write_set(tx, destination)? {
        Some(set) => set.insert(member, max_intset),
        None => {
            let mut set = Set::for_member(member);
            set.insert(member, max_intset);
            tx.insert_in(db, destination, Value::Set(set), NO_EXPIRE);
            true
        }
    };
    if added {
        tx.changed(destination, events::SADD, 1);
    }
    ctx.out.int(1);
    Ok(())
}

fn sismember(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let present = read_set(ctx.tx(), argv[1])?.is_some_and(|s| s.contains(argv[2]));
    ctx.out.int(present as i64);
    Ok(())
}

fn smismember(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let tx = ctx.tx.as_mut().expect("locked");
    let set = read_set(tx, argv[1])?;
    ctx.out.array(argv.len() - 2);
    for member in &argv[2..] {
        ctx.out.int(set.is_some_and(|s| s.contains(member)) as i64);
    }
    Ok(())
}

fn scard(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let len = read_set(ctx.tx(), argv[1])?.map_or(0, |s| s.len());
    ctx.out.int(len as i64);
    Ok(())
}

fn spop(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    match argv.len() {
        2 => spop_one(ctx, argv[1]),
        3 => {
            let count = parse::int(argv[2]).ok().filter(|c| *c >= 0).ok_or(CmdError::NotPositive)?;
            spop_count(ctx, argv[1], count as u64)
        }
        _ => Err(CmdError::Syntax),
    }
}

fn spop_one(ctx: &mut Ctx<'_>, key: &[u8]) -> CmdResult {
    let tx = ctx.tx.as_mut().expect("locked");
    let Some(set) = write_set(tx, key)? else {
        ctx.out.null();
        return Ok(());
    };
    let member = set.pop_random(&mut rand::rng());
    let emptied = set.is_empty();
    tx.changed(key, events::SPOP, 1);
    if emptied {
        tx.delete_emptied(key);
    }
    ctx.out.bulk(&member);
    ctx.propagate_as(vec![vec![b"SREM".to_vec(), key.to_vec(), member]]);
    Ok(())
}

fn spop_count(ctx: &mut Ctx<'_>, key: &[u8], count: u64) -> CmdResult {
    let max_intset = intset_limit(ctx);
    let tx = ctx.tx.as_mut().expect("locked");
    let Some(set) = write_set(tx, key)? else {
        ctx.out.set(0);
        return Ok(());
    };
    if count == 0 {
        ctx.out.set(0);
        return Ok(());
    }
    let size = set.len();
    if count >= size as u64 {
        // Everything goes: reply with the whole set and delete the key.
        ctx.out.set(size);
        set.iter().for_each(|m| reply_member(ctx.out, m));
        tx.changed(key, events::SPOP, size as u64);
        tx.delete_emptied(key);
        ctx.propagate_as(vec![vec![b"DEL".to_vec(), key.to_vec()]]);
        return Ok(());
    }
    let count = count as usize;
    let mut rng = rand::rng();
    let mut popped: Vec<Vec<u8>> = Vec::with_capacity(count);
    let remaining = size - count;
    if remaining * SPOP_REBUILD_RATIO > count {
        for _ in 0..count {
            popped.push(set.pop_random(&mut rng));
        }
    } else {
        // Most of the set goes: move the few that stay into a new set and
        // hand out what is left of the old one.
        let mut kept: Option<Set> = None;
        for _ in 0..remaining {
            let member = set.pop_random(&mut rng);
            kept.get_or_insert_with(|| Set::for_member(&member)).insert(&member, max_intset);
        }
        popped.extend(set.iter().map(Member::to_vec));
        *set = kept.expect("at least one member stays");
    }
    ctx.out.set(popped.len());
    for member in &popped {
        ctx.out.bulk(member);
    }
    tx.changed(key, events::SPOP, count as u64);
    let srems = popped.into_iter().map(|m| vec![b"SREM".to_vec(), key.to_vec(), m]).collect();
    ctx.propagate_as(srems);
    Ok(())
}

fn srandmember(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    match argv.len() {
        2 => {
            let tx = ctx.tx.as_mut().expect("locked");
            match read_set(tx, argv[1])? {
                None => ctx.out.null(),
                Some(set) => reply_member(ctx.out, set.random_member(&mut rand::rng())),
            }
            Ok(())
        }
        3 => {
            let count = parse_sample_count(argv[2])?;
            srandmember_count(ctx, argv[1], count)
        }
        _ => Err(CmdError::Syntax),
    }
}

/// A count for SRANDMEMBER/HRANDFIELD/ZRANDMEMBER: any long but LONG_MIN.
pub(crate) fn parse_sample_count(arg: &[u8]) -> Result<i64, CmdError> {
    let count = parse::int(arg)?;
    if count == i64::MIN {
        return Err(CmdError::not_between(-i64::MAX, i64::MAX));
    }
    Ok(count)
}

fn srandmember_count(ctx: &mut Ctx<'_>, key: &[u8], count: i64) -> CmdResult {
    let budget = sample_reply_budget(ctx);
    let tx = ctx.tx.as_mut().expect("locked");
    let Some(set) = read_set(tx, key)? else {
        ctx.out.array(0);
        return Ok(());
    };
    let (wanted, distinct) = (count.unsigned_abs(), count >= 0);
    if wanted == 0 {
        ctx.out.array(0);
        return Ok(());
    }
    let mut rng = rand::rng();
    if !distinct || wanted == 1 {
        if wanted.saturating_mul(MIN_BULK_REPLY_BYTES) > budget as u64 {
            return Err(CmdError::SAMPLE_TOO_LARGE);
        }
        let start = ctx.out.len();
        ctx.out.array(wanted as usize);
        let out = &mut *ctx.out;
        set.sample(wanted, &mut rng, |m| {
            reply_member(out, m);
            out.len() - start <= budget
        });
        if ctx.out.len() - start > budget {
            ctx.out.truncate(start);
            return Err(CmdError::SAMPLE_TOO_LARGE);
        }
        return Ok(());
    }
    if wanted >= set.len() as u64 {
        ctx.out.array(set.len());
        set.iter().for_each(|m| reply_member(ctx.out, m));
        return Ok(());
    }
    let picked = set.distinct_sample(wanted as usize, &mut rng);
    ctx.out.array(picked.len());
    picked.into_iter().for_each(|m| reply_member(ctx.out, m));
    Ok(())
}

/// What SINTER-like commands produce.
#[derive(Clone, Copy)]
enum Output<'a> {
    /// Reply with the members.
    Members,
    /// Reply with the count, stopping at `limit` (0: no limit).
    Cardinality(u64),
    /// Store in this key and reply with the count.
    Store(&'a [u8]),
}

/// Looks every key up in order: None for a missing key, an error at the
/// first one that is not a set.
fn look_up_sets(tx: &mut Tx<'_>, keys: &[&[u8]]) -> Result<Vec<bool>, CmdError> {
    let mut present = Vec::with_capacity(keys.len());
    for key in keys {
        present.push(read_set(tx, key)?.is_some());
    }
    Ok(present)
}

/// Replaces `destination` with `result` (or deletes it when empty) and
/// replies with the result's size; `event` names the store.
fn store_result(ctx: &mut Ctx<'_>, destination: &[u8], result: Set, event: Event) {
    let tx = ctx.tx.as_mut().expect("locked");
    let len = result.len();
    if len > 0 {
        tx.set(destination, Value::Set(result), false);
        tx.changed(destination, event, 1);
    } else if tx.delete_ignoring_expiry(destination) {
        tx.changed(destination, events::DEL, 1);
    }
    ctx.out.int(len as i64);
}

fn sinter(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    intersect(ctx, &argv[1..], Output::Members)
}

fn sinterstore(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    intersect(ctx, &argv[2..], Output::Store(argv[1]))
}

fn sintercard(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let numkeys = parse::at_least_one(argv[1], CmdError::NUMKEYS_NOT_POSITIVE)?;
    if numkeys > argv.len() as i64 - 2 {
        return Err(CmdError::err("Number of keys can't be greater than number of args"));
    }
    let first_option = 2 + numkeys as usize;
    let mut limit = 0u64;
    let mut j = first_option;
    while j < argv.len() {
        if parse::is(argv[j], "limit") && j + 1 < argv.len() {
            let value = parse::int(argv[j + 1]).ok().filter(|l| *l >= 0);
            limit = value.ok_or(CmdError::LIMIT_NEGATIVE)? as u64;
            j += 2;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    intersect(ctx, &argv[2..first_option], Output::Cardinality(limit))
}

/// SINTER, SINTERSTORE, SINTERCARD and SMEMBERS.
fn intersect(ctx: &mut Ctx<'_>, keys: &[&[u8]], output: Output<'_>) -> CmdResult {
    let max_intset = intset_limit(ctx);
    let tx = ctx.tx.as_mut().expect("locked");
    let present = look_up_sets(tx, keys)?;
    if present.contains(&false) {
        // Intersecting with an empty set.
        match output {
            Output::Members => ctx.out.set(0),
            Output::Cardinality(_) => ctx.out.int(0),
            Output::Store(destination) => store_result(ctx, destination, Set::new_intset(), events::SINTERSTORE),
        }
        return Ok(());
    }
    let tx = ctx.tx.as_ref().expect("locked");
    let mut sets: Vec<(&[u8], &Set)> =
        keys.iter().map(|k| (*k, peek_set(tx, k).expect("looked up above"))).collect();
    sets.sort_by_key(|(_, s)| s.len());
    let (first_key, first) = sets[0];
    let others: Vec<&Set> = sets[1..].iter().filter(|(k, _)| *k != first_key).map(|(_, s)| *s).collect();
    let common = first.iter().filter(|m| others.iter().all(|s| s.contains_member(*m)));
    match output {
        Output::Members => {
            let deferred = ctx.out.begin_deferred(Aggregate::Set);
            let mut n = 0;
            for m in common {
                reply_member(ctx.out, m);
                n += 1;
            }
            ctx.out.finish_deferred(deferred, n);
        }
        Output::Cardinality(limit) => {
            let mut n = 0u64;
            for _ in common {
                n += 1;
                if limit > 0 && n >= limit {
                    break;
                }
            }
            ctx.out.int(n as i64);
        }
        Output::Store(destination) => {
            let mut result = Set::new_intset();
            for m in common {
                result.insert_member(m, max_intset);
            }
            store_result(ctx, destination, result, events::SINTERSTORE);
        }
    }
    Ok(())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Algebra {
    Union,
    Difference,
}

fn sunion(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    union_or_difference(ctx, &argv[1..], None, Algebra::Union)
}

fn sunionstore(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    union_or_difference(ctx, &argv[2..], Some(argv[1]), Algebra::Union)
}

fn sdiff(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    union_or_difference(ctx, &argv[1..], None, Algebra::Difference)
}

fn sdiffstore(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    union_or_difference(ctx, &argv[2..], Some(argv[1]), Algebra::Difference)
}

/// SUNION, SDIFF and their STORE forms. The result is built in a new set
/// that starts as an intset, so it has the encoding Redis would give it.
fn union_or_difference(ctx: &mut Ctx<'_>, keys: &[&[u8]], destination: Option<&[u8]>, op: Algebra) -> CmdResult {
    let max_intset = intset_limit(ctx);
    let tx = ctx.tx.as_mut().expect("locked");
    look_up_sets(tx, keys)?;
    let tx = ctx.tx.as_ref().expect("locked");
    let sets: Vec<(&[u8], Option<&Set>)> = keys.iter().map(|k| (*k, peek_set(tx, k))).collect();
    let mut result = Set::new_intset();
    match op {
        Algebra::Union => {
            for set in sets.iter().filter_map(|(_, s)| *s) {
                set.iter().for_each(|m| {
                    result.insert_member(m, max_intset);
                });
            }
        }
        Algebra::Difference => difference(&sets, &mut result, max_intset),
    }
    match destination {
        None => {
            ctx.out.set(result.len());
            result.iter().for_each(|m| reply_member(ctx.out, m));
        }
        Some(destination) => {
            let event = match op {
                Algebra::Union => events::SUNIONSTORE,
                Algebra::Difference => events::SDIFFSTORE,
            };
            store_result(ctx, destination, result, event)
        }
    }
    Ok(())
}

/// The members of the first set found in none of the others, with
/// Redis's choice between its two algorithms (which decides the result's
/// encoding when the first set is large).
fn difference(sets: &[(&[u8], Option<&Set>)], result: &mut Set, max_intset: usize) {
    let (first_key, Some(first)) = sets[0] else { return };
    if sets[1..].iter().any(|(k, s)| s.is_some() && *k == first_key) {
        // Subtracting the set from itself.
        return;
    }
    let size = |s: &Option<&Set>| s.map_or(0, |s| s.len());
    let existing = sets.iter().filter(|(_, s)| s.is_some()).count();
    let per_member_work = (first.len() * existing) / 2;
    let total_work: usize = sets.iter().map(|(_, s)| size(s)).sum();
    if per_member_work <= total_work {
        // Check each member of the first set against the others, largest
        // first (more likely to find it early).
        let mut others: Vec<&Set> = sets[1..].iter().filter_map(|(_, s)| *s).collect();
        others.sort_by_key(|s| std::cmp::Reverse(s.len()));
        for m in first.iter() {
            if !others.iter().any(|s| s.contains_member(m)) {
                result.insert_member(m, max_intset);
            }
        }
    } else {
        // Copy the first set, then remove everything the others hold.
        first.iter().for_each(|m| {
            result.insert_member(m, max_intset);
        });
        for set in sets[1..].iter().filter_map(|(_, s)| *s) {
            if result.is_empty() {
                break;
            }
            set.iter().for_each(|m| {
                m.with_bytes(|b| result.remove(b));
            });
        }
    }
}

fn smembers(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let tx = ctx.tx.as_mut().expect("locked");
    match read_set(tx, argv[1])? {
        None => ctx.out.set(0),
        Some(set) => {
            ctx.out.set(set.len());
            set.iter().for_each(|m| reply_member(ctx.out, m));
        }
    }
    Ok(())
}

/// The empty SCAN reply: cursor 0, no elements.
pub(crate) fn empty_scan(out: &mut ReplyBuf) {
    out.array(2);
    out.bulk(b"0");
    out.array(0);
}

fn sscan(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let cursor = parse_cursor(argv[2])?;
    let tx = ctx.tx.as_mut().expect("locked");
    let Some(set) = read_set(tx, argv[1])? else {
        empty_scan(ctx.out);
        return Ok(());
    };
    let options = parse_scan_options(argv, 3, false)?;
    let mut found: Vec<Vec<u8>> = Vec::new();
    let next = if set.scans_incrementally() {
        let mut cursor = cursor;
        let mut steps_left = options.count.saturating_mul(10);
        loop {
            cursor = set.scan(cursor, |m| found.push(m.to_vec()));
            if cursor == 0 || steps_left == 0 || found.len() >= options.count {
                break cursor;
            }
            steps_left -= 1;
        }
    } else {
        set.scan(0, |m| found.push(m.to_vec()))
    };
    if let Some(pattern) = options.pattern {
        found.retain(|m| glob_match(pattern, m, false));
    }
    ctx.out.array(2);
    ctx.out.bulk(next.to_string().as_bytes());
    ctx.out.array(found.len());
    for m in &found {
        ctx.out.bulk(m);
    }
    Ok(())
}

/// The members of the set at `key` (SORT's input). Ok(None) when the key
/// is missing; WRONGTYPE when it is not a set.
pub fn set_members(tx: &mut Tx<'_>, key: &[u8]) -> Result<Option<Vec<Vec<u8>>>, CmdError> {
    Ok(read_set(tx, key)?.map(|s| s.iter().map(Member::to_vec).collect()))
}

pub fn register(r: &mut Registrar) {
    r.keys("sadd", sadd);
    r.keys("srem", srem);
    r.keys("smove", smove);
    r.keys("sismember", sismember);
    r.keys("smismember", smismember);
    r.keys("scard", scard);
    r.keys("smembers", smembers);
    r.keys("spop", spop);
    r.keys("srandmember", srandmember);
    r.keys("sinter", sinter);
    r.keys("sinterstore", sinterstore);
    r.keys("sintercard", sintercard);
    r.keys("sunion", sunion);
    r.keys("sunionstore", sunionstore);
    r.keys("sdiff", sdiff);
    r.keys("sdiffstore", sdiffstore);
    r.keys("sscan", sscan);
}
