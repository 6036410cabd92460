//! Reading an append-only file command by command, as it is loaded: from
//! any `io::Read` (a file positioned after an RDB preamble, a byte slice),
//! a chunk at a time, keeping only the bytes of the item being parsed.
//!
//! The reader tells apart the two ways a file can be bad, which loading
//! treats differently:
//! - a *truncated* tail: the input ends inside a command, or inside a
//!   MULTI ... EXEC block (whose commands are only applied at EXEC). With
//!   `aof-load-truncated` the loader cuts the file at `valid_up_to` and
//!   goes on; the block's queued commands are dropped.
//! - *corruption*: bytes that are not a command where one must start or
//!   continue, a stray EXEC or a nested MULTI; loading fails, with the
//!   offset of the bad bytes.
//!
//! `#` annotations are returned for the caller to use or skip (the loader
//! skips them; redis-check-aof's `--truncate-to-timestamp` reads `#TS:`).

use std::io::{self, Read};

use super::parse::{self, Corruption, Item, Outcome};

/// An item read from the file, with owned bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Entry {
    Command(Vec<Vec<u8>>),
    Annotation(Vec<u8>),
}

/// Why reading stopped before the end of the input.
#[derive(Debug)]
pub enum ReadError {
    Io(io::Error),
    /// The input ends inside a command or a MULTI block. `valid_up_to` is
    /// the end of the last command outside a block (where to cut), `at`
    /// the start of the incomplete command, `line` its line (1-based).
    Truncated {
        valid_up_to: u64,
        at: u64,
        line: u64,
    },
    /// Not a valid AOF at `at` (line `line`); `item_start` is where the
    /// bad item began and `valid_up_to` the last point that can be kept.
    Corrupt {
        at: u64,
        line: u64,
        item_start: u64,
        valid_up_to: u64,
        what: CorruptWhat,
    },
}

/// What is wrong with corrupt input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CorruptWhat {
    Format(Corruption),
    UnexpectedMulti,
    UnexpectedExec,
}

impl std::fmt::Display for CorruptWhat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CorruptWhat::Format(c) => c.fmt(f),
            CorruptWhat::UnexpectedMulti => f.write_str("Unexpected MULTI"),
            CorruptWhat::UnexpectedExec => f.write_str("Unexpected EXEC"),
        }
    }
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::Io(e) => write!(f, "read error: {e}"),
            ReadError::Truncated { at, .. } => write!(f, "unexpected end of file (truncated at offset {at})"),
            ReadError::Corrupt { at, line, what, .. } => write!(f, "bad format at offset {at} (line {line}): {what}"),
        }
    }
}

impl std::error::Error for ReadError {}

impl From<io::Error> for ReadError {
    fn from(e: io::Error) -> Self {
        ReadError::Io(e)
    }
}

const CHUNK: usize = 64 * 1024;

/// Reads the items of an AOF from `source`.
pub struct AofReader<R> {
    source: R,
    buf: Vec<u8>,
    /// Index in `buf` of the next item.
    start: usize,
    /// File offset of `buf[start]`.
    offset: u64,
    eof: bool,
    /// Line number (1-based, counting `\r\n`-ended lines of commands, as
    /// redis-check-aof does) at `offset`.
    line: u64,
    /// Offset of the MULTI of the open block, if any.
    multi_at: Option<u64>,
    /// End of the last command outside a MULTI block.
    valid_up_to: u64,
}

impl<R: Read> AofReader<R> {
    /// Reads from `source`, whose first byte is at `offset` in the file
    /// (0, or the end of an RDB preamble).
    pub fn new(source: R, offset: u64) -> AofReader<R> {
        AofReader {
            source,
            buf: Vec::new(),
            start: 0,
            offset,
            eof: false,
            line: 1,
            multi_at: None,
            valid_up_to: offset,
        }
    }

    /// Offset just after the last complete item.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Offset after the last command outside a MULTI block: where a
    /// truncated file is cut.
    pub fn valid_up_to(&self) -> u64 {
        self.valid_up_to
    }

    /// The current line number (1-based).
    pub fn line(&self) -> u64 {
        self.line
    }

    /// True while inside a MULTI ... EXEC block.
    pub fn in_multi(&self) -> bool {
        self.multi_at.is_some()
    }

    /// The next item, or None at a clean end of the input.
    pub fn next_entry(&mut self) -> Result<Option<Entry>, ReadError> {
        loop {
            let pending = &self.buf[self.start..];
            match parse::parse_item(pending, self.eof) {
                Ok(Outcome::Item { item, len }) => {
                    let entry = match item {
                        Item::Command(args) => Entry::Command(args.iter().map(|a| a.to_vec()).collect()),
                        Item::Annotation(text) => Entry::Annotation(text.to_vec()),
                    };
                    let line_ends = match &entry {
                        Entry::Command(args) => 1 + 2 * args.len() as u64,
                        Entry::Annotation(_) => 0,
                    };
                    let item_start = self.offset;
                    self.start += len;
                    self.offset += len as u64;
                    if let Entry::Command(args) = &entry {
                        self.track_multi(&args[0], item_start)?;
                    }
                    self.line += line_ends;
                    return Ok(Some(entry));
                }
                Ok(Outcome::NeedMore { line_ends }) if self.eof => {
                    if pending.is_empty() {
                        return match self.multi_at {
                            Some(at) => {
                                Err(ReadError::Truncated { valid_up_to: self.valid_up_to, at, line: self.line })
                            }
                            None => Ok(None),
                        };
                    }
                    let line = self.line + line_ends;
                    return Err(ReadError::Truncated { valid_up_to: self.valid_up_to, at: self.offset, line });
                }
                Ok(Outcome::NeedMore { .. }) => self.fill()?,
                Err(c) => {
                    return Err(ReadError::Corrupt {
                        at: self.offset + c.at as u64,
                        line: self.line + c.line_ends,
                        item_start: self.offset,
                        valid_up_to: self.valid_up_to,
                        what: CorruptWhat::Format(c.what),
                    });
                }
            }
        }
    }

    fn track_multi(&mut self, name: &[u8], item_start: u64) -> Result<(), ReadError> {
        let corrupt = |what| ReadError::Corrupt {
            at: item_start,
            line: self.line,
            item_start,
            valid_up_to: self.valid_up_to,
            what,
        };
        if name.eq_ignore_ascii_case(b"multi") {
            if self.multi_at.is_some() {
                return Err(corrupt(CorruptWhat::UnexpectedMulti));
            }
            self.multi_at = Some(item_start);
        } else if name.eq_ignore_ascii_case(b"exec") {
            if self.multi_at.take().is_none() {
                return Err(corrupt(CorruptWhat::UnexpectedExec));
            }
            self.valid_up_to = self.offset;
        } else if self.multi_at.is_none() {
            self.valid_up_to = self.offset;
        }
        Ok(())
    }

    /// Reads another chunk, dropping the bytes already consumed.
    fn fill(&mut self) -> io::Result<()> {
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        let have = self.buf.len();
        self.buf.resize(have + CHUNK, 0);
        let read = loop {
            match self.source.read(&mut self.buf[have..]) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => break other,
            }
        };
        let n = read.inspect_err(|_| self.buf.truncate(have))?;
        self.buf.truncate(have + n);
        self.eof = n == 0;
        Ok(())
    }
}

/// Every command of a complete AOF held in memory (an incr file, or an
/// AOF base), annotations skipped.
pub fn read_all(bytes: &[u8]) -> Result<Vec<Vec<Vec<u8>>>, ReadError> {
    let mut reader = AofReader::new(bytes, 0);
    let mut commands = Vec::new();
    while let Some(entry) = reader.next_entry()? {
        if let Entry::Command(args) = entry {
            commands.push(args);
        }
    }
    Ok(commands)
}

#[cfg(test)]
mod tests;
