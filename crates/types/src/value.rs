//! Values stored under keys, and the string value's encodings.
//!
//! A string is held as an integer (`int`), inline in the value itself when
//! short, in an exact-size box (both reported as `embstr` as Redis would),
//! or in a growable buffer (`raw`, what APPEND and SETRANGE produce). The
//! whole `Value` is 24 bytes.

use crate::bytebuf::ByteBuf;

/// Strings up to this length are stored inside the value.
pub const INLINE_MAX: usize = 22;
/// Redis's limit for the `embstr` encoding.
pub const EMBSTR_MAX: usize = 44;
/// Longest string that may be int-encoded (digits of i64::MIN).
const INT_ENCODABLE_MAX: usize = 20;

/// Short string kept inside the value.
#[derive(Clone, Copy)]
pub struct InlineStr {
    len: u8,
    data: [u8; INLINE_MAX],
}

impl InlineStr {
    fn new(bytes: &[u8]) -> InlineStr {
        debug_assert!(bytes.len() <= INLINE_MAX);
        let mut data = [0u8; INLINE_MAX];
        data[..bytes.len()].copy_from_slice(bytes);
        InlineStr { len: bytes.len() as u8, data }
    }

    fn as_bytes(&self) -> &[u8] {
        &self.data[..self.len as usize]
    }
}

/// What a key holds.
pub enum Value {
    /// A string that is a canonical 64-bit integer.
    Int(i64),
    /// A short string, inline.
    Inline(InlineStr),
    /// A string of exact size that is never modified in place.
    Boxed(Box<[u8]>),
    /// A string that may grow in place.
    Raw(ByteBuf),
    List(crate::list::List),
    Hash(crate::hash::Hash),
    Set(crate::set::Set),
    ZSet(crate::zset::ZSet),
    Stream(Box<crate::stream::Stream>),
}

pub use crate::collection::Collection;

/// Type names as TYPE reports them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueType {
    String,
    List,
    Set,
    ZSet,
    Hash,
    Stream,
}

impl ValueType {
    pub fn name(self) -> &'static str {
        match self {
            ValueType::String => "string",
            ValueType::List => "list",
            ValueType::Set => "set",
            ValueType::ZSet => "zset",
            ValueType::Hash => "hash",
            ValueType::Stream => "stream",
        }
    }

    /// Parses a SCAN TYPE argument (case-insensitive, as Redis).
    pub fn from_name(name: &[u8]) -> Option<ValueType> {
        [ValueType::String, ValueType::List, ValueType::Set, ValueType::ZSet, ValueType::Hash, ValueType::Stream]
            .into_iter()
            .find(|t| t.name().as_bytes().eq_ignore_ascii_case(name))
    }
}

impl Value {
    /// A string value, encoded as SET would encode it: int when the bytes
    /// are a canonical integer, else embstr or raw by length.
    pub fn string(bytes: &[u8]) -> Value {
        if bytes.len() <= INT_ENCODABLE_MAX {
            if let Some(i) = shoal_resp::number::parse_i64(bytes) {
                return Value::Int(i);
            }
        }
        Value::string_verbatim(bytes)
    }

    /// A string value that is never int-encoded (embstr or raw by length).
    pub fn string_verbatim(bytes: &[u8]) -> Value {
        if bytes.len() <= INLINE_MAX {
            Value::Inline(InlineStr::new(bytes))
        } else if bytes.len() <= EMBSTR_MAX {
            Value::Boxed(bytes.into())
        } else {
            Value::Raw(ByteBuf::from(bytes))
        }
    }

    /// Makes this value the string `bytes` as `Value::string` would encode
    /// it, reusing the current buffer when it is a raw string of fitting
    /// capacity (a SET over a large string then costs no allocation).
    /// Returns the replaced value when the buffer could not be reused.
    pub fn assign_string(&mut self, bytes: &[u8]) -> Option<Value> {
        if let Value::Raw(buffer) = self {
            let fits = bytes.len() > EMBSTR_MAX && bytes.len() <= buffer.capacity() && buffer.capacity() <= bytes.len() * 2;
            if fits && shoal_resp::number::parse_i64(bytes).is_none() {
                buffer.truncate(0);
                buffer.extend_from_slice(bytes);
                return None;
            }
        }
        Some(std::mem::replace(self, Value::string(bytes)))
    }

    /// Starts loading the heap memory a string value keeps its bytes in
    /// (nothing for values stored inline).
    #[inline]
    pub fn prefetch(&self) {
        match self {
            Value::Boxed(b) => crate::prefetch::read(b.as_ptr()),
            Value::Raw(b) => b.prefetch(),
            _ => {}
        }
    }

    /// A raw-encoded string (the result of in-place modification).
    pub fn raw(bytes: Vec<u8>) -> Value {
        Value::Raw(ByteBuf::from(bytes))
    }

    pub fn value_type(&self) -> ValueType {
        match self {
            Value::Int(_) | Value::Inline(_) | Value::Boxed(_) | Value::Raw(_) => ValueType::String,
            Value::List(_) => ValueType::List,
            Value::Hash(_) => ValueType::Hash,
            Value::Set(_) => ValueType::Set,
            Value::ZSet(_) => ValueType::ZSet,
            Value::Stream(_) => ValueType::Stream,
        }
    }

    /// The collection behind a non-string value.
    pub fn collection(&self) -> Option<&dyn Collection> {
        match self {
            Value::List(v) => Some(v),
            Value::Hash(v) => Some(v),
            Value::Set(v) => Some(v),
            Value::ZSet(v) => Some(v),
            Value::Stream(v) => Some(v.as_ref()),
            _ => None,
        }
    }

    pub fn is_string(&self) -> bool {
        self.value_type() == ValueType::String
    }

    /// OBJECT ENCODING's answer.
    pub fn encoding(&self) -> &'static str {
        match self {
            Value::Int(_) => "int",
            Value::Inline(_) | Value::Boxed(_) => "embstr",
            Value::Raw(_) => "raw",
            other => other.collection().map_or("unknown", |c| c.encoding()),
        }
    }

    /// The string bytes (integers are formatted into `scratch`).
    /// None for non-string values.
    pub fn string_bytes<'a>(&'a self, scratch: &'a mut [u8; 20]) -> Option<&'a [u8]> {
        match self {
            Value::Int(i) => {
                let len = format_i64(scratch, *i);
                Some(&scratch[..len])
            }
            Value::Inline(s) => Some(s.as_bytes()),
            Value::Boxed(b) => Some(b),
            Value::Raw(v) => Some(v),
            _ => None,
        }
    }

    /// The string bytes as an owned vector.
    pub fn string_to_vec(&self) -> Option<Vec<u8>> {
        let mut scratch = [0u8; 20];
        self.string_bytes(&mut scratch).map(|b| b.to_vec())
    }

    /// Length of the string value (STRLEN), None for other types.
    pub fn string_len(&self) -> Option<usize> {
        let mut scratch = [0u8; 20];
        self.string_bytes(&mut scratch).map(|b| b.len())
    }

    /// The integer a string value holds, if it parses as one.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => {
                let mut scratch = [0u8; 20];
                let bytes = self.string_bytes(&mut scratch)?;
                shoal_resp::number::parse_i64(bytes)
            }
        }
    }

    /// Turns the string into its raw form and returns the buffer to modify.
    /// Panics on a non-string value (callers check the type first).
    pub fn make_raw(&mut self) -> &mut ByteBuf {
        if !matches!(self, Value::Raw(_)) {
            let bytes = self.string_to_vec().expect("make_raw on a non-string value");
            *self = Value::Raw(ByteBuf::from(bytes));
        }
        match self {
            Value::Raw(v) => v,
            _ => unreachable!("just converted to raw"),
        }
    }

    /// Heap bytes owned by the value (for MEMORY USAGE and memory reports).
    pub fn heap_bytes(&self) -> usize {
        match self {
            Value::Int(_) | Value::Inline(_) => 0,
            Value::Boxed(b) => b.len(),
            Value::Raw(v) => v.capacity() + 16,
            other => other.collection().map_or(0, |c| c.heap_bytes()),
        }
    }

    /// A deep copy (COPY).
    pub fn duplicate(&self) -> Value {
        match self {
            Value::Int(i) => Value::Int(*i),
            Value::Inline(s) => Value::Inline(*s),
            Value::Boxed(b) => Value::Boxed(b.clone()),
            Value::Raw(v) => Value::Raw(v.clone()),
            Value::List(v) => Value::List(v.duplicate()),
            Value::Hash(v) => Value::Hash(v.duplicate()),
            Value::Set(v) => Value::Set(v.duplicate()),
            Value::ZSet(v) => Value::ZSet(v.duplicate()),
            Value::Stream(v) => Value::Stream(Box::new(v.duplicate())),
        }
    }
}

fn format_i64(buf: &mut [u8; 20], v: i64) -> usize {
    let mut digits = [0u8; 20];
    let abs = shoal_resp::number::format_u64(&mut digits, v.unsigned_abs());
    let mut len = 0;
    if v < 0 {
        buf[0] = b'-';
        len = 1;
    }
    // i64::MIN has 19 digits plus the sign: fits in 20.
    buf[len..len + abs.len()].copy_from_slice(abs);
    len + abs.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_is_24_bytes() {
        assert_eq!(std::mem::size_of::<Value>(), 24);
    }

    #[test]
    fn encodings_follow_redis() {
        let table: &[(&[u8], &str)] = &[
            (b"123", "int"),
            (b"-9223372036854775808", "int"),
            (b"0123", "embstr"),
            (b"12345678901234567890", "embstr"),
            (b"hello", "embstr"),
            (&[b'x'; 44], "embstr"),
            (&[b'x'; 45], "raw"),
        ];
        for (bytes, encoding) in table {
            let v = Value::string(bytes);
            assert_eq!(v.encoding(), *encoding, "{:?}", String::from_utf8_lossy(bytes));
            assert_eq!(v.string_to_vec().unwrap(), bytes.to_vec());
        }
    }

    #[test]
    fn make_raw_keeps_bytes() {
        let mut v = Value::string(b"42");
        v.make_raw().extend_from_slice(b"x");
        assert_eq!(v.string_to_vec().unwrap(), b"42x");
        assert_eq!(v.encoding(), "raw");
    }
}
