//! Decoding one value from its RDB form, for every type byte Redis 7.0
//! loads, converting encodings as Redis does on load.

use std::borrow::Cow;
use std::collections::HashSet;

use shoal_types::hash::{Hash, HashLimits, Pair};
use shoal_types::list::{List, ListLimits};
use shoal_types::set::{Compact, IntSet, Set};
use shoal_types::zset::{self, ZSet};
use shoal_types::{hash_bytes, ScanTable, Value};

use super::error::{integrity, Error, Result};
use super::input::{parse_double, Input, Str};
use super::listpack::{self, Elem};
use super::{intset, kind, stream, ziplist, zipmap};

/// The configuration that decides encodings on load (the server's
/// `*-max-listpack-*`, `set-max-intset-entries`, `list-max-listpack-size`).
#[derive(Clone, Copy, Debug)]
pub struct DecodeLimits {
    pub list: ListLimits,
    pub hash: HashLimits,
    pub zset: zset::Limits,
    pub set_max_intset: usize,
}

impl Default for DecodeLimits {
    /// Redis 7.0's defaults.
    fn default() -> Self {
        DecodeLimits {
            list: ListLimits::default(),
            hash: HashLimits { max_entries: 512, max_value: 64 },
            zset: zset::Limits { max_entries: 128, max_value: 64 },
            set_max_intset: 512,
        }
    }
}

/// Redis never lets one packed encoding pass 1 GB.
const PACKED_SAFETY_BYTES: usize = 1 << 30;
/// Redis caps `set-max-intset-entries` here.
const INTSET_HARD_LIMIT: usize = 1 << 30;

/// Decodes the value of type `kind` at the start of `input`.
pub fn decode_value(kind: u8, input: &mut Input<'_>, limits: &DecodeLimits) -> Result<Value> {
    match kind {
        kind::STRING => Ok(match input.str()? {
            Str::Int(v) => Value::Int(v),
            Str::Bytes(b) => Value::string(&b),
        }),
        kind::LIST => {
            let n = input.count(1)?;
            let mut items = Vec::with_capacity(n);
            for _ in 0..n {
                items.push(input.bytes()?);
            }
            list(items.iter().map(|c| &c[..]), limits)
        }
        kind::SET => set_plain(input, limits),
        kind::ZSET | kind::ZSET_2 => zset_plain(input, kind == kind::ZSET_2, limits),
        kind::HASH => hash_plain(input, limits),
        kind::LIST_QUICKLIST | kind::LIST_QUICKLIST_2 => quicklist(input, kind == kind::LIST_QUICKLIST_2, limits),
        kind::HASH_ZIPMAP => {
            let blob = input.bytes()?;
            integrity("Zipmap", zipmap_hash(&blob, limits))
        }
        kind::LIST_ZIPLIST => {
            let blob = input.bytes()?;
            let elems = integrity("List ziplist", ziplist::parse(&blob))?;
            let items: Vec<Vec<u8>> = elems.into_iter().map(Elem::to_vec).collect();
            list(items.iter().map(|v| &v[..]), limits)
        }
        kind::SET_INTSET => {
            let blob = input.bytes()?;
            let values = integrity("Intset", intset::parse(&blob))?;
            if values.len() > limits.set_max_intset.min(INTSET_HARD_LIMIT) {
                let members: Vec<Vec<u8>> = values.iter().map(|v| v.to_string().into_bytes()).collect();
                let mut set = Set::Small(Compact::new());
                for m in &members {
                    set.insert(m, 0);
                }
                return Ok(Value::Set(set));
            }
            let mut ints = IntSet::new();
            for v in values {
                ints.insert(v);
            }
            Ok(Value::Set(Set::Ints(ints)))
        }
        kind::ZSET_ZIPLIST | kind::ZSET_LISTPACK => {
            let blob = input.bytes()?;
            let ziplist = kind == kind::ZSET_ZIPLIST;
            let what = if ziplist { "Zset ziplist" } else { "Zset listpack" };
            integrity(what, packed_elems(&blob, ziplist).and_then(|elems| zset_packed(&elems, limits)))
        }
        kind::HASH_ZIPLIST | kind::HASH_LISTPACK => {
            let blob = input.bytes()?;
            let ziplist = kind == kind::HASH_ZIPLIST;
            let what = if ziplist { "Hash ziplist" } else { "Hash listpack" };
            integrity(what, packed_elems(&blob, ziplist).and_then(|elems| hash_packed(&elems, limits)))
        }
        kind::STREAM_LISTPACKS | kind::STREAM_LISTPACKS_2 => {
            Ok(Value::Stream(Box::new(stream::decode(input, kind == kind::STREAM_LISTPACKS_2)?)))
        }
        kind::MODULE | kind::MODULE_2 => Err(Error::Module),
        other => Err(Error::UnknownType(other)),
    }
}

/// The elements of a ziplist or a listpack.
fn packed_elems(blob: &[u8], ziplist: bool) -> Result<Vec<Elem<'_>>> {
    if ziplist {
        ziplist::parse(blob)
    } else {
        listpack::parse(blob)
    }
}

fn zipmap_hash(blob: &[u8], limits: &DecodeLimits) -> Result<Value> {
    let pairs = zipmap::parse(blob)?;
    let longest = pairs.iter().map(|(f, v)| f.len().max(v.len())).max().unwrap_or(0);
    let packed = pairs.len() <= limits.hash.max_entries && longest <= limits.hash.max_value;
    hash_from(pairs.into_iter().map(|(f, v)| (Cow::Borrowed(f), Cow::Borrowed(v))).collect(), packed)
}

/// A hash's fields and values, borrowed from the input where they can be.
type Pairs<'a> = Vec<(Cow<'a, [u8]>, Cow<'a, [u8]>)>;

/// A ziplist or listpack hash: field, value, field, value...
fn hash_packed(elems: &[Elem<'_>], limits: &DecodeLimits) -> Result<Value> {
    if elems.len() % 2 != 0 {
        return Err(Error::Corrupt("hash listpack with an odd element count"));
    }
    let pairs: Pairs<'_> = elems.chunks_exact(2).map(|p| (elem_bytes(p[0]), elem_bytes(p[1]))).collect();
    let packed = pairs.len() <= limits.hash.max_entries;
    hash_from(pairs, packed)
}

fn elem_bytes(e: Elem<'_>) -> Cow<'_, [u8]> {
    match e {
        Elem::Str(s) => Cow::Borrowed(s),
        Elem::Int(_) => Cow::Owned(e.to_vec()),
    }
}

fn list<'a>(items: impl ExactSizeIterator<Item = &'a [u8]>, limits: &DecodeLimits) -> Result<Value> {
    if items.len() == 0 {
        return Err(Error::EmptyKey);
    }
    Ok(Value::List(List::from_values(items, &limits.list)))
}

fn quicklist(input: &mut Input<'_>, v2: bool, limits: &DecodeLimits) -> Result<Value> {
    const PLAIN: u64 = 1;
    const PACKED: u64 = 2;
    let nodes = input.count(2)?;
    let mut items: Vec<Vec<u8>> = Vec::new();
    for _ in 0..nodes {
        let container = if v2 { input.length()? } else { PACKED };
        if container != PLAIN && container != PACKED {
            return Err(Error::Integrity { what: "Quicklist", cause: Box::new(Error::Corrupt("unknown container")) });
        }
        let data = input.bytes()?;
        if data.is_empty() {
            return Err(Error::Integrity { what: "Quicklist", cause: Box::new(Error::Corrupt("empty node")) });
        }
        if container == PLAIN {
            items.push(data.into_owned());
            continue;
        }
        let elems = integrity(if v2 { "Listpack" } else { "Ziplist" }, packed_elems(&data, !v2))?;
        items.extend(elems.into_iter().map(Elem::to_vec));
    }
    list(items.iter().map(|v| &v[..]), limits)
}

/// Sets up to this many members are built from all of them at once.
const SMALL_SET: usize = 128;

fn set_plain(input: &mut Input<'_>, limits: &DecodeLimits) -> Result<Value> {
    let n = input.count(1)?;
    if n == 0 {
        return Err(Error::EmptyKey);
    }
    let max_intset = limits.set_max_intset.min(INTSET_HARD_LIMIT);
    if n <= SMALL_SET {
        // Small sets are built at once rather than member by member.
        let members = (0..n).map(|_| input.bytes()).collect::<Result<Vec<_>>>()?;
        let refs: Vec<&[u8]> = members.iter().map(|m| &m[..]).collect();
        check_unique(refs.iter().copied(), "duplicate set members")?;
        return Ok(Value::Set(Set::from_distinct(&refs, max_intset)));
    }
    let mut set = if n > max_intset { Set::Small(Compact::new()) } else { Set::new_intset() };
    for _ in 0..n {
        let member = input.bytes()?;
        if !set.insert(&member, max_intset) {
            return Err(Error::Corrupt("duplicate set members"));
        }
    }
    Ok(Value::Set(set))
}

fn zset_plain(input: &mut Input<'_>, binary: bool, limits: &DecodeLimits) -> Result<Value> {
    let n = input.count(2)?;
    if n == 0 {
        return Err(Error::EmptyKey);
    }
    let mut entries = Vec::with_capacity(n);
    for _ in 0..n {
        let member = input.bytes()?;
        let score = if binary { input.binary_double()? } else { input.text_double()? };
        if score.is_nan() {
            return Err(Error::Corrupt("zset with a NaN score"));
        }
        entries.push((member, score));
    }
    let mut refs: Vec<(&[u8], f64)> = entries.iter().map(|(m, s)| (&m[..], *s)).collect();
    check_unique(refs.iter().map(|(m, _)| *m), "duplicate zset members")?;
    Ok(Value::ZSet(ZSet::from_unique_refs(&mut refs, limits.zset)))
}

/// A listpack (or ziplist) sorted set: member, score, member, score...
/// It stays compact unless it has too many members (Redis does not look
/// at the member lengths here).
fn zset_packed(elems: &[Elem<'_>], limits: &DecodeLimits) -> Result<Value> {
    if elems.len() % 2 != 0 {
        return Err(Error::Corrupt("zset listpack with an odd element count"));
    }
    if elems.is_empty() {
        return Err(Error::EmptyKey);
    }
    let members: Vec<Cow<'_, [u8]>> = elems.iter().step_by(2).map(|e| elem_bytes(*e)).collect();
    let mut refs = Vec::with_capacity(members.len());
    for (member, score) in members.iter().zip(elems.iter().skip(1).step_by(2)) {
        let score = match *score {
            Elem::Int(v) => v as f64,
            Elem::Str(s) => parse_double(s).ok_or(Error::Corrupt("zset listpack score"))?,
        };
        refs.push((&member[..], score));
    }
    check_unique(refs.iter().map(|(m, _)| *m), "duplicate zset members")?;
    let compact_limits = zset::Limits { max_entries: limits.zset.max_entries, max_value: usize::MAX };
    Ok(Value::ZSet(ZSet::from_unique_refs(&mut refs, compact_limits)))
}

fn hash_plain(input: &mut Input<'_>, limits: &DecodeLimits) -> Result<Value> {
    let n = input.count(2)?;
    if n == 0 {
        return Err(Error::EmptyKey);
    }
    let mut pairs = Vec::with_capacity(n);
    let mut packed = n <= limits.hash.max_entries;
    for _ in 0..n {
        let field = input.bytes()?;
        let value = input.bytes()?;
        packed &= field.len() <= limits.hash.max_value && value.len() <= limits.hash.max_value;
        pairs.push((field, value));
    }
    hash_from(pairs, packed)
}

/// A hash of `pairs`, packed or a table; duplicate fields are corrupt.
fn hash_from(pairs: Pairs<'_>, packed: bool) -> Result<Value> {
    if pairs.is_empty() {
        return Err(Error::EmptyKey);
    }
    let bytes: usize = pairs.iter().map(|(f, v)| f.len() + v.len() + 2).sum();
    if packed && bytes < PACKED_SAFETY_BYTES {
        check_unique(pairs.iter().map(|(f, _)| &f[..]), "duplicate hash fields")?;
        let flat: Vec<&[u8]> = pairs.iter().flat_map(|(f, v)| [&f[..], &v[..]]).collect();
        return Ok(Value::Hash(Hash::Packed(Compact::from_slices(&flat))));
    }
    let mut table = ScanTable::with_capacity(pairs.len());
    for (field, value) in &pairs {
        let hash = hash_bytes(field);
        if table.find(hash, field).is_some() {
            return Err(Error::Corrupt("duplicate hash fields"));
        }
        table.insert_new(hash, Pair::new(field, value));
    }
    Ok(Value::Hash(Hash::Table(Box::new(table))))
}

/// Collections up to this size are checked for duplicates pair by pair:
/// cheaper than hashing for the small encodings.
const PAIRWISE_UNIQUE: usize = 16;

fn check_unique<'a>(items: impl ExactSizeIterator<Item = &'a [u8]> + Clone, what: &'static str) -> Result<()> {
    if items.len() <= PAIRWISE_UNIQUE {
        for (i, a) in items.clone().enumerate() {
            if items.clone().skip(i + 1).any(|b| a == b) {
                return Err(Error::Corrupt(what));
            }
        }
        return Ok(());
    }
    let mut seen = HashSet::with_capacity(items.len());
    for item in items {
        if !seen.insert(item) {
            return Err(Error::Corrupt(what));
        }
    }
    Ok(())
}

/// Skips the value of type `kind` without building it (to find where the
/// next item of a file starts).
pub(crate) fn skip_value(kind: u8, input: &mut Input<'_>) -> Result<()> {
    match kind {
        kind::STRING
        | kind::HASH_ZIPMAP
        | kind::LIST_ZIPLIST
        | kind::SET_INTSET
        | kind::ZSET_ZIPLIST
        | kind::ZSET_LISTPACK
        | kind::HASH_ZIPLIST
        | kind::HASH_LISTPACK => input.skip_string(),
        kind::LIST | kind::SET => skip_strings(input, 1, 1),
        kind::HASH => skip_strings(input, 2, 2),
        kind::ZSET_2 => {
            let n = input.count(9)?;
            for _ in 0..n {
                input.skip_string()?;
                input.take(8)?;
            }
            Ok(())
        }
        kind::ZSET => {
            let n = input.count(2)?;
            for _ in 0..n {
                input.skip_string()?;
                let len = input.byte()?;
                if len < 253 {
                    input.take(u64::from(len))?;
                }
            }
            Ok(())
        }
        kind::LIST_QUICKLIST => skip_strings(input, 1, 1),
        kind::LIST_QUICKLIST_2 => {
            let n = input.count(2)?;
            for _ in 0..n {
                input.length()?;
                input.skip_string()?;
            }
            Ok(())
        }
        kind::STREAM_LISTPACKS | kind::STREAM_LISTPACKS_2 => stream::skip(input, kind == kind::STREAM_LISTPACKS_2),
        kind::MODULE | kind::MODULE_2 => Err(Error::Module),
        other => Err(Error::UnknownType(other)),
    }
}

fn skip_strings(input: &mut Input<'_>, per_item: usize, min_bytes: u64) -> Result<()> {
    let n = input.count(min_bytes)?;
    for _ in 0..n * per_item {
        input.skip_string()?;
    }
    Ok(())
}
