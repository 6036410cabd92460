//! Bit-level operations on string bytes: the arithmetic behind SETBIT,
//! GETBIT, BITCOUNT, BITPOS, BITOP and BITFIELD.
//!
//! Bits are numbered as Redis numbers them: bit 0 is the most significant
//! bit of the first byte. Integer fields of BITFIELD are stored big-endian
//! in that numbering, at any bit offset. Bytes past the end of a string
//! read as zero everywhere here; writers grow the string first.

/// Unit of a BITCOUNT / BITPOS range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RangeUnit {
    Byte,
    Bit,
}

/// Turns a user range (negative indexes count from the end) into an
/// inclusive bit range inside a string of `len` bytes, as Redis clamps it.
/// None when the range selects nothing.
pub fn resolve_range(len: usize, start: i64, end: i64, unit: RangeUnit) -> Option<(u64, u64)> {
    let total = match unit {
        RangeUnit::Byte => len as i64,
        RangeUnit::Bit => (len as i64).saturating_mul(8),
    };
    let mut start = if start < 0 { total + start } else { start };
    let mut end = if end < 0 { total + end } else { end };
    start = start.max(0);
    end = end.max(0);
    if end >= total {
        end = total - 1;
    }
    if start > end {
        return None;
    }
    let (start, end) = (start as u64, end as u64);
    Some(match unit {
        RangeUnit::Byte => (start * 8, end * 8 + 7),
        RangeUnit::Bit => (start, end),
    })
}

/// The bit at `pos` (0 or 1); bits past the end are 0.
pub fn get_bit(bytes: &[u8], pos: u64) -> u8 {
    (byte_at(bytes, pos / 8) >> (7 - (pos % 8))) & 1
}

/// Sets the bit at `pos` (the string must already cover it) and returns
/// its previous value.
pub fn set_bit(bytes: &mut [u8], pos: u64, on: bool) -> u8 {
    let index = (pos / 8) as usize;
    let mask = 1u8 << (7 - (pos % 8));
    let old = (bytes[index] & mask != 0) as u8;
    if on {
        bytes[index] |= mask;
    } else {
        bytes[index] &= !mask;
    }
    old
}

fn byte_at(bytes: &[u8], index: u64) -> u8 {
    usize::try_from(index).ok().and_then(|i| bytes.get(i)).copied().unwrap_or(0)
}

/// Number of set bits in `bytes`.
pub fn popcount(bytes: &[u8]) -> u64 {
    let mut chunks = bytes.chunks_exact(8);
    let mut count: u64 = 0;
    for chunk in &mut chunks {
        let word = u64::from_ne_bytes(chunk.try_into().expect("chunk of 8"));
        count += u64::from(word.count_ones());
    }
    count + chunks.remainder().iter().map(|b| u64::from(b.count_ones())).sum::<u64>()
}

/// Number of set bits in the inclusive bit range `[first, last]`, which
/// must lie inside `bytes`.
pub fn count_range(bytes: &[u8], first: u64, last: u64) -> u64 {
    let first_byte = (first / 8) as usize;
    let last_byte = (last / 8) as usize;
    let mut count = popcount(&bytes[first_byte..=last_byte]);
    // Remove the bits of the edge bytes that lie outside the range.
    let head_mask = !(0xffu8 >> (first % 8));
    let tail_mask = 0xffu8.checked_shr((last % 8 + 1) as u32).unwrap_or(0);
    count -= u64::from((bytes[first_byte] & head_mask).count_ones());
    count -= u64::from((bytes[last_byte] & tail_mask).count_ones());
    count
}

/// Position of the first bit equal to `one` in the inclusive bit range
/// `[first, last]` (inside `bytes`), or None.
pub fn find_bit(bytes: &[u8], one: bool, first: u64, last: u64) -> Option<u64> {
    let wanted = one as u8;
    let mut pos = first;
    // Leading bits up to a byte boundary.
    while pos <= last && !pos.is_multiple_of(8) {
        if get_bit(bytes, pos) == wanted {
            return Some(pos);
        }
        pos += 1;
    }
    // Whole bytes: skip those made only of the other bit value.
    let whole_end = (last + 1) / 8;
    if pos / 8 < whole_end {
        let region = &bytes[(pos / 8) as usize..whole_end as usize];
        if let Some((index, byte)) = first_interesting_byte(region, one) {
            let inner = if one { byte.leading_zeros() } else { (!byte).leading_zeros() };
            return Some(pos + index as u64 * 8 + u64::from(inner));
        }
        pos = whole_end * 8;
    }
    // Trailing bits of a partial last byte.
    while pos <= last {
        if get_bit(bytes, pos) == wanted {
            return Some(pos);
        }
        pos += 1;
    }
    None
}

/// First byte of `region` that contains a bit equal to `one`, a word at a
/// time over long uniform stretches.
fn first_interesting_byte(region: &[u8], one: bool) -> Option<(usize, u8)> {
    let boring_byte = if one { 0x00 } else { 0xff };
    let boring_word = if one { 0 } else { u64::MAX };
    let mut offset = 0;
    for chunk in region.chunks(8) {
        let uniform = chunk.len() == 8 && u64::from_ne_bytes(chunk.try_into().expect("chunk of 8")) == boring_word;
        if !uniform {
            if let Some(i) = chunk.iter().position(|&b| b != boring_byte) {
                return Some((offset + i, chunk[i]));
            }
        }
        offset += chunk.len();
    }
    None
}

/// BITOP operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BitOp {
    And,
    Or,
    Xor,
    Not,
}

impl BitOp {
    /// Parses the operation name (case-insensitive).
    pub fn parse(name: &[u8]) -> Option<BitOp> {
        [(b"and".as_slice(), BitOp::And), (b"or", BitOp::Or), (b"xor", BitOp::Xor), (b"not", BitOp::Not)]
            .into_iter()
            .find(|(n, _)| name.eq_ignore_ascii_case(n))
            .map(|(_, op)| op)
    }
}

/// Combines the sources byte by byte, shorter ones padded with zeros. The
/// result is as long as the longest source. NOT uses the first source.
pub fn bitop(op: BitOp, sources: &[&[u8]]) -> Vec<u8> {
    let longest = sources.iter().map(|s| s.len()).max().unwrap_or(0);
    let mut out = vec![0u8; longest];
    for (i, source) in sources.iter().enumerate() {
        combine(op, &mut out, source, i == 0);
    }
    out
}

/// One step of BITOP: folds `source` into `out` (zero-filled and as long
/// as the longest source). The first source is copied in (inverted for
/// NOT); later ones are combined, missing bytes counting as zero.
pub fn combine(op: BitOp, out: &mut [u8], source: &[u8], first: bool) {
    if first {
        out[..source.len()].copy_from_slice(source);
        if op == BitOp::Not {
            out.iter_mut().for_each(|b| *b = !*b);
        }
        return;
    }
    match op {
        BitOp::Not => {}
        BitOp::And => {
            out.iter_mut().zip(source.iter()).for_each(|(o, s)| *o &= s);
            out[source.len()..].fill(0);
        }
        BitOp::Or => out.iter_mut().zip(source.iter()).for_each(|(o, s)| *o |= s),
        BitOp::Xor => out.iter_mut().zip(source.iter()).for_each(|(o, s)| *o ^= s),
    }
}

/// Widest BITFIELD field.
pub const FIELD_MAX_BITS: u32 = 64;
/// Bytes a field of up to 64 bits can span at any bit offset.
const FIELD_MAX_SPAN: u64 = 9;

/// Reads the unsigned `bits`-wide field at bit `offset` (1..=64 bits).
pub fn get_unsigned(bytes: &[u8], offset: u64, bits: u32) -> u64 {
    debug_assert!((1..=FIELD_MAX_BITS).contains(&bits));
    let first = offset / 8;
    let shift = (offset % 8) as u32;
    // The field lies within 9 bytes starting at `first`: load them as one
    // big-endian 72-bit window.
    let mut window: u128 = 0;
    for i in 0..FIELD_MAX_SPAN {
        window = (window << 8) | u128::from(byte_at(bytes, first + i));
    }
    let below = 72 - shift - bits;
    ((window >> below) & field_mask(bits)) as u64
}

/// Reads a signed (two's complement) field.
pub fn get_signed(bytes: &[u8], offset: u64, bits: u32) -> i64 {
    let raw = get_unsigned(bytes, offset, bits);
    if bits < 64 && raw & (1 << (bits - 1)) != 0 {
        (raw | (u64::MAX << bits)) as i64
    } else {
        raw as i64
    }
}

/// Writes the low `bits` bits of `value` at bit `offset`; the string must
/// cover the whole field.
pub fn set_field(bytes: &mut [u8], offset: u64, bits: u32, value: u64) {
    let first = (offset / 8) as usize;
    let shift = (offset % 8) as u32;
    let span = (shift + bits).div_ceil(8) as usize;
    let target = &mut bytes[first..first + span];
    let mut window: u128 = 0;
    for b in target.iter() {
        window = (window << 8) | u128::from(*b);
    }
    let below = span as u32 * 8 - shift - bits;
    let mask = field_mask(bits) << below;
    window = (window & !mask) | ((u128::from(value) << below) & mask);
    for (i, b) in target.iter_mut().enumerate() {
        *b = (window >> ((span - 1 - i) * 8)) as u8;
    }
}

fn field_mask(bits: u32) -> u128 {
    (1u128 << bits) - 1
}

/// What BITFIELD does when a SET or INCRBY does not fit the field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Overflow {
    /// Keep the low bits (two's complement wrap for signed fields).
    Wrap,
    /// Clamp to the field's minimum or maximum.
    Sat,
    /// Leave the field unchanged and answer null.
    Fail,
}

/// The value an unsigned field gets for `value + incr`, or None when it
/// overflows under FAIL. The range checks are Redis's, including how they
/// treat a SET value that does not fit (`incr` is 0 then).
pub fn unsigned_fit(value: u64, incr: i64, bits: u32, mode: Overflow) -> Option<u64> {
    let max: u64 = if bits == 64 { u64::MAX } else { (1u64 << bits) - 1 };
    let room_up = max.wrapping_sub(value) as i64;
    let room_down = value.wrapping_neg() as i64;
    let limit = if value > max || (incr > 0 && incr > room_up) {
        max
    } else if incr < 0 && incr < room_down {
        0
    } else {
        return Some(value.wrapping_add(incr as u64));
    };
    match mode {
        Overflow::Wrap => Some(value.wrapping_add(incr as u64) & (field_mask(bits) as u64)),
        Overflow::Sat => Some(limit),
        Overflow::Fail => None,
    }
}

/// The value a signed field gets for `value + incr`, or None when it
/// overflows under FAIL (Redis's checks, wrapping where Redis's do).
pub fn signed_fit(value: i64, incr: i64, bits: u32, mode: Overflow) -> Option<i64> {
    let max: i64 = if bits == 64 { i64::MAX } else { (1i64 << (bits - 1)) - 1 };
    let min = -max - 1;
    let room_up = (max as u64).wrapping_sub(value as u64) as i64;
    let room_down = min.wrapping_sub(value);
    let narrow = bits != 64;
    let limit = if value > max || (narrow && incr > room_up) || (value >= 0 && incr > 0 && incr > room_up) {
        max
    } else if value < min || (narrow && incr < room_down) || (value < 0 && incr < 0 && incr < room_down) {
        min
    } else {
        return Some(value.wrapping_add(incr));
    };
    match mode {
        Overflow::Wrap => Some(wrap_signed(value.wrapping_add(incr) as u64, bits)),
        Overflow::Sat => Some(limit),
        Overflow::Fail => None,
    }
}

/// Sign-extends the low `bits` bits of `raw`.
fn wrap_signed(raw: u64, bits: u32) -> i64 {
    if bits >= 64 {
        return raw as i64;
    }
    let high = u64::MAX << bits;
    if raw & (1 << (bits - 1)) != 0 {
        (raw | high) as i64
    } else {
        (raw & !high) as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive_bit(bytes: &[u8], pos: u64) -> u8 {
        (bytes[(pos / 8) as usize] >> (7 - pos % 8)) & 1
    }

    fn sample() -> Vec<u8> {
        (0..100u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect()
    }

    #[test]
    fn count_and_find_agree_with_bit_by_bit() {
        let bytes = sample();
        for (first, last) in [(0, 799), (3, 5), (7, 8), (13, 700), (64, 127), (1, 798), (9, 9)] {
            let expected = (first..=last).filter(|&p| naive_bit(&bytes, p) == 1).count() as u64;
            assert_eq!(count_range(&bytes, first, last), expected, "{first}..{last}");
            for one in [false, true] {
                let expected = (first..=last).find(|&p| naive_bit(&bytes, p) == one as u8);
                assert_eq!(find_bit(&bytes, one, first, last), expected);
            }
        }
    }

    #[test]
    fn find_bit_skips_long_uniform_runs() {
        let mut bytes = vec![0u8; 1000];
        bytes[777] = 0x10;
        assert_eq!(find_bit(&bytes, true, 0, 7999), Some(777 * 8 + 3));
        assert_eq!(find_bit(&bytes, true, 777 * 8 + 4, 7999), None);
        let ones = vec![0xffu8; 100];
        assert_eq!(find_bit(&ones, false, 0, 799), None);
    }

    #[test]
    fn ranges_clamp_like_redis() {
        assert_eq!(resolve_range(6, 0, -1, RangeUnit::Byte), Some((0, 47)));
        assert_eq!(resolve_range(6, -2, 1, RangeUnit::Byte), None);
        assert_eq!(resolve_range(6, 10, -34, RangeUnit::Bit), Some((10, 14)));
        assert_eq!(resolve_range(6, 0, 1000, RangeUnit::Bit), Some((0, 47)));
        assert_eq!(resolve_range(0, 0, -1, RangeUnit::Byte), None);
    }

    #[test]
    fn fields_round_trip_at_any_offset() {
        let mut bytes = vec![0u8; 20];
        for bits in 1..=64u32 {
            for offset in [0u64, 1, 7, 8, 13, 63] {
                let value = 0xdead_beef_cafe_f00d_u64 & (field_mask(bits) as u64);
                bytes.fill(0xa5);
                let before = bytes.clone();
                set_field(&mut bytes, offset, bits, value);
                assert_eq!(get_unsigned(&bytes, offset, bits), value);
                // Bits outside the field are untouched.
                for pos in (0..offset).chain(offset + u64::from(bits)..160) {
                    assert_eq!(naive_bit(&bytes, pos), naive_bit(&before, pos));
                }
            }
        }
    }

    #[test]
    fn redis_layout_example() {
        // A 5-bit 23 at offset 7 over zeros: 00000001 01110000.
        let mut bytes = vec![0u8; 2];
        set_field(&mut bytes, 7, 5, 23);
        assert_eq!(bytes, [0b0000_0001, 0b0111_0000]);
        assert_eq!(get_signed(&[0xff], 0, 8), -1);
        assert_eq!(get_unsigned(&[0x01], 7, 9), 0b1_0000_0000);
    }

    #[test]
    fn overflow_rules() {
        assert_eq!(unsigned_fit(100, 257, 8, Overflow::Wrap), Some(101));
        assert_eq!(unsigned_fit(100, 257, 8, Overflow::Sat), Some(255));
        assert_eq!(unsigned_fit(100, -255, 8, Overflow::Sat), Some(0));
        assert_eq!(unsigned_fit(100, 257, 8, Overflow::Fail), None);
        assert_eq!(unsigned_fit(-5i64 as u64, 0, 8, Overflow::Sat), Some(255));
        assert_eq!(unsigned_fit(-5i64 as u64, 0, 8, Overflow::Wrap), Some(251));
        assert_eq!(signed_fit(100, 257, 8, Overflow::Wrap), Some(101));
        assert_eq!(signed_fit(100, 257, 8, Overflow::Sat), Some(127));
        assert_eq!(signed_fit(100, -255, 8, Overflow::Sat), Some(-128));
        assert_eq!(signed_fit(i64::MAX, 1, 64, Overflow::Wrap), Some(i64::MIN));
        assert_eq!(signed_fit(i64::MAX, 1, 64, Overflow::Fail), None);
        assert_eq!(signed_fit(5, 3, 64, Overflow::Fail), Some(8));
        // Redis reports this SET as a positive overflow.
        assert_eq!(signed_fit(i64::MIN, 0, 8, Overflow::Sat), Some(127));
    }

    #[test]
    fn bitop_pads_with_zeros() {
        let a: &[u8] = &[0x01, 0x02, 0xff, 0xff];
        let b: &[u8] = &[0x01, 0x02, 0xff];
        assert_eq!(bitop(BitOp::And, &[a, b]), [0x01, 0x02, 0xff, 0x00]);
        assert_eq!(bitop(BitOp::Or, &[a, b]), [0x01, 0x02, 0xff, 0xff]);
        assert_eq!(bitop(BitOp::Xor, &[a, b]), [0x00, 0x00, 0x00, 0xff]);
        assert_eq!(bitop(BitOp::Not, &[b]), [0xfe, 0xfd, 0x00]);
        assert_eq!(bitop(BitOp::And, &[b"", a]), [0, 0, 0, 0]);
    }
}
