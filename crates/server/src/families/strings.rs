//! String commands: GET/SET and their variants, counters, ranges, LCS.

use shoal_engine::{events, Entry, ExpireAt, Lookup, NO_EXPIRE};
use shoal_types::{longdouble, Value};

use crate::exec::{Ctx, Registrar};
use crate::error::{parse, CmdError, CmdResult};

/// SET/GETEX options.
#[derive(Default, Clone, Copy)]
struct SetOptions {
    nx: bool,
    xx: bool,
    get: bool,
    keep_ttl: bool,
    persist: bool,
    expire: Option<Expiry>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum ExpiryUnit {
    /// EX: relative seconds.
    Seconds,
    /// PX: relative milliseconds.
    Millis,
    /// EXAT: absolute seconds.
    UnixSeconds,
    /// PXAT: absolute milliseconds.
    UnixMillis,
}

#[derive(Clone, Copy)]
struct Expiry {
    unit: ExpiryUnit,
    arg_index: usize,
}

/// Parses the options after `first` (3 for SET, 2 for GETEX), with Redis's
/// rules on which options exclude which.
fn parse_options(argv: &[&[u8]], first: usize, for_set: bool) -> Result<SetOptions, CmdError> {
    let mut o = SetOptions::default();
    let mut j = first;
    while j < argv.len() {
        let opt = argv[j];
        let has_next = j + 1 < argv.len();
        let has_expire = o.expire.is_some();
        if for_set && parse::is(opt, "nx") && !o.xx {
            o.nx = true;
        } else if for_set && parse::is(opt, "xx") && !o.nx {
            o.xx = true;
        } else if for_set && parse::is(opt, "get") {
            o.get = true;
        } else if for_set && parse::is(opt, "keepttl") && !o.persist && !has_expire {
            o.keep_ttl = true;
        } else if !for_set && parse::is(opt, "persist") && !has_expire && !o.keep_ttl {
            o.persist = true;
        } else if let Some(unit) = expiry_unit(opt).filter(|_| has_next && !o.keep_ttl && !o.persist) {
            if o.expire.is_some_and(|e| e.unit != unit) || o.expire.is_some() && !same_unit_repeat(o, unit) {
                return Err(CmdError::Syntax);
            }
            o.expire = Some(Expiry { unit, arg_index: j + 1 });
            j += 1;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    Ok(o)
}

/// Redis lets an option be repeated (the last value wins) but not mixed.
fn same_unit_repeat(o: SetOptions, unit: ExpiryUnit) -> bool {
    o.expire.is_some_and(|e| e.unit == unit)
}

fn expiry_unit(opt: &[u8]) -> Option<ExpiryUnit> {
    if parse::is(opt, "ex") {
        Some(ExpiryUnit::Seconds)
    } else if parse::is(opt, "px") {
        Some(ExpiryUnit::Millis)
    } else if parse::is(opt, "exat") {
        Some(ExpiryUnit::UnixSeconds)
    } else if parse::is(opt, "pxat") {
        Some(ExpiryUnit::UnixMillis)
    } else {
        None
    }
}

/// The absolute expiry time in milliseconds, checked as Redis checks it.
fn expire_at(argv: &[&[u8]], expiry: Expiry, now_ms: i64, command: &'static str) -> Result<ExpireAt, CmdError> {
    let value = parse::int(argv[expiry.arg_index])?;
    let seconds = matches!(expiry.unit, ExpiryUnit::Seconds | ExpiryUnit::UnixSeconds);
    if value <= 0 || (seconds && value > i64::MAX / 1000) {
        return Err(CmdError::InvalidExpire(command));
    }
    let mut ms = if seconds { value * 1000 } else { value };
    if matches!(expiry.unit, ExpiryUnit::Seconds | ExpiryUnit::Millis) {
        ms = ms.checked_add(now_ms).ok_or(CmdError::InvalidExpire(command))?;
    }
    if ms <= 0 {
        return Err(CmdError::InvalidExpire(command));
    }
    Ok(ms)
}

/// Writes the string value of `entry` as a bulk reply, or fails on type.
fn reply_string(ctx_out: &mut shoal_resp::ReplyBuf, entry: &Entry) -> CmdResult {
    let mut scratch = [0u8; 20];
    let bytes = entry.value().string_bytes(&mut scratch).ok_or(CmdError::WrongType)?;
    ctx_out.bulk(bytes);
    Ok(())
}

/// GET semantics shared by GET, GETSET, GETDEL and SET ... GET.
fn get_into_reply(ctx: &mut Ctx<'_>, key: &[u8]) -> CmdResult {
    let tx = ctx.tx.as_mut().expect("locked");
    match tx.lookup(key, Lookup::READ) {
        None => {
            ctx.out.null();
            Ok(())
        }
        Some(entry) => reply_string(ctx.out, entry),
    }
}

fn get(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    get_into_reply(ctx, argv[1])
}

fn set(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let options = parse_options(argv, 3, true)?;
    set_generic(ctx, argv, argv[1], argv[2], options, "set", SetReply::Ok)
}

#[derive(Clone, Copy)]
enum SetReply {
    /// +OK, or null when NX/XX prevented the set.
    Ok,
    /// :1 / :0 (SETNX).
    Integer,
}

fn set_generic(
    ctx: &mut Ctx<'_>,
    argv: &[&[u8]],
    key: &[u8],
    value: &[u8],
    options: SetOptions,
    command: &'static str,
    reply: SetReply,
) -> CmdResult {
    let now = ctx.tx().now_ms;
    let expire = match options.expire {
        Some(e) => Some(expire_at(argv, e, now, command)?),
        None => None,
    };
    if options.get {
        // Type check (and the GET reply) come before anything changes.
        // The reply's own lookup is the one that counts (stats, keymiss).
        let tx = ctx.tx.as_mut().expect("locked");
        if let Some(entry) = tx.lookup(key, Lookup::QUIET) {
            if !entry.value().is_string() {
                return Err(CmdError::WrongType);
            }
        }
        get_into_reply(ctx, key)?;
    }
    let tx = ctx.tx();
    let db = tx.db;
    let found = tx.exists_in(db, key);
    if (options.nx && found) || (options.xx && !found) {
        if !options.get {
            match reply {
                SetReply::Ok => ctx.out.null(),
                SetReply::Integer => ctx.out.int(0),
            }
        }
        return Ok(());
    }
    tx.set_string_in(db, key, value, options.keep_ttl);
    tx.changed(key, events::SET, 1);
    if let Some(when) = expire {
        tx.set_expire_in(db, key, when);
        tx.notify(events::EXPIRE, key);
        ctx.propagate_as(vec![vec![
            b"SET".to_vec(),
            key.to_vec(),
            value.to_vec(),
            b"PXAT".to_vec(),
            when.to_string().into_bytes(),
        ]]);
    } else if options.get {
        // Propagate without GET (which may be repeated).
        let stripped: Vec<Vec<u8>> = argv
            .iter()
            .enumerate()
            .filter(|(i, a)| *i < 3 || !parse::is(a, "get"))
            .map(|(_, a)| a.to_vec())
            .collect();
        ctx.propagate_as(vec![stripped]);
    }
    if !options.get {
        match reply {
            SetReply::Ok => ctx.out.ok(),
            SetReply::Integer => ctx.out.int(1),
        }
    }
    Ok(())
}

fn setnx(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let options = SetOptions { nx: true, ..SetOptions::default() };
    set_generic(ctx, argv, argv[1], argv[2], options, "setnx", SetReply::Integer)
}

fn setex(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let options = SetOptions { expire: Some(Expiry { unit: ExpiryUnit::Seconds, arg_index: 2 }), ..SetOptions::default() };
    set_generic(ctx, argv, argv[1], argv[3], options, "setex", SetReply::Ok)
}

fn psetex(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let options = SetOptions { expire: Some(Expiry { unit: ExpiryUnit::Millis, arg_index: 2 }), ..SetOptions::default() };
    set_generic(ctx, argv, argv[1], argv[3], options, "psetex", SetReply::Ok)
}

fn getset(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    get_into_reply(ctx, argv[1])?;
    let tx = ctx.tx();
    tx.set(argv[1], Value::string(argv[2]), false);
    tx.changed(argv[1], events::SET, 1);
    ctx.propagate_as(vec![vec![b"SET".to_vec(), argv[1].to_vec(), argv[2].to_vec()]]);
    Ok(())
}

fn getdel(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    get_into_reply(ctx, argv[1])?;
    let tx = ctx.tx();
    if tx.delete(argv[1]) {
        tx.changed(argv[1], events::DEL, 1);
        let del = delete_command_name(ctx);
        ctx.propagate_as(vec![vec![del, argv[1].to_vec()]]);
    }
    Ok(())
}

/// DEL, or UNLINK when lazy user deletion is configured.
fn delete_command_name(ctx: &Ctx<'_>) -> Vec<u8> {
    if ctx.server.tunables.lazyfree_lazy_user_del.load(std::sync::atomic::Ordering::Relaxed) {
        b"UNLINK".to_vec()
    } else {
        b"DEL".to_vec()
    }
}

fn getex(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let options = parse_options(argv, 2, false)?;
    let key = argv[1];
    let tx = ctx.tx.as_mut().expect("locked");
    let now = tx.now_ms;
    let Some(entry) = tx.lookup(key, Lookup::READ) else {
        ctx.out.null();
        return Ok(());
    };
    if !entry.value().is_string() {
        return Err(CmdError::WrongType);
    }
    let expire = match options.expire {
        Some(e) => Some(expire_at(argv, e, now, "getex")?),
        None => None,
    };
    let tx = ctx.tx.as_mut().expect("locked");
    let entry = tx.lookup(key, Lookup::QUIET).expect("just found");
    reply_string(ctx.out, entry)?;
    let tx = ctx.tx();
    let db = tx.db;
    let absolute = options.expire.is_some_and(|e| matches!(e.unit, ExpiryUnit::UnixSeconds | ExpiryUnit::UnixMillis));
    match expire {
        Some(when) if absolute && when <= now => {
            tx.remove_in(db, key);
            tx.changed(key, events::DEL, 1);
            ctx.propagate_as(vec![vec![b"DEL".to_vec(), key.to_vec()]]);
        }
        Some(when) => {
            tx.set_expire_in(db, key, when);
            tx.changed(key, events::EXPIRE, 1);
            ctx.propagate_as(vec![vec![b"PEXPIREAT".to_vec(), key.to_vec(), when.to_string().into_bytes()]]);
        }
        None if options.persist
            && tx.expire_of_in(db, key).is_some_and(|e| e != NO_EXPIRE) => {
                tx.set_expire_in(db, key, NO_EXPIRE);
                tx.changed(key, events::PERSIST, 1);
                ctx.propagate_as(vec![vec![b"PERSIST".to_vec(), key.to_vec()]]);
            }
        None => {}
    }
    Ok(())
}

fn mget(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    ctx.out.array(argv.len() - 1);
    let tx = ctx.tx.as_mut().expect("locked");
    let mut scratch = [0u8; 20];
    for key in &argv[1..] {
        match tx.lookup(key, Lookup::READ).and_then(|e| e.value().string_bytes(&mut scratch).map(|b| b.to_vec())) {
            Some(bytes) => ctx.out.bulk(&bytes),
            None => ctx.out.null(),
        }
    }
    Ok(())
}

fn mset(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    mset_generic(ctx, argv, false)
}

fn msetnx(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    mset_generic(ctx, argv, true)
}

fn mset_generic(ctx: &mut Ctx<'_>, argv: &[&[u8]], nx: bool) -> CmdResult {
    if argv.len().is_multiple_of(2) {
        return Err(CmdError::wrong_arity(ctx.cmd.name));
    }
    let tx = ctx.tx();
    if nx {
        let db = tx.db;
        for pair in argv[1..].chunks(2) {
            if tx.lookup_in(db, pair[0], Lookup::WRITE).is_some() {
                ctx.out.int(0);
                return Ok(());
            }
        }
    }
    for pair in argv[1..].chunks(2) {
        tx.set(pair[0], Value::string(pair[1]), false);
        tx.changed(pair[0], events::SET, 1);
    }
    if nx {
        ctx.out.int(1);
    } else {
        ctx.out.ok();
    }
    Ok(())
}

fn append(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let max = ctx.server.tunables.proto_max_bulk_len.load(std::sync::atomic::Ordering::Relaxed);
    let tx = ctx.tx();
    let total = match tx.lookup_mut(argv[1], Lookup::WRITE) {
        None => {
            let db = tx.db;
            tx.insert_in(db, argv[1], Value::string(argv[2]), NO_EXPIRE);
            argv[2].len()
        }
        Some(entry) => {
            let current = entry.value().string_len().ok_or(CmdError::WrongType)?;
            check_length(current as i64, argv[2].len() as i64, max)?;
            let buffer = entry.value_mut().make_raw();
            buffer.extend_from_slice(argv[2]);
            buffer.len()
        }
    };
    tx.changed(argv[1], events::APPEND, 1);
    ctx.out.int(total as i64);
    Ok(())
}

fn check_length(size: i64, append: i64, max: i64) -> CmdResult {
    match size.checked_add(append) {
        Some(total) if total <= max => Ok(()),
        _ => Err(CmdError::StringTooLong),
    }
}

fn strlen(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let len = match ctx.tx().read(argv[1]) {
        None => 0,
        Some(entry) => entry.value().string_len().ok_or(CmdError::WrongType)?,
    };
    ctx.out.int(len as i64);
    Ok(())
}

fn getrange(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let mut start = parse::int(argv[2])?;
    let mut end = parse::int(argv[3])?;
    let tx = ctx.tx.as_mut().expect("locked");
    let Some(entry) = tx.read(argv[1]) else {
        ctx.out.bulk(b"");
        return Ok(());
    };
    let mut scratch = [0u8; 20];
    let bytes = entry.value().string_bytes(&mut scratch).ok_or(CmdError::WrongType)?;
    let len = bytes.len() as i64;
    if start < 0 && end < 0 && start > end {
        ctx.out.bulk(b"");
        return Ok(());
    }
    if start < 0 {
        start += len;
    }
    if end < 0 {
        end += len;
    }
    start = start.max(0);
    end = end.max(0);
    if end >= len {
        end = len - 1;
    }
    if start > end || len == 0 {
        ctx.out.bulk(b"");
    } else {
        ctx.out.bulk(&bytes[start as usize..=end as usize]);
    }
    Ok(())
}

fn setrange(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let offset = parse::int(argv[2])?;
    if offset < 0 {
        return Err(CmdError::err("offset is out of range"));
    }
    let value = argv[3];
    let max = ctx.server.tunables.proto_max_bulk_len.load(std::sync::atomic::Ordering::Relaxed);
    let tx = ctx.tx();
    let db = tx.db;
    let new_len = match tx.lookup_mut(argv[1], Lookup::WRITE) {
        None => {
            if value.is_empty() {
                ctx.out.int(0);
                return Ok(());
            }
            check_length(offset, value.len() as i64, max)?;
            let mut bytes = vec![0u8; offset as usize + value.len()];
            bytes[offset as usize..].copy_from_slice(value);
            let len = bytes.len();
            tx.insert_in(db, argv[1], Value::raw(bytes), NO_EXPIRE);
            len
        }
        Some(entry) => {
            let current = entry.value().string_len().ok_or(CmdError::WrongType)?;
            if value.is_empty() {
                ctx.out.int(current as i64);
                return Ok(());
            }
            check_length(offset, value.len() as i64, max)?;
            let buffer = entry.value_mut().make_raw();
            let needed = offset as usize + value.len();
            if buffer.len() < needed {
                buffer.resize(needed, 0);
            }
            buffer[offset as usize..needed].copy_from_slice(value);
            buffer.len()
        }
    };
    tx.changed(argv[1], events::SETRANGE, 1);
    ctx.out.int(new_len as i64);
    Ok(())
}

fn incr(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    incr_by(ctx, argv[1], 1)
}

fn decr(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    incr_by(ctx, argv[1], -1)
}

fn incrby(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let by = parse::int(argv[2])?;
    incr_by(ctx, argv[1], by)
}

fn decrby(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let by = parse::int(argv[2])?;
    if by == i64::MIN {
        return Err(CmdError::err("decrement would overflow"));
    }
    incr_by(ctx, argv[1], -by)
}

fn incr_by(ctx: &mut Ctx<'_>, key: &[u8], by: i64) -> CmdResult {
    let tx = ctx.tx();
    let value = match tx.lookup_mut(key, Lookup::WRITE) {
        None => {
            let db = tx.db;
            tx.insert_in(db, key, Value::Int(by), NO_EXPIRE);
            by
        }
        Some(entry) => {
            if !entry.value().is_string() {
                return Err(CmdError::WrongType);
            }
            let old = entry.value().as_i64().ok_or(CmdError::NotInteger)?;
            let new = old.checked_add(by).ok_or(CmdError::IncrOverflow)?;
            // The value is replaced in place: the expiry is kept.
            entry.replace_value(Value::Int(new));
            new
        }
    };
    tx.changed(key, events::INCRBY, 1);
    ctx.out.int(value);
    Ok(())
}

fn incrbyfloat(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let key = argv[1];
    let tx = ctx.tx();
    let (current, exists) = match tx.lookup(key, Lookup::WRITE) {
        None => (b"0".to_vec(), false),
        Some(entry) => (entry.value().string_to_vec().ok_or(CmdError::WrongType)?, true),
    };
    let result = longdouble::add(&current, argv[2]).map_err(|e| match e {
        longdouble::AddError::NotAFloat | longdouble::AddError::BadIncrement => CmdError::NotFloat,
        longdouble::AddError::NanOrInfinity => CmdError::NanOrInfinity,
    })?;
    let value = Value::string_verbatim(&result);
    if exists {
        tx.lookup_mut(key, Lookup::QUIET).expect("still there").replace_value(value);
    } else {
        let db = tx.db;
        tx.insert_in(db, key, value, NO_EXPIRE);
    }
    tx.changed(key, events::INCRBYFLOAT, 1);
    ctx.out.bulk(&result);
    ctx.propagate_as(vec![vec![b"SET".to_vec(), key.to_vec(), result, b"KEEPTTL".to_vec()]]);
    Ok(())
}

fn lcs(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    let tx = ctx.tx();
    let mut fetch = |key: &[u8]| -> Result<Vec<u8>, CmdError> {
        match tx.read(key) {
            None => Ok(Vec::new()),
            Some(entry) => entry
                .value()
                .string_to_vec()
                .ok_or_else(|| CmdError::err("The specified keys must contain string values")),
        }
    };
    let a = fetch(argv[1]);
    let b = fetch(argv[2]);
    let (a, b) = (a?, b?);
    let (mut want_len, mut want_idx, mut with_match_len, mut min_match_len) = (false, false, false, 0i64);
    let mut j = 3;
    while j < argv.len() {
        let opt = argv[j];
        let more = argv.len() - 1 - j;
        if parse::is(opt, "idx") {
            want_idx = true;
        } else if parse::is(opt, "len") {
            want_len = true;
        } else if parse::is(opt, "withmatchlen") {
            with_match_len = true;
        } else if parse::is(opt, "minmatchlen") && more > 0 {
            min_match_len = parse::int(argv[j + 1])?.max(0);
            j += 1;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    if want_len && want_idx {
        return Err(CmdError::err("If you want both the length and indexes, please just use IDX."));
    }
    let cells = (a.len() as u64 + 1) * (b.len() as u64 + 1);
    let max = ctx.server.tunables.proto_max_bulk_len.load(std::sync::atomic::Ordering::Relaxed) as u64;
    if cells.saturating_mul(4) > max {
        return Err(CmdError::err("Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len"));
    }
    let table = lcs_table(&a, &b);
    let width = b.len() + 1;
    let at = |i: usize, j: usize| table[i * width + j];
    let total = at(a.len(), b.len());
    if want_len {
        ctx.out.int(total as i64);
        return Ok(());
    }
    // Walk back from the end, collecting the common string and the ranges.
    let mut common = vec![0u8; total as usize];
    let mut ranges: Vec<((usize, usize), (usize, usize))> = Vec::new();
    let (mut i, mut j, mut k) = (a.len(), b.len(), total as usize);
    let mut current: Option<((usize, usize), (usize, usize))> = None;
    while i > 0 && j > 0 {
        let mut emit = false;
        if a[i - 1] == b[j - 1] {
            common[k - 1] = a[i - 1];
            current = match current {
                None => Some(((i - 1, i - 1), (j - 1, j - 1))),
                Some(((a_start, a_end), (b_start, b_end))) if a_start == i && b_start == j => {
                    Some(((a_start - 1, a_end), (b_start - 1, b_end)))
                }
                Some(range) => {
                    emit = true;
                    Some(range)
                }
            };
            if let Some(((a_start, _), (b_start, _))) = current {
                if a_start == 0 || b_start == 0 {
                    emit = true;
                }
            }
            k -= 1;
            i -= 1;
            j -= 1;
        } else {
            if at(i - 1, j) > at(i, j - 1) {
                i -= 1;
            } else {
                j -= 1;
            }
            if current.is_some() {
                emit = true;
            }
        }
        if emit {
            if let Some(range) = current.take() {
                let len = range.0 .1 - range.0 .0 + 1;
                if min_match_len == 0 || len as i64 >= min_match_len {
                    ranges.push(range);
                }
            }
        }
    }
    if !want_idx {
        ctx.out.bulk(&common);
        return Ok(());
    }
    ctx.out.map(2);
    ctx.out.bulk_str("matches");
    ctx.out.array(ranges.len());
    for ((a_start, a_end), (b_start, b_end)) in ranges {
        ctx.out.array(if with_match_len { 3 } else { 2 });
        ctx.out.array(2);
        ctx.out.int(a_start as i64);
        ctx.out.int(a_end as i64);
        ctx.out.array(2);
        ctx.out.int(b_start as i64);
        ctx.out.int(b_end as i64);
        if with_match_len {
            ctx.out.int((a_end - a_start + 1) as i64);
        }
    }
    ctx.out.bulk_str("len");
    ctx.out.int(total as i64);
    Ok(())
}

/// The dynamic-programming table of common subsequence lengths.
fn lcs_table(a: &[u8], b: &[u8]) -> Vec<u32> {
    let width = b.len() + 1;
    let mut table = vec![0u32; (a.len() + 1) * width];
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            table[i * width + j] = if a[i - 1] == b[j - 1] {
                table[(i - 1) * width + j - 1] + 1
            } else {
                table[(i - 1) * width + j].max(table[i * width + j - 1])
            };
        }
    }
    table
}

pub fn register(r: &mut Registrar) {
    r.keys("get", get);
    r.keys("set", set);
    r.keys("setnx", setnx);
    r.keys("setex", setex);
    r.keys("psetex", psetex);
    r.keys("getset", getset);
    r.keys("getdel", getdel);
    r.keys("getex", getex);
    r.keys("mget", mget);
    r.keys("mset", mset);
    r.keys("msetnx", msetnx);
    r.keys("append", append);
    r.keys("strlen", strlen);
    r.keys("getrange", getrange);
    r.keys("substr", getrange);
    r.keys("setrange", setrange);
    r.keys("incr", incr);
    r.keys("decr", decr);
    r.keys("incrby", incrby);
    r.keys("decrby", decrby);
    r.keys("incrbyfloat", incrbyfloat);
    r.keys("lcs", lcs);
}
