//! Reading RDB files: the header, then one item at a time.
//!
//! Items are cut out of the input without decoding values: an entry
//! carries its value's type byte and raw bytes, and `RawEntry::decode`
//! builds the value, so a loader can hand entries to other threads.

use std::io::Read;

use shoal_types::Value;

use super::decode::{decode_value, skip_value, DecodeLimits};
use super::error::{Error, Result};
use super::file::Access;
use super::input::Input;
use super::{opcode, CRC64, RDB_VERSION};

/// Bytes asked of the source at least per read.
const READ_CHUNK: usize = 64 * 1024;
/// "REDIS" and four version digits.
const HEADER: usize = 9;

/// One item of a file.
#[derive(Debug)]
pub enum Item {
    Aux { key: Vec<u8>, value: Vec<u8> },
    SelectDb(u64),
    /// Sizing hint for the current database.
    ResizeDb { keys: u64, expires: u64 },
    Entry(RawEntry),
    /// A function library's code (FUNCTION2).
    Function(Vec<u8>),
}

/// A key with its value still in RDB form.
#[derive(Debug)]
pub struct RawEntry {
    /// The database selected when the entry was read.
    pub db: u64,
    pub key: Vec<u8>,
    pub kind: u8,
    pub value: Vec<u8>,
    /// Absolute expiry in milliseconds.
    pub expire_ms: Option<i64>,
    pub access: Access,
}

impl RawEntry {
    /// Builds the value.
    pub fn decode(&self, limits: &DecodeLimits) -> Result<Value> {
        decode_value(self.kind, &mut Input::new(&self.value), limits)
    }
}

/// Reads an RDB file from any source (`&[u8]` included).
pub struct Reader<R: Read> {
    src: R,
    buf: Vec<u8>,
    start: usize,
    source_done: bool,
    digest: crc::Digest<'static, u64>,
    version: u32,
    db: u64,
    finished: bool,
    verify_checksum: bool,
    consumed: usize,
}

enum Parsed {
    Item(Item),
    End,
}

impl<R: Read> Reader<R> {
    /// Reads and checks the header.
    pub fn new(src: R) -> Result<Reader<R>> {
        let mut r = Reader {
            src,
            buf: Vec::new(),
            start: 0,
            source_done: false,
            digest: CRC64.digest(),
            version: 0,
            db: 0,
            finished: false,
            verify_checksum: true,
            consumed: 0,
        };
        while r.buf.len() < HEADER && !r.source_done {
            r.fill()?;
        }
        if r.buf.len() < HEADER || &r.buf[..5] != b"REDIS" {
            return Err(Error::Signature);
        }
        let digits = std::str::from_utf8(&r.buf[5..HEADER]).map_err(|_| Error::Signature)?;
        let version: u32 = digits.parse().map_err(|_| Error::Signature)?;
        if !(1..=RDB_VERSION).contains(&version) {
            return Err(Error::Version(version));
        }
        r.version = version;
        r.consume(HEADER);
        Ok(r)
    }

    /// The file's RDB version.
    pub fn version(&self) -> u32 {
        self.version
    }

    /// `rdbchecksum no` skips the check on load too.
    pub fn set_verify_checksum(&mut self, verify: bool) {
        self.verify_checksum = verify;
    }

    /// Bytes consumed so far (loading progress; at the end, the whole
    /// RDB stream with its checksum).
    pub fn consumed(&self) -> usize {
        self.consumed
    }

    /// The next item; None after the end of the file (whose checksum has
    /// then been checked).
    pub fn next_item(&mut self) -> Result<Option<Item>> {
        if self.finished {
            return Ok(None);
        }
        loop {
            let mut input = Input::new(&self.buf[self.start..]);
            match parse_item(&mut input, self.db) {
                Ok(parsed) => {
                    let used = input.pos();
                    self.consume(used);
                    match parsed {
                        Parsed::Item(item) => {
                            if let Item::SelectDb(db) = item {
                                self.db = db;
                            }
                            return Ok(Some(item));
                        }
                        Parsed::End => {
                            self.check_trailer()?;
                            return Ok(None);
                        }
                    }
                }
                Err(Error::Truncated) if !self.source_done => self.fill()?,
                Err(e) => return Err(e),
            }
        }
    }

    fn check_trailer(&mut self) -> Result<()> {
        self.finished = true;
        // Versions before 5 have no checksum.
        if self.version < 5 {
            return Ok(());
        }
        while self.buf.len() - self.start < 8 && !self.source_done {
            self.fill()?;
        }
        let rest = &self.buf[self.start..];
        if rest.len() < 8 {
            return Err(Error::Truncated);
        }
        let expected = u64::from_le_bytes(rest[..8].try_into().expect("8 bytes"));
        let computed = self.digest.clone().finalize();
        // A zero checksum means the writer had checksums off.
        if self.verify_checksum && expected != 0 && expected != computed {
            return Err(Error::Checksum { expected, computed });
        }
        // Counted, so `consumed` ends where what follows the RDB data
        // starts (an old AOF's commands).
        self.start += 8;
        self.consumed += 8;
        Ok(())
    }

    fn consume(&mut self, n: usize) {
        self.digest.update(&self.buf[self.start..self.start + n]);
        self.start += n;
        self.consumed += n;
    }

    /// Reads more from the source: at least as much as is pending, so a
    /// large item is parsed again only a logarithmic number of times.
    fn fill(&mut self) -> Result<()> {
        if self.start > 0 && self.start >= self.buf.len() / 2 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        let want = READ_CHUNK.max(self.buf.len() - self.start);
        let old = self.buf.len();
        self.buf.resize(old + want, 0);
        let mut filled = old;
        while filled < self.buf.len() {
            match self.src.read(&mut self.buf[filled..]) {
                Ok(0) => {
                    self.source_done = true;
                    break;
                }
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.buf.truncate(filled);
                    return Err(e.into());
                }
            }
        }
        self.buf.truncate(filled);
        Ok(())
    }
}

/// Parses one item (with the expiry and access opcodes before an entry).
fn parse_item(input: &mut Input<'_>, db: u64) -> Result<Parsed> {
    let mut expire_ms = None;
    let mut access = Access::None;
    loop {
        let op = input.byte()?;
        let item = match op {
            opcode::EXPIRETIME_MS => {
                expire_ms = Some(input.ms_time()?);
                continue;
            }
            opcode::EXPIRETIME => {
                expire_ms = Some(i64::from(i32::from_le_bytes(input.array()?)) * 1000);
                continue;
            }
            opcode::IDLE => {
                access = Access::Idle(input.length()?);
                continue;
            }
            opcode::FREQ => {
                access = Access::Freq(input.byte()?);
                continue;
            }
            opcode::AUX => Item::Aux { key: input.bytes()?.into_owned(), value: input.bytes()?.into_owned() },
            opcode::SELECTDB => Item::SelectDb(input.length()?),
            opcode::RESIZEDB => Item::ResizeDb { keys: input.length()?, expires: input.length()? },
            opcode::FUNCTION2 => Item::Function(input.bytes()?.into_owned()),
            opcode::FUNCTION_PRE_GA => return Err(Error::Corrupt("pre-release function format not supported")),
            opcode::MODULE_AUX => return Err(Error::Module),
            opcode::EOF => return Ok(Parsed::End),
            kind => {
                let key = input.bytes()?.into_owned();
                let mut value_input = input.clone();
                let from = value_input.pos();
                skip_value(kind, &mut value_input)?;
                let len = value_input.pos() - from;
                let value = input.take(len as u64)?.to_vec();
                Item::Entry(RawEntry { db, key, kind, value, expire_ms, access })
            }
        };
        return Ok(Parsed::Item(item));
    }
}
