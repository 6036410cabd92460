//! Parsing of complete RESP2/RESP3 values, as a client sees replies.
//!
//! Used by the test clients, the differential harness, replication links and
//! script bridges. Nesting is bounded and lengths are checked against the
//! bytes actually present before anything is allocated for them.

/// Deepest nesting accepted (Redis replies nest a handful of levels).
pub const MAX_NESTING: usize = 128;

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Simple(Vec<u8>),
    Error(Vec<u8>),
    Int(i64),
    Bulk(Vec<u8>),
    Null,
    NullArray,
    Array(Vec<Value>),
    Map(Vec<(Value, Value)>),
    Set(Vec<Value>),
    Attribute(Vec<(Value, Value)>),
    Push(Vec<Value>),
    Double(Vec<u8>),
    Bool(bool),
    Verbatim(Vec<u8>),
    BigNumber(Vec<u8>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValueError(pub &'static str);

/// Parses one value at the start of `buf`: Ok(None) if incomplete, else the
/// value and the bytes it took.
pub fn parse_value(buf: &[u8]) -> Result<Option<(Value, usize)>, ValueError> {
    let mut pos = 0;
    match parse_at(buf, &mut pos, 0)? {
        Some(v) => Ok(Some((v, pos))),
        None => Ok(None),
    }
}

fn line(buf: &[u8], pos: &mut usize) -> Option<std::ops::Range<usize>> {
    let start = *pos;
    let rel = memchr::memchr(b'\n', &buf[start..])?;
    let end = start + rel;
    if end == start || buf[end - 1] != b'\r' {
        // A bare LF: accept it as the terminator all the same.
        *pos = end + 1;
        return Some(start..end);
    }
    *pos = end + 1;
    Some(start..end - 1)
}

fn parse_len(bytes: &[u8]) -> Result<i64, ValueError> {
    crate::number::parse_i64(bytes).ok_or(ValueError("bad length"))
}

fn parse_at(buf: &[u8], pos: &mut usize, depth: usize) -> Result<Option<Value>, ValueError> {
    if depth > MAX_NESTING {
        return Err(ValueError("nesting too deep"));
    }
    if *pos >= buf.len() {
        return Ok(None);
    }
    let kind = buf[*pos];
    *pos += 1;
    let Some(range) = line(buf, pos) else { return Ok(None) };
    let text = &buf[range];
    let value = match kind {
        b'+' => Value::Simple(text.to_vec()),
        b'-' => Value::Error(text.to_vec()),
        b':' => Value::Int(parse_len(text)?),
        b',' => Value::Double(text.to_vec()),
        b'(' => Value::BigNumber(text.to_vec()),
        b'#' => match text {
            b"t" => Value::Bool(true),
            b"f" => Value::Bool(false),
            _ => return Err(ValueError("bad boolean")),
        },
        b'_' => Value::Null,
        b'$' | b'=' | b'!' => {
            let len = parse_len(text)?;
            if len < 0 {
                return Ok(Some(Value::Null));
            }
            let len = len as usize;
            if buf.len() < *pos + len + 2 {
                return Ok(None);
            }
            let data = buf[*pos..*pos + len].to_vec();
            *pos += len + 2;
            match kind {
                b'$' => Value::Bulk(data),
                b'=' => Value::Verbatim(data),
                _ => Value::Error(data),
            }
        }
        b'*' | b'~' | b'>' => {
            let len = parse_len(text)?;
            if len < 0 {
                return Ok(Some(Value::NullArray));
            }
            let Some(items) = parse_items(buf, pos, len as usize, depth)? else { return Ok(None) };
            match kind {
                b'*' => Value::Array(items),
                b'~' => Value::Set(items),
                _ => Value::Push(items),
            }
        }
        b'%' | b'|' => {
            let len = parse_len(text)?;
            if len < 0 {
                return Err(ValueError("negative map length"));
            }
            let Some(items) = parse_items(buf, pos, (len as usize).saturating_mul(2), depth)? else {
                return Ok(None);
            };
            let mut pairs = Vec::with_capacity(items.len() / 2);
            let mut it = items.into_iter();
            while let (Some(k), Some(v)) = (it.next(), it.next()) {
                pairs.push((k, v));
            }
            if kind == b'%' {
                Value::Map(pairs)
            } else {
                Value::Attribute(pairs)
            }
        }
        _ => return Err(ValueError("unknown type byte")),
    };
    Ok(Some(value))
}

fn parse_items(
    buf: &[u8],
    pos: &mut usize,
    count: usize,
    depth: usize,
) -> Result<Option<Vec<Value>>, ValueError> {
    // Every element takes at least 3 bytes: never reserve more than could be present.
    let mut items = Vec::with_capacity(count.min((buf.len() - *pos) / 3 + 1));
    for _ in 0..count {
        match parse_at(buf, pos, depth + 1)? {
            Some(v) => items.push(v),
            None => return Ok(None),
        }
    }
    Ok(Some(items))
}

impl Value {
    /// Encodes the value back to RESP (RESP3 types kept as they are).
    pub fn encode(&self, out: &mut Vec<u8>) {
        fn header(out: &mut Vec<u8>, prefix: u8, n: usize) {
            out.push(prefix);
            out.extend_from_slice(n.to_string().as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        fn line(out: &mut Vec<u8>, prefix: u8, text: &[u8]) {
            out.push(prefix);
            out.extend_from_slice(text);
            out.extend_from_slice(b"\r\n");
        }
        match self {
            Value::Simple(s) => line(out, b'+', s),
            Value::Error(s) => line(out, b'-', s),
            Value::Int(i) => line(out, b':', i.to_string().as_bytes()),
            Value::Bulk(b) | Value::Verbatim(b) => {
                header(out, if matches!(self, Value::Bulk(_)) { b'$' } else { b'=' }, b.len());
                out.extend_from_slice(b);
                out.extend_from_slice(b"\r\n");
            }
            Value::Null => out.extend_from_slice(b"_\r\n"),
            Value::NullArray => out.extend_from_slice(b"*-1\r\n"),
            Value::Array(items) | Value::Set(items) | Value::Push(items) => {
                let prefix = match self {
                    Value::Array(_) => b'*',
                    Value::Set(_) => b'~',
                    _ => b'>',
                };
                header(out, prefix, items.len());
                items.iter().for_each(|v| v.encode(out));
            }
            Value::Map(pairs) | Value::Attribute(pairs) => {
                header(out, if matches!(self, Value::Map(_)) { b'%' } else { b'|' }, pairs.len());
                for (k, v) in pairs {
                    k.encode(out);
                    v.encode(out);
                }
            }
            Value::Double(d) => line(out, b',', d),
            Value::Bool(b) => line(out, b'#', if *b { b"t" } else { b"f" }),
            Value::BigNumber(n) => line(out, b'(', n),
        }
    }

    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Simple(b) | Value::Bulk(b) | Value::Verbatim(b) | Value::Double(b) => Some(b),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let inputs: &[&[u8]] = &[
            b"+OK\r\n",
            b"-ERR x\r\n",
            b":-5\r\n",
            b"$3\r\nfoo\r\n",
            b"*2\r\n$1\r\na\r\n:1\r\n",
            b"%1\r\n+k\r\n,1.5\r\n",
            b"~1\r\n#t\r\n",
            b"_\r\n",
            b">2\r\n+message\r\n$1\r\nx\r\n",
        ];
        for input in inputs {
            let (v, used) = parse_value(input).unwrap().unwrap();
            assert_eq!(used, input.len());
            let mut out = Vec::new();
            v.encode(&mut out);
            assert_eq!(&out[..], *input);
        }
    }

    #[test]
    fn incomplete_and_bad_input() {
        assert_eq!(parse_value(b"$5\r\nab").unwrap(), None);
        assert_eq!(parse_value(b"*2\r\n:1\r\n").unwrap(), None);
        assert!(parse_value(b"?\r\n").is_err());
        // A huge claimed array with no elements allocates nothing big.
        assert_eq!(parse_value(b"*2000000000\r\n").unwrap(), None);
        let deep = "*1\r\n".repeat(200);
        assert!(parse_value(deep.as_bytes()).is_err());
    }
}
