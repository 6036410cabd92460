//! Reading RDB files: the header, then one item at a time.
//!
//! Items are cut out of the input without decoding values: an entry
//! carries its value's type byte and raw bytes, and `RawEntry::decode`
//! builds the value, so a loader can hand entries to other threads.
//! `Reader::next_into` copies entries into an `EntryBatch` instead: one
//! buffer for many keys, so a loader does not allocate per key.

use std::borrow::Cow;
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

/// An entry whose bytes are borrowed: from the reader's buffer while it
/// is cut out, from an `EntryBatch` afterwards.
#[derive(Debug, Clone, Copy)]
pub struct EntryRef<'a> {
    /// The database selected when the entry was read.
    pub db: u64,
    pub key: &'a [u8],
    pub kind: u8,
    pub value: &'a [u8],
    /// Absolute expiry in milliseconds.
    pub expire_ms: Option<i64>,
    pub access: Access,
}

impl EntryRef<'_> {
    /// Builds the value.
    pub fn decode(&self, limits: &DecodeLimits) -> Result<Value> {
        decode_value(self.kind, &mut Input::new(self.value), limits)
    }
}

/// Entries whose keys and values share one buffer. Cleared, it keeps
/// its allocations for the next batch.
#[derive(Debug, Default)]
pub struct EntryBatch {
    bytes: Vec<u8>,
    entries: Vec<Batched>,
}

/// Where an entry's key and value end in the batch's buffer (each starts
/// where the one before it ends).
#[derive(Debug)]
struct Batched {
    db: u64,
    kind: u8,
    key_end: usize,
    value_end: usize,
    expire_ms: Option<i64>,
    access: Access,
}

impl EntryBatch {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Bytes of keys and values held.
    pub fn byte_len(&self) -> usize {
        self.bytes.len()
    }

    pub fn clear(&mut self) {
        self.bytes.clear();
        self.entries.clear();
    }

    pub fn push(&mut self, entry: &EntryRef<'_>) {
        self.bytes.extend_from_slice(entry.key);
        let key_end = self.bytes.len();
        self.bytes.extend_from_slice(entry.value);
        self.entries.push(Batched {
            db: entry.db,
            kind: entry.kind,
            key_end,
            value_end: self.bytes.len(),
            expire_ms: entry.expire_ms,
            access: entry.access,
        });
    }

    pub fn iter(&self) -> impl Iterator<Item = EntryRef<'_>> + '_ {
        let mut start = 0;
        self.entries.iter().map(move |e| {
            let key = &self.bytes[start..e.key_end];
            start = e.value_end;
            EntryRef {
                db: e.db,
                key,
                kind: e.kind,
                value: &self.bytes[e.key_end..e.value_end],
                expire_ms: e.expire_ms,
                access: e.access,
            }
        })
    }
}

/// What `Reader::next_into` read.
#[derive(Debug)]
pub enum Step {
    /// An entry, now the batch's last.
    Batched,
    Item(Item),
}

/// Reads an RDB file from any source (`&[u8]` included).
pub struct Reader<R: Read> {
    src: R,
    buf: Vec<u8>,
    start: usize,
    source_done: bool,
    digest: super::Crc64Digest,
    version: u32,
    db: u64,
    finished: bool,
    verify_checksum: bool,
    consumed: usize,
    stored_checksum: Option<u64>,
}

enum Parsed<'a> {
    Item(Item),
    Entry { key: Cow<'a, [u8]>, kind: u8, value: &'a [u8], expire_ms: Option<i64>, access: Access },
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
            stored_checksum: None,
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

    /// Bytes consumed so far (for loading progress); after the end, the
    /// size of the RDB data including its checksum.
    pub fn consumed(&self) -> usize {
        self.consumed
    }

    /// The checksum the file ends with, once the end was read (zero:
    /// written with checksums off); None before, or for versions before
    /// 5, which have none.
    pub fn stored_checksum(&self) -> Option<u64> {
        self.stored_checksum
    }

    /// The next item; None after the end of the file (whose checksum has
    /// then been checked).
    pub fn next_item(&mut self) -> Result<Option<Item>> {
        Ok(self
            .step(|entry| RawEntry {
                db: entry.db,
                key: entry.key.to_vec(),
                kind: entry.kind,
                value: entry.value.to_vec(),
                expire_ms: entry.expire_ms,
                access: entry.access,
            })?
            .map(|step| match step {
                Ok(item) => item,
                Err(entry) => Item::Entry(entry),
            }))
    }

    /// The next item, an entry being copied into `batch` rather than
    /// returned; None after the end of the file.
    pub fn next_into(&mut self, batch: &mut EntryBatch) -> Result<Option<Step>> {
        Ok(self.step(|entry| batch.push(&entry))?.map(|step| match step {
            Ok(item) => Step::Item(item),
            Err(()) => Step::Batched,
        }))
    }

    /// Cuts out the next item; an entry is passed to `on_entry` while it
    /// still borrows the buffer, and what that returns comes back as Err.
    fn step<T>(&mut self, mut on_entry: impl FnMut(EntryRef<'_>) -> T) -> Result<Option<std::result::Result<Item, T>>> {
        if self.finished {
            return Ok(None);
        }
        loop {
            let mut input = Input::new(&self.buf[self.start..]);
            match parse_item(&mut input) {
                Ok(parsed) => {
                    let used = input.pos();
                    let step = match parsed {
                        Parsed::Item(item) => {
                            if let Item::SelectDb(db) = item {
                                self.db = db;
                            }
                            Ok(item)
                        }
                        Parsed::Entry { key, kind, value, expire_ms, access } => {
                            Err(on_entry(EntryRef { db: self.db, key: &key, kind, value, expire_ms, access }))
                        }
                        Parsed::End => {
                            self.consume(used);
                            self.check_trailer()?;
                            return Ok(None);
                        }
                    };
                    self.consume(used);
                    return Ok(Some(step));
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
        self.stored_checksum = Some(expected);
        // A zero checksum means the writer had checksums off.
        if self.verify_checksum && expected != 0 && expected != computed {
            return Err(Error::Checksum { expected, computed });
        }
        self.consume(8);
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
fn parse_item<'a>(input: &mut Input<'a>) -> Result<Parsed<'a>> {
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
                let key = input.bytes()?;
                let mut value_input = input.clone();
                let from = value_input.pos();
                skip_value(kind, &mut value_input)?;
                let len = value_input.pos() - from;
                let value = input.take(len as u64)?;
                return Ok(Parsed::Entry { key, kind, value, expire_ms, access });
            }
        };
        return Ok(Parsed::Item(item));
    }
}
