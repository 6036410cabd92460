//! RDB version 10, the format Redis 7.0 writes: one value (`encode`,
//! `decode`, also DUMP/RESTORE's payload in `dump`) and whole files
//! (`file::Writer`, `reader::Reader`, and `check`, which walks a file and
//! reports what it holds or where it is broken).
//!
//! Opcodes and type bytes are part of the file format and never change;
//! the golden test at the bottom pins them.
//!
//! Decoding never trusts a length: every one is checked against the bytes
//! that are left before anything is read or allocated, and every packed
//! encoding (listpack, ziplist, zipmap, intset, stream nodes) is walked
//! completely and checked before it is used, so a corrupt input gives an
//! `Error`, never a panic.

pub mod check;
mod decode;
mod dump;
mod encode;
mod error;
pub mod file;
pub mod input;
mod intset;
mod listpack;
mod lzf;
mod output;
pub mod reader;
mod stream;
mod ziplist;
mod zipmap;

pub use decode::{decode_value, DecodeLimits};
pub use dump::{decode_payload, dump_payload, function_dump_payload, function_restore_codes, verify_payload};
pub use encode::{encode_value, EncodeOptions};
pub use error::Error;
pub use file::{Access, ReplicationAux, Writer};
pub use reader::{EntryBatch, EntryRef, Item, RawEntry, Reader, Step};

/// The version this module writes; it reads 1 to this.
pub const RDB_VERSION: u32 = 10;

/// Opcodes (file format constants).
pub mod opcode {
    pub const FUNCTION2: u8 = 245;
    pub const FUNCTION_PRE_GA: u8 = 246;
    pub const MODULE_AUX: u8 = 247;
    pub const IDLE: u8 = 248;
    pub const FREQ: u8 = 249;
    pub const AUX: u8 = 250;
    pub const RESIZEDB: u8 = 251;
    pub const EXPIRETIME_MS: u8 = 252;
    pub const EXPIRETIME: u8 = 253;
    pub const SELECTDB: u8 = 254;
    pub const EOF: u8 = 255;
}

/// Value type bytes (file format constants).
pub mod kind {
    pub const STRING: u8 = 0;
    pub const LIST: u8 = 1;
    pub const SET: u8 = 2;
    pub const ZSET: u8 = 3;
    pub const HASH: u8 = 4;
    pub const ZSET_2: u8 = 5;
    pub const MODULE: u8 = 6;
    pub const MODULE_2: u8 = 7;
    pub const HASH_ZIPMAP: u8 = 9;
    pub const LIST_ZIPLIST: u8 = 10;
    pub const SET_INTSET: u8 = 11;
    pub const ZSET_ZIPLIST: u8 = 12;
    pub const HASH_ZIPLIST: u8 = 13;
    pub const LIST_QUICKLIST: u8 = 14;
    pub const STREAM_LISTPACKS: u8 = 15;
    pub const HASH_LISTPACK: u8 = 16;
    pub const ZSET_LISTPACK: u8 = 17;
    pub const LIST_QUICKLIST_2: u8 = 18;
    pub const STREAM_LISTPACKS_2: u8 = 19;
}

/// The running CRC64 of a file written in pieces.
pub struct Checksum(Crc64Digest);

impl Default for Checksum {
    fn default() -> Checksum {
        Checksum(CRC64.digest())
    }
}

impl Checksum {
    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    /// The end of a file: EOF, then the checksum of everything before it
    /// (zero when checksums are off, as Redis writes with rdbchecksum no).
    pub fn trailer(mut self, enabled: bool) -> [u8; 9] {
        let mut out = [0u8; 9];
        out[0] = opcode::EOF;
        self.0.update(&out[..1]);
        let sum = if enabled { self.0.finalize() } else { 0 };
        out[1..].copy_from_slice(&sum.to_le_bytes());
        out
    }
}

/// The RDB checksum (CRC-64/Jones, as Redis), computed 16 bytes at a time
/// (a byte-at-a-time table made the checksum most of the work of
/// reading a file).
pub(crate) const CRC64: crc::Crc<u64, crc::Table<16>> = crc::Crc::<u64, crc::Table<16>>::new(&crc::CRC_64_REDIS);

/// A CRC64 being computed over a file read or written in pieces.
pub(crate) type Crc64Digest = crc::Digest<'static, u64, crc::Table<16>>;

/// CRC64 of `bytes` as RDB files and DUMP payloads carry it.
pub fn crc64(bytes: &[u8]) -> u64 {
    CRC64.checksum(bytes)
}

#[cfg(test)]
mod tests;
