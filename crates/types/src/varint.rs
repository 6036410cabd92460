//! LEB128-style unsigned varints (7 bits per byte, low groups first, high
//! bit set on every byte but the last), shared by the compact encodings:
//! packed lists and hashes, compact sets and sorted sets, stream nodes.

/// Longest encoding of a u64.
pub const MAX_LEN: usize = 10;

/// Bytes `n` takes.
#[inline]
pub fn len(mut n: u64) -> usize {
    let mut len = 1;
    while n >= 0x80 {
        n >>= 7;
        len += 1;
    }
    len
}

/// Writes `n` at the start of `out` (which must have `len(n)` bytes) and
/// returns the bytes written.
#[inline]
pub fn write(out: &mut [u8], mut n: u64) -> usize {
    let mut i = 0;
    loop {
        let low = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out[i] = low;
            return i + 1;
        }
        out[i] = low | 0x80;
        i += 1;
    }
}

/// `n` encoded: the buffer and how many of its bytes are used.
#[inline]
pub fn encode(n: u64) -> ([u8; MAX_LEN], usize) {
    let mut buf = [0u8; MAX_LEN];
    let used = write(&mut buf, n);
    (buf, used)
}

/// Decodes the varint at the start of `bytes`: (value, bytes used). None
/// when `bytes` ends, or `MAX_LEN` bytes pass, before its last byte.
#[inline]
pub fn read(bytes: &[u8]) -> Option<(u64, usize)> {
    let mut n = 0u64;
    for (i, &b) in bytes.iter().enumerate().take(MAX_LEN) {
        n |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some((n, i + 1));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_truncation() {
        for n in [0u64, 1, 127, 128, 300, 16_383, 16_384, u32::MAX as u64, u64::MAX] {
            let (buf, used) = encode(n);
            assert_eq!(used, len(n));
            assert_eq!(read(&buf[..used]), Some((n, used)));
            assert_eq!(read(&buf[..used - 1]), None);
        }
        assert_eq!(len(u64::MAX), MAX_LEN);
    }
}
