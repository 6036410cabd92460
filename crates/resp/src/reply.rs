//! Reply encoding for RESP2 and RESP3.
//!
//! Handlers describe replies in RESP3 terms (map, set, double, null, bool,
//! verbatim, push); `ReplyBuf` writes the RESP2 equivalent when the client
//! speaks RESP2, exactly as redis-server downgrades them.

use crate::number;

/// The protocol a client negotiated with HELLO.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Protocol {
    #[default]
    Resp2,
    Resp3,
}

/// Aggregate kinds whose length may be written after their elements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Aggregate {
    Array,
    /// `n` pairs; written as an array of 2n in RESP2.
    Map,
    Set,
    /// Redis's attribute type (RESP3 only).
    Attribute,
}

/// A marker for an aggregate header written later with `finish_deferred`.
#[must_use]
pub struct Deferred {
    at: usize,
    kind: Aggregate,
}

/// An output buffer for one client.
#[derive(Default)]
pub struct ReplyBuf {
    pub buf: Vec<u8>,
    pub protocol: Protocol,
}

impl ReplyBuf {
    pub fn new(protocol: Protocol) -> Self {
        ReplyBuf { buf: Vec::with_capacity(512), protocol }
    }

    pub fn resp3(&self) -> bool {
        self.protocol == Protocol::Resp3
    }

    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Removes everything written since `len` (used to replace a reply).
    pub fn truncate(&mut self, len: usize) {
        self.buf.truncate(len);
    }

    pub fn raw(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    pub fn ok(&mut self) {
        self.buf.extend_from_slice(b"+OK\r\n");
    }

    pub fn simple(&mut self, s: &str) {
        self.simple_bytes(s.as_bytes());
    }

    /// A status reply; CR and LF are replaced by spaces as Redis does.
    pub fn simple_bytes(&mut self, s: &[u8]) {
        self.buf.push(b'+');
        self.push_line_safe(s);
        self.buf.extend_from_slice(b"\r\n");
    }

    /// An error reply. `message` must start with the error code
    /// (`ERR ...`, `WRONGTYPE ...`); a leading `-` is tolerated.
    pub fn error(&mut self, message: &str) {
        self.error_bytes(message.as_bytes());
    }

    /// An error reply from raw bytes (messages that quote client input
    /// echo its bytes as they are, as Redis does).
    pub fn error_bytes(&mut self, message: &[u8]) {
        let message = message.strip_prefix(b"-").unwrap_or(message);
        self.buf.push(b'-');
        self.push_line_safe(message);
        self.buf.extend_from_slice(b"\r\n");
    }

    fn push_line_safe(&mut self, s: &[u8]) {
        self.buf.extend(s.iter().map(|&c| if c == b'\r' || c == b'\n' { b' ' } else { c }));
    }

    pub fn int(&mut self, v: i64) {
        self.buf.push(b':');
        number::write_i64(&mut self.buf, v);
        self.buf.extend_from_slice(b"\r\n");
    }

    pub fn bulk(&mut self, data: &[u8]) {
        self.header(b'$', data.len());
        self.buf.extend_from_slice(data);
        self.buf.extend_from_slice(b"\r\n");
    }

    pub fn bulk_str(&mut self, s: &str) {
        self.bulk(s.as_bytes());
    }

    /// A bulk string holding the decimal form of `v`.
    pub fn bulk_i64(&mut self, v: i64) {
        let mut digits = [0u8; 20];
        let abs = number::format_u64(&mut digits, v.unsigned_abs());
        let len = abs.len() + usize::from(v < 0);
        self.header(b'$', len);
        if v < 0 {
            self.buf.push(b'-');
        }
        self.buf.extend_from_slice(abs);
        self.buf.extend_from_slice(b"\r\n");
    }

    /// The null bulk string (`$-1` in RESP2, `_` in RESP3).
    pub fn null(&mut self) {
        if self.resp3() {
            self.buf.extend_from_slice(b"_\r\n");
        } else {
            self.buf.extend_from_slice(b"$-1\r\n");
        }
    }

    /// The null array (`*-1` in RESP2, `_` in RESP3).
    pub fn null_array(&mut self) {
        if self.resp3() {
            self.buf.extend_from_slice(b"_\r\n");
        } else {
            self.buf.extend_from_slice(b"*-1\r\n");
        }
    }

    pub fn array(&mut self, len: usize) {
        self.header(b'*', len);
    }

    /// A map of `pairs` entries (an array of 2 * pairs in RESP2).
    pub fn map(&mut self, pairs: usize) {
        if self.resp3() {
            self.header(b'%', pairs);
        } else {
            self.header(b'*', pairs * 2);
        }
    }

    pub fn set(&mut self, len: usize) {
        let prefix = if self.resp3() { b'~' } else { b'*' };
        self.header(prefix, len);
    }

    /// An out-of-band push message header (an array in RESP2).
    pub fn push(&mut self, len: usize) {
        let prefix = if self.resp3() { b'>' } else { b'*' };
        self.header(prefix, len);
    }

    pub fn attribute(&mut self, pairs: usize) {
        self.header(b'|', pairs);
    }

    /// A double: `%.17g` as a bulk string in RESP2, a `,` reply in RESP3.
    pub fn double(&mut self, d: f64) {
        if self.resp3() {
            self.buf.push(b',');
            if d.is_infinite() {
                self.buf.extend_from_slice(if d > 0.0 { b"inf" } else { b"-inf" });
            } else {
                number::write_f64_g17(&mut self.buf, d);
            }
            self.buf.extend_from_slice(b"\r\n");
        } else {
            let text = number::f64_to_bytes(d);
            self.bulk(&text);
        }
    }

    /// A double already formatted as text (bulk in RESP2, `,` in RESP3).
    pub fn double_text(&mut self, text: &[u8]) {
        if self.resp3() {
            self.buf.push(b',');
            self.buf.extend_from_slice(text);
            self.buf.extend_from_slice(b"\r\n");
        } else {
            self.bulk(text);
        }
    }

    /// A boolean: `:1`/`:0` in RESP2, `#t`/`#f` in RESP3.
    pub fn bool(&mut self, b: bool) {
        if self.resp3() {
            self.buf.extend_from_slice(if b { b"#t\r\n" } else { b"#f\r\n" });
        } else {
            self.buf.extend_from_slice(if b { b":1\r\n" } else { b":0\r\n" });
        }
    }

    /// A verbatim string with a three-letter format (`txt`), bulk in RESP2.
    pub fn verbatim(&mut self, format: &str, text: &[u8]) {
        if self.resp3() {
            debug_assert_eq!(format.len(), 3);
            self.header(b'=', text.len() + 4);
            self.buf.extend_from_slice(format.as_bytes());
            self.buf.push(b':');
            self.buf.extend_from_slice(text);
            self.buf.extend_from_slice(b"\r\n");
        } else {
            self.bulk(text);
        }
    }

    /// A big number (RESP3) or bulk string (RESP2).
    pub fn big_number(&mut self, digits: &[u8]) {
        if self.resp3() {
            self.buf.push(b'(');
            self.buf.extend_from_slice(digits);
            self.buf.extend_from_slice(b"\r\n");
        } else {
            self.bulk(digits);
        }
    }

    /// Starts an aggregate whose length is known only after its elements.
    pub fn begin_deferred(&mut self, kind: Aggregate) -> Deferred {
        Deferred { at: self.buf.len(), kind }
    }

    /// Writes the header of a deferred aggregate with `len` elements
    /// (pairs for maps) in front of the elements written since.
    pub fn finish_deferred(&mut self, deferred: Deferred, len: usize) {
        let mut header = Vec::with_capacity(16);
        let (prefix, count) = match (deferred.kind, self.resp3()) {
            (Aggregate::Array, _) => (b'*', len),
            (Aggregate::Map, true) => (b'%', len),
            (Aggregate::Map, false) => (b'*', len * 2),
            (Aggregate::Set, true) => (b'~', len),
            (Aggregate::Set, false) => (b'*', len),
            (Aggregate::Attribute, _) => (b'|', len),
        };
        header.push(prefix);
        number::write_u64(&mut header, count as u64);
        header.extend_from_slice(b"\r\n");
        self.buf.splice(deferred.at..deferred.at, header);
    }

    fn header(&mut self, prefix: u8, len: usize) {
        self.buf.push(prefix);
        number::write_u64(&mut self.buf, len as u64);
        self.buf.extend_from_slice(b"\r\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn both(f: impl Fn(&mut ReplyBuf)) -> (String, String) {
        let mut two = ReplyBuf::new(Protocol::Resp2);
        let mut three = ReplyBuf::new(Protocol::Resp3);
        f(&mut two);
        f(&mut three);
        (String::from_utf8(two.buf).unwrap(), String::from_utf8(three.buf).unwrap())
    }

    #[test]
    fn downgrades_to_resp2() {
        assert_eq!(both(|r| r.null()), ("$-1\r\n".into(), "_\r\n".into()));
        assert_eq!(both(|r| r.null_array()), ("*-1\r\n".into(), "_\r\n".into()));
        assert_eq!(both(|r| r.map(2)), ("*4\r\n".into(), "%2\r\n".into()));
        assert_eq!(both(|r| r.set(3)), ("*3\r\n".into(), "~3\r\n".into()));
        assert_eq!(both(|r| r.bool(true)), (":1\r\n".into(), "#t\r\n".into()));
        assert_eq!(both(|r| r.double(1.5)), ("$3\r\n1.5\r\n".into(), ",1.5\r\n".into()));
        assert_eq!(both(|r| r.double(f64::INFINITY)), ("$3\r\ninf\r\n".into(), ",inf\r\n".into()));
        assert_eq!(both(|r| r.verbatim("txt", b"hi")), ("$2\r\nhi\r\n".into(), "=6\r\ntxt:hi\r\n".into()));
        assert_eq!(both(|r| r.bulk_i64(-42)), ("$3\r\n-42\r\n".into(), "$3\r\n-42\r\n".into()));
    }

    #[test]
    fn deferred_headers_are_inserted() {
        let (two, three) = both(|r| {
            r.int(7);
            let d = r.begin_deferred(Aggregate::Map);
            r.bulk(b"a");
            r.int(1);
            r.finish_deferred(d, 1);
        });
        assert_eq!(two, ":7\r\n*2\r\n$1\r\na\r\n:1\r\n");
        assert_eq!(three, ":7\r\n%1\r\n$1\r\na\r\n:1\r\n");
    }

    #[test]
    fn errors_and_status_lines_are_sanitised() {
        let (two, _) = both(|r| r.error("ERR bad\r\nthing"));
        assert_eq!(two, "-ERR bad  thing\r\n");
    }
}
