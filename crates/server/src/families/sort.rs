//! SORT and SORT_RO: sorting lists, sets and sorted sets, numerically or
//! lexically, by their own elements or by weights read from other keys
//! (`BY weight_*`, `BY hash_*->field`), returning the elements or values
//! looked up from them (`GET #`, `GET obj_*`), optionally into a list
//! (`STORE`).
//!
//! BY and GET patterns read keys named by the data, which the key specs
//! cannot name in advance: such a SORT locks every shard, like a script.

use std::cmp::Ordering;

use shoal_commands::Command;
use shoal_engine::{events, shard_of, Lookup, Tx};
use shoal_types::list::List;
use shoal_types::Value;

use crate::exec::{Ctx, LockPlan, Registrar};
use crate::error::{parse, CmdError, CmdResult};

/// Parsed options.
struct SortOptions<'a> {
    desc: bool,
    alpha: bool,
    /// LIMIT offset count (count -1: to the end).
    limit: (i64, i64),
    by: Option<&'a [u8]>,
    /// BY a pattern without `*`: keep the collection's own order.
    dont_sort: bool,
    gets: Vec<&'a [u8]>,
    store: Option<&'a [u8]>,
}

/// `full_key_access`: the client's ACL user may read any key (BY and GET
/// patterns are refused otherwise, as in Redis).
fn parse_options<'a>(argv: &[&'a [u8]], read_only: bool, full_key_access: bool) -> Result<SortOptions<'a>, CmdError> {
    let mut o = SortOptions {
        desc: false,
        alpha: false,
        limit: (0, -1),
        by: None,
        dont_sort: false,
        gets: Vec::new(),
        store: None,
    };
    let mut j = 2;
    while j < argv.len() {
        let left = argv.len() - j - 1;
        let arg = argv[j];
        if parse::is(arg, "asc") {
            o.desc = false;
        } else if parse::is(arg, "desc") {
            o.desc = true;
        } else if parse::is(arg, "alpha") {
            o.alpha = true;
        } else if parse::is(arg, "limit") && left >= 2 {
            o.limit = (parse::int(argv[j + 1])?, parse::int(argv[j + 2])?);
            j += 2;
        } else if !read_only && parse::is(arg, "store") && left >= 1 {
            o.store = Some(argv[j + 1]);
            j += 1;
        } else if parse::is(arg, "by") && left >= 1 {
            o.by = Some(argv[j + 1]);
            o.dont_sort = !argv[j + 1].contains(&b'*');
            if !o.dont_sort && !full_key_access {
                return Err(CmdError::err("BY option of SORT denied due to insufficient ACL permissions."));
            }
            j += 1;
        } else if parse::is(arg, "get") && left >= 1 {
            if !full_key_access {
                return Err(CmdError::err("GET option of SORT denied due to insufficient ACL permissions."));
            }
            o.gets.push(argv[j + 1]);
            j += 1;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    Ok(o)
}

/// Locks every shard when BY or GET patterns read keys named by the data;
/// otherwise the sorted key and the STORE destination.
fn lock_plan(cmd: &Command, argv: &[&[u8]]) -> LockPlan {
    let read_only = cmd.name == "sort_ro";
    let Ok(options) = parse_options(argv, read_only, true) else { return LockPlan::All };
    let reads_other_keys =
        (options.by.is_some() && !options.dont_sort) || options.gets.iter().any(|g| *g != b"#");
    if reads_other_keys {
        return LockPlan::All;
    }
    let mut shards: shoal_engine::ShardList = Default::default();
    shards.push(shard_of(argv[1]));
    if let Some(store) = options.store {
        shards.push(shard_of(store));
    }
    LockPlan::Shards(shards)
}

fn sort(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    sort_generic(ctx, argv, false)
}

fn sort_ro(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    sort_generic(ctx, argv, true)
}

/// One element being sorted and what it sorts by.
struct Item {
    element: Vec<u8>,
    score: f64,
    /// The BY value for ALPHA sorts (None: the key is missing).
    by_value: Option<Vec<u8>>,
}

fn sort_generic(ctx: &mut Ctx<'_>, argv: &[&[u8]], read_only: bool) -> CmdResult {
    let full_key_access = crate::acl::unrestricted_read(ctx.client, ctx.cmd, argv);
    let mut o = parse_options(argv, read_only, full_key_access)?;
    let list_limits = crate::families::lists::limits(ctx);
    let in_script = ctx.in_script;
    let tx = ctx.tx();
    let kind = match tx.lookup(argv[1], Lookup::READ).map(|e| e.value()) {
        None => Kind::Missing,
        Some(Value::List(_)) => Kind::List,
        Some(Value::Set(_)) => Kind::Set,
        Some(Value::ZSet(_)) => Kind::ZSet,
        Some(_) => return Err(CmdError::WrongType),
    };
    // A set has no order of its own: stored or scripted results are sorted.
    if o.dont_sort && kind == Kind::Set && (o.store.is_some() || in_script) {
        o.dont_sort = false;
        o.alpha = true;
        o.by = None;
    }
    let length = collection_len(tx, argv[1]);
    let (start, end) = limit_range(o.limit, length);
    let mut items = load_items(tx, argv[1], kind, &o, start, end);
    // Only the selected window was loaded when nothing is sorted.
    let (start, end) = if o.dont_sort && matches!(kind, Kind::List | Kind::ZSet) { (0, end - start) } else { (start, end) };
    if !o.dont_sort {
        let mut bad_score = false;
        for item in items.iter_mut() {
            let by = match o.by {
                Some(pattern) => match lookup_by_pattern(tx, pattern, &item.element) {
                    Some(v) => v,
                    None => continue,
                },
                None => item.element.clone(),
            };
            if o.alpha {
                if o.by.is_some() {
                    item.by_value = Some(by);
                }
            } else {
                match sort_score(&by) {
                    Some(score) => item.score = score,
                    None => bad_score = true,
                }
            }
        }
        if bad_score {
            return Err(CmdError::err("One or more scores can't be converted into double"));
        }
        let store = o.store.is_some();
        let by_pattern = o.by.is_some();
        items.sort_by(|a, b| {
            let ordering = compare(a, b, o.alpha, by_pattern, store);
            if o.desc {
                ordering.reverse()
            } else {
                ordering
            }
        });
    }
    let selected: &[Item] = if end >= start && start < items.len() as i64 {
        &items[start as usize..=(end as usize).min(items.len() - 1)]
    } else {
        &[]
    };
    match o.store {
        None => {
            let count = if o.gets.is_empty() { selected.len() } else { selected.len() * o.gets.len() };
            let mut replies: Vec<Option<Vec<u8>>> = Vec::with_capacity(count);
            for item in selected {
                if o.gets.is_empty() {
                    replies.push(Some(item.element.clone()));
                }
                for pattern in &o.gets {
                    replies.push(lookup_by_pattern(tx, pattern, &item.element));
                }
            }
            ctx.out.array(replies.len());
            for reply in replies {
                match reply {
                    Some(bytes) => ctx.out.bulk(&bytes),
                    None => ctx.out.null(),
                }
            }
        }
        Some(destination) => {
            let mut values: Vec<Vec<u8>> = Vec::new();
            for item in selected {
                if o.gets.is_empty() {
                    values.push(item.element.clone());
                }
                for pattern in &o.gets {
                    values.push(lookup_by_pattern(tx, pattern, &item.element).unwrap_or_default());
                }
            }
            if values.is_empty() {
                if tx.delete_ignoring_expiry(destination) {
                    tx.changed(destination, events::DEL, 1);
                }
            } else {
                let list = List::from_values(values.iter().map(|v| v.as_slice()), &list_limits);
                tx.set(destination, Value::List(list), false);
                tx.changed(destination, events::SORTSTORE, values.len() as u64);
            }
            ctx.out.int(values.len() as i64);
        }
    }
    Ok(())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Missing,
    List,
    Set,
    ZSet,
}

fn collection_len(tx: &mut Tx<'_>, key: &[u8]) -> i64 {
    match tx.lookup(key, Lookup::QUIET).map(|e| e.value()) {
        Some(Value::List(l)) => l.len() as i64,
        Some(Value::Set(s)) => shoal_types::Collection::len(s) as i64,
        Some(Value::ZSet(z)) => z.len() as i64,
        _ => 0,
    }
}

/// LIMIT clamped as Redis clamps it: (start, end) inclusive; end < start
/// means nothing.
fn limit_range((offset, count): (i64, i64), length: i64) -> (i64, i64) {
    let mut start = offset.max(0).min(length);
    let count = count.max(-1).min(length);
    let mut end = if count < 0 { length - 1 } else { start + count - 1 };
    if start >= length {
        start = length - 1;
        end = length - 2;
    }
    if end >= length {
        end = length - 1;
    }
    (start, end)
}

/// The elements to sort (for unsorted lists and sorted sets, only the
/// LIMIT window, in the requested direction).
fn load_items(tx: &mut Tx<'_>, key: &[u8], kind: Kind, o: &SortOptions<'_>, start: i64, end: i64) -> Vec<Item> {
    let item = |element: Vec<u8>| Item { element, score: 0.0, by_value: None };
    let Some(entry) = tx.lookup(key, Lookup::QUIET) else { return Vec::new() };
    let window = if end >= start { (end - start + 1) as usize } else { 0 };
    match (entry.value(), o.dont_sort) {
        (Value::List(list), true) if o.desc => {
            list.iter_rev().skip(start.max(0) as usize).take(window).map(|e| item(e.to_vec())).collect()
        }
        (Value::List(list), true) => list.iter().skip(start.max(0) as usize).take(window).map(|e| item(e.to_vec())).collect(),
        (Value::List(list), false) => list.iter().map(|e| item(e.to_vec())).collect(),
        (Value::Set(set), _) => set.iter().map(|m| item(m.to_vec())).collect(),
        (Value::ZSet(zset), true) => {
            let mut elements: Vec<Vec<u8>> = Vec::with_capacity(window);
            // The window counts from the end in descending order.
            let skip = start.max(0) as usize;
            let len = zset.len();
            let (lo, hi) = if o.desc { (len.saturating_sub(skip + window), len - skip.min(len)) } else { (skip, skip + window) };
            zset.visit_ranks(lo, hi, o.desc, |member, _| elements.push(member.to_vec()));
            elements.into_iter().map(item).collect()
        }
        (Value::ZSet(zset), false) => zset.iter().map(|(member, _)| item(member.to_vec())).collect(),
        _ => {
            let _ = kind;
            Vec::new()
        }
    }
}

/// Redis's sort comparator (element bytes break numeric ties).
fn compare(a: &Item, b: &Item, alpha: bool, by_pattern: bool, store: bool) -> Ordering {
    if !alpha {
        return a.score.partial_cmp(&b.score).unwrap_or(Ordering::Equal).then_with(|| a.element.cmp(&b.element));
    }
    if by_pattern {
        return match (&a.by_value, &b.by_value) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Less,
            (Some(_), None) => Ordering::Greater,
            (Some(x), Some(y)) if store => x.cmp(y),
            (Some(x), Some(y)) => collate(x, y),
        };
    }
    if store {
        a.element.cmp(&b.element)
    } else {
        collate(&a.element, &b.element)
    }
}

/// strcoll in the C locale: byte order up to the first NUL.
fn collate(a: &[u8], b: &[u8]) -> Ordering {
    fn cut(s: &[u8]) -> &[u8] {
        &s[..s.iter().position(|&c| c == 0).unwrap_or(s.len())]
    }
    cut(a).cmp(cut(b))
}

/// A sort weight as Redis reads it with strtod: leading spaces allowed,
/// the empty string is 0, the text ends at a NUL, out of range and NaN fail.
fn sort_score(bytes: &[u8]) -> Option<f64> {
    let text = &bytes[..bytes.iter().position(|&c| c == 0).unwrap_or(bytes.len())];
    if text.len() > 4096 {
        return None;
    }
    let mut buf = vec![0u8; text.len() + 1];
    buf[..text.len()].copy_from_slice(text);
    let mut end: *mut libc::c_char = std::ptr::null_mut();
    // SAFETY: buf is NUL-terminated and outlives the call.
    let (value, rest_is_empty, erange) = unsafe {
        *libc::__errno_location() = 0;
        let v = libc::strtod(buf.as_ptr() as *const libc::c_char, &mut end);
        (v, *end == 0, *libc::__errno_location() == libc::ERANGE)
    };
    (rest_is_empty && !erange && !value.is_nan()).then_some(value)
}

/// Resolves a BY/GET pattern for one element: `#` is the element itself,
/// `prefix*suffix` names a string key, `prefix*suffix->field` a hash field.
/// None when the pattern has no `*` or the key/field is missing.
fn lookup_by_pattern(tx: &mut Tx<'_>, pattern: &[u8], element: &[u8]) -> Option<Vec<u8>> {
    if pattern == b"#" {
        return Some(element.to_vec());
    }
    let star = pattern.iter().position(|&c| c == b'*')?;
    let (key_pattern, field) = match find(&pattern[star + 1..], b"->") {
        Some(at) if star + 1 + at + 2 < pattern.len() => {
            let arrow = star + 1 + at;
            (&pattern[..arrow], Some(&pattern[arrow + 2..]))
        }
        _ => (pattern, None),
    };
    let mut key = Vec::with_capacity(key_pattern.len() + element.len());
    key.extend_from_slice(&key_pattern[..star]);
    key.extend_from_slice(element);
    key.extend_from_slice(&key_pattern[star + 1..]);
    match field {
        Some(field) => crate::families::hashes::hash_field(tx, &key, field),
        None => tx.lookup(&key, Lookup::READ).and_then(|e| e.value().string_to_vec()),
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

pub fn register(r: &mut Registrar) {
    r.custom("sort", sort, lock_plan);
    r.custom("sort_ro", sort_ro, lock_plan);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_clamp_like_redis() {
        assert_eq!(limit_range((0, -1), 5), (0, 4));
        assert_eq!(limit_range((1, 2), 5), (1, 2));
        assert_eq!(limit_range((10, 2), 5), (4, 3));
        assert_eq!(limit_range((-3, 100), 5), (0, 4));
        assert_eq!(limit_range((0, 0), 5), (0, -1));
        assert_eq!(limit_range((0, -1), 0), (-1, -2));
    }

    #[test]
    fn scores_parse_like_strtod() {
        assert_eq!(sort_score(b""), Some(0.0));
        assert_eq!(sort_score(b"  2.5"), Some(2.5));
        assert_eq!(sort_score(b"3\0junk"), Some(3.0));
        assert_eq!(sort_score(b"abc"), None);
        assert_eq!(sort_score(b"1e999"), None);
        assert_eq!(sort_score(b"nan"), None);
    }
}
