//! Keyed hashing for every table that holds client-chosen strings.
//!
//! SipHash-1-3 with a per-process random key: an attacker who picks keys
//! cannot aim them at one bucket. Tests can fix the key for repeatability.

use std::hash::Hasher;
use std::sync::OnceLock;

use siphasher::sip::SipHasher13;

static KEY: OnceLock<(u64, u64)> = OnceLock::new();

/// Sets the process-wide hash key. Only the first call has an effect; it
/// must come before any table is used if repeatable layouts are wanted.
pub fn set_hash_key(k0: u64, k1: u64) {
    let _ = KEY.set((k0, k1));
}

fn key() -> (u64, u64) {
    *KEY.get_or_init(|| (rand::random(), rand::random()))
}

/// The 64-bit keyed hash of `bytes`.
#[inline]
pub fn hash_bytes(bytes: &[u8]) -> u64 {
    let (k0, k1) = key();
    let mut h = SipHasher13::new_with_keys(k0, k1);
    h.write(bytes);
    h.finish()
}
