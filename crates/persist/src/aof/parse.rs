//! One item of an append-only file, parsed from the start of a buffer:
//! a command as a RESP multibulk of bulk strings
//! (`*<n>\r\n` then `n` times `$<len>\r\n<bytes>\r\n`), or a `#` annotation
//! line (`#TS:<unix seconds>` with `aof-timestamp-enabled`).
//!
//! Stateless and strict: a count or length line must be digits ended by
//! `\r\n`, a bulk must be followed by `\r\n`. Running out of bytes is not an
//! error here (the caller knows whether more will come); anything else is
//! corruption, reported with its offset. Nothing is allocated for a length
//! the input only claims: bulks are sliced from bytes already present.

/// A parsed item, borrowing from the buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum Item<'a> {
    Command(Vec<&'a [u8]>),
    /// The annotation line, `#` included, line end excluded.
    Annotation(&'a [u8]),
}

/// How far parsing got.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome<'a> {
    /// A complete item of `len` bytes.
    Item { item: Item<'a>, len: usize },
    /// The buffer ends inside the item, after `line_ends` of its lines.
    NeedMore { line_ends: u64 },
}

/// Why bytes are not a valid item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Corruption {
    /// A line should start with `prefix`.
    Prefix { expected: u8, got: u8 },
    /// `\r\n` should follow (a number, a bulk); these two bytes did.
    LineEnd([u8; 2]),
    /// A count or length out of range.
    Range(i64),
    /// An annotation line longer than Redis reads (1024 bytes).
    LongAnnotation,
}

impl std::fmt::Display for Corruption {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Corruption::Prefix { expected, got } => {
                write!(f, "Expected prefix '{}', got: '{}'", *expected as char, got.escape_ascii())
            }
            Corruption::LineEnd([a, b]) => write!(f, "Expected \\r\\n, got: {a:02x}{b:02x}"),
            Corruption::Range(n) => write!(f, "Expected a count or length in range, got {n}"),
            Corruption::LongAnnotation => f.write_str("Annotation line too long"),
        }
    }
}

/// Corruption found `at` bytes into the buffer, after `line_ends` complete
/// lines of the item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Corrupt {
    pub at: usize,
    pub line_ends: u64,
    pub what: Corruption,
}

/// Longest annotation line Redis reads, line end included.
pub const ANNOTATION_MAX: usize = 1024;

/// Counts the `\r\n`-ended lines of a partial or broken item (the line
/// numbers redis-check-aof reports).
#[derive(Default)]
struct Cursor {
    pos: usize,
    line_ends: u64,
}

enum Step<T> {
    Done(T),
    More,
    Bad(Corrupt),
}

macro_rules! step {
    ($cursor:ident, $e:expr) => {
        match $e {
            Step::Done(v) => v,
            Step::More => return Ok(Outcome::NeedMore { line_ends: $cursor.line_ends }),
            Step::Bad(c) => return Err(c),
        }
    };
}

impl Cursor {
    fn bad(&self, at: usize, what: Corruption) -> Step<i64> {
        Step::Bad(Corrupt { at, line_ends: self.line_ends, what })
    }

    /// `<prefix><digits>\r\n` (an optional `-` before the digits).
    fn number(&mut self, buf: &[u8], prefix: u8) -> Step<i64> {
        let Some(&first) = buf.get(self.pos) else { return Step::More };
        if first != prefix {
            return self.bad(self.pos, Corruption::Prefix { expected: prefix, got: first });
        }
        let mut at = self.pos + 1;
        let negative = buf.get(at) == Some(&b'-');
        at += usize::from(negative);
        let mut value: i64 = 0;
        while let Some(&digit) = buf.get(at).filter(|b| b.is_ascii_digit()) {
            value = match value.checked_mul(10).and_then(|v| v.checked_add(i64::from(digit - b'0'))) {
                Some(v) => v,
                None => return self.bad(self.pos, Corruption::Range(i64::MAX)),
            };
            at += 1;
        }
        match buf.get(at..at + 2) {
            None if buf.len() - at < 2 && buf[at..].iter().all(|&b| b == b'\r') => return Step::More,
            Some(b"\r\n") => {}
            _ => {
                let got = [buf.get(at).copied().unwrap_or(0), buf.get(at + 1).copied().unwrap_or(0)];
                return self.bad(at, Corruption::LineEnd(got));
            }
        }
        self.pos = at + 2;
        self.line_ends += 1;
        Step::Done(if negative { -value } else { value })
    }

    /// `$<len>\r\n<bytes>\r\n`.
    fn bulk<'a>(&mut self, buf: &'a [u8]) -> Step<&'a [u8]> {
        let start = self.pos;
        let len = match self.number(buf, b'$') {
            Step::Done(len) => len,
            Step::More => return Step::More,
            Step::Bad(c) => return Step::Bad(c),
        };
        let Some(len) = usize::try_from(len).ok().filter(|&l| l <= isize::MAX as usize - 2) else {
            return Step::Bad(Corrupt { at: start, line_ends: self.line_ends, what: Corruption::Range(len) });
        };
        let data = self.pos;
        if buf.len() - data < len + 2 {
            return Step::More;
        }
        let end = &buf[data + len..data + len + 2];
        if end != b"\r\n" {
            return Step::Bad(Corrupt {
                at: data + len,
                line_ends: self.line_ends,
                what: Corruption::LineEnd([end[0], end[1]]),
            });
        }
        self.pos = data + len + 2;
        self.line_ends += 1;
        Step::Done(&buf[data..data + len])
    }
}

/// Parses the item at the start of `buf`. `eof`: no byte will follow
/// `buf` (then an annotation may end without its line end, as Redis reads
/// it).
pub fn parse_item(buf: &[u8], eof: bool) -> Result<Outcome<'_>, Corrupt> {
    match buf.first() {
        None => Ok(Outcome::NeedMore { line_ends: 0 }),
        Some(b'#') => parse_annotation(buf, eof),
        Some(_) => parse_command(buf),
    }
}

fn parse_annotation(buf: &[u8], eof: bool) -> Result<Outcome<'_>, Corrupt> {
    let window = &buf[..buf.len().min(ANNOTATION_MAX)];
    let (len, text_end) = match window.iter().position(|&b| b == b'\n') {
        Some(newline) => (newline + 1, if newline > 0 && buf[newline - 1] == b'\r' { newline - 1 } else { newline }),
        None if buf.len() >= ANNOTATION_MAX => {
            return Err(Corrupt { at: 0, line_ends: 0, what: Corruption::LongAnnotation });
        }
        None if eof => (buf.len(), buf.len()),
        None => return Ok(Outcome::NeedMore { line_ends: 0 }),
    };
    Ok(Outcome::Item { item: Item::Annotation(&buf[..text_end]), len })
}

fn parse_command(buf: &[u8]) -> Result<Outcome<'_>, Corrupt> {
    let mut cursor = Cursor::default();
    let count = step!(cursor, cursor.number(buf, b'*'));
    if count < 1 {
        return Err(Corrupt { at: 0, line_ends: 0, what: Corruption::Range(count) });
    }
    // Each argument takes at least 6 bytes (`$0\r\n\r\n`): never reserve
    // more than the buffer could hold.
    let mut args = Vec::with_capacity((count as usize).min(buf.len() / 6 + 1));
    for _ in 0..count {
        args.push(step!(cursor, cursor.bulk(buf)));
    }
    Ok(Outcome::Item { item: Item::Command(args), len: cursor.pos })
}

/// The time of a `#TS:<seconds>` annotation.
pub fn timestamp(annotation: &[u8]) -> Option<i64> {
    let digits = annotation.strip_prefix(b"#TS:")?;
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// True if a file starting with `head` is an RDB file (an RDB base, or an
/// old single-file AOF with an RDB preamble): it starts with `REDIS`.
pub fn is_rdb(head: &[u8]) -> bool {
    head.starts_with(b"REDIS")
}

#[cfg(test)]
mod tests;
