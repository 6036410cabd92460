//! Hash slots: CRC16 (XMODEM) of the key, or of its `{hash tag}` (between
//! the first `{` and the next `}`, when not empty), modulo 16384 — the same
//! mapping Redis Cluster uses, so the slots Shoal shards by are the slots
//! clusters migrate.

/// Number of hash slots.
pub const SLOT_COUNT: usize = 16384;

/// Slice-by-16 tables: every command computes at least one slot, and the
/// byte-at-a-time loop showed up in profiles.
static CRC16: crc::Crc<u16, crc::Table<16>> = crc::Crc::<u16, crc::Table<16>>::new(&crc::CRC_16_XMODEM);

/// A hash slot, 0..16384.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Slot(pub u16);

/// The part of `key` that is hashed: what lies between its first `{` and the
/// next `}`, unless that is empty or missing; else all of it.
pub fn hash_tag(key: &[u8]) -> &[u8] {
    if let Some(open) = memchr::memchr(b'{', key) {
        if let Some(len) = memchr::memchr(b'}', &key[open + 1..]) {
            if len > 0 {
                return &key[open + 1..open + 1 + len];
            }
        }
    }
    key
}

/// The slot of `key`.
pub fn slot_of(key: &[u8]) -> Slot {
    Slot(CRC16.checksum(hash_tag(key)) & (SLOT_COUNT as u16 - 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_is_xmodem() {
        // The published check value of CRC-16/XMODEM.
        assert_eq!(CRC16.checksum(b"123456789"), 0x31c3);
    }

    #[test]
    fn known_slots() {
        // CLUSTER KEYSLOT answers of redis-server.
        let reference = [("foo", 12182), ("bar", 5061), ("somekey", 11058), ("hello", 866), ("", 0)];
        for (key, slot) in reference {
            assert_eq!(slot_of(key.as_bytes()), Slot(slot), "{key:?}");
        }
        assert_eq!(slot_of(b"{user1000}.following"), Slot(3443));
        assert_eq!(slot_of(b"foo{}{bar}"), Slot(8363));
    }

    #[test]
    fn hash_tags() {
        // (key, the bytes that are hashed)
        let cases = [
            ("{user1000}.following", "user1000"),
            ("foo{bar}{zap}", "bar"),
            // An empty first tag: the whole key, not the next tag.
            ("foo{}{bar}", "foo{}{bar}"),
            ("{}", "{}"),
            // From the first `{` to the first `}` after it.
            ("foo{{bar}}zap", "{bar"),
            ("foo{bar", "foo{bar"),
            ("foo}bar{", "foo}bar{"),
            ("plain", "plain"),
        ];
        for (key, hashed) in cases {
            assert_eq!(hash_tag(key.as_bytes()), hashed.as_bytes(), "{key:?}");
            assert_eq!(slot_of(key.as_bytes()), slot_of(hashed.as_bytes()), "{key:?}");
        }
    }
}
