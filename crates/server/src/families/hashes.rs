//! Hash commands: HSET and its variants, reads, counters (HINCRBY,
//! HINCRBYFLOAT), HRANDFIELD and HSCAN.

use shoal_engine::{events, Lookup, Tx, NO_EXPIRE};
use shoal_types::hash::{Hash, HashLimits};
use shoal_types::{glob_match, longdouble, Value};

use crate::exec::{Ctx, Registrar};
use crate::error::{parse, CmdError, CmdResult};
use crate::families::keys::{parse_cursor, parse_scan_options};
use crate::families::sets::{empty_scan, parse_sample_count, sample_reply_budget, MIN_BULK_REPLY_BYTES};
use crate::server::EncodingLimits;

/// hash-max-listpack-entries and hash-max-listpack-value.
fn limits(ctx: &Ctx<'_>) -> HashLimits {
    let encodings = &ctx.server.tunables.encodings;
    HashLimits {
        max_entries: EncodingLimits::get(&encodings.hash_max_listpack_entries).max(0) as usize,
        max_value: EncodingLimits::get(&encodings.hash_max_listpack_value).max(0) as usize,
    }
}

fn as_hash(value: &Value) -> Result<&Hash, CmdError> {
    match value {
        Value::Hash(h) => Ok(h),
        _ => Err(CmdError::WrongType),
    }
}

/// The hash at `key` for reading: None if absent, an error if not a hash.
fn read_hash<'t>(tx: &'t mut Tx<'_>, key: &[u8]) -> Result<Option<&'t Hash>, CmdError> {
    match tx.lookup(key, Lookup::READ) {
        None => Ok(None),
        Some(entry) => as_hash(entry.value()).map(Some),
    }
}

/// The hash at `key` for modification, created empty if missing (the
/// caller must write to it: empty hashes are never left in the keyspace).
fn hash_for_write<'t>(tx: &'t mut Tx<'_>, key: &[u8]) -> Result<&'t mut Hash, CmdError> {
    let db = tx.db;
    match tx.lookup(key, Lookup::WRITE) {
        Some(entry) if !matches!(entry.value(), Value::Hash(_)) => return Err(CmdError::WrongType),
        Some(_) => {}
        None => tx.insert_in(db, key, Value::Hash(Hash::new()), NO_EXPIRE),
    }
    match tx.lookup_mut(key, Lookup::QUIET).map(|e| e.value_mut()) {
        Some(Value::Hash(h)) => Ok(h),
        _ => unreachable!("hash present after creation"),
    }
}

/// The hash at `key` for modification, if present.
fn existing_hash<'t>(tx: &'t mut Tx<'_>, key: &[u8]) -> Result<Option<&'t mut Hash>, CmdError> {
    match tx.lookup_mut(key, Lookup::WRITE) {
        None => Ok(None),
        Some(entry) => match entry.value_mut() {
            Value::Hash(h) => Ok(Some(h)),
            _ => Err(CmdError::WrongType),
        },
    }
}

fn hset(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    if argv.len() % 2 == 1 {
        return Err(CmdError::wrong_arity(ctx.cmd.name));
    }
    let limits = limits(ctx);
    let key = argv[1];
    let tx = ctx.tx();
    let hash = hash_for_write(tx, key)?;
    let created = argv[2..].chunks(2).filter(|pair| hash.set(pair[0], pair[1], limits)).count();
    tx.changed(key, events::HSET, (argv.len() as u64 - 2) / 2);
    if ctx.cmd.name == "hmset" {
        ctx.out.ok();
    } else {
        ctx.out.int(created as i64);
    }
    Ok(())
}

fn hsetnx(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let limits = limits(ctx);
    let (key, field, value) = (argv[1], argv[2], argv[3]);
    let tx = ctx.tx();
    let hash = hash_for_write(tx, key)?;
    if hash.contains(field) {
        ctx.out.int(0);
        return Ok(());
    }
    hash.set(field, value, limits);
    tx.changed(key, events::HSET, 1);
    ctx.out.int(1);
    Ok(())
}

fn hget(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let tx = ctx.tx.as_mut().expect("locked");
    match read_hash(tx, argv[1])?.and_then(|h| h.get(argv[2])) {
        Some(value) => ctx.out.bulk(value),
        None => ctx.out.null(),
    }
    Ok(())
}

fn hmget(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let tx = ctx.tx.as_mut().expect("locked");
    let hash = read_hash(tx, argv[1])?;
    ctx.out.array(argv.len() - 2);
    for field in &argv[2..] {
        match hash.and_then(|h| h.get(field)) {
            Some(value) => ctx.out.bulk(value),
            None => ctx.out.null(),
        }
    }
    Ok(())
}

/// Which parts of each pair HGETALL/HKEYS/HVALS return.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Parts {
    Fields,
    Values,
    Both,
}

fn hgetall_generic(ctx: &mut Ctx<'_>, key: &[u8], parts: Parts) -> CmdResult {
    let tx = ctx.tx.as_mut().expect("locked");
    let hash = read_hash(tx, key)?;
    let len = hash.map_or(0, |h| h.len());
    if parts == Parts::Both {
        ctx.out.map(len);
    } else {
        ctx.out.array(len);
    }
    for (field, value) in hash.into_iter().flat_map(|h| h.iter()) {
        if parts != Parts::Values {
            ctx.out.bulk(field);
        }
        if parts != Parts::Fields {
            ctx.out.bulk(value);
        }
    }
    Ok(())
}

fn hgetall(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    hgetall_generic(ctx, argv[1], Parts::Both)
}

fn hkeys(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    hgetall_generic(ctx, argv[1], Parts::Fields)
}

fn hvals(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    hgetall_generic(ctx, argv[1], Parts::Values)
}

fn hdel(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let key = argv[1];
    let tx = ctx.tx();
    let Some(hash) = existing_hash(tx, key)? else {
        ctx.out.int(0);
        return Ok(());
    };
    let mut removed = 0;
    for field in &argv[2..] {
        if hash.remove(field) {
            removed += 1;
            if hash.is_empty() {
                break;
            }
        }
    }
    let emptied = hash.is_empty();
    if removed > 0 {
        tx.changed(key, events::HDEL, removed);
    }
    if emptied {
        tx.delete_emptied(key);
    }
    ctx.out.int(removed as i64);
    Ok(())
}

fn hlen(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let len = read_hash(ctx.tx(), argv[1])?.map_or(0, |h| h.len());
    ctx.out.int(len as i64);
    Ok(())
}

fn hstrlen(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let len = read_hash(ctx.tx(), argv[1])?.and_then(|h| h.get(argv[2])).map_or(0, |v| v.len());
    ctx.out.int(len as i64);
    Ok(())
}

fn hexists(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let present = read_hash(ctx.tx(), argv[1])?.is_some_and(|h| h.contains(argv[2]));
    ctx.out.int(present as i64);
    Ok(())
}

fn hincrby(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let increment = parse::int(argv[3])?;
    let limits = limits(ctx);
    let (key, field) = (argv[1], argv[2]);
    let tx = ctx.tx();
    let current = match existing_hash(tx, key)?.and_then(|h| h.get(field)) {
        Some(value) => parse::int(value).map_err(|_| CmdError::err("hash value is not an integer"))?,
        None => 0,
    };
    let new = current.checked_add(increment).ok_or(CmdError::IncrOverflow)?;
    hash_for_write(tx, key)?.set(field, new.to_string().as_bytes(), limits);
    tx.changed(key, events::HINCRBY, 1);
    ctx.out.int(new);
    Ok(())
}

fn hincrbyfloat(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let (key, field, increment) = (argv[1], argv[2], argv[3]);
    // The increment alone must be a finite float.
    match longdouble::add(b"0", increment) {
        Ok(_) => {}
        Err(longdouble::AddError::NanOrInfinity) => return Err(CmdError::err("value is NaN or Infinity")),
        Err(_) => return Err(CmdError::NotFloat),
    }
    let limits = limits(ctx);
    let tx = ctx.tx();
    let current = existing_hash(tx, key)?.and_then(|h| h.get(field)).map(|v| v.to_vec());
    let result = longdouble::add(current.as_deref().unwrap_or(b"0"), increment).map_err(|e| match e {
        longdouble::AddError::NotAFloat => CmdError::err("hash value is not a float"),
        longdouble::AddError::BadIncrement => CmdError::NotFloat,
        longdouble::AddError::NanOrInfinity => CmdError::NanOrInfinity,
    })?;
    hash_for_write(tx, key)?.set(field, &result, limits);
    tx.changed(key, events::HINCRBYFLOAT, 1);
    ctx.out.bulk(&result);
    // Replicas get the result, not the arithmetic.
    ctx.propagate_as(vec![vec![b"HSET".to_vec(), key.to_vec(), field.to_vec(), result]]);
    Ok(())
}

fn hrandfield(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    if argv.len() >= 3 {
        let count = parse_sample_count(argv[2])?;
        let with_values = match argv.len() {
            3 => false,
            4 if parse::is(argv[3], "withvalues") => true,
            _ => return Err(CmdError::Syntax),
        };
        if with_values && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&count) {
            return Err(CmdError::OutOfRange);
        }
        return hrandfield_count(ctx, argv[1], count, with_values);
    }
    let tx = ctx.tx.as_mut().expect("locked");
    match read_hash(tx, argv[1])? {
        None => ctx.out.null(),
        Some(hash) => ctx.out.bulk(hash.random_pair(&mut rand::rng()).0),
    }
    Ok(())
}

fn hrandfield_count(ctx: &mut Ctx<'_>, key: &[u8], count: i64, with_values: bool) -> CmdResult {
    let budget = sample_reply_budget(ctx);
    let tx = ctx.tx.as_mut().expect("locked");
    let Some(hash) = read_hash(tx, key)? else {
        ctx.out.array(0);
        return Ok(());
    };
    let (wanted, distinct) = (count.unsigned_abs(), count >= 0);
    if wanted == 0 {
        ctx.out.array(0);
        return Ok(());
    }
    let resp3 = ctx.out.resp3();
    let out = &mut *ctx.out;
    // RESP3 nests each field/value pair; RESP2 flattens them.
    let header = |out: &mut shoal_resp::ReplyBuf, pairs: usize| {
        out.array(if with_values && !resp3 { pairs * 2 } else { pairs });
    };
    let emit = |out: &mut shoal_resp::ReplyBuf, field: &[u8], value: &[u8]| {
        if with_values && resp3 {
            out.array(2);
        }
        out.bulk(field);
        if with_values {
            out.bulk(value);
        }
    };
    let mut rng = rand::rng();
    if !distinct || wanted == 1 {
        let per_pick = if with_values { 2 * MIN_BULK_REPLY_BYTES } else { MIN_BULK_REPLY_BYTES };
        if wanted.saturating_mul(per_pick) > budget as u64 {
            return Err(CmdError::SAMPLE_TOO_LARGE);
        }
        let start = out.len();
        header(out, wanted as usize);
        hash.sample(wanted, &mut rng, |f, v| {
            emit(out, f, v);
            out.len() - start <= budget
        });
        if out.len() - start > budget {
            out.truncate(start);
            return Err(CmdError::SAMPLE_TOO_LARGE);
        }
        return Ok(());
    }
    if wanted >= hash.len() as u64 {
        header(out, hash.len());
        hash.iter().for_each(|(f, v)| emit(out, f, v));
        return Ok(());
    }
    let picked = hash.distinct_sample(wanted as usize, &mut rng);
    header(out, picked.len());
    picked.into_iter().for_each(|(f, v)| emit(out, f, v));
    Ok(())
}

fn hscan(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let cursor = parse_cursor(argv[2])?;
    let tx = ctx.tx.as_mut().expect("locked");
    let Some(hash) = read_hash(tx, argv[1])? else {
        empty_scan(ctx.out);
        return Ok(());
    };
    let options = parse_scan_options(argv, 3, false)?;
    let mut found: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    let next = if hash.scans_incrementally() {
        let mut cursor = cursor;
        let mut steps_left = options.count.saturating_mul(20);
        loop {
            cursor = hash.scan(cursor, |f, v| found.push((f.to_vec(), v.to_vec())));
            if cursor == 0 || steps_left == 0 || found.len() >= options.count {
                break cursor;
            }
            steps_left -= 1;
        }
    } else {
        hash.scan(0, |f, v| found.push((f.to_vec(), v.to_vec())))
    };
    if let Some(pattern) = options.pattern {
        found.retain(|(f, _)| glob_match(pattern, f, false));
    }
    ctx.out.array(2);
    ctx.out.bulk(next.to_string().as_bytes());
    ctx.out.array(found.len() * 2);
    for (f, v) in &found {
        ctx.out.bulk(f);
        ctx.out.bulk(v);
    }
    Ok(())
}

/// The value of `field` in the hash at `key`, as SORT's `key->field`
/// patterns read it: None when the key is missing, not a hash, or lacks
/// the field.
pub fn hash_field(tx: &mut Tx<'_>, key: &[u8], field: &[u8]) -> Option<Vec<u8>> {
    match tx.lookup(key, Lookup::READ)?.value() {
        Value::Hash(h) => h.get(field).map(|v| v.to_vec()),
        _ => None,
    }
}

pub fn register(r: &mut Registrar) {
    r.keys("hset", hset);
    r.keys("hmset", hset);
    r.keys("hsetnx", hsetnx);
    r.keys("hget", hget);
    r.keys("hmget", hmget);
    r.keys("hgetall", hgetall);
    r.keys("hkeys", hkeys);
    r.keys("hvals", hvals);
    r.keys("hdel", hdel);
    r.keys("hlen", hlen);
    r.keys("hstrlen", hstrlen);
    r.keys("hexists", hexists);
    r.keys("hincrby", hincrby);
    r.keys("hincrbyfloat", hincrbyfloat);
    r.keys("hrandfield", hrandfield);
    r.keys("hscan", hscan);
}
