//! Stream entry IDs: a 128-bit number written `<ms>-<seq>`, and the ways
//! clients spell them (`-`, `+`, `<ms>`, `<ms>-*`).

use std::fmt;

/// Longest ID argument accepted (longer ones are invalid, as in Redis).
const MAX_ID_ARG_LEN: usize = 127;
/// Longest text form of an ID: two 20-digit numbers and a dash.
pub const ID_TEXT_MAX: usize = 41;

/// An entry ID. Ordered by milliseconds, then sequence.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamId {
    pub ms: u64,
    pub seq: u64,
}

impl StreamId {
    pub const MIN: StreamId = StreamId { ms: 0, seq: 0 };
    pub const MAX: StreamId = StreamId { ms: u64::MAX, seq: u64::MAX };

    pub const fn new(ms: u64, seq: u64) -> StreamId {
        StreamId { ms, seq }
    }

    pub fn is_zero(self) -> bool {
        self == StreamId::MIN
    }

    /// The following ID, or None past the largest one.
    pub fn next(self) -> Option<StreamId> {
        if self.seq < u64::MAX {
            Some(StreamId::new(self.ms, self.seq + 1))
        } else if self.ms < u64::MAX {
            Some(StreamId::new(self.ms + 1, 0))
        } else {
            None
        }
    }

    /// The preceding ID, or None before 0-0.
    pub fn prev(self) -> Option<StreamId> {
        if self.seq > 0 {
            Some(StreamId::new(self.ms, self.seq - 1))
        } else if self.ms > 0 {
            Some(StreamId::new(self.ms - 1, u64::MAX))
        } else {
            None
        }
    }

    /// The text form, `<ms>-<seq>`.
    pub fn to_bytes(self) -> Vec<u8> {
        let mut buf = [0u8; ID_TEXT_MAX];
        self.write_text(&mut buf).to_vec()
    }

    /// Writes the text form into `buf` without allocating.
    pub fn write_text(self, buf: &mut [u8; ID_TEXT_MAX]) -> &[u8] {
        let mut digits = [0u8; 20];
        let ms = shoal_resp::number::format_u64(&mut digits, self.ms);
        let mut len = ms.len();
        buf[..len].copy_from_slice(ms);
        buf[len] = b'-';
        len += 1;
        let seq = shoal_resp::number::format_u64(&mut digits, self.seq);
        buf[len..len + seq.len()].copy_from_slice(seq);
        &buf[..len + seq.len()]
    }

    /// Big-endian bytes: byte order equals ID order.
    pub fn to_be_bytes(self) -> [u8; 16] {
        let mut out = [0u8; 16];
        out[..8].copy_from_slice(&self.ms.to_be_bytes());
        out[8..].copy_from_slice(&self.seq.to_be_bytes());
        out
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

/// How an ID argument may be written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IdSyntax {
    /// Accept `-` and `+` (the smallest and largest IDs).
    pub allow_special: bool,
    /// Accept `<ms>-*` (sequence left to the server).
    pub allow_auto_seq: bool,
    /// Sequence used when only `<ms>` is given.
    pub missing_seq: u64,
}

impl IdSyntax {
    /// A plain ID: no `-`/`+`, no `<ms>-*`, a missing sequence is 0.
    pub const STRICT: IdSyntax = IdSyntax { allow_special: false, allow_auto_seq: false, missing_seq: 0 };
    /// A range bound: `-`/`+` allowed; a missing sequence is `missing_seq`.
    pub const fn bound(missing_seq: u64) -> IdSyntax {
        IdSyntax { allow_special: true, allow_auto_seq: false, missing_seq }
    }
}

/// A parsed ID argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParsedId {
    pub id: StreamId,
    /// False for `<ms>-*`: the sequence is to be generated.
    pub seq_given: bool,
}

/// Parses an ID argument. None if it is not valid under `syntax`.
pub fn parse_id(arg: &[u8], syntax: IdSyntax) -> Option<ParsedId> {
    if arg.len() > MAX_ID_ARG_LEN {
        return None;
    }
    // Redis reads the argument as a C string: it ends at the first NUL.
    let text = match arg.iter().position(|&b| b == 0) {
        Some(end) => &arg[..end],
        None => arg,
    };
    if text == b"-" || text == b"+" {
        if !syntax.allow_special {
            return None;
        }
        let id = if text == b"-" { StreamId::MIN } else { StreamId::MAX };
        return Some(ParsedId { id, seq_given: true });
    }
    let (ms_part, seq_part) = match text.iter().position(|&b| b == b'-') {
        Some(dash) => (&text[..dash], Some(&text[dash + 1..])),
        None => (text, None),
    };
    let ms = parse_c_u64(ms_part)?;
    match seq_part {
        None => Some(ParsedId { id: StreamId::new(ms, syntax.missing_seq), seq_given: true }),
        Some(b"*") if syntax.allow_auto_seq => Some(ParsedId { id: StreamId::new(ms, 0), seq_given: false }),
        Some(seq) => Some(ParsedId { id: StreamId::new(ms, parse_c_u64(seq)?), seq_given: true }),
    }
}

/// An unsigned 64-bit number as Redis's `string2ull` reads it: a canonical
/// integer, or what C's `strtoull` accepts in full (leading blanks, a sign,
/// leading zeros), rejecting overflow and negative canonical integers.
pub fn parse_c_u64(text: &[u8]) -> Option<u64> {
    if let Some(v) = shoal_resp::number::parse_i64(text) {
        return u64::try_from(v).ok();
    }
    let mut rest = text;
    while let [first, tail @ ..] = rest {
        if matches!(first, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r') {
            rest = tail;
        } else {
            break;
        }
    }
    let mut negative = false;
    if let [sign @ (b'+' | b'-'), tail @ ..] = rest {
        negative = *sign == b'-';
        rest = tail;
    }
    if rest.is_empty() || !rest.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut value: u64 = 0;
    for &digit in rest {
        value = value.checked_mul(10)?.checked_add(u64::from(digit - b'0'))?;
    }
    // strtoull negates in unsigned arithmetic.
    Some(if negative { value.wrapping_neg() } else { value })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strict(arg: &str) -> Option<StreamId> {
        parse_id(arg.as_bytes(), IdSyntax::STRICT).map(|p| p.id)
    }

    #[test]
    fn parses_the_forms_clients_use() {
        assert_eq!(strict("5-3"), Some(StreamId::new(5, 3)));
        assert_eq!(strict("5"), Some(StreamId::new(5, 0)));
        assert_eq!(parse_id(b"5", IdSyntax::bound(u64::MAX)).unwrap().id, StreamId::new(5, u64::MAX));
        assert_eq!(strict("-"), None);
        assert_eq!(parse_id(b"+", IdSyntax::bound(0)).unwrap().id, StreamId::MAX);
        assert_eq!(strict("18446744073709551615-18446744073709551615"), Some(StreamId::MAX));
        assert_eq!(strict("18446744073709551616"), None);
        assert_eq!(strict("-1"), None);
        assert_eq!(strict("1-"), None);
        assert_eq!(strict("abc"), None);
        assert_eq!(strict("007"), Some(StreamId::new(7, 0)));
        assert_eq!(strict(" 7"), Some(StreamId::new(7, 0)));
        assert_eq!(strict("5-*"), None);
        let auto = IdSyntax { allow_auto_seq: true, ..IdSyntax::STRICT };
        assert_eq!(parse_id(b"5-*", auto), Some(ParsedId { id: StreamId::new(5, 0), seq_given: false }));
    }

    #[test]
    fn successor_and_predecessor_wrap_at_the_edges() {
        assert_eq!(StreamId::new(1, u64::MAX).next(), Some(StreamId::new(2, 0)));
        assert_eq!(StreamId::MAX.next(), None);
        assert_eq!(StreamId::new(2, 0).prev(), Some(StreamId::new(1, u64::MAX)));
        assert_eq!(StreamId::MIN.prev(), None);
        assert_eq!(StreamId::new(3, 4).to_string(), "3-4");
        assert_eq!(StreamId::MAX.to_bytes(), b"18446744073709551615-18446744073709551615".to_vec());
    }
}
