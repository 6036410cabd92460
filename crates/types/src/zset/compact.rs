//! The small encoding of sorted sets (what Redis calls a listpack): every
//! (member, score) pair in one exact-size heap block, in order.
//!
//! Layout: the element count (LEB128), then the entries. An entry starts
//! with a header byte: its high nibble is the member length (15: a LEB128
//! length follows), its low nibble says how the score is stored:
//! - 0..=7: the score is that whole number, nothing more is stored;
//! - 8..=13: a whole number below 1536: (nibble - 8) * 256 + one byte
//!   stored after the member;
//! - 14: any other whole number, as a zig-zag LEB128 after the member;
//! - 15: any other double, its eight bytes after the member.
//!
//! Then come the member bytes and the score bytes, if any. Short members
//! with small whole scores cost one or two bytes more than the member: a
//! set of five two-byte members scored 1 to 5 is a 16-byte block, scored
//! up to 1000 a 21-byte one. Like Redis's
//! listpack, which stores whole-number scores as integers, this turns a
//! score of -0 into 0.
//!
//! The block is reached through one thin pointer (8 bytes, null when
//! empty). Its size is not stored: it is found by walking the entries,
//! which every change on this encoding does anyway (sets in it are small
//! by construction).

use std::alloc::{self, Layout};
use std::cmp::Ordering;
use std::ptr::NonNull;

use crate::varint;

use super::skiplist::compare;

/// Member lengths below this fit in the header nibble.
const INLINE_LEN_LIMIT: usize = 15;
/// Header nibble: the member length follows as a varint.
const LEN_FOLLOWS: u8 = 15;
/// Whole scores up to this value are stored in the header nibble.
const TINY_SCORE_MAX: i64 = 7;
/// First score nibble of the one-extra-byte form.
const SHORT_FIRST: u8 = 8;
/// Whole scores below this take the one-extra-byte form.
const SHORT_SCORE_END: i64 = 6 * 256;
/// Score nibble: zig-zag varint after the member.
const SCORE_VARINT: u8 = 14;
/// Score nibble: raw double after the member.
const SCORE_RAW: u8 = 15;
/// Whole-number scores up to this magnitude use the integer forms.
const WHOLE_SCORE_LIMIT: f64 = (1u64 << 53) as f64;

#[derive(Default)]
pub(crate) struct Compact {
    block: Option<NonNull<u8>>,
}

// SAFETY: the block is exclusively owned, like a Box<[u8]>.
unsafe impl Send for Compact {}
unsafe impl Sync for Compact {}

/// One decoded element and where it sits in the block.
#[derive(Clone, Copy)]
pub(crate) struct Slot<'a> {
    pub member: &'a [u8],
    pub score: f64,
    /// Offset of the entry in the block.
    pub offset: usize,
    /// Encoded length of the entry.
    pub len: usize,
}

fn layout(size: usize) -> Layout {
    Layout::from_size_align(size, 1).expect("compact sorted set layout")
}


fn write_varint(out: &mut Vec<u8>, n: u64) {
    let (buf, used) = varint::encode(n);
    out.extend_from_slice(&buf[..used]);
}

/// Reads a varint through `byte(i)`, which yields the i-th byte.
fn read_varint_with(mut byte: impl FnMut(usize) -> u8) -> (u64, usize) {
    let mut n = 0u64;
    let mut used = 0;
    loop {
        let b = byte(used);
        n |= ((b & 0x7f) as u64) << (7 * used);
        used += 1;
        if b & 0x80 == 0 || used == varint::MAX_LEN {
            return (n, used);
        }
    }
}

fn read_varint(bytes: &[u8]) -> (u64, usize) {
    read_varint_with(|i| bytes[i])
}

/// How a score is stored.
enum ScoreForm {
    Tiny(u8),
    /// Nibble and extra byte.
    Short(u8, u8),
    Varint(u64),
    Raw(f64),
}

fn score_form(score: f64) -> ScoreForm {
    if score.fract() == 0.0 && score.abs() <= WHOLE_SCORE_LIMIT {
        let i = score as i64;
        if (0..=TINY_SCORE_MAX).contains(&i) {
            ScoreForm::Tiny(i as u8)
        } else if (0..SHORT_SCORE_END).contains(&i) {
            ScoreForm::Short(SHORT_FIRST + (i >> 8) as u8, (i & 0xff) as u8)
        } else {
            ScoreForm::Varint(((i << 1) ^ (i >> 63)) as u64)
        }
    } else {
        ScoreForm::Raw(score)
    }
}

fn unzigzag(v: u64) -> f64 {
    (((v >> 1) as i64) ^ -((v & 1) as i64)) as f64
}

/// Appends the encoding of one element.
pub(crate) fn push_entry(out: &mut Vec<u8>, member: &[u8], score: f64) {
    let len_nibble = if member.len() < INLINE_LEN_LIMIT { member.len() as u8 } else { LEN_FOLLOWS };
    let form = score_form(score);
    let score_nibble = match form {
        ScoreForm::Tiny(v) => v,
        ScoreForm::Short(nibble, _) => nibble,
        ScoreForm::Varint(_) => SCORE_VARINT,
        ScoreForm::Raw(_) => SCORE_RAW,
    };
    out.push(len_nibble << 4 | score_nibble);
    if len_nibble == LEN_FOLLOWS {
        write_varint(out, member.len() as u64);
    }
    out.extend_from_slice(member);
    match form {
        ScoreForm::Tiny(_) => {}
        ScoreForm::Short(_, low) => out.push(low),
        ScoreForm::Varint(v) => write_varint(out, v),
        ScoreForm::Raw(d) => out.extend_from_slice(&d.to_le_bytes()),
    }
}

/// Encoded size of an element.
pub(crate) fn entry_size(member: &[u8], score: f64) -> usize {
    let len_bytes = if member.len() < INLINE_LEN_LIMIT { 0 } else { varint::len(member.len() as u64) };
    let score_bytes = match score_form(score) {
        ScoreForm::Tiny(_) => 0,
        ScoreForm::Short(..) => 1,
        ScoreForm::Varint(v) => varint::len(v),
        ScoreForm::Raw(_) => 8,
    };
    1 + len_bytes + member.len() + score_bytes
}

/// Length of the entry at `offset`, reading bytes through `byte(i)`.
fn entry_len_with(mut byte: impl FnMut(usize) -> u8, offset: usize) -> usize {
    let header = byte(offset);
    let mut pos = offset + 1;
    let member_len = match header >> 4 {
        LEN_FOLLOWS => {
            let (len, used) = read_varint_with(|i| byte(pos + i));
            pos += used;
            len as usize
        }
        short => short as usize,
    };
    pos += member_len;
    pos += match header & 0x0f {
        SCORE_VARINT => read_varint_with(|i| byte(pos + i)).1,
        SCORE_RAW => 8,
        nibble if nibble >= SHORT_FIRST => 1,
        _ => 0,
    };
    pos - offset
}

fn decode_entry(bytes: &[u8], offset: usize) -> Slot<'_> {
    let header = bytes[offset];
    let mut pos = offset + 1;
    let member_len = match header >> 4 {
        LEN_FOLLOWS => {
            let (len, used) = read_varint(&bytes[pos..]);
            pos += used;
            len as usize
        }
        short => short as usize,
    };
    let member = &bytes[pos..pos + member_len];
    pos += member_len;
    let score = match header & 0x0f {
        SCORE_VARINT => {
            let (v, used) = read_varint(&bytes[pos..]);
            pos += used;
            unzigzag(v)
        }
        SCORE_RAW => {
            let raw: [u8; 8] = bytes[pos..pos + 8].try_into().expect("raw double score");
            pos += 8;
            f64::from_le_bytes(raw)
        }
        nibble if nibble >= SHORT_FIRST => {
            let low = bytes[pos];
            pos += 1;
            (((nibble - SHORT_FIRST) as u32) << 8 | low as u32) as f64
        }
        tiny => tiny as f64,
    };
    Slot { member, score, offset, len: pos - offset }
}

impl Compact {
    pub(crate) fn new() -> Compact {
        Compact { block: None }
    }

    /// Byte `i` of the block.
    ///
    /// # Safety
    /// The block must exist and `i` must lie inside it.
    unsafe fn byte_at(&self, i: usize) -> u8 {
        *self.block.expect("block present").as_ptr().add(i)
    }

    /// Number of elements and the size of the count header.
    fn count_and_header(&self) -> (usize, usize) {
        match self.block {
            // SAFETY: a well-formed count varint ends inside the block.
            Some(_) => {
                let (n, used) = read_varint_with(|i| unsafe { self.byte_at(i) });
                (n as usize, used)
            }
            None => (0, 0),
        }
    }

    /// Number of elements.
    pub(crate) fn len(&self) -> usize {
        self.count_and_header().0
    }

    /// Size of the block in bytes (walks the entries).
    pub(crate) fn byte_len(&self) -> usize {
        let (count, mut offset) = self.count_and_header();
        for _ in 0..count {
            // SAFETY: entries are well formed and lie inside the block (the
            // block's size is what is being computed, so no slice exists yet).
            offset += entry_len_with(|i| unsafe { self.byte_at(i) }, offset);
        }
        offset
    }

    /// The whole block (empty when there are no elements).
    fn bytes(&self) -> &[u8] {
        match self.block {
            // SAFETY: the block is `byte_len` bytes long and alive.
            Some(p) => unsafe { std::slice::from_raw_parts(p.as_ptr(), self.byte_len()) },
            None => &[],
        }
    }

    pub(crate) fn iter(&self) -> Iter<'_> {
        let (count, header) = self.count_and_header();
        Iter { bytes: self.bytes(), offset: header, remaining: count }
    }

    /// The element holding `member`.
    pub(crate) fn find(&self, member: &[u8]) -> Option<Slot<'_>> {
        self.iter().find(|s| s.member == member)
    }

    /// Offset just past the last entry (where an append goes).
    fn end_offset(&self) -> usize {
        self.byte_len()
    }

    /// Replaces `remove` bytes at offset `at` (an entry boundary of the
    /// current block) with `insert`, and sets the count to `new_count`
    /// (0 frees the block).
    fn splice(&mut self, at: usize, remove: usize, insert: &[u8], new_count: usize) {
        let old_size = self.byte_len();
        let (_, old_header) = self.count_and_header();
        if new_count == 0 {
            if let Some(p) = self.block.take() {
                // SAFETY: allocated with exactly this size.
                unsafe { alloc::dealloc(p.as_ptr(), layout(old_size)) };
            }
            return;
        }
        let mut header = Vec::with_capacity(varint::MAX_LEN);
        write_varint(&mut header, new_count as u64);
        let (at, remove) = if self.block.is_none() { (0, 0) } else { (at - old_header, remove) };
        // Entries region of the old block, then the new block assembled.
        let old_entries: &[u8] = if self.block.is_some() { &self.bytes()[old_header..] } else { &[] };
        let new_size = header.len() + old_entries.len() - remove + insert.len();
        // SAFETY: fresh allocation of `new_size`, filled completely below;
        // the old block (if any) is freed with its own size afterwards.
        unsafe {
            let base = alloc::alloc(layout(new_size));
            if base.is_null() {
                alloc::handle_alloc_error(layout(new_size));
            }
            let mut pos = 0;
            for part in [&header[..], &old_entries[..at], insert, &old_entries[at + remove..]] {
                std::ptr::copy_nonoverlapping(part.as_ptr(), base.add(pos), part.len());
                pos += part.len();
            }
            debug_assert_eq!(pos, new_size);
            if let Some(old) = self.block.replace(NonNull::new_unchecked(base)) {
                alloc::dealloc(old.as_ptr(), layout(old_size));
            }
        }
    }

    /// Inserts a member that is not present, in order.
    pub(crate) fn insert(&mut self, member: &[u8], score: f64) {
        let at = self
            .iter()
            .find(|s| compare(s.score, s.member, score, member) == Ordering::Greater)
            .map_or_else(|| self.end_offset(), |s| s.offset);
        let mut entry = Vec::with_capacity(entry_size(member, score));
        push_entry(&mut entry, member, score);
        let count = self.len() + 1;
        self.splice(at, 0, &entry, count);
    }

    /// Builds a block from elements already in order.
    pub(crate) fn from_sorted<'a>(entries: impl ExactSizeIterator<Item = (&'a [u8], f64)>) -> Compact {
        let count = entries.len();
        let mut c = Compact::new();
        if count == 0 {
            return c;
        }
        let mut bytes = Vec::new();
        write_varint(&mut bytes, count as u64);
        for (member, score) in entries {
            push_entry(&mut bytes, member, score);
        }
        // SAFETY: fresh allocation of exactly `bytes.len()`, fully written.
        unsafe {
            let p = alloc::alloc(layout(bytes.len()));
            if p.is_null() {
                alloc::handle_alloc_error(layout(bytes.len()));
            }
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), p, bytes.len());
            c.block = NonNull::new(p);
        }
        c
    }

    /// Removes the element occupying `len` bytes at `offset`.
    pub(crate) fn remove_slot(&mut self, offset: usize, len: usize) {
        let count = self.len() - 1;
        self.splice(offset, len, &[], count);
    }

    /// Removes the elements with 0-based ranks in [lo, hi).
    pub(crate) fn remove_ranks(&mut self, lo: usize, hi: usize) {
        let hi = hi.min(self.len());
        if lo >= hi {
            return;
        }
        let mut start = 0;
        let mut end = 0;
        for (rank, slot) in self.iter().enumerate().take(hi) {
            if rank == lo {
                start = slot.offset;
            }
            end = slot.offset + slot.len;
        }
        let count = self.len() - (hi - lo);
        self.splice(start, end - start, &[], count);
    }

    /// Bytes held (memory reports).
    pub(crate) fn heap_bytes(&self) -> usize {
        self.byte_len()
    }

    pub(crate) fn duplicate(&self) -> Compact {
        Compact::from_sorted(self.iter().map(|s| (s.member, s.score)))
    }
}

impl Drop for Compact {
    fn drop(&mut self) {
        let size = self.byte_len();
        if let Some(p) = self.block.take() {
            // SAFETY: the block was allocated with exactly this size.
            unsafe { alloc::dealloc(p.as_ptr(), layout(size)) };
        }
    }
}

/// Elements in order.
pub(crate) struct Iter<'a> {
    bytes: &'a [u8],
    offset: usize,
    remaining: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = Slot<'a>;

    fn next(&mut self) -> Option<Slot<'a>> {
        if self.remaining == 0 {
            return None;
        }
        let slot = decode_entry(self.bytes, self.offset);
        self.offset += slot.len;
        self.remaining -= 1;
        Some(slot)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl ExactSizeIterator for Iter<'_> {}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(member: &[u8], score: f64) -> (Vec<u8>, f64) {
        let mut bytes = Vec::new();
        push_entry(&mut bytes, member, score);
        assert_eq!(bytes.len(), entry_size(member, score));
        assert_eq!(entry_len_with(|i| bytes[i], 0), bytes.len());
        let slot = decode_entry(&bytes, 0);
        assert_eq!(slot.len, bytes.len());
        (slot.member.to_vec(), slot.score)
    }

    #[test]
    fn entries_round_trip() {
        let scores = [
            0.0,
            -0.0,
            1.0,
            7.0,
            8.0,
            255.0,
            256.0,
            1000.0,
            1535.0,
            1536.0,
            -1.0,
            63.0,
            -64.0,
            1.5,
            1e15,
            -1e15,
            9007199254740992.0,
            9007199254740994.0,
            f64::MAX,
            f64::MIN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::MIN_POSITIVE,
        ];
        let long = vec![b'x'; 300];
        for member in [&b""[..], b"m1", &[b'y'; 14][..], &[b'z'; 15][..], &long[..]] {
            for s in scores {
                let (m, back) = round_trip(member, s);
                assert_eq!(m, member);
                let expected = if s == 0.0 { 0.0 } else { s };
                assert_eq!(back.to_bits(), expected.to_bits(), "score {s}");
            }
        }
        assert_eq!(entry_size(b"m1", 5.0), 3);
        assert_eq!(entry_size(b"m1", 1000.0), 4);
        assert_eq!(entry_size(b"m1", 2000.0), 5);
    }

    #[test]
    fn ordered_operations() {
        let mut c = Compact::new();
        assert_eq!(c.byte_len(), 0);
        for (m, s) in [("b", 2.0), ("a", 2.0), ("z", -1.0), ("c", 1.5)] {
            c.insert(m.as_bytes(), s);
        }
        let order: Vec<&[u8]> = c.iter().map(|s| s.member).collect();
        assert_eq!(order, vec![&b"z"[..], b"c", b"a", b"b"]);
        let slot = c.find(b"a").unwrap();
        assert_eq!(slot.score, 2.0);
        let (offset, len) = (slot.offset, slot.len);
        c.remove_slot(offset, len);
        assert_eq!(c.len(), 3);
        assert!(c.find(b"a").is_none());
        c.remove_ranks(0, 2);
        let order: Vec<&[u8]> = c.iter().map(|s| s.member).collect();
        assert_eq!(order, vec![&b"b"[..]]);
        let copy = c.duplicate();
        c.remove_ranks(0, 1);
        assert_eq!(c.len(), 0);
        assert_eq!(copy.len(), 1);
    }

    #[test]
    fn count_header_grows_and_shrinks() {
        let mut c = Compact::new();
        for i in 0..300 {
            c.insert(format!("{i:03}").as_bytes(), (i % 7) as f64);
        }
        assert_eq!(c.len(), 300);
        let mut previous: Option<(f64, Vec<u8>)> = None;
        for s in c.iter() {
            if let Some((ps, pm)) = &previous {
                assert_eq!(compare(*ps, pm, s.score, s.member), Ordering::Less);
            }
            previous = Some((s.score, s.member.to_vec()));
        }
        c.remove_ranks(0, 250);
        assert_eq!(c.len(), 50);
        assert_eq!(c.iter().count(), 50);
    }

    #[test]
    fn five_small_members_take_16_bytes() {
        let mut c = Compact::new();
        for i in 1..=5 {
            c.insert(format!("m{i}").as_bytes(), i as f64);
        }
        assert_eq!(c.byte_len(), 16);
        let built = Compact::from_sorted(c.iter().map(|s| (s.member, s.score)));
        assert_eq!(built.byte_len(), 16);
    }
}
