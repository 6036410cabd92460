//! Hash slots: CRC16 (XMODEM) of the key, or of its first non-empty
//! `{hash tag}`, modulo 16384 — the same mapping Redis Cluster uses, so the
//! slots Shoal shards by are the slots clusters migrate.

/// Number of hash slots.
pub const SLOT_COUNT: usize = 16384;

/// Slice-by-16 tables: every command computes at least one slot, and the
/// byte-at-a-time loop showed up in profiles.
static CRC16: crc::Crc<u16, crc::Table<16>> = crc::Crc::<u16, crc::Table<16>>::new(&crc::CRC_16_XMODEM);

/// A hash slot, 0..16384.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Slot(pub u16);

/// The part of `key` that is hashed: the first non-empty `{...}`, else all of it.
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
    fn known_slots() {
        assert_eq!(CRC16.checksum(b"123456789"), 0x31c3);
        assert_eq!(slot_of(b"foo"), Slot(12182));
        assert_eq!(slot_of(b"{user1000}.following"), slot_of(b"user1000"));
        assert_eq!(slot_of(b"foo{}{bar}"), slot_of(b"foo{}{bar}"));
        assert_ne!(slot_of(b"foo{}{bar}"), slot_of(b"bar"));
        assert_eq!(slot_of(b"foo{{bar}}zap"), slot_of(b"{bar"));
        assert_eq!(slot_of(b"foo{bar}{zap}"), slot_of(b"bar"));
    }
}
