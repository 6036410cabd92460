//! Reading RDB primitives from a byte slice, every length checked against
//! what is left.

use std::borrow::Cow;

use super::error::{Error, Result};

/// Most bytes one LZF input byte can expand to (a 3-byte back reference
/// copies up to 264 bytes): a claimed length above this is corrupt.
const LZF_MAX_RATIO: u64 = 88;

/// Length prefixes (the top two bits of the first byte).
const LEN_6BIT: u8 = 0;
const LEN_14BIT: u8 = 1;
const LEN_ENCODED: u8 = 3;
const LEN_32BIT: u8 = 0x80;
const LEN_64BIT: u8 = 0x81;

/// Special string encodings after a `LEN_ENCODED` prefix.
pub(crate) const ENC_INT8: u8 = 0;
pub(crate) const ENC_INT16: u8 = 1;
pub(crate) const ENC_INT32: u8 = 2;
pub(crate) const ENC_LZF: u8 = 3;

/// A string as stored: integer-encoded or bytes.
pub(crate) enum Str<'a> {
    Int(i64),
    Bytes(Cow<'a, [u8]>),
}

/// A cursor over RDB bytes.
#[derive(Clone)]
pub struct Input<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Input<'a> {
    pub fn new(data: &'a [u8]) -> Input<'a> {
        Input { data, pos: 0 }
    }

    pub fn pos(&self) -> usize {
        self.pos
    }

    pub fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    pub fn byte(&mut self) -> Result<u8> {
        let b = *self.data.get(self.pos).ok_or(Error::Truncated)?;
        self.pos += 1;
        Ok(b)
    }

    /// The next `n` bytes (fails before reading when fewer are left).
    pub fn take(&mut self, n: u64) -> Result<&'a [u8]> {
        if n > self.remaining() as u64 {
            return Err(Error::Truncated);
        }
        let n = n as usize;
        let bytes = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(bytes)
    }

    pub fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        Ok(self.take(N as u64)?.try_into().expect("took N bytes"))
    }

    /// A millisecond time (8 bytes little-endian).
    pub fn ms_time(&mut self) -> Result<i64> {
        Ok(i64::from_le_bytes(self.array()?))
    }

    /// An RDB length, or the special-encoding marker: (value, encoded).
    fn length_or_encoding(&mut self) -> Result<(u64, bool)> {
        let first = self.byte()?;
        match first >> 6 {
            LEN_6BIT => Ok((u64::from(first & 0x3f), false)),
            LEN_14BIT => Ok(((u64::from(first & 0x3f) << 8) | u64::from(self.byte()?), false)),
            LEN_ENCODED => Ok((u64::from(first & 0x3f), true)),
            _ => match first {
                LEN_32BIT => Ok((u64::from(u32::from_be_bytes(self.array()?)), false)),
                LEN_64BIT => Ok((u64::from_be_bytes(self.array()?), false)),
                _ => Err(Error::Corrupt("unknown length encoding")),
            },
        }
    }

    /// An RDB length.
    pub fn length(&mut self) -> Result<u64> {
        match self.length_or_encoding()? {
            (n, false) => Ok(n),
            (_, true) => Err(Error::Corrupt("encoded value where a length was expected")),
        }
    }

    /// A count of items each taking at least `min_bytes`, refused when the
    /// input cannot hold that many (so it can size an allocation).
    pub fn count(&mut self, min_bytes: u64) -> Result<usize> {
        let n = self.length()?;
        if n.saturating_mul(min_bytes) > self.remaining() as u64 {
            return Err(Error::Truncated);
        }
        Ok(n as usize)
    }

    /// A string in any of its encodings.
    pub(crate) fn str(&mut self) -> Result<Str<'a>> {
        let (n, encoded) = self.length_or_encoding()?;
        if !encoded {
            return Ok(Str::Bytes(Cow::Borrowed(self.take(n)?)));
        }
        match n as u8 {
            ENC_INT8 => Ok(Str::Int(i64::from(self.byte()? as i8))),
            ENC_INT16 => Ok(Str::Int(i64::from(i16::from_le_bytes(self.array()?)))),
            ENC_INT32 => Ok(Str::Int(i64::from(i32::from_le_bytes(self.array()?)))),
            ENC_LZF => Ok(Str::Bytes(Cow::Owned(self.lzf()?))),
            _ => Err(Error::Corrupt("unknown string encoding")),
        }
    }

    fn lzf(&mut self) -> Result<Vec<u8>> {
        let compressed_len = self.length()?;
        let len = self.length()?;
        let compressed = self.take(compressed_len)?;
        if len == 0 {
            return Ok(Vec::new());
        }
        if len > compressed_len.saturating_mul(LZF_MAX_RATIO) {
            return Err(Error::Corrupt("invalid LZF compressed string"));
        }
        match lzf::decompress(compressed, len as usize) {
            Ok(out) if out.len() as u64 == len => Ok(out),
            _ => Err(Error::Corrupt("invalid LZF compressed string")),
        }
    }

    /// A string's bytes (integers in decimal).
    pub fn bytes(&mut self) -> Result<Cow<'a, [u8]>> {
        Ok(match self.str()? {
            Str::Int(v) => Cow::Owned(v.to_string().into_bytes()),
            Str::Bytes(b) => b,
        })
    }

    /// Skips a string without decompressing it.
    pub fn skip_string(&mut self) -> Result<()> {
        let (n, encoded) = self.length_or_encoding()?;
        if !encoded {
            self.take(n)?;
            return Ok(());
        }
        match n as u8 {
            ENC_INT8 => self.take(1).map(drop),
            ENC_INT16 => self.take(2).map(drop),
            ENC_INT32 => self.take(4).map(drop),
            ENC_LZF => {
                let compressed_len = self.length()?;
                self.length()?;
                self.take(compressed_len).map(drop)
            }
            _ => Err(Error::Corrupt("unknown string encoding")),
        }
    }

    /// A double in binary (8 bytes little-endian).
    pub fn binary_double(&mut self) -> Result<f64> {
        Ok(f64::from_le_bytes(self.array()?))
    }

    /// A double in the old text form: a length byte (253 NaN, 254 +inf,
    /// 255 -inf) then that many ASCII bytes.
    pub fn text_double(&mut self) -> Result<f64> {
        match self.byte()? {
            253 => Ok(f64::NAN),
            254 => Ok(f64::INFINITY),
            255 => Ok(f64::NEG_INFINITY),
            n => {
                let text = self.take(u64::from(n))?;
                parse_double(text).ok_or(Error::Corrupt("invalid double"))
            }
        }
    }
}

/// Parses a score as Redis's strtod accepts it (NaN refused).
pub(crate) fn parse_double(text: &[u8]) -> Option<f64> {
    shoal_resp::number::parse_f64(text).filter(|v| !v.is_nan())
}
