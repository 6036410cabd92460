//! DEBUG DIGEST and DEBUG DIGEST-VALUE: signatures of the dataset and of
//! single values that equal redis-server 7.0's for the same data, so tests
//! can compare a Shoal dataset with a Redis one (interop, replication).
//!
//! Every signature is 20 bytes built from SHA-1 with two operations:
//! - *add* (`add`): `sig ^= sha1(bytes)`; the order of additions does not
//!   matter, so it combines the members of sets, hashes and sorted sets and
//!   the keys of a database;
//! - *chain* (`chain`): `sig = sha1(sig ^ sha1(bytes))`; order matters, so
//!   it feeds sequences (list elements, stream entries) and the parts of
//!   one item.
//!
//! A value's signature chains its type code (Redis's object type number, 4
//! bytes big-endian) and then its contents: a string its bytes (integers in
//! decimal); a list each element; a set adds each member; a hash adds, per
//! field, the signature of (chain field, chain value); a sorted set the same
//! with the member and its score printed `%.17g`; a stream chains each live
//! entry's ID written `ms.seq` and then its fields and values (consumer
//! groups are not part of it). A key with a TTL adds the text `!!expire!!`
//! (the TTL's value does not count). A key's signature chains its name
//! first, then the value's signature. The dataset signature starts at zero
//! and, for each non-empty database in order, chains the database number
//! (4 bytes big-endian) and then adds every key's signature. An empty
//! dataset is therefore all zeros; keys that have expired but are still
//! stored count, as in Redis.

use sha1::{Digest, Sha1};
use shoal_engine::{Entry, Tx, NO_EXPIRE};
use shoal_types::value::Value;

type Sig = [u8; 20];

/// `sig ^= sha1(bytes)`.
fn add(sig: &mut Sig, bytes: &[u8]) {
    let hash = Sha1::digest(bytes);
    sig.iter_mut().zip(hash.iter()).for_each(|(s, h)| *s ^= h);
}

/// `sig = sha1(sig ^ sha1(bytes))`.
fn chain(sig: &mut Sig, bytes: &[u8]) {
    add(sig, bytes);
    let next = Sha1::digest(*sig);
    sig.copy_from_slice(&next);
}

/// The signature of a two-part item (hash field and value, sorted-set
/// member and score).
fn pair(first: &[u8], second: &[u8]) -> Sig {
    let mut sig = [0u8; 20];
    chain(&mut sig, first);
    chain(&mut sig, second);
    sig
}

/// Redis's object type numbers.
fn type_code(value: &Value) -> u32 {
    match value {
        Value::List(_) => 1,
        Value::Set(_) => 2,
        Value::ZSet(_) => 3,
        Value::Hash(_) => 4,
        Value::Stream(_) => 6,
        _ => 0,
    }
}

/// Folds a value (and whether it has a TTL) into `sig`.
fn fold_value(sig: &mut Sig, value: &Value, has_ttl: bool) {
    chain(sig, &type_code(value).to_be_bytes());
    match value {
        Value::List(list) => list.iter().for_each(|element| chain(sig, element)),
        Value::Set(set) => set.iter().for_each(|member| member.with_bytes(|bytes| add(sig, bytes))),
        Value::Hash(hash) => hash.iter().for_each(|(field, value)| add(sig, &pair(field, value))),
        Value::ZSet(zset) => {
            for (member, score) in zset.iter() {
                add(sig, &pair(member, &shoal_resp::number::f64_to_bytes(score)));
            }
        }
        Value::Stream(stream) => {
            for entry in stream.entries().iter() {
                chain(sig, format!("{}.{}", entry.id.ms, entry.id.seq).as_bytes());
                for (field, value) in entry.fields() {
                    chain(sig, field);
                    chain(sig, value);
                }
            }
        }
        string => {
            let mut scratch = [0u8; 20];
            chain(sig, string.string_bytes(&mut scratch).unwrap_or_default());
        }
    }
    if has_ttl {
        add(sig, b"!!expire!!");
    }
}

fn has_ttl(entry: &Entry) -> bool {
    entry.expire_at() != NO_EXPIRE
}

fn hex(sig: &Sig) -> String {
    sig.iter().map(|b| format!("{b:02x}")).collect()
}

/// DEBUG DIGEST: all databases (every shard must be locked).
pub fn dataset_digest(tx: &mut Tx<'_>) -> String {
    let mut total = [0u8; 20];
    for db in 0..tx.engine.db_count() {
        let mut started = false;
        for shard in tx.locks.iter() {
            for entry in shard.dbs[db].iter() {
                if !started {
                    chain(&mut total, &(db as u32).to_be_bytes());
                    started = true;
                }
                let mut key_sig = [0u8; 20];
                chain(&mut key_sig, entry.key());
                fold_value(&mut key_sig, entry.value(), has_ttl(entry));
                add(&mut total, &key_sig);
            }
        }
    }
    hex(&total)
}

/// DEBUG DIGEST-VALUE for one key of the selected database (zeros if
/// absent). The key's name is not part of it, so a copy under another name
/// has the same one; like Redis, a key whose TTL has passed but that is
/// still stored is digested, not expired.
pub fn key_digest(tx: &Tx<'_>, key: &[u8]) -> String {
    let mut sig = [0u8; 20];
    if let Some(entry) = tx.peek_stored_in(tx.db, key) {
        fold_value(&mut sig, entry.value(), has_ttl(entry));
    }
    hex(&sig)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sha1_hex(bytes: &[u8]) -> String {
        let mut sig = [0u8; 20];
        add(&mut sig, bytes);
        hex(&sig)
    }

    #[test]
    fn sha1_is_the_standard_one() {
        assert_eq!(sha1_hex(b"abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
        assert_eq!(sha1_hex(b""), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    }

    #[test]
    fn add_is_orderless_and_chain_is_not() {
        let (mut a, mut b) = ([0u8; 20], [0u8; 20]);
        add(&mut a, b"x");
        add(&mut a, b"y");
        add(&mut b, b"y");
        add(&mut b, b"x");
        assert_eq!(a, b);
        let (mut a, mut b) = ([0u8; 20], [0u8; 20]);
        chain(&mut a, b"x");
        chain(&mut a, b"y");
        chain(&mut b, b"y");
        chain(&mut b, b"x");
        assert_ne!(a, b);
        // Chaining "fo", "obar" differs from "foo", "bar".
        let (mut c, mut d) = ([0u8; 20], [0u8; 20]);
        chain(&mut c, b"fo");
        chain(&mut c, b"obar");
        chain(&mut d, b"foo");
        chain(&mut d, b"bar");
        assert_ne!(c, d);
    }

    #[test]
    fn ttl_changes_the_signature_and_int_strings_digest_as_text() {
        let (mut plain, mut with_ttl) = ([0u8; 20], [0u8; 20]);
        fold_value(&mut plain, &Value::Int(12), false);
        fold_value(&mut with_ttl, &Value::Int(12), true);
        assert_ne!(plain, with_ttl);
        let mut expected = [0u8; 20];
        chain(&mut expected, &0u32.to_be_bytes());
        chain(&mut expected, b"12");
        assert_eq!(plain, expected);
    }
}
