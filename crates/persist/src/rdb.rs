//! RDB version 10 encoding.
//!
//! Opcodes and type bytes are part of the file format and never change; the
//! golden test at the bottom pins them.

use shoal_engine::{Entry, ExpireAt, NO_EXPIRE};
use shoal_types::Value;

pub const RDB_VERSION: u32 = 10;

/// Opcodes (file format constants).
pub mod opcode {
    pub const FUNCTION2: u8 = 245;
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
}

/// String encodings after the 0b11 length prefix.
mod encoding {
    pub const INT8: u8 = 0;
    pub const INT16: u8 = 1;
    pub const INT32: u8 = 2;
}

const CRC64: crc::Crc<u64> = crc::Crc::<u64>::new(&crc::CRC_64_REDIS);
static CRC64_ALGORITHM: crc::Crc<u64> = crc::Crc::<u64>::new(&crc::CRC_64_REDIS);

/// The running CRC64 of a file written in pieces.
pub struct Checksum(crc::Digest<'static, u64>);

impl Default for Checksum {
    fn default() -> Checksum {
        Checksum(CRC64_ALGORITHM.digest())
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

/// Builds an RDB file in memory.
pub struct Writer {
    out: Vec<u8>,
}

impl Writer {
    /// Starts a file: magic, version and the usual auxiliary fields.
    pub fn new(redis_version: &str, ctime_secs: i64, used_memory: u64) -> Writer {
        let mut w = Writer { out: Vec::with_capacity(4096) };
        w.out.extend_from_slice(format!("REDIS{RDB_VERSION:04}").as_bytes());
        w.aux(b"redis-ver", redis_version.as_bytes());
        w.aux(b"redis-bits", b"64");
        w.aux(b"ctime", ctime_secs.to_string().as_bytes());
        w.aux(b"used-mem", used_memory.to_string().as_bytes());
        w.aux(b"aof-base", b"0");
        w
    }

    /// A writer for a run of keys in the middle of a file (a snapshot
    /// chunk): no header, no trailer.
    pub fn chunk(out: Vec<u8>) -> Writer {
        Writer { out }
    }

    /// The bytes written so far.
    pub fn into_bytes(self) -> Vec<u8> {
        self.out
    }

    /// Selects the database of the keys that follow (no size hint).
    pub fn select_db_only(&mut self, db: usize) {
        self.out.push(opcode::SELECTDB);
        self.length(db as u64);
    }

    pub fn aux(&mut self, key: &[u8], value: &[u8]) {
        self.out.push(opcode::AUX);
        self.string(key);
        self.string(value);
    }

    /// Starts a database section.
    pub fn select_db(&mut self, db: usize, keys: usize, volatile: usize) {
        self.out.push(opcode::SELECTDB);
        self.length(db as u64);
        self.out.push(opcode::RESIZEDB);
        self.length(keys as u64);
        self.length(volatile as u64);
    }

    /// Writes one key with its expiry. Collection types are not written
    /// yet: their RDB encodings come with RDB persistence (see
    /// ARCHITECTURE.md); until then snapshots hold strings only.
    pub fn entry(&mut self, entry: &Entry) {
        if entry.value().is_string() {
            self.key_value(entry.key(), entry.value(), entry.expire_at());
        }
    }

    /// Number of keys `entry` would write (for RESIZEDB counts).
    pub fn writes(entry: &Entry) -> bool {
        entry.value().is_string()
    }

    pub fn key_value(&mut self, key: &[u8], value: &Value, expire_at: ExpireAt) {
        if expire_at != NO_EXPIRE {
            self.out.push(opcode::EXPIRETIME_MS);
            self.out.extend_from_slice(&expire_at.to_le_bytes());
        }
        match value {
            Value::Int(i) => {
                self.out.push(kind::STRING);
                self.string(key);
                self.integer_string(*i);
            }
            other => {
                let bytes = other.string_to_vec().unwrap_or_default();
                self.out.push(kind::STRING);
                self.string(key);
                self.string(&bytes);
            }
        }
    }

    /// Ends the file with EOF and the CRC64 checksum.
    pub fn finish(mut self) -> Vec<u8> {
        self.out.push(opcode::EOF);
        let checksum = CRC64.checksum(&self.out);
        self.out.extend_from_slice(&checksum.to_le_bytes());
        self.out
    }

    /// RDB length encoding.
    pub fn length(&mut self, n: u64) {
        if n < 1 << 6 {
            self.out.push(n as u8);
        } else if n < 1 << 14 {
            self.out.push(0x40 | (n >> 8) as u8);
            self.out.push(n as u8);
        } else if n <= u32::MAX as u64 {
            self.out.push(0x80);
            self.out.extend_from_slice(&(n as u32).to_be_bytes());
        } else {
            self.out.push(0x81);
            self.out.extend_from_slice(&n.to_be_bytes());
        }
    }

    /// A string, integer-encoded when it is a small canonical integer.
    pub fn string(&mut self, s: &[u8]) {
        if s.len() <= 11 {
            if let Some(i) = shoal_resp_int(s) {
                if self.try_integer(i) {
                    return;
                }
            }
        }
        self.length(s.len() as u64);
        self.out.extend_from_slice(s);
    }

    fn integer_string(&mut self, i: i64) {
        if !self.try_integer(i) {
            self.string(i.to_string().as_bytes());
        }
    }

    fn try_integer(&mut self, i: i64) -> bool {
        if let Ok(v) = i8::try_from(i) {
            self.out.extend_from_slice(&[0xC0 | encoding::INT8, v as u8]);
        } else if let Ok(v) = i16::try_from(i) {
            self.out.push(0xC0 | encoding::INT16);
            self.out.extend_from_slice(&v.to_le_bytes());
        } else if let Ok(v) = i32::try_from(i) {
            self.out.push(0xC0 | encoding::INT32);
            self.out.extend_from_slice(&v.to_le_bytes());
        } else {
            return false;
        }
        true
    }
}

/// A canonical integer string (the same rule Redis uses to int-encode).
fn shoal_resp_int(s: &[u8]) -> Option<i64> {
    let text = std::str::from_utf8(s).ok()?;
    let v: i64 = text.parse().ok()?;
    (v.to_string() == text).then_some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opcodes_and_types_are_stable() {
        assert_eq!(
            [opcode::AUX, opcode::RESIZEDB, opcode::EXPIRETIME_MS, opcode::EXPIRETIME, opcode::SELECTDB, opcode::EOF],
            [250, 251, 252, 253, 254, 255]
        );
        assert_eq!(kind::STRING, 0);
        assert_eq!(CRC64.checksum(b"123456789"), 0xe9c6d914c4b8d9ca);
    }

    #[test]
    fn lengths_and_strings() {
        let mut w = Writer { out: Vec::new() };
        w.length(10);
        w.length(300);
        w.length(70000);
        assert_eq!(w.out, vec![10, 0x41, 0x2c, 0x80, 0, 1, 0x11, 0x70]);
        let mut w = Writer { out: Vec::new() };
        w.string(b"123");
        w.string(b"-1");
        w.string(b"0123");
        assert_eq!(w.out, vec![0xC0, 123, 0xC0, 0xFF, 4, b'0', b'1', b'2', b'3']);
    }

    #[test]
    fn empty_file_layout() {
        let w = Writer::new("7.0.15", 0, 0);
        let bytes = w.finish();
        assert!(bytes.starts_with(b"REDIS0010"));
        assert_eq!(bytes[bytes.len() - 9], opcode::EOF);
        let body = &bytes[..bytes.len() - 8];
        let crc = u64::from_le_bytes(bytes[bytes.len() - 8..].try_into().unwrap());
        assert_eq!(crc, CRC64.checksum(body));
    }
}
