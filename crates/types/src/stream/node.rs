//! A stream node: a run of consecutive entries packed in one buffer.
//!
//! Layout of `Node::data`:
//!
//! ```text
//! live: u32 LE | deleted: u32 LE | master field count | master fields... | entries...
//! entry: flags | ms delta | seq | [field count] | (field value | value)... | back length
//! ```
//!
//! Numbers are LEB128 varints and strings are varint-length-prefixed. The
//! master fields are the field names of the node's first entry; an entry
//! with exactly those names (flag `SAME_FIELDS`) stores only its values.
//! The ms delta is relative to the node's first ID; the sequence is
//! relative to the first ID's sequence when the ms are equal, absolute
//! otherwise. The back length (the entry's byte length, written so that it
//! can be read from its last byte backwards) allows reverse iteration.
//!
//! Deleted entries keep their place with the `DELETED` flag (tombstones)
//! until the whole node goes, as in Redis: this keeps node fullness, and
//! therefore approximate trimming, identical to Redis's.

use crate::bytebuf::ByteBuf;
use crate::varint;

use super::id::StreamId;

pub(crate) const FLAG_DELETED: u8 = 1;
pub(crate) const FLAG_SAME_FIELDS: u8 = 2;

/// Offset of the live count in the header.
const LIVE_AT: usize = 0;
/// Offset of the deleted count in the header.
const DELETED_AT: usize = 4;
/// Bytes of the two counters.
const COUNTERS: usize = 8;

#[derive(Clone, Debug)]
pub(crate) struct Node {
    /// ID of the first entry ever stored in the node (deltas refer to it).
    pub master: StreamId,
    pub data: ByteBuf,
    /// Bytes of the listpack Redis would hold for the same entries: what
    /// `stream-node-max-bytes` is compared with, so that nodes split where
    /// Redis's do (the node's own encoding is smaller).
    lp_bytes: usize,
}

/// Redis listpack sizes: a listpack's header and end byte.
const LP_HEADER_AND_END: usize = 6 + 1;

/// Bytes a listpack element's back length takes for an element of `l`.
fn lp_backlen_len(l: usize) -> usize {
    match l {
        0..=127 => 1,
        128..=16382 => 2,
        16383..=2097150 => 3,
        2097151..=268435454 => 4,
        _ => 5,
    }
}

/// Bytes of a listpack element holding the integer `v`.
fn lp_int_len(v: i64) -> usize {
    let enc = match v {
        0..=127 => 1,
        -4096..=4095 => 2,
        -32768..=32767 => 3,
        -8388608..=8388607 => 4,
        -2147483648..=2147483647 => 5,
        _ => 9,
    };
    enc + lp_backlen_len(enc)
}

/// Bytes of a listpack element holding `s` (canonical integers are
/// stored as integers, as listpacks do).
fn lp_str_len(s: &[u8]) -> usize {
    if let Some(v) = shoal_resp::number::parse_i64(s) {
        return lp_int_len(v);
    }
    let enc = match s.len() {
        0..=63 => 1 + s.len(),
        64..=4095 => 2 + s.len(),
        _ => 5 + s.len(),
    };
    enc + lp_backlen_len(enc)
}


pub(crate) fn put_varint(out: &mut ByteBuf, n: u64) {
    let (buf, used) = varint::encode(n);
    out.extend_from_slice(&buf[..used]);
}

/// Reads a varint at `*at`, advancing it.
pub(crate) fn get_varint(data: &[u8], at: &mut usize) -> u64 {
    let (n, used) = varint::read(&data[*at..]).expect("truncated stream node");
    *at += used;
    n
}

/// Writes `n` so that it can be decoded from its last byte backwards: the
/// most significant group first without a marker, then each lower group
/// with the high bit set.
fn put_back_len(out: &mut ByteBuf, n: u64) {
    let groups = varint::len(n);
    for i in (0..groups).rev() {
        let group = ((n >> (7 * i)) & 0x7f) as u8;
        out.push(if i == groups - 1 { group } else { group | 0x80 });
    }
}

/// Decodes a back length ending just before `end`: (value, its size).
fn get_back_len(data: &[u8], end: usize) -> (u64, usize) {
    let mut n = 0u64;
    let mut size = 0;
    loop {
        let byte = data[end - 1 - size];
        n |= u64::from(byte & 0x7f) << (7 * size);
        size += 1;
        if byte & 0x80 == 0 {
            return (n, size);
        }
    }
}

fn put_bytes(out: &mut ByteBuf, bytes: &[u8]) {
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// Reads a length-prefixed string at `*at`, advancing it.
pub(crate) fn get_bytes<'a>(data: &'a [u8], at: &mut usize) -> &'a [u8] {
    let len = get_varint(data, at) as usize;
    let bytes = &data[*at..*at + len];
    *at += len;
    bytes
}

/// One decoded entry header inside a node.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RawEntry {
    pub id: StreamId,
    pub flags: u8,
    /// Offset of the flags byte.
    pub start: usize,
    /// Offset of the first field (or value, with `SAME_FIELDS`).
    pub fields_at: usize,
    pub field_count: usize,
    /// Offset just past the back length (the next entry's start).
    pub end: usize,
}

impl RawEntry {
    pub fn is_deleted(&self) -> bool {
        self.flags & FLAG_DELETED != 0
    }
}

impl Node {
    /// A node holding one entry.
    pub fn new(id: StreamId, pairs: &[&[u8]]) -> Node {
        let mut data = ByteBuf::with_capacity(COUNTERS + 2 + entry_size_hint(pairs) * 2);
        data.extend_from_slice(&1u32.to_le_bytes());
        data.extend_from_slice(&0u32.to_le_bytes());
        put_varint(&mut data, (pairs.len() / 2) as u64);
        for pair in pairs.chunks_exact(2) {
            put_bytes(&mut data, pair[0]);
        }
        // Redis's master entry: count, deleted, field count, fields, 0.
        let fields: usize = pairs.chunks_exact(2).map(|pair| lp_str_len(pair[0])).sum();
        let lp_bytes = LP_HEADER_AND_END + lp_int_len(1) + lp_int_len(0) + lp_int_len((pairs.len() / 2) as i64) + fields + lp_int_len(0);
        let mut node = Node { master: id, data, lp_bytes };
        node.push_entry(id, pairs, true);
        node
    }

    /// A node without entries whose master has these field names (filled
    /// by `push_loaded`).
    pub fn empty(master: StreamId, master_fields: &[&[u8]]) -> Node {
        let mut data = ByteBuf::with_capacity(COUNTERS + 1);
        data.extend_from_slice(&0u32.to_le_bytes());
        data.extend_from_slice(&0u32.to_le_bytes());
        put_varint(&mut data, master_fields.len() as u64);
        for field in master_fields {
            put_bytes(&mut data, field);
        }
        let fields: usize = master_fields.iter().map(|f| lp_str_len(f)).sum();
        let lp_bytes = LP_HEADER_AND_END + 2 * lp_int_len(0) + lp_int_len(master_fields.len() as i64) + fields + lp_int_len(0);
        Node { master, data, lp_bytes }
    }

    /// Appends a loaded entry, live or deleted (the caller checked that
    /// `id` is not below the master ID).
    pub fn push_loaded(&mut self, id: StreamId, pairs: &[&[u8]], same_fields: bool, deleted: bool) {
        let start = self.data.len();
        self.push_entry(id, pairs, same_fields);
        let at = if deleted {
            self.data[start] |= FLAG_DELETED;
            DELETED_AT
        } else {
            LIVE_AT
        };
        let old = self.counter(at);
        self.set_counter(at, old + 1);
        self.lp_counter_changed(old, old + 1);
    }

    /// Listpack bytes of one entry as Redis appends it.
    fn lp_entry_len(&self, id: StreamId, pairs: &[&[u8]], same_fields: bool) -> usize {
        let flags = if same_fields { FLAG_SAME_FIELDS } else { 0 } as i64;
        let ms_diff = id.ms.wrapping_sub(self.master.ms) as i64;
        let seq_diff = id.seq.wrapping_sub(self.master.seq) as i64;
        let numfields = (pairs.len() / 2) as i64;
        let mut lp_count = numfields + 3;
        let mut len = lp_int_len(flags) + lp_int_len(ms_diff) + lp_int_len(seq_diff);
        if !same_fields {
            len += lp_int_len(numfields);
            lp_count += numfields + 1;
        }
        for pair in pairs.chunks_exact(2) {
            if !same_fields {
                len += lp_str_len(pair[0]);
            }
            len += lp_str_len(pair[1]);
        }
        len + lp_int_len(lp_count)
    }

    /// Adjusts `lp_bytes` for a counter of the master entry changing.
    fn lp_counter_changed(&mut self, old: u32, new: u32) {
        self.lp_bytes = self.lp_bytes + lp_int_len(i64::from(new)) - lp_int_len(i64::from(old));
    }

    fn counter(&self, at: usize) -> u32 {
        u32::from_le_bytes(self.data[at..at + 4].try_into().expect("node header"))
    }

    fn set_counter(&mut self, at: usize, value: u32) {
        self.data[at..at + 4].copy_from_slice(&value.to_le_bytes());
    }

    /// Entries not deleted.
    pub fn live(&self) -> u64 {
        u64::from(self.counter(LIVE_AT))
    }

    /// Tombstones still in the node.
    pub fn deleted(&self) -> u64 {
        u64::from(self.counter(DELETED_AT))
    }

    /// Offset of the master field count.
    fn master_at() -> usize {
        COUNTERS
    }

    /// Number of master fields and the offset of the first entry.
    pub fn master_fields(&self) -> (usize, usize) {
        let mut at = Node::master_at();
        let count = get_varint(&self.data, &mut at) as usize;
        for _ in 0..count {
            get_bytes(&self.data, &mut at);
        }
        (count, at)
    }

    /// Offset of the first master field name.
    pub fn master_names_at(&self) -> usize {
        let mut at = Node::master_at();
        get_varint(&self.data, &mut at);
        at
    }

    /// True when `pairs` has exactly the master field names.
    fn same_fields(&self, pairs: &[&[u8]]) -> bool {
        let mut at = Node::master_at();
        let count = get_varint(&self.data, &mut at) as usize;
        if count * 2 != pairs.len() {
            return false;
        }
        pairs.chunks_exact(2).all(|pair| get_bytes(&self.data, &mut at) == pair[0])
    }

    /// Appends an entry (the caller checked ordering and fullness).
    pub fn append(&mut self, id: StreamId, pairs: &[&[u8]]) {
        let same = self.same_fields(pairs);
        self.push_entry(id, pairs, same);
        let live = self.counter(LIVE_AT);
        self.set_counter(LIVE_AT, live + 1);
        self.lp_counter_changed(live, live + 1);
    }

    fn push_entry(&mut self, id: StreamId, pairs: &[&[u8]], same_fields: bool) {
        self.lp_bytes += self.lp_entry_len(id, pairs, same_fields);
        let start = self.data.len();
        let ms_delta = id.ms - self.master.ms;
        let seq = if ms_delta == 0 { id.seq - self.master.seq } else { id.seq };
        self.data.push(if same_fields { FLAG_SAME_FIELDS } else { 0 });
        put_varint(&mut self.data, ms_delta);
        put_varint(&mut self.data, seq);
        if !same_fields {
            put_varint(&mut self.data, (pairs.len() / 2) as u64);
        }
        for pair in pairs.chunks_exact(2) {
            if !same_fields {
                put_bytes(&mut self.data, pair[0]);
            }
            put_bytes(&mut self.data, pair[1]);
        }
        let len = (self.data.len() - start) as u64;
        put_back_len(&mut self.data, len);
    }

    /// Decodes the entry starting at `start`.
    pub fn entry_at(&self, start: usize, master_count: usize) -> RawEntry {
        let data = &self.data[..];
        let mut at = start;
        let flags = data[at];
        at += 1;
        let ms_delta = get_varint(data, &mut at);
        let seq = get_varint(data, &mut at);
        let id = if ms_delta == 0 {
            StreamId::new(self.master.ms, self.master.seq + seq)
        } else {
            StreamId::new(self.master.ms + ms_delta, seq)
        };
        let field_count = if flags & FLAG_SAME_FIELDS != 0 {
            master_count
        } else {
            get_varint(data, &mut at) as usize
        };
        let fields_at = at;
        let strings = if flags & FLAG_SAME_FIELDS != 0 { field_count } else { field_count * 2 };
        for _ in 0..strings {
            let len = get_varint(data, &mut at) as usize;
            at += len;
        }
        let end = at + varint::len((at - start) as u64);
        RawEntry { id, flags, start, fields_at, field_count, end }
    }

    /// Start offset of the entry ending at `end` (exclusive), if any entry
    /// precedes `end` (`first_entry` is where entries begin).
    pub fn prev_start(&self, end: usize, first_entry: usize) -> Option<usize> {
        if end <= first_entry {
            return None;
        }
        let (len, size) = get_back_len(&self.data, end);
        Some(end - size - len as usize)
    }

    /// Flags an entry deleted and updates the counters.
    pub fn mark_deleted(&mut self, entry: &RawEntry) {
        self.data[entry.start] |= FLAG_DELETED;
        let live = self.counter(LIVE_AT);
        let deleted = self.counter(DELETED_AT);
        self.set_counter(LIVE_AT, live - 1);
        self.set_counter(DELETED_AT, deleted + 1);
        self.lp_counter_changed(live, live - 1);
        self.lp_counter_changed(deleted, deleted + 1);
    }

    /// ID of the last entry (deleted or not).
    pub fn last_id(&self) -> StreamId {
        let (count, first) = self.master_fields();
        let start = self.prev_start(self.data.len(), first).expect("a node holds at least one entry");
        self.entry_at(start, count).id
    }

    /// Bytes of the node's own encoding.
    pub fn bytes(&self) -> usize {
        self.data.len()
    }

    /// Bytes Redis's listpack for these entries takes (what
    /// `stream-node-max-bytes` limits).
    pub fn listpack_bytes(&self) -> usize {
        self.lp_bytes
    }

    pub fn shrink(&mut self) {
        self.data.shrink_to_fit();
    }
}

/// Rough encoded size of one entry (for the initial capacity).
fn entry_size_hint(pairs: &[&[u8]]) -> usize {
    8 + pairs.iter().map(|p| p.len() + 1).sum::<usize>()
}

/// Iterates the field/value pairs of an entry.
pub(crate) struct Fields<'a> {
    data: &'a [u8],
    /// Next master field name, when the entry uses the master fields.
    names_at: Option<usize>,
    at: usize,
    remaining: usize,
}

impl<'a> Fields<'a> {
    pub fn new(node: &'a Node, entry: &RawEntry) -> Fields<'a> {
        let names_at = (entry.flags & FLAG_SAME_FIELDS != 0).then(|| node.master_names_at());
        Fields { data: &node.data, names_at, at: entry.fields_at, remaining: entry.field_count }
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = (&'a [u8], &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        let field = match self.names_at.as_mut() {
            Some(names_at) => get_bytes(self.data, names_at),
            None => get_bytes(self.data, &mut self.at),
        };
        let value = get_bytes(self.data, &mut self.at);
        Some((field, value))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(node: &Node) -> Vec<(StreamId, bool, Vec<(Vec<u8>, Vec<u8>)>)> {
        let (count, mut at) = node.master_fields();
        let mut out = Vec::new();
        while at < node.data.len() {
            let e = node.entry_at(at, count);
            let fields = Fields::new(node, &e).map(|(f, v)| (f.to_vec(), v.to_vec())).collect();
            out.push((e.id, e.is_deleted(), fields));
            at = e.end;
        }
        out
    }

    #[test]
    fn entries_round_trip_forwards_and_backwards() {
        let mut node = Node::new(StreamId::new(100, 5), &[b"a", b"1", b"b", b"2"]);
        node.append(StreamId::new(100, 9), &[b"a", b"x", b"b", b"y"]);
        node.append(StreamId::new(300, 0), &[b"c", &[7u8; 300]]);
        node.append(StreamId::new(300, 1), &[]);
        let entries = all(&node);
        assert_eq!(entries.len(), 4);
        assert_eq!(entries[1].0, StreamId::new(100, 9));
        assert_eq!(entries[1].2, vec![(b"a".to_vec(), b"x".to_vec()), (b"b".to_vec(), b"y".to_vec())]);
        assert_eq!(entries[2].2[0].1.len(), 300);
        assert!(entries[3].2.is_empty());
        assert_eq!(node.last_id(), StreamId::new(300, 1));
        // Backwards.
        let (count, first) = node.master_fields();
        let mut end = node.data.len();
        let mut ids = Vec::new();
        while let Some(start) = node.prev_start(end, first) {
            ids.push(node.entry_at(start, count).id);
            end = start;
        }
        assert_eq!(ids, vec![StreamId::new(300, 1), StreamId::new(300, 0), StreamId::new(100, 9), StreamId::new(100, 5)]);
        assert_eq!((node.live(), node.deleted()), (4, 0));
        let second = node.entry_at(all_starts(&node)[1], count);
        node.mark_deleted(&second);
        assert_eq!((node.live(), node.deleted()), (3, 1));
        assert!(all(&node)[1].1);
    }

    fn all_starts(node: &Node) -> Vec<usize> {
        let (count, mut at) = node.master_fields();
        let mut out = Vec::new();
        while at < node.data.len() {
            out.push(at);
            at = node.entry_at(at, count).end;
        }
        out
    }

    #[test]
    fn back_lengths_decode_from_the_end() {
        for n in [0u64, 1, 127, 128, 300, 16383, 16384, 1 << 40] {
            let mut buf = ByteBuf::new();
            buf.push(9);
            put_back_len(&mut buf, n);
            assert_eq!(get_back_len(&buf, buf.len()), (n, varint::len(n)));
        }
    }
}
