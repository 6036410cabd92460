//! DEBUG DIGEST and DEBUG DIGEST-VALUE: content signatures of the dataset
//! used to compare it before and after an operation (reload, replication).
//! The signature is order-independent: keys are combined by XOR.

use shoal_engine::{Lookup, Tx, NO_EXPIRE};
use siphasher::sip128::{Hasher128, SipHasher13};
use std::hash::Hasher;

const EMPTY: &str = "0000000000000000000000000000000000000000";

fn mix(parts: &[&[u8]]) -> [u8; 20] {
    let mut out = [0u8; 20];
    for (round, chunk) in out.chunks_mut(16).enumerate() {
        let mut h = SipHasher13::new_with_keys(0x5348_4f41_4c00 + round as u64, 0x6469_6765_7374);
        for part in parts {
            h.write_usize(part.len());
            h.write(part);
        }
        let bytes = h.finish128().as_bytes();
        chunk.copy_from_slice(&bytes[..chunk.len()]);
    }
    out
}

fn hex(bytes: &[u8; 20]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Signature of one entry's value and expiry.
fn entry_digest(key: &[u8], entry: &shoal_engine::Entry) -> [u8; 20] {
    let mut contents = Vec::new();
    entry.value().digest(&mut |part: &[u8]| {
        contents.extend_from_slice(&(part.len() as u64).to_le_bytes());
        contents.extend_from_slice(part);
    });
    let kind = entry.value().value_type().name().as_bytes();
    let expire = if entry.expire_at() == NO_EXPIRE { Vec::new() } else { entry.expire_at().to_le_bytes().to_vec() };
    mix(&[key, kind, &contents, &expire])
}

/// DEBUG DIGEST: all databases (every shard must be locked).
pub fn dataset_digest(tx: &mut Tx<'_>) -> String {
    let mut total = [0u8; 20];
    let mut any = false;
    let dbs = tx.engine.db_count();
    for shard in tx.locks.iter() {
        for db in 0..dbs {
            for entry in shard.dbs[db].iter() {
                any = true;
                let d = entry_digest(entry.key(), entry);
                let with_db = mix(&[&d, &(db as u64).to_le_bytes()]);
                total.iter_mut().zip(with_db.iter()).for_each(|(t, x)| *t ^= x);
            }
        }
    }
    if any { hex(&total) } else { EMPTY.to_string() }
}

/// DEBUG DIGEST-VALUE for one key (zeros if absent). As in Redis, the key
/// name is not part of it: a copy has the digest of its original.
pub fn key_digest(tx: &mut Tx<'_>, key: &[u8]) -> String {
    match tx.lookup(key, Lookup::QUIET) {
        Some(entry) => hex(&entry_digest(b"", entry)),
        None => EMPTY.to_string(),
    }
}
