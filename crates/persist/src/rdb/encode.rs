//! Encoding one value in the RDB form Redis 7.0 writes for the same
//! encoding: Shoal's values already follow Redis's encoding rules, so a
//! compact value becomes the listpack or intset Redis would hold and a
//! large one Redis's plain form.

use shoal_types::hash::Hash;
use shoal_types::set::{Member, Set};
use shoal_types::zset::ZSet;
use shoal_types::Value;

use super::listpack::Builder;
use super::{intset, kind, output, stream};

/// How values are written.
#[derive(Clone, Copy, Debug, Default)]
pub struct EncodeOptions {
    /// LZF-compress strings where it pays (`rdbcompression`).
    pub compress: bool,
}

/// quicklist node containers.
const PLAIN: u64 = 1;
const PACKED: u64 = 2;

/// Appends `value`'s RDB form to `out`; returns its type byte.
pub fn encode_value(value: &Value, out: &mut Vec<u8>, options: EncodeOptions) -> u8 {
    let compress = options.compress;
    match value {
        Value::Int(i) => {
            output::int_string(out, *i);
            kind::STRING
        }
        Value::List(list) => {
            let nodes: Vec<_> = list.nodes().collect();
            output::length(out, nodes.len() as u64);
            for (items, plain) in nodes {
                if plain {
                    output::length(out, PLAIN);
                    output::string(out, items.first().unwrap_or_default(), compress);
                } else {
                    output::length(out, PACKED);
                    let mut lp = Builder::new();
                    items.iter().for_each(|v| lp.push(v));
                    output::string(out, &lp.finish(), compress);
                }
            }
            kind::LIST_QUICKLIST_2
        }
        Value::Set(Set::Ints(ints)) => {
            let values: Vec<i64> = ints.iter().collect();
            output::string(out, &intset::build(&values), compress);
            kind::SET_INTSET
        }
        Value::Set(set) => {
            output::length(out, set.len() as u64);
            for member in set.iter() {
                match member {
                    Member::Bytes(b) => output::string(out, b, compress),
                    Member::Int(v) => output::int_string(out, v),
                }
            }
            kind::SET
        }
        Value::ZSet(zset) => encode_zset(zset, out, compress),
        Value::Hash(Hash::Packed(pairs)) => {
            let mut lp = Builder::new();
            pairs.iter().for_each(|v| lp.push(v));
            output::string(out, &lp.finish(), compress);
            kind::HASH_LISTPACK
        }
        Value::Hash(hash) => {
            output::length(out, hash.len() as u64);
            for (field, value) in hash.iter() {
                output::string(out, field, compress);
                output::string(out, value, compress);
            }
            kind::HASH
        }
        Value::Stream(s) => {
            stream::encode(s, out, compress);
            kind::STREAM_LISTPACKS_2
        }
        string => {
            let mut scratch = [0u8; 20];
            output::string(out, string.string_bytes(&mut scratch).unwrap_or_default(), compress);
            kind::STRING
        }
    }
}

fn encode_zset(zset: &ZSet, out: &mut Vec<u8>, compress: bool) -> u8 {
    if zset.is_compact() {
        let mut lp = Builder::new();
        for (member, score) in zset.iter() {
            lp.push(member);
            match integral(score) {
                Some(i) => lp.push_int(i),
                None => lp.push(&shoal_resp::number::f64_to_bytes(score)),
            }
        }
        output::string(out, &lp.finish(), compress);
        return kind::ZSET_LISTPACK;
    }
    output::length(out, zset.len() as u64);
    // Highest first, as Redis writes (loading then inserts at the head).
    let all: Vec<(&[u8], f64)> = zset.iter().collect();
    for (member, score) in all.into_iter().rev() {
        output::string(out, member, compress);
        output::binary_double(out, score);
    }
    kind::ZSET_2
}

/// A score stored as a listpack integer: integral and within half the
/// i64 range (Redis's rule; -0 becomes 0 as in Redis). Other scores are
/// stored as `%.17g` text.
fn integral(score: f64) -> Option<i64> {
    const HALF: f64 = (i64::MAX / 2) as f64;
    (score.fract() == 0.0 && (-HALF..=HALF).contains(&score)).then_some(score as i64)
}
